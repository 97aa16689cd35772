"""MTPTraining: fit an MTP inside a pyiron project.

Training data come from ASE or pyiron structures with reference results, from
``.cfg``/extxyz files, or from finished pyiron atomistic jobs (every step or
selected steps of their generic output).  They are kept in pyiron's flattened
structure storage in the job's HDF5 file.  Output: the potential (arrays and the
MLIP ``.mtp`` text), the learning curve, error tables (training, validation) and
per-structure predictions for parity plots.
"""
from __future__ import annotations

import numpy as np
from pyiron_atomistics.atomistics.structure.structurestorage import StructureStorage
from pyiron_base import DataContainer, PythonTemplateJob

from ..potential import MTP
from .common import PotentialOutput, add_labelled, finish, labelled_images
from .references import job_stresses
from ..structures import reference_arrays, species_of
from ..training import error_report, train

__all__ = ["MTPTraining"]

AMU_A2_FS2_TO_EV = 103.642697  # 1 amu A^2/fs^2 in eV


def _velocities(job):
    """MD velocities (steps, N, 3) in A/fs from a pyiron job's generic output, or None."""
    v = getattr(job.output, "velocities", None)
    if v is None:
        try:
            v = job["output/generic/velocities"]
        except (KeyError, TypeError, ValueError):
            v = None
    return None if v is None or len(v) == 0 else np.asarray(v)


