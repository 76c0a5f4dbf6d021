"""Graders of chapter 3 (uncertainty and calibration). Each takes ``impl`` (exercises or solutions).

Every oracle here is written independently of the reference solutions: scipy's Gaussian log-density
and ``torch.nn.GaussianNLLLoss(full=True)`` for the NLL, the second moments of the mixture for the
ensemble, per-level and per-bin loops written the way uncertainty-toolbox and Guo et al.'s code
write them for the two ECEs, and a direct numerical minimisation for the fitted scales. Synthetic data
come from seeded generators, so a verdict never flakes; where the truth is known by construction
(calibrated data, a known temperature or variance scale) the graders check that too.

When a value is wrong, the graders recompute the answer the classic mistakes would give (the constant
left out, a standard deviation where a variance is meant, ddof = 1, one-sided intervals, [lo, hi) bins, an
unweighted mean over bins, logits multiplied by T, ...) and, when the learner's value equals one of them,
name that mistake and its fix.
"""
import math

import numpy as np
import torch
from scipy import optimize, special, stats

from molpractice.grading import exercise


def _mod(impl):
    return impl.ch03_uncertainty


def _is_float(value, what, if_not_finite=""):
    assert isinstance(value, float) and not isinstance(value, bool), (
        f"{what} must return a Python float (use float(...)), got {type(value).__name__}")
    assert math.isfinite(value), f"{what} returned {value}; expected a finite number{if_not_finite}"


def _expect_value_error(fn, *args, why, error=ValueError, **kwargs):
    try:
        fn(*args, **kwargs)
    except error:
        return
    except NotImplementedError:  # a stub: 'not started', not a failure
        raise
    except Exception as err:  # noqa: BLE001 — report what was raised instead
        raise AssertionError(f"{why}: expected {error.__name__}, got {type(err).__name__}: {err}") from None
    raise AssertionError(f"{why}: expected {error.__name__}, nothing was raised (keep the argument checks "
                         f"above the solution block)")


def _diagnose(got, candidates, atol=1e-9):
    """The hint of the first classic mistake whose answer equals ``got`` (relative ``atol``), else ``""``."""
    for value, hint in candidates:
        value = float(value)
        if math.isfinite(value) and abs(got - value) <= atol * max(1.0, abs(value)):
            return " — " + hint
    return ""


def _gaussian_data(rng, n, std_scale=1.0, bias=0.0):
    mean = rng.normal(0.0, 2.0, n)
    std = rng.uniform(0.2, 1.5, n)
    y = mean + bias + std * std_scale * rng.standard_normal(n)
    return mean, std, y


# ---------------------------------------------------------------------------------------- 3.1
def _nll_mistakes(mean, var, y):
    """(value, hint) of the classic NLL mistakes on float64 data."""
    c = 0.5 * math.log(2 * math.pi)
    r2 = (y - mean) ** 2
    log_term, quad = np.mean(0.5 * np.log(var)), np.mean(r2 / (2 * var))
    want = c + log_term + quad
    return [
        (want - c, "the constant ½·log(2π) ≈ 0.919 is missing — the spec includes it"),
        (want * len(y), "you summed over molecules; average instead"),
        (c + 2 * log_term + quad, "the log term is ½·log σ² (= log σ); you used log σ² without the ½"),
        (c + 0.5 * log_term + quad, "the log term is ½·log σ² = log σ; you took ½·log σ (half the log of the std)"),
        (c + log_term + 2 * quad, "the squared error is divided by 2σ², you divided by σ² only (the ½ is missing)"),
        (c + 2 * log_term + np.mean(r2 / (2 * var**2)),
         "var is already the variance σ²: do not square it (you treated it as a standard deviation)"),
        (c + 0.5 * log_term + np.mean(r2 / (2 * np.sqrt(var))),
         "var is already the variance σ²: do not take its square root before using it as the variance"),
        (want / math.log(10), "use the natural logarithm (nats), not log10"),
        (want / math.log(2), "use the natural logarithm (nats), not log2"),
    ]


@exercise("3.1", points=2)
def test_gaussian_nll_matches_scipy_and_torch(impl):
    nll = _mod(impl).gaussian_nll
    rng = np.random.default_rng(31)
    mean, std, y = _gaussian_data(rng, 200)
    var = std**2
    want = float(-np.mean(stats.norm.logpdf(y, loc=mean, scale=std)))
    torch_full = float(torch.nn.GaussianNLLLoss(full=True, eps=0.0)(
        torch.tensor(mean), torch.tensor(y), torch.tensor(var)))
    assert abs(want - torch_full) < 1e-10  # the two oracles agree
    for kind in ("numpy64", "numpy32", "torch64", "torch32", "list"):
        dtype = np.float32 if kind.endswith("32") else np.float64
        args = [a.astype(dtype) for a in (mean, var, y)]
        if kind.startswith("torch"):
            args = [torch.from_numpy(a) for a in args]
        elif kind == "list":
            args = [a.tolist() for a in args]
        # float32 inputs: the oracle sees the same rounded numbers, the function computes in float64
        exact = [np.asarray(a, dtype=dtype).astype(np.float64) for a in (mean, var, y)]
        want_kind = float(-np.mean(stats.norm.logpdf(exact[2], loc=exact[0], scale=np.sqrt(exact[1]))))
        got = nll(*args)
        _is_float(got, f"gaussian_nll ({kind} inputs)")
        if abs(got - want_kind) <= 1e-10 * max(1.0, abs(want_kind)):
            continue
        hint = _diagnose(got, _nll_mistakes(*exact), atol=1e-8) or (
            " — compare with −mean(scipy.stats.norm.logpdf(y, mean, sqrt(var))); is var a variance (not a std)?")
        raise AssertionError(f"gaussian_nll = {got:.6f} for {kind} inputs, expected {want_kind:.6f}{hint}")


@exercise("3.1", points=1)
def test_gaussian_nll_known_values_and_extreme_variances(impl):
    nll = _mod(impl).gaussian_nll
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    got = nll(np.zeros(3), np.ones(3), np.zeros(3))
    _is_float(got, "gaussian_nll")
    assert abs(got - half_log_2pi) < 1e-12, (
        f"N(0, 1) at y = 0 has NLL ½·log(2π) = {half_log_2pi:.6f}, got {got:.6f} — the constant is included")
    got = nll(np.zeros(1), np.array([4.0]), np.array([2.0]))
    want = half_log_2pi + 0.5 * math.log(4.0) + 0.5
    assert abs(got - want) < 1e-12, (
        f"N(0, var=4) at y = 2 (a single molecule): expected {want:.6f} = ½log2π + ½log 4 + 4/(2·4), got "
        f"{got:.6f}{_diagnose(got, _nll_mistakes(np.zeros(1), np.array([4.0]), np.array([2.0])))}")
    # very small and very large variances must not be clamped or overflow
    mean = np.array([0.0, 1.0, -3.0])
    var = np.array([1e-12, 1e6, 1e-3])
    y = np.array([1e-6, 50.0, -3.01])
    want = float(-np.mean(stats.norm.logpdf(y, loc=mean, scale=np.sqrt(var))))
    got = nll(mean, var, y)
    _is_float(got, "gaussian_nll (variances 1e-12 … 1e6)")
    assert abs(got - want) < 1e-8 * max(1, abs(want)), (
        f"with variances 1e-12 … 1e6 expected NLL {want:.6f}, got {got:.6f} — do not clamp the variance "
        "(torch's GaussianNLLLoss clamps it at eps=1e-6 by default)")


@exercise("3.1", points=0.5)
def test_gaussian_nll_rejects_bad_input(impl):
    nll = _mod(impl).gaussian_nll
    ok = np.ones(4)
    _is_float(nll(ok, ok, ok), "gaussian_nll")  # points for the checks only once the function works
    _expect_value_error(nll, ok, np.array([1.0, 0.0, 1.0, 1.0]), ok, why="a zero variance")
    _expect_value_error(nll, ok, np.array([1.0, -1.0, 1.0, 1.0]), ok, why="a negative variance")
    _expect_value_error(nll, ok, ok, np.ones(5), why="y longer than mean")
    _expect_value_error(nll, np.ones(3), ok, ok, why="mean shorter than var")
    _expect_value_error(nll, np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)), why="2-D inputs (need (n,))")
    _expect_value_error(nll, np.array([]), np.array([]), np.array([]), why="empty inputs")
    _expect_value_error(nll, ok, ok, np.array([1.0, np.nan, 1.0, 1.0]), why="a NaN in y")
    _expect_value_error(nll, np.array([1.0, np.inf, 1.0, 1.0]), ok, ok, why="an infinite mean")


# ---------------------------------------------------------------------------------------- 3.2
_MOMENT_NAMES = ("mean", "aleatoric_var", "epistemic_var")


def _mixture_oracle(means, variances):
    """Mixture moments from E[X] and E[X²] = mean(σ² + μ²), molecule by molecule."""
    means, variances = np.asarray(means, float), np.asarray(variances, float)
    out_mean, out_alea, out_epi = [], [], []
    for i in range(means.shape[1]):
        mu, s2 = means[:, i], variances[:, i]
        first = float(np.sum(mu) / len(mu))
        second = float(np.sum(s2 + mu**2) / len(mu))
        alea = float(np.sum(s2) / len(s2))
        out_mean.append(first)
        out_alea.append(alea)
        out_epi.append(second - first**2 - alea)
    return np.array(out_mean), np.array(out_alea), np.array(out_epi)


