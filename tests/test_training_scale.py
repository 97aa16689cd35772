"""Training on larger, multi-species data: design rows streamed under a memory bound, and the
Gauss-Newton preconditioner estimated on a subset of the structures."""
import warnings

import numpy as np
import pytest

from pyiron_mtp import MTP
from pyiron_mtp.training import LinearProblem, LossWeights, Trainer, TrainingSet, initialise_radial
from pyiron_mtp.training.curvature import gauss_newton_matrix, whitening
from pyiron_mtp.training.linear import row_bytes
from pyiron_mtp.training.loss import loss_terms
from test_short_range import SPECIES, emt_data


@pytest.fixture(scope="module")
def data():
    d = TrainingSet.from_atoms(emt_data(30, seed=2), SPECIES)
    d.prepare(4.5)
    return d


def fresh(level=10):
    pot = MTP.from_level(level, SPECIES, 2.0, 4.5)
    initialise_radial(pot, seed=1)
    return pot


@pytest.mark.parametrize("per_group", [1, 2])
def test_streamed_design_rows_give_the_same_fit(data, monkeypatch, per_group):
    """Rows kept in memory or recomputed in batches under a memory bound: the same sums, group by
    group, so the same numbers to the last bit and the same training."""
    import pyiron_mtp.training.linear as linear
    pot = fresh()
    size = row_bytes(data.structures[0], pot.n_basis, len(SPECIES))
    assert all(row_bytes(s, pot.n_basis, len(SPECIES)) == size for s in data.structures)
    monkeypatch.setattr(linear, "GROUP_BYTES", per_group * size)
    full = LinearProblem(pot, data, LossWeights())
    streamed = LinearProblem(pot, data, LossWeights(), max_memory=6 * size)
    assert streamed.streamed and len(streamed.kept) == 3 // per_group * per_group and not full.streamed
    x_full, x_streamed = full.solve(), streamed.solve()
    assert np.array_equal(x_full, x_streamed)
    for (e1, f1, w1), (e2, f2, w2) in zip(full.predictions(x_full), streamed.predictions(x_full)):
        assert e1 == e2 and np.array_equal(f1, f2) and np.array_equal(w1, w2)
    for k in (0, 7, 29):        # kept and recomputed structures alike
        assert np.array_equal(full.weighted_design(k), streamed.weighted_design(k))
    # whole training runs: the same loss history
    runs = []
    for memory in (None, 6 * size):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = Trainer(fresh(), data, max_memory=memory)
            tr.fit(max_iter=4, progress=False)
        runs.append([row["loss"] for row in tr.history])
    assert np.allclose(runs[0], runs[1], rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="max_memory"):
        LinearProblem(pot, data, LossWeights(), max_memory=per_group * size)


def test_stacked_sums_equal_the_per_structure_sums(data):
    """The normal equations and predictions of the stacked rows equal the sums written out
    structure by structure from the rows of each structure."""
    pot = fresh()
    weights = LossWeights()
    lp = LinearProblem(pot, data, weights)
    C, K = len(SPECIES), len(data)
    n = C + pot.n_basis
    G, h, yy = np.zeros((n, n)), np.zeros(n), 0.0
    for s, (counts, e, f, w) in zip(data.structures, lp.rows):
        ce, cf, cs = weights.terms(s, K)
        row = np.concatenate([counts, e])
        G += ce * np.outer(row, row)
        h += ce * row * s.energy
        Fr, Wr = f.reshape(-1, pot.n_basis), w.reshape(9, -1)
        G[C:, C:] += cf * Fr.T @ Fr + cs * Wr.T @ Wr
        h[C:] += cf * Fr.T @ s.forces.ravel() + cs * Wr.T @ s.virial.ravel()
        yy += ce * s.energy ** 2 + cf * (s.forces ** 2).sum() + cs * (s.virial ** 2).sum()
    G2, h2, yy2 = lp.normal_equations()
    assert np.allclose(G2, G, rtol=1e-12, atol=1e-13 * np.abs(G).max())
    assert np.allclose(h2, h, rtol=1e-12, atol=1e-13 * np.abs(h).max()) and np.isclose(yy2, yy, rtol=1e-12)
    x = lp.solve()
    for (E, F, W), (counts, e, f, w) in zip(lp.predictions(x), lp.rows):
        assert np.isclose(E, counts @ x[:C] + e @ x[C:], rtol=1e-12)
        scale = np.abs(x[C:]).sum()     # rounding of sums with cancellation: relative to the terms
        assert np.allclose(F, f @ x[C:], rtol=0, atol=1e-13 * scale * np.abs(f).max())
        assert np.allclose(W, w @ x[C:], rtol=0, atol=1e-13 * scale * np.abs(w).max())
    # at the solution A^T W (y - A x) vanishes against A^T W y
    assert np.abs(lp.residual_projection(x)).max() < 1e-8 * np.abs(h).max()


def test_subset_gauss_newton_matrix_preconditions_the_whole(data):
    """H from a third of the structures (scaled) whitens the full H nearly as well as the full H
    itself: the condition number of S^T H S drops by orders of magnitude."""
    pot = fresh()
    lp = LinearProblem(pot, data, LossWeights())
    x = lp.solve()
    pot.species_coeffs, pot.moment_coeffs = x[:3], x[3:]
    H = gauss_newton_matrix(pot, data, LossWeights(), linear_problem=lp)
    assert np.allclose(H, gauss_newton_matrix(pot, data, LossWeights(), max_atoms=10 ** 9), rtol=1e-8, atol=1e-12)
    third = data.n_atoms // 3
    Hs = gauss_newton_matrix(pot, data, LossWeights(), linear_problem=lp, max_atoms=third, seed=4)
    Hs2 = gauss_newton_matrix(pot, data, LossWeights(), max_atoms=third, seed=4)    # own design rows
    assert np.allclose(Hs, Hs2, rtol=1e-8, atol=1e-12 * np.abs(Hs).max())
    assert not np.allclose(Hs, H)
    # same scale as the whole: traces within a factor of 2
    assert 0.5 < np.trace(Hs) / np.trace(H) < 2.0

    def cond(M):
        ev = np.linalg.eigvalsh(M)
        ev = ev[ev > 1e-9 * ev.max()]
        return ev.max() / ev.min()
    S_full, S_sub = whitening(H), whitening(Hs)
    assert cond(H) > 1e4
    assert cond(S_sub.T @ H @ S_sub) < 1e-2 * cond(H)
    assert cond(S_full.T @ H @ S_full) < cond(S_sub.T @ H @ S_sub)


