"""Gauss-Newton curvature of the training loss in the radial coefficients.

With the species and moment coefficients x solved exactly for given radial coefficients
theta (variable projection), the loss is a function of theta alone.  Its Gauss-Newton
matrix in Kaufman's form is

    H = J^T P J,   J = d(sqrt(W) y(theta; x)) / d theta   at fixed x,
    P = I - sqrt(W) A (A^T W A)^+ A^T sqrt(W)   (projection off the span of the design rows A),

with y the predictions (energies, forces, virials) and W the loss weights per residual.
H is positive semi-definite.  Its null space holds the gauge directions of the MTP (a
radial function rescaled or mixed with radial functions of lower index changes no
prediction once x is re-solved), and its non-zero eigenvalues span many orders of
magnitude (1e5-1e7 for the level-24 Si model of the mlearn benchmark), which is what
makes plain L-BFGS slow on this loss.  :class:`pyiron_mtp.training.Trainer` uses H to
change coordinates (:func:`whitening`) before running L-BFGS; the gradient stays the exact
one of the loss.

J is formed from forward differences of the predictions along each radial coefficient
(relative error ~1e-7, ample for a preconditioner, and the gauge directions stay null to
~1e-14 of the largest eigenvalue): per structure one kernel goes site by site and re-evaluates
each site, from its moments on, once per coefficient that acts on it
(:mod:`pyiron_mtp.core.jacobian`), structures in parallel; ``differences="central"`` takes two
evaluations per coefficient.  With many radial coefficients
(several species: they grow with the square of the species count) on large data that is
too expensive, and H is estimated on a random subset of the structures (a row sketch of J,
scaled to the whole set): ``max_atoms`` bounds the atoms it holds.
"""
from __future__ import annotations

import numpy as np

from ..core.jacobian import radial_jacobian
from ..potential import MTP
from .linear import LinearProblem
from .parallel import map_structures

GROUP = 32                  # structures whose J^T J are held at once
PSEUDO_INVERSE_TOL = 1e-10  # singular values of the scaled design matrix kept, relative to the largest


def _jacobian(pot: MTP, s, sqrt_w, theta, h, central):
    """sqrt(W) d(energy, forces, virial)/d(radial coefficients) of structure ``s`` by finite
    differences, rows in the order of :meth:`LinearProblem.weighted_design`.

    Site by site in one GIL-free kernel (:func:`~pyiron_mtp.core.jacobian.radial_jacobian`): a
    coefficient of pair (z_i, z_j) changes only the sites of species z_i with neighbours of
    species z_j, and each is re-evaluated from its moments on; columns of pairs the structure
    lacks are zero."""
    ce, cf, cs = (float(c) for c in sqrt_w)
    nl = s.nl
    t = pot.kernel_tables()
    J = np.zeros((1 + (3 * s.n_atoms if cf else 0) + (9 if cs else 0), theta.size))
    radial_jacobian(np.ascontiguousarray(s.positions, dtype=float), np.ascontiguousarray(s.cell, dtype=float),
                    s.types, nl.start, nl.index, nl.shift, pot.min_dist, pot.max_dist, pot.core_radius_or_zero,
                    pot.scaling, np.ascontiguousarray(theta, dtype=float), pot.species_coeffs, pot.moment_coeffs,
                    t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["times"], t["times_runs"],
                    t["mapping"], t["n_moments"], ce, cf, cs, float(h), bool(central), J)
    return J


