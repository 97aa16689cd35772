"""What a potential does below its data: dimer curves of every species pair and whether they repel.

An MTP is fitted where the data is; below the smallest training distance its polynomial radial
basis extrapolates freely (up to 10^8 eV at 1 A in a level-8 fit with data down to 2.2 A).  The
core radius and the ZBL baseline (:class:`~pyiron_mtp.potential.MTP`) make it repulsive; this module
checks that they do.  Units: A, eV.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

__all__ = ["dimer_curve", "repulsion_report", "MIN_OUTWARD_FORCE"]

MIN_OUTWARD_FORCE = 0.01   # eV/A: a dimer repels where its energy rises and the force is at least this

log = logging.getLogger(__name__)


def dimer_curve(pot, a, b, distances):
    """(energies eV, force on the second atom along the bond eV/A; > 0 pushes apart) of an
    isolated dimer of elements ``a`` and ``b`` at ``distances`` (A)."""
    types = pot.types_of([a, b])
    cell = np.eye(3) * (2 * pot.max_dist + 10)
    e, f = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in np.atleast_1d(distances):
            res = pot.evaluate(np.array([[0.0, 0, 0], [float(r), 0, 0]]), cell, False, types)
            e.append(res.energy)
            f.append(res.forces[1, 0])
    return np.array(e), np.array(f)


def repulsion_report(pot, r_max=None, r_min=1.0, step=0.01):
    """Per species pair (a, b): whether the dimer repels from ``r_max`` down to ``r_min`` (A) - its
    energy rises monotonically and the outward force is at least ``MIN_OUTWARD_FORCE`` everywhere
    (the flat core of a clamped MTP without baseline does not) -, the smallest outward force there
    (eV/A) and the energy at ``r_min`` relative to ``r_max`` (eV).  Default ``r_max``: the width of the clamp below the core radius (at the
    smallest training distance itself a dimer may attract for real: Cu2's bond is 2.22 A), else
    min_dist.  Pairs that are not repulsive are logged as warnings."""
    from .core.radial import CORE_WIDTH
    if pot.species is None:
        raise ValueError("the potential has no species names; load it with species=[...]")
    if r_max is None:
        r_max = pot.min_dist if pot.core_radius is None else pot.core_radius - CORE_WIDTH
    r_max = float(r_max)
    if not 0 < r_min < r_max:
        raise ValueError(f"need 0 < r_min < r_max, got {r_min}, {r_max}")
    r = np.arange(r_max, r_min - 0.5 * step, -step)
    out = {}
    for ia, a in enumerate(pot.species):
        for b in pot.species[ia:]:
            e, f = dimer_curve(pot, a, b, r)
            ok = bool(np.all(np.diff(e) > 0) and np.all(f >= MIN_OUTWARD_FORCE))
            out[(a, b)] = {"repulsive": ok, "min_force": float(f.min()), "rise": float(e[-1] - e[0])}
            if not ok and pot.baseline is not None:
                log.warning("species pair %s-%s: the dimer is not repulsive between %.2f and %.2f A "
                            "(smallest outward force %.3g eV/A)", a, b, r_min, r_max, f.min())
    bad = [f"{a}-{b}" for (a, b), v in out.items() if not v["repulsive"]]
    if bad and pot.baseline is None:
        log.info("%d of %d species pairs do not repel between %.2f and %.2f A (%s); baseline='zbl' makes them",
                 len(bad), len(out), r_min, r_max, ", ".join(bad))
    return out
