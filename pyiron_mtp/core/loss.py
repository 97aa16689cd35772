"""Numba kernel: gradient of the training loss with respect to all MTP parameters.

For a structure the loss terms of energy, forces and stress reduce, per atom i, to
an objective O_i = a_i V_i + sum_q g_q . dV_i/dr_q, where a_i is the energy
residual weight of the atom's structure and g_q the displacement of pair q
(i -> j, vector r_q) built from the weighted force residuals rf and the weighted virial
residual rw: g_q = -(rf_j - rf_i) - rw r_q (see ``training``);
sum_q g_q . dV_i/dr_q is the derivative of V_i along that displacement field.
Its parameter gradient needs one forward pass, a tangent pass along g and one
reverse pass through both (forward-over-reverse).
"""
import numpy as np
from numba import njit

from .kernels import gather_neighbors, make_scratch, max_neighbors, moments_forward, moments_reverse


@njit(cache=True, nogil=True, fastmath=True)
def loss_gradient_range(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                        radial_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower,
                        times, times_runs, mapping, n_moments, atom_weight, force_resid, virial_resid,
                        grad_radial, grad_species, grad_moment):
    """Accumulate dO_i/d(parameters) for atoms lo..hi-1.

    atom_weight[i] = a_i; force_resid (N, 3) = rf, virial_resid (3, 3) = rw (see above).
    Adds into grad_radial (C, C, K, R), grad_species (C,), grad_moment (A,).
    Returns sum_i O_i (for checks).
    """
    max_nn = max_neighbors(start, lo, hi)
    n_mu = radial_coeffs.shape[2]
    n_rad = radial_coeffs.shape[3]
    n_ang = ang_axis.shape[0]
    # dmom: adjoint of the moment tangents (= dV/dmom); dmono: tangent of the monomials
    rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, dmono, _, _, rdot, _ = make_scratch(
        max_nn, n_mu, n_rad, n_ang, n_moments)
    tmom = np.empty(n_moments)          # tangent of the moments
    lmom = np.empty(n_moments)          # adjoint of mom
    udot = np.empty((3, max_nn))        # tangent of the unit vector
    adj_f = np.empty((n_mu, max_nn))
    adj_df = np.empty((n_mu, max_nn))
    dummy = np.zeros((0, 3))
    total = 0.0
    n_a = mapping.shape[0]
    for i in range(lo, hi):
        zi = types[i]
        a_i = atom_weight[i]
        nn, _ = gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                                 radial_coeffs, False, dummy, rvec, rr, jt, qv, dqv, f, df)
        moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom)
        # tangent along the pair displacements g_q
        for q in range(nn):
            j = index[jt[q]]
            dx = rr[q] * rvec[0, q]
            dy = rr[q] * rvec[1, q]
            dz = rr[q] * rvec[2, q]
            gx = force_resid[i, 0] - force_resid[j, 0] - (virial_resid[0, 0] * dx + virial_resid[0, 1] * dy
                                                         + virial_resid[0, 2] * dz)
            gy = force_resid[i, 1] - force_resid[j, 1] - (virial_resid[1, 0] * dx + virial_resid[1, 1] * dy
                                                         + virial_resid[1, 2] * dz)
            gz = force_resid[i, 2] - force_resid[j, 2] - (virial_resid[2, 0] * dx + virial_resid[2, 1] * dy
                                                         + virial_resid[2, 2] * dz)
            rd = gx * rvec[0, q] + gy * rvec[1, q] + gz * rvec[2, q]
            rdot[q] = rd
            inv = 1.0 / rr[q]
            udot[0, q] = (gx - rd * rvec[0, q]) * inv
            udot[1, q] = (gy - rd * rvec[1, q]) * inv
            udot[2, q] = (gz - rd * rvec[2, q]) * inv
        for q in range(nn):
            dmono[0, q] = 0.0
        for t in range(1, n_ang):
            d = ang_axis[t]
            low = ang_lower[t, d]
            for q in range(nn):
                dmono[t, q] = dmono[low, q] * rvec[d, q] + mono[low, q] * udot[d, q]
        for k in range(n_moments):
            tmom[k] = 0.0
        for mu in range(n_mu):
            off = mu_offset[mu]
            for t in range(mu_nang[mu]):
                acc = 0.0
                for q in range(nn):
                    acc += df[mu, q] * rdot[q] * mono[t, q] + f[mu, q] * dmono[t, q]
                tmom[off + t] = acc
        for g in range(times_runs.shape[0] - 1):
            acc = 0.0
            for t in range(times_runs[g], times_runs[g + 1]):
                acc += times[t, 2] * (tmom[times[t, 0]] * mom[times[t, 1]] + mom[times[t, 0]] * tmom[times[t, 1]])
            tmom[times[times_runs[g], 3]] += acc
        # objective and its gradient with respect to the linear coefficients
        o = 0.0
        for a in range(n_a):
            m = mom[mapping[a]]
            tm = tmom[mapping[a]]
            o += moment_coeffs[a] * (a_i * m + tm)
            grad_moment[a] += a_i * m + tm
        grad_species[zi] += a_i
        total += o
        # reverse: dmom = adjoint of tmom (the same recursion as dV/dmom), lmom = adjoint of mom
        moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom)
        for k in range(n_moments):
            lmom[k] = 0.0
        for a in range(n_a):
            lmom[mapping[a]] += a_i * moment_coeffs[a]
        for g in range(times_runs.shape[0] - 2, -1, -1):
            k = times[times_runs[g], 3]
            dk = dmom[k]
            lk = lmom[k]
            if dk != 0.0 or lk != 0.0:
                for t in range(times_runs[g], times_runs[g + 1]):
                    w = times[t, 2]
                    ii = times[t, 0]
                    jj = times[t, 1]
                    lmom[ii] += w * (dk * tmom[jj] + lk * mom[jj])
                    lmom[jj] += w * (dk * tmom[ii] + lk * mom[ii])
        # basic level: adjoints of f and df per neighbour (mono, dmono are geometry only)
        for mu in range(n_mu):
            off = mu_offset[mu]
            for q in range(nn):
                adj_f[mu, q] = 0.0
                adj_df[mu, q] = 0.0
            for t in range(mu_nang[mu]):
                lt = lmom[off + t]
                dt = dmom[off + t]
                for q in range(nn):
                    adj_f[mu, q] += lt * mono[t, q] + dt * dmono[t, q]
                    adj_df[mu, q] += dt * rdot[q] * mono[t, q]
        # radial coefficients: f = sum_b c Q_b, df = sum_b c dQ_b
        for q in range(nn):
            zj = types[index[jt[q]]]
            for mu in range(n_mu):
                af = adj_f[mu, q]
                adf = adj_df[mu, q]
                for b in range(n_rad):
                    grad_radial[zi, zj, mu, b] += af * qv[b, q] + adf * dqv[b, q]
    return total


@njit(cache=True, nogil=True)
def loss_gradient_structures(k0, k1, atom_off, pair_off, positions, cells, types, start, index, shift, r_min,
                             r_cut, r_core, scaling, radial_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis,
                             ang_lower, times, times_runs, mapping, n_moments, atom_weight, force_resid,
                             virial_resid, grad_radial, grad_species, grad_moment):
    """:func:`loss_gradient_range` over the whole structures k0..k1-1 of concatenated arrays
    (see ``PackedStructures``: per structure its atoms, local neighbour-list offsets, pairs and
    cell); virial_resid (K, 3, 3).  Adds into the gradients; returns sum_i O_i."""
    total = 0.0
    for k in range(k0, k1):
        a0 = atom_off[k]
        a1 = atom_off[k + 1]
        p0 = pair_off[k]
        p1 = pair_off[k + 1]
        total += loss_gradient_range(0, a1 - a0, positions[a0:a1], cells[k], types[a0:a1],
                                     start[a0 + k:a1 + k + 1], index[p0:p1], shift[p0:p1], r_min, r_cut, r_core,
                                     scaling, radial_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis,
                                     ang_lower, times, times_runs, mapping, n_moments, atom_weight[a0:a1],
                                     force_resid[a0:a1], virial_resid[k], grad_radial, grad_species, grad_moment)
    return total
