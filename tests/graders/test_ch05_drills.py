"""Graders of chapter 5 (research-rigor and coding drills). Each takes ``impl`` (exercises or solutions).

Oracles are independent of the reference: brute force and networkx (5.1, 5.2), exact enumeration of
the cluster bootstrap and a seeded coverage simulation (5.3), RDKit's own fingerprints and Butina
clustering (5.4), Spiegelhalter's formula, an explicit-loop ECE and a calibrated-by-construction
simulation (5.5), scipy's ``binomtest(...).proportion_ci`` and exact binomial sums (5.6), adjusted p-values
and hand-made cases that separate Holm from Bonferroni and step-up from step-down BH (5.7; statsmodels is not
a dependency, so the oracle is the adjusted-p-value formulation).
Complexity (5.1, 5.2) is judged by how a deterministic count of operations grows from n to 8n
(``molpractice.workcount``): no clock is read, so a busy machine cannot flip a verdict. Every random number
is seeded, so verdicts never flake.
"""
from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from molpractice import workcount
from molpractice.grading import exercise

_WORK_SIZES = (32, 128)  # the work of n and 8n tokens/nodes is counted, for n = 32, then n = 128


def _validation_helpers(module):
    """The module's argument-validation helpers (outside the learner's part): their own steps are not counted."""
    return [getattr(module, name) for name in ("_check_int", "_is_int", "_selection", "_edge_list") if hasattr(module, name)]


def _work_growth(func, make_args, module):
    """(ratio, n) of the counted work from n to 8n (see molpractice.workcount): ~8 when linear, up to 64 when quadratic."""
    ratio, n, _, _ = workcount.growth(inspect.unwrap(func), make_args, sizes=_WORK_SIZES, skip=_validation_helpers(module))
    return ratio, n


_HOW_COUNTED = ("counted operations: Python steps, plus every hash and comparison of a token and every element a list "
                "scan or pop(0) touches — the same count on any machine")


# ---------------------------------------------------------------------------------------- 5.1
def _window_brute(tokens, k):
    best = 0
    for i in range(len(tokens)):
        seen = set()
        for j in range(i, len(tokens)):
            seen.add(tokens[j])
            if len(seen) > k:
                break
            best = max(best, j - i + 1)
    return best


@exercise("5.1", points=1)
def test_window_edge_cases(impl):
    f = impl.ch05_drills.longest_window_at_most_k_distinct
    cases = [("", 0, 0), ("", 3, 0), ("abc", 0, 0), ("aaaa", 1, 4), ("CC(=O)O", 2, 3), ("CC(=O)O", 1, 2),
             ("CC(=O)O", 4, 5), ("CC(=O)O", 5, 7), ("CC(=O)O", 100, 7), ("x", 1, 1), ("abab", 2, 4), ("abcabc", 2, 2)]
    for tokens, k, want in cases:
        got = f(tokens, k)
        assert got == want, f"longest_window_at_most_k_distinct({tokens!r}, {k}) returned {got!r}, expected {want}"
        assert isinstance(got, (int, np.integer)) and not isinstance(got, bool), f"return an int, got {type(got).__name__}"
    for tokens, k, want, kind in ((["C", "C", "O", "N", "C", "C", "C", "Cl"], 2, 4, "a list of atom symbols"),
                                  (np.array([1, 2, 1, 3, 3, 3]), 2, 4, "a numpy array"),
                                  (iter("aab"), 1, 2, "an iterator (read it once into a list)")):
        shown = list(tokens) if kind.startswith("an iterator") else tokens
        got = f(iter(shown) if kind.startswith("an iterator") else tokens, k)
        assert got == want, f"tokens as {kind}: {shown!r} with k={k} gave {got!r}, expected {want}"
    for bad in (-1, -5, True, 2.0, "2"):
        with pytest.raises(ValueError):
            f("abc", bad)


@exercise("5.1", points=2)
def test_window_matches_brute_force(impl):
    f = impl.ch05_drills.longest_window_at_most_k_distinct
    rng = np.random.default_rng(51)
    failures = []
    for _ in range(3000):
        n = int(rng.integers(0, 25))
        alphabet = "CcNO()=1"[: int(rng.integers(1, 7))]
        tokens = "".join(rng.choice(list(alphabet), size=n)) if n else ""
        k = int(rng.integers(0, 7))
        want, got = _window_brute(tokens, k), f(tokens, k)
        if got != want:
            failures.append((len(tokens), tokens, k, got, want))
    if failures:
        _, tokens, k, got, want = min(failures)
        raise AssertionError(f"{len(failures)} of 3000 random streams disagree with brute force; the shortest: "
                             f"tokens={tokens!r}, k={k}: got {got}, expected {want} — check how the left end "
                             "moves and how the window length is counted (right − left + 1)")


