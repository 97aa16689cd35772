"""pyiron job classes in a temporary project and database."""
import numpy as np
import pytest

from pyiron_mtp.demo import emt_copper
from conftest import PYIRON_ROOT, data_file


@pytest.fixture(scope="module")
def project():
    from pyiron_base import Project
    import pyiron_mtp.jobs  # noqa: F401  (registers the job classes)
    pr = Project(str(PYIRON_ROOT / "mtp_jobs"))
    yield pr
    pr.remove(enable=True)


class FakeAtomisticJob:
    """The slice of a finished pyiron atomistic job that MTPTraining reads."""

    class _Status:
        finished = True

    class _Output:
        pass

    def __init__(self, images, velocities=None):
        self.job_name = "fake_md"
        self.status = self._Status()
        self.output = self._Output()
        self.output.energy_pot = np.array([a.get_potential_energy() for a in images])
        self.output.forces = np.array([a.get_forces() for a in images])
        s = -np.array([a.get_stress(voigt=False) for a in images])   # virial pressure, eV/A^3
        if velocities is not None:  # an MD code reports the total pressure, kinetic part included
            self.output.velocities = velocities
            for k, a in enumerate(images):
                s[k] += np.einsum("i,ia,ib->ab", a.get_masses(), velocities[k], velocities[k]) * 103.642697 / a.get_volume()
        self.output.pressures = s * 160.21766208
        self._images = images

    def get_structure(self, k):
        from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron
        return ase_to_pyiron(self._images[k])


def test_mtp_training_job_roundtrip(project):
    data = emt_copper(12, seed=3)
    job = project.create.job.MTPTraining("fit")
    job.add_structures(data[:8])
    velocities = np.random.default_rng(0).normal(scale=0.01, size=(4, len(data[0]), 3))  # A/fs, ~700 K
    job.add_job(FakeAtomisticJob(data[8:], velocities), steps=[0, 2])
    assert job.number_of_structures == 10
    job.input.level = 8
    job.input.max_dist = 4.5
    job.input.max_iter = 15
    job.input.valid_fraction = 0.2
    job.run()
    assert job.status.finished
    pot = job.potential
    assert pot.trained and pot.species == ["Cu"]
    err = job.output.training_errors
    assert err["force_rmse"] < 0.1 and err["n_structures"] == 8
    assert job.output.validation_errors["n_structures"] == 2
    assert job.output.mtp_file.startswith("MTP\n")
    # the smallest Cu-Cu distance in the data, against which min_dist (taken from it) is no warning
    assert 2.0 < job.output.pair_min_distances["Cu-Cu"] < 2.6 and list(job.output.min_dist_warnings) == []
    # reload through the database in a fresh Project object
    from pyiron_base import Project
    again = Project(project.path).load("fit")
    assert np.array_equal(again.potential.parameters, pot.parameters)
    assert again.number_of_structures == 10
    images = again.training_images()
    assert images[9].get_potential_energy() == pytest.approx(data[10].get_potential_energy())
    assert np.allclose(images[9].get_stress(), data[10].get_stress(), atol=1e-10)
    a = data[11].copy()
    a.calc = again.calculator()
    assert np.isfinite(a.get_potential_energy())
    fig_parity, fig_curve = again.plot()
    assert fig_parity is not None and fig_curve is not None
    assert "fit" in list(project.job_table().job)


def test_mtp_training_job_errors(project):
    job = project.create.job.MTPTraining("empty")
    with pytest.raises(ValueError, match="no training data"):
        job.validate_ready_to_run()
    with pytest.raises(ValueError, match="NaN"):
        job.add_structure(emt_copper(1, seed=1)[0], energy=np.nan)
    with pytest.raises(ValueError, match="no potential"):
        job.potential


def test_mtp_training_from_cfg(project):
    job = project.create.job.MTPTraining("from_cfg")
    job.add_file(data_file("emt_cu", "test.cfg"), species=["Cu"])
    job.input.level = 6
    job.input.max_iter = 5
    job.run()
    assert job.output.training_errors["n_structures"] == 50


