"""Reference diffraction losses from pycraf (ITU-R P.452-16, delta-Bullington) for a set
of terrain profiles, written to tests/fixtures/diffraction_reference.json.

pycraf is an independent implementation of P.452 and a reference only, never a dependency
of the app. In a virtual environment of its own, with this project importable:

    python3 -m venv /tmp/pcv && /tmp/pcv/bin/pip install pycraf numba "numpy<2.6" h5py platformdirs
    PYTHONPATH=app /tmp/pcv/bin/python scripts/diffraction_reference.py

It prints ours beside pycraf's; tests/core/test_diffraction.py holds ours to the file.
Profiles: flat land at several distances and antenna heights, a ridge, a wedge and a
Gaussian hill, and real profiles of the default network over the built-in GLOBE grid.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "diffraction_reference.json"
K_FACTOR = 4 / 3
DELTA_N = 157.0 * (1 - 1 / K_FACTOR)  # P.452's k50 = 157 / (157 - delta_N)


def synthetic_profiles() -> list[dict]:
    cases = []
    for d in (5.0, 12.0, 30.0, 60.0, 120.0):
        for h_t, h_r in ((10.0, 10.0), (2.0, 30.0)):
            dist = np.linspace(0, d, 201)
            cases.append(("flat land", dist, np.zeros_like(dist), h_t, h_r))
    dist = np.linspace(0, 20, 201)
    for ridge in (60.0, 250.0):
        heights = np.where(np.abs(dist - 10) < 0.05, ridge, 0.0)
        cases.append((f"ridge {ridge:.0f} m mid-path", dist, heights, 10.0, 10.0))
    dist = np.linspace(0, 40, 401)
    cases.append(("wedge", dist, np.interp(dist, [0, 28, 40], [50, 420, 120]), 5.0, 10.0))
    cases.append(("Gaussian hill", dist, 400 * np.exp(-((dist - 15) / 4) ** 2), 2.0, 10.0))
    return [_case(n, dd, hh, a, b) for n, dd, hh, a, b in cases]


def _case(name: str, dist: np.ndarray, heights: np.ndarray, h_tx: float, h_rx: float) -> dict:
    """A profile as stored: rounded first (0.1 m of height, 1 m of distance), so that both
    implementations see exactly the numbers in the file."""
    return {"name": name, "dist_km": np.round(dist, 3).tolist(),
            "height_m": np.round(heights, 1).tolist(), "h_tx_agl_m": h_tx, "h_rx_agl_m": h_rx}


def network_profiles() -> list[dict]:
    from heimdall_studio.core.config.receivers import default_receivers
    from heimdall_studio.core.terrain.grid import builtin_grid
    from heimdall_studio.core.terrain.profile import terrain_profile

    grid = builtin_grid()
    rx = {r.name: r for r in default_receivers()}
    places = {"Alessandria": (44.91, 8.61), "Cuneo": (44.39, 7.55), "Pavia": (45.19, 9.16),
              "Savona": (44.31, 8.48), "Susa": (45.14, 7.05)}
    pairs = [("Genova", "Alessandria"), ("Genova", "Pavia"), ("Passo del Giovi", "Pavia"),
             ("Torino", "Cuneo"), ("Coazze", "Susa"), ("Montanaro", "Alessandria"),
             ("Milano - Baggio", "Savona"), ("Aquila di Giaveno", "Cuneo")]
    out = []
    for receiver, place in pairs:
        lat, lon = places[place]
        r = rx[receiver]
        dist, ground = terrain_profile(grid, lat, lon, r.lat, r.lon)
        out.append(_case(f"{place} to {receiver}", dist, ground, 2.0, 10.0))
    return out


def pycraf_loss(case: dict, f_ghz: float) -> float:
    import astropy.units as u
    from pycraf import pathprof

    prop = pathprof.PathProp(
        f_ghz * u.GHz, 293 * u.K, 1013 * u.hPa, 7 * u.deg, 45 * u.deg, 7.5 * u.deg,
        45 * u.deg, case["h_tx_agl_m"] * u.m, case["h_rx_agl_m"] * u.m, 100 * u.m,
        50 * u.percent, version=16, delta_N=DELTA_N * u.dimensionless_unscaled / u.km,
        N0=325 * u.dimensionless_unscaled, hprof_dists=np.array(case["dist_km"]) * u.km,
        hprof_heights=np.array(case["height_m"]) * u.m, hprof_bearing=90 * u.deg,
        hprof_backbearing=270 * u.deg)
    return float(pathprof.loss_diffraction(prop)[0].value)  # L_d_50, dB


def main() -> None:
    warnings.simplefilter("ignore")
    from heimdall_studio.core.sampling.diffraction import delta_bullington_loss_db

    cases = synthetic_profiles() + network_profiles()
    rows = []
    print(f"{'profile':40} {'MHz':>5} {'pycraf':>8} {'ours':>8}")
    for case in cases:
        for f_ghz in (0.145, 0.433, 1.296):
            reference = pycraf_loss(case, f_ghz)
            ours = delta_bullington_loss_db(
                np.array(case["dist_km"]), np.array(case["height_m"]), case["h_tx_agl_m"],
                case["h_rx_agl_m"], f_ghz, K_FACTOR, 0.0, False)
            rows.append({**case, "f_ghz": f_ghz, "pycraf_loss_db": reference})
            print(f"{case['name']:40} {f_ghz * 1000:5.0f} {reference:8.3f} {ours:8.3f}")
    OUT.write_text(json.dumps({"k_factor": K_FACTOR, "polarization": "horizontal",
                               "source": "pycraf 2.1.0, pathprof.loss_diffraction, P.452-16",
                               "cases": rows}, separators=(",", ":")))
    print(f"wrote {OUT} ({len(rows)} cases)")


if __name__ == "__main__":
    main()