def _long_window_stream(n):
    """SMILES-like characters, 3 common ones and a rare fourth every n/4 positions: windows with k = 3 are ~n/4 long."""
    rng = np.random.default_rng(n)
    tokens = rng.choice(["C", "c", "O"], size=n).tolist()
    for i in range(0, n, max(1, n // 4)):
        tokens[i] = "N"
    return tokens


def _many_distinct_stream(n):
    """n/4 distinct tokens in a repeating cycle, k = n/8: windows hold many distinct values (k grows with n)."""
    cycle = max(2, n // 4)
    return [f"t{i % cycle}" for i in range(n)]


_WINDOW_INPUTS = (("a SMILES-like stream, k = 3", _long_window_stream, lambda n: 3),
                  ("a stream of n/4 distinct tokens, k = n/8", _many_distinct_stream, lambda n: max(1, n // 8)))


@exercise("5.1", points=1)
def test_window_is_linear_time(impl):
    f = impl.ch05_drills.longest_window_at_most_k_distinct
    for name, make, k_of in _WINDOW_INPUTS:
        small = make(64)
        got = f(workcount.tokens(small), k_of(64))
        assert got == _window_brute(small, k_of(64)), \
            f"wrong answer on the input of the work check ({name}, n = 64): {got!r}, expected {_window_brute(small, k_of(64))}"
        ratio, n = _work_growth(f, lambda m: (workcount.tokens(make(m)), k_of(m)), impl.ch05_drills)
        assert ratio <= workcount.SUPERLINEAR_GROWTH, (
            f"the work grows {workcount.describe(ratio)} when the stream grows 8× (n = {n} → {8 * n}, {name}; "
            f"{_HOW_COUNTED}); linear code grows about 8×, quadratic up to 64×: that is super-linear. "
            "Do not rebuild the window (set(tokens[l:r]), Counter of a slice, a window list with pop(0)), restart "
            "from every left end, or scan all counts per step; keep a dict of counts, delete a key when its count "
            "reaches 0, and move each end forward only")


# ---------------------------------------------------------------------------------------- 5.2
def _tree_oracle(num_nodes, edges, selected):
    import networkx as nx

    nodes = [i for i in range(num_nodes) if selected[i]]
    if not nodes:
        return False
    g = nx.Graph()
    g.add_nodes_from(nodes)
    keep = set(nodes)
    g.add_edges_from((u, v) for u, v in edges if u in keep and v in keep)  # self-loops stay, duplicates merge
    return nx.is_tree(g)


def _as_bitmask(selected):
    return sum(1 << i for i, s in enumerate(selected) if s)


def _random_graph(rng, n):
    p = float(rng.uniform(0.05, 0.6))
    edges = [(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < p]
    if n and rng.random() < 0.15:
        u = int(rng.integers(0, n))
        edges.append((u, u))
    if edges and rng.random() < 0.2:
        u, v = edges[int(rng.integers(0, len(edges)))]
        edges.append((v, u))
    order = rng.permutation(len(edges))
    return [edges[i] for i in order]


@exercise("5.2", points=1)
def test_tree_edge_cases(impl):
    f = impl.ch05_drills.induced_subgraph_is_tree
    checks = [
        ((0, [], 0), False, "an empty graph (no node selected) is not a tree"),
        ((3, [(0, 1)], 0), False, "an empty selection is not a tree"),
        ((3, [(0, 1)], [False] * 3), False, "an empty selection is not a tree"),
        ((1, [], 1), True, "a single selected node is a tree"),
        ((3, [(0, 1), (1, 2)], 0b010), True, "a single selected node is a tree, whatever its neighbours"),
        ((1, [(0, 0)], 1), False, "a self-loop on a selected node is a cycle"),
        ((2, [(0, 1)], 0b11), True, "two nodes joined by an edge are a tree"),
        ((2, [], 0b11), False, "two nodes without an edge are disconnected"),
        ((2, [(0, 1), (1, 0)], 0b11), True, "(0, 1) and (1, 0) are the same undirected edge (PyG lists both)"),
        ((3, [(0, 1), (1, 2), (0, 2)], 0b111), False, "a triangle has a cycle"),
        ((3, [(0, 1), (1, 2), (0, 2)], 0b011), True, "an induced subgraph drops edges to unselected nodes"),
        ((4, [(0, 1), (2, 3), (1, 3)], 0b0111), False,
         "nodes 0,1,2 with induced edge (0,1) only are disconnected (edge (1,3) leaves the selection)"),
        ((4, [(0, 1), (1, 2), (2, 2)], 0b0011), True, "a self-loop on an unselected node does not matter"),
        ((3, [(0, 1), (1, 2)], [True, False, True]), False, "nodes 0 and 2 are not adjacent"),
        ((3, [(0, 1), (1, 2)], np.array([True, True, True])), True, "a numpy boolean mask works like a list"),
        ((3, np.array([[0, 1], [1, 2]]), 0b111), True, "edges may be an (E, 2) integer array"),
        ((5, [(0, 1), (2, 3)], 0b01111), False, "2 edges on 4 nodes: a forest, not a tree"),
        ((4, [(0, 3), (3, 1)], 0b1011), True, "node n − 1 (the mask's highest bit) belongs to the selection too"),
        ((4, [(0, 1), (1, 2)], 0b1111), False, "node 3 (the highest) is selected but isolated: not connected"),
        ((4, [(2, 3)], [False, False, True, True]), True, "the last two nodes joined by an edge are a tree"),
        ((3, [(0, 1), (1, 2), (2, 0)], 0b111), False, "3 nodes and 3 edges: one edge too many (a cycle)"),
    ]
    for args, want, why in checks:
        got = f(*args)
        assert got is want or (isinstance(got, np.bool_) and bool(got) == want), (
            f"induced_subgraph_is_tree{args!r} returned {got!r}, expected {want}: {why}")
    for bad_args in ((3, [(0, 3)], 0b111), (3, [(-1, 0)], 0b111), (3, [(0, 1)], 0b1000), (3, [(0, 1)], [True, True]),
                     (3, [(0, 1, 2)], 0b111), (-1, [], 0), (3, np.array([[0, 3]]), 0b111)):
        with pytest.raises(ValueError):
            f(*bad_args)


@exercise("5.2", points=2)
def test_tree_matches_networkx(impl):
    f = impl.ch05_drills.induced_subgraph_is_tree
    rng = np.random.default_rng(52)
    failures = []
    for trial in range(2500):
        n = int(rng.integers(0, 10))
        edges = _random_graph(rng, n)
        selected = (rng.random(n) < rng.uniform(0.2, 1.0)).tolist()
        if trial % 5 == 0 and n:  # often a tree: a random spanning tree of the selection plus noise
            nodes = [i for i in range(n) if selected[i]]
            edges = [(nodes[i], nodes[int(rng.integers(0, i))]) for i in range(1, len(nodes))]
            edges += [(u, v) for u, v in _random_graph(rng, n) if not (selected[u] and selected[v])]
        mask = _as_bitmask(selected) if trial % 2 else selected
        want = _tree_oracle(n, edges, selected)
        got = f(n, edges, mask)
        if bool(got) != want:
            failures.append((len(edges), n, edges, selected, got, want))
    if failures:
        _, n, edges, selected, got, want = min(failures, key=lambda t: (t[0], t[1]))
        picked = [i for i in range(n) if selected[i]]
        raise AssertionError(
            f"{len(failures)} of 2500 random graphs disagree with networkx; a small one: num_nodes={n}, edges={edges}, "
            f"selected nodes {picked}: got {got}, expected {want}. Count only edges with both ends selected, merge "
            "duplicates, treat a self-loop as a cycle, and check both the edge count (m − 1) and connectivity")


def _broom_graph(n):
    """A tree on n nodes, labels shuffled: half the nodes are leaves of one hub, the rest a random recursive tree."""
    rng = np.random.default_rng(n)
    half = n // 2
    parent = np.r_[np.zeros(half, dtype=np.int64), (rng.random(n - half) * np.arange(half, n)).astype(np.int64)]
    label = rng.permutation(n)
    edges = [(int(label[i]), int(label[parent[i]])) for i in range(1, n)]
    order = rng.permutation(len(edges))
    return n, [edges[i] for i in order], [True] * n


_TREE_GROWTH: dict = {}


def _tree_growth_message(f, module):
    """None when the counted work of ``f`` grows linearly on broom-shaped trees, else the learner's message."""
    key = inspect.unwrap(f)  # the grading worker wraps learner functions anew on every access
    if key not in _TREE_GROWTH:
        got = f(*_broom_graph(40))
        if not (isinstance(got, (bool, np.bool_)) and got):
            _TREE_GROWTH[key] = f"induced_subgraph_is_tree(*tree of 40 nodes, all selected) returned {got!r}, expected True"
        else:
            ratio, n = _work_growth(f, _broom_graph, module)
            _TREE_GROWTH[key] = None if ratio <= workcount.SUPERLINEAR_GROWTH else (
                f"the work grows {workcount.describe(ratio)} when the graph grows 8× (n = {n} → {8 * n} nodes, a tree "
                f"with one hub; {_HOW_COUNTED}); linear code grows about 8×, quadratic up to 64×: super-linear. Use a set "
                "(not a list) for visited nodes and seen edges, build adjacency lists once, never scan all edges per "
                "node, take the next node with pop() or deque.popleft() (list.pop(0) shifts the whole list), and "
                "give union–find path compression (or halving)")
    return _TREE_GROWTH[key]


@exercise("5.2", points=1)
def test_tree_long_path_without_recursion(impl):
    f = impl.ch05_drills.induced_subgraph_is_tree
    # a super-linear version would take minutes on 100 000 nodes: check how its work grows first
    message = _tree_growth_message(f, impl.ch05_drills)
    assert message is None, message + " (the 100 000-node test was skipped)"
    n = 100_000
    rng = np.random.default_rng(7)
    order = rng.permutation(n)  # relabelled path: node order ≠ path order
    edges = list(zip(order[:-1].tolist(), order[1:].tolist()))
    try:
        got = f(n, edges, (1 << n) - 1)
        assert isinstance(got, (bool, np.bool_)) and got, "a path of 100 000 nodes (all selected) is a tree"
        short = 5_000  # still far beyond the recursion limit
        holes = [True] * short
        holes[short // 2] = False
        assert not f(short, [(i, i + 1) for i in range(short - 1)], holes), \
            f"a {short}-node path without its middle node is two pieces: not a tree"
    except RecursionError:
        raise AssertionError("RecursionError on a 100 000-node path: Python's recursion limit is ~1000; "
                             "walk the graph with an explicit stack or use union–find") from None


@exercise("5.2", points=1)
def test_tree_is_linear_time(impl):
    message = _tree_growth_message(impl.ch05_drills.induced_subgraph_is_tree, impl.ch05_drills)
    assert message is None, message


# ---------------------------------------------------------------------------------------- 5.3
_EXACT_LAWS: dict = {}


def _exact_cluster_bootstrap(values, clusters, statistic):
    """Atoms and probabilities of the exact cluster-bootstrap distribution (all multisets of G draws), computed
    once per (values, clusters, statistic) in a process (two cases share the mean's law)."""
    key = (tuple(values), tuple(clusters), statistic)
    if key not in _EXACT_LAWS:
        _EXACT_LAWS[key] = _enumerate_cluster_bootstrap(values, clusters, statistic)
    atoms, probs = _EXACT_LAWS[key]
    return atoms.copy(), probs.copy()


def _enumerate_cluster_bootstrap(values, clusters, statistic):
    labels = list(dict.fromkeys(clusters))
    members = {g: [v for v, c in zip(values, clusters) if c == g] for g in labels}
    G = len(labels)
    atoms, probs = [], []
    for combo in itertools.combinations_with_replacement(range(G), G):
        counts = np.bincount(combo, minlength=G)
        prob = math.factorial(G) / math.prod(math.factorial(int(c)) for c in counts) / G ** G
        sample = np.concatenate([np.repeat(members[labels[g]], counts[g]) for g in range(G)])
        atoms.append(float(statistic(sample)))
        probs.append(prob)
    return np.array(atoms), np.array(probs)


def _quantile_ok(x, q, atoms, probs, tol):
    """x is a q-quantile of the discrete law up to ``tol`` in probability: P(T < x) <= q + tol <= P(T <= x) + 2 tol."""
    eps = 1e-9 * max(1.0, abs(x))
    below = probs[atoms < x - eps].sum()
    at_or_below = probs[atoms <= x + eps].sum()
    return below <= q + tol and at_or_below >= q - tol, below, at_or_below


_TINY_VALUES = [0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 4.0, 4.0, 4.0, 1.0, 9.0, 2.5, 7.0, 7.0]
_TINY_CLUSTERS = ["a", "a", "a", "a", "a", "b", "c", "c", "c", "d", "d", "e", "f", "f"]


@exercise("5.3", points=2)
def test_cluster_bootstrap_matches_exact_enumeration(impl):
    f = impl.ch05_drills.cluster_bootstrap_ci
    # B per case: enough that a correct implementation with other random draws passes (simulated from the exact
    # law: a false rejection in < 1 of 10 000 seeds; the quantile 0.1 of the mean needs the most)
    for statistic, alpha, n_boot in ((np.mean, 0.05, 5000), (np.mean, 0.2, 12000), (np.median, 0.1, 3000)):
        atoms, probs = _exact_cluster_bootstrap(_TINY_VALUES, _TINY_CLUSTERS, statistic)
        low, high = f(np.array(_TINY_VALUES), _TINY_CLUSTERS, statistic=statistic, n_boot=n_boot, alpha=alpha, seed=3)
        name = getattr(statistic, "__name__", "statistic")
        for x, q, side in ((low, alpha / 2, "low"), (high, 1 - alpha / 2, "high")):
            ok, below, at = _quantile_ok(float(x), q, atoms, probs, tol=0.012)
            assert ok, (
                f"statistic={name}, alpha={alpha}: {side} = {float(x):.4f}, but under the exact cluster bootstrap "
                f"(all 6^6 draws of 6 clusters enumerated) P(T < {side}) = {below:.3f} and P(T <= {side}) = {at:.3f}; "
                f"the {q:.3f} quantile is needed. Resample whole clusters (G draws with replacement, all values of "
                f"each drawn cluster), apply `statistic` to the pooled values, and take the alpha/2 and 1 − alpha/2 "
                f"quantiles")


@exercise("5.3", points=1)
def test_cluster_bootstrap_contract(impl):
    f = impl.ch05_drills.cluster_bootstrap_ci
    rng = np.random.default_rng(0)
    values = rng.normal(size=40)
    clusters = np.repeat(np.arange(10), 4)
    a = f(values, clusters, n_boot=300, seed=5)
    assert isinstance(a, tuple) and len(a) == 2, f"return a tuple (low, high), got {a!r}"
    assert all(isinstance(x, (float, np.floating)) for x in a), f"low and high must be floats, got {a!r}"
    assert a[0] <= a[1], f"low > high: {a}"
    assert f(values, clusters, n_boot=300, seed=5) == a, "the same seed must give the same interval (use default_rng(seed))"
    assert f(values, clusters, n_boot=300, seed=6) != a, "a different seed should give a (slightly) different interval"
    one = f(values, np.zeros(40, dtype=int), n_boot=50, seed=0)
    assert np.allclose(one, values.mean()), (
        f"with a single cluster every replicate is the whole data set, so low = high = the mean; got {one}")
    labels = [f"scaffold-{c}" for c in clusters]
    assert f(values, labels, n_boot=300, seed=5) == a, "string labels (e.g. scaffold SMILES) must work like ints"
    low_med, high_med = f(np.r_[np.zeros(36), np.full(4, 100.0)], clusters, statistic=np.median, n_boot=300, seed=1)
    assert high_med < 50, "`statistic` was ignored: the median of mostly zeros stays low (the mean would not)"
    gapped = clusters * 7 + 3  # ids 3, 10, …, 66: still 10 clusters, in the same order
    assert f(values, gapped, n_boot=300, seed=5) == a, (
        "cluster ids with gaps (3, 10, 17, …) must work like 0..G−1: G is the number of distinct labels, not the "
        "largest id + 1 (use the validated `codes` and `n_clusters`)")
    for bad in (dict(n_boot=0), dict(alpha=0.0), dict(alpha=1.0)):
        with pytest.raises(ValueError):
            f(values, clusters, **bad)
    with pytest.raises(ValueError):
        f(values, clusters[:-1])
    with pytest.raises(ValueError):
        f([], [])
    with pytest.raises(ValueError):
        f(np.r_[values[:-1], np.nan], clusters)


@exercise("5.3", points=1)
def test_cluster_bootstrap_covers_with_near_duplicates(impl):
    f = impl.ch05_drills.cluster_bootstrap_ci
    rng = np.random.default_rng(2024)
    n_rep, G, covered = 150, 25, 0
    for _ in range(n_rep):
        sizes = rng.integers(1, 11, size=G)
        effect = rng.normal(0.0, 1.0, size=G)  # a family of near-duplicates shares its effect
        clusters = np.repeat(np.arange(G), sizes)
        values = effect[clusters] + rng.normal(0.0, 0.2, size=clusters.size)
        low, high = f(values, clusters, n_boot=100, seed=int(rng.integers(1 << 30)))  # 100 covers like 200 here
        covered += low <= 0.0 <= high
    coverage = covered / n_rep
    assert coverage >= 0.80, (
        f"only {coverage:.0%} of nominal 95 % intervals contained the true mean (0) in {n_rep} simulated data sets "
        f"of {G} families of near-duplicates; a cluster bootstrap gets about 90 %. Resample whole clusters, not "
        "single values")


# ---------------------------------------------------------------------------------------- 5.4
_MOLECULES_FILE = "ch05_molecules.smi"  # next to this file: 260 molecules of load_solubility(), every ~5th row


def _molecules():
    """260 solubility molecules (rows int(i · 1282 / 260)), read from a file kept next to this one, so a check does
    not parse the data set (tests/test_ch05_graders.py proves the file equals that selection)."""
    import os

    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), _MOLECULES_FILE)) as fh:
        return [line.strip() for line in fh if line.strip() and not line.startswith("#")]


_SIMILARITY_CACHE: dict = {}


def _rdkit_butina(smiles, threshold):
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator
    from rdkit.ML.Cluster import Butina

    key = tuple(smiles)
    if key not in _SIMILARITY_CACHE:  # the oracle's fingerprints and similarities, once per grading run
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
        fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
        _SIMILARITY_CACHE[key] = np.array([DataStructs.BulkTanimotoSimilarity(fp, fps) for fp in fps])
    sim = _SIMILARITY_CACHE[key]
    return Butina.ClusterData(1.0 - sim, len(smiles), threshold, isDistData=True), sim.copy()


def _expected_parts(clusters, n, fractions):
    parts = ([], [], [])
    for c in sorted(clusters, key=lambda c: (-len(c), min(c))):
        if len(parts[0]) + len(c) <= fractions[0] * n:
            parts[0].extend(c)
        elif len(parts[0]) + len(parts[1]) + len(c) <= (fractions[0] + fractions[1]) * n:
            parts[1].extend(c)
        else:
            parts[2].extend(c)
    return [sorted(p) for p in parts]


def _check_partition(parts, n):
    assert isinstance(parts, tuple) and len(parts) == 3, "return a tuple (train_idx, val_idx, test_idx)"
    for name, p in zip(("train", "val", "test"), parts):
        assert isinstance(p, np.ndarray) and p.dtype == np.int64, \
            f"{name}_idx must be an int64 numpy array, got {type(p).__name__} {getattr(p, 'dtype', '')}"
        assert np.all(np.diff(p) > 0), f"{name}_idx must be sorted, without repeats"
    together = np.sort(np.concatenate(parts))
    assert np.array_equal(together, np.arange(n)), "every molecule must be in exactly one part"


@exercise("5.4", points=1)
def test_cluster_split_is_a_deterministic_partition(impl):
    f = impl.ch05_drills.similarity_cluster_split
    smiles = _molecules()
    parts = f(smiles, 0.4321)
    _check_partition(parts, len(smiles))
    again = f(list(smiles), 0.4321)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again)), "the split must be deterministic (no randomness)"
    _check_partition(f(smiles[:30], 0.6543, fractions=(0.5, 0.25, 0.25)), 30)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            f(smiles[:10], bad)
    with pytest.raises(ValueError, match="row 2"):
        f(["CCO", "CCN", "C1CC", "CCC"], 0.5)
    with pytest.raises(ValueError):
        f(smiles[:10], 0.5, fractions=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError):
        f(smiles[:10], 0.5, fractions=(1.1, -0.05, -0.05))


@exercise("5.4", points=2)
def test_cluster_split_keeps_butina_clusters_whole(impl):
    f = impl.ch05_drills.similarity_cluster_split
    smiles = _molecules()
    n = len(smiles)
    for threshold, fractions in ((0.4321, (0.8, 0.1, 0.1)), (0.6543, (0.7, 0.15, 0.15)), (0.8123, (0.6, 0.2, 0.2))):
        clusters, _ = _rdkit_butina(smiles, threshold)
        parts = f(smiles, threshold, fractions=fractions)
        _check_partition(parts, n)
        where = np.empty(n, dtype=int)
        for k, p in enumerate(parts):
            where[p] = k
        split = [c for c in clusters if len(set(where[list(c)])) > 1]
        assert not split, (
            f"threshold={threshold}: {len(split)} of RDKit's Butina clusters are split across parts (e.g. molecules "
            f"{sorted(split[0])[:6]}); cluster with Butina.ClusterData on 1 − Tanimoto (Morgan radius 2, 2048 bits) "
            "and send every cluster whole to one part")
        largest = max(clusters, key=len)
        assert where[largest[0]] == 0, (
            f"threshold={threshold}: the largest cluster ({len(largest)} molecules) is not in train — assign clusters "
            "largest first")
        want = _expected_parts(clusters, n, fractions)
        sizes, want_sizes = [len(p) for p in parts], [len(p) for p in want]
        if sizes != want_sizes:
            raise AssertionError(
                f"threshold={threshold}, fractions={fractions}: part sizes {sizes}, expected {want_sizes} — go through "
                "the clusters largest first (ties: smallest position first): train while it fits in f_train·n, else "
                "val while train + val fits in (f_train + f_val)·n, else test; equality fits (use <=, not <)")
        expected_where = np.empty(n, dtype=int)
        for k, p in enumerate(want):
            expected_where[p] = k
        wrong = np.flatnonzero(where != expected_where)
        names = ("train", "val", "test")
        assert not len(wrong), (
            f"threshold={threshold}: the parts have the expected sizes but {len(wrong)} molecules sit elsewhere (e.g. "
            f"molecule {wrong[0]} in {names[where[wrong[0]]]}, expected {names[expected_where[wrong[0]]]}). Check the "
            "clustering: Morgan radius 2, 2048 bits, distance 1 − Tanimoto, Butina with `threshold` as the distance "
            "cutoff (a distance, not a similarity), RDKit's default reordering=False, clusters ordered by (−size, "
            "smallest position)")


@exercise("5.4", points=1)
def test_cluster_split_threshold_is_a_distance(impl):
    f = impl.ch05_drills.similarity_cluster_split
    smiles = _molecules()
    _, sim = _rdkit_butina(smiles, 0.5)
    nearest = {}
    for threshold in (0.1234, 0.7321):
        train, _, test = f(smiles, threshold)
        nearest[threshold] = float(sim[np.ix_(test, train)].max(axis=1).mean())
    assert nearest[0.7321] < nearest[0.1234], (
        f"mean nearest-train Tanimoto of test molecules: {nearest[0.1234]:.2f} at threshold 0.12 and "
        f"{nearest[0.7321]:.2f} at 0.73 — a larger distance cutoff must separate test from train more. "
        "`threshold` is a distance 1 − Tanimoto, not a similarity")
    dup = ["CCO", "c1ccccc1O", "OCC", "CCCCCC", "Oc1ccccc1", "CCCCCCN", "CC(=O)O"]
    train, val, test = f(dup, 0.0, fractions=(0.5, 0.25, 0.25))
    where = {int(i): k for k, p in enumerate((train, val, test)) for i in p}
    assert where[0] == where[2] and where[1] == where[4], (
        "at threshold 0 identical molecules (CCO/OCC, phenol written twice) must still share a part")
    _check_parts_fill_up_to_the_fractions(f)


def _check_parts_fill_up_to_the_fractions(f):
    """Exact fits, ties and the threshold-1 extreme (run at the end of test_cluster_split_threshold_is_a_distance)."""
    # threshold 0: clusters are the identical molecules. Sizes 5, 3, 2 of n = 10 with fractions (0.5, 0.3, 0.2)
    # fill train, val and test exactly: every "<=" of the spec is met with equality.
    smiles = ["CCO", "c1ccccc1", "OCC", "CCN", "C(C)O", "c1ccccc1", "CCO", "NCC", "OCC", "c1ccccc1"]
    parts = [p.tolist() for p in f(smiles, 0.0, fractions=(0.5, 0.3, 0.2))]
    want = [[0, 2, 4, 6, 8], [1, 5, 9], [3, 7]]
    assert parts == want, (
        f"ethanol ×5, benzene ×3, ethylamine ×2 at threshold 0 with fractions (0.5, 0.3, 0.2) gave {parts}, expected "
        f"{want}: a cluster goes to train while len(train) + size <= f_train·n (equality fits: use <=, not <), else "
        "to val while len(train) + len(val) + size <= (f_train + f_val)·n, else to test")
    # two clusters of equal size: the one whose smallest position is smaller is placed first
    tie = ["CCN", "CCO", "OCC", "NCC", "CCCl"]
    parts = [p.tolist() for p in f(tie, 0.0, fractions=(0.4, 0.4, 0.2))]
    assert parts == [[0, 3], [1, 2], [4]], (
        f"{tie} at threshold 0, fractions (0.4, 0.4, 0.2) gave {parts}, expected [[0, 3], [1, 2], [4]]: clusters of "
        "equal size are ordered by their smallest position (ethylamine at 0 before ethanol at 1)")
    smiles = _molecules()[:25]
    parts = [p.tolist() for p in f(smiles, 1.0)]
    assert parts == [[], [], list(range(25))], (
        "at threshold 1 every molecule is every other's neighbour: one cluster of all n, larger than f_train·n and "
        f"(f_train + f_val)·n, so everything lands in test (a cluster is never split: it goes whole to one part); "
        f"got part sizes {[len(p) for p in parts]}")


# ---------------------------------------------------------------------------------------- 5.5
def _spiegelhalter(p, y):
    num = np.sum((y - p) * (1 - 2 * p))
    den = math.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    z = num / den
    return z, 2 * stats.norm.sf(abs(z))


def _ece_loop(p, y, n_bins=10):
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (p >= lo) & ((p < hi) if b < n_bins - 1 else (p <= 1.0))
        if inside.any():
            total += inside.sum() / len(p) * abs(y[inside].mean() - p[inside].mean())
    return total


def _calibrated(rng, n):
    p = rng.beta(2.0, 2.0, size=n)
    return p, (rng.random(n) < p).astype(float)


def _miscalibrated(rng, n, temperature):
    """Predictions p̂ whose true probability is sigmoid(logit(p̂) / temperature)."""
    p = rng.beta(2.0, 2.0, size=n)
    true = 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / temperature))
    return p, (rng.random(n) < true).astype(float)


@exercise("5.5", points=2)
def test_calibration_statistics_match_formulas(impl):
    f = impl.ch05_drills.calibration_test
    rng = np.random.default_rng(55)
    datasets = [_calibrated(rng, 200), _miscalibrated(rng, 200, 0.5), _miscalibrated(rng, 300, 2.0)]
    p_edge = np.r_[np.full(10, 0.95), [1.0], rng.uniform(0.0, 0.9, size=40), [0.0]]
    y_edge = np.r_[np.ones(10), [0.0], (rng.random(40) < 0.5).astype(float), [0.0]]
    datasets.append((p_edge, y_edge))
    for i, (p, y) in enumerate(datasets):
        out = f(p, y, n_boot=50)
        assert isinstance(out, dict) and {"z", "p_value", "ece", "ece_ci"} <= set(out), \
            f"return a dict with keys z, p_value, ece, ece_ci; got {out!r}"
        z, pv = _spiegelhalter(p, y)
        assert abs(out["z"] - z) <= 1e-8 * max(1, abs(z)), (
            f"data set {i}: z = {out['z']:.6f}, Spiegelhalter's z is {z:.6f}: Σ(y − p)(1 − 2p) / "
            "sqrt(Σ(1 − 2p)² p (1 − p))")
        assert abs(out["p_value"] - pv) <= 1e-8, (
            f"data set {i}: p_value = {out['p_value']:.6f} for z = {z:.3f}; the two-sided p-value is "
            f"2·(1 − Φ(|z|)) = {pv:.6f}")
        ece = _ece_loop(p, y)
        assert abs(out["ece"] - ece) <= 1e-9, (
            f"data set {i}: ece = {out['ece']:.6f}, expected {ece:.6f} (10 equal-width bins, p = 1 in the last bin, "
            "each bin's |mean(y) − mean(p)| weighted by its share of the samples)")
    nan = f(np.full(20, 0.5), np.r_[np.ones(10), np.zeros(10)], n_boot=20)
    assert math.isnan(nan["z"]) and math.isnan(nan["p_value"]), \
        "when every p̂ is 0.5 the denominator is 0: return NaN for z and p_value"
    with pytest.raises(ValueError):
        f([0.2, 1.2], [0, 1])
    with pytest.raises(ValueError):
        f([0.2, 0.4], [0, 2])
    with pytest.raises(ValueError):
        f([0.2, 0.4, 0.5], [0, 1])
    _check_calibration_contract_and_edges(f)


def _check_calibration_contract_and_edges(f):
    """Every documented key, n_bins and alpha honoured, bin edges, degenerate inputs, what raises
    (run at the end of test_calibration_statistics_match_formulas)."""
    rng = np.random.default_rng(5)
    p, y = _miscalibrated(rng, 150, 1.7)
    out = f(p, y, n_boot=200, seed=3)
    assert isinstance(out, dict) and {"z", "p_value", "ece", "ece_ci", "n"} <= set(out), \
        f"return a dict with keys z, p_value, ece, ece_ci and n; got keys {sorted(out) if isinstance(out, dict) else out!r}"
    assert out["n"] == 150 and isinstance(out["n"], (int, np.integer)), f"n is the number of predictions (150), got {out['n']!r}"
    assert isinstance(out["ece_ci"], tuple) and len(out["ece_ci"]) == 2 and all(
        isinstance(x, (float, np.floating)) for x in out["ece_ci"]), f"ece_ci must be a (low, high) tuple of floats, got {out['ece_ci']!r}"
    assert all(isinstance(out[key], (float, np.floating)) for key in ("z", "p_value", "ece")), \
        "z, p_value and ece must be floats"
    for bins in (5, 15):
        got, want = f(p, y, n_bins=bins, n_boot=20)["ece"], _ece_loop(p, y, bins)
        assert abs(got - want) <= 1e-9, f"with n_bins={bins} ece = {got:.6f}, expected {want:.6f}: use n_bins, not 10"
    wide, narrow = f(p, y, n_boot=400, alpha=0.05, seed=4)["ece_ci"], f(p, y, n_boot=400, alpha=0.5, seed=4)["ece_ci"]
    assert wide[0] < narrow[0] and narrow[1] < wide[1], (
        f"ece_ci with alpha=0.5 {narrow} is not inside the one with alpha=0.05 {wide} (same seed, same resamples): "
        "take the alpha/2 and 1 − alpha/2 quantiles")
    # bin edges: b/B <= p < (b+1)/B, so p = 0.3 is in bin 3 (not 2) and p = 1 in the last bin
    p_edges = np.array([0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5, 0.55, 0.6, 0.65, 0.8, 0.85, 0.9, 1.0, 0.95])
    y_edges = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1], dtype=float)  # each edge value: y = 1
    got, want = f(p_edges, y_edges, n_boot=10)["ece"], _ece_loop(p_edges, y_edges)
    assert abs(got - want) <= 1e-12, (
        f"predictions exactly on bin edges (0.1, 0.2, 0.3, …): ece = {got:.6f}, expected {want:.6f}. Bin b holds "
        "b/B <= p < (b+1)/B (left edge included, e.g. floor(p·B)), p = 1 goes to the last bin")
    sure = f(np.array([0.0, 1.0, 1.0, 0.0, 1.0]), np.array([0, 1, 0, 0, 1]), n_boot=10)
    assert math.isnan(sure["z"]) and math.isnan(sure["p_value"]), (
        f"every p̂ is 0 or 1, so Σ(1 − 2p)² p(1 − p) = 0: z and p_value must be NaN, got z = {sure['z']!r}")
    assert abs(sure["ece"] - 0.2) <= 1e-12, f"p̂ = (0, 1, 1, 0, 1), y = (0, 1, 0, 0, 1): ece is 0.2, got {sure['ece']!r}"
    as_bool = f(p, y.astype(bool), n_boot=200, seed=3)
    assert as_bool["ece"] == out["ece"] and as_bool["z"] == out["z"], "y given as booleans must work like 0/1"
    for bad in (dict(p_hat=[], y=[]), dict(p_hat=p, y=y, n_bins=0), dict(p_hat=p, y=y, n_boot=0),
                dict(p_hat=p, y=y, alpha=1.0)):
        with pytest.raises(ValueError):
            f(**bad)


