"""Runs in a process of their own: the same samples, progress, stops and errors."""

import os
import signal

import numpy as np
import pytest

from heimdall_studio.core import api
from heimdall_studio.core.runs import process as process_run
from heimdall_studio.core.runs.process import RunProcess, RunProcessError, SpareProcess
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
    seen = [next(run) for _ in range(3)]
    run.close()  # the child commits nothing after the record we saw last
    header = api.dataset_header("stopped", workspace)
    assert 0 < seen[-1].done == header.num_samples < 5_000_000
    assert header.history[-1].count == seen[-1].done
    assert verify_dataset(workspace / "stopped.h5").ok


def test_errors_in_the_child_are_reported_with_their_message(workspace):
    api.create_dataset("taken", 10, workspace, seed=1)
    with pytest.raises(RunProcessError, match="'taken' already exists"):
        list(RunProcess().create(api.make_config("taken", seed=1), 10, workspace))
    with pytest.raises(RunProcessError, match="no dataset"):
        list(RunProcess().expand("missing", 10, workspace))


def test_a_killed_run_process_is_an_error_and_its_commits_survive(workspace):
    process = RunProcess()
    run = process.create(api.make_config("killed", seed=3, chunk_size=512), 5_000_000,
                         workspace)
    seen = [next(run) for _ in range(3)]
    os.kill(process.process.pid, signal.SIGKILL)
    with pytest.raises(RunProcessError, match="ended unexpectedly.*signal 9"):
        for _ in run:
            pass
    # The file is repaired when it is next opened for writing; nothing committed is lost.
    api.expand_dataset("killed", 100, workspace)
    assert api.dataset_header("killed", workspace).num_samples >= seen[-1].done + 100
    assert verify_dataset(workspace / "killed.h5").ok


def test_the_spare_process_is_the_next_run_and_can_be_discarded(workspace):
    spare = SpareProcess()
    prepared = spare.prepare()
    assert spare.prepare() is prepared  # one spare at a time
    prepared.wait_ready()
    assert spare.take() is prepared
    second = spare.prepare()
    spare.discard()
    assert second.process.wait(timeout=10) is not None
    assert spare.prepare() is None  # discarded for good
    assert process_run.available()