def gauss_newton_matrix(pot: MTP, data, weights, linear_problem=None, rel_step=None, max_atoms=None, seed=0,
                        differences="forward"):
    """Kaufman's Gauss-Newton matrix of the loss in the (flattened) radial coefficients.

    ``pot`` must hold the exactly solved linear coefficients for its radial coefficients
    (as it does after every loss evaluation in training); ``linear_problem`` may pass the
    :class:`~pyiron_mtp.training.LinearProblem` already built for them.  Units: those of
    the loss per (unit radial coefficient)^2.  Returns a symmetric (n, n) array,
    n = radial coefficients.  ``max_atoms``: estimate H on a random subset of structures (drawn
    with ``seed``) holding at most about this many atoms, scaled by (all structures / subset).
    ``differences``: ``"forward"`` (default, step ``rel_step`` = 1e-7 of the largest coefficient)
    or ``"central"`` (1e-6).
    """
    if differences not in ("forward", "central"):
        raise ValueError(f"differences must be 'forward' or 'central', got {differences!r}")
    central = differences == "central"
    if rel_step is None:
        rel_step = 1e-6 if central else 1e-7
    K = len(data)
    chosen = np.arange(K)
    if max_atoms is not None and data.n_atoms > max_atoms:
        order = np.random.default_rng(seed).permutation(K)
        sizes = np.cumsum([data.structures[k].n_atoms for k in order])
        chosen = np.sort(order[:max(1, int(np.searchsorted(sizes, max_atoms, side="right")))])
    scale = K / len(chosen)
    lp = linear_problem
    if lp is None:
        from .data import TrainingSet
        lp = LinearProblem(pot, TrainingSet([data.structures[k] for k in chosen], data.species), weights)
        design = {k: j for j, k in enumerate(chosen)}
    else:
        design = {k: k for k in chosen}
    theta = np.ascontiguousarray(pot.radial_coeffs, dtype=float)
    n = theta.size
    h = rel_step * max(float(np.abs(theta).max()), 1e-300)

    def one(j, s):
        k = int(chosen[j])
        sqrt_w = tuple(np.sqrt(c) for c in weights.terms(s, K))
        if not any(sqrt_w):
            return None
        J = _jacobian(pot, s, sqrt_w, theta, h, central)
        A = lp.weighted_design(design[k], K)
        return J.T @ J, A.T @ J, A

    # summed group by group: one structure's J^T J takes 8 n^2 bytes (5 MB for 800 coefficients)
    JtJ, B, designs = 0.0, 0.0, []
    for lo in range(0, len(chosen), GROUP):
        group = [data.structures[k] for k in chosen[lo:lo + GROUP]]
        done = [p for p in map_structures(lambda j, s: one(lo + j, s), group) if p is not None]
        JtJ = JtJ + sum(p[0] for p in done)
        B = B + sum(p[1] for p in done)
        designs.extend(p[2] for p in done)
    # the projection term B^T (A^T A)^+ B through the R factor of the column-scaled A (the
    # normal equations of a large basis are singular to working precision; R is not)
    d = np.sqrt(sum((A ** 2).sum(0) for A in designs))
    d[d == 0] = 1.0
    R = _r_factor([A / d for A in designs])
    _, sigma, Vt = np.linalg.svd(R)
    keep = sigma > PSEUDO_INVERSE_TOL * sigma.max()
    Y = (Vt[keep] @ (B / d[:, None])) / sigma[keep, None]
    H = scale * (JtJ - Y.T @ Y)
    return 0.5 * (H + H.T)


def _r_factor(blocks, batch_rows=None):
    """R of the QR factorisation of the row blocks stacked, without holding them stacked:
    blocks are folded in batches of a few thousand rows."""
    n = blocks[0].shape[1]
    batch_rows = batch_rows or max(4 * n, 2000)
    R = np.zeros((0, n))
    batch, rows = [], 0
    for k, block in enumerate(blocks):
        batch.append(block)
        rows += len(block)
        if rows >= batch_rows or k == len(blocks) - 1:
            R = np.linalg.qr(np.vstack([R] + batch), mode="r")
            batch, rows = [], 0
    return R


def whitening(H, damping=1e-6, null_tol=1e-9):
    """Coordinates in which ``H`` is close to the identity: S (n, r) with theta = theta0 + S z.

    Eigen-directions with eigenvalues below ``null_tol`` x the largest (the gauge
    directions) are left out; the others are scaled by 1/sqrt(eigenvalue + damping x the
    largest).  Returns S.
    """
    ev, V = np.linalg.eigh(np.asarray(H, dtype=float))
    top = ev.max()
    if not top > 0:
        raise ValueError("the Gauss-Newton matrix has no positive eigenvalue: the loss does not "
                         "depend on the radial coefficients")
    keep = ev > null_tol * top
    return V[:, keep] / np.sqrt(ev[keep] + damping * top)
