"""LAMMPS inputs of the free-energy stages and the readers of their output.

Every stage is a :class:`Stage`: the input script (reading ``start.data`` and the
potential's files from its folder) and a reader turning the files LAMMPS wrote into
numbers.  Common to all stages: the crystalline (solid-like) fraction at the start, every
500 steps and at the end, and the MTP's extrapolation grade every ``grade_every`` steps
when the potential carries an active set.

Solid-like atoms follow ten Wolde and Frenkel: the Steinhardt q6 vectors of an atom and of
a neighbour (``compute orientorder/atom ... components 6``) are "connected" when their
normalised dot product exceeds 0.5 (``compute coord/atom orientorder``); an atom with at
least 7 connections is solid-like.  Unlike common neighbour analysis it stays near 1 in a
crystal close to melting and near 0 in the liquid.

Units inside: LAMMPS metal (eV, A, ps, bar); arguments: K, fs, GPa.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lammps.runtime import GPA_TO_BAR, NKTV2P, num
from .potential import LammpsPotential
from .protocol import Protocol
from .reference import KB, UF_CUTOFF

__all__ = ["Stage", "equilibration", "springs", "frenkel_ladd", "uf_switching",
           "reversible_scaling", "scaling_temperature", "lattice_fractions", "LATTICE_TYPES", "changed_lattice", "lambda_switching", "smooth_lambda", "snapshots", "order_parameters"]

EV_PER_A3_TO_GPA = 160.21766208


@dataclass
class Stage:
    name: str
    script: str
    reader: object        # callable(folder) -> dict

    def read(self, folder):
        return self.reader(Path(folder))


def order_parameters(lattice, volume_per_atom):
    """(nearest neighbours for q6, cutoff in A) of the solid-like criterion for a lattice at a
    volume: 12 neighbours within 1.49 nearest-neighbour distances for fcc and hcp (first and
    second shell), 14 within 1.4 for bcc."""
    if lattice == "fcc":
        return 12, 1.49 * (4.0 * volume_per_atom) ** (1 / 3) / np.sqrt(2.0)
    if lattice == "hcp":
        return 12, 1.49 * (np.sqrt(2.0) * volume_per_atom) ** (1 / 3)
    if lattice == "bcc":
        return 14, 1.4 * np.sqrt(3.0) / 2.0 * (2.0 * volume_per_atom) ** (1 / 3)
    raise ValueError(f"lattice must be fcc, bcc or hcp, got {lattice!r}")


def smooth_lambda(s):
    """The switching function of fix ti/spring (function 2): 0 -> 1 with vanishing
    derivatives up to fourth order at both ends, s in [0, 1]."""
    return s ** 5 * (70 * s ** 4 - 315 * s ** 3 + 540 * s ** 2 - 420 * s + 126)


def _lambda_variable(name, t_eq, t_s, start=0.0, end=1.0):
    """An equal-style LAMMPS variable running start -> end -> start along the schedule
    eq (t_eq) | forward (t_s) | eq (t_eq) | backward (t_s), smooth switching function."""
    f = lambda s: f"(({s})^5*(70*({s})^4-315*({s})^3+540*({s})^2-420*({s})+126))"  # noqa: E731
    fwd = f"(elapsed-{t_eq})/{t_s}"
    bwd = f"1-(elapsed-{2 * t_eq + t_s})/{t_s}"
    lam = (f"(elapsed<{t_eq})*0+(elapsed>={t_eq}&&elapsed<{t_eq + t_s})*{f(fwd)}"
           f"+(elapsed>={t_eq + t_s}&&elapsed<{2 * t_eq + t_s})*1"
           f"+(elapsed>={2 * t_eq + t_s})*{f(bwd)}")
    return f'variable {name} equal "{num(start)}+({num(end)}-{num(start)})*({lam})"'


class _Script:
    """Assembles an input: header, potential, monitoring (crystalline fraction, grades)."""

    def __init__(self, potential: LammpsPotential, protocol: Protocol, order, data="start.data"):
        self.pot, self.p, self.order = potential, protocol, order
        self.lines = ["units metal", "atom_style atomic", "atom_modify map array", f"read_data {data}"]

    def pair(self, lines=None):
        self.lines += lines if lines is not None else self.pot.pair_lines()
        self.lines += ["neighbor 1.0 bin", f"timestep {num(self.p.timestep / 1000.0)}",
                       "variable stepv equal step", "variable natoms equal atoms"]
        return self

    def monitor(self):
        nnn, rc = self.order
        self.lines += [f"compute q6 all orientorder/atom degrees 1 6 nnn {nnn} cutoff {num(rc)} components 6",
                       "compute links all coord/atom orientorder q6 0.5",
                       'variable cryst atom "c_links>=7"',
                       "compute cfrac all reduce ave v_cryst",
                       "thermo_style custom step temp pe press vol c_cfrac", "thermo 1000"]
        if self.pot.core is not None:     # the MTP's repulsive core: its energy along the stage
            self.lines += ["compute ucore all pair lj/cut", "variable ecore equal c_ucore/atoms",
                           f'fix corelog all print 100 "${{stepv}} ${{ecore}}" file core.txt screen no title ""']
        if self.pot.grades:
            n = self.p.grade_every
            self.lines += [f"fix grades all pair {n} mtp grade 1", "compute gmax all reduce max f_grades",
                           "variable gmax equal c_gmax",
                           f'fix gradelog all print {n} "${{stepv}} ${{gmax}}" file grades.txt screen no title ""']
        self.lines += ["variable cf equal c_cfrac",
                       'fix solidlog all print 500 "${stepv} ${cf}" file crystalline.txt screen no title ""',
                       "run 0", 'print "CRYSTALLINE_START $(c_cfrac:%.6f)"']
        return self

    def add(self, *lines):
        self.lines += list(lines)
        return self

    def finish(self, lattice_check=False, solid_only=False):
        """The closing lines; with ``lattice_check`` the final structure is quenched (energy
        minimisation at fixed box, after every output of the stage is written) and classified
        by Ackland-Jones bond angles: ``LATTICE_END`` prints the fractions of bcc, fcc and hcp
        atoms.  Unlike the instantaneous classification of a hot crystal (which calls a third of
        a hot bcc or hcp crystal fcc), the quenched one is clean.  ``solid_only`` (a box of two
        phases): the fractions count only the atoms that were solid-like before the quench - a
        quenched liquid orders into a mixture of local structures that says nothing about the
        crystal (a mostly liquid bcc Fe box quenches to 25 % fcc and 12 % hcp)."""
        self.lines += ["run 0", 'print "CRYSTALLINE_END $(c_cfrac:%.6f)"']
        if lattice_check:
            group = "all"
            if solid_only:
                group = "solidlike"
                self.lines += ["group solidlike variable cryst"]
            self.lines += ["compute ackland all ackland/atom"]
            for k, name in enumerate(LATTICE_TYPES):
                self.lines += [f'variable is_{name} atom "c_ackland=={k + 1}"',
                               f"compute n_{name} {group} reduce ave v_is_{name}"]
            self.lines += ["min_style cg", "minimize 0.0 1.0e-3 1000 10000",
                           'print "LATTICE_END ' + " ".join(f"$(c_n_{n}:%.6f)" for n in LATTICE_TYPES) + '"']
        self.lines += ['print "STAGE_DONE"']
        return "\n".join(self.lines) + "\n"


LATTICE_TYPES = ("bcc", "fcc", "hcp")     # Ackland-Jones types 1, 2, 3 of compute ackland/atom


def changed_lattice(fractions, lattice, share=0.5):
    """The lattice a quenched solid became (None if it kept ``lattice``), from its Ackland-Jones
    ``fractions``: bcc <-> close-packed when the other family holds more than ``share`` of the
    atoms (a bcc crystal that collapses becomes twinned fcc + hcp), fcc <-> hcp when the other
    one does and ``lattice`` holds less than half as many."""
    if not fractions:
        return None
    cp = fractions.get("fcc", 0.0) + fractions.get("hcp", 0.0)
    if lattice == "bcc":
        return max(("fcc", "hcp"), key=lambda k: fractions.get(k, 0.0)) if cp > share else None
    if fractions.get("bcc", 0.0) > share:
        return "bcc"
    other = "hcp" if lattice == "fcc" else "fcc"
    if fractions.get(other, 0.0) > share and fractions.get(lattice, 0.0) < 0.5 * fractions[other]:
        return other
    return None


def _log_value(folder, key):
    values = _log_values(folder, key)
    return values[0] if values else float("nan")


def _log_values(folder, key):
    """The numbers of the first log line starting with ``key`` (empty if there is none)."""
    for line in (folder / "log.lammps").read_text().splitlines():
        if line.startswith(key + " "):
            return [float(v) for v in line.split()[1:]]
    return []


def lattice_fractions(folder):
    """{"bcc": f, "fcc": f, "hcp": f} of the quenched final structure (empty without a check)."""
    values = _log_values(Path(folder), "LATTICE_END")
    return dict(zip(LATTICE_TYPES, values)) if values else {}


def _table(path, ncol):
    if not path.exists():
        return np.zeros((0, ncol))
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return np.array(rows, dtype=float).reshape(-1, ncol)


def _in_steps(steps, window):
    """Mask of the ``steps`` in the half-open ``window`` (first, last]."""
    return (steps > window[0]) & (steps <= window[1])


def _common(folder, physical_until=None, graded_until=None, preparation=None):
    out = _common_phase(folder, physical_until, graded_until, preparation)
    core = _table(folder / "core.txt", 2)
    if len(core):
        sel = core[:, 0] <= physical_until if physical_until is not None else np.ones(len(core), bool)
        if preparation is not None:      # the repulsive core may act in a preparation's melt: not physical
            sel &= ~_in_steps(core[:, 0], preparation)
        out["core_energy_physical"] = float(core[sel, 1].max()) if sel.any() else 0.0
    return out


#: consecutive samples (500 steps apart) whose mean judges a stage's crystalline fraction: one
#: noisy sample is not a phase change (a hot bcc crystal, W at 4600 K, reads 0.43-0.80 around 0.65)
SUSTAINED_SAMPLES = 3


def _window_means(v, n):
    """Means of every ``n`` consecutive values and, last, of the final ``n - 1`` (the state a
    stage ends in counts once two samples agree on it); the plain values below ``n`` samples."""
    if len(v) < n:
        return v, np.arange(len(v)), np.ones(len(v), int)
    means = np.convolve(v, np.ones(n) / n, mode="valid")
    starts, sizes = np.arange(len(means)), np.full(len(means), n)
    if n > 2:
        means = np.append(means, v[-(n - 1):].mean())
        starts, sizes = np.append(starts, len(v) - n + 1), np.append(sizes, n - 1)
    return means, starts, sizes


def sustained_extremes(values, n=SUSTAINED_SAMPLES):
    """(lowest, highest) mean of ``n`` consecutive ``values`` (:func:`_window_means`)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    means = _window_means(v, n)[0]
    return float(means.min()), float(means.max())


