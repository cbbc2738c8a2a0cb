"""Render real screenshots of the app into resources/.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out resources]

Builds a temporary workspace with a few datasets, opens the main window at its default
size, selects a dataset, starts a large expansion and captures the window mid-run (live
plots filling), then the Map tab, the Expand dialog, the New dialog and the IQ tab of an
iq_raw dataset. Settings go to a temporary folder, never to the user's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QWidget

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate, timeout_s: float = 60.0, step_ms: int = 20) -> None:
    """Run the event loop until `predicate()` holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        loop = QEventLoop()
        QTimer.singleShot(step_ms, loop.quit)
        loop.exec()


def settle(ms: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path} ({widget.width()}x{widget.height()})")


def make_workspace(folder: Path) -> dict[str, Path]:
    from heimdall_studio.core import api

    made = {}
    for name, n, params in (
        ("nw-italy-2m", 250_000, dict(frequency_mhz=145.0, seed=20240501)),
        ("nw-italy-70cm", 120_000, dict(frequency_mhz=433.5, tx_power_dbm=40.0,
                                        min_snr_db=5.0, seed=7)),
        ("free-space-baseline", 60_000, dict(frequency_mhz=145.0, seed=3,
                                             propagation={"path_loss_model": "free_space"})),
    ):
        made[name] = api.create_dataset(name, n, folder, **params).path
    made["nw-italy-iq"] = api.create_dataset("nw-italy-iq", 60, folder, dataset_type="iq_raw",
                                             frequency_mhz=145.0, seed=11).path
    (folder / "old-export.h5").write_bytes(b"not an HDF5 file" * 64)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="heimdall-shots-", ignore_cleanup_errors=True) as temp:
        return take_screenshots(Path(temp), args.out)


def take_screenshots(temp: Path, out: Path) -> int:
    """The screenshots, into `out`, from a workspace and settings made under `temp`."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(temp / "cfg"))
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("Heimdall Studio")
    app.setApplicationName("Heimdall Studio")

    from heimdall_studio.gui import create_main_window
    from heimdall_studio.gui.dialogs import ExpandDatasetRequest

    workspace = temp / "datasets"
    datasets = make_workspace(workspace)
    window = create_main_window(workspace)
    window.resize(1500, 940)
    window.show()
    wait_until(lambda: window.model.rowCount() == 5 and window.run_process_ready)

    shown = datasets["nw-italy-2m"]
    window.select_dataset(shown)
    wait_until(lambda: window.details.summary is not None
               and window.details.summary.path == shown)

    job = window.start_expand(ExpandDatasetRequest(datasets["nw-italy-70cm"], 3_000_000))
    wait_until(lambda: job.done >= 1_000_000, timeout_s=120)
    window.job_panel.redraw()
    settle(150)
    save(window, out / "screenshot-main.png")
    window.jobs.cancel(job)
    wait_until(lambda: not job.active)

    details = window.details
    details.plot_tabs.setCurrentWidget(details.map_panel)
    fields = details.map_panel.color_field
    fields.setCurrentIndex(fields.findData("gdop"))  # coloured by GDOP
    settle(800)  # the labels are placed after the first paint
    save(window, out / "screenshot-map.png")

    details.plot_tabs.setCurrentWidget(details.sample_view)
    wait_until(lambda: details.sample_view.model.rowCount() > 0)
    settle(600)
    save(window, out / "screenshot-samples.png")
    details.plot_tabs.setCurrentIndex(0)

    compare = window.compare_datasets()
    compare.resize(1100, 760)
    wait_until(lambda: compare.second.count() > 1)
    compare.second.setCurrentIndex(compare.second.findText("nw-italy-70cm"))
    settle(1500)
    save(compare, out / "screenshot-compare.png")
    compare.reject()

    dialog = window.expand_dataset()
    dialog.form.num_samples.setValue(500_000)
    settle()
    save(dialog, out / "screenshot-expand.png")
    dialog.reject()

    new = window.new_dataset()
    new.form.name.setText("nw-italy-23cm")
    new.form.numbers["frequency_mhz"].setValue(433.5)
    predicted = new.findChild(QLabel, "predicted_acceptance")
    wait_until(lambda: predicted.text().endswith("%"), timeout_s=120)
    settle(1500)  # the maps, then the labels over them
    save(new, out / "screenshot-new.png")
    new.reject()

    # A voice sample of the IQ dataset, on the receiver that hears it best.
    from heimdall_studio.core import api
    from heimdall_studio.core.config.params import MODULATIONS

    records = datasets["nw-italy-iq"]
    codes = api.load_dataset(records, fields=("modulation",))["modulation"]
    voice = int((codes == MODULATIONS.index("nfm_voice")).argmax())
    window.select_dataset(records)
    view = window.details.iq_view
    view.sample_box.setValue(voice)
    window.details.plot_tabs.setCurrentIndex(window.details.iq_tab)
    wait_until(lambda: view.sample is not None and view.sample.index == voice)
    settle()
    save(window, out / "screenshot-iq.png")

    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
