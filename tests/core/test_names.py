"""Names resolve one way: a bare name is always the workspace's dataset of that name, a
path needs a slash; names that would surprise are refused at create, saying what to type."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heimdall_studio.core import api
from heimdall_studio.core.config.names import validate_name, validate_new_name
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.core.dataset.writer import open_for_create
from heimdall_studio.core.errors import ConfigError, DatasetNotFoundError

CLI = [sys.executable, "-m", "heimdall_studio"]


def run_cli(*args, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("name, problem, instead", [
    ("a.h5", "ends in .h5", "'a'"),
    ("Survey 2.H5", "ends in .h5", "'Survey 2'"),
    ("a.h5.h5", "ends in .h5", "'a'"),
    (".hidden", "starts with '.'", "'hidden'"),
    ("..a.h5", "ends in .h5", "'a'"),
    ("-rf", "starts with '-'", "'rf'"),
    ("--samples", "starts with '-'", "'samples'"),
])
def test_surprising_names_are_refused_with_what_to_type(name, problem, instead):
    with pytest.raises(ConfigError) as info:
        validate_new_name(name)
    message = str(info.value)
    assert info.value.field == "name" and message.startswith(f"name = {name!r} {problem}")
    assert f"type {instead} instead" in message
    suggestion = instead.strip("'")
    assert validate_new_name(suggestion) == suggestion  # what it says to type is allowed


def test_a_surprising_name_with_nothing_left_says_no_name():
    for name in (".h5", "-", ".-."):
        with pytest.raises(ConfigError, match=r"^name = ") as info:
            validate_new_name(name)
        assert "type" not in str(info.value)


def test_ordinary_names_are_allowed():
    for name in ("uhf-430", "Run 2.b_x", "a.h5x", "h5", "x.h5 data", "a-", "a."):
        assert validate_new_name(name) == name


def test_existing_datasets_keep_their_names(workspace):
    # Made before the rule (written here directly, as an older release would have),
    # such datasets stay readable and expandable, by their bare names.
    for name in ("old.h5", ".hidden", "-dash"):
        assert validate_name(name) == name
        opened = open_for_create(api.dataset_path(name, workspace), api.make_config(name))
        opened.close()
    assert read_header(workspace / "old.h5.h5").name == "old.h5"
    api.expand_dataset("old.h5", 10, workspace)
    assert api.dataset_header("old.h5", workspace).num_samples == 10
    assert api.dataset_header("-dash", workspace).num_samples == 0


def test_create_refuses_surprising_names_and_writes_nothing(workspace, tmp_path):
    for name in ("a.h5", ".hidden"):
        with pytest.raises(ConfigError, match="instead"):
            api.create_dataset(name, 10, workspace)
        result = run_cli("create", name, "--samples", "10")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "type 'a' instead" in line or "type 'hidden' instead" in line
    result = run_cli("create", "--samples", "10", "--", "-rf")
    assert result.returncode == 2 and "type 'rf' instead" in result.stderr
    assert list(workspace.iterdir()) == []
    with pytest.raises(ConfigError):  # checked before any folder is made
        api.create_dataset("a.h5", 10, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_a_bare_name_never_means_a_file_in_the_current_folder(workspace, tmp_path):
    api.create_dataset("a", 100, workspace, seed=1)
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(workspace / "a.h5", here / "a.h5")
    before = sha(here / "a.h5")

    result = run_cli("expand", "a.h5", "--samples", "10", cwd=here)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"no dataset 'a.h5' in {workspace}" in line
    assert "type 'a'" in line and "type ./a.h5" in line
    assert sha(here / "a.h5") == before
    assert read_header(workspace / "a.h5").num_samples == 100

    # the bare name is the workspace's dataset, whatever lies in the current folder
    result = run_cli("expand", "a", "--samples", "10", cwd=here)
    assert result.returncode == 0, result.stderr
    assert read_header(workspace / "a.h5").num_samples == 110
    assert sha(here / "a.h5") == before
    # a path names the file
    result = run_cli("expand", "./a.h5", "--samples", "5", cwd=here)
    assert result.returncode == 0, result.stderr
    assert read_header(here / "a.h5").num_samples == 105
    result = run_cli("info", "--json", "here/a.h5", cwd=tmp_path)
    assert result.returncode == 0 and '"num_samples": 105' in result.stdout


def test_resolve_dataset(workspace, tmp_path):
    api.create_dataset("a", 10, workspace, seed=1)
    assert api.resolve_dataset("a") == workspace / "a.h5"
    assert api.resolve_dataset("a", workspace) == workspace / "a.h5"
    # a Path is a path even without a slash in its text; text needs one
    assert api.resolve_dataset(Path("a.h5")) == Path("a.h5")
    assert api.resolve_dataset("./a.h5") == Path("a.h5")
    assert api.resolve_dataset("sub/x.h5") == Path("sub/x.h5")
    assert api.resolve_dataset(str(workspace / "a.h5")) == workspace / "a.h5"
    with pytest.raises(DatasetNotFoundError, match=r"no dataset 'a\.h5'.*type 'a'"):
        api.resolve_dataset("a.h5")
    with pytest.raises(DatasetNotFoundError, match="no dataset 'ghost'"):
        api.resolve_dataset("ghost")
    with pytest.raises(DatasetNotFoundError, match="that folder does not exist"):
        api.resolve_dataset("a", tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"^name = "):
        api.resolve_dataset("tab\tname")
