"""An ab initio melting point: an MTP learned on the fly from the reference (DFT), its melting
point from free energies, then free-energy perturbation (upsampling) to the reference in small
cells of both phases (in the spirit of Zhu et al., PRB 96, 224202 (2017) and PRB 101, 144108
(2020), with the MTP in place of their fitted references).

Stages, each kept in its folder of ``workdir`` and read back on a rerun (an interrupted run
continues; no reference result is computed twice):

1. ``learning/``: the MTP learns on the fly from the reference while it runs NPT MD in LAMMPS (pair
   style ``mtp``, grades every step) in cells of ``cell_atoms`` atoms: a crystal heated through
   its melting point and a liquid cooled towards it.
2. ``melting/``: T_m of the MTP from free energies (:func:`~.melting.melting_point`), with the
   entropy of melting dS = L / T_m.
3. ``upsampling/<phase>/``: at T_m(MTP), uncorrelated MD snapshots of the MTP in cells of
   ``cell_atoms`` atoms of the solid and the liquid, each computed with the reference;
   dF = F_ref - F_MTP per atom by the exponential average (its bootstrap error, the effective
   sample size and the second-order cumulant are reported).
4. T_m(reference) = T_m(MTP) + (dF_liquid - dF_solid) / dS, to first order in the shift; its error
   combines the MTP's T_m error and the two upsampling errors.

Units: K, eV/atom, eV/K/atom.  The reference: an ASE calculator factory (a picklable callable
returning a fresh calculator, as for :class:`~pyiron_mtp.on_the_fly.LearningOnTheFly`).
"""
from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..ledger import ReferenceLedger

__all__ = ["ab_initio_melting_point", "AbInitioMeltingResult", "CachedReferences", "shifted_melting_point"]

log = logging.getLogger(__name__)


@dataclass
class AbInitioMeltingResult:
    """T_m of the reference (K) with its error, and every stage's figures."""

    melting_temperature: float
    melting_temperature_error: float
    mtp_melting_temperature: float
    mtp_melting_temperature_error: float
    entropy_of_melting: float              # eV/K/atom (MTP)
    upsampling: dict = field(default_factory=dict)      # phase -> PerturbationResult.summary()
    reference_calls: dict = field(default_factory=dict)  # stage -> number of reference results
    minutes: dict = field(default_factory=dict)          # stage -> wall minutes (summed over reruns)
    cpu_minutes: dict = field(default_factory=dict)      # stage -> CPU minutes (this process + children)
    flags: list = field(default_factory=list)
    workdir: str = ""

    def summary(self):
        return asdict(self)


class _StageClock:
    """Wall and CPU minutes per stage (CPU of this process and its finished children: LAMMPS runs,
    reference worker processes once they are shut down), added up over reruns in
    ``workdir/timing.json``.  While a stage runs the file is brought up to date every ``interval``
    seconds, so a run that is killed loses at most that much of its wall time."""

    def __init__(self, workdir, interval=30.0):
        self.path = Path(workdir) / "timing.json"
        self.interval = float(interval)
        self.wall = {}
        self.cpu = {}
        if self.path.exists():
            d = json.loads(self.path.read_text())
            self.wall, self.cpu = d.get("wall_minutes", {}), d.get("cpu_minutes", {})
        self._stage, self._stop_event, self._thread = None, None, None
        self._lock = threading.Lock()

    @staticmethod
    def _cpu():
        import os
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self, stage):
        """Start timing ``stage`` (continuing the minutes recorded for it before)."""
        self._stage = stage
        self._base = (self.wall.get(stage, 0.0), self.cpu.get(stage, 0.0))
        self._t, self._c = time.time(), self._cpu()
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self):
        while not self._stop_event.wait(self.interval):
            self._update()

    def _update(self):
        with self._lock:
            stage = self._stage
            self.wall[stage] = self._base[0] + (time.time() - self._t) / 60
            self.cpu[stage] = self._base[1] + (self._cpu() - self._c) / 60
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"wall_minutes": self.wall, "cpu_minutes": self.cpu}, indent=1))
            tmp.replace(self.path)

    def stop(self):
        """Stop timing the current stage and write its minutes."""
        self._stop_event.set()
        self._thread.join()
        self._update()

    @contextmanager
    def stage(self, name):
        """Time the block as stage ``name`` (stopped also when the block raises)."""
        self.start(name)
        try:
            yield
        finally:
            self.stop()


def shifted_melting_point(tm, tm_err, entropy, df_solid, err_solid, df_liquid, err_liquid):
    """T_m after adding dF (eV/atom) to each phase's free energy, to first order:
    T_m + (dF_l - dF_s) / dS, and its error from the three independent errors."""
    if not entropy > 0:
        raise ValueError(f"entropy of melting must be positive, got {entropy}")
    t = tm + (df_liquid - df_solid) / entropy
    e = float(np.sqrt(tm_err ** 2 + (err_solid ** 2 + err_liquid ** 2) / entropy ** 2))
    return float(t), e


