"""The guidance sweep of classifier-free guidance on chapter 4's model (fine-tuned with label dropout:
:mod:`molpractice.guidance_model`): guided sampling, and for each guidance scale the property shift against
validity, connectivity, diversity, uniqueness, novelty and chapter 4's plausibility checks, with intervals; paired
differences between scales; the scale choice; lines that read the sweep against the training molecules.
"""
from __future__ import annotations

import numpy as np
import torch

from .diffusion import draw_sizes, position_clip
from .guidance_model import SETTINGS, GuidedDenoiser, hetero_count, label_of

__all__ = ["sample_guided", "guidance_sweep", "scale_difference", "sweep_reference_lines", "choose_scale",
           "sweep_family", "neighbour_lines", "set_diversity", "diversity_reference", "diversity_note"]


def sample_guided(ch04, ch06, model, data, w: float, n: int, label: int = 1, cfg=None, seed: int = 0):
    """``n`` molecules guided towards ``label`` with scale ``w`` (sizes from the training histogram), sampled with
    ``cfg.sampler`` in ``cfg.sample_steps`` steps (chapter 4's DDIM: deterministic given the start).

    The same seed gives the same sizes and starting noise at every scale, so scales are compared on
    paired draws — and on the same ones as :func:`molpractice.guidance.chapter4_draw` of that seed.
    """
    from .diffusion import sample_molecules

    cfg = cfg or SETTINGS.current()
    sizes = draw_sizes(data, n, seed=seed)
    alpha_bar = ch04.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    guided = GuidedDenoiser(model, ch06, torch.full((n,), int(label), dtype=torch.long), w)
    samples, _ = sample_molecules(ch04, guided, sizes, alpha_bar, method=cfg.sampler, steps=cfg.sample_steps,
                                  type_scale=cfg.type_scale, pos_clip=position_clip(data), seed=seed)
    return samples


def _boot(values, n_boot, rng):
    values = np.asarray(values, float)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
    return float(values.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _similarity(smiles):
    from rdkit import DataStructs

    from .oracles import fingerprint, mol_from_smiles

    fps = [fingerprint(mol_from_smiles(s)) for s in smiles]
    return np.array([DataStructs.BulkTanimotoSimilarity(f, fps) for f in fps]) if fps else np.zeros((0, 0))


def _scaffold_same(smiles):
    """1 where two molecules share their Murcko scaffold (atom types kept; every acyclic molecule has the empty
    scaffold), else 0: with :func:`_diversity_of`, the probability that two different molecules have different
    scaffolds (a Gini–Simpson index of the scaffolds)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    from .oracles import mol_from_smiles

    scaf = np.array([MurckoScaffold.MurckoScaffoldSmiles(mol=mol_from_smiles(s)) for s in smiles], dtype=object)
    return (scaf[:, None] == scaf[None, :]).astype(float) if len(scaf) else np.zeros((0, 0))


def _diversity_of(sim, idx) -> float:
    """1 − mean off-diagonal similarity among the rows ``idx`` (pairs of a molecule with its own copy dropped)."""
    if len(idx) < 2:
        return float("nan")
    keep = idx[:, None] != idx[None, :]
    return 1.0 - float(sim[np.ix_(idx, idx)][keep].mean()) if keep.any() else float("nan")


def _per_sample(samples, smiles, plausible=None):
    """One row per sample: its label (from the atom types), valid, connected (valid, one fragment), SMILES and,
    when given (one bool per sample), ``plausible`` (chapter 4's checks: :func:`molpractice.plausibility.plausibility`)."""
    import pandas as pd

    out = pd.DataFrame(dict(label=[label_of(z) for z, _ in samples], hetero=[hetero_count(z) for z, _ in samples],
                            valid=[s is not None for s in smiles],
                            connected=[s is not None and "." not in s for s in smiles],
                            smiles=list(smiles)))
    if plausible is not None:
        out["plausible"] = np.asarray(plausible, bool) & out["connected"].to_numpy()
    return out


def _stats(ps, sim, idx, scaf=None) -> dict:
    """Validity, connectivity, label-1 share among connected, diversity of the connected and the label-1 yield
    (valid connected label-1 molecules per sample drawn = connected × that share), on rows ``idx``; given ``scaf``
    (:func:`_scaffold_same` of the connected samples), their scaffold diversity too."""
    valid, connected, label = (ps[c].to_numpy() for c in ("valid", "connected", "label"))
    pos = np.cumsum(connected) - 1  # row of each connected sample in ``sim``
    conn = idx[connected[idx]]
    out = dict(validity=float(valid[idx].mean()), connected=float(connected[idx].mean()),
               label_share=float((label[idx] == 1).mean()), label_share_valid=float(label[conn].mean()) if len(conn) else float("nan"),
               diversity=_diversity_of(sim, pos[conn]),
               label1_yield=float((connected[idx] & (label[idx] == 1)).mean()))
    if scaf is not None:
        out["scaffold_diversity"] = _diversity_of(scaf, pos[conn])
    if "plausible" in ps:
        plaus = ps["plausible"].to_numpy()
        out["plausible"] = float(plaus[idx].mean())
        out["plausible_valid"] = float(plaus[conn].mean()) if len(conn) else float("nan")
    return out


def guidance_sweep(ch04, ch06, model, data, cfg=None, seed: int = 0, plausibility: bool = True) -> "pd.DataFrame":
    """For each guidance scale: the property (share of samples with label 1 and mean heteroatom count, over
    all samples, from their atom types), validity, connectivity (valid and one fragment), the label-1 share
    among the valid connected samples (what a chemist would receive), uniqueness and novelty (chapter 4's
    ``sample_metrics``; uniqueness without interval), the diversity of the valid connected molecules (1 −
    mean pairwise Tanimoto), their scaffold diversity (the probability that two different valid connected samples
    have different Murcko scaffolds; acyclic molecules share the empty scaffold) and, with ``plausibility``, chapter 4's plausibility checks
    (:func:`molpractice.plausibility.plausibility`: valid, one fragment, every geometry check, no group of its
    short cited list of implausible groups; Brenk's screening filters are not part of it)
    as ``plausible`` (over all samples) and ``plausible_valid`` (among the valid connected ones). Intervals:
    Clopper–Pearson 95 % for the rates label_share, label_share_valid, label1_yield (valid, connected and label 1:
    k of n draws), validity, connected, plausible and plausible_valid (k of n; a bootstrap would collapse to a point
    at 0 or 1), percentile bootstrap 95 % over the samples for the others (heteroatoms, diversity,
    scaffold_diversity); each rate's ``_k`` and ``_n`` are columns too.
    ``attrs["per_sample"]`` keeps each scale's samples (label, valid, connected, plausible, SMILES) for
    :func:`scale_difference`; ``attrs["train_plausible"]`` the training molecules' own plausible rate dict;
    ``attrs["train_diversity"]`` their diversity and scaffold diversity (:func:`set_diversity`), the reference
    of the samples' (:func:`diversity_reference`)."""
    import pandas as pd

    from .diffusion import metrics
    from .plausibility import clopper_pearson
    from .plausibility import plausibility as check_plausibility

    cfg = cfg or SETTINGS.current()
    train_smiles = [d["smiles"] for d in data]
    rows, per_sample = [], {}
    for w in cfg.scales:
        samples = sample_guided(ch04, ch06, model, data, w, cfg.n_per_scale, cfg=cfg, seed=seed)
        rng = np.random.default_rng(seed)
        m = metrics(ch04, samples, train_smiles, n_boot=cfg.n_boot, seed=seed)
        plaus = check_plausibility(ch04, samples)["rows"]["plausible"].to_numpy(bool) if plausibility else None
        ps = _per_sample(samples, m["smiles"], plaus)
        per_sample[w] = ps
        row = {"w": w}
        for name, vals in (("label_share", ps["label"]), ("heteroatoms", ps["hetero"])):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = _boot(vals, cfg.n_boot, rng)
        for name in ("uniqueness", "novelty"):
            row[name] = float(m[name])
        conn_smiles = ps["smiles"][ps["connected"]].tolist()
        sim, scaf = _similarity(conn_smiles), _scaffold_same(conn_smiles)
        point = _stats(ps, sim, np.arange(len(ps)), scaf)
        draws = [_stats(ps, sim, rng.integers(0, len(ps), len(ps)), scaf) for _ in range(cfg.n_boot)]
        for name, value in point.items():
            vals = np.array([d[name] for d in draws], float)
            row[name] = value
            row[f"{name}_lo"], row[f"{name}_hi"] = (float(np.nanquantile(vals, 0.025)), float(np.nanquantile(vals, 0.975))) \
                if np.isfinite(vals).any() else (float("nan"), float("nan"))
        conn = ps["connected"].to_numpy()
        lab = ps["label"].to_numpy() == 1
        counts = {"label_share": (int(lab.sum()), len(ps)), "label_share_valid": (int(lab[conn].sum()), int(conn.sum())),
                  "label1_yield": (int((lab & conn).sum()), len(ps)),
                  "validity": (int(ps["valid"].sum()), len(ps)), "connected": (int(conn.sum()), len(ps))}
        if "plausible" in ps:
            counts |= {"plausible": (int(ps["plausible"].sum()), len(ps)),
                       "plausible_valid": (int(ps["plausible"][conn].sum()), int(conn.sum()))}
        for name, (k, n) in counts.items():  # rates: exact binomial intervals (chapter 4's choice)
            row[f"{name}_k"], row[f"{name}_n"] = k, n
            row[f"{name}_lo"], row[f"{name}_hi"] = clopper_pearson(k, n)
        rows.append(row)
    data_share = float(np.mean([label_of(d["z"]) for d in data]))
    out = pd.DataFrame(rows)
    out.attrs["train_label_share"] = data_share
    if plausibility:
        out.attrs["train_plausible"] = check_plausibility(ch04, [(d["z"], d["pos"]) for d in data])["rates"]["plausible"]
    out.attrs["per_sample"] = per_sample
    out.attrs["train_diversity"] = set_diversity(train_smiles, n_boot=cfg.n_boot, seed=seed)
    return out


def _pair_mean_boot(same, n_boot: int, rng) -> tuple[float, float, float]:
    """1 − mean of ``same`` over pairs of different molecules, and its percentile bootstrap 95 % interval over the
    molecules (a resample's copies of one molecule are not paired with each other, as in :func:`_diversity_of`)."""
    n = len(same)
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    diag = np.diag(same)
    point = 1.0 - (same.sum() - diag.sum()) / (n * n - n)
    vals = []
    for start in range(0, n_boot, 100):  # counts of each molecule in a resample: pairs are c_i c_j, minus the copies
        c = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(min(100, n_boot - start))]).astype(float)
        pair_sum = np.einsum("bi,ij,bj->b", c, same, c) - (c * c) @ diag
        vals.append(1.0 - pair_sum / (n * n - (c * c).sum(1)))
    vals = np.concatenate(vals)
    return float(point), float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))


