"""Does switching more slowly change a free energy beyond its noise?

Reads the finished stages of a melting-point matrix work folder (``bench_melting_matrix.py``):
every Frenkel-Ladd or Uhlenbeck-Ford switching that was run again with twice the steps
(folders ``frenkel_ladd`` and ``frenkel_ladd_x2``, ...) gives one pair.  Per pair it prints the
first run's dissipation (meV/atom and as a share of kT), the change of the work
(forward - backward) / 2 when switching twice as slowly, and the noise linear response
predicts for the faster run, sqrt(kT x dissipation / N) per atom (the forward and backward
work each vary by 2 kT N x dissipation).  A change of the mean of these pairs well outside its
standard error would be a bias of fast switching; a ratio change/prediction near 1 is noise.

    python benchmarks/switching_noise.py [--workdir bench_melting_matrix]

Last line: ``pairs=... mean_dw_mev=... sem_dw_mev=... rms_dw_mev=... rms_ratio=... max_dissipation_kt=...``.
"""
import argparse
import json
from pathlib import Path

import numpy as np

KB = 8.617333262e-5


def pairs(work):
    """(folder, T, N, dissipation eV/atom, work change eV/atom) per doubled switching."""
    out = []
    for rep in sorted(Path(work).glob("*/melting/*/rep*")):
        settings = json.loads((rep.parent / "settings.json").read_text())
        for stage in ("frenkel_ladd", "uf_switching"):
            chain = [rep / stage] + [rep / f"{stage}_x{2 ** k}" for k in range(1, 6)]
            runs = [json.loads((c / "result.json").read_text()) for c in chain if (c / "result.json").exists()]
            for a, b in zip(runs, runs[1:]):
                out.append((f"{rep.relative_to(work)}/{stage}", settings["temperature"], settings["atoms"],
                            abs(a["dissipation"]), b["work"] - a["work"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="bench_melting_matrix")
    args = ap.parse_args()
    rows = pairs(args.workdir)
    if not rows:
        raise SystemExit(f"no doubled switchings under {args.workdir}")
    print(f"{'stage':58s} {'T':>6s} {'N':>5s} {'diss meV':>9s} {'% kT':>6s} {'dW meV':>7s} {'noise meV':>9s}")
    dw, noise, share = [], [], []
    for name, t, n, d, w in rows:
        kt = KB * t
        dw.append(w * 1e3)
        noise.append(np.sqrt(kt * d / n) * 1e3)
        share.append(d / kt)
        print(f"{name:58s} {t:6.0f} {n:5d} {d * 1e3:9.2f} {100 * d / kt:6.1f} {w * 1e3:+7.2f} {noise[-1]:9.2f}")
    dw, noise = np.array(dw), np.array(noise)
    print(f"pairs={len(dw)} mean_dw_mev={dw.mean():.2f} sem_dw_mev={dw.std(ddof=1) / np.sqrt(len(dw)):.2f} "
          f"rms_dw_mev={np.sqrt(np.mean(dw ** 2)):.2f} rms_ratio={np.sqrt(np.mean((dw / noise) ** 2)):.2f} "
          f"max_dissipation_kt={max(share):.3f}")


if __name__ == "__main__":
    main()
