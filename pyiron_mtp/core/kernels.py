"""Numba kernels: MTP site energies, forces and virials.

Conventions: energies in eV, distances in Angstrom, forces in eV/Angstrom.
``virial`` is MLIP's PlusStress (eV): W_ab = -sum_ij (dV_i/dr_ij)_a (r_ij)_b,
so the ASE stress is sigma = -W / volume (eV/Angstrom^3).
"""
import numpy as np
from numba import njit, prange

from .radial import chebyshev_radial


def kernel_layout(alpha_index_basic, alpha_index_times, alpha_moment_mapping, alpha_moments_count):
    """Reorder moments for the kernels.

    Basic moments of radial function mu are laid out densely as a prefix of the
    angular monomials (rank ascending, then a, b descending): block mu holds
    monomials 0..n_ang[mu]-1 at offset mu_offset[mu].  The other moments follow
    in file order; times and mapping are renumbered accordingly.

    Returns a dict of int64 arrays: mu_offset (K+1,), mu_nang (K,), ang_axis (T,),
    ang_lower (T,3), ang_pow (T,3), ang_rank (T,), times (n,4), mapping (A,), and
    n_moments.
    """
    basic = np.asarray(alpha_index_basic, dtype=np.int64).reshape(-1, 4)
    times = np.asarray(alpha_index_times, dtype=np.int64).reshape(-1, 4)
    mapping = np.asarray(alpha_moment_mapping, dtype=np.int64).reshape(-1)
    n_mom = int(alpha_moments_count)
    max_nu = int(basic[:, 1:].sum(1).max()) if len(basic) else 0
    triples = []
    lookup = {}
    for nu in range(max_nu + 1):
        for a in range(nu, -1, -1):
            for b in range(nu - a, -1, -1):
                lookup[(a, b, nu - a - b)] = len(triples)
                triples.append((a, b, nu - a - b))
    n_ang = len(triples)
    ang_pow = np.array(triples, dtype=np.int64).reshape(-1, 3)
    ang_lower = np.zeros((n_ang, 3), dtype=np.int64)
    ang_axis = np.zeros(n_ang, dtype=np.int64)
    for t, abc in enumerate(triples):
        first = -1
        for d in range(3):
            if abc[d] > 0:
                low = list(abc)
                low[d] -= 1
                ang_lower[t, d] = lookup[tuple(low)]
                if first < 0:
                    first = d
        ang_axis[t] = max(first, 0)
    K = int(basic[:, 0].max()) + 1 if len(basic) else 1
    mu_nang = np.zeros(K, dtype=np.int64)
    for mu, a, b, c in basic:
        mu_nang[mu] = max(mu_nang[mu], lookup[(a, b, c)] + 1)
    mu_offset = np.zeros(K + 1, dtype=np.int64)
    mu_offset[1:] = np.cumsum(mu_nang)
    n_dense = int(mu_offset[-1])
    new_index = -np.ones(n_mom, dtype=np.int64)
    for k, (mu, a, b, c) in enumerate(basic):
        new_index[k] = mu_offset[mu] + lookup[(a, b, c)]
    nxt = n_dense
    for k in range(n_mom):
        if new_index[k] < 0:
            new_index[k] = nxt
            nxt += 1
    times_new = times.copy()
    for col in (0, 1, 3):
        times_new[:, col] = new_index[times[:, col]]
    return dict(mu_offset=mu_offset, mu_nang=mu_nang, ang_axis=ang_axis, ang_lower=ang_lower,
                ang_pow=ang_pow, ang_rank=ang_pow.sum(1), times=times_new,
                mapping=new_index[mapping], n_moments=int(nxt), n_dense=n_dense)


@njit(cache=True, fastmath=True, inline="always")
def _angular_monomials(u, ang_axis, ang_lower, mono):
    """mono[t] = ux^a uy^b uz^c, each built from a monomial of one lower degree."""
    mono[0] = 1.0
    for t in range(1, ang_axis.shape[0]):
        d = ang_axis[t]
        mono[t] = mono[ang_lower[t, d]] * u[d]


