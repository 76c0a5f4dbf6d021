"""molpractice.guidance: the conditional EGNN, guided noise, the (cached, deterministic) training path, the sweep."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from molpractice import guidance as G
from molpractice import guidance_model as GM
from solutions import ch04_diffusion as ch04
from solutions import ch06_oracle_optimization as ch06


@pytest.fixture(scope="module")
def data():
    return G.load_data()[:48]


def _tiny(**kw):
    base = vars(G.SETTINGS.current("fast"))
    return types.SimpleNamespace(**{**base, "checkpoints": (2, 4), "batch_size": 8, "val_draws": 2, "n_per_scale": 6,
                                    "sample_steps": 5, "scales": (-1.0, 2.0), "n_boot": 50, **kw})


def _tiny4(**kw):
    from molpractice import diffusion

    return types.SimpleNamespace(**{**vars(diffusion.SETTINGS.current("fast")), "hidden": 16, "layers": 1,
                                    "train_steps": 4, "batch_size": 8, **kw})


def _train(data, cfg=None, cfg4=None, **kw):
    return G.train_conditional_model(ch04, data, cfg or _tiny(), cfg4=cfg4 or _tiny4(), progress=False,
                                     implementation="solutions", **kw)


def _inputs(seed=0, n_mol=3):
    g = torch.Generator().manual_seed(seed)
    sizes = [4, 5, 3][:n_mol]
    batch = torch.repeat_interleave(torch.arange(n_mol), torch.tensor(sizes))
    pos = ch04.remove_mean(torch.randn(batch.numel(), 3, generator=g), batch)
    h = torch.randn(batch.numel(), 4, generator=g)
    return pos, h, torch.full((batch.numel(),), 0.3), batch


@pytest.fixture(scope="module")
def tiny_model(data, tmp_path_factory):
    """Chapter 4's tiny model trained from scratch, then fine-tuned (both in a fresh cache)."""
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setenv("MOLPRACTICE_CACHE", str(tmp_path_factory.mktemp("cache")))
        model, info = _train(data)
    return model, info


def test_labels_change_the_prediction_and_positions_stay_equivariant():
    torch.manual_seed(0)
    model = G.ConditionalEGNN(4, 16, 2).eval()
    pos, h, t, batch = _inputs()
    outs = {lab: model(pos, h, t, batch, torch.full((3,), lab)) for lab in (0, 1, G.NULL_LABEL)}
    assert not torch.allclose(outs[0][1], outs[1][1]) and not torch.allclose(outs[1][1], outs[G.NULL_LABEL][1])
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    rotated = model(pos @ q.T, h, t, batch, torch.ones(3, dtype=torch.long))
    assert torch.allclose(rotated[0], outs[1][0] @ q.T, atol=1e-5)
    assert torch.allclose(rotated[1], outs[1][1], atol=1e-5)
    assert torch.allclose(torch.zeros(3, 3).index_add_(0, batch, outs[1][0]), torch.zeros(3, 3), atol=1e-5)


def test_guided_denoiser_combines_with_cfg_noise():
    torch.manual_seed(0)
    model = G.ConditionalEGNN(4, 16, 2).eval()
    pos, h, t, batch = _inputs()
    labels = torch.ones(3, dtype=torch.long)
    cond = model(pos, h, t, batch, labels)
    uncond = model(pos, h, t, batch, torch.full((3,), G.NULL_LABEL))
    for w, want in ((0.0, cond), (-1.0, uncond), (2.0, tuple(3 * c - 2 * u for c, u in zip(cond, uncond)))):
        got = G.GuidedDenoiser(model, ch06, labels, w)(pos, h, t, batch)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, want)), w


def test_warm_start_is_chapter4s_model_for_every_label(data, tiny_model):
    from molpractice import diffusion

    torch.manual_seed(0)
    base = diffusion.EGNNDenoiser(4, 16, 2).eval()
    warm = G.warm_start(base).eval()
    assert torch.equal(warm.label_embed.weight, torch.zeros(3, 16))
    pos, h, t, batch = _inputs()
    want = base(pos, h, t, batch)
    for lab in (0, 1, G.NULL_LABEL):  # identical outputs, bit for bit, whatever the label
        got = warm(pos, h, t, batch, torch.full((3,), lab))
        assert all(torch.equal(a, b) for a, b in zip(got, want)), lab
    assert all(torch.equal(a, b) for a, b in zip(warm(pos, h, t, batch, torch.tensor([0, 1, 2])), want))
    # the same on the held-out loss: with a zero embedding, label and ∅ give the same per-molecule losses
    mols = data[:5]
    lab = GM._labels(mols)
    a = G.conditional_loss(ch04, warm, mols, lab, T=100, type_scale=0.25, draws=2)
    b = G.conditional_loss(ch04, warm, mols, torch.full_like(lab, G.NULL_LABEL), T=100, type_scale=0.25, draws=2)
    assert a.shape == (5,) and a.dtype == torch.float64 and torch.equal(a, b)
    with pytest.raises(ValueError, match="one entry per molecule"):
        G.conditional_loss(ch04, warm, mols, lab[:3], T=100, type_scale=0.25, draws=2)
    with pytest.raises(ValueError, match="draws"):
        G.conditional_loss(ch04, warm, mols, lab, T=100, type_scale=0.25, draws=0)
    with pytest.raises(ValueError, match="EGNNDenoiser"):
        G.warm_start(G.ConditionalEGNN(4, 16, 2))  # already conditional: not chapter 4's model


