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


def library_policies(lib, slope: float, feature: str = "halogens", temperature: float = 0.05) -> dict:
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


def redesign_ope(ch06, lib, slope: float, feature: str = "halogens", temperature: float = 0.05, n_rounds: int = 300,
                 n_logs: int = 500, n_boot: int = 1000, seed: int = 0) -> dict:
    """The off-policy check of the redesign (see the module docstring).

    ``one``: one log of ``n_rounds`` uniform draws (seed ``seed``): per estimator the estimate of V(redesign) with a
    percentile-bootstrap 95 % interval over the log's rounds, and the paired difference V̂(redesign) − V̂(hacked)
    from the same log (bootstrap 95 %). ``many``: over ``n_logs`` logs (seeds ``seed + 1 …``), each estimator's
    bias against the exact V(redesign) with a 95 % t-interval, its sd and the mean ESS. ``on_policy``: the mean true
    score of ``n_rounds`` molecules drawn from π itself (what running the redesign would measure; t-interval).
    Also the exact ``V_redesign``, ``V_hacked``, ``V_uniform`` and ``true_calls`` = ``n_rounds`` per log."""
    from .campaign import mean_interval

    for name, v, least in (("n_rounds", n_rounds, 10), ("n_logs", n_logs, 2), ("n_boot", n_boot, 10)):
        if not isinstance(v, (int, np.integer)) or v < least:
            raise ValueError(f"{name} must be an int >= {least}, got {v!r}")
    pol = library_policies(lib, slope, feature, temperature)
    n = len(pol["true"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, n_rounds)
    one, boots = [], np.random.default_rng(seed + 10_000)
    point = {t: estimate(ch06, pol, idx, t) for t in ("redesign", "hacked")}
    draws = []
    for _ in range(n_boot):
        b = idx[boots.integers(0, n_rounds, n_rounds)]
        draws.append({t: estimate(ch06, pol, b, t) for t in ("redesign", "hacked")})
    for est in ESTIMATORS:
        v = np.array([d["redesign"][est] for d in draws])
        dv = np.array([d["redesign"][est] - d["hacked"][est] for d in draws])
        one.append(dict(estimator=est, estimate=point["redesign"][est], lo=float(np.quantile(v, 0.025)),
                        hi=float(np.quantile(v, 0.975)),
                        difference=point["redesign"][est] - point["hacked"][est],
                        difference_lo=float(np.quantile(dv, 0.025)), difference_hi=float(np.quantile(dv, 0.975))))
    many = [estimate(ch06, pol, np.random.default_rng(seed + 1 + k).integers(0, n, n_rounds)) for k in range(n_logs)]
    rows = []
    for est in ESTIMATORS:
        x = np.array([m[est] for m in many]) - pol["V_redesign"]
        b, lo, hi = mean_interval(x)
        rows.append(dict(estimator=est, bias=b, bias_lo=lo, bias_hi=hi, sd=float(x.std(ddof=1)),
                         ess=float(np.mean([m["ESS"] for m in many]))))
    on = pol["true"][rng.choice(n, size=n_rounds, p=pol["redesign"])]
    return dict(one=pd.DataFrame(one).set_index("estimator"), many=pd.DataFrame(rows).set_index("estimator"),
                on_policy=mean_interval(on), V_redesign=pol["V_redesign"], V_hacked=pol["V_hacked"],
                V_uniform=pol["V_uniform"], ess=point["redesign"]["ESS"], true_calls=n_rounds, n=n,
                temperature=float(temperature), slope=float(slope), feature=feature)


def ope_lines(res: dict) -> list[str]:
    """Text lines of :func:`redesign_ope`: the exact values, the one log's estimates and paired differences, the
    on-policy estimate, and bias / sd over the logs."""
    from .campaign import verdict

    out = [f"selection policies over the {res['n']} library molecules (softmax, τ = {res['temperature']:g}); exact values "
           f"(true score): redesign {res['V_redesign']:.3f}, hacked {res['V_hacked']:.3f}, uniform μ {res['V_uniform']:.3f}",
           f"one log of {res['true_calls']} uniformly screened molecules with their true score (ESS for π: {res['ess']:.1f}):"]
    for est, r in res["one"].iterrows():
        out.append(f"  {est}: V̂(redesign) {r.estimate:.3f} [{r.lo:.3f}, {r.hi:.3f}]; V̂(redesign) − V̂(hacked) "
                   + verdict(r.difference, r.difference_lo, r.difference_hi) + " (paired bootstrap over the log)")
    m, lo, hi = res["on_policy"]
    out.append(f"on-policy: {res['true_calls']} molecules drawn from the redesign itself, mean true score {m:.3f} [{lo:.3f}, {hi:.3f}]")
    for est, r in res["many"].iterrows():
        word = "no bias detectable at this precision" if r.bias_lo < 0 < r.bias_hi else "bias detected"
        out.append(f"  over the logs, {est}: bias {r.bias:+.4f} [{r.bias_lo:+.4f}, {r.bias_hi:+.4f}] ({word}), sd {r.sd:.4f}")
    return out
