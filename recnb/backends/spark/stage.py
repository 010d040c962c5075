"""Stage glue: the preprocessing stage's split built on Spark, as the artefact the notebooks read.

:func:`build_split_spark` takes the same arguments as :func:`recnb.prep.split.build_split` and
returns the same :class:`~recnb.prep.split.SplitResult`: the signal, labels, training filters and
aggregation run on Spark (:func:`~recnb.backends.spark.prep.spark_build_split`); the features, the
parts' ``meta`` and the cold-start flags are computed in memory by ``build_split``'s own phase
functions on the event rows Spark chose. ``tests/test_spark_stage.py`` checks that
:func:`recnb.prep.split.save_split` writes the same bytes for both (``split.json`` differs only by
the ``engine`` it records), so stage 03 and the reports cannot tell which engine ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recnb.data.schema import Dataset
from recnb.prep import split as sl
from recnb.prep import weighting as wt
from recnb.prep.settings import PrepSettings

# build_split's own in-memory phases, run on the rows the Spark part chose
from recnb.prep.split.assemble import _features, _parts, _training_ends

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["build_split_spark"]


def build_split_spark(
    ds: Dataset,
    spark: SparkSession,
    settings: PrepSettings | None = None,
    *,
    run_seed: int = 42,
    on_step: Callable[[str], None] | None = None,
) -> sl.SplitResult:
    """:func:`recnb.prep.split.build_split` with its heavy part on Spark (same arguments, same result).

    Parameters
    ----------
    ds : Dataset
        Cleaned, privacy-scrubbed dataset, events in source order.
    spark : pyspark.sql.SparkSession
        The session to run on (:func:`recnb.backends.spark.session.spark_session`).
    settings : PrepSettings, optional
        As for :func:`~recnb.prep.split.build_split`; default ``PrepSettings()``. The Spark engine
        runs the split kinds ``"temporal"`` and ``"stratified"`` (another kind stops with a message
        naming the engine).
    run_seed : int
        Seed of the stratified split when ``settings.seed`` is None.
    on_step : callable, optional
        Called with the name of each phase as it starts.

    Returns
    -------
    SplitResult
    """
    from recnb.backends.spark import prep

    s = PrepSettings() if settings is None else settings
    signal, kind, seed = s.signal, s.split_kind, s.split_seed(run_seed)

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    step("signal")
    events = prep.events_to_spark(spark, ds.events).cache()
    weights = dict(s.event_weights)
    step("split")
    res = prep.spark_build_split(events, s, run_seed=run_seed)
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
    # each part's rows as a mask over the events: the in-memory phases below then run on exactly
    # the rows the Spark part chose (build_split's own functions, so the two cannot drift apart)
    masks = {}
    for part, r in rows.items():
        masks[part] = np.zeros(len(ds.events), dtype=bool)
        masks[part][r] = True
    bounds = None
    if kind == "temporal":
        bounds = {
            "valid_start": pd.Timestamp(info["valid_start"]),
            "cutoff": pd.Timestamp(info["cutoff"]),
        }

    step("features")
    ends = _training_ends(ts_all, masks, bounds)
    feats, context, feature_table = _features(
        ds, ds.events, masks, mats, customer_ids, product_ids, ends, s
    )

    step("assemble")
    normalizers: dict[str, wt.RatingNormalizer] = {}
    if signal == "explicit":
        for part in ("train_inner", "train"):
            if mats[part][0].nnz:
                normalizers[part] = wt.RatingNormalizer(s.normalization).fit(mats[part][0])
    parts, split_table, cold_table = _parts(
        mats,
        masks,
        ts_all,
        feats,
        context,
        normalizers,
        info["removed_seen_pairs"],
        customer_ids,
        product_ids,
        info,
        weights,
        seed,
        s,
    )
    tables = {
        **res.tables,
        "split": split_table,
        "cold_start": cold_table,
        "features": feature_table,
    }
    tables = {
        k: tables[k] for k in ("signal", "density", "split", "cold_start", "features", "timeline")
    }
    return sl.SplitResult(
        parts=parts, context=context, normalizers=normalizers, tables=tables, info=info
    )
