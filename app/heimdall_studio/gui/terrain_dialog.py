"""Workspace > Terrain: the elevation tiles of the terrain library and where they lie.

The dialog lists the library's tiles (SRTM, GeoTIFF), imports more (files or a folder, checked in
full by the core before anything is copied, off the GUI thread), and maps them over the
shaded relief of the built-in GLOBE grid, with coastlines, borders, the default receiver
network and its training box for orientation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import api
from ..core.config.geo import training_box
from ..core.config.receivers import Receiver, default_receivers
from ..core.config.units import format_size
from ..core.errors import HeimdallError
from ..core.terrain.grid import ElevationGrid
from ..core.terrain.library import TileInfo
from .dialogs import ERROR_STYLE, OK_STYLE
from .jobs import describe_error
from .map_view import MapView
from .plots import INSIDE_COLOR, _box_outline
from .threads import work_for

log = logging.getLogger(__name__)

RELIEF_MAX_SIDE = 900  # samples a side of the relief image (api.shaded_relief's max_side)
TILE_FILTER = ("Elevation tiles (*.hgt *.hgt.zip *.tif *.tiff);;SRTM tiles (*.hgt *.hgt.zip);;"
               "GeoTIFF (*.tif *.tiff);;All files (*)")
NAMED_TILES = 4  # an import message names this many tiles, and counts more


def _span(low: float, high: float, positive: str, negative: str) -> str:
    """`45-46 N`; south of the equator or west of Greenwich `33-34 S`, `70-71 W`; a
    GeoTIFF's edges to two decimals (`45.40-45.60 N`)."""
    def text(value: float) -> str:
        return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"

    if low >= 0:
        return f"{text(low)}-{text(high)} {positive}"
    return f"{text(-high)}-{text(-low)} {negative}"


def tile_covers(tile: TileInfo) -> str:
    """Where a tile lies, as `45-46 N, 7-8 E`."""
    south, north, west, east = tile.bounds
    return f"{_span(south, north, 'N', 'S')}, {_span(west, east, 'E', 'W')}"


def tile_resolution(tile: TileInfo) -> str:
    return f"{tile.arcsec:g} arc-second{'' if tile.arcsec == 1 else 's'}"


def _tile_outlines(tiles: Sequence[TileInfo]) -> tuple[np.ndarray, np.ndarray]:
    """All tiles' outlines as one polyline, broken by NaN between tiles."""
    xs: list[float] = []
    ys: list[float] = []
    for tile in tiles:
        x, y = _box_outline(tile.bounds)
        xs += [*x, math.nan]
        ys += [*y, math.nan]
    return np.array(xs, float), np.array(ys, float)


class TerrainMap(MapView):
    """The built-in grid's shaded relief with the library's tiles outlined over it, the
    default receivers and their training box (dashed), coastlines and borders, in
    longitude and latitude."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, title="Built-in terrain and library tiles")
        self.setObjectName("terrain_map")
        self.tiles = pg.PlotDataItem([], [], connect="finite",
                                     pen=pg.mkPen(INSIDE_COLOR, width=2))
        self.addItem(self.tiles)
        self.add_legend(self.tiles, "library tile")
        self._grid_bounds: tuple[float, float, float, float] | None = None
        self._tile_bounds: list[tuple[int, int, int, int]] = []

    def show_grid(self, grid: ElevationGrid) -> None:
        """The grid's relief, each pixel centred on the sample it shows, north up."""
        self.set_relief(api.shaded_relief(grid, max_side=RELIEF_MAX_SIDE),
                        api.relief_area(grid, max_side=RELIEF_MAX_SIDE))
        self._grid_bounds = grid.bounds

    def show_network(self, receivers: Sequence[Receiver],
                     box: tuple[float, float, float, float]) -> None:
        self.set_network([r.name for r in receivers], np.array([r.lat for r in receivers]),
                         np.array([r.lon for r in receivers]), training_box=box)

    def set_tiles(self, tiles: Sequence[TileInfo]) -> None:
        self._tile_bounds = [tile.bounds for tile in tiles]
        self.tiles.setData(*_tile_outlines(tiles))
        self.frame_all()

    def tile_count(self) -> int:
        """Tiles outlined on the map (what tests check)."""
        return len(self._tile_bounds)

    def frame_all(self) -> None:
        """Show the built-in grid and every tile."""
        boxes = [*self._tile_bounds, *([self._grid_bounds] if self._grid_bounds else [])]
        if not boxes:
            return
        self.frame((min(b[0] for b in boxes), max(b[1] for b in boxes),
                    min(b[2] for b in boxes), max(b[3] for b in boxes)))


