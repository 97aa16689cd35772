"""Relaxations of candidates (positions and cell, ASE ``FrechetCellFilter``).

:func:`relax_with_mtp` grades every step of an MTP relaxation: structures above the select
threshold are collected for active learning, a relaxation above the break threshold stops
(it goes back into the next round).  :func:`relax_with_reference` relaxes with the
reference through the ledger.  Both are module-level and take plain data, so process
pools (the machine's cores) and cluster executors can run them; :func:`run_parallel`
spreads a list of tasks over a process pool.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
from ..structures import atoms_from_dict, atoms_to_dict

__all__ = ["relax_with_mtp", "relax_chunk_with_mtp", "relax_with_reference", "RELAXED", "EXTRAPOLATING",
           "NOT_CONVERGED", "FAILED", "one_blas_thread"]

log = logging.getLogger(__name__)
RELAXED, EXTRAPOLATING, NOT_CONVERGED, FAILED = "relaxed", "extrapolating", "not_converged", "failed"


class _Stop(Exception):
    pass


def one_blas_thread():
    """Limit BLAS to one thread: the cell filter's 3x3 matrix functions are ~10x slower with
    a threaded BLAS competing for busy cores (relaxations already run one per core)."""
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=1)
    except ImportError:   # pragma: no cover - a dependency
        import contextlib
        return contextlib.nullcontext()


def _optimizer(atoms, name):
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE
    target = FrechetCellFilter(atoms) if atoms.pbc.all() else atoms
    return {"BFGS": BFGS, "FIRE": FIRE}[name.upper()](target, logfile=None), target


def relax_chunk_with_mtp(task):
    """Relax several candidates with one MTP: ``task`` holds the shared settings (see
    :func:`relax_with_mtp`) and ``candidates``, a list of (id, plain atoms)."""
    from ..active import ActiveSet
    from ..core.maxvol import MaxVol
    from ..potential import MTP
    pot = MTP.from_dict(task["potential"])
    aset = None
    if task.get("active_set") is not None:
        d = task["active_set"]
        aset = ActiveSet(pot, d["mode"], d["linear_only"])
        aset.maxvol = MaxVol.from_dict(d)
        aset.column_scale = np.asarray(d["column_scale"])
    with one_blas_thread():
        return [relax_with_mtp(dict(task, id=cid, atoms=atoms), pot, aset) for cid, atoms in task["candidates"]]


def relax_with_mtp(task, pot, aset=None):
    """Relax one candidate with the MTP ``pot``, grading every step with ``aset``.

    ``task``: dict with ``id``, ``atoms`` (plain dict), ``fmax`` (eV/A), ``steps``,
    ``select``, ``break_``, ``optimizer``, ``max_collect``.  Returns a dict: ``id``,
    ``status``, relaxed ``atoms``, ``energy`` (eV/atom), ``steps``, ``max_grade``,
    ``collected`` (plain dicts with their grades).
    """
    from ..calculator import MTPCalculator
    atoms = atoms_from_dict(task["atoms"])
    calc = MTPCalculator(pot, active_set=aset)
    atoms.calc = calc
    out = {"id": task["id"], "collected": [], "max_grade": 0.0, "steps": 0}
    opt, _ = _optimizer(atoms, task.get("optimizer", "BFGS"))

    def monitor():
        out["steps"] += 1
        if aset is None:
            return
        g = calc.results.get("mtp_grade")
        if g is None:
            atoms.get_potential_energy()
            g = calc.results["mtp_grade"]
        out["max_grade"] = max(out["max_grade"], g)
        if g > task["select"] and len(out["collected"]) < task.get("max_collect", 20):
            snap = atoms_to_dict(atoms)
            snap["grade"] = float(g)
            out["collected"].append(snap)
        if g > task["break_"]:
            raise _Stop
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # short distances are what the grades are for
            atoms.get_potential_energy()
            monitor()
            opt.attach(monitor, interval=1)
            converged = opt.run(fmax=task["fmax"], steps=task["steps"])
        out["status"] = RELAXED if converged else NOT_CONVERGED
    except _Stop:
        out["status"] = EXTRAPOLATING
    except Exception as exc:   # a candidate the MTP cannot relax (e.g. atoms collapsing) is reported
        out["status"], out["reason"] = FAILED, f"{type(exc).__name__}: {exc}"
        out["atoms"], out["energy"] = atoms_to_dict(atoms), float("nan")
        return out
    out["atoms"] = atoms_to_dict(atoms)
    out["energy"] = float(atoms.get_potential_energy() / len(atoms))
    return out


def ledger_start(task):
    """The start structure of a reference relaxation ``task`` and its reference through the
    task's ledger (a DFT reference fixed to ``kpoint_structure``, default the start)."""
    from ..ledger import LedgerCalculator, ReferenceLedger
    reference = task["reference"]
    if hasattr(reference, "for_structure"):
        reference = reference.for_structure(atoms_from_dict(task.get("kpoint_structure") or task["atoms"]))
    return atoms_from_dict(task["atoms"]), LedgerCalculator(reference, ReferenceLedger(task["ledger"]), task["stage"])


def relax_with_reference(task):
    """Relax one candidate with the reference, every evaluation through the ledger.

    ``task``: ``id``, ``atoms``, ``reference`` (a picklable zero-argument factory),
    ``ledger`` (folder), ``stage``, ``fmax``, ``steps``, ``optimizer``, optionally
    ``kpoint_structure``: a reference that offers ``for_structure(atoms)`` (a DFT reference
    with k-points scaled to each cell) is fixed to that structure - the candidate's - for
    every step, so the energy stays smooth along the relaxation and the screen's and brute
    force's relaxations of a candidate use the same settings (default: the start).  Returns
    ``id``, ``status``, ``atoms``, ``energy`` (eV/atom), ``steps``, ``computed`` (new
    reference calls).
    """
    atoms, calc = ledger_start(task)
    atoms.calc = calc
    opt, _ = _optimizer(atoms, task.get("optimizer", "BFGS"))
    out = {"id": task["id"], "steps": 0}
    try:
        with one_blas_thread():
            converged = opt.run(fmax=task["fmax"], steps=task["steps"])
        out["status"] = RELAXED if converged else NOT_CONVERGED
        out["energy"] = float(atoms.get_potential_energy() / len(atoms))
    except Exception as exc:
        out["status"], out["reason"], out["energy"] = FAILED, f"{type(exc).__name__}: {exc}", float("nan")
        log.warning("reference relaxation of %s failed: %s", task["id"], exc)
    out["steps"] = int(opt.nsteps)
    out["computed"] = calc.computed
    out["atoms"] = atoms_to_dict(atoms)
    return out
