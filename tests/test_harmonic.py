"""The harmonic crystal's size dependence (free_energy.harmonic) and the melting point's default
finite-size correction built on it."""
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyiron_mtp.free_energy import melting
from pyiron_mtp.free_energy.harmonic import (HarmonicInstability, cell_modes, force_constants,
                                             harmonic_size_shift)
from pyiron_mtp.free_energy.potential import LammpsPotential
from pyiron_mtp.free_energy.reference import HBAR, KB, crystal_translation_term

_W2_TO_SI = 1.602176634e-19 / 1e-20 / 1.66053906660e-27


def emt_forces(sign=1.0):
    """A ``forces`` hook for force_constants: EMT forces after each displacement."""
    def forces(atoms, moves):
        out = []
        for index, vector in moves:
            a = atoms.copy()
            a.positions[index] += vector
            a.calc = EMT()
            out.append(sign * a.get_forces())
        return out
    return forces


def hessian_log_modes(cell, step=0.01):
    """sum of ln(hbar omega / eV) over the 3N - 3 non-zero modes of ``cell``'s own Hessian
    (every atom displaced, EMT), the independent route."""
    n = len(cell)
    h = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            f = []
            for s in (step, -step):
                c = cell.copy()
                c.positions[i, a] += s
                c.calc = EMT()
                f.append(c.get_forces().ravel())
            h[3 * i + a] = -(f[0] - f[1]) / (2 * step)
    m = np.repeat(cell.get_masses(), 3)
    w2 = np.linalg.eigvalsh(0.5 * (h + h.T) / np.sqrt(np.outer(m, m)))
    assert np.all(np.abs(w2[:3]) < 1e-6 * w2[-1]) and w2[3] > 1e-3 * w2[-1]
    return float(np.sum(np.log(HBAR * np.sqrt(w2[3:] * _W2_TO_SI))))


@pytest.mark.parametrize("lattice, reps", [("fcc", (2, 2, 2)), ("hcp", (2, 1, 1))])
def test_cell_modes_equal_the_cells_own_hessian(lattice, reps):
    """The q-point sum over the modes of a periodic cell, from force constants of a supercell twice
    its size, equals the eigenvalues of that cell's own Hessian (fcc; hcp with its 4-atom
    orthorhombic cell, a basis of two sublattices)."""
    unit = (bulk("Cu", "fcc", a=3.6, cubic=True) if lattice == "fcc"
            else bulk("Cu", "hcp", a=2.55, c=2.55 * np.sqrt(8 / 3), orthorhombic=True))
    fc = force_constants(None, unit, 2 * np.array(reps), forces=emt_forces())
    natoms, modes = cell_modes(fc, reps)
    cell = unit.repeat(reps)
    assert natoms == len(cell)
    assert modes == pytest.approx(hessian_log_modes(cell), rel=1e-6)   # finite differences agree to ~1e-7
    with pytest.raises(ValueError, match="does not repeat"):
        cell_modes(fc, (3, 3, 3))


def test_unstable_crystal_is_reported():
    unit = bulk("Cu", "fcc", a=3.6, cubic=True)
    fc = force_constants(None, unit, 2, forces=emt_forces(sign=-1.0))
    with pytest.raises(HarmonicInstability, match="not stable"):
        harmonic_size_shift(fc, 1, [1000.0])


@pytest.fixture(scope="module")
def cu_force_constants():
    pot = LammpsPotential.from_eam("Cu_mishin1.eam.alloy", ["Cu"])
    unit = bulk("Cu", "fcc", a=3.615, cubic=True)
    return {n: force_constants(pot, unit, 2 * n if n < 5 else n) for n in (4, 5, 6, 8)}


def test_harmonic_size_law_of_eam_copper(cu_force_constants):
    """N (f(inf) - f(N)) of the harmonic crystal grows like (1/2) kT ln N (the centre of mass's
    N^(3/2) against the missing zero modes' ln N) plus a constant; between 256 and 2048 atoms
    it lies a little below the translation term (3/2) kT ln N / N, within 0.4 meV/atom."""
    t = 1300.0
    ns, shifts = [], []
    for n, fc in cu_force_constants.items():
        natoms = 4 * n ** 3
        s = float(harmonic_size_shift(fc, n, [t])[0])
        term = float(crystal_translation_term(t, natoms))
        assert 0 < term - s < 4e-4, (natoms, s, term)
        ns.append(natoms)
        shifts.append(s)
    ns, shifts = np.array(ns, float), np.array(shifts)
    slope, _ = np.polyfit(np.log(ns), ns * shifts, 1)
    assert slope == pytest.approx(0.5 * KB * t, rel=0.05)
    # classical: kT times T-independent sums, and -(3/2)(kT/N) ln kT from the 3 missing modes and Lambda^3
    fc = cu_force_constants[5]
    s1, s2 = harmonic_size_shift(fc, 5, [t, 2 * t])
    assert s2 - 2 * s1 == pytest.approx(-1.5 * KB * 2 * t / 500 * np.log(2.0), rel=1e-9)


def test_harmonic_correction_moves_the_crossing(cu_force_constants):
    """T_m of a 500-atom Cu solid corrected by the harmonic shift solves T = T_m - shift(T) / dS
    and lies 1-5 K above the translation term's; force constants are cached."""
    pot = LammpsPotential.from_eam("Cu_mishin1.eam.alloy", ["Cu"])
    ds = 0.123 / 1330.0
    v = 3.615 ** 3 / 4
    cache = {("fcc", round(v, 6), (5, 5, 5)): cu_force_constants[5]}
    fs = melting.harmonic_correction(pot, "fcc", None, 500, v, 1340.0, 3.0, ds, cache=cache)
    assert fs["method"] == "harmonic" and fs["cell"] == [5, 5, 5] and len(cache) == 1
    tm = fs["melting_temperature"]
    assert tm == pytest.approx(1340.0 - fs["shift"] / ds, abs=1e-6)
    assert fs["shift"] == pytest.approx(float(harmonic_size_shift(cu_force_constants[5], 5, [tm])[0]), rel=1e-3)
    trans = melting.translation_correction(500, 1340.0, 3.0, ds)
    assert 1.0 < tm - trans["melting_temperature"] < 5.0
    assert fs["melting_temperature_error"] == pytest.approx(3.0 * ds / (ds + fs["shift"] / tm), rel=0.02)
    with pytest.raises(ValueError, match="one species"):
        melting.harmonic_correction(pot, "fcc", ["Cu", "Ni"], 500, v, 1340.0, 3.0, ds)
    with pytest.raises(ValueError, match="not the fcc cell"):
        melting.harmonic_correction(pot, "fcc", None, 501, v, 1340.0, 3.0, ds)
    with pytest.raises(TypeError, match="LAMMPS potential"):
        melting.harmonic_correction(None, "fcc", "Cu", 500, v, 1340.0, 3.0, ds)
