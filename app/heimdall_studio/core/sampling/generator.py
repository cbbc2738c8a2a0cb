"""Sample generation: turns a config and an index range into blocks of sample arrays.

`generate_blocks(config, start, stop, version)` yields `SampleBlock`s covering
[start, stop) in order, drawn by that generator version's kernel (`kernel_v<N>`; by
default the current one). Sample `i` is the same whatever the range it is generated in,
so a dataset grown in several runs equals one generated at once (docs/generation.md,
Randomness and chunks).
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import ModuleType
from typing import TYPE_CHECKING

import numba
import numpy as np

from ..config.fields import SampleBlock, field_shape, sample_fields
from ..config.model import DatasetConfig
from ..config.versions import GENERATOR_VERSION, VERSIONS
from ..errors import ConfigError, StratumUnfillableError
from ..terrain.grid import ElevationGrid
from ..terrain.source import resolve_terrain
from .histograms import histogram
from .rng import stream_key

if TYPE_CHECKING:
    from .iq_synthesis import RecordPlan

STRATUM_NAMES = ("inside", "outside")

# numba's default threading layer runs one parallel kernel at a time per process;
# concurrent runs (two GUI jobs, say) take turns block by block.
_KERNEL_LOCK = threading.Lock()

# Blocks aim at this wall time, so progress and cancellation stay prompt at any speed.
TARGET_BLOCK_SECONDS = 0.15
MAX_BLOCK_SAMPLES = 1 << 18
# IQ datasets: records per block, by size (a block is in memory twice: computed and
# written), and the chunks whose features are drawn at once before their records.
IQ_BLOCK_BYTES = 48 << 20
IQ_FEATURE_CHUNKS = 2


def kernel_of(version: int) -> ModuleType:
    """The module that draws generator `version`'s samples, `kernel_v<version>`:
    `kernel_inputs(config)`, `fill_block(...)` and the counter and status constants read here.
    KeyError for a version this Heimdall Studio does not know."""
    return importlib.import_module(f".kernel_v{VERSIONS[version].number}", __package__)


class KernelInputs:
    """A generator version's kernel, and the config values (and elevation grid) converted
    once into the arrays it takes."""

    def __init__(self, version: int, kernel: ModuleType, prepared: object):
        self.version = version
        self.kernel = kernel
        self.prepared = prepared


def preparation(config: DatasetConfig, version: int = GENERATOR_VERSION,
                terrain: ElevationGrid | None = None
                ) -> Generator[float, None, KernelInputs]:
    """Prepare generator `version`'s kernel for `config`, yielding the share done (0 to
    1) while it takes time (the terrain's link grids); returns the inputs.

    `terrain` is the elevation grid of the dataset file; without it, a config drawn over
    terrain gets the grid its terrain source gives (`terrain.source.resolve_terrain`).
    """
    kernel = _kernel_for(config, version)
    steps = getattr(kernel, "preparation", None)
    if steps is None:  # a flat world, prepared at once
        prepared = kernel.kernel_inputs(config)
    else:
        prepared = yield from steps(config, _terrain_of(config, terrain))
    return KernelInputs(version, kernel, prepared)


def prepare(config: DatasetConfig, version: int = GENERATOR_VERSION,
            terrain: ElevationGrid | None = None) -> KernelInputs:
    """`preparation`, all at once."""
    kernel = _kernel_for(config, version)
    if getattr(kernel, "preparation", None) is None:
        return KernelInputs(version, kernel, kernel.kernel_inputs(config))
    return KernelInputs(version, kernel,
                        kernel.kernel_inputs(config, _terrain_of(config, terrain)))


# Generator versions before 4 draw one transmit power and filter on a finite GDOP;
# those before 5 draw no IQ records.
RANGES_FROM_VERSION = 4
IQ_FROM_VERSION = 5


def check_version_reads(config: DatasetConfig, version: int) -> None:
    """ConfigError if `config` asks for what generator `version` cannot draw (IQ
    records, a power range, no GDOP limit: only the datasets of later versions have
    them)."""
    if config.dataset_type == "iq_raw" and version < IQ_FROM_VERSION:
        raise ConfigError("dataset_type", config.dataset_type,
                          f"feature_based for generator version {version}")
    if version >= RANGES_FROM_VERSION:
        return
    if isinstance(config.tx_power_dbm, tuple):
        raise ConfigError("tx_power_dbm", config.tx_power_text,
                          f"one power for generator version {version}",
                          problem="is a range")
    if math.isinf(config.max_gdop):
        raise ConfigError("max_gdop", config.max_gdop,
                          f"a finite limit for generator version {version}")


def _kernel_for(config: DatasetConfig, version: int) -> ModuleType:
    """Generator `version`'s kernel, once `config` is known to ask nothing it cannot draw."""
    check_version_reads(config, version)
    return kernel_of(version)


def _terrain_of(config: DatasetConfig, terrain: ElevationGrid | None) -> ElevationGrid | None:
    if terrain is None and config.propagation.terrain.source != "none":
        _, terrain = resolve_terrain(config)
    return terrain


def _empty_block_arrays(count: int, n_rx: int, version: int) -> dict[str, np.ndarray]:
    """The arrays the kernel fills: every field but the IQ ones."""
    return {name: np.empty((count, *field_shape(name, n_rx, 0)), dtype)
            for name, dtype in sample_fields(version).items()}


def generate_block(config: DatasetConfig, start: int, stop: int,
                   inputs: KernelInputs | None = None,
                   version: int = GENERATOR_VERSION,
                   terrain: ElevationGrid | None = None) -> SampleBlock:
    """Samples [start, stop) drawn by generator `version` over `terrain` (or by the
    kernel of `inputs`), computed in parallel over the chunks they touch."""
    began = time.perf_counter()
    inputs = inputs or prepare(config, version, terrain)
    kernel = inputs.kernel
    size = config.chunk_size
    chunks = np.arange(start // size, (stop - 1) // size + 1, dtype=np.int64)
    chunk_first = chunks * size
    chunk_start = np.maximum(chunk_first, start)
    chunk_stop = np.minimum(chunk_first + size, stop)
    keys = np.array([[stream_key(config.seed, int(k), s) for s in (0, 1)] for k in chunks],
                    dtype=np.uint64).reshape(len(chunks), 2, 2)
    count = stop - start
    a = _empty_block_arrays(count, len(config.receivers), inputs.version)
    counters = np.zeros((len(chunks), 2, 3), dtype=np.int64)
    status = np.zeros((len(chunks), 2), dtype=np.int64)
    # One piece of work at a time per thread: pieces differ in size (most samples are
    # inside), and fixed shares of a few pieces would leave a thread idle.
    with _KERNEL_LOCK, numba.parallel_chunksize(1):
        kernel.fill_block(inputs.prepared, config, keys, chunk_first, chunk_start,
                          chunk_stop, start, a, counters, status)
    failed = np.argwhere(status != kernel.STATUS_OK)
    if failed.size:
        j, stratum = failed[0]
        _raise_unfillable(config, int(chunks[j]), int(stratum), kernel)
    totals = counters.sum(axis=(0, 1))
    return SampleBlock(
        first_index=start, arrays=a,
        candidates=int(totals[kernel.COUNT_CANDIDATES]),
        rejected_too_few_receivers=int(totals[kernel.COUNT_TOO_FEW]),
        rejected_gdop=int(totals[kernel.COUNT_GDOP]),
        seconds=time.perf_counter() - began)


def _raise_unfillable(config: DatasetConfig, chunk: int, stratum: int,
                      kernel: ModuleType) -> None:
    name = STRATUM_NAMES[stratum]
    where = ("inside the receiver box" if stratum == 0
             else f"in the {config.margin_deg:g} degree ring around the receiver box")
    raise StratumUnfillableError(
        f"cannot fill the {name} stratum (chunk {chunk}): fewer than 1 kept sample per "
        f"{kernel.UNFILLABLE_RATIO:,} candidates after {kernel.UNFILLABLE_AFTER:,} "
        f"candidates {where}. Relax the filters: lower min_snr_db "
        f"(now {config.min_snr_db:g} dB) or min_receivers (now {config.min_receivers}), "
        f"raise max_gdop (now {config.max_gdop:g}) or tx_power_dbm "
        f"(now {config.tx_power_text})"
        + (", or raise inside_ratio" if stratum == 1 else "") + ".")


class _BlockPlanner:
    """Sizes blocks (whole chunks, a multiple of the thread count) to TARGET_BLOCK_SECONDS.

    The first block is small, so the first progress comes quickly; the next ones grow
    fourfold at most, soon reaching the target (a 1e5-sample run takes three blocks).
    """

    def __init__(self, chunk_size: int):
        self.chunk_size = chunk_size
        self.threads = numba.get_num_threads()
        self.chunks = 2 * self.threads
        self.limit = max(self.threads, MAX_BLOCK_SAMPLES // chunk_size)

    def stop_after(self, index: int, stop: int) -> int:
        return min(stop, (index // self.chunk_size + self.chunks) * self.chunk_size)

    def learn(self, block: SampleBlock) -> None:
        per_chunk = block.seconds / max(1, math.ceil(block.count / self.chunk_size))
        wanted = int(TARGET_BLOCK_SECONDS / max(per_chunk, 1e-6))
        chunks = max(self.threads, min(wanted, self.limit, 4 * self.chunks))
        self.chunks = chunks - chunks % self.threads


def generate_blocks(config: DatasetConfig, start: int, stop: int,
                    version: int = GENERATOR_VERSION, terrain: ElevationGrid | None = None,
                    inputs: KernelInputs | None = None) -> Iterator[SampleBlock]:
    """Yield blocks covering [start, stop) in order, drawn by generator `version` over
    the elevation grid `terrain` (or by the prepared `inputs`).

    While the caller handles one block (writes it, typically), the next is computed on
    a helper thread: the kernel releases the GIL, so the two overlap. Block boundaries
    never change the samples, only how often the caller hears of them. Closing the
    generator waits for the block in flight (a fraction of a second) and drops it.
    """
    inputs = inputs or prepare(config, version, terrain)
    if config.dataset_type == "iq_raw":
        blocks = _iq_blocks(config, start, stop, inputs)
    else:
        blocks = _feature_blocks(config, start, stop, inputs)
    with ThreadPoolExecutor(1, thread_name_prefix="heimdall-generator") as pool:
        pending: Future[SampleBlock | None] = pool.submit(next, blocks, None)
        try:
            while (block := pending.result()) is not None:
                pending = pool.submit(next, blocks, None)
                yield block
        finally:
            pending.cancel()
            wait([pending])
            blocks.close()


def _feature_blocks(config: DatasetConfig, start: int, stop: int,
                    inputs: KernelInputs) -> Generator[SampleBlock, None, None]:
    plan = _BlockPlanner(config.chunk_size)
    index = start
    while index < stop:
        block = generate_block(config, index, plan.stop_after(index, stop), inputs)
        plan.learn(block)
        index += block.count
        yield block


def _iq_blocks(config: DatasetConfig, start: int, stop: int,
               inputs: KernelInputs) -> Generator[SampleBlock, None, None]:
    """Blocks of whole samples of at most IQ_BLOCK_BYTES of records: the features of
    a few chunks at a time, then their records, a block at a time."""
    from .iq_synthesis import RecordPlan

    plan = RecordPlan(config)
    per_block = iq_block_samples(config)
    size = config.chunk_size
    index = start
    while index < stop:
        rows_stop = min(stop, (index // size + IQ_FEATURE_CHUNKS) * size)
        rows = generate_block(config, index, rows_stop, inputs)
        for first in range(index, rows_stop, per_block):
            yield _with_records(config, plan, inputs.version, rows, first,
                                min(rows_stop, first + per_block))
        index = rows_stop


def iq_block_samples(config: DatasetConfig) -> int:
    """How many samples an IQ dataset's block holds: IQ_BLOCK_BYTES of records."""
    return max(1, IQ_BLOCK_BYTES // config.iq_bytes_per_sample)


def _with_records(config: DatasetConfig, plan: RecordPlan, version: int, rows: SampleBlock,
                  first: int, last: int) -> SampleBlock:
    """Samples [first, last) of the feature block `rows`, with their IQ records. The
    candidates that found `rows` are counted with its first block only."""
    from .iq_synthesis import synthesize

    began = time.perf_counter()
    offset = rows.first_index
    part = {k: v[first - offset:last - offset] for k, v in rows.arrays.items()}
    part.update(synthesize(config, plan, first, part))
    fields = sample_fields(version, config.dataset_type, config.iq_storage)
    counted = first > offset
    return SampleBlock(
        first_index=first, arrays={k: part[k] for k in fields},
        candidates=0 if counted else rows.candidates,
        rejected_too_few_receivers=0 if counted else rows.rejected_too_few_receivers,
        rejected_gdop=0 if counted else rows.rejected_gdop,
        seconds=time.perf_counter() - began + (0.0 if counted else rows.seconds))


def compute_block(config: DatasetConfig, start: int, stop: int,
                  inputs: KernelInputs) -> SampleBlock:
    """Samples [start, stop), complete: their fields and, for an IQ dataset, their
    records; the same samples as any other range's (the cluster's tasks)."""
    block = generate_block(config, start, stop, inputs)
    if config.dataset_type != "iq_raw":
        return block
    from .iq_synthesis import RecordPlan

    return _with_records(config, RecordPlan(config), inputs.version, block, start, stop)


def load_kernels() -> None:
    """Compile the kernels a run uses, or load them from numba's cache, so that the first
    run does not wait for them: the terrain model's, on a small sea-level patch, and the
    flat plane's. Those of older generator versions load when a run first expands a
    dataset they drew."""
    receivers = [{"name": f"warmup {i}", "lat": 45.0 + 0.02 * (i % 2),
                  "lon": 7.0 + 0.02 * (i // 2), "alt_m": 0.0} for i in range(3)]
    for source in ("flat", "none"):
        config = DatasetConfig.from_dict({
            "name": "warmup", "seed": 0, "receivers": receivers, "margin_deg": 0.02,
            "propagation": {"terrain": {"source": source}}})
        config, grid = resolve_terrain(config)
        generate_block(config, 0, 1, prepare(config, terrain=grid))
    histogram(np.zeros(1), np.array([0.0, 1.0]))
