"""Training: variable projection and L-BFGS (preconditioned by the Gauss-Newton matrix)
in the radial coefficients; :func:`train` is the entry point."""
from __future__ import annotations

import logging
import time

import numpy as np
import scipy.linalg
import scipy.optimize

from ..baseline import switch_range, unknown_elements
from ..potential import MTP
from .data import TrainingSet
from .errors import train_rmse, loss_and_report
from .linear import LinearProblem
from .loss import loss_terms, radial_gradient
from .weights import LossWeights


log = logging.getLogger(__name__)

# Whitening by a Gauss-Newton matrix estimated on a subset of the structures: directions the
# subset barely sees are not gauge directions (only those at rounding level are left out, not all
# below 1e-9 of the top); small eigenvalues are damped as on the whole set (1e-6 of the top).  A
# damping of 1e-3 slowed the 5-species benchmark 4x near its minimum (loss -10 % against -47 % in 20
# iterations with 1e-7) and a 3-species test set too (benchmarks/RESULTS.md).
SUBSET_WHITENING = {"damping": 1e-6, "null_tol": 1e-14}
# Atoms of the Gauss-Newton subset per (atoms x species / radial coefficients) of the fit data:
# one matrix atom costs about (coefficients / species) site evaluations (curvature._jacobian).
GN_ATOMS_FACTOR = 6
# Subset Gauss-Newton matrices averaged over the last GN_AVERAGE refreshes (each on another random
# subset; 1: the latest alone).  A single ~4 900-atom subset underrates the 45 000-atom matrix's
# curvature 5-33x in a few directions, the mean of three 2.5-8x (benchmarks/gauss_newton_spectrum.py);
# the 30-minute 5-species fit with three: test force RMSE 0.00224 eV/A, with one 0.00242-0.00254 (RESULTS)
GN_AVERAGE = 3
# L-BFGS-B's first trial step after each rebuild of the Gauss-Newton coordinates, as a fraction of
# the Gauss-Newton step (:func:`first_step_scale`); None: L-BFGS-B's own unit step.  On the 5-species
# benchmark 0.5 and 1 saved evaluations after the rebuilds but made less progress per iteration and
# fell behind at equal time (RESULTS.md)
FIRST_STEP = None



def first_step_scale(S, grad, fraction):
    """Factor for the whitened coordinates that makes L-BFGS-B's first trial step ``fraction``
    of the Gauss-Newton step.

    L-BFGS-B starts every run with a step of unit length along the (whitened) gradient g_z = S^T g,
    whatever its size; the Gauss-Newton step in those coordinates is -g_z.  Near the minimum
    |g_z| << 1 and the unit step is many times the Gauss-Newton step (two extra evaluations of backtracking
    after every rebuild).  With theta = theta0 + c S z', c = fraction |g_z|, the unit step is
    ``fraction`` x the Gauss-Newton step; later steps are L-BFGS's own (invariant to c).  None: 1."""
    if fraction is None:
        return 1.0
    norm = float(np.linalg.norm(S.T @ grad))
    return fraction * norm if norm > 0 and np.isfinite(norm) else 1.0


def default_max_memory():
    """A quarter of the machine's physical memory (bytes)."""
    import os
    try:
        return 0.25 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2 ** 30


def initialise_radial(pot: MTP, seed=0, noise=0.05):
    """Deterministic start for the radial coefficients: f_mu ~ Q_mu plus seeded noise;
    ``scaling`` chosen so that the radial functions are of order one."""
    rng = np.random.default_rng(seed)
    C, K, R = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
    c = np.zeros((C, C, K, R))
    for mu in range(K):
        c[:, :, mu, mu % R] = 1.0
    c += noise * rng.standard_normal(c.shape)
    pot.radial_coeffs = c
    pot.scaling = 1.0 / (pot.max_dist - pot.min_dist) ** 2


class _NextSubset(Exception):
    """Raised from the L-BFGS callback: the current subset of the data has taught what it can."""


