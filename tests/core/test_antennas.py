"""Receiving antennas: each model's gain table against its closed form, MSI Planet files
read tolerantly and refused clearly, and the configuration forms round-tripping."""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest

from heimdall_studio.core.config.antennas import (
    ANTENNA_TYPES,
    DIPOLE_GAIN_DBI,
    YAGI_BEAMWIDTH_DEG,
    YAGI_FRONT_TO_BACK_DB,
    YAGI_GAIN_DBI,
    Antenna,
    gain_table,
    parse_msi,
    read_msi,
)
from heimdall_studio.core.errors import ConfigError

WHERE = "receivers['Torino'].antenna"


def col(e: int) -> int:
    return e + 90


# A cardioid in azimuth; in elevation a cut that is 3 dB down straight below (vertical
# angle 90), 7 dB straight above (270) and 10 dB at the back horizon. H(0) = V(0) = 0.
def cardioid(a: float) -> float:
    return 10 * (1 - math.cos(math.radians(a)))


def vcut(t: float) -> float:
    r = math.radians(t)
    return (1 - math.cos(r)) * (5 - 2 * math.sin(r))


def msi_text(gain: str = "GAIN 11.5 dBi", h=cardioid, v=vcut, eol: str = "\n",
             sep: str = " ", angle_fmt: str = "{}", extra: str = "") -> str:
    lines = ["NAME Test Cardioid", "MAKE Heimdall", "FREQUENCY 145", gain, "TILT 0", extra,
             "HORIZONTAL 360"]
    lines += [f"{angle_fmt.format(a)}{sep}{h(a):.4f}" for a in range(360)]
    lines.append("VERTICAL 360")
    lines += [f"{angle_fmt.format(a)}{sep}{v(a):.4f}" for a in range(360)]
    return eol.join(lines) + eol


def cardioid_antenna() -> Antenna:
    return parse_msi(msi_text(), WHERE, name="cardioid.msi")


# ---------------------------------------------------------------- models against closed forms

def test_omni_is_flat_at_its_gain():
    assert np.all(gain_table(Antenna()) == 0.0)
    table = gain_table(Antenna("omni", gain_dbi=3.5))
    assert table.shape == (361, 181) and table.dtype == np.float32
    assert np.all(table == np.float32(3.5))


@pytest.mark.parametrize("e", [-89, -60, -30, -10, -1, 1, 5, 20, 45, 75, 89])
def test_dipole_matches_the_half_wave_closed_form(e):
    table = gain_table(Antenna("dipole"))
    r = math.radians(e)
    expected = DIPOLE_GAIN_DBI + 20 * math.log10(
        abs(math.cos(math.pi / 2 * math.sin(r)) / math.cos(r)))
    expected = max(expected, DIPOLE_GAIN_DBI - 40)
    assert table[0, col(e)] == pytest.approx(expected, abs=1e-4)
    assert np.all(table[:, col(e)] == table[0, col(e)])  # omni in azimuth


def test_dipole_peaks_at_the_horizon_and_is_floored_at_its_ends():
    table = gain_table(Antenna("dipole", gain_dbi=5.0))
    assert table[0, col(0)] == np.float32(5.0)
    assert table.max() == np.float32(5.0)
    assert table[0, col(90)] == table[0, col(-90)] == np.float32(5.0 - 40)
    assert gain_table(Antenna("dipole"))[123, col(0)] == np.float32(2.15)


def test_yagi_back_is_exactly_the_front_to_back_ratio():
    for gain, fb in [(YAGI_GAIN_DBI, YAGI_FRONT_TO_BACK_DB), (12.3, 17.1), (-2.0, 0.5)]:
        table = gain_table(Antenna("yagi", gain_dbi=gain, front_to_back_db=fb))
        assert table[180, col(0)] == np.float32(gain - fb)
        assert table[0, col(0)] == np.float32(gain)
        assert table.min() == np.float32(gain - fb)


