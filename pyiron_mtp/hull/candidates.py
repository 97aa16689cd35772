"""Candidate structures of an alloy: derivative superstructures of fcc, bcc and hcp.

:func:`enumerate_candidates` lists all symmetrically distinct decorations of supercells of
the parent lattices (icet's ``enumerate_structures``, Hart & Forcade's algorithm) up to a
size, with volumes from Vegard's law (the fraction-weighted volume per atom of the
elements); user prototypes (ASE or pyiron structures, files) come in through
:func:`candidates_from`.  :func:`left_parent_lattice` tells whether a relaxed structure still
is a decoration of its parent lattice (cell shape and atomic displacements).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import bulk

__all__ = ["Candidate", "enumerate_candidates", "candidates_from", "as_candidates", "left_parent_lattice",
           "element_volume"]

LATTICES = ("fcc", "bcc", "hcp")
STRAIN_LIMIT = 0.1           # largest principal deviatoric strain of a decoration of the parent
DISPLACEMENT_LIMIT = 0.25    # largest displacement from the ideal site, in nearest-neighbour distances


@dataclass
class Candidate:
    """A candidate: ``id`` (e.g. ``fcc-4-12``), ``atoms``, parent ``lattice`` (or ``"user"``)
    and ``composition`` (element -> fraction)."""

    id: str
    atoms: Atoms
    lattice: str
    composition: dict = field(default_factory=dict)

    @property
    def formula(self):
        return self.atoms.get_chemical_formula()

    @classmethod
    def make(cls, cid, atoms, lattice):
        sym = atoms.get_chemical_symbols()
        comp = {el: sym.count(el) / len(sym) for el in sorted(set(sym))}
        atoms = atoms.copy()
        atoms.info["candidate_id"] = cid
        atoms.info["parent_lattice"] = lattice
        return cls(cid, atoms, lattice, comp)


def element_volume(symbol):
    """Volume per atom (A^3) of an element's reference crystal (ASE's data)."""
    from ase.data import atomic_numbers, reference_states
    ref = reference_states[atomic_numbers[symbol]]
    if ref is None or ref.get("symmetry") not in ("fcc", "bcc", "hcp", "diamond", "sc"):
        raise ValueError(f"no reference volume for {symbol}: pass volumes={{'{symbol}': V}} (A^3/atom)")
    a = bulk(symbol)
    return a.get_volume() / len(a)


def _parent(lattice, volume_per_atom=1.0):
    """Primitive cell of a parent lattice with the given volume per atom (ideal c/a for hcp)."""
    if lattice == "fcc":
        return bulk("H", "fcc", a=(4 * volume_per_atom) ** (1 / 3))
    if lattice == "bcc":
        return bulk("H", "bcc", a=(2 * volume_per_atom) ** (1 / 3))
    if lattice == "hcp":
        a = (np.sqrt(2) * volume_per_atom) ** (1 / 3)
        return bulk("H", "hcp", a=a, c=a * np.sqrt(8 / 3))
    raise ValueError(f"lattice must be one of {LATTICES}, got {lattice!r}")


def _max_sizes(max_atoms, lattices):
    if isinstance(max_atoms, dict):
        if lattices is LATTICES:          # the default: the lattices the dict names
            lattices = [lat for lat in LATTICES if lat in max_atoms]
        unknown = set(max_atoms) - set(lattices)
        if unknown:
            raise ValueError(f"max_atoms names lattices {sorted(unknown)} not in {list(lattices)}")
        missing = [lat for lat in lattices if lat not in max_atoms]
        if missing:
            raise ValueError(f"max_atoms gives no size for the lattices {missing}")
        return {lat: int(max_atoms[lat]) for lat in lattices}
    return {lat: int(max_atoms) for lat in lattices}


def enumerate_candidates(elements, lattices=LATTICES, max_atoms=8, volumes=None, concentration_restrictions=None):
    """All symmetrically distinct derivative superstructures of ``lattices`` with at most
    ``max_atoms`` atoms (an int or a dict per lattice - with the default ``lattices`` a dict
    names the lattices enumerated; hcp cells hold two atoms per primitive cell).  ``volumes``: element -> volume per atom (A^3) for Vegard's law
    (default: ASE's reference crystals).  Ids read ``<lattice>-<atoms>-<index>``."""
    try:
        from icet.tools import enumerate_structures
    except ImportError as exc:   # pragma: no cover - a dependency
        raise ImportError("enumerating candidates needs icet: pip install icet") from exc
    elements = list(elements)
    if len(set(elements)) != len(elements) or len(elements) < 2:
        raise ValueError(f"need at least two distinct elements, got {elements}")
    vols = {el: float((volumes or {}).get(el) or element_volume(el)) for el in elements}
    out = []
    for lat, n_max in _max_sizes(max_atoms, lattices).items():
        prim = _parent(lat)
        per_cell = len(prim)
        sizes = range(1, n_max // per_cell + 1)
        if not len(sizes):
            continue
        counter = {}
        structures = enumerate_structures(prim, list(sizes), [list(elements)] * per_cell,
                                          concentration_restrictions=concentration_restrictions)
        for s in structures:
            sym = s.get_chemical_symbols()
            v = sum(vols[el] for el in sym) / len(sym)          # Vegard's law
            s = Atoms(s)
            s.set_cell(s.cell.array * v ** (1 / 3), scale_atoms=True)
            n = len(s)
            counter[n] = counter.get(n, 0) + 1
            out.append(Candidate.make(f"{lat}-{n}-{counter[n] - 1}", s, lat))
    return out


def candidates_from(structures, prefix="user"):
    """Candidates from user prototypes: ASE Atoms, pyiron structures or file names (any ASE format)."""
    import ase.io
    out = []
    for k, s in enumerate(structures):
        if isinstance(s, (str, bytes)) or hasattr(s, "__fspath__"):
            for j, a in enumerate(ase.io.read(s, ":")):
                out.append(Candidate.make(f"{prefix}-{k}-{j}", a, "user"))
            continue
        if hasattr(s, "get_parent_basis"):    # a pyiron structure
            from pyiron_atomistics.atomistics.structure.atoms import pyiron_to_ase
            s = pyiron_to_ase(s)
        out.append(Candidate.make(f"{prefix}-{k}", s, str(s.info.get("parent_lattice", "user"))))
    return out


def as_candidates(items):
    """A list of :class:`Candidate` from what a user has in hand: candidates (kept as they are),
    ASE Atoms, pyiron structures or file names (through :func:`candidates_from`), mixed."""
    if isinstance(items, (Atoms, Candidate)) or hasattr(items, "get_parent_basis"):
        items = [items]
    out = []
    for k, item in enumerate(items):
        if isinstance(item, Candidate):
            out.append(item)
        elif isinstance(item, (Atoms, str, bytes)) or hasattr(item, "__fspath__") or hasattr(item, "get_parent_basis"):
            out += candidates_from([item], prefix=f"user-{k}")
        else:
            raise TypeError(f"candidate {k} is a {type(item).__name__}: give Candidates (enumerate_candidates), "
                            f"ASE Atoms, pyiron structures or structure files")
    return out


def left_parent_lattice(candidate: Candidate, relaxed: Atoms, strain_limit=STRAIN_LIMIT,
                        displacement_limit=DISPLACEMENT_LIMIT):
    """True if ``relaxed`` is no longer a decoration of the candidate's parent lattice: the
    cell's shape (volume removed) strained beyond ``strain_limit``, or an atom displaced from
    its ideal site by more than ``displacement_limit`` nearest-neighbour distances."""
    ideal = candidate.atoms
    if len(relaxed) != len(ideal):
        return True
    f = np.linalg.solve(ideal.cell.array, relaxed.cell.array)        # relaxed = ideal @ f
    f = f / abs(np.linalg.det(f)) ** (1 / 3)
    strain = 0.5 * (f @ f.T - np.eye(3))
    if np.abs(np.linalg.eigvalsh(strain)).max() > strain_limit:
        return True
    d = relaxed.get_scaled_positions(wrap=False) - ideal.get_scaled_positions(wrap=False)
    d -= np.round(d)
    d -= d.mean(axis=0)
    disp = np.linalg.norm(d @ relaxed.cell.array, axis=1)
    v = relaxed.get_volume() / len(relaxed)
    nn = {"fcc": (4 * v) ** (1 / 3) / np.sqrt(2), "bcc": (2 * v) ** (1 / 3) * np.sqrt(3) / 2,
          "hcp": (np.sqrt(2) * v) ** (1 / 3)}.get(candidate.lattice, v ** (1 / 3))
    return bool(disp.max() > displacement_limit * nn)
