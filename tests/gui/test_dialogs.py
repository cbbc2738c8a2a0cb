"""The New and Expand dialogs: fields, inline validation, and what they hand back; the IQ
parameters of iq_raw datasets among them."""

from __future__ import annotations

import dataclasses
import json
import math

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QTableView,
    QWidget,
)

from heimdall_studio.core import api
from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.config.params import (
    BY_PATH,
    CONFIG_PARAMS,
    IQ_ONLY_PATHS,
    MEASUREMENT_PARAMS,
    PROPAGATION_PARAMS,
    RECEIVER_PARAMS,
    TERRAIN_PARAMS,
)
from heimdall_studio.core.config.units import format_size
from heimdall_studio.gui.config_form import FORM_PARAMS
from heimdall_studio.gui.dialogs import (
    ExpandDatasetDialog,
    ExpandDatasetRequest,
    NewDatasetDialog,
    bytes_per_sample,
    size_text,
)
from heimdall_studio.gui.values import field_text

CONFIG_KEYS = ("name", "dataset_type", "frequency_mhz", "tx_power_dbm", "min_snr_db",
               "min_receivers", "max_gdop", "max_gdop.unlimited", "inside_ratio",
               "margin_deg", "bandwidth_hz", "iq_duration_s", "seed", "receivers",
               *(p.path for p in MEASUREMENT_PARAMS))


@pytest.fixture
def new_dialog(qtbot, workspace):
    dialog = NewDatasetDialog(workspace)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_every_parameter_has_a_widget_named_by_its_key(new_dialog):
    for key in (*CONFIG_KEYS, "num_samples"):
        assert new_dialog.findChild(QWidget, key) is not None, key
    defaults = DatasetConfig(name="x", seed=0)
    assert new_dialog.findChild(QDoubleSpinBox, "frequency_mhz").value() == 145.0
    assert new_dialog.findChild(QLineEdit, "tx_power_dbm").text() == "37"
    assert not new_dialog.findChild(QCheckBox, "max_gdop.unlimited").isChecked()
    assert new_dialog.findChild(QLineEdit, "measurement.tx_antennas").text() == \
        "whip:0.5,rubber_duck:0.4,yagi:0.1"
    assert new_dialog.findChild(QDoubleSpinBox, "inside_ratio").value() == defaults.inside_ratio
    assert new_dialog.findChild(QSpinBox, "min_receivers").value() == 3
    assert new_dialog.findChild(QTableView, "receivers").model().rowCount() == 7
    assert new_dialog.findChild(QLineEdit, "seed").text().isdigit()


def test_every_table_parameter_has_a_widget_with_its_range_unit_and_tip(new_dialog):
    """The form is made from the parameter tables: one widget per parameter, named by
    its path, its spin range wider than what is valid (so a value just outside can be
    typed and be told why), its unit as suffix, its range in the tooltip."""
    for param in CONFIG_PARAMS + PROPAGATION_PARAMS + TERRAIN_PARAMS + MEASUREMENT_PARAMS:
        widget = new_dialog.findChild(QWidget, param.path)
        assert widget is not None, param.path
        assert param.allowed in widget.toolTip(), param.path
        if isinstance(widget, QAbstractSpinBox):
            assert param.kind == "float" or param.hi < 2**31, param.path  # seed: digits
            assert widget.minimum() < param.lo, param.path
            assert widget.maximum() > (param.hi if math.isfinite(param.hi) else param.lo)
            assert widget.suffix() == (f" {param.unit}" if param.unit else "")
            assert isinstance(widget, QSpinBox) == (param.kind == "int"), param.path
            if param.default is not None:
                # shown to the parameter's decimals: 4/3 as 1.333
                assert widget.value() == pytest.approx(param.default,
                                                       abs=10.0 ** -param.decimals), param.path
        elif isinstance(widget, QComboBox):
            assert [widget.itemText(i) for i in range(widget.count())] == list(param.choices)
            assert widget.currentText() == param.default
        else:
            assert isinstance(widget, QLineEdit), param.path
            assert param.kind in ("text", "int", "range", "mix"), param.path
            if param.kind in ("range", "mix"):
                assert widget.text() == field_text(param, param.default), param.path
    count = BY_PATH["num_samples"]
    box = new_dialog.findChild(QSpinBox, count.path)
    assert box.minimum() == count.lo and box.maximum() <= count.hi
    model = new_dialog.form.receiver_model
    headers = [model.headerData(i, Qt.Orientation.Horizontal) for i in range(model.columnCount())]
    assert headers[:4] == ["Name", "Lat\n(°)", "Lon\n(°)", "Alt\n(m)"]  # units below
    assert len(headers) == len(RECEIVER_PARAMS)


