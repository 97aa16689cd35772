"""ThermodynamicIntegration and MeltingPoint: free energies and melting temperatures in pyiron.

Thin job classes over :mod:`pyiron_mtp.free_energy`.  The potential is an MTP (a finished
``MTPTraining`` / ``ActiveLearningMD`` job - then extrapolation grades are monitored with
the active set of its training data - or an ``MTP``) or any pyiron LAMMPS potential by
name (``"Cu_mishin1"``).  Every LAMMPS stage runs in the job's working directory on
``server.cores`` MPI ranks (submit the job to a queue as usual); a job killed midway
continues with ``run(repair=True)`` without redoing finished stages.  Results (G(T) with
errors, works along lambda, spring constants, volumes, crystalline fractions, grades,
trust-check flags) are stored in the job's HDF5 file.
"""
from __future__ import annotations

import numpy as np
from pyiron_base import DataContainer, PythonTemplateJob

from ..free_energy.engine import free_energy
from ..free_energy.melting import (competing_lattices_from, error_target, liquid_size_option, melting_point,
                                   size_options, solid_reference_fraction)
from ..free_energy.potential import LammpsPotential
from ..free_energy.protocol import Protocol
from ..potential import MTP
from .common import finish, save_reference_template

__all__ = ["ThermodynamicIntegration", "MeltingPoint"]


def _count_or_auto(value):
    """None, "auto" or an atom count from a job's input (HDF gives numpy integers back)."""
    return value if value is None or value == "auto" else int(value)


class _FreeEnergyInput:
    """Potential and protocol handling shared by the two jobs."""

    def _defaults(self):
        self.input.potential = None          # a pyiron LAMMPS potential name, or None
        self.input.potential_job = None      # name of a finished MTPTraining / ActiveLearningMD job
        self.input.mtp = None                # an MTP as dict (set_potential(MTP))
        self.input.grades = True             # MTP jobs: monitor grades with their training data's active set
        self.input.species = None
        self.input.lattice = "fcc"
        self.input.atoms = 500
        self.input.repeats = 3
        self.input.parallel = 1              # repetitions at once (each on server.cores ranks)
        self.input.seed = 12345
        for key, value in Protocol().to_dict().items():   # steps, thermostats, trust-check tolerances
            self.input[key] = value

    def set_potential(self, potential):
        """An MTP job (MTPTraining, ActiveLearningMD), an :class:`MTP`, or a pyiron LAMMPS potential name."""
        self.input.potential = self.input.potential_job = self.input.mtp = None
        if isinstance(potential, str):
            self.input.potential = potential
        elif isinstance(potential, MTP):
            if potential.species is None:
                raise ValueError("the MTP needs species names")
            d = potential.to_dict()
            d.pop("level", None)
            self.input.mtp = DataContainer(d)
        elif hasattr(potential, "potential") and hasattr(potential, "job_name"):
            if not potential.status.finished:
                raise ValueError(f"job {potential.job_name} is not finished")
            self.input.potential_job = potential.job_name
        else:
            raise TypeError("potential must be an MTP job, an MTP or a pyiron LAMMPS potential name")

    def _lammps_potential(self):
        i = self.input
        if i.potential_job:
            job = self.project.load(i.potential_job)
            aset = None
            if i.grades:
                from ..active import ActiveSet
                aset = ActiveSet.build(job.potential, job.training_images(), mode="neighborhood")
            return LammpsPotential.from_mtp(job.potential, aset)
        if i.mtp is not None:
            d = {k: (v.to_builtin() if hasattr(v, "to_builtin") else v) for k, v in i.mtp.items()}
            return LammpsPotential.from_mtp(MTP.from_dict(d))
        if i.potential:
            from pyiron_atomistics.lammps.potential import LammpsPotentialFile
            table = LammpsPotentialFile().find_by_name(i.potential)
            if len(table) == 0:
                raise ValueError(f"no LAMMPS potential named {i.potential!r}")
            from pyiron_base import state
            return LammpsPotential.from_pyiron(table, search_paths=_potential_paths(state.settings.resource_paths))
        raise ValueError("no potential: set_potential(mtp_job | MTP | 'pyiron potential name')")

    def _protocol(self):
        return Protocol(**{k: self.input[k] for k in Protocol().to_dict() if k in self.input})

    def _common_kwargs(self):
        i = self.input
        return dict(atoms=int(i.atoms), repeats=int(i.repeats), protocol=self._protocol(),
                    cores=int(self.server.cores), parallel=int(i.parallel), seed=int(i.seed), progress=False)


