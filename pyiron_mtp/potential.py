"""The Moment Tensor Potential model: parameters, basis tables, evaluation.

Units: eV, Angstrom.  Stress follows ASE (sigma = (1/V) dE/d(strain), eV/A^3,
Voigt order xx yy zz yz xz xy); ``virial`` follows MLIP's PlusStress (eV,
= -V * sigma).

Beyond MLIP (both optional, written into the ``.mtp`` file as extra entries that MLIP ignores):
a core radius below which the radial basis is smoothly clamped (:mod:`.core.radial`), and a
pair baseline added to the MTP's energy (:class:`~pyiron_mtp.baseline.ZBLBaseline`).  Together
they keep the potential repulsive at distances the training data never reached.
"""
from __future__ import annotations

import copy as _copy
import warnings
from dataclasses import dataclass

import numpy as np

from .baseline import ZBLBaseline, switch_range
from .core.basis import generate_basis
from .core.kernels import evaluate_range, kernel_layout
from .core.threads import range_bounds, run_ranges
from .core.neighbors import NeighborList
from .mtpfile import read_mtp, write_mtp

__all__ = ["MTP", "MTPResult", "ShortDistanceWarning"]


class ShortDistanceWarning(UserWarning):
    """Atoms closer than the potential's min_dist (the fit extrapolates there)."""


