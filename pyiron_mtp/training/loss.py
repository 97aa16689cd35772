"""The training loss and its exact gradient in the radial coefficients."""
from __future__ import annotations


import numpy as np

from ..core.loss import loss_gradient_range
from .parallel import map_structures


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
    """dL/d(radial coefficients) at fixed linear coefficients (exact, Numba)."""
    t = pot.kernel_tables()
    K = len(data)

    def one(k, s):
        E, F, W = preds[k]
        ce, cf, cs = weights.terms(s, K)
        atom_weight = np.full(s.n_atoms, 2.0 * ce * (E - s.energy) if ce else 0.0)
        force_resid = 2.0 * cf * (F - s.forces) if cf else np.zeros((s.n_atoms, 3))
        virial_resid = 2.0 * cs * (W - s.virial) if cs else np.zeros((3, 3))
        nl = s.nl
        g_rad = np.zeros_like(pot.radial_coeffs)
        g_sp = np.zeros(pot.species_count)
        g_mo = np.zeros(pot.n_basis)
        loss_gradient_range(0, s.n_atoms, s.positions, s.cell, s.types, nl.start, nl.index, nl.shift,
                            pot.min_dist, pot.max_dist, pot.core_radius_or_zero, pot.scaling, pot.radial_coeffs, pot.moment_coeffs,
                            t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["times"],
                            t["times_runs"], t["mapping"], t["n_moments"], atom_weight,
                            np.ascontiguousarray(force_resid, dtype=float), np.ascontiguousarray(virial_resid, dtype=float),
                            g_rad, g_sp, g_mo)
        return g_rad, g_sp, g_mo

    parts = map_structures(one, data.structures)
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))
