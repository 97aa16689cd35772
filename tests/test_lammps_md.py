"""MD in LAMMPS for active learning: the pair style with its grades, and the callback fallback."""
import logging

import numpy as np
import pytest
from ase.build import bulk

from pyiron_mtp.active import ActiveSet
from pyiron_mtp.demo import emt_copper
from pyiron_mtp.lammps.callback_md import LammpsMD
from pyiron_mtp.lammps.runtime import lammps_cell
from pyiron_mtp.lammps.sampler import LammpsSampler
from pyiron_mtp.on_the_fly import LammpsProtocol, sample
from pyiron_mtp.training import train


@pytest.fixture(scope="module")
def fitted():
    data = emt_copper(20, seed=5, repeat=(2, 2, 2))
    pot, _ = train(data, ["Cu"], level=10, max_dist=5.0, max_iter=30, progress=False)
    return pot, data


def test_lammps_cell_same_metric(rng):
    cell = np.eye(3) * 5 + rng.normal(scale=0.8, size=(3, 3))
    new, rot = lammps_cell(cell)
    assert np.allclose(new @ new.T, cell @ cell.T)  # lengths and angles kept
    assert np.allclose(cell @ rot, new) and np.allclose(new[np.triu_indices(3, 1)], 0)


def test_nve_drift_pair_style(fitted):
    """1000 steps of 1 fs on 500 atoms: total energy drift below 1e-4 eV/atom."""
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5)
    res = LammpsSampler(pot, atoms, ensemble="nve", temperature=300, steps=1000, timestep=1.0,
                        thermo_every=50).run()
    th = np.array(res.thermo)
    assert res.steps == 1000 and len(th) == 21
    assert 200 < th[5:, 1].mean() < 400            # equipartition: half of the 2 x 300 K start goes to potential
    assert np.ptp(th[:, 2]) > 0.5                  # atoms move
    assert np.abs(th[:, 3] - th[0, 3]).max() / len(atoms) < 1e-4


def test_nve_conserves_energy_callback(fitted):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    md = LammpsMD(pot, atoms, ensemble="nve", temperature=300, steps=400, timestep=1.0, thermo_every=20)
    res = md.run()
    th = np.array(res.thermo)
    assert res.steps == 400 and md.evaluations == 401
    assert th[:, 1].mean() > 100
    assert np.abs(th[:, 3] - th[0, 3]).max() < 2e-3


@pytest.mark.parametrize("engine", [LammpsSampler, LammpsMD])
def test_nvt_and_npt(fitted, engine):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    res = engine(pot, atoms, ensemble="nvt", temperature=500, steps=600, thermo_every=20).run()
    temps = np.array(res.thermo)[10:, 1]
    assert 380 < temps.mean() < 620
    res = engine(pot, atoms, ensemble="npt", temperature=300, pressure=1.0, steps=200, thermo_every=50).run()
    assert res.steps == 200


@pytest.mark.parametrize("cores", [1, 2])
def test_grade_monitoring_stops_run(fitted, cores):
    pot, data = fitted
    aset = ActiveSet.build(pot, data, mode="neighborhood")
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=1)
    md = LammpsSampler(pot, atoms, ensemble="nvt", temperature=(300, 4000), steps=3000, active_set=aset,
                       select_threshold=2.0, break_threshold=5.0, thermo_every=25, cores=cores)
    res = md.run()
    assert res.broke and res.steps < 3000 and res.max_grade > 5.0
    assert len(res.grades) == res.steps + 1        # every step graded, step 0 included
    assert max(res.grades[:-1]) <= 5.0             # stopped at the first step above the threshold
    assert res.collected and all(a.info["mtp_grade"] > 2.0 for a in res.collected)
    for a in res.collected[-3:]:
        assert aset.grade(a) == pytest.approx(a.info["mtp_grade"], rel=1e-8)


def test_callback_grade_monitoring(fitted):
    pot, data = fitted
    aset = ActiveSet.build(pot, data[:5])
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    res = LammpsMD(pot, atoms, ensemble="nvt", temperature=(300, 3000), steps=2000, active_set=aset,
                   select_threshold=2.0, break_threshold=5.0, thermo_every=25).run()
    assert res.broke and res.steps < 2000 and res.max_grade > 5.0
    g = aset.grade(res.collected[-1])
    assert g == pytest.approx(res.collected[-1].info["mtp_grade"], rel=1e-8)


def test_protocol_falls_back_to_callback(fitted, monkeypatch, caplog):
    """Where the plugin cannot be built, LammpsProtocol samples through the callback and says why."""
    from pyiron_mtp.lammps import build
    pot, data = fitted
    aset = ActiveSet.build(pot, data)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=1)
    protocol = LammpsProtocol(ensemble="nvt", temperature=300, steps=50)
    with_plugin = sample(atoms, pot, aset, protocol, break_threshold=1e12)

    def broken(*args, **kwargs):
        raise build.PluginBuildError("no C++ compiler found")
    monkeypatch.setattr(build, "build_plugin", broken)
    with caplog.at_level(logging.WARNING):
        without = sample(atoms, pot, aset, protocol, break_threshold=1e12)
    assert "no C++ compiler found" in caplog.text and "callback" in caplog.text
    assert with_plugin.steps == without.steps == 50
    assert with_plugin.grades[0] == pytest.approx(without.grades[0], rel=1e-8)   # same start, same grade
    with pytest.raises(build.PluginBuildError):
        sample(atoms, pot, aset, LammpsProtocol(steps=10, cores=2))


def test_bad_input(fitted):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    for engine in (LammpsSampler, LammpsMD):
        with pytest.raises(ValueError, match="ensemble"):
            engine(pot, atoms, ensemble="langevin")
        with pytest.raises(ValueError, match="not in the potential"):
            engine(pot, bulk("Ag", "fcc", a=4.1))
    atoms.pbc = False
    with pytest.raises(ValueError, match="periodic"):
        LammpsSampler(pot, atoms)
