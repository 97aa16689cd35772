"""Speed of the LAMMPS pair style mtp against the Numba core and the fix-external path.

Rattled fcc Cu (``emt_cu/big2048.cfg``: 2048 atoms, and that cell repeated 2x2x2: 16 384
atoms), one-species MTPs of levels 16 and 20 (cutoff 5 A, ~45 neighbours; the random
coefficients of bench_eval.py).  LAMMPS runs ``lmp`` on 1 and 2 MPI ranks with the
structure held fixed (``run N`` without an integrator: every step a full force, energy and
virial evaluation with its communication, no neighbour-list rebuilds), grades off, every
10 steps and every step (``fix pair N mtp grade 1``, neighbourhood mode, the costlier
one).  The cost of grades every 10 steps is reported as a tenth of the measured cost of
grades every step (the direct every-10 measurement is printed too but lies within the
machine's timing noise).  The
figure is LAMMPS' own ``Performance`` line (katom-step/s) turned into µs/atom-step, best of
``--repeats`` runs.  In the same run: the Numba core on one thread (energy + forces +
stress, neighbour list reused) and the fix-external path (LAMMPS NVE with the Numba core
in a Python callback, 2048 atoms).  Reference: MLIP-2 ``mlp calc-efs`` 58 µs/atom at
level 16 on these machines.

    python benchmarks/bench_lammps.py [--data ../shared/data] [--repeats 3]

The last line reads ``level16_1rank_us=... speedup_2ranks_16384=... grade_cost_pct=...``.
"""
import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numba
import numpy as np
from ase.build import bulk

from pyiron_mtp.active import ActiveSet
from pyiron_mtp.cfg import read_cfg
from pyiron_mtp.core.neighbors import NeighborList
from pyiron_mtp.lammps import write_active_set
from pyiron_mtp.lammps.callback_md import LammpsMD
from pyiron_mtp.lammps.runtime import run_lammps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval import MLIP2_US_PER_ATOM, best_time, potential  # noqa: E402

TARGET_US = 17.0


def lammps_us(folder, pot_file, n_atoms, cores, grades, est_us, repeats):
    """µs per atom-step from LAMMPS' Performance line (best of repeats); ``grades``: 0 (off)
    or every how many steps."""
    steps = int(max(20, min(500, round(4.0 / (n_atoms * est_us * 1e-6) / 10) * 10)))
    style = f"pair_style mtp {pot_file} species Cu" + (" grade active.bin" if grades else "")
    lines = ["units metal", "atom_style atomic", f"read_data structure{n_atoms}.data", style,
             "pair_coeff * * Cu", "neighbor 1.0 bin", "neigh_modify every 1000000 check no"]
    if grades:
        lines += [f"fix g all pair {grades} mtp grade 1", "compute gmax all reduce max f_g",
                  "thermo_style custom step pe c_gmax", "thermo 10"]
    lines += ["run 10", f"run {steps}"]
    best = np.inf
    for _ in range(repeats):
        log = run_lammps("\n".join(lines) + "\n", folder, cores=cores)
        perf = [ln for ln in log.read_text().splitlines() if ln.startswith("Performance:")][-1]
        katom = float(re.search(r"([\d.]+) katom-step/s", perf).group(1))
        best = min(best, 1e3 / katom)
    return best


def numba_us(pot, atoms, repeats):
    numba.set_num_threads(1)
    types = np.zeros(len(atoms), int)
    nl = NeighborList(pot.max_dist, skin=0.0)
    pos, cell = atoms.positions, atoms.cell.array
    pot.evaluate(pos, cell, True, types, neighbor_list=nl)
    t = best_time(lambda: pot.evaluate(pos, cell, True, types, neighbor_list=nl), repeats, min_total=1.0)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return t / len(atoms) * 1e6


def callback_us(pot, atoms, steps=20):
    md = LammpsMD(pot, atoms, ensemble="nve", temperature=0.0, steps=steps, timestep=1e-6,
                  thermo_every=steps)   # positions held (a tiny timestep): force evaluations only
    t0 = time.perf_counter()
    md.run()
    return (time.perf_counter() - t0) / (steps + 1) / len(atoms) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--levels", type=int, nargs="+", default=[16, 20])
    args = ap.parse_args()
    big = read_cfg(Path(args.data) / "emt_cu" / "big2048.cfg", species=["Cu"])[0]
    structures = {2048: big, 16384: big.repeat(2)}
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n, atoms in structures.items():
            ase.io.write(folder / f"structure{n}.data", atoms, format="lammps-data", specorder=["Cu"], masses=True)
        print(f"{'level':>5} {'atoms':>6} {'Numba 1thr':>10} {'1 rank':>8} {'2 ranks':>8} {'speed-up':>8} "
              f"{'1r grades/10':>12} {'2r grades/10':>12} {'1r grades/1':>10} {'cost /10':>10} {'callback':>9} "
              f"{'vs Numba':>8} {'vs MLIP-2':>9}   (µs/atom-step)")
        for level in args.levels:
            pot = potential(level)
            pot.trained = True
            pot_file = folder / f"cu{level}.mtp"
            pot.to_file(pot_file)
            train = []
            for seed in range(3):   # active set from rattled 108-atom cells
                a = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
                a.rattle(0.08, seed=seed)
                train.append(a)
            aset = ActiveSet.build(pot, train, mode="neighborhood")
            write_active_set(aset, folder / "active.bin")
            for n, atoms in structures.items():
                nb = numba_us(pot, atoms, 3)
                r1 = lammps_us(folder, pot_file.name, n, 1, 0, nb, args.repeats)
                r2 = lammps_us(folder, pot_file.name, n, 2, 0, nb / 2, args.repeats)
                g1 = lammps_us(folder, pot_file.name, n, 1, 10, nb, args.repeats)
                g2 = lammps_us(folder, pot_file.name, n, 2, 10, nb / 2, args.repeats)
                every = lammps_us(folder, pot_file.name, n, 1, 1, nb, args.repeats)
                cb = callback_us(pot, atoms) if n == 2048 else float("nan")
                # the cost of one graded step is measured where it is large (grades every step);
                # every 10 steps costs a tenth of it (the measured every-10 figure is within the noise)
                cost = 100 * (every / r1 - 1) / 10
                print(f"{level:5d} {n:6d} {nb:10.2f} {r1:8.2f} {r2:8.2f} {r1 / r2:8.2f} {g1:12.2f} {g2:12.2f} "
                      f"{every:10.2f} {cost:9.1f}% {cb:9.2f} {nb / r1:8.2f} {MLIP2_US_PER_ATOM / r1:9.2f}",
                      flush=True)
                summary[(level, n)] = dict(r1=r1, r2=r2, cost=cost, nb=nb)
    s16 = summary.get((16, 2048), summary[next(iter(summary))])
    big16 = summary.get((16, 16384), s16)
    costs = [v["cost"] for v in summary.values()]
    print(f"targets: level 16 one rank <= {TARGET_US} µs/atom and <= Numba one thread; >= 1.8x on 2 ranks "
          f"at 16384 atoms; grades every 10 steps <= 10 %")
    print(f"level16_1rank_us={s16['r1']:.2f} numba_1thread_us={s16['nb']:.2f} "
          f"speedup_2ranks_16384={big16['r1'] / big16['r2']:.2f} grade_cost_pct={max(costs):.1f}")


if __name__ == "__main__":
    main()
