"""Numba kernels: extrapolation grades straight from the compact parameter rows.

The row of atom i, dV_i/dtheta, is sparse in the radial block: only the entries
c[z_i, z_j, mu, beta] of the atom's own species z_i can be non-zero.  These kernels
take that compact form, ``radial`` (N, C, K, R) = dV_i/dc[z_i, :, :, :], the basis
values ``basis`` (N, n_basis) and the types, and multiply with ``inv`` (m, m), the
inverse of the active-set matrix with its rows divided by the column scales, so
grade = max_j |(b / scale) A^-1|_j = max_j |b inv|_j.  Parameter order: radial
(C, C, K, R) | species (C) | moment (n_basis); with ``linear_only`` the columns
are species | moment only.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _max_abs(x):
    g = 0.0
    for j in range(x.shape[0]):
        a = abs(x[j])
        if a > g:
            g = a
    return g


@njit(cache=True, nogil=True)
def _gather_row(i, radial, basis, types, linear_only, idx, val):
    """Non-zero entries of atom i's row b_i: column indices into ``idx``, values into
    ``val``; returns their count.  The one place that knows the column layout."""
    n_species = radial.shape[1]
    n_k, n_b = radial.shape[2], radial.shape[3]
    block = n_k * n_b
    z = types[i]
    nnz = 0
    off = 0
    if not linear_only:
        base = z * n_species * block
        for zj in range(n_species):
            for k in range(n_k):
                for b in range(n_b):
                    v = radial[i, zj, k, b]
                    if v != 0.0:
                        idx[nnz] = base + zj * block + k * n_b + b
                        val[nnz] = v
                        nnz += 1
        off = n_species * n_species * block
    idx[nnz] = off + z
    val[nnz] = 1.0
    nnz += 1
    off += n_species
    for a in range(basis.shape[1]):
        v = basis[i, a]
        if v != 0.0:
            idx[nnz] = off + a
            val[nnz] = v
            nnz += 1
    return nnz


@njit(cache=True, nogil=True, fastmath=True)
def site_grade(i, radial, basis, types, inv, linear_only, acc, idx, val):
    """Grade of atom i's row, max_j |b_i inv|_j; ``acc``, ``val`` (m,) float and
    ``idx`` (m,) int are scratch.

    Called by the force kernel right after atom i's row is complete, so the grades
    are computed on the same threads as the forces (one pass, no extra hand-off).
    The non-zero entries of b_i are gathered first and applied four rows of ``inv``
    at a time (one load and store of ``acc`` per four multiply-adds).
    """
    m = inv.shape[0]
    nnz = _gather_row(i, radial, basis, types, linear_only, idx, val)
    for j in range(m):
        acc[j] = 0.0
    q = 0
    while q + 4 <= nnz:
        r0, r1, r2, r3 = idx[q], idx[q + 1], idx[q + 2], idx[q + 3]
        v0, v1, v2, v3 = val[q], val[q + 1], val[q + 2], val[q + 3]
        for j in range(m):
            acc[j] += v0 * inv[r0, j] + v1 * inv[r1, j] + v2 * inv[r2, j] + v3 * inv[r3, j]
        q += 4
    while q < nnz:
        r0 = idx[q]
        v0 = val[q]
        for j in range(m):
            acc[j] += v0 * inv[r0, j]
        q += 1
    return _max_abs(acc)


@njit(cache=True, nogil=True)
def neighborhood_grades(radial, basis, types, inv, linear_only, out):
    """Per-atom grades into ``out`` (N,) (serial; MD uses the fused path of the force kernel)."""
    m = inv.shape[0]
    acc = np.empty(m)
    val = np.empty(m)
    idx = np.empty(m, dtype=np.int64)
    for i in range(types.shape[0]):
        out[i] = site_grade(i, radial, basis, types, inv, linear_only, acc, idx, val)


@njit(cache=True, nogil=True, fastmath=True)
def configuration_grade(radial, basis, types, inv, linear_only):
    """Grade of the configuration row (sum_i b_i) / N."""
    m = inv.shape[0]
    row = np.zeros(m)
    idx = np.empty(m, dtype=np.int64)
    val = np.empty(m)
    n = types.shape[0]
    w = 1.0 / n
    for i in range(n):
        nnz = _gather_row(i, radial, basis, types, linear_only, idx, val)
        for q in range(nnz):
            row[idx[q]] += w * val[q]
    acc = np.zeros(m)
    for r in range(m):
        v = row[r]
        if v != 0.0:
            for j in range(m):
                acc[j] += v * inv[r, j]
    return _max_abs(acc)
