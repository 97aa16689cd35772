"""Free energy of a solid or a liquid with LAMMPS, for any potential it runs.

:func:`free_energy` runs, for each of ``repeats`` independent repetitions (own seeds):

- solid: NPT equilibration at (T, P) -> mean box; NVT mean-square displacements -> spring
  constant per species; Frenkel-Ladd switching to the Einstein crystal (forward and
  backward) from the perfect lattice in the mean box:
  G = F_E - F_cm - W + P V;
- liquid: melting at ``melt_temperature``, NPT equilibration at (T, P) -> mean volume;
  switching to the Uhlenbeck-Ford fluid: G = F_ideal + F_UF - W + P V;
- with ``tmax``: reversible scaling from T to tmax (NPT, P = 0) and back -> G(T) on a grid.

Trust checks on by default: the crystalline fraction (q6 bond order, ten Wolde-Frenkel) along
every stage (a solid that melts or a liquid that crystallises - or was never melted - is an
error, not a number), dissipation above the tolerance flagged, the MTP's extrapolation
grade monitored (above the break threshold flagged; those structures can go to active
learning).  Every stage's result is kept in ``workdir``; a new call with the same
``workdir`` continues without redoing finished stages.  Energies in eV/atom, T in K,
P in GPa, V in A^3/atom.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from ..lammps.runtime import run_lammps
from ..parallel import run_parallel
from . import stages
from .potential import LammpsPotential
from .protocol import Protocol
from .reference import KB, einstein_free_energy, ideal_gas_free_energy, mass_of, uf_excess_free_energy

__all__ = ["free_energy", "FreeEnergyResult", "PhaseError", "LatticeChange", "check_lattice", "make_structure",
           "unit_cell", "default_workdir", "scaled_free_energy", "GPA_TO_EV_PER_A3", "upsample_to_reference",
           "switching_free_energy"]

log = logging.getLogger(__name__)
GPA_TO_EV_PER_A3 = 1.0 / 160.21766208


MAX_EXPANSION = 1.5     # a condensed phase larger than this times the crystal's volume has boiled


class PhaseError(RuntimeError):
    """A stage left its phase (a solid melted, a liquid crystallised or never melted).

    ``phase``: "solid" or "liquid"; ``stage``: the stage's name; ``temperature`` (K): where it
    happened - a solid melted there (so T_m lies below it), a liquid crystallised there (T_m
    lies above it); ``None`` when not known."""

    def __init__(self, message, *, phase=None, stage=None, temperature=None):
        super().__init__(message)
        self.phase, self.stage, self.temperature = phase, stage, temperature


class LatticeChange(PhaseError):
    """The solid left its lattice for another crystal structure (e.g. hcp -> bcc) at
    ``temperature``; ``lattice`` is the one it started in, ``new_lattice`` the one it became."""

    def __init__(self, message, *, lattice, new_lattice, **kwargs):
        super().__init__(message, **kwargs)
        self.lattice, self.new_lattice = lattice, new_lattice


@dataclass
class FreeEnergyResult:
    """Gibbs free energy per atom (eV) with its standard error over repetitions.

    ``temperatures``/``free_energy`` are arrays when reversible scaling ran (G(T) on that grid),
    else one temperature.  ``volume`` (A^3/atom) is the equilibrated volume at ``temperature``;
    ``volume_curve`` the mean volume along the reversible scaling on the same grid (:meth:`volume_at`).
    ``repetitions`` holds every repetition's numbers (seeds included); ``flags`` the trust-check
    warnings.
    """

    phase: str
    temperature: float
    pressure: float
    free_energy: float | np.ndarray
    free_energy_error: float | np.ndarray
    temperatures: np.ndarray | None = None
    volume: float = float("nan")
    volume_error: float = float("nan")
    dissipation: float = float("nan")
    solid_fraction: float = float("nan")
    max_grade: float | None = None
    spring_constants: list | None = None
    flags: list = field(default_factory=list)
    repetitions: list = field(default_factory=list)
    workdir: str = ""
    atoms: int = 0
    volume_curve: np.ndarray | None = None

    def at(self, temperature):
        """(G, error) interpolated at a temperature inside the reversible-scaling grid."""
        if self.temperatures is None:
            if abs(temperature - self.temperature) > 1e-9:
                raise ValueError(f"only T = {self.temperature} K was computed")
            return float(self.free_energy), float(self.free_energy_error)
        return self._on_scaling_grid(temperature, self.free_energy), self._on_scaling_grid(temperature,
                                                                                           self.free_energy_error)

    def volume_at(self, temperature):
        """Volume (A^3/atom) at ``temperature`` (K): the equilibrated one at the result's own
        temperature, else from the reversible scaling's path (mean of its repetitions, the
        forward and the backward leg)."""
        if abs(temperature - self.temperature) < 1e-9:
            return float(self.volume)
        if self.volume_curve is None:
            raise ValueError(f"no volume at {temperature} K: only T = {self.temperature} K was equilibrated")
        return self._on_scaling_grid(temperature, self.volume_curve)

    def _on_scaling_grid(self, temperature, values):
        """``values`` (on the reversible-scaling grid) interpolated at ``temperature``, which must lie
        on the grid; a liquid's grid runs down from its upper temperature."""
        t, v = np.asarray(self.temperatures, dtype=float), np.asarray(values, dtype=float)
        if not t.min() - 1e-9 <= temperature <= t.max() + 1e-9:
            raise ValueError(f"T = {temperature} K outside the computed range {t.min()}..{t.max()} K")
        if t[0] > t[-1]:
            t, v = t[::-1], v[::-1]
        return float(np.interp(temperature, t, v))

    def summary(self) -> dict:
        """JSON-ready numbers (arrays as lists)."""
        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v
        out = {k: plain(getattr(self, k)) for k in (
            "phase", "temperature", "pressure", "free_energy", "free_energy_error", "volume", "volume_error",
            "dissipation", "solid_fraction", "max_grade", "spring_constants", "flags")}
        if self.temperatures is not None:
            out["temperatures"] = self.temperatures.tolist()
        if self.volume_curve is not None:
            out["volume_curve"] = np.asarray(self.volume_curve).tolist()
        return out


