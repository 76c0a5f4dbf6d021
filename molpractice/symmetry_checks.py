"""Extra symmetry checks for chapter 2: forces (translation-invariant, rotation-equivariant vectors), the EGNN's
displacement field, trained-model margins with the output in Å (and where a standardised output is near 0), a
float64 model with a float32 intermediate, per-molecule paired comparisons of the Rg experiment (models, epochs),
and the one-line texts the notebook prints from them.

Kept apart from :mod:`molpractice.symmetry` (which holds the experiment itself) so each module stays small.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import geometry3d as g3
from . import symmetry


def _haar(gen: torch.Generator, dtype, device) -> torch.Tensor:
    """A Haar-uniform rotation from a normalised 4-D Gaussian (Muller 1959), drawn in float64."""
    q = torch.randn(4, generator=gen, dtype=torch.float64)
    w, x, y, z = (q / q.norm()).tolist()
    R = torch.tensor([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]], dtype=torch.float64)
    return R.to(dtype=dtype, device=device)


def vector_equivariance_error(fn, pos: torch.Tensor, *args, n_trials: int = 4, reflections: bool = False,
                              generator: torch.Generator | None = None) -> dict:
    """Check a per-atom *vector* field such as forces: ``fn(X Qᵀ + 1tᵀ) = fn(X) Qᵀ`` (no ``+ t``).

    Unlike ``equivariance_error`` (positions, which move with a translation), vectors such as forces only turn.
    Both errors are divided by ``‖fn(X)‖`` (Frobenius), a scale in the field's own unit.

    Returns:
        ``{"rotation": max_g ‖fn(gX) − fn(X)Qᵀ‖/‖fn(X)‖ (rotation, optional reflection, and translation),
        "translation": max_t ‖fn(X + 1tᵀ) − fn(X)‖/‖fn(X)‖, "norm": ‖fn(X)‖}``.
    Raises:
        ValueError: when ``fn(X)`` is not an (n, 3) tensor or is exactly zero (a relative error is undefined).
    """
    gen = generator or torch.Generator().manual_seed(0)
    ref = fn(pos, *args)
    if ref.shape != pos.shape:
        raise ValueError(f"fn must return one 3-vector per atom, shape {tuple(pos.shape)}; got {tuple(ref.shape)}")
    norm = float(ref.norm())
    if norm == 0.0:
        raise ValueError("fn(X) is exactly zero: a relative error is undefined; evaluate at a perturbed geometry")
    rot = trans = 0.0
    for k in range(n_trials):
        Q = _haar(gen, pos.dtype, pos.device)
        if reflections:
            Q = -Q
        t = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype=pos.dtype, device=pos.device)
        rot = max(rot, float((fn(pos @ Q.T + t, *args) - ref @ Q.T).norm()) / norm)
        trans = max(trans, float((fn(pos + t, *args) - ref).norm()) / norm)
    return {"rotation": rot, "translation": trans, "norm": norm}


def model_forces(model, z: torch.Tensor):
    """``pos ↦ −∇_pos model(z, pos).sum()``: the forces of an energy-like scalar model."""
    def forces(pos):
        with torch.enable_grad():
            p = pos.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(model(z, p).sum(), p)
        return -g
    return forces


def force_errors(model, molecules, dtype=torch.float64, device=None, jitter: float = 0.1, n_trials: int = 4,
                 seed: int = 0):
    """Force checks of a scalar model at the stored geometries and at geometries jittered by ``jitter`` Å.

    Returns:
        DataFrame, one row per molecule: ``|F| stored``, ``|F| jittered`` (Frobenius norms), and the rotation and
        translation errors of :func:`vector_equivariance_error` (reflections on every other molecule) at the
        jittered geometry.
    """
    import pandas as pd
    device = device or symmetry.get_device()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i, d in enumerate(molecules):
        z, pos = d.z.to(device), d.pos.to(device=device, dtype=dtype)
        f = model_forces(model, z)
        noisy = pos + jitter * torch.randn(pos.shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        e = vector_equivariance_error(f, noisy, n_trials=n_trials, reflections=bool(i % 2), generator=gen)
        rows.append({"|F| stored": float(f(pos).norm()), "|F| jittered": e["norm"],
                     "rotation error": e["rotation"], "translation error": e["translation"]})
    return pd.DataFrame(rows)


def egnn_displacement_errors(chapter, molecules, dtype=torch.float64, device=None, hidden: int = 32,
                             n_layers: int = 3, weight_scale: float = 3.0, seed: int = 0, n_trials: int = 4):
    """The same untrained EGNN stack as :func:`symmetry.egnn_stack_errors`, checked on its *update* alone.

    Returns:
        ndarray (n_molecules, 2): ``‖Δx‖ / spread(x)`` (how far the stack moves atoms relative to the molecule's
        size) and the equivariance error of the displacement field Δx(X) = stack(X) − X, divided by ‖Δx‖
        (Δx must turn with the input and ignore translations; reflections on every other molecule).
    """
    device = device or symmetry.get_device()
    emb, layers = symmetry.scaled_egnn_stack(chapter, hidden, n_layers, weight_scale, dtype, device, seed)
    rows = []
    with torch.no_grad():
        for i, d in enumerate(molecules):
            pos, z = d.pos.to(device=device, dtype=dtype), d.z.to(device)
            edges = g3.fully_connected_edge_index(len(z), device=device)

            def delta(q):
                h, x = emb(z), q
                for layer in layers:
                    h, x = layer(h, x, edges)
                return x - q
            spread = float((pos - pos.mean(0)).norm())
            e = vector_equivariance_error(delta, pos, n_trials=n_trials, reflections=bool(i % 2),
                                          generator=torch.Generator().manual_seed(i))
            rows.append((e["norm"] / spread, max(e["rotation"], e["translation"])))
    return np.array(rows).reshape(-1, 2)


def frame_alignment_values(molecules) -> np.ndarray:
    """Per molecule max |off-diagonal| / max variance of the coordinate covariance (0 = principal axes)."""
    out = []
    for d in molecules:
        c = torch.cov(d.pos.T.double())
        out.append(float(c.triu(1).abs().max() / c.diagonal().max()))
    return np.array(out)


def rotated_error_gap(chapter, model, molecules, task, n_rotations: int = 8, seed: int = 0, device=None):
    """Per molecule: mean over ``n_rotations`` Haar rotations of |error rotated| − |error as stored| (Å)."""
    y = torch.cat([d.y.view(-1) for d in molecules]).numpy()
    stored = np.abs(symmetry.predict(model, molecules, task, device=device).view(-1).numpy() - y)
    rotated = np.mean([np.abs(symmetry.predict(model, symmetry.rotated_copies(chapter, molecules, seed + k), task,
                                               device=device).view(-1).numpy() - y) for k in range(n_rotations)], axis=0)
    return rotated - stored


def wobble_per_molecule(models: dict, molecules, task, angles_deg, device=None) -> dict:
    """``{name: ndarray}``: per molecule, the range (max − min, Å) of a model's prediction over ``angles_deg``
    about one fixed axis (the same for every molecule and model, so the comparison is paired)."""
    out = {name: [] for name in models}
    for d in molecules:
        for name, v in symmetry.predictions_under_rotation(models, d, task, angles_deg, device=device).items():
            out[name].append(float(np.ptp(v)))
    return {k: np.array(v) for k, v in out.items()}


def cosine_envelope(d, cutoff: float) -> np.ndarray:
    """The distance model's cutoff weight ½(cos(πd/cutoff)+1) for d < cutoff, else 0."""
    d = np.asarray(d, dtype=np.float64)
    return np.where(d < cutoff, 0.5 * (np.cos(math.pi * d / cutoff) + 1.0), 0.0)


