"""The dataset config: every generation parameter, validated and immutable.

A `DatasetConfig` is the single source of truth for how a dataset's samples are drawn.
It is written into the dataset file as JSON and read back from there for expansion, so
once a dataset exists nothing outside its file can change how it grows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .checks import (
    check_mapping,
    field_names,
    field_values,
    group_from_dict,
    refuse_constant,
    reject_unknown,
    set_field,
)
from .fields import record_fields, row_bytes
from .names import NAME_RULE
from .params import (
    BY_PATH,
    CONFIG_PARAMS,
    DEFAULT_CHUNK_SIZE,
    MAX_RECEIVERS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    TERRAIN_PARAMS,
    check_params,
)
from .params import DATASET_TYPES as DATASET_TYPES
from .params import MAX_SEED as MAX_SEED
from .params import PATH_LOSS_MODELS as PATH_LOSS_MODELS
from .receivers import Receiver, default_receivers

# Checked after the receivers, whose number bounds it.
_MIN_RECEIVERS = BY_PATH["min_receivers"]
_TX_POWER = BY_PATH["tx_power_dbm"]
# An IQ record is estimated from (SNR, offset, delay) and must leave a block of samples
# room in memory: limits of one sample's records (docs/iq.md).
MIN_IQ_LENGTH = 256
MAX_IQ_SAMPLE_BYTES = 64 << 20


_SHA256_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class TerrainModel:
    """The ground the links see (docs/propagation.md): where the elevation data comes
    from and the constants of the terrain model; `params.TERRAIN_PARAMS` has the units,
    defaults and ranges of the first three.

    `sha256`, `step_deg` and `bounds` identify the elevation grid the dataset was drawn
    with; they are filled in when a dataset is created (`terrain.source.resolve_terrain`)
    and empty in a config that has not been. `tiles_dir` is the folder a `tiles` source
    was read from ("" for the terrain library); it is a note: expansion reads the grid
    from the dataset file.
    """

    source: str = "builtin"
    k_factor: float = 4.0 / 3.0
    shadowing_decorrelation_m: float = 500.0
    tiles_dir: str = ""
    sha256: str = ""
    step_deg: float = 0.0
    bounds: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        check_params(self, TERRAIN_PARAMS)
        where = "propagation.terrain"
        if not isinstance(self.tiles_dir, str) or len(self.tiles_dir) > 4096:
            raise ConfigError(f"{where}.tiles_dir", self.tiles_dir, "a folder's path")
        if self.tiles_dir and self.source != "tiles":
            raise ConfigError(f"{where}.tiles_dir", self.tiles_dir,
                              "empty unless the source is tiles")
        if not isinstance(self.sha256, str) or (
                self.sha256 and (len(self.sha256) != 64 or set(self.sha256) - _SHA256_HEX)):
            raise ConfigError(f"{where}.sha256", self.sha256,
                              "64 lower-case hexadecimal digits, or empty")
        if isinstance(self.step_deg, bool) or not isinstance(self.step_deg, (int, float)) \
                or not 0 <= self.step_deg < 1:
            raise ConfigError(f"{where}.step_deg", self.step_deg, "0 to less than 1 degree")
        set_field(self, "step_deg", float(self.step_deg))
        bounds = self.bounds
        if bounds is not None:
            if (not isinstance(bounds, (list, tuple)) or len(bounds) != 4
                    or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                               for b in bounds)
                    or not (-90 <= bounds[0] < bounds[1] <= 90
                            and -180 <= bounds[2] < bounds[3] <= 180)):
                raise ConfigError(f"{where}.bounds", bounds,
                                  "[south, north, west, east] in degrees, or null")
            set_field(self, "bounds", tuple(float(b) for b in bounds))
        identified = bool(self.sha256) + (self.step_deg > 0) + (bounds is not None)
        if self.source == "none" and identified:
            raise ConfigError(f"{where}.sha256", self.sha256,
                              "empty for source none (it uses no elevation data)")
        if identified not in (0, 3):
            raise ConfigError(f"{where}", "a partial grid identity",
                              "sha256, step_deg and bounds all given, or none of them")

    @property
    def resolved(self) -> bool:
        """Whether the elevation grid is identified (or none is needed)."""
        return self.source == "none" or bool(self.sha256)

    @classmethod
    def from_dict(cls, data: Any) -> TerrainModel:
        return group_from_dict(cls, "propagation.terrain", data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["bounds"] = None if self.bounds is None else list(self.bounds)
        return data


# A stored config without a terrain group was written before terrain existed (generator
# versions 1 and 2): its world is the flat plane.
LEGACY_TERRAIN = TerrainModel(source="none")


@dataclass(frozen=True, slots=True)
class PropagationModel:
    """Constants of the propagation model, stored with the config; each one's unit,
    default and range are in `params.PROPAGATION_PARAMS`, in the order of these fields."""

    path_loss_model: str = "two_ray"
    tx_height_m: float = 2.0
    clutter_min_db: float = 5.0
    clutter_max_db: float = 15.0
    shadowing_sigma_db: float = 6.0
    rician_k_db: float = 6.0
    los_distance_km: float = 30.0
    max_freq_offset_hz: float = 50.0
    terrain: TerrainModel = field(default_factory=TerrainModel)

    def __post_init__(self) -> None:
        check_params(self, PROPAGATION_PARAMS)
        if isinstance(self.terrain, Mapping):
            set_field(self, "terrain", TerrainModel.from_dict(self.terrain))
        if not isinstance(self.terrain, TerrainModel):
            raise ConfigError("propagation.terrain", self.terrain, "a terrain group")
        if self.clutter_max_db < self.clutter_min_db:
            raise ConfigError("propagation.clutter_max_db", self.clutter_max_db,
                              f"at least clutter_min_db ({self.clutter_min_db:g} dB)")

    @classmethod
    def from_dict(cls, data: Any) -> PropagationModel:
        return group_from_dict(cls, "propagation", data)

    def to_dict(self) -> dict[str, Any]:
        data = field_values(self)
        data["terrain"] = self.terrain.to_dict()
        return data


@dataclass(frozen=True, slots=True)
class MeasurementModel:
    """What the transmitters are like and how the receivers' clocks and oscillators err
    (docs/measurements.md); `params.MEASUREMENT_PARAMS` has each one's
    unit, default and range, in the order of these fields. Read from generator version 4."""

    tx_antennas: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: BY_PATH["measurement.tx_antennas"].default)
    tx_duty_cycle: float = 1.0
    tx_oscillator_ppm: float = 1.5
    rx_oscillator_ppm: float = 0.5
    calibration_sigma_db: float = 2.0
    gps_clock_ns: float = 20.0
    ntp_clock_ms: float = 2.0
    nlos_delay_us: float = 0.4
    untimed_offset_ms: float = 20.0
    rx_phase_noise_hz: float = 0.0
    rx_iq_gain_db: float = 0.0
    rx_iq_phase_deg: float = 0.0
    rx_adc_bits: int = 0

    def __post_init__(self) -> None:
        check_params(self, MEASUREMENT_PARAMS)

    @classmethod
    def from_dict(cls, data: Any) -> MeasurementModel:
        return group_from_dict(cls, "measurement", data)

    def to_dict(self) -> dict[str, Any]:
        data = field_values(self)
        data["tx_antennas"] = dict(self.tx_antennas)
        return data


@dataclass(frozen=True, slots=True)
class DatasetConfig:
    """Everything that decides which samples a dataset holds.

    Each parameter's unit, default and range are in `params.CONFIG_PARAMS`, in the order
    of these fields; tests hold the two to each other. The sample count is deliberately
    absent: it belongs to a run, not to the dataset.
    """

    name: str
    seed: int
    dataset_type: str = "feature_based"
    frequency_mhz: float = 145.0
    tx_power_dbm: float | tuple[float, float] = 37.0
    min_snr_db: float = 3.0
    min_receivers: int = 3
    max_gdop: float = 10.0
    inside_ratio: float = 0.7
    margin_deg: float = 0.5
    bandwidth_hz: float = 12500.0
    iq_duration_s: float = 0.2
    iq_sample_rate_hz: float = 50_000.0
    modulation: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: BY_PATH["modulation"].default)
    iq_storage: str = "complex64"
    receivers: tuple[Receiver, ...] = field(default_factory=lambda: default_receivers())
    propagation: PropagationModel = field(default_factory=PropagationModel)
    measurement: MeasurementModel = field(default_factory=MeasurementModel)
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        for param in CONFIG_PARAMS:
            if param is not _MIN_RECEIVERS:
                set_field(self, param.key, param.check(getattr(self, param.key)))
        self._check_receivers()
        set_field(self, "min_receivers",
                  _MIN_RECEIVERS.check(self.min_receivers, hi=len(self.receivers)))
        if not isinstance(self.propagation, PropagationModel):
            raise ConfigError("propagation", self.propagation, "a propagation model")
        if isinstance(self.measurement, Mapping):
            set_field(self, "measurement", MeasurementModel.from_dict(self.measurement))
        if not isinstance(self.measurement, MeasurementModel):
            raise ConfigError("measurement", self.measurement, "a measurement group")
        if self.inside_ratio < 1 and self.margin_deg == 0:
            raise ConfigError("margin_deg", self.margin_deg,
                              "greater than 0 when inside_ratio is below 1 "
                              "(outside samples need a ring around the receivers)")
        if self.dataset_type == "iq_raw":
            self._check_iq()

    def _check_iq(self) -> None:
        """An IQ record must sample the channel with noise around it, be long enough to
        estimate from and small enough that a sample fits one block (docs/iq.md)."""
        if self.iq_sample_rate_hz < 2 * self.bandwidth_hz:
            raise ConfigError("iq_sample_rate_hz", self.iq_sample_rate_hz,
                              f"at least twice bandwidth_hz ({2 * self.bandwidth_hz:g} Hz), "
                              "so that the record holds the channel and noise around it")
        if self.iq_length < MIN_IQ_LENGTH:
            raise ConfigError("iq_duration_s", self.iq_duration_s,
                              f"at least {MIN_IQ_LENGTH} IQ samples per record "
                              f"({MIN_IQ_LENGTH / self.iq_sample_rate_hz:.4g} s at "
                              f"{self.iq_sample_rate_hz:g} Hz)")
        size = self.iq_bytes_per_sample
        if size > MAX_IQ_SAMPLE_BYTES:
            raise ConfigError("iq_duration_s", self.iq_duration_s,
                              f"a record of at most {MAX_IQ_SAMPLE_BYTES >> 20} MiB per "
                              f"sample (this makes {size / 2**20:.0f} MiB: "
                              f"{len(self.receivers)} receivers x {self.iq_length:,} "
                              "values); shorten it or lower iq_sample_rate_hz")

    @property
    def iq_length(self) -> int:
        """L, the complex values in each receiver's IQ record."""
        return round(self.iq_sample_rate_hz * self.iq_duration_s)

    @property
    def iq_bytes_per_sample(self) -> int:
        """What one sample's IQ records take in the file (0 for a feature dataset)."""
        if self.dataset_type != "iq_raw":
            return 0
        return row_bytes(record_fields(self.iq_storage), len(self.receivers), self.iq_length)

    def _check_receivers(self) -> None:
        receivers = self.receivers
        if isinstance(receivers, list):
            receivers = tuple(receivers)
            set_field(self, "receivers", receivers)
        if not isinstance(receivers, tuple) or not all(isinstance(r, Receiver) for r in receivers):
            raise ConfigError("receivers", receivers, "a list of receivers")
        # Counted once: a per-name count over the list took minutes for a large file.
        duplicates = sorted(n for n, count in Counter(r.name for r in receivers).items()
                            if count > 1)
        if duplicates:
            raise ConfigError("receivers", duplicates[0], "unique receiver names",
                              problem="is a duplicate receiver name")
        positions = {(r.lat, r.lon) for r in receivers}
        if len(positions) < 3:
            raise ConfigError("receivers", f"{len(positions)} distinct positions",
                              "at least 3 receivers at distinct positions")
        if len(receivers) > MAX_RECEIVERS:
            raise ConfigError("receivers", f"{len(receivers)} receivers",
                              f"at most {MAX_RECEIVERS}")

    @property
    def tx_power_range(self) -> tuple[float, float]:
        """The transmit power's range in dBm; both ends equal for one power."""
        power = self.tx_power_dbm
        return power if isinstance(power, tuple) else (power, power)

    @property
    def tx_power_text(self) -> str:
        """"37 dBm", "30 to 45 dBm"."""
        return f"{_TX_POWER.text(self.tx_power_dbm)} dBm"

    # -- conversions --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: a range is a list of its two ends, and an unlimited
        max_gdop is null (JSON has no infinity)."""
        data = field_values(self)
        data["receivers"] = [r.to_dict() for r in self.receivers]
        data["propagation"] = self.propagation.to_dict()
        data["measurement"] = self.measurement.to_dict()
        data["modulation"] = dict(self.modulation)
        if isinstance(self.tx_power_dbm, tuple):
            data["tx_power_dbm"] = list(self.tx_power_dbm)
        if math.isinf(self.max_gdop):
            data["max_gdop"] = None
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> DatasetConfig:
        """Strict parse: unknown keys are errors; a missing seed gets a fresh random one."""
        data = dict(check_mapping("config", data))
        reject_unknown("config", data, field_names(cls))
        if "name" not in data:
            raise ConfigError("name", None, NAME_RULE, problem="is missing")
        if data.get("seed") is None:
            data["seed"] = new_seed()
        if "max_gdop" in data and data["max_gdop"] is None:  # to_dict's "no limit"
            data["max_gdop"] = math.inf
        if "receivers" in data:
            raw = data["receivers"]
            if not isinstance(raw, (list, tuple)):
                raise ConfigError("receivers", raw, "a list of receivers")
            data["receivers"] = _shared_part("receivers", raw)
        if "propagation" in data and not isinstance(data["propagation"], PropagationModel):
            data["propagation"] = _shared_part("propagation", data["propagation"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> DatasetConfig:
        try:
            data = json.loads(text, parse_constant=refuse_constant)
        except (ValueError, TypeError) as exc:
            raise ConfigError("config_json", text[:60] if isinstance(text, str) else text,
                              "valid JSON", problem=f"is not valid JSON ({exc})") from None
        if isinstance(data, Mapping) and data.get("seed") is None:
            raise ConfigError("seed", None, "a stored seed", problem="is missing")
        if isinstance(data, Mapping) and isinstance(data.get("propagation"), Mapping) \
                and "terrain" not in data["propagation"]:
            data = {**data, "propagation": {**data["propagation"],
                                            "terrain": LEGACY_TERRAIN.to_dict()}}
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> DatasetConfig:
        return dataclasses.replace(self, **changes)



def _receivers(raw: list[Any] | tuple[Any, ...]) -> tuple[Receiver, ...]:
    return tuple(r if isinstance(r, Receiver) else Receiver.from_dict(r, i)
                 for i, r in enumerate(raw))


_SHARED_PARTS: dict[str, Callable[[Any], Any]] = {
    "receivers": _receivers, "propagation": lambda raw: PropagationModel.from_dict(raw)}


def _shared_part(part: str, raw: Any) -> Any:
    """The receivers or the propagation model of a config, from objects or plain values.

    The datasets of a workspace mostly share these, so plain values (parsed JSON) are
    validated once per distinct value: listing a workspace parses every file's config,
    and checking seven receivers was most of that. The key is the canonical JSON, which
    tells 1 from 1.0 and from true.
    """
    try:
        key = json.dumps(raw, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # objects, or values no config file can hold
        return _SHARED_PARTS[part](raw)
    return _shared_part_from_json(part, key)


@functools.lru_cache(maxsize=64)
def _shared_part_from_json(part: str, text: str) -> Any:
    return _SHARED_PARTS[part](json.loads(text))



def new_seed() -> int:
    """A fresh random 63-bit seed, chosen once when a dataset is created."""
    return secrets.randbits(63)


def make_config(name: str, **params: Any) -> DatasetConfig:
    """A validated config; parameters not given take their defaults, the seed a random one."""
    return DatasetConfig.from_dict({"name": name, **params})
