"""GUI responsiveness during a full-speed run, and start-up time.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_responsiveness.py \
        [--samples N] [--listing WORKSPACE]

Runs the real main window (offscreen), starts a create job through it (the run itself
happens in a process of its own, as in the app) and records:
the longest gap between ticks of a 5 ms timer in the GUI thread (the event loop's worst
stall), and how often the live SNR/GDOP plots were redrawn with new data. Meanwhile the
New dialog's coverage preview recomputes every second, the Map tab shows the samples of
the dataset being written, and a sample table scrolls over a dataset of 1e6 samples
(`Explorer`; `--plain` leaves them closed). With
--listing, also how long a new window takes to show the first rows and all rows of that
workspace, never seen before (no listing index) and with its index.

It never touches the user's settings, workspace or caches: everything it and the app's
processes keep goes to a temporary folder (`user_folders`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from user_folders import private_user_folders

# Both snippets start as `heimdall-studio` does: the command line's imports, Qt, then the
# window as the app opens it (gui.app.open_main_window).
STARTUP_SNIPPET = """
import sys, tempfile, time
from pathlib import Path
from heimdall_studio import cli
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from heimdall_studio.gui.app import open_main_window
with tempfile.TemporaryDirectory() as workspace:
    window = open_main_window(Path(workspace))
    app.processEvents()
    print(time.time(), flush=True)
    window.close()
"""


def startup_seconds(runs: int = 3) -> list[float]:
    """Launching the interpreter to the main window shown and painted, numba cache warm,
    of each run. (The clock stops when the window is up, not when the process has ended.)"""
    times = []
    for _ in range(runs):
        launched = time.time()
        done = subprocess.run([sys.executable, "-c", STARTUP_SNIPPET], check=True,
                              capture_output=True, text=True)
        times.append(float(done.stdout.split()[0]) - launched)
    return times


# The rows are timed by the listing's own signals, connected after the window's handlers,
# which have filled the table by then: the first batch of a listing going on (none when
# every file is known) and the complete listing. (Polling for rows with a fast timer would
# slow the listing: every tick takes the GIL from the thread reading the files.)
LISTING_SNIPPET = """
import time; began = time.perf_counter()
import sys
from pathlib import Path
from heimdall_studio import cli
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from heimdall_studio.gui.app import open_main_window
window = open_main_window(Path(sys.argv[1]))
shown = time.perf_counter()
first = []
def rows(_entries):
    if not first and window.model.rowCount():
        first.append(time.perf_counter() - shown)
def listed(entries):
    rows(entries)
    print(shown - began, first[0], time.perf_counter() - shown, window.model.rowCount())
    app.quit()
window.watcher.more_listed.connect(rows)
window.watcher.listed.connect(listed)
app.exec()
"""


def listing_seconds(workspace: Path, runs: int = 3) -> dict[str, list[list[float]]]:
    """[seconds from launch to all rows shown, from window shown to the first rows, from
    window shown to all rows] of each run, without the listing index ("cold") and with it
    ("indexed")."""
    times: dict[str, list[list[float]]] = {"cold": [], "indexed": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "HEIMDALL_STUDIO_CACHE_DIR": cache}
            for kind in times:  # the first run writes the index the second one reads
                done = subprocess.run([sys.executable, "-c", LISTING_SNIPPET, str(workspace)],
                                      env=env, check=True, capture_output=True, text=True)
                window, first_after, all_after, rows = done.stdout.split()
                assert int(rows) == len(list(workspace.glob("*.h5")))
                times[kind].append([float(window) + float(all_after), float(first_after),
                                    float(all_after)])
    return times


def open_window(app, workspace: Path, settle_ms: int = 2000):
    """The main window as a user has it when a run starts: shown for a while, and the run's
    process ready, its kernels loaded."""
    from PySide6.QtCore import QEventLoop, QTimer

    from heimdall_studio.gui import create_main_window

    window = create_main_window(workspace)
    window.resize(1400, 900)
    window.show()
    settle = QEventLoop()
    QTimer.singleShot(settle_ms, settle.quit)
    settle.exec()
    while not window.run_process_ready:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    return window


class Explorer:
    """What a user has open while a run goes: the New dialog with its coverage preview
    (a parameter changed every second, so the preview recomputes), the Map tab of the
    dataset being written (its live samples), and a sample table over another dataset of
    1e6 samples, scrolled to a new place five times a second. The preview and the table
    have shown their first results before the run starts (`settle`)."""

    def __init__(self, window, workspace: Path):
        from PySide6.QtWidgets import QDoubleSpinBox

        from heimdall_studio.core import api
        from heimdall_studio.gui.sample_table import SampleView

        self.window = window
        api.create_dataset("explored", 1_000_000, workspace, seed=2,
                           propagation={"terrain": {"source": "none"}})
        window.refresh()
        self.table = SampleView()
        self.table.resize(900, 600)
        self.table.show()
        self.table.set_dataset(api.list_workspace(workspace)[0])
        self.dialog = window.new_dataset()
        self.frequency = self.dialog.findChild(QDoubleSpinBox, "frequency_mhz")
        self.steps = 0
        self.timers: list = []  # started once settled

    def settle(self, app, timeout_s: float = 120.0) -> None:
        """Wait until what is open shows something: the preview its first maps (its
        terrain prepared), the table its first page. A user has these open already when
        the run starts; opening them is not what the run's figures are about."""
        from PySide6.QtCore import QEventLoop, QTimer

        from heimdall_studio.gui.sample_table import PENDING_TEXT

        deadline = time.perf_counter() + timeout_s
        table = self.table.model
        while (self.dialog.preview.coverage is None or table.value(0, 0) == PENDING_TEXT) \
                and time.perf_counter() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
        if time.perf_counter() >= deadline:
            raise RuntimeError(f"the preview or the sample table showed nothing within "
                               f"{timeout_s:.0f} s")
        self.timers = [QTimer(interval=200), QTimer(interval=1000)]
        self.timers[0].timeout.connect(self._scroll)
        self.timers[1].timeout.connect(self._retune)
        for timer in self.timers:
            timer.start()

    def follow(self, job) -> None:
        """Show the run's dataset on the Map tab, as a user watching it would."""
        self.window.select_dataset(job.path)
        tabs = self.window.details.plot_tabs
        tabs.setCurrentWidget(self.window.details.map_panel)

    def _scroll(self) -> None:
        self.steps += 1
        view = self.table.table
        view.scrollTo(view.model().index((self.steps * 104_729) % 1_000_000, 0))

    def _retune(self) -> None:
        if self.frequency is not None:
            self.frequency.setValue(145.0 if self.frequency.value() != 145.0 else 146.0)

    def close(self) -> None:
        for timer in self.timers:
            timer.stop()
        self.dialog.reject()
        self.table.close()