@njit(cache=True, fastmath=True)
def _site(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
          radial_coeffs, species_coeffs, moment_coeffs,
          mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank, times, mapping,
          want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB, u_all):
    """Site energy of atom i; if want_grad, dV_i/dr_ij into pair_grad[start[i]:...].

    Returns (site_energy, short) with short = (number of coincident pairs << 32)
    + number of neighbours closer than r_min.
    """
    zi = types[i]
    n_ang = ang_axis.shape[0]
    n_rad = qv.shape[0]
    n_mu = f.shape[1]
    nn = 0
    short = 0
    for p in range(start[i], start[i + 1]):
        j = index[p]
        dx = positions[j, 0] - positions[i, 0] + shift[p, 0] * cell[0, 0] + shift[p, 1] * cell[1, 0] + shift[p, 2] * cell[2, 0]
        dy = positions[j, 1] - positions[i, 1] + shift[p, 0] * cell[0, 1] + shift[p, 1] * cell[1, 1] + shift[p, 2] * cell[2, 1]
        dz = positions[j, 2] - positions[i, 2] + shift[p, 0] * cell[0, 2] + shift[p, 1] * cell[1, 2] + shift[p, 2] * cell[2, 2]
        r = np.sqrt(dx * dx + dy * dy + dz * dz)
        if want_grad:
            pair_grad[p, 0] = 0.0
            pair_grad[p, 1] = 0.0
            pair_grad[p, 2] = 0.0
        if r >= r_cut:  # pair inside the Verlet skin only
            continue
        if r < r_min:
            short += 1
        if r < 1e-8:  # coincident atoms: reported by the caller, pair skipped
            short += 1 << 32
            continue
        rvec[nn, 0] = dx
        rvec[nn, 1] = dy
        rvec[nn, 2] = dz
        rr[nn] = r
        jt[nn] = p
        zj = types[j]
        chebyshev_radial(r, r_min, r_cut, scaling, qv, dqv)
        for mu in range(n_mu):
            s = 0.0
            ds = 0.0
            for b in range(n_rad):
                c = radial_coeffs[zi, zj, mu, b]
                s += c * qv[b]
                ds += c * dqv[b]
            f[nn, mu] = s
            df[nn, mu] = ds
        nn += 1
    # basic moments, dense per radial function
    n_mom = mom.shape[0]
    for k in range(n_mom):
        mom[k] = 0.0
    for q in range(nn):
        inv = 1.0 / rr[q]
        u = u_all[q]
        u[0] = rvec[q, 0] * inv
        u[1] = rvec[q, 1] * inv
        u[2] = rvec[q, 2] * inv
        m = mono[q]
        _angular_monomials(u, ang_axis, ang_lower, m)
        for mu in range(n_mu):
            fm = f[q, mu]
            off = mu_offset[mu]
            for t in range(mu_nang[mu]):
                mom[off + t] += fm * m[t]
    for t in range(times.shape[0]):
        mom[times[t, 3]] += times[t, 2] * mom[times[t, 0]] * mom[times[t, 1]]
    energy = species_coeffs[zi]
    for a in range(mapping.shape[0]):
        energy += moment_coeffs[a] * mom[mapping[a]]
    if not want_grad:
        return energy, short
    # reverse mode through the products
    for k in range(n_mom):
        dmom[k] = 0.0
    for a in range(mapping.shape[0]):
        dmom[mapping[a]] += moment_coeffs[a]
    for t in range(times.shape[0] - 1, -1, -1):
        g = times[t, 2] * dmom[times[t, 3]]
        if g != 0.0:
            dmom[times[t, 0]] += g * mom[times[t, 1]]
            dmom[times[t, 1]] += g * mom[times[t, 0]]
    for q in range(nn):
        for t in range(n_ang):
            accA[t] = 0.0
            accB[t] = 0.0
        for mu in range(n_mu):
            fm = f[q, mu]
            dfm = df[q, mu]
            off = mu_offset[mu]
            for t in range(mu_nang[mu]):
                d = dmom[off + t]
                accA[t] += d * dfm
                accB[t] += d * fm
        # d/du through the monomial recursion mono[t] = mono[lower] * u[axis] (reverse mode)
        m = mono[q]
        radial_part = 0.0
        for t in range(n_ang):
            radial_part += accA[t] * m[t]
        gu0 = 0.0
        gu1 = 0.0
        gu2 = 0.0
        for t in range(n_ang - 1, 0, -1):
            d = ang_axis[t]
            low = ang_lower[t, d]
            g = accB[t]
            accB[low] += g * u_all[q, d]
            if d == 0:
                gu0 += g * m[low]
            elif d == 1:
                gu1 += g * m[low]
            else:
                gu2 += g * m[low]
        # u = r / |r|: du/dr = (I - u u^T) / r
        inv = 1.0 / rr[q]
        ux = u_all[q, 0]
        uy = u_all[q, 1]
        uz = u_all[q, 2]
        proj = gu0 * ux + gu1 * uy + gu2 * uz
        p = jt[q]
        pair_grad[p, 0] = radial_part * ux + (gu0 - proj * ux) * inv
        pair_grad[p, 1] = radial_part * uy + (gu1 - proj * uy) * inv
        pair_grad[p, 2] = radial_part * uz + (gu2 - proj * uz) * inv
    return energy, short