def unit_cell(species, lattice, a=None, composition=None):
    """The conventional cell of ``lattice`` (cubic fcc/bcc, orthorhombic hcp with ideal c/a) of
    the first species.  ``a``: lattice constant (A), default from ASE's reference volumes (Vegard
    average over ``species`` with ``composition`` fractions)."""
    species = [species] if isinstance(species, str) else list(species)
    if a is None:
        from ase.data import reference_states, atomic_numbers
        vols = []
        for s in species:
            ref = reference_states[atomic_numbers[s]]
            probe = bulk(s) if ref is not None and ref.get("symmetry") in ("fcc", "bcc", "hcp") else None
            if probe is None:
                raise ValueError(f"no reference lattice constant for {s}: give a=...")
            vols.append(probe.get_volume() / len(probe))
        w = np.full(len(species), 1.0 / len(species)) if composition is None else np.asarray(composition, float)
        v = float(np.dot(w / w.sum(), vols))
        a = lattice_constant_of(lattice, v)
    if lattice == "hcp":
        return bulk(species[0], "hcp", a=a, c=a * np.sqrt(8 / 3), orthorhombic=True)
    return bulk(species[0], lattice, a=a, cubic=True)


def lattice_constant_of(lattice, volume):
    """Lattice constant a (A) of the conventional cell of ``unit_cell`` for ``volume`` A^3/atom
    (hcp: ideal c/a)."""
    if lattice not in ("fcc", "bcc", "hcp"):
        raise ValueError(f"lattice must be fcc, bcc or hcp, got {lattice!r}")
    return {"fcc": (4 * volume) ** (1 / 3), "bcc": (2 * volume) ** (1 / 3), "hcp": (np.sqrt(2) * volume) ** (1 / 3)}[lattice]


def cell_repetitions(unit, atoms):
    """Repetitions of ``unit`` along its axes that make the near-cubic supercell of about
    ``atoms`` atoms which :func:`make_structure` builds."""
    edge = (atoms / len(unit) * unit.get_volume()) ** (1 / 3)
    return [max(1, round(edge / length)) for length in unit.cell.lengths()]


def make_structure(species, lattice, atoms=500, composition=None, a=None, seed=0):
    """A near-cubic supercell of ``lattice`` with about ``atoms`` atoms.

    Each axis of the (cubic or orthorhombic) unit cell is repeated to the edge of a cube holding
    ``atoms`` atoms, rounded: a cubic cell n x n x n times, hcp's orthorhombic cell
    (a, sqrt(3) a, c) about (7, 4, 4) times for 500 atoms (448).
    ``species``: one element or several (random occupation with ``composition``, fractions
    per species).  ``a``: lattice constant (A), default from ASE's reference data (Vegard
    average for alloys).
    """
    species = [species] if isinstance(species, str) else list(species)
    unit = unit_cell(species, lattice, a, composition)
    s = unit.repeat(cell_repetitions(unit, atoms))
    return occupy_sites(s, species, composition, seed)


def occupy_sites(s, species, composition=None, seed=0):
    """Random occupation of the sites of ``s`` by ``species`` (``composition`` fractions)."""
    if len(species) > 1:
        rng = np.random.default_rng(seed)
        w = np.full(len(species), 1.0 / len(species)) if composition is None else np.asarray(composition, float)
        counts = np.floor(w / w.sum() * len(s)).astype(int)
        counts[0] += len(s) - counts.sum()
        symbols = np.repeat(species, counts)
        rng.shuffle(symbols)
        s.set_chemical_symbols(list(symbols))
    return s


def scaled_free_energy(g0, t0, temperatures, lam, work):
    """G(T) from reversible scaling: G(T) = (T/T0) (G0 + W(lambda = T0/T)) + 3/2 kT ln(T0/T)."""
    t = np.asarray(temperatures, dtype=float)
    w = np.interp(t0 / t, lam[::-1], work[::-1]) if lam[0] > lam[-1] else np.interp(t0 / t, lam, work)
    return t / t0 * (g0 + w) + 1.5 * KB * t * np.log(t0 / t)


def _cumulative(lam, u):
    out = np.zeros(len(lam))
    out[1:] = np.cumsum(0.5 * (u[1:] + u[:-1]) * np.diff(lam))
    return out


def _write_data(atoms, path, species):
    import ase.io
    ase.io.write(path, atoms, format="lammps-data", specorder=list(species), masses=True, units="metal",
                 atom_style="atomic")


def read_lammps_data(path, species):
    """``ase.Atoms`` from a LAMMPS data file (atom style atomic, metal units) whose types 1, 2, ...
    are ``species`` in order."""
    import ase.io
    from ase.data import atomic_numbers
    return ase.io.read(path, format="lammps-data", atom_style="atomic", units="metal",
                       Z_of_type={k + 1: atomic_numbers[s] for k, s in enumerate(species)})


def scaled_to_box(atoms, box):
    """``atoms`` scaled to the mean LAMMPS box (lx ly lz xy xz yz)."""
    lx, ly, lz, xy, xz, yz = box
    new = atoms.copy()
    new.set_cell([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]], scale_atoms=True)
    return new


