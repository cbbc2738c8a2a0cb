"""Generation on thread workers: progress, cancel, errors, responsiveness, busy datasets."""

from __future__ import annotations

import os
import threading
import time

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtWidgets import QMessageBox

from heimdall_studio.core import api
from heimdall_studio.core.dataset import stats
from heimdall_studio.core.errors import (
    DatasetBusyError,
    DatasetExistsError,
    StratumUnfillableError,
)
from heimdall_studio.core.runs.process import RunProcessError
from heimdall_studio.gui.dialogs import ExpandDatasetRequest, NewDatasetRequest
from heimdall_studio.gui.jobs import Job, JobManager
from heimdall_studio.gui.plots import HistogramPlot, round_up
from heimdall_studio.gui.threads import ClosingWorker

BIG = 2_000_000


def test_run_worker_reports_every_step_in_order(qtbot):
    def count():
        yield from range(5)
        return "done"

    worker = ClosingWorker(count)
    seen, results = [], []
    worker.yielded.connect(seen.append)
    worker.returned.connect(results.append)
    with qtbot.waitSignals([worker.returned, worker.finished], order="strict", timeout=5000):
        worker.start()
    assert seen == [0, 1, 2, 3, 4]
    assert results == ["done"]


def test_run_worker_quit_closes_the_generator_at_once(qtbot):
    closed = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    worker = ClosingWorker(endless)
    worker.yielded.connect(lambda n: n >= 3 and worker.quit())
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    # closed by the worker, in its thread: not left for the garbage collector
    assert closed == [True] and worker.abort_requested


@pytest.mark.parametrize("error", [ValueError("bad value"), RuntimeError("broken")])
def test_run_worker_errors_arrive_as_raised(qtbot, error):
    def broken():
        yield 1
        raise error

    worker = ClosingWorker(broken)
    errors = []
    worker.errored.connect(errors.append)
    with qtbot.waitSignals([worker.errored, worker.finished], order="strict", timeout=5000):
        worker.start()
    assert errors == [error] and errors[0] is error  # the object, class and all


def _create(window, name: str, n: int, **params) -> NewDatasetRequest:
    return NewDatasetRequest(api.make_config(name, seed=5, **params), n)


def test_progress_reaches_the_panel_and_live_plots(qtbot, open_window, workspace):
    window = open_window(workspace)
    progressed = []
    window.jobs.job_progressed.connect(lambda job: progressed.append(job.done))
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        job = window.start_create(_create(window, "live", 300_000))
    assert job.state == "finished", job.summary()
    assert len(progressed) >= 3 and progressed == sorted(progressed)
    assert progressed[-1] == 300_000
    panel = window.job_panel
    panel.redraw()
    row = panel.row_for(job)
    assert row.progress.value() == 1000
    assert "300,000 / 300,000" in row.progress.text()
    assert "accepted" in row.stats.text() and "GDOP" in row.stats.text()
    # The live histograms hold every committed sample (one GDOP per sample).
    assert panel.gdop_plot.total() == 300_000
    assert panel.snr_plot.total() >= 3 * 300_000  # at least 3 detecting links each
    assert len(panel.acceptance_plot.curve.getData()[0]) == len(job.acceptance_done) >= 3


def test_cancel_keeps_the_committed_samples(qtbot, open_window, workspace):
    window = open_window(workspace)
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(_create(window, "big", BIG))
    qtbot.waitUntil(lambda: job.done > 0, timeout=30_000)
    row = window.job_panel.row_for(job)
    # Cancel takes effect at the next block (a fraction of a second), not at the end of
    # the run: a generous bound, far below the run's length, tells the two apart.
    with qtbot.waitSignal(window.jobs.job_ended, timeout=5_000):
        qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    assert job.state == "cancelled"
    assert 0 < job.done < BIG
    header = api.dataset_header(job.path)
    assert header.num_samples == job.done
    assert header.history[-1].count == job.done
    data = api.load_dataset(job.path, fields=("tx_lat", "gdop"))
    assert len(data["tx_lat"]) == job.done and np.all(np.isfinite(data["gdop"]))
    window.job_panel.redraw()
    assert "kept" in row.stats.text()


def test_window_stays_responsive_during_a_large_run(qtbot, open_window, workspace):
    window = open_window(workspace)
    qtbot.waitUntil(lambda: window.run_process_ready, timeout=60_000)
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(_create(window, "large", BIG))
    timer.start()
    qtbot.waitUntil(lambda: job.done >= 600_000, timeout=60_000)
    timer.stop()
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        window.jobs.cancel(job)
    gaps = np.diff(ticks)
    # The GUI thread kept ticking throughout: generation runs in a low-priority process
    # of its own, and plots redraw at a throttled rate.
    expected = (ticks[-1] - ticks[0]) / 0.010
    assert len(ticks) > 30 and len(ticks) > 0.4 * expected, (len(ticks), expected)
    assert gaps.max() < 0.5, f"longest stall {gaps.max():.3f} s"
    assert np.median(gaps) < 0.02


