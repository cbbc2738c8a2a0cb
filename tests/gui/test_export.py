"""Export from the app: format and file from the dialog, the file written in a worker
shown as a job (progress, Cancel, the result until dismissed), errors shown, and the
action disabled where an export cannot run."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from heimdall_studio.core import api
from heimdall_studio.core.api import DatasetEntry
from heimdall_studio.core.config.units import format_size
from heimdall_studio.core.tools import export as export_module
from heimdall_studio.core.tools.export import PARQUET_HINT
from heimdall_studio.gui import export as gui_export
from heimdall_studio.gui.dialogs import NewDatasetRequest
from heimdall_studio.gui.export import (
    FORMAT_FILTERS,
    PARQUET_MISSING_FILTER,
    ExportCancelled,
    ExportRequest,
    ExportRow,
    ExportWorker,
    choose_export,
)

CSV_FILTER, NPZ_FILTER = FORMAT_FILTERS["csv"], FORMAT_FILTERS["npz"]


@pytest.fixture
def save_dialog(monkeypatch):
    """Answers QFileDialog.getSaveFileName with the next (filename, filter) and records
    what it was asked."""
    answers: list[tuple[str, str]] = []
    asked: list[tuple] = []

    def get_save_file_name(*args, **kwargs):
        asked.append(args)
        return answers.pop(0)

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save_file_name))
    return answers, asked


def _export(qtbot, window, target: Path) -> None:
    """Triggers the action and waits for the export to end."""
    window.action_export_dataset.trigger()
    # The worker's end is delivered through the GUI thread's event loop, so until then
    # the dataset counts as exporting.
    assert window.exports and not window.action_export_dataset.isEnabled()
    assert not window.action_delete_dataset.isEnabled()
    assert not window.action_expand_dataset.isEnabled()
    qtbot.waitUntil(lambda: not window.exports, timeout=30_000)
    assert window.action_export_dataset.isEnabled()


def test_export_csv_from_the_menu(qtbot, open_window, workspace, make_dataset, select,
                                  save_dialog, tmp_path):
    path = make_dataset(workspace, "tabular", 700, seed=11)
    window = open_window(workspace)
    select(window, path)
    assert window.action_export_dataset.objectName() == "action_export_dataset"
    menu_actions = [a for m in window.menuBar().actions() for a in m.menu().actions()]
    assert window.action_export_dataset in menu_actions
    target = tmp_path / "out" / "tabular.csv"
    target.parent.mkdir()
    answers, asked = save_dialog
    answers.append((str(target), CSV_FILTER))
    _export(qtbot, window, target)

    assert asked and CSV_FILTER in asked[0][3] and NPZ_FILTER in asked[0][3]
    assert str(target) in window.statusBar().currentMessage()
    assert sorted(os.listdir(target.parent)) == ["tabular.csv"]  # no leftover part file
    ds = api.load_dataset(path)
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert len(body) == 700
    receivers = [r.name for r in ds.config.receivers]
    assert header[:3] == ["index", "tx_lat", "tx_lon"]
    assert f"snr_db[{receivers[0]}]" in header
    column = {name: i for i, name in enumerate(header)}
    for i in (0, 351, 699):
        row = body[i]
        assert int(row[column["index"]]) == i
        # The core writes f8 with 10 significant digits (about 1 mm of latitude).
        assert float(row[column["tx_lat"]]) == pytest.approx(ds["tx_lat"][i], rel=1e-9)
        assert float(row[column["gdop"]]) == pytest.approx(ds["gdop"][i], rel=1e-6)
        for r, name in enumerate(receivers):
            snr = row[column[f"snr_db[{name}]"]]
            # A receiver that did not detect the signal has no SNR: an empty cell.
            assert (snr != "") == bool(ds["signal_present"][i, r])
            if snr:
                assert float(snr) == pytest.approx(ds["snr_db"][i, r], rel=1e-6)


def test_export_npz_adds_the_extension_and_keeps_every_value(qtbot, open_window, workspace,
                                                             make_dataset, select,
                                                             save_dialog, tmp_path):
    path = make_dataset(workspace, "arrays", 600, seed=12)
    window = open_window(workspace)
    select(window, path)
    save_dialog[0].append((str(tmp_path / "arrays"), NPZ_FILTER))
    target = tmp_path / "arrays.npz"
    _export(qtbot, window, target)

    ds = api.load_dataset(path)
    with np.load(target) as z:
        assert list(z["receivers"]) == [r.name for r in ds.config.receivers]
        for name in ("tx_lat", "tx_lon", "gdop", "signal_present", "distance_km"):
            np.testing.assert_array_equal(z[name], ds[name])
        np.testing.assert_array_equal(np.isnan(z["snr_db"]), ~ds["signal_present"])


def test_failed_export_is_shown_and_keeps_the_replaced_file(qtbot, open_window, workspace,
                                                            make_dataset, select,
                                                            save_dialog, tmp_path,
                                                            monkeypatch):
    path = make_dataset(workspace, "full", 300, seed=13)
    target = tmp_path / "old.csv"
    target.write_text("the previous export\n")

    def disk_full(dataset, fmt, out, progress, stop_requested):
        Path(out).write_text("index,tx_lat\n0,")  # a partial file, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gui_export, "export_dataset", disk_full)
    window = open_window(workspace)
    select(window, path)
    save_dialog[0].append((str(target), CSV_FILTER))
    _export(qtbot, window, target)

    box = window.findChild(QMessageBox, "error_dialog")
    assert box is not None and box.isVisible()
    assert "No space left on device" in box.text() and str(target) in box.text()
    assert target.read_text() == "the previous export\n"
    assert os.listdir(tmp_path).count("old.csv") == 1
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".old")]
    box.close()


def test_cancelled_dialog_exports_nothing(qtbot, open_window, workspace, make_dataset,
                                          select, save_dialog):
    path = make_dataset(workspace, "kept", 300, seed=14)
    window = open_window(workspace)
    select(window, path)
    save_dialog[0].append(("", ""))
    assert window.export_dataset() is None
    assert not window.exports and window.action_export_dataset.isEnabled()


def test_export_disabled_for_unreadable_and_busy_datasets(qtbot, open_window, workspace,
                                                          save_dialog):
    junk = workspace / "junk.h5"
    junk.write_bytes(os.urandom(4096))
    window = open_window(workspace)
    assert not window.action_export_dataset.isEnabled()  # nothing selected
    qtbot.waitUntil(lambda: window.model.row_of(junk) >= 0, timeout=10_000)
    assert window.select_dataset(junk)
    assert not window.action_export_dataset.isEnabled()
    assert window.export_dataset() is None

    request = NewDatasetRequest(api.make_config("writing", seed=5), 2_000_000)
    with qtbot.waitSignal(window.jobs.job_started, timeout=5000):
        job = window.start_create(request)
    qtbot.waitUntil(lambda: job.done > 0 and window.model.row_of(job.path) >= 0,
                    timeout=30_000)
    assert window.select_dataset(job.path)
    assert not window.action_export_dataset.isEnabled()
    assert window.export_dataset() is None
    assert save_dialog[1] == []  # the dialog never opened
    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000):
        window.jobs.cancel(job)
    assert window.select_dataset(job.path)
    qtbot.waitUntil(window.action_export_dataset.isEnabled, timeout=10_000)


def test_aborted_export_leaves_no_file(qtbot, workspace, make_dataset, tmp_path):
    path = make_dataset(workspace, "stopped", 300, seed=15)
    target = tmp_path / "stopped.npz"
    worker = ExportWorker(ExportRequest(path, "npz", target))
    worker.quit()  # as the window does when it closes: stops at the first progress step
    with qtbot.waitSignal(worker.errored, timeout=10_000) as failed:
        worker.start()
    assert isinstance(failed.args[0], ExportCancelled) and "cancelled" in str(failed.args[0])
    assert os.listdir(tmp_path) == ["workspace"]


@pytest.mark.parametrize("typed,chosen,expected", [
    ("a.csv", NPZ_FILTER, "a.csv"),  # a typed known extension wins over the filter
    ("a.NPZ", CSV_FILTER, "a.NPZ"),
    ("a", NPZ_FILTER, "a.npz"),
    ("a.data", CSV_FILTER, "a.data.csv"),
])
def test_format_comes_from_extension_or_filter(qtbot, monkeypatch, tmp_path, typed, chosen,
                                               expected):
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a: (str(tmp_path / typed), chosen)))
    entry = DatasetEntry(tmp_path / "d.h5", header=None)
    request = choose_export(None, entry, lambda title, text: True)
    assert request.target == tmp_path / expected
    assert request.fmt == expected.rsplit(".", 1)[1].lower()


def test_added_extension_asks_before_replacing(qtbot, monkeypatch, tmp_path):
    (tmp_path / "a.npz").write_bytes(b"old")
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a: (str(tmp_path / "a"), NPZ_FILTER)))
    entry = DatasetEntry(tmp_path / "d.h5", header=None)
    asked = []
    assert choose_export(None, entry, lambda t, text: asked.append(text) or False) is None
    assert asked and "a.npz" in asked[0]


def test_an_iq_dataset_is_offered_npz_only(qtbot, monkeypatch, tmp_path):
    path = api.create_dataset("records", 3, tmp_path, dataset_type="iq_raw", seed=1,
                              iq_duration_s=0.0052).path
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda *a: asked.append(a) or (str(tmp_path / "out.csv"), CSV_FILTER)))
    entry = DatasetEntry(path, header=api.dataset_header(path))
    request = choose_export(None, entry, lambda title, text: True)
    assert asked[0][2].endswith("records.npz") and asked[0][3] == NPZ_FILTER
    # a typed extension of a format the dataset does not export to gets the one it does
    assert request.fmt == "npz" and request.target == tmp_path / "out.csv.npz"


# -- the export as a job ---------------------------------------------------------------


def _gate_after_first_slab(monkeypatch):
    """Exports stop after their first slab until they are cancelled (or 10 s pass), so
    that a test acts on an export surely still running."""
    real = gui_export.export_dataset

    def gated(dataset, fmt, out, progress, stop_requested):
        def step(done, total):
            progress(done, total)
            deadline = time.monotonic() + 10
            while done and not stop_requested() and time.monotonic() < deadline:
                time.sleep(0.005)
        return real(dataset, fmt, out, step, stop_requested=stop_requested)

    monkeypatch.setattr(gui_export, "export_dataset", gated)


def _running_export(qtbot, window, path, target, save_dialog, monkeypatch):
    _gate_after_first_slab(monkeypatch)
    monkeypatch.setattr(export_module, "SLAB_ROWS", 128)
    save_dialog[0].append((str(target), CSV_FILTER))
    worker = window.export_dataset()
    row = window.export_rows[-1]
    qtbot.waitUntil(lambda: row.done > 0, timeout=10_000)
    return worker, row


def test_export_row_shows_progress_and_the_result_until_dismissed(
        qtbot, open_window, workspace, make_dataset, select, save_dialog, tmp_path,
        monkeypatch):
    path = make_dataset(workspace, "shown", 1000, seed=16)
    monkeypatch.setattr(export_module, "SLAB_ROWS", 128)  # several progress steps
    window = open_window(workspace)
    select(window, path)
    target = tmp_path / "shown.csv"
    save_dialog[0].append((str(target), CSV_FILTER))
    seen = []
    worker = window.export_dataset()
    worker.progressed.connect(seen.append)
    row = window.export_rows[0]
    qtbot.waitUntil(row.isVisible, timeout=5000)
    assert window.job_panel.isAncestorOf(row)
    assert row.cancel_button.isVisible() and not row.dismiss_button.isVisible()
    qtbot.waitUntil(lambda: not window.exports, timeout=30_000)

    assert seen[-1] == (1000, 1000) and len(seen) >= 3
    assert row.state == "finished" and row.progress.value() == row.progress.maximum()
    size = format_size(target.stat().st_size)
    assert row.stats.text() == f"Exported 1,000 samples to {target} ({size})"
    assert row.open_button.isVisible() and not row.cancel_button.isVisible()
    opened = []
    monkeypatch.setattr(gui_export.QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(url.toLocalFile())))
    qtbot.mouseClick(row.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str(tmp_path)]
    window.refresh()  # other news comes and goes: the result stays
    qtbot.wait(100)
    assert row.isVisible() and row in window.export_rows
    qtbot.mouseClick(row.dismiss_button, Qt.MouseButton.LeftButton)
    assert row not in window.export_rows
    qtbot.waitUntil(lambda: window.job_panel.findChild(ExportRow) is None, timeout=5000)


def test_cancel_leaves_no_file_under_the_final_name(qtbot, open_window, workspace,
                                                    make_dataset, select, save_dialog,
                                                    tmp_path, monkeypatch):
    path = make_dataset(workspace, "stopped", 1000, seed=17)
    window = open_window(workspace)
    select(window, path)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "stopped.csv"
    _, row = _running_export(qtbot, window, path, target, save_dialog, monkeypatch)
    assert 0 < row.progress.value() < row.progress.maximum()
    assert "samples/s" in row.stats.text() and "ETA" in row.stats.text()
    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.exports, timeout=30_000)
    assert row.state == "cancelled" and "cancelled" in row.stats.text()
    assert os.listdir(out) == []  # neither the final name nor a part file
    assert window.findChild(QMessageBox, "error_dialog") is None
    assert row.dismiss_button.isVisible() and not row.open_button.isVisible()


def test_closing_asks_about_exports_only_while_one_runs(qtbot, open_window, workspace,
                                                        make_dataset, select, save_dialog,
                                                        tmp_path, monkeypatch,
                                                        answer_questions_yes):
    path = make_dataset(workspace, "closing", 1000, seed=18)
    window = open_window(workspace)
    select(window, path)
    save_dialog[0].append((str(tmp_path / "done.csv"), CSV_FILTER))
    worker = window.export_dataset()
    # The export has ended, though its end may not have reached the window yet.
    qtbot.waitUntil(lambda: not worker.running, timeout=30_000)
    window.close()
    assert not [t for t, _ in answer_questions_yes if t == "Stop exports?"]
    assert (tmp_path / "done.csv").exists()

    path = make_dataset(workspace, "running", 1000, seed=19)
    window = open_window(workspace)
    select(window, path)
    target = tmp_path / "running.csv"
    worker, _ = _running_export(qtbot, window, path, target, save_dialog, monkeypatch)
    window.close()
    assert [t for t, _ in answer_questions_yes] == ["Stop exports?"]
    assert "'running'" in answer_questions_yes[0][1]
    qtbot.waitUntil(lambda: not worker.running, timeout=10_000)
    assert not target.exists()


def test_the_dialog_opens_in_documents_then_in_the_last_folder(
        qtbot, open_window, workspace, make_dataset, select, save_dialog, tmp_path):
    path = make_dataset(workspace, "placed", 300, seed=20)
    window = open_window(workspace)
    select(window, path)
    answers, asked = save_dialog
    answers.append(("", ""))
    window.export_dataset()
    proposed = Path(asked[0][2])
    assert proposed == gui_export.documents_folder() / "placed.csv"
    assert workspace not in proposed.parents
    folder = tmp_path / "exports"
    folder.mkdir()
    answers.append((str(folder / "placed.csv"), CSV_FILTER))
    window.export_dataset()
    qtbot.waitUntil(lambda: not window.exports, timeout=30_000)
    answers.append(("", ""))
    window.export_dataset()
    assert Path(asked[2][2]) == folder / "placed.csv"


def test_parquet_from_the_menu(qtbot, open_window, workspace, make_dataset, select,
                               save_dialog, tmp_path):
    import pyarrow.parquet as pq  # the test extra installs it

    path = make_dataset(workspace, "frame", 500, seed=23)
    window = open_window(workspace)
    select(window, path)
    answers, asked = save_dialog
    answers.append((str(tmp_path / "frame"), FORMAT_FILTERS["parquet"]))
    _export(qtbot, window, tmp_path / "frame.parquet")
    assert FORMAT_FILTERS["parquet"] in asked[0][3]
    table = pq.read_table(tmp_path / "frame.parquet")
    ds = api.load_dataset(path)
    assert table.num_rows == 500
    np.testing.assert_array_equal(table.column("gdop").to_numpy(), ds["gdop"])
    assert window.export_rows[0].stats.text().startswith("Exported 500 samples to ")


def test_without_pyarrow_the_dialog_says_how_to_get_parquet(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(gui_export, "parquet_available", lambda: False)
    asked, refused = [], []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda *a: asked.append(a) or (str(tmp_path / "x"), PARQUET_MISSING_FILTER)))
    entry = DatasetEntry(tmp_path / "d.h5", header=None)
    assert choose_export(None, entry, lambda t, text: True,
                         lambda title, text: refused.append(text)) is None
    assert PARQUET_MISSING_FILTER in asked[0][3]
    assert "pip install 'heimdall-studio[parquet]'" in PARQUET_MISSING_FILTER
    assert refused == [PARQUET_HINT]
