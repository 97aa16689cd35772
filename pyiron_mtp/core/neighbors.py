"""Cell-list neighbour list (full list, all periodic images), linear in N.

Pairs are stored in CSR form: the neighbours of atom i are
``index[start[i]:start[i+1]]`` with integer image shifts ``shift`` such that
r_ij = x_j + shift_ij @ cell - x_i.  Shifts refer to the positions as given
(not wrapped), so a list stays valid while atoms move (Verlet skin) and under
cell deformations (the shifts are fractional).
"""
import math

import numpy as np
from numba import njit


@njit(cache=True)
def _bin_setup(frac, periodic, perp, cutoff):
    """Bins per direction, their lower fractional edge, width and search reach."""
    nbins = np.ones(3, dtype=np.int64)
    lo = np.zeros(3)
    width = np.ones(3)
    reach = np.zeros(3, dtype=np.int64)
    for k in range(3):
        if periodic[k]:
            lo[k] = 0.0
            extent = 1.0
        else:
            fmin = frac[0, k]
            fmax = frac[0, k]
            for i in range(1, frac.shape[0]):
                f = frac[i, k]
                if f < fmin:
                    fmin = f
                elif f > fmax:
                    fmax = f
            lo[k] = fmin
            extent = max(fmax - fmin, 1e-12)
        length = extent * perp[k]  # thickness in Angstrom
        nb = int(math.floor(2.0 * length / cutoff))  # bins of >= cutoff/2
        if nb < 1:
            nb = 1
        if nb > 1000:
            nb = 1000
        nbins[k] = nb
        width[k] = extent / nb
        bin_thickness = width[k] * perp[k]
        reach[k] = int(math.ceil(cutoff / bin_thickness))
        if not periodic[k] and reach[k] > nb:
            reach[k] = nb
    return nbins, lo, width, reach


@njit(cache=True)
def _assign_bins(frac, periodic, nbins, lo, width):
    n = frac.shape[0]
    wrap = np.zeros((n, 3), dtype=np.int64)
    binidx = np.zeros(n, dtype=np.int64)
    for i in range(n):
        b = np.zeros(3, dtype=np.int64)
        for k in range(3):
            s = frac[i, k]
            if periodic[k]:
                w = math.floor(s)
                wrap[i, k] = int(w)
                s -= w
            c = int(math.floor((s - lo[k]) / width[k]))
            if c < 0:
                c = 0
            if c >= nbins[k]:
                c = nbins[k] - 1
            b[k] = c
        binidx[i] = (b[0] * nbins[1] + b[1]) * nbins[2] + b[2]
    return wrap, binidx


@njit(cache=True)
def _neighbor_pass(positions, cell, frac, periodic, cutoff, nbins, reach, wrap, binidx,
                   bin_start, bin_atoms, start, index, shift):
    """Fill index/shift while they have room; always count. Returns the pair count."""
    n = positions.shape[0]
    cap = index.shape[0]
    cut2 = cutoff * cutoff
    total = 0
    for i in range(n):
        start[i] = total
        b = binidx[i]
        bx = b // (nbins[1] * nbins[2])
        by = (b // nbins[2]) % nbins[1]
        bz = b % nbins[2]
        for ox in range(-reach[0], reach[0] + 1):
            tx = bx + ox
            if periodic[0]:
                sx = tx // nbins[0]
                tx = tx - sx * nbins[0]
            else:
                sx = 0
                if tx < 0 or tx >= nbins[0]:
                    continue
            for oy in range(-reach[1], reach[1] + 1):
                ty = by + oy
                if periodic[1]:
                    sy = ty // nbins[1]
                    ty = ty - sy * nbins[1]
                else:
                    sy = 0
                    if ty < 0 or ty >= nbins[1]:
                        continue
                for oz in range(-reach[2], reach[2] + 1):
                    tz = bz + oz
                    if periodic[2]:
                        sz = tz // nbins[2]
                        tz = tz - sz * nbins[2]
                    else:
                        sz = 0
                        if tz < 0 or tz >= nbins[2]:
                            continue
                    t = (tx * nbins[1] + ty) * nbins[2] + tz
                    for q in range(bin_start[t], bin_start[t + 1]):
                        j = bin_atoms[q]
                        # image shift relative to the unwrapped positions
                        n0 = sx - wrap[j, 0] + wrap[i, 0]
                        n1 = sy - wrap[j, 1] + wrap[i, 1]
                        n2 = sz - wrap[j, 2] + wrap[i, 2]
                        if j == i and n0 == 0 and n1 == 0 and n2 == 0:
                            continue
                        dx = positions[j, 0] - positions[i, 0] + n0 * cell[0, 0] + n1 * cell[1, 0] + n2 * cell[2, 0]
                        dy = positions[j, 1] - positions[i, 1] + n0 * cell[0, 1] + n1 * cell[1, 1] + n2 * cell[2, 1]
                        dz = positions[j, 2] - positions[i, 2] + n0 * cell[0, 2] + n1 * cell[1, 2] + n2 * cell[2, 2]
                        if dx * dx + dy * dy + dz * dz < cut2:
                            if total < cap:
                                index[total] = j
                                shift[total, 0] = n0
                                shift[total, 1] = n1
                                shift[total, 2] = n2
                            total += 1
    start[n] = total
    return total


@njit(cache=True)
def _sort_into_bins(binidx, nb_total):
    n = binidx.shape[0]
    bin_start = np.zeros(nb_total + 1, dtype=np.int64)
    for i in range(n):
        bin_start[binidx[i] + 1] += 1
    for t in range(nb_total):
        bin_start[t + 1] += bin_start[t]
    fill = bin_start[:-1].copy()
    bin_atoms = np.empty(n, dtype=np.int64)
    for i in range(n):
        bin_atoms[fill[binidx[i]]] = i
        fill[binidx[i]] += 1
    return bin_start, bin_atoms


@njit(cache=True)
def _build(positions, cell, frac, periodic, perp, cutoff, capacity):
    """Binning and pair search in one compiled call (one cache load at start-up)."""
    n = positions.shape[0]
    nbins, lo, width, reach = _bin_setup(frac, periodic, perp, cutoff)
    wrap, binidx = _assign_bins(frac, periodic, nbins, lo, width)
    bin_start, bin_atoms = _sort_into_bins(binidx, nbins[0] * nbins[1] * nbins[2])
    start = np.zeros(n + 1, dtype=np.int64)
    index = np.empty(capacity, dtype=np.int64)
    shift = np.empty((capacity, 3), dtype=np.int64)
    total = _neighbor_pass(positions, cell, frac, periodic, cutoff, nbins, reach, wrap, binidx,
                           bin_start, bin_atoms, start, index, shift)
    if total > capacity:  # the density estimate was too low: search again with room
        index = np.empty(total, dtype=np.int64)
        shift = np.empty((total, 3), dtype=np.int64)
        _neighbor_pass(positions, cell, frac, periodic, cutoff, nbins, reach, wrap, binidx,
                       bin_start, bin_atoms, start, index, shift)
    return start, index[:total].copy(), shift[:total].copy()


def build_neighbor_list(positions, cell, periodic, cutoff):
    """Full neighbour list within ``cutoff`` (strict <), CSR arrays (start, index, shift).

    ``cell`` rows are lattice vectors and must be non-singular (callers complete
    the cell along non-periodic directions).
    """
    positions = np.ascontiguousarray(positions, dtype=float)
    cell = np.ascontiguousarray(cell, dtype=float)
    periodic = np.ascontiguousarray(periodic, dtype=np.bool_)
    n = positions.shape[0]
    inv = np.linalg.inv(cell)
    frac = np.ascontiguousarray(positions @ inv)
    # distance between opposite faces along each lattice direction
    perp = 1.0 / np.sqrt((inv ** 2).sum(0))
    volume = abs(np.linalg.det(cell))
    density = n / volume if volume > 0 else 0.1
    capacity = int(n * (1.3 * density * 4.19 * cutoff ** 3 + 16)) + 64
    return _build(positions, cell, frac, periodic, perp, float(cutoff), capacity)


def complete_cell(positions, cell, pbc, cutoff):
    """A non-singular cell for binning: non-periodic directions without a usable
    lattice vector get one orthogonal to the others, long enough to hold all atoms."""
    cell = np.array(cell, dtype=float).reshape(3, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    positions = np.asarray(positions, dtype=float)
    span = 1.0
    if len(positions):
        span = float(np.ptp(positions, axis=0).max()) + 2.0 * cutoff + 1.0
    out = cell.copy()
    for k in range(3):
        if pbc[k]:
            continue
        others = [out[m] for m in range(3) if m != k]
        normal = np.cross(others[0], others[1])
        if np.linalg.norm(normal) < 1e-8:
            # build from whatever is there: orthonormal frame
            out = _orthonormal_completion(out, pbc, span)
            break
        usable = np.linalg.norm(out[k]) > 1e-8 and abs(np.dot(out[k], normal)) > 1e-6 * np.linalg.norm(out[k]) * np.linalg.norm(normal)
        if not usable:
            out[k] = normal / np.linalg.norm(normal) * span
    return out


def _orthonormal_completion(cell, pbc, span):
    out = cell.copy()
    periodic = [k for k in range(3) if pbc[k]]
    if not periodic:
        return np.eye(3) * span
    # keep periodic vectors, fill the rest with orthogonal directions
    basis = [out[k] for k in periodic]
    for k in range(3):
        if pbc[k]:
            continue
        for trial in np.eye(3):
            v = trial.copy()
            for b in basis:
                v -= np.dot(v, b) / np.dot(b, b) * b
            if np.linalg.norm(v) > 1e-6:
                out[k] = v / np.linalg.norm(v) * span
                basis.append(out[k])
                break
    return out


class NeighborList:
    """Verlet neighbour list with a skin: rebuilt only when an atom moved more than
    skin/2, the cell changed, or the atoms changed.

    ``cutoff`` and ``skin`` in Angstrom.  ``update(positions, cell, pbc)`` returns
    True when it rebuilt.
    """

    def __init__(self, cutoff, skin=0.3):
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self._ref = None
        self.start = self.index = self.shift = None
        self.builds = 0

    def update(self, positions, cell, pbc):
        positions = np.ascontiguousarray(positions, dtype=float)
        cell = np.asarray(cell, dtype=float).reshape(3, 3)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if self._ref is not None:
            ref_pos, ref_cell, ref_pbc = self._ref
            if (ref_pos.shape == positions.shape and np.array_equal(ref_pbc, pbc)
                    and np.abs(ref_cell - cell).max() <= 1e-12):
                disp = positions - ref_pos
                if len(disp) == 0 or np.sqrt((disp * disp).sum(1).max()) <= 0.5 * self.skin:
                    return False
        work_cell = complete_cell(positions, cell, pbc, self.cutoff + self.skin)
        self.start, self.index, self.shift = build_neighbor_list(
            positions, work_cell, pbc, self.cutoff + self.skin)
        self._ref = (positions.copy(), cell.copy(), pbc.copy())
        self.builds += 1
        return True