def first_sustained(values, below=None, above=None, n=SUSTAINED_SAMPLES):
    """Index of the first sample past the threshold (below ``below`` or above ``above``) inside
    the first window of :func:`_window_means` whose mean is past it; None if there is none."""
    v = np.asarray(values, dtype=float)
    past = (lambda x: x < below) if below is not None else (lambda x: x > above)
    means, starts, sizes = _window_means(v, n)
    hits = np.flatnonzero(past(means))
    if not len(hits):
        return None
    k, size = int(starts[hits[0]]), int(sizes[hits[0]])
    inside = np.flatnonzero(past(v[k:k + size]))
    return k + int(inside[0]) if len(inside) else k


def _samples_by_step(table):
    """Rows of a (step, value) table in step order, one per step (the last written: a step
    printed by two consecutive runs appears twice)."""
    if not len(table):
        return table
    order = np.argsort(table[:, 0], kind="stable")
    t = table[order]
    last = np.append(t[1:, 0] != t[:-1, 0], True)
    return t[last]


def _common_phase(folder, physical_until=None, graded_until=None, preparation=None):
    """Grades and crystalline fractions of a stage.  ``physical_until``: the step up to which
    the system is the physical one (Frenkel-Ladd: an Einstein crystal has no lattice
    correlations for the bond-order criterion to see); the fraction along the stage is
    judged only there.  ``graded_until``: likewise for the MTP's grade (``max_grade``; along a
    switching path the MTP is scaled down and visits configurations that need not be learned,
    their largest grade is ``max_grade_path``).  ``preparation``: steps (first, last], first
    excluded, of an artificial state that only prepares the physical one (a liquid melted at
    2 T and the crystal's density): their largest grade is ``max_grade_preparation``, not part of
    ``max_grade`` - nothing sampled there enters an average."""
    g_all = _table(folder / "grades.txt", 2)
    g = g_all[g_all[:, 0] <= graded_until] if graded_until is not None and len(g_all) else g_all
    g_prep = g[:0]
    if preparation is not None and len(g):
        inside = _in_steps(g[:, 0], preparation)
        g, g_prep = g[~inside], g[inside]
    c = _samples_by_step(_table(folder / "crystalline.txt", 2))
    start, end = _log_value(folder, "CRYSTALLINE_START"), _log_value(folder, "CRYSTALLINE_END")
    head = [] if len(c) and c[0, 0] == 0 else [start]       # step 0 is the start
    if physical_until is not None:
        along = np.concatenate([head, c[c[:, 0] <= physical_until, 1]])
    else:
        along = np.concatenate([head, c[:, 1], [end]])
    low, high = sustained_extremes(along)
    return {"crystalline_start": start, "crystalline_end": end,
            # extremes of the mean over SUSTAINED_SAMPLES samples (these judge phase changes)
            "crystalline_min": low, "crystalline_max": high,
            "crystalline_min_sample": float(np.nanmin(along)), "crystalline_max_sample": float(np.nanmax(along)),
            "lattice_end": lattice_fractions(folder),
            "max_grade": float(g[:, 1].max()) if len(g) else None,
            "max_grade_path": float(g_all[:, 1].max()) if len(g_all) else None,
            "max_grade_preparation": float(g_prep[:, 1].max()) if len(g_prep) else None}


