"""Cost of one Gauss-Newton rebuild of the five-species training benchmark, and of one loss evaluation.

The preconditioned training rebuilds the Gauss-Newton matrix of the loss in the radial
coefficients every 10 iterations, on a random subset of the training structures sized as
:meth:`Trainer.fit` sizes it (``GN_ATOMS_FACTOR`` x atoms x species / coefficients, ~5 200 atoms here).
This script times :func:`pyiron_mtp.training.curvature.gauss_newton_matrix` on such subsets (a new
one per repeat) and a loss evaluation (design rows, linear solve, exact gradient) on the whole
training split, with the 30-minute fit's potential (``runs/multispecies/level16.mtp``), on the
threads numba is given (default: all).

    python benchmarks/bench_gauss_newton.py [--workdir bench_train_multispecies] [--repeats 3]

Needs ``WORKDIR/data.extxyz`` from ``bench_train_multispecies.py``.
Last line: ``threads=... gn_atoms=... coefficients=... gn_s=... evaluation_s=...`` (medians).
"""
import argparse
import statistics
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench_train_multispecies",
                    help="folder of bench_train_multispecies.py holding its data.extxyz")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import ase.io
    import numba
    import numpy as np
    from bench_train_multispecies import SPECIES
    from pyiron_mtp import MTP
    from pyiron_mtp.training import Trainer, TrainingSet
    from pyiron_mtp.training import trainer as trainer_module
    from pyiron_mtp.training.curvature import gauss_newton_matrix

    path = Path(args.workdir) / "data.extxyz"
    if not path.exists():
        raise SystemExit(f"{path} not found: run bench_train_multispecies.py --workdir {args.workdir} first")
    full = TrainingSet.from_atoms(ase.io.read(path, ":"), SPECIES)
    train_set, _ = full.split(0.1, seed=0)
    pot = MTP.from_file(Path(__file__).resolve().parent / "runs" / "multispecies" / "level16.mtp", species=SPECIES)
    trainer = Trainer(pot, train_set)
    theta = pot.radial_coeffs.ravel().copy()
    trainer._keep_design = True
    trainer._objective(theta)          # JIT, neighbour lists, the design rows kept for the matrix
    evaluations = []
    for k in range(args.repeats):
        t0 = time.perf_counter()
        trainer._objective(theta * (1.0 + 1e-9 * (k + 1)))
        evaluations.append(time.perf_counter() - t0)
    trainer._objective(theta)
    gn_atoms = max(2000, int(trainer_module.GN_ATOMS_FACTOR * trainer.fit_data.n_atoms * pot.species_count
                             / theta.size))
    times = []
    for k in range(args.repeats + 1):   # the first includes the JIT
        t0 = time.perf_counter()
        H = gauss_newton_matrix(pot, trainer.fit_data, trainer.weights, linear_problem=trainer._cache[3],
                                max_atoms=gn_atoms, seed=k)
        times.append(time.perf_counter() - t0)
        assert np.isfinite(H).all()
        print(f"rebuild {k}: {times[-1]:.1f} s" + (" (with JIT)" if k == 0 else ""), flush=True)
    gn, ev = statistics.median(times[1:]), statistics.median(evaluations)
    print(f"loss evaluations on {trainer.fit_data.n_atoms} atoms: " + ", ".join(f"{t:.1f}" for t in evaluations) + " s")
    print(f"threads={numba.get_num_threads()} gn_atoms={gn_atoms} coefficients={theta.size} gn_s={gn:.1f} "
          f"evaluation_s={ev:.1f}")


if __name__ == "__main__":
    main()
