"""Leak-free train / validation / test splits and the split artefact the model stage reads.

Split kinds
    ``"temporal"``: a global cut-off; every event before it is training, every event from it on is
    test, and a validation window is carved from the end of the training period
    (:func:`temporal_labels`).
    ``"leave_last"``: per customer, the last ``n`` distinct products (by their last event) are test and
    the ``n`` before them validation (:func:`leave_last_labels`).
    ``"random"``: per customer, a random share of the distinct products is test, then a share of the
    rest validation (:func:`random_holdout_labels`).
    ``"stratified"``: the stratified split of the released Microsoft Recommenders (1.2.1), re-implemented
    here and checked row for row against that release (:func:`python_stratified_split`,
    :func:`stratified_labels`), then the same split again on the training rows for validation.
Pair-based kinds assign whole (customer, product) pairs, so a pair is never in two parts.

The artefact (:func:`build_split` -> :func:`save_split` -> ``<run_dir>/split/``, read with
:func:`load_split`) holds four :class:`~recnb.interactions.Interactions` sharing one id map:
``train_inner`` (tuning fit), ``valid`` (tuning target), ``train`` (final fit: train_inner + valid) and
``test``. Features are computed from ``train_inner``'s events for ``train_inner`` and ``valid``, from
``train``'s events for ``train`` and ``test``: no feature sees an event of the part it is evaluated on.
The evaluation parts' ``meta`` flags cold-start customers and products (no interaction in the matching
training part). Explicit data keep the rating in the matrix (``meta["signal"] == "explicit"``) and
save a :class:`~recnb.weighting.RatingNormalizer` fitted on the matching training part.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb import cleaning
from recnb import features as feat
from recnb import weighting as wt
from recnb.interactions import Interactions
from recnb.io import read_json, write_json, write_with
from recnb.schema import EVENT_TYPES, Dataset

PARTS: tuple[str, ...] = ("train_inner", "valid", "train", "test")
"""The parts of a saved split."""

SPLIT_KINDS: tuple[str, ...] = ("temporal", "leave_last", "random", "stratified")
SIGNALS: tuple[str, ...] = ("implicit", "explicit")

TRAIN_INNER, VALID, TEST, DROPPED = 0, 1, 2, -1
"""Row / pair labels used by the label functions."""

_LABEL_NAMES = {TRAIN_INNER: "train_inner", VALID: "valid", TEST: "test"}


# ----------------------------------------------------------------------------------------------
# the stratified split of the released Microsoft Recommenders (1.2.x), re-implemented
# ----------------------------------------------------------------------------------------------


def process_split_ratio(ratio: float | list[float]) -> tuple[bool, list[float] | float]:
    """Validate a split ratio or normalise a ratio list, as Recommenders 1.2.1's ``process_split_ratio``.

    A float must lie in (0, 1) (single split); a list is a multi-split and is divided by its sum when
    it does not sum to exactly 1 (``math.fsum``).
    """
    if isinstance(ratio, float):
        if ratio <= 0 or ratio >= 1:
            raise ValueError(f"split ratio has to be between 0 and 1, got {ratio}")
        return False, ratio
    if isinstance(ratio, list):
        if any(x <= 0 for x in ratio):
            raise ValueError(f"all split ratios in the ratio list should be > 0, got {ratio}")
        if math.fsum(ratio) != 1.0:
            ratio = [x / math.fsum(ratio) for x in ratio]
        return True, ratio
    raise TypeError(f"split ratio should be a float or a list of floats, got {ratio!r}")


def stratified_labels(
    groups: Sequence[Any] | np.ndarray,
    ratio: float | list[float] = 0.75,
    seed: int = 42,
    min_rating: int = 1,
) -> np.ndarray:
    """Split index of each row under the stratified split of the released Microsoft Recommenders.

    recnb's vectorised re-implementation of ``_do_stratification`` in
    ``recommenders/datasets/python_splitters.py`` as released in 1.2.0 and 1.2.1 (what
    ``pip install recommenders`` gives), checked row for row against that release by the golden
    fixtures in ``tests/fixtures/msr/`` (written by ``tools/make_msr_fixtures.py``).

    The algorithm: rows of groups with fewer than ``min_rating`` rows are dropped (only when
    ``min_rating > 1``); ``np.random.seed(seed)`` then one ``np.random.rand`` number per remaining row,
    in row order; rows sorted by (group, number); within a group of ``count`` rows, a row at position
    ``rank`` (from 1) goes to split ``i`` when
    ``round(c[i-1] * count) < rank <= round(c[i] * count)``, where ``c = cumsum(ratios)`` (``c[-1]``
    taken as 0) and ratios are ``[ratio, 1 - ratio]`` for a float. ``round`` is pandas' (NumPy's)
    round half to even: at 0.75 a group of 1 keeps its row in train (``round(0.75) = 1``), a group
    of 2 keeps both (``round(1.5) = 2``) and a group of 10 keeps 8 (``round(7.5) = 8``); at 0.5 a
    group of 5 keeps 2 (``round(2.5) = 2``).

    Parameters
    ----------
    groups : array-like
        The group (user or item) of each row, in the data's row order.
    ratio : float or list of float
        See :func:`process_split_ratio`.
    seed : int
        Seed of the legacy global NumPy generator in the released code; here a private
        ``numpy.random.RandomState(seed)``, which draws the same numbers without touching global state.
    min_rating : int
        Minimum rows per group (>= 1).

    Returns
    -------
    numpy.ndarray of int64
        Split index per row (0 = train for a float ratio, 1 = test), -1 for rows dropped by
        ``min_rating``.

    Raises
    ------
    ValueError
        A row without a group (missing id): the released code silently drops such rows from every
        split; recnb refuses them.
    """
    if min_rating < 1:
        raise ValueError("min_rating should be integer and larger than or equal to 1.")
    multi, r = process_split_ratio(ratio)
    ratios = r if multi else [r, 1 - r]
    codes, _ = pd.factorize(pd.Series(groups), sort=False)
    codes = codes.astype(np.int64)
    if (codes < 0).any():
        raise ValueError(
            f"stratified split: {int((codes < 0).sum())} row(s) without a group (missing id)"
        )
    n = len(codes)
    keep = np.ones(n, dtype=bool)
    if min_rating > 1:
        size = np.bincount(codes, minlength=int(codes.max()) + 1 if n else 0)
        keep = size[codes] >= min_rating
    sub = codes[keep]
    rnd = np.random.RandomState(seed).rand(len(sub))
    order = np.lexsort((rnd, sub))  # stable: ties keep row order, as pandas' sort_values
    sorted_groups = sub[order]
    size = np.bincount(sub, minlength=int(sub.max()) + 1 if len(sub) else 0)
    start = np.zeros(len(size), dtype=np.int64)
    start[1:] = np.cumsum(size)[:-1]
    rank = np.arange(len(sub)) - start[sorted_groups] + 1
    count = size[sorted_groups].astype(np.float64)
    lab_sorted = np.full(len(sub), -1, dtype=np.int64)
    prev = None
    for i, thr in enumerate(np.cumsum(ratios)):
        # same float64 product and the same half-to-even rounding as pandas' round(Series)
        cond = rank <= np.round(thr * count)
        if prev is not None:
            cond &= rank > np.round(prev * count)
        lab_sorted[cond] = i
        prev = thr
    lab_sub = np.empty(len(sub), dtype=np.int64)
    lab_sub[order] = lab_sorted
    out = np.full(n, -1, dtype=np.int64)
    out[keep] = lab_sub
    return out


def python_stratified_split(
    data: pd.DataFrame,
    ratio: float | list[float] = 0.75,
    min_rating: int = 1,
    filter_by: str = "user",
    col_user: str = "userID",
    col_item: str = "itemID",
    seed: int = 42,
) -> list[pd.DataFrame]:
    """Stratified split with the signature and output of Recommenders 1.2.1's ``python_stratified_split``.

    recnb's re-implementation (see :func:`stratified_labels`): same arguments, same rows in each
    split, same row order within each returned frame (sorted by the filter column, then the random
    number) and the original index. Unlike the released function, ``data`` is not modified (the
    release adds a ``random`` column to the caller's frame when ``min_rating == 1``), and a missing
    group id is an error instead of a silently dropped row.

    Returns
    -------
    list of pandas.DataFrame
        ``[train, test]`` for a float ratio, one frame per ratio for a list.
    """
    if filter_by not in ("user", "item"):
        raise ValueError("filter_by should be either 'user' or 'item'.")
    for col, what in ((col_user, "User"), (col_item, "Item")):
        if col not in data.columns:
            raise ValueError(f"Schema of data not valid. Missing {what} Col ({col!r})")
    col = col_user if filter_by == "user" else col_item
    labels = stratified_labels(data[col].to_numpy(), ratio, seed, min_rating)
    multi, r = process_split_ratio(ratio)
    n_splits = len(r) if multi else 2
    # the released output order: rows (after the min_rating filter) sorted by (group, random)
    if min_rating > 1:
        size = data.groupby(col)[col].transform("size").to_numpy()
        kept = size >= min_rating
    else:
        kept = np.ones(len(data), dtype=bool)
    d = data[kept].copy()
    d["__random"] = np.random.RandomState(seed).rand(len(d))
    d["__label"] = labels[kept]
    d = d.sort_values([col, "__random"])
    return [
        d[d["__label"].to_numpy() == i].drop(columns=["__random", "__label"])
        for i in range(n_splits)
    ]


# ----------------------------------------------------------------------------------------------
# label functions (rows or pairs -> train_inner / valid / test)
# ----------------------------------------------------------------------------------------------


def temporal_labels(
    timestamps: pd.Series | np.ndarray,
    *,
    test_days: float = 14.0,
    valid_days: float = 7.0,
    cutoff: str | pd.Timestamp | None = None,
) -> tuple[np.ndarray, dict[str, pd.Timestamp]]:
    """Global temporal split of event rows.

    Test is every event at or after the cut-off (``cutoff``, else the last event time minus
    ``test_days``); validation is ``[cutoff - valid_days, cutoff)``; the rest is ``train_inner``.

    Returns
    -------
    (numpy.ndarray, dict)
        Label per row (:data:`TRAIN_INNER`, :data:`VALID`, :data:`TEST`) and the boundaries
        ``{"cutoff", "valid_start"}``.
    """
    ts = pd.DatetimeIndex(np.asarray(timestamps, dtype="datetime64[ns]"))
    if len(ts) == 0:
        raise ValueError("temporal split: no events")
    if cutoff is not None:
        cut = pd.Timestamp(cutoff)
    else:
        if test_days <= 0:
            raise ValueError(f"test_days must be > 0, got {test_days}")
        cut = ts.max() - pd.Timedelta(days=float(test_days))
    if valid_days < 0:
        raise ValueError(f"valid_days must be >= 0, got {valid_days}")
    vstart = cut - pd.Timedelta(days=float(valid_days))
    t = ts.asi8
    lab = np.full(len(t), TRAIN_INNER, dtype=np.int64)
    lab[t >= vstart.value] = VALID
    lab[t >= cut.value] = TEST
    return lab, {"cutoff": cut, "valid_start": vstart}


def _rank_in_group(
    groups: np.ndarray, sort_key: np.ndarray, descending: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank of each element inside its group by ``sort_key`` (ties by position) and group size."""
    g = np.asarray(groups, dtype=np.int64)
    k = -np.asarray(sort_key) if descending else np.asarray(sort_key)
    order = np.lexsort((np.arange(len(g)), k, g))
    gs = g[order]
    size = np.bincount(g, minlength=int(g.max()) + 1 if len(g) else 0)
    start = np.zeros(len(size), dtype=np.int64)
    start[1:] = np.cumsum(size)[:-1]
    rank_sorted = np.arange(len(g)) - start[gs]
    rank = np.empty(len(g), dtype=np.int64)
    rank[order] = rank_sorted
    return rank, size[g]


def leave_last_labels(
    customers: np.ndarray, last_times: np.ndarray, n_test: int = 1, n_valid: int = 1
) -> np.ndarray:
    """Per-customer leave-last-n-out on distinct pairs, chronological.

    A customer's pairs ordered by their last event (latest first, ties by position): the first
    ``n_test`` are test and the next ``n_valid`` validation, but only while at least one pair stays in
    ``train_inner`` (a customer with ``n_test`` pairs or fewer keeps everything for training).
    """
    if n_test < 1 or n_valid < 0:
        raise ValueError(f"leave_last needs n_test >= 1 and n_valid >= 0, got {n_test}, {n_valid}")
    t = np.asarray(last_times, dtype="datetime64[ns]").astype(np.int64)
    rank, size = _rank_in_group(np.asarray(customers), t, descending=True)
    lab = np.full(len(rank), TRAIN_INNER, dtype=np.int64)
    lab[(rank < n_test) & (size > n_test)] = TEST
    lab[(rank >= n_test) & (rank < n_test + n_valid) & (size > n_test + n_valid)] = VALID
    return lab


def random_holdout_labels(
    customers: np.ndarray, test_fraction: float = 0.2, valid_fraction: float = 0.1, seed: int = 42
) -> np.ndarray:
    """Per-customer random holdout of distinct pairs.

    Each customer's pairs are shuffled (``numpy.random.default_rng(seed)``); ``round(test_fraction *
    n)`` go to test and ``round(valid_fraction * rest)`` of the rest to validation, always leaving at
    least one pair in ``train_inner``.
    """
    for name, f in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    rng = np.random.default_rng(seed)
    rank, size = _rank_in_group(np.asarray(customers), rng.random(len(customers)))
    n_test = np.minimum(np.round(test_fraction * size), size - 1)
    rest = size - n_test
    n_valid = np.minimum(np.round(valid_fraction * rest), rest - 1)
    lab = np.full(len(rank), TRAIN_INNER, dtype=np.int64)
    lab[rank < n_test] = TEST
    lab[(rank >= n_test) & (rank < n_test + n_valid)] = VALID
    return lab


# ----------------------------------------------------------------------------------------------
# building the split
# ----------------------------------------------------------------------------------------------


@dataclass
class SplitResult:
    """Everything :func:`build_split` produced.

    Attributes
    ----------
    parts : dict of str -> Interactions
        ``train_inner``, ``valid``, ``train``, ``test``.
    context : dict of str -> (csr_matrix, list of str)
        Context features per stored pair of the training parts.
    normalizers : dict of str -> RatingNormalizer
        For explicit data: fitted on ``train_inner`` (key ``"train_inner"``) and ``train``.
    tables : dict of str -> pandas.DataFrame
        ``signal`` (rows and weight per event type), ``density`` (before / after k-core),
        ``split`` (sizes and time ranges per part), ``cold_start``, ``features``, ``timeline``
        (events per day and part).
    info : dict
        Settings and boundaries (JSON-ready).
    """

    parts: dict[str, Interactions]
    context: dict[str, tuple[sp.csr_matrix, list[str]]] = field(default_factory=dict)
    normalizers: dict[str, wt.RatingNormalizer] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted distinct string ids of ``col`` (only the ids that occur)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        cats = np.asarray(col.cat.categories.astype(str), dtype=object)
        used = np.bincount(codes, minlength=len(cats)) > 0
        order = np.argsort(cats[used], kind="stable")
        uniq = cats[used][order]
        lut = np.full(len(cats), -1, dtype=np.int64)
        lut[np.flatnonzero(used)[order]] = np.arange(len(uniq))
        return lut[codes], uniq
    codes, uniq = pd.factorize(col.astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def _period(ts: np.ndarray) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if len(ts) == 0:
        return None, None
    return pd.Timestamp(ts.min()), pd.Timestamp(ts.max())


def _iso(t: pd.Timestamp | None) -> str | None:
    return None if t is None else t.isoformat()


def _cold(train: sp.csr_matrix, evaluation: sp.csr_matrix) -> dict[str, Any]:
    tr_c = np.diff(train.indptr) > 0
    tr_p = np.bincount(train.indices, minlength=train.shape[1]) > 0
    ev_c = np.diff(evaluation.indptr) > 0
    ev_p = np.bincount(evaluation.indices, minlength=evaluation.shape[1]) > 0
    cold_c = np.flatnonzero(ev_c & ~tr_c)
    cold_p = np.flatnonzero(ev_p & ~tr_p)
    ev = evaluation.tocoo()
    cold_pairs = (~tr_c[ev.row] | ~tr_p[ev.col]).sum() if ev.nnz else 0
    return {
        "cold_customers": cold_c.tolist(),
        "cold_products": cold_p.tolist(),
        "n_customers_evaluated": int(ev_c.sum()),
        "n_cold_customers": len(cold_c),
        "n_products_evaluated": int(ev_p.sum()),
        "n_cold_products": len(cold_p),
        "cold_pair_share": float(cold_pairs / ev.nnz) if ev.nnz else 0.0,
    }


@dataclass(frozen=True)
class _Filtered:
    """What the training filters kept of one training part."""

    keep: np.ndarray  # per event row: in the part after the filters
    bots: np.ndarray  # per customer code: flagged by the bot filter on the part's events
    bot_events: int
    kcore_events: int
    before: tuple[int, int, int]  # customers, products, pairs before the k-core
    after: tuple[int, int, int]
    rounds: int


def _training_filter(
    c: np.ndarray,
    p: np.ndarray,
    ts: np.ndarray,
    rows: np.ndarray,
    shape: tuple[int, int],
    min_customer: int,
    min_product: int,
    bot_max_events_per_day: int,
) -> _Filtered:
    """The bot filter, then the k-core, on the event rows ``rows`` of one training part only."""
    bots = cleaning.bot_customers(c[rows], ts[rows], bot_max_events_per_day, shape[0])
    after_bots = rows & ~bots[c]
    core = wt.kcore(c[after_bots], p[after_bots], min_customer, min_product, shape)
    keep = after_bots.copy()
    keep[after_bots] = core.keep_pairs

    def size(m: np.ndarray) -> tuple[int, int, int]:
        return (
            int((np.bincount(c[m], minlength=shape[0]) > 0).sum()),
            int((np.bincount(p[m], minlength=shape[1]) > 0).sum()),
            len(pd.unique(c[m] * shape[1] + p[m])),
        )

    return _Filtered(
        keep=keep,
        bots=bots,
        bot_events=int((rows & bots[c]).sum()),
        kcore_events=int((after_bots & ~keep).sum()),
        before=size(after_bots),
        after=size(keep),
        rounds=core.rounds,
    )


def _check_valid_window(
    ts: np.ndarray, lab: np.ndarray, bounds: Mapping[str, pd.Timestamp], valid_days: float
) -> None:
    """Stop when the validation window leaves no event for the inner training part."""
    cut, vstart = bounds["cutoff"], bounds["valid_start"]
    before_cut = ts[ts < cut.to_datetime64()]
    if valid_days <= 0 or len(before_cut) == 0 or (lab == TRAIN_INNER).any():
        return
    first = pd.Timestamp(before_cut.min())
    span = (cut - first) / pd.Timedelta(days=1)
    raise ValueError(
        f"temporal split: valid_days={valid_days:g} (params key preprocessing.valid_days) is at "
        f"least as long as the training span, {span:.3g} days from the first event "
        f"({first.isoformat()}) to the cut-off ({cut.isoformat()}): the validation window starts "
        f"at {vstart.isoformat()} and leaves the inner training part (train_inner) empty. Use a "
        f"valid_days below {span:.3g}."
    )


def build_split(
    ds: Dataset,
    *,
    signal: str = "implicit",
    event_weights: Mapping[str, float] | None = None,
    dwell_factor: float = 0.0,
    recency_half_life_days: float = 0.0,
    scaling: str = "log",
    alpha: float = 1.0,
    normalization: str = "center",
    min_customer_interactions: int = 1,
    min_product_interactions: int = 1,
    bot_max_events_per_day: int = 0,
    kind: str = "temporal",
    test_days: float = 14.0,
    valid_days: float = 7.0,
    cutoff: str | None = None,
    leave_last_n: int = 1,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    stratify_by: str = "user",
    min_rating: int = 1,
    seed: int = 42,
    test_events: Sequence[str] = (),
    drop_seen_in_test: bool = True,
    tfidf_max_features: int = 1000,
    min_group_size: int = 1,
    on_step: Callable[[str], None] | None = None,
) -> SplitResult:
    """Events of a cleaned dataset -> weighted, k-cored, split :class:`Interactions` with features.

    Parameters
    ----------
    ds : Dataset
        Cleaned, privacy-scrubbed dataset (:func:`recnb.cleaning.clean`), events in source order.
    signal : {"implicit", "explicit"}
        ``"implicit"``: event weights -> confidences; ``"explicit"``: rating events only, the latest
        rating per pair in the matrix.
    event_weights, dwell_factor, recency_half_life_days, scaling, alpha
        Implicit signal (see :mod:`recnb.weighting`). Recency is measured back from the end of each
        training part; evaluation parts are not decayed.
    normalization : {"center", "zscore"}
        Explicit signal: the saved :class:`~recnb.weighting.RatingNormalizer`.
    min_customer_interactions, min_product_interactions : int
        k-core minimums (distinct pairs). A training filter, like ``bot_max_events_per_day``: see
        "Training filters" below.
    bot_max_events_per_day : int
        Bot filter (:func:`recnb.cleaning.bot_customers`): customers with a day of more weighted
        events than this are removed (0: off). A training filter.
    kind : {"temporal", "leave_last", "random", "stratified"}
        Split kind (see the module docstring).
    test_days, valid_days, cutoff
        Temporal split; ``valid_days`` is also ignored by the pair-based kinds.
    leave_last_n : int
        Leave-last: pairs per customer held out for test (and as many for validation).
    test_fraction, valid_fraction : float
        Random and stratified: share of pairs held out for test, then share of the remaining
        training pairs for validation (stratified: ratio ``1 - test_fraction`` as a float).
    stratify_by : {"user", "item"}
        Stratified split: what the ratio is kept per (``filter_by`` in Recommenders 1.2.1).
    min_rating : int
        Stratified split: minimum pairs per group (``min_rating`` in Recommenders 1.2.1).
    seed : int
        Random and stratified splits.
    test_events : sequence of str
        Event types that make a held-out pair relevant (empty: every weighted type).
    drop_seen_in_test : bool
        Temporal split: remove from validation / test the pairs the customer already had in the
        matching training period (any weighted event before the validation start / the cut-off,
        before the training filters): the evaluation counts new products only.
    tfidf_max_features : int
        TF-IDF vocabulary size of the product text (0: off).
    min_group_size : int
        Demographic values held by fewer customers are pooled as ``other`` in the features.
    on_step : callable, optional
        Called with the name of each phase as it starts (``"signal"``, ``"split"``, ``"k-core"``,
        ``"matrices"``, ``"features"``, ``"assemble"``); used by the benchmark to time them.

    Returns
    -------
    SplitResult

    Notes
    -----
    Training filters. The netting of returns, the bot filter and the k-core decide what and who
    stays in training, so they run on training data only, each training part on its own events,
    after the split: ``train_inner`` is filtered on ``train_inner``'s events, ``train`` on
    ``train``'s (``train_inner`` + ``valid``). No event of a later part can move a customer or a
    product into (or out of) an earlier one. A purchase marked returned by
    :func:`recnb.cleaning.handle_returns` (column ``returned_at``) leaves a temporal part only when
    the return came before the part's end (``valid``: the cut-off, what ``train`` knows).
    What the filters remove from a training part stays in the evaluation parts: a customer the
    k-core drops from ``train`` but who has test pairs is a cold-start customer of the test part.
    The evaluation parts drop the customers that are bot-like in everything known up to their end
    (``valid``: ``train``'s events; ``test``: every event).

    "Training data" per split kind: for ``"temporal"``, the events before the validation start
    (``train_inner``) or the cut-off (``train``); for the per-customer kinds (``"leave_last"``,
    ``"random"``, ``"stratified"``), which hold out pairs rather than a period, the events of the
    pairs labelled ``train_inner`` (and ``valid`` for ``train``): a held-out pair never counts
    towards a customer's or a product's k-core degree. The labels themselves are drawn on every
    weighted pair (the stratified ``min_rating`` is part of that draw, as in Recommenders 1.2.1).

    The shared id map covers every customer and product with a weighted event, filtered or not.
    """
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    if kind not in SPLIT_KINDS:
        raise ValueError(f"split kind must be one of {SPLIT_KINDS}, got {kind!r}")
    if stratify_by not in ("user", "item"):
        raise ValueError(f"stratify_by must be 'user' or 'item', got {stratify_by!r}")
    bad = [e for e in test_events if e not in EVENT_TYPES]
    if bad:
        raise ValueError(
            f"test_events: unknown event type(s) {bad}; event types are {list(EVENT_TYPES)}"
        )
    events = ds.events
    n_all = len(events)

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    # 1. signal per event row -------------------------------------------------------------
    step("signal")
    weights = dict(wt.DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    if signal == "implicit":
        w = wt.event_weights(events, weights, dwell_factor=dwell_factor)
    else:
        if "value" not in events.columns:
            raise ValueError("explicit signal needs a 'value' column with the ratings in events")
        w = (events["event"] == "rating").to_numpy().astype(np.float64)
        if not w.any():
            raise ValueError("explicit signal: the events hold no 'rating' event")
    ev_codes = events["event"].cat.codes.to_numpy()
    signal_table = pd.DataFrame(
        {
            "event": list(EVENT_TYPES),
            "rows": np.bincount(ev_codes, minlength=len(EVENT_TYPES)),
            "weight": [
                weights.get(e, 0.0) if signal == "implicit" else float(e == "rating")
                for e in EVENT_TYPES
            ],
            "total_weight": np.bincount(ev_codes, weights=w, minlength=len(EVENT_TYPES)),
        }
    )
    tot = signal_table["total_weight"].sum()
    signal_table["weight_share"] = signal_table["total_weight"] / tot if tot else 0.0
    sel = w > 0
    if not sel.any():
        present = sorted(set(events["event"].astype(str)))
        raise ValueError(
            f"no event carries weight: the events are of type(s) {present}, the weights are "
            f"{weights if signal == 'implicit' else {'rating': 1.0}}"
        )
    rows_ev = events[sel]
    w = w[sel]

    # 2. ids -----------------------------------------------------------------------------
    # The shared id map holds every customer and product with a weighted event. It does not
    # depend on the training filters below, so what they remove from training never changes the
    # shape of a part, and an evaluation part can name customers and products cold in training.
    c, customer_ids = _ids(rows_ev["customer_id"])
    p, product_ids = _ids(rows_ev["product_id"])
    shape = (len(customer_ids), len(product_ids))
    ts = rows_ev["timestamp"].to_numpy(dtype="datetime64[ns]")

    # 3. labels ---------------------------------------------------------------------------
    step("split")
    info: dict[str, Any] = {
        "kind": kind,
        "signal": signal,
        "seed": int(seed),
        "events_in": n_all,
        "events_zero_weight": int((~sel).sum()),
    }
    pair, pair_first = pd.factorize(c * shape[1] + p, sort=False)  # pairs in order of first event
    pair_c = pair_first // shape[1]
    pair_p = pair_first % shape[1]
    if kind == "temporal":
        lab, bounds = temporal_labels(ts, test_days=test_days, valid_days=valid_days, cutoff=cutoff)
        info.update({"cutoff": _iso(bounds["cutoff"]), "valid_start": _iso(bounds["valid_start"])})
        info.update({"test_days": test_days, "valid_days": valid_days})
    else:
        if kind == "leave_last":
            last = np.full(len(pair_first), np.iinfo(np.int64).min)
            np.maximum.at(last, pair, ts.astype(np.int64))
            plab = leave_last_labels(
                pair_c, last.astype("datetime64[ns]"), leave_last_n, leave_last_n
            )
            info["leave_last_n"] = leave_last_n
        elif kind == "random":
            plab = random_holdout_labels(pair_c, test_fraction, valid_fraction, seed)
            info.update({"test_fraction": test_fraction, "valid_fraction": valid_fraction})
        else:
            groups = pair_c if stratify_by == "user" else pair_p
            s1 = stratified_labels(groups, float(1.0 - test_fraction), seed, min_rating)
            plab = np.where(s1 == 0, TRAIN_INNER, np.where(s1 == 1, TEST, DROPPED))
            tr = np.flatnonzero(s1 == 0)
            if valid_fraction > 0 and len(tr):
                s2 = stratified_labels(groups[tr], float(1.0 - valid_fraction), seed, 1)
                plab[tr[s2 == 1]] = VALID
            info.update(
                {
                    "test_fraction": test_fraction,
                    "valid_fraction": valid_fraction,
                    "stratify_by": stratify_by,
                    "min_rating": min_rating,
                }
            )
        lab = plab[pair]
    if kind == "temporal":
        _check_valid_window(ts, lab, bounds, valid_days)

    # 3a. returns: a purchase marked returned (cleaning.handle_returns, "net") leaves the parts
    # that end after its return; a part never learns of a return after its own end
    never = np.iinfo(np.int64).max
    if cleaning.RETURNED_AT in rows_ev.columns:
        ra = rows_ev[cleaning.RETURNED_AT].to_numpy(dtype="datetime64[ns]")
        ra = np.where(np.isnat(ra), never, ra.astype(np.int64))
    else:
        ra = np.full(len(rows_ev), never, dtype=np.int64)
    if kind == "temporal":
        horizon = {
            "train_inner": bounds["valid_start"].value,
            "train": bounds["cutoff"].value,
            "valid": bounds["cutoff"].value,  # what train knows
            "test": never,
        }
    else:  # a pair's events, its returns included, are all in one part
        horizon = dict.fromkeys(PARTS, never)
    unreturned = {part: ra >= h for part, h in horizon.items()}

    # 3b. training filters: bots, then k-core, each training part on its own events -------
    step("k-core")
    is_ti = (lab == TRAIN_INNER) & unreturned["train_inner"]
    is_tr = ((lab == TRAIN_INNER) | (lab == VALID)) & unreturned["train"]
    filt = {
        part: _training_filter(
            c,
            p,
            ts,
            rows,
            shape,
            min_customer_interactions,
            min_product_interactions,
            bot_max_events_per_day,
        )
        for part, rows in (("train_inner", is_ti), ("train", is_tr))
    }
    # evaluation parts drop the customers that are bot-like in everything known up to their end:
    # validation uses train's events (train_inner + valid), test every event
    bots_all = cleaning.bot_customers(c[lab >= 0], ts[lab >= 0], bot_max_events_per_day, shape[0])
    bots_eval = {"valid": filt["train"].bots, "test": bots_all}
    tr_f = filt["train"]
    density = wt.density_table({"before k-core": tr_f.before, "after k-core": tr_f.after})
    density["rounds"] = [0, tr_f.rounds]

    # 4. matrices -------------------------------------------------------------------------
    step("matrices")
    relevant = np.ones(len(rows_ev), dtype=bool)
    if test_events:
        relevant = rows_ev["event"].isin(list(test_events)).to_numpy()
    masks = {
        "train_inner": filt["train_inner"].keep,
        "valid": (lab == VALID) & relevant & unreturned["valid"] & ~bots_eval["valid"][c],
        "train": tr_f.keep,
        "test": (lab == TEST) & relevant & unreturned["test"] & ~bots_eval["test"][c],
    }
    # rows the filters left in no part (without them, every labelled row is in one, except the test
    # rows that test_events makes irrelevant)
    in_any = np.logical_or.reduce(list(masks.values()))
    gone = (lab >= 0) & ~in_any & ~((lab == TEST) & ~relevant)
    info.update(
        {
            "events_removed_bots": tr_f.bot_events,
            "bot_customers": int(tr_f.bots.sum()),
            "events_removed_kcore": tr_f.kcore_events,
            "events_removed_kcore_train_inner": filt["train_inner"].kcore_events,
            "events_removed_bots_train_inner": filt["train_inner"].bot_events,
            "events_removed_bots_valid": int(((lab == VALID) & bots_eval["valid"][c]).sum()),
            "events_removed_bots_test": int(((lab == TEST) & bots_all[c]).sum()),
            "purchases_returned": {
                "train_inner": int(((lab == TRAIN_INNER) & ~unreturned["train_inner"]).sum()),
                "train": int(
                    (((lab == TRAIN_INNER) | (lab == VALID)) & ~unreturned["train"]).sum()
                ),
                "valid": int(((lab == VALID) & ~unreturned["valid"]).sum()),
                "test": int(((lab == TEST) & ~unreturned["test"]).sum()),
            },
            "events_used": int(len(rows_ev) - gone.sum()),
        }
    )
    ends: dict[str, pd.Timestamp | None] = {}
    for part in ("train_inner", "train"):
        _, end = _period(ts[masks[part]])
        ends[part] = end
    if kind == "temporal":
        ends["train_inner"] = bounds["valid_start"]
        ends["train"] = bounds["cutoff"]
    mats: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]] = {}
    for part, m in masks.items():
        if signal == "implicit":
            ww = w[m]
            if (
                part in ("train_inner", "train")
                and recency_half_life_days > 0
                and ends[part] is not None
            ):
                ww = ww * wt.recency_decay(ts[m], ends[part], recency_half_life_days)
            mats[part] = wt.aggregate(
                c[m], p[m], ww, shape, scaling=scaling, alpha=alpha, times=ts[m]
            )
        else:
            vals = rows_ev["value"].to_numpy(dtype=float)[m]
            mats[part] = wt.latest_ratings(c[m], p[m], vals, ts[m], shape)
    removed_seen = {"valid": 0, "test": 0}
    if drop_seen_in_test:
        # seen = any weighted event in the training period, before the training filters: a pair
        # the customer already had is no discovery, even if a filter kept it from the model
        before_filters = {
            "valid": lab == TRAIN_INNER,
            "test": (lab == TRAIN_INNER) | (lab == VALID),
        }
        for ev_part in ("valid", "test"):
            ev_m, ev_t = mats[ev_part]
            rows = before_filters[ev_part]
            had = sp.csr_matrix(
                (np.ones(int(rows.sum()), dtype=np.int8), (c[rows], p[rows])), shape=shape
            )
            seen = ev_m.multiply(had != 0).astype(bool)
            if seen.nnz:
                removed_seen[ev_part] = int(seen.nnz)
                keep_m = (ev_m != 0).astype(np.int8) - seen.astype(np.int8)
                keep_m.eliminate_zeros()
                mats[ev_part] = (
                    sp.csr_matrix(ev_m.multiply(keep_m)),
                    sp.csr_matrix(ev_t.multiply(keep_m)),
                )
    if mats["test"][0].nnz == 0:
        raise ValueError(
            f"{kind} split: the test part is empty ({info}); check test_days / fractions / "
            f"test_events"
        )
    for part, before in (("train", is_tr), ("train_inner", is_ti)):
        if mats[part][0].nnz:
            continue
        if not before.any():
            raise ValueError(
                f"{kind} split: the {part} part is empty ({info}); check test_days / valid_days / "
                f"fractions"
            )
        raise ValueError(
            f"{kind} split: the {part} part is empty after the training filters: "
            f"{int(before.sum()):,} event(s) before them; the bot filter "
            f"(preprocessing.bot_max_events_per_day={bot_max_events_per_day}) removed "
            f"{filt[part].bot_events:,}, the k-core "
            f"(preprocessing.min_customer_interactions={min_customer_interactions}, "
            f"min_product_interactions={min_product_interactions}) {filt[part].kcore_events:,}; "
            f"lower them or widen the training period"
        )

    # 5. features (training periods only) ------------------------------------------------
    step("features")
    feats: dict[str, tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]] = {}
    context: dict[str, tuple[sp.csr_matrix, list[str]]] = {}
    feature_tables = []
    for part in ("train_inner", "train"):
        pe = rows_ev[masks[part]]
        cf, cn = feat.customer_features(
            pe,
            ds.customers,
            ds.products,
            customer_ids,
            ends[part],
            min_category_count=min_group_size,
        )
        pf, pn = feat.product_features(
            pe, ds.products, product_ids, tfidf_max_features=tfidf_max_features
        )
        feats[part] = (cf, cn, pf, pn)
        context[part] = feat.context_features(pe, mats[part][0], customer_ids, product_ids)
        if part == "train":
            feature_tables += [
                feat.feature_summary(cf, cn, "customer"),
                feat.feature_summary(pf, pn, "product"),
                feat.feature_summary(context[part][0], context[part][1], "context (per pair)"),
            ]

    # 6. Interactions, normalizers, cold start --------------------------------------------
    step("assemble")
    normalizers: dict[str, wt.RatingNormalizer] = {}
    if signal == "explicit":
        for part in ("train_inner", "train"):
            if mats[part][0].nnz:
                normalizers[part] = wt.RatingNormalizer(normalization).fit(mats[part][0])
    common = {
        "signal": signal,
        "split_kind": kind,
        "seed": int(seed),
        "min_customer_interactions": int(min_customer_interactions),
        "min_product_interactions": int(min_product_interactions),
        "bot_max_events_per_day": int(bot_max_events_per_day),
        "scaling": scaling if signal == "implicit" else None,
        "alpha": alpha if signal == "implicit" else None,
        "event_weights": weights if signal == "implicit" else None,
        "recency_half_life_days": recency_half_life_days,
        "dwell_factor": dwell_factor,
        "test_events": list(test_events),
        "drop_seen_in_test": bool(drop_seen_in_test),
    }
    parts: dict[str, Interactions] = {}
    split_rows = []
    cold_rows = []
    for part in PARTS:
        feature_part = "train_inner" if part in ("train_inner", "valid") else "train"
        cf, cn, pf, pn = feats[feature_part]
        start, end = _period(ts[masks[part]])
        meta = {
            **common,
            "part": part,
            "features_from": feature_part,
            "period_start": _iso(start),
            "period_end": _iso(end),
        }
        if kind == "temporal":
            meta.update({"cutoff": info["cutoff"], "valid_start": info["valid_start"]})
        if part in ("valid", "test"):
            train_part = "train_inner" if part == "valid" else "train"
            cold = _cold(mats[train_part][0], mats[part][0])
            meta.update(cold)
            meta["removed_seen_pairs"] = removed_seen[part]
            cold_rows.append(
                {
                    "part": part,
                    "against": train_part,
                    "customers": cold["n_customers_evaluated"],
                    "cold_customers": cold["n_cold_customers"],
                    "cold_customer_share": cold["n_cold_customers"]
                    / max(cold["n_customers_evaluated"], 1),
                    "products": cold["n_products_evaluated"],
                    "cold_products": cold["n_cold_products"],
                    "cold_product_share": cold["n_cold_products"]
                    / max(cold["n_products_evaluated"], 1),
                    "cold_pair_share": cold["cold_pair_share"],
                    "seen_pairs_removed": removed_seen[part],
                }
            )
        if part in normalizers:
            n = normalizers[part]
            meta["normalization"] = {
                "method": n.method,
                "global_mean": n.global_mean_,
                "global_std": n.global_std_,
            }
        if part in context:
            meta["context_feature_names"] = context[part][1]
        m, tm = mats[part]
        parts[part] = Interactions(
            matrix=m,
            customer_ids=customer_ids,
            product_ids=product_ids,
            customer_features=cf,
            customer_feature_names=cn,
            product_features=pf,
            product_feature_names=pn,
            timestamps=tm,
            meta=meta,
        )
        split_rows.append(
            {
                "part": part,
                "events": int(masks[part].sum()),
                "pairs": int(m.nnz),
                "customers": int((np.diff(m.indptr) > 0).sum()),
                "products": int((np.bincount(m.indices, minlength=shape[1]) > 0).sum()),
                "start": start,
                "end": end,
            }
        )

    # timeline: events per day and part (train = train_inner + valid, shown separately)
    day = pd.DatetimeIndex(ts).normalize()
    part_name = np.array(["train_inner", "valid", "test", "dropped"], dtype=object)
    lab_named = part_name[np.where((lab < 0) | gone, 3, lab)]
    timeline = (
        pd.DataFrame({"day": day, "part": lab_named})
        .groupby(["day", "part"], observed=True)
        .size()
        .rename("events")
        .reset_index()
    )
    info.update(
        {
            "n_customers": shape[0],
            "n_products": shape[1],
            "min_customer_interactions": min_customer_interactions,
            "min_product_interactions": min_product_interactions,
            "bot_max_events_per_day": bot_max_events_per_day,
            "drop_seen_in_test": drop_seen_in_test,
            "removed_seen_pairs": removed_seen,
            "dropped_by_split": int((lab == DROPPED).sum()),
        }
    )
    tables = {
        "signal": signal_table,
        "density": density,
        "split": pd.DataFrame(split_rows),
        "cold_start": pd.DataFrame(cold_rows),
        "features": pd.concat([t for t in feature_tables if len(t)], ignore_index=True),
        "timeline": timeline,
    }
    return SplitResult(
        parts=parts, context=context, normalizers=normalizers, tables=tables, info=info
    )


