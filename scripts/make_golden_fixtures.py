"""Make the golden fixtures that hold every generator version to its own samples.

    .venv/bin/python scripts/make_golden_fixtures.py 1 2 [--out tests/fixtures]

For each generator version: a dataset file of NUM_SAMPLES samples created by the code that
released that version, and the SHA-256 of every sample field of a dataset of
NUM_SAMPLES + EXPAND_BY samples created at once by the same code with the same config.
`tests/core/test_versions.py` expands the file by EXPAND_BY with today's code and
compares. Small chunks make both counts span several chunks and end in a partial one.

The old code runs from a temporary `git worktree` of the commit in VERSION_COMMITS, with
this interpreter and PYTHONPATH pointing at the worktree's app/ (nothing is installed);
the worktree is removed afterwards. The fixtures are made once and committed: making
them again gives other files (times, durations) with the same samples and hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A commit whose code draws with each version. 1: the last of Heimdall Studio 0.1
# before the ziggurat kernel (770ea40); 2: the tree these fixtures were first made from;
# 3: the first tree that drew over terrain.
# 4: the first tree that drew the measurements, with its flat-plane variant.
# 5: the first tree that drew IQ records, with its IQ variant.
VERSION_COMMITS = {1: "770ea40^", 2: "429c595", 3: "d988cf1", 4: "9909475", 5: "d33049c"}
NUM_SAMPLES = 1200  # 4 chunks of 256 and 176 of a fifth
EXPAND_BY = 900  # to 2100: 8 chunks and 52 of a ninth
CONFIG = {"seed": 20260513, "chunk_size": 256}  # the other parameters: defaults
# Besides CONFIG, per version: what the defaults leave out of the kernel. Version 4's
# default network is untimed and omnidirectional, so its fixture times most receivers,
# turns two antennas and draws the transmit power from a range.
_V4_RECEIVERS = [
    {"name": "Aquila di Giaveno", "lat": 45.030, "lon": 7.270, "alt_m": 600, "timing": "gps",
     "antenna": {"type": "yagi", "azimuth_deg": 90.0}},
    {"name": "Montanaro", "lat": 45.234, "lon": 7.857, "alt_m": 300, "timing": "gps"},
    {"name": "Torino", "lat": 45.044, "lon": 7.672, "alt_m": 250, "timing": "ntp",
     "antenna": {"type": "dipole"}},
    {"name": "Coazze", "lat": 45.048, "lon": 7.238, "alt_m": 700, "timing": "gps"},
    {"name": "Passo del Giovi", "lat": 44.561, "lon": 8.956, "alt_m": 480},
    {"name": "Genova", "lat": 44.395, "lon": 8.956, "alt_m": 100, "timing": "gps"},
    {"name": "Milano - Baggio", "lat": 45.478, "lon": 9.123, "alt_m": 120, "timing": "gps"}]
VERSION_CONFIG = {4: {"tx_power_dbm": [30.0, 45.0], "receivers": _V4_RECEIVERS},
                  5: {"tx_power_dbm": [30.0, 45.0], "receivers": _V4_RECEIVERS}}
# Further fixtures of a version, for code paths its main fixture does not take: version
# 4's flat plane (terrain none) has a branch of its own; version 5's IQ records, short
# ones (2 kB a receiver) so that the file stays small. Files generator_v<N>_<variant>.
VARIANTS = {4: {"none": {"propagation": {"terrain": {"source": "none"}}}},
            5: {"iq": {"dataset_type": "iq_raw", "iq_sample_rate_hz": 30_000.0,
                       "iq_duration_s": 0.0086, "chunk_size": 64}}}
# Samples of a variant's fixture, and of its expansion, where not NUM_SAMPLES and
# EXPAND_BY: a chunk of 64 and 36 of a second, expanded to 3 chunks and 8 of a fourth.
VARIANT_COUNTS = {(5, "iq"): (100, 100)}
# Every field gzipped: the file stays small (the other policies leave whole storage
# chunks of 32,768 rows uncompressed).
COMPRESSION = "full"


def field_sha256(array) -> str:
    """SHA-256 of an array's values: C order, little-endian, the stored dtype."""
    import numpy as np

    a = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def fixture_paths(out: Path, version: int, variant: str = "") -> tuple[Path, Path]:
    stem = f"generator_v{version}" + (f"_{variant}" if variant else "")
    return out / f"{stem}.h5", out / f"{stem}_hashes.json"


