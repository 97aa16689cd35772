"""Melting temperature from how fast solid-liquid interfaces move at fixed temperatures.

The two-phase box of :mod:`.coexistence` (the crystal equilibrated at T, its upper half
melted and cooled back to T with the lower half frozen) runs in NPT at T and zero pressure
(x, y and z independently) instead of NPH: below T_m the crystal grows into the liquid, above
it melts, at a rate that near T_m is proportional to T_m - T (the interface mobility).  The
rate of each run is the slope of the box's solid share (the q6 solid-like fraction over the
crystal's own at T) against time, after the first ``settle`` ps; a straight line through the
rates of runs at several temperatures crosses zero at T_m.

Unlike the NPH method no temperature has to settle by itself (a box of a few thousand atoms
wanders by tens of K there) and every run costs the same, so the runs go side by side.  The
error of T_m comes from the scatter of the rates about the line (a weighted least-squares fit,
errors scaled up by the fit's own chi-square when it is above one): no single run's error
estimate is trusted alone.

Temperatures in K, times in ps, rates in solid share per ps.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..parallel import run_parallel, share_slots
from . import stages
from .coexistence import coexistence_box, two_phase_stage
from .engine import StageRunner
from .protocol import Protocol

__all__ = ["interface_velocity_melting_point", "InterfaceVelocityResult", "share_rate", "zero_of_line"]

log = logging.getLogger(__name__)


@dataclass
class InterfaceVelocityResult:
    """T_m (K) where the solid share's rate of change vanishes, its standard error, the slope
    of the rate against T (share per ps per K; negative), the box's atoms and every run
    (temperature, rate, its error, the solid share at start and end)."""

    melting_temperature: float
    melting_temperature_error: float
    slope: float
    atoms: int
    lattice: str
    runs: list = field(default_factory=list)
    flags: list = field(default_factory=list)

    def summary(self):
        return {"melting_temperature": self.melting_temperature,
                "melting_temperature_error": self.melting_temperature_error, "slope": self.slope,
                "atoms": self.atoms, "lattice": self.lattice,
                "runs": [{k: v for k, v in r.items() if k != "trace"} for r in self.runs], "flags": self.flags}

    def plot(self, ax=None):
        """Rates against temperature with the fitted line and T_m; returns the axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        t = np.array([r["temperature"] for r in self.runs])
        v = np.array([r["rate"] for r in self.runs])
        e = np.array([r["rate_error"] for r in self.runs])
        ax.errorbar(t, v * 100, yerr=e * 100, fmt="o")
        grid = np.linspace(t.min() - 5, t.max() + 5, 50)
        ax.plot(grid, self.slope * (grid - self.melting_temperature) * 100, "k-", lw=0.8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvspan(self.melting_temperature - self.melting_temperature_error,
                   self.melting_temperature + self.melting_temperature_error, color="C1", alpha=0.3)
        ax.set(xlabel="T (K)", ylabel="solid share gained (% per ps)",
               title=f"interface velocity: T_m = {self.melting_temperature:.0f} ± "
                     f"{self.melting_temperature_error:.0f} K")
        return ax


def share_rate(trace, timestep=1.0, settle=10.0, min_points=10):
    """(rate, its error) of the solid share in a run's trace (rows: step, T, share): the slope of
    a straight line through the share against time (ps) after the first ``settle`` ps, and its
    error from the slopes of the four quarters of that stretch (their scatter, / 2).  ``timestep``
    in fs.  None when fewer than ``min_points`` rows remain (the box turned one phase at once)."""
    tr = np.asarray(trace, dtype=float)
    if tr.ndim != 2 or len(tr) == 0:
        return None
    ps = (tr[:, 0] - tr[0, 0]) * timestep / 1000.0
    keep = ps >= settle
    if keep.sum() < min_points:
        return None
    x, y = ps[keep], tr[keep, 2]
    rate = float(np.polyfit(x, y, 1)[0])
    quarters = [q for q in np.array_split(np.arange(len(x)), 4) if len(q) >= 3]
    slopes = [np.polyfit(x[q], y[q], 1)[0] for q in quarters]
    err = float(np.std(slopes, ddof=1) / np.sqrt(len(slopes))) if len(slopes) > 1 else float("nan")
    return rate, err


def zero_of_line(temperatures, rates, errors):
    """(T where the weighted straight line through ``rates`` (K, per ps) is zero, its standard
    error, the slope).  Weights 1/error^2 (errors that are missing or zero get the largest one);
    the parameters' errors are scaled by sqrt(chi^2 / dof) when that exceeds one, so that rates
    scattering more than their own errors say widen T_m's error.  ValueError for fewer than two
    temperatures or a line that does not fall with T (no melting point between solid and liquid)."""
    t, v = np.asarray(temperatures, float), np.asarray(rates, float)
    e = np.asarray(errors, float)
    if len(np.unique(t)) < 2:
        raise ValueError("the rates at two or more temperatures are needed for a line")
    fallback = np.nanmax(e[np.isfinite(e) & (e > 0)]) if np.any(np.isfinite(e) & (e > 0)) else 1.0
    e = np.where(np.isfinite(e) & (e > 0), e, fallback)
    w = 1.0 / e ** 2
    tc = float(np.sum(w * t) / np.sum(w))
    x = t - tc
    sxx = float(np.sum(w * x * x))
    b = float(np.sum(w * x * v) / sxx)
    c = float(np.sum(w * v) / np.sum(w))
    var_b, var_c = 1.0 / sxx, 1.0 / np.sum(w)
    dof = len(t) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (v - c - b * x) ** 2)) / dof
        if chi2 > 1.0:
            var_b, var_c = var_b * chi2, var_c * chi2
    if not b < 0:
        raise ValueError(f"the solid share's rate does not fall with temperature (slope {b:.3g} per ps per K): "
                         "no melting point between these temperatures can be read from it")
    tm = tc - c / b
    err = float(np.sqrt(var_c + (c / b) ** 2 * var_b) / abs(b))
    return float(tm), err, b


