"""How sizes are written for people: one way, in binary units with IEC names (KiB, MiB,
GiB, TiB), so the command line and the app never show the same file as two sizes."""

from __future__ import annotations

BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB")


def format_size(size_bytes: int) -> str:
    """`10 B`, `2.0 KiB`, `1.5 MiB`, `5.0 GiB`: one decimal from 1 KiB on."""
    if size_bytes < 1024:
        return f"{size_bytes} B"
    value = size_bytes / 1024
    for unit in BINARY_UNITS[:-1]:
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {BINARY_UNITS[-1]}"