def _barostat(lattice, pressure_bar, pdamp_ps):
    couple = "iso" if lattice in ("fcc", "bcc") else "aniso"
    return f"{couple} {num(pressure_bar)} {num(pressure_bar)} {num(pdamp_ps)}"


# --------------------------------------------------------------------------- stages
def equilibration(potential, protocol, temperature, pressure, lattice, order, seed, liquid=False):
    """NPT at (T, P) - for a liquid after melting at ``melt_temperature`` in NVT at 1.125 times
    the start's volume (about a liquid's; at zero pressure a hot liquid may boil, e.g. Mg at 2 T_m)
    - with the box averaged over the second half; writes ``equilibrated.data``."""
    p = protocol
    bar = pressure * GPA_TO_BAR
    td, pd = p.tdamp / 1000, p.pdamp / 1000
    s = _Script(potential, p, order).pair().monitor()
    if liquid:
        tm = p.melt_temperature or 2.0 * temperature
        s.add("change_box all x scale 1.04 y scale 1.04 z scale 1.04 remap",   # about a liquid's density
              f"velocity all create {num(tm)} {seed} dist gaussian mom yes rot yes",
              f"fix nvt all nvt temp {num(tm)} {num(tm)} {num(td)}",
              f"run {p.melt_steps}", "unfix nvt",
              f"fix npt all npt temp {num(temperature)} {num(temperature)} {num(td)} "
              f"iso {num(bar)} {num(bar)} {num(pd)}")
    else:
        s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes",
              f"fix npt all npt temp {num(temperature)} {num(temperature)} {num(td)} "
              f"{_barostat(lattice, bar, pd)}")
    half = p.equilibration_steps // 2
    s.add(f"run {p.equilibration_steps - half}",
          "variable lx equal lx", "variable ly equal ly", "variable lz equal lz",
          "variable xy equal xy", "variable xz equal xz", "variable yz equal yz",
          "variable pea equal pe/atoms", "variable va equal vol/atoms",
          f'fix boxlog all print 10 "${{lx}} ${{ly}} ${{lz}} ${{xy}} ${{xz}} ${{yz}} ${{va}} ${{pea}}" '
          f'file box.txt screen no title ""',
          f"run {half}", "write_data equilibrated.data nocoeff")

    def read(folder):
        box = _table(folder / "box.txt", 8)
        blocks = np.array_split(box[:, 6], 10)
        means = np.array([b.mean() for b in blocks if len(b)])
        prep = (0, p.melt_steps) if liquid else None     # the melt at 2 T is a means, not a state
        return {**_common(folder, preparation=prep), "box": box[:, :6].mean(axis=0).tolist(),
                "volume": float(box[:, 6].mean()), "volume_error": float(means.std(ddof=1) / np.sqrt(len(means))),
                "potential_energy": float(box[:, 7].mean())}
    return Stage("equilibration", s.finish(lattice_check=not liquid), read)