def interface_velocity_melting_point(potential, lattice="fcc", temperatures=(), *, species=None, atoms=2000,
                                     protocol=None, steps=(10000, 5000, 3000, 50000), repeats=1, settle=10.0,
                                     workdir="interface_velocity", cores=1, seed=4049,
                                     run=None) -> InterfaceVelocityResult:
    """T_m (K) of ``potential`` (a :class:`LammpsPotential`) from the interfaces' speed at fixed
    ``temperatures`` (K; at least two, best a few spread over about +-2 % around a first guess such as
    the NPH coexistence figure).

    ``steps``: (crystal NPT, melting, cooling the liquid half, NPT of the two-phase box) steps, as in
    :func:`~.coexistence.coexistence_melting_point`; ``repeats`` runs per temperature (other seeds);
    ``settle``: ps at the start of each two-phase run left out of its rate (the interfaces form and
    the liquid half, prepared at the crystal's density, relaxes: Pt_u3's and W_zhou's boxes kept
    their share for 10-25 ps before it moved; from 5 to 20 ps Pt's T_m went 1544 -> 1552 K, W's
    4612 -> 4616 K).
    A run whose box turns one phase stops there; its rate comes from the time it had.  The runs
    share the ``cores`` MPI ranks (one run per rank as far as they go) and are kept in ``workdir``
    (a rerun continues).  A T_m outside the temperatures tried is extrapolated and flagged."""
    temperatures = [round(float(t)) for t in temperatures]
    if len(set(temperatures)) < 2:
        raise ValueError(f"give at least two different temperatures, got {temperatures}")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    p = protocol or Protocol()
    box = coexistence_box(species or potential.species, lattice, atoms)
    potential.check_species(box.get_chemical_symbols())
    order = stages.order_parameters(lattice, box.get_volume() / len(box))
    tasks = [(t, r) for t in temperatures for r in range(repeats)]
    at_once, cores_each = share_slots(len(tasks), cores)

    def one(task):
        t, r = task
        name = f"T{t}" if r == 0 else f"T{t}_rep{r}"
        res = StageRunner(potential, Path(workdir), cores_each, run)(
            two_phase_stage(potential, p, lattice, order, t, seed + 10 * r + t, steps, stop_fraction=0.02, hold=True),
            name, box)
        return t, r, res

    runs, flags = [], []
    for t, r, res in run_parallel(one, tasks, workers=at_once, processes=False, desc="interface runs",
                                  unit="run"):
        tr = np.asarray(res["trace"], dtype=float)
        got = share_rate(tr, res.get("timestep", p.timestep), settle)
        info = {"temperature": t, "repeat": r, "trace": res["trace"],
                "share_start": float(tr[0, 2]) if len(tr) else float("nan"),
                "share_end": float(tr[-1, 2]) if len(tr) else float("nan"),
                "mean_temperature": float(tr[len(tr) // 2:, 1].mean()) if len(tr) else float("nan")}
        if got is None:
            flags.append(f"interface run at {t} K (repeat {r}): the box turned one phase within {settle:g} ps; "
                         f"left out (too far from T_m for a rate)")
            info.update(rate=float("nan"), rate_error=float("nan"))
        else:
            info.update(rate=got[0], rate_error=got[1])
            log.info("interface run at %s K: solid share %+.4f +- %.4f per ps", t, *got)
        runs.append(info)
    good = [x for x in runs if np.isfinite(x["rate"])]
    if len({x["temperature"] for x in good}) < 2:
        raise RuntimeError(f"fewer than two temperatures gave a rate ({'; '.join(flags)}): choose temperatures "
                           "closer to T_m")
    tm, err, slope = zero_of_line([x["temperature"] for x in good], [x["rate"] for x in good],
                                  [x["rate_error"] for x in good])
    lo, hi = min(temperatures), max(temperatures)
    if not lo <= tm <= hi:
        flags.append(f"interface velocity: T_m = {tm:.0f} K lies outside the temperatures tried ({lo}-{hi} K): "
                     "extrapolated")
    log.info("interface velocity: T_m = %.1f +- %.1f K", tm, err)
    return InterfaceVelocityResult(tm, err, slope, len(box), lattice, runs, flags)
