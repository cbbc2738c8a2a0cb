"""The parameter tables drive validation, the command line, the file's columns and README;
nothing can drift from them."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from heimdall_studio import cli
from heimdall_studio.core.config.model import (
    DatasetConfig,
    MeasurementModel,
    PropagationModel,
    TerrainModel,
)
from heimdall_studio.core.config.params import (
    ALL_PARAMS,
    CONFIG_PARAMS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    RECEIVER_PARAMS,
    RUN_PARAMS,
    TERRAIN_PARAMS,
    Param,
)
from heimdall_studio.core.config.receivers import (
    RECEIVER_KEYS,
    Receiver,
    default_receivers,
    parse_receivers_csv,
)
from heimdall_studio.core.config.units import format_size
from heimdall_studio.core.dataset.layout import (
    HISTORY_DTYPE,
    RECEIVER_DTYPE,
    HistoryRow,
    compression_filters,
    receiver_records,
)
from heimdall_studio.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"float": "float", "int": "int", "text": "str", "choice": "str",
         "range": "float | tuple[float, float]", "mix": "tuple[tuple[str, float], ...]",
         "antenna": "Antenna"}
GROUPS = {"receivers", "propagation", "measurement"}  # config fields that are groups


def _load_script():
    spec = importlib.util.spec_from_file_location("parameter_table",
                                                  ROOT / "scripts" / "parameter_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the classes and the tables --------------------------------------------------------


@pytest.mark.parametrize("cls, params, groups", [
    (DatasetConfig, CONFIG_PARAMS, GROUPS),
    (PropagationModel, PROPAGATION_PARAMS, {"terrain"}),
    # the grid's identity is filled in at creation, not set by a user
    (TerrainModel, TERRAIN_PARAMS, {"tiles_dir", "sha256", "step_deg", "bounds"}),
    (MeasurementModel, MEASUREMENT_PARAMS, set()),
    (Receiver, RECEIVER_PARAMS, set())])
def test_dataclass_fields_types_and_defaults_are_the_table(cls, params, groups):
    fields = [f for f in dataclasses.fields(cls) if f.name not in groups]
    assert [f.name for f in fields] == [p.key for p in params]  # also the checking order
    for f, p in zip(fields, params, strict=True):
        drawn = p.default is None and p.default_note.startswith("drawn")
        assert f.type == KINDS[p.kind] + (" | None" if drawn else ""), p.key
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            assert default == p.default and type(default) is type(p.default), p.key
        elif f.default is dataclasses.MISSING:
            assert p.default is None, p.key
        else:
            assert f.default == p.default and type(f.default) is type(p.default), p.key


def test_defaults_of_a_new_config_are_the_table_defaults():
    config = DatasetConfig(name="x", seed=0)
    for p in CONFIG_PARAMS:
        if p.default is not None:
            assert getattr(config, p.key) == p.default, p.key
    for p in PROPAGATION_PARAMS:
        assert getattr(config.propagation, p.key) == p.default, p.key
    for p in TERRAIN_PARAMS:
        assert getattr(config.propagation.terrain, p.key) == p.default, p.key
    for p in MEASUREMENT_PARAMS:
        assert getattr(config.measurement, p.key) == p.default, p.key


def test_paths_are_unique_and_every_param_is_described():
    assert len({p.path for p in ALL_PARAMS}) == len(ALL_PARAMS)
    for p in ALL_PARAMS:
        assert p.help and p.label and p.allowed, p.path
        assert p.default is not None or p.default_note, p.path


def test_receiver_columns_and_dtype_are_the_receiver_table():
    assert tuple(p.key for p in RECEIVER_PARAMS) == RECEIVER_KEYS
    # the columns of 0.1 and 0.2, the mast height of the terrain model after them, then
    # the antenna, timing and errors of generator version 4
    text = h5py.string_dtype("utf-8")
    as_written_before = np.dtype([
        ("name", text), ("lat", "f8"), ("lon", "f8"), ("alt_m", "f8"),
        ("noise_figure_db", "f8"), ("antenna_gain_dbi", "f8"), ("antenna_height_m", "f8"),
        ("antenna", text), ("timing", text), ("calibration_db", "f8"),
        ("oscillator_ppm", "f8"), ("noise_floor_sigma_db", "f8")])
    assert as_written_before == RECEIVER_DTYPE
    records = receiver_records(default_receivers())
    assert records.dtype == RECEIVER_DTYPE and records[1]["name"] == "Montanaro"
    with pytest.raises(ConfigError, match=r"name,lat,lon,alt_m\[,noise_figure_db,"
                                          r"antenna_gain_dbi,antenna_height_m,antenna,"):
        parse_receivers_csv("who,where\nA,B\n")


# -- validation is the table's -----------------------------------------------------------


def _attempt(param: Param, value):
    """A config with `param` at `value`, everything else valid; ConfigError if refused."""
    config: dict = {"name": "test", "seed": 1}
    if param.scope == "config":
        config[param.key] = value
        if param.key == "margin_deg":
            config["inside_ratio"] = 1.0  # a margin of 0 is fine without outside samples
    elif param.scope == "propagation":
        other = {"clutter_min_db": ("clutter_max_db", 100.0),
                 "clutter_max_db": ("clutter_min_db", 0.0)}.get(param.key)
        config["propagation"] = {param.key: value, **dict([other] if other else [])}
    elif param.scope == "measurement":
        config["measurement"] = {param.key: value}
    else:
        receivers = [r.to_dict() for r in default_receivers()]
        receivers[0][param.key] = value
        config["receivers"] = receivers
    return DatasetConfig.from_dict(config)


def _where(param: Param) -> str:
    if param.scope == "receiver":
        return f"receivers[{default_receivers()[0].name!r}].{param.key}"
    return param.path


def _allowed(param: Param, hi: float) -> str:
    # min_receivers' upper bound is the network's size (7 by default)
    return f"a whole number from 3 to {hi:.0f}" if param.valid and param.kind == "int" \
        else param.allowed


NUMBERS = [p for p in CONFIG_PARAMS + PROPAGATION_PARAMS + MEASUREMENT_PARAMS + RECEIVER_PARAMS
           if p.kind in ("float", "int")]


@pytest.mark.parametrize("param", NUMBERS, ids=lambda p: p.path)
def test_bounds_are_accepted_and_just_outside_refused_by_name(param):
    hi = len(default_receivers()) if param.key == "min_receivers" else param.hi
    step = 1 if param.kind == "int" else max(abs(param.lo), abs(hi) if math.isfinite(hi)
                                             else 1.0, 1.0) * 1e-9
    inside = []
    outside = [param.lo - step, param.lo if param.lo_open else None]
    inside.append(param.lo + step if param.lo_open else param.lo)
    if math.isfinite(hi):
        inside.append(hi - step if param.hi_open else hi)
        outside += [hi + step, hi if param.hi_open else None]
    elif not param.allow_inf:
        outside += [math.inf]
    if param.kind == "float":
        outside += [math.nan, "1", True]
    for value in inside:
        config = _attempt(param, value)
        holder = {"config": config, "propagation": config.propagation,
                  "measurement": config.measurement,
                  "receiver": config.receivers[0]}[param.scope]
        assert getattr(holder, param.key) == value
        assert type(getattr(holder, param.key)).__name__ == KINDS[param.kind]
    for value in (v for v in outside if v is not None):
        with pytest.raises(ConfigError) as info:
            _attempt(param, value)
        assert info.value.field == _where(param), value
        assert str(info.value).startswith(f"{_where(param)} = ")
        assert _allowed(param, hi) in str(info.value), value


@pytest.mark.parametrize("param", [p for p in ALL_PARAMS if p.kind == "choice"],
                         ids=lambda p: p.path)
def test_choices_are_the_only_values(param):
    for choice in param.choices:
        assert param.check(choice) == choice
    for bad in ("bogus", "", None, 1):
        with pytest.raises(ConfigError) as info:
            param.check(bad)
        assert str(info.value).startswith(f"{param.path} = ")
        assert " or ".join(param.choices) in str(info.value)
    if param.key == "compression":  # the file layout checks with the same parameter
        with pytest.raises(ConfigError, match=r"^compression = 'gzip9'"):
            compression_filters("gzip9")


def test_text_params():
    name = next(p for p in RECEIVER_PARAMS if p.key == "name")
    assert _attempt(name, "x" * 64).receivers[0].name == "x" * 64
    for bad in ("", " ", "x" * 65, "tab\there", 5):
        with pytest.raises(ConfigError, match=r"^receivers"):
            _attempt(name, bad)
    dataset_name = CONFIG_PARAMS[0]
    assert dataset_name.check("ok-name") == "ok-name"
    with pytest.raises(ConfigError, match=r"^name = '\.\./x'"):
        dataset_name.check("../x")


def test_run_params_are_not_part_of_the_config():
    keys = {f.name for f in dataclasses.fields(DatasetConfig)}
    assert all(p.scope == "run" and p.key not in keys for p in RUN_PARAMS)
    samples = RUN_PARAMS[0]
    assert samples.check(1) == 1 and samples.cli_flag == "--samples"
    with pytest.raises(ConfigError, match=r"^num_samples = 0"):
        samples.check(0)


# -- the command line ----------------------------------------------------------------------


def _create_help(monkeypatch, capsys, command="create") -> list[str]:
    """The help's options, one line each (a long option has its help on the next line)."""
    monkeypatch.setenv("COLUMNS", "500")  # no wrapping
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    options: list[str] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("   ") and options:
            options[-1] += " " + line.strip()
        else:
            options.append(line)
    return options


