"""Short range where the data has nothing: the core radius (clamped radial basis) and the ZBL
baseline in the model, its file, its training and its dimer curves."""
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import random_potential
from pyiron_mtp import MTP
from pyiron_mtp.baseline import ZBLBaseline
from pyiron_mtp.core.radial import CORE_WIDTH, clamped_distance, radial_values
from pyiron_mtp.mtpfile import MTPFileError
from pyiron_mtp.training import train

SPECIES = ["Cu", "Ag", "Au"]


def emt_data(n=36, seed=0, min_distance=2.2):
    """Rattled, strained fcc Cu-Ag-Au alloys with EMT references, none with a pair below
    ``min_distance`` (A)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a = bulk("Cu", "fcc", a=rng.uniform(3.75, 4.1), cubic=True).repeat((2, 2, 1))
        a.set_chemical_symbols(rng.choice(SPECIES, len(a)))
        a.set_cell(a.cell.array @ (np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3))), scale_atoms=True)
        a.rattle(0.12, seed=int(rng.integers(1 << 30)))
        d = a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)]
        if d.min() < min_distance:
            continue
        a.calc = EMT()
        a.get_forces()
        out.append(a)
    return out


@pytest.fixture(scope="module")
def data():
    return emt_data()


def _train(data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(data, SPECIES, level=8, max_dist=4.5, min_dist=2.0, max_iter=25, progress=False, **kwargs)


@pytest.fixture(scope="module")
def safe(data):
    """train's default: core radius at the smallest distance in the data, ZBL below it."""
    return _train(data)


@pytest.fixture(scope="module")
def reaching(data):
    """A ZBL baseline switched off only at 4.5 A: the MTP is fitted to EMT - ZBL."""
    return _train(data, baseline="zbl", baseline_cutoffs=(2.0, 4.5))


def dimer_energy(pot, a, b, r):
    d = Atoms([a, b], positions=[[0, 0, 0], [r, 0, 0]], cell=[20, 20, 20], pbc=False)
    return pot.evaluate(d.positions, d.cell.array, d.pbc, pot.types_of([a, b]))


def test_clamp_is_smooth_and_bounded():
    rc = 2.3
    r = np.linspace(1.0, 2.5, 301)
    re, dre = np.array([clamped_distance(x, rc) for x in r]).T
    assert np.all(re[r >= rc] == r[r >= rc])
    assert np.all(re > rc - CORE_WIDTH) and np.all(np.diff(re) >= 0)
    h = 1e-6       # derivative matches the finite difference; value, slope and curvature continuous at rc
    fd = [(clamped_distance(x + h, rc)[0] - clamped_distance(x - h, rc)[0]) / (2 * h) for x in r]
    assert np.allclose(fd, dre, atol=1e-6)
    assert abs(clamped_distance(rc - 1e-4, rc)[0] - (rc - 1e-4)) < 1e-9
    q, dq = radial_values(r, 2.0, 4.5, 6, r_core=rc)
    qn, dqn = radial_values(r, 2.0, 4.5, 6)
    assert np.allclose(q[r >= rc], qn[r >= rc]) and np.abs(dq[r < 1.5]).max() < 1e-3 * np.abs(dqn[r < 1.5]).max()


def test_forces_and_stress_with_core_and_baseline():
    pot = random_potential(10, ["Cu", "Ag"], min_dist=1.8, max_dist=4.5, seed=2, scale=0.01)
    pot.make_safe(2.4, "zbl", inner=1.9, outer=4.0)
    atoms = bulk("Cu", "fcc", a=3.4, cubic=True).repeat((2, 1, 1))
    atoms.symbols[::3] = "Ag"
    atoms.rattle(0.2, seed=3)
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.03, 0], [0, 1, 0.02], [0.01, 0, 1]]), scale_atoms=True)
    d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert (d < 2.4).sum() >= 4                      # pairs below the core radius
    t = pot.types_of(atoms.get_chemical_symbols())
    res = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, t)
    h = 1e-5
    for i in range(0, len(atoms), 3):
        for k in range(3):
            x = atoms.positions.copy()
            x[i, k] += h
            ep = pot.evaluate(x, atoms.cell.array, atoms.pbc, t, forces=False).energy
            x[i, k] -= 2 * h
            em = pot.evaluate(x, atoms.cell.array, atoms.pbc, t, forces=False).energy
            assert -(ep - em) / (2 * h) == pytest.approx(res.forces[i, k], abs=1e-6 * max(1, abs(res.forces[i, k])))
    vol = atoms.get_volume()
    for n, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        e = []
        for s in (1, -1):
            strain = np.eye(3)
            strain[a, b] += s * h / (1 if a == b else 2)
            strain[b, a] += 0 if a == b else s * h / 2
            e.append(pot.evaluate(atoms.positions @ strain, atoms.cell.array @ strain, atoms.pbc, t,
                                  forces=False).energy)
        assert (e[0] - e[1]) / (2 * h) / vol == pytest.approx(res.stress[n], rel=1e-7, abs=1e-6)
    assert np.allclose(res.atom_virials.sum(0), res.virial)
    assert res.energies.sum() == pytest.approx(res.energy)


