"""Moment-tensor basis of any level, as MLIP-style tables.

A scalar basis function is a full contraction of a product of moment tensors
M_{mu,nu} (rank nu, radial function mu), i.e. a loopless multigraph whose nodes
are moment tensors (node degree = nu) and whose edges are contracted index
pairs.  lev(M_{mu,nu}) = 2 + 4 mu + nu and levels add under products; a level-N
basis holds every such graph with at most four tensors and total level <= N,
which reproduces the number of scalar basis functions of MLIP's templates at
every level 2..28.

The result is expressed in MLIP's table form:

* ``alpha_index_basic`` rows (mu, a, b, c): a symmetric component of M_{mu,nu}
  with a + b + c = nu, i.e. sum_j f_mu(r_ij) x^a y^b z^c / r^nu;
* ``alpha_index_times`` rows (i, j, mult, k): moment k += mult * m_i * m_j,
  applied in row order;
* ``alpha_moment_mapping``: indices of the scalar basis functions.

Each graph is evaluated as a chain X1 * (X2 * (... * Xn)), contracting one
tensor at a time into an intermediate whose free indices are kept in groups
(one symmetric group per tensor); identical intermediates are shared.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Basis", "generate_basis", "moment_level", "symmetric_components"]

MAX_TENSORS = 4


def moment_level(mu: int, nu: int) -> int:
    """Level of the moment tensor M_{mu,nu}."""
    return 2 + 4 * mu + nu


@lru_cache(maxsize=None)
def symmetric_components(nu: int) -> tuple:
    """Exponent triples (a, b, c), a+b+c = nu, in MLIP's order (a, then b descending)."""
    out = []
    for a in range(nu, -1, -1):
        for b in range(nu - a, -1, -1):
            out.append((a, b, nu - a - b))
    return tuple(out)


def _counts(indices) -> tuple:
    """Exponent triple of an explicit Cartesian index sequence."""
    c = [0, 0, 0]
    for k in indices:
        c[k] += 1
    return tuple(c)


def _explicit(exponents) -> tuple:
    """A representative explicit index sequence for an exponent triple."""
    return (0,) * exponents[0] + (1,) * exponents[1] + (2,) * exponents[2]


@dataclass
class Basis:
    """MLIP basis tables (all int64 arrays)."""

    alpha_index_basic: np.ndarray  # (n_basic, 4): mu, a, b, c
    alpha_index_times: np.ndarray  # (n_times, 4): i, j, mult, k
    alpha_moment_mapping: np.ndarray  # (n_scalar,)
    alpha_moments_count: int
    radial_funcs_count: int

    @property
    def alpha_scalar_moments(self) -> int:
        return len(self.alpha_moment_mapping)


# --------------------------------------------------------------------------- graphs
def _node_labels(level, max_mu, max_nu):
    labels = []
    for mu in range(max_mu + 1):
        for nu in range(max_nu + 1):
            if moment_level(mu, nu) <= level:
                labels.append((mu, nu))
    return labels


def _adjacencies(degrees):
    """All loopless multigraph edge-count assignments with the given degrees."""
    n = len(degrees)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    rem = list(degrees)
    cur = [0] * len(pairs)
    found = []

    def rec(p):
        if p == len(pairs):
            if not any(rem):
                found.append(tuple(cur))
            return
        a, b = pairs[p]
        for e in range(min(rem[a], rem[b]) + 1):
            rem[a] -= e
            rem[b] -= e
            cur[p] = e
            if _still_feasible(rem, pairs, p, a):
                rec(p + 1)
            rem[a] += e
            rem[b] += e
        cur[p] = 0

    rec(0)
    return pairs, found


def _still_feasible(rem, pairs, p, a):
    # Node a has no pairs left after its last pair (a, n-1): its degree must be used up.
    if p + 1 < len(pairs) and pairs[p + 1][0] == a:
        return True
    return rem[a] == 0