def test_the_browser_follows_a_run_from_its_progress_not_from_the_file(
        qtbot, open_window, workspace):
    window = open_window(workspace)
    progressed = []
    window.jobs.job_progressed.connect(lambda job: progressed.append(job.done))
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(_create(window, "growing", 25 * BIG))  # cancelled early
    qtbot.waitUntil(lambda: window.model.row_of(job.path) >= 0 and job.done > 0,
                    timeout=30_000)
    qtbot.wait(2 * window.watcher.DELAY_MS)  # the listing the new file caused is in
    listings, seen = window.listings, len(progressed)
    qtbot.waitUntil(lambda: len(progressed) >= seen + 3, timeout=30_000)

    # The file being written is not watched: no listing at every commit...
    assert str(job.path) not in window.watcher._watcher.files()
    assert window.listings == listings
    # ...yet its row, and its details (it is selected: the app selects a new dataset),
    # count the committed samples.
    row = window.model.row_of(job.path)
    assert window.model.index(row, 2).data() == f"{job.done:,}"
    assert window.selected_entry().path == job.path
    assert f"{job.done:,} samples" in window.details.title.text()
    assert window.details.config_table.item(0, 1).text() == f"{job.done:,}"

    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        window.jobs.cancel(job)
    qtbot.waitUntil(lambda: str(job.path) in window.watcher._watcher.files(), timeout=10_000)
    header = api.dataset_header(job.path)
    row = window.model.row_of(job.path)
    assert window.model.index(row, 2).data() == f"{header.num_samples:,}"
    assert header.num_samples == job.done


@pytest.mark.parametrize("interpreter,why", [("/bin/false", "did not start"),
                                              ("/nonexistent/python", "cannot start")])
def test_a_run_whose_process_cannot_start_fails_and_says_so(qtbot, open_window, workspace,
                                                            monkeypatch, caplog,
                                                            interpreter, why):
    # children that die at once, or cannot be started at all: runs never happen in the
    # app's own process
    monkeypatch.setattr("sys.executable", interpreter)
    window = open_window(workspace)
    qtbot.waitUntil(lambda: "preparing runs failed" in caplog.text, timeout=30_000)
    assert not window.run_process_ready
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        job = window.start_create(_create(window, "nowhere", 5000))
    assert job.state == "failed" and isinstance(job.error, RunProcessError)
    assert why in job.error_message and why in window.last_error
    assert not job.path.exists()


def test_dataset_being_written_cannot_be_expanded_or_deleted(qtbot, open_window, workspace,
                                                            make_dataset, select):
    other = make_dataset(workspace, "other", 1000, seed=1)
    window = open_window(workspace)
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(_create(window, "writing", BIG))
    qtbot.waitUntil(lambda: job.done > 0, timeout=30_000)
    select(window, job.path)
    assert not window.action_expand_dataset.isEnabled()
    assert not window.action_delete_dataset.isEnabled()
    row = window.model.row_of(job.path)
    assert window.model.index(row, 10).data() == "writing (create)"
    assert window.expand_dataset() is None
    assert window.start_expand(ExpandDatasetRequest(job.path, 10)) is None
    assert "already writing" in window.last_error
    with pytest.raises(DatasetBusyError):  # the core's lock refuses too
        api.expand_run(job.path, 10)
    select(window, other)
    assert window.action_expand_dataset.isEnabled()
    assert window.action_delete_dataset.isEnabled()
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        window.jobs.cancel(job)
    select(window, job.path)
    assert window.action_expand_dataset.isEnabled()


def test_failed_run_shows_an_error_without_blocking(qtbot, open_window, workspace,
                                                    make_dataset):
    make_dataset(workspace, "exists", 500, seed=2)
    window = open_window(workspace)
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000) as ended:
        window.start_create(_create(window, "exists", 100))
    job = ended.args[0]
    assert job.state == "failed" and "already exists" in job.error_message
    # raised in the run's process, and still the core's error: its class crossed too
    assert type(job.error) is DatasetExistsError
    assert "already exists" in window.last_error
    box = window.findChild(QMessageBox, "error_dialog")
    assert box is not None and box.isVisible()
    box.close()


def test_expanding_a_later_generators_dataset_is_refused_in_the_app(
        qtbot, open_window, workspace, make_dataset):
    path = make_dataset(workspace, "newer", 500, seed=2)
    with h5py.File(path, "r+") as f:  # as a later release, drawing with a newer version
        future = int(f.attrs["generator_version"]) + 1
        f.attrs.modify("generator_version", np.int64(future))
    window = open_window(workspace)
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000) as ended:
        window.start_expand(ExpandDatasetRequest(path, 1000))
    assert ended.args[0].state == "failed"
    assert f"generator version {future}" in window.last_error
    assert api.dataset_header(path).num_samples == 500


