"""compare_controls: both verdict columns read one test (exact McNemar), uncorrected and after Holm."""
import pandas as pd

from molpractice.diffusion_controls import compare_controls


def _row(sampler, outcomes, steps=50):
    return {"sampler": sampler, "clip": "on", "steps": steps, "n": len(outcomes),
            "connected": sum(outcomes) / len(outcomes), "outcomes": list(outcomes)}


def _pair(only_first: int, steps=50, n=100, both=60):
    first = [True] * both + [True] * only_first + [False] * (n - both - only_first)
    second = [True] * both + [False] * only_first + [False] * (n - both - only_first)
    return [_row("DDPM", first, steps), _row("DDIM", second, steps)]


def test_verdict_reads_the_exact_test_not_the_interval():
    # 5 discordant pairs, all one way: Newcombe's paired interval excludes 0, exact McNemar p = 0.0625
    out = compare_controls(pd.DataFrame(_pair(5)))
    row = out.iloc[0]
    assert row["low"] > 0 and abs(row["p_value"] - 0.0625) < 1e-9
    assert row["verdict"] == "no detectable difference", "the uncorrected verdict must read the same test as Holm's"
    # 6 discordant pairs: p = 0.03125 < 0.05
    assert compare_controls(pd.DataFrame(_pair(6))).iloc[0]["verdict"] == "higher"


def test_holm_changes_only_rows_the_raw_test_called():
    table = pd.DataFrame(_pair(6, steps=50) + _pair(7, steps=100) + _pair(0, steps=250))
    out = compare_controls(table)
    assert list(out["verdict"]) == ["higher", "higher", "no detectable difference"]
    assert (out["p (Holm)"] >= out["p_value"]).all()
    changed = out[out["verdict"] != out["verdict (Holm)"]]
    assert (changed["verdict"] != "no detectable difference").all(), "Holm can only remove a raw verdict"
    assert out.iloc[0]["verdict (Holm)"] == "no detectable difference"  # 3 × 0.03125 > 0.05


def test_without_outcomes_the_interval_decides_and_no_holm():
    rows = [{k: v for k, v in r.items() if k != "outcomes"} for r in _pair(30)]
    out = compare_controls(pd.DataFrame(rows))
    assert out.iloc[0]["verdict"] == "higher" and "verdict (Holm)" not in out