def _canonical(labels, pairs, edges):
    n = len(labels)
    emap = dict(zip(pairs, edges))
    best = None
    for perm in itertools.permutations(range(n)):
        lab = tuple(labels[perm[i]] for i in range(n))
        if best is not None and lab > best[0]:
            continue
        adj = tuple(
            emap[(min(perm[i], perm[j]), max(perm[i], perm[j]))]
            for i in range(n)
            for j in range(i + 1, n)
        )
        key = (lab, adj)
        if best is None or key < best:
            best = key
    return best


def enumerate_graphs(level, max_mu, max_nu, max_tensors=MAX_TENSORS):
    """Canonical contraction graphs ``(labels, adjacency)`` with total level <= level.

    ``labels`` is a sorted tuple of (mu, nu); ``adjacency`` the edge counts of the
    upper triangle in row order.  Sorted by level, then by number of tensors.
    """
    labels = _node_labels(level, max_mu, max_nu)
    seen = set()
    graphs = []
    for n in range(1, max_tensors + 1):
        for combo in itertools.combinations_with_replacement(labels, n):
            lev = sum(moment_level(mu, nu) for mu, nu in combo)
            if lev > level or sum(nu for _, nu in combo) % 2:
                continue
            pairs, found = _adjacencies([nu for _, nu in combo])
            for edges in found:
                key = _canonical(list(combo), pairs, edges)
                if key not in seen:
                    seen.add(key)
                    graphs.append((lev, n, key))
    graphs.sort()
    return [g[2] for g in graphs]


# --------------------------------------------------------------------------- tables
def _swap_symmetric(groups, comps):
    """True if a two-group tensor is stored symmetric under exchanging its groups."""
    if len(groups) != 2 or groups[0] != groups[1]:
        return False
    return all(comps[key] == comps[key[::-1]] for key in comps)


class _TableBuilder:
    def __init__(self, basic_labels):
        self.basic_index = {}
        rows = []
        for mu, nu in basic_labels:
            for comp in symmetric_components(nu):
                self.basic_index[(mu, nu, comp)] = len(rows)
                rows.append((mu,) + comp)
        self.basic_rows = rows
        self.n_moments = len(rows)
        self.times = []
        self.tensors = {}  # key -> dict(component tuple -> moment index)

    def basic_tensor(self, mu, nu):
        return {(c,): self.basic_index[(mu, nu, c)] for c in symmetric_components(nu)}

    def contract(self, x_label, x_counts, t_key, t_groups, t_comps):
        """Contract basic tensor X with intermediate T.

        x_counts[g] = number of X indices contracted with group g of T (group sizes
        t_groups).  Returns the key, groups and components of the result.
        """
        key = (x_label, tuple(x_counts), t_key)
        mu, nu = x_label
        e = sum(x_counts)
        x_left = nu - e
        out_groups = ([x_left] if x_left else []) + [s - c for s, c in zip(t_groups, x_counts) if s - c]
        if key in self.tensors:
            return key, out_groups, self.tensors[key]
        x_comp_index = {c: self.basic_index[(mu, nu, c)] for c in symmetric_components(nu)}
        out_group_comps = [symmetric_components(s) for s in out_groups]
        # X times the same basic tensor: the result is symmetric under swapping the two
        # leftover groups, so only one of (c1, c2) and (c2, c1) is stored
        # (so is X contracted equally with both halves of a swap-symmetric T)
        swap_symmetric = len(out_groups) == 2 and (
            t_key == ("M", mu, nu)
            or (x_left == 0 and len(x_counts) == 2 and x_counts[0] == x_counts[1] and _swap_symmetric(t_groups, t_comps)))
        comps = {}
        for out_comp in itertools.product(*out_group_comps):
            if swap_symmetric and out_comp[::-1] in comps:
                comps[out_comp] = comps[out_comp[::-1]]
                continue
            k = self.n_moments
            self.n_moments += 1
            comps[out_comp] = k
            # explicit free indices of X and of each group of T
            pos = 0
            if x_left:
                x_free = _explicit(out_comp[0])
                pos = 1
            else:
                x_free = ()
            g_free = []
            for s, c in zip(t_groups, x_counts):
                if s - c:
                    g_free.append(_explicit(out_comp[pos]))
                    pos += 1
                else:
                    g_free.append(())
            acc = {}
            for xi in itertools.product(range(3), repeat=e):
                x_c = _counts(x_free + xi)
                start = 0
                t_c = []
                for g, c in enumerate(x_counts):
                    t_c.append(_counts(g_free[g] + xi[start:start + c]))
                    start += c
                pair = (x_comp_index[x_c], t_comps[tuple(t_c)])
                acc[pair] = acc.get(pair, 0) + 1
            for (i, j), mult in acc.items():
                self.times.append((i, j, mult, k))
        self.tensors[key] = comps
        return key, out_groups, comps


    def contract_pair_products(self, left, right, bundles):
        """Scalar full contraction of two intermediates.

        ``left``/``right`` are (groups, comps) of the two tensors; ``bundles`` lists
        (g_left, g_right, count): how many indices of group g_left contract with group
        g_right.  Returns the new scalar moment's index.
        """
        (lgroups, lcomps), (rgroups, rcomps) = left, right
        total = sum(c for _, _, c in bundles)
        k = self.n_moments
        self.n_moments += 1
        acc = {}
        for xi in itertools.product(range(3), repeat=total):
            lidx = [[] for _ in lgroups]
            ridx = [[] for _ in rgroups]
            pos = 0
            for gl, gr, c in bundles:
                lidx[gl].extend(xi[pos:pos + c])
                ridx[gr].extend(xi[pos:pos + c])
                pos += c
            pair = (lcomps[tuple(_counts(x) for x in lidx)], rcomps[tuple(_counts(x) for x in ridx)])
            acc[pair] = acc.get(pair, 0) + 1
        for (i, j), mult in acc.items():
            self.times.append((i, j, mult, k))
        return k


