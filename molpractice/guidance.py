"""Classifier-free guidance on chapter 4's molecule diffusion model — the chapter-6 facade, and sampling as an
optimiser under a call budget.

Every public name is importable from here (``mp.guidance``); the code lives in modules split by responsibility:

* :mod:`molpractice.guidance_model` — the property label, :class:`ConditionalEGNN`, :class:`GuidedDenoiser`
  (ε̂ = (1 + w)·ε̂(x, c) − w·ε̂(x, ∅) through the chapter's ``cfg_noise``), the warm start from chapter 4's trained
  weights (label embedding zero: the output is chapter 4's model's for every label), the label-dropout fine-tune
  :func:`train_conditional_model` (cached, deterministic) and the choice of its length on a validation split;
* :mod:`molpractice.guidance_sweep` — guided sampling and the guidance-scale sweep with intervals;
* here — the samplers under a proxy-call budget: chapter 4's own model unguided (:func:`chapter4_baseline`), the
  fine-tuned model's unconditional branch (w = −1) and CFG (:func:`sampling_baseline`), and their summaries.

Every function that runs diffusion maths receives the chapter-4 module (``ch04``: schedule, forward process,
samplers, ``sample_metrics``); guidance receives the chapter-6 module (``ch06``: ``cfg_noise``).
"""
from __future__ import annotations

import numpy as np
import torch

from .diffusion import draw_sizes, position_clip
from .diffusion_model import package_source_hash  # noqa: F401 (part of the fine-tune's cache key)
from .guidance_model import *  # noqa: F401,F403
from .guidance_model import __all__ as _model_all
from .guidance_model import _centre, _labels  # noqa: F401
from .guidance_sweep import *  # noqa: F401,F403
from .guidance_sweep import __all__ as _sweep_all
from .guidance_sweep import _boot, _diversity_of, _per_sample, _similarity, _stats  # noqa: F401
from .guidance_sweep import sample_guided  # noqa: F401 (sampling_baseline looks it up here: tests replace it)

SAMPLING_METHOD = "w = −1 sampler (chapter 4's model, label-dropout fine-tuned)"  # the fine-tuned model's ∅ branch
SAMPLER_COLUMNS = ["seed", "samples", "draws_to_budget", "valid_connected", "calls", "budget_spent", "label1", "proxy_top10",
                   "true_top10", "auc_top10", "heavy_atoms_top10"]  # a sampler's table, as the notebook shows it


def draw_seed(seed: int, chunk: int) -> int:
    """The sampling seed of ``chunk`` (0, 1, …) of reported seed ``seed``: ``10_000 + seed + 100_000 · chunk``
    (never the sweep's seed 0; chunk 0 is ``10_000 + seed``; distinct for every seed below 100 000)."""
    if not 0 <= int(seed) < 100_000 or int(chunk) < 0:
        raise ValueError(f"need 0 <= seed < 100000 and chunk >= 0, got seed={seed}, chunk={chunk}")
    return 10_000 + int(seed) + 100_000 * int(chunk)


CHAPTER4_METHOD = "chapter 4's model (DDIM-50)"  # chapter 4's own unconditional EGNN, with its fast sampler


def chapter4_draw(ch04, model, data, steps: int = 50, cfg4=None):
    """A ``draw(n, seed) -> samples`` function for :func:`sampling_baseline`: ``n`` molecules from chapter 4's own
    model (``model``: :func:`molpractice.diffusion.train_molecule_model`) with chapter 4's DDIM sampler of ``steps``
    steps (its fast sampler: DDIM-50), sizes from the training histogram, chapter 4's position clip and type scale
    (``cfg4``: chapter 4's settings, default the current mode's)."""
    from .diffusion import SETTINGS as CH4_SETTINGS, sample_molecules

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    cfg4 = cfg4 or CH4_SETTINGS.current()
    alpha_bar = ch04.cosine_alpha_bar(cfg4.T, dtype=torch.float32)
    clip = position_clip(data)

    def draw(n: int, seed: int):
        samples, _ = sample_molecules(ch04, model, draw_sizes(data, n, seed=seed), alpha_bar, "ddim", steps,
                                      cfg4.type_scale, clip, seed=seed)
        return samples
    return draw