@pytest.mark.parametrize("beamwidth", [20.0, YAGI_BEAMWIDTH_DEG, 70.0, 120.0])
def test_yagi_is_3_db_down_at_half_its_beamwidth(beamwidth):
    table = gain_table(Antenna("yagi", azimuth_deg=200, beamwidth_deg=beamwidth))
    half = int(beamwidth / 2)
    for a, e in [(half, 0), (360 - half, 0), (0, half), (0, -half)]:
        assert table[a, col(e)] == pytest.approx(YAGI_GAIN_DBI - 3.0, abs=1e-5)
    # inside the beam less than 3 dB down, outside more
    assert table[half - 1, col(0)] > YAGI_GAIN_DBI - 3 > table[half + 1, col(0)]


def test_yagi_main_lobe_follows_the_cos_power_law():
    # written in half-angle form: relative power |cos(x/2)|^(4n), 3 dB down at x = 30
    table = gain_table(Antenna("yagi", gain_dbi=10.0, beamwidth_deg=60.0, front_to_back_db=60))
    n = -3 / (40 * math.log10(math.cos(math.radians(15))))
    for a, e in [(10, 0), (45, 20), (100, -30), (300, 60), (181, 0)]:
        power = (abs(math.cos(math.radians(a / 2))) * math.cos(math.radians(e / 2))) ** (4 * n)
        assert table[a, col(e)] == pytest.approx(10.0 + max(-60, 10 * math.log10(power)),
                                                 abs=1e-4)


def test_yagi_is_symmetric_and_wraps():
    table = gain_table(Antenna("yagi", azimuth_deg=45, gain_dbi=8, beamwidth_deg=33))
    assert np.array_equal(table, table[::-1, :])  # row a equals row 360 - a
    assert np.array_equal(table, table[:, ::-1])  # elevation e equals -e
    assert table[10, col(0)] < table[5, col(0)] < table[0, col(0)]
    assert np.array_equal(table[360], table[0])


# ---------------------------------------------------------------- MSI patterns

def test_pattern_at_the_horizon_is_gain_minus_the_horizontal_cut():
    antenna = cardioid_antenna()
    table = gain_table(antenna)
    assert antenna.gain_dbi == 11.5 and antenna.azimuth_deg == 0.0
    assert antenna.name == "Test Cardioid"
    for a in range(361):
        assert table[a, col(0)] == pytest.approx(11.5 - cardioid(a), abs=1e-4)
    # between the 1-degree samples the row interpolates linearly (the cardioid bends
    # little over a degree, so the closed form is within 1e-3 dB)
    for a in [0.5, 12.25, 89.9, 180.5, 271.75, 359.5]:
        interpolated = np.interp(a, np.arange(361), table[:, col(0)])
        assert interpolated == pytest.approx(11.5 - cardioid(a), abs=2e-3)


def test_pattern_at_the_boresight_is_gain_minus_the_front_vertical_cut():
    table = gain_table(cardioid_antenna())
    for e in range(-90, 91):
        # vertical angle 0 is the front horizon, growing downwards: e = -10 is 10, +10 is 350
        t = (-e) % 360
        assert table[0, col(e)] == pytest.approx(11.5 - vcut(t), abs=1e-4)
    assert table[0, col(-90)] == pytest.approx(11.5 - 3) and table[0, col(90)] == 4.5


def test_pattern_behind_uses_the_back_half_of_the_vertical_cut():
    table = gain_table(cardioid_antenna())
    for a, e in [(180, 30), (150, -45), (200, 80), (91, 10)]:
        expected = 11.5 - (cardioid(a) + vcut(180 + e) - vcut(180))
        assert table[a, col(e)] == pytest.approx(expected, abs=3e-4)  # 4-decimal file
    for a, e in [(90, 10), (300, -20)]:  # within 90 degrees: the front half
        expected = 11.5 - (cardioid(a) + vcut((-e) % 360))
        assert table[a, col(e)] == pytest.approx(expected, abs=3e-4)


