"""Symmetry experiments on 3D molecules: measuring invariance and equivariance of real models.

What the chapter-2 notebook runs, as tested functions:

===============================  ==========================================================================
``rotation_summary``             many draws of ``random_rotation``: orthogonality, determinants, angles vs Haar.
``invariance_examples``,         the checkers on functions with known symmetry (exact ones and ones broken
``equivariance_examples``        in one way: only about z, not translation-invariant, a pseudo-scalar …).
``CoordinateMLP``                the obvious non-invariant baseline: padded raw coordinates → MLP.
``EGNNRegressor``                a property regressor built from the chapter's ``EGNNLayer`` (invariant).
``model_invariance_errors``      per-molecule invariance error of a model ``model(z, pos)``.
``egnn_stack_errors``            per-molecule invariance (features) / equivariance (coordinates) errors of an
                                 EGNN stack built from the chapter's ``EGNNLayer``.
``relative_change_vs_angle``     relative output change of a model as one molecule turns about an axis.
``haar_angle_tests``             binomial and Kolmogorov–Smirnov tests of rotation angles against Haar.
``permutation_errors``           relative output change under atom reordering alone.
``settings_table``               :data:`SETTINGS` as a table written for reading.
``radius_of_gyration_task``,     does a validation split see a broken symmetry? (the claim "validation improves
                                 but physical fidelity degrades"):
``rotation_experiment``          four models (MLP, MLP + rotation augmentation, distance model, EGNN)
                                 regress the radius of gyration; scored as stored and randomly rotated.
``predictions_under_rotation``   one molecule's predictions as it turns a full circle.
``ratio_words``, ``trend_word``  comparison words computed from numbers, so printed claims match them.
===============================  ==========================================================================

Every function that runs the chapter's code receives the chapter-2 module as ``chapter`` — the learner's
or the reference, from ``mp.load_chapter("ch02_equivariance")`` — and uses its ``random_rotation``,
``invariance_error``, ``equivariance_error``, ``EGNNLayer`` and ``DistanceInvariantModel``. The chapter's
run settings are :data:`SETTINGS`. Chirality (reflections, pseudoscalar outputs) is in
:mod:`molpractice.chirality`.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from torch import nn

from . import geometry3d as g3
from .chirality import signed_volume
from .runtime import RunSettings, get_device, seed_everything
from .splits import random_split

SETTINGS = RunSettings(
    full=dict(max_molecules=None, n_rotations=20000, rotation_batches=5, n_model_checks=20, n_precision=100,
              epochs=30, batch_size=32, lr=2e-3, mlp_hidden=128, egnn_hidden=32, egnn_layers=3, rotation_step_deg=15),
    fast=dict(max_molecules=200, n_rotations=1000, rotation_batches=5, n_model_checks=20, n_precision=30,
              epochs=6, batch_size=32, lr=2e-3, mlp_hidden=128, egnn_hidden=32, egnn_layers=3, rotation_step_deg=15),
    doc=dict(max_molecules="molecules of the QM9-like set used (None = all, about 800)",
             n_rotations="random rotations drawn to look at their angle distribution",
             rotation_batches="equal batches the rotations are tested in (each batch and all draws pooled)",
             n_model_checks="molecules on which untrained models are checked for invariance",
             n_precision="molecules in the float32/float64 precision study",
             epochs="training epochs per model in the radius-of-gyration experiment (cosine schedule)",
             batch_size="molecules per training step", lr="Adam learning rate",
             mlp_hidden="width of the coordinate MLP", egnn_hidden="width of the EGNN features",
             egnn_layers="EGNN layers", rotation_step_deg="angle step (degrees) of the one-molecule rotation scan"),
)
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-9}  # relative errors; the chapter's graders use the same
ELEMENTS = (1, 6, 7, 8, 9)                               # H, C, N, O, F
N_MAX = 29                                               # atoms (with H) of the largest QM9-like molecule
MODEL_NAMES = ("coordinate MLP", "MLP + rotation augmentation", "distance model", "EGNN")


def settings_table(settings: RunSettings = None):
    """``settings.table()`` (default :data:`SETTINGS`) with values written for reading: integers as
    integers, ``None`` as ``"None"`` (not NaN), other floats in ``%g`` form."""
    settings = settings or SETTINGS
    table = settings.table()

    def word(v):
        if v is None:
            return "None"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    for mode, values in (("full", settings.full), ("fast", settings.fast)):
        table[mode] = [word(values[k]) for k in table.index]
    return table


def summarise_rejections(reasons) -> dict:
    """Counts of rejection reasons with every "element(s) X not in C/N/O/F" merged into one
    ``"element other than H/C/N/O/F"`` entry and every "k heavy atoms (> 9)" into ``"more than 9 heavy
    atoms"``; largest first. Also returns the elements seen, under the key ``"elements"`` (sorted str)."""
    import re

    counts, elements = {}, set()
    for r in reasons:
        m = re.match(r"element\(s\) (\S+) not in", r)
        if m:
            elements.update(m.group(1).split(","))
            key = "element other than H/C/N/O/F"
        elif re.match(r"\d+ heavy atoms", r):
            key = "more than 9 heavy atoms"
        else:
            key = r
        counts[key] = counts.get(key, 0) + 1
    out = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    out["elements"] = ", ".join(sorted(elements))
    return out


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ rotations
def haar_median_angle() -> float:
    """Median rotation angle (radians) of a Haar-random rotation: the root of (θ − sin θ)/π = 1/2."""
    lo, hi = 0.0, math.pi
    for _ in range(80):  # bisection; the CDF is increasing on [0, π]
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (mid - math.sin(mid)) / math.pi < 0.5 else (lo, mid)
    return 0.5 * (lo + hi)


