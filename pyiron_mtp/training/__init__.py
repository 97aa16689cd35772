"""Fitting MTPs to energies, forces and stresses.

Loss (averaged over the K training structures, each with weight w_k and N_k atoms):

    L = 1/K sum_k w_k [ w_E e_k (E_k - E_k^ref)^2 + w_F f_k sum_i |F_ki - F_ki^ref|^2
                        + w_S s_k ||W_k - W_k^ref||_F^2 ] + l2 ||c_radial||^2

with the virial W (MLIP's PlusStress, eV, full 3x3) and MLIP's weighting schemes:
``vibrations`` (default; e = s = 1/N, f = 1), ``molecules`` (e = f = s = 1) and
``structures`` (energies per atom: e = s = 1/N^2, f = 1/N).  Missing forces or
stresses are masked out.

The model is linear in the species and moment coefficients: for given radial
coefficients they are solved exactly by weighted least squares (variable
projection), and only the radial coefficients are optimised, by L-BFGS with the
exact gradient (envelope theorem: the partial gradient at the optimal linear
coefficients).  The loss is badly conditioned in the radial coefficients (Gauss-Newton
eigenvalues over 5-7 orders of magnitude, plus the null directions of the MTP's gauge),
so by default L-BFGS runs in coordinates whitened by the Gauss-Newton matrix
(:mod:`.curvature`), recomputed every few iterations.  Large sets can be fitted on
growing random subsets first (``sample``, :func:`~.trainer.auto_sample`).

Modules: ``data`` (training structures), ``weights`` (loss weights), ``parallel`` (structures
on the thread pool), ``linear`` (design rows, the linear solve), ``loss`` (loss and gradient),
``curvature`` (Gauss-Newton matrix), ``trainer`` (L-BFGS, :func:`train`), ``errors`` (reports).
"""
from .data import Structure, TrainingDataError, TrainingSet
from .errors import EV_A3_TO_GPA, error_report, error_report_by, largest_errors
from .linear import LinearProblem
from .loss import loss_terms, radial_gradient
from .trainer import Trainer, initialise_radial, train
from .weights import WEIGHTINGS, LossWeights

__all__ = ["TrainingSet", "TrainingDataError", "Structure", "Trainer", "train", "initialise_radial", "LossWeights",
           "WEIGHTINGS", "LinearProblem", "loss_terms", "radial_gradient", "error_report", "error_report_by",
           "largest_errors", "EV_A3_TO_GPA"]
