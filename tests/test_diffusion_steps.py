"""Unit tests of molpractice.diffusion_steps (sample rates against training length; the closing time verdicts)."""
import types

import pytest
import torch

from molpractice import diffusion as D
from molpractice import diffusion_steps as S
from solutions import ch04_diffusion as ch


def _tiny_cfg(**over):
    base = dict(vars(D.SETTINGS.current("fast")))
    base.update(T=20, hidden=16, layers=2, batch_size=8, train_steps=6, ema_decay=0.9)
    base.update(over)
    return types.SimpleNamespace(**base)


def test_plausible_vs_steps_rows_cache_and_format(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    monkeypatch.setenv("MOLPRACTICE_IMPL", "solutions")
    data = D.molecule_data(max_molecules=24)
    cfg = _tiny_cfg(bench_samples=6)
    with pytest.raises(FileNotFoundError, match="no cached weights of 4 steps"):
        S.plausible_vs_steps(ch, data, (4,), cfg=cfg, train=False)
    res = S.plausible_vs_steps(ch, data, (4, 6), cfg=cfg)
    assert res["n"] == 6 and res["T"] == 20 and [r["steps"] for r in res["rows"]] == [4, 6]
    assert res["data"]["plausible"]["n"] == len(data)
    for r in res["rows"]:
        assert r["plausible"]["n"] == 6 and r["valid single fragment"]["n"] == 6
        assert r["plausible"]["k"] <= r["valid single fragment"]["k"], "plausible implies valid single fragment"
        gap = res["data"]["plausible"]["rate"] - r["plausible"]["rate"]
        assert r["data − samples"]["difference"] == pytest.approx(gap) and r["within 15 points"] == (gap <= 0.15)
        assert r["within budget"] == (r["training CPU-min"] <= 8) and len(r["weights hash"]) == 12
    assert res["rows"][0]["weights hash"] != res["rows"][1]["weights hash"], "one model per step count"
    again = S.plausible_vs_steps(ch, data, (4, 6), cfg=cfg, train=False)
    assert again["rows"] == res["rows"], "weights and samples come from the cache: the same rows"
    text = S.format_plausible_vs_steps(res)
    assert "train steps" in text and "data − samples, plausible" in text and "6 molecules per model" in text
    assert len(text.splitlines()) == 2 + 2



def _clock(wall, own, kids):
    return {"wall": wall * 60, "self": own * 60, "children": kids * 60, "load": 0.5}


def test_closing_time_lines_cached_run_sums_two_measured_parts():
    info = {"cached": True, "cpu_seconds": 7.4 * 60, "seconds": 18.3 * 60, "threads": 1, "trained_at": "2026-12-06 22:56 UTC"}
    lines = S.closing_time_lines(_clock(0, 0, 0), _clock(2.2, 1.0, 2.0), info, "full", 2)
    text = "\n".join(lines)
    assert "this run: 3.0 CPU-min" in lines[0] and "2 sampling worker process(es), 2.0 CPU-min of it" in lines[0]
    assert "2.2 min wall" in lines[0] and "cached weights loaded" in lines[0]
    assert "one torch thread per process" in lines[1] and "bit for bit" in lines[1]
    four = next(l for l in lines if "cached weights ≤ 4 min" in l)
    assert four.split(": ")[1].startswith("met") and "measured: 3.0 CPU-min, 2.2 min wall" in four
    quick = next(l for l in lines if "issue-20" in l)
    assert "NOT met in CPU time, met in wall time" in quick, quick
    ten = next(l for l in lines if "with training ≤ 10 min" in l)
    assert "a sum of two measured parts" in ten and "= 10.4 CPU-min, 20.5 min wall" in ten and "NOT met" in ten
    assert "training ≤ 8 CPU-min: met (7.40 CPU-min" in text


def test_closing_time_lines_trained_run_measures_the_with_training_target():
    info = {"cached": False, "cpu_seconds": 5.0 * 60, "seconds": 5.1 * 60, "threads": 1, "trained_at": "x"}
    lines = S.closing_time_lines(_clock(1, 1, 1), _clock(10.0, 9.0, 1.0), info, "full", 1)
    assert any("≤ 4 min (issue 20: ≤ 2.5 min): not measured in this run (it trained)" in l for l in lines)
    ten = next(l for l in lines if "with training ≤ 10 min" in l)
    assert ten.split(": ")[1].startswith("met") and "measured: 8.0 CPU-min, 9.0 min wall" in ten
    assert "training ≤ 8 CPU-min: met (5.00" in lines[-1]
