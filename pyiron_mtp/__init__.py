"""pyiron_mtp: Moment Tensor Potentials with active learning, Numba core, pyiron jobs."""
from .potential import MTP, MTPResult, ShortDistanceWarning
from .calculator import MTPCalculator

__all__ = ["MTP", "MTPCalculator", "MTPResult", "ShortDistanceWarning"]
__version__ = "0.1.0"