@exercise("5.5", points=1)
def test_calibration_p_values_uniform_when_calibrated(impl):
    f = impl.ch05_drills.calibration_test
    rng = np.random.default_rng(7)
    pvals = np.array([f(*_calibrated(rng, 200), n_boot=1)["p_value"] for _ in range(400)])
    ks = stats.kstest(pvals, "uniform").pvalue
    rate = float(np.mean(pvals < 0.05))
    assert ks > 1e-3 and 0.02 <= rate <= 0.09, (
        f"for calibrated-by-construction data (y ~ Bernoulli(p̂), n = 200) p-values should be uniform on [0, 1]; "
        f"got rejection rate {rate:.1%} at 5 % (KS p = {ks:.1e})")
    for temperature in (0.6, 1.6):  # under- and over-confident predictions
        power = float(np.mean([f(*_miscalibrated(rng, 200, temperature), n_boot=1)["p_value"] < 0.05
                               for _ in range(200)]))
        assert power > 0.5, (
            f"the test rejects only {power:.0%} of data sets whose true probability is sigmoid(logit(p̂)/{temperature}) "
            "(n = 200); over- and under-confidence push z in opposite directions, so the p-value must be two-sided")


def _ece_bootstrap_quantiles(p, y, n_boot, q, seed):
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(p), size=len(p))
        reps.append(_ece_loop(p[idx], y[idx]))
    return np.quantile(reps, q)


