import itertools

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyiron_mtp.active import ActiveSet
from pyiron_mtp.cfg import read_cfg
from pyiron_mtp.cli import main
from pyiron_mtp.core.maxvol import MaxVol
from pyiron_mtp.training import train
from conftest import data_file


def test_maxvol_against_brute_force(rng):
    hits = 0
    for trial in range(40):
        m, n = 3, 9
        B = rng.normal(size=(n, m))
        mv = MaxVol(m)
        mv.update(B, threshold=1.0 + 1e-9)
        assert set(mv.ids) <= set(range(n)) and (mv.ids >= 0).all()
        # dominance: every row is a combination of the active rows with |coefficients| <= 1
        assert np.abs(B @ mv.inverse).max() <= 1.0 + 1e-8
        assert np.allclose(mv.inverse @ mv.rows, np.eye(m), atol=1e-8)
        chosen = abs(np.linalg.det(B[mv.ids]))
        best = max(abs(np.linalg.det(B[list(c)])) for c in itertools.combinations(range(n), m))
        assert chosen <= best * (1 + 1e-12)
        assert chosen >= best / m ** (m / 2)  # a dominant submatrix is within this factor of the maximum
        hits += np.isclose(chosen, best)
    assert hits >= 30  # and usually it is the maximum itself


def test_greedy_select_skips_duplicates(rng):
    mv = MaxVol(4)
    base = rng.normal(size=(6, 4))
    mv.update(base)
    new = rng.normal(size=4) * 10
    pool = np.vstack([new, new * 1.001, rng.normal(size=(3, 4)) * 0.01, -new])
    chosen = mv.select(pool, threshold=2.0)
    assert chosen[0] in (0, 1, 5) and len({0, 1, 5} & set(chosen)) == 1


@pytest.fixture(scope="module")
def fitted():
    train_images = read_cfg(data_file("emt_cu", "train.cfg"), species=["Cu"])[:60]
    pot, _ = train(train_images, ["Cu"], level=8, min_dist=1.7, max_dist=5.0, max_iter=15, progress=False)
    return pot, train_images


@pytest.mark.parametrize("mode", ["configuration", "neighborhood"])
def test_grades_of_training_and_candidates(fitted, mode):
    pot, train_images = fitted
    aset = ActiveSet.build(pot, train_images, mode=mode)
    # the eps*I start rows are replaced in every direction the training rows resolve;
    # they stay only along (near-)null directions, e.g. the model's exact symmetries
    # (scaling a radial function and the moment coefficients with it)
    B = np.vstack([aset.rows(a) for a in train_images])
    sv = np.linalg.svd(B, compute_uv=False)
    unresolved = int((sv < 1e-4 * sv[0]).sum())
    assert unresolved >= pot.radial_funcs_count
    assert (aset.maxvol.ids < 0).sum() <= unresolved
    g_train = aset.grades(train_images)
    assert g_train.max() <= 1.0 + 1e-3 + 1e-9
    # rows in the active set have grade exactly 1
    active = sorted(set(aset.maxvol.ids.tolist()))
    assert np.isclose(aset.grades([train_images[k] for k in active]).max(), 1.0, atol=1e-6)
    cands = read_cfg(data_file("emt_cu", "candidates.cfg"), species=["Cu"])[:30]
    g_c = aset.grades(cands)
    assert g_c.max() > 10 and np.median(g_c) > 1.0  # hotter, more strained: extrapolation


def test_grade_invariant_to_rescaled_coefficients(fitted):
    pot, train_images = fitted
    cands = read_cfg(data_file("emt_cu", "candidates.cfg"), species=["Cu"])[:10]
    g1 = ActiveSet.build(pot, train_images).grades(cands)
    scaled = pot.copy()  # another energy unit: every parameter's row is rescaled
    scaled.moment_coeffs = 3.7 * pot.moment_coeffs
    scaled.species_coeffs = 3.7 * pot.species_coeffs
    g2 = ActiveSet.build(scaled, train_images).grades(cands)
    assert np.allclose(g1, g2, rtol=1e-6)
    # the same for the radial symmetry: radial function mu scaled, moment coefficients compensating
    sym = pot.copy()
    sym.radial_coeffs = pot.radial_coeffs * 2.0
    from pyiron_mtp.core.basis import moment_level  # noqa: F401  (documentation of the level rule)
    basis = pot.basis_values(train_images[0].positions, train_images[0].cell.array, True, np.zeros(len(train_images[0]), int))
    sym_basis = sym.basis_values(train_images[0].positions, train_images[0].cell.array, True, np.zeros(len(train_images[0]), int))
    degree = np.round(np.log2(np.abs(sym_basis[0] / basis[0]))).astype(int)  # polynomial degree in f
    sym.moment_coeffs = pot.moment_coeffs / 2.0 ** degree
    e1 = pot.evaluate(cands[0].positions, cands[0].cell.array, True, np.zeros(len(cands[0]), int)).energy
    e2 = sym.evaluate(cands[0].positions, cands[0].cell.array, True, np.zeros(len(cands[0]), int)).energy
    assert e2 == pytest.approx(e1, rel=1e-10)  # the same model
    g3 = ActiveSet.build(sym, train_images).grades(cands)
    assert np.allclose(g1, g3, rtol=1e-4)