def springs(potential, protocol, temperature, order, seed):
    """NVT at the equilibrium box: mean-square displacement per species (centre of mass
    removed) -> spring constants k = 3 kT / <dr^2> (eV/A^2)."""
    p = protocol
    s = _Script(potential, p, order).pair().monitor()
    species = potential.species
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes",
          "fix nve all nve",
          f"fix lang all langevin {num(temperature)} {num(temperature)} {num(p.tdamp / 1000)} {seed + 11} zero yes",
          f"run {max(p.spring_steps // 5, 100)}")
    cols = []
    for k, sp in enumerate(species):
        s.add(f"group g{k + 1} type {k + 1}", f"compute msd{k + 1} g{k + 1} msd com yes",
              f"variable m{k + 1} equal c_msd{k + 1}[4]")
        cols.append(f"${{m{k + 1}}}")
    s.add(f'fix msdlog all print 10 "{" ".join(cols)}" file msd.txt screen no title ""', f"run {p.spring_steps}")

    def read(folder):
        msd = _table(folder / "msd.txt", len(species))
        msd = msd[len(msd) // 5:]          # the plateau
        kt = KB * temperature
        present = [np.isfinite(m) and m > 0 for m in msd.mean(axis=0)]
        ks = [float(3 * kt / m) if ok else None for m, ok in zip(msd.mean(axis=0), present)]
        return {**_common(folder), "spring_constants": ks,
                "msd": [float(m) for m in msd.mean(axis=0)]}
    return Stage("springs", s.finish(), read)


def frenkel_ladd(potential, protocol, temperature, spring_constants, order, seed):
    """Frenkel-Ladd switching U -> Einstein crystal and back (fix ti/spring per species,
    smooth switching function, Langevin thermostat with zero net force, centre of mass at
    rest).  Starts from the perfect lattice (the springs' centres)."""
    p = protocol
    t_s, t_eq = p.switching_steps, p.switch_equilibration_steps
    s = _Script(potential, p, order).pair().monitor()
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes")
    springs_used = []
    for k, ks in enumerate(spring_constants):
        if ks is None:
            continue
        s.add(f"group g{k + 1} type {k + 1}", f"fix ti{k + 1} g{k + 1} ti/spring {num(ks)} {t_s} {t_eq} function 2")
        springs_used.append(k + 1)
    first = springs_used[0]
    espr = "+".join(f"f_ti{k}" for k in springs_used)
    # the thermostat after the springs: fix ti/spring scales all forces present before it
    s.add("fix nve all nve",
          f"fix lang all langevin {num(temperature)} {num(temperature)} {num(p.tdamp / 1000)} {seed + 13} zero yes",
          f"variable lam equal f_ti{first}[1]", "variable epot equal pe/atoms",
          f"variable espr equal ({espr})/atoms",
          'fix swlog all print 1 "${lam} ${epot} ${espr}" file switch.txt screen no title ""',
          f"run {2 * (t_eq + t_s)}")

    def read(folder):
        data = _table(folder / "switch.txt", 3)
        return {**_common(folder, physical_until=t_eq, graded_until=t_eq),
                **_works(data, t_eq, t_s, lambda lam, e_pot, e_ref: e_ref - e_pot)}
    return Stage("frenkel_ladd", s.finish(), read)


CORE_POWER = 20     # an MTP's core along the UF path: 1 - lambda^CORE_POWER


def uf_switching(potential, protocol, temperature, order, seed, sigma=None):
    """Switching U -> Uhlenbeck-Ford fluid (p of the protocol, width ``sigma`` in A, default the
    protocol's, which must then be a number) and back, with ``pair_style hybrid/scaled``; NVT
    (Langevin) at the equilibrium volume.

    An MTP's repulsive core is switched off late, by 1 - lambda^CORE_POWER instead of the MTP's
    1 - lambda: with the MTP scaled down, the soft UF fluid brings atoms below its min_dist, where
    the MTP extrapolates and can pull them together; near lambda = 1 the core is still CORE_POWER
    times stronger relative to the MTP than in the physical system.  Its switching work is part
    of dH/dlambda, so the path joins MTP + core and the pure UF fluid exactly.
    ``core_energy_reference``: the core's mean energy in the UF fluid (lambda = 1), for information."""
    p = protocol
    t_s, t_eq = p.switching_steps, p.switch_equilibration_steps
    eps = p.uf_p * KB * temperature
    sigma = p.uf_sigma if sigma is None else sigma
    if isinstance(sigma, str):
        raise ValueError(f"uf_switching needs the UF width in A, got {sigma!r}: resolve it with "
                         "Protocol.uf_sigma_at(density)")
    style, coeffs, names = potential.scaled_terms("v_lpot", core_scale="v_lcore")
    lines = [_lambda_variable("lam", t_eq, t_s), 'variable lpot equal "1-v_lam"',
             f'variable lcore equal "1-v_lam^{CORE_POWER}"',
             f"pair_style hybrid/scaled {style} v_lam ufm {num(UF_CUTOFF * sigma)}",
             *coeffs, f"pair_coeff * * ufm {num(eps)} {num(sigma)}"]
    s = _Script(potential, p, order).pair(lines).monitor()
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes", "fix nve all nve",
          f"fix lang all langevin {num(temperature)} {num(temperature)} {num(p.tdamp / 1000)} {seed + 17} zero yes",
          *_energy_of(names, "epot", "ecore", with_core=False), "compute uuf all pair ufm",
          "variable euf equal c_uuf/atoms", "variable lamv equal v_lam",
          'fix swlog all print 1 "${lamv} ${epot} ${euf} ${ecore}" file switch.txt screen no title ""',
          f"run {2 * (t_eq + t_s)}")

    def read(folder):
        data = _table(folder / "switch.txt", 4)
        lam, e_core = data[:, 0], data[:, 3]
        # dH/dlambda = U_UF - U_pot + d(1 - lambda^n)/dlambda U_core
        e_pot = data[:, 1] + CORE_POWER * lam ** (CORE_POWER - 1) * e_core
        return {**_common(folder, graded_until=t_eq), **_works(np.column_stack([lam, e_pot, data[:, 2]]), t_eq, t_s,
                                           lambda lam, e_pot, e_ref: e_ref - e_pot),
                **_core(e_core, lam), "core_energy_reference": _core_at(e_core, lam, 1.0)}
    return Stage("uf_switching", s.finish(), read)


