"""The Terrain dialog: the library's tiles, importing more, and the map of what they cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QDialog

from heimdall_studio.core import api
from heimdall_studio.core.config.units import format_size
from heimdall_studio.core.terrain.library import LIBRARY_ENV
from heimdall_studio.gui.dialogs import ERROR_STYLE, OK_STYLE
from heimdall_studio.gui.terrain_dialog import TerrainDialog

TILE_BYTES = 1201 * 1201 * 2  # a 3 arc-second SRTM tile


@pytest.fixture(autouse=True)
def library(tmp_path: Path, monkeypatch) -> Path:
    """A terrain library of this test only, empty at first."""
    folder = tmp_path / "terrain"
    monkeypatch.setenv(LIBRARY_ENV, str(folder))
    return folder


@pytest.fixture
def tiles(tmp_path: Path) -> Path:
    """A folder to import from."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def write_tile(folder: Path, name: str, height: int = 100) -> Path:
    path = folder / name
    path.write_bytes(np.full((1201, 1201), height, ">i2").tobytes())
    return path


def open_dialog(qtbot) -> TerrainDialog:
    dialog = TerrainDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def rows(dialog: TerrainDialog) -> list[list[str]]:
    table = dialog.table
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def outlined(dialog: TerrainDialog) -> list[tuple[float, float, float, float]]:
    """(south, north, west, east) of each rectangle drawn on the map."""
    x, y = dialog.map.tiles.getData()
    if x is None or not len(x):
        return []
    boxes = []
    for xs, ys in zip(np.split(x, np.flatnonzero(np.isnan(x))),
                      np.split(y, np.flatnonzero(np.isnan(y))), strict=True):
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        if len(xs):
            assert len(xs) == 5 and xs[0] == xs[-1] and ys[0] == ys[-1]  # closed
            boxes.append((ys.min(), ys.max(), xs.min(), xs.max()))
    return sorted(boxes)


def test_dialog_lists_the_tiles_of_the_library(qtbot, library, tiles):
    api.import_terrain([write_tile(tiles, "N45E007.hgt"), write_tile(tiles, "S34W071.hgt")])
    dialog = open_dialog(qtbot)
    assert dialog.objectName() == "terrain_dialog" and dialog.windowTitle() == "Terrain"
    assert dialog.findChild(type(dialog.table), "terrain_tiles") is dialog.table
    assert str(library) in dialog.folder_label.text()
    size = format_size(TILE_BYTES)
    assert rows(dialog) == [["S34W071.hgt", "33-34 S, 70-71 W", "3 arc-seconds", size],
                            ["N45E007.hgt", "45-46 N, 7-8 E", "3 arc-seconds", size]]
    assert dialog.summary.text() == f"2 tiles, {format_size(2 * TILE_BYTES)}"
    assert dialog.map.tile_count() == 2
    assert outlined(dialog) == [(-34, -33, -71, -70), (45, 46, 7, 8)]
    # The view takes in every tile, however far from the built-in grid.
    (west, east), (south, north) = dialog.map.viewRange()
    assert west <= -71 and east >= 11 and south <= -34 and north >= 47


def test_an_empty_library_says_so(qtbot, library):
    dialog = open_dialog(qtbot)
    assert rows(dialog) == [] and dialog.map.tile_count() == 0
    assert "No tiles yet" in dialog.summary.text()
    assert not library.exists()  # looking does not create it


def test_importing_through_the_buttons_adds_rows_and_rectangles(qtbot, monkeypatch, library,
                                                               tiles):
    dialog = open_dialog(qtbot)
    first = write_tile(tiles, "N45E007.hgt")
    monkeypatch.setattr(dialog, "_ask_files", lambda: [str(first)])
    with qtbot.waitSignal(dialog.imported, timeout=10_000) as imported:
        dialog.import_files_button.click()
    assert [t.name for t in imported.args[0]] == ["N45E007.hgt"]
    assert [r[0] for r in rows(dialog)] == ["N45E007.hgt"]
    assert outlined(dialog) == [(45, 46, 7, 8)]
    assert (library / "N45E007.hgt").stat().st_size == TILE_BYTES
    assert dialog.message.text() == "Imported N45E007.hgt."
    assert dialog.message.styleSheet() == OK_STYLE

    folder = tiles / "more"
    folder.mkdir()
    write_tile(folder, "N44E008.hgt")
    write_tile(folder, "N45E008.hgt")
    monkeypatch.setattr(dialog, "_ask_folder", lambda: str(folder))
    with qtbot.waitSignal(dialog.imported, timeout=10_000):
        dialog.import_folder_button.click()
    assert [r[0] for r in rows(dialog)] == ["N44E008.hgt", "N45E007.hgt", "N45E008.hgt"]
    assert outlined(dialog) == [(44, 45, 8, 9), (45, 46, 7, 8), (45, 46, 8, 9)]
    assert dialog.import_files_button.isEnabled() and dialog.import_folder_button.isEnabled()


def test_cancelled_file_dialogs_import_nothing(qtbot, monkeypatch, library):
    dialog = open_dialog(qtbot)
    monkeypatch.setattr(dialog, "_ask_files", lambda: [])
    monkeypatch.setattr(dialog, "_ask_folder", lambda: "")
    dialog.import_files_button.click()
    dialog.import_folder_button.click()
    assert not dialog.importing and dialog.message.text() == "" and rows(dialog) == []


