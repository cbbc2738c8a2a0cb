"""PyInstaller runtime hook: runs in the frozen app before any of its modules.

That is in every process of the bundle: the command line, the desktop app, and the process
each of the app's runs happens in, which is the same executable started again as
`heimdall-studio _run-process` (handled first thing in `heimdall_studio.__main__`). The
app's kernels are compiled and loaded there; the command line's, in its own process.

The numba kernels are `cache=True`. numba keeps its cache beside a module's source by
default, which in a bundle is the install folder: often read-only, and shared by every
user. NUMBA_CACHE_DIR moves it to the user's cache folder instead (numba reads the
variable once, at import, so it must be set here); a run process inherits it. The bundle
ships its modules as .py files, so numba can locate them; the cache is keyed on the
bundle's executable, so an updated bundle recompiles rather than loading stale code.
"""

import os
import sys

if getattr(sys, "frozen", False) and not os.environ.get("NUMBA_CACHE_DIR"):
    import platformdirs

    os.environ["NUMBA_CACHE_DIR"] = str(
        platformdirs.user_cache_path("heimdall-studio", appauthor=False) / "numba")