@exercise("5.5", points=1)
def test_calibration_ece_interval_is_a_pair_bootstrap(impl):
    f = impl.ch05_drills.calibration_test
    rng = np.random.default_rng(11)
    p, y = _miscalibrated(rng, 200, 1.5)
    out = f(p, y, n_boot=2000, seed=1)
    low, high = out["ece_ci"]
    assert 0 <= low <= high <= 1, f"ece_ci = {out['ece_ci']} is not an interval inside [0, 1]"
    assert f(p, y, n_boot=2000, seed=1)["ece_ci"] == out["ece_ci"], "the same seed must give the same ece_ci"
    want_low, want_high = _ece_bootstrap_quantiles(p, y, 1500, [0.025, 0.975], seed=99)
    assert abs(low - want_low) < 0.008 and abs(high - want_high) < 0.008, (
        f"ece_ci = ({low:.3f}, {high:.3f}); a percentile bootstrap that resamples the (p̂, y) pairs gives about "
        f"({want_low:.3f}, {want_high:.3f}). Resample pairs together with replacement and take the 2.5 % and 97.5 % "
        "quantiles of the resampled ECEs")
    p_big, y_big = _miscalibrated(rng, 3200, 1.5)
    lo_b, hi_b = f(p_big, y_big, n_boot=300, seed=1)["ece_ci"]
    assert (hi_b - lo_b) < (high - low) / 2, "the ECE interval must narrow as n grows (16× the data, ¼ the width)"