def test_training_path_from_scratch_chapter4_then_fine_tune(data, tiny_model, tmp_path, monkeypatch):
    """Chapter 4's model trained from scratch (tiny), warm-started, fine-tuned with label dropout, validated, cached."""
    from molpractice import diffusion
    from molpractice.diffusion_curve import validation_split

    model, info = tiny_model
    cfg, cfg4 = _tiny(), _tiny4()
    assert info["base"]["cached"] is False and info["base"]["steps"] == cfg4.train_steps  # chapter 4's, trained here
    assert info["cached"] is False and info["checkpoints"] == [2, 4] and info["steps"] in (2, 4)
    assert isinstance(model, G.ConditionalEGNN) and not model.training
    assert model.label_embed.weight.abs().sum() > 0  # the fine-tune moved the zero embedding
    train, val = validation_split(data, cfg.val_fraction, seed=0)  # chapter 4's curve split
    assert (info["n_train"], info["n_val"]) == (len(train), len(val)) and len(train) + len(val) == len(data)
    val_ = info["validation"]
    assert len(val_["base"]) == len(val) and set(val_["cond"]) == set(val_["null"]) == {2, 4}
    assert info["steps"] == G.choose_finetune_steps(val_["cond"])
    assert G.choose_finetune_steps({4: [1.0, 2.0], 2: [1.5, 1.5]}) == 2  # a tie goes to fewer steps
    assert G.choose_finetune_steps({4: [1.0, 1.0], 2: [1.5, 1.5]}) == 4
    with pytest.raises(ValueError, match="no checkpoint"):
        G.choose_finetune_steps({})
    # deterministic: the same settings give the same weights, without the cache and from it
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    again, info2 = _train(data, cache=False)
    assert not info2["cached"] and info2["base"]["cached"] is False
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(), again.state_dict().values()))
    _train(data)
    loaded, info3 = _train(data)
    assert info3["cached"] and info3["base"]["cached"] and info3["validation"] == info["validation"]
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(), loaded.state_dict().values()))
    # constant learning rates: the checkpoint after 2 steps is exactly a 2-step fine-tune
    short, info_s = _train(data, cfg=_tiny(checkpoints=(2,)), cache=False)
    full_run = GM._finetune(ch04, diffusion.train_molecule_model(
        ch04, data, cfg4, progress=False, implementation="solutions")[0], data, cfg, cfg4, 0, False)
    assert all(torch.equal(full_run["checkpoints"][2][k], v) for k, v in short.state_dict().items())
    # the cache key: fine-tune settings, chapter 4's weights, chapter 4's settings and its training code
    base_hash = info["base_hash"]
    assert info3["path"] == str(G.weights_path(cfg, data, base_hash, ch04, cfg4))
    assert G.weights_path(cfg, data, base_hash, ch04, cfg4) != G.weights_path(_tiny(p_uncond=0.3), data, base_hash, ch04, cfg4)
    assert G.weights_path(cfg, data, base_hash, ch04, cfg4) != G.weights_path(cfg, data, "other", ch04, cfg4)
    assert G.weights_path(cfg, data, base_hash, ch04, cfg4) != G.weights_path(cfg, data, base_hash, ch04, _tiny4(hidden=8))
    other = types.SimpleNamespace(cosine_alpha_bar=ch04.cosine_alpha_bar, q_sample=_q_sample_no_scaling,
                                  remove_mean=ch04.remove_mean)
    assert G.weights_path(cfg, data, base_hash, other, cfg4) != G.weights_path(cfg, data, base_hash, ch04, cfg4)
    with pytest.raises(ValueError, match="chapter 4's"):
        _train(data, cfg=_tiny(T=50))
    table = G.finetune_table(info)
    assert table.steps.tolist() == [0, 2, 4] and table.chosen.sum() == 1
    assert table.loc[table.chosen, "steps"].item() == info["steps"] and table.loc[0, "vs_chapter4"] == 0.0
    row = table[table.steps == 4].iloc[0]
    assert row.label_use == pytest.approx(np.mean(val_["null"][4]) - np.mean(val_["cond"][4]))
    assert row.use_lo <= row.label_use <= row.use_hi and row.vs_lo <= row.vs_chapter4 <= row.vs_hi
    lines = G.finetune_lines(info)
    assert "warm start: chapter 4's model (4 training steps, trained in this run)" in lines[0]
    assert f"-> {info['steps']} steps (validation split)" in lines[1] and "paired over" in lines[2]
    text = G.finetune_choice_text(info)  # the chosen length as Q2 prints it: grid edge or validated
    assert text.startswith(f"{info['steps']} steps, ")
    assert ("not validated (grid edge)" in text) == (info["steps"] == max(info["checkpoints"]))
    inner = G.finetune_choice_text(dict(info, checkpoints=list(info["checkpoints"]) + [99]))
    assert inner == f"{info['steps']} steps, chosen on the validation split"


