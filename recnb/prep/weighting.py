"""From events to a training signal: event weights, confidences, rating normalization.

Implicit feedback
    Each event gets a weight by type (:data:`DEFAULT_EVENT_WEIGHTS`), optionally multiplied by a dwell
    factor ``1 + dwell_factor * log1p(dwell_seconds / 60)`` and a recency decay
    ``0.5 ** (age_days / half_life_days)`` (age relative to a reference time, the end of the training
    period). The weights of all events of one (customer, product) pair are summed to ``x`` and turned
    into one confidence: ``1 + alpha * log1p(x)`` (``scaling="log"``), ``1 + alpha * x``
    (``"linear"``, Hu, Koren & Volinsky 2008) or ``x`` itself (``"none"``).

Explicit ratings
    The matrix keeps the rating value (the latest rating of a pair). :class:`RatingNormalizer` centres
    (``"center"``) or standardises (``"zscore"``) per customer, with statistics from the training
    matrix only, and maps predictions back to the original scale for RMSE / MAE.

The k-core filter that thins the matrix is in :mod:`recnb.prep.kcore`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.io import read_json, write_json, write_parquet
from recnb.data.schema import EVENT_TYPES

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "wishlist": 3.0,
    "add_to_cart": 4.0,
    "purchase": 8.0,
    "rating": 5.0,
}
"""Default weight per event type. An event type missing from a weights mapping gets weight 0
(its events are left out of the signal)."""

SCALINGS = ("log", "linear", "none")
NORMALIZATIONS = ("center", "zscore")


def check_event_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Validate an event-weights mapping: known event types, finite non-negative numbers."""
    out: dict[str, float] = {}
    for k, v in weights.items():
        if k not in EVENT_TYPES:
            raise ValueError(
                f"event_weights: unknown event type {k!r}; event types are {list(EVENT_TYPES)}"
            )
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"event_weights[{k!r}] must be a number, got {v!r}") from None
        if not np.isfinite(f) or f < 0:
            raise ValueError(f"event_weights[{k!r}] must be finite and >= 0, got {v!r}")
        out[k] = f
    if not any(out.values()):
        raise ValueError(
            f"event_weights: every weight is 0 ({dict(weights)}); nothing would be kept"
        )
    return out


def event_weights(
    events: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    *,
    dwell_factor: float = 0.0,
) -> np.ndarray:
    """Weight of each event row: its type's weight times the dwell factor.

    Parameters
    ----------
    events : pandas.DataFrame
        With ``event`` (categorical of :data:`~recnb.data.schema.EVENT_TYPES`) and, when
        ``dwell_factor > 0``, ``dwell_seconds`` (missing dwell counts as no bonus).
    weights : mapping, optional
        Event type -> weight (default :data:`DEFAULT_EVENT_WEIGHTS`); missing types weigh 0.
    dwell_factor : float
        Multiplier ``1 + dwell_factor * log1p(dwell_seconds / 60)``; 0 turns it off.

    Returns
    -------
    numpy.ndarray of float64
    """
    w = check_event_weights(DEFAULT_EVENT_WEIGHTS if weights is None else weights)
    table = np.array([w.get(t, 0.0) for t in EVENT_TYPES])
    ev = events["event"]
    if isinstance(ev.dtype, pd.CategoricalDtype) and tuple(ev.cat.categories) == EVENT_TYPES:
        codes = ev.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(ev.astype(object), categories=EVENT_TYPES).codes
    if (codes < 0).any():
        bad = ev[codes < 0].iloc[0]
        raise ValueError(f"events.event: unknown event type {bad!r}")
    out = table[codes]
    if dwell_factor < 0:
        raise ValueError(f"dwell_factor must be >= 0, got {dwell_factor}")
    if dwell_factor > 0 and "dwell_seconds" in events.columns:
        d = events["dwell_seconds"].to_numpy(dtype=float)
        d = np.where(np.isnan(d) | (d < 0), 0.0, d)
        out = out * (1.0 + dwell_factor * np.log1p(d / 60.0))
    return out


