"""Generator version 4's measurements against independent computations
(docs/propagation.md, Measurements): arrival-time differences against distance
differences / c, the shared transmitter offset, a yagi's front-to-back in the data,
the transmit power range, the noise floor's spread and the receivers' calibration."""

import math

import numpy as np
import pytest

from heimdall_studio.core.api import make_config
from heimdall_studio.core.config.network import resolve_receivers
from heimdall_studio.core.errors import ConfigError
from heimdall_studio.core.sampling import physics
from heimdall_studio.core.sampling.generator import generate_block

C_KM_PER_NS = 299_792.458e-9
NOISE_DBM = -174 + 10 * math.log10(12_500) + 13  # the default receivers' floor


def _haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return np.maximum(2 * 6371.0088 * np.arcsin(np.sqrt(a)), 0.01)


def _network(**changes):
    return [{**r.to_dict(), **changes} for r in make_config("r", seed=0).receivers]


def _flat(name, seed, n, receivers=None, **params):
    """A flat-plane dataset where almost every link is detected: strong transmitters,
    a low detection threshold and no GDOP limit."""
    params = {"min_snr_db": -20, "max_gdop": math.inf, "tx_power_dbm": 60,
              "propagation": {"terrain": {"source": "none"}}, **params}
    config = make_config(name, seed=seed, receivers=receivers or _network(), **params)
    return resolve_receivers(config), generate_block(config, 0, n).arrays


def _toa_sigma_ns(snr_db, bandwidth_hz=12_500.0, seconds=0.2):
    """The delay bound of a signal flat over the bandwidth, 1 / (2 pi beta sqrt(2 E/N0))
    with beta = B / sqrt(12)."""
    energy = 10 ** (snr_db / 10) * bandwidth_hz * seconds
    beta = bandwidth_hz / math.sqrt(12)
    return 1e9 / (2 * math.pi * beta * np.sqrt(2 * energy))


def test_arrival_time_differences_are_distance_differences_over_c():
    # GPS receivers, line of sight everywhere (the flat plane within 20,000 km): what is
    # left of a TDOA after the geometry is the clock and the bound's errors, in ns.
    config, a = _flat("tdoa", 31, 20_000, _network(timing="gps"),
                      propagation={"terrain": {"source": "none"}, "los_distance_km": 20000})
    toa, present = a["toa_ns"], a["signal_present"]
    assert present.mean() > 0.99 and np.isfinite(toa[present]).all()
    dist = _haversine_km(a["tx_lat"][:, None], a["tx_lon"][:, None],
                         np.array([r.lat for r in config.receivers])[None, :],
                         np.array([r.lon for r in config.receivers])[None, :])
    both = present[:, 0] & present[:, 1]
    tdoa = toa[both, 0] - toa[both, 1]
    geometric = (dist[both, 0] - dist[both, 1]) / C_KM_PER_NS
    clock = config.measurement.gps_clock_ns
    sigma = np.sqrt(2 * clock**2 + _toa_sigma_ns(a["snr_db"][both, 0]) ** 2
                    + _toa_sigma_ns(a["snr_db"][both, 1]) ** 2)
    z = (tdoa - geometric) / sigma
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.03)
    # the emission instant is unknown: absolute times carry no distance
    assert abs(np.corrcoef(toa[both, 0], dist[both, 0])[0, 1]) < 0.05


def test_obstructed_links_arrive_late_by_the_documented_mean():
    # On the flat plane, links from 30 km on are obstructed (SPEC section 3's switch):
    # their excess delay averages nlos_delay_us * sqrt(d / km) over the clock errors.
    _, a = _flat("nlos", 32, 20_000, _network(timing="gps"),
                      measurement={"nlos_delay_us": 1.0})
    dist = a["distance_km"].astype(float)
    residual = a["toa_ns"] - dist / C_KM_PER_NS
    los = a["line_of_sight"]
    # pairs of a line-of-sight link and an obstructed one in the same sample
    pick = los[:, 2] & ~los[:, 6] & a["signal_present"][:, 2] & a["signal_present"][:, 6]
    excess = residual[pick, 6] - residual[pick, 2]
    expected = 1000.0 * np.sqrt(dist[pick, 6])
    assert pick.sum() > 2000
    assert np.mean(excess - expected) == pytest.approx(0.0, abs=3 * np.std(excess)
                                                       / np.sqrt(pick.sum()))
    assert np.mean(excess) > 5000  # microseconds, not nanoseconds


