"""The chapter-3 graders must reject realistic wrong implementations and accept correct ones written
differently from the reference.

Each wrong variant replaces one function of the reference module. It keeps the reference's argument
checks (the variant runs the reference first, for its ValueErrors only, then computes its own answer),
so the rejection must come from a grader that checks values, not from the bad-input grader. Where the
mistake is a classic one, the grader's message must name the fix.
"""
import math

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
    if hint:
        assert hint in rejection, f"{core.__name__}: the message should mention {hint!r}, got: {rejection}"


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


@pytest.mark.parametrize("core, hint", [(nll_without_constant, "½·log(2π)"), (nll_summed, "average"),
                                        (nll_var_taken_as_std, ""), (nll_torch_default_eps, "clamp"),
                                        (_returns_none, "Python float")])
def test_nll_graders_reject(core, hint):
    _assert_rejected("3.1", "gaussian_nll", core, hint)


def test_nll_graders_accept_scipy_logpdf():
    def nll_scipy(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        return float(-stats.norm.logpdf(y, mean, np.sqrt(var)).mean())

    _assert_accepted("3.1", "gaussian_nll", _checked("gaussian_nll", nll_scipy))


def test_nll_graders_reject_missing_validation():
    def unchecked(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        with np.errstate(all="ignore"):
            return float(-stats.norm.logpdf(y, mean, np.sqrt(np.abs(var))).mean())

    assert SUITE.first_rejection(_impl(gaussian_nll=unchecked), "3.1") is not None


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


@pytest.mark.parametrize("core, hint", [(moments_ddof1, "ddof"), (moments_wrong_axis, "axis 0"),
                                        (moments_averaged_stds, "average the variances"),
                                        (moments_total_as_epistemic, "total variance"),
                                        (moments_always_numpy, "torch outputs"), (_returns_none, "tuple")])
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


@pytest.mark.parametrize("core, hint", [(ece_uncentred, "central"), (ece_one_sided, ""),
                                        (ece_open_intervals, "closed"), (ece_inner_levels, "both ends"),
                                        (ece_rms, "mean absolute gap"), (ece_variance_as_std, ""),
                                        (_returns_none, "Python float")])
def test_regression_ece_graders_reject(core, hint):
    _assert_rejected("3.3", "regression_ece", core, hint)


def test_regression_ece_graders_accept_pit_form():
    def ece_pit(mean, std, y, n_levels=100):
        mean, std, y = _f64(mean, std, y)
        u = special.erf(np.abs(y - mean) / std / math.sqrt(2))  # P(|Z| ≤ |z|): the central level reaching z
        levels = np.linspace(0, 1, n_levels)
        return float(np.mean([abs(p - np.mean(u <= p)) for p in levels]))

    _assert_accepted("3.3", "regression_ece", _checked("regression_ece", ece_pit))


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


@pytest.mark.parametrize("core, hint", [(cece_left_closed_bins, "(lo, hi]"), (cece_unweighted, "weighted"),
                                        (cece_true_class_confidence, "max probability"),
                                        (cece_binary_p_as_confidence, "1 − p"), (cece_one_bin_short, ""),
                                        (_returns_none, "Python float")])
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


@pytest.mark.parametrize("core, hint", [(temp_multiplies, "1/T"), (temp_unconstrained_inverse, "> 0"),
                                        (temp_coarse_grid, ""), (temp_binary_as_one_column, "sigmoid"),
                                        (_returns_none, "Python float")])
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


@pytest.mark.parametrize("core, hint", [(scale_var_of_z, "mean of z²"), (scale_returns_s, "s²"),
                                        (scale_pooled_ratio, "own z²"), (scale_median, ""),
                                        (_returns_none, "Python float")])
def test_variance_scale_graders_reject(core, hint):
    _assert_rejected("3.6", "fit_variance_scale", core, hint)


def test_variance_scale_graders_accept_numerical_minimum():
    def scale_numerical(mean, var, y):
        mean, var, y = _f64(mean, var, y)
        nll = lambda log_s2: ref.gaussian_nll(mean, np.exp(log_s2) * var, y)  # noqa: E731
        return float(np.exp(optimize.minimize_scalar(nll, bracket=(-1, 1), tol=1e-12).x))

    _assert_accepted("3.6", "fit_variance_scale", _checked("fit_variance_scale", scale_numerical))


# ------------------------------------------------------------------------------------------- all
@pytest.mark.parametrize("exercise_id", ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6"])
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
