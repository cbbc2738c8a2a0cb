"""The dataset parameter form shared by the New and Expand dialogs.

The fields are made from the parameter tables (`core.config.params`): each widget's kind,
unit, range, step, label and tooltip come from its parameter, and its objectName is the
parameter's path (`frequency_mhz`, ...; propagation constants are `propagation.<key>`,
the measurement group's `measurement.<key>`); the sample count is `num_samples`. The form
only collects values; checking them is `DatasetConfig.from_dict`'s job, so the GUI and the
command line accept and refuse exactly the same input with the same messages. A range
("30:45") and a mix ("whip:0.5,yagi:0.5") are typed as the command line takes them and
passed on as text; a parameter that may be unlimited (max_gdop) has a "No limit" box
beside its spin box, named `<path>.unlimited`, which gives infinity. The parameters only
an iq_raw dataset draws with (`IQ_ONLY_PATHS`) are greyed while Type is feature_based.

Errors are reported in the words of the form (`error_text`: the field's label and unit,
not its config key), and a field is marked red only once the user has changed it or asked
for the dataset to be made (`reveal_errors`): a new form does not greet with red fields.
In Expand mode the inherited fields are disabled, with a palette that keeps their text in
the normal colour so that the values stay readable.

Spin box ranges are deliberately wider than the valid ranges: a spin box silently refuses
what is outside its range, while validation says which field is wrong and what is allowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.config.model import DatasetConfig, new_seed
from ..core.config.params import (
    BY_PATH,
    CONFIG_PARAMS,
    GROUPS,
    IQ_ONLY_PATHS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    RECEIVER_PARAMS,
    TERRAIN_PARAMS,
    Param,
)
from ..core.config.receivers import default_receivers, load_receivers
from ..core.config.versions import GENERATOR_VERSION
from ..core.dataset.reader import DatasetHeader
from ..core.errors import ConfigError
from .receivers import CHOICE_COLUMNS, ChoiceDelegate, ReceiverTableModel
from .values import field_text

DEFAULT_NUM_SAMPLES = 100_000  # a dialog's run is meant to be used, not a quick check
LABEL_WIDTH = 135
MAX_NUM_SAMPLES = 2_000_000_000  # what a QSpinBox holds; the command line goes further
SPIN_INT_MAX = 2**31 - 1  # larger whole numbers (the seed) are typed as digits
SPIN_FLOAT_MAX = 1e12
OPEN_RANGE_SPAN = 1e9  # how far a spin box goes above a bound with no upper limit
# The parameters the form shows, in its order; their widgets are named by `Param.path`.
FORM_PARAMS = CONFIG_PARAMS + PROPAGATION_PARAMS + TERRAIN_PARAMS + MEASUREMENT_PARAMS
# Form groups and the parameters in each, in table order.
SHOWN_GROUPS = ("dataset", "signal", "filter", "placement", "terrain")
ADVANCED_GROUPS = ("propagation", "measurement", "advanced")
# Box titles where GROUPS' would not read well: "Advanced" inside the Advanced part.
FORM_TITLES = {**GROUPS, "advanced": "Random stream"}
UNLIMITED_SUFFIX = ".unlimited"  # the "No limit" box of `path` is `path + UNLIMITED_SUFFIX`
IQ_DATASET_TYPE = "iq_raw"
IQ_ONLY_NOTE = ("Only iq_raw datasets record IQ, and only they use this: choose Type "
                "iq_raw to set it")

# Config keys named inside a message ("at least twice bandwidth_hz"), and their labels.
KEY_LABELS = {p.key: p.label for p in reversed(FORM_PARAMS + RECEIVER_PARAMS) if "_" in p.key}
_KEY_PATTERN = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_RECEIVER_FIELD = re.compile(r"receivers\[(?P<which>[^\]]*)\](?:\.(?P<key>\w+))?(?P<rest>.*)")

INVALID_STYLE = """
QLineEdit[invalid="true"], QAbstractSpinBox[invalid="true"], QTableView[invalid="true"] {
    background: #fde2e1;
}
"""


def spin_range(param: Param) -> tuple[float, float]:
    """A spin box's range: wider than what is valid on both sides, so that a value just
    outside can be entered and validation says what is allowed."""
    limit = SPIN_INT_MAX if param.kind == "int" else SPIN_FLOAT_MAX
    lo, hi = param.lo, param.hi
    if math.isfinite(hi):
        pad = max(hi - lo, 1.0)
        return max(lo - pad, -limit), min(hi + pad, limit)
    return max(lo - max(abs(lo), 1.0), -limit), min(lo + OPEN_RANGE_SPAN, limit)


def _number_widget(param: Param) -> QAbstractSpinBox:
    lo, hi = spin_range(param)
    box: QSpinBox | QDoubleSpinBox
    if param.kind == "int":
        box = QSpinBox()
        box.setRange(int(lo), int(hi))
        box.setSingleStep(int(param.step))
    else:
        box = QDoubleSpinBox()
        box.setDecimals(param.decimals)
        box.setRange(lo, hi)
        box.setSingleStep(param.step)
    if param.unit:
        box.setSuffix(f" {param.unit}")
    box.setAccelerated(True)
    # Thousands are grouped where values run into them (bandwidth, chunk size).
    box.setGroupSeparatorShown(abs(param.default or 0) >= 1000)
    box.setMinimumWidth(130)
    return box


def _widget(param: Param) -> QWidget:
    """The widget that holds a parameter, named by its path and explained by its tip."""
    widget: QWidget
    if param.kind == "choice":
        widget = QComboBox()
        widget.addItems(param.choices)
    elif param.kind == "text":
        widget = QLineEdit()
    elif param.kind in ("range", "mix"):  # typed as the command line takes it
        widget = QLineEdit()
        widget.setPlaceholderText(f"{param.default_value} or lo:hi" if param.kind == "range"
                                  else param.default_value)
    elif param.kind == "int" and param.hi > SPIN_INT_MAX:
        widget = QLineEdit()
        digits = len(str(int(param.hi)))
        widget.setValidator(QRegularExpressionValidator(QRegularExpression(
            rf"\d{{0,{digits}}}")))
    else:
        widget = _number_widget(param)
    widget.setObjectName(param.path)
    widget.setToolTip(param.describe())  # as the command line's help says it
    return widget


def _unlimited_box(param: Param) -> QCheckBox:
    """The "No limit" box of a parameter that may be unlimited: ticked, the value is
    infinity and its spin box is off."""
    box = QCheckBox("No limit", objectName=param.path + UNLIMITED_SUFFIX)
    box.setToolTip(param.describe())
    return box


def field_label(field: str) -> tuple[str, Param | None]:
    """How the form names a ConfigError field, and its parameter: "Frequency",
    "Receiver 3, Lat", "TX antennas (dish)"; the field itself when no label is known."""
    match = _RECEIVER_FIELD.fullmatch(field)
    if match:
        which = match["which"]
        receiver = f"Receiver {int(which) + 1}" if which.isdigit() else f"Receiver {which}"
        receiver_param = BY_PATH.get(f"receivers[].{match['key']}")
        if receiver_param is None:
            return receiver if which else "Receiver network", None
        return f"{receiver}, {receiver_param.label}{_suffix(match['rest'])}", receiver_param
    path = field
    while path:
        found = BY_PATH.get(path)
        if found is not None:
            return found.label + _suffix(field[len(path):]), found
        path = path.rpartition(".")[0]
    return ("Receiver network" if field == "receivers" else field), None


def _suffix(rest: str) -> str:
    rest = rest.lstrip(".")
    return f" ({rest})" if rest else ""


def labelled(text: str) -> str:
    """`text` with the config keys it names replaced by their labels."""
    return _KEY_PATTERN.sub(lambda m: KEY_LABELS.get(m[0], m[0]), text)


def error_text(exc: ConfigError) -> str:
    """A ConfigError in the form's words: "Frequency: 0 MHz is not valid; allowed 1 to
    6000 MHz" rather than "frequency_mhz = 0.0 is not valid: allowed ...". Its problem
    is what the message holds between the value and what is allowed."""
    message = str(exc)
    probe = str(ConfigError(exc.field, exc.value, exc.allowed, problem="\x00"))
    head, _, tail = probe.partition(" \x00")
    if not (message.startswith(head) and message.endswith(tail)):
        return labelled(message)
    problem = message[len(head) + 1:len(message) - len(tail)]
    label, found = field_label(exc.field)
    value = exc.value
    if value is None:
        said = f"{label} {problem}"
    elif isinstance(value, str) and not value.strip():
        said = f"{label} is empty"
    else:
        shown = head[len(f"{exc.field} = "):]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = f"{value:g}" if isinstance(value, float) else f"{value}"
            if found is not None and found.unit:
                shown += f" {found.unit}"
        said = f"{label}: {shown} {problem}"
    return labelled(f"{said}; allowed {exc.allowed}")


def readable_when_disabled(widget: QWidget) -> None:
    """Disabled, `widget` and its children keep the normal text colour on a background a
    shade off the window's: greyed text of inherited values is hard to read. Set on each
    child: under a style sheet (the form's) a palette does not pass on to children."""
    palette = QPalette(widget.palette())
    active, disabled = QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(disabled, role, palette.color(active, role))
    window = palette.color(active, QPalette.ColorRole.Window)
    palette.setColor(disabled, QPalette.ColorRole.Base,
                     window.darker(104) if window.lightness() > 128 else window.lighter(125))
    for each in (widget, *widget.findChildren(QWidget)):
        each.setPalette(palette)


class ConfigForm(QWidget):
    """All generation parameters of a dataset plus the sample count of a run."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("config_form")
        self.setStyleSheet(INVALID_STYLE)
        # Every parameter's widget by path; the spin boxes among them also in `numbers`.
        self.widgets: dict[str, QWidget] = {p.path: _widget(p) for p in FORM_PARAMS}
        self.numbers: dict[str, QAbstractSpinBox] = {
            path: w for path, w in self.widgets.items() if isinstance(w, QAbstractSpinBox)}
        # The "No limit" box of each parameter that may be unlimited, by its path.
        self.unlimited: dict[str, QCheckBox] = {
            p.path: _unlimited_box(p) for p in FORM_PARAMS if p.allow_inf}
        # The values set_values gave the spin boxes, which may hold more digits than shown.
        self._exact: dict[str, float] = {}
        self.locked = False  # showing a dataset's stored config (Expand)
        # The widgets the user has changed, whose errors are marked; all once
        # `reveal_errors` was called. Filling the form (`_filling`) changes none.
        self.touched: set[QWidget] = set()
        self.errors_revealed = False
        self._filling = False
        self._build_widgets()
        self._build_layout()
        self._connect()
        self.reset_to_defaults()
        self.show_parameters_of(GENERATOR_VERSION)  # a new dataset's
        self._show_dataset_type()

    # -- construction --------------------------------------------------------

    def _build_widgets(self) -> None:
        self.name = self._line_edit("name")
        self.name.setPlaceholderText("e.g. nw-italy-2m")
        self.seed = self._line_edit("seed")
        digits = len(str(int(BY_PATH["seed"].hi))) + 1
        self.seed.setMinimumWidth(self.seed.fontMetrics().horizontalAdvance("0" * digits))
        self.dataset_type = self._combo("dataset_type")
        self.path_loss_model = self._combo("propagation.path_loss_model")
        self.new_seed_button = QPushButton("New", objectName="new_seed")
        self.new_seed_button.setToolTip("Draw a new random seed")
        self.target_path = QLabel(objectName="dataset_file")
        self.target_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.target_path.setWordWrap(True)
        # What each parameter's form row holds: its widget, or the widget with a button,
        # a "No limit" box or a unit beside it.
        self.fields: dict[str, QWidget] = {p.path: self._field(p) for p in FORM_PARAMS}

        self.receiver_model = ReceiverTableModel(self)
        self.receivers = QTableView(objectName="receivers")
        self.receivers.setModel(self.receiver_model)
        self.receivers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.receivers.verticalHeader().setDefaultSectionSize(22)
        self.receivers.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        # No stretched last column: one squeezed to the room left clips its values; the
        # table scrolls sideways instead.
        self.receivers.horizontalHeader().setStretchLastSection(False)
        self.receivers.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        for column, choices in CHOICE_COLUMNS.items():
            self.receivers.setItemDelegateForColumn(column,
                                                    ChoiceDelegate(choices, self.receivers))
        self.add_receiver_button = QPushButton("Add", objectName="add_receiver")
        self.remove_receiver_button = QPushButton("Remove", objectName="remove_receiver")
        self.load_receivers_button = QPushButton("Load JSON/CSV…", objectName="load_receivers")
        self.default_receivers_button = QPushButton("Reset to default",
                                                    objectName="default_receivers")

        count = BY_PATH["num_samples"]
        self.num_samples = QSpinBox(objectName=count.path)
        self.num_samples.setRange(int(count.lo), min(int(count.hi), MAX_NUM_SAMPLES))
        self.num_samples.setSingleStep(int(count.step))
        self.num_samples.setGroupSeparatorShown(True)
        self.num_samples.setAccelerated(True)
        self.num_samples.setMinimumWidth(150)
        self.num_samples.setToolTip(f"{count.help}: 1 to {MAX_NUM_SAMPLES:,} here (the "
                                    f"command line goes further)")
        self.sample_total = QLabel(objectName="sample_total")
        self.sample_total.setStyleSheet("font-weight: bold;")

        self.advanced_toggle = QToolButton(objectName="advanced_toggle", checkable=True)
        self.advanced_toggle.setText("Advanced: propagation model, measurements")
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")

    def _line_edit(self, path: str) -> QLineEdit:
        widget = self.widgets[path]
        assert isinstance(widget, QLineEdit)
        return widget

    def _combo(self, path: str) -> QComboBox:
        widget = self.widgets[path]
        assert isinstance(widget, QComboBox)
        return widget

    def _field(self, param: Param) -> QWidget:
        """A parameter's widget, or a row of it and what goes beside it."""
        widget = self.widgets[param.path]
        beside: QWidget | None = None
        if param.path == "seed":
            beside = self.new_seed_button
        elif param.path in self.unlimited:
            beside = self.unlimited[param.path]
        elif isinstance(widget, QLineEdit) and param.unit:  # a spin box shows it inside
            beside = QLabel(param.unit)
        if beside is None:
            return widget
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(widget, 1)
        layout.addWidget(beside)
        return row

    def _form(self, title: str, rows: list[tuple[str, QWidget]]) -> QGroupBox:
        group = QGroupBox(title)
        layout = QFormLayout(group)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for text, widget in rows:
            label = QLabel(text)
            label.setMinimumWidth(LABEL_WIDTH)  # fields line up across the groups
            layout.addRow(label, widget)
        return group

    def _group_box(self, group: str) -> QGroupBox:
        """The box of a form group: its parameters, in table order."""
        rows = [(p.label, self.fields[p.path]) for p in FORM_PARAMS if p.group == group]
        if group == "dataset":
            rows.append(("File", self.target_path))
        box = self._form(FORM_TITLES[group], rows)
        self.group_boxes[group] = box
        return box

    def _build_layout(self) -> None:
        self.group_boxes: dict[str, QGroupBox] = {}
        groups = [self._group_box(group) for group in SHOWN_GROUPS]
        self.advanced = QWidget(objectName="advanced")
        advanced_layout = QVBoxLayout(self.advanced)
        advanced_layout.setContentsMargins(0, 0, 0, 0)
        for group in ADVANCED_GROUPS:
            advanced_layout.addWidget(self._group_box(group))
        self.advanced.setVisible(False)

        network = QGroupBox("Receiver network")
        network_layout = QVBoxLayout(network)
        network_layout.addWidget(self.receivers)
        buttons = QHBoxLayout()
        for button in (self.add_receiver_button, self.remove_receiver_button,
                       self.load_receivers_button, self.default_receivers_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        network_layout.addLayout(buttons)

        run = self._form(GROUPS["run"], [(BY_PATH["num_samples"].label, self.num_samples),
                                         ("", self.sample_total)])
        self.run_group = run

        left = QVBoxLayout()
        for group_box in groups:
            left.addWidget(group_box)
        left.addWidget(self.advanced_toggle)
        left.addWidget(self.advanced)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(network, 1)
        right.addWidget(run)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        # The receiver network takes what the fields leave: it has a dozen columns
        grid.setColumnStretch(0, 0)
        grid.setColumnStretch(1, 3)

    def _connect(self) -> None:
        self._connect_touches()  # first: a change is the user's before it is checked
        for widget in self.widgets.values():
            if isinstance(widget, QLineEdit):
                widget.textChanged.connect(self.changed)
            elif isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self.changed)
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.valueChanged.connect(self.changed)
        for path, box in self.unlimited.items():
            box.toggled.connect(lambda on, spin=self.widgets[path]: spin.setEnabled(not on))
            box.toggled.connect(self.changed)
        self.num_samples.valueChanged.connect(self.changed)
        for signal in (self.receiver_model.dataChanged, self.receiver_model.rowsInserted,
                       self.receiver_model.rowsRemoved, self.receiver_model.modelReset):
            signal.connect(self.changed)
        self.new_seed_button.clicked.connect(lambda: self.seed.setText(str(new_seed())))
        self.add_receiver_button.clicked.connect(self._add_receiver)
        self.remove_receiver_button.clicked.connect(self._remove_receivers)
        self.load_receivers_button.clicked.connect(self._choose_receiver_file)
        self.default_receivers_button.clicked.connect(
            lambda: self.receiver_model.set_receivers(default_receivers()))
        self.advanced_toggle.toggled.connect(self._show_advanced)
        self.dataset_type.currentTextChanged.connect(self._show_dataset_type)

    def _connect_touches(self) -> None:
        """Note each widget the user changes (`touched`)."""
        for widget in self.widgets.values():
            signal = (widget.textChanged if isinstance(widget, QLineEdit)
                      else widget.currentIndexChanged if isinstance(widget, QComboBox)
                      else widget.valueChanged if isinstance(widget, (QSpinBox, QDoubleSpinBox))
                      else None)
            if signal is not None:
                signal.connect(lambda *_args, w=widget: self._touch(w))
        for path, box in self.unlimited.items():
            box.toggled.connect(lambda *_args, w=self.widgets[path]: self._touch(w))
        for signal in (self.receiver_model.dataChanged, self.receiver_model.rowsInserted,
                       self.receiver_model.rowsRemoved, self.receiver_model.modelReset):
            signal.connect(lambda *_args: self._touch(self.receivers))

    def _touch(self, widget: QWidget) -> None:
        if not self._filling:
            self.touched.add(widget)

    # -- filling -------------------------------------------------------------

    def reset_to_defaults(self) -> None:
        self.set_values(DatasetConfig(name="default", seed=new_seed()), name="")
        self._filling = True
        try:
            self.num_samples.setValue(DEFAULT_NUM_SAMPLES)
        finally:
            self._filling = False

    def set_values(self, config: DatasetConfig, name: str | None = None) -> None:
        """Show a config; `name` overrides the shown name (empty for a new dataset).
        What is shown counts as not changed by the user (`touched`)."""
        self._filling = True
        try:
            self._set_values(config, name)
        finally:
            self._filling = False

    def _set_values(self, config: DatasetConfig, name: str | None) -> None:
        holders = {"propagation": config.propagation, "terrain": config.propagation.terrain,
                   "measurement": config.measurement}
        for param in FORM_PARAMS:
            holder = holders.get(param.scope, config)
            value = getattr(holder, param.key)
            if param.key == "name" and name is not None:
                value = name
            box = self.unlimited.get(param.path)
            if box is not None:
                box.setChecked(math.isinf(value))
                if math.isinf(value):
                    value = param.default  # what the spin box holds if the box is unticked
            widget = self.widgets[param.path]
            if isinstance(widget, QLineEdit):
                widget.setText(field_text(param, value))
                widget.setCursorPosition(0)  # a long mix reads from its start
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(value)
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.setValue(value)
                self._exact[param.path] = value
        self.receiver_model.set_receivers(config.receivers)

    def lock_to_dataset(self, header: DatasetHeader) -> None:
        """Expand mode: show the dataset's stored config, greyed; only the count is open.
        Parameters its generator version does not read are not shown."""
        self.set_values(header.config)
        self.locked = True
        tip = (f"Inherited from dataset '{header.config.name}': an expansion always draws "
               "its samples with the dataset's own stored parameters")
        for widget in self.generation_widgets():
            widget.setEnabled(False)
            widget.setToolTip(tip)
        for field in self.fields.values():  # a unit beside a field greys with it
            field.setEnabled(False)
        readable_when_disabled(self)
        self.show_parameters_of(header.generator_version)
        self.receiver_model.read_only = True
        for button in (self.add_receiver_button, self.remove_receiver_button,
                       self.load_receivers_button, self.default_receivers_button):
            button.setVisible(False)
        self.num_samples.setToolTip("How many samples to add")
        label = self.run_group.layout().labelForField(self.num_samples)
        if isinstance(label, QLabel):
            label.setText("Samples to add")
        self.set_target_path(str(header.path))

    def show_parameters_of(self, generator_version: int) -> None:
        """Show only the parameters that `generator_version` reads (`Param.read_by`)."""
        for param in FORM_PARAMS:
            field = self.fields[param.path]
            box = self.group_boxes[param.group]
            layout = box.layout()
            assert isinstance(layout, QFormLayout)
            layout.setRowVisible(field, param.read_by(generator_version))
        for group, box in self.group_boxes.items():
            box.setVisible(any(p.read_by(generator_version)
                               for p in FORM_PARAMS if p.group == group))
        for column, param in enumerate(RECEIVER_PARAMS):
            self.receivers.setColumnHidden(column, not param.read_by(generator_version))

    def _show_dataset_type(self, *_args: object) -> None:
        """Grey the IQ-only parameters, and their labels, unless Type is iq_raw."""
        if self.locked:
            return  # everything is greyed, and says it is inherited
        iq = self.dataset_type.currentText() == IQ_DATASET_TYPE
        for path in IQ_ONLY_PATHS:
            param, field = BY_PATH[path], self.fields[path]
            field.setEnabled(iq)
            layout = self.group_boxes[param.group].layout()
            assert isinstance(layout, QFormLayout)
            label = layout.labelForField(field)
            tip = param.describe() if iq else f"{IQ_ONLY_NOTE}.\n{param.describe()}"
            for widget in (self.widgets[path], label):
                if widget is not None:
                    widget.setEnabled(iq)
                    widget.setToolTip(tip)

    def generation_widgets(self) -> list[QWidget]:
        """Every widget that holds a generation parameter (everything but the count)."""
        return [*self.widgets.values(), *self.unlimited.values(), self.new_seed_button,
                self.receivers]

    def set_target_path(self, text: str) -> None:
        self.target_path.setText(text)

    def set_sample_total(self, text: str) -> None:
        self.sample_total.setText(text)

    # -- reading -------------------------------------------------------------

    def config_values(self) -> dict[str, Any]:
        """What the widgets hold, as `DatasetConfig.from_dict` input (not yet checked)."""
        terrain: dict[str, Any] = {}
        propagation: dict[str, Any] = {"terrain": terrain}
        measurement: dict[str, Any] = {}
        values: dict[str, Any] = {"receivers": self.receiver_model.receiver_dicts(),
                                  "propagation": propagation, "measurement": measurement}
        groups = {"propagation": propagation, "terrain": terrain, "measurement": measurement}
        for param in FORM_PARAMS:
            groups.get(param.scope, values)[param.key] = self._value(param)
        return values

    def _value(self, param: Param) -> Any:
        box = self.unlimited.get(param.path)
        if box is not None and box.isChecked():
            return math.inf
        widget = self.widgets[param.path]
        if isinstance(widget, QLineEdit):
            text = widget.text()
            if param.kind == "int":  # digits only: the seed
                return int(text.strip()) if text.strip().isdigit() else text.strip()
            return text  # a range or a mix is parsed by the config
        if isinstance(widget, QComboBox):
            return widget.currentText()
        assert isinstance(widget, (QSpinBox, QDoubleSpinBox))
        value = widget.value()
        # A spin box holds what it shows (4/3 as 1.333): a value it was given and still
        # shows is passed on exactly, so the form stores what the command line does.
        exact = self._exact.get(param.path)
        if isinstance(widget, QDoubleSpinBox) and exact is not None \
                and round(exact, widget.decimals()) == value:
            return exact
        return value

    def _error_widget(self, field: str | None) -> QWidget | None:
        """The widget of a ConfigError field; a field inside a parameter
        (`measurement.tx_antennas.dish`) is the parameter's."""
        if not field:
            return None
        if field.startswith("receivers"):
            return self.receivers
        target = self.findChild(QWidget, field)
        path = field
        while target is None and path:
            target = self.widgets.get(path)
            path = path.rpartition(".")[0]
        return target

    def shows_error(self, field: str | None) -> bool:
        """Whether an error of `field` is shown as one: the user changed that field, or
        asked for the dataset to be made (`reveal_errors`)."""
        return self.errors_revealed or self._error_widget(field) in self.touched

    def reveal_errors(self) -> None:
        """From now on mark every error, changed field or not (Create was pressed)."""
        self.errors_revealed = True

    def mark_invalid(self, field: str | None) -> None:
        """Highlight the widget of a ConfigError field, once `shows_error` (None clears
        every mark)."""
        target = self._error_widget(field) if self.shows_error(field) else None
        for widget in [*self.widgets.values(), self.receivers]:
            invalid = widget is target
            if widget.property("invalid") != invalid:
                widget.setProperty("invalid", invalid)
                widget.style().unpolish(widget)
                widget.style().polish(widget)

    # -- receiver network ------------------------------------------------------

    def _add_receiver(self) -> None:
        row = self.receiver_model.add_receiver()
        self.receivers.selectRow(row)
        self.receivers.edit(self.receiver_model.index(row, 0))

    def _remove_receivers(self) -> None:
        rows = [i.row() for i in self.receivers.selectionModel().selectedRows()]
        self.receiver_model.remove_receivers(rows)

    def _choose_receiver_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load receiver network", "", "Receiver networks (*.json *.csv);;All files (*)")
        if path:
            error = self.load_receiver_file(Path(path))
            if error:
                QMessageBox.warning(self, "Receiver network not loaded", error)

    def load_receiver_file(self, path: Path) -> str | None:
        """Replace the network by a file's; returns why when the file is refused."""
        try:
            receivers = load_receivers(path)
        except ConfigError as exc:
            return f"{path.name}: {exc}"
        self.receiver_model.set_receivers(receivers)
        return None

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