def test_create_help_lists_every_config_param_with_unit_default_and_range(monkeypatch,
                                                                         capsys):
    lines = _create_help(monkeypatch, capsys)
    for p in CONFIG_PARAMS[1:] + RUN_PARAMS:
        [line] = [line for line in lines if line.strip().startswith(p.cli_flag + " ")]
        assert p.describe() in line, line
        assert p.unit in line and p.allowed in line
    assert set(cli.GENERATION_FLAGS) == {p.cli_flag for p in CONFIG_PARAMS[1:]}


def test_expand_takes_no_generation_flag(monkeypatch, capsys):
    text = "\n".join(_create_help(monkeypatch, capsys, "expand"))
    for p in CONFIG_PARAMS[1:]:
        assert p.cli_flag not in text
    assert "--samples" in text


def test_new_flags_reach_the_config(workspace, capsys):
    code = cli.main(["create", "flags", "--samples", "70", "--chunk-size", "64",
                     "--dataset-type", "feature_based", "--workspace", str(workspace)])
    assert code == 0, capsys.readouterr().err
    code = cli.main(["create", "bad", "--chunk-size", "63", "--workspace", str(workspace)])
    assert code == 2 and "chunk_size = 63" in capsys.readouterr().err


# -- history rows ---------------------------------------------------------------------------


