"""ConvexHullScreen: the convex hull of an alloy from many prototypes, reference (DFT)
calculations only where they matter.

A thin job over :func:`pyiron_mtp.hull.screen_hull`.  Every reference calculation is a
child job of the template (``<job>_references`` sub-project, the template's server settings:
cores, queue), submitted together per batch; the final relaxations are ``calc_minimize``
jobs with the cell relaxed (zero pressure).  A finished child job is reused, never rerun,
when the screen continues after a kill (``run(repair=True)``).  Stored in HDF5: the
candidates and relaxed structures (structure storage), the MTP, every reference result,
the table, the hull vertices and the reference calls per stage.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress
from pyiron_atomistics.atomistics.structure.atoms import ase_to_pyiron, pyiron_to_ase
from pyiron_atomistics.atomistics.structure.structurestorage import StructureStorage
from pyiron_base import DataContainer, PythonTemplateJob

from ..hull.candidates import candidates_from, enumerate_candidates
from ..ledger import ReferenceLedger
from ..hull.relax import FAILED, RELAXED, relax_chunk_with_mtp, relax_with_reference
from ..structures import atoms_from_dict, atoms_to_dict
from ..hull.screen import compute_reference, screen_hull
from ..on_the_fly import ReferenceError, structure_key
from .common import PotentialOutput, add_labelled, finish, load_when_readable, save_reference_template
from .references import read_step

__all__ = ["ConvexHullScreen"]

log = logging.getLogger(__name__)


class _Done(Future):
    def __init__(self, value=None, error=None):
        super().__init__()
        if error is not None:
            self.set_exception(error)
        else:
            self.set_result(value)


class _Pending:
    """A child job started now, collected when its result is asked for."""

    def __init__(self, fn):
        self.fn = fn

    def result(self):
        return self.fn()


class PyironHullExecutor:
    """Runs the screen's work: MTP relaxations here, reference calculations and reference
    relaxations as child jobs of the template (all of a batch started before any is
    collected, so on a queue they run side by side).  A reference relaxation is one job, relaxed by
    the reference code's own optimiser (``final_relaxation="plain"``): MTP-steered steps would
    need one queued job per step."""

    def __init__(self, master):
        from .references import PyironReferences
        self.master = master
        self.refs = PyironReferences(master)

    def submit(self, fn, task):
        if fn is relax_chunk_with_mtp:
            try:
                return _Done(fn(task))
            except Exception as exc:   # noqa: BLE001 - delivered through the future
                return _Done(error=exc)
        if fn is compute_reference:
            return self._single_point(task)
        if fn is relax_with_reference:
            return self._relaxation(task)
        raise TypeError(f"unexpected work {fn!r}")

    def _single_point(self, task):
        atoms = atoms_from_dict(task["atoms"])
        ledger = ReferenceLedger(task["ledger"])
        known = ledger.lookup(atoms)
        if known is not None:
            return _Done((True, float(known[0])))
        pending = self.refs.submit(None, atoms)

        def collect():
            try:
                e, f, s = pending.result()
            except Exception as exc:   # noqa: BLE001 - a failed reference: recorded, skipped
                ledger.record_failure(atoms, task["stage"], exc)
                return False, f"{type(exc).__name__}: {exc}"
            ledger.record(atoms, e, f, s, task["stage"])
            return True, float(e)
        return _Pending(collect)

    def _relaxation(self, task):
        name = f"relax_{task['id']}".replace("-", "_")
        project = self.refs.project
        atoms = atoms_from_dict(task["atoms"])
        try:
            job = load_when_readable(project, name) if name in project.list_nodes() else None
            if job is None or not job.status.finished:
                if job is not None:
                    job.remove()
                job = self.refs.new_job(name, atoms)
                try:
                    job.calc_minimize(pressure=0.0, ionic_force_tolerance=task["fmax"], max_iter=task["steps"])
                except TypeError:
                    job.calc_minimize(pressure=0.0)
                job.run()
        except Exception as exc:   # noqa: BLE001 - the reference code's own error, reported per candidate
            return _Done({"id": task["id"], "status": FAILED, "reason": f"{type(exc).__name__}: {exc}",
                          "energy": float("nan"), "steps": 0, "computed": 0, "atoms": task["atoms"]})

        def collect():
            ledger = ReferenceLedger(task["ledger"])
            try:
                j = self.refs.finished_job(name)
            except ReferenceError as exc:
                ledger.record_failure(atoms, task["stage"], exc)
                return {"id": task["id"], "status": FAILED, "reason": str(exc),
                        "energy": float("nan"), "steps": 0, "computed": 1, "atoms": task["atoms"]}
            energies = np.atleast_1d(j.output.energy_pot)
            new = 0
            for k in range(len(energies)):     # every ionic step is one reference call
                s = pyiron_to_ase(j.get_structure(k))
                if ledger.lookup(s) is None:
                    try:
                        e, f, st = read_step(j, k, magnetic=self.refs.magnetic)
                    except ReferenceError as exc:
                        ledger.record_failure(s, task["stage"], exc)
                        log.warning("step %d of %s left out: %s", k, name, exc)
                        continue
                    ledger.record(s, e, f, None if st is None else full_3x3_to_voigt_6_stress(st), task["stage"])
                    new += 1
            final = pyiron_to_ase(j.get_structure(-1))
            return {"id": task["id"], "status": RELAXED, "energy": float(energies[-1] / len(final)),
                    "steps": len(energies) - 1, "computed": new, "atoms": atoms_to_dict(final)}
        return _Pending(collect)


def _plain_list(v):
    """A stored column back as a list (DataContainers hold lists of strings as nested containers)."""
    if hasattr(v, "to_builtin"):
        v = v.to_builtin()
        if isinstance(v, dict):
            v = [v[k] for k in sorted(v, key=lambda k: int(k))]
    return list(v)


class ConvexHullScreen(PotentialOutput, PythonTemplateJob):
    """Screen the convex hull of an alloy with an MTP that learns while it relaxes.

    >>> hull = pr.create.job.ConvexHullScreen("alcu")
    >>> hull.input.elements = ["Al", "Cu"]
    >>> hull.input.max_atoms = {"fcc": 8, "bcc": 6, "hcp": 8}
    >>> hull.set_reference(vasp_template)      # any atomistic job; each calculation a child job
    >>> hull.run()
    >>> hull.output.vertices, hull.table(), hull.plot()
    """

    def __init__(self, project, job_name):
        super().__init__(project, job_name)
        self.input.elements = None
        self.input.lattices = ["fcc", "bcc", "hcp"]
        self.input.max_atoms = 4              # int or {lattice: n}
        self.input.level = 12
        self.input.max_dist = 5.0
        self.input.initial_potential = None   # name of a finished MTPTraining / ActiveLearningMD job
        self.input.reference_job = None
        self.input.select_threshold = 2.0
        self.input.break_threshold = 10.0
        self.input.fmax = 0.01                # eV/A
        self.input.max_steps = 300
        self.input.k = 3.0                    # survivors: within k sigma of the MTP hull
        self.input.batch = 20
        self.input.max_rounds = 30
        self.input.train_iter = 100
        self.input.seed = 0
        self._prototypes = StructureStorage()

    def add_prototype(self, structure):
        """A user prototype (ASE or pyiron Atoms), screened next to the enumerated candidates."""
        a = structure if hasattr(structure, "get_parent_basis") else ase_to_pyiron(structure)
        self._prototypes.add_structure(a, identifier=f"user-{len(self._prototypes)}")

    def set_reference(self, job, k_mesh_spacing=None, magnetic=False):
        """The template of the reference calculations (saved, never run itself); each calculation is
        a copy of it as a child job.  DFT templates: k-points scaled to each cell at the template's
        density or ``k_mesh_spacing`` (A^-1 incl. 2 pi); ``magnetic=True`` accepts spin-polarised
        results (see :func:`pyiron_mtp.jobs.common.save_reference_template`)."""
        save_reference_template(self, job, k_mesh_spacing, magnetic)

    def validate_ready_to_run(self):
        if not self.input.elements or len(self.input.elements) < 2:
            raise ValueError("input.elements: at least two elements")
        if not self.input.reference_job:
            raise ValueError("no reference: set_reference(job)")

    def candidates(self):
        """The enumerated candidates and the user prototypes."""
        i = self.input
        max_atoms = i.max_atoms.to_builtin() if hasattr(i.max_atoms, "to_builtin") else i.max_atoms
        out = enumerate_candidates(list(i.elements), tuple(i.lattices), max_atoms) if i.lattices else []
        protos = [pyiron_to_ase(self._prototypes.get_structure(k)) for k in range(len(self._prototypes))]
        return out + candidates_from(protos)

    def run_static(self):
        i = self.input
        pot = self.project.load(i.initial_potential).potential if i.initial_potential else None
        cands = self.candidates()
        res = screen_hull(cands, None, list(i.elements), pot, level=int(i.level), workdir=self.working_directory,
                          executor=PyironHullExecutor(self), select_threshold=float(i.select_threshold),
                          break_threshold=float(i.break_threshold), fmax=float(i.fmax), max_steps=int(i.max_steps),
                          k=float(i.k), max_rounds=int(i.max_rounds), batch=int(i.batch), train_iter=int(i.train_iter),
                          max_dist=float(i.max_dist), seed=int(i.seed), final_relaxation="plain", progress=False)
        self._store(res, cands)
        finish(self)

    def _store(self, res, cands):
        o = self.output
        self._store_potential(res.potential)
        t = res.table
        def column(name):
            values = t[name]
            if name == "composition":
                return [str(sorted(d.items())) for d in values]
            if values.dtype.kind in "fiub":
                return np.asarray(values)
            return [str(v) for v in values]
        o.table = DataContainer({c: column(c) for c in t.columns})
        o.vertices = DataContainer({"id": [v["id"] for v in res.vertices],
                                    "formula": [v["formula"] for v in res.vertices],
                                    "formation_energy": np.array([v["formation_energy"] for v in res.vertices])})
        o.reference_calls = DataContainer(dict(res.reference_calls))
        o.sigma, o.k, o.k_needed, o.sigma_relaxed = res.sigma, res.k, res.k_needed, res.sigma_relaxed
        o.rounds, o.converged, o.flags = res.rounds, res.converged, list(res.flags)
        store = StructureStorage()
        for c in cands:
            store.add_structure(ase_to_pyiron(c.atoms), identifier=c.id)
        self._candidates = store
        relaxed = StructureStorage()
        for v in res.vertices:
            relaxed.add_structure(ase_to_pyiron(v["atoms"]), identifier=v["id"])
        self._vertices = relaxed
        refs = StructureStorage()
        for a in ReferenceLedger(f"{self.working_directory}/ledger").images():
            add_labelled(refs, a, a.get_potential_energy(), a.get_forces(),
                         a.calc.results.get("stress"), identifier=f"{a.info['stage']}/{structure_key(a)}")
        self._references = refs
        self._result = res

    def reference_images(self):
        """Every reference calculation (single points and relaxation steps) as ASE Atoms with a
        SinglePointCalculator holding its energy (eV), forces (eV/A) and stress (eV/A^3)."""
        from .common import labelled_images
        return labelled_images(getattr(self, "_references", None))

    def table(self):
        """Every candidate as a pandas DataFrame (energies eV/atom, status, grades)."""
        import pandas as pd
        return pd.DataFrame({k: _plain_list(v) for k, v in self.output.table.items()})

    def vertices(self):
        """The reference hull's vertices: dicts with id, formula, formation_energy (eV/atom), atoms."""
        v = self.output.vertices
        ids, formulas = _plain_list(v["id"]), _plain_list(v["formula"])
        store = getattr(self, "_vertices", None)
        atoms = {store.get_array("identifier", k): pyiron_to_ase(store.get_structure(k))
                 for k in range(len(store))} if store is not None else {}
        return [{"id": i, "formula": f, "formation_energy": float(e), "atoms": atoms.get(i)}
                for i, f, e in zip(ids, formulas, _plain_list(v["formation_energy"]))]

    def plot(self, ax=None):
        """Formation energies vs composition with MTP and reference hulls, the k sigma window
        and the survivors (the result of this session's run, or rebuilt from the output)."""
        res = getattr(self, "_result", None)
        if res is None:
            from ..hull.screen import HullScreenResult
            t = self.table()
            t["composition"] = [dict(eval(c)) for c in t["composition"]]   # noqa: S307 - our own repr
            res = HullScreenResult(list(self.input.elements), [], t, dict(self.output.reference_calls),
                                   self.output.sigma, self.output.k, self.output.k_needed, self.potential,
                                   self.output.rounds, self.output.converged)
        return res.plot(ax)

    def to_hdf(self, hdf=None, group_name=None):
        super().to_hdf(hdf=hdf, group_name=group_name)
        self._prototypes.to_hdf(self.project_hdf5, "prototypes")
        for name in ("candidates", "vertices", "references"):
            store = getattr(self, f"_{name}", None)
            if store is not None:
                store.to_hdf(self.project_hdf5, name)

    def from_hdf(self, hdf=None, group_name=None):
        super().from_hdf(hdf=hdf, group_name=group_name)
        groups = self.project_hdf5.list_groups()
        for name in ("prototypes", "candidates", "vertices", "references"):
            if name in groups:
                store = StructureStorage()
                store.from_hdf(self.project_hdf5, name)
                setattr(self, f"_{name}", store)
