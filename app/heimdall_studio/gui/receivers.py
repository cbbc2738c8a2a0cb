"""An editable table of a receiver network, and the receiver columns every view shows.

The columns are the receiver parameters (`params.RECEIVER_PARAMS`), so the editor, the
details pane and the file list the same ones in the same order. Cells hold what the user
typed: a number when it parses, the text otherwise. Checking is left to
`DatasetConfig.from_dict`, so a bad cell gets the same message, naming the receiver and
the field, as a bad value anywhere else.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt

from ..core.config.params import RECEIVER_PARAMS, Param
from ..core.config.receivers import RECEIVER_KEYS, TEXT_COLUMNS, Receiver


def column_title(param: Param) -> str:
    """"Alt (m)": a column's title, with its unit."""
    return f"{param.label} ({param.unit})" if param.unit else param.label


RECEIVER_TITLES = tuple(column_title(p) for p in RECEIVER_PARAMS)
DEFAULTS = {p.key: p.default for p in RECEIVER_PARAMS if p.default is not None}


def receiver_rows(receivers: tuple[Receiver, ...]) -> list[tuple[Any, ...]]:
    """The receivers' values, one tuple per receiver in RECEIVER_TITLES order."""
    return [tuple(getattr(r, key) for key in RECEIVER_KEYS) for r in receivers]


_ROOT = QModelIndex()


def _parse(column: str, value: Any) -> Any:
    if column in TEXT_COLUMNS:
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
        self._rows.append({p.key: f"Receiver {row + 1}" if p.kind == "text" else
                           DEFAULTS.get(p.key, 0.0) for p in RECEIVER_PARAMS})
        self.endInsertRows()
        return row

    def remove_receivers(self, rows: list[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._rows):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()

    # -- Qt model interface ---------------------------------------------------

    def rowCount(self, parent: QModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(RECEIVER_KEYS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.ToolTipRole and horizontal:
            return RECEIVER_PARAMS[section].describe()
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return RECEIVER_TITLES[section] if horizontal else str(section + 1)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._rows[index.row()].get(RECEIVER_KEYS[index.column()], "")
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
        column = RECEIVER_KEYS[index.column()]
        self._rows[index.row()][column] = _parse(column, value)
        self.dataChanged.emit(index, index)
        return True

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if not self.read_only:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags
