"""Drawing samples: counter-based random streams, the propagation and geometry formulas and
the compiled kernel of each generator version. The only code that imports numba, and it
is imported only by run processes and tools."""
