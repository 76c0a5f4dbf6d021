# Generated from solutions/ch03_uncertainty.py by `molpractice make-exercises` — write your code in place of each `raise NotImplementedError`.
"""Chapter 3 — uncertainty of regression ensembles and calibration of their predictions.

Exercises
---------
3.1 gaussian_nll
3.2 ensemble_moments
3.3 regression_ece
3.4 classification_ece
3.5 fit_temperature
3.6 fit_variance_scale
3.7 conformal_quantile
3.8 quantile_calibration_error

Conventions used throughout:

* Inputs are numpy arrays or torch tensors (also plain lists). Functions that return a number return a
  Python ``float`` and compute in float64 whatever the input dtype (the arguments are converted to
  float64 numpy arrays before your code runs). ``ensemble_moments`` returns arrays of the input's kind
  and dtype (numpy in → numpy out, torch in → torch out).
* A regression prediction is a Gaussian N(mean, var) per molecule, in the target's unit (logS);
  ``std = sqrt(var)``.
* Classification probabilities are either (n, C) rows that sum to 1, or, for a binary task, an (n,)
  vector of P(class 1). Labels are integers in [0, C) (binary: 0 or 1).

The data for the plots (the calibration curve of 3.3 and the reliability diagram of 3.4) is computed by
``molpractice.plots_calibration.coverage_curve`` / ``reliability_bins``; the notebook checks that their
mean gaps equal your ``regression_ece`` / ``classification_ece``.
"""
from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------- helpers