def _energy_of(names, total, core, with_core=True):
    """Computes and variables: ``total`` = sum of the potential's sub-styles per atom (its core
    included unless ``with_core`` is False), ``core`` = the core's part (0 without one)."""
    lines = [f"compute u{k} all pair {n}" for k, n in enumerate(names)]   # (u0, u1: not 'ucore')
    parts = [f"c_u{k}" for k, n in enumerate(names) if with_core or n != "lj/cut"]
    lines.append(f"variable {total} equal ({'+'.join(parts)})/atoms")
    lines.append(f"variable {core} equal " + (f"c_u{names.index('lj/cut')}/atoms" if "lj/cut" in names else "0.0"))
    return lines


def _core_at(core_energy, lam, at):
    """Mean core energy (eV/atom) over the rows where lambda equals ``at`` (0 if none)."""
    sel = np.isclose(lam, at)
    return float(core_energy[sel].mean()) if sel.any() else 0.0


def _core(core_energy, lam, physical=0.0):
    """The repulsive core's largest energy (eV/atom) where the system is the physical one
    (lambda at ``physical``; None: everywhere, as along reversible scaling) and anywhere."""
    at = np.ones(len(lam), bool) if physical is None else np.isclose(lam, physical)
    return {"core_energy_physical": float(core_energy[at].max()) if at.any() else 0.0,
            "core_energy_max": float(core_energy.max()) if len(core_energy) else 0.0}


def lambda_switching(pot_a, pot_b, protocol, temperature, order, seed):
    """Switching potential A -> B and back (``hybrid/scaled``, NVT): the work gives
    F_B - F_A at the volume of the start structure."""
    p = protocol
    t_s, t_eq = p.switching_steps, p.switch_equilibration_steps
    if pot_a.substyle == pot_b.substyle:
        raise ValueError("the two potentials use the same pair style; hybrid/scaled needs two different ones "
                         "(e.g. eam/alloy and mtp)")
    if pot_a.core is not None and pot_b.core is not None:
        raise ValueError("both potentials carry a repulsive core (two MTPs): build one of them with core=None")
    style_a, coeffs_a, names_a = pot_a.scaled_terms("v_la")
    style_b, coeffs_b, names_b = pot_b.scaled_terms("v_lam")
    lines = [_lambda_variable("lam", t_eq, t_s), 'variable la equal "1-v_lam"',
             f"pair_style hybrid/scaled {style_a} {style_b}", *coeffs_a, *coeffs_b]
    grader = pot_b if (pot_b.grades or pot_b.core is not None) else pot_a
    s = _Script(grader, p, order).pair(lines).monitor()
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes", "fix nve all nve",
          f"fix lang all langevin {num(temperature)} {num(temperature)} {num(p.tdamp / 1000)} {seed + 19} zero yes",
          *[f"compute ua{k} all pair {n}" for k, n in enumerate(names_a)],
          *[f"compute ub{k} all pair {n}" for k, n in enumerate(names_b)],
          f"variable ea equal ({'+'.join(f'c_ua{k}' for k in range(len(names_a)))})/atoms",
          f"variable eb equal ({'+'.join(f'c_ub{k}' for k in range(len(names_b)))})/atoms",
          "variable lamv equal v_lam",
          'fix swlog all print 1 "${lamv} ${ea} ${eb}" file switch.txt screen no title ""',
          f"run {2 * (t_eq + t_s)}")

    def read(folder):
        data = _table(folder / "switch.txt", 3)
        return {**_common(folder), **_works(data, t_eq, t_s, lambda lam, e_a, e_b: e_b - e_a)}
    return Stage("lambda_switching", s.finish(), read)