def test_validation_disables_ok_and_names_the_field(qtbot, new_dialog, workspace):
    message = new_dialog.message
    assert not new_dialog.ok_button.isEnabled()  # no name yet
    assert message.text().startswith("Name is empty")  # a hint, not red before input
    assert message.styleSheet() == ""
    assert new_dialog.findChild(QLineEdit, "name").property("invalid") is not True

    new_dialog.findChild(QLineEdit, "name").setText("vhf")
    assert new_dialog.ok_button.isEnabled(), message.text()
    assert new_dialog.form.target_path.text() == str(workspace / "vhf.h5")

    frequency = new_dialog.findChild(QDoubleSpinBox, "frequency_mhz")
    frequency.setValue(0.5)
    assert not new_dialog.ok_button.isEnabled()
    # In the form's words: the field's label and unit, not its config key.
    assert message.text().startswith("Frequency: 0.5 MHz is not valid; allowed 1 to 6000 MHz")
    assert "frequency_mhz" not in message.text()
    assert frequency.property("invalid") is True
    frequency.setValue(430.0)
    assert new_dialog.ok_button.isEnabled()
    assert frequency.property("invalid") is False

    new_dialog.findChild(QSpinBox, "min_receivers").setValue(8)  # 7 receivers
    assert not new_dialog.ok_button.isEnabled() and "Min receivers: 8" in message.text()
    new_dialog.findChild(QSpinBox, "min_receivers").setValue(3)

    seed = new_dialog.findChild(QLineEdit, "seed")
    seed.setText("")
    assert not new_dialog.ok_button.isEnabled() and message.text().startswith("Seed")
    before = seed.text()
    qtbot.mouseClick(new_dialog.form.new_seed_button, Qt.MouseButton.LeftButton)
    assert seed.text().isdigit() and seed.text() != before
    assert new_dialog.ok_button.isEnabled()

    new_dialog.findChild(QLineEdit, "name").setText("../escape")
    assert not new_dialog.ok_button.isEnabled()
    assert message.text().startswith("Name: '../escape'") and message.styleSheet() != ""
    assert new_dialog.findChild(QLineEdit, "name").property("invalid") is True


def test_existing_dataset_name_is_refused(new_dialog, workspace):
    (workspace / "taken.h5").write_bytes(b"anything")
    new_dialog.findChild(QLineEdit, "name").setText("taken")
    assert not new_dialog.ok_button.isEnabled()
    assert "already exists" in new_dialog.message.text()


def test_receiver_table_edit_load_and_reset(new_dialog, tmp_path):
    form = new_dialog.form
    model = form.receiver_model
    new_dialog.findChild(QLineEdit, "name").setText("net")
    model.setData(model.index(0, 1), "north")  # latitude cell
    assert not new_dialog.ok_button.isEnabled()
    assert new_dialog.message.text().startswith("Receiver 'Aquila di Giaveno', Lat: 'north'")
    model.setData(model.index(0, 1), "45.5")
    assert new_dialog.ok_button.isEnabled()
    model.setData(model.index(1, 0), model.index(0, 0).data())  # duplicate name
    assert "duplicate" in new_dialog.message.text()

    csv_file = tmp_path / "net.csv"
    csv_file.write_text("name,lat,lon,alt_m\nA,45.0,7.0,100\nB,45.5,7.5,200\n"
                        "C,44.5,8.0,300\nD,45.2,8.5,50\n")
    assert form.load_receiver_file(csv_file) is None
    assert model.rowCount() == 4
    assert new_dialog.ok_button.isEnabled()
    assert new_dialog.validate().config.receivers[3].name == "D"

    json_file = tmp_path / "net.json"
    json_file.write_text(json.dumps({"receivers": [
        {"name": "X", "lat": 1, "lon": 1, "alt_m": 0}, {"name": "Y", "lat": 2, "lon": 1,
                                                          "alt_m": 0}]}))
    assert form.load_receiver_file(json_file) is None
    assert not new_dialog.ok_button.isEnabled()  # two receivers are too few
    assert "receivers" in new_dialog.message.text()

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not valid JSON" in form.load_receiver_file(bad)
    assert model.rowCount() == 2  # unchanged

    form.default_receivers_button.click()
    assert model.rowCount() == 7 and new_dialog.ok_button.isEnabled()


