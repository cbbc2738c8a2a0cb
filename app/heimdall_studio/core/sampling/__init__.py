"""Drawing samples: counter-based random streams, the propagation and geometry formulas and
the compiled kernel of each generator version. The only code that imports numba (an
import-linter contract); runs use it in a process of their own, so the window never loads
it."""
