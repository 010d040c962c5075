"""Customer segments: who is served well (cold, light and heavy customers, and devices).

Customers are grouped by their training history: ``cold`` (no training history: every model that
cannot score them serves them through its documented fallback), ``light`` and ``heavy`` (training
history up to / above a threshold, by default the median of the evaluated warm customers), and by
their device when the data records one. :func:`segment_summary` gives each metric's mean with its
bootstrap interval per segment, leaving out segments under the minimum group size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions, as_csr
from recnb.evaluation.specs import order_by_models
from recnb.metrics import summarize

__all__ = ["SEGMENTS", "customer_devices", "customer_segments", "segment_summary"]

#: activity segments, in report order
SEGMENTS: tuple[str, ...] = ("cold", "light", "heavy")


def customer_segments(
    train: Interactions | sp.spmatrix, customer_idx: np.ndarray, light_max: int | None = None
) -> tuple[pd.DataFrame, int]:
    """Cold / light / heavy label of each customer from their training history.

    ``cold``: no positive training interaction; ``light``: 1 to ``light_max`` distinct products;
    ``heavy``: more than ``light_max``.

    Parameters
    ----------
    train : Interactions or sparse matrix
        The training part the models see.
    customer_idx : numpy.ndarray of int
        Customers to label (rows of ``train``).
    light_max : int, optional
        Upper bound of ``light``; None uses the median history length of the warm customers in
        ``customer_idx`` (at least 1).

    Returns
    -------
    (pandas.DataFrame, int)
        Columns ``customer_row`` (row index), ``n_train`` (distinct products with value > 0),
        ``segment`` (categorical in :data:`SEGMENTS` order); and the ``light_max`` used.
    """
    m = as_csr(train)
    cidx = np.asarray(customer_idx, dtype=np.int64)
    n_train = np.asarray((m[cidx] > 0).sum(axis=1)).ravel().astype(np.int64)
    warm = n_train[n_train > 0]
    if light_max is None:
        light_max = int(max(1, np.median(warm))) if len(warm) else 1
    if isinstance(light_max, bool) or not isinstance(light_max, int | np.integer) or light_max < 1:
        raise ValueError(f"light_max must be a positive int or None, got {light_max!r}")
    seg = np.where(n_train == 0, "cold", np.where(n_train <= light_max, "light", "heavy"))
    df = pd.DataFrame(
        {
            "customer_row": cidx,
            "n_train": n_train,
            "segment": pd.Categorical(seg, categories=list(SEGMENTS), ordered=True),
        }
    )
    return df, int(light_max)


def customer_devices(
    customer_ids: Sequence[str],
    customers: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> pd.Series | None:
    """The device of each customer: the ``device`` attribute, else their most used event device.

    Parameters
    ----------
    customer_ids : sequence of str
        Customers to label, in order.
    customers : pandas.DataFrame, optional
        Customers table with ``customer_id`` and a ``device`` column (preferred device).
    events : pandas.DataFrame, optional
        Events with ``customer_id`` and ``device``; used when the customers table has no device.

    Returns
    -------
    pandas.Series of str or None
        Aligned with ``customer_ids`` (``"unknown"`` where no device is known); None when the
        data records no device at all.
    """
    ids = pd.Index(np.asarray(customer_ids, dtype=object).astype(str))
    mapping = None
    if customers is not None and "device" in customers.columns:
        c = customers.dropna(subset=["device"])
        mapping = pd.Series(c["device"].astype(str).to_numpy(), index=c["customer_id"].astype(str))
    elif events is not None and "device" in events.columns:
        e = events[["customer_id", "device"]].dropna()
        if len(e):
            counts = (
                e.assign(customer_id=e["customer_id"].astype(str), device=e["device"].astype(str))
                .groupby(["customer_id", "device"], observed=True)
                .size()
                .reset_index(name="n")
                .sort_values(["customer_id", "n", "device"], ascending=[True, False, True])
            )
            top = counts.drop_duplicates("customer_id")
            mapping = pd.Series(top["device"].to_numpy(), index=top["customer_id"].to_numpy())
    if mapping is None or mapping.empty:
        return None
    mapping = mapping[~mapping.index.duplicated()]
    return pd.Series(mapping.reindex(ids).fillna("unknown").to_numpy(), index=np.arange(len(ids)))


def segment_summary(
    per_customer: pd.DataFrame,
    customers: pd.DataFrame,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    min_group_size: int = 10,
) -> pd.DataFrame:
    """Metric means with bootstrap intervals per activity segment and, if known, per device.

    Segments with fewer than ``min_group_size`` evaluated customers are left out (privacy: no
    report row describes a handful of people).

    Parameters
    ----------
    per_customer : pandas.DataFrame
        ``model, customer_row, metric, k, value``.
    customers : pandas.DataFrame
        ``customer_row``, ``segment`` and optionally ``device`` (see :class:`Evaluation`).
    n_bootstrap, alpha, seed
        Bootstrap settings.
    min_group_size : int
        Smallest segment reported.

    Returns
    -------
    pandas.DataFrame
        ``model, segment_kind, segment, metric, k, value, ci_low, ci_high, n``; segments with no
        customer, or fewer than ``min_group_size``, are absent.
    """
    columns = ["model", "segment_kind", "segment", "metric", "k", "value", "ci_low", "ci_high", "n"]
    kinds = [("activity", "segment")]
    if "device" in customers.columns:
        kinds.append(("device", "device"))
    out = []
    for kind, column in kinds:
        labels = customers.set_index("customer_row")[column]
        if not isinstance(labels.dtype, pd.CategoricalDtype):
            # compare as text, as _segment_order lists them (e.g. integer device codes)
            labels = labels.where(labels.isna(), labels.astype(str))
        seg = per_customer["customer_row"].map(labels).to_numpy()
        for value in _segment_order(labels):
            sel = per_customer[seg == value]
            if sel.empty or sel["value"].notna().sum() == 0:
                continue
            if sel["customer_row"].nunique() < min_group_size:
                continue
            s = summarize(sel, n_boot=n_bootstrap, alpha=alpha, seed=seed)
            s.insert(1, "segment_kind", kind)
            s.insert(2, "segment", str(value))
            out.append(s)
    if not out:
        return pd.DataFrame(columns=columns)
    models = list(dict.fromkeys(per_customer["model"]))
    return order_by_models(pd.concat(out, ignore_index=True), models)[columns]


def _segment_order(labels: pd.Series) -> list[Any]:
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return [c for c in labels.cat.categories if (labels == c).any()]
    return sorted(pd.unique(labels.dropna().astype(str)))