def test_unfillable_stratum_is_reported(qtbot, open_window, workspace):
    window = open_window(workspace)
    hopeless = _create(window, "hopeless", 1000, tx_power_dbm=-30.0, min_receivers=7,
                       max_gdop=1.01)
    with qtbot.waitSignal(window.jobs.job_ended, timeout=60_000) as ended:
        window.start_create(hopeless)
    assert ended.args[0].state == "failed"
    assert type(ended.args[0].error) is StratumUnfillableError
    assert "stratum" in window.last_error


def test_closing_during_a_run_asks_then_stops_cleanly(qtbot, open_window, workspace,
                                                      answer_questions_yes):
    window = open_window(workspace)
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(_create(window, "closing", BIG))
    qtbot.waitUntil(lambda: job.done > 0, timeout=30_000)

    window.ask = lambda title, text: False  # "keep running"
    assert not window.close()
    assert window.isVisible() and job.active

    del window.ask  # back to the fixture's "yes"
    assert window.close()
    assert answer_questions_yes and "closing" in answer_questions_yes[-1][1]
    # close() waited for the pool: no thread outlives the window.
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    header = api.dataset_header(job.path)
    assert 0 < header.num_samples < BIG


def test_timer_ticks_redraw_one_live_plot_at_a_time(qtbot, open_window, workspace):
    # Drawing the three live plots in one tick stalled the event loop for 30-50 ms; each
    # tick draws the next out-of-date plot in turn, and an explicit redraw draws all.
    window = open_window(workspace)
    panel = window.job_panel
    drawn = []
    for plot in (panel.snr_plot, panel.gdop_plot):
        plot.set_histogram = lambda edges, counts, plot=plot: drawn.append(plot)
    panel.acceptance_plot.set_points = lambda *a, **k: drawn.append(panel.acceptance_plot)
    job = Job("create", workspace / "fake.h5", 1000, worker=None)
    config = api.make_config("fake", seed=1)
    edges = stats.histogram_edges(config)
    counts = {k: np.ones(len(e) - 1, np.int64) for k, e in edges.items()}
    job.add_progress(api.Progress(job.path, "create", 0, 1000, 100, 300, 150, 50, 0.1,
                                  edges["snr_db"], counts["snr_db"], edges["gdop"],
                                  counts["gdop"]))
    panel.focused = job
    for expected in (panel.snr_plot, panel.gdop_plot, panel.acceptance_plot, None):
        drawn.clear()
        panel._tick()
        assert drawn == ([expected] if expected else [])  # nothing left once all are current
    job.version += 1
    panel.redraw()
    assert drawn == [panel.snr_plot, panel.gdop_plot, panel.acceptance_plot]


def test_histogram_y_axis_steps_through_round_values(qtbot):
    plot = HistogramPlot("t", "x")
    qtbot.addWidget(plot)
    assert [round_up(v) for v in (0.3, 1, 1.01, 2.2, 3, 7, 11, 2600)] == [
        0.5, 1, 2, 2.5, 5, 10, 20, 5000]
    edges = np.arange(11.0)
    tops = []
    for peak in (10, 40, 90, 120, 60):
        plot.set_histogram(edges, np.full(10, float(peak)))
        tops.append(plot.viewRange()[1][1])
    # grows in round steps, stays while the peak fits, shrinks when it falls below a quarter
    assert tops == [20, 50, 100, 200, 200]
    plot.set_histogram(edges, np.full(10, 20.0))
    assert plot.viewRange()[1][1] == 25


def test_shutdown_while_the_ready_process_starts_neither_waits_nor_fails(
        qtbot, tmp_path, monkeypatch):
    # A run process that never gets ready; closing the app ends it, and the preparation
    # that waited for it ends quietly: not with the error of a process that cannot start.
    pid_file = tmp_path / "pid"
    never_ready = tmp_path / "python"
    never_ready.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    never_ready.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(never_ready))
    jobs = JobManager()
    raised = []

    def prepare():
        try:
            jobs.prepare()
        except Exception as exc:
            raised.append(exc)

    preparing = threading.Thread(target=prepare)
    preparing.start()
    qtbot.waitUntil(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"),
                    timeout=10_000)
    pid = int(pid_file.read_text())
    began = time.monotonic()
    jobs.shutdown()
    preparing.join(timeout=10)
    assert not preparing.is_alive() and time.monotonic() - began < 5
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(pid, 0)
    assert raised == []
    pid_file.unlink()
    jobs.prepare()  # after shutdown: nothing, and no process started
    assert not pid_file.exists()
