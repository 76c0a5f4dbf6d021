"""The chapter-4 graders must reject realistic wrong implementations and accept correct ones written
differently from the reference.

Each wrong variant replaces one function of the reference module. It keeps the reference's argument
checks (the variant runs the reference first, for its ValueErrors only, then computes its own answer), so
the rejection must come from a grader that checks values. Every rejection must carry a message that names
the fix: each test states a phrase the message must contain. Correct variants written differently from the
reference must pass every grader of their exercise, and a stub whose ``raise`` became ``return None`` (or
that drops the documented ValueErrors) must fail.
"""
import itertools
import math

import pytest
import torch

from molpractice.mutation import REJECTIONS, GraderSuite
from solutions import ch04_diffusion as ref

SUITE = GraderSuite("ch04_diffusion")
graders = SUITE.graders
_impl = SUITE.implementation

_EX = {"4.1": "cosine_alpha_bar", "4.2": "q_sample", "4.3": "remove_mean", "4.4": "ddpm_step",
       "4.5": "ddim_step", "4.6": "molecule_from_geometry", "4.7": "sample_metrics", "4.8": "atom_stability",
       "4.9": "bond_length_outliers"}


def _checked(name, core):
    """A variant that validates like the reference (its ValueErrors) and then returns ``core``'s answer."""
    reference = getattr(ref, name)

    def variant(*args, **kwargs):
        reference(*args, **kwargs)
        return core(*args, **kwargs)

    variant.__name__ = core.__name__
    return variant


def _assert_rejected(exercise_id, fn, hint, checked=True):
    """Some grader of ``exercise_id`` rejects ``fn`` with a message containing ``hint``."""
    name = _EX[exercise_id]
    impl = _impl(**{name: _checked(name, fn) if checked else fn})
    messages = []
    for grader in SUITE.graders_of(exercise_id):
        try:
            grader(impl)
        except REJECTIONS as err:
            message = f"{grader.__name__}: {type(err).__name__}: {err}"
            if hint in message:
                return
            messages.append(message)
    assert messages, f"graders of {exercise_id} accepted {fn.__name__}"
    raise AssertionError(f"{fn.__name__} was rejected, but no message mentions {hint!r}: {messages}")


def _assert_accepted(exercise_id, fn):
    impl = _impl(**{_EX[exercise_id]: fn})
    for grader in SUITE.graders_of(exercise_id):
        grader(impl)


def _ids(cases):
    return [c[0].__name__ for c in cases]


def test_every_exercise_has_graders_and_the_reference_passes():
    impl = _impl()
    for ex in _EX:
        for grader in SUITE.graders_of(ex):
            grader(impl)


# ------------------------------------------------------------------------------- stubs
def _returns_none(name):
    real = getattr(ref, name)

    def stub(*args, **kwargs):
        real(*args, **kwargs)  # keep the argument validation of the stub, as the generated exercise does
        return None

    stub.__name__ = f"{name}_returns_none"
    return stub


def _never_raises(name):
    """The reference without its documented ValueErrors (returns None for the inputs it should refuse)."""
    real = getattr(ref, name)

    def variant(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        except ValueError:
            return None

    variant.__name__ = f"{name}_never_raises"
    return variant


@pytest.mark.parametrize("exercise_id", sorted(_EX))
def test_graders_reject_a_stub_that_returns_none(exercise_id):
    stub = _returns_none(_EX[exercise_id])
    assert SUITE.rejections(_impl(**{_EX[exercise_id]: stub}), exercise_id), (
        f"graders of {exercise_id} accepted `return None`")


@pytest.mark.parametrize("exercise_id", sorted(_EX))
def test_graders_reject_an_implementation_that_never_raises(exercise_id):
    _assert_rejected(exercise_id, _never_raises(_EX[exercise_id]), "should raise ValueError", checked=False)


# ------------------------------------------------------------------------------- 4.1 schedule
def _f(T, s, dtype=torch.float64, grid=None):
    t = torch.arange(T + 1, dtype=dtype) if grid is None else grid
    return torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2


def _rebuild(f, max_beta):
    beta = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cat([torch.ones(1, dtype=f.dtype), torch.cumprod(1 - beta, 0)])


def sched_linear(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    beta = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)]).to(dtype)


