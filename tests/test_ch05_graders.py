"""The chapter-5 graders must fail on realistic wrong implementations (and pass on other correct ones).

Each wrong variant replaces one function of the reference module and keeps its argument validation (as a
learner's stub does); the graders of that exercise must reject it, the others are not run.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import types
from collections import Counter, deque

import numpy as np
import pytest
from scipy import stats

from molpractice.mutation import GraderSuite
from solutions import ch05_drills as ref

SUITE = GraderSuite("ch05_drills")
graders = SUITE.graders
_impl = SUITE.implementation
_graders_of = SUITE.graders_of
_rejection = SUITE.first_rejection  # the first rejecting grader's message, or None


def _accepts(impl, exercise_id):
    for grader in _graders_of(exercise_id):
        grader(impl)


# ------------------------------------------------------------------------------- 5.1 window
def window_brute_force_quadratic(tokens, k):
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    best = 0
    for i in range(len(tokens)):
        seen = set()
        for j in range(i, len(tokens)):
            seen.add(tokens[j])
            if len(seen) > k:
                break
            best = max(best, j - i + 1)
    return best


def window_rebuilds_set(tokens, k):
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    best = left = 0
    for right in range(len(tokens)):
        while left <= right and len(set(tokens[left:right + 1])) > k:
            left += 1
        best = max(best, right - left + 1)
    return best


def window_off_by_one(tokens, k):
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    counts, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        while len(counts) > k:
            counts[tokens[left]] -= 1
            if counts[tokens[left]] == 0:
                del counts[tokens[left]]
            left += 1
        best = max(best, right - left)
    return best


def window_keeps_zero_counts(tokens, k):
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    counts, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        while len(counts) > k and left <= right:  # keys whose count fell to 0 are never deleted
            counts[tokens[left]] -= 1
            left += 1
        best = max(best, right - left + 1)
    return best


def window_forgets_last_window(tokens, k):
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    counts, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        if len(counts) > k:
            best = max(best, right - left)  # the window before this token; the one ending at n-1 is never scored
            while len(counts) > k:
                counts[tokens[left]] -= 1
                if counts[tokens[left]] == 0:
                    del counts[tokens[left]]
                left += 1
    return best


def window_shrinks_one_too_early(tokens, k):
    """Off by one at the boundary: a window of exactly k distinct values is shrunk too (>= instead of >)."""
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    counts, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        while counts and len(counts) >= k and left <= right:
            counts[tokens[left]] -= 1
            if counts[tokens[left]] == 0:
                del counts[tokens[left]]
            left += 1
        best = max(best, right - left + 1)
    return best


def window_returns_none(tokens, k):
    ref._check_int("k", k, low=0)
    return None


def window_non_shrinking_correct(tokens, k):
    """Correct, written differently: the window never shrinks, so its final length is the answer."""
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    if k == 0:
        return 0
    counts, left = {}, 0
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
        if len(counts) > k:  # slide: drop one token from the left, window length stays
            out = tokens[left]
            counts[out] -= 1
            if not counts[out]:
                del counts[out]
            left += 1
    return len(tokens) - left


def window_counter_of_slice(tokens, k):
    """Super-linear: a Counter of the whole window at every step."""
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    best = left = 0
    for right in range(len(tokens)):
        while len(Counter(tokens[left:right + 1])) > k:
            left += 1
        best = max(best, right - left + 1)
    return best


def window_counts_nonzero_values(tokens, k):
    """Super-linear when many values are distinct: zero counts kept, the non-zero ones counted at every step."""
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    counts, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        while sum(1 for c in counts.values() if c > 0) > k:
            counts[tokens[left]] -= 1
            left += 1
        best = max(best, right - left + 1)
    return best


def window_list_pop_front(tokens, k):
    """Super-linear: the window kept as a list, its distinct values recounted with set() and trimmed with pop(0)."""
    k = ref._check_int("k", k, low=0)
    window, best = [], 0
    for t in list(tokens):
        window.append(t)
        while len(set(window)) > k:
            window.pop(0)
        best = max(best, len(window))
    return best


def window_deque_counter_correct(tokens, k):
    """Correct, written differently: a deque holds the window, a Counter its values."""
    k = ref._check_int("k", k, low=0)
    window, counts, best = deque(), Counter(), 0
    for t in list(tokens):
        window.append(t)
        counts[t] += 1
        while len(counts) > k:
            out = window.popleft()
            counts[out] -= 1
            if not counts[out]:
                del counts[out]
        best = max(best, len(window))
    return best


def window_last_seen_correct(tokens, k):
    """Correct, written differently: the last position of each value; the left end jumps past the stalest one."""
    k = ref._check_int("k", k, low=0)
    tokens = list(tokens)
    if k == 0:
        return 0
    last, best, left = {}, 0, 0
    for right, t in enumerate(tokens):
        last[t] = right
        if len(last) > k:  # k + 1 values: drop the one seen least recently (O(k) per drop, O(n) drops)
            stale = min(last, key=last.get)
            left = last.pop(stale) + 1
        best = max(best, right - left + 1)
    return best


#: correct implementations of 5.1 written differently from the reference (scripts/prove_graders_under_load.py)
WINDOW_CORRECT = {"reference": ref.longest_window_at_most_k_distinct,
                  "non-shrinking window": window_non_shrinking_correct,
                  "deque + Counter": window_deque_counter_correct}
#: correct answers, super-linear work
WINDOW_SUPERLINEAR = {"brute force from every left end": window_brute_force_quadratic,
                      "set of the window rebuilt per step": window_rebuilds_set,
                      "Counter of a slice per step": window_counter_of_slice,
                      "non-zero counts summed per step": window_counts_nonzero_values,
                      "window list with pop(0)": window_list_pop_front}


@pytest.mark.parametrize("broken", [window_off_by_one, window_keeps_zero_counts, window_forgets_last_window,
                                    window_shrinks_one_too_early, window_returns_none])
def test_window_graders_reject(broken):
    assert _rejection(_impl(longest_window_at_most_k_distinct=broken), "5.1"), \
        f"graders of 5.1 accepted {broken.__name__}"


@pytest.mark.parametrize("name", sorted(WINDOW_SUPERLINEAR))
def test_window_graders_reject_superlinear_work_and_say_so(name):
    message = _rejection(_impl(longest_window_at_most_k_distinct=WINDOW_SUPERLINEAR[name]), "5.1")
    assert message and "super-linear" in message and "dict of counts" in message, \
        f"5.1 graders on {name}: {message}"


@pytest.mark.parametrize("name", sorted(WINDOW_CORRECT))
def test_window_graders_accept_correct_variants(name):
    _accepts(_impl(longest_window_at_most_k_distinct=WINDOW_CORRECT[name]), "5.1")


def test_window_last_seen_variant_is_judged_by_its_work():
    """O(n·k): linear on SMILES-like streams, quadratic when k grows with n — the grader must say so."""
    message = _rejection(_impl(longest_window_at_most_k_distinct=window_last_seen_correct), "5.1")
    assert message and "n/4 distinct tokens" in message


# ------------------------------------------------------------------------------- 5.2 tree
def _tree_variant(mistake=None):
    def induced_subgraph_is_tree(num_nodes, edges, mask):
        num_nodes = ref._check_int("num_nodes", num_nodes, low=0)
        selected = ref._selection(num_nodes, mask)
        edges = ref._edge_list(num_nodes, edges)
        nodes = [i for i, s in enumerate(selected) if s]
        if mistake == "last_node_dropped":
            nodes = [i for i in range(num_nodes - 1) if selected[i]]  # range(n − 1): off by one at the top
        m = len(nodes)
        if m == 0:
            return mistake == "empty_is_tree"
        adj = {i: [] for i in range(num_nodes)}
        seen, count = set(), 0
        for u, v in edges:
            if mistake == "whole_graph_edges":
                if selected[u] or selected[v]:
                    count += 1
                    adj[u].append(v)
                    adj[v].append(u)
                continue
            if not (selected[u] and selected[v]):
                continue
            if u == v:
                if mistake == "ignores_self_loops":
                    continue
                return False
            key = (min(u, v), max(u, v))
            if key in seen and mistake != "no_dedupe":
                continue
            seen.add(key)
            count += 1
            adj[u].append(v)
            adj[v].append(u)
        if mistake == "edges_le_nodes" and count > m:  # m edges allowed: off by one
            return False
        if mistake not in ("connectivity_only", "edges_le_nodes") and count != m - 1:
            return False
        if mistake == "edge_count_only":
            return True
        if mistake == "recursive_dfs":
            visited = set()

            def dfs(u):
                visited.add(u)
                for w in adj[u]:
                    if w not in visited and selected[w]:
                        dfs(w)

            dfs(nodes[0])
            return len(visited) == m
        visited = [] if mistake == "visited_list" else set()
        stack = [nodes[0]]
        while stack:
            u = stack.pop()
            if u in visited:
                continue
            visited.append(u) if mistake == "visited_list" else visited.add(u)
            stack.extend(w for w in adj[u] if selected[w] and w not in visited)
        return len(visited) == m

    return induced_subgraph_is_tree


def tree_union_find_correct(num_nodes, edges, mask):
    """Correct, written differently: union–find with path halving, duplicates detected as a cycle."""
    num_nodes = ref._check_int("num_nodes", num_nodes, low=0)
    selected = ref._selection(num_nodes, mask)
    edges = ref._edge_list(num_nodes, edges)
    parent = list(range(num_nodes))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    m = sum(selected)
    unique = {(min(u, v), max(u, v)) for u, v in edges if selected[u] and selected[v]}
    if m == 0 or len(unique) != m - 1:
        return False
    for u, v in unique:
        ru, rv = find(u), find(v)
        if ru == rv:
            return False
        parent[ru] = rv
    return True


def _validated(num_nodes, edges, mask):
    num_nodes = ref._check_int("num_nodes", num_nodes, low=0)
    return num_nodes, ref._edge_list(num_nodes, edges), ref._selection(num_nodes, mask)


def _induced_unique(edges, selected):
    """Induced edges as a set of (low, high) pairs, or None when a selected node has a self-loop."""
    unique = {(min(u, v), max(u, v)) for u, v in edges if selected[u] and selected[v]}
    return None if any(u == v for u, v in unique) else unique


def tree_bfs_deque_correct(num_nodes, edges, mask):
    """Correct, written differently: adjacency sets (duplicates merge by themselves), BFS with a deque."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    nodes = [i for i in range(num_nodes) if selected[i]]
    adjacency = {i: set() for i in nodes}
    for u, v in edges:
        if selected[u] and selected[v]:
            if u == v:
                return False
            adjacency[u].add(v)
            adjacency[v].add(u)
    if not nodes or sum(len(a) for a in adjacency.values()) != 2 * (len(nodes) - 1):
        return False
    queue, seen = deque([nodes[0]]), {nodes[0]}
    while queue:
        for w in adjacency[queue.popleft()]:
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return len(seen) == len(nodes)


