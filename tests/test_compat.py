"""Agreement with the published MLIP potentials of the mlearn benchmark."""
import ase.io
import numpy as np
import pytest

from pyiron_mtp import MTP, MTPCalculator
from conftest import data_file

# independent evaluation of the published models on the mlearn test sets
PUBLISHED = {"Li": (0.66, 0.0132), "Si": (3.03, 0.0881)}


@pytest.mark.parametrize("element", ["Li", "Si"])
def test_published_rmse(element):
    pot = MTP.from_file(data_file("mlearn", "published_mtp", f"{element}.mtp"), species=[element])
    frames = ase.io.read(data_file("mlearn", f"{element}_test.extxyz"), ":")
    calc = MTPCalculator(pot)
    de, df = [], []
    for atoms in frames:
        e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - e0) / len(atoms))
        df.append((atoms.get_forces() - f0).ravel())
    e_rmse = 1000 * np.sqrt(np.mean(np.square(de)))
    f_rmse = np.sqrt(np.mean(np.square(np.concatenate(df))))
    e_ref, f_ref = PUBLISHED[element]
    assert e_rmse == pytest.approx(e_ref, rel=0.005)
    assert f_rmse == pytest.approx(f_ref, rel=0.005)