def set_diversity(smiles, n_boot: int = 1000, seed: int = 0) -> dict:
    """The diversity of a set of molecules (e.g. the training molecules, the reference of the sweep's samples):
    ``diversity`` = 1 − mean pairwise Morgan Tanimoto (the sweep's metric) and ``scaffold_diversity`` = the
    probability that two different molecules have different Murcko scaffolds, each with a percentile bootstrap
    95 % interval over the molecules (``_lo``, ``_hi``); ``n`` molecules."""
    smiles = list(smiles)
    rng = np.random.default_rng(seed)
    out = {"n": len(smiles)}
    for name, same in (("diversity", _similarity(smiles)), ("scaffold_diversity", _scaffold_same(smiles))):
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = _pair_mean_boot(same, n_boot, rng)
    return out


def diversity_reference(sweep, metric: str = "diversity") -> dict:
    """The sweep's ``metric`` (``diversity`` or ``scaffold_diversity``) at every scale against the training
    molecules' own (``sweep.attrs["train_diversity"]``): how many scales' intervals lie above, below or overlap
    the training interval, the range of the point estimates over the scales (``scales``: those with a value), and
    ``insensitive`` — True when no scale lies below the training molecules and most scales (more than half) lie
    above them (the samples are more diverse than the data at most scales and not less at any, so the metric has
    little room to show a cost of guidance here); False otherwise (e.g. every scale overlapping the training
    interval); None when no scale has a value. ``w_above``, ``w_overlap``, ``w_below``: the scales in each group."""
    ref = sweep.attrs["train_diversity"]
    lo_t, hi_t = ref[f"{metric}_lo"], ref[f"{metric}_hi"]
    measured = sweep[np.isfinite(sweep[metric].astype(float))]  # a scale without 2 valid connected samples has none
    is_above, is_below = measured[f"{metric}_lo"] > hi_t, measured[f"{metric}_hi"] < lo_t
    above, below = int(is_above.sum()), int(is_below.sum())
    scales_of = lambda mask: [float(w) for w in measured.w[mask]]
    return dict(metric=metric, train=ref[metric], lo=lo_t, hi=hi_t, n_train=ref["n"], above=above, below=below,
                overlap=len(measured) - above - below, low=float(measured[metric].min()) if len(measured) else float("nan"),
                high=float(measured[metric].max()) if len(measured) else float("nan"), scales=len(measured),
                w_above=scales_of(is_above), w_below=scales_of(is_below), w_overlap=scales_of(~is_above & ~is_below),
                insensitive=(below == 0 and 2 * above > len(measured)) if len(measured) else None)


