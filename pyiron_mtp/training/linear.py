"""The linear part of the model: design rows of every structure for the current radial
coefficients and the exact weighted least-squares solve of the species and moment
coefficients (variable projection).

The design rows take 8 (3 N + 10) n_basis bytes for N atoms (1.5 GB for 10^5 atoms at
level 24).  With ``max_memory`` (bytes) only the structures that fit are kept; the others'
rows are recomputed, in batches that fit, each time they are needed (a solve passes over
them 3-5 times), with the same arithmetic in the same order: the results equal those of the
in-memory problem.
"""
from __future__ import annotations


import numpy as np
import scipy.linalg
import scipy.optimize

from ..core.design import design_rows
from ..potential import MTP
from .data import TrainingSet
from .parallel import map_structures
from .weights import LossWeights


def row_bytes(structure, n_basis, species_count):
    """Bytes of one structure's design rows."""
    return 8 * (species_count + n_basis * (1 + 3 * structure.n_atoms + 9))


def structure_design_rows(pot: MTP, s):
    """Design rows of one prepared structure ``s`` (its neighbour list built) for ``pot``'s radial
    coefficients: (species counts, energy row (A,), force rows (N, 3, A) in eV/A, virial rows
    (3, 3, A) in eV), A = ``pot.n_basis``; see :func:`pyiron_mtp.core.design.design_rows`."""
    t = pot.kernel_tables()
    A = pot.n_basis
    e = np.zeros(A)
    f = np.zeros((s.n_atoms, 3, A))
    w = np.zeros((3, 3, A))
    design_rows(0, s.n_atoms, s.positions, s.cell, s.types, s.nl.start, s.nl.index, s.nl.shift,
                pot.min_dist, pot.max_dist, pot.core_radius_or_zero, pot.scaling, pot.radial_coeffs,
                t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"],
                t["times"], t["times_runs"], t["mapping"], t["n_moments"], e, f, w)
    counts = np.bincount(s.types, minlength=pot.species_count).astype(float)
    return counts, e, f, w


class LinearProblem:
    """Design rows of every structure for the current radial coefficients (all of them, or
    those that fit into ``max_memory`` bytes; see the module docstring)."""

    def __init__(self, pot: MTP, data: TrainingSet, weights: LossWeights, max_memory=None):
        self.pot = pot
        self.data = data
        self.weights = weights
        C = pot.species_count
        self._compute = lambda k, s: structure_design_rows(pot, s)
        sizes = np.array([row_bytes(s, pot.n_basis, C) for s in data.structures], dtype=float)
        if max_memory is None or sizes.sum() <= max_memory:
            n_kept, self._batches = len(sizes), []
        else:
            if max_memory < 2 * sizes.max():
                raise ValueError(f"max_memory = {max_memory / 2 ** 20:.1f} MiB is below twice the design rows of the "
                                 f"largest structure ({sizes.max() / 2 ** 20:.1f} MiB)")
            # half the budget holds the first structures, the other half one batch of the rest
            n_kept = int(np.searchsorted(np.cumsum(sizes), 0.5 * max_memory, side="right"))
            self._batches, lo, acc = [], n_kept, 0.0
            for k in range(n_kept, len(sizes)):
                if acc + sizes[k] > 0.5 * max_memory and k > lo:
                    self._batches.append((lo, k))
                    lo, acc = k, 0.0
                acc += sizes[k]
            self._batches.append((lo, len(sizes)))
        self.kept = map_structures(self._compute, data.structures[:n_kept])
        self.max_memory = max_memory

    @property
    def streamed(self) -> bool:
        """Whether some structures' rows are recomputed on every pass."""
        return bool(self._batches)

    def _all_rows(self):
        """(k, rows of structure k) for every structure in order: the kept ones, then each
        batch of the others computed afresh (and released after use)."""
        yield from enumerate(self.kept)
        for lo, hi in self._batches:
            batch = map_structures(lambda j, s: self._compute(lo + j, s), self.data.structures[lo:hi])
            yield from zip(range(lo, hi), batch)
            del batch

    @property
    def rows(self):
        """Design rows of every structure (a list; computed in full even when streamed)."""
        return [r for _, r in self._all_rows()]

    def normal_equations(self):
        """G x = h for x = [species coefficients, moment coefficients]; also y^T W y."""
        C = self.pot.species_count
        n = C + self.pot.n_basis
        G = np.zeros((n, n))
        h = np.zeros(n)
        yy = 0.0
        K = len(self.data)
        for k, (counts, e, f, w) in self._all_rows():
            s = self.data.structures[k]
            ce, cf, cs = self.weights.terms(s, K)
            if ce:
                row = np.concatenate([counts, e])
                G += ce * np.outer(row, row)
                h += ce * row * s.energy
                yy += ce * s.energy ** 2
            if cf:
                Fr = f.reshape(-1, f.shape[-1])
                G[C:, C:] += cf * (Fr.T @ Fr)
                h[C:] += cf * (Fr.T @ s.forces.reshape(-1))
                yy += cf * float((s.forces ** 2).sum())
            if cs:
                Wr = w.reshape(9, -1)
                G[C:, C:] += cs * (Wr.T @ Wr)
                h[C:] += cs * (Wr.T @ s.virial.reshape(-1))
                yy += cs * float((s.virial ** 2).sum())
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
        C = self.pot.species_count
        K = len(self.data)
        g = np.zeros_like(x)
        for k, (counts, e, f, w) in self._all_rows():
            s = self.data.structures[k]
            E, F, W = self._predict(counts, e, f, w, x)
            ce, cf, cs = self.weights.terms(s, K)
            if ce:
                g[:C] += ce * (s.energy - E) * counts
                g[C:] += ce * (s.energy - E) * e
            if cf:
                g[C:] += cf * (f.reshape(-1, f.shape[-1]).T @ (s.forces - F).reshape(-1))
            if cs:
                g[C:] += cs * (w.reshape(9, -1).T @ (s.virial - W).reshape(-1))
        return g

    def weighted_design(self, k, n_structures=None):
        """sqrt(W) A of structure k: its design rows (energy; forces and virial where the loss
        has them) times the square roots of their loss coefficients, columns [species, moments]
        (``n_structures``: the size of the set the loss averages over; default: this problem's)."""
        counts, e, f, w = self.kept[k] if k < len(self.kept) else self._compute(k, self.data.structures[k])
        C = self.pot.species_count
        ce, cf, cs = np.sqrt(self.weights.terms(self.data.structures[k], n_structures or len(self.data)))
        blocks = [ce * np.concatenate([counts, e])[None, :]]
        if cf:
            blocks.append(cf * np.hstack([np.zeros((3 * len(f), C)), f.reshape(-1, e.shape[0])]))
        if cs:
            blocks.append(cs * np.hstack([np.zeros((9, C)), w.reshape(9, -1)]))
        return np.vstack(blocks)

    def _predict(self, counts, e, f, w, x):
        C = self.pot.species_count
        return float(counts @ x[:C] + e @ x[C:]), f @ x[C:], w @ x[C:]

    def predictions(self, x):
        """Per structure: energy, forces, virial for linear coefficients x."""
        return [self._predict(*r, x) for _, r in self._all_rows()]
