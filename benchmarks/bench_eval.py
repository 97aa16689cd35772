"""Evaluation speed: energy + forces + stress of one-species MTPs on rattled fcc Cu.

Prints µs/atom for levels 16 and 20 on 108 and 2048 atoms (after JIT warm-up,
best of several repeats, neighbour list reused and timed separately), the
speed-up on all threads, the whole-process time of `pyiron-mtp calc-efs` on
10 copies of the 2048-atom cell (best of 3), and the first-call JIT time (cold cache and
cached) in fresh processes.  Reference (same machines): MLIP-2 `mlp calc-efs`
about 58 µs/atom whole process at level 16.

    python benchmarks/bench_eval.py [--data ../shared/data]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from ase.build import bulk

from pyiron_mtp import MTP
from pyiron_mtp.cfg import read_cfg, write_cfg
from pyiron_mtp.core.neighbors import NeighborList

MLIP2_US_PER_ATOM = 58.0  # mlp calc-efs, level 16, whole process


def potential(level):
    pot = MTP.from_level(level, ["Cu"], 1.7, 5.0)
    r = np.random.default_rng(0)
    pot.radial_coeffs = r.normal(size=pot.radial_coeffs.shape)
    pot.moment_coeffs = r.normal(size=pot.n_basis) * 1e-3
    return pot


def best_time(fn, repeats, min_total=0.3):
    """Best of at least ``repeats`` calls, repeated until ``min_total`` seconds have passed
    (short calls get many tries, so a burst of host noise does not decide the figure)."""
    best = np.inf
    t_start = time.perf_counter()
    k = 0
    while k < repeats or time.perf_counter() - t_start < min_total:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        k += 1
    return best


def bench_structure(pot, atoms, threads, repeats):
    types = np.zeros(len(atoms), int)
    nl = NeighborList(pot.max_dist, skin=0.0)
    pos, cell, pbc = atoms.positions, atoms.cell.array, atoms.pbc

    def rebuild():
        nl._ref = None
        nl.update(pos, cell, pbc)

    rebuild()
    t_nl = best_time(rebuild, repeats)
    out = {"nl": t_nl / len(atoms) * 1e6}
    for th in threads:
        numba.set_num_threads(th)
        pot.evaluate(pos, cell, pbc, types, neighbor_list=nl)  # warm-up
        t = best_time(lambda: pot.evaluate(pos, cell, pbc, types, neighbor_list=nl), repeats)
        out[th] = t / len(atoms) * 1e6
    numba.set_num_threads(max(threads))
    return out


def jit_times():
    code = ("import time; t=time.time(); import numpy as np; from ase.build import bulk; "
            "from pyiron_mtp import MTP; p=MTP.from_level(16,['Cu'],1.7,5.0); a=bulk('Cu',cubic=True).repeat(3); "
            "p.evaluate(a.positions,a.cell.array,True,np.zeros(len(a),int)); print(time.time()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
        warm = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
    return cold, warm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    big = read_cfg(Path(args.data) / "emt_cu" / "big2048.cfg", species=["Cu"])[0]
    small = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    small.rattle(0.08, seed=1)
    threads = sorted({1, numba.config.NUMBA_NUM_THREADS})
    print(f"threads available: {numba.config.NUMBA_NUM_THREADS}")
    print(f"{'level':>5} {'atoms':>6} {'nl µs/atom':>11} " + " ".join(f"{f'{t} thr µs/atom':>14}" for t in threads)
          + f" {'speed-up':>9} {'vs MLIP-2':>9}")
    for level in (16, 20):
        pot = potential(level)
        for atoms in (small, big):
            r = bench_structure(pot, atoms, threads, args.repeats)
            speedup = r[threads[0]] / r[threads[-1]]
            print(f"{level:5d} {len(atoms):6d} {r['nl']:11.2f} " + " ".join(f"{r[t]:14.2f}" for t in threads)
                  + f" {speedup:9.2f} {MLIP2_US_PER_ATOM / (r[1] + r['nl']):9.2f}")
    # whole process calc-efs on 10 copies of big2048
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big10.cfg"
        write_cfg(src, [big] * 10, species=["Cu"])
        pot_path = Path(tmp) / "p16.mtp"
        p = potential(16)
        p.trained = True
        p.to_file(pot_path)
        cmd = [sys.executable, "-m", "pyiron_mtp.cli", "calc-efs", str(pot_path), str(src),
               str(Path(tmp) / "out.cfg"), "--species", "Cu", "-q"]
        whole = best_time(lambda: subprocess.run(cmd, check=True), 3, min_total=0.0)
    n = 10 * len(big)
    print(f"calc-efs whole process, 10 x 2048 atoms, level 16: {whole:.2f} s = {whole / n * 1e6:.1f} µs/atom; "
          f"MLIP-2 {MLIP2_US_PER_ATOM:.0f} µs/atom; ratio {MLIP2_US_PER_ATOM / (whole / n * 1e6):.2f}x")
    cold, warm = jit_times()
    print(f"first call in a fresh process (import + JIT + 108 atoms): cold cache {cold:.1f} s, cached {warm:.1f} s")


if __name__ == "__main__":
    main()