def reversible_scaling(potential, protocol, t0, t1, lattice, order, seed, liquid=False):
    """Reversible scaling (de Koning 1999): at T0 in NPT (P = 0), the potential scaled by
    lambda = T0 / T from 1 to T0/T1 (T linear in time) and back; the work along lambda
    gives F(T) on the way (see :func:`pyiron_mtp.free_energy.engine.scaled_free_energy`)."""
    p = protocol
    t_s, t_eq = p.switching_steps, p.switch_equilibration_steps
    td, pd = p.tdamp / 1000, p.pdamp / 1000
    # T(t) = T0 + (T1 - T0) t / t_s on the forward leg, lambda = T0 / T
    fwd = f"{num(t0)}/({num(t0)}+({num(t1 - t0)})*(elapsed-{t_eq})/{t_s})"
    bwd = f"{num(t0)}/({num(t1)}-({num(t1 - t0)})*(elapsed-{2 * t_eq + t_s})/{t_s})"
    lam = (f"(elapsed<{t_eq})*1+(elapsed>={t_eq}&&elapsed<{t_eq + t_s})*{fwd}"
           f"+(elapsed>={t_eq + t_s}&&elapsed<{2 * t_eq + t_s})*{num(t0 / t1)}"
           f"+(elapsed>={2 * t_eq + t_s})*{bwd}")
    style, coeffs, names = potential.scaled_terms("v_lam")
    lines = [f'variable lam equal "{lam}"', f"pair_style hybrid/scaled {style}", *coeffs]
    s = _Script(potential, p, order).pair(lines).monitor()
    couple = "iso" if (liquid or lattice in ("fcc", "bcc")) else "aniso"
    s.add(f"velocity all create {num(t0)} {seed} dist gaussian mom yes rot yes",
          f"fix npt all npt temp {num(t0)} {num(t0)} {num(td)} {couple} 0.0 0.0 {num(pd)}",
          *_energy_of(names, "epot", "ecore"),
          "variable lamv equal v_lam", "variable va equal vol/atoms",
          'fix swlog all print 1 "${lamv} ${epot} ${va} ${ecore}" file switch.txt screen no title ""',
          f"run {2 * (t_eq + t_s)}")

    def read(folder):
        data4 = _table(folder / "switch.txt", 4)
        data = data4[:, :3]
        if len(data) < 2 * (t_eq + t_s):
            raise RuntimeError(f"reversible-scaling output has {len(data)} rows, expected {2 * (t_eq + t_s)}")
        f = data[t_eq - 1:t_eq + t_s]
        b = data[2 * t_eq + t_s - 1:2 * t_eq + 2 * t_s]
        cryst = _table(folder / "crystalline.txt", 2)
        path = np.column_stack([scaling_temperature(cryst[:, 0], t0, t1, t_eq, t_s), cryst[:, 1]])
        return {**_common(folder), "forward": f.tolist(), "backward": b.tolist(), "crystalline_path": path.tolist(),
                **_core(data4[:, 3], data4[:, 0], physical=None)}
    return Stage("reversible_scaling", s.finish(lattice_check=not liquid), read)


