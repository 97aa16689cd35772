"""Which loss weights was a published MTP trained with?

The loss is linear in the species and moment coefficients, so a trained potential's
linear coefficients are the exact weighted least-squares solution for its own radial
functions and the weights it was trained with, and only for those.  For each candidate
weighting this script re-solves the linear coefficients for the published radial
functions and prints the loss of the published coefficients against that minimum: the
training weights give a relative gap of ~0 (up to the printed digits of the file).

    python benchmarks/infer_weights.py [--element Si] [--data ../shared/data]
"""
import argparse
from pathlib import Path

import ase.io
import numpy as np

from pyiron_mtp import MTP
from pyiron_mtp.training import LinearProblem, LossWeights, TrainingSet, loss_terms

CANDIDATES = ([("vibrations", e, 0.0) for e in (0.1, 0.3, 1.0, 3.0, 10.0)]
              + [("vibrations", 1.0, s) for s in (1e-5, 1e-4, 1e-3, 1e-2)]
              + [(w, e, 0.0) for w in ("molecules", "structures") for e in (0.1, 1.0, 10.0)]
              + [(w, 1.0, 1e-3) for w in ("molecules", "structures")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--element", default="Si")
    ap.add_argument("--force-weight", type=float, default=0.01)
    args = ap.parse_args()
    root = Path(args.data) / "mlearn"
    pot = MTP.from_file(root / "published_mtp" / f"{args.element}.mtp", species=[args.element])
    data = TrainingSet.from_atoms(ase.io.read(root / f"{args.element}_training.extxyz", ":"), [args.element])
    data.prepare(pot.max_dist)
    published = np.concatenate([pot.species_coeffs, pot.moment_coeffs])
    print(f"{args.element}: {len(data)} training structures, force weight {args.force_weight}")
    print(f"{'weighting':>11} {'energy w':>9} {'stress w':>9} {'loss (published)':>17} {'loss (re-solved)':>17} "
          f"{'relative gap':>12}")
    rows = []
    for weighting, ew, sw in CANDIDATES:
        w = LossWeights(ew, args.force_weight, sw, weighting)
        lp = LinearProblem(pot, data, w)
        l_pub = loss_terms(data, lp.predictions(published), w)
        l_opt = loss_terms(data, lp.predictions(lp.solve()), w)
        gap = (l_pub - l_opt) / l_opt
        rows.append((gap, weighting, ew, sw))
        print(f"{weighting:>11} {ew:>9g} {sw:>9g} {l_pub:>17.9g} {l_opt:>17.9g} {gap:>12.2e}", flush=True)
    gap, weighting, ew, sw = min(rows)
    print(f"closest: {weighting}, energy {ew:g}, force {args.force_weight:g}, stress {sw:g} "
          f"(relative gap {gap:.1e}; next {sorted(rows)[1][0]:.1e})")


if __name__ == "__main__":
    main()
