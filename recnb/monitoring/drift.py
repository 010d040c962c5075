"""Drift of distributions over days: PSI and Jensen-Shannon divergence with calibrated alarms.

A monitored quantity is a *categorical distribution per day*: the mix of event types, the mix of
product categories in the events, the split of active customers into new and returning, the
categories of the recommended slots (exposure). :func:`daily_counts` builds the day x bin count
table; :func:`drift_scores` compares each day with a trailing reference window of the days before
it.

Statistics (``p`` the reference shares, ``q`` the day's shares, both smoothed, ``m = (p + q) / 2``):

- population stability index ``PSI = sum (q - p) * ln(q / p)`` (the symmetrised Kullback-Leibler
  divergence, in nats);
- Jensen-Shannon divergence ``JS = KL(p || m) / 2 + KL(q || m) / 2`` in bits (in ``[0, 1]``; the
  square of :func:`scipy.spatial.distance.jensenshannon` with ``base=2``).

Epsilon smoothing: shares are ``(count / n + eps) / (1 + k * eps)`` over ``k`` bins, so an empty
bin on one side gives a large but finite value instead of an infinite one.

Alarm thresholds are calibrated, not fixed: a fixed PSI cut such as the folklore 0.1 / 0.25 means
something different on a day of 50 events and on a day of 50,000. Under a stationary process both
statistics times the effective sample size ``n_eff = 1 / (1 / n_day + 1 / n_ref)`` follow, to
first order, a chi-square law with ``k - 1`` degrees of freedom; real logs are over-dispersed
(the events of a session are not independent draws, weekdays differ), so the law is scaled by a
dispersion factor ``c`` measured on the reference window itself: every reference day is compared
with the other reference days (leave one day out), ``c = mean(s * n_eff * stat) / (k - 1)`` (never
below 1; ``s`` is 1 for PSI and ``8 ln 2`` for JS in bits, their first-order ratio to the
chi-square statistic). The day's threshold is ``c * chi2.ppf(1 - alpha, k - 1) / (s * n_eff)``.
Days vary more than that law allows where events cluster (sessions) or counts are small (rare
event types, a few new customers a day): by default a second scaled chi-square is fitted to the
mean *and* the variance of the leave-one-day-out values (fewer degrees of freedom, a heavier
tail), as is one to the statistics of the previous scored days (each against its own trailing
window, so slow trends count as noise), and the highest quantile is the threshold. Under stationarity a check should then
alarm on about a share ``alpha`` of days; ``benchmarks/bench_monitoring.py`` measures how close
this comes on the shop. With several checks a day, :func:`drift_scores` splits a
daily false-alarm budget evenly between them (Bonferroni), so the chance that a stationary day
raises any alarm stays at or below that budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "DEFAULT_EPS",
    "NULL_MODELS",
    "STATISTICS",
    "alarm_summary",
    "daily_counts",
    "drift_scores",
    "first_alarm_day",
    "js_divergence",
    "psi",
    "smoothed_shares",
]

DEFAULT_EPS = 1e-4
"""Default additive smoothing of the shares (see :func:`smoothed_shares`)."""

STATISTICS: tuple[str, ...] = ("psi", "js")
"""Drift statistics computed by :func:`drift_scores`."""


def smoothed_shares(counts: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Shares of each bin with additive epsilon smoothing, row by row.

    Parameters
    ----------
    counts : array-like, shape (k,) or (n, k)
        Non-negative counts (or shares) per bin.
    eps : float
        Smoothing mass added to every bin's share before renormalising (>= 0).

    Returns
    -------
    numpy.ndarray
        ``(counts / total + eps) / (1 + k * eps)``, same shape; every row sums to 1. A row with a
        zero total gives NaN.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim not in (1, 2) or c.shape[-1] == 0:
        raise ValueError(f"counts: expected a non-empty 1-d or 2-d array, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("counts: must be finite and >= 0")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps: must be finite and >= 0, got {eps!r}")
    k = c.shape[-1]
    total = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = c / total
    return (share + eps) / (1.0 + k * eps)


def psi(reference: np.ndarray, current: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray | float:
    """Population stability index between reference and current counts (nats).

    Parameters
    ----------
    reference, current : array-like, shape (k,) or (n, k)
        Counts per bin (rows broadcast against each other).
    eps : float
        Smoothing (see :func:`smoothed_shares`).

    Returns
    -------
    float or numpy.ndarray
        ``sum (q - p) * ln(q / p)`` per row; 0 for identical shares.
    """
    p = smoothed_shares(reference, eps)
    q = smoothed_shares(current, eps)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"psi: {p.shape[-1]} reference bins but {q.shape[-1]} current bins")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((q - p) * np.log(q / p)).sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def js_divergence(
    reference: np.ndarray, current: np.ndarray, eps: float = DEFAULT_EPS
) -> np.ndarray | float:
    """Jensen-Shannon divergence between reference and current counts, in bits (0 to 1).

    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`` on the smoothed shares.

    Parameters
    ----------
    reference, current : array-like, shape (k,) or (n, k)
        Counts per bin.
    eps : float
        Smoothing (see :func:`smoothed_shares`).

    Returns
    -------
    float or numpy.ndarray
    """
    p = smoothed_shares(reference, eps)
    q = smoothed_shares(current, eps)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"js_divergence: {p.shape[-1]} reference bins but {q.shape[-1]} current bins"
        )
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=-1)
    out = np.clip((kl_p + kl_q) / 2.0, 0.0, 1.0)
    return float(out) if np.ndim(out) == 0 else out


_STAT_FUNCS = {"psi": psi, "js": js_divergence}
#: first-order scale of each statistic against the chi-square statistic: ``PSI ~ X2 / n`` and
#: ``JS (bits) ~ X2 / (8 ln 2 n)``, so that the dispersion factor is comparable (1 = no
#: over-dispersion) for both
_CHI2_SCALE = {"psi": 1.0, "js": 8.0 * np.log(2.0)}


def daily_counts(
    day: Sequence[int] | np.ndarray,
    value: Sequence[object] | np.ndarray,
    categories: Sequence[object] | None = None,
    days: Sequence[int] | None = None,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """Count table of a categorical value per day.

    Parameters
    ----------
    day : array-like of int
        Day index of each row.
    value : array-like
        The category of each row (NaN/None rows are dropped).
    categories : sequence, optional
        The bins, in order (default: the sorted distinct values). A value outside them raises.
    days : sequence of int, optional
        The days of the table (default ``min(day) .. max(day)``); days without rows get zeros.
    weights : numpy.ndarray, optional
        Weight of each row (default 1).

    Returns
    -------
    pandas.DataFrame
        Index ``day``, one column per bin, float counts.
    """
    d = np.asarray(day, dtype=np.int64)
    v = pd.Series(np.asarray(value, dtype=object))
    if len(d) != len(v):
        raise ValueError(f"daily_counts: {len(d)} days for {len(v)} values")
    keep = v.notna().to_numpy()
    d, v = d[keep], v[keep]
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    if categories is None:
        categories = sorted(pd.unique(v).tolist(), key=str)
    cat = pd.Categorical(v, categories=list(categories))
    if (cat.codes < 0).any():
        bad = v[cat.codes < 0].iloc[0]
        raise ValueError(f"daily_counts: value {bad!r} is not one of the bins {list(categories)}")
    if days is None:
        days = range(int(d.min()), int(d.max()) + 1) if len(d) else []
    days = np.asarray(list(days), dtype=np.int64)
    pos = pd.Index(days).get_indexer(d)
    inside = pos >= 0
    table = np.zeros((len(days), len(cat.categories)))
    np.add.at(table, (pos[inside], cat.codes[inside]), w[inside])
    return pd.DataFrame(table, index=pd.Index(days, name="day"), columns=list(cat.categories))


NULL_MODELS: tuple[str, ...] = ("forward", "two_moment", "dispersion")
"""Laws fitted to the leave-one-day-out values (see :func:`drift_scores`)."""


def _null_quantile(
    window: np.ndarray, statistic: str, eps: float, alpha: float, null: str
) -> tuple[float, float, int]:
    """``(1 - alpha)`` quantile of the scaled statistic under the fitted null, the dispersion
    factor and the degrees of freedom, from the leave-one-day-out values of the window."""
    n_day = window.sum(axis=1)
    window = window[n_day > 0]
    n_day = n_day[n_day > 0]
    total = window.sum(axis=0)
    df = int((total > 0).sum()) - 1
    if len(window) < 3 or df < 1:
        return np.nan, np.nan, df
    rest = total[None, :] - window
    n_rest = rest.sum(axis=1)
    ok = n_rest > 0
    n_eff = 1.0 / (1.0 / n_day[ok] + 1.0 / n_rest[ok])
    z = _STAT_FUNCS[statistic](rest[ok], window[ok], eps) * n_eff * _CHI2_SCALE[statistic]
    mean = float(np.mean(z))
    c = max(1.0, mean / df)
    q = c * stats.chi2.ppf(1.0 - alpha, df)
    if null != "dispersion":
        q = max(q, _two_moment_quantile(z, alpha))
    return q, c, df


def _two_moment_quantile(z: np.ndarray, alpha: float) -> float:
    """``(1 - alpha)`` quantile of a scaled chi-square with the mean and variance of ``z``."""
    mean, var = float(np.mean(z)), float(np.var(z, ddof=1))
    if not (var > 0 and mean > 0):
        return -np.inf
    return var / (2.0 * mean) * stats.chi2.ppf(1.0 - alpha, 2.0 * mean**2 / var)


def drift_scores(
    counts: Mapping[str, pd.DataFrame] | pd.DataFrame,
    reference_days: int = 28,
    alert_rate: float = 0.01,
    eps: float = DEFAULT_EPS,
    min_reference_days: int = 7,
    start_day: int | None = None,
    statistics: Sequence[str] = STATISTICS,
    null: str = "forward",
) -> pd.DataFrame:
    """PSI and JS divergence of every day against the trailing reference window, with alarms.

    Parameters
    ----------
    counts : DataFrame or mapping of str to DataFrame
        Day x bin count tables (:func:`daily_counts`), one per monitored feature (a single
        DataFrame is the feature ``"value"``). The index must be consecutive days.
    reference_days : int
        Length of the trailing reference window: day ``d`` is compared with days
        ``d - reference_days .. d - 1``.
    alert_rate : float
        Daily false-alarm budget in ``(0, 1)``: the nominal probability that a stationary day
        raises *any* alarm; each of the ``features x statistics`` checks gets an equal share.
    eps : float
        Smoothing of the shares.
    min_reference_days : int
        Fewest reference days with data before a day is scored (earlier days are left out).
    start_day : int, optional
        First day to score (default: the first day with a full reference window).
    statistics : sequence of {"psi", "js"}
        Which statistics to compute.
    null : {"forward", "two_moment", "dispersion"}
        The law of the scaled statistic on a stationary day: ``"dispersion"`` is ``c`` times a
        chi-square with ``k - 1`` degrees of freedom, ``c`` from the mean of the
        leave-one-day-out values; ``"two_moment"`` also fits a scaled chi-square to their mean
        *and* variance (fewer degrees of freedom when the day-to-day values vary more than a
        chi-square would: a heavier tail) and keeps the higher of the two quantiles;
        ``"forward"`` (default) further takes the same two-moment fit of the scaled statistics
        of the previous ``reference_days`` scored days that did not alarm (each against its own
        trailing window: the geometry of the test itself, slow trends included, once
        ``min_reference_days`` of them exist) and keeps the highest quantile.

    Returns
    -------
    pandas.DataFrame
        One row per (day, feature, statistic): ``day``, ``feature``, ``statistic``, ``value``,
        ``threshold``, ``alarm`` (bool), ``n`` (the day's count), ``n_reference``,
        ``dispersion`` (the factor ``c`` of the null), ``alpha`` (the check's level). A feature
        with data in fewer than two bins cannot drift and is left out.
    """
    tables = {"value": counts} if isinstance(counts, pd.DataFrame) else dict(counts)
    if not tables:
        raise ValueError("drift_scores: no count tables given")
    if not 0.0 < alert_rate < 1.0:
        raise ValueError(f"alert_rate: must be in (0, 1), got {alert_rate!r}")
    if reference_days < 2 or min_reference_days < 2 or min_reference_days > reference_days:
        raise ValueError(
            f"reference_days ({reference_days}) and min_reference_days ({min_reference_days}) "
            "must be >= 2 with min_reference_days <= reference_days"
        )
    if null not in NULL_MODELS:
        raise ValueError(f"null: {null!r} is not one of {list(NULL_MODELS)}")
    unknown = sorted(set(statistics) - set(STATISTICS))
    if unknown or not statistics:
        raise ValueError(f"statistics: {unknown or '[]'} not allowed; choose from {STATISTICS}")
    # a feature with data in fewer than two bins (e.g. the event mix of a purchases-only log)
    # cannot drift: it is left out, and out of the split of the budget
    tables = {
        f: t for f, t in tables.items() if (t.to_numpy(dtype=np.float64).sum(axis=0) > 0).sum() >= 2
    }
    alpha = alert_rate / (max(len(tables), 1) * len(statistics))
    rows = []
    for feature, table in tables.items():
        days = np.asarray(table.index, dtype=np.int64)
        if len(days) and not np.array_equal(days, np.arange(days[0], days[0] + len(days))):
            raise ValueError(f"drift_scores: feature {feature!r}: days are not consecutive")
        x = table.to_numpy(dtype=np.float64)
        history: dict[str, list[tuple[int, float, bool]]] = {stat: [] for stat in statistics}
        first = days[0] + reference_days if start_day is None else start_day
        for i, d in enumerate(days):
            if d < first:
                continue
            lo = max(0, i - reference_days)
            window = x[lo:i]
            if (window.sum(axis=1) > 0).sum() < min_reference_days or x[i].sum() == 0:
                continue
            ref = window.sum(axis=0)
            n, n_ref = x[i].sum(), ref.sum()
            n_eff = 1.0 / (1.0 / n + 1.0 / n_ref)
            for stat in statistics:
                value = float(_STAT_FUNCS[stat](ref, x[i], eps))
                q, c, _ = _null_quantile(window, stat, eps, alpha, null)
                scale = _CHI2_SCALE[stat] * n_eff
                past = [z for dz, z, hit in history[stat] if dz >= d - reference_days and not hit]
                if null == "forward" and len(past) >= min_reference_days:
                    q = max(q, _two_moment_quantile(np.asarray(past), alpha))
                thr = q / scale
                history[stat].append((int(d), value * scale, bool(value > thr)))
                rows.append(
                    {
                        "day": int(d),
                        "feature": feature,
                        "statistic": stat,
                        "value": value,
                        "threshold": float(thr),
                        "alarm": bool(np.isfinite(thr) and value > thr),
                        "n": float(n),
                        "n_reference": float(n_ref),
                        "dispersion": float(c),
                        "alpha": alpha,
                    }
                )
    cols = [
        "day",
        "feature",
        "statistic",
        "value",
        "threshold",
        "alarm",
        "n",
        "n_reference",
        "dispersion",
        "alpha",
    ]
    return pd.DataFrame(rows, columns=cols)


def first_alarm_day(scores: pd.DataFrame, feature: str | None = None) -> int | None:
    """The first day with an alarm (of ``feature``, or of any feature), or None."""
    s = scores if feature is None else scores[scores["feature"] == feature]
    days = s.loc[s["alarm"], "day"]
    return int(days.min()) if len(days) else None


def alarm_summary(scores: pd.DataFrame, days: Sequence[int] | None = None) -> pd.DataFrame:
    """Share of days with an alarm, per feature and overall, with exact 95% intervals.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`drift_scores`.
    days : sequence of int, optional
        Restrict to these days (e.g. a period known to be stationary).

    Returns
    -------
    pandas.DataFrame
        ``feature`` (``"any"`` for a day with at least one alarm), ``days``, ``alarm_days``,
        ``rate``, ``ci_low``, ``ci_high`` (Clopper-Pearson) and ``nominal`` (the level of the
        feature's checks summed: the budget the rate should stay under).
    """
    s = scores if days is None else scores[scores["day"].isin(list(days))]
    rows = []
    groups = [(f, g) for f, g in s.groupby("feature", sort=False)] + [("any", s)]
    n_checks = s.groupby("day").size().max() if len(s) else 0
    for feature, g in groups:
        per_day = g.groupby("day")["alarm"].any()
        n, a = len(per_day), int(per_day.sum())
        if n:
            ci = stats.binomtest(a, n).proportion_ci(method="exact")
            lo, hi = float(ci.low), float(ci.high)
        else:
            lo = hi = np.nan
        alpha = float(g["alpha"].iloc[0]) if len(g) else np.nan
        checks = g.groupby("day").size().max() if feature != "any" else n_checks
        rows.append(
            {
                "feature": feature,
                "days": n,
                "alarm_days": a,
                "rate": a / n if n else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "nominal": alpha * checks if n else np.nan,
            }
        )
    return pd.DataFrame(rows)
