"""What the window's process loads: the kernels belong to the processes that run."""

from __future__ import annotations

import subprocess
import sys

from heimdall_studio.core import api


def test_window_listing_details_and_about_do_not_load_numba(tmp_path):
    # numba took a third of the app's imports; runs load it in their own process.
    api.create_dataset("small", 300, tmp_path, seed=1, chunk_size=128)
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv[:1])\n"
        "from heimdall_studio.core import api\n"
        "from heimdall_studio.gui import create_main_window\n"
        "from heimdall_studio.gui.summary import summarize_dataset\n"
        "window = create_main_window(sys.argv[1])\n"
        "window.show()\n"
        "[entry] = api.list_datasets(sys.argv[1])\n"
        "summary = summarize_dataset(entry.path)\n"
        "from heimdall_studio.gui.identity import component_versions\n"
        "component_versions()  # the About dialog's\n"
        "print(entry.header.num_samples, summary.histograms['gdop'].counts.sum(), "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
        "window.close()\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["300", "300", "[]"], result.stdout + result.stderr
