import numpy as np
import pytest

from pyiron_mtp import MTP
from pyiron_mtp.cfg import read_cfg
from pyiron_mtp.cli import main
from conftest import data_file


def test_calc_efs_cfg_matches_calculator(tmp_path):
    pot_path = data_file("mlearn", "published_mtp", "Li.mtp")
    src = data_file("mlearn", "Li_test.extxyz")
    out = tmp_path / "out.cfg"
    assert main(["calc-efs", str(pot_path), str(src), str(out), "-q"]) == 0
    frames = read_cfg(out, species=["Li"])
    assert len(frames) == 29
    pot = MTP.from_file(pot_path, species=["Li"])
    a = frames[3]
    res = pot.evaluate(a.positions, a.cell.array, a.pbc, np.zeros(len(a), int))
    assert a.get_potential_energy() == pytest.approx(res.energy, abs=1e-8)
    assert np.allclose(a.get_forces(), res.forces, atol=1e-7)
    text = out.read_text()
    assert "PlusStress" in text and "EFS_by\tpyiron_mtp" in text


def test_calc_efs_extxyz_output_and_species(tmp_path):
    src = data_file("emt_cu", "test.cfg")
    pot = tmp_path / "p.mtp"
    assert main(["level", "8", "--species", "Cu", "--min-dist", "2", "--max-dist", "5", "-o", str(pot)]) == 0
    out = tmp_path / "o.extxyz"
    assert main(["calc-efs", str(pot), str(src), str(out), "--species", "Cu", "-q"]) == 0
    import ase.io
    frames = ase.io.read(out, ":")
    assert len(frames) == 50 and frames[0].get_chemical_symbols()[0] == "Cu"


def test_level_and_convert(tmp_path, capsys):
    out = tmp_path / "l16.mtp"
    assert main(["level", "16", "--species", "Al", "Cu", "--min-dist", "2", "--max-dist", "5", "-o", str(out)]) == 0
    pot = MTP.from_file(out, species=["Al", "Cu"])
    assert pot.n_basis == 92 and pot.species_count == 2 and not pot.trained
    xyz = tmp_path / "t.extxyz"
    assert main(["convert", str(data_file("emt_cu", "test_CuAg.cfg")), str(xyz), "--species", "Cu", "Ag"]) == 0
    back = tmp_path / "back.cfg"
    assert main(["convert", str(xyz), str(back), "--species", "Cu", "Ag"]) == 0
    a = read_cfg(data_file("emt_cu", "test_CuAg.cfg"), species=["Cu", "Ag"])
    b = read_cfg(back, species=["Cu", "Ag"])
    assert len(a) == len(b)
    assert np.allclose(a[7].get_forces(), b[7].get_forces(), atol=1e-8)
    assert a[7].get_chemical_symbols() == b[7].get_chemical_symbols()


def test_cli_errors(tmp_path, capsys):
    assert main(["calc-efs", str(tmp_path / "missing.mtp"), "x.cfg", "y.cfg"]) == 2
    assert "no such file" in capsys.readouterr().err.lower()
    pot = tmp_path / "p.mtp"
    main(["level", "6", "--species", "Cu", "Ag", "--min-dist", "2", "--max-dist", "5", "-o", str(pot)])
    src = data_file("mlearn", "Li_test.extxyz")
    with pytest.raises(SystemExit, match="--species"):
        main(["calc-efs", str(pot), str(src), str(tmp_path / "o.cfg")])
    assert main(["calc-efs", str(pot), str(src), str(tmp_path / "o.cfg"), "--species", "Cu", "Ag"]) == 2
    assert "not in the potential's species" in capsys.readouterr().err


def test_demo_small(tmp_path, capsys):
    from pyiron_mtp.demo import run
    rep = run(output=tmp_path / "demo", level=8, n_train=8, n_test=4, max_iter=10, progress=False)
    assert rep["n_structures"] == 4
    assert rep["force_rmse"] < 0.1  # EMT forces are ~1 eV/A; a level-8 fit gets within a few per cent
    for name in ("Cu.mtp", "parity.png", "learning_curve.png"):
        assert (tmp_path / "demo" / name).exists()
    assert "test RMSE" in capsys.readouterr().out