# ---------------------------------------------------------------------------------------- 5.6
def _scipy_lower(k, n, confidence):
    return stats.binomtest(k, n, alternative="greater").proportion_ci(confidence_level=confidence, method="exact").low


@exercise("5.6", points=2)
def test_lower_bound_matches_scipy_exact(impl):
    f = impl.ch05_drills.success_rate_lower_bound
    cases = [(k, n, c) for n in (1, 2, 5, 13, 40) for k in range(n + 1) for c in (0.9, 0.95, 0.99)]
    cases += [(k, 200, 0.95) for k in (0, 1, 10, 20, 27, 30, 35, 100, 199, 200)]
    for k, n, c in cases:
        got, want = f(k, n, confidence=c), _scipy_lower(k, n, c)
        assert isinstance(got, (float, np.floating)), f"return a float, got {type(got).__name__}"
        assert abs(got - want) <= 1e-7, (
            f"success_rate_lower_bound({k}, {n}, confidence={c}) = {got:.6f}, the exact one-sided Clopper–Pearson "
            f"bound is {want:.6f}: the (1 − confidence) quantile of Beta(k, n − k + 1), 0 when k = 0 "
            "(one-sided: not the (1 − confidence)/2 quantile; exact: no normal approximation)")


@exercise("5.6", points=1)
def test_lower_bound_coverage_and_validation(impl):
    f = impl.ch05_drills.success_rate_lower_bound
    n = 200
    bounds = np.array([f(k, n) for k in range(n + 1)])
    assert np.all(np.diff(bounds) > 0), "the bound must increase with the number of successes"
    worst, worst_p = 0.0, None
    for p in np.linspace(0.001, 0.999, 400):
        too_high = stats.binom.pmf(np.arange(n + 1), n, p)[bounds > p].sum()  # P(bound exceeds the true rate)
        if too_high > worst:
            worst, worst_p = too_high, p
    assert worst <= 0.05 + 1e-9, (
        f"with n = 200 and true rate {worst_p:.3f} the bound exceeds the true rate with probability {worst:.3f} > 5 %: "
        "a 95 % lower bound must hold for every true rate (exact binomial tail, one-sided)")
    assert f(0, 10) == 0.0, "with 0 successes the lower bound is 0"
    assert abs(f(10, 10, 0.95) - 0.05 ** 0.1) < 1e-9, "with k = n the bound is (1 − confidence)^(1/n)"
    for bad in ((11, 10), (-1, 10), (0, 0), (3, 10.0), (2.0, 10), (True, 10)):
        with pytest.raises(ValueError):
            f(*bad)
    for c in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError):
            f(3, 10, confidence=c)