def test_untimed_receivers_report_no_arrival_time():
    receivers = _network()
    receivers[0]["timing"] = "gps"
    receivers[1]["timing"] = "ntp"
    config, a = _flat("mixed", 33, 3000, receivers)
    toa, present = a["toa_ns"], a["signal_present"]
    assert np.isfinite(toa[present[:, 0], 0]).all() and np.isfinite(toa[present[:, 1], 1]).all()
    assert np.isnan(toa[:, 2:]).all() and np.isnan(toa[~present]).all()
    # an NTP clock errs by milliseconds
    both = present[:, 0] & present[:, 1]
    spread = np.std(toa[both, 1] - toa[both, 0] - (a["distance_km"][both, 1]
                                                  - a["distance_km"][both, 0]) / C_KM_PER_NS)
    assert spread == pytest.approx(config.measurement.ntp_clock_ms * 1e6, rel=0.05)


def test_the_transmitter_offset_is_shared_by_every_receiver_of_a_sample():
    config, a = _flat("offsets", 34, 20_000)
    f_hz = config.frequency_mhz * 1e6
    tx = a["tx_freq_offset_hz"].astype(float)
    # one normal offset per sample, of the configured ppm
    assert tx.std() == pytest.approx(config.measurement.tx_oscillator_ppm * 1e-6 * f_hz,
                                     rel=0.03)
    foff, present = a["freq_offset_hz"].astype(float), a["signal_present"]
    both = present[:, 3] & present[:, 5]
    assert np.corrcoef(foff[both, 3], foff[both, 5])[0, 1] > 0.999
    # what is left is each receiver's fixed oscillator error and a noise at the bound
    for r, receiver in enumerate(config.receivers):
        seen = present[:, r]
        residual = foff[seen, r] - tx[seen] + 1e-6 * f_hz * receiver.oscillator_ppm
        energy = 10 ** (a["snr_db"][seen, r] / 10) * 12_500 * 0.2
        bound = math.sqrt(6) / (2 * math.pi * 0.2 * np.sqrt(energy))
        # float32 storage of offsets of hundreds of Hz rounds to about 1e-5 Hz
        z = residual / np.sqrt(bound**2 + (3e-8 * np.abs(foff[seen, r])) ** 2)
        assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.05), r


def test_a_yagi_receives_its_front_to_back_ratio_from_behind():
    # Freeze every random term but the antennas: no shadowing, fixed clutter, Rician
    # K = 40 dB on every link, whips only. What the receiver adds to the link budget is
    # then its antenna's gain toward the transmitter.
    receivers = _network(calibration_db=0.0)
    receivers[2]["antenna"] = "yagi:90"  # Torino, looking east
    config, a = _flat("yagi", 35, 20_000, receivers, measurement={"tx_antennas": "whip"},
                      propagation={"terrain": {"source": "none"}, "clutter_min_db": 10,
                                   "clutter_max_db": 10, "shadowing_sigma_db": 0,
                                   "rician_k_db": 40, "los_distance_km": 20000})
    rx = config.receivers[2]
    present = a["signal_present"][:, 2]
    d = a["distance_km"][present, 2].astype(float)
    loss = np.array([physics.path_loss_db(x, 145.0, 2.0, rx.alt_m, physics.PATH_LOSS_TWO_RAY)
                     for x in d])
    gain = a["rx_power_dbm"][present, 2] - (60 - loss - 10)
    # the bearing from Torino to each transmitter, computed here
    lat1, lon1 = math.radians(rx.lat), math.radians(rx.lon)
    lat2, lon2 = np.radians(a["tx_lat"][present]), np.radians(a["tx_lon"][present])
    bearing = np.degrees(np.arctan2(np.sin(lon2 - lon1) * np.cos(lat2),
                                    math.cos(lat1) * np.sin(lat2)
                                    - math.sin(lat1) * np.cos(lat2) * np.cos(lon2 - lon1)))
    off = (bearing - 90 + 180) % 360 - 180
    front = gain[np.abs(off) < 3]
    back = gain[np.abs(off) > 177]
    assert len(front) > 50 and len(back) > 50
    assert np.median(front) == pytest.approx(rx.antenna.gain_dbi, abs=0.3)
    assert np.median(front) - np.median(back) == pytest.approx(rx.antenna.front_to_back_db,
                                                               abs=0.5)
    # an omni receiver of the same network hears every bearing alike
    omni = a["rx_power_dbm"][:, 3][a["signal_present"][:, 3]]
    assert np.isfinite(omni).all()