class TerrainDialog(QDialog):
    """The terrain library: its folder, its tiles (where, how fine, how large) and a map of
    them over the built-in grid; tiles are imported here."""

    imported = Signal(object)  # list[TileInfo]: the tiles just imported
    import_failed = Signal(str)  # why nothing was imported

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("terrain_dialog")
        self.setWindowTitle("Terrain")
        self.grid = api.builtin_terrain()
        self._last_folder = str(Path.home())
        self.importing = False

        self.folder_label = QLabel(objectName="terrain_folder", wordWrap=True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid_arcsec = round(self.grid.step_deg * 3600)
        intro = QLabel(
            "Elevation tiles (SRTM <code>.hgt</code> or <code>.hgt.zip</code>, 1 or 3 "
            "arc-seconds, or GeoTIFF in longitude and latitude). Where a tile and the "
            "built-in GLOBE grid "
            f"({grid_arcsec} arc-seconds) both cover a point, the tile's heights are used. "
            "A dataset stores the grid it was drawn with, so tiles can be removed later "
            "without changing it.", wordWrap=True)

        self.table = QTableWidget(0, 4, objectName="terrain_tiles")
        self.table.setHorizontalHeaderLabels(["Tile", "Covers", "Resolution", "Size"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.summary = QLabel(objectName="terrain_summary", wordWrap=True)
        self.import_files_button = QPushButton("Import tiles…", objectName="import_tiles")
        self.import_files_button.setToolTip("Add .hgt, .hgt.zip or GeoTIFF files to the library")
        self.import_files_button.clicked.connect(self.import_files)
        self.import_folder_button = QPushButton("Import folder…", objectName="import_folder")
        self.import_folder_button.setToolTip("Add every tile directly inside a folder")
        self.import_folder_button.clicked.connect(self.import_folder)
        self.message = QLabel(objectName="terrain_message", wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.map = TerrainMap()
        self.map.setMinimumSize(420, 360)
        self.map.show_grid(self.grid)
        self.map.show_network(default_receivers(), training_box(api.make_config("defaults")))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        import_row = QHBoxLayout()
        import_row.addWidget(self.import_files_button)
        import_row.addWidget(self.import_folder_button)
        import_row.addStretch(1)
        tiles_panel = QWidget()
        tiles_layout = QVBoxLayout(tiles_panel)
        tiles_layout.setContentsMargins(0, 0, 0, 0)
        tiles_layout.addWidget(self.table, 1)
        tiles_layout.addWidget(self.summary)
        tiles_layout.addLayout(import_row)
        tiles_layout.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(tiles_panel)
        splitter.addWidget(self.map)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 700])

        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.resize(1150, 700)
        self.refresh()

    def refresh(self) -> None:
        """Read the library again: the table, the summary and the tiles on the map."""
        self.folder_label.setText(f"Terrain library: <b>{api.terrain_library()}</b>")
        tiles = api.terrain_tiles()
        self.table.setRowCount(len(tiles))
        for row, tile in enumerate(tiles):
            cells = (tile.name, tile_covers(tile), tile_resolution(tile),
                     format_size(tile.size_bytes))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(tile.path))
                if column == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        if tiles:
            total = sum(tile.size_bytes for tile in tiles)
            self.summary.setText(f"{len(tiles)} tile{'' if len(tiles) == 1 else 's'}, "
                                 f"{format_size(total)}")
        else:
            self.summary.setText("No tiles yet: heights come from the built-in grid alone.")
        self.map.set_tiles(tiles)

    def tile_names(self) -> list[str]:
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    # -- importing -------------------------------------------------------------------

    def _ask_files(self) -> list[str]:
        paths, _filter = QFileDialog.getOpenFileNames(self, "Import elevation tiles",
                                                      self._last_folder, TILE_FILTER)
        return paths

    def _ask_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Import a folder of elevation tiles",
                                                self._last_folder)

    def import_files(self) -> None:
        paths = self._ask_files()
        if paths:
            self._last_folder = str(Path(paths[0]).parent)
            self.start_import(paths)

    def import_folder(self) -> None:
        folder = self._ask_folder()
        if folder:
            self._last_folder = folder
            self.start_import([folder])

    def start_import(self, paths: Sequence[str | Path]) -> None:
        """Check and copy the tiles in the background (a 1 arc-second tile is 25 MB to
        read); `imported` or `import_failed` follows."""
        if self.importing:
            return
        self._set_importing(True)
        self._say("Checking and importing…", None)
        work_for(self, api.import_terrain, [str(p) for p in paths],
                 returned=self._imported, errored=self._import_failed)

    def _set_importing(self, importing: bool) -> None:
        self.importing = importing
        self.import_files_button.setEnabled(not importing)
        self.import_folder_button.setEnabled(not importing)

    def _imported(self, tiles: list[TileInfo]) -> None:
        self._set_importing(False)
        self.refresh()
        names = [tile.name for tile in tiles]
        if len(names) > NAMED_TILES:
            self._say(f"Imported {len(names)} tiles.", False)
        else:
            self._say(f"Imported {', '.join(names)}.", False)
        self.imported.emit(tiles)

    def _import_failed(self, exc: Exception) -> None:
        self._set_importing(False)
        if not isinstance(exc, HeimdallError):  # its traceback, for a bug report
            log.error("importing terrain tiles failed", exc_info=exc)
        text = f"Nothing imported: {describe_error(exc)}"
        self._say(text, True)
        self.import_failed.emit(text)

    def _say(self, text: str, error: bool | None) -> None:
        """A message under the buttons: red for an error, green for success, plain for
        work going on."""
        self.message.setText(text)
        self.message.setStyleSheet("" if error is None else ERROR_STYLE if error
                                   else OK_STYLE)