# ---------------------------------------------------------------------------------------- 5.7
def _adjusted_decisions(p, alpha, method):
    """Oracle by adjusted p-values (an independent formulation): Holm p̃_(i) = max_{j<=i} (m − j + 1) p_(j),
    BH p̃_(i) = min_{j>=i} m p_(j) / j; reject where p̃ <= α."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p)
    ranks = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate((m - ranks + 1) * p[order])
    else:
        adj = np.minimum.accumulate((m * p[order] / ranks)[::-1])[::-1]
    out = np.zeros(m, dtype=bool)
    out[order] = adj <= alpha
    return out


def _rule(p, alpha, thresholds_of_rank, cut):
    """Decisions (input order) of a threshold rule on sorted p-values: ``cut`` is 'first_failure' (step-down),
    'last_success' (step-up) or 'each' (every p-value against its own threshold)."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    passed = thresholds_of_rank(p[order], np.arange(1, m + 1), m)
    if cut == "first_failure":
        k = m if passed.all() else int(np.argmin(passed))
        sorted_reject = np.arange(m) < k
    elif cut == "last_success":
        hits = np.flatnonzero(passed)
        sorted_reject = np.arange(m) < (hits[-1] + 1 if len(hits) else 0)
    else:
        sorted_reject = passed
    out = np.zeros(m, dtype=bool)
    out[order] = sorted_reject
    return out