def test_transmit_power_is_uniform_over_its_range_in_db():
    config = make_config("power", seed=36, min_snr_db=-20, max_gdop=math.inf,
                         tx_power_dbm="30:45", propagation={"terrain": {"source": "none"}})
    assert config.tx_power_range == (30.0, 45.0)
    block = generate_block(config, 0, 20_000)
    assert block.candidates < 1.002 * block.count  # nearly unselected: the draw shows
    p = np.sort(block.arrays["tx_power_dbm"].astype(float))
    ks = np.abs(np.arange(1, len(p) + 1) / len(p) - (p - 30) / 15).max()
    assert ks < 1.63 / math.sqrt(len(p))  # Kolmogorov-Smirnov at 1 %
    assert p.min() >= 30 and p.max() <= 45


def test_the_noise_floor_varies_around_the_receivers_nominal_floor():
    config, a = _flat("noise", 37, 20_000)
    noise = a["noise_floor_dbm"].astype(float)
    assert np.isfinite(noise).all()  # measured by every receiver, detecting or not
    for r, receiver in enumerate(config.receivers):
        floor = noise[:, r] - receiver.calibration_db
        assert floor.mean() == pytest.approx(NOISE_DBM, abs=0.05)
        assert floor.std() == pytest.approx(receiver.noise_floor_sigma_db, rel=0.03)
    # both readings carry the calibration error: their difference is the SNR
    present = a["signal_present"]
    diff = (a["rx_power_dbm"] - a["noise_floor_dbm"] - a["snr_db"])[present]
    assert np.abs(diff).max() < 1e-3


def test_receiver_errors_are_drawn_once_from_the_seed_and_given_ones_are_kept():
    receivers = _network()
    receivers[4]["calibration_db"] = 3.5
    receivers[4]["oscillator_ppm"] = -0.25
    config = resolve_receivers(make_config("errors", seed=38, receivers=receivers))
    again = resolve_receivers(make_config("errors", seed=38, receivers=receivers))
    assert config == again and resolve_receivers(config) is config
    assert config.receivers[4].calibration_db == 3.5
    assert config.receivers[4].oscillator_ppm == -0.25
    drawn = [r.calibration_db for r in config.receivers]
    assert len(set(drawn)) == len(drawn)
    other = resolve_receivers(make_config("errors", seed=39, receivers=receivers))
    assert [r.calibration_db for r in other.receivers] != drawn


def test_no_gdop_limit_keeps_every_sample_with_enough_detections():
    limited = make_config("gdop", seed=40, propagation={"terrain": {"source": "none"}})
    block = generate_block(limited.replace(max_gdop=math.inf), 0, 3000)
    assert block.rejected_gdop == 0
    gdop = block.arrays["gdop"]
    assert (gdop > limited.max_gdop).sum() > 30
    assert (block.arrays["num_receivers_detected"] >= 3).all()
    # the config stores it as JSON null and reads it back
    unlimited = limited.replace(max_gdop=math.inf)
    assert '"max_gdop": null' in unlimited.to_json()
    assert type(unlimited).from_json(unlimited.to_json()).max_gdop == math.inf


@pytest.mark.parametrize("params, field", [
    ({"tx_power_dbm": "45:30"}, "tx_power_dbm"),
    ({"tx_power_dbm": "30:80"}, "tx_power_dbm"),
    ({"measurement": {"tx_oscillator_ppm": 500}}, "measurement.tx_oscillator_ppm"),
    ({"measurement": {"tx_antennas": "whip:1,helix:1"}}, "measurement.tx_antennas"),
    ({"measurement": {"tx_antennas": "whip:0"}}, "measurement.tx_antennas"),
    ({"receivers": _network(timing="sundial")}, "receivers['Aquila di Giaveno'].timing"),
    ({"receivers": _network(oscillator_ppm=250)},
     "receivers['Aquila di Giaveno'].oscillator_ppm"),
    ({"receivers": _network(antenna="yagi:400")},
     "receivers['Aquila di Giaveno'].antenna.azimuth_deg"),
])
def test_bad_measurement_input_names_the_field(params, field):
    with pytest.raises(ConfigError) as info:
        make_config("bad", seed=1, **params)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field} = ")


def test_older_versions_refuse_what_they_cannot_draw():
    config = make_config("old", seed=1, tx_power_dbm="30:45")
    with pytest.raises(ConfigError, match=r"tx_power_dbm .* is a range"):
        generate_block(config, 0, 10, version=3)
    with pytest.raises(ConfigError, match="max_gdop"):
        generate_block(make_config("old", seed=1, max_gdop=math.inf), 0, 10, version=2)
