import copy
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from pyiron_mtp import MTP
from pyiron_mtp.cli import main
from pyiron_mtp.training import (LinearProblem, LossWeights, Trainer, TrainingDataError, TrainingSet,
                                 error_report, initialise_radial, loss_terms, radial_gradient, train)
from conftest import data_file, random_potential


def emt_images(n=4, seed=0, alloy=True):
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
        if alloy:  # compositions differ, so both species energies are identifiable
            a.symbols[[1, 5, 9, 13][: 1 + k % 4]] = "Ag"
        a.rattle(0.1, seed=seed + k)
        a.set_cell(a.cell.array * (1 + 0.01 * k), scale_atoms=True)
        a.calc = EMT()
        a.get_stress()
        out.append(a)
    return out


def loss_at(pot, data, weights, x):
    return loss_terms(data, LinearProblem(pot, data, weights).predictions(x), weights)


def fd4(fun, h):
    """Fourth-order central difference of fun(step) at 0."""
    return (-fun(2 * h) + 8 * fun(h) - 8 * fun(-h) + fun(-2 * h)) / (12 * h)


@pytest.mark.parametrize("weighting", ["vibrations", "molecules", "structures"])
def test_gradient_finite_differences(weighting):
    images = emt_images()
    # masks: one structure without stress, one without forces, one without energy
    r = images[1].calc.results
    images[1].calc = SinglePointCalculator(images[1], energy=r["energy"], forces=r["forces"])
    r = images[2].calc.results
    images[2].calc = SinglePointCalculator(images[2], energy=r["energy"], stress=r["stress"])
    r = images[3].calc.results
    images[3].calc = SinglePointCalculator(images[3], forces=r["forces"], stress=r["stress"])
    pot = random_potential(10, ["Cu", "Ag"], min_dist=1.8, max_dist=4.5)
    data = TrainingSet.from_atoms(images, ["Cu", "Ag"])
    data.prepare(pot.max_dist)
    w = LossWeights(1.0, 0.01, 0.001, weighting)
    # the operating point of variable projection: linear coefficients solved, then perturbed
    x = LinearProblem(pot, data, w).solve()
    x *= 1 + 0.01 * np.random.default_rng(1).standard_normal(x.size)
    pot.species_coeffs, pot.moment_coeffs = x[:2].copy(), x[2:].copy()
    preds = LinearProblem(pot, data, w).predictions(x)
    g_rad, g_sp, g_mo = radial_gradient(pot, data, preds, w)
    h = 1e-4

    def shifted(idx):
        def fun(step):
            p = pot.copy()
            p.radial_coeffs[idx] += step
            return loss_at(p, data, w, x)
        return fun

    for idx in [(0, 0, 0, 0), (0, 1, 2, 3), (1, 0, 1, 5), (1, 1, 2, 7)]:
        assert g_rad[idx] == pytest.approx(fd4(shifted(idx), h), rel=1e-6)
    lp = LinearProblem(pot, data, w)
    for k, g in [(1, g_sp[1]), (2, g_mo[0]), (2 + 7, g_mo[7])]:
        def lin(step, k=k):
            x2 = x.copy()
            x2[k] += step
            return loss_terms(data, lp.predictions(x2), w)
        assert g == pytest.approx(fd4(lin, h), rel=1e-6)


def test_design_rows_reproduce_evaluation():
    pot = random_potential(12, ["Cu", "Ag"])
    data = TrainingSet.from_atoms(emt_images(2), ["Cu", "Ag"])
    data.prepare(pot.max_dist)
    lp = LinearProblem(pot, data, LossWeights())
    E, F, W = lp.predictions(np.concatenate([pot.species_coeffs, pot.moment_coeffs]))[1]
    s = data.structures[1]
    res = pot.evaluate(s.positions, s.cell, s.pbc, s.types)
    assert E == pytest.approx(res.energy, rel=1e-12)
    assert np.allclose(F, res.forces, atol=1e-9)
    assert np.allclose(W, res.virial, atol=1e-8)


def test_design_rows_with_a_product_moment_built_over_separate_runs():
    """A product moment whose rows of alpha_index_times are split into two runs (as a file may list
    them) gets the same design rows: its tangent is set by its first row, not by its first run."""
    from pyiron_mtp.core.design import design_rows
    pot = random_potential(12, ["Cu", "Ag"])
    data = TrainingSet.from_atoms(emt_images(1), ["Cu", "Ag"])
    data.prepare(pot.max_dist)
    s = data.structures[0]
    t = dict(pot.kernel_tables())
    runs = t["times_runs"]
    g = int(np.argmax(np.diff(runs)))            # the longest run: split it after its first row
    assert runs[g + 1] - runs[g] >= 2
    split = np.insert(runs, g + 1, runs[g] + 1)

    def rows(times_runs):
        A = pot.n_basis
        e, f, w = np.zeros(A), np.zeros((s.n_atoms, 3, A)), np.zeros((3, 3, A))
        design_rows(0, s.n_atoms, s.positions, s.cell, s.types, s.nl.start, s.nl.index, s.nl.shift,
                    pot.min_dist, pot.max_dist, pot.core_radius_or_zero, pot.scaling, pot.radial_coeffs,
                    t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"],
                    t["times"], times_runs, t["mapping"], t["n_moments"], e, f, w)
        return e, f, w
    for a, b in zip(rows(runs), rows(split)):
        assert np.allclose(a, b, rtol=1e-13, atol=1e-13 * np.abs(a).max())
        assert np.abs(a).max() > 0


def test_exact_recovery_of_linear_coefficients():
    """Noiseless data from a known potential: the least-squares solve returns its coefficients."""
    truth = random_potential(10, ["Cu", "Ag"], scale=1e-3)
    images = []
    for a in emt_images(6):
        res = truth.evaluate(a.positions, a.cell.array, a.pbc, truth.types_of(a.get_chemical_symbols()))
        a.calc = SinglePointCalculator(a, energy=res.energy, forces=res.forces, stress=res.stress)
        images.append(a)
    data = TrainingSet.from_atoms(images, ["Cu", "Ag"])
    data.prepare(truth.max_dist)
    x = LinearProblem(truth, data, LossWeights()).solve()
    assert np.allclose(x[:2], truth.species_coeffs, rtol=1e-6, atol=1e-8)
    assert np.allclose(x[2:], truth.moment_coeffs, rtol=1e-5, atol=1e-9)


def _weighted_system(lp):
    """The least-squares system sqrt(W) A x = sqrt(W) y written out row by row."""
    C, K = lp.pot.species_count, len(lp.data)
    rows, y = [], []
    for s, (counts, e, f, w) in zip(lp.data.structures, lp.rows):
        fe, ff, fs = lp.weights.factors(s.n_atoms)
        a = np.sqrt(s.weight * lp.weights.energy * fe / K)
        rows.append(a * np.concatenate([counts, e])[None])
        y.append([a * s.energy])
        a = np.sqrt(s.weight * lp.weights.force * ff / K)
        Fr = f.reshape(-1, f.shape[-1])
        rows.append(a * np.hstack([np.zeros((len(Fr), C)), Fr]))
        y.append(a * s.forces.ravel())
        a = np.sqrt(s.weight * lp.weights.stress * fs / K)
        Wr = w.reshape(9, -1)
        rows.append(a * np.hstack([np.zeros((9, C)), Wr]))
        y.append(a * s.virial.ravel())
    return np.vstack(rows), np.concatenate(y)


def test_linear_solve_is_exact_on_ill_conditioned_data():
    """DFT-like energies (-5 eV/atom) and a basis larger than the data can resolve: condition
    number ~1e16.  The refined solve is a stationary point to machine precision and its loss
    is that of an orthogonal least-squares solution."""
    images = emt_images(8, alloy=False)
    for a in images:
        r = a.calc.results
        a.calc = SinglePointCalculator(a, energy=r["energy"] - 5.0 * len(a), forces=r["forces"],
                                       stress=r["stress"])
    pot = random_potential(16, ["Cu"], min_dist=1.8, max_dist=4.5)
    data = TrainingSet.from_atoms(images, ["Cu"])
    data.prepare(pot.max_dist)
    w = LossWeights()
    lp = LinearProblem(pot, data, w)
    A, y = _weighted_system(lp)
    assert np.linalg.cond(A) > 1e12
    x_qr = np.linalg.lstsq(A, y, rcond=None)[0]
    x = lp.solve()
    scale = np.abs(lp.residual_projection(np.zeros_like(x))).max()
    assert np.abs(lp.residual_projection(x)).max() < 1e-14 * scale
    loss, loss_qr = loss_terms(data, lp.predictions(x), w), loss_terms(data, lp.predictions(x_qr), w)
    assert loss <= loss_qr * (1 + 1e-12)
    # the residual projection is A^T W r
    assert np.allclose(lp.residual_projection(x_qr), A.T @ (y - A @ x_qr), rtol=1e-8, atol=1e-12 * scale)


def test_training_reduces_errors_and_is_deterministic():
    images = emt_images(8, alloy=False)
    kw = dict(level=8, min_dist=2.0, max_dist=4.5, max_iter=12, seed=3, progress=False)
    pot1, tr1 = train(images, ["Cu"], **kw)
    pot2, _ = train(images, ["Cu"], **kw)
    assert np.array_equal(pot1.parameters, pot2.parameters)
    first, last = tr1.history[0], min(tr1.history, key=lambda h: h["loss"])
    assert last["loss"] < 0.2 * first["loss"]
    # every iteration takes at least one new loss evaluation; the count only grows
    evaluations = [h["evaluations"] for h in tr1.history]
    assert evaluations[0] == 1 and np.all(np.diff(evaluations) >= 1)
    assert evaluations[-1] == tr1.n_evaluations
    rep = error_report(pot1, images)
    assert rep["force_rmse"] < 0.05 and rep["n_structures"] == 8
    pot3, _ = train(images, ["Cu"], **{**kw, "seed": 4})
    assert not np.array_equal(pot3.parameters, pot1.parameters)


def test_min_dist_from_data_and_validation_early_stopping():
    images = emt_images(10, alloy=False)
    data = TrainingSet.from_atoms(images, ["Cu"])
    dmin = data.min_distance()
    pot, tr = train(images, ["Cu"], level=6, max_dist=4.5, valid_fraction=0.3, max_iter=40, patience=1,
                    progress=False)
    assert pot.min_dist == pytest.approx(dmin)
    assert len(tr.valid) == 3 and len(tr.data) == 7
    assert any("valid_force_rmse" in h for h in tr.history)
    assert tr.best is not None and np.array_equal(pot.parameters, tr.best[1])
    # the last iteration's parameters are kept apart: their training loss is the last one recorded
    last = copy.deepcopy(pot)
    last.parameters = tr.last_parameters
    x = tr.last_parameters[last.radial_coeffs.size:]            # species and moment coefficients
    assert loss_at(last, tr.fit_data, tr.weights, x) == pytest.approx(tr.history[-1]["loss"], rel=1e-9)
    if tr.best[2] != tr.history[-1]["iteration"]:
        assert not np.array_equal(tr.last_parameters, tr.best[1])


def test_interrupt_keeps_best(monkeypatch):
    images = emt_images(4, alloy=False)
    pot = MTP.from_level(6, ["Cu"], 2.0, 4.5)
    initialise_radial(pot, 0)
    trainer = Trainer(pot, TrainingSet.from_atoms(images, ["Cu"]))
    calls = {"n": 0}
    original = trainer._objective

    def flaky(theta):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original(theta)

    trainer._objective = flaky
    trainer.fit(max_iter=50, progress=False)
    assert trainer.stopped_by == "interrupted"
    assert pot.trained and np.array_equal(pot.parameters, trainer.best[1])
    assert np.isfinite(error_report(pot, images)["force_rmse"])


def test_bad_training_data():
    images = emt_images(2)
    bad = images[1].copy()
    bad.calc = SinglePointCalculator(bad, energy=np.nan, forces=images[1].get_forces())
    with pytest.raises(TrainingDataError, match="structure 1: reference energy contains NaN"):
        TrainingSet.from_atoms([images[0], bad], ["Cu", "Ag"])
    with pytest.raises(TrainingDataError, match=r"element\(s\) \['Ag'\] not among"):
        TrainingSet.from_atoms(images, ["Cu"])
    with pytest.raises(TrainingDataError, match="empty"):
        TrainingSet.from_atoms([], ["Cu"])
    nothing = images[0].copy()
    nothing.calc = None
    with pytest.raises(TrainingDataError, match="no reference"):
        TrainingSet.from_atoms([nothing], ["Cu", "Ag"])
    with pytest.raises(ValueError, match="weighting"):
        train(images, ["Cu", "Ag"], level=6, max_iter=1, weighting="atoms", progress=False)
    with pytest.raises(ValueError, match="the force weight must be finite and >= 0"):
        train(images, ["Cu", "Ag"], level=6, max_iter=1, force_weight=-0.01, progress=False)
    with pytest.raises(ValueError, match="the stress weight must be finite and >= 0"):
        LossWeights(stress=float("nan"))
    neg = images[0].copy()
    neg.calc = images[0].calc
    neg.info["weight"] = -1
    with pytest.raises(TrainingDataError, match="weight must be"):
        TrainingSet.from_atoms([neg], ["Cu", "Ag"])
    images[0].info["weight"] = 2.5
    assert TrainingSet.from_atoms(images, ["Cu", "Ag"]).structures[0].weight == 2.5
    with pytest.raises(ValueError, match="level"):
        train(images, ["Cu", "Ag"], max_iter=1, progress=False)


