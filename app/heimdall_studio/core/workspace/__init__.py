"""The folder of datasets: dataset names to file paths, and the listing with its persistent
index."""
