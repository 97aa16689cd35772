"""Chebyshev radial basis of MLIP (RBChebyshev).

Q_b(r) = scaling * T_b(xi) * (r - R_cut)^2 for r < R_cut, 0 beyond, with
xi = (2 r - (R_min + R_cut)) / (R_cut - R_min).  Below R_min the polynomials are
evaluated as they are (MLIP extrapolates), unless a core radius r_core > 0 is set: then
below r_core the basis is evaluated at the smoothly clamped distance
r_eff = r_core - w tanh((r_core - r) / w), w = CORE_WIDTH, which equals r to third order at
r_core (energy, force and its derivative continuous) and stays within w of r_core, so the MTP
neither grows nor pulls below the data (a repulsive baseline then dominates).  Distances in
Angstrom.
"""
import numpy as np
from numba import njit

CORE_WIDTH = 0.1   # A, width of the smooth clamp below the core radius


@njit(cache=True)
def clamped_distance(r, r_core):
    """(r_eff, dr_eff/dr) of the core clamp; (r, 1) at r >= r_core."""
    if r >= r_core:
        return r, 1.0
    t = np.tanh((r_core - r) / CORE_WIDTH)
    return r_core - CORE_WIDTH * t, 1.0 - t * t


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


def radial_values(r, r_min, r_cut, size, scaling=1.0, r_core=0.0):
    """Q_b(r) and dQ_b/dr for an array of distances; shape (len(r), size)."""
    r = np.asarray(r, dtype=float)
    q = np.zeros((r.size, size))
    dq = np.zeros((r.size, size))
    for k, rk in enumerate(r.ravel()):
        re, dre = clamped_distance(rk, r_core)
        chebyshev_radial(re, r_min, r_cut, scaling, q[k], dq[k])
        dq[k] *= dre
    return q, dq