def test_advanced_propagation_reaches_the_config(new_dialog):
    new_dialog.form.advanced_toggle.click()
    assert new_dialog.form.advanced.isVisible()
    new_dialog.findChild(QLineEdit, "name").setText("fs")
    new_dialog.findChild(QComboBox, "propagation.path_loss_model").setCurrentText("free_space")
    new_dialog.findChild(QDoubleSpinBox, "propagation.shadowing_sigma_db").setValue(4.0)
    request = new_dialog.validate()
    assert request.config.propagation.path_loss_model == "free_space"
    assert request.config.propagation.shadowing_sigma_db == 4.0


def test_new_dataset_end_to_end_through_the_dialog(qtbot, open_window, workspace):
    window = open_window(workspace)
    window.action_new_dataset.trigger()
    dialog = window.findChild(QDialog, "new_dataset_dialog")
    assert dialog is not None and dialog.isVisible()
    dialog.findChild(QLineEdit, "name").setText("uhf 70cm")
    dialog.findChild(QDoubleSpinBox, "frequency_mhz").setValue(433.5)
    dialog.findChild(QLineEdit, "tx_power_dbm").setText("40")
    dialog.findChild(QDoubleSpinBox, "min_snr_db").setValue(4.0)
    dialog.findChild(QDoubleSpinBox, "inside_ratio").setValue(0.6)
    dialog.findChild(QLineEdit, "seed").setText("12345")
    dialog.findChild(QSpinBox, "num_samples").setValue(6000)
    assert dialog.ok_button.isEnabled(), dialog.message.text()

    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000) as ended:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    job = ended.args[0]
    assert job.state == "finished", job.summary()

    path = workspace / "uhf 70cm.h5"
    with h5py.File(path, "r", locking=False) as f:
        assert f.attrs["format"] == "heimdall-studio-dataset"
        assert f.attrs["num_samples"] == 6000
        assert f.attrs["frequency_mhz"] == 433.5
        assert f.attrs["tx_power_dbm"] == 40.0
        assert f.attrs["min_snr_db"] == 4.0
        assert f.attrs["inside_ratio"] == 0.6
        assert f.attrs["seed"] == 12345
        assert np.all(f["samples/frequency_hz"][:6000] == 433.5e6)
    # The new dataset shows in the browser, selected, with its count.
    qtbot.waitUntil(lambda: window.selected_entry() is not None
                    and window.selected_entry().path == path
                    and window.selected_entry().header.num_samples == 6000, timeout=10_000)


