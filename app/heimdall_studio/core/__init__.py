"""The Qt-free engine, in the order data flows through it:

    config     what to generate: the parameter table, the validated config, receivers
    sampling   drawing samples: random streams, physics, the compiled kernels (numba)
    dataset    the HDF5 file: layout, reading, writing, locks, checksums, repair
    workspace  the folder of datasets: names to paths, the listing and its index
    runs       a create or expand from generator to file, in a process of its own
    tools      what is done with a dataset: verify, export, training batches
    api        the Python API over all of it, used by the command line and the app

Each layer imports only those below it (import-linter contracts in pyproject.toml); see
docs/architecture.md.
"""