def paired_text(diff, seed: int = 0, digits: int = 3) -> str:
    """``"mean +0.123, bootstrap 95% CI of the mean [+0.100, +0.150]"`` for per-molecule paired differences (the
    statistic is the mean of the differences, not the difference of two medians printed next to it)."""
    from .rigor import iid_bootstrap_ci
    lo, hi = iid_bootstrap_ci(diff, seed=seed)
    return f"mean {np.mean(diff):+.{digits}f}, bootstrap 95% CI of the mean [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def envelope_summary(molecules, cutoff: float, distances=(2.0, 4.0, 5.0, 6.0, 8.0)) -> str:
    """One line: pairs beyond ``cutoff``, the cosine-envelope weight at ``distances`` and at the median pair distance."""
    d = torch.cat([torch.pdist(m.pos) for m in molecules]).numpy()
    med = float(np.median(d))
    return (f"distance model cutoff {cutoff:.0f} Å: pairs beyond it {int((d > cutoff).sum())} of {d.size} "
            f"(longest {d.max():.2f} Å); envelope weight "
            + ", ".join(f"{float(cosine_envelope(x, cutoff)):.2f} at {x:.0f} Å" for x in distances)
            + f"; median pair distance {med:.2f} Å (weight {float(cosine_envelope(med, cutoff)):.2f})")


