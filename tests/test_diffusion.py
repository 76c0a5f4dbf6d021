"""Unit tests of molpractice.diffusion and molpractice.plots_sampling on tiny data (seconds, one thread)."""
import math
import types

import matplotlib
import pytest
import torch

from molpractice import diffusion as D
from molpractice import diffusion_sampling
from molpractice import plots_sampling as P
from solutions import ch04_diffusion as ch

matplotlib.use("Agg")


def _tiny_cfg(**over):
    base = dict(vars(D.SETTINGS.current("fast")))
    base.update(T=20, hidden=16, layers=2, batch_size=8, train_steps=5)
    base.update(over)
    return types.SimpleNamespace(**base)


def _tiny_data():
    gen = torch.Generator().manual_seed(0)
    out = []
    for smiles, z in (("CCO", [6, 6, 8]), ("CC#N", [6, 6, 7]), ("CC(C)F", [6, 6, 6, 9])):
        pos = torch.randn(len(z), 3, generator=gen) * 1.2
        out.append({"z": torch.tensor(z), "pos": pos - pos.mean(0), "smiles": smiles})
    return out


def test_settings_have_the_same_names_in_both_modes():
    assert set(vars(D.SETTINGS.current("full"))) == set(vars(D.SETTINGS.current("fast")))
    full = D.SETTINGS.current("full")
    assert not any("seconds" in k for k in vars(full)), "no setting may stop a run on the clock"
    # the budget is a measurement, not a per-step guess: the committed curve record holds the curve run's measured
    # CPU time for the chosen step count (what the rule judges), and the final training's re-measurement; both must
    # fit the 8 CPU-min budget
    import json
    from pathlib import Path
    record = json.loads((Path(__file__).resolve().parents[1] / "data" / "ch04_training_curve.json").read_text())
    end = [r for r in record["rows"] if r["run steps"] == r["step"] == full.train_steps and r["ema decay"] == full.ema_decay]
    assert len(end) == 1 and end[0]["CPU-min"] <= record["budget_cpu_min"] == 8.0, end
    measured = record["budget"][str(full.train_steps)]
    assert measured["cpu_min"] <= record["budget_cpu_min"], measured
    assert list(record["choice"])[0] == full.train_steps, "SETTINGS.train_steps must be the curve rule's choice"
    assert full.n_samples >= 200 and full.T == 500 and full.T in full.control_steps


def test_toy_data_and_quality():
    x = D.toy_data(4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    q = D.toy_quality(x)
    assert abs(q["within_3sigma"] - (1 - math.exp(-4.5))) < 0.01  # the data scores 1 − e^{−4.5}
    assert q["modes_hit"] == 8
    collapsed = D.toy_quality(torch.zeros(100, 2))
    assert collapsed["within_3sigma"] == 0.0 and collapsed["modes_hit"] == 0
    one_mode = D.toy_quality(D.toy_modes()[:1].repeat(50, 1))
    assert one_mode["modes_hit"] == 1
    with pytest.raises(ValueError):
        D.toy_data(0)


def test_toy_training_and_samplers_run_and_are_seeded():
    model, hist = D.train_toy(ch, T=50, steps=30, progress=False)
    assert hist["steps"] == 30 and all(math.isfinite(v) for v in hist["loss"])
    a = D.sample_toy(ch, model, 64, "ddim", 10, clip=2.4, seed=3)
    b = D.sample_toy(ch, model, 64, "ddim", 10, clip=2.4, seed=3)
    assert a.shape == (64, 2) and torch.equal(a, b), "DDIM with a seed must be reproducible"
    c = D.sample_toy(ch, model, 64, "ddpm", 50, clip=2.4, seed=3)
    d = D.sample_toy(ch, model, 64, "ddpm", 10, clip=2.4, seed=3)
    assert torch.isfinite(c).all() and torch.isfinite(d).all()
    assert float(c.norm(dim=1).max()) < 10


def test_step_schedule():
    assert D.step_schedule(10, 10) == list(range(10, -1, -1))
    s = D.step_schedule(500, 50)
    assert s[0] == 500 and s[-1] == 0 and len(s) == 51 and all(a > b for a, b in zip(s, s[1:]))
    with pytest.raises(ValueError):
        D.step_schedule(10, 11)


def test_run_sampler_with_an_exact_denoiser_recovers_a_gaussian():
    T, n = 100, 4000
    ab = ch.cosine_alpha_bar(T)
    mu, sd = 1.0, 0.5

    def eps(parts, t):
        a = float(ab[t])
        return [math.sqrt(1 - a) * (parts[0] - math.sqrt(a) * mu) / (a * sd ** 2 + 1 - a)]

    gen = torch.Generator().manual_seed(0)
    x = D.run_sampler(ch, eps, torch.randn(n, 1, generator=gen, dtype=torch.float64), ab, "ddpm",
                      generator=gen)
    assert abs(float(x.mean()) - mu) < 0.05 and abs(float(x.std()) / sd - 1) < 0.06
    y = D.run_sampler(ch, eps, torch.randn(n, 1, generator=gen, dtype=torch.float64), ab, "ddim", steps=50)
    assert abs(float(y.mean()) - mu) < 0.05 and abs(float(y.std()) / sd - 1) < 0.08
    with pytest.raises(ValueError):
        D.run_sampler(ch, eps, y, ab, "euler")


def test_complete_graph_edges_match_geometry3d():
    from molpractice.geometry3d import fully_connected_edge_index

    batch = torch.tensor([0, 0, 1, 1, 1, 2])
    a = D.complete_graph_edges(batch)
    b = fully_connected_edge_index(batch)
    assert sorted(map(tuple, a.T.tolist())) == sorted(map(tuple, b.T.tolist()))


def test_egnn_denoiser_is_equivariant_and_centred():
    torch.manual_seed(0)
    model = D.EGNNDenoiser(hidden=16, layers=2).double()
    for p in model.parameters():  # make the coordinate update non-negligible
        torch.nn.init.normal_(p, std=0.3)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    gen = torch.Generator().manual_seed(1)
    pos = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    h = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    t = torch.full((7,), 0.3, dtype=torch.float64)
    with torch.no_grad():
        ex, eh = model(pos, h, t, batch)
    assert ex.shape == (7, 3) and eh.shape == (7, 4)
    for g in (0, 1):
        assert float(ex[batch == g].mean(0).abs().max()) < 1e-12, "ε̂_pos must have zero mean per molecule"
    Q = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))[0]
    with torch.no_grad():
        ex2, eh2 = model(pos @ Q.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64), h, t, batch)
    assert torch.allclose(ex2, ex @ Q.T, atol=1e-9) and torch.allclose(eh2, eh, atol=1e-9)
    assert float(ex.abs().max()) > 1e-6


