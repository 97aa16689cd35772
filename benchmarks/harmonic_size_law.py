"""The size law of a periodic harmonic crystal against the translation term (3/2) kT ln N / N.

``melting_point``'s default finite-size correction raises the N-atom solid's G per atom by
(3/2) kT ln N / N (`reference.crystal_translation_term`).  This script asks how much of a
crystal's size dependence that term leaves out when the crystal is harmonic: from the
potential's force constants (finite displacements of one atom in a 6 x 6 x 6 cubic supercell at
the 0 K lattice constant) it computes the classical free energy per atom of the N-atom periodic
cell, with its centre of mass over V/N as in `reference.einstein_free_energy`,

    f(N) = -(kT/N) [ln(v / Lambda^3) + (3/2) ln N] + (kT/N) sum_{3N-3 modes} ln(hbar omega / kT),

(the modes are those of the q-points the cell allows, the three zero modes at Gamma left out;
the N^(3/2) is the Jacobian of the centre-of-mass coordinate), and its limit
f(inf) = kT <sum_branches ln(hbar omega / kT)> over the Brillouin zone (an offset 48^3 grid).
The residual f(N) - f(inf) + (3/2) kT ln N / N is the part of the harmonic size dependence the
default leaves; divided by the entropy of melting it is the error of T_m it leaves (positive:
T_m of the translation route too low).

Cubic fcc and bcc rows only (an hcp cell has two atoms per primitive cell).  Cheap: ~30 s per row.

    python benchmarks/harmonic_size_law.py [--rows cu fe w ...]

Last line: ``rows=... max_residual_mev=... max_residual_k=...``.
"""
import argparse
import os
import tempfile

import numpy as np
from ase.build import bulk
from scipy.optimize import minimize_scalar

from pyiron_mtp.free_energy.potential import LammpsPotential
from pyiron_mtp.free_energy.reference import KB, mass_of
from pyiron_mtp.lammps.runtime import load_lammps, structure_commands

HBAR = 6.582119569e-16            # eV s
EV, AMU, ANGSTROM = 1.602176634e-19, 1.66053906660e-27, 1e-10
H_SI = 6.62607015e-34

# name: (file, element, lattice, T (K) near the row's T_m, latent heat (eV/atom), sizes n of n^3 cubic cells)
ROWS = {
    "cu": ("Cu_mishin1.eam.alloy", "Cu", "fcc", 1320.0, 0.1227, (5, 7, 8)),
    "al": ("Al_mm.eam.fs", "Al", "fcc", 921.0, 0.1110, (5, 7, 8)),
    "ni": ("Ni_u3.eam", "Ni", "fcc", 1705.0, 0.1773, (5, 7, 8)),
    "ag": ("Ag_u3.eam", "Ag", "fcc", 1145.0, 0.1285, (5, 7, 8)),
    "pt": ("Pt_u3.eam", "Pt", "fcc", 1540.0, 0.1310, (5, 7, 8)),
    "fe": ("Fe_mm.eam.fs", "Fe", "bcc", 1760.0, 0.1562, (6, 8, 10)),
    "w": ("W_zhou.eam.alloy", "W", "bcc", 4590.0, 0.4189, (6, 8, 10)),
}
PER_CELL = {"fcc": 4, "bcc": 2}


