"""What is done with a dataset once written: verify it, export it, load training batches
from it."""
