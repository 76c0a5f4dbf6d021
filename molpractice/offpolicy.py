"""Off-policy evaluation of a molecule-proposal policy from a logged campaign: simulated logs with known
propensities, and the bias/variance of IPS, SNIPS, clipped IPS and doubly robust estimates against the
true value of the new policy.

The simulated campaign is a contextual bandit. In each round a context s (one of ``n_contexts`` target
programmes, equally likely) arrives; a behaviour policy μ (last quarter's generator) proposes one of
``n_actions`` chemotype families a; the assay returns a hit (reward 1) with probability R[s, a].
A new policy π (a greedier generator built on better estimates) is to be evaluated before it is run.

* The true value V(π) = E_s Σ_a π(a|s) R[s, a] is known exactly, so every estimator's bias and spread
  is measured over many independent logs (:func:`estimator_study`).
* A reward model q̂(s, a) = R[s, a] + a fixed error (fit on an earlier campaign) feeds the doubly robust
  estimator with q̂(s_i, a_i) and v̂_π(s_i) = Σ_a π(a|s_i) q̂(s_i, a).
* Support violation (:func:`support_violation_study`): μ never proposes the last family, π gives it some
  mass; no log contains that action, so IPS cannot see it however long the log.

Every function that runs an estimator receives the chapter module (``chapter``) providing
``ips_estimate``, ``snips_estimate``, ``doubly_robust_estimate`` and ``effective_sample_size``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class BanditProblem:
    """A simulated campaign: hit rates, both policies, a reward model and the true value of π."""
    hit_rate: np.ndarray  # (S, K) R[s, a]
    logging: np.ndarray  # (S, K) μ(a|s)
    target: np.ndarray  # (S, K) π(a|s)
    q_hat: np.ndarray  # (S, K) reward model
    true_value: float  # V(π)
    logging_value: float  # V(μ): what the log's plain average estimates

    @property
    def v_hat(self) -> np.ndarray:
        """(S,) the reward model's value of π in each context."""
        return (self.target * self.q_hat).sum(1)


def _softmax(x, temperature):
    z = x / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def make_problem(seed: int = 0, n_contexts: int = 4, n_actions: int = 10, logging_temperature: float = 0.15,
                 target_temperature: float = 0.04, model_error: float = 0.05, unsupported_mass: float = 0.0,
                 logging_noise: float = 0.2, unsupported_bonus: float = 0.1
                 ) -> BanditProblem:
    """A seeded campaign (see the module docstring).

    Args:
        logging_temperature / target_temperature: softmax temperatures over noisy hit-rate estimates (the
            target is greedier, so its weights π/μ are large where μ explores little).
        model_error: standard deviation of the reward model's fixed error.
        logging_noise: standard deviation of the error of μ's hit-rate estimates (μ under-explores some
            good families, so π/μ has a heavy tail there).
        unsupported_mass: if > 0, μ gives the last family probability 0 and π gives it this much mass
            in every context (taken proportionally from its other actions); that family's hit rate is the
            context's best + ``unsupported_bonus`` (capped at 0.95): the family μ never tried is the best one.
    """
    rng = np.random.default_rng(seed)
    hit = rng.beta(1.5, 6.0, size=(n_contexts, n_actions))
    old_estimate = hit + rng.normal(0, logging_noise, hit.shape)
    new_estimate = hit + rng.normal(0, 0.03, hit.shape)
    mu = _softmax(old_estimate, logging_temperature)
    pi = _softmax(new_estimate, target_temperature)
    if unsupported_mass > 0:
        hit[:, -1] = np.clip(hit.max(1) + unsupported_bonus, 0, 0.95)  # the family μ never tried is the best one
        mu[:, -1] = 0.0
        mu /= mu.sum(1, keepdims=True)
        pi[:, -1] = 0.0
        pi *= (1 - unsupported_mass) / pi.sum(1, keepdims=True)
        pi[:, -1] = unsupported_mass
    q_hat = np.clip(hit + rng.normal(0, model_error, hit.shape), 0, 1)
    return BanditProblem(hit_rate=hit, logging=mu, target=pi, q_hat=q_hat,
                         true_value=float((pi * hit).sum(1).mean()), logging_value=float((mu * hit).sum(1).mean()))