def _float64(x, name: str) -> np.ndarray:
    """``x`` (numpy array, torch tensor or list) as a float64 numpy array; ValueError if not numeric."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array or tensor, got {type(x).__name__}") from None
    return arr


def _vectors(names, *xs, finite=True):
    """Convert equally long 1-D inputs to float64 arrays (ValueError on a mismatch or an empty input)."""
    arrs = [_float64(x, n) for n, x in zip(names, xs)]
    for n, a in zip(names, arrs):
        if a.ndim != 1:
            raise ValueError(f"{n} must be one-dimensional (n,), got shape {a.shape}")
        if finite and not np.all(np.isfinite(a)):
            raise ValueError(f"{n} contains NaN or infinite values")
    sizes = {n: a.size for n, a in zip(names, arrs)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"length mismatch: {', '.join(f'{n} has {s}' for n, s in sizes.items())}")
    if arrs[0].size == 0:
        raise ValueError("the inputs are empty")
    return arrs


def _labels(labels, n: int, n_classes: int) -> np.ndarray:
    lab = _float64(labels, "labels")
    if lab.ndim != 1:
        raise ValueError(f"labels must be one-dimensional (n,), got shape {lab.shape}")
    if lab.size != n:
        raise ValueError(f"length mismatch: {n} predictions but {lab.size} labels")
    if not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab)):
        raise ValueError("labels must be integers (class indices)")
    if lab.size and (lab.min() < 0 or lab.max() > n_classes - 1):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got values in [{lab.min():g}, {lab.max():g}]")
    return lab.astype(np.int64)


def _check_positive_int(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


# --------------------------------------------------------------------------------------- 3.1


def gaussian_nll(mean, var, y) -> float:
    """Mean negative log-likelihood of observations under independent Gaussian predictions.

    .. math:: \\mathrm{NLL} = \\frac{1}{n}\\sum_i \\Big[\\tfrac12\\log(2\\pi) + \\tfrac12\\log\\sigma_i^2
              + \\frac{(y_i-\\mu_i)^2}{2\\sigma_i^2}\\Big]

    The constant ½·log 2π **is included** (so the value is the true NLL in nats and can be compared with
    other papers and with ``torch.nn.GaussianNLLLoss(full=True)``; dropping it shifts every value by
    0.919 and changes no ranking).

    Args:
        mean: (n,) predicted means μ_i (target unit).
        var: (n,) predicted variances σ_i² (target unit squared), all > 0 — a variance, not a std.
        y: (n,) observed values.
    Returns:
        The mean NLL over the n predictions, a Python float (nats per molecule; lower is better).
    Raises:
        ValueError: if the inputs are not 1-D, differ in length, are empty or not finite, or any
            variance is ≤ 0.

    Hint:
        1. Idea: every molecule contributes its own Gaussian NLL term; the result is their average.
        2. Approach: work on whole arrays at once (no loop over molecules): a log-variance part, a squared
           residual measured in units of the variance, and the constant.
        3. Tricky detail: average, do not sum; ``var`` is already a variance, so do not square it again;
           the ½·log 2π constant belongs to every term.
    """
    mean, var, y = _vectors(("mean", "var", "y"), mean, var, y)
    if np.any(var <= 0):
        raise ValueError(f"variances must be > 0; got {int(np.sum(var <= 0))} values ≤ 0 (min {var.min():g})")
    raise NotImplementedError("Exercise 3.1: implement gaussian_nll (see its docstring), then run mp.check(\"3.1\")")


# --------------------------------------------------------------------------------------- 3.2


def ensemble_moments(means, variances):
    """Mean and variance decomposition of an equal-weight ensemble of Gaussian predictions.

    Member m predicts N(μ_{m,i}, σ²_{m,i}) for molecule i. The ensemble's prediction is the mixture
    (1/M) Σ_m N(μ_{m,i}, σ²_{m,i}); its mean and variance follow from the law of total variance:

    .. math:: \\mu_i = \\frac1M\\sum_m \\mu_{m,i},\\qquad
              \\underbrace{\\frac1M\\sum_m \\sigma^2_{m,i}}_{\\text{aleatoric}} +
              \\underbrace{\\frac1M\\sum_m (\\mu_{m,i}-\\mu_i)^2}_{\\text{epistemic}} = \\mathrm{Var}_i

    Args:
        means: (M, n) members' predicted means (M ≥ 1 members, n molecules).
        variances: (M, n) members' predicted variances (≥ 0), same shape.
    Returns:
        ``(mean, aleatoric_var, epistemic_var)``, each (n,), of the input's kind and dtype (numpy →
        numpy, torch → torch; integer numpy inputs are converted to float64 first). The total predictive
        variance is ``aleatoric_var + epistemic_var``.
        ``epistemic_var`` is the *population* variance of the members' means (divide by M, ddof = 0):
        it is a moment of the mixture, not an estimate of a spread from a sample.
    Raises:
        TypeError: if one input is a numpy array and the other a torch tensor.
        ValueError: if the inputs are not 2-D of the same shape, are empty (no member or no molecule), are
            torch tensors that are not floating point, or a variance is negative.

    Hint:
        1. Idea: the members are the rows (axis 0); every output is a per-molecule average over that axis.
        2. Approach: the mean and the aleatoric part are plain member averages; the epistemic part averages
           each member's squared deviation from the ensemble mean.
        3. Tricky detail: divide by M (ddof = 0), not M − 1; use only operations that numpy arrays and
           torch tensors share, so one code path returns the input's kind and dtype.
    """
    is_tensor = [hasattr(x, "detach") for x in (means, variances)]
    if is_tensor[0] != is_tensor[1]:
        raise TypeError("means and variances must be of one kind: both numpy arrays or both torch tensors")
    if not is_tensor[0]:
        means, variances = np.asarray(means), np.asarray(variances)
        if not (np.issubdtype(means.dtype, np.floating) and np.issubdtype(variances.dtype, np.floating)):
            means, variances = means.astype(np.float64), variances.astype(np.float64)
    elif not (means.is_floating_point() and variances.is_floating_point()):
        raise ValueError(f"means and variances must be floating tensors, got {means.dtype} and {variances.dtype}")
    if means.ndim != 2 or tuple(means.shape) != tuple(variances.shape):
        raise ValueError(f"means and variances must both have shape (members, n); got {tuple(means.shape)} "
                         f"and {tuple(variances.shape)}")
    if means.shape[0] == 0 or means.shape[1] == 0:
        raise ValueError(f"need at least one member and one molecule, got shape {tuple(means.shape)}")
    if bool((variances < 0).any()):
        raise ValueError("variances must be ≥ 0")
    raise NotImplementedError("Exercise 3.2: implement ensemble_moments (see its docstring), then run mp.check(\"3.2\")")


# --------------------------------------------------------------------------------------- 3.3


def _gaussian_inputs(mean, std, y, n_levels):
    """``mean, std, y`` as float vectors after checking them (σ > 0) and ``n_levels`` (an int ≥ 2)."""
    mean, std, y = _vectors(("mean", "std", "y"), mean, std, y)
    if np.any(std <= 0):
        raise ValueError(f"standard deviations must be > 0; got {int(np.sum(std <= 0))} values ≤ 0")
    if not isinstance(n_levels, (int, np.integer)) or isinstance(n_levels, bool) or n_levels < 2:
        raise ValueError(f"n_levels must be an int ≥ 2, got {n_levels!r}")
    return mean, std, y


def regression_ece(mean, std, y, n_levels: int = 100) -> float:
    """Regression calibration error: mean |expected − observed| coverage of central Gaussian intervals.

    For each confidence level p in ``n_levels`` levels evenly spaced on [0, 1] (both ends included,
    ``np.linspace(0, 1, n_levels)``), the central interval of N(μ_i, σ_i²) with probability p is
    μ_i ± z_p σ_i with z_p = Φ⁻¹((1 + p)/2). The observed coverage is the fraction of molecules with
    |y_i − μ_i| / σ_i ≤ z_p (closed interval; z_0 = 0 and z_1 = ∞). The error is

    .. math:: \\mathrm{ECE}_{reg} = \\frac{1}{L}\\sum_{l=1}^{L} \\big|\\,p_l - \\mathrm{obs}(p_l)\\big|

    This is uncertainty-toolbox's mean absolute calibration error (``prop_type="interval"``). It is 0
    for perfectly calibrated predictions up to sampling noise (on n test molecules a calibrated model scores
    above 0: the notebook draws its reference band) and at most 0.5; it is large
    both for over-confident (σ too small) and under-confident (σ too large) predictions.

    Args:
        mean: (n,) predicted means μ_i.
        std: (n,) predicted standard deviations σ_i > 0 (not variances).
        y: (n,) observations.
        n_levels: number of confidence levels L ≥ 2.
    Returns:
        The ECE as a Python float in [0, 0.5].
    Raises:
        ValueError: if the inputs are not 1-D, differ in length, are empty or not finite, any std ≤ 0,
            or ``n_levels`` is not an int ≥ 2.

    Hint:
        1. Idea: standardise each residual once — its absolute size in units of its own σ — and ask, per
           level, which fraction falls inside the threshold z_p.
        2. Approach: compute the thresholds of all levels at once and compare every threshold with every
           standardised residual by broadcasting into a (levels × molecules) table; its row means are the
           observed coverages.
        3. Tricky detail: the interval is two-sided (a level of 0.95 needs 1.96, not 1.645) and closed (≤);
           level 1 gives an infinite threshold that covers everything, which is correct.
    """
    mean, std, y = _gaussian_inputs(mean, std, y, n_levels)
    raise NotImplementedError("Exercise 3.3: implement regression_ece (see its docstring), then run mp.check(\"3.3\")")


# --------------------------------------------------------------------------------------- 3.4


def _class_probs(probs):
    """(n, C) float64 probabilities from (n, C) rows or binary (n,) P(class 1); validated."""
    p = _float64(probs, "probs")
    if p.ndim == 1:
        if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0 or p.max(initial=0.0) > 1:
            raise ValueError("binary probabilities must lie in [0, 1]")
        p = np.stack([1.0 - p, p], axis=1)
    elif p.ndim == 2:
        if p.shape[1] < 2:
            raise ValueError(f"(n, C) probabilities need C ≥ 2 columns, got {p.shape[1]}; pass a binary task as (n,)")
        if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0 or p.max(initial=0.0) > 1:
            raise ValueError("probabilities must lie in [0, 1]")
        bad = np.abs(p.sum(axis=1) - 1.0) > 1e-4
        if np.any(bad):
            raise ValueError(f"each row of probs must sum to 1 (±1e-4); {int(bad.sum())} rows do not "
                             f"(first: row {int(np.argmax(bad))}) — apply softmax to logits first")
    else:
        raise ValueError(f"probs must have shape (n, C) or (n,), got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("probs is empty")
    return p


def classification_ece(probs, labels, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins (Guo et al., 2017).

    For each sample: confidence = its largest class probability, prediction = the class with that
    probability (``argmax``; a tie goes to the lower class index), correct = prediction == label.
    Samples are grouped by confidence into ``n_bins`` bins of equal width, bin b = (b/B, (b+1)/B] —
    open on the left, closed on the right, so a confidence of exactly 1.0 is in the last bin. Then

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{|B_b|}{n}\\,\\big|\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)\\big|

    with acc and conf the mean correctness and mean confidence inside the bin; empty bins contribute 0.

    Args:
        probs: (n, C) class probabilities (rows sum to 1 within 1e-4), or (n,) probabilities of class 1
            for a binary task (then class 0 has 1 − p).
        labels: (n,) integer class indices in [0, C) (binary: 0/1).
        n_bins: number of equal-width bins B ≥ 1.
    Returns:
        The ECE as a Python float in [0, 1].
    Raises:
        ValueError: for empty, non-finite or out-of-[0, 1] probabilities, rows not summing to 1, a length
            mismatch, labels that are not integers in range, or ``n_bins`` not an int ≥ 1.

    Hint:
        1. Idea: per sample, the confidence is the top probability and correctness compares the arg-max
           class with the label.
        2. Approach: give every confidence one of B equal-width bins, then for each non-empty bin take
           |mean correctness − mean confidence| weighted by the bin's share of the samples.
        3. Tricky detail: bins are open on the left and closed on the right, so a confidence exactly on an
           edge belongs to the lower bin and 1.0 to the last one (a plain floor of conf·B gets both wrong).
           Weight by share: a bin with 3 samples counts less than a bin with 300.
    """
    p = _class_probs(probs)
    lab = _labels(labels, p.shape[0], p.shape[1])
    _check_positive_int(n_bins, "n_bins")
    raise NotImplementedError("Exercise 3.4: implement classification_ece (see its docstring), then run mp.check(\"3.4\")")