def make_here(version: int, commit: str, out: Path) -> None:
    """Run by the worktree's code: write the version's fixtures and their hashes."""
    for variant in ("", *VARIANTS.get(version, {})):
        make_fixture(version, variant, commit, out)


def make_fixture(version: int, variant: str, commit: str, out: Path) -> None:
    """One fixture file of `version` (its `variant`, "" for the main one), and its hashes."""
    import heimdall_studio
    from heimdall_studio.core import api

    where = Path(heimdall_studio.__file__).resolve()
    try:  # where each layout keeps it
        from heimdall_studio.core.config.versions import GENERATOR_VERSION
    except ImportError:
        try:
            from heimdall_studio.core.fields import GENERATOR_VERSION  # type: ignore
        except ImportError:  # 0.1 had no generator versions: it drew version 1
            GENERATOR_VERSION = 1
    if version != GENERATOR_VERSION:
        sys.exit(f"{where} draws with generator version {GENERATOR_VERSION}, not {version}")
    params = {**CONFIG, **VERSION_CONFIG.get(version, {}),
              **VARIANTS.get(version, {}).get(variant, {})}
    config = api.make_config(f"golden_v{version}", **params)
    h5_path, json_path = fixture_paths(out, version, variant)
    num_samples, expand_by = VARIANT_COUNTS.get((version, variant), (NUM_SAMPLES, EXPAND_BY))
    with tempfile.TemporaryDirectory() as tmp:
        small = api.create_dataset(config, num_samples, Path(tmp) / "small",
                                   compression=COMPRESSION).path
        whole = api.create_dataset(config, num_samples + expand_by, Path(tmp) / "whole",
                                   compression=COMPRESSION).path
        arrays = api.load_dataset(whole).arrays
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(small, h5_path)
    record = {
        "generator_version": version,
        "variant": variant,
        "made_with": {"commit": commit, "app_version": heimdall_studio.__version__,
                      "script": "scripts/make_golden_fixtures.py"},
        "config": params,
        "compression": COMPRESSION,
        "num_samples": num_samples,
        "expand_by": expand_by,
        "hash": "sha256 of each field of create(num_samples + expand_by): C order, "
                "little-endian, stored dtype",
        "fields": {name: {"shape": list(a.shape), "dtype": a.dtype.str,
                          "sha256": field_sha256(a)} for name, a in arrays.items()},
    }
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{h5_path} ({h5_path.stat().st_size:,} bytes) and {json_path.name}, "
          f"from {where.parent}")


def make_in_worktree(version: int, out: Path) -> None:
    commit = VERSION_COMMITS[version]
    resolved = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", commit],
                              check=True, capture_output=True, text=True).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix=f"heimdall-golden-v{version}-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                    resolved], check=True)
    try:
        # Eight threads make the first block at least 8 chunks (2,048 samples), so the
        # fixture is written in one commit and holds no space left behind by gzipped
        # chunks rewritten in a later one. Threads never change the samples.
        env = {**os.environ, "PYTHONPATH": str(tree / "app"), "NUMBA_NUM_THREADS": "8"}
        subprocess.run([sys.executable, __file__, "--here", str(version), "--commit",
                        resolved, "--out", str(out)], check=True, env=env, cwd=tree)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=True)
        shutil.rmtree(tree.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", type=int,
                        help=f"generator versions (default: all, {sorted(VERSION_COMMITS)})")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--here", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--commit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here is not None:
        make_here(args.here, args.commit, args.out.resolve())
        return
    unknown = set(args.versions) - set(VERSION_COMMITS)
    if unknown:
        parser.error(f"no commit is known for generator version {min(unknown)}")
    for version in args.versions or sorted(VERSION_COMMITS):
        make_in_worktree(version, args.out.resolve())


if __name__ == "__main__":
    main()
