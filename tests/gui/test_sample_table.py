"""The Samples tab: a virtual table over a dataset's rows, read page by page."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import (
    QCoreApplication,
    QModelRoleData,
    QModelRoleDataSpan,
    Qt,
    QThreadPool,
)

from heimdall_studio.core import api
from heimdall_studio.gui.sample_table import (
    PAGE_ROWS,
    PENDING_TEXT,
    SampleTableModel,
    SampleView,
    cell_text,
    sample_columns,
)


class FakeSource:
    """A table of `rows` rows computed from their index, counting the reads."""

    def __init__(self):
        self.columns = sample_columns(["tx_lat", "snr_db", "num_receivers_detected"],
                                      ["Torino", "Genova"])
        self.reads: list[tuple[int, int]] = []

    @staticmethod
    def row(i: int) -> dict[str, object]:
        return {"tx_lat": 44.0 + i * 1e-7, "snr_db": (float(i % 97), np.nan),
                "num_receivers_detected": i % 5}

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        self.reads.append((start, stop))
        index = np.arange(start, stop)
        snr = np.stack([(index % 97).astype(np.float32),
                        np.full(len(index), np.nan, np.float32)], axis=1)
        return {"tx_lat": 44.0 + index * 1e-7, "snr_db": snr,
                "num_receivers_detected": (index % 5).astype(np.uint8)}


def shown(qtbot, view: SampleView, row: int, column: int) -> str:
    """Scrolls to `row` with the Go to box and waits for its page to arrive."""
    view.goto.setValue(row)
    qtbot.waitUntil(lambda: view.model.value(row, column) != PENDING_TEXT, timeout=10_000)
    return view.model.value(row, column)


def samples_tab(qtbot, open_window, workspace, select, path):
    window = open_window(workspace)
    select(window, path)
    details = window.details
    details.plot_tabs.setCurrentIndex(details.samples_tab)
    view = details.sample_view
    assert view.isVisible() and view.table.objectName() == "sample_table"
    return window, view


def test_the_table_shows_the_files_values(qtbot, open_window, workspace, make_dataset,
                                          select):
    n = 2 * PAGE_ROWS + 500
    path = make_dataset(workspace, "rows", n, seed=21)
    window, view = samples_tab(qtbot, open_window, workspace, select, path)
    model = view.model
    assert model.rowCount() == n and view.goto.maximum() == n - 1
    receivers = [r.name for r in window.selected_entry().header.config.receivers]
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert titles[:2] == ["tx_lat", "tx_lon"]
    snr = titles.index(f"snr_db[{receivers[2]}]")
    tooltip = model.headerData(snr, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "in dB" in tooltip and "measurement" in tooltip and receivers[2] in tooltip
    assert "ground truth" in model.headerData(titles.index("gdop"), Qt.Orientation.Horizontal,
                                              Qt.ItemDataRole.ToolTipRole)
    with h5py.File(path, "r", locking=False) as f:
        samples = f["samples"]
        for row in (0, n // 2, n - 1):
            for column, name in ((0, "tx_lat"), (titles.index("gdop"), "gdop"),
                                 (titles.index("frequency_hz"), "frequency_hz")):
                text = shown(qtbot, view, row, column)
                value = samples[name][row]
                assert text == cell_text(value, name)
                assert float(text.replace(",", "")) == pytest.approx(value, rel=1e-6, abs=0.0051)
            text = shown(qtbot, view, row, snr)
            value = samples["snr_db"][row, 2]
            if np.isnan(value):
                assert text == "–"
            else:
                assert float(text) == pytest.approx(value, abs=0.006)
            detected = titles.index(f"signal_present[{receivers[2]}]")
            assert shown(qtbot, view, row, detected) == (
                "yes" if samples["signal_present"][row, 2] else "no")
    assert "e+" not in model.value(0, titles.index("frequency_hz"))
    # the view is where Go to took it: the last row shown and selected
    table = view.table
    assert table.visualRect(model.index(n - 1, 0)).intersects(table.viewport().rect())
    assert [i.row() for i in table.selectionModel().selectedRows()] == [n - 1]


def test_ten_million_rows_scroll_to_the_end_reading_a_few_pages(qtbot):
    view = SampleView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    source = FakeSource()
    rows = 10_000_000
    view.model.set_source(source, rows)
    view._show_count()
    assert view.model.rowCount() == rows
    qtbot.waitUntil(lambda: view.model.value(0, 0) != PENDING_TEXT, timeout=10_000)
    bar = view.table.verticalScrollBar()
    bar.setValue(bar.maximum())  # drag the scroll bar to the end
    last = rows - 1
    qtbot.waitUntil(lambda: view.model.value(last, 1) != PENDING_TEXT, timeout=10_000)
    expected = FakeSource.row(last)
    assert view.model.value(last, 0) == f"{expected['tx_lat']:.6f}"
    assert view.model.value(last, 1) == f"{expected['snr_db'][0]:.2f}"
    assert view.model.value(last, 2) == "–"  # NaN: not detected
    assert view.model.value(last, 3) == str(expected["num_receivers_detected"])
    assert view.model.headerData(last, Qt.Orientation.Vertical) == str(last)
    assert len(source.reads) <= 4 and view.model.page_reads == len(source.reads)
    assert all(stop - start <= PAGE_ROWS for start, stop in source.reads)
    # rows shown are painted from the cache: going back reads nothing more
    reads = len(source.reads)
    bar.setValue(bar.maximum() - 5)
    qtbot.wait(50)  # let the view repaint (nothing is asserted on time)
    assert len(source.reads) == reads


def test_a_paint_asks_each_cell_once_for_all_its_roles(qtbot):
    """The view paints through `multiData`: one call per cell for every role, and the
    same answers as `data()` gives role by role."""
    asked = {"data": 0, "multiData": 0}

    class CountingModel(SampleTableModel):
        def data(self, index, role=Qt.ItemDataRole.DisplayRole):
            asked["data"] += 1
            return super().data(index, role)

        def multiData(self, index, roleDataSpan):
            asked["multiData"] += 1
            super().multiData(index, roleDataSpan)

    view = SampleView()
    qtbot.addWidget(view)
    model = CountingModel(view)
    view.table.setModel(model)
    view.resize(900, 500)
    view.show()
    model.set_source(FakeSource(), 10 * PAGE_ROWS)
    qtbot.waitUntil(lambda: model.value(0, 1) != PENDING_TEXT, timeout=10_000)
    asked.update(data=0, multiData=0)
    view.table.viewport().grab()
    visible = [(row, column) for row in range(30) for column in range(model.columnCount())
               if view.table.visualRect(model.index(row, column)).intersects(
                   view.table.viewport().rect())]
    assert len(visible) > 10
    assert asked["multiData"] >= len(visible) and asked["data"] == 0
    display, alignment = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole
    for row, column in visible:
        index = model.index(row, column)
        roles = [QModelRoleData(int(role)) for role in (display, alignment,
                                                       Qt.ItemDataRole.ForegroundRole)]
        for role_data in roles:
            model.multiData(index, QModelRoleDataSpan(role_data))
        assert roles[0].data() == model.data(index, display) != PENDING_TEXT
        assert roles[1].data() == model.data(index, alignment)
        assert roles[2].data() is None


def test_a_growing_source_reads_its_last_page_again(qtbot):
    view = SampleView()
    qtbot.addWidget(view)
    view.show()
    source = FakeSource()
    view.model.set_source(source, PAGE_ROWS + 100)
    assert shown(qtbot, view, PAGE_ROWS + 99, 3) == str((PAGE_ROWS + 99) % 5)
    assert (PAGE_ROWS, PAGE_ROWS + 100) in source.reads
    view.model.set_row_count(PAGE_ROWS + 1000)  # a run committed more samples
    assert view.model.rowCount() == PAGE_ROWS + 1000
    assert shown(qtbot, view, PAGE_ROWS + 999, 3) == str((PAGE_ROWS + 999) % 5)
    assert (PAGE_ROWS, PAGE_ROWS + 1000) in source.reads


def test_a_dataset_being_written_grows_in_the_table(qtbot, open_window, workspace, select):
    from heimdall_studio.gui.dialogs import NewDatasetRequest

    window = open_window(workspace)
    request = NewDatasetRequest(api.make_config("growing", seed=8), 400_000)
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(request)
    qtbot.waitUntil(lambda: job.done > 0 and window.model.row_of(job.path) >= 0,
                    timeout=30_000)
    select(window, job.path)
    details = window.details
    details.plot_tabs.setCurrentIndex(details.samples_tab)
    view = details.sample_view
    first = view.model.rowCount()
    qtbot.waitUntil(lambda: view.model.rowCount() > first, timeout=30_000)
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        window.jobs.cancel(job)
    qtbot.waitUntil(lambda: view.model.rowCount() == api.dataset_header(job.path).num_samples,
                    timeout=10_000)
    last = view.model.rowCount() - 1
    with h5py.File(job.path, "r", locking=False) as f:
        assert shown(qtbot, view, last, 0) == cell_text(f["samples"]["tx_lat"][last], "tx_lat")


def test_a_vanished_file_clears_the_table(qtbot, open_window, workspace, make_dataset, select):
    path = make_dataset(workspace, "vanishing", 2 * PAGE_ROWS + 10, seed=22)
    window, view = samples_tab(qtbot, open_window, workspace, select, path)
    shown(qtbot, view, 0, 0)
    os.remove(path)
    view.goto.setValue(2 * PAGE_ROWS + 5)  # a page not read yet
    qtbot.waitUntil(lambda: view.model.rowCount() == 0, timeout=10_000)
    assert "cannot be read" in view.note.text() and "vanishing" in view.note.text()
    assert "Traceback" not in view.note.text() and window.last_error is None


def test_an_iq_dataset_shows_its_fields_not_its_records(qtbot, open_window, workspace,
                                                        select):
    path = api.create_dataset("records", 3, workspace, dataset_type="iq_raw", seed=1,
                              iq_duration_s=0.0052).path
    _, view = samples_tab(qtbot, open_window, workspace, select, path)
    titles = [view.model.headerData(c, Qt.Orientation.Horizontal)
              for c in range(view.model.columnCount())]
    assert "modulation" in titles and not [t for t in titles if t.startswith("iq")]
    assert "IQ records are not shown" in view.note.text()
    column = titles.index("modulation")
    with h5py.File(path, "r", locking=False) as f:
        assert shown(qtbot, view, 2, 0) == cell_text(f["samples"]["tx_lat"][2], "tx_lat")
        assert view.model.value(2, column) == cell_text(f["samples"]["modulation"][2],
                                                         "modulation")


@pytest.mark.parametrize("value,field,text", [
    (2e6, "frequency_hz", "2,000,000"), (433.92e6, "frequency_hz", "433,920,000"),
    (45.1234567, "tx_lat", "45.123457"), (12.3456, "snr_db", "12.35"),
    (0.00421, "gdop", "0.0042"), (np.float32("nan"), "snr_db", "–"),
    (np.bool_(True), "inside", "yes"), (np.uint8(7), "num_receivers_detected", "7"),
    (1234567890.5, "toa_ns", "1,234,567,890"), (-150.25, "rx_power_dbm", "-150.2"),
])
def test_numbers_read_plainly(value, field, text):
    assert cell_text(value, field) == text



def test_pages_read_after_the_view_is_deleted_are_dropped(qtbot):
    class HalfReadable(FakeSource):
        def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
            if start:
                raise OSError("the disk went away")
            return super().read(start, stop)

    view = SampleView()
    view.model.set_source(HalfReadable(), 2 * PAGE_ROWS)
    assert view.model.value(0, 0) == view.model.value(PAGE_ROWS, 0) == PENDING_TEXT
    shiboken6.delete(view)  # the window closed while both pages were being read
    assert QThreadPool.globalInstance().waitForDone(10_000)
    # The read page and the failed one arrive: neither touches the deleted model (an
    # error raised in their slots would fail the test).
    QCoreApplication.sendPostedEvents()
    QCoreApplication.processEvents()