def _moments(impl, means, variances):
    out = _mod(impl).ensemble_moments(means, variances)
    assert isinstance(out, tuple) and len(out) == 3, (
        f"ensemble_moments must return a tuple (mean, aleatoric_var, epistemic_var), got {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return out


def _moment_hint(name, got, want, means, variances):
    """Name the classic mistake behind a wrong ``name`` output (float64 numpy arrays), or ``""``."""
    members = means.shape[0]
    alea, epi = want[1], want[2]

    def same(a):
        return np.allclose(got, a, rtol=1e-4, atol=1e-6)

    for j, other in enumerate(_MOMENT_NAMES):
        if other != name and not np.allclose(want[j], want[_MOMENT_NAMES.index(name)]) and same(want[j]):
            return (f" — that is {other}; return the three arrays in the order (mean, aleatoric_var, "
                    "epistemic_var)")
    if name == "epistemic_var":
        if members > 1 and same(epi * members / (members - 1)):
            return " — that is the ddof=1 sample variance; the mixture's moment divides by M (ddof=0)"
        if same(alea + epi):
            return " — that is the total variance; epistemic is only the spread of the members' means"
        if same(np.sqrt(epi)):
            return " — that is a standard deviation; return the variance (do not take the square root)"
        if same(np.mean(means**2, 0)):
            return " — that is the mean of μ²: subtract the ensemble mean before squaring (the spread around it)"
    elif name == "aleatoric_var":
        if same(np.mean(np.sqrt(variances), 0) ** 2):
            return " — that is (mean σ)²; average the variances σ², not the standard deviations"
        if same(np.sqrt(alea)) or same(np.mean(np.sqrt(variances), 0)):
            return " — that is a standard deviation; return the variance (the mean of the members' σ²)"
        if same(alea + epi):
            return " — that is the total variance; aleatoric is only the mean of the members' variances"
    return ""


@exercise("3.2", points=2)
def test_ensemble_moments_equal_mixture_moments(impl):
    rng = np.random.default_rng(32)
    members, n = 5, 7  # different sizes, so a wrong axis shows up as a wrong shape
    means = rng.normal(0, 1.5, (members, n))
    variances = rng.uniform(0.05, 2.0, (members, n))
    want = _mixture_oracle(means, variances)
    for kind in ("numpy64", "torch32", "torch64", "numpy32"):
        dtype = np.float32 if kind.endswith("32") else np.float64
        m, v = means.astype(dtype), variances.astype(dtype)
        if kind.startswith("torch"):
            m, v = torch.from_numpy(m), torch.from_numpy(v)
        got = _moments(impl, m, v)
        for name, g, w in zip(_MOMENT_NAMES, got, want):
            if kind.startswith("torch"):
                assert isinstance(g, torch.Tensor), (
                    f"{name}: torch inputs must give torch outputs, got {type(g).__name__}")
                assert g.dtype == m.dtype, (f"{name}: expected dtype {m.dtype} (the input's), got {g.dtype} — "
                                            "keep the input's dtype (no .double(), no conversion to numpy and back)")
                g = g.double().numpy()
            else:
                assert isinstance(g, np.ndarray), (
                    f"{name}: numpy inputs must give numpy outputs, got {type(g).__name__}")
                assert g.dtype == dtype, f"{name}: expected dtype {np.dtype(dtype)} (the input's), got {g.dtype}"
            assert tuple(g.shape) == (n,), (
                f"{name} must have shape (n,) = ({n},) for inputs of shape (members, n) = ({members}, {n}), "
                f"got {tuple(g.shape)} — average over the members axis (axis 0)")
            tol = 1e-5 if dtype == np.float32 else 1e-12
            if not np.allclose(g, w, rtol=tol, atol=tol):
                hint = _moment_hint(name, g, want, means, variances)
                raise AssertionError(f"{name} differs from the mixture's moment ({kind}): max error "
                                     f"{np.max(np.abs(g - w)):.3g}{hint}")


@exercise("3.2", points=1)
def test_ensemble_moments_edge_cases(impl):
    rng = np.random.default_rng(320)
    # one member: no disagreement, so no epistemic variance
    means, variances = rng.normal(size=(1, 6)), rng.uniform(0.1, 1, (1, 6))
    mean, alea, epi = _moments(impl, means, variances)
    assert np.allclose(mean, means[0]) and np.allclose(alea, variances[0]), \
        "with one member, the ensemble's mean and aleatoric variance are that member's"
    assert np.all(np.isfinite(epi)) and np.allclose(epi, 0.0), (
        f"with one member the epistemic variance is 0, got {np.asarray(epi)} — divide by M (ddof=0), not M − 1")
    # identical members: epistemic 0 whatever the variances; members disagreeing with σ² = 0: aleatoric 0
    same = np.tile(rng.normal(size=4), (3, 1))
    _, alea, epi = _moments(impl, same, np.full((3, 4), 0.3))
    assert np.allclose(epi, 0, atol=1e-14) and np.allclose(alea, 0.3), \
        "identical members must give epistemic 0 and aleatoric = their variance"
    m2 = np.array([[0.0, 1.0], [2.0, 1.0]])  # two members: means 0 and 2 → mixture variance 1
    mean, alea, epi = _moments(impl, torch.tensor(m2), torch.zeros(2, 2, dtype=torch.float64))
    assert torch.allclose(epi, torch.tensor([1.0, 0.0], dtype=torch.float64)), (
        f"members predicting 0 and 2 (σ² = 0) form a mixture with variance 1, got epistemic {epi.tolist()}"
        + _moment_hint("epistemic_var", epi.numpy(), _mixture_oracle(m2, np.zeros((2, 2))), m2, np.zeros((2, 2))))
    assert torch.equal(alea, torch.zeros(2, dtype=torch.float64)), "members with σ² = 0 have aleatoric variance 0"
    # integer numpy inputs are converted to float64 (the spec); the moments are exact
    mean, alea, epi = _moments(impl, np.array([[1, 2], [3, 2]]), np.array([[1, 0], [3, 0]]))
    for name, g, w in zip(_MOMENT_NAMES, (mean, alea, epi), ([2.0, 2.0], [2.0, 0.0], [1.0, 0.0])):
        assert isinstance(g, np.ndarray) and g.dtype == np.float64, (
            f"{name}: integer numpy inputs must give float64 numpy outputs, got "
            f"{type(g).__name__} {getattr(g, 'dtype', '')}")
        assert np.allclose(g, w, rtol=0, atol=1e-12), f"{name} for integer inputs: expected {w}, got {g.tolist()}"


@exercise("3.2", points=0.5)
def test_ensemble_moments_rejects_bad_input(impl):
    fn = _mod(impl).ensemble_moments
    _moments(impl, np.zeros((2, 3)), np.ones((2, 3)))  # points for the checks only once the function works
    _expect_value_error(fn, np.zeros((3, 4)), np.ones((3, 5)), why="shapes (3, 4) and (3, 5)")
    _expect_value_error(fn, np.zeros(4), np.ones(4), why="1-D inputs (need (members, n))")
    _expect_value_error(fn, np.zeros((2, 3)), -np.ones((2, 3)), why="negative variances")
    _expect_value_error(fn, np.zeros((0, 3)), np.ones((0, 3)), why="no members (shape (0, 3))")
    _expect_value_error(fn, np.zeros((2, 0)), np.ones((2, 0)), why="no molecules (shape (2, 0))")
    _expect_value_error(fn, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long),
                        why="integer torch tensors")
    _expect_value_error(fn, np.zeros((2, 3)), torch.ones(2, 3), why="a numpy array with a torch tensor",
                        error=TypeError)


# ---------------------------------------------------------------------------------------- 3.3
def _regression_ece_oracle(mean, std, y, n_levels):
    """Written like uncertainty-toolbox's ``get_proportion_in_interval``: a loop over levels."""
    norm = stats.norm(loc=0, scale=1)
    residuals = (np.asarray(y, float) - np.asarray(mean, float)) / np.asarray(std, float)
    gaps = []
    for p in np.linspace(0, 1, n_levels):
        lower, upper = norm.ppf(0.5 - p / 2), norm.ppf(0.5 + p / 2)
        inside = np.count_nonzero((lower <= residuals) & (residuals <= upper))
        gaps.append(abs(p - inside / len(residuals)))
    return float(np.mean(gaps))