def scaling_temperature(step, t0, t1, t_eq, t_s):
    """The temperature (K) a reversible-scaling run represents at ``step``: T0 while it
    equilibrates, linear to T1 on the forward leg, T1, and linear back to T0."""
    step = np.asarray(step, dtype=float)
    fwd = np.clip((step - t_eq) / t_s, 0.0, 1.0)
    bwd = np.clip((step - 2 * t_eq - t_s) / t_s, 0.0, 1.0)
    return t0 + (t1 - t0) * (fwd - bwd)


def snapshots(potential, protocol, temperature, order, seed, count, interval):
    """NVT (Langevin) at the start structure's box: ``count`` frames ``interval`` steps apart
    (after an equilibration) for free-energy perturbation."""
    p = protocol
    s = _Script(potential, p, order).pair().monitor()
    s.add(f"velocity all create {num(temperature)} {seed} dist gaussian mom yes rot yes", "fix nve all nve",
          f"fix lang all langevin {num(temperature)} {num(temperature)} {num(p.tdamp / 1000)} {seed + 23} zero yes",
          f"run {p.switch_equilibration_steps}",
          f"dump frames all custom {interval} frames.dump id type x y z",
          "dump_modify frames sort id format float %.16g", f"run {count * interval}", "undump frames")

    def read(folder):
        return {**_common(folder), "frames": "frames.dump"}
    return Stage("snapshots", s.finish(), read)


def _works(data, t_eq, t_s, integrand):
    """Forward and backward work of a switching run, per atom (eV).

    Rows are printed every step from step 1: (lambda, E_a, E_b); the forward leg is steps
    t_eq..t_eq+t_s (lambda 0 -> 1), the backward leg 2 t_eq + t_s .. 2 t_eq + 2 t_s.
    W = integral of dH/dlambda along the leg's direction; reversible work (W_f - W_b)/2,
    dissipation (W_f + W_b)/2.
    """
    if len(data) < 2 * (t_eq + t_s):
        raise RuntimeError(f"switching output has {len(data)} rows, expected {2 * (t_eq + t_s)} "
                           f"(the run was cut short)")
    lam, ea, eb = data[:, 0], data[:, 1], data[:, 2]
    y = integrand(lam, ea, eb)
    f = slice(t_eq - 1, t_eq + t_s)
    b = slice(2 * t_eq + t_s - 1, 2 * t_eq + 2 * t_s)
    w_f = float(np.trapezoid(y[f], lam[f]))
    w_b = float(np.trapezoid(y[b], lam[b]))
    return {"work_forward": w_f, "work_backward": w_b, "work": 0.5 * (w_f - w_b),
            "dissipation": 0.5 * (w_f + w_b),
            "integrand_forward": np.column_stack([lam[f], y[f]])[::max(1, t_s // 500)].tolist(),
            "integrand_backward": np.column_stack([lam[b], y[b]])[::max(1, t_s // 500)].tolist()}


__all__ += ["EV_PER_A3_TO_GPA", "NKTV2P"]
