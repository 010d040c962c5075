"""Assembly of a split: cleaned events -> weighted, filtered, split :class:`Interactions` with features.

:func:`build_split` runs the phases in order, each a function of its own: the training signal per
event row, the shared id map, the labels (:mod:`recnb.prep.split.labels`), the returns each part
knows of, the training filters (bots, then the k-core) on each training part's own events, the
matrices, the evaluation pairs the customer had already seen, the features of each training period,
and the four parts with their cold-start records. :func:`removal_overview` lists every removal from
the source file to the split.

The result holds four parts sharing one id map: ``train_inner`` (tuning fit), ``valid`` (tuning
target), ``train`` (final fit: train_inner + valid) and ``test``. The evaluation parts' ``meta``
flags cold-start customers and products (no interaction in the matching training part). Explicit
data keep the rating in the matrix (``meta["signal"] == "explicit"``) and carry a
:class:`~recnb.prep.weighting.RatingNormalizer` fitted on the matching training part.

Training filters
    The netting of returns, the bot filter and the k-core decide what and who stays in training, so
    they run on training data only, each training part on its own events, after the split:
    ``train_inner`` is filtered on ``train_inner``'s events, ``train`` on ``train``'s
    (``train_inner`` + ``valid``). No event of a later part can move a customer or a product into (or
    out of) an earlier one. A purchase marked returned by :func:`recnb.prep.cleaning.handle_returns`
    (column ``returned_at``) leaves a temporal part only when the return came before the part's end
    (``valid``: the cut-off, what ``train`` knows). What the filters remove from a training part stays
    in the evaluation parts: a customer the k-core drops from ``train`` but who has test pairs is a
    cold-start customer of the test part. The evaluation parts drop the customers that are bot-like
    in everything known up to their end (``valid``: ``train``'s events; ``test``: every event).

    "Training data" per split kind: for ``"temporal"``, the events before the validation start
    (``train_inner``) or the cut-off (``train``); for the per-customer kinds (``"leave_last"``,
    ``"random"``, ``"stratified"``), which hold out pairs rather than a period, the events of the
    pairs labelled ``train_inner`` (and ``valid`` for ``train``): a held-out pair never counts
    towards a customer's or a product's k-core degree. The labels themselves are drawn on every
    weighted pair (the stratified ``min_rating`` is part of that draw, as in Recommenders 1.2.1).

    The shared id map covers every customer and product with a weighted event, filtered or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.data.schema import EVENT_TYPES, Dataset
from recnb.prep import features as feat
from recnb.prep import weighting as wt
from recnb.prep.cleaning import RETURNED_AT, bot_customers
from recnb.prep.kcore import density_table, kcore
from recnb.prep.settings import PrepSettings
from recnb.prep.split.checks import cold_start
from recnb.prep.split.labels import (
    DROPPED,
    PARTS,
    TEST,
    TRAIN_INNER,
    VALID,
    iso_time,
    split_labels,
)

__all__ = ["SplitResult", "build_split", "removal_overview"]

#: parts whose events train a model; the other two are evaluated against them
TRAINING_PARTS: tuple[str, ...] = ("train_inner", "train")

_NEVER = np.iinfo(np.int64).max


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


def build_split(
    ds: Dataset,
    settings: PrepSettings | None = None,
    *,
    run_seed: int = 42,
    on_step: Callable[[str], None] | None = None,
) -> SplitResult:
    """Events of a cleaned dataset -> weighted, k-cored, split :class:`Interactions` with features.

    Parameters
    ----------
    ds : Dataset
        Cleaned, privacy-scrubbed dataset (:func:`recnb.prep.cleaning.clean`), events in source
        order.
    settings : PrepSettings, optional
        Signal, training filters, split kind and features (see :class:`PrepSettings` for each
        setting); default ``PrepSettings()``. Its cleaning settings are not used here.
    run_seed : int
        Seed of the random and stratified splits when ``settings.seed`` is None.
    on_step : callable, optional
        Called with the name of each phase as it starts (``"signal"``, ``"split"``, ``"k-core"``,
        ``"matrices"``, ``"features"``, ``"assemble"``); progress lines and the benchmark's timings.

    Returns
    -------
    SplitResult

    Notes
    -----
    See the module docstring for the training filters and what "training data" means per kind.
    """
    s = PrepSettings() if settings is None else settings
    seed = s.split_seed(run_seed)
    step = on_step or (lambda name: None)
    events = ds.events

    step("signal")
    rows_ev, w, weights, signal_table = _signal(events, s)
    # The shared id map holds every customer and product with a weighted event. It does not
    # depend on the training filters, so what they remove from training never changes the shape
    # of a part, and an evaluation part can name customers and products cold in training.
    c, customer_ids = _ids(rows_ev["customer_id"])
    p, product_ids = _ids(rows_ev["product_id"])
    shape = (len(customer_ids), len(product_ids))
    ts = rows_ev["timestamp"].to_numpy(dtype="datetime64[ns]")

    step("split")
    info: dict[str, Any] = {
        "kind": s.split_kind,
        "signal": s.signal,
        "seed": int(seed),
        "events_in": len(events),
        "events_zero_weight": len(events) - len(rows_ev),
    }
    pair, pair_first = pd.factorize(c * shape[1] + p, sort=False)  # pairs in order of first event
    lab, kind_info, bounds = split_labels(
        s, ts, pair, pair_first // shape[1], pair_first % shape[1], seed
    )
    info.update(kind_info)
    unreturned = _unreturned(rows_ev, bounds)

    step("k-core")
    filt, bots_eval = _training_filters(c, p, ts, lab, unreturned, shape, s)
    density = density_table(
        {"before k-core": filt["train"].before, "after k-core": filt["train"].after}
    )
    density["rounds"] = [0, filt["train"].rounds]

    step("matrices")
    relevant = np.ones(len(rows_ev), dtype=bool)
    if s.test_events:
        relevant = rows_ev["event"].isin(list(s.test_events)).to_numpy()
    masks = {
        "train_inner": filt["train_inner"].keep,
        "valid": (lab == VALID) & relevant & unreturned["valid"] & ~bots_eval["valid"][c],
        "train": filt["train"].keep,
        "test": (lab == TEST) & relevant & unreturned["test"] & ~bots_eval["test"][c],
    }
    # rows the filters left in no part (without them, every labelled row is in one, except the test
    # rows that test_events makes irrelevant)
    gone = (lab >= 0) & ~np.logical_or.reduce(list(masks.values())) & ~((lab == TEST) & ~relevant)
    info.update(_removal_counts(lab, c, filt, bots_eval, unreturned, len(rows_ev) - gone.sum()))
    ends = _training_ends(ts, masks, bounds)
    mats = _matrices(rows_ev, c, p, ts, w, masks, ends, shape, s)
    removed_seen = {"valid": 0, "test": 0}
    if s.drop_seen_in_test:
        removed_seen = _drop_seen(mats, lab, c, p, shape)
    _check_not_empty(mats, lab, filt, info, s)

    step("features")
    feats, context, feature_table = _features(
        ds, rows_ev, masks, mats, customer_ids, product_ids, ends, s
    )

    step("assemble")
    normalizers: dict[str, wt.RatingNormalizer] = {}
    if s.signal == "explicit":
        for part in TRAINING_PARTS:
            if mats[part][0].nnz:
                normalizers[part] = wt.RatingNormalizer(s.normalization).fit(mats[part][0])
    parts, split_table, cold_table = _parts(
        mats,
        masks,
        ts,
        feats,
        context,
        normalizers,
        removed_seen,
        customer_ids,
        product_ids,
        info,
        weights,
        seed,
        s,
    )
    info.update(
        {
            "n_customers": shape[0],
            "n_products": shape[1],
            "min_customer_interactions": s.min_customer_interactions,
            "min_product_interactions": s.min_product_interactions,
            "bot_max_events_per_day": s.bot_max_events_per_day,
            "drop_seen_in_test": s.drop_seen_in_test,
            "removed_seen_pairs": removed_seen,
            "dropped_by_split": int((lab == DROPPED).sum()),
        }
    )
    tables = {
        "signal": signal_table,
        "density": density,
        "split": split_table,
        "cold_start": cold_table,
        "features": feature_table,
        "timeline": _timeline(ts, lab, gone),
    }
    return SplitResult(
        parts=parts, context=context, normalizers=normalizers, tables=tables, info=info
    )


# ----------------------------------------------------------------------------------------------
# the phases
# ----------------------------------------------------------------------------------------------


def _signal(
    events: pd.DataFrame, s: PrepSettings
) -> tuple[pd.DataFrame, np.ndarray, dict[str, float], pd.DataFrame]:
    """The weighted event rows, their weights, the weights used and the signal table."""
    weights = dict(s.event_weights)
    if s.signal == "implicit":
        w = wt.event_weights(events, weights, dwell_factor=s.dwell_factor)
    else:
        if "value" not in events.columns:
            raise ValueError("explicit signal needs a 'value' column with the ratings in events")
        w = (events["event"] == "rating").to_numpy().astype(np.float64)
        if not w.any():
            raise ValueError("explicit signal: the events hold no 'rating' event")
    ev_codes = events["event"].cat.codes.to_numpy()
    table = pd.DataFrame(
        {
            "event": list(EVENT_TYPES),
            "rows": np.bincount(ev_codes, minlength=len(EVENT_TYPES)),
            "weight": [
                weights.get(e, 0.0) if s.signal == "implicit" else float(e == "rating")
                for e in EVENT_TYPES
            ],
            "total_weight": np.bincount(ev_codes, weights=w, minlength=len(EVENT_TYPES)),
        }
    )
    tot = table["total_weight"].sum()
    table["weight_share"] = table["total_weight"] / tot if tot else 0.0
    sel = w > 0
    if not sel.any():
        present = sorted(set(events["event"].astype(str)))
        raise ValueError(
            f"no event carries weight: the events are of type(s) {present}, the weights are "
            f"{weights if s.signal == 'implicit' else {'rating': 1.0}}"
        )
    return events[sel], w[sel], weights, table


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


def _unreturned(
    rows_ev: pd.DataFrame, bounds: Mapping[str, pd.Timestamp] | None
) -> dict[str, np.ndarray]:
    """Per part, the event rows not returned by the part's end.

    A purchase marked returned (:func:`recnb.prep.cleaning.handle_returns`, ``"net"``) leaves the
    parts that end after its return; a part never learns of a return after its own end.
    """
    if RETURNED_AT in rows_ev.columns:
        ra = rows_ev[RETURNED_AT].to_numpy(dtype="datetime64[ns]")
        ra = np.where(np.isnat(ra), _NEVER, ra.astype(np.int64))
    else:
        ra = np.full(len(rows_ev), _NEVER, dtype=np.int64)
    if bounds is not None:  # temporal
        horizon = {
            "train_inner": bounds["valid_start"].value,
            "train": bounds["cutoff"].value,
            "valid": bounds["cutoff"].value,  # what train knows
            "test": _NEVER,
        }
    else:  # a pair's events, its returns included, are all in one part
        horizon = dict.fromkeys(PARTS, _NEVER)
    return {part: ra >= h for part, h in horizon.items()}


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
    rows: np.ndarray  # per event row: in the part before the filters


def _training_filter(
    c: np.ndarray,
    p: np.ndarray,
    ts: np.ndarray,
    rows: np.ndarray,
    shape: tuple[int, int],
    s: PrepSettings,
) -> _Filtered:
    """The bot filter, then the k-core, on the event rows ``rows`` of one training part only."""
    bots = bot_customers(c[rows], ts[rows], s.bot_max_events_per_day, shape[0])
    after_bots = rows & ~bots[c]
    core = kcore(
        c[after_bots],
        p[after_bots],
        s.min_customer_interactions,
        s.min_product_interactions,
        shape,
    )
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
        rows=rows,
    )


def _training_filters(
    c: np.ndarray,
    p: np.ndarray,
    ts: np.ndarray,
    lab: np.ndarray,
    unreturned: Mapping[str, np.ndarray],
    shape: tuple[int, int],
    s: PrepSettings,
) -> tuple[dict[str, _Filtered], dict[str, np.ndarray]]:
    """Bots then k-core on each training part's own events; the bot flags of the evaluation parts.

    The evaluation parts drop the customers that are bot-like in everything known up to their end:
    validation uses train's events (train_inner + valid), test every event.
    """
    is_ti = (lab == TRAIN_INNER) & unreturned["train_inner"]
    is_tr = ((lab == TRAIN_INNER) | (lab == VALID)) & unreturned["train"]
    filt = {
        part: _training_filter(c, p, ts, rows, shape, s)
        for part, rows in (("train_inner", is_ti), ("train", is_tr))
    }
    bots_all = bot_customers(c[lab >= 0], ts[lab >= 0], s.bot_max_events_per_day, shape[0])
    return filt, {"valid": filt["train"].bots, "test": bots_all}


def _removal_counts(
    lab: np.ndarray,
    c: np.ndarray,
    filt: Mapping[str, _Filtered],
    bots_eval: Mapping[str, np.ndarray],
    unreturned: Mapping[str, np.ndarray],
    events_used: int,
) -> dict[str, Any]:
    """What the training filters, the bot flags and the returns removed, per part."""
    tr_f = filt["train"]
    return {
        "events_removed_bots": tr_f.bot_events,
        "bot_customers": int(tr_f.bots.sum()),
        "events_removed_kcore": tr_f.kcore_events,
        "events_removed_kcore_train_inner": filt["train_inner"].kcore_events,
        "events_removed_bots_train_inner": filt["train_inner"].bot_events,
        "events_removed_bots_valid": int(((lab == VALID) & bots_eval["valid"][c]).sum()),
        "events_removed_bots_test": int(((lab == TEST) & bots_eval["test"][c]).sum()),
        "purchases_returned": {
            "train_inner": int(((lab == TRAIN_INNER) & ~unreturned["train_inner"]).sum()),
            "train": int((((lab == TRAIN_INNER) | (lab == VALID)) & ~unreturned["train"]).sum()),
            "valid": int(((lab == VALID) & ~unreturned["valid"]).sum()),
            "test": int(((lab == TEST) & ~unreturned["test"]).sum()),
        },
        "events_used": int(events_used),
    }


def _period(ts: np.ndarray) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if len(ts) == 0:
        return None, None
    return pd.Timestamp(ts.min()), pd.Timestamp(ts.max())


def _training_ends(
    ts: np.ndarray,
    masks: Mapping[str, np.ndarray],
    bounds: Mapping[str, pd.Timestamp] | None,
) -> dict[str, pd.Timestamp | None]:
    """The end of each training period: the temporal boundary, else the part's last event."""
    if bounds is not None:
        return {"train_inner": bounds["valid_start"], "train": bounds["cutoff"]}
    return {part: _period(ts[masks[part]])[1] for part in TRAINING_PARTS}


