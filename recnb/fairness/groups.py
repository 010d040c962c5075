"""Who is served well: per-customer metrics disaggregated by customer groups, with uncertainty.

One per-customer table (a row per evaluated customer: metric columns, group columns) is cut by
each customer attribute the source records. For every metric column and attribute:

- **group values**: the mean over the group's customers (NaN values left out), with a percentile
  bootstrap interval that resamples customers *within* each group (a stratified bootstrap: group
  sizes stay fixed, as they are in the data);
- **difference** (largest minus smallest group mean) and **ratio** (smallest over largest), the
  quantities of fairlearn's ``MetricFrame.difference()`` / ``ratio()`` (``method="between_groups"``),
  with bootstrap intervals from the same resamples;
- a **permutation test** of "the gap is zero": the group labels are shuffled among the customers
  and the difference recomputed; ``p = (1 + #{permuted >= observed}) / (1 + n_permutations)``.
  The bootstrap interval of a max-minus-min is biased upward for small groups (the largest of
  several noisy means is too large), so the test, not the interval, says whether a gap is real.
  With ``strata`` (the activity level) the labels are shuffled only within each stratum: the test
  then asks whether groups differ *among customers of the same activity*, so a gap that comes
  from one group simply being more active is not flagged.

Groups with fewer than ``min_group_size`` customers are **suppressed**: their values are never
computed into a shown number (blank, ``suppressed`` True) and they take no part in differences,
ratios or tests. Customers without the attribute form the group :data:`NOT_RECORDED`, reported
with its size but kept out of differences and tests (it is not a group of people alike).

Everything is vectorised: resamples and permutations are count or label matrices applied with
matrix products, one loop over groups and chunks of resamples, none over customers.

fairlearn's :class:`~fairlearn.metrics.MetricFrame` (:func:`metric_frame`) gives the headline
table (the primary metric of every model, with and without the activity level as control
feature). MetricFrame evaluates its metric functions on Python lists of rows (about 0.1 s per
metric column and attribute at 8,000 customers), so the full set of columns uses the vectorised
group means here, which equal MetricFrame's (``tests/test_fairness_groups.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recnb.metrics.stats import _CHUNK_ELEMENTS, bootstrap_counts, holm_adjust

__all__ = [
    "ATTRIBUTES",
    "NOT_RECORDED",
    "GroupCodes",
    "bootstrap_group_means",
    "customer_groups",
    "disaggregate",
    "encode_groups",
    "group_attributes",
    "group_means",
    "metric_frame",
    "permutation_gap_test",
]

#: customer attributes used as groups, in report order, when the source has them
ATTRIBUTES: tuple[str, ...] = ("gender", "age_band", "region", "country", "device", "occupation")
#: label of the customers for whom the source does not record the attribute
NOT_RECORDED = "not recorded"
_MISSING_TEXT = {"", "nan", "none", "unknown", "unspecified", "<na>"}


# ----------------------------------------------------------------------------------------------
# group labels
# ----------------------------------------------------------------------------------------------


def group_attributes(
    customers: pd.DataFrame | None, wanted: Sequence[str] | None = None
) -> list[str]:
    """The customer attributes usable as groups: those of :data:`ATTRIBUTES` (or ``wanted``) that
    the customers table has with at least two recorded values.

    Raises
    ------
    KeyError
        When ``wanted`` names a column the customers table lacks.
    """
    if customers is None:
        if wanted:
            raise KeyError(
                f"group attributes {list(wanted)} requested, but the data has no customers table"
            )
        return []
    names = list(wanted) if wanted else [a for a in ATTRIBUTES if a in customers.columns]
    missing = [a for a in names if a not in customers.columns]
    if missing:
        raise KeyError(
            f"group attribute(s) {missing} are not columns of the customers table "
            f"(it has {sorted(customers.columns)})"
        )
    out = []
    for a in names:
        labels = _labels(customers[a])
        if pd.unique(labels[labels != NOT_RECORDED]).size >= 2:
            out.append(a)
    return out


def _labels(values: pd.Series) -> np.ndarray:
    s = values.astype(object)
    text = s.where(s.notna(), None).map(lambda v: None if v is None else str(v).strip())
    missing = text.isna() | text.map(lambda v: v is None or v.lower() in _MISSING_TEXT)
    return np.where(missing, NOT_RECORDED, text.fillna("")).astype(object)


def customer_groups(
    customer_ids: Sequence[str], customers: pd.DataFrame, attributes: Sequence[str]
) -> pd.DataFrame:
    """Group label of each customer for each attribute (:data:`NOT_RECORDED` where missing).

    Parameters
    ----------
    customer_ids : sequence of str
        The evaluated customers, in table order.
    customers : pandas.DataFrame
        The customers table (``customer_id`` and the attribute columns).
    attributes : sequence of str

    Returns
    -------
    pandas.DataFrame
        One row per id, one object column per attribute.
    """
    if "customer_id" not in customers.columns:
        raise KeyError("the customers table has no 'customer_id' column")
    table = customers.drop_duplicates("customer_id").set_index(
        customers.drop_duplicates("customer_id")["customer_id"].astype(str)
    )
    ids = pd.Index(np.asarray(customer_ids, dtype=object).astype(str))
    out = {}
    for a in attributes:
        col = table[a].reindex(ids)
        out[a] = _labels(col)
    return pd.DataFrame(out, index=np.arange(len(ids)))


@dataclass(frozen=True)
class GroupCodes:
    """Integer codes of one attribute's groups.

    Attributes
    ----------
    codes : numpy.ndarray of int64, shape (n,)
        Group of each customer, ``-1`` for a customer in no compared group (suppressed or not
        recorded).
    names : list of str
        Compared groups (enough customers, attribute recorded), in order.
    sizes : numpy.ndarray of int64
        Customers per compared group.
    all_sizes : dict
        Customers per label, every label (suppressed and not recorded included).
    suppressed : list of str
        Labels with fewer than ``min_group_size`` customers (:data:`NOT_RECORDED` included).
    """

    codes: np.ndarray
    names: list[str]
    sizes: np.ndarray
    all_sizes: dict[str, int]
    suppressed: list[str]


def encode_groups(
    labels: Sequence[object], min_group_size: int, order: Sequence[str] | None = None
) -> GroupCodes:
    """Codes of the compared groups of one attribute (see :class:`GroupCodes`).

    ``order`` fixes the group order (e.g. age bands); otherwise groups are sorted by label.
    """
    if (
        isinstance(min_group_size, bool)
        or not isinstance(min_group_size, int | np.integer)
        or min_group_size < 1
    ):
        raise ValueError(f"min_group_size must be a positive int, got {min_group_size!r}")
    lab = np.asarray(labels, dtype=object).astype(str)
    uniq, counts = np.unique(lab, return_counts=True)
    sizes = dict(zip(uniq.tolist(), counts.tolist(), strict=True))
    if order is not None:
        known = [str(x) for x in order if str(x) in sizes]
        rest = sorted(set(sizes) - set(known))
        ordered = known + rest
    else:
        ordered = sorted(sizes)
    suppressed = [g for g in ordered if sizes[g] < min_group_size]
    names = [g for g in ordered if g != NOT_RECORDED and sizes[g] >= min_group_size]
    pos = {g: i for i, g in enumerate(names)}
    codes = np.array([pos.get(x, -1) for x in uniq], dtype=np.int64)[np.searchsorted(uniq, lab)]
    return GroupCodes(
        codes=codes,
        names=names,
        sizes=np.array([sizes[g] for g in names], dtype=np.int64),
        all_sizes={g: int(sizes[g]) for g in ordered},
        suppressed=suppressed,
    )


# ----------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------


def _as_matrix(values: np.ndarray | pd.DataFrame) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise ValueError(f"values must be (customers x columns), got shape {v.shape}")
    return v


def group_means(
    values: np.ndarray, codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each column within each group, NaN values left out.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Means ``(n_groups, M)`` (NaN for a group with no value) and counts of non-NaN values.
    """
    v = _as_matrix(values)
    codes = np.asarray(codes, dtype=np.int64)
    keep = codes >= 0
    mask = ~np.isnan(v[keep])
    onehot = np.zeros((n_groups, int(keep.sum())))
    onehot[codes[keep], np.arange(int(keep.sum()))] = 1.0
    with threadpool_limits(1, user_api="blas"):
        sums = onehot @ np.where(mask, v[keep], 0.0)
        counts = onehot @ mask.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def bootstrap_group_means(
    values: np.ndarray, codes: np.ndarray, n_groups: int, n_boot: int, seed: int | None
) -> np.ndarray:
    """Stratified bootstrap of the group means: customers resampled within their group.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, M)
        Per-customer values (NaN left out of means).
    codes : numpy.ndarray of int, shape (n,)
        Group code per customer (``-1``: not in any compared group, ignored).
    n_groups : int
    n_boot : int
        Resamples.
    seed : int or None
        Each group draws from its own stream spawned from ``seed``.

    Returns
    -------
    numpy.ndarray, shape (n_boot, n_groups, M)
    """
    v = _as_matrix(values)
    codes = np.asarray(codes, dtype=np.int64)
    out = np.full((n_boot, n_groups, v.shape[1]), np.nan)
    streams = np.random.SeedSequence(seed).spawn(n_groups)
    with threadpool_limits(1, user_api="blas"):
        for g in range(n_groups):
            rows = np.flatnonzero(codes == g)
            if len(rows) == 0:
                continue
            vg = v[rows]
            mask = ~np.isnan(vg)
            filled = np.where(mask, vg, 0.0)
            weights = mask.astype(np.float64)
            done = 0
            g_seed = int(streams[g].generate_state(1)[0])
            for counts in bootstrap_counts(len(rows), n_boot, g_seed):
                m = counts.shape[0]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[done : done + m, g] = (counts @ filled) / (counts @ weights)
                done += m
    return out


