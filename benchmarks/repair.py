"""Repairing a dataset file left by a killed writer: time against the dataset's size.

    .venv/bin/python benchmarks/repair.py --workdir /big/disk     # 1e6 and 1e7 samples
    .venv/bin/python benchmarks/repair.py --sizes 1e5 1e6         # smaller, for a look

For each size, a `create` run is killed with SIGKILL once it has committed that many
samples; the file is then repaired three ways, each on a fresh copy of the killed file:
`heimdall-studio repair` (the whole command), the in-place superblock repair alone, and
the first touch by a reader (`read_header`, which repairs and reads the header). Disk:
about 1.4 GB per 1e7 samples, twice (the killed file and its copy).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from user_folders import private_user_folders

from heimdall_studio.core.dataset import recovery
from heimdall_studio.core.dataset.reader import read_header

CLI = [sys.executable, "-m", "heimdall_studio"]


def committed(path: Path) -> int:
    """Samples committed, read as an SWMR reader would, without repairing anything."""
    import h5py

    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            return int(f.attrs["num_samples"])
    except (OSError, KeyError):
        return 0


def killed_file(workspace: Path, samples: int) -> Path:
    path = workspace / "killed.h5"
    proc = subprocess.Popen([*CLI, "create", "killed", "--samples", str(samples * 4),
                             "--workspace", str(workspace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while committed(path) < samples:
        if proc.poll() is not None:
            raise SystemExit("the run ended before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return path


def fresh_copy(path: Path, name: str) -> Path:
    copy = path.with_name(f"{name}.h5")
    shutil.copyfile(path, copy)
    subprocess.run(["sync"], check=False)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, private_user_folders(tmp):
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        print(f"{'samples':>12} {'file':>9} {'repair cmd':>11} {'in place':>10} "
              f"{'first read':>11}")
        for size in args.sizes:
            path = killed_file(workspace, int(size))
            n = committed(path)
            copy = fresh_copy(path, "command")
            began = time.perf_counter()
            subprocess.run([*CLI, "repair", "command", "--workspace", str(workspace)],
                           check=True, capture_output=True)
            command_s = time.perf_counter() - began
            copy.unlink()
            copy = fresh_copy(path, "inplace")
            report = recovery.clear_interrupted_write(copy)
            assert report.interrupted
            copy.unlink()
            copy = fresh_copy(path, "reader")
            began = time.perf_counter()
            assert read_header(copy).num_samples == n
            reader_s = time.perf_counter() - began
            copy.unlink()
            print(f"{n:>12,} {path.stat().st_size / 1e9:>7.2f}GB {command_s:>10.2f}s "
                  f"{report.seconds * 1e3:>8.2f}ms {reader_s * 1e3:>9.1f}ms")
            path.unlink()


if __name__ == "__main__":
    main()
