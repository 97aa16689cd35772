"""Reading LAMMPS text dumps (``dump custom ... id type x y z [f_grade]``) into ASE Atoms."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["read_dump"]


def _cell(bounds, tilts):
    """LAMMPS dump box bounds (with tilt factors) -> origin and lower-triangular cell."""
    xy, xz, yz = tilts
    (xlo_b, xhi_b), (ylo_b, yhi_b), (zlo, zhi) = bounds
    xlo = xlo_b - min(0.0, xy, xz, xy + xz)
    xhi = xhi_b - max(0.0, xy, xz, xy + xz)
    ylo = ylo_b - min(0.0, yz)
    yhi = yhi_b - max(0.0, yz)
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return np.array([xlo, ylo, zlo]), cell


def read_dump(path, species, grade_column="f_g"):
    """Frames of a text dump as ASE Atoms (types 1.. map to ``species``), sorted by atom id.

    A per-atom column ``grade_column`` (if present) gives ``info["mtp_grade"]`` (its
    maximum) and ``arrays["mtp_grades"]``; ``info["step"]`` is the timestep.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    frames = []
    k = 0
    while k < len(lines):
        if not lines[k].startswith("ITEM: TIMESTEP"):
            k += 1
            continue
        step = int(lines[k + 1])
        n = int(lines[k + 3])
        head = lines[k + 4].split()
        periodic = head[-3:] if len(head) >= 6 else ["pp"] * 3
        triclinic = "xy" in head
        bounds, tilts = [], [0.0, 0.0, 0.0]
        for d in range(3):
            vals = [float(v) for v in lines[k + 5 + d].split()]
            bounds.append(vals[:2])
            if triclinic:
                tilts[d] = vals[2]
        origin, cell = _cell(bounds, tilts)
        columns = lines[k + 8].split()[2:]
        if k + 9 + n > len(lines):   # a frame still being written
            break
        data = np.array([ln.split() for ln in lines[k + 9:k + 9 + n]], dtype=float).reshape(n, len(columns))
        data = data[np.argsort(data[:, columns.index("id")])]
        types = data[:, columns.index("type")].astype(int)
        pos = data[:, [columns.index(c) for c in ("x", "y", "z")]] - origin
        atoms = Atoms([species[t - 1] for t in types], positions=pos, cell=cell,
                      pbc=[p.startswith("p") for p in periodic])
        atoms.info["step"] = step
        if grade_column in columns:
            g = data[:, columns.index(grade_column)]
            atoms.arrays["mtp_grades"] = g
            atoms.info["mtp_grade"] = float(g.max())
        frames.append(atoms)
        k += 9 + n
    return frames
