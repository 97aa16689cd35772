import os
from pathlib import Path

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
