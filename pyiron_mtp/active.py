"""Extrapolation grades and selection of configurations (D-optimality, MaxVol).

Rows are derivatives of the energy with respect to all parameters of the MTP
(the linearised model, as MLIP-2): one row per configuration, dE/dtheta / N
(configuration grade), or one row per atomic neighbourhood, dV_i/dtheta
(neighbourhood grade, as MLIP-3; also works for non-periodic fragments).
``linear_only`` restricts the rows to the species and moment coefficients.
The grade of a configuration is max_j |(b A^-1)_j| over its row(s): <= 1 means
interpolation.  Columns are divided by their RMS over the training rows before
MaxVol, so the initial eps * I rows are small relative to every column and the
grades do not change when parameters are rescaled.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np

from .core.grades import configuration_grade, neighborhood_grades
from .core.maxvol import MaxVol
from .potential import MTP

__all__ = ["ActiveSet", "SELECT_THRESHOLD", "BREAK_THRESHOLD"]

SELECT_THRESHOLD = 2.0   # collect configurations above this grade
BREAK_THRESHOLD = 10.0   # stop a sampling run above this grade
MODES = ("configuration", "neighborhood")


def _arrays(pot, atoms):
    return (atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()))


def _fingerprint(pot: MTP) -> str:
    return hashlib.sha1(np.ascontiguousarray(pot.parameters).tobytes()).hexdigest()[:16]


class ActiveSet:
    """MaxVol active set of a potential over configurations or neighbourhoods."""

    def __init__(self, pot: MTP, mode="configuration", linear_only=False, eps=1e-5):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.pot = pot
        self.mode = mode
        self.linear_only = bool(linear_only)
        m = (pot.species_count + pot.n_basis) if linear_only else pot.n_parameters
        self.maxvol = MaxVol(m, eps=eps)
        self.column_scale = np.ones(m)
        self.fingerprint = _fingerprint(pot)

    # ------------------------------------------------------------------ rows
    def rows(self, atoms):
        """Row(s) of one structure: (1, m) for configurations, (N, m) for neighbourhoods."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short distances are what grades are for
            r = self.pot.site_parameter_rows(*_arrays(self.pot, atoms), linear_only=self.linear_only)
        return self._from_site_rows(r)

    def _from_site_rows(self, r):
        if self.linear_only and r.shape[1] != self.maxvol.m:
            r = r[:, -self.maxvol.m:]
        if self.mode == "configuration":
            r = r.sum(axis=0, keepdims=True) / len(r)
        return r / self.column_scale

    def grade_from_site_rows(self, site_rows):
        """(grade, per-atom grades or None) from dV_i/dtheta rows of all atoms (N, n_parameters)."""
        self._check_current()
        g = self.maxvol.grades(self._from_site_rows(site_rows))
        return float(g.max()), (g if self.mode == "neighborhood" else None)

    def evaluate_options(self):
        """Keyword arguments for :meth:`MTP.evaluate` that let the force kernel compute
        what :meth:`grade_from_result` needs in the same pass (the MD monitoring path)."""
        self._check_current()
        if self.mode == "neighborhood":
            return {"parameter_rows": True, "row_inverse": self._scaled_inverse(),
                    "linear_only": self.linear_only}
        return {"parameter_rows": True}

    def grade_from_result(self, result):
        """(grade, per-atom grades or None) of an evaluation made with
        ``**active_set.evaluate_options()`` (or at least ``parameter_rows=True``)."""
        if result.row_parts is None:
            raise ValueError("the result holds no parameter rows; evaluate with parameter_rows=True")
        self._check_current()
        radial, basis, types = result.row_parts
        inv = self._scaled_inverse()
        if self.mode == "configuration":
            return configuration_grade(radial, basis, types, inv, self.linear_only), None
        g = result.site_grades
        if g is None:
            g = np.empty(len(types))
            neighborhood_grades(radial, basis, types, inv, self.linear_only, g)
        return float(g.max()), g

    def _scaled_inverse(self):
        """A^-1 with row k divided by column_scale[k] (rows b need no scaling then)."""
        c = getattr(self, "_inv_cache", None)
        if c is None or c[0] is not self.maxvol or c[1] != self.maxvol.swaps or c[2] is not self.column_scale:
            inv = np.ascontiguousarray(self.maxvol.inverse / self.column_scale[:, None])
            self._inv_cache = c = (self.maxvol, self.maxvol.swaps, self.column_scale, inv)
        return c[3]

    def _check_current(self):
        if _fingerprint(self.pot) != self.fingerprint:
            raise RuntimeError("the potential's parameters changed since the active set was built; "
                               "rebuild it with ActiveSet.build(...) after retraining")

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, pot, images, mode="configuration", linear_only=False, threshold=1.0 + 1e-3):
        """Active set from training structures (MaxVol over all their rows)."""
        new = cls(pot, mode, linear_only)
        blocks, ids = [], []
        for n, atoms in enumerate(images):
            b = new.rows(atoms)
            blocks.append(b)
            ids.append(np.full(len(b), n))
        if blocks:
            B = np.vstack(blocks)
            scale = np.sqrt((B ** 2).mean(axis=0))
            scale[~(scale > 0)] = 1.0
            new.column_scale = scale
            new.maxvol.update(B / scale, np.concatenate(ids), threshold=threshold)
        return new

    # ------------------------------------------------------------------ grades
    def grade(self, atoms, per_atom=False):
        """Extrapolation grade of a structure (and per-atom grades in neighbourhood mode)."""
        self._check_current()
        g = self.maxvol.grades(self.rows(atoms))
        if per_atom:
            return float(g.max()), (g if self.mode == "neighborhood" else None)
        return float(g.max())

    def grades(self, images):
        return np.array([self.grade(a) for a in images])

    def select(self, images, threshold=SELECT_THRESHOLD, max_count=None, update=True):
        """Indices of the structures that enlarge the active set most (greedy MaxVol).

        A structure counts with its most extrapolative row.  After each choice the set
        is updated, so near-duplicates of a chosen structure fall below ``threshold``.
        With ``update=False`` the active set is left unchanged.
        """
        self._check_current()
        saved = self.maxvol.to_dict() if not update else None
        blocks, owner = [], []
        for n, atoms in enumerate(images):
            b = self.rows(atoms)
            blocks.append(b)
            owner.append(np.full(len(b), n))
        if not blocks:
            return []
        B = np.vstack(blocks)
        owner = np.concatenate(owner)
        chosen = []
        mv = self.maxvol
        C = mv.coefficients(B)
        limit = len(images) if max_count is None else int(max_count)
        taken = np.zeros(len(images), dtype=bool)
        while len(chosen) < limit:
            g = np.abs(C).max(axis=1)
            g[taken[owner]] = 0.0
            r = int(g.argmax())
            if g[r] <= threshold:
                break
            j = int(np.abs(C[r]).argmax())
            c = C[r].copy()
            mv._swap(j, B[r], c, owner[r])
            delta = c.copy()
            delta[j] -= 1.0
            C -= np.outer(C[:, j], delta) / c[j]
            taken[owner[r]] = True
            chosen.append(int(owner[r]))
        if saved is not None:
            self.maxvol = MaxVol.from_dict(saved)
        return chosen

    # ------------------------------------------------------------------ storage
    def to_dict(self):
        return {"mode": self.mode, "linear_only": self.linear_only, "fingerprint": self.fingerprint,
                "column_scale": self.column_scale.copy(), **self.maxvol.to_dict()}

    def save(self, path):
        """Save to ``.npz`` (rows, source ids, mode, parameter fingerprint)."""
        np.savez_compressed(path, **{k: np.asarray(v) for k, v in self.to_dict().items()})

    @classmethod
    def load(cls, path, pot):
        """Load an active set for ``pot``; refuses a set built for other parameters."""
        with np.load(path, allow_pickle=False) as d:
            new = cls(pot, str(d["mode"]), bool(d["linear_only"]))
            if str(d["fingerprint"]) != new.fingerprint:
                raise ValueError(f"{path}: the active set belongs to other potential parameters; rebuild it")
            new.maxvol = MaxVol.from_dict({"rows": d["rows"], "ids": d["ids"], "swaps": d["swaps"]})
            new.column_scale = np.array(d["column_scale"], dtype=float)
        return new
