"""Accuracy on data nobody here wrote: the mlearn benchmark (Zuo et al. 2020).

Trains Li at level 16 (cutoff 5.1 A) and Si at level 24 (cutoff 4.7 A) on the
mlearn training sets with default weights and compares the test RMSE with the
MTPs published with that benchmark (Li 0.66 meV/atom, 0.0132 eV/A; Si 3.03
meV/atom, 0.0881 eV/A).

    python benchmarks/bench_mlearn.py [--elements Li Si] [--max-iter N] [--data ../shared/data] [--level L]

``--level`` replaces the published level (e.g. 28 for Si).  The test errors are checked every
``--every`` iterations; the first check at or below both published test RMSEs is reported as
the time to published accuracy (``time_to_published_s``, wall seconds from the start, data
preparation included, the test evaluations themselves excluded - they are the benchmark's, not
the training's; None if not reached).
"""
import argparse
import json
import time
from pathlib import Path

import ase.io

from pyiron_mtp.training import LossWeights, Trainer, TrainingSet, error_report, initialise_radial
from pyiron_mtp import MTP

SETTINGS = {"Li": (16, 5.1), "Si": (24, 4.7)}
PUBLISHED = {"Li": (0.66, 0.0132), "Si": (3.03, 0.0881)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--elements", nargs="+", default=["Li", "Si"])
    ap.add_argument("--max-iter", type=int, default=150)
    ap.add_argument("--out", default=None, help="folder for the trained potentials")
    ap.add_argument("--every", type=int, default=10, help="print the test RMSE every this many iterations")
    ap.add_argument("--energy-weight", type=float, default=1.0)
    ap.add_argument("--force-weight", type=float, default=0.01)
    ap.add_argument("--stress-weight", type=float, default=0.001)
    ap.add_argument("--weighting", default="vibrations", choices=["vibrations", "molecules", "structures"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--level", type=int, default=None, help="instead of the published model's level")
    ap.add_argument("--l2-radial", type=float, default=0.0)
    ap.add_argument("--valid-fraction", type=float, default=0.0,
                    help="hold out this fraction of the training set; the parameters with the lowest "
                         "validation error are kept (the test set is never used for choices)")
    ap.add_argument("--valid-every", type=int, default=5)
    ap.add_argument("--no-precondition", action="store_true",
                    help="plain L-BFGS instead of L-BFGS in Gauss-Newton-whitened coordinates")
    args = ap.parse_args()
    for el in args.elements:
        level, cutoff = SETTINGS[el]
        level = args.level or level
        reached, spent = [], [0.0]          # spent: seconds of test evaluations
        training = ase.io.read(Path(args.data) / "mlearn" / f"{el}_training.extxyz", ":")
        testing = ase.io.read(Path(args.data) / "mlearn" / f"{el}_test.extxyz", ":")
        t0 = time.perf_counter()
        data = TrainingSet.from_atoms(training, [el])
        valid_set = None
        if args.valid_fraction:
            data, valid_set = data.split(args.valid_fraction, seed=args.seed)
        test_set = TrainingSet.from_atoms(testing, [el])
        pot = MTP.from_level(level, [el], data.min_distance(), cutoff)
        initialise_radial(pot, seed=args.seed)

        def monitor(it, p):
            if it % args.every == 0:
                t_eval = time.perf_counter()
                rep = error_report(p, test_set)
                spent[0] += time.perf_counter() - t_eval
                elapsed = time.perf_counter() - t0 - spent[0]
                if not reached and rep["energy_rmse"] <= PUBLISHED[el][0] and rep["force_rmse"] <= PUBLISHED[el][1]:
                    reached.append((it, elapsed))
                print(f"  {el} iteration {it:4d} ({elapsed:6.0f} s training): loss "
                      f"{trainer.history[-1]['loss']:.6f}, test energy "
                      f"{rep['energy_rmse']:.3f} meV/atom, force {rep['force_rmse']:.4f} eV/A", flush=True)

        trainer = Trainer(pot, data, valid_set, weights=LossWeights(args.energy_weight, args.force_weight, args.stress_weight, args.weighting),
                          l2_radial=args.l2_radial)
        pot = trainer.fit(max_iter=args.max_iter, progress=False, monitor=monitor, valid_every=args.valid_every,
                          precondition=not args.no_precondition)
        wall = time.perf_counter() - t0 - spent[0]
        rep = error_report(pot, testing)
        rep_train = error_report(pot, training)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            pot.to_file(Path(args.out) / f"{el}.mtp")
        e_pub, f_pub = PUBLISHED[el]
        print(json.dumps({"element": el, "level": level, "energy_weight": args.energy_weight,
                          "force_weight": args.force_weight, "stress_weight": args.stress_weight,
                          "weighting": args.weighting, "seed": args.seed, "precondition": not args.no_precondition, "l2_radial": args.l2_radial, "iterations": trainer.history[-1]["iteration"],
                          "valid_fraction": args.valid_fraction, "kept_iteration": trainer.best[2],
                          "final_loss": trainer.history[-1]["loss"],
                          **({f"valid_{k}": error_report(pot, valid_set)[k] for k in ("energy_rmse", "force_rmse")}
                             if valid_set is not None else {}),
                          "wall_s": round(wall, 1), "test_evaluation_s": round(spent[0], 1),
                          "time_to_published_s": round(reached[0][1], 1) if reached else None,
                          "iterations_to_published": reached[0][0] if reached else None, **{k: rep[k] for k in ("energy_rmse", "force_rmse", "stress_rmse")},
                          **{f"train_{k}": rep_train[k] for k in ("energy_rmse", "force_rmse", "stress_rmse")}}))
        print(f"{el}: test energy RMSE {rep['energy_rmse']:.3f} meV/atom (published {e_pub}), "
              f"force RMSE {rep['force_rmse']:.4f} eV/A (published {f_pub}); "
              f"ratio energy {rep['energy_rmse'] / e_pub:.2f}, force {rep['force_rmse'] / f_pub:.2f}", flush=True)


if __name__ == "__main__":
    main()