def test_history_dtype_is_the_file_format():
    as_written_before = np.dtype([
        ("kind", h5py.string_dtype("utf-8", 8)), ("started_utc", h5py.string_dtype("utf-8", 32)),
        ("first_index", "i8"), ("count", "i8"), ("candidates", "i8"),
        ("rejected_too_few_receivers", "i8"), ("rejected_gdop", "i8"), ("duration_s", "f8"),
        ("app_version", h5py.string_dtype("utf-8", 16)), ("checksum", "u4")])
    assert as_written_before == HISTORY_DTYPE
    assert h5py.h5t.py_create(as_written_before).equal(h5py.h5t.py_create(HISTORY_DTYPE))
    assert HISTORY_DTYPE.descr == [
        ("kind", ("|S8", {"h5py_encoding": "utf-8"})),
        ("started_utc", ("|S32", {"h5py_encoding": "utf-8"})), ("first_index", "<i8"),
        ("count", "<i8"), ("candidates", "<i8"), ("rejected_too_few_receivers", "<i8"),
        ("rejected_gdop", "<i8"), ("duration_s", "<f8"),
        ("app_version", ("|S16", {"h5py_encoding": "utf-8"})), ("checksum", "<u4")]


ROW = HistoryRow("expand", "2024-05-01T10:00:00Z", 100, 50, 80, 20, 10, 0.25, "0.3.0", 77)


def test_history_row_round_trips_through_records_and_dicts():
    record = ROW.to_record()
    assert record.dtype == HISTORY_DTYPE
    assert HistoryRow.from_record(record[0]) == ROW
    assert HistoryRow.from_dict(ROW.to_dict()) == ROW
    assert list(ROW.to_dict()) == list(HISTORY_DTYPE.names)
    old = np.dtype([(n, HISTORY_DTYPE[n]) for n in HISTORY_DTYPE.names if n != "checksum"])
    legacy = HistoryRow.from_record(ROW.to_record(old)[0])
    assert legacy.checksum is None and dataclasses.replace(legacy, checksum=77) == ROW
    assert HistoryRow.from_dict({**ROW.to_dict(), "checksum": None}).checksum is None
    assert HistoryRow.from_dict({**ROW.to_dict(), "duration_s": 1}).duration_s == 1.0


@pytest.mark.parametrize("change", [{"count": 1.5}, {"kind": 3}, {"count": True},
                                    {"checksum": "x"}, {"started_utc": None}])
def test_history_dicts_of_another_type_are_refused(change):
    with pytest.raises(TypeError):
        HistoryRow.from_dict({**ROW.to_dict(), **change})
    data = ROW.to_dict()
    del data["count"]
    with pytest.raises(TypeError):
        HistoryRow.from_dict(data)


# -- sizes and README ------------------------------------------------------------------------


@pytest.mark.parametrize("size, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                                        (1536, "1.5 KiB"), (1024**2, "1.0 MiB"),
                                        (5 * 1024**3, "5.0 GiB"), (3 * 1024**4, "3.0 TiB"),
                                        (2048 * 1024**4, "2048.0 TiB")])
def test_one_size_format_in_binary_units(size, text):
    assert format_size(size) == text


def test_readme_parameter_table_is_the_generated_one():
    script = _load_script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.readme_table(readme) == script.markdown_table(), (
        "README's parameter table is out of date: run "
        "`python scripts/parameter_table.py --write`")
    for p in ALL_PARAMS:
        assert f"`{p.path}`" in script.markdown_table()
