"""Chapter 6 — optimizing molecules against an expensive, imperfect oracle: off-policy estimators and
classifier-free guidance.

Exercises
---------
6.1 ips_estimate
6.2 snips_estimate
6.3 doubly_robust_estimate
6.4 effective_sample_size
6.5 cfg_noise

Conventions used throughout (6.1–6.4):

* A *log* holds n rounds. In round i a behaviour (logging) policy μ chose action a_i with probability
  ``logging_probs[i]`` = μ(a_i | s_i) and the reward ``rewards[i]`` was observed; ``target_probs[i]`` =
  π(a_i | s_i) is the probability the policy you want to evaluate gives the *same* logged action.
* The importance weight of round i is w_i = π(a_i | s_i) / μ(a_i | s_i).
* Arguments may be lists, numpy arrays or CPU torch tensors. The checks outside the part you write turn
  them into 1-D float64 numpy arrays and raise ``ValueError`` naming the argument for: an empty log,
  a length mismatch, a NaN or infinite entry, a logging probability outside (0, 1], a target
  probability outside [0, 1]. Your code may assume clean float64 arrays of equal length n ≥ 1.
* Every estimator returns a Python ``float``.
"""
from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------- helpers


def _as_vector(name: str, values) -> np.ndarray:
    """``values`` as a 1-D float64 array with at least one entry, every entry finite."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of numbers, got a string")
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one entry per logged round), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: an estimate needs at least one logged round")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]} is not a finite number (NaN or inf)")
    return arr


def _check_same_length(first: str, n: int, name: str, arr: np.ndarray) -> None:
    if arr.size != n:
        raise ValueError(f"length mismatch: {name} has {arr.size} entries but {first} has {n}")


def _check_log(rewards, target_probs, logging_probs):
    """The three logged arrays, validated (see the module docstring)."""
    r = _as_vector("rewards", rewards)
    p = _as_vector("target_probs", target_probs)
    q = _as_vector("logging_probs", logging_probs)
    _check_same_length("rewards", r.size, "target_probs", p)
    _check_same_length("rewards", r.size, "logging_probs", q)
    bad = np.flatnonzero((q <= 0) | (q > 1))
    if bad.size:
        raise ValueError(f"logging_probs[{bad[0]}] = {q[bad[0]]} is outside (0, 1]: a logged action must have had "
                         "a positive probability under the logging policy")
    bad = np.flatnonzero((p < 0) | (p > 1))
    if bad.size:
        raise ValueError(f"target_probs[{bad[0]}] = {p[bad[0]]} is outside [0, 1]")
    return r, p, q


def _check_clip(clip):
    if clip is None:
        return None
    if isinstance(clip, (bool, np.bool_, str, bytes)):
        raise ValueError(f"clip must be None or a positive number, got {clip!r}")
    try:
        value = float(clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip must be None or a positive number, got {clip!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"clip must be None or a positive finite number, got {clip!r}")
    return value


# --------------------------------------------------------------------------------------- 6.1


def ips_estimate(rewards, target_probs, logging_probs, clip=None) -> float:
    """Inverse propensity scoring (IPS): the value of the target policy π estimated from μ's log.

    .. math:: \\hat V_{IPS} = \\frac{1}{n} \\sum_i \\min(w_i, M)\\, r_i, \\qquad w_i = \\pi(a_i|s_i) / \\mu(a_i|s_i)

    Without ``clip`` (M = ∞) the estimate is unbiased whenever μ > 0 wherever π > 0; clipping the
    *weights* at M trades a (downward, for non-negative rewards) bias for a smaller variance.

    Args:
        rewards: (n,) observed rewards r_i (any real numbers).
        target_probs: (n,) π(a_i | s_i), each in [0, 1].
        logging_probs: (n,) μ(a_i | s_i), each in (0, 1].
        clip: None (no clipping) or M > 0: every weight above M is replaced by M before it multiplies
            its reward. Weights are clipped, not the products w_i·r_i and not the estimate.
    Returns:
        The estimate as a Python float; the mean over all n rounds (rounds with π(a_i|s_i) = 0 count,
        with weight 0).
    Raises:
        ValueError: for bad logs (see the module docstring) and for a ``clip`` that is not None and not a
            positive finite number.

    Hints:
        1. Idea: each round is reweighted by how much more (or less) likely the new policy was to take
           the logged action than the old one.
        2. Approach: one weight per round, the ratio of the two probability arrays (π over μ, not the
           inverse); then, only when a clip level is given, cap each weight; last, the average of
           weight × reward over every round of the log.
        3. Tricky detail: clip the *weights* from above — not the products w·r, not the final average,
           and never raise a weight that is below the level. Rounds where π gives the logged action zero
           probability still count in n (dividing by the total weight instead is SNIPS, exercise 6.2).
           The grader compares your estimate with an explicit loop over the rounds (relative tolerance
           1e-6, 1e-5 for float32 inputs) for arrays, lists and tensors, and names each of these
           mistakes when it sees one.
    """
    r, p, q = _check_log(rewards, target_probs, logging_probs)
    clip = _check_clip(clip)
    # BEGIN SOLUTION
    w = p / q
    if clip is not None:
        w = np.minimum(w, clip)
    return float(np.mean(w * r))
    # END SOLUTION


# --------------------------------------------------------------------------------------- 6.2


def snips_estimate(rewards, target_probs, logging_probs) -> float:
    """Self-normalised IPS (SNIPS): the weighted rewards divided by the sum of the weights, not by n.

    .. math:: \\hat V_{SNIPS} = \\frac{\\sum_i w_i r_i}{\\sum_i w_i}

    It is biased (the bias shrinks as 1/n) but its variance is often lower than IPS's, and adding a
    constant to every reward shifts it by exactly that constant: a log of constant reward c gives c.

    Args:
        rewards: (n,) observed rewards.
        target_probs: (n,) π(a_i | s_i) in [0, 1].
        logging_probs: (n,) μ(a_i | s_i) in (0, 1].
    Returns:
        The estimate as a Python float.
    Raises:
        ValueError: for bad logs (see the module docstring), and when every weight is zero (π gives no
            logged action any probability: the ratio is 0/0, the log says nothing about π).

    Hints:
        1. Idea: the same weighted sum as IPS, normalised by the total weight of the log instead of its
           length (the weights sum to n only on average).
        2. Approach: two sums over the rounds — the weighted rewards and the weights — then one
           division. A log where π gives no logged action any probability is rejected before your part
           runs, so the total weight is positive.
        3. Tricky detail: a log whose every reward equals c must give exactly c, and adding a constant to
           every reward must shift the estimate by exactly that constant — quick tests of your
           normaliser. The grader checks both (to 1e-9) and compares with an explicit loop over the
           rounds (relative tolerance 1e-5).
    """
    r, p, q = _check_log(rewards, target_probs, logging_probs)
    if not np.any(p > 0):
        raise ValueError("target_probs is zero on every logged round: the self-normalised estimate is 0/0")
    # BEGIN SOLUTION
    w = p / q
    return float(np.sum(w * r) / np.sum(w))
    # END SOLUTION


# --------------------------------------------------------------------------------------- 6.3


def doubly_robust_estimate(rewards, target_probs, logging_probs, q_logged, v_target) -> float:
    """Doubly robust (DR) estimate: a reward model's prediction for π, corrected by weighted residuals.

    .. math:: \\hat V_{DR} = \\frac{1}{n} \\sum_i \\Big[ \\hat v_\\pi(s_i) + w_i \\big(r_i - \\hat q(s_i, a_i)\\big) \\Big]

    with \\hat q(s, a) the reward model and \\hat v_\\pi(s) = Σ_a π(a|s)·\\hat q(s, a) its expected value
    under π. Unbiased if either the propensities or the reward model are right; lower variance than IPS
    when \\hat q is close to the rewards.

    Args:
        rewards: (n,) observed rewards r_i.
        target_probs: (n,) π(a_i | s_i) in [0, 1].
        logging_probs: (n,) μ(a_i | s_i) in (0, 1].
        q_logged: (n,) the reward model's prediction \\hat q(s_i, a_i) for each logged action.
        v_target: (n,) the reward model's expected value under π in each round, \\hat v_π(s_i); a single
            number is accepted and used for every round (no contexts).
    Returns:
        The estimate as a Python float. With a perfect model of a deterministic reward it equals the
        mean of ``v_target``; with ``q_logged`` = 0 and ``v_target`` = 0 it equals plain IPS.
    Raises:
        ValueError: for bad logs (see the module docstring), and when ``q_logged`` or ``v_target`` has the
            wrong length or a NaN/infinite entry (the message names the argument).

    Hints:
        1. Idea: the model's value for π, plus a correction for what the model got wrong on the actions
           actually logged.
        2. Approach: per round, the model's term for π plus the importance weight times the residual
           (observed reward minus the model's prediction for the logged action); average over rounds.
           A single number given as ``v_target`` is already spread over every round before your part runs.
        3. Tricky detail: the weight multiplies the residual only, never the model's term for π. The
           grader checks the two limits of the Returns section: with a model that is zero everywhere DR
           reduces to IPS, and with a perfect model (``q_logged`` equal to the rewards) it equals the
           mean of ``v_target``.
    """
    r, p, q = _check_log(rewards, target_probs, logging_probs)
    q_hat = _as_vector("q_logged", q_logged)
    _check_same_length("rewards", r.size, "q_logged", q_hat)
    if np.ndim(v_target) == 0 and not isinstance(v_target, (str, bytes)):  # one number for every round
        v_hat = np.full(r.size, _as_vector("v_target", [v_target])[0])
    else:
        v_hat = _as_vector("v_target", v_target)
        _check_same_length("rewards", r.size, "v_target", v_hat)
    # BEGIN SOLUTION
    w = p / q
    return float(np.mean(v_hat + w * (r - q_hat)))
    # END SOLUTION


# --------------------------------------------------------------------------------------- 6.4


def effective_sample_size(weights) -> float:
    """Kish's effective sample size of importance weights.

    .. math:: n_{eff} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2}

    It lies between 1 (one weight carries everything) and n (all weights equal) — 0 for an all-zero log —
    and does not change when every weight is multiplied by the same positive constant.

    Args:
        weights: (n,) non-negative importance weights (lists, numpy arrays or CPU tensors; n ≥ 1).
    Returns:
        n_eff as a Python float; 0.0 when every weight is zero (no round informs the estimate).
    Raises:
        ValueError: if ``weights`` is empty, not one-dimensional, or has a negative, NaN or infinite entry.

    Hints:
        1. Idea: a log is worth many rounds when its weights are even, and few when a handful of weights
           dominate.
        2. Approach: before writing anything, decide what the value must be when all n weights are equal,
           and when one weight carries everything; the formula above meets both, and those two cases make
           your first tests.
        3. Tricky detail: the all-zero log has nothing to divide by — handle it before the division and
           return 0.0 — and multiplying every weight by the same positive constant must not change the
           result (the grader tries factors from 1e-3 to 1e4). Return the ratio itself: no rounding to an
           integer, no n − 1.
    """
    w = _as_vector("weights", weights)
    bad = np.flatnonzero(w < 0)
    if bad.size:
        raise ValueError(f"weights[{bad[0]}] = {w[bad[0]]} is negative: importance weights are ratios of probabilities")
    # BEGIN SOLUTION
    total_sq = float(np.sum(w * w))
    if total_sq == 0.0:
        return 0.0
    return float(np.sum(w)) ** 2 / total_sq
    # END SOLUTION


# --------------------------------------------------------------------------------------- 6.5


def _check_noise_pair(eps_cond, eps_uncond, w):
    tensors = [hasattr(x, "detach") for x in (eps_cond, eps_uncond)]
    if tensors[0] != tensors[1]:
        raise ValueError("eps_cond and eps_uncond must both be torch tensors or both numpy arrays, "
                         f"got {type(eps_cond).__name__} and {type(eps_uncond).__name__}")
    if not tensors[0] and not (isinstance(eps_cond, np.ndarray) and isinstance(eps_uncond, np.ndarray)):
        raise ValueError("eps_cond and eps_uncond must be torch tensors or numpy arrays, "
                         f"got {type(eps_cond).__name__} and {type(eps_uncond).__name__}")
    if tuple(eps_cond.shape) != tuple(eps_uncond.shape):
        raise ValueError(f"eps_uncond has shape {tuple(eps_uncond.shape)} but eps_cond has {tuple(eps_cond.shape)}")
    if eps_cond.dtype != eps_uncond.dtype:
        raise ValueError(f"eps_uncond has dtype {eps_uncond.dtype} but eps_cond has {eps_cond.dtype}")
    if isinstance(w, (bool, np.bool_, str, bytes)):
        raise ValueError(f"w must be a real number, got {w!r}")
    try:
        value = float(w)
    except (TypeError, ValueError):
        raise ValueError(f"w must be a real number, got {w!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"w must be finite, got {w!r}")
    return value


def cfg_noise(eps_cond, eps_uncond, w):
    """Classifier-free guidance: combine a conditional and an unconditional noise prediction.

    .. math:: \\hat\\epsilon = (1 + w)\\,\\hat\\epsilon(x_t, c) - w\\,\\hat\\epsilon(x_t, \\varnothing)

    (Ho & Salimans 2022). w = 0 is the plain conditional model, w = −1 the unconditional one (both up to
    float rounding: any algebraically equal form is accepted), w > 0 pushes samples further towards the
    condition than the conditional model alone.

    Args:
        eps_cond: noise predicted with the condition c; a torch tensor or numpy array of any shape.
        eps_uncond: noise predicted with the condition dropped (∅); same type, shape and dtype.
        w: guidance weight, a finite real number (Python or numpy scalar).
    Returns:
        A new tensor/array of the same type, shape, dtype (and device, for tensors) as ``eps_cond``;
        the inputs are left unchanged. For tensors, gradients flow through the result to both inputs
        (build it with differentiable tensor operations: no ``.detach()``, no numpy round trip), so that
        d(result)/d(eps_cond) = 1 + w and d(result)/d(eps_uncond) = −w element-wise.
    Raises:
        ValueError: if the two predictions differ in type, shape or dtype (the message names
            ``eps_uncond``), or ``w`` is not a finite real number.

    Hints:
        1. Idea: the label's effect at this step is the difference between the two predictions; guidance
           amplifies that effect by the weight.
        2. Approach: ask what the result must be at w = 0 (only the conditional prediction) and at w = −1
           (only the unconditional one), and how it should move as w grows; the spec's combination is the
           one that meets all three, element by element, with no loop. (Some papers write the
           unconditional prediction plus a scale times the difference: that scale is 1 + w here.)
        3. Tricky detail: build a new result rather than scaling an input in place (the grader checks that
           both inputs are unchanged); keep the input's type (numpy in, numpy out), dtype and device —
           ``w`` arrives as a Python float, and turning it into a float64 array would promote float32
           numpy noise; and keep it differentiable (no detach, no numpy round trip): the grader
           backpropagates through the result and checks that the gradient with respect to ``eps_cond``
           is 1 + w everywhere.
    """
    w = _check_noise_pair(eps_cond, eps_uncond, w)
    # BEGIN SOLUTION
    return eps_cond + w * (eps_cond - eps_uncond)
    # END SOLUTION
