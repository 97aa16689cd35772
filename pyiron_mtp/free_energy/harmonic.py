"""How a periodic N-atom crystal's free energy per atom differs from the bulk's, for the harmonic crystal.

A solid's free energy from Frenkel-Ladd switching is that of the N-atom periodic cell it was
computed in.  For the crystal in its harmonic approximation (force constants Phi of the
potential, classical) that cell's free energy per atom is, with the centre of mass over V/N as in
:func:`~.reference.einstein_free_energy`,

    f(N) = -(kT/N) [ln(v / Lambda^3) + (3/2) ln N] + (kT/N) sum_{3N-3 modes} ln(hbar omega / kT)

(v = V/N, Lambda = h / sqrt(2 pi m kT); the modes are those at the q-points the periodic cell
allows, its three zero modes at Gamma left out; N^(3/2) is the Jacobian of the centre-of-mass
coordinate), and the bulk's is f(inf) = kT <sum ln(hbar omega / kT)> per atom over the Brillouin
zone.  :func:`harmonic_size_shift` returns f(inf) - f(N): what G_s of the N-atom solid must be
raised by to reach N -> infinity, as far as the crystal is harmonic.  Asymptotically it is
(1/2) kT ln N / N - c kT / N with a c of the lattice and potential; between 400 and 2000
atoms it lies within 0.1-0.5 meV/atom of the translation term (3/2) kT ln N / N
(:func:`~.reference.crystal_translation_term`), always a little below it
(benchmarks/harmonic_size_law.py).

Force constants come from central finite differences (displacing each atom of the conventional
cell) in a supercell that repeats the solid's cell, so the modes of the solid's own cell are
exact for the potential's harmonic crystal; the bulk average uses the supercell's force
constants by minimum image on an offset q-grid.  Units: eV, A, amu.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .reference import AMU, EV, HBAR, H_PLANCK, KB, mass_of

__all__ = ["ForceConstants", "HarmonicInstability", "force_constants", "harmonic_size_shift", "cell_modes",
           "lammps_displaced", "supercell_for"]

_W2_TO_SI = EV / 1e-20 / AMU          # (eV / A^2) / amu -> 1 / s^2


class HarmonicInstability(ValueError):
    """A phonon frequency squared is not positive: the lattice is not harmonically stable."""


@dataclass
class ForceConstants:
    """Force constants of a crystal: ``unit`` (ASE Atoms, the conventional cell, n_b atoms)
    repeated ``reps`` times into the supercell they were computed in; ``blocks[b, j]`` =
    d^2 E / d u_(b alpha) d u_(j beta) (eV/A^2) between basis atom b and supercell atom j;
    ``vectors[b, j]``: minimum-image vector (A) from b to j; ``sublattice[j]``: j's basis index;
    ``masses`` (amu) per basis atom."""

    unit: object
    reps: tuple
    blocks: np.ndarray
    vectors: np.ndarray
    sublattice: np.ndarray
    masses: np.ndarray

    def dynamical_matrices(self, qs):
        """D(q) (len(qs), 3 n_b, 3 n_b) in (eV/A^2)/amu at q (1/A), from the minimum-image vectors
        (exact at the supercell's own q-points, where the phase is the same for every image)."""
        qs = np.atleast_2d(np.asarray(qs, dtype=float))
        nb = len(self.masses)
        out = np.zeros((len(qs), nb, 3, nb, 3), dtype=complex)
        tiny = 1e-9 * np.abs(self.blocks).max()
        for b in range(nb):
            for c in range(nb):
                mine = (self.sublattice == c) & (np.abs(self.blocks[b]).max(axis=(1, 2)) > tiny)
                phase = np.exp(1j * qs @ self.vectors[b, mine].T)         # (Q, atoms of c in reach)
                out[:, b, :, c, :] = np.einsum("qj,jab->qab", phase, self.blocks[b, mine])
        out /= np.sqrt(np.outer(np.repeat(self.masses, 3), np.repeat(self.masses, 3))).reshape(nb, 3, nb, 3)
        d = out.reshape(len(qs), 3 * nb, 3 * nb)
        return 0.5 * (d + d.conj().transpose(0, 2, 1))


def lammps_displaced(potential, atoms, displacements):
    """(potential energies eV, forces eV/A on ``atoms`` in its own order) after each (index,
    vector A) displacement in ``displacements``, each undone before the next, from one LAMMPS
    instance of ``potential``."""
    from ..lammps.runtime import load_lammps, structure_commands
    lammps = load_lammps()
    energies, out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        potential.write_files(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
            try:
                _, rot = structure_commands(atoms, list(potential.species), lmp)
                if potential.is_mtp:
                    from ..lammps.runtime import plugin_available
                    plugin_available(lmp)
                for line in potential.pair_lines():
                    lmp.command(line)
                n = len(atoms)
                for index, vector in displacements:
                    v = [float(x) for x in np.asarray(vector, dtype=float) @ rot]
                    lmp.command(f"group moved id {index + 1}")
                    lmp.command(f"displace_atoms moved move {v[0]!r} {v[1]!r} {v[2]!r} units box")
                    lmp.command("run 0 post no")
                    energies.append(float(lmp.get_thermo("pe")))
                    ids = np.array(lmp.numpy.extract_atom("id")[:n]) - 1
                    f = np.empty((n, 3))
                    f[ids] = np.array(lmp.numpy.extract_atom("f")[:n]) @ rot.T
                    out.append(f)
                    lmp.command(f"displace_atoms moved move {-v[0]!r} {-v[1]!r} {-v[2]!r} units box")
                    lmp.command("group moved delete")
            finally:
                lmp.close()
        finally:
            os.chdir(cwd)
    return energies, out


def supercell_for(unit, cell_reps, width=28.0):
    """Repetitions of ``unit``: the smallest multiple of ``cell_reps`` at least ``width`` A wide
    (twice the reach of the force constants of the usual potentials)."""
    cell_reps = np.asarray(np.broadcast_to(cell_reps, 3), dtype=int)
    return max(1, int(np.ceil(width / (unit.cell.lengths() * cell_reps).min()))) * cell_reps


def force_constants(potential, unit, reps, step=0.01, forces=None) -> ForceConstants:
    """Force constants of ``unit`` (ASE Atoms, one species per site as in ``potential.species``)
    from the supercell ``unit.repeat(reps)``, by central differences with displacements of
    ``step`` A of each of the unit's atoms along x, y, z (6 n_b force calls).

    ``forces``: a function (atoms, [(index, vector), ...]) -> list of force arrays to use
    instead of LAMMPS (tests).  The supercell should be at least twice the range of the force
    constants; repeating the solid's own cell (``reps`` multiples of its repetitions) makes the
    modes of that cell exact."""
    reps = tuple(int(r) for r in np.broadcast_to(reps, 3))
    sc = unit.repeat(reps)
    nb = len(unit)
    moves = [(b, s * step * np.eye(3)[a]) for b in range(nb) for a in range(3) for s in (1.0, -1.0)]
    got = (forces or (lambda atoms, d: lammps_displaced(potential, atoms, d)[1]))(sc, moves)
    blocks = np.zeros((nb, len(sc), 3, 3))
    for k in range(0, len(moves), 2):
        b, a = moves[k][0], (k // 2) % 3
        blocks[b, :, a, :] = -(got[k] - got[k + 1]) / (2 * step)
    inv = np.linalg.inv(sc.cell.array)
    vectors = np.empty((nb, len(sc), 3))
    for b in range(nb):
        d = sc.positions - sc.positions[b]
        vectors[b] = d - np.round(d @ inv) @ sc.cell.array
    # ASE's repeat keeps the unit's atom order within each copy
    sublattice = np.tile(np.arange(nb), int(np.prod(reps)))
    masses = np.array([mass_of(s) for s in unit.get_chemical_symbols()])
    return ForceConstants(unit, reps, blocks, vectors, sublattice, masses)


def _log_hbar_omega(fc, qs, gamma=None, chunk=4000):
    """sum over branches of ln(hbar omega / eV) per q; at ``gamma`` (bool per q) the three lowest
    (zero) modes are left out.  HarmonicInstability for a non-positive omega^2 elsewhere."""
    sums = np.empty(len(qs))
    for k in range(0, len(qs), chunk):
        w2 = np.linalg.eigvalsh(fc.dynamical_matrices(qs[k:k + chunk]))
        if gamma is not None:
            g = gamma[k:k + chunk]
            w2[g, :3] = np.nan
        scale = np.nanmax(np.abs(w2))
        bad = w2 <= 1e-8 * scale
        if np.any(bad):
            raise HarmonicInstability(f"omega^2 = {np.nanmin(w2):.3g} (eV/A^2)/amu at a q-point away from Gamma: "
                                      "the harmonic crystal is not stable")
        sums[k:k + chunk] = np.nansum(np.log(HBAR * np.sqrt(w2 * _W2_TO_SI)), axis=1)
    return sums


def cell_modes(fc, cell_reps):
    """(N, sum over the 3N - 3 non-zero modes of ln(hbar omega / eV)) of the periodic cell
    ``unit.repeat(cell_reps)``; ``fc.reps`` must be multiples of ``cell_reps``."""
    cell_reps = np.asarray(np.broadcast_to(cell_reps, 3), dtype=int)
    if np.any(np.asarray(fc.reps) % cell_reps):
        raise ValueError(f"the force constants' supercell {fc.reps} does not repeat the cell {tuple(cell_reps)}")
    recip = 2 * np.pi * np.linalg.inv(fc.unit.cell.array).T          # rows: reciprocal vectors of the unit
    grid = np.stack(np.meshgrid(*[np.arange(r) / r for r in cell_reps], indexing="ij"), -1).reshape(-1, 3)
    qs = grid @ recip
    gamma = np.all(grid == 0, axis=1)
    return int(len(fc.unit) * np.prod(cell_reps)), float(_log_hbar_omega(fc, qs, gamma).sum())


def bulk_modes(fc, grid=20):
    """Mean per atom over the Brillouin zone of sum ln(hbar omega / eV) (offset ``grid``^3 q-grid
    over the unit's reciprocal cell)."""
    recip = 2 * np.pi * np.linalg.inv(fc.unit.cell.array).T
    x = (np.arange(grid) + 0.5) / grid
    qs = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3) @ recip
    return float(_log_hbar_omega(fc, qs).mean() / len(fc.unit))


def harmonic_size_shift(fc, cell_reps, temperatures, grid=20):
    """f(inf) - f(N) per atom (eV) at ``temperatures`` (K) for the periodic cell
    ``fc.unit.repeat(cell_reps)`` of N atoms (see the module's docstring): add it to that
    cell's G_s(T) for the bulk."""
    if np.ptp(fc.masses) > 0:
        raise ValueError("the size shift is written for one species (one mass in the centre-of-mass term)")
    natoms, modes = cell_modes(fc, cell_reps)
    bulk = bulk_modes(fc, grid)
    t = np.asarray(temperatures, dtype=float)
    kt = KB * t
    v = fc.unit.get_volume() / len(fc.unit)                                    # A^3
    m = float(fc.masses[0]) * AMU
    lam = H_PLANCK * EV / np.sqrt(2 * np.pi * m * kt * EV) * 1e10             # A
    shift = kt * (bulk - modes / natoms) - 3 * kt / natoms * np.log(kt) \
        + kt / natoms * (np.log(v / lam ** 3) + 1.5 * np.log(natoms))
    return shift
