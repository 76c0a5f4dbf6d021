"""The chapter-3 graders must reject realistic wrong implementations and accept correct ones written
differently from the reference.

Each wrong variant replaces one function of the reference module. It keeps the reference's argument
checks (the variant runs the reference first, for its ValueErrors only, then computes its own answer),
so the rejection must come from a grader that checks values, not from the bad-input grader. Where the
mistake is a classic one, the grader's message must name the fix.
"""
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import optimize, special, stats

from molpractice.mutation import GraderSuite
from solutions import ch03_uncertainty as ref

SUITE = GraderSuite("ch03_uncertainty")
_impl = SUITE.implementation


def _checked(name, core):
    """A variant that validates like the reference (its ValueErrors) and then returns ``core``'s answer."""
    reference = getattr(ref, name)

    def variant(*args, **kwargs):
        reference(*args, **kwargs)
        return core(*args, **kwargs)

    variant.__name__ = core.__name__
    return variant


def _f64(*xs):
    return [ref._float64(x, "x") for x in xs]


def _assert_rejected(exercise_id, name, core, hint):
    rejection = SUITE.first_rejection(_impl(**{name: _checked(name, core)}), exercise_id)
    assert rejection is not None, f"graders of {exercise_id} accepted {core.__name__}"
    assert "rejects_bad_input" not in rejection.split(":")[0], f"{core.__name__} was only caught by {rejection}"
    message = rejection.split(": ", 2)[-1]  # "grader: Error: message" — the hint must be in the message itself
    assert hint, f"{core.__name__}: name the hint its rejection must give"
    assert hint in message, f"{core.__name__}: the message should mention {hint!r}, got: {rejection}"


def _assert_accepted(exercise_id, name, fn):
    impl = _impl(**{name: fn})
    for grader in SUITE.graders_of(exercise_id):
        grader(impl)


def _returns_none(*args, **kwargs):
    return None


# ------------------------------------------------------------------------------------------- 3.1
def nll_without_constant(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(0.5 * np.log(var) + (y - mean) ** 2 / (2 * var)))


def nll_summed(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.sum(0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)))


def nll_var_taken_as_std(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(0.5 * np.log(2 * np.pi) + np.log(var) + (y - mean) ** 2 / (2 * var**2)))


def nll_torch_default_eps(mean, var, y):
    mean, var, y = (torch.as_tensor(a, dtype=torch.float64) for a in _f64(mean, var, y))
    return float(torch.nn.GaussianNLLLoss(full=True)(mean, y, var))  # clamps var at 1e-6


def nll_log_var_without_half(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(0.5 * np.log(2 * np.pi) + np.log(var) + (y - mean) ** 2 / (2 * var)))


def nll_half_log_std(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(0.5 * np.log(2 * np.pi) + 0.5 * np.log(np.sqrt(var)) + (y - mean) ** 2 / (2 * var)))


def nll_no_half_on_squared_error(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + (y - mean) ** 2 / var))


