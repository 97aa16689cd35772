"""Where the solid's Frenkel-Ladd reference is taken: at the window's lower end, or lower and
reversibly scaled up.

For one row of the melting matrix (default Fe_mm, bcc, 432 atoms), the solid's Gibbs free energy
at ``--at`` (K) from ``--repeats`` repetitions per reference temperature: Frenkel-Ladd at T_ref,
then reversible scaling from T_ref to ``--tmax``.  Each T_ref keeps its own folder under
``--workdir`` (an interrupted run continues).  Prints per T_ref: G(at) in eV/atom, its standard
error and every repetition's deviation from the mean in meV/atom, the Frenkel-Ladd dissipation.

    python benchmarks/frenkel_ladd_temperature.py [--row fe] [--references 1700 1100 800] [--at 1760]
        [--tmax 1879] [--atoms 432] [--repeats 6] [--workdir frenkel_ladd_temperature]

Last line: ``row=... at=... T_ref=G+-err,...`` (meV/atom for the errors).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    from bench_melting_matrix import ROWS
    from pyiron_mtp.free_energy.engine import free_energy
    from pyiron_mtp.free_energy.potential import LammpsPotential
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", default="fe", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--references", type=float, nargs="+", default=[1700.0, 1100.0, 800.0])
    ap.add_argument("--at", type=float, default=1760.0, help="temperature (K) at which G is compared")
    ap.add_argument("--tmax", type=float, default=1879.0, help="upper end of the reversible scaling (K)")
    ap.add_argument("--atoms", type=int, default=432)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--workdir", default="frenkel_ladd_temperature")
    args = ap.parse_args(argv)
    file, element, lattice = ROWS[args.row]
    pot = LammpsPotential.from_eam(file, [element])
    work = Path(args.workdir)
    out = {}
    for t_ref in args.references:
        t_ref = int(t_ref) if float(t_ref).is_integer() else t_ref
        r = free_energy(pot, "solid", t_ref, tmax=args.tmax, lattice=lattice, atoms=args.atoms, repeats=args.repeats,
                        workdir=work / f"fl_{t_ref}", cores=1, parallel=2, progress=False)
        g, e = r.at(args.at)
        reps = [float(np.interp(args.at, rep["temperatures"], rep["free_energy_curve"])) for rep in r.repetitions]
        out[t_ref] = {"G": g, "error": e, "repetitions": reps, "frenkel_ladd_dissipation": r.dissipation,
                      "flags": r.flags}
        print(f"T_ref {t_ref} K: G({args.at:g} K) = {g:.5f} +- {1e3 * e:.2f} meV/atom; repetitions "
              f"{np.round(1e3 * (np.array(reps) - g), 2).tolist()} meV/atom; Frenkel-Ladd dissipation "
              f"{1e3 * r.dissipation:.2f} meV/atom", flush=True)
    (work / "result.json").write_text(json.dumps(out, indent=1))
    print(f"row={args.row} at={args.at:g} " + ",".join(f"{t}={v['G']:.5f}+-{1e3 * v['error']:.2f}"
                                                      for t, v in out.items()))


if __name__ == "__main__":
    main()
