"""VASP as the reference, through pyiron's own Vasp job and parser, with the stand-in executable
``tests/vasp_standin`` (EMT numbers written in VASP's OUTCAR/vasprun.xml formats)."""
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import PYIRON_ROOT

STANDIN = Path(__file__).resolve().parent / "vasp_standin"
GPA = 160.21766208


@pytest.fixture(scope="module")
def project():
    from pyiron_atomistics import Project
    from pyiron_base import state
    import pyiron_mtp.jobs  # noqa: F401  (registers the job classes)
    folder = str(STANDIN / "resources")
    if folder not in state.settings.resource_paths:
        state.settings.resource_paths.append(folder)
    os.environ["VASP_STANDIN_PYTHON"] = sys.executable
    pr = Project(str(PYIRON_ROOT / "vasp_reference"))
    yield pr
    pr.remove(enable=True)


@pytest.fixture
def control(tmp_path, monkeypatch):
    """Write the stand-in's control file; ``calls()`` reads how often it ran per formula."""
    path = tmp_path / "control.json"

    class Control:
        def set(self, **rules):
            path.write_text(json.dumps(rules))

        def calls(self):
            f = Path(str(path) + ".calls")
            return json.loads(f.read_text()) if f.exists() else {}

    monkeypatch.setenv("VASP_STANDIN_CONTROL", str(path))
    c = Control()
    c.set()
    return c


def cu_ag(seed=1, repeat=(2, 1, 1)):
    """A rattled, strained fcc Cu-Ag cell with interleaved species (pyiron sorts them for VASP)."""
    a = bulk("Cu", a=3.7, cubic=True).repeat(repeat)
    sym = np.array(a.get_chemical_symbols())
    sym[1::3] = "Ag"
    a.set_chemical_symbols(sym)
    a.rattle(0.05, seed=seed)
    a.set_cell(a.cell.array @ (np.eye(3) + 0.01 * np.array([[1, 0.5, 0], [0.5, -1, 0.2], [0, 0.2, 0.5]])),
               scale_atoms=True)
    return a


def emt(atoms):
    b = atoms.copy()
    b.calc = EMT()
    return b.get_potential_energy(), b.get_forces(), b.get_stress(voigt=False)


def template(pr, name, structure=None, mesh=(4, 4, 4), **incar):
    from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron
    job = pr.create.job.Vasp(name)
    job.structure = ase_to_pyiron(structure if structure is not None else bulk("Cu", a=3.7, cubic=True))
    job.set_kpoints(mesh=list(mesh))
    job.set_encut(300)
    job.input.incar["ISMEAR"] = 1
    job.input.incar["SIGMA"] = 0.1
    for k, v in incar.items():
        job.input.incar[k] = v
    return job


class _Master:
    """What PyironReferences needs of a workflow job: project, name, id, input."""

    def __init__(self, pr, name, tmpl, **settings):
        from pyiron_base import DataContainer
        from pyiron_mtp.jobs.common import save_reference_template
        self.project, self.job_name, self.job_id = pr, name, None
        self.input = DataContainer({})
        save_reference_template(self, tmpl, **settings)


def test_standin_job_read_in_our_units(project, control):
    """Energy = VASP's free energy (not E(sigma->0)), forces in the submitted order although pyiron
    sorts the atoms by species for VASP, stress from kBar with the sign flipped."""
    from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron
    from pyiron_mtp.jobs.references import read_step
    atoms = cu_ag()
    job = template(project, "single")
    job.structure = ase_to_pyiron(atoms)
    job.calc_static()
    job.run()
    assert job.status.finished
    job.decompress()
    poscar = (Path(job.working_directory) / "POSCAR").read_text().splitlines()
    assert poscar[5].split() == ["Ag", "Cu"] and poscar[6].split() == ["3", "5"]   # sorted for VASP
    assert np.any(np.asarray(job.sorted_indices) != np.arange(len(atoms)))
    e, f, s = read_step(job, -1, atoms=atoms)
    e_ref, f_ref, s_ref = emt(atoms)
    assert abs(e - e_ref) < 1e-6
    assert np.abs(f - f_ref).max() < 1e-6
    assert np.abs(s - s_ref).max() * GPA < 1e-4
    e0 = float(np.atleast_1d(job["output/generic/dft/energy_zero"])[-1])
    assert abs(e0 - e_ref) > 1e-3            # the stand-in's E(sigma->0) differs: we did not take it
    # the same structure submitted in another atom order: forces follow the submitted order
    perm = np.random.default_rng(0).permutation(len(atoms))
    e2, f2, s2 = read_step(job, -1, atoms=atoms[perm])
    assert abs(e2 - e) < 1e-12 and np.allclose(f2, f[perm]) and np.allclose(s2, s)
    moved = atoms.copy()
    moved.positions[0] += 0.1
    with pytest.raises(Exception, match="not the submitted one"):
        read_step(job, -1, atoms=moved)


