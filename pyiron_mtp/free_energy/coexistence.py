"""Melting temperature from a solid and its liquid in one box (the interface method).

A crystal elongated along z is equilibrated in NPT at T0; its upper half is melted (and
cooled back to T0) while the lower half stays frozen; then the two halves, joined by two
solid-liquid interfaces, run in NPH at zero pressure (x, y and z independently).  No
thermostat: when T0 lies above T_m the interfaces move into the solid and the latent heat
cools the box, below T_m the liquid crystallises and heats it, until the temperature
settles at T_m with both phases present.  A run's temperature is the mean of the second half
of the NPH run, accepted only if the box's solid share stayed between ``min_fraction`` and
``1 - min_fraction`` there: its solid-like fraction (the q6 bond-order criterion of
:mod:`.stages`) over the crystal's own at T0, measured in the solid's NPT run (a hot fcc crystal
reads ~1, a hot bcc one ~0.7 - a fully crystalline bcc box is not half liquid).  A run in
which one phase took over bounds T_m (all solid: T_m lies above T0, or above the box's own start
if joining the halves moved it below T0; all liquid: below) and the next run starts on the other
side, where that box lingered with both phases when it did.  Once a run coexists, ``repeats - 1`` more start at its
temperature with other seeds: the temperature of a few-thousand-atom box wanders by tens of K
over tens of ps as its interfaces move (Ag_u3, 2016 atoms: two single runs 27 K apart), so
T_m is the mean over the coexisting runs, a run whose temperature still drifts in its second
half flagged and weighted down by its drift (:func:`combine_runs`), and its error the larger of
their scatter and their block-average errors.  A run whose solid share still rose or fell by more
than :data:`MAX_SHARE_CHANGE` over its second half is not coexisting but on its way to one phase
(its temperature moves with it): a first run bounds T_m like one that finished the way, a repeat
is left out.  The
solid's lattice is checked at the end (quenched, Ackland-Jones, over the atoms that were solid-like
before the quench): a solid that became
another crystal structure is a :class:`~.engine.LatticeChange`.

Energies in eV, temperatures in K, times in fs (steps of ``Protocol.timestep``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..lammps.runtime import num
from ..parallel import run_parallel, share_slots
from . import stages
from .engine import StageRunner, check_lattice, flag_extrapolation, occupy_sites, unit_cell
from .protocol import Protocol

__all__ = ["coexistence_melting_point", "CoexistenceResult", "coexistence_box", "combine_runs", "two_phase_stage"]

log = logging.getLogger(__name__)


@dataclass
class CoexistenceResult:
    """T_m (K) from the steady NPH temperature of a two-phase box, its standard error, the
    box's atom count and every run (start temperature, outcome, mean T, solid-like fraction)."""

    melting_temperature: float
    melting_temperature_error: float
    atoms: int
    lattice: str
    runs: list = field(default_factory=list)
    flags: list = field(default_factory=list)

    @property
    def solid_atoms(self):
        """Atoms in the solid part of the box while it coexisted: the coexisting runs' mean solid
        share (second half of each NPH run) times the box's atoms; half the box without such runs."""
        shares = [r["solid_fraction"] for r in self.runs
                  if r.get("outcome") == "coexisting" and np.isfinite(r.get("solid_fraction", np.nan))]
        return float(np.mean(shares) if shares else 0.5) * self.atoms

    def summary(self):
        return {"melting_temperature": self.melting_temperature,
                "melting_temperature_error": self.melting_temperature_error, "atoms": self.atoms,
                "solid_atoms": self.solid_atoms,
                "lattice": self.lattice, "runs": [{k: v for k, v in r.items() if k != "trace"} for r in self.runs],
                "flags": self.flags}

    def plot(self, axes=None):
        """Temperature and solid share along each NPH run (dashed: runs left out of T_m, each
        labelled with its outcome); returns the axes."""
        import matplotlib.pyplot as plt
        if axes is None:
            _, axes = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
        for r in self.runs:
            tr = np.asarray(r["trace"])
            ps = (tr[:, 0] - tr[0, 0]) * r.get("timestep", 1.0) / 1000.0
            rep = f", repeat {r['repeat']}" if r.get("repeat") else ""
            kept = r.get("outcome") == "coexisting"
            line, = axes[0].plot(ps, tr[:, 1], lw=1.2 if kept else 0.8, ls="-" if kept else "--",
                                 label=f"start {r['start_temperature']:.0f} K{rep}: {r.get('outcome', '?')}")
            axes[1].plot(ps, tr[:, 2], color=line.get_color(), lw=line.get_linewidth(), ls=line.get_linestyle())
        axes[0].axhline(self.melting_temperature, color="k", lw=0.8)
        axes[0].set(ylabel="T (K)", title=f"coexistence: T_m = {self.melting_temperature:.0f} ± "
                                          f"{self.melting_temperature_error:.0f} K")
        axes[1].set(xlabel="time in NPH (ps)", ylabel="solid share", ylim=(0, 1.05))
        axes[0].legend(fontsize=8)
        return axes


