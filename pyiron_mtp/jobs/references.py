"""Reference calculations as pyiron child jobs of a template job (Lammps, Vasp, Gpaw, ...), and
the reading of their results in our units with the checks DFT output needs.

Units and signs of what :func:`read_step` returns: energy in eV (for VASP the free energy F,
``free  energy   TOTEN``, whose negative gradient the forces are - not E(sigma->0)), forces in
eV/A in the order of the submitted structure, stress as a 3x3 matrix in eV/A^3 with ASE's sign
(tensile positive; VASP's ``in kB`` row is -stress in kBar).

A result that cannot be used raises :class:`~pyiron_mtp.on_the_fly.ReferenceError` with the reason
(the learning loop logs it and goes on): the job aborted (it is run once more, then reported), the
electronic SCF did not converge (NELM reached), forces are missing, the cell or the atom order of
the output does not match the submitted structure, or the run is spin-polarised while the MTP
expects no magnetism.  A result without stress keeps its energy and forces (the stress is left out
of the fit, logged).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import GPa
from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron

from ..on_the_fly import ReferenceError, check_reference, structure_key
from .common import load_when_readable
from .hdf5_repair import clear_write_flag

__all__ = ["PyironReferences", "read_step", "failure_reason", "job_stresses", "template_k_spacing", "kpoint_mesh",
           "MAGNETIC_THRESHOLD", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)

MAGNETIC_THRESHOLD = 0.1    # muB: a larger moment on any atom makes a run magnetic
MAX_ATTEMPTS = 2            # a crashed reference job is run at most this often
_DONE = ("finished", "aborted", "warning", "not_converged")


def _is_vasp(job):
    return any(c.__name__ == "VaspBase" for c in type(job).__mro__)


def _is_ase_based(job):
    return any(c.__name__ == "AseJob" for c in type(job).__mro__)


def job_stresses(job):
    """Per ionic step the stress (3x3, eV/A^3, ASE sign) of a finished pyiron job; ``None`` for
    a step without one.  VASP: pyiron's ``output/generic/stresses`` holds the ``in kB`` rows
    converted to eV/A^3, i.e. -stress (its ``pressures`` are column means and not used); codes
    whose ``pressures`` are tensors: -pressure (GPa, ASE-based jobs eV/A^3)."""
    n = len(np.atleast_1d(job.output.energy_pot))
    if _is_vasp(job):
        s = job["output/generic/stresses"]
        s = None if s is None else np.asarray(s, dtype=float)
        if s is None or s.ndim != 3 or len(s) != n:
            return [None] * n
        return [-m for m in s]
    p = getattr(job.output, "pressures", None)
    if p is None:
        return [None] * n
    out = []
    for k in range(n):
        pk = np.asarray(p[k], dtype=float) if k < len(p) else None
        if pk is None or pk.shape != (3, 3):
            out.append(None)
        else:
            out.append(-pk if _is_ase_based(job) else -pk * GPa)
    return out


def _magnetic_moments(job, k):
    """Per-atom moments (muB) of step k of a VASP job, ``None`` for a non-spin-polarised run."""
    if not _is_vasp(job):
        return None
    m = job["output/generic/dft/final_magmoms"]
    if m is None or len(m) == 0:
        return None
    m = np.asarray(m, dtype=float)
    return m[k if k < len(m) else -1]


def _order(atoms, positions, symbols):
    """Index map out -> submitted (``out[perm] == submitted``) matching positions modulo the cell
    to 1e-3 A and species; ``None`` if the output is not a permutation of ``atoms``."""
    cell = atoms.cell.array
    inv = np.linalg.inv(cell)
    sub = np.asarray(atoms.positions)
    d = (positions[None, :, :] - sub[:, None, :]) @ inv
    d -= np.round(d)
    dist = np.linalg.norm(d @ cell, axis=-1)                  # (submitted, out)
    perm = np.argmin(dist, axis=1)
    if np.all(dist[np.arange(len(sub)), perm] < 1e-3) and len(set(perm)) == len(perm) and \
            list(np.asarray(symbols)[perm]) == list(atoms.get_chemical_symbols()):
        return perm
    return None


def read_step(job, k=-1, atoms=None, magnetic=False):
    """Energy (eV), forces (eV/A) and stress (3x3 eV/A^3 or None) of ionic step ``k`` of a
    finished pyiron job, checked (module docstring).  ``atoms``: the submitted structure;
    forces come back in its order and a cell or structure that differs is an error.
    ``magnetic``: accept spin-polarised runs (default: an MTP without magnetism rejects them)."""
    name = job.job_name
    energies = np.atleast_1d(job.output.energy_pot)
    n = len(energies)
    if n == 0:
        raise ReferenceError(f"reference job {name} holds no energy (working directory {job.working_directory})")
    k = k % n
    e = float(energies[k])
    forces = job.output.forces
    structure = job.get_structure(k)
    n_atoms = len(structure)
    if forces is None or len(forces) <= k or np.asarray(forces[k]).shape != (n_atoms, 3):
        raise ReferenceError(f"reference job {name} has no forces for step {k} (a truncated run?): "
                             f"left out of the training data")
    f = np.asarray(forces[k], dtype=float)
    if atoms is not None:
        if len(atoms) != n_atoms:
            raise ReferenceError(f"reference job {name} returned {n_atoms} atoms for a structure of {len(atoms)}")
        if not np.allclose(structure.cell.array, atoms.cell.array, atol=1e-4):
            raise ReferenceError(f"reference job {name} returned another cell than the one submitted "
                                 f"(a relaxation where a single point was expected?)")
        perm = _order(atoms, np.asarray(structure.positions), structure.get_chemical_symbols())
        if perm is None:
            raise ReferenceError(f"reference job {name}: the output structure is not the submitted one "
                                 f"(positions or species differ beyond 1e-3 A); left out")
        if np.any(perm != np.arange(n_atoms)):
            log.warning("reference job %s returned its atoms in another order (sorted by species?); "
                        "forces mapped back to the submitted order", name)
            f = f[perm]
    moments = _magnetic_moments(job, k)
    if moments is not None and not magnetic and np.max(np.abs(moments)) > MAGNETIC_THRESHOLD:
        raise ReferenceError(
            f"reference job {name} is spin-polarised with moments up to {np.max(np.abs(moments)):.2f} muB "
            f"(total {np.sum(moments):.2f} muB) but the MTP expects no magnetism: left out; use a "
            f"non-spin-polarised template (ISPIN = 1) or accept magnetic references (magnetic_reference = True)")
    s = None
    pbc = structure.pbc if atoms is None else atoms.pbc
    if np.all(pbc):
        s = job_stresses(job)[k]
        if s is None:
            log.warning("reference job %s wrote no stress (VASP: ISIF = 0?); its energy and forces are "
                        "used, its stress left out of the fit", name)
    check_reference(n_atoms, e, f, None if s is None else s.ravel())
    return e, f, s


def failure_reason(job):
    status = job.status.string
    if status == "not_converged" and _is_vasp(job):
        nelm = _incar(job, "NELM", 60)
        return (f"the electronic SCF of reference job {job.job_name} did not converge within NELM = {nelm} "
                f"steps (status not_converged): left out; raise NELM or change ALGO/mixing in the template")
    if status == "aborted":
        why = _vasp_diagnosis(job) if _is_vasp(job) else "the code crashed or its output could not be parsed"
        return f"reference job {job.job_name} aborted ({why}); see {job.working_directory}"
    return f"reference job {job.job_name} ended with status {status}"


def _vasp_diagnosis(job):
    """What the files of an aborted VASP run say about why."""
    outcar = os.path.join(job.working_directory, "OUTCAR")
    if not os.path.exists(outcar):
        return "VASP wrote no OUTCAR: it did not start; check the run script and POTCARs"
    with open(outcar, errors="ignore") as fh:
        text = fh.read()
    if "FREE ENERGIE OF THE ION-ELECTRON SYSTEM" not in text:
        return "VASP stopped before its first ionic step ended (a crash: see error.out / the batch output)"
    if "TOTAL-FORCE" not in text:
        return "OUTCAR holds no forces (a truncated or unusual run), so pyiron could not parse it"
    return "pyiron could not parse the output"


def _incar(job, key, default):
    try:
        value = job.input.incar[key]
    except (KeyError, AttributeError):
        value = None
    return default if value is None else value


# ---------------------------------------------------------------- k-points
def _reciprocal_lengths(cell):
    """|g_i| (2 pi / A) of a cell's reciprocal vectors."""
    return np.linalg.norm(2 * np.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T, axis=1)


