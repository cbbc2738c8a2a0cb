"""Every generation parameter, declared once.

Each `Param` holds what the rest of the product needs to know about one parameter: its
key, kind, unit, default, what is allowed, a one-line explanation and where it belongs.
Validation (`DatasetConfig`, `PropagationModel`, `Receiver`), the command line's flags
and help, the app's form and details pane, the file's `/receivers` columns and README's
parameter table are all made from these tables, so a parameter cannot be documented,
offered and checked in three different ways.

Rules between parameters (clutter_max_db >= clutter_min_db, min_receivers up to the
number of receivers, a margin when samples lie outside) are not facts of one parameter:
they stay with the classes that hold both values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .antennas import Antenna
from .checks import (
    check_integer,
    check_mix,
    check_number,
    check_range,
    check_text,
    mix_text,
    range_text,
    set_field,
)
from .names import NAME_RULE, validate_name

# Where a parameter belongs. "config": stored in the dataset file and inherited by every
# expansion; "propagation": the config's propagation group; "terrain": its terrain group;
# "measurement": its measurement group (what the transmitters and receivers are like);
# "receiver": a column of the receiver network; "run": a property of one create or
# expand run, never stored.
SCOPES = ("config", "propagation", "terrain", "measurement", "receiver", "run")
# Titles of the groups the app's form and the documentation arrange parameters in.
GROUPS = {"dataset": "Dataset", "signal": "Signal", "filter": "Filters",
          "placement": "Transmitter placement", "terrain": "Terrain",
          "measurement": "Measurements",
          "propagation": "Propagation model",
          "advanced": "Advanced", "receiver": "Receiver", "run": "Run"}
# "range": a number, or a range lo:hi drawn from uniformly (the transmit power);
# "mix": named weights (the transmitters' antennas); "antenna": a receiving antenna.
KINDS = ("float", "int", "text", "choice", "range", "mix", "antenna")

# feature_based: the measurements of each link; iq_raw: those and every receiver's
# recorded baseband (docs/iq.md), from generator version 5
DATASET_TYPES = ("feature_based", "iq_raw")
PATH_LOSS_MODELS = ("two_ray", "free_space")
# builtin: the elevation grid shipped with the app; none: the flat plane of generator
# version 2 (SPEC section 3); flat: a sea-level sphere; tiles: user tiles (docs/propagation.md)
TERRAIN_SOURCES = ("builtin", "none", "flat", "tiles")
# How a receiver's arrival times are stamped: a GPS-disciplined clock, NTP, or not at all
TIMING_KINDS = ("gps", "ntp", "none")
# The transmitters' antennas (sampling.kernel_v4 has their gains) and the default mix
TX_ANTENNAS = ("whip", "rubber_duck", "yagi")
DEFAULT_TX_ANTENNAS = (("whip", 0.5), ("rubber_duck", 0.4), ("yagi", 0.1))
# The emitted waveforms of IQ datasets, by their /samples/modulation code (docs/iq.md)
MODULATIONS = ("nfm_voice", "nfm_tone", "nfm_dtmf", "am_voice", "cw", "fsk2", "fsk4")
DEFAULT_MODULATIONS = (("nfm_voice", 0.6), ("nfm_tone", 0.05), ("nfm_dtmf", 0.05),
                       ("am_voice", 0.1), ("cw", 0.1), ("fsk2", 0.05), ("fsk4", 0.05))
# How /samples/iq is stored: complex64 (an HDF5 compound of two f4), or int16 pairs with a
# scale per record (half the size; quantization noise about 90 dB under the record's peak)
IQ_STORAGES = ("complex64", "int16")
COMPRESSION_POLICIES = ("light", "full", "none")
MAX_SEED = 2**63 - 1
DEFAULT_CHUNK_SIZE = 4096
MAX_RECEIVERS = 255  # the detected-receiver count of a sample is stored as u1
MAX_SAMPLES_PER_RUN = 10**10
NO_LIMIT = "no limit"  # how an unlimited value reads


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: what it is, what is allowed, and how it is shown.

    `default` None means it has no fixed default; `default_note` then says what happens
    instead (the name is required, the seed is drawn). `valid` replaces the allowed range
    in words where code decides the bound (min_receivers), or for a rule of its own
    (`rule`, the dataset name's).
    """

    key: str
    kind: str
    default: Any = None
    unit: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""
    label: str = ""
    group: str = ""
    scope: str = "config"
    default_note: str = ""
    valid: str = ""
    max_len: int = 100
    rule: Callable[[Any, str], Any] | None = None  # (value, where) -> normalised value
    flag: str = ""  # command-line flag, when it is not --<key with '-'>
    decimals: int = 0  # digits the form shows of a float
    step: float = 1.0  # the form's spin-box step
    allow_inf: bool = False  # +inf is a value of its own ("no limit": max_gdop)
    iq_only: bool = False  # read only when drawing an iq_raw dataset's records
    since: int = 1  # the first generator version that reads it
    until: int | None = None  # the last one, None while the current version does

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.scope not in SCOPES or self.group not in GROUPS:
            raise ValueError(f"parameter {self.key}: kind {self.kind!r}, scope "
                             f"{self.scope!r} or group {self.group!r} is not known")

    @property
    def path(self) -> str:
        """The name errors and widgets use: `propagation.<key>` inside the group."""
        if self.scope == "propagation":
            return f"propagation.{self.key}"
        if self.scope == "terrain":
            return f"propagation.terrain.{self.key}"
        if self.scope == "measurement":
            return f"measurement.{self.key}"
        if self.scope == "receiver":
            return f"receivers[].{self.key}"
        return self.key

    def read_by(self, generator_version: int) -> bool:
        """Whether generator `generator_version` draws with this parameter."""
        return self.since <= generator_version and (
            self.until is None or generator_version <= self.until)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    @property
    def required(self) -> bool:
        """It must be given: it has neither a default nor a rule to choose one."""
        return self.default is None and self.default_note == "required"

    @property
    def allowed(self) -> str:
        """What is allowed, in the words of the error message."""
        if self.valid:
            return self.valid
        if self.kind == "float":
            text = range_text(self.lo, self.hi, self.unit, self.lo_open, self.hi_open)
            return text + (", or inf (no limit)" if self.allow_inf else "")
        if self.kind == "int":
            return f"a whole number from {int(self.lo)} to {int(self.hi)}"
        if self.kind == "choice":
            return " or ".join(self.choices)
        return f"non-empty text of at most {self.max_len} characters"

    @property
    def default_value(self) -> str:
        """The default as text, without its unit; the note when it has none."""
        if self.default is None:
            return self.default_note
        if isinstance(self.default, float):
            return f"{self.default:g}"
        if self.kind == "mix":
            return ",".join(f"{k}:{w:g}" for k, w in self.default)
        if self.kind == "antenna":
            return self.default.text()
        return str(self.default)

    @property
    def default_text(self) -> str:
        """The default with its unit: `145 MHz`."""
        unit = f" {self.unit}" if self.unit and self.default is not None else ""
        return self.default_value + unit

    def text(self, value: Any) -> str:
        """A value of this parameter as it reads in a table, without its unit: a range
        "30 to 45", an unlimited value "no limit", a mix "whip:0.5,yagi:0.5", an antenna
        "yagi:120", a value not drawn yet ""."""
        if value is None:
            return ""
        if isinstance(value, Antenna):
            return value.text()
        if self.kind == "mix":
            return mix_text(value)
        if isinstance(value, tuple):  # a range
            lo, hi = value
            return f"{lo:g} to {hi:g}"
        if isinstance(value, float):
            return NO_LIMIT if self.allow_inf and math.isinf(value) else f"{value:g}"
        return str(value)

    def describe(self) -> str:
        """One line: what it is, its default and what is allowed."""
        default = "required" if self.required else f"default {self.default_text}"
        return f"{self.help}; {default}; {self.allowed}"

    def check(self, value: Any, where: str | None = None, hi: float | None = None) -> Any:
        """`value` normalised (a float for a float parameter), or ConfigError naming
        `where` (the parameter's path unless given), the value and what is allowed.
        `hi` replaces the upper bound where code decides it."""
        where = self.path if where is None else where
        if self.rule is not None:
            return self.rule(value, where)
        upper = self.hi if hi is None else hi
        if self.allow_inf and value == math.inf and not isinstance(value, bool):
            return math.inf
        if self.kind == "float":
            try:
                return check_number(where, value, self.lo, upper, self.unit, self.lo_open,
                                    self.hi_open)
            except ConfigError:
                if not self.allow_inf:
                    raise
                raise ConfigError(where, value, self.allowed) from None
        if self.kind == "int":
            return check_integer(where, value, int(self.lo), int(upper))
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise ConfigError(where, value, " or ".join(self.choices))
        return check_text(where, value, self.max_len)


def check_params(group: object, params: tuple[Param, ...]) -> None:
    """Check and normalise the fields of a frozen config group, one per parameter of
    `params`, in their order (the first bad one raises ConfigError)."""
    for param in params:
        set_field(group, param.key, param.check(getattr(group, param.key)))


def _float(key: str, default: float | None, unit: str, lo: float, hi: float, help: str,
           label: str, group: str, scope: str = "config", decimals: int = 1,
           step: float = 1.0, lo_open: bool = False, since: int = 1,
           default_note: str = "", until: int | None = None,
           iq_only: bool = False) -> Param:
    return Param(key, "float", default, unit, lo, hi, lo_open=lo_open, help=help,
                 label=label, group=group, scope=scope, decimals=decimals, step=step,
                 default_note=default_note or ("required" if default is None else ""),
                 since=since, until=until, iq_only=iq_only)


# In the order of DatasetConfig's fields, which is the order they are checked in.
CONFIG_PARAMS: tuple[Param, ...] = (
    Param("name", "text", help="Dataset name; its file is the name plus .h5, in the "
          "workspace", label="Name", group="dataset", default_note="required",
          valid=NAME_RULE, rule=lambda value, where: validate_name(value)),
    Param("seed", "int", lo=0, hi=MAX_SEED, help="Root of all randomness: the same seed "
          "and parameters give the same samples", label="Seed", group="dataset",
          default_note="random, chosen at creation and stored"),
    Param("dataset_type", "choice", "feature_based", choices=DATASET_TYPES,
          help="What each sample stores", label="Type", group="dataset"),
    _float("frequency_mhz", 145.0, "MHz", 1, 6000, "Carrier frequency", "Frequency",
           "signal", decimals=3),
    Param("tx_power_dbm", "range", 37.0, "dBm", -30, 70, help="Transmitter power "
          "(37 dBm = 5 W), or a range lo:hi each sample's power is drawn from, uniform "
          "in dB (from generator version 4)", label="Transmit power", group="signal",
          valid="a number or a range lo:hi, each -30 to 70 dBm",
          rule=lambda value, where: check_range(where, value, -30, 70, "dBm")),
    _float("min_snr_db", 3.0, "dB", -20, 60, "A receiver detects the signal when its "
           "SNR is at least this", "Min SNR", "filter", step=0.5),
    Param("min_receivers", "int", 3, lo=3, hi=MAX_RECEIVERS,
          help="Detecting receivers a sample needs to be kept", label="Min receivers",
          group="filter", valid="3 to the number of receivers"),
    Param("max_gdop", "float", 10.0, "", 1, math.inf, lo_open=True, allow_inf=True,
          help="Keep a sample only if its GDOP is at most this; inf keeps every sample "
          "with enough detections (its GDOP is still stored)", label="Max GDOP",
          group="filter", decimals=2, step=0.5),
    _float("inside_ratio", 0.7, "", 0, 1, "Fraction of samples with the transmitter "
           "inside the receiver box", "Inside ratio", "placement", decimals=3, step=0.05),
    _float("margin_deg", 0.5, "degrees", 0, 5, "The training box is the receiver box "
           "grown by this on every side", "Margin", "placement", decimals=3, step=0.1),
    _float("bandwidth_hz", 12500.0, "Hz", 0, 1e10, "Receiver noise bandwidth",
           "Noise bandwidth", "signal", decimals=0, step=500, lo_open=True),
    _float("iq_duration_s", 0.2, "s", 0, 10, "How long each receiver observes a "
           "transmission: arrival-time and frequency errors shrink as it grows (from "
           "generator version 4)", "Observation", "signal", decimals=3, step=0.05,
           lo_open=True, since=4),
    _float("iq_sample_rate_hz", 50_000.0, "Hz", 0, 10e6, "IQ datasets: the complex "
           "sample rate of the recorded baseband, at least twice the noise bandwidth "
           "(from generator version 5)", "IQ sample rate", "signal", decimals=0,
           step=5000, lo_open=True, since=5, iq_only=True),
    Param("modulation", "mix", DEFAULT_MODULATIONS, help="IQ datasets: what the "
          "transmitters emit, drawn per sample with these weights: nfm_voice, nfm_tone, "
          "nfm_dtmf (narrow-band FM), am_voice, cw (keyed Morse), fsk2, fsk4",
          label="Modulations", group="signal", since=5, iq_only=True,
          valid="weights name:w[,name:w...] of " + ", ".join(MODULATIONS),
          rule=lambda value, where: check_mix(where, value, MODULATIONS)),
    Param("iq_storage", "choice", "complex64", choices=IQ_STORAGES, help="IQ datasets: "
          "complex64 (two f4 per value), or int16 pairs with a scale per record (half "
          "the size, quantization noise about 90 dB under the record's peak)",
          label="IQ storage", group="signal", since=5, iq_only=True),
    Param("chunk_size", "int", DEFAULT_CHUNK_SIZE, "samples", 64, 1 << 20,
          help="Samples per random-stream chunk; part of what makes a dataset "
          "reproducible", label="Chunk size", group="advanced", step=1024),
)