def rotation_angles(Rs: torch.Tensor) -> np.ndarray:
    """Rotation angles θ = arccos((tr R − 1)/2) in radians of a stack of rotations Tensor[k, 3, 3]."""
    trace = Rs.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.arccos(((trace - 1) / 2).clamp(-1, 1)).double().numpy()


def rotation_summary(chapter, n: int, seed: int = 0) -> dict:
    """Draw ``n`` rotations with ``chapter.random_rotation`` (float64, one seeded generator).

    Returns:
        ``{"n", "orthogonality_error" (max |R Rᵀ − I|), "det_min", "det_max", "angles" (radians, ndarray),
        "median_angle_deg", "haar_median_angle_deg"}``.
    """
    gen = _generator(seed)
    Rs = torch.stack([chapter.random_rotation(gen, dtype=torch.float64) for _ in range(n)])
    dets = torch.linalg.det(Rs)
    angles = rotation_angles(Rs)
    return {"n": n, "orthogonality_error": float((Rs @ Rs.transpose(1, 2) - torch.eye(3, dtype=Rs.dtype)).abs().amax()),
            "det_min": float(dets.min()), "det_max": float(dets.max()), "angles": angles,
            "median_angle_deg": math.degrees(float(np.median(angles))),
            "haar_median_angle_deg": math.degrees(haar_median_angle())}


def haar_angle_cdf(theta):
    """P(angle ≤ θ) for a Haar-random rotation: (θ − sin θ)/π, θ in radians (Miles 1965)."""
    theta = np.asarray(theta, dtype=float)
    return (theta - np.sin(theta)) / math.pi


