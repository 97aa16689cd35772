"""One ledger of every reference calculation of a workflow (hull screen, upsampling), on disk.

Each result (energy eV, forces eV/A, stress eV/A^3 in ASE's convention, the structure and
the stage that asked for it, the wall and CPU time of the calculation in s) is appended as one JSON line to ``ledger-<pid>.jsonl`` in the
workflow's folder as soon as it exists, so a killed workflow loses nothing and, restarted,
repeats no reference calculation: :class:`LedgerCalculator` answers from the ledger for
any structure already computed (relaxations are deterministic, so a restarted relaxation
walks the same path through the ledger).  Failures are recorded too and count as calls.
The ledger is also the count of reference calls per stage.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

from .on_the_fly import check_reference, structure_key
from .structures import atoms_from_dict, atoms_to_dict

__all__ = ["ReferenceLedger", "LedgerCalculator"]


class ReferenceLedger:
    """Reference results of a workflow in ``folder`` (shared by processes: one file each)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entries = {}
        self.failures = []
        self.reload()

    def reload(self):
        self.entries, self.failures = {}, []
        for path in sorted(self.folder.glob("ledger-*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:   # a line cut by a kill: that calculation is simply redone
                    continue
                if rec.get("failed"):
                    self.failures.append(rec)
                else:
                    self.entries.setdefault(rec["key"], rec)

    def _append(self, rec):
        with open(self.folder / f"ledger-{os.getpid()}.jsonl", "a") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()

    def lookup(self, atoms):
        """(energy, forces, stress) of a structure computed before, or None."""
        rec = self.entries.get(structure_key(atoms))
        if rec is None:
            return None
        stress = None if rec["stress"] is None else np.array(rec["stress"])
        return rec["energy"], np.array(rec["forces"]), stress

    def record(self, atoms, energy, forces, stress, stage, seconds=None, cpu_seconds=None):
        rec = {"key": structure_key(atoms), "stage": stage, "energy": float(energy),
               "forces": np.asarray(forces, dtype=float).tolist(),
               "stress": None if stress is None else np.asarray(stress, dtype=float).tolist(),
               **atoms_to_dict(atoms)}
        if seconds is not None:
            rec["seconds"] = float(seconds)
        if cpu_seconds is not None:
            rec["cpu_seconds"] = float(cpu_seconds)
        self.entries.setdefault(rec["key"], rec)
        self._append(rec)

    def record_failure(self, atoms, stage, reason):
        rec = {"key": structure_key(atoms), "stage": stage, "failed": True, "reason": str(reason)[:500]}
        self.failures.append(rec)
        self._append(rec)

    def counts(self):
        """Reference calls per stage (failures counted, under their stage and as 'failed') and in total."""
        c = Counter(r["stage"] for r in self.entries.values())
        for r in self.failures:
            c[r["stage"]] += 1
        out = dict(c)
        out["failed"] = len(self.failures)
        out["total"] = len(self.entries) + len(self.failures)
        return out

    def seconds(self, cpu=False):
        """Wall time (``cpu=True``: CPU time of the calculating process, which a machine shared
        with other work does not inflate) of the recorded calculations per stage (s;
        calculations recorded without that time are left out)."""
        field = "cpu_seconds" if cpu else "seconds"
        out = Counter()
        for r in self.entries.values():
            if field in r:
                out[r["stage"]] += r[field]
        return dict(out)

    def images(self, stages=None):
        """Computed structures (ASE Atoms with SinglePointCalculator results), optionally of some stages."""
        out = []
        for _, rec in sorted(self.entries.items()):      # a fixed order, whichever process wrote what
            if stages is not None and rec["stage"] not in stages:
                continue
            a = atoms_from_dict(rec)
            res = {"energy": rec["energy"], "free_energy": rec["energy"], "forces": np.array(rec["forces"])}
            if rec["stress"] is not None:
                res["stress"] = np.array(rec["stress"])
            a.calc = SinglePointCalculator(a, **res)
            a.info["stage"] = rec["stage"]
            out.append(a)
        return out


def _cpu_time():
    """CPU seconds of this process and of its finished child processes (a reference code run
    as a subprocess), all threads."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LedgerCalculator(Calculator):
    """The reference through the ledger: known structures are answered from it, new ones
    computed by a calculator from ``reference`` (a zero-argument factory or a calculator)
    and recorded under ``stage``; NaN or absurd results raise.

    One inner calculator serves the successive structures of a relaxation (a DFT code can
    reuse its wave functions); when a reused one fails (GPAW, e.g., stops with "Broken
    symmetry" once a structure loses a symmetry it found in the first one), the structure is
    computed once more with a fresh calculator before the failure is recorded."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, reference, ledger: ReferenceLedger, stage, **kwargs):
        super().__init__(**kwargs)
        self.reference, self.ledger, self.stage = reference, ledger, stage
        self._calc = None
        self.computed = 0

    def _inner(self):
        if self._calc is None:
            import copy
            ref = self.reference
            is_instance = hasattr(ref, "calculate") and not isinstance(ref, type)
            self._calc = copy.deepcopy(ref) if is_instance else ref()
        return self._calc

    def _compute(self):
        work = self.atoms.copy()
        work.calc = self._inner()
        energy = work.get_potential_energy()
        forces = work.get_forces()
        stress = work.get_stress() if work.pbc.all() else None
        check_reference(len(work), energy, forces, stress)
        return energy, forces, stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        known = self.ledger.lookup(self.atoms)
        if known is None:
            t0, c0 = time.perf_counter(), _cpu_time()
            reused = self._calc is not None
            try:
                energy, forces, stress = self._compute()
            except Exception as exc:
                if not reused:
                    self.ledger.record_failure(self.atoms, self.stage, f"{type(exc).__name__}: {exc}")
                    raise
                self._calc = None
                t0, c0 = time.perf_counter(), _cpu_time()
                try:
                    energy, forces, stress = self._compute()
                except Exception as exc2:
                    self.ledger.record_failure(self.atoms, self.stage, f"{type(exc2).__name__}: {exc2}")
                    raise
            self.ledger.record(self.atoms, energy, forces, stress, self.stage, seconds=time.perf_counter() - t0,
                               cpu_seconds=_cpu_time() - c0)
            self.computed += 1
            known = (energy, forces, stress)
        energy, forces, stress = known
        self.results = {"energy": float(energy), "free_energy": float(energy), "forces": np.array(forces)}
        if stress is not None:
            self.results["stress"] = np.array(stress)