class Trainer:
    """Variable-projection training of an :class:`MTP`.

    ``weights``: :class:`LossWeights`; ``l2_radial``: L2 penalty on the radial
    coefficients; ``max_memory``: bytes for the design rows (:class:`LinearProblem`; ``"auto"``:
    a quarter of the machine's memory, None: no bound).  ``history`` holds one row per iteration (loss, training and,
    every ``valid_every`` iterations, validation RMSEs); the parameters with the
    lowest validation error (or training loss, without validation data) are kept.
    A potential with a pair baseline (``pot.baseline``) has its MTP part fitted to the
    references minus the baseline; errors are always those of the whole model.
    """

    def __init__(self, pot: MTP, train_set: TrainingSet, valid_set: TrainingSet | None = None,
                 weights: LossWeights | None = None, l2_radial=0.0, max_memory=None):
        self.pot = pot
        self.max_memory = default_max_memory() if max_memory == "auto" else max_memory
        self.data = train_set         # the references (error reports of the whole model use these)
        # what the MTP part is fitted to: the references minus the baseline
        self.fit_data = train_set if pot.baseline is None else train_set.without_baseline(pot.baseline)
        self.valid = valid_set
        self.weights = weights or LossWeights()
        self.l2_radial = float(l2_radial)
        self.history = []
        self._keep_design = False
        self._cache = None  # (theta, loss, gradient, linear problem or None) of the last evaluation
        self.best = None              # (validation score, parameters, iteration): what fit() returns
        self.last_parameters = None   # parameters at the last recorded iteration (to continue from)
        self.stopped_by = None
        self.n_evaluations = 0        # loss evaluations (each one solve of the linear problem)
        for ds in (self.fit_data, valid_set):
            if ds is not None:
                ds.prepare(pot.max_dist)

    # objective of the radial coefficients, linear coefficients solved exactly
    def _objective(self, theta):
        if self._cache is not None and np.array_equal(self._cache[0], theta):
            return self._cache[1], self._cache[2].copy()
        self.n_evaluations += 1
        pot = self.pot
        pot.radial_coeffs = theta.reshape(pot.radial_coeffs.shape).copy()
        lp = LinearProblem(pot, self.fit_data, self.weights, max_memory=self.max_memory)
        x = lp.solve()
        C = pot.species_count
        pot.species_coeffs = x[:C].copy()
        pot.moment_coeffs = x[C:].copy()
        preds = lp.predictions(x)
        loss = loss_terms(self.fit_data, preds, self.weights) + self.l2_radial * float(theta @ theta)
        if not np.isfinite(loss):
            bad = [s.name for s, p in zip(self.fit_data.structures, preds) if not np.isfinite(p[0])]
            raise FloatingPointError(f"the loss is not finite (non-finite predictions for {bad[:5]})")
        grad = radial_gradient(pot, self.fit_data, preds, self.weights)[0].ravel() + 2 * self.l2_radial * theta
        self._last = (loss, train_rmse(self.fit_data, preds))
        # the linear problem is kept only for the curvature of preconditioned training (memory)
        self._cache = (np.array(theta, copy=True), loss, grad.copy(), lp if self._keep_design else None)
        return loss, grad

    def _record(self, iteration, start):
        loss, rmse = self._last
        row = {"iteration": iteration, "time": time.perf_counter() - start, "loss": loss,
               "fit_atoms": self.fit_data.n_atoms, "evaluations": self.n_evaluations,
               **{f"train_{k}": v for k, v in rmse.items()}}
        score = loss
        if self.valid is not None and (iteration % self.valid_every == 0 or iteration == 1):
            score, rep = loss_and_report(self.pot, self.valid, self.weights)   # the loss on the validation set
            row.update({f"valid_{k}": rep[k] for k in ("energy_rmse", "force_rmse", "stress_rmse")})
            row["valid_loss"] = score
        elif self.valid is not None:
            score = None
        self.history.append(row)
        self.last_parameters = self.pot.parameters.copy()
        if score is not None and (self.best is None or score < self.best[0]):
            self.best = (score, self.pot.parameters.copy(), iteration)
            self._since_best = 0
        elif score is not None:
            self._since_best += 1
        return row

    def _subsets(self, sample, seed):
        """Nested random subsets of the fit data with at least ``sample[k]`` atoms each (those
        smaller than the whole set, in increasing order)."""
        if not sample:
            return []
        data = self.fit_data
        order = np.random.default_rng(seed).permutation(len(data))
        cum = np.cumsum([data.structures[k].n_atoms for k in order])
        out = []
        for n in sorted(sample):
            m = int(np.searchsorted(cum, n)) + 1
            if m >= len(data):
                break
            out.append(TrainingSet([data.structures[k] for k in sorted(order[:m])], data.species))
        return out

    def _subset_done(self, first, window, gain):
        """Whether the validation loss of the iterations since ``first`` fell by less than
        ``gain`` of itself over the last ``window`` checks (False before that many checks)."""
        scores = [row["valid_loss"] for row in self.history if row["iteration"] > first and "valid_loss" in row]
        if len(scores) <= window or "valid_loss" not in self.history[-1]:
            return False
        return min(scores) > (1.0 - gain) * min(scores[:-window])

    def fit(self, max_iter=200, progress=True, valid_every=5, patience=None, gtol=1e-9, monitor=None,
            precondition=None, refresh=10, gn_atoms=None, stall=None, max_time=None, sample=None,
            sample_window=2, sample_gain=0.1, seed=0, first_step=FIRST_STEP, gn_average=None):
        """Optimise; returns the potential (with the best parameters seen).

        ``sample``: atom counts of nested random subsets of the training structures to fit
        first, smallest first (e.g. ``[7000, 28000]``), before the whole set: an iteration costs in
        proportion to the atoms, and the early iterations, far from the minimum, need no more
        data than the parameters can learn from.  A subset gives way to the next once the
        validation loss fell by less than ``sample_gain`` (a fraction) over its last
        ``sample_window`` checks or its training loss stalled (``stall``), never by stopping the
        fit; needs validation data (the scores of different subsets are compared on it).
        ``history`` rows carry ``fit_atoms``.
        ``patience``: stop after this many validation checks without improvement.
        ``stall`` (window, fraction): stop once the training loss fell by less than ``fraction``
        of itself over the last ``window`` iterations.  ``max_time``: stop after this many minutes.
        ``monitor(iteration, pot)`` is called after every iteration (read-only use).
        ``precondition``: run L-BFGS in coordinates whitened by the Gauss-Newton matrix of
        the loss (:mod:`.curvature`), recomputed every ``refresh`` iterations on the whole set,
        on a subset (``sample``) proportionally more rarely where its iterations are cheaper than
        the matrix (default: on).
        Its cost grows with the number of radial coefficients times the atoms it is estimated
        on: up to 256 coefficients on all the data, above on a random subset of structures
        (another each time) with ``gn_atoms`` atoms (default: ``GN_ATOMS_FACTOR`` x atoms x species /
        coefficients, at least 2000: the matrix costs a small part of the ``refresh`` iterations
        it serves; on the 5-species benchmark a 6.6x larger subset, 16 500 atoms, converged no faster per
        iteration).
        ``first_step``: L-BFGS-B's first trial step after each rebuild, as a fraction of the
        Gauss-Newton step (:func:`first_step_scale`; None: L-BFGS-B's own unit-length step).
        ``gn_average``: whiten by the mean of the last this many subset matrices (each on another
        subset, on the same fit data; default ``GN_AVERAGE``).
        Ctrl-C stops cleanly and keeps the best parameters.
        """
        from tqdm.auto import tqdm
        self.valid_every = max(1, int(valid_every))
        self._since_best = 0
        pot = self.pot
        theta = pot.radial_coeffs.ravel().copy()
        if precondition is None:
            precondition = True
        full = self.fit_data
        subsets = self._subsets(sample, seed)
        if subsets and self.valid is None:
            raise ValueError("fitting on growing subsets (sample) needs validation data to compare them")
        self.fit_data = subsets[0] if subsets else full
        gn_fixed = gn_atoms
        gn_average = max(1, int(GN_AVERAGE if gn_average is None else gn_average))
        recent = []           # the latest subset Gauss-Newton matrices on the current fit data

        def gn_size(n_atoms):
            if gn_fixed is None and theta.size > 256:
                return max(2000, int(GN_ATOMS_FACTOR * n_atoms * pot.species_count / theta.size))
            return gn_fixed
        gn_atoms = self.gn_atoms = gn_size(self.fit_data.n_atoms)
        gn_whole = gn_size(full.n_atoms)
        stage_start = [0]      # first iteration of the current data set
        self._keep_design = bool(precondition)
        refresh = max(1, int(refresh))
        start = time.perf_counter()
        bar = tqdm(total=max_iter, desc="training", unit="it", disable=not progress)
        it = [0]
        self._objective(theta)
        self._record(0, start)

        def callback(*args, **kwargs):
            it[0] += 1
            row = self._record(it[0], start)
            post = {"loss": f"{row['loss']:.4g}"}
            if row["train_energy_rmse"] is not None:
                post["E meV/at"] = f"{row['train_energy_rmse']:.3g}"
            if row["train_force_rmse"] is not None:
                post["F eV/A"] = f"{row['train_force_rmse']:.3g}"
            if "valid_force_rmse" in row and row["valid_force_rmse"] is not None:
                post["valid F"] = f"{row['valid_force_rmse']:.3g}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
            if monitor is not None:
                monitor(it[0], pot)
            stalled = False
            if stall is not None and it[0] - stage_start[0] >= stall[0]:
                old, new = self.history[-1 - stall[0]]["loss"], row["loss"]
                stalled = old - new < stall[1] * old
            if subsets and (stalled or self._subset_done(stage_start[0], sample_window, sample_gain)):
                raise _NextSubset
            if patience is not None and self._since_best >= patience:
                self.stopped_by = "early stopping"
                raise StopIteration
            if stalled:
                self.stopped_by = f"loss fell by less than {stall[1]:g} of itself in {stall[0]} iterations"
                raise StopIteration
            if max_time is not None and time.perf_counter() - start > 60.0 * max_time:
                self.stopped_by = f"time limit ({max_time:g} min)"
                raise StopIteration

        try:
            while True:  # one L-BFGS run per refresh of the coordinates (a single one without)
                origin, done = theta, it[0]
                if precondition:
                    from .curvature import gauss_newton_matrix, whitening
                    self._objective(origin)  # the model at the segment's start (cached)
                    bar.set_description("training (Gauss-Newton matrix)")
                    H = gauss_newton_matrix(pot, self.fit_data, self.weights, linear_problem=self._cache[3],
                                            max_atoms=gn_atoms, seed=done)
                    subset = gn_atoms is not None and gn_atoms < self.fit_data.n_atoms
                    if subset and gn_average > 1:
                        recent = (recent + [H])[-gn_average:]
                        H = sum(recent) / len(recent)
                    S = whitening(H + 2.0 * self.l2_radial * np.eye(len(H)),
                                  **(SUBSET_WHITENING if subset else {}))
                    scale = first_step_scale(S, self._cache[2], first_step)
                    S = scale * S
                    bar.set_description("training")
                    # as costly against the iterations it serves on a subset as on the whole set:
                    # a subset's iterations are cheaper, its matrix (on gn_atoms) is not
                    every = refresh
                    if self.fit_data is not full:
                        gn_here = gn_atoms or self.fit_data.n_atoms
                        every = max(refresh, round(refresh * gn_here / (gn_whole or full.n_atoms)
                                                   * full.n_atoms / self.fit_data.n_atoms))
                    steps = min(every, max_iter - done)
                else:
                    S, scale = np.eye(theta.size), 1.0
                    steps = max_iter - done

                def objective(z, origin=origin, S=S):
                    loss, grad = self._objective(origin + S @ z)
                    return loss, S.T @ grad

                try:
                    res = scipy.optimize.minimize(objective, np.zeros(S.shape[1]), jac=True, method="L-BFGS-B",
                                                  callback=callback,
                                                  options={"maxiter": steps, "maxfun": 2 * steps + 20,
                                                           "gtol": gtol * scale, "ftol": 1e-14, "maxcor": 30})
                except _NextSubset:
                    # go on from the best parameters seen (by the validation score) on the next subset
                    theta = self.best[1][:theta.size].copy()
                    subsets.pop(0)
                    self.fit_data = subsets[0] if subsets else full
                    self._cache = None
                    self._since_best = 0
                    recent = []
                    stage_start[0] = it[0]
                    gn_atoms = self.gn_atoms = gn_size(self.fit_data.n_atoms)
                    log.info("iteration %d: fitting on %d atoms", it[0], self.fit_data.n_atoms)
                    continue
                theta = origin + S @ res.x
                # done: converged, failed, stopped early, out of iterations, or no progress
                if not precondition or res.status != 1 or it[0] >= max_iter or it[0] == done:
                    self.stopped_by = self.stopped_by or res.message
                    break
        except KeyboardInterrupt:
            self.stopped_by = "interrupted"
            log.warning("training interrupted; keeping the best parameters so far")
        finally:
            bar.close()
            self.fit_data = full      # also when time ran out on a subset
        if self.best is not None:
            pot.parameters = self.best[1]
        pot.trained = True
        pot._tables = pot._tables  # tables do not depend on parameters
        return pot