def diversity_note(sweep) -> str:
    """A short clause for an answer: the training molecules' diversity and whether the sweep's diversity metric can
    show a cost here (:func:`diversity_reference`)."""
    d = diversity_reference(sweep)
    if d["insensitive"] is None:
        return "not measured: no scale has two valid connected samples"
    if d["insensitive"]:
        return (f"the metric is insensitive here: no scale's diversity lies below the training molecules' own {d['train']:.3f} "
                f"[{d['lo']:.3f}, {d['hi']:.3f}] and {d['above']} of {d['scales']} lie above it; for molecules this small it "
                "is high for almost any set, so no detectable difference is not evidence of no cost")
    return (f"{d['below']} of {d['scales']} scales below the training molecules' own {d['train']:.3f} "
            f"[{d['lo']:.3f}, {d['hi']:.3f}], {d['above']} above")


def scale_difference(sweep, w_a: float, w_b: float, n_boot: int = 1000, seed: int = 0) -> "pd.DataFrame":
    """Paired bootstrap of (scale ``w_a``) − (scale ``w_b``) for validity, connectivity, label-1 share among
    the valid connected samples, their diversity and scaffold diversity, the label-1 yield per sample drawn and (when the sweep ran
    them) the plausible rates: the same sample indices are resampled at both scales
    (the sweep draws the same sizes and starting noise at every scale). Rows: metric, difference, lo, hi, p (the
    percentile bootstrap's two-sided p-value, 2·(1 + draws on the far side of 0)/(draws + 1), for Holm's correction
    over the printed family: :func:`molpractice.campaign.holm_table`)."""
    import pandas as pd

    a, b = sweep.attrs["per_sample"][w_a], sweep.attrs["per_sample"][w_b]
    if len(a) != len(b):
        raise ValueError(f"scales {w_a} and {w_b} have {len(a)} and {len(b)} samples: not paired")
    sims = [_similarity(ps["smiles"][ps["connected"]].tolist()) for ps in (a, b)]
    scafs = [_scaffold_same(ps["smiles"][ps["connected"]].tolist()) for ps in (a, b)]
    rng = np.random.default_rng(seed)
    full = np.arange(len(a))
    point = {k: v - _stats(b, sims[1], full, scafs[1])[k] for k, v in _stats(a, sims[0], full, scafs[0]).items()}
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        sa, sb = _stats(a, sims[0], idx, scafs[0]), _stats(b, sims[1], idx, scafs[1])
        draws.append({k: sa[k] - sb[k] for k in sa})
    rows = []
    for name, value in point.items():
        vals = np.array([d[name] for d in draws], float)
        finite = vals[~np.isnan(vals)]
        tail = min(int((finite <= 0).sum()), int((finite >= 0).sum()))
        rows.append(dict(metric=name, difference=value, lo=float(np.nanquantile(vals, 0.025)),
                         hi=float(np.nanquantile(vals, 0.975)), p=min(1.0, 2 * (1 + tail) / (len(finite) + 1))))
    return pd.DataFrame(rows)


