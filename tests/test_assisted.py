"""Reference relaxations started from the MTP's Hessian (pyiron_mtp.hull.assisted)."""
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyiron_mtp.hull.assisted import mtp_hessian, relax_assisted, residual_force


class CountingEMT(EMT):
    """EMT that counts the distinct structures it computes (a reference ledger's calls)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = set()

    def calculate(self, atoms=None, *args, **kwargs):
        self.seen.add((atoms.positions.round(10).tobytes(), atoms.cell.array.round(10).tobytes()))
        super().calculate(atoms, *args, **kwargs)


def _start(seed=1):
    a = bulk("Cu", "fcc", a=3.6, cubic=True)
    a[1].symbol = "Au"
    a.set_cell(a.cell * 1.03, scale_atoms=True)
    a.rattle(0.05, seed=seed)
    return a


def _plain_bfgs(atoms, calc, fmax=0.01, steps=300):
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from pyiron_mtp.hull.relax import one_blas_thread
    x = atoms.copy()
    x.calc = calc
    with one_blas_thread():
        ok = BFGS(FrechetCellFilter(x), logfile=None).run(fmax=fmax, steps=steps)
    return x, ok


def test_hessian_predicts_the_forces_and_is_positive_definite():
    """Without the floor, the Hessian predicts the change of the optimiser's forces for a small
    step (to 1 % of it); with it, it is symmetric and positive definite (translations, which
    have zero curvature, get the floor of 5 % of the largest eigenvalue)."""
    from ase.filters import FrechetCellFilter
    a = _start()
    raw = mtp_hessian(a, EMT(), floor=0.0)
    n = 3 * (len(a) + 3)
    assert raw.shape == (n, n) and np.allclose(raw, raw.T)
    x = a.copy()
    x.calc = EMT()
    f = FrechetCellFilter(x)
    p0, f0 = f.get_positions().copy(), f.get_forces().ravel().copy()
    d = np.random.default_rng(0).normal(size=p0.size) * 1e-4
    f.set_positions(p0 + d.reshape(p0.shape))
    df = f.get_forces().ravel() - f0
    assert np.abs(-raw @ d - df).max() < 0.01 * np.abs(df).max()
    w = np.linalg.eigvalsh(mtp_hessian(a, EMT()))
    assert w.min() == pytest.approx(0.05 * w.max(), rel=1e-6)
    assert np.sum(np.linalg.eigvalsh(raw) < 1e-6) == 3


def test_exact_hessian_relaxes_in_few_steps():
    """With the reference's own Hessian the relaxation is Newton's: far fewer reference calls
    than BFGS from its default start, same minimum."""
    start = _start()
    ref_plain = CountingEMT()
    x_plain, ok_plain = _plain_bfgs(start, ref_plain)
    ref = CountingEMT()
    x, ok, steps = relax_assisted(start, ref, EMT())
    assert ok and ok_plain
    assert residual_force(x) < 0.01
    assert len(ref.seen) <= 6 < len(ref_plain.seen)
    assert x.get_potential_energy() / len(x) == pytest.approx(x_plain.get_potential_energy() / len(x), abs=1e-5)


def test_an_imperfect_mtp_saves_reference_calls_and_finds_the_same_minimum():
    """An MTP trained briefly on EMT data steers EMT relaxations of Cu-Au cells: the same
    minima (to 0.1 meV/atom, what fmax = 0.01 eV/A leaves open along soft modes) in fewer EMT
    calls than plain BFGS, in sum over the cells."""
    from pyiron_mtp.calculator import MTPCalculator
    from pyiron_mtp.hull import enumerate_candidates
    from pyiron_mtp.hull.relax import one_blas_thread, _optimizer
    from pyiron_mtp.potential import MTP
    from pyiron_mtp.training import train
    rng = np.random.default_rng(0)
    cands = enumerate_candidates(["Cu", "Au"], lattices=("fcc",), max_atoms=3)
    images = []
    for c in cands:
        for _ in range(3):
            a = c.atoms.copy()
            a.set_cell(a.cell @ (np.eye(3) + rng.normal(scale=0.03, size=(3, 3))), scale_atoms=True)
            a.rattle(0.08, seed=int(rng.integers(1 << 30)))
            a.calc = EMT()
            a.get_potential_energy()
            a.get_stress()
            images.append(a)
    pot, _ = train(images, ["Cu", "Au"], init=MTP.from_level(6, ["Cu", "Au"], 1.5, 5.0), max_iter=10,
                   valid_fraction=0.0, progress=False)
    plain_calls = assisted_calls = 0
    for c in cands:
        m = c.atoms.copy()
        m.calc = MTPCalculator(pot)
        with one_blas_thread():
            _optimizer(m, "BFGS")[0].run(fmax=0.01, steps=300)
        start = m.copy()
        ref_plain = CountingEMT()
        xp, okp = _plain_bfgs(start, ref_plain)
        ref = CountingEMT()
        xa, oka, _ = relax_assisted(start, ref, MTPCalculator(pot))
        assert okp and oka, c.id
        assert xa.get_potential_energy() / len(xa) == pytest.approx(xp.get_potential_energy() / len(xp), abs=1e-4)
        plain_calls += len(ref_plain.seen)
        assisted_calls += len(ref.seen)
    assert assisted_calls < 0.8 * plain_calls


def test_an_mtp_that_cannot_be_evaluated_leaves_plain_bfgs(caplog):
    class Broken(EMT):
        def calculate(self, *args, **kwargs):
            raise RuntimeError("atoms closer than min_dist")
    start = _start()
    ref = CountingEMT()
    x, ok, _ = relax_assisted(start, ref, Broken())
    xp, _ = _plain_bfgs(start, CountingEMT())
    assert ok and "no MTP Hessian" in caplog.text
    assert x.get_potential_energy() == pytest.approx(xp.get_potential_energy(), abs=1e-8)


def test_screen_rejects_an_unknown_final_relaxation(tmp_path):
    from pyiron_mtp.hull import enumerate_candidates, screen_hull
    cands = enumerate_candidates(["Cu", "Au"], lattices=("fcc",), max_atoms=1)
    with pytest.raises(ValueError, match="final_relaxation"):
        screen_hull(cands, EMT, ["Cu", "Au"], workdir=tmp_path, final_relaxation="newton")