def chapter4_baseline(ch04, data, budget: int, seeds, chunk: int, max_draws: int | None = None, steps: int = 50,
                      cfg4=None, implementation: str | None = None):
    """Random sampling from chapter 4's own model under a call budget: its EGNN from
    :func:`molpractice.diffusion.train_molecule_model` (chapter 4's settings ``cfg4``, default the current mode's; loaded
    from the cache when it holds these settings, else trained here) sampled with :func:`chapter4_draw` (DDIM-``steps``)
    through :func:`sampling_baseline` (method :data:`CHAPTER4_METHOD`). Returns ``(table, info)``, ``info`` the
    training record (``cached``, ``steps``, ``cpu_seconds`` of the run that trained it)."""
    from .diffusion import train_molecule_model

    model, info = train_molecule_model(ch04, data, cfg4, progress=False, implementation=implementation)
    method = CHAPTER4_METHOD if steps == 50 else f"chapter 4's model (DDIM-{steps})"
    table = sampling_baseline(ch04, None, None, data, budget, seeds, chunk, max_draws=max_draws, method=method,
                              draw=chapter4_draw(ch04, model, data, steps, cfg4))
    return table, info


def sampling_baseline(ch04, ch06, model, data, budget: int, seeds, chunk: int, cfg=None, w: float = -1.0,
                      label: int = 1, method: str | None = None, max_draws: int | None = None,
                      draw=None) -> "pd.DataFrame":
    """Sampling from chapter 4's model fine-tuned with label dropout (:func:`train_conditional_model`) as an
    optimiser under a call budget: unguided (the default, w = −1: its ∅ branch, next to chapter 4's model itself,
    :func:`chapter4_baseline`) or, with ``w`` ≥ 0 and ``label``, classifier-free guidance as an optimiser.

    For each seed, molecules are drawn from ``model`` at scale ``w`` (w = −1: ε̂(x, ∅), the unconditional branch
    that label dropout trains alongside the conditional one; sampler and steps of ``cfg``, chapter 4's DDIM-50 by
    default, so a draw of a seed starts from the same sizes and noise as :func:`chapter4_draw`'s) in chunks of ``chunk``, chunk k with seed
    :func:`draw_seed` ``(seed, k)`` (never the sweep's draws; the same sizes and starting noise at every ``w``, so
    two samplers of the same seed are paired). The valid connected ones go, in the order drawn, to a
    :class:`~molpractice.oracles.BudgetedOracle` of ``budget`` calls (repeats are free) for the buggy and for
    the bug-free proxy (both see the same distinct molecules, so both spend the same calls). Drawing stops when
    the budget is spent, or after ``max_draws`` draws (default ``20 · budget``) — ``budget_spent`` says which; only a
    run that stopped at the cap has an AUC padded with its last top-10 value (:func:`~molpractice.oracles.top_k_auc`).
    The 10 best by that proxy are "shipped". Invalid or fragmented samples cost no call.

    ``draw(n, seed) -> samples`` replaces the fine-tuned model by another sampler (e.g. :func:`chapter4_draw`:
    chapter 4's own model; ``model``, ``ch06``, ``w`` and ``label`` are then unused and ``method`` is required).

    Returns one row per (proxy, seed) with the optimisation study's columns (``proxy`` "buggy"/"bug-free",
    ``method`` (default :data:`SAMPLING_METHOD` for w = −1, else ``"CFG sampling (w=…)"``), ``seed``,
    ``proxy_top10``, ``true_top10``, ``auc_top10``, ``heavy_atoms_top10`` (mean heavy atoms of the shipped 10),
    ``sa_top10``, ``calls``) plus ``w``, ``samples`` (draws made, the last chunk whole), ``draws_to_budget`` (the draw
    that spent the last call, NaN if the budget was not spent), ``budget_spent``, ``valid_connected`` (of ``samples``),
    ``label1`` (draws with label 1 by their atom types, of ``samples``) and ``label1_valid`` (valid connected draws with
    label 1, of ``valid_connected``).
    """
    import pandas as pd

    from . import oracles
    from .diffusion import metrics

    if int(budget) < 10 or int(chunk) < 1 or (max_draws is not None and int(max_draws) < 1):
        raise ValueError(f"need budget >= 10, chunk >= 1 and max_draws >= 1 (or None), got budget={budget}, "
                         f"chunk={chunk}, max_draws={max_draws}")
    if draw is not None and not method:
        raise ValueError("method must name the sampler when draw is given")
    cfg = cfg or SETTINGS.current()
    method = method or (SAMPLING_METHOD if float(w) == -1.0 else f"CFG sampling (w={float(w):g})")
    own = draw is None
    if own:
        def draw(n, seed_):
            return sample_guided(ch04, ch06, model, data, float(w), n, label=label, cfg=cfg, seed=seed_)
    max_draws = 20 * int(budget) if max_draws is None else int(max_draws)
    train_smiles = [d["smiles"] for d in data]
    rows = []
    for seed in seeds:
        made = n_label1 = n_valid = n_label1_valid = 0
        to_budget = float("nan")
        found = {True: oracles.BudgetedOracle(lambda s: oracles.proxy_score(s, bug=True), budget, "proxy"),
                 False: oracles.BudgetedOracle(lambda s: oracles.proxy_score(s, bug=False), budget, "proxy")}
        k = 0
        while found[False].remaining > 0 and made < max_draws:
            n = min(int(chunk), max_draws - made)
            samples = draw(n, draw_seed(seed, k))
            n_label1 += sum(label_of(z) for z, _ in samples)
            for i, s in enumerate(metrics(ch04, samples, train_smiles)["smiles"]):
                if s is None or "." in s:
                    continue
                n_valid += 1
                n_label1_valid += label_of(samples[i][0])
                for oracle in found.values():
                    if oracle.remaining > 0:
                        oracle([s])
                if found[False].remaining == 0 and np.isnan(to_budget):
                    to_budget = float(made + i + 1)
            made += n
            k += 1
        common = dict(method=method, seed=int(seed), w=float(w) if own else float("nan"), label1=n_label1, samples=made, valid_connected=n_valid,
                      label1_valid=n_label1_valid, draws_to_budget=to_budget, budget_spent=bool(found[False].remaining == 0))
        for proxy, bug in (("buggy", True), ("bug-free", False)):
            oracle = found[bug]
            top = sorted(oracle.history, key=lambda x: -x[1])[:10]
            mols = [oracles.mol_from_smiles(s) for s, _ in top]
            if not top:  # no valid connected sample: nothing to ship
                rows.append(dict(common, proxy=proxy, calls=0) | dict.fromkeys(
                    ("proxy_top10", "true_top10", "auc_top10", "heavy_atoms_top10", "sa_top10"), float("nan")))
                continue
            rows.append(dict(common, proxy=proxy, calls=oracle.calls,
                             proxy_top10=float(np.mean([v for _, v in top])),
                             true_top10=float(np.mean([oracles.true_score(s) for s, _ in top])),
                             auc_top10=oracles.top_k_auc([v for _, v in oracle.history], budget),
                             heavy_atoms_top10=float(np.mean([oracles.heavy_atom_count(m) for m in mols])),
                             sa_top10=float(np.mean([oracles.sa_score(s) for s, _ in top]))))
    first = ["proxy", "method", "seed"]
    out = pd.DataFrame(rows)
    return out[first + [c for c in out.columns if c not in first]]


