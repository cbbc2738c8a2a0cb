"""Command line (README, Command line); with no subcommand it opens the desktop app.

Arguments are parsed without touching Qt; the GUI is imported only when it is started.
Exit codes: 0 success, 2 bad input (nothing written), 1 failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .core import api
from .core.config import checks
from .core.config.params import (
    BY_PATH,
    CONFIG_PARAMS,
    IQ_ONLY_PATHS,
    MEASUREMENT_PARAMS,
    TERRAIN_PARAMS,
    TERRAIN_SOURCES,
    TIMING_KINDS,
    Param,
)
from .core.config.receivers import default_receivers, load_receivers
from .core.config.units import format_size
from .core.dataset.writer import end_process_if_abandoned
from .core.errors import (
    ClusterAddressError,
    ConfigError,
    DatasetExistsError,
    DatasetFormatError,
    DatasetNotFoundError,
    HeimdallError,
    PathError,
    TerrainError,
)
from .core.runs.cluster import INSTALL_HINT
from .core.terrain.library import TileInfo
from .core.tools.export import EXPORT_FORMATS
from .logs import configure_logging

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
INFO_LABEL_WIDTH = 17  # info's labels: the longest parameter key, iq_sample_rate_hz
BAD_INPUT_ERRORS = (ConfigError, DatasetNotFoundError, DatasetFormatError, DatasetExistsError,
                    PathError, TerrainError, ClusterAddressError)
log = logging.getLogger("heimdall_studio")

# A range (30:45) and a mix (whip:0.5,yagi:0.5) are parsed by the config, which names
# the field in its message.
_FLAG_TYPES: dict[str, Callable[[str], Any]] = {"float": float, "int": int, "text": str,
                                                "choice": str, "range": str, "mix": str}


def _help(param: Param) -> str:
    """A parameter's help line: what it is, its default and what is allowed."""
    return param.describe().replace("%", "%%")  # argparse formats help with %


# create flag -> (config key, type, help), one per config parameter but the name (the
# positional argument); `expand` deliberately has none of them.
GENERATION_FLAGS = {p.cli_flag: (p.key, _FLAG_TYPES[p.kind], _help(p))
                    for p in CONFIG_PARAMS if p.key != "name"}