def sweep_family(sweep, n_boot: int = 1000, seed: int = 1) -> "pd.DataFrame":
    """The sweep's one Holm family (:func:`molpractice.campaign_stats.holm_table`) of paired differences
    (:func:`scale_difference`): every metric of (largest scale) − (w = 0), the label-1 yield of **every** adjacent
    pair of the sweep's scales (w = 0 − w = −1 and w = 1 − w = 0 included, when the sweep ran them) and, for
    w = 0 − w = −1, the label-1 share over all draws. Index "w = a − w = b: metric"; columns difference, lo, hi,
    verdict, p, p (Holm), verdict (Holm)."""
    import pandas as pd

    from .campaign_stats import holm_table

    ws = sorted(float(w) for w in sweep.w)
    rows = []

    def add(a, b, metrics=None):
        d = scale_difference(sweep, a, b, n_boot=n_boot, seed=seed)
        for r in d.itertuples():
            if metrics is None or r.metric in metrics:
                rows.append(dict(comparison=f"w = {a:g} − w = {b:g}: {r.metric}", difference=r.difference, lo=r.lo,
                                 hi=r.hi, p=r.p))

    if 0.0 in ws and ws[-1] > 0.0:
        add(ws[-1], 0.0)
    for b, a in zip(ws[:-1], ws[1:]):
        if (a, b) == (ws[-1], 0.0):
            continue  # already in the family with every metric
        add(a, b, ("label1_yield", "label_share") if (a, b) == (0.0, -1.0) else ("label1_yield",))
    if not rows:
        raise ValueError(f"the sweep's scales {ws} give no pair to compare")
    fam = holm_table(rows)
    vals = pd.DataFrame(rows).set_index("comparison")[["difference", "lo", "hi"]]
    return vals.join(fam)


def neighbour_lines(family, w: float, metric: str = "label1_yield") -> list[str]:
    """Printable lines of ``family`` (:func:`sweep_family`) that compare scale ``w`` with its adjacent scales on
    ``metric``: difference, unadjusted 95 % interval, verdict and Holm verdict over the family."""
    out = []
    for name, r in family.iterrows():
        pair, m = name.split(": ")
        a, b = (float(x.strip().split("= ")[1]) for x in pair.split(" − "))
        if m == metric and w in (a, b):
            word = str(r.verdict).rsplit("(", 1)[-1].rstrip(")")  # the verdict string carries the interval too
            out.append(f"{name} {r.difference:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}] (unadjusted: {word}; Holm over the "
                       f"{len(family)} comparisons: {r['verdict (Holm)']})")
    if not out:
        raise ValueError(f"no {metric} comparison of w = {w:g} in the family")
    return out


