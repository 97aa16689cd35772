"""Reference relaxations started from the MTP's curvature.

A relaxation of a candidate with the reference (positions and cell, ``FrechetCellFilter``)
runs BFGS on the reference's forces and stress, as plain relaxations do, but its starting
Hessian is the MTP's at the start (by central differences of the MTP's forces, made positive
definite) instead of BFGS's default ``alpha`` times the unit matrix.  From an MTP-relaxed
structure, the reference minimum is then mostly one Newton step away and BFGS's updates
correct what the MTP's curvature gets wrong, so the result is a minimum of the reference to
``fmax`` as before, reached in fewer reference calls.

Units: eV, A, eV/A^2.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
from ase import Atoms

__all__ = ["mtp_hessian", "relax_assisted", "residual_force", "relax_with_reference_assisted"]

log = logging.getLogger(__name__)


def _target(atoms):
    from ase.filters import FrechetCellFilter
    return FrechetCellFilter(atoms) if atoms.pbc.all() else atoms


def residual_force(atoms):
    """Largest generalised force (eV/A) on positions and cell, as ASE's optimisers test it
    against ``fmax`` (``FrechetCellFilter`` for periodic cells)."""
    return float(np.sqrt((_target(atoms).get_forces() ** 2).sum(axis=1)).max())


def mtp_hessian(atoms: Atoms, mtp_calc, delta=1e-3, floor=None):
    """Hessian of the MTP at ``atoms`` in the optimiser's coordinates (positions and, for
    periodic cells, ``FrechetCellFilter``'s cell coordinates), by central differences of its
    forces, made positive definite: each eigenvalue is replaced by the larger of its absolute
    value and ``floor`` (default 5 % of the largest), so it can start a BFGS.  eV/A^2."""
    from .relax import one_blas_thread
    a = atoms.copy()
    a.calc = mtp_calc
    target = _target(a)
    x0 = target.get_positions().copy()
    n = x0.size
    hess = np.empty((n, n))
    with one_blas_thread():
        for j in range(n):
            cols = []
            for sign in (1.0, -1.0):
                x = x0.copy().ravel()
                x[j] += sign * delta
                target.set_positions(x.reshape(x0.shape))
                cols.append(target.get_forces().ravel())
            hess[:, j] = -(cols[0] - cols[1]) / (2 * delta)
    hess = 0.5 * (hess + hess.T)
    w, v = np.linalg.eigh(hess)
    floor = 0.05 * np.abs(w).max() if floor is None else floor
    w = np.maximum(np.abs(w), floor)
    return (v * w) @ v.T


def relax_assisted(atoms: Atoms, reference_calc, mtp_calc, *, fmax=0.01, steps=300, max_step=0.2):
    """Relax ``atoms`` (positions and cell) with ``reference_calc`` to ``fmax`` eV/A in at most
    ``steps`` BFGS steps of at most ``max_step`` A, starting from the Hessian of ``mtp_calc``.
    Returns ``(atoms, converged, steps)``; ``atoms`` carries the reference calculator."""
    from ase.optimize import BFGS
    from .relax import one_blas_thread
    x = atoms.copy()
    try:
        hess = mtp_hessian(x, mtp_calc)
    except Exception as exc:        # an MTP that cannot be evaluated here: BFGS's default start
        log.warning("no MTP Hessian (%s: %s): BFGS starts from its default", type(exc).__name__, exc)
        hess = None
    x.calc = reference_calc
    opt = BFGS(_target(x), logfile=None, maxstep=max_step)
    if hess is not None and np.all(np.isfinite(hess)):
        opt.H0 = hess
    with one_blas_thread():
        converged = bool(opt.run(fmax=fmax, steps=steps))
    return x, converged, int(opt.nsteps)


def relax_with_reference_assisted(task):
    """:func:`~.relax.relax_with_reference` with the starting Hessian of the MTP
    ``task["potential"]`` (a dict of :meth:`MTP.to_dict`): same task keys and result; the
    optimiser is BFGS, its step at most ``task["max_step"]`` A (default 0.2)."""
    from ..calculator import MTPCalculator
    from ..potential import MTP
    from ..structures import atoms_to_dict
    from .relax import FAILED, NOT_CONVERGED, RELAXED, one_blas_thread, ledger_start
    atoms, calc = ledger_start(task)
    mtp = MTPCalculator(MTP.from_dict(task["potential"]))
    out = {"id": task["id"], "steps": 0}
    try:
        with one_blas_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms, converged, steps = relax_assisted(atoms, calc, mtp, fmax=task["fmax"], steps=task["steps"],
                                                     max_step=task.get("max_step", 0.2))
        out["status"] = RELAXED if converged else NOT_CONVERGED
        out["energy"] = float(atoms.get_potential_energy() / len(atoms))
        out["steps"] = steps
    except Exception as exc:
        out["status"], out["reason"], out["energy"] = FAILED, f"{type(exc).__name__}: {exc}", float("nan")
        log.warning("reference relaxation of %s failed: %s", task["id"], exc)
    out["computed"] = calc.computed
    out["atoms"] = atoms_to_dict(atoms)
    return out
