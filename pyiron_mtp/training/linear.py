"""The linear part of the model: design rows of every structure for the current radial
coefficients and the exact weighted least-squares solve of the species and moment
coefficients (variable projection).

The rows of consecutive structures are stacked into blocks (energy rows, force rows and
virial rows each one array), so that the sums of the solve are a few large matrix products.
The design rows take 8 (3 N + 10) n_basis bytes for N atoms (1.5 GB for 10^5 atoms at
level 24).  With ``max_memory`` (bytes) only the structures that fit are kept; the others'
rows are recomputed, in blocks that fit, each time they are needed (a solve passes over
them 3-5 times); the sums are taken over the same groups of structures either way, so the
results equal those of the in-memory problem to the last bit.
"""
from __future__ import annotations


import numpy as np
import scipy.linalg
import scipy.optimize

from ..core.design import design_rows, design_rows_structures
from ..potential import MTP
from .data import TrainingSet
from .parallel import map_batches
from .weights import LossWeights

# Bytes of design rows per group: the sums of the solve are taken group by group (a few matrix
# products each), in the same groups whether the rows are kept or streamed, so that both give the
# same numbers to the last bit; a structure larger than this is a group of its own.
GROUP_BYTES = 16 * 2 ** 20


def row_groups(structures, n_basis, species_count, group_bytes=None):
    """Consecutive structure ranges (lo, hi) with at most ``group_bytes`` of design rows each (a
    single structure may have more)."""
    limit = GROUP_BYTES if group_bytes is None else group_bytes
    groups, lo, acc = [], 0, 0.0
    for k, s in enumerate(structures):
        size = row_bytes(s, n_basis, species_count)
        if k > lo and acc + size > limit:
            groups.append((lo, k))
            lo, acc = k, 0.0
        acc += size
    if len(structures):
        groups.append((lo, len(structures)))
    return groups


def row_bytes(structure, n_basis, species_count):
    """Bytes of one structure's design rows."""
    return 8 * (species_count + n_basis * (1 + 3 * structure.n_atoms + 9))


def structure_design_rows(pot: MTP, s):
    """Design rows of one prepared structure ``s`` (its neighbour list built) for ``pot``'s radial
    coefficients: (species counts, energy row (A,), force rows (N, 3, A) in eV/A, virial rows
    (3, 3, A) in eV), A = ``pot.n_basis``; see :func:`pyiron_mtp.core.design.design_rows` (the
    training computes them for many structures at once, :class:`_Block`)."""
    t = pot.kernel_tables()
    A = pot.n_basis
    e, f, w = np.zeros(A), np.zeros((s.n_atoms, 3, A)), np.zeros((3, 3, A))
    design_rows(0, s.n_atoms, s.positions, s.cell, s.types, s.nl.start, s.nl.index, s.nl.shift,
                pot.min_dist, pot.max_dist, pot.core_radius_or_zero, pot.scaling, pot.radial_coeffs,
                t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"],
                t["times"], t["times_runs"], t["mapping"], t["n_moments"], e, f, w)
    counts = np.bincount(s.types, minlength=pot.species_count).astype(float)
    return counts, e, f, w