def recency_decay(
    timestamps: pd.Series | np.ndarray, reference: pd.Timestamp, half_life_days: float
) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)`` with age measured back from ``reference``.

    ``half_life_days <= 0`` gives all ones (no decay). Events after the reference get factor 1.
    """
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    if half_life_days <= 0:
        return np.ones(len(ts))
    age = (np.datetime64(pd.Timestamp(reference).to_datetime64(), "ns") - ts).astype(np.int64)
    age_days = np.maximum(age, 0) / 86_400e9
    return np.power(0.5, age_days / float(half_life_days))


def scale_confidence(x: np.ndarray, scaling: str = "log", alpha: float = 1.0) -> np.ndarray:
    """Summed event weights -> confidence (see the module docstring)."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    x = np.asarray(x, dtype=np.float64)
    if scaling == "log":
        return 1.0 + alpha * np.log1p(x)
    if scaling == "linear":
        return 1.0 + alpha * x
    return x


def aggregate(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    shape: tuple[int, int],
    *,
    scaling: str = "log",
    alpha: float = 1.0,
    times: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """Sum the weights of each (row, col) pair and scale them into one confidence per pair.

    Rows with weight 0 do not create an entry.

    Parameters
    ----------
    rows, cols : numpy.ndarray of int
        Customer and product indices of each event.
    weights : numpy.ndarray
        Event weights (:func:`event_weights` times :func:`recency_decay`).
    shape : (int, int)
        Matrix shape.
    scaling, alpha
        See :func:`scale_confidence`.
    times : numpy.ndarray of datetime64, optional
        Event times; when given, a second matrix with the last event time of each pair (seconds since
        the epoch) is returned.

    Returns
    -------
    (scipy.sparse.csr_matrix, scipy.sparse.csr_matrix or None)
        Confidence matrix (float32) and last-event-time matrix (float64, same sparsity) or None.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    keep = w > 0
    rows, cols, w = rows[keep], cols[keep], w[keep]
    key = rows * shape[1] + cols
    ukey, inv = np.unique(key, return_inverse=True)
    x = np.bincount(inv, weights=w, minlength=len(ukey))
    conf = scale_confidence(x, scaling, alpha)
    r, c = ukey // shape[1], ukey % shape[1]
    m = sp.csr_matrix((conf.astype(np.float32), (r, c)), shape=shape)
    tm = None
    if times is not None:
        t = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)[keep]
        last = np.full(len(ukey), np.iinfo(np.int64).min)
        np.maximum.at(last, inv, t)
        tm = sp.csr_matrix((last / 1e9, (r, c)), shape=shape, dtype=np.float64)
    return m, tm


def latest_ratings(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Explicit matrix: the latest rating of each pair (ties: the later row), and its time.

    Raises
    ------
    ValueError
        If a rating is missing or not positive: a sparse matrix cannot hold a rating of 0.
    """
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ValueError(
            f"events.value: {int(bad.sum())} rating(s) missing or <= 0 (e.g. {values[bad][0]!r}); "
            f"explicit ratings must be positive to be stored in a sparse matrix"
        )
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    t = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)
    key = rows * shape[1] + cols
    order = np.lexsort((np.arange(len(key)), t, key))
    ks = key[order]
    last = np.ones(len(ks), dtype=bool)
    last[:-1] = ks[:-1] != ks[1:]
    sel = order[last]
    r, c = rows[sel], cols[sel]
    m = sp.csr_matrix((values[sel].astype(np.float32), (r, c)), shape=shape)
    tm = sp.csr_matrix((t[sel] / 1e9, (r, c)), shape=shape, dtype=np.float64)
    return m, tm


# ----------------------------------------------------------------------------------------------
# explicit normalization
# ----------------------------------------------------------------------------------------------


