"""Stage glue: the preprocessing stage's split built on Spark, as the artefact the notebooks read.

:func:`build_split_spark` takes the same arguments as :func:`recnb.split.build_split` and returns
the same :class:`~recnb.split.SplitResult`: the signal, labels, training filters and aggregation
run on Spark (:func:`~recnb.backends.spark.prep.spark_build_split`), the features and the
cold-start flags in memory from the same event rows. ``tests/test_spark_stage.py`` checks that
:func:`recnb.split.save_split` writes the same bytes for both (``split.json`` differs only by the
``engine`` it records), so stage 03 and the reports cannot tell which engine ran.

:func:`session_from_params` starts the session a params file describes (top-level ``engine: spark``
and a ``spark:`` section with ``master`` and ``conf``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb import features as feat
from recnb import split as sl
from recnb import weighting as wt
from recnb.interactions import Interactions
from recnb.schema import Dataset

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["ENGINES", "build_split_spark", "session_from_params"]

#: values of the params key ``engine``
ENGINES: tuple[str, ...] = ("memory", "spark")


def session_from_params(params: Mapping[str, Any]) -> SparkSession:
    """The Spark session of a run: ``spark.master`` and ``spark.conf`` from the params."""
    from recnb.backends.spark.session import spark_session

    section = dict(params.get("spark") or {})
    unknown = sorted(set(section) - {"master", "conf"})
    if unknown:
        raise ValueError(f"params key 'spark': unknown key(s) {unknown}; allowed: master, conf")
    conf = section.get("conf") or {}
    if not isinstance(conf, Mapping):
        raise ValueError(f"params key 'spark.conf' must be a mapping, got {conf!r}")
    return spark_session(master=section.get("master") or None, conf=conf)


def build_split_spark(
    ds: Dataset,
    spark: SparkSession,
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
    on_step: Any = None,
) -> sl.SplitResult:
    """:func:`recnb.split.build_split` with its heavy part on Spark (same arguments, same result).

    ``leave_last_n`` is accepted for the same signature; the Spark engine runs the temporal and
    stratified kinds only (another kind stops with a message naming the engine).
    """
    from recnb.backends.spark import prep

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    step("signal")
    events = prep.events_to_spark(spark, ds.events).cache()
    weights = dict(wt.DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    step("split")
    res = prep.spark_build_split(
        events,
        signal=signal,
        event_weights=weights,
        dwell_factor=dwell_factor,
        recency_half_life_days=recency_half_life_days,
        scaling=scaling,
        alpha=alpha,
        min_customer_interactions=min_customer_interactions,
        min_product_interactions=min_product_interactions,
        bot_max_events_per_day=bot_max_events_per_day,
        kind=kind,
        test_days=test_days,
        valid_days=valid_days,
        cutoff=cutoff,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        stratify_by=stratify_by,
        min_rating=min_rating,
        seed=seed,
        test_events=test_events,
        drop_seen_in_test=drop_seen_in_test,
    )
    step("matrices")
    mats = res.matrices()
    info = dict(res.info)
    rows = {
        part: np.sort(df.select("event_row").toPandas()["event_row"].to_numpy(dtype=np.int64))
        for part, df in res.rows.items()
    }
    events.unpersist()
    ts_all = ds.events["timestamp"].to_numpy(dtype="datetime64[ns]")
    customer_ids, product_ids = res.customer_ids, res.product_ids

    # features, from each training part's own (filtered) events, as in memory ---------------
    step("features")
    ends: dict[str, pd.Timestamp | None] = {}
    for part in ("train_inner", "train"):
        ends[part] = sl._period(ts_all[rows[part]])[1]
    if kind == "temporal":
        ends["train_inner"] = pd.Timestamp(info["valid_start"])
        ends["train"] = pd.Timestamp(info["cutoff"])
    feats: dict[str, tuple[sp.csr_matrix, list[str], sp.csr_matrix, list[str]]] = {}
    context: dict[str, tuple[sp.csr_matrix, list[str]]] = {}
    feature_tables = []
    for part in ("train_inner", "train"):
        pe = ds.events.iloc[rows[part]]
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

    # Interactions, normalizers, cold start (the in-memory assembly) ---------------------------
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
    removed_seen = info["removed_seen_pairs"]
    parts: dict[str, Interactions] = {}
    split_rows, cold_rows = [], []
    for part in sl.PARTS:
        feature_part = "train_inner" if part in ("train_inner", "valid") else "train"
        cf, cn, pf, pn = feats[feature_part]
        start, end = sl._period(ts_all[rows[part]])
        meta = {
            **common,
            "part": part,
            "features_from": feature_part,
            "period_start": sl._iso(start),
            "period_end": sl._iso(end),
        }
        if kind == "temporal":
            meta.update({"cutoff": info["cutoff"], "valid_start": info["valid_start"]})
        if part in ("valid", "test"):
            train_part = "train_inner" if part == "valid" else "train"
            cold = sl._cold(mats[train_part][0], mats[part][0])
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
                "events": len(rows[part]),
                "pairs": int(m.nnz),
                "customers": int((np.diff(m.indptr) > 0).sum()),
                "products": int((np.bincount(m.indices, minlength=m.shape[1]) > 0).sum()),
                "start": start,
                "end": end,
            }
        )
    tables = {
        **res.tables,
        "split": pd.DataFrame(split_rows),
        "cold_start": pd.DataFrame(cold_rows),
        "features": pd.concat([t for t in feature_tables if len(t)], ignore_index=True),
    }
    tables = {
        k: tables[k] for k in ("signal", "density", "split", "cold_start", "features", "timeline")
    }
    return sl.SplitResult(
        parts=parts, context=context, normalizers=normalizers, tables=tables, info=info
    )
