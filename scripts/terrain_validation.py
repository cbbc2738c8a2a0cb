"""The terrain model's link loss against ITU-R P.452-16 as pycraf implements it, over real
profiles of the default network on the built-in GLOBE grid: the table of
docs/propagation.md (Validation).

pycraf is an independent implementation and a reference only, never a dependency of the
app. In a virtual environment of its own, with this project importable:

    python3 -m venv /tmp/pcv && /tmp/pcv/bin/pip install pycraf numba "numpy<2.6" h5py platformdirs
    PYTHONPATH=app /tmp/pcv/bin/python scripts/terrain_validation.py

For each link (a receiver of the default network with a 10 m mast, a transmitter 2 m above
the ground of a place nearby) it prints our loss (`diffraction.terrain_loss_db`, as the
generator evaluates it), P.452's basic transmission loss not exceeded for 50 % of time
(L_b: free space, diffraction, troposcatter and ducting combined) and its free-space plus
delta-Bullington diffraction loss (L_bfsg + L_d50), with the differences, and writes
the profiles with P.452's losses to tests/fixtures/terrain_reference.json, which
tests/core/test_terrain_model.py holds the model to.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "terrain_reference.json"
K_FACTOR = 4 / 3
DELTA_N = 157.0 * (1 - 1 / K_FACTOR)  # P.452's k50 = 157 / (157 - delta_N)
PLACES = {"Alessandria": (44.91, 8.61), "Asti": (44.90, 8.21), "Biella": (45.56, 8.05),
          "Cuneo": (44.39, 7.55), "Novara": (45.45, 8.62), "Pavia": (45.19, 9.16),
          "Savona": (44.31, 8.48), "Susa": (45.14, 7.05), "Chivasso": (45.19, 7.89),
          "Ovada": (44.64, 8.65), "Pinerolo": (44.88, 7.35), "Vercelli": (45.32, 8.42)}
LINKS = [("Genova", "Alessandria"), ("Genova", "Pavia"), ("Genova", "Ovada"),
         ("Genova", "Savona"), ("Passo del Giovi", "Pavia"), ("Passo del Giovi", "Asti"),
         ("Torino", "Cuneo"), ("Torino", "Chivasso"), ("Torino", "Asti"),
         ("Coazze", "Susa"), ("Coazze", "Pinerolo"), ("Aquila di Giaveno", "Cuneo"),
         ("Aquila di Giaveno", "Vercelli"), ("Montanaro", "Alessandria"),
         ("Montanaro", "Biella"), ("Milano - Baggio", "Savona"),
         ("Milano - Baggio", "Novara"), ("Milano - Baggio", "Vercelli")]
FREQUENCIES_MHZ = (145.0, 433.0)
H_RX_M, H_TX_M = 10.0, 2.0


def pycraf_losses(dist: np.ndarray, heights: np.ndarray, f_mhz: float) -> tuple[float, float]:
    """(L_b, L_bfsg + L_d50) of P.452-16 for the profile, in dB."""
    import astropy.units as u
    from pycraf import pathprof

    prop = pathprof.PathProp(
        f_mhz * u.MHz, 293 * u.K, 1013 * u.hPa, 7 * u.deg, 45 * u.deg, 7.5 * u.deg,
        45 * u.deg, H_RX_M * u.m, H_TX_M * u.m, 100 * u.m, 50 * u.percent, version=16,
        delta_N=DELTA_N * u.dimensionless_unscaled / u.km,
        N0=325 * u.dimensionless_unscaled, hprof_dists=dist * u.km,
        hprof_heights=heights * u.m, hprof_bearing=90 * u.deg,
        hprof_backbearing=270 * u.deg, polarization=1)
    l_bfsg, _, _, _, l_b, _, _ = pathprof.loss_complete(prop)
    l_d = pathprof.loss_diffraction(prop)[0]
    return float(l_b.value), float(l_bfsg.value + l_d.value)


def main() -> None:
    warnings.simplefilter("ignore")
    from heimdall_studio.core.config.receivers import default_receivers
    from heimdall_studio.core.sampling.diffraction import LINE_OF_SIGHT_NU, terrain_loss_db
    from heimdall_studio.core.terrain.grid import builtin_grid
    from heimdall_studio.core.terrain.profile import terrain_profile

    grid = builtin_grid()
    rx = {r.name: r for r in default_receivers()}
    print("| link | km | MHz | ours | P.452 L_b | ours - L_b | P.452 L_bfsg + L_d | "
          "ours - that | line of sight |")
    print("|---|---|---|---|---|---|---|---|---|")
    against_b, against_d = [], []
    cases = []
    for receiver, place in LINKS:
        r = rx[receiver]
        lat, lon = PLACES[place]
        dist, ground = terrain_profile(grid, r.lat, r.lon, lat, lon)
        dist, ground = np.round(dist, 4), np.round(ground, 1)  # as stored
        sea = float((ground <= 0).mean())
        for f_mhz in FREQUENCIES_MHZ:
            ours, nu = terrain_loss_db(dist, ground, H_RX_M, H_TX_M, f_mhz, K_FACTOR, sea,
                                       True)
            l_b, l_d = pycraf_losses(dist, ground, f_mhz)
            cases.append({"name": f"{receiver} - {place}", "f_mhz": f_mhz,
                          "dist_km": dist.tolist(), "height_m": ground.tolist(),
                          "h_rx_agl_m": H_RX_M, "h_tx_agl_m": H_TX_M, "sea_fraction": sea,
                          "p452_l_b_db": l_b, "p452_l_bfsg_plus_l_d_db": l_d})
            against_b.append(ours - l_b)
            against_d.append(ours - l_d)
            print(f"| {receiver} - {place} | {dist[-1]:.0f} | {f_mhz:.0f} | {ours:.1f} | "
                  f"{l_b:.1f} | {ours - l_b:+.1f} | {l_d:.1f} | {ours - l_d:+.1f} | "
                  f"{'yes' if nu <= LINE_OF_SIGHT_NU else 'no'} |")
    OUT.write_text(json.dumps({
        "k_factor": K_FACTOR, "polarization": "vertical", "time_percent": 50,
        "source": "pycraf 2.1.0, pathprof.loss_complete and loss_diffraction, P.452-16",
        "cases": cases}, separators=(",", ":")))
    for label, values in (("L_b", against_b), ("L_bfsg + L_d50", against_d)):
        v = np.array(values)
        print(f"\nours - P.452 {label}: median {np.median(v):+.1f} dB, mean {v.mean():+.1f} dB,"
              f" mean absolute {np.abs(v).mean():.1f} dB, range {v.min():+.1f} to "
              f"{v.max():+.1f} dB over {len(v)} links")


if __name__ == "__main__":
    main()
