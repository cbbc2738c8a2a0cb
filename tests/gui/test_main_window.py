"""The main window: browser, details, file actions, settings and start-up."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QTableView, QToolBar

from heimdall_studio.core import api
from heimdall_studio.gui import app as gui_app
from heimdall_studio.gui import settings, watcher
from heimdall_studio.gui.browser import size_mib_text
from heimdall_studio.gui.main_window import MainWindow


def _status(window: MainWindow, path: Path) -> str:
    return window.model.index(window.model.row_of(path), 10).data()


def test_start_up_objects_stay_out_of_full_collections_while_the_window_is_open(
        qtbot, open_window, workspace):
    window = open_window(workspace)
    # start-up's objects (Qt's wrappers, pyqtgraph, h5py): frozen, full passes skip them
    assert gc.get_freeze_count() > 10_000
    window.close()
    assert gc.get_freeze_count() == 0  # a closed window's objects are collected again


def test_browser_lists_datasets_with_their_parameters(qtbot, open_window, workspace,
                                                     make_dataset):
    make_dataset(workspace, "vhf", 2000, frequency_mhz=145.0, seed=1)
    make_dataset(workspace, "uhf", 1000, frequency_mhz=430.0, tx_power_dbm=40.0, seed=2)
    window = open_window(workspace)
    view = window.findChild(QTableView, "dataset_browser")
    assert view is window.browser and view.model().rowCount() == 2
    row = window.model.row_of(workspace / "uhf.h5")
    cells = [window.model.index(row, c).data() for c in range(11)]
    assert cells[:8] == ["uhf", "feature_based", "1,000", "430", "40", "3", "10", "0.7"]
    assert cells[9] == size_mib_text(api.dataset_header(workspace / "uhf.h5").size_bytes)
    assert cells[10] == "ok"
    # Sorting by samples sorts numbers as numbers.
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert view.model().index(0, 0).data() == "vhf"


def test_browser_sorts_unreadable_files_last_and_selection_follows_its_file(
        open_window, workspace, make_dataset, select):
    for name, count, seed in (("a", 1000, 1), ("b", 3000, 2), ("c", 2000, 3)):
        make_dataset(workspace, name, count, seed=seed)
    (workspace / "junk.h5").write_bytes(b"not hdf5")
    window = open_window(workspace)
    model, view = window.model, window.browser

    def names() -> list[str]:
        return [model.index(row, 0).data() for row in range(model.rowCount())]

    assert names() == ["a", "b", "c", "junk"]  # by name: the unreadable file among them
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert names() == ["b", "c", "a", "junk"]
    view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert names() == ["a", "c", "b", "junk"]  # no sample count: last either way

    select(window, workspace / "c.h5")
    view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert names() == ["junk", "c", "b", "a"]
    assert window.selected_entry().path == workspace / "c.h5"

    # A refresh that reorders the same files (a grows past b) keeps the selection too.
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    grown = [dataclasses.replace(e, header=dataclasses.replace(e.header, num_samples=9000))
             if e.name == "a" else e for e in model.entries()]
    model.set_entries(grown)
    assert names() == ["a", "b", "c", "junk"]
    assert model.index(0, 2).data() == "9,000"
    assert window.selected_entry().path == workspace / "c.h5"


def test_rows_appear_as_the_listing_reads_the_files(qtbot, workspace, make_dataset,
                                                    monkeypatch):
    for name in "dcab":
        make_dataset(workspace, name, 200, seed=1)
    monkeypatch.setattr(watcher, "FIRST_BATCH_S", 0)  # a batch per file after the first
    monkeypatch.setattr(watcher, "LAST_BATCH_S", 0)
    window = MainWindow(workspace)
    qtbot.addWidget(window)
    shown = []
    window.watcher.more_listed.connect(lambda entries: shown.append(
        [window.model.index(row, 0).data() for row in range(window.model.rowCount())]))
    with qtbot.waitSignal(window.watcher.listed, timeout=10_000):
        window.show()
    assert shown == [["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"]]
    assert window.listings == 1 and window.workspace_label.text().startswith("4 datasets")


def test_rows_of_a_listing_going_on_go_where_the_sort_puts_them(
        open_window, workspace, make_dataset, select):
    make_dataset(workspace, "a", 1000, seed=1)
    make_dataset(workspace, "c", 2000, seed=2)
    window = open_window(workspace)
    model, view = window.model, window.browser
    view.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # by samples
    select(window, workspace / "a.h5")
    make_dataset(workspace, "b", 3000, seed=3)
    make_dataset(workspace, "d", 500, seed=4)
    (workspace / "junk.h5").write_bytes(b"junk")
    entries = {e.name: e for e in api.list_datasets(workspace)}
    model.add_entries([entries["junk"], entries["d"], entries["b"]])
    assert [model.index(row, 0).data() for row in range(model.rowCount())] == [
        "b", "c", "a", "d", "junk"]
    assert window.selected_entry().path == workspace / "a.h5"
    model.add_entries([dataclasses.replace(entries["c"], header=None, error="gone bad")])
    assert model.rowCount() == 5 and model.index(1, 10).data() == "unreadable"


def test_a_dataset_with_damaged_samples_turns_unreadable_once_its_samples_are_read(
        qtbot, open_window, workspace, make_dataset, select):
    path = make_dataset(workspace, "damaged", 500, seed=3)
    make_dataset(workspace, "fine", 500, seed=4)
    with h5py.File(path, "r+") as f:  # the header still says float32 GDOP values
        del f["samples/gdop"]
        f["samples/gdop"] = np.zeros(500, "i4")
    window = open_window(workspace)
    assert _status(window, path) == "ok"  # a listing reads headers only
    select(window, path)
    qtbot.waitUntil(lambda: _status(window, path) == "unreadable", timeout=10_000)
    assert window.selected_entry().path == path  # still selected
    assert "cannot be read" in window.details.title.text()
    assert "/samples/gdop" in window.details.title.text()
    assert not window.action_expand_dataset.isEnabled()
    tooltip = window.model.index(window.model.row_of(path), 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "dtype int32" in tooltip
    assert window.workspace_label.text().startswith("1 dataset, 1 unreadable")

    listings = window.listings
    window.refresh()  # listed again, unchanged: still refused
    qtbot.waitUntil(lambda: window.listings > listings, timeout=10_000)
    assert _status(window, path) == "unreadable"
    assert _status(window, workspace / "fine.h5") == "ok"

    with h5py.File(path, "r+") as f:  # repaired: a changed file is listed afresh
        del f["samples/gdop"]
        f["samples/gdop"] = np.zeros(500, "f4")
    listings = window.listings
    window.refresh()
    qtbot.waitUntil(lambda: window.listings > listings, timeout=10_000)
    assert _status(window, path) == "ok"


def test_actions_are_in_toolbar_and_menu_with_shortcuts(open_window, workspace):
    window = open_window(workspace)
    toolbar = window.findChild(QToolBar, "main_toolbar")
    menu_actions = [a for m in window.menuBar().actions() for a in m.menu().actions()]
    for action, keys in ((window.action_new_dataset, "Ctrl+N"),
                         (window.action_expand_dataset, "Ctrl+E"),
                         (window.action_refresh, "F5")):
        assert action.shortcut().toString() == keys
        assert action in toolbar.actions() and action in menu_actions
    assert window.action_new_dataset.objectName() == "action_new_dataset"
    assert window.action_expand_dataset.objectName() == "action_expand_dataset"
    assert not window.action_expand_dataset.isEnabled()  # nothing selected


def test_unreadable_files_are_listed_without_crashing(qtbot, open_window, workspace,
                                                     make_dataset, select):
    make_dataset(workspace, "good", 500, seed=3)
    junk = workspace / "junk.h5"
    junk.write_bytes(os.urandom(4096))
    with h5py.File(workspace / "foreign.h5", "w") as f:
        f.attrs["format"] = "something-else"
    window = open_window(workspace)
    assert window.model.rowCount() == 3
    assert _status(window, junk) == "unreadable"
    assert _status(window, workspace / "foreign.h5") == "unreadable"
    tooltip = window.model.index(window.model.row_of(junk), 10).data(
        Qt.ItemDataRole.ToolTipRole)
    assert "junk.h5" in tooltip and "HDF5" in tooltip
    assert "not a Heimdall Studio dataset" in window.model.index(
        window.model.row_of(workspace / "foreign.h5"), 0).data(Qt.ItemDataRole.ToolTipRole)

    select(window, junk)
    assert "cannot be read" in window.details.title.text()
    assert not window.action_expand_dataset.isEnabled()
    assert window.action_delete_dataset.isEnabled()
    select(window, workspace / "good.h5")
    assert window.action_expand_dataset.isEnabled()


def test_browser_follows_files_appearing_changing_and_vanishing(qtbot, open_window,
                                                               workspace, make_dataset):
    window = open_window(workspace)
    assert window.model.rowCount() == 0
    path = make_dataset(workspace, "late", 700, seed=4)
    qtbot.waitUntil(lambda: window.model.row_of(path) >= 0, timeout=10_000)
    api.expand_dataset(path, 300)
    qtbot.waitUntil(lambda: window.model.entry(window.model.row_of(path)).header.num_samples
                    == 1000, timeout=10_000)
    path.unlink()
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=10_000)


def test_details_show_config_history_distributions_and_map(qtbot, open_window, workspace,
                                                           make_dataset, select):
    path = make_dataset(workspace, "detailed", 3000, frequency_mhz=433.0, seed=5)
    api.expand_dataset(path, 1000)
    window = open_window(workspace)
    details = window.details
    with qtbot.waitSignal(details.summary_loaded, timeout=10_000) as loaded:
        select(window, path)
    summary = loaded.args[0]
    assert summary.num_samples == 4000
    config = {details.config_table.item(r, 0).text(): details.config_table.item(r, 1).text()
              for r in range(details.config_table.rowCount())}
    assert config["frequency_mhz"] == "433" and config["seed"] == "5"
    assert config["propagation.path_loss_model"] == "two_ray"
    assert details.receiver_table.rowCount() == 7
    assert details.history_table.rowCount() == 2
    assert details.history_table.item(1, 0).text() == "expand"
    assert details.gdop_plot.total() == 4000
    assert details.detected_plot.total() == 4000
    assert details.snr_plot.total() >= 3 * 4000
    assert details.distance_plot.total() == details.snr_plot.total()
    assert details.map_plot.point_count() == 4000  # every sample, not a prefix
    assert "all 4,000 samples" in details.note.text()
    brushes = np.array(details.map_plot.point_colors())  # coloured inside or outside
    inside = summary.map.samples.inside
    assert inside.sum() > (~inside).sum() > 0
    assert len(np.unique(brushes[inside], axis=0)) == len(np.unique(brushes[~inside], axis=0)) == 1
    assert (brushes[inside][0] != brushes[~inside][0]).any()


def test_delete_asks_and_removes_the_file(qtbot, open_window, workspace, make_dataset,
                                          select, answer_questions_yes):
    path = make_dataset(workspace, "doomed", 300, seed=6)
    window = open_window(workspace)
    select(window, path)
    window.ask = lambda title, text: False
    window.action_delete_dataset.trigger()
    assert path.exists()
    del window.ask
    window.action_delete_dataset.trigger()
    assert not path.exists()
    assert "doomed" in answer_questions_yes[-1][1]
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=10_000)


def test_reveal_opens_the_folder(qtbot, open_window, workspace, make_dataset, select,
                                 monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    path = make_dataset(workspace, "shown", 300, seed=7)
    window = open_window(workspace)
    select(window, path)
    window.action_reveal.trigger()
    assert opened and Path(opened[0].toLocalFile()) == workspace.resolve()


def test_open_another_workspace(qtbot, open_window, workspace, tmp_path, make_dataset):
    other = tmp_path / "other"
    other.mkdir()
    make_dataset(other, "elsewhere", 300, seed=8)
    window = open_window(workspace)
    window.set_workspace(other)
    qtbot.waitUntil(lambda: window.model.row_of(other / "elsewhere.h5") >= 0,
                    timeout=10_000)
    assert str(other) in window.windowTitle()
    assert settings.read_workspace() == other.resolve()


def test_settings_persist_and_bad_values_never_block_start_up(qtbot, open_window, workspace,
                                                              private_settings):
    window = open_window(workspace)
    window.resize(1000, 700)
    window.close()
    stored = settings.open_settings()
    assert Path(stored.fileName()).is_relative_to(private_settings)  # never the user's
    assert settings.read_workspace() == workspace.resolve()
    assert isinstance(stored.value(settings.GEOMETRY_KEY), QByteArray)

    stored.setValue(settings.GEOMETRY_KEY, "not a geometry")
    stored.setValue(settings.STATE_KEY, QByteArray(b"\x00garbage"))
    stored.setValue(settings.SPLITTERS_KEY, 42)
    stored.setValue(settings.WORKSPACE_KEY, 17)
    stored.sync()
    assert settings.read_workspace() is None
    again = open_window(workspace)
    # The default size, within the screen (as far as the panes' least size allows).
    available, least = again.screen().availableGeometry(), again.minimumSizeHint()
    assert again.width() == max(min(1400, available.width()), least.width())
    assert again.height() == max(min(900, available.height()), least.height())


def test_workspace_choice_order(monkeypatch, tmp_path):
    monkeypatch.delenv(api.WORKSPACE_ENV, raising=False)
    (tmp_path / "remembered").mkdir()
    settings.write_workspace(tmp_path / "remembered")
    assert gui_app.choose_workspace(tmp_path / "given") == (tmp_path / "given", None)
    assert gui_app.choose_workspace(None) == (tmp_path / "remembered", None)
    monkeypatch.setenv(api.WORKSPACE_ENV, str(tmp_path / "env"))
    assert gui_app.choose_workspace(None) == (tmp_path / "env", None)


def test_a_saved_workspace_of_an_unknown_user_is_ignored(monkeypatch):
    monkeypatch.delenv(api.WORKSPACE_ENV, raising=False)
    settings.write_workspace("~no-such-user-of-heimdall/datasets")
    assert settings.read_workspace() is None
    assert gui_app.choose_workspace(None) == (api.default_workspace(), None)


def test_a_saved_workspace_that_is_gone_gives_the_default_one_and_says_so(
        qtbot, monkeypatch, tmp_path, make_dataset, restore_logging):
    monkeypatch.delenv(api.WORKSPACE_ENV, raising=False)
    default = api.default_workspace()
    assert default.is_relative_to(os.environ["XDG_DATA_HOME"])  # never the user's
    gone = tmp_path / "gone"
    make_dataset(gone, "lost", 300, seed=9)
    settings.write_workspace(gone)
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()  # as a benchmark's temporary folder was

    seen: dict[str, object] = {}
    real_create = gui_app.create_main_window

    def create(folder):
        window = real_create(folder)
        qtbot.addWidget(window)

        def look() -> None:  # once the generator is ready: its news came and went
            if window.run_process_ready:
                seen.update(workspace=window.workspace,
                            message=window.statusBar().currentMessage())
                window.close()

        poll = QTimer(window, interval=50)
        poll.timeout.connect(look)
        poll.start()
        QTimer.singleShot(60_000, window.close)  # the test fails below, it never hangs
        return window

    monkeypatch.setattr(gui_app, "create_main_window", create)
    assert gui_app.run_app(None) == 0
    assert seen["workspace"] == default.resolve()
    assert f"{gone}, is not there any more" in seen["message"]
    assert str(default) in seen["message"]
    assert not gone.exists()  # not made again
    assert settings.read_workspace() == default.resolve()  # the next start is quiet


def test_run_app_shows_the_window_and_returns_on_close(qtbot, workspace, monkeypatch,
                                                       restore_logging):
    windows: list[MainWindow] = []
    real_create = gui_app.create_main_window

    def create(folder):
        window = real_create(folder)
        qtbot.addWidget(window)
        windows.append(window)
        QTimer.singleShot(200, window.close)
        return window

    monkeypatch.setattr(gui_app, "create_main_window", create)
    hook = sys.excepthook
    assert gui_app.run_app(str(workspace), debug=True) == 0
    assert sys.excepthook is hook
    assert windows and windows[0].workspace == workspace.resolve()
    assert QApplication.organizationName() == "Heimdall Studio"
    assert QApplication.applicationName() == "Heimdall Studio"


def test_uncaught_exceptions_are_logged_and_shown(qtbot, caplog):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    with caplog.at_level(logging.CRITICAL):
        box = gui_app.report_exception(*exc_info)
    assert "uncaught exception" in caplog.text
    assert isinstance(box, QMessageBox) and box.objectName() == "exception_dialog"
    assert box.isVisible() and "boom" in box.text() and "RuntimeError" in box.detailedText()
    box.close()


def test_singletons_survive_many_signal_emissions(qtbot):
    """Guards the binding pin: PySide6 6.12.0 on Python 3.11 drops a reference to True on
    every emit, and the interpreter aborts after a few thousand."""
    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        fired = Signal()

    source = Source()
    seen = []
    source.fired.connect(lambda: seen.append(None))
    for _ in range(20_000):
        source.fired.emit()
    before = sys.getrefcount(True)
    for _ in range(1000):
        source.fired.emit()
    assert len(seen) == 21_000
    assert sys.getrefcount(True) >= before - 10


@pytest.mark.parametrize("size,text", [(10, "10 B"), (2048, "2.0 KiB"),
                                       (5 * 1024 ** 3, "5.0 GiB")])
def test_format_size(size, text):
    from heimdall_studio.core.config.units import format_size
    assert format_size(size) == text


def test_the_map_shows_the_relief_a_dataset_was_drawn_over(qtbot, open_window, workspace,
                                                          make_dataset, select):
    over = make_dataset(workspace, "over-terrain", 400, seed=5)
    flat = make_dataset(workspace, "flat-plane", 400, seed=5,
                        propagation={"terrain": {"source": "none"}})
    window = open_window(workspace)
    details = window.details
    with qtbot.waitSignal(details.summary_loaded, timeout=10_000) as loaded:
        select(window, over)
    relief = details.map_plot.relief
    assert relief.isVisible() and relief.image is not None
    south, north, west, east = api.dataset_terrain(over).bounds
    rect = relief.mapRectToParent(relief.boundingRect())
    assert rect.left() < west < rect.left() + 0.02 and rect.right() > east
    assert rect.top() < south and rect.bottom() > north  # y grows north on the plot
    assert loaded.args[0].map.relief.shape[2] == 3
    config = {details.config_table.item(r, 0).text(): details.config_table.item(r, 1).text()
              for r in range(details.config_table.rowCount())}
    assert config["propagation.terrain.source"] == "builtin"
    assert len(config["propagation.terrain.sha256"]) == 64
    with qtbot.waitSignal(details.summary_loaded, timeout=10_000):
        select(window, flat)
    assert not details.map_plot.relief.isVisible()