def coexistence_box(species, lattice, atoms=2000, a=None, composition=None, seed=0):
    """A ``lattice`` crystal of about ``atoms`` atoms, twice as long along z as across."""
    species = [species] if isinstance(species, str) else list(species)
    unit = unit_cell(species, lattice, a, composition)
    lengths = unit.cell.lengths()
    # n_x n_y n_z unit cells with n_x l_x = n_y l_y = n_z l_z / 2 = L
    side = (atoms / len(unit) * np.prod(lengths) / 2.0) ** (1 / 3)
    reps = [max(2, round(side / lengths[0])), max(2, round(side / lengths[1])), max(4, round(2 * side / lengths[2]))]
    reps[2] += reps[2] % 2                               # two equal halves
    return occupy_sites(unit.repeat(reps), species, composition, seed)


def two_phase_stage(potential, p: Protocol, lattice, order, temperature, seed, steps, stop_fraction=0.05, hold=False):
    """The two-phase run: crystal at ``temperature`` (NPT), upper half melted and cooled back, then both
    halves in NPH at zero pressure - or, with ``hold``, in NPT at ``temperature`` (the interfaces move
    towards the stable phase at a constant temperature; :mod:`.interface_velocity`)."""
    td, pd = p.tdamp / 1000, p.pdamp / 1000
    couple = "iso" if lattice in ("fcc", "bcc") else "aniso"
    t_hot = 2.0 * temperature
    s = stages._Script(potential, p, order).pair().monitor()
    solid_steps, melt_steps, cool_steps, coexist_steps = steps
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes",
          f"fix npt all npt temp {num(temperature)} {num(temperature)} {num(td)} {couple} 0.0 0.0 {num(pd)}",
          f"run {solid_steps // 2}",
          "variable lxv equal lx", "variable lyv equal ly", "variable lzv equal lz",
          f"fix boxave all ave/time 10 {solid_steps // 20} {solid_steps // 2} v_lxv v_lyv v_lzv c_cfrac",
          f"run {solid_steps // 2}", "unfix npt",
          # the crystal's own solid-like fraction at T0 (a hot bcc crystal reads ~0.7): the
          # two-phase box's fraction is measured against it
          "variable cfref equal $(f_boxave[4])", 'print "CRYSTAL_REFERENCE ${cfref}"',
          # the mean box of the crystal at T0, atoms scaled into it
          "change_box all x final 0.0 $(f_boxave[1]) y final 0.0 $(f_boxave[2]) z final 0.0 $(f_boxave[3]) "
          "remap units box",
          "unfix boxave",
          "region upper block INF INF INF INF $(zlo+0.5*lz) INF units box",
          "group liquid region upper", "group solid subtract all liquid",
          # the upper half melted at the crystal's density (NVT: at zero pressure a liquid at 2 T0
          # may boil) and cooled back with the lower half frozen; while it cools the box length
          # along z follows the liquid's volume (only liquid atoms dilated)
          f"velocity liquid create {num(t_hot)} {seed + 1} dist gaussian",
          f"fix melt liquid nvt temp {num(t_hot)} {num(t_hot)} {num(td)}",
          f"run {melt_steps}", "unfix melt",
          f"fix cool liquid npt temp {num(temperature)} {num(temperature)} {num(td)} z 0.0 0.0 {num(pd)} "
          f"dilate liquid",
          f"run {cool_steps}", "unfix cool",
          f"velocity solid create {num(temperature)} {seed + 2} dist gaussian mom yes rot yes",
          (f"fix twophase all npt temp {num(temperature)} {num(temperature)} {num(td)} aniso 0.0 0.0 {num(pd)}"
           if hold else f"fix twophase all nph aniso 0.0 0.0 {num(pd)}"),
          "variable tv equal temp", "variable pev equal pe/atoms", "variable lzc equal lz",
          'fix coexlog all print 100 "${stepv} ${tv} ${cf} ${pev} ${lzc}" file coexistence.txt screen no title ""',
          # a box that became one phase is done: the run stops (and the script goes on)
          f'variable onephase equal "c_cfrac < {num(stop_fraction)} * v_cfref || '
          f'c_cfrac > {num(1.0 - stop_fraction)} * v_cfref"',
          "fix onephase all halt 500 v_onephase > 0.5 error continue message yes",
          f"run {coexist_steps}", "unfix onephase")

    def read(folder):
        data = stages._table(folder / "coexistence.txt", 5)[:, :3]
        ref = stages._log_value(folder, "CRYSTAL_REFERENCE")     # nan in runs from before it was printed
        ref = ref if ref > 0.05 else 1.0
        data[:, 2] = data[:, 2] / ref          # solid share of the box: 1 for the crystal at T0
        # melting and cooling the upper half is preparation: the MTP's grades there are kept apart
        prep = (solid_steps, solid_steps + melt_steps + cool_steps)
        return {**stages._common_phase(folder, preparation=prep), "trace": data.tolist(), "timestep": p.timestep,
                "crystal_reference": ref}
    return stages.Stage("coexistence", s.finish(lattice_check=True, solid_only=True), read)


