"""An editable table of a receiver network, and the receiver columns every view shows.

The columns are the receiver parameters (`params.RECEIVER_PARAMS`), so the editor, the
details pane and the file list the same ones in the same order. Cells hold what the user
typed: a number when it parses, the text otherwise. Checking is left to
`DatasetConfig.from_dict`, so a bad cell gets the same message, naming the receiver and
the field, as a bad value anywhere else.

An antenna is shown and typed in its text form ("yagi:120"). A loaded antenna is kept as
the object until its cell is edited: the text of a pattern antenna names the pattern, not
the file it was read from, so it could not be read back. A blank calibration or
oscillator cell means the value is drawn at creation from the dataset's seed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from ..core.config.antennas import Antenna
from ..core.config.params import RECEIVER_PARAMS, Param
from ..core.config.receivers import (
    DRAWN_COLUMNS,
    OPTIONAL_COLUMNS,
    RECEIVER_KEYS,
    TEXT_COLUMNS,
    Receiver,
)

UNIT_SIGNS = {"degrees": "°"}  # a narrow column title: "Lat (°)"
DRAWN_TEXT = "drawn"
DRAWN_COLOR = QColor(128, 128, 128)


def column_title(param: Param) -> str:
    """"Alt (m)": a column's title, with its unit."""
    unit = UNIT_SIGNS.get(param.unit, param.unit)
    return f"{param.label} ({unit})" if unit else param.label


def column_header(param: Param) -> str:
    """A column's title in two lines, the unit under the label: the network has a dozen
    columns, and one-line titles make most of them wider than their numbers."""
    return column_title(param).replace(" (", "\n(")


RECEIVER_TITLES = tuple(column_header(p) for p in RECEIVER_PARAMS)
DEFAULTS = {p.key: p.default for p in RECEIVER_PARAMS if p.default is not None}
# column -> its choices, for the columns edited with a combo box (the timing)
CHOICE_COLUMNS = {i: p.choices for i, p in enumerate(RECEIVER_PARAMS) if p.kind == "choice"}
_DRAWN_TIPS = {p.key: f"Blank: {p.default_note}, from the dataset's seed; type a value to "
               "set it" for p in RECEIVER_PARAMS if p.key in DRAWN_COLUMNS}


def receiver_rows(receivers: tuple[Receiver, ...]) -> list[tuple[Any, ...]]:
    """The receivers' values, one tuple per receiver in RECEIVER_TITLES order (the
    antenna as text)."""
    return [tuple(r.column_value(key) for key in RECEIVER_KEYS) for r in receivers]


_ROOT = QModelIndex()


def _parse(column: str, value: Any) -> Any:
    text = str(value).strip()
    if column in TEXT_COLUMNS:
        return text
    if text == "" and column in DRAWN_COLUMNS:
        return None
    try:
        return float(text)
    except ValueError:
        return text  # kept as typed; validation names it


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


class ReceiverTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self.read_only = False

    def set_receivers(self, receivers: tuple[Receiver, ...]) -> None:
        self.beginResetModel()
        self._rows = [{key: getattr(r, key) for key in RECEIVER_KEYS} for r in receivers]
        self.endResetModel()

    def receiver_dicts(self) -> list[dict[str, Any]]:
        """The rows as `Receiver.from_dict` input: blank optional cells take their
        defaults or are drawn at creation; a loaded antenna is given as its fields."""
        return [{key: value.to_dict() if isinstance(value, Antenna) else value
                 for key, value in row.items()
                 if not (key in OPTIONAL_COLUMNS and _blank(value))}
                for row in self._rows]

    def add_receiver(self) -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append({p.key: f"Receiver {row + 1}" if p.kind == "text" else
                           None if p.key in DRAWN_COLUMNS else DEFAULTS.get(p.key, 0.0)
                           for p in RECEIVER_PARAMS})
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
        column = RECEIVER_KEYS[index.column()]
        value = self._rows[index.row()].get(column, "")
        drawn = column in DRAWN_COLUMNS and _blank(value)
        if role == Qt.ItemDataRole.DisplayRole and drawn:
            return DRAWN_TEXT
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            # Text in the editor too: a float editor would round coordinates to 2 decimals.
            if isinstance(value, Antenna):
                return value.text()
            if value is None:
                return ""
            return f"{value:.12g}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.ForegroundRole and drawn:
            return DRAWN_COLOR
        if role == Qt.ItemDataRole.ToolTipRole and drawn:
            return _DRAWN_TIPS[column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column not in TEXT_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: QModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole or self.read_only:
            return False
        column = RECEIVER_KEYS[index.column()]
        row = self._rows[index.row()]
        current = row.get(column)
        if isinstance(current, Antenna) and str(value).strip() == current.text():
            return True  # unchanged: keep the loaded antenna (a pattern keeps its tables)
        row[column] = _parse(column, value)
        self.dataChanged.emit(index, index)
        return True

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if not self.read_only:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags


class ChoiceDelegate(QStyledItemDelegate):
    """Edits a column of fixed choices (the timing) with a combo box."""

    def __init__(self, choices: tuple[str, ...], parent: QObject | None = None):
        super().__init__(parent)
        self.choices = choices

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex) -> QWidget:
        editor = QComboBox(parent)
        editor.addItems(self.choices)
        # A pick is the edit: commit it at once rather than when the focus leaves.
        editor.activated.connect(lambda _: self.commitData.emit(editor))
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: QAbstractItemModel,
                     index: QModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
