import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from pyiron_mtp import MTP
from pyiron_mtp.training.curvature import gauss_newton_matrix, whitening
from pyiron_mtp.training import LossWeights, Trainer, TrainingSet, initialise_radial
from conftest import random_potential
from test_training import emt_images


def _noiseless_set(truth, n=4):
    """EMT geometries labelled by ``truth`` itself: the loss is zero at truth's radial coefficients."""
    images = []
    for a in emt_images(n, alloy=False):
        res = truth.evaluate(a.positions, a.cell.array, a.pbc, truth.types_of(a.get_chemical_symbols()))
        a.calc = SinglePointCalculator(a, energy=res.energy, forces=res.forces, stress=res.stress)
        images.append(a)
    data = TrainingSet.from_atoms(images, truth.species)
    data.prepare(truth.max_dist)
    return data


def test_gauss_newton_is_the_hessian_at_zero_residual_and_ignores_the_gauge():
    """With noiseless data the Gauss-Newton matrix is half the exact Hessian of the loss
    (checked against central differences of the exact gradient); mixing a radial function
    with one of lower index or rescaling it changes no prediction: a null direction."""
    truth = random_potential(12, ["Cu"], scale=1e-2, seed=2)
    data = _noiseless_set(truth)
    w = LossWeights(1.0, 0.01, 0.001)
    trainer = Trainer(truth.copy(), data, weights=w)
    theta = truth.radial_coeffs.ravel().copy()
    loss, grad = trainer._objective(theta)
    assert loss < 1e-14
    H = gauss_newton_matrix(trainer.pot, data, w)
    assert np.allclose(H, H.T) and np.linalg.eigvalsh(H).min() > -1e-9 * np.abs(H).max()
    # forward differences (the default, half the evaluations) agree with central ones
    Hc = gauss_newton_matrix(trainer.pot, data, w, differences="central")
    assert np.abs(H - Hc).max() < 1e-5 * np.abs(Hc).max()
    with pytest.raises(ValueError, match="forward"):
        gauss_newton_matrix(trainer.pot, data, w, differences="backward")

    rng = np.random.default_rng(0)
    v = rng.standard_normal(theta.size)
    eps = 1e-5
    hv = (trainer._objective(theta + eps * v)[1] - trainer._objective(theta - eps * v)[1]) / (2 * eps)
    assert np.allclose(hv, 2 * H @ v, rtol=1e-4, atol=1e-5 * np.abs(hv).max())

    c = truth.radial_coeffs
    K = c.shape[2]
    n_gauge = 0
    for mu in range(K):  # f_mu mixed with f_nu (nu <= mu; nu == mu: rescaled): gauge directions
        for nu in range(mu + 1):
            g = np.zeros_like(c)
            g[:, :, mu, :] = c[:, :, nu, :]
            g = g.ravel()
            assert np.linalg.norm(H @ g) < 1e-6 * np.linalg.norm(H, 2) * np.linalg.norm(g)
            n_gauge += 1

    S = whitening(H, damping=1e-8)
    assert S.shape[1] <= theta.size - n_gauge
    M = S.T @ H @ S
    assert np.allclose(M, np.diag(np.diag(M)), atol=1e-8) and np.all(np.diag(M) > 0.5)
    assert np.all(np.diag(M) < 1 + 1e-8)


def test_whitening_rejects_a_zero_matrix():
    import pytest
    with pytest.raises(ValueError, match="does not depend"):
        whitening(np.zeros((3, 3)))


def test_preconditioned_training_converges_faster():
    """Same start, same number of iterations: L-BFGS in Gauss-Newton-whitened coordinates
    reaches a clearly lower loss than plain L-BFGS, and is deterministic."""
    images = emt_images(8, alloy=False)
    losses, params = {}, {}
    for precondition in (False, True, True):
        pot = MTP.from_level(10, ["Cu"], 2.0, 4.5)
        initialise_radial(pot, 1)
        trainer = Trainer(pot, TrainingSet.from_atoms(images, ["Cu"]))
        trainer.fit(max_iter=20, progress=False, precondition=precondition, refresh=5)
        assert len(trainer.history) == 21  # one row per iteration across the refreshes
        losses.setdefault(precondition, []).append(min(h["loss"] for h in trainer.history))
        params.setdefault(precondition, []).append(pot.parameters)
    assert losses[True][0] < 0.5 * losses[False][0]
    assert np.array_equal(params[True][0], params[True][1])


