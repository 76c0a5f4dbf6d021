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


def _fake_curve(best_high=-0.01):
    import pandas as pd

    rows = [  # reference (4500, 4500, 0.99); a longer run whose end is lower
        {"run steps": 4500, "step": 4500, "ema decay": 0.99, "end of run": True, "CPU-min": 5.8, "val loss": 0.50,
         "train-subset loss": 0.45, "val − ref": 0.0, "low": 0.0, "high": 0.0},
        {"run steps": 5600, "step": 3000, "ema decay": 0.99, "end of run": False, "CPU-min": 4.0, "val loss": 0.40,
         "train-subset loss": 0.39, "val − ref": -0.10, "low": -0.2, "high": -0.05},
        {"run steps": 5600, "step": 5600, "ema decay": 0.995, "end of run": True, "CPU-min": 7.5, "val loss": 0.48,
         "train-subset loss": 0.44, "val − ref": -0.02, "low": -0.03, "high": best_high},
        {"run steps": 9000, "step": 9000, "ema decay": 0.99, "end of run": True, "CPU-min": 11.0, "val loss": 0.30,
         "train-subset loss": 0.2, "val − ref": -0.2, "low": -0.3, "high": -0.1},
    ]
    table = pd.DataFrame(rows)
    ref = (4500, 4500, 0.99)
    return {"table": table, "reference": ref, "choice": C._select(table, ref), "train": [0] * 722,
            "validation": [0] * 80, "draws": 100,
            "runs": {4500: {"seconds": 600.0, "threads": 1, "cached": True, "path": "ch04_curve_x.pt"}}}


def test_selection_rule_keeps_the_reference_unless_the_interval_lies_below_zero():
    assert _fake_curve(-0.01)["choice"] == (5600, 5600, 0.995), "lowest end-of-run row within budget, interval < 0"
    assert _fake_curve(+0.01)["choice"] == (4500, 4500, 0.99), "interval crosses 0: keep the reference"
    curve = _fake_curve()
    with pytest.raises(ValueError, match="CPU-min"):
        C._select(curve["table"][~curve["table"]["end of run"] | (curve["table"]["CPU-min"] > 8)], (4500, 4500, 0.99))


def test_curve_record_round_trip_and_checks(tmp_path):
    import json

    curve = _fake_curve()
    rec = C.curve_record(curve, "python scripts/ch04_training_curve.py --runs 4500", "abc123def456", dirty=False,
                         created="2026-12-06 18:50 UTC")
    assert rec["choice"] == [5600, 5600, 0.995] and rec["reference"] == [4500, 4500, 0.99]
    assert rec["n_train"] == 722 and rec["n_validation"] == 80 and rec["draws"] == 100 and len(rec["rows"]) == 4
    assert isinstance(rec["rows"][0]["end of run"], bool) and isinstance(rec["rows"][0]["step"], int)
    path = tmp_path / "curve.json"
    path.write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    loaded = C.load_curve_record(path)
    assert loaded == json.loads(json.dumps(rec))
    text = C.format_curve_record(loaded)
    assert "commit abc123def4" in text and "2026-12-06 18:50 UTC" in text and "--runs 4500" in text
    assert "(5600, 5600, 0.995)" in text.splitlines()[-1] and "= the reference" not in text
    assert "600 steps" not in text and "run of 4500 steps: 10.0 min wall on 1 thread(s)" in text
    assert text.endswith(C.format_curve(curve).splitlines()[-1]), "same rule line as format_curve"
    for broken, message in ((dict(rec, choice=[4500, 4500, 0.99]), "rule on the stored rows gives"),
                            ({k: v for k, v in rec.items() if k != "commit"}, "lacks key"),
                            (dict(rec, rows=[{k: v for k, v in rec["rows"][0].items() if k != "val loss"}]), "row 0"),
                            (dict(rec, reference=[1, 1, 0.5]), "not a row")):
        path.write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            C.load_curve_record(path)
    with pytest.raises(FileNotFoundError):
        C.load_curve_record(tmp_path / "missing.json")


def test_curve_run_cache_only_never_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--train"):
        C.curve_run(ch, _tiny_data(6), 6, [3], _tiny_cfg(), cache_only=True)
    assert not list(tmp_path.iterdir())


