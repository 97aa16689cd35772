"""Pieces shared by the pyiron job classes: the potential in the output, structure storage."""
from __future__ import annotations

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress
from ase.calculators.singlepoint import SinglePointCalculator
from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron, pyiron_to_ase
from pyiron_atomistics.atomistics.structure.structurestorage import StructureStorage
from pyiron_base import DataContainer

from ..calculator import MTPCalculator
from ..potential import MTP


class PotentialOutput:
    """Mixin: ``output.potential`` (arrays), ``output.mtp_file`` (MLIP text), ``potential``, ``calculator()``."""

    def _store_potential(self, pot: MTP):
        import os
        import tempfile
        d = pot.to_dict()
        d["species"] = list(d["species"])
        d.pop("level", None)
        d = {k: v for k, v in d.items() if v is not None}      # no core radius / baseline: absent
        self.output.potential = DataContainer(d)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pot.mtp")
            pot.to_file(path)
            with open(path) as fh:
                self.output.mtp_file = fh.read()

    @property
    def potential(self) -> MTP:
        """The trained :class:`MTP`."""
        if "potential" not in self.output:
            raise ValueError(f"job {self.job_name} has no potential yet (status {self.status})")
        d = {k: (v.to_builtin() if hasattr(v, "to_builtin") else v) for k, v in self.output.potential.items()}
        return MTP.from_dict(d)

    def calculator(self, **kwargs):
        """An ASE calculator with the trained potential."""
        return MTPCalculator(self.potential, **kwargs)

    def lammps_potential(self, name=None):
        """The trained potential as a pyiron LAMMPS potential (pair style ``mtp``):
        ``lammps_job.potential = job.lammps_potential()``.  The ``.mtp`` file is written to
        this job's working directory; pyiron copies it into each Lammps job."""
        from ..lammps.files import lammps_potential
        return lammps_potential(self.potential, self.working_directory, name=name or self.job_name)


def save_reference_template(master, job, k_mesh_spacing=None, magnetic=False):
    """Keep ``job`` (not run) as the template of ``master``'s reference calculations.

    ``k_mesh_spacing`` (A^-1, with the 2 pi, pyiron's convention): k-point density of the copies,
    each getting a Monkhorst-Pack mesh scaled to its cell; by default the density of a DFT
    template's mesh on its own structure.  ``magnetic``: accept spin-polarised results (else a
    run with magnetic moments is left out, as the MTP has no magnetism)."""
    from .references import template_k_spacing
    if job.status.finished:
        raise ValueError("the reference template must not have been run")
    if k_mesh_spacing is None and hasattr(job, "set_kpoints"):
        k_mesh_spacing = template_k_spacing(job)
    if k_mesh_spacing is not None and not float(k_mesh_spacing) > 0:
        raise ValueError(f"k_mesh_spacing must be positive, got {k_mesh_spacing}")
    job.save()
    master.input.reference_job = job.job_name
    master.input.k_mesh_spacing = None if k_mesh_spacing is None else float(k_mesh_spacing)
    master.input.magnetic_reference = bool(magnetic)


def finish(job):
    """Store the job's output, then mark it finished: a process that sees the status (the queue,
    a waiting master) finds the HDF5 file complete."""
    job.to_hdf()
    job.status.finished = True
    job.project_hdf5["status"] = job.status.string


def load_when_readable(project, name, attempts=50, pause=0.2):
    """``project.load(name)``, robust against other processes' traces in the job's HDF5 file.

    Retried while another process (a queued job finishing) still holds the file or has not
    written it completely; a file left flagged "open for write" by a killed process gets
    its flag cleared (logged) and is loaded again.
    """
    import logging
    import os
    import time
    from .hdf5_repair import clear_write_flag
    repaired = False
    for k in range(attempts):
        try:
            return project.load(name)
        except (BlockingIOError, OSError, ValueError) as exc:
            msg = str(exc).lower()
            path = os.path.join(project.path, f"{name}.h5")
            if "already open for write" in msg and not repaired and os.path.exists(path):
                repaired = clear_write_flag(path)
                logging.getLogger(__name__).warning(
                    "%s was left flagged open-for-write (a killed process); flag cleared", path)
                continue
            transient = "lock" in msg or "recovered from hdf5 if type" in msg
            if k == attempts - 1 or not transient:
                raise
            time.sleep(pause)


def to_pyiron(structure):
    return structure if hasattr(structure, "get_parent_basis") else ase_to_pyiron(structure)


def add_labelled(store: StructureStorage, structure, energy=None, forces=None, stress=None, identifier=None,
                 **per_structure):
    """Add a structure with reference data (NaN where missing) to a structure storage.

    ``per_structure``: further scalar values stored as per-structure arrays.
    """
    n = len(structure)
    s = None if stress is None else np.asarray(stress, dtype=float)
    if s is not None and s.shape == (3, 3):
        s = full_3x3_to_voigt_6_stress(s)
    store.add_structure(
        to_pyiron(structure), identifier=identifier if identifier is not None else str(len(store)),
        energy=np.nan if energy is None else float(energy),
        forces=np.full((n, 3), np.nan) if forces is None else np.asarray(forces, dtype=float),
        stress=(np.full(6, np.nan) if s is None else s)[np.newaxis, :], **per_structure)


def labelled_images(store: StructureStorage):
    """The structures of a storage as ASE Atoms with SinglePointCalculator results (missing ones left out)."""
    out = []
    for k in range(0 if store is None else len(store)):
        atoms = pyiron_to_ase(store.get_structure(k))
        res = {}
        e = float(store.get_array("energy", k))
        f = np.asarray(store.get_array("forces", k))
        s = np.asarray(store.get_array("stress", k))
        if np.isfinite(e):
            res.update(energy=e, free_energy=e)
        if np.all(np.isfinite(f)):
            res["forces"] = f
        if np.all(np.isfinite(s)) and atoms.pbc.all():
            res["stress"] = s
        atoms.calc = SinglePointCalculator(atoms, **res)
        out.append(atoms)
    return out