def tree_flag_list_dfs_correct(num_nodes, edges, mask):
    """Correct, written differently: visited as a list of n flags, DFS with a list used as a stack."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    unique = _induced_unique(edges, selected)
    m = sum(selected)
    if m == 0 or unique is None or len(unique) != m - 1:
        return False
    neighbours = [[] for _ in range(num_nodes)]
    for u, v in unique:
        neighbours[u].append(v)
        neighbours[v].append(u)
    start = selected.index(True)
    visited, stack, reached = [False] * num_nodes, [start], 0
    visited[start] = True
    while stack:
        node = stack.pop()
        reached += 1
        for w in neighbours[node]:
            if not visited[w]:
                visited[w] = True
                stack.append(w)
    return reached == m


def tree_bfs_pop_front(num_nodes, edges, mask):
    """Super-linear: BFS whose queue is a list emptied with pop(0)."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    unique = _induced_unique(edges, selected)
    nodes = [i for i in range(num_nodes) if selected[i]]
    if not nodes or unique is None or len(unique) != len(nodes) - 1:
        return False
    adjacency = {i: [] for i in nodes}
    for u, v in unique:
        adjacency[u].append(v)
        adjacency[v].append(u)
    queue, seen = [nodes[0]], {nodes[0]}
    while queue:
        node = queue.pop(0)
        for w in adjacency[node]:
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return len(seen) == len(nodes)


