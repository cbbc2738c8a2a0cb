"""Property-based bad input: the validator and the command line only ever answer with a
clear message (exit 2) or a valid dataset; never a traceback, never a stray file."""

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heimdall_studio import cli
from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.config.names import NAME_PATTERN
from heimdall_studio.core.errors import ConfigError

KEYS = ["name", "seed", "dataset_type", "frequency_mhz", "tx_power_dbm", "min_snr_db",
        "min_receivers", "max_gdop", "inside_ratio", "margin_deg", "bandwidth_hz",
        "chunk_size", "receivers", "propagation"]

weird_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 3, 145.0, 1e308, -1e308, 5e-324, math.nan, math.inf]))
weird_values = st.one_of(
    weird_numbers, st.text(max_size=20), st.none(), st.booleans(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2))
path_like_names = st.one_of(
    st.sampled_from(["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "x" * 101, "x" * 100,
                     "ok-name", "nul\0byte", "tab\tname", "città", "名前", " ", "-rf"]),
    st.text(max_size=120))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*KEYS, "frequency", "evil", "__class__"]),
                       weird_values, max_size=6),
       path_like_names)
def test_validator_accepts_only_valid_configs(data, name):
    data = {**data, "name": name}
    try:
        config = DatasetConfig.from_dict(data)
    except ConfigError as exc:
        message = str(exc)
        assert exc.field and " = " in message and "allowed" in message
        return
    # whatever got through is within every documented range
    assert NAME_PATTERN.match(config.name) and config.name not in (".", "..")
    assert config.name == config.name.strip()
    assert 1 <= config.frequency_mhz <= 6000 and math.isfinite(config.frequency_mhz)
    assert -30 <= config.tx_power_dbm <= 70 and -20 <= config.min_snr_db <= 60
    assert 3 <= config.min_receivers <= len(config.receivers)
    # max_gdop: a number above 1, or inf for no limit (documented: params.py)
    assert 1 < config.max_gdop <= math.inf and 0 <= config.inside_ratio <= 1
    assert 0 <= config.margin_deg <= 5 and config.bandwidth_hz > 0
    assert 0 <= config.seed < 2**63
    assert DatasetConfig.from_json(config.to_json()) == config


number_text = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0", "3", "145", "6001", "0x10",
                     "1_000", "", " 5", "five", "1e-400", "-1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str))
FLAGS = [*cli.GENERATION_FLAGS, "--samples"]  # every flag made from the parameter table


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path_like_names.filter(lambda n: "\0" not in n),
       st.lists(st.tuples(st.sampled_from(FLAGS), number_text), max_size=4))
def test_command_line_answers_bad_input_with_exit_2(capsys, name, flags):
    argv = ["create", name]
    for flag, value in flags:
        argv.append(f"{flag}={value}")
    if not any(f == "--samples" for f, _ in flags):
        argv.append("--samples=3")
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        try:
            code = cli.main([*argv, "--workspace", str(workspace)])
        except SystemExit as exc:  # argparse: unparsable values
            code = exc.code
        _out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert code in (0, 2), err
        files = sorted(p.name for p in workspace.glob("*")) if workspace.exists() else []
        if code == 2:
            assert [f for f in files if not f.startswith(".")] == []
            assert "error" in err
        else:
            assert sorted(files) == sorted([f".{name}.h5.lock", f"{name}.h5"])
        # nothing escaped the workspace
        assert sorted(p.name for p in Path(tmp).iterdir()) in ([], ["ws"])


def test_a_long_value_keeps_its_start_and_its_end():
    path = "/home/someone/" + "deep/" * 30 + "antennas/yagi-5el.msi"
    message = str(ConfigError("receivers['Torino'].antenna", path, "an MSI file"))
    shown = message.split(" = ", 1)[1].split(" is not valid")[0]
    assert len(shown) == 80 and "..." in shown
    assert shown.startswith("'/home/someone/") and shown.endswith("antennas/yagi-5el.msi'")