def haar_angle_tests(angles, n_batches: int = 5, threshold_deg: float = 45.0, confidence: float = 0.95):
    """Tests of rotation angles against the Haar law, per batch of consecutive draws and for all draws.

    For each of ``n_batches`` equal consecutive batches and for the pooled sample: the number and fraction of
    angles below ``threshold_deg`` with an exact (Clopper–Pearson) ``confidence`` interval and an exact
    two-sided binomial p-value against the Haar fraction :func:`haar_angle_cdf`, and the Kolmogorov–Smirnov
    p-value of all angles of the batch against the Haar CDF. Under the Haar law each p-value is uniform on
    [0, 1] (KS) or conservative (exact binomial, a discrete test), so P(p ≤ α) ≤ α, and across several
    batches and two tests a small one now and then is expected.

    Returns:
        DataFrame indexed ``"batch 1"`` … ``"all"`` with columns ``draws``, ``below``, ``fraction``,
        ``ci_low``, ``ci_high``, ``binomial_p``, ``ks_p``; ``.attrs["haar_fraction"]`` holds the expected
        fraction.
    Raises:
        ValueError: if there are fewer angles than batches or ``n_batches`` < 1.
    """
    import pandas as pd
    from scipy import stats

    angles = np.asarray(angles, dtype=float)
    if n_batches < 1 or len(angles) < n_batches:
        raise ValueError(f"need n_batches >= 1 and at least that many angles, got {n_batches} and {len(angles)}")
    p0 = float(haar_angle_cdf(math.radians(threshold_deg)))
    parts = {f"batch {k + 1}": b for k, b in enumerate(np.array_split(angles, n_batches))}
    parts["all"] = angles
    rows = {}
    for name, a in parts.items():
        below = int((a < math.radians(threshold_deg)).sum())
        test = stats.binomtest(below, len(a), p0)
        ci = test.proportion_ci(confidence_level=confidence, method="exact")
        rows[name] = {"draws": len(a), "below": below, "fraction": below / len(a), "ci_low": ci.low,
                      "ci_high": ci.high, "binomial_p": test.pvalue,
                      "ks_p": stats.kstest(a, haar_angle_cdf).pvalue}
    out = pd.DataFrame(rows).T.astype({"draws": int, "below": int})
    out.attrs["haar_fraction"] = p0
    return out


# ------------------------------------------------------------------------------------------ demo functions
def xy_radius(pos: torch.Tensor) -> torch.Tensor:
    """Σ (x² + y²) about the centroid: invariant to translations and rotations about z only."""
    centred = pos - pos.mean(0)
    return centred[:, :2].pow(2).sum()


def invariance_examples(chapter, pos: torch.Tensor, seed: int = 1):
    """``chapter.invariance_error`` on functions whose symmetry is known: three invariant under what is
    tested (error at rounding level expected) and three not invariant in one way (order-1 error expected) —
    among them the signed volume under reflections, which is odd (it flips sign, as a pseudoscalar should).

    Returns:
        DataFrame indexed by description with columns ``invariant`` (bool: is the function invariant
        under what is tested?) and ``relative error``.
    """
    def err(fn, **kw):
        return chapter.invariance_error(fn, pos, generator=_generator(seed), **kw)

    rows = {
        "radius of gyration": (True, err(lambda p: g3.radius_of_gyration(p))),
        "all pair distances per atom, E(3) + permutations": (True, err(lambda p: torch.cdist(p, p).sum(1),
                                                                       permutations=True, reflections=True)),
        "signed volume, SE(3)": (True, err(signed_volume)),
        "signed volume with reflections (odd: flips sign)": (False, err(signed_volume, reflections=True)),
        "xy-radius (invariant only about z)": (False, err(xy_radius)),
        "distances to the origin (not translation-invariant)": (False, err(lambda p: p.norm(dim=1))),
    }
    return _table(rows, "invariant")


def equivariance_examples(chapter, pos: torch.Tensor, seed: int = 1):
    """``chapter.equivariance_error`` on two equivariant maps and one that is not; a DataFrame as
    :func:`invariance_examples` returns, with the column ``equivariant`` instead of ``invariant``."""
    def err(fn, **kw):
        return chapter.equivariance_error(fn, pos, generator=_generator(seed), **kw)

    stretch = torch.tensor([1.5, 1.0, 1.0], dtype=pos.dtype, device=pos.device)
    rows = {
        "centroid": (True, err(lambda p: p.mean(0, keepdim=True))),
        "shrink towards the centroid, + permutations": (True, err(lambda p: p + 0.2 * (p.mean(0) - p),
                                                                  permutations=True)),
        "x axis stretched by 1.5": (False, err(lambda p: p * stretch)),
    }
    return _table(rows, "equivariant")


def trend_word(first: float, last: float, rel_tol: float = 0.02) -> str:
    """``"fell"``, ``"rose"`` or ``"stayed about the same"`` (within ``rel_tol``) from ``first`` to ``last``."""
    if math.isclose(first, last, rel_tol=rel_tol):
        return "stayed about the same"
    return "fell" if last < first else "rose"


