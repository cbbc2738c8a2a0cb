"""IQ synthesis against the disk: what an IQ dataset could reach, before it exists.

    .venv/bin/python benchmarks/iq.py              # about a minute, 1 GiB of disk
    .venv/bin/python benchmarks/iq.py --workdir /big/disk

Measures, on this machine, one thread (docs/iq.md):
- emitting each modulation's waveform;
- receiving one link (3 multipath taps) and adding its noise;
- the estimators of `sampling.iq_estimators` on a sample's records, if present.

It also measures the disk's sequential write rate, with fsync, in the work folder. The
table ends with the samples per second that compute (on every core) and the disk each
allow at the defaults: 7 receivers x 10,000 complex samples, 560 kB as complex64.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row

from heimdall_studio.core.sampling import iq_signals as iq

FS = 50_000.0
LENGTH = 10_000
RECEIVERS = 7
TAPS = 3
REPEATS = 50
WRITE_BYTES = 1 << 30
WRITE_BLOCK = 8 << 20


def per_call(fn, repeats: int = REPEATS) -> float:
    """Seconds per call, the best of three rounds after a warm-up call."""
    fn()
    best = np.inf
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - began) / repeats)
    return best


def write_rate(folder: Path) -> float:
    """Bytes per second written sequentially to a new file and synced."""
    block = np.random.default_rng(0).integers(0, 255, WRITE_BLOCK, np.uint8).tobytes()
    path = folder / "write-rate.bin"
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(WRITE_BYTES // WRITE_BLOCK):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink()
    return WRITE_BYTES / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    margin = 200  # emitted samples beyond the record: the longest delay and the filter
    emitted = np.empty(LENGTH + margin, np.complex128)
    emit_s = {}
    for code, name in enumerate(iq.MODULATIONS):
        emit_s[name] = per_call(lambda code=code: iq.emit(np.uint64(code + 1), code, FS,
                                                          emitted))
        row(f"emit {name}", f"{emit_s[name] * 1e3:.3f} ms", f"{LENGTH:,} samples")
    record = np.zeros(LENGTH, np.complex128)
    delays = np.array([1e-3, 1e-3 + 1.5e-6, 1e-3 + 4e-6])
    gains = np.array([0.9 + 0j, 0.35j, -0.25 + 0j])
    receive_s = per_call(lambda: iq.receive(emitted, FS, 0.0, delays, gains, 137.0, 1e-6,
                                            record))
    noise_s = per_call(lambda: iq.add_noise(np.uint64(3), 0, 1e-12, record))
    row("receive a link", f"{receive_s * 1e3:.3f} ms", f"{TAPS} taps, one interpolation filter")
    row("add noise to a record", f"{noise_s * 1e3:.3f} ms", "")
    mean_emit = float(np.mean(list(emit_s.values())))
    compute_s = mean_emit + RECEIVERS * (receive_s + noise_s)
    try:
        from heimdall_studio.core.sampling import iq_estimators as est
    except ImportError:
        est = None
    if est is not None:
        records = np.zeros((RECEIVERS, LENGTH), np.complex64)
        estimate_s = per_call(lambda: (est.estimate_snr_db(records, FS, 12_500.0),
                                       est.estimate_freq_offset_hz(records, FS)), 10)
        row("estimate SNR and offset", f"{estimate_s * 1e3:.3f} ms", f"{RECEIVERS} records")
        compute_s += estimate_s
    threads = numba.get_num_threads()
    row("compute per sample", f"{compute_s * 1e3:.2f} ms",
        f"{RECEIVERS} receivers, mean over the modulations, one thread")
    row("samples/s by compute", f"{threads / compute_s:,.0f}", f"{threads} threads, if linear")
    folder = args.workdir or Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        rate = write_rate(Path(tmp))
    sample_bytes = RECEIVERS * LENGTH * 8
    row("sequential write", f"{rate / 1e6:,.0f} MB/s", f"{WRITE_BYTES >> 20} MiB with fsync "
        f"in {folder}")
    row("samples/s by the disk", f"{rate / sample_bytes:,.0f}",
        f"{sample_bytes / 1e3:,.0f} kB per sample as complex64; "
        f"{2 * rate / sample_bytes:,.0f} as complex int16")
    print_table()


if __name__ == "__main__":
    main()