def simulate_logs(problem: BanditProblem, n_logs: int, n_rounds: int, seed: int = 0) -> dict:
    """``n_logs`` independent logs of ``n_rounds`` rounds each, as (n_logs, n_rounds) arrays.

    Keys: ``contexts``, ``actions``, ``rewards``, ``logging_probs`` (μ(a_i|s_i)), ``target_probs``
    (π(a_i|s_i)), ``q_logged`` (q̂(s_i, a_i)), ``v_target`` (v̂_π(s_i)).
    """
    rng = np.random.default_rng(seed)
    S, K = problem.logging.shape
    s = rng.integers(0, S, size=(n_logs, n_rounds))
    cum = np.cumsum(problem.logging, axis=1)[s]  # (L, n, K)
    a = np.minimum((rng.random((n_logs, n_rounds, 1)) > cum).sum(-1), K - 1)
    a = np.where(problem.logging[s, a] > 0, a, np.argmax(problem.logging[s], axis=-1))  # rounding guard
    r = (rng.random((n_logs, n_rounds)) < problem.hit_rate[s, a]).astype(np.float64)
    return dict(contexts=s, actions=a, rewards=r, logging_probs=problem.logging[s, a],
                target_probs=problem.target[s, a], q_logged=problem.q_hat[s, a], v_target=problem.v_hat[s])


def estimates_per_log(chapter, logs: dict, clips=(2.0, 5.0, 10.0, 20.0)) -> pd.DataFrame:
    """One row per log: IPS, SNIPS, DR, clipped IPS at each level, the direct method and the ESS.

    The direct method (DM, the mean of v̂_π) needs no weights and is shown for contrast: its error is the
    reward model's, whatever the log's size.
    """
    rows = []
    for i in range(logs["rewards"].shape[0]):
        r, p, q = logs["rewards"][i], logs["target_probs"][i], logs["logging_probs"][i]
        row = {"IPS": chapter.ips_estimate(r, p, q), "SNIPS": chapter.snips_estimate(r, p, q),
               "DR": chapter.doubly_robust_estimate(r, p, q, logs["q_logged"][i], logs["v_target"][i]),
               "DM": float(np.mean(logs["v_target"][i])), "ESS": chapter.effective_sample_size(p / q)}
        for c in clips:
            row[f"IPS clip {c:g}"] = chapter.ips_estimate(r, p, q, clip=c)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(estimates: pd.DataFrame, true_value: float, columns=None) -> pd.DataFrame:
    """Bias, its Monte-Carlo standard error, the spread and RMSE of each estimator over the logs.

    ``bias_z`` = bias / its standard error; ``bias_lo`` / ``bias_hi`` = bias ∓ 1.96 standard errors (a normal
    95 % interval over the logs). An interval that contains 0 means "no bias detectable at this precision" — it
    does not show that there is none (biases smaller than about 2 standard errors go unseen).
    """
    columns = [c for c in (columns or estimates.columns) if c != "ESS"]
    L = len(estimates)
    rows = []
    for name in columns:
        x = estimates[name].to_numpy()
        bias = float(x.mean() - true_value)
        sd = float(x.std(ddof=1))
        se = sd / np.sqrt(L)
        rows.append(dict(estimator=name, mean=float(x.mean()), bias=bias, bias_se=se, bias_lo=bias - 1.96 * se,
                         bias_hi=bias + 1.96 * se,
                         bias_z=bias / (sd / np.sqrt(L)) if sd > 0 else float("nan"), sd=sd,
                         rmse=float(np.sqrt(np.mean((x - true_value) ** 2)))))
    return pd.DataFrame(rows).set_index("estimator")