def _matrices(
    rows_ev: pd.DataFrame,
    c: np.ndarray,
    p: np.ndarray,
    ts: np.ndarray,
    w: np.ndarray,
    masks: Mapping[str, np.ndarray],
    ends: Mapping[str, pd.Timestamp | None],
    shape: tuple[int, int],
    s: PrepSettings,
) -> dict[str, tuple[sp.csr_matrix, sp.csr_matrix]]:
    """Per part, the value matrix and the last-event-time matrix.

    Implicit: confidences of the summed weights (recency measured back from the end of each
    training part; evaluation parts are not decayed). Explicit: the latest rating per pair.
    """
    mats: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]] = {}
    for part, m in masks.items():
        if s.signal == "implicit":
            ww = w[m]
            if part in TRAINING_PARTS and s.recency_half_life_days > 0 and ends[part] is not None:
                ww = ww * wt.recency_decay(ts[m], ends[part], s.recency_half_life_days)
            mats[part] = wt.aggregate(
                c[m], p[m], ww, shape, scaling=s.scaling, alpha=s.alpha, times=ts[m]
            )
        else:
            vals = rows_ev["value"].to_numpy(dtype=float)[m]
            mats[part] = wt.latest_ratings(c[m], p[m], vals, ts[m], shape)
    return mats