def _potential_paths(resource_paths):
    from pathlib import Path
    out = []
    for r in resource_paths:
        out += [Path(r) / "lammps" / "potentials", Path(r) / "lammps" / "potentials" / "potentials"]
    return out


def _store_result(container, res):
    """A FreeEnergyResult into an output DataContainer (arrays, per-repetition numbers)."""
    for k, v in res.summary().items():
        if v is None:
            continue
        container[k] = np.asarray(v) if isinstance(v, list) and k not in ("flags", "spring_constants") else v
    container["flags"] = list(res.flags)
    reps = DataContainer()
    for n, r in enumerate(res.repetitions):
        reps[f"rep{n}"] = DataContainer({k: (np.asarray(v) if isinstance(v, list) else v) for k, v in r.items()
                                         if v is not None})
    container["repetitions"] = reps


class ThermodynamicIntegration(_FreeEnergyInput, PythonTemplateJob):
    """Gibbs free energy G(T) of a solid or a liquid, with errors and trust checks.

    >>> ti = pr.create.job.ThermodynamicIntegration("cu_solid")
    >>> ti.set_potential(fit)                  # MTP job, MTP, or "Cu_mishin1"
    >>> ti.input.phase = "solid"               # or "liquid"
    >>> ti.input.temperature = 800             # K;  ti.input.tmax = 1400 for G(T) by reversible scaling
    >>> ti.run()
    >>> ti.output.free_energy, ti.output.free_energy_error, ti.plot()
    """

    def __init__(self, project, job_name):
        super().__init__(project, job_name)
        self._defaults()
        self.input.phase = "solid"
        self.input.temperature = 500.0       # K
        self.input.tmax = None               # K: reversible scaling to here
        self.input.pressure = 0.0            # GPa
        self.input.reference_job = None      # template of the reference (DFT) for upsampling
        self.input.upsample_snapshots = 0    # > 0: free-energy perturbation MTP -> reference on this many
        self.input.upsample_interval = 200   # MD steps between snapshots
        self._structure = None

    def set_reference(self, job, k_mesh_spacing=None, magnetic=False):
        """Upsampling to a reference code: the template of its calculations (any pyiron atomistic
        job, not run; each snapshot becomes a child job of it in ``<job>_references``).  DFT
        templates: k-points scaled to each cell (``k_mesh_spacing``, default the template's density);
        ``magnetic=True`` accepts spin-polarised results."""
        save_reference_template(self, job, k_mesh_spacing, magnetic)
        if not self.input.upsample_snapshots:
            self.input.upsample_snapshots = 20

    @property
    def structure(self):
        return self._structure

    @structure.setter
    def structure(self, atoms):
        """Start structure (ASE or pyiron Atoms); default: a lattice supercell of input.atoms atoms."""
        from .common import to_pyiron
        self._structure = to_pyiron(atoms)

    def validate_ready_to_run(self):
        if self.input.phase not in ("solid", "liquid"):
            raise ValueError(f"input.phase must be 'solid' or 'liquid', got {self.input.phase!r}")
        if not (self.input.potential or self.input.potential_job or self.input.mtp is not None):
            raise ValueError("no potential: set_potential(...)")

    def run_static(self):
        from pyiron_atomistics.atomistics.structure.atoms import pyiron_to_ase
        pot = self._lammps_potential()
        i = self.input
        structure = None if self._structure is None else pyiron_to_ase(self._structure)
        res = free_energy(pot, i.phase, float(i.temperature), lattice=i.lattice, structure=structure,
                          species=list(i.species) if i.species else None, pressure=float(i.pressure),
                          tmax=None if i.tmax is None else float(i.tmax), workdir=self.working_directory,
                          **self._common_kwargs())
        _store_result(self.output, res)
        if i.reference_job and int(i.upsample_snapshots) > 0:
            self._upsample(pot, res)
        finish(self)

    def _upsample(self, pot, res):
        """Free-energy perturbation MTP -> reference; every snapshot a child job of the template."""
        from ..free_energy.engine import upsample_to_reference
        from .references import PyironReferences
        i = self.input
        g, err, pert = upsample_to_reference(pot, res, None, workdir=self.working_directory,
                                             count=int(i.upsample_snapshots), interval=int(i.upsample_interval),
                                             lattice=i.lattice, executor=PyironReferences(self),
                                             cores=int(self.server.cores), protocol=self._protocol(), progress=False)
        self.output.upsampling = DataContainer({k: v for k, v in pert.summary().items()})
        self.output.upsampling["delta_e"] = np.asarray(pert.delta_e)
        self.output.free_energy_reference = g
        self.output.free_energy_reference_error = err

    def plot(self, axes=None):
        """G(T) with its error band (reversible scaling) and the switching integrands
        dH/dlambda forward and backward of every repetition; returns the axes."""
        import matplotlib.pyplot as plt
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 4))
        o = self.output
        g, e = np.atleast_1d(o["free_energy"]), np.atleast_1d(o["free_energy_error"])
        t = np.atleast_1d(o["temperatures"]) if "temperatures" in o else np.array([self.input.temperature])
        axes[0].plot(t, g, marker="o" if len(t) == 1 else None)
        if np.all(np.isfinite(e)):
            axes[0].fill_between(t, g - e, g + e, alpha=0.3)
        axes[0].set(xlabel="temperature (K)", ylabel="G (eV/atom)", title=f"{self.input.phase}, {self.job_name}")
        for name, rep in o["repetitions"].items():
            for key, ls in (("integrand_forward", "-"), ("integrand_backward", "--")):
                data = np.asarray(rep[key])
                axes[1].plot(data[:, 0], data[:, 1], ls, lw=1, label=f"{name} {key.split('_')[1]}")
        axes[1].set(xlabel="λ", ylabel="dH/dλ (eV/atom)", title="switching")
        axes[1].legend(fontsize="small")
        return axes

    def to_hdf(self, hdf=None, group_name=None):
        super().to_hdf(hdf=hdf, group_name=group_name)
        if self._structure is not None:
            self._structure.to_hdf(self.project_hdf5, "structure")

    def from_hdf(self, hdf=None, group_name=None):
        super().from_hdf(hdf=hdf, group_name=group_name)
        if "structure" in self.project_hdf5.list_groups():
            from pyiron_atomistics.atomistics.structure.atoms import Atoms
            self._structure = Atoms().from_hdf(self.project_hdf5, "structure")


