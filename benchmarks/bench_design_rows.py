"""Speed of the design-row kernel, the training's hot spot (about two thirds of a loss evaluation).

Times :func:`pyiron_mtp.core.design.design_rows` (energy, force and virial rows of every basis
function) of the benchmark's level-16 fit (``runs/multispecies/level16.mtp``; other levels: a new
potential with random radial functions) on one thread over the structures of the five-species training benchmark
(``bench_train_multispecies.py``: its ``WORKDIR/data.extxyz``, every ``--every``-th structure; a
smaller set of the same kinds is generated when the file is absent), after a JIT warm-up, best of
``--repeats``.  Prints µs per atom (compare figures from the same machine and data).

    python benchmarks/bench_design_rows.py [--workdir bench_train_multispecies] [--level 16] [--every 25]

Last line: ``level=... atoms=... structures=... us_per_atom=...``.
"""
import argparse
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench_train_multispecies",
                    help="folder of bench_train_multispecies.py (its data.extxyz is read if present)")
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--every", type=int, default=25, help="take every n-th structure")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import ase.io
    import numba
    numba.set_num_threads(1)
    from bench_train_multispecies import SPECIES, generate
    from pyiron_mtp import MTP
    from pyiron_mtp.training import TrainingSet, initialise_radial
    from pyiron_mtp.training.linear import structure_design_rows

    path = Path(args.workdir) / "data.extxyz"
    if path.exists():
        images = ase.io.read(path, f"::{args.every}")
    else:
        counts = {"pair_ss": 68, "alloy_ss": 24, "md_300": 20, "md_900": 20, "md_1500": 20, "strained": 16,
                  "vacancy": 16, "surface": 16}
        print(f"{path} not found: generating {sum(counts.values())} structures of the same kinds")
        images = generate(0, counts=counts)
    data = TrainingSet.from_atoms(images, SPECIES)
    trained = Path(__file__).resolve().parent / "runs" / "multispecies" / f"level{args.level}.mtp"
    if trained.exists():      # the benchmark's 30-minute fit: realistic radial functions
        pot = MTP.from_file(trained, species=SPECIES)
    else:
        pot = MTP.from_level(args.level, SPECIES, 2.0, 5.0)
        initialise_radial(pot, seed=0)
    data.prepare(pot.max_dist)
    t = pot.kernel_tables()

    def run():
        for s in data.structures:
            structure_design_rows(pot, s)
    run()                                   # JIT and caches
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    us = 1e6 * best / data.n_atoms
    print(f"design rows, level {args.level}, {pot.n_basis} basis functions, {t['times'].shape[0]} products: "
          f"{us:.1f} µs/atom on one thread ({data.n_atoms} atoms, {len(data.structures)} structures)")
    print(f"level={args.level} atoms={data.n_atoms} structures={len(data.structures)} us_per_atom={us:.1f}")


if __name__ == "__main__":
    main()