def _drop_seen(
    mats: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]],
    lab: np.ndarray,
    c: np.ndarray,
    p: np.ndarray,
    shape: tuple[int, int],
) -> dict[str, int]:
    """Remove from validation and test the pairs the customer had in the matching training period.

    Seen = any weighted event in the training period, before the training filters: a pair the
    customer already had is no discovery, even if a filter kept it from the model. ``mats`` is
    updated in place; returns the pairs removed per part.
    """
    removed = {"valid": 0, "test": 0}
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
            removed[ev_part] = int(seen.nnz)
            keep_m = (ev_m != 0).astype(np.int8) - seen.astype(np.int8)
            keep_m.eliminate_zeros()
            mats[ev_part] = (
                sp.csr_matrix(ev_m.multiply(keep_m)),
                sp.csr_matrix(ev_t.multiply(keep_m)),
            )
    return removed


def _check_not_empty(
    mats: Mapping[str, tuple[sp.csr_matrix, sp.csr_matrix]],
    lab: np.ndarray,
    filt: Mapping[str, _Filtered],
    info: Mapping[str, Any],
    s: PrepSettings,
) -> None:
    """Stop when the test part, or a training part, holds no pair; say which setting emptied it."""
    kind = s.split_kind
    if mats["test"][0].nnz == 0:
        raise ValueError(
            f"{kind} split: the test part is empty ({dict(info)}); check test_days / fractions / "
            f"test_events"
        )
    for part in ("train", "train_inner"):
        if mats[part][0].nnz:
            continue
        before = filt[part].rows
        if not before.any():
            raise ValueError(
                f"{kind} split: the {part} part is empty ({dict(info)}); check test_days / "
                f"valid_days / fractions"
            )
        raise ValueError(
            f"{kind} split: the {part} part is empty after the training filters: "
            f"{int(before.sum()):,} event(s) before them; the bot filter "
            f"(preprocessing.bot_max_events_per_day={s.bot_max_events_per_day}) removed "
            f"{filt[part].bot_events:,}, the k-core "
            f"(preprocessing.min_customer_interactions={s.min_customer_interactions}, "
            f"min_product_interactions={s.min_product_interactions}) {filt[part].kcore_events:,}; "
            f"lower them or widen the training period"
        )


