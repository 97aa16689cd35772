"""Fitting MTPs to energies, forces and stresses.

Loss (averaged over the K training structures, each with weight w_k and N_k atoms):

    L = 1/K sum_k w_k [ w_E e_k (E_k - E_k^ref)^2 + w_F f_k sum_i |F_ki - F_ki^ref|^2
                        + w_S s_k ||W_k - W_k^ref||_F^2 ] + l2 ||c_radial||^2

with the virial W (MLIP's PlusStress, eV, full 3x3) and MLIP's weighting schemes:
``vibrations`` (default; e = s = 1/N, f = 1), ``molecules`` (e = f = s = 1) and
``structures`` (energies per atom: e = s = 1/N^2, f = 1/N).  Missing forces or
stresses are masked out.

The model is linear in the species and moment coefficients: for given radial
coefficients they are solved exactly by weighted least squares (variable
projection), and only the radial coefficients are optimised, by L-BFGS with the
exact gradient (envelope theorem: the partial gradient at the optimal linear
coefficients).  The loss is badly conditioned in the radial coefficients (Gauss-Newton
eigenvalues over 5-7 orders of magnitude, plus the null directions of the MTP's gauge),
so by default L-BFGS runs in coordinates whitened by the Gauss-Newton matrix
(:mod:`pyiron_mtp.curvature`), recomputed every few iterations.
"""
from __future__ import annotations

import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize

from .core.design import design_rows
from .core.loss import loss_gradient_range
from .core.neighbors import NeighborList
from .core.threads import n_threads
from .potential import MTP
from .structures import reference_arrays

__all__ = ["TrainingSet", "Trainer", "train", "error_report", "EV_A3_TO_GPA"]

log = logging.getLogger(__name__)
EV_A3_TO_GPA = 160.21766208
WEIGHTINGS = ("vibrations", "molecules", "structures")


class TrainingDataError(ValueError):
    """Unusable training data; the message names the structure."""


@dataclass
class Structure:
    """One reference structure in arrays (positions A, energy eV, forces eV/A, virial eV)."""

    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    types: np.ndarray
    energy: float | None
    forces: np.ndarray | None
    virial: np.ndarray | None  # MLIP PlusStress as 3x3
    weight: float = 1.0
    name: str = ""
    group: str = ""  # atoms.info["config_type"], if any: kept together by stratified splits
    nl: NeighborList | None = field(default=None, repr=False)

    @property
    def n_atoms(self):
        return len(self.positions)

    @property
    def volume(self):
        return abs(np.linalg.det(self.cell)) if self.pbc.all() else None


def _weight(atoms, weights, n, name):
    w = float(weights[n]) if weights is not None else float(atoms.info.get("weight", 1.0))
    if not np.isfinite(w) or w < 0:
        raise TrainingDataError(f"{name}: weight must be a finite number >= 0, got {w}")
    return w