def test_w_minus_one_before_fine_tuning_samples_exactly_chapter4s_draws(data):
    """Warm-started (not fine-tuned), the w = −1 sampler is chapter 4's model with chapter 4's sampler: same draws."""
    from molpractice import diffusion

    torch.manual_seed(0)
    base = diffusion.EGNNDenoiser(4, 16, 1).eval()
    cfg = _tiny(sample_steps=4)
    guided = G.sample_guided(ch04, ch06, G.warm_start(base).eval(), data, -1.0, 3, cfg=cfg, seed=11)
    plain = G.chapter4_draw(ch04, base, data, steps=4, cfg4=_tiny4())(3, 11)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(guided, plain))
    cond = G.sample_guided(ch04, ch06, G.warm_start(base).eval(), data, 2.0, 3, cfg=cfg, seed=11)
    assert all(torch.allclose(a[1], b[1], atol=1e-5) for a, b in zip(cond, plain))  # zero embedding: guidance is a no-op


def _q_sample_no_scaling(x0, t, noise, alpha_bar):
    return x0 + noise


def test_labels_and_sweep(data, tiny_model):
    assert G.label_of(torch.tensor([6, 7, 8, 9])) == 1 and G.label_of(torch.tensor([6, 6, 7])) == 0
    cfg = _tiny()
    model, _ = tiny_model
    sweep = G.guidance_sweep(ch04, ch06, model, data, cfg)
    assert sweep["w"].tolist() == [-1.0, 2.0]
    for name in ("label_share", "validity", "connected"):
        assert ((sweep[f"{name}_lo"] <= sweep[name] + 1e-12) & (sweep[name] <= sweep[f"{name}_hi"] + 1e-12)).all()
    assert (sweep["connected"] <= sweep["validity"] + 1e-12).all()
    assert 0 <= sweep.attrs["train_label_share"] <= 1
    ps = sweep.attrs["per_sample"][2.0]
    conn = ps[ps.connected]
    assert sweep.set_index("w").loc[2.0, "label_share_valid"] == pytest.approx(conn.label.mean() if len(conn) else np.nan,
                                                                              nan_ok=True)
    assert sweep.set_index("w").loc[2.0, "label1_yield"] == pytest.approx((ps.connected & (ps.label == 1)).mean())
    from molpractice.plausibility import clopper_pearson  # label-1 shares are k/n: exact intervals, not a bootstrap

    row2 = sweep.set_index("w").loc[2.0]
    for name, k, n in (("label_share", int((ps.label == 1).sum()), len(ps)),
                       ("label_share_valid", int((conn.label == 1).sum()), len(conn)),
                       ("label1_yield", int((ps.connected & (ps.label == 1)).sum()), len(ps))):  # a k-of-n rate too
        assert (row2[f"{name}_k"], row2[f"{name}_n"]) == (k, n)
        assert (row2[f"{name}_lo"], row2[f"{name}_hi"]) == pytest.approx(clopper_pearson(k, n), nan_ok=True)
    diff = G.scale_difference(sweep, 2.0, -1.0, n_boot=50).set_index("metric")
    yields = sweep.set_index("w")["label1_yield"]
    assert diff.loc["label1_yield", "difference"] == pytest.approx(yields.loc[2.0] - yields.loc[-1.0])
    row = sweep.set_index("w")
    assert diff.loc["validity", "difference"] == pytest.approx(row.loc[2.0, "validity"] - row.loc[-1.0, "validity"])
    zero = G.scale_difference(sweep, 2.0, 2.0, n_boot=50).set_index("metric")
    assert np.allclose(zero.loc[["validity", "connected"], ["difference", "lo", "hi"]].to_numpy(), 0)
    # rates carry exact (Clopper–Pearson) intervals from their counts; plausibility is chapter 4's
    from molpractice import plausibility as P

    for w in (-1.0, 2.0):
        r, ps_w = sweep.set_index("w").loc[w], sweep.attrs["per_sample"][w]
        for name, k, n in (("validity", ps_w.valid.sum(), len(ps_w)), ("connected", ps_w.connected.sum(), len(ps_w)),
                           ("plausible", ps_w.plausible.sum(), len(ps_w)),
                           ("plausible_valid", ps_w.plausible[ps_w.connected].sum(), ps_w.connected.sum())):
            assert (r[f"{name}_k"], r[f"{name}_n"]) == (k, n), name
            assert (r[f"{name}_lo"], r[f"{name}_hi"]) == pytest.approx(P.clopper_pearson(int(k), int(n)), nan_ok=True), name
        assert not (ps_w.plausible & ~ps_w.connected).any()
    samples = G.sample_guided(ch04, ch06, model, data, 2.0, cfg.n_per_scale, cfg=cfg, seed=0)
    want = P.plausibility(ch04, samples)["rows"]["plausible"].to_numpy(bool)
    assert np.array_equal(sweep.attrs["per_sample"][2.0].plausible.to_numpy(bool), want)
    assert 0 <= sweep.attrs["train_plausible"]["rate"] <= 1
    assert {"plausible", "plausible_valid", "scaffold_diversity"} <= set(diff.index)
    from molpractice.guidance_sweep import _diversity_of, _scaffold_same

    smi = conn.smiles.tolist()
    assert row.loc[2.0, "scaffold_diversity"] == pytest.approx(_diversity_of(_scaffold_same(smi), np.arange(len(smi))),
                                                              nan_ok=True)
    ref = sweep.attrs["train_diversity"]
    assert ref["n"] == len(data) and ref["diversity_lo"] <= ref["diversity"] <= ref["diversity_hi"]
    train = [d["smiles"] for d in data]
    assert ref["scaffold_diversity"] == pytest.approx(_diversity_of(_scaffold_same(train), np.arange(len(train))))
    fam = G.sweep_family(sweep, n_boot=50)  # scales −1 and 2 only: one adjacent pair, no w = 0
    assert list(fam.index) == ["w = 2 − w = -1: label1_yield"]
    assert fam.iloc[0].difference == pytest.approx(diff.loc["label1_yield", "difference"])
    assert {"verdict", "verdict (Holm)", "p (Holm)", "lo", "hi"} <= set(fam.columns)
    assert G.neighbour_lines(fam, 2.0)[0].startswith("w = 2 − w = -1: label1_yield ")
    with pytest.raises(ValueError, match="no label1_yield comparison of w = 5"):
        G.neighbour_lines(fam, 5.0)
    assert diff.loc["label_share", "difference"] == pytest.approx(row.loc[2.0, "label_share"] - row.loc[-1.0, "label_share"])
    assert G.choose_scale(sweep.assign(label1_yield=[0.9, 0.1])) == 2.0  # w < 0 is not a candidate
    assert G.choose_scale(sweep.assign(label1_yield=[0.9, 0.1]), min_w=-1.0) == -1.0
    with pytest.raises(ValueError, match="no scale"):
        G.choose_scale(sweep, min_w=5.0)
    bare = G.guidance_sweep(ch04, ch06, model, data, cfg, plausibility=False)
    assert "plausible" not in bare and "train_plausible" not in bare.attrs
    s1 = G.sample_guided(ch04, ch06, model, data, 1.0, 4, cfg=cfg, seed=3)
    s2 = G.sample_guided(ch04, ch06, model, data, 1.0, 4, cfg=cfg, seed=3)
    assert all(torch.equal(z1, z2) and torch.equal(p1, p2) for (z1, p1), (z2, p2) in zip(s1, s2))


def test_sampling_baseline_runs_the_model_and_reports_every_row(data, tiny_model):
    cfg = _tiny()
    model, _ = tiny_model
    out = G.sampling_baseline(ch04, ch06, model, data, budget=10, seeds=[5, 6], chunk=6, cfg=cfg, max_draws=12)
    assert out[["proxy", "seed"]].values.tolist() == [["buggy", 5], ["bug-free", 5], ["buggy", 6], ["bug-free", 6]]
    assert (out.method == G.SAMPLING_METHOD).all() and (out.samples <= 12).all()
    assert ((out.calls <= 10) & (out.calls <= out.valid_connected) & (out.valid_connected <= out.samples)).all()
    assert (out.budget_spent == (out.calls == 10)).all()
    assert (out.budget_spent | (out.samples == 12)).all()  # a sampler stops at the budget or at its cap, never before
    again = G.sampling_baseline(ch04, ch06, model, data, budget=10, seeds=[5, 6], chunk=6, cfg=cfg, max_draws=12)
    assert out.equals(again)  # seeded draws
    with pytest.raises(ValueError, match="budget"):
        G.sampling_baseline(ch04, ch06, model, data, budget=5, seeds=[5], chunk=12, cfg=cfg)
    with pytest.raises(ValueError, match="chunk"):
        G.sampling_baseline(ch04, ch06, model, data, budget=10, seeds=[5], chunk=0, cfg=cfg)


