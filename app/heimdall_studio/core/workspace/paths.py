"""Where datasets live: the workspace folder, and the file of a dataset name or path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from ..config.names import validate_name
from ..dataset.layout import SUFFIX
from ..errors import DatasetNotFoundError, DatasetWriteError, PathError

WORKSPACE_ENV = "HEIMDALL_STUDIO_WORKSPACE"


def default_workspace() -> Path:
    """$HEIMDALL_STUDIO_WORKSPACE, else the platform's user data folder."""
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return _expand_user(Path(env), WORKSPACE_ENV)
    return platformdirs.user_data_path("heimdall-studio", appauthor=False) / "datasets"


def workspace_path(workspace: str | Path | None = None) -> Path:
    """The workspace folder: the one given (`~` expanded), else `default_workspace()`."""
    if not workspace:
        return default_workspace()
    return _expand_user(Path(workspace), "workspace")


def _expand_user(path: Path, what: str) -> Path:
    if not str(path).startswith("~"):
        return path
    try:
        return path.expanduser()
    except RuntimeError:  # pathlib's answer for an unknown user or an unknown home
        user = path.parts[0][1:]
        known = f"there is no user {user!r}" if user else "the home folder is not known"
        raise PathError(f"{what} {str(path)!r} cannot be expanded: {known}") from None


def dataset_path(name: str, workspace: str | Path | None = None) -> Path:
    """`<workspace>/<name>.h5`; the name is checked so it cannot leave the workspace."""
    return workspace_path(workspace) / f"{validate_name(name)}{SUFFIX}"


def _is_path(text: str) -> bool:
    return "/" in text or os.sep in text or bool(os.altsep and os.altsep in text)


def resolve_dataset(name_or_path: str | Path, workspace: str | Path | None = None) -> Path:
    """The file of a dataset, found one way only.

    A bare name (text without a slash) is always the workspace's dataset of that name,
    even where a file of that name lies in the current folder; text with a slash, or a
    Path, is the path of a dataset file (`./a.h5` for a file here).
    """
    if isinstance(name_or_path, Path) or _is_path(str(name_or_path)):
        return _expand_user(Path(name_or_path), "dataset path")
    name = str(name_or_path)
    path = dataset_path(name, workspace)
    if not os.path.lexists(path):
        raise DatasetNotFoundError(_not_found(name, path))
    return path


def _not_found(name: str, path: Path) -> str:
    folder = path.parent
    message = f"no dataset {name!r} in {folder}"
    if not folder.is_dir():
        message += (" (that folder does not exist)" if not os.path.lexists(folder)
                    else " (that is not a folder)")
    hints = []
    if name.lower().endswith(SUFFIX):
        hints.append(f"a dataset is named without {SUFFIX}: type {name[:-len(SUFFIX)]!r}")
    if os.path.isfile(name):
        hints.append(f"for the file {name} in the current folder, type ./{name}")
    return message + "".join(f"; {hint}" for hint in hints)


def prepare_workspace(folder: Path) -> None:
    """The workspace folder exists after this; what stands in its way is said plainly."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # something else than a folder has the name
        raise PathError(f"the workspace {folder} is {kind_of(folder)}, not a folder; "
                        "choose another workspace") from None
    except NotADirectoryError:  # a file where a parent folder should be
        blocker = next((p for p in folder.parents if os.path.lexists(p) and not p.is_dir()),
                       folder.parent)
        raise PathError(f"the workspace {folder} cannot be made: {blocker} is "
                        f"{kind_of(blocker)}, not a folder") from None
    except OSError as exc:  # read-only file system, permission denied, disk full
        raise DatasetWriteError(f"cannot create the workspace folder {folder}: "
                                f"{exc.strerror or exc}") from None


def kind_of(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "not reachable"
    if stat.S_ISLNK(mode):
        return "a symbolic link to " + ("a non-folder" if path.exists() else "nothing")
    kinds = [(stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")]
    return next((text for test, text in kinds if test(mode)), "not a folder")