def test_molecule_training_caches_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    data = _tiny_data()
    cfg = _tiny_cfg()
    model, info = D.train_molecule_model(ch, data, cfg, progress=False, implementation="solutions")
    assert not info["cached"] and info["steps"] == 5
    path = D.weights_path(cfg, "solutions", data, chapter=ch)
    assert path.exists() and path.parent == tmp_path
    assert path != D.weights_path(cfg, "solutions", data), "the training code's source hash is in the key"
    assert info["source_hash"] == D.training_source_hash(ch) and "trained_at" in info
    again, info2 = D.train_molecule_model(ch, data, cfg, progress=False, implementation="solutions")
    assert info2["cached"] and info2["steps"] == 5
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    saved = torch.load(path, weights_only=True)  # plain tensors and numbers only
    assert set(saved) == {"state_dict", "info"}
    other = D.weights_path(_tiny_cfg(hidden=8), "solutions", data, chapter=ch)
    assert other != path, "different settings must not share a cache file"
    assert D.weights_path(_tiny_cfg(train_steps=6), "solutions", data, chapter=ch) != path, "the step count is in the key"
    assert D.weights_path(cfg, "solutions", data, seed=1, chapter=ch) != path, "the seed is in the key"


def test_training_source_hash_ignores_docstrings_and_sees_code_changes(tmp_path):
    import importlib.util
    import inspect

    src = {name: getattr(ch, name) for name in D.TRAINING_FUNCTIONS}
    same = types.SimpleNamespace(**src)
    assert D.training_source_hash(same) == D.training_source_hash(ch)

    def load(text, name):
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.q_sample

    code = inspect.getsource(ch.q_sample)
    redoc = code.replace('"""A draw from the forward process', '"""Another docstring; a draw from the forward process')
    assert redoc != code
    reworded = types.SimpleNamespace(**dict(src, q_sample=load("import math, torch\nfrom solutions.ch04_diffusion import *\n"
                                                                "from solutions.ch04_diffusion import _check_state, _check_like, _check_alpha_bar, _check_step\n"
                                                                + redoc, "redoc")))
    assert D.training_source_hash(reworded) == D.training_source_hash(ch), "a docstring edit keeps the key"
    changed = types.SimpleNamespace(**dict(src, q_sample=load("def q_sample(x0, t, noise, alpha_bar):\n"
                                                              "    'A draw.'\n    return x0\n", "changed")))
    assert D.training_source_hash(changed) != D.training_source_hash(ch)


