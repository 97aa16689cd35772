"""Does the liquid's free energy depend on the Uhlenbeck-Ford reference it is switched to?

It must not: G_l from the UF fluid of width sigma (and p = 50) is exact for every sigma once the
switching is reversible.  This computes G_l(T) of one row's liquid with the given sigmas (same
atoms, repetitions and switching steps each) and prints each with its error, x (the UF reduced
density) and the switchings' dissipation; a difference beyond the errors is a bias of the path.

    python benchmarks/uf_sigma_check.py --row w --temperature 4837 --sigmas 1.5 1.7 1.85
    python benchmarks/uf_sigma_check.py --row cu --temperature 1320 --atoms 500 --sigmas 1.5 1.65

Stages are kept in ``--workdir/<row>_<atoms>_sigma<s>[_steps<n>]``; a rerun reads them back.  The last line
reads ``row=... sigmas=... g=... err=... max_diff_sigma=...``.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench_melting_matrix import ROWS, potential_of
from pyiron_mtp.free_energy.engine import free_energy
from pyiron_mtp.free_energy.protocol import Protocol
from pyiron_mtp.free_energy.reference import uf_x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="w", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--temperature", type=float, default=4837.0)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[1.5, 1.7, 1.85])
    ap.add_argument("--atoms", type=int, default=432, help="atoms asked for; the liquid starts from the nearest fcc cell (432 -> 500)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--switching-steps", type=int, default=50000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", default="uf_sigma")
    args = ap.parse_args()
    pot = potential_of(args.row, None)
    suffix = "" if args.switching_steps == 50000 else f"_steps{args.switching_steps}"
    rows = []
    for sigma in args.sigmas:
        t0 = time.time()
        p = Protocol(switching_steps=args.switching_steps, switching_doublings=0, uf_sigma=sigma)
        folder = Path(args.workdir) / f"{args.row}_{args.atoms}_sigma{sigma}{suffix}"
        res = free_energy(pot, "liquid", args.temperature, atoms=args.atoms, repeats=args.repeats, protocol=p,
                          cores=args.cores, workdir=folder, progress=False)
        diss = [r.get("dissipation") for r in res.repetitions]
        x = uf_x(1.0 / float(res.volume), sigma)
        rows.append((sigma, float(res.free_energy), float(res.free_energy_error)))
        print(f"{args.row} liquid {res.atoms} atoms, {args.temperature:.0f} K, sigma {sigma} A (x = {x:.3f}): "
              f"G = {res.free_energy:.5f} +- {res.free_energy_error:.5f} eV/atom, dissipation "
              + ", ".join(f"{d * 1e3:.2f}" for d in diss) + f" meV/atom ({(time.time() - t0) / 60:.1f} min)",
              flush=True)
        (Path(args.workdir) / "results.jsonl").open("a").write(json.dumps(
            {"row": args.row, "T": args.temperature, "atoms": res.atoms, "sigma": sigma, "x": x,
             "switching_steps": args.switching_steps, "G": float(res.free_energy),
             "err": float(res.free_energy_error), "dissipation": diss}) + "\n")
    g = np.array([r[1] for r in rows])
    e = np.array([r[2] for r in rows])
    d = np.abs(g[:, None] - g[None, :]) / np.hypot(e[:, None], e[None, :] + 1e-12)
    print(f"row={args.row} sigmas={','.join(str(r[0]) for r in rows)} g={','.join(f'{x:.5f}' for x in g)} "
          f"err={','.join(f'{x:.5f}' for x in e)} max_diff_sigma={d.max():.1f}")


if __name__ == "__main__":
    main()