def test_pattern_never_exceeds_its_peak_gain():
    # inconsistent cuts (V(0) = 6 dB, H(0) = 0): the table is capped at GAIN
    antenna = parse_msi(msi_text(v=lambda t: 6.0 if t == 0 else 0.0))
    assert gain_table(antenna).max() == pytest.approx(11.5)


@pytest.mark.parametrize(("line", "gain"), [
    ("GAIN 10 dBd", 12.15), ("GAIN 10", 12.15), ("gain 10.0 DBD", 12.15),
    ("GAIN 10 dBi", 10.0), ("Gain 10dbi", 10.0), ("GAIN -3.5 dBi", -3.5),
])
def test_msi_gain_in_dbd_adds_2_15(line, gain):
    assert parse_msi(msi_text(gain=line)).gain_dbi == pytest.approx(gain)


def test_msi_is_read_tolerantly():
    reference = cardioid_antenna()
    variants = [
        msi_text(eol="\r\n"),
        msi_text(sep="\t"),
        msi_text(sep=","),
        msi_text(sep="  ,\t"),
        msi_text(angle_fmt="{}.00"),
        msi_text(extra="ELECTRICAL_TILT 2\nVENDOR_KEY something\n\n\nCOMMENT a, b, c"),
        msi_text().replace("HORIZONTAL 360", "horizontal 360").replace("VERTICAL", "Vertical"),
        msi_text().replace("HORIZONTAL 360", "HORIZONTAL"),
        "\n\n" + msi_text().replace("\n1 ", "\n\n1 "),
    ]
    for text in variants:
        antenna = parse_msi(text, WHERE, name="cardioid.msi")
        assert antenna == reference


def test_read_msi_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "ant-5.msi"
    path.write_bytes(b"\xef\xbb\xbf" + msi_text().replace("NAME Test Cardioid\n", "")
                     .encode())
    antenna = read_msi(path, WHERE)
    assert antenna.name == "ant-5.msi"
    assert antenna.horizontal == cardioid_antenna().horizontal
    latin = tmp_path / "latin.pln"
    latin.write_bytes(msi_text().replace("Test Cardioid", "Antenne \xe9l\xe9gante")
                      .encode("latin-1"))
    assert read_msi(latin).name == "Antenne \u00e9l\u00e9gante"


def test_pattern_file_is_found_relative_to_the_base_folder(tmp_path):
    (tmp_path / "ants").mkdir()
    (tmp_path / "ants" / "c.msi").write_text(msi_text(), encoding="utf-8")
    by_map = Antenna.from_value({"type": "pattern", "file": "ants/c.msi", "azimuth_deg": 30},
                                WHERE, base_dir=tmp_path)
    by_text = Antenna.from_value("pattern:ants/c.msi:30", WHERE, base_dir=tmp_path)
    absolute = Antenna.from_value(f"pattern:{tmp_path / 'ants' / 'c.msi'}:30", WHERE)
    assert by_map == by_text == absolute
    assert by_map.azimuth_deg == 30.0 and by_map.gain_dbi == 11.5
    assert by_map.horizontal == cardioid_antenna().horizontal
    assert Antenna.from_value("pattern:ants/c.msi", base_dir=tmp_path).azimuth_deg == 0.0
    assert by_map.text() == "pattern:Test Cardioid:30"
    assert "file" not in by_map.to_dict()  # the tables are stored, not the path


# ---------------------------------------------------------------- configuration forms

ROUND_TRIP = [
    Antenna(), Antenna("omni", gain_dbi=3.0), Antenna("dipole"),
    Antenna("dipole", gain_dbi=0.0), Antenna("yagi"), Antenna("yagi", azimuth_deg=120.5),
    Antenna("yagi", azimuth_deg=359.9, gain_dbi=12, front_to_back_db=25, beamwidth_deg=40),
    Antenna("pattern", azimuth_deg=30, gain_dbi=11.5, name="Test Cardioid",
            horizontal=tuple(cardioid(a) for a in range(360)),
            vertical=tuple(vcut(a) for a in range(360))),
]


