"""The Uhlenbeck-Ford table's construction: the integral, the error propagation and the
refinement that adds runs where they lower the error most (LAMMPS replaced by a model Z)."""
import numpy as np
import pytest

from pyiron_mtp.free_energy import make_uf_table as uf
from pyiron_mtp.free_energy.reference import UF_TABLE, uf_table


def _model_z(x, b2=6.0, c=9.0, d=-1.5):
    """A smooth compressibility factor with the right x -> 0 limit: (Z - 1)/x = b2 + c x + d x^2."""
    return 1.0 + b2 * x + c * x * x + d * x ** 3


def test_integral_of_exact_data_is_exact():
    """beta F_ex = int_0^x (Z - 1)/x' dx' = b2 x + c x^2 / 2 + d x^3 / 3 for the model."""
    xs = uf.X_GRID
    z = _model_z(xs)
    f, spline = uf.integrate(50, xs, z, np.full(len(xs), 1e-3), b2=6.0)
    assert np.allclose(f, 6.0 * xs + 4.5 * xs ** 2 - 0.5 * xs ** 3, atol=1e-9)
    # the fit is linear in Z: sensitivities sum to the response to a uniform shift
    g = uf.sensitivities(50, xs, z, np.full(len(xs), 1e-3), 0.7)
    shifted = uf.integrate(50, xs, z + 1e-3, np.full(len(xs), 1e-3), b2=uf.second_virial(50))[0]
    base = uf.integrate(50, xs, z, np.full(len(xs), 1e-3), b2=uf.second_virial(50))[0]
    assert np.interp(0.7, xs, shifted - base) == pytest.approx(1e-3 * g.sum(), rel=1e-6)


def test_error_propagation_matches_scatter_of_noisy_tables():
    """sqrt(sum g_i^2 dZ_i^2) is the standard deviation of beta F_ex over noisy repetitions."""
    xs = uf.X_GRID
    dz = 0.002 * np.ones(len(xs))
    g = uf.sensitivities(50, xs, _model_z(xs), dz, 0.7)
    predicted = np.sqrt(np.sum(g * g * dz * dz))
    rng = np.random.default_rng(3)
    values = [np.interp(0.7, xs, uf.integrate(50, xs, _model_z(xs) + rng.normal(0, dz), dz, b2=6.0)[0])
              for _ in range(300)]
    assert np.std(values) == pytest.approx(predicted, rel=0.15)
    assert np.mean(values) == pytest.approx(6.0 * 0.7 + 4.5 * 0.49 - 0.5 * 0.343, abs=4 * predicted / np.sqrt(300))


def test_combine_is_the_inverse_variance_mean():
    z, e = uf.combine([(1.0, 0.1), (2.0, 0.2)])
    assert z == pytest.approx((1.0 / 0.01 + 2.0 / 0.04) / (1 / 0.01 + 1 / 0.04))
    assert e == pytest.approx(1.0 / np.sqrt(1 / 0.01 + 1 / 0.04))


def test_refinement_reaches_the_target_and_continues_from_its_folder(tmp_path, monkeypatch):
    xs = np.round(np.arange(0.05, 1.01, 0.05), 4)
    calls = []

    def fake(p, x, atoms, steps, seed=1, workdir=None, **kw):
        calls.append(x)
        rng = np.random.default_rng(seed * 1000 + int(x * 1e4))
        return float(_model_z(x) + rng.normal(0, 0.004)), 0.004

    monkeypatch.setattr(uf, "compressibility", fake)
    monkeypatch.setattr(uf, "second_virial", lambda p: 6.0)
    base = {x: (float(_model_z(x)), 0.01) for x in xs}
    g = uf.sensitivities(50, xs, [base[x][0] for x in xs], [0.01] * len(xs), 0.9)
    start = np.sqrt(np.sum(g * g)) * 0.01
    target = start / 2
    runs = uf.refine(50, base, target, 0.9, atoms=1000, steps=20000, workers=2, work=tmp_path, log=lambda m: None)
    z, dz = map(np.array, zip(*(uf.combine(runs[x]) for x in xs)))
    g = uf.sensitivities(50, xs, z, dz, 0.9)
    assert np.sqrt(np.sum(g * g * dz * dz)) <= target
    n = len(calls)
    assert n > 0 and len(list(tmp_path.glob("z_p50_*_r*.json"))) == n
    # the runs were placed where they help per cost: the dilute end got more than the dense end
    assert sum(len(runs[x]) for x in xs if x <= 0.3) > sum(len(runs[x]) for x in xs if x >= 0.7)
    # a rerun reads every run back and computes nothing new
    again = uf.refine(50, base, target, 0.9, atoms=1000, steps=20000, workers=2, work=tmp_path, log=lambda m: None)
    assert len(calls) == n and sum(map(len, again.values())) == sum(map(len, runs.values()))


def test_fresh_refinement_uses_runs_of_one_size_only(tmp_path, monkeypatch):
    """base=None: one run of the given size at every point first, no base run mixed in."""
    xs = np.round(np.arange(0.1, 1.01, 0.1), 4)
    sizes = []

    def fake(p, x, atoms, steps, seed=1, workdir=None, **kw):
        sizes.append(atoms)
        return float(_model_z(x) + np.random.default_rng(seed + int(1e4 * x)).normal(0, 0.003)), 0.003

    monkeypatch.setattr(uf, "compressibility", fake)
    monkeypatch.setattr(uf, "second_virial", lambda p: 6.0)
    runs = uf.refine(50, None, 1.0, 0.9, atoms=2000, steps=50000, workers=2, work=tmp_path, log=lambda m: None, xs=xs)
    assert sorted(runs) == list(xs) and all(len(r) == 1 for r in runs.values()) and set(sizes) == {2000}
    tight = uf.refine(50, None, 0.004, 0.9, atoms=2000, steps=50000, workers=2, work=tmp_path, log=lambda m: None,
                      xs=xs)
    z, dz = map(np.array, zip(*(uf.combine(tight[x]) for x in xs)))
    assert np.sqrt(np.sum(uf.sensitivities(50, xs, z, dz, 0.9) ** 2 * dz ** 2)) <= 0.004
    assert uf.value_at(50, xs, z, dz, 0.9, b2=6.0) == pytest.approx(6 * 0.9 + 4.5 * 0.81 - 0.5 * 0.729, abs=0.02)


def test_shipped_table_keeps_base_runs_and_matches_its_columns():
    """The columns are the fits of the recorded runs on a fine grid, and the table's interpolation
    (what the liquid's free energy uses) agrees with the fit between grid points to 1e-5."""
    from pyiron_mtp.free_energy.reference import KB, uf_excess_free_energy
    base = uf.read_runs(UF_TABLE, "Z0")
    combined = uf.read_runs(UF_TABLE, "Z")
    xs, columns = uf_table()
    assert sorted(base) == sorted(columns) == [25, 50, 75, 100]
    for p in columns:
        grid = sorted(combined[p])
        assert sorted(base[p]) == grid and np.allclose(xs, uf.output_grid(grid))
        z, dz = zip(*(combined[p][x] for x in grid))
        assert np.allclose(uf.column(p, grid, z, dz, xs), columns[p], atol=2e-6)
        between = np.array([0.3333, 0.6977, 1.0123])
        exact = uf.column(p, grid, z, dz, between)
        table = [uf_excess_free_energy(1000.0, x / (0.5 * (np.pi * 1.5 ** 2) ** 1.5), p=p) / (KB * 1000.0)
                 for x in between]
        assert np.allclose(table, exact, atol=1e-5)
