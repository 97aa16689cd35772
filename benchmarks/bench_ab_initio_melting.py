"""An ab initio melting point of Al with GPAW as the reference, end to end
(:func:`pyiron_mtp.free_energy.ab_initio.ab_initio_melting_point`): an MTP learned on the fly from
GPAW in 32-atom cells (crystal heated through T_m, liquid cooled), its T_m from free energies
(500-atom solid and liquid, size check), upsampling to GPAW by free-energy perturbation on MD
snapshots of a 32-atom solid and a 32-atom liquid at T_m(MTP), and T_m(GPAW).

GPAW settings (stated, not converged): LDA, plane waves 250 eV, 2x2x2 Monkhorst-Pack k-points for
the 32-atom cells (about 4x4x4 of the 4-atom cubic cell), Fermi-Dirac smearing 0.1 eV, default
SCF criteria, one process per calculation and ``--workers`` calculations at once.  These settings
cost 1-3 minutes per 32-atom calculation on one core of this machine; converged settings (600 eV,
k-point density 3-4x higher) would shift the free energies of both phases.

Needs GPAW: ``apt-get install libxc-dev libopenblas-dev libfftw3-dev`` then ``pip install
".[gpaw]" gpaw-data``.  Resumable: every stage and every GPAW result is kept in ``--workdir``;
rerun the same command to continue.

    python benchmarks/bench_ab_initio_melting.py [--workdir bench_ab_initio_melting] [--workers 2]

Last line: ``tm_dft=... tm_dft_err=... tm_mtp=... tm_mtp_err=... df_solid_mev=... df_solid_err_mev=...
df_liquid_mev=... df_liquid_err_mev=... reference_calls=... hours=...``
Reference: experiment 933.5 K; Zhu et al., PRB 101, 144108 (2020): converged LDA and GGA values
bracket the experimental melting point.
"""
import argparse
import json
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench_ab_initio_melting")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ecut", type=float, default=250.0)
    ap.add_argument("--kpts", type=int, default=2)
    ap.add_argument("--xc", default="LDA")
    ap.add_argument("--snapshots", type=int, default=24)
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--max-iterations", type=int, default=12)
    args = ap.parse_args()
    from pyiron_mtp.dft import GpawReference
    from pyiron_mtp.free_energy.ab_initio import ab_initio_melting_point
    work = Path(args.workdir)
    ref = GpawReference(args.xc, ecut=args.ecut, kpts=(args.kpts,) * 3)
    res = ab_initio_melting_point(ref, ["Al"], "fcc", temperatures=(300.0, 1500.0), workdir=work / "stages",
                                  cell_atoms=32, level=args.level, min_dist=2.2, max_dist=5.0, learn_steps=3000,
                                  max_iterations=args.max_iterations, max_selected=8, train_iter=100,
                                  melting_atoms=500, snapshots=args.snapshots, interval=200,
                                  workers=args.workers, progress=True)
    hours = sum(res.minutes.values()) / 60      # wall time of every stage, summed over reruns
    up = res.upsampling
    print(f"settings: GPAW {args.xc}, PW {args.ecut:g} eV, {args.kpts}^3 k-points, 32-atom cells")
    print(f"T_m(MTP) = {res.mtp_melting_temperature:.1f} +- {res.mtp_melting_temperature_error:.1f} K, "
          f"dS = {res.entropy_of_melting / 8.617333e-5:.3f} k_B")
    for phase in ("solid", "liquid"):
        u = up[phase]
        print(f"{phase:6s} dF = {u['delta_f'] * 1e3:+.2f} +- {u['delta_f_error'] * 1e3:.2f} meV/atom (cumulant "
              f"{u['delta_f_cumulant'] * 1e3:+.2f}), std dE {u['std_delta_e'] * 1e3:.2f} meV/atom, "
              f"{u['effective_samples']:.1f} effective of {u['samples']} samples")
    print(f"T_m(GPAW) = {res.melting_temperature:.1f} +- {res.melting_temperature_error:.1f} K")
    print(f"reference calls {json.dumps(res.reference_calls)}")
    for stage, m in res.minutes.items():
        print(f"  {stage:18s} wall {m:7.1f} min, CPU {res.cpu_minutes.get(stage, float('nan')) / 60:6.2f} h")
    print(f"flags: {res.flags}")
    print(f"tm_dft={res.melting_temperature:.1f} tm_dft_err={res.melting_temperature_error:.1f} "
          f"tm_mtp={res.mtp_melting_temperature:.1f} tm_mtp_err={res.mtp_melting_temperature_error:.1f} "
          f"df_solid_mev={up['solid']['delta_f'] * 1e3:.2f} df_solid_err_mev={up['solid']['delta_f_error'] * 1e3:.2f} "
          f"df_liquid_mev={up['liquid']['delta_f'] * 1e3:.2f} df_liquid_err_mev={up['liquid']['delta_f_error'] * 1e3:.2f} "
          f"reference_calls={res.reference_calls['total']} hours={hours:.2f}")


if __name__ == "__main__":
    main()