def test_expand_dialog_shows_inherited_values_disabled(qtbot, open_window, workspace,
                                                      make_dataset, select):
    path = make_dataset(workspace, "uhf", 3000, frequency_mhz=430.0, tx_power_dbm=33.0,
                        seed=77)
    window = open_window(workspace)
    select(window, path)
    window.action_expand_dataset.trigger()
    dialog = window.findChild(QDialog, "expand_dataset_dialog")
    assert isinstance(dialog, ExpandDatasetDialog) and dialog.isVisible()

    frequency = dialog.findChild(QDoubleSpinBox, "frequency_mhz")
    assert frequency.value() == 430.0 and not frequency.isEnabled()
    assert "inherited" in frequency.toolTip().lower() and "uhf" in frequency.toolTip()
    assert dialog.findChild(QLineEdit, "tx_power_dbm").text() == "33"
    assert dialog.findChild(QLineEdit, "seed").text() == "77"
    assert dialog.findChild(QLineEdit, "name").text() == "uhf"
    for key in CONFIG_KEYS:
        assert not dialog.findChild(QWidget, key).isEnabled(), key
    for widget in dialog.form.generation_widgets():
        assert not widget.isEnabled()
    count = dialog.findChild(QSpinBox, "num_samples")
    assert count.isEnabled()
    count.setValue(2500)
    total = dialog.findChild(QWidget, "sample_total").text()
    assert "3,000" in total and "2,500" in total and "5,500" in total
    dialog.reject()


def test_expand_request_can_carry_only_path_and_count():
    assert [f.name for f in dataclasses.fields(ExpandDatasetRequest)] == ["path",
                                                                         "num_samples"]


def test_forced_widget_values_never_reach_the_generator(qtbot, open_window, workspace,
                                                       make_dataset, select):
    path = make_dataset(workspace, "uhf", 3000, frequency_mhz=430.0, seed=99)
    window = open_window(workspace)
    select(window, path)
    window.action_expand_dataset.trigger()
    dialog = window.findChild(QDialog, "expand_dataset_dialog")

    # Tamper with every kind of inherited field, enabling the widgets first.
    frequency = dialog.findChild(QDoubleSpinBox, "frequency_mhz")
    frequency.setEnabled(True)
    frequency.setValue(145.0)
    seed = dialog.findChild(QLineEdit, "seed")
    seed.setEnabled(True)
    seed.setText("1")
    dialog.findChild(QDoubleSpinBox, "inside_ratio").setValue(0.1)
    dialog.form.receiver_model.read_only = False
    dialog.form.receiver_model.setData(dialog.form.receiver_model.index(0, 1), "10.0")
    dialog.findChild(QSpinBox, "num_samples").setValue(2000)

    with qtbot.waitSignal(window.jobs.job_ended, timeout=30_000) as ended:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert ended.args[0].state == "finished", ended.args[0].summary()

    with h5py.File(path, "r", locking=False) as f:
        assert f.attrs["num_samples"] == 5000
        assert f.attrs["frequency_mhz"] == 430.0
        assert np.all(f["samples/frequency_hz"][:5000] == 430.0e6)
        assert f["history"][-1]["kind"] == b"expand" or f["history"][-1]["kind"] == "expand"
    # The samples are exactly those of a dataset made at once with the original config.
    reference = make_dataset(workspace.parent, "reference", 5000, frequency_mhz=430.0, seed=99)
    expanded = api.load_dataset(path, fields=("tx_lat", "snr_db"))
    at_once = api.load_dataset(reference, fields=("tx_lat", "snr_db"))
    np.testing.assert_array_equal(expanded["tx_lat"], at_once["tx_lat"])
    np.testing.assert_array_equal(expanded["snr_db"], at_once["snr_db"])
    # The browser shows the new count.
    qtbot.waitUntil(lambda: window.model.entry(window.model.row_of(path)).header.num_samples
                    == 5000, timeout=10_000)
    row = window.model.row_of(path)
    assert window.model.index(row, 2).data() == "5,000"


