"""Counter-based random numbers for the generator kernels.

Every random value is a pure function of (stream key, candidate number, draw number), so a
candidate can be evaluated on any thread, in any order, with the same result. Stream keys
come from `numpy.random.SeedSequence(seed, spawn_key=(chunk, stratum))` (SPEC section 5);
inside a stream, candidate `c` gets its own key by hashing, and its draws are a SplitMix64
sequence from that key.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
_TWO_PI = 2.0 * np.pi

STRATUM_INSIDE = 0
STRATUM_OUTSIDE = 1


def stream_key(seed: int, chunk: int, stratum: int) -> np.ndarray:
    """The two 64-bit words keying one stratum's stream within one chunk."""
    sequence = np.random.SeedSequence(seed, spawn_key=(chunk, stratum))
    return sequence.generate_state(2, np.uint64)


@njit(cache=True, nogil=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijective avalanche of a 64-bit word."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True, inline="always")
def candidate_key(key0, key1, candidate):
    return mix64(key0 ^ mix64(np.uint64(candidate) * GOLDEN_GAMMA + key1))


@njit(cache=True, nogil=True, inline="always")
def uniform(key, draw):
    """Draw number `draw` of a candidate, uniform in [0, 1)."""
    z = mix64(key + np.uint64(draw + 1) * GOLDEN_GAMMA)
    return float(z >> _S11) * _TO_UNIT


@njit(cache=True, nogil=True, inline="always")
def normal_pair(key, draw):
    """Two independent standard normals from draws `draw` and `draw + 1` (Box-Muller)."""
    u1 = 1.0 - uniform(key, draw)  # (0, 1]: safe for log
    u2 = uniform(key, draw + 1)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = _TWO_PI * u2
    return radius * np.cos(angle), radius * np.sin(angle)