def trained_force_errors(model, molecules, device=None, jitter: float = 0.1):
    """:func:`force_errors` of a float32 model evaluated in float64 (the model is returned to float32 after)."""
    try:
        return force_errors(model.double(), molecules, torch.float64, device, jitter=jitter)
    finally:
        model.float()


# ------------------------------------------------------------------------------------------ output scale, bug demos
def output_norms(model, molecules, dtype=torch.float64, device=None) -> np.ndarray:
    """Per molecule ``‖model(z, pos)‖`` of the unmoved molecule: the denominator of its relative invariance error
    (so ``relative error × norm`` is the absolute change)."""
    device = device or symmetry.get_device()
    with torch.no_grad():
        return np.array([float(model(d.z.to(device), d.pos.to(device=device, dtype=dtype)).norm()) for d in molecules])


def untrained_text(errors, norms) -> str:
    """The caveat for a relative error of an *untrained* model: its output's size is arbitrary, so the relative
    error is a statement about that size too; the absolute change (``errors × norms``) is printed next to it."""
    e, f = np.asarray(errors), np.asarray(norms)
    return (f"relative to an untrained output whose size is arbitrary: median |f(X)| {np.median(f):.2g}, median "
            f"absolute change {np.median(e * f):.2g} (same units)")


def broken_text(errors: dict, tolerance: float) -> str:
    """Lines on :func:`errors_in_angstrom`'s ``{(name, how): errors}``: median, smallest and largest per entry (as
    per cent), then the smallest and largest over all entries and how far the smallest sits above ``tolerance``."""
    lines = [f"broken: {k} (trained), output in Å, {how}: median {np.median(v):.1%}, smallest {v.min():.1%}, "
             f"largest {v.max():.1%}" for (k, how), v in errors.items()]
    lo, hi = min(float(np.min(v)) for v in errors.values()), max(float(np.max(v)) for v in errors.values())
    lines.append(f"broken symmetries above, all molecules and settings: from {lo:.1%} to {hi:.1%}; the smallest is "
                 f"{lo / tolerance:.0f}× the float32 tolerance {tolerance:.0e}")
    return "\n".join(lines)


def in_angstrom(model, task):
    """``(z, pos) ↦ model(z, pos) · task.y_std + task.y_mean``: a trained Rg model's output in Å (never near 0),
    instead of the standardised target it was trained on (near 0 for a molecule predicted close to the mean)."""
    def f(z, pos, batch=None):
        return model(z, pos) * task.y_std + task.y_mean
    return f


def float32_intermediate(model):
    """``(z, pos) ↦ model(z, pos rounded to float32 and back)``: a float64 model with one float32 intermediate
    (the positions its distances are computed from) — the kind of bug a float64 tolerance must catch."""
    def f(z, pos, batch=None):
        return model(z, pos.to(torch.float32).to(pos.dtype))
    return f


