import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyiron_mtp.cfg import CFGError, read_cfg, write_cfg
from conftest import data_file


def test_read_train_cfg_units():
    frames = read_cfg(data_file("emt_cu", "train.cfg"), species=["Cu"])
    assert len(frames) == 200 and sum(len(a) for a in frames) == 13000
    a = frames[0]
    assert a.get_chemical_symbols()[0] == "Cu" and a.pbc.all()
    assert a.get_potential_energy() == pytest.approx(1.7314088965)
    plus = np.array([9.57717641, 10.87456446, 8.44882208, 2.23850517, -0.03996468, -8.11292651])
    assert np.allclose(a.get_stress(), -plus / a.get_volume())
    assert a.info["features"]["EFS_by"] == "ASE_EMT"
    # EMT reproduces the stored data, which fixes the sign and order conventions
    b = a.copy()
    b.calc = EMT()
    assert np.allclose(b.get_forces(), a.get_forces(), atol=1e-7)
    assert np.allclose(b.get_stress(), a.get_stress(), atol=1e-7)


def test_roundtrip_two_species(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    atoms.symbols[[1, 4, 6]] = "Ag"
    atoms.rattle(0.1, seed=1)
    atoms.calc = EMT()
    atoms.get_stress()
    atoms.info["features"] = {"source": "test"}
    write_cfg(tmp_path / "x.cfg", [atoms, atoms], species=["Cu", "Ag"], grades=[1.5, 3.0])
    back = read_cfg(tmp_path / "x.cfg", species=["Cu", "Ag"])
    assert len(back) == 2
    b = back[1]
    assert b.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(b.positions, atoms.positions, atol=1e-9)
    assert np.allclose(b.cell.array, atoms.cell.array, atol=1e-9)
    assert b.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    assert np.allclose(b.get_forces(), atoms.get_forces(), atol=1e-8)
    assert np.allclose(b.get_stress(), atoms.get_stress(), atol=1e-9)
    assert b.info["features"] == {"source": "test", "MV_grade": "3.000000e+00"}
    # types without names come back as placeholder elements, keeping the types
    anon = read_cfg(tmp_path / "x.cfg")
    assert list(anon[0].arrays["mlip_type"][:2]) == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("BEGIN_CFG\n Size\n 2\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 0\nEND_CFG\n", r":\d+: expected 5 columns|expected 2 atom lines"),
    ("BEGIN_CFG\n Size\n 1\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 zero\nEND_CFG\n", r":5: expected numbers"),
    ("BEGIN_CFG\n Size\n 1\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 0\n", r":1: configuration is not closed"),
    ("BEGIN_CFG\n Size\n 1\n AtomData: id type cartes_x cartes_y cartes_z\n 1 3 0 0 0\nEND_CFG\n", r"type\(s\) \[3\] not covered"),
    ("hello\n", r":1: expected BEGIN_CFG"),
    ("BEGIN_CFG\n Size\n 1\n Supercell\n 5 0 0\n 0 5 0\n 0 0 5\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 0\n PlusStress: xx yy zz yz xz xy\n 1 2 3\nEND_CFG\n", r":\d+: expected 6 numbers"),
    ("BEGIN_CFG\n Size\n 1\n Bogus\nEND_CFG\n", r"unknown entry 'Bogus'"),
])
def test_malformed_cfg(tmp_path, text, message):
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(CFGError, match=message) as info:
        read_cfg(path, species=["Cu"])
    assert str(path) in str(info.value)
