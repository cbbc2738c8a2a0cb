"""The Compute setting: where runs compute their blocks, chosen, validated and remembered,
and a run of the app computed on a local cluster, its dashboard linked while it runs."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from heimdall_studio.core import api
from heimdall_studio.gui import compute
from heimdall_studio.gui.compute import ComputeDialog, read_cluster, write_cluster
from heimdall_studio.gui.dialogs import NewDatasetRequest


def _ok(dialog: ComputeDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_dialog_shows_and_returns_each_choice(qtbot):
    dialog = ComputeDialog("local:3")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.local.isChecked() and dialog.workers.value() == 3
    assert dialog.choice() == "local:3" and _ok(dialog).isEnabled()
    dialog.remote.click()
    assert not _ok(dialog).isEnabled() and "scheduler's address" in dialog.message.text()
    qtbot.keyClicks(dialog.address, "tcp://10.0.0.5:8786")
    assert _ok(dialog).isEnabled() and dialog.choice() == "tcp://10.0.0.5:8786"
    dialog.address.setText("10.0.0.5:8786")  # no scheme: not an address
    assert not _ok(dialog).isEnabled() and "is not a cluster" in dialog.message.text()
    dialog.here.click()
    assert _ok(dialog).isEnabled() and dialog.choice() == ""
    assert not dialog.address.isEnabled() and not dialog.workers.isEnabled()


def test_without_dask_a_cluster_choice_says_how_to_install_it(qtbot, monkeypatch):
    monkeypatch.setattr(compute, "dask_installed", lambda: False)
    dialog = ComputeDialog("")
    qtbot.addWidget(dialog)
    dialog.show()
    assert _ok(dialog).isEnabled()  # this computer needs nothing
    dialog.local.click()
    assert not _ok(dialog).isEnabled()
    assert "pip install 'heimdall-studio[cluster]'" in dialog.message.text()


@pytest.mark.parametrize("saved, read", [("local:2", "local:2"), ("tcp://h:8786", "tcp://h:8786"),
                                         ("tcp://h:8786; rm -rf ~", ""), ("local:0", ""),
                                         ("", "")])
def test_a_saved_setting_is_validated_when_read(saved, read):
    write_cluster(saved)
    assert read_cluster() == read


def test_a_run_of_the_app_computes_on_the_chosen_cluster(qtbot, open_window, workspace):
    write_cluster("local:2")
    window = open_window(workspace)
    config = api.make_config("clustered", seed=8, chunk_size=512)
    shown = []

    def progressed(job):
        row = window.job_panel.row_for(job)
        row.update_view()
        shown.append(row.compute.text())

    window.jobs.job_progressed.connect(progressed)
    with qtbot.waitSignal(window.jobs.job_ended, timeout=120_000):
        job = window.start_create(NewDatasetRequest(config, 20_000))
    assert job.state == "finished", job.summary()
    assert job.last.compute == "2 workers at local:2"
    assert any(text.startswith("on 2 workers at local:2 · <a href=\"http://127.0.0.1:")
               for text in shown)
    assert window.job_panel.row_for(job).compute.isHidden()  # gone with the run
    api.create_dataset("here", 20_000, workspace, seed=8, chunk_size=512)
    there, here = api.load_dataset(job.path), api.load_dataset("here", workspace)
    for name in here.arrays:
        assert np.array_equal(there[name], here[name], equal_nan=True), name


def test_the_choice_is_made_from_the_window_and_remembered(qtbot, open_window, workspace,
                                                          monkeypatch):
    window = open_window(workspace)

    def choose_local(dialog):
        dialog.local.click()
        dialog.workers.setValue(2)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ComputeDialog, "exec", choose_local)
    window.findChild(QAction, "action_compute").trigger()
    assert read_cluster() == "local:2"
    assert ComputeDialog(read_cluster()).local.isChecked()  # shown as saved next time
