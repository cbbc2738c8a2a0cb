"""Runs in a process of their own: the same samples, progress, stops and errors."""

import itertools
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.errors import ConfigError, DatasetExistsError, DatasetNotFoundError
from heimdall_studio.core.runs import child
from heimdall_studio.core.runs.process import (
    ReadyProcess,
    RunProcess,
    RunProcessError,
    error_from,
    error_report,
)
from heimdall_studio.core.tools.verify import verify_dataset


def test_a_run_in_its_own_process_writes_the_same_samples(workspace):
    config = api.make_config("child", seed=11, chunk_size=512)
    records = list(RunProcess().create(config, 3000, workspace))
    api.create_dataset(api.make_config("here", seed=11, chunk_size=512), 3000, workspace)
    child, here = api.load_dataset("child", workspace), api.load_dataset("here", workspace)
    for name in here.arrays:
        np.testing.assert_array_equal(child[name], here[name])
    assert [r.done for r in records] == sorted(r.done for r in records)
    assert records[0].done == 0 and records[-1].done == 3000 and records[-1].finished
    assert records[-1].path == workspace / "child.h5"

    expanded = list(RunProcess().expand("child", 1000, workspace))
    assert expanded[-1].first_index == 3000 and expanded[-1].done == 1000
    assert api.dataset_header("child", workspace).num_samples == 4000


def test_closing_the_run_keeps_exactly_the_samples_it_reported(workspace):
    run = RunProcess().create(api.make_config("stopped", seed=2, chunk_size=512),
                              5_000_000, workspace)
    seen = [p for p in itertools.takewhile(lambda p: p.done == 0, run)]  # preparing
    assert seen[0].prepared == 0.0
    seen += [next(run) for _ in range(2)]  # and two commits
    run.close()  # the child commits nothing after the record we saw last
    header = api.dataset_header("stopped", workspace)
    assert 0 < seen[-1].done == header.num_samples < 5_000_000
    assert header.history[-1].count == seen[-1].done
    assert verify_dataset(workspace / "stopped.h5").ok


def test_errors_in_the_child_are_raised_again_with_their_class_and_message(workspace):
    api.create_dataset("taken", 10, workspace, seed=1)
    with pytest.raises(DatasetExistsError, match="'taken' already exists"):
        list(RunProcess().create(api.make_config("taken", seed=1), 10, workspace))
    with pytest.raises(DatasetNotFoundError, match="no dataset"):
        list(RunProcess().expand("missing", 10, workspace))


def test_an_error_crosses_with_its_attributes_and_others_name_their_class():
    crossed = error_from(*error_report(ConfigError("seed", -1, "0 or more")))
    assert type(crossed) is ConfigError and str(crossed) == "seed = -1 is not valid: " \
        "allowed 0 or more"
    assert (crossed.field, crossed.value, crossed.allowed) == ("seed", -1, "0 or more")
    other = error_from(*error_report(ZeroDivisionError("division by zero")))
    assert type(other) is RunProcessError and str(other) == \
        "ZeroDivisionError: division by zero"


def test_the_run_process_is_this_program_started_with_a_hidden_subcommand(monkeypatch):
    assert child.command("_run-process") == [sys.executable, "-m", "heimdall_studio",
                                             "_run-process"]
    assert "PYTHONPATH" in child.environment()
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # as in a PyInstaller bundle
    monkeypatch.setattr(sys, "executable", "/opt/heimdall-studio/heimdall-studio")
    assert child.command(child.RUN_PROCESS_COMMAND) == [
        "/opt/heimdall-studio/heimdall-studio", "_run-process"]
    assert child.environment().get("PYTHONPATH") == os.environ.get("PYTHONPATH")


def test_the_hidden_subcommand_is_in_no_help_text():
    shown = subprocess.run([sys.executable, "-m", "heimdall_studio", "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert "create" in shown and "_run-process" not in shown


def test_a_run_process_that_cannot_start_is_an_error(workspace, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(RunProcessError, match="cannot start a process for the run"):
        RunProcess()
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, and ends at once
    run = RunProcess().create(api.make_config("never", seed=1), 10, workspace)
    with pytest.raises(RunProcessError, match=r"did not start \(exit code 1\)"):
        next(run)
    assert not (workspace / "never.h5").exists()


def test_a_killed_run_process_is_an_error_and_its_commits_survive(workspace):
    process = RunProcess()
    run = process.create(api.make_config("killed", seed=3, chunk_size=512), 5_000_000,
                         workspace)
    seen = [next(run) for _ in range(3)]
    os.kill(process.process.pid, signal.SIGKILL)
    with pytest.raises(RunProcessError, match=r"ended unexpectedly.*signal 9"):
        for _ in run:
            pass
    # The file is repaired when it is next opened for writing; nothing committed is lost.
    api.expand_dataset("killed", 100, workspace)
    assert api.dataset_header("killed", workspace).num_samples >= seen[-1].done + 100
    assert verify_dataset(workspace / "killed.h5").ok


def test_the_ready_process_is_the_next_run_and_can_be_discarded(workspace):
    ready = ReadyProcess()
    prepared = ready.prepare()
    assert ready.prepare() is prepared  # one ready process at a time
    prepared.wait_ready()
    assert ready.take() is prepared
    second = ready.prepare()
    ready.discard()
    assert second.process.wait(timeout=10) is not None
    assert ready.prepare() is None  # discarded for good
    prepared.discard()  # taken, never run: ended, and its pipes closed
    assert prepared.process.wait(timeout=10) is not None


def test_a_ready_process_that_ended_while_it_waited_is_replaced(workspace):
    ready = ReadyProcess()
    killed = ready.prepare()
    killed.process.kill()
    killed.process.wait()
    fresh = ready.take()
    assert fresh is not killed
    records = list(fresh.create(api.make_config("fresh", seed=4), 100, workspace))
    assert records[-1].finished and records[-1].done == 100


def test_a_frozen_app_runs_itself_as_the_run_process(workspace, tmp_path, monkeypatch):
    # The bundle's executable stands in: a script that notes its arguments, then does what
    # the bundle does with them (runs this program's entry point).
    args = tmp_path / "args"
    app = tmp_path / "heimdall-studio"
    path = os.pathsep.join(p for p in sys.path if p)
    app.write_text(f'#!/bin/sh\necho "$@" > {args}\nPYTHONPATH="{path}" '
                   f'exec "{sys.executable}" -m heimdall_studio "$@"\n')
    app.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    records = list(RunProcess().create(api.make_config("frozen", seed=6), 200, workspace))
    assert records[-1].finished and records[-1].done == 200
    assert args.read_text() == "_run-process\n"
    assert verify_dataset(workspace / "frozen.h5").ok