@pytest.mark.parametrize("antenna", ROUND_TRIP, ids=lambda a: a.text())
def test_to_dict_round_trips(antenna):
    data = json.loads(json.dumps(antenna.to_dict()))
    assert Antenna.from_value(data, WHERE) == antenna
    assert Antenna.from_value(antenna) is antenna


def test_to_dict_leaves_defaults_out():
    assert Antenna().to_dict() == {"type": "omni"}
    assert Antenna("dipole").to_dict() == {"type": "dipole"}
    assert Antenna("yagi", azimuth_deg=120).to_dict() == {"type": "yagi", "azimuth_deg": 120.0}
    assert Antenna("yagi", beamwidth_deg=40).to_dict() == {"type": "yagi", "beamwidth_deg": 40.0}
    assert set(cardioid_antenna().to_dict()) == {
        "type", "name", "gain_dbi", "azimuth_deg", "horizontal", "vertical"}


def test_defaults_are_filled_and_floats_normalised():
    yagi = Antenna("yagi", azimuth_deg=90)
    assert (yagi.gain_dbi, yagi.front_to_back_db, yagi.beamwidth_deg) == (
        YAGI_GAIN_DBI, YAGI_FRONT_TO_BACK_DB, YAGI_BEAMWIDTH_DEG)
    assert isinstance(yagi.azimuth_deg, float)
    assert Antenna("dipole").gain_dbi == 2.15 and Antenna().gain_dbi == 0.0
    assert Antenna("dipole").front_to_back_db is None
    assert Antenna.from_value({"type": "yagi", "azimuth_deg": 120}) == Antenna("yagi", 120.0)


@pytest.mark.parametrize(("text", "expected"), [
    ("omni", Antenna()), ("dipole", Antenna("dipole")), (" Dipole ", Antenna("dipole")),
    ("yagi:120", Antenna("yagi", azimuth_deg=120)),
    ("yagi:120:12", Antenna("yagi", azimuth_deg=120, gain_dbi=12)),
    ("yagi:0.5:9", Antenna("yagi", azimuth_deg=0.5)),
])
def test_text_forms_parse_and_print(text, expected):
    antenna = Antenna.from_value(text, WHERE)
    assert antenna == expected
    assert Antenna.from_value(antenna.text()) == antenna
    assert antenna.directional == (antenna.type in ("yagi", "pattern"))


def test_text_forms_print_short():
    assert Antenna("yagi", azimuth_deg=120).text() == "yagi:120"
    assert Antenna("yagi", azimuth_deg=120, gain_dbi=12).text() == "yagi:120:12"
    assert Antenna("dipole").text() == "dipole" and Antenna().text() == "omni"
    assert cardioid_antenna().directional and not Antenna("dipole").directional
    assert ANTENNA_TYPES == ("omni", "dipole", "yagi", "pattern")


# ---------------------------------------------------------------- refusals

def assert_names(info: pytest.ExceptionInfo[ConfigError], field: str, *says: str) -> None:
    """The error names `field` first and says each of `says`."""
    error = info.value
    assert error.field == field, str(error)
    assert str(error).startswith(f"{field} = "), str(error)
    for fragment in says:
        assert fragment in str(error), str(error)


def drop_rows(text: str, section: str, keep: int) -> str:
    head, _, tail = text.partition(f"{section} 360\n")
    rows = tail.split("\n")
    return head + f"{section} 360\n" + "\n".join(rows[:keep] + rows[360:])


