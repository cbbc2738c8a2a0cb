"""The New and Expand dialogs. Each returns a small value object; the main window runs it.

The Expand dialog's result holds only a dataset path and a sample count. It shows the
dataset's parameters, greyed, but never reads them back: whatever a widget ends up holding
cannot reach the generator, because the request has no field to carry it
(docs/generation.md, Expansion).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..core.api import DatasetEntry, resolve_terrain
from ..core.config.fields import row_bytes, sample_fields
from ..core.config.model import DatasetConfig
from ..core.config.names import validate_name
from ..core.config.units import format_size
from ..core.config.versions import GENERATOR_VERSION
from ..core.errors import ConfigError, TerrainError
from ..core.workspace.paths import dataset_path
from .config_form import ConfigForm

# Terrain sources checked as the form changes (the rest when the run starts).
QUICK_TERRAIN_SOURCES = ("builtin", "flat")
ERROR_STYLE = "color: #b3261e;"
OK_STYLE = "color: #2e6b30;"


@dataclass(frozen=True)
class NewDatasetRequest:
    """Create a dataset with this (validated) config and this many samples."""

    config: DatasetConfig
    num_samples: int


@dataclass(frozen=True)
class ExpandDatasetRequest:
    """Add samples to a dataset. Deliberately nothing else: no parameter can be passed."""

    path: Path
    num_samples: int


def bytes_per_sample(config: DatasetConfig) -> int:
    """What one sample of a new dataset of `config` takes before compression (what
    `DatasetHeader.bytes_per_sample` says of a written one)."""
    fields = sample_fields(GENERATOR_VERSION, config.dataset_type, config.iq_storage)
    return row_bytes(fields, len(config.receivers), config.iq_length)


def size_text(num_samples: int, per_sample: int) -> str:
    """"53.4 GiB before compression, 560.0 KiB a sample"."""
    return (f"{format_size(num_samples * per_sample)} before compression, "
            f"{format_size(per_sample)} a sample")


class _FormDialog(QDialog):
    def __init__(self, title: str, object_name: str, parent: QWidget | None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        self.form = ConfigForm()
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.intro = QLabel(wordWrap=True)
        self.message = QLabel(objectName="validation_message", wordWrap=True)
        self.message.setMinimumHeight(36)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(1240, 800)

    @property
    def ok_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _say(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else OK_STYLE)
        self.ok_button.setEnabled(not error)


class NewDatasetDialog(_FormDialog):
    """Every parameter with its default, checked as it is typed."""

    def __init__(self, workspace: Path, parent: QWidget | None = None):
        super().__init__("New dataset", "new_dataset_dialog", parent)
        self.workspace = Path(workspace)
        self.intro.setText("Choose the generation parameters of the new dataset. They are "
                           "stored in the dataset file; later expansions reuse them.")
        self.ok_button.setText("Create")
        self.form.sample_total.setVisible(False)
        self.form.changed.connect(self.validate)
        self._request: NewDatasetRequest | None = None
        self.validate()

    def validate(self) -> NewDatasetRequest | None:
        """Check the form; OK is enabled exactly when this returns a request."""
        values = self.form.config_values()
        try:
            self.form.set_target_path(str(dataset_path(validate_name(values["name"]),
                                                       self.workspace)))
        except ConfigError:
            self.form.set_target_path("(enter a valid name)")
        try:
            config = DatasetConfig.from_dict(values)
        except ConfigError as exc:
            self.form.mark_invalid(exc.field)
            self._say(str(exc), error=True)
            return None
        path = dataset_path(config.name, self.workspace)
        if path.exists() or path.is_symlink():
            self.form.mark_invalid("name")
            self._say(f"name = {config.name!r}: a dataset of that name already exists in "
                      f"this workspace; choose another name, or expand that dataset",
                      error=True)
            return None
        warnings: list[str] = []
        if config.propagation.terrain.source in QUICK_TERRAIN_SOURCES:
            # Cropping the built-in grid takes milliseconds; tiles are read by the run.
            try:
                config, warnings = resolve_terrain(config)
            except TerrainError as exc:
                self.form.mark_invalid("propagation.terrain.source")
                self._say(str(exc), error=True)
                return None
        self.form.mark_invalid(None)
        n = self.form.num_samples.value()
        size = size_text(n, bytes_per_sample(config))
        self._say("\n".join([f"Ready: {n:,} samples will be written to {path} ({size})",
                             *(f"Note: {line}" for line in warnings)]), error=False)
        return NewDatasetRequest(config, n)

    def accept(self) -> None:
        request = self.validate()  # the workspace may have changed since the last edit
        if request is None:
            return
        self._request = request
        super().accept()

    def request(self) -> NewDatasetRequest | None:
        return self._request


class ExpandDatasetDialog(_FormDialog):
    """The dataset's parameters shown greyed; only the number of new samples is open."""

    def __init__(self, entry: DatasetEntry, parent: QWidget | None = None):
        super().__init__(f"Expand dataset '{entry.name}'", "expand_dataset_dialog", parent)
        if entry.header is None:
            raise ValueError(f"{entry.path} is not a readable dataset")
        self.path = entry.path
        self.current = entry.header.num_samples
        self.bytes_per_sample = entry.header.bytes_per_sample
        self.intro.setText(
            f"New samples are drawn exactly as the existing ones: every parameter below is "
            f"inherited from <b>{entry.path.name}</b> and cannot be changed here. "
            f"Choose how many samples to add.")
        self.ok_button.setText("Expand")
        self.form.lock_to_dataset(entry.header)
        self.form.num_samples.valueChanged.connect(self._update_total)
        self._update_total()

    def _update_total(self) -> None:
        added = self.form.num_samples.value()
        self.form.set_sample_total(f"current {self.current:,} + additional {added:,} "
                                   f"= total {self.current + added:,}")
        self._say(f"Ready: {added:,} samples will be added to {self.path} "
                  f"({size_text(added, self.bytes_per_sample)})", error=False)

    def request(self) -> ExpandDatasetRequest:
        # Only the path and the count: the greyed widgets are never read.
        return ExpandDatasetRequest(self.path, self.form.num_samples.value())
