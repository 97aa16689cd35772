"""MLIP ``.cfg`` configurations <-> ``ase.Atoms``.

In a ``.cfg`` file ``type`` is a 0-based index into the potential's species,
``Energy`` is in eV, forces in eV/A and ``PlusStress`` is the virial in eV
(= -V * sigma_ASE), order xx yy zz yz xz xy.  ``Feature`` lines are kept in
``atoms.info['features']``; per-atom ``nbh_grades`` in ``atoms.arrays``.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["CFGError", "read_cfg", "write_cfg", "plus_stress_from_stress", "stress_from_plus_stress"]

_VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")


class CFGError(ValueError):
    """A malformed ``.cfg`` file; the message names file and line."""


def stress_from_plus_stress(plus, volume):
    """ASE stress (eV/A^3, Voigt) from MLIP PlusStress (eV, xx yy zz yz xz xy)."""
    return -np.asarray(plus, dtype=float) / volume


def plus_stress_from_stress(stress, volume):
    """MLIP PlusStress (eV) from an ASE stress (Voigt or 3x3, eV/A^3)."""
    s = np.asarray(stress, dtype=float)
    if s.shape == (3, 3):
        s = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
    return -s * volume


def _symbols(types, species, path, lineno):
    if species is None:
        # no names: use placeholder elements in type order (H, He, Li, ...)
        from ase.data import chemical_symbols
        return [chemical_symbols[t + 1] for t in types]
    bad = sorted({int(t) for t in types if t < 0 or t >= len(species)})
    if bad:
        raise CFGError(f"{path}:{lineno}: atom type(s) {bad} not covered by species {list(species)}")
    return [species[t] for t in types]


def read_cfg(path, species=None, index=None):
    """Read all configurations of a ``.cfg`` file as a list of ``ase.Atoms``.

    ``species`` maps types to element symbols (type k -> species[k]); without it the
    atoms are named H, He, ... by type, and ``atoms.arrays['mlip_type']`` keeps the types.
    Energies, forces and stresses are attached as a SinglePointCalculator.
    """
    path = str(path)
    with open(path) as fh:
        lines = fh.read().splitlines()
    frames = []
    k = 0
    n_lines = len(lines)

    def err(lineno, msg):
        raise CFGError(f"{path}:{lineno}: {msg}")

    while k < n_lines:
        line = lines[k].strip()
        if not line:
            k += 1
            continue
        if line != "BEGIN_CFG":
            err(k + 1, f"expected BEGIN_CFG, got {line[:60]!r}")
        begin = k + 1
        k += 1
        size = None
        cell = None
        data = None
        energy = None
        plus = None
        features = {}
        while True:
            if k >= n_lines:
                err(begin, "configuration is not closed by END_CFG")
            raw = lines[k]
            line = raw.strip()
            k += 1
            if not line:
                continue
            if line == "END_CFG":
                break
            head = line.split()[0]
            if head == "Size":
                try:
                    size = int(lines[k].split()[0])
                except (ValueError, IndexError):
                    err(k + 1, "expected the number of atoms after 'Size'")
                if size <= 0:
                    err(k + 1, f"Size must be positive, got {size}")
                k += 1
            elif head == "Supercell" or head == "SuperCell":
                rows = []
                while k < n_lines and len(rows) < 3:
                    parts = lines[k].split()
                    try:
                        vals = [float(x) for x in parts]
                    except ValueError:
                        break
                    if len(vals) != 3:
                        break
                    rows.append(vals)
                    k += 1
                if not rows:
                    err(k + 1, "expected 1-3 lattice vectors after 'Supercell'")
                cell = np.zeros((3, 3))
                cell[:len(rows)] = rows
                pbc = [True] * len(rows) + [False] * (3 - len(rows))
            elif head.startswith("AtomData"):
                if size is None:
                    err(k, "AtomData before Size")
                cols = line.split(":", 1)[1].split() if ":" in line else line.split()[1:]
                need = {"type", "cartes_x", "cartes_y", "cartes_z"}
                direct = {"direct_x", "direct_y", "direct_z"} <= set(cols)
                if not (need <= set(cols) or ({"type"} <= set(cols) and direct)):
                    err(k, f"AtomData needs columns type and cartes_x/y/z (or direct_x/y/z), got {cols}")
                if k + size > n_lines:
                    err(n_lines, f"expected {size} atom lines, file ended after {n_lines - k}")
                rows = lines[k:k + size]
                try:
                    block = np.array(" ".join(rows).split(), dtype=float)
                except ValueError:
                    block = None
                if block is None or block.size != size * len(cols):
                    # locate the offending line for the message
                    for a, row in enumerate(rows):
                        parts = row.split()
                        if len(parts) != len(cols):
                            err(k + a + 1, f"expected {len(cols)} columns ({' '.join(cols)}), got {len(parts)}")
                        try:
                            [float(x) for x in parts]
                        except ValueError:
                            err(k + a + 1, f"expected numbers, got {row.strip()[:60]!r}")
                block = block.reshape(size, len(cols))
                k += size
                data = (cols, block)
            elif head == "Energy":
                try:
                    energy = float(lines[k].split()[0])
                except (ValueError, IndexError):
                    err(k + 1, "expected a number after 'Energy'")
                k += 1
            elif head.startswith("PlusStress"):
                try:
                    vals = [float(x) for x in lines[k].split()]
                except ValueError:
                    vals = []
                if len(vals) != 6:
                    err(k + 1, "expected 6 numbers (xx yy zz yz xz xy) after 'PlusStress'")
                cols = line.split(":", 1)[1].split() if ":" in line else list(_VOIGT)
                order = {c: v for c, v in zip(cols, vals)}
                if set(order) != set(_VOIGT):
                    err(k, f"PlusStress columns must be xx yy zz yz xz xy, got {cols}")
                plus = np.array([order[c] for c in _VOIGT])
                k += 1
            elif head == "Feature":
                parts = line.split(None, 2)
                name = parts[1] if len(parts) > 1 else ""
                value = parts[2] if len(parts) > 2 else ""
                features[name] = value
            else:
                err(k, f"unknown entry {head!r} in configuration")
        if size is None or data is None:
            err(begin, "configuration needs Size and AtomData")
        cols, block = data
        col = {c: block[:, m] for m, c in enumerate(cols)}
        types = col["type"].astype(int)
        if cell is None:
            cell = np.zeros((3, 3))
            pbc = [False, False, False]
        if "cartes_x" in col:
            pos = np.column_stack([col["cartes_x"], col["cartes_y"], col["cartes_z"]])
        else:
            pos = np.column_stack([col["direct_x"], col["direct_y"], col["direct_z"]]) @ cell
        atoms = Atoms(symbols=_symbols(types, species, path, begin), positions=pos, cell=cell, pbc=pbc)
        atoms.arrays["mlip_type"] = types.copy()
        if "nbh_grades" in col:
            atoms.arrays["nbh_grades"] = col["nbh_grades"].copy()
        if features:
            atoms.info["features"] = features
        results = {}
        if energy is not None:
            results["energy"] = energy
            results["free_energy"] = energy
        if "fx" in col:
            results["forces"] = np.column_stack([col["fx"], col["fy"], col["fz"]])
        if plus is not None:
            if not all(pbc):
                err(begin, "PlusStress given for a configuration that is not periodic in 3D")
            results["stress"] = stress_from_plus_stress(plus, abs(np.linalg.det(cell)))
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    if index is not None:
        return frames[index]
    return frames


def _types_for(atoms, species):
    if species is not None:
        lookup = {s: k for k, s in enumerate(species)}
        syms = atoms.get_chemical_symbols()
        unknown = sorted(set(syms) - set(lookup))
        if unknown:
            raise ValueError(f"element(s) {unknown} not in species {list(species)}")
        return np.array([lookup[s] for s in syms])
    if "mlip_type" in atoms.arrays:
        return atoms.arrays["mlip_type"]
    raise ValueError("writing .cfg needs species=[...] to turn elements into types")


def write_cfg(path, images, species=None, energy=True, forces=True, stress=True, grades=None):
    """Write ``ase.Atoms`` (one or a list) to an MLIP ``.cfg`` file.

    Results are taken from each image's calculator when present.  ``grades``:
    optional per-configuration extrapolation grades written as ``Feature MV_grade``.
    """
    if isinstance(images, Atoms):
        images = [images]
    out = []
    for n, atoms in enumerate(images):
        types = _types_for(atoms, species)
        res = atoms.calc.results if atoms.calc is not None else {}
        f = res.get("forces") if forces else None
        cols = "AtomData:  id type       cartes_x      cartes_y      cartes_z"
        if f is not None:
            cols += "           fx          fy          fz"
        nbh = atoms.arrays.get("nbh_grades")
        if nbh is not None:
            cols += "   nbh_grades"
        out += ["BEGIN_CFG", " Size", f"    {len(atoms)}"]
        cell = atoms.cell.array
        n_per = int(np.sum(atoms.pbc))
        if n_per:
            if not atoms.pbc[:n_per].all():
                raise ValueError("MLIP .cfg supports periodicity along the first lattice vectors only")
            out.append(" Supercell")
            for row in cell[:n_per]:
                out.append("    " + " ".join(f"{v:16.10f}" for v in row))
        out.append(" " + cols)
        table = [np.arange(1, len(atoms) + 1), np.asarray(types), atoms.positions]
        fmt = "    %6d %4d" + " %14.10f" * 3
        if f is not None:
            table.append(np.asarray(f))
            fmt += " %12.8f" * 3
        if nbh is not None:
            table.append(np.asarray(nbh))
            fmt += " %12.6e"
        rows = np.column_stack(table).tolist()
        out.extend(map(fmt.__mod__, map(tuple, rows)))
        if energy and "energy" in res:
            out += [" Energy", f"    {res['energy']:.10f}"]
        if stress and "stress" in res and atoms.pbc.all():
            plus = plus_stress_from_stress(res["stress"], atoms.get_volume())
            out += [" PlusStress:  xx          yy          zz          yz          xz          xy",
                    "    " + " ".join(f"{v:12.8f}" for v in plus)]
        feats = dict(atoms.info.get("features", {}))
        if grades is not None:
            feats["MV_grade"] = f"{grades[n]:.6e}"
        for name, value in feats.items():
            out.append(f" Feature   {name}\t{value}")
        out += ["END_CFG", ""]
    with open(path, "w") as fh:
        fh.write("\n".join(out))