def test_file_round_trip_and_errors(tmp_path):
    pot = random_potential(8, ["Al", "Cu"], min_dist=2.0, max_dist=5.0, seed=1)
    pot.make_safe(2.2, "zbl")
    path = tmp_path / "safe.mtp"
    pot.to_file(path)
    back = MTP.from_file(path, species=["Al", "Cu"])
    assert back.core_radius == pot.core_radius and back.baseline == pot.baseline
    assert back.baseline.atomic_numbers.tolist() == [13, 29] and (back.baseline.inner, back.baseline.outer) == pytest.approx((1.7, 2.2))
    atoms = bulk("Al", "fcc", a=3.6, cubic=True)
    atoms.symbols[1] = "Cu"
    atoms.rattle(0.3, seed=1)
    t = pot.types_of(atoms.get_chemical_symbols())
    assert back.evaluate(atoms.positions, atoms.cell.array, True, t).energy == \
        pot.evaluate(atoms.positions, atoms.cell.array, True, t).energy
    # the extra entries come after moment_coeffs (where MLIP stops reading)
    text = path.read_text().splitlines()
    assert [ln.split("=")[0].strip() for ln in text[-4:]] == ["core_radius", "baseline", "baseline_atomic_numbers",
                                                              "baseline_cutoffs"]
    assert MTP.from_dict(pot.to_dict()).baseline == pot.baseline
    body = path.read_text()
    for bad, msg in ((body.replace("baseline = ZBL", "baseline = LJ"), "only ZBL"),
                     (body.replace("baseline_atomic_numbers = {13, 29}", "baseline_atomic_numbers = {13}"),
                      "one atomic number"),
                     ("\n".join(ln for ln in text if not ln.startswith("baseline_cutoffs")), "baseline_cutoffs"),
                     (body.replace("core_radius = ", "core_radius = 9"), "core_radius"),
                     ("\n".join(ln for ln in text if not ln.startswith("baseline =")), "without")):
        p = tmp_path / "bad.mtp"
        p.write_text(bad)
        with pytest.raises(MTPFileError, match=msg):
            MTP.from_file(p)
    with pytest.raises(ValueError, match="outer cutoff"):
        MTP(**{**pot.to_dict(), "baseline": ZBLBaseline([13, 29], 2.0, 6.0)})
    with pytest.raises(ValueError, match="element symbols"):
        ZBLBaseline.for_species(["Al", "Xx"], 1.0, 2.0)


def test_training_fits_the_model_with_its_baseline(data, reaching):
    """The trainer fits the MTP part to reference - ZBL; its recorded errors are those of the
    whole model evaluated afterwards."""
    pot, trainer = reaching
    from pyiron_mtp.training import error_report
    assert pot.baseline is not None and pot.core_radius == pytest.approx(min(
        a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() for a in data))
    assert (pot.baseline.inner, pot.baseline.outer) == (2.0, 4.5)
    rep = error_report(pot, data)
    assert error_report(pot, trainer.data)["force_rmse"] == pytest.approx(rep["force_rmse"], rel=1e-12)
    best = min(trainer.history, key=lambda row: row["loss"])
    assert rep["force_rmse"] == pytest.approx(best["train_force_rmse"], rel=1e-6)
    assert rep["energy_rmse"] == pytest.approx(best["train_energy_rmse"], rel=1e-6)
    assert rep["force_rmse"] < 0.15                     # a real fit (EMT forces ~ 1 eV/A)
    zbl_forces = np.abs(pot.baseline.evaluate(data[0].positions, data[0].cell.array,
                                              pot.types_of(data[0].get_chemical_symbols()),
                                              _nl(pot, data[0]))[2]).max()
    assert zbl_forces > 0.5                             # the baseline is not negligible in the data


