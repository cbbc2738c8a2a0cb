"""The terrain link grids of recent datasets, kept in the user cache folder by content.

Preparing the link grids over fine tiles takes tens of seconds; a second dataset over
the same elevation grid, receivers and link constants (an expansion, or a dataset that
differs in the filters or the seed) reads them back at once. The key is a hash of all
that the grids depend on, so an entry is never stale; entries are written whole under a
temporary name and renamed, and a damaged one is computed again. At most MAX_ENTRIES are
kept, the most recently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path

import numpy as np

from ..config.folders import cache_dir

log = logging.getLogger(__name__)

MAX_ENTRIES = 16


def folder() -> Path:
    return cache_dir() / "terrain-links"


def key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    path = folder() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            link, at = data["link"], data["at"]
        os.utime(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        log.info("terrain link cache entry %s unreadable (%s); computing it again", path, exc)
        return None
    if link.ndim != 4 or link.dtype != np.float32 or at.shape != (3,):
        return None
    return link, at


def store(name: str, link: np.ndarray, at: np.ndarray) -> None:
    """Keep an entry; a cache that cannot be written (full disk, read-only) is skipped."""
    where = folder()
    temporary = where / f".{name}.{secrets.token_hex(4)}.part"
    try:
        where.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as f:
            np.savez(f, link=link, at=at)
        os.replace(temporary, where / f"{name}.npz")
        _prune(where)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        log.info("terrain link grids not cached in %s: %s", where, exc)


def _prune(where: Path) -> None:
    entries = sorted(where.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