def test_sampling_baseline_draws_in_chunks_until_the_budget_is_spent(data, monkeypatch):
    """With the data's own geometries as 'samples' (every one valid), the chunks, calls, budget and top 10 are exact."""
    from molpractice import oracles
    from molpractice import plausibility as P

    drawn = []

    def fake_sample(ch04_, ch06_, model, data_, w, n, label=1, cfg=None, seed=0):
        drawn.append((seed, w, n))
        k = (seed - 10_005) // 100_000  # the chunk index of seed 5
        items = [data_[(5 * k + i) % 15] for i in range(n)]  # 15 distinct molecules in all, 5 new per chunk
        return [(d["z"], d["pos"]) for d in items]

    monkeypatch.setattr(G, "sample_guided", fake_sample)
    out = G.sampling_baseline(ch04, ch06, None, data, budget=12, seeds=[5], chunk=5)
    assert drawn == [(10_005, -1.0, 5), (110_005, -1.0, 5), (210_005, -1.0, 5)]  # never the sweep's seed 0
    assert (out.calls == 12).all() and out.budget_spent.all() and (out.samples == 15).all()
    assert (out.draws_to_budget == 12).all() and (out.valid_connected == 15).all()
    assert (out.w == -1.0).all() and (out.label1 == sum(G.label_of(data[i]["z"]) for i in range(15))).all()
    drawn.clear()
    guided = G.sampling_baseline(ch04, ch06, None, data, budget=12, seeds=[5], chunk=5, w=2.0)
    assert [d[0] for d in drawn] == [10_005, 110_005, 210_005] and (guided.method == "CFG sampling (w=2)").all()
    smiles = [d["smiles"] for d in data[:15]]
    for proxy, bug in (("buggy", True), ("bug-free", False)):
        scored = sorted(((oracles.proxy_score(s, bug=bug), s) for s in smiles[:12]), reverse=True)[:10]
        row = out[out.proxy == proxy].iloc[0]
        assert row.proxy_top10 == pytest.approx(np.mean([v for v, _ in scored]))
        assert row.true_top10 == pytest.approx(np.mean([oracles.true_score(s) for _, s in scored]))
        assert row.heavy_atoms_top10 == pytest.approx(np.mean([oracles.mol_from_smiles(s).GetNumHeavyAtoms() for _, s in scored]))
        curve = oracles.top_k_curve([oracles.proxy_score(s, bug=bug) for s in smiles[:12]], 10)
        assert row.auc_top10 == pytest.approx(np.mean(curve))  # budget spent: no padding
    # the two proxies score these molecules differently, so the loop above tells a swapped row from the right one
    assert out.set_index("proxy").loc["buggy", "proxy_top10"] != pytest.approx(out.set_index("proxy").loc["bug-free", "proxy_top10"])
    drawn.clear()
    wide = G.sampling_baseline(ch04, ch06, None, data, budget=100, seeds=[5], chunk=5, max_draws=23)
    assert (wide.calls == 15).all()  # repeats are free: only the 15 distinct molecules cost a call
    assert not wide.budget_spent.any() and wide.draws_to_budget.isna().all() and (wide.samples == 23).all()
    assert [d[2] for d in drawn] == [5, 5, 5, 5, 3]  # the cap cuts the last chunk
    drawn.clear()
    capped = G.sampling_baseline(ch04, ch06, None, data, budget=20, seeds=[5], chunk=50)
    assert sum(d[2] for d in drawn) == 400 and (capped.samples == 400).all()  # default cap 20 · budget: a generator
    assert not capped.budget_spent.any()  # of only 15 distinct molecules cannot loop forever
    text = G.sampler_summary(out.drop(columns="label1_valid"), 12)  # a table without the valid connected count
    k = int(out.label1.iloc[0])
    lo, hi = P.clopper_pearson(k, 15)
    assert text == f"12 proxy calls spent in 1 of 1 seeds, after 12–12 draws; label 1 in {k} of 15 draws = {k / 15:.3f} [{lo:.3f}, {hi:.3f}] (Clopper–Pearson)"
    assert G.sampler_summary(wide, 100).startswith("100 proxy calls spent in 0 of 1 seeds; label 1")
    assert (out.label1_valid == out.label1).all()  # every fake sample is valid and connected
    kv = int(out.label1_valid.iloc[0])
    share = np.mean([G.label_of(d["z"]) for d in data])
    lo_v, hi_v = P.clopper_pearson(kv, 15)
    where = "above" if lo_v > share else "below" if hi_v < share else "not distinguishable from"
    assert G.sampler_summary(out, 12, data=data) == (text + f", among the 15 valid connected draws {kv} = {kv / 15:.3f} "
                                                     f"[{lo_v:.3f}, {hi_v:.3f}], {where} the training share {share:.3f} "
                                                     f"({len(data)} molecules)")
    assert G.sampler_summary(out.drop(columns="label1_valid"), 12, data=data) == text  # older tables: all draws only
    assert G.sampler_summary(out, 12) == text + f", among the 15 valid connected draws {kv} = {kv / 15:.3f} [{lo_v:.3f}, {hi_v:.3f}]"
    with pytest.raises(ValueError, match="seed"):
        G.draw_seed(100_000, 0)
    assert G.draw_seed(7, 2) == 210_007


