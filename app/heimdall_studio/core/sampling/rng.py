"""Counter-based random numbers for the generator kernels.

Every random value is a pure function of (stream key, candidate number, draw number), so a
candidate can be evaluated on any thread, in any order, with the same result. Stream keys
come from `numpy.random.SeedSequence(seed, spawn_key=(chunk, stratum))` (docs/generation.md);
inside a stream, candidate `c` gets its own key by hashing, and its draws are a SplitMix64
sequence from that key.

Normals come from a 256-layer ziggurat (Marsaglia and Tsang, 2000): one 64-bit draw gives
the layer, the sign and a 53-bit uniform, and about 99 % of draws are accepted with a
multiply and a compare, with no logarithm or trigonometry. The rare rejections continue
on a hash chain of that draw, so they never shift any other draw.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S8 = np.uint64(8)
_ONE = np.uint64(1)
_LAYER_MASK = np.uint64(255)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

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
def bits(key, draw):
    """Draw number `draw` of a candidate, as 64 random bits."""
    return mix64(key + np.uint64(draw + 1) * GOLDEN_GAMMA)


@njit(cache=True, nogil=True, inline="always")
def unit(z):
    """The top 53 bits of `z` as a uniform in [0, 1)."""
    return float(z >> _S11) * _TO_UNIT


@njit(cache=True, nogil=True, inline="always")
def uniform(key, draw):
    """Draw number `draw` of a candidate, uniform in [0, 1)."""
    return unit(bits(key, draw))


def _ziggurat_tables(layers: int = 256, r: float = 3.6541528853610088):
    """Layer edges x[0..layers] (x[0] = base strip width, x[1] = r, x[layers] = 0) and
    the density at each edge, for the half-normal f(x) = exp(-x^2 / 2)."""
    def f(x):
        return math.exp(-0.5 * x * x)
    area = r * f(r) + math.sqrt(0.5 * math.pi) * math.erfc(r / math.sqrt(2.0))
    x = np.zeros(layers + 1)
    x[0] = area / f(r)
    x[1] = r
    for i in range(1, layers - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(area / x[i] + f(x[i])))
    return x, np.exp(-0.5 * x * x)


ZIGGURAT_X, ZIGGURAT_F = _ziggurat_tables()
ZIGGURAT_R = ZIGGURAT_X[1]


@njit(cache=True, nogil=True)
def _normal_slow(z, layer, x):
    """The ~1 % of ziggurat draws outside a layer's inner rectangle (retries included)."""
    while True:
        if layer == 0:  # the tail beyond r (Marsaglia's method)
            while True:
                z = mix64(z + GOLDEN_GAMMA)
                e = -math.log(1.0 - unit(z)) / ZIGGURAT_R
                z = mix64(z + GOLDEN_GAMMA)
                if -2.0 * math.log(1.0 - unit(z)) >= e * e:
                    return ZIGGURAT_R + e, z
        z = mix64(z + GOLDEN_GAMMA)
        y = ZIGGURAT_F[layer + 1] + unit(z) * (ZIGGURAT_F[layer] - ZIGGURAT_F[layer + 1])
        if y < math.exp(-0.5 * x * x):
            return x, z
        z = mix64(z + GOLDEN_GAMMA)  # rejected: a fresh layer, sign and uniform
        layer = int(z & _LAYER_MASK)
        x = unit(z) * ZIGGURAT_X[layer]
        if x < ZIGGURAT_X[layer + 1]:
            return x, z


@njit(cache=True, nogil=True, inline="always")
def normal(key, draw):
    """Draw number `draw` of a candidate, standard normal."""
    z = bits(key, draw)
    layer = int(z & _LAYER_MASK)
    x = unit(z) * ZIGGURAT_X[layer]
    if x >= ZIGGURAT_X[layer + 1]:
        x, z = _normal_slow(z, layer, x)
    return -x if (z >> _S8) & _ONE else x
