"""The main example: learn a Cu MTP on the fly in a pyiron project, LAMMPS EAM as reference.

Outside the ``jobs`` package on purpose: the database settings must be in place before
pyiron is imported."""
from __future__ import annotations

import os
import time
from pathlib import Path


def run(folder="pyiron_mtp_demo", level=10, steps=200, temperature=(300.0, 900.0), max_iterations=80):
    """Create the project in ``folder``, run ActiveLearningMD, test on fresh reference MD.

    Uses a database file inside ``folder`` unless pyiron is configured (PYIRON* variables
    or ~/.pyiron).  Returns the test error report.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    configured = any(k.startswith("PYIRON") for k in os.environ) or Path("~/.pyiron").expanduser().exists()
    if not configured:
        os.environ["PYIRONSQLFILE"] = str(folder / "pyiron.db")
        os.environ["PYIRONPROJECTPATHS"] = str(folder)
        os.environ["PYIRONPROJECTCHECKENABLED"] = "False"
    from pyiron_atomistics import Project

    import pyiron_mtp.jobs  # noqa: F401  (job classes and resources)
    from .plots import parity_plot
    from .training import error_report

    t0 = time.perf_counter()
    pr = Project(str(folder / "cu_active_learning"))
    template = pr.create.job.Lammps("eam_reference")
    template.structure = pr.create.structure.bulk("Cu", cubic=True)
    template.potential = "Cu_mishin1"
    al = pr.create.job.ActiveLearningMD("learn_cu")
    if al.status.finished:
        print(f"{al.job_name} already finished in {pr.path}; showing its results")
    else:
        al.add_start(pr.create.structure.bulk("Cu", a=3.615, cubic=True).repeat(2))
        al.set_reference(template)
        al.input.level = level
        al.input.max_dist = 5.0
        al.input.md_temperature = list(temperature)
        al.input.md_steps = steps
        al.input.max_iterations = max_iterations
        al.input.train_iter = 40
        al.input.rattle = 0.1
        print(f"learning on the fly: {al.input.md_ensemble.upper()} MD {temperature[0]:.0f} -> "
              f"{temperature[1]:.0f} K, {steps} steps, Cu_mishin1 (LAMMPS) as reference ...")
        al.run()
    # fresh reference MD for testing
    test_md = pr.create.job.Lammps("eam_test_md")
    if not test_md.status.finished:
        test_md.structure = pr.create.structure.bulk("Cu", a=3.615, cubic=True).repeat(2)
        test_md.potential = "Cu_mishin1"
        test_md.calc_md(temperature=temperature[1], n_ionic_steps=2000, n_print=50, seed=4321)
        test_md.run()
    fit = pr.create.job.MTPTraining("test_data")  # used as a container for the test structures
    fit.add_job(test_md)
    test_images = fit.training_images()[5:]       # skip the first, equilibrating frames
    rep = error_report(al.potential, test_images, per_structure=True)
    parity_plot(rep, "fresh reference MD", path=folder / "parity.png")
    al.plot_grades().figure.savefig(folder / "grades.png", dpi=120)
    log = al.output.log
    print(f"\n{al.potential}")
    print(f"iterations: {len(log['iteration'])}, converged: {al.output.converged}, "
          f"reference calculations: {al.output.reference_calls} (pyiron Lammps jobs)")
    print(f"test against {len(test_images)} fresh reference MD snapshots at {temperature[1]:.0f} K: "
          f"energy {rep['energy_rmse']:.3f} meV/atom, forces {rep['force_rmse']:.4f} eV/A, "
          f"stress {rep['stress_rmse']:.3f} GPa")
    print(f"project {pr.path} (job table: Project('{pr.path}').job_table()); plots {folder / 'parity.png'}, "
          f"{folder / 'grades.png'}; "
          f"{time.perf_counter() - t0:.0f} s")
    return rep