def test_data_top10_is_the_best_ten_of_the_data():
    from molpractice import oracles

    small = [dict(smiles=s) for s in ("CCO", "c1ccccc1", "CC(=O)N", "CCN", "COC", "CCCl", "CCF", "OCCO", "CC#N",
                                      "CCCC", "c1ccncc1", "CC(C)O")]
    for bug in (True, False):
        scores = sorted((oracles.proxy_score(d["smiles"], bug=bug) for d in small), reverse=True)
        got = G.data_top10(small, bug)
        assert got["proxy_top10"] == pytest.approx(np.mean(scores[:10])) and got["n"] == 12
        assert got["max_heavy_atoms"] is None  # no atom types given
    data = G.load_data()[:30]
    assert G.data_top10(data, False)["max_heavy_atoms"] == max(len(d["z"]) for d in data)


def test_label_association_reads_the_label_against_the_true_score():
    from scipy import stats

    from molpractice import oracles

    data = G.load_data()[:120]
    a = G.label_association(data)
    score = np.array([oracles.true_score(d["smiles"]) for d in data])
    lab = np.array([G.label_of(d["z"]) for d in data])
    assert (a["n1"], a["n0"]) == (int(lab.sum()), int((lab == 0).sum()))
    assert a["difference"] == pytest.approx(score[lab == 1].mean() - score[lab == 0].mean())
    assert a["lo"] < a["difference"] < a["hi"]
    welch = stats.ttest_ind(score[lab == 1], score[lab == 0], equal_var=False)
    assert (a["lo"] > 0 or a["hi"] < 0) == (welch.pvalue < 0.05)  # the interval and Welch's test agree
    assert a["p_mannwhitney"] == pytest.approx(stats.mannwhitneyu(score[lab == 1], score[lab == 0]).pvalue)
    assert a["top_label1"] == int(lab[np.argsort(-score, kind="stable")[:10]].sum())
    assert (a["ref_hetero"], a["ref_heavy"]) == (4, 23)  # zolpidem: 3 N, 1 O of 23 heavy atoms
    text = G.association_text(a)
    assert f"label 1 − label 0 {a['difference']:+.3f} [{a['lo']:+.3f}, {a['hi']:+.3f}]" in text
    for verdict, word in (("lower", "cannot inform"), ("no detectable difference", "cannot inform"),
                          ("higher", "weak test")):
        assert word in G.cfg_question_text(dict(a, verdict=verdict))
    assert "pushes away" in G.association_text(dict(a, verdict="lower"))
    with pytest.raises(ValueError, match="each label"):
        G.label_association([d for d in data if G.label_of(d["z"]) == 0][:10])


def test_chapter4_model_trains_and_samples_under_the_budget(data, tmp_path, monkeypatch):
    """The training path of chapter 4's model (tiny settings, no cache) and chapter4_draw through sampling_baseline."""
    from molpractice import diffusion

    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    cfg4 = types.SimpleNamespace(**{**vars(diffusion.SETTINGS.current("fast")), "hidden": 16, "layers": 1,
                                    "train_steps": 4, "batch_size": 8})
    model, info = diffusion.train_molecule_model(ch04, data, cfg4, progress=False, cache=False, implementation="solutions")
    assert info["cached"] is False and info["steps"] == 4
    draw = G.chapter4_draw(ch04, model, data, steps=3, cfg4=cfg4)
    a, b = draw(4, 11), draw(4, 11)
    assert len(a) == 4 and all(torch.equal(x[0], y[0]) and torch.allclose(x[1], y[1]) for x, y in zip(a, b))  # seeded
    out = G.sampling_baseline(ch04, None, None, data, budget=10, seeds=[5], chunk=4, max_draws=8,
                              method=G.CHAPTER4_METHOD, draw=draw)
    assert (out.method == G.CHAPTER4_METHOD).all() and (out.samples == 8).all() and out.w.isna().all()
    assert ((out.calls <= 10) & (out.calls <= out.valid_connected)).all()
    with pytest.raises(ValueError, match="method"):
        G.sampling_baseline(ch04, None, None, data, budget=10, seeds=[5], chunk=4, draw=draw)
    with pytest.raises(ValueError, match="steps"):
        G.chapter4_draw(ch04, model, data, steps=0, cfg4=cfg4)


def test_sampling_baseline_with_a_draw_function_uses_its_seeds(data):
    seen = []

    def draw(n, seed):
        seen.append((n, seed))
        return [(d["z"], d["pos"]) for d in data[:n]]

    out = G.sampling_baseline(ch04, None, None, data, budget=10, seeds=[7], chunk=12, method="fake", draw=draw)
    assert seen == [(12, G.draw_seed(7, 0))] and (out.calls == 10).all() and out.budget_spent.all()