BAD_MSI = [
    (msi_text().replace("HORIZONTAL 360", "COMMENT gone"), "table row outside"),
    (msi_text().split("VERTICAL 360")[0], "no VERTICAL table"),
    (drop_rows(msi_text(), "HORIZONTAL", 359), "359 HORIZONTAL rows"),
    (msi_text().replace("VERTICAL 360\n", "VERTICAL 360\n0 0\n"), "361 VERTICAL rows"),
    (msi_text().replace("HORIZONTAL 360", "HORIZONTAL 180"), "announces 180"),
    (msi_text().replace("\n5 ", "\n6 ", 1), "angle 6 at line 13, not 5"),
    (msi_text(angle_fmt="{}.5"), "angle 0.5 at line 8"),
    (msi_text().replace("\n7 ", "\n7 abc ", 1), "line 15"),
    (msi_text().replace("\n7 ", "\n7 1 ", 1), "line 15"),
    (re.sub(r"\n7 [\d.]+\n", "\n7 abc\n", msi_text(), count=1), "'7 abc' at line 15"),
    (re.sub(r"\n7 [\d.]+\n", "\n7\n", msi_text(), count=1), "'7' at line 15"),
    (msi_text(h=lambda a: -1.0 if a == 3 else 0.0), "attenuation -1 at line 11"),
    (msi_text(v=lambda a: math.nan if a == 3 else 0.0), "attenuation nan"),
    (msi_text(v=lambda a: math.inf if a == 3 else 0.0), "attenuation inf"),
    (msi_text(h=lambda a: 100.5 if a == 200 else 0.0), "attenuation 100.5 at line 208"),
    (msi_text(gain="GAIN 45 dBi"), "GAIN 45 dBi (45 dBi) at line 4"),
    (msi_text(gain="GAIN 38.5"), "40.65 dBi"),
    (msi_text(gain="GAIN -31 dBi"), "-31 dBi"),
    (msi_text(gain="GAIN ten dBd"), "GAIN 'ten dBd' at line 4"),
    (msi_text(gain="COMMENT no gain"), "no GAIN"),
    (msi_text() + "HORIZONTAL 360\n", "second HORIZONTAL"),
]


@pytest.mark.parametrize(("text", "says"), BAD_MSI)
def test_malformed_msi_is_refused(text, says):
    with pytest.raises(ConfigError) as info:
        parse_msi(text, WHERE, name="bad.msi")
    assert_names(info, WHERE, "'bad.msi'", says)


def test_read_msi_refuses_what_is_not_a_small_regular_file(tmp_path):
    big = tmp_path / "big.msi"
    with open(big, "wb") as f:
        f.truncate((1 << 20) + 1)  # sparse: nothing is written, nothing need be read
    with pytest.raises(ConfigError) as info:
        read_msi(big, WHERE)
    assert_names(info, WHERE, "big.msi", "over the limit")
    with pytest.raises(ConfigError) as info:
        read_msi(tmp_path, WHERE)
    assert_names(info, WHERE, "not a regular file")
    with pytest.raises(ConfigError) as info:
        read_msi(tmp_path / "missing.msi", WHERE)
    assert_names(info, WHERE, "missing.msi", "cannot be read")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.msi"
        os.mkfifo(fifo)
        with pytest.raises(ConfigError) as info:
            read_msi(fifo, WHERE)
        assert_names(info, WHERE, "not a regular file")