def test_cli_train_and_errors(tmp_path, capsys):
    src = data_file("emt_cu", "test.cfg")
    out = tmp_path / "p.mtp"
    assert main(["train", str(src), "-o", str(out), "--level", "6", "--species", "Cu", "--max-dist", "4.5",
                 "--max-iter", "8", "-q", "--plot", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig_parity.png").stat().st_size > 1000
    assert (tmp_path / "fig_learning.png").stat().st_size > 1000
    pot = MTP.from_file(out, species=["Cu"])
    assert pot.trained
    capsys.readouterr()
    assert main(["errors", str(out), str(src), "--species", "Cu", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("n_structures", "energy_rmse", "energy_mae", "force_rmse", "force_mae", "stress_rmse", "stress_mae"):
        assert key in rep
    assert rep["n_structures"] == 50
    assert rep["force_rmse"] == pytest.approx(error_report(pot, __import__("pyiron_mtp.cfg", fromlist=["x"]).read_cfg(src, species=["Cu"]))["force_rmse"])
    # continue from the trained potential
    out2 = tmp_path / "p2.mtp"
    assert main(["train", str(src), "-o", str(out2), "--init", str(out), "--species", "Cu", "--max-iter", "3", "-q"]) == 0
    with pytest.raises(SystemExit, match="--init POT.mtp, or --level"):
        main(["train", str(src), "-o", str(out2)])


def test_validation_split_is_stratified_by_config_type():
    images = emt_images(14, alloy=False)
    for k, a in enumerate(images):
        if k < 10:
            a.info["config_type"] = "bulk"
        elif k < 13:
            a.info["config_type"] = "surface"
        else:
            a.info["config_type"] = "single"
    data = TrainingSet.from_atoms(images, ["Cu", "Ag"])
    for seed in range(5):
        tr, va = data.split(0.3, seed=seed)
        assert len(va) == round(0.3 * 14) and len(tr) + len(va) == 14
        kinds = [s.group for s in va.structures]
        assert kinds.count("bulk") == 3 and kinds.count("surface") == 1 and "single" not in kinds
        assert {s.name for s in tr.structures} | {s.name for s in va.structures} == {s.name for s in data.structures}
    # reproducible for a seed, different between seeds
    assert [s.name for s in data.split(0.3, seed=1)[1].structures] == [s.name for s in data.split(0.3, seed=1)[1].structures]
    assert len({tuple(s.name for s in data.split(0.3, seed=k)[1].structures) for k in range(5)}) > 1
    # without groups the split is a plain random one
    plain = TrainingSet.from_atoms(emt_images(10, alloy=False), ["Cu", "Ag"])
    assert len(plain.split(0.2, seed=0)[1]) == 2
    with pytest.raises(ValueError, match="leaves no"):
        plain.split(0.01)


def test_smallest_distance_per_species_pair_and_the_min_dist_warning():
    """Cu atoms in an Au crystal, never next to each other: the Cu-Cu pair's smallest distance is
    a second-neighbour one, so a min_dist set for Au-Au leaves Cu-Cu unconstrained - warned."""
    a = bulk("Au", "fcc", a=4.08, cubic=True).repeat(2)          # 32 sites
    a.symbols[[0, 31]] = "Cu"                                      # far apart
    images = []
    rng = np.random.default_rng(0)
    for k in range(3):
        b = a.copy()
        b.positions += rng.normal(0, 0.02, b.positions.shape)
        b.calc = SinglePointCalculator(b, energy=-3.0 * len(b), forces=np.zeros((len(b), 3)),
                                       stress=np.zeros(6))
        images.append(b)
    ts = TrainingSet.from_atoms(images, ["Cu", "Au"])
    pairs = ts.pair_min_distances(cutoff=6.0)
    nn = 4.08 / np.sqrt(2)
    assert set(pairs) == {("Cu", "Au"), ("Au", "Au"), ("Cu", "Cu")}
    assert pairs[("Au", "Au")] == pytest.approx(nn, abs=0.1) and pairs[("Cu", "Au")] == pytest.approx(nn, abs=0.1)
    from ase.geometry import get_distances
    d = min(get_distances(im.positions[0], im.positions[31], im.cell, pbc=True)[1].min() for im in images)
    assert pairs[("Cu", "Cu")] == pytest.approx(d, abs=1e-9) and d > 1.3 * nn
    assert ts.min_distance() == pytest.approx(min(pairs.values()))
    warnings = ts.check_min_dist(2.0, cutoff=6.0)
    assert len(warnings) == 3 and any("Cu-Cu" in w for w in warnings)
    # min_dist just below the nearest-neighbour distance: only Cu-Cu is far above it
    warnings = ts.check_min_dist(0.95 * nn, cutoff=6.0)
    assert len(warnings) == 1 and "Cu-Cu" in warnings[0] and f"{d:.2f} A" in warnings[0]
    # within a cutoff shorter than their distance the two Cu atoms never meet
    short = ts.check_min_dist(0.95 * nn, cutoff=0.5 * (d + nn))
    assert len(short) == 1 and "never within" in short[0]