def test_molecule_training_is_deterministic_for_a_seed_and_runs_every_step():
    data = _tiny_data()
    cfg = _tiny_cfg(train_steps=7)
    torch.manual_seed(123)  # the global RNG state before the call must not matter
    a, info_a = D.train_molecule_model(ch, data, cfg, seed=3, progress=False, cache=False)
    torch.manual_seed(999)
    b, info_b = D.train_molecule_model(ch, data, cfg, seed=3, progress=False, cache=False)
    assert info_a["steps"] == info_b["steps"] == 7 and info_a["seconds"] > 0 and "cpu_seconds" in info_a
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y), "the same seed and settings must give the same weights bit for bit on CPU"
    c, _ = D.train_molecule_model(ch, data, cfg, seed=4, progress=False, cache=False)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_progress_bars_end_complete(capsys):
    data = _tiny_data()
    D.train_molecule_model(ch, data, _tiny_cfg(train_steps=4), progress=True, cache=False)
    D.train_toy(ch, T=20, steps=6, progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "6/6" in err and "100%" in err


def test_sample_molecules_shapes_drift_trajectory_and_equivariance():
    data = _tiny_data()
    cfg = _tiny_cfg()
    model, _ = D.train_molecule_model(ch, data, cfg, progress=False, cache=False)
    ab = ch.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    sizes = D.draw_sizes(data, 5, seed=0)
    assert set(sizes) <= {3, 4}
    samples, extra = D.sample_molecules(ch, model, sizes, ab, "ddpm", None, cfg.type_scale, 5.0, seed=0,
                                        trajectory=2)
    assert len(samples) == 5 and [len(z) for z, _ in samples] == sizes
    assert all(set(z.tolist()) <= set(D.ELEMENTS) for z, _ in samples)
    assert all(float(p.mean(0).abs().max()) < 1e-5 for _, p in samples), "samples must be centred"
    assert len(extra["com_drift"]) == cfg.T and len(extra["trajectory"]) == cfg.T + 1
    assert extra["trajectory_sizes"] == sizes[:2] and extra["trajectory"][0][1].shape[0] == sum(sizes[:2])
    R = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64))[0]
    eq = D.sampler_equivariance(ch, model, sizes, ab, R, cfg.type_scale, pos_clip=1e3, steps=10)
    assert eq["max_position_error"] < 1e-3 and eq["same_molecules"] == 1.0


def test_metrics_bond_recovery_and_distances():
    data = _tiny_data()
    real = []
    from rdkit import Chem
    from rdkit.Chem import AllChem

    for smi in ("CCO", "c1ccccc1"):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=1)
        AllChem.MMFFOptimizeMolecule(mol)
        heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
        pos = torch.tensor(mol.GetConformer().GetPositions()[heavy], dtype=torch.float32)
        real.append({"z": torch.tensor([mol.GetAtomWithIdx(i).GetAtomicNum() for i in heavy]), "pos": pos,
                     "smiles": Chem.MolToSmiles(Chem.MolFromSmiles(smi))})
    rec = D.bond_recovery(ch.molecule_from_geometry, real)
    assert rec["recovered"] == 1.0 and rec["n"] == 2
    naive = D.bond_recovery(D.naive_molecule_from_geometry, real)
    assert naive["recovered"] == 0.5 and naive["failures"][0][0] == "c1ccccc1", "the naive rule reads benzene wrong"
    samples = [(d["z"], d["pos"]) for d in real] * 3
    m = D.metrics(ch, samples, ["CCO"], n_boot=50)
    assert m["validity"] == 1.0 and m["uniqueness"] == pytest.approx(2 / 6) and m["novelty"] == 0.5
    lo, hi = m["ci"]["validity"]
    assert lo <= 1.0 <= hi + 1e-12
    lengths = D.bond_lengths(ch.molecule_from_geometry, samples)
    assert len(lengths) == 3 * (2 + 6) and 1.3 < lengths.mean() < 1.5
    dists = D.pairwise_distances(samples)
    assert len(dists) == 3 * (3 + 15)
    assert D.wasserstein(dists, dists) == 0.0
    freq = D.atom_type_frequencies(samples)
    assert abs(sum(freq.values()) - 1) < 1e-6 and freq["F"] == 0.0
    sim = D.nearest_train_similarity(["CCO", "c1ccccc1"], ["CCO"])
    assert sim[0] == 1.0 and sim[1] < 0.5
    assert len(data) == 3


