"""The New dialog's coverage preview through its widgets, and New from this dataset."""

from __future__ import annotations

import math
import re

import numpy as np
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox

from heimdall_studio.core import api
from heimdall_studio.core.runs.preview import PreviewFailed
from heimdall_studio.gui.coverage_preview import CoveragePreview, error_points
from heimdall_studio.gui.dialogs import NewDatasetDialog
from heimdall_studio.gui.map_view import MapView

PERCENT = re.compile(r"^\d{1,3}\.\d %$")
WAIT_MS = 60_000  # the preview's process loads its kernels first


def _acceptance(dialog: NewDatasetDialog) -> QLabel:
    label = dialog.findChild(QLabel, "predicted_acceptance")
    assert label is not None
    return label


def _labels_clear(qtbot, view: MapView) -> list[str]:
    """The receivers' labels once placed for the view as it is, each checked to cover
    no marker and no other label; their texts."""
    with qtbot.waitSignal(view.labels_placed, timeout=5000):
        view._layout_timer.start()
    labels = view.visible_labels()
    rects = [label.sceneBoundingRect() for label in labels]
    markers = view.marker_rects()
    for i, rect in enumerate(rects):
        assert not any(rect.intersects(m) for m in markers), labels[i].toPlainText()
        for j in range(i):
            assert not rect.intersects(rects[j]), (labels[i].toPlainText(),
                                                   labels[j].toPlainText())
    return [label.toPlainText() for label in labels]


def test_preview_follows_the_form_and_warns(qtbot, workspace):
    dialog = NewDatasetDialog(workspace)
    qtbot.addWidget(dialog)
    dialog.show()
    preview = dialog.findChild(CoveragePreview, "coverage_panel")
    view = dialog.findChild(MapView, "coverage_preview")
    assert view is not None
    with qtbot.waitSignal(preview.updated, timeout=WAIT_MS):
        # the flat plane with free-space loss: quick, and the frequency matters at any
        # distance (beyond the two-ray crossover it does not)
        dialog.findChild(QComboBox, "propagation.terrain.source").setCurrentText("none")
        dialog.findChild(QComboBox, "propagation.path_loss_model").setCurrentText(
            "free_space")
    first = _acceptance(dialog).text()
    assert PERCENT.match(first), first
    assert preview.map_values() is not None and preview.map_values().shape == (60, 60)
    assert "Run time for 100,000 samples: about" in preview.estimate.text()
    # The map: coastlines and borders, the labelled network, the field in its units.
    x, y = view.coast.getData()
    assert len(x) > 100 and np.isnan(x).any()
    near = np.hypot((x - 8.93) * math.cos(math.radians(44.4)), y - 44.40) * 111.2
    assert np.nanmin(near) < 2.0  # the Ligurian coast at Genova
    assert len(view.borders.getData()[0]) > 20
    names = [r.name for r in api.make_config("x").receivers]
    assert _labels_clear(qtbot, view) == names
    assert view.background.isVisible() and view.color_bar.isVisible()
    assert view.color_bar.axis.labelText == "receivers"
    detections = preview.map_values().copy()
    dialog.findChild(QComboBox, "coverage_map").setCurrentIndex(1)
    assert view.color_bar.axis.labelText == "GDOP"
    assert not np.array_equal(preview.map_values(), detections, equal_nan=True)

    # A zoom stays while the training box does.
    view.setRange(xRange=(7.5, 8.5), yRange=(44.6, 45.2), padding=0)
    zoomed = view.getViewBox().viewRange()
    with qtbot.waitSignal(preview.updated, timeout=WAIT_MS):
        dialog.findChild(QDoubleSpinBox, "frequency_mhz").setValue(430.0)
    changed = _acceptance(dialog).text()
    assert PERCENT.match(changed) and changed != first
    assert view.getViewBox().viewRange() == zoomed
    assert view.color_bar.axis.labelText == "GDOP"

    # a receiver far from the others, then filters that keep almost nothing
    receivers = [*dialog.form.receiver_model.receiver_dicts(),
                 {"name": "Roma", "lat": 41.9, "lon": 12.5, "alt_m": 50}]
    with qtbot.waitSignal(preview.updated, timeout=WAIT_MS):
        dialog.form.receiver_model.set_receivers(
            api.make_config("x", seed=1, receivers=receivers).receivers)
    assert "'Roma'" in preview.warnings.text()
    # A new training box: framed again, Roma in view and labelled like the others.
    (x0, x1), (y0, y1) = view.getViewBox().viewRange()
    assert x0 < 12.5 < x1 and y0 < 41.9 < y1
    assert _labels_clear(qtbot, view) == [*names, "Roma"]
    with qtbot.waitSignal(preview.updated, timeout=WAIT_MS):
        dialog.findChild(QSpinBox, "min_receivers").setValue(6)
        dialog.findChild(QDoubleSpinBox, "min_snr_db").setValue(24.0)
    assert "predicted acceptance" in preview.warnings.text().lower()
    assert float(_acceptance(dialog).text().split()[-2]) < 1.0
    dialog.reject()