@dataclass
class RatingNormalizer:
    """Per-customer rating normalization, fitted on a training matrix and reversible.

    ``"center"``: ``r - mean_u``. ``"zscore"``: ``(r - mean_u) / std_u``. A customer without training
    ratings uses the global mean and standard deviation; a standard deviation below ``min_std`` (one
    rating, or all ratings equal) is replaced by 1 so a single rating is centred, not blown up.

    Attributes
    ----------
    method : str
    mean_, std_, count_ : numpy.ndarray
        Per customer (row) statistics after :meth:`fit`.
    global_mean_, global_std_ : float
    """

    method: str = "center"
    min_std: float = 1e-6
    mean_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    count_: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    global_mean_: float = 0.0
    global_std_: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.method!r}")

    def fit(self, matrix: sp.spmatrix) -> RatingNormalizer:
        """Statistics from the stored entries of a customer x product rating matrix."""
        m = sp.csr_matrix(matrix, dtype=np.float64)
        if m.nnz == 0:
            raise ValueError("RatingNormalizer.fit: the training matrix holds no ratings")
        n = np.diff(m.indptr)
        s = np.asarray(m.sum(axis=1)).ravel()
        s2 = np.asarray(m.multiply(m).sum(axis=1)).ravel()
        self.global_mean_ = float(m.data.mean())
        gstd = float(m.data.std())
        self.global_std_ = gstd if gstd >= self.min_std else 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, s / np.maximum(n, 1), self.global_mean_)
            var = np.where(n > 0, s2 / np.maximum(n, 1) - mean**2, self.global_std_**2)
        std = np.sqrt(np.maximum(var, 0.0))
        std = np.where(n > 0, np.where(std >= self.min_std, std, 1.0), self.global_std_)
        self.mean_, self.std_, self.count_ = mean, std, n.astype(np.int64)
        return self

    def _check(self, n_rows: int) -> None:
        if len(self.mean_) != n_rows:
            raise ValueError(
                f"RatingNormalizer: fitted on {len(self.mean_)} customers, got a matrix with {n_rows} rows"
            )

    def transform(self, matrix: sp.spmatrix) -> sp.csr_matrix:
        """Normalized copy with the same sparsity pattern (entries equal to the mean stay stored as 0)."""
        m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        self._check(m.shape[0])
        r = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        m.data = self.normalize(r, m.data)
        return m

    def normalize(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Original-scale ratings of customers ``rows`` -> normalized values."""
        rows = np.asarray(rows)
        out = np.asarray(values, dtype=np.float64) - self.mean_[rows]
        return out / self.std_[rows] if self.method == "zscore" else out

    def inverse(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Normalized predictions for customers ``rows`` -> the original rating scale."""
        rows = np.asarray(rows)
        v = np.asarray(values, dtype=np.float64)
        if self.method == "zscore":
            v = v * self.std_[rows]
        return v + self.mean_[rows]

    def save(self, folder: str | os.PathLike, customer_ids: np.ndarray) -> Path:
        """``normalization.parquet`` (customer_id, mean, std, count) and ``normalization.json``."""
        folder = Path(folder)
        self._check(len(customer_ids))
        write_parquet(
            folder / "normalization.parquet",
            pd.DataFrame(
                {
                    "customer_id": np.asarray(customer_ids, dtype=object),
                    "mean": self.mean_,
                    "std": self.std_,
                    "count": self.count_,
                }
            ),
        )
        write_json(
            folder / "normalization.json",
            {
                "method": self.method,
                "min_std": self.min_std,
                "global_mean": self.global_mean_,
                "global_std": self.global_std_,
            },
        )
        return folder

    @classmethod
    def load(
        cls, folder: str | os.PathLike, customer_ids: np.ndarray | None = None
    ) -> RatingNormalizer:
        """Read what :meth:`save` wrote; checks the customer order when ``customer_ids`` is given."""
        folder = Path(folder)
        info = read_json(folder / "normalization.json")
        df = pd.read_parquet(folder / "normalization.parquet")
        if customer_ids is not None and not np.array_equal(
            df["customer_id"].to_numpy(dtype=object), np.asarray(customer_ids, dtype=object)
        ):
            raise ValueError(
                f"{folder}/normalization.parquet: customer ids do not match the id map"
            )
        out = cls(method=info["method"], min_std=float(info["min_std"]))
        out.mean_ = df["mean"].to_numpy(dtype=np.float64)
        out.std_ = df["std"].to_numpy(dtype=np.float64)
        out.count_ = df["count"].to_numpy(dtype=np.int64)
        out.global_mean_ = float(info["global_mean"])
        out.global_std_ = float(info["global_std"])
        return out
