"""Generator versions: every algorithm that has drawn samples, and the kernel of each.

A dataset file names the version that drew its samples in its root attribute
`generator_version` (files without it were written by Heimdall Studio 0.1: version 1).
New datasets are drawn with GENERATOR_VERSION; an expansion draws with the dataset's own
version, so all the samples of a dataset come from one set of random streams and an
expansion continues them bit for bit (SPEC sections 5 and 13).

Versions are forever. A change that would give other samples for the same config and
seed adds a version, with a kernel module of its own, and leaves the others as they are.
`tests/core/test_versions.py` holds every version to a file it wrote when it was current
(`tests/fixtures`, made by `scripts/make_golden_fixtures.py`).

Importing this module does not load numba; `GeneratorVersion.kernel()` does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from .. import __version__
from .errors import DatasetFormatError

if TYPE_CHECKING:
    from .store import DatasetHeader


@dataclass(frozen=True)
class GeneratorVersion:
    number: int
    first_release: str  # the first Heimdall Studio release that drew with it
    summary: str
    kernel_module: str  # the module of this package that draws its samples

    def kernel(self) -> ModuleType:
        """The module with this version's compiled kernel: `prepare(config)`,
        `fill_block(...)` and the counter and status constants that `generator` reads."""
        return importlib.import_module(f".{self.kernel_module}", __package__)


VERSIONS: dict[int, GeneratorVersion] = {v.number: v for v in (
    GeneratorVersion(1, "0.1", "Box-Muller normals; log10 path loss and fading",
                     "kernel_v1"),
    GeneratorVersion(2, "0.2", "ziggurat normals; path loss and fading share one logarithm",
                     "kernel"),
)}

# The version new datasets are drawn with.
GENERATOR_VERSION = 2


def generator_version(number: int) -> GeneratorVersion:
    """Version `number`; KeyError if this Heimdall Studio does not know it."""
    return VERSIONS[number]


def check_expandable(header: DatasetHeader) -> GeneratorVersion:
    """The version that draws the next samples of a dataset.

    DatasetFormatError if this Heimdall Studio does not know it (a later release drew
    the file): samples of another version would not continue the same random streams.
    """
    version = VERSIONS.get(header.generator_version)
    if version is None:
        raise DatasetFormatError(
            f"dataset '{header.name}' was drawn by generator version "
            f"{header.generator_version} (Heimdall Studio {header.app_version}), which this "
            f"Heimdall Studio ({__version__}) does not have: it draws versions "
            f"{', '.join(map(str, VERSIONS))}. Its samples stay readable: expand it with "
            f"Heimdall Studio {header.app_version} or later, or create a new dataset")
    return version
