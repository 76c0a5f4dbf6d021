"""molpractice.diffusion_report: the notebook-time verdicts (measured with training when the run trained, an
estimate without a verdict when it loaded cached weights; CPU and wall time; load average; the card's figures)."""


def test_notebook_time_verdicts_print_cpu_and_wall_and_do_not_call_a_near_miss_met():
    from molpractice.diffusion_report import notebook_time_verdicts, time_verdict

    assert [time_verdict(m, 10) for m in (9.4, 9.5, 9.9, 10.5, 10.6, float("nan"))] == \
        ["met", "met", "on the limit", "on the limit", "NOT met", "not measured"]
    cached = {"cached": True, "seconds": 600.0, "cpu_seconds": 348.0, "threads": 1}
    lines = notebook_time_verdicts(3.5, 3.7, cached, "full", 1)
    assert "wall" in lines[0] and "CPU" in lines[0] and "load average" in lines[0]
    assert "wall time exceeds CPU time by 6% of it" in lines[0]
    assert "cached weights ≤ 4 min: met (3.5 CPU-min, 3.7 min wall)" in lines[1]
    assert "with training ≤ 10 min: not measured in this run (cached weights); estimate 9.3 CPU-min, 13.7 min wall" \
        in lines[2] and "no verdict" in lines[2] and " met" not in lines[2]
    assert "training ≤ 8 CPU-min: met (5.8 CPU-min; 10.0 min wall on 1 thread(s); recorded with the cached" in lines[3]
    lines = notebook_time_verdicts(4.2, 12.3, cached, "full", 1)
    assert "≤ 4 min: on the limit in CPU time, NOT met in wall time (4.2 CPU-min, 12.3 min wall)" in lines[1]
    lines = notebook_time_verdicts(4.5, 4.6, cached, "full", 1)
    assert "≤ 4 min: NOT met (4.5 CPU-min, 4.6 min wall)" in lines[1]
    fresh = dict(cached, cached=False, cpu_seconds=540.0)
    lines = notebook_time_verdicts(10.5, 12.0, fresh, "full", 1, card_minutes={"cpu_full": 3.7, "cpu_fast": 0.4})
    assert len(lines) == 5 and "model trained in this run" in lines[0]
    assert "cached weights ≤ 4 min: not measured in this run (it trained); without the training it took 1.5 " \
           "CPU-min, 2.0 min wall" in lines[1]
    assert "with training ≤ 10 min: on the limit in CPU time, NOT met in wall time (measured: 10.5 CPU-min, " \
           "12.0 min wall, training included)" in lines[2]
    assert "training ≤ 8 CPU-min: NOT met (9.0 CPU-min" in lines[3] and "trained in this run" in lines[3]
    assert "full 3.7 CPU-min, fast 0.4 CPU-min" in lines[4]


def test_budget_scaling_line_scales_the_final_training_to_the_longest_curve_run():
    from molpractice.diffusion_report import budget_scaling_line

    curve = {"budget_cpu_min": 8.0, "rows": [{"run steps": 4500, "end of run": True, "CPU-min": 7.07},
                                             {"run steps": 5600, "end of run": False, "CPU-min": 7.76},
                                             {"run steps": 5600, "end of run": True, "CPU-min": 8.68}]}
    line = budget_scaling_line(curve, {"cpu_seconds": 348.0, "steps": 4500})
    assert "scaled to 5600 steps: 7.2 CPU-min (inside the 8 CPU-min budget)" in line and "measured 8.68" in line
    assert "outside" in budget_scaling_line(curve, {"cpu_seconds": 400.0, "steps": 4500})


def test_plot_schedule_and_snr_draws_both_curves():
    import matplotlib
    import torch

    matplotlib.use("Agg")
    from molpractice.plots_sampling import plot_schedule_and_snr

    ab = torch.cat([torch.ones(1), torch.linspace(0.99, 0.01, 10)])
    fig = plot_schedule_and_snr(ab, ab ** 2, "linear")
    assert [l.get_label() for l in fig.axes[1].get_lines()] == ["cosine", "linear"]


