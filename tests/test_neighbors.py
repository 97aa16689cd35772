from collections import Counter

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import primitive_neighbor_list

from pyiron_mtp.core.neighbors import NeighborList


def pairs_of(nl, n_atoms):
    out = Counter()
    for i in range(n_atoms):
        for p in range(nl.start[i], nl.start[i + 1]):
            out[(i, int(nl.index[p]), tuple(int(x) for x in nl.shift[p]))] += 1
    return out


def ase_pairs(atoms, cutoff):
    i, j, S = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array, atoms.positions, cutoff,
                                      self_interaction=False)
    return Counter((int(a), int(b), tuple(int(x) for x in s)) for a, b, s in zip(i, j, S))


@pytest.mark.parametrize("case", ["triclinic", "small_cell", "slab", "cluster", "outside_cell", "tiny_cell"])
def test_matches_ase(case, rng):
    cutoff = 4.2
    if case == "triclinic":
        atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 3, 3))
        atoms.set_cell(atoms.cell.array + rng.normal(scale=0.6, size=(3, 3)), scale_atoms=True)
        atoms.rattle(0.1, seed=1)
    elif case == "small_cell":  # cell smaller than the cutoff: an atom sees its own images
        atoms = bulk("Cu", "fcc", a=3.6)
        atoms.rattle(0.05, seed=2)
    elif case == "tiny_cell":
        atoms = bulk("Cu", "sc", a=1.9)
    elif case == "slab":
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 3))
        atoms.pbc = [True, True, False]
        atoms.rattle(0.1, seed=3)
    elif case == "cluster":
        atoms = molecule("C60")
        atoms.pbc = False
        atoms.cell = np.zeros((3, 3))
    else:  # atoms far outside the cell in periodic directions
        atoms = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))
        atoms.positions += rng.normal(scale=8.0, size=atoms.positions.shape)
    nl = NeighborList(cutoff, skin=0.0)
    nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    got = pairs_of(nl, len(atoms))
    want = ase_pairs(atoms, cutoff)
    assert got == want
    assert max(got.values()) == 1  # every pair and image once


def test_skin_reuse_and_rebuild(rng):
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 3, 3))
    nl = NeighborList(4.0, skin=0.4)
    assert nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    moved = atoms.positions + rng.uniform(-0.1, 0.1, size=atoms.positions.shape)
    assert not nl.update(moved, atoms.cell.array, atoms.pbc)  # < skin/2: reused
    moved[0] += 0.3
    assert nl.update(moved, atoms.cell.array, atoms.pbc)  # > skin/2: rebuilt
    assert nl.update(moved, atoms.cell.array * 1.01, atoms.pbc)  # new cell: rebuilt
    assert nl.builds == 3