def test_training_data_from_a_vasp_job(project):
    from pyiron_mtp.jobs.references import job_stresses
    job = project.load("single")
    s = job_stresses(job)[-1]
    atoms = cu_ag()
    assert np.abs(s - emt(atoms)[2]).max() * GPA < 1e-4
    tr = project.create.job.MTPTraining("train_from_vasp")
    tr.add_job(job)
    img = tr.training_images()[0]
    assert np.abs(img.get_stress(voigt=False) - emt(atoms)[2]).max() * GPA < 1e-4
    assert abs(img.get_potential_energy() - emt(atoms)[0]) < 1e-6


def test_kpoints_scaled_to_each_cell_and_server_copied(project, control):
    from pyiron_mtp.jobs.references import PyironReferences, kpoint_mesh, template_k_spacing
    tmpl = template(project, "kp_template", mesh=(4, 4, 4))
    tmpl.server.cores = 2
    spacing = template_k_spacing(tmpl)
    assert np.isclose(spacing, 2 * np.pi / 3.7 / 4)
    assert kpoint_mesh(bulk("Cu", a=3.7, cubic=True).repeat((2, 1, 3)).cell, spacing) == [2, 4, 1]
    assert kpoint_mesh(bulk("Cu", a=3.7, cubic=True).repeat((2, 1, 5)).cell / 1.02, spacing) == [2, 4, 1]
    master = _Master(project, "kp_master", tmpl)
    assert np.isclose(master.input.k_mesh_spacing, spacing)
    refs = PyironReferences(master)
    atoms = cu_ag(seed=2, repeat=(2, 1, 1))
    e, f, s = refs.submit(None, atoms).result()
    job = refs.finished_job(f"ref_{__import__('pyiron_mtp').on_the_fly.structure_key(atoms)}")
    assert job.get_kpoints() == [2, 4, 4]
    assert job.server.cores == 2
    job.decompress()
    kpoints = (Path(job.working_directory) / "KPOINTS").read_text().splitlines()
    assert [int(v) for v in kpoints[3].split()] == [2, 4, 4]
    assert abs(e - emt(atoms)[0]) < 1e-6
    # computed once: submitting the same structure again reads the finished job back
    refs.submit(None, atoms).result()
    assert sum(control.calls().values()) == 1
    with pytest.raises(ValueError, match="positive"):
        _Master(project, "kp_bad", template(project, "kp_bad_template"), k_mesh_spacing=-1)


def test_bad_dft_runs_are_reported_and_skipped(project, control, caplog):
    """Unconverged SCF, a crash (retried once), a run without forces, a magnetic run, no stress."""
    from pyiron_mtp.jobs.references import PyironReferences
    from pyiron_mtp.on_the_fly import ReferenceError
    master = _Master(project, "bad_master", template(project, "bad_template"))
    refs = PyironReferences(master)
    cells = {el: bulk(el, cubic=True) for el in ("Cu", "Ag", "Au", "Ni", "Pd")}
    control.set(unconverged=["Au4"], crash={"Cu4": 1, "Ag4": 5}, no_forces=["Ni4"])
    caplog.set_level(logging.WARNING)
    # crashed once, run again: a good result
    e, f, s = refs.submit(None, cells["Cu"]).result()
    assert abs(e - emt(cells["Cu"])[0]) < 1e-6 and control.calls()["Cu4"] == 2
    assert "running it again" in caplog.text
    # crashes every time: reported after two runs, not run a third time
    with pytest.raises(ReferenceError, match="failed 2 times.*crash"):
        refs.submit(None, cells["Ag"]).result()
    with pytest.raises(ReferenceError, match="not run again"):
        refs.submit(None, cells["Ag"]).result()
    assert control.calls()["Ag4"] == 2
    # electronic SCF not converged: final, never rerun
    for _ in range(2):
        with pytest.raises(ReferenceError, match="did not converge within NELM"):
            refs.submit(None, cells["Au"]).result()
    assert control.calls()["Au4"] == 1
    # no forces in the output
    with pytest.raises(ReferenceError, match="no forces"):
        refs.submit(None, cells["Ni"]).result()
    # spin-polarised while the MTP expects no magnetism; accepted when asked for
    mag = _Master(project, "mag_master", template(project, "mag_template", ISPIN=2))
    with pytest.raises(ReferenceError, match="spin-polarised"):
        PyironReferences(mag).submit(None, cells["Pd"]).result()
    mag_ok = _Master(project, "mag_ok_master", template(project, "mag_ok_template", ISPIN=2), magnetic=True)
    e, f, s = PyironReferences(mag_ok).submit(None, cells["Pd"]).result()
    assert abs(e - emt(cells["Pd"])[0]) < 1e-6
    # ISIF = 0: no stress written; energy and forces kept, stress left out (not zero)
    nostress = _Master(project, "isif0_master", template(project, "isif0_template", ISIF=0))
    atoms = cu_ag(seed=3)
    e, f, s = PyironReferences(nostress).submit(None, atoms).result()
    assert s is None and np.abs(f - emt(atoms)[1]).max() < 1e-6
    assert "no stress" in caplog.text