def test_new_from_this_dataset_fills_the_form(qtbot, workspace, make_dataset):
    make_dataset(workspace, "source", 200, frequency_mhz=430.0, min_snr_db=7.5,
                 propagation={"terrain": {"source": "none"}})
    config = api.read_header(workspace / "source.h5").config
    dialog = NewDatasetDialog.from_dataset(workspace, config)
    qtbot.addWidget(dialog)
    assert dialog.findChild(QLineEdit, "name").text() == "source-2"
    assert dialog.findChild(QDoubleSpinBox, "frequency_mhz").value() == 430.0
    assert dialog.findChild(QDoubleSpinBox, "min_snr_db").value() == 7.5
    assert dialog.findChild(QComboBox, "propagation.terrain.source").currentText() == "none"
    assert dialog.findChild(QLineEdit, "seed").text() != str(config.seed)
    assert dialog.ok_button.isEnabled()
    request = dialog.validate()
    assert request is not None and request.config.frequency_mhz == 430.0
    dialog.reject()
    # and the plain New dialog starts from the defaults again
    fresh = NewDatasetDialog(workspace)
    qtbot.addWidget(fresh)
    assert fresh.findChild(QDoubleSpinBox, "frequency_mhz").value() == 145.0
    fresh.reject()


def test_main_window_opens_new_from_the_selected_dataset(qtbot, workspace, make_dataset,
                                                         open_window, select):
    path = make_dataset(workspace, "picked", 100, min_snr_db=6.0,
                        propagation={"terrain": {"source": "none"}})
    window = open_window(workspace)
    assert not window.action_new_from_dataset.isEnabled()
    select(window, path)
    assert window.action_new_from_dataset.isEnabled()
    window.action_new_from_dataset.trigger()
    dialog = window.dialog
    assert isinstance(dialog, NewDatasetDialog)
    assert dialog.findChild(QLineEdit, "name").text() == "picked-2"
    assert dialog.findChild(QDoubleSpinBox, "min_snr_db").value() == 6.0
    dialog.reject()


def test_a_closed_dialog_hears_nothing_more_from_its_preview(qtbot, workspace):
    """Once the New dialog is done, what the preview's worker still relays (an answer on
    its way when it closed) reaches no widget: the dialog may be deleted by then. The
    worker ends with the preview's process."""
    dialog = NewDatasetDialog(workspace)
    qtbot.addWidget(dialog)
    dialog.show()
    preview = dialog.findChild(CoveragePreview, "coverage_panel")
    with qtbot.waitSignal(preview.updated, timeout=WAIT_MS):
        dialog.findChild(QComboBox, "propagation.terrain.source").setCurrentText("none")
    worker, status = preview._worker, preview.status.text()
    heard: list[bool] = []
    preview.updated.connect(lambda: heard.append(True))
    dialog.reject()
    late = PreviewFailed(preview._latest, "an answer sent before the dialog closed")
    worker.yielded.emit(late)
    assert preview.status.text() == status and not heard
    with qtbot.waitSignal(dialog.destroyed):
        dialog.deleteLater()
    worker.yielded.emit(late)  # into no deleted widget
    assert QThreadPool.globalInstance().waitForDone(30_000)


def test_the_acceptance_error_is_never_shown_as_zero():
    assert error_points(0.0123) == "1.2 points"
    assert error_points(0.0005) == "0.1 points"
    assert error_points(0.0004) == error_points(0.0) == "less than 0.1 points"
