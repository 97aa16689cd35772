"""Error reports of a potential on reference data: RMSE and MAE of energies (meV/atom),
forces (eV/A) and stresses (GPa), per group, the largest errors."""
from __future__ import annotations

import warnings

import numpy as np

from ..potential import MTP
from .data import TrainingSet, virial_from_stress


EV_A3_TO_GPA = 160.21766208


def _structure_errors(pot: MTP, data: TrainingSet, per_structure=False):
    """Evaluate every structure once: per structure (energy error per atom eV, force
    component errors eV/A, stress errors GPa, parity row); absent references give None."""
    out = []
    for s in data.structures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pot.evaluate(s.positions, s.cell, s.pbc, s.types)
        row = {"name": s.name, "n_atoms": s.n_atoms, "energy": res.energy, "energy_ref": s.energy}
        de = (res.energy - s.energy) / s.n_atoms if s.energy is not None else None
        df = (res.forces - s.forces).ravel() if s.forces is not None else None
        ds = None
        if s.virial is not None and res.stress is not None:
            v = s.volume
            ref = -s.virial / v
            ref_voigt = np.array([ref[0, 0], ref[1, 1], ref[2, 2], ref[1, 2], ref[0, 2], ref[0, 1]])
            ds = (res.stress - ref_voigt) * EV_A3_TO_GPA
            row["stress"] = res.stress * EV_A3_TO_GPA
            row["stress_ref"] = ref_voigt * EV_A3_TO_GPA
        if per_structure:
            row["forces"] = res.forces
            row["forces_ref"] = s.forces
        out.append((de, df, ds, row))
    return out


def _summarise(errors, n_atoms):
    """The report dict of :func:`error_report` from :func:`_structure_errors` entries."""
    def stats(x, scale=1.0):
        x = [v for v in x if v is not None]
        if not x:
            return None, None
        a = np.concatenate([np.atleast_1d(v) for v in x]) * scale
        return float(np.sqrt(np.mean(a ** 2))), float(np.mean(np.abs(a)))

    e_rmse, e_mae = stats([e[0] for e in errors], 1000.0)
    f_rmse, f_mae = stats([e[1] for e in errors])
    s_rmse, s_mae = stats([e[2] for e in errors])
    return {"n_structures": len(errors), "n_atoms": n_atoms,
            "energy_rmse": e_rmse, "energy_mae": e_mae, "force_rmse": f_rmse, "force_mae": f_mae,
            "stress_rmse": s_rmse, "stress_mae": s_mae}


def _as_set(pot, images_or_set, species=None):
    """A :class:`TrainingSet` as given, or built from ASE Atoms with the potential's species."""
    if isinstance(images_or_set, TrainingSet):
        return images_or_set
    return TrainingSet.from_atoms(images_or_set, species or pot.species)


def error_report(pot: MTP, images_or_set, species=None, per_structure=False, worst=0):
    """RMSE/MAE of energy (meV/atom), force components (eV/A) and stress (GPa).

    Accepts a :class:`TrainingSet` or ASE Atoms with reference results.  With
    ``per_structure`` the predictions are included for parity plots; with ``worst=N``
    the report's ``"worst"`` lists the N largest energy errors (see :func:`largest_errors`).
    Each structure is evaluated once.
    """
    data = _as_set(pot, images_or_set, species)
    errors = _structure_errors(pot, data, per_structure)
    report = _summarise(errors, data.n_atoms)
    if per_structure:
        report["structures"] = [e[3] for e in errors]
    if worst:
        report["worst"] = _largest(data, errors, worst)
    return report


