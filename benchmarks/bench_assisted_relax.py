"""Reference relaxations started from the MTP's Hessian against plain BFGS, over a matrix of
alloys and MTPs of three qualities.

For each system (reference calculator, elements, lattice, cell sizes) the candidates of the
hull screen are enumerated, an MTP (level 8) is trained on three rattled and strained copies of
every candidate for 3, 10 and 60 iterations (a poor, a rough and a fitted potential), every
candidate relaxed with that MTP, and from there relaxed with the reference twice: BFGS from its
default Hessian (what ``final_relaxation="plain"`` does) and BFGS from the MTP's Hessian
(``"assisted"``, the default).  Both to fmax = 0.01 eV/A on positions and cell.  Printed per
row: reference calls (distinct structures) of each, their ratio, the largest difference of the
relaxed energies (meV/atom), how many candidates the two relaxations took to different minima
(energies more than 0.1 meV/atom apart; how many of those the assisted one found lower) and
candidates that did not converge.

    python benchmarks/bench_assisted_relax.py [--iterations 3 10 60] [--systems cuau alcu nipt]

The last line reads ``rows=... calls_plain=... calls_assisted=... ratio=... max_de_mev=...``.
"""
import argparse
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from pyiron_mtp.calculator import MTPCalculator
from pyiron_mtp.hull import enumerate_candidates
from pyiron_mtp.hull.assisted import relax_assisted
from pyiron_mtp.hull.relax import one_blas_thread
from pyiron_mtp.potential import MTP
from pyiron_mtp.training import train


def _alcu_eam():
    from pyiron_mtp.hull.references import eam_reference
    return eam_reference("AlCu.eam.alloy", ["Al", "Cu"])()


SYSTEMS = {   # name: (reference factory, elements, lattice, max atoms)
    "cuau": (EMT, ["Cu", "Au"], "fcc", 4),
    "alcu": (_alcu_eam, ["Al", "Cu"], "bcc", 4),
    "nipt": (EMT, ["Ni", "Pt"], "hcp", 4),
}


class Counting(Calculator):
    """The reference, counting the distinct structures it is asked for (a ledger's calls)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, set()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        self.seen.add((a.numbers.tobytes(), a.positions.round(10).tobytes(), a.cell.array.round(10).tobytes()))
        a.calc = self.inner
        e = a.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": a.get_forces(), "stress": a.get_stress()}


def _relax(atoms, calc, fmax=0.01, steps=300):
    x = atoms.copy()
    x.calc = calc
    with one_blas_thread():
        ok = BFGS(FrechetCellFilter(x), logfile=None).run(fmax=fmax, steps=steps)
    return x, bool(ok)


def _training_set(cands, factory, rng):
    images = []
    for c in cands:
        for _ in range(3):
            a = c.atoms.copy()
            a.set_cell(a.cell @ (np.eye(3) + rng.normal(scale=0.03, size=(3, 3))), scale_atoms=True)
            a.rattle(0.08, seed=int(rng.integers(1 << 30)))
            a.calc = factory()
            a.get_potential_energy()
            a.get_stress()
            a.calc = _frozen(a)
            images.append(a)
    return images


def _frozen(a):
    from ase.calculators.singlepoint import SinglePointCalculator
    return SinglePointCalculator(a, energy=a.calc.results["energy"], forces=a.calc.results["forces"],
                                 stress=a.calc.results["stress"])


def row(name, iterations, rng):
    factory, elements, lattice, max_atoms = SYSTEMS[name]
    cands = enumerate_candidates(elements, lattices=(lattice,), max_atoms=max_atoms)
    images = _training_set(cands, factory, rng)
    pot, _ = train(images, elements, init=MTP.from_level(8, elements, 1.5, 5.0), max_iter=iterations,
                   valid_fraction=0.0, progress=False)
    plain = assisted = 0
    diffs, failed = [], []
    for c in cands:
        m, _ = _relax(c.atoms, MTPCalculator(pot))
        start = m.copy()
        ref_p = Counting(factory())
        xp, okp = _relax(start, ref_p)
        ref_a = Counting(factory())
        xa, oka, _ = relax_assisted(start, ref_a, MTPCalculator(pot))
        if not (okp and oka):
            failed.append(c.id)
        diffs.append((xa.get_potential_energy() - xp.get_potential_energy()) / len(xa) * 1e3)
        plain += len(ref_p.seen)
        assisted += len(ref_a.seen)
    return {"system": name, "lattice": lattice, "candidates": len(cands), "iterations": iterations,
            "plain": plain, "assisted": assisted, "max_de_mev": float(np.max(np.abs(diffs))),
            "other_minimum": int(np.sum(np.abs(diffs) > 0.1)), "assisted_lower": int(np.sum(np.array(diffs) < -0.1)),
            "not_converged": failed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    ap.add_argument("--iterations", nargs="+", type=int, default=[3, 10, 60])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'system':>7} {'lattice':>7} {'cands':>5} {'iter':>5} {'plain':>6} {'assisted':>8} {'ratio':>6} "
          f"{'max |dE| meV/atom':>17} {'other minimum':>13} {'s':>5}  not converged", flush=True)
    rows = []
    for name in args.systems:
        for it in args.iterations:
            t0 = time.time()
            r = row(name, it, rng)
            rows.append(r)
            print(f"{r['system']:>7} {r['lattice']:>7} {r['candidates']:5d} {it:5d} {r['plain']:6d} "
                  f"{r['assisted']:8d} {r['assisted'] / r['plain']:6.2f} {r['max_de_mev']:17.4f} "
                  f"{r['other_minimum']:5d} ({r['assisted_lower']} lower) "
                  f"{time.time() - t0:5.0f}  {r['not_converged'] or '-'}", flush=True)
    p = sum(r["plain"] for r in rows)
    a = sum(r["assisted"] for r in rows)
    print(f"rows={len(rows)} calls_plain={p} calls_assisted={a} ratio={a / p:.3f} "
          f"max_de_mev={max(r['max_de_mev'] for r in rows):.4f} "
          f"not_converged={sum(len(r['not_converged']) for r in rows)}")


if __name__ == "__main__":
    main()
