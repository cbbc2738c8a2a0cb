"""The map (gui/map_view.py) through the real widgets: coastlines and borders, the ground
scale, labels that cover no marker or label, every sample shown and coloured by a chosen
field, a click showing a sample's links, and the samples of a dataset being written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QPointF, Qt, QThreadPool
from PySide6.QtGui import QImage, QPainter

from heimdall_studio.core import api
from heimdall_studio.core.config.geo import training_box
from heimdall_studio.gui.details import DetailsPanel
from heimdall_studio.gui.map_data import MapSamples, read_map_samples, read_sample_links
from heimdall_studio.gui.map_view import MapPanel, MapView, snr_key
from heimdall_studio.gui.plots import INSIDE_COLOR, OUTSIDE_COLOR
from heimdall_studio.gui.summary import summarize_dataset

SAMPLES = 2000


@pytest.fixture(scope="module")
def dataset(module_folder):
    api.create_dataset("mapped", SAMPLES, module_folder, seed=11)
    return module_folder / "mapped.h5"


def _shown(qtbot, widget, size=(900, 700), closed_after=True):
    if closed_after:  # no window outlives its test
        qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _laid_out(qtbot, view: MapView) -> None:
    """Wait for the debounced layout after the view last moved."""
    with qtbot.waitSignal(view.labels_placed, timeout=5000):
        view._layout_timer.start()


def _default_view(qtbot, size=(900, 700)) -> MapView:
    config = api.make_config("defaults")
    view = _shown(qtbot, MapView(), size)
    rx = config.receivers
    view.set_network([r.name for r in rx], np.array([r.lat for r in rx]),
                     np.array([r.lon for r in rx]), training_box=training_box(config))
    view.frame(training_box(config))
    _laid_out(qtbot, view)
    return view


def test_coastlines_borders_and_the_ground_scale_of_the_default_box(qtbot):
    view = _default_view(qtbot)
    x, y = view.coast.getData()
    assert len(x) > 100 and np.isnan(x).any()  # many polylines, NaN between them
    # The Ligurian coast at Genova is drawn, not just somewhere in the box.
    near = np.hypot((x - 8.93) * math.cos(math.radians(44.4)), y - 44.40) * 111.2
    assert np.nanmin(near) < 2.0
    bx, _ = view.borders.getData()
    assert len(bx) > 20
    ratio = view.getViewBox().state["aspectLocked"]
    assert ratio == pytest.approx(math.cos(math.radians((43.9 + 46.0) / 2)), abs=0.01)
    # On screen a km east is as long as a km north.
    px, py = view.getViewBox().viewPixelSize()
    assert px * math.cos(math.radians(44.95)) == pytest.approx(py, rel=0.02)


@pytest.mark.parametrize("size", [(900, 700), (520, 420), (1400, 900)])
def test_labels_cover_no_marker_and_no_other_label(qtbot, size):
    view = _default_view(qtbot, size)
    labels = view.visible_labels()
    assert [label.toPlainText() for label in labels] == [
        r.name for r in api.make_config("defaults").receivers]
    rects = [label.sceneBoundingRect() for label in labels]
    markers = view.marker_rects()
    for i, rect in enumerate(rects):
        assert not any(rect.intersects(m) for m in markers), labels[i].toPlainText()
        for j in range(i):
            assert not rect.intersects(rects[j]), (labels[i].toPlainText(),
                                                   labels[j].toPlainText())


def test_labels_move_with_the_view(qtbot):
    view = _default_view(qtbot)
    before = [label.sceneBoundingRect() for label in view.visible_labels()]
    view.setRange(xRange=(7.0, 8.2), yRange=(44.7, 45.4), padding=0)
    _laid_out(qtbot, view)
    after = [label.sceneBoundingRect() for label in view.visible_labels()]
    assert after != before
    markers = view.marker_rects()
    assert not any(r.intersects(m) for r in after for m in markers)


def test_every_sample_is_shown_as_points_or_density(qtbot, dataset):
    panel = _shown(qtbot, MapPanel())
    summary = summarize_dataset(dataset)
    panel.show_dataset(dataset, summary.map)
    view = panel.view
    _laid_out(qtbot, view)
    assert view.point_count() == SAMPLES and view.density_total() == 0
    view.max_points = 500
    _laid_out(qtbot, view)
    assert view.point_count() == 0 and view.density_total() == SAMPLES
    assert view.density.isVisible()
    # Zoomed in, the samples in view are points again, every one of them.
    samples = summary.map.samples
    view.setRange(xRange=(7.5, 7.9), yRange=(44.9, 45.2), padding=0)
    _laid_out(qtbot, view)
    (x0, x1), (y0, y1) = view.getViewBox().viewRange()
    in_view = int(((samples.lon >= x0) & (samples.lon <= x1)
                   & (samples.lat >= y0) & (samples.lat <= y1)).sum())
    assert 0 < in_view <= 500
    assert view.point_count() == in_view and not view.density.isVisible()


def test_colour_by_field_changes_the_brushes(qtbot, dataset):
    panel = _shown(qtbot, MapPanel())
    summary = summarize_dataset(dataset)
    panel.show_dataset(dataset, summary.map)
    view = panel.view
    inside = np.array(view.point_colors())
    assert len(np.unique(inside, axis=0)) == 2 and not view.color_bar.isVisible()
    panel.choose_field("gdop")
    gdop = np.array(view.point_colors())
    assert len(np.unique(gdop, axis=0)) > 10 and view.color_bar.isVisible()
    # Low GDOP and high GDOP samples get different colours.
    order = np.argsort(summary.map.samples.gdop)
    assert (gdop[order[0]] != gdop[order[-1]]).any()
    # The SNR at a receiver is read from the file when chosen, then colours the samples.
    names = summary.map.receiver_names
    with qtbot.waitSignal(view.labels_placed, timeout=10_000):
        panel.choose_field("snr:0")
    qtbot.waitUntil(lambda: panel.data.samples.snr_receiver == 0, timeout=10_000)
    snr = np.array(view.point_colors())
    assert not np.array_equal(snr, gdop)
    assert view.color_bar.axis.labelText == f"SNR at {names[0]} (dB)"
    expected = read_map_samples(dataset, snr_receiver=0).snr
    np.testing.assert_array_equal(panel.data.samples.snr, expected)


def test_a_click_on_a_sample_shows_its_links(qtbot, dataset):
    panel = _shown(qtbot, MapPanel())
    summary = summarize_dataset(dataset)
    panel.show_dataset(dataset, summary.map)
    view = panel.view
    _laid_out(qtbot, view)
    samples = summary.map.samples
    index = int(np.flatnonzero(samples.detected >= 3)[0])
    scene = view.getViewBox().mapViewToScene(QPointF(samples.lon[index], samples.lat[index]))
    target = view.mapFromScene(scene)
    assert view.sample_near(QPointF(samples.lon[index], samples.lat[index])) is not None
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=target)
    qtbot.waitUntil(lambda: "Sample" in panel.sample_info.text(), timeout=10_000)
    clicked = int(panel.sample_info.text().split("Sample ")[1].split("<")[0].replace(",", ""))
    links = read_sample_links(dataset, clicked)
    detected_x, _ = view.links_detected.getData()
    missed_x, _ = view.links_missed.getData()
    # A line (transmitter, receiver, NaN) to every receiver, solid where detected.
    assert len(detected_x) == 3 * links.detected.sum()
    assert len(missed_x) == 3 * (~links.detected).sum()
    assert detected_x[0] == pytest.approx(links.tx_lon)
    text = panel.sample_info.text()
    for name, snr, detected in zip(summary.map.receiver_names, links.snr_db, links.detected,
                                   strict=True):
        row = text.split(f"<td>{name}</td>")[1].split("</tr>")[0]
        assert ("not detected" not in row) == bool(detected)
        if math.isfinite(snr):
            assert f"{snr:.1f} dB" in row


def test_the_map_follows_a_dataset_being_written(qtbot, dataset):
    details = _shown(qtbot, DetailsPanel(), (1300, 800))
    entry = next(e for e in api.list_datasets(dataset.parent) if e.path == dataset)
    details.plot_tabs.setCurrentWidget(details.map_panel)
    details.show_entry(entry, busy=True)  # as while a run of ours writes it
    view = details.map_plot
    assert view.point_count() == 0 and len(view.visible_labels()) == 7
    details.set_sample_count(dataset, 700)
    qtbot.waitUntil(lambda: view.point_count() == 700, timeout=10_000)
    details.set_sample_count(dataset, SAMPLES)
    qtbot.waitUntil(lambda: view.point_count() == SAMPLES, timeout=10_000)
    assert view.relief.isVisible()


def test_reads_that_end_after_the_panel_is_deleted_are_dropped(qtbot, dataset):
    panel = _shown(qtbot, MapPanel(), closed_after=False)  # deleted below
    panel.show_dataset(dataset, summarize_dataset(dataset).map)
    panel.choose_field(snr_key(0))  # reads the SNR at the first receiver
    panel.ask_links(0)  # reads the first sample's links
    shiboken6.delete(panel)  # the window closed while both were being read
    assert QThreadPool.globalInstance().waitForDone(10_000)
    # Both reads arrive: neither touches the deleted map (its legend's layout is gone; an
    # error raised in their slots would fail the test).
    QCoreApplication.sendPostedEvents()
    QCoreApplication.processEvents()


def test_the_legend_keys_inside_and_outside_in_the_samples_colours(qtbot):
    view = _shown(qtbot, MapView())
    view.frame((44.0, 46.0, 6.6, 9.8))
    n = 200
    rng = np.random.default_rng(4)
    view.set_samples(MapSamples(0, rng.uniform(44, 46, n), rng.uniform(6.6, 9.8, n),
                                rng.random(n) < 0.5, np.ones(n, np.float32),
                                np.full(n, 3, np.uint8)))
    keys = {label.text: sample for sample, label in view.legend.items}
    for name, color in (("inside", INSIDE_COLOR), ("outside", OUTSIDE_COLOR)):
        image = QImage(20, 20, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        keys[name].paint(painter)
        painter.end()
        center = image.pixelColor(10, 10)
        assert (center.red(), center.green(), center.blue()) == color, name
