"""Chebyshev radial basis of MLIP (RBChebyshev).

Q_b(r) = scaling * T_b(xi) * (r - R_cut)^2 for r < R_cut, 0 beyond, with
xi = (2 r - (R_min + R_cut)) / (R_cut - R_min).  Below R_min the polynomials are
evaluated as they are (MLIP extrapolates).  Distances in Angstrom.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def chebyshev_radial(r, r_min, r_cut, scaling, q, dq):
    """Fill q[b] = Q_b(r) and dq[b] = dQ_b/dr for b < len(q); zero at r >= r_cut."""
    n = q.shape[0]
    if r >= r_cut:
        for b in range(n):
            q[b] = 0.0
            dq[b] = 0.0
        return
    inv = 1.0 / (r_cut - r_min)
    xi = (2.0 * r - (r_min + r_cut)) * inv
    dxi = 2.0 * inv
    d = r - r_cut
    env = scaling * d * d
    denv = 2.0 * scaling * d
    # Chebyshev recursion carried on T_b and dT_b/dxi
    t_prev = 1.0
    dt_prev = 0.0
    q[0] = env
    dq[0] = denv
    if n == 1:
        return
    t_cur = xi
    dt_cur = 1.0
    q[1] = t_cur * env
    dq[1] = dt_cur * dxi * env + t_cur * denv
    for b in range(2, n):
        t_next = 2.0 * xi * t_cur - t_prev
        dt_next = 2.0 * t_cur + 2.0 * xi * dt_cur - dt_prev
        q[b] = t_next * env
        dq[b] = dt_next * dxi * env + t_next * denv
        t_prev, t_cur = t_cur, t_next
        dt_prev, dt_cur = dt_cur, dt_next


def radial_values(r, r_min, r_cut, size, scaling=1.0):
    """Q_b(r) and dQ_b/dr for an array of distances; shape (len(r), size)."""
    r = np.asarray(r, dtype=float)
    q = np.zeros((r.size, size))
    dq = np.zeros((r.size, size))
    for k, rk in enumerate(r.ravel()):
        chebyshev_radial(rk, r_min, r_cut, scaling, q[k], dq[k])
    return q, dq