def tree_dedupe_with_a_list(num_nodes, edges, mask):
    """Super-linear: duplicates found by searching a list of the edges kept so far."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    kept = []
    for u, v in edges:
        if selected[u] and selected[v]:
            if u == v:
                return False
            if (u, v) in kept or (v, u) in kept:
                continue
            kept.append((u, v))
    return tree_union_find_correct(num_nodes, kept, selected)


def tree_scans_all_edges_per_node(num_nodes, edges, mask):
    """Super-linear: no adjacency lists; every step of the walk scans the whole edge set."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    unique = _induced_unique(edges, selected)
    nodes = [i for i in range(num_nodes) if selected[i]]
    if not nodes or unique is None or len(unique) != len(nodes) - 1:
        return False
    seen, stack = {nodes[0]}, [nodes[0]]
    while stack:
        x = stack.pop()
        for u, v in unique:
            if x in (u, v):
                w = v if u == x else u
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
    return len(seen) == len(nodes)


def tree_union_find_without_compression(num_nodes, edges, mask):
    """Super-linear: union–find whose find walks the whole chain every time (no path compression or halving)."""
    num_nodes, edges, selected = _validated(num_nodes, edges, mask)
    unique = _induced_unique(edges, selected)
    m = sum(selected)
    if m == 0 or unique is None or len(unique) != m - 1:
        return False
    parent = list(range(num_nodes))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in sorted(unique):
        ru, rv = find(u), find(v)
        if ru == rv:
            return False
        parent[ru] = rv
    return True


#: correct implementations of 5.2 written differently from the reference (scripts/prove_graders_under_load.py)
TREE_CORRECT = {"reference": ref.induced_subgraph_is_tree,
                "stack DFS, visited set": _tree_variant(None),
                "union–find, path halving": tree_union_find_correct,
                "BFS with a deque, adjacency sets": tree_bfs_deque_correct,
                "DFS, visited as a list of flags": tree_flag_list_dfs_correct}
#: correct answers, super-linear work
TREE_SUPERLINEAR = {"visited kept in a list": _tree_variant("visited_list"),
                    "BFS queue with pop(0)": tree_bfs_pop_front,
                    "duplicate edges searched in a list": tree_dedupe_with_a_list,
                    "all edges scanned per node": tree_scans_all_edges_per_node,
                    "union–find without path compression": tree_union_find_without_compression}


