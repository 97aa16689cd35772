"""Pair baselines added to an MTP where it has no data: the ZBL screened nuclear repulsion as an
ASE calculator (the kernel is :mod:`pyiron_mtp.core.zbl`; in LAMMPS the same is ``pair_style
zbl inner outer``, with which it agrees)."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .core.neighbors import NeighborList
from .core.zbl import zbl_energy_forces

__all__ = ["ZBLCalculator"]


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
                              self.inner, self.outer, energies, forces, virial)
        self.results.update(energy=e, free_energy=e, energies=energies, forces=forces)
        if a.pbc.all():
            self.results["stress"] = full_3x3_to_voigt_6_stress(virial / a.get_volume())