def test_training_from_a_lammps_job(project):
    from pyiron_atomistics import Project as AtomisticProject
    pr = AtomisticProject(project.path)
    lmp = pr.create.job.Lammps("eam_md")
    structure = pr.create.structure.bulk("Cu", cubic=True).repeat(2)
    structure.rattle(0.05)
    lmp.structure = structure
    lmp.potential = "Cu_mishin1"
    lmp.calc_md(temperature=600, n_ionic_steps=200, n_print=20)
    lmp.run()
    assert lmp.status.finished, lmp.status
    fit = project.create.job.MTPTraining("from_lammps")
    fit.add_job(lmp)
    assert fit.number_of_structures == len(lmp.output.energy_pot) >= 10
    fit.input.level = 8
    fit.input.max_iter = 10
    fit.run()
    assert fit.output.training_errors["force_rmse"] < 0.2


def test_active_learning_md_with_lammps_reference(project):
    from pyiron_atomistics import Project as AtomisticProject
    pr = AtomisticProject(project.path)
    template = pr.create.job.Lammps("eam_template")
    template.structure = pr.create.structure.bulk("Cu", cubic=True)
    template.potential = "Cu_mishin1"
    al = project.create.job.ActiveLearningMD("al")
    al.add_start(pr.create.structure.bulk("Cu", a=3.615, cubic=True).repeat(2))
    al.set_reference(template)
    al.input.level = 6
    al.input.max_dist = 4.5
    al.input.md_temperature = 300.0
    al.input.md_steps = 60
    al.input.max_iterations = 30
    al.input.train_iter = 30
    al.input.rattle = 0.1
    al.run()
    assert al.status.finished and al.output.converged
    n_calls = al.output.reference_calls
    children = [j for j in pr.job_table(recursive=True).job if str(j).startswith("ref_")]
    assert len(children) == n_calls == len(al.training_images())
    # reload in a fresh project object: same potential and data
    from pyiron_base import Project
    again = Project(project.path).load("al")
    assert np.array_equal(again.potential.parameters, al.potential.parameters)
    assert len(again.training_images()) == n_calls
    assert again.output.log["selected"][-1] == 0
    assert list(again.lammps_potential()["Species"][0]) == ["Cu"]
    # grades along every trajectory and of every selected structure
    by_iteration = again.trajectory_grades()
    assert sorted(by_iteration) == list(range(len(again.output.log["iteration"])))
    for it, g in by_iteration.items():
        assert len(g) > 0 and np.isclose(g.max(), again.output.log["max_grade"][it])
    sel_it, sel_grade = again.selected_grades()
    assert len(sel_it) == int(np.sum(again.output.log["selected"]))
    assert np.all(sel_grade > al.input.select_threshold)
    assert again.plot_grades() is not None
    # references from MD snapshots: stress without any kinetic part, consistent with a fresh static job
    last = again.training_images()[-1]
    check = pr.create.job.Lammps("stress_check")
    from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron
    check.structure = ase_to_pyiron(last)
    check.potential = "Cu_mishin1"
    check.calc_static()
    check.run()
    p = check.output.pressures[-1]
    direct = -np.array([p[0, 0], p[1, 1], p[2, 2], p[1, 2], p[0, 2], p[0, 1]]) / 160.21766208
    assert np.allclose(last.get_stress(), direct, atol=1e-6)


def test_lammps_job_with_a_trained_mtp(project):
    """fit.lammps_potential() runs an ordinary pyiron Lammps job (2 MPI ranks) with pair style mtp."""
    from pyiron_atomistics import Project as AtomisticProject
    from pyiron_atomistics.atomistics.structure.atoms import pyiron_to_ase
    pr = AtomisticProject(project.path)
    fit = project.create.job.MTPTraining("fit_for_lammps")
    fit.add_structures(emt_copper(12, seed=3))
    fit.input.level = 8
    fit.input.max_dist = 4.5
    fit.input.max_iter = 10
    fit.run()
    potential = fit.lammps_potential()
    assert list(potential["Species"][0]) == ["Cu"] and "pair_style mtp" in potential["Config"][0][0]
    structure = pr.create.structure.bulk("Cu", cubic=True).repeat(3)
    structure.rattle(0.05, seed=1)
    static = pr.create.job.Lammps("mtp_static")
    static.structure = structure
    static.potential = potential
    static.server.cores = 2
    static.calc_static()
    static.run()
    assert static.status.finished, static.status
    assert any("MPI processor grid" in line and "2" in line.split("MPI")[0] for line in static.files["log.lammps"].list())
    atoms = pyiron_to_ase(structure)
    ref = fit.potential.evaluate(atoms.positions, atoms.cell.array, True, np.zeros(len(atoms), int))
    assert static.output.energy_pot[-1] == pytest.approx(ref.energy, rel=1e-10)
    assert np.abs(static.output.forces[-1] - ref.forces).max() < 1e-8
    md = pr.create.job.Lammps("mtp_md")
    md.structure = structure
    md.potential = fit.lammps_potential()
    md.server.cores = 2
    md.calc_md(temperature=300, n_ionic_steps=200, n_print=50)
    md.run()
    assert md.status.finished and len(md.output.energy_pot) == 5