@njit(cache=True, parallel=True)
def evaluate(positions, cell, types, start, index, shift, r_min, r_cut, scaling,
             radial_coeffs, species_coeffs, moment_coeffs,
             mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank, times, mapping, n_moments,
             want_grad, n_threads):
    """Site energies (N,), pair gradients dV_i/dr_ij (P,3) and the short-pair count.

    Atoms are split into 4 * n_threads chunks, each with its own scratch space.
    """
    n = positions.shape[0]
    n_pairs = index.shape[0]
    site = np.zeros(n)
    pair_grad = np.zeros((n_pairs if want_grad else 0, 3))
    max_nn = 0
    for i in range(n):
        max_nn = max(max_nn, start[i + 1] - start[i])
    n_mu = radial_coeffs.shape[2]
    n_rad = radial_coeffs.shape[3]
    n_ang = ang_axis.shape[0]
    n_chunks = min(n, 4 * n_threads) if n > 0 else 0
    shorts = np.zeros(max(n_chunks, 1), dtype=np.int64)
    for c in prange(n_chunks):
        rvec = np.empty((max_nn, 3))
        rr = np.empty(max_nn)
        jt = np.empty(max_nn, dtype=np.int64)
        qv = np.empty(n_rad)
        dqv = np.empty(n_rad)
        f = np.empty((max_nn, n_mu))
        df = np.empty((max_nn, n_mu))
        mono = np.empty((max_nn, n_ang))
        mom = np.empty(n_moments)
        dmom = np.empty(n_moments)
        accA = np.empty(n_ang)
        accB = np.empty(n_ang)
        u_all = np.empty((max_nn, 3))
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        s = 0
        for i in range(lo, hi):
            e, sh = _site(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                          radial_coeffs, species_coeffs, moment_coeffs,
                          mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank, times, mapping,
                          want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB, u_all)
            site[i] = e
            s += sh
        shorts[c] = s
    return site, pair_grad, shorts.sum()


@njit(cache=True)
def forces_and_virial(positions, cell, start, index, shift, pair_grad):
    """Forces (N,3) and per-atom virials (N,3,3, MLIP sign) from pair gradients."""
    n = positions.shape[0]
    forces = np.zeros((n, 3))
    atom_virial = np.zeros((n, 3, 3))
    for i in range(n):
        for p in range(start[i], start[i + 1]):
            gx = pair_grad[p, 0]
            gy = pair_grad[p, 1]
            gz = pair_grad[p, 2]
            if gx == 0.0 and gy == 0.0 and gz == 0.0:
                continue
            j = index[p]
            r0 = positions[j, 0] - positions[i, 0] + shift[p, 0] * cell[0, 0] + shift[p, 1] * cell[1, 0] + shift[p, 2] * cell[2, 0]
            r1 = positions[j, 1] - positions[i, 1] + shift[p, 0] * cell[0, 1] + shift[p, 1] * cell[1, 1] + shift[p, 2] * cell[2, 1]
            r2 = positions[j, 2] - positions[i, 2] + shift[p, 0] * cell[0, 2] + shift[p, 1] * cell[1, 2] + shift[p, 2] * cell[2, 2]
            forces[i, 0] += gx
            forces[i, 1] += gy
            forces[i, 2] += gz
            forces[j, 0] -= gx
            forces[j, 1] -= gy
            forces[j, 2] -= gz
            g = (gx, gy, gz)
            rv = (r0, r1, r2)
            for a in range(3):
                for b in range(3):
                    atom_virial[i, a, b] -= g[a] * rv[b]
    return forces, atom_virial


@njit(cache=True, parallel=True)
def site_basis_values(positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                      radial_coeffs, mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank,
                      times, mapping, n_moments, n_threads):
    """Scalar basis functions B_alpha(n_i) of every atom's neighbourhood, shape (N, A)."""
    n = positions.shape[0]
    n_a = mapping.shape[0]
    out = np.zeros((n, n_a))
    max_nn = 0
    for i in range(n):
        max_nn = max(max_nn, start[i + 1] - start[i])
    n_mu = radial_coeffs.shape[2]
    n_rad = radial_coeffs.shape[3]
    n_ang = ang_axis.shape[0]
    n_chunks = min(n, 4 * n_threads) if n > 0 else 0
    unit = np.ones(n_a)
    zero_species = np.zeros(radial_coeffs.shape[0])
    dummy = np.zeros((0, 3))
    for c in prange(n_chunks):
        rvec = np.empty((max_nn, 3))
        rr = np.empty(max_nn)
        jt = np.empty(max_nn, dtype=np.int64)
        qv = np.empty(n_rad)
        dqv = np.empty(n_rad)
        f = np.empty((max_nn, n_mu))
        df = np.empty((max_nn, n_mu))
        mono = np.empty((max_nn, n_ang))
        mom = np.empty(n_moments)
        dmom = np.empty(n_moments)
        accA = np.empty(n_ang)
        accB = np.empty(n_ang)
        u_all = np.empty((max_nn, 3))
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        for i in range(lo, hi):
            _site(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                  radial_coeffs, zero_species, unit,
                  mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank, times, mapping,
                  False, dummy, rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB, u_all)
            for a in range(n_a):
                out[i, a] = mom[mapping[a]]
    return out
