"""Formation energies and the lower convex hull over compositions (binary, ternary, ...).

Compositions are fractions of the ``elements`` (rows summing to one); energies in eV/atom.
The formation energy is E - sum_i x_i mu_i with mu_i the lowest energy per atom of a pure
element i.  The hull is the lower convex envelope of (x_1 .. x_{n-1}, E_f), computed with
``scipy.spatial.ConvexHull`` (a point far above is added so that coplanar or collinear
sets stay full-dimensional; only facets whose normal points down count); the hull energy
at any composition is the largest of the lower facets' planes there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Hull", "formation_energies", "lower_hull", "composition_matrix"]


def composition_matrix(compositions, elements):
    """(n, len(elements)) fractions from dicts element -> fraction (or counts)."""
    out = np.zeros((len(compositions), len(elements)))
    for k, comp in enumerate(compositions):
        total = float(sum(comp.values()))
        for el, v in comp.items():
            if el not in elements:
                raise ValueError(f"element {el} not among {elements}")
            out[k, elements.index(el)] = v / total
    return out


def formation_energies(energies, fractions, elements):
    """(E_f, mu): formation energies (eV/atom) against the lowest pure-element energies mu.

    Raises a clear error when an element has no pure structure among the entries."""
    e = np.asarray(energies, dtype=float)
    x = np.asarray(fractions, dtype=float)
    mu = np.full(len(elements), np.nan)
    for i, el in enumerate(elements):
        pure = np.isclose(x[:, i], 1.0) & np.isfinite(e)
        if not pure.any():
            raise ValueError(f"no pure {el} structure with an energy: formation energies need one per element")
        mu[i] = e[pure].min()
    return e - x @ mu, mu


@dataclass
class Hull:
    """Lower convex hull of formation energies.

    ``vertices``: indices of the entries that are vertices of the hull (for equal
    compositions only the lowest counts); ``e_above``: every entry's energy above the hull
    (eV/atom, >= 0 up to round-off).
    """

    fractions: np.ndarray
    formation_energy: np.ndarray
    vertices: list
    e_above: np.ndarray
    planes: np.ndarray       # lower facets as rows (c_1 .. c_{n-1}, c_0): E = c . x + c_0

    def energy_at(self, fractions):
        """Hull formation energy at compositions (rows of fractions)."""
        x = np.atleast_2d(np.asarray(fractions, dtype=float))[:, 1:]
        return (x @ self.planes[:, :-1].T + self.planes[:, -1]).max(axis=1)


def _planes(coords, ef):
    """Lower facets of the points (coords, ef) plus the pure-element corners at E_f = 0."""
    from scipy.spatial import ConvexHull
    n = coords.shape[1]
    corners = np.vstack([np.zeros(n), np.eye(n)])
    pts = np.vstack([np.column_stack([coords, ef]), np.column_stack([corners, np.zeros(n + 1)])])
    e_top = max(1.0, float(np.abs(pts[:, -1]).max())) * 10.0
    top = np.append(np.full(n, 1.0 / (n + 1)), e_top)   # far above the centre: keeps the set full-dimensional
    hull = ConvexHull(np.vstack([pts, top]))
    planes = [np.append(-eq[:-2] / eq[-2], -eq[-1] / eq[-2]) for eq in hull.equations if eq[-2] < -1e-12]
    return np.array(planes)


def _hull_energy(planes, coords):
    return (np.atleast_2d(coords) @ planes[:, :-1].T + planes[:, -1]).max(axis=1)


def lower_hull(formation_energy, fractions, tol=1e-9) -> Hull:
    """The lower hull of entries (formation energies, fractions rows over all elements).

    The pure elements (E_f = 0 by definition) are always on it.  Entries without a finite
    energy are ignored (their ``e_above`` is NaN).  Vertices are the corners of the hull:
    entries on it whose removal raises the hull at their composition (points on an edge
    or inside a facet are on the hull, ``e_above`` = 0, but not vertices); of several
    entries with the same composition only the lowest can be one."""
    ef = np.asarray(formation_energy, dtype=float)
    x_all = np.asarray(fractions, dtype=float)
    if x_all.ndim != 2 or x_all.shape[1] < 2:
        raise ValueError("a hull needs fractions of at least two elements")
    ok = np.isfinite(ef)
    coords = x_all[:, 1:]                      # the first fraction follows from the others
    planes = _planes(coords[ok], ef[ok])
    e_above = np.where(ok, ef - _hull_energy(planes, coords), np.nan)
    vertices, seen = [], set()
    for k in sorted(np.flatnonzero(ok & (e_above <= tol)), key=lambda k: ef[k]):
        key = tuple(np.round(x_all[k], 9))
        if key in seen:
            continue
        seen.add(key)
        pure = np.isclose(x_all[k].max(), 1.0)
        same = np.all(np.isclose(coords, coords[k], atol=1e-12), axis=1)
        rest = ok & ~same
        if pure:
            vertices.append(int(k))
        elif _hull_energy(_planes(coords[rest], ef[rest]), coords[k])[0] > ef[k] + tol:
            vertices.append(int(k))
    return Hull(x_all, ef, sorted(vertices), e_above, planes)
