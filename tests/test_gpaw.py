"""One active-learning iteration with pyiron's Gpaw job as the reference (real DFT, slow).

Needs GPAW and its PAW datasets:
    apt-get install libxc-dev libopenblas-dev libfftw3-dev gpaw-data
    pip install ".[gpaw]"
Run with ``python -m pytest -m slow tests/test_gpaw.py``.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import PYIRON_ROOT

pytestmark = pytest.mark.slow

INSTALL = ("apt-get install libxc-dev libopenblas-dev libfftw3-dev gpaw-data && pip install '.[gpaw]'")


def _gpaw_ready():
    try:
        import gpaw  # noqa: F401
    except Exception as exc:  # ImportError or a broken build
        pytest.skip(f"GPAW not usable ({exc}); install with: {INSTALL}")
    paths = [p for p in os.environ.get("GPAW_SETUP_PATH", "").split(os.pathsep) if p]
    paths += ["/usr/share/gpaw-setups", str(Path.home() / ".local/share/gpaw")]
    found = [p for p in paths if list(Path(p).glob("Al.PBE*"))]
    if not found:
        pytest.skip(f"no GPAW PAW dataset for Al (looked in {paths}); install the Debian package gpaw-data")
    os.environ["GPAW_SETUP_PATH"] = os.pathsep.join(found)


def test_one_iteration_with_gpaw_reference():
    _gpaw_ready()
    from pyiron_atomistics import Project
    import pyiron_mtp.jobs  # noqa: F401
    pr = Project(str(PYIRON_ROOT / "mtp_gpaw"))
    try:
        template = pr.create.job.Gpaw("gpaw_al")
        template.structure = pr.create.structure.bulk("Al", cubic=True)
        template.set_encut(250.0)
        template.set_kpoints([2, 2, 2])
        al = pr.create.job.ActiveLearningMD("al_gpaw")
        al.add_start(pr.create.structure.bulk("Al", a=4.04, cubic=True))
        al.set_reference(template)
        al.input.level = 4
        al.input.max_dist = 4.5
        al.input.min_dist = 2.0
        al.input.n_initial = 2
        al.input.rattle = 0.1
        al.input.md_temperature = 600.0
        al.input.md_steps = 20
        al.input.max_iterations = 1
        al.input.max_selected = 1
        al.input.train_iter = 10
        al.run()
        assert al.status.finished
        assert len(al.output.log["iteration"]) == 1
        images = al.training_images()
        assert len(images) == al.output.reference_calls >= 3
        # the stored references agree with a direct GPAW calculation (units of energy, forces, stress)
        from gpaw import GPAW, PW, MethfesselPaxton
        check = images[1].copy()
        check.calc = GPAW(mode=PW(250.0), xc="PBE", kpts=[2, 2, 2], occupations=MethfesselPaxton(width=0.1),
                          txt=None)
        assert np.isclose(check.get_potential_energy(), images[1].get_potential_energy(), atol=1e-4)
        assert np.allclose(check.get_forces(), images[1].get_forces(), atol=1e-3)
        assert np.abs(check.get_stress()).max() > 2e-3   # large enough to tell GPa from eV/A^3
        assert np.allclose(check.get_stress(), images[1].get_stress(), atol=1e-4)
        assert np.isfinite(al.potential.parameters).all()
    finally:
        pr.remove(enable=True)
