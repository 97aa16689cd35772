"""A row's free-energy melting point from calphy (an independent implementation) on the same file.

calphy (https://calphy.org; not a dependency: install it in its own environment, e.g.
``python -m venv calphy_venv && calphy_venv/bin/pip install calphy``) runs reversible scaling
of the solid (Frenkel-Ladd at ``t_lo``, fcc/bcc built-in lattice) and of the liquid
(Uhlenbeck-Ford at ``t_hi``) over the window; this script writes its input, runs both
calculations side by side (``calphy_kernel``, one core each) unless they finished, and reads
the two sweeps back:

- G_s(t_lo), G_l(t_hi) and T_m where the sweeps cross, in calphy's convention (the solid's
  centre of mass over V);
- the same solid with the centre of mass over V/N, as this package computes it (its G higher
  by (kT/N) ln N, so T_m lower by that over dS);

to compare with this package's free energies at the same sizes.

    python benchmarks/calphy_check.py --row pt --window 1475 1630 --solid-repeat 7 --calphy calphy_venv/bin

Last line: ``row=... solid_atoms=... tm_calphy=... tm_com_over_v_over_n=... g_solid_lo=... g_liquid_hi=...``.
"""
import argparse
import json
import os
import subprocess
from pathlib import Path

import numpy as np

from bench_melting_matrix import ROWS, potential_of
from pyiron_mtp.free_energy.reference import KB, mass_of

LATTICE_ATOMS = {"fcc": 4, "bcc": 2}


def write_input(path, pot, element, lattice, a, t_lo, t_hi, solid_repeat, liquid_repeat, steps, iterations, lmp):
    """calphy's input.yaml: a solid sweep up from t_lo and a liquid sweep down from t_hi."""
    name, *elements = pot.coeff.split()
    coeff = " ".join(["*", "*", str(Path(pot.files[name]).resolve())] + elements)
    entries = []
    for phase, t, rep in (("solid", [t_lo, t_hi], solid_repeat), ("liquid", [t_hi, t_lo], liquid_repeat)):
        entries.append(f"""- element: {element}
  mass: {mass_of(element)}
  lattice: {lattice}
  lattice_constant: {a}
  repeat: [{rep}, {rep}, {rep}]
  mode: ts
  reference_phase: {phase}
  temperature: [{t[0]}, {t[1]}]
  pressure: 0
  pair_style: {pot.style}
  pair_coeff: '{coeff}'
  n_equilibration_steps: 10000
  n_switching_steps: [{steps}, {steps}]
  n_iterations: {iterations}
  lammps_executable: {lmp}
  queue: {{scheduler: local, cores: 1}}
""")
    Path(path).write_text("calculations:\n" + "".join(entries))


def sweep(folder):
    """(T, G, error) of a calphy temperature sweep, sorted by T; the error is the sweep's own plus
    the switching's at its start (report.yaml's ``error``, which the sweep file leaves out)."""
    import yaml
    t, g, e = np.loadtxt(Path(folder) / "temperature_sweep.dat", unpack=True)
    e0 = float(yaml.safe_load((Path(folder) / "report.yaml").read_text())["results"]["error"])
    order = np.argsort(t)
    return t[order], g[order], np.hypot(e[order], e0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="pt", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--window", type=float, nargs=2, default=[1475.0, 1630.0])
    ap.add_argument("--lattice-constant", type=float, default=3.92, help="start value (A); calphy relaxes it")
    ap.add_argument("--solid-repeat", type=int, default=7, help="unit cells per side of the solid (7: 1372 fcc atoms)")
    ap.add_argument("--liquid-repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=25000, help="switching and sweep steps")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--calphy", default="", help="folder holding calphy_kernel (default: on PATH)")
    ap.add_argument("--workdir", default="calphy_check")
    args = ap.parse_args()
    _, element, lattice = ROWS[args.row]
    if lattice not in LATTICE_ATOMS:
        raise SystemExit(f"calphy_check handles fcc and bcc rows, not {lattice}")
    pot = potential_of(args.row, None)
    t_lo, t_hi = (int(round(t)) for t in args.window)
    work = Path(args.workdir) / args.row
    work.mkdir(parents=True, exist_ok=True)
    lmp = subprocess.run(["which", "lmp"], capture_output=True, text=True).stdout.strip() or "lmp"
    write_input(work / "input.yaml", pot, element, lattice, args.lattice_constant, t_lo, t_hi, args.solid_repeat,
                args.liquid_repeat, args.steps, args.iterations, lmp)
    kernel = str(Path(args.calphy) / "calphy_kernel") if args.calphy else "calphy_kernel"
    folders = {"solid": work / f"ts-{lattice}-solid-{t_lo}-0", "liquid": work / f"ts-{lattice}-liquid-{t_hi}-0"}
    jobs = []
    for k, phase in enumerate(("solid", "liquid")):
        if not (folders[phase] / "temperature_sweep.dat").exists():
            if folders[phase].exists():
                raise SystemExit(f"{folders[phase]} holds an unfinished calphy run (calphy cannot continue it): "
                                 "remove it and run again")
            jobs.append(subprocess.Popen([kernel, "-i", "input.yaml", "-k", str(k)], cwd=work,
                                         stdout=open(work / f"k{k}.out", "w"), stderr=subprocess.STDOUT,
                                         env=dict(os.environ, OMP_NUM_THREADS="1")))
    for j in jobs:
        if j.wait() != 0:
            raise SystemExit(f"calphy_kernel failed: see {work}/k*.out")
    ts, gs, es = sweep(folders["solid"])
    tl, gl, el = sweep(folders["liquid"])
    n_solid = LATTICE_ATOMS[lattice] * args.solid_repeat ** 3
    grid = np.linspace(max(ts[0], tl[0]), min(ts[-1], tl[-1]), 2001)
    d = np.interp(grid, tl, gl) - np.interp(grid, ts, gs)
    shift = KB * grid * np.log(n_solid) / n_solid             # the solid's G with the centre of mass over V/N
    out = {}
    for key, dd in (("tm_calphy", d), ("tm_com_over_v_over_n", d - shift)):
        k = np.flatnonzero(np.diff(np.sign(dd)))
        out[key] = float(grid[k[0]] - dd[k[0]] * (grid[k[0] + 1] - grid[k[0]]) / (dd[k[0] + 1] - dd[k[0]])) \
            if len(k) else float("nan")
    out.update(g_solid_lo=float(gs[0]), g_solid_lo_err=float(es[0]), g_liquid_hi=float(gl[-1]),
               g_liquid_hi_err=float(el[-1]), solid_atoms=n_solid,
               liquid_atoms=LATTICE_ATOMS[lattice] * args.liquid_repeat ** 3, window=[t_lo, t_hi], steps=args.steps,
               iterations=args.iterations)
    (work / "summary.json").write_text(json.dumps(out, indent=1))
    print(f"row={args.row} solid_atoms={n_solid} tm_calphy={out['tm_calphy']:.1f} "
          f"tm_com_over_v_over_n={out['tm_com_over_v_over_n']:.1f} g_solid_lo={out['g_solid_lo']:.5f} "
          f"g_liquid_hi={out['g_liquid_hi']:.5f}")


if __name__ == "__main__":
    main()