class MTPTraining(PotentialOutput, PythonTemplateJob):
    """Fit a Moment Tensor Potential to energies, forces and stresses.

    >>> job = pr.create.job.MTPTraining("fit")
    >>> job.add_job(lammps_job)                  # or add_structures(images), add_file("train.cfg")
    >>> job.input.level = 16
    >>> job.run()
    >>> job.potential, job.calculator(), job.plot()
    """

    def __init__(self, project, job_name):
        super().__init__(project, job_name)
        self.input.level = 16
        self.input.species = None          # element symbols in type order; default: from the data
        self.input.min_dist = None         # Angstrom; default: smallest distance in the data
        self.input.max_dist = 5.0          # Angstrom
        self.input.radial_basis_size = 8
        self.input.energy_weight = 1.0
        self.input.force_weight = 0.01
        self.input.stress_weight = 0.001
        self.input.weighting = "vibrations"
        self.input.l2_radial = 0.0
        self.input.max_iter = "auto"       # "auto": until the loss stalls or validation stops improving (<= 1000)
        self.input.precondition = None     # Gauss-Newton-preconditioned L-BFGS (None: on; estimated on a subset above 256 radial coefficients)
        self.input.max_memory = None       # GiB for the design rows (None: a quarter of the machine's memory)
        self.input.seed = 0
        self.input.valid_fraction = "auto"  # "auto": 5 % from 200 structures on
        self.input.initial_potential = None  # dict of an MTP to start from (trained or a template)
        self.input.core_radius = "auto"    # A; radial basis clamped below it; "auto": smallest distance in the data
        self.input.baseline = "auto"       # "auto"/"zbl": ZBL repulsion below the data (zero on it); None: none
        self.input.baseline_cutoffs = None  # (inner, outer) A of the ZBL switching; default (core radius - 0.5, core radius)
        self._data = StructureStorage()

    # ------------------------------------------------------------------ input data
    def add_structure(self, structure, energy=None, forces=None, stress=None, identifier=None):
        """One structure (ASE or pyiron Atoms) with reference energy (eV), forces (eV/A),
        stress (eV/A^3, ASE sign, Voigt or 3x3).  Missing values are masked in the fit."""
        for label, value in (("energy", energy), ("forces", forces), ("stress", stress)):
            if value is not None and not np.all(np.isfinite(value)):
                raise ValueError(f"structure {identifier or len(self._data)}: reference {label} contains NaN or inf")
        add_labelled(self._data, structure, energy, forces, stress, identifier)

    def add_structures(self, images):
        """ASE Atoms with reference results (e.g. SinglePointCalculator), as from ase.io.read."""
        for atoms in images:
            e, f, s = reference_arrays(atoms)
            self.add_structure(atoms, e, f, s)

    def add_storage(self, storage):
        """Structures from pyiron's flattened structure storage (``StructureStorage``, the storage
        of a ``StructureContainer`` or ``TrainingContainer`` job, or another fit's training data).
        Per-structure arrays ``energy`` (eV), ``forces`` (eV/A) and ``stress`` (eV/A^3, ASE sign,
        Voigt or 3x3) are used where present."""
        store = storage
        for attr in ("_container", "container"):  # a job that holds a storage
            if not hasattr(store, "get_structure") and hasattr(store, attr):
                store = getattr(store, attr)
        if not (hasattr(store, "get_structure") and hasattr(store, "list_arrays")):
            raise TypeError(f"add_storage needs a pyiron StructureStorage (or a job holding one), got {type(storage)}")
        arrays = set(store.list_arrays())
        ids = store.get_array("identifier") if "identifier" in arrays else None

        def value(name, k):
            if name not in arrays:
                return None
            v = np.asarray(store.get_array(name, k), dtype=float)
            v = v.reshape(-1, 3) if name == "forces" else v
            return None if v.size == 0 or not np.all(np.isfinite(v)) else v

        for k in range(len(store)):
            stress = value("stress", k)
            if stress is not None:
                stress = stress.reshape(3, 3) if stress.size == 9 else stress.reshape(6)
            energy = value("energy", k)
            self.add_structure(store.get_structure(k), None if energy is None else float(energy),
                               value("forces", k), stress,
                               identifier=None if ids is None else str(ids[k]))

    def add_file(self, path, species=None):
        """All configurations of a ``.cfg`` (needs ``species``) or any ASE-readable file."""
        from ..structures import read_structures
        self.add_structures(read_structures(path, species=species))

    def add_job(self, job, steps=None):
        """Steps of a finished pyiron atomistic job (Lammps, Vasp, Gpaw, ...): structure,
        ``output.energy_pot``, ``output.forces`` and the stress (:func:`~pyiron_mtp.jobs.references.job_stresses`:
        VASP's ``stresses``, else ``output.pressures`` = -stress in GPa, eV/A^3 for ASE-based jobs).
        ``steps``: indices into the job's output (default: all).

        MD pressures include the kinetic term; where the job stored velocities it is
        removed (sum_i m_i v_i v_i / V), so the stress is the potential's virial part."""
        if not job.status.finished:
            raise ValueError(f"job {job.job_name} is not finished (status {job.status})")
        energies = np.atleast_1d(job.output.energy_pot)
        forces = job.output.forces
        stresses = job_stresses(job)
        velocities = _velocities(job)
        steps = range(len(energies)) if steps is None else np.atleast_1d(steps)
        for k in steps:
            structure = job.get_structure(int(k))
            stress = None
            if stresses[k] is not None and structure.pbc.all():
                stress = stresses[k]
                if velocities is not None and len(velocities) > k:
                    v = np.asarray(velocities[k], dtype=float)
                    m = structure.get_masses()
                    kinetic = np.einsum("i,ia,ib->ab", m, v, v) * AMU_A2_FS2_TO_EV / structure.get_volume()
                    stress = stress + kinetic
            self.add_structure(structure, energies[k], None if forces is None else forces[k], stress,
                               identifier=f"{job.job_name}/{k}")

    @property
    def number_of_structures(self):
        return len(self._data)

    def training_images(self):
        """The stored training data as ASE Atoms with SinglePointCalculator results."""
        return labelled_images(self._data)

    # ------------------------------------------------------------------ running
    def validate_ready_to_run(self):
        if len(self._data) == 0:
            raise ValueError("no training data: use add_structures, add_file or add_job first")

    def run_static(self):
        images = self.training_images()
        species = list(self.input.species) if self.input.species else species_of(images)
        init = None
        if self.input.initial_potential is not None:
            init = MTP.from_dict(dict(self.input.initial_potential))
            init.species = species
        pot, trainer = train(
            images, species, level=None if init is not None else self.input.level, init=init,
            min_dist=self.input.min_dist, max_dist=self.input.max_dist,
            radial_basis_size=self.input.radial_basis_size, valid_fraction=self.input.valid_fraction,
            energy_weight=self.input.energy_weight, force_weight=self.input.force_weight,
            stress_weight=self.input.stress_weight, weighting=self.input.weighting,
            l2_radial=self.input.l2_radial, max_iter=self.input.max_iter, seed=self.input.seed, progress=False,
            precondition=self.input.get("precondition", None),
            max_memory="auto" if self.input.get("max_memory", None) is None else float(self.input.max_memory) * 2 ** 30,
            core_radius=self.input.get("core_radius", "auto"),
            baseline=self.input.get("baseline", "auto"),
            baseline_cutoffs=None if self.input.get("baseline_cutoffs", None) is None else tuple(self.input.baseline_cutoffs))
        self._store_output(pot, trainer)
        finish(self)

    def _store_output(self, pot, trainer):
        self._store_potential(pot)
        keys = sorted({k for row in trainer.history for k in row})
        self.output.history = DataContainer({k: np.array([np.nan if row.get(k) is None else row[k] for row in trainer.history],
                                            dtype=float) for k in keys})
        self.output.stopped_by = str(trainer.stopped_by)
        self.output.pair_min_distances = DataContainer({f"{a}-{b}": r for (a, b), r in
                                                        trainer.pair_min_distances.items()})
        self.output.min_dist_warnings = list(trainer.min_dist_warnings)
        if getattr(trainer, "repulsion", None):
            self.output.repulsion = DataContainer({f"{a}-{b}": dict(v) for (a, b), v in trainer.repulsion.items()})
        rep = error_report(pot, trainer.data, per_structure=True)
        self.output.training_errors = DataContainer({k: v for k, v in rep.items() if k != "structures" and v is not None})
        rows = rep["structures"]
        self.output.predictions = DataContainer({
            "name": [str(r["name"]) for r in rows],
            "n_atoms": np.array([r["n_atoms"] for r in rows]),
            "energy": np.array([r["energy"] for r in rows]),
            "energy_ref": np.array([np.nan if r["energy_ref"] is None else r["energy_ref"] for r in rows]),
        })
        if trainer.valid is not None:
            vrep = error_report(pot, trainer.valid)
            self.output.validation_errors = DataContainer({k: v for k, v in vrep.items() if v is not None})

    # ------------------------------------------------------------------ results
    def plot(self, path=None):
        """Parity plots (training data) and learning curve; returns the two figures."""
        from ..plots import learning_curve, parity_plot
        rep = error_report(self.potential, self.training_images(), per_structure=True)
        h = self.output.history
        history = [{k: (None if np.isnan(h[k][i]) else h[k][i]) for k in h} for i in range(len(h["iteration"]))]
        return parity_plot(rep, f"{self.job_name}: training data",
                           path=None if path is None else f"{path}_parity.png"), \
            learning_curve(history, path=None if path is None else f"{path}_learning.png")

    # ------------------------------------------------------------------ HDF5
    def to_hdf(self, hdf=None, group_name=None):
        super().to_hdf(hdf=hdf, group_name=group_name)
        self._data.to_hdf(self.project_hdf5, "training_data")

    def from_hdf(self, hdf=None, group_name=None):
        super().from_hdf(hdf=hdf, group_name=group_name)
        if "training_data" in self.project_hdf5.list_groups():
            self._data = StructureStorage()
            self._data.from_hdf(self.project_hdf5, "training_data")
