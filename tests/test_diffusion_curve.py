"""Unit tests of molpractice.diffusion_curve (training-length curve chosen on validation loss) on tiny data."""
import types

import pytest
import torch

from molpractice import diffusion as D
from molpractice import diffusion_curve as C
from molpractice import diffusion_model as M
from solutions import ch04_diffusion as ch


def _tiny_cfg(**over):
    base = dict(vars(D.SETTINGS.current("fast")))
    base.update(T=20, hidden=16, layers=2, batch_size=8, train_steps=6, ema_decay=0.9)
    base.update(over)
    return types.SimpleNamespace(**base)


def _tiny_data(n=20):
    gen = torch.Generator().manual_seed(0)
    shapes = (("CCO", [6, 6, 8]), ("CC#N", [6, 6, 7]), ("CC(C)F", [6, 6, 6, 9]))
    out = []
    for k in range(n):
        smiles, z = shapes[k % 3]
        pos = torch.randn(len(z), 3, generator=gen) * 1.2
        out.append({"z": torch.tensor(z), "pos": pos - pos.mean(0), "smiles": f"{smiles}.{k}"})
    return out


def test_validation_split_is_seeded_disjoint_and_complete():
    data = _tiny_data(20)
    train, val = C.validation_split(data, 0.25, seed=1)
    assert len(val) == 5 and len(train) == 15
    names = [d["smiles"] for d in train + val]
    assert sorted(names) == sorted(d["smiles"] for d in data), "every molecule in exactly one part"
    again = C.validation_split(data, 0.25, seed=1)
    assert [d["smiles"] for d in again[1]] == [d["smiles"] for d in val]
    assert [d["smiles"] for d in C.validation_split(data, 0.25, seed=2)[1]] != [d["smiles"] for d in val]
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            C.validation_split(data, bad)


def test_extra_ema_shadows_do_not_change_the_trained_model():
    data = _tiny_data(6)
    cfg = _tiny_cfg()
    plain, _ = D.train_molecule_model(ch, data, cfg, seed=2, progress=False, cache=False)
    seen = {}
    torch.manual_seed(2)
    model = D.EGNNDenoiser(4, cfg.hidden, cfg.layers)
    ema, losses, *_ = M._train_steps(ch, data, cfg, model, 2, False, extra_decays=(0.5, 0.9), checkpoints=(3, 6),
                                          on_checkpoint=lambda s, models, cpu: seen.setdefault(s, sorted(models)))
    assert len(losses) == 6 and seen == {3: [0.5, 0.9], 6: [0.5, 0.9]}
    for a, b in zip(plain.state_dict().values(), ema.model.state_dict().values()):
        assert torch.equal(a, b), "extra EMA shadows must not touch the random draws or the main EMA"


def test_denoising_loss_uses_the_same_draws_for_every_model():
    data = _tiny_data(5)
    cfg = _tiny_cfg()
    torch.manual_seed(0)
    model = D.EGNNDenoiser(4, cfg.hidden, cfg.layers).eval()
    a = C.denoising_loss(ch, model, data, cfg, draws=3, batch_size=2)
    b = C.denoising_loss(ch, model, data, cfg, draws=3, batch_size=2)
    assert a.shape == (5,) and a.dtype == torch.float64 and torch.equal(a, b) and bool((a > 0).all())
    assert not torch.equal(a, C.denoising_loss(ch, model, data, cfg, draws=3, seed=7, batch_size=2))
    with pytest.raises(ValueError, match="draws"):
        C.denoising_loss(ch, model, data, cfg, draws=0)


def test_paired_loss_difference_matches_a_paired_t_interval():
    from scipy import stats

    a = torch.tensor([1.0, 2.0, 3.5, 4.0, 2.2])
    b = torch.tensor([0.8, 2.1, 3.0, 3.1, 2.0])
    res = C.paired_loss_difference(a, b)
    ci = stats.ttest_rel(a.numpy(), b.numpy()).confidence_interval(0.95)
    assert res["n"] == 5 and res["difference"] == pytest.approx(float((a - b).mean()))
    assert res["low"] == pytest.approx(ci.low) and res["high"] == pytest.approx(ci.high)
    with pytest.raises(ValueError, match="molecules"):
        C.paired_loss_difference(a[:1], b[:1])


def test_training_curve_table_and_selection_rule(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    data = _tiny_data(20)
    cfg = _tiny_cfg()
    with pytest.raises(ValueError, match="reference"):
        C.training_curve(ch, [(8, [])], data, fraction=0.25, draws=2, cfg=cfg)
    curve = C.training_curve(ch, [(6, []), (8, [4])], data, fraction=0.25, draws=2, cfg=cfg)
    t = curve["table"]
    decays = {cfg.ema_decay, *C.CURVE_DECAYS}
    assert len(t) == len(decays) * 3  # run 6 at its end; run 8 at 4 and at its end
    assert {"run steps", "step", "ema decay", "end of run", "CPU-min", "val loss", "train-subset loss", "val − ref",
            "low", "high"} <= set(t.columns)
    ref = t[(t["run steps"] == 6) & (t["ema decay"] == cfg.ema_decay)].iloc[0]
    assert ref["val − ref"] == 0 and curve["reference"] == (6, 6, cfg.ema_decay)
    end = t[t["end of run"]]
    best = end.loc[end["val loss"].idxmin()]
    expected = (int(best["run steps"]), int(best["step"]), float(best["ema decay"])) if best["high"] < 0 else curve["reference"]
    assert curve["choice"] == expected
    assert "selection rule" in C.format_curve(curve)
    assert any(p.name.startswith("ch04_curve_") for p in tmp_path.iterdir()), "curve runs are cached"
    again = C.curve_run(ch, curve["train"], 8, [4], cfg)
    assert again["cached"] and set(again["checkpoints"]) == {4, 8}
