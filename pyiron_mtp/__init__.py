"""pyiron_mtp: Moment Tensor Potentials with active learning, Numba core, pyiron jobs."""
import sys as _sys

__all__ = ["MTP", "MTPCalculator", "MTPResult", "ShortDistanceWarning"]
__version__ = "0.1.0"


def __getattr__(name):
    # imported on first use, so light imports (the LAMMPS plugin hook, the CLI) stay light
    if name in ("MTP", "MTPResult", "ShortDistanceWarning"):
        from . import potential
        return getattr(potential, name)
    if name == "MTPCalculator":
        from .calculator import MTPCalculator
        return MTPCalculator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# In a pyiron session (pyiron already imported) register the job classes right away;
# without pyiron nothing pyiron-related is imported (no project database is created).
if "pyiron_base" in _sys.modules:
    from . import jobs as _jobs  # noqa: F401