def test_active_learning_with_a_vasp_template(project, control):
    """The full loop with VASP child jobs: the training data are the stand-in's numbers."""
    al = project.create.job.ActiveLearningMD("al_vasp")
    al.add_start(cu_ag(seed=4, repeat=(2, 1, 1)))
    al.set_reference(template(project, "al_template", mesh=(4, 4, 4)))
    al.input.level = 6
    al.input.max_dist = 4.5
    al.input.md_temperature = 300.0
    al.input.md_steps = 40
    al.input.max_iterations = 3
    al.input.train_iter = 20
    al.input.n_initial = 2
    al.input.rattle = 0.08
    al.run()
    assert al.status.finished
    images = al.training_images()
    assert len(images) == al.output.reference_calls == sum(control.calls().values())
    for img in images:
        e, f, s = emt(img)
        assert abs(img.get_potential_energy() - e) < 1e-6
        assert np.abs(img.get_forces() - f).max() < 1e-6
        assert np.abs(img.get_stress(voigt=False) - s).max() * GPA < 1e-4
    children = [j for j in project.job_table(recursive=True).job if str(j).startswith("ref_")]
    assert len(children) >= len(images)


def test_hull_screen_with_a_vasp_template(project, control):
    """ConvexHullScreen with VASP child jobs: single points and relaxations (IBRION = 2, ISIF = 3)
    through pyiron's Vasp; the hull's vertices carry the stand-in's (EMT) energies."""
    hull = project.create.job.ConvexHullScreen("cuag_vasp")
    hull.input.elements = ["Cu", "Ag"]
    hull.input.lattices = ["fcc"]
    hull.input.max_atoms = 2
    hull.input.level = 6
    hull.input.train_iter = 20
    hull.input.fmax = 0.03
    hull.input.max_rounds = 4
    hull.set_reference(template(project, "hull_template", structure=bulk("Cu", a=3.7), mesh=(6, 6, 6)))
    hull.run()
    assert hull.status.finished
    calls = hull.output.reference_calls
    assert calls["total"] > 0 and calls["final"] > 0
    assert sum(control.calls().values()) > 0
    print("reference calls", dict(calls), "stand-in runs", sum(control.calls().values()))
    vertices = hull.vertices()
    assert {"Cu", "Ag"} <= {v["formula"] for v in vertices}
    relaxed = [j for j in project.job_table(recursive=True).job if str(j).startswith("relax_")]
    assert relaxed
    job = project.open("cuag_vasp_references").load(relaxed[0])
    assert int(job.input.incar["IBRION"]) == 2 and len(job.output.energy_pot) >= 1
    # every stored reference equals the stand-in's number for its structure
    images = hull.reference_images()
    assert len(images) == calls["total"]
    for img in images[:6]:
        assert abs(img.get_potential_energy() - emt(img)[0]) < 1e-6


def test_upsampling_with_a_vasp_template(project, control):
    """Free-energy perturbation MTP -> VASP: each snapshot a Vasp child job (stand-in: EMT)."""
    from pyiron_mtp.demo import emt_copper
    fit = project.create.job.MTPTraining("fit_for_upsampling")
    fit.add_structures(emt_copper(12, seed=3, repeat=(2, 2, 2)))
    fit.input.level = 6
    fit.input.max_dist = 4.5
    fit.input.max_iter = 20
    fit.run()
    ti = project.create.job.ThermodynamicIntegration("ti_vasp_upsampled")
    for k, v in dict(equilibration_steps=400, spring_steps=200, switching_steps=500, switching_doublings=0,
                     switch_equilibration_steps=100, melt_steps=500).items():
        ti.input[k] = v
    ti.set_potential(fit)
    ti.input.grades = False
    ti.input.atoms = 32
    ti.input.repeats = 1
    ti.input.temperature = 300
    ti.set_reference(template(project, "upsampling_template", structure=bulk("Cu", a=3.6, cubic=True),
                              mesh=(4, 4, 4)))
    ti.input.upsample_snapshots = 3
    ti.input.upsample_interval = 50
    ti.run()
    assert ti.status.finished
    up = ti.output.upsampling
    assert up["samples"] == 3 and up["failures"] == 0
    assert sum(control.calls().values()) == 3
    refs = project.open("ti_vasp_upsampled_references")
    job = refs.load(refs.job_table().job.iloc[0])
    assert job.get_kpoints() == [2, 2, 2]           # 32 atoms: a 2x2x2 cubic cell, density kept
    assert ti.output.free_energy_reference == pytest.approx(ti.output.free_energy + up["delta_f"])
