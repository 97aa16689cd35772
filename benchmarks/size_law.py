"""Is a phase's free energy per atom linear in 1/N, and how far does the smallest size sit from
N -> infinity?  The check behind the finite-size correction of the melting point, for any row of
the matrix and either phase.

G(T) at three or more sizes - the solid by Frenkel-Ladd switching, the liquid by Uhlenbeck-Ford
switching (``--phase``; the same protocol at every size, switching without doublings, so the
sizes differ in N only) -, then a weighted least-squares line G = G_inf + b / N through all of
them, its residuals, G_inf from every pair of sizes (the measured correction uses the smallest
and the largest solid) and, for the solid, G + (3/2) kT ln N / N at every size (the crystal's
translation term, :func:`~pyiron_mtp.free_energy.reference.crystal_translation_term`, which the
melting point adds by default: flat in N if it is the whole size effect).  With ``--entropy``
(eV/K/atom, the row's entropy of melting) the shift of
T_m from the smallest size to N -> infinity is also given in K: -(G_inf - G_N) / dS for the solid,
+(G_inf - G_N) / dS for the liquid (dG = G_l - G_s falls with T at the rate dS).

    python benchmarks/size_law.py --row ni --temperature 1615 --sizes 500 1372 2048 --repeats 3 2 2
    python benchmarks/size_law.py --row fe --phase liquid --temperature 1774 --sizes 500 1024 2000 --repeats 3 2 2

Stages are kept in ``--workdir/<row>/<N>`` (the liquid's in ``<row>/liquid_<N>``); a rerun reads
them back.  The last line reads ``row=... phase=... g_inf=... slope=... max_residual_mev=...
tm_shift_smallest=...``.
"""
import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from bench_melting_matrix import ROWS, potential_of
from pyiron_mtp.free_energy.engine import free_energy
from pyiron_mtp.free_energy.melting import size_extrapolation
from pyiron_mtp.free_energy.protocol import Protocol
from pyiron_mtp.free_energy.reference import crystal_translation_term


def line_fit(n, g, e):
    """(G_inf, slope b, errors of both, residuals) of G = G_inf + b / N weighted by 1 / e^2."""
    x, w = 1.0 / np.asarray(n, float), 1.0 / np.asarray(e, float) ** 2
    a = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(a.T @ (a * w[:, None]))
    coef = cov @ (a.T @ (w * np.asarray(g, float)))
    return coef[0], coef[1], np.sqrt(cov[0, 0]), np.sqrt(cov[1, 1]), np.asarray(g) - a @ coef


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="ni", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--phase", default="solid", choices=["solid", "liquid"])
    ap.add_argument("--temperature", type=float, default=1615.0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1372, 2048])
    ap.add_argument("--repeats", type=int, nargs="+", default=[3, 2, 2])
    ap.add_argument("--switching-steps", type=int, default=50000)
    ap.add_argument("--entropy", type=float, default=None, help="entropy of melting (eV/K/atom)")
    ap.add_argument("--cores", type=int, default=1, help="MPI ranks per LAMMPS run (one run at a time)")
    ap.add_argument("--workdir", default="size_law")
    args = ap.parse_args()
    if len(args.repeats) != len(args.sizes):
        ap.error("give one --repeats per size")
    if args.repeats[0] < 2:
        ap.error("the smallest size needs at least 2 repetitions: its scatter sets the errors of single ones")
    lattice = ROWS[args.row][2]
    pot = potential_of(args.row, None)
    protocol = Protocol(switching_steps=args.switching_steps, switching_doublings=0)
    work = Path(args.workdir) / args.row
    t0 = time.time()
    n, g, e = [], [], []
    for size, reps in zip(args.sizes, args.repeats):
        folder = work / (str(size) if args.phase == "solid" else f"liquid_{size}")
        res = free_energy(pot, args.phase, args.temperature, lattice=lattice, atoms=size, repeats=reps,
                          protocol=protocol, cores=args.cores, workdir=folder, progress=False)
        err = float(res.free_energy_error) if reps > 1 else float("nan")
        n.append(res.atoms), g.append(float(res.free_energy)), e.append(err)
        name = lattice if args.phase == "solid" else "liquid"
        print(f"{args.row} {name} {res.atoms:5d} atoms, {reps} repetitions: G({args.temperature:.0f} K) = "
              f"{res.free_energy:.5f} +- {err:.5f} eV/atom ({(time.time() - t0) / 60:.1f} min)", flush=True)
    # a size with one repetition gets the scatter of the smallest size scaled by sqrt(N R)
    e0 = e[0] * np.sqrt(n[0] * args.repeats[0])
    e = [x if np.isfinite(x) else e0 / np.sqrt(m * r) for x, m, r in zip(e, n, args.repeats)]
    g_inf, b, eg, eb, resid = line_fit(n, g, e)
    print(f"line through all sizes: G_inf = {g_inf:.5f} +- {eg:.5f} eV/atom, slope {b:.3f} +- {eb:.3f} eV "
          f"(G per atom at {n[0]} atoms {b / n[0] * 1e3:+.2f} meV from the limit); residuals "
          + ", ".join(f"{m}: {r * 1e3:+.3f} meV ({r / s:+.1f} sigma)" for m, r, s in zip(n, resid, e)))
    for i, j in itertools.combinations(range(len(n)), 2):
        gi, ei = size_extrapolation(g[i], e[i], n[i], g[j], e[j], n[j])
        print(f"  from {n[i]} and {n[j]} atoms: G_inf = {gi:.5f} +- {ei:.5f}")
    dev_max = float("nan")
    if args.phase == "solid":
        # the crystal's translation term alone: G + (3/2) kT ln N / N should not depend on N
        gt = np.asarray(g) + np.array([crystal_translation_term(args.temperature, m) for m in n])
        w = 1.0 / np.asarray(e) ** 2
        mean = float(np.sum(w * gt) / np.sum(w))
        dev = gt - mean
        dev_max = float(np.max(np.abs(dev)) * 1e3)
        print(f"G + (3/2) kT ln N / N: " + ", ".join(f"{m}: {x:.5f}" for m, x in zip(n, gt))
              + f"; weighted mean {mean:.5f} +- {1 / np.sqrt(np.sum(w)):.5f} eV/atom, deviations "
              + ", ".join(f"{d * 1e3:+.3f} meV ({d / s:+.1f} sigma)" for d, s in zip(dev, e))
              + f"; G_inf from the line {(g_inf - mean) * 1e3:+.3f} meV from it")
    shift = float("nan")
    if args.entropy:
        shift = (-1 if args.phase == "solid" else 1) * (g_inf - g[0]) / args.entropy
        print(f"T_m of the {n[0]}-atom {args.phase} corrected by {shift:+.1f} K "
              f"(dS = {args.entropy:.3e} eV/K/atom); at N atoms: {shift:+.1f} x {n[0]} / N")
    print(f"row={args.row} phase={args.phase} g_inf={g_inf:.5f} slope={b:.3f} "
          f"max_residual_mev={np.max(np.abs(resid)) * 1e3:.3f} translation_max_dev_mev={dev_max:.3f} "
          f"tm_shift_smallest={shift:.1f} "
          f"minutes={(time.time() - t0) / 60:.1f}")


if __name__ == "__main__":
    main()
