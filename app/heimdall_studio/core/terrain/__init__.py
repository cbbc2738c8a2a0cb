"""The ground: elevation grids (the built-in GLOBE extract, SRTM tiles) and what lies
between two places on them. numpy only; the sampling code builds on it."""