def nll_sqrt_of_var(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    std = np.sqrt(var)  # "the formula wants σ²... I'll pass the std"
    return float(np.mean(0.5 * np.log(2 * np.pi * std) + (y - mean) ** 2 / (2 * std)))


def nll_log10(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(-np.mean(np.log10(stats.norm.pdf(y, mean, np.sqrt(var)))))


def nll_torch_default_not_full(mean, var, y):
    mean, var, y = (torch.as_tensor(a, dtype=torch.float64) for a in _f64(mean, var, y))
    return float(torch.nn.GaussianNLLLoss(eps=0.0)(mean, y, var))  # full=False drops ½·log 2π


def nll_clamped_var(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    var = np.maximum(var, 1e-8)
    return float(np.mean(0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)))


def nll_returns_tensor(mean, var, y):
    mean, var, y = (torch.as_tensor(a, dtype=torch.float64) for a in _f64(mean, var, y))
    return torch.nn.GaussianNLLLoss(full=True, eps=0.0)(mean, y, var)


NLL_MISTAKES = [(nll_without_constant, "½·log(2π)"), (nll_summed, "average"),
                (nll_var_taken_as_std, "do not square it"), (nll_torch_default_eps, "clamp"),
                (nll_log_var_without_half, "without the ½"), (nll_half_log_std, "half the log of the std"),
                (nll_no_half_on_squared_error, "divided by σ² only"), (nll_sqrt_of_var, "square root"),
                (nll_log10, "natural logarithm"), (nll_torch_default_not_full, "½·log(2π)"),
                (nll_clamped_var, "clamp"), (nll_returns_tensor, "Python float"), (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", NLL_MISTAKES, ids=[c.__name__ for c, _ in NLL_MISTAKES])
def test_nll_graders_reject(core, hint):
    _assert_rejected("3.1", "gaussian_nll", core, hint)


def test_nll_graders_accept_scipy_logpdf():
    def nll_scipy(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        return float(-stats.norm.logpdf(y, mean, np.sqrt(var)).mean())

    _assert_accepted("3.1", "gaussian_nll", _checked("gaussian_nll", nll_scipy))


def test_nll_graders_accept_log_sigma_and_torch_full():
    def nll_log_sigma(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        sigma = np.sqrt(var)
        return float(np.mean(np.log(sigma) + 0.5 * np.log(2 * np.pi) + 0.5 * ((y - mean) / sigma) ** 2))

    def nll_torch_full(mean, var, y):
        mean, var, y = (torch.as_tensor(a, dtype=torch.float64) for a in _f64(mean, var, y))
        return float(torch.nn.GaussianNLLLoss(full=True, eps=0.0)(mean, y, var).item())

    _assert_accepted("3.1", "gaussian_nll", _checked("gaussian_nll", nll_log_sigma))
    _assert_accepted("3.1", "gaussian_nll", _checked("gaussian_nll", nll_torch_full))


# ------------------------------------------------------------------------------------------- 3.2
def moments_ddof1(means, variances):
    if isinstance(means, torch.Tensor):
        return means.mean(0), variances.mean(0), means.var(0, unbiased=True)
    return means.mean(0), variances.mean(0), means.var(0, ddof=1)


def moments_wrong_axis(means, variances):
    mean = means.mean(1)
    return mean, variances.mean(1), ((means - mean[:, None]) ** 2).mean(1)


def moments_averaged_stds(means, variances):
    mean = means.mean(0)
    return mean, (variances**0.5).mean(0) ** 2, ((means - mean) ** 2).mean(0)


def moments_total_as_epistemic(means, variances):
    mean = means.mean(0)
    return mean, variances.mean(0), variances.mean(0) + ((means - mean) ** 2).mean(0)


def moments_always_numpy(means, variances):
    m, v = np.asarray(means, dtype=float), np.asarray(variances, dtype=float)
    return m.mean(0), v.mean(0), m.var(0)


def moments_epistemic_std(means, variances):
    mean = means.mean(0)
    return mean, variances.mean(0), ((means - mean) ** 2).mean(0) ** 0.5


def moments_aleatoric_std(means, variances):
    mean = means.mean(0)
    return mean, variances.mean(0) ** 0.5, ((means - mean) ** 2).mean(0)


def moments_total_as_aleatoric(means, variances):
    mean = means.mean(0)
    epistemic = ((means - mean) ** 2).mean(0)
    return mean, variances.mean(0) + epistemic, epistemic


def moments_swapped_order(means, variances):
    mean = means.mean(0)
    return mean, ((means - mean) ** 2).mean(0), variances.mean(0)


def moments_uncentred(means, variances):
    return means.mean(0), variances.mean(0), (means**2).mean(0)


def moments_upcast(means, variances):
    if isinstance(means, torch.Tensor):
        means, variances = means.double(), variances.double()
    mean = means.mean(0)
    return mean, variances.mean(0), ((means - mean) ** 2).mean(0)


def moments_library_default_var(means, variances):
    return means.mean(0), variances.mean(0), means.var(0) if isinstance(means, torch.Tensor) else np.var(means, 0)


MOMENT_MISTAKES = [(moments_ddof1, "ddof"), (moments_wrong_axis, "axis 0"),
                   (moments_averaged_stds, "average the variances"), (moments_total_as_epistemic, "total variance"),
                   (moments_always_numpy, "torch outputs"), (moments_epistemic_std, "standard deviation"),
                   (moments_aleatoric_std, "standard deviation"), (moments_total_as_aleatoric, "total variance"),
                   (moments_swapped_order, "in the order (mean, aleatoric_var, epistemic_var)"),
                   (moments_uncentred, "subtract the ensemble mean"), (moments_upcast, "keep the input's dtype"),
                   (moments_library_default_var, "ddof"), (_returns_none, "tuple")]


@pytest.mark.parametrize("core, hint", MOMENT_MISTAKES, ids=[c.__name__ for c, _ in MOMENT_MISTAKES])
def test_moments_graders_reject(core, hint):
    _assert_rejected("3.2", "ensemble_moments", core, hint)


def test_moments_graders_accept_second_moment_form():
    def moments_second_moment(means, variances):
        first = means.sum(0) / means.shape[0]
        second = (variances + means**2).sum(0) / means.shape[0]
        aleatoric = variances.sum(0) / means.shape[0]
        epistemic = second - first**2 - aleatoric
        clamp = epistemic.clamp_min(0) if isinstance(epistemic, torch.Tensor) else np.maximum(epistemic, 0)
        return first, aleatoric, clamp

    _assert_accepted("3.2", "ensemble_moments", _checked("ensemble_moments", moments_second_moment))


def test_moments_graders_accept_library_population_variance():
    def moments_population_std_squared(means, variances):
        if isinstance(means, torch.Tensor):
            return means.mean(0), variances.mean(0), means.std(0, unbiased=False) ** 2
        return np.mean(means, axis=0), np.mean(variances, axis=0), np.std(means, axis=0, ddof=0) ** 2

    _assert_accepted("3.2", "ensemble_moments", _checked("ensemble_moments", moments_population_std_squared))


# ------------------------------------------------------------------------------------------- 3.3
def _levels_gap(observed_fn, levels_fn=lambda n: np.linspace(0, 1, n), reduce=lambda g: float(np.mean(np.abs(g)))):
    def core(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        levels = levels_fn(n_levels)
        return reduce(levels - np.array([observed_fn(mean, std, y, p) for p in levels]))
    return core


def _central_closed(mean, std, y, p):
    return np.mean(np.abs(y - mean) / std <= stats.norm.ppf(0.5 + p / 2))


ece_uncentred = _levels_gap(lambda m, s, y, p: np.mean(np.abs(y - m) / s <= stats.norm.ppf(p)))
ece_uncentred.__name__ = "ece_uncentred"
ece_one_sided = _levels_gap(lambda m, s, y, p: np.mean((y - m) / s <= stats.norm.ppf(p)))
ece_one_sided.__name__ = "ece_one_sided"
ece_open_intervals = _levels_gap(lambda m, s, y, p: np.mean(np.abs(y - m) / s < stats.norm.ppf(0.5 + p / 2)))
ece_open_intervals.__name__ = "ece_open_intervals"
ece_inner_levels = _levels_gap(_central_closed, levels_fn=lambda n: np.linspace(0, 1, n + 2)[1:-1])
ece_inner_levels.__name__ = "ece_inner_levels"
ece_rms = _levels_gap(_central_closed, reduce=lambda g: float(np.sqrt(np.mean(g**2))))
ece_rms.__name__ = "ece_rms"
ece_variance_as_std = _levels_gap(lambda m, s, y, p: np.mean(np.abs(y - m) / s**2 <= stats.norm.ppf(0.5 + p / 2)))
ece_variance_as_std.__name__ = "ece_variance_as_std"


ece_max_gap = _levels_gap(_central_closed, reduce=lambda g: float(np.max(np.abs(g))))
ece_max_gap.__name__ = "ece_max_gap"
ece_summed = _levels_gap(_central_closed, reduce=lambda g: float(np.sum(np.abs(g))))
ece_summed.__name__ = "ece_summed"
ece_signed = _levels_gap(_central_closed, reduce=lambda g: float(np.mean(g)))
ece_signed.__name__ = "ece_signed"
ece_abs_of_mean = _levels_gap(_central_closed, reduce=lambda g: float(abs(np.mean(g))))
ece_abs_of_mean.__name__ = "ece_abs_of_mean"
ece_levels_without_one = _levels_gap(_central_closed, levels_fn=lambda n: np.arange(n) / n)
ece_levels_without_one.__name__ = "ece_levels_without_one"
ece_sqrt_of_std = _levels_gap(lambda m, s, y, p: np.mean(np.abs(y - m) / np.sqrt(s) <= stats.norm.ppf(0.5 + p / 2)))
ece_sqrt_of_std.__name__ = "ece_sqrt_of_std"
ece_clipped_levels = _levels_gap(
    lambda m, s, y, p: np.mean(np.abs(y - m) / s <= stats.norm.ppf(0.5 + np.clip(p, 1e-6, 1 - 1e-6) / 2)))
ece_clipped_levels.__name__ = "ece_clipped_levels"


def ece_area_under_curve(mean, std, y, n_levels=100):
    """uncertainty-toolbox's miscalibration *area*: the trapezoid rule over the levels, not their mean."""
    mean, std, y = _f64(mean, std, y)
    levels = np.linspace(0, 1, n_levels)
    gaps = np.abs(levels - np.array([_central_closed(mean, std, y, p) for p in levels]))
    return float(np.sum((gaps[1:] + gaps[:-1]) / 2 * np.diff(levels)))


def ece_default_ten_levels(mean, std, y, n_levels=10):
    return _levels_gap(_central_closed)(mean, std, y, n_levels)


REGRESSION_ECE_MISTAKES = [
    (ece_uncentred, "central"), (ece_one_sided, "two-sided"), (ece_open_intervals, "closed"),
    (ece_inner_levels, "both ends"), (ece_rms, "root-mean-square"), (ece_variance_as_std, "do not square it"),
    (ece_max_gap, "not the largest gap"), (ece_summed, "not their sum"), (ece_signed, "absolute value"),
    (ece_abs_of_mean, "not of their mean"),
    (ece_levels_without_one, "both ends"), (ece_sqrt_of_std, "square root"), (ece_clipped_levels, "do not clip"),
    (ece_area_under_curve, "trapezoid"), (ece_default_ten_levels, "default is n_levels=100"),
    (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", REGRESSION_ECE_MISTAKES, ids=[c.__name__ for c, _ in REGRESSION_ECE_MISTAKES])
def test_regression_ece_graders_reject(core, hint):
    _assert_rejected("3.3", "regression_ece", core, hint)


def test_regression_ece_graders_accept_pit_form():
    def ece_pit(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        u = special.erf(np.abs(y - mean) / std / math.sqrt(2))  # P(|Z| ≤ |z|): the central level reaching z
        levels = np.linspace(0, 1, n_levels)
        return float(np.mean([abs(p - np.mean(u <= p)) for p in levels]))

    _assert_accepted("3.3", "regression_ece", _checked("regression_ece", ece_pit))


def test_regression_ece_graders_accept_sorted_residuals():
    def ece_sorted(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        z = np.sort(np.abs(y - mean) / std)
        levels = np.linspace(0, 1, n_levels)
        with np.errstate(divide="ignore"):
            bounds = stats.norm.isf((1 - levels) / 2)  # the upper end of the central interval
        observed = np.searchsorted(z, bounds, side="right") / len(z)  # how many |z| ≤ bound (closed)
        return float(np.abs(levels - observed).sum() / n_levels)

    _assert_accepted("3.3", "regression_ece", _checked("regression_ece", ece_sorted))


# ------------------------------------------------------------------------------------------- 3.4
def _top_label(probs, labels):
    p = ref._class_probs(probs)
    return p.max(1), (p.argmax(1) == ref._float64(labels, "labels")).astype(float)


def _binned(conf, correct, which, n_bins, weighted=True):
    total, gaps = 0.0, []
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            gap = abs(correct[sel].mean() - conf[sel].mean())
            gaps.append(gap)
            total += sel.mean() * gap
    return float(total) if weighted else float(np.mean(gaps))


def cece_left_closed_bins(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = np.minimum(np.floor(conf * n_bins).astype(int), n_bins)  # [lo, hi); 1.0 gets a bin of its own
    return _binned(conf, correct, which, n_bins + 1)


def cece_unweighted(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="left") - 1
    return _binned(conf, correct, which, n_bins, weighted=False)


def cece_true_class_confidence(probs, labels, n_bins=15):
    p = ref._class_probs(probs)
    lab = ref._float64(labels, "labels").astype(int)
    conf = p[np.arange(len(lab)), lab]
    correct = (p.argmax(1) == lab).astype(float)
    which = np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="left") - 1
    return _binned(conf, correct, np.clip(which, 0, n_bins - 1), n_bins)


def cece_binary_p_as_confidence(probs, labels, n_bins=15):
    p = ref._float64(probs, "probs")
    lab = ref._float64(labels, "labels").astype(int)
    if p.ndim == 1:  # "the probability is the confidence, the prediction is class 1"
        conf, correct = p, (lab == 1).astype(float)
    else:
        conf, correct = p.max(1), (p.argmax(1) == lab).astype(float)
    which = np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="left") - 1, 0, n_bins - 1)
    return _binned(conf, correct, which, n_bins)


def cece_one_bin_short(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    edges = np.linspace(0, 1, n_bins)  # n_bins edges = n_bins − 1 bins
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 2)
    return _binned(conf, correct, which, n_bins - 1)


def _edges_searchsorted(conf, n_bins):
    return np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="left") - 1, 0, n_bins - 1)


def cece_floor_clipped(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = np.minimum(np.floor(conf * n_bins).astype(int), n_bins - 1)  # [lo, hi), 1.0 into the last bin
    return _binned(conf, correct, which, n_bins)


def cece_digitize_default(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = np.digitize(conf, np.linspace(0, 1, n_bins + 1)) - 1  # [lo, hi); 1.0 gets index n_bins: dropped
    return _binned(conf, correct, which, n_bins)


def cece_digitize_off_by_one(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = np.digitize(conf, np.linspace(0, 1, n_bins + 1), right=True)  # (lo, hi] but 1 … B: B is dropped
    return _binned(conf, correct, which, n_bins)


def cece_last_bin_open(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = _edges_searchsorted(conf, n_bins)
    which[conf >= 1.0] = -1  # (lo, hi) for the last bin: 1.0 is in no bin
    return _binned(conf, correct, which, n_bins)


def cece_divided_by_bins(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = _edges_searchsorted(conf, n_bins)
    gaps = [abs(correct[which == b].mean() - conf[which == b].mean()) for b in range(n_bins) if (which == b).any()]
    return float(np.sum(gaps) / n_bins)


def cece_unweighted_sum(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = _edges_searchsorted(conf, n_bins)
    return float(sum(abs(correct[which == b].mean() - conf[which == b].mean())
                     for b in range(n_bins) if (which == b).any()))


def cece_tie_to_higher_class(probs, labels, n_bins=15):
    p = ref._class_probs(probs)
    lab = ref._float64(labels, "labels").astype(int)
    pred = p.shape[1] - 1 - np.argmax(p[:, ::-1], axis=1)  # the last of the tied maxima
    conf, correct = p.max(1), (pred == lab).astype(float)
    return _binned(conf, correct, _edges_searchsorted(conf, n_bins), n_bins)


def cece_binary_p_binned(probs, labels, n_bins=15):
    p = ref._float64(probs, "probs")
    conf, correct = _top_label(probs, labels)
    if p.ndim == 1:
        conf = p  # P(class 1) binned instead of the top-label confidence
    return _binned(conf, correct, _edges_searchsorted(conf, n_bins), n_bins)


def cece_per_sample(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    return float(np.mean(np.abs(correct - conf)))


def cece_nan_for_empty_bins(probs, labels, n_bins=15):
    conf, correct = _top_label(probs, labels)
    which = _edges_searchsorted(conf, n_bins)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(sum((which == b).mean() * abs(correct[which == b].mean() - conf[which == b].mean())
                         for b in range(n_bins)))


CLASSIFICATION_ECE_MISTAKES = [
    (cece_left_closed_bins, "(lo, hi]"), (cece_unweighted, "share of the samples"),
    (cece_true_class_confidence, "largest probability"), (cece_binary_p_as_confidence, "1 − p"),
    (cece_one_bin_short, "use n_bins = "), (cece_floor_clipped, "(lo, hi]"),
    (cece_digitize_default, "falls outside every bin"), (cece_digitize_off_by_one, "off by one"),
    (cece_last_bin_open, "closed on the right"), (cece_divided_by_bins, "number of bins"),
    (cece_unweighted_sum, "unweighted"), (cece_tie_to_higher_class, "lower class index"),
    (cece_binary_p_binned, "max(p, 1 − p)"), (cece_per_sample, "into bins first"),
    (cece_nan_for_empty_bins, "empty bin contributes 0"), (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", CLASSIFICATION_ECE_MISTAKES,
                         ids=[c.__name__ for c, _ in CLASSIFICATION_ECE_MISTAKES])
def test_classification_ece_graders_reject(core, hint):
    _assert_rejected("3.4", "classification_ece", core, hint)


def test_classification_ece_graders_accept_bincount_form():
    def cece_bincount(probs, labels, n_bins=15):
        conf, correct = _top_label(probs, labels)
        which = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)  # (lo, hi]
        count = np.bincount(which, minlength=n_bins)
        gap = np.abs(np.bincount(which, correct, n_bins) - np.bincount(which, conf, n_bins))
        return float(gap.sum() / count.sum())

    _assert_accepted("3.4", "classification_ece", _checked("classification_ece", cece_bincount))


def test_classification_ece_graders_accept_digitize_right_and_torch():
    def cece_digitize_right(probs, labels, n_bins=15):
        conf, correct = _top_label(probs, labels)
        which = np.clip(np.digitize(conf, np.linspace(0, 1, n_bins + 1), right=True) - 1, 0, n_bins - 1)
        return _binned(conf, correct, which, n_bins)

    def cece_torch(probs, labels, n_bins=15):
        p = torch.as_tensor(ref._class_probs(probs))
        lab = torch.as_tensor(ref._float64(labels, "labels")).long()
        conf, pred = p.max(1)  # torch.max returns the first maximal index, like np.argmax
        correct = (pred == lab).double()
        edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
        which = (torch.bucketize(conf, edges, right=False) - 1).clamp(0, n_bins - 1)  # (lo, hi]
        ece = torch.zeros((), dtype=torch.float64)
        for b in range(n_bins):
            sel = which == b
            if sel.any():
                ece += sel.double().mean() * (correct[sel].mean() - conf[sel].mean()).abs()
        return float(ece)

    _assert_accepted("3.4", "classification_ece", _checked("classification_ece", cece_digitize_right))
    _assert_accepted("3.4", "classification_ece", _checked("classification_ece", cece_torch))


# ------------------------------------------------------------------------------------------- 3.5
def _nll_fn(logits, labels, combine):
    z = ref._logit_matrix(logits)
    lab = ref._float64(labels, "labels").astype(int)
    rows = np.arange(len(lab))

    def nll(t):
        s = combine(z, t)
        return float(np.mean(special.logsumexp(s, axis=1) - s[rows, lab]))
    return nll


def temp_multiplies(logits, labels):
    nll = _nll_fn(logits, labels, lambda z, t: z * t)
    return float(optimize.minimize_scalar(nll, bounds=(0.01, 100), method="bounded").x)


def temp_unconstrained_inverse(logits, labels):
    """Fit β = 1/T without a constraint, then return 1/β (negative when β < 0)."""
    nll = _nll_fn(logits, labels, lambda z, beta: z * beta)
    return float(1.0 / optimize.minimize_scalar(nll, bracket=(0.5, 1.0)).x)


def temp_coarse_grid(logits, labels):
    nll = _nll_fn(logits, labels, lambda z, t: z / t)
    grid = np.arange(0.25, 5.01, 0.25)
    return float(grid[np.argmin([nll(t) for t in grid])])


def temp_binary_as_one_column(logits, labels):
    z = ref._float64(logits, "logits")
    if z.ndim == 1:
        z = z[:, None]
    lab = ref._float64(labels, "labels").astype(int)

    def nll(t):
        s = z / t
        p1 = special.softmax(s, axis=1)[:, -1] if s.shape[1] > 1 else special.expit(s[:, 0])
        if s.shape[1] > 1:
            return float(np.mean(special.logsumexp(s, axis=1) - s[np.arange(len(lab)), lab]))
        return float(-np.mean(np.log(np.where(lab == 0, p1, 1 - p1))))  # classes swapped for one column
    return float(optimize.minimize_scalar(nll, bounds=(0.01, 100), method="bounded").x)


def _bounded_log_t(nll_of_t, lo=0.01, hi=100.0):
    res = optimize.minimize_scalar(lambda u: nll_of_t(math.exp(u)), bounds=(math.log(lo), math.log(hi)),
                                   method="bounded")
    return res.x


def temp_returns_log_t(logits, labels):
    return float(_bounded_log_t(_nll_fn(logits, labels, lambda z, t: z / t)))


def temp_narrow_range(logits, labels):
    return float(math.exp(_bounded_log_t(_nll_fn(logits, labels, lambda z, t: z / t), lo=0.05, hi=20.0)))


def temp_unbounded_log_t(logits, labels):
    nll = _nll_fn(logits, labels, lambda z, t: z / t)
    with np.errstate(all="ignore"):
        return float(math.exp(min(optimize.minimize_scalar(lambda u: nll(math.exp(min(u, 700))), bracket=(-1, 1)).x,
                                  700)))


def temp_few_gradient_steps(logits, labels):
    z = torch.as_tensor(ref._logit_matrix(logits))
    lab = torch.as_tensor(ref._float64(labels, "labels").astype(np.int64))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    for _ in range(30):  # plain gradient descent on log T, stopped long before it converges
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), lab)
        (grad,) = torch.autograd.grad(loss, log_t)
        with torch.no_grad():
            log_t -= 0.05 * grad
    return float(log_t.detach().exp())


def temp_divides_probabilities(logits, labels):
    probs = special.softmax(ref._logit_matrix(logits), axis=1)
    nll = _nll_fn(probs, labels, lambda p, t: p / t)
    return float(math.exp(_bounded_log_t(nll)))


def temp_naive_softmax(logits, labels):
    z = ref._logit_matrix(logits)
    lab = ref._float64(labels, "labels").astype(int)

    def nll(t):
        with np.errstate(all="ignore"):
            e = np.exp(z / t)  # overflows to inf for large logits and small T
            return float(-np.mean(np.log(e[np.arange(len(lab)), lab] / e.sum(1))))
    return float(math.exp(_bounded_log_t(nll)))


TEMPERATURE_MISTAKES = [(temp_multiplies, "1/T"), (temp_unconstrained_inverse, "> 0"),
                        (temp_coarse_grid, "stopped short"), (temp_binary_as_one_column, "sigmoid"),
                        (temp_returns_log_t, "log T"), (temp_narrow_range, "search the whole range"),
                        (temp_unbounded_log_t, "outside the search range"), (temp_few_gradient_steps, "stopped short"),
                        (temp_divides_probabilities, "not the probabilities"), (temp_naive_softmax, "stably"),
                        (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", TEMPERATURE_MISTAKES, ids=[c.__name__ for c, _ in TEMPERATURE_MISTAKES])
def test_temperature_graders_reject(core, hint):
    _assert_rejected("3.5", "fit_temperature", core, hint)


def test_temperature_graders_accept_lbfgs_on_log_t():
    def temp_lbfgs(logits, labels):
        z = torch.as_tensor(ref._logit_matrix(logits))
        lab = torch.as_tensor(ref._float64(labels, "labels").astype(np.int64))
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(z / log_t.clamp(math.log(0.01), math.log(100)).exp(), lab)
            loss.backward()
            return loss

        opt.step(closure)
        return float(log_t.detach().clamp(math.log(0.01), math.log(100)).exp())

    _assert_accepted("3.5", "fit_temperature", _checked("fit_temperature", temp_lbfgs))


def test_temperature_graders_accept_the_hinted_search_and_a_summed_nll_on_t():
    def temp_hinted(logits, labels):
        """The Hint's approach with scipy's default tolerance: a bounded search over log T."""
        return float(math.exp(_bounded_log_t(_nll_fn(logits, labels, lambda z, t: z / t))))

    def temp_summed_log_probs(logits, labels):
        """Sum (not mean) of the NLL, log-probabilities divided by T, bounded search over T itself."""
        logp = special.log_softmax(ref._logit_matrix(logits), axis=1)
        lab = ref._float64(labels, "labels").astype(int)

        def total(t):
            s = logp / t
            return float(np.sum(special.logsumexp(s, axis=1) - s[np.arange(len(lab)), lab]))
        return float(optimize.minimize_scalar(total, bounds=(0.01, 100), method="bounded",
                                              options={"xatol": 1e-7}).x)

    _assert_accepted("3.5", "fit_temperature", _checked("fit_temperature", temp_hinted))
    _assert_accepted("3.5", "fit_temperature", _checked("fit_temperature", temp_summed_log_probs))


# ------------------------------------------------------------------------------------------- 3.6
def scale_var_of_z(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.var((y - mean) / np.sqrt(var)))


def scale_returns_s(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.sqrt(np.mean((y - mean) ** 2 / var)))


def scale_pooled_ratio(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean((y - mean) ** 2) / np.mean(var))


def scale_median(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.median((y - mean) ** 2 / var))


def scale_divided_by_n_minus_1(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.sum((y - mean) ** 2 / var) / (len(y) - 1))


def scale_sample_var_of_z(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.var((y - mean) / np.sqrt(var), ddof=1))


def scale_std_of_z(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.std((y - mean) / np.sqrt(var)))


def scale_inverted(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(1.0 / np.mean((y - mean) ** 2 / var))


def scale_var_as_std(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean(((y - mean) / var) ** 2))


def scale_rmse_over_mean_std(mean, var, y):
    mean, var, y = _f64(mean, var, y)
    return float(np.mean((y - mean) ** 2) / np.mean(np.sqrt(var)) ** 2)


SCALE_MISTAKES = [(scale_var_of_z, "mean of z²"), (scale_returns_s, "s²"), (scale_pooled_ratio, "own z²"),
                  (scale_median, "not the median"), (scale_divided_by_n_minus_1, "n − 1"),
                  (scale_sample_var_of_z, "sample variance"), (scale_std_of_z, "standard deviation of z"),
                  (scale_inverted, "1/s²"), (scale_var_as_std, "do not divide by var itself"),
                  (scale_rmse_over_mean_std, "own z²"), (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", SCALE_MISTAKES, ids=[c.__name__ for c, _ in SCALE_MISTAKES])
def test_variance_scale_graders_reject(core, hint):
    _assert_rejected("3.6", "fit_variance_scale", core, hint)


def test_variance_scale_graders_accept_numerical_minimum():
    def scale_numerical(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        nll = lambda log_s2: ref.gaussian_nll(mean, np.exp(log_s2) * var, y)  # noqa: E731
        return float(np.exp(optimize.minimize_scalar(nll, bracket=(-1, 1), tol=1e-12).x))

    _assert_accepted("3.6", "fit_variance_scale", _checked("fit_variance_scale", scale_numerical))


def test_variance_scale_graders_accept_dot_product_on_tensors():
    def scale_dot(mean, var, y):
        r = torch.as_tensor(ref._float64(y, "y")) - torch.as_tensor(ref._float64(mean, "mean"))
        return float(torch.dot(r, r / torch.as_tensor(ref._float64(var, "var"))) / r.numel())

    _assert_accepted("3.6", "fit_variance_scale", _checked("fit_variance_scale", scale_dot))


# ------------------------------------------------------------------------------------------- 3.7
def _sorted_scores(scores):
    return np.sort(_f64(scores)[0])


def cq_uncorrected(scores, alpha):
    return float(np.quantile(_f64(scores)[0], 1 - alpha))


def cq_uncorrected_higher(scores, alpha):
    return float(np.quantile(_f64(scores)[0], 1 - alpha, method="higher"))


def cq_index_k(scores, alpha):
    s = _sorted_scores(scores)
    k = math.ceil((len(s) + 1) * (1 - alpha))
    return math.inf if k > len(s) else float(s[min(k, len(s) - 1)])


def cq_n_not_n_plus_1(scores, alpha):
    s = _sorted_scores(scores)
    k = max(math.ceil(len(s) * (1 - alpha)), 1)
    return float(s[k - 1])


def cq_floor(scores, alpha):
    s = _sorted_scores(scores)
    k = math.floor((len(s) + 1) * (1 - alpha))
    return math.inf if k > len(s) else float(s[max(k, 1) - 1])


def cq_no_infinity(scores, alpha):
    s = _sorted_scores(scores)
    k = math.ceil((len(s) + 1) * (1 - alpha))
    return float(s[min(k, len(s)) - 1])


def cq_interpolated(scores, alpha):
    s = _sorted_scores(scores)
    level = math.ceil((len(s) + 1) * (1 - alpha)) / len(s)
    return math.inf if level > 1 else float(np.quantile(s, level))


def cq_alpha_as_coverage(scores, alpha):
    s = _sorted_scores(scores)
    k = math.ceil((len(s) + 1) * alpha)
    return math.inf if k > len(s) else float(s[max(k, 1) - 1])


def cq_unsorted(scores, alpha):
    s = _f64(scores)[0]
    k = math.ceil((len(s) + 1) * (1 - alpha))
    return math.inf if k > len(s) else float(s[k - 1])


def cq_float_ceiling_without_tolerance(scores, alpha):
    """The reference before the spec fixed the convention: ⌈(n + 1)(1 − α)⌉ in floats (n = 9, α = 0.7 → 4, not 3)."""
    s = _sorted_scores(scores)
    k = math.ceil((len(s) + 1) * (1 - float(alpha)))
    return math.inf if k > len(s) else float(s[k - 1])


def cq_exact_binary_alpha(scores, alpha):
    """The old grader oracle: the rank counted exactly from the *binary* value of α (n = 9, α = 0.3 → 8, not 7)."""
    from fractions import Fraction

    s = _sorted_scores(scores)
    x = (len(s) + 1) * (1 - Fraction(float(alpha)))
    k = -(-x.numerator // x.denominator)
    return math.inf if k > len(s) else float(s[k - 1])


CONFORMAL_MISTAKES = [
    (cq_float_ceiling_without_tolerance, "1e-9"),
    (cq_exact_binary_alpha, "1e-9"),
    (cq_uncorrected, "finite-sample"),
    (cq_uncorrected_higher, "finite-sample"),
    (cq_index_k, "off by one"),
    (cq_n_not_n_plus_1, "n + 1"),
    (cq_floor, "ceiling"),
    (cq_no_infinity, "math.inf"),
    (cq_interpolated, "interpolat"),
    (cq_alpha_as_coverage, "1 − α"),
    (cq_unsorted, "sort the scores"),
]


@pytest.mark.parametrize("core, hint", CONFORMAL_MISTAKES, ids=[c.__name__ for c, _ in CONFORMAL_MISTAKES])
def test_conformal_graders_reject(core, hint):
    _assert_rejected("3.7", "conformal_quantile", core, hint)


def test_conformal_graders_reject_a_none_stub():
    assert SUITE.first_rejection(_impl(conformal_quantile=_checked("conformal_quantile", _returns_none)), "3.7")


def test_conformal_graders_accept_partition_and_inverted_cdf():
    def by_partition(scores, alpha):
        s = ref._float64(scores, "scores")
        k = math.ceil((s.size + 1) * (1 - float(alpha)) - 1e-9)
        return math.inf if k > s.size else float(np.partition(s, k - 1)[k - 1])

    def by_inverted_cdf(scores, alpha):  # MAPIE's formula: level ⌈(n + 1)(1 − α)⌉ / n, no interpolation
        s = ref._float64(scores, "scores")
        level = math.ceil((s.size + 1) * (1 - float(alpha)) - 1e-9) / s.size
        return math.inf if level > 1 else float(np.quantile(s, level, method="inverted_cdf"))

    def by_torch_kthvalue(scores, alpha):
        t = torch.as_tensor(ref._float64(scores, "scores"))
        k = math.ceil((t.numel() + 1) * (1 - float(alpha)) - 1e-9)
        return math.inf if k > t.numel() else float(torch.kthvalue(t, k).values)

    def by_decimal_arithmetic(scores, alpha):  # the rank in exact decimal arithmetic: no tolerance needed
        from decimal import ROUND_CEILING, Decimal

        s = np.sort(ref._float64(scores, "scores"))
        k = int(((s.size + 1) * (1 - Decimal(repr(float(alpha))))).to_integral_value(rounding=ROUND_CEILING))
        return math.inf if k > s.size else float(s[k - 1])

    for fn in (by_partition, by_inverted_cdf, by_torch_kthvalue, by_decimal_arithmetic):
        _assert_accepted("3.7", "conformal_quantile", _checked("conformal_quantile", fn))


def test_conformal_quantile_agrees_with_mapie():
    """The reference's split-conformal intervals μ ± q·σ equal MAPIE's (normalised residual scores)."""
    mapie_utils = pytest.importorskip("mapie.utils", reason="MAPIE (test extra) is not installed")
    rng = np.random.default_rng(7)
    for n in (19, 50, 127, 128, 300):
        scores = np.abs(rng.standard_normal(n)) * rng.uniform(0.5, 2.0, n)
        for alpha in (0.05, 0.1, 0.2, 0.32, 0.5):
            ours = ref.conformal_quantile(scores, alpha)
            theirs = float(mapie_utils._compute_regression_quantile(scores, np.array([1 - alpha]),
                                                                    unbounded=True)[0, 0])
            assert ours == theirs, (n, alpha, ours, theirs)
    # public API: prefit SplitConformalRegressor with the absolute score on z = (y − μ)/σ, predicting 0
    from mapie.regression import SplitConformalRegressor
    from sklearn.dummy import DummyRegressor

    mu, sd = rng.normal(size=200), rng.uniform(0.3, 1.5, 200)
    y = mu + sd * rng.standard_normal(200) * 1.3
    cal, test = slice(0, 127), slice(127, 200)
    zero = DummyRegressor(strategy="constant", constant=0.0).fit(np.zeros((2, 1)), [0.0, 0.0])
    for alpha in (0.1, 0.32):
        scr = SplitConformalRegressor(zero, confidence_level=1 - alpha, conformity_score="absolute", prefit=True)
        scr.conformalize(np.zeros((127, 1)), (y[cal] - mu[cal]) / sd[cal])
        _, bounds = scr.predict_interval(np.zeros((73, 1)))
        q = ref.conformal_quantile(np.abs(y[cal] - mu[cal]) / sd[cal], alpha)
        assert np.allclose(bounds[:, 1, 0], q) and np.allclose(bounds[:, 0, 0], -q)
        assert np.allclose(mu[test] + bounds[:, 1, 0] * sd[test], mu[test] + q * sd[test])


# ------------------------------------------------------------------------------------------- 3.8
def _pit_gap(pit_fn, levels_fn=lambda n: np.linspace(0, 1, n), reduce=lambda g: float(np.mean(np.abs(g))), strict=False):
    def core(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        u, levels = pit_fn(mean, std, y), levels_fn(n_levels)
        below = (u[None, :] < levels[:, None]) if strict else (u[None, :] <= levels[:, None])
        return reduce(levels - below.mean(axis=1))
    return core


def _named(fn, name):
    fn.__name__ = name
    return fn


_PIT = lambda m, s, y: stats.norm.cdf((y - m) / s)  # noqa: E731
qce_central_abs_z = _named(_levels_gap(_central_closed), "qce_central_abs_z")
qce_abs_z_pit = _named(_pit_gap(lambda m, s, y: stats.norm.cdf(np.abs(y - m) / s)), "qce_abs_z_pit")
qce_variance_as_std = _named(_pit_gap(lambda m, s, y: stats.norm.cdf((y - m) / s ** 2)), "qce_variance_as_std")
qce_density_not_cdf = _named(_pit_gap(lambda m, s, y: stats.norm.pdf((y - m) / s)), "qce_density_not_cdf")
qce_inner_levels = _named(_pit_gap(_PIT, levels_fn=lambda n: np.linspace(0, 1, n + 2)[1:-1]), "qce_inner_levels")
qce_levels_without_one = _named(_pit_gap(_PIT, levels_fn=lambda n: np.arange(n) / n), "qce_levels_without_one")
qce_strict = _named(_pit_gap(_PIT, strict=True), "qce_strict")
qce_rms = _named(_pit_gap(_PIT, reduce=lambda g: float(np.sqrt(np.mean(g ** 2)))), "qce_rms")
qce_squared = _named(_pit_gap(_PIT, reduce=lambda g: float(np.mean(g ** 2))), "qce_squared")
qce_max_gap = _named(_pit_gap(_PIT, reduce=lambda g: float(np.max(np.abs(g)))), "qce_max_gap")
qce_signed = _named(_pit_gap(_PIT, reduce=lambda g: float(np.mean(g))), "qce_signed")


QCE_MISTAKES = [
    (qce_central_abs_z, "central-interval"), (qce_abs_z_pit, "sign"), (qce_variance_as_std, "do not square it"),
    (qce_density_not_cdf, "CDF"), (qce_inner_levels, "both ends"), (qce_levels_without_one, "both ends"),
    (qce_strict, "closed"), (qce_rms, "root-mean-square"), (qce_squared, "squared"), (qce_max_gap, "largest gap"),
    (qce_signed, "absolute value"), (_returns_none, "Python float")]


@pytest.mark.parametrize("core, hint", QCE_MISTAKES, ids=[c.__name__ for c, _ in QCE_MISTAKES])
def test_quantile_calibration_graders_reject(core, hint):
    _assert_rejected("3.8", "quantile_calibration_error", core, hint)


def test_quantile_calibration_graders_reject_a_none_stub():
    assert SUITE.first_rejection(_impl(quantile_calibration_error=_checked("quantile_calibration_error",
                                                                           _returns_none)), "3.8")


def test_quantile_calibration_graders_accept_sorted_pit_and_toolbox_forms():
    def by_sorted_pit(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        u = np.sort(special.ndtr((y - mean) / std))
        levels = np.linspace(0, 1, n_levels)
        return float(np.abs(levels - np.searchsorted(u, levels, side="right") / u.size).sum() / n_levels)

    def by_toolbox_bounds(mean, std, y, n_levels=100):  # uncertainty-toolbox: z ≤ Φ⁻¹(p), one-sided
        mean, std, y = _f64(mean, std, y)
        z = torch.as_tensor((y - mean) / std)
        levels = np.linspace(0, 1, n_levels)
        with np.errstate(divide="ignore"):
            bounds = torch.as_tensor(stats.norm.ppf(levels))
        observed = (z[None, :] <= bounds[:, None]).double().mean(dim=1).numpy()
        return float(np.mean(np.abs(levels - observed)))

    for fn in (by_sorted_pit, by_toolbox_bounds):
        _assert_accepted("3.8", "quantile_calibration_error", _checked("quantile_calibration_error", fn))


def test_quantile_calibration_error_agrees_with_the_toolbox_definition_and_the_package():
    """The reference equals uncertainty-toolbox's mean absolute calibration error (prop_type="quantile", written
    out: z ≤ Φ⁻¹(p) per level), and the package's PIT version the notebook's tables use."""
    from molpractice import calibration as C

    rng = np.random.default_rng(8)
    for n, bias in ((128, 0.0), (127, 0.4), (500, -0.3)):
        mean, std = rng.normal(size=n), rng.uniform(0.3, 1.5, n)
        y = mean + bias + std * rng.standard_normal(n)
        levels = np.linspace(0, 1, 100)
        z = (y - mean) / std
        toolbox = np.mean([abs(p - np.mean(z <= (stats.norm.ppf(p) if 0 < p < 1 else (np.inf if p == 1 else -np.inf))))
                           for p in levels])
        ours = ref.quantile_calibration_error(mean, std, y)
        assert abs(ours - toolbox) < 1e-12
        assert abs(C.quantile_calibration_error_from_pit(C.pit(mean, std, y), 100) - ours) < 1e-12


# ------------------------------------------------------------------------------------------- all
def _unchecked_cores():
    """Each exercise computed correctly but with no argument checks at all (what a learner who deleted them has)."""
    def nll(mean, var, y):
        mean, var, y = (np.asarray(a, float) for a in _f64(mean, var, y))
        with np.errstate(all="ignore"):
            return float(np.mean(0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)))

    def moments(means, variances):
        mean = means.mean(0)
        return mean, variances.mean(0), ((means - mean) ** 2).mean(0)

    def reg_ece(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        levels = np.linspace(0, 1, max(int(n_levels), 1))
        with np.errstate(all="ignore"):
            z = np.abs(y - mean) / std
            return float(np.mean([abs(p - np.mean(z <= stats.norm.ppf(0.5 + p / 2))) for p in levels]))

    def cls_ece(probs, labels, n_bins=15):
        p = ref._float64(probs, "probs")
        p = np.stack([1 - p, p], 1) if p.ndim == 1 else p
        lab = ref._float64(labels, "labels").astype(int)
        conf, correct = p.max(1), (p.argmax(1) == lab[: len(p)]).astype(float)
        bins = max(int(n_bins), 1)
        return _binned(conf, correct, _edges_searchsorted(conf, bins), bins)

    def temp(logits, labels):
        z = ref._float64(logits, "logits")
        z = np.stack([np.zeros_like(z), z], 1) if z.ndim == 1 else z
        lab = ref._float64(labels, "labels").astype(int) % z.shape[-1]
        rows = np.arange(min(len(lab), len(z)))
        nll = lambda t: float(np.mean(special.logsumexp(z[rows] / t, axis=-1) - z[rows, lab[rows]] / t))  # noqa
        return float(optimize.minimize_scalar(nll, bounds=(0.01, 100), method="bounded").x)

    def scale(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        with np.errstate(all="ignore"):
            return float(np.mean((y - mean) ** 2 / var))

    def cq(scores, alpha):
        s = np.sort(ref._float64(scores, "scores").ravel())
        k = math.ceil((s.size + 1) * (1 - float(alpha))) if s.size else 1
        return math.inf if k > s.size or k < 1 else float(s[k - 1])

    def qce(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        levels = np.linspace(0, 1, max(int(n_levels), 1))
        with np.errstate(all="ignore"):
            u = special.ndtr((y - mean) / std)
        return float(np.mean(np.abs(levels - (u[None, :] <= levels[:, None]).mean(axis=1))))

    return {"3.8": ("quantile_calibration_error", qce), "3.7": ("conformal_quantile", cq), "3.1": ("gaussian_nll", nll), "3.2": ("ensemble_moments", moments), "3.3": ("regression_ece", reg_ece),
            "3.4": ("classification_ece", cls_ece), "3.5": ("fit_temperature", temp),
            "3.6": ("fit_variance_scale", scale)}


@pytest.mark.parametrize("exercise_id", ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8"])
def test_bad_input_graders_reject_missing_checks(exercise_id):
    name, core = _unchecked_cores()[exercise_id]
    bad_input = [g for g in SUITE.graders_of(exercise_id) if "rejects_bad_input" in g.__name__]
    assert len(bad_input) == 1
    with pytest.raises(AssertionError, match="expected (ValueError|TypeError)"):
        bad_input[0](_impl(**{name: core}))


@pytest.mark.parametrize("exercise_id", ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8"])
def test_every_exercise_has_graders(exercise_id):
    assert len(SUITE.graders_of(exercise_id)) >= 3


def test_return_none_stubs_score_zero_end_to_end(tmp_path):
    """Every chapter-3 stub's raise replaced by `return None` (the checks above the blocks still run): no points."""
    import shutil
    from pathlib import Path

    from molpractice.grading import format_report, grade

    repo = Path(__file__).resolve().parents[1]
    copy = tmp_path / "learner" / "exercises"
    shutil.copytree(repo / "exercises", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "ch03_uncertainty.py"
    path.write_text("".join(line[: len(line) - len(line.lstrip())] + "return None\n"
                            if line.lstrip().startswith('raise NotImplementedError("Exercise') else line
                            for line in path.read_text().splitlines(keepends=True)))
    report = grade("3", "exercises", 60, None, copy)  # (which, implementation, timeout, repo, package folder)
    assert report["total"] == 0 and all(r["status"] in ("failed", "error") for r in report["exercises"]), \
        format_report(report)
