"""Files and input lines for the LAMMPS pair style ``mtp``.

- :func:`write_active_set`: an :class:`~pyiron_mtp.active.ActiveSet` as the binary file
  ``pair_style mtp POT grade FILE`` reads (layout in ``src/mtp_active_set.h``);
- :func:`pair_lines`: the ``pair_style`` / ``pair_coeff`` lines for a potential;
- :func:`lammps_potential`: the potential-table row pyiron's ``Lammps`` job takes
  (``job.potential = lammps_potential(pot)``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_active_set", "pair_lines", "lammps_potential", "MAGIC"]

MAGIC = b"MTPASET1"


def write_active_set(active_set, path):
    """Write ``active_set`` for the pair style; returns the path.

    The file holds the grade mode, the potential's parameters (the plugin refuses a set
    written for other parameters) and A^-1 with the column scales folded in, so the
    plugin's grade max_j |b A^-1|_j equals :meth:`ActiveSet.grade`.
    """
    active_set._check_current()
    pot = active_set.pot
    inv = np.ascontiguousarray(active_set._scaled_inverse(), dtype="<f8")
    m = inv.shape[0]
    head = np.array([1 if active_set.mode == "neighborhood" else 0, int(active_set.linear_only), m,
                     pot.n_parameters, pot.species_count, pot.radial_funcs_count, pot.radial_basis_size,
                     pot.n_basis], dtype="<i8")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(MAGIC)
        fh.write(head.tobytes())
        fh.write(np.ascontiguousarray(pot.parameters, dtype="<f8").tobytes())
        fh.write(inv.tobytes())
    os.replace(tmp, path)
    return path


def pair_lines(pot, filename, type_species=None, active_set_file=None, mode=None):
    """``pair_style`` and ``pair_coeff`` commands for ``pot`` stored at ``filename``.

    ``type_species``: the element (or ``None`` for NULL) of each LAMMPS atom type, default
    the potential's species in order.  With ``active_set_file`` the style computes grades.
    """
    if pot.species is None:
        raise ValueError("the potential needs species names (MTP.from_file(..., species=[...]))")
    types = list(pot.species) if type_species is None else list(type_species)
    unknown = sorted({t for t in types if t is not None and t not in pot.species})
    if unknown:
        raise ValueError(f"element(s) {unknown} not in the potential's species {pot.species}")
    style = f"pair_style mtp {filename} species {' '.join(pot.species)}"
    if active_set_file is not None:
        style += f" grade {active_set_file}"
        if mode is not None:
            style += f" mode {mode}"
    coeff = "pair_coeff * * " + " ".join("NULL" if t is None else t for t in types)
    return [style, coeff]


def lammps_potential(pot, directory, name="mtp", citation=None):
    """A pyiron LAMMPS potential (one-row ``pandas.DataFrame``) for ``pot``.

    The ``.mtp`` file is written to ``directory`` as ``<name>.mtp``; pyiron copies it into
    each Lammps job's working directory.  Use as ``job.potential = lammps_potential(pot, dir)``.
    """
    import pandas as pd
    if pot.species is None:
        raise ValueError("the potential needs species names (MTP.from_file(..., species=[...]))")
    if not pot.trained:
        raise ValueError("the potential is an untrained template; train it first")
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"{name}.mtp"
    path = directory / filename
    pot.to_file(path)
    lines = [line + "\n" for line in pair_lines(pot, filename)]
    return pd.DataFrame({
        "Name": [name], "Filename": [[str(path)]], "Model": ["MTP"], "Species": [list(pot.species)],
        "Config": [lines], "Citations": [citation or ""],
    })