def variance_ratio_ci(a, b, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Var(a)/Var(b) over paired logs and its percentile bootstrap interval (logs resampled together)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    ratios = a[idx].var(axis=1, ddof=1) / b[idx].var(axis=1, ddof=1)
    lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(a.var(ddof=1) / b.var(ddof=1)), float(lo), float(hi)


def paired_rmse_difference(estimates: pd.DataFrame, a: str, b: str, true_value: float, n_boot: int = 2000,
                           alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """RMSE(a) − RMSE(b) against the known ``true_value`` over the same logs, with a paired bootstrap
    (1 − alpha) interval (the same logs resampled for both estimators)."""
    ea = estimates[a].to_numpy() - true_value
    eb = estimates[b].to_numpy() - true_value
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(ea), size=(n_boot, len(ea)))
    diffs = np.sqrt((ea[idx] ** 2).mean(1)) - np.sqrt((eb[idx] ** 2).mean(1))
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(np.sqrt((ea ** 2).mean()) - np.sqrt((eb ** 2).mean())), float(lo), float(hi)


def distribution_shape(values, true_value: float, n_boot: int = 1000, seed: int = 0) -> dict:
    """Median, share of values below ``true_value`` (``below``, with ``below_k`` of ``n`` and its
    Clopper–Pearson 95 % interval ``below_lo``, ``below_hi``) and sample skewness of one estimator over the logs
    (``skew``, with a percentile-bootstrap 95 % interval over the logs ``skew_lo``, ``skew_hi``; ``n_boot``
    resamples, seeded by ``seed``)."""
    from scipy import stats

    from .plausibility import clopper_pearson

    x = np.asarray(values, float)
    k = int((x < true_value).sum())
    lo, hi = clopper_pearson(k, len(x))
    idx = np.random.default_rng(seed).integers(0, len(x), size=(int(n_boot), len(x)))
    skews = stats.skew(x[idx], axis=1)
    s_lo, s_hi = np.nanquantile(skews, [0.025, 0.975])
    return dict(median=float(np.median(x)), below=k / len(x), below_k=k, n=len(x), below_lo=lo, below_hi=hi,
                skew=float(stats.skew(x)), skew_lo=float(s_lo), skew_hi=float(s_hi))


def exact_clip_bias(problem: BanditProblem, clip: float) -> float:
    """The exact bias of IPS clipped at ``clip`` on ``problem``: E_μ[min(π/μ, clip)·R] − V(π), computed from the
    known policies and hit rates (contexts equally likely), no simulation. 0 when no weight exceeds ``clip``."""
    mu, pi, hit = problem.logging, problem.target, problem.hit_rate
    w = np.divide(pi, mu, out=np.zeros_like(pi), where=mu > 0)
    return float((mu * np.minimum(w, float(clip)) * hit).sum(1).mean() - problem.true_value)


def exact_dm_bias(problem: BanditProblem) -> float:
    """The exact bias of the direct method on ``problem``: E[mean_i v̂_π(s_i)] − V(π) = mean_s v̂_π(s) − V(π)
    (contexts equally likely), i.e. the reward model's error averaged under π — the same for every log size."""
    return float(problem.v_hat.mean() - problem.true_value)


def estimator_study(chapter, n_logs: int = 1000, n_rounds: int = 200, clips=(2.0, 5.0, 10.0, 20.0), seed: int = 0,
                    problem: BanditProblem | None = None) -> dict:
    """Run every estimator on ``n_logs`` simulated logs; returns ``problem``, ``estimates``, ``summary``
    (:func:`summarize` plus ``exact_bias``: each clip level's exact bias from :func:`exact_clip_bias`, DM's from
    :func:`exact_dm_bias`, 0 for IPS and DR — unbiased under support — and NaN for SNIPS, whose small bias has no
    closed form here), ``variance_ratios`` (SNIPS/IPS and DR/IPS with 95 %
    bootstrap intervals over logs), ``exact_clip_bias`` (the clip levels' exact biases), ``max_weight`` (the
    largest weight π/μ the policies allow) and ``max_weights`` (each log's largest weight, shape (n_logs,))."""
    problem = problem or make_problem(seed)
    logs = simulate_logs(problem, n_logs, n_rounds, seed=seed + 1)
    est = estimates_per_log(chapter, logs, clips)
    summary = summarize(est, problem.true_value)
    exact = {f"IPS clip {c:g}": exact_clip_bias(problem, c) for c in clips}
    exact_all = {**exact, "IPS": 0.0, "DR": 0.0, "DM": exact_dm_bias(problem)}
    summary["exact_bias"] = [exact_all.get(name, float("nan")) for name in summary.index]
    ratios = {name: variance_ratio_ci(est[name], est["IPS"], seed=seed) for name in ("SNIPS", "DR")}
    return dict(problem=problem, estimates=est, summary=summary, variance_ratios=ratios,
                exact_clip_bias=exact,
                max_weight=float((problem.target / problem.logging).max()),
                max_weights=(logs["target_probs"] / logs["logging_probs"]).max(axis=1))


def support_violation_study(chapter, mass: float = 0.2, sizes=(100, 1000, 10000), n_logs: int = 200,
                            seed: int = 0, bonus: float = 0.1) -> pd.DataFrame:
    """IPS and DR when π gives ``mass`` to a family μ never proposes: bias vs log size.

    The bias of IPS stays put as the log grows (only its spread shrinks); DR's bias tends to the reward
    model's error on the unseen family times its mass (``attrs["dr_unseen_error"]``), since only its model
    term covers actions the log never shows. Set-up: the unseen family is made the best one (hit rate =
    the context's best + ``bonus``), and q̂ has the same error there as elsewhere — an idealisation: a real reward
    model has no data on a family nobody proposed. ``attrs`` also records ``mass`` and ``bonus``.
    """
    problem = make_problem(seed, unsupported_mass=mass, unsupported_bonus=bonus)
    rows = []
    for n in sizes:
        logs = simulate_logs(problem, n_logs, n, seed=seed + n)
        ips = np.array([chapter.ips_estimate(logs["rewards"][i], logs["target_probs"][i], logs["logging_probs"][i])
                        for i in range(n_logs)])
        dr = np.array([chapter.doubly_robust_estimate(logs["rewards"][i], logs["target_probs"][i],
                                                      logs["logging_probs"][i], logs["q_logged"][i],
                                                      logs["v_target"][i]) for i in range(n_logs)])
        for name, x in (("IPS", ips), ("DR", dr)):
            sd = float(x.std(ddof=1))
            rows.append(dict(estimator=name, n_rounds=n, bias=float(x.mean() - problem.true_value),
                             bias_se=sd / np.sqrt(n_logs), sd=sd))
    out = pd.DataFrame(rows)
    out.attrs["true_value"] = problem.true_value
    out.attrs["mass"], out.attrs["bonus"] = float(mass), float(bonus)
    out.attrs["unseen_value"] = float(mass * problem.hit_rate[:, -1].mean())
    # DR's limiting bias: the model term's error on the family no log contains (contexts are uniform)
    out.attrs["dr_unseen_error"] = float(mass * (problem.q_hat[:, -1] - problem.hit_rate[:, -1]).mean())
    out.attrs["q_error_sd"] = float((problem.q_hat - problem.hit_rate).std())
    return out


def log_typicality_text(ess: float, weights, ess_all, max_weight: float, max_weights=None) -> str:
    """Where one log (its ESS ``ess``, its weights π/μ ``weights``) stands among the study's logs (``ess_all``: their
    ESS): the share of logs with a smaller ESS and the median; with ``max_weights`` (each study log's largest
    weight) also the share of logs whose largest weight is at most this log's. "Atypically even" only when its ESS
    exceeds that of 90 % of the logs or more; ``max_weight`` is the largest weight the policies allow."""
    ess_all = np.asarray(ess_all, float)
    w_max = float(np.max(weights))
    rank = float((ess_all < ess).mean())
    text = (f"this log (ESS {ess:.1f}, largest weight {w_max:.1f}) has a larger ESS than {rank:.0%} of these logs "
            f"(median ESS {np.median(ess_all):.1f})")
    if max_weights is not None:
        text += (f"; {float((np.asarray(max_weights, float) <= w_max).mean()):.0%} of them have no weight above its largest "
                 f"(the policies allow up to {max_weight:.1f})")
    return text + (": an atypically even log" if rank >= 0.9 else ": not an atypically even log")


def bias_holm(summary: pd.DataFrame) -> pd.Series:
    """Holm-adjusted two-sided p-values (Holm 1979; :func:`molpractice.comparisons.holm_adjusted`) of the bias tests
    of :func:`summarize`'s rows (``bias_z`` against a normal), over every row with a finite z: the intervals of that
    table are read together, so a single "detected" among them needs this correction. NaN where z is NaN."""
    from scipy import stats

    from .comparisons import holm_adjusted

    z = summary["bias_z"].to_numpy(float)
    p = 2 * stats.norm.sf(np.abs(z))
    out = np.full(len(z), np.nan)
    ok = np.isfinite(z)
    out[ok] = holm_adjusted(p[ok])
    return pd.Series(out, index=summary.index, name="bias p (Holm)")


def clip_bias_text(summary: pd.DataFrame, name: str) -> str:
    """One clip level's exact and estimated bias with its unadjusted verdict, Holm's over the table's bias tests
    (:func:`bias_holm`) and what a |z| < 3 rule would say."""
    row, q = summary.loc[name], float(bias_holm(summary).loc[name])
    unadjusted = "detected" if row.bias_hi < 0 or row.bias_lo > 0 else "not detectable at this precision"
    return (f"{name}: exact bias {row.exact_bias:+.4f}, estimated {row.bias:+.4f} [{row.bias_lo:+.4f}, {row.bias_hi:+.4f}] "
            f"({unadjusted} unadjusted; Holm over the table's {int(summary.bias_z.notna().sum())} bias tests: p {q:.3f}, "
            f"{'detected' if q < 0.05 else 'not detected'}; |z| = {abs(row.bias_z):.2f} passes a |z| < 3 rule: {abs(row.bias_z) < 3})")
