"""pyiron_mtp: Moment Tensor Potentials with active learning, Numba core, pyiron jobs."""
import sys as _sys

from .calculator import MTPCalculator
from .potential import MTP, MTPResult, ShortDistanceWarning

__all__ = ["MTP", "MTPCalculator", "MTPResult", "ShortDistanceWarning"]
__version__ = "0.1.0"

# In a pyiron session (pyiron already imported) register the job classes right away;
# without pyiron nothing pyiron-related is imported (no project database is created).
if "pyiron_base" in _sys.modules:
    from . import jobs as _jobs  # noqa: F401
