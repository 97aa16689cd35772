"""Settings of a free-energy calculation (steps, thermostats, trust-check tolerances)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .reference import KB, uf_sigma_for

__all__ = ["Protocol"]


@dataclass
class Protocol:
    """Steps and settings of every stage; times in fs, pressures in GPa, energies in eV/atom.

    equilibration_steps: NPT equilibration (the volume is averaged over its second half);
    spring_steps: NVT run measuring the mean-square displacements (spring constants);
    switching_steps / switch_equilibration_steps: each switching direction and the
    equilibration before it (Frenkel-Ladd, Uhlenbeck-Ford, lambda paths, reversible scaling);
    melt_temperature / melt_steps: the liquid is prepared there (default: 2 T; NVT at 1.125 times the
    crystal's volume, so that it cannot boil);
    grade_every: extrapolation grades of an MTP every this many steps;
    dissipation_kt / dissipation_tolerance: a switching's dissipation (half the sum of forward and
    backward work) above ``dissipation_kt`` x kT at the stage's temperature, or above
    ``dissipation_tolerance`` (eV/atom) when that is set, is flagged.  The estimate (forward -
    backward) / 2 carries no bias from the dissipation while the switching responds linearly; its
    noise, sqrt(kT x dissipation / N) per atom, is part of the repetitions' scatter.  The default
    0.03 kT lies above every dissipation of the melting-point matrix (up to 0.026 kT), where
    switching twice as slowly changed the work by that noise only (benchmarks/RESULTS.md);
    switching_doublings: a Frenkel-Ladd or Uhlenbeck-Ford switching whose dissipation exceeds
    that limit is run again with twice the switching steps, at most this many times (the
    slowest run counts; 0: switch once);
    solid_min_fraction / liquid_max_fraction: solid-like fraction (q6 bond order, see stages)
    a solid must keep / a liquid must stay below, else the stage is an error (a small liquid's
    fraction fluctuates up to ~0.3; a crystallised or never melted one is near 1);
    uf_p / uf_sigma: the Uhlenbeck-Ford reference fluid of the liquid (u = -p kT ln(1 - exp(-(r /
    sigma)^2)), sigma in A); "auto" (default) takes for each liquid the sigma at which its density
    is x = 0.8 in the fluid's reduced units (a fixed 1.5 A put W_zhou's dilute liquid at x = 0.51,
    where its switching was irreversible and G_l came out 1.5 meV/atom low).
    """

    timestep: float = 1.0
    tdamp: float = 100.0
    pdamp: float = 1000.0
    equilibration_steps: int = 10000
    spring_steps: int = 5000
    switching_steps: int = 25000
    switch_equilibration_steps: int = 5000
    melt_temperature: float | None = None
    melt_steps: int = 10000
    grade_every: int = 10
    break_threshold: float = 10.0
    dissipation_tolerance: float | None = None
    dissipation_kt: float = 0.03
    switching_doublings: int = 2
    solid_min_fraction: float = 0.5
    liquid_max_fraction: float = 0.5
    uf_p: int = 50
    uf_sigma: float | str = "auto"

    def uf_sigma_at(self, density):
        """The UF width (A) for a liquid of number density ``density`` (1/A^3): ``uf_sigma``, or
        with "auto" the width that puts it at x = UF_X_TARGET (:func:`~.reference.uf_sigma_for`)."""
        if self.uf_sigma == "auto":
            return uf_sigma_for(density)
        sigma = float(self.uf_sigma)
        if not sigma > 0:
            raise ValueError(f"uf_sigma must be 'auto' or a positive width in A, got {self.uf_sigma!r}")
        return sigma

    def dissipation_limit(self, temperature):
        """The dissipation (eV/atom) above which a switching at ``temperature`` (K) is flagged."""
        if self.dissipation_tolerance is not None:
            return float(self.dissipation_tolerance)
        return self.dissipation_kt * KB * float(temperature)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def fast(cls, **changes):
        """A short protocol for tests and examples (numbers are rough)."""
        base = dict(equilibration_steps=1000, spring_steps=500, switching_steps=2000,
                    switch_equilibration_steps=500, melt_steps=1500, switching_doublings=0)
        base.update(changes)
        return cls(**base)