class TrainingSet:
    """Structures with reference data, checked and with neighbour lists for a cutoff."""

    def __init__(self, structures: list[Structure], species: list[str]):
        if not structures:
            raise TrainingDataError("the training set is empty")
        self.structures = structures
        self.species = list(species)

    @classmethod
    def from_atoms(cls, images, species, weights=None, names=None, source=""):
        """From ASE Atoms with reference results (a SinglePointCalculator or any calculator's results).

        ``species`` fixes the type order.  Energies, forces or stresses that are absent
        are masked; NaN/inf values are an error naming the structure.  Weights come from
        ``weights`` or else from ``atoms.info["weight"]`` (default 1).
        """
        species = list(species)
        lookup = {s: k for k, s in enumerate(species)}
        out = []
        for n, atoms in enumerate(images):
            name = names[n] if names is not None else f"{source}#{n}" if source else f"structure {n}"
            syms = atoms.get_chemical_symbols()
            unknown = sorted(set(syms) - set(lookup))
            if unknown:
                raise TrainingDataError(f"{name}: element(s) {unknown} not among the species {species}")
            if len(atoms) == 0:
                raise TrainingDataError(f"{name}: no atoms")
            e, f, s = reference_arrays(atoms)
            if e is None and f is None and s is None:
                raise TrainingDataError(f"{name}: no reference energy, forces or stress")
            for label, value in (("energy", e), ("forces", f), ("stress", s)):
                if value is not None and not np.all(np.isfinite(value)):
                    raise TrainingDataError(f"{name}: reference {label} contains NaN or inf")
            if f is not None and np.shape(f) != (len(atoms), 3):
                raise TrainingDataError(f"{name}: forces have shape {np.shape(f)}, expected ({len(atoms)}, 3)")
            virial = None
            if s is not None and atoms.pbc.all():
                v = atoms.get_volume()
                sv = np.asarray(s)
                sig = np.array([[sv[0], sv[5], sv[4]], [sv[5], sv[1], sv[3]], [sv[4], sv[3], sv[2]]])
                virial = -v * sig
            out.append(Structure(
                positions=np.ascontiguousarray(atoms.positions, dtype=float),
                cell=np.ascontiguousarray(atoms.cell.array, dtype=float),
                pbc=np.array(atoms.pbc, dtype=bool),
                types=np.array([lookup[x] for x in syms], dtype=np.int64),
                energy=None if e is None else float(e), forces=None if f is None else np.asarray(f, float),
                virial=virial, weight=_weight(atoms, weights, n, name), name=name,
                group=str(atoms.info.get("config_type", ""))))
        return cls(out, species)

    def __len__(self):
        return len(self.structures)

    @property
    def n_atoms(self):
        return sum(s.n_atoms for s in self.structures)

    def min_distance(self):
        """Smallest interatomic distance in the data (Angstrom)."""
        best = np.inf
        for s in self.structures:
            nl = NeighborList(4.0, skin=0.0)
            nl.update(s.positions, s.cell, s.pbc)
            if len(nl.index):
                i = np.repeat(np.arange(s.n_atoms), np.diff(nl.start))
                d = s.positions[nl.index] + nl.shift @ s.cell - s.positions[i]
                best = min(best, np.sqrt((d * d).sum(1)).min())
        return float(best)

    def prepare(self, cutoff):
        """Build (or reuse) every structure's neighbour list for ``cutoff``."""
        for s in self.structures:
            if s.nl is None or s.nl.cutoff != cutoff:
                s.nl = NeighborList(cutoff, skin=0.0)
            s.nl.update(s.positions, s.cell, s.pbc)

    def split(self, fraction, seed=0):
        """A random (training, validation) split with ``fraction`` for validation.

        If the structures carry several groups (``config_type`` in the source files), the
        split is stratified: each group gives its share to the validation set (largest
        remainders; a group keeps at least one structure for training), so that no
        structure type is missing from either side by chance.
        """
        rng = np.random.default_rng(seed)
        n_val = int(round(fraction * len(self)))
        if n_val < 1 or n_val >= len(self):
            raise ValueError(f"validation fraction {fraction} leaves no training or no validation data")
        groups = {}
        for k, s in enumerate(self.structures):
            groups.setdefault(s.group, []).append(k)
        if len(groups) == 1:
            idx = rng.permutation(len(self))
            val = sorted(idx[:n_val])
        else:
            names = list(groups)
            share = np.array([fraction * len(groups[g]) for g in names])
            cap = np.array([len(groups[g]) - 1 for g in names])
            take = np.minimum(np.floor(share).astype(int), cap)
            order = np.argsort(-(share - np.floor(share)), kind="stable")
            while take.sum() < n_val:
                room = [i for i in order if take[i] < cap[i]]
                if not room:
                    break
                for i in room[:n_val - take.sum()]:
                    take[i] += 1
            val = sorted(int(k) for g, t in zip(names, take) for k in rng.permutation(groups[g])[:t])
            if not val:
                raise ValueError(f"validation fraction {fraction} leaves no validation data")
        chosen = set(val)
        tr = [k for k in range(len(self)) if k not in chosen]
        return (TrainingSet([self.structures[k] for k in tr], self.species),
                TrainingSet([self.structures[k] for k in val], self.species))


