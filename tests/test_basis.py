import numpy as np
import pytest

from pyiron_mtp import MTP
from pyiron_mtp.core.basis import generate_basis, moment_level
from pyiron_mtp.mtpfile import read_mtp
from conftest import data_file, random_potential

NEW_PER_LEVEL = {2: 1, 4: 1, 6: 3, 8: 4, 10: 7, 12: 13, 14: 23, 16: 40, 18: 71, 20: 125, 22: 212,
                 24: 364, 26: 600, 28: 981}


@pytest.mark.parametrize("level", range(2, 30, 2))
def test_counts_match_mlip_templates(level):
    ref = read_mtp(data_file("mlip_templates", f"{level:02d}.mtp"))
    b = generate_basis(level)
    assert b.alpha_scalar_moments == ref["alpha_moment_mapping"].size
    assert b.alpha_scalar_moments == sum(v for k, v in NEW_PER_LEVEL.items() if k <= level)
    assert len(b.alpha_index_basic) == len(ref["alpha_index_basic"])
    assert b.radial_funcs_count == ref["radial_funcs_count"]
    # the same basic moments, in the same order
    assert np.array_equal(b.alpha_index_basic, ref["alpha_index_basic"])
    # the same contraction trees as MLIP: equal numbers of moments and products
    assert b.alpha_moments_count == ref["alpha_moments_count"]
    assert len(b.alpha_index_times) == len(ref["alpha_index_times"])


@pytest.mark.parametrize("level", [12, 20, 26])
def test_trees_cover_every_contraction_graph(level):
    """The tree enumeration yields exactly the contraction graphs counted independently."""
    from pyiron_mtp.core.basis import _enumerate_trees, _node_labels, enumerate_graphs
    max_mu = (level - 2) // 4 if level <= 24 else 5
    max_nu = level - 2 if level <= 24 else 10
    trees = _enumerate_trees(level, _node_labels(level, max_mu, max_nu))
    graphs = enumerate_graphs(level, max_mu, max_nu)
    assert len(trees) == len(graphs)
    by_labels = {}
    for labels, _ in graphs:
        by_labels[labels] = by_labels.get(labels, 0) + 1
    for tree in trees.values():
        assert tree.rank == 0 and tree.level <= level
        by_labels[tuple(sorted(tree.labels))] -= 1
    assert not any(by_labels.values())


def test_levels_above_28():
    b = generate_basis(30)
    assert b.alpha_scalar_moments > 2445
    assert b.alpha_index_basic[:, 0].max() <= 5 and b.alpha_index_basic[:, 1:].sum(1).max() <= 10
    wider = generate_basis(30, max_mu=6, max_nu=12)
    assert wider.alpha_scalar_moments > b.alpha_scalar_moments


@pytest.mark.parametrize("level", [8, 12, 16, 20, 24])
def test_same_basis_functions_as_mlip(level, rng):
    """Every MLIP basis function equals exactly one of ours (same normalisation)."""
    from ase import Atoms
    ref = MTP.from_file(data_file("mlip_templates", f"{level:02d}.mtp"), species=["Cu"])
    ours = MTP.from_level(level, ["Cu"], 0.5, ref.max_dist)
    ref.min_dist = 0.5
    ref.radial_coeffs = rng.normal(size=ref.radial_coeffs.shape)
    ours.radial_coeffs = ref.radial_coeffs.copy()
    assert ours.n_basis == ref.n_basis
    cols_ref, cols_ours = [], []
    for _ in range(3):  # three random neighbourhoods of atom 0
        pos = rng.uniform(-3, 3, size=(12, 3))
        pos[0] = 0
        a = Atoms("Cu12", positions=pos)
        cols_ref.append(ref.basis_values(a.positions, np.zeros((3, 3)), False, np.zeros(12, int))[0])
        cols_ours.append(ours.basis_values(a.positions, np.zeros((3, 3)), False, np.zeros(12, int))[0])
    R, O = np.array(cols_ref).T, np.array(cols_ours).T
    matched = set()
    for row in R:
        diff = np.abs(O - row).max(1) / np.abs(row).max()
        k = int(np.argmin(diff))
        assert diff[k] < 1e-9
        matched.add(k)
    assert len(matched) == ref.n_basis


def _basis_values(pot, atoms):
    """Site-summed basis function values B_alpha."""
    return pot.basis_values(atoms.positions, atoms.cell.array, True, np.zeros(len(atoms), int)).sum(0)


def test_basis_values_match_energy(rng):
    pot = random_potential(14, ["Cu", "Ag"])
    from ase.build import bulk
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=2)
    types = rng.integers(0, 2, len(atoms))
    B = pot.basis_values(atoms.positions, atoms.cell.array, True, types)
    res = pot.evaluate(atoms.positions, atoms.cell.array, True, types)
    assert np.allclose(B @ pot.moment_coeffs + pot.species_coeffs[types], res.energies, rtol=1e-12, atol=1e-12)


def test_rotation_invariance_high_level(rng):
    pot = random_potential(20, ["Cu"], scale=1e-3)
    from ase.build import bulk
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.2, seed=3)
    e0 = pot.evaluate(atoms.positions, atoms.cell.array, True, np.zeros(4, int), forces=False).energy
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    e1 = pot.evaluate(atoms.positions @ q.T, atoms.cell.array @ q.T, True, np.zeros(4, int), forces=False).energy
    assert e1 == pytest.approx(e0, rel=1e-10)


def test_level_formula():
    b = generate_basis(16)
    levels = [moment_level(mu, a + bb + c) for mu, a, bb, c in b.alpha_index_basic]
    assert max(levels) <= 16
    with pytest.raises(ValueError):
        generate_basis(0)