def auto_sample(n_atoms, n_radial, smallest=4000, per_coefficient=8, growth=4):
    """Atom counts of the subsets a fit of ``n_atoms`` atoms and ``n_radial`` radial coefficients
    goes through first: from max(``smallest``, ``per_coefficient`` x ``n_radial``) growing
    ``growth``-fold while at most half the set; none (an empty list) below eight times the smallest."""
    first = max(smallest, per_coefficient * n_radial)
    if n_atoms < 8 * first:
        return []
    out, n = [], first
    while 2 * n <= n_atoms:
        out.append(n)
        n *= growth
    return out


def train(data, species=None, *, level=None, init=None, min_dist=None, max_dist=5.0, radial_basis_size=8,
          valid=None, valid_fraction="auto", energy_weight=1.0, force_weight=0.01, stress_weight=0.001,
          weighting="vibrations", l2_radial=0.0, max_iter="auto", seed=0, progress=True, patience="auto",
          precondition=None, core_radius="auto", baseline="auto", baseline_cutoffs=None, max_memory="auto",
          max_time=None, sample=None):
    """Fit an MTP. ``data``/``valid``: ASE Atoms lists or :class:`TrainingSet`.

    Start from ``init`` (an :class:`MTP`, trained or not) or from ``level`` with
    ``species``; ``min_dist`` defaults to the smallest distance in the data.
    ``valid_fraction`` holds out that share of ``data`` for validation (stratified by
    ``atoms.info["config_type"]`` when present, see :meth:`TrainingSet.split`); the
    parameters with the lowest validation score are kept.

    Defaults a user can leave alone: ``valid_fraction="auto"`` holds out 5 % from 200 structures
    on (none below); ``patience="auto"`` stops after 6 validation checks (30 iterations) without
    improvement; ``max_iter="auto"``: at most 1000 iterations, ending earlier once the training
    loss fell by less than 1e-4 of itself in 30 iterations; ``max_time`` (minutes) caps the run.  ``precondition``: see
    :meth:`Trainer.fit` (default: Gauss-Newton preconditioning, estimated on a subset of the
    structures above 256 radial coefficients).  ``max_memory``: bytes the design rows may take
    (``"auto"``: a quarter of the machine's memory; beyond it they are recomputed in batches).
    ``sample``: atom counts of growing random subsets fitted first (:meth:`Trainer.fit`);
    ``"auto"``: :func:`auto_sample` for a new fit with validation data (none when continuing a
    trained ``init``); default None: the whole set from the start (on the 5-species benchmark the
    subsets reached a given error 4x sooner, but the whole-set iterations after them converged
    more slowly: benchmarks/RESULTS.md).
    ``trainer.best``: (validation score, parameters, iteration) of the returned parameters;
    ``trainer.last_parameters``: those of the last iteration (where a continuation that should not
    restart from the best goes on from);
    ``trainer.pair_min_distances``: the smallest distance per species pair in the data;
    ``trainer.min_dist_warnings``: pairs whose smallest distance lies far above min_dist;
    ``trainer.repulsion``: per species pair, whether the dimer repels from the core radius down to
    1 A (:func:`~pyiron_mtp.short_range.repulsion_report`; a warning is logged where not).

    Short range (where the data has nothing): ``core_radius`` (A) clamps the radial basis below
    it; ``"auto"`` (default): the smallest distance in the training data (an ``init`` potential's
    own core radius is moved there too), ``None``: MLIP's polynomial extrapolation.  ``baseline``:
    a ZBL repulsion added to the MTP.  ``"auto"`` (default): ZBL *below the data* - switched off
    between ``SWITCH_WIDTH`` (0.5 A) below the core radius and the core radius itself, so it is zero
    on every training structure (the fit is that of the clamp alone) and the potential repels below
    the data; an ``init`` potential's own baseline is kept instead and moves with the core radius;
    none for species without element names.  ``"zbl"`` with ``baseline_cutoffs`` = (inner, outer)
    reaching into the data: the MTP is fitted to the references minus ZBL there.  ``None``: no new
    baseline (the clamp alone is a bounded plateau, not a repulsion).
    Returns (potential, trainer).
    """
    if isinstance(data, TrainingSet):
        train_set = data
        species = species or data.species
    else:
        if species is None:
            species = init.species if init is not None and init.species else None
        if species is None:
            from .structures import species_of
            species = species_of(data)
        train_set = TrainingSet.from_atoms(data, species)
    valid_set = None
    if valid is not None:
        valid_set = valid if isinstance(valid, TrainingSet) else TrainingSet.from_atoms(valid, species)
    else:
        if valid_fraction == "auto":
            valid_fraction = 0.05 if len(train_set) >= 200 else 0.0
        if valid_fraction:
            train_set, valid_set = train_set.split(valid_fraction, seed=seed)
    if patience == "auto":
        patience = 6 if valid_set is not None else None
    stall = None
    if max_iter == "auto":
        max_iter, stall = 1000, (30, 1e-4)
    if init is not None:
        pot = init.copy()
        if pot.species is None:
            pot.species = list(species)
        if list(pot.species) != list(species):
            raise ValueError(f"the initial potential's species {pot.species} differ from {species}")
        if not pot.trained:
            if min_dist is not None:
                pot.min_dist = float(min_dist)
            initialise_radial(pot, seed)
    else:
        if level is None:
            raise ValueError("give either an initial potential (init) or a level")
        if min_dist is None:
            min_dist = train_set.min_distance()
            log.info("min_dist taken from the data: %.4f A", min_dist)
        pot = MTP.from_level(level, species, min_dist, max_dist, radial_basis_size=radial_basis_size)
        initialise_radial(pot, seed)
    pair_min = train_set.pair_min_distances(pot.max_dist)     # one pass over the data, used twice
    _set_short_range(pot, min(pair_min.values(), default=float("inf")), core_radius, baseline, baseline_cutoffs)
    weights = LossWeights(energy_weight, force_weight, stress_weight, weighting)
    weights.factors(1)  # validates the weighting name
    trainer = Trainer(pot, train_set, valid_set, weights, l2_radial, max_memory=max_memory)
    trainer.pair_min_distances = pair_min
    trainer.min_dist_warnings = train_set.check_min_dist(pot.min_dist, pot.max_dist)
    if isinstance(sample, str):
        if sample != "auto":
            raise ValueError(f"sample must be a list of atom counts, 'auto' or None, got {sample!r}")
        fresh = init is None or not init.trained
        sample = auto_sample(trainer.fit_data.n_atoms, pot.radial_coeffs.size) if fresh and valid_set else None
    trainer.fit(max_iter=max_iter, progress=progress, patience=patience, precondition=precondition, stall=stall,
                max_time=max_time, sample=sample, seed=seed)
    if trainer.pot.species and (trainer.pot.core_radius or trainer.pot.min_dist) > 1.0:
        from ..short_range import repulsion_report
        trainer.repulsion = repulsion_report(trainer.pot)
    return trainer.pot, trainer