def loss_and_report(pot: MTP, data: TrainingSet, weights):
    """The training loss's data terms on ``data`` (:func:`~.loss.loss_terms` with :class:`LossWeights`
    ``weights``) and its :func:`error_report`, from one evaluation of each structure.  The
    validation score of training: the same units and weights as the loss."""
    from .loss import loss_terms
    errors = _structure_errors(pot, data, per_structure=True)
    preds = []
    for s, (_, _, _, row) in zip(data.structures, errors):
        W = virial_from_stress(np.asarray(row["stress"]) / EV_A3_TO_GPA, s.volume) if "stress" in row else None
        preds.append((row["energy"], row["forces"], W))
    return loss_terms(data, preds, weights), _summarise(errors, data.n_atoms)


def error_report_by(pot: MTP, images, key="config_type", species=None, worst=0):
    """Error reports (as :func:`error_report`) per group of structures.

    Structures are grouped by ``atoms.info[key]`` (e.g. the ``config_type`` of extxyz
    files); structures without the key form the group ``"(none)"``.  Returns a dict
    group -> report, groups in order of first appearance, plus ``"all"`` (which holds
    ``"worst"`` with ``worst=N``).  Each structure is evaluated once.
    """
    data = TrainingSet.from_atoms(images, species or pot.species)
    errors = _structure_errors(pot, data)
    groups = {}
    for k, atoms in enumerate(images):
        groups.setdefault(str(atoms.info.get(key, "(none)")), []).append(k)
    out = {name: _summarise([errors[k] for k in members], sum(data.structures[k].n_atoms for k in members))
           for name, members in groups.items()}
    out["all"] = _summarise(errors, data.n_atoms)
    if worst:
        out["all"]["worst"] = _largest(data, errors, worst)
    return out


def largest_errors(pot: MTP, images_or_set, n=10, species=None):
    """The ``n`` structures with the largest energy errors per atom, largest first.

    A handful of structures often carries most of an energy RMSE; this names them.
    Each entry: ``index`` (position in the data), ``name``, ``group`` (the extxyz
    ``config_type``, "" if none), ``n_atoms``, ``energy_error`` (model - reference,
    meV/atom), ``energy_share`` (its part of the squared energy RMSE, 0-1),
    ``force_rmse`` (eV/A, None without reference forces).  Structures without a
    reference energy are left out.
    """
    data = _as_set(pot, images_or_set, species)
    return _largest(data, _structure_errors(pot, data), n)


def _largest(data, errors, n):
    """:func:`largest_errors` from :func:`_structure_errors` entries."""
    if n < 1:
        raise ValueError(f"the number of structures to list must be at least 1, got {n}")
    rows = []
    for k, (s, (de, df, _, _)) in enumerate(zip(data.structures, errors)):
        if de is None:
            continue
        rows.append({"index": k, "name": s.name, "group": s.group, "n_atoms": s.n_atoms,
                     "energy_error": 1000.0 * de,
                     "force_rmse": None if df is None else float(np.sqrt(np.mean(df ** 2)))})
    total = sum(r["energy_error"] ** 2 for r in rows)
    for r in rows:
        r["energy_share"] = r["energy_error"] ** 2 / total if total > 0 else 0.0
    rows.sort(key=lambda r: -abs(r["energy_error"]))
    return rows[:n]


def train_rmse(data, preds):
    """RMSE of predictions ``preds`` (per structure (E, F, virial)) against ``data``:
    ``energy_rmse`` meV/atom, ``force_rmse`` eV/A, ``stress_rmse`` GPa (None where no structure
    has that reference)."""
    de, df, ds = [], [], []
    for s, (E, F, W) in zip(data.structures, preds):
        if s.energy is not None:
            de.append((E - s.energy) / s.n_atoms)
        if s.forces is not None:
            df.append((F - s.forces).ravel())
        if s.virial is not None:
            ds.append(((W - s.virial) / s.volume).ravel() * EV_A3_TO_GPA)
    r = lambda x, sc=1.0: float(np.sqrt(np.mean(np.concatenate(x) ** 2)) * sc) if x else None  # noqa: E731
    return {"energy_rmse": r([np.atleast_1d(v) for v in de], 1000.0), "force_rmse": r(df), "stress_rmse": r(ds)}
