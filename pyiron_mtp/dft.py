"""DFT codes as references for the pyiron-free engines (learning on the fly, hull screen, ab initio
melting): picklable factories of fresh ASE calculators, so process pools can run them."""
from __future__ import annotations

__all__ = ["GpawReference"]


class GpawReference:
    """A fresh GPAW plane-wave calculator per structure.

    ``xc``: "LDA" or "PBE"; ``ecut``: plane-wave cutoff (eV); k-points either a fixed Monkhorst-Pack
    ``kpts`` (n1, n2, n3) - for cells of one size - or ``kpoint_density`` (points per reciprocal
    A, GPAW's ``{"density": ...}``, scaled to every cell: for structures of many sizes, as in a
    hull); ``smearing``: Fermi-Dirac width (eV).  Needs ``pip install ".[gpaw]" gpaw-data``.

    >>> ref = GpawReference("PBE", ecut=300, kpoint_density=3.0)
    >>> atoms.calc = ref()
    """

    def __init__(self, xc="LDA", ecut=250.0, kpts=None, kpoint_density=None, smearing=0.1, txt=None):
        if (kpts is None) == (kpoint_density is None):
            raise ValueError("give either kpts (a fixed mesh) or kpoint_density (scaled to each cell)")
        if ecut <= 0 or smearing < 0:
            raise ValueError(f"ecut must be positive and smearing non-negative, got {ecut}, {smearing}")
        self.xc, self.ecut, self.smearing, self.txt = xc, float(ecut), float(smearing), txt
        self.kpts = None if kpts is None else tuple(int(k) for k in kpts)
        self.kpoint_density = None if kpoint_density is None else float(kpoint_density)

    def __repr__(self):
        k = f"kpts={self.kpts}" if self.kpts else f"kpoint_density={self.kpoint_density}"
        return f"GpawReference({self.xc!r}, ecut={self.ecut:g}, {k}, smearing={self.smearing:g})"

    def __call__(self):
        try:
            from gpaw import GPAW, PW, FermiDirac
        except ImportError as exc:
            raise ImportError("GPAW is not installed: apt-get install libxc-dev libopenblas-dev libfftw3-dev; "
                              "pip install '.[gpaw]' gpaw-data") from exc
        kpts = {"size": self.kpts, "gamma": False} if self.kpts else {"density": self.kpoint_density, "gamma": True}
        return GPAW(mode=PW(self.ecut), xc=self.xc, kpts=kpts, occupations=FermiDirac(self.smearing), txt=self.txt)
