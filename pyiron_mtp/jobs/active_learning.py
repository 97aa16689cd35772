"""ActiveLearningMD: learning an MTP on the fly in a pyiron project.

The loop is :class:`pyiron_mtp.on_the_fly.LearningOnTheFly`; every reference
calculation runs as a pyiron job copied from a template job (Lammps, Vasp, Gpaw,
...), linked to this job as its master, so it shows in the job table and follows
the template's ``server`` settings (cores, queue).  Reference jobs are named by
the structure they compute, so a restarted job finds finished references and
never recomputes them; the loop's own state lives in the working directory.
"""
from __future__ import annotations

import logging

import numpy as np
from pyiron_atomistics.atomistics.structure.atoms import pyiron_to_ase
from pyiron_atomistics.atomistics.structure.structurestorage import StructureStorage
from pyiron_base import DataContainer, PythonTemplateJob

from ..on_the_fly import LammpsProtocol, LearningOnTheFly, MDProtocol
from ..potential import MTP
from .common import PotentialOutput, add_labelled, finish, labelled_images, save_reference_template, to_pyiron
from .references import PyironReferences

__all__ = ["ActiveLearningMD"]



log = logging.getLogger(__name__)


class ActiveLearningMD(PotentialOutput, PythonTemplateJob):
    """Learn an MTP on the fly while it runs MD, with pyiron jobs as the reference.

    >>> al = pr.create.job.ActiveLearningMD("al")
    >>> al.add_start(pr.create.structure.bulk("Cu", cubic=True).repeat(3))
    >>> al.set_reference(lammps_template)         # any atomistic job, not run yet
    >>> al.input.md_temperature = [300, 1500]
    >>> al.run()
    >>> al.potential, al.output.log
    """

    def __init__(self, project, job_name):
        super().__init__(project, job_name)
        self.input.level = 16
        self.input.species = None
        self.input.min_dist = 2.0
        self.input.max_dist = 5.0
        self.input.select_threshold = 2.0
        self.input.break_threshold = 10.0
        self.input.max_iterations = 20
        self.input.max_selected = 10
        self.input.train_iter = 60
        self.input.mode = "configuration"
        self.input.n_initial = 4
        self.input.rattle = 0.05
        self.input.seed = 0
        self.input.reference_job = None
        self.input.initial_potential = None   # name of a finished MTPTraining job
        self.input.baseline = "auto"          # "auto"/"zbl": ZBL repulsion below the data (follows the data); None: none
        # sampling: "ase" (ASE integrators) or "lammps" (LAMMPS with pair style mtp and its grades,
        # on md_cores MPI ranks); K, GPa, fs
        self.input.md_sampler = "ase"
        self.input.md_cores = 1
        self.input.md_ensemble = "nvt"
        self.input.md_temperature = 300.0     # or [start, end]
        self.input.md_pressure = 0.0
        self.input.md_steps = 1000
        self.input.md_timestep = 2.0
        self._starts = StructureStorage()

    def add_start(self, structure):
        """A starting structure of the sampling (ASE or pyiron Atoms)."""
        self._starts.add_structure(to_pyiron(structure), identifier=str(len(self._starts)))

    def set_reference(self, job, k_mesh_spacing=None, magnetic=False):
        """The template of the reference calculations (saved, never run itself); each calculation is
        a copy of it as a child job.  DFT templates: k-points scaled to each cell at the template's
        density or ``k_mesh_spacing`` (A^-1 incl. 2 pi); ``magnetic=True`` accepts spin-polarised
        results (see :func:`pyiron_mtp.jobs.common.save_reference_template`)."""
        save_reference_template(self, job, k_mesh_spacing, magnetic)

    def validate_ready_to_run(self):
        if len(self._starts) == 0:
            raise ValueError("no starting structure: add_start(structure)")
        if not self.input.reference_job:
            raise ValueError("no reference: set_reference(job)")

    def _protocol(self):
        i = self.input
        temp = i.md_temperature
        temp = tuple(float(t) for t in temp) if isinstance(temp, (list, tuple, np.ndarray)) else float(temp)
        kwargs = dict(ensemble=i.md_ensemble, temperature=temp, pressure=float(i.md_pressure),
                      steps=int(i.md_steps), timestep=float(i.md_timestep))
        if i.md_sampler == "lammps":
            return LammpsProtocol(cores=int(i.get("md_cores", 1)), **kwargs)
        if i.md_sampler != "ase":
            raise ValueError(f"input.md_sampler must be 'ase' or 'lammps', got {i.md_sampler!r}")
        return MDProtocol(**kwargs)

    def run_static(self):
        starts = [pyiron_to_ase(self._starts.get_structure(k)) for k in range(len(self._starts))]
        species = list(self.input.species) if self.input.species else sorted(
            {s for a in starts for s in a.get_chemical_symbols()})
        if self.input.initial_potential:
            pot = self.project.load(self.input.initial_potential).potential
        else:
            pot = MTP.from_level(self.input.level, species, self.input.min_dist, self.input.max_dist)
            if str(self.input.get("baseline", "auto")).lower() == "zbl":
                pot.make_safe(self.input.min_dist, "zbl")
        otf = LearningOnTheFly(
            pot, None, starts, self._protocol(), species=species,
            select_threshold=self.input.select_threshold, break_threshold=self.input.break_threshold,
            max_iterations=self.input.max_iterations, max_selected=self.input.max_selected,
            mode=self.input.mode, workdir=self.working_directory, executor=PyironReferences(self),
            train_iter=self.input.train_iter, n_initial=self.input.n_initial, rattle=self.input.rattle,
            seed=self.input.seed, baseline=None if self.input.get("baseline", "auto") is None else "auto")
        otf.run(progress=False)
        self._store_output(otf)
        finish(self)

    def _store_output(self, otf):
        self._store_potential(otf.pot)
        keys = [k for k in otf.log[0] if k != "training_rmse"] if otf.log else []
        self.output.log = DataContainer({k: np.array([row[k] for row in otf.log]) for k in keys})
        self.output.converged = bool(otf.converged)
        self.output.reference_calls = int(otf.reference_calls)
        self.output.reference_failures = int(otf.reference_failures)
        runs = otf.trajectories
        lengths = [len(t["grades"]) for t in runs]
        self.output.trajectory_grades = DataContainer({
            "iteration": np.repeat([t["iteration"] for t in runs], lengths).astype(int),
            "start": np.repeat([t["start"] for t in runs], lengths).astype(int),
            "step": np.concatenate([np.arange(n) for n in lengths]).astype(int) if runs else np.zeros(0, int),
            "grade": np.concatenate([t["grades"] for t in runs]) if runs else np.zeros(0),
        })
        store = StructureStorage()
        for a in otf.training:
            r = a.calc.results
            add_labelled(store, a, r["energy"], r["forces"], r.get("stress"),
                         selected_grade=float(a.info.get("selected_grade", np.nan)),
                         selected_iteration=int(a.info.get("selected_iteration", -1)))
        self._selected = store

    def trajectory_grades(self, iteration=None, start=0):
        """Extrapolation grade at every graded MD step: ``{iteration: array}`` or one array."""
        if "trajectory_grades" not in self.output:
            raise ValueError(f"job {self.job_name} has no results yet (status {self.status})")
        t = self.output.trajectory_grades
        it, st, g = (np.asarray(t[k]) for k in ("iteration", "start", "grade"))
        runs = {int(i): g[(it == i) & (st == start)] for i in np.unique(it)}
        return runs if iteration is None else runs[int(iteration)]

    def selected_grades(self):
        """(iteration, grade) of every selected structure; the initial ones are left out."""
        store = self._selected
        it = np.asarray(store.get_array("selected_iteration"))
        g = np.asarray(store.get_array("selected_grade"))
        keep = it >= 0
        return it[keep], g[keep]

    def plot_grades(self, ax=None, start=0):
        """Grade along each iteration's trajectory (log scale) with the select and break thresholds."""
        from ..plots import pyplot
        plt = pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        runs = self.trajectory_grades(start=start)
        cmap = plt.get_cmap("viridis")
        for n, (it, g) in enumerate(runs.items()):
            ax.plot(np.arange(len(g)), np.maximum(g, 1e-3), color=cmap(n / max(1, len(runs) - 1)), lw=1,
                    label=f"iteration {it}" if n in (0, len(runs) - 1) else None)
        ax.axhline(self.input.select_threshold, color="tab:orange", ls="--", label="select")
        ax.axhline(self.input.break_threshold, color="tab:red", ls="--", label="break")
        ax.set_yscale("log")
        ax.set_xlabel("graded MD step")
        ax.set_ylabel("extrapolation grade γ")
        ax.legend(fontsize="small")
        return ax

    def training_images(self):
        """Every computed reference structure with its energy, forces and stress."""
        return labelled_images(getattr(self, "_selected", None))

    def to_hdf(self, hdf=None, group_name=None):
        super().to_hdf(hdf=hdf, group_name=group_name)
        self._starts.to_hdf(self.project_hdf5, "starts")
        if getattr(self, "_selected", None) is not None:
            self._selected.to_hdf(self.project_hdf5, "training_data")

    def from_hdf(self, hdf=None, group_name=None):
        super().from_hdf(hdf=hdf, group_name=group_name)
        groups = self.project_hdf5.list_groups()
        if "starts" in groups:
            self._starts = StructureStorage()
            self._starts.from_hdf(self.project_hdf5, "starts")
        if "training_data" in groups:
            self._selected = StructureStorage()
            self._selected.from_hdf(self.project_hdf5, "training_data")
