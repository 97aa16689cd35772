"""Molecular dynamics in LAMMPS (in-process) with MTP forces from the Numba core.

The fallback of :mod:`.sampler` where the pair style ``mtp`` cannot be built: one
process, forces through a Python callback.  LAMMPS integrates (NVE, NVT, NPT, NPH
with its Nose-Hoover fixes); forces, energy and virial come from a ``fix external`` callback that evaluates the MTP on the
current box.  With an active set the callback also grades every step: structures
above the select threshold are collected, and ``fix halt`` stops the run once the
grade exceeds the break threshold.  Units: LAMMPS ``metal`` (eV, A, ps, bar);
arguments here are K, fs and GPa.  The structures are in LAMMPS' frame (the cell
rotated to lower-triangular form), which is physically the same structure.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from ..core.neighbors import NeighborList
from ..potential import MTP
from .runtime import load_lammps, num as _num, structure_commands
from .sampler import LammpsResult, check_md_input, integrator_commands

__all__ = ["LammpsMD"]


class LammpsMD:
    """MD of ``atoms`` in LAMMPS with MTP forces.

    ensemble: nve | nvt | npt | nph; temperature in K (number or (start, end));
    pressure in GPa (isotropic); timestep in fs; tdamp/pdamp in fs.
    """

    def __init__(self, pot: MTP, atoms: Atoms, ensemble="nvt", temperature=300.0, pressure=0.0, timestep=2.0,
                 steps=1000, tdamp=100.0, pdamp=1000.0, seed=12345, active_set=None, select_threshold=2.0,
                 break_threshold=10.0, thermo_every=10, max_collect=200):
        ens = check_md_input(pot, atoms, ensemble)
        self.pot, self.atoms, self.ensemble = pot, atoms.copy(), ens
        self.t0, self.t1 = (temperature if isinstance(temperature, (tuple, list)) else (temperature, temperature))
        self.pressure, self.timestep, self.steps = pressure, timestep, int(steps)
        self.tdamp, self.pdamp, self.seed = tdamp, pdamp, int(seed)
        self.active_set = active_set
        self.select_threshold, self.break_threshold = select_threshold, break_threshold
        self.thermo_every, self.max_collect = int(thermo_every), int(max_collect)
        self.types = pot.types_of(atoms.get_chemical_symbols())
        self.nl = NeighborList(pot.max_dist, skin=1.0)
        self.result = LammpsResult()
        self.evaluations = 0

    # LAMMPS calls this every step: fill f, set energy and virial
    def _callback(self, caller, step, nlocal, tag, x, f):
        boxlo, boxhi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = (boxhi[k] - boxlo[k] for k in range(3))
        cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
        order = np.asarray(tag[:nlocal], dtype=np.int64) - 1
        pos = np.array(x[:nlocal], dtype=float)
        types = self.types[order]
        res = self.pot.evaluate(pos, cell, True, types, neighbor_list=self.nl,
                                **(self.active_set.evaluate_options() if self.active_set is not None else {}))
        f[:nlocal] = res.forces
        self.lmp.fix_external_set_energy_global("mtp", res.energy)
        v = res.virial
        self.lmp.fix_external_set_virial_global("mtp", [v[0, 0], v[1, 1], v[2, 2], v[0, 1], v[0, 2], v[1, 2]])
        self.evaluations += 1
        if self.active_set is not None:
            g, _ = self.active_set.grade_from_result(res)
            r = self.result
            r.grades.append(g)
            r.max_grade = max(r.max_grade, g)
            if g > self.select_threshold and len(r.collected) < self.max_collect:
                snap = Atoms(numbers=np.asarray(self.atoms.numbers)[order], positions=pos, cell=cell, pbc=True)
                snap.info["mtp_grade"] = g
                r.collected.append(snap)
            self.lmp.set_internal_variable("grade", g)

    def run(self):
        """Run the MD; returns a :class:`LammpsResult` (collected structures, grades, thermo)."""
        lammps = load_lammps()
        lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        self.lmp = lmp
        try:
            self._setup(lmp)
            done = 0
            while done < self.steps:
                n = min(self.thermo_every, self.steps - done)
                lmp.command(f"run {n} pre {'yes' if done == 0 else 'no'} post no")
                step = int(lmp.get_thermo("step"))
                self.result.thermo.append((step, lmp.get_thermo("temp"), lmp.get_thermo("pe"), lmp.get_thermo("etotal")))
                if step < done + n:  # fix halt stopped the run
                    self.result.broke = True
                    done = step
                    break
                done = step
            self.result.steps = done
        finally:
            lmp.close()
            self.lmp = None
        return self.result

    def _setup(self, lmp):
        structure_commands(self.atoms, self.pot.species, lmp)
        lmp.command(f"pair_style zero {_num(self.pot.max_dist)} nocoeff")
        lmp.command("pair_coeff * *")
        lmp.command("neighbor 1.0 bin")
        lmp.command(f"timestep {_num(self.timestep / 1000.0)}")
        lmp.command("variable grade internal 0.0")
        lmp.command("fix mtp all external pf/callback 1 1")
        lmp.command("fix_modify mtp energy yes virial yes")
        lmp.set_fix_external_callback("mtp", self._callback, lmp)
        for c in integrator_commands(self.ensemble, self.t0, self.t1, self.pressure, self.tdamp, self.pdamp,
                                     self.seed):
            lmp.command(c)
        if self.active_set is not None:
            lmp.command(f"fix stop all halt 1 v_grade > {_num(self.break_threshold)} error soft")
        lmp.command("thermo_style custom step temp pe etotal press vol")