def _regression_ece_mistakes(mean, std, y, n_levels):
    """(value, hint) of the classic regression-ECE mistakes."""
    mean, std, y = (np.asarray(a, float) for a in (mean, std, y))
    levels = np.linspace(0, 1, n_levels)

    def ece(r, lv=levels, rule="central", reduce="mean"):
        a = np.abs(r)[None, :]
        if rule == "central":
            obs = (a <= stats.norm.ppf(0.5 + lv / 2)[:, None]).mean(1)
        elif rule == "open":
            obs = (a < stats.norm.ppf(0.5 + lv / 2)[:, None]).mean(1)
        elif rule == "clipped":
            obs = (a <= stats.norm.ppf(0.5 + np.clip(lv, 1e-6, 1 - 1e-6) / 2)[:, None]).mean(1)
        elif rule == "ppf(p)":
            obs = (a <= stats.norm.ppf(lv)[:, None]).mean(1)
        else:  # one-sided
            obs = (r[None, :] <= stats.norm.ppf(lv)[:, None]).mean(1)
        gap = lv - obs
        if reduce == "signed":
            return np.mean(gap)
        if reduce == "abs of mean":
            return abs(np.mean(gap))
        g = np.abs(gap)
        return {"mean": np.mean, "rms": lambda v: np.sqrt(np.mean(v**2)), "max": np.max, "sum": np.sum,
                "area": lambda v: np.sum((v[1:] + v[:-1]) / 2 * np.diff(lv))}[reduce](g)

    r = (y - mean) / std
    both = "the levels are np.linspace(0, 1, n_levels): L levels with both ends 0 and 1 included"
    return [
        (ece(r, rule="open"), "the intervals are closed: count |y − μ|/σ ≤ z_p (≤, not <), so a residual of exactly "
                              "0 is inside even the level-0 interval [μ, μ]"),
        (ece(r, rule="ppf(p)"), "the interval is central: |y − μ|/σ ≤ Φ⁻¹((1 + p)/2) — a level of 0.95 needs 1.96, "
                                "not Φ⁻¹(0.95) = 1.645"),
        (ece(r, rule="one-sided"), "the intervals are two-sided and central, μ ± z_p·σ with z_p = Φ⁻¹((1 + p)/2), "
                                   "not the one-sided (y − μ)/σ ≤ Φ⁻¹(p)"),
        (ece(r, rule="clipped"), "the level-1 interval is unbounded (z_1 = Φ⁻¹(1) = ∞) and holds every residual, "
                                 "however far: do not clip the levels away from 0 and 1"),
        (ece(r, lv=np.linspace(0, 1, n_levels + 2)[1:-1]), both),
        (ece(r, lv=np.arange(n_levels) / n_levels), both),
        (ece(r, lv=np.linspace(0, 1, n_levels + 1)), both),
        (ece(r, lv=np.linspace(0, 1, n_levels + 1)[1:]), both),
        (ece(r, reduce="rms"), "take the mean absolute gap over the levels, not the root-mean-square"),
        (ece(r, reduce="max"), "take the mean absolute gap over the levels, not the largest gap"),
        (ece(r, reduce="sum"), "take the mean absolute gap over the levels, not their sum"),
        (ece(r, reduce="area"), "take the plain mean absolute gap over the L levels, not the area under the "
                                "curve (trapezoid rule)"),
        (ece(r, reduce="signed"), "take the absolute value of each gap |p − observed| before averaging"),
        (ece(r, reduce="abs of mean"), "take the absolute value of each gap |p − observed| before averaging, not "
                                       "of their mean"),
        ((ece((y - mean) / std**2)), "std is the standard deviation σ: standardise with |y − μ|/σ (do not square it)"),
        ((ece((y - mean) / np.sqrt(std))), "std is already the standard deviation σ: do not take its square root"),
    ]


def _check_regression_ece(ece, mean, std, y, n_levels=None, what=""):
    want = _regression_ece_oracle(mean, std, y, 100 if n_levels is None else n_levels)
    got = ece(mean, std, y) if n_levels is None else ece(mean, std, y, n_levels=n_levels)
    _is_float(got, "regression_ece")
    if abs(got - want) > 1e-9:
        hint = _diagnose(got, _regression_ece_mistakes(mean, std, y, 100 if n_levels is None else n_levels))
        if not hint and n_levels is None:
            hint = _diagnose(got, [(_regression_ece_oracle(mean, std, y, k), f"the default is n_levels=100, "
                                    f"you used {k}") for k in (10, 11, 20, 21, 50, 99, 101, 1000)])
        hint = hint or (": use levels np.linspace(0, 1, n_levels) (both ends), central intervals μ ± Φ⁻¹((1+p)/2)·σ, "
                        "and the mean absolute gap |p − observed| over the levels")
        levels = "100, the default" if n_levels is None else n_levels
        raise AssertionError(f"regression_ece = {got:.6f}, expected {want:.6f} ({what}n_levels={levels}){hint}")


@exercise("3.3", points=2)
def test_regression_ece_matches_definition(impl):
    ece = _mod(impl).regression_ece
    rng = np.random.default_rng(33)
    cases = [(_gaussian_data(rng, 300, std_scale=1.7), 100), (_gaussian_data(rng, 300, std_scale=0.6), 7),
             (_gaussian_data(rng, 50, std_scale=1.0, bias=0.5), 2), (_gaussian_data(rng, 120, 2.5), 11)]
    for (mean, std, y), n_levels in cases:
        _check_regression_ece(ece, mean, std, y, n_levels)
    _check_regression_ece(ece, *cases[1][0], None, what="called without n_levels: ")
    # torch float32 inputs (computed in float64 after conversion)
    mean, std, y = cases[0][0]
    got = ece(*(torch.tensor(a, dtype=torch.float32) for a in (mean, std, y)))
    want = _regression_ece_oracle(*(np.float32(a).astype(float) for a in (mean, std, y)), 100)
    _is_float(got, "regression_ece (torch inputs)")
    assert abs(got - want) < 1e-9, f"with torch float32 inputs expected {want:.6f}, got {got:.6f}"


@exercise("3.3", points=1)
def test_regression_ece_zero_for_calibrated_large_for_overconfident(impl):
    ece = _mod(impl).regression_ece
    rng = np.random.default_rng(330)
    mean, std, y = _gaussian_data(rng, 5000)
    calibrated = ece(mean, std, y)
    _is_float(calibrated, "regression_ece")
    assert calibrated < 0.02, (
        f"Gaussian data scored with its true std must give ECE ≈ 0, got {calibrated:.3f} — are the intervals "
        "central (two-sided, z = Φ⁻¹((1 + p)/2)) and is std a standard deviation?")
    over = ece(mean, std / 3, y)
    assert over > 0.25, f"with std/3 (over-confident) the ECE must be large (> 0.25), got {over:.3f}"
    under = ece(mean, std * 3, y)
    assert under > 0.2, f"with 3·std (under-confident) the ECE must be large too (> 0.2), got {under:.3f}"
    assert 0 <= min(calibrated, over, under) and max(calibrated, over, under) <= 0.5, "the ECE lies in [0, 0.5]"


@exercise("3.3", points=1)
def test_regression_ece_closed_intervals(impl):
    ece = _mod(impl).regression_ece
    # a quarter of the predictions are exact: they lie inside every interval, even the one of width 0;
    # one residual of 60σ lies only inside the level-1 interval, which is unbounded (z_1 = ∞)
    y = np.array([0.0, 0.3, -1.2, 2.0] * 5 + [60.0])
    mean = np.zeros(21)
    std = np.ones(21)
    for n_levels in (2, 3, 5):
        _check_regression_ece(ece, mean, std, y, n_levels, what="residuals of exactly 0 and one of 60σ, ")
    # every prediction exact: observed coverage 1 at every level, so the ECE is mean(1 − p) = 0.5, its maximum
    exact = np.array([1.5, -0.2, 3.0])
    _check_regression_ece(ece, exact, np.ones(3), exact, 4, what="every residual exactly 0, ")


@exercise("3.3", points=0.5)
def test_regression_ece_rejects_bad_input(impl):
    ece = _mod(impl).regression_ece
    ok = np.ones(5)
    _is_float(ece(ok, ok, ok), "regression_ece")  # points for the checks only once the function works
    _expect_value_error(ece, ok, np.array([1, 1, 0, 1, 1.0]), ok, why="a zero std")
    _expect_value_error(ece, ok, np.array([1, 1, -0.5, 1, 1.0]), ok, why="a negative std")
    _expect_value_error(ece, ok, ok, np.ones(6), why="a length mismatch")
    _expect_value_error(ece, ok, ok, ok, n_levels=1, why="n_levels=1")
    _expect_value_error(ece, ok, ok, ok, n_levels=10.0, why="n_levels=10.0 (not an int)")
    _expect_value_error(ece, np.array([]), np.array([]), np.array([]), why="empty inputs")
    _expect_value_error(ece, ok, ok, np.array([1, 1, np.nan, 1, 1.0]), why="a NaN in y")
    _expect_value_error(ece, np.ones((5, 1)), np.ones((5, 1)), np.ones((5, 1)), why="2-D inputs (need (n,))")


# ---------------------------------------------------------------------------------------- 3.4
def _classification_ece_oracle(probs, labels, n_bins, *, bins="(lo, hi]", confidence="top", tie="low",
                               weight="share"):
    """Guo et al.'s loop: bins (lo, hi], |accuracy − confidence| weighted by the bin's share of samples.

    The keyword arguments give the classic mistakes instead: ``bins`` ``"[lo, hi)"`` (a confidence of 1.0
    clipped into the last bin), ``"[lo, hi) drop 1"`` (1.0 falls outside every bin), ``"(lo, hi) last
    open"`` (the last bin excludes 1.0), ``"drop last bin"`` (an index off by one) or ``"none"`` (no
    binning: |correct − confidence| per sample); ``confidence`` ``"p1"`` (binary: P(class 1) binned, the
    prediction still its argmax), ``"p1 predicts 1"`` (binary: P(class 1) binned and class 1 always predicted) or
    ``"true"`` (the probability of the true label); ``tie`` ``"high"``; ``weight`` ``"mean"`` (unweighted
    mean over non-empty bins), ``"bins"`` (sum of the gaps / number of bins) or ``"sum"`` (sum of gaps).
    """
    probs = np.asarray(probs, float)
    labels = np.asarray(labels)
    binary = probs.ndim == 1
    p1 = probs if binary else None
    if binary:
        probs = np.stack([1 - probs, probs], 1)
    pred = probs.argmax(1) if tie == "low" else probs.shape[1] - 1 - probs[:, ::-1].argmax(1)
    conf = probs.max(1)
    if confidence == "true":
        conf = probs[np.arange(len(labels)), labels]
    elif confidence.startswith("p1") and binary:
        conf = p1
        if confidence == "p1 predicts 1":
            pred = np.ones(len(labels), int)
    acc = (pred == labels).astype(float)
    if bins == "none":
        return float(np.mean(np.abs(acc - conf)))
    edges = np.linspace(0, 1, n_bins + 1)
    total, gaps = 0.0, []
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = b == n_bins - 1
        if bins == "(lo, hi]":
            in_bin = (conf > lo) & (conf <= hi)
        elif bins == "drop last bin":
            in_bin = (conf > lo) & (conf <= hi) & (not last)
        elif bins == "(lo, hi) last open":
            in_bin = (conf > lo) & ((conf <= hi) if not last else (conf < hi))
        else:
            in_bin = (conf >= lo) & ((conf < hi) | (last and bins == "[lo, hi)") & (conf == hi))
        if in_bin.any():
            gap = abs(acc[in_bin].mean() - conf[in_bin].mean())
            gaps.append(gap)
            total += gap * in_bin.mean()
    if weight == "share":
        return total
    return {"mean": np.mean(gaps) if gaps else 0.0, "bins": np.sum(gaps) / n_bins, "sum": np.sum(gaps)}[weight]


_CECE_MISTAKES = [
    (dict(bins="[lo, hi)"), "bins are (lo, hi], open on the left and closed on the right: a confidence of exactly "
                            "0.75 belongs to (0.5, 0.75], not [0.75, 1) (np.floor(conf·B) and np.digitize(conf, "
                            "edges) build [lo, hi) bins)"),
    (dict(bins="[lo, hi) drop 1"), "bins are (lo, hi], open on the left and closed on the right, and a confidence "
                                   "of exactly 1.0 belongs to the last bin — with [lo, hi) bins it falls outside "
                                   "every bin"),
    (dict(bins="(lo, hi) last open"), "a confidence of exactly 1.0 belongs to the last bin (1 − 1/B, 1]: the last "
                                      "bin is closed on the right"),
    (dict(bins="drop last bin"), "every confidence in (1 − 1/B, 1] belongs to the last bin: the (lo, hi] bin index "
                                 "runs over 0 … B − 1 (an index off by one, e.g. np.digitize's 1 … B, drops it)"),
    (dict(bins="none"), "group the samples into bins first: each bin compares its mean accuracy with its mean "
                        "confidence (not |correct − confidence| sample by sample)"),
    (dict(weight="mean"), "weight each bin's |accuracy − confidence| by its share of the samples |B_b|/n (a bin with "
                          "3 samples counts less than one with 300), not a plain mean over the bins"),
    (dict(weight="bins"), "weight each bin's gap by its share of the samples |B_b|/n; do not divide the sum of gaps "
                          "by the number of bins"),
    (dict(weight="sum"), "weight each bin's gap by its share of the samples |B_b|/n; do not add the gaps unweighted"),
    (dict(confidence="true"), "the confidence is the largest probability (that of the predicted class), not the "
                              "probability of the true label"),
    (dict(confidence="p1 predicts 1"), "p is P(class 1); a sample with p < 0.5 predicts class 0 with confidence "
                                       "1 − p (top-label confidence max(p, 1 − p))"),
    (dict(confidence="p1"), "bin the top-label confidence max(p, 1 − p), not P(class 1): a sample with p < 0.5 "
                            "predicts class 0 with confidence 1 − p"),
    (dict(tie="high"), "a tie goes to the lower class index (np.argmax's rule): [0.5, 0.5] predicts class 0"),
]


def _check_classification_ece(ece, probs, labels, n_bins, what, call=None):
    want = _classification_ece_oracle(np.asarray(probs, float), np.asarray(labels), 15 if n_bins is None else n_bins)
    got = (call or (lambda: ece(probs, labels) if n_bins is None else ece(probs, labels, n_bins=n_bins)))()
    _is_float(got, f"classification_ece ({what})", " — an empty bin contributes 0 (skip it; the mean of no samples "
                                                   "is NaN)")
    if abs(got - want) > 1e-10:
        nb = 15 if n_bins is None else n_bins
        p, lab = np.asarray(probs, float), np.asarray(labels)
        hint = _diagnose(got, [(_classification_ece_oracle(p, lab, nb, **kw), h) for kw, h in _CECE_MISTAKES]
                         + [(_classification_ece_oracle(p, lab, k), f"use n_bins = {nb} bins (n_bins + 1 edges from 0 "
                             f"to 1), you used {k}") for k in (nb - 1, nb + 1) if k >= 1], atol=1e-10)
        if not hint and n_bins is None:
            hint = _diagnose(got, [(_classification_ece_oracle(p, lab, k), f"the default is n_bins=15, you used {k}")
                                   for k in (5, 10, 14, 16, 20)], atol=1e-10)
        hint = hint or (": top-label confidence = max probability, correct = (argmax == label), bins (lo, hi], "
                        "each bin's |accuracy − confidence| weighted by its share of the samples")
        bins = "15, the default" if n_bins is None else n_bins
        raise AssertionError(f"classification_ece = {got:.6f}, expected {want:.6f} ({what}, n_bins={bins}){hint}")


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _sample_labels(rng, probs):
    u = rng.random(len(probs))
    return (u[:, None] > np.cumsum(probs, 1)[:, :-1]).sum(1)


