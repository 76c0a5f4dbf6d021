"""Off-policy evaluation of the chapter-6 redesign: is the corrected objective better *before* running it?

The GA's own proposals have no logged propensities, so its redesign cannot be evaluated offline as it ran.
What can be evaluated honestly is the redesign as a **selection policy over the library**: π picks one library
molecule with probability softmax(objective / τ) (objective = the buggy proxy minus the redesign's fitted
``slope`` per unit of its ``feature``), the hacked policy does the same with the buggy proxy alone, and the
behaviour policy μ is uniform random screening of the library (propensity 1/N for every molecule, so μ covers
every molecule π can pick). A log is ``n_rounds`` molecules drawn by μ with their *true* score (the lab's
outcome, one true call each); IPS, SNIPS and DR (reward model: the corrected proxy) estimate V(π) = E_π[true]
from it. In this simulation the true score of every library molecule is known, so the on-policy value is exact
and the estimators' bias and spread are measured over ``n_logs`` logs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import oracles

ESTIMATORS = ("IPS", "SNIPS", "DR")


def softmax_policy(scores, temperature: float) -> np.ndarray:
    """Probabilities softmax(scores / temperature) over the scored molecules."""
    x = np.asarray(scores, float)
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError("scores must be a non-empty 1-d array of finite values")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    z = (x - x.max()) / float(temperature)
    p = np.exp(z)
    return p / p.sum()


def library_policies(lib, slope: float, feature: str = "heavy atoms", temperature: float = 0.05) -> dict:
    """The library's scores and the two selection policies: ``true`` (true score), ``proxy`` (buggy),
    ``corrected`` (buggy − ``slope`` · ``feature``), ``hacked`` = softmax(proxy/τ), ``redesign`` =
    softmax(corrected/τ), ``uniform`` (μ) and each policy's exact value ``V_hacked``, ``V_redesign``, ``V_uniform``."""
    from .campaign import PANEL, descriptor

    if feature not in PANEL:
        raise ValueError(f"feature must be one of {PANEL}, got {feature!r}")
    if not np.isfinite(float(slope)):
        raise ValueError(f"slope must be finite, got {slope!r}")
    lib = list(lib)
    if len(lib) < 2:
        raise ValueError(f"lib must hold at least 2 molecules, got {len(lib)}")
    true = np.array([oracles.true_score(s) for s in lib])
    proxy = np.array([oracles.proxy_score(s, bug=True) for s in lib])
    corrected = proxy - float(slope) * np.array([descriptor(feature, s) for s in lib])
    out = dict(true=true, proxy=proxy, corrected=corrected, hacked=softmax_policy(proxy, temperature),
               redesign=softmax_policy(corrected, temperature), uniform=np.full(len(lib), 1 / len(lib)))
    for name in ("hacked", "redesign", "uniform"):
        out[f"V_{name}"] = float(out[name] @ true)
    return out


def estimate(ch06, pol: dict, idx, target: str = "redesign") -> dict:
    """IPS, SNIPS and DR of V(``target``) from the uniformly logged molecules ``idx`` (their true scores are the
    rewards; DR's reward model is the corrected proxy), with the chapter's estimators (``ch06``), and the log's ESS."""
    idx = np.asarray(idx, int)
    r, p, q = pol["true"][idx], pol[target][idx], pol["uniform"][idx]
    q_hat = pol["corrected"]
    v_hat = np.full(len(idx), float(pol[target] @ q_hat))
    return dict(IPS=ch06.ips_estimate(r, p, q), SNIPS=ch06.snips_estimate(r, p, q),
                DR=ch06.doubly_robust_estimate(r, p, q, q_hat[idx], v_hat), ESS=ch06.effective_sample_size(p / q))


