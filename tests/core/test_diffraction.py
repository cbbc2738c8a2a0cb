"""Diffraction (ITU-R P.526, P.452-16): knife edge and Bullington against closed forms,
delta-Bullington against pycraf's independent implementation."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from heimdall_studio.core.sampling.diffraction import (
    bullington_loss_db,
    delta_bullington_loss_db,
    knife_edge_loss_db,
    smooth_earth_heights,
    spherical_earth_loss_db,
)

FLAT_EARTH = 1e9  # a k-factor this large leaves no bulge


def correction(loss, d_km):
    return loss + (1 - math.exp(-loss / 6)) * (10 + 0.02 * d_km)


def test_the_knife_edge_loss_has_its_textbook_values():
    assert knife_edge_loss_db(0.0) == pytest.approx(6.03, abs=0.005)  # grazing: 6 dB
    assert knife_edge_loss_db(-0.78) == 0.0
    assert knife_edge_loss_db(-0.7799) == pytest.approx(0.0, abs=0.01)  # continuous there
    assert knife_edge_loss_db(-5.0) == 0.0
    # deep shadow: J(v) tends to 12.95 + 20 log10(v), 6 dB more per doubling of v
    assert knife_edge_loss_db(20.0) == pytest.approx(12.95 + 20 * math.log10(20), abs=0.1)
    v = np.linspace(-0.77, 10, 200)
    assert np.all(np.diff([knife_edge_loss_db(x) for x in v]) > 0)


@pytest.mark.parametrize("height, f_mhz", [(30.0, 145.0), (5.0, 433.0), (120.0, 1296.0)])
def test_a_single_ridge_mid_path_costs_its_knife_edge_loss(height, f_mhz):
    d1 = d2 = 10.0  # km
    wavelength = 299.792458 / f_mhz
    dist = np.array([0.0, d1, d1 + d2])
    ground = np.array([0.0, height, 0.0])
    # antennas at 0 m: the ridge stands `height` above the line between them
    v = height * math.sqrt(2 / wavelength * (1 / (d1 * 1e3) + 1 / (d2 * 1e3)))
    loss = bullington_loss_db(dist, ground, 0.0, 0.0, wavelength, FLAT_EARTH)
    assert loss == pytest.approx(correction(knife_edge_loss_db(v), d1 + d2), rel=1e-9)


def test_an_off_centre_edge_below_the_line_within_the_first_fresnel_zone():
    wavelength = 2.0  # 150 MHz
    dist = np.array([0.0, 3.0, 12.0])
    h_tx, h_rx = 100.0, 40.0
    line = (h_tx * 9.0 + h_rx * 3.0) / 12.0  # the direct line's height above the edge
    edge = line - 20.0
    v = -20.0 * math.sqrt(2 / wavelength * (1 / 3e3 + 1 / 9e3))
    loss = bullington_loss_db(dist, np.array([0.0, edge, 0.0]), h_tx, h_rx, wavelength,
                              FLAT_EARTH)
    assert v > -0.78  # inside the zone: some loss, less than grazing
    assert loss == pytest.approx(correction(knife_edge_loss_db(v), 12.0), rel=1e-9)
    assert 0 < loss < correction(6.03, 12.0)


def test_a_clear_path_loses_nothing():
    dist = np.linspace(0, 20, 41)
    loss = bullington_loss_db(dist, np.zeros(41), 300.0, 300.0, 0.7, 4 / 3)
    assert loss == 0.0


def test_the_earths_bulge_hides_low_antennas_beyond_the_horizon():
    # over the sea, 10 m antennas: the radio horizon (k = 4/3) is 2 x 13 km
    horizon_km = 2 * math.sqrt(2 * 4 / 3 * 6371 * 0.010)
    losses = []
    for d in (10.0, horizon_km, 60.0, 120.0):
        dist = np.linspace(0, d, 201)
        losses.append(bullington_loss_db(dist, np.zeros(201), 10.0, 10.0, 0.7, 4 / 3))
    # inside the horizon the edge is the bulge at mid-path, below the direct line but in
    # the first Fresnel zone of such low antennas
    bulge = 500 / (4 / 3 * 6371) * 5.0 * 5.0
    v = (bulge - 10.0) * math.sqrt(0.002 * 10.0 / (0.7 * 5.0 * 5.0))
    assert -0.78 < v < 0
    assert losses[0] == pytest.approx(correction(knife_edge_loss_db(v), 10.0), rel=1e-6)
    # at the horizon the bulge touches the direct line: grazing incidence, J(0)
    assert losses[1] == pytest.approx(correction(6.03, horizon_km), abs=0.5)
    assert losses[1] < losses[2] < losses[3]
    # Far beyond the horizon one equivalent edge is too kind to a smooth sphere: this is
    # why delta-Bullington adds P.526's spherical-earth loss rather than trusting it.
    assert 25 < losses[3] < 45


REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "diffraction_reference.json"


def test_delta_bullington_agrees_with_pycraf_on_flat_ridged_hilly_and_real_profiles():
    """pycraf's P.452-16 (an independent implementation; scripts/diffraction_reference.py
    recorded its losses) over flat land, a ridge, a wedge, a Gaussian hill and eight
    profiles of the default network over the built-in grid, at 145, 433 and 1296 MHz."""
    reference = json.loads(REFERENCE.read_text())
    assert len(reference["cases"]) >= 60
    worst = 0.0
    for case in reference["cases"]:
        ours = delta_bullington_loss_db(
            np.array(case["dist_km"]), np.array(case["height_m"]), case["h_tx_agl_m"],
            case["h_rx_agl_m"], case["f_ghz"], reference["k_factor"], 0.0, False)
        worst = max(worst, abs(ours - case["pycraf_loss_db"]))
    assert worst < 0.01
    losses = [c["pycraf_loss_db"] for c in reference["cases"]]
    assert min(losses) == 0.0 and max(losses) > 100  # the set spans clear paths to deep shadow


def test_the_smooth_surface_is_lowered_under_an_obstruction():
    dist = np.linspace(0, 20, 201)
    flat = np.zeros(201)
    assert smooth_earth_heights(dist, flat, 10.0, 10.0) == pytest.approx((0.0, 0.0))
    ridge = np.where(np.abs(dist - 5) < 0.05, 100.0, 0.0)
    h_st, h_sr = smooth_earth_heights(dist, ridge, 10.0, 10.0)
    # the ridge, 90 m above the line, lowers the transmitter's end more (it is nearer)
    assert h_st < h_sr < 0


def test_the_smooth_sphere_gives_the_plane_earth_loss_well_inside_the_horizon():
    """Free space plus the sphere's loss is the flat model's max(two-ray, free space) to
    within 2.5 dB up to half the radio horizon (26 km for two 10 m antennas), and more
    than it towards the horizon, where the earth's curvature takes over."""
    def excess(d_km, f_mhz):
        fspl = 20 * math.log10(d_km) + 20 * math.log10(f_mhz) + 32.45
        pel = 40 * math.log10(d_km * 1000) - 20 * math.log10(10.0) - 20 * math.log10(10.0)
        sphere = spherical_earth_loss_db(d_km, 10.0, 10.0, 4 / 3 * 6371, f_mhz / 1000, 0.0,
                                         False)
        return fspl + sphere - max(pel, fspl)
    for f_mhz in (145.0, 433.0, 1296.0):
        for d_km in (3.0, 5.0, 8.0, 12.0):
            assert abs(excess(d_km, f_mhz)) < 2.5, (d_km, f_mhz)
        assert excess(24.0, f_mhz) > excess(12.0, f_mhz) > excess(5.0, f_mhz) - 0.5
