"""Moment-tensor basis of any level, as MLIP-style tables.

A scalar basis function is a full contraction of a product of moment tensors
M_{mu,nu} (rank nu, radial function mu), i.e. a loopless multigraph whose nodes
are moment tensors (node degree = nu) and whose edges are contracted index
pairs.  lev(M_{mu,nu}) = 2 + 4 mu + nu and levels add under products; a level-N
basis holds every such graph with at most four tensors and total level <= N.

Each basis function is evaluated along one contraction tree (a basic tensor
times an intermediate, or two pair products contracted with each other);
intermediates are shared between basis functions.  The trees are chosen by the
fixed enumeration order of ``_enumerate_trees``, which gives the same numbers
of moments and products as MLIP's templates at every level 2..28.

The result is expressed in MLIP's table form:

* ``alpha_index_basic`` rows (mu, a, b, c): a symmetric component of M_{mu,nu}
  with a + b + c = nu, i.e. sum_j f_mu(r_ij) x^a y^b z^c / r^nu;
* ``alpha_index_times`` rows (i, j, mult, k): moment k += mult * m_i * m_j,
  applied in row order;
* ``alpha_moment_mapping``: indices of the scalar basis functions.

Intermediates keep their free indices in groups (one symmetric group per
tensor); a group pair under whose exchange the tensor is symmetric is stored once.
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
def _symmetric_under(comps, g, h):
    """True if a stored tensor is symmetric under exchanging its index groups g and h."""
    for key, index in comps.items():
        other = list(key)
        other[g], other[h] = other[h], other[g]
        if comps[tuple(other)] != index:
            return False
    return True


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
        swaps = self._result_swaps(mu, nu, x_left, x_counts, t_key, t_groups, t_comps)
        comps = {}
        for out_comp in itertools.product(*out_group_comps):
            alias = None
            for i, j in swaps:
                other = list(out_comp)
                other[i], other[j] = other[j], other[i]
                other = tuple(other)
                if other in comps:
                    alias = comps[other]
                    break
            if alias is not None:
                comps[out_comp] = alias
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

    @staticmethod
    def _result_swaps(mu, nu, x_left, x_counts, t_key, t_groups, t_comps):
        """Pairs of result groups under whose exchange the product is symmetric.

        Two cases: X times the same basic tensor (the two leftover groups), and X
        contracted equally with two groups of T under whose exchange T is symmetric.
        Only one of each exchanged pair of components is stored.
        """
        position, pos = {}, 1 if x_left else 0
        for g, (size, c) in enumerate(zip(t_groups, x_counts)):
            if size - c:
                position[g] = pos
                pos += 1
        swaps = []
        if t_key == ("M", mu, nu) and x_left and 0 in position:
            swaps.append((0, position[0]))
        for g in range(len(t_groups)):
            for h in range(g + 1, len(t_groups)):
                if (g in position and h in position and t_groups[g] == t_groups[h]
                        and x_counts[g] == x_counts[h] and _symmetric_under(t_comps, g, h)):
                    swaps.append((position[g], position[h]))
        return swaps

    def contract_pair_products(self, left, right, bundles):
        """Scalar full contraction of two intermediates.

        ``left``/``right`` are (groups, comps) of the two tensors; ``bundles`` lists
        (g_left, g_right, count): how many indices of group g_left contract with group
        g_right.  Returns the new scalar moment's index.
        """
        (lgroups, lcomps), (rgroups, rcomps) = left, right
        total = sum(c for _, _, c in bundles)
        # a tensor times itself: m_i * m_j and m_j * m_i are one product
        same = lgroups == rgroups and lcomps == rcomps
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
            if same:
                pair = (min(pair), max(pair))
            acc[pair] = acc.get(pair, 0) + 1
        for (i, j), mult in acc.items():
            self.times.append((i, j, mult, k))
        return k


# --------------------------------------------------------------------------- trees
@dataclass(eq=False)
class _Tree:
    """A contraction tree: an intermediate tensor with its open graph.

    ``labels`` are the (mu, nu) of its basic tensors, ``edges`` the contracted index
    pairs between them, ``groups`` its free indices as (node, count), one symmetric
    group per node, in storage order.  ``recipe`` says how it is built:
    ("basic", mu, nu), ("times", x_label, pattern, t) for X contracted with T
    (pattern[g] indices of X with group g of T), or ("pair", a, b, bundles) for the
    full contraction of two pair products.
    """

    labels: tuple
    edges: dict
    groups: tuple
    level: int
    rank: int
    recipe: tuple
    key: tuple = None
    order: tuple = ()


def _open_graph_key(labels, edges, groups):
    """Canonical form of an open graph: :func:`_canonical` of the graph whose node
    labels carry their free-index counts."""
    n = len(labels)
    free = [0] * n
    for node, size in groups:
        free[node] += size
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    return _canonical([(labels[i], free[i]) for i in range(n)], pairs, [edges.get(p, 0) for p in pairs])


def _basic_tree(mu, nu):
    labels = ((mu, nu),)
    groups = ((0, nu),)
    return _Tree(labels, {}, groups, moment_level(mu, nu), nu, ("basic", mu, nu),
                 key=_open_graph_key(labels, {}, groups))


def _compositions(sizes, k):
    """Ways to distribute k indices over groups of the given sizes, most into the
    first group first."""
    out = []

    def rec(g, rem, cur):
        if g == len(sizes):
            if rem == 0:
                out.append(tuple(cur))
            return
        for c in range(min(sizes[g], rem), -1, -1):
            rec(g + 1, rem - c, cur + [c])

    rec(0, k, [])
    return out


def _times_tree(x, t, pattern):
    """Basic tensor ``x`` contracted with ``t`` (``pattern[g]`` indices into group g)."""
    (mu, nu), = x.labels
    k = sum(pattern)
    n = len(t.labels)
    edges = dict(t.edges)
    for (node, _), c in zip(t.groups, pattern):
        if c:
            edges[(node, n)] = edges.get((node, n), 0) + c
    groups = ((n, nu - k),) if nu - k else ()
    groups += tuple((node, size - c) for (node, size), c in zip(t.groups, pattern) if size - c)
    labels = t.labels + ((mu, nu),)
    return _Tree(labels, edges, groups, t.level + x.level, t.rank + nu - 2 * k,
                 ("times", (mu, nu), pattern, t), key=_open_graph_key(labels, edges, groups))


def _bundle_patterns(left_groups, right_groups):
    """All full contractions of two tensors: (g_left, g_right, count) bundles."""
    sl = [s for _, s in left_groups]
    sr = [s for _, s in right_groups]
    cells = [(i, j) for i in range(len(sl)) for j in range(len(sr))]
    out = []

    def rec(c, cur):
        if c == len(cells):
            if not any(sl) and not any(sr):
                out.append(tuple(cur))
            return
        i, j = cells[c]
        for v in range(min(sl[i], sr[j]), -1, -1):
            sl[i] -= v
            sr[j] -= v
            rec(c + 1, cur + ([(i, j, v)] if v else []))
            sl[i] += v
            sr[j] += v

    rec(0, [])
    return out


def _pair_tree(a, b, bundles):
    n = len(a.labels)
    edges = dict(a.edges)
    for (u, v), e in b.edges.items():
        edges[(u + n, v + n)] = e
    for i, j, v in bundles:
        u, w = a.groups[i][0], b.groups[j][0] + n
        edges[(u, w)] = edges.get((u, w), 0) + v
    labels = a.labels + b.labels
    return _Tree(labels, edges, (), a.level + b.level, 0, ("pair", a, b, bundles),
                 key=_open_graph_key(labels, edges, ()))


def _enumerate_trees(level, labels):
    """One contraction tree for every scalar basis function of total level <= level.

    Trees are built in layers of 1..4 basic tensors: X * T with X basic and T from
    the previous layer (contracting k >= 1 indices, or k = 0 between scalars), plus,
    for four tensors, the full contraction of two pair products.  Candidates are
    visited in a fixed order and the first tree found for a tensor (open graph, up
    to the order of its free-index groups) is kept:

    * layers 2 and 3: by the number k of contracted indices, X in (mu, nu) order,
      the distribution of the k indices (most into T's first group first), T;
    * layer 4 (scalars only): by k, X, then T's own order (defined below), pattern;
      pair-pair contractions after the X * T trees with the same k.

    Order of a pair product of a <= b contracted over k indices:
    (mu_b, k, mu_a, nu_a, nu_b); of a three-tensor tree: (its T's order, X, k, pattern).
    This rule reproduces MLIP's templates (numbers of moments and products) at every
    level 2..28.
    """
    basics = [_basic_tree(mu, nu) for mu, nu in labels]
    seen = {t.key for t in basics}
    scalars = {t.key: t for t in basics if t.rank == 0}
    layers = [basics]
    for n in range(2, MAX_TENSORS + 1):
        candidates = []
        for xi, x in enumerate(basics):
            nu = x.rank
            for ti, t in enumerate(layers[-1]):
                new_level = t.level + x.level
                if new_level > level:
                    continue
                for k in range(0, min(nu, t.rank) + 1):
                    rank = t.rank + nu - 2 * k
                    if n == MAX_TENSORS and rank:
                        continue
                    if rank and rank > level - new_level - 2:
                        continue  # no tensor left could contract it
                    if k == 0 and not (nu == 0 and t.rank == 0):
                        continue  # outer products only between scalars
                    for pattern in _compositions([s for _, s in t.groups], k):
                        neg = tuple(-c for c in pattern)
                        if n == MAX_TENSORS:
                            key = (k, 0, xi, t.order, neg)
                        else:
                            key = (k, 0, xi, neg, ti)
                        candidates.append((key, "times", x, t, pattern))
        if n == MAX_TENSORS:
            pairs = layers[1]
            for i, a in enumerate(pairs):
                for j in range(i, len(pairs)):
                    b = pairs[j]
                    if a.level + b.level > level or a.rank != b.rank:
                        continue
                    for m, bundles in enumerate(_bundle_patterns(a.groups, b.groups)):
                        candidates.append(((a.rank, 1, i, j, m), "pair", a, b, bundles))
        candidates.sort(key=lambda c: c[0])
        layer = []
        for _, kind, u, v, w in candidates:
            tree = _times_tree(u, v, w) if kind == "times" else _pair_tree(u, v, w)
            if tree.key in seen:
                continue
            seen.add(tree.key)
            if kind == "times":
                k = sum(w)
                if n == 2:
                    (a, b) = sorted((u.labels[0], v.labels[0]))
                    tree.order = (b[0], k, a[0], a[1], b[1])
                else:
                    tree.order = (v.order, u.labels[0], k, tuple(-c for c in w))
            if tree.rank == 0:
                scalars[tree.key] = tree
            layer.append(tree)
        layers.append(layer)
    return scalars


def _realize(builder, tree):
    """Write the tables for ``tree``; returns (key, groups, components) of the tensor."""
    kind = tree.recipe[0]
    if kind == "basic":
        _, mu, nu = tree.recipe
        return ("M", mu, nu), [nu], builder.basic_tensor(mu, nu)
    if kind == "times":
        _, x_label, pattern, t = tree.recipe
        t_key, t_groups, t_comps = _realize(builder, t)
        return builder.contract(x_label, list(pattern), t_key, t_groups, t_comps)
    _, a, b, bundles = tree.recipe
    _, a_groups, a_comps = _realize(builder, a)
    _, b_groups, b_comps = _realize(builder, b)
    k = builder.contract_pair_products((a_groups, a_comps), (b_groups, b_comps), list(bundles))
    return ("S", k), [], {(): k}


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
    trees = _enumerate_trees(level, _node_labels(level, max_mu, max_nu))
    # scalar basis functions ordered by level, number of tensors, canonical graph
    ordered = sorted(trees.values(), key=lambda t: (t.level, len(t.labels), t.key))
    used = sorted({lab for t in ordered for lab in t.labels})
    builder = _TableBuilder(used)
    mapping = []
    for tree in ordered:
        if tree.recipe[0] == "basic":
            _, mu, nu = tree.recipe
            mapping.append(builder.basic_index[(mu, nu, (0, 0, 0))])
        else:
            _, _, comps = _realize(builder, tree)
            mapping.append(comps[()])
    basic = np.array(builder.basic_rows, dtype=np.int64).reshape(-1, 4)
    times = np.array(builder.times, dtype=np.int64).reshape(-1, 4)
    return Basis(
        alpha_index_basic=basic,
        alpha_index_times=times,
        alpha_moment_mapping=np.array(mapping, dtype=np.int64),
        alpha_moments_count=builder.n_moments,
        radial_funcs_count=int(basic[:, 0].max()) + 1,
    )