PROPAGATION_PARAMS: tuple[Param, ...] = (
    Param("path_loss_model", "choice", "two_ray", choices=PATH_LOSS_MODELS,
          help="two_ray: max(free space, plane earth); free_space: free-space loss only",
          label="Path loss model", group="propagation", scope="propagation"),
    _float("tx_height_m", 2.0, "m", 0.1, 1000, "Transmitter antenna above ground",
           "TX antenna height", "propagation", "propagation"),
    _float("clutter_min_db", 5.0, "dB", 0, 100, "Per-link clutter loss is uniform from "
           "this", "Clutter loss from", "propagation", "propagation"),
    _float("clutter_max_db", 15.0, "dB", 0, 100, "Per-link clutter loss is uniform up to "
           "this", "Clutter loss to", "propagation", "propagation"),
    _float("shadowing_sigma_db", 6.0, "dB", 0, 30, "Standard deviation of log-normal "
           "shadowing", "Shadowing sigma", "propagation", "propagation", step=0.5),
    _float("rician_k_db", 6.0, "dB", -30, 40, "Rician fading K factor: with terrain, of "
           "a line-of-sight link 1 km long (K falls as the square root of distance, "
           "Rayleigh where the terrain obstructs); without, below the line-of-sight "
           "distance", "Rician K", "propagation", "propagation", step=0.5),
    _float("los_distance_km", 30.0, "km", 0, 20000, "Terrain none only: links shorter "
           "than this fade as Rician, longer as Rayleigh", "Line of sight up to",
           "propagation", "propagation"),
    _float("max_freq_offset_hz", 50.0, "Hz", 0, 1e6, "Generator versions 1 to 3 only: "
           "frequency offsets are uniform in plus/minus this, per link (version 4 models "
           "the oscillators: the measurement group)", "Max oscillator offset", "propagation",
           "propagation", step=5, until=3),
)