def _edges(labels, adjacency):
    n = len(labels)
    edge = {}
    p = 0
    for i in range(n):
        for j in range(i + 1, n):
            edge[(i, j)] = edge[(j, i)] = adjacency[p]
            p += 1
    return edge


def _rank(nodes, labels, edge):
    """Free indices of the contraction of ``nodes`` (edges to the other tensors)."""
    return sum(labels[i][1] for i in nodes) - 2 * sum(edge[(i, j)] for i in nodes for j in nodes if i < j)


def _pair_split(labels, edge):
    """For four tensors: the split into two pairs, if contracting pair by pair keeps a
    lower intermediate rank than every chain X1*(X2*(X3*X4)); else None."""
    best_chain = min(
        max(_rank(perm[2:], labels, edge), _rank(perm[1:], labels, edge))
        for perm in itertools.permutations(range(4)))
    splits = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    rank, split = min((_rank(a, labels, edge), (a, b)) for a, b in splits)
    return split if rank < best_chain else None


def _chain_order(labels, edge):
    """Tensor order for the chain X1*(X2*(...*(Xn-1*Xn))).

    Tensors are pulled out by ascending (nu, mu); among tensors with equal labels the
    assignment with the lowest intermediate ranks (innermost first) is used.  The
    innermost pair is ordered by (mu, nu).
    """
    n = len(labels)
    by_label = sorted(range(n), key=lambda i: (labels[i][1], labels[i][0], i))
    target = [labels[i] for i in by_label]
    best = None
    for perm in itertools.permutations(range(n)):
        if [labels[i] for i in perm] != target:
            continue
        ranks = tuple(_rank(perm[k:], labels, edge) for k in range(n - 2, 0, -1))
        if best is None or ranks < best[0]:
            best = (ranks, perm)
    order = list(best[1])
    order[-2:] = sorted(order[-2:], key=lambda i: (labels[i][0], labels[i][1], i))
    return order


