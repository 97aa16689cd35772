"""Melting temperature from the crossing of the solid's and the liquid's Gibbs free energies,
with a first guess from solid-liquid coexistence (:mod:`.coexistence`).

G_solid(T) comes from Frenkel-Ladd switching at half the lower end of a temperature window
(by default; :data:`SOLID_REFERENCE`) and reversible scaling up to its upper end; G_liquid(T)
from Uhlenbeck-Ford switching at the upper end and reversible scaling down.  Their difference
dG = G_l - G_s crosses zero at T_m; its error is sigma_dG(T_m) / |d dG/dT| with
d dG/dT = -(S_l - S_s) = -dS; the latent heat is T_m dS.  The window search follows the
evidence (:func:`melting_point`): a solid that melted at T bounds T_m from above, a liquid that
crystallised at T from below, a window without a crossing from its side.  Energies in eV/atom, temperatures in K.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..parallel import run_parallel, share_slots
from .engine import FreeEnergyResult, LatticeChange, PhaseError, free_energy
from .protocol import Protocol
from .reference import crystal_translation_term

__all__ = ["melting_point", "MeltingResult", "crossing", "curve_on", "estimate_melting_temperature", "next_window",
           "size_extrapolation", "translation_correction", "harmonic_correction", "shifted_crossing",
           "size_options", "SIZE_CORRECTIONS", "competing_lattices_from"]

# a 256-atom crystal heated at ~200 K/ps melts at about this times T_m (Cu_mishin1 fcc 1.44,
# Fe_mm bcc 1.10; other fcc EAMs 1.3-1.6); coexistence corrects the rest
SUPERHEATING = {"fcc": 1.4, "hcp": 1.3, "bcc": 1.15}
#: solid-like fraction below which the heated crystal counts as molten (mean of three samples)
MOLTEN_FRACTION = 0.25
# solids compared with the melting one by default (competing_lattices="auto"): a close-packed
# hexagonal crystal against bcc (Ti, Zr, Hf turn bcc before they melt)
COMPETING = {"hcp": ("bcc",), "fcc": (), "bcc": ()}

log = logging.getLogger(__name__)

#: the solid's Frenkel-Ladd reference by default (solid_reference="auto"): at this fraction of the
#: window's lower end, then reversibly scaled up across the window (bcc Fe_mm: the error of G_s at
#: T_m 0.26 against 0.49 meV/atom from the window's lower end, the same G; benchmarks/RESULTS.md)
SOLID_REFERENCE = 0.5

#: finite-size corrections of the solid's T_m (see melting_point)
SIZE_CORRECTIONS = ("harmonic", "translation", "measured", None)


@dataclass
class MeltingResult:
    """T_m (K) and its error; latent heat (eV/atom) and entropy of melting (eV/K/atom) from the
    free energies; G_s(T), G_l(T) on ``temperatures``.  ``windows``: every window tried,
    ``steps``: what each showed and why the search moved; ``coexistence``: the two-phase
    result (method "both" or "coexistence"); ``phase_changes``: solids that changed lattice
    (from, to, temperature, stage); ``lattice``: the solid that melts; ``comparison``: the two
    methods side by side (:func:`compare_methods`)."""

    melting_temperature: float
    melting_temperature_error: float
    latent_heat: float             # eV/atom
    entropy_of_melting: float      # eV/K/atom
    temperatures: np.ndarray
    solid: FreeEnergyResult | None
    liquid: FreeEnergyResult | None
    windows: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    lattice: str = "fcc"
    method: str = "free_energy"
    coexistence: object = None
    phase_changes: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    workdir: str = ""
    finite_size: dict | None = None
    lattice_comparison: list = field(default_factory=list)
    comparison: dict | None = None
    liquid_finite_size: dict | None = None

    def summary(self):
        """JSON-ready figures; ``solid_volume``/``liquid_volume`` (A^3/atom) at T_m (from each phase's
        reversible scaling), ``solid_reference_temperature`` (K) where the solid was switched."""
        out = {"melting_temperature": self.melting_temperature,
               "melting_temperature_error": self.melting_temperature_error,
               "latent_heat": self.latent_heat, "entropy_of_melting": self.entropy_of_melting,
               "windows": self.windows, "flags": self.flags,
               "solid_free_energy_at_tm": float("nan"), "solid_volume": float("nan"),
               "solid_reference_temperature": float("nan"),
               "liquid_volume": float("nan"), "lattice": self.lattice, "method": self.method,
               "phase_changes": self.phase_changes, "steps": self.steps,
               "coexistence": None if self.coexistence is None else self.coexistence.summary(),
               "finite_size": self.finite_size, "liquid_finite_size": self.liquid_finite_size,
               "lattice_comparison": self.lattice_comparison,
               "comparison": self.comparison}
        if self.solid is not None:
            out["solid_free_energy_at_tm"] = float(np.interp(self.melting_temperature, self.solid.temperatures,
                                                             self.solid.free_energy))
            out["solid_volume"], out["liquid_volume"] = (_volume_near(r, self.melting_temperature)
                                                         for r in (self.solid, self.liquid))
            out["solid_reference_temperature"] = float(self.solid.temperature)
        return out

    def plot(self, ax=None):
        """G_s(T) and G_l(T) with error bands and the crossing (and the coexistence T_m);
        returns the axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        if self.solid is None:
            return self.coexistence.plot()[0]
        if self.coexistence is not None:
            tc = self.coexistence.melting_temperature
            ax.axvline(tc, color="C3", ls="--", lw=0.8, label=f"coexistence {tc:.0f} K")
        for res, label in ((self.solid, "solid"), (self.liquid, "liquid")):
            t, g, e = res.temperatures, np.asarray(res.free_energy), np.asarray(res.free_energy_error)
            ax.plot(t, g, label=label)
            ax.fill_between(t, g - e, g + e, alpha=0.3)
        fs = self.finite_size
        if fs is not None:
            t, g = self.solid.temperatures, np.asarray(self.solid.free_energy)
            shift = (crystal_translation_term(t, fs["atoms"][0]) if fs.get("method") == "translation"
                     else np.interp(t, *fs["shift_curve"]) if fs.get("method") == "harmonic" else fs["shift"])
            ax.plot(t, g + shift, color="C0", ls="--", label="solid, N -> infinity")
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
    above = dg > 0
    idx = np.flatnonzero(above[:-1] != above[1:])      # (a zero on the grid counts as a change)
    if len(idx) == 0:
        return None
    k = idx[0]
    tm = t[k] - dg[k] * (t[k + 1] - t[k]) / (dg[k + 1] - dg[k])
    # slope from a straight-line fit over the window (dG is close to linear near T_m)
    slope = np.polyfit(t, dg, 1)[0]
    sigma = float(np.hypot(np.interp(tm, t, e_solid), np.interp(tm, t, e_liquid)))
    return float(tm), float(sigma / abs(slope)), float(-slope)


def curve_on(result, temps):
    """(G, error) in eV/atom of a reversible-scaling result interpolated on ``temps`` (K); its own
    grid may run up (the solid, scaled from the window's lower end) or down (the liquid)."""
    t = np.asarray(result.temperatures, dtype=float)
    g = np.asarray(result.free_energy, dtype=float)
    e = np.asarray(result.free_energy_error, dtype=float)
    if t[0] > t[-1]:
        t, g, e = t[::-1], g[::-1], e[::-1]
    return np.interp(temps, t, g), np.interp(temps, t, e)


