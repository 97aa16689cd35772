"""Coexistence T_m of finished matrix rows recombined from their kept NPH runs (no LAMMPS):
the plain mean of the coexisting runs against the drift-weighted mean of
:func:`pyiron_mtp.free_energy.coexistence.combine_runs`.

    python benchmarks/coexistence_recombine.py WORKDIR/ROW [WORKDIR/ROW ...] [--plot matrix.png]

``--plot``: the matrix figure of bench_melting_matrix.py (free-energy minus coexistence T_m per
row) from the rows' summaries, with the drift-weighted coexistence figures.

For each row: the coexisting run whose temperature the repeats started from and the repeats,
each with its second-half mean, block error and drift; then both combinations.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from pyiron_mtp.free_energy.coexistence import _drift, _judge, combine_runs


def recombine(row, min_fraction=0.1):
    folder = next((Path(row) / "melting").glob("coexistence_*"))
    runs = {d.name: json.loads((d / "result.json").read_text()) for d in sorted(folder.iterdir())
            if (d / "result.json").exists()}
    reps = sorted(n for n in runs if "_rep" in n)
    t_rep = int(reps[0][1:].split("_")[0])
    base = [n for n in runs if "_rep" not in n and round(_judge(runs[n]["trace"], min_fraction)[1]) == t_rep]
    chosen = []
    for name in base + reps:
        outcome, mean, err, frac = _judge(runs[name]["trace"], min_fraction)
        if outcome == "coexisting":
            chosen.append((name, mean, err, _drift(runs[name]["trace"])))
    m, e, d = (np.array([c[k] for c in chosen]) for k in (1, 2, 3))
    return chosen, combine_runs(m, e), combine_runs(m, e, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", nargs="+")
    ap.add_argument("--plot", default=None, help="write the matrix figure here")
    args = ap.parse_args()
    summaries = []
    for row in args.rows:
        chosen, plain, weighted = recombine(row)
        summary = Path(row) / "summary.json"
        if summary.exists():
            summaries.append({**json.loads(summary.read_text()), "coexistence": weighted[0],
                              "coexistence_err": weighted[1]})
        runs = ", ".join(f"{n}: {m:.1f} +- {e:.1f} (drift {d:+.0f})" for n, m, e, d in chosen)
        print(f"{row}: {runs}")
        print(f"    plain {plain[0]:.1f} +- {plain[1]:.1f} K | drift-weighted {weighted[0]:.1f} +- {weighted[1]:.1f} K")
    if args.plot:
        from bench_melting_matrix import plot_matrix
        plot_matrix(summaries, args.plot)
        print(f"figure: {args.plot} ({len(summaries)} rows)")


if __name__ == "__main__":
    main()
