"""What an MTP does below its data: dimer curves of every species pair of a Cu-Ag-Au MTP trained on
EMT data with no pair closer than 2.2 A (rattled, strained fcc alloys), for three models fitted to
the same data: MLIP's polynomial extrapolation (no core radius), the default (core radius at the
smallest training distance) and the default plus the ZBL baseline.

Per model: training and held-out force RMSE, and per species pair whether the dimer repels from
2.1 A down to 1.0 A, the smallest outward force there and E(1.0 A) - E(2.1 A).

    python benchmarks/bench_short_range.py [--level 12] [--structures 120] [--max-iter 60]

Last line: ``repulsive_mlip=k/6 repulsive_core=k/6 repulsive_zbl=k/6 force_rmse_core=... force_rmse_zbl=...``
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
    ap.add_argument("--level", type=int, default=12)
    ap.add_argument("--structures", type=int, default=120)
    ap.add_argument("--max-iter", type=int, default=60)
    args = ap.parse_args()
    from pyiron_mtp.short_range import repulsion_report
    from pyiron_mtp.training import error_report, train
    warnings.simplefilter("ignore")
    data, test = emt_data(args.structures, 0), emt_data(40, 1)
    print(f"{len(data)} training structures ({sum(map(len, data))} atoms), level {args.level}")
    figures = {}
    for label, kwargs in (("mlip", dict(core_radius=None)), ("core", {}), ("zbl", dict(baseline="zbl"))):
        pot, trainer = train(data, SPECIES, level=args.level, max_dist=5.0, min_dist=2.0, max_iter=args.max_iter,
                             progress=False, **kwargs)
        rep = repulsion_report(pot, r_max=2.1, r_min=1.0)
        f_train = error_report(pot, data)["force_rmse"]
        f_test = error_report(pot, test)["force_rmse"]
        print(f"\n{label}: {pot}\n  force RMSE training {f_train:.4f}, test {f_test:.4f} eV/A")
        for (a, b), r in rep.items():
            print(f"  {a}-{b}: repulsive {str(r['repulsive']):5s}  min outward force {r['min_force']:10.3g} eV/A  "
                  f"E(1.0) - E(2.1) = {r['rise']:10.3g} eV")
        figures[label] = (sum(r["repulsive"] for r in rep.values()), len(rep), f_test)
    print(" ".join(f"repulsive_{k}={v[0]}/{v[1]}" for k, v in figures.items()),
          f"force_rmse_mlip={figures['mlip'][2]:.4f} force_rmse_core={figures['core'][2]:.4f} "
          f"force_rmse_zbl={figures['zbl'][2]:.4f}")


if __name__ == "__main__":
    main()
