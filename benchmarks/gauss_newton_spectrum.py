"""How well a subset's Gauss-Newton matrix whitens the loss of the 5-species benchmark.

The training whitens the radial coefficients by a Gauss-Newton matrix H_s estimated on a random
subset of ~5 000 atoms (``GN_ATOMS_FACTOR``).  This script estimates a reference H on a much
larger random subset (``--reference-atoms``) and prints the spectrum of S^T H S for the whitening
S of several estimates: single subsets of the size the training draws, means of 2-4 of them,
one subset three times as large.  Eigenvalues above 1 are directions where the estimate
underrates the curvature (a whitened step overshoots there by that factor); the lowest ones are
the near-null directions that the damping of the whitening leaves out (the same for every
estimate, H itself included).

    python benchmarks/gauss_newton_spectrum.py --workdir bench_train_multispecies [--potential level16.mtp]

Needs the data set and a trained potential of ``bench_train_multispecies.py`` in the work folder
(the potential's radial coefficients are where H is taken).  Last line:
``single_p99=... mean3_p99=... triple_p99=... single_max=... mean3_max=... triple_max=...``.
"""
import argparse
import time
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench_train_multispecies")
    ap.add_argument("--potential", default="level16.mtp")
    ap.add_argument("--reference-atoms", type=int, default=45000)
    ap.add_argument("--subsets", type=int, default=4)
    args = ap.parse_args()
    import ase.io
    from bench_train_multispecies import SPECIES
    from pyiron_mtp import MTP
    from pyiron_mtp.training import TrainingSet
    from pyiron_mtp.training.curvature import gauss_newton_matrix, whitening
    from pyiron_mtp.training.trainer import GN_ATOMS_FACTOR, SUBSET_WHITENING, Trainer
    from pyiron_mtp.training.weights import LossWeights
    work = Path(args.workdir)
    full = TrainingSet.from_atoms(ase.io.read(work / "data.extxyz", ":"), SPECIES)
    train_set, _ = full.split(0.1, seed=0)              # as the benchmark splits it
    train_set, valid = train_set.split(0.05, seed=0)     # and train() after it
    pot = MTP.from_file(work / args.potential, species=SPECIES)
    trainer = Trainer(pot, train_set, valid, LossWeights())
    trainer._keep_design = True
    trainer._objective(pot.radial_coeffs.ravel().copy())       # linear coefficients solved exactly
    lp = trainer._cache[3]
    atoms = max(2000, int(GN_ATOMS_FACTOR * trainer.fit_data.n_atoms * pot.species_count / pot.radial_coeffs.size))

    def estimate(n_atoms, seed):
        t0 = time.time()
        H = gauss_newton_matrix(pot, trainer.fit_data, trainer.weights, linear_problem=lp, max_atoms=n_atoms, seed=seed)
        print(f"Gauss-Newton matrix on {n_atoms} atoms (seed {seed}): {time.time() - t0:.1f} s", flush=True)
        return H

    H_ref = estimate(args.reference_atoms, 777)
    singles = [estimate(atoms, 10 * (k + 1)) for k in range(args.subsets)]
    triple = estimate(3 * atoms, 5000)
    figures = {}

    def spectrum(name, H):
        S = whitening(H, **SUBSET_WHITENING)
        M = S.T @ H_ref @ S
        ev = np.linalg.eigvalsh(0.5 * (M + M.T))
        ev = ev[ev > 1e-12 * ev.max()]
        p1, p50, p95, p99 = np.percentile(ev, [1, 50, 95, 99])
        print(f"{name:26s} directions {len(ev)}  p1 {p1:.2g}  median {p50:.3f}  p95 {p95:.2f}  p99 {p99:.2f}  "
              f"max {ev.max():.2f}", flush=True)
        return p99, ev.max()

    spectrum("reference H itself", H_ref)
    single = [spectrum(f"one subset ({k + 1})", H) for k, H in enumerate(singles)]
    for m in range(2, args.subsets + 1):
        figures[m] = spectrum(f"mean of {m} subsets", sum(singles[:m]) / m)
    tri = spectrum("one subset 3x as large", triple)
    m3 = figures.get(3, (np.nan, np.nan))
    print(f"single_p99={np.mean([s[0] for s in single]):.2f} mean3_p99={m3[0]:.2f} triple_p99={tri[0]:.2f} "
          f"single_max={np.mean([s[1] for s in single]):.1f} mean3_max={m3[1]:.1f} triple_max={tri[1]:.1f}")


if __name__ == "__main__":
    main()
