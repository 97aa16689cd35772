"""The Ziegler-Biersack-Littmark (ZBL) universal screened nuclear repulsion, a pair baseline.

E_ZBL(r) = k Z_i Z_j / r * phi(r / a),   k = e^2 / (4 pi eps0) = 14.399645 eV A,
phi(x) = 0.18175 e^{-3.19980 x} + 0.50986 e^{-0.94229 x} + 0.28022 e^{-0.40290 x}
         + 0.02817 e^{-0.20162 x},   a = 0.46850 A / (Z_i^0.23 + Z_j^0.23)
(Ziegler, Biersack, Littmark, The Stopping and Range of Ions in Solids, 1985).

Switched to zero between ``inner`` and ``outer`` as LAMMPS's ``pair_style zbl inner outer``
does: E(r) = E_ZBL(r) + S(r), S(r) = A/3 (r - r1)^3 + B/4 (r - r1)^4 + C for r1 < r < rc and
S = C below r1, with A, B, C such that E, E' and E'' vanish at rc; zero beyond rc.

Arrays in, arrays out; energies eV, distances A, forces eV/A, ``virial`` = V x ASE stress (eV;
tensile positive: sum over pairs of dE/dr r_ij (x) r_ij / r).
"""
import math

import numpy as np
from numba import njit

K_COULOMB = 14.399645          # eV A
PHI_A = np.array([0.18175, 0.50986, 0.28022, 0.02817])
PHI_B = np.array([3.19980, 0.94229, 0.40290, 0.20162])
A_SCREEN = 0.46850             # A


@njit(cache=True)
def zbl_terms(r, zi, zj):
    """E_ZBL(r) and its first and second derivatives (eV, eV/A, eV/A^2), unswitched."""
    a = A_SCREEN / (zi ** 0.23 + zj ** 0.23)
    pre = K_COULOMB * zi * zj
    phi = dphi = d2phi = 0.0
    for k in range(4):
        b = PHI_B[k] / a
        t = PHI_A[k] * math.exp(-b * r)
        phi += t
        dphi -= b * t
        d2phi += b * b * t
    e = pre * phi / r
    de = pre * (dphi / r - phi / r ** 2)
    d2e = pre * (d2phi / r - 2.0 * dphi / r ** 2 + 2.0 * phi / r ** 3)
    return e, de, d2e


@njit(cache=True)
def switch_coefficients(zi, zj, inner, outer):
    """(A, B, C) of the switching polynomial for the pair (zi, zj)."""
    e, de, d2e = zbl_terms(outer, zi, zj)
    t = outer - inner
    a = (-3.0 * de + t * d2e) / t ** 2
    b = (2.0 * de - t * d2e) / t ** 3
    c = -e + 0.5 * t * de - t * t * d2e / 12.0
    return a, b, c


@njit(cache=True)
def zbl_pair(r, zi, zj, inner, outer):
    """Switched ZBL energy (eV) and dE/dr (eV/A) at distance r."""
    if r >= outer:
        return 0.0, 0.0
    e, de, _ = zbl_terms(r, zi, zj)
    a, b, c = switch_coefficients(zi, zj, inner, outer)
    if r > inner:
        x = r - inner
        e += a / 3.0 * x ** 3 + b / 4.0 * x ** 4 + c
        de += a * x * x + b * x ** 3
    else:
        e += c
    return e, de


@njit(cache=True)
def zbl_energy_forces(positions, cell, numbers, start, index, shift, inner, outer, energies, forces, virial,
                      atom_virial):
    """Adds the switched ZBL energy per atom (half of each pair to each atom), forces and
    V x stress (3x3, eV) of a full neighbour list (CSR ``start``, ``index``, image ``shift``) to
    the preallocated outputs; ``numbers``: atomic numbers Z.  ``atom_virial`` (N, 3, 3; shape
    (0, 3, 3) to skip) receives each atom's half of its pairs' virial in MLIP's sign (= -V x
    stress, as :mod:`.kernels`).  Returns the total energy."""
    total = 0.0
    n = positions.shape[0]
    per_atom = atom_virial.shape[0] == n
    for i in range(n):
        zi = float(numbers[i])
        for p in range(start[i], start[i + 1]):
            j = index[p]
            d = np.empty(3)
            for k in range(3):
                d[k] = positions[j, k] - positions[i, k]
                for m in range(3):
                    d[k] += shift[p, m] * cell[m, k]
            r = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
            if r >= outer or r == 0.0:
                continue
            e, de = zbl_pair(r, zi, float(numbers[j]), inner, outer)
            # each pair is seen twice in a full list: half the energy each time
            energies[i] += 0.5 * e
            total += 0.5 * e
            for k in range(3):
                f = 0.5 * de * d[k] / r        # dE/dx_j of this half; the force on j is -f, on i +f
                forces[i, k] += f
                forces[j, k] -= f
                for m in range(3):
                    virial[k, m] += f * d[m]
                    if per_atom:
                        atom_virial[i, k, m] -= f * d[m]
    return total