@pytest.mark.parametrize(("value", "field", "says"), [
    ({"type": "helical"}, f"{WHERE}.type", "omni, dipole, yagi, pattern"),
    ({"type": "yagi", "azimuth_deg": 360}, f"{WHERE}.azimuth_deg", "less than 360"),
    ({"type": "yagi", "azimuth_deg": -1}, f"{WHERE}.azimuth_deg", "0 to less than 360"),
    ({"type": "yagi", "azimuth_deg": "north"}, f"{WHERE}.azimuth_deg", "a number"),
    ({"type": "omni", "azimuth_deg": 30}, f"{WHERE}.azimuth_deg", "means nothing"),
    ({"type": "dipole", "azimuth_deg": 30}, f"{WHERE}.azimuth_deg", "boresight"),
    ({"type": "yagi", "gain_dbi": 41}, f"{WHERE}.gain_dbi", "-30 to 40 dBi"),
    ({"type": "yagi", "gain_dbi": math.nan}, f"{WHERE}.gain_dbi", "finite"),
    ({"type": "yagi", "front_to_back_db": 61}, f"{WHERE}.front_to_back_db", "0 to 60 dB"),
    ({"type": "yagi", "beamwidth_deg": 5}, f"{WHERE}.beamwidth_deg", "10 to 180"),
    ({"type": "dipole", "front_to_back_db": 20}, f"{WHERE}.front_to_back_db", "only for a yagi"),
    ({"type": "omni", "beamwidth_deg": 20}, f"{WHERE}.beamwidth_deg", "only for a yagi"),
    ({"type": "yagi", "name": "x"}, f"{WHERE}.name", "only for a pattern"),
    ({"type": "omni", "horizontal": [0.0] * 360}, f"{WHERE}.horizontal", "only for a pattern"),
    ({"type": "pattern", "name": "p", "gain_dbi": 3, "horizontal": [0.0] * 359,
      "vertical": [0.0] * 360}, f"{WHERE}.horizontal", "360 attenuations"),
    ({"type": "pattern", "name": "p", "gain_dbi": 3, "horizontal": [0.0] * 360,
      "vertical": [0.0] * 359 + [-2]}, f"{WHERE}.vertical[359]", "0 to 100 dB"),
    ({"type": "pattern", "name": "p", "horizontal": [0.0] * 360, "vertical": [0.0] * 360},
     f"{WHERE}.gain_dbi", "is missing"),
    ({"type": "pattern", "gain_dbi": 3, "horizontal": [0.0] * 360, "vertical": [0.0] * 360},
     f"{WHERE}.name", "non-empty text"),
    ({"type": "yagi", "tilt": 3}, f"{WHERE}.tilt", "not a known parameter"),
    ({"type": "yagi", "file": "x.msi"}, f"{WHERE}.file", 'only with type "pattern"'),
    ({"type": "pattern", "file": "x.msi", "horizontal": [0.0] * 360}, f"{WHERE}.horizontal",
     "not both"),
    ({"type": "pattern", "file": ""}, f"{WHERE}.file", "non-empty text"),
    ("helical", WHERE, '"yagi:AZIMUTH"'),
    ("yagi", WHERE, '"yagi:AZIMUTH:GAIN_DBI"'),
    ("yagi:east", WHERE, "not a number"),
    ("yagi:120:high", WHERE, "not a number"),
    ("yagi:1:2:3", WHERE, "pattern:FILE.msi"),
    ("yagi:400", f"{WHERE}.azimuth_deg", "less than 360"),
    ("yagi:nan", f"{WHERE}.azimuth_deg", "finite"),
    ("yagi:120:99", f"{WHERE}.gain_dbi", "-30 to 40"),
    ("omni:3", WHERE, '"omni"'),
    ("pattern:", WHERE, "pattern:FILE.msi"),
    ("pattern::30", WHERE, "names no file"),
    ("pattern:nowhere.msi:30", WHERE, "cannot be read"),
    (42, WHERE, "or an object of named fields"),
    (None, WHERE, "or an object of named fields"),
])
def test_bad_antennas_are_refused_naming_the_field(value, field, says, tmp_path):
    with pytest.raises(ConfigError) as info:
        Antenna.from_value(value, WHERE, base_dir=tmp_path)
    assert_names(info, field, says)


def test_direct_construction_names_the_antenna_field():
    with pytest.raises(ConfigError) as info:
        Antenna("yagi", beamwidth_deg=200)
    assert_names(info, "antenna.beamwidth_deg", "10 to 180")
    with pytest.raises(ConfigError) as info:
        Antenna("isotropic")
    assert_names(info, "antenna.type", "omni, dipole, yagi, pattern")


def test_a_pattern_file_error_names_where_and_the_file(tmp_path):
    (tmp_path / "bad.msi").write_text(msi_text(gain="GAIN 50 dBi"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Antenna.from_value("pattern:bad.msi:10", WHERE, base_dir=tmp_path)
    assert_names(info, WHERE, "bad.msi", "GAIN 50 dBi")
