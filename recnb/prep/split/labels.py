"""Label functions: which event rows or (customer, product) pairs go to which part of a split.

Split kinds
    ``"temporal"``: a global cut-off; every event before it is training, every event from it on is
    test, and a validation window is carved from the end of the training period
    (:func:`temporal_labels`).
    ``"leave_last"``: per customer, the last ``n`` distinct products (by their last event) are test and
    the ``n`` before them validation (:func:`leave_last_labels`).
    ``"random"``: per customer, a random share of the distinct products is test, then a share of the
    rest validation (:func:`random_holdout_labels`).
    ``"stratified"``: the stratified split of the released Microsoft Recommenders (1.2.1)
    (:mod:`recnb.prep.split.stratified`), then the same split again on the training rows for
    validation.
Pair-based kinds assign whole (customer, product) pairs, so a pair is never in two parts.
:func:`split_labels` applies the kind a :class:`~recnb.prep.settings.PrepSettings` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recnb.prep.settings import PrepSettings
from recnb.prep.split.stratified import stratified_labels

__all__ = [
    "DROPPED",
    "PARTS",
    "TEST",
    "TRAIN_INNER",
    "VALID",
    "iso_time",
    "leave_last_labels",
    "random_holdout_labels",
    "split_labels",
    "temporal_labels",
]

PARTS: tuple[str, ...] = ("train_inner", "valid", "train", "test")
"""The parts of a saved split."""

TRAIN_INNER, VALID, TEST, DROPPED = 0, 1, 2, -1
"""Row / pair labels used by the label functions."""


def iso_time(t: pd.Timestamp | None) -> str | None:
    """ISO text of a time (None stays None), as split metadata records it."""
    return None if t is None else t.isoformat()


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


def check_valid_window(
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


def split_labels(
    settings: PrepSettings,
    ts: np.ndarray,
    pair: np.ndarray,
    pair_c: np.ndarray,
    pair_p: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any], dict[str, pd.Timestamp] | None]:
    """Label every weighted event row with its part, by the split kind of ``settings``.

    Parameters
    ----------
    settings : PrepSettings
    ts : numpy.ndarray of datetime64[ns]
        Event times.
    pair : numpy.ndarray of int
        Pair code of each event row (pairs numbered in order of their first event).
    pair_c, pair_p : numpy.ndarray of int
        Customer and product code of each pair.
    seed : int
        Seed of the random and stratified kinds.

    Returns
    -------
    (numpy.ndarray, dict, dict or None)
        Label per event row (:data:`TRAIN_INNER`, :data:`VALID`, :data:`TEST`, :data:`DROPPED`);
        the kind's settings as the split records them; the temporal boundaries
        (``{"cutoff", "valid_start"}``, None for the pair-based kinds).
    """
    s = settings
    info: dict[str, Any] = {}
    if s.split_kind == "temporal":
        lab, bounds = temporal_labels(
            ts, test_days=s.test_days, valid_days=s.valid_days, cutoff=s.cutoff
        )
        info.update(
            {"cutoff": iso_time(bounds["cutoff"]), "valid_start": iso_time(bounds["valid_start"])}
        )
        info.update({"test_days": s.test_days, "valid_days": s.valid_days})
        check_valid_window(ts, lab, bounds, s.valid_days)
        return lab, info, bounds
    if s.split_kind == "leave_last":
        last = np.full(len(pair_c), np.iinfo(np.int64).min)
        np.maximum.at(last, pair, ts.astype(np.int64))
        plab = leave_last_labels(
            pair_c, last.astype("datetime64[ns]"), s.leave_last_n, s.leave_last_n
        )
        info["leave_last_n"] = s.leave_last_n
    elif s.split_kind == "random":
        plab = random_holdout_labels(pair_c, s.test_fraction, s.valid_fraction, seed)
        info.update({"test_fraction": s.test_fraction, "valid_fraction": s.valid_fraction})
    else:
        groups = pair_c if s.stratify_by == "user" else pair_p
        s1 = stratified_labels(groups, float(1.0 - s.test_fraction), seed, s.min_rating)
        plab = np.where(s1 == 0, TRAIN_INNER, np.where(s1 == 1, TEST, DROPPED))
        tr = np.flatnonzero(s1 == 0)
        if s.valid_fraction > 0 and len(tr):
            s2 = stratified_labels(groups[tr], float(1.0 - s.valid_fraction), seed, 1)
            plab[tr[s2 == 1]] = VALID
        info.update(
            {
                "test_fraction": s.test_fraction,
                "valid_fraction": s.valid_fraction,
                "stratify_by": s.stratify_by,
                "min_rating": s.min_rating,
            }
        )
    return plab[pair], info, None