def _block_error(values, counts=(20, 10, 5, 4)):
    """Standard error of the mean of a correlated series: the largest block-average estimate
    over ``counts`` blocks (the temperature of a box whose interfaces wander is correlated
    over picoseconds; short blocks alone underestimate the error)."""
    errors = []
    for n in counts:
        blocks = [b for b in np.array_split(np.asarray(values, float), n) if len(b)]
        if len(blocks) > 1:
            means = np.array([b.mean() for b in blocks])
            errors.append(means.std(ddof=1) / np.sqrt(len(means)))
    return float(max(errors)) if errors else float("nan")


def _trend(trace, column):
    """Change of a trace column over the second half of an NPH run from a straight-line fit
    (column 1: the temperature in K, column 2: the solid share)."""
    half = np.asarray(trace)[len(trace) // 2:]
    if len(half) < 3:
        return 0.0
    slope = np.polyfit(half[:, 0], half[:, column], 1)[0]
    return float(slope * (half[-1, 0] - half[0, 0]))


def _drift(trace):
    """Change of the temperature (K) over the second half of an NPH run from a straight-line fit."""
    return _trend(trace, 1)


def _share_change(trace):
    """Change of the box's solid share over the second half of an NPH run from a straight-line fit."""
    return _trend(trace, 2)


def _flag_drift(info, t0, flags, factor=3.0, floor=5.0):
    """Flag a coexisting run whose temperature still drifted in its second half by more than
    ``factor`` block errors (at least ``floor`` K): its mean is not yet T_m."""
    d = _drift(info["trace"])
    info["drift"] = d
    if abs(d) > max(factor * info["mean_temperature_error"], floor):
        flags.append(f"coexistence run from {t0} K: the temperature still drifted by {d:+.0f} K over the second "
                     f"half (mean {info['mean_temperature']:.0f} K): run longer (steps) or with more atoms")


def combine_runs(means, errors, drifts=None):
    """T_m and its error from independent coexisting runs.

    A run whose temperature still drifted by d (K, :func:`_drift`) over the averaged second
    half has not settled: its mean may lie ~d/2 from its steady value.  Each run is weighted by
    1 / (e^2 + (d/2)^2), e the root mean square of the runs' block-average errors (those
    understate a single run's wander, so they weigh all runs alike); without drifts that is the
    plain mean.  The error is the larger of 1 / sqrt(sum of weights) and the weighted standard
    error of the means."""
    means, errors = np.asarray(means, float), np.asarray(errors, float)
    drifts = np.zeros_like(means) if drifts is None else np.asarray(drifts, float)
    e2 = float(np.mean(errors ** 2))
    w = 1.0 / (e2 + (0.5 * drifts) ** 2)
    tm = float(np.sum(w * means) / np.sum(w))
    own = float(1.0 / np.sqrt(np.sum(w)))
    n = len(means)
    scatter = float(np.sqrt(np.sum(w * (means - tm) ** 2) / ((n - 1) * np.sum(w)))) if n > 1 else 0.0
    return tm, max(own, scatter)


MAX_SHARE_CHANGE = 0.25
"""Largest change of the solid share over a run's second half for the run to count as coexisting.
Settled 2000-atom boxes wander by up to ~0.13 over 25 ps (Cu, Ag, Pt, Fe, an MTP); a box whose share
still moves by more is on its way to one phase, and in NPH its temperature moves with it (latent
heat: ~+190 K for Fe_mm's +0.31), so its mean temperature is not T_m."""


def _judge(trace, min_fraction, max_share_change=MAX_SHARE_CHANGE):
    """('coexisting' | 'solid' | 'liquid' | 'crystallising' | 'melting', mean T of the second half,
    its error, mean solid share).  'solid'/'liquid': the share left [min_fraction, 1 - min_fraction]
    in the second half; 'crystallising'/'melting': it stayed inside but still rose/fell by more than
    ``max_share_change`` there (:func:`_share_change`)."""
    tr = np.asarray(trace)
    half = tr[len(tr) // 2:]
    t, cf = half[:, 1], half[:, 2]
    err = _block_error(t)
    change = _share_change(tr)
    if cf.min() < min_fraction:
        outcome = "liquid"
    elif cf.max() > 1.0 - min_fraction:
        outcome = "solid"
    elif change > max_share_change:
        outcome = "crystallising"
    elif change < -max_share_change:
        outcome = "melting"
    else:
        outcome = "coexisting"
    return outcome, float(t.mean()), err, float(cf.mean())


TOWARDS = {"solid": "solid", "crystallising": "solid", "liquid": "liquid", "melting": "liquid"}
"""The phase a judged run took over or was heading to."""


def _crystallised_against(info, res, reference, min_fraction):
    """Whether a run's second half, its share rescaled from the crystal's reading at T0
    (``res["crystal_reference"]``) to ``reference`` (the crystal's reading at the run's own
    temperature), is a solid box."""
    own = res.get("crystal_reference")
    if own is None or not np.isfinite(own) or own <= 0.05:
        return False
    tr = np.asarray(info["trace"], dtype=float).copy()
    tr[:, 2] *= own / reference
    return TOWARDS.get(_judge(tr, min_fraction)[0]) == "solid"


def _what_happened(info, res):
    """A judged run that did not coexist, in words."""
    end_t = float(np.asarray(res["trace"])[-10:, 1].mean())
    if info["outcome"] in ("solid", "liquid"):
        verb = "crystallised" if info["outcome"] == "solid" else "melted"
        return f"the box {verb} (ended at {end_t:.0f} K)"
    return (f"the box was still {info['outcome']} (solid share {info['share_change']:+.2f} and temperature "
            f"{_drift(info['trace']):+.0f} K over the second half, ended at {end_t:.0f} K)")


def _next_start(t0, above, below, higher, linger=float("nan"), box_start=float("nan"), held=1.0):
    """The next start temperature (K) after a run whose box took over.

    The box moved from its own start (``box_start``) towards T_m and lingered with both phases
    present at ``linger`` (:func:`_lingering_temperature`) for a fraction ``held`` (0-1) of the
    planned NPH run.  A box that held both phases for most of the run lingered close to T_m; one
    that took over within a few picoseconds had moved only part of its way there (its interfaces
    were fast because T_m was far).  So the next start extends the box's own path beyond
    ``linger``, by (``linger`` - ``box_start``) x (1 - ``held``), on the side where T_m lies
    (``higher``: above).  Inside the bracket (``above``, ``below``) it is taken, else ``linger``
    if that is inside, else 10 % beyond ``t0`` towards T_m.  Once both ends of the bracket are
    known, a start in its outer quarters is replaced by its middle (bisection as the safeguard:
    the box's hint is noisy, its bounds are not).  Returns (temperature, why)."""
    sign = 1.0 if higher else -1.0
    if np.isfinite(linger):
        moved = max(0.0, sign * (linger - box_start)) if np.isfinite(box_start) else 0.0
        target = linger + sign * moved * (1.0 - min(1.0, max(0.0, held)))
        if np.isfinite(above) and np.isfinite(below):
            # safeguarded like Brent's root finding: a hint is noisy, the bounds are not; a
            # start in the outer quarters of the bracket would narrow it by little if it failed
            lo, hi = above + 0.25 * (below - above), below - 0.25 * (below - above)
            if not lo <= target <= hi:
                return 0.5 * (above + below), (f"the middle of the bracket (the box lingered at {linger:.0f} K, "
                                               f"in its outer quarter)")
        if above < target < below:
            if target == linger:
                return float(linger), f"where the box lingered with both phases ({100 * held:.0f} % of the run)"
            return float(target), (f"the box moved from {box_start:.0f} K to {linger:.0f} K and held both phases "
                                   f"for {100 * held:.0f} % of the run: the rest of its way on")
        if above < linger < below:
            return float(linger), "where the box lingered with both phases"
    if np.isfinite(above) and np.isfinite(below):
        return 0.5 * (above + below), "the middle of the bracket"
    return (t0 * 1.1, "10 % above") if higher else (t0 * 0.9, "10 % below")


def _both_phases(tr, low=0.2, high=0.8, skip=10):
    """Mask of the trace's samples at which the box held both phases (solid share between ``low``
    and ``high``), the first ``skip`` samples left out."""
    both = (tr[:, 2] > low) & (tr[:, 2] < high)
    both[:skip] = False
    return both


def _held_time(trace, timestep=1.0):
    """Time (ps) a run's box held both phases (:func:`_both_phases`); ``timestep`` in fs, the
    trace's first column in steps."""
    tr = np.asarray(trace, dtype=float)
    if len(tr) < 2:
        return 0.0
    both = _both_phases(tr)
    dt = float(np.median(np.diff(tr[:, 0]))) * timestep / 1000.0
    return float(both.sum() * dt)


def _start_temperature(trace, samples=5):
    """The box's temperature (K) at the start of its NPH run: joining the halves moves it off the
    nominal T0 (by -80 K for a learned Cu MTP's box from 1381 K)."""
    tr = np.asarray(trace, dtype=float)
    return float(tr[:samples, 1].mean())


def _lingering_temperature(trace, low=0.2, high=0.8, skip=10, min_samples=10):
    """Mean temperature (K) of the later half of the samples at which a run's box held both
    phases (solid share between ``low`` and ``high``; the first ``skip`` samples left out), or
    NaN with fewer than ``min_samples`` of them.  A box that goes on to crystallise or melt
    spends that time near T_m: across the melting matrix this estimate lay within ~15 K of the
    coexistence T_m for boxes that started 50-80 K off it, and closer than their start for all."""
    tr = np.asarray(trace, dtype=float)
    t = tr[_both_phases(tr, low, high, skip), 1]
    if len(t) < min_samples:
        return float("nan")
    return float(t[len(t) // 2:].mean())


def _run_info(res, t0, min_fraction, lattice, p):
    """One NPH run judged (:func:`_judge`) and, unless it melted, its quenched solid checked for
    its lattice (:class:`~.engine.LatticeChange` otherwise)."""
    outcome, t_mean, t_err, cf = _judge(res["trace"], min_fraction)
    if outcome != "liquid":
        check_lattice(res.get("lattice_end") or {}, lattice, "coexistence", t_mean)
    return {"start_temperature": t0, "box_start_temperature": _start_temperature(res["trace"]),
            "lingering_temperature": _lingering_temperature(res["trace"]),
            "held_time": _held_time(res["trace"], res.get("timestep", p.timestep)),
            "outcome": outcome, "mean_temperature": t_mean, "mean_temperature_error": t_err,
            "solid_fraction": cf, "share_change": _share_change(res["trace"]), "trace": res["trace"],
            "timestep": res.get("timestep", p.timestep),
            **{k: np.nan if res.get(k) is None else res[k] for k in ("max_grade", "max_grade_preparation")}}



def coexistence_melting_point(potential, lattice="fcc", guess=1000.0, *, species=None, atoms=2000, protocol=None,
                              steps=(10000, 5000, 3000, 50000), min_fraction=0.1, max_runs=6, repeats=3,
                              workdir="coexistence", cores=1, seed=2023, run=None) -> CoexistenceResult:
    """T_m (K) of ``potential`` (a :class:`LammpsPotential`) by solid-liquid coexistence in NPH.

    ``guess``: the start temperature T0 (K), e.g. from heating (``estimate_melting_temperature``);
    it may be off by ~15 % (the latent heat of half the box moves the temperature by about that
    much).  ``steps``: (solid NPT, melting, cooling the liquid half, NPH coexistence) steps.
    When one phase takes over (the NPH run stops as soon as the solid share passes
    ``min_fraction / 2`` or ``1 - min_fraction / 2``), it bounds T_m by the weaker of T0 and the
    box's own start temperature, and the next run starts beyond where that box lingered with both
    phases (:func:`_lingering_temperature`), the further the sooner it took over, inside the
    bracket the earlier runs established (:func:`_next_start`); after ``max_runs`` an error says what happened.  The first
    coexisting run is repeated ``repeats - 1`` times from its temperature (other seeds; these
    runs share the ``cores`` MPI ranks, one run per rank, as far as they go); T_m averages the
    coexisting ones (:func:`combine_runs`).
    Runs are kept in ``workdir`` (a rerun continues)."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    p = protocol or Protocol()
    box = coexistence_box(species or potential.species, lattice, atoms)
    potential.check_species(box.get_chemical_symbols())
    order = stages.order_parameters(lattice, box.get_volume() / len(box))
    runner = StageRunner(potential, Path(workdir), cores, run)
    stop = 0.5 * min_fraction               # a run stops once the box is this close to one phase
    above, below = -np.inf, np.inf          # T_m > above, T_m < below
    t0, runs, flags = float(guess), [], []
    for k in range(max_runs):
        t0 = round(t0)
        res = runner(two_phase_stage(potential, p, lattice, order, t0, seed + 10 * k, steps, stop), f"T{t0}", box)
        run_info = _run_info(res, t0, min_fraction, lattice, p)
        runs.append(run_info)
        # grades of the physical part (the crystal at T0, the NPH run); the melt only prepares the box
        flag_extrapolation(run_info["max_grade"], p.break_threshold, f"coexistence run from {t0} K", "run", flags)
        outcome, t_mean = run_info["outcome"], run_info["mean_temperature"]
        if outcome == "coexisting":
            log.info("coexistence from %s K: steady at %.1f +- %.1f K (solid share %.2f)", t0, t_mean,
                     run_info["mean_temperature_error"], run_info["solid_fraction"])
            _flag_drift(run_info, t0, flags)
            coexisting, first_res = [run_info], res
            t_rep = round(t_mean)

            def repeat(r, cores_r):
                res_r = StageRunner(potential, Path(workdir), cores_r, run)(
                    two_phase_stage(potential, p, lattice, order, t_rep, seed + 1000 + 10 * r, steps, stop),
                    f"T{t_rep}_rep{r}", box)
                return r, res_r
            more = list(range(1, repeats))
            at_once, cores_each = share_slots(len(more), cores)      # the repeats share the ranks
            done = run_parallel(lambda r: repeat(r, cores_each), more, workers=at_once,
                                progress=False, processes=False)
            for r, res in done:
                info = dict(_run_info(res, t_rep, min_fraction, lattice, p), repeat=r)
                runs.append(info)
                flag_extrapolation(info["max_grade"], p.break_threshold, f"coexistence run from {t_rep} K", "run",
                                   flags)
                outcome_r = info["outcome"]
                if outcome_r == "coexisting":
                    _flag_drift(info, t_rep, flags)
                    coexisting.append(info)
                else:
                    flags.append(f"coexistence repeat {r} from {t_rep} K: {_what_happened(info, res)}; "
                                 f"left out of T_m")
            # the first run's share was measured against the crystal at T0; a box that crystallised
            # and heated far above T0 reads low against it (hot bcc W: 0.6).  The repeats measured the
            # crystal at the run's own temperature: judged against that, did it crystallise?
            refs = [r_.get("crystal_reference") for _, r_ in done]
            refs = [x for x in refs if x is not None and np.isfinite(x) and x > 0.05]
            if refs and _crystallised_against(run_info, first_res, float(np.mean(refs)), min_fraction):
                why = (f"the coexistence run from {t0} K crystallised: against the crystal at its own "
                       f"temperature ({t_rep} K, solid-like {np.mean(refs):.2f} instead of "
                       f"{first_res.get('crystal_reference', 1.0):.2f} at {t0} K) its box is solid; T_m is above {t0} K")
                log.warning("coexistence: %s", why)
                flags.append(why)
                run_info["outcome"] = "solid"
                coexisting.remove(run_info)
                above = max(above, t0)
            if not coexisting:
                for info in runs[-len(more):] if more else []:
                    if TOWARDS.get(info["outcome"]) == "liquid":
                        below = min(below, t_rep)
                    elif TOWARDS.get(info["outcome"]) == "solid":
                        above = max(above, t_rep)
                nxt, _ = _next_start(t0, above, below, higher=not np.isfinite(below))
                why = f"no coexisting run at {t_rep} K; {above:.0f} K < T_m < {below:.0f} K; next start {nxt:.0f} K"
                log.warning("coexistence: %s", why)
                flags.append(why)
                t0 = nxt
                continue
            tm, tm_err = combine_runs([x["mean_temperature"] for x in coexisting],
                                      [x["mean_temperature_error"] for x in coexisting],
                                      [x["drift"] for x in coexisting])
            if len(coexisting) < repeats:
                flags.append(f"coexistence: T_m from {len(coexisting)} of {repeats} runs")
            log.info("coexistence: T_m = %.1f +- %.1f K from %d runs", tm, tm_err, len(coexisting))
            return CoexistenceResult(tm, tm_err, len(box), lattice, runs, flags)
        # the interfaces moved towards the stable phase at T0 (the end temperature is no bound:
        # a box that crystallised heats up past T_m, one that melted cools below it)
        # (a box still crystallising or melting at the end of its run is on its way there)
        # the bound is the box's own start where joining the halves moved it off T0 towards T_m
        t_box, linger = run_info["box_start_temperature"], run_info["lingering_temperature"]
        held = run_info["held_time"] / (steps[3] * run_info["timestep"] / 1000.0)
        higher = TOWARDS[outcome] == "solid"
        if higher:
            bound = min(t0, t_box)
            above = max(above, bound)
            why = f"from {t0} K {_what_happened(run_info, res)}: T_m is above {bound:.0f} K"
        else:
            bound = max(t0, t_box)
            below = min(below, bound)
            why = f"from {t0} K {_what_happened(run_info, res)}: T_m is below {bound:.0f} K"
        nxt, reason = _next_start(t0, above, below, higher=higher, linger=linger, box_start=t_box, held=held)
        why += f"; next start {nxt:.0f} K ({reason})"
        log.warning("coexistence: %s", why)
        flags.append(why)
        t0 = nxt
    raise RuntimeError(f"no coexistence in {len(runs)} runs ({'; '.join(flags)}); T_m lies between {above:.0f} and "
                       f"{below:.0f} K - give a guess there, or more atoms / a longer run")
