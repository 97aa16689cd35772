"""Melting temperature from the crossing of the solid's and the liquid's Gibbs free energies.

G_solid(T) comes from Frenkel-Ladd switching at the lower end of a temperature window and
reversible scaling up to its upper end; G_liquid(T) from Uhlenbeck-Ford switching at the
upper end and reversible scaling down.  Their difference dG = G_l - G_s crosses zero at
T_m; its error is sigma_dG(T_m) / |d dG/dT| with d dG/dT = -(S_l - S_s) = -dS; the latent
heat is T_m dS.  When the crossing falls outside the window, the window moves (bracket
search); a solid that melts while heated or a liquid that crystallises while cooled
narrows it from that side.  Energies in eV/atom, temperatures in K.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..parallel import run_parallel
from .engine import FreeEnergyResult, PhaseError, free_energy

__all__ = ["melting_point", "MeltingResult", "crossing", "estimate_melting_temperature"]

SUPERHEATING = 1.25   # a crystal heated at ~100 K/ps melts at about this times T_m

log = logging.getLogger(__name__)


@dataclass
class MeltingResult:
    melting_temperature: float
    melting_temperature_error: float
    latent_heat: float             # eV/atom
    entropy_of_melting: float      # eV/K/atom
    temperatures: np.ndarray
    solid: FreeEnergyResult
    liquid: FreeEnergyResult
    windows: list = field(default_factory=list)
    flags: list = field(default_factory=list)

    def summary(self):
        return {"melting_temperature": self.melting_temperature,
                "melting_temperature_error": self.melting_temperature_error,
                "latent_heat": self.latent_heat, "entropy_of_melting": self.entropy_of_melting,
                "windows": self.windows, "flags": self.flags,
                "solid_free_energy_at_tm": float(np.interp(self.melting_temperature, self.solid.temperatures,
                                                           self.solid.free_energy)),
                "solid_volume": self.solid.volume, "liquid_volume": self.liquid.volume}

    def plot(self, ax=None):
        """G_s(T) and G_l(T) with error bands and the crossing; returns the axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for res, label in ((self.solid, "solid"), (self.liquid, "liquid")):
            t, g, e = res.temperatures, np.asarray(res.free_energy), np.asarray(res.free_energy_error)
            ax.plot(t, g, label=label)
            ax.fill_between(t, g - e, g + e, alpha=0.3)
        tm, dtm = self.melting_temperature, self.melting_temperature_error
        ax.axvline(tm, color="k", lw=0.8)
        ax.axvspan(tm - dtm, tm + dtm, color="k", alpha=0.1)
        ax.set(xlabel="temperature (K)", ylabel="G (eV/atom)", title=f"T_m = {tm:.0f} ± {dtm:.0f} K")
        ax.legend()
        return ax


def crossing(temperatures, g_solid, e_solid, g_liquid, e_liquid):
    """(T_m, error, dS) where G_l - G_s changes sign (None if it does not in the range)."""
    t = np.asarray(temperatures, dtype=float)
    dg = np.asarray(g_liquid) - np.asarray(g_solid)
    sign = np.sign(dg)
    idx = np.flatnonzero(sign[:-1] * sign[1:] < 0)
    if len(idx) == 0:
        return None
    k = idx[0]
    tm = t[k] - dg[k] * (t[k + 1] - t[k]) / (dg[k + 1] - dg[k])
    # slope from a straight-line fit over the window (dG is close to linear near T_m)
    slope = np.polyfit(t, dg, 1)[0]
    sigma = float(np.hypot(np.interp(tm, t, e_solid), np.interp(tm, t, e_liquid)))
    return float(tm), float(sigma / abs(slope)), float(-slope)


