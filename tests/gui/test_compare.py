"""Dataset > Compare With...: two datasets' distributions overlaid, their config
differences listed."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QTableWidget

from heimdall_studio.gui.compare import CompareDialog


def _rows(table: QTableWidget) -> dict[str, tuple[str, str]]:
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def test_compare_two_datasets_from_the_menu(qtbot, open_window, workspace, make_dataset,
                                            select):
    first = make_dataset(workspace, "uhf", 400, seed=31)
    make_dataset(workspace, "vhf", 250, seed=32, frequency_mhz=433.5)
    window = open_window(workspace)
    qtbot.waitUntil(lambda: len(window.model.entries()) == 2, timeout=10_000)
    select(window, first)
    action = window.action_compare_datasets
    assert action.objectName() == "compare_datasets"
    menu_actions = [a for m in window.menuBar().actions() for a in m.menu().actions()]
    assert action in menu_actions
    action.trigger()
    dialog = window.findChild(CompareDialog, "compare_dialog")
    assert dialog is not None and dialog.isVisible()
    assert dialog.first.currentText() == "uhf" and dialog.second.currentText() == "vhf"
    qtbot.waitUntil(lambda: "Densities" in dialog.note.text(), timeout=10_000)

    for key, plot in dialog.plots.items():
        assert plot.legend_labels() == ["uhf (400 samples)", "vhf (250 samples)"], key
        for curve in (plot.curve, plot.second):
            edges, values = curve.getData()
            width = edges[1] - edges[0]
            assert abs(np.sum(values) * width - 1.0) < 1e-9, key  # a density
    differences = _rows(dialog.differences)
    assert differences["frequency_mhz"][1] == "433.5"
    assert differences["seed"] == ("31", "32")
    assert "name" not in differences and "min_receivers" not in differences

    dialog.second.setCurrentIndex(dialog.first.currentIndex())  # the same one twice
    qtbot.waitUntil(lambda: "the same dataset twice" in dialog.note.text(), timeout=10_000)
    assert dialog.differences.rowCount() == 0
    dialog.close()


def test_compare_needs_two_datasets(qtbot, open_window, workspace, make_dataset, select):
    path = make_dataset(workspace, "alone", 200, seed=33)
    window = open_window(workspace)
    select(window, path)
    dialog = window.compare_datasets()
    assert "needs two readable datasets" in dialog.note.text()
    dialog.close()
