"""Loss weights and MLIP's weighting schemes per structure."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



WEIGHTINGS = ("vibrations", "molecules", "structures")



@dataclass
class LossWeights:
    energy: float = 1.0
    force: float = 0.01
    stress: float = 0.001
    weighting: str = "vibrations"

    def __post_init__(self):
        for name in ("energy", "force", "stress"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"the {name} weight must be finite and >= 0, got {value!r}")

    def factors(self, n_atoms):
        if self.weighting == "vibrations":
            return 1.0 / n_atoms, 1.0, 1.0 / n_atoms
        if self.weighting == "molecules":
            return 1.0, 1.0, 1.0
        if self.weighting == "structures":
            return 1.0 / n_atoms ** 2, 1.0 / n_atoms, 1.0 / n_atoms ** 2
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")

    def terms(self, s, n_structures):
        """Coefficients (energy, force, stress) of structure ``s``'s squared residuals in the
        loss: its weight x the term's weight x the weighting factor / the number of
        structures; 0.0 for a term the structure has no reference for or the loss ignores."""
        fe, ff, fs = self.factors(s.n_atoms)
        base = s.weight / n_structures
        return tuple(base * w * f if ref is not None and w > 0 else 0.0 for ref, w, f in (
            (s.energy, self.energy, fe), (s.forces, self.force, ff), (s.virial, self.stress, fs)))