_HOLM_FIX = "Holm: reject while p_(i) <= α/(m − i + 1) for ranks i = 1, 2, …, stop at the first failure"
_BH_FIX = "BH: reject ranks 1..k for the largest k with p_(k) <= k·α/m"
_WRONG_RULES = {  # name: (methods it imitates, rule, what to fix)
    "bonferroni": (("holm",), (lambda s, i, m, a: s <= a / m, "each"),
                   "Holm's threshold grows with the rank, α/(m − i + 1); α/m for every p-value is Bonferroni"),
    "holm_no_stop": (("holm",), (lambda s, i, m, a: s <= a / (m - i + 1), "each"),
                     "Holm is step-down: stop at the first p_(i) > α/(m − i + 1) — nothing after it is rejected, "
                     "even a p-value that would pass its own threshold"),
    "holm_off_by_one": (("holm",), (lambda s, i, m, a: s <= a / (m - i + 2), "first_failure"),
                        "ranks start at 1 in α/(m − i + 1): the smallest p-value meets α/m, not α/(m + 1)"),
    "bh_step_down": (("bh",), (lambda s, i, m, a: s <= i * a / m, "first_failure"),
                     "BH is step-up: find the LARGEST rank k with p_(k) <= k·α/m and reject ranks 1..k, not only "
                     "until the first failure"),
    "bh_individual": (("bh",), (lambda s, i, m, a: s <= i * a / m, "each"),
                      "BH is step-up: find the LARGEST rank k with p_(k) <= k·α/m and reject ranks 1..k, including "
                      "ranks below k that miss their own threshold"),
    "bh_off_by_one": (("bh",), (lambda s, i, m, a: s <= (i - 1) * a / m, "last_success"),
                      "ranks start at 1 in k·α/m: the smallest p-value meets 1·α/m, not 0"),
    "holm_strict": (("holm",), (lambda s, i, m, a: s < a / (m - i + 1), "first_failure"),
                    "a p-value equal to its threshold is rejected (<=, not <)"),
    "bh_strict": (("bh",), (lambda s, i, m, a: s < i * a / m, "last_success"),
                  "a p-value equal to its threshold is rejected (<=, not <)"),
}


