"""What to generate: the parameter table, the dataset config, receiver networks, the sample
fields and the generator versions. No numba and no HDF5: every layer above reads it."""