def sampler_summary(sampled, budget: int, proxy: str = "bug-free", data=None) -> str:
    """One line about a :func:`sampling_baseline` table: in how many seeds the ``budget`` was spent and after how
    many draws, and the share of draws with label 1 (all seeds pooled) with its Clopper–Pearson 95 % interval —
    over all draws, and (when the table has ``label1_valid``) among the valid connected draws, the share to read
    against the training molecules' (given ``data``: above, below or not distinguishable from it)."""
    from .plausibility import clopper_pearson

    s = sampled[sampled.proxy == proxy]
    k, n = int(s.label1.sum()), int(s.samples.sum())
    lo, hi = clopper_pearson(k, n)
    draws = s.draws_to_budget.dropna()
    after = f", after {int(draws.min())}–{int(draws.max())} draws" if len(draws) else ""
    out = (f"{budget} proxy calls spent in {int(s.budget_spent.sum())} of {len(s)} seeds{after}; label 1 in {k} of {n} draws = "
           f"{k / n:.3f} [{lo:.3f}, {hi:.3f}] (Clopper–Pearson)")
    if "label1_valid" in s and int(s.valid_connected.sum()):
        kv, nv = int(s.label1_valid.sum()), int(s.valid_connected.sum())
        lo_v, hi_v = clopper_pearson(kv, nv)
        out += f", among the {nv} valid connected draws {kv} = {kv / nv:.3f} [{lo_v:.3f}, {hi_v:.3f}]"
        if data is not None:
            share = float(np.mean([label_of(d["z"]) for d in data]))
            where = "above" if lo_v > share else "below" if hi_v < share else "not distinguishable from"
            out += f", {where} the training share {share:.3f} ({len(data)} molecules)"
    return out