def _boot(ch06, pol: dict, idx, n_boot: int, rng) -> dict:
    """Percentile-bootstrap 95 % intervals over the log's rounds ``idx``: per estimator, of V̂(redesign) and of the
    paired V̂(redesign) − V̂(hacked) (the same resampled rounds for both)."""
    n = len(idx)
    draws = []
    for _ in range(n_boot):
        b = idx[rng.integers(0, n, n)]
        draws.append({t: estimate(ch06, pol, b, t) for t in ("redesign", "hacked")})
    out = {}
    for est in ESTIMATORS:
        v = np.array([d["redesign"][est] for d in draws])
        dv = np.array([d["redesign"][est] - d["hacked"][est] for d in draws])
        out[est] = (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975)),
                    float(np.quantile(dv, 0.025)), float(np.quantile(dv, 0.975)))
    return out


def _over_logs(many: list, exact: dict, rng, n_boot: int) -> dict:
    """Bootstrap over the simulated logs (percentile 95 %, ``n_boot`` resamples of the logs): ``sd_ratios`` —
    sd(DR)/sd(SNIPS) and sd(DR)/sd(IPS) of V̂(redesign) − V̂(hacked), each ``(ratio, lo, hi)``; ``ess_difference`` —
    mean ESS of the hacked policy − of π over the same logs, ``(difference, lo, hi)``."""
    diff = {e: np.array([m["redesign"][e] - m["hacked"][e] for m in many]) - exact["difference"] for e in ESTIMATORS}
    ess = np.array([m["hacked"]["ESS"] - m["redesign"]["ESS"] for m in many])
    pairs = (("DR", "SNIPS"), ("DR", "IPS"))
    point = {f"{a}/{b}": float(diff[a].std(ddof=1) / diff[b].std(ddof=1)) for a, b in pairs}
    draws = {k: [] for k in point}
    ess_draws = []
    for _ in range(n_boot):
        b = rng.integers(0, len(many), len(many))
        for a, c in pairs:
            draws[f"{a}/{c}"].append(diff[a][b].std(ddof=1) / diff[c][b].std(ddof=1))
        ess_draws.append(ess[b].mean())
    q = lambda x: (float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975)))  # noqa: E731
    return dict(sd_ratios={k: (v, *q(draws[k])) for k, v in point.items()},
                ess_difference=(float(ess.mean()), *q(ess_draws)))