class StageRunner:
    """Runs stages in their folders (``workdir/<name>``) on ``cores`` MPI ranks; a finished stage
    (result.json) is read, not rerun.  ``run``: the function that runs LAMMPS (tests pass fakes)."""

    def __init__(self, potential: LammpsPotential, workdir, cores, run=None):
        self.pot, self.workdir, self.cores = potential, Path(workdir), int(cores)
        self.run_fn = run or run_lammps

    def __call__(self, stage: stages.Stage, name: str, start: Atoms):
        folder = self.workdir / name
        done = folder / "result.json"
        if done.exists():
            return json.loads(done.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        _write_data(start, folder / "start.data", self.pot.species)
        self.pot.write_files(folder)
        self.run_fn(stage.script, folder, cores=self.cores)
        result = stage.read(folder)
        tmp = folder / "result.json.tmp"
        tmp.write_text(json.dumps(result))
        tmp.replace(done)
        return result


def flag_extrapolation(grade, threshold, where, what, flags):
    """Flag ``where`` (a stage, a coexistence run) when the MTP's largest grade in its physical
    part exceeds ``threshold`` (None or NaN: no MTP, nothing to flag)."""
    if grade is not None and grade > threshold:
        flags.append(f"{where}: the MTP extrapolates (max grade {grade:.3g} > {threshold}); "
                     f"the structures of this {what} should go to active learning")


def failure_bound(path, k, phase, temperature):
    """(T where the failure was seen, the bound on T_m it proves), K.  ``path``: (T, crystalline
    fraction) rows in time order, ``k`` the first failing row (None: unknown, both are
    ``temperature``).  A solid melts only above T_m, so one that melted by row ``k`` proves
    T_m < the hottest temperature it went through up to there; a liquid crystallises only below
    T_m: T_m > the coldest.  Along a path that heats and cools again (reversible scaling there
    and back) the two differ: a solid found molten on the way back down melted near the top."""
    if k is None or not len(path):
        return float(temperature), float(temperature)
    visited = path[:k + 1, 0]
    return float(path[k, 0]), float(visited.max() if phase == "solid" else visited.min())


def _where(seen, bound, extreme):
    return f" at {seen:g} K" if abs(seen - bound) < 1e-9 else f" by {seen:g} K ({extreme} before: {bound:g} K)"


def check_phase(result, phase, stage, temperature, p: Protocol, flags, lattice=None):
    """Raise :class:`PhaseError` (or :class:`LatticeChange`) when the stage left its phase,
    with the bound on T_m it proves (:func:`failure_bound`); add flags for extrapolation, the
    repulsive core and dissipation."""
    path = np.asarray(result.get("crystalline_path", []), dtype=float).reshape(-1, 2)
    if phase == "solid" and result["crystalline_min"] < p.solid_min_fraction:
        k = stages.first_sustained(path[:, 1], below=p.solid_min_fraction) if len(path) else None
        seen, bound = failure_bound(path, k, "solid", temperature)
        raise PhaseError(f"the solid melted (or lost its lattice) during {stage}{_where(seen, bound, 'hottest')}: "
                         f"crystalline fraction fell to {result['crystalline_min']:.2f} over "
                         f"{stages.SUSTAINED_SAMPLES} samples (needs >= {p.solid_min_fraction}); "
                         f"lower the temperature or check the potential", phase=phase, stage=stage,
                         temperature=bound)
    # a liquid is prepared from a crystal: its equilibration is judged at its end
    liquid_fraction = result["crystalline_end"] if stage == "equilibration" else result["crystalline_max"]
    if phase == "liquid" and liquid_fraction > p.liquid_max_fraction:
        k = stages.first_sustained(path[:, 1], above=p.liquid_max_fraction) if len(path) else None
        seen, bound = failure_bound(path, k, "liquid", temperature)
        raise PhaseError(f"the liquid is not a liquid during {stage}{_where(seen, bound, 'coldest')}: crystalline "
                         f"fraction {liquid_fraction:.2f} (allowed <= {p.liquid_max_fraction}); it was not melted "
                         f"or it crystallised - raise melt_temperature / the temperature", phase=phase, stage=stage,
                         temperature=bound)
    if phase == "solid" and lattice is not None:
        check_lattice(result.get("lattice_end") or {}, lattice, stage, temperature, path)
    flag_extrapolation(result.get("max_grade"), p.break_threshold, stage, "stage", flags)
    if result.get("core_energy_physical", 0.0) > 1e-4:
        flags.append(f"{stage}: the MTP's repulsive core acted in the physical system (up to "
                     f"{result['core_energy_physical'] * 1e3:.3f} meV/atom): atoms came closer than its min_dist, "
                     f"where it extrapolates; the free energy is that of MTP + core")
    limit = p.dissipation_limit(temperature)
    if "dissipation" in result and abs(result["dissipation"]) > limit:
        flags.append(f"{stage}: dissipation {result['dissipation'] * 1e3:.2f} meV/atom above "
                     f"{limit * 1e3:.2g} meV/atom: switch more slowly (switching_steps)")


def check_lattice(fractions, lattice, stage, temperature, path=()):
    """Raise :class:`LatticeChange` when a solid's quenched structure (Ackland-Jones
    ``fractions``, over the solid's atoms) is another lattice (:func:`stages.changed_lattice`);
    ``path``: (T, fraction) rows of the stage, whose hottest temperature bounds where it happened."""
    path = np.asarray(path, dtype=float).reshape(-1, 2)
    other = stages.changed_lattice(fractions, lattice)
    if other is not None:
        hottest = float(path[:, 0].max()) if len(path) else float(temperature)
        where = (f"at {temperature:g} K" if hottest <= temperature + 1e-9
                 else f"between {temperature:g} and {hottest:g} K")
        raise LatticeChange(
            f"the {lattice} solid became {other} during {stage} {where} (quenched structure: "
            f"{', '.join(f'{v:.0%} {k}' for k, v in fractions.items())}): {lattice} is not the "
            f"stable solid there - a phase change, not melting; compute the {other} solid", phase="solid",
            stage=stage, temperature=hottest, lattice=lattice, new_lattice=other)


def equilibrate(runner, pot, phase, lattice, start, temperature, pressure, p: Protocol, seed, tag, flags):
    """The NPT equilibration stage ``tag/equilibration`` of ``phase`` from ``start`` (a liquid melted
    first), checked: the phase stayed itself and stayed condensed (a phase that expanded beyond
    ``MAX_EXPANSION`` times the start's volume boiled).  Returns the stage's result."""
    v_start = start.get_volume() / len(start)
    rc = stages.order_parameters(lattice, v_start)
    eq = runner(stages.equilibration(pot, p, temperature, pressure, lattice, rc, seed, liquid=phase == "liquid"),
                f"{tag}/equilibration", start)
    check_phase(eq, phase, "equilibration", temperature, p, flags, lattice)
    volume = eq["volume"]
    if volume > MAX_EXPANSION * v_start:
        raise RuntimeError(f"the {phase} at {temperature:g} K expanded to {volume:.1f} A^3/atom, "
                           f"{volume / v_start:.1f} times the crystal's start: it boiled or cavitated, not a "
                           f"condensed phase (see {runner.workdir / tag / 'equilibration'})")
    return eq


def _repetition(runner, pot, phase, lattice, start, temperature, pressure, tmax, p: Protocol, seed, tag, flags):
    """One independent repetition: its G(T0) (and G(T) with tmax) and the stage numbers."""
    species = pot.species
    n = len(start)
    counts = [sum(1 for s in start.get_chemical_symbols() if s == sp) for sp in species]
    masses = [mass_of(s) for s in species]
    liquid = phase == "liquid"
    eq = equilibrate(runner, pot, phase, lattice, start, temperature, pressure, p, seed, tag, flags)
    volume = eq["volume"]
    rc = stages.order_parameters(lattice, volume)
    out = {"seed": seed, "volume": volume, "volume_error": eq["volume_error"], "max_grade": eq["max_grade"],
           "solid_fraction": eq["crystalline_end"], "box": eq["box"]}
    if not liquid:
        lattice_start = scaled_to_box(_as_lammps_frame(start), eq["box"])
        sp = runner(stages.springs(pot, p, temperature, rc, seed + 1), f"{tag}/springs", lattice_start)
        check_phase(sp, phase, "springs", temperature, p, flags)
        ks = _stiff_enough(sp["spring_constants"], pot, lattice, volume, temperature, flags)
        fl = _switch(runner, lambda q: stages.frenkel_ladd(pot, q, temperature, ks, rc, seed + 2),
                     f"{tag}/frenkel_ladd", lattice_start, phase, temperature, p, flags)
        present = [k for k, c in enumerate(counts) if c > 0]
        f_e, f_cm = einstein_free_energy(temperature, [ks[k] for k in present], [masses[k] for k in present],
                                         [counts[k] for k in present], volume * n)
        f_ref = f_e + f_cm
        sw = fl
        out.update(spring_constants=ks, f_einstein=f_e, f_cm=f_cm, max_grade=_max(out["max_grade"], sp["max_grade"]))
    else:
        liquid_start = scaled_to_box(read_lammps_data(runner.workdir / tag / "equilibration" / "equilibrated.data", species),
                                  eq["box"])
        rho = 1.0 / volume
        sigma = p.uf_sigma_at(rho)
        sw = _switch(runner, lambda q: stages.uf_switching(pot, q, temperature, rc, seed + 2, sigma=sigma),
                     f"{tag}/uf_switching", liquid_start, phase, temperature, p, flags)
        f_id = ideal_gas_free_energy(temperature, rho, masses, counts)
        f_uf = uf_excess_free_energy(temperature, rho, p.uf_p, sigma)
        f_ref = f_id + f_uf
        out.update(f_ideal=f_id, f_uf=f_uf, uf_sigma=sigma)
    f = f_ref - sw["work"]
    g0 = f + pressure * GPA_TO_EV_PER_A3 * volume
    out.update(work=sw["work"], work_forward=sw["work_forward"], work_backward=sw["work_backward"],
               dissipation=sw["dissipation"], switching_steps=sw["switching_steps"], free_energy=g0, f_reference=f_ref,
               integrand_forward=sw["integrand_forward"], integrand_backward=sw["integrand_backward"],
               max_grade=_max(out["max_grade"], sw["max_grade"]),
               solid_fraction=sw["crystalline_end"])
    if tmax is not None:
        rs_start = read_lammps_data(runner.workdir / tag / "equilibration" / "equilibrated.data", species)
        rs = runner(stages.reversible_scaling(pot, p, temperature, tmax, lattice, rc, seed + 3, liquid=liquid),
                    f"{tag}/reversible_scaling", rs_start)
        check_phase(rs, phase, "reversible_scaling", temperature, p, flags, lattice)
        fw, bw = np.array(rs["forward"]), np.array(rs["backward"])[::-1]
        wf = _cumulative(fw[:, 0], fw[:, 1])
        wb = _cumulative(bw[:, 0], bw[:, 1])
        temps = np.linspace(temperature, tmax, 101)
        g_f = scaled_free_energy(g0, temperature, temps, fw[:, 0], wf)
        g_b = scaled_free_energy(g0, temperature, temps, bw[:, 0], wb)
        out.update(temperatures=temps.tolist(), free_energy_curve=(0.5 * (g_f + g_b)).tolist(),
                   volume_curve=scaling_volume(temperature, temps, fw, bw).tolist(),
                   scaling_dissipation=float(0.5 * abs(g_f[-1] - g_b[-1])),
                   max_grade=_max(out["max_grade"], rs["max_grade"]))
        if out["scaling_dissipation"] > p.dissipation_limit(tmax):
            flags.append(f"reversible_scaling: forward and backward G({tmax:g} K) differ by "
                         f"{2e3 * out['scaling_dissipation']:.2f} meV/atom: scale more slowly")
    return out


def scaling_volume(t0, temps, forward, backward):
    """Volume (A^3/atom) on ``temps`` (K, evenly spaced) from reversible-scaling rows
    (lambda, energy, volume per atom) of both legs: a straight line through the rows whose
    temperature T0 / lambda lies within one grid step of each point, read at the point (unbiased
    at the grid's ends too; the two nearest rows where fewer reach)."""
    rows = np.vstack([forward, backward])
    t_rows, v_rows = t0 / rows[:, 0], rows[:, 2]
    step = abs(temps[1] - temps[0]) if len(temps) > 1 else np.inf
    out = np.empty(len(temps))
    for i, t in enumerate(temps):
        near = np.abs(t_rows - t) <= step
        if near.sum() > 1 and np.ptp(t_rows[near]) > 0.0:
            out[i] = np.polyfit(t_rows[near] - t, v_rows[near], 1)[1]
        else:
            nearest = np.argsort(np.abs(t_rows - t))[:2]
            tn, vn = t_rows[nearest], v_rows[nearest]
            out[i] = vn.mean() if tn[0] == tn[1] else vn[0] + (vn[1] - vn[0]) * (t - tn[0]) / (tn[1] - tn[0])
    return out


def _switch(runner, make_stage, name, start, phase, temperature, p: Protocol, flags):
    """A switching stage (``make_stage(protocol)``) run in ``name`` with ``p.switching_steps``;
    while its dissipation exceeds ``p.dissipation_limit(temperature)`` it is run again with twice the
    steps (folders ``name_x2``, ``name_x4``, ...), at most ``p.switching_doublings`` times.
    Returns the slowest run's result with its ``switching_steps``; a phase error in any run
    raises, the dissipation flag concerns the last one only."""
    stage = name.rsplit("/", 1)[-1]
    for k in range(p.switching_doublings + 1):
        q = replace(p, switching_steps=p.switching_steps * 2 ** k)
        result = runner(make_stage(q), name if k == 0 else f"{name}_x{2 ** k}", start)
        last = k == p.switching_doublings or abs(result["dissipation"]) <= p.dissipation_limit(temperature)
        check_phase(result, phase, stage, temperature, p if last else replace(p, dissipation_tolerance=np.inf), flags)
        if last:
            return {**result, "switching_steps": q.switching_steps}
        log.info("%s: dissipation %.2f meV/atom with %d switching steps; switching again with %d", name,
                 result["dissipation"] * 1e3, q.switching_steps, 2 * q.switching_steps)


def _stiff_enough(ks, pot, lattice, volume, temperature, flags):
    """Spring constants (eV/A^2) that keep an Einstein crystal out of an MTP's extrapolation
    region: neighbouring atoms, each displaced independently, stay four standard deviations of
    their distance above min_dist.  The free energy does not depend on k (only how reversible
    the switching is), so raising it is exact; it is flagged."""
    if pot.mtp is None:
        return ks
    nn = {"fcc": (4 * volume) ** (1 / 3) / np.sqrt(2), "bcc": np.sqrt(3) / 2 * (2 * volume) ** (1 / 3),
          "hcp": (np.sqrt(2) * volume) ** (1 / 3)}[lattice]
    gap = nn - pot.mtp.min_dist
    if gap <= 0:
        flags.append(f"frenkel_ladd: the nearest-neighbour distance {nn:.2f} A is below the MTP's min_dist "
                     f"{pot.mtp.min_dist:.2f} A")
        return ks
    k_min = KB * temperature * (4 * np.sqrt(2) / gap) ** 2
    out = [None if k is None else max(k, k_min) for k in ks]
    if any(k is not None and k < k_min for k in ks):
        flags.append(f"frenkel_ladd: spring constants raised to {k_min:.2f} eV/A^2 (from the mean-square "
                     f"displacement: {', '.join(f'{k:.2f}' for k in ks if k is not None)}) to keep the Einstein "
                     f"crystal above the MTP's min_dist")
    return out


def _max(a, b):
    vals = [v for v in (a, b) if v is not None]
    return max(vals) if vals else None


def _as_lammps_frame(atoms):
    """The structure in LAMMPS' frame (lower-triangular cell), as the data file holds it."""
    from ..lammps.runtime import lammps_cell
    cell, rot = lammps_cell(atoms.cell.array)
    new = atoms.copy()
    new.set_cell(cell, scale_atoms=False)
    new.positions = atoms.positions @ rot
    return new


def default_workdir(kind, lammps_potential, **settings) -> Path:
    """A work folder named after a calculation's settings: ``kind`` followed by the readable
    ones (phase, lattice, temperature, atoms, pressure) and a hash of all of them and of the
    potential, e.g. ``free_energy_solid_fcc_600K_500atoms_0GPa_3f2a9c01de``.  The same call
    continues in the same folder, other settings start in a new one; numbers count as floats
    (600 and 600.0 are one setting).  A folder named by the earlier hash, which told 600 from
    600.0, is used when it exists and the new name does not."""
    import hashlib
    parts = [kind]
    for key, fmt in (("phase", "{}"), ("lattice", "{}"), ("temperature", "{:g}K"), ("tmax", "to{:g}K"),
                     ("atoms", "{:g}atoms"), ("pressure", "{:g}GPa")):
        if settings.get(key) is not None:
            parts.append(fmt.format(settings[key]))

    def named(values):
        blob = json.dumps(values, sort_keys=True, default=str) + lammps_potential.fingerprint()
        return Path("_".join(parts + [hashlib.sha1(blob.encode()).hexdigest()[:10]]))
    folder, legacy = named(_numbers_as_floats(settings)), named(settings)
    return legacy if legacy.exists() and not folder.exists() else folder


def _structure_key(atoms):
    import hashlib
    data = np.concatenate([atoms.cell.array.ravel(), atoms.positions.ravel()]).round(6).tobytes()
    return hashlib.sha1(data + "".join(atoms.get_chemical_symbols()).encode()).hexdigest()[:10]


def free_energy(potential, phase, temperature, *, lattice="fcc", structure=None, species=None, atoms=500,
                composition=None, pressure=0.0, tmax=None, repeats=3, protocol=None, workdir=None,
                cores=1, parallel=1, seed=12345, progress=True, run=None, executor=None) -> FreeEnergyResult:
    """Gibbs free energy per atom of ``phase`` ("solid" or "liquid") at ``temperature`` (K) and
    ``pressure`` (GPa), with reversible scaling to ``tmax`` if given.

    ``potential``: a :class:`LammpsPotential` (``LammpsPotential.from_mtp(pot, active_set)``,
    ``.from_eam(file, species)``, ``.from_pyiron(row)``).  Start structure: ``structure``
    (ASE Atoms) or a ``lattice`` supercell of about ``atoms`` atoms of ``species`` (default:
    the potential's species, ``composition`` fractions).  ``repeats`` independent repetitions
    (seeds ``seed``, ``seed + 100``, ...) give the standard error; ``parallel`` of them run at
    once, each LAMMPS run on ``cores`` MPI ranks (or all on ``executor``, e.g. a pool shared
    with another phase).  ``workdir`` keeps every stage: calling again continues where a
    killed run stopped; by default it is named after the settings and the potential
    (:func:`default_workdir`), so a call with other settings starts a folder of its own.
    """
    if phase not in ("solid", "liquid"):
        raise ValueError(f"phase must be 'solid' or 'liquid', got {phase!r}")
    if temperature <= 0:
        raise ValueError("temperature must be positive (K)")
    if tmax is not None and abs(pressure) > 1e-12:
        raise ValueError("reversible scaling (tmax) is implemented at zero pressure only; "
                         "compute single temperatures at other pressures")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    p = protocol or Protocol()
    if not isinstance(potential, LammpsPotential):
        raise TypeError("potential must be a LammpsPotential (from_mtp, from_eam or from_pyiron)")
    if structure is None:
        structure = make_structure(species or potential.species, lattice, atoms, composition)
    potential.check_species(structure.get_chemical_symbols())
    settings = {"phase": phase, "temperature": temperature, "pressure": pressure, "tmax": tmax,
                "lattice": lattice, "atoms": len(structure), "protocol": p.to_dict(), "potential": potential.style}
    if workdir is None:
        workdir = default_workdir("free_energy", potential, **settings, repeats=repeats, seed=seed,
                                  structure=_structure_key(structure))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_settings(workdir / "settings.json", settings)
    runner = StageRunner(potential, workdir, cores, run)
    flags: list = []
    seeds = [seed + 100 * r for r in range(repeats)]

    def one(r):
        return _repetition(runner, potential, phase, lattice, structure, temperature, pressure, tmax, p, seeds[r],
                           f"rep{r}", flags)

    reps = run_parallel(one, range(repeats), parallel, executor, progress, f"{phase} {temperature:g} K", processes=False,
                        unit="rep")
    res = _combine(reps, phase, temperature, pressure, tmax, flags)
    res.workdir, res.atoms = str(workdir), len(structure)
    return res


def _numbers_as_floats(value):
    """``value`` (JSON-like) with every number a float, so that settings given as 1879 and 1879.0
    compare equal (booleans and None kept)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers_as_floats(v) for v in value]
    return value


def _check_settings(path, settings):
    if path.exists():
        old = json.loads(path.read_text())
        if isinstance(old.get("protocol"), dict):   # settings added to Protocol later take their defaults
            old["protocol"] = {**Protocol().to_dict(), **old["protocol"]}
        changed = {k for k in settings if json.dumps(_numbers_as_floats(old.get(k)), sort_keys=True)
                   != json.dumps(_numbers_as_floats(settings[k]), sort_keys=True)}
        if changed:
            raise ValueError(f"{path.parent} holds a calculation with other settings ({sorted(changed)}); "
                             f"use a new workdir")
    else:
        path.write_text(json.dumps(settings, indent=1))


def _combine(reps, phase, temperature, pressure, tmax, flags):
    def mean_err(values):
        v = np.asarray(values, dtype=float)
        err = v.std(axis=0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.full(v.shape[1:], np.nan)
        return v.mean(axis=0), err
    if len(reps) == 1:
        flags.append("one repetition only: no statistical error (repeats >= 2)")
    vol, _ = mean_err([r["volume"] for r in reps])
    vol_err = (np.std([r["volume"] for r in reps], ddof=1) / np.sqrt(len(reps)) if len(reps) > 1
               else reps[0]["volume_error"])
    grades = [r["max_grade"] for r in reps if r["max_grade"] is not None]
    ks = None
    if "spring_constants" in reps[0]:
        ks = [float(np.mean([r["spring_constants"][k] for r in reps if r["spring_constants"][k] is not None]))
              if reps[0]["spring_constants"][k] is not None else None for k in range(len(reps[0]["spring_constants"]))]
    common = dict(phase=phase, temperature=temperature, pressure=pressure, volume=float(vol), volume_error=float(vol_err),
                  dissipation=float(np.mean([r["dissipation"] for r in reps])),
                  solid_fraction=float(np.mean([r["solid_fraction"] for r in reps])),
                  max_grade=max(grades) if grades else None, spring_constants=ks,
                  flags=list(dict.fromkeys(flags)), repetitions=reps)
    if tmax is None:
        g, e = mean_err([r["free_energy"] for r in reps])
        return FreeEnergyResult(free_energy=float(g), free_energy_error=float(e), **common)
    g, e = mean_err([r["free_energy_curve"] for r in reps])
    vc = (np.mean([r["volume_curve"] for r in reps], axis=0) if all("volume_curve" in r for r in reps) else None)
    return FreeEnergyResult(free_energy=g, free_energy_error=e, temperatures=np.array(reps[0]["temperatures"]),
                            volume_curve=vc, **common)


def upsample_to_reference(potential, result: FreeEnergyResult, reference, *, workdir, count=20, interval=200,
                          lattice="fcc", executor=None, cores=1, seed=777, protocol=None, progress=True, run=None):
    """G of the reference (e.g. DFT) from an MTP free energy by free-energy perturbation.

    ``count`` snapshots, ``interval`` steps apart, of NVT MD with the MTP at the result's
    temperature and volume (the equilibrated structure of its first repetition); each one
    computed with ``reference`` (a zero-argument callable returning an ASE calculator, or
    an ASE calculator) through ``executor``.  ``workdir``: the folder of the free-energy
    calculation (the snapshots go to its ``upsampling`` subfolder).  Returns (G_reference, its error,
    :class:`~.perturbation.PerturbationResult`); G_reference = G_MTP + dF.
    """
    from ..calculator import MTPCalculator
    from ..lammps.dump import read_dump
    from .perturbation import upsample
    if not potential.is_mtp:
        raise ValueError("upsampling needs the MTP as the potential (its energies of the snapshots)")
    p = protocol or Protocol()
    workdir = Path(workdir)
    source = workdir / "rep0" / "equilibration" / "equilibrated.data"
    if not source.exists():
        raise ValueError(f"{workdir} holds no equilibrated structure (run free_energy there first)")
    start = scaled_to_box(read_lammps_data(source, potential.species), result.repetitions[0]["box"])
    rc = stages.order_parameters(lattice, result.volume)
    runner = StageRunner(potential, workdir, cores, run)
    runner(stages.snapshots(potential, p, result.temperature, rc, seed, count, interval), "upsampling", start)
    frames = read_dump(workdir / "upsampling" / "frames.dump", potential.species)[-count:]
    pert = upsample(frames, MTPCalculator(potential.mtp), reference, result.temperature, executor=executor,
                    progress=progress)
    g = float(np.atleast_1d(result.free_energy)[0]) + pert.delta_f
    e = float(np.hypot(np.atleast_1d(result.free_energy_error)[0], pert.delta_f_error))
    return g, e, pert


def switching_free_energy(pot_a, pot_b, structure, temperature, *, lattice="fcc", repeats=3, protocol=None,
                          workdir="lambda_path", cores=1, parallel=1, seed=2468, progress=True, run=None):
    """F_B - F_A (eV/atom) at the volume of ``structure`` and ``temperature`` (K): switching
    from potential A to B and back with ``pair_style hybrid/scaled`` (NVT, smooth lambda),
    ``repeats`` independent repetitions.  Returns (dF, its standard error, dissipation,
    per-repetition numbers).  E.g. EAM -> MTP, or MTP level 16 -> 24 (two pair styles:
    an MTP and another style)."""
    for pot in (pot_a, pot_b):
        pot.check_species(structure.get_chemical_symbols())
    if list(pot_a.species) != list(pot_b.species):
        raise ValueError(f"the potentials must name the same species in the same order: {pot_a.species} vs "
                         f"{pot_b.species}")
    p = protocol or Protocol()
    work = Path(workdir)
    rc = stages.order_parameters(lattice or "fcc", structure.get_volume() / len(structure))
    both = LammpsPotential(list(pot_a.species), pot_b.style, pot_b.coeff, {**pot_a.files, **pot_b.files}, "both",
                           pot_b.mtp or pot_a.mtp, pot_b.active_set or pot_a.active_set)

    def write_files(folder, a=pot_a, b=pot_b):
        a.write_files(folder)
        b.write_files(folder)
    both.write_files = write_files
    runner = StageRunner(both, work, cores, run)
    start = _as_lammps_frame(structure)

    def one(r):
        return runner(stages.lambda_switching(pot_a, pot_b, p, temperature, rc, seed + 100 * r),
                      f"rep{r}/lambda_switching", start)
    reps = run_parallel(one, range(repeats), parallel, None, progress, "lambda path", processes=False, unit="rep")
    w = np.array([r["work"] for r in reps])
    err = float(w.std(ddof=1) / np.sqrt(len(w))) if len(w) > 1 else float("nan")
    return float(w.mean()), err, float(np.mean([r["dissipation"] for r in reps])), reps