def test_terrain_fields_reach_the_config_and_are_checked_as_they_change(new_dialog):
    source = new_dialog.findChild(QComboBox, "propagation.terrain.source")
    k_factor = new_dialog.findChild(QDoubleSpinBox, "propagation.terrain.k_factor")
    assert source.currentText() == "builtin" and k_factor.value() == pytest.approx(1.333)
    assert [source.itemText(i) for i in range(source.count())] == [
        "builtin", "none", "flat", "tiles"]
    new_dialog.findChild(QLineEdit, "name").setText("terrain")
    request = new_dialog.validate()
    # the built-in grid is identified at once, and the foothill sites are noted
    terrain = request.config.propagation.terrain
    assert terrain.source == "builtin" and len(terrain.sha256) == 64
    assert "Aquila di Giaveno" in new_dialog.message.text()
    assert "Coazze" in new_dialog.message.text() and new_dialog.ok_button.isEnabled()
    source.setCurrentText("none")
    assert new_dialog.validate().config.propagation.terrain.source == "none"
    assert "Aquila" not in new_dialog.message.text()
    # a training box the built-in grid does not cover is refused before anything runs
    source.setCurrentText("builtin")
    new_dialog.findChild(QDoubleSpinBox, "margin_deg").setValue(3.0)
    assert new_dialog.validate() is None and not new_dialog.ok_button.isEnabled()
    assert "not inside it" in new_dialog.message.text()
    assert source.property("invalid") is True
    k_factor.setValue(20.0)
    new_dialog.findChild(QDoubleSpinBox, "margin_deg").setValue(0.5)
    assert new_dialog.validate() is None
    assert new_dialog.message.text().startswith(BY_PATH["propagation.terrain.k_factor"].label)


def test_the_expand_dialog_shows_the_terrain_greyed(qtbot, open_window, workspace,
                                                   make_dataset, select):
    path = make_dataset(workspace, "flatland", 500, seed=3,
                        propagation={"terrain": {"source": "none", "k_factor": 1.2}})
    window = open_window(workspace)
    select(window, path)
    window.action_expand_dataset.trigger()
    dialog = window.findChild(QDialog, "expand_dataset_dialog")
    source = dialog.findChild(QComboBox, "propagation.terrain.source")
    k_factor = dialog.findChild(QDoubleSpinBox, "propagation.terrain.k_factor")
    assert source.currentText() == "none" and not source.isEnabled()
    assert k_factor.value() == pytest.approx(1.2) and not k_factor.isEnabled()
    dialog.reject()


IQ_KEYS = ("iq_sample_rate_hz", "iq_duration_s", "modulation", "iq_storage", "dataset_type")


def test_iq_fields_are_greyed_until_type_is_iq_raw(new_dialog):
    form = new_dialog.form
    for key in IQ_KEYS:
        assert new_dialog.findChild(QWidget, key) is not None, key
    assert new_dialog.findChild(QDoubleSpinBox, "iq_sample_rate_hz").suffix() == " Hz"
    assert new_dialog.findChild(QDoubleSpinBox, "iq_duration_s").suffix() == " s"
    storage = new_dialog.findChild(QComboBox, "iq_storage")
    assert [storage.itemText(i) for i in range(storage.count())] == ["complex64", "int16"]
    assert new_dialog.findChild(QLineEdit, "modulation").text().startswith("nfm_voice:0.6,")
    # The parameters whose help says they are the IQ datasets' are the ones greyed.
    assert set(IQ_ONLY_PATHS) == {p.path for p in FORM_PARAMS
                                  if p.help.startswith("IQ datasets:")}
    assert len(IQ_ONLY_PATHS) == 8
    assert form.dataset_type.currentText() == "feature_based"
    for path in IQ_ONLY_PATHS:
        widget = new_dialog.findChild(QWidget, path)
        assert not widget.isEnabled(), path
        assert "iq_raw" in widget.toolTip() and BY_PATH[path].allowed in widget.toolTip()
        label = form.group_boxes[BY_PATH[path].group].layout().labelForField(form.fields[path])
        assert not label.isEnabled(), path
    assert new_dialog.findChild(QWidget, "iq_duration_s").isEnabled()  # features read it

    form.dataset_type.setCurrentText("iq_raw")
    for path in IQ_ONLY_PATHS:
        widget = new_dialog.findChild(QWidget, path)
        assert widget.isEnabled(), path
        assert widget.toolTip() == BY_PATH[path].describe(), path
    form.dataset_type.setCurrentText("feature_based")
    assert not new_dialog.findChild(QWidget, "iq_storage").isEnabled()


