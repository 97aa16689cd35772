"""What an MTP does below its data: dimer curves of every species pair of Cu-Ag-Au MTPs trained on
EMT data with no pair closer than 2.2 A (rattled, strained fcc alloys), for four models of the
same data: MLIP's polynomial extrapolation (no core radius), the clamp alone (core radius at the
smallest training distance, no baseline), ``train``'s default (that clamp plus ZBL switched off
at the core radius: zero on the data, so its fit is the clamp's - the clamp row is the default
potential with the baseline removed, not a second fit) and ZBL reaching into the data (switched
off between 2.0 A and the cutoff, the MTP fitted to EMT - ZBL); over a matrix of levels and data
sets (seeds), every row reported.

Per model: training and held-out force RMSE, and per species pair whether the dimer repels from
2.1 A down to 1.0 A, the smallest outward force there and E(1.0 A) - E(2.1 A).

    python benchmarks/bench_short_range.py [--levels 8 12] [--seeds 0 1] [--structures 120] [--max-iter 60]

Last line: ``repulsive_mlip=k/n repulsive_core=k/n repulsive_default=k/n repulsive_zbl=k/n
force_rmse_mlip=... force_rmse_core=... force_rmse_default=... force_rmse_zbl=...`` (species pairs summed over the matrix; force RMSE on the test sets averaged).
"""
import argparse
import warnings

import numpy as np

SPECIES = ["Cu", "Ag", "Au"]


def emt_data(n, seed, min_distance=2.2):
    from ase.build import bulk
    from ase.calculators.emt import EMT
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a = bulk("Cu", "fcc", a=rng.uniform(3.75, 4.15), cubic=True).repeat((2, 2, 2))
        a.set_chemical_symbols(rng.choice(SPECIES, len(a)))
        a.set_cell(a.cell.array @ (np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))), scale_atoms=True)
        a.rattle(0.15, seed=int(rng.integers(1 << 30)))
        if a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() < min_distance:
            continue
        a.calc = EMT()
        a.get_forces()
        out.append(a)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[8, 12])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--structures", type=int, default=120)
    ap.add_argument("--max-iter", type=int, default=60)
    args = ap.parse_args()
    from pyiron_mtp.short_range import repulsion_report
    from pyiron_mtp.training import error_report, train
    warnings.simplefilter("ignore")
    figures = {k: [0, 0, []] for k in ("mlip", "core", "default", "zbl")}
    for seed in args.seeds:
        data, test = emt_data(args.structures, 2 * seed), emt_data(40, 2 * seed + 1)
        for level in args.levels:
            print(f"\n=== data set {seed}: {len(data)} training structures ({sum(map(len, data))} atoms), level {level}")
            pots = {}
            for label, kwargs in (("mlip", dict(core_radius=None, baseline=None)), ("default", {}),
                                  ("zbl", dict(baseline="zbl", baseline_cutoffs=(2.0, 5.0)))):
                pots[label], _ = train(data, SPECIES, level=level, max_dist=5.0, min_dist=2.0,
                                       max_iter=args.max_iter, valid_fraction=0.0, progress=False, **kwargs)
            pots["core"] = pots["default"].copy()
            pots["core"].baseline = None
            for label in figures:
                pot = pots[label]
                rep = repulsion_report(pot, r_max=2.1, r_min=1.0)
                f_train = error_report(pot, data)["force_rmse"]
                f_test = error_report(pot, test)["force_rmse"]
                print(f"{label}: {pot}\n  force RMSE training {f_train:.4f}, test {f_test:.4f} eV/A")
                for (a, b), r in rep.items():
                    print(f"  {a}-{b}: repulsive {str(r['repulsive']):5s}  min outward force {r['min_force']:10.3g} "
                          f"eV/A  E(1.0) - E(2.1) = {r['rise']:10.3g} eV")
                figures[label][0] += sum(r["repulsive"] for r in rep.values())
                figures[label][1] += len(rep)
                figures[label][2].append(f_test)
    print(" ".join(f"repulsive_{k}={v[0]}/{v[1]}" for k, v in figures.items()),
          " ".join(f"force_rmse_{k}={np.mean(v[2]):.4f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
