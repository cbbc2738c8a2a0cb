"""`python -m heimdall_studio`, and the `heimdall-studio` command (see pyproject.toml).

`_run-process` and `_preview-process` are not commands for users: the app starts itself
with them for the processes its runs and the New dialog's coverage preview happen in
(`core.runs.child`, `core.runs.preview`). They are handled before the command line is
parsed, so they are in no help text, and each process loads only what it needs.
"""

import signal
import sys


def run() -> int:
    from heimdall_studio.core.runs.child import RUN_PROCESS_COMMAND
    from heimdall_studio.core.runs.preview import PREVIEW_PROCESS_COMMAND

    if sys.argv[1:] == [RUN_PROCESS_COMMAND]:
        from heimdall_studio.core.runs.process import serve

        return serve()
    if sys.argv[1:] == [PREVIEW_PROCESS_COMMAND]:
        from heimdall_studio.core.runs import preview

        return preview.serve()
    # A Ctrl-C while numpy and h5py load can break their import half way, which then
    # reports a long ImportError instead; so it waits until they are loaded.
    blocking = hasattr(signal, "pthread_sigmask")
    if blocking:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        from heimdall_studio.cli import main
    except KeyboardInterrupt:
        return _interrupted()
    if blocking:
        if signal.SIGINT in signal.sigpending():
            return _interrupted()  # nothing was done yet
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    code = main()
    # The command is done; a late Ctrl-C (the second of a double one, say) would
    # otherwise kill the process while Python shuts down and change its exit code.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _interrupted() -> int:
    print("\nheimdall-studio: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
    raise SystemExit(run())