def test_default_baseline_lives_below_the_data(data, safe):
    """By default the ZBL baseline is switched off at the core radius (the smallest distance in
    the data): it is exactly zero on every training structure, so the fit is the one without it
    (same parameters to the last bit) while the potential now repels below the data."""
    pot, trainer = safe
    d_min = min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() for a in data)
    assert pot.core_radius == pytest.approx(d_min) and pot.baseline.outer == pot.core_radius
    assert pot.baseline.inner == pytest.approx(d_min - 0.5)
    for a in data:
        e, _, f, vir, _ = pot.baseline.evaluate(a.positions, a.cell.array, pot.types_of(a.get_chemical_symbols()),
                                                _nl(pot, a))
        assert e == 0.0 and not f.any() and not vir.any()
    clamp, _ = _train(data, baseline=None)
    assert clamp.baseline is None and clamp.core_radius == pot.core_radius
    for name in ("radial_coeffs", "moment_coeffs", "species_coeffs"):
        assert np.array_equal(getattr(clamp, name), getattr(pot, name)), name
    from pyiron_mtp.short_range import repulsion_report
    assert all(v["repulsive"] for v in trainer.repulsion.values()) and len(trainer.repulsion) == 6
    assert not any(v["repulsive"] for v in repulsion_report(clamp).values())
    # MLIP reads the file without the baseline: on the data it gives the same numbers
    from pyiron_mtp.training import error_report
    assert error_report(clamp, data)["force_rmse"] == error_report(pot, data)["force_rmse"]


def _nl(pot, atoms):
    from pyiron_mtp.core.neighbors import NeighborList
    nl = NeighborList(pot.max_dist, skin=0.0)
    nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    return nl


def test_dimers_repulsive_below_the_data(reaching):
    """No pair in the data is closer than 2.2 A: with ZBL switched on from below the data, from
    there down to 1.0 A every species pair's dimer energy rises monotonically and the force pushes
    the atoms apart (the default baseline, zero on the data, does so from 0.1 A below the data on:
    test_default_baseline_lives_below_the_data)."""
    safe = reaching
    pot, _ = safe
    r = np.arange(2.2, 0.999, -0.01)
    for ia, a in enumerate(SPECIES):
        for b in SPECIES[ia:]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = [dimer_energy(pot, a, b, x) for x in r]
            e = np.array([x.energy for x in res])
            assert np.all(np.diff(e) > 0), (a, b, e)
            assert all(x.forces[1, 0] > 0 for x in res), (a, b)
    assert all(v["repulsive"] for v in safe[1].repulsion.values()) and len(safe[1].repulsion) == 6
    # the bare MTP (its polynomial extrapolation, no baseline) is no such guarantee: it is what
    # the baseline and the clamp replace
    # the clamp alone is a plateau, bounded but not a repulsion: reported as such
    flat = pot.copy()
    flat.baseline = None
    from pyiron_mtp.short_range import repulsion_report
    assert not any(v["repulsive"] for v in repulsion_report(flat).values())
    bare = pot.copy()
    bare.core_radius, bare.baseline = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spread = [abs(dimer_energy(bare, a, a, 1.0).energy - dimer_energy(bare, a, a, 2.2).energy) for a in SPECIES]
    assert max(spread) > 0       # evaluated; its sign and size are arbitrary
    # the report is that check: on the bare MTP it flags what the dimer curves show
    report = repulsion_report(bare, r_max=2.2)
    assert report.keys() == safe[1].repulsion.keys()
    for (a, b), row in report.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = [dimer_energy(bare, a, b, x) for x in r]
        e = np.array([x.energy for x in res])
        f = np.array([x.forces[1, 0] for x in res])
        assert row["repulsive"] == bool(np.all(np.diff(e) > 0) and np.all(f >= 0.01))
        assert row["min_force"] == pytest.approx(f.min()) and row["rise"] == pytest.approx(e[-1] - e[0])


def test_retraining_follows_the_data(data, safe, reaching):
    """An init potential keeps its baseline; with closer pairs in the new data the core radius
    moves down to them and the baseline with it (the default one stays below the data, one
    switched on from the core radius keeps starting there)."""
    pot, _ = safe
    closer = emt_data(6, seed=5, min_distance=2.05)
    d_min = min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min() for a in closer)
    assert d_min < pot.core_radius
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new, _ = train(list(data) + closer, init=pot, max_iter=3, progress=False)
    assert new.baseline is not None and new.core_radius == pytest.approx(d_min)
    assert new.baseline.outer == pytest.approx(d_min) and new.baseline.inner == pytest.approx(d_min - 0.5)
    old = reaching[0].copy()
    old.baseline = ZBLBaseline(old.baseline.atomic_numbers, old.core_radius, 4.5)   # switched on from the core
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new, _ = train(list(data) + closer, init=old, max_iter=2, progress=False)
    assert new.baseline.inner == pytest.approx(d_min) and new.baseline.outer == 4.5
