"""Chapter 4's sampling speed-ups change no number: each faster path is compared bit for bit with the plain one.

* the masked sampler (``run_sampler(status=...)``) skips its per-row work while every value is finite: its result
  must equal the unmasked sampler's bit for bit when nothing fails;
* :func:`sample_molecules` re-centres with the centres it has just measured for the trajectory's drift: positions,
  drift and trajectory must equal a run that re-centres with ``_centre`` (the code before the change);
* the toy sampler controls run in worker processes: the table must equal the one computed here, and the intervals
  (now computed after the jobs return) must equal Clopper–Pearson's of the rows' own counts.
"""
import pytest
import torch

from molpractice import diffusion as D
from molpractice import diffusion_sampling as S
from molpractice.diffusion_model import ELEMENTS, _centre, complete_graph_edges
from molpractice.plausibility import clopper_pearson
from solutions import ch04_diffusion as ch


def _bits(x):
    return x.contiguous().view(torch.int32) if x.dtype == torch.float32 else x


def _equal(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


@pytest.fixture(scope="module")
def toy_model():
    return D.train_toy(ch, T=60, steps=30, progress=False)[0]


@pytest.mark.parametrize("method,steps", [("ddpm", 60), ("ddpm", 12), ("ddim", 12)])
def test_masked_sampler_equals_the_unmasked_one_when_nothing_fails(toy_model, method, steps):
    plain = D.sample_toy(ch, toy_model, 300, method, steps, 2.4, seed=3)
    status = {}
    masked = D.sample_toy(ch, toy_model, 300, method, steps, 2.4, seed=3, status=status)
    assert status["k"] == 0 and status["first_step"] is None and not any(status["failed"])
    assert _equal(plain, masked), "masking must not change a run in which every sample stays finite"


def _sample_molecules_with_centre(model, sizes, alpha_bar, pos_clip, seed, trajectory):
    """sample_molecules' DDPM path as it was written before the speed-up: drift from its own sums, then
    re-centring with _centre (a second sum over the same atoms)."""
    gen = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    n_graphs, edges, T = len(sizes), complete_graph_edges(batch), alpha_bar.numel() - 1
    pos_T = ch.remove_mean(torch.randn(batch.numel(), 3, generator=gen), batch)
    h_T = torch.randn(batch.numel(), len(ELEMENTS), generator=gen)
    first = batch < trajectory
    drift, traj = [], [(T, pos_T[first].clone(), h_T[first].clone())]

    def denoise(parts, t):
        return list(model(parts[0], parts[1], torch.full((batch.numel(),), t / T), batch, edges))

    def keep(parts, t):
        pos = parts[0]
        sums = torch.zeros(n_graphs, 3).index_add_(0, batch, pos) / torch.bincount(batch, minlength=n_graphs)[:, None]
        drift.append(float(sums.norm(dim=1).max()))
        parts[0] = _centre(pos, batch, n_graphs)
        traj.append((t, parts[0][first].clone(), parts[1][first].clone()))

    pos, h = S.run_sampler(ch, denoise, [pos_T, h_T], alpha_bar, "ddpm", T, clip=[pos_clip, 0.25],
                           project=[lambda z: ch.remove_mean(z, batch), None], generator=gen, keep=keep)
    return pos, h, drift, traj


def test_recentring_with_the_measured_centres_equals_centre():
    torch.manual_seed(0)
    model = D.EGNNDenoiser(len(ELEMENTS), 16, 2).eval()
    alpha_bar = ch.cosine_alpha_bar(40, dtype=torch.float32)
    sizes = [3, 7, 1, 5, 9, 2]
    pos, h, drift, traj = _sample_molecules_with_centre(model, sizes, alpha_bar, 4.0, seed=5, trajectory=2)
    samples, extra = D.sample_molecules(ch, model, sizes, alpha_bar, "ddpm", 40, 0.25, 4.0, seed=5, trajectory=2)
    assert _equal(torch.cat([p for _, p in samples]), pos)
    assert _equal(torch.cat([z for z, _ in samples]), torch.tensor(ELEMENTS)[h.argmax(dim=1)])
    assert extra["com_drift"] == drift, "the drift is measured before each re-centring, as before"
    assert len(extra["trajectory"]) == len(traj)
    for (t1, p1, h1), (t2, p2, h2) in zip(extra["trajectory"], traj):
        assert t1 == t2 and _equal(p1, p2) and _equal(h1, h2)


def test_toy_controls_in_workers_equal_the_table_computed_here(toy_model):
    runs = [("ddpm", "on", 60), ("ddim", "off", 12), ("ddim", "on, ε̂ kept", 60), ("ddpm", "off", 12)]
    here = D.toy_sampler_controls(ch, toy_model, (12, 60), 200, 2.4, runs=runs, workers=1)
    there = D.toy_sampler_controls(ch, toy_model, (12, 60), 200, 2.4, runs=runs, workers=2)
    assert list(here.columns) == list(there.columns)
    assert list(here.columns)[:8] == ["sampler", "clip", "steps", "n", "within_3sigma", "low", "high", "modes_hit"]
    assert here.drop(columns="seconds").equals(there.drop(columns="seconds"))
    for _, row in here.iterrows():
        k = sum(row["outcomes"])
        assert row["within_3sigma"] == k / row["n"]
        assert (row["low"], row["high"]) == clopper_pearson(k, row["n"])
