"""Parity plots and learning curves (matplotlib)."""
from __future__ import annotations

import numpy as np


def pyplot():
    """matplotlib.pyplot, on the Agg backend unless a notebook backend is active."""
    import matplotlib
    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def parity_plot(report, title="", path=None):
    """Predicted vs reference energy per atom, force components and stress.

    ``report``: :func:`pyiron_mtp.training.error_report` with ``per_structure=True``.
    """
    plt = pyplot()
    rows = report["structures"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    e = np.array([(r["energy"], r["energy_ref"]) for r in rows if r["energy_ref"] is not None])
    n = np.array([r["n_atoms"] for r in rows if r["energy_ref"] is not None])
    panels = [("energy (eV/atom)", e[:, 1] / n if len(e) else [], e[:, 0] / n if len(e) else [],
               report["energy_rmse"], "meV/atom")]
    f = [(r["forces"].ravel(), r["forces_ref"].ravel()) for r in rows if r.get("forces_ref") is not None]
    panels.append(("force components (eV/Å)", np.concatenate([x[1] for x in f]) if f else [],
                   np.concatenate([x[0] for x in f]) if f else [], report["force_rmse"], "eV/Å"))
    s = [(r["stress"], r["stress_ref"]) for r in rows if r.get("stress_ref") is not None]
    panels.append(("stress (GPa)", np.concatenate([x[1] for x in s]) if s else [],
                   np.concatenate([x[0] for x in s]) if s else [], report["stress_rmse"], "GPa"))
    for ax, (label, ref, pred, rmse, unit) in zip(axes, panels):
        ref, pred = np.asarray(ref), np.asarray(pred)
        if ref.size:
            lo, hi = min(ref.min(), pred.min()), max(ref.max(), pred.max())
            ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
            ax.scatter(ref, pred, s=6, alpha=0.6)
            ax.set_title(f"RMSE {rmse:.4g} {unit}")
        else:
            ax.set_title("no data")
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"MTP {label}")
    fig.suptitle(title)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig


def learning_curve(history, path=None):
    """Training (and validation) RMSE of energy and forces against iterations."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    it = [h["iteration"] for h in history]
    for ax, key, unit in ((axes[0], "energy_rmse", "meV/atom"), (axes[1], "force_rmse", "eV/Å")):
        tr = [h.get(f"train_{key}") for h in history]
        if any(v is not None for v in tr):
            ax.semilogy(it, [np.nan if v is None else v for v in tr], label="training")
        va = [(h["iteration"], h[f"valid_{key}"]) for h in history if h.get(f"valid_{key}") is not None]
        if va:
            ax.semilogy(*zip(*va), "o-", label="validation")
        for a, b in zip(history, history[1:]):      # fits on growing subsets: where the data grew
            if a.get("fit_atoms") and b.get("fit_atoms") and b["fit_atoms"] != a["fit_atoms"]:
                ax.axvline(b["iteration"], color="0.6", lw=0.8, ls=":")
                ax.annotate(f"{b['fit_atoms']} atoms", (b["iteration"], 1.0), xycoords=("data", "axes fraction"),
                            rotation=90, va="top", ha="right", fontsize=7, color="0.4")
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"RMSE ({unit})")
        ax.legend()
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig
