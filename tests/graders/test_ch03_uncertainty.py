"""Graders of chapter 3 (uncertainty and calibration). Each takes ``impl`` (exercises or solutions).

Every oracle here is written independently of the reference solutions: scipy's Gaussian log-density
and ``torch.nn.GaussianNLLLoss(full=True)`` for the NLL, the second moments of the mixture for the
ensemble, per-level and per-bin loops written the way uncertainty-toolbox and Guo et al.'s code
write them for the two ECEs, and a direct numerical minimisation for the fitted scales. Synthetic data
come from seeded generators, so a verdict never flakes; where the truth is known by construction
(calibrated data, a known temperature or variance scale) the graders check that too.
"""
import math

import numpy as np
import torch
from scipy import optimize, special, stats

from molpractice.grading import exercise


def _mod(impl):
    return impl.ch03_uncertainty


def _is_float(value, what):
    assert isinstance(value, float) and not isinstance(value, bool), (
        f"{what} must return a Python float (use float(...)), got {type(value).__name__}")
    assert math.isfinite(value), f"{what} returned {value}; expected a finite number"


def _expect_value_error(fn, *args, why, **kwargs):
    try:
        fn(*args, **kwargs)
    except ValueError:
        return
    except Exception as err:  # noqa: BLE001 — report what was raised instead
        raise AssertionError(f"{why}: expected ValueError, got {type(err).__name__}: {err}") from None
    raise AssertionError(f"{why}: expected ValueError, nothing was raised (keep the argument checks "
                         f"above the solution block)")


def _gaussian_data(rng, n, std_scale=1.0, bias=0.0):
    mean = rng.normal(0.0, 2.0, n)
    std = rng.uniform(0.2, 1.5, n)
    y = mean + bias + std * std_scale * rng.standard_normal(n)
    return mean, std, y


# ---------------------------------------------------------------------------------------- 3.1
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
    for kind in ("numpy64", "numpy32", "torch64", "torch32"):
        dtype = np.float32 if kind.endswith("32") else np.float64
        args = [a.astype(dtype) for a in (mean, var, y)]
        if kind.startswith("torch"):
            args = [torch.from_numpy(a) for a in args]
        got = nll(*args)
        _is_float(got, f"gaussian_nll ({kind} inputs)")
        tol = 1e-5 if dtype == np.float32 else 1e-10
        if abs(got - want) <= tol * max(1.0, abs(want)):
            continue
        shift = want - got
        if abs(shift - 0.5 * math.log(2 * math.pi)) < 1e-3:
            hint = "the constant ½·log(2π) ≈ 0.919 is missing — the spec includes it"
        elif abs(got - want * len(y)) < 1e-3 * len(y):
            hint = "you summed over molecules; average instead"
        else:
            hint = "compare with −mean(scipy.stats.norm.logpdf(y, mean, sqrt(var))); is var a variance (not a std)?"
        raise AssertionError(f"gaussian_nll = {got:.6f} for {kind} inputs, expected {want:.6f}: {hint}")


@exercise("3.1", points=1)
def test_gaussian_nll_known_values_and_extreme_variances(impl):
    nll = _mod(impl).gaussian_nll
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    got = nll(np.zeros(3), np.ones(3), np.zeros(3))
    _is_float(got, "gaussian_nll")
    assert abs(got - half_log_2pi) < 1e-12, (
        f"N(0, 1) at y = 0 has NLL ½·log(2π) = {half_log_2pi:.6f}, got {got:.6f}")
    got = nll(np.zeros(1), np.array([4.0]), np.array([2.0]))
    want = half_log_2pi + 0.5 * math.log(4.0) + 0.5
    assert abs(got - want) < 1e-12, (
        f"N(0, var=4) at y = 2: expected {want:.6f} = ½log2π + ½log 4 + 4/(2·4), got {got:.6f} — "
        "var is the variance σ² (do not square it again)")
    # very small and very large variances must not be clamped or overflow
    mean = np.array([0.0, 1.0, -3.0])
    var = np.array([1e-12, 1e6, 1e-3])
    y = np.array([1e-6, 50.0, -3.01])
    want = float(-np.mean(stats.norm.logpdf(y, loc=mean, scale=np.sqrt(var))))
    got = nll(mean, var, y)
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


# ---------------------------------------------------------------------------------------- 3.2
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
        f"ensemble_moments must return a tuple (mean, aleatoric_var, epistemic_var), got {type(out).__name__}")
    return out


@exercise("3.2", points=2)
def test_ensemble_moments_equal_mixture_moments(impl):
    rng = np.random.default_rng(32)
    members, n = 5, 7  # different sizes, so a wrong axis shows up as a wrong shape
    means = rng.normal(0, 1.5, (members, n))
    variances = rng.uniform(0.05, 2.0, (members, n))
    want = _mixture_oracle(means, variances)
    names = ("mean", "aleatoric_var", "epistemic_var")
    for kind in ("numpy64", "torch32", "torch64", "numpy32"):
        dtype = np.float32 if kind.endswith("32") else np.float64
        m, v = means.astype(dtype), variances.astype(dtype)
        if kind.startswith("torch"):
            m, v = torch.from_numpy(m), torch.from_numpy(v)
        got = _moments(impl, m, v)
        for name, g, w in zip(names, got, want):
            if kind.startswith("torch"):
                assert isinstance(g, torch.Tensor), f"{name}: torch inputs must give torch outputs, got {type(g).__name__}"
                assert g.dtype == m.dtype, f"{name}: expected dtype {m.dtype} (the input's), got {g.dtype}"
                g = g.double().numpy()
            else:
                assert isinstance(g, np.ndarray), f"{name}: numpy inputs must give numpy outputs, got {type(g).__name__}"
                assert g.dtype == dtype, f"{name}: expected dtype {np.dtype(dtype)} (the input's), got {g.dtype}"
            assert tuple(g.shape) == (n,), (
                f"{name} must have shape (n,) = ({n},) for inputs of shape (members, n) = ({members}, {n}), "
                f"got {tuple(g.shape)} — average over the members axis (axis 0)")
            tol = 1e-5 if dtype == np.float32 else 1e-12
            if not np.allclose(g, w, rtol=tol, atol=tol):
                hint = ""
                if name == "epistemic_var":
                    if np.allclose(g, w * members / (members - 1), rtol=1e-4):
                        hint = " — that is the ddof=1 sample variance; the mixture's moment divides by M (ddof=0)"
                    elif np.allclose(g, want[1] + w, rtol=1e-4):
                        hint = " — that is the total variance; epistemic is only the spread of the members' means"
                    elif np.allclose(g, np.sqrt(w), rtol=1e-4):
                        hint = " — that is a standard deviation; return the variance"
                elif name == "aleatoric_var" and np.allclose(g, np.mean(np.sqrt(variances), 0) ** 2, rtol=1e-4):
                    hint = " — that is (mean σ)²; average the variances σ², not the standard deviations"
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
        f"members predicting 0 and 2 (σ² = 0) form a mixture with variance 1, got epistemic {epi.tolist()}")


@exercise("3.2", points=0.5)
def test_ensemble_moments_rejects_bad_input(impl):
    fn = _mod(impl).ensemble_moments
    _moments(impl, np.zeros((2, 3)), np.ones((2, 3)))  # points for the checks only once the function works
    _expect_value_error(fn, np.zeros((3, 4)), np.ones((3, 5)), why="shapes (3, 4) and (3, 5)")
    _expect_value_error(fn, np.zeros(4), np.ones(4), why="1-D inputs (need (members, n))")
    _expect_value_error(fn, np.zeros((2, 3)), -np.ones((2, 3)), why="negative variances")


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


@exercise("3.3", points=2)
def test_regression_ece_matches_definition(impl):
    ece = _mod(impl).regression_ece
    rng = np.random.default_rng(33)
    cases = [(_gaussian_data(rng, 300, std_scale=1.7), 100), (_gaussian_data(rng, 300, std_scale=0.6), 7),
             (_gaussian_data(rng, 50, std_scale=1.0, bias=0.5), 2), (_gaussian_data(rng, 120, 2.5), 11)]
    for (mean, std, y), n_levels in cases:
        want = _regression_ece_oracle(mean, std, y, n_levels)
        got = ece(mean, std, y, n_levels=n_levels)
        _is_float(got, "regression_ece")
        assert abs(got - want) < 1e-9, (
            f"regression_ece = {got:.6f}, expected {want:.6f} (n_levels={n_levels}): use levels "
            "np.linspace(0, 1, n_levels) (both ends), central intervals μ ± Φ⁻¹((1+p)/2)·σ, and the mean "
            "absolute gap |p − observed| over the levels")
    # torch float32 inputs
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


@exercise("3.3", points=1)
def test_regression_ece_closed_intervals(impl):
    ece = _mod(impl).regression_ece
    # a quarter of the predictions are exact: they lie inside every interval, even the one of width 0
    y = np.array([0.0, 0.3, -1.2, 2.0] * 5)
    mean = np.array([0.0, 0.0, 0.0, 0.0] * 5)
    std = np.ones(20)
    for n_levels in (2, 3, 5):
        want = _regression_ece_oracle(mean, std, y, n_levels)
        got = ece(mean, std, y, n_levels=n_levels)
        assert abs(got - want) < 1e-12, (
            f"n_levels={n_levels}: expected {want:.4f}, got {got:.4f} — intervals are closed: a residual of exactly "
            "0 is inside the level-0 interval [μ, μ], and every residual is inside the level-1 interval")


@exercise("3.3", points=0.5)
def test_regression_ece_rejects_bad_input(impl):
    ece = _mod(impl).regression_ece
    ok = np.ones(5)
    _is_float(ece(ok, ok, ok), "regression_ece")  # points for the checks only once the function works
    _expect_value_error(ece, ok, np.array([1, 1, 0, 1, 1.0]), ok, why="a zero std")
    _expect_value_error(ece, ok, ok, np.ones(6), why="a length mismatch")
    _expect_value_error(ece, ok, ok, ok, n_levels=1, why="n_levels=1")


# ---------------------------------------------------------------------------------------- 3.4
def _classification_ece_oracle(probs, labels, n_bins):
    """Guo et al.'s loop: bins (lo, hi], |accuracy − confidence| weighted by the bin's share of samples."""
    probs = np.asarray(probs, float)
    if probs.ndim == 1:
        probs = np.stack([1 - probs, probs], 1)
    conf = probs.max(1)
    acc = (probs.argmax(1) == np.asarray(labels)).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (conf > lo) & (conf <= hi)
        share = in_bin.mean()
        if share > 0:
            total += abs(acc[in_bin].mean() - conf[in_bin].mean()) * share
    return total


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _sample_labels(rng, probs):
    u = rng.random(len(probs))
    return (u[:, None] > np.cumsum(probs, 1)[:, :-1]).sum(1)


