"""compare_controls: both verdict columns read one test (exact McNemar), uncorrected and after Holm."""
import pandas as pd
import pytest

from molpractice.diffusion_controls import FAMILY_CONTROLS, FAMILY_START, START_MODE, compare_controls, start_control_lines


def _row(sampler, outcomes, steps=50, clip="on"):
    return {"sampler": sampler, "clip": clip, "steps": steps, "n": len(outcomes),
            "connected": sum(outcomes) / len(outcomes), "outcomes": list(outcomes),
            "low": 0.0, "high": 1.0}


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


def _start_table():
    """DDIM at 50 steps: clip on 70/100, clip off 2/100, no clip from T − 1 72/100 (the same 70 plus 2)."""
    on = [True] * 70 + [False] * 30
    off = [True] * 2 + [False] * 98
    start = [True] * 72 + [False] * 28
    return pd.DataFrame([_row("DDIM", on), _row("DDIM", off, clip="off"), _row("DDIM", start, clip=START_MODE),
                         _row("DDPM", on), _row("DDPM", on, clip="off")])


def test_start_control_rows_are_compared_in_their_own_holm_family():
    table = _start_table()
    out = compare_controls(table)
    base = compare_controls(table[table["clip"] != START_MODE])
    fam = out[out["Holm family"] == FAMILY_START]
    assert set(fam["comparison"]) == {f"DDIM-50: clip {START_MODE} − clip on", f"DDIM-50: clip {START_MODE} − clip off"}
    assert list(out["Holm family"]) == [FAMILY_CONTROLS] * len(base) + [FAMILY_START] * 2, "the old family first"
    same = out[out["Holm family"] == FAMILY_CONTROLS].drop(columns="Holm family").reset_index(drop=True)
    assert same.equals(base.drop(columns="Holm family")), "adding the control leaves the other family's Holm p as it was"
    vs_off = fam.set_index("comparison").loc[f"DDIM-50: clip {START_MODE} − clip off"]
    vs_on = fam.set_index("comparison").loc[f"DDIM-50: clip {START_MODE} − clip on"]
    assert vs_off["difference"] == pytest.approx(0.70) and vs_off["verdict (Holm)"] == "higher"
    assert vs_on["difference"] == pytest.approx(0.02) and vs_on["verdict (Holm)"] == "no detectable difference"
    assert vs_off["p (Holm)"] == pytest.approx(2 * vs_off["p_value"]), "Holm over the 2 comparisons of the family"
    assert vs_on["p (Holm)"] == pytest.approx(max(vs_on["p_value"], 2 * vs_off["p_value"]))


def test_start_control_lines_read_the_table():
    import torch

    from solutions import ch04_diffusion as ch

    table = _start_table()
    lines = start_control_lines(table, alpha_bar=ch.cosine_alpha_bar(500, dtype=torch.float64))
    assert len(lines) == 2 and "2 comparisons" in lines[0] and FAMILY_START in lines[0]
    line = lines[1]
    assert line.startswith("DDIM-50, no clip from T−1: 0.720 [0.000, 1.000]") and "clip on from T 0.700" in line
    assert "− clip on from T: +0.020" in line and "− clip off from T: +0.700" in line and line.endswith(": higher")
    assert "Holm p < 0.0001: higher" in line and "Holm p = 0.5: no" in line and ": no detectable difference;" in line
    assert "first-jump factor 316 from T, 11.0 from T−1" in line
    # the verdict words follow the test: make the T − 1 run lose 20 of the clipped run's successes
    worse = table.copy()
    worse.at[2, "outcomes"] = [True] * 50 + [False] * 50
    worse.at[2, "connected"] = 0.5
    assert ": lower;" in start_control_lines(worse)[1] and "− clip on from T: -0.200" in start_control_lines(worse)[1]
    assert start_control_lines(table[table["clip"] != START_MODE]) == []