@dataclass
class LossWeights:
    energy: float = 1.0
    force: float = 0.01
    stress: float = 0.001
    weighting: str = "vibrations"

    def __post_init__(self):
        for name in ("energy", "force", "stress"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"the {name} weight must be finite and >= 0, got {value!r}")

    def factors(self, n_atoms):
        if self.weighting == "vibrations":
            return 1.0 / n_atoms, 1.0, 1.0 / n_atoms
        if self.weighting == "molecules":
            return 1.0, 1.0, 1.0
        if self.weighting == "structures":
            return 1.0 / n_atoms ** 2, 1.0 / n_atoms, 1.0 / n_atoms ** 2
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")

    def terms(self, s, n_structures):
        """Coefficients (energy, force, stress) of structure ``s``'s squared residuals in the
        loss: its weight x the term's weight x the weighting factor / the number of
        structures; 0.0 for a term the structure has no reference for or the loss ignores."""
        fe, ff, fs = self.factors(s.n_atoms)
        base = s.weight / n_structures
        return tuple(base * w * f if ref is not None and w > 0 else 0.0 for ref, w, f in (
            (s.energy, self.energy, fe), (s.forces, self.force, ff), (s.virial, self.stress, fs)))


def _map_structures(fn, structures):
    """Apply fn(k, structure) over structures on the thread pool (kernels release the GIL)."""
    nt = n_threads()
    if nt <= 1 or len(structures) < 2:
        return [fn(k, s) for k, s in enumerate(structures)]
    with ThreadPoolExecutor(max_workers=nt) as pool:
        return list(pool.map(lambda ks: fn(*ks), enumerate(structures)))


class LinearProblem:
    """Design rows of every structure for the current radial coefficients."""

    def __init__(self, pot: MTP, data: TrainingSet, weights: LossWeights):
        self.pot = pot
        self.data = data
        self.weights = weights
        t = pot.kernel_tables()
        C = pot.species_count

        def rows(k, s):
            A = pot.n_basis
            e = np.zeros(A)
            f = np.zeros((s.n_atoms, 3, A))
            w = np.zeros((3, 3, A))
            design_rows(0, s.n_atoms, s.positions, s.cell, s.types, s.nl.start, s.nl.index, s.nl.shift,
                        pot.min_dist, pot.max_dist, pot.scaling, pot.radial_coeffs,
                        t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["ang_pow"],
                        t["times"], t["times_runs"], t["mapping"], t["n_moments"], e, f, w)
            counts = np.bincount(s.types, minlength=C).astype(float)
            return counts, e, f, w

        self.rows = _map_structures(rows, data.structures)

    def normal_equations(self):
        """G x = h for x = [species coefficients, moment coefficients]; also y^T W y."""
        C = self.pot.species_count
        n = C + self.pot.n_basis
        G = np.zeros((n, n))
        h = np.zeros(n)
        yy = 0.0
        K = len(self.data)
        for s, (counts, e, f, w) in zip(self.data.structures, self.rows):
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
        for s, (counts, e, f, w), (E, F, W) in zip(self.data.structures, self.rows, self.predictions(x)):
            ce, cf, cs = self.weights.terms(s, K)
            if ce:
                g[:C] += ce * (s.energy - E) * counts
                g[C:] += ce * (s.energy - E) * e
            if cf:
                g[C:] += cf * (f.reshape(-1, f.shape[-1]).T @ (s.forces - F).reshape(-1))
            if cs:
                g[C:] += cs * (w.reshape(9, -1).T @ (s.virial - W).reshape(-1))
        return g

    def weighted_design(self, k):
        """sqrt(W) A of structure k: its design rows (energy; forces and virial where the loss
        has them) times the square roots of their loss coefficients, columns [species, moments]."""
        counts, e, f, w = self.rows[k]
        C = self.pot.species_count
        ce, cf, cs = np.sqrt(self.weights.terms(self.data.structures[k], len(self.data)))
        blocks = [ce * np.concatenate([counts, e])[None, :]]
        if cf:
            blocks.append(cf * np.hstack([np.zeros((3 * len(f), C)), f.reshape(-1, e.shape[0])]))
        if cs:
            blocks.append(cs * np.hstack([np.zeros((9, C)), w.reshape(9, -1)]))
        return np.vstack(blocks)

    def predictions(self, x):
        """Per structure: energy, forces, virial for linear coefficients x."""
        C = self.pot.species_count
        out = []
        for counts, e, f, w in self.rows:
            out.append((float(counts @ x[:C] + e @ x[C:]), f @ x[C:], w @ x[C:]))
        return out