# ----------------------------------------------------------------------------------------------
# leakage checks
# ----------------------------------------------------------------------------------------------


def _pairs(m: sp.csr_matrix) -> sp.csr_matrix:
    b = sp.csr_matrix(m, copy=True)
    b.data = np.ones_like(b.data)
    b.eliminate_zeros()
    return b


def _same_sparse(a: sp.spmatrix | None, b: sp.spmatrix | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and (sp.csr_matrix(a) != sp.csr_matrix(b)).nnz == 0


def _kcore_violations(m: sp.csr_matrix, min_customer: int, min_product: int) -> tuple[int, int]:
    """Customers / products present in ``m`` below the k-core minimums on ``m``'s own pairs."""
    per_c = np.diff(m.indptr)
    per_p = np.bincount(m.indices, minlength=m.shape[1])
    return (
        int(((per_c > 0) & (per_c < min_customer)).sum()),
        int(((per_p > 0) & (per_p < min_product)).sum()),
    )


def check_split(parts: Mapping[str, Interactions]) -> list[str]:
    """Problems of a split that would let test information leak into training (empty when sound).

    Each check recomputes from the saved parts themselves (matrices, last-event times, features)
    rather than trusting a label the split wrote about itself; the split's settings (kind, k-core
    minimums, ``drop_seen_in_test``, the recorded boundaries) say which checks apply.

    - The parts share one id map. (``train`` need not hold every pair of ``train_inner``: each
      training part is filtered on its own events, and a purchase returned, or a customer turned
      bot-like, during the validation window leaves ``train`` only.)
    - Validation and test share no pair, and no test pair is in ``train`` (pair-based splits, or
      temporal with ``drop_seen_in_test``).
    - Each training part is closed under its own k-core: every customer in it has at least
      ``min_customer_interactions`` products there and every product ``min_product_interactions``
      customers. A k-core that counted pairs of another part (e.g. of the test period) fails this.
    - Temporal: every ``train`` event is before every test event and every ``train_inner`` event
      before every validation event (from the saved last-event times), and the recorded cut-off
      and validation start lie in those gaps.
    - Each evaluation part carries the very features of its training part (same names and values).
    - The cold-start flags match the matrices.
    """
    problems: list[str] = []
    missing = [p for p in PARTS if p not in parts]
    if missing:
        return [f"missing part(s) {missing}"]
    try:
        _check_same_maps(parts, "check_split")
    except ValueError as e:
        return [str(e)]
    tri, val, tr, te = (_pairs(parts[p].matrix) for p in PARTS)
    meta = parts["test"].meta
    kind = meta.get("split_kind")
    disjoint = kind != "temporal" or meta.get("drop_seen_in_test", False)
    if disjoint:
        if val.multiply(te).nnz:
            problems.append(f"{val.multiply(te).nnz} pair(s) in both valid and test")
        if te.multiply(tr).nnz:
            problems.append(f"{te.multiply(tr).nnz} test pair(s) also in train")
    min_c = meta.get("min_customer_interactions")
    min_p = meta.get("min_product_interactions")
    if min_c is not None and min_p is not None:
        for part, m in (("train_inner", tri), ("train", tr)):
            bad_c, bad_p = _kcore_violations(m, int(min_c), int(min_p))
            if bad_c or bad_p:
                problems.append(
                    f"{part}: {bad_c} customer(s) with fewer than {min_c} products and {bad_p} "
                    f"product(s) with fewer than {min_p} customers in {part} itself: the k-core "
                    "did not run on this part's own data"
                )
    if kind == "temporal":

        def times(part: str) -> np.ndarray | None:
            t = parts[part].timestamps
            return None if t is None else t.data

        for early, late in (("train", "test"), ("train_inner", "valid")):
            a, b = times(early), times(late)
            if a is not None and b is not None and len(a) and len(b) and a.max() >= b.min():
                n = int((a >= b.min()).sum())
                problems.append(
                    f"{early}: {n} pair(s) with a last event at or after the first {late} event"
                )
        cut = pd.Timestamp(meta["cutoff"]).value / 1e9
        vstart = pd.Timestamp(meta["valid_start"]).value / 1e9
        checks = (
            ("train", lambda t: t >= cut, "at or after the cut-off"),
            ("train_inner", lambda t: t >= vstart, "at or after the validation start"),
            ("valid", lambda t: (t < vstart) | (t >= cut), "outside the validation window"),
            ("test", lambda t: t < cut, "before the cut-off"),
        )
        for part, bad, what in checks:
            t = times(part)
            if t is None:
                problems.append(f"{part}: no timestamps saved, cannot check the temporal order")
                continue
            n_bad = int(bad(t).sum())
            if n_bad:
                problems.append(f"{part}: {n_bad} pair(s) with a last event {what}")
    for ev_part, tr_part in (("valid", "train_inner"), ("test", "train")):
        ev, trn = parts[ev_part], parts[tr_part]
        same = (
            list(ev.customer_feature_names or []) == list(trn.customer_feature_names or [])
            and list(ev.product_feature_names or []) == list(trn.product_feature_names or [])
            and _same_sparse(ev.customer_features, trn.customer_features)
            and _same_sparse(ev.product_features, trn.product_features)
        )
        if not same:
            problems.append(f"{ev_part}: its features are not those of {tr_part}")
        m = ev.meta
        if "cold_customers" in m:
            trm = trn.matrix
            cold = np.asarray(m["cold_customers"], dtype=np.int64)
            if len(cold) and (np.diff(trm.indptr)[cold] > 0).any():
                problems.append(
                    f"{ev_part}: a flagged cold-start customer has {tr_part} interactions"
                )
            expect = _cold(trm, ev.matrix)
            if expect["n_cold_customers"] != len(cold) or expect["n_cold_products"] != len(
                m.get("cold_products", [])
            ):
                problems.append(f"{ev_part}: cold-start flags do not match the matrices")
    return problems


def assert_split_ok(parts: Mapping[str, Interactions]) -> None:
    """Raise ``ValueError`` listing :func:`check_split`'s problems, if any."""
    problems = check_split(parts)
    if problems:
        raise ValueError("split failed its leakage checks:\n  - " + "\n  - ".join(problems))


# ----------------------------------------------------------------------------------------------
# the artefact
# ----------------------------------------------------------------------------------------------


def _check_same_maps(parts: Mapping[str, Interactions], where: str) -> None:
    names = list(parts)
    if not names:
        raise ValueError(f"{where}: no parts")
    ref = parts[names[0]]
    for n in names[1:]:
        o = parts[n]
        if not (
            np.array_equal(o.customer_ids, ref.customer_ids)
            and np.array_equal(o.product_ids, ref.product_ids)
        ):
            raise ValueError(f"{where}: part {n!r} does not share the id maps of part {names[0]!r}")


def save_split(
    folder: str | os.PathLike,
    parts: Mapping[str, Interactions],
    *,
    context: Mapping[str, tuple[sp.csr_matrix, list[str]]] | None = None,
    normalizers: Mapping[str, wt.RatingNormalizer] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write the parts of a split to ``folder/<part>/`` and ``folder/split.json``.

    Parameters
    ----------
    folder : str or path
        Usually ``<run_dir>/split``.
    parts : dict of str -> Interactions
        Parts sharing one id map (checked).
    context : dict, optional
        Per part, the context matrix (rows = stored pairs in CSR order) and its names:
        ``<part>/context.npz`` + ``<part>/context.json``.
    normalizers : dict, optional
        Per part, a fitted :class:`~recnb.weighting.RatingNormalizer`: ``<part>/normalization.*``.
    info : dict, optional
        Split settings written to ``split.json``.
    """
    folder = Path(folder)
    _check_same_maps(parts, f"save_split({folder})")
    for name, inter in parts.items():
        sub = inter.save(folder / name)
        if context and name in context:
            m, names = context[name]
            if m.shape != (inter.nnz, len(names)):
                raise ValueError(
                    f"save_split: context of {name!r} has shape {m.shape}, expected ({inter.nnz}, {len(names)})"
                )
            write_with(sub / "context.npz", lambda t, m=m: _save_npz(t, m))
            write_json(sub / "context.json", {"feature_names": list(names)})
        if normalizers and name in normalizers:
            normalizers[name].save(sub, inter.customer_ids)
    write_json(folder / "split.json", {"parts": list(parts), "info": dict(info or {})})
    return folder


def _save_npz(path: Path, m: sp.spmatrix) -> None:
    with open(path, "wb") as fh:
        sp.save_npz(fh, sp.csr_matrix(m))


def load_split(
    folder: str | os.PathLike, parts: Sequence[str] | None = None
) -> dict[str, Interactions]:
    """Read the parts written by :func:`save_split` (checks that they share one id map).

    Parameters
    ----------
    folder : path
        ``<run_dir>/split``.
    parts : sequence of str, optional
        Read only these parts (e.g. ``["train_inner", "valid"]`` for tuning, so the test part is
        never opened); default every part listed in ``split.json``.
    """
    folder = Path(folder)
    if parts is None:
        if not (folder / "split.json").exists():
            raise FileNotFoundError(
                f"{folder}/split.json not found: run the preprocessing stage (02_preprocessing) first"
            )
        names = list(read_json(folder / "split.json")["parts"])
    else:
        names = list(parts)
        missing = [n for n in names if not (folder / n / "meta.json").exists()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: split part(s) {missing} not found; run the preprocessing stage "
                "(02_preprocessing) first"
            )
    parts = {n: Interactions.load(folder / n) for n in names}
    _check_same_maps(parts, f"load_split({folder})")
    return parts


def split_info(folder: str | os.PathLike) -> dict[str, Any]:
    """The settings saved with a split (``split.json``'s ``info``)."""
    return dict(read_json(Path(folder) / "split.json").get("info", {}))


def load_context(folder: str | os.PathLike, part: str) -> tuple[sp.csr_matrix, list[str]] | None:
    """Context features of a part (rows = stored pairs of its matrix in CSR order), or None."""
    sub = Path(folder) / part
    if not (sub / "context.npz").exists():
        return None
    return sp.load_npz(sub / "context.npz").tocsr(), list(
        read_json(sub / "context.json")["feature_names"]
    )


def load_normalizer(folder: str | os.PathLike, part: str) -> wt.RatingNormalizer:
    """The rating normalizer saved with a (training) part of an explicit split."""
    sub = Path(folder) / part
    if not (sub / "normalization.json").exists():
        raise FileNotFoundError(
            f"{sub}: no normalization saved (only explicit splits have one, for train_inner and train)"
        )
    ids = pd.read_parquet(sub / "customers.parquet")["customer_id"].to_numpy(dtype=object)
    return wt.RatingNormalizer.load(sub, ids)


# ----------------------------------------------------------------------------------------------
# what the report says
# ----------------------------------------------------------------------------------------------


def removal_overview(
    notes: Sequence[Mapping[str, Any]], cleaning_table: pd.DataFrame, result: SplitResult
) -> pd.DataFrame:
    """Every removal from source to split in one table: ``stage, step, rows, reason``.

    For loader and privacy steps ``rows`` is what the step reported (for the privacy scrub: the
    customer records changed); for the other stages it counts removed events, or pairs for the
    ``split`` stage.

    ``notes`` are the dataset's notes from loading and the privacy scrub (cleaning notes, which
    :func:`recnb.cleaning.clean` also appends there, are taken from ``cleaning_table`` instead).
    """
    rows = [
        {
            "stage": "privacy" if str(n["step"]).startswith("privacy:") else "load",
            "step": n["step"],
            "rows": int(n["rows"]),
            "reason": n["reason"],
        }
        for n in notes
        if not str(n["step"]).startswith("cleaning:")
    ]
    rows += [
        {"stage": "clean", "step": r.step, "rows": int(r.rows), "reason": r.reason}
        for r in cleaning_table.itertuples()
    ]
    info = result.info
    signal = info["signal"]
    rows.append(
        {
            "stage": "signal",
            "step": "events without weight",
            "rows": info["events_zero_weight"],
            "reason": "event types with weight 0"
            if signal == "implicit"
            else "explicit signal: events other than ratings",
        }
    )
    for part in ("train", "test"):
        n = info.get("purchases_returned", {}).get(part, 0)
        if n:
            rows.append(
                {
                    "stage": "returns",
                    "step": f"purchases returned ({part})",
                    "rows": n,
                    "reason": f"{part} purchase events whose returns caught up before the part's "
                    "end (a return after it stays unknown to the part)",
                }
            )
    if info.get("bot_max_events_per_day", 0) > 0:
        rows.append(
            {
                "stage": "bots",
                "step": "bot-like customers (train)",
                "rows": info["events_removed_bots"],
                "reason": f"{info['bot_customers']} customer(s) with a day of more than "
                f"{info['bot_max_events_per_day']} events in train's own events",
            }
        )
        for part in ("valid", "test"):
            rows.append(
                {
                    "stage": "bots",
                    "step": f"bot-like customers ({part})",
                    "rows": info[f"events_removed_bots_{part}"],
                    "reason": f"{part} events of customers bot-like in "
                    + ("train's events" if part == "valid" else "all events"),
                }
            )
    rows.append(
        {
            "stage": "k-core",
            "step": "sparse customers and products (train)",
            "rows": info["events_removed_kcore"],
            "reason": f"customers with < {info['min_customer_interactions']} products or products "
            f"with < {info['min_product_interactions']} customers in train's own events, repeated "
            "until stable; their validation and test events stay (as cold start)",
        }
    )
    if info.get("dropped_by_split"):
        rows.append(
            {
                "stage": "split",
                "step": "groups below min_rating",
                "rows": info["dropped_by_split"],
                "reason": "stratified split: pairs of groups with fewer than min_rating pairs",
            }
        )
    for part, n in info.get("removed_seen_pairs", {}).items():
        if n:
            rows.append(
                {
                    "stage": "split",
                    "step": f"{part} pairs already seen",
                    "rows": n,
                    "reason": f"{part} pairs (not events) the customer already had in the matching "
                    "training period (before the training filters)",
                }
            )
    return pd.DataFrame(rows, columns=["stage", "step", "rows", "reason"])


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if x < 0.1 else f"{100 * x:.0f}%"


def _day(t: Any) -> str:
    return "—" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d")


def describe_split(result: SplitResult) -> str:
    """One paragraph on the split: kind, sizes, time ranges."""
    info = result.info
    t = result.tables["split"].set_index("part")
    kind = info["kind"]
    n_train, n_test, n_valid = (int(t.loc[p, "pairs"]) for p in ("train", "test", "valid"))
    if kind == "temporal":
        # measured, not info["test_days"]: a fixed cutoff overrides test_days
        test_span = (
            pd.Timestamp(t.loc["test", "end"]) - pd.Timestamp(info["cutoff"])
        ) / pd.Timedelta(days=1)
        head = (
            f"A global temporal split at {_day(info['cutoff'])}: the model trains on "
            f"{_day(t.loc['train', 'start'])} to {_day(t.loc['train', 'end'])} and is tested on "
            f"what customers did from the cut-off to {_day(t.loc['test', 'end'])} "
            f"({test_span:.3g} days); the validation window for tuning is the last "
            f"{info['valid_days']:g} days of training."
        )
    elif kind == "leave_last":
        head = (
            f"Leave-last-{info['leave_last_n']}-out: for every customer with enough history, the "
            f"latest {info['leave_last_n']} product(s) are held out for testing and the ones "
            f"before for validation."
        )
    elif kind == "random":
        head = (
            f"A per-customer random holdout: {_pct(info['test_fraction'])} of each customer's products "
            f"for testing, then {_pct(info['valid_fraction'])} of the rest for validation."
        )
    else:
        head = (
            f"A stratified split (by {info['stratify_by']}, seed {info['seed']}, the rule of the "
            f"released Microsoft Recommenders 1.2.1): "
            f"{_pct(1 - info['test_fraction'])} of each {info['stratify_by']}'s pairs (rounded half to "
            "even) for training."
        )
    return (
        f"{head} Training holds {n_train:,} customer-product pairs, validation {n_valid:,} and test "
        f"{n_test:,}, over {info['n_customers']:,} customers and {info['n_products']:,} products."
    )


def describe_cold_start(result: SplitResult) -> str:
    """One sentence per evaluation part on cold-start customers and products."""
    cs = result.tables["cold_start"]
    out = []
    for r in cs.itertuples():
        out.append(
            f"In {r.part}, {r.cold_customers:,} of {r.customers:,} customers "
            f"({_pct(r.cold_customer_share)}) and {r.cold_products:,} of {r.products:,} products "
            f"({_pct(r.cold_product_share)}) have no history in {r.against}; "
            f"{_pct(r.cold_pair_share)} of its pairs involve one of them, which only models with a "
            f"cold-start fallback or side features can hit."
        )
    return " ".join(out)


def summary_paragraph(ds_events: int, cleaning_table: pd.DataFrame, result: SplitResult) -> str:
    """The plain-language summary of the preprocessing stage, computed from the numbers."""
    info = result.info
    removed_clean = int(cleaning_table["rows"].sum())
    dens = result.tables["density"].set_index("stage")
    cold = result.tables["cold_start"].set_index("part")
    test_cold = float(cold.loc["test", "cold_customer_share"]) if "test" in cold.index else 0.0
    signal = (
        "weighted event confidences" if info["signal"] == "implicit" else "the customers' ratings"
    )
    after = dens.loc["after k-core"]
    returned = info.get("purchases_returned", {}).get("train", 0)
    when = " (returned before the cut-off)" if info["kind"] == "temporal" else ""
    before = (f"{returned:,} returned purchase(s){when}, " if returned else "") + (
        f"the bot filter {info['events_removed_bots']:,}, "
        if info.get("bot_max_events_per_day", 0) > 0
        else ""
    )
    return (
        f"Of {ds_events:,} events, cleaning removed {removed_clean:,} "
        f"({_pct(removed_clean / max(ds_events, 1))}). From training went {before}and the k-core "
        f"filter {info['events_removed_kcore']:,}, all decided on the training part's own events, "
        f"so no test-period event decides what is trained on. {info['events_used']:,} events "
        f"remain, turned into {signal}; training covers {int(after['customers']):,} customers and "
        f"{int(after['products']):,} products (density {100 * float(after['density']):.3g}%). "
        + describe_split(result)
        + f" {_pct(test_cold)} of the test customers are new (no training history). "
        + _describe_checks(
            check_split(result.parts),
            info["kind"] != "temporal" or bool(info.get("drop_seen_in_test")),
        )
    )


def _describe_checks(problems: list[str], disjoint: bool) -> str:
    if problems:
        return "LEAKAGE CHECKS FAILED: " + "; ".join(problems) + "."
    pairs = "validation and test share no pair, " if disjoint else ""
    return (
        "Every leakage check passed: training and test are separated as the split kind promises, "
        f"{pairs}and features come from the training part only."
    )
