"""The harmonic crystal's size law against the translation term (3/2) kT ln N / N.

``melting_point`` corrects the N-atom solid's G per atom to N -> infinity by the size dependence
of the potential's harmonic crystal, f(inf) - f(N) (`free_energy.harmonic`, the default
``size_correction="harmonic"``), or by the translation term (3/2) kT ln N / N
(`reference.crystal_translation_term`, ``"translation"``).  This script prints both for the
matrix's potentials at their 0 K volume (hcp at ideal c/a), for the cells `melting_point`
builds (`engine.make_structure`) of about 500, 1400 and 2000 atoms, at a temperature near
each T_m: the difference (term - shift, meV/atom) and what it does to T_m (K, the translation
route minus the harmonic one: term - shift over the entropy of melting, with a minus sign).

    python benchmarks/harmonic_size_law.py [--rows cu fe w ...]

Seconds per row.  Last line: ``rows=... max_residual_mev=... max_residual_k=...``.
"""
import argparse

import numpy as np
from scipy.optimize import minimize_scalar

from pyiron_mtp.free_energy.engine import cell_repetitions, lattice_constant_of, unit_cell
from pyiron_mtp.free_energy.harmonic import force_constants, harmonic_size_shift, lammps_displaced, supercell_for
from pyiron_mtp.free_energy.potential import LammpsPotential
from pyiron_mtp.free_energy.reference import crystal_translation_term

# name: (file, element, lattice, T (K) near the row's T_m, latent heat (eV/atom))
ROWS = {
    "cu": ("Cu_mishin1.eam.alloy", "Cu", "fcc", 1320.0, 0.1227),
    "al": ("Al_mm.eam.fs", "Al", "fcc", 921.0, 0.1110),
    "ni": ("Ni_u3.eam", "Ni", "fcc", 1705.0, 0.1773),
    "ag": ("Ag_u3.eam", "Ag", "fcc", 1145.0, 0.1285),
    "pt": ("Pt_u3.eam", "Pt", "fcc", 1540.0, 0.1310),
    "fe": ("Fe_mm.eam.fs", "Fe", "bcc", 1760.0, 0.1562),
    "w": ("W_zhou.eam.alloy", "W", "bcc", 4590.0, 0.4189),
    "mg": ("Mg_mm.eam.fs", "Mg", "hcp", 910.0, 0.0985),
    "zr": ("Zr_mm.eam.fs", "Zr", "hcp", 1370.0, 0.13),
}
SIZES = (500, 1400, 2000)


def zero_kelvin_volume(pot, element, lattice):
    """The volume per atom (A^3) of the lowest energy of the lattice (hcp at ideal c/a)."""
    unit = unit_cell([element], lattice)
    v0 = unit.get_volume() / len(unit)

    def energy(v):
        cell = unit_cell([element], lattice, lattice_constant_of(lattice, v)).repeat(4)
        return lammps_displaced(pot, cell, [(0, np.zeros(3))])[0][0] / len(cell)
    return float(minimize_scalar(energy, bracket=(0.95 * v0, v0, 1.05 * v0)).x)


def run_row(name):
    file, element, lattice, temperature, latent = ROWS[name]
    pot = LammpsPotential.from_eam(file, [element])
    volume = zero_kelvin_volume(pot, element, lattice)
    unit = unit_cell([element], lattice, lattice_constant_of(lattice, volume))
    ds = latent / temperature
    out = []
    for size in SIZES:
        reps = np.array(cell_repetitions(unit, size))
        fc = force_constants(pot, unit, supercell_for(unit, reps))
        natoms = len(unit) * int(np.prod(reps))
        shift = float(harmonic_size_shift(fc, reps, [temperature])[0])
        term = float(crystal_translation_term(temperature, natoms))
        out.append(dict(row=name, lattice=lattice, volume=volume, T=temperature, N=natoms, shift_mev=1e3 * shift,
                        term_mev=1e3 * term, residual_mev=1e3 * (term - shift), residual_k=(term - shift) / ds))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args()
    print(f"{'row':4s} {'lattice':7s} {'v (A^3)':>8s} {'T (K)':>6s} {'N':>5s} {'f(inf)-f(N)':>12s} "
          f"{'(3/2)kTlnN/N':>13s} {'term - shift':>13s} {'T_m, term route':>16s}")
    rows = []
    for name in args.rows:
        for r in run_row(name):
            rows.append(r)
            print(f"{r['row']:4s} {r['lattice']:7s} {r['volume']:8.3f} {r['T']:6.0f} {r['N']:5d} {r['shift_mev']:8.3f} meV "
                  f"{r['term_mev']:9.3f} meV {r['residual_mev']:+9.3f} meV {-r['residual_k']:+10.1f} K", flush=True)
    worst = max(rows, key=lambda r: abs(r["residual_mev"]))
    print(f"rows={len(args.rows)} max_residual_mev={worst['residual_mev']:.3f} max_residual_k={worst['residual_k']:.1f}")


if __name__ == "__main__":
    main()
