"""Errors the core raises on purpose. Each carries a message fit to show a user."""

from __future__ import annotations

from typing import Any


class HeimdallError(Exception):
    """Base of every error the product reports to users instead of a traceback."""


class ConfigError(HeimdallError, ValueError):
    """A generation parameter is invalid; nothing was written."""

    def __init__(self, field: str, value: Any, allowed: str, problem: str | None = None):
        self.field = field
        self.value = value
        self.allowed = allowed
        shown = repr(value) if isinstance(value, str) else str(value)
        if len(shown) > 80:  # the middle goes: a path's end names the file
            shown = shown[:30] + "..." + shown[-47:]
        problem = problem or "is not valid"
        super().__init__(f"{field} = {shown} {problem}: allowed {allowed}")


class DatasetNotFoundError(HeimdallError, FileNotFoundError):
    """No dataset by that name or path."""


class DatasetFormatError(HeimdallError):
    """The file is not a readable dataset of this format (foreign, corrupt or too new)."""


class DatasetExistsError(HeimdallError, FileExistsError):
    """Creating would overwrite an existing dataset."""


class DatasetBusyError(HeimdallError):
    """Another run is writing this dataset."""


class StratumUnfillableError(HeimdallError):
    """Rejection sampling cannot fill a stratum with the current parameters."""


class DatasetWriteError(HeimdallError):
    """Writing the dataset failed (disk full, permissions...); committed samples are kept."""


class DatasetInUseError(HeimdallError):
    """Another program holds the file open for writing; it is not damaged."""


class PathError(HeimdallError):
    """A path given cannot be used as it is (not a folder, a missing folder, an unknown
    ~user); nothing was written."""


class ExportError(HeimdallError):
    """Writing an export failed (read-only folder, disk full...); no partial file is left."""


class TerrainError(HeimdallError):
    """Elevation data that cannot be used: not found, unreadable, or not covering a place."""


class ClusterError(HeimdallError):
    """The cluster asked for cannot compute the run (unreachable, no workers, workers that
    differ from this machine, Dask missing); nothing was written, or, during a run, the
    samples committed are kept."""


class ClusterAddressError(ClusterError, ValueError):
    """A cluster address that is not one: nothing was tried."""