def _table(rows: dict, flag: str):
    import pandas as pd

    return pd.DataFrame({flag: {k: v[0] for k, v in rows.items()},
                         "relative error": {k: v[1] for k, v in rows.items()}})


def ratio_words(value: float, reference: float, lower: str = "better", higher: str = "worse") -> str:
    """How ``value`` compares with ``reference``: ``"6.2× worse than"``, ``"1.3× better than"`` or ``"about
    equal to"`` (within 5 %), with the words for a lower and a higher value (errors: lower is better).

    Raises:
        ValueError: unless both numbers are positive.
    """
    if value <= 0 or reference <= 0:
        raise ValueError(f"ratio of non-positive numbers: {value!r}, {reference!r}")
    if math.isclose(value, reference, rel_tol=0.05):
        return "about equal to"
    word, r = (higher, value / reference) if value > reference else (lower, reference / value)
    return f"{r:.1f}× {word} than"


# ------------------------------------------------------------------------------------------ models
class CoordinateMLP(nn.Module):
    """Padded raw coordinates + one-hot elements of up to ``n_max`` atoms → MLP → one number per molecule.

    Not invariant to rotations, translations or atom order: the baseline the chapter measures.
    Forward: ``model(z, pos, batch=None) -> Tensor[G]`` (PyG ``batch``; G = 1 without it).
    Raises ValueError for a molecule with more than ``n_max`` atoms.
    """

    def __init__(self, hidden: int = 128, n_max: int = N_MAX, elements=ELEMENTS):
        super().__init__()
        self.n_max = n_max
        self.register_buffer("elements", torch.tensor(elements), persistent=False)
        width = n_max * (3 + len(elements))
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, z, pos, batch=None):
        from torch_geometric.utils import to_dense_batch

        if batch is None:
            batch = torch.zeros(len(z), dtype=torch.long, device=z.device)
        largest = int(torch.bincount(batch).max()) if batch.numel() else 0
        if largest > self.n_max:  # to_dense_batch would silently drop the extra atoms
            raise ValueError(f"a molecule has {largest} atoms but this model takes at most n_max={self.n_max}")
        onehot = (z[:, None] == self.elements[None]).to(pos.dtype)
        dense, _ = to_dense_batch(torch.cat([pos, onehot], -1), batch, max_num_nodes=self.n_max)
        return self.net(dense.flatten(1)).squeeze(-1)


class EGNNRegressor(nn.Module):
    """Atom embedding → ``n_layers`` of ``chapter.EGNNLayer`` on the complete graph → MLP per atom →
    mean per molecule. Invariant if the layers are. Forward: ``model(z, pos, batch=None) -> Tensor[G]``."""

    def __init__(self, chapter, hidden: int = 32, n_layers: int = 3, max_z: int = 9):
        super().__init__()
        self.embed = nn.Embedding(max_z + 1, hidden)
        self.layers = nn.ModuleList([chapter.EGNNLayer(hidden) for _ in range(n_layers)])
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, z, pos, batch=None):
        if batch is None:
            batch = torch.zeros(len(z), dtype=torch.long, device=z.device)
        h, edges = self.embed(z).to(pos.dtype), g3.fully_connected_edge_index(batch)
        for layer in self.layers:
            h, pos = layer(h, pos, edges)
        per_atom = self.head(h).squeeze(-1)
        n_graphs = int(batch.max()) + 1
        total = torch.zeros(n_graphs, dtype=per_atom.dtype, device=per_atom.device).index_add_(0, batch, per_atom)
        return total / torch.bincount(batch, minlength=n_graphs).to(total.dtype)


# ------------------------------------------------------------------------------------------ measured errors
def model_invariance_errors(chapter, model, molecules, dtype=torch.float64, device=None, reflections=False,
                            **options) -> np.ndarray:
    """``chapter.invariance_error`` of ``model(z, pos)`` on each molecule (generator seeded by its index).

    Args:
        model: callable ``model(z, pos) -> Tensor``, already in ``dtype`` and on ``device``.
        molecules: ``Data`` with ``z`` and ``pos``.
        reflections: True, False or ``"alternate"`` (improper rotations on every other molecule).
        **options: passed on (``n_trials``, ``permutations``, ``translations``).
    Returns:
        ndarray of one relative error per molecule.
    """
    device = device or get_device()
    out = []
    with torch.no_grad():
        for i, d in enumerate(molecules):
            reflect = bool(i % 2) if reflections == "alternate" else bool(reflections)
            out.append(chapter.invariance_error(lambda p, zz: model(zz, p), d.pos.to(device=device, dtype=dtype),
                                                d.z.to(device), reflections=reflect, generator=_generator(i),
                                                **options))
    return np.array(out)