def test_chapter4_baseline_trains_or_loads_chapter_4s_model(data, tmp_path, monkeypatch):
    from molpractice import diffusion

    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    cfg4 = types.SimpleNamespace(**{**vars(diffusion.SETTINGS.current("fast")), "hidden": 16, "layers": 1,
                                    "train_steps": 3, "batch_size": 8})
    out, info = G.chapter4_baseline(ch04, data, budget=10, seeds=[5], chunk=4, max_draws=4, steps=2, cfg4=cfg4,
                                    implementation="solutions")
    assert info["cached"] is False and info["steps"] == 3 and "cpu_seconds" in info
    assert (out.method == "chapter 4's model (DDIM-2)").all() and (out.samples == 4).all()
    again, info2 = G.chapter4_baseline(ch04, data, budget=10, seeds=[5], chunk=4, max_draws=4, steps=2, cfg4=cfg4,
                                       implementation="solutions")
    assert info2["cached"] is True and out.equals(again)  # the cache is reused and the draws are seeded


def test_training_best_text_prints_a_reference_not_a_bound():
    import pandas as pd

    t = pd.DataFrame(dict(proxy=["bug-free", "bug-free", "buggy"], proxy_top10=[0.30, 0.32, 0.9], true_top10=[0.2, 0.3, 0.1]))
    text = G.training_best_text({"a": t}, dict(proxy_top10=0.41, true_top10=0.39, n=802, max_heavy_atoms=9))
    assert text.startswith("shipped proxy top-10 on the bug-free proxy, mean over seeds: a 0.310 (true 0.250); the best 10")
    assert "the best 10 of all 802 training molecules by the bug-free proxy score 0.410 (true 0.390" in text
    assert "a reference, not a bound" in text and "ceiling" not in text and "at most 9 heavy atoms" in text
    assert text.endswith("(zolpidem) has 23 heavy atoms") and G.reference_heavy_atoms() == 23
    assert "at most" not in G.training_best_text({"a": t}, dict(proxy_top10=0.41, true_top10=0.39, n=802))
    with pytest.raises(ValueError, match="samplers"):
        G.training_best_text({}, dict(proxy_top10=0.4, true_top10=0.4, n=1))


def test_heavy_atoms_text_names_every_sampler(data):
    import pandas as pd

    t = pd.DataFrame(dict(proxy=["bug-free", "buggy"], heavy_atoms_top10=[8.0, 9.0]))
    text = G.heavy_atoms_text({"a": t, "b": t.assign(heavy_atoms_top10=[7.0, 7.5])}, data[:2], ["CCO", "c1ccccc1"])
    assert text.startswith("heavy atoms of the shipped top 10 on the bug-free proxy: a 8.0, b 7.0; on the buggy proxy (its "
                           "bug rewards the fit molecule's excess: size and ring-dense cages): a 9.0, b 7.5; training molecules")
    sizes = [len(d["z"]) for d in data[:2]]
    assert f"training molecules {np.mean(sizes):.1f} (largest {max(sizes)}), library 4.5" in text
    assert "(elements both diffusion models generate: C, N, O, F); the bug's part" in text
    from molpractice import oracles

    parts = [sum(oracles.bug_parts(d["smiles"])) for d in data[:2]]
    assert f"of the training molecules: mean {np.mean(parts):+.3f}, largest {np.max(parts):+.3f}" in text
    assert text.endswith(f"a cage within the samplers' size range): {sum(oracles.bug_parts(oracles.CUBANE)):+.3f}")
    with pytest.raises(ValueError, match="samplers"):
        G.heavy_atoms_text({}, data, ["CCO"])


