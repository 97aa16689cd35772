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

The statistical error of beta F_ex(x) accumulates along the integral, mostly from the dilute
points where (Z - 1)/x carries the error of Z divided by x.  ``--target-error E --refine-p 50``
refines a column of the shipped table: starting from its base runs (the ``# Z0`` lines; with
``--fresh`` from runs of ``--atoms`` and ``--steps`` alone, one per point first), it
adds independent runs (``--atoms``, ``--steps``, new seeds) one pair at a time where they lower
the propagated error of beta F_ex(``--x-eval``) most per unit of cost (cost ~ atoms x steps x
neighbours), until that error is below E.  The table keeps the base runs and the combined
values (``# Z`` lines, inverse-variance means) apart, so a refinement can be continued.

    python -m pyiron_mtp.free_energy.make_uf_table --refine-p 50 --target-error 0.001 --atoms 2000 --steps 50000 --fresh

Runs of one size keep the column free of finite-size differences between sizes; for p = 50 the
1000- and 2000-atom runs agree within their errors (chi^2 per point 1.1 over the 36 points).
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


def integrate(p, xs, z, dz, b2=None):
    """beta F_ex on the grid xs from Z values and errors: a weighted least-squares cubic spline
    of (Z - 1)/x with knots every 0.1 in x (fixed, so the fit is linear in the data and its
    error propagates exactly), anchored at x = 0 by the second virial coefficient ``b2``,
    integrated exactly."""
    from scipy.interpolate import LSQUnivariateSpline
    xs = np.asarray(xs, dtype=float)
    y = (np.asarray(z) - 1.0) / xs
    err = np.maximum(np.asarray(dz) / xs, 1e-9)
    xa = np.concatenate([[0.0], xs])
    ya = np.concatenate([[second_virial(p) if b2 is None else b2], y])
    ea = np.concatenate([[err.min() / 10.0], err])
    knots, last = [], 0.0
    for a in np.arange(0.1, xs[-1], 0.1):     # every knot interval holds at least two points
        if np.sum((xs > last) & (xs <= a + 1e-9)) >= 2 and np.sum(xs > a + 1e-9) >= 2:
            knots.append(a)
            last = a
    spline = LSQUnivariateSpline(xa, ya, knots, w=1.0 / ea, k=3)
    anti = spline.antiderivative()
    return anti(xs) - anti(0.0), spline


def combine(runs):
    """Inverse-variance mean and its error of independent (Z, dZ) runs."""
    z = np.array([r[0] for r in runs])
    w = 1.0 / np.array([r[1] for r in runs]) ** 2
    return float(np.sum(w * z) / np.sum(w)), float(1.0 / np.sqrt(np.sum(w)))


def value_at(p, xs, z, dz, x, b2=None):
    """beta F_ex at ``x`` from the fit (exact, not interpolated between grid points)."""
    return float(column(p, xs, z, dz, [x], b2)[0])


def sensitivities(p, xs, z, dz, x_eval):
    """d beta F_ex(x_eval) / d Z_i for every grid point (the fit is linear in Z)."""
    b2 = second_virial(p)
    base = value_at(p, xs, z, dz, x_eval, b2)
    g = np.empty(len(xs))
    for i in range(len(xs)):
        zz = np.array(z, dtype=float)
        zz[i] += 1.0
        g[i] = value_at(p, xs, zz, dz, x_eval, b2) - base
    return g


def run_cost(x, atoms, steps):
    """Relative cost of one run: atoms x steps x (10 + neighbours within the cutoff + skin)."""
    return atoms * steps * (10.0 + 153.0 * x)


def read_runs(path, kind="Z0"):
    """{p: {x: (Z, dZ)}} from the ``# Z0`` (base runs) or ``# Z`` (combined) lines of a table;
    tables written before the distinction hold base runs in ``# Z`` lines."""
    import re
    text = Path(path).read_text()
    pattern = re.compile(r"^# (Z0?) p=(\d+) x=([\d.]+): ([\d.]+) \+- ([\d.]+)", re.M)
    found = pattern.findall(text)
    if kind == "Z0" and not any(k == "Z0" for k, *_ in found):
        kind = "Z"
    out = {}
    for k, p, x, z, e in found:
        if k == kind:
            out.setdefault(int(p), {})[round(float(x), 4)] = (float(z), float(e))
    return out


def refine(p, base, target, x_eval, atoms, steps, workers, work, log=print, xs=None):
    """Add runs to column ``p`` until the propagated error of beta F_ex(x_eval) is below
    ``target``.  ``base``: {x: (Z, dZ)} runs to start from (the table's), or None to use only
    runs of ``atoms`` and ``steps`` (one per point of ``xs`` first; runs of one size only, so
    that a finite-size difference between sizes cannot bias the mix).  Returns {x: [runs]}."""
    from concurrent.futures import ThreadPoolExecutor
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    xs = np.array(sorted(base) if base is not None else xs, dtype=float)
    runs = {x: ([base[x]] if base is not None else []) for x in xs}
    for f in sorted(work.glob(f"z_p{p}_x*_n{atoms}_s{steps}_r*.json")):
        x = round(float(f.name.split("_x")[1].split("_")[0]), 4)
        if x in runs:
            runs[x].append(tuple(json.loads(f.read_text())))

    def name(x, seed):
        return work / f"z_p{p}_x{x:.4f}_n{atoms}_s{steps}_r{seed}.json"

    def new_seed(x):
        """The next seed without a run at x: every run is independent (LAMMPS is deterministic
        for a given seed, so a repeated seed would count one run twice)."""
        seed = 1001
        while name(x, seed).exists():
            seed += 1
        return seed

    def one(x, seed):
        out = compressibility(p, x, atoms, steps, seed=seed, workdir=work)
        name(x, seed).write_text(json.dumps(out))
        return x, out

    first = [x for x in xs if not runs[x]]
    if first:
        log(f"p = {p}: one run at each of {len(first)} points first")
        with ThreadPoolExecutor(workers) as pool:
            for x, out in pool.map(lambda x: one(x, new_seed(x)), first):
                runs[x].append(out)
    n_base = 1 if base is not None else 0
    while True:
        z, dz = map(np.array, zip(*(combine(runs[x]) for x in xs)))
        g = sensitivities(p, xs, z, dz, x_eval)
        error = float(np.sqrt(np.sum(g * g * dz * dz)))
        log(f"p = {p}: beta F_ex({x_eval}) = {value_at(p, xs, z, dz, x_eval):.5f} "
            f"+- {error:.5f} ({sum(len(r) for r in runs.values())} runs)")
        if error <= target:
            return runs
        gain = np.empty(len(xs))
        for i, x in enumerate(xs):
            new = [r[1] ** 2 for r in runs[x][n_base:]]
            # variance of one new run: from earlier new runs, else the base run scaled by the sampling
            v1 = np.mean(new) if new else runs[x][0][1] ** 2 * 20000.0 * 1000.0 / (atoms * steps)
            after = 1.0 / (1.0 / dz[i] ** 2 + 1.0 / v1)
            gain[i] = g[i] ** 2 * (dz[i] ** 2 - after) / run_cost(x, atoms, steps)
        pick = [xs[i] for i in np.argsort(gain)[::-1][:workers]]
        seeds = {x: new_seed(x) for x in pick}
        with ThreadPoolExecutor(len(pick)) as pool:
            for x, out in pool.map(lambda x: one(x, seeds[x]), pick):
                runs[x].append(out)


OUTPUT_STEP = 0.005   # the columns are written on this grid: interpolating between measured points
                      # (0.025-0.05 apart) would add errors of ~1e-3 in beta F_ex


def output_grid(xs):
    """The x grid of the table's columns: OUTPUT_STEP apart across the measured range."""
    return np.round(np.arange(xs[0], xs[-1] + 1e-9, OUTPUT_STEP), 4)


def column(p, xs, z, dz, x_out, b2=None):
    """beta F_ex of column ``p`` on ``x_out`` from the fit of the runs at ``xs``."""
    spline = integrate(p, xs, z, dz, b2)[1].antiderivative()
    return spline(np.asarray(x_out, dtype=float)) - spline(0.0)


def _write_table(output, ps, xs, columns, base, combined, made_by):
    lines = ["# Excess free energy beta*F_ex of the Uhlenbeck-Ford fluid vs x = (1/2)(pi sigma^2)^(3/2) rho",
             f"# made by: {made_by}  ({datetime.date.today()})",
             f"# LAMMPS NVT (Langevin), pair_style ufm, cutoff 4 sigma, T = {TEMPERATURE} K, sigma = {SIGMA} A, "
             f"mass {MASS} amu; Z0: the base run per point, Z: all runs of the point combined"]
    for p in ps:
        for x in xs:
            lines.append(f"# Z0 p={p} x={x:.4f}: {base[p][x][0]:.6f} +- {base[p][x][1]:.6f}")
    for p in ps:
        for x in xs:
            z, e, n = combined[p][x]
            lines.append(f"# Z p={p} x={x:.4f}: {z:.6f} +- {e:.6f} ({n} runs)")
    lines.append("x," + ",".join(f"p={p}" for p in ps))
    for k, x in enumerate(output_grid(xs)):
        lines.append(f"{x:.4f}," + ",".join(f"{columns[p][k]:.6f}" for p in ps))
    Path(output).write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, nargs="+", default=[25, 50, 75, 100])
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--output", default=str(UF_TABLE))
    ap.add_argument("--workdir", default="uf_table_work", help="every computed Z is kept here; a rerun continues")
    ap.add_argument("--refine-p", type=int, nargs="+", default=None,
                    help="refine these columns of the existing table (--table) instead of computing the grid")
    ap.add_argument("--target-error", type=float, default=0.001, help="refinement: error of beta F_ex(x_eval)")
    ap.add_argument("--x-eval", type=float, default=1.0, help="refinement: where the error is measured")
    ap.add_argument("--table", default=str(UF_TABLE), help="refinement: the table whose base runs start it")
    ap.add_argument("--fresh", action="store_true",
                    help="refinement: use only runs of --atoms and --steps (the table's base runs left out)")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.refine_p:
        base = read_runs(args.table, "Z0")
        ps = sorted(base)
        xs = sorted(base[ps[0]])
        combined, columns = {}, {}
        for p in ps:
            runs = {x: [base[p][x]] for x in xs}
            if p in args.refine_p:
                runs = refine(p, None if args.fresh else base[p], args.target_error, args.x_eval, args.atoms,
                              args.steps, args.workers, work / f"p{p}", log=lambda m: print(m, flush=True), xs=xs)
            comb = {x: combine(runs[x]) + (len(runs[x]),) for x in xs}
            combined[p] = comb
            columns[p] = column(p, xs, [comb[x][0] for x in xs], [comb[x][1] for x in xs], output_grid(xs))
        made_by = (f"python -m pyiron_mtp.free_energy.make_uf_table --refine-p {' '.join(map(str, args.refine_p))} "
                   f"--target-error {args.target_error} --x-eval {args.x_eval} --atoms {args.atoms} "
                   f"--steps {args.steps}" + (" --fresh" if args.fresh else "")
                   + " (base runs: 1000 atoms, 20000 steps after 5000"
                   + ("; not used in the refined columns)" if args.fresh else ")"))
        _write_table(args.output, ps, xs, columns, base, combined, made_by)
        print(f"written {args.output}")
        return

    def cached(p, x):
        f = work / f"z_p{p}_x{x:.4f}_n{args.atoms}_s{args.steps}.json"
        if f.exists():
            return tuple(json.loads(f.read_text()))
        out = compressibility(p, x, args.atoms, args.steps)
        f.write_text(json.dumps(out))
        return out

    base, combined, columns = {}, {}, {}
    for p in args.p:
        with ThreadPoolExecutor(args.workers) as pool:
            res = list(pool.map(lambda x: cached(p, x), X_GRID))
        base[p] = {x: r for x, r in zip(X_GRID, res)}
        combined[p] = {x: r + (1,) for x, r in zip(X_GRID, res)}
        columns[p] = column(p, X_GRID, [r[0] for r in res], [r[1] for r in res], output_grid(X_GRID))
        print(f"p = {p}: b2 = {second_virial(p):.4f}, beta F_ex(x = 0.7) = "
              f"{column(p, X_GRID, [r[0] for r in res], [r[1] for r in res], [0.7])[0]:.4f}", flush=True)
    made_by = (f"python -m pyiron_mtp.free_energy.make_uf_table --p {' '.join(map(str, args.p))} "
               f"--atoms {args.atoms} --steps {args.steps}")
    _write_table(args.output, args.p, X_GRID, columns, base, combined, made_by)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