def test_linear_only_and_neighbourhood_fragment(fitted):
    pot, train_images = fitted
    aset = ActiveSet.build(pot, train_images, mode="neighborhood", linear_only=True)
    assert aset.maxvol.m == 1 + pot.n_basis
    cluster = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    cluster.pbc = False
    g, per_atom = aset.grade(cluster, per_atom=True)
    assert per_atom.shape == (len(cluster),) and g == pytest.approx(per_atom.max())
    assert g > 1.0  # surface atoms were never seen in bulk training data


def test_save_load_and_stale_set(fitted, tmp_path):
    pot, train_images = fitted
    aset = ActiveSet.build(pot, train_images[:20])
    aset.save(tmp_path / "a.npz")
    back = ActiveSet.load(tmp_path / "a.npz", pot)
    assert np.allclose(back.maxvol.rows, aset.maxvol.rows)
    a = train_images[30]
    assert back.grade(a) == pytest.approx(aset.grade(a), rel=1e-10)
    other = pot.copy()
    other.moment_coeffs = pot.moment_coeffs * 1.01
    with pytest.raises(ValueError, match="rebuild"):
        ActiveSet.load(tmp_path / "a.npz", other)
    aset.pot.moment_coeffs = aset.pot.moment_coeffs.copy()
    pot_before = pot.moment_coeffs.copy()
    pot.moment_coeffs = pot_before * 2
    try:
        with pytest.raises(RuntimeError, match="rebuild"):
            aset.grade(a)
    finally:
        pot.moment_coeffs = pot_before
    with pytest.raises(ValueError, match="mode"):
        ActiveSet(pot, mode="atoms")


def test_cli_grade_and_select(fitted, tmp_path, capsys):
    pot, _ = fitted
    pot_path = tmp_path / "p.mtp"
    pot.to_file(pot_path)
    train_cfg = tmp_path / "train.cfg"
    from pyiron_mtp.cfg import write_cfg
    write_cfg(train_cfg, fitted[1], species=["Cu"])
    cands = data_file("emt_cu", "candidates.cfg")
    out = tmp_path / "graded.cfg"
    assert main(["grade", str(pot_path), str(train_cfg), str(cands), str(out), "--species", "Cu",
                 "--mode", "neighborhood", "-q"]) == 0
    graded = read_cfg(out, species=["Cu"])
    assert len(graded) == 100
    g = [float(a.info["features"]["MV_grade"]) for a in graded]
    assert max(g) > 10
    assert np.isclose(graded[0].arrays["nbh_grades"].max(), g[0], rtol=1e-5)
    sel = tmp_path / "sel.cfg"
    assert main(["select", str(pot_path), str(train_cfg), str(cands), str(sel), "--species", "Cu", "--max", "4",
                 "-q"]) == 0
    chosen = read_cfg(sel, species=["Cu"])
    assert len(chosen) == 4
    assert min(float(a.info["features"]["MV_grade"]) for a in chosen) > 2.0


@pytest.mark.parametrize("mode,linear_only", [("configuration", False), ("neighborhood", False),
                                              ("configuration", True), ("neighborhood", True)])
def test_monitoring_grades_equal_dense_grades(mode, linear_only):
    """The MD path (compact rows, Numba) gives the grades of the dense rows, two species."""
    from pyiron_mtp import MTP
    rng = np.random.default_rng(3)
    pot = MTP.from_level(8, ["Cu", "Al"], 2.0, 4.5)
    pot.parameters = rng.normal(size=pot.n_parameters) * 0.3
    images = []
    for k in range(8):
        a = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(2)
        a.symbols[rng.choice(len(a), 12, replace=False)] = "Al"
        a.rattle(0.15, seed=k)
        images.append(a)
    aset = ActiveSet.build(pot, images[:5], mode=mode, linear_only=linear_only)
    for a in images[5:]:
        types = pot.types_of(a.get_chemical_symbols())
        res = pot.evaluate(a.positions, a.cell.array, a.pbc, types, **aset.evaluate_options())
        assert (res.site_grades is not None) == (mode == "neighborhood")  # fused into the force kernel
        g, per_atom = aset.grade_from_result(res)
        g_dense, per_atom_dense = aset.grade_from_site_rows(res.rows)
        assert g > 0.1
        assert np.isclose(g, g_dense, rtol=1e-9)
        assert np.isclose(g, aset.grade(a), rtol=1e-9)
        plain = pot.evaluate(a.positions, a.cell.array, a.pbc, types, parameter_rows=True)
        assert plain.site_grades is None and np.isclose(aset.grade_from_result(plain)[0], g, rtol=1e-9)
        assert np.allclose(plain.forces, res.forces, rtol=0, atol=1e-12)
        if mode == "neighborhood":
            assert np.allclose(per_atom, per_atom_dense, rtol=1e-9)
        else:
            assert per_atom is None
    # after the set changes (selection with update) the cached inverse follows
    chosen = aset.select(images[5:], threshold=1.0)
    assert chosen
    a = images[chosen[0]]
    res = pot.evaluate(a.positions, a.cell.array, a.pbc, pot.types_of(a.get_chemical_symbols()),
                       **aset.evaluate_options())
    assert np.isclose(aset.grade_from_result(res)[0], aset.grade_from_site_rows(res.rows)[0], rtol=1e-9)
    with pytest.raises(ValueError, match="row_inverse must have shape"):
        pot.evaluate(a.positions, a.cell.array, a.pbc, pot.types_of(a.get_chemical_symbols()),
                     row_inverse=np.eye(3))
    with pytest.raises(ValueError, match="parameter_rows=True"):
        aset.grade_from_result(pot.evaluate(a.positions, a.cell.array, a.pbc,
                                            pot.types_of(a.get_chemical_symbols())))
