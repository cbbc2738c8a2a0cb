"""The job panel: a row per run (progress, rate, ETA, acceptance, Cancel) and live plots.

Progress records arrive several times a second per run and only update the `Job` records;
a timer redraws what changed. The plot items are created once and fed with setData. Each
tick redraws at most one live plot, in turn: all three in one tick would stall the event
loop (benchmarks/README.md, the GUI stall figure).
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .jobs import Job, JobManager
from .plots import HistogramPlot, TrendPlot

REDRAW_MS = 50  # three plots in turn: each refreshes at most every third tick
MAX_ENDED_ROWS = 6


def format_duration(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class JobRow(QFrame):
    """One run: what, how far, how fast, and a Cancel button."""

    focus_requested = Signal(object)  # Job

    def __init__(self, job: Job, manager: JobManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.job = job
        self.setObjectName("job_row")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(objectName="job_title")
        self.progress = QProgressBar(objectName="job_progress")
        self.progress.setRange(0, 1000)  # per mille: counts can exceed a C int
        self.progress.setTextVisible(True)
        self.stats = QLabel(objectName="job_stats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A fixed two-line box: text changing four times a second must not re-layout the
        # panel, which would resize and repaint the live plots beside it.
        self.stats.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.stats.setFixedHeight(3 * self.stats.fontMetrics().lineSpacing() + 4)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # Where a cluster computes the run, with its scheduler's dashboard to open.
        self.compute = QLabel(objectName="job_compute")
        self.compute.setOpenExternalLinks(True)
        self.compute.setVisible(False)
        self.cancel_button = QPushButton("Cancel", objectName="cancel_job")
        self.cancel_button.setToolTip("Stop after the current block; committed samples are kept")
        self.cancel_button.clicked.connect(lambda: manager.cancel(job))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.stats)
        layout.addWidget(self.compute)
        self.shown_version = -1
        self.shown_state = ""
        self.update_view()

    def mousePressEvent(self, event) -> None:
        self.focus_requested.emit(self.job)
        super().mousePressEvent(event)

    def set_focused(self, focused: bool) -> None:
        self.setStyleSheet("QFrame#job_row { border: 2px solid #1f77b4; border-radius: 4px; }"
                           if focused else "")

    def update_view(self) -> None:
        job = self.job
        if job.version == self.shown_version and job.state == self.shown_state:
            return
        self.shown_version, self.shown_state = job.version, job.state
        verb = "Creating" if job.kind == "create" else "Expanding"
        if not job.active:
            verb = "Created" if job.kind == "create" else "Expanded"
            if job.state != "finished":
                verb = job.kind.capitalize()
        self.title.setText(f"<b>{verb} '{job.name}'</b>")
        done, requested = job.done, job.requested
        self.progress.setValue(int(1000 * done / requested) if requested else 0)
        self.progress.setFormat(f"{done:,} / {requested:,} ({100 * done / requested:.1f}%)")
        self.cancel_button.setEnabled(job.state in ("starting", "running"))
        self.cancel_button.setVisible(job.active)
        self.stats.setText(self._stats_text())
        self._show_compute(job)

    def _show_compute(self, job: Job) -> None:
        """The cluster of a running job and its dashboard (gone with the run)."""
        p = job.last
        if p is None or not p.compute or not job.active:
            self.compute.setVisible(False)
            return
        if not self.compute.text():
            link = html.escape(p.dashboard, quote=True)
            self.compute.setText(f"on {html.escape(p.compute)}"
                                 + (f' · <a href="{link}">dashboard</a>' if link else ""))
        self.compute.setVisible(True)

    def _stats_text(self) -> str:
        job, p = self.job, self.job.last
        if not job.active:
            line = job.summary()
        elif p is not None and p.done == 0 and p.prepared < 1.0 and job.state != "cancelling":
            line = f"preparing the terrain… {100 * p.prepared:.0f} %"
        elif p is None or p.done == 0:
            line = job.summary() if job.state == "cancelling" else "opening the dataset…"
        else:
            line = (f"{p.rate:,.0f} samples/s · ETA {format_duration(p.eta_s)}"
                    + (" · cancelling…" if job.state == "cancelling" else ""))
        if p is None or not p.candidates:
            return line
        return (f"{line}\naccepted {100 * p.acceptance:.1f}% of {p.candidates:,} candidates"
                f"\nrejected: {p.rejected_too_few_receivers:,} too few receivers, "
                f"{p.rejected_gdop:,} GDOP")


class JobPanel(QWidget):
    """All runs of this window, and live plots of the one in focus (the latest by default)."""

    def __init__(self, manager: JobManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("job_panel")
        self.manager = manager
        self.rows: list[JobRow] = []
        self.focused: Job | None = None

        self.placeholder = QLabel("No runs yet. New dataset (Ctrl+N) or Expand (Ctrl+E) "
                                  "starts one.", wordWrap=True)
        self.placeholder.setStyleSheet("color: #707070;")
        rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(rows_widget)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.addWidget(self.placeholder)
        self.rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(rows_widget)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(400)
        scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.snr_plot = HistogramPlot("SNR of detecting links (live)", "SNR (dB)", "links",
                                      grid=False)
        self.snr_plot.setObjectName("live_snr_plot")
        self.gdop_plot = HistogramPlot("GDOP (live)", "GDOP", "samples", grid=False)
        self.gdop_plot.setObjectName("live_gdop_plot")
        self.acceptance_plot = TrendPlot("Acceptance rate (live)", "generated",
                                         "accepted (%)", x_units="samples", grid=False)
        self.acceptance_plot.setObjectName("live_acceptance_plot")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll, 3)
        for plot in (self.snr_plot, self.gdop_plot, self.acceptance_plot):
            layout.addWidget(plot, 3)
        # Which job version each plot shows, and whose turn it is on the next tick.
        self._drawers = (self._draw_snr, self._draw_gdop, self._draw_acceptance)
        self._shown = dict.fromkeys(self._drawers, -1)
        self._turn = 0

        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self._tick)
        manager.job_started.connect(self.add_job)
        manager.job_ended.connect(self._job_ended)

    def add_job(self, job: Job) -> None:
        self.placeholder.setVisible(False)
        row = JobRow(job, self.manager)
        row.focus_requested.connect(self.focus_job)
        self.rows.append(row)
        self.rows_layout.insertWidget(0, row)  # newest on top
        self._drop_old_rows()
        self.focus_job(job)
        self.timer.start()

    def focus_job(self, job: Job) -> None:
        self.focused = job
        self._shown = dict.fromkeys(self._drawers, -1)
        for row in self.rows:
            row.set_focused(row.job is job)
        self.redraw()

    def row_for(self, job: Job) -> JobRow | None:
        return next((row for row in self.rows if row.job is job), None)

    def redraw(self) -> None:
        """Bring rows and every plot up to date with their jobs."""
        self._update_rows()
        for draw in self._drawers:
            self._draw_if_stale(draw)

    def _tick(self) -> None:
        """Timer slot: rows, and the next live plot (in turn) that is out of date."""
        self._update_rows()
        for _ in self._drawers:
            draw = self._drawers[self._turn]
            self._turn = (self._turn + 1) % len(self._drawers)
            if self._draw_if_stale(draw):
                break
        if not self.manager.active_jobs():
            self.timer.stop()

    def _update_rows(self) -> None:
        for row in self.rows:
            row.update_view()

    def _draw_if_stale(self, draw) -> bool:
        job = self.focused
        if job is None or self._shown[draw] == job.version:
            return False
        self._shown[draw] = job.version
        draw(job)
        return True

    def _draw_snr(self, job: Job) -> None:
        if job.snr_counts is None:
            self.snr_plot.clear_data()
        else:
            self.snr_plot.set_histogram(job.snr_edges, job.snr_counts)

    def _draw_gdop(self, job: Job) -> None:
        if job.gdop_counts is None:
            self.gdop_plot.clear_data()
        else:
            self.gdop_plot.set_histogram(job.gdop_edges, job.gdop_counts)

    def _draw_acceptance(self, job: Job) -> None:
        self.acceptance_plot.set_points(job.acceptance_done, job.acceptance_percent,
                                        x_max=job.requested)

    def _job_ended(self, job: Job) -> None:
        self.redraw()

    def _drop_old_rows(self) -> None:
        ended = [row for row in self.rows if not row.job.active]
        for row in ended[:-MAX_ENDED_ROWS] if len(ended) > MAX_ENDED_ROWS else []:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()