def _pair_tensor(builder, labels, edge, a, b):
    """Contract basic tensors a and b (lower (mu, nu) first); returns node order, groups, comps."""
    x, t = sorted((a, b), key=lambda i: (labels[i][0], labels[i][1], i))
    mu, nu = labels[t]
    _, groups, comps = builder.contract(labels[x], [edge[(x, t)]], ("M", mu, nu), [nu], builder.basic_tensor(mu, nu))
    nodes = [n for n, left in ((x, labels[x][1] - edge[(x, t)]), (t, nu - edge[(x, t)])) if left]
    return nodes, groups, comps


def _build_scalar(builder, labels, adjacency):
    n = len(labels)
    edge = _edges(labels, adjacency)
    if n == 4:
        split = _pair_split(labels, edge)
        if split is not None:
            (a, b), (c, d) = split
            lnodes, lgroups, lcomps = _pair_tensor(builder, labels, edge, a, b)
            rnodes, rgroups, rcomps = _pair_tensor(builder, labels, edge, c, d)
            bundles = [(gl, gr, edge[(u, v)]) for gl, u in enumerate(lnodes) for gr, v in enumerate(rnodes)
                       if edge[(u, v)]]
            return builder.contract_pair_products((lgroups, lcomps), (rgroups, rcomps), bundles)
    order = _chain_order(labels, edge)
    last = order[-1]
    mu, nu = labels[last]
    t_key = ("M", mu, nu)
    t_comps = builder.basic_tensor(mu, nu)
    inner = [last]  # nodes inside T, in group order
    t_groups = [nu]
    for x in reversed(order[:-1]):
        x_counts = [edge[(x, g)] for g in inner]
        t_key, groups, t_comps = builder.contract(labels[x], x_counts, t_key, t_groups, t_comps)
        # new group order: X's leftover first (if any), then the surviving groups of T
        new_inner, new_groups = [], []
        x_left = labels[x][1] - sum(x_counts)
        if x_left:
            new_inner.append(x)
            new_groups.append(x_left)
        for g, s, c in zip(inner, t_groups, x_counts):
            if s - c:
                new_inner.append(g)
                new_groups.append(s - c)
        # a group's size is the number of edges from its tensor to tensors outside T
        inner, t_groups = new_inner, new_groups
        assert groups == t_groups
    assert not t_groups, "scalar contraction left free indices"
    return t_comps[()]


def generate_basis(level: int, max_mu: int | None = None, max_nu: int | None = None) -> Basis:
    """Basis tables of all contractions with level <= ``level``.

    ``max_mu``/``max_nu`` cap the radial index and tensor rank; by default MLIP's
    convention is used (no cap up to level 24, mu <= 5 and nu <= 10 above).
    """
    level = int(level)
    if level < 2:
        raise ValueError(f"MTP level must be >= 2, got {level}")
    if level % 2:
        raise ValueError(f"MTP levels are even (2, 4, ..., 28, ...), got {level}")
    if max_mu is None:
        max_mu = (level - 2) // 4 if level <= 24 else 5
    if max_nu is None:
        max_nu = level - 2 if level <= 24 else 10
    graphs = enumerate_graphs(level, max_mu, max_nu)
    used = sorted({lab for labels, _ in graphs for lab in labels})
    builder = _TableBuilder(used)
    mapping = []
    for labels, adjacency in graphs:
        if len(labels) == 1:
            mu, nu = labels[0]
            mapping.append(builder.basic_index[(mu, nu, (0, 0, 0))])
        else:
            mapping.append(_build_scalar(builder, list(labels), adjacency))
    basic = np.array(builder.basic_rows, dtype=np.int64).reshape(-1, 4)
    times = np.array(builder.times, dtype=np.int64).reshape(-1, 4)
    return Basis(
        alpha_index_basic=basic,
        alpha_index_times=times,
        alpha_moment_mapping=np.array(mapping, dtype=np.int64),
        alpha_moments_count=builder.n_moments,
        radial_funcs_count=int(basic[:, 0].max()) + 1,
    )