def _set_short_range(pot, r, core_radius, baseline, baseline_cutoffs):
    """Core radius and baseline of ``pot`` for training on data whose smallest distance is ``r``
    (A; see :func:`train`)."""
    if isinstance(core_radius, str):
        if core_radius != "auto":
            raise ValueError(f"core_radius must be a distance (A), 'auto' or None, got {core_radius!r}")
        core_radius = None if not np.isfinite(r) else min(max(r, 0.5 * pot.min_dist), 0.999 * pot.max_dist)
    if isinstance(baseline, str) and baseline == "auto":
        # ZBL below the data unless the potential has a baseline already (kept, it follows the data)
        # or cannot have one (no core radius, species without element names)
        can = core_radius is not None and bool(pot.species) and not unknown_elements(pot.species)
        baseline = "zbl" if pot.baseline is None and can else None
    if baseline is None:
        old, b = pot.core_radius, pot.baseline
        if core_radius is not None and b is not None and old is not None:
            if b.outer == old:
                # the baseline lived below the old data: it moves with the core radius
                pot.baseline = type(b)(b.atomic_numbers, *switch_range(core_radius, b.outer - b.inner))
            elif b.inner == old and core_radius < b.outer:
                # the baseline was switched on from the old core radius: it follows the new one
                pot.baseline = type(b)(b.atomic_numbers, core_radius, b.outer)
        if core_radius is None:
            pot.core_radius = None
        else:
            pot.make_safe(core_radius, pot.baseline)
        return
    if core_radius is None:
        raise ValueError("a baseline needs a core radius (the MTP must not fight the baseline below the data)")
    inner, outer = baseline_cutoffs if baseline_cutoffs is not None else (None, None)
    pot.make_safe(core_radius, baseline, inner=inner, outer=outer)
    log.info("short range: core radius %.3f A, baseline %r", core_radius, pot.baseline)

