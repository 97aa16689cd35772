"""Numba kernel: the linear design rows of one structure.

With the radial coefficients fixed, energy, forces and virial are linear in the
species and moment coefficients.  For one structure this kernel returns
  energy row   e[alpha] = sum_i B_alpha(n_i),
  force rows   F[j, :, alpha] = -d(sum_i B_alpha(n_i))/d x_j      (eV/A per unit coefficient),
  virial rows  W[:, :, alpha] = -sum_ij dB_alpha(n_i)/dr_ij (x) r_ij (MLIP PlusStress, eV),
by forward-mode differentiation with one tangent per (Cartesian direction, neighbour).
"""
import numpy as np
from numba import njit

from .kernels import gather_neighbors, make_scratch, max_neighbors, moments_forward


@njit(cache=True, nogil=True, fastmath=True)
def design_rows(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                radial_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, times, times_runs,
                mapping, n_moments, e_row, f_rows, w_rows):
    """Rows for the atoms lo..hi-1 of one structure (their neighbours must lie in lo..hi-1).

    e_row (A,), f_rows (hi-lo, 3, A) and w_rows (3, 3, A) are accumulated into.
    """
    max_nn = max_neighbors(start, lo, hi)
    n_mu = radial_coeffs.shape[2]
    n_rad = radial_coeffs.shape[3]
    n_ang = ang_axis.shape[0]
    n_a = mapping.shape[0]
    rvec, rr, jt, qv, dqv, f, df, mono, mom, _, _, _, _, _, _ = make_scratch(max_nn, n_mu, n_rad, n_ang, n_moments)
    dmono = np.empty((n_ang, 3, max_nn))       # d mono[t] / d r_q
    tan = np.empty((n_moments, 3 * max_nn))    # d mom[k] / d r_q at c * nn + q
    started = np.zeros(n_moments, dtype=np.bool_)   # product moments whose tangent is set
    dummy = np.zeros((0, 3))
    disp = np.empty((3, max_nn))               # r_q (A)
    jl = np.empty(max_nn, dtype=np.int64)      # neighbour of pair q, relative to lo
    rinv = np.empty(max_nn)
    for i in range(lo, hi):
        nn, _ = gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                                 radial_coeffs, False, dummy, rvec, rr, jt, qv, dqv, f, df)
        moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom)
        for a in range(n_a):
            e_row[a] += mom[mapping[a]]
        # d mono / d r = (grad_u mono - (grad_u mono . u) u) / r
        for q in range(nn):
            rinv[q] = 1.0 / rr[q]
        for t in range(n_ang):
            # d mono / d u_c = pow_c x (the monomial with u_c's power lowered by one); a zero power
            # multiplies mono[0] = 1 (any valid row), so the loop over q has no branches
            px = float(ang_pow[t, 0])
            py = float(ang_pow[t, 1])
            pz = float(ang_pow[t, 2])
            lx = ang_lower[t, 0] if ang_pow[t, 0] > 0 else 0
            ly = ang_lower[t, 1] if ang_pow[t, 1] > 0 else 0
            lz = ang_lower[t, 2] if ang_pow[t, 2] > 0 else 0
            for q in range(nn):
                gx = px * mono[lx, q]
                gy = py * mono[ly, q]
                gz = pz * mono[lz, q]
                proj = gx * rvec[0, q] + gy * rvec[1, q] + gz * rvec[2, q]
                inv = rinv[q]
                dmono[t, 0, q] = (gx - proj * rvec[0, q]) * inv
                dmono[t, 1, q] = (gy - proj * rvec[1, q]) * inv
                dmono[t, 2, q] = (gz - proj * rvec[2, q]) * inv
        n3 = 3 * nn
        for mu in range(n_mu):
            off = mu_offset[mu]
            for t in range(mu_nang[mu]):
                for c in range(3):
                    for q in range(nn):
                        tan[off + t, c * nn + q] = df[mu, q] * mono[t, q] * rvec[c, q] + f[mu, q] * dmono[t, c, q]
        # product moments by runs of rows with one target: the target's first row sets its tangent
        # (no zeroing pass), the others add two rows at a time (fewer loads and stores of the target)
        for k in range(mu_offset[n_mu], n_moments):
            started[k] = False
        for g in range(times_runs.shape[0] - 1):
            row = times_runs[g]
            end = times_runs[g + 1]
            k = times[row, 3]
            if not started[k]:
                i1 = times[row, 0]
                j1 = times[row, 1]
                m1 = times[row, 2] * mom[i1]
                m2 = times[row, 2] * mom[j1]
                for x in range(n3):
                    tan[k, x] = m1 * tan[j1, x] + m2 * tan[i1, x]
                started[k] = True
                row += 1
            while row + 1 < end:
                i1 = times[row, 0]
                j1 = times[row, 1]
                m1 = times[row, 2] * mom[i1]
                m2 = times[row, 2] * mom[j1]
                i2 = times[row + 1, 0]
                j2 = times[row + 1, 1]
                m3 = times[row + 1, 2] * mom[i2]
                m4 = times[row + 1, 2] * mom[j2]
                for x in range(n3):
                    tan[k, x] += m1 * tan[j1, x] + m2 * tan[i1, x] + m3 * tan[j2, x] + m4 * tan[i2, x]
                row += 2
            if row < end:
                i1 = times[row, 0]
                j1 = times[row, 1]
                m1 = times[row, 2] * mom[i1]
                m2 = times[row, 2] * mom[j1]
                for x in range(n3):
                    tan[k, x] += m1 * tan[j1, x] + m2 * tan[i1, x]
        # scatter: pair q is i -> j, r_q = x_j - x_i
        il = i - lo
        for q in range(nn):
            rq = rr[q]
            disp[0, q] = rvec[0, q] * rq
            disp[1, q] = rvec[1, q] * rq
            disp[2, q] = rvec[2, q] * rq
            jl[q] = index[jt[q]] - lo
        for a in range(n_a):
            k = mapping[a]
            for c in range(3):
                s0 = 0.0
                w0 = 0.0
                w1 = 0.0
                w2 = 0.0
                for q in range(nn):
                    g = tan[k, c * nn + q]
                    s0 += g
                    w0 += g * disp[0, q]
                    w1 += g * disp[1, q]
                    w2 += g * disp[2, q]
                f_rows[il, c, a] += s0
                w_rows[c, 0, a] -= w0
                w_rows[c, 1, a] -= w1
                w_rows[c, 2, a] -= w2
        for q in range(nn):
            j = jl[q]
            for c in range(3):
                for a in range(n_a):
                    f_rows[j, c, a] -= tan[mapping[a], c * nn + q]