# create flag -> terrain key, for the config's propagation.terrain group
TERRAIN_FLAGS = {p.cli_flag: p for p in TERRAIN_PARAMS}
# create flag -> measurement parameter, for the config's measurement group
MEASUREMENT_FLAGS = {p.cli_flag: p for p in MEASUREMENT_PARAMS}
NUM_SAMPLES, COMPRESSION = BY_PATH["num_samples"], BY_PATH["compression"]
# What only an iq_raw dataset draws with: `info` shows them for IQ datasets alone
IQ_KEYS = tuple(path for path in IQ_ONLY_PATHS if "." not in path)  # the config's own


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                        help="dataset folder (default: $HEIMDALL_STUDIO_WORKSPACE or the "
                             "user data folder)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="verbose logging")
    parser = argparse.ArgumentParser(prog="heimdall-studio", parents=[common],
                     description="Synthetic datasets for RF transmitter localization. "
                                 "Without a command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    create = sub.add_parser("create", parents=[common], help="create a new dataset")
    create.add_argument("name", help=BY_PATH["name"].help)
    create.add_argument(NUM_SAMPLES.cli_flag, dest="samples", type=int,
                        default=NUM_SAMPLES.default, metavar="N", help=_help(NUM_SAMPLES))
    for flag, (key, kind, text) in GENERATION_FLAGS.items():
        create.add_argument(flag, dest=key, type=kind, metavar=key.split("_")[-1].upper(),
                            help=text)
    for flag, p in TERRAIN_FLAGS.items():
        if p.key == "source":
            create.add_argument(flag, dest="terrain_source", metavar="|".join(p.choices) + "|DIR",
                                help=_help(p) + "; or a folder of tiles")
        else:
            create.add_argument(flag, dest=f"terrain_{p.key}", type=float,
                                metavar=p.key.split("_")[-1].upper(), help=_help(p))
    for flag, p in MEASUREMENT_FLAGS.items():
        create.add_argument(flag, dest=f"measurement_{p.key}", type=_FLAG_TYPES[p.kind],
                            metavar=p.key.split("_")[-1].upper(), help=_help(p))
    create.add_argument("--receivers", metavar="FILE", type=Path,
                        help="receiver network, .json or .csv (default: NW Italy WebSDRs)")
    create.add_argument("--timing", choices=TIMING_KINDS,
                        help="every receiver's arrival-time stamps, whatever the network "
                             "says: " + BY_PATH["receivers[].timing"].help)
    create.add_argument(COMPRESSION.cli_flag, choices=COMPRESSION.choices,
                        default=COMPRESSION.default, help=_help(COMPRESSION))
    _cluster_flag(create)

    expand = sub.add_parser(
        "expand", parents=[common], help="add samples to a dataset",
        description="Add samples to a dataset. Every generation parameter comes from the "
                    "dataset file itself and cannot be given here.")
    expand.add_argument("dataset", metavar="NAME_OR_PATH")
    expand.add_argument(NUM_SAMPLES.cli_flag, dest="samples", type=int, required=True,
                        metavar="N", help=f"{NUM_SAMPLES.help}; {NUM_SAMPLES.allowed}")
    _cluster_flag(expand)

    info = sub.add_parser("info", parents=[common], help="show a dataset's config and runs")
    info.add_argument("dataset", metavar="NAME_OR_PATH")
    info.add_argument("--json", action="store_true")

    listing = sub.add_parser("list", parents=[common], help="list the workspace's datasets")
    listing.add_argument("--json", action="store_true")

    verify = sub.add_parser("verify", parents=[common], help="check a dataset's invariants")
    verify.add_argument("dataset", metavar="NAME_OR_PATH")

    repair = sub.add_parser("repair", parents=[common],
                            help="make a file left by a killed run openable by any HDF5 reader")
    repair.add_argument("dataset", metavar="NAME_OR_PATH")

    export = sub.add_parser("export", parents=[common],
                            help="write a dataset as CSV, NPZ or Parquet (pyarrow)")
    export.add_argument("dataset", metavar="NAME_OR_PATH")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--out", type=Path, metavar="PATH",
                        help="output file (default: beside the dataset, NAME.csv, "
                             "NAME.npz or NAME.parquet; NAME_FIRST-LAST.csv and so on "
                             "for a range)")
    export.add_argument("--start", type=int, default=0, metavar="N",
                        help="the first sample exported (default: 0)")
    export.add_argument("--stop", type=int, metavar="N",
                        help="export up to this sample, not including it (default: to "
                             "the end); an IQ dataset too large for one NPZ is exported "
                             "range by range")

    terrain = sub.add_parser("terrain", help="the terrain library: elevation tiles",
                             description="Elevation tiles (SRTM .hgt and .hgt.zip) kept in "
                                         "the user data folder, or $HEIMDALL_STUDIO_TERRAIN_DIR.")
    terrain_sub = terrain.add_subparsers(dest="terrain_command", metavar="COMMAND",
                                         required=True)
    terrain_import = terrain_sub.add_parser(
        "import", parents=[common], help="check tiles and add them to the library")
    terrain_import.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", type=Path,
                                help="tiles, or folders whose tiles are all imported")
    terrain_list = terrain_sub.add_parser("list", parents=[common],
                                          help="the library's tiles and what they cover")
    terrain_list.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before a command took charge: nothing was done
        print("\nheimdall-studio: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    end_process_if_abandoned(code)  # after a write that failed inside HDF5
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        given = [a.split("=", 1)[0] for a in extra if a.split("=", 1)[0] in GENERATION_FLAGS]
        if args.command == "expand" and given:
            parser.error(f"expand takes every generation parameter from the dataset file; "
                         f"{given[0]} cannot be given (create a new dataset instead)")
        parser.error("unrecognized arguments: " + " ".join(extra))
    debug = getattr(args, "debug", False)
    configure_logging(debug)
    workspace = getattr(args, "workspace", None)
    if args.command is None:
        from .gui import run_app  # Qt only when the app is really wanted

        return run_app(workspace, debug=debug)
    command = {"create": _create, "expand": _expand, "info": _info, "list": _list,
               "verify": _verify, "export": _export, "repair": _repair,
               "terrain": _terrain}[args.command]
    try:
        return command(args, workspace)
    except BAD_INPUT_ERRORS as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    except HeimdallError as exc:
        _error(exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `heimdall-studio list | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception:  # a bug: one line here; the traceback goes to the log file, and to
        # stderr only with --debug (the console shows warnings and up otherwise)
        log.log(logging.ERROR if debug else logging.INFO, "unexpected error", exc_info=True)
        print("heimdall-studio: unexpected error; run again with --debug for details",
              file=sys.stderr)
        return EXIT_FAILURE


def _error(exc: BaseException) -> None:
    print(f"heimdall-studio: error: {exc}", file=sys.stderr)


# ---------------------------------------------------------------------------
# create / expand


def _cluster_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--cluster", metavar="ADDRESS|local:N",
        help="compute the blocks on a Dask cluster: a scheduler's tcp:// or tls:// "
             "address, or local:N worker processes here; where, never what: the samples "
             f"are the same (needs {INSTALL_HINT})")


def _create(args: argparse.Namespace, workspace: str | None) -> int:
    params: dict[str, Any] = {key: getattr(args, key) for key, _, _ in
                              GENERATION_FLAGS.values() if getattr(args, key) is not None}
    if args.receivers is not None:
        params["receivers"] = load_receivers(args.receivers)
    if args.timing is not None:
        receivers = params.get("receivers") or default_receivers()
        params["receivers"] = [{**r.to_dict(), "timing": args.timing} for r in receivers]
    measurement = {p.key: getattr(args, f"measurement_{p.key}") for p in MEASUREMENT_PARAMS
                   if getattr(args, f"measurement_{p.key}") is not None}
    if measurement:
        params["measurement"] = measurement
    terrain = _terrain_group(args)
    if terrain:
        params["propagation"] = {"terrain": terrain}
    config = api.make_config(args.name, **params)
    # create_run refuses a box the terrain does not cover before anything is written; the
    # receivers' altitudes are checked against the grid the dataset file then holds.
    return _drive(lambda: api.create_run(config, args.samples, workspace, args.compression,
                                         args.cluster), _altitude_notes)


def _altitude_notes(last: api.Progress) -> list[str]:
    if not last.path.exists():  # a create that committed nothing left no file
        return []
    return [f"warning: {line}" for line in api.terrain_warnings(last.path)]


def _terrain_group(args: argparse.Namespace) -> dict[str, Any]:
    """The propagation.terrain values the flags give; --terrain DIR is source tiles."""
    group: dict[str, Any] = {p.key: getattr(args, f"terrain_{p.key}")
                             for p in TERRAIN_PARAMS
                             if getattr(args, f"terrain_{p.key}") is not None}
    source = group.get("source")
    if source is not None and source not in TERRAIN_SOURCES:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise TerrainError(f"--terrain {source}: not {', '.join(TERRAIN_SOURCES)}, and "
                               "not a folder of tiles")
        group.update(source="tiles", tiles_dir=str(folder.resolve()))
    return group


def _expand(args: argparse.Namespace, workspace: str | None) -> int:
    return _drive(lambda: api.expand_run(args.dataset, args.samples, workspace,
                                         args.cluster))


class _StopRequest:
    """First Ctrl-C (or SIGTERM) asks the run to stop after its current commit; a second
    one aborts it at once, but only while it generates. Opening the dataset and closing
    it are short, and cut short they would leave an empty file or a half-done import
    behind, so signals then only ask for the stop; after the abort, further ones are
    ignored so that the run's cleanup (closing the file, releasing the lock) is never cut
    short either."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.abortable = False
        self.aborted = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.signal is None:
            self.signal = signum
            print("\nstopping after the current block (Ctrl-C again to abort)...",
                  file=sys.stderr)
        elif self.abortable and not self.aborted:
            self.aborted = True
            raise KeyboardInterrupt

    def _unraisable(self, unraisable: Any) -> None:
        # The abort can land in code that cannot pass an exception on (a weakref callback
        # during garbage collection, say), where Python would print a traceback and drop
        # it. Dropped quietly, it still ends the run: the stop the first signal asked for
        # takes effect at the next record. Another Ctrl-C may abort again.
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.aborted:
            self.aborted = False
            return
        self._old_hook(unraisable)

    def __enter__(self) -> _StopRequest:
        self._old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        self._old_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        if sys.unraisablehook is self._unraisable:  # another may have been put on top
            sys.unraisablehook = self._old_hook
        for s, handler in self._old.items():
            signal.signal(s, handler)


def _drive(start: Callable[[], Iterator[api.Progress]],
           notes: Callable[[api.Progress], Sequence[str]] = lambda last: ()) -> int:
    """Open the run (a stop asked meanwhile ends it at its first record), then follow it;
    `notes` are printed with its result (a run that fails says one line: its error)."""
    bar = ProgressBar(sys.stderr)
    last = None
    computing = False
    with _StopRequest() as stop:
        run = start()
        try:
            for last in run:
                # From the first record on, the run generates; before it, it was opening
                # the file and loading the kernels (an abort there would break an import).
                stop.abortable = True
                if last.compute and not computing:
                    computing = True
                    print(f"computing on {last.compute}"
                          + (f", dashboard {last.dashboard}" if last.dashboard else ""),
                          file=sys.stderr)
                bar.update(last)
                if stop.signal is not None:
                    break
        except BaseException:
            bar.abandon()  # the error message gets a line of its own
            raise
        finally:
            stop.abortable = False
            run.close()  # type: ignore[attr-defined]
    assert last is not None
    bar.finish(last)
    for note in notes(last):
        print(note, file=sys.stderr)
    if stop.signal is not None:
        if last.kind == "create" and last.done == 0:  # the run removed its empty file
            print(f"interrupted before the first block was committed: dataset "
                  f"{last.dataset!r} was not created", file=sys.stderr)
        else:
            print(f"interrupted: {last.total:,} samples committed in {last.path}",
                  file=sys.stderr)
        return EXIT_INTERRUPTED if stop.signal == signal.SIGINT else 128 + stop.signal
    print(f"{last.path}: {last.total:,} samples ({last.done:,} new)")
    return EXIT_OK


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    h, rest = divmod(seconds, 3600)
    return (f"{h}:" if h else "") + f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """Progress on stderr: redrawn in place on a terminal, a line every few seconds else."""

    WIDTH = 28

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0
        self._shown: int | None = None

    def line(self, p: api.Progress) -> str:
        if p.prepared < 1.0:
            filled = int(p.prepared * self.WIDTH)
            return (f"{p.kind} {p.dataset} preparing terrain "
                    f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {p.prepared:6.1%}  "
                    f"{_duration(p.elapsed_s)}")
        frac = p.done / p.requested if p.requested else 1.0
        filled = int(frac * self.WIDTH)
        return (f"{p.kind} {p.dataset} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{frac:6.1%} {p.done:,}/{p.requested:,}  {p.rate:,.0f} samples/s  "
                f"ETA {_duration(p.eta_s)}  accepted {p.acceptance:.1%}")

    def update(self, p: api.Progress) -> None:
        if p.done == 0 and p.prepared == 0.0 and not self.tty:
            return  # a log gets lines of progress made; a run that fails at once, one line
        now = time.monotonic()
        if now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        self._write(p)

    def finish(self, p: api.Progress) -> None:
        if p.done != self._shown:
            self._write(p)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def abandon(self) -> None:
        """The run failed: take the bar off a terminal's line."""
        if self.tty and self._shown is not None:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def _write(self, p: api.Progress) -> None:
        self._shown = p.done
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(p))
        else:
            self.stream.write(self.line(p) + "\n")
        self.stream.flush()


# ---------------------------------------------------------------------------
# info / list / verify


def _summary(entry: api.DatasetEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"name": entry.name, "path": str(entry.path),
                            "status": entry.status}
    if entry.header is None:
        data["error"] = entry.error
        return data
    h = entry.header
    c = h.config
    data.update(num_samples=h.num_samples, dataset_type=c.dataset_type,
                frequency_mhz=c.frequency_mhz, tx_power_dbm=c.to_dict()["tx_power_dbm"],
                min_snr_db=c.min_snr_db, max_gdop=c.to_dict()["max_gdop"],
                inside_ratio=c.inside_ratio,
                created_utc=h.created_utc, size_bytes=h.size_bytes)
    return data


def _info(args: argparse.Namespace, workspace: str | None) -> int:
    header = api.dataset_header(args.dataset, workspace)
    if args.json:
        print(json.dumps({
            "path": str(header.path), "num_samples": header.num_samples,
            "created_utc": header.created_utc, "app_version": header.app_version,
            "generator_version": header.generator_version, "size_bytes": header.size_bytes,
            "config": header.config.to_dict(),
            "history": [row.to_dict() for row in header.history]}, indent=2))
        return EXIT_OK
    c = header.config
    width = INFO_LABEL_WIDTH
    print(f"{c.name}  ({header.path})")
    print(f"  {'samples':<{width}} {header.num_samples:,}")
    print(f"  {'created':<{width}} {header.created_utc}  (app {header.app_version}, "
          f"generator {header.generator_version})")
    print(f"  {'size':<{width}} {format_size(header.size_bytes)}")
    # what the dataset's generator version draws with, and nothing it does not read
    version = header.generator_version
    iq = "iq" in header.fields
    for key, value in c.to_dict().items():
        if key not in ("name", "receivers", "propagation", "measurement") \
                and BY_PATH[key].read_by(version) and (iq or key not in IQ_KEYS):
            shown = {"max_gdop": "inf (no limit)" if value is None else value,
                     "tx_power_dbm": c.tx_power_text,
                     "modulation": checks.mix_text(c.modulation)}.get(key, value)
            print(f"  {key:<{width}} {shown}")
    if iq:
        print(f"  {'iq records':<{width}} {len(c.receivers)} x {c.iq_length:,} complex values per "
              f"sample ({c.iq_storage}, {format_size(c.iq_bytes_per_sample)})")
    m = c.measurement
    if any(p.read_by(version) for p in MEASUREMENT_PARAMS):
        print(f"  {'measurement':<{width}} " + ", ".join(
            f"{k}={checks.mix_text(m.tx_antennas) if k == 'tx_antennas' else v}"
            for k, v in m.to_dict().items()))
    print(f"  {'propagation':<{width}} " + ", ".join(
        f"{k}={v}" for k, v in c.propagation.to_dict().items()
        if k != "terrain" and BY_PATH[f"propagation.{k}"].read_by(version)))
    terrain = c.propagation.terrain
    grid = (f", {terrain.step_deg * 3600:g} arc-second grid, sha256 {terrain.sha256[:12]}..."
            if terrain.sha256 else "")
    print(f"  {'terrain':<{width}} {terrain.source}"
          + (f" ({terrain.tiles_dir})" if terrain.tiles_dir else "")
          + f", k={terrain.k_factor:g}, shadowing decorrelation "
            f"{terrain.shadowing_decorrelation_m:g} m{grid}")
    print(f"  {'receivers':<{width}} {len(c.receivers)}")
    network = BY_PATH["receivers[].timing"].read_by(version)
    for r in c.receivers:
        extra = ""
        if network:
            extra = f"  {r.antenna.text()}  timing {r.timing}"
            if r.drawn:
                extra += f"  cal {r.calibration_db:+g} dB  osc {r.oscillator_ppm:+g} ppm"
        print(f"    {r.name:<24} {r.lat:9.4f} {r.lon:9.4f} {r.alt_m:7.0f} m  "
              f"NF {r.noise_figure_db:g} dB  G {r.antenna_gain_dbi:g} dBi  "
              f"mast {r.antenna_height_m:g} m{extra}")
    print("  history")
    for row in header.history:
        print(f"    {row.started_utc}  {row.kind:<6} +{row.count:,} from {row.first_index:,}"
              f"  ({row.candidates:,} candidates, {row.duration_s:.1f} s)")
    return EXIT_OK


def _list(args: argparse.Namespace, workspace: str | None) -> int:
    entries = api.list_datasets(workspace)
    if args.json:
        print(json.dumps([_summary(e) for e in entries], indent=2))
        return EXIT_OK
    if not entries:
        folder = api.workspace_path(workspace)
        print(f"no datasets in {folder}" + ("" if folder.exists() else
                                            " (the folder does not exist yet)"))
    for e in entries:
        if e.header is None:  # unreadable, or written or held by another process
            print(f"{e.name:<30} {e.status}: {e.error}")
            continue
        c = e.header.config
        busy = "" if e.status == "ok" else f"  {e.status}"
        print(f"{e.name:<30} {e.header.num_samples:>12,} samples  {c.frequency_mhz:8.3f} MHz"
              f"  {c.tx_power_text:>12}  {format_size(e.header.size_bytes):>10}{busy}")
    return EXIT_OK


def _export(args: argparse.Namespace, workspace: str | None) -> int:
    from .core.tools.export import export_dataset

    path = api.resolve_dataset(args.dataset, workspace)
    began = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            print(f"\r\x1b[2Kexport {path.stem}: {done:,}/{total:,} samples", end="",
                  file=sys.stderr, flush=True)

    out = export_dataset(path, args.format, args.out, progress, args.start, args.stop)
    if sys.stderr.isatty():
        print("\r\x1b[2K", end="", file=sys.stderr)
    print(f"{out}: {format_size(out.stat().st_size)} in {time.monotonic() - began:.1f} s")
    return EXIT_OK


def _verify(args: argparse.Namespace, workspace: str | None) -> int:
    from .core.tools.verify import verify_dataset

    report = verify_dataset(api.resolve_dataset(args.dataset, workspace))
    if report.header is None:
        print(f"{report.path.name}: unreadable: {report.error}")
        return EXIT_FAILURE
    print(f"{report.path.name}: {report.header.num_samples:,} samples")
    for check in report.checks:
        status = "ok" if check.ok else f"FAILED ({check.failures:,}): {check.detail}"
        print(f"  {check.name:<20} {status}")
    if report.error:
        print(f"  reading failed: {report.error}")
    print("verify: " + ("passed" if report.ok else "FAILED"))
    return EXIT_OK if report.ok else EXIT_FAILURE


def _repair(args: argparse.Namespace, workspace: str | None) -> int:
    report = api.repair_dataset(args.dataset, workspace)
    header = api.dataset_header(report.path)
    if not report.interrupted:
        print(f"{report.path.name}: nothing to repair, no interrupted write is marked "
              f"({header.num_samples:,} samples)")
        return EXIT_OK
    for action in report.actions:
        print(f"  {action}")
    print(f"{report.path.name}: repaired in place in {report.seconds * 1e3:.1f} ms, nothing "
          f"copied; {header.num_samples:,} committed samples, openable by any HDF5 reader")
    return EXIT_OK


# ---------------------------------------------------------------------------
# terrain


def _terrain(args: argparse.Namespace, _workspace: str | None) -> int:
    if args.terrain_command == "import":
        tiles = api.import_terrain(args.paths)
        for tile in tiles:
            print(f"imported {tile.name}: {_tile_line(tile)}")
        return EXIT_OK
    tiles = api.terrain_tiles()
    if args.json:
        print(json.dumps([t.to_dict() for t in tiles], indent=2))
    elif not tiles:
        print(f"no tiles in {api.terrain_library()}; add some with 'heimdall-studio "
              "terrain import FILE_OR_DIR'")
    for tile in tiles if not args.json else ():
        print(f"{tile.name:<18} {_tile_line(tile)}")
    return EXIT_OK


def _tile_line(tile: TileInfo) -> str:
    south, north, west, east = tile.bounds
    return (f"{south} to {north} N, {west} to {east} E, {tile.arcsec} arc-second, "
            f"{format_size(tile.size_bytes)}")