def data_top10(data, bug: bool) -> dict:
    """The 10 best of *all* of chapter 4's training molecules by the proxy (``bug`` as in
    :func:`~molpractice.oracles.proxy_score`): their mean proxy and true score, ``n`` molecules and
    ``max_heavy_atoms``, the largest training molecule (the samplers draw their sizes from the training
    histogram, so no sample is larger). A reference for the samplers, not a bound: a sampler that emits novel
    molecules can ship a better top 10 than its training molecules'."""
    from . import oracles

    scored = sorted(((oracles.proxy_score(d["smiles"], bug=bug), d["smiles"]) for d in data), reverse=True)[:10]
    return dict(proxy_top10=float(np.mean([v for v, _ in scored])),
                true_top10=float(np.mean([oracles.true_score(s) for _, s in scored])), n=len(data),
                max_heavy_atoms=int(max(len(d["z"]) for d in data)) if data and "z" in data[0] else None)


def reference_heavy_atoms() -> int:
    """Heavy atoms of the objective's reference molecule (:data:`molpractice.oracles.REFERENCE`, zolpidem)."""
    from . import oracles

    return int(oracles.mol_from_smiles(oracles.REFERENCE).GetNumHeavyAtoms())


def training_best_text(samplers: dict, best: dict) -> str:
    """The samplers' shipped top 10 on the bug-free proxy (``samplers``: name → a :func:`sampling_baseline` table;
    mean proxy and true top-10 over seeds) next to ``best`` = :func:`data_top10` of the model's training molecules
    on the bug-free proxy (a diagnostic outside every budget; a reference, not a bound), the largest molecule the
    samplers can emit (``best["max_heavy_atoms"]``) and the heavy atoms of the objective's reference molecule."""
    if not samplers:
        raise ValueError("samplers must name at least one sampling_baseline table")
    parts = [f"{k} {t[t.proxy == 'bug-free'].proxy_top10.mean():.3f} (true {t[t.proxy == 'bug-free'].true_top10.mean():.3f})"
             for k, t in samplers.items()]
    size = (f"; the samplers draw molecule sizes from the training histogram, so they emit molecules of at most "
            f"{best['max_heavy_atoms']} heavy atoms" if best.get("max_heavy_atoms") else "")
    return (f"shipped proxy top-10 on the bug-free proxy, mean over seeds: {', '.join(parts)}; the best 10 of all "
            f"{best['n']} training molecules by the bug-free proxy score {best['proxy_top10']:.3f} (true "
            f"{best['true_top10']:.3f}; computed outside the budget — a reference, not a bound: a sampler's novel "
            f"molecules can score higher){size}; the objective's reference molecule (zolpidem) has "
            f"{reference_heavy_atoms()} heavy atoms")


def label_association(data, n_top: int = 10) -> dict:
    """The guidance label against the objective on the training molecules ``data``: the true score
    (:func:`molpractice.oracles.true_score`) of each molecule, its mean by label with ``n`` per label, the difference
    label 1 − label 0 with Welch's 95 % t-interval and ``verdict`` ("higher", "lower" or "no detectable
    difference"), the two-sided Mann–Whitney p, how many of the ``n_top`` best molecules by true score carry label 1,
    and the reference molecule's N/O/F count and heavy atoms (its label, and the heteroatom fraction label 1
    needs in the largest training molecule: ``HETERO_THRESHOLD`` / ``max_heavy_atoms``)."""
    from scipy import stats

    from . import oracles

    if len(data) < 4:
        raise ValueError(f"need at least 4 molecules, got {len(data)}")
    score = np.array([oracles.true_score(d["smiles"]) for d in data])
    label = np.array([label_of(d["z"]) for d in data])
    a, b = score[label == 1], score[label == 0]
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 molecules of each label")
    diff = float(a.mean() - b.mean())
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)   # Welch's t-interval
    lo, hi = float(ci.low), float(ci.high)
    top = np.argsort(-score, kind="stable")[:n_top]
    ref_het = hetero_count([at.GetAtomicNum() for at in oracles.mol_from_smiles(oracles.REFERENCE).GetAtoms()])
    return dict(mean1=float(a.mean()), mean0=float(b.mean()), n1=len(a), n0=len(b), difference=diff, lo=lo, hi=hi,
                verdict="higher" if lo > 0 else "lower" if hi < 0 else "no detectable difference",
                p_mannwhitney=float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue),
                top_label1=int(label[top].sum()), n_top=len(top), ref_hetero=int(ref_het),
                ref_heavy=reference_heavy_atoms(), max_heavy=int(max(len(d["z"]) for d in data)))


