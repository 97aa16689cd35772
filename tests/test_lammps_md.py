import numpy as np
import pytest
from ase.build import bulk

from pyiron_mtp.active import ActiveSet
from pyiron_mtp.demo import emt_copper
from pyiron_mtp.lammps_md import LammpsMD, _lammps_cell
from pyiron_mtp.training import train


@pytest.fixture(scope="module")
def fitted():
    data = emt_copper(20, seed=5, repeat=(2, 2, 2))
    pot, _ = train(data, ["Cu"], level=10, max_dist=5.0, max_iter=30, progress=False)
    return pot, data


def test_lammps_cell_same_metric(rng):
    cell = np.eye(3) * 5 + rng.normal(scale=0.8, size=(3, 3))
    new, rot = _lammps_cell(cell)
    assert np.allclose(new @ new.T, cell @ cell.T)  # lengths and angles kept
    assert np.allclose(cell @ rot, new) and np.allclose(new[np.triu_indices(3, 1)], 0)


def test_nve_conserves_energy(fitted):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    md = LammpsMD(pot, atoms, ensemble="nve", temperature=300, steps=400, timestep=1.0, thermo_every=20)
    res = md.run()
    th = np.array(res.thermo)
    assert res.steps == 400 and md.evaluations == 401
    assert th[:, 1].mean() > 100  # atoms move: kinetic energy exchanged with potential energy
    assert np.ptp(th[:, 2]) > 0.1
    # total energy conserved: within 2 meV for 108 atoms over 400 fs (kinetic energy ~4 eV)
    assert np.abs(th[:, 3] - th[0, 3]).max() < 2e-3


def test_nvt_and_npt(fitted):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    res = LammpsMD(pot, atoms, ensemble="nvt", temperature=500, steps=600, thermo_every=20).run()
    temps = np.array(res.thermo)[10:, 1]
    assert 380 < temps.mean() < 620
    res = LammpsMD(pot, atoms, ensemble="npt", temperature=300, pressure=1.0, steps=200, thermo_every=50).run()
    assert res.steps == 200


def test_grade_monitoring_stops_run(fitted):
    pot, data = fitted
    aset = ActiveSet.build(pot, data[:5])
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    md = LammpsMD(pot, atoms, ensemble="nvt", temperature=(300, 3000), steps=2000, active_set=aset,
                  select_threshold=2.0, break_threshold=5.0, thermo_every=25)
    res = md.run()
    assert res.broke and res.steps < 2000
    assert res.max_grade > 5.0 and res.collected
    assert all(a.info["mtp_grade"] > 2.0 for a in res.collected)
    g = aset.grade(res.collected[-1])
    assert g == pytest.approx(res.collected[-1].info["mtp_grade"], rel=1e-8)


def test_bad_input(fitted):
    pot, _ = fitted
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    with pytest.raises(ValueError, match="ensemble"):
        LammpsMD(pot, atoms, ensemble="langevin")
    atoms.pbc = False
    with pytest.raises(ValueError, match="periodic"):
        LammpsMD(pot, atoms)
