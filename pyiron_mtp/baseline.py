"""Pair baselines added to an MTP where it has no data: the ZBL screened nuclear repulsion (the
kernel is :mod:`pyiron_mtp.core.zbl`; in LAMMPS the same is ``pair_style zbl inner outer``, with
which it agrees), as the baseline part of a model (:class:`ZBLBaseline`, held by
:attr:`pyiron_mtp.potential.MTP.baseline` and written into its ``.mtp`` file) and as an ASE
calculator (:class:`ZBLCalculator`)."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .core.neighbors import NeighborList
from .core.zbl import zbl_energy_forces

__all__ = ["ZBLBaseline", "ZBLCalculator", "SWITCH_WIDTH", "switch_range", "unknown_elements"]

SWITCH_WIDTH = 0.5   # A: the default ZBL switching range ends at the core radius and starts this far below it


def switch_range(outer, width=SWITCH_WIDTH):
    """(inner, outer) A of a ZBL switching range ending at ``outer``: ``width`` wide, at most half of ``outer``."""
    outer = float(outer)
    return max(outer - float(width), 0.5 * outer), outer


def unknown_elements(species):
    """The entries of ``species`` that are not element symbols (ZBL needs an atomic number each)."""
    from ase.data import atomic_numbers
    return [s for s in species if atomic_numbers.get(s, 0) < 1]


class ZBLBaseline:
    """ZBL between every pair of atoms, switched off between ``inner`` and ``outer`` (A) as
    ``pair_style zbl``; ``atomic_numbers[t]``: Z of the potential's type t.  An MTP with this
    baseline is E = E_MTP + E_ZBL; training fits E_MTP to the reference minus E_ZBL."""

    kind = "ZBL"

    def __init__(self, atomic_numbers, inner, outer):
        self.atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64).reshape(-1)
        if self.atomic_numbers.size == 0 or self.atomic_numbers.min() < 1 or self.atomic_numbers.max() > 118:
            raise ValueError(f"ZBL needs atomic numbers 1..118 per species, got {self.atomic_numbers.tolist()}")
        self.inner, self.outer = float(inner), float(outer)
        if not 0 < self.inner < self.outer:
            raise ValueError(f"ZBL switching needs 0 < inner < outer, got {self.inner}, {self.outer}")

    @classmethod
    def for_species(cls, species, inner, outer):
        """From element symbols in type order."""
        from ase.data import atomic_numbers
        unknown = unknown_elements(species)
        if unknown:
            raise ValueError(f"ZBL baseline: {unknown} are not element symbols")
        return cls([atomic_numbers[s] for s in species], inner, outer)

    def to_dict(self):
        return {"kind": self.kind, "atomic_numbers": self.atomic_numbers.copy(), "inner": self.inner,
                "outer": self.outer}

    @classmethod
    def from_dict(cls, d):
        kind = d.get("kind", "ZBL")
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind.upper() != "ZBL":
            raise ValueError(f"unknown baseline kind {kind!r} (known: ZBL)")
        return cls(d["atomic_numbers"], d["inner"], d["outer"])

    def __eq__(self, other):
        return (isinstance(other, ZBLBaseline) and np.array_equal(self.atomic_numbers, other.atomic_numbers)
                and self.inner == other.inner and self.outer == other.outer)

    def __repr__(self):
        return f"ZBLBaseline(Z={self.atomic_numbers.tolist()}, inner={self.inner:g} A, outer={self.outer:g} A)"

    def evaluate(self, positions, cell, types, neighbor_list, atom_virials=False):
        """(energy, per-atom energies, forces, virial (MLIP sign, eV), per-atom virials or None)
        with a full neighbour list of cutoff >= ``outer`` already updated for ``positions``."""
        if neighbor_list.cutoff < self.outer:
            raise ValueError(f"neighbour list cutoff {neighbor_list.cutoff} < ZBL outer cutoff {self.outer}")
        n = len(positions)
        z = self.atomic_numbers[np.asarray(types, dtype=np.int64)]
        energies, forces, virial = np.zeros(n), np.zeros((n, 3)), np.zeros((3, 3))
        av = np.zeros((n if atom_virials else 0, 3, 3))
        nl = neighbor_list
        e = zbl_energy_forces(positions, np.ascontiguousarray(cell, dtype=float), z, nl.start, nl.index, nl.shift,
                              self.inner, self.outer, energies, forces, virial, av)
        return e, energies, forces, -virial, (av if atom_virials else None)

    def pair_energy(self, r, z_a, z_b):
        """Energy (eV) of one pair of types (z_a, z_b) at distances ``r`` (A)."""
        from .core.zbl import zbl_pair
        za, zb = float(self.atomic_numbers[z_a]), float(self.atomic_numbers[z_b])
        return np.array([zbl_pair(float(x), za, zb, self.inner, self.outer)[0] for x in np.atleast_1d(r)])


class ZBLCalculator(Calculator):
    """ZBL repulsion between all atoms, switched to zero between ``inner`` and ``outer`` (A) as
    LAMMPS's ``pair_style zbl inner outer``: energy, energies, forces (eV/A), stress (eV/A^3,
    ASE sign)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, inner=1.0, outer=2.0, skin=0.3, **kwargs):
        super().__init__(**kwargs)
        if not 0 < inner < outer:
            raise ValueError(f"need 0 < inner < outer, got {inner}, {outer}")
        self.inner, self.outer = float(inner), float(outer)
        self.neighbor_list = NeighborList(self.outer, skin=skin)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        self.neighbor_list.update(a.positions, a.cell.array, a.pbc)
        nl = self.neighbor_list
        from .core.neighbors import complete_cell
        cell = complete_cell(a.positions, a.cell.array, a.pbc, self.outer + nl.skin)
        n = len(a)
        energies, forces, virial = np.zeros(n), np.zeros((n, 3)), np.zeros((3, 3))
        e = zbl_energy_forces(np.ascontiguousarray(a.positions, dtype=float), cell,
                              np.ascontiguousarray(a.numbers, dtype=np.int64), nl.start, nl.index, nl.shift,
                              self.inner, self.outer, energies, forces, virial, np.zeros((0, 3, 3)))
        self.results.update(energy=e, free_energy=e, energies=energies, forces=forces)
        if a.pbc.all():
            self.results["stress"] = full_3x3_to_voigt_6_stress(virial / a.get_volume())