def energy_forces(pot, atoms, element):
    """Potential energy (eV) and forces (eV/A, in ``atoms``' order) from one LAMMPS ``run 0``."""
    lammps = load_lammps()
    with tempfile.TemporaryDirectory() as tmp:
        pot.write_files(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
            _, rot = structure_commands(atoms, [element], lmp)
            for line in pot.pair_lines():
                lmp.command(line)
            lmp.command("run 0")
            energy = lmp.get_thermo("pe")
            ids = np.array(lmp.numpy.extract_atom("id")[: len(atoms)]) - 1
            forces = np.empty((len(atoms), 3))
            forces[ids] = np.array(lmp.numpy.extract_atom("f")[: len(atoms)]) @ rot.T
            lmp.close()
        finally:
            os.chdir(cwd)
    return energy, forces


def lattice_constant(pot, element, lattice):
    """The 0 K lattice constant (A) of the cubic cell."""
    a0 = bulk(element, lattice, cubic=True).cell.lengths()[0]
    res = minimize_scalar(lambda a: energy_forces(pot, bulk(element, lattice, a=a, cubic=True).repeat(4), element)[0],
                          bracket=(0.97 * a0, a0, 1.03 * a0))
    return float(res.x)


def force_constants(pot, element, lattice, a, reps=6, step=0.01):
    """(displacements (n, 3) A of every atom from atom 0, minimum image; force constants
    Phi(0 alpha, j beta) (n, 3, 3) eV/A^2) by central differences of atom 0's displacement."""
    cell = bulk(element, lattice, a=a, cubic=True).repeat(reps)
    phi = np.zeros((len(cell), 3, 3))
    for alpha in range(3):
        plus, minus = cell.copy(), cell.copy()
        plus.positions[0, alpha] += step
        minus.positions[0, alpha] -= step
        phi[:, alpha, :] = -(energy_forces(pot, plus, element)[1] - energy_forces(pot, minus, element)[1]) / (2 * step)
    d = cell.positions - cell.positions[0]
    d -= np.round(d @ np.linalg.inv(cell.cell.array)) @ cell.cell.array
    return d, phi


def log_frequencies(d, phi, mass, qs, temperature, chunk=20000):
    """sum over the three branches of ln(hbar omega / kT) at each q (1/A)."""
    to_si = EV / ANGSTROM ** 2 / AMU
    out = []
    for k in range(0, len(qs), chunk):
        dyn = np.einsum("mj,jab->mab", np.exp(1j * qs[k:k + chunk] @ d.T), phi).real / mass
        w2 = np.linalg.eigvalsh(0.5 * (dyn + dyn.transpose(0, 2, 1)))
        if w2.min() <= 0:
            raise ValueError("a non-positive phonon frequency away from Gamma: the crystal is not harmonically stable")
        out.append(np.log(HBAR * np.sqrt(w2 * to_si) / (KB * temperature)).sum(1))
    return np.concatenate(out)


def cell_qpoints(lattice, a, n):
    """The q-points (1/A) an n x n x n cubic supercell allows, each listed r times (r = 8 n^3 / N),
    and which of them are Gamma (reciprocal lattice vectors)."""
    i = np.arange(2 * n)
    x = np.stack(np.meshgrid(i, i, i, indexing="ij"), -1).reshape(-1, 3) / n       # units 2 pi / a
    whole = np.all(np.abs(x - np.round(x)) < 1e-9, axis=1)
    xi = np.round(x).astype(int)
    if lattice == "fcc":     # reciprocal bcc: all even or all odd
        gamma = whole & (np.all(xi % 2 == 0, axis=1) | np.all(xi % 2 == 1, axis=1))
    else:                    # reciprocal fcc: even sum
        gamma = whole & (xi.sum(1) % 2 == 0)
    return 2 * np.pi / a * x, gamma


def harmonic_f(lattice, a, n, d, phi, mass, temperature):
    """(N, f(N) eV/atom) of the n x n x n cubic cell, centre of mass over V/N."""
    qs, gamma = cell_qpoints(lattice, a, n)
    natoms = PER_CELL[lattice] * n ** 3
    repeat = len(qs) / natoms
    modes = log_frequencies(d, phi, mass, qs[~gamma], temperature).sum() / repeat
    kt = KB * temperature
    v = a ** 3 / PER_CELL[lattice] * ANGSTROM ** 3
    lam = H_SI / np.sqrt(2 * np.pi * mass * AMU * kt * EV)
    return natoms, -(kt / natoms) * (np.log(v / lam ** 3) + 1.5 * np.log(natoms)) + kt / natoms * modes


def harmonic_f_inf(a, d, phi, mass, temperature, n=24):
    """kT <sum ln(hbar omega / kT)> over the Brillouin zone (offset grid over the cubic reciprocal cell)."""
    i = (np.arange(2 * n) + 0.5) / n
    qs = 2 * np.pi / a * np.stack(np.meshgrid(i, i, i, indexing="ij"), -1).reshape(-1, 3)
    return KB * temperature * log_frequencies(d, phi, mass, qs, temperature).mean()


def run_row(name):
    file, element, lattice, temperature, latent, sizes = ROWS[name]
    pot = LammpsPotential.from_eam(file, [element])
    a = lattice_constant(pot, element, lattice)
    d, phi = force_constants(pot, element, lattice, a)
    mass = mass_of(element)
    f_inf = harmonic_f_inf(a, d, phi, mass, temperature)
    ds = latent / temperature
    kt = KB * temperature
    out = []
    for n in sizes:
        natoms, f = harmonic_f(lattice, a, n, d, phi, mass, temperature)
        term = 1.5 * kt * np.log(natoms) / natoms
        resid = f - f_inf + term
        out.append(dict(row=name, lattice=lattice, a=a, T=temperature, N=natoms, shift_mev=1e3 * (f - f_inf),
                        term_mev=-1e3 * term, residual_mev=1e3 * resid, residual_k=resid / ds))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args()
    print(f"{'row':4s} {'lattice':7s} {'a (A)':>7s} {'T (K)':>6s} {'N':>5s} {'f(N)-f(inf)':>12s} "
          f"{'-(3/2)kTlnN/N':>14s} {'residual':>9s} {'T_m error':>10s}")
    rows = []
    for name in args.rows:
        for r in run_row(name):
            rows.append(r)
            print(f"{r['row']:4s} {r['lattice']:7s} {r['a']:7.4f} {r['T']:6.0f} {r['N']:5d} {r['shift_mev']:9.3f} meV "
                  f"{r['term_mev']:10.3f} meV {r['residual_mev']:+6.3f} meV {r['residual_k']:+6.1f} K", flush=True)
    worst = max(rows, key=lambda r: abs(r["residual_mev"]))
    print(f"rows={len(args.rows)} max_residual_mev={worst['residual_mev']:.3f} max_residual_k={worst['residual_k']:.1f}")


if __name__ == "__main__":
    main()
