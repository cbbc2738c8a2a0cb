"""A create or an expand, block by block from the generator to the file, and the process it
runs in."""