def permutation_errors(model, molecules, dtype=torch.float64, device=None, seed: int = 0) -> np.ndarray:
    """Relative change ‖f(Px) − f(x)‖ / ‖f(x)‖ of ``model(z, pos)`` when only the atom order changes (one
    random permutation per molecule from one seeded generator; no rotation, no translation)."""
    device = device or get_device()
    gen = _generator(seed)
    out = []
    with torch.no_grad():
        for d in molecules:
            z, pos = d.z.to(device), d.pos.to(device=device, dtype=dtype)
            perm = torch.randperm(len(z), generator=gen).to(device)
            y0, y1 = model(z, pos), model(z[perm], pos[perm])
            out.append(float((y1 - y0).norm() / y0.norm().clamp_min(torch.finfo(dtype).tiny)))
    return np.array(out)


def scaled_egnn_stack(chapter, hidden: int, n_layers: int, weight_scale: float, dtype, device, seed: int):
    """An untrained ``(atom-type embedding, ModuleList of n_layers chapter.EGNNLayer(hidden))`` seeded with
    ``seed``, every layer weight multiplied by ``weight_scale`` (a stress test: with the default 3 the stack moves
    atoms by tens of times the molecule's size, far from a realistic layer; the symmetry must hold anyway)."""
    torch.manual_seed(seed)
    emb = nn.Embedding(10, hidden).to(device=device, dtype=dtype)
    layers = nn.ModuleList([chapter.EGNNLayer(hidden) for _ in range(n_layers)]).to(device=device, dtype=dtype)
    with torch.no_grad():
        for p in layers.parameters():
            p.mul_(weight_scale)
    return emb, layers


def egnn_stack_errors(chapter, molecules, dtype=torch.float64, device=None, hidden: int = 32, n_layers: int = 3,
                      n_trials: int = 4, weight_scale: float = 3.0, seed: int = 0) -> np.ndarray:
    """Errors of an untrained stack of ``chapter.EGNNLayer`` (weights × ``weight_scale``: the stress test of
    :func:`scaled_egnn_stack`), on the complete graph of each molecule, with permutations and
    improper rotations on every other molecule.

    Returns:
        ndarray (n_molecules, 2): feature invariance error, coordinate equivariance error.
    """
    device = device or get_device()
    emb, layers = scaled_egnn_stack(chapter, hidden, n_layers, weight_scale, dtype, device, seed)

    def run(pos, z, edges):
        h = emb(z)
        for layer in layers:
            h, pos = layer(h, pos, edges)
        return h, pos

    rows = []
    with torch.no_grad():
        for i, d in enumerate(molecules):
            pos, z = d.pos.to(device=device, dtype=dtype), d.z.to(device)
            edges = g3.fully_connected_edge_index(len(z), device=device)
            kw = dict(n_trials=n_trials, reflections=bool(i % 2), permutations=True, generator=_generator(i))
            rows.append((chapter.invariance_error(lambda q, a, b: run(q, a, b)[0], pos, z, edges, **kw),
                         chapter.equivariance_error(lambda q, a, b: run(q, a, b)[1], pos, z, edges, **kw)))
    return np.array(rows).reshape(-1, 2)


def relative_change_vs_angle(model, molecule, angles_deg, dtype=torch.float64, axis=(1.0, 2.0, 3.0),
                             device=None) -> np.ndarray:
    """‖f(R_θ·x) − f(x)‖ / ‖f(x)‖ for rotations by each angle (degrees) about ``axis`` (no translation)."""
    device = device or get_device()
    pos, z = molecule.pos.to(dtype), molecule.z.to(device)
    out = []
    with torch.no_grad():
        y0 = model(z, pos.to(device))
        for deg in angles_deg:
            R = g3.rotation_about_axis(axis, math.radians(float(deg)), dtype=dtype)
            y1 = model(z, (pos @ R.T).to(device))
            out.append(float((y1 - y0).norm() / y0.norm()))
    return np.array(out)