def sweep_reference_lines(sweep) -> list[str]:
    """Printable lines that read :func:`guidance_sweep` against the training molecules: their own plausible rate
    (chapter 4's checks, Clopper–Pearson 95 %), the unguided (w = −1) plausible rate among valid connected samples
    next to it (below it when its interval lies under the training interval's lower end) with the share that fails
    the checks, the label-1 share at w = 0 (asked for label 1) against the training share — among valid connected
    samples when the sweep has that column (molecules, like the training share), else over all draws — and, when the sweep has
    them, the diversity and scaffold diversity of every scale against the training molecules'
    (:func:`diversity_reference`). The unguided (w = −1) share is not read here: its reading comes from the
    samplers' far larger number of draws."""
    out = []
    tp = sweep.attrs.get("train_plausible")
    if tp is not None:
        out.append(f"plausible by chapter 4's checks, the {tp['n']} training molecules themselves: {tp['rate']:.3f} "
                   f"[{tp['low']:.3f}, {tp['high']:.3f}]")
        if -1.0 in set(sweep.w) and "plausible_valid" in sweep:
            m1 = sweep[sweep.w == -1.0].iloc[0]
            where = "below" if m1.plausible_valid_hi < tp["low"] else "not below"
            out.append(f"unguided (w = −1): plausible among valid connected samples {m1.plausible_valid:.2f} "
                       f"[{m1.plausible_valid_lo:.2f}, {m1.plausible_valid_hi:.2f}] — {where} the training molecules' rate: "
                       f"{1 - m1.plausible_valid:.0%} of them fail chapter 4's checks before any guidance")
    share = sweep.attrs["train_label_share"]
    if 0.0 in set(sweep.w):  # the unguided (w = −1) share is read once, from the samplers' many draws (Results 2)
        b = sweep[sweep.w == 0.0].iloc[0]
        col, what = (("label_share_valid", "label-1 share among valid connected samples") if "label_share_valid" in sweep
                     else ("label_share", "label-1 share over all draws"))  # molecules, not draws, match the training share
        where = "below" if b[col + "_hi"] < share else "above" if b[col + "_lo"] > share else "not distinguishable from"
        out.append(f"w = 0, asked for label 1: {what} {b[col]:.2f} [{b[col + '_lo']:.2f}, "
                   f"{b[col + '_hi']:.2f}], {where} the training share {share:.2f}")
    if "train_diversity" in sweep.attrs:
        for metric, what in (("diversity", "diversity (1 − mean pairwise Morgan Tanimoto)"),
                             ("scaffold_diversity", "scaffold diversity (two different molecules, different Murcko scaffolds)")):
            if metric not in sweep:
                continue
            d = diversity_reference(sweep, metric)
            if d["insensitive"] is None:
                out.append(f"{what}: the {d['n_train']} training molecules {d['train']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]; "
                           "no scale has two valid connected samples")
                continue
            groups = ", ".join(f"{d[k]} of {d['scales']} {where}" + (f" (w = {', '.join(f'{w:g}' for w in d['w_' + k])})"
                                                                      if d[k] else "")
                               for k, where in (("above", "above the training interval"), ("overlap", "overlapping it"),
                                                ("below", "below it")))
            reading = (" — no scale below the training molecules and most above: the metric has little room to show a "
                       "cost here" if d["insensitive"] else
                       " — no scale's interval lies below the training one; whether guidance costs this diversity is read "
                       "from the paired scale differences" if d["below"] == 0 else "")
            out.append(f"{what}: the {d['n_train']} training molecules {d['train']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}] "
                       f"(bootstrap over molecules); valid connected samples {d['low']:.3f}–{d['high']:.3f} over the "
                       f"{d['scales']} scales: {groups}{reading}")
    return out


def choose_scale(sweep, metric: str = "label1_yield", min_w: float = 0.0) -> float:
    """The guidance scale (≥ ``min_w``) with the largest point estimate of ``metric`` in ``sweep`` — a choice
    made on the sweep's draws, so a result at that scale must be reported on fresh draws."""
    pick = sweep[sweep.w >= min_w]
    if pick.empty or metric not in pick:
        raise ValueError(f"no scale >= {min_w} with column {metric!r} in the sweep")
    return float(pick.loc[pick[metric].idxmax(), "w"])
