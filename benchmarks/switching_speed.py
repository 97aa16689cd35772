"""Does the free-energy melting point depend on how fast the switchings run?

For one row of the melting matrix: solid (Frenkel-Ladd at the window's lower end, reversible
scaling up) and liquid (Uhlenbeck-Ford at the upper end, scaling down) over one fixed window,
once per switching speed (``--factors`` x the default 25 000 steps, every switching of both
phases - Frenkel-Ladd, Uhlenbeck-Ford and the reversible scaling -, no automatic doublings, the
same seeds), and T_m where G_l and G_s cross (500 atoms, no size correction: the question is
the switching's bias, which the size correction leaves alone).  A systematic drift of T_m with
the switching time means the forward/backward average still carries dissipation bias.

    python benchmarks/switching_speed.py --row pt --window 1475 1630 --factors 1 4

Stages are kept in ``--workdir/<row>/x<factor>``; a rerun reads them back.  The last line reads
``row=... window=... tm_x1=... tm_x4=... shift=...`` (T_m of the slowest minus the fastest).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench_melting_matrix import ROWS, potential_of
from pyiron_mtp.free_energy.engine import free_energy
from pyiron_mtp.free_energy.melting import crossing, curve_on
from pyiron_mtp.free_energy.protocol import Protocol
from pyiron_mtp.free_energy.reference import KB


def protocol_at(factor):
    """The default protocol with every switching and its equilibration ``factor`` x as long, no doublings."""
    base = Protocol()
    return Protocol(switching_steps=int(base.switching_steps * factor),
                    switch_equilibration_steps=int(base.switch_equilibration_steps * factor), switching_doublings=0)


def melting_at_speed(pot, lattice, t_lo, t_hi, factor, atoms, repeats, workdir, parallel):
    """(T_m, error, dS, solid, liquid, minutes) with every switching ``factor`` x the default length."""
    p = protocol_at(factor)
    t0 = time.time()
    kw = dict(lattice=lattice, atoms=atoms, repeats=repeats, protocol=p, parallel=parallel, progress=False)
    solid = free_energy(pot, "solid", t_lo, tmax=t_hi, workdir=workdir / "solid", **kw)
    liquid = free_energy(pot, "liquid", t_hi, tmax=t_lo, workdir=workdir / "liquid", **kw)
    temps = np.linspace(t_lo, t_hi, 201)
    gs, es = curve_on(solid, temps)
    gl, el = curve_on(liquid, temps)
    found = crossing(temps, gs, es, gl, el)
    tm, err, ds = found if found is not None else (float("nan"),) * 3
    return tm, err, ds, solid, liquid, (time.time() - t0) / 60


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="pt", choices=[r for r, v in ROWS.items() if v[0] is not None])
    ap.add_argument("--window", type=float, nargs=2, default=[1475.0, 1630.0], help="t_lo t_hi (K)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--atoms", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=2, help="repetitions at once (one MPI rank each)")
    ap.add_argument("--workdir", default="switching_speed")
    args = ap.parse_args()
    lattice = ROWS[args.row][2]
    pot = potential_of(args.row, None)
    t_lo, t_hi = args.window
    rows, out = [], {}
    print(f"{args.row} ({lattice}), window {t_lo:.0f}-{t_hi:.0f} K, {args.atoms} atoms, {args.repeats} repetitions")
    print("| switching steps | T_m (K) | dS (k_B) | G_s(t_lo) FL + RS (eV/atom) | G_l(t_hi) UF + RS (eV/atom) "
          "| dissipation solid / liquid (meV/atom) | minutes |")
    print("|---|---|---|---|---|---|---|")
    for f in args.factors:
        wd = Path(args.workdir) / args.row / f"x{f:g}"
        tm, err, ds, solid, liquid, minutes = melting_at_speed(pot, lattice, t_lo, t_hi, f, args.atoms,
                                                              args.repeats, wd, args.parallel)
        gs, es = solid.at(t_lo)
        gl, el = liquid.at(t_hi)
        steps = protocol_at(f).switching_steps
        print(f"| {steps} | {tm:.1f} ± {err:.1f} | {ds / KB:.3f} | {gs:.5f} ± {es:.5f} | "
              f"{gl:.5f} ± {el:.5f} | {solid.dissipation * 1e3:.2f} / {liquid.dissipation * 1e3:.2f} | {minutes:.1f} |",
              flush=True)
        rows.append({"factor": f, "switching_steps": steps, "tm": tm, "tm_err": err, "ds": ds, "g_solid_lo": gs,
                     "g_solid_lo_err": es, "g_liquid_hi": gl, "g_liquid_hi_err": el,
                     "dissipation_solid": solid.dissipation, "dissipation_liquid": liquid.dissipation,
                     "minutes": minutes})
        out[f"tm_x{f:g}"] = round(tm, 1)
    (Path(args.workdir) / args.row / "summary.json").write_text(json.dumps(rows, indent=1))
    shift = rows[-1]["tm"] - rows[0]["tm"]
    print(f"row={args.row} window={t_lo:.0f}-{t_hi:.0f} " + " ".join(f"{k}={v}" for k, v in out.items())
          + f" shift={shift:.1f}")


if __name__ == "__main__":
    main()