def redesign_ope(ch06, lib, slope: float, feature: str = "heavy atoms", temperature: float = 0.05, n_rounds: int = 300,
                 n_logs: int = 500, n_boot: int = 1000, seed: int = 0, coverage_logs: int = 200,
                 coverage_boot: int = 400) -> dict:
    """The off-policy check of the redesign (see the module docstring).

    ``one``: one log of ``n_rounds`` uniform draws (seed ``seed``): per estimator the estimate of V(redesign) with a
    percentile-bootstrap 95 % interval over the log's rounds, and the paired difference V̂(redesign) − V̂(hacked)
    from the same log (bootstrap 95 %), and whether each interval contains the exact value (``covers``,
    ``difference_covers``). ``many``: over ``n_logs`` logs (seeds ``seed + 1 …``), per estimator and ``target``
    ("redesign", "hacked", "difference" = redesign − hacked) the bias against the exact value with a 95 %
    t-interval and the sd; ``ess``: the mean ESS of each policy over the logs. ``coverage``: on the first
    ``coverage_logs`` of those logs (at most ``n_logs``), the same bootstrap interval (``min(coverage_boot, n_boot)``
    resamples) per estimator; how many contain the exact V(redesign) (``k_value``) and the exact difference
    (``k_difference``) of ``n`` logs, with Clopper–Pearson 95 % intervals (nominal 0.95). ``on_policy``: the mean
    true score of ``n_rounds`` molecules drawn from π itself (what running the redesign would measure; t-interval).
    ``log_distinct`` / ``on_policy_distinct``: the distinct molecules among the one log's draws and among the
    on-policy draws (both draw with replacement; a repeat costs no new true call). ``sd_ratios`` and
    ``ess_difference``: bootstrap-over-logs intervals (:func:`_over_logs`).
    Also the exact ``V_redesign``, ``V_hacked``, ``V_uniform``, ``true_calls`` = ``n_rounds`` per log and ``n`` = the
    library's size, which is also the number of proxy calls π needs (the proxy of every library molecule)."""
    from .campaign import mean_interval
    from .detection import clopper_pearson

    for name, v, least in (("n_rounds", n_rounds, 10), ("n_logs", n_logs, 2), ("n_boot", n_boot, 10),
                           ("coverage_logs", coverage_logs, 1), ("coverage_boot", coverage_boot, 10)):
        if not isinstance(v, (int, np.integer)) or v < least:
            raise ValueError(f"{name} must be an int >= {least}, got {v!r}")
    pol = library_policies(lib, slope, feature, temperature)
    n = len(pol["true"])
    exact = dict(redesign=pol["V_redesign"], hacked=pol["V_hacked"], difference=pol["V_redesign"] - pol["V_hacked"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, n_rounds)
    point = {t: estimate(ch06, pol, idx, t) for t in ("redesign", "hacked")}
    boot = _boot(ch06, pol, idx, n_boot, np.random.default_rng(seed + 10_000))
    one = []
    for est in ESTIMATORS:
        lo, hi, dlo, dhi = boot[est]
        diff = point["redesign"][est] - point["hacked"][est]
        one.append(dict(estimator=est, estimate=point["redesign"][est], lo=lo, hi=hi, difference=diff,
                        difference_lo=dlo, difference_hi=dhi, covers=bool(lo <= exact["redesign"] <= hi),
                        difference_covers=bool(dlo <= exact["difference"] <= dhi)))
    logs = [np.random.default_rng(seed + 1 + k).integers(0, n, n_rounds) for k in range(n_logs)]
    many = [{t: estimate(ch06, pol, ix, t) for t in ("redesign", "hacked")} for ix in logs]
    rows = []
    for est in ESTIMATORS:
        for target in ("redesign", "hacked", "difference"):
            vals = np.array([m["redesign"][est] - m["hacked"][est] if target == "difference" else m[target][est]
                             for m in many])
            x = vals - exact[target]
            b, lo, hi = mean_interval(x)
            rows.append(dict(estimator=est, target=target, bias=b, bias_lo=lo, bias_hi=hi, sd=float(x.std(ddof=1))))
    cov_rows, n_cov = [], min(int(coverage_logs), int(n_logs))
    cover_rng = np.random.default_rng(seed + 20_000)
    cov = [_boot(ch06, pol, ix, min(int(coverage_boot), int(n_boot)), cover_rng) for ix in logs[:n_cov]]
    for est in ESTIMATORS:
        kv = sum(c[est][0] <= exact["redesign"] <= c[est][1] for c in cov)
        kd = sum(c[est][2] <= exact["difference"] <= c[est][3] for c in cov)
        cov_rows.append(dict(estimator=est, k_value=int(kv), k_difference=int(kd), n=n_cov,
                             value_lo=clopper_pearson(int(kv), n_cov)[0], value_hi=clopper_pearson(int(kv), n_cov)[1],
                             difference_lo=clopper_pearson(int(kd), n_cov)[0],
                             difference_hi=clopper_pearson(int(kd), n_cov)[1]))
    on_idx = rng.choice(n, size=n_rounds, p=pol["redesign"])
    on = pol["true"][on_idx]
    spread = _over_logs(many, exact, np.random.default_rng(seed + 30_000), n_boot)
    return dict(sd_ratios=spread["sd_ratios"], ess_difference=spread["ess_difference"],
                log_distinct=int(len(np.unique(idx))), on_policy_distinct=int(len(np.unique(on_idx))),one=pd.DataFrame(one).set_index("estimator"), many=pd.DataFrame(rows).set_index(["estimator", "target"]),
                coverage=pd.DataFrame(cov_rows).set_index("estimator"),
                ess={t: float(np.mean([m[t]["ESS"] for m in many])) for t in ("redesign", "hacked")},
                ess_one={t: point[t]["ESS"] for t in ("redesign", "hacked")},
                on_policy=mean_interval(on), V_redesign=pol["V_redesign"], V_hacked=pol["V_hacked"],
                V_uniform=pol["V_uniform"], true_calls=n_rounds, n=n, n_logs=int(n_logs),
                coverage_boot=min(int(coverage_boot), int(n_boot)),
                temperature=float(temperature), slope=float(slope), feature=feature)


def ope_lines(res: dict) -> list[str]:
    """Text lines of :func:`redesign_ope`: the policies (slope and feature, the proxy calls π needs) and exact values,
    the one log's estimates and paired differences (each marked whether its interval contains the exact value), the
    on-policy estimate, bias / sd over the logs of V̂(redesign), V̂(hacked) and their difference, and the coverage of
    the one-log intervals."""
    from .campaign import verdict

    ex_d = res["V_redesign"] - res["V_hacked"]
    inside = lambda ok: "contains the exact value" if ok else "MISSES the exact value"  # noqa: E731
    out = [f"selection policies over the {res['n']} library molecules (softmax, τ = {res['temperature']:g}); redesign: buggy "
           f"proxy − {res['slope']:.4f} per unit of {res['feature']} (the redesigns' mean slope); π needs the proxy of every "
           f"library molecule: {res['n']} proxy calls",
           f"exact values (true score): redesign {res['V_redesign']:.3f}, hacked {res['V_hacked']:.3f}, uniform μ "
           f"{res['V_uniform']:.3f} (hacked − uniform {res['V_hacked'] - res['V_uniform']:+.3f}; redesign − hacked {ex_d:+.3f})",
           f"one log of {res['true_calls']} uniformly screened molecules with their true score (ESS for π: "
           f"{res['ess_one']['redesign']:.1f}, for the hacked policy: {res['ess_one']['hacked']:.1f}):"]
    for est, r in res["one"].iterrows():
        out.append(f"  {est}: V̂(redesign) {r.estimate:.3f} [{r.lo:.3f}, {r.hi:.3f}] ({inside(r.covers)}); V̂(redesign) − "
                   f"V̂(hacked) " + verdict(r.difference, r.difference_lo, r.difference_hi)
                   + f" ({inside(r.difference_covers)}; paired bootstrap over the log)")
    m, lo, hi = res["on_policy"]
    out.append(f"on-policy: {res['true_calls']} draws from the redesign itself, mean true score {m:.3f} [{lo:.3f}, {hi:.3f}]")
    out.append(f"true calls (draws are with replacement; a repeat costs no new call): the log's {res['true_calls']} draws "
               f"hold {res['log_distinct']} distinct molecules, the on-policy draws {res['on_policy_distinct']}")
    out.append(f"over {res['n_logs']} logs (mean ESS: redesign {res['ess']['redesign']:.1f}, hacked {res['ess']['hacked']:.1f} "
               f"of {res['true_calls']}):")
    for (est, target), r in res["many"].iterrows():
        word = "no bias detectable at this precision" if r.bias_lo < 0 < r.bias_hi else "bias detected"
        out.append(f"  {est}, {target}: bias {r.bias:+.4f} [{r.bias_lo:+.4f}, {r.bias_hi:+.4f}] ({word}), sd {r.sd:.4f}")
    out.append("over the logs, bootstrap over the logs (95 %): sd ratio of the difference " + "; ".join(
        f"{k} {r:.2f} [{lo_:.2f}, {hi_:.2f}]" for k, (r, lo_, hi_) in res["sd_ratios"].items())
        + "; mean ESS hacked − π {0:+.1f} [{1:+.1f}, {2:+.1f}]".format(*res["ess_difference"]))
    c0 = res["coverage"].iloc[0]
    out.append(f"coverage of the one-log 95 % bootstrap intervals over {int(c0.n)} logs ({res['coverage_boot']} resamples "
               f"each; Clopper–Pearson 95 %):")
    for est, c in res["coverage"].iterrows():
        out.append(f"  {est}: V(redesign) {int(c.k_value)} of {int(c.n)} = {c.k_value / c.n:.2f} [{c.value_lo:.2f}, "
                   f"{c.value_hi:.2f}]; difference {int(c.k_difference)} of {int(c.n)} = {c.k_difference / c.n:.2f} [{c.difference_lo:.2f}, "
                   f"{c.difference_hi:.2f}]")
    return out
