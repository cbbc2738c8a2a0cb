"""Generator versions: every algorithm that has drawn samples.

A dataset file names the version that drew its samples in its root attribute
`generator_version` (files without it were written by Heimdall Studio 0.1: version 1).
New datasets are drawn with GENERATOR_VERSION; an expansion draws with the dataset's own
version, so all the samples of a dataset come from one set of random streams and an
expansion continues them bit for bit (docs/generation.md, Versions).

Versions are forever. A change that would give other samples for the same config and
seed adds a version, with a kernel module of its own, and leaves the others as they are.
`tests/core/test_versions.py` holds every version to a file it wrote when it was current
(`tests/fixtures`, made by `scripts/make_golden_fixtures.py`).

Each version's kernel is `sampling.kernel_v<N>`; importing this module loads none of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorVersion:
    number: int
    first_release: str  # the first Heimdall Studio release that drew with it
    summary: str


VERSIONS: dict[int, GeneratorVersion] = {v.number: v for v in (
    GeneratorVersion(1, "0.1", "Box-Muller normals; log10 path loss and fading"),
    GeneratorVersion(2, "0.2", "ziggurat normals; path loss and fading share one logarithm"),
    GeneratorVersion(3, "0.3", "terrain: delta-Bullington loss over elevation data, "
                     "line of sight, a shadowing field per receiver; terrain none is "
                     "version 2's flat plane"),
    GeneratorVersion(4, "0.4", "measurements: transmit power ranges and antennas, "
                     "receiver antennas, calibration, noise-floor spread, shared "
                     "oscillator offsets and arrival times"),
    GeneratorVersion(5, "0.5", "IQ datasets: version 4's samples, each link's SNR and "
                     "arrival stored for every receiver, and the recorded baseband of "
                     "each receiver drawn from them"),
)}

# The version new datasets are drawn with.
GENERATOR_VERSION = 5


def generator_version(number: int) -> GeneratorVersion:
    """Version `number`; KeyError if this Heimdall Studio does not know it."""
    return VERSIONS[number]