def output_scale_errors(chapter, model, molecules, task, dtype=torch.float32, device=None, **options):
    """Invariance errors of a trained Rg model measured two ways, per molecule, with the output |f(X)| that divides
    each: on the raw (standardised) output and on the output in Å (:func:`in_angstrom`).

    Returns:
        DataFrame, one row per molecule: ``error (standardised)``, ``|f| (standardised)``, ``error (Å)``,
        ``|f| (Å)`` and ``absolute change (Å)`` (= error (Å) × |f| (Å)).
    """
    import pandas as pd
    device = device or symmetry.get_device()
    std = symmetry.model_invariance_errors(chapter, model, molecules, dtype, device, **options)
    ang = symmetry.model_invariance_errors(chapter, in_angstrom(model, task), molecules, dtype, device, **options)
    # the denominators of the two errors: ‖f(X)‖ of the unmoved molecule
    raw = output_norms(model, molecules, dtype, device)
    f_ang = output_norms(in_angstrom(model, task), molecules, dtype, device)
    return pd.DataFrame({"error (standardised)": std, "|f| (standardised)": raw, "error (Å)": ang,
                         "|f| (Å)": f_ang, "absolute change (Å)": ang * f_ang})


def margin_text(name: str, table, tolerance: float, dtype=torch.float32) -> str:
    """Two lines on :func:`output_scale_errors`: the worst molecule in Å (its |f(X)|, the absolute change and how
    many ``dtype`` steps of |f(X)| that is) and on the standardised output (its |f(X)| and absolute change)."""
    a, s = table["error (Å)"], table["error (standardised)"]
    ia, js = int(a.idxmax()), int(s.idxmax())
    f_a, f_s = table["|f| (Å)"][ia], table["|f| (standardised)"][js]
    step = float(np.spacing(np.asarray(f_a, dtype=np.float32 if dtype == torch.float32 else np.float64)))
    ratio = tolerance / a.max()
    return (f"{name}, output in Å: median {a.median():.1e}, largest {a.max():.1e} = "
            f"{f'{ratio:.0f}' if ratio >= 10 else f'{ratio:.2g}'}× below "
            f"the tolerance {tolerance:.0e} (molecule {ia}: |f(X)| = {f_a:.2f} Å, change "
            f"{table['absolute change (Å)'][ia]:.1e} Å = {table['absolute change (Å)'][ia] / step:.0f} "
            f"{str(dtype).split('.')[1]} steps at that value); {int((a == 0).sum())} of {len(a)} exactly 0\n"
            f"  same model, standardised output (what it was trained on): largest {s.max():.1e} at molecule {js}, "
            f"where |f(X)| = {f_s:.4f} (median |f(X)| {table['|f| (standardised)'].median():.2f}), an absolute change "
            f"of {s.max() * f_s:.1e}")


def abs_error_difference(model_a, model_b, molecules, task, device=None) -> np.ndarray:
    """Per molecule |error of model_a| − |error of model_b| (Å): paired, the same molecules for both."""
    y = torch.cat([d.y.view(-1) for d in molecules])
    err = [(symmetry.predict(m, molecules, task, device=device).view(-1) - y).abs().numpy() for m in (model_a, model_b)]
    return err[0] - err[1]


# ------------------------------------------------------------------------------------------ epoch trends, paired
def ci_word(lo: float, hi: float, down: str = "fell", up: str = "rose") -> str:
    """``up`` if a 95 % interval of a difference (last − first) lies above 0, ``down`` if below, else
    ``"no detectable change"``."""
    if lo > 0:
        return up
    if hi < 0:
        return down
    return "no detectable change"


EPOCH_ROWS = {"val": "validation |error|", "val_rotated": "rotated validation |error|",
              "inconsistency": "rotation inconsistency |f(Rx) − f(x)|"}


