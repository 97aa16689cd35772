"""Convex hulls of alloys screened with actively learned MTPs (Gubaev et al. 2019).

- :func:`enumerate_candidates` / :func:`candidates_from`: derivative superstructures of fcc,
  bcc and hcp (icet), user prototypes;
- :func:`screen_hull`: learn while relaxing, screen with the MTP, relax the survivors with
  the reference; :class:`HullScreenResult` with ``vertices``, ``table``, ``reference_calls``;
- :func:`lower_hull`, :func:`formation_energies`: the hull of any energies (binary, ternary, ...);
- :func:`relax_all`: every candidate relaxed with the reference (brute force, for comparison).

No pyiron here; the job class ``ConvexHullScreen`` sits on top.
"""
from .candidates import Candidate, as_candidates, candidates_from, enumerate_candidates, left_parent_lattice
from .geometry import Hull, composition_matrix, formation_energies, lower_hull
from .screen import HullScreenResult, relax_all, screen_hull

__all__ = ["Candidate", "as_candidates", "candidates_from", "enumerate_candidates", "left_parent_lattice", "Hull",
           "composition_matrix", "formation_energies", "lower_hull", "HullScreenResult", "screen_hull", "relax_all"]