def test_cli_errors_by_group(tmp_path, capsys):
    """`errors --by KEY`: one report per group; the groups' squared errors add up to the total."""
    import json
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import write
    from ase.calculators.singlepoint import SinglePointCalculator
    images = []
    for k in range(6):
        a = bulk("Cu", "fcc", a=3.6 + 0.02 * k, cubic=True).repeat((2, 1, 1))
        a.rattle(0.05 * (k % 3), seed=k)
        a.calc = EMT()
        e, f, st = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=st)
        if k != 5:
            a.info["config_type"] = "rattled" if k % 3 else "ideal"
        images.append(a)
    data = tmp_path / "d.extxyz"
    write(data, images)
    pot = tmp_path / "p.mtp"
    main(["level", "6", "--species", "Cu", "--min-dist", "2", "--max-dist", "5", "-o", str(pot)])
    capsys.readouterr()
    assert main(["errors", str(pot), str(data), "--by", "config_type", "--json"]) == 0
    reps = json.loads(capsys.readouterr().out)
    assert list(reps) == ["ideal", "rattled", "(none)", "all"]
    assert [reps[g]["n_structures"] for g in ("ideal", "rattled", "(none)")] == [2, 3, 1]
    total = sum(reps[g]["n_structures"] * reps[g]["energy_rmse"] ** 2 for g in ("ideal", "rattled", "(none)"))
    assert np.isclose(total / 6, reps["all"]["energy_rmse"] ** 2, rtol=1e-10)
    assert main(["errors", str(pot), str(data), "--by", "config_type"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("config_type=ideal")


def test_errors_worst_structures(tmp_path, capsys):
    """`errors --worst N`: structures sorted by |energy error|, errors equal to a direct
    evaluation, and the shares of all structures add up to the squared RMSE."""
    import json
    import ase.io
    from pyiron_mtp.training import largest_errors
    pot_path = data_file("mlearn", "published_mtp", "Li.mtp")
    src = data_file("mlearn", "Li_test.extxyz")
    assert main(["errors", str(pot_path), str(src), "--worst", "3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    worst = rep["worst"]
    assert len(worst) == 3
    assert [abs(r["energy_error"]) for r in worst] == sorted((abs(r["energy_error"]) for r in worst), reverse=True)
    pot = MTP.from_file(pot_path, species=["Li"])
    images = ase.io.read(src, ":")
    a = images[worst[0]["index"]]
    res = pot.evaluate(a.positions, a.cell.array, a.pbc, np.zeros(len(a), int))
    assert worst[0]["energy_error"] == pytest.approx(1000 * (res.energy - a.get_potential_energy()) / len(a), rel=1e-9)
    assert worst[0]["force_rmse"] == pytest.approx(np.sqrt(np.mean((res.forces - a.get_forces()) ** 2)), rel=1e-9)
    everything = largest_errors(pot, images, n=len(images))
    assert len(everything) == len(images)
    assert sum(r["energy_share"] for r in everything) == pytest.approx(1.0, rel=1e-12)
    assert np.sqrt(np.mean([r["energy_error"] ** 2 for r in everything])) == pytest.approx(rep["energy_rmse"], rel=1e-10)
    assert main(["errors", str(pot_path), str(src), "--worst", "3", "--by", "config_type", "--json"]) == 0
    by = json.loads(capsys.readouterr().out)
    assert by["worst"] == worst and "worst" not in by["all"]
    assert main(["errors", str(pot_path), str(src), "--worst", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[1].startswith("largest energy errors")
    with pytest.raises(ValueError, match="at least 1"):
        largest_errors(pot, images, n=0)


def test_free_energy_cli_default_folders_follow_the_settings(tmp_path, monkeypatch, capsys):
    """Two calls with other settings in one folder both run (each in a folder named after its
    settings); repeating the first reads it back."""
    import json
    monkeypatch.chdir(tmp_path)
    base = ["free-energy", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--phase", "solid", "--repeats", "1",
            "--equilibration-steps", "400", "--switching-steps", "400", "--switching-doublings", "0", "--json"]
    assert main(base + ["--temperature", "600", "--atoms", "32"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(base + ["--temperature", "900", "--atoms", "108"]) == 0
    capsys.readouterr()
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(f.startswith("free_energy_solid_fcc_") for f in folders)
    assert any("600K_32atoms" in f for f in folders) and any("900K_108atoms" in f for f in folders)
    stamps = {p: p.stat().st_mtime for p in tmp_path.rglob("result.json")}
    assert main(base + ["--temperature", "600", "--atoms", "32"]) == 0
    assert json.loads(capsys.readouterr().out)["free_energy"] == first["free_energy"]
    assert {p: p.stat().st_mtime for p in tmp_path.rglob("result.json")} == stamps


def test_default_folder_takes_600_and_600_0_as_one_setting(tmp_path, monkeypatch):
    """A Python call with 600 and a CLI call with 600.0 share their default folder; a folder named by
    the earlier hash (which told them apart) is found and continued rather than started afresh."""
    import hashlib
    import json
    from pathlib import Path
    from pyiron_mtp.free_energy.engine import default_workdir
    from pyiron_mtp.free_energy.potential import LammpsPotential
    monkeypatch.chdir(tmp_path)
    pot = LammpsPotential.from_eam("Cu_mishin1.eam.alloy", ["Cu"])
    settings = dict(phase="solid", lattice="fcc", atoms=500, pressure=0, protocol={"timestep": 1, "steps": 20000})
    a, b = default_workdir("free_energy", pot, temperature=600, **settings), default_workdir(
        "free_energy", pot, temperature=600.0, **{**settings, "atoms": 500.0, "pressure": 0.0})
    assert a == b and a.name.startswith("free_energy_solid_fcc_600K_500atoms_0GPa_")
    assert default_workdir("free_energy", pot, temperature=601, **settings) != a
    raw = dict(settings, temperature=600)
    blob = json.dumps(raw, sort_keys=True, default=str) + pot.fingerprint()
    legacy = Path(a.name.rsplit("_", 1)[0] + "_" + hashlib.sha1(blob.encode()).hexdigest()[:10])
    assert legacy != a
    legacy.mkdir()
    assert default_workdir("free_energy", pot, temperature=600, **settings) == legacy
    a.mkdir()                                              # both exist: the new name wins
    assert default_workdir("free_energy", pot, temperature=600, **settings) == a


def test_melting_point_cli_prints_both_methods(monkeypatch, capsys, tmp_path):
    """The CLI hands its options to melting_point and prints coexistence, free energies, the size
    correction and the work folder; --json keeps the keys external checks read."""
    import json
    from pyiron_mtp.free_energy import melting
    from pyiron_mtp.free_energy.coexistence import CoexistenceResult
    from pyiron_mtp.free_energy.engine import FreeEnergyResult
    seen = {}

    def fake(pot, lattice, guess, **kw):
        seen.update(kw, lattice=lattice, guess=guess, style=pot.style)
        t = np.linspace(1250, 1400, 5)
        g = FreeEnergyResult("solid", 1250, 0.0, -4.0 - 1e-4 * (t - 1250), np.full(5, 1e-4), temperatures=t,
                             volume=12.6)
        coex = CoexistenceResult(1327.0, 5.0, 2016, "fcc", [{"start_temperature": 1363, "trace": []}])
        fs = {"atoms": [500, 2048], "melting_temperature_uncorrected": 1340.0, "correction": -10.0,
              "correction_error": 2.0}
        lf = None if kw.get("liquid_size_check_atoms") is None else {
            "atoms": [kw["liquid_atoms"], kw["liquid_size_check_atoms"]], "correction": -2.5, "correction_error": 1.5,
            "temperature": 1400.0}
        return melting.MeltingResult(1330.0, 3.0, 0.124, 9.3e-5, t, g, g, [[1250, 1400]], ["a flag"], lattice="fcc",
                                     method=kw["method"], coexistence=coex, workdir=str(tmp_path), finite_size=fs,
                                     comparison=melting.compare_methods(1330.0, 3.0, coex), liquid_finite_size=lf)
    monkeypatch.setattr(melting, "melting_point", fake)
    assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--size-check-atoms", "2048",
                 "--coexistence-atoms", "1500", "--coexistence-repeats", "2", "--competing", "bcc,fcc"]) == 0
    out = capsys.readouterr().out
    assert "coexistence (2016 atoms, fcc): T_m = 1327.0 +- 5.0 K" in out and "T_m = 1330.0 +- 3.0 K" in out
    assert "corrected -10.0 +- 2.0 K" in out and f"stages kept in {tmp_path}" in out and "warning: a flag" in out
    assert "methods compared: coexistence (1327.0 +- 5.0 K, 2016 atoms) and free energies (1330.0 +- 3.0 K) " \
           "differ by +3.0 K" in out
    assert seen["method"] == "both" and seen["guess"] is None and seen["size_check_atoms"] == 2048
    assert seen["coexistence_atoms"] == 1500 and seen["coexistence_repeats"] == 2 and seen["workdir"] is None and seen["style"] == "eam/alloy"
    assert seen["competing_lattices"] == ("bcc", "fcc")
    assert seen["target_error"] == 5.0 and seen["max_repeats"] == "auto"
    assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--target-error", "none",
                 "--max-repeats", "12"]) == 0
    capsys.readouterr()
    assert seen["target_error"] is None and seen["max_repeats"] == 12
    assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--target-error", "2.5"]) == 0
    capsys.readouterr()
    assert seen["target_error"] == 2.5 and seen["liquid_size_check_atoms"] is None and seen["liquid_atoms"] is None
    assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--liquid-atoms", "864",
                 "--liquid-size-check-atoms", "3456"]) == 0
    assert "864-atom liquid corrected -2.5 +- 1.5 K with a 3456-atom liquid at 1400 K" in capsys.readouterr().out
    assert seen["liquid_atoms"] == 864 and seen["liquid_size_check_atoms"] == 3456
    for bad, message in ((["--target-error", "-1"], "expected"), (["--max-repeats", "0"], "expected"),
                         (["--solid-reference", "1.5"], "solid_reference must be"),
                         (["--solid-reference", "low"], "solid_reference must be")):
        with pytest.raises(SystemExit):
            main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu"] + bad)
        assert message in capsys.readouterr().err
    assert seen["solid_reference"] == "auto"
    for text, value in (("window", "window"), ("0.6", 0.6)):
        assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--solid-reference",
                     text]) == 0
        capsys.readouterr()
        assert seen["solid_reference"] == value
    assert main(["melting-point", "--eam", "Cu_mishin1.eam.alloy", "--species", "Cu", "--json",
                 "--method", "free_energy", "--guess", "1300"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert seen["competing_lattices"] == "auto"
    for key in ("melting_temperature", "melting_temperature_error", "latent_heat", "entropy_of_melting", "windows",
                "flags", "solid_free_energy_at_tm", "solid_volume", "liquid_volume"):
        assert key in data
    assert data["coexistence"]["melting_temperature"] == 1327.0 and seen["method"] == "free_energy"


def test_hull_cli_final_relaxations(tmp_path, capsys):
    """`pyiron-mtp hull` with EMT: the survivors' relaxations from the MTP's Hessian (default)
    and plain BFGS find the same vertices; the assisted ones with no more final reference calls."""
    import json
    out = {}
    for mode in ("assisted", "plain"):
        assert main(["hull", "Cu", "Au", "--lattices", "fcc", "--max-atoms", "3", "--reference", "emt",
                     "--level", "6", "--workers", "1", "--workdir", str(tmp_path / mode), "--json",
                     "--final-relaxation", mode]) == 0
        out[mode] = json.loads(capsys.readouterr().out)
    a, p = out["assisted"], out["plain"]
    assert a["survivors"] == p["survivors"] > 0
    assert sorted(v["id"] for v in a["vertices"]) == sorted(v["id"] for v in p["vertices"])
    for va, vp in zip(sorted(a["vertices"], key=lambda v: v["id"]), sorted(p["vertices"], key=lambda v: v["id"])):
        assert va["formation_energy"] == pytest.approx(vp["formation_energy"], abs=2e-4)
    assert a["reference_calls"]["training"] == p["reference_calls"]["training"]
    assert 0 < a["reference_calls"]["final"] <= p["reference_calls"]["final"]
    with pytest.raises(SystemExit):
        main(["hull", "Cu", "Au", "--reference", "emt", "--final-relaxation", "newton"])