def test_plots_draw_without_error():
    import matplotlib.pyplot as plt
    import numpy as np

    ab = ch.cosine_alpha_bar(50)
    P.plot_schedule(ab)
    P.plot_forward_moments([1, 2, 3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    P.plot_toy_samples({"a": torch.randn(20, 2), "b": torch.full((5, 2), float("nan"))}, data=torch.randn(20, 2))
    P.plot_quality_vs_steps([{"steps": 10, "connected": 0.5, "sampler": "DDIM"},
                             {"steps": 50, "connected": 0.7, "sampler": "DDIM"}])
    P.plot_distance_histograms(np.random.rand(30) + 1, np.random.rand(40) + 1)
    P.plot_type_frequencies({"C": 0.7, "N": 0.1, "O": 0.2, "F": 0.0}, {"C": 0.72, "N": 0.1, "O": 0.16, "F": 0.02})
    P.plot_similarity_to_train(np.array([0.2, 1.0, 0.5]))
    traj = [(t, torch.randn(5, 3), torch.randn(5, 4)) for t in range(10, -1, -1)]
    P.plot_trajectories(traj, [2, 3])
    P.plot_com_drift({"a": [1e-3, 1e-4], "b": [0.0, 0.0]})
    P.plot_loss(list(np.random.rand(100)))
    plt.close("all")


def test_sampler_controls_and_toy_controls():
    data = _tiny_data()
    cfg = _tiny_cfg()
    model, _ = D.train_molecule_model(ch, data, cfg, progress=False, cache=False)
    ab = ch.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    table = D.sampler_controls(ch, model, data, ab, (5, cfg.T), 4, cfg.type_scale, 5.0, seed=0)
    assert len(table) == 2 * 2 * 2 + 2 and set(table["sampler"]) == {"DDPM", "DDIM"}
    assert set(table["clip"]) == {"on", "off", "on, ε̂ kept"}
    assert ((table["low"] <= table["connected"]) & (table["connected"] <= table["high"])).all()
    assert all(len(o) == 4 for o in table["outcomes"]) and "median NN Å" in table
    split = D.sampler_controls(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, seed=0,
                               runs=[("ddim", "positions only", 5), ("ddim", "types only", 5), ("ddim", "on", 5)])
    assert list(split["clip"]) == ["positions only", "types only", "on"]
    paired = D.compare_controls(split)
    assert {"DDIM-5: clip on − clip positions only", "DDIM-5: clip on − clip types only"} <= set(paired["comparison"])
    assert "verdict (Holm)" in paired
    toy_model, _ = D.train_toy(ch, T=30, steps=10, progress=False)
    toy = D.toy_sampler_controls(ch, toy_model, (5, 30), 40, 2.4)
    assert len(toy) == 10 and ((toy["low"] <= toy["within_3sigma"]) & (toy["within_3sigma"] <= toy["high"])).all()
    pairs = D.compare_controls(toy, y="within_3sigma")
    assert {"DDPM − DDIM, 5 steps, clip on", "DDIM-30: clip on − clip off"} <= set(pairs["comparison"])
    assert set(pairs["verdict"]) <= {"higher", "lower", "no detectable difference"}
    assert (pairs["p (Holm)"] >= pairs["p_value"]).all()


def test_paired_rate_difference_and_holm():
    import random

    rng = random.Random(0)
    a = [rng.random() < 0.8 for _ in range(100)]
    same = D.paired_rate_difference(a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0 and same["low"] <= 0 <= same["high"]
    b = [x and rng.random() < 0.7 for x in a]          # b succeeds only where a does: strongly paired
    res = D.paired_rate_difference(a, b)
    assert res["low"] > 0 and res["p_value"] < 0.01 and res["discordant"][1] == 0
    unpaired = D.paired_rate_difference(a, [rng.random() < sum(b) / 100 for _ in range(100)])
    assert res["high"] - res["low"] < unpaired["high"] - unpaired["low"], "pairing narrows the interval"
    # Newcombe 1998 (paired, method 10) worked example: 12 / 2 discordant of n = 40... checked against its table
    ex = D.paired_rate_difference([True] * 26 + [True] * 12 + [False] * 2, [True] * 26 + [False] * 12 + [True] * 2)
    assert math.isclose(ex["difference"], 0.25) and 0.05 < ex["low"] < 0.25 < ex["high"] < 0.45
    with pytest.raises(ValueError):
        D.paired_rate_difference([True], [True, False])
    assert D.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_chapter_ddim_step_rederives_eps_and_the_eps_kept_control_does_not():
    ab = ch.cosine_alpha_bar(50)
    gen = torch.Generator().manual_seed(0)
    x, e = torch.randn(30, 2, generator=gen, dtype=torch.float64) * 3, torch.randn(30, 2, generator=gen, dtype=torch.float64)
    a_t = float(ab[40])
    x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
    x0c = x0 * (1.0 / x0.norm(dim=1, keepdim=True)).clamp(max=1.0)
    e2 = (x - math.sqrt(a_t) * x0c) / math.sqrt(1 - a_t)
    a = ch.ddim_step(x, 40, 39, e, ab, eta=1.0, noise=torch.zeros_like(x), clip=1.0)
    b = ch.ddim_step(x, 40, 39, e2, ab, eta=1.0, noise=torch.zeros_like(x))
    assert torch.allclose(a, b, atol=1e-9), "exercise 4.5 re-derives ε̂ from the clipped x̂₀"
    kept = diffusion_sampling.ddim_step_eps_kept(x, 40, 39, e, ab, eta=1.0, noise=torch.zeros_like(x), clip=1.0)
    assert not torch.allclose(a, kept), "keeping ε̂ and re-deriving it are different updates"
    same = diffusion_sampling.ddim_step_eps_kept(x, 40, 20, e, ab, eta=0.0)
    assert torch.allclose(same, ch.ddim_step(x, 40, 20, e, ab, eta=0.0), atol=1e-12), "without a clip both agree"
    p = ch.ddpm_step(x, 40, e, ab, noise=torch.zeros_like(x), clip=1.0)
    q = ch.ddpm_step(x, 40, e2, ab, noise=torch.zeros_like(x))
    assert torch.allclose(p, q, atol=1e-9), "the DDPM posterior mean depends on x̂₀ and x_t only"


def test_run_benchmark_with_tiny_settings(tmp_path, monkeypatch, capsys):
    import json

    from molpractice import diffusion_model
    from molpractice.runtime import RunSettings

    tiny = dict(vars(D.SETTINGS.current("fast")))
    tiny.update(toy_T=60, toy_steps=20, toy_samples=50, T=10, hidden=8, layers=1, batch_size=4,
                train_steps=3, n_samples=6, n_fast_samples=4, n_boot=20, control_steps=(5, 10), control_samples=4,
                bench_samples=6)
    monkeypatch.setattr(diffusion_model, "SETTINGS", RunSettings(full=tiny, fast=tiny))
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path))
    out = tmp_path / "bench.json"
    report = D.run_benchmark("solutions", steps=5, json_path=str(out))
    printed = capsys.readouterr().out
    assert "Target table" in printed and "Sampler controls" in printed
    assert report["data_recovery"] >= 0.99 and report["n_train"] > 700
    rows = {r["samples"]: r for r in report["results"]}
    assert {"training data (reference)", "DDPM-5", "DDIM-10"} <= set(rows)
    assert rows["DDPM-5"]["n"] == 6 and rows["training data (reference)"]["rates"]["plausible"]["rate"] > 0.98
    assert rows["training data (reference)"]["rates"]["passes Brenk screening filters"]["rate"] < 0.7
    assert "molecule coordination/clash ok" not in rows["DDPM-5"], "the molecule-level row equals 'valid'"
    assert "Issue-24 targets" in printed and [t["verdict"] for t in report["targets"]] and \
        all(t["verdict"] in ("met", "NOT met") for t in report["targets"]) and len(report["targets"]) == 4
    assert report["training"]["steps"] == 3 and len(report["controls"]) == 2 * 4 + 6 + 2, "the notebook's grid (control_runs)"
    assert [r["clip"] for r in report["controls"][-2:]] == [D.START_MODE] * 2, "no clip from T − 1 at the counts below T"
    stored = json.loads(out.read_text(encoding="utf-8"))
    assert stored["chapter"] == "ch04" and "NaN" not in out.read_text(encoding="utf-8")
    assert stored["command"].endswith(f"molpractice bench ch04 --impl solutions --steps 5 --json {out}")
    assert stored["settings"]["bench_samples"] == 6 and "commit" in stored and "created" in stored
    assert "DDPM-5" in D.format_bench_record(D.load_bench_record(out))
    with pytest.raises(ValueError):
        D.run_benchmark("solutions", steps=11)


def test_every_public_name_stays_importable_from_the_facade():
    from molpractice import diffusion_controls, diffusion_metrics, diffusion_model, diffusion_report, diffusion_sampling

    for module in (diffusion_model, diffusion_sampling, diffusion_metrics, diffusion_controls, diffusion_report):
        for name in module.__all__:
            assert getattr(D, name) is getattr(module, name), name
    for name in ("train_molecule_model", "sample_molecules", "metrics", "run_benchmark", "SETTINGS", "EGNNDenoiser",
                 "run_sampler", "molecule_data", "draw_sizes", "position_clip", "weights_path", "_centre"):
        assert hasattr(D, name), name


def test_forward_moments_standard_error_columns():
    ab = ch.cosine_alpha_bar(100)
    table = D.forward_moments(ch, ab, ts=[1, 100], n=400)
    for _, row in table.iterrows():
        var = row["variance (closed form)"]
        assert row["SE mean"] == pytest.approx(math.sqrt(var / 400))
        assert row["SE variance"] == pytest.approx(var * math.sqrt(2 / 399))
        assert abs(row["mean"] - row["mean (closed form)"]) < 5 * row["SE mean"]


def test_egnn_no_grad_path_and_denormal_flush_bit_identical():
    """Sampling's fast EGNN path (no autograd) and the denormal flush give the same numbers bit for bit."""
    import torch

    from molpractice import diffusion

    torch.manual_seed(0)
    model = diffusion.EGNNDenoiser(4, 32, 2)
    sizes = [3, 5, 9]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    g = torch.Generator().manual_seed(1)
    pos, h, tf = torch.randn(17, 3, generator=g), torch.randn(17, 4, generator=g), torch.rand(17, generator=g)
    with torch.enable_grad():
        ref = model(pos, h, tf, batch)
    with torch.no_grad():
        fast = model(pos, h, tf, batch)
        with diffusion.flush_denormals():
            flushed = model(pos, h, tf, batch)
    for a, b, c in zip(ref, fast, flushed):
        assert torch.equal(a.detach(), b) and torch.equal(b, c)


def test_target_verdicts_read_each_issue_target():
    from molpractice.diffusion_report import target_verdicts
    from molpractice.plausibility import _rate

    data = {"plausible": _rate(798, 802)}
    good = {"single fragment": _rate(372, 400), "plausible": _rate(360, 400)}
    rows = {r["target"].split(": ", 1)[-1]: r for r in target_verdicts(data, good, 2.0, 100, 350.0)}
    assert [r["verdict"] for r in rows.values()] == ["met"] * 4
    assert "data 0.995 − samples 0.900" in rows["plausible within 15 points of the data's"]["value"]
    low_end = {"single fragment": _rate(362, 400), "plausible": _rate(300, 400)}   # plausible 0.75: 24.5 points
    out = target_verdicts(data, low_end, 40.0, 100, 500.0)
    assert out[1]["verdict"] == "NOT met" and out[2]["verdict"] == "NOT met" and out[3]["verdict"] == "NOT met"
    small = {"single fragment": _rate(19, 20), "plausible": _rate(19, 20)}            # 0.95 but lower end 0.75
    assert target_verdicts(data, small, 1.0, 50, 1.0)[0]["verdict"] == "NOT met"
    assert "2.0 s" in target_verdicts(data, small, 1.0, 50, 1.0)[2]["value"], "DDIM time scaled to 100 molecules"


def _fake_bench_report():
    rate = {"rate": 0.9, "low": 0.85, "high": 0.93, "k": 360, "n": 400}
    return {"chapter": "ch04", "mode": "full", "implementation": "solutions",
            "command": "molpractice bench ch04 --impl solutions --json data/ch04_bench.json",
            "commit": "0123456789abcdef", "dirty": False, "created": "2026-12-06 19:00 UTC",
            "training": {"steps": 4500, "seconds": 600.0, "cpu_seconds": 348.0, "cached": True},
            "results": [{"samples": "training data (reference)", "n": 802, "valid": "1.000 [0.995, 1.000]",
                         "sampling s": float("nan"), "rates": {"valid": rate}},
                        {"samples": "DDPM-500", "n": 400, "valid": "0.968 [0.945, 0.983]", "sampling s": 179.4,
                         "rates": {"valid": rate}}],
            "targets": [{"target": "DDPM-500: valid single fragment ≥ 0.90, lower end ≥ 0.85",
                         "value": "0.895 [0.861, 0.923]", "verdict": "NOT met"}]}


def test_bench_record_is_strict_json_with_command_and_commit(tmp_path):
    import json

    import numpy as np

    from molpractice import diffusion_report as R

    report = _fake_bench_report()
    report["results"][1]["n"] = np.int64(400)
    path = tmp_path / "bench.json"
    R.write_bench_record(report, path)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and text.endswith("\n") and "≥" in text, "strict JSON, UTF-8 kept, newline at the end"
    record = R.load_bench_record(path)
    assert record["results"][0]["sampling s"] is None and record["results"][1]["n"] == 400
    out = R.format_bench_record(record)
    assert "commit 0123456789" in out and "2026-12-06 19:00 UTC" in out and "--json data/ch04_bench.json" in out
    assert "DDPM-500" in out and "179.4" in out and "NOT met" in out and "—" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("samples"))
    assert "rates" not in header, "the nested rates are not a column"
    with pytest.raises(ValueError, match="commit"):
        R.write_bench_record({k: v for k, v in report.items() if k != "commit"}, path)
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "targets"}), encoding="utf-8")
    with pytest.raises(ValueError, match="targets"):
        R.load_bench_record(path)
    with pytest.raises(FileNotFoundError):
        R.load_bench_record(tmp_path / "missing.json")


