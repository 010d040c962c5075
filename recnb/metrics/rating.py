"""Rating-prediction error on the original rating scale: RMSE and MAE, with bootstrap intervals.

Both take predicted and true ratings as plain arrays. Predictions must be on the scale of the
data (e.g. 1-5 stars), not normalized or centred, so the numbers read as "stars off on average".

``rating_summary`` adds percentile bootstrap intervals. When customer ids are given, customers are
resampled (a cluster bootstrap: all ratings of a drawn customer come along), matching the
customer-level resampling used for the ranking metrics; otherwise single ratings are resampled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from recnb.metrics.stats import _percentiles, bootstrap_counts

__all__ = ["rmse", "mae", "rating_summary"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be 1-D and aligned, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise ValueError("y_true is empty: no rating to evaluate")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{name} holds NaN or infinite values at {np.flatnonzero(~np.isfinite(arr))[:5].tolist()}"
            )
    return t, p


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean((y_pred - y_true)**2))`` over all ratings.

    Parameters
    ----------
    y_true, y_pred : array-like of float, shape (n,)
        True and predicted ratings on the original scale.

    Returns
    -------
    float
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error ``mean(|y_pred - y_true|)`` over all ratings.

    Parameters
    ----------
    y_true, y_pred : array-like of float, shape (n,)
        True and predicted ratings on the original scale.

    Returns
    -------
    float
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


def rating_summary(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    customers: ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """RMSE and MAE with percentile bootstrap confidence intervals.

    Parameters
    ----------
    y_true, y_pred : array-like of float, shape (n,)
        True and predicted ratings on the original scale.
    customers : array-like, shape (n,), optional
        Customer of each rating; when given, customers are resampled (cluster bootstrap).
    n_boot : int
        Number of resamples.
    alpha : float
        1 - confidence level.
    seed : int or None
        Generator seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` (``rmse``, ``mae``), ``value``, ``ci_low``, ``ci_high``, ``n`` (number
        of ratings).
    """
    t, p = _pair(y_true, y_pred)
    err = p - t
    if customers is None:
        codes = np.arange(t.size)
    else:
        labels = np.asarray(customers)
        if labels.shape != t.shape:
            raise ValueError(f"customers has shape {labels.shape}, expected {t.shape}")
        codes, _ = pd.factorize(labels)
    n_units = int(codes.max()) + 1
    per_unit = np.stack(
        [
            np.bincount(codes, weights=err**2, minlength=n_units),
            np.bincount(codes, weights=np.abs(err), minlength=n_units),
            np.bincount(codes, minlength=n_units).astype(np.float64),
        ],
        axis=1,
    )
    with threadpool_limits(1, user_api="blas"):
        boot = np.concatenate([c @ per_unit for c in bootstrap_counts(n_units, n_boot, seed)])
    boot_stats = np.stack([np.sqrt(boot[:, 0] / boot[:, 2]), boot[:, 1] / boot[:, 2]], axis=1)
    low, high = _percentiles(boot_stats, alpha)
    return pd.DataFrame(
        {
            "metric": ["rmse", "mae"],
            "value": [rmse(t, p), mae(t, p)],
            "ci_low": low,
            "ci_high": high,
            "n": [t.size, t.size],
        }
    )