def test_import_registers_in_a_pyiron_session():
    import subprocess
    import sys
    code = ("import pyiron_mtp, sys; print('pyiron_base' in sys.modules); "
            "import pyiron_base; import importlib; importlib.reload(pyiron_mtp); "
            "from pyiron_base import JOB_CLASS_DICT; print('MTPTraining' in JOB_CLASS_DICT, "
            "'ActiveLearningMD' in JOB_CLASS_DICT)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True"]


def test_pyiron_demo_small(tmp_path, capsys):
    from pyiron_mtp.pyiron_demo import run
    rep = run(folder=tmp_path / "demo", level=6, steps=40, temperature=(300.0, 400.0), max_iterations=3)
    assert rep["n_structures"] > 10 and np.isfinite(rep["force_rmse"])
    assert (tmp_path / "demo" / "parity.png").exists() and (tmp_path / "demo" / "grades.png").exists()
    out = capsys.readouterr().out
    assert "reference calculations" in out and "test against" in out


_KILL_SCRIPT = """
import sys
from pyiron_atomistics import Project
import pyiron_mtp.jobs
pr = Project(sys.argv[1])
template = pr.create.job.Lammps("kill_template")
template.structure = pr.create.structure.bulk("Cu", cubic=True)
template.potential = "Cu_mishin1"
al = pr.create.job.ActiveLearningMD("al_kill")
al.add_start(pr.create.structure.bulk("Cu", a=3.615, cubic=True).repeat(2))
al.set_reference(template)
al.input.level = 6
al.input.max_dist = 4.5
al.input.md_temperature = [300.0, 900.0]
al.input.md_steps = 60
al.input.max_iterations = 6
al.input.train_iter = 20
al.input.max_selected = 3
al.run()
"""


