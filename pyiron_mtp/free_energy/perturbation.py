"""Free-energy perturbation from the MTP to its reference (upsampling, e.g. to DFT).

On uncorrelated snapshots of MD with the MTP, every snapshot is computed with the
reference: dE = E_ref - E_MTP.  Then (per atom, eV)

    dF = -kT ln < exp(-beta dE) >_MTP            (exponential average)
    dF2 = < dE > - beta/2 var(dE)                 (second-order cumulant)

with the statistical error of dF (bootstrap over snapshots) and the effective sample size
of the exponential weights, (sum w)^2 / sum w^2: a small one means the average rests on a
few snapshots and cannot be trusted.  Failed reference calculations are logged and left
out (counted), never silently included.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .reference import KB

__all__ = ["perturbation_estimate", "upsample", "PerturbationResult"]

log = logging.getLogger(__name__)


@dataclass
class PerturbationResult:
    delta_f: float                 # eV/atom, exponential average
    delta_f_error: float           # eV/atom, bootstrap standard error
    delta_f_cumulant: float        # eV/atom, second-order cumulant
    mean_delta_e: float            # eV/atom
    std_delta_e: float             # eV/atom
    effective_samples: float
    samples: int
    failures: int = 0
    delta_e: list = field(default_factory=list)   # per snapshot, eV/atom

    def summary(self):
        return {k: getattr(self, k) for k in ("delta_f", "delta_f_error", "delta_f_cumulant", "mean_delta_e",
                                              "std_delta_e", "effective_samples", "samples", "failures")}


def perturbation_estimate(delta_e, temperature, n_atoms=1, bootstrap=1000, seed=0, failures=0):
    """dF per atom from per-snapshot energy differences ``delta_e`` (eV per structure of
    ``n_atoms`` atoms)."""
    de = np.asarray(delta_e, dtype=float)
    if de.size == 0:
        raise ValueError("no snapshots with a reference result: nothing to average")
    if not np.all(np.isfinite(de)):
        raise ValueError("energy differences contain NaN or inf")
    beta = 1.0 / (KB * temperature)

    def exp_average(x):
        m = x.min()
        return m - np.log(np.mean(np.exp(-beta * (x - m)))) / beta

    df = exp_average(de)
    rng = np.random.default_rng(seed)
    boots = [exp_average(de[rng.integers(0, len(de), len(de))]) for _ in range(bootstrap)] if len(de) > 1 else [df]
    w = np.exp(-beta * (de - de.min()))
    ess = float(w.sum() ** 2 / np.sum(w ** 2))
    cumulant = de.mean() - 0.5 * beta * de.var(ddof=1) if len(de) > 1 else de.mean()
    n = float(n_atoms)
    return PerturbationResult(float(df / n), float(np.std(boots, ddof=1) / n) if len(de) > 1 else float("nan"),
                              float(cumulant / n), float(de.mean() / n),
                              float(de.std(ddof=1) / n) if len(de) > 1 else 0.0, ess, len(de), failures,
                              (de / n).tolist())


def upsample(snapshots, mtp_calculator, reference, temperature, executor=None, progress=True):
    """dF from the MTP to ``reference`` (a zero-argument callable returning a fresh ASE
    calculator, as in learning on the fly) on ``snapshots`` (ASE Atoms, uncorrelated MD
    frames of equal size).  ``executor``: any ``concurrent.futures`` executor for the
    reference calculations (default: one after another)."""
    from ..on_the_fly import ReferenceError, reference_calculation
    from tqdm.auto import tqdm
    if not snapshots:
        raise ValueError("no snapshots")
    n = len(snapshots[0])
    if any(len(a) != n for a in snapshots):
        raise ValueError("all snapshots must have the same number of atoms")
    e_mtp = []
    for a in snapshots:
        b = a.copy()
        b.calc = mtp_calculator
        e_mtp.append(b.get_potential_energy())
    futures = [executor.submit(reference_calculation, a, reference) for a in snapshots] if executor else None
    de, failures = [], 0
    for k, a in enumerate(tqdm(snapshots, desc="reference calculations", disable=not progress)):
        try:
            energy = (futures[k].result() if futures else reference_calculation(a, reference))[0]
            de.append(energy - e_mtp[k])
        except (ReferenceError, RuntimeError, ValueError) as exc:
            failures += 1
            log.warning("reference calculation of snapshot %d failed, left out: %s", k, exc)
    return perturbation_estimate(de, temperature, n, failures=failures)
