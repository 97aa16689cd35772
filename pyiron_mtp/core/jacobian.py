"""Finite-difference Jacobian of a structure's predictions in the radial coefficients.

Arrays in, arrays out.  The structure's atoms must be sorted by species (``bounds[z]`` ..
``bounds[z + 1]`` are the atoms of species z): a radial coefficient c[z, z', mu, b] acts on
the sites of species z only, so each column re-evaluates only those sites.  One call does
every column of a structure, so a thread pool keeps all cores busy on many small structures
(the kernel releases the GIL).

Rows, scaled by the square roots of the loss weights (ce, cf, cs): the energy (eV), the
forces in the structure's original atom order (eV/A; row 1 + 3 i + a is atom i, axis a;
absent when cf == 0) and the virial sum_i W_i (eV, MLIP sign, 9 rows; absent when cs == 0).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import evaluate_range


@njit(cache=True, nogil=True)
def _predict(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
             radial, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow,
             ang_rank, times, times_runs, mapping, n_moments, inv, ce, cf, cs,
             site, pair_grad, force, atom_virial, part_bounds, no_basis, no_rows, no_inv, no_grades, out):
    """Weighted rows of what the sites lo..hi-1 contribute (energy, forces, virial) into ``out``."""
    force[:] = 0.0
    atom_virial[:] = 0.0
    evaluate_range(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                   radial, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow,
                   ang_rank, times, times_runs, mapping, n_moments, True, site, pair_grad, no_basis, no_rows,
                   no_inv, False, no_grades, part_bounds, force, atom_virial)
    e = 0.0
    for i in range(lo, hi):
        e += site[i]
    out[0] = ce * e
    row = 1
    if cf != 0.0:
        for i in range(inv.shape[0]):
            for a in range(3):
                out[row] = cf * force[0, inv[i], a]
                row += 1
    if cs != 0.0:
        for a in range(3):
            for b in range(3):
                w = 0.0
                for i in range(lo, hi):
                    w += atom_virial[i, a, b]
                out[row] = cs * w
                row += 1


@njit(cache=True, nogil=True)
def radial_jacobian(bounds, used, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                    radial_coeffs, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower,
                    ang_pow, ang_rank, times, times_runs, mapping, n_moments, n_basis, inv, ce, cf, cs, h,
                    central, J):
    """Fill J (rows, C*C*K*R) with d(rows)/d(radial coefficient) by forward differences of step h
    (central differences if ``central``); columns whose ``used`` (flattened mask) is False are
    left as they are (zero for a zeroed J)."""
    n = positions.shape[0]
    C, _, K, R = radial_coeffs.shape
    theta = radial_coeffs.copy()
    site = np.zeros(n)
    pair_grad = np.zeros((index.shape[0], 3))
    force = np.zeros((1, n, 3))
    atom_virial = np.zeros((n, 3, 3))
    part_bounds = np.array([0, n], dtype=np.int64)
    no_basis = np.zeros((0, n_basis))
    no_rows = np.zeros((0, 1, 1, 1))
    no_inv = np.zeros((0, 0))
    no_grades = np.zeros(0)
    rows = J.shape[0]
    base = np.empty(rows)
    plus = np.empty(rows)
    minus = np.empty(rows)
    for z in range(C):
        lo, hi = bounds[z], bounds[z + 1]
        if lo == hi:
            continue
        if not central:
            _predict(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling, theta,
                     species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank,
                     times, times_runs, mapping, n_moments, inv, ce, cf, cs, site, pair_grad, force, atom_virial,
                     part_bounds, no_basis, no_rows, no_inv, no_grades, base)
        for zz in range(C):
            for mu in range(K):
                for b in range(R):
                    col = ((z * C + zz) * K + mu) * R + b
                    if not used[col]:
                        continue
                    old = theta[z, zz, mu, b]
                    theta[z, zz, mu, b] = old + h
                    _predict(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                             theta, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow,
                             ang_rank, times, times_runs, mapping, n_moments, inv, ce, cf, cs, site, pair_grad,
                             force, atom_virial, part_bounds, no_basis, no_rows, no_inv, no_grades, plus)
                    if central:
                        theta[z, zz, mu, b] = old - h
                        _predict(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core,
                                 scaling, theta, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis,
                                 ang_lower, ang_pow, ang_rank, times, times_runs, mapping, n_moments, inv, ce, cf,
                                 cs, site, pair_grad, force, atom_virial, part_bounds, no_basis, no_rows, no_inv,
                                 no_grades, minus)
                        for r in range(rows):
                            J[r, col] = (plus[r] - minus[r]) / (2.0 * h)
                    else:
                        for r in range(rows):
                            J[r, col] = (plus[r] - base[r]) / h
                    theta[z, zz, mu, b] = old
