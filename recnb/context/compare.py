"""Per-request metrics, per-context breakdowns and paired uplifts with customer-level bootstrap CIs.

Requests of one customer are not independent (the same taste answers them all), so every interval
here resamples *customers* (a cluster bootstrap): a resample draws customers with replacement and
takes the ratio of the drawn customers' summed values to their number of requests. The resamples are
the count matrices of :func:`recnb.metrics.stats.bootstrap_counts` (no loop per resample). Paired
uplifts use the same resamples for both rankers, so the interval is that of the per-request
difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.context.log import RequestSet
from recnb.metrics.ranking import ranking_metric_arrays
from recnb.metrics.stats import bootstrap_counts

__all__ = [
    "by_context",
    "cluster_mean_ci",
    "paired_uplift",
    "repeat_split",
    "request_metrics",
]


def request_metrics(
    topk: np.ndarray,
    reqs: RequestSet,
    k: int = 10,
    metrics: Sequence[str] = ("ndcg", "hit_rate", "recall"),
) -> pd.DataFrame:
    """One row per request: ``request``, ``customer`` and one column per metric at ``k``.

    Requests without a relevant product get NaN (and are left out of every mean).
    """
    arrays = ranking_metric_arrays(topk, reqs.truth, ks=(k,), metrics=list(metrics))
    out = pd.DataFrame({"request": np.arange(len(reqs)), "customer": reqs.requests["customer"]})
    for m in metrics:
        out[m] = arrays[(m, k)]
    return out


def repeat_split(topk: np.ndarray, reqs: RequestSet, k: int = 10) -> pd.DataFrame:
    """Hits at ``k`` per request, split into repeats (bought or used before) and new products.

    Columns ``request``, ``customer``, ``repeat_hits``, ``new_hits``, ``repeat_relevant`` and
    ``new_relevant`` (counts).
    """
    items = np.asarray(topk)[:, :k]
    n = len(reqs)
    truth = reqs.truth.tocsr()
    rep = reqs.repeat.tocsr()

    def hits(m: sp.csr_matrix) -> np.ndarray:
        r, c = np.nonzero(items >= 0)
        h = np.zeros(items.shape)
        if len(r):
            h[r, c] = np.asarray(m[r, items[r, c]]).ravel()
        return h.sum(axis=1)

    all_hits = hits(truth)
    rep_hits = hits(rep)
    n_rel = np.diff(truth.indptr)
    n_rep = np.diff(rep.indptr)
    return pd.DataFrame(
        {
            "request": np.arange(n),
            "customer": reqs.requests["customer"].to_numpy(),
            "repeat_hits": rep_hits,
            "new_hits": all_hits - rep_hits,
            "repeat_relevant": n_rep,
            "new_relevant": n_rel - n_rep,
        }
    )


def cluster_mean_ci(
    values: np.ndarray,
    clusters: np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN dropped) and its cluster-bootstrap percentile interval.

    Returns ``(mean, ci_low, ci_high)``; ``(nan, nan, nan)`` when no value remains.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    if not ok.any():
        return float("nan"), float("nan"), float("nan")
    codes, _ = pd.factorize(np.asarray(clusters)[ok])
    sums = np.bincount(codes, weights=v[ok])
    counts = np.bincount(codes).astype(np.float64)
    boot = []
    for w in bootstrap_counts(len(sums), n_boot, seed):
        boot.append((w @ sums) / (w @ counts))
    b = np.concatenate(boot)
    lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2])
    return float(v[ok].mean()), float(lo), float(hi)


def by_context(
    per_request: Mapping[str, pd.DataFrame],
    requests: pd.DataFrame,
    dimensions: Sequence[str],
    metric: str = "ndcg",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    min_requests: int = 30,
) -> pd.DataFrame:
    """Mean metric per ranker and context value with cluster-bootstrap CIs.

    Parameters
    ----------
    per_request : mapping of ranker name to the frame of :func:`request_metrics`
        All computed on the same requests.
    requests : pandas.DataFrame
        The requests (context columns).
    dimensions : sequence of str
        Context columns to break down by; ``"all"`` rows give the overall mean.
    min_requests : int
        Context values with fewer requests (with a relevant product) are not shown.

    Returns
    -------
    pandas.DataFrame
        ``ranker``, ``dimension``, ``value``, ``n_requests``, ``metric``, ``mean``, ``ci_low``,
        ``ci_high``.
    """
    rows = []
    groups = [("all", "all", np.ones(len(requests), dtype=bool))]
    for dim in dimensions:
        vals = requests[dim].astype(object).to_numpy()
        for v in sorted(pd.unique(vals), key=str):
            groups.append((dim, v, vals == v))
    for name, pr in per_request.items():
        values = pr[metric].to_numpy()
        cust = pr["customer"].to_numpy()
        for dim, v, m in groups:
            n = int((~np.isnan(values[m])).sum())
            if n < min_requests:
                continue
            mean, lo, hi = cluster_mean_ci(values[m], cust[m], n_boot, alpha, seed)
            rows.append((name, dim, v, n, metric, mean, lo, hi))
    return pd.DataFrame(
        rows,
        columns=[
            "ranker",
            "dimension",
            "value",
            "n_requests",
            "metric",
            "mean",
            "ci_low",
            "ci_high",
        ],
    )


def paired_uplift(
    treatment: pd.DataFrame,
    control: pd.DataFrame,
    requests: pd.DataFrame,
    dimensions: Sequence[str] = (),
    metric: str = "ndcg",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    min_requests: int = 30,
) -> pd.DataFrame:
    """Uplift of ``treatment`` over ``control`` on the same requests, overall and per context value.

    Returns
    -------
    pandas.DataFrame
        ``dimension``, ``value``, ``n_requests``, ``n_customers``, ``mean_control``,
        ``mean_treatment``, ``uplift`` (treatment - control), ``ci_low``, ``ci_high`` (cluster bootstrap over
        customers) and ``relative`` (uplift / control).
    """
    if len(treatment) != len(control) or not np.array_equal(
        treatment["request"].to_numpy(), control["request"].to_numpy()
    ):
        raise ValueError("paired_uplift: treatment and control must score the same requests")
    a = treatment[metric].to_numpy(dtype=np.float64)
    b = control[metric].to_numpy(dtype=np.float64)
    diff = a - b
    cust = control["customer"].to_numpy()
    groups = [("all", "all", np.ones(len(requests), dtype=bool))]
    for dim in dimensions:
        vals = requests[dim].astype(object).to_numpy()
        for v in sorted(pd.unique(vals), key=str):
            groups.append((dim, v, vals == v))
    rows = []
    for dim, v, m in groups:
        ok = m & ~np.isnan(diff)
        n = int(ok.sum())
        if n < min_requests:
            continue
        mean, lo, hi = cluster_mean_ci(diff[ok], cust[ok], n_boot, alpha, seed)
        base = float(b[ok].mean())
        rows.append(
            (dim, v, n, int(len(np.unique(cust[ok]))), base, float(a[ok].mean()), mean, lo, hi,
             mean / base if base else float("nan"))
        )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["dimension", "value", "n_requests", "n_customers", "mean_control",
                 "mean_treatment", "uplift", "ci_low", "ci_high", "relative"],
    )  # fmt: skip