def test_settings_table_shows_every_meaning_in_full():
    """Review 04g-12: the SETTINGS table's HTML and text displays do not cut the meaning column."""
    import html

    from molpractice import diffusion

    table = diffusion.SETTINGS.table()
    text, page = repr(table), table._repr_html_()
    for meaning in diffusion.SETTINGS.doc.values():
        assert meaning in text and html.escape(meaning, quote=False) in page, meaning
    assert "..." not in text
    assert type(table.head(2)).__name__ == "DataFrame"


def _fake_plausibility(n=400, aromatic_systems=4, double_systems=57):
    from molpractice import plausibility as PL

    keys = ["valid", PL.MOLECULE_STABILITY, PL.ATOM_STABILITY, "single fragment", *PL.GEOMETRY_CHECKS, "geometry",
            PL.NO_GROUP, "plausible", PL.BRENK_ROW, "geometry | single fragment", f"{PL.NO_GROUP} | single fragment",
            f"{PL.BRENK_ROW} | single fragment"]
    rates = {k: PL._rate(n - 10 - i, n) for i, k in enumerate(keys)}
    return {"rates": rates, "systems_checked": {"flat aromatic rings": aromatic_systems,
                                                "flat double bonds": double_systems}}


def test_bench_record_stores_flatness_like_the_notebook_table_and_marks_per_atom_columns():
    """Review 24-7 / 24-14: a flatness row below MIN_SYSTEMS is stored with rate null and its systems count, as the
    notebook's plausibility table prints it; the per-atom columns carry the notebook's "*" and footnote."""
    import json

    from molpractice import plausibility as PL
    from molpractice.diffusion_report import bench_notes, bench_record, bench_row, format_bench_record

    plaus = _fake_plausibility()
    k_aromatic = plaus["rates"]["flat aromatic rings"]["k"]
    row = bench_row("DDPM-500", plaus, {"atom": PL._rate(993, 1000)}, 1.5)
    flat, double = row["rates"]["flat aromatic rings"], row["rates"]["flat double bonds"]
    assert flat["rate"] is None and flat["low"] is None and flat["high"] is None
    assert flat["note"] == "n/a (4 systems checked)" and flat["systems checked"] == 4
    assert (flat["k"], flat["n"]) == (k_aromatic, 400), "the counts are kept"
    assert double["rate"] == plaus["rates"]["flat double bonds"]["rate"] and double["systems checked"] == 57
    assert "note" not in double
    assert plaus["rates"]["flat aromatic rings"]["rate"] == k_aromatic / 400, "the plausibility result is not changed"
    # the same cell as the notebook's table (one rule, PL.too_few_systems)
    table = PL.plausibility_table({"x": plaus})
    assert table.loc["flat aromatic rings"].iloc[0] == PL.rate_cell(flat) == "n/a (4 systems checked)"
    assert table.loc["flat double bonds"].iloc[0] == PL.rate_cell(double)
    assert row["rates"]["atom coordination/clash ok"]["k"] == 993 and row["n"] == 400
    record = bench_record({"command": "c", "commit": "0" * 40, "created": "now", "mode": "full",
                           "implementation": "solutions", "results": [row], "targets": [], "notes": bench_notes()})
    stored = json.loads(json.dumps(record, allow_nan=False))
    assert stored["results"][0]["rates"]["flat aromatic rings"]["rate"] is None
    assert stored["notes"]["per_atom"] == PL.PER_ATOM_NOTE
    assert stored["notes"]["per_atom_columns"] == ["atom stability", "atom coordination/clash ok"]
    text = format_bench_record(stored)
    assert "atom stability*" in text and "atom coordination/clash ok*" in text and PL.PER_ATOM_NOTE in text
    assert "flat aromatic rings n/a (4 systems checked)" in text and "(57 systems)" in text
    assert f"{k_aromatic / 400:.3f}" not in text, "no rate below MIN_SYSTEMS"
    many = bench_row("data", _fake_plausibility(aromatic_systems=PL.MIN_SYSTEMS), {"atom": PL._rate(1, 1)}, 0.0)
    assert many["rates"]["flat aromatic rings"]["rate"] is not None and "note" not in many["rates"]["flat aromatic rings"]
    # an older record without the systems counts prints no flatness rate
    old = json.loads(json.dumps(stored))
    for r in old["results"][0]["rates"].values():
        r.pop("systems checked", None), r.pop("note", None)
    assert "flatness checks: not shown" in format_bench_record(old)