def run_in_window(samples: int, explore: bool = True) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from heimdall_studio.core.api import make_config
    from heimdall_studio.gui.dialogs import NewDatasetRequest

    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        window = open_window(app, Path(tmp))
        explorer = Explorer(window, Path(tmp)) if explore else None
        if explorer is not None:
            explorer.settle(app)
        panel = window.job_panel
        redraws = []
        original = panel.snr_plot.set_histogram

        def counted(*args, **kwargs):
            redraws.append(time.perf_counter())
            return original(*args, **kwargs)

        panel.snr_plot.set_histogram = counted
        ticks: list[int] = []
        clock = QElapsedTimer()
        clock.start()
        clock_began = time.perf_counter()
        timer = QTimer(interval=5)
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(lambda: ticks.append(clock.elapsed()))
        loop = QEventLoop()
        window.jobs.job_ended.connect(lambda job: loop.quit())
        timer.start()
        began = time.perf_counter()
        job = window.start_create(NewDatasetRequest(make_config("gui-bench", seed=1), samples))
        if explorer is not None:
            QTimer.singleShot(500, lambda: explorer.follow(job))
        loop.exec()
        seconds = time.perf_counter() - began
        timer.stop()
        if explorer is not None:
            explorer.close()
        window.close()
        QThreadPool.globalInstance().waitForDone()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        if os.environ.get("HEIMDALL_BENCH_TRACE"):
            print("stalls (s after the run started, ms):", [
                (round(a / 1000 + clock_began - began, 3), b - a)
                for a, b in itertools.pairwise(ticks) if b - a > 40])
        return {"samples": job.done, "seconds": seconds, "max_stall_ms": max(gaps) - 5,
                "p99_gap_ms": sorted(gaps)[int(0.99 * len(gaps))],
                "redraws_per_s": (len(redraws) - 1) / (redraws[-1] - redraws[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3_000_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--listing", type=Path, help="a workspace to time listing with")
    parser.add_argument("--plain", action="store_true",
                        help="only the main window: no New dialog, map or sample table open")
    args = parser.parse_args()
    with private_user_folders():
        result: dict = run_in_window(args.samples, explore=not args.plain)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the run's own process (the largest child so far)
        result["run_peak_rss_mib"] = (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                                      / 1024)
        os.sync()  # what the run wrote is on disk before the start-up and listing figures
        result["startup_s"] = startup_seconds()
        if args.listing:
            result["listing_s"] = listing_seconds(args.listing)
    if args.json:
        print(json.dumps(result))
        return
    print(f"  GUI run                {result['samples']:,} samples in "
          f"{result['seconds']:.1f} s ({result['samples'] / result['seconds']:,.0f}/s)")
    print(f"  GUI max stall          {result['max_stall_ms']:.0f} ms "
          f"(99th percentile timer gap {result['p99_gap_ms']:.0f} ms)")
    print(f"  live plot refreshes    {result['redraws_per_s']:.1f} per second")
    print(f"  start-up to window     {min(result['startup_s']):.2f}-"
          f"{max(result['startup_s']):.2f} s (numba cache warm)")
    print(f"  peak RSS               app {result['peak_rss_mib']:,.0f} MiB, its run process "
          f"{result['run_peak_rss_mib']:,.0f} MiB")
    for kind, times in result.get("listing_s", {}).items():
        launch, first, every = zip(*times, strict=True)
        print(f"  rows listed ({kind})    first {min(first):.2f}-{max(first):.2f} s, all "
              f"{min(every):.2f}-{max(every):.2f} s after the window showed; all "
              f"{min(launch):.2f}-{max(launch):.2f} s after launch")


if __name__ == "__main__":
    main()