def template_k_spacing(job):
    """The k-point spacing (2 pi / A... in pyiron's units: |g| / n, A^-1 with the 2 pi) of a DFT
    template's Monkhorst-Pack mesh on its own structure: the finest over the three directions.
    ``None`` if the template has no structure or no readable mesh."""
    if getattr(job, "structure", None) is None:
        return None
    try:
        mesh = np.array(job.get_kpoints(), dtype=float)
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    if mesh.shape != (3,) or np.any(mesh < 1):
        return None
    return float(np.min(_reciprocal_lengths(job.structure.cell) / mesh))


def kpoint_mesh(cell, spacing):
    """Monkhorst-Pack mesh for ``cell`` at the density ``spacing`` (A^-1 incl. 2 pi, pyiron's
    ``k_mesh_spacing``): n_i = |g_i| / spacing rounded to the nearest integer, at least 1 (so a
    cell strained by a few percent keeps the template's mesh)."""
    return [max(1, int(np.rint(g / spacing))) for g in _reciprocal_lengths(cell)]


# ---------------------------------------------------------------- the executor
class _PendingReference:
    """The result of a reference job that may still run (queue, non-modal): waited for on ``result()``."""

    def __init__(self, refs, name, atoms, error=None):
        self.refs, self.name, self.atoms, self.error = refs, name, atoms, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.refs._collect(self.name, self.atoms)


