import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyiron_mtp import MTP, MTPCalculator, ShortDistanceWarning
from conftest import alloy, random_potential


@pytest.fixture(scope="module")
def pot():
    return random_potential(12, ["Cu", "Ag"], min_dist=1.8, max_dist=4.6)


def energy(pot, atoms):
    return pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()),
                        forces=False).energy


def test_forces_finite_differences(pot):
    atoms = alloy(1)
    res = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()))
    h = 1e-5
    for i in (0, 5, 17):
        for d in range(3):
            a = atoms.copy()
            a.positions[i, d] += h
            ep = energy(pot, a)
            a.positions[i, d] -= 2 * h
            em = energy(pot, a)
            fd = -(ep - em) / (2 * h)
            assert res.forces[i, d] == pytest.approx(fd, rel=1e-6, abs=1e-7)
    assert np.abs(res.forces).max() > 1e-2  # not trivially zero
    assert np.allclose(res.forces.sum(0), 0.0, atol=1e-9)
    assert res.energies.sum() == pytest.approx(res.energy)


@pytest.mark.parametrize("case", ["bulk", "small_cell"])
def test_stress_finite_differences(pot, case):
    if case == "bulk":
        atoms = alloy(2)
    else:  # cell smaller than the cutoff: images of the atom itself contribute
        atoms = bulk("Cu", "fcc", a=3.6)
        atoms.set_cell(atoms.cell.array + np.array([[0.1, 0.05, 0], [0, 0.1, -0.1], [0.02, 0, 0.0]]), scale_atoms=True)
    res = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()))
    vol = atoms.get_volume()
    h = 1e-6
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for k, (a, b) in enumerate(voigt):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h if a != b else h
        if a != b:
            eps[a, b] = eps[b, a] = h / 2
        es = []
        for sgn in (1, -1):
            x = atoms.copy()
            x.set_cell(atoms.cell.array @ (np.eye(3) + sgn * eps), scale_atoms=True)
            es.append(energy(pot, x))
        fd = (es[0] - es[1]) / (2 * h) / vol
        assert res.stress[k] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    # virial is MLIP's PlusStress: -V * sigma
    assert np.allclose(res.virial, res.virial.T, atol=1e-9)
    assert res.virial[0, 0] == pytest.approx(-vol * res.stress[0])


def test_invariances(pot, rng):
    atoms = alloy(3)
    ref = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()))
    # rotation of positions and cell together
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = atoms.copy()
    rot.set_cell(atoms.cell.array @ q.T, scale_atoms=False)
    rot.positions = atoms.positions @ q.T
    r = pot.evaluate(rot.positions, rot.cell.array, rot.pbc, pot.types_of(rot.get_chemical_symbols()))
    assert r.energy == pytest.approx(ref.energy, rel=1e-10, abs=1e-9)
    assert np.allclose(r.forces, ref.forces @ q.T, atol=1e-8)
    assert np.allclose(r.virial, q @ ref.virial @ q.T, atol=1e-8)
    # translation and choice of periodic image (wrap vs unwrapped)
    t = atoms.copy()
    t.positions += np.array([0.3, -1.7, 2.2])
    t.positions[3] += atoms.cell[0] - 2 * atoms.cell[2]
    r = pot.evaluate(t.positions, t.cell.array, t.pbc, pot.types_of(t.get_chemical_symbols()))
    assert r.energy == pytest.approx(ref.energy, rel=1e-10)
    assert np.allclose(r.forces, ref.forces, atol=1e-8)
    # permutation of atoms
    perm = rng.permutation(len(atoms))
    p = atoms[perm]
    r = pot.evaluate(p.positions, p.cell.array, p.pbc, pot.types_of(p.get_chemical_symbols()))
    assert r.energy == pytest.approx(ref.energy, rel=1e-10)
    assert np.allclose(r.forces, ref.forces[perm], atol=1e-8)
    assert np.allclose(r.energies, ref.energies[perm], atol=1e-9)
    # an n-fold supercell has n times the energy and the same stress
    s = atoms.repeat((2, 1, 3))
    r = pot.evaluate(s.positions, s.cell.array, s.pbc, pot.types_of(s.get_chemical_symbols()))
    assert r.energy == pytest.approx(6 * ref.energy, rel=1e-10)
    assert np.allclose(r.stress, ref.stress, atol=1e-10)


