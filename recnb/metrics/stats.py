"""Uncertainty and model comparison: bootstrap confidence intervals, paired tests, Holm correction.

Bootstrap: percentile intervals from resampling *customers* with replacement (seeded, number of
resamples a parameter). Resamples are drawn as count vectors and applied with one matrix product,
so there is no Python loop per resample or per customer. Within one call of :func:`summarize`
every (model, metric, k) group uses the *same* resamples of customers, which keeps the intervals
of different models on the same customers comparable (a paired bootstrap).

Paired comparison of two models on the same customers (:func:`paired_comparison`): the paired
t-test (tests the mean difference), the Wilcoxon signed-rank test (zero differences dropped, the
``"wilcox"`` convention; normal approximation with tie correction for large samples), Cohen's
``d_z`` (mean difference / standard deviation of the differences) and the matched-pairs
rank-biserial correlation (``(R+ - R-) / (R+ + R-)`` over the signed ranks of non-zero
differences). :func:`compare_models` builds the "is the winner really better" table with Holm's
step-down correction over the family of comparisons.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from threadpoolctl import threadpool_limits

from recnb.metrics._common import customer_column

__all__ = [
    "bootstrap_ci",
    "bootstrap_counts",
    "summarize",
    "paired_comparison",
    "holm_adjust",
    "compare_models",
]

_CHUNK_ELEMENTS = 4_000_000  # resample-count entries per chunk (~32 MB as float64)


def bootstrap_counts(n: int, n_boot: int, seed: int | None) -> Iterator[np.ndarray]:
    """Yield bootstrap resamples of ``n`` units as count matrices, in chunks.

    Parameters
    ----------
    n : int
        Number of units (customers).
    n_boot : int
        Total number of resamples.
    seed : int or None
        Seed of the generator; the same seed yields the same resamples.

    Yields
    ------
    numpy.ndarray of float64, shape (chunk, n)
        ``counts[b, i]`` = how many times unit ``i`` is drawn in resample ``b``; rows sum to ``n``.
    """
    if n < 1:
        raise ValueError("cannot bootstrap an empty sample")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // n))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        draws = rng.integers(0, n, size=(m, n))
        draws += np.arange(m, dtype=draws.dtype)[:, None] * n
        yield np.bincount(draws.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
        done += m


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int | None) -> np.ndarray:
    """Resampled means of each column of ``values`` (n, g), NaN ignored: shape (n_boot, g)."""
    mask = ~np.isnan(values)
    with_nan = ~mask.all(axis=0)
    filled = np.where(mask, values, 0.0)
    weights = mask[:, with_nan].astype(np.float64)
    n = values.shape[0]
    out = []
    # One BLAS thread: these are tall-skinny products, where OpenBLAS threading only adds
    # overhead (and stalls badly when the machine is busy).
    with threadpool_limits(1, user_api="blas"):
        for counts in bootstrap_counts(n, n_boot, seed):
            sums = counts @ filled
            denominators = np.full(sums.shape, float(n))
            if with_nan.any():
                denominators[:, with_nan] = counts @ weights
            with np.errstate(divide="ignore", invalid="ignore"):
                out.append(sums / denominators)
    return np.concatenate(out, axis=0)


def _percentiles(boot: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    _check_alpha(alpha)
    low, high = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


def bootstrap_ci(
    values: ArrayLike, n_boot: int = 1000, alpha: float = 0.05, seed: int | None = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        One value per customer; NaN values (customers not evaluated) are dropped first.
    n_boot : int
        Number of resamples.
    alpha : float
        1 - confidence level (0.05 gives a 95% interval).
    seed : int or None
        Generator seed.

    Returns
    -------
    (float, float)
        Lower and upper bound (the ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled
        means); ``(nan, nan)`` when no value remains.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {arr.shape}")
    arr = arr[~np.isnan(arr)]
    _check_alpha(alpha)
    if arr.size == 0:
        return float("nan"), float("nan")
    low, high = _percentiles(_bootstrap_means(arr[:, None], n_boot, seed), alpha)
    return float(low[0]), float(high[0])


def summarize(
    per_customer: pd.DataFrame,
    n_boot: int = 1000,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Mean of every metric with a bootstrap confidence interval over customers.

    Parameters
    ----------
    per_customer : pandas.DataFrame
        Tidy per-customer frame with columns ``customer_row`` (or ``customer``), ``metric``,
        ``k``, ``value`` and optionally ``model`` (as returned by :func:`recnb.metrics.evaluate` or
        :func:`recnb.metrics.ranking_metrics`).
    n_boot : int
        Number of bootstrap resamples of customers.
    seed : int or None
        Generator seed; all groups share the same resamples of customers.
    alpha : float
        1 - confidence level (0.05 gives 95% percentile intervals).

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] metric, k, value, ci_low, ci_high, n``: ``value`` is the mean over the
        ``n`` customers with a non-NaN value; customers whose values are NaN in every group are
        dropped before resampling. In a group where some of the remaining customers are NaN,
        each resample's mean is taken over its non-NaN customers (ratio of resampled sums).
    """
    needed = {"metric", "k", "value"}
    missing = needed - set(per_customer.columns)
    if missing:
        raise ValueError(f"per_customer frame lacks column(s) {sorted(missing)}")
    customer = customer_column(per_customer)
    keys = (["model"] if "model" in per_customer.columns else []) + ["metric", "k"]
    columns = [*keys, "value", "ci_low", "ci_high", "n"]
    values = per_customer["value"].to_numpy(dtype=np.float64)
    keep = ~np.isnan(values)
    if not keep.any():
        return pd.DataFrame(columns=columns)
    group_codes, groups = _group_codes(per_customer, keys, keep)
    cust_codes, customers = pd.factorize(per_customer[customer].to_numpy()[keep], sort=True)
    matrix = np.full((len(customers), len(groups)), np.nan)
    matrix[cust_codes, group_codes] = values[keep]
    if np.count_nonzero(~np.isnan(matrix)) != keep.sum():
        raise ValueError("per_customer frame has several values for one customer, metric and k")
    boot = _bootstrap_means(matrix, n_boot, seed)
    low, high = _percentiles(boot, alpha)
    result = groups
    result["value"] = np.nanmean(matrix, axis=0)
    result["ci_low"] = low
    result["ci_high"] = high
    result["n"] = (~np.isnan(matrix)).sum(axis=0)
    return result[columns].sort_values(keys, kind="stable").reset_index(drop=True)


