"""ThermodynamicIntegration and MeltingPoint jobs in a temporary pyiron project."""
import os

import numpy as np
import pytest

from conftest import PYIRON_ROOT

FAST = dict(equilibration_steps=600, spring_steps=300, switching_steps=800, switch_equilibration_steps=200, switching_doublings=0,
            melt_steps=800)


@pytest.fixture(scope="module")
def project():
    from pyiron_atomistics import Project
    import pyiron_mtp.jobs  # noqa: F401
    pr = Project(str(PYIRON_ROOT / "free_energy_jobs"))
    yield pr
    pr.remove(enable=True)


def fast(job, **changes):
    for k, v in {**FAST, **changes}.items():
        job.input[k] = v
    return job


def test_ti_job_eam_roundtrip(project):
    ti = fast(project.create.job.ThermodynamicIntegration("ti_eam_solid"))
    ti.set_potential("Cu_mishin1")
    ti.input.atoms = 108
    ti.input.repeats = 2
    ti.input.temperature = 500
    ti.input.tmax = 700
    ti.run()
    assert ti.status.finished
    from pyiron_atomistics import Project
    again = Project(project.path).load("ti_eam_solid")
    g = np.asarray(again.output.free_energy)
    t = np.asarray(again.output.temperatures)
    assert t[0] == 500 and t[-1] == 700 and g[0] == pytest.approx(-3.6449, abs=0.01)
    assert np.all(np.isfinite(again.output.free_energy_error))
    assert again.output.volume == pytest.approx(12.1, abs=0.1)
    assert sorted(again.output.repetitions.keys()) == ["rep0", "rep1"]
    assert again.output.repetitions["rep1"]["seed"] == 12445
    assert len(np.asarray(again.output.repetitions["rep0"]["integrand_forward"])) > 10
    axes = again.plot()
    assert len(axes) == 2


def test_ti_job_with_an_mtp_job_monitors_grades(project):
    from pyiron_mtp.demo import emt_copper
    fit = project.create.job.MTPTraining("fit_for_ti")
    fit.add_structures(emt_copper(16, seed=2, repeat=(2, 2, 2)))
    fit.input.level = 8
    fit.input.max_dist = 4.5
    fit.input.max_iter = 20
    fit.run()
    ti = fast(project.create.job.ThermodynamicIntegration("ti_mtp"))
    ti.set_potential(fit)
    ti.input.atoms = 32
    ti.input.repeats = 1
    ti.input.temperature = 400
    ti.run()
    assert ti.status.finished
    assert ti.output.max_grade is not None and ti.output.max_grade > 0
    assert np.isfinite(ti.output.free_energy)


def test_ti_job_restarts_after_a_kill(project, tmp_path):
    """SIGKILL while a stage runs; run(repair=True) continues without redoing finished stages."""
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "ti_kill.py"
    script.write_text(f"""
import sys
from pyiron_atomistics import Project
import pyiron_mtp.jobs
pr = Project(sys.argv[1])
ti = pr.create.job.ThermodynamicIntegration("ti_kill")
ti.set_potential("Cu_mishin1")
for k, v in {dict(FAST, switching_steps=6000)!r}.items():
    ti.input[k] = v
ti.input.atoms = 108
ti.input.repeats = 1
ti.run()
""")
    proc = subprocess.Popen([sys.executable, str(script), project.path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    done = os.path.join(project.path, "ti_kill_hdf5", "ti_kill", "rep0", "springs", "result.json")
    fl_log = os.path.join(project.path, "ti_kill_hdf5", "ti_kill", "rep0", "frenkel_ladd", "log.lammps")
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(done) and os.path.exists(fl_log):
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read()[-2000:]}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)      # the job and its LAMMPS run, as a queue would
        proc.wait()
    stamp = os.path.getmtime(done)
    ti = project.load("ti_kill")
    assert not ti.status.finished
    ti.run(repair=True)
    assert ti.status.finished and np.isfinite(ti.output.free_energy)
    assert os.path.getmtime(done) == stamp       # the finished spring-constant stage was not rerun


def test_melting_point_job_eam(project):
    mp = fast(project.create.job.MeltingPoint("tm_eam"), switching_steps=1500)
    mp.input.method = "free_energy"
    mp.set_potential("Cu_mishin1")
    mp.input.atoms = 108
    mp.input.repeats = 2
    mp.input.parallel = 2
    mp.input.guess = 1300
    mp.run()
    assert mp.status.finished
    tm, err = mp.output.melting_temperature, mp.output.melting_temperature_error
    # the EAM's T_m is 1285-1344 K (calphy, larger and longer runs); tiny and fast here
    assert 1150 < tm < 1500 and 0 < err < 150
    assert mp.output.latent_heat > 0.05     # eV/atom (Cu ~ 0.13)
    assert mp.output.solid.volume < mp.output.liquid.volume
    assert mp.plot() is not None


