"""Folders of the user's machine the product keeps things in, besides the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_DIR_ENV = "HEIMDALL_STUDIO_CACHE_DIR"


def cache_dir() -> Path:
    """$HEIMDALL_STUDIO_CACHE_DIR, else the platform's user cache folder: what can be
    made again (the listing index, terrain link grids), never a dataset."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_cache_path("heimdall-studio", appauthor=False)
