"""DFT codes as references for the pyiron-free engines (learning on the fly, hull screen, ab initio
melting): picklable factories of fresh ASE calculators, so process pools can run them."""
from __future__ import annotations

__all__ = ["GpawReference"]


class GpawReference:
    """A fresh GPAW plane-wave calculator per structure.

    ``xc``: "LDA" or "PBE"; ``ecut``: plane-wave cutoff (eV); k-points either a fixed Monkhorst-Pack
    ``kpts`` (n1, n2, n3) - for cells of one size - or ``kpoint_density`` (points per reciprocal
    A, GPAW's ``{"density": ...}``, scaled to every cell: for structures of many sizes, as in a
    hull); ``gamma``: meshes through Gamma (default: yes with ``kpoint_density``, as GPAW's
    density mode, no with ``kpts``); ``smearing``: Fermi-Dirac width (eV).  Needs
    ``pip install ".[gpaw]" gpaw-data``.

    A mesh scaled to every cell jumps when a relaxation's cell crosses a threshold (with 3
    points per reciprocal A, 20 meV per 3-atom cell for AlCu2): the optimiser then cycles
    between near-identical structures.  :meth:`for_structure` fixes the mesh a relaxation uses
    to the one of its candidate's structure.

    >>> ref = GpawReference("PBE", ecut=300, kpoint_density=3.0)
    >>> atoms.calc = ref()
    """

    def __init__(self, xc="LDA", ecut=250.0, kpts=None, kpoint_density=None, smearing=0.1, txt=None, gamma=None):
        if (kpts is None) == (kpoint_density is None):
            raise ValueError("give either kpts (a fixed mesh) or kpoint_density (scaled to each cell)")
        if ecut <= 0 or smearing < 0:
            raise ValueError(f"ecut must be positive and smearing non-negative, got {ecut}, {smearing}")
        self.xc, self.ecut, self.smearing, self.txt = xc, float(ecut), float(smearing), txt
        self.kpts = None if kpts is None else tuple(int(k) for k in kpts)
        self.kpoint_density = None if kpoint_density is None else float(kpoint_density)
        self.gamma = bool(self.kpts is None) if gamma is None else bool(gamma)

    def __repr__(self):
        k = f"kpts={self.kpts}" if self.kpts else f"kpoint_density={self.kpoint_density}"
        g = f", gamma={self.gamma}" if self.gamma != (self.kpts is None) else ""
        return f"GpawReference({self.xc!r}, ecut={self.ecut:g}, {k}, smearing={self.smearing:g}{g})"

    def mesh(self, atoms):
        """The Monkhorst-Pack mesh (n1, n2, n3) used for ``atoms``."""
        if self.kpts is not None:
            return self.kpts
        from gpaw.kpt_descriptor import kpts2sizeandoffsets
        size, _ = kpts2sizeandoffsets(density=self.kpoint_density, gamma=self.gamma, atoms=atoms)
        return tuple(int(n) for n in size)

    def for_structure(self, atoms):
        """This reference with the k-point mesh fixed to the one of ``atoms`` (the same mesh as a
        single calculation of ``atoms``; for every step of a relaxation started from it)."""
        if self.kpts is not None:
            return self
        return GpawReference(self.xc, self.ecut, kpts=self.mesh(atoms), smearing=self.smearing, txt=self.txt,
                             gamma=self.gamma)

    def __call__(self):
        try:
            from gpaw import GPAW, PW, FermiDirac
        except ImportError as exc:
            raise ImportError("GPAW is not installed: apt-get install libxc-dev libopenblas-dev libfftw3-dev; "
                              "pip install '.[gpaw]' gpaw-data") from exc
        kpts = ({"size": self.kpts, "gamma": self.gamma} if self.kpts else
                {"density": self.kpoint_density, "gamma": self.gamma})
        return GPAW(mode=PW(self.ecut), xc=self.xc, kpts=kpts, occupations=FermiDirac(self.smearing), txt=self.txt)
