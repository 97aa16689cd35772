"""Finite-difference Jacobian of a structure's predictions in the radial coefficients.

Arrays in, arrays out.  A radial coefficient c[z, z', mu, b] enters only the sites of species
z, and there only through the radial function f_mu of their neighbours of species z'
(f_mu += h Q_b for those neighbours).  So the kernel goes site by site: it gathers the
neighbourhood once, and per coefficient re-evaluates the site from its moments on (the
neighbour geometry, the Chebyshev values and the angular monomials stay), skipping the
coefficients of species the neighbourhood lacks, and scatters the change of the site's
energy and pair gradients into the column.  The kernel releases the GIL, so a thread pool
keeps all cores busy on many structures.

Rows, scaled by the square roots of the loss weights (ce, cf, cs): the energy (eV), the
forces (eV/A; row 1 + 3 i + a is atom i, axis a; absent when cf == 0) and the virial
sum_i W_i (eV, MLIP sign, row-major 3x3; absent when cs == 0).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import (gather_neighbors, make_scratch, max_neighbors, moment_products, moments_forward,
                      moments_reverse, pair_gradient, site_energy)


@njit(cache=True, nogil=True)
def _perturbed_site(z, zz, mu, b, step, nn, zq, qv, dqv, f, df, f0, df0, mono, mom, mom0, dmom,
                    species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs,
                    mapping, rvec, rr, jt, accA, accB, gu, rp, pair_grad, grad_out):
    """Site energy with f_mu of the neighbours of species zz shifted by step x Q_b; the pair
    gradients into grad_out[q] (neighbour q).  mom is rebuilt from the base moments mom0 on every
    call; f and df are restored to the base site (f0, df0) after."""
    n_basic = mu_offset[f.shape[0]]
    for k in range(n_basic):
        mom[k] = mom0[k]
    for k in range(n_basic, mom.shape[0]):
        mom[k] = 0.0
    off = mu_offset[mu]
    for t in range(mu_nang[mu]):
        acc = 0.0
        for q in range(nn):
            if zq[q] == zz:
                acc += qv[b, q] * mono[t, q]
        mom[off + t] += step * acc
    moment_products(times, times_runs, mom)
    energy = site_energy(z, species_coeffs, moment_coeffs, mapping, mom)
    moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom)
    for q in range(nn):
        if zq[q] == zz:
            f[mu, q] = f0[mu, q] + step * qv[b, q]
            df[mu, q] = df0[mu, q] + step * dqv[b, q]
    pair_gradient(nn, rvec, rr, jt, f, df, mono, dmom, mu_offset, mu_nang, ang_axis, ang_lower,
                  accA, accB, gu, rp, pair_grad)
    for q in range(nn):
        p = jt[q]
        grad_out[q, 0] = pair_grad[p, 0]
        grad_out[q, 1] = pair_grad[p, 1]
        grad_out[q, 2] = pair_grad[p, 2]
        f[mu, q] = f0[mu, q]
        df[mu, q] = df0[mu, q]
    return energy


@njit(cache=True, nogil=True)
def radial_jacobian(positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling, radial_coeffs,
                    species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs,
                    mapping, n_moments, ce, cf, cs, h, central, J):
    """Add to J (rows, C*C*K*R; zeroed by the caller) d(rows)/d(radial coefficient) by forward
    differences of step h (central differences if ``central``), column index
    ((z C + z') K + mu) R + b."""
    n = positions.shape[0]
    C = radial_coeffs.shape[0]
    K = radial_coeffs.shape[2]
    R = radial_coeffs.shape[3]
    max_nn = max_neighbors(start, 0, n)
    rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB, gu, rp, zq = make_scratch(
        max_nn, K, R, ang_axis.shape[0], n_moments)
    mom0 = np.empty(n_moments)
    f0 = np.empty((K, max_nn))
    df0 = np.empty((K, max_nn))
    g0 = np.zeros((max_nn, 3))
    gp = np.empty((max_nn, 3))
    gm = np.empty((max_nn, 3))
    pair_grad = np.zeros((index.shape[0], 3))
    present = np.zeros(C, dtype=np.bool_)
    virial_row = 1 + 3 * n if cf != 0.0 else 1
    for i in range(n):
        z = types[i]
        nn, _ = gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                                 radial_coeffs, True, pair_grad, rvec, rr, jt, qv, dqv, f, df)
        if nn == 0:
            continue
        moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom)
        e0 = site_energy(z, species_coeffs, moment_coeffs, mapping, mom)
        if not central:
            moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom)
            pair_gradient(nn, rvec, rr, jt, f, df, mono, dmom, mu_offset, mu_nang, ang_axis, ang_lower,
                          accA, accB, gu, rp, pair_grad)
            for q in range(nn):
                for a in range(3):
                    g0[q, a] = pair_grad[jt[q], a]
        for k in range(n_moments):
            mom0[k] = mom[k]
        present[:] = False
        for q in range(nn):
            zq[q] = types[index[jt[q]]]
            present[zq[q]] = True
            for mu in range(K):
                f0[mu, q] = f[mu, q]
                df0[mu, q] = df[mu, q]
        for zz in range(C):
            if not present[zz]:
                continue
            for mu in range(K):
                for b in range(R):
                    col = ((z * C + zz) * K + mu) * R + b
                    ep = _perturbed_site(z, zz, mu, b, h, nn, zq, qv, dqv, f, df, f0, df0, mono, mom, mom0, dmom,
                                         species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower,
                                         times, times_runs, mapping, rvec, rr, jt, accA, accB, gu, rp, pair_grad, gp)
                    if central:
                        em = _perturbed_site(z, zz, mu, b, -h, nn, zq, qv, dqv, f, df, f0, df0, mono, mom, mom0,
                                             dmom, species_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis,
                                             ang_lower, times, times_runs, mapping, rvec, rr, jt, accA, accB, gu, rp,
                                             pair_grad, gm)
                        gref = gm
                        scale = 1.0 / (2.0 * h)
                    else:
                        em = e0
                        gref = g0
                        scale = 1.0 / h
                    J[0, col] += ce * (ep - em) * scale
                    for q in range(nn):
                        j = index[jt[q]]
                        for a in range(3):
                            d = (gp[q, a] - gref[q, a]) * scale
                            if cf != 0.0:
                                J[1 + 3 * i + a, col] += cf * d
                                J[1 + 3 * j + a, col] -= cf * d
                            if cs != 0.0:
                                for c in range(3):
                                    J[virial_row + 3 * a + c, col] -= cs * d * rr[q] * rvec[c, q]
