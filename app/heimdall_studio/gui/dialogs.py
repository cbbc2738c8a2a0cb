"""The New and Expand dialogs. Each returns a small value object; the main window runs it.

The Expand dialog's result holds only a dataset path and a sample count. It shows the
dataset's parameters, disabled (greyed, in legible text), but never reads them back:
whatever a widget ends up holding cannot reach the generator, because the request has no
field to carry it (docs/generation.md, Expansion).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..core.api import DatasetEntry, resolve_terrain
from ..core.config.fields import row_bytes, sample_fields
from ..core.config.model import DatasetConfig, new_seed
from ..core.config.names import validate_name
from ..core.config.units import format_size
from ..core.config.versions import GENERATOR_VERSION
from ..core.errors import ConfigError, TerrainError
from ..core.workspace.paths import dataset_path
from .config_form import ConfigForm, error_text
from .coverage_preview import CoveragePreview

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

    def _say(self, text: str, error: bool, quiet: bool = False) -> None:
        """Show the check's result; OK only without an error. A `quiet` error (of a field
        the user has not touched yet) reads as a hint, not in red."""
        self.message.setText(text)
        self.message.setStyleSheet("" if quiet else ERROR_STYLE if error else OK_STYLE)
        self.ok_button.setEnabled(not error)


class NewDatasetDialog(_FormDialog):
    """Every parameter with its default (or a dataset's, `settings`), checked as it is
    typed, beside the coverage preview of what it would give."""

    def __init__(self, workspace: Path, parent: QWidget | None = None,
                 settings: DatasetConfig | None = None):
        super().__init__("New dataset", "new_dataset_dialog", parent)
        self.workspace = Path(workspace)
        self.intro.setText("Choose the generation parameters of the new dataset. They are "
                           "stored in the dataset file; later expansions reuse them.")
        self.ok_button.setText("Create")
        self.form.sample_total.setVisible(False)
        if settings is not None:
            self._fill_from(settings)
        self.preview = CoveragePreview()
        self._place_preview()
        self.form.changed.connect(self.validate)
        self._request: NewDatasetRequest | None = None
        self.validate()

    @classmethod
    def from_dataset(cls, workspace: Path, config: DatasetConfig,
                     parent: QWidget | None = None) -> NewDatasetDialog:
        """The dialog filled with a dataset's settings, named `<name>-2`."""
        return cls(workspace, parent, settings=config)

    def _fill_from(self, config: DatasetConfig) -> None:
        """Show a dataset's settings under the name `<name>-2` and with a new seed: the
        same seed would draw the very samples of that dataset again."""
        self.intro.setText(f"Parameters of dataset <b>{config.name}</b>, with a new seed. "
                           "They are stored in the new dataset's file; later expansions "
                           "reuse them.")
        self.form.set_values(replace(config, seed=new_seed()), name=f"{config.name}-2")

    def _place_preview(self) -> None:
        """The form and the preview side by side, the divider movable."""
        layout = self.layout()
        scroll = layout.itemAt(1).widget()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        layout.replaceWidget(scroll, splitter)
        splitter.addWidget(scroll)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.resize(1600, 860)

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
            self._say(error_text(exc), error=True, quiet=not self.form.shows_error(exc.field))
            self._preview_unnamed(values, exc)
            return None
        n = self.form.num_samples.value()
        self.preview.request(config, n)  # a clash of names does not change the coverage
        path = dataset_path(config.name, self.workspace)
        if path.exists() or path.is_symlink():
            self.form.mark_invalid("name")
            self._say(f"Name {config.name!r}: a dataset of that name already exists in "
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
        size = size_text(n, bytes_per_sample(config))
        self._say("\n".join([f"Ready: {n:,} samples will be written to {path} ({size})",
                             *(f"Note: {line}" for line in warnings)]), error=False)
        return NewDatasetRequest(config, n)

    def _preview_unnamed(self, values: dict, error: ConfigError) -> None:
        """Preview the parameters while the name is still missing or wrong: the name
        changes nothing drawn. Any other error pauses the preview."""
        if error.field == "name":
            try:
                self.preview.request(DatasetConfig.from_dict({**values, "name": "preview"}),
                                     self.form.num_samples.value())
                return
            except ConfigError as exc:
                error = exc
        self.preview.clear(str(error))

    def accept(self) -> None:
        self.form.reveal_errors()  # asked to create: every error is one now
        request = self.validate()  # the workspace may have changed since the last edit
        if request is None:
            return
        self._request = request
        super().accept()

    def request(self) -> NewDatasetRequest | None:
        return self._request

    def done(self, result: int) -> None:
        self.preview.close_preview()
        super().done(result)


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
        # The one field to fill, and the total it gives, stay in view below the
        # parameters however far they are scrolled (the Advanced part is long).
        self.layout().insertWidget(2, self.form.run_group)
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