@pytest.mark.parametrize("mistake", ["recursive_dfs", "whole_graph_edges", "no_dedupe", "ignores_self_loops",
                                     "edge_count_only", "connectivity_only", "empty_is_tree", "last_node_dropped",
                                     "edges_le_nodes"])
def test_tree_graders_reject(mistake):
    assert _rejection(_impl(induced_subgraph_is_tree=_tree_variant(mistake)), "5.2"), \
        f"graders of 5.2 accepted {mistake}"


@pytest.mark.parametrize("name", sorted(TREE_SUPERLINEAR))
def test_tree_graders_reject_superlinear_work_and_say_so(name):
    message = _rejection(_impl(induced_subgraph_is_tree=TREE_SUPERLINEAR[name]), "5.2")
    assert message and "super-linear" in message and "deque.popleft()" in message, f"5.2 graders on {name}: {message}"


@pytest.mark.parametrize("name", sorted(TREE_CORRECT))
def test_tree_graders_accept_correct_variants(name):
    _accepts(_impl(induced_subgraph_is_tree=TREE_CORRECT[name]), "5.2")


def test_tree_recursion_is_rejected_with_a_useful_message():
    message = _rejection(_impl(induced_subgraph_is_tree=_tree_variant("recursive_dfs")), "5.2")
    assert "explicit stack" in message


# ------------------------------------------------------------------------------- 5.3 cluster bootstrap
def _bootstrap_variant(mistake=None):
    def cluster_bootstrap_ci(values, clusters, statistic=np.mean, n_boot=2000, alpha=0.05, seed=0):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise ValueError("bad values")
        codes = ref._cluster_codes(clusters, values.size)
        n_boot = ref._check_int("n_boot", n_boot, low=1)
        alpha = ref._check_probability("alpha", alpha)
        G = int(codes.max()) + 1
        members = [np.flatnonzero(codes == g) for g in range(G)]
        if mistake == "largest_id_plus_one":  # raw ids as cluster numbers: ids with gaps make empty clusters
            raw = np.asarray(clusters)
            if np.issubdtype(raw.dtype, np.integer):
                G = int(raw.max()) + 1
                members = [np.flatnonzero(raw == g) for g in range(G)]
        rng = np.random.default_rng() if mistake == "unseeded_rng" else np.random.default_rng(seed)
        stat = np.mean if mistake == "ignores_statistic" else statistic
        reps = np.empty(n_boot)
        for b in range(n_boot):
            if mistake == "iid":
                reps[b] = stat(values[rng.integers(0, values.size, size=values.size)])
                continue
            if mistake == "without_replacement":
                drawn = rng.permutation(G)
            elif mistake == "clusters_of_drawn_molecules":  # resamples molecules, then takes their clusters
                drawn = codes[rng.integers(0, values.size, size=G)]
            else:
                drawn = rng.integers(0, G, size=values.size if mistake == "draws_n_clusters" else G)
            if mistake == "mean_of_cluster_means":
                reps[b] = np.mean([stat(values[members[g]]) for g in drawn])
                continue
            reps[b] = stat(values[np.concatenate([members[g] for g in drawn])])
        if mistake == "alpha_not_halved":
            low, high = np.quantile(reps, [alpha, 1 - alpha])
        elif mistake == "basic_interval":
            q_low, q_high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
            est = stat(values)
            low, high = 2 * est - q_high, 2 * est - q_low
        else:
            low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
        return float(low), float(high)

    return cluster_bootstrap_ci