# The receiver network's columns: the order of /receivers and of CSV files. A column
# without a default must be given for every receiver.
RECEIVER_PARAMS: tuple[Param, ...] = (
    Param("name", "text", help="Receiver name, unique in the network", label="Name",
          group="receiver", scope="receiver", default_note="required", max_len=64),
    _float("lat", None, "degrees", -90, 90, "Latitude of the site", "Lat", "receiver",
           "receiver", decimals=6),
    _float("lon", None, "degrees", -180, 180, "Longitude of the site", "Lon", "receiver",
           "receiver", decimals=6),
    _float("alt_m", None, "m", -500, 9000, "Ground altitude of the site", "Alt",
           "receiver", "receiver"),
    _float("noise_figure_db", 13.0, "dB", 0, 40, "Receiver noise figure", "Noise figure",
           "receiver", "receiver"),
    _float("antenna_gain_dbi", 0.0, "dBi", -30, 40, "Receiving antenna gain: an omni's "
           "whole gain; with another antenna, added to its pattern's (a feeder loss is "
           "negative)", "Gain",
           "receiver", "receiver"),
    _float("antenna_height_m", 10.0, "m", 0.5, 1000, "Receiving antenna above the ground "
           "at the site (the terrain models; terrain none uses alt_m)", "Mast",
           "receiver", "receiver"),
    Param("antenna", "antenna", Antenna(), help="Antenna pattern, applied toward each "
          "transmitter: omni, dipole, yagi:AZIMUTH[:GAIN] or pattern:FILE.msi[:AZIMUTH] "
          "(MSI Planet .msi/.pln); its gain adds to the gain column", label="Antenna",
          group="receiver", scope="receiver", since=4,
          valid="omni, dipole, yagi:AZIMUTH[:GAIN] or pattern:FILE[:AZIMUTH]",
          rule=lambda value, where: Antenna.from_value(value, where)),
    Param("timing", "choice", "none", choices=TIMING_KINDS, help="Arrival-time stamps: "
          "gps (GPS-disciplined clock, tens of ns), ntp (milliseconds) or none",
          label="Timing", group="receiver", scope="receiver", since=4),
    _float("calibration_db", None, "dB", -30, 30, "Fixed error of the receiver's power "
           "readings", "Calibration", "receiver", "receiver", since=4,
           default_note="drawn at creation (measurement.calibration_sigma_db)"),
    _float("oscillator_ppm", None, "ppm", -100, 100, "Frequency error of the receiver's "
           "oscillator", "Oscillator", "receiver", "receiver", decimals=3, since=4,
           default_note="drawn at creation (measurement.rx_oscillator_ppm)"),
    _float("noise_floor_sigma_db", 2.0, "dB", 0, 20, "The noise floor varies from sample "
           "to sample, normal in dB with this spread (man-made noise)", "Noise spread",
           "receiver", "receiver", since=4),
)