def test_melting_point_job_passes_the_error_target(project, monkeypatch):
    """input.target_error / input.max_repeats reach melting_point; bad values stop before the run."""
    from pyiron_mtp.jobs import free_energy as jobs_fe
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.coexistence import CoexistenceResult
    seen = {}

    def fake(pot, lattice, guess, **kw):
        seen.update(kw)
        coex = CoexistenceResult(1327.0, 5.0, 2000, "fcc", [{"outcome": "coexisting", "solid_fraction": 0.6}])
        lf = None if kw.get("liquid_size_check_atoms") is None else {
            "atoms": [500, kw["liquid_size_check_atoms"]], "correction": -2.5, "correction_error": 1.5}
        return melting.MeltingResult(1330.0, 3.0, 0.124, 9.3e-5, np.array([]), None, None, [], [], lattice=lattice,
                                     method=kw["method"], workdir=kw["workdir"], coexistence=coex,
                                     comparison=melting.compare_methods(1330.0, 3.0, coex), liquid_finite_size=lf)
    monkeypatch.setattr(jobs_fe, "melting_point", fake)
    mp = project.create.job.MeltingPoint("tm_target")
    mp.set_potential("Cu_mishin1")
    assert mp.input.target_error == 5.0 and mp.input.max_repeats == "auto"
    assert mp.input.liquid_size_check_atoms is None
    mp.input.target_error = 2.0
    mp.input.max_repeats = 9
    mp.input.liquid_size_check_atoms = 2000
    mp.run()
    assert mp.status.finished and mp.output.melting_temperature == 1330.0
    assert seen["target_error"] == 2.0 and seen["max_repeats"] == 9 and seen["liquid_size_check_atoms"] == 2000
    liquid = project.load("tm_target").output.liquid_finite_size
    assert list(liquid["atoms"]) == [500, 2000] and liquid["correction"] == -2.5
    # the two methods side by side in the job's HDF5
    again = project.load("tm_target").output.comparison
    assert again["coexistence_solid_atoms"] == 1200.0 and again["difference"] == pytest.approx(3.0)
    assert not again["significant"] and "differ by +3.0 K" in again["detail"]
    assert seen["solid_reference"] == "auto"
    for key, value, match in (("target_error", -1.0, "target_error"), ("max_repeats", 1, "max_repeats"),
                              ("liquid_size_check_atoms", 300, "must exceed the liquid"),
                              ("solid_reference", 0.0, "solid_reference must be")):
        bad = project.create.job.MeltingPoint(f"tm_bad_{key}")
        bad.set_potential("Cu_mishin1")
        bad.input.repeats = 3
        bad.input[key] = value
        with pytest.raises(ValueError, match=match):
            bad.validate_ready_to_run()
    mp = project.create.job.MeltingPoint("tm_no_target")
    mp.set_potential("Cu_mishin1")
    mp.input.target_error = None
    mp.run()
    assert seen["target_error"] is None and seen["max_repeats"] == 2 * mp.input.repeats    # "auto"


def test_melting_point_job_coexistence(project):
    """The interface method as a job: a small two-phase box from a start 8 % above T_m settles
    between the phases; every run is stored and read back from HDF5."""
    mp = fast(project.create.job.MeltingPoint("tm_coexistence"))
    mp.set_potential("Cu_mishin1")
    mp.input.method = "coexistence"
    mp.input.guess = 1430
    mp.input.coexistence_atoms = 1000
    mp.input.coexistence_steps = [3000, 2000, 1000, 16000]
    mp.input.coexistence_repeats = 2
    mp.input.parallel = 2
    mp.run()
    assert mp.status.finished
    from pyiron_atomistics import Project
    again = Project(project.path).load("tm_coexistence")
    tm = again.output.melting_temperature
    c = again.output.coexistence
    # Mishin 2001: 1327 K; a 1000-atom box and 16 ps: broad
    assert 1230 < tm < 1420 and tm == c["melting_temperature"] and 0 < c["melting_temperature_error"] < 80
    assert c["atoms"] == 1000 and len(c["runs"].list_groups()) >= 2
    assert c["runs"]["run0"]["start_temperature"] == 1430
    last = c["runs"][f"run{len(c['runs'].list_groups()) - 1}"]
    assert last["repeat"] == 1 and last["start_temperature"] < 1430
    assert np.isnan(again.output.latent_heat)
    with pytest.raises(ValueError, match="no free energies"):
        again.plot()


def test_ti_job_upsampling_to_a_reference_job(project):
    """Free-energy perturbation from an MTP to its reference, each snapshot a pyiron Lammps child job."""
    fit = project.load("fit_for_ti") if "fit_for_ti" in project.list_nodes() else None
    if fit is None:
        pytest.skip("needs the MTP of test_ti_job_with_an_mtp_job_monitors_grades")
    template = project.create.job.Lammps("eam_for_upsampling")
    template.structure = project.create.structure.bulk("Cu", cubic=True)
    template.potential = "Cu_mishin1"
    ti = fast(project.create.job.ThermodynamicIntegration("ti_upsampled"))
    ti.set_potential(fit)
    ti.input.grades = False
    ti.input.atoms = 32
    ti.input.repeats = 2
    ti.input.temperature = 400
    ti.set_reference(template)
    ti.input.upsample_snapshots = 5
    ti.input.upsample_interval = 50
    ti.run()
    assert ti.status.finished
    up = ti.output.upsampling
    assert up["samples"] == 5 and up["failures"] == 0
    children = [j for j in project.job_table(recursive=True).job if str(j).startswith("ref_")]
    assert len(children) >= 5
    # EMT-trained MTP vs the Mishin EAM: a real difference, consistent estimators
    assert abs(up["delta_f"]) > 1e-3
    assert ti.output.free_energy_reference == pytest.approx(ti.output.free_energy + up["delta_f"])