# --------------------------------------------------------------------------------------- 3.5


def _logit_matrix(logits):
    z = _float64(logits, "logits")
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim == 1:
        z = np.stack([np.zeros_like(z), z], axis=1)  # binary: softmax([0, z]) = [1 − σ(z), σ(z)]
    elif z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (n, C) with C ≥ 2, or (n,) / (n, 1) for binary; got {z.shape}")
    if z.shape[0] == 0:
        raise ValueError("logits is empty")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinite values")
    return z


def fit_temperature(logits, labels) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 that minimises the NLL of softmax(logits / T).

    .. math:: T^* = \\arg\\min_{T>0}\\; -\\frac1n \\sum_i \\log \\mathrm{softmax}(z_i / T)_{y_i}

    Dividing every logit by one T never changes the argmax (accuracy is unchanged): T > 1 softens
    over-confident predictions, T < 1 sharpens under-confident ones. Fit it on **validation** data and
    apply it unchanged to the test data.

    Args:
        logits: (n, C) unnormalised scores; for a binary task also (n,) or (n, 1) logits of class 1
            (equivalent to the two columns [0, z]).
        labels: (n,) integer class indices in [0, C).
    Returns:
        T as a Python float, searched in [0.01, 100]. The NLL is convex in 1/T; when it keeps falling
        beyond a bound, that bound is returned: 100 when the logits point the wrong way (on average the
        true class's logit lies below its row's mean logit), 0.01 when they separate the classes
        perfectly (the true class has the largest logit in every row). The NLL at the returned T is
        within 1e-6 of its minimum over that range, and T itself within 0.1 % of the minimiser (0.2 % for
        float32 inputs) — a tight tolerance for the search, since the NLL is flat near its minimum.
    Raises:
        ValueError: for empty logits, a shape or length mismatch, non-finite logits, or labels that are
            not integers in [0, C).

    Hint:
        1. Idea: search over log T instead of T: it is unconstrained, and T = exp(log T) is positive by
           construction.
        2. Approach: write the mean NLL of softmax(logits / T) as a function of log T and hand it to a
           bounded one-dimensional minimiser on [log 0.01, log 100] with a tight tolerance.
        3. Tricky detail: compute the log-softmax stably (subtract each row's log-sum-exp; never
           exponentiate raw scaled logits — at T = 0.01 they overflow), and pick each row's true-class
           entry, not its largest one.
    """
    z = _logit_matrix(logits)
    lab = _labels(labels, z.shape[0], z.shape[1])
    raise NotImplementedError("Exercise 3.5: implement fit_temperature (see its docstring), then run mp.check(\"3.5\")")


# --------------------------------------------------------------------------------------- 3.6


def fit_variance_scale(mean, var, y) -> float:
    """Variance scaling for regression: the factor s² > 0 that minimises the Gaussian NLL of N(μ, s²·σ²).

    The minimiser is unique and has a closed form in the z-scores z_i = (y_i − μ_i) / σ_i (finding it is
    the exercise; no numerical optimiser is needed). Calibrated predictions give s² ≈ 1; s² > 1 means the
    model was over-confident. Fit s² on **validation** data; at test time predict N(μ, s²·σ²) — the std grows by
    s. The means (and so RMSE and the ranking of molecules by σ) are unchanged.

    Args:
        mean: (n,) predicted means μ_i.
        var: (n,) predicted variances σ_i² > 0 (a variance, not a std).
        y: (n,) observations.
    Returns:
        s² as a Python float (multiply the variances by it, the standard deviations by its square root).
    Raises:
        ValueError: if the inputs are not 1-D, differ in length, are empty or not finite, or a variance
            is ≤ 0; or if every residual is exactly 0 (then no s² > 0 is optimal).

    Hint:
        1. Idea: write the mean NLL of N(μ_i, s²·σ_i²) as a function of s² alone; only two of its terms
           depend on s².
        2. Approach: differentiate with respect to s², set the derivative to zero and solve — the optimum
           is a simple statistic of the z-scores, no optimiser needed.
        3. Tricky detail: before you settle on a statistic, think about what a biased model's residuals (all
           on one side of their means) do to it — a bias is an error the variance must account for too.
    """
    mean, var, y = _vectors(("mean", "var", "y"), mean, var, y)
    if np.any(var <= 0):
        raise ValueError(f"variances must be > 0; got {int(np.sum(var <= 0))} values ≤ 0")
    if np.all(y == mean):
        raise ValueError("every residual is 0: the NLL decreases without bound as s² → 0")
    raise NotImplementedError("Exercise 3.6: implement fit_variance_scale (see its docstring), then run mp.check(\"3.6\")")


# --------------------------------------------------------------------------------------- 3.7


def conformal_quantile(scores, alpha) -> float:
    """The split-conformal quantile of calibration scores, with the finite-sample correction.

    Given n calibration scores s_1, …, s_n (for regression, normalised residuals |y_i − μ_i| / σ_i) and a
    miscoverage level α, return the k-th smallest score with

    .. math:: k = \\big\\lceil (n + 1)(1 - \\alpha) - 10^{-9} \\big\\rceil

    and ``math.inf`` when k > n (too few calibration scores for that level: the only interval with the
    guarantee is the whole real line). The interval μ ± q·σ of a new molecule then covers its y with
    probability ≥ 1 − α whenever the calibration and test molecules are exchangeable (Vovk et al. 2005;
    split conformal for regression: Papadopoulos et al. 2002; normalised scores |y − μ|/σ: Papadopoulos et al.
    2011). That probability is *marginal* — averaged over
    the calibration set and the test molecule, not conditional on one molecule, one group or one fixed
    calibration set — and with continuous scores it is at most 1 − α + 1/(n + 1) (Angelopoulos & Bates 2023).
    Ties are fine: the k-th smallest counts repeated values. The 10⁻⁹ is a tolerance for floating-point α:
    where (n + 1)(1 − α) is a whole number in decimal arithmetic (n = 9, α = 0.7 gives 3), the float product can
    land a hair above it (3.0000000000000004) or below it, and the ceiling must still give the decimal answer
    (k = 3 here, and k = 7 for n = 9, α = 0.3) — the graders use this convention.

    Args:
        scores: (n,) calibration scores, n ≥ 1 (numpy array, torch tensor or list); ±inf allowed, NaN not.
        alpha: miscoverage level, a number strictly between 0 and 1 (0.1 for 90 % intervals).
    Returns:
        q as a Python float (``math.inf`` when k > n).
    Raises:
        ValueError: if ``alpha`` is not a number in the open interval (0, 1) (a bool is not a number here),
            if ``scores`` is not one-dimensional, is empty, or contains NaN.

    Hint:
        1. Idea: this is not the plain empirical (1 − α) quantile: counting the new test point as one more
           exchangeable score moves the rank up, so the plain quantile is not guaranteed to cover 1 − α.
        2. Approach: compute the rank k from n and α, sort the scores, and pick the k-th smallest one —
           no interpolation between neighbouring scores.
        3. Tricky detail: k counts from 1 while array positions count from 0; when k exceeds n there is
           no such score — return infinity instead of the largest score; and a ceiling of a float product
           that should be a whole number can come out one too high — subtract the spec's small tolerance
           before rounding up.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    s = _float64(scores, "scores")
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional (n,), got shape {s.shape}")
    if s.size == 0:
        raise ValueError("scores is empty: conformal prediction needs at least one calibration score")
    if np.any(np.isnan(s)):
        raise ValueError(f"scores contains NaN (first at position {int(np.argmax(np.isnan(s)))})")
    raise NotImplementedError("Exercise 3.7: implement conformal_quantile (see its docstring), then run mp.check(\"3.7\")")


