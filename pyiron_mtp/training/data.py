"""Training data: structures with reference energies, forces and virials, their neighbour
lists and weights; splitting for validation."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from ..core.neighbors import NeighborList
from ..structures import reference_arrays

log = logging.getLogger(__name__)


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


def virial_from_stress(voigt, volume):
    """The virial W = -V sigma (3x3, eV) of a stress in Voigt order xx yy zz yz xz xy (eV/A^3)."""
    xx, yy, zz, yz, xz, xy = np.asarray(voigt, dtype=float)
    return -volume * np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


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
                virial = virial_from_stress(s, v)
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
        pairs = self.pair_min_distances()
        return float(min(pairs.values())) if pairs else float("inf")

    def pair_min_distances(self, cutoff=4.0):
        """{(species_a, species_b): smallest distance (A)} over the data, a <= b in species order,
        for every pair that occurs within ``cutoff``."""
        best = {}
        for s in self.structures:
            nl = NeighborList(cutoff, skin=0.0)
            nl.update(s.positions, s.cell, s.pbc)
            if not len(nl.index):
                continue
            i = np.repeat(np.arange(s.n_atoms), np.diff(nl.start))
            d = s.positions[nl.index] + nl.shift @ s.cell - s.positions[i]
            r = np.sqrt((d * d).sum(1))
            ti, tj = s.types[i], s.types[nl.index]
            lo, hi = np.minimum(ti, tj), np.maximum(ti, tj)
            for a, b in set(zip(lo.tolist(), hi.tolist())):
                sel = (lo == a) & (hi == b)
                key = (self.species[a], self.species[b])
                best[key] = min(best.get(key, np.inf), float(r[sel].min()))
        return best

    def check_min_dist(self, min_dist, cutoff=5.0, tolerance=0.8):
        """Warnings (a list of strings, also logged) for species pairs whose smallest distance in
        the data lies far above ``min_dist`` (min_dist < ``tolerance`` x that distance) or that never
        come within ``cutoff`` (A, the potential's max_dist): there the pair's radial functions are
        fitted to nothing, and the MTP may attract."""
        found = self.pair_min_distances(cutoff)
        out = []
        for ia, a in enumerate(self.species):
            for b in self.species[ia:]:
                r = found.get((a, b))
                if r is None:
                    msg = (f"species pair {a}-{b}: never within {cutoff:.2f} A in the data - its radial functions are "
                           f"fitted to nothing")
                elif min_dist < tolerance * r:
                    msg = (f"species pair {a}-{b}: the data holds no pair closer than {r:.2f} A, min_dist is "
                           f"{min_dist:.2f} A - the MTP is unconstrained in between (raise min_dist or add "
                           f"close-contact structures)")
                else:
                    continue
                log.warning(msg)
                out.append(msg)
        return out

    def without_baseline(self, baseline):
        """The same structures with a pair baseline's energy, forces and virial subtracted from the
        references (what the MTP part of a model with that baseline is fitted to)."""
        out = []
        for s in self.structures:
            nl = NeighborList(baseline.outer, skin=0.0)
            nl.update(s.positions, s.cell, s.pbc)
            e, _, f, vir, _ = baseline.evaluate(s.positions, s.cell, s.types, nl)
            out.append(dataclasses.replace(
                s, energy=None if s.energy is None else s.energy - e,
                forces=None if s.forces is None else s.forces - f,
                virial=None if s.virial is None else s.virial - vir, nl=None))
        return TrainingSet(out, self.species)

    def prepare(self, cutoff):
        """Build (or reuse) every structure's neighbour list for ``cutoff``."""
        for s in self.structures:
            if s.nl is None or s.nl.cutoff != cutoff:
                s.nl = NeighborList(cutoff, skin=0.0)
            s.nl.update(s.positions, s.cell, s.pbc)

    def packed(self):
        """The prepared structures' arrays concatenated, for kernels that run over many
        structures in one call (:class:`PackedStructures`; rebuilt when a neighbour list changed)."""
        key = [(id(s.nl), s.nl.builds if s.nl is not None else -1) for s in self.structures]
        cached = getattr(self, "_packed", None)
        if cached is None or cached[0] != key:
            if any(s.nl is None for s in self.structures):
                raise ValueError("prepare() the training set before packing it")
            self._packed = (key, PackedStructures(self.structures))
        return self._packed[1]

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


class PackedStructures:
    """Arrays of consecutive structures, concatenated: structure k has atoms
    ``atom_off[k]:atom_off[k + 1]`` of ``positions`` (A) and ``types``, neighbour-list offsets
    ``start[atom_off[k] + k:atom_off[k + 1] + k + 1]`` (local to the structure) into its pairs
    ``pair_off[k]:pair_off[k + 1]`` of ``index`` (local atom numbers) and ``shift``, and cell
    ``cells[k]``.  References: energies (0 where absent), forces (atoms, 3) and virials (K, 3, 3)
    (zeros where absent)."""

    def __init__(self, structures):
        n = np.array([s.n_atoms for s in structures], dtype=np.int64)
        pairs = np.array([len(s.nl.index) for s in structures], dtype=np.int64)
        self.n_atoms = n
        self.atom_off = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.pair_off = np.concatenate([[0], np.cumsum(pairs)]).astype(np.int64)
        self.positions = np.ascontiguousarray(np.concatenate([s.positions for s in structures]), dtype=float)
        self.types = np.concatenate([s.types for s in structures]).astype(np.int64)
        self.cells = np.ascontiguousarray(np.stack([s.cell for s in structures]), dtype=float)
        self.start = np.concatenate([s.nl.start for s in structures]).astype(np.int64)
        self.index = np.concatenate([s.nl.index for s in structures]).astype(np.int64)
        self.shift = np.ascontiguousarray(np.concatenate([s.nl.shift for s in structures]), dtype=np.int64)
        self.energies = np.array([0.0 if s.energy is None else s.energy for s in structures], dtype=float)
        self.forces = np.concatenate([np.zeros((s.n_atoms, 3)) if s.forces is None else s.forces
                                      for s in structures]).astype(float)
        self.virials = np.stack([np.zeros((3, 3)) if s.virial is None else s.virial for s in structures]).astype(float)