def test_budget_re_measurement_is_recorded_but_never_moves_the_choice(tmp_path):
    import json

    curve = _fake_curve(-0.01)
    curve["table"].loc[curve["table"]["run steps"] == 5600, "CPU-min"] = 8.7  # the curve run: over the budget
    curve["choice"] = C._select(curve["table"], curve["reference"])
    rec = C.curve_record(curve, "cmd", "abc123def456", dirty=False, created="2026-12-06 18:50 UTC")
    assert rec["choice"] == [4500, 4500, 0.99], "over the budget by the curve run's CPU-min: the reference"
    info = {"cpu_seconds": 7.2 * 60, "seconds": 7.4 * 60, "threads": 1, "trained_at": "2026-12-06 22:45 UTC",
            "path": "/x/diffusion_egnn_abc.pt"}
    new = C.add_budget_measurement(rec, 5600, info, 802, note="load 2")
    assert new["choice"] == [4500, 4500, 0.99] and rec["choice"] == [4500, 4500, 0.99], (
        "a re-measurement under the budget taken after the results must not move the choice: the rule judges "
        "the curve run's own CPU-min")
    assert "budget" not in rec and new is not rec, "a copy"
    assert new["budget"]["5600"]["weights"] == "diffusion_egnn_abc.pt" and new["budget"]["5600"]["n_molecules"] == 802
    assert [r["CPU-min"] for r in new["rows"]] == [r["CPU-min"] for r in rec["rows"]], "the curve rows are kept"
    over = C.add_budget_measurement(rec, 5600, dict(info, cpu_seconds=8.5 * 60), 802)
    assert over["choice"] == [4500, 4500, 0.99], "re-measured over the budget: still excluded"
    with pytest.raises(ValueError, match="not a run"):
        C.add_budget_measurement(rec, 7000, info, 802)
    path = tmp_path / "curve.json"
    path.write_text(json.dumps(new), encoding="utf-8")
    text = C.format_curve_record(C.load_curve_record(path))
    assert "the final training of 5600 steps" in text and "7.20 CPU-min" in text
    assert "wall/CPU 1.03" in text and "by the curve run's own CPU-min" in text
    assert "re-measured (information, not used by the rule): the final training of 5600 steps" in text
    # an entry without provenance says so once; a hand-typed --note is stored but never printed as if measured
    assert "provenance of this entry not recorded" in text and "not recorded from commit" not in text
    assert "load 2" not in text and new["budget"]["5600"]["note"] == "load 2"
    prov = {"command": "scripts/ch04_training_curve.py --budget 5600", "commit": "fedcba9876543210", "dirty": False,
            "created": "2026-12-06 22:57 UTC"}
    with_prov = C.add_budget_measurement(rec, 5600, info, 802, provenance=prov)
    assert {k: with_prov["budget"]["5600"][k] for k in prov} == prov
    path.write_text(json.dumps(with_prov), encoding="utf-8")
    line = C.format_curve_record(C.load_curve_record(path))
    assert ("this entry written 2026-12-06 22:57 UTC from commit fedcba9876 by "
            "`scripts/ch04_training_curve.py --budget 5600`") in line and "hand-recorded" not in line
    path.write_text(json.dumps(new), encoding="utf-8")
    assert "run of 4500 steps: 10.0 min wall on 1 thread(s), 5.80 CPU-min (wall/CPU 1.7; oversubscribed machine)" in text
    path.write_text(json.dumps(dict(new, choice=[5600, 5600, 0.995])), encoding="utf-8")
    with pytest.raises(ValueError, match="rule on the stored rows gives"):
        C.load_curve_record(path)
    moved = C.budget_sensitivity_line(new)
    assert "the same rule would choose (5600, 5600, " in moved and "not the shipped (4500, 4500, 0.99)" in moved
    assert "5600 steps 7.20" in moved, "the line names the re-measured CPU-min it used"
    kept = C.budget_sensitivity_line(over)
    assert "would choose (4500, 4500, 0.99) — the same model" in kept, "re-measured over the budget: the same choice"
    assert "cannot be checked" in C.budget_sensitivity_line(rec), "no re-measurement: says so"
    broken = json.loads(json.dumps(new))
    del broken["budget"]["5600"]["cpu_min"]
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ValueError, match="lacks 'cpu_min'"):
        C.load_curve_record(path)


def test_state_dict_hash_sees_every_weight():
    a = M.EGNNDenoiser(4, 8, 1)
    b = M.EGNNDenoiser(4, 8, 1)
    b.load_state_dict(a.state_dict())
    assert M.state_dict_hash(a.state_dict()) == M.state_dict_hash(b.state_dict())
    with torch.no_grad():
        next(iter(b.parameters())).view(-1)[0] += 1e-7
    assert M.state_dict_hash(a.state_dict()) != M.state_dict_hash(b.state_dict()), "a one-ulp change is seen"
