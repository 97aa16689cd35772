"""Active-learning MD in LAMMPS on the pair style ``mtp`` with its extrapolation grades.

LAMMPS runs as its own process (``lmp``, under ``mpiexec`` for ``cores > 1``) with
``pair_style mtp ... grade ACTIVESET``.  Every ``grade_every`` steps ``fix pair`` asks the
pair style for grades; the largest per-atom grade (``compute reduce max``) is logged,
frames above the select threshold are written by a dump with ``dump_modify skip``, and
``fix halt`` stops the run above the break threshold.  Units: arguments in K, fs and GPa
(LAMMPS ``metal`` inside).  Structures come back in LAMMPS' frame (cell rotated to
lower-triangular form), physically the same structure.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .runtime import GPA_TO_BAR, num, run_lammps

__all__ = ["LammpsSampler", "LammpsResult", "check_md_input", "integrator_commands", "ENSEMBLES"]

ENSEMBLES = ("nve", "nvt", "npt", "nph")


@dataclass
class LammpsResult:
    collected: list = field(default_factory=list)
    grades: list = field(default_factory=list)
    max_grade: float = 0.0
    steps: int = 0
    broke: bool = False
    thermo: list = field(default_factory=list)   # (step, temperature K, potential eV, total eV)


def check_md_input(pot, atoms, ensemble):
    """Validate an MD request; returns the ensemble in lower case."""
    if pot.species is None:
        raise ValueError("the potential needs species names")
    if not atoms.pbc.all():
        raise ValueError("MD in LAMMPS needs a cell periodic in all three directions")
    ens = str(ensemble).lower()
    if ens not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {ensemble!r}")
    return ens


def integrator_commands(ensemble, t0, t1, pressure, tdamp, pdamp, seed):
    """Initial velocities and the integrating fix (Nose-Hoover; K, GPa, fs)."""
    cmds = []
    if t0 > 0:
        cmds.append(f"velocity all create {num(2 * t0 if ensemble == 'nve' else t0)} {int(seed)} "
                    f"dist gaussian mom yes rot yes")
    td, pd = tdamp / 1000.0, pdamp / 1000.0
    p = pressure * GPA_TO_BAR
    fix = {"nve": "nve",
           "nvt": f"nvt temp {num(t0)} {num(t1)} {num(td)}",
           "npt": f"npt temp {num(t0)} {num(t1)} {num(td)} iso {num(p)} {num(p)} {num(pd)}",
           "nph": f"nph iso {num(p)} {num(p)} {num(pd)}"}[ensemble]
    cmds.append(f"fix integrate all {fix}")
    return cmds


class LammpsSampler:
    """MD of ``atoms`` in LAMMPS with the pair style ``mtp`` (1 or more MPI ranks).

    ensemble: nve | nvt | npt | nph; temperature in K (number or (start, end)); pressure
    in GPa (isotropic); timestep, tdamp, pdamp in fs.  With an ``active_set``, grades every
    ``grade_every`` steps: frames above ``select_threshold`` are collected (at most
    ``max_collect``), the run stops above ``break_threshold``.  ``workdir``: where the
    LAMMPS files go (default: a temporary folder, removed afterwards).
    """

    def __init__(self, pot, atoms, ensemble="nvt", temperature=300.0, pressure=0.0, timestep=2.0, steps=1000,
                 tdamp=100.0, pdamp=1000.0, seed=12345, active_set=None, select_threshold=2.0,
                 break_threshold=10.0, thermo_every=10, max_collect=200, cores=1, grade_every=1, workdir=None):
        self.ensemble = check_md_input(pot, atoms, ensemble)
        pot.types_of(atoms.get_chemical_symbols())        # unknown elements: a clear error now
        self.pot, self.atoms = pot, atoms.copy()
        self.t0, self.t1 = (temperature if isinstance(temperature, (tuple, list)) else (temperature, temperature))
        self.pressure, self.timestep, self.steps = pressure, timestep, int(steps)
        self.tdamp, self.pdamp, self.seed = tdamp, pdamp, int(seed)
        self.active_set = active_set
        self.select_threshold, self.break_threshold = float(select_threshold), float(break_threshold)
        self.thermo_every, self.max_collect = max(1, int(thermo_every)), int(max_collect)
        self.cores, self.grade_every = int(cores), max(1, int(grade_every))
        self.workdir = workdir

    def script(self) -> str:
        """The LAMMPS input (files: structure.data, potential.mtp, active_set.bin)."""
        sp = " ".join(self.pot.species)
        style = f"pair_style mtp potential.mtp species {sp}"
        if self.active_set is not None:
            style += " grade active_set.bin"
        lines = ["units metal", "atom_style atomic", "atom_modify map array", "read_data structure.data",
                 style, f"pair_coeff * * {sp}", "neighbor 1.0 bin", f"timestep {num(self.timestep / 1000.0)}"]
        lines += integrator_commands(self.ensemble, self.t0, self.t1, self.pressure, self.tdamp, self.pdamp,
                                     self.seed)
        lines += ["variable s equal step", "variable t equal temp", "variable pe equal pe",
                  "variable et equal etotal",
                  f'fix thermolog all print {self.thermo_every} "${{s}} ${{t}} ${{pe}} ${{et}}" '
                  f'file thermo.txt screen no title ""']
        if self.active_set is not None:
            n = self.grade_every
            lines += [f"fix g all pair {n} mtp grade 1", "compute gmax all reduce max f_g",
                      "variable grade equal c_gmax",
                      f'variable skip equal "v_grade <= {num(self.select_threshold)}"',
                      f'fix gradelog all print {n} "${{s}} ${{grade}}" file grades.txt screen no title ""',
                      f"dump extrapolative all custom {n} extrapolative.dump id type x y z f_g",
                      "dump_modify extrapolative skip v_skip sort id format float %.17g",
                      f"fix stop all halt {n} v_grade > {num(self.break_threshold)} error soft"]
        lines += ["thermo_style custom step temp pe etotal press vol", f"thermo {self.thermo_every}",
                  f"run {self.steps}", 'print "FINAL_STEP $(step)"']
        return "\n".join(lines) + "\n"

    def _write_inputs(self, folder: Path):
        import ase.io
        from .files import write_active_set
        ase.io.write(folder / "structure.data", self.atoms, format="lammps-data", specorder=self.pot.species,
                     masses=True, units="metal", atom_style="atomic")
        self.pot.to_file(folder / "potential.mtp")
        if self.active_set is not None:
            write_active_set(self.active_set, folder / "active_set.bin")

    def run(self) -> LammpsResult:
        """Run the MD; returns a :class:`LammpsResult` (collected structures, grades, thermo)."""
        if self.workdir is None:
            with tempfile.TemporaryDirectory(prefix="pyiron_mtp_lammps_") as tmp:
                return self._run(Path(tmp))
        folder = Path(self.workdir)
        folder.mkdir(parents=True, exist_ok=True)
        return self._run(folder)

    def _run(self, folder: Path) -> LammpsResult:
        from .dump import read_dump
        self._write_inputs(folder)
        log = run_lammps(self.script(), folder, cores=self.cores)
        res = LammpsResult()
        final = [ln for ln in log.read_text().splitlines() if ln.startswith("FINAL_STEP")]
        res.steps = int(final[-1].split()[1]) if final else 0
        res.thermo = [tuple(row) for row in _table(folder / "thermo.txt", 4)]
        if self.active_set is not None:
            g = _table(folder / "grades.txt", 2)
            res.grades = [float(v) for v in g[:, 1]] if len(g) else []
            res.max_grade = max(res.grades, default=0.0)
            res.collected = read_dump(folder / "extrapolative.dump", self.pot.species)[:self.max_collect]
            res.broke = res.max_grade > self.break_threshold and res.steps < self.steps
        return res


def _table(path: Path, ncol):
    """Numbers of a ``fix print`` file (one row per printed step)."""
    if not path.exists():
        return np.zeros((0, ncol))
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return np.array(rows, dtype=float).reshape(-1, ncol)