def test_small_cell_equals_supercell(pot):
    prim = bulk("Cu", "fcc", a=3.55)
    prim.rattle(0.0)
    big = prim.repeat((4, 4, 4))
    e1 = energy(pot, prim)
    e64 = energy(pot, big)
    assert e64 == pytest.approx(64 * e1, rel=1e-10)


def test_cluster_and_slab_forces(pot):
    atoms = alloy(4, repeat=(2, 2, 2))
    for pbc in ([False] * 3, [True, True, False]):
        a = atoms.copy()
        a.pbc = pbc
        if not any(pbc):
            a.cell = np.zeros((3, 3))
        res = pot.evaluate(a.positions, a.cell.array, a.pbc, pot.types_of(a.get_chemical_symbols()))
        assert res.stress is None
        h = 1e-5
        b = a.copy()
        b.positions[2, 1] += h
        ep = energy(pot, b)
        b.positions[2, 1] -= 2 * h
        em = energy(pot, b)
        assert res.forces[2, 1] == pytest.approx(-(ep - em) / (2 * h), rel=1e-6, abs=1e-7)
    # an isolated atom has only its species energy
    single = Atoms("Ag", positions=[[0, 0, 0]])
    assert energy(pot, single) == pytest.approx(pot.species_coeffs[1])


def test_calculator_properties(pot):
    atoms = alloy(5)
    atoms.calc = MTPCalculator(pot)
    e = atoms.get_potential_energy()
    assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(e)
    assert atoms.get_potential_energies().sum() == pytest.approx(e)
    assert atoms.get_forces().shape == (len(atoms), 3)
    assert atoms.get_stress().shape == (6,)
    # neighbour list reuse inside the skin gives the same numbers as a fresh evaluation
    atoms.positions[0] += 0.05
    e2 = atoms.get_potential_energy()
    assert e2 == pytest.approx(energy(pot, atoms), rel=1e-12)


def test_short_distance_warning_and_finite(pot):
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [0.9, 0, 0]], cell=[8, 8, 8], pbc=True)
    with pytest.warns(ShortDistanceWarning, match="1 atom pair"):
        res = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, [0, 0])
    assert np.isfinite(res.energy) and np.all(np.isfinite(res.forces))
    atoms.positions[1] = atoms.positions[0]  # coincident atoms still finite? must not be NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="coincide"):
            pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, [0, 0])


def test_bad_input(pot):
    atoms = alloy(6)
    types = pot.types_of(atoms.get_chemical_symbols())
    with pytest.raises(ValueError, match="empty structure"):
        pot.evaluate(np.zeros((0, 3)), np.eye(3) * 5, True, [])
    with pytest.raises(ValueError, match=r"element\(s\) \['Au'\] not in"):
        pot.types_of(["Cu", "Au"])
    with pytest.raises(ValueError, match="degenerate cell"):
        pot.evaluate(atoms.positions, np.diag([5.0, 5.0, 0.0]), True, types)
    with pytest.raises(ValueError, match="degenerate cell"):
        pot.evaluate(atoms.positions, [[5, 0, 0], [10, 0, 0], [0, 0, 5]], True, types)
    with pytest.raises(ValueError, match="atom types must be in"):
        pot.evaluate(atoms.positions, atoms.cell.array, True, types + 5)
    with pytest.raises(ValueError, match="NaN"):
        pos = atoms.positions.copy()
        pos[0, 0] = np.nan
        pot.evaluate(pos, atoms.cell.array, True, types)
    unnamed = MTP.from_level(6, 1, 2.0, 5.0)
    with pytest.raises(ValueError, match="species"):
        MTPCalculator(unnamed)
    with pytest.raises(ValueError, match="even"):
        MTP.from_level(7, ["Cu"], 2.0, 5.0)
    with pytest.raises(ValueError, match="min_dist < max_dist"):
        MTP.from_level(8, ["Cu"], 5.0, 2.0)


