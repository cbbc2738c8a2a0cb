"""The Qt-free engine: config, physics, generator, dataset store and Python API."""
