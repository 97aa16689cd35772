"""A row's melting point from the speed of its solid-liquid interfaces at fixed temperatures.

A check of the NPH coexistence figure that needs no temperature to settle by itself: the
two-phase box of the coexistence method runs in NPT at each of ``--temperatures`` (K) and the
solid share's rate of change, fitted against T, crosses zero at T_m
(:func:`pyiron_mtp.free_energy.interface_velocity.interface_velocity_melting_point`).

    python benchmarks/interface_velocity.py --row pt --temperatures 1510 1525 1540 1555 1570

Runs are kept in ``--workdir/<row>``; a rerun reads them back.  Prints one row per run, writes
``<row>.json`` and ``<row>.png`` (rates against T) into the work folder; the last line reads
``row=... tm=... tm_err=... slope=... runs=... minutes=...``.
"""
import argparse
import json
import time
from pathlib import Path

from bench_melting_matrix import ROWS, potential_of
from pyiron_mtp.free_energy.interface_velocity import interface_velocity_melting_point


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="pt", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1510, 1525, 1540, 1555, 1570])
    ap.add_argument("--atoms", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50000, help="NPT steps of each two-phase run")
    ap.add_argument("--settle", type=float, default=10.0, help="ps at the start of each run left out of its rate")
    ap.add_argument("--cores", type=int, default=2, help="MPI ranks shared by the runs (one run per rank)")
    ap.add_argument("--workdir", default="interface_velocity")
    args = ap.parse_args()
    lattice = ROWS[args.row][2]
    pot = potential_of(args.row, None)
    t0 = time.time()
    work = Path(args.workdir) / args.row
    res = interface_velocity_melting_point(pot, lattice, args.temperatures, atoms=args.atoms, repeats=args.repeats,
                                           steps=(10000, 5000, 3000, args.steps), settle=args.settle, workdir=work,
                                           cores=args.cores)
    minutes = (time.time() - t0) / 60
    print(f"{args.row} ({lattice}), {res.atoms} atoms, {args.steps} NPT steps per run, rates after {args.settle:g} ps")
    print("| T (K) | repeat | solid share per ps (%) | share start -> end | mean T of the second half (K) |")
    print("|---|---|---|---|---|")
    for r in sorted(res.runs, key=lambda x: (x["temperature"], x["repeat"])):
        print(f"| {r['temperature']} | {r['repeat']} | {100 * r['rate']:+.3f} ± {100 * r['rate_error']:.3f} | "
              f"{r['share_start']:.2f} -> {r['share_end']:.2f} | {r['mean_temperature']:.1f} |")
    for f in res.flags:
        print("flag:", f)
    summary = dict(res.summary(), row=args.row, command="python benchmarks/interface_velocity.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()),
        minutes=minutes)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{args.row}.json").write_text(json.dumps(summary, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    ax = res.plot()
    ax.figure.tight_layout()
    ax.figure.savefig(work / f"{args.row}.png", dpi=120)
    print(f"row={args.row} tm={res.melting_temperature:.1f} tm_err={res.melting_temperature_error:.1f} "
          f"slope={res.slope:.3g} runs={len(res.runs)} minutes={minutes:.1f}")


if __name__ == "__main__":
    main()
