"""Rates of binary outcomes with exact or score intervals: Clopper–Pearson for one rate, Newcombe's hybrid score
intervals for the difference of two independent rates and of two paired rates (with the exact McNemar p-value).
Pure functions of counts or outcome lists (scipy only); :mod:`molpractice.plausibility` re-exports them."""
from __future__ import annotations

__all__ = ["clopper_pearson", "rate_difference", "paired_rate_difference"]


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a binomial rate k/n; (nan, nan) when n = 0."""
    from scipy.stats import beta

    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    a = 1 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def rate_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> dict:
    """Difference of two independent binomial rates k1/n1 − k2/n2 with Newcombe's hybrid score interval
    (Newcombe 1998, method 10, from Wilson intervals). Returns ``{"difference", "low", "high", "verdict"}``;
    the verdict is "higher" / "lower" when the interval excludes 0, else "no detectable difference"."""
    from scipy.stats import norm

    if min(n1, n2) <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 <= k <= n and n > 0, got {k1}/{n1} and {k2}/{n2}")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = _wilson(k1, n1, z), _wilson(k2, n2, z)
    d = p1 - p2
    low = d - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5
    high = d + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no detectable difference"
    return {"difference": d, "low": low, "high": high, "verdict": verdict}


def paired_rate_difference(first, second, confidence: float = 0.95) -> dict:
    """Difference of two rates measured on the same units (paired binary outcomes, e.g. two samplers run from
    the same x_T): mean(first) − mean(second) with Newcombe's score interval for paired data (Newcombe 1998,
    Stat. Med. 17:2635, method 10) and the exact McNemar p-value (two-sided binomial test on the discordant
    pairs). Returns ``{"difference", "low", "high", "p_value", "discordant": (first only, second only)}``."""
    from scipy.stats import binomtest, norm

    a_, b_ = [bool(v) for v in first], [bool(v) for v in second]
    if len(a_) != len(b_) or not a_:
        raise ValueError(f"paired outcomes need the same, non-zero length, got {len(a_)} and {len(b_)}")
    n = len(a_)
    both = sum(x and y for x, y in zip(a_, b_))
    only1 = sum(x and not y for x, y in zip(a_, b_))
    only2 = sum(y and not x for x, y in zip(a_, b_))
    neither = n - both - only1 - only2
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p1, p2 = (both + only1) / n, (both + only2) / n
    (l1, u1), (l2, u2) = _wilson(both + only1, n, z), _wilson(both + only2, n, z)
    den = ((both + only1) * (only2 + neither) * (both + only2) * (only1 + neither)) ** 0.5
    phi = (both * neither - only1 * only2) / den if den > 0 else 0.0
    d = p1 - p2
    low = d - max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0) ** 0.5
    high = d + max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0) ** 0.5
    p = 1.0 if only1 + only2 == 0 else float(binomtest(only1, only1 + only2, 0.5).pvalue)
    return {"difference": d, "low": max(low, -1.0), "high": min(high, 1.0), "p_value": p,
            "discordant": (only1, only2)}


def _rate(k: int, n: int) -> dict:
    low, high = clopper_pearson(k, n)
    return {"rate": k / n if n else float("nan"), "k": int(k), "n": int(n), "low": low, "high": high}