@dataclass
class _Bracket:
    """What the runs so far say about T_m (K): it lies above ``above`` and below ``below`` (all
    evidence: failed phases and free energies without a crossing); ``froze``: the highest
    temperature a liquid crystallised at, ``melted``: the lowest a solid melted at (failures
    only - they limit where the next window may reach, the rest only where it is centred)."""

    above: float = -np.inf
    below: float = np.inf
    froze: float = -np.inf
    melted: float = np.inf

    def lower_than(self, t, failed=True):
        self.below = min(self.below, float(t))
        if failed:
            self.melted = min(self.melted, float(t))

    def higher_than(self, t, failed=True):
        self.above = max(self.above, float(t))
        if failed:
            self.froze = max(self.froze, float(t))

    def __str__(self):
        lo = f"{self.above:.0f}" if np.isfinite(self.above) else "?"
        hi = f"{self.below:.0f}" if np.isfinite(self.below) else "?"
        return f"{lo} K < T_m < {hi} K"


def next_window(bracket: _Bracket, centre, width, tried, margin):
    """The next temperature window [t_lo, t_hi] (K, rounded), ``width`` wide.

    Its ends stay max(``margin``, ``width``/4) away from where a phase failed (a solid melted
    after reaching ``bracket.melted``, a liquid crystallised after cooling to ``bracket.froze``;
    near there they would fail again: a phase that failed at a window's far end survived most
    of it, so its next window ends a quarter of a window inside, not just beyond).  Its centre
    is ``centre`` (the extrapolated crossing), moved into the bracket by ``margin`` from its
    ends (to the bracket's middle when narrower); an end set by free energies without a
    crossing does not limit the window's reach - those phases survived there - so two windows
    without a crossing on either side of T_m are followed by one across the gap.  Never a
    window already ``tried``.  RuntimeError when the failures leave no room or the evidence
    puts T_m where no window can reach."""
    keep = max(margin, width / 4)
    lo_lim = bracket.froze + keep
    hi_lim = bracket.melted - keep
    if hi_lim - lo_lim < max(margin, 0.01 * centre):
        raise RuntimeError(f"the runs so far leave no window ({bracket}; a liquid crystallised at "
                           f"{bracket.froze:.0f} K, a solid melted at {bracket.melted:.0f} K): the phases fail on "
                           f"both sides - check the potential, or switch more slowly")
    if bracket.above >= bracket.below:
        raise RuntimeError(f"the windows contradict each other (T_m above {bracket.above:.0f} K and below "
                           f"{bracket.below:.0f} K): the free energies are not precise enough to place the crossing "
                           f"- switch more slowly (switching_steps), run more repetitions or more atoms")
    a, b = max(bracket.above, lo_lim), min(bracket.below, hi_lim)
    if not a < b:
        failed = [f"{what} at {t:.0f} K" for what, t in (("a liquid crystallised", bracket.froze),
                                                          ("a solid melted", bracket.melted)) if np.isfinite(t)]
        raise RuntimeError(f"the runs so far leave no window ({bracket}): the free energies put T_m where a "
                           f"phase failed in an earlier window ({', '.join(failed)}) - switch more slowly or run "
                           f"more repetitions")
    c = min(max(centre, a + margin), b - margin) if b - a > 2 * margin else 0.5 * (a + b)
    lo, hi = c - width / 2, c + width / 2
    if hi_lim - lo_lim <= width:
        lo, hi = lo_lim, hi_lim
    elif lo < lo_lim:
        lo, hi = lo_lim, lo_lim + width
    elif hi > hi_lim:
        lo, hi = hi_lim - width, hi_lim
    window = [round(lo), round(hi)]
    if window in tried:
        raise RuntimeError(f"the next window {window} K was already tried ({bracket}); the free energies are not "
                           f"precise enough to place the crossing - switch more slowly (switching_steps), run "
                           f"more repetitions or more atoms")
    return window


def melting_point(potential, lattice="fcc", guess=None, *, method="both", species=None, atoms=500, repeats=3,
                  protocol=None, window=None, workdir=None, cores=1, parallel=1, seed=12345,
                  max_windows=6, liquid_atoms=None, size_correction="harmonic", size_check_atoms=None,
                  liquid_size_check_atoms=None, coexistence_atoms=2000,
                  coexistence_steps=(10000, 5000, 3000, 50000), coexistence_repeats=3,
                  follow_lattice=True, competing_lattices="auto", target_error=5.0, max_repeats="auto",
                  solid_reference="auto", progress=True, run=None) -> MeltingResult:
    """Melting temperature (K) of ``potential`` (a :class:`LammpsPotential`) for ``lattice``.

    ``method``: "both" (default: solid-liquid coexistence gives the first guess, free energies
    the number; both reported), "free_energy" (first guess ``guess`` or from heating the
    crystal), or "coexistence" (the two-phase box alone).  ``guess`` (K, optional) starts
    the coexistence runs or the free-energy search.

    The free-energy search computes G_s (Frenkel-Ladd at its reference temperature, reversible
    scaling up across the window; ``solid_reference``, below) and G_l (Uhlenbeck-Ford at the
    upper end, scaling down) across a window of +-``window`` x T (default 0.05 after
    coexistence, 0.1 otherwise) and follows the evidence: a solid that melted at T puts T_m
    below T, a liquid that crystallised at T puts it above, a window without a crossing puts it
    beyond the side where G_l - G_s points; the next window is centred inside that bracket and
    kept away from where a phase failed (:func:`next_window`; never a window already tried),
    and every move is logged with its reason (``MeltingResult.windows``, ``.steps``).  A solid
    that turns into another lattice (e.g. hcp -> bcc) is reported as a phase change and, with
    ``follow_lattice``, the search continues with the new lattice.  Each phase runs ``repeats``
    independent repetitions (stages kept in ``workdir``, so a killed search continues) with about
    ``atoms`` atoms (the liquid: ``liquid_atoms``, default the same).  T_m is corrected to
    N -> infinity (``result.finite_size``; a 500-atom fcc solid alone puts it ~20 K high) by
    ``size_correction``: "harmonic" (default; seconds) raises G_s(T) by the size dependence of
    the potential's harmonic crystal, f(inf) - f(N) from its force constants
    (:func:`harmonic_correction`; one species, a harmonically stable lattice, else the
    translation term with a flag); "translation" (free) by
    :func:`~.reference.crystal_translation_term`, (3/2) kT ln N / N, which the harmonic shift
    follows to 0.1-0.5 meV/atom between 400 and 2000 atoms; "measured" computes a larger solid of
    ``size_check_atoms`` atoms (default, or "auto": four times ``atoms``) at the window's lower end
    and extrapolates G_s linearly in 1/N, its error included (giving ``size_check_atoms`` alone
    chooses it); None: no correction.  The liquid is not corrected by default (at 432-500 atoms its
    size moved T_m by -2 to +8 K on the potentials measured, benchmarks/RESULTS.md);
    ``liquid_size_check_atoms`` (a count, or "auto": four times the liquid's atoms) computes a
    larger liquid at the window's upper end and extrapolates G_l linearly in 1/N, its error
    included (:func:`liquid_size_correction`, ``result.liquid_finite_size``).  With ``parallel`` >= 2 the
    repetitions of solid and liquid share the ``parallel`` slots.  ``workdir``: default a folder
    named after the settings (:func:`~.engine.default_workdir`).

    ``competing_lattices``: other solids whose free energies are computed across the window
    where the melting solid's G crosses the liquid's ("auto": bcc for an hcp solid, none
    otherwise; a tuple of lattices; () for none).  A crystal may stay in a lattice it would leave
    given time: if another solid's G lies below at T_m (by more than twice the combined error),
    that is reported as a phase change at the temperature where the two solids' G cross
    (stage "free energies") and T_m is where the liquid's G crosses the lower solid's.  A
    competitor that does not stay in its own lattice or melts is recorded as mechanically
    unstable (one repetition settles an unstable or a far higher competitor, see
    :func:`_compare_lattice`).  Every comparison is in ``result.lattice_comparison`` (G_other - G_solid at T_m).

    ``solid_reference``: where the solid's Frenkel-Ladd switching runs.  "auto" (default):
    at :data:`SOLID_REFERENCE` (0.5) times the window's lower end, reversibly scaled up from there
    - a crystal far below T_m is closer to the Einstein crystal it is switched to, so the same
    repetitions give a smaller error; a solid that does not keep its lattice from there (a bcc
    crystal stable only when hot) is switched at the window's lower end instead, with a flag.
    "window": at the window's lower end; a number in (0, 1]: that fraction of it.

    ``target_error`` (K, default 5; None: off): while the free-energy T_m's error is above it,
    the part whose doubled repetitions remove most of its variance per atom-step (the solid, the
    liquid or the larger solid of the size correction; :func:`_next_part`) gets them (at most
    ``max_repeats``, "auto": twice ``repeats``), and T_m is recomputed from all of them
    (``result.steps`` says which part and why); a target still missed with every part at the cap
    is flagged.  The larger solid's error is never
    taken below the small solid's scaled by sqrt(N_small R_small / (N_big R_big)): two or three
    repetitions alone say little about their own scatter.
    """
    if method not in ("both", "free_energy", "coexistence"):
        raise ValueError(f"method must be 'both', 'free_energy' or 'coexistence', got {method!r}")
    size_correction, size_check_atoms = size_options(size_correction, size_check_atoms, atoms)
    liquid_size_check_atoms = liquid_size_option(liquid_size_check_atoms, liquid_atoms or atoms)
    target_error, max_repeats = error_target(target_error, max_repeats, repeats)
    reference_fraction = solid_reference_fraction(solid_reference)
    if workdir is None:
        from .engine import default_workdir
        workdir = default_workdir("melting_point", potential, lattice=lattice, atoms=atoms, liquid_atoms=liquid_atoms,
                                  size_correction=size_correction, size_check_atoms=size_check_atoms,
                                  **({"liquid_size_check_atoms": liquid_size_check_atoms}
                                     if liquid_size_check_atoms else {}),
                                  **({"solid_reference": solid_reference} if solid_reference != "auto" else {}),
                                  method=method,
                                  guess=guess, repeats=repeats, seed=seed, window=window,
                                  protocol=(protocol or Protocol()).to_dict(), coexistence_atoms=coexistence_atoms,
                                  coexistence_steps=list(coexistence_steps))
        log.info("work folder: %s", workdir)
    workdir = Path(workdir)
    flags, phase_changes, coex = [], [], None
    ranks = cores * max(1, parallel)       # heating and coexistence: one run at a time on all the slots
    if guess is None:
        guess = estimate_melting_temperature(potential, lattice, workdir=workdir / "estimate", cores=ranks, run=run)
        log.info("first guess from heating the crystal until it melts: %.0f K", guess)
    if method in ("both", "coexistence"):
        from .coexistence import coexistence_melting_point
        while True:
            try:
                coex = coexistence_melting_point(potential, lattice, guess, species=species, atoms=coexistence_atoms,
                                                 protocol=protocol, steps=coexistence_steps,
                                                 repeats=coexistence_repeats, workdir=workdir / f"coexistence_{lattice}", cores=ranks, run=run)
                break
            except LatticeChange as exc:
                lattice = _follow(exc, follow_lattice, flags, phase_changes)
        flags += coex.flags
        if method == "coexistence":
            return MeltingResult(coex.melting_temperature, coex.melting_temperature_error, float("nan"),
                                 float("nan"), np.array([]), None, None, [], flags, lattice=lattice,
                                 method=method, coexistence=coex, phase_changes=phase_changes, workdir=str(workdir))
        guess = coex.melting_temperature
        window = 0.05 if window is None else window
    window = 0.1 if window is None else window
    kwargs = dict(species=species, atoms=atoms, repeats=repeats, protocol=protocol, cores=cores,
                  parallel=parallel, seed=seed, progress=progress, run=run)
    bracket, windows, steps = _Bracket(), [], []
    width, margin = 2 * window * guess, 0.01 * guess
    centre = guess
    window_lattices, comparisons, harmonic_cache = [], [], {}
    while len(windows) < max_windows:
        tried = [w for w, lat in zip(windows, window_lattices) if lat == lattice]    # a new lattice starts afresh
        t_lo, t_hi = next_window(bracket, centre, width, tried, margin)
        windows.append([t_lo, t_hi])
        window_lattices.append(lattice)
        tag = _tag(lattice, t_lo, t_hi)
        t_ref = solid_reference_temperature(t_lo, reference_fraction)
        solid_dir, liquid_dir = _solid_folder(workdir, tag, t_lo, t_ref), workdir / f"liquid_{tag}"
        solid, liquid = _both_phases(potential, t_lo, t_hi, solid_dir, liquid_dir,
                                     parallel, dict(kwargs, lattice=lattice), liquid_atoms, t_solid=t_ref)
        if isinstance(solid, LatticeChange) and t_ref < t_lo:
            why = (f"the {lattice} solid did not keep its lattice when scaled up from its Frenkel-Ladd reference "
                   f"at {t_ref} K ({solid}); its reference is taken at the window's lower end, {t_lo} K")
            log.warning(why)
            flags.append(why)
            steps.append({"window": [t_lo, t_hi], "outcome": "solid reference raised", "reason": why})
            t_ref, solid_dir = t_lo, _solid_folder(workdir, tag, t_lo, t_lo)
            solid = _solid_phase(potential, t_lo, t_hi, solid_dir, dict(kwargs, lattice=lattice))
        reasons = []
        if isinstance(solid, LatticeChange):
            lattice = _follow(solid, follow_lattice, flags, phase_changes)
            steps.append({"window": [t_lo, t_hi], "outcome": "lattice change", "reason": str(solid)})
            continue
        if isinstance(solid, PhaseError):
            t_fail = solid.temperature if solid.temperature is not None else t_hi
            bracket.lower_than(t_fail)
            reasons.append(f"the solid melted in {solid.stage}, having been heated to {t_fail:.0f} K: "
                           f"T_m < {t_fail:.0f} K")
        if isinstance(liquid, PhaseError):
            t_fail = liquid.temperature if liquid.temperature is not None else t_lo
            bracket.higher_than(t_fail)
            reasons.append(f"the liquid crystallised in {liquid.stage}, having been cooled to {t_fail:.0f} K: "
                           f"T_m > {t_fail:.0f} K")
        if reasons:
            why = "; ".join(reasons) + f"; now {bracket}"
            log.warning("window %s-%s K: %s", t_lo, t_hi, why)
            flags.append(f"window {t_lo}-{t_hi} K: {why}")
            steps.append({"window": [t_lo, t_hi], "outcome": "phase failed", "reason": why})
            continue
        temps = np.linspace(t_lo, t_hi, 201)
        gs, es = curve_on(solid, temps)
        gl, el = curve_on(liquid, temps)
        found = crossing(temps, gs, es, gl, el)
        if found is None:
            centre = _beyond_window(temps, gl - gs, t_lo, t_hi, width, bracket, lattice, flags, steps)
            continue
        tm, err, ds = found
        others = [o for o in (COMPETING.get(lattice, ()) if competing_lattices == "auto" else competing_lattices)
                  if o != lattice and all(pc["from"] != o for pc in phase_changes)]
        lower = None
        for other in others:
            entry, alt = _compare_lattice(potential, lattice, other, t_lo, t_hi, temps, gs, es, tm, workdir, kwargs)
            comparisons.append(entry)
            log.info("lattice comparison: %s", entry["detail"])
            if entry["outcome"] == "lower" and (lower is None or entry["dg_at_tm"] < lower[0]["dg_at_tm"]):
                lower = (entry, alt)
        if lower is not None:
            entry, alt = lower
            phase_changes.append({"from": lattice, "to": entry["lattice"], "temperature": entry["transition"],
                                  "stage": "free energies"})
            msg = f"phase change: {entry['detail']}; the melting point is that of {entry['lattice']}"
            log.warning(msg)
            flags.append(msg)
            steps.append({"window": [t_lo, t_hi], "outcome": "lower solid", "reason": msg})
            lattice, solid = entry["lattice"], alt
            tag = _tag(lattice, t_lo, t_hi)
            t_ref, solid_dir = t_lo, _solid_folder(workdir, tag, t_lo, t_lo)     # the competitor's folder
            gs, es = curve_on(alt, temps)
            found = crossing(temps, gs, es, gl, el)
            if found is None:
                centre = _beyond_window(temps, gl - gs, t_lo, t_hi, width, bracket, lattice, flags, steps)
                continue
            tm, err, ds = found
        steps.append({"window": [t_lo, t_hi], "outcome": "crossing", "reason": f"T_m = {tm:.1f} K"})
        phase_kwargs = dict(kwargs, lattice=lattice)
        big, big_dir = None, workdir / f"solid_{size_check_atoms}_{tag}"
        reps = {"solid": repeats, "liquid": repeats, "larger solid": None}
        while True:
            finite_size = None
            if size_correction == "measured":
                big = big or _size_check(potential, solid, t_lo, size_check_atoms, big_dir, phase_kwargs)
                reps["larger solid"] = max(1, len(getattr(big, "repetitions", []) or []))
                finite_size = _size_correction(solid, big, ds, tm, float(np.interp(tm, temps, es)),
                                               float(np.interp(tm, temps, el)))
                tm_c, err = finite_size["melting_temperature"], finite_size["melting_temperature_error"]
            else:
                tm_c = tm
            if not target_error or err <= target_error:
                break
            sizes = {"solid": getattr(solid, "atoms", None) or atoms,
                     "liquid": getattr(liquid, "atoms", None) or liquid_atoms or atoms,
                     "larger solid": getattr(big, "atoms", None) or size_check_atoms}
            part = _next_part(finite_size, float(np.interp(tm, temps, es)), float(np.interp(tm, temps, el)), reps,
                              sizes, protocol or Protocol(), max_repeats)
            if part is None:
                flags.append(f"T_m's error {err:.1f} K is above the target {target_error:g} K with {max_repeats} "
                             f"repetitions of every part: raise max_repeats or atoms")
                break
            more = min(max_repeats, 2 * reps[part])
            why = (f"T_m = {tm_c:.1f} +- {err:.1f} K, above the target {target_error:g} K; more repetitions of the "
                   f"{part} reduce it most for their cost: {reps[part]} -> {more} repetitions")
            log.info(why)
            steps.append({"window": [t_lo, t_hi], "outcome": "more repetitions", "reason": why})
            reps[part] = more
            if part == "larger solid":
                big = _size_check(potential, solid, t_lo, size_check_atoms, big_dir, phase_kwargs, repeats=more)
                continue
            one = dict(phase_kwargs, repeats=more, **_slots(kwargs, more))
            if part == "solid":
                solid = free_energy(potential, "solid", t_ref, tmax=t_hi, workdir=solid_dir, **one)
                gs, es = curve_on(solid, temps)
            else:
                liquid = free_energy(potential, "liquid", t_hi, tmax=t_lo, workdir=liquid_dir,
                                     **dict(one, atoms=liquid_atoms or atoms))
                gl, el = curve_on(liquid, temps)
            found = crossing(temps, gs, es, gl, el)
            if found is None:          # the better statistics put the crossing outside the window
                break
            tm, err, ds = found
        if found is None:
            centre = _beyond_window(temps, gl - gs, t_lo, t_hi, width, bracket, lattice, flags, steps)
            continue
        if size_correction in ("harmonic", "translation"):
            n_solid = getattr(solid, "atoms", None) or atoms
            finite_size = None
            if size_correction == "harmonic":
                try:
                    finite_size = harmonic_correction(potential, lattice, species, n_solid, _volume_near(solid, t_lo),
                                                      tm, err, ds, cache=harmonic_cache)
                except Exception as exc:  # noqa: BLE001 - a failed correction must not lose the computed T_m
                    why = (f"finite size: no harmonic correction for the {n_solid}-atom {lattice} solid ({exc}); "
                           "the translation term is used")
                    log.warning(why)
                    flags.append(why)
            if finite_size is None:
                finite_size = translation_correction(n_solid, tm, err, ds)
            tm_c, err = finite_size["melting_temperature"], finite_size["melting_temperature_error"]
            what = ("the harmonic crystal's f(inf) - f(N)" if finite_size["method"] == "harmonic"
                    else "(3/2) kT ln N / N, the crystal's translation")
            flags.append(f"finite size: T_m of the {finite_size['atoms'][0]}-atom solid corrected by "
                         f"{finite_size['correction']:+.1f} K to N -> infinity (G_s raised by "
                         f"{finite_size['shift'] * 1e3:.2f} meV/atom at T_m: {what})")
            tm = tm_c
        elif finite_size is not None:
            tm = tm_c
            flags.append(f"finite size: T_m of the {finite_size['atoms'][0]}-atom solid corrected by "
                         f"{finite_size['correction']:+.1f} +- {finite_size['correction_error']:.1f} K to N -> infinity "
                         f"(G_s at {t_lo} K with {finite_size['atoms'][1]} atoms, linear in 1/N"
                         + (", its error scaled from the smaller solid's" if finite_size["error_scaled"] else "")
                         + ")")
        liquid_size = None
        if liquid_size_check_atoms:
            n_liquid = getattr(liquid, "atoms", None) or liquid_atoms or atoms
            big_liquid = _size_check(potential, liquid, t_hi, liquid_size_check_atoms,
                                     workdir / f"liquid_{liquid_size_check_atoms}_{tag}",
                                     dict(kwargs, lattice=lattice, atoms=n_liquid), phase="liquid")
            liquid_size = liquid_size_correction(liquid, big_liquid, ds, tm, err)
            tm, err = liquid_size["melting_temperature"], liquid_size["melting_temperature_error"]
            flags.append(f"finite size: T_m of the {liquid_size['atoms'][0]}-atom liquid corrected by "
                         f"{liquid_size['correction']:+.1f} +- {liquid_size['correction_error']:.1f} K to N -> infinity "
                         f"(G_l at {t_hi} K with {liquid_size['atoms'][1]} atoms, linear in 1/N)")
        solid_r = _on_grid(solid, temps, gs, es)
        liquid_r = _on_grid(liquid, temps, gl, el)
        comparison = None
        if coex is not None:
            comparison = compare_methods(tm, err, coex)
            if comparison["significant"]:
                flags.append(comparison["detail"])
        return MeltingResult(tm, err, tm * ds, ds, temps, solid_r, liquid_r, windows,
                             flags + solid.flags + liquid.flags, lattice=lattice, method=method, coexistence=coex,
                             phase_changes=phase_changes, steps=steps, workdir=str(workdir),
                             finite_size=finite_size, lattice_comparison=comparisons, comparison=comparison,
                             liquid_finite_size=liquid_size)
    raise RuntimeError(f"no melting temperature found in {len(windows)} windows ({windows}); {bracket}; the steps: "
                       + " | ".join(s["reason"] for s in steps))


def compare_methods(tm, err, coex):
    """Free-energy T_m (K; for N -> infinity when the size correction ran) against the
    coexistence T_m: both figures, their difference, the coexistence box's atoms and the solid
    part of them (``coex.solid_atoms``).  ``significant``: the difference exceeds three combined
    standard errors plus 10 K.  No size correction is applied to the coexistence figure: runs of
    2016 and 8000 atoms (Ni_u3) and of 2048 and 8788 atoms (Fe_mm) gave the same T_m within
    3-4 K (benchmarks/RESULTS.md)."""
    tc, ec = coex.melting_temperature, coex.melting_temperature_error
    diff = tm - tc
    return {"coexistence": tc, "coexistence_error": ec, "coexistence_atoms": coex.atoms,
            "coexistence_solid_atoms": coex.solid_atoms, "free_energy": tm, "free_energy_error": err,
            "difference": diff, "significant": bool(abs(diff) > 3 * np.hypot(err, ec) + 10),
            "detail": f"coexistence ({tc:.1f} +- {ec:.1f} K, {coex.atoms} atoms) and free energies "
                      f"({tm:.1f} +- {err:.1f} K) differ by {diff:+.1f} K"}


def size_options(size_correction, size_check_atoms, atoms):
    """(size_correction, size_check_atoms) checked: a given ``size_check_atoms`` ("auto": 4 x
    ``atoms``) means the measured correction; ValueError for settings that contradict."""
    if size_correction not in SIZE_CORRECTIONS:
        raise ValueError(f"size_correction must be 'harmonic', 'translation', 'measured' or None, "
                         f"got {size_correction!r}")
    if size_check_atoms is not None and size_correction is None:
        raise ValueError("size_check_atoms is set but size_correction is None: drop one of them")
    if size_correction == "measured" and size_check_atoms is None:
        size_check_atoms = "auto"
    if size_check_atoms == "auto":
        size_check_atoms = 4 * atoms
    if size_check_atoms is not None:
        size_check_atoms = int(size_check_atoms)
        if size_check_atoms <= atoms:
            raise ValueError(f"size_check_atoms ({size_check_atoms}) must exceed atoms ({atoms})")
        size_correction = "measured"
    return size_correction, size_check_atoms


def liquid_size_option(liquid_size_check_atoms, liquid_atoms):
    """The larger liquid's atom count (None: no liquid correction; "auto": 4 x ``liquid_atoms``);
    ValueError unless it exceeds ``liquid_atoms``."""
    if liquid_size_check_atoms is None:
        return None
    n = 4 * int(liquid_atoms) if liquid_size_check_atoms == "auto" else int(liquid_size_check_atoms)
    if n <= int(liquid_atoms):
        raise ValueError(f"liquid_size_check_atoms ({n}) must exceed the liquid's atoms ({liquid_atoms})")
    return n


def liquid_size_correction(liquid, big, ds, tm, err):
    """T_m (K) corrected for the liquid's size: G_l at the larger liquid's temperature (the window's
    upper end) at two sizes, linear in 1/N (:func:`size_extrapolation`) -> shift = G_inf - G_N,
    taken as the same across the window; G_l lowered by -shift moves T_m by +shift / dS.

    The larger liquid's error is the small one's scaled by sqrt(N_small R_small / (N_big R_big))
    where it has one repetition or its own estimate is lower (as for the solid's
    :func:`_size_correction`).  The shift's error (1 + a) sqrt(e_big^2 + e_small^2) is added to
    T_m's in quadrature - an upper bound, as G_l(N) enters T_m's error too."""
    g_small, e_small = liquid.at(float(big.temperature))
    g_big, e_big, scaled, reps, g_inf, e_inf, a = _two_sizes(liquid, g_small, e_small, big)
    shift = g_inf - g_small
    e_shift = (1 + a) * float(np.hypot(e_big, e_small))
    return {"method": "measured", "phase": "liquid", "atoms": [int(liquid.atoms), int(big.atoms)],
            "repetitions": reps, "free_energy": [g_small, g_big, g_inf], "free_energy_error": [e_small, e_big, e_inf],
            "error_scaled": bool(scaled), "temperature": float(big.temperature), "shift": shift,
            "correction": shift / ds, "correction_error": e_shift / ds, "melting_temperature_uncorrected": tm,
            "melting_temperature": tm + shift / ds,
            "melting_temperature_error": float(np.hypot(err, e_shift / ds))}


def translation_correction(atoms, tm, err, ds):
    """T_m (K) of an ``atoms``-atom solid corrected to N -> infinity by the crystal's translation
    term c T (:func:`~.reference.crystal_translation_term`, c = (3/2) k_B ln N / N): the corrected
    crossing (:func:`shifted_crossing`) is T_m dS / (dS + c).  The term is
    exact, so it adds no error; ``err`` is scaled with T_m."""
    c = float(crystal_translation_term(1.0, atoms))
    tm_c, err_c = shifted_crossing(tm, err, ds, lambda t: c * t)
    return {"method": "translation", "atoms": [int(atoms)], "temperature": float(tm_c), "shift": c * tm_c,
            "correction": tm_c - tm, "correction_error": 0.0, "melting_temperature_uncorrected": tm,
            "melting_temperature": tm_c, "melting_temperature_error": err_c}


def shifted_crossing(tm, err, ds, shift):
    """(T_m, error) after G_s(T) is raised by ``shift(T)`` (eV/atom, smooth in T): with
    G_l - G_s = -dS (T - T_m) near T_m, the new crossing solves T = T_m - shift(T) / dS."""
    t = float(tm)
    for _ in range(50):
        new = tm - float(shift(t)) / ds
        if abs(new - t) < 1e-9:
            break
        t = new
    h = 1.0
    slope = (float(shift(t + h)) - float(shift(t - h))) / (2 * h)
    return t, err * ds / (ds + slope)


def harmonic_correction(potential, lattice, species, atoms, volume, tm, err, ds, cache=None, forces=None):
    """T_m (K) of the ``atoms``-atom ``lattice`` solid (its cell as :func:`~.engine.make_structure`
    builds it, at ``volume`` A^3/atom) corrected to N -> infinity by the harmonic crystal's size
    dependence f(inf) - f(N) (:func:`~.harmonic.harmonic_size_shift`, force constants of
    ``potential`` by finite differences in a supercell of the solid's cell at least 28 A wide,
    :func:`~.harmonic.supercell_for`).
    One species only.  Exact for the harmonic crystal; what anharmonicity adds to the size
    dependence is not included (the measured size laws of Cu, W and Fe follow the harmonic one
    within their errors, 0.4-1.5 meV/atom; benchmarks/RESULTS.md).  ``cache``: a dict that keeps the
    force constants between calls; ``forces``: see :func:`~.harmonic.force_constants`."""
    from .engine import cell_repetitions, lattice_constant_of, unit_cell
    from .harmonic import force_constants, harmonic_size_shift, supercell_for
    from .potential import LammpsPotential
    if not isinstance(potential, LammpsPotential):
        raise TypeError("no LAMMPS potential to take force constants from")
    names = list(dict.fromkeys([species] if isinstance(species, str) else (species or potential.species)))
    if len(names) != 1:
        raise ValueError(f"the harmonic correction needs one species, the solid has {names}")
    if not np.isfinite(volume) or volume <= 0:
        raise ValueError(f"no volume of the solid ({volume})")
    unit = unit_cell(names, lattice, lattice_constant_of(lattice, volume))
    reps = np.array(cell_repetitions(unit, atoms))
    if len(unit) * int(np.prod(reps)) != atoms:
        raise ValueError(f"the solid's {atoms} atoms are not the {lattice} cell {tuple(reps)} this correction knows")
    key = (lattice, round(float(volume), 6), tuple(reps))
    fc = (cache or {}).get(key)
    if fc is None:
        fc = force_constants(potential, unit, supercell_for(unit, reps), forces=forces)
        if cache is not None:
            cache[key] = fc
    t_grid = np.linspace(0.8 * tm, 1.2 * tm, 9)
    s_grid = harmonic_size_shift(fc, reps, t_grid)

    def shift(t):
        return np.interp(t, t_grid, s_grid)
    tm_c, err_c = shifted_crossing(tm, err, ds, shift)
    return {"method": "harmonic", "atoms": [int(atoms)], "temperature": float(tm_c), "shift": float(shift(tm_c)),
            "shift_curve": [t_grid.tolist(), s_grid.tolist()],
            "translation_shift": float(crystal_translation_term(tm_c, atoms)),
            "correction": tm_c - tm, "correction_error": 0.0, "melting_temperature_uncorrected": tm,
            "melting_temperature": tm_c, "melting_temperature_error": err_c, "volume": float(volume),
            "cell": [int(r) for r in reps]}


def size_extrapolation(g_small, e_small, n_small, g_large, e_large, n_large):
    """(G for N -> infinity, its error) from per-atom free energies at two sizes, linear in
    1/N.  For a crystal the measured size dependence is mostly the (3/2) kT ln N / N of its
    translation (:func:`translation_correction`); through two sizes a line in 1/N takes it up to a
    small remainder (for 500 and 2000 atoms at 1300 K, 0.2 meV/atom)."""
    if n_large <= n_small:
        raise ValueError(f"the second size ({n_large} atoms) must be larger than the first ({n_small})")
    a = (1.0 / n_large) / (1.0 / n_small - 1.0 / n_large)
    return g_large + a * (g_large - g_small), float(np.hypot((1 + a) * e_large, a * e_small))


def _beyond_window(temps, dg, t_lo, t_hi, width, bracket, lattice, flags, steps):
    """No crossing of G_l and G_s in the window (``dg`` = G_l - G_s on ``temps``): T_m lies above it
    when the solid is below the liquid throughout, else below; the bracket is narrowed, the move
    logged, and the next window's centre (K) returned - where a straight line through ``dg``
    reaches zero, or a window width beyond when the line does not fall with T."""
    slope, icpt = np.polyfit(temps, dg, 1)
    above = bool(np.all(dg > 0))
    if above:
        bracket.higher_than(t_hi, failed=False)
    else:
        bracket.lower_than(t_lo, failed=False)
    estimate = float(-icpt / slope) if slope < 0 else (t_hi + width if above else t_lo - width)
    why = (f"no crossing of the liquid and the {lattice} solid in {t_lo}-{t_hi} K (G_l - G_s from "
           f"{dg[0] * 1e3:+.2f} to {dg[-1] * 1e3:+.2f} meV/atom): T_m lies {'above' if above else 'below'}, "
           f"extrapolated {estimate:.0f} K; now {bracket}")
    log.warning(why)
    flags.append(why)
    steps.append({"window": [t_lo, t_hi], "outcome": "no crossing", "reason": why})
    return estimate


def _slots(kwargs, repeats):
    """``parallel`` and ``cores`` for ``repeats`` repetitions on the slots of ``kwargs``: as many at
    once as there are repetitions, the MPI ranks shared out among them."""
    parallel = max(1, kwargs.get("parallel", 1))
    at_once, cores = share_slots(repeats, max(1, kwargs.get("cores", 1)) * parallel, parallel)
    return {"parallel": at_once, "cores": cores}


def _size_check(potential, solid, temperature, atoms, workdir, kwargs, repeats=None, phase="solid"):
    """G of a larger solid (or liquid: ``phase``) at ``temperature`` for the finite-size
    extrapolation; ``solid``: the small one's result.

    Its statistics match the small one's (free-energy fluctuations per atom go as 1/sqrt(N)):
    ``round(repeats x N_small / N_big)`` repetitions, at least one, on all the slots; it switches
    as slowly as the slowest repetition of the small one did and is not switched again on
    dissipation (a bias of the switching rate is intensive and cancels in the extrapolation).
    ``repeats``: more repetitions later; they keep the switching rate the folder already holds."""
    p = kwargs.get("protocol") or Protocol()
    done = [r.get("switching_steps") for r in getattr(solid, "repetitions", []) or [] if r.get("switching_steps")]
    p = replace(p, switching_steps=int(max(done, default=p.switching_steps)), switching_doublings=0)
    held = Path(workdir) / "settings.json"
    if held.exists():
        p = replace(p, switching_steps=int(json.loads(held.read_text())["protocol"]["switching_steps"]))
    if repeats is None:
        repeats = max(1, round(kwargs["repeats"] * (solid.atoms or kwargs["atoms"]) / atoms))
    return free_energy(potential, phase, temperature, workdir=workdir,
                       **dict(kwargs, atoms=atoms, repeats=repeats, protocol=p, **_slots(kwargs, repeats)))


def _two_sizes(small, g_small, e_small, big):
    """The two-size extrapolation of the measured corrections (solid and liquid): (G_big, e_big,
    whether e_big was scaled, repetitions of both, G_inf, its error, a = (1/N_big) / (1/N_small -
    1/N_big)).  ``g_small``, ``e_small``: the small one's G and error at the larger one's
    temperature.  e_big is not taken below e_small sqrt(N_small R_small / (N_big R_big)) (one
    repetition measures no scatter; a few say little about their own)."""
    g_big, e_big = float(np.atleast_1d(big.free_energy)[0]), float(np.atleast_1d(big.free_energy_error)[0])
    reps = [max(1, len(getattr(r, "repetitions", []) or [])) for r in (small, big)]
    expected = e_small * np.sqrt(small.atoms * reps[0] / (big.atoms * reps[1]))
    scaled = bool(not np.isfinite(e_big) or e_big < expected)
    if scaled:
        e_big = float(expected)
    g_inf, e_inf = size_extrapolation(g_small, e_small, small.atoms, g_big, e_big, big.atoms)
    a = (1.0 / big.atoms) / (1.0 / small.atoms - 1.0 / big.atoms)
    return g_big, e_big, scaled, reps, g_inf, e_inf, a


def _size_correction(solid, big, ds, tm, e_solid_tm, e_liquid_tm):
    """T_m corrected for the solid's size: G_s(T_lo) at two sizes -> N -> infinity; the shift of
    G_s, taken as the same across the window, moves T_m by -shift / dS.

    Errors: the shift (1 + a)(G_big - G_small), a = (1/N_big) / (1/N_small - 1/N_big), shares
    G_small with the solid's curve, so the corrected T_m's error is
    sqrt(e_l^2 + (e_s(T_m)^2 - e_small^2) + a^2 e_small^2 + (1 + a)^2 e_big^2) / dS (the reversible
    scaling's own part of e_s kept).  The larger solid's error is the small solid's scaled by
    sqrt(N_small R_small / (N_big R_big)) where it has one repetition or its own estimate is
    lower (from a few repetitions it is too uncertain to go below that)."""
    g_small, e_small = solid.at(float(big.temperature))     # the solid's curve may start below the larger's T
    g_big, e_big, scaled, reps, g_inf, e_inf, a = _two_sizes(solid, g_small, e_small, big)
    shift = g_inf - g_small
    e_shift = (1 + a) * float(np.hypot(e_big, e_small))
    # T_m's variance (times dS^2) by the part it comes from (see :func:`_next_part`)
    parts = {"solid": max(e_solid_tm ** 2 - e_small ** 2, 0.0) + (a * e_small) ** 2, "liquid": e_liquid_tm ** 2,
             "larger solid": ((1 + a) * e_big) ** 2}
    var = sum(parts.values())
    return {"method": "measured", "atoms": [solid.atoms, big.atoms], "repetitions": reps, "free_energy": [g_small, g_big, g_inf],
            "free_energy_error": [e_small, e_big, e_inf], "error_scaled": scaled,
            "temperature": float(big.temperature), "shift": shift, "correction": -shift / ds,
            "correction_error": e_shift / ds, "melting_temperature_uncorrected": tm,
            "melting_temperature": tm - shift / ds, "melting_temperature_error": float(np.sqrt(var) / ds),
            "variance_parts": parts}


def error_target(target_error, max_repeats, repeats):
    """``target_error`` (K, positive, or None: off) and ``max_repeats`` ("auto": twice ``repeats``;
    not below ``repeats``) checked and resolved; ValueError for values that cannot be meant."""
    if target_error is not None:
        target_error = float(target_error)
        if not target_error > 0:
            raise ValueError(f"target_error must be a positive error in K or None, got {target_error!r}")
    max_repeats = 2 * int(repeats) if max_repeats == "auto" else int(max_repeats)
    if max_repeats < repeats:
        raise ValueError(f"max_repeats ({max_repeats}) is below repeats ({repeats}): it caps the repetitions "
                         "added for target_error")
    return target_error, max_repeats


def repetition_cost(part, atoms, protocol):
    """Atom-steps of one repetition of a part of the free-energy melting point, from the
    protocol's steps: the solid (NPT, springs, Frenkel-Ladd there and back, reversible scaling
    there and back), the liquid (melt, NPT, Uhlenbeck-Ford and reversible scaling there and back)
    or the larger solid of the size check (Frenkel-Ladd only, at one temperature)."""
    p = protocol
    switch = 2 * (p.switching_steps + p.switch_equilibration_steps)     # one switching, there and back
    steps = {"solid": p.equilibration_steps + p.spring_steps + 2 * switch,
             "liquid": p.melt_steps + p.equilibration_steps + 2 * switch,
             "larger solid": p.equilibration_steps + p.spring_steps + switch}[part]
    return float(atoms) * steps


def _next_part(finite_size, e_solid_tm, e_liquid_tm, reps, atoms, protocol, max_repeats):
    """The part whose doubled repetitions remove most of T_m's variance per atom-step: doubling
    part p removes about half its variance term (the terms of :func:`_size_correction`; without a
    size correction e_s^2 and e_l^2) and costs reps_p x :func:`repetition_cost`.  Parts already at
    ``max_repeats`` are not chosen; None when every part is."""
    parts = ({"solid": e_solid_tm ** 2, "liquid": e_liquid_tm ** 2} if finite_size is None
             else finite_size["variance_parts"])
    gain = {part: var / (reps[part] * repetition_cost(part, atoms[part], protocol))
            for part, var in parts.items() if reps[part] is not None and reps[part] < max_repeats}
    return max(gain, key=gain.get) if gain else None


def competing_lattices_from(value):
    """``competing_lattices`` from user input: "auto"; None, "none" or an empty list (no
    comparison); a comma-separated string or a list of lattices."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return ()
    if isinstance(value, str):
        return "auto" if value.strip() == "auto" else tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _tag(lattice, t_lo, t_hi):
    """Folder tag of a window's free energies (fcc keeps the plain tag of older work folders)."""
    return f"{t_lo}_{t_hi}" if lattice == "fcc" else f"{lattice}_{t_lo}_{t_hi}"


def _compare_lattice(potential, lattice, other, t_lo, t_hi, temps, gs, es, tm, workdir, kwargs):
    """(record, result) of the ``other`` solid's free energy across the window against the
    melting solid's (``gs`` +- ``es`` on ``temps``); the result is None when the other solid
    left its lattice or melted (mechanically unstable there).

    One repetition first: a solid that is unstable, or lies above by more than five times the
    expected error (the melting solid's, scaled to one repetition), is settled by it; otherwise
    the other repetitions follow in the same folder (a lower solid sets T_m, so it gets the full
    statistics)."""
    folder = Path(workdir) / f"solid_{_tag(other, t_lo, t_hi)}"
    repeats, settled = int(kwargs["repeats"]), False
    try:
        alt = free_energy(potential, "solid", t_lo, tmax=t_hi, workdir=folder,
                          **dict(kwargs, lattice=other, repeats=1, **_slots(kwargs, 1)))
        if repeats > 1:
            e_solid = float(np.interp(tm, temps, es))
            e_one = e_solid * np.sqrt(repeats)
            d_tm = float(np.interp(tm, alt.temperatures, alt.free_energy) - np.interp(tm, temps, gs))
            if d_tm > 5.0 * np.hypot(e_one, e_solid):
                log.info("%s solid lies %.2f meV/atom above %s at %.0f K after one repetition: settled", other,
                         d_tm * 1e3, lattice, tm)
                alt.free_energy_error = np.full_like(np.asarray(alt.free_energy, dtype=float), e_one)
                settled = True
            else:
                alt = free_energy(potential, "solid", t_lo, tmax=t_hi, workdir=folder, **dict(kwargs, lattice=other))
    except PhaseError as exc:
        what = (f"became {exc.new_lattice}" if isinstance(exc, LatticeChange) else "melted")
        at = f" at {exc.temperature:.0f} K" if exc.temperature is not None else ""
        return {"lattice": other, "outcome": "unstable", "dg_at_tm": None, "error": None, "transition": None,
                "detail": f"the {other} solid {what}{at} ({exc.stage}): not a stable competitor of {lattice} "
                          f"in {t_lo}-{t_hi} K"}, None
    ga, ea = curve_on(alt, temps)
    dg = ga - gs
    d_tm, e_tm = float(np.interp(tm, temps, dg)), float(np.hypot(np.interp(tm, temps, ea), np.interp(tm, temps, es)))
    lower = d_tm < -2.0 * e_tm
    change = np.flatnonzero((dg[:-1] > 0) != (dg[1:] > 0))
    if len(change):
        k = change[0]
        t_t = float(temps[k] - dg[k] * (temps[k + 1] - temps[k]) / (dg[k + 1] - dg[k]))
        where = f"the two solids' G cross at {t_t:.0f} K"
    else:
        t_t = float(t_lo) if lower else None
        where = (f"{other} lies below {lattice} across {t_lo}-{t_hi} K (the transition is at or below {t_lo} K)"
                 if lower else f"{other} lies above {lattice} across {t_lo}-{t_hi} K")
    detail = (f"G({other}) - G({lattice}) = {d_tm * 1e3:+.2f} +- {e_tm * 1e3:.2f} meV/atom at T_m = {tm:.0f} K "
              f"({alt.atoms}- and {kwargs.get('atoms')}-atom solids"
              + ("; one repetition, its error scaled from the other solid's" if settled else "") + f"); {where}")
    return {"lattice": other, "outcome": "lower" if lower else "higher", "dg_at_tm": d_tm, "error": e_tm,
            "transition": t_t if lower else None, "detail": detail}, alt