def melting_point(potential, lattice="fcc", guess=1000.0, *, species=None, atoms=500, repeats=3, protocol=None,
                  window=0.1, workdir="melting_point", cores=1, parallel=1, seed=12345, max_windows=5,
                  progress=True, run=None) -> MeltingResult:
    """Melting temperature (K) of ``potential`` (a :class:`LammpsPotential`) for ``lattice``.

    The first window is ``guess`` +- ``window`` x guess.  A crystal that melts when heated to
    the upper end lowers it, a liquid that crystallises when cooled to the lower end raises
    that; a window without a crossing moves towards it.  Each phase runs ``repeats``
    independent repetitions (stages kept in ``workdir``, so a killed search continues);
    with ``parallel`` >= 2 the repetitions of solid and liquid share the ``parallel`` slots.
    """
    workdir = Path(workdir)
    t_lo, t_hi = guess * (1 - window), guess * (1 + window)
    windows, flags = [], []
    kwargs = dict(lattice=lattice, species=species, atoms=atoms, repeats=repeats, protocol=protocol, cores=cores,
                  parallel=parallel, seed=seed, progress=progress, run=run)
    for _ in range(max_windows):
        t_lo, t_hi = round(t_lo), round(t_hi)
        if [t_lo, t_hi] in windows:
            raise RuntimeError(
                f"the crossing moved between the windows {windows[-2:]} (no crossing in either, each pointing "
                f"at the other): the free energies are not precise enough - switch more slowly (switching_steps), "
                f"run more repetitions or more atoms")
        windows.append([t_lo, t_hi])
        tag = f"{t_lo}_{t_hi}"
        solid, liquid = _both_phases(potential, t_lo, t_hi, workdir / f"solid_{tag}", workdir / f"liquid_{tag}",
                                     parallel, kwargs)
        if isinstance(solid, PhaseError):
            # the crystal melted while heated to t_hi: T_m lies below t_hi; shrink from above
            log.warning("window %s-%s K: %s; lowering the upper end", t_lo, t_hi, solid)
            flags.append(f"the solid melted when heated to {t_hi} K: upper end lowered")
            t_hi = t_hi - 0.35 * (t_hi - t_lo)
            if t_hi - t_lo < 0.04 * guess:
                t_lo -= 0.1 * guess
            continue
        if isinstance(liquid, PhaseError):
            # the liquid crystallised while cooled to t_lo (or did not melt at t_hi): raise the lower end
            log.warning("window %s-%s K: %s; raising the lower end", t_lo, t_hi, liquid)
            flags.append(f"the liquid crystallised when cooled to {t_lo} K: lower end raised")
            t_lo = t_lo + 0.35 * (t_hi - t_lo)
            if t_hi - t_lo < 0.04 * guess:
                t_hi += 0.1 * guess
            continue
        temps = np.linspace(t_lo, t_hi, 201)
        gs = np.interp(temps, solid.temperatures, solid.free_energy)
        es = np.interp(temps, solid.temperatures, solid.free_energy_error)
        lt = liquid.temperatures[::-1]
        gl = np.interp(temps, lt, np.asarray(liquid.free_energy)[::-1])
        el = np.interp(temps, lt, np.asarray(liquid.free_energy_error)[::-1])
        found = crossing(temps, gs, es, gl, el)
        if found is None:
            width = t_hi - t_lo
            if np.all(gl > gs):   # the solid is stable everywhere: T_m above the window
                t_lo, t_hi = t_hi - 0.1 * width, t_hi + 0.9 * width
            else:
                t_lo, t_hi = t_lo - 0.9 * width, t_lo + 0.1 * width
            flags.append(f"no crossing in {windows[-1][0]}-{windows[-1][1]} K: window moved")
            continue
        tm, err, ds = found
        solid_r = _on_grid(solid, temps, gs, es)
        liquid_r = _on_grid(liquid, temps, gl, el)
        return MeltingResult(tm, err, tm * ds, ds, temps, solid_r, liquid_r, windows,
                             flags + solid.flags + liquid.flags)
    raise RuntimeError(f"no melting temperature found in {len(windows)} windows ({windows}); give a better guess")


def _both_phases(potential, t_lo, t_hi, solid_dir, liquid_dir, parallel, kwargs):
    """(solid, liquid) free energies across the window, each a result or the PhaseError it raised.

    With ``parallel`` >= 2 the repetitions of both phases share one pool of ``parallel`` slots,
    so no slot idles while the other phase still has work; serially the liquid is skipped when
    the solid already failed (the window changes)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(phase, executor=None):
        try:
            if phase == "solid":
                return free_energy(potential, "solid", t_lo, tmax=t_hi, workdir=solid_dir, executor=executor,
                                   **kwargs)
            return free_energy(potential, "liquid", t_hi, tmax=t_lo, workdir=liquid_dir, executor=executor,
                               **kwargs)
        except PhaseError as exc:
            return exc

    if parallel >= 2:
        with ThreadPoolExecutor(parallel) as pool:
            solid, liquid = run_parallel(lambda phase: one(phase, pool), ["solid", "liquid"], workers=2,
                                         progress=False, processes=False)
        return solid, liquid
    solid = one("solid")
    return solid, (None if isinstance(solid, PhaseError) else one("liquid"))


def _on_grid(res, temps, g, e):
    import copy
    out = copy.copy(res)
    out.temperatures, out.free_energy, out.free_energy_error = temps, g, e
    return out


def estimate_melting_temperature(potential, lattice="fcc", atoms=256, t_start=100.0, t_end=4000.0, steps=20000,
                                 workdir="melting_estimate", cores=1, seed=4242, run=None):
    """A first guess of T_m: the crystal heated in NPT from ``t_start`` to ``t_end`` melts
    (crystalline fraction below one half) at about 1.25 T_m."""
    from . import stages
    from .engine import _Runner, make_structure
    from .protocol import Protocol
    p = Protocol()
    start = make_structure(potential.species, lattice, atoms)
    rc = stages.order_parameters(lattice, start.get_volume() / len(start))
    s = stages._Script(potential, p, rc).pair().monitor()
    td, pd = p.tdamp / 1000, p.pdamp / 1000
    s.add(f"velocity all create {t_start!r} {seed} dist gaussian mom yes rot yes",
          f"fix npt all npt temp {t_start!r} {t_end!r} {td!r} iso 0.0 0.0 {pd!r}",
          "variable tv equal temp",
          'fix heatlog all print 100 "${tv} ${cf}" file heating.txt screen no title ""', f"run {steps}")

    def read(folder):
        data = stages._table(folder / "heating.txt", 2)
        return {"temperature": data[:, 0].tolist(), "crystalline": data[:, 1].tolist()}
    res = _Runner(potential, workdir, cores, run)(stages.Stage("heating", s.finish(), read), "heating", start)
    t, c = np.array(res["temperature"]), np.array(res["crystalline"])
    molten = np.flatnonzero(c < 0.5)
    if len(molten) == 0:
        raise RuntimeError(f"the crystal did not melt up to {t_end:g} K; give a guess of the melting temperature")
    return float(t[molten[0]] / SUPERHEATING)