def _features(
    ds: Dataset,
    rows_ev: pd.DataFrame,
    masks: Mapping[str, np.ndarray],
    mats: Mapping[str, tuple[sp.csr_matrix, sp.csr_matrix]],
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    ends: Mapping[str, pd.Timestamp | None],
    s: PrepSettings,
) -> tuple[
    dict[str, tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]],
    dict[str, tuple[sp.csr_matrix, list[str]]],
    pd.DataFrame,
]:
    """Customer, product and context features of each training period (its events only), and the
    feature summary table of ``train``."""
    feats: dict[str, tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]] = {}
    context: dict[str, tuple[sp.csr_matrix, list[str]]] = {}
    summary = []
    for part in TRAINING_PARTS:
        pe = rows_ev[masks[part]]
        cf, cn = feat.customer_features(
            pe,
            ds.customers,
            ds.products,
            customer_ids,
            ends[part],
            min_category_count=s.min_group_size,
        )
        pf, pn = feat.product_features(
            pe, ds.products, product_ids, tfidf_max_features=s.tfidf_max_features
        )
        feats[part] = (cf, cn, pf, pn)
        context[part] = feat.context_features(pe, mats[part][0], customer_ids, product_ids)
        if part == "train":
            summary += [
                feat.feature_summary(cf, cn, "customer"),
                feat.feature_summary(pf, pn, "product"),
                feat.feature_summary(context[part][0], context[part][1], "context (per pair)"),
            ]
    table = pd.concat([t for t in summary if len(t)], ignore_index=True)
    return feats, context, table


