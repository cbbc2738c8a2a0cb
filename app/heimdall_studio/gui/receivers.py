"""An editable table of a receiver network.

Cells hold what the user typed: a number when it parses, the text otherwise. Checking is
left to `DatasetConfig.from_dict`, so a bad cell gets the same message, naming the
receiver and the field, as a bad value anywhere else.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt

from ..core.config.receivers import CSV_COLUMNS, Receiver

HEADERS = ("Name", "Lat (deg)", "Lon (deg)", "Alt (m)", "Noise figure (dB)", "Gain (dBi)")
DEFAULTS = {"noise_figure_db": 13.0, "antenna_gain_dbi": 0.0}


def _parse(column: str, value: Any) -> Any:
    if column == "name":
        return str(value).strip()
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text  # kept as typed; validation names it


class ReceiverTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self.read_only = False

    def set_receivers(self, receivers: tuple[Receiver, ...]) -> None:
        self.beginResetModel()
        self._rows = [r.to_dict() for r in receivers]
        self.endResetModel()

    def receiver_dicts(self) -> list[dict[str, Any]]:
        """The rows as `Receiver.from_dict` input; blank optional cells take defaults."""
        result = []
        for row in self._rows:
            item = {k: v for k, v in row.items() if not (k in DEFAULTS and v == "")}
            result.append(item)
        return result

    def add_receiver(self) -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append({"name": f"Receiver {row + 1}", "lat": 0.0, "lon": 0.0,
                           "alt_m": 0.0, **DEFAULTS})
        self.endInsertRows()
        return row

    def remove_receivers(self, rows: list[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._rows):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()

    # -- Qt model interface ---------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(CSV_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return str(section + 1)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._rows[index.row()].get(CSV_COLUMNS[index.column()], "")
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            # Text in the editor too: a float editor would round coordinates to 2 decimals.
            return f"{value:.12g}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: QModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole or self.read_only:
            return False
        column = CSV_COLUMNS[index.column()]
        self._rows[index.row()][column] = _parse(column, value)
        self.dataChanged.emit(index, index)
        return True

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if not self.read_only:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags
