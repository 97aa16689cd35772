"""Active vs passive learning: Cu, 108 atoms, NVT MD ramped 300 -> 1500 K, EMT reference.

Active: learning on the fly with the MTP sampling that MD until a full run stays
below the select threshold; its reference calls are counted.  Passive: N uniformly
spaced snapshots of a reference (EMT) MD with the same protocol, for increasing N.
Both final potentials are trained from scratch with the same budget
(``--final-iter``) on their data and tested on an independent reference
trajectory; N is the smallest count whose test force RMSE is at or below the
active one.

Reference calls of passive learning: the snapshots come from a reference MD, which
computes every one of its steps (ab initio MD), so passive learning costs the
steps of that MD however few snapshots it keeps; the benchmark prints both that
figure (the last line) and N, the number of reference results in its training set.
Also prints the cost of grade monitoring per MD step (ASE and LAMMPS samplers).

    python benchmarks/bench_active.py [--level 16] [--steps 2000] [--mode neighborhood]
    python benchmarks/bench_active.py --costs-only --level 16 --mode neighborhood   # monitoring cost only

Last line: reference_calls_active=... reference_calls_passive=... ratio=...
"""
import argparse
import time
import warnings

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from pyiron_mtp import MTP, MTPCalculator
from pyiron_mtp.active import ActiveSet
from pyiron_mtp.on_the_fly import LearningOnTheFly, MDProtocol
from pyiron_mtp.training import error_report, train


def start():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)


def reference_md(steps, seed, every=1, t=(300.0, 1500.0)):
    """EMT Langevin MD with a linear temperature ramp; snapshots with EMT results."""
    atoms = start()
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=t[0], rng=rng)
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=t[0], friction=0.01 / units.fs, rng=rng)
    out = []
    for k in range(steps):
        dyn.set_temperature(temperature_K=t[0] + (t[1] - t[0]) * k / max(1, steps - 1))
        dyn.run(1)
        if k % every == every - 1:
            snap = atoms.copy()
            snap.calc = SinglePointCalculator(snap, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                              stress=atoms.get_stress())
            out.append(snap)
    return out


def step_cost(pot, training, mode, steps=300, repeats=5):
    """Seconds per MD step without and with grade monitoring (ASE Langevin), best of repeats."""
    aset = ActiveSet.build(pot, training, mode=mode)
    out = {"plain": np.inf, "graded": np.inf}
    for _ in range(repeats):
        for label, a in (("plain", None), ("graded", aset)):
            atoms = start()
            atoms.calc = MTPCalculator(pot, active_set=a)
            MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
            dyn = Langevin(atoms, 2 * units.fs, temperature_K=300, friction=0.01 / units.fs,
                           rng=np.random.default_rng(0))
            dyn.run(5)
            t0 = time.perf_counter()
            dyn.run(steps)
            out[label] = min(out[label], (time.perf_counter() - t0) / steps)
    return out


def lammps_step_cost(pot, training, mode, steps=1000, repeats=5):
    from pyiron_mtp.lammps.callback_md import LammpsMD
    aset = ActiveSet.build(pot, training, mode=mode)
    out = {"plain": np.inf, "graded": np.inf}
    for _ in range(repeats):
        for label, a in (("plain", None), ("graded", aset)):
            md = LammpsMD(pot, start(), ensemble="nvt", temperature=300, steps=steps, active_set=a,
                          break_threshold=1e12, select_threshold=1e11, thermo_every=steps)
            t0 = time.perf_counter()
            md.run()
            out[label] = min(out[label], (time.perf_counter() - t0) / steps)
    return out