@njit(cache=True, nogil=True)
def design_rows_structures(k0, k1, base, atom_off, pair_off, positions, cells, types, start, index, shift, r_min,
                           r_cut, r_core, scaling, radial_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow,
                           times, times_runs, mapping, n_moments, counts, e_rows, f_rows, w_rows):
    """:func:`design_rows` of the whole structures k0..k1-1 of concatenated arrays (see
    ``PackedStructures``), written (not added) into rows stacked from structure ``base`` on:
    counts (K', C) species counts, e_rows (K', A), f_rows (atoms', 3, A) starting at atom
    atom_off[base], w_rows (K', 3, 3, A)."""
    a_base = atom_off[base]
    for k in range(k0, k1):
        a0 = atom_off[k]
        a1 = atom_off[k + 1]
        p0 = pair_off[k]
        p1 = pair_off[k + 1]
        j = k - base
        counts[j, :] = 0.0
        for a in range(a0, a1):
            counts[j, types[a]] += 1.0
        e_rows[j, :] = 0.0
        w_rows[j] = 0.0
        f = f_rows[a0 - a_base:a1 - a_base]
        f[...] = 0.0
        design_rows(0, a1 - a0, positions[a0:a1], cells[k], types[a0:a1], start[a0 + k:a1 + k + 1], index[p0:p1],
                    shift[p0:p1], r_min, r_cut, r_core, scaling, radial_coeffs, mu_offset, mu_nang, ang_axis,
                    ang_lower, ang_pow, times, times_runs, mapping, n_moments, e_rows[j], f, w_rows[j])
