import os
import tempfile
from pathlib import Path

# pyiron: a throw-away database and project root for the whole test session, set before
# anything imports pyiron_base (which would otherwise create ~/pyiron.db)
_PYIRON_TMP = tempfile.mkdtemp(prefix="pyiron_mtp_tests_")
os.environ.setdefault("PYIRONSQLFILE", os.path.join(_PYIRON_TMP, "pyiron.db"))
os.environ.setdefault("PYIRONPROJECTPATHS", _PYIRON_TMP)
os.environ.setdefault("PYIRONRESOURCEPATHS", _PYIRON_TMP)
os.environ.setdefault("PYIRONPROJECTCHECKENABLED", "False")
PYIRON_ROOT = Path(os.environ["PYIRONPROJECTPATHS"])

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PYIRON_MTP_DATA", ROOT.parent / "shared" / "data"))


def data_file(*parts):
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} not available (set PYIRON_MTP_DATA)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_potential(level, species, min_dist=1.8, max_dist=4.5, seed=0, scale=0.05):
    """A level-N MTP with random (reproducible) coefficients."""
    from pyiron_mtp import MTP
    pot = MTP.from_level(level, species, min_dist, max_dist)
    r = np.random.default_rng(seed)
    pot.radial_coeffs = r.normal(size=pot.radial_coeffs.shape)
    pot.moment_coeffs = r.normal(size=pot.n_basis) * scale
    pot.species_coeffs = r.normal(size=pot.species_count)
    pot.scaling = 0.7
    pot.trained = True
    return pot


def alloy(seed=0, repeat=(2, 2, 2), a=3.6, strain=0.05, rattle=0.15):
    """A strained, rattled fcc Cu-Ag random alloy (about 40 % Ag), reproducible by seed."""
    from ase.build import bulk
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    r = np.random.default_rng(seed)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + r.uniform(-strain, strain, (3, 3))), scale_atoms=True)
    atoms.rattle(rattle, seed=seed)
    sym = np.array(atoms.get_chemical_symbols())
    sym[r.random(len(atoms)) < 0.4] = "Ag"
    atoms.set_chemical_symbols(sym)
    return atoms
