"""GUI responsiveness during a full-speed run, and start-up time.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_responsiveness.py [--samples N]

Runs the real main window (offscreen), starts a create job through it and records:
the longest gap between ticks of a 5 ms timer in the GUI thread (the event loop's worst
stall), and how often the live SNR/GDOP plots were redrawn with new data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STARTUP_SNIPPET = """
import time; began = time.perf_counter()
import sys, tempfile
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from heimdall_studio.gui import create_main_window
window = create_main_window(tempfile.mkdtemp())
window.show()
app.processEvents()
print(time.perf_counter() - began)
"""


def startup_seconds() -> float:
    """Interpreter start to a shown main window, numba cache warm (best of three)."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_SNIPPET], check=True,
                       capture_output=True, text=True)
        times.append(time.perf_counter() - began)
    return min(times)


def run_in_window(samples: int) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from heimdall_studio.core.api import make_config
    from heimdall_studio.gui import create_main_window
    from heimdall_studio.gui.dialogs import NewDatasetRequest
    from heimdall_studio.gui.workers import pool, warm_up_kernels

    app = QApplication.instance() or QApplication(sys.argv)  # noqa: F841 - kept alive
    warm_up_kernels()
    with tempfile.TemporaryDirectory() as tmp:
        window = create_main_window(Path(tmp))
        window.resize(1400, 900)
        window.show()
        settle = QEventLoop()  # as a user would: the window is up before a run starts
        QTimer.singleShot(2000, settle.quit)
        settle.exec()
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
        loop.exec()
        seconds = time.perf_counter() - began
        timer.stop()
        window.close()
        pool().waitForDone()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        if os.environ.get("HEIMDALL_BENCH_TRACE"):
            print("stalls (perf_counter s, ms):", [
                (round(a / 1000 + clock_began, 3), b - a) for a, b in zip(ticks, ticks[1:])
                if b - a > 40])
        return {"samples": job.done, "seconds": seconds, "max_stall_ms": max(gaps) - 5,
                "p99_gap_ms": sorted(gaps)[int(0.99 * len(gaps))],
                "redraws_per_s": (len(redraws) - 1) / (redraws[-1] - redraws[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3_000_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run_in_window(args.samples)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["startup_s"] = startup_seconds()
    if args.json:
        print(json.dumps(result))
        return
    print(f"  GUI run                {result['samples']:,} samples in "
          f"{result['seconds']:.1f} s ({result['samples'] / result['seconds']:,.0f}/s)")
    print(f"  GUI max stall          {result['max_stall_ms']:.0f} ms "
          f"(99th percentile timer gap {result['p99_gap_ms']:.0f} ms)")
    print(f"  live plot refreshes    {result['redraws_per_s']:.1f} per second")
    print(f"  start-up to window     {result['startup_s']:.2f} s (numba cache warm)")


if __name__ == "__main__":
    main()