def loss_terms(data, preds, weights):
    """Loss and the per-structure residual weights for the gradient."""
    K = len(data)
    total = 0.0
    for s, (E, F, W) in zip(data.structures, preds):
        ce, cf, cs = weights.terms(s, K)
        if ce:
            total += ce * (E - s.energy) ** 2
        if cf:
            total += cf * float(((F - s.forces) ** 2).sum())
        if cs:
            total += cs * float(((W - s.virial) ** 2).sum())
    return total


def radial_gradient(pot, data, preds, weights):
    """dL/d(radial coefficients) at fixed linear coefficients (exact, Numba)."""
    t = pot.kernel_tables()
    K = len(data)

    def one(k, s):
        E, F, W = preds[k]
        ce, cf, cs = weights.terms(s, K)
        atom_weight = np.full(s.n_atoms, 2.0 * ce * (E - s.energy) if ce else 0.0)
        nl = s.nl
        i_of_pair = np.repeat(np.arange(s.n_atoms), np.diff(nl.start))
        disp = np.zeros((len(nl.index), 3))
        if cf:
            rF = F - s.forces
            disp -= 2.0 * cf * (rF[nl.index] - rF[i_of_pair])
        if cs:
            rW = W - s.virial
            rvec = s.positions[nl.index] + nl.shift @ s.cell - s.positions[i_of_pair]
            disp -= 2.0 * cs * (rvec @ rW.T)
        g_rad = np.zeros_like(pot.radial_coeffs)
        g_sp = np.zeros(pot.species_count)
        g_mo = np.zeros(pot.n_basis)
        loss_gradient_range(0, s.n_atoms, s.positions, s.cell, s.types, nl.start, nl.index, nl.shift,
                            pot.min_dist, pot.max_dist, pot.scaling, pot.radial_coeffs, pot.moment_coeffs,
                            t["mu_offset"], t["mu_nang"], t["ang_axis"], t["ang_lower"], t["times"],
                            t["times_runs"], t["mapping"], t["n_moments"], atom_weight, disp,
                            g_rad, g_sp, g_mo)
        return g_rad, g_sp, g_mo

    parts = _map_structures(one, data.structures)
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))


def _structure_errors(pot: MTP, data: TrainingSet, per_structure=False):
    """Evaluate every structure once: per structure (energy error per atom eV, force
    component errors eV/A, stress errors GPa, parity row); absent references give None."""
    out = []
    for s in data.structures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pot.evaluate(s.positions, s.cell, s.pbc, s.types)
        row = {"name": s.name, "n_atoms": s.n_atoms, "energy": res.energy, "energy_ref": s.energy}
        de = (res.energy - s.energy) / s.n_atoms if s.energy is not None else None
        df = (res.forces - s.forces).ravel() if s.forces is not None else None
        ds = None
        if s.virial is not None and res.stress is not None:
            v = s.volume
            ref = -s.virial / v
            ref_voigt = np.array([ref[0, 0], ref[1, 1], ref[2, 2], ref[1, 2], ref[0, 2], ref[0, 1]])
            ds = (res.stress - ref_voigt) * EV_A3_TO_GPA
            row["stress"] = res.stress * EV_A3_TO_GPA
            row["stress_ref"] = ref_voigt * EV_A3_TO_GPA
        if per_structure:
            row["forces"] = res.forces
            row["forces_ref"] = s.forces
        out.append((de, df, ds, row))
    return out