class MeltingPoint(_FreeEnergyInput, PythonTemplateJob):
    """Melting temperature by solid-liquid coexistence and from G_solid(T) = G_liquid(T), with its
    error, latent heat and entropy of melting.

    >>> mp = pr.create.job.MeltingPoint("cu_tm")
    >>> mp.set_potential("Cu_mishin1")         # or an MTP job
    >>> mp.input.method = "both"               # coexistence first guess, free energies for the number
    >>> mp.run()
    >>> mp.output.melting_temperature, mp.output.melting_temperature_error, mp.plot()
    >>> mp.output.coexistence["melting_temperature"], mp.output.steps   # the first guess, the search
    """

    def __init__(self, project, job_name):
        super().__init__(project, job_name)
        self._defaults()
        self.input.method = "both"     # "both" | "free_energy" | "coexistence"
        self.input.guess = None        # K (default: from heating the crystal until it melts)
        self.input.window = None       # first window: T +- window x T (default 0.05 after coexistence, else 0.1)
        self.input.liquid_atoms = None  # default: input.atoms
        self.input.size_correction = "harmonic"  # T_m to N -> infinity: "harmonic" | "translation" | "measured" | None
        self.input.size_check_atoms = None  # the measured correction's larger solid ("auto": 4 x atoms)
        self.input.liquid_size_check_atoms = None  # a larger liquid, G_l linear in 1/N ("auto": 4 x liquid atoms)
        self.input.coexistence_atoms = 2000
        self.input.coexistence_steps = [10000, 5000, 3000, 50000]   # solid NPT, melting, cooling, NPH
        self.input.coexistence_repeats = 3   # independent NPH runs averaged
        self.input.competing_lattices = "auto"  # other solids compared at T_m ("auto": bcc for hcp; [] for none)
        self.input.target_error = 5.0  # K: repetitions are added until T_m's error is below it (None: off)
        self.input.max_repeats = "auto"  # cap on the repetitions per part ("auto": 2 x repeats)
        # the solid's Frenkel-Ladd temperature: "auto" (half the window's lower end, the lower end for a
        # solid that leaves its lattice from there), "window" (the lower end) or a fraction of it
        self.input.solid_reference = "auto"

    def validate_ready_to_run(self):
        if not (self.input.potential or self.input.potential_job or self.input.mtp is not None):
            raise ValueError("no potential: set_potential(...)")
        if self.input.method not in ("both", "free_energy", "coexistence"):
            raise ValueError(f"input.method must be 'both', 'free_energy' or 'coexistence', got {self.input.method!r}")
        error_target(self.input.get("target_error", 5.0), self.input.get("max_repeats", "auto"),
                     int(self.input.repeats))
        liquid_size_option(_count_or_auto(self.input.get("liquid_size_check_atoms")),
                           int(self.input.liquid_atoms or self.input.atoms))
        solid_reference_fraction(self.input.get("solid_reference", "auto"))
        size = self.input.get("size_check_atoms")
        size_options(self.input.get("size_correction", "measured" if size else "translation"),
                     _count_or_auto(size), int(self.input.atoms))

    def run_static(self):
        pot = self._lammps_potential()
        i = self.input
        target, cap = error_target(i.get("target_error", 5.0), i.get("max_repeats", "auto"), int(i.repeats))
        res = melting_point(pot, i.lattice, None if i.guess is None else float(i.guess), method=i.method,
                            species=list(i.species) if i.species else None,
                            window=None if i.window is None else float(i.window),
                            liquid_atoms=None if i.liquid_atoms is None else int(i.liquid_atoms),
                            size_correction=i.get("size_correction", "measured" if i.get("size_check_atoms")
                                                  else "translation"),
                            size_check_atoms=_count_or_auto(i.size_check_atoms),
                            liquid_size_check_atoms=_count_or_auto(i.get("liquid_size_check_atoms")),
                            coexistence_atoms=int(i.coexistence_atoms),
                            coexistence_steps=tuple(int(n) for n in i.coexistence_steps),
                            coexistence_repeats=int(i.get("coexistence_repeats", 3)),
                            competing_lattices=competing_lattices_from(i.get("competing_lattices", "auto")),
                            target_error=target, max_repeats=cap,
                            solid_reference=i.get("solid_reference", "auto"),
                            workdir=self.working_directory, **self._common_kwargs())
        o = self.output
        for k, v in res.summary().items():
            if k in ("steps", "phase_changes", "coexistence", "finite_size", "liquid_finite_size",
                     "lattice_comparison", "comparison"):
                continue
            o[k] = np.asarray(v) if isinstance(v, list) and k != "flags" else v
        o["steps"] = DataContainer({f"step{n}": DataContainer(s) for n, s in enumerate(res.steps)})
        o["phase_changes"] = DataContainer({f"change{n}": DataContainer(c) for n, c in enumerate(res.phase_changes)})
        o["lattice_comparison"] = DataContainer({
            f"lattice{n}": DataContainer({k: (np.nan if v is None else v) for k, v in c.items()})
            for n, c in enumerate(res.lattice_comparison)})
        if res.finite_size is not None:
            o["finite_size"] = DataContainer({k: np.asarray(v) if isinstance(v, list) else v
                                              for k, v in res.finite_size.items()})
        if res.liquid_finite_size is not None:
            o["liquid_finite_size"] = DataContainer({k: np.asarray(v) if isinstance(v, list) else v
                                                     for k, v in res.liquid_finite_size.items()})
        if res.comparison is not None:
            o["comparison"] = DataContainer(res.comparison)
        if res.coexistence is not None:
            c = res.coexistence.summary()
            runs = c.pop("runs")
            o["coexistence"] = DataContainer(c)
            o["coexistence"]["runs"] = DataContainer({f"run{n}": DataContainer(r) for n, r in enumerate(runs)})
        o["temperatures"] = res.temperatures
        for phase, r in (("solid", res.solid), ("liquid", res.liquid)):
            if r is not None:
                c = DataContainer()
                _store_result(c, r)
                o[phase] = c
        finish(self)

    def plot(self, ax=None):
        """G_solid(T), G_liquid(T) with error bands and the crossing; returns the axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        o = self.output
        if "solid" not in o.list_groups():
            raise ValueError("no free energies in this job (method 'coexistence'): see output.coexistence")
        if "coexistence" in o.list_groups():
            tc = o["coexistence"]["melting_temperature"]
            ax.axvline(tc, color="C3", ls="--", lw=0.8, label=f"coexistence {tc:.0f} K")
        for phase in ("solid", "liquid"):
            t = np.asarray(o[phase]["temperatures"])
            g, e = np.asarray(o[phase]["free_energy"]), np.asarray(o[phase]["free_energy_error"])
            ax.plot(t, g, label=phase)
            ax.fill_between(t, g - e, g + e, alpha=0.3)
        tm, dtm = o["melting_temperature"], o["melting_temperature_error"]
        ax.axvline(tm, color="k", lw=0.8)
        ax.axvspan(tm - dtm, tm + dtm, color="k", alpha=0.1)
        ax.set(xlabel="temperature (K)", ylabel="G (eV/atom)", title=f"{self.job_name}: T_m = {tm:.0f} ± {dtm:.0f} K")
        ax.legend()
        return ax