# The config's measurement group: what the transmitters and the receivers' clocks and
# oscillators are like (generator version 4 and later; docs/measurements.md).
MEASUREMENT_PARAMS: tuple[Param, ...] = (
    Param("tx_antennas", "mix", DEFAULT_TX_ANTENNAS, help="Transmitting antennas, drawn "
          "per sample with these weights: whip (0 dBi), rubber_duck (-5 dBi), yagi "
          "(portable, 7 dBi, random bearing)", label="TX antennas", group="measurement",
          scope="measurement", since=4, valid="weights name:w[,name:w...] of "
          + ", ".join(TX_ANTENNAS),
          rule=lambda value, where: check_mix(where, value, TX_ANTENNAS)),
    _float("tx_duty_cycle", 1.0, "", 0, 1, "Share of the observation the transmitter "
           "is keyed: arrival-time and frequency errors grow as it falls",
           "TX duty cycle", "measurement", "measurement", decimals=2, step=0.05,
           lo_open=True, since=4),
    _float("tx_oscillator_ppm", 1.5, "ppm", 0, 100, "Spread (standard deviation) of the "
           "transmitters' frequency error, one per sample and shared by every receiver "
           "(handheld radios drift a few ppm)", "TX oscillator", "measurement",
           "measurement", decimals=2, step=0.1, since=4),
    _float("rx_oscillator_ppm", 0.5, "ppm", 0, 100, "Spread of the receivers' oscillator "
           "errors drawn at creation for receivers without one (GPS-disciplined: a "
           "hundredth of it)", "RX oscillator", "measurement", "measurement",
           decimals=2, step=0.1, since=4),
    _float("calibration_sigma_db", 2.0, "dB", 0, 20, "Spread of the receivers' "
           "calibration errors drawn at creation for receivers without one",
           "Calibration spread", "measurement", "measurement", step=0.5, since=4),
    _float("gps_clock_ns", 20.0, "ns", 0, 1e6, "Clock error of a GPS-disciplined "
           "receiver's arrival times, standard deviation per measurement",
           "GPS clock error", "measurement", "measurement", step=5, since=4),
    _float("ntp_clock_ms", 2.0, "ms", 0, 1000, "Clock error of an NTP-synchronised "
           "receiver's arrival times, standard deviation per measurement",
           "NTP clock error", "measurement", "measurement", step=0.5, since=4),
    _float("nlos_delay_us", 0.4, "us", 0, 100, "Obstructed links arrive late by an "
           "exponential excess delay, mean this times the square root of the distance "
           "in km (Greenstein's rms delay spread)", "NLOS excess delay",
           "measurement", "measurement", decimals=2, step=0.1, since=4),
    _float("untimed_offset_ms", 20.0, "ms", 0, 1000, "IQ datasets: an untimed "
           "receiver's record starts up to this before or after the others' (uniform), "
           "so its recording tells no arrival time", "Untimed record offset",
           "measurement", "measurement", step=5, since=5, iq_only=True),
    _float("rx_phase_noise_hz", 0.0, "Hz", 0, 1000, "IQ datasets: the receivers' "
           "oscillator phase noise, a random walk of this 3 dB linewidth (0: none)",
           "RX phase noise", "measurement", "measurement", decimals=2, step=0.5, since=5,
           iq_only=True),
    _float("rx_iq_gain_db", 0.0, "dB", -3, 3, "IQ datasets: the receivers' IQ gain "
           "imbalance, Q against I (0: none)", "RX IQ gain imbalance", "measurement",
           "measurement", decimals=2, step=0.1, since=5, iq_only=True),
    _float("rx_iq_phase_deg", 0.0, "degrees", -20, 20, "IQ datasets: the receivers' IQ "
           "phase imbalance, from quadrature (0: none)", "RX IQ phase imbalance",
           "measurement", "measurement", decimals=2, step=0.5, since=5, iq_only=True),
    Param("rx_adc_bits", "int", 0, "bits", 0, 24, help="IQ datasets: the receivers' ADC, "
          "its full scale set by an AGC 12 dB above each record's rms; values beyond "
          "clip (0: ideal)", label="RX ADC bits", group="measurement",
          scope="measurement", since=5, iq_only=True),
)