def _summarise(errors, n_atoms):
    """The report dict of :func:`error_report` from :func:`_structure_errors` entries."""
    def stats(x, scale=1.0):
        x = [v for v in x if v is not None]
        if not x:
            return None, None
        a = np.concatenate([np.atleast_1d(v) for v in x]) * scale
        return float(np.sqrt(np.mean(a ** 2))), float(np.mean(np.abs(a)))

    e_rmse, e_mae = stats([e[0] for e in errors], 1000.0)
    f_rmse, f_mae = stats([e[1] for e in errors])
    s_rmse, s_mae = stats([e[2] for e in errors])
    return {"n_structures": len(errors), "n_atoms": n_atoms,
            "energy_rmse": e_rmse, "energy_mae": e_mae, "force_rmse": f_rmse, "force_mae": f_mae,
            "stress_rmse": s_rmse, "stress_mae": s_mae}


def _as_set(pot, images_or_set, species=None):
    """A :class:`TrainingSet` as given, or built from ASE Atoms with the potential's species."""
    if isinstance(images_or_set, TrainingSet):
        return images_or_set
    return TrainingSet.from_atoms(images_or_set, species or pot.species)


def error_report(pot: MTP, images_or_set, species=None, per_structure=False, worst=0):
    """RMSE/MAE of energy (meV/atom), force components (eV/A) and stress (GPa).

    Accepts a :class:`TrainingSet` or ASE Atoms with reference results.  With
    ``per_structure`` the predictions are included for parity plots; with ``worst=N``
    the report's ``"worst"`` lists the N largest energy errors (see :func:`largest_errors`).
    Each structure is evaluated once.
    """
    data = _as_set(pot, images_or_set, species)
    errors = _structure_errors(pot, data, per_structure)
    report = _summarise(errors, data.n_atoms)
    if per_structure:
        report["structures"] = [e[3] for e in errors]
    if worst:
        report["worst"] = _largest(data, errors, worst)
    return report


def error_report_by(pot: MTP, images, key="config_type", species=None, worst=0):
    """Error reports (as :func:`error_report`) per group of structures.

    Structures are grouped by ``atoms.info[key]`` (e.g. the ``config_type`` of extxyz
    files); structures without the key form the group ``"(none)"``.  Returns a dict
    group -> report, groups in order of first appearance, plus ``"all"`` (which holds
    ``"worst"`` with ``worst=N``).  Each structure is evaluated once.
    """
    data = TrainingSet.from_atoms(images, species or pot.species)
    errors = _structure_errors(pot, data)
    groups = {}
    for k, atoms in enumerate(images):
        groups.setdefault(str(atoms.info.get(key, "(none)")), []).append(k)
    out = {name: _summarise([errors[k] for k in members], sum(data.structures[k].n_atoms for k in members))
           for name, members in groups.items()}
    out["all"] = _summarise(errors, data.n_atoms)
    if worst:
        out["all"]["worst"] = _largest(data, errors, worst)
    return out


def largest_errors(pot: MTP, images_or_set, n=10, species=None):
    """The ``n`` structures with the largest energy errors per atom, largest first.

    A handful of structures often carries most of an energy RMSE; this names them.
    Each entry: ``index`` (position in the data), ``name``, ``group`` (the extxyz
    ``config_type``, "" if none), ``n_atoms``, ``energy_error`` (model - reference,
    meV/atom), ``energy_share`` (its part of the squared energy RMSE, 0-1),
    ``force_rmse`` (eV/A, None without reference forces).  Structures without a
    reference energy are left out.
    """
    data = _as_set(pot, images_or_set, species)
    return _largest(data, _structure_errors(pot, data), n)