def test_bench_provenance_names_the_commit_and_the_command():
    from molpractice import diffusion_report as R

    prov = R._provenance("molpractice bench ch04")
    assert prov["command"] == "molpractice bench ch04" and prov["created"].endswith("UTC")
    assert prov["commit"] is None or len(prov["commit"]) == 40
    assert prov["dirty"] in (True, False, None)


def test_run_sampler_masks_rows_that_become_non_finite_and_keeps_the_others():
    """Review 04g-3: one runaway sample must not zero the batch. A denoiser that returns inf for row 1 from the
    third step on: row 1 is masked (NaN at the end, recorded with its step), the other rows equal a clean run."""
    ab = ch.cosine_alpha_bar(20, dtype=torch.float64)
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    calls = []

    def eps(parts, t, poison=True):
        calls.append(t)
        out = parts[0] * 0.1
        if poison and len(calls) >= 3:
            out = out.clone()
            out[1] = float("inf")
        return [out]

    status = {}
    gen = torch.Generator().manual_seed(1)
    x = D.run_sampler(ch, eps, x_T.clone(), ab, "ddpm", 10, generator=gen, status=status)
    calls.clear()
    clean = D.run_sampler(ch, lambda p, t: eps(p, t, poison=False), x_T.clone(), ab, "ddpm", 10,
                          generator=torch.Generator().manual_seed(1))
    assert status["n"] == 4 and status["k"] == 1 and status["failed"] == [False, True, False, False]
    assert status["first_step"] == 3 and status["first_t"] == D.step_schedule(20, 10)[2]
    assert torch.isnan(x[1]).all() and torch.equal(x[[0, 2, 3]], clean[[0, 2, 3]])
    calls.clear()
    with pytest.raises(ValueError):   # without status the old contract holds: the step functions refuse it
        D.run_sampler(ch, eps, x_T.clone(), ab, "ddim", 10)
    # groups: rows 0-1 are sample 0, rows 2-3 sample 1 (atoms of molecules): a bad row fails its whole sample
    calls.clear()
    status = {}
    y = D.run_sampler(ch, eps, x_T.clone(), ab, "ddim", 10, status=status, groups=torch.tensor([0, 0, 1, 1]))
    assert status["failed"] == [True, False] and torch.isnan(y[:2]).all() and torch.isfinite(y[2:]).all()


