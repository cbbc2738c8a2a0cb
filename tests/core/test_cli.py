"""Command line: exit codes, messages without tracebacks, machine-readable output."""

import json
import math
import shutil
from pathlib import Path

import pytest

from heimdall_studio import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def run(cli_run):
    return cli_run


def test_create_info_list_verify(run, workspace):
    code, out, err = run("create", "vhf", "--samples", "300", "--seed", "5",
                         "--min-receivers", "4")
    assert code == 0, err
    assert "300 samples" in out
    assert "samples/s" in err and "ETA" in err and "100.0%" in err
    code, out, _ = run("info", "vhf", "--json")
    info = json.loads(out)
    assert code == 0 and info["num_samples"] == 300
    assert info["config"]["min_receivers"] == 4 and info["config"]["seed"] == 5
    assert info["history"][0]["kind"] == "create"
    code, out, _ = run("info", "vhf")
    assert code == 0 and "Milano - Baggio" in out and "min_receivers     4" in out
    code, out, _ = run("list", "--json")
    [entry] = json.loads(out)
    assert entry["status"] == "ok" and entry["num_samples"] == 300
    code, out, _ = run("verify", "vhf")
    assert code == 0 and "verify: passed" in out


def test_receivers_from_a_file(run, tmp_path):
    net = tmp_path / "net.csv"
    net.write_text("name,lat,lon,alt_m\nA,45.0,7.0,500\nB,45.4,7.6,300\nC,44.8,7.9,400\n"
                   "D,45.2,8.2,200\n")
    code, _, err = run("create", "custom", "--samples", "50", "--receivers", str(net),
                       "--tx-power-dbm", "50")
    assert code == 0, err
    code, out, _ = run("info", "custom", "--json")
    assert [r["name"] for r in json.loads(out)["config"]["receivers"]] == ["A", "B", "C", "D"]


@pytest.mark.parametrize("args, fragment", [
    (["create", "x", "--frequency-mhz", "nan"], "frequency_mhz = nan"),
    (["create", "x", "--frequency-mhz", "inf"], "frequency_mhz = inf"),
    (["create", "x", "--inside-ratio", "2"], "inside_ratio = 2.0"),
    (["create", "x", "--min-receivers", "9"], "min_receivers = 9"),
    (["create", "x", "--samples", "0"], "num_samples = 0"),
    (["create", "x", "--samples", "-5"], "num_samples = -5"),
    (["create", "../escape"], "name = '../escape'"),
    (["create", "a/b"], "name = 'a/b'"),
    (["create", "x", "--receivers", "/nonexistent.json"], "cannot be read"),
    (["expand", "ghost", "--samples", "5"], "no dataset"),
    (["info", "ghost"], "no dataset"),
])
def test_bad_input_exits_2_and_writes_nothing(run, workspace, args, fragment):
    code, _, err = run(*args)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert [p.name for p in workspace.iterdir()] == []


def test_argument_errors_exit_2(workspace, capsys):
    for args in (["create"], ["expand", "x"], ["create", "x", "--samples", "many"],
                 ["bogus"]):
        with pytest.raises(SystemExit) as info:
            cli.main([*args, "--workspace", str(workspace)])
        assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_create_refuses_an_existing_dataset(run, workspace):
    assert run("create", "once", "--samples", "10")[0] == 0
    before = (workspace / "once.h5").read_bytes()
    code, _, err = run("create", "once", "--samples", "10")
    assert code == 2 and "already exists" in err
    assert (workspace / "once.h5").read_bytes() == before


def test_unreadable_files_are_reported_and_listing_goes_on(run, workspace):
    (workspace / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert run("create", "good", "--samples", "10")[0] == 0
    code, out, _ = run("list", "--json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert code == 0
    assert entries["junk"]["status"] == "unreadable" and entries["junk"]["error"]
    assert entries["good"]["status"] == "ok"
    code, out, _ = run("verify", "junk")
    assert code == 1 and "unreadable" in out
    code, _, err = run("expand", "junk", "--samples", "5")
    assert code == 2 and "junk.h5" in err


def test_runs_are_logged_to_a_rotating_file(run, tmp_path_factory):
    assert run("create", "logged", "--samples", "20")[0] == 0
    log = tmp_path_factory.getbasetemp() / "logs" / "heimdall-studio.log"
    assert "create" in log.read_text() and "logged.h5: 20 of 20 samples" in log.read_text()


def test_a_closed_pipe_is_not_an_error_report(workspace):
    import subprocess
    import sys

    assert cli.main(["create", "piped", "--samples", "10", "--workspace", str(workspace)]) == 0
    # like `heimdall-studio info piped | head -1`: the reader goes away early
    shell = (f"{sys.executable} -m heimdall_studio info piped --json "
             f"--workspace {workspace} | head -c 1 >/dev/null")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                            text=True, timeout=60)
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr


def test_progress_is_not_repeated_when_not_a_terminal(run):
    code, _, err = run("create", "quiet", "--samples", "50")
    assert code == 0
    assert err.count("100.0%") == 1  # one line at the start, one at the end, no repeats


def test_sizes_are_shown_in_binary_units(run):
    """The command line writes sizes as the app does (KiB, MiB, ...), never MB."""
    from heimdall_studio.core.config.units import format_size

    assert run("create", "sized", "--samples", "40")[0] == 0
    code, out, _ = run("info", "sized", "--json")
    size = format_size(json.loads(out)["size_bytes"])
    assert size.endswith(("KiB", "MiB"))
    code, out, _ = run("info", "sized")
    assert code == 0 and f"size              {size}" in out
    code, out, _ = run("list")
    assert code == 0 and size in out and " MB" not in out


def test_create_chooses_the_terrain_and_info_shows_it(run, workspace, tmp_path):
    code, out, err = run("create", "plane", "--samples", "200", "--seed", "1",
                         "--terrain", "none", "--k-factor", "1.2")
    assert code == 0, err
    assert "warning" not in err  # the flat plane has no ground to disagree with
    info = json.loads(run("info", "plane", "--json")[1])
    assert info["config"]["propagation"]["terrain"]["source"] == "none"
    assert info["config"]["propagation"]["terrain"]["k_factor"] == 1.2
    code, out, err = run("create", "alps", "--samples", "200", "--seed", "1")
    assert code == 0, err
    # the default network's two foothill sites disagree with GLOBE: said after the run
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "Aquila di Giaveno" in warnings[0]
    code, out, _ = run("info", "alps")
    assert "terrain           builtin, k=1.33333" in out and "30 arc-second grid" in out
    assert "mast 10 m" in out
    for args, message in ((["--terrain", str(tmp_path / "nowhere")], "not a folder of tiles"),
                          (["--k-factor", "0.1"], "k_factor = 0.1"),
                          (["--margin-deg", "3"], "not inside it")):
        code, out, err = run("create", "bad", "--samples", "10", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (workspace / "bad.h5").exists()
    folder = tmp_path / "tiles"
    folder.mkdir()
    code, _, err = run("create", "tiled", "--samples", "10", "--terrain", str(folder))
    assert code == 2 and "holds no .hgt, .hgt.zip or GeoTIFF tile" in err


def test_create_takes_the_measurement_flags_and_info_shows_them(run, workspace, tmp_path):
    pattern = tmp_path / "beam.msi"
    pattern.write_text("NAME Beam\nGAIN 10 dBi\nHORIZONTAL 360\n"
                       + "".join(f"{a} {10 * (1 - math.cos(math.radians(a))):.3f}\n"
                                 for a in range(360))
                       + "VERTICAL 360\n" + "".join(f"{a} 0\n" for a in range(360)))
    net = tmp_path / "net.csv"
    net.write_text("name,lat,lon,alt_m,antenna,timing,calibration_db\n"
                   "A,45.0,7.0,500,yagi:120,gps,1.5\nB,45.4,7.6,300,pattern:beam.msi:45,,\n"
                   "C,44.8,7.9,400,dipole,ntp,\nD,45.2,8.2,200,,,\n")
    code, _, err = run("create", "tdoa", "--samples", "200", "--receivers", str(net),
                       "--tx-power-dbm", "30:45", "--max-gdop", "inf",
                       "--tx-antennas", "whip:3,yagi:1", "--tx-oscillator-ppm", "2.5")
    assert code == 0, err
    code, out, _ = run("info", "tdoa", "--json")
    config = json.loads(out)["config"]
    assert config["tx_power_dbm"] == [30.0, 45.0] and config["max_gdop"] is None
    assert config["measurement"]["tx_antennas"] == {"whip": 0.75, "yagi": 0.25}
    assert config["measurement"]["tx_oscillator_ppm"] == 2.5
    a, b, c, d = config["receivers"]
    assert a["antenna"] == {"type": "yagi", "azimuth_deg": 120.0} and a["timing"] == "gps"
    assert a["calibration_db"] == 1.5 and isinstance(b["calibration_db"], float)
    # the pattern file's tables are in the config: the dataset no longer needs the file
    assert b["antenna"]["type"] == "pattern" and len(b["antenna"]["horizontal"]) == 360
    assert b["antenna"]["gain_dbi"] == 10.0 and b["antenna"]["azimuth_deg"] == 45.0
    assert (c["timing"], d["timing"], d["antenna"]) == ("ntp", "none", {"type": "omni"})
    pattern.unlink()
    code, out, err = run("expand", "tdoa", "--samples", "100")
    assert code == 0, err
    code, out, _ = run("info", "tdoa")
    assert "yagi:120  timing gps  cal +1.5 dB" in out and "tx_antennas=whip:0.75,yagi:0.25" in out
    code, out, _ = run("verify", "tdoa")
    assert code == 0 and "verify: passed" in out


def test_timing_flag_times_every_receiver(run):
    code, _, err = run("create", "gps", "--samples", "100", "--timing", "gps")
    assert code == 0, err
    code, out, _ = run("info", "gps", "--json")
    assert {r["timing"] for r in json.loads(out)["config"]["receivers"]} == {"gps"}


@pytest.mark.parametrize("args, fragment", [
    (["--tx-power-dbm", "45:30"], "tx_power_dbm = '45:30' has its low end above its high end"),
    (["--tx-power-dbm", "loud"], "tx_power_dbm = 'loud' is not valid"),
    (["--tx-oscillator-ppm", "500"], "measurement.tx_oscillator_ppm = 500.0 is not valid"),
    (["--tx-antennas", "dish:1"], "measurement.tx_antennas = 'dish' is not a known kind"),
    (["--max-gdop", "0.5"], "max_gdop = 0.5 is not valid: allowed greater than 1, or inf"),
])
def test_bad_measurement_flags_exit_2_naming_the_field(run, workspace, args, fragment):
    code, _, err = run("create", "bad", "--samples", "10", *args)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert not (workspace / "bad.h5").exists()


def test_a_malformed_pattern_file_is_refused_with_its_line(run, workspace, tmp_path):
    (tmp_path / "bad.msi").write_text("NAME x\nGAIN 3\nHORIZONTAL 360\n0 0\n1 abc\n")
    net = tmp_path / "net.json"
    net.write_text(json.dumps({"receivers": [
        {"name": "A", "lat": 45.0, "lon": 7.0, "alt_m": 5, "antenna": "pattern:bad.msi"},
        {"name": "B", "lat": 45.4, "lon": 7.6, "alt_m": 5},
        {"name": "C", "lat": 44.8, "lon": 7.9, "alt_m": 5}]}))
    code, _, err = run("create", "bad", "--samples", "10", "--receivers", str(net))
    assert code == 2 and "receivers['A'].antenna" in err and "bad.msi" in err
    assert "Traceback" not in err and not (workspace / "bad.h5").exists()


def test_info_shows_what_the_datasets_generator_version_reads(run, workspace):
    # a version 3 file has a measurement group's defaults in its parsed config, unused
    old = workspace / "old.h5"
    shutil.copyfile(FIXTURES / "generator_v3.h5", old)
    code, out, _ = run("info", str(old))  # a path: it has a slash
    assert code == 0 and "generator 3" in out
    assert "measurement" not in out and "timing" not in out and "iq_duration_s" not in out
    assert "max_freq_offset_hz=50.0" in out
    code, _, err = run("create", "new", "--samples", "50", "--max-gdop", "inf",
                       "--tx-power-dbm", "30:45")
    assert code == 0, err
    code, out, _ = run("info", "new")
    assert "measurement       tx_antennas=whip:0.5" in out and "timing none  cal " in out
    assert "max_gdop          inf (no limit)" in out and "tx_power_dbm      30 to 45 dBm" in out
    assert "max_freq_offset_hz" not in out