def test_iq_parameters_are_checked_as_they_are_typed(new_dialog):
    form, message = new_dialog.form, new_dialog.message
    form.name.setText("iq")
    form.dataset_type.setCurrentText("iq_raw")
    assert new_dialog.ok_button.isEnabled(), message.text()
    rate = new_dialog.findChild(QDoubleSpinBox, "iq_sample_rate_hz")
    rate.setValue(20_000.0)  # under twice the 12.5 kHz bandwidth
    assert not new_dialog.ok_button.isEnabled()
    assert message.text().startswith("IQ sample rate: 20000 Hz")
    assert "at least twice Noise bandwidth (25000 Hz)" in message.text()
    assert rate.property("invalid") is True
    new_dialog.findChild(QDoubleSpinBox, "bandwidth_hz").setValue(10_000.0)
    assert new_dialog.ok_button.isEnabled() and rate.property("invalid") is False
    form.dataset_type.setCurrentText("feature_based")  # a feature dataset is not held to it
    new_dialog.findChild(QDoubleSpinBox, "bandwidth_hz").setValue(12_500.0)
    assert new_dialog.ok_button.isEnabled(), message.text()
    form.dataset_type.setCurrentText("iq_raw")
    assert not new_dialog.ok_button.isEnabled()
    rate.setValue(50_000.0)

    modulation = new_dialog.findChild(QLineEdit, "modulation")
    modulation.setText("nfm_voice:1,ssb:1")
    assert not new_dialog.ok_button.isEnabled()
    assert "Modulations: 'ssb' is not a known kind" in message.text() and "fsk4" in message.text()
    assert modulation.property("invalid") is True
    modulation.setText("cw:1")
    new_dialog.findChild(QDoubleSpinBox, "iq_duration_s").setValue(0.001)  # 50 values
    assert not new_dialog.ok_button.isEnabled() and "256 IQ samples" in message.text()
    new_dialog.findChild(QDoubleSpinBox, "iq_duration_s").setValue(0.2)

    # The size to be written: the records are most of it, int16 halves them.
    new_dialog.findChild(QSpinBox, "num_samples").setValue(1000)
    request = new_dialog.validate()
    assert request.config.dataset_type == "iq_raw"
    assert request.config.modulation == (("cw", 1.0),)
    per_sample = bytes_per_sample(request.config)
    assert per_sample > 7 * 10_000 * 8
    assert f"({size_text(1000, per_sample)})" in message.text()
    new_dialog.findChild(QComboBox, "iq_storage").setCurrentText("int16")
    smaller = bytes_per_sample(new_dialog.validate().config)
    assert per_sample - smaller == 7 * 10_000 * 4 - 7 * 4  # the scales: f4 per record
    assert format_size(smaller) in message.text()


def test_the_expand_dialog_shows_the_iq_parameters_inherited(qtbot, open_window, workspace,
                                                            make_dataset, select):
    path = make_dataset(workspace, "records", 4, seed=12, dataset_type="iq_raw",
                        iq_duration_s=0.05, iq_storage="int16", modulation="cw:1")
    window = open_window(workspace)
    select(window, path)
    assert window.model.index(window.model.row_of(path), 1).data() == "iq_raw"
    header = window.selected_entry().header
    window.action_expand_dataset.trigger()
    dialog = window.findChild(QDialog, "expand_dataset_dialog")
    assert dialog.findChild(QComboBox, "dataset_type").currentText() == "iq_raw"
    assert dialog.findChild(QDoubleSpinBox, "iq_sample_rate_hz").value() == 50_000.0
    assert dialog.findChild(QDoubleSpinBox, "iq_duration_s").value() == 0.05
    assert dialog.findChild(QComboBox, "iq_storage").currentText() == "int16"
    assert dialog.findChild(QLineEdit, "modulation").text() == "cw:1"
    for key in (*IQ_KEYS, *IQ_ONLY_PATHS):
        widget = dialog.findChild(QWidget, key)
        assert not widget.isEnabled() and "inherited" in widget.toolTip().lower(), key
    # What the file will grow by, per sample as the file's own fields take.
    assert bytes_per_sample(header.config) == header.bytes_per_sample
    dialog.findChild(QSpinBox, "num_samples").setValue(10)
    assert f"({size_text(10, header.bytes_per_sample)})" in dialog.message.text()
    dialog.reject()
