"""Reading and writing lists of configurations: MLIP ``.cfg`` or any ASE format."""
from __future__ import annotations

import os

import numpy as np
from ase.data import chemical_symbols

from .cfg import read_cfg, write_cfg

__all__ = ["read_structures", "write_structures", "placeholder_species", "is_cfg", "atoms_to_dict", "atoms_from_dict"]


def atoms_to_dict(atoms) -> dict:
    """The structure of ``atoms`` as plain lists (numbers, positions in A, cell in A, pbc):
    picklable and JSON-able, for worker processes and ledgers.  Calculators and info are dropped."""
    return {"numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist()}


def atoms_from_dict(d):
    """``ase.Atoms`` from :func:`atoms_to_dict`'s lists (or a ledger record with those keys)."""
    from ase import Atoms
    return Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])


def is_cfg(path) -> bool:
    return str(path).lower().endswith(".cfg")


def placeholder_species(count: int) -> list[str]:
    """Element names used for unnamed MLIP types: type k -> chemical_symbols[k + 1]."""
    return [chemical_symbols[k + 1] for k in range(count)]


def read_structures(path, species=None):
    """All configurations of ``path`` as ``ase.Atoms`` with reference results attached.

    ``.cfg`` files need ``species`` to name their types (else H, He, ... by type);
    other formats are read by ``ase.io.read(path, ':')``.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if is_cfg(path):
        return read_cfg(path, species=species)
    import ase.io
    try:
        frames = ase.io.read(path, index=":")
    except Exception as exc:  # ASE raises many kinds
        raise ValueError(f"{path}: could not read configurations with ASE ({exc})") from exc
    if not isinstance(frames, list):
        frames = [frames]
    return frames


def write_structures(path, images, species=None, **kwargs):
    """Write configurations to ``.cfg`` (types from ``species``) or any ASE format."""
    if is_cfg(path):
        write_cfg(path, images, species=species, **kwargs)
    else:
        import ase.io
        ase.io.write(path, images)


def species_of(images) -> list[str]:
    """Elements present in a list of Atoms, sorted by atomic number."""
    from ase.data import atomic_numbers
    found = {s for a in images for s in a.get_chemical_symbols()}
    return sorted(found, key=lambda s: atomic_numbers[s])


def reference_arrays(atoms):
    """Reference energy, forces and stress of an Atoms object (None where absent)."""
    calc = atoms.calc
    res = getattr(calc, "results", {}) if calc is not None else {}
    e = res.get("energy", res.get("free_energy"))
    f = res.get("forces")
    s = res.get("stress")
    if s is not None:
        s = np.asarray(s, dtype=float)
        if s.shape == (3, 3):
            s = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
    return e, (None if f is None else np.asarray(f, dtype=float)), s