def _group_codes(
    frame: pd.DataFrame, keys: list[str], keep: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Code of each kept row's (key...) combination and the combinations as a frame."""
    combined = np.zeros(int(keep.sum()), dtype=np.int64)
    uniques = []
    for key in keys:
        codes, labels = pd.factorize(frame[key].to_numpy()[keep], sort=True)
        if (codes < 0).any():
            raise ValueError(f"per_customer column {key!r} has missing values")
        combined = combined * len(labels) + codes
        uniques.append(labels)
    group_codes, present = pd.factorize(combined, sort=True)
    present = np.asarray(present, dtype=np.int64)
    decoded = {}
    for key, labels in zip(reversed(keys), reversed(uniques), strict=True):
        decoded[key] = np.asarray(labels)[present % len(labels)]
        present = present // len(labels)
    return group_codes, pd.DataFrame({key: decoded[key] for key in keys})


def paired_comparison(
    a: ArrayLike,
    b: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> dict[str, float]:
    """Compare two models on the same customers (paired samples).

    Parameters
    ----------
    a, b : array-like of float, shape (n,)
        Per-customer values of the two models, aligned by customer; pairs with a NaN are dropped.
    n_boot, alpha, seed
        Bootstrap settings for the confidence interval of the mean difference.

    Returns
    -------
    dict
        ``n``, ``mean_a``, ``mean_b``, ``mean_diff`` (a - b), ``diff_ci_low``, ``diff_ci_high``,
        ``t_statistic``, ``t_pvalue`` (two-sided paired t-test), ``wilcoxon_statistic``,
        ``wilcoxon_pvalue`` (two-sided signed-rank, zeros dropped), ``cohens_dz``,
        ``rank_biserial``. When every difference is zero both p-values are 1 and both effect
        sizes 0.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D and aligned, got shapes {x.shape} and {y.shape}")
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = x.size
    if n < 2:
        raise ValueError(f"need at least 2 paired customers without NaN, got {n}")
    d = x - y
    low, high = bootstrap_ci(d, n_boot=n_boot, alpha=alpha, seed=seed)
    out = {
        "n": float(n),
        "mean_a": float(x.mean()),
        "mean_b": float(y.mean()),
        "mean_diff": float(d.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
    }
    nonzero = d[d != 0]
    if nonzero.size == 0:
        out.update(
            t_statistic=0.0,
            t_pvalue=1.0,
            wilcoxon_statistic=0.0,
            wilcoxon_pvalue=1.0,
            cohens_dz=0.0,
            rank_biserial=0.0,
        )
        return out
    sd = d.std(ddof=1)
    if sd == 0:  # every difference equal and non-zero: the t statistic is infinite
        t_stat, t_p = float(np.sign(d.mean()) * np.inf), 0.0
        dz = float(np.sign(d.mean()) * np.inf)
    else:
        t_res = stats.ttest_rel(x, y)
        t_stat, t_p = float(t_res.statistic), float(t_res.pvalue)
        dz = float(d.mean() / sd)
    w_res = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    signed = stats.rankdata(np.abs(nonzero)) * np.sign(nonzero)
    rank_biserial = float(signed.sum() / np.abs(signed).sum())
    out.update(
        t_statistic=t_stat,
        t_pvalue=t_p,
        wilcoxon_statistic=float(w_res.statistic),
        wilcoxon_pvalue=float(w_res.pvalue),
        cohens_dz=dz,
        rank_biserial=rank_biserial,
    )
    return out


def holm_adjust(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    Sort the ``m`` p-values ascending, multiply the ``i``-th smallest (0-based) by ``m - i``,
    take the running maximum so the order is preserved, cap at 1, and return them in the input
    order. NaN p-values are left NaN and do not count towards ``m``.

    Parameters
    ----------
    pvalues : array-like of float

    Returns
    -------
    numpy.ndarray of float64
        Adjusted p-values; reject hypothesis ``i`` at level ``alpha`` when ``adjusted[i] <= alpha``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got shape {p.shape}")
    valid = ~np.isnan(p)
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    q = p[valid]
    m = q.size
    order = np.argsort(q, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    filled = np.empty(m)
    filled[order] = adjusted
    out[valid] = filled
    return out


def compare_models(
    per_customer: pd.DataFrame,
    metric: str,
    k: int,
    baseline: str | None = None,
    higher_is_better: bool = True,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """The "is the winner really better?" table: one model against each other model.

    The reference model is ``baseline`` when given, otherwise the model with the best mean
    (highest, or lowest when ``higher_is_better`` is False). It is compared with every other
    model on the customers both have a value for, by :func:`paired_comparison`; p-values of each
    test are Holm-adjusted over the ``m`` comparisons of the table.

    Parameters
    ----------
    per_customer : pandas.DataFrame
        Tidy frame with columns ``model``, ``customer_row`` (or ``customer``), ``metric``, ``k``,
        ``value``.
    metric : str
        Metric to compare (e.g. ``"ndcg"``).
    k : int
        Cut-off to compare.
    baseline : str, optional
        Reference model (default: the winner).
    higher_is_better : bool
        Direction of the metric.
    n_boot, alpha, seed
        Bootstrap settings for the difference's interval; ``alpha`` is also the test level.

    Returns
    -------
    pandas.DataFrame
        One row per other model, ordered by its mean (best first), with columns ``reference``,
        ``model``, ``metric``, ``k``, ``n``, ``mean_reference``, ``mean_model``, ``mean_diff``
        (reference - model), ``diff_ci_low``, ``diff_ci_high``, ``t_pvalue``,
        ``t_pvalue_holm``, ``wilcoxon_pvalue``, ``wilcoxon_pvalue_holm``, ``cohens_dz``,
        ``rank_biserial`` and ``significant`` (Holm-adjusted paired t-test p <= alpha: the mean
        difference is unlikely to be chance).
    """
    needed = {"model", "metric", "k", "value"}
    missing = needed - set(per_customer.columns)
    if missing:
        raise ValueError(f"per_customer frame lacks column(s) {sorted(missing)}")
    customer = customer_column(per_customer)
    sel = per_customer[(per_customer["metric"] == metric) & (per_customer["k"] == k)]
    if sel.empty:
        raise ValueError(f"no rows for metric={metric!r}, k={k} in the per_customer frame")
    wide = sel.pivot(index=customer, columns="model", values="value")
    means = wide.mean(axis=0).sort_values(ascending=not higher_is_better, kind="stable")
    if len(means) < 2:
        raise ValueError(f"need at least two models to compare, got {list(means.index)}")
    if baseline is None:
        reference = str(means.index[0])
    elif baseline not in wide.columns:
        raise ValueError(f"baseline {baseline!r} not among the models {list(wide.columns)}")
    else:
        reference = baseline
    rows = []
    for other in means.index:
        if other == reference:
            continue
        res = paired_comparison(
            wide[reference].to_numpy(), wide[other].to_numpy(), n_boot, alpha, seed
        )
        rows.append(
            {
                "reference": reference,
                "model": other,
                "metric": metric,
                "k": int(k),
                "n": int(res["n"]),
                "mean_reference": res["mean_a"],
                "mean_model": res["mean_b"],
                "mean_diff": res["mean_diff"],
                "diff_ci_low": res["diff_ci_low"],
                "diff_ci_high": res["diff_ci_high"],
                "t_pvalue": res["t_pvalue"],
                "wilcoxon_pvalue": res["wilcoxon_pvalue"],
                "cohens_dz": res["cohens_dz"],
                "rank_biserial": res["rank_biserial"],
            }
        )
    table = pd.DataFrame(rows)
    table["t_pvalue_holm"] = holm_adjust(table["t_pvalue"].to_numpy())
    table["wilcoxon_pvalue_holm"] = holm_adjust(table["wilcoxon_pvalue"].to_numpy())
    table["significant"] = table["t_pvalue_holm"] <= alpha
    order = [
        "reference",
        "model",
        "metric",
        "k",
        "n",
        "mean_reference",
        "mean_model",
        "mean_diff",
        "diff_ci_low",
        "diff_ci_high",
        "t_pvalue",
        "t_pvalue_holm",
        "wilcoxon_pvalue",
        "wilcoxon_pvalue_holm",
        "cohens_dz",
        "rank_biserial",
        "significant",
    ]
    return table[order]


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