def _largest(data, errors, n):
    """:func:`largest_errors` from :func:`_structure_errors` entries."""
    if n < 1:
        raise ValueError(f"the number of structures to list must be at least 1, got {n}")
    rows = []
    for k, (s, (de, df, _, _)) in enumerate(zip(data.structures, errors)):
        if de is None:
            continue
        rows.append({"index": k, "name": s.name, "group": s.group, "n_atoms": s.n_atoms,
                     "energy_error": 1000.0 * de,
                     "force_rmse": None if df is None else float(np.sqrt(np.mean(df ** 2)))})
    total = sum(r["energy_error"] ** 2 for r in rows)
    for r in rows:
        r["energy_share"] = r["energy_error"] ** 2 / total if total > 0 else 0.0
    rows.sort(key=lambda r: -abs(r["energy_error"]))
    return rows[:n]


def _train_rmse(data, preds):
    de, df, ds = [], [], []
    for s, (E, F, W) in zip(data.structures, preds):
        if s.energy is not None:
            de.append((E - s.energy) / s.n_atoms)
        if s.forces is not None:
            df.append((F - s.forces).ravel())
        if s.virial is not None:
            ds.append(((W - s.virial) / s.volume).ravel() * EV_A3_TO_GPA)
    r = lambda x, sc=1.0: float(np.sqrt(np.mean(np.concatenate(x) ** 2)) * sc) if x else None  # noqa: E731
    return {"energy_rmse": r([np.atleast_1d(v) for v in de], 1000.0), "force_rmse": r(df), "stress_rmse": r(ds)}


def initialise_radial(pot: MTP, seed=0, noise=0.05):
    """Deterministic start for the radial coefficients: f_mu ~ Q_mu plus seeded noise;
    ``scaling`` chosen so that the radial functions are of order one."""
    rng = np.random.default_rng(seed)
    C, K, R = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    c = np.zeros((C, C, K, R))
    for mu in range(K):
        c[:, :, mu, mu % R] = 1.0
    c += noise * rng.standard_normal(c.shape)
    pot.radial_coeffs = c
    pot.scaling = 1.0 / (pot.max_dist - pot.min_dist) ** 2


