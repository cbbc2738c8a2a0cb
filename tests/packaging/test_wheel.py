"""The wheel, installed alone in a fresh virtual environment, is the whole app.

Builds the wheel, installs it with its dependencies from the package index (pip's cache
makes that quick after the first time), and runs the command line and the main window
from the installed copy, far from the source tree: a runtime asset missing from the
package data, or code that reads `resources/` or the checkout, fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_LEFTOVERS = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                   ".pytest_cache", ".hypothesis", "*.h5")

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(180)]

# Run by the installed interpreter, offscreen.
GUI_CHECK = r"""
import json, sys
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import heimdall_studio
from heimdall_studio.core.config.receivers import default_receivers
from heimdall_studio.core.terrain.grid import builtin_grid
from heimdall_studio.gui import create_main_window
from heimdall_studio.gui.identity import apply_identity, icon_folder

workspace = Path(sys.argv[1])
app = QApplication([])
apply_identity(app)
window = create_main_window(workspace)
window.show()
# Run the event loop until the first listing is shown and the kernels are loaded.
poll = QTimer(interval=20)
poll.timeout.connect(lambda: window.listings and window.run_process_ready and app.quit())
poll.start()
QTimer.singleShot(120_000, app.quit)
app.exec()
receivers_json = resources.files("heimdall_studio.core.config").joinpath(
    "data", "default_receivers.json")
report = {
    "package": heimdall_studio.__file__,
    "prefix": sys.prefix,
    "sys_path": sys.path,
    "app_icon_null": app.windowIcon().isNull(),
    "window_icon_null": window.windowIcon().isNull(),
    "icon_sizes": [s.width() for s in window.windowIcon().availableSizes()],
    "icon_folder": str(icon_folder()),
    "icon_files": sorted(p.name for p in icon_folder().iterdir()),
    "receivers_json": str(receivers_json),
    "default_receivers": [r.name for r in default_receivers()],
    "elevation_grid": [builtin_grid().rows, builtin_grid().cols],
    "listed": [window.model.entry(r).name for r in range(window.model.rowCount())],
    "run_process_ready": window.run_process_ready,
    "title": window.windowTitle(),
}
window.close()
print(json.dumps(report))
"""


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 150,
         ) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")
    return result


def test_wheel_installs_and_runs_alone(tmp_path):
    began = time.monotonic()
    # Nothing of this checkout or of the test's environment may leak into the new venv.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"),  # QSettings: not the user's
               HEIMDALL_STUDIO_LOG_DIR=str(tmp_path / "logs"),
               HEIMDALL_STUDIO_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("HEIMDALL_STUDIO_WORKSPACE", None)

    # Build from a clean copy: setuptools reuses a checkout's build/ folder, whose stale
    # files would hide an asset missing from the package data.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(source), "-w", str(dist), "--no-deps",
          "-q"], cwd=tmp_path, env=env)
    wheels = list(dist.glob("heimdall_studio-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env)
    python, cli = venv / "bin" / "python", venv / "bin" / "heimdall-studio"
    _run([str(python), "-m", "pip", "install", "-q", str(wheels[0])], cwd=tmp_path,
         env=env, timeout=170)
    installed = time.monotonic()

    work = tmp_path / "run"  # a folder with no source in it
    work.mkdir()
    ws = work / "ws"
    out = _run([str(cli), "create", "t", "--samples", "100", "--seed", "7",
                "--workspace", str(ws)], cwd=work, env=env)
    assert "100 samples" in out.stdout
    info = json.loads(_run([str(cli), "info", "t", "--json", "--workspace", str(ws)],
                           cwd=work, env=env).stdout)
    assert info["num_samples"] == 100 and info["config"]["seed"] == 7
    assert len(info["config"]["receivers"]) == 7
    text = _run([str(cli), "info", "t", "--workspace", str(ws)], cwd=work, env=env).stdout
    assert "Aquila di Giaveno" in text
    listing = json.loads(_run([str(cli), "list", "--json", "--workspace", str(ws)],
                              cwd=work, env=env).stdout)
    assert [e["name"] for e in listing] == ["t"]
    verify = _run([str(cli), "verify", "t", "--workspace", str(ws)], cwd=work, env=env)
    assert "verify: passed" in verify.stdout

    script = work / "gui_check.py"
    script.write_text(GUI_CHECK)
    report = json.loads(_run([str(python), str(script), str(ws)], cwd=work,
                             env=env).stdout.splitlines()[-1])

    site = Path(report["prefix"]).resolve()
    package = Path(report["package"]).resolve().parent
    assert site == venv.resolve()
    assert package.is_relative_to(site) and not package.is_relative_to(REPO)
    assert not any(Path(p).resolve().is_relative_to(REPO) for p in report["sys_path"] if p)
    assert Path(report["icon_folder"]).resolve().is_relative_to(package)
    assert "heimdall-studio.svg" in report["icon_files"]
    assert "heimdall-studio-16.png" in report["icon_files"]
    assert "heimdall-studio-512.png" in report["icon_files"]
    assert not report["app_icon_null"] and not report["window_icon_null"]
    assert report["icon_sizes"] == [16, 24, 32, 48, 64, 128, 256, 512]
    assert Path(report["receivers_json"]).resolve().is_relative_to(package)
    assert Path(report["receivers_json"]).is_file()
    assert report["default_receivers"][:3] == ["Aquila di Giaveno", "Montanaro", "Torino"]
    assert len(report["default_receivers"]) == 7
    assert report["elevation_grid"] == [480, 660]  # the GLOBE extract ships
    assert report["listed"] == ["t"] and report["run_process_ready"]
    print(f"wheel built and installed in {installed - began:.0f} s, "
          f"whole check {time.monotonic() - began:.0f} s")
