"""The dataset parameter form shared by the New and Expand dialogs.

Every parameter widget's objectName is its config key (`frequency_mhz`, ...; propagation
constants are `propagation.<key>`), the sample count is `num_samples`. The form only
collects values; checking them is `DatasetConfig.from_dict`'s job, so the GUI and the
command line accept and refuse exactly the same input with the same messages.

Spin box ranges are deliberately wider than the valid ranges: a spin box silently refuses
what is outside its range, while validation says which field is wrong and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
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

from ..core.config.model import DATASET_TYPES, MAX_SEED, PATH_LOSS_MODELS, DatasetConfig, new_seed
from ..core.config.receivers import default_receivers, load_receivers
from ..core.dataset.reader import DatasetHeader
from ..core.errors import ConfigError
from .receivers import ReceiverTableModel

DEFAULT_NUM_SAMPLES = 100_000
LABEL_WIDTH = 135
MAX_NUM_SAMPLES = 2_000_000_000  # what a QSpinBox holds; the command line goes further


@dataclass(frozen=True)
class NumberField:
    key: str
    label: str
    unit: str
    decimals: int  # -1: whole numbers (QSpinBox)
    lo: float
    hi: float
    step: float
    tip: str


SIGNAL_FIELDS = (
    NumberField("frequency_mhz", "Frequency", "MHz", 3, 0, 100_000, 1,
                "Carrier frequency: 1 to 6000 MHz"),
    NumberField("tx_power_dbm", "Transmit power", "dBm", 1, -200, 200, 1,
                "Nominal transmitter power: -30 to 70 dBm (37 dBm = 5 W)"),
    NumberField("bandwidth_hz", "Noise bandwidth", "Hz", 0, 0, 1e10, 500,
                "Receiver noise bandwidth: greater than 0 Hz"),
)
FILTER_FIELDS = (
    NumberField("min_snr_db", "Min SNR", "dB", 1, -100, 200, 0.5,
                "A receiver detects the signal when its SNR is at least this: -20 to 60 dB"),
    NumberField("min_receivers", "Min receivers", "", -1, 0, 255, 1,
                "Detecting receivers a sample needs to be kept: 3 to the number of receivers"),
    NumberField("max_gdop", "Max GDOP", "", 2, 0, 1e9, 0.5,
                "Keep a sample only if its GDOP is at most this: greater than 1"),
)
PLACEMENT_FIELDS = (
    NumberField("inside_ratio", "Inside ratio", "", 3, -1, 2, 0.05,
                "Fraction of samples with the transmitter inside the receiver box: 0 to 1"),
    NumberField("margin_deg", "Margin", "deg", 3, -10, 90, 0.1,
                "The training box is the receiver box grown by this on every side: 0 to 5 deg"),
)
PROPAGATION_FIELDS = (
    NumberField("propagation.tx_height_m", "TX antenna height", "m", 1, 0, 10_000, 1,
                "Transmitter antenna above ground"),
    NumberField("propagation.clutter_min_db", "Clutter loss from", "dB", 1, -100, 200, 1,
                "Per-link clutter loss is uniform between these two"),
    NumberField("propagation.clutter_max_db", "Clutter loss to", "dB", 1, -100, 200, 1,
                "Per-link clutter loss is uniform between these two"),
    NumberField("propagation.shadowing_sigma_db", "Shadowing sigma", "dB", 1, -100, 200, 0.5,
                "Standard deviation of log-normal shadowing"),
    NumberField("propagation.rician_k_db", "Rician K", "dB", 1, -100, 200, 0.5,
                "Rician fading K factor below the line-of-sight distance, Rayleigh beyond"),
    NumberField("propagation.los_distance_km", "Line of sight up to", "km", 1, -1, 100_000, 1,
                "Links shorter than this fade as Rician, longer as Rayleigh"),
    NumberField("propagation.max_freq_offset_hz", "Max oscillator offset", "Hz", 1, -1, 1e7, 5,
                "Receiver frequency offsets are uniform in plus/minus this"),
    NumberField("chunk_size", "Chunk size", "samples", -1, 0, 1 << 24, 1024,
                "Samples per random-stream chunk; part of what makes a dataset reproducible"),
)
ALL_NUMBER_FIELDS = SIGNAL_FIELDS + FILTER_FIELDS + PLACEMENT_FIELDS + PROPAGATION_FIELDS

INVALID_STYLE = """
QLineEdit[invalid="true"], QAbstractSpinBox[invalid="true"], QTableView[invalid="true"] {
    background: #fde2e1;
}
"""


def _number_widget(field: NumberField) -> QAbstractSpinBox:
    if field.decimals < 0:
        box: QAbstractSpinBox = QSpinBox()
    else:
        box = QDoubleSpinBox()
        box.setDecimals(field.decimals)
    box.setRange(field.lo, field.hi)
    box.setSingleStep(field.step)
    if field.unit:
        box.setSuffix(f" {field.unit}")
    box.setObjectName(field.key)
    box.setToolTip(field.tip)
    box.setAccelerated(True)
    box.setGroupSeparatorShown(field.key in ("bandwidth_hz", "chunk_size"))
    box.setMinimumWidth(130)
    return box


class ConfigForm(QWidget):
    """All generation parameters of a dataset plus the sample count of a run."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("config_form")
        self.setStyleSheet(INVALID_STYLE)
        self.numbers: dict[str, QAbstractSpinBox] = {f.key: _number_widget(f)
                                                     for f in ALL_NUMBER_FIELDS}
        self._build_widgets()
        self._build_layout()
        self._connect()
        self.reset_to_defaults()

    # -- construction --------------------------------------------------------

    def _build_widgets(self) -> None:
        self.name = QLineEdit(objectName="name", placeholderText="e.g. nw-italy-2m")
        self.name.setToolTip("Letters, digits, space, '-', '_', '.'; the file is <name>.h5")
        self.dataset_type = QComboBox(objectName="dataset_type")
        self.dataset_type.addItems(DATASET_TYPES)
        self.dataset_type.setToolTip("What each sample stores")
        self.seed = QLineEdit(objectName="seed")
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,19}")))
        self.seed.setToolTip(f"Root of all randomness: 0 to {MAX_SEED}. "
                             "The same seed and parameters give the same samples")
        self.new_seed_button = QPushButton("New", objectName="new_seed")
        self.new_seed_button.setToolTip("Draw a new random seed")
        self.target_path = QLabel(objectName="dataset_file")
        self.target_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.target_path.setWordWrap(True)
        self.path_loss_model = QComboBox(objectName="propagation.path_loss_model")
        self.path_loss_model.addItems(PATH_LOSS_MODELS)
        self.path_loss_model.setToolTip("two_ray: max(free space, plane earth); "
                                        "free_space: free-space loss only")

        self.receiver_model = ReceiverTableModel(self)
        self.receivers = QTableView(objectName="receivers")
        self.receivers.setModel(self.receiver_model)
        self.receivers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.receivers.verticalHeader().setDefaultSectionSize(22)
        self.receivers.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.receivers.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.add_receiver_button = QPushButton("Add", objectName="add_receiver")
        self.remove_receiver_button = QPushButton("Remove", objectName="remove_receiver")
        self.load_receivers_button = QPushButton("Load JSON/CSV…", objectName="load_receivers")
        self.default_receivers_button = QPushButton("Reset to default",
                                                    objectName="default_receivers")

        self.num_samples = QSpinBox(objectName="num_samples")
        self.num_samples.setRange(1, MAX_NUM_SAMPLES)
        self.num_samples.setSingleStep(10_000)
        self.num_samples.setGroupSeparatorShown(True)
        self.num_samples.setAccelerated(True)
        self.num_samples.setMinimumWidth(150)
        self.num_samples.setToolTip("How many samples this run adds")
        self.sample_total = QLabel(objectName="sample_total")
        self.sample_total.setStyleSheet("font-weight: bold;")

        self.advanced_toggle = QToolButton(objectName="advanced_toggle", checkable=True)
        self.advanced_toggle.setText("Advanced: propagation model")
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")

    def _form(self, title: str, rows: list[tuple[str, QWidget]]) -> QGroupBox:
        group = QGroupBox(title)
        layout = QFormLayout(group)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for text, widget in rows:
            label = QLabel(text)
            label.setMinimumWidth(LABEL_WIDTH)  # fields line up across the groups
            layout.addRow(label, widget)
        return group

    def _build_layout(self) -> None:
        def rows(fields: tuple[NumberField, ...]) -> list[tuple[str, QWidget]]:
            return [(f.label, self.numbers[f.key]) for f in fields]

        seed_row = QWidget()
        seed_layout = QHBoxLayout(seed_row)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        seed_layout.addWidget(self.seed, 1)
        seed_layout.addWidget(self.new_seed_button)
        dataset = self._form("Dataset", [("Name", self.name), ("Type", self.dataset_type),
                                         ("Seed", seed_row), ("File", self.target_path)])
        signal = self._form("Signal", rows(SIGNAL_FIELDS))
        filters = self._form("Filters", rows(FILTER_FIELDS))
        placement = self._form("Transmitter placement", rows(PLACEMENT_FIELDS))
        self.advanced = self._form("", [("Path loss model", self.path_loss_model)]
                                   + rows(PROPAGATION_FIELDS))
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

        run = self._form("Run", [("Samples to generate", self.num_samples),
                                 ("", self.sample_total)])
        self.run_group = run

        left = QVBoxLayout()
        for group in (dataset, signal, filters, placement):
            left.addWidget(group)
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
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)

    def _connect(self) -> None:
        self.name.textChanged.connect(self.changed)
        self.seed.textChanged.connect(self.changed)
        self.dataset_type.currentIndexChanged.connect(self.changed)
        self.path_loss_model.currentIndexChanged.connect(self.changed)
        for box in self.numbers.values():
            box.valueChanged.connect(self.changed)
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

    # -- filling -------------------------------------------------------------

    def reset_to_defaults(self) -> None:
        self.set_values(DatasetConfig(name="default", seed=new_seed()), name="")
        self.num_samples.setValue(DEFAULT_NUM_SAMPLES)

    def set_values(self, config: DatasetConfig, name: str | None = None) -> None:
        """Show a config; `name` overrides the shown name (empty for a new dataset)."""
        self.name.setText(config.name if name is None else name)
        self.seed.setText(str(config.seed))
        self.dataset_type.setCurrentText(config.dataset_type)
        self.path_loss_model.setCurrentText(config.propagation.path_loss_model)
        for key, box in self.numbers.items():
            if key.startswith("propagation."):
                value = getattr(config.propagation, key.split(".", 1)[1])
            else:
                value = getattr(config, key)
            box.setValue(value)
        self.receiver_model.set_receivers(config.receivers)

    def lock_to_dataset(self, header: DatasetHeader) -> None:
        """Expand mode: show the dataset's stored config, greyed; only the count is open."""
        self.set_values(header.config)
        tip = (f"Inherited from dataset '{header.config.name}': an expansion always draws "
               "its samples with the dataset's own stored parameters")
        for widget in self.generation_widgets():
            widget.setEnabled(False)
            widget.setToolTip(tip)
        self.receiver_model.read_only = True
        for button in (self.add_receiver_button, self.remove_receiver_button,
                       self.load_receivers_button, self.default_receivers_button):
            button.setVisible(False)
        self.num_samples.setToolTip("How many samples to add")
        label = self.run_group.layout().labelForField(self.num_samples)
        if isinstance(label, QLabel):
            label.setText("Samples to add")
        self.set_target_path(str(header.path))

    def generation_widgets(self) -> list[QWidget]:
        """Every widget that holds a generation parameter (everything but the count)."""
        return [self.name, self.dataset_type, self.seed, self.new_seed_button,
                self.path_loss_model, self.receivers, *self.numbers.values()]

    def set_target_path(self, text: str) -> None:
        self.target_path.setText(text)

    def set_sample_total(self, text: str) -> None:
        self.sample_total.setText(text)

    # -- reading -------------------------------------------------------------

    def config_values(self) -> dict[str, Any]:
        """What the widgets hold, as `DatasetConfig.from_dict` input (not yet checked)."""
        seed_text = self.seed.text().strip()
        values: dict[str, Any] = {
            "name": self.name.text(),
            "seed": int(seed_text) if seed_text.isdigit() else seed_text,
            "dataset_type": self.dataset_type.currentText(),
            "receivers": self.receiver_model.receiver_dicts(),
            "propagation": {"path_loss_model": self.path_loss_model.currentText()},
        }
        for key, box in self.numbers.items():
            if key.startswith("propagation."):
                values["propagation"][key.split(".", 1)[1]] = box.value()
            else:
                values[key] = box.value()
        return values

    def mark_invalid(self, field: str | None) -> None:
        """Highlight the widget of a ConfigError field (None clears every mark)."""
        target = None
        if field:
            if field.startswith("receivers"):
                target = self.receivers
            else:
                target = self.findChild(QWidget, field)
        for widget in [self.name, self.seed, self.receivers, *self.numbers.values()]:
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
