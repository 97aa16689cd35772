"""The ZBL pair baseline: the published formula, its derivatives, and LAMMPS's pair style zbl."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyiron_mtp.baseline import ZBLCalculator


def zbl_published(r, z1, z2):
    """Ziegler, Biersack, Littmark (1985): universal screening function and screening length."""
    a = 0.46850 / (z1 ** 0.23 + z2 ** 0.23)
    x = r / a
    phi = (0.18175 * np.exp(-3.19980 * x) + 0.50986 * np.exp(-0.94229 * x) + 0.28022 * np.exp(-0.40290 * x)
           + 0.02817 * np.exp(-0.20162 * x))
    return 14.399645 * z1 * z2 / r * phi


def dimer(r, a="Cu", b="Ag"):
    return Atoms([a, b], positions=[[0, 0, 0], [r, 0, 0]], cell=[20, 20, 20], pbc=False)


def test_zbl_is_the_published_formula_below_the_switch():
    calc = ZBLCalculator(inner=1.5, outer=2.5)
    shift = None
    for r in (0.3, 0.6, 1.0, 1.4):
        d = dimer(r)
        d.calc = calc
        e = d.get_potential_energy()
        # below the inner cutoff the switch adds one constant, the same at every distance
        s = e - zbl_published(r, 29, 47)
        shift = s if shift is None else shift
        assert s == pytest.approx(shift, abs=1e-9)
    far = dimer(2.6)
    far.calc = calc
    assert far.get_potential_energy() == 0.0 and np.all(far.get_forces() == 0.0)
    # energy, slope and curvature go to zero at the outer cutoff: continuous across it
    e = []
    for r in (2.5 - 1e-4, 2.5 - 2e-4):
        d = dimer(r)
        d.calc = calc
        e.append(d.get_potential_energy())
    assert abs(e[0]) < 1e-9 and abs(e[1]) < 1e-9


def test_zbl_forces_and_stress_are_derivatives():
    atoms = bulk("Cu", "fcc", a=2.6, cubic=True).repeat(2)     # compressed: pairs inside the switch
    atoms.rattle(0.1, seed=3)
    atoms.symbols[::3] = "Ag"
    atoms.calc = ZBLCalculator(inner=1.6, outer=2.4)
    f = atoms.get_forces()
    assert np.abs(f).max() > 0.1
    h = 1e-5
    for i, k in ((0, 0), (5, 1), (11, 2)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        for x in (plus, minus):
            x.calc = ZBLCalculator(inner=1.6, outer=2.4)
        fd = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert f[i, k] == pytest.approx(fd, abs=1e-6)
    s = atoms.get_stress(voigt=False)
    for a_, b_ in ((0, 0), (1, 2), (0, 1)):
        eps = np.zeros((3, 3))
        eps[a_, b_] = eps[b_, a_] = h / (2 if a_ != b_ else 1)
        e = []
        for sign in (1, -1):
            x = atoms.copy()
            x.set_cell(atoms.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            x.calc = ZBLCalculator(inner=1.6, outer=2.4)
            e.append(x.get_potential_energy())
        fd = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
        assert s[a_, b_] == pytest.approx(fd, abs=1e-7)
    assert np.abs(f.sum(axis=0)).max() < 1e-10


def test_zbl_equals_lammps_pair_style_zbl():
    from ase.calculators.lammpslib import LAMMPSlib
    from pyiron_mtp.lammps.runtime import load_lammps
    load_lammps()
    atoms = bulk("Cu", "fcc", a=2.7, cubic=True).repeat(2)
    atoms.rattle(0.15, seed=5)
    atoms.symbols[1::2] = "Al"
    inner, outer = 1.7, 2.6
    lmp = LAMMPSlib(lmpcmds=[f"pair_style zbl {inner} {outer}", "pair_coeff 1 1 13 13", "pair_coeff 1 2 13 29",
                             "pair_coeff 2 2 29 29"], atom_types={"Al": 1, "Cu": 2}, keep_alive=False)
    ours = atoms.copy()
    ours.calc = ZBLCalculator(inner, outer)
    atoms.calc = lmp
    assert ours.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), rel=1e-8, abs=1e-8)
    assert np.abs(ours.get_forces() - atoms.get_forces()).max() < 1e-7
    # LAMMPS reports the pressure in bar; its bar <-> eV/A^3 constant carries ~1e-7 relative precision
    ref = atoms.get_stress()
    assert np.abs(ours.get_stress() - ref).max() < 1e-6 * np.abs(ref).max()


def test_zbl_rejects_bad_cutoffs():
    with pytest.raises(ValueError, match="inner < outer"):
        ZBLCalculator(inner=2.0, outer=1.0)