def test_controls_score_per_row_when_some_rows_blow_up(monkeypatch):
    """A run in which a few samples become non-finite scores those 0 and the rest as usual, and says how many."""
    toy_model, _ = D.train_toy(ch, T=30, steps=10, progress=False)
    real = D.sample_toy

    def half_blown(chapter, model, n, method, steps, clip, seed=0, rederive_eps=True, status=None, start="T"):
        x = real(chapter, model, n, method, steps, clip, seed=seed, status=status)   # the same sampler for both
        if not rederive_eps:       # pretend the ε̂-kept run lost its first 3 rows at step 2
            x = x.clone()
            x[:3] = float("nan")
            status.update(k=3, first_step=2, failed=[True] * 3 + [False] * (n - 3))
        return x

    from molpractice import diffusion_controls

    monkeypatch.setattr(diffusion_controls, "sample_toy", half_blown)
    toy = D.toy_sampler_controls(ch, toy_model, (30,), 40, 2.4, runs=[("ddim", "on", 30), ("ddim", "on, ε̂ kept", 30)])
    kept = toy.iloc[1]
    assert int(kept["non-finite rows"]) == 3 and kept["first non-finite step"] == 2
    assert kept["outcomes"][:3] == [False] * 3 and kept["outcomes"][3:] == toy.iloc[0]["outcomes"][3:]
    assert kept["within_3sigma"] == sum(kept["outcomes"]) / 40
    assert D.nonfinite_lines(toy) == ["DDIM, clip on, ε̂ kept, 30 steps: 3 of 40 rows became non-finite (first at step "
                                      "2 of 30); they score 0, the other rows are scored as usual"]
    pairs = D.compare_controls(toy, y="within_3sigma")
    row = pairs[pairs["comparison"] == "DDIM-30: clip on − clip on, ε̂ kept"].iloc[0]
    on = toy.iloc[0]["outcomes"]
    assert row["difference"] == pytest.approx(sum(on[:3]) / 40)   # only the 3 lost rows differ