def sched_no_s(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return ref.cosine_alpha_bar(T, s=0.0, max_beta=max_beta, dtype=dtype)


def sched_s_only_in_numerator(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    return _rebuild(torch.cos((t / T + s) * math.pi / 2) ** 2, max_beta).to(dtype)


def sched_grid_over_T_plus_1(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    return _rebuild(torch.cos((t / (T + 1) + s) / (1 + s) * math.pi / 2) ** 2, max_beta).to(dtype)


def sched_not_normalised(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    f = _f(T, s)
    return (f[0] * _rebuild(f, max_beta)).to(dtype)


def sched_cos_not_squared(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    return _rebuild(torch.cos((t / T + s) / (1 + s) * math.pi / 2), max_beta).to(dtype)


def sched_no_beta_clip(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    f = _f(T, s)
    return (f / f[0]).to(dtype)


def sched_clamps_alpha_bar(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    f = _f(T, s)
    return (f / f[0]).clamp_min(1e-5).to(dtype)


def sched_clips_only_the_last_step(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    f = _f(T, s)
    ab = f / f[0]
    ab[T] = ab[T - 1] * (1 - max_beta) if T > 1 else 1 - max_beta
    return ab.to(dtype)


def sched_hardcoded_max_beta(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return _rebuild(_f(T, s) / _f(T, s)[0], 0.999).to(dtype)


def sched_length_T(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return ref.cosine_alpha_bar(T, s, max_beta, dtype)[1:]


def sched_float32_math(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return _rebuild(_f(T, s, dtype=torch.float32), max_beta).to(dtype)


def sched_ignores_dtype(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return ref.cosine_alpha_bar(T, s, max_beta)


def sched_default_float32(T, s=0.008, max_beta=0.999, dtype=torch.float32):
    return ref.cosine_alpha_bar(T, s, max_beta, dtype)


SCHEDULE_MISTAKES = [
    (sched_linear, "not a linear β schedule"), (sched_no_s, "the offset s"),
    (sched_s_only_in_numerator, "the offset s"), (sched_grid_over_T_plus_1, "time grid t/T"),
    (sched_not_normalised, "divide f(t) by f(0)"), (sched_cos_not_squared, "square of the cosine"),
    (sched_no_beta_clip, "clip β_t"), (sched_clamps_alpha_bar, "clip β_t"),
    (sched_clips_only_the_last_step, "rebuild ᾱ_t = Π (1 − min(β_k, max_beta))"),
    (sched_hardcoded_max_beta, "use the s and max_beta arguments"), (sched_length_T, "T + 1 values"),
    (sched_float32_math, "compute in float64"), (sched_ignores_dtype, "honour dtype=torch.float32"),
    (sched_default_float32, "float64 tensor by default"),
]


@pytest.mark.parametrize("broken, hint", SCHEDULE_MISTAKES, ids=_ids(SCHEDULE_MISTAKES))
def test_schedule_graders_reject(broken, hint):
    _assert_rejected("4.1", broken, hint)


def sched_loop_correct(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    ref.cosine_alpha_bar(T, s, max_beta)  # the documented ValueErrors
    f = [math.cos((k / T + s) / (1 + s) * math.pi / 2) ** 2 for k in range(T + 1)]
    out = [1.0]
    for k in range(1, T + 1):
        out.append(out[-1] * (1 - min(1 - f[k] / f[k - 1], max_beta)))
    return torch.tensor(out, dtype=torch.float64).to(dtype)


def sched_log_space_correct(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    ref.cosine_alpha_bar(T, s, max_beta)
    grid = torch.linspace(0, 1, T + 1, dtype=torch.float64)
    log_f = 2 * torch.log(torch.cos((grid + s) / (1 + s) * math.pi / 2).clamp_min(1e-300))
    log_alpha = torch.maximum(log_f[1:] - log_f[:-1], torch.tensor(math.log1p(-max_beta), dtype=torch.float64))
    return torch.exp(torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(log_alpha, 0)])).to(dtype)


@pytest.mark.parametrize("correct", [sched_loop_correct, sched_log_space_correct])
def test_schedule_graders_accept_correct_variants(correct):
    _assert_accepted("4.1", correct)


# ------------------------------------------------------------------------------- 4.2 q_sample
def _rows(a, t):
    a = a.to(torch.float64)
    return a[:, None] if a.ndim else a


def q_no_sqrt(x0, t, noise, ab):
    a = _rows(ab[t], t)
    return (a * x0.double() + (1 - a) * noise.double()).to(x0.dtype)


def q_noise_term_without_sqrt(x0, t, noise, ab):
    a = _rows(ab[t], t)
    return (a.sqrt() * x0.double() + (1 - a) * noise.double()).to(x0.dtype)


def q_swapped(x0, t, noise, ab):
    a = _rows(ab[t], t)
    return ((1 - a).sqrt() * x0.double() + a.sqrt() * noise.double()).to(x0.dtype)


def q_broadcast_columns(x0, t, noise, ab):
    a = ab[t].to(torch.float64)  # (n,) multiplies columns when x0 is square
    return (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).to(x0.dtype)


def q_off_by_one(x0, t, noise, ab):
    a = _rows(ab[(t - 1) if isinstance(t, int) else (t - 1).clamp_min(0)], t)
    return (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).to(x0.dtype)


def q_one_minus_sqrt(x0, t, noise, ab):
    a = _rows(ab[t], t)
    return (a.sqrt() * x0.double() + (1 - a.sqrt()) * noise.double()).to(x0.dtype)


def q_in_place(x0, t, noise, ab):
    a = _rows(ab[t], t).to(x0.dtype)
    return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * noise)


def q_returns_float64(x0, t, noise, ab):
    a = _rows(ab[t], t)
    return a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()


def q_unsqueezes_every_tensor_t(x0, t, noise, ab):
    a = ab[t].to(torch.float64)
    a = a[:, None] if isinstance(t, torch.Tensor) else a
    return (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).to(x0.dtype)


def q_first_row_step(x0, t, noise, ab):
    t = int(t.reshape(-1)[0]) if isinstance(t, torch.Tensor) else t
    a = float(ab[t])
    return (math.sqrt(a) * x0.double() + math.sqrt(1 - a) * noise.double()).to(x0.dtype)


Q_MISTAKES = [
    (q_no_sqrt, "square roots of ᾱ_t and 1 − ᾱ_t"), (q_noise_term_without_sqrt, "square roots of ᾱ_t and 1 − ᾱ_t"),
    (q_swapped, "sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·noise"), (q_broadcast_columns, "ᾱ[t][:, None]"),
    (q_off_by_one, "index ᾱ at t"), (q_one_minus_sqrt, "sqrt(1 − ᾱ_t)"),
    (q_in_place, "must not modify its inputs"), (q_returns_float64, "keep the input dtype"),
    (q_unsqueezes_every_tensor_t, "0-d step tensor"), (q_first_row_step, "row i uses t[i]"),
]


@pytest.mark.parametrize("broken, hint", Q_MISTAKES, ids=_ids(Q_MISTAKES))
def test_q_sample_graders_reject(broken, hint):
    _assert_rejected("4.2", broken, hint)


def q_correct_gather(x0, t, noise, alpha_bar):
    ref.q_sample(x0, t, noise, alpha_bar)
    t = torch.as_tensor(t)
    a = alpha_bar.double().index_select(0, t.reshape(-1)).reshape(-1, 1)
    return (torch.sqrt(a) * x0.double() + torch.sqrt(1 - a) * noise.double()).to(x0.dtype)


def q_correct_lerp_of_variances(x0, t, noise, alpha_bar):
    ref.q_sample(x0, t, noise, alpha_bar)
    t = torch.as_tensor(t).expand(x0.shape[0])
    signal = alpha_bar.double()[t].sqrt().unsqueeze(-1)
    return torch.addcmul(signal * x0.double(), torch.sqrt(1 - signal ** 2), noise.double()).to(x0.dtype)


@pytest.mark.parametrize("correct", [q_correct_gather, q_correct_lerp_of_variances])
def test_q_sample_graders_accept_correct_variants(correct):
    _assert_accepted("4.2", correct)


# ------------------------------------------------------------------------------- 4.3 remove_mean
def rm_whole_batch(pos, batch=None):
    return pos - pos.mean(0, keepdim=True)


def rm_in_place(pos, batch=None):
    return pos.copy_(ref.remove_mean(pos, batch))


def rm_divide_by_all_atoms(pos, batch=None):
    if batch is None:
        return pos - pos.mean(0)
    g = int(batch.max()) + 1
    sums = torch.zeros(g, pos.shape[1], dtype=pos.dtype).index_add_(0, batch, pos)
    return pos - (sums / pos.shape[0])[batch]


def rm_assumes_contiguous(pos, batch=None):
    if batch is None:
        return pos - pos.mean(0)
    counts = [c for c in torch.bincount(batch).tolist() if c]
    return torch.cat([p - p.mean(0) for p in torch.split(pos, counts)])


def rm_distinct_ids_as_graph_count(pos, batch=None):
    if batch is None:
        return pos - pos.mean(0)
    g = len(batch.unique())
    sums = torch.zeros(g, pos.shape[1], dtype=pos.dtype).index_add_(0, batch, pos)
    counts = torch.bincount(batch, minlength=g).to(pos.dtype)
    return pos - (sums / counts[:g, None])[batch]


def rm_subtracts_the_sum(pos, batch=None):
    batch = torch.zeros(pos.shape[0], dtype=torch.long) if batch is None else batch
    g = int(batch.max()) + 1
    sums = torch.zeros(g, pos.shape[1], dtype=pos.dtype).index_add_(0, batch, pos)
    return pos - sums[batch]


def rm_none_means_each_row(pos, batch=None):
    batch = torch.arange(pos.shape[0]) if batch is None else batch
    return ref.remove_mean(pos, batch)


def rm_float32_sums(pos, batch=None):
    batch = torch.zeros(pos.shape[0], dtype=torch.long) if batch is None else batch
    g = int(batch.max()) + 1
    sums = torch.zeros(g, pos.shape[1]).index_add_(0, batch, pos.float())
    counts = torch.bincount(batch, minlength=g).clamp_min(1)
    return pos - (sums / counts[:, None]).to(pos.dtype)[batch]


RM_MISTAKES = [
    (rm_whole_batch, "subtract each molecule's own mean"), (rm_in_place, "leave pos unchanged"),
    (rm_divide_by_all_atoms, "its own number of atoms"), (rm_assumes_contiguous, "subtract each molecule's own mean"),
    (rm_distinct_ids_as_graph_count, "ids may have gaps"), (rm_subtracts_the_sum, "its own number of atoms"),
    (rm_none_means_each_row, "batch=None means one molecule"), (rm_float32_sums, "in pos.dtype"),
]


@pytest.mark.parametrize("broken, hint", RM_MISTAKES, ids=_ids(RM_MISTAKES))
def test_remove_mean_graders_reject(broken, hint):
    _assert_rejected("4.3", broken, hint)


def rm_correct_loop(pos, batch=None):
    ref.remove_mean(pos, batch)
    out = pos.clone()
    if batch is None:
        batch = torch.zeros(pos.shape[0], dtype=torch.long)
    for g in batch.unique():
        m = batch == g
        out[m] = pos[m] - pos[m].mean(0)
    return out


def rm_correct_scatter_mean(pos, batch=None):
    ref.remove_mean(pos, batch)
    if batch is None:
        return pos - pos.mean(0, keepdim=True)
    _, inverse = torch.unique(batch, return_inverse=True)               # ids compacted to 0 … G − 1
    index = inverse[:, None].expand(-1, pos.shape[1])
    means = torch.zeros(int(inverse.max()) + 1, pos.shape[1], dtype=pos.dtype).scatter_reduce(
        0, index, pos, reduce="mean", include_self=False)
    return pos - means.gather(0, index)


@pytest.mark.parametrize("correct", [rm_correct_loop, rm_correct_scatter_mean])
def test_remove_mean_graders_accept_correct_variants(correct):
    _assert_accepted("4.3", correct)


# ------------------------------------------------------------------------------- 4.4 ddpm_step
def _clip_rows(v, clip):
    return v * (clip / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1)


def _ddpm(mistake=None):
    def ddpm_step(x_t, t, eps_pred, alpha_bar, noise=None, clip=None):
        t = int(t)
        if mistake == "one_based_index":
            a, ap = float(alpha_bar[t - 1]), float(alpha_bar[t - 2])
        else:
            a, ap = float(alpha_bar[t]), float(alpha_bar[t - 1])
        alpha, beta = (a, 1 - a) if mistake == "per_step_from_cumulative" else (a / ap, 1 - a / ap)
        a0 = ap if mistake == "x0_uses_previous_step" else a
        root = a0 if mistake == "no_sqrt_alpha_bar" else math.sqrt(a0)
        sign = -1.0 if mistake == "sign_flip" else 1.0
        x0 = (x_t - sign * math.sqrt(1 - a0) * eps_pred) / root
        if clip is not None and mistake not in ("no_clip", "clip_the_output") \
                and not (mistake == "clip_skipped_at_last_step" and t == 1):
            if mistake == "clamp_coordinates":
                x0 = x0.clamp(-clip, clip)
            elif mistake == "clip_always_rescales":
                x0 = x0 * clip / x0.norm(dim=-1, keepdim=True)
            else:
                x0 = _clip_rows(x0, clip)
        c0 = math.sqrt(a) if mistake == "x0_coefficient_uses_t" else math.sqrt(ap)
        if mistake == "eps_form_with_alpha_bar":
            mean = (x_t - beta / math.sqrt(1 - a) * eps_pred) / math.sqrt(a)
        else:
            mean = c0 * beta / (1 - a) * x0 + math.sqrt(alpha) * (1 - ap) / (1 - a) * x_t
        var = beta * (1 - ap) / (1 - a)
        if mistake == "beta_variance" or (mistake == "beta_variance_at_last_step" and t == 1):
            var = beta
        if mistake == "no_noise" or (mistake == "no_noise_from_t_2" and t <= 2):
            var = 0.0
        if noise is None:
            noise = torch.randn_like(x_t) if mistake != "fixed_seed" else \
                torch.randn(x_t.shape, generator=torch.Generator().manual_seed(0), dtype=x_t.dtype)
        out = mean + (var if mistake == "noise_scaled_by_variance" else math.sqrt(max(var, 0.0))) * noise
        return _clip_rows(out, clip) if mistake == "clip_the_output" and clip is not None else out

    ddpm_step.__name__ = f"ddpm_{mistake}"
    return ddpm_step


DDPM_MISTAKES = [
    ("beta_variance", "posterior variance is β̃_t"), ("beta_variance_at_last_step", "the last step adds no noise"),
    ("no_noise", "added no noise"), ("no_noise_from_t_2", "at t = 2 ddpm_step added no noise"),
    ("noise_scaled_by_variance", "standard deviation sqrt(β̃_t)"), ("fixed_seed", "draw fresh noise"),
    ("one_based_index", "indexed one step early"), ("x0_uses_previous_step", "swapped in x̂₀ or in μ̃"),
    ("x0_coefficient_uses_t", "swapped in x̂₀ or in μ̃"), ("per_step_from_cumulative", "one step's quantities"),
    ("sign_flip", "sign of ε̂"), ("no_sqrt_alpha_bar", "divide by sqrt(ᾱ_t)"),
    ("eps_form_with_alpha_bar", "divide by sqrt(α_t)"), ("no_clip", "clip x̂₀ before the posterior mean"),
    ("clamp_coordinates", "rows whose norm exceeds clip"), ("clip_the_output", "clip x̂₀ before the posterior mean"),
    ("clip_skipped_at_last_step", "the clip applies at every step"), ("clip_always_rescales", "change nothing"),
]


@pytest.mark.parametrize("mistake, hint", DDPM_MISTAKES, ids=[m for m, _ in DDPM_MISTAKES])
def test_ddpm_graders_reject(mistake, hint):
    _assert_rejected("4.4", _ddpm(mistake), hint)


def ddpm_eps_form_correct(x_t, t, eps_pred, alpha_bar, noise=None, clip=None):
    """ε form; with a clip, ε̂ is recomputed from the clipped x̂₀ (the same posterior mean)."""
    ab = alpha_bar.double()
    a, ap = ab[t], ab[t - 1]
    if clip is not None:
        x0 = (x_t.double() - (1 - a).sqrt() * eps_pred.double()) / a.sqrt()
        r = x0.norm(dim=1, keepdim=True)
        x0 = torch.where(r > clip, x0 * clip / r, x0)
        eps_pred = ((x_t.double() - a.sqrt() * x0) / (1 - a).sqrt()).to(x_t.dtype)
    beta = 1 - a / ap
    mean = (x_t.double() - beta / (1 - a).sqrt() * eps_pred.double()) / (1 - beta).sqrt()
    sd = (beta * (1 - ap) / (1 - a)).sqrt()
    z = torch.randn_like(x_t) if noise is None else noise
    return (mean + sd * z.double()).to(x_t.dtype)


@pytest.mark.parametrize("correct", [ddpm_eps_form_correct, _ddpm(None)], ids=["eps_form", "x0_form_variant"])
def test_ddpm_graders_accept_correct_variants(correct):
    _assert_accepted("4.4", _checked("ddpm_step", correct))


# ------------------------------------------------------------------------------- 4.5 ddim_step
def _ddim(mistake=None):
    def ddim_step(x_t, t, t_prev, eps_pred, alpha_bar, eta=0.0, noise=None, clip=None):
        t, t_prev = int(t), int(t_prev)
        if mistake == "ignores_t_prev":
            t_prev = t - 1
        if mistake == "one_based_index":
            a, ap = float(alpha_bar[t - 1]), float(alpha_bar[t_prev - 1]) if t_prev else 1.0
        else:
            a, ap = float(alpha_bar[t]), float(alpha_bar[t_prev])
        a0 = ap if mistake == "x0_uses_t_prev" else a
        sign = -1.0 if mistake == "sign_flip" else 1.0
        x0 = (x_t - sign * math.sqrt(1 - a0) * eps_pred) / math.sqrt(a0)
        if clip is not None and mistake not in ("no_clip", "clip_the_output"):
            x0c = _clip_rows(x0, clip)
            bound = x0.norm(dim=-1, keepdim=True) > clip
            if mistake == "eps_rederived_with_t_prev":
                eps_pred = torch.where(bound, (x_t - math.sqrt(ap) * x0c) / math.sqrt(1 - ap), eps_pred)
            elif mistake != "eps_kept_after_clip":
                eps_pred = torch.where(bound, (x_t - math.sqrt(a) * x0c) / math.sqrt(1 - a), eps_pred)
            x0 = x0c
        sigma = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        if mistake == "sigma_without_sqrt":
            sigma = eta * (1 - ap) / (1 - a) * (1 - a / ap)
        elif mistake == "sigma_one_factor":
            sigma = eta * math.sqrt(1 - a / ap)
        elif mistake == "sigma_eta_squared":
            sigma = eta ** 2 * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        base = 1 - a if mistake == "coefficient_uses_t" else 1 - ap
        direction = math.sqrt(base) if mistake == "direction_ignores_sigma" else math.sqrt(max(base - sigma ** 2, 0))
        out = math.sqrt(ap) * x0 + direction * eps_pred
        if mistake == "noise_at_the_last_step" and t_prev == 0 and eta > 0:
            return out + eta * math.sqrt(1 - a) * (torch.randn_like(x_t) if noise is None else noise)
        if mistake == "always_noisy":
            return out + 0.01 * torch.randn_like(x_t)
        if mistake == "given_noise_always_added" and noise is not None:
            return out + max(sigma, 0.01) * noise
        if mistake == "draws_unused_noise" and noise is None:
            noise = torch.randn_like(x_t)
        if sigma > 0 and mistake != "no_noise_term":
            if noise is None:
                noise = torch.zeros_like(x_t) if mistake == "ignores_noise_none" else torch.randn_like(x_t)
            out = out + sigma * noise
        return _clip_rows(out, clip) if mistake == "clip_the_output" and clip is not None else out

    ddim_step.__name__ = f"ddim_{mistake}"
    return ddim_step


DDIM_MISTAKES = [
    ("ignores_t_prev", "land on t_prev"), ("one_based_index", "indexed one step early"),
    ("x0_uses_t_prev", "x̂₀ uses ᾱ_(t_prev)"), ("sign_flip", "sign of ε̂"),
    ("coefficient_uses_t", "ε̂ coefficient uses ᾱ_t"), ("no_clip", "clip each row of x̂₀"),
    ("clip_the_output", "not the result"), ("eps_kept_after_clip", "re-derive ε̂ from the clipped x̂₀"),
    ("eps_rederived_with_t_prev", "of the current step t"),
    ("sigma_without_sqrt", "take the square roots"), ("sigma_one_factor", "σ misses a factor"),
    ("sigma_eta_squared", "not with η²"), ("direction_ignores_sigma", "subtract σ²"),
    ("no_noise_term", "adds σ·noise"), ("noise_at_the_last_step", "the last step adds no noise"),
    ("always_noisy", "deterministic"),
    ("given_noise_always_added", "no noise (given or drawn)"), ("ignores_noise_none", "draw fresh noise"),
    ("draws_unused_noise", "unless σ > 0"),
]


@pytest.mark.parametrize("mistake, hint", DDIM_MISTAKES, ids=[m for m, _ in DDIM_MISTAKES])
def test_ddim_graders_reject(mistake, hint):
    _assert_rejected("4.5", _ddim(mistake), hint)


def ddim_rescaled_form_correct(x_t, t, t_prev, eps_pred, alpha_bar, eta=0.0, noise=None, clip=None):
    """x_(t') = sqrt(ᾱ_t'/ᾱ_t) x_t + c ε̂ + σ z, falling back to x̂₀ form only when clipping."""
    ab = alpha_bar.double()
    a, ap = ab[t], ab[t_prev]
    sigma = eta * torch.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    if clip is None:
        c = torch.sqrt(1 - ap - sigma ** 2) - torch.sqrt(ap * (1 - a) / a)
        out = torch.sqrt(ap / a) * x_t.double() + c * eps_pred.double()
    else:
        x0 = (x_t.double() - torch.sqrt(1 - a) * eps_pred.double()) / torch.sqrt(a)
        norms = torch.linalg.vector_norm(x0, dim=1, keepdim=True)
        x0 = torch.where(norms > clip, x0 / norms * clip, x0)
        eps = (x_t.double() - torch.sqrt(a) * x0) / torch.sqrt(1 - a)   # every row: equal where nothing was clipped
        out = torch.sqrt(ap) * x0 + torch.sqrt(1 - ap - sigma ** 2) * eps
    if float(sigma) > 0:
        out = out + sigma * (torch.randn_like(x_t) if noise is None else noise).double()
    return out.to(x_t.dtype)


@pytest.mark.parametrize("correct", [ddim_rescaled_form_correct, _ddim(None)], ids=["rescaled_form", "x0_form"])
def test_ddim_graders_accept_correct_variants(correct):
    _assert_accepted("4.5", _checked("ddim_step", correct))


# ------------------------------------------------------------------------------- 4.6 perception
def _build(z, bonds, sanitize=True):
    from rdkit import Chem

    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (i, j), o in bonds.items():
        rw.AddBond(i, j, kinds[o])
    mol = rw.GetMol()
    if not sanitize:
        mol.UpdatePropertyCache(strict=False)
        return mol
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001
        return None
    return mol


def _key(a, b):
    return (min(a, b), max(a, b))


COVALENT_RADIUS = {6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57}  # Å (Cordero et al. 2008)


def _perception(*, clash=True, cutoff=None, triple_mid=True, triple_needs_free=True, w_min=0.5, double_rule=None,
                matching="max_weight", check_valence=True, fragments_ok=True, add_hs=False):
    """The documented rule with one named part changed (``cutoff(za, zb)`` → bond length limit in Å)."""
    import networkx as nx

    cutoff = cutoff or (lambda za, zb: ref.SINGLE[_key(za, zb)] + ref.BOND_TOLERANCE)

    def perceive(atomic_numbers, pos):
        z = torch.as_tensor(atomic_numbers).tolist()
        d = torch.cdist(pos.double(), pos.double())
        n = len(z)
        if clash and n > 1 and float((d + 1e9 * torch.eye(n, dtype=d.dtype)).min()) < ref.MIN_DISTANCE:
            return None
        order = {(i, j): 1 for i, j in itertools.combinations(range(n), 2) if float(d[i, j]) < cutoff(z[i], z[j])}
        free = [ref.VALENCE[a] for a in z]
        for i, j in order:
            free[i] -= 1
            free[j] -= 1
        if check_valence and min(free) < 0:
            return None
        for (i, j) in order:
            k = _key(z[i], z[j])
            if triple_mid and k in ref.TRIPLE and float(d[i, j]) < (ref.DOUBLE[k] + ref.TRIPLE[k]) / 2 \
                    and (not triple_needs_free or min(free[i], free[j]) >= 2):
                order[(i, j)] = 3
                free[i] -= 2
                free[j] -= 2
        cands = []
        for (i, j), o in order.items():
            k = _key(z[i], z[j])
            if o == 1 and k in ref.DOUBLE and free[i] >= 1 and free[j] >= 1:
                w = (ref.SINGLE[k] - float(d[i, j])) / (ref.SINGLE[k] - ref.DOUBLE[k])
                ok = double_rule(k, float(d[i, j])) if double_rule else w > w_min
                if ok:
                    cands.append((w, i, j))
        if matching == "max_weight":
            g = nx.Graph()
            for w, i, j in cands:
                g.add_edge(i, j, weight=w)
            chosen = [_key(i, j) for i, j in nx.max_weight_matching(g)]
        else:  # greedy, shortest (relative) first
            chosen, used = [], set()
            for w, i, j in sorted(cands, reverse=True):
                if i not in used and j not in used:
                    chosen.append((i, j))
                    used |= {i, j}
        for e in chosen:
            order[e] = 2
        if not fragments_ok and n > 1:
            g = nx.Graph(list(order))
            g.add_nodes_from(range(n))
            if not nx.is_connected(g):
                return None
        mol = _build(z, order, sanitize=check_valence)
        if add_hs and mol is not None:
            from rdkit import Chem

            mol = Chem.AddHs(mol)
        return mol

    return perceive


def perceive_single_bonds_only(atomic_numbers, pos):
    return _perception(triple_mid=False, w_min=math.inf)(atomic_numbers, pos)


def perceive_naive_margins(atomic_numbers, pos):
    """EDM-style distance table: single < l1 + 0.10, double < l2 + 0.05, triple < l3 + 0.03 (Å)."""
    z = torch.as_tensor(atomic_numbers).tolist()
    d = torch.cdist(pos.double(), pos.double())
    bonds = {}
    for i, j in itertools.combinations(range(len(z)), 2):
        k, x = _key(z[i], z[j]), float(d[i, j])
        if x < ref.SINGLE[k] + 0.10:
            order = 1
            if k in ref.DOUBLE and x < ref.DOUBLE[k] + 0.05:
                order = 3 if k in ref.TRIPLE and x < ref.TRIPLE[k] + 0.03 else 2
            bonds[(i, j)] = order
    return _build(z, bonds)


def perceive_greedy_doubles(atomic_numbers, pos):
    return _perception(matching="greedy")(atomic_numbers, pos)


def perceive_never_rejects(atomic_numbers, pos):
    return _perception(check_valence=False)(atomic_numbers, pos)


def perceive_no_clash_check(atomic_numbers, pos):
    return _perception(clash=False)(atomic_numbers, pos)


def perceive_covalent_radii_without_tolerance(atomic_numbers, pos):
    return _perception(cutoff=lambda a, b: COVALENT_RADIUS[a] + COVALENT_RADIUS[b])(atomic_numbers, pos)


def perceive_one_cutoff_for_all_pairs(atomic_numbers, pos):
    return _perception(cutoff=lambda a, b: 1.54 + 0.25)(atomic_numbers, pos)


def perceive_tolerance_too_small(atomic_numbers, pos):
    return _perception(cutoff=lambda a, b: ref.SINGLE[_key(a, b)] + 0.15)(atomic_numbers, pos)


def perceive_double_by_absolute_margin(atomic_numbers, pos):
    return _perception(double_rule=lambda k, d: d < ref.DOUBLE[k] + 0.05)(atomic_numbers, pos)


def perceive_any_shortening_is_double(atomic_numbers, pos):
    return _perception(w_min=0.0)(atomic_numbers, pos)


def perceive_triple_ignores_free_valence(atomic_numbers, pos):
    return _perception(triple_needs_free=False)(atomic_numbers, pos)


def perceive_no_triple_bonds(atomic_numbers, pos):
    return _perception(triple_mid=False)(atomic_numbers, pos)


def perceive_fragments_invalid(atomic_numbers, pos):
    return _perception(fragments_ok=False)(atomic_numbers, pos)


def perceive_explicit_hydrogens(atomic_numbers, pos):
    return _perception(add_hs=True)(atomic_numbers, pos)


def perceive_charged_nitrogen(atomic_numbers, pos):
    """Lets N take a fourth bond as ammonium N+ (EDM's 'allowed bonds' with charges) instead of returning None."""
    from rdkit import Chem

    z = torch.as_tensor(atomic_numbers).tolist()
    d = torch.cdist(pos.double(), pos.double())
    bonded = [sum(1 for j in range(len(z)) if j != i and float(d[i, j]) < ref.SINGLE[_key(z[i], z[j])] + 0.25)
              for i in range(len(z))]
    charged = [i for i, a in enumerate(z) if a == 7 and bonded[i] == 4]
    if not charged:
        return ref.molecule_from_geometry(atomic_numbers, pos)
    bonds = {(i, j): 1 for i, j in itertools.combinations(range(len(z)), 2)
             if float(d[i, j]) < ref.SINGLE[_key(z[i], z[j])] + 0.25}
    mol = _build(z, bonds, sanitize=False)
    rw = Chem.RWMol(mol)
    for i in charged:
        rw.GetAtomWithIdx(i).SetFormalCharge(1)
    out = rw.GetMol()
    Chem.SanitizeMol(out)
    return out


def perceive_single_atom_crashes(atomic_numbers, pos):
    d = torch.cdist(pos.double(), pos.double())
    off = ~torch.eye(len(d), dtype=torch.bool)
    if float(d[off].min()) < ref.MIN_DISTANCE:  # no off-diagonal entry for one atom
        return None
    return ref.molecule_from_geometry(atomic_numbers, pos)


PERCEPTION_MISTAKES = [
    (perceive_single_bonds_only, "were not recovered"), (perceive_naive_margins, "were not recovered"),
    (perceive_greedy_doubles, "as a matching"), (perceive_never_rejects, "more bonds than its valence"),
    (perceive_no_clash_check, "closer than 1.0 Å clash"),
    (perceive_covalent_radii_without_tolerance, "not covalent radii alone"),
    (perceive_one_cutoff_for_all_pairs, "its own single-bond length"),
    (perceive_tolerance_too_small, "SINGLE[pair] + 0.25 Å"), (perceive_double_by_absolute_margin, "w = (SINGLE − d)"),
    (perceive_any_shortening_is_double, "≤ 0.5 stays single"),
    (perceive_triple_ignores_free_valence, "≥ 2 free valences"), (perceive_no_triple_bonds, "triple"),
    (perceive_fragments_invalid, "two fragments"), (perceive_explicit_hydrogens, "hydrogens stay implicit"),
    (perceive_single_atom_crashes, "a single atom"), (perceive_charged_nitrogen, "atoms carry no charges"),
]


@pytest.mark.parametrize("broken, hint", PERCEPTION_MISTAKES, ids=_ids(PERCEPTION_MISTAKES))
def test_perception_graders_reject(broken, hint):
    _assert_rejected("4.6", broken, hint)


def _best_matching(edges, weights):
    """Exhaustive maximum-weight matching (fine for the few candidate bonds of a small molecule)."""
    best, best_w = (), 0.0

    def search(k, used, chosen, total):
        nonlocal best, best_w
        if total > best_w + 1e-12:
            best, best_w = tuple(chosen), total
        for m in range(k, len(edges)):
            i, j = edges[m]
            if i not in used and j not in used:
                search(m + 1, used | {i, j}, chosen + [edges[m]], total + weights[m])

    search(0, frozenset(), [], 0.0)
    return best


def perceive_correct_exhaustive(atomic_numbers, pos):
    """The documented rule with numpy distances and an exhaustive matching instead of networkx."""
    import numpy as np

    z = [int(a) for a in atomic_numbers]
    p = pos.detach().double().numpy()
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    n = len(z)
    np.fill_diagonal(d, np.inf)
    if n > 1 and d.min() < ref.MIN_DISTANCE:
        return None
    order = {}
    for i in range(n):
        for j in range(i + 1, n):
            if d[i, j] < ref.SINGLE[_key(z[i], z[j])] + ref.BOND_TOLERANCE:
                order[(i, j)] = 1
    used = np.zeros(n, int)
    for i, j in order:
        used[i] += 1
        used[j] += 1
    free = np.array([ref.VALENCE[a] for a in z]) - used
    if (free < 0).any():
        return None
    for (i, j) in list(order):
        k = _key(z[i], z[j])
        if k in ref.TRIPLE and d[i, j] < (ref.DOUBLE[k] + ref.TRIPLE[k]) / 2 and free[i] > 1 and free[j] > 1:
            order[(i, j)] = 3
            free[[i, j]] -= 2
    edges, weights = [], []
    for (i, j), o in order.items():
        k = _key(z[i], z[j])
        if o == 1 and k in ref.DOUBLE and free[i] > 0 and free[j] > 0:
            w = (ref.SINGLE[k] - d[i, j]) / (ref.SINGLE[k] - ref.DOUBLE[k])
            if w > 0.5:
                edges.append((i, j))
                weights.append(w)
    for e in _best_matching(edges, weights):
        order[e] = 2
    return _build(z, order)


@pytest.mark.parametrize("correct", [perceive_correct_exhaustive, _perception()], ids=["exhaustive", "networkx"])
def test_perception_graders_accept_correct_variants(correct):
    _assert_accepted("4.6", _checked("molecule_from_geometry", correct))


# ------------------------------------------------------------------------------- 4.7 metrics
def _metrics(mistake=None):
    def sample_metrics(samples, train_smiles, perceive=None):
        from rdkit import Chem

        samples, train_smiles = list(samples), list(train_smiles)
        perceive = perceive or ref.molecule_from_geometry
        iso = mistake == "isomeric_smiles"
        if mistake == "train_not_canonical":
            train = set(train_smiles)
        else:
            train = {Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=iso) for s in train_smiles}
        smiles = []
        for z, pos in samples:
            mol = perceive(z, pos)
            smiles.append(None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=iso))
        valid = [s for s in smiles if s is not None]
        connected = [s for s in valid if "." not in s]
        if mistake == "connected_counts_invalid":
            connected_count = sum("." not in (s or "") for s in smiles)
        else:
            connected_count = len(connected)
        pool = valid if mistake == "uniqueness_over_all_valid" else connected
        distinct = set(pool)
        n = len(samples)
        novel = len(distinct - train)
        if mistake == "novelty_over_connected_samples":
            novel = sum(s not in train for s in connected)
        uniq_den = {"uniqueness_over_samples": n}.get(mistake, len(pool))
        nov_den = {"novelty_over_samples": n, "novelty_over_connected_samples": len(connected)}.get(
            mistake, len(distinct))
        empty = {"empty_ratio_is_one": 1.0, "empty_ratio_is_int": 0}.get(mistake, 0.0)
        out = {"validity": (len(connected) if mistake == "validity_is_connected" else len(valid)) / n,
               "connected": connected_count / (len(valid) if mistake == "connected_over_valid" else n),
               "uniqueness": len(distinct) / uniq_den if uniq_den else empty,
               "novelty": novel / nov_den if nov_den else empty,
               "n_samples": n, "n_valid": len(valid), "n_connected": connected_count,
               "n_unique": len(distinct), "smiles": smiles}
        if mistake == "raises_on_empty_denominator":
            out["uniqueness"] = len(distinct) / len(pool)
        if mistake == "smiles_of_valid_only":
            out["smiles"] = valid
        if mistake == "counts_as_fractions":
            out["n_valid"] = float(len(valid))
        if mistake == "n_unique_over_valid":
            out["n_unique"] = len(set(valid))
        if mistake == "missing_counts":
            del out["n_connected"], out["n_unique"]
        return out

    sample_metrics.__name__ = f"metrics_{mistake}"
    return sample_metrics


METRIC_MISTAKES = [
    ("train_not_canonical", "canonicalise the training set"), ("isomeric_smiles", "without stereo"),
    ("uniqueness_over_all_valid", "among the valid *connected* samples"),
    ("uniqueness_over_samples", "among the valid *connected* samples"),
    ("novelty_over_samples", "/ distinct SMILES"), ("novelty_over_connected_samples", "/ distinct SMILES"),
    ("validity_is_connected", "one fragment or several"),
    ("connected_counts_invalid", "valid samples with one fragment"),
    ("connected_over_valid", "/ all samples"), ("empty_ratio_is_one", "is 0.0"), ("empty_ratio_is_int", "is 0.0"),
    ("raises_on_empty_denominator", "is 0.0"), ("smiles_of_valid_only", "one entry per sample"),
    ("counts_as_fractions", "expected the int"), ("n_unique_over_valid", "distinct canonical SMILES among the valid"),
    ("missing_counts", "has no key 'n_connected'"),
]


@pytest.mark.parametrize("mistake, hint", METRIC_MISTAKES, ids=[m for m, _ in METRIC_MISTAKES])
def test_metric_graders_reject(mistake, hint):
    _assert_rejected("4.7", _metrics(mistake), hint)


def metrics_counter_correct(samples, train_smiles, perceive=None):
    from collections import Counter

    import numpy as np

    from rdkit import Chem

    canon = {Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) for s in train_smiles}
    perceive = perceive or ref.molecule_from_geometry
    mols = [perceive(z, p) for z, p in samples]
    smiles = [Chem.MolToSmiles(m, isomericSmiles=False) if m is not None else None for m in mols]
    frags = Counter(s for s in smiles if s is not None and len(Chem.GetMolFrags(Chem.MolFromSmiles(s))) == 1)
    n_conn = sum(frags.values())
    n_valid = np.sum([s is not None for s in smiles])  # a numpy integer is an int too
    n = len(smiles)
    return {"validity": float(n_valid / n), "connected": float(n_conn / n),
            "uniqueness": float(len(frags) / n_conn) if n_conn else 0.0,
            "novelty": float(sum(1 for s in frags if s not in canon) / len(frags)) if frags else 0.0,
            "n_samples": n, "n_valid": n_valid, "n_connected": n_conn, "n_unique": len(frags), "smiles": smiles}


@pytest.mark.parametrize("correct", [metrics_counter_correct, _metrics(None)], ids=["counter", "sets"])
def test_metric_graders_accept_correct_variants(correct):
    _assert_accepted("4.7", _checked("sample_metrics", correct))


# ------------------------------------------------------------------------------- 4.8 atom stability
def _stab_parts(z, pos):
    z = [int(a) for a in z]
    d = torch.cdist(pos.double(), pos.double())
    cut = torch.tensor([[ref.SINGLE[ref._pair(a, b)] + ref.BOND_TOLERANCE for b in z] for a in z], dtype=torch.float64)
    return z, d, cut, ~torch.eye(len(z), dtype=torch.bool)


def stab_counts_itself(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    bonded = d < cut                                    # the diagonal (d = 0) counts the atom as its own neighbour
    clash = ((d < ref.MIN_DISTANCE) & off).any(1)
    return (bonded.sum(1) <= torch.tensor([ref.VALENCE[a] for a in z])) & ~clash


def stab_clash_on_diagonal(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    bonded = (d < cut) & off
    clash = (d < ref.MIN_DISTANCE).any(1)                # d_ii = 0 < 1 Å: every atom "clashes" with itself
    return (bonded.sum(1) <= torch.tensor([ref.VALENCE[a] for a in z])) & ~clash


def stab_ignores_clash(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    return ((d < cut) & off).sum(1) <= torch.tensor([ref.VALENCE[a] for a in z])


def stab_strictly_below_valence(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    clash = ((d < ref.MIN_DISTANCE) & off).any(1)
    return (((d < cut) & off).sum(1) < torch.tensor([ref.VALENCE[a] for a in z])) & ~clash


def stab_one_cutoff_for_all_pairs(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    clash = ((d < ref.MIN_DISTANCE) & off).any(1)
    bonded = (d < ref.SINGLE[(6, 6)] + ref.BOND_TOLERANCE) & off
    return (bonded.sum(1) <= torch.tensor([ref.VALENCE[a] for a in z])) & ~clash


def stab_bare_single_length(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    clash = ((d < ref.MIN_DISTANCE) & off).any(1)
    bonded = (d < cut - ref.BOND_TOLERANCE) & off
    return (bonded.sum(1) <= torch.tensor([ref.VALENCE[a] for a in z])) & ~clash


def stab_counts_lone_pairs_as_valence(atomic_numbers, pos):
    z, d, cut, off = _stab_parts(atomic_numbers, pos)
    clash = ((d < ref.MIN_DISTANCE) & off).any(1)
    octet = {6: 4, 7: 4, 8: 4, 9: 4}                    # "every heavy atom can take 4 bonds"
    return (((d < cut) & off).sum(1) <= torch.tensor([octet[a] for a in z])) & ~clash


def stab_returns_counts_ok_as_int(atomic_numbers, pos):
    return ref.atom_stability(atomic_numbers, pos).long()


STAB_MISTAKES = [
    (stab_counts_itself, "leave the diagonal"),
    (stab_clash_on_diagonal, "diagonal"),
    (stab_ignores_clash, "MIN_DISTANCE"),
    (stab_strictly_below_valence, "≤"),
    (stab_one_cutoff_for_all_pairs, "pair's own SINGLE"),
    (stab_bare_single_length, "SINGLE + BOND_TOLERANCE"),
    (stab_counts_lone_pairs_as_valence, "exceed"),
    (stab_returns_counts_ok_as_int, "torch.bool"),
]


@pytest.mark.parametrize("broken, hint", STAB_MISTAKES, ids=_ids(STAB_MISTAKES))
def test_atom_stability_graders_reject(broken, hint):
    _assert_rejected("4.8", broken, hint)


def stab_correct_loops(atomic_numbers, pos):
    if not isinstance(atomic_numbers, torch.Tensor):
        atomic_numbers = torch.as_tensor(list(atomic_numbers))
    ref.atom_stability(atomic_numbers, pos)  # validation only
    z = atomic_numbers.tolist()
    flags = []
    for i, a in enumerate(z):
        n_bonds, clash = 0, False
        for j, b in enumerate(z):
            if i != j:
                dist = math.dist(pos[i].tolist(), pos[j].tolist())
                clash = clash or dist < ref.MIN_DISTANCE
                n_bonds += dist < ref.SINGLE[(min(a, b), max(a, b))] + ref.BOND_TOLERANCE
        flags.append(not clash and n_bonds <= ref.VALENCE[a])
    return torch.tensor(flags, dtype=torch.bool)


def stab_correct_masked_fill(atomic_numbers, pos):
    ref.atom_stability(atomic_numbers, pos)  # validation only
    z = torch.as_tensor(atomic_numbers if isinstance(atomic_numbers, torch.Tensor) else list(atomic_numbers))
    d = torch.cdist(pos.double(), pos.double()).fill_diagonal_(float("inf"))
    table = torch.zeros(10, 10, dtype=torch.float64)
    for (a, b), length in ref.SINGLE.items():
        table[a, b] = table[b, a] = length + ref.BOND_TOLERANCE
    bonds = (d < table[z][:, z]).sum(dim=1)
    max_bonds = torch.tensor([0, 0, 0, 0, 0, 0, 4, 3, 2, 1])[z]
    return (bonds <= max_bonds) & (d.min(dim=1).values >= ref.MIN_DISTANCE)


@pytest.mark.parametrize("correct", [stab_correct_loops, stab_correct_masked_fill],
                         ids=["loops", "masked_fill"])
def test_atom_stability_graders_accept_correct_variants(correct):
    _assert_accepted("4.8", correct)


# ------------------------------------------------------------------------------- 4.9 bond_length_outliers
def _bonds(mistake=None):
    def bond_length_outliers(mol, pos, bounds, tolerance=0.25):
        p = torch.as_tensor(pos, dtype=torch.float64) if not isinstance(pos, torch.Tensor) else pos.double()
        b = torch.as_tensor(bounds, dtype=torch.float64) if not isinstance(bounds, torch.Tensor) else bounds.double()
        devs = []
        for bond in mol.GetBonds():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            if mistake != "unsorted_pair":
                i, j = min(i, j), max(i, j)
            low, high = (b[i, j], b[j, i]) if mistake == "swapped_triangles" else (b[j, i], b[i, j])
            d = float((p[i] - p[j]).norm())
            low, high = float(low), float(high)
            if mistake == "angstrom":
                r = d - low if d < low else d - high if d > high else 0.0
            elif mistake == "other_bound":
                r = (d - low) / high if d < low else (d - high) / low if d > high else 0.0
            elif mistake == "midpoint":
                r = (d - (low + high) / 2) / ((low + high) / 2)
            else:
                r = (d - low) / low if d < low else (d - high) / high if d > high else 0.0
            devs.append(abs(r) if mistake == "unsigned" else r)
        dev = torch.tensor(devs, dtype=torch.float32 if mistake == "float32" else torch.float64)
        n_out = int(((dev.abs() >= tolerance) if mistake == "strict" else (dev.abs() > tolerance)).sum())
        out = {"deviation": dev, "worst": float(dev.abs().max()) if len(devs) else 0.0, "n_outliers": n_out,
               "passes": n_out == 0}
        if mistake == "passes_inverted":
            out["passes"] = n_out > 0
        if mistake == "no_worst":
            del out["worst"]
        if mistake == "modifies_bounds" and isinstance(bounds, torch.Tensor):
            bounds.copy_(torch.maximum(bounds, bounds.T))   # "symmetrise" the caller's matrix in place
        if mistake == "modifies_pos" and isinstance(pos, torch.Tensor):
            pos.sub_(pos.mean(dim=0))                       # centre the caller's coordinates in place
        return out

    bond_length_outliers.__name__ = f"bonds_{mistake}"
    return bond_length_outliers


BOND_MISTAKES = [
    ("swapped_triangles", "triangles are swapped"), ("unsorted_pair", "sort each bond's pair"),
    ("angstrom", "not in Å"), ("other_bound", "not by the other one"), ("midpoint", "not from its midpoint"),
    ("unsigned", "signed"), ("strict", "exactly at the tolerance still passes"), ("float32", "float64"),
    ("passes_inverted", "'passes' must be the bool"), ("no_worst", "documented key"),
    ("modifies_bounds", "must not modify bounds"), ("modifies_pos", "must not modify pos"),
]


@pytest.mark.parametrize("mistake, hint", BOND_MISTAKES, ids=[m for m, _ in BOND_MISTAKES])
def test_bond_length_graders_reject(mistake, hint):
    _assert_rejected("4.9", _bonds(mistake), hint)


def bonds_correct_numpy(mol, pos, bounds, tolerance=0.25):
    """Vectorised in numpy, bounds read through one symmetric-index trick, result converted at the end."""
    import numpy as np

    ref.bond_length_outliers(mol, pos, bounds, tolerance)  # validation only
    p = np.asarray(pos.detach().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    b = np.asarray(bounds.detach().cpu() if isinstance(bounds, torch.Tensor) else bounds, dtype=np.float64)
    ij = np.array([[bd.GetBeginAtomIdx(), bd.GetEndAtomIdx()] for bd in mol.GetBonds()], dtype=int).reshape(-1, 2)
    lo_idx, hi_idx = ij.min(axis=1), ij.max(axis=1)
    d = np.linalg.norm(p[lo_idx] - p[hi_idx], axis=1)
    lower, upper = b[hi_idx, lo_idx], b[lo_idx, hi_idx]
    r = np.clip(d - upper, 0, None) / upper - np.clip(lower - d, 0, None) / lower
    dev = torch.from_numpy(r.astype(np.float64))
    bad = int(np.sum(np.abs(r) > tolerance))
    return {"passes": bad == 0, "n_outliers": bad, "worst": float(np.abs(r).max()) if r.size else 0.0, "deviation": dev}


def bonds_correct_loop(mol, pos, bounds, tolerance=0.25):
    ref.bond_length_outliers(mol, pos, bounds, tolerance)  # validation only
    vals = []
    for bd in mol.GetBonds():
        a, c = sorted([bd.GetBeginAtomIdx(), bd.GetEndAtomIdx()])
        d = math.dist([float(v) for v in pos[a]], [float(v) for v in pos[c]])
        lo, hi = float(bounds[c][a]), float(bounds[a][c])
        vals.append(0.0 if lo <= d <= hi else (d / lo - 1 if d < lo else d / hi - 1))
    worst = max(map(abs, vals), default=0.0)
    count = len([v for v in vals if abs(v) > tolerance])
    return {"deviation": torch.tensor(vals, dtype=torch.float64), "worst": float(worst), "n_outliers": count,
            "passes": not count}


@pytest.mark.parametrize("correct", [bonds_correct_numpy, bonds_correct_loop, _bonds(None)],
                         ids=["numpy", "loop", "reference_like"])
def test_bond_length_graders_accept_correct_variants(correct):
    _assert_accepted("4.9", _checked("bond_length_outliers", correct) if correct.__name__.startswith("bonds_None")
                     else correct)


# ------------------------------------------------------------------------------- argument-validation graders
def _points(exercise_id, fn):
    """Points ``fn`` (in place of the exercise's function) earns from the graders of ``exercise_id``."""
    impl = _impl(**{_EX[exercise_id]: fn})
    earned = 0.0
    for grader in SUITE.graders_of(exercise_id):
        try:
            grader(impl)
        except REJECTIONS:
            continue
        earned += grader.molpractice_exercise[1]
    return earned


def _total(exercise_id):
    return sum(g.molpractice_exercise[1] for g in SUITE.graders_of(exercise_id))


@pytest.mark.parametrize("exercise_id", sorted(_EX))
def test_a_stub_that_returns_none_earns_no_points(exercise_id):
    """Every grader (the argument-validation ones included) rejects a stub that keeps the checks and returns None."""
    assert _total(exercise_id) > 0
    assert _points(exercise_id, _returns_none(_EX[exercise_id])) == 0, (
        f"a stub of {exercise_id} that keeps the argument checks and returns None earns points: "
        f"{SUITE.rejections(_impl(**{_EX[exercise_id]: _returns_none(_EX[exercise_id])}), exercise_id)}")


def bonds_all_within_bounds(mol, pos, bounds, tolerance=0.25):
    """Plausible-looking and wrong: the documented keys and types, every bond reported inside its window."""
    n = mol.GetNumBonds()
    return {"deviation": torch.zeros(n, dtype=torch.float64), "worst": 0.0, "n_outliers": 0, "passes": True}


@pytest.mark.parametrize("wrong", [_returns_none("bond_length_outliers"),
                                   _checked("bond_length_outliers", bonds_all_within_bounds),
                                   _checked("bond_length_outliers", _bonds("unsigned")),
                                   _checked("bond_length_outliers", _bonds("swapped_triangles"))],
                         ids=["returns_none", "all_within_bounds", "unsigned", "swapped_triangles"])
def test_bond_length_wrong_results_earn_no_points(wrong):
    """4.9: keeping the stub's argument checks is worth nothing; the validation grader checks a result first."""
    assert _points("4.9", wrong) == 0, SUITE.rejections(_impl(bond_length_outliers=wrong), "4.9")


def test_bond_length_reference_earns_full_points():
    assert _total("4.9") == 4
    assert _points("4.9", ref.bond_length_outliers) == 4


def _sched_linear_alpha_bar(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return torch.linspace(1.0, 0.001, T + 1, dtype=dtype)


def _metrics_all_perfect(samples, train_smiles, perceive=None):
    return {"validity": 1.0, "connected": 1.0, "uniqueness": 1.0, "novelty": 1.0, "smiles": [None] * len(samples)}


def _perceive_without_bonds(atomic_numbers, pos):
    from rdkit import Chem

    rw = Chem.RWMol()
    for a in torch.as_tensor(atomic_numbers).tolist():
        rw.AddAtom(Chem.Atom(int(a)))
    return rw.GetMol()


# (exercise, its grader that tests argument validation, a wrong answer that keeps the argument checks)
VALIDATION_GRADERS = [
    ("4.1", "test_cosine_schedule_options_and_validation", _sched_linear_alpha_bar),
    ("4.2", "test_q_sample_validates_inputs", lambda x0, t, noise, ab: x0.clone()),
    ("4.3", "test_remove_mean_projects_noise", lambda pos, batch=None: pos.clone()),
    ("4.3", "test_remove_mean_gapped_ids_single_atoms_and_validation", lambda pos, batch=None: pos.clone()),
    ("4.4", "test_ddpm_step_validates_inputs", lambda x_t, t, eps, ab, noise=None, clip=None: x_t.clone()),
    ("4.5", "test_ddim_step_validates_inputs",
     lambda x_t, t, tp, eps, ab, eta=0.0, noise=None, clip=None: x_t.clone()),
    ("4.6", "test_molecule_from_geometry_validates_inputs", _perceive_without_bonds),
    ("4.7", "test_sample_metrics_novelty_extremes_with_real_geometries", _metrics_all_perfect),
    ("4.8", "test_atom_stability_rejects_bad_input",
     lambda z, pos: torch.ones(len(torch.as_tensor(z)), dtype=torch.bool)),
    ("4.9", "test_bond_length_outliers_rejects_bad_input", bonds_all_within_bounds),
]


@pytest.mark.parametrize("exercise_id, name, wrong", VALIDATION_GRADERS, ids=[n for _, n, _ in VALIDATION_GRADERS])
def test_validation_graders_check_a_result_first(exercise_id, name, wrong):
    """Each grader of argument validation rejects a stub that keeps the checks and returns None or a wrong value,
    and accepts the reference."""
    grader = getattr(SUITE.graders, name)
    assert grader.molpractice_exercise[0] == exercise_id
    fname = _EX[exercise_id]
    grader(_impl())
    for fn in (_returns_none(fname), _checked(fname, wrong)):
        with pytest.raises(REJECTIONS):
            grader(_impl(**{fname: fn}))
