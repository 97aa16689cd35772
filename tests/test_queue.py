"""Jobs on a queue: pyiron's ``server.queue`` through pysqa, with stand-ins for SLURM's
``sbatch``/``squeue``/``scancel`` (tests/stub_slurm) that run the batch script at once."""
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import PYIRON_ROOT

STUB = Path(__file__).resolve().parent / "stub_slurm"


@pytest.fixture(scope="module")
def queue_project(tmp_path_factory):
    if shutil.which("bash") is None:
        pytest.skip("the stub SLURM commands need bash")
    from pyiron_base import Project, state
    from pyiron_base.state.queue_adapter import queue_adapters
    import pyiron_mtp.jobs  # noqa: F401
    from pyiron_mtp.jobs.resources import lammps_share_folder, resource_folder
    saved = {k: os.environ.get(k) for k in ("PATH", "STUB_SLURM_DIR", "PYIRONRESOURCEPATHS")}
    # the batch script calls `python`: this interpreter's environment, as an activated venv would
    os.environ["PATH"] = os.pathsep.join([str(STUB / "bin"), os.path.dirname(sys.executable), os.environ["PATH"]])
    os.environ["STUB_SLURM_DIR"] = str(tmp_path_factory.mktemp("slurm_jobs"))
    # the batch jobs start new Python processes: they find the queue, LAMMPS scripts and EAM files here
    paths = [p for p in (os.environ.get("PYIRONRESOURCEPATHS"), resource_folder(), lammps_share_folder(), STUB) if p]
    os.environ["PYIRONRESOURCEPATHS"] = os.pathsep.join(str(p) for p in paths)
    state.settings.resource_paths.append(str(STUB))
    queue_adapters.update()
    assert state.queue_adapter is not None and "stub" in state.queue_adapter.queue_list
    pr = Project(str(PYIRON_ROOT / "mtp_queue"))
    yield pr
    pr.remove(enable=True)
    state.settings.resource_paths.remove(str(STUB))
    queue_adapters.update()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_training_job_through_the_queue(queue_project):
    from pyiron_mtp.demo import emt_copper
    fit = queue_project.create.job.MTPTraining("fit_on_queue")
    fit.add_structures(emt_copper(12, seed=3))
    fit.input.level = 6
    fit.input.max_iter = 10
    fit.server.queue = "stub"
    fit.run()
    assert fit.server.queue_id is not None
    queue_project.wait_for_job(fit, interval_in_s=0.5, max_iterations=240)
    from pyiron_mtp.jobs.common import load_when_readable
    again = load_when_readable(queue_project, "fit_on_queue")
    assert again.status.finished, again.status
    assert again.server.queue == "stub"
    assert np.isfinite(again.output.training_errors["force_rmse"])


def test_active_learning_references_on_the_queue(queue_project):
    from pyiron_atomistics import Project as AtomisticProject
    pr = AtomisticProject(queue_project.path)
    template = pr.create.job.Lammps("queued_eam")
    template.structure = pr.create.structure.bulk("Cu", cubic=True)
    template.potential = "Cu_mishin1"
    template.server.queue = "stub"
    al = pr.create.job.ActiveLearningMD("al_queue")
    al.add_start(pr.create.structure.bulk("Cu", a=3.615, cubic=True).repeat(2))
    al.set_reference(template)
    al.input.level = 6
    al.input.max_dist = 4.5
    al.input.md_steps = 40
    al.input.max_iterations = 2
    al.input.max_selected = 3
    al.input.train_iter = 20
    al.input.n_initial = 3
    al.run()
    assert al.status.finished
    refs = [pr.load(name) for name in pr.job_table(recursive=True).job if name.startswith("ref_")]
    assert len(refs) == al.output.reference_calls >= 4
    for job in refs:  # every reference went through the queue and finished there
        assert job.status.finished and job.server.queue == "stub" and job.server.queue_id is not None
        assert job.master_id == al.job_id
    images = al.training_images()
    assert len(images) == len(refs) and all(np.isfinite(a.get_potential_energy()) for a in images)