def test_molecule_controls_give_the_same_table_with_one_or_two_workers():
    """The grid's runs are independent self-seeded jobs: 1 worker (here) and 2 worker processes agree exactly."""
    data = _tiny_data()
    cfg = _tiny_cfg()
    model, _ = D.train_molecule_model(ch, data, cfg, progress=False, cache=False)
    ab = ch.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    runs = [("ddpm", "on", 5), ("ddim", "off", cfg.T), ("ddim", "on, ε̂ kept", 5), ("ddpm", "types only", cfg.T)]
    one = D.sampler_controls(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, seed=0, runs=runs, workers=1)
    two = D.sampler_controls(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, seed=0, runs=runs, workers=2)
    drop = ["seconds"]
    assert one.drop(columns=drop).to_dict("records") == two.drop(columns=drop).to_dict("records")
    assert list(one["clip"]) == [c for _, c, _ in runs] and (one["non-finite rows"] == 0).all()


def test_controls_and_samples_share_the_pool_and_equal_the_direct_calls():
    """The main samples run as jobs next to the grid: each equals the direct sample_molecules call bit for bit,
    and the table equals sampler_controls', with 1 or 2 workers."""
    data = _tiny_data()
    cfg = _tiny_cfg()
    model, _ = D.train_molecule_model(ch, data, cfg, progress=False, cache=False)
    ab = ch.cosine_alpha_bar(cfg.T, dtype=torch.float32)
    runs = [("ddpm", "on", 5), ("ddim", "off", cfg.T)]
    specs = [dict(sizes=[3, 4, 3], method="ddpm", steps=cfg.T, type_scale=cfg.type_scale, pos_clip=5.0, seed=1),
             dict(sizes=[4, 3], method="ddim", steps=5, type_scale=cfg.type_scale, pos_clip=5.0, seed=1)]
    direct = [D.sample_molecules(ch, model, alpha_bar=ab, **spec)[0] for spec in specs]
    alone = D.sampler_controls(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, seed=0, runs=runs, workers=1)
    for workers in (1, 2):
        table, got = D.controls_and_samples(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, specs, seed=0,
                                            runs=runs, workers=workers)
        assert table.drop(columns="seconds").to_dict("records") == alone.drop(columns="seconds").to_dict("records")
        for (samples, extra), want in zip(got, direct):
            assert "seconds" in extra and len(samples) == len(want)
            for (z, pos), (z0, pos0) in zip(samples, want):
                assert torch.equal(z, z0) and torch.equal(pos, pos0)
    with pytest.raises(ValueError, match="sample_specs\\[0\\]"):
        D.controls_and_samples(ch, model, data, ab, (5,), 4, cfg.type_scale, 5.0, [dict(method="ddim")], runs=runs,
                               workers=1)


