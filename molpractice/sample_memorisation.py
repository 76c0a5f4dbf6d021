"""Memorisation against generalisation for the chapter-4 molecule model (chapter 4, second edition).

A sample that is identical to a training molecule is not by itself evidence of memorisation: a model that learned
the data's distribution and memorised nothing also regenerates the few molecules that exist at small sizes. The
null used here separates the two. The training-length curve's models (:mod:`molpractice.diffusion_curve`) were
trained on a seeded 90 % of the data (722 molecules) with 10 % (80) held out for validation; both parts come from
the same distribution, and only the first was seen in training. Per molecule we ask whether any of the model's
samples reproduces it (exact canonical SMILES without stereochemistry); a memorising model hits *training*
molecules more often than *held-out* molecules of the same size, a generalising one hits both at the same rate.

* :func:`curve_sample_smiles` — per-sample SMILES of a curve model's DDPM samples (the draws of
  ``diffusion_curve.sample_report``: the bench's sizes and seed), cached and stored in a committed record
  (:data:`SAMPLES_RECORD`) so the notebook never samples for this;
* :func:`hit_table` / :func:`memorisation_test` / :func:`memorisation_verdict_line` — per-size-bin hit rates of
  training vs held-out molecules and the pooled size-stratified difference (Mantel–Haenszel risk difference with a
  stratified bootstrap 95 % interval over molecules);
* :func:`identical_share_by_size` — per size bin, the share of samples whose nearest training neighbour is
  identical (Tanimoto = 1 and exact SMILES), Clopper–Pearson 95 %;
* :func:`scaffold_reference` — scaffold novelty and uniqueness of the samples next to the data's own held-out part
  against the rest (the split of :func:`molpractice.sample_novelty.novelty_by_size`), on equal-size subsets, with
  Newcombe intervals of the differences.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["SAMPLES_RECORD", "SIZE_BINS", "curve_sample_smiles", "samples_record", "load_samples_record",
           "hit_table", "memorisation_test", "memorisation_verdict_line", "format_hit_table", "curve_memorisation",
           "identical_share_by_size", "scaffold_reference", "format_scaffold_reference"]

SAMPLES_RECORD = "data/ch04_curve_sample_smiles.json"  # committed, relative to the repository
SIZE_BINS = ((1, 5), (6, 6), (7, 7), (8, 8), (9, 9))  # heavy-atom bins of novelty_by_size


def _cache_path(digest: str, n: int, T: int) -> Path:
    from .runtime import cache_dir

    return Path(cache_dir()) / f"ch04_curve_smiles_{digest}_{n}_{T}.json"


def _train_hash(train) -> str:
    """SHA-1 (10 hex digits) of the training part's SMILES in order, as ``diffusion_curve`` keys its runs."""
    import hashlib

    return hashlib.sha1("".join(d["smiles"] for d in train).encode()).hexdigest()[:10]


def _matches_report(smiles, folder: Path, digest: str, n: int, T: int):
    """Whether ``smiles``' valid-single-fragment flags equal those cached by ``diffusion_curve.sample_report`` for
    the same weights (its file with or without the "_p2" suffix); None when neither file exists."""
    for name in (f"ch04_curve_samples_{digest}_{n}_{T}_p2.json", f"ch04_curve_samples_{digest}_{n}_{T}.json"):
        if (folder / name).exists():
            flags = json.loads((folder / name).read_text())["single fragment"]
            return [bool(s) and "." not in s for s in smiles] == [bool(f) for f in flags]
    return None


