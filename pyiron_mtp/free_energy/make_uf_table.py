"""Generate ``uf_table.csv``: the excess free energy of the Uhlenbeck-Ford fluid.

The UF pair potential u(r) = -p kT ln(1 - exp(-(r/sigma)^2)) scales with kT, so beta F_ex
depends only on p and the reduced density x = (1/2) (pi sigma^2)^(3/2) rho (Paula Leite,
Freitas, Azevedo, de Koning, JCP 145, 194101 (2016)).  It follows from the compressibility
factor Z = beta P / rho:

    beta F_ex(x) = integral_0^x (Z(x') - 1) / x' dx'

Z(x) comes from NVT molecular dynamics in LAMMPS (``pair_style ufm``, N atoms, Langevin
thermostat, virial pressure), the integrand's x -> 0 limit from the second virial
coefficient b2(p) = (4 / sqrt(pi)) integral_0^inf [1 - (1 - exp(-s^2))^p] s^2 ds.  A
smoothing spline through (x, (Z - 1)/x) weighted by the statistical errors is integrated.

    python -m pyiron_mtp.free_energy.make_uf_table [--p 25 50 75 100] [--atoms 1000] [--steps 20000] [--workdir W]

Every point's Z is kept in the work folder, so an interrupted run continues.
"""
from __future__ import annotations

import argparse
import json
import datetime
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..lammps.runtime import NKTV2P, run_lammps
from .reference import KB, UF_CUTOFF, UF_TABLE

SIGMA = 1.5          # A (beta F_ex does not depend on it)
TEMPERATURE = 1000.0  # K (nor on this)
MASS = 50.0          # amu (nor on this)
X_GRID = np.round(np.concatenate([np.arange(0.025, 0.2001, 0.025), np.arange(0.25, 1.6001, 0.05)]), 4)


def second_virial(p):
    """b2(p): the limit of (Z - 1)/x for x -> 0."""
    from scipy.integrate import quad
    val, _ = quad(lambda s: (1.0 - (1.0 - np.exp(-s * s)) ** p) * s * s, 0.0, 12.0, limit=200)
    return 4.0 / np.sqrt(np.pi) * val


def compressibility(p, x, atoms=1000, steps=20000, equilibration=5000, seed=1, workdir=None):
    """Mean Z and its standard error (block averages) of the UF fluid at (p, x)."""
    rho = x / (0.5 * (np.pi * SIGMA ** 2) ** 1.5)
    length = float((atoms / rho) ** (1.0 / 3.0))
    eps = float(p * KB * TEMPERATURE)
    script = f"""units metal
atom_style atomic
region box block 0 {length!r} 0 {length!r} 0 {length!r}
create_box 1 box
create_atoms 1 random {atoms} {seed} NULL overlap 0.5 maxtry 1000
mass 1 {MASS}
pair_style ufm {UF_CUTOFF * SIGMA!r}
pair_coeff * * {eps!r} {SIGMA}
neighbor 1.0 bin
minimize 0 0 200 2000
reset_timestep 0
velocity all create {TEMPERATURE} {seed} dist gaussian mom yes
fix nve all nve
fix lang all langevin {TEMPERATURE} {TEMPERATURE} 0.1 {seed + 7} zero yes
timestep 0.001
thermo 1000
run {equilibration}
compute pvir all pressure NULL virial
variable pv equal c_pvir*vol
fix zlog all print 10 "${{pv}}" file z.txt screen no title ""
run {steps}
"""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        run_lammps(script, tmp)
        pv = np.loadtxt(Path(tmp) / "z.txt")
    # Z = 1 + W / (3 N kT): the virial part only (its configurational average needs no
    # kinetic temperature; the ideal part is exactly 1)
    z = 1.0 + pv / NKTV2P / (atoms * KB * TEMPERATURE)
    blocks = z[: len(z) // 20 * 20].reshape(20, -1).mean(axis=1)
    return float(z.mean()), float(blocks.std(ddof=1) / np.sqrt(len(blocks)))


def integrate(p, xs, z, dz):
    """beta F_ex on the grid xs from Z values and errors (smoothing spline of (Z - 1)/x)."""
    from scipy.interpolate import UnivariateSpline
    from scipy.integrate import quad
    xs = np.asarray(xs, dtype=float)
    y = (np.asarray(z) - 1.0) / xs
    w = 1.0 / np.maximum(np.asarray(dz) / xs, 1e-9)
    xa = np.concatenate([[0.0], xs])
    ya = np.concatenate([[second_virial(p)], y])
    wa = np.concatenate([[w.max() * 10], w])
    spline = UnivariateSpline(xa, ya, w=wa, k=3, s=len(xa))
    return np.array([quad(spline, 0.0, x, limit=200)[0] for x in xs]), spline


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, nargs="+", default=[25, 50, 75, 100])
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--output", default=str(UF_TABLE))
    ap.add_argument("--workdir", default="uf_table_work", help="every computed Z is kept here; a rerun continues")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)

    def cached(p, x):
        f = work / f"z_p{p}_x{x:.4f}_n{args.atoms}_s{args.steps}.json"
        if f.exists():
            return tuple(json.loads(f.read_text()))
        out = compressibility(p, x, args.atoms, args.steps)
        f.write_text(json.dumps(out))
        return out

    columns, raw = {}, []
    for p in args.p:
        with ThreadPoolExecutor(args.workers) as pool:
            res = list(pool.map(lambda x: cached(p, x), X_GRID))
        z = np.array([r[0] for r in res])
        dz = np.array([r[1] for r in res])
        columns[p], _ = integrate(p, X_GRID, z, dz)
        for x, zz, ee in zip(X_GRID, z, dz):
            raw.append(f"# Z p={p} x={x:.4f}: {zz:.6f} +- {ee:.6f}")
        print(f"p = {p}: b2 = {second_virial(p):.4f}, beta F_ex(x = 0.7) = "
              f"{np.interp(0.7, X_GRID, columns[p]):.4f}", flush=True)
    lines = ["# Excess free energy beta*F_ex of the Uhlenbeck-Ford fluid vs x = (1/2)(pi sigma^2)^(3/2) rho",
             f"# made by: python -m pyiron_mtp.free_energy.make_uf_table --p {' '.join(map(str, args.p))} "
             f"--atoms {args.atoms} --steps {args.steps}  ({datetime.date.today()})",
             f"# LAMMPS NVT (Langevin), pair_style ufm, cutoff 4 sigma, {args.atoms} atoms, "
             f"{args.steps} steps of 1 fs after 5000, T = {TEMPERATURE} K, sigma = {SIGMA} A, mass {MASS} amu"]
    lines += raw
    lines.append("x," + ",".join(f"p={p}" for p in args.p))
    for k, x in enumerate(X_GRID):
        lines.append(f"{x:.4f}," + ",".join(f"{columns[p][k]:.6f}" for p in args.p))
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