def test_start_at_t_minus_1_schedule_and_default_unchanged():
    """The default start is the old schedule (from T) and the default sampler output is unchanged bit for bit; the
    T − 1 start really starts at T − 1, with the same N(0, I) draw."""
    assert D.step_schedule(20, 5) == D.step_schedule(20, 5, "T") == [20, 16, 12, 8, 4, 0]
    assert D.step_schedule(20, 5, "T-1") == torch.linspace(19, 0, 6).round().long().tolist()
    assert D.step_schedule(20, 5, "T-1")[0] == 19 and D.step_schedule(20, 19, "T-1") == list(range(19, -1, -1))
    with pytest.raises(ValueError):
        D.step_schedule(20, 20, "T-1")   # only T − 1 steps are left
    with pytest.raises(ValueError, match="start"):
        D.step_schedule(20, 5, "T-2")
    ab = ch.cosine_alpha_bar(20, dtype=torch.float64)
    seen = []

    def eps(parts, t):
        seen.append(t)
        return [0.1 * parts[0]]

    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D.run_sampler(ch, eps, x_T.clone(), ab, "ddim", 5, start="T-1")
    assert seen == D.step_schedule(20, 5, "T-1")[:-1] and seen[0] == 19, "the network is first called at T − 1"
    seen.clear()
    D.run_sampler(ch, eps, x_T.clone(), ab, "ddpm", start="T-1", generator=torch.Generator().manual_seed(1))
    assert seen == list(range(19, 0, -1)), "steps default to every step from the start"
    toy_model, _ = D.train_toy(ch, T=30, steps=5, progress=False)
    for method, steps, clip in (("ddpm", 30, 2.4), ("ddpm", 6, None), ("ddim", 6, 2.4)):
        a = D.sample_toy(ch, toy_model, 50, method, steps, clip, seed=3)
        b = D.sample_toy(ch, toy_model, 50, method, steps, clip, seed=3, start="T")
        assert torch.equal(a, b), (method, steps)
        c = D.sample_toy(ch, toy_model, 50, method, steps - 1 if steps == 30 else steps, clip, seed=3, start="T-1")
        assert not torch.equal(a, c)
    torch.manual_seed(0)
    model = D.EGNNDenoiser(4, 8, 1).eval()
    abf = ch.cosine_alpha_bar(20, dtype=torch.float32)
    sizes = [3, 4]
    a, ea = D.sample_molecules(ch, model, sizes, abf, "ddim", 5, 0.25, 5.0, seed=2, trajectory=1)
    b, eb = D.sample_molecules(ch, model, sizes, abf, "ddim", 5, 0.25, 5.0, seed=2, trajectory=1, start="T")
    assert all(torch.equal(p, q) and torch.equal(z, y) for (z, p), (y, q) in zip(a, b))
    c, ec = D.sample_molecules(ch, model, sizes, abf, "ddim", 5, 0.25, None, seed=2, trajectory=1, start="T-1",
                               clip_types=False)
    assert [t for t, _, _ in ec["trajectory"]] == D.step_schedule(20, 5, "T-1")
    assert [t for t, _, _ in ea["trajectory"]] == D.step_schedule(20, 5)
    assert torch.equal(ec["x_T"][0], ea["x_T"][0]), "the same N(0, I) draw, used as the state at T − 1"


def test_first_jump_table_against_a_hand_computation():
    import pandas as pd

    ab = ch.cosine_alpha_bar(500, dtype=torch.float64)
    table = D.first_jump_table(ab, [50, 100, 500])
    r = table.set_index("steps")
    # 50 steps from 500: t₁ = 490; from 499: linspace(499, 0, 51)[1] = 489.02 → 489
    assert r.loc[50, "t₁ from T"] == 490 and r.loc[50, "t₁ from T−1"] == 489
    assert r.loc[50, "factor from T"] == pytest.approx(math.sqrt(float(ab[490]) / float(ab[500])))
    assert r.loc[50, "factor from T−1"] == pytest.approx(math.sqrt(float(ab[489]) / float(ab[499])))
    assert r.loc[50, "factor from T"] == pytest.approx(316, rel=0.01) and r.loc[100, "factor from T"] == pytest.approx(158, rel=0.01)
    assert r.loc[50, "factor from T−1"] == pytest.approx(11, rel=0.01), "near t = T the cosine ᾱ_t ∝ (T − t)²"
    # β_T clipped at 0.999: ᾱ_T = 0.001·ᾱ_T−1, so from T the full-T run's factor is √1000
    assert r.loc[500, "t₁ from T"] == 499 and r.loc[500, "factor from T"] == pytest.approx(math.sqrt(1000), rel=1e-6)
    assert math.isnan(r.loc[500, "factor from T−1"]) and r.loc[500, "t₁ from T−1"] is pd.NA
    both = D.first_jump_table({"toy": (ch.cosine_alpha_bar(1000), [50]), "molecules": (ab, [50])})
    assert list(both["schedule"]) == ["toy", "molecules"] and both.iloc[0]["factor from T"] == pytest.approx(632, rel=0.01)
    with pytest.raises(ValueError):
        D.first_jump_table(ab)