class Trainer:
    """Variable-projection training of an :class:`MTP`.

    ``weights``: :class:`LossWeights`; ``l2_radial``: L2 penalty on the radial
    coefficients.  ``history`` holds one row per iteration (loss, training and,
    every ``valid_every`` iterations, validation RMSEs); the parameters with the
    lowest validation error (or training loss, without validation data) are kept.
    """

    def __init__(self, pot: MTP, train_set: TrainingSet, valid_set: TrainingSet | None = None,
                 weights: LossWeights | None = None, l2_radial=0.0):
        self.pot = pot
        self.data = train_set
        self.valid = valid_set
        self.weights = weights or LossWeights()
        self.l2_radial = float(l2_radial)
        self.history = []
        self._keep_design = False
        self._cache = None  # (theta, loss, gradient, linear problem or None) of the last evaluation
        self.best = None
        self.stopped_by = None
        for ds in (train_set, valid_set):
            if ds is not None:
                ds.prepare(pot.max_dist)

    # objective of the radial coefficients, linear coefficients solved exactly
    def _objective(self, theta):
        if self._cache is not None and np.array_equal(self._cache[0], theta):
            return self._cache[1], self._cache[2].copy()
        pot = self.pot
        pot.radial_coeffs = theta.reshape(pot.radial_coeffs.shape).copy()
        lp = LinearProblem(pot, self.data, self.weights)
        x = lp.solve()
        C = pot.species_count
        pot.species_coeffs = x[:C].copy()
        pot.moment_coeffs = x[C:].copy()
        preds = lp.predictions(x)
        loss = loss_terms(self.data, preds, self.weights) + self.l2_radial * float(theta @ theta)
        if not np.isfinite(loss):
            bad = [s.name for s, p in zip(self.data.structures, preds) if not np.isfinite(p[0])]
            raise FloatingPointError(f"the loss is not finite (non-finite predictions for {bad[:5]})")
        grad = radial_gradient(pot, self.data, preds, self.weights)[0].ravel() + 2 * self.l2_radial * theta
        self._last = (loss, _train_rmse(self.data, preds))
        # the linear problem is kept only for the curvature of preconditioned training (memory)
        self._cache = (np.array(theta, copy=True), loss, grad.copy(), lp if self._keep_design else None)
        return loss, grad

    def _record(self, iteration, start):
        loss, rmse = self._last
        row = {"iteration": iteration, "time": time.perf_counter() - start, "loss": loss,
               **{f"train_{k}": v for k, v in rmse.items()}}
        score = loss
        if self.valid is not None and (iteration % self.valid_every == 0 or iteration == 1):
            rep = error_report(self.pot, self.valid)
            row.update({f"valid_{k}": rep[k] for k in ("energy_rmse", "force_rmse", "stress_rmse")})
            # validation score in the loss' own units
            score = sum(w * (rep[k] or 0.0) ** 2 for w, k in (
                (self.weights.energy * 1e-6, "energy_rmse"), (self.weights.force, "force_rmse"),
                (self.weights.stress, "stress_rmse")))
        elif self.valid is not None:
            score = None
        self.history.append(row)
        if score is not None and (self.best is None or score < self.best[0]):
            self.best = (score, self.pot.parameters.copy(), iteration)
            self._since_best = 0
        elif score is not None:
            self._since_best += 1
        return row

    def fit(self, max_iter=200, progress=True, valid_every=5, patience=None, gtol=1e-9, monitor=None,
            precondition=None, refresh=10):
        """Optimise; returns the potential (with the best parameters seen).

        ``patience``: stop after this many validation checks without improvement.
        ``monitor(iteration, pot)`` is called after every iteration (read-only use).
        ``precondition``: run L-BFGS in coordinates whitened by the Gauss-Newton matrix of
        the loss (:mod:`pyiron_mtp.curvature`), recomputed every ``refresh`` iterations;
        default: on when there are at most 256 radial coefficients (its cost grows with
        their number).  Ctrl-C stops cleanly and keeps the best parameters.
        """
        from tqdm.auto import tqdm
        self.valid_every = max(1, int(valid_every))
        self._since_best = 0
        pot = self.pot
        theta = pot.radial_coeffs.ravel().copy()
        if precondition is None:
            precondition = theta.size <= 256
        self._keep_design = bool(precondition)
        refresh = max(1, int(refresh))
        start = time.perf_counter()
        bar = tqdm(total=max_iter, desc="training", unit="it", disable=not progress)
        it = [0]
        self._objective(theta)
        self._record(0, start)

        def callback(*args, **kwargs):
            it[0] += 1
            row = self._record(it[0], start)
            post = {"loss": f"{row['loss']:.4g}"}
            if row["train_energy_rmse"] is not None:
                post["E meV/at"] = f"{row['train_energy_rmse']:.3g}"
            if row["train_force_rmse"] is not None:
                post["F eV/A"] = f"{row['train_force_rmse']:.3g}"
            if "valid_force_rmse" in row and row["valid_force_rmse"] is not None:
                post["valid F"] = f"{row['valid_force_rmse']:.3g}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
            if monitor is not None:
                monitor(it[0], pot)
            if patience is not None and self._since_best >= patience:
                self.stopped_by = "early stopping"
                raise StopIteration

        try:
            while True:  # one L-BFGS run per refresh of the coordinates (a single one without)
                origin, done = theta, it[0]
                if precondition:
                    from .curvature import gauss_newton_matrix, whitening
                    self._objective(origin)  # the model at the segment's start (cached)
                    bar.set_description("training (Gauss-Newton matrix)")
                    H = gauss_newton_matrix(pot, self.data, self.weights, linear_problem=self._cache[3])
                    S = whitening(H + 2.0 * self.l2_radial * np.eye(len(H)))
                    bar.set_description("training")
                    steps = min(refresh, max_iter - done)
                else:
                    S = np.eye(theta.size)
                    steps = max_iter - done

                def objective(z, origin=origin, S=S):
                    loss, grad = self._objective(origin + S @ z)
                    return loss, S.T @ grad

                res = scipy.optimize.minimize(objective, np.zeros(S.shape[1]), jac=True, method="L-BFGS-B",
                                              callback=callback,
                                              options={"maxiter": steps, "maxfun": 2 * steps + 20,
                                                       "gtol": gtol, "ftol": 1e-14, "maxcor": 30})
                theta = origin + S @ res.x
                # done: converged, failed, stopped early, out of iterations, or no progress
                if not precondition or res.status != 1 or it[0] >= max_iter or it[0] == done:
                    self.stopped_by = self.stopped_by or res.message
                    break
        except KeyboardInterrupt:
            self.stopped_by = "interrupted"
            log.warning("training interrupted; keeping the best parameters so far")
        finally:
            bar.close()
        if self.best is not None:
            pot.parameters = self.best[1]
        pot.trained = True
        pot._tables = pot._tables  # tables do not depend on parameters
        return pot


