"""Cross-validation of the linear coefficients of trained MTPs.

For fixed radial functions (those of each potential given) the species and moment
coefficients are re-solved on K-1 of K folds of the training data and evaluated on the
held-out fold; folds are stratified by ``config_type`` and fixed by ``--seed``.  Prints
the held-out energy (meV/atom) and force (eV/A) RMSE for each potential and weighting,
so that potentials and loss weights can be compared without a test set.

    python benchmarks/cv_linear.py POT.mtp [POT.mtp ...] --data Si_training.extxyz --species Si \
        [--folds 10] [--energy-weight 1 ...] [--stress-weight 0] [--weighting vibrations]
"""
import argparse
import copy

import ase.io
import numpy as np

from pyiron_mtp import MTP
from pyiron_mtp.training import LinearProblem, LossWeights, TrainingSet


def stratified_folds(groups, k, seed):
    """Fold index per structure: each group is dealt round-robin over the folds after a
    seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(groups), dtype=int)
    for g in sorted(set(groups)):
        members = [i for i, x in enumerate(groups) if x == g]
        rng.shuffle(members)
        for j, i in enumerate(members):
            fold[i] = j % k
    return fold


def cross_validate(full: LinearProblem, fold, weights):
    """Held-out energy (meV/atom) and force (eV/A) RMSE over all folds."""
    data = full.data
    de, df = [], []
    for k in range(fold.max() + 1):
        train = np.flatnonzero(fold != k)
        lp = copy.copy(full)
        lp.weights = weights
        lp.data = TrainingSet([data.structures[i] for i in train], data.species)
        lp.rows = [full.rows[i] for i in train]
        x = lp.solve()
        C = full.pot.species_count
        for i in np.flatnonzero(fold == k):
            s = data.structures[i]
            counts, e, f, _ = full.rows[i]
            if s.energy is not None:
                de.append((counts @ x[:C] + e @ x[C:] - s.energy) / s.n_atoms)
            if s.forces is not None:
                df.append((f @ x[C:] - s.forces).ravel())
    rmse = lambda v: float(np.sqrt(np.mean(np.square(v)))) if len(v) else float("nan")  # noqa: E731
    return 1000.0 * rmse(np.array(de)), rmse(np.concatenate(df) if df else [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("potentials", nargs="+")
    ap.add_argument("--data", required=True, help="training data with config_type (extxyz)")
    ap.add_argument("--species", nargs="+", required=True)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--energy-weight", type=float, nargs="+", default=[1.0])
    ap.add_argument("--force-weight", type=float, default=0.01)
    ap.add_argument("--stress-weight", type=float, default=0.0)
    ap.add_argument("--weighting", default="vibrations")
    args = ap.parse_args()
    images = ase.io.read(args.data, ":")
    data = TrainingSet.from_atoms(images, args.species)
    fold = stratified_folds([s.group for s in data.structures], args.folds, args.seed)
    print(f"{len(data)} structures, {args.folds} folds stratified by config_type (seed {args.seed})")
    print(f"{'potential':<40} {'energy w':>9} {'CV energy meV/atom':>19} {'CV force eV/A':>14}")
    for path in args.potentials:
        pot = MTP.from_file(path, species=args.species)
        data.prepare(pot.max_dist)
        full = LinearProblem(pot, data, LossWeights())
        for ew in args.energy_weight:
            w = LossWeights(ew, args.force_weight, args.stress_weight, args.weighting)
            e, f = cross_validate(full, fold, w)
            print(f"{path[-40:]:<40} {ew:>9g} {e:>19.3f} {f:>14.4f}", flush=True)


if __name__ == "__main__":
    main()