@exercise("3.4", points=2)
def test_classification_ece_matches_definition(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(34)
    for n, classes, n_bins, sharp in ((400, 4, 15, 2.0), (250, 3, 10, 0.7), (300, 6, 7, 4.0)):
        probs = _softmax(rng.normal(size=(n, classes)) * sharp)
        labels = rng.integers(0, classes, n)  # labels unrelated to probs: a badly calibrated model
        labels[: n // 2] = probs[: n // 2].argmax(1)  # ... half of them right
        want = _classification_ece_oracle(probs, labels, n_bins)
        got = ece(probs, labels, n_bins=n_bins)
        _is_float(got, "classification_ece")
        assert abs(got - want) < 1e-10, (
            f"classification_ece = {got:.6f}, expected {want:.6f} ({classes} classes, n_bins={n_bins}): top-label "
            "confidence = max probability, correct = (argmax == label), each bin's |accuracy − confidence| "
            "weighted by its share of the samples")
    # torch inputs (float32 probabilities, int64 labels)
    got = ece(torch.tensor(probs, dtype=torch.float32), torch.tensor(labels))
    want = _classification_ece_oracle(np.float32(probs).astype(float), labels, 15)
    assert abs(got - want) < 1e-9, f"torch inputs: expected {want:.6f}, got {got:.6f}"


@exercise("3.4", points=1)
def test_classification_ece_binary_vector_and_bin_edges(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(340)
    p1 = rng.random(500)
    labels = (rng.random(500) < 0.5 + 0.6 * (p1 - 0.5)).astype(int)
    want = _classification_ece_oracle(p1, labels, 15)
    got = ece(p1, labels)
    assert abs(got - want) < 1e-10, (
        f"binary (n,) probabilities: expected {want:.6f}, got {got:.6f} — p is P(class 1); a sample with p < 0.5 "
        "predicts class 0 with confidence 1 − p")
    # confidences exactly on the bin edges 0.5, 0.75 and 1.0 (exact in binary floating point)
    probs = np.array([[1.0, 0.0]] * 6 + [[0.1, 0.9]] * 4 + [[0.75, 0.25]] * 4 + [[0.4, 0.6]] * 4 + [[0.5, 0.5]] * 2)
    labels = np.array([0, 0, 1, 1, 1, 1] + [1, 1, 1, 1] + [0, 0, 1, 1] + [1, 1, 1, 1] + [0, 1])
    want = _classification_ece_oracle(probs, labels, 4)
    got = ece(probs, labels, n_bins=4)
    assert abs(got - want) < 1e-12, (
        f"confidences on bin edges: expected {want:.4f}, got {got:.4f} — bins are (lo, hi]: 0.75 belongs to "
        "(0.5, 0.75], and a confidence of 1.0 to the last bin (0.75, 1]")


@exercise("3.4", points=1)
def test_classification_ece_zero_when_calibrated_large_when_overconfident(impl):
    ece = _mod(impl).classification_ece
    rng = np.random.default_rng(341)
    probs = _softmax(rng.normal(size=(20000, 3)) * 1.5)
    labels = _sample_labels(rng, probs)  # calibrated by construction
    calibrated = ece(probs, labels)
    assert calibrated < 0.02, f"labels drawn from the predicted probabilities must give ECE ≈ 0, got {calibrated:.3f}"
    sharp = _softmax(np.log(probs) * 4)  # same ranking, far too confident
    over = ece(sharp, labels)
    assert over > 0.15, f"probabilities sharpened 4× must give a large ECE (> 0.15), got {over:.3f}"


@exercise("3.4", points=0.5)
def test_classification_ece_rejects_bad_input(impl):
    ece = _mod(impl).classification_ece
    good = np.array([[0.2, 0.8], [0.6, 0.4]])
    _is_float(ece(good, np.array([0, 1])), "classification_ece")  # points for the checks only once it works
    _expect_value_error(ece, np.array([[0.2, 0.9], [0.6, 0.4]]), np.array([0, 1]), why="a row summing to 1.1")
    _expect_value_error(ece, np.array([[1.2, -0.2], [0.6, 0.4]]), np.array([0, 1]), why="probabilities outside [0, 1]")
    _expect_value_error(ece, np.array([0.3, 1.5]), np.array([0, 1]), why="a binary probability of 1.5")
    _expect_value_error(ece, good, np.array([0, 1, 1]), why="3 labels for 2 rows")
    _expect_value_error(ece, good, np.array([0, 2]), why="label 2 with 2 classes")


# ---------------------------------------------------------------------------------------- 3.5
def _nll_at(logits, labels, temperature):
    z = torch.as_tensor(logits, dtype=torch.float64)
    if z.ndim == 1:
        z = torch.stack([torch.zeros_like(z), z], 1)
    return float(torch.nn.functional.cross_entropy(z / temperature, torch.as_tensor(labels)))


def _temperature_oracle(logits, labels):
    grid = np.exp(np.linspace(math.log(0.01), math.log(100), 401))
    k = int(np.argmin([_nll_at(logits, labels, t) for t in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(lambda t: _nll_at(logits, labels, t), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-9})
    return float(res.x)


def _tempered_task(rng, n, classes, true_t, scale=3.0):
    logits = rng.normal(size=(n, classes)) * scale
    labels = _sample_labels(rng, _softmax(logits / true_t))
    return logits, labels


@exercise("3.5", points=2)
def test_fit_temperature_recovers_known_temperature(impl):
    fit = _mod(impl).fit_temperature
    rng = np.random.default_rng(35)
    for true_t in (2.5, 0.5):
        logits, labels = _tempered_task(rng, 3000, 4, true_t)
        oracle = _temperature_oracle(logits, labels)
        got = fit(logits, labels)
        _is_float(got, "fit_temperature")
        assert got > 0, f"fit_temperature returned T = {got:.4f}; a temperature must be > 0"
        if abs(got - oracle) > 1e-3 * oracle:
            hint = ""
            if abs(got * oracle - 1) < 0.01:
                hint = " — you returned 1/T: the logits are divided by T (softmax(z / T)), not multiplied"
            raise AssertionError(f"labels drawn with T = {true_t}: the NLL is minimised at T = {oracle:.4f}, "
                                 f"you returned {got:.4f}{hint}")
        nll_got, nll_best = _nll_at(logits, labels, got), _nll_at(logits, labels, oracle)
        assert nll_got <= nll_best + 1e-6, f"the NLL at your T ({nll_got:.6f}) exceeds the minimum {nll_best:.6f}"
    # float32 torch logits, int labels
    got = fit(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
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
    got = fit(-logits, labels)  # logits pointing the wrong way: no positive T helps, the bound T = 100 is best
    _is_float(got, "fit_temperature")
    assert got > 0, (f"logits that point the wrong way gave T = {got:.3f}: T must stay > 0 (a negative T flips the "
                     "predictions; optimise log T, or bound T)")
    assert got >= 50, (f"for logits that point the wrong way the NLL keeps falling as T grows, so the answer is the "
                       f"upper bound 100; got {got:.3f}")
    uninformative = np.zeros((200, 3))
    got = fit(uninformative, rng.integers(0, 3, 200))
    assert 0.01 <= got <= 100, f"T must lie in [0.01, 100], got {got}"


@exercise("3.5", points=0.5)
def test_fit_temperature_rejects_bad_input(impl):
    fit = _mod(impl).fit_temperature
    z = np.zeros((4, 3))
    _is_float(fit(z, np.array([0, 1, 2, 0])), "fit_temperature")  # points for the checks only once it works
    _expect_value_error(fit, z, np.array([0, 1, 2]), why="3 labels for 4 rows")
    _expect_value_error(fit, z, np.array([0, 1, 2, 3]), why="label 3 with 3 classes")
    _expect_value_error(fit, np.array([[0.0, np.nan, 1.0]] * 4), np.array([0, 1, 2, 0]), why="a NaN logit")


# ---------------------------------------------------------------------------------------- 3.6
def _scale_oracle(mean, var, y):
    nll = lambda log_s2: float(-np.mean(stats.norm.logpdf(y, mean, np.sqrt(np.exp(log_s2) * var))))  # noqa: E731
    return float(np.exp(optimize.minimize_scalar(nll, bounds=(-10, 10), method="bounded",
                                                 options={"xatol": 1e-10}).x))


@exercise("3.6", points=2)
def test_fit_variance_scale_minimises_nll(impl):
    fit = _mod(impl).fit_variance_scale
    rng = np.random.default_rng(36)
    for std_scale, bias in ((2.0, 0.0), (0.5, 0.8), (1.0, 0.0)):
        mean, std, y = _gaussian_data(rng, 400, std_scale=std_scale, bias=bias)
        var = std**2
        oracle = _scale_oracle(mean, var, y)
        got = fit(mean, var, y)
        _is_float(got, "fit_variance_scale")
        if abs(got - oracle) > 1e-5 * oracle:
            z = (y - mean) / std
            hint = ""
            if abs(got - math.sqrt(oracle)) < 1e-5:
                hint = " — that is s; return the factor s² on the variance"
            elif abs(got - np.var(z)) < 1e-8:
                hint = " — that is the variance of z (centred); the optimum is the mean of z² (biased residuals count)"
            elif abs(got - np.mean((y - mean) ** 2) / np.mean(var)) < 1e-8:
                hint = (" — that is mean squared error / mean variance; average each molecule's own z² = "
                        "(y − μ)²/σ² instead")
            raise AssertionError(f"the NLL of N(μ, s²σ²) is smallest at s² = {oracle:.5f}; you returned {got:.5f}{hint}")
    # the truth is known: predictions whose std is half the real one need s² ≈ 4
    mean, std, y = _gaussian_data(rng, 20000, std_scale=2.0)
    got = fit(mean, std**2, y)
    assert 3.7 < got < 4.3, f"predicted stds half the true ones need s² ≈ 4, got {got:.3f}"


@exercise("3.6", points=1)
def test_fit_variance_scale_heteroscedastic_and_torch(impl):
    fit = _mod(impl).fit_variance_scale
    # two molecules: a confident one that is off by 1, an unsure one that is exact
    got = fit(np.array([0.0, 0.0]), np.array([0.01, 100.0]), np.array([1.0, 0.0]))
    assert abs(got - 50.0) < 1e-6, (
        f"expected s² = mean(z²) = (1/0.01 + 0)/2 = 50, got {got:.4f} — average each molecule's own z² = (y − μ)²/σ², "
        "not mean squared error / mean variance")
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
    _expect_value_error(fit, ok, np.ones(3), np.ones(4), why="a length mismatch")
    _expect_value_error(fit, ok, np.ones(3), ok, why="all residuals zero")