def curve_sample_smiles(chapter, data, steps: int = 5600, decay: float = 0.99, n: int = 400, cfg=None,
                        cache: bool = True) -> dict:
    """Per-sample canonical SMILES (no stereochemistry) of ``n`` DDPM samples of a training-length-curve model.

    The model is the end of the curve run of ``steps`` steps at EMA ``decay``, trained on
    ``diffusion_curve.validation_split(data)``'s training part (loaded from the cache, never trained here). The
    samples are the draws of ``diffusion_curve.sample_report`` (sizes ``draw_sizes(data, n, seed=1)``, DDPM with all
    ``cfg.T`` steps, clip on, seed 1), perceived with ``chapter.sample_metrics``. When ``sample_report``'s own
    cached outcomes exist, the valid-single-fragment flags must agree sample by sample (a reproduction check:
    ``"matches_sample_report"`` True/False, None when there is nothing to compare).

    Returns ``{"key": [steps, steps, decay], "digest": weights hash, "train_hash" (:func:`_train_hash` of the
    training part), "n", "T", "seconds" (wall, sampling), "smiles": list of n (str or None: invalid),
    "matches_sample_report"}``; cached under ``cache_dir()``.

    Raises ``FileNotFoundError`` when the curve run is not cached, ``ValueError`` when ``n`` < 1.
    """
    import torch

    from . import diffusion_curve as C
    from . import diffusion_model as _dm
    from .diffusion_sampling import draw_sizes, position_clip, sample_molecules

    if int(n) < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    cfg = cfg or _dm.SETTINGS.current()
    train, _ = C.validation_split(data)
    run = C.curve_run(chapter, train, int(steps), (), cfg, seed=0, cache_only=True)
    state = run["checkpoints"][int(steps)][float(decay)]
    digest = C._digest(state)
    path = _cache_path(digest, int(n), int(cfg.T))
    if cache and path.exists():
        out = json.loads(path.read_text())
        return dict(out, train_hash=_train_hash(train),
                    matches_sample_report=_matches_report(out["smiles"], path.parent, digest, int(n), int(cfg.T)))
    model = C._model_from(state, cfg)
    alpha_bar = chapter.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    sizes = draw_sizes(data, int(n), seed=1)
    samples, extra = sample_molecules(chapter, model, sizes, alpha_bar, "ddpm", cfg.T, cfg.type_scale,
                                      position_clip(data), seed=1)
    with _dm.rdkit_quiet():
        smiles = chapter.sample_metrics(samples, [d["smiles"] for d in data])["smiles"]
    matches = _matches_report(smiles, path.parent, digest, int(n), int(cfg.T))
    out = {"key": [int(steps), int(steps), float(decay)], "digest": digest, "train_hash": _train_hash(train), "n": int(n),
           "T": int(cfg.T), "seconds": float(extra["seconds"]), "smiles": list(smiles), "matches_sample_report": matches}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(path)
    return out


def samples_record(outputs, command: str, commit: str | None, created: str | None = None) -> dict:
    """The :func:`curve_sample_smiles` results ``outputs`` (a list) as one JSON-ready record: per model its key,
    weights digest, n, T, sampling seconds, reproduction check and SMILES, with the ``command`` and ``commit``
    that wrote it and the UTC time ``created`` (default: now)."""
    import datetime

    if not outputs:
        raise ValueError("outputs is empty: nothing to record")
    created = created or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"what": "chapter-4 training-length-curve models (trained on the 90 % part of "
                    "diffusion_curve.validation_split): per-sample canonical SMILES of their DDPM samples "
                    "(diffusion_curve.sample_report's draws), for the memorisation null",
            "command": command, "commit": commit, "created": created, "models": list(outputs)}


def load_samples_record(path=None) -> dict:
    """Read :data:`SAMPLES_RECORD` (or ``path``). Raises ``FileNotFoundError`` when missing, ``ValueError``
    naming the file and the missing key(s) or a model whose SMILES list does not hold ``n`` entries."""
    from .repository import load_record

    record, path = load_record(path, SAMPLES_RECORD, ("command", "commit", "created", "models"), "samples record")
    for i, m in enumerate(record["models"]):
        lacks = [k for k in ("key", "digest", "n", "smiles") if k not in m]
        if lacks:
            raise ValueError(f"{path}: model {i} lacks key(s) {lacks}")
        if len(m["smiles"]) != m["n"]:
            raise ValueError(f"{path}: model {m['key']} holds {len(m['smiles'])} SMILES, expected n = {m['n']}")
    return record


# --------------------------------------------------------------------------------------------------- validation
def _smiles_list(name: str, values, allow_none: bool = False) -> list:
    """``values`` as a list of SMILES strings (None kept when ``allow_none``); raises naming the bad entry."""
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be a list of SMILES strings, got {type(values).__name__} {values!r:.60}")
    out = list(values)
    for i, s in enumerate(out):
        if s is None and allow_none:
            continue
        if not isinstance(s, str) or not s:
            raise ValueError(f"{name}[{i}] = {s!r} is not a non-empty SMILES string")
    return out


def _check_bins(bins) -> tuple:
    try:
        bins = tuple((int(lo), int(hi)) for lo, hi in bins)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bins must be pairs (low, high) of heavy-atom counts, got {bins!r}") from err
    if not bins:
        raise ValueError("bins is empty")
    for i, (lo, hi) in enumerate(bins):
        if lo < 1 or hi < lo:
            raise ValueError(f"bins[{i}] = ({lo}, {hi}): need 1 ≤ low ≤ high")
        if i and lo <= bins[i - 1][1]:
            raise ValueError(f"bins[{i}] = ({lo}, {hi}) overlaps or precedes bins[{i - 1}] = {bins[i - 1]}")
    return bins