# ------------------------------------------------------------------------------------------ Rg experiment
@dataclasses.dataclass
class RgTask:
    """Radius-of-gyration regression: molecules with ``y`` = R_g (Å), a random 80/10/10 split, randomly
    rotated copies of validation and test, and the training mean/std used to standardise targets."""

    train: list
    val: list
    test: list
    val_rotated: list
    test_rotated: list
    y_mean: float
    y_std: float


def rotated_copies(chapter, molecules, seed: int) -> list:
    """Copies of ``molecules``, each turned by its own ``chapter.random_rotation`` (one seeded generator)."""
    gen = _generator(seed)
    out = []
    for d in molecules:
        e = d.clone()
        e.pos = d.pos @ chapter.random_rotation(gen, dtype=d.pos.dtype).T
        out.append(e)
    return out


def radius_of_gyration_task(chapter, molecules, seed: int = 0) -> RgTask:
    """Targets, split (``molpractice.splits.random_split``, seed ``seed``) and rotated evaluation copies
    (validation rotated with seed 1, test with seed 2). The input molecules are not modified."""
    labelled = []
    for d in molecules:
        e = d.clone()
        e.y = g3.radius_of_gyration(d.pos)
        labelled.append(e)
    tr, va, te = (
        [labelled[i] for i in idx.tolist()] for idx in random_split(len(labelled), seed=seed))
    y = torch.cat([d.y for d in tr])
    return RgTask(tr, va, te, rotated_copies(chapter, va, 1), rotated_copies(chapter, te, 2),
                  float(y.mean()), float(y.std()))


def frame_alignment(molecules) -> float:
    """Per molecule max |off-diagonal| / max variance of the 3×3 coordinate covariance, then the median over
    molecules: 0 when every molecule sits in its principal-axes frame, larger for arbitrary orientations."""
    ratios = []
    for d in molecules:
        c = torch.cov(d.pos.T.double())
        ratios.append(float(c.triu(1).abs().max() / c.diagonal().max()))
    return float(np.median(ratios))


def _batch(molecules, device):
    from torch_geometric.data import Batch

    b = Batch.from_data_list(molecules)
    return b.z.to(device), b.pos.to(device), b.batch.to(device), b.y.to(device)


def predict(model, molecules, task: RgTask, device=None) -> torch.Tensor:
    """Predictions in Å (targets un-standardised), on CPU, in eval mode (the mode is restored)."""
    device = device or get_device()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        z, pos, batch, _ = _batch(molecules, device)
        out = model(z, pos, batch) * task.y_std + task.y_mean
    model.train(was_training)
    return out.cpu()


def mae(model, molecules, task: RgTask, device=None) -> float:
    """Mean absolute error (Å) of :func:`predict` against ``y``."""
    return float((predict(model, molecules, task, device) - torch.cat([d.y for d in molecules])).abs().mean())