@exercise("3.4", points=1.5)
def test_classification_ece_matches_definition(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(34)
    for n, classes, n_bins, sharp in ((400, 4, 15, 2.0), (250, 3, 10, 0.7), (300, 6, 7, 4.0)):
        probs = _softmax(rng.normal(size=(n, classes)) * sharp)
        labels = rng.integers(0, classes, n)  # labels unrelated to probs: a badly calibrated model
        labels[: n // 2] = probs[: n // 2].argmax(1)  # ... half of them right
        _check_classification_ece(ece, probs, labels, n_bins, f"{classes} classes")
    _check_classification_ece(ece, probs, labels, None, "called without n_bins")
    # torch inputs (float32 probabilities, int64 labels)
    got = ece(torch.tensor(probs, dtype=torch.float32), torch.tensor(labels))
    want = _classification_ece_oracle(np.float32(probs).astype(float), labels, 15)
    _is_float(got, "classification_ece (torch inputs)")
    assert abs(got - want) < 1e-9, f"torch inputs: expected {want:.6f}, got {got:.6f}"


@exercise("3.4", points=1)
def test_classification_ece_binary_vector_and_bin_edges(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(340)
    p1 = rng.random(500)
    labels = (rng.random(500) < 0.5 + 0.6 * (p1 - 0.5)).astype(int)
    _check_classification_ece(ece, p1, labels, 15, "binary (n,) probabilities of class 1")
    # confidences exactly on the bin edges 0.5, 0.75 and 1.0 (exact in binary floating point)
    probs = np.array([[1.0, 0.0]] * 6 + [[0.1, 0.9]] * 4 + [[0.75, 0.25]] * 4 + [[0.4, 0.6]] * 4 + [[0.5, 0.5]] * 2)
    labels = np.array([0, 0, 1, 1, 1, 1] + [1, 1, 1, 1] + [0, 0, 1, 1] + [1, 1, 1, 1] + [0, 1])
    _check_classification_ece(ece, probs, labels, 4, "confidences 0.5, 0.75 and 1.0 on the bin edges")
    # the same with the binary (n,) form and 8 bins: 0.75 is the upper edge of (0.625, 0.75]
    _check_classification_ece(ece, probs[:, 1], labels, 8, "binary (n,) form, confidences on the bin edges")


@exercise("3.4", points=0.5)
def test_classification_ece_degenerate_inputs(impl):
    ece = _mod(impl).classification_ece
    # every probability exactly 0 or 1: every confidence is 1.0, in the last bin, so ECE = 1 − accuracy
    p = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    labels = np.array([1, 0, 0, 1, 0, 1, 1, 0])
    _check_classification_ece(ece, p, labels, 10, "every probability 0 or 1, 2 of 8 wrong: ECE = 0.25")
    # labels all one class, every sample in one bin (the other 14 empty, contributing 0)
    p = np.array([0.81, 0.82, 0.83, 0.84, 0.85])
    _check_classification_ece(ece, p, np.ones(5, int), None, "labels all 1, one occupied bin")
    _check_classification_ece(ece, p, np.zeros(5, int), None, "labels all 0, one occupied bin")
    # ties go to the lower class index, also for a binary p of exactly 0.5
    probs = np.array([[0.5, 0.5]] * 3 + [[0.45, 0.55]] * 2 + [[0.15, 0.85]])  # no confidence on a bin edge
    _check_classification_ece(ece, probs, np.array([0, 0, 0, 1, 1, 0]), 5, "rows [0.5, 0.5] (a tie) with label 0")
    _check_classification_ece(ece, np.array([0.5, 0.5, 0.55, 0.9]), np.array([0, 0, 1, 1]), 5,
                              "binary p = 0.5 (a tie) with label 0")
    three = np.array([[0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [0.1, 0.45, 0.45]])
    _check_classification_ece(ece, three, np.array([0, 2, 1]), 3, "three classes with ties")
    # a single bin: ECE = |accuracy − mean confidence|
    rng = np.random.default_rng(342)
    probs = _softmax(rng.normal(size=(50, 3)))
    _check_classification_ece(ece, probs, rng.integers(0, 3, 50), 1, "n_bins=1")


@exercise("3.4", points=1)
def test_classification_ece_zero_when_calibrated_large_when_overconfident(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(341)
    probs = _softmax(rng.normal(size=(20000, 3)) * 1.5)
    labels = _sample_labels(rng, probs)  # calibrated by construction
    calibrated = ece(probs, labels)
    _is_float(calibrated, "classification_ece", " — an empty bin contributes 0")
    assert calibrated < 0.02, f"labels drawn from the predicted probabilities must give ECE ≈ 0, got {calibrated:.3f}"
    sharp = _softmax(np.log(probs) * 4)  # same ranking, far too confident
    over = ece(sharp, labels)
    assert over > 0.15, f"probabilities sharpened 4× must give a large ECE (> 0.15), got {over:.3f}"


@exercise("3.4", points=0.5)
def test_classification_ece_rejects_bad_input(impl):
    ece = _mod(impl).classification_ece
    good = np.array([[0.2, 0.8], [0.6, 0.4]])
    _is_float(ece(good, np.array([0, 1])), "classification_ece")  # points for the checks only once it works
    # rows that sum to 1 within 1e-4 are accepted (float32 softmax outputs do not sum to 1 exactly)
    _is_float(ece(np.array([[0.2, 0.80005], [0.6, 0.39995]]), np.array([0, 1])),
              "classification_ece (rows summing to 1 ± 5e-5 must be accepted)")
    _expect_value_error(ece, np.array([[0.2, 0.9], [0.6, 0.4]]), np.array([0, 1]), why="a row summing to 1.1")
    _expect_value_error(ece, np.array([[1.2, -0.2], [0.6, 0.4]]), np.array([0, 1]), why="probabilities outside [0, 1]")
    _expect_value_error(ece, np.array([0.3, 1.5]), np.array([0, 1]), why="a binary probability of 1.5")
    _expect_value_error(ece, np.array([0.3, np.nan]), np.array([0, 1]), why="a NaN probability")
    _expect_value_error(ece, good, np.array([0, 1, 1]), why="3 labels for 2 rows")
    _expect_value_error(ece, good, np.array([0, 2]), why="label 2 with 2 classes")
    _expect_value_error(ece, good, np.array([-1, 0]), why="label −1")
    _expect_value_error(ece, good, np.array([0.5, 1.0]), why="a label of 0.5 (not an integer)")
    _expect_value_error(ece, good, np.array([0, 1]), n_bins=0, why="n_bins=0")
    _expect_value_error(ece, good, np.array([0, 1]), n_bins=2.5, why="n_bins=2.5 (not an int)")
    _expect_value_error(ece, np.zeros((0, 2)), np.array([], dtype=int), why="empty probabilities")


# ---------------------------------------------------------------------------------------- 3.5
_T_RANGE = (0.01, 100.0)


def _nll_at(logits, labels, temperature):
    z = torch.as_tensor(logits, dtype=torch.float64)
    if z.ndim == 1:
        z = torch.stack([torch.zeros_like(z), z], 1)
    return float(torch.nn.functional.cross_entropy(z / temperature, torch.as_tensor(labels)))


def _temperature_oracle(logits, labels):
    grid = np.exp(np.linspace(math.log(_T_RANGE[0]), math.log(_T_RANGE[1]), 401))
    k = int(np.argmin([_nll_at(logits, labels, t) for t in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(lambda t: _nll_at(logits, labels, t), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-9})
    return float(res.x)


def _tempered_task(rng, n, classes, true_t, scale=3.0):
    logits = rng.normal(size=(n, classes)) * scale
    labels = _sample_labels(rng, _softmax(logits / true_t))
    return logits, labels


def _check_temperature_range(got, what):
    _is_float(got, f"fit_temperature ({what})")
    assert got > 0, (f"{what}: T = {got:.4g}; a temperature must stay > 0 (a negative T flips the predictions): "
                     "optimise log T, or bound T")
    assert _T_RANGE[0] * (1 - 1e-9) <= got <= _T_RANGE[1] * (1 + 1e-9), (
        f"{what}: T = {got:.4g} lies outside the search range [0.01, 100] of the spec: bound the search")


def _check_temperature_optimal(got, logits, labels, best, what, mistakes=None, fallback=None):
    """The spec: the NLL at the returned T is within 1e-6 of its minimum over [0.01, 100] (at ``best``).

    ``mistakes``: a function giving (T a classic mistake would return, hint) pairs, tried (only when the NLL is
    too high) before the generic diagnoses.
    """
    excess = _nll_at(logits, labels, got) - _nll_at(logits, labels, best)
    if excess > 1e-6:
        hint = next((" — " + h for t, h in (mistakes() if mistakes else ()) if abs(got - t) < 1e-3 * t), "")
        if hint:
            pass
        elif abs(got * best - 1) < 0.01:
            hint = " — you returned 1/T: the logits are divided by T (softmax(z / T)), not multiplied"
        elif best > 0 and abs(got - math.log(best)) < 1e-3 * max(1, abs(math.log(best))):
            hint = " — you returned log T; return T itself (exp of the optimised log T)"
        elif best in _T_RANGE:
            side = "grows" if best == _T_RANGE[1] else "shrinks"
            hint = (f" — the NLL keeps falling as T {side}, so the answer is the bound {best:g} of the search range "
                    "[0.01, 100]: search the whole range")
        else:
            hint = (" — the search stopped short of the minimum (too coarse a grid, too few steps, or a narrower "
                    "range): the spec asks for an NLL within 1e-6 of its minimum over [0.01, 100]"
                    + (f"; {fallback}" if fallback else ""))
        raise AssertionError(f"{what}: the NLL is smallest at T = {best:.5g} ({_nll_at(logits, labels, best):.7f}); "
                             f"at your T = {got:.5g} it is {excess:.2g} higher{hint}")


@exercise("3.5", points=2)
def test_fit_temperature_recovers_known_temperature(impl):
    fit = _mod(impl).fit_temperature
    rng = np.random.default_rng(35)
    for true_t in (2.5, 0.5):
        logits, labels = _tempered_task(rng, 3000, 4, true_t)
        oracle = _temperature_oracle(logits, labels)
        got = fit(logits, labels)
        what = f"labels drawn with T = {true_t}"
        _check_temperature_range(got, what)
        _check_temperature_optimal(got, logits, labels, oracle, what, lambda: [(
            _temperature_oracle(_softmax(logits), labels),
            "divide the logits (or log-probabilities) by T, not the probabilities")])
        assert abs(got - oracle) <= 1e-3 * oracle, (
            f"{what}: the NLL is minimised at T = {oracle:.4f}, you returned {got:.4f}")
    # logits in the hundreds (a very confident model): exp(z / T) overflows unless the log-softmax is stable
    big, big_labels = _tempered_task(rng, 1000, 4, 8.0, scale=120.0)
    best = _temperature_oracle(big, big_labels)
    got = fit(big, big_labels)
    _check_temperature_range(got, "logits in the hundreds")
    _check_temperature_optimal(got, big, big_labels, best, "logits in the hundreds", fallback=(
        "if your NLL is NaN or inf here, exp(z / T) overflowed: compute the log-softmax stably (subtract each row's "
        "maximum, or use logsumexp)"))
    # float32 torch logits, int labels
    got = fit(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
    _is_float(got, "fit_temperature (torch inputs)")
    assert abs(got - oracle) < 2e-3 * oracle, f"torch float32 logits: expected T ≈ {oracle:.4f}, got {got}"


@exercise("3.5", points=1)
def test_fit_temperature_binary_logit_column(impl):
    fit = _mod(impl).fit_temperature
    rng = np.random.default_rng(350)
    z = rng.normal(size=2000) * 4
    labels = (rng.random(2000) < special.expit(z / 1.8)).astype(int)
    oracle = _temperature_oracle(z, labels)
    for shaped, what in ((z, "(n,)"), (z[:, None], "(n, 1)"), (np.stack([np.zeros_like(z), z], 1), "(n, 2) [0, z]")):
        got = fit(shaped, labels)
        _is_float(got, "fit_temperature")
        assert abs(got - oracle) < 1e-3 * oracle, (
            f"binary logits shaped {what}: expected T = {oracle:.4f}, got {got:.4f} — a single logit z of class 1 "
            "means P(class 1) = sigmoid(z / T), the same as softmax of the two columns [0, z]")


@exercise("3.5", points=1)
def test_fit_temperature_stays_positive(impl):
    fit = _mod(impl).fit_temperature
    rng = np.random.default_rng(351)
    logits, labels = _tempered_task(rng, 1500, 3, 1.0)
    # logits pointing the wrong way: no positive T helps, the NLL keeps falling as T grows: the bound T = 100
    got = fit(-logits, labels)
    _check_temperature_range(got, "logits pointing the wrong way")
    _check_temperature_optimal(got, -logits, labels, _T_RANGE[1], "logits pointing the wrong way")
    # perfectly separated classes with a small margin: a sharper softmax always helps, the bound T = 0.01
    labels = rng.integers(0, 3, 300)
    separable = 0.15 * np.eye(3)[labels] + 0.01 * rng.random((300, 1))
    got = fit(separable, labels)
    _check_temperature_range(got, "perfectly separable logits")
    _check_temperature_optimal(got, separable, labels, _T_RANGE[0], "perfectly separable logits")
    # logits that carry nothing: the NLL does not depend on T, any T in the range is optimal
    got = fit(np.zeros((200, 3)), rng.integers(0, 3, 200))
    _check_temperature_range(got, "all-zero logits")


@exercise("3.5", points=0.5)
def test_fit_temperature_rejects_bad_input(impl):
    fit = _mod(impl).fit_temperature
    z = np.zeros((4, 3))
    _is_float(fit(z, np.array([0, 1, 2, 0])), "fit_temperature")  # points for the checks only once it works
    _expect_value_error(fit, z, np.array([0, 1, 2]), why="3 labels for 4 rows")
    _expect_value_error(fit, z, np.array([0, 1, 2, 3]), why="label 3 with 3 classes")
    _expect_value_error(fit, z, np.array([0, 1, 1.5, 0]), why="a label of 1.5 (not an integer)")
    _expect_value_error(fit, np.array([[0.0, np.nan, 1.0]] * 4), np.array([0, 1, 2, 0]), why="a NaN logit")
    _expect_value_error(fit, np.array([[0.0, np.inf, 1.0]] * 4), np.array([0, 1, 2, 0]), why="an infinite logit")
    _expect_value_error(fit, np.zeros((4, 3, 2)), np.array([0, 1, 2, 0]), why="3-D logits")
    _expect_value_error(fit, np.zeros((0, 3)), np.array([], dtype=int), why="empty logits")


# ---------------------------------------------------------------------------------------- 3.6
def _scale_oracle(mean, var, y):
    nll = lambda log_s2: float(-np.mean(stats.norm.logpdf(y, mean, np.sqrt(np.exp(log_s2) * var))))  # noqa: E731
    return float(np.exp(optimize.minimize_scalar(nll, bounds=(-10, 10), method="bounded",
                                                 options={"xatol": 1e-10}).x))


def _scale_mistakes(mean, var, y):
    """(value, hint) of the classic variance-scale mistakes."""
    r = y - mean
    z = r / np.sqrt(var)
    s2, n = float(np.mean(z**2)), len(y)
    own = "average each molecule's own z² = (y − μ)²/σ², not mean squared error / mean variance"
    return [
        (math.sqrt(s2), "that is s; return the factor s² on the variance"),
        (np.var(z), "that is the variance of z (centred); the optimum is the mean of z² (biased residuals count)"),
        (np.var(z, ddof=1), "that is the sample variance of z; the optimum is the mean of z² over n (not centred, "
                            "not divided by n − 1)"),
        (np.std(z), "that is the standard deviation of z; the optimum is the mean of z² (not centred, no square root)"),
        (s2 * n / (n - 1) if n > 1 else math.nan, "divide the sum of z² by n (the mean), not by n − 1"),
        (1 / s2, "that is 1/s²: s² = mean((y − μ)²/σ²) is > 1 when the residuals are larger than the predicted σ"),
        (np.mean(r**2 / var**2), "var is already the variance σ²: z = (y − μ)/√var, do not divide by var itself"),
        (np.median(z**2), "the optimum is the mean of z², not the median"),
        (np.mean(r**2) / np.mean(var), own),
        (np.mean(r**2) / np.mean(np.sqrt(var)) ** 2, own),
    ]


def _check_scale(fit, mean, var, y, what):
    oracle = _scale_oracle(mean, var, y)
    got = fit(mean, var, y)
    _is_float(got, f"fit_variance_scale ({what})")
    if abs(got - oracle) > 1e-5 * oracle:
        hint = _diagnose(got, _scale_mistakes(mean, var, y), atol=1e-8)
        raise AssertionError(f"{what}: the NLL of N(μ, s²σ²) is smallest at s² = {oracle:.5f}; you returned "
                             f"{got:.5f}{hint}")


@exercise("3.6", points=2)
def test_fit_variance_scale_minimises_nll(impl):
    fit = _mod(impl).fit_variance_scale
    rng = np.random.default_rng(36)
    for std_scale, bias in ((2.0, 0.0), (0.5, 0.8), (1.0, 0.0)):
        mean, std, y = _gaussian_data(rng, 400, std_scale=std_scale, bias=bias)
        _check_scale(fit, mean, std**2, y, f"residuals {std_scale}× the predicted std, bias {bias}")
    # the truth is known: predictions whose std is half the real one need s² ≈ 4
    mean, std, y = _gaussian_data(rng, 20000, std_scale=2.0)
    got = fit(mean, std**2, y)
    assert 3.7 < got < 4.3, f"predicted stds half the true ones need s² ≈ 4, got {got:.3f}"


@exercise("3.6", points=1)
def test_fit_variance_scale_heteroscedastic_and_torch(impl):
    fit = _mod(impl).fit_variance_scale
    # two molecules: a confident one that is off by 1, an unsure one that is exact
    mean, var, y = np.array([0.0, 0.0]), np.array([0.01, 100.0]), np.array([1.0, 0.0])
    got = fit(mean, var, y)
    _is_float(got, "fit_variance_scale")
    assert abs(got - 50.0) < 1e-6, (
        f"expected s² = mean(z²) = (1/0.01 + 0)/2 = 50, got {got:.4f}"
        + (_diagnose(got, _scale_mistakes(mean, var, y), atol=1e-8) or " — average each molecule's own z²"))
    # a single molecule: s² = its z²
    _check_scale(fit, np.array([1.0]), np.array([0.25]), np.array([2.0]), "one molecule with z = 2")
    rng = np.random.default_rng(360)
    mean, std, y = _gaussian_data(rng, 100, std_scale=1.3)
    got = fit(*(torch.tensor(a, dtype=torch.float32) for a in (mean, std**2, y)))
    want = _scale_oracle(*(np.float32(a).astype(float) for a in (mean, std**2, y)))
    _is_float(got, "fit_variance_scale (torch inputs)")
    assert abs(got - want) < 1e-5 * want, f"torch float32 inputs: expected {want:.5f}, got {got:.5f}"


@exercise("3.6", points=0.5)
def test_fit_variance_scale_rejects_bad_input(impl):
    fit = _mod(impl).fit_variance_scale
    ok = np.array([0.0, 1.0, 2.0])
    _is_float(fit(ok, np.ones(3), ok + 1), "fit_variance_scale")  # points for the checks only once it works
    _expect_value_error(fit, ok, np.array([1.0, 0.0, 1.0]), ok + 1, why="a zero variance")
    _expect_value_error(fit, ok, np.array([1.0, -2.0, 1.0]), ok + 1, why="a negative variance")
    _expect_value_error(fit, ok, np.ones(3), np.ones(4), why="a length mismatch")
    _expect_value_error(fit, ok, np.ones(3), ok, why="all residuals zero")
    _expect_value_error(fit, ok, np.ones(3), np.array([1.0, np.nan, 3.0]), why="a NaN in y")
    _expect_value_error(fit, np.array([]), np.array([]), np.array([]), why="empty inputs")
    _expect_value_error(fit, np.ones((3, 1)), np.ones((3, 1)), np.zeros((3, 1)), why="2-D inputs (need (n,))")


# ---------------------------------------------------------------------------------------- 3.7
def _rank(n, alpha):
    """k = ⌈(n + 1)(1 − α) − 1e-9⌉, the spec's convention: a tolerance for floating-point α, so a product that is
    a whole number in decimal arithmetic (n = 9, α = 0.7 → 3) keeps its decimal ceiling. Counted from the decimal
    α (fractions of its shortest repr, no float rounding) and checked against the float formula with the
    tolerance, so the oracle and the spec cannot drift apart."""
    from fractions import Fraction

    x = (n + 1) * (1 - Fraction(repr(float(alpha))))
    exact = int(-(-x.numerator // x.denominator))
    assert exact == math.ceil((n + 1) * (1 - float(alpha)) - 1e-9), (n, alpha)  # the grader's own consistency
    return exact


def _conformal_oracle(scores, alpha):
    """The k-th smallest score by counting (no sorting, no quantile function): the smallest s with at least k
    scores ≤ s; inf when k > n."""
    k = _rank(len(scores), alpha)
    if k > len(scores):
        return math.inf
    return float(min(s for s in scores if np.sum(scores <= s) >= k))


def _conformal_mistakes(scores, alpha):
    """(value, hint) of the classic conformal-quantile mistakes."""
    s, n = np.sort(scores), len(scores)
    k = _rank(n, alpha)
    fix = "use the finite-sample rank k = ⌈(n + 1)(1 − α)⌉ and return the k-th smallest score"
    out = [
        (np.quantile(scores, 1 - alpha), f"that is the uncorrected np.quantile(scores, 1 − α) — no finite-sample "
                                         f"correction; {fix}"),
        (np.quantile(scores, 1 - alpha, method="higher"), f"that is the plain empirical (1 − α) quantile without "
                                                          f"the finite-sample correction; {fix}"),
        (s[min(math.ceil(n * (1 - alpha)), n) - 1] if math.ceil(n * (1 - alpha)) >= 1 else math.nan,
         f"you used ⌈n(1 − α)⌉; the rank counts the test point too: n + 1, {fix}"),
        (s[min(math.floor((n + 1) * (1 - alpha)), n) - 1] if math.floor((n + 1) * (1 - alpha)) >= 1 else math.nan,
         "round (n + 1)(1 − α) up (ceiling), not down"),
        (np.quantile(scores, min(k / n, 1.0)), "do not interpolate between scores (no interpolation): return the "
                                               "k-th smallest score itself"),
        (s[math.ceil((n + 1) * alpha) - 1] if 1 <= math.ceil((n + 1) * alpha) <= n else math.nan,
         "α is the miscoverage: the rank uses 1 − α, not α"),
    ]
    if k <= n:
        out.append((float(np.asarray(scores)[k - 1]), "sort the scores first: the k-th smallest is not the k-th "
                                                      "in input order"))
    if k < n:
        out.insert(0, (s[k], "the rank k counts from 1 but arrays from 0: take position k − 1 (off by one)"))
    if k >= 2:
        out.insert(0, (s[k - 2], "off by one: the k-th smallest score sits at position k − 1, you took k − 2"))
    return out


def _diagnose_all(got, candidates):
    """Every classic mistake whose answer equals ``got`` (several coincide on some inputs), joined."""
    hints = [h for v, h in candidates if math.isfinite(float(v)) and abs(got - float(v)) <= 1e-12 * max(1.0, abs(v))]
    return (" — " + "; or ".join(dict.fromkeys(hints))) if hints else ""


def _check_conformal(fn, scores, alpha, what):
    want = _conformal_oracle(scores, alpha)
    got = fn(scores, alpha)
    assert isinstance(got, float) and not isinstance(got, bool), (
        f"conformal_quantile must return a Python float (use float(...)), got {type(got).__name__}")
    if want == math.inf:
        if got != math.inf:
            hint = _diagnose_all(got, _conformal_mistakes(scores, alpha)) if math.isfinite(got) else ""
            if got == float(np.max(scores)):
                hint += " — the largest score: when k > n return math.inf, not the largest score"
            raise AssertionError(f"{what}: k = ⌈(n + 1)(1 − α)⌉ = {_rank(len(scores), alpha)} exceeds n = "
                                 f"{len(scores)}, so the answer is math.inf (no finite score has the guarantee); "
                                 f"you returned {got}{hint}")
        return
    if not (math.isfinite(got) and abs(got - want) <= 1e-12 * max(1.0, abs(want))):
        hint = _diagnose_all(got, _conformal_mistakes(scores, alpha)) if math.isfinite(got) else \
            " — k ≤ n here, so the answer is a finite score"
        raise AssertionError(f"{what}: expected the {_rank(len(scores), alpha)}-th smallest of {len(scores)} scores = "
                             f"{want:.6g}, got {got:.6g}{hint}")


@exercise("3.7", points=2)
def test_conformal_quantile_is_the_corrected_order_statistic(impl):
    fn = _mod(impl).conformal_quantile
    rng = np.random.default_rng(37)
    for n in (400, 127, 50, 19, 7, 2):
        scores = np.abs(rng.standard_normal(n))
        for alpha in (0.1, 0.32, 0.25, 0.05, 0.5, 0.9):
            _check_conformal(fn, scores, alpha, f"n = {n}, α = {alpha}")
    # a hand-checked case: n = 9, α = 0.2 → k = ⌈10 · 0.8⌉ = 8 → the 8th smallest of 1..9 is 8 (np.quantile gives 7.4)
    got = fn(np.arange(9, 0, -1, dtype=float), 0.2)
    assert got == 8.0, (f"scores 9, 8, …, 1 with α = 0.2: k = ⌈10 · 0.8⌉ = 8, the answer is 8; got {got}"
                        + _diagnose_all(got, _conformal_mistakes(np.arange(9, 0, -1, dtype=float), 0.2)))


@exercise("3.7", points=1)
def test_conformal_quantile_rank_uses_the_float_tolerance(impl):
    """n = 9: (n + 1)(1 − α) is a whole number for α = 0.7 (3) and α = 0.3 (7) in decimal arithmetic; in floats
    10 · (1 − 0.7) = 3.0000000000000004. The spec's k = ⌈(n + 1)(1 − α) − 1e-9⌉ gives the decimal ranks."""
    fn = _mod(impl).conformal_quantile
    scores = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4])  # the k-th smallest is k / 10
    for alpha, k in ((0.7, 3), (0.3, 7)):
        assert _rank(9, alpha) == k
        got = fn(scores, alpha)
        if isinstance(got, float) and math.isfinite(got) and abs(got - k / 10) > 1e-12:
            off = round(got * 10) - k
            fix = ("(n + 1)(1 − α) is a whole number here, but the float product is not exactly: compute "
                   "k = ⌈(n + 1)(1 − α) − 1e-9⌉ as the spec says (a tolerance before the ceiling)")
            raise AssertionError(f"9 scores 0.1 … 0.9, α = {alpha}: k = {k} in decimal arithmetic, so the answer is "
                                 f"{k / 10:.1f}; you returned {got:.6g}" + (f" (rank {k + off}) — {fix}" if abs(off) == 1
                                                                          else _diagnose_all(got, _conformal_mistakes(scores, alpha))))
        _check_conformal(fn, scores, alpha, f"n = 9, α = {alpha}")


@exercise("3.7", points=1.5)
def test_conformal_quantile_infinite_when_the_rank_exceeds_n(impl):
    fn = _mod(impl).conformal_quantile
    for scores, alpha in ((np.array([0.3, 1.2, 0.7, 2.0, 0.1]), 0.1),     # k = ⌈5.4⌉ = 6 > 5
                          (np.linspace(0.1, 0.9, 9), 0.05),               # k = ⌈9.5⌉ = 10 > 9
                          (np.array([4.0]), 0.25),                         # k = ⌈1.5⌉ = 2 > 1
                          (np.array([2.0, 1.0, 3.0]), 0.25),               # k = 4 · 0.75 = 3 ≤ 3: finite, = 3
                          (np.array([2.0, 1.0, 3.0, 5.0]), 0.5)):          # k = ⌈2.5⌉ = 3: = 3
        _check_conformal(fn, scores, alpha, f"{len(scores)} scores, α = {alpha}")


@exercise("3.7", points=1)
def test_conformal_quantile_gives_the_coverage_guarantee(impl):
    """Exchangeable scores: a fresh score falls at or below q with probability k/(n + 1) ≥ 1 − α."""
    fn = _mod(impl).conformal_quantile
    rng = np.random.default_rng(3700)
    n, alpha, trials = 19, 0.1, 3000
    cal, new = rng.exponential(size=(trials, n)), rng.exponential(size=trials)
    covered = np.mean([new[t] <= fn(cal[t], alpha) for t in range(trials)])
    want = _rank(n, alpha) / (n + 1)  # 18/20 = 0.90 exactly
    assert covered >= want - 0.02, (
        f"{trials} draws of n = {n} calibration scores + one test score: your q covered the test score "
        f"{covered:.3f} of the time; the finite-sample quantile covers {want:.3f} ≥ 1 − α = {1 - alpha:.2f}"
        + (" — the uncorrected quantile under-covers; use the rank ⌈(n + 1)(1 − α)⌉ (finite-sample correction)"
           if covered < want - 0.02 else ""))


@exercise("3.7", points=1)
def test_conformal_quantile_inputs_ties_and_infinities(impl):
    fn = _mod(impl).conformal_quantile
    _check_conformal(fn, np.array([1.0, 1.0, 1.0, 2.0, 2.0]), 0.5, "tied scores")        # k = 3 → 1.0
    _check_conformal(fn, np.array([0.5, np.inf, 0.2, 0.9]), 0.32, "an infinite score")    # k = ⌈3.4⌉ = 4 → inf
    _check_conformal(fn, np.array([0.5, np.inf, 0.2, 0.9, 0.1, 0.3]), 0.32, "an infinite score, k < n")
    scores = np.abs(np.random.default_rng(371).standard_normal(30))
    want = _conformal_oracle(scores, 0.1)
    for kind, x in (("list", scores.tolist()), ("float32 tensor", torch.tensor(scores, dtype=torch.float32)),
                    ("float64 tensor", torch.tensor(scores))):
        got = fn(x, 0.1)
        assert isinstance(got, float), f"{kind} input: return a Python float, got {type(got).__name__}"
        assert abs(got - want) <= 1e-6 * max(1.0, want), f"{kind} input: expected {want:.6g}, got {got:.6g}"
    got = fn(scores, np.float32(0.25))
    assert isinstance(got, float), "a numpy float α must work and return a Python float"


@exercise("3.7", points=0.5)
def test_conformal_quantile_rejects_bad_input(impl):
    fn = _mod(impl).conformal_quantile
    ok = np.array([0.3, 1.2, 0.7])
    got = fn(ok, 0.5)  # points for the checks only once it works
    assert got == 0.7, f"3 scores, α = 0.5: k = 2, expected 0.7, got {got}"
    for alpha in (0.0, 1.0, -0.1, 1.5, math.nan):
        _expect_value_error(fn, ok, alpha, why=f"α = {alpha} (α must lie strictly between 0 and 1)")
    _expect_value_error(fn, ok, True, why="α = True (a bool is not a level)")
    _expect_value_error(fn, ok, "0.1", why="α given as a string")
    _expect_value_error(fn, np.array([]), 0.1, why="empty scores")
    _expect_value_error(fn, np.array([0.3, np.nan, 0.7]), 0.1, why="a NaN score")
    _expect_value_error(fn, np.ones((3, 2)), 0.1, why="2-D scores (need (n,))")


# ---------------------------------------------------------------------------------------- 3.8
def _qce_oracle(mean, std, y, n_levels):
    """Per level, uncertainty-toolbox's way: count z_i = (y_i − μ_i)/σ_i at or below the level's normal quantile."""
    z = (np.asarray(y, float) - np.asarray(mean, float)) / np.asarray(std, float)
    gaps = []
    for p in np.linspace(0.0, 1.0, n_levels):
        bound = -math.inf if p == 0 else math.inf if p == 1 else stats.norm.ppf(p)
        gaps.append(abs(p - np.mean(z <= bound)))
    return float(np.mean(gaps))


def _qce_mistakes(mean, std, y, n_levels):
    """(value, hint) of the classic quantile-calibration mistakes."""
    mean, std, y = (np.asarray(a, float) for a in (mean, std, y))
    z = (y - mean) / std
    L = np.linspace(0.0, 1.0, n_levels)

    def gap(u, levels=L, reduce=lambda g: float(np.mean(np.abs(g)))):
        return reduce(levels - (u[None, :] <= levels[:, None]).mean(axis=1))

    u = stats.norm.cdf(z)
    return [
        (_regression_ece_oracle(mean, std, y, n_levels), "that is 3.3's central-interval ECE (|z|): quantile "
         "calibration is one-sided — use the PIT u = Φ((y − μ)/σ) with its sign"),
        (gap(stats.norm.cdf(np.abs(z))), "Φ(|z|) loses the sign of the error: the PIT is Φ((y − μ)/σ), not Φ(|y − μ|/σ)"),
        (gap(stats.norm.cdf((y - mean) / std ** 2)), "std is a standard deviation: divide y − μ by σ, do not square it"),
        (gap(stats.norm.cdf((y - mean) / np.sqrt(std))), "std is already σ: do not take its square root"),
        (gap(stats.norm.pdf(z)), "the PIT uses the normal CDF Φ, not the density"),
        (gap(u, np.linspace(0, 1, n_levels + 2)[1:-1]), "the levels are np.linspace(0, 1, n_levels): both ends included"),
        (gap(u, np.arange(n_levels) / n_levels), "the levels are np.linspace(0, 1, n_levels): both ends included"),
        (gap(u, np.linspace(0, 1, n_levels)[1:]), "the levels are np.linspace(0, 1, n_levels): both ends included"),
        (float(np.mean(np.abs(L - (u[None, :] < L[:, None]).mean(axis=1)))), "the comparison is closed: count u ≤ p, not u < p"),
        (gap(u, reduce=lambda g: float(np.sqrt(np.mean(g ** 2)))), "mean absolute gap, not the root-mean-square gap"),
        (gap(u, reduce=lambda g: float(np.mean(g ** 2))), "mean absolute gap, not the mean squared gap (Kuleshov's weighted squared score is another number)"),
        (gap(u, reduce=lambda g: float(np.max(np.abs(g)))), "average the gaps over levels, not the largest gap"),
        (gap(u, reduce=lambda g: float(np.sum(np.abs(g)))), "average the gaps over levels, not their sum"),
        (gap(u, reduce=lambda g: float(abs(np.mean(g)))), "take the absolute value of each gap before averaging, not of their mean"),
        (gap(u, reduce=lambda g: float(np.mean(g))), "take the absolute value of each gap before averaging"),
    ]


def _check_qce(fn, mean, std, y, n_levels, what):
    want = _qce_oracle(mean, std, y, n_levels)
    got = fn(mean, std, y, n_levels=n_levels)
    _is_float(got, "quantile_calibration_error")
    if not abs(got - want) <= 1e-9:
        hint = _diagnose_all(got, _qce_mistakes(mean, std, y, n_levels))
        raise AssertionError(f"{what}: expected QCE {want:.6f}, got {got:.6f}{hint}")


@exercise("3.8", points=2)
def test_quantile_calibration_error_matches_definition(impl):
    fn = _mod(impl).quantile_calibration_error
    rng = np.random.default_rng(38)
    for n, scale, bias, n_levels in ((300, 1.0, 0.0, 100), (200, 0.6, 0.3, 100), (150, 1.7, -0.4, 100),
                                     (97, 1.0, 0.8, 11), (64, 1.3, 0.0, 2), (40, 0.5, -0.2, 7)):
        mean, std, y = _gaussian_data(rng, n, std_scale=scale, bias=bias)
        _check_qce(fn, mean, std, y, n_levels, f"n = {n}, σ × {scale}, bias {bias:+g}, n_levels = {n_levels}")
    mean, std, y = _gaussian_data(rng, 120, bias=0.5)
    got, want = fn(mean, std, y), _qce_oracle(mean, std, y, 100)
    assert isinstance(got, float) and abs(got - want) <= 1e-9, (
        f"called without n_levels: expected {want:.6f} (the default is n_levels=100), got {got}")


@exercise("3.8", points=1)
def test_quantile_calibration_error_sees_the_sign(impl):
    """Observations all above their means: the central intervals still cover rightly (3.3's ECE ≈ 0), the QCE is large."""
    fn = _mod(impl).quantile_calibration_error
    rng = np.random.default_rng(381)
    mean, std, y = _gaussian_data(rng, 2000)
    calibrated = fn(mean, std, y)
    assert calibrated < 0.03, f"2000 draws from the predictions themselves: QCE should be near 0, got {calibrated:.3f}"
    above = mean + np.abs(y - mean)
    got = fn(mean, std, above)
    hint = _diagnose_all(got, _qce_mistakes(mean, std, above, 100))
    assert got > 0.2, (f"every observation above its mean (a biased model whose |z| are calibrated): the fraction "
                       f"of PIT values ≤ 0.5 is 0, so the QCE must be ≈ 0.25, got {got:.3f}{hint}")
    below = mean - np.abs(y - mean)
    got_b = fn(mean, std, below)
    assert got_b > 0.2, f"every observation below its mean: the QCE must be ≈ 0.25 too, got {got_b:.3f}"


@exercise("3.8", points=1)
def test_quantile_calibration_error_closed_levels_and_input_kinds(impl):
    fn = _mod(impl).quantile_calibration_error
    mean, std = np.zeros(8), np.ones(8)
    y = np.array([0.0, 0.0, 0.0, 1.0, 2.0, -1.0, 0.5, 1.5])   # three PIT values exactly 0.5, a level of linspace(0, 1, 101)
    _check_qce(fn, mean, std, y, 101, "three observations exactly at their means (PIT = 0.5, a level)")
    _check_qce(fn, mean, std, y, 3, "levels 0, 0.5, 1 with PIT values on the middle level")
    rng = np.random.default_rng(382)
    m, s, obs = _gaussian_data(rng, 50, bias=0.2)
    want = _qce_oracle(m, s, obs, 100)
    for kind, args in (("lists", (m.tolist(), s.tolist(), obs.tolist())),
                       ("float64 tensors", tuple(torch.tensor(a) for a in (m, s, obs))),
                       ("float32 tensors", tuple(torch.tensor(a, dtype=torch.float32) for a in (m, s, obs)))):
        got = fn(*args)
        _is_float(got, f"quantile_calibration_error on {kind}")
        assert abs(got - want) <= 0.011, f"{kind}: expected {want:.4f}, got {got:.4f}"


@exercise("3.8", points=0.5)
def test_quantile_calibration_error_rejects_bad_input(impl):
    fn = _mod(impl).quantile_calibration_error
    mean, std, y = _gaussian_data(np.random.default_rng(383), 20)
    got = fn(mean, std, y)  # points for the checks only once it works
    assert isinstance(got, float) and abs(got - _qce_oracle(mean, std, y, 100)) <= 1e-9, \
        f"expected {_qce_oracle(mean, std, y, 100):.6f}, got {got}"
    _expect_value_error(fn, mean, std, y[:-1], why="y shorter than mean")
    _expect_value_error(fn, mean, np.where(np.arange(20) == 3, 0.0, std), y, why="a zero std")
    _expect_value_error(fn, mean, -std, y, why="negative stds")
    _expect_value_error(fn, mean, std, np.where(np.arange(20) == 5, np.nan, y), why="a NaN observation")
    _expect_value_error(fn, np.array([]), np.array([]), np.array([]), why="empty inputs")
    _expect_value_error(fn, mean[None], std[None], y[None], why="2-D inputs")
    _expect_value_error(fn, mean, std, y, n_levels=1, why="n_levels = 1 (need ≥ 2)")
    _expect_value_error(fn, mean, std, y, n_levels=10.0, why="a float n_levels")