def _sizes(smiles, name: str) -> dict:
    """``{smiles: heavy-atom count}``; raises ValueError naming an unparsable SMILES."""
    from rdkit import Chem

    from .diffusion_model import rdkit_quiet

    out = {}
    with rdkit_quiet():
        for s in set(smiles):
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                raise ValueError(f"{name}: RDKit cannot parse SMILES {s!r}")
            out[s] = mol.GetNumHeavyAtoms()
    return out


def _label(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _bin_index(size: int, bins) -> int | None:
    return next((i for i, (lo, hi) in enumerate(bins) if lo <= size <= hi), None)


def _rate(k: int, n: int) -> tuple:
    from .plausibility import clopper_pearson

    low, high = clopper_pearson(int(k), int(n))
    return (k / n if n else float("nan")), low, high


# ------------------------------------------------------------------------------------ training vs held-out hits
def hit_table(sample_smiles, train_smiles, heldout_smiles, bins=SIZE_BINS, match: str = "smiles") -> dict:
    """Per molecule of the data, whether a model's samples reproduce it; training vs held-out, by heavy-atom count.

    Args:
        sample_smiles: one canonical SMILES (no stereochemistry) per sample, None for an invalid sample; only
            valid single-fragment samples (no ".") count, repeats do not matter.
        train_smiles: the SMILES of the molecules the model was trained on (entries; repeats collapse).
        heldout_smiles: the SMILES of molecules from the same data it did not see. A held-out SMILES that also
            occurs in ``train_smiles`` (a stereoisomer of a training entry) is seen in training: it is dropped
            from the held-out molecules and counted in ``"dropped_heldout"``.
        bins: ascending non-overlapping (low, high) heavy-atom counts; molecules outside every bin are left out
            (counted in ``"outside_bins"``).
        match: ``"smiles"`` — a hit is an identical canonical SMILES; ``"fingerprint"`` — a sample with Tanimoto
            similarity 1 (Morgan r = 2, 2048 bits) to the molecule (includes fingerprint collisions).

    Returns a dict: ``"table"`` (DataFrame, one row per bin: ``n train``, ``hit train`` (share of distinct
    training molecules reproduced), ``train low/high`` (Clopper–Pearson 95 %), the same for ``held-out``, and
    ``train − held-out`` with Newcombe's 95 % interval ``d low``/``d high``, NaN when a side is empty),
    ``"molecules"`` (DataFrame, one row per distinct molecule: ``smiles``, ``heavy atoms``, ``bin`` (index),
    ``part`` ("train"/"held-out"), ``hit`` (bool)), ``"n_samples"`` (valid single-fragment samples),
    ``"n_distinct_samples"``, ``"dropped_heldout"``, ``"outside_bins"``, ``"match"``, ``"bins"``.

    Raises:
        ValueError: ``match`` unknown, bad ``bins``, an empty or unparsable SMILES, no valid single-fragment
            sample, or no training / held-out molecule.
        TypeError: a SMILES argument given as one string.
    """
    import pandas as pd

    from .diffusion_metrics import nearest_train_similarity
    from .plausibility import rate_difference

    if match not in ("smiles", "fingerprint"):
        raise ValueError(f"match must be 'smiles' or 'fingerprint', got {match!r}")
    bins = _check_bins(bins)
    samples = [s for s in _smiles_list("sample_smiles", sample_smiles, allow_none=True) if s and "." not in s]
    train = sorted(set(_smiles_list("train_smiles", train_smiles)))
    held_all = sorted(set(_smiles_list("heldout_smiles", heldout_smiles)))
    if not samples:
        raise ValueError("sample_smiles holds no valid single-fragment sample")
    if not train or not held_all:
        raise ValueError(f"need training and held-out molecules, got {len(train)} and {len(held_all)}")
    train_set, distinct = set(train), sorted(set(samples))
    held = [s for s in held_all if s not in train_set]
    sizes = _sizes(train + held + distinct, "SMILES")
    molecules = train + held
    if match == "smiles":
        found = set(distinct)
        hit = np.array([m in found for m in molecules])
    else:
        hit = nearest_train_similarity(molecules, distinct) >= 1 - 1e-9
    part = ["train"] * len(train) + ["held-out"] * len(held)
    mol = pd.DataFrame({"smiles": molecules, "heavy atoms": [sizes[m] for m in molecules],
                        "bin": [_bin_index(sizes[m], bins) for m in molecules], "part": part, "hit": hit.astype(bool)})
    outside = int(mol["bin"].isna().sum())
    mol = mol[mol["bin"].notna()].astype({"bin": int}).reset_index(drop=True)
    rows = []
    for b, (lo, hi) in enumerate(bins):
        t, h = mol[(mol["bin"] == b) & (mol["part"] == "train")], mol[(mol["bin"] == b) & (mol["part"] == "held-out")]
        kt, kh = int(t["hit"].sum()), int(h["hit"].sum())
        rt, rh = _rate(kt, len(t)), _rate(kh, len(h))
        d = rate_difference(kt, len(t), kh, len(h)) if len(t) and len(h) else {"difference": np.nan, "low": np.nan,
                                                                                 "high": np.nan}
        rows.append({"heavy atoms": _label(lo, hi), "n train": len(t), "hits train": kt, "hit train": rt[0],
                     "train low": rt[1], "train high": rt[2], "n held-out": len(h), "hits held-out": kh,
                     "hit held-out": rh[0], "held-out low": rh[1], "held-out high": rh[2],
                     "train − held-out": d["difference"], "d low": d["low"], "d high": d["high"]})
    return {"table": pd.DataFrame(rows), "molecules": mol, "n_samples": len(samples),
            "n_distinct_samples": len(distinct), "dropped_heldout": len(held_all) - len(held),
            "outside_bins": outside, "match": match, "bins": bins}


def _mh_difference(groups) -> float:
    """Mantel–Haenszel risk difference Σ w (p₁ − p₀) / Σ w, w = n₁n₀/(n₁ + n₀), over ``groups`` = list of
    (train hits array, held-out hits array), each non-empty."""
    w = np.array([len(a) * len(b) / (len(a) + len(b)) for a, b in groups])
    d = np.array([a.mean() - b.mean() for a, b in groups])
    return float((w * d).sum() / w.sum())


def memorisation_test(hits: dict, n_boot: int = 2000, n_perm: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> dict:
    """Size-stratified difference in hit rate, training − held-out molecules, from :func:`hit_table`'s ``hits``.

    Estimate: the Mantel–Haenszel risk difference over the bins that hold both training and held-out molecules
    (weights n_train·n_held/(n_train + n_held): a size-matched comparison, so the many small training molecules
    a model cannot help hitting do not count as a training excess). Interval (primary, fixed before looking):
    percentile bootstrap at ``confidence``, molecules resampled with replacement within each bin and part
    (``n_boot`` times) — conditional on the samples drawn. Next to it, a stratified permutation test: under "no
    memorisation" training and held-out molecules of one bin are exchangeable (the split was random), so the
    labels are shuffled within bins ``n_perm`` times; ``p`` = share with |difference| ≥ the observed (+1).

    Returns ``{"difference", "low", "high", "p", "verdict", "n_train", "n_heldout", "hits_train",
    "hits_heldout", "strata" (bins used, labels), "strata_counts" (per stratum (n train, hits train, n held-out, hits
    held-out)), "confidence", "n_boot"}``. ``verdict``: "memorisation" when the interval lies above 0, "held-out hit
    more often" when below, else "no detectable difference".

    Raises:
        ValueError: no bin with both training and held-out molecules, ``confidence`` outside (0, 1), ``n_boot`` or
            ``n_perm`` < 1, or ``hits`` without its ``"molecules"`` table.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if int(n_boot) < 1 or int(n_perm) < 1:
        raise ValueError(f"n_boot and n_perm must be ≥ 1, got n_boot={n_boot}, n_perm={n_perm}")
    if not isinstance(hits, dict) or "molecules" not in hits:
        raise ValueError("hits must be hit_table's dict (it has no 'molecules' table)")
    mol = hits["molecules"]
    groups, labels = [], []
    for b in sorted(mol["bin"].unique()):
        t = mol[(mol["bin"] == b) & (mol["part"] == "train")]["hit"].to_numpy(dtype=float)
        h = mol[(mol["bin"] == b) & (mol["part"] == "held-out")]["hit"].to_numpy(dtype=float)
        if len(t) and len(h):
            groups.append((t, h))
            labels.append(_label(*hits["bins"][b]))
    if not groups:
        raise ValueError("no size bin holds both training and held-out molecules: nothing to compare")
    observed = _mh_difference(groups)
    rng = np.random.default_rng(seed)
    boots = [_mh_difference([(rng.choice(a, len(a)), rng.choice(b, len(b))) for a, b in groups])
             for _ in range(int(n_boot))]
    low, high = (float(q) for q in np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2]))
    extreme = 0
    for _ in range(int(n_perm)):
        shuffled = []
        for a, b in groups:
            pooled = rng.permutation(np.concatenate([a, b]))
            shuffled.append((pooled[:len(a)], pooled[len(a):]))
        extreme += abs(_mh_difference(shuffled)) >= abs(observed) - 1e-12
    verdict = ("memorisation" if low > 0 else "held-out hit more often" if high < 0 else "no detectable difference")
    return {"difference": observed, "low": low, "high": high, "p": (1 + extreme) / (1 + int(n_perm)),
            "verdict": verdict, "n_train": int(sum(len(a) for a, _ in groups)),
            "n_heldout": int(sum(len(b) for _, b in groups)), "hits_train": int(sum(a.sum() for a, _ in groups)),
            "hits_heldout": int(sum(b.sum() for _, b in groups)), "strata": labels, "confidence": confidence,
            "n_boot": int(n_boot), "strata_counts": [(len(a), int(a.sum()), len(b), int(b.sum())) for a, b in groups]}


def format_hit_table(hits: dict) -> str:
    """:func:`hit_table`'s table as text, rates with their intervals in one column each."""
    import pandas as pd

    t = hits["table"]

    def ci(r, lo, hi):
        return "–" if np.isnan(r) else f"{r:.3f} [{lo:.3f}, {hi:.3f}]"

    out = pd.DataFrame({
        "heavy atoms": t["heavy atoms"],
        "train hit / n": [f"{k}/{n}" for k, n in zip(t["hits train"], t["n train"])],
        "share train [95 % CI]": [ci(*x) for x in zip(t["hit train"], t["train low"], t["train high"])],
        "held-out hit / n": [f"{k}/{n}" for k, n in zip(t["hits held-out"], t["n held-out"])],
        "share held-out [95 % CI]": [ci(*x) for x in zip(t["hit held-out"], t["held-out low"], t["held-out high"])],
        "train − held-out [Newcombe 95 %]": ["–" if np.isnan(x[0]) else f"{x[0]:+.3f} [{x[1]:+.3f}, {x[2]:+.3f}]"
                                             for x in zip(t["train − held-out"], t["d low"], t["d high"])]})
    head = (f"hit = a sample with {'the same canonical SMILES' if hits['match'] == 'smiles' else 'Tanimoto 1'}; "
            f"{hits['n_samples']} valid single-fragment samples ({hits['n_distinct_samples']} distinct); "
            f"held-out molecules whose stereo-free SMILES is also a training entry dropped: {hits['dropped_heldout']}")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        return head + "\n" + out.to_string(index=False)


def memorisation_verdict_line(test: dict, model: str = "") -> str:
    """One line: the pooled size-stratified difference with its interval and permutation p, the verdict, and the
    bootstrap interval's upper end read as approximate: the sizes of the held-out strata and how many have no hit
    (``strata_counts``; a stratum without hits never varies under the bootstrap, so that end is itself uncertain)."""
    d, held = test, sorted(c[2] for c in test.get("strata_counts", []))
    empty, pct = sum(c[3] == 0 for c in test.get("strata_counts", [])), f"{100 * test['confidence']:g} %"
    what = {"memorisation": "memorisation: the model reproduces training molecules detectably more often than held-out "
                            "molecules of the same size",
            "held-out hit more often": "held-out molecules are reproduced more often than training ones: no sign of memorisation",
            "no detectable difference": "no detectable difference between training and held-out molecules of the same "
                                        "size: no evidence of memorisation at this sample size"}[d["verdict"]]
    return (f"{model + ': ' if model else ''}training − held-out hit rate, size-stratified (Mantel–Haenszel over "
            f"bins {', '.join(d['strata'])}): {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (bootstrap "
            f"{pct} over molecules, primary; stratified permutation p = {d['p']:.3f}); hits {d['hits_train']}/"
            f"{d['n_train']} training vs {d['hits_heldout']}/{d['n_heldout']} held-out molecules; verdict: {what}; "
            f"the bootstrap interval's upper end is {d['high']:+.3f}; with held-out strata"
            f"{f' of {held[0]}–{held[-1]} molecules' if held else ''}"
            f"{f', {empty} of them with no hit' if empty else ''}, that end is itself uncertain")


# ------------------------------------------------------------------------------------------ identical share by size
def identical_share_by_size(sample_smiles, train_smiles, bins=SIZE_BINS):
    """Per heavy-atom bin, the share of the distinct valid single-fragment samples whose nearest training neighbour
    is identical: Tanimoto = 1 (Morgan r = 2, 2048 bits, as :func:`molpractice.sample_novelty.
    nearest_neighbour_reference`) and, next to it, the same canonical SMILES; Clopper–Pearson 95 % each. The last
    row ``all`` pools every sample (also those outside the bins).

    Returns a DataFrame: ``heavy atoms``, ``n`` (distinct samples), ``k = 1``, ``share = 1``, ``low``, ``high``,
    ``k same SMILES``, ``share same SMILES``, ``low s``, ``high s`` (n = 0 and NaN rates where a bin, or the whole
    list — a tiny fast-mode model —, holds no valid single-fragment sample). Raises ``ValueError`` on bad ``bins``,
    an empty or unparsable SMILES or an empty ``train_smiles``; ``TypeError`` when a list is a string."""
    import pandas as pd

    from .diffusion_metrics import nearest_train_similarity

    bins = _check_bins(bins)
    samples = [s for s in _smiles_list("sample_smiles", sample_smiles, allow_none=True) if s and "." not in s]
    train = _smiles_list("train_smiles", train_smiles)
    if not train:
        raise ValueError("train_smiles is empty")
    distinct = sorted(set(samples))
    sizes = _sizes(distinct, "sample_smiles")
    _sizes(train, "train_smiles")
    one = nearest_train_similarity(distinct, train) >= 1 - 1e-9 if distinct else np.zeros(0, dtype=bool)
    train_set = set(train)
    same = np.array([s in train_set for s in distinct], dtype=bool)
    size = np.array([sizes[s] for s in distinct], dtype=int)
    rows = []
    for label, mask in [(_label(lo, hi), (size >= lo) & (size <= hi)) for lo, hi in bins] + [("all", size > 0)]:
        n, k1, ks = int(mask.sum()), int(one[mask].sum()), int(same[mask].sum())
        r1, rs = _rate(k1, n), _rate(ks, n)
        rows.append({"heavy atoms": label, "n": n, "k = 1": k1, "share = 1": r1[0], "low": r1[1], "high": r1[2],
                     "k same SMILES": ks, "share same SMILES": rs[0], "low s": rs[1], "high s": rs[2]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ scaffold reference
def _heldout_split(train: list, heldout_fraction: float, seed: int):
    """The split of :func:`molpractice.sample_novelty.novelty_by_size`: (held-out entries, the rest)."""
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(train), int(round(heldout_fraction * len(train))), replace=False).tolist())
    return [train[i] for i in sorted(held)], [train[i] for i in range(len(train)) if i not in held]


def scaffold_reference(sample_smiles, train_smiles, heldout_fraction: float = 0.2, seed: int = 0,
                       n_subsets: int = 200) -> dict:
    """Scaffold metrics of the samples next to the data's own: the held-out part of the training entries (the
    split of :func:`~molpractice.sample_novelty.novelty_by_size`, same ``heldout_fraction`` and ``seed``) against
    the rest. Both sides face the same reference (the rest), so the reference size does not differ.

    Rows (Bemis–Murcko scaffolds, :func:`~molpractice.sample_novelty.scaffold_metrics`'s definitions; entries
    with repeats kept, as samples are):

    * ``acyclic`` — share of molecules without a ring (over all valid single-fragment samples / held-out entries);
    * ``scaffold novelty`` — distinct ring scaffolds absent from the rest's scaffolds / distinct ring scaffolds;
    * ``scaffold uniqueness (equal size)`` — distinct scaffolds / molecules with a ring, on an **equal number** m
      of ringed molecules on both sides (uniqueness falls as a set grows: more molecules share scaffolds), the
      larger side reduced to a seeded random subset of m; ``subset_range`` gives the 2.5–97.5 % range of the
      reduced side's uniqueness over ``n_subsets`` such subsets (how much the choice of subset moves it).

    Each rate has a Clopper–Pearson 95 % interval, each difference samples − held-out Newcombe's 95 % interval
    for independent rates (``verdict`` higher/lower/no detectable difference) — for uniqueness an approximation
    (first occurrences of a scaffold are not independent draws). A row with no molecule on one side (e.g. no
    ringed sample from a tiny fast-mode model) has NaN rates and the verdict "not defined (no molecule on one
    side)".

    Returns ``{"table": DataFrame (metric, k/n and rate [CI] per side, difference [CI], verdict), "rows":
    {metric: {"samples": (k, n), "heldout": (k, n), "difference", "low", "high", "verdict"}}, "n_heldout",
    "n_rest", "m_equal", "reduced" ("samples"/"held-out"), "subset_range", "novelty_vs_all" (the samples'
    scaffold novelty against all training entries, as the notebook's scaffold table)}``.

    Raises:
        ValueError: ``heldout_fraction`` outside (0, 1), ``n_subsets`` < 1, an empty or unparsable SMILES, or a
            split that leaves an empty part.
    """
    import pandas as pd

    from .plausibility import rate_difference
    from .sample_novelty import _scaffold, scaffold_metrics

    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    if int(n_subsets) < 1:
        raise ValueError(f"n_subsets must be ≥ 1, got {n_subsets}")
    samples = [s for s in _smiles_list("sample_smiles", sample_smiles, allow_none=True) if s and "." not in s]
    train = _smiles_list("train_smiles", train_smiles)
    _sizes(samples, "sample_smiles")
    _sizes(train, "train_smiles")
    held, rest = _heldout_split(train, heldout_fraction, seed)
    if not held or not rest:
        raise ValueError(f"heldout_fraction {heldout_fraction} of {len(train)} entries leaves an empty part")
    scaf = {s: _scaffold(s) for s in set(samples) | set(train)}
    sides = {"samples": [scaf[s] for s in samples], "held-out": [scaf[s] for s in held]}
    ringed = {k: [x for x in v if x] for k, v in sides.items()}
    m = min(len(v) for v in ringed.values())
    reduced = max(ringed, key=lambda k: len(ringed[k])) if len({len(v) for v in ringed.values()}) > 1 else None
    rng = np.random.default_rng(seed)
    equal = {k: (list(rng.choice(v, m, replace=False)) if k == reduced else v) for k, v in ringed.items()}
    spread = [np.nan] if m == 0 else [len(set(rng.choice(ringed[reduced], m, replace=False))) / m
                                      for _ in range(int(n_subsets))] if reduced else [len(set(ringed["samples"])) / m]
    against_rest = {"samples": scaffold_metrics(samples, rest), "held-out": scaffold_metrics(held, rest)}
    counts = {
        "acyclic": {k: (r["acyclic"]["k"], r["acyclic"]["n"]) for k, r in against_rest.items()},
        "scaffold novelty": {k: (r["scaffold novelty"]["k"], r["scaffold novelty"]["n"]) for k, r in against_rest.items()},
        f"scaffold uniqueness (equal size, {m} ringed)": {k: (len(set(v)), m) for k, v in equal.items()}}
    rows, table = {}, []
    for metric, c in counts.items():
        (ks, ns), (kh, nh) = c["samples"], c["held-out"]
        d = rate_difference(ks, ns, kh, nh) if min(ns, nh) else {"difference": np.nan, "low": np.nan, "high": np.nan,
                                                                  "verdict": "not defined (no molecule on one side)"}
        rows[metric] = {"samples": (ks, ns), "heldout": (kh, nh), **{k: d[k] for k in ("difference", "low", "high",
                                                                                          "verdict")}}
        cell = {k: "{:.3f} [{:.3f}, {:.3f}]".format(*_rate(*c[k])) for k in ("samples", "held-out")}
        table.append({"metric": metric, "samples k/n": f"{ks}/{ns}", "samples [95 % CI]": cell["samples"],
                      "held-out k/n": f"{kh}/{nh}", "held-out data [95 % CI]": cell["held-out"],
                      "samples − held-out [Newcombe 95 %]": f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]",
                      "verdict": d["verdict"]})
    return {"table": pd.DataFrame(table), "rows": rows, "n_heldout": len(held), "n_rest": len(rest), "m_equal": m,
            "reduced": reduced, "subset_range": tuple(float(q) for q in np.quantile(spread, [0.025, 0.975])),
            "novelty_vs_all": scaffold_metrics(samples, train)["scaffold novelty"]["rate"]}


def format_scaffold_reference(ref: dict) -> str:
    """:func:`scaffold_reference` as text: the table, then how uniqueness was made comparable."""
    import pandas as pd

    lo, hi = ref["subset_range"]
    how = (f"the {ref['reduced']} side reduced to a seeded random {ref['m_equal']} of its ringed molecules (over "
           f"other random subsets its uniqueness ranges {lo:.3f}–{hi:.3f}, 2.5–97.5 %)" if ref["reduced"] else
           "both sides hold the same number of ringed molecules")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        return (f"Scaffolds (Bemis–Murcko): samples vs the data's held-out part ({ref['n_heldout']} entries), both "
                f"against the same rest of the data ({ref['n_rest']} entries)\n{ref['table'].to_string(index=False)}\n"
                f"uniqueness on equal numbers of ringed molecules: {how}; the samples' scaffold novelty against all "
                f"{ref['n_heldout'] + ref['n_rest']} training entries (not the table's reference, the "
                f"{ref['n_rest']}-entry rest) is {ref['novelty_vs_all']:.3f}")


# ------------------------------------------------------------------------------------------------ the notebook's call
def curve_memorisation(data, record=None, bins=SIZE_BINS, n_boot: int = 2000, n_perm: int = 2000,
                       seed: int = 0) -> dict:
    """The memorisation null on the training-length curve's models, from the committed samples record.

    ``data``: the chapter's molecules (``diffusion.molecule_data()``, list of dicts with ``"smiles"``), split as
    the curve was (``diffusion_curve.validation_split(data)``: 722 training, 80 held-out molecules; a record whose
    ``train_hash`` differs from this split's raises ``ValueError``); ``record``:
    :func:`load_samples_record`'s dict (default: the committed :data:`SAMPLES_RECORD`). For every model of the
    record: :func:`hit_table` with exact SMILES hits and with Tanimoto-1 hits, and :func:`memorisation_test` on
    each. These are the curve's models, trained on 722 molecules — not the notebook's model (all 802).

    Returns ``{"models": {label: {"key", "n", "smiles" (hits), "fingerprint" (hits), "test", "test_fingerprint"}},
    "n_train", "n_validation", "text"}`` — ``text`` is what the notebook prints (a header naming the models and
    the split, each model's table and its two verdict lines). Raises ``ValueError`` when ``data`` is empty."""
    from .diffusion_curve import validation_split

    if not data:
        raise ValueError("data is empty")
    record = record if record is not None else load_samples_record()
    train, val = validation_split(list(data))
    for m in record["models"]:
        if m.get("train_hash") not in (None, _train_hash(train)):
            raise ValueError(f"samples record model {m['key']} was sampled from a model trained on another split "
                             f"(train_hash {m['train_hash']}, this data's {_train_hash(train)})")
    train_s, val_s = [d["smiles"] for d in train], [d["smiles"] for d in val]
    out, text = {}, [f"Memorisation null: the training-length curve's models (trained on {len(train)} molecules of "
                     f"diffusion_curve.validation_split; {len(val)} held out), not the notebook's model (all "
                     f"{len(data)}). Per distinct molecule: is it reproduced by any of the model's samples? "
                     f"Samples: {record['models'][0]['n']} per model, DDPM all T steps, the bench's sizes and seed "
                     f"(record {SAMPLES_RECORD}, {record['created']}, commit {str(record['commit'])[:10]})."]
    for m in record["models"]:
        key = tuple(m["key"])
        label = f"curve model {key[0]} steps, EMA {key[2]:g}"
        res = {"key": key, "n": m["n"]}
        for match in ("smiles", "fingerprint"):
            res[match] = hit_table(m["smiles"], train_s, val_s, bins, match)
            res["test" if match == "smiles" else "test_fingerprint"] = memorisation_test(
                res[match], n_boot=n_boot, n_perm=n_perm, seed=seed)
        out[label] = res
        text += ["", f"{label} — exact canonical SMILES hits:", format_hit_table(res["smiles"]),
                 memorisation_verdict_line(res["test"], "exact SMILES"),
                 memorisation_verdict_line(res["test_fingerprint"], "Tanimoto = 1")]
    return {"models": out, "n_train": len(train), "n_validation": len(val), "text": "\n".join(text)}


def main(argv=None) -> None:
    """``python -m molpractice.sample_memorisation --write STEPS…``: sample the cached curve models of these run
    lengths (:func:`curve_sample_smiles`, 400 molecules each; ~15–20 CPU-min each) and write
    :data:`SAMPLES_RECORD`. Without ``--write`` it prints the memorisation null from the committed record."""
    import argparse
    import datetime
    import shlex
    import subprocess
    import sys

    import molpractice as mp

    from .diffusion_model import molecule_data
    from .runtime import configure_threads, implementation_name

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--write", nargs="*", type=int, default=None, help="run lengths to sample (e.g. 5600 4500)")
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args(argv)
    configure_threads()
    data = molecule_data()
    if args.write is None:
        print(curve_memorisation(data)["text"])
        return
    chapter = mp.load_chapter("ch04_diffusion", implementation_name())
    outs = [curve_sample_smiles(chapter, data, steps, n=args.n) for steps in args.write]
    git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    command = ".venv/bin/python -m molpractice.sample_memorisation " + shlex.join(sys.argv[1:] if argv is None
                                                                                   else list(argv))
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from .repository import find_repo

    path = find_repo() / SAMPLES_RECORD
    path.write_text(json.dumps(samples_record(outs, command, git or None, created), indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
