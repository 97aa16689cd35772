"""The ``pyiron-mtp`` command line, mirroring MLIP's ``mlp`` where it can."""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np


def _load_potential(path, species):
    from .potential import MTP
    from .structures import placeholder_species
    pot = MTP.from_file(path, species=species)
    if pot.species is None:
        pot.species = placeholder_species(pot.species_count)
    return pot


def _species_for(pot, images, given):
    """Make the potential's species names match the data when the user named none."""
    from .structures import species_of
    if given or pot.species is None:
        return
    present = species_of(images)
    if set(present) <= set(pot.species):
        return
    if len(present) == 1 and pot.species_count == 1:
        pot.species = present
        return
    raise SystemExit(f"error: the data contain {present}; name the potential's species in type order "
                     f"with --species (MLIP potentials do not store element names)")


def cmd_calc_efs(args):
    from .calculator import MTPCalculator
    from .structures import read_structures, write_structures
    from ase.calculators.singlepoint import SinglePointCalculator
    from tqdm import tqdm
    pot = _load_potential(args.potential, args.species)
    images = read_structures(args.input, species=pot.species)
    _species_for(pot, images, args.species)
    calc = MTPCalculator(pot)
    out = []
    for atoms in tqdm(images, desc="calc-efs", unit="cfg", disable=len(images) < 20 or args.quiet):
        atoms = atoms.copy()
        atoms.calc = calc
        props = ["energy", "forces"] + (["stress"] if atoms.pbc.all() else [])
        calc.calculate(atoms, props)
        res = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in calc.results.items()
               if k in ("energy", "free_energy", "forces", "stress")}
        atoms.calc = SinglePointCalculator(atoms, **res)
        feats = dict(atoms.info.get("features", {}))
        feats["EFS_by"] = "pyiron_mtp"
        atoms.info["features"] = feats
        out.append(atoms)
    write_structures(args.output, out, species=pot.species)
    if not args.quiet:
        print(f"{len(out)} configurations evaluated -> {args.output}")


def cmd_level(args):
    from .potential import MTP
    pot = MTP.from_level(args.level, args.species, args.min_dist, args.max_dist,
                         radial_basis_size=args.radial_basis_size, max_mu=args.max_mu, max_nu=args.max_nu)
    pot.to_file(args.output)
    print(f"{pot} -> {args.output}")


def cmd_convert(args):
    from .structures import read_structures, write_structures, species_of
    images = read_structures(args.input, species=args.species)
    species = args.species or species_of(images)
    write_structures(args.output, images, species=species)
    print(f"{len(images)} configurations {args.input} -> {args.output}")


def build_parser():
    p = argparse.ArgumentParser(prog="pyiron-mtp", description="Moment Tensor Potentials (MLIP-compatible)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("calc-efs", help="energies, forces and stresses of configurations")
    c.add_argument("potential", help=".mtp file")
    c.add_argument("input", help=".cfg or any ASE-readable file")
    c.add_argument("output", help=".cfg or any ASE-writable file")
    c.add_argument("--species", nargs="+", help="element of each potential type, in type order")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_calc_efs)

    c = sub.add_parser("level", help="write an untrained MTP of any level")
    c.add_argument("level", type=int)
    c.add_argument("--species", nargs="+", required=True)
    c.add_argument("--min-dist", type=float, required=True, help="Angstrom")
    c.add_argument("--max-dist", type=float, required=True, help="cutoff, Angstrom")
    c.add_argument("--radial-basis-size", type=int, default=8)
    c.add_argument("--max-mu", type=int, default=None, help="cap on the radial function index")
    c.add_argument("--max-nu", type=int, default=None, help="cap on the tensor rank")
    c.add_argument("-o", "--output", required=True)
    c.set_defaults(func=cmd_level)

    c = sub.add_parser("convert", help="convert configurations between .cfg and ASE formats")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--species", nargs="+", help="element of each .cfg type, in type order")
    c.set_defaults(func=cmd_convert)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
