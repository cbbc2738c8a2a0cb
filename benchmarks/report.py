"""The figures a benchmark script reports: printed as they are measured, and again at the
end as one Markdown table (what benchmarks/README.md quotes)."""

from __future__ import annotations

import time
from typing import Any

ROWS: list[tuple[str, str, str]] = []


def row(name: str, value: str, note: str = "") -> None:
    ROWS.append((name, value, note))
    print(f"  {name:<44} {value:>16}  {note}", flush=True)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - began, result


def print_table() -> None:
    """All rows again, as one Markdown table."""
    print("\n| figure | value | note |\n|---|---|---|")
    for name, value, note in ROWS:
        print(f"| {name} | {value} | {note} |")
