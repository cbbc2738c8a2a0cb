"""What a first-time user met: empty start, stale details during a run, the Expand dialog's
layout, window size, silent failures, clipped tables, axis numbers, menus, opening files,
recent workspaces and dark palettes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QDropEvent, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
)

from heimdall_studio.core import api
from heimdall_studio.core.config.units import format_size
from heimdall_studio.gui import settings
from heimdall_studio.gui.browser import COLUMNS, size_mib_text
from heimdall_studio.gui.dialogs import NewDatasetDialog
from heimdall_studio.gui.plots import HistogramPlot, ReadableAxis, TrendPlot


def test_an_empty_workspace_says_what_to_do_and_offers_the_new_dialog(
        qtbot, open_window, workspace, make_dataset, select):
    window = open_window(workspace)
    details = window.details
    assert details.stack.currentWidget().objectName() == "empty_state"
    button = window.findChild(QPushButton, "create_first_dataset")
    assert button.isVisible() and button.text() == "Create your first dataset"
    assert "No datasets" in details.empty_text.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert isinstance(window.dialog, NewDatasetDialog) and window.dialog.isVisible()
    window.dialog.reject()

    path = make_dataset(workspace, "first", 300, seed=1)
    select(window, path)
    assert details.stack.currentWidget().objectName() == "details_content"
    window.browser.clearSelection()
    assert details.stack.currentWidget().objectName() == "empty_state"
    assert "1 dataset in this workspace" in details.empty_text.text()


def test_size_and_history_follow_a_dataset_being_written(qtbot, open_window, workspace,
                                                         make_dataset, select):
    path = make_dataset(workspace, "growing", 1000, seed=2)
    window = open_window(workspace)
    select(window, path)
    details = window.details
    assert details.history_table.rowCount() == 1
    window.watcher.set_quiet_paths({path})  # as while a run of ours writes it
    api.expand_dataset(path, 4000)  # the file grows; the listing is not told
    header = api.dataset_header(path)
    details.set_sample_count(path, 5000)  # what a run's progress reports
    qtbot.waitUntil(lambda: details.history_table.rowCount() == 2, timeout=10_000)
    assert details.config_table.item(1, 0).text() == "size"
    assert details.config_table.item(1, 1).text() == format_size(header.size_bytes)
    assert details.config_table.item(0, 1).text() == "5,000"
    assert details.history_table.item(1, 0).text() == "expand"


def test_the_expand_dialog_keeps_the_count_in_view_and_values_legible(
        qtbot, open_window, workspace, make_dataset, select):
    path = make_dataset(workspace, "uhf", 500, frequency_mhz=430.0, seed=3)
    window = open_window(workspace)
    select(window, path)
    dialog = window.expand_dataset()
    count = dialog.findChild(QSpinBox, "num_samples")
    scroll = dialog.findChild(QScrollArea)
    assert not scroll.isAncestorOf(count) and not scroll.isAncestorOf(dialog.form.sample_total)
    qtbot.mouseClick(dialog.findChild(QToolButton, "advanced_toggle"), Qt.MouseButton.LeftButton)
    assert dialog.form.advanced.isVisible()
    top_left = count.mapTo(dialog, QPoint(0, 0))
    assert count.isVisible() and 0 <= top_left.y() <= dialog.height() - count.height()
    assert "current 500 + additional 100,000 = total 100,500" in dialog.form.sample_total.text()

    frequency = dialog.findChild(QDoubleSpinBox, "frequency_mhz")
    palette = frequency.palette()
    assert not frequency.isEnabled()  # still disabled: never editable
    disabled, active = QPalette.ColorGroup.Disabled, QPalette.ColorGroup.Active
    assert palette.color(disabled, QPalette.ColorRole.Text) == palette.color(
        active, QPalette.ColorRole.Text)
    editor = frequency.lineEdit()  # what paints the digits
    assert editor.palette().color(disabled, QPalette.ColorRole.Text) == palette.color(
        active, QPalette.ColorRole.Text)
    assert "inherited" in frequency.toolTip().lower()
    dialog.reject()


def test_the_window_fits_the_screen_it_opens_on(qtbot, open_window, workspace):
    window = open_window(workspace)
    available = window.screen().availableGeometry()
    least = window.minimumSizeHint()  # what the panes need; the test screen is 800 wide
    assert window.width() <= max(available.width(), least.width())
    assert window.height() <= max(available.height(), least.height())
    assert window.width() < 1400  # the default size was cut down to the screen
    window.resize(2100, 1350)  # the default size at a scale factor of 1.5
    small = QRect(0, 0, 1600, 1000)
    window.fit_to_screen(small)
    assert small.contains(window.frameGeometry())  # title bar and borders included


def test_show_in_folder_says_when_no_file_manager_opens_it(qtbot, open_window, workspace,
                                                          make_dataset, select, monkeypatch):
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    path = make_dataset(workspace, "shown", 300, seed=4)
    window = open_window(workspace)
    select(window, path)
    window.action_reveal.trigger()
    assert str(path.parent) in window.last_error
    box = window.findChild(QMessageBox, "error_dialog")
    assert box.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse


def test_detail_tables_size_their_columns_and_scroll(qtbot, open_window, workspace,
                                                     make_dataset, select):
    path = make_dataset(workspace, "net", 300, seed=5)
    window = open_window(workspace)
    window.resize(700, 600)
    select(window, path)
    details = window.details
    for table in (details.receiver_table, details.history_table):
        details.info_tabs.setCurrentWidget(table)
        QApplication.processEvents()
        assert not table.horizontalHeader().stretchLastSection()
        shown = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
        for column in shown:
            assert table.columnWidth(column) >= table.sizeHintForColumn(column), column
        assert table.horizontalScrollBar().maximum() > 0  # the last columns are reachable


def test_plot_axes_read_large_numbers_and_every_plot_uses_them(qtbot, open_window,
                                                               workspace):
    axis = ReadableAxis("left")
    assert axis.tickStrings([0, 1e6, 2e6, 2.5e6], 1, 5e5) == ["0", "1M", "2M", "2.5M"]
    assert axis.tickStrings([0, 1500, 3000], 1, 1500) == ["0", "1,500", "3,000"]
    assert axis.tickStrings([0, 50_000], 1, 50_000) == ["0", "50k"]
    assert axis.tickStrings([0, 0.5, 1], 1, 0.5) == ["0", "0.5", "1.0"]  # as pyqtgraph has it
    window = open_window(workspace)
    plots = window.findChildren(HistogramPlot) + window.findChildren(TrendPlot)
    assert len(plots) >= 6
    for plot in plots:
        assert isinstance(plot.getAxis("left"), ReadableAxis)
        assert isinstance(plot.getAxis("bottom"), ReadableAxis)


def test_plots_follow_a_dark_palette(qtbot):
    plot = HistogramPlot("SNR", "SNR (dB)", "links")
    qtbot.addWidget(plot)
    before = QApplication.palette()
    dark = QPalette(before)
    dark.setColor(QPalette.ColorRole.Window, QColor(32, 32, 36))
    dark.setColor(QPalette.ColorRole.WindowText, QColor(230, 230, 230))
    try:
        QApplication.setPalette(dark)
        QApplication.processEvents()
        assert plot.backgroundBrush().color() == QColor(32, 32, 36)
        assert plot.getAxis("left").textPen().color() == QColor(230, 230, 230)
    finally:
        QApplication.setPalette(before)
    QApplication.processEvents()
    assert plot.backgroundBrush().color() == before.color(QPalette.ColorRole.Window)


def test_context_menu_and_double_click(qtbot, open_window, workspace, make_dataset, select):
    path = make_dataset(workspace, "menu", 300, seed=6)
    window = open_window(workspace)
    select(window, path)
    names = [a.objectName() for a in window.browser_menu().actions() if not a.isSeparator()]
    assert names[:1] == ["action_expand_dataset"]
    for name in ("action_export_dataset", "action_reveal", "action_copy_path",
                 "action_delete_dataset"):
        assert name in names
    from_dataset = {"new_from_dataset", "action_new_from_dataset"}
    has_action = any(a.objectName() in from_dataset for a in window.actions())
    assert has_action == bool(from_dataset & set(names))
    window.action_copy_path.trigger()
    assert QGuiApplication.clipboard().text() == str(path)

    window.browser.clearSelection()
    index = window.model.index(window.model.row_of(path), 0)
    window._show_browser_menu(window.browser.visualRect(index).center())
    menu = window.findChild(QMenu, "browser_menu")
    assert menu is not None and window.selected_entry().path == path  # the row clicked
    menu.close()

    window.browser.doubleClicked.emit(index)
    assert window.dialog is None  # no Expand dialog
    assert window.details.stack.currentWidget().objectName() == "details_content"


def test_a_dataset_opened_or_dropped_from_another_folder(qtbot, open_window, workspace,
                                                         tmp_path, make_dataset):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    opened = make_dataset(elsewhere, "opened", 300, seed=7)
    window = open_window(workspace)
    window.open_dataset(opened)
    qtbot.waitUntil(lambda: window.selected_entry() is not None
                    and window.selected_entry().path == opened.resolve(), timeout=10_000)
    assert window.workspace == elsewhere.resolve()

    dropped = make_dataset(workspace, "dropped", 300, seed=8)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, data,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert event.isAccepted()
    qtbot.waitUntil(lambda: window.selected_entry() is not None
                    and window.selected_entry().path == dropped.resolve(), timeout=10_000)
    assert window.workspace == workspace.resolve()


def test_recent_workspaces_are_kept_and_gone_ones_greyed(qtbot, open_window, workspace,
                                                         tmp_path):
    other, gone = tmp_path / "other", tmp_path / "gone"
    other.mkdir()
    gone.mkdir()
    window = open_window(workspace)
    window.set_workspace(gone)
    window.set_workspace(other)
    gone.rmdir()
    assert settings.read_recent()[:3] == [other.resolve(), gone.resolve(), workspace.resolve()]
    window._fill_recent_menu()
    actions = {Path(a.data()): a for a in window.recent_menu.actions()}
    assert not actions[gone.resolve()].isEnabled()
    actions[workspace.resolve()].trigger()
    assert window.workspace == workspace.resolve()
    for i in range(settings.MAX_RECENT + 2):
        settings.add_recent(tmp_path / f"w{i}")
    assert len(settings.read_recent()) == settings.MAX_RECENT


def test_browser_sizes_read_in_mebibytes_as_the_details(open_window, workspace, make_dataset):
    path = make_dataset(workspace, "sized", 2000, seed=9)
    window = open_window(workspace)
    column = COLUMNS.index("Size (MiB)")
    row = window.model.row_of(path)
    size = api.dataset_header(path).size_bytes
    assert window.model.index(row, column).data() == size_mib_text(size)
    assert size_mib_text(1_720_320_000) == "1,640.6" and size_mib_text(360_000) == "0.34"
    # the same number as the details give (in MiB too)
    assert format_size(size) == f"{size_mib_text(size)} MiB"
