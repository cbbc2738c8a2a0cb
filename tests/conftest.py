import logging
import os
import subprocess

import pytest

from heimdall_studio.core.api import make_config


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """An empty workspace, also set as the default so nothing touches the user's."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    monkeypatch.setenv("HEIMDALL_STUDIO_WORKSPACE", str(ws))
    return ws


@pytest.fixture
def cli_run(workspace, capsys):
    """Runs the command line in-process on the workspace: (exit code, stdout, stderr)."""
    from heimdall_studio import cli

    def invoke(*args):
        code = cli.main([*args, "--workspace", str(workspace)])
        out, err = capsys.readouterr()
        return code, out, err
    return invoke


@pytest.fixture
def small_config():
    """Default physics with small chunks, so a few hundred samples span several chunks."""
    return make_config("small", seed=2024, chunk_size=64)


@pytest.fixture(autouse=True)
def _logs_in_tmp(tmp_path_factory, monkeypatch):
    """The log file goes to a temporary folder, never the user's log folder. The
    handlers a test's `configure_logging` added go with the test: its console handler
    writes to the standard error pytest captured for that test, closed after it."""
    monkeypatch.setenv("HEIMDALL_STUDIO_LOG_DIR", str(tmp_path_factory.getbasetemp() / "logs"))
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_heimdall", False):
            root.removeHandler(handler)
            handler.close()


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Listing indexes go to a temporary folder, never the user's cache folder. The
    terrain link grids, kept by content (`sampling.link_cache`), are shared by the whole
    session, as they are by a user's datasets: most tests draw over the same built-in
    terrain and receivers. Tests of the cache itself give it a folder of their own."""
    cache = tmp_path_factory.mktemp("cache")
    shared = tmp_path_factory.getbasetemp() / "terrain-links"
    shared.mkdir(exist_ok=True)
    (cache / "terrain-links").symlink_to(shared, target_is_directory=True)
    monkeypatch.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(cache))


@pytest.fixture(autouse=True)
def _user_folders_in_tmp(tmp_path_factory, monkeypatch):
    """The default workspace and whatever finds the user's folders through XDG (Qt's
    settings and caches among them) get temporary ones, here and in the processes that
    tests start."""
    base = tmp_path_factory.getbasetemp() / "user"
    monkeypatch.setenv("HEIMDALL_STUDIO_WORKSPACE", str(base / "workspace"))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(base / name.lower()))


@pytest.fixture(scope="module")
def module_folder(tmp_path_factory):
    """A folder for datasets a test module makes once, with the user folders the
    per-test fixtures above set pointing into temporary ones while they are made."""
    folder = tmp_path_factory.mktemp("module")
    cache = folder / "cache"
    cache.mkdir()
    shared = tmp_path_factory.getbasetemp() / "terrain-links"
    shared.mkdir(exist_ok=True)
    (cache / "terrain-links").symlink_to(shared, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEIMDALL_STUDIO_CACHE_DIR", str(cache))
        mp.setenv("HEIMDALL_STUDIO_LOG_DIR", str(tmp_path_factory.getbasetemp() / "logs"))
        mp.setenv("HEIMDALL_STUDIO_WORKSPACE", str(folder))
        yield folder


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts small tmpfs file systems of our own; only root may mount (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
    mounted = []

    def mount(name, size="16m"):
        path = tmp_path / name
        path.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)
