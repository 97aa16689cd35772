"""Built-in example: fit a Cu MTP to ASE's EMT and check it on fresh structures."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT


def emt_copper(n, seed, strain=0.03, rattle=(0.02, 0.12), repeat=(2, 2, 2)):
    """Strained, rattled fcc Cu cells with EMT energies, forces and stresses."""
    from ase.calculators.singlepoint import SinglePointCalculator
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        eps = rng.uniform(-strain, strain, (3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.positions += rng.normal(scale=rng.uniform(*rattle), size=a.positions.shape)
        a.calc = EMT()
        res = dict(energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
        a.calc = SinglePointCalculator(a, **res)
        out.append(a)
    return out


def run(output="pyiron_mtp_demo", level=12, n_train=60, n_test=20, max_iter=60, progress=True):
    """Train, test, save potential and plots; returns the test error report."""
    from .plots import learning_curve, parity_plot
    from .training import error_report, train
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"generating {n_train} training and {n_test} test structures of fcc Cu with ASE's EMT ...")
    training = emt_copper(n_train, seed=1)
    testing = emt_copper(n_test, seed=2)
    print(f"training a level-{level} MTP ({sum(len(a) for a in training)} atoms) ...")
    pot, trainer = train(training, ["Cu"], level=level, max_dist=5.0, max_iter=max_iter, progress=progress)
    pot.to_file(out / "Cu.mtp")
    test = error_report(pot, testing, per_structure=True)
    parity_plot(test, "test set", path=out / "parity.png")
    learning_curve(trainer.history, path=out / "learning_curve.png")
    print(f"\n{pot}")
    print(f"iterations: {trainer.history[-1]['iteration']}, wall time {time.perf_counter() - t0:.1f} s")
    print(f"test RMSE: energy {test['energy_rmse']:.3f} meV/atom, forces {test['force_rmse']:.4f} eV/A, "
          f"stress {test['stress_rmse']:.3f} GPa")
    print(f"potential {out / 'Cu.mtp'}; plots {out / 'parity.png'}, {out / 'learning_curve.png'}")
    return test
