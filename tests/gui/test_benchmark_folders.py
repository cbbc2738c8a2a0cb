"""The GUI benchmark keeps everything in folders of its own, never in the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from heimdall_studio.gui import settings

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

# The benchmark's own set-up: its private folders, then Qt, the window it measures a run
# in (opened and closed, which saves the settings) and the start-up it times.
BENCHMARK_SETUP = """
import sys
sys.path.insert(0, sys.argv[1])
import gui_responsiveness as benchmark
from user_folders import private_user_folders
with private_user_folders() as folder:
    from PySide6.QtWidgets import QApplication
    from heimdall_studio.gui import settings
    app = QApplication(sys.argv[:1])
    workspace = folder / "measured"
    workspace.mkdir()
    window = benchmark.open_window(app, workspace, settle_ms=0)
    window.close()
    print(folder)
    print(settings.open_settings().fileName())
    print(settings.read_workspace())
    benchmark.startup_seconds(runs=1)
    print(settings.read_workspace())  # as the app's process saved it on closing
"""


def test_the_gui_benchmark_keeps_settings_and_caches_in_its_own_folder(tmp_path):
    home = tmp_path / "home"  # stands for the user's: nothing may appear in it
    home.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("XDG_", "HEIMDALL_STUDIO_"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", BENCHMARK_SETUP, str(BENCHMARKS)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    folder, settings_file, saved, saved_by_app = done.stdout.split("\n")[-5:-1]
    assert Path(settings_file) == Path(folder) / "settings" / f"{settings.APPLICATION}.ini"
    assert Path(saved) == Path(folder).resolve() / "measured"
    assert saved_by_app != saved  # the app's own process used the benchmark's settings too
    assert not Path(folder).exists()  # removed when the benchmark ends
    assert list(home.rglob("*")) == []