# The config's propagation.terrain group, as set by a user; the elevation grid's sha256,
# step and bounds are filled in at creation (`TerrainModel`).
TERRAIN_PARAMS: tuple[Param, ...] = (
    Param("source", "choice", "builtin", choices=TERRAIN_SOURCES, help="Elevation data: "
          "builtin (shipped with the app), none (the flat plane of generator version 2), "
          "flat (a sea-level sphere: horizon and earth bulge only), tiles (the terrain "
          "library, or a folder of tiles)", label="Terrain", group="terrain",
          scope="terrain", flag="--terrain"),
    _float("k_factor", 4.0 / 3.0, "", 0.5, 10, "Effective earth radius factor "
           "(4/3: standard refraction)", "Earth radius factor k", "terrain", "terrain",
           decimals=3, step=0.05),
    _float("shadowing_decorrelation_m", 500.0, "m", 10, 20000, "Shadowing is a random "
           "field per receiver, exponentially correlated over this distance "
           "(Gudmundson)", "Shadowing decorrelation", "terrain", "terrain", decimals=0,
           step=50),
)

RUN_PARAMS: tuple[Param, ...] = (
    Param("num_samples", "int", 10_000, "samples", 1, MAX_SAMPLES_PER_RUN,
          help="Samples the run adds", label="Samples to generate", group="run",
          scope="run", flag="--samples", step=10_000),
    Param("compression", "choice", "light", choices=COMPRESSION_POLICIES,
          help="How the file stores samples: light gzips the constant, boolean and count "
          "columns (fastest to write), full gzips everything (smaller files, slower to "
          "write), none gzips nothing", label="Compression", group="run", scope="run"),
)

ALL_PARAMS = (CONFIG_PARAMS + PROPAGATION_PARAMS + TERRAIN_PARAMS + MEASUREMENT_PARAMS
              + RECEIVER_PARAMS + RUN_PARAMS)
BY_PATH: dict[str, Param] = {p.path: p for p in ALL_PARAMS}
# What only an iq_raw dataset's records are drawn with: a feature dataset stores these
# and never reads them.
IQ_ONLY_PATHS = tuple(p.path for p in ALL_PARAMS if p.iq_only)


def param(path: str) -> Param:
    """The parameter named `path` (`frequency_mhz`, `propagation.tx_height_m`,
    `receivers[].lat`, `num_samples`); KeyError if there is none."""
    return BY_PATH[path]


def unit_of(path: str) -> str:
    """The unit of the parameter named `path`, "" for none or for an unknown name."""
    found = BY_PATH.get(path)
    return found.unit if found else ""