def train(data, species=None, *, level=None, init=None, min_dist=None, max_dist=5.0, radial_basis_size=8,
          valid=None, valid_fraction=0.0, energy_weight=1.0, force_weight=0.01, stress_weight=0.001,
          weighting="vibrations", l2_radial=0.0, max_iter=200, seed=0, progress=True, patience=None,
          precondition=None):
    """Fit an MTP. ``data``/``valid``: ASE Atoms lists or :class:`TrainingSet`.

    Start from ``init`` (an :class:`MTP`, trained or not) or from ``level`` with
    ``species``; ``min_dist`` defaults to the smallest distance in the data.
    ``valid_fraction`` holds out that share of ``data`` for validation (stratified by
    ``atoms.info["config_type"]`` when present, see :meth:`TrainingSet.split`); the
    parameters with the lowest validation score are kept.  ``precondition``: see
    :meth:`Trainer.fit` (default: Gauss-Newton preconditioning up to 256 radial coefficients).
    Returns (potential, trainer).
    """
    if isinstance(data, TrainingSet):
        train_set = data
        species = species or data.species
    else:
        if species is None:
            species = init.species if init is not None and init.species else None
        if species is None:
            from .structures import species_of
            species = species_of(data)
        train_set = TrainingSet.from_atoms(data, species)
    valid_set = None
    if valid is not None:
        valid_set = valid if isinstance(valid, TrainingSet) else TrainingSet.from_atoms(valid, species)
    elif valid_fraction:
        train_set, valid_set = train_set.split(valid_fraction, seed=seed)
    if init is not None:
        pot = init.copy()
        if pot.species is None:
            pot.species = list(species)
        if list(pot.species) != list(species):
            raise ValueError(f"the initial potential's species {pot.species} differ from {species}")
        if not pot.trained:
            if min_dist is not None:
                pot.min_dist = float(min_dist)
            initialise_radial(pot, seed)
    else:
        if level is None:
            raise ValueError("give either an initial potential (init) or a level")
        if min_dist is None:
            min_dist = train_set.min_distance()
            log.info("min_dist taken from the data: %.4f A", min_dist)
        pot = MTP.from_level(level, species, min_dist, max_dist, radial_basis_size=radial_basis_size)
        initialise_radial(pot, seed)
    weights = LossWeights(energy_weight, force_weight, stress_weight, weighting)
    weights.factors(1)  # validates the weighting name
    trainer = Trainer(pot, train_set, valid_set, weights, l2_radial)
    trainer.fit(max_iter=max_iter, progress=progress, patience=patience, precondition=precondition)
    return trainer.pot, trainer
