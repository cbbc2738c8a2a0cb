"""The core is Qt-free: importing it, or running the command line, never loads Qt."""

import subprocess
import sys


def test_core_and_cli_import_without_qt():
    code = ("import sys, heimdall_studio.core.api, heimdall_studio.core.tools.verify, "
            "heimdall_studio.cli\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'shiboken6', 'pyqtgraph') or m.startswith('heimdall_studio.gui'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