def bootstrap_multinomial_correct(values, clusters, statistic=np.mean, n_boot=2000, alpha=0.05, seed=0):
    """Correct, written differently: multinomial cluster counts and np.repeat, percentiles by sorting."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError("bad values")
    codes = ref._cluster_codes(clusters, values.size)
    n_boot = ref._check_int("n_boot", n_boot, low=1)
    alpha = ref._check_probability("alpha", alpha)
    G = int(codes.max()) + 1
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=G)
    grouped = np.split(values[order], np.cumsum(sizes)[:-1])
    rng = np.random.default_rng(seed + 12345)
    counts = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot)
    reps = np.array([statistic(np.concatenate([np.tile(grouped[g], c) for g, c in enumerate(row) if c]))
                     for row in counts])
    return tuple(float(x) for x in np.percentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)]))


_BOOTSTRAP_FIXES = {"iid": "cluster", "mean_of_cluster_means": "pooled values", "alpha_not_halved": "alpha/2",
                    "basic_interval": "quantile", "draws_n_clusters": "G draws", "ignores_statistic": "statistic",
                    "unseeded_rng": "same seed", "largest_id_plus_one": "not the largest id + 1",
                    "without_replacement": "with replacement", "clusters_of_drawn_molecules": "cluster"}


@pytest.mark.parametrize("mistake", sorted(_BOOTSTRAP_FIXES))
def test_bootstrap_graders_reject(mistake):
    message = _rejection(_impl(cluster_bootstrap_ci=_bootstrap_variant(mistake)), "5.3")
    assert message and _BOOTSTRAP_FIXES[mistake] in message, f"5.3 graders on {mistake}: {message}"


def test_bootstrap_graders_accept_a_multinomial_variant_and_the_plain_variant():
    _accepts(_impl(cluster_bootstrap_ci=bootstrap_multinomial_correct), "5.3")
    _accepts(_impl(cluster_bootstrap_ci=_bootstrap_variant(None)), "5.3")


def test_iid_bootstrap_is_rejected_for_its_coverage_or_distribution():
    message = _rejection(_impl(cluster_bootstrap_ci=_bootstrap_variant("iid")), "5.3")
    assert "cluster" in message


# ------------------------------------------------------------------------------- 5.4 cluster split
def _fps(mols, radius=2, bits=2048):
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    return [gen.GetFingerprint(m) for m in mols]


def _butina(mols, threshold, radius=2, bits=2048, reordering=False):
    from rdkit import DataStructs
    from rdkit.ML.Cluster import Butina

    fps = _fps(mols, radius, bits)
    dists = []
    for i in range(1, len(fps)):
        dists.extend(1 - s for s in DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i]))
    return Butina.ClusterData(dists, len(fps), threshold, isDistData=True, reordering=reordering)


def _greedy(clusters, n, fractions, order_key=lambda c: (-len(c), min(c)), strict=False):
    parts = ([], [], [])
    fits = (lambda used, cap: used < cap) if strict else (lambda used, cap: used <= cap)
    for c in sorted(clusters, key=order_key):
        if fits(len(parts[0]) + len(c), fractions[0] * n):
            parts[0].extend(c)
        elif fits(len(parts[0]) + len(parts[1]) + len(c), (fractions[0] + fractions[1]) * n):
            parts[1].extend(c)
        else:
            parts[2].extend(c)
    return tuple(np.array(sorted(p), dtype=np.int64) for p in parts)


def _split_variant(mistake=None):
    def similarity_cluster_split(smiles, threshold, fractions=(0.8, 0.1, 0.1)):
        threshold = ref._check_probability("threshold", threshold, open_interval=False)
        fractions = ref._check_fractions(fractions)
        mols = ref._parse_all(smiles)
        n = len(mols)
        if mistake == "random_molecules":
            perm = np.random.default_rng(0).permutation(n)
            a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
            return tuple(np.sort(p).astype(np.int64) for p in (perm[:a], perm[a:b], perm[b:]))
        if mistake == "scaffolds_instead_of_clusters":
            from solutions import ch01_solubility_gnn as ch01

            return ch01.scaffold_split(smiles, fractions)
        cut = 1 - threshold if mistake == "similarity_cutoff" else threshold
        clusters = _butina(mols, cut, radius=3 if mistake == "radius_3" else 2, bits=1024 if mistake == "bits_1024" else 2048,
                           reordering=mistake == "reordering")
        if mistake == "smallest_first":
            return _greedy(clusters, n, fractions, order_key=lambda c: (len(c), min(c)))
        if mistake == "ties_largest_position_first":
            return _greedy(clusters, n, fractions, order_key=lambda c: (-len(c), -min(c)))
        if mistake == "strict_capacity":
            return _greedy(clusters, n, fractions, strict=True)
        if mistake == "int32_indices":
            return tuple(p.astype(np.int32) for p in _greedy(clusters, n, fractions))
        if mistake == "unseeded_order":
            order = {c: r for c, r in zip(clusters, np.random.default_rng().permutation(len(clusters)))}
            return _greedy(clusters, n, fractions, order_key=lambda c: (-len(c), order[c]))
        if mistake == "exact_fractions":
            flat = [i for c in sorted(clusters, key=lambda c: (-len(c), min(c))) for i in c]
            a, b = round(fractions[0] * n), round((fractions[0] + fractions[1]) * n)
            return tuple(np.array(sorted(p), dtype=np.int64) for p in (flat[:a], flat[a:b], flat[b:]))
        return _greedy(clusters, n, fractions)

    return similarity_cluster_split


def split_numpy_tanimoto_correct(smiles, threshold, fractions=(0.8, 0.1, 0.1)):
    """Correct, written differently: Tanimoto from bit arrays with numpy, Butina on the full matrix."""
    from rdkit.ML.Cluster import Butina

    threshold = ref._check_probability("threshold", threshold, open_interval=False)
    fractions = ref._check_fractions(fractions)
    mols = ref._parse_all(smiles)
    bits = np.array([np.array(list(fp), dtype=np.int64) for fp in _fps(mols)])
    inter = bits @ bits.T
    counts = bits.sum(1)
    union = counts[:, None] + counts[None, :] - inter
    sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    clusters = Butina.ClusterData(1.0 - sim, len(mols), threshold, isDistData=True)
    return _greedy(clusters, len(mols), fractions)


_SPLIT_FIXES = {"random_molecules": "Butina", "scaffolds_instead_of_clusters": "Butina",
                "similarity_cutoff": "not a similarity", "radius_3": "radius 2", "bits_1024": "2048 bits",
                "reordering": "Butina", "smallest_first": "largest first", "unseeded_order": "deterministic",
                "exact_fractions": "whole", "strict_capacity": "use <=, not <",
                "ties_largest_position_first": "smallest position", "int32_indices": "int64"}


@pytest.mark.parametrize("mistake", sorted(_SPLIT_FIXES))
def test_split_graders_reject(mistake):
    message = _rejection(_impl(similarity_cluster_split=_split_variant(mistake)), "5.4")
    assert message and _SPLIT_FIXES[mistake] in message, f"5.4 graders on {mistake}: {message}"


def test_split_graders_accept_a_numpy_tanimoto_variant():
    _accepts(_impl(similarity_cluster_split=split_numpy_tanimoto_correct), "5.4")


def test_split_graders_molecule_file_is_the_solubility_selection():
    """The 5.4 graders read their 260 molecules from a file (a check must not parse the data set): it holds
    exactly rows int(i · 1282 / 260) of load_solubility(), canonical, in that order."""
    import warnings

    from molpractice.data import load_solubility

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smiles = load_solubility()["smiles"].tolist()
    step = len(smiles) / 260
    assert graders._molecules() == [smiles[int(i * step)] for i in range(260)]


# ------------------------------------------------------------------------------- 5.5 calibration test
def _calibration_variant(mistake=None):
    def calibration_test(p_hat, y, n_bins=10, n_boot=1000, alpha=0.05, seed=0):
        p = np.asarray(p_hat, dtype=np.float64)
        t = np.asarray(y, dtype=np.float64)
        if p.ndim != 1 or p.shape != t.shape or p.size == 0 or (p < 0).any() or (p > 1).any() \
                or not np.isin(t, (0, 1)).all():
            raise ValueError("bad input")
        n_bins, n_boot = ref._check_int("n_bins", n_bins, low=1), ref._check_int("n_boot", n_boot, low=1)
        alpha = ref._check_probability("alpha", alpha)
        bins = 10 if mistake == "ignores_n_bins" else n_bins
        a = 0.05 if mistake == "ignores_alpha" else alpha
        w = np.ones_like(p) if mistake == "no_weights" else 1 - 2 * p
        var = np.sum((w if mistake == "weight_not_squared" else w * w) * p * (1 - p))
        if mistake == "no_nan_guard":
            with np.errstate(divide="ignore", invalid="ignore"):
                z = float(np.float64(np.sum((t - p) * w)) / np.sqrt(np.float64(var)))
        else:
            z = np.sum((t - p) * w) / math.sqrt(var) if var > 0 else float("nan")
        pv = stats.norm.sf(z) if mistake == "one_sided" else 2 * stats.norm.sf(abs(z))

        def ece(pp, tt):
            if mistake == "p_one_own_bin":
                b = (pp * bins).astype(int)
            elif mistake == "right_closed_bins":  # (b/B, (b+1)/B]: an edge value falls into the bin below
                b = np.maximum(np.ceil(pp * bins).astype(int) - 1, 0)
            elif mistake == "bins_on_data_range":  # equal-width bins between min and max of p̂, not on [0, 1]
                lo, hi = pp.min(), pp.max()
                b = np.minimum(((pp - lo) / max(hi - lo, 1e-12) * bins).astype(int), bins - 1)
            else:
                b = np.minimum((pp * bins).astype(int), bins - 1)
            gaps, sizes = [], []
            for k in np.unique(b):
                sel = b == k
                gaps.append(abs(tt[sel].mean() - pp[sel].mean()))
                sizes.append(sel.sum())
            if mistake == "unweighted_bins":
                return float(np.mean(gaps))
            return float(np.dot(gaps, sizes) / len(pp))

        rng = np.random.default_rng(seed)
        if mistake == "resample_y_only":
            boot = [ece(p, t[rng.integers(0, len(p), len(p))]) for _ in range(n_boot)]
        else:
            boot = []
            for _ in range(n_boot):
                idx = rng.integers(0, len(p), len(p))
                boot.append(ece(p[idx], t[idx]))
        if mistake == "normal_interval":
            e, sd = ece(p, t), float(np.std(boot))
            ci = (max(0.0, e - 1.96 * sd), e + 1.96 * sd)
        else:
            ci = tuple(float(x) for x in np.quantile(boot, [a / 2, 1 - a / 2]))
        out = {"z": float(z), "p_value": float(pv), "ece": ece(p, t), "ece_ci": ci, "n": len(p)}
        if mistake == "missing_n":
            del out["n"]
        return out

    return calibration_test


_CALIBRATION_FIXES = {"one_sided": "two-sided", "no_weights": "Spiegelhalter", "weight_not_squared": "Spiegelhalter",
                      "p_one_own_bin": "p = 1", "unweighted_bins": "weighted", "resample_y_only": "pairs",
                      "normal_interval": "quantiles", "right_closed_bins": "left edge included",
                      "bins_on_data_range": "equal-width bins", "ignores_n_bins": "use n_bins",
                      "ignores_alpha": "alpha/2", "missing_n": "keys z, p_value, ece, ece_ci and n",
                      "no_nan_guard": "NaN"}


@pytest.mark.parametrize("mistake", sorted(_CALIBRATION_FIXES))
def test_calibration_graders_reject(mistake):
    message = _rejection(_impl(calibration_test=_calibration_variant(mistake)), "5.5")
    assert message and _CALIBRATION_FIXES[mistake] in message, f"5.5 graders on {mistake}: {message}"


def test_calibration_graders_accept_a_loop_variant():
    _accepts(_impl(calibration_test=_calibration_variant(None)), "5.5")


# ------------------------------------------------------------------------------- 5.6 lower bound
def _bound_variant(mistake):
    def success_rate_lower_bound(k, n, confidence=0.95):
        n = ref._check_int("n", n, low=1)
        k = ref._check_int("k", k, low=0)
        if k > n:
            raise ValueError("k > n")
        confidence = ref._check_probability("confidence", confidence)
        a = 1 - confidence
        phat = k / n
        if mistake == "two_sided":
            return 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
        if mistake == "wald":
            return max(0.0, phat - stats.norm.ppf(confidence) * math.sqrt(phat * (1 - phat) / n))
        if mistake == "wilson":
            zq = stats.norm.ppf(confidence)
            centre = (phat + zq * zq / (2 * n)) / (1 + zq * zq / n)
            half = zq * math.sqrt(phat * (1 - phat) / n + zq * zq / (4 * n * n)) / (1 + zq * zq / n)
            return max(0.0, centre - half)
        if mistake == "jeffreys":
            return 0.0 if k == 0 else float(stats.beta.ppf(a, k + 0.5, n - k + 0.5))
        if mistake == "off_by_one":
            return float(stats.beta.ppf(a, k + 1, n - k)) if k < n else float(a ** (1 / n))
        if mistake == "point_estimate":
            return phat
        if mistake == "upper_quantile":  # the confidence quantile: an upper-side value, not a lower bound
            return 0.0 if k == 0 else float(stats.beta.ppf(confidence, k, n - k + 1))
        if mistake == "lower_not_zero_at_k0":
            return float(stats.beta.ppf(a, max(k, 1e-9), n - k + 1))
        raise AssertionError(mistake)

    return success_rate_lower_bound


def bound_by_bisection_correct(k, n, confidence=0.95):
    """Correct, written differently: bisection on the binomial tail P(X >= k | p) = 1 − confidence."""
    n = ref._check_int("n", n, low=1)
    k = ref._check_int("k", k, low=0)
    if k > n:
        raise ValueError("k > n")
    confidence = ref._check_probability("confidence", confidence)
    if k == 0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if stats.binom.sf(k - 1, n, mid) < 1 - confidence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


_BOUND_FIXES = {"two_sided": "one-sided", "wald": "no normal approximation", "wilson": "no normal approximation",
                "jeffreys": "Beta(k, n − k + 1)", "off_by_one": "Beta(k, n − k + 1)", "point_estimate": "quantile",
                "upper_quantile": "(1 − confidence) quantile", "lower_not_zero_at_k0": "0 successes"}


@pytest.mark.parametrize("mistake", sorted(_BOUND_FIXES))
def test_bound_graders_reject(mistake):
    message = _rejection(_impl(success_rate_lower_bound=_bound_variant(mistake)), "5.6")
    assert message and _BOUND_FIXES[mistake] in message, f"5.6 graders on {mistake}: {message}"


def test_bound_graders_accept_bisection():
    _accepts(_impl(success_rate_lower_bound=bound_by_bisection_correct), "5.6")


# ------------------------------------------------------------------------------- 5.7 Holm / BH
def _validated_p(p_values, alpha, method):
    p = np.array(p_values, dtype=np.float64)
    if p.ndim != 1 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError("p_values")
    alpha = ref._check_probability("alpha", alpha)
    if method not in ("holm", "bh"):
        raise ValueError("method")
    return p, alpha


def _multiple_variant(mistake):
    def holm_bh_decisions(p_values, alpha=0.05, method="holm"):
        p, alpha = _validated_p(p_values, alpha, method)
        m = len(p)
        order = np.argsort(p)
        s = p[order]
        ranks = np.arange(1, m + 1)
        if method == "holm":
            if mistake == "bonferroni":
                thresholds = np.full(m, alpha / m)
            elif mistake == "holm_off_by_one":  # α/(m − i + 1) with a 0-based i: α/(m + 1) first
                thresholds = alpha / (m - np.arange(m) + 1)
            else:
                thresholds = alpha / (m - ranks + 1)
            passed = s < thresholds if mistake == "strict" else s <= thresholds
            if mistake == "holm_no_stop":
                sorted_reject = passed
            else:
                k = m if passed.all() else int(np.argmin(passed))
                sorted_reject = np.arange(m) < k
        else:
            thresholds = (np.arange(m) if mistake == "bh_off_by_one" else ranks) * alpha / m
            passed = s < thresholds if mistake == "strict" else s <= thresholds
            if mistake == "bh_step_down":  # stops at the first failure, like Holm
                k = m if passed.all() else int(np.argmin(passed))
                sorted_reject = np.arange(m) < k
            elif mistake == "bh_individual":  # each p-value against its own threshold only
                sorted_reject = passed
            else:
                hits = np.flatnonzero(passed)
                sorted_reject = np.arange(m) < (hits[-1] + 1 if len(hits) else 0)
        if mistake == "sorted_order":
            return sorted_reject
        out = np.zeros(m, dtype=bool)
        out[order] = sorted_reject
        if mistake == "list_of_ints":
            return out.astype(int).tolist()
        return out

    return holm_bh_decisions


_MULTIPLE_FIXES = {"holm_no_stop": "step-down", "bh_step_down": "step-up", "bh_individual": "LARGEST rank",
                   "sorted_order": "order of the input", "bonferroni": "Bonferroni", "holm_off_by_one": "ranks start at 1",
                   "bh_off_by_one": "ranks start at 1", "strict": "<=, not <", "list_of_ints": "bool"}


@pytest.mark.parametrize("mistake", sorted(_MULTIPLE_FIXES))
def test_multiple_testing_graders_reject(mistake):
    message = _rejection(_impl(holm_bh_decisions=_multiple_variant(mistake)), "5.7")
    assert message and _MULTIPLE_FIXES[mistake] in message, f"5.7 graders on {mistake}: {message}"


def multiple_adjusted_correct(p_values, alpha=0.05, method="holm"):
    """Correct, written differently: adjusted p-values with running max (Holm) / running min from the top (BH)."""
    p, alpha = _validated_p(p_values, alpha, method)
    m = len(p)
    order = np.argsort(-p, kind="stable")[::-1]  # ascending, ties in reverse: the order among ties must not matter
    r = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - r + 1) * p[order]))
    else:
        adjusted = np.minimum(1.0, np.minimum.accumulate((m * p[order] / r)[::-1])[::-1])
    out = np.empty(m, dtype=bool)
    out[order] = adjusted <= alpha * (1 + 1e-12)
    return out


def multiple_loop_correct(p_values, alpha=0.05, method="holm"):
    """Correct, written differently: plain loops over (p, position) pairs."""
    p, alpha = _validated_p(p_values, alpha, method)
    m = len(p)
    pairs = sorted((float(v), j) for j, v in enumerate(p))
    rejected = set()
    if method == "holm":
        for i, (v, j) in enumerate(pairs, start=1):
            if v > alpha / (m - i + 1):
                break
            rejected.add(j)
    else:
        cut = 0
        for i, (v, _) in enumerate(pairs, start=1):
            if v <= i * alpha / m:
                cut = i
        rejected = {j for _, j in pairs[:cut]}
    return np.array([j in rejected for j in range(m)], dtype=bool)


@pytest.mark.parametrize("variant", [multiple_adjusted_correct, multiple_loop_correct])
def test_multiple_testing_graders_accept_correct_variants(variant):
    _accepts(_impl(holm_bh_decisions=variant), "5.7")


# ------------------------------------------------------------------------------- stubs
_EXERCISES = {"5.1": "longest_window_at_most_k_distinct", "5.2": "induced_subgraph_is_tree",
              "5.3": "cluster_bootstrap_ci", "5.4": "similarity_cluster_split", "5.5": "calibration_test",
              "5.6": "success_rate_lower_bound", "5.7": "holm_bh_decisions"}


@pytest.mark.parametrize("exercise_id", sorted(_EXERCISES))
def test_a_stub_returning_none_is_rejected(exercise_id):
    name = _EXERCISES[exercise_id]
    original = getattr(ref, name)

    def returns_none(*args, **kwargs):
        try:
            original(*args, **kwargs)  # keeps the validation: bad input still raises ValueError
        except ValueError:
            raise
        return None

    assert _rejection(_impl(**{name: returns_none}), exercise_id), f"graders of {exercise_id} accept `return None`"


def test_fresh_stubs_are_not_started_never_failed():
    """On the generated stubs every grader either raises NotImplementedError or passes (validation only)."""
    stubs = importlib.import_module("exercises.ch05_drills")
    impl = types.SimpleNamespace(ch05_drills=stubs)
    for exercise_id in sorted(_EXERCISES):
        outcomes = []
        for grader in _graders_of(exercise_id):
            try:
                grader(impl)
                outcomes.append("passed")
            except NotImplementedError:
                outcomes.append("not started")
        assert "not started" in outcomes, f"{exercise_id}: no grader reaches the stub"


def test_spec_shows_a_function_default_by_name():
    """Spec 5.3 renders ``statistic=np.mean`` readably (no ``<function mean at 0x…>``)."""
    from molpractice.chapters import spec_markdown

    text = spec_markdown("5.3")
    assert "= np.mean" in text and "<function" not in text and " at 0x" not in text