def test_preconditioned_and_plain_training_reach_the_same_loss(data):
    """The preconditioner changes the path, not the minimum: plain L-BFGS with four times the
    iterations ends within a factor 1.6 of the preconditioned loss; the preconditioner estimated
    on a third of the structures (10 of 30: its small eigenvalues are noisy, and the path depends on
    the start - six starts) is slower than the whole one but well ahead of plain L-BFGS."""
    def run(seed, iters, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pot = fresh(8)
            initialise_radial(pot, seed=seed)
            tr = Trainer(pot, data)
            tr.fit(max_iter=iters, progress=False, **kwargs)
        return [row["loss"] for row in tr.history]
    whole = min(run(1, 80, precondition=True))
    plain = run(1, 320, precondition=False)
    # six starts: rounding-level changes of the data's sums move one start's loss by 2-3x here
    # (4.6e-5 to 1.9e-4 over six starts), the median by much less
    subset = [min(run(seed, 80, precondition=True, gn_atoms=data.n_atoms // 3)) for seed in range(1, 7)]
    assert 0.6 < min(plain) / whole < 1.6, (whole, min(plain))
    assert max(subset) < 0.5 * min(plain[:81]), (subset, min(plain[:81]))
    assert np.median(subset) < 5 * whole, (subset, whole)


def test_defaults_a_user_can_leave_alone():
    """max_iter, validation and stopping chosen by train itself: 5 % held out from 200 structures on,
    training ends by early stopping or a stalled loss well before 1000 iterations; below 200
    structures nothing is held out and the stalled loss ends it."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from pyiron_mtp.training import train
    rng = np.random.default_rng(0)
    images = []
    for k in range(220):
        a = bulk("Cu", "fcc", a=rng.uniform(3.5, 3.7), cubic=True)
        a.rattle(0.1, seed=k)
        a.calc = EMT()
        a.get_forces()
        images.append(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pot, tr = train(images, ["Cu"], level=6, max_dist=4.5, progress=False)
    assert len(tr.valid) == 11 and len(tr.data) == 209
    assert tr.stopped_by.startswith(("early stopping", "loss fell", "CONVERGENCE")), tr.stopped_by
    assert len(tr.history) - 1 < 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pot, tr = train(images[:60], ["Cu"], level=6, max_dist=4.5, progress=False)
    assert tr.valid is None and len(tr.data) == 60
    assert tr.stopped_by.startswith("loss fell") or "CONVERGENCE" in str(tr.stopped_by), tr.stopped_by
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pot, tr = train(images[:60], ["Cu"], level=6, max_dist=4.5, progress=False, max_time=1e-4)
    assert tr.stopped_by.startswith("time limit") and len(tr.history) <= 3


def test_growing_subsets_reach_the_whole_sets_loss_for_less_work():
    """Fitting on nested subsets first (sample) ends on the whole set with a loss and validation
    error close to a fit on the whole set from the start, at fewer atom-iterations; the subsets
    give way in order, and the schedule needs validation data."""
    from pyiron_mtp.training import train
    from pyiron_mtp.training.trainer import auto_sample
    images = emt_data(100, seed=5)
    runs = {}
    for label, sample in (("whole", None), ("sampled", [200, 600])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pot, tr = train(images, SPECIES, level=8, max_dist=4.5, valid_fraction=0.2, max_iter=120, patience=None,
                            progress=False, sample=sample, seed=3)
        n = [row["fit_atoms"] for row in tr.history]
        work = sum(n[1:])
        tr._cache = None
        full_loss = tr._objective(pot.radial_coeffs.ravel())[0]      # on the whole training set
        valid = min(row["valid_force_rmse"] for row in tr.history if row.get("valid_force_rmse") is not None)
        runs[label] = (n, work, full_loss, valid)
    n, work, loss, valid = runs["sampled"]
    whole = runs["whole"]
    assert n[0] >= 200 and n[0] < 600 and n[-1] == whole[0][-1] == 16 * 80
    assert np.all(np.diff(n) >= 0) and len(set(n)) == 3, sorted(set(n))
    assert work < 0.8 * whole[1], (work, whole[1])
    assert loss < 1.3 * whole[2] and valid < 1.05 * whole[3], (loss, whole[2], valid, whole[3])
    with pytest.raises(ValueError, match="validation"):
        Trainer(fresh(6), TrainingSet.from_atoms(images, SPECIES)).fit(max_iter=2, progress=False, sample=[200])
    assert auto_sample(131875, 897) == [7176, 28704] and auto_sample(13000, 64) == []


def test_validation_score_is_the_loss_on_the_validation_set(data):
    """The score that picks the kept parameters and stops training early is the training loss's
    own data terms: on the training set itself it equals the loss training minimises."""
    from pyiron_mtp.training.errors import loss_and_report
    for weighting in ("vibrations", "structures"):
        weights = LossWeights(1.0, 0.01, 0.1, weighting)
        tr = Trainer(fresh(6), data, weights=weights)
        loss, _ = tr._objective(tr.pot.radial_coeffs.ravel().copy())
        score, report = loss_and_report(tr.pot, data, weights)
        assert score == pytest.approx(loss, rel=1e-8)
        assert report["force_rmse"] > 0 and report["stress_rmse"] > 0


def test_subset_gauss_newton_matrices_averaged_over_refreshes(data, monkeypatch):
    """gn_average=2: each whitening after the first is built from the mean of the two latest subset
    matrices (each on another subset); the whole set's matrix is never averaged."""
    import pyiron_mtp.training.curvature as curvature
    made, whitened = [], []
    real_gn, real_whitening = curvature.gauss_newton_matrix, curvature.whitening

    def gn(*args, **kwargs):
        made.append(real_gn(*args, **kwargs))
        return made[-1]

    def whitening(H, **kwargs):
        whitened.append(H.copy())
        return real_whitening(H, **kwargs)
    monkeypatch.setattr(curvature, "gauss_newton_matrix", gn)
    monkeypatch.setattr(curvature, "whitening", whitening)
    for gn_atoms, expect_mean in ((data.n_atoms // 3, True), (None, False)):
        made.clear()
        whitened.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = Trainer(fresh(8), data)
            tr.fit(max_iter=16, refresh=4, progress=False, gn_atoms=gn_atoms, gn_average=2)
        assert len(made) >= 3 and len(whitened) == len(made)
        assert np.array_equal(whitened[0], made[0])
        for k in range(1, len(made)):
            mean = 0.5 * (made[k - 1] + made[k])
            assert np.allclose(whitened[k], mean if expect_mean else made[k], rtol=1e-14, atol=0)
            assert not np.allclose(made[k], made[k - 1])
    assert tr.history[-1]["loss"] < 0.5 * tr.history[0]["loss"]
