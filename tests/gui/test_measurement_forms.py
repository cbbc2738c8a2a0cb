"""The parameters of generator version 4 in the app: a transmit power range, an unlimited
GDOP, the measurement group, and the receivers' antennas, timing and own errors, from the
New dialog to the stored config, the Expand dialog and the details pane."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QStyleOptionViewItem,
    QWidget,
)

from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.config.params import MEASUREMENT_PARAMS, RECEIVER_PARAMS
from heimdall_studio.core.config.receivers import RECEIVER_KEYS, Receiver
from heimdall_studio.core.dataset.reader import read_header
from heimdall_studio.gui.config_form import ConfigForm
from heimdall_studio.gui.details import config_rows
from heimdall_studio.gui.dialogs import NewDatasetDialog
from heimdall_studio.gui.receivers import DRAWN_TEXT, ChoiceDelegate

COLUMN = {key: i for i, key in enumerate(RECEIVER_KEYS)}


def cell(table, row: int, key: str) -> str:
    return table.item(row, COLUMN[key]).text()


def msi_text() -> str:
    """A small MSI Planet pattern: a cardioid in azimuth, flat in elevation."""
    lines = ["NAME Test Cardioid", "GAIN 11.5 dBi", "HORIZONTAL 360"]
    lines += [f"{a} {10 * (1 - math.cos(math.radians(a))):.4f}" for a in range(360)]
    lines.append("VERTICAL 360")
    lines += [f"{a} 0" for a in range(360)]
    return "\n".join(lines) + "\n"


def same_new_parameters(a: DatasetConfig, b: DatasetConfig) -> bool:
    return all(getattr(a, key) == getattr(b, key) for key in (
        "seed", "tx_power_dbm", "max_gdop", "iq_duration_s", "measurement", "receivers"))


@pytest.fixture
def new_dialog(qtbot, workspace):
    dialog = NewDatasetDialog(workspace)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.findChild(QLineEdit, "name").setText("v4")
    return dialog


def test_a_dataset_made_in_the_dialog_stores_the_new_parameters_and_shows_them(
        qtbot, open_window, workspace):
    window = open_window(workspace)
    window.action_new_dataset.trigger()
    dialog = window.findChild(QDialog, "new_dataset_dialog")
    dialog.findChild(QLineEdit, "name").setText("measured")
    dialog.findChild(QLineEdit, "seed").setText("4242")
    dialog.findChild(QLineEdit, "tx_power_dbm").setText("30:45")
    dialog.findChild(QCheckBox, "max_gdop.unlimited").setChecked(True)
    assert not dialog.findChild(QDoubleSpinBox, "max_gdop").isEnabled()
    dialog.findChild(QDoubleSpinBox, "iq_duration_s").setValue(0.1)
    dialog.form.advanced_toggle.click()
    dialog.findChild(QLineEdit, "measurement.tx_antennas").setText("whip:1,yagi:1")
    dialog.findChild(QDoubleSpinBox, "measurement.tx_duty_cycle").setValue(0.5)
    model = dialog.form.receiver_model
    model.setData(model.index(0, COLUMN["antenna"]), "yagi:120")
    model.setData(model.index(1, COLUMN["timing"]), "gps")
    model.setData(model.index(2, COLUMN["calibration_db"]), "1.5")
    model.setData(model.index(2, COLUMN["oscillator_ppm"]), "-0.25")
    dialog.findChild(QSpinBox, "num_samples").setValue(2000)
    assert dialog.ok_button.isEnabled(), dialog.message.text()

    with qtbot.waitSignal(window.jobs.job_ended, timeout=60_000) as ended:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert ended.args[0].state == "finished", ended.args[0].summary()

    path = workspace / "measured.h5"
    config = read_header(path).config
    assert config.tx_power_dbm == (30.0, 45.0)
    assert math.isinf(config.max_gdop)
    assert config.iq_duration_s == 0.1
    assert config.measurement.tx_antennas == (("whip", 0.5), ("yagi", 0.5))
    assert config.measurement.tx_duty_cycle == 0.5
    rx = config.receivers
    assert rx[0].antenna.type == "yagi" and rx[0].antenna.azimuth_deg == 120.0
    assert rx[1].timing == "gps" and rx[0].timing == "none"
    assert rx[2].calibration_db == 1.5 and rx[2].oscillator_ppm == -0.25
    assert all(r.drawn for r in rx)  # the blank ones were drawn at creation

    # The details pane: the new config rows and receiver columns, as text.
    qtbot.waitUntil(lambda: window.selected_entry() is not None
                    and window.selected_entry().path == path, timeout=10_000)
    details = window.details
    shown = {details.config_table.item(r, 0).text(): details.config_table.item(r, 1).text()
             for r in range(details.config_table.rowCount())}
    assert shown["tx_power_dbm"] == "30 to 45" and shown["max_gdop"] == "no limit"
    assert shown["iq_duration_s"] == "0.1"
    assert shown["measurement.tx_antennas"] == "whip:0.5,yagi:0.5"
    assert shown["measurement.tx_duty_cycle"] == "0.5"
    assert shown["generator_version"] == str(read_header(path).generator_version)
    table = details.receiver_table
    assert cell(table, 0, "antenna") == "yagi:120" and cell(table, 1, "antenna") == "omni"
    assert cell(table, 1, "timing") == "gps"
    assert cell(table, 2, "calibration_db") == "1.5"
    assert cell(table, 2, "oscillator_ppm") == "-0.25"
    assert cell(table, 0, "calibration_db") == f"{rx[0].calibration_db:g}"
    assert cell(table, 0, "noise_floor_sigma_db") == "2"
    assert not any(table.isColumnHidden(c) for c in range(table.columnCount()))
    row = window.model.row_of(path)
    assert window.model.index(row, 4).data() == "30 to 45"  # the browser's power column
    assert window.model.index(row, 6).data() == "no limit"

    # The Expand dialog shows them all, greyed, with the stored values.
    window.action_expand_dataset.trigger()
    expand = window.findChild(QDialog, "expand_dataset_dialog")
    power = expand.findChild(QLineEdit, "tx_power_dbm")
    assert power.text() == "30:45" and not power.isEnabled()
    unlimited = expand.findChild(QCheckBox, "max_gdop.unlimited")
    assert unlimited.isChecked() and not unlimited.isEnabled()
    assert not expand.findChild(QDoubleSpinBox, "max_gdop").isEnabled()
    assert expand.findChild(QDoubleSpinBox, "iq_duration_s").value() == 0.1
    antennas = expand.findChild(QLineEdit, "measurement.tx_antennas")
    assert antennas.text() == "whip:0.5,yagi:0.5" and not antennas.isEnabled()
    duty = expand.findChild(QDoubleSpinBox, "measurement.tx_duty_cycle")
    assert duty.value() == 0.5 and not duty.isEnabled()
    for param in MEASUREMENT_PARAMS:
        assert not expand.findChild(QWidget, param.path).isEnabled(), param.path
    shown_model = expand.form.receiver_model
    assert shown_model.index(0, COLUMN["antenna"]).data() == "yagi:120"
    assert shown_model.index(1, COLUMN["timing"]).data() == "gps"
    assert shown_model.index(2, COLUMN["calibration_db"]).data() == "1.5"
    assert shown_model.index(0, COLUMN["oscillator_ppm"]).data() != DRAWN_TEXT
    assert not shown_model.flags(shown_model.index(0, 0)) & Qt.ItemFlag.ItemIsEditable
    # What the greyed form holds is the stored config again (but for the terrain grid's
    # identity, which the form does not hold).
    assert same_new_parameters(DatasetConfig.from_dict(expand.form.config_values()), config)
    expand.reject()


def test_a_bad_range_names_tx_power_dbm(new_dialog):
    power = new_dialog.findChild(QLineEdit, "tx_power_dbm")
    assert new_dialog.ok_button.isEnabled(), new_dialog.message.text()
    power.setText("45:30")
    assert not new_dialog.ok_button.isEnabled()
    message = new_dialog.message.text()
    assert message.startswith("Transmit power: '45:30'") and "low end above its high end" in message
    assert power.property("invalid") is True
    power.setText("loud")
    assert new_dialog.message.text().startswith("Transmit power: 'loud' is not valid")
    power.setText("30:80")
    assert new_dialog.message.text().startswith("Transmit power: 80 dBm is not valid")
    assert "allowed -30 to 70 dBm" in new_dialog.message.text()
    power.setText(" 40 ")
    assert new_dialog.ok_button.isEnabled() and power.property("invalid") is False
    assert new_dialog.validate().config.tx_power_dbm == 40.0
    power.setText("35:35")  # equal ends: one power
    assert new_dialog.validate().config.tx_power_dbm == 35.0


def test_a_bad_mix_names_the_antenna_and_marks_the_field(new_dialog):
    mix = new_dialog.findChild(QLineEdit, "measurement.tx_antennas")
    mix.setText("whip:1,dish:2")
    assert not new_dialog.ok_button.isEnabled()
    # the kind that is wrong, not its weight
    assert new_dialog.message.text().startswith("TX antennas: 'dish' is not a known kind")
    assert mix.property("invalid") is True  # marked though the error names a part of it
    mix.setText("whip:0,yagi:0")
    # the mix as it was typed, not a Python dict
    assert new_dialog.message.text().startswith(
        "TX antennas: 'whip:0,yagi:0' has no weight above zero")
    mix.setText("rubber_duck:3,whip:1")
    assert new_dialog.validate().config.measurement.tx_antennas == (
        ("whip", 0.25), ("rubber_duck", 0.75))


def test_no_limit_gives_infinity_and_gives_the_spin_box_back(new_dialog):
    form = new_dialog.form
    spin = new_dialog.findChild(QDoubleSpinBox, "max_gdop")
    box = new_dialog.findChild(QCheckBox, "max_gdop.unlimited")
    spin.setValue(6.0)
    box.setChecked(True)
    assert not spin.isEnabled() and form.config_values()["max_gdop"] == math.inf
    assert math.isinf(new_dialog.validate().config.max_gdop)
    box.setChecked(False)
    assert spin.isEnabled() and form.config_values()["max_gdop"] == 6.0
    form.set_values(DatasetConfig(name="x", seed=1, max_gdop=math.inf))
    assert box.isChecked() and not spin.isEnabled()
    form.set_values(DatasetConfig(name="x", seed=1, max_gdop=4.0))
    assert not box.isChecked() and spin.isEnabled() and spin.value() == 4.0


def test_every_new_parameter_is_shown_and_set_back(qtbot):
    """set_values shows a config, and config_values gives it back, for every kind."""
    form = ConfigForm()
    qtbot.addWidget(form)
    receivers = [{**r.to_dict(), "antenna": antenna, "timing": timing,
                  "calibration_db": cal, "noise_floor_sigma_db": 3.0}
                 for r, antenna, timing, cal in zip(
                     DatasetConfig(name="x", seed=1).receivers,
                     ("yagi:45:11", "dipole", "omni", "yagi:300", "omni", "omni", "omni"),
                     ("gps", "ntp", "none", "gps", "none", "none", "none"),
                     (1.0, -2.5, None, 0.0, None, None, None), strict=True)]
    config = DatasetConfig.from_dict({
        "name": "all", "seed": 9, "tx_power_dbm": [20, 33.5], "max_gdop": None,
        "iq_duration_s": 0.5, "receivers": receivers,
        "measurement": {"tx_antennas": "yagi:2,whip:2", "gps_clock_ns": 50.0,
                        "nlos_delay_us": 0.25}})
    form.set_values(config)
    assert form.widgets["tx_power_dbm"].text() == "20:33.5"
    assert form.widgets["measurement.tx_antennas"].text() == "whip:0.5,yagi:0.5"
    assert form.widgets["measurement.gps_clock_ns"].value() == 50.0
    assert same_new_parameters(DatasetConfig.from_dict(form.config_values()), config)
    model = form.receiver_model
    assert model.index(0, COLUMN["antenna"]).data() == "yagi:45:11"
    assert model.index(2, COLUMN["calibration_db"]).data() == DRAWN_TEXT
    assert model.index(2, COLUMN["calibration_db"]).data(Qt.ItemDataRole.EditRole) == ""
    assert "drawn at creation" in model.index(2, COLUMN["calibration_db"]).data(
        Qt.ItemDataRole.ToolTipRole)
    assert "calibration_db" not in model.receiver_dicts()[2]  # blank: drawn


def test_receiver_cells_of_the_new_columns(qtbot, new_dialog):
    form = new_dialog.form
    model = form.receiver_model
    titles = [model.headerData(i, Qt.Orientation.Horizontal) for i in range(len(COLUMN))]
    assert titles[COLUMN["antenna"]] == "Antenna" and titles[COLUMN["timing"]] == "Timing"
    assert titles[COLUMN["calibration_db"]] == "Calibration\n(dB)"
    assert titles[COLUMN["oscillator_ppm"]] == "Oscillator\n(ppm)"
    assert titles[COLUMN["noise_floor_sigma_db"]] == "Noise spread\n(dB)"
    assert model.columnCount() == len(RECEIVER_PARAMS)

    row = form.receiver_model.add_receiver()
    assert model.index(row, COLUMN["antenna"]).data() == "omni"
    assert model.index(row, COLUMN["timing"]).data() == "none"
    assert model.index(row, COLUMN["calibration_db"]).data() == DRAWN_TEXT
    assert model.index(row, COLUMN["oscillator_ppm"]).data() == DRAWN_TEXT
    added = model.receiver_dicts()[row]
    assert "calibration_db" not in added and "oscillator_ppm" not in added
    model.remove_receivers([row])

    # The timing is picked from its choices.
    column = COLUMN["timing"]
    delegate = form.receivers.itemDelegateForColumn(column)
    assert isinstance(delegate, ChoiceDelegate)
    index = model.index(3, column)
    editor = delegate.createEditor(form.receivers.viewport(), QStyleOptionViewItem(), index)
    assert isinstance(editor, QComboBox)
    assert [editor.itemText(i) for i in range(editor.count())] == ["gps", "ntp", "none"]
    delegate.setEditorData(editor, index)
    assert editor.currentText() == "none"
    editor.setCurrentText("ntp")
    delegate.setModelData(editor, model, index)
    editor.deleteLater()
    assert new_dialog.validate().config.receivers[3].timing == "ntp"

    # A bad antenna is named with its receiver; a cleared calibration is drawn again.
    model.setData(model.index(0, COLUMN["antenna"]), "yagi:north")
    message = new_dialog.message.text()
    assert not new_dialog.ok_button.isEnabled()
    assert message.startswith("Receiver 'Aquila di Giaveno', Antenna: 'yagi:north'")
    assert "not a number" in message and "yagi:AZIMUTH" in message
    model.setData(model.index(0, COLUMN["antenna"]), "dipole")
    model.setData(model.index(0, COLUMN["calibration_db"]), "40")
    assert new_dialog.message.text().startswith(
        "Receiver 'Aquila di Giaveno', Calibration: 40 dB is not valid")
    model.setData(model.index(0, COLUMN["calibration_db"]), " ")
    assert model.index(0, COLUMN["calibration_db"]).data() == DRAWN_TEXT
    request = new_dialog.validate()
    assert request is not None, new_dialog.message.text()
    assert request.config.receivers[0].antenna.type == "dipole"
    assert request.config.receivers[0].calibration_db is None  # drawn when created


def test_a_pattern_antenna_loaded_from_a_file_is_kept(tmp_path, new_dialog):
    """A pattern's text names the pattern, not its file: the loaded antenna is kept, also
    through an edit that leaves its text as it was."""
    (tmp_path / "cardioid.msi").write_text(msi_text())
    network = tmp_path / "net.json"
    network.write_text(json.dumps([
        {"name": n, "lat": 45 + i / 10, "lon": 7 + (i % 2) / 5, "alt_m": 100,
         "antenna": "pattern:cardioid.msi:90" if i == 0 else "omni"}
        for i, n in enumerate("ABCD")]))
    form = new_dialog.form
    assert form.load_receiver_file(network) is None
    model = form.receiver_model
    index = model.index(0, COLUMN["antenna"])
    assert index.data() == "pattern:Test Cardioid:90"
    model.setData(index, index.data(Qt.ItemDataRole.EditRole))  # opened and closed
    request = new_dialog.validate()
    assert request is not None, new_dialog.message.text()
    antenna = request.config.receivers[0].antenna
    assert antenna.type == "pattern" and antenna.azimuth_deg == 90.0
    assert antenna.gain_dbi == 11.5 and len(antenna.horizontal) == 360
    # Receivers as a stored config has them round-trip through the table.
    receivers = tuple(Receiver.from_dict(d) for d in model.receiver_dicts())
    form.receiver_model.set_receivers(receivers)
    assert tuple(Receiver.from_dict(d) for d in model.receiver_dicts()) == receivers


def test_parameters_a_generator_version_does_not_read_are_not_shown(
        qtbot, workspace, make_dataset):
    """A dataset of generator version 3 shows no measurement parameters, in the Expand
    form and in the details pane."""
    path = make_dataset(workspace, "older", 300, seed=8)
    header = dataclasses.replace(read_header(path), generator_version=3)
    form = ConfigForm()
    qtbot.addWidget(form)
    form.show()
    form.advanced_toggle.click()
    form.lock_to_dataset(header)
    assert not form.group_boxes["measurement"].isVisible()
    assert not form.fields["iq_duration_s"].isVisible()
    assert form.fields["frequency_mhz"].isVisible()
    for column, param in enumerate(RECEIVER_PARAMS):
        assert form.receivers.isColumnHidden(column) == (param.since > 3), param.key
    rows = {key for key, _, _ in config_rows(header)}
    assert "frequency_mhz" in rows and "iq_duration_s" not in rows
    assert not any(key.startswith("measurement.") for key in rows)
    current = {key for key, _, _ in config_rows(read_header(path))}
    assert {"iq_duration_s", "measurement.tx_antennas"} <= current


def test_a_value_with_more_digits_than_shown_reaches_the_config_exactly(qtbot):
    # k = 4/3 shows as 1.333; unless the user changes it, the form gives 4/3 itself
    form = ConfigForm()
    qtbot.addWidget(form)
    assert form.config_values()["propagation"]["terrain"]["k_factor"] == 4.0 / 3.0
    form.widgets["propagation.terrain.k_factor"].setValue(1.5)
    assert form.config_values()["propagation"]["terrain"]["k_factor"] == 1.5