def test_active_learning_md_restarts_after_a_kill(project, tmp_path):
    """SIGKILL during the loop, then ``run(repair=True)``: finished references are reused, not rerun."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pyiron_atomistics import Project as AtomisticProject
    pr = AtomisticProject(project.path + "kill")
    script = tmp_path / "al_kill.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), pr.path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    state = os.path.join(pr.path, "al_kill_hdf5", "al_kill", "state.json")
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(state) and json.load(open(state))["iteration"] >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read()[-2000:]}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    al = pr.load("al_kill")
    assert not al.status.finished
    done_before = json.load(open(state))
    table = pr.job_table(recursive=True)
    refs = table[table.job.str.startswith("ref_")]
    finished_before = dict(zip(refs[refs.status == "finished"].job, refs[refs.status == "finished"].id))
    assert len(finished_before) >= done_before["reference_calls"] > 0

    al.run(repair=True)
    assert al.status.finished
    table = pr.job_table(recursive=True)
    refs = table[table.job.str.startswith("ref_")]
    ids_after = dict(zip(refs.job, refs.id))
    # no finished reference was removed and computed again
    assert all(ids_after.get(name) == jid for name, jid in finished_before.items())
    assert (refs.status == "finished").all()
    assert len(refs) == al.output.reference_calls == len(al.training_images())
    log = al.output.log
    assert list(log["iteration"]) == list(range(len(log["iteration"])))
    assert len(log["iteration"]) > done_before["iteration"]
    pr.remove(enable=True)


def test_hdf5_write_flag_of_a_killed_writer_is_cleared(tmp_path):
    """A process killed while it had an HDF5 file open for writing leaves a flag that blocks
    every later open; clearing it (what ``h5clear -s`` does) makes the intact data readable."""
    import subprocess
    import sys
    import h5py
    from pyiron_mtp.jobs.hdf5_repair import clear_write_flag, lookup3
    # Bob Jenkins' published test vectors of lookup3's hashlittle
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161
    path = tmp_path / "killed.h5"
    code = ("import h5py, numpy as np, os, signal, sys; f = h5py.File(sys.argv[1], 'a', libver='latest'); "
            "f['x'] = np.arange(7.0); f.flush(); os.kill(os.getpid(), signal.SIGKILL)")
    subprocess.run([sys.executable, "-c", code, str(path)])
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")
    assert clear_write_flag(path) is True
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["x"][:], np.arange(7.0))
    assert clear_write_flag(path) is False
    (tmp_path / "not.h5").write_bytes(b"plain text, no HDF5")
    with pytest.raises(ValueError, match="no HDF5 superblock"):
        clear_write_flag(tmp_path / "not.h5")


def test_mtp_training_from_structure_storage(project):
    """pyiron's flattened structure storage as input: another fit's data and a hand-made one
    with 3x3 stresses and a structure without reference forces."""
    from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron
    from pyiron_atomistics.atomistics.structure.structurestorage import StructureStorage
    data = emt_copper(6, seed=5)
    first = project.create.job.MTPTraining("storage_source")
    first.add_structures(data)
    second = project.create.job.MTPTraining("storage_copy")
    second.add_storage(first._data)
    for a, b in zip(first.training_images(), second.training_images()):
        assert np.allclose(a.positions, b.positions) and a.get_potential_energy() == b.get_potential_energy()
        assert np.allclose(a.get_forces(), b.get_forces()) and np.allclose(a.get_stress(), b.get_stress())
    store = StructureStorage()
    for k, a in enumerate(data[:3]):
        forces = a.get_forces() if k else np.full((len(a), 3), np.nan)
        store.add_structure(ase_to_pyiron(a), identifier=f"s{k}", energy=a.get_potential_energy(),
                            forces=forces, stress=a.get_stress(voigt=False)[np.newaxis])
    third = project.create.job.MTPTraining("storage_3x3")
    third.add_storage(store)
    images = third.training_images()
    assert len(images) == 3 and np.allclose(images[1].get_stress(), data[1].get_stress())
    assert "forces" not in images[0].calc.results and np.allclose(images[2].get_forces(), data[2].get_forces())
    with pytest.raises(TypeError, match="StructureStorage"):
        third.add_storage([1, 2, 3])


def test_mtp_training_with_a_zbl_baseline(project):
    """MTPTraining's default: ZBL below the data; the potential keeps its core radius and baseline
    through HDF5 and the database, its errors are those of the whole model, and it repels below the
    data."""
    from pyiron_base import Project
    from pyiron_mtp.training import error_report
    data = emt_copper(10, seed=4)
    job = project.create.job.MTPTraining("fit_zbl")
    job.add_structures(data)
    job.input.level = 8
    job.input.max_dist = 4.5
    job.input.max_iter = 10
    assert job.input.baseline == "auto"
    job.run()
    again = Project(project.path).load("fit_zbl")
    pot = again.potential
    assert pot.baseline is not None and pot.baseline.atomic_numbers.tolist() == [29]
    assert pot.core_radius == pytest.approx(job.output.pair_min_distances["Cu-Cu"])
    assert pot.baseline.outer == pot.core_radius and pot.baseline.inner == pytest.approx(pot.core_radius - 0.5)
    assert again.output.training_errors["force_rmse"] == pytest.approx(error_report(pot, data)["force_rmse"])
    assert again.output.repulsion["Cu-Cu"]["repulsive"]
    assert "baseline = ZBL" in again.output.mtp_file
    from pyiron_mtp.free_energy.potential import LammpsPotential
    assert LammpsPotential.from_mtp(pot).core is None                  # no WCA core needed
    bare = pot.copy()
    bare.baseline = None
    assert LammpsPotential.from_mtp(bare).core == (pot.min_dist, 1.0)