def _clear_stale_flag(path):
    try:
        if os.path.exists(path) and clear_write_flag(path):
            log.warning("%s was left flagged open-for-write by a killed process; flag cleared", path)
    except ValueError as exc:
        log.warning("could not check %s: %s", path, exc)


class PyironReferences:
    """Executor for the workflows: runs each reference as a pyiron job copied from a template,
    in ``<master>_references``, linked to the master, with the template's server settings
    (cores, queue).  All references of a batch are started first (on a queue they run side by
    side), then collected.  Jobs are named by the structure they compute: a finished one is
    reused, never rerun; a crashed one is run once more, then reported; an unconverged one is
    final (rerunning it would give the same).  DFT templates get their k-point mesh scaled to
    each cell at the template's density (``master.input.k_mesh_spacing``)."""

    poll_interval = 1.0  # s, between status checks of queued references

    def __init__(self, master):
        self.master = master
        self.project = master.project.open(f"{master.job_name}_references")
        self.template = load_when_readable(master.project, master.input.reference_job)
        # the template is never run: a write flag on its file can only be a killed copy's trace
        _clear_stale_flag(os.path.join(master.project.path, f"{master.input.reference_job}.h5"))
        self.magnetic = bool(master.input.get("magnetic_reference", False))
        spacing = master.input.get("k_mesh_spacing", None)
        self.k_spacing = float(spacing) if spacing is not None else None
        if self.k_spacing is None and hasattr(self.template, "set_kpoints") and _is_vasp(self.template):
            log.warning("the k-point mesh of the template %s is copied unchanged to every structure; give "
                        "set_reference(job, k_mesh_spacing=...) or a template with a structure to scale it",
                        self.template.job_name)

    # ------------------------------------------------------------ bookkeeping
    def _attempts_file(self):
        return os.path.join(self.project.path, "attempts.json")

    def _attempts(self):
        try:
            with open(self._attempts_file()) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def _count_attempt(self, name):
        attempts = self._attempts()
        attempts[name] = attempts.get(name, 0) + 1
        os.makedirs(self.project.path, exist_ok=True)
        with open(self._attempts_file(), "w") as fh:
            json.dump(attempts, fh)
        return attempts[name]

    def _remove_leftovers(self, name):
        """Files of an interrupted attempt that the database no longer knows (a kill mid-copy)."""
        h5 = os.path.join(self.project.path, f"{name}.h5")
        if os.path.exists(h5):
            log.warning("removing %s, left by an interrupted reference job", h5)
            os.remove(h5)
        shutil.rmtree(os.path.join(self.project.path, f"{name}_hdf5"), ignore_errors=True)

    # ------------------------------------------------------------ running
    def submit(self, fn, atoms, reference=None):
        name = f"ref_{structure_key(atoms)}"
        try:
            self._start(name, atoms)
        except ReferenceError as exc:
            return _PendingReference(self, name, atoms, error=exc)
        return _PendingReference(self, name, atoms)

    def new_job(self, name, atoms):
        """A copy of the template for ``atoms`` (not run): structure set, k-points scaled."""
        job = self.template.copy_template(project=self.project, new_job_name=name)
        # input files the template wrote when it was saved come along with the copy, and pyiron
        # would not overwrite them: the copy writes its own
        shutil.rmtree(job.working_directory, ignore_errors=True)
        static = atoms.copy()
        static.arrays.pop("momenta", None)  # LAMMPS would add their kinetic pressure
        job.structure = ase_to_pyiron(static)
        if self.k_spacing is not None and hasattr(job, "set_kpoints"):
            job.set_kpoints(mesh=kpoint_mesh(static.cell.array, self.k_spacing))
        job.master_id = self.master.job_id
        return job

    def _start(self, name, atoms):
        job = load_when_readable(self.project, name) if name in self.project.list_nodes() else None
        if job is not None and (job.status.finished or job.status.string == "not_converged"):
            return      # done before (an unconverged SCF would not converge on a rerun): collect decides
        if job is not None and job.status.string in ("submitted", "running", "collect") and \
                job.server.run_mode.queue:
            if not self._lost_by_queue(job):
                if job.status.finished or job.status.string not in _DONE:
                    return  # finished meanwhile, or still on the queue from before an interruption
            else:
                log.warning("reference job %s is %s but no longer on the queue (id %s): started again",
                            name, job.status, job.server.queue_id)
        attempts = self._attempts().get(name, 0)
        if attempts >= MAX_ATTEMPTS:
            raise ReferenceError(f"reference job {name} failed {attempts} times, not run again: "
                                 + (failure_reason(job) if job is not None else "no job left"))
        if job is not None:  # an aborted or unfinished earlier attempt: start over
            log.warning("%s: running it again (attempt %d of %d)", failure_reason(job), attempts + 1,
                        MAX_ATTEMPTS)
            job.remove()
        self._remove_leftovers(name)
        job = self.new_job(name, atoms)
        if hasattr(job, "calc_static"):
            job.calc_static()
        self._count_attempt(name)
        try:
            job.run()
        except Exception as exc:  # the reference code's own errors
            why = failure_reason(job) if job.status.string == "aborted" else f"{type(exc).__name__}: {exc}"
            if self._attempts().get(name, 0) < MAX_ATTEMPTS:
                return self._start(name, atoms)     # logs why and runs it once more
            raise ReferenceError(f"reference job {name} failed {MAX_ATTEMPTS} times, last: {why}") from exc

    def _lost_by_queue(self, job):
        """True if a queued job is gone from the queue without reaching a final status (its
        process died): three consecutive polls, ``poll_interval`` apart, find it neither on
        the queue nor done.  False when it cannot be told (no queue id or adapter)."""
        from pyiron_base import state
        qid = job.server.queue_id if job.server.run_mode.queue else None
        if qid is None or state.queue_adapter is None:
            return False
        for _ in range(3):
            if state.queue_adapter.get_status_of_job(process_id=qid) is not None:
                return False
            job.refresh_job_status()
            if job.status.string in _DONE:
                return False
            time.sleep(self.poll_interval)
        return True

    def wait(self, job):
        """Poll the job's status; a queued job that left the queue unfinished is an error."""
        while True:
            job.refresh_job_status()
            if job.status.string in _DONE:
                return
            if self._lost_by_queue(job):
                raise ReferenceError(
                    f"reference job {job.job_name} left the queue (id {job.server.queue_id}) with status "
                    f"{job.status}; see the batch output in {job.working_directory}")
            time.sleep(self.poll_interval)

    def finished_job(self, name):
        """The job ``name`` once done (waiting for it); a ReferenceError unless it finished."""
        job = load_when_readable(self.project, name)
        if job is None:
            raise ReferenceError(f"reference job {name} disappeared")
        if job.status.string not in _DONE:
            self.wait(job)
            job = load_when_readable(self.project, name)
        if not job.status.finished:
            raise ReferenceError(failure_reason(job))
        return job

    def _collect(self, name, atoms):
        job = self.finished_job(name)
        e, f, s = read_step(job, -1, atoms=atoms, magnetic=self.magnetic)
        return e, f, None if s is None else full_3x3_to_voigt_6_stress(s)