@dataclass
class MTPResult:
    """Energy (eV), per-atom energies, forces (eV/A), virial (eV, MLIP sign), stress (eV/A^3, ASE)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray | None
    virial: np.ndarray | None
    stress: np.ndarray | None
    atom_virials: np.ndarray | None
    n_short: int
    row_parts: tuple | None = None   # (radial (N, C, K, R), basis (N, n_basis), types (N,))
    site_grades: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray | None:
        """dV_i/d(theta) per atom, (N, n_parameters), order radial | species | moment."""
        if self.row_parts is None:
            return None
        return _full_rows(*self.row_parts)


def _full_rows(compact, basis, types):
    """Dense parameter rows from the compact radial rows, basis values and types."""
    n, C = compact.shape[:2]
    radial = np.zeros((n, C) + compact.shape[1:])
    radial[np.arange(n), types] = compact
    species = np.zeros((n, C))
    species[np.arange(n), types] = 1.0
    return np.hstack([radial.reshape(n, -1), species, basis])


def _voigt(m):
    return np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])


class MTP:
    """A Moment Tensor Potential (Shapeev 2016) in MLIP's parametrisation.

    Parameters are the radial coefficients ``radial_coeffs[z_i, z_j, mu, beta]``,
    ``species_coeffs[z]`` (eV) and ``moment_coeffs[alpha]``; ``scaling``
    multiplies every radial basis function.  ``species`` are element symbols in
    type order (MLIP files do not name them).  ``core_radius`` (A, optional): below it the
    radial basis is clamped (no growth, no pull where there was no data); ``baseline``
    (optional :class:`~pyiron_mtp.baseline.ZBLBaseline`): a pair repulsion added to the energy.
    """

    def __init__(self, *, species_count, min_dist, max_dist, radial_basis_size, radial_funcs_count,
                 alpha_index_basic, alpha_index_times, alpha_moment_mapping, alpha_moments_count,
                 radial_coeffs=None, species_coeffs=None, moment_coeffs=None, scaling=1.0,
                 species=None, potential_name="MTP1m", potential_tag="", version="1.1.0",
                 trained=None, level=None, core_radius=None, baseline=None):
        self.species_count = int(species_count)
        self.species = None if species is None else [str(s) for s in species]
        if self.species is not None and len(self.species) != self.species_count:
            raise ValueError(f"species {self.species} does not match species_count = {self.species_count}")
        self.min_dist = float(min_dist)
        self.max_dist = float(max_dist)
        if not self.max_dist > self.min_dist >= 0:
            raise ValueError(f"need 0 <= min_dist < max_dist, got {self.min_dist}, {self.max_dist}")
        self.radial_basis_size = int(radial_basis_size)
        self.radial_funcs_count = int(radial_funcs_count)
        self.alpha_index_basic = np.asarray(alpha_index_basic, dtype=np.int64).reshape(-1, 4)
        self.alpha_index_times = np.asarray(alpha_index_times, dtype=np.int64).reshape(-1, 4)
        self.alpha_moment_mapping = np.asarray(alpha_moment_mapping, dtype=np.int64).reshape(-1)
        self.alpha_moments_count = int(alpha_moments_count)
        C, K, R = self.species_count, self.radial_funcs_count, self.radial_basis_size
        if trained is None:
            trained = moment_coeffs is not None
        self.trained = bool(trained)
        if radial_coeffs is None:
            radial_coeffs = np.zeros((C, C, K, R))
            for mu in range(K):
                radial_coeffs[:, :, mu, mu % R] = 1.0
        self.radial_coeffs = np.array(radial_coeffs, dtype=float).reshape(C, C, K, R)
        self.species_coeffs = np.zeros(C) if species_coeffs is None else np.array(species_coeffs, dtype=float).reshape(C)
        n_a = len(self.alpha_moment_mapping)
        self.moment_coeffs = np.zeros(n_a) if moment_coeffs is None else np.array(moment_coeffs, dtype=float).reshape(n_a)
        self.scaling = float(scaling)
        self.potential_name = potential_name
        self.potential_tag = potential_tag
        self.version = version
        self.level = level
        self.core_radius = None if core_radius is None else float(core_radius)
        if self.core_radius is not None and not self.min_dist * 0.5 <= self.core_radius < self.max_dist:
            raise ValueError(f"core_radius must lie in [min_dist/2, max_dist) = [{self.min_dist / 2:g}, "
                             f"{self.max_dist:g}), got {self.core_radius:g}")
        if isinstance(baseline, dict):
            baseline = ZBLBaseline.from_dict(baseline) if baseline else None
        if baseline is not None:
            if not isinstance(baseline, ZBLBaseline):
                raise TypeError(f"baseline must be a ZBLBaseline or None, got {type(baseline).__name__}")
            if len(baseline.atomic_numbers) != C:
                raise ValueError(f"the baseline has {len(baseline.atomic_numbers)} atomic numbers for "
                                 f"{C} species")
            if baseline.outer > self.max_dist:
                raise ValueError(f"the baseline's outer cutoff {baseline.outer:g} A exceeds max_dist {self.max_dist:g} A")
        self.baseline = baseline
        self._tables = None

    @property
    def core_radius_or_zero(self) -> float:
        """The core radius for the kernels (0: no clamp)."""
        return 0.0 if self.core_radius is None else self.core_radius

    def make_safe(self, core_radius, baseline="zbl", inner=None, outer=None):
        """Set the short-range protection: ``core_radius`` (A; typically the smallest distance in the
        training data) and a ``"zbl"`` baseline switched off between ``inner`` and ``outer`` (A).
        Default: the ZBL repulsion lives below the data (``outer`` = the core radius, ``inner`` =
        :data:`~pyiron_mtp.baseline.SWITCH_WIDTH` below it), so it is zero wherever the data has
        pairs and a trained fit stays valid; with ``outer`` beyond the core radius the MTP must be
        (re)trained with it (its fit did not include the baseline).  ``baseline=None`` keeps only the
        clamp."""
        self.core_radius = float(core_radius)
        if baseline is None:
            self.baseline = None
        elif isinstance(baseline, ZBLBaseline):
            self.baseline = baseline
        elif str(baseline).lower() == "zbl":
            if self.species is None:
                raise ValueError("a ZBL baseline needs the species' elements: give the MTP species=[...]")
            outer = self.core_radius if outer is None else outer
            inner = switch_range(outer)[0] if inner is None else inner
            self.baseline = ZBLBaseline.for_species(self.species, inner, outer)
        else:
            raise ValueError(f"unknown baseline {baseline!r} (known: 'zbl', None)")
        # validate through the constructor's checks
        type(self)(**{**self.to_dict(), "core_radius": self.core_radius, "baseline": self.baseline})
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_level(cls, level, species, min_dist, max_dist, radial_basis_size=8, max_mu=None, max_nu=None):
        """Untrained MTP with the complete basis of ``level`` for ``species``.

        ``species``: element symbols or an int (number of species).  Distances in Angstrom.
        """
        if isinstance(species, (int, np.integer)):
            names, count = None, int(species)
        else:
            names = [str(s) for s in species]
            count = len(names)
            if count == 0:
                raise ValueError("species must not be empty")
            if len(set(names)) != count:
                raise ValueError(f"species must be distinct, got {names}")
        b = generate_basis(level, max_mu=max_mu, max_nu=max_nu)
        return cls(species_count=count, species=names, min_dist=min_dist, max_dist=max_dist,
                   radial_basis_size=radial_basis_size, radial_funcs_count=b.radial_funcs_count,
                   alpha_index_basic=b.alpha_index_basic, alpha_index_times=b.alpha_index_times,
                   alpha_moment_mapping=b.alpha_moment_mapping, alpha_moments_count=b.alpha_moments_count,
                   trained=False, level=int(level))

    @classmethod
    def from_file(cls, path, species=None):
        """Read an MLIP ``.mtp`` file; ``species`` names the elements in type order."""
        d = read_mtp(path)
        if species is not None:
            species = [species] if isinstance(species, str) else list(species)
            if len(species) != d["species_count"]:
                raise ValueError(f"{path}: the file has species_count = {d['species_count']}, "
                                 f"but {len(species)} species were given: {species}")
        return cls(species=species, **{k: v for k, v in d.items()})

    def to_file(self, path, trained=None):
        """Write an MLIP ``.mtp`` file (a template without coefficients if untrained)."""
        write_mtp(path, self.to_dict(), trained=self.trained if trained is None else trained)

    def to_dict(self) -> dict:
        """Plain dict of numbers, strings and numpy arrays (for HDF5)."""
        d = {k: getattr(self, k) for k in (
            "species_count", "min_dist", "max_dist", "radial_basis_size", "radial_funcs_count",
            "alpha_moments_count", "scaling", "potential_name", "potential_tag", "version", "trained")}
        for k in ("alpha_index_basic", "alpha_index_times", "alpha_moment_mapping",
                  "radial_coeffs", "species_coeffs", "moment_coeffs"):
            d[k] = getattr(self, k).copy()
        d["species"] = None if self.species is None else list(self.species)
        d["level"] = self.level
        d["core_radius"] = self.core_radius
        d["baseline"] = None if self.baseline is None else self.baseline.to_dict()
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if d.get("core_radius") is not None and not np.isfinite(d["core_radius"]):
            d["core_radius"] = None
        if isinstance(d.get("species"), np.ndarray):
            d["species"] = [s.decode() if isinstance(s, bytes) else str(s) for s in d["species"]]
        return cls(**d)

    def copy(self):
        new = _copy.copy(self)
        for k in ("alpha_index_basic", "alpha_index_times", "alpha_moment_mapping",
                  "radial_coeffs", "species_coeffs", "moment_coeffs"):
            setattr(new, k, getattr(self, k).copy())
        new.species = None if self.species is None else list(self.species)
        new._tables = None
        return new

    # ------------------------------------------------------------------ properties
    @property
    def n_basis(self) -> int:
        """Number of scalar basis functions (moment coefficients)."""
        return len(self.alpha_moment_mapping)

    @property
    def n_parameters(self) -> int:
        """Parameters in MLIP order: radial (C^2 K R), species (C), moment coefficients."""
        return self.radial_coeffs.size + self.species_count + self.n_basis

    @property
    def parameters(self) -> np.ndarray:
        return np.concatenate([self.radial_coeffs.ravel(), self.species_coeffs, self.moment_coeffs])

    @parameters.setter
    def parameters(self, theta):
        theta = np.asarray(theta, dtype=float).ravel()
        if theta.size != self.n_parameters:
            raise ValueError(f"expected {self.n_parameters} parameters, got {theta.size}")
        nr = self.radial_coeffs.size
        C = self.species_count
        self.radial_coeffs = theta[:nr].reshape(self.radial_coeffs.shape).copy()
        self.species_coeffs = theta[nr:nr + C].copy()
        self.moment_coeffs = theta[nr + C:].copy()

    def __repr__(self):
        sp = self.species if self.species is not None else self.species_count
        lev = f"level {self.level}, " if self.level else ""
        extra = "" if self.core_radius is None else f", core {self.core_radius:g} A"
        extra += "" if self.baseline is None else f", + {self.baseline!r}"
        return (f"MTP({lev}species={sp}, {self.n_basis} basis functions, {self.n_parameters} parameters, "
                f"r={self.min_dist:g}..{self.max_dist:g} A{extra}, {'trained' if self.trained else 'untrained'})")

    # ------------------------------------------------------------------ evaluation
    def kernel_tables(self):
        """Integer tables for the Numba kernels (cached)."""
        if self._tables is None:
            self._tables = kernel_layout(self.alpha_index_basic, self.alpha_index_times,
                                         self.alpha_moment_mapping, self.alpha_moments_count)
        return self._tables

    def types_of(self, symbols) -> np.ndarray:
        """Type indices of element symbols; a clear error for unknown elements."""
        if self.species is None:
            raise ValueError("this MTP has no species names; load it with species=[...] "
                             "(MLIP files do not name their elements)")
        lookup = {s: k for k, s in enumerate(self.species)}
        unknown = sorted(set(symbols) - set(lookup))
        if unknown:
            raise ValueError(f"element(s) {unknown} not in the potential's species {self.species}")
        return np.array([lookup[s] for s in symbols], dtype=np.int64)

    def _prepare(self, positions, cell, pbc, types, neighbor_list):
        """Validate inputs and bring the neighbour list up to date."""
        positions = np.ascontiguousarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {positions.shape}")
        n = len(positions)
        if n == 0:
            raise ValueError("empty structure: no atoms to evaluate")
        if not np.all(np.isfinite(positions)):
            raise ValueError("positions contain NaN or inf")
        types = np.ascontiguousarray(types, dtype=np.int64).reshape(-1)
        if types.shape != (n,):
            raise ValueError(f"types has {types.size} entries for {n} atoms")
        if types.min() < 0 or types.max() >= self.species_count:
            raise ValueError(f"atom types must be in 0..{self.species_count - 1}, got {sorted(set(types.tolist()))}")
        cell = np.ascontiguousarray(np.asarray(cell, dtype=float).reshape(3, 3))
        pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
        last = getattr(self, "_checked_cell", None)
        if last is None or not (np.array_equal(last[0], cell) and np.array_equal(last[1], pbc)):
            _check_cell(cell, pbc)
            self._checked_cell = (cell.copy(), pbc.copy())
        if neighbor_list is None:
            neighbor_list = NeighborList(self.max_dist, skin=0.0)
        elif neighbor_list.cutoff < self.max_dist:
            raise ValueError(f"neighbour list cutoff {neighbor_list.cutoff} < max_dist {self.max_dist}")
        neighbor_list.update(positions, cell, pbc)
        return positions, cell, pbc, types, neighbor_list

    def basis_values(self, positions, cell, pbc, types, neighbor_list=None) -> np.ndarray:
        """Scalar basis functions B_alpha of each atom's neighbourhood, shape (N, n_basis)."""
        positions, cell, pbc, types, nl = self._prepare(positions, cell, pbc, types, neighbor_list)
        out = np.zeros((len(positions), self.n_basis))
        self._run(positions, cell, types, nl, False, out, species_coeffs=np.zeros(self.species_count),
                  moment_coeffs=np.ones(self.n_basis))
        return out

    def site_parameter_rows(self, positions, cell, pbc, types, neighbor_list=None, linear_only=False):
        """dV_i/d(theta) of every atom, shape (N, n_parameters) in the order of
        :attr:`parameters` (radial | species | moment); with ``linear_only`` only the
        species and moment columns."""
        positions, cell, pbc, types, nl = self._prepare(positions, cell, pbc, types, neighbor_list)
        n = len(positions)
        C = self.species_count
        if linear_only:
            moment = np.zeros((n, self.n_basis))
            species = np.zeros((n, C))
            species[np.arange(n), types] = 1.0
            self._run(positions, cell, types, nl, False, moment, species_coeffs=np.zeros(C),
                      moment_coeffs=np.ones(self.n_basis))
            return np.hstack([species, moment])
        return _full_rows(*self._site_rows(positions, cell, types, nl)[4])

    def _site_rows(self, positions, cell, types, nl, row_inverse=None, linear_only=False):
        """Site energies, forces, per-atom virials, short-pair code and the compact
        dV_i/dtheta rows (radial (N, C, K, R) for the atom's own species, basis values,
        types) in one pass; with ``row_inverse`` also each atom's max_j |b_i row_inverse|_j
        (else None)."""
        n = len(positions)
        C, K, R = self.species_count, self.radial_funcs_count, self.radial_basis_size
        basis = np.zeros((n, self.n_basis))
        compact = np.zeros((n, C, K, R))
        grades = None
        if row_inverse is not None:
            m = (C + self.n_basis) if linear_only else self.n_parameters
            row_inverse = np.ascontiguousarray(row_inverse, dtype=float)
            if row_inverse.shape != (m, m):
                raise ValueError(f"row_inverse must have shape {(m, m)}, got {row_inverse.shape}")
            grades = np.zeros(n)
        site, forces, atom_virial, n_short = self._run(positions, cell, types, nl, True, basis,
                                                       radial_rows=compact, row_inverse=row_inverse,
                                                       linear_only=linear_only, site_grades=grades)
        return site, forces, atom_virial, n_short, (compact, basis, types), grades

    def _run(self, positions, cell, types, nl, want_grad, basis_out, species_coeffs=None, moment_coeffs=None,
             radial_rows=None, row_inverse=None, linear_only=False, site_grades=None, radial_coeffs=None,
             threaded=True):
        """Site energies, forces, per-atom virials (None unless ``want_grad``) and the
        short/coincident pair code from the kernels.  The kernels accumulate the forces
        on their own threads, one buffer per atom range (one range if not ``threaded``).
        ``species_coeffs``, ``moment_coeffs`` and ``radial_coeffs`` override the model's."""
        if radial_rows is None:
            radial_rows = np.zeros((0, 1, 1, 1))
        if site_grades is None:
            site_grades = np.zeros(0)
            row_inverse = np.zeros((0, 0))
        t = self.kernel_tables()
        n = len(positions)
        site = np.zeros(n)
        pair_grad = np.zeros((len(nl.index) if want_grad else 0, 3))
        bounds = np.array(range_bounds(n) if threaded else [0, n], dtype=np.int64)
        force_parts = np.zeros((len(bounds) - 1 if want_grad else 0, n, 3))
        atom_virial = np.zeros((n if want_grad else 0, 3, 3))
        runner = run_ranges if threaded else lambda kernel, n_items, *args: [kernel(0, n_items, *args)]
        shorts = runner(
            evaluate_range, n, positions, cell, types, nl.start, nl.index, nl.shift,
            self.min_dist, self.max_dist, self.core_radius_or_zero, self.scaling, self.radial_coeffs if radial_coeffs is None else radial_coeffs,
            self.species_coeffs if species_coeffs is None else species_coeffs,
            self.moment_coeffs if moment_coeffs is None else moment_coeffs,
            t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"], t["ang_rank"],
            t["times"], t["times_runs"], t["mapping"], t["n_moments"], want_grad, site, pair_grad, basis_out,
            radial_rows, row_inverse, bool(linear_only), site_grades, bounds, force_parts, atom_virial)
        if not want_grad:
            return site, None, None, sum(shorts)
        forces = force_parts[0] if len(force_parts) == 1 else force_parts.sum(0)
        return site, forces, atom_virial, sum(shorts)

    def evaluate(self, positions, cell, pbc, types, neighbor_list=None, forces=True,
                 parameter_rows=False, row_inverse=None, linear_only=False) -> MTPResult:
        """Energy, forces and virial/stress of one structure.

        positions (N,3) Angstrom; cell (3,3) rows are lattice vectors; pbc (3,) bool;
        types (N,) 0-based indices into the species.  A :class:`NeighborList` may be
        passed to be reused between calls (MD).  With ``parameter_rows`` the result also
        holds ``rows``: dV_i/d(theta) per atom (N, n_parameters), computed in the same pass.
        With a matrix ``row_inverse`` (m, m) as well, ``site_grades`` holds max_j |b_i
        row_inverse|_j per atom, computed on the kernel's threads (extrapolation grades
        of an active set; ``linear_only``: rows of species and moment columns only).
        """
        positions, cell, pbc, types, nl = self._prepare(positions, cell, pbc, types, neighbor_list)
        rows = grades = None
        if parameter_rows or row_inverse is not None:
            site, f, atom_vir, n_short, rows, grades = self._site_rows(positions, cell, types, nl, row_inverse,
                                                                       linear_only)
            forces = True
        else:
            site, f, atom_vir, n_short = self._run(positions, cell, types, nl, forces,
                                                   np.zeros((0, self.n_basis)))
        n_coincident, n_short = int(n_short) >> 32, int(n_short) & 0xFFFFFFFF
        if n_coincident:
            raise ValueError(f"{n_coincident // 2 or 1} pair(s) of atoms coincide (distance < 1e-8 A)")
        if n_short and self.baseline is None:
            warnings.warn(f"{n_short // 2 if n_short > 1 else n_short} atom pair(s) closer than the potential's "
                          f"min_dist = {self.min_dist:g} A: the potential extrapolates there",
                          ShortDistanceWarning, stacklevel=2)
        if self.baseline is not None:
            _, b_site, b_f, b_vir, b_atom_vir = self.baseline.evaluate(positions, cell, types, nl,
                                                                       atom_virials=bool(forces))
            site = site + b_site
            if forces:
                f = f + b_f
                atom_vir = atom_vir + b_atom_vir
        energy = float(site.sum())
        if not forces:
            return MTPResult(energy, site, None, None, None, None, int(n_short))
        virial = atom_vir.sum(0)
        volume = abs(np.linalg.det(cell)) if pbc.all() else None
        stress = -_voigt(virial) / volume if volume else None
        return MTPResult(energy, site, f, virial, stress, atom_vir, int(n_short), rows, grades)


def _check_cell(cell, pbc):
    if not np.all(np.isfinite(cell)):
        raise ValueError("cell contains NaN or inf")
    periodic = [cell[k] for k in range(3) if pbc[k]]
    if not periodic:
        return
    for k in range(3):
        if pbc[k] and np.linalg.norm(cell[k]) < 1e-8:
            raise ValueError(f"degenerate cell: lattice vector {k} is zero but the direction is periodic")
    if len(periodic) == 3 and abs(np.linalg.det(cell)) < 1e-8 * max(np.linalg.norm(cell, axis=1).prod(), 1e-30):
        raise ValueError("degenerate cell: the lattice vectors are linearly dependent (zero volume)")
    if len(periodic) == 2 and np.linalg.norm(np.cross(periodic[0], periodic[1])) < 1e-8:
        raise ValueError("degenerate cell: the two periodic lattice vectors are parallel")