def epoch_change_table(history: dict, seed: int = 0):
    """First vs last epoch of :func:`symmetry.fit`'s per-molecule values (same validation molecules and the same
    rotated copies at both epochs, so the differences are paired), with an i.i.d. bootstrap 95 % interval of the
    mean difference over molecules (one training run: the interval covers the choice of validation molecules
    only, not training seeds).

    Returns:
        DataFrame indexed by :data:`EPOCH_ROWS`' labels with columns ``first``, ``last`` (means, Å),
        ``last − first``, ``ci_low``, ``ci_high`` and ``change`` (:func:`ci_word`).
    Raises:
        KeyError: if ``history`` has no per-molecule values (a history from before they were stored).
    """
    import pandas as pd
    from .rigor import iid_bootstrap_ci
    first, last = history["per_molecule"]["first"], history["per_molecule"]["last"]
    rows = {}
    for key, label in EPOCH_ROWS.items():
        diff = np.asarray(last[key]) - np.asarray(first[key])
        lo, hi = iid_bootstrap_ci(diff, seed=seed)
        rows[label] = {"first": float(np.mean(first[key])), "last": float(np.mean(last[key])),
                       "last − first": float(diff.mean()), "ci_low": lo, "ci_high": hi, "change": ci_word(lo, hi)}
    return pd.DataFrame(rows).T


def change_text(table, key: str) -> str:
    """``"fell (0.185 → 0.071 Å; paired 95% CI of the change [-0.159, -0.077])"`` (or ``"showed no detectable
    change (…)"``): one row of
    :func:`epoch_change_table`, by its history key (``"val"``, ``"val_rotated"`` or ``"inconsistency"``)."""
    r = table.loc[EPOCH_ROWS[key]]
    verb = r["change"] if r["change"] in ("fell", "rose") else f"showed {r['change']}"
    return (f"{verb} ({r['first']:.3f} → {r['last']:.3f} Å; paired 95% CI of the change "
            f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}])")


def epoch_change_report(name: str, history: dict, seed: int = 0) -> str:
    """A heading and :func:`epoch_change_table` of one model's history as text (means as ``0.123``, differences
    and interval ends signed)."""
    table = epoch_change_table(history, seed=seed)
    fmt = {c: "{:+.3f}".format for c in ("last − first", "ci_low", "ci_high")} | {c: "{:.3f}".format for c in ("first", "last")}
    n_val = len(history["per_molecule"]["first"]["val"])
    return (f"{name}: epoch 1 vs epoch {len(history['val'])}, means over the same {n_val} validation molecules and their "
            f"rotated copies (Å); paired bootstrap 95% CI of last − first; one training run\n" + table.to_string(formatters=fmt))


def errors_in_angstrom(chapter, models: dict, molecules, task, dtype=torch.float32, device=None, option_sets=None) -> dict:
    """``{(name, how): per-molecule invariance errors}`` of trained Rg models with their output in Å
    (:func:`in_angstrom`), for each ``{how: options for chapter.invariance_error}`` in ``option_sets``."""
    return {(name, how): symmetry.model_invariance_errors(chapter, in_angstrom(m, task), molecules, dtype, device, **o)
            for name, m in models.items() for how, o in (option_sets or {"default": {}}).items()}


def bug_text(errors, tol64: float, tol32: float) -> str:
    """One line on the errors of a float64 model with a float32 intermediate, against both tolerances."""
    e = np.asarray(errors)
    return (f"float64 distance model fed positions rounded to float32: median {np.median(e):.1e}, smallest {e.min():.1e}, "
            f"largest {e.max():.1e}; above the float64 tolerance {tol64:.0e} for {(e > tol64).mean():.0%} of molecules, "
            f"below the float32 one {tol32:.0e} for {(e < tol32).mean():.0%}")


def force_text(fe, jitter: float = 0.1) -> str:
    """One line on :func:`trained_force_errors`' table: median ‖F‖ stored and jittered, largest errors."""
    return (f"forces of the trained distance model (float64, {len(fe)} molecules): median |F| {fe['|F| stored'].median():.2e} "
            f"at the stored MMFF minima vs {fe['|F| jittered'].median():.2e} jittered by {jitter} Å (units of the model "
            f"output per Å); rotation error ≤ {fe['rotation error'].max():.1e}, translation error ≤ "
            f"{fe['translation error'].max():.1e}")