def _follow(exc, follow_lattice, flags, phase_changes):
    """The new lattice after a :class:`LatticeChange` (recorded), or the error itself."""
    phase_changes.append({"from": exc.lattice, "to": exc.new_lattice, "temperature": exc.temperature,
                          "stage": exc.stage})
    msg = (f"phase change: the {exc.lattice} solid became {exc.new_lattice} at {exc.temperature:.0f} K "
           f"({exc.stage}); the melting point is that of {exc.new_lattice}")
    if not follow_lattice or any(pc["from"] == exc.new_lattice for pc in phase_changes[:-1]):
        raise exc
    log.warning(msg)
    flags.append(msg)
    return exc.new_lattice


def solid_reference_fraction(value):
    """The solid's Frenkel-Ladd reference as a fraction of the window's lower end, from
    ``melting_point``'s ``solid_reference`` ("auto", "window" or a number in (0, 1])."""
    if value == "auto":
        return SOLID_REFERENCE
    if value == "window":
        return 1.0
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 < f <= 1.0:
        raise ValueError(f"solid_reference must be 'auto', 'window' or a fraction of the window's lower end in "
                         f"(0, 1], got {value!r}")
    return f


def solid_reference_temperature(t_lo, fraction):
    """The solid's Frenkel-Ladd temperature (K, rounded) for a window starting at ``t_lo``."""
    return t_lo if fraction >= 1.0 else int(round(fraction * t_lo))


def _solid_folder(workdir, tag, t_lo, t_ref):
    return Path(workdir) / (f"solid_{tag}" if t_ref == t_lo else f"solid_{tag}_from_{t_ref}")


def _solid_phase(potential, t_ref, t_hi, solid_dir, kwargs, executor=None):
    """The solid's free energy from ``t_ref`` up to ``t_hi``, or the PhaseError it raised."""
    try:
        return free_energy(potential, "solid", t_ref, tmax=t_hi, workdir=solid_dir, executor=executor, **kwargs)
    except PhaseError as exc:
        return exc


def _both_phases(potential, t_lo, t_hi, solid_dir, liquid_dir, parallel, kwargs, liquid_atoms=None, t_solid=None):
    """(solid, liquid) free energies across the window, each a result or the PhaseError it raised;
    the solid's Frenkel-Ladd reference at ``t_solid`` (default ``t_lo``).

    With ``parallel`` >= 2 the repetitions of both phases share one pool of ``parallel`` slots,
    so no slot idles while the other phase still has work; serially the liquid is skipped when
    the solid already failed (the window changes)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(phase, executor=None):
        if phase == "solid":
            return _solid_phase(potential, t_solid or t_lo, t_hi, solid_dir, kwargs, executor)
        try:
            return free_energy(potential, "liquid", t_hi, tmax=t_lo, workdir=liquid_dir, executor=executor,
                               **dict(kwargs, atoms=liquid_atoms or kwargs["atoms"]))
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
    if res.volume_curve is not None:
        t, v = np.asarray(res.temperatures, dtype=float), np.asarray(res.volume_curve, dtype=float)
        order = np.argsort(t)
        out.volume_curve = np.interp(temps, t[order], v[order])
    out.temperatures, out.free_energy, out.free_energy_error = temps, g, e
    return out


def _volume_near(res, temperature):
    """A phase's volume (A^3/atom) at ``temperature`` (K) from its reversible scaling, clipped to the
    computed range; its equilibrated volume where no path was recorded."""
    if res.volume_curve is None or res.temperatures is None:
        return float(res.volume)
    t = np.asarray(res.temperatures, dtype=float)
    return res.volume_at(float(np.clip(temperature, t.min(), t.max())))


def estimate_melting_temperature(potential, lattice="fcc", atoms=256, t_start=100.0, t_end=4000.0, steps=20000,
                                 workdir="melting_estimate", cores=1, seed=4242, run=None, max_end=16000.0):
    """A first guess of T_m: the crystal heated in NPT from ``t_start`` to ``t_end`` melts
    (crystalline fraction, mean of three samples, below ``MOLTEN_FRACTION``) at about
    ``SUPERHEATING[lattice]`` T_m (fcc 1.4, bcc 1.15);
    coexistence corrects the rest.  The run stops once the crystal has molten.  A crystal still
    crystalline at ``t_end`` (a refractory metal, a potential that superheats) is heated on, at
    the same rate, from 0.9 ``t_end`` to twice ``t_end`` - up to ``max_end`` (K), then an error
    says so."""
    from . import stages
    from .engine import StageRunner, make_structure
    from .protocol import Protocol
    p = Protocol()
    start = make_structure(potential.species, lattice, atoms)
    rc = stages.order_parameters(lattice, start.get_volume() / len(start))
    td, pd = p.tdamp / 1000, p.pdamp / 1000
    rate = (t_end - t_start) / steps                 # K per step

    def heating(t_from, t_to, n):
        s = stages._Script(potential, p, rc).pair().monitor()
        s.add(f"velocity all create {t_from!r} {seed} dist gaussian mom yes rot yes",
              f"fix npt all npt temp {t_from!r} {t_to!r} {td!r} iso 0.0 0.0 {pd!r}",
              "variable tv equal temp",
              'fix heatlog all print 100 "${tv} ${cf}" file heating.txt screen no title ""',
              # stop once molten: heated on to t_end a liquid boils, and the box of a gas costs minutes
              "fix molten all halt 500 v_cf < 0.02 error continue", f"run {n}")

        def read(folder):
            data = stages._table(folder / "heating.txt", 2)
            return {"temperature": data[:, 0].tolist(), "crystalline": data[:, 1].tolist()}
        return stages.Stage("heating", s.finish(), read)

    runner = StageRunner(potential, workdir, cores, run)
    t_from, t_to, name = float(t_start), float(t_end), "heating"
    while True:
        res = runner(heating(t_from, t_to, int(round((t_to - t_from) / rate))), name, start)
        t, c = np.array(res["temperature"]), np.array(res["crystalline"])
        # molten: the mean of three samples below MOLTEN_FRACTION (a hot bcc crystal reads 0.3-0.8
        # under the q6 criterion - W at 4100-4600 K -, a molten box ~0-0.05)
        molten = stages.first_sustained(c, below=MOLTEN_FRACTION)
        if molten is not None:
            return float(t[molten] / SUPERHEATING.get(lattice, 1.3))
        if 2 * t_to > max_end:
            raise RuntimeError(f"the crystal did not melt up to {t_to:g} K; give a guess of the melting temperature")
        log.warning("heating estimate: the %s crystal is still crystalline at %.0f K; heating on to %.0f K",
                    lattice, t_to, 2 * t_to)
        t_from, t_to, name = 0.9 * t_to, 2 * t_to, f"heating_to_{2 * t_to:.0f}"
