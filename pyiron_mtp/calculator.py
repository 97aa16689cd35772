"""ASE calculator for MTPs."""
from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from .core.neighbors import NeighborList
from .potential import MTP

__all__ = ["MTPCalculator"]


class MTPCalculator(Calculator):
    """ASE calculator: energy, free_energy, forces, stress (eV/A^3, ASE sign), energies.

    ``pot`` is an :class:`MTP` or a path to an ``.mtp`` file (then ``species`` is
    required).  ``skin`` (Angstrom) is the Verlet skin of the reused neighbour list.
    With an ``active_set`` (:class:`pyiron_mtp.active.ActiveSet`) every calculation
    also gives the extrapolation grade, ``results["mtp_grade"]`` (and per-atom grades
    ``results["mtp_grades"]`` in neighbourhood mode), from the same kernel pass.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, pot, species=None, skin=0.5, active_set=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pot, MTP):
            pot = MTP.from_file(pot, species=species)
        elif species is not None:
            pot = pot.copy()
            pot.species = list(species)
        if pot.species is None:
            raise ValueError("MTPCalculator needs element names: MTP.from_file(path, species=[...])")
        self.pot = pot
        self.active_set = active_set
        self.neighbor_list = NeighborList(pot.max_dist, skin=skin)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        types = self.pot.types_of(atoms.get_chemical_symbols())
        want_forces = any(p in properties for p in ("forces", "stress")) or self.active_set is not None
        res = self.pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, types,
                                neighbor_list=self.neighbor_list, forces=want_forces,
                                **(self.active_set.evaluate_options() if self.active_set is not None else {}))
        if self.active_set is not None:
            grade, per_atom = self.active_set.grade_from_result(res)
            self.results["mtp_grade"] = grade
            if per_atom is not None:
                self.results["mtp_grades"] = per_atom
        self.results["energy"] = res.energy
        self.results["free_energy"] = res.energy
        self.results["energies"] = res.energies.copy()
        if want_forces:
            self.results["forces"] = res.forces
            if res.stress is not None:
                self.results["stress"] = res.stress
            elif "stress" in properties:
                from ase.calculators.calculator import PropertyNotImplementedError
                raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
