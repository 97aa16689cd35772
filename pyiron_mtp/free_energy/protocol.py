"""Settings of a free-energy calculation (steps, thermostats, trust-check tolerances)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

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
    dissipation_tolerance: larger dissipation (eV/atom) is flagged;
    switching_doublings: a Frenkel-Ladd or Uhlenbeck-Ford switching whose dissipation exceeds
    ``dissipation_tolerance`` is run again with twice the switching steps, at most this many
    times (the slowest run counts; 0: switch once);
    solid_min_fraction / liquid_max_fraction: solid-like fraction (q6 bond order, see stages)
    a solid must keep / a liquid must stay below, else the stage is an error (a small liquid's
    fraction fluctuates up to ~0.3; a crystallised or never melted one is near 1).
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
    dissipation_tolerance: float = 1e-3
    switching_doublings: int = 2
    solid_min_fraction: float = 0.5
    liquid_max_fraction: float = 0.5
    uf_p: int = 50
    uf_sigma: float = 1.5

    def to_dict(self):
        return asdict(self)

    @classmethod
    def fast(cls, **changes):
        """A short protocol for tests and examples (numbers are rough)."""
        base = dict(equilibration_steps=1000, spring_steps=500, switching_steps=2000,
                    switch_equilibration_steps=500, melt_steps=1500, switching_doublings=0)
        base.update(changes)
        return cls(**base)
