"""Config validation, defaults and round trips (core/config/params.py)."""

import json
import math

import pytest

from heimdall_studio.core.config.model import DatasetConfig, PropagationModel
from heimdall_studio.core.config.receivers import (
    Receiver,
    default_receivers,
    load_receivers,
    parse_receivers_csv,
)
from heimdall_studio.core.errors import ConfigError


def cfg(**changes):
    return DatasetConfig.from_dict({"name": "test", "seed": 1, **changes})


def test_defaults_follow_the_spec():
    c = DatasetConfig.from_dict({"name": "d"})
    assert (c.dataset_type, c.frequency_mhz, c.tx_power_dbm, c.min_snr_db, c.min_receivers,
            c.max_gdop, c.inside_ratio, c.margin_deg, c.bandwidth_hz, c.chunk_size) == (
        "feature_based", 145.0, 37.0, 3.0, 3, 10.0, 0.7, 0.5, 12500.0, 4096)
    assert 0 <= c.seed < 2**63
    assert [r.name for r in c.receivers] == [
        "Aquila di Giaveno", "Montanaro", "Torino", "Coazze", "Passo del Giovi", "Genova",
        "Milano - Baggio"]
    assert all(r.noise_figure_db == 13 and r.antenna_gain_dbi == 0 for r in c.receivers)
    assert c.propagation == PropagationModel()
    assert c.propagation.path_loss_model == "two_ray"


def test_each_new_config_gets_its_own_seed():
    assert DatasetConfig.from_dict({"name": "a"}).seed != DatasetConfig.from_dict(
        {"name": "a"}).seed


def test_json_round_trip_is_exact():
    c = cfg(frequency_mhz=430.125, receivers=[r.to_dict() for r in default_receivers()[:4]])
    assert DatasetConfig.from_json(c.to_json()) == c


def test_config_is_immutable():
    with pytest.raises(AttributeError):
        cfg().frequency_mhz = 430.0  # type: ignore[misc]


@pytest.mark.parametrize("key, value, fragment", [
    ("frequency_mhz", 0.5, "1 to 6000 MHz"),
    ("frequency_mhz", 6000.1, "1 to 6000 MHz"),
    ("frequency_mhz", math.nan, "finite"),
    ("frequency_mhz", math.inf, "finite"),
    ("frequency_mhz", "145", "a number"),
    ("frequency_mhz", True, "a number"),
    ("tx_power_dbm", 71, "-30 to 70 dBm"),
    ("min_snr_db", -21, "-20 to 60 dB"),
    ("min_receivers", 2, "3 to 7"),
    ("min_receivers", 8, "3 to 7"),
    ("min_receivers", 3.5, "whole number"),
    ("max_gdop", 1.0, "greater than 1"),
    ("inside_ratio", 1.01, "0 to 1"),
    ("inside_ratio", -0.1, "0 to 1"),
    ("margin_deg", 5.5, "0 to 5 degrees"),
    ("bandwidth_hz", 0, "greater than 0"),
    ("seed", -1, "whole number"),
    ("seed", 2**63, "whole number"),
    ("dataset_type", "iq", "feature_based"),
    ("chunk_size", 0, "whole number"),
])
def test_bad_values_are_named_with_the_allowed_range(key, value, fragment):
    with pytest.raises(ConfigError) as info:
        cfg(**{key: value})
    message = str(info.value)
    assert info.value.field == key
    assert message.startswith(f"{key} = ")
    assert fragment in message


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", "x" * 101, "tab\tname",
                                  "città", " ", " lead", "trail "])
def test_names_that_could_escape_the_workspace_are_refused(name):
    with pytest.raises(ConfigError, match=r"^name = "):
        cfg(name=name)


def test_good_names():
    for name in ("uhf-430", "Run 2.b_x", "x" * 100):
        assert cfg(name=name).name == name


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match=r"^frequency = 145 is not a known parameter"):
        cfg(frequency=145)
    with pytest.raises(ConfigError, match="propagation"):
        cfg(propagation={"sigma": 3})


def test_missing_name_is_refused():
    with pytest.raises(ConfigError, match="name"):
        DatasetConfig.from_dict({"frequency_mhz": 145})


def test_receivers_must_be_distinct_and_at_least_three():
    rx = [r.to_dict() for r in default_receivers()]
    with pytest.raises(ConfigError, match="duplicate receiver name"):
        cfg(receivers=[*rx[:3], dict(rx[3], name=rx[0]["name"])])
    with pytest.raises(ConfigError, match="at least 3 receivers"):
        cfg(receivers=rx[:2])
    same_place = [dict(rx[0], name=f"r{i}") for i in range(3)]
    with pytest.raises(ConfigError, match="distinct positions"):
        cfg(receivers=same_place)
    with pytest.raises(ConfigError, match=r"receivers\['bad'\].lat"):
        cfg(receivers=[*rx[:3], dict(rx[3], name="bad", lat=91)])


def test_min_receivers_is_bounded_by_the_network():
    rx = [r.to_dict() for r in default_receivers()[:4]]
    assert cfg(receivers=rx, min_receivers=4).min_receivers == 4
    with pytest.raises(ConfigError, match="3 to 4"):
        cfg(receivers=rx, min_receivers=5)


def test_outside_samples_need_a_margin():
    with pytest.raises(ConfigError, match="margin_deg"):
        cfg(margin_deg=0, inside_ratio=0.5)
    assert cfg(margin_deg=0, inside_ratio=1.0).margin_deg == 0


def test_propagation_constants_are_checked():
    with pytest.raises(ConfigError, match="path_loss_model"):
        cfg(propagation={"path_loss_model": "hata"})
    with pytest.raises(ConfigError, match="clutter_max_db"):
        cfg(propagation={"clutter_min_db": 10, "clutter_max_db": 5})
    assert cfg(propagation={"path_loss_model": "free_space"}).propagation.path_loss_model == \
        "free_space"


def test_networks_validated_once_still_refuse_a_value_that_only_compares_equal():
    """Receivers and propagation from JSON are validated once per distinct network; a
    value equal to an accepted one in Python (true == 1) is checked on its own."""
    receivers = [{**r.to_dict(), "lat": 45.0 + i} for i, r in enumerate(default_receivers())]
    propagation = {"tx_height_m": 1}
    for _ in range(2):  # the second parse comes from what the first validated
        config = cfg(receivers=receivers, propagation=propagation)
        assert [r.lat for r in config.receivers] == [45.0 + i for i in range(7)]
        assert config.propagation.tx_height_m == 1.0
    with pytest.raises(ConfigError, match=r"receivers\['Aquila di Giaveno'\]\.lat"):
        cfg(receivers=[{**receivers[0], "lat": True}, *receivers[1:]])
    with pytest.raises(ConfigError, match=r"propagation\.tx_height_m"):
        cfg(propagation={"tx_height_m": True})
    # The same network as objects, or mixed, is taken as given.
    objects = cfg(receivers=receivers).receivers
    assert cfg(receivers=[objects[0], *receivers[1:]]).receivers == objects


def test_stored_json_with_nan_or_without_seed_is_refused():
    data = cfg().to_dict()
    with pytest.raises(ConfigError, match="seed"):
        DatasetConfig.from_json(json.dumps({**data, "seed": None}))
    with pytest.raises(ConfigError, match="valid JSON"):
        DatasetConfig.from_json(json.dumps(data).replace("145.0", "NaN"))


def test_receivers_load_from_json_and_csv(tmp_path):
    as_json = tmp_path / "net.json"
    as_json.write_text(json.dumps([{"name": "A", "lat": 45, "lon": 7, "alt_m": 100},
                                   {"name": "B", "lat": 45.5, "lon": 7.5, "alt_m": 200,
                                    "noise_figure_db": 8},
                                   {"name": "C", "lat": 44.8, "lon": 8, "alt_m": 50}]))
    as_csv = tmp_path / "net.csv"
    as_csv.write_text("name,lat,lon,alt_m,noise_figure_db\nA,45,7,100,\nB,45.5,7.5,200,8\n"
                      "C,44.8,8,50,\n")
    assert load_receivers(as_json) == load_receivers(as_csv)
    assert load_receivers(as_csv)[1] == Receiver("B", 45.5, 7.5, 200.0, 8.0, 0.0)
    with pytest.raises(ConfigError, match="header"):
        parse_receivers_csv("who,where\nA,B\n")
    with pytest.raises(ConfigError, match=r"receivers\[0\].lat = 'north'"):
        parse_receivers_csv("name,lat,lon,alt_m\nA,north,7,0\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_receivers(tmp_path / "missing.json")