# --------------------------------------------------------------------------------------- 3.8


def quantile_calibration_error(mean, std, y, n_levels: int = 100) -> float:
    """Quantile (CDF) calibration error of Gaussian predictions, from their PIT values.

    Quantile calibration (Kuleshov et al. 2018) asks that the predicted CDF, evaluated at the observation,
    be uniform: with the PIT values u_i = F_i(y_i) = Φ((y_i − μ_i) / σ_i), a fraction p of them should lie
    at or below p, for every p. For ``n_levels`` levels p evenly spaced on [0, 1] (both ends included,
    ``np.linspace(0, 1, n_levels)``) the observed fraction is obs(p) = #{i : u_i ≤ p} / n (closed: ≤), and

    .. math:: \\mathrm{QCE} = \\frac{1}{L}\\sum_{l=1}^{L} \\big|\\,p_l - \\mathrm{obs}(p_l)\\big|

    This mean absolute gap is uncertainty-toolbox's mean absolute calibration error with
    ``prop_type="quantile"``; Kuleshov et al. score the same curve with a weighted *squared* gap
    Σ_j w_j (p_j − p̂_j)². Unlike ``regression_ece`` (3.3), which looks only at |y − μ|/σ, the PIT keeps
    the sign of each error: predictions whose observations all lie above their means score high here even
    when their central intervals have the right coverage.

    Args:
        mean: (n,) predicted means μ_i.
        std: (n,) predicted standard deviations σ_i > 0 (not variances).
        y: (n,) observations.
        n_levels: number of levels L ≥ 2.
    Returns:
        The QCE as a Python float in [0, 0.5].
    Raises:
        ValueError: if the inputs are not 1-D, differ in length, are empty or not finite, any std ≤ 0,
            or ``n_levels`` is not an int ≥ 2.

    Hint:
        1. Idea: turn every observation into one number in [0, 1] — where it falls in its own predicted
           distribution — and compare the empirical distribution of those numbers with the uniform one.
        2. Approach: compute all PIT values at once with the standard normal CDF, then, for every level,
           the fraction of PIT values at or below it (broadcasting gives a levels × molecules table).
        3. Tricky detail: one-sided, not central — keep the sign of y − μ (3.3's |z| throws it away); the
           comparison is closed (≤), and the levels include both 0 and 1.
    """
    mean, std, y = _gaussian_inputs(mean, std, y, n_levels)
    raise NotImplementedError("Exercise 3.8: implement quantile_calibration_error (see its docstring), then run mp.check(\"3.8\")")
