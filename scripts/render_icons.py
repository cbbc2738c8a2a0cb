"""Render the application icon SVG to the PNG sizes desktops use.

    .venv/bin/python scripts/render_icons.py

The source artwork is resources/icons/heimdall-studio.svg. The script copies it into
the package and writes app/heimdall_studio/assets/icons/heimdall-studio-<size>.png, the
runtime icons the wheel and the bundle ship.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "app" / "heimdall_studio" / "assets" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841 - Qt needs it for rendering
    svg = ROOT / "resources" / "icons" / "heimdall-studio.svg"
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        print(f"cannot read {svg}", file=sys.stderr)
        return 1
    shutil.copy(svg, ICONS / svg.name)
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = ICONS / f"heimdall-studio-{size}.png"
        image.save(str(target))
        print(target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