def _gap(means: np.ndarray) -> np.ndarray:
    """max - min over the group axis (-2), NaN groups ignored; NaN with fewer than two groups."""
    valid = ~np.isnan(means)
    n_valid = valid.sum(axis=-2)
    hi = np.where(valid, means, -np.inf).max(axis=-2)
    lo = np.where(valid, means, np.inf).min(axis=-2)
    return np.where(n_valid >= 2, hi - lo, np.nan)


def _ratio(means: np.ndarray) -> np.ndarray:
    """min / max over the group axis (-2); NaN unless every group mean is >= 0 and max > 0."""
    valid = ~np.isnan(means)
    n_valid = valid.sum(axis=-2)
    hi = np.where(valid, means, -np.inf).max(axis=-2)
    lo = np.where(valid, means, np.inf).min(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_valid >= 2) & (lo >= 0) & (hi > 0), lo / hi, np.nan)


def permutation_gap_test(
    values: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    n_permutations: int = 1000,
    seed: int | None = 0,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation test of "every group has the same mean" with the max-min gap as statistic.

    Only customers in compared groups (code >= 0) take part; their labels are shuffled (within
    each stratum when ``strata`` is given), the group means and their max-min recomputed.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, M)
    codes : numpy.ndarray of int, shape (n,)
    n_groups : int
    n_permutations : int
    seed : int or None
    strata : numpy.ndarray, shape (n,), optional
        Stratum of each customer (e.g. the activity level); labels move only within a stratum.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Observed gap and p-value per column, ``p = (1 + #{gap_perm >= gap_obs}) / (1 + B)``
        (NaN where fewer than two groups have values).
    """
    v = _as_matrix(values)
    codes = np.asarray(codes, dtype=np.int64)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    keep = np.flatnonzero(codes >= 0)
    v, lab = v[keep], codes[keep]
    n = len(lab)
    observed = _gap(group_means(v, lab, n_groups)[0])
    if n == 0:
        return observed, np.full(v.shape[1], np.nan)
    mask = ~np.isnan(v)
    filled = np.where(mask, v, 0.0)
    weights = mask.astype(np.float64)
    if strata is None:
        blocks = [np.arange(n)]
    else:
        st = np.asarray(strata)[keep]
        _, inv = np.unique(st.astype(str), return_inverse=True)
        blocks = [np.flatnonzero(inv == s) for s in range(inv.max() + 1)]
    rng = np.random.default_rng(seed)
    exceed = np.zeros(v.shape[1])
    tol = 1e-12 * np.maximum(1.0, np.abs(np.nan_to_num(observed)))
    chunk = max(1, min(n_permutations, _CHUNK_ELEMENTS // max(n, 1)))
    done = 0
    with threadpool_limits(1, user_api="blas"):
        while done < n_permutations:
            m = min(chunk, n_permutations - done)
            perm = np.empty((m, n), dtype=np.int64)
            for b in blocks:
                perm[:, b] = rng.permuted(np.broadcast_to(lab[b], (m, len(b))), axis=1)
            means = np.empty((m, n_groups, v.shape[1]))
            for g in range(n_groups):
                member = (perm == g).astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    means[:, g] = (member @ filled) / (member @ weights)
            gaps = _gap(means)
            exceed += (gaps >= observed[None, :] - tol[None, :]).sum(axis=0)
            done += m
    p = (1.0 + exceed) / (1.0 + n_permutations)
    return observed, np.where(np.isnan(observed), np.nan, p)


# ----------------------------------------------------------------------------------------------
# the disaggregation
# ----------------------------------------------------------------------------------------------

BY_GROUP_COLUMNS = [
    "attribute",
    "group",
    "n",
    "suppressed",
    "compared",
    "model",
    "metric",
    "value",
    "ci_low",
    "ci_high",
]
GAP_COLUMNS = [
    "attribute",
    "model",
    "metric",
    "n_groups",
    "n_customers",
    "low_group",
    "high_group",
    "overall",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_value_within_activity",
]


def disaggregate(
    values: pd.DataFrame,
    groups: pd.DataFrame,
    min_group_size: int = 10,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    activity: Sequence[object] | None = None,
    orders: dict[str, Sequence[str]] | None = None,
    test_metrics: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group values, differences, ratios, intervals and tests for every metric column and attribute.

    Parameters
    ----------
    values : pandas.DataFrame
        One row per customer; columns a :class:`pandas.MultiIndex` ``(model, metric)`` (or plain
        names, reported as model ``""``).
    groups : pandas.DataFrame
        Same rows; one column of labels per attribute (see :func:`customer_groups`).
    min_group_size : int
        Smallest group shown and compared.
    n_boot, n_permutations : int
        Bootstrap resamples and permutations.
    alpha : float
        1 - confidence level of the intervals.
    seed : int or None
    activity : sequence, optional
        Activity level per customer: the strata of the second test.
    orders : dict, optional
        Group order per attribute (default: sorted labels).
    test_metrics : sequence of str, optional
        Metrics whose gaps get the permutation tests (default: every column); the others get
        group values, differences, ratios and intervals, and NaN p-values. The tests are the
        costly part (a matrix product per permutation chunk and group).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``by_group`` (columns :data:`BY_GROUP_COLUMNS`; one row ``group = "all customers"`` per
        attribute and column, the plain mean over every customer) and ``gaps`` (columns
        :data:`GAP_COLUMNS` plus ``p_holm``: Holm-adjusted over the attributes of each model and
        metric (the family "is any group of this model's customers served differently?"), for
        ``p_value_within_activity`` when activity is given, else ``p_value``).
    """
    if len(values) != len(groups):
        raise ValueError(f"values has {len(values)} rows, groups {len(groups)}")
    if n_boot < 1 or n_permutations < 1:
        raise ValueError(f"n_boot and n_permutations must be >= 1, got {n_boot}, {n_permutations}")
    cols = values.columns
    labels = list(cols) if isinstance(cols, pd.MultiIndex) else [("", str(c)) for c in cols]
    v = values.to_numpy(dtype=np.float64)
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    overall = group_means(v, np.zeros(len(v), dtype=np.int64), 1)[0][0]
    tested = np.array(
        [test_metrics is None or metric in test_metrics for _, metric in labels], dtype=bool
    )
    rows, gap_rows = [], []
    streams = np.random.SeedSequence(seed).spawn(len(groups.columns))
    for a_i, attribute in enumerate(groups.columns):
        enc = encode_groups(groups[attribute], min_group_size, (orders or {}).get(attribute))
        g_n = len(enc.names)
        s_boot, s_perm, s_strat = (int(x.generate_state(1)[0]) for x in streams[a_i].spawn(3))
        means, _ = group_means(v, enc.codes, g_n)
        if g_n:
            boot = bootstrap_group_means(v, enc.codes, g_n, n_boot, s_boot)
            with np.errstate(invalid="ignore"):
                ci = np.nanquantile(boot, [lo_q, hi_q], axis=0)
        for j, (model, metric) in enumerate(labels):
            rows.append(
                (
                    attribute,
                    "all customers",
                    len(v),
                    False,
                    False,
                    model,
                    metric,
                    overall[j],
                    np.nan,
                    np.nan,
                )
            )
        not_recorded = np.asarray(groups[attribute]) == NOT_RECORDED
        nr_mean = group_means(v, np.where(not_recorded, 0, -1), 1)[0][0]
        for g in enc.all_sizes:
            n_g = enc.all_sizes[g]
            sup = g in enc.suppressed
            idx = enc.names.index(g) if g in enc.names else None
            for j, (model, metric) in enumerate(labels):
                if idx is not None:
                    rows.append(
                        (
                            attribute,
                            g,
                            n_g,
                            False,
                            True,
                            model,
                            metric,
                            means[idx, j],
                            ci[0, idx, j],
                            ci[1, idx, j],
                        )
                    )
                elif sup:
                    rows.append(
                        (attribute, g, np.nan, True, False, model, metric, np.nan, np.nan, np.nan)
                    )
                else:  # not recorded: its own mean, not compared
                    rows.append(
                        (attribute, g, n_g, False, False, model, metric, nr_mean[j], np.nan, np.nan)
                    )
        if g_n >= 2:
            gap_obs = _gap(means)
            p = np.full(len(labels), np.nan)
            p_act = np.full(len(labels), np.nan)
            if tested.any():
                _, p[tested] = permutation_gap_test(
                    v[:, tested], enc.codes, g_n, n_permutations, s_perm
                )
                if activity is not None:
                    _, p_act[tested] = permutation_gap_test(
                        v[:, tested], enc.codes, g_n, n_permutations, s_strat,
                        strata=np.asarray(activity),
                    )  # fmt: skip
            d_boot, r_boot = _gap(boot), _ratio(boot)
            d_ci = np.nanquantile(d_boot, [lo_q, hi_q], axis=0)
            r_ok = ~np.isnan(r_boot).all(axis=0)
            r_ci = np.full((2, len(labels)), np.nan)
            if r_ok.any():
                r_ci[:, r_ok] = np.nanquantile(r_boot[:, r_ok], [lo_q, hi_q], axis=0)
            ratio = _ratio(means)
        n_cmp = int((enc.codes >= 0).sum())
        for j, (model, metric) in enumerate(labels):
            if g_n >= 2 and not np.isnan(means[:, j]).all():
                col = means[:, j]
                low = enc.names[int(np.nanargmin(col))]
                high = enc.names[int(np.nanargmax(col))]
                gap_rows.append(
                    (
                        attribute,
                        model,
                        metric,
                        g_n,
                        n_cmp,
                        low,
                        high,
                        overall[j],
                        gap_obs[j],
                        d_ci[0, j],
                        d_ci[1, j],
                        ratio[j],
                        r_ci[0, j],
                        r_ci[1, j],
                        p[j],
                        p_act[j],
                    )
                )
            else:
                gap_rows.append(
                    (attribute, model, metric, g_n, n_cmp, None, None, overall[j], *([np.nan] * 8))
                )
    by_group = pd.DataFrame(rows, columns=BY_GROUP_COLUMNS)
    gaps = pd.DataFrame(gap_rows, columns=GAP_COLUMNS)
    test = "p_value_within_activity" if activity is not None else "p_value"
    gaps["p_holm"] = np.nan
    for _, idx in gaps.groupby(["model", "metric"], sort=False).groups.items():
        gaps.loc[idx, "p_holm"] = holm_adjust(gaps.loc[idx, test].to_numpy(dtype=float))
    return by_group, gaps


# ----------------------------------------------------------------------------------------------
# fairlearn
# ----------------------------------------------------------------------------------------------


def _mean(y_true: np.ndarray, y_pred: np.ndarray, values: np.ndarray | None = None) -> float:
    """Mean of the per-customer values (``values``, else ``y_pred``), NaN left out."""
    y = np.asarray(y_pred if values is None else values, dtype=np.float64)
    return float(np.nanmean(y)) if (~np.isnan(y)).any() else float("nan")


def metric_frame(
    values: pd.Series | pd.DataFrame | np.ndarray,
    labels: Sequence[object],
    min_group_size: int = 10,
    control: Sequence[object] | None = None,
    name: str = "group",
):
    """A fairlearn :class:`~fairlearn.metrics.MetricFrame` of per-customer metric columns.

    Each column (e.g. one model's NDCG) becomes one metric of the frame: the mean of the column
    (NaN left out), handed to MetricFrame as a per-customer sample parameter; a 1-D input is one
    metric passed as ``y_pred``. Customers of suppressed groups and of :data:`NOT_RECORDED` are
    left out before the frame is built, so no number of the frame (``by_group``,
    ``difference()``, ``ratio()``, ``overall``) describes a small group; with ``control`` (e.g.
    the activity level) a (control level, group) cell with fewer than ``min_group_size``
    customers is left out too.

    Returns
    -------
    fairlearn.metrics.MetricFrame or None
        None when fewer than two groups remain.
    """
    from fairlearn.metrics import MetricFrame

    lab = np.asarray(labels, dtype=object).astype(str)
    enc = encode_groups(lab, min_group_size)
    keep = enc.codes >= 0
    if control is not None:
        ctl = np.asarray(control, dtype=object).astype(str)
        cell = pd.Series(ctl).str.cat(pd.Series(lab), sep="\x1f").to_numpy()
        _, inv, counts = np.unique(cell, return_inverse=True, return_counts=True)
        keep &= counts[inv] >= min_group_size
    if len(pd.unique(lab[keep])) < 2:
        return None
    common = {
        "sensitive_features": pd.Series(lab[keep], name=name),
        "control_features": None if control is None else pd.Series(ctl[keep], name="activity"),
    }
    if isinstance(values, pd.DataFrame):
        cols = [str(c) for c in values.columns]
        v = values.to_numpy(dtype=np.float64)[keep]
        dummy = np.zeros(int(keep.sum()))
        return MetricFrame(
            metrics={c: _mean for c in cols},
            y_true=dummy,
            y_pred=dummy,
            sample_params={c: {"values": v[:, j]} for j, c in enumerate(cols)},
            **common,
        )
    v = np.asarray(values, dtype=np.float64)[keep]
    return MetricFrame(metrics=_mean, y_true=v, y_pred=v, **common)