def _parts(
    mats: Mapping[str, tuple[sp.csr_matrix, sp.csr_matrix]],
    masks: Mapping[str, np.ndarray],
    ts: np.ndarray,
    feats: Mapping[str, tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]],
    context: Mapping[str, tuple[sp.csr_matrix, list[str]]],
    normalizers: Mapping[str, wt.RatingNormalizer],
    removed_seen: Mapping[str, int],
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    info: Mapping[str, Any],
    weights: Mapping[str, float],
    seed: int,
    s: PrepSettings,
) -> tuple[dict[str, Interactions], pd.DataFrame, pd.DataFrame]:
    """The four :class:`Interactions` with their ``meta``, and the split and cold-start tables."""
    implicit = s.signal == "implicit"
    common = {
        "signal": s.signal,
        "split_kind": s.split_kind,
        "seed": int(seed),
        "min_customer_interactions": int(s.min_customer_interactions),
        "min_product_interactions": int(s.min_product_interactions),
        "bot_max_events_per_day": int(s.bot_max_events_per_day),
        "scaling": s.scaling if implicit else None,
        "alpha": s.alpha if implicit else None,
        "event_weights": dict(weights) if implicit else None,
        "recency_half_life_days": s.recency_half_life_days,
        "dwell_factor": s.dwell_factor,
        "test_events": list(s.test_events),
        "drop_seen_in_test": bool(s.drop_seen_in_test),
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
            "period_start": iso_time(start),
            "period_end": iso_time(end),
        }
        if s.split_kind == "temporal":
            meta.update({"cutoff": info["cutoff"], "valid_start": info["valid_start"]})
        if part in ("valid", "test"):
            train_part = "train_inner" if part == "valid" else "train"
            cold = cold_start(mats[train_part][0], mats[part][0])
            meta.update(cold)
            meta["removed_seen_pairs"] = removed_seen[part]
            cold_rows.append(_cold_row(part, train_part, cold, removed_seen[part]))
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
                "products": int((np.bincount(m.indices, minlength=len(product_ids)) > 0).sum()),
                "start": start,
                "end": end,
            }
        )
    return parts, pd.DataFrame(split_rows), pd.DataFrame(cold_rows)


