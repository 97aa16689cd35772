"""Learning on the fly: sample with the MTP, compute what it extrapolates on, retrain.

One iteration:
1. build the active set of the current potential from the training set;
2. run every sampling protocol (MD or relaxation, ASE) with the MTP, grading each
   step: structures above ``select_threshold`` are collected, a run stops above
   ``break_threshold``;
3. choose a batch among the collected structures by greedy MaxVol (no near-duplicates);
4. compute them with the reference (any ASE calculator; through an executor, so
   references can run in parallel or on a queue); failures are logged and kept
   for a retry, NaN or absurd results are rejected;
5. add them to the training set and retrain from the current parameters.
The loop ends when a complete sampling round sees no grade above the select
threshold, or after ``max_iterations``.  With a ``workdir`` the state (training
structures with their reference results, potential, log, failed structures) is
saved after every step that changes it, and a new run in the same folder resumes
without recomputing anything.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator

from .active import BREAK_THRESHOLD, SELECT_THRESHOLD, ActiveSet
from .calculator import MTPCalculator
from .potential import MTP
from .training import error_report, train

__all__ = ["MDProtocol", "RelaxProtocol", "LammpsProtocol", "LearningOnTheFly", "sample", "ReferenceError"]

log = logging.getLogger(__name__)

MAX_FORCE = 1e3        # eV/A: larger reference forces are rejected as absurd
MAX_ENERGY_PER_ATOM = 1e4  # eV


class ReferenceError(RuntimeError):
    """A reference calculation failed or returned unusable data."""


def structure_key(atoms):
    """A short hash of positions and cell (rounded to 1e-8 A) and atomic numbers.

    Two structures with the same key are the same reference calculation.
    """
    h = hashlib.sha1()
    for arr in (np.round(atoms.positions, 8), np.round(atoms.cell.array, 8), atoms.numbers):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


def new_structures(candidates, known):
    """``candidates`` without those equal (by :func:`structure_key`) to a known one or an earlier candidate."""
    seen = {structure_key(a) for a in known}
    fresh = []
    for a in candidates:
        key = structure_key(a)
        if key in seen:
            log.info("structure %s was computed or queued for computing before; not computed again", key)
            continue
        seen.add(key)
        fresh.append(a)
    return fresh


@dataclass
class MDProtocol:
    """Molecular dynamics with ASE integrators.

    ensemble: ``nvt`` (Langevin), ``npt`` (Berendsen barostat + Langevin-like
    thermostat) or ``nve`` (velocity Verlet); temperature in K, a number or a
    (start, end) ramp; timestep in fs; friction in 1/fs; pressure in GPa.
    """

    ensemble: str = "nvt"
    temperature: float | tuple = 300.0
    steps: int = 1000
    timestep: float = 2.0
    friction: float = 0.01
    pressure: float = 0.0
    taut: float = 100.0
    taup: float = 1000.0
    compressibility: float = 1e-2  # 1/GPa, for the Berendsen barostat
    grade_every: int = 1

    def temperature_at(self, step):
        if isinstance(self.temperature, (tuple, list)):
            t0, t1 = self.temperature
            return t0 + (t1 - t0) * step / max(1, self.steps - 1)
        return float(self.temperature)


@dataclass
class RelaxProtocol:
    """Relaxation with an ASE optimiser (FIRE or BFGS), optionally of the cell."""

    fmax: float = 0.01
    steps: int = 300
    cell: bool = True
    optimizer: str = "FIRE"
    grade_every: int = 1


@dataclass
class LammpsProtocol:
    """MD in LAMMPS on the pair style ``mtp`` with its grades, on ``cores`` MPI ranks:
    ensemble nve | nvt | npt | nph; temperature K (or a (start, end) ramp), pressure GPa,
    timestep and damping in fs; grades every ``grade_every`` steps.  Where the pair style
    cannot be built, one process with forces through a Python callback (logged)."""

    ensemble: str = "nvt"
    temperature: float | tuple = 300.0
    pressure: float = 0.0
    steps: int = 1000
    timestep: float = 2.0
    tdamp: float = 100.0
    pdamp: float = 1000.0
    cores: int = 1
    grade_every: int = 1


@dataclass
class SampleResult:
    collected: list = field(default_factory=list)
    grades: list = field(default_factory=list)    # grade of every graded step
    max_grade: float = 0.0
    steps: int = 0
    broke: bool = False


class _StopSampling(Exception):
    pass


def sample(atoms, pot: MTP, active_set: ActiveSet, protocol, select_threshold=SELECT_THRESHOLD,
           break_threshold=BREAK_THRESHOLD, seed=0, max_collect=200):
    """Run one sampling protocol from ``atoms`` with the MTP, grading along the way."""
    atoms = atoms.copy()
    calc = MTPCalculator(pot, active_set=active_set)
    atoms.calc = calc
    result = SampleResult()
    step = [0]

    def monitor():
        step[0] += 1
        if (step[0] - 1) % protocol.grade_every:
            return
        g = calc.results.get("mtp_grade")
        if g is None:  # not evaluated at this geometry yet
            atoms.get_potential_energy()
            g = calc.results["mtp_grade"]
        result.grades.append(g)
        result.max_grade = max(result.max_grade, g)
        if g > select_threshold and len(result.collected) < max_collect:
            snap = atoms.copy()
            snap.calc = None
            snap.set_constraint()
            snap.arrays.pop("momenta", None)  # a structure to compute, not an MD state
            snap.info["mtp_grade"] = g
            result.collected.append(snap)
        if g > break_threshold:
            result.broke = True
            raise _StopSampling

    if isinstance(protocol, LammpsProtocol):
        r = _run_lammps(atoms, pot, active_set, protocol, select_threshold, break_threshold, seed, max_collect)
        return SampleResult(collected=r.collected, grades=r.grades, max_grade=r.max_grade, steps=r.steps,
                            broke=r.broke)
    rng = np.random.default_rng(seed)
    try:
        if isinstance(protocol, MDProtocol):
            _run_md(atoms, protocol, monitor, rng)
        elif isinstance(protocol, RelaxProtocol):
            _run_relax(atoms, protocol, monitor)
        else:
            raise TypeError(f"unknown sampling protocol {protocol!r}")
    except _StopSampling:
        pass
    result.steps = step[0]
    return result


def _run_lammps(atoms, pot, active_set, p: LammpsProtocol, select_threshold, break_threshold, seed, max_collect):
    """MD in LAMMPS: the pair style with its grades, or the Python callback where it cannot be built."""
    from .lammps.build import PluginBuildError, build_plugin
    kwargs = dict(ensemble=p.ensemble, temperature=p.temperature, pressure=p.pressure, timestep=p.timestep,
                  steps=p.steps, tdamp=p.tdamp, pdamp=p.pdamp, seed=1 + seed % 900000, active_set=active_set,
                  select_threshold=select_threshold, break_threshold=break_threshold, max_collect=max_collect)
    try:
        build_plugin()
    except PluginBuildError as exc:
        if p.cores > 1:
            raise
        log.warning("LAMMPS pair style mtp unavailable, sampling with forces through a Python callback "
                    "(one process): %s", exc)
        from .lammps.callback_md import LammpsMD
        return LammpsMD(pot, atoms, **kwargs).run()
    from .lammps.sampler import LammpsSampler
    return LammpsSampler(pot, atoms, cores=p.cores, grade_every=p.grade_every, **kwargs).run()


def _run_md(atoms, p: MDProtocol, monitor, rng):
    from ase.md.langevin import Langevin
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import Stationary
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
    from ase.md.verlet import VelocityVerlet
    thermalize_momenta(atoms, temperature_K=p.temperature_at(0), rng=rng)
    Stationary(atoms)
    dt = p.timestep * units.fs
    ens = p.ensemble.lower()
    if ens == "nvt":
        atoms.set_constraint(FixCom())
        dyn = Langevin(atoms, dt, temperature_K=p.temperature_at(0), friction=p.friction / units.fs, rng=rng,
                       fixcm=False)
    elif ens == "nve":
        dyn = VelocityVerlet(atoms, dt)
    elif ens == "npt":
        from ase.md.nptberendsen import NPTBerendsen
        dyn = NPTBerendsen(atoms, dt, temperature_K=p.temperature_at(0), pressure_au=p.pressure * units.GPa,
                           taut=p.taut * units.fs, taup=p.taup * units.fs,
                           compressibility_au=p.compressibility / units.GPa)
    else:
        raise ValueError(f"ensemble must be nvt, npt or nve, got {p.ensemble!r}")
    atoms.get_potential_energy()
    monitor()
    for k in range(p.steps):
        if ens != "nve" and isinstance(p.temperature, (tuple, list)):
            dyn.set_temperature(temperature_K=p.temperature_at(k))
        dyn.run(1)
        monitor()


def _run_relax(atoms, p: RelaxProtocol, monitor):
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE
    target = FrechetCellFilter(atoms) if p.cell and atoms.pbc.all() else atoms
    opt = {"FIRE": FIRE, "BFGS": BFGS}[p.optimizer.upper()](target, logfile=None)
    atoms.get_potential_energy()
    monitor()
    opt.attach(monitor, interval=1)
    opt.run(fmax=p.fmax, steps=p.steps)


# ---------------------------------------------------------------------- references
def reference_calculation(atoms, reference):
    """Energy, forces and stress of ``atoms`` with ``reference`` (a calculator or a factory).

    Module-level so that process pools and queues can run it.  Raises ReferenceError
    for failures and for NaN or absurd results.
    """
    is_instance = hasattr(reference, "calculate") and not isinstance(reference, type)
    calc = copy.deepcopy(reference) if is_instance else reference()
    work = atoms.copy()
    work.arrays.pop("momenta", None)
    work.calc = calc
    try:
        energy = work.get_potential_energy()
        forces = work.get_forces()
        stress = work.get_stress() if work.pbc.all() else None
    except Exception as exc:  # the reference code's own errors
        raise ReferenceError(f"reference calculation failed: {type(exc).__name__}: {exc}") from exc
    check_reference(len(atoms), energy, forces, stress)
    return float(energy), np.array(forces, dtype=float), None if stress is None else np.array(stress, float)


def check_reference(n_atoms, energy, forces, stress):
    if not np.isfinite(energy) or not np.all(np.isfinite(forces)) or (stress is not None and not np.all(np.isfinite(stress))):
        raise ReferenceError("reference result contains NaN or inf")
    if abs(energy) / n_atoms > MAX_ENERGY_PER_ATOM:
        raise ReferenceError(f"reference energy {energy / n_atoms:.3g} eV/atom is absurd")
    fmax = float(np.abs(forces).max()) if len(forces) else 0.0
    if fmax > MAX_FORCE:
        raise ReferenceError(f"reference force {fmax:.3g} eV/A is absurd")


class _SerialExecutor:
    """Runs submitted work at once (the default executor)."""

    def submit(self, fn, *args):
        from concurrent.futures import Future
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # delivered through the future, like a pool
            fut.set_exception(exc)
        return fut


def _labelled(atoms, result):
    e, f, s = result
    out = atoms.copy()
    out.info.pop("reference_error", None)  # a retry that succeeded
    res = {"energy": e, "free_energy": e, "forces": f}
    if s is not None:
        res["stress"] = s
    out.calc = SinglePointCalculator(out, **res)
    return out


# ---------------------------------------------------------------------- the loop
class LearningOnTheFly:
    """Active learning of an MTP while it samples.

    pot: initial :class:`MTP` (trained, or untrained: then the starting structures
    and ``n_initial`` rattled copies of each are computed first); reference: ASE
    calculator or calculator factory; starts: starting structures; protocols: one
    protocol for all starts or one per start; training: initial reference structures.

    After :meth:`run`: ``pot`` (the potential), ``training`` (every computed reference
    structure; selected ones carry ``info["selected_grade"]`` and
    ``info["selected_iteration"]``), ``log`` (one row per iteration) and
    ``trajectories`` (per sampling run: iteration, start index, whether it was stopped
    at the break threshold, and the grade at every graded step), ``reference_calls``
    (reference results obtained, one per structure in ``training`` that was computed
    here) and ``reference_failures`` (failed attempts; their structures wait in
    ``failed`` and are retried at the next step).  A structure equal to one already
    computed or waiting for a retry is never computed again.
    """

    def __init__(self, pot: MTP, reference, starts, protocols, training=None, *, species=None,
                 select_threshold=SELECT_THRESHOLD, break_threshold=BREAK_THRESHOLD, max_iterations=20,
                 max_selected=10, mode="configuration", workdir=None, executor=None, train_iter=60,
                 n_initial=4, rattle=0.05, seed=0, baseline="auto"):
        if select_threshold < 1.0 or break_threshold <= select_threshold:
            raise ValueError("need 1 <= select_threshold < break_threshold")
        self.pot = pot.copy()
        self.species = list(species or pot.species)
        self.pot.species = self.species
        self.reference = reference
        self.starts = [a.copy() for a in starts]
        if not self.starts:
            raise ValueError("no starting structures")
        protocols = protocols if isinstance(protocols, (list, tuple)) else [protocols] * len(self.starts)
        if len(protocols) != len(self.starts):
            raise ValueError(f"{len(protocols)} protocols for {len(self.starts)} starting structures")
        self.protocols = list(protocols)
        self.training = [a for a in (training or [])]
        self.select_threshold = float(select_threshold)
        self.break_threshold = float(break_threshold)
        self.max_iterations = int(max_iterations)
        self.max_selected = int(max_selected)
        self.mode = mode
        self.executor = executor or _SerialExecutor()
        self.train_iter = int(train_iter)
        self.n_initial = int(n_initial)
        self.rattle = float(rattle)
        self.seed = int(seed)
        self.baseline = baseline    # passed to train: "auto" = ZBL below the data (see train)
        self.workdir = None if workdir is None else Path(workdir)
        self.iteration = 0
        self.log = []
        self.trajectories = []     # per sampling run: iteration, start index, grade of every graded step
        self.failed = []           # structures whose reference failed; retried next time
        self.reference_calls = 0       # reference results obtained (each structure once)
        self.reference_failures = 0    # failed attempts (their structures are retried)
        self.converged = False
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            if (self.workdir / "state.json").exists():
                self._load_state()

    # ------------------------------------------------------------ state on disk
    def _save_state(self):
        if self.workdir is None:
            return
        import ase.io
        w = self.workdir
        if self.training:
            ase.io.write(w / "training.extxyz.tmp", self.training, format="extxyz")
            (w / "training.extxyz.tmp").replace(w / "training.extxyz")
        if self.failed:
            ase.io.write(w / "failed.extxyz", self.failed, format="extxyz")
        elif (w / "failed.extxyz").exists():
            (w / "failed.extxyz").unlink()
        if self.pot.trained:
            self.pot.to_file(w / "potential.mtp.tmp")
            (w / "potential.mtp.tmp").replace(w / "potential.mtp")
        state = {"iteration": self.iteration, "log": self.log, "reference_calls": self.reference_calls,
                 "reference_failures": self.reference_failures, "converged": self.converged,
                 "species": self.species, "trajectories": self.trajectories}
        (w / "state.json.tmp").write_text(json.dumps(state, indent=1))
        (w / "state.json.tmp").replace(w / "state.json")

    def _load_state(self):
        import ase.io
        w = self.workdir
        state = json.loads((w / "state.json").read_text())
        self.iteration = state["iteration"]
        self.log = state["log"]
        self.reference_calls = state["reference_calls"]
        self.reference_failures = state.get("reference_failures", 0)
        self.converged = state["converged"]
        self.trajectories = state.get("trajectories", [])
        if (w / "training.extxyz").exists():
            self.training = ase.io.read(w / "training.extxyz", ":")
        if (w / "failed.extxyz").exists():
            self.failed = ase.io.read(w / "failed.extxyz", ":")
        if (w / "potential.mtp").exists():
            self.pot = MTP.from_file(w / "potential.mtp", species=self.species)
        log.info("resumed from %s at iteration %d with %d training structures", w, self.iteration,
                 len(self.training))

    # ------------------------------------------------------------ steps
    def compute_references(self, structures):
        """Reference results for ``structures``; returns (labelled, failed)."""
        futures = [self.executor.submit(reference_calculation, a, self.reference) for a in structures]
        done, failed = [], []
        for a, fut in zip(structures, futures):
            try:
                done.append(_labelled(a, fut.result()))
                self.reference_calls += 1
            except ReferenceError as exc:
                self.reference_failures += 1
                log.warning("reference skipped (kept for a retry): %s", exc)
                a = a.copy()
                a.info["reference_error"] = str(exc)
                failed.append(a)
        return done, failed

    def _add(self, labelled):
        self.training.extend(labelled)
        self._save_state()

    def _retry_failed(self):
        """Compute the structures whose reference failed before (those still new) again."""
        retry, self.failed = new_structures(self.failed, self.training), []
        if retry:
            done, self.failed = self.compute_references(retry)
            self._add(done)

    def _initial_training(self):
        rng = np.random.default_rng(self.seed)
        todo = []
        for a in self.starts:
            todo.append(a.copy())
            for _ in range(self.n_initial):
                b = a.copy()
                b.positions += rng.normal(scale=self.rattle, size=b.positions.shape)
                todo.append(b)
        done, failed = self.compute_references(todo)
        self.failed.extend(failed)
        self._add(done)

    def retrain(self):
        self.pot, trainer = train(self.training, self.species, init=self.pot, max_iter=self.train_iter,
                                  valid_fraction=0.0, seed=self.seed, progress=False, baseline=self.baseline)
        return trainer

    def run(self, progress=True):
        """Iterate until converged or ``max_iterations``; returns the potential."""
        from tqdm.auto import tqdm
        if not self.training and self.failed:  # the initial references failed before: retry those
            self._retry_failed()
        elif not self.training:
            self._initial_training()
        if not self.training:
            raise ReferenceError("no reference calculation succeeded; cannot train")
        if not self.pot.trained:
            self.retrain()
            self._save_state()
        bar = tqdm(total=self.max_iterations, initial=min(self.iteration, self.max_iterations),
                   desc="learning on the fly", unit="it", disable=not progress)
        try:
            while not self.converged and self.iteration < self.max_iterations:
                row = self.step()
                bar.set_postfix({"selected": row["selected"], "max grade": f"{row['max_grade']:.3g}"})
                bar.update(1)
        finally:
            bar.close()
        return self.pot

    def step(self):
        """One iteration: sample, select, compute, retrain.  Returns its log row."""
        t0 = time.perf_counter()
        it = self.iteration
        calls_before, failures_before = self.reference_calls, self.reference_failures
        # retry references that failed before
        self._retry_failed()
        aset = ActiveSet.build(self.pot, self.training, mode=self.mode)
        collected, max_grade, broke, steps = [], 0.0, 0, 0
        for k, (start, protocol) in enumerate(zip(self.starts, self.protocols)):
            res = sample(start, self.pot, aset, protocol, self.select_threshold, self.break_threshold,
                         seed=self.seed + 1000 * it + k)
            collected += res.collected
            self.trajectories.append({"iteration": it, "start": k, "broke": bool(res.broke),
                                      "grades": [float(g) for g in res.grades]})
            max_grade = max(max_grade, res.max_grade)
            broke += res.broke
            steps += res.steps
        chosen = aset.select(collected, threshold=self.select_threshold, max_count=self.max_selected,
                             update=False) if collected else []
        selected = new_structures([collected[k] for k in chosen], self.training + self.failed)
        for a in selected:  # kept with the reference data: when and why it was chosen
            a.info["selected_grade"] = float(a.info.pop("mtp_grade", np.nan))
            a.info["selected_iteration"] = it
        done, failed = self.compute_references(selected)
        self.failed.extend(failed)
        self._add(done)
        rmse = None
        if done:
            self.retrain()
            rep = error_report(self.pot, self.training)
            rmse = {k: rep[k] for k in ("energy_rmse", "force_rmse", "stress_rmse")}
        self.converged = not collected and not broke and not self.failed
        self.iteration += 1
        row = {"iteration": it, "md_steps": steps, "collected": len(collected), "selected": len(selected),
               "reference_calls": self.reference_calls - calls_before,
               "failed": self.reference_failures - failures_before,
               "runs_stopped": broke, "max_grade": max_grade, "training_size": len(self.training),
               "training_rmse": rmse, "seconds": time.perf_counter() - t0}
        self.log.append(row)
        self._save_state()
        log.info("iteration %d: %s", it, row)
        return row