def frame_alignment_report(chapter, task, seed: int = 3):
    """How close the split's molecules sit to their principal-axes frame, as stored vs randomly rotated (training
    molecules, paired) and for validation and test as stored.

    Returns:
        ``(text, stored, rotated)``: two printable lines and the training medians as stored and rotated.
    """
    turned = symmetry.rotated_copies(chapter, task.train, seed=seed)
    stored, rotated = symmetry.frame_alignment(task.train), symmetry.frame_alignment(turned)
    diff = frame_alignment_values(turned) - frame_alignment_values(task.train)   # paired: same molecules
    text = (f"frame alignment (per molecule max |off-diagonal| / max variance of the coordinate covariance, median over "
            f"molecules; 0 = principal axes): {stored:.2f} as stored vs {rotated:.2f} after random rotations; paired "
            f"per-molecule difference (rotated − stored) {paired_text(diff)}; stored frame better aligned for "
            f"{(diff > 0).mean():.0%} of molecules\nframe alignment of the validation and test molecules as stored: "
            f"{symmetry.frame_alignment(task.val):.2f} / {symmetry.frame_alignment(task.test):.2f}")
    return text, stored, rotated


def wobble_text(wob: dict, augmented_mae: float, plain: str = "coordinate MLP",
                augmented: str = "MLP + rotation augmentation") -> str:
    """One line on :func:`wobble_per_molecule`: median range of both MLPs, the *mean* of their per-molecule paired
    differences with its interval (labelled as a mean: it need not equal the difference of the two medians), and how
    often the augmented MLP's range exceeds its own test MAE ``augmented_mae``."""
    diff = wob[plain] - wob[augmented]   # paired: same molecules, same turn
    return (f"all {len(diff)} test molecules: median range over a turn {np.median(wob[plain]):.3f} Å (MLP) vs "
            f"{np.median(wob[augmented]):.3f} Å (augmented); per-molecule paired difference (MLP − augmented) "
            f"{paired_text(diff)} Å; augmented range "
            f"above its own test MAE {augmented_mae:.3f} Å for {(wob[augmented] > augmented_mae).mean():.0%} of molecules")


# ------------------------------------------------------------------------------------------ rotation-sampler history
HISTORY_DRAWS, HISTORY_SEED = 4000, 0   # what an earlier version of notebook 02 drew (and reported) before the rest


def haar_history_text(chapter, n_drawn: int, threshold_deg: float = 45.0) -> str:
    """The rotation-sampler history line, computed the same way in every run mode: the earlier version's
    :data:`HISTORY_DRAWS` draws of seed :data:`HISTORY_SEED` are re-drawn with ``chapter.random_rotation`` and their
    fraction below ``threshold_deg`` is printed, then how this run's ``n_drawn`` draws (the same seed, so the same
    sequence) relate to them: which are the earlier draws and how many were added after seeing them."""
    hist = symmetry.rotation_summary(chapter, HISTORY_DRAWS, seed=HISTORY_SEED)["angles"]
    frac = float((hist < math.radians(threshold_deg)).mean())
    head = (f"history: an earlier version drew {HISTORY_DRAWS} rotations (seed {HISTORY_SEED}) and reported only their "
            f"fraction below {threshold_deg:.0f}°, {frac:.1%} (no KS test then); ")
    if n_drawn > HISTORY_DRAWS:
        return head + (f"this run's first {HISTORY_DRAWS} draws (seed {HISTORY_SEED}, same sequence) are those, and the "
                       f"other {n_drawn - HISTORY_DRAWS} were added after seeing it (post-hoc)")
    return head + (f"this run draws only {n_drawn} (the first {n_drawn} of that same sequence), so its table is not "
                   f"that earlier draw")