def _cold_row(part: str, against: str, cold: Mapping[str, Any], seen_removed: int) -> dict:
    return {
        "part": part,
        "against": against,
        "customers": cold["n_customers_evaluated"],
        "cold_customers": cold["n_cold_customers"],
        "cold_customer_share": cold["n_cold_customers"] / max(cold["n_customers_evaluated"], 1),
        "products": cold["n_products_evaluated"],
        "cold_products": cold["n_cold_products"],
        "cold_product_share": cold["n_cold_products"] / max(cold["n_products_evaluated"], 1),
        "cold_pair_share": cold["cold_pair_share"],
        "seen_pairs_removed": seen_removed,
    }


def _timeline(ts: np.ndarray, lab: np.ndarray, gone: np.ndarray) -> pd.DataFrame:
    """Events per day and part (train = train_inner + valid, shown separately)."""
    day = pd.DatetimeIndex(ts).normalize()
    part_name = np.array(["train_inner", "valid", "test", "dropped"], dtype=object)
    lab_named = part_name[np.where((lab < 0) | gone, 3, lab)]
    return (
        pd.DataFrame({"day": day, "part": lab_named})
        .groupby(["day", "part"], observed=True)
        .size()
        .rename("events")
        .reset_index()
    )


# ----------------------------------------------------------------------------------------------
# every removal, source to split
# ----------------------------------------------------------------------------------------------


def removal_overview(
    notes: Sequence[Mapping[str, Any]], cleaning_table: pd.DataFrame, result: SplitResult
) -> pd.DataFrame:
    """Every removal from source to split in one table: ``stage, step, rows, reason``.

    For loader and privacy steps ``rows`` is what the step reported (for the privacy scrub: the
    customer records changed); for the other stages it counts removed events, or pairs for the
    ``split`` stage.

    ``notes`` are the dataset's notes from loading and the privacy scrub (cleaning notes, which
    :func:`recnb.prep.cleaning.clean` also appends there, are taken from ``cleaning_table`` instead).
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
