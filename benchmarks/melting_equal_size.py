"""Free-energy against coexistence T_m of finished matrix rows at equal solid size (no LAMMPS).

    python benchmarks/melting_equal_size.py [SUMMARY.json ...] [--plot matrix_equal_size.png]
    (default: the row summaries in benchmarks/runs/melting_matrix/)

``--plot``: bench_melting_matrix.py's figure, each row's difference for N -> infinity and at equal size.

Rows run with the current code carry ``comparison`` (:func:`pyiron_mtp.free_energy.melting.compare_methods`:
the coexistence box's solid is its coexisting runs' mean solid share times its atoms).  Older
summaries lack it; their size correction is read from the finite-size flag and the box's solid is
taken as half of it (the box is built half solid), which the table marks with "~".
"""
import argparse
import json
import re
from pathlib import Path

FLAG = re.compile(r"finite size: T_m of the (\d+)-atom solid corrected by ([-+0-9.]+) \+- ([0-9.]+) K")


def equal_size(row):
    """(solid atoms of the coexistence box, measured?, free-energy T_m at that size) or None."""
    comp = row.get("comparison")
    if comp and comp.get("free_energy_at_coexistence_size") is not None:
        return comp["coexistence_solid_atoms"], True, comp["free_energy_at_coexistence_size"]
    for flag in row.get("flags", []):
        m = FLAG.match(flag)
        if m:
            n_small, correction = int(m.group(1)), float(m.group(2))
            n_c = row["coexistence_atoms"] / 2
            return n_c, False, row["tm"] - correction * n_small / n_c
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("summaries", nargs="*")
    ap.add_argument("--plot", default=None, help="write the figure here")
    args = ap.parse_args()
    files = args.summaries or sorted(f for f in Path(__file__).parent.glob("runs/melting_matrix/*.json")
                                     if "tm" in json.loads(f.read_text()))
    rows = []
    print("| row | lattice | free energy, N -> inf (K) | coexistence (K) | difference | coexistence solid atoms "
          "| free energy at that size (K) | difference at equal size |")
    print("|---|---|---|---|---|---|---|---|")
    diffs = []
    for f in files:
        row = json.loads(Path(f).read_text())
        row["row"] = Path(f).stem.replace("_summary", "")       # a rerun of a row keeps its file name
        if not row.get("converged") or row.get("coexistence") is None:
            continue
        err = (row["tm_err"] ** 2 + row["coexistence_err"] ** 2) ** 0.5
        d = row["tm"] - row["coexistence"]
        same = equal_size(row)
        if same is None:
            cells = "— | — | —"
        else:
            n_c, measured, t_n = same
            diffs.append(t_n - row["coexistence"])
            row["comparison"] = {**(row.get("comparison") or {}), "difference_at_equal_size": t_n - row["coexistence"]}
            cells = f"{'' if measured else '~'}{n_c:.0f} | {t_n:.1f} | {t_n - row['coexistence']:+.1f} ± {err:.1f}"
        rows.append(row)
        print(f"| {Path(f).stem} | {row['final_lattice']} | {row['tm']:.1f} ± {row['tm_err']:.1f} | "
              f"{row['coexistence']:.1f} ± {row['coexistence_err']:.1f} | {d:+.1f} ± {err:.1f} | {cells} |")
    within = sum(abs(x) <= 10 for x in diffs)
    print(f"rows={len(diffs)} within_10K_at_equal_size={within} "
          f"max_abs_difference_at_equal_size={max(map(abs, diffs), default=float('nan')):.1f}")
    if args.plot:
        from bench_melting_matrix import plot_matrix
        plot_matrix(rows, args.plot)


if __name__ == "__main__":
    main()
