"""Screening the convex hull of an alloy with an MTP that learns while it relaxes
(Gubaev, Podryabinkin, Hart, Shapeev, Comput. Mater. Sci. 156, 148 (2019)).

Stage 1, learning: every candidate is relaxed (positions and cell) with the current MTP,
every step graded; steps above ``select_threshold`` are collected, a relaxation above
``break_threshold`` stops and comes back next round; a batch chosen by MaxVol among the
collected structures is computed with the reference, the MTP retrained; until a whole
round relaxes every candidate without extrapolation.
Stage 2, screening: formation energies and the hull from the MTP; the candidates within
k sigma of it survive (sigma: the MTP's formation-energy error on its own reference data).
Stage 3, final: the survivors are relaxed with the reference (from their MTP-relaxed
structure, BFGS started from the MTP's Hessian: :mod:`.assisted`), their hull computed, and
candidates that left their parent lattice marked.

Every reference result goes into one ledger on disk (:mod:`.ledger`): a killed screen,
started again with the same ``workdir``, repeats no reference calculation.  Energies in
eV/atom.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..potential import MTP
from .candidates import as_candidates, left_parent_lattice
from .geometry import composition_matrix, formation_energies, lower_hull
from ..ledger import LedgerCalculator, ReferenceLedger
from ..parallel import run_parallel
from .assisted import relax_with_reference_assisted
from ..structures import atoms_from_dict, atoms_to_dict
from .relax import EXTRAPOLATING, FAILED, NOT_CONVERGED, RELAXED, relax_chunk_with_mtp, relax_with_reference

__all__ = ["screen_hull", "HullScreenResult", "compute_reference"]

log = logging.getLogger(__name__)


def compute_reference(task):
    """One reference calculation through the ledger (module-level for process pools):
    ``task`` = {atoms, reference, ledger, stage[, kpoint_structure]}; returns (ok, energy or error
    text).  A reference that can be fixed to a structure (``for_structure``, e.g. a DFT reference
    whose k-point mesh scales with the cell) is fixed to ``kpoint_structure``: the candidate a
    training structure came from, so that near-identical structures share one mesh."""
    ledger = ReferenceLedger(task["ledger"])
    atoms = atoms_from_dict(task["atoms"])
    reference = task["reference"]
    if task.get("kpoint_structure") is not None and hasattr(reference, "for_structure"):
        reference = reference.for_structure(atoms_from_dict(task["kpoint_structure"]))
    atoms.calc = LedgerCalculator(reference, ledger, task["stage"])
    try:
        return True, float(atoms.get_potential_energy())
    except Exception as exc:   # recorded in the ledger as a failed call
        return False, f"{type(exc).__name__}: {exc}"


@dataclass
class HullScreenResult:
    """``vertices``: the reference hull's vertices (dicts: id, formula, composition, formation_energy
    eV/atom, atoms); ``table``: every candidate (pandas DataFrame); ``reference_calls``: per stage
    and ``total`` (one call = one energy+forces+stress evaluation; failures counted); ``sigma``: the
    MTP's formation-energy error on its training data (sets the window), ``sigma_relaxed``: its
    error at the survivors relaxed with the reference (flagged when much larger)."""

    elements: list
    vertices: list
    table: object
    reference_calls: dict
    sigma: float
    k: float
    k_needed: float
    potential: MTP
    rounds: int
    converged: bool
    flags: list = field(default_factory=list)
    sigma_relaxed: float = float("nan")

    def plot(self, ax=None):
        """Formation energy vs composition: MTP and reference hulls, the k sigma window, survivors."""
        import matplotlib.pyplot as plt
        if len(self.elements) != 2:
            return self._plot_ternary(ax)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        t = self.table
        el = self.elements[1]
        x = np.array([c.get(el, 0.0) for c in t["composition"]])
        ax.scatter(x, t["mtp_formation_energy"], s=8, color="0.6", label="MTP, all candidates")
        surv = t["survivor"].to_numpy(bool)
        ax.scatter(x[surv], t["mtp_formation_energy"][surv], s=14, color="tab:blue", label="survivors (MTP)")
        ref = np.isfinite(t["reference_formation_energy"].to_numpy(float))
        ax.scatter(x[ref], t["reference_formation_energy"][ref], s=18, marker="x", color="tab:red",
                   label="reference, relaxed")
        for col, color, label in (("mtp_formation_energy", "tab:blue", "MTP hull"),
                                  ("reference_formation_energy", "tab:red", "reference hull")):
            e = t[col].to_numpy(float)
            on = np.isfinite(e) & (t[col.replace("formation_energy", "e_above_hull")].to_numpy(float) < 1e-9)
            order = np.argsort(x[on])
            ax.plot(x[on][order], e[on][order], color=color, lw=1, label=label)
            if col.startswith("mtp"):
                ax.fill_between(x[on][order], e[on][order], e[on][order] + self.k * self.sigma, color=color,
                                alpha=0.15, label=f"{self.k:g} σ window")
        ax.set(xlabel=f"x({el})", ylabel="formation energy (eV/atom)",
               title=f"{'-'.join(self.elements)}: {len(self.vertices)} vertices, "
                     f"{self.reference_calls['total']} reference calls")
        ax.legend(fontsize="small")
        return ax

    def _plot_ternary(self, ax=None):
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5))
        t = self.table
        a, b, c = self.elements[:3]
        comp = t["composition"]
        xb = np.array([d.get(b, 0.0) for d in comp])
        xc = np.array([d.get(c, 0.0) for d in comp])
        px, py = xb + 0.5 * xc, np.sqrt(3) / 2 * xc
        sc = ax.scatter(px, py, c=t["mtp_e_above_hull"], s=12, cmap="viridis_r")
        vid = {v["id"] for v in self.vertices}
        on = np.array([i in vid for i in t["id"]])
        ax.scatter(px[on], py[on], s=60, facecolors="none", edgecolors="tab:red", label="reference vertices")
        ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="k", lw=0.8)
        for (xx, yy), name in zip(((0, 0), (1, 0), (0.5, np.sqrt(3) / 2)), (a, b, c)):
            ax.annotate(name, (xx, yy), ha="center", va="top" if yy == 0 else "bottom")
        plt.colorbar(sc, ax=ax, label="MTP energy above hull (eV/atom)")
        ax.set_axis_off()
        ax.legend(fontsize="small")
        return ax


class _State:
    """Progress of a screen in ``workdir/state.json`` (rounds, potential, results)."""

    def __init__(self, workdir):
        self.path = Path(workdir) / "state.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"round": 0, "converged": False}

    def save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def _pot_to_json(pot):
    """The potential as JSON-ready data (its baseline, a nested dict, included)."""
    d = pot.to_dict()
    d.pop("level", None)
    return _jsonable(d)


def _active_set_dict(aset):
    return _jsonable(aset.to_dict())


def ids_of(cands):
    return list(cands)


def _perturbed(atoms, rng, rattle=0.05, strain=0.02):
    """A perturbed copy of a candidate for the initial training data: atoms rattled by
    ``rattle`` A (standard deviation); a one-atom cell, where a rattle is only a translation
    (the same structure, zero forces: a wasted reference call), gets a random symmetric
    strain of up to ``strain`` instead."""
    out = atoms.copy()
    if len(out) > 1:
        out.rattle(rattle, seed=int(rng.integers(1 << 30)))
    else:
        eps = rng.uniform(-strain, strain, (3, 3))
        out.set_cell(out.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
    return out


def _chunks(items, n):
    n = max(1, min(n, len(items)))
    return [items[k::n] for k in range(n)]


def screen_hull(candidates, reference, species, potential=None, *, level=12, workdir="hull_screen",
                executor=None, workers=None, select_threshold=2.0, break_threshold=10.0, fmax=0.01, max_steps=300,
                k=3.0, sigma_min=1e-3, max_rounds=30, batch=20, train_iter=100, n_initial=None, max_dist=5.0,
                optimizer="BFGS", mode="configuration", seed=0, final_relaxation="assisted",
                progress=True) -> HullScreenResult:
    """Screen ``candidates`` (:class:`Candidate` list, or ASE Atoms / pyiron structures / files,
    see :func:`~.candidates.as_candidates`) for the hull of ``species``.

    ``reference``: a zero-argument callable returning a fresh ASE calculator (picklable for
    process pools, e.g. a module-level function or ``functools.partial``).  ``potential``: an
    initial MTP (trained or a template); default an untrained level-``level`` one.
    ``executor``: a ``concurrent.futures`` executor for reference calculations and
    relaxations (a cluster); default a process pool of ``workers`` (the machine's cores).
    Survivors lie within ``k`` sigma of the MTP hull, sigma = max(the MTP's formation-energy
    error on its training data, ``sigma_min``) in eV/atom (the training error alone
    underestimates the error on new structures).
    ``final_relaxation``: ``"assisted"`` (default) relaxes the survivors with the reference by
    BFGS started from the MTP's Hessian (:mod:`.assisted`), ``"plain"`` with ``optimizer``
    from its default start; both stop at ``fmax`` on the reference's own forces and stress.
    """
    from ..active import ActiveSet
    from ..training import train
    species = list(species)
    if final_relaxation not in ("assisted", "plain"):
        raise ValueError(f"final_relaxation must be 'assisted' or 'plain', not {final_relaxation!r}")
    candidates = as_candidates(candidates)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    cands = {c.id: c for c in candidates}
    if len(cands) != len(candidates):
        raise ValueError("candidate ids must be unique")
    for c in candidates:
        extra = set(c.atoms.get_chemical_symbols()) - set(species)
        if extra:
            raise ValueError(f"candidate {c.id} holds {sorted(extra)}, not among the species {species}")
    for el in species:
        if not any(c.composition.get(el, 0) == 1 for c in candidates):
            raise ValueError(f"no pure {el} candidate: formation energies need one per element")
    ledger = ReferenceLedger(work / "ledger")
    state = _State(work)
    flags = []
    if state.data.get("potential"):
        pot = MTP.from_dict(state.data["potential"])
    elif potential is not None:
        pot = potential.copy()
        pot.species = species
    else:
        pot = MTP.from_level(level, species, 1.5, max_dist)

    def references(structures, parents, stage, desc):
        tasks = [{"atoms": atoms_to_dict(a), "reference": reference, "ledger": str(ledger.folder), "stage": stage,
                  "kpoint_structure": atoms_to_dict(p)} for a, p in zip(structures, parents)]
        out = run_parallel(compute_reference, tasks, workers, executor, progress, desc)
        ledger.reload()
        for (ok, msg), t in zip(out, tasks):
            if not ok:
                log.warning("reference calculation failed (recorded, skipped): %s", msg)
        return out

    # ------------------------------------------------------------------ initial training data
    if not ledger.images(("training",)):
        rng = np.random.default_rng(seed)
        pure = [c for c in candidates if max(c.composition.values()) == 1.0]
        others = [c for c in candidates if max(c.composition.values()) < 1.0]
        n0 = n_initial if n_initial is not None else max(5, 2 * len(species))
        picked = pure + [others[i] for i in rng.choice(len(others), min(n0, len(others)), replace=False)]
        starts, parents = [], []
        for c in picked:
            starts += [c.atoms.copy(), _perturbed(c.atoms, rng)]
            parents += [c.atoms, c.atoms]
        references(starts, parents, "training", "initial references")
    training = ledger.images(("training",))
    if not training:
        raise RuntimeError("no reference calculation succeeded: cannot train (see the warnings)")
    if not pot.trained or not state.data.get("potential"):
        pot, _ = train(training, species, init=pot, max_iter=train_iter, valid_fraction=0.0, seed=seed, progress=False)
        state.data["potential"] = _pot_to_json(pot)
        state.save()

    # ------------------------------------------------------------------ stage 1: learn while relaxing
    # A round relaxes the pending candidates (at first all): those that extrapolate stay pending
    # for the next potential; a finished relaxation's geometry is where the candidate starts next
    # time.  When no pending candidate extrapolates, a full round over all candidates with the
    # same potential decides: none extrapolates -> converged.
    results = {}
    starts = state.data.get("starts") or {i: atoms_to_dict(cands[i].atoms) for i in ids_of(cands)}
    pending = state.data.get("pending") or list(cands)
    if state.data.get("converged"):     # a finished stage 1: one full round gives the relaxations again
        pending = list(cands)
    full = len(pending) == len(cands)
    while True:
        aset = ActiveSet.build(pot, training, mode=mode)
        shared = {"potential": _pot_to_json(pot), "active_set": _active_set_dict(aset), "fmax": fmax,
                  "steps": max_steps, "select": select_threshold, "break_": break_threshold, "optimizer": optimizer,
                  "max_collect": 10}
        n_chunks = 4 * (workers or os.cpu_count() or 1)
        tasks = [dict(shared, candidates=[(i, starts[i]) for i in chunk]) for chunk in _chunks(pending, n_chunks)]
        label = f"round {state.data['round']}: {'all' if full else len(pending)} MTP relaxations"
        out = [r for part in run_parallel(relax_chunk_with_mtp, tasks, workers, executor, progress, label)
               for r in part]
        for r in out:
            results[r["id"]] = r
            if r["status"] in (RELAXED, NOT_CONVERGED):
                starts[r["id"]] = r["atoms"]
        extrapolating = [r["id"] for r in out if r["collected"] or r["status"] == EXTRAPOLATING]
        collected = [atoms_from_dict(c) for r in out for c in r["collected"]]
        origin = [cands[r["id"]].atoms for r in out for _ in r["collected"]]
        log.info("round %d: %d of %d relaxations extrapolated (%d stopped), %d extrapolative structures",
                 state.data["round"], len(extrapolating), len(out),
                 sum(r["status"] == EXTRAPOLATING for r in out), len(collected))
        if not extrapolating:
            if full:
                state.data.update(converged=True, starts=starts)
                state.save()
                break
            pending, full = list(cands), True        # verify: every candidate with this potential
            continue
        if state.data["round"] >= max_rounds:
            flags.append(f"stage 1 stopped after {max_rounds} rounds without converging: "
                         f"{len(extrapolating)} candidates still extrapolate")
            break
        chosen = aset.select(collected, threshold=select_threshold, max_count=batch) if collected else []
        if not chosen:   # every collected structure is a near-duplicate of the set: grade is from noise
            state.data["converged"] = True
            state.save()
            break
        references([collected[i] for i in chosen], [origin[i] for i in chosen], "training",
                   f"round {state.data['round']}: references")
        training = ledger.images(("training",))
        pot, _ = train(training, species, init=pot, max_iter=train_iter, valid_fraction=0.0, seed=seed, progress=False)
        pending, full = extrapolating, len(extrapolating) == len(cands)
        state.data.update(round=state.data["round"] + 1, potential=_pot_to_json(pot), starts=starts,
                          pending=pending)
        state.save()
    ids = list(cands)
    if len(results) < len(ids):   # stopped at max_rounds before a full round: relax the rest once
        rest = [i for i in ids if i not in results]
        tasks = [dict(shared, candidates=[(i, starts[i]) for i in chunk]) for chunk in _chunks(rest, n_chunks)]
        for part in run_parallel(relax_chunk_with_mtp, tasks, workers, executor, progress, "remaining relaxations"):
            for r in part:
                results[r["id"]] = r

    # ------------------------------------------------------------------ stage 2: screen with the MTP
    elements = species
    order = ids
    fr = composition_matrix([cands[i].composition for i in order], elements)
    e_mtp = np.array([results[i]["energy"] if results[i]["status"] in (RELAXED, NOT_CONVERGED) else np.nan
                      for i in order])
    ef_mtp, _ = formation_energies(e_mtp, fr, elements)
    hull_mtp = lower_hull(ef_mtp, fr)
    sigma_fit = _formation_energy_error(pot, training, elements)
    sigma = max(sigma_fit, sigma_min)
    survivors = [i for i, ea in zip(order, hull_mtp.e_above) if np.isfinite(ea) and ea <= k * sigma + 1e-9]
    log.info("%d of %d candidates within %.3g eV/atom (k = %g, sigma = %.3g) of the MTP hull",
             len(survivors), len(order), k * sigma, k, sigma)

    # ------------------------------------------------------------------ stage 3: reference relaxations
    final_dir = work / "final"
    final_dir.mkdir(exist_ok=True)
    final = {}
    todo = []
    pot_json = _pot_to_json(pot) if final_relaxation == "assisted" else None    # the assisted start needs it
    for i in survivors:
        f = final_dir / f"{i}.json"
        if f.exists():
            final[i] = json.loads(f.read_text())
        else:
            todo.append({"id": i, "atoms": results[i]["atoms"], "reference": reference, "ledger": str(ledger.folder),
                         "stage": "final", "fmax": fmax, "steps": max_steps, "optimizer": optimizer,
                         "kpoint_structure": atoms_to_dict(cands[i].atoms), "potential": pot_json})
    relax = relax_with_reference_assisted if final_relaxation == "assisted" else relax_with_reference
    for r in run_parallel(relax, todo, workers, executor, progress, "reference relaxations"):
        (final_dir / f"{r['id']}.json").write_text(json.dumps(r))
        final[r["id"]] = r
    ledger.reload()
    e_ref = np.array([final[i]["energy"] if i in final and final[i]["status"] in (RELAXED, NOT_CONVERGED)
                      else np.nan for i in order])
    try:
        ef_ref, _ = formation_energies(e_ref, fr, elements)
        hull_ref = lower_hull(ef_ref, fr)
    except ValueError as exc:
        raise RuntimeError(f"the reference hull cannot be formed: {exc}") from exc
    vertex_ids = [order[v] for v in hull_ref.vertices]
    sigma_relaxed = relaxed_error(ef_mtp, ef_ref, fr)
    flags.extend(window_flags(sigma_relaxed, sigma, k, hull_mtp.e_above, survivors, order))
    k_needed = max([hull_mtp.e_above[order.index(i)] / sigma for i in vertex_ids], default=0.0) if sigma > 0 else 0.0
    table = _table(order, cands, results, final, e_mtp, ef_mtp, hull_mtp, e_ref, ef_ref, hull_ref, survivors)
    vertices = []
    for i in vertex_ids:
        a = atoms_from_dict(final[i]["atoms"])
        vertices.append({"id": i, "formula": a.get_chemical_formula(), "composition": dict(cands[i].composition),
                         "formation_energy": float(ef_ref[order.index(i)]), "atoms": a,
                         "lattice": cands[i].lattice})
    return HullScreenResult(elements, vertices, table, ledger.counts(), float(sigma), float(k), float(k_needed),
                            pot, int(state.data["round"]), bool(state.data["converged"]), flags,
                            float(sigma_relaxed))


def relaxed_error(ef_mtp, ef_ref, fractions):
    """RMS difference (eV/atom) between the reference and the MTP formation energies of the
    candidates relaxed with both (compounds only: an element's is zero by definition); NaN with
    fewer than two.  The MTP's error where it matters, against ``sigma`` from its training data."""
    ef_mtp, ef_ref = np.asarray(ef_mtp, float), np.asarray(ef_ref, float)
    both = np.isfinite(ef_mtp) & np.isfinite(ef_ref) & (np.asarray(fractions, float).max(axis=1) < 1.0 - 1e-12)
    if both.sum() < 2:
        return float("nan")
    return float(np.sqrt(np.mean((ef_ref[both] - ef_mtp[both]) ** 2)))


def window_flags(sigma_relaxed, sigma, k, e_above, survivors, order, tolerance=1.5):
    """Flags when the error observed at the relaxed survivors exceeds ``tolerance`` times the
    ``sigma`` that set the k sigma window: candidates left outside may then belong to the hull;
    the flag says how many lie within k times the observed error."""
    if not np.isfinite(sigma_relaxed) or sigma_relaxed <= tolerance * sigma:
        return []
    surv = set(survivors)
    outside = [i for i, ea in zip(order, e_above) if i not in surv and np.isfinite(ea) and ea <= k * sigma_relaxed]
    return [f"the MTP's formation-energy error at the relaxed survivors is {sigma_relaxed * 1e3:.1f} meV/atom, "
            f"{sigma_relaxed / sigma:.1f} times the sigma of the window ({sigma * 1e3:.2f} meV/atom): "
            f"{len(outside)} candidates outside the window lie within k times that error of the MTP hull "
            f"and were not checked with the reference - relax them too (larger k) or improve the reference "
            f"data (its energies may be inconsistent, e.g. unconverged k-points) and the fit"]


def _formation_energy_error(pot, images, elements):
    """RMS of the MTP's per-atom energy error on its reference data after removing the part
    linear in composition (which the elemental references absorb): its formation-energy error."""
    from ..calculator import MTPCalculator
    calc = MTPCalculator(pot)
    err, x = [], []
    for a in images:
        ref = a.get_potential_energy() / len(a)
        b = a.copy()
        b.calc = calc
        err.append(b.get_potential_energy() / len(a) - ref)
        sym = a.get_chemical_symbols()
        x.append([sym.count(el) / len(a) for el in elements])
    err, x = np.array(err), np.array(x)
    coef, *_ = np.linalg.lstsq(x, err, rcond=None)
    resid = err - x @ coef
    return float(np.sqrt(np.mean(resid ** 2)))


def _table(order, cands, results, final, e_mtp, ef_mtp, hull_mtp, e_ref, ef_ref, hull_ref, survivors):
    import pandas as pd
    rows = []
    surv = set(survivors)
    for n, i in enumerate(order):
        c, r = cands[i], results[i]
        f = final.get(i)
        status, reason = r["status"], r.get("reason", "")
        if f is not None:
            status = f["status"]
            reason = f.get("reason", "")
            if status in (RELAXED, NOT_CONVERGED) and left_parent_lattice(c, atoms_from_dict(f["atoms"])):
                status, reason = "lattice_changed", "the reference relaxation left the parent lattice"
        elif status == EXTRAPOLATING:
            reason = "the MTP relaxation extrapolated in the last round"
        rows.append({"id": i, "formula": c.atoms.get_chemical_formula(), "lattice": c.lattice,
                     "composition": dict(c.composition), "n_atoms": len(c.atoms),
                     "mtp_energy": e_mtp[n], "mtp_formation_energy": ef_mtp[n],
                     "mtp_e_above_hull": hull_mtp.e_above[n], "max_grade": r.get("max_grade", np.nan),
                     "mtp_steps": r.get("steps", 0), "survivor": i in surv,
                     "reference_energy": e_ref[n], "reference_formation_energy": ef_ref[n],
                     "reference_e_above_hull": hull_ref.e_above[n],
                     "reference_steps": f["steps"] if f else 0, "reference_calls": f.get("computed", 0) if f else 0,
                     "status": status if status != NOT_CONVERGED else RELAXED, "reason": reason or
                     ("max steps reached before fmax" if status == NOT_CONVERGED else "")})
    df = pd.DataFrame(rows)
    df.loc[df.status == FAILED, "reason"] = df.loc[df.status == FAILED, "reason"].replace("", "failed")
    return df


def relax_all(candidates, reference, elements, *, workdir="hull_brute_force", fmax=0.01, max_steps=300,
              optimizer="BFGS", workers=None, executor=None, progress=True):
    """Brute force: every candidate relaxed with the reference (same optimiser and force
    tolerance as the screen).  Returns (table DataFrame with energies, formation energies,
    energies above hull and reference steps; the Hull; reference calls)."""
    import pandas as pd
    candidates = as_candidates(candidates)
    work = Path(workdir)
    ledger = ReferenceLedger(work / "ledger")
    done_dir = work / "relaxed"
    done_dir.mkdir(parents=True, exist_ok=True)
    results, todo = {}, []
    for c in candidates:
        f = done_dir / f"{c.id}.json"
        if f.exists():
            results[c.id] = json.loads(f.read_text())
        else:
            todo.append({"id": c.id, "atoms": atoms_to_dict(c.atoms), "reference": reference, "ledger": str(ledger.folder),
                         "stage": "brute_force", "fmax": fmax, "steps": max_steps, "optimizer": optimizer,
                         "kpoint_structure": atoms_to_dict(c.atoms)})
    for r in run_parallel(relax_with_reference, todo, workers, executor, progress, "brute-force relaxations"):
        (done_dir / f"{r['id']}.json").write_text(json.dumps(r))
        results[r["id"]] = r
    ledger.reload()
    order = [c.id for c in candidates]
    fr = composition_matrix([c.composition for c in candidates], list(elements))
    e = np.array([results[i]["energy"] for i in order])
    ef, _ = formation_energies(e, fr, list(elements))
    hull = lower_hull(ef, fr)
    table = pd.DataFrame({"id": order, "formula": [c.formula for c in candidates],
                          "lattice": [c.lattice for c in candidates], "energy": e, "formation_energy": ef,
                          "e_above_hull": hull.e_above, "steps": [results[i]["steps"] for i in order],
                          "status": [results[i]["status"] for i in order]})
    return table, hull, ledger.counts()