class _Block:
    """The design rows of consecutive structures, stacked, with their references and loss
    coefficients per row (zero where a structure has no reference for a term).

    counts (n, C); e (n, A); f (3 atoms, A), structure j's rows at f_start[j]:f_start[j + 1] in
    the order atom, direction; w (9 n, A), structure j's at 9 j:9 j + 9.  ``groups``: local
    structure ranges the sums are taken over, one after the other.
    """

    def __init__(self, pot, data, first, last, weights, groups):
        C, A = pot.species_count, pot.n_basis
        structures = data.structures[first:last]
        n = len(structures)
        sizes = np.array([3 * s.n_atoms for s in structures], dtype=np.int64)
        self.groups = groups
        self.f_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.counts = np.empty((n, C))
        self.e = np.empty((n, A))
        self.f = np.empty((int(self.f_start[-1]), A))
        self.w = np.empty((9 * n, A))
        if n:
            pk, t = data.packed(), pot.kernel_tables()
            f, w = self.f.reshape(-1, 3, A), self.w.reshape(n, 3, 3, A)
            map_batches(lambda j0, j1: design_rows_structures(
                first + j0, first + j1, first, pk.atom_off, pk.pair_off, pk.positions, pk.cells, pk.types, pk.start,
                pk.index, pk.shift, pot.min_dist, pot.max_dist, pot.core_radius_or_zero, pot.scaling,
                pot.radial_coeffs, t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"],
                t["times"], t["times_runs"], t["mapping"], t["n_moments"], self.counts, self.e, f, w), sizes)
        n_structures = len(data)
        terms = np.array([weights.terms(s, n_structures) for s in structures], dtype=float).reshape(n, 3)
        self.ce = terms[:, 0]
        self.cf = np.repeat(terms[:, 1], sizes)
        self.cs = np.repeat(terms[:, 2], 9)
        pk = data.packed()          # the references, zero where absent
        self.y_e = pk.energies[first:last]
        self.y_f = pk.forces[pk.atom_off[first]:pk.atom_off[last]].ravel()
        self.y_w = pk.virials[first:last].ravel()

    def __len__(self):
        return len(self.counts)

    def structure(self, j):
        """(counts, energy row, force rows (N, 3, A), virial rows (3, 3, A)) of structure j: views."""
        A = self.e.shape[1]
        f = self.f[self.f_start[j]:self.f_start[j + 1]]
        return self.counts[j], self.e[j], f.reshape(len(f) // 3, 3, A), self.w[9 * j:9 * j + 9].reshape(3, 3, A)

    def _slices(self, lo, hi):
        """Row slices of structures lo..hi-1: energy rows, force rows, virial rows."""
        return slice(lo, hi), slice(self.f_start[lo], self.f_start[hi]), slice(9 * lo, 9 * hi)

    def add_normal_equations(self, G, h):
        """Add this block's A^T W A to G and A^T W y to h; return its y^T W y."""
        C = self.counts.shape[1]
        yy = 0.0
        for lo, hi in self.groups:
            se, sf, sw = self._slices(lo, hi)
            root = np.sqrt(self.ce[se])
            E = np.hstack([self.counts[se], self.e[se]]) * root[:, None]
            G += E.T @ E
            h += E.T @ (root * self.y_e[se])
            yy += float(self.ce[se] @ self.y_e[se] ** 2)
            for M, c, y in ((self.f[sf], self.cf[sf], self.y_f[sf]), (self.w[sw], self.cs[sw], self.y_w[sw])):
                root = np.sqrt(c)
                Mw = M * root[:, None]
                G[C:, C:] += Mw.T @ Mw
                h[C:] += Mw.T @ (root * y)
                yy += float(c @ y ** 2)
        return yy

    def predict(self, x):
        """Stacked energies (n,), forces (3 atoms,) and virials (9 n,) for coefficients x."""
        C = self.counts.shape[1]
        E, F, W = np.empty(len(self.e)), np.empty(len(self.f)), np.empty(len(self.w))
        for lo, hi in self.groups:
            se, sf, sw = self._slices(lo, hi)
            E[se] = self.counts[se] @ x[:C] + self.e[se] @ x[C:]
            F[sf] = self.f[sf] @ x[C:]
            W[sw] = self.w[sw] @ x[C:]
        return E, F, W

    def add_residual_projection(self, x, g):
        """Add this block's A^T W (y - A x) to g."""
        C = self.counts.shape[1]
        E, F, W = self.predict(x)
        for lo, hi in self.groups:
            se, sf, sw = self._slices(lo, hi)
            re = self.ce[se] * (self.y_e[se] - E[se])
            g[:C] += self.counts[se].T @ re
            g[C:] += (self.e[se].T @ re + self.f[sf].T @ (self.cf[sf] * (self.y_f[sf] - F[sf]))
                      + self.w[sw].T @ (self.cs[sw] * (self.y_w[sw] - W[sw])))

    def split(self, E, F, W):
        """Per structure (energy, forces (N, 3), virial (3, 3)) from stacked predictions."""
        return [(float(E[j]), F[self.f_start[j]:self.f_start[j + 1]].reshape(-1, 3), W[9 * j:9 * j + 9].reshape(3, 3))
                for j in range(len(self))]


class LinearProblem:
    """Design rows of every structure for the current radial coefficients (all of them, or
    those that fit into ``max_memory`` bytes; see the module docstring)."""

    def __init__(self, pot: MTP, data: TrainingSet, weights: LossWeights, max_memory=None):
        self.pot = pot
        self.data = data
        self.weights = weights
        C = pot.species_count
        self._groups = row_groups(data.structures, pot.n_basis, C)
        sizes = np.array([sum(row_bytes(s, pot.n_basis, C) for s in data.structures[lo:hi])
                          for lo, hi in self._groups], dtype=float)
        if max_memory is None or sizes.sum() <= max_memory:
            n_kept, self._batches = len(sizes), []
        else:
            if max_memory < 2 * sizes.max():
                raise ValueError(f"max_memory = {max_memory / 2 ** 20:.1f} MiB is below twice the largest group of "
                                 f"design rows ({sizes.max() / 2 ** 20:.1f} MiB; GROUP_BYTES or the largest structure)")
            # half the budget holds the first groups, the other half one batch of groups of the rest
            n_kept = int(np.searchsorted(np.cumsum(sizes), 0.5 * max_memory, side="right"))
            self._batches, lo, acc = [], n_kept, 0.0
            for k in range(n_kept, len(sizes)):
                if acc + sizes[k] > 0.5 * max_memory and k > lo:
                    self._batches.append((lo, k))
                    lo, acc = k, 0.0
                acc += sizes[k]
            self._batches.append((lo, len(sizes)))
        self._kept = self._block(0, n_kept)
        self.kept = [self._kept.structure(j) for j in range(len(self._kept))]
        self.max_memory = max_memory

    def _block(self, first, last):
        """The design rows of groups first..last-1."""
        groups = self._groups[first:last]
        lo = groups[0][0] if groups else 0
        hi = groups[-1][1] if groups else 0
        return _Block(self.pot, self.data, lo, hi, self.weights, [(a - lo, b - lo) for a, b in groups])

    @property
    def streamed(self) -> bool:
        """Whether some structures' rows are recomputed on every pass."""
        return bool(self._batches)

    def _blocks(self):
        """The kept block, then each block of the other structures computed afresh (released
        after use)."""
        yield self._kept
        for first, last in self._batches:
            block = self._block(first, last)
            yield block
            del block

    @property
    def rows(self):
        """Design rows of every structure (a list; computed in full even when streamed)."""
        return [b.structure(j) for b in self._blocks() for j in range(len(b))]

    def normal_equations(self):
        """G x = h for x = [species coefficients, moment coefficients]; also y^T W y."""
        n = self.pot.species_count + self.pot.n_basis
        G = np.zeros((n, n))
        h = np.zeros(n)
        yy = sum(block.add_normal_equations(G, h) for block in self._blocks())
        return G, h, yy

    def solve(self, ridge=1e-13, max_refine=10):
        """Exact weighted least-squares species and moment coefficients.

        The normal equations of a large basis are singular to working precision
        (condition numbers of 1e16 and more at level 24), so they are solved with a
        small ridge (relative to the unit diagonal after scaling; raised tenfold until
        the Cholesky factorisation succeeds) followed by iterative refinement with
        residuals computed from the design rows themselves, until the projected
        residual stops shrinking.  The result's loss equals that of an orthogonal
        (QR/SVD) least-squares solution to ~1e-10.
        """
        G, h, yy = self.normal_equations()
        d = np.sqrt(np.maximum(np.diag(G), 0.0))
        d[d == 0] = 1.0
        Gs = G / np.outer(d, d)
        hs = h / d
        inverse = None
        while ridge <= 1e-6 and inverse is None:
            try:
                factor = scipy.linalg.cho_factor(Gs + ridge * np.eye(len(Gs)), lower=True)
                inverse = lambda b: scipy.linalg.cho_solve(factor, b)  # noqa: E731
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
                ridge *= 10.0
        if inverse is None:  # not positive semi-definite even with a ridge: pseudo-inverse
            w, V = np.linalg.eigh(Gs)
            keep = w > 1e-13 * w.max()
            inverse = lambda b: V[:, keep] @ ((V[:, keep].T @ b) / w[keep])  # noqa: E731
        x = inverse(hs) / d
        r = self.residual_projection(x)
        size = np.abs(r).max()
        for _ in range(int(max_refine)):
            x_new = x + inverse(r / d) / d
            r_new = self.residual_projection(x_new)
            size_new = np.abs(r_new).max()
            if not size_new < size:  # no gain: keep x
                break
            halved = size_new < 0.5 * size
            x, r, size = x_new, r_new, size_new
            if not halved:  # converged to rounding level
                break
        return x

    def residual_projection(self, x):
        """A^T W (y - A x): the weighted design rows times the residuals of ``x``.

        Zero at the least-squares solution; computed residual first, so it does not
        suffer the cancellation of h - G x.
        """
        g = np.zeros_like(x)
        for block in self._blocks():
            block.add_residual_projection(x, g)
        return g

    def weighted_design(self, k, n_structures=None):
        """sqrt(W) A of structure k: its design rows (energy; forces and virial where the loss
        has them) times the square roots of their loss coefficients, columns [species, moments]
        (``n_structures``: the size of the set the loss averages over; default: this problem's)."""
        # a structure not kept: its rows by the same kernel as the blocks' (the same bits)
        counts, e, f, w = (self.kept[k] if k < len(self.kept)
                           else _Block(self.pot, self.data, k, k + 1, self.weights, [(0, 1)]).structure(0))
        C = self.pot.species_count
        ce, cf, cs = np.sqrt(self.weights.terms(self.data.structures[k], n_structures or len(self.data)))
        blocks = [ce * np.concatenate([counts, e])[None, :]]
        if cf:
            blocks.append(cf * np.hstack([np.zeros((3 * len(f), C)), f.reshape(-1, e.shape[0])]))
        if cs:
            blocks.append(cs * np.hstack([np.zeros((9, C)), w.reshape(9, -1)]))
        return np.vstack(blocks)

    def predictions(self, x):
        """Per structure: energy, forces, virial for linear coefficients x."""
        return [p for block in self._blocks() for p in block.split(*block.predict(x))]