def test_a_bad_tile_is_refused_in_red_and_nothing_is_imported(qtbot, monkeypatch, library,
                                                             tiles):
    api.import_terrain([write_tile(tiles, "N45E007.hgt")])
    dialog = open_dialog(qtbot)
    good = write_tile(tiles, "N45E008.hgt")
    bad = tiles / "N44E008.hgt"
    bad.write_bytes(bytes(1000))
    monkeypatch.setattr(dialog, "_ask_files", lambda: [str(good), str(bad)])
    with qtbot.waitSignal(dialog.import_failed, timeout=10_000):
        dialog.import_files_button.click()
    text = dialog.message.text()
    assert text.startswith("Nothing imported: N44E008.hgt holds 1,000 bytes")
    assert "Traceback" not in text and "\n" not in text
    assert dialog.message.styleSheet() == ERROR_STYLE
    assert [r[0] for r in rows(dialog)] == ["N45E007.hgt"]
    assert outlined(dialog) == [(45, 46, 7, 8)]
    assert sorted(p.name for p in library.iterdir()) == ["N45E007.hgt"]  # not even the good
    assert dialog.import_files_button.isEnabled()

    empty = tiles / "empty"
    empty.mkdir()
    monkeypatch.setattr(dialog, "_ask_folder", lambda: str(empty))
    with qtbot.waitSignal(dialog.import_failed, timeout=10_000):
        dialog.import_folder_button.click()
    assert "holds no .hgt, .hgt.zip or GeoTIFF tile" in dialog.message.text()

    # Then a good import turns the message green again.
    monkeypatch.setattr(dialog, "_ask_files", lambda: [str(good)])
    with qtbot.waitSignal(dialog.imported, timeout=10_000):
        dialog.import_files_button.click()
    assert dialog.message.styleSheet() == OK_STYLE
    assert [r[0] for r in rows(dialog)] == ["N45E007.hgt", "N45E008.hgt"]


def test_relief_lies_over_the_builtin_grid_north_up(qtbot):
    dialog = open_dialog(qtbot)
    grid = api.builtin_terrain()
    relief = dialog.map.relief
    south, north, west, east = grid.bounds
    rect = relief.mapRectToView(relief.boundingRect())
    # The samples' bounds, widened by half a pixel on every side (pixels are centred).
    assert rect.left() == pytest.approx(west - grid.step_deg / 2, abs=1e-9)
    assert rect.right() == pytest.approx(east + grid.step_deg / 2, abs=1e-9)
    assert rect.top() == pytest.approx(south - grid.step_deg / 2, abs=1e-9)
    assert rect.bottom() == pytest.approx(north + grid.step_deg / 2, abs=1e-9)

    expected = api.shaded_relief(grid)

    def shown(lat: float, lon: float) -> np.ndarray:
        point = relief.mapFromView(QPointF(lon, lat))
        return relief.image[int(point.y()), int(point.x())]

    for lat, lon in ((45.04, 7.67), (44.40, 8.96), (45.94, 7.87), (46.5, 10.5)):
        row = round((grid.first_lat - lat) / grid.step_deg)
        col = round((lon - grid.first_lon) / grid.step_deg)
        assert (shown(lat, lon) == expected[row, col]).all(), (lat, lon)
    r, g, b = shown(44.25, 8.96).astype(int)  # off Genova: the Ligurian Sea, blue
    assert b > g > r
    r, g, b = shown(45.04, 7.67).astype(int)  # Torino: the Po plain, green
    assert g > b and g > r


def test_map_shows_the_default_network_and_training_box(qtbot):
    dialog = open_dialog(qtbot)
    receivers = api.make_config("defaults").receivers
    x, y = dialog.map.receivers.getData()
    assert list(zip(x, y, strict=True)) == [(r.lon, r.lat) for r in receivers]
    labels = [label.toPlainText() for label in dialog.map._labels if label.isVisible()]
    assert labels == [r.name for r in receivers]
    bx, by = dialog.map.training_box.getData()
    lats, lons = [r.lat for r in receivers], [r.lon for r in receivers]
    assert min(bx) < min(lons) and max(bx) > max(lons)
    assert min(by) < min(lats) and max(by) > max(lats)
    ratio = dialog.map.getViewBox().state["aspectLocked"]
    assert ratio == pytest.approx(np.cos(np.radians(45.0)), abs=0.01)


def test_main_window_opens_the_dialog_from_the_workspace_menu(qtbot, monkeypatch,
                                                             open_window, workspace, tiles):
    opened: list[TerrainDialog] = []

    def exec_(self) -> int:
        opened.append(self)
        return QDialog.DialogCode.Rejected.value

    monkeypatch.setattr(TerrainDialog, "exec", exec_)
    window = open_window(workspace)
    menus = {m.text().replace("&", ""): m.menu().actions() for m in window.menuBar().actions()}
    assert window.action_terrain in menus["Workspace"]
    assert window.action_terrain.objectName() == "action_terrain"
    assert window.action_terrain.text() == "&Terrain…"
    assert window.action_terrain.statusTip() == ("Elevation tiles of the terrain library "
                                                 "and what they cover")
    window.action_terrain.trigger()
    dialog = window.findChild(TerrainDialog, "terrain_dialog")
    assert opened == [dialog] and dialog.parent() is window
    assert rows(dialog) == []

    # Opened again, it shows what was imported meanwhile (say with the command line).
    api.import_terrain([write_tile(tiles, "N45E007.hgt")])
    window.action_terrain.trigger()
    assert opened == [dialog, dialog]
    assert [r[0] for r in rows(dialog)] == ["N45E007.hgt"]
    assert dialog.map.tile_count() == 1