def test_sweep_reference_lines_read_the_sweep_against_the_training_molecules():
    import pandas as pd

    from molpractice import guidance as G

    sweep = pd.DataFrame(dict(w=[-1.0, 0.0, 2.0], label_share=[0.08, 0.38, 0.9], label_share_lo=[0.04, 0.29, 0.85],
                              label_share_hi=[0.15, 0.47, 0.95], plausible_valid=[0.57, 0.52, 0.42],
                              plausible_valid_lo=[0.47, 0.42, 0.32], plausible_valid_hi=[0.67, 0.63, 0.53]))
    sweep.attrs.update(train_label_share=0.24, train_plausible=dict(n=802, rate=0.995, low=0.987, high=0.999))
    lines = G.sweep_reference_lines(sweep)
    assert lines[0] == "plausible by chapter 4's checks, the 802 training molecules themselves: 0.995 [0.987, 0.999]"
    assert "0.57 [0.47, 0.67] — below the training molecules' rate: 43% of them fail" in lines[1]
    assert lines[2].endswith("label-1 share over all draws 0.38 [0.29, 0.47], above the training share 0.24") and len(lines) == 3
    valid = sweep.assign(label_share_valid=[0.1, 0.26, 0.9], label_share_valid_lo=[0.05, 0.2, 0.8],
                         label_share_valid_hi=[0.2, 0.33, 0.95])  # among valid connected samples: the one to read
    assert G.sweep_reference_lines(valid)[2].endswith("label-1 share among valid connected samples 0.26 [0.20, 0.33], "
                                                      "not distinguishable from the training share 0.24")
    assert not any("w = -1, asked" in x for x in lines)  # the unguided share is read from the samplers' draws only
    sweep.attrs.pop("train_plausible")
    assert len(G.sweep_reference_lines(sweep)) == 1
    sweep = sweep.assign(diversity=[0.93, 0.94, 0.93], diversity_lo=[0.92, 0.93, 0.92], diversity_hi=[0.94, 0.95, 0.94])
    sweep.attrs["train_diversity"] = dict(n=802, diversity=0.92, diversity_lo=0.915, diversity_hi=0.925)
    lines = G.sweep_reference_lines(sweep)
    assert len(lines) == 2 and lines[1].startswith("diversity (1 − mean pairwise Morgan Tanimoto): the 802 training "
                                                   "molecules 0.920 [0.915, 0.925]")
    assert ("0.930–0.940 over the 3 scales: 1 of 3 above the training interval (w = 0), 2 of 3 overlapping it "
            "(w = -1, 2), 0 of 3 below it") in lines[1]
    assert lines[1].endswith("whether guidance costs this diversity is read from the paired scale differences")
    assert not G.diversity_reference(sweep)["insensitive"]  # one of three above: not "little room"
    assert not G.diversity_note(sweep).startswith("the metric is insensitive")
    most = sweep.assign(diversity_lo=[0.926, 0.93, 0.92])  # two of three above, none below
    d = G.diversity_reference(most)
    assert (d["above"], d["w_above"], d["w_overlap"], d["insensitive"]) == (2, [-1.0, 0.0], [2.0], True)
    assert G.sweep_reference_lines(most)[1].endswith("little room to show a cost here")
    assert "insensitive here" in G.diversity_note(most) and "2 of 3 lie above" in G.diversity_note(most)
    low = sweep.assign(diversity_hi=[0.90, 0.95, 0.94])
    d = G.diversity_reference(low)
    assert (d["below"], d["w_below"], d["insensitive"]) == (1, [-1.0], False)
    assert G.diversity_note(low).startswith("1 of 3 scales below") and G.sweep_reference_lines(low)[1].endswith("below it (w = -1)")
    empty = sweep.assign(diversity=np.nan, diversity_lo=np.nan, diversity_hi=np.nan)  # no valid connected pairs
    assert G.diversity_reference(empty)["insensitive"] is None and G.diversity_note(empty).startswith("not measured")
    assert G.sweep_reference_lines(empty)[1].endswith("no scale has two valid connected samples")


def test_sweep_family_pairs_every_adjacent_scale():
    import pandas as pd

    from molpractice import guidance as G

    rng = np.random.default_rng(0)
    smi = ["CCO", "CCN", "CCC", "CNC", "COC", "CCCl", "OCCO", "NCCN"]
    per = {}
    for w in (-1.0, 0.0, 1.0, 2.0, 4.0):
        n = 40
        conn = rng.random(n) < 0.8
        per[w] = pd.DataFrame(dict(label=(rng.random(n) < 0.3 + 0.1 * w).astype(int), valid=conn | (rng.random(n) < 0.1),
                                   connected=conn, smiles=[smi[i % len(smi)] for i in range(n)]))
    sweep = pd.DataFrame(dict(w=list(per)))
    sweep.attrs["per_sample"] = per
    fam = G.sweep_family(sweep, n_boot=40)
    pairs = [i for i in fam.index if i.endswith("label1_yield")]
    assert pairs == ["w = 4 − w = 0: label1_yield", "w = 0 − w = -1: label1_yield", "w = 1 − w = 0: label1_yield",
                     "w = 2 − w = 1: label1_yield", "w = 4 − w = 2: label1_yield"]
    assert "w = 0 − w = -1: label_share" in fam.index and "w = 4 − w = 0: validity" in fam.index
    want = per[1.0].connected & (per[1.0].label == 1)
    got = fam.loc["w = 1 − w = 0: label1_yield", "difference"]
    assert got == pytest.approx(want.mean() - (per[0.0].connected & (per[0.0].label == 1)).mean())
    lines = G.neighbour_lines(fam, 1.0)
    assert len(lines) == 2 and lines[0].startswith("w = 1 − w = 0: label1_yield") and "Holm over the" in lines[0]
    assert lines[1].startswith("w = 2 − w = 1: label1_yield")
    assert all(line.count("[") == 1 for line in lines), lines  # the interval is printed once