def test_parameters_roundtrip(pot):
    theta = pot.parameters
    assert theta.size == pot.n_parameters == 2 * 2 * pot.radial_funcs_count * 8 + 2 + pot.n_basis
    other = pot.copy()
    other.parameters = theta * 2
    assert np.allclose(other.moment_coeffs, 2 * pot.moment_coeffs)
    assert np.allclose(other.radial_coeffs, 2 * pot.radial_coeffs)
    with pytest.raises(ValueError, match="expected"):
        other.parameters = theta[:-1]


def _site_energy_difference(pot, atoms, types, k):
    """Central difference of the site energies with respect to parameter k."""
    theta = pot.parameters
    h = 1e-6 * max(1.0, abs(theta[k]))
    sites = []
    for sgn in (1, -1):
        p = pot.copy()
        t = theta.copy()
        t[k] += sgn * h
        p.parameters = t
        sites.append(p.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, types, forces=False).energies)
    return (sites[0] - sites[1]) / (2 * h)


def test_parameter_rows_finite_differences(pot):
    atoms = alloy(7)
    types = pot.types_of(atoms.get_chemical_symbols())
    rows = pot.site_parameter_rows(atoms.positions, atoms.cell.array, atoms.pbc, types)
    assert rows.shape == (len(atoms), pot.n_parameters)
    fused = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, types, parameter_rows=True).rows
    assert np.array_equal(rows, fused)
    n_rad = pot.radial_coeffs.size
    # total energy: radial, species and moment columns
    for k in (3, n_rad // 2 + 5, n_rad - 1, n_rad, n_rad + 1, n_rad + 2, pot.n_parameters - 1):
        fd = _site_energy_difference(pot, atoms, types, k).sum()
        assert rows[:, k].sum() == pytest.approx(fd, rel=1e-5, abs=1e-6)
    linear = pot.site_parameter_rows(atoms.positions, atoms.cell.array, atoms.pbc, types, linear_only=True)
    assert np.allclose(linear, rows[:, n_rad:])
    # every radial column, atom by atom: dV_i/dc against site-energy differences
    for k in range(n_rad):
        fd = _site_energy_difference(pot, atoms, types, k)
        # site energies of this random potential reach 1e4 eV: round-off of the difference ~1e-5
        assert np.abs(rows[:, k] - fd).max() <= 1e-4 * max(1.0, np.abs(fd).max()), k


def test_threaded_forces_equal_serial(pot, monkeypatch):
    """Forces and per-atom virials accumulated on several threads equal one thread's."""
    import pyiron_mtp.core.threads as threads
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 2))
    atoms.rattle(0.1, seed=5)
    types = np.arange(len(atoms)) % pot.species_count
    args = (atoms.positions, atoms.cell.array, True, types)
    monkeypatch.setattr(threads, "n_threads", lambda: 1)
    one = pot.evaluate(*args)
    monkeypatch.setattr(threads, "n_threads", lambda: 3)
    assert len(threads.range_bounds(len(atoms))) == 4  # three ranges
    three = pot.evaluate(*args)
    scale_f = np.abs(one.forces).max()
    scale_v = np.abs(one.atom_virials).max()
    assert np.allclose(three.forces, one.forces, rtol=0, atol=1e-12 * scale_f)
    assert np.allclose(three.atom_virials, one.atom_virials, rtol=0, atol=1e-12 * scale_v)
    assert np.allclose(three.forces.sum(0), 0.0, atol=1e-12 * scale_f * len(atoms))
    monitored = pot.evaluate(*args, parameter_rows=True)
    assert np.allclose(monitored.forces, one.forces, rtol=0, atol=1e-12 * scale_f)