def print_costs(pot, training, mode):
    ase_cost = step_cost(pot, training, mode)
    lmp_cost = lammps_step_cost(pot, training, mode)
    for label, c in (("ASE Langevin", ase_cost), ("LAMMPS nvt", lmp_cost)):
        print(f"{label}, 108 atoms, level {pot.level}, {mode} grades: "
              f"{c['plain'] * 1e3:.3f} ms/step plain, {c['graded'] * 1e3:.3f} ms/step with grades; "
              f"monitoring overhead {100 * (c['graded'] / c['plain'] - 1):.0f} %", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000, help="MD steps (2 fs) of the 300 -> 1500 K ramp")
    ap.add_argument("--train-iter", type=int, default=60)
    ap.add_argument("--max-iterations", type=int, default=60)
    ap.add_argument("--mode", default="configuration")
    ap.add_argument("--max-selected", type=int, default=10, help="batch limit per iteration")
    ap.add_argument("--final-iter", type=int, default=300, help="training budget of both final potentials")
    ap.add_argument("--costs-only", action="store_true",
                    help="only the per-step cost of grade monitoring, for a potential trained on 20 snapshots "
                         "of a reference MD")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.costs_only:
        training = reference_md(args.steps, seed=303, every=max(1, args.steps // 20))
        pot, _ = train(training, ["Cu"], level=args.level, min_dist=2.0, max_dist=5.0,
                       max_iter=args.train_iter, progress=False)
        print_costs(pot, training, args.mode)
        return

    t0 = time.perf_counter()
    test = reference_md(args.steps, seed=101, every=max(1, args.steps // 50))
    print(f"independent test trajectory: {len(test)} snapshots ({time.perf_counter() - t0:.0f} s)", flush=True)

    t0 = time.perf_counter()
    pot0 = MTP.from_level(args.level, ["Cu"], 2.0, 5.0)
    otf = LearningOnTheFly(pot0, EMT, [start()], MDProtocol(temperature=(300.0, 1500.0), steps=args.steps),
                           max_iterations=args.max_iterations, train_iter=args.train_iter, mode=args.mode,
                           rattle=0.05, n_initial=2, max_selected=args.max_selected, seed=7)
    otf.run(progress=False)
    active_calls = otf.reference_calls
    pot_active, _ = train(otf.training, ["Cu"], level=args.level, min_dist=2.0, max_dist=5.0,
                          max_iter=args.final_iter, progress=False)
    rep_a = error_report(pot_active, test)
    print(f"active: {active_calls} reference calls, {otf.iteration} iterations, converged={otf.converged}, "
          f"test force RMSE {rep_a['force_rmse']:.4f} eV/A, energy {rep_a['energy_rmse']:.3f} meV/atom "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)

    pool = reference_md(args.steps, seed=202)
    passive_calls = None
    for n in (5, 10, 20, 40, 80, 160, 320, 640, 1280):
        if n > len(pool):
            break
        idx = np.linspace(0, len(pool) - 1, n).round().astype(int)
        pot_p, _ = train([pool[k] for k in idx], ["Cu"], level=args.level, min_dist=2.0,
                         max_dist=5.0, max_iter=args.final_iter, progress=False)
        rep = error_report(pot_p, test)
        print(f"passive: {n:5d} snapshots, test force RMSE {rep['force_rmse']:.4f} eV/A, "
              f"energy {rep['energy_rmse']:.3f} meV/atom", flush=True)
        if rep["force_rmse"] <= rep_a["force_rmse"]:
            passive_calls = n
            break
    print_costs(pot_active, otf.training, args.mode)
    if passive_calls is None:
        passive_calls = len(pool)
        print(f"passive learning did not reach the active test error with up to {len(pool)} snapshots")
    print(f"training-set size: active {len(otf.training)}, passive {passive_calls} snapshots "
          f"(ratio {passive_calls / len(otf.training):.2f})")
    print(f"passive learning runs the reference MD of {len(pool)} steps to take its {passive_calls} snapshots")
    print(f"reference_calls_active={active_calls} reference_calls_passive={len(pool)} "
          f"ratio={len(pool) / active_calls:.2f}")


if __name__ == "__main__":
    main()
