"""Free energies of the reference systems, per atom in eV.

- Einstein crystal (Frenkel & Ladd 1984): independent 3D harmonic oscillators with spring
  constant k_i (eV/A^2) per species, classical: F_E = 3 kT sum_i x_i ln(beta hbar omega_i),
  omega_i = sqrt(k_i / m_i); the centre-of-mass correction of Polson et al. (2000) for a
  crystal whose centre of mass is free: F_cm = (kT / N) ln[(V / N) (beta / (2 pi sum_j mu_j^2 / k_j))^(3/2)]
  with mu_j = m_j / M (sum over all atoms), subtracted from F_E.  The centre of mass ranges
  over V / N, not V: shifting the crystal by a lattice vector only relabels the atoms, which
  the N! permutations already count (as in Freitas, Asta, de Koning 2016; calphy 2.3 uses V,
  (kT / N) ln N lower: 1.3 meV/atom for 500 atoms at 1200 K).
- Ideal gas of several species: F_id = kT sum_i x_i [3 ln Lambda_i + ln rho - 1 + ln x_i],
  Lambda_i = h / sqrt(2 pi m_i kT).
- Uhlenbeck-Ford fluid (Paula Leite, Freitas, Azevedo, de Koning 2016): u(r) = -p kT
  ln(1 - exp(-(r/sigma)^2)); its excess free energy beta F_ex depends on p and on
  x = (1/2) (pi sigma^2)^(3/2) rho only, tabulated in ``uf_table.csv`` (made by
  ``python -m pyiron_mtp.free_energy.make_uf_table``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from ase.data import atomic_masses, atomic_numbers

__all__ = ["UF_CUTOFF", "UF_X_TARGET", "uf_sigma_for", "KB", "einstein_free_energy", "crystal_translation_term", "ideal_gas_free_energy", "uf_excess_free_energy", "uf_x",
           "mass_of", "UF_TABLE"]

KB = 8.617333262e-5          # eV/K
HBAR = 6.582119569e-16       # eV s
H_PLANCK = 4.135667696e-15   # eV s
AMU = 1.66053906660e-27      # kg
EV = 1.602176634e-19         # J
# m in amu, lengths in A: (eV / A^2) / amu = EV / 1e-20 / AMU s^-2
_K_OVER_M = EV / 1e-20 / AMU
UF_TABLE = Path(__file__).resolve().parent / "uf_table.csv"
UF_CUTOFF = 4.0      # cutoff of the UF pair in units of sigma, as in the table (u(4 sigma) ~ 1e-7 p kT)
# reduced density of the UF reference chosen by uf_sigma="auto": W_zhou's liquid switched to the
# 1.5 A fluid (x = 0.51) came out 1.5 meV/atom below the same liquid switched at x = 0.74 and 0.96,
# which agree; Cu_mishin1's is the same at x = 0.70 and 0.93 (benchmarks/RESULTS.md)
UF_X_TARGET = 0.8


def mass_of(symbol) -> float:
    """Standard atomic mass (amu) of an element (ASE's table, as LAMMPS inputs here use)."""
    return float(atomic_masses[atomic_numbers[symbol]])


def einstein_free_energy(temperature, spring_constants, masses, counts, volume, cm_correction=True):
    """(F_E, -F_cm) per atom in eV of an Einstein crystal.

    ``spring_constants`` (eV/A^2), ``masses`` (amu) and ``counts`` per species;
    ``volume`` the total volume (A^3).  The reference free energy is their sum.
    """
    k = np.asarray(spring_constants, dtype=float)
    m = np.asarray(masses, dtype=float)
    n = np.asarray(counts, dtype=float)
    if np.any(k <= 0) or np.any(m <= 0) or np.any(n < 0) or temperature <= 0:
        raise ValueError("spring constants, masses and temperature must be positive")
    natoms = n.sum()
    kt = KB * temperature
    omega = np.sqrt(k * _K_OVER_M / m)                 # 1/s
    f_e = 3.0 * kt * np.sum(n * np.log(HBAR * omega / kt)) / natoms
    if not cm_correction:
        return float(f_e), 0.0
    total_mass = np.sum(n * m)
    mu2_over_k = np.sum(n * (m / total_mass) ** 2 / k)  # A^2/eV
    f_cm = kt / natoms * np.log(volume / natoms * (1.0 / (kt * 2.0 * np.pi * mu2_over_k)) ** 1.5)
    return float(f_e), float(-f_cm)


def crystal_translation_term(temperature, atoms):
    """(3/2) kT ln(N) / N per atom in eV: what an N-atom periodic crystal's free energy per atom
    lies below the bulk's because the crystal as a whole is one free particle of mass N m.

    With the centre-of-mass correction above, G_s(N) + this term is G_s for N -> infinity: the
    factor N^(3/2) of F_cm (the centre of mass of N atoms on springs k fluctuates by kT / (N k))
    is the only part of the crystal's free energy per atom that is not intensive.  Measured
    size laws of ten solids (432-3584 atoms, fcc, bcc and hcp; benchmarks/RESULTS.md) follow it
    within their errors.  ``temperature`` (K) may be an array.
    """
    n = float(atoms)
    if n < 2:
        raise ValueError(f"a crystal needs at least 2 atoms, got {atoms}")
    return 1.5 * KB * np.asarray(temperature, dtype=float) * np.log(n) / n


def ideal_gas_free_energy(temperature, density, masses, counts):
    """Free energy per atom (eV) of an ideal-gas mixture at number density ``density`` (1/A^3)."""
    m = np.asarray(masses, dtype=float)
    n = np.asarray(counts, dtype=float)
    x = n / n.sum()
    kt = KB * temperature
    # thermal wavelength in A
    lam = H_PLANCK / np.sqrt(2.0 * np.pi * m * AMU * kt * EV) * EV * 1e10
    keep = x > 0
    return float(kt * np.sum(x[keep] * (3.0 * np.log(lam[keep]) + np.log(density) - 1.0 + np.log(x[keep]))))


def uf_x(density, sigma):
    """The UF model's reduced density x = (1/2) (pi sigma^2)^(3/2) rho."""
    return 0.5 * (np.pi * sigma * sigma) ** 1.5 * density


def uf_sigma_for(density, x=UF_X_TARGET):
    """UF width sigma (A, rounded to 0.01 A) that puts a fluid of number density ``density``
    (1/A^3) at reduced density ``x``: the inverse of :func:`uf_x`."""
    if not density > 0 or not x > 0:
        raise ValueError(f"density and x must be positive, got {density!r} and {x!r}")
    return round(float((2.0 * x / density) ** (1.0 / 3.0) / np.sqrt(np.pi)), 2)


@lru_cache(maxsize=None)
def uf_table(path=None):
    """(x grid, {p: beta F_ex on the grid}) from the generated table."""
    path = Path(path or UF_TABLE)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: make it with python -m pyiron_mtp.free_energy.make_uf_table")
    lines = path.read_text().splitlines()
    header = next(ln for ln in lines if ln.startswith("x,"))
    ps = [int(c.split("=")[1]) for c in header.split(",")[1:]]
    rows = np.array([[float(v) for v in ln.split(",")] for ln in lines
                     if ln.strip() and not ln.startswith(("#", "x,"))])
    return rows[:, 0], {p: rows[:, k + 1] for k, p in enumerate(ps)}


def uf_excess_free_energy(temperature, density, p=50, sigma=1.5):
    """Excess free energy per atom (eV) of the Uhlenbeck-Ford fluid (p; sigma in A) at
    number density ``density`` (1/A^3), interpolated in x from the generated table."""
    from scipy.interpolate import CubicSpline
    xs, columns = uf_table()
    if p not in columns:
        raise ValueError(f"no UF table for p = {p}; tabulated: {sorted(columns)}")
    x = uf_x(density, sigma)
    if not xs[0] <= x <= xs[-1]:
        raise ValueError(f"UF reduced density x = {x:.4f} is outside the table ({xs[0]}..{xs[-1]}): "
                         f"density {density:.4g} 1/A^3 with sigma = {sigma} A; choose sigma so that x fits")
    beta_f = CubicSpline(xs, columns[p])(x)
    return float(beta_f * KB * temperature)
