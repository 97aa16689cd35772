"""Numba kernels: MTP site energies, forces and virials.

Conventions: energies in eV, distances in Angstrom, forces in eV/Angstrom.
``virial`` is MLIP's PlusStress (eV): W_ab = -sum_ij (dV_i/dr_ij)_a (r_ij)_b,
so the ASE stress is sigma = -W / volume (eV/Angstrom^3).
"""
import numpy as np
from numba import njit

from .grades import site_grade
from .radial import chebyshev_radial, clamped_distance


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
    # runs of consecutive rows with the same target moment
    if len(times_new):
        breaks = np.flatnonzero(np.diff(times_new[:, 3]) != 0) + 1
        run_start = np.concatenate([[0], breaks, [len(times_new)]]).astype(np.int64)
    else:
        run_start = np.zeros(1, dtype=np.int64)
    return dict(mu_offset=mu_offset, mu_nang=mu_nang, ang_axis=ang_axis, ang_lower=ang_lower,
                ang_pow=ang_pow, ang_rank=ang_pow.sum(1), times=times_new, times_runs=run_start,
                mapping=new_index[mapping], n_moments=int(nxt), n_dense=n_dense)


@njit(cache=True, fastmath=True)
def _angular_monomials(u, ang_axis, ang_lower, mono):
    """mono[t] = ux^a uy^b uz^c, each built from a monomial of one lower degree."""
    mono[0] = 1.0
    for t in range(1, ang_axis.shape[0]):
        d = ang_axis[t]
        mono[t] = mono[ang_lower[t, d]] * u[d]


@njit(cache=True, fastmath=True)
def gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                     radial_coeffs, want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df):
    """Neighbours of atom i inside r_cut: unit vectors rvec[:, q], distances rr[q], pair
    indices jt[q], Chebyshev values qv[:, q], dqv[:, q] and radial functions f[mu, q],
    df[mu, q]; below ``r_core`` (0: never) at the clamped distance of :func:`.radial.clamped_distance`.  Returns (number of neighbours, short-pair code)."""
    zi = types[i]
    n_rad = qv.shape[0]
    n_mu = f.shape[0]
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
        inv = 1.0 / r
        rvec[0, nn] = dx * inv  # unit vector
        rvec[1, nn] = dy * inv
        rvec[2, nn] = dz * inv
        rr[nn] = r
        jt[nn] = p
        zj = types[j]
        if r < r_core:  # below the core radius: the smooth clamp (radial.clamped_distance)
            r_eff, dr_eff = clamped_distance(r, r_core)
            chebyshev_radial(r_eff, r_min, r_cut, scaling, qv[:, nn], dqv[:, nn])
            for b in range(n_rad):
                dqv[b, nn] *= dr_eff
        else:
            chebyshev_radial(r, r_min, r_cut, scaling, qv[:, nn], dqv[:, nn])
        for mu in range(n_mu):
            acc = 0.0
            dacc = 0.0
            for b in range(n_rad):
                c = radial_coeffs[zi, zj, mu, b]
                acc += c * qv[b, nn]
                dacc += c * dqv[b, nn]
            f[mu, nn] = acc
            df[mu, nn] = dacc
        nn += 1
    return nn, short


@njit(cache=True, fastmath=True)
def moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom):
    """Angular monomials mono[t, q] and all moments mom[k] of one neighbourhood."""
    n_ang = ang_axis.shape[0]
    n_mu = f.shape[0]
    for q in range(nn):
        mono[0, q] = 1.0
    for t in range(1, n_ang):
        d = ang_axis[t]
        low = ang_lower[t, d]
        for q in range(nn):
            mono[t, q] = mono[low, q] * rvec[d, q]
    for k in range(mom.shape[0]):
        mom[k] = 0.0
    for mu in range(n_mu):
        off = mu_offset[mu]
        for t in range(mu_nang[mu]):
            acc = 0.0
            for q in range(nn):
                acc += f[mu, q] * mono[t, q]
            mom[off + t] = acc
    moment_products(times, times_runs, mom)


@njit(cache=True, fastmath=True)
def moment_products(times, times_runs, mom):
    """Add the products of moments (``alpha_index_times``, in file order) to mom; the product
    moments must start at zero."""
    for g in range(times_runs.shape[0] - 1):
        acc = 0.0
        for t in range(times_runs[g], times_runs[g + 1]):
            acc += times[t, 2] * mom[times[t, 0]] * mom[times[t, 1]]
        mom[times[times_runs[g], 3]] += acc


@njit(cache=True, fastmath=True)
def site_energy(z, species_coeffs, moment_coeffs, mapping, mom):
    """V = c_z + sum_alpha xi_alpha B_alpha (eV) from the moments of a site of species z."""
    energy = species_coeffs[z]
    for a in range(mapping.shape[0]):
        energy += moment_coeffs[a] * mom[mapping[a]]
    return energy


@njit(cache=True, fastmath=True)
def moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom):
    """dmom[k] = d(sum_alpha coeff_alpha B_alpha)/d mom[k] (reverse through the products)."""
    for k in range(dmom.shape[0]):
        dmom[k] = 0.0
    for a in range(mapping.shape[0]):
        dmom[mapping[a]] += moment_coeffs[a]
    for g in range(times_runs.shape[0] - 2, -1, -1):
        dk = dmom[times[times_runs[g], 3]]
        if dk != 0.0:
            for t in range(times_runs[g], times_runs[g + 1]):
                w = times[t, 2] * dk
                dmom[times[t, 0]] += w * mom[times[t, 1]]
                dmom[times[t, 1]] += w * mom[times[t, 0]]


@njit(cache=True, fastmath=True)
def pair_gradient(nn, rvec, rr, jt, f, df, mono, dmom, mu_offset, mu_nang, ang_axis, ang_lower,
                  accA, accB, gu, rp, pair_grad):
    """dV_i/dr_ij into pair_grad[jt[q]] for the nn gathered neighbours, from the moment
    derivatives dmom (:func:`moments_reverse`) and the radial functions f, df; accA, accB, gu
    and rp are work arrays."""
    n_ang = ang_axis.shape[0]
    n_mu = f.shape[0]
    # dE/df (accA) and dE/dmono (accB) per neighbour
    for t in range(n_ang):
        for q in range(nn):
            accA[t, q] = 0.0
            accB[t, q] = 0.0
    for mu in range(n_mu):
        off = mu_offset[mu]
        for t in range(mu_nang[mu]):
            dm = dmom[off + t]
            for q in range(nn):
                accA[t, q] += dm * df[mu, q]
                accB[t, q] += dm * f[mu, q]
    for q in range(nn):
        rp[q] = 0.0
        gu[0, q] = 0.0
        gu[1, q] = 0.0
        gu[2, q] = 0.0
    for t in range(n_ang):
        for q in range(nn):
            rp[q] += accA[t, q] * mono[t, q]
    # d/du through the monomial recursion (reverse mode)
    for t in range(n_ang - 1, 0, -1):
        d = ang_axis[t]
        low = ang_lower[t, d]
        for q in range(nn):
            g = accB[t, q]
            accB[low, q] += g * rvec[d, q]
            gu[d, q] += g * mono[low, q]
    # u = r/|r|: du/dr = (I - u u^T) / r
    for q in range(nn):
        inv = 1.0 / rr[q]
        ux = rvec[0, q]
        uy = rvec[1, q]
        uz = rvec[2, q]
        proj = gu[0, q] * ux + gu[1, q] * uy + gu[2, q] * uz
        p = jt[q]
        pair_grad[p, 0] = rp[q] * ux + (gu[0, q] - proj * ux) * inv
        pair_grad[p, 1] = rp[q] * uy + (gu[1, q] - proj * uy) * inv
        pair_grad[p, 2] = rp[q] * uz + (gu[2, q] - proj * uz) * inv


@njit(cache=True, fastmath=True)
def _site(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
          radial_coeffs, species_coeffs, moment_coeffs,
          mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mapping,
          want_grad, pair_grad, s, radial_rows):
    """Site energy of atom i; if want_grad, dV_i/dr_ij into pair_grad[start[i]:...];
    if radial_rows has rows, dV_i/dc[z_i, z_j, mu, beta] into radial_rows[i, z_j, mu, beta].

    Per-neighbour work is laid out (feature, neighbour) so the inner loops run over
    neighbours and vectorise.  ``s`` is the tuple from :func:`make_scratch`.
    Returns (site_energy, short) with short = (number of coincident pairs << 32)
    + number of neighbours closer than r_min.
    """
    rvec, rr, jt, qv, dqv, f, df, mono, mom, dmom, accA, accB, gu, rp, zq = s
    n_mu = f.shape[0]
    nn, short = gather_neighbors(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                                 radial_coeffs, want_grad, pair_grad, rvec, rr, jt, qv, dqv, f, df)
    moments_forward(nn, rvec, f, mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mono, mom)
    energy = site_energy(types[i], species_coeffs, moment_coeffs, mapping, mom)
    if not want_grad:
        return energy, short
    moments_reverse(mom, moment_coeffs, times, times_runs, mapping, dmom)
    if radial_rows.shape[0] > 0:
        # dV/dc[z_i, z_j, mu, b] = sum_q (sum_t dmom[mu, t] mono[t, q]) Q_b(r_q)
        n_species = radial_rows.shape[1]
        if n_species > 1:
            for q in range(nn):
                zq[q] = types[index[jt[q]]]
        for mu in range(n_mu):
            off = mu_offset[mu]
            for q in range(nn):
                rp[q] = 0.0
            for t in range(mu_nang[mu]):
                dm = dmom[off + t]
                for q in range(nn):
                    rp[q] += dm * mono[t, q]
            # per species a dot product over the neighbours (vectorises)
            for z in range(n_species):
                for b in range(qv.shape[0]):
                    acc = 0.0
                    if n_species == 1:
                        for q in range(nn):
                            acc += rp[q] * qv[b, q]
                    else:
                        for q in range(nn):
                            if zq[q] == z:
                                acc += rp[q] * qv[b, q]
                    radial_rows[i, z, mu, b] += acc
    pair_gradient(nn, rvec, rr, jt, f, df, mono, dmom, mu_offset, mu_nang, ang_axis, ang_lower,
                  accA, accB, gu, rp, pair_grad)
    return energy, short


@njit(cache=True)
def max_neighbors(start, lo, hi):
    """Largest neighbour count among atoms lo..hi-1 (at least 1)."""
    m = 1
    for i in range(lo, hi):
        m = max(m, start[i + 1] - start[i])
    return m


@njit(cache=True)
def make_scratch(max_nn, n_mu, n_rad, n_ang, n_moments):
    """Work arrays of one thread for :func:`_site`."""
    return (np.empty((3, max_nn)), np.empty(max_nn), np.empty(max_nn, dtype=np.int64),
            np.empty((n_rad, max_nn)), np.empty((n_rad, max_nn)), np.empty((n_mu, max_nn)), np.empty((n_mu, max_nn)),
            np.empty((n_ang, max_nn)), np.empty(n_moments), np.empty(n_moments),
            np.empty((n_ang, max_nn)), np.empty((n_ang, max_nn)), np.empty((3, max_nn)), np.empty(max_nn),
            np.empty(max_nn, dtype=np.int64))


@njit(cache=True, nogil=True)
def evaluate_range(lo, hi, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                   radial_coeffs, species_coeffs, moment_coeffs,
                   mu_offset, mu_nang, ang_axis, ang_lower, ang_pow, ang_rank, times, times_runs, mapping,
                   n_moments, want_grad, site, pair_grad, basis_out, radial_rows,
                   row_inv, linear_only, site_grades, part_bounds, force_parts, atom_virial):
    """Atoms lo..hi-1: site energies into ``site``, dV_i/dr_ij into ``pair_grad`` (if
    want_grad), the basis values B_alpha(n_i) into ``basis_out`` and dV_i/dc into
    ``radial_rows`` (N, C, K, R) if those have rows (radial rows need want_grad).
    If ``site_grades`` has rows (needs basis and radial rows): each atom's grade
    max_j |b_i row_inv|_j (see :mod:`.grades`).

    If ``force_parts`` (P, N, 3) has rows (needs want_grad), the pair gradients of the
    range are also scattered into forces: into ``force_parts[k]`` for the range starting
    at ``part_bounds[k]`` (sum over k gives the forces), and into the per-atom virials
    ``atom_virial`` (N, 3, 3, MLIP sign) of the range's atoms.

    Releases the GIL, so disjoint atom ranges can run on several threads.
    Returns (number of coincident pairs << 32) + number of pairs closer than r_min.
    """
    max_nn = max_neighbors(start, lo, hi)
    scratch = make_scratch(max_nn, radial_coeffs.shape[2], radial_coeffs.shape[3], ang_axis.shape[0], n_moments)
    mom = scratch[8]
    want_basis = basis_out.shape[0] > 0
    want_grades = site_grades.shape[0] > 0
    acc = np.empty(row_inv.shape[0])
    val = np.empty(row_inv.shape[0])
    idx = np.empty(row_inv.shape[0], dtype=np.int64)
    scatter = force_parts.shape[0] > 0
    part = 0
    if scatter:
        while part + 1 < part_bounds.shape[0] - 1 and part_bounds[part + 1] <= lo:
            part += 1
    short = 0
    for i in range(lo, hi):
        e, sh = _site(i, positions, cell, types, start, index, shift, r_min, r_cut, r_core, scaling,
                      radial_coeffs, species_coeffs, moment_coeffs,
                      mu_offset, mu_nang, ang_axis, ang_lower, times, times_runs, mapping,
                      want_grad, pair_grad, scratch, radial_rows)
        site[i] = e
        short += sh
        if scatter:
            _scatter_site(i, positions, cell, start, index, shift, pair_grad, force_parts[part], atom_virial)
        if want_basis:
            for a in range(mapping.shape[0]):
                basis_out[i, a] = mom[mapping[a]]
        if want_grades:
            site_grades[i] = site_grade(i, radial_rows, basis_out, types, row_inv, linear_only, acc, idx, val)
    return short


@njit(cache=True, nogil=True)
def _scatter_site(i, positions, cell, start, index, shift, pair_grad, forces, atom_virial):
    """Add the pair gradients dV_i/dr_ij of atom i to forces (i and j) and to i's virial."""
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