def test_first_trial_step_is_the_chosen_fraction_of_the_newton_step():
    """L-BFGS-B in the scaled whitened coordinates tries fraction x the Gauss-Newton step first
    (on a quadratic whose Gauss-Newton matrix is its Hessian: the Newton step), whatever the
    gradient's size; unscaled (None) it tries a unit step in the whitened coordinates."""
    import scipy.optimize
    from pyiron_mtp.training.trainer import first_step_scale
    rng = np.random.default_rng(5)
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    H = Q @ np.diag(np.logspace(-3, 4, 6)) @ Q.T
    b = rng.standard_normal(6)
    theta0 = np.linalg.solve(H, b) + 1e-4 * rng.standard_normal(6)    # near the minimum: |g_z| << 1
    g0 = H @ theta0 - b
    S = whitening(H, damping=0.0)
    newton = -np.linalg.solve(H, g0)
    for fraction in (0.25, 0.5, None):
        c = first_step_scale(S, g0, fraction)
        tried = []

        def f(z):
            theta = theta0 + c * S @ z
            tried.append(theta)
            return 0.5 * theta @ H @ theta - b @ theta, c * S.T @ (H @ theta - b)
        scipy.optimize.minimize(f, np.zeros(S.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 1})
        step = tried[1] - theta0
        if fraction is None:
            gz = S.T @ g0
            assert np.abs(step + S @ gz / np.linalg.norm(gz)).max() < 1e-8 * np.abs(step).max()
            assert np.linalg.norm(step) > 10 * np.linalg.norm(newton)     # the overshoot it avoids
        else:
            assert np.abs(step - fraction * newton).max() < 1e-8 * np.abs(newton).max()
    assert first_step_scale(S, np.zeros(6), 0.25) == 1.0


def test_r_factor_folded_in_batches_is_that_of_the_stacked_matrix():
    from pyiron_mtp.training.curvature import _r_factor
    rng = np.random.default_rng(3)
    blocks = [rng.standard_normal((m, 7)) for m in (1, 5, 3, 9, 2, 4)]
    R = _r_factor(blocks, batch_rows=6)
    A = np.vstack(blocks)
    assert R.shape == (7, 7) and np.allclose(np.tril(R, -1), 0)
    assert np.allclose(R.T @ R, A.T @ A)


def test_species_local_jacobian_equals_whole_structure_differences():
    """Structures holding one, two or three of three species: the Jacobian that re-evaluates
    site by site only the sites a coefficient acts on, from their moments on (and skips the pairs
    a structure lacks), equals forward differences of the whole structure's energy, forces and
    virial; central differences agree with them."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from pyiron_mtp.training.curvature import _jacobian
    images = []
    for k, symbols in enumerate([["Cu"], ["Ag", "Cu"], ["Au", "Ag"], ["Au", "Cu", "Ag", "Cu"]]):
        a = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((2, 2, 1))
        a.symbols = [symbols[j % len(symbols)] for j in range(len(a))]
        a.rattle(0.1, seed=k)
        a.calc = EMT()
        a.get_stress()
        images.append(a)
    species = ["Cu", "Ag", "Au"]
    pot = MTP.from_level(8, species, 2.0, 5.0, radial_basis_size=4)
    initialise_radial(pot, seed=1)
    pot.species_coeffs = np.array([-1.0, -2.0, -3.0])
    pot.moment_coeffs = np.random.default_rng(0).standard_normal(pot.n_basis)
    data = TrainingSet.from_atoms(images, species)
    data.prepare(pot.max_dist)
    theta = pot.radial_coeffs.copy()
    h = 1e-6
    sqrt_w = (1.0, 0.3, 0.1)

    def whole(s, radial):
        site, forces, atom_virial, _ = pot._run(s.positions, s.cell, s.types, s.nl, True,
                                                np.zeros((0, pot.n_basis)), radial_coeffs=radial, threaded=False)
        return np.concatenate([[site.sum()], 0.3 * forces.ravel(), 0.1 * atom_virial.sum(0).ravel()])

    for s in data.structures:
        J = _jacobian(pot, s, sqrt_w, theta, h, central=False)
        here = whole(s, theta)
        ref = np.empty_like(J)
        for p in range(theta.size):
            step = np.zeros(theta.size)
            step[p] = h
            ref[:, p] = (whole(s, theta + step.reshape(theta.shape)) - here) / h
        assert np.abs(ref).max() > 0
        assert np.abs(J - ref).max() < 1e-6 * np.abs(ref).max()
        Jc = _jacobian(pot, s, sqrt_w, theta, 1e-4, central=True)
        assert np.abs(Jc - J).max() < 1e-5 * np.abs(J).max()
        present = np.zeros(len(species), dtype=bool)
        present[s.types] = True
        absent = ~(present[:, None] & present[None, :])
        assert not J.reshape(len(J), *theta.shape)[:, absent].any()
    H = gauss_newton_matrix(pot, data, LossWeights(1.0, 0.01, 0.001))
    import pyiron_mtp.training.curvature as curvature
    group, curvature.GROUP = curvature.GROUP, 1       # summed one structure at a time: the same matrix
    try:
        assert np.allclose(gauss_newton_matrix(pot, data, LossWeights(1.0, 0.01, 0.001)), H, rtol=1e-12, atol=0)
    finally:
        curvature.GROUP = group
