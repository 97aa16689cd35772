"""Numba kernel: derivatives of site energies with respect to all MTP parameters.

Row of atom i: dV_i/d(theta) in MLIP's parameter order
[radial (C, C, K, R) | species (C) | moment (A)].  Only the block of the atom's own
type z_i is non-zero in the radial part, so it is returned compactly as
radial[i, z_j, mu, beta] = dV_i / dc[z_i, z_j, mu, beta].
"""
import numpy as np
from numba import njit

from .kernels import gather_neighbors, moments_forward, moments_reverse


@njit(cache=True, nogil=True, fastmath=True)
def site_parameter_rows(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                        radial_coeffs, moment_coeffs, mu_offset, mu_nang, ang_axis, ang_lower,
                        times, times_runs, mapping, n_moments, radial_rows, moment_rows):
    """Fill radial_rows[i] (C, K, R) and moment_rows[i] (A,) for atoms lo..hi-1."""
    max_nn = 1
    for i in range(lo, hi):
        max_nn = max(max_nn, start[i + 1] - start[i])
    n_mu = radial_coeffs.shape[2]
    n_rad = radial_coeffs.shape[3]
    n_ang = ang_axis.shape[0]
    rvec = np.empty((3, max_nn))
    rr = np.empty(max_nn)
    jt = np.empty(max_nn, dtype=np.int64)
    qv = np.empty((n_rad, max_nn))
    dqv = np.empty((n_rad, max_nn))
    f = np.empty((n_mu, max_nn))
    df = np.empty((n_mu, max_nn))
    mono = np.empty((n_ang, max_nn))
    mom = np.empty(n_moments)
    dmom = np.empty(n_moments)
    adj = np.empty(max_nn)
    dummy = np.zeros((0, 3))
    for i in range(lo, hi):
        nn, _ = gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                                 radial_coeffs, False, dummy, rvec, rr, jt, qv, dqv, f, df)
        moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom)
        for a in range(mapping.shape[0]):
            moment_rows[i, a] = mom[mapping[a]]
        moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom)
        for mu in range(n_mu):
            off = mu_offset[mu]
            for q in range(nn):
                adj[q] = 0.0
            for t in range(mu_nang[mu]):
                d = dmom[off + t]
                for q in range(nn):
                    adj[q] += d * mono[t, q]
            for q in range(nn):
                zj = types[index[jt[q]]]
                for b in range(n_rad):
                    radial_rows[i, zj, mu, b] += adj[q] * qv[b, q]