def _diagnosis(p, alpha, method, got, want):
    """What to fix when ``got`` (wrong) equals a known wrong rule's answer, else the rule itself."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    if np.array_equal(got, want[order]):
        return ("decisions must be in the order of the input p_values (position j answers p_values[j]), "
                "not in sorted order")
    fixes = [fix for methods, (test, cut), fix in _WRONG_RULES.values()
             if method in methods and np.array_equal(got, _rule(p, alpha, lambda s, i, m: test(s, i, m, alpha), cut))]
    if fixes:  # several wrong rules can give the same answer on one case: name each
        return "; or ".join(dict.fromkeys(fixes))
    return _HOLM_FIX if method == "holm" else _BH_FIX


def _random_p_values(rng, m):
    """A mixture of null (uniform) and real effects (small p-values), away from exact threshold ties."""
    n_effects = int(rng.integers(0, m + 1))
    p = np.concatenate([rng.uniform(size=m - n_effects), rng.beta(0.3, 8.0, size=n_effects)])
    return rng.permutation(p)


def _decide(f, p, alpha, method):
    got = f(p, alpha=alpha, method=method)
    assert got is not None, "holm_bh_decisions returned None: return a bool array of decisions"
    got = np.asarray(got)
    assert got.shape == (len(p),), f"return one decision per p-value: shape ({len(p)},), got {got.shape}"
    assert got.dtype == bool, f"return a bool array (True = reject), got dtype {got.dtype}"
    return got


# (p-values, α, method, expected, what a wrong answer means) — each case separates one realistic mistake
_MULTIPLE_CASES = [
    ([0.3, 0.01, 0.04, 0.02], 0.05, "bh", [False, True, False, True],
     "decisions must be in the order of the input p_values (position j answers p_values[j]), not in sorted order"),
    ([0.01, 0.02, 0.5], 0.05, "holm", [True, True, False],
     "Holm's threshold grows with the rank: p_(i) <= α/(m − i + 1) (α/3, α/2, α here), not α/m for every "
     "p-value (that is Bonferroni)"),
    ([0.01, 0.03, 0.04], 0.05, "holm", [True, False, False],
     "Holm is step-down: stop at the first p_(i) > α/(m − i + 1) — nothing after it is rejected, even a p-value "
     "that would pass its own threshold"),
    ([0.01, 0.04, 0.045], 0.05, "bh", [True, True, True],
     "BH is step-up: find the LARGEST rank k with p_(k) <= k·α/m and reject ranks 1..k, including ranks below k "
     "that miss their own threshold"),
    ([0.125, 0.9, 0.95, 0.99], 0.5, "holm", [True, False, False, False],
     "a p-value equal to its threshold is rejected (<=, not <); ranks start at 1, so the smallest p-value meets α/m"),
    ([0.125, 0.9, 0.95, 0.99], 0.5, "bh", [True, False, False, False],
     "a p-value equal to its threshold is rejected (<=, not <); ranks start at 1, so the smallest p-value meets "
     "1·α/m"),
    ([0.2, 0.25, 0.375, 0.6], 0.5, "bh", [True, True, True, False],
     "BH thresholds are k·α/m for ranks k = 1..m (0.125, 0.25, 0.375, 0.5 here) and p equal to a threshold is "
     "rejected"),
    ([0.1, 0.1, 0.1, 0.1], 0.5, "holm", [True, True, True, True],
     "equal p-values must get the same decision; with four p-values of 0.1 and α = 0.5 Holm rejects all four"),
    ([0.02, 0.5, 0.02], 0.05, "bh", [True, False, True],
     "equal p-values must get the same decision (ties are rejected together)"),
]


@exercise("5.7", points=2)
def test_multiple_testing_cases_that_separate_the_rules(impl):
    f = impl.ch05_drills.holm_bh_decisions
    for p, alpha, method, want, fix in _MULTIPLE_CASES:
        got = _decide(f, list(p), alpha, method)
        if got.tolist() != want:
            diagnosis = _diagnosis(p, alpha, method, got, np.array(want))
            raise AssertionError(f"holm_bh_decisions({p}, alpha={alpha}, method={method!r}) = {got.tolist()}, "
                                 f"expected {want}: {diagnosis} ({fix})")
    for method in ("holm", "bh"):
        assert _decide(f, [], 0.05, method).shape == (0,), "no p-values: return an empty bool array"
        assert _decide(f, [0.04], 0.05, method).tolist() == [True], "one p-value: reject when p <= α"
        assert _decide(f, [0.06], 0.05, method).tolist() == [False], "one p-value: keep when p > α"
        assert _decide(f, [0.0, 1.0], 0.05, method).tolist() == [True, False], "p = 0 is rejected, p = 1 kept"


@exercise("5.7", points=2)
def test_multiple_testing_matches_adjusted_p_values(impl):
    f = impl.ch05_drills.holm_bh_decisions
    rng = np.random.default_rng(57)
    for trial in range(600):
        m = int(rng.integers(1, 40))
        p = _random_p_values(rng, m)
        if trial % 5 == 0:
            p = np.round(p, 2)  # ties
        alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
        for method in ("holm", "bh"):
            before = p.copy()
            got = _decide(f, p, alpha, method)
            assert np.array_equal(p, before), "do not modify the p_values you were given (sort a copy)"
            want = _adjusted_decisions(p, alpha, method)
            if not np.array_equal(got, want):
                j = int(np.flatnonzero(got != want)[0])
                raise AssertionError(
                    f"m = {m}, alpha = {alpha}, method = {method!r}: p_values[{j}] = {p[j]:.4g} should be "
                    f"{'rejected' if want[j] else 'kept'} ({int(want.sum())} rejections expected, you made "
                    f"{int(got.sum())}): {_diagnosis(p, alpha, method, got, want)}")
    holm = _decide(f, np.array([0.001, 0.01, 0.02, 0.04, 0.2]), 0.05, "holm")
    bh = _decide(f, np.array([0.001, 0.01, 0.02, 0.04, 0.2]), 0.05, "bh")
    assert not (holm & ~bh).any(), "BH rejects at least what Holm rejects at the same α"


@exercise("5.7", points=1)
def test_multiple_testing_controls_errors_and_validates(impl):
    """Under the global null, Holm's family-wise error and BH's false discovery rate stay at α (simulated, seeded)."""
    f = impl.ch05_drills.holm_bh_decisions
    rng = np.random.default_rng(5)
    reps, m, alpha = 2000, 10, 0.1
    any_holm = any_bh = 0
    for _ in range(reps):
        p = rng.uniform(size=m)
        any_holm += bool(_decide(f, p, alpha, "holm").any())
        any_bh += bool(_decide(f, p, alpha, "bh").any())
    for name, count in (("holm", any_holm), ("bh", any_bh)):
        low = stats.binomtest(count, reps).proportion_ci(method="exact").low
        assert low <= alpha, (
            f"{name}: with {m} true null hypotheses a false rejection happened in {count / reps:.1%} of {reps} "
            f"simulated experiments at α = {alpha} — both rules keep it <= α under the global null")
    for bad in ([0.1, 1.2], [-0.1], [0.1, float("nan")], [[0.1, 0.2]], ["a"]):
        with pytest.raises(ValueError):
            f(bad)
    for bad_alpha in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError):
            f([0.1], alpha=bad_alpha)
    with pytest.raises(ValueError):
        f([0.1], method="bonferroni")