def association_text(assoc: dict) -> str:
    """One line of :func:`label_association`, with what it means for CFG as an optimiser."""
    a = assoc
    reading = ("the label goes with the objective here, so CFG towards it is a (weak) test of guidance as an optimiser"
               if a["verdict"] == "higher" else
               "label 1 scores lower on these molecules: steering towards it pushes away from the objective" if a["verdict"] == "lower"
               else "no detectable association: the label carries no detectable information about the objective")
    return (f"the guidance label against the objective, on the {a['n1'] + a['n0']} training molecules: mean true score "
            f"label 1 {a['mean1']:.3f} ({a['n1']} molecules), label 0 {a['mean0']:.3f} ({a['n0']}); label 1 − label 0 "
            f"{a['difference']:+.3f} [{a['lo']:+.3f}, {a['hi']:+.3f}] (Welch 95 % t-interval: {a['verdict']}), "
            f"Mann–Whitney p = {a['p_mannwhitney']:.3f}; label 1 among the {a['n_top']} best by true score: {a['top_label1']}; "
            f"zolpidem has {a['ref_hetero']} N/O/F of {a['ref_heavy']} heavy atoms ({a['ref_hetero'] / a['ref_heavy']:.2f}), "
            f"label 1 needs ≥ {HETERO_THRESHOLD} of at most {a['max_heavy']} ({HETERO_THRESHOLD / a['max_heavy']:.2f}) — {reading}")


def cfg_question_text(assoc: dict) -> str:
    """A clause for the CFG-versus-optimiser answer, generated from :func:`label_association`'s verdict."""
    if assoc["verdict"] == "higher":
        return ("the label goes with the objective on the training molecules (label 1 − label 0 true score "
                f"{assoc['difference']:+.3f} [{assoc['lo']:+.3f}, {assoc['hi']:+.3f}]), so this run is a weak test of CFG "
                "as an optimiser")
    return (f"with this label (label 1 − label 0 true score on the training molecules {assoc['difference']:+.3f} "
            f"[{assoc['lo']:+.3f}, {assoc['hi']:+.3f}]: {assoc['verdict']}) the CFG run cannot inform the question of "
            "CFG versus an optimiser: a fair test needs a label tied to the objective (not run: it needs new fine-tunes)")


def heavy_atoms_text(samplers: dict, data, lib) -> str:
    """Mean heavy atoms of each sampler's shipped top 10 on the bug-free and on the buggy proxy (whose bug rewards
    the fit molecule's excess: size and ring-dense cages; ``samplers``: name → a :func:`sampling_baseline` table, column ``heavy_atoms_top10``), of the ``data``'s
    training molecules (and the largest of them: the samplers draw their sizes from the training set) and of the
    library ``lib``, the elements the diffusion models can generate (:data:`molpractice.diffusion_model.ELEMENTS`),
    and the bug's part (:func:`molpractice.oracles.bug_parts`) of the training molecules (mean, largest) and of cubane,
    a small cage the bug rewards."""
    from rdkit import Chem

    from . import oracles
    from .diffusion_model import ELEMENTS

    if not samplers:
        raise ValueError("samplers must name at least one sampling_baseline table")
    per = {proxy: ", ".join(f"{k} {t[t.proxy == proxy].heavy_atoms_top10.mean():.1f}" for k, t in samplers.items())
           for proxy in ("bug-free", "buggy")}
    sizes = [len(d["z"]) for d in data]
    train_bug = [sum(oracles.bug_parts(d["smiles"])) for d in data]
    return (f"heavy atoms of the shipped top 10 on the bug-free proxy: {per['bug-free']}; on the buggy proxy (its bug "
            f"rewards the fit molecule's excess: size and ring-dense cages): {per['buggy']}; training molecules {np.mean(sizes):.1f} (largest {max(sizes)}), library "
            f"{np.mean([oracles.heavy_atom_count(oracles.mol_from_smiles(s)) for s in lib]):.1f} (elements both "
            f"diffusion models generate: {', '.join(Chem.GetPeriodicTable().GetElementSymbol(int(z)) for z in ELEMENTS)}); "
            f"the bug's part (buggy − bug-free proxy) of the training molecules: mean {np.mean(train_bug):+.3f}, largest "
            f"{np.max(train_bug):+.3f}; of cubane ({oracles.heavy_atom_count(oracles.mol_from_smiles(oracles.CUBANE))} heavy "
            f"atoms, a cage within the samplers' size range): {sum(oracles.bug_parts(oracles.CUBANE)):+.3f}")
