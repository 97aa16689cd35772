"""Numba kernels: MTP site energies, forces and virials.

Conventions: energies in eV, distances in Angstrom, forces in eV/Angstrom.
``virial`` is MLIP's PlusStress (eV): W_ab = -sum_ij (dV_i/dr_ij)_a (r_ij)_b,
so the ASE stress is sigma = -W / volume (eV/Angstrom^3).
"""
import numpy as np
from numba import njit, prange

from .radial import chebyshev_radial


def angular_tables(alpha_index_basic):
    """Distinct angular monomials of the basic moments and their lowering indices.

    Returns (basic_mu, basic_ang, ang_abc, ang_lower) where ang_abc[t] = (a, b, c)
    and ang_lower[t, d] is the monomial with one fewer power along d (-1 if none).
    """
    basic = np.asarray(alpha_index_basic, dtype=np.int64).reshape(-1, 4)
    max_nu = int(basic[:, 1:].sum(1).max()) if len(basic) else 0
    triples = []
    lookup = {}
    for nu in range(max_nu + 1):
        for a in range(nu, -1, -1):
            for b in range(nu - a, -1, -1):
                lookup[(a, b, nu - a - b)] = len(triples)
                triples.append((a, b, nu - a - b))
    ang_abc = np.array(triples, dtype=np.int64).reshape(-1, 3)
    ang_lower = -np.ones((len(triples), 3), dtype=np.int64)
    for t, abc in enumerate(triples):
        for d in range(3):
            if abc[d] > 0:
                low = list(abc)
                low[d] -= 1
                ang_lower[t, d] = lookup[tuple(low)]
    basic_ang = np.array([lookup[tuple(row[1:])] for row in basic], dtype=np.int64)
    return basic[:, 0].copy(), basic_ang, ang_abc, ang_lower


@njit(cache=True, inline="always")
def _angular_monomials(ux, uy, uz, ang_abc, ang_lower, mono):
    """mono[t] = ux^a uy^b uz^c, each built from a monomial of one lower degree."""
    mono[0] = 1.0
    for t in range(1, ang_abc.shape[0]):
        if ang_abc[t, 0] > 0:
            mono[t] = mono[ang_lower[t, 0]] * ux
        elif ang_abc[t, 1] > 0:
            mono[t] = mono[ang_lower[t, 1]] * uy
        else:
            mono[t] = mono[ang_lower[t, 2]] * uz


@njit(cache=True)
def _site(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
          radial_coeffs, species_coeffs, moment_coeffs,
          basic_mu, basic_ang, ang_abc, ang_lower, times, mapping,
          want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB):
    """Site energy of atom i; if want_grad, dV_i/dr_ij into pair_grad[start[i]:...].

    Returns (site_energy, number of neighbours closer than r_min).
    """
    zi = types[i]
    n_basic = basic_mu.shape[0]
    n_ang = ang_abc.shape[0]
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
    # basic moments
    n_mom = mom.shape[0]
    for k in range(n_mom):
        mom[k] = 0.0
    for q in range(nn):
        inv = 1.0 / rr[q]
        _angular_monomials(rvec[q, 0] * inv, rvec[q, 1] * inv, rvec[q, 2] * inv, ang_abc, ang_lower, mono[q])
        for a in range(n_basic):
            mom[a] += f[q, basic_mu[a]] * mono[q, basic_ang[a]]
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
        for a in range(n_basic):
            d = dmom[a]
            accA[basic_ang[a]] += d * df[q, basic_mu[a]]
            accB[basic_ang[a]] += d * f[q, basic_mu[a]]
        inv = 1.0 / rr[q]
        ux = rvec[q, 0] * inv
        uy = rvec[q, 1] * inv
        uz = rvec[q, 2] * inv
        radial_part = 0.0
        gx = 0.0
        gy = 0.0
        gz = 0.0
        m = mono[q]
        for t in range(n_ang):
            bt = accB[t]
            at = accA[t]
            if at == 0.0 and bt == 0.0:
                continue
            nu = ang_abc[t, 0] + ang_abc[t, 1] + ang_abc[t, 2]
            radial_part += (at - bt * nu * inv) * m[t]
            bt *= inv
            lx = ang_lower[t, 0]
            ly = ang_lower[t, 1]
            lz = ang_lower[t, 2]
            if lx >= 0:
                gx += bt * ang_abc[t, 0] * m[lx]
            if ly >= 0:
                gy += bt * ang_abc[t, 1] * m[ly]
            if lz >= 0:
                gz += bt * ang_abc[t, 2] * m[lz]
        p = jt[q]
        pair_grad[p, 0] = radial_part * ux + gx
        pair_grad[p, 1] = radial_part * uy + gy
        pair_grad[p, 2] = radial_part * uz + gz
    return energy, short


@njit(cache=True, parallel=True)
def evaluate(positions, cell, types, start, index, shift, r_min, r_cut, scaling,
             radial_coeffs, species_coeffs, moment_coeffs,
             basic_mu, basic_ang, ang_abc, ang_lower, times, mapping, n_moments,
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
    n_ang = ang_abc.shape[0]
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
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        s = 0
        for i in range(lo, hi):
            e, sh = _site(i, positions, cell, types, start, index, shift, r_min, r_cut, scaling,
                          radial_coeffs, species_coeffs, moment_coeffs,
                          basic_mu, basic_ang, ang_abc, ang_lower, times, mapping,
                          want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB)
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
