"""The training loss and its exact gradient in the radial coefficients."""
from __future__ import annotations


import numpy as np

from ..core.loss import loss_gradient_structures
from .parallel import map_batches


def loss_terms(data, preds, weights):
    """Loss and the per-structure residual weights for the gradient."""
    K = len(data)
    total = 0.0
    for s, (E, F, W) in zip(data.structures, preds):
        ce, cf, cs = weights.terms(s, K)
        if ce:
            total += ce * (E - s.energy) ** 2
        if cf:
            total += cf * float(((F - s.forces) ** 2).sum())
        if cs:
            total += cs * float(((W - s.virial) ** 2).sum())
    return total


def radial_gradient(pot, data, preds, weights):
    """dL/d(radial coefficients) at fixed linear coefficients (exact, Numba): one kernel call per
    thread over its batch of structures.  Returns (radial, species, moment) gradients."""
    t = pot.kernel_tables()
    K = len(data)
    pk = data.packed()
    terms = np.array([weights.terms(s, K) for s in data.structures], dtype=float).reshape(K, 3)
    E = np.array([p[0] for p in preds], dtype=float)
    F = np.concatenate([p[1] for p in preds])
    W = np.stack([p[2] for p in preds])
    atom_weight = np.repeat(2.0 * terms[:, 0] * (E - pk.energies), pk.n_atoms)
    force_resid = np.ascontiguousarray(2.0 * np.repeat(terms[:, 1], pk.n_atoms)[:, None] * (F - pk.forces))
    virial_resid = np.ascontiguousarray(2.0 * terms[:, 2, None, None] * (W - pk.virials))

    def batch(k0, k1):
        g_rad = np.zeros_like(pot.radial_coeffs)
        g_sp = np.zeros(pot.species_count)
        g_mo = np.zeros(pot.n_basis)
        loss_gradient_structures(k0, k1, pk.atom_off, pk.pair_off, pk.positions, pk.cells, pk.types, pk.start,
                                 pk.index, pk.shift, pot.min_dist, pot.max_dist, pot.core_radius_or_zero,
                                 pot.scaling, pot.radial_coeffs, pot.moment_coeffs, t["mu_offset"], t["mu_nang"],
                                 t["ang_axis"], t["ang_lower"], t["times"], t["times_runs"], t["mapping"],
                                 t["n_moments"], atom_weight, force_resid, virial_resid, g_rad, g_sp, g_mo)
        return g_rad, g_sp, g_mo

    parts = map_batches(batch, pk.n_atoms)
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))
