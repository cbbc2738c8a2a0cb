"""Print README's parameter table, made from the parameter tables of the app.

    python scripts/parameter_table.py            # print the Markdown table
    python scripts/parameter_table.py --write    # replace the table in README.md

README holds the table between the BEGIN and END markers below; `tests/core/test_params.py`
fails when it differs from what this prints, so the documented units, defaults and ranges
are always the ones the app checks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heimdall_studio.core.config.params import (
    CONFIG_PARAMS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    RECEIVER_PARAMS,
    RUN_PARAMS,
    TERRAIN_PARAMS,
    Param,
)

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- BEGIN parameter table: made by scripts/parameter_table.py -->"
END = "<!-- END parameter table -->"
HEADER = ("| parameter | unit | default | allowed | `create` flag | meaning |\n"
          "|---|---|---|---|---|---|")
# Where each table's parameters go, as the first row of their part of the table says.
PARTS = ((CONFIG_PARAMS, "stored in the dataset file, inherited by every expansion"),
         (PROPAGATION_PARAMS, "the config's `propagation` group"),
         (TERRAIN_PARAMS, "its `propagation.terrain` group (docs/propagation.md)"),
         (MEASUREMENT_PARAMS, "its `measurement` group (docs/measurements.md)"),
         (RECEIVER_PARAMS, "one per receiver: the columns of `--receivers` files"),
         (RUN_PARAMS, "one run's, not stored in the config"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _row(param: Param) -> str:
    if param.scope in ("config", "run", "terrain", "measurement"):
        flag = "argument NAME" if param.key == "name" else _code(param.cli_flag)
    else:
        flag = ""
    default = param.default_value if param.default is None else _code(param.default_value)
    cells = (_code(param.path), param.unit, default, param.allowed, flag, param.help)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown_table() -> str:
    """The whole table, markers excluded."""
    lines = [HEADER]
    for params, where in PARTS:
        lines.append(f"| *{_cell(where)}* | | | | | |")
        lines.extend(_row(p) for p in params)
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """What README holds between the markers."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write_readme(path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + markdown_table() + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="replace the table in README.md instead of printing it")
    args = parser.parse_args(argv)
    if args.write:
        write_readme()
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
