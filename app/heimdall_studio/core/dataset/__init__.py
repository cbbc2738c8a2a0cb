"""The dataset file: its layout, safe reading, crash-safe writing, the writer lock,
checksums and in-place repair. Never imports numba or the sampling code."""