def fit(chapter, model, task: RgTask, epochs: int, augment: bool = False, batch_size: int = 32, lr: float = 2e-3,
        seed: int = 0, device=None) -> dict:
    """Adam + cosine schedule on the standardised MSE. With ``augment`` every molecule of every batch is
    turned by a fresh ``chapter.random_rotation``.

    Each epoch scores the same validation molecules and the same rotated copies (``task.val_rotated``): two
    prediction passes, from which all three numbers come.

    Returns:
        per-epoch history ``{"val": MAE, "val_rotated": MAE on the rotated copies, "inconsistency":
        mean |f(R·x) − f(x)| over validation molecules}`` (Å), plus ``"per_molecule": {"first": …, "last": …}``:
        at the first and the last epoch, ndarrays (one value per validation molecule, same order) under the same
        three keys — |error|, |error| rotated, |f(R·x) − f(x)| — so the two epochs can be compared paired.
    """
    device = device or get_device()
    seed_everything(seed)
    gen = _generator(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    hist = {"val": [], "val_rotated": [], "inconsistency": [], "per_molecule": {}}
    y_val = torch.cat([d.y for d in task.val])
    for epoch in range(epochs):
        for idx in torch.randperm(len(task.train), generator=gen).split(batch_size):
            z, pos, batch, y = _batch([task.train[i] for i in idx.tolist()], device)
            if augment:
                Rs = torch.stack([chapter.random_rotation(gen, dtype=pos.dtype) for _ in idx]).to(device)
                pos = torch.einsum("nij,nj->ni", Rs[batch], pos)
            loss = nn.functional.mse_loss(model(z, pos, batch), (y - task.y_mean) / task.y_std)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        stored, turned = predict(model, task.val, task, device), predict(model, task.val_rotated, task, device)
        values = {"val": (stored - y_val).abs(), "val_rotated": (turned - y_val).abs(),
                  "inconsistency": (turned - stored).abs()}
        for key, v in values.items():
            hist[key].append(float(v.mean()))
        for when in ("first",) * (epoch == 0) + ("last",) * (epoch == epochs - 1):
            hist["per_molecule"][when] = {key: v.numpy() for key, v in values.items()}
    return hist


def make_models(chapter, mlp_hidden: int = 128, egnn_hidden: int = 32, egnn_layers: int = 3, seed: int = 0) -> dict:
    """``{name: (fresh model, augment?)}`` for :data:`MODEL_NAMES`, each initialised after
    ``torch.manual_seed(seed)``."""
    makers = {"coordinate MLP": (lambda: CoordinateMLP(mlp_hidden), False),
              "MLP + rotation augmentation": (lambda: CoordinateMLP(mlp_hidden), True),
              "distance model": (lambda: chapter.DistanceInvariantModel(readout="mean", cutoff=10.0), False),
              "EGNN": (lambda: EGNNRegressor(chapter, egnn_hidden, egnn_layers), False)}
    out = {}
    for name, (make, augment) in makers.items():
        torch.manual_seed(seed)
        out[name] = (make(), augment)
    return out


def rotation_experiment(chapter, task: RgTask, settings=None, device=None, names=MODEL_NAMES):
    """Train the models of :func:`make_models` on ``task`` and score them on the test set as stored and
    randomly rotated.

    Args:
        settings: an object with ``epochs, batch_size, lr, mlp_hidden, egnn_hidden, egnn_layers``
            (default ``SETTINGS.current()``).
        names: which of :data:`MODEL_NAMES` to train.
    Returns:
        ``(results, histories, models)``: a DataFrame indexed by model name with ``test MAE (Å)``,
        ``rotated test MAE (Å)``, ``rotated / as stored`` and ``train seconds``; per-model histories of
        :func:`fit`; the trained models.
    """
    import pandas as pd

    cfg = settings or SETTINGS.current()
    device = device or get_device()
    made = make_models(chapter, cfg.mlp_hidden, cfg.egnn_hidden, cfg.egnn_layers)
    models, histories, rows = {}, {}, {}
    for name in names:
        model, augment = made[name]
        start = time.perf_counter()
        histories[name] = fit(chapter, model, task, cfg.epochs, augment=augment, batch_size=cfg.batch_size,
                              lr=cfg.lr, device=device)
        seconds = time.perf_counter() - start
        models[name] = model
        test, rotated = mae(model, task.test, task, device), mae(model, task.test_rotated, task, device)
        rows[name] = {"test MAE (Å)": test, "rotated test MAE (Å)": rotated,
                      "rotated / as stored": rotated / test, "train seconds": seconds}
    return pd.DataFrame(rows).T, histories, models


def predictions_under_rotation(models: dict, molecule, task: RgTask, angles_deg, axis=(0.3, -1.0, 0.5),
                               device=None) -> dict:
    """``{name: ndarray of predictions (Å)}`` for ``molecule`` turned by each angle (degrees) about ``axis``."""
    turned = []
    for deg in angles_deg:
        e = molecule.clone()
        e.pos = molecule.pos @ g3.rotation_about_axis(axis, math.radians(float(deg)), dtype=molecule.pos.dtype).T
        turned.append(e)
    return {name: predict(m, turned, task, device).numpy() for name, m in models.items()}