class CachedReferences:
    """An executor that keeps every reference result in a :class:`~pyiron_mtp.ledger.ReferenceLedger`
    in ``folder``: a structure computed before is read back, never computed again (the upsampling
    of an interrupted run continues).  ``executor``: where new calculations run (default: here)."""

    def __init__(self, folder, executor=None, stage="upsampling"):
        self.ledger = ReferenceLedger(folder)
        self.executor, self.stage = executor, stage

    def submit(self, fn, atoms, reference):
        known = self.ledger.lookup(atoms)
        if known is not None:
            fut = Future()
            fut.set_result(known)
            return fut
        inner = None if self.executor is None else self.executor.submit(fn, atoms, reference)

        class _Recorded:
            def result(_self):
                res = inner.result() if inner is not None else fn(atoms, reference)
                self.ledger.record(atoms, *res, self.stage)
                return res
        return _Recorded()


def _learning_starts(species, lattice, cell_atoms, seed):
    from .engine import make_structure
    solid = make_structure(species, lattice, cell_atoms)
    liquid = solid.copy()
    liquid.rattle(0.25, seed=seed)          # a disordered start; the MD at high temperature melts it
    liquid.set_cell(liquid.cell.array * 1.03, scale_atoms=True)
    return [solid, liquid]


def phase_snapshots(potential, phase, temperature, lattice, atoms, folder, count, interval, seed=11, protocol=None,
                    attempts=3, liquid_vacancies=0):
    """``count`` MD snapshots (ASE Atoms), ``interval`` steps apart, of ``phase`` in a cell of about
    ``atoms`` atoms (the liquid ``liquid_vacancies`` fewer) at ``temperature`` (K) and zero pressure: NPT
    equilibration (a liquid is melted first), then NVT at the mean volume.  A phase that does not stay itself (a small liquid near
    T_m may crystallise) is tried again with another seed, ``attempts`` times."""
    from ..lammps.dump import read_dump
    from . import stages
    from .engine import PhaseError, check_phase, read_lammps_data, StageRunner, scaled_to_box, equilibrate, make_structure
    from .protocol import Protocol
    p = protocol or Protocol()
    liquid = phase == "liquid"
    start = make_structure(potential.species, lattice, atoms)
    if liquid and liquid_vacancies:
        # fewer atoms than the crystal: the liquid cannot refreeze into its box.  The snapshots then
        # differ in atom count from the cells the MTP learned on, and a DFT setting with few
        # k-points has a different k-point error per atom there (Al, 2x2x2: 30 atoms ~15 meV/atom
        # away from 32 in the same liquid) - which the upsampling would count as the MTP's error.
        if not 0 < liquid_vacancies < len(start) // 2:
            raise ValueError(f"liquid_vacancies must be between 0 and {len(start) // 2}, got {liquid_vacancies}")
        del start[list(range(0, len(start), len(start) // liquid_vacancies))[:liquid_vacancies]]
    last = None
    for k in range(attempts):
        s = seed + 1000 * k
        runner, tag = StageRunner(potential, Path(folder), 1, None), f"seed{s}"
        try:
            eq = equilibrate(runner, potential, phase, lattice, start, temperature, 0.0, p, s, tag, [])
            eq_start = scaled_to_box(read_lammps_data(runner.workdir / tag / "equilibration" / "equilibrated.data",
                                             potential.species), eq["box"])
            rc = stages.order_parameters(lattice, eq["volume"])
            sn = runner(stages.snapshots(potential, p, temperature, rc, s + 7, count, interval), f"{tag}/snapshots",
                        eq_start)
            check_phase(sn, phase, "snapshots", temperature, p, [], lattice)
        except PhaseError as exc:
            log.warning("%s in %d atoms at %.0f K (seed %d): %s; trying another seed", phase, len(start),
                        temperature, s, exc)
            last = exc
            continue
        return read_dump(runner.workdir / tag / "snapshots" / "frames.dump", potential.species)[-count:]
    raise PhaseError(f"no {phase} of {len(start)} atoms stayed {phase} at {temperature:.0f} K in {attempts} "
                     f"attempts (last: {last}); use more atoms", phase=phase, stage="snapshots",
                     temperature=temperature)


def ab_initio_melting_point(reference, species, lattice="fcc", *, temperatures, workdir, cell_atoms=32,
                            level=16, min_dist=2.0, max_dist=5.0, learn_steps=3000, max_iterations=20,
                            max_selected=8, train_iter=100, melting_atoms=500, melting_kwargs=None,
                            snapshots=40, interval=200, workers=1, seed=11, progress=True):
    """T_m of ``reference`` (module docstring).

    ``temperatures``: (low, high) K of the learning MD - the crystal is heated from low to high
    (high well above T_m: it melts), the liquid cooled from high to low; ``cell_atoms``: atoms in
    the cells computed with the reference (learning and upsampling); ``melting_atoms`` and
    ``melting_kwargs``: the MTP melting point (:func:`~.melting.melting_point`, default method
    "free_energy" with the coexistence-free heating estimate); ``snapshots`` per phase,
    ``interval`` MD steps apart; ``workers``: reference calculations at once (processes)."""
    from concurrent.futures import ProcessPoolExecutor
    from ..active import ActiveSet
    from ..on_the_fly import LammpsProtocol, LearningOnTheFly
    from ..potential import MTP
    from ..calculator import MTPCalculator
    from .melting import melting_point
    from .perturbation import upsample
    from .potential import LammpsPotential
    t_low, t_high = (float(t) for t in temperatures)
    if not 0 < t_low < t_high:
        raise ValueError(f"temperatures must be (low, high) with 0 < low < high, got {temperatures}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    species = list(species)
    calls, flags = {}, []
    clock = _StageClock(workdir)

    def pool():
        return ProcessPoolExecutor(workers) if workers > 1 else None

    # 1. learning on the fly
    with clock.stage("learning"):
        starts = _learning_starts(species, lattice, cell_atoms, seed)
        protocols = [LammpsProtocol(ensemble="npt", temperature=(t_low, t_high), steps=learn_steps, timestep=2.0),
                     LammpsProtocol(ensemble="npt", temperature=(t_high, t_low), steps=learn_steps, timestep=2.0)]
        executor = pool()
        try:
            otf = LearningOnTheFly(MTP.from_level(level, species, min_dist, max_dist), reference, starts, protocols,
                                   species=species, mode="neighborhood", max_iterations=max_iterations,
                                   max_selected=max_selected, train_iter=train_iter, workdir=workdir / "learning",
                                   executor=executor, seed=seed)
            pot = otf.run(progress=progress)
        finally:
            if executor is not None:
                executor.shutdown()
        calls["learning"] = otf.reference_calls
        if not otf.converged:
            flags.append(f"learning on the fly stopped after {otf.iteration} iterations without converging")
        active = ActiveSet.build(pot, otf.training, mode="neighborhood")
        lpot = LammpsPotential.from_mtp(pot, active)

    # 2. melting point of the MTP
    with clock.stage("melting"):
        kwargs = dict(method="free_energy", atoms=melting_atoms, parallel=2, progress=progress)
        kwargs.update(melting_kwargs or {})
        mres = melting_point(lpot, lattice, workdir=workdir / "melting", **kwargs)
        tm, tm_err = mres.melting_temperature, mres.melting_temperature_error
        ds = mres.entropy_of_melting
        flags += [f"melting: {f}" for f in mres.flags]

    # 3. upsampling in small cells of both phases at T_m(MTP)
    up = {}
    for phase in ("solid", "liquid"):
        with clock.stage(f"upsampling_{phase}"):
            folder = workdir / "upsampling" / phase
            frames = phase_snapshots(lpot, phase, tm, lattice, cell_atoms, folder, snapshots, interval, seed,
                                     protocol=(melting_kwargs or {}).get("protocol"))
            executor = pool()
            try:
                cache = CachedReferences(folder / "references", executor)
                pert = upsample(frames, MTPCalculator(pot), reference, tm, executor=cache, progress=progress)
            finally:
                if executor is not None:
                    executor.shutdown()
            up[phase] = {**pert.summary(), "delta_e": list(pert.delta_e)}     # delta_e: eV/atom per snapshot
            calls[f"upsampling_{phase}"] = len(cache.ledger.entries)
            if pert.effective_samples < 0.2 * pert.samples:
                flags.append(f"upsampling {phase}: effective sample size {pert.effective_samples:.1f} of "
                             f"{pert.samples}: the exponential average rests on few snapshots")
            if abs(pert.delta_f - pert.delta_f_cumulant) > max(2 * pert.delta_f_error, 1e-3):
                flags.append(f"upsampling {phase}: exponential average {pert.delta_f * 1e3:.2f} and cumulant "
                             f"{pert.delta_f_cumulant * 1e3:.2f} meV/atom differ: the MTP is far from the reference")

    # 4. the reference's melting point
    t, e = shifted_melting_point(tm, tm_err, ds, up["solid"]["delta_f"], up["solid"]["delta_f_error"],
                                 up["liquid"]["delta_f"], up["liquid"]["delta_f_error"])
    calls["total"] = sum(calls.values())
    res = AbInitioMeltingResult(t, e, tm, tm_err, ds, up, calls, dict(clock.wall), dict(clock.cpu), flags,
                                str(workdir))
    (workdir / "result.json").write_text(json.dumps(res.summary(), indent=1, default=float))
    return res
