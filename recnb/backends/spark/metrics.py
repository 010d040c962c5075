"""The ranking and beyond-accuracy metrics of :mod:`recnb.metrics`, computed in Spark.

Same definitions (see :mod:`recnb.metrics.ranking` and :mod:`recnb.metrics.beyond`), same
conventions, same tidy output: ``model, customer, metric, k, value``, one row per evaluated
customer (at least one relevant held-out item), metric and cut-off. On the same recommendations the
values equal the in-memory ones to 1e-9 (``tests/test_spark_metrics.py``); they are not always
bit-identical because Spark sums in another order and its ``log2`` is the JVM's.

Inputs are long-format DataFrames, the distributed form of the in-memory arrays:

- ``recs``: ``customer`` (long), ``rank`` (int, 1 = best), ``product`` (long): a top-K list per
  customer (what ``topk[i]`` holds, without the ``-1`` padding);
- ``truth``: ``customer``, ``product``, ``grade`` (double, > 0 relevant): the held-out items;
- ``train``: ``customer``, ``product`` (and optionally ``value``; entries with value <= 0 do not
  count): the training interactions, for popularity.

:func:`topk_to_spark` and :func:`csr_to_spark` turn the in-memory arrays into these frames.
Catalogue-level coverage and Gini come from :func:`spark_catalog_metrics` (point values; the
bootstrap intervals of :func:`recnb.metrics.aggregate_metrics` stay in memory, over per-customer
exposure that is small). AUC needs every product's score per customer and is not computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.metrics._common import CUSTOMER_ROW
from recnb.metrics.evaluate import BEYOND_METRICS
from recnb.metrics.ranking import RANKING_METRICS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "SPARK_PER_CUSTOMER_METRICS",
    "csr_to_spark",
    "spark_beyond_metrics",
    "spark_catalog_metrics",
    "spark_evaluate",
    "spark_ranking_metrics",
    "topk_to_spark",
]

#: per-customer metrics computed in Spark (every one of :mod:`recnb.metrics` except ``auc``)
SPARK_PER_CUSTOMER_METRICS: tuple[str, ...] = RANKING_METRICS + BEYOND_METRICS


def _F() -> Any:
    from pyspark.sql import functions as F

    return F


# ----------------------------------------------------------------------------------------------
# arrays <-> frames
# ----------------------------------------------------------------------------------------------


def topk_to_spark(
    spark: SparkSession, topk: np.ndarray, customers: np.ndarray | None = None
) -> DataFrame:
    """A top-K array (``-1`` pads) as the long ``recs`` frame ``customer, rank, product``.

    ``customers`` labels the rows (default: the row index).
    """
    items = np.asarray(topk, dtype=np.int64)
    n, width = items.shape
    labels = np.arange(n, dtype=np.int64) if customers is None else np.asarray(customers)
    valid = items >= 0
    rows, cols = np.nonzero(valid)
    frame = pd.DataFrame(
        {
            "customer": labels[rows].astype(np.int64),
            "rank": (cols + 1).astype(np.int32),
            "product": items[rows, cols],
        }
    )
    return spark.createDataFrame(frame, schema="customer long, rank int, product long")


def csr_to_spark(
    spark: SparkSession, matrix: sp.spmatrix, value: str = "grade", positive: bool = True
) -> DataFrame:
    """A customers x products sparse matrix as ``customer, product, <value>`` rows.

    ``positive`` keeps only entries > 0 (relevant held-out items, or positive interactions).
    """
    m = sp.coo_matrix(matrix)
    keep = m.data > 0 if positive else np.ones(m.nnz, dtype=bool)
    frame = pd.DataFrame(
        {
            "customer": m.row[keep].astype(np.int64),
            "product": m.col[keep].astype(np.int64),
            value: m.data[keep].astype(np.float64),
        }
    )
    return spark.createDataFrame(frame, schema=f"customer long, product long, {value} double")


def _array_lit(values: Sequence[float]) -> Column:
    F = _F()
    return F.array(*[F.lit(float(v)) for v in values])


def _check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    values = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
    if not values or any(isinstance(k, bool) or int(k) < 1 for k in values):
        raise ValueError(f"cut-offs must be positive integers, got {values}")
    return tuple(sorted({int(k) for k in values}))


# ----------------------------------------------------------------------------------------------
# ranking
# ----------------------------------------------------------------------------------------------


def spark_ranking_metrics(
    recs: DataFrame,
    truth: DataFrame,
    ks: int | Iterable[int] = (5, 10),
    metrics: Sequence[str] | None = None,
    graded: bool = False,
    gain: str = "linear",
) -> DataFrame:
    """Per-customer ranking metrics, as :func:`recnb.metrics.ranking_metric_arrays`.

    Parameters
    ----------
    recs, truth : pyspark.sql.DataFrame
        See the module docstring. Only the first ``max(ks)`` ranks are read.
    ks : int or iterable of int
        Cut-offs.
    metrics : sequence of str, optional
        Names from :data:`recnb.metrics.RANKING_METRICS` (default: all).
    graded, gain
        NDCG with grades as gains (``"linear"``: grade, ``"exponential"``: ``2**grade - 1``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer, metric, k, value`` for the customers with a relevant held-out item.
    """
    from pyspark.sql import Window

    F = _F()
    names = list(RANKING_METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown ranking metric(s) {unknown}; choose from {RANKING_METRICS}")
    if gain not in ("linear", "exponential"):
        raise ValueError(f"gain must be 'linear' or 'exponential', got {gain!r}")
    cutoffs = _check_ks(ks)
    width = max(cutoffs)
    # the in-memory discounts and their cumulative sums, as literals: the same float64 values
    ranks = np.arange(1, width + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    disc = _array_lit(discount)
    cum_disc = _array_lit(np.cumsum(discount))

    def gain_of(grade: Column) -> Column:
        return grade if gain == "linear" else F.pow(F.lit(2.0), grade) - F.lit(1.0)

    rel = truth.filter(F.col("grade") > 0).select("customer", "product", "grade")
    n_rel = rel.groupBy("customer").agg(F.count("*").alias("_R"))
    r = (
        recs.filter(F.col("rank") <= width)
        .join(rel, ["customer", "product"], "left")
        .withColumn("_hit", F.col("grade").isNotNull().cast("double"))
        .withColumn("_grade", F.coalesce(F.col("grade"), F.lit(0.0)))
    )
    by_rank = Window.partitionBy("customer").orderBy("rank")
    r = r.withColumn("_cum", F.sum("_hit").over(by_rank.rowsBetween(Window.unboundedPreceding, 0)))
    r = r.withColumn("_disc", F.element_at(disc, F.col("rank")))
    aggs = [F.count("*").alias("_listed")]
    for k in cutoffs:
        within = F.col("rank") <= k
        aggs += [
            F.sum(F.when(within, F.col("_hit")).otherwise(0.0)).alias(f"_hits{k}"),
            F.sum(
                F.when(
                    within,
                    (gain_of(F.col("_grade")) if graded else F.col("_hit")) * F.col("_disc"),
                ).otherwise(0.0)
            ).alias(f"_dcg{k}"),
            F.sum(
                F.when(within, F.col("_hit") * F.col("_cum") / F.col("rank")).otherwise(0.0)
            ).alias(f"_ap{k}"),
            F.min(F.when(within & (F.col("_hit") > 0), F.col("rank"))).alias(f"_first{k}"),
        ]
    per = r.groupBy("customer").agg(*aggs)
    base = n_rel.join(per, "customer", "left")
    if graded:
        by_grade = Window.partitionBy("customer").orderBy(F.col("grade").desc())
        ideal = rel.withColumn("_pos", F.row_number().over(by_grade)).filter(F.col("_pos") <= width)
        ideal = ideal.withColumn("_g", gain_of(F.col("grade")) * F.element_at(disc, F.col("_pos")))
        ideal = ideal.groupBy("customer").agg(
            *[
                F.sum(F.when(F.col("_pos") <= k, F.col("_g")).otherwise(0.0)).alias(f"_idcg{k}")
                for k in cutoffs
            ]
        )
        base = base.join(ideal, "customer", "left")
    R = F.col("_R").cast("double")
    cells: list[tuple[str, int, Column]] = []
    for k in cutoffs:
        hits = F.coalesce(F.col(f"_hits{k}"), F.lit(0.0))
        precision = hits / F.lit(float(k))
        recall = hits / R
        values: dict[str, Column] = {"precision": precision, "recall": recall}
        values["f1"] = F.when(
            precision + recall > 0, 2 * precision * recall / (precision + recall)
        ).otherwise(F.lit(0.0))
        values["hit_rate"] = (hits > 0).cast("double")
        first = F.col(f"_first{k}")
        values["mrr"] = F.when(first.isNotNull(), 1.0 / first.cast("double")).otherwise(0.0)
        dcg = F.coalesce(F.col(f"_dcg{k}"), F.lit(0.0))
        if graded:
            idcg = F.col(f"_idcg{k}")
        else:
            idcg = F.element_at(cum_disc, F.least(F.col("_R"), F.lit(k)).cast("int"))
        values["ndcg"] = dcg / idcg
        ap = F.coalesce(F.col(f"_ap{k}"), F.lit(0.0))
        values["map_rel"] = ap / R
        values["map_min"] = ap / F.least(R, F.lit(float(k)))
        values["map_msr"] = F.when(F.col("_listed").isNull(), F.lit(float("nan"))).otherwise(ap / R)
        cells += [(name, k, values[name]) for name in RANKING_METRICS if name in names]
    return _melt(base, cells)


def _melt(wide: DataFrame, cells: list[tuple[str, int, Column]]) -> DataFrame:
    """One row per customer and cell ``(metric, k, value)``: the tidy frame, in one pass."""
    F = _F()
    wide = wide.select(
        "customer", *[v.cast("double").alias(f"_v{i}") for i, (_, _, v) in enumerate(cells)]
    ).localCheckpoint(eager=True)
    entries = F.array(
        *[
            F.struct(
                F.lit(name).alias("metric"),
                F.lit(k).cast("long").alias("k"),
                F.col(f"_v{i}").alias("value"),
            )
            for i, (name, k, _) in enumerate(cells)
        ]
    )
    return wide.select("customer", F.explode(entries).alias("_e")).select(
        "customer", "_e.metric", "_e.k", "_e.value"
    )


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


# ----------------------------------------------------------------------------------------------
# popularity and beyond accuracy
# ----------------------------------------------------------------------------------------------


def _popularity(train: DataFrame, n_products: int) -> tuple[DataFrame, int, int]:
    """Per product ``c`` (training customers with a positive interaction), with every product
    ``0..n_products-1`` present; and the number of active customers and ``sum c``."""
    F = _F()
    pos = train
    if "value" in train.columns:
        pos = pos.filter(F.col("value") > 0)
    pos = pos.select("customer", "product").distinct()
    counts = pos.groupBy("product").agg(F.count("*").alias("c"))
    spark = train.sparkSession
    every = spark.range(n_products).withColumnRenamed("id", "product")
    counts = every.join(counts, "product", "left").fillna(0, ["c"]).cache()
    stats = pos.agg(F.countDistinct("customer").alias("u"), F.count("*").alias("n")).first()
    active, total = int(stats["u"]), int(stats["n"])
    if active == 0:
        raise ValueError("train holds no positive interaction; popularity is undefined")
    return counts, active, total


def _popular_order(counts: DataFrame) -> DataFrame:
    """Products with their 1-based position by (count desc, index asc), as a stable argsort."""
    from pyspark.sql import Window

    F = _F()
    w = Window.orderBy(F.col("c").desc(), F.col("product").asc())
    return counts.withColumn("_order", F.row_number().over(w))


def spark_beyond_metrics(
    recs: DataFrame,
    truth: DataFrame,
    train: DataFrame | None,
    n_products: int,
    ks: int | Iterable[int] = (10,),
    metrics: Sequence[str] | None = None,
    item_categories: DataFrame | None = None,
    item_embeddings: DataFrame | None = None,
    popularity_baseline: DataFrame | None = None,
    head_share: float = 0.8,
) -> DataFrame:
    """Per-customer beyond-accuracy metrics, as :func:`recnb.metrics.evaluate` computes them.

    Parameters
    ----------
    recs, truth, train : pyspark.sql.DataFrame
        See the module docstring.
    n_products : int
        Catalogue size.
    ks : int or iterable of int
        Cut-offs.
    metrics : sequence of str, optional
        Names from :data:`recnb.metrics.BEYOND_METRICS`; default every one whose input is given.
    item_categories : pyspark.sql.DataFrame, optional
        ``product, category``.
    item_embeddings : pyspark.sql.DataFrame, optional
        ``product, vector`` (array of double), every vector non-zero.
    popularity_baseline : pyspark.sql.DataFrame, optional
        A ``recs`` frame of the popularity baseline, for serendipity; default the ``k`` most
        popular training products.
    head_share : float
        Interaction share of the popularity head (``aplt``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer, metric, k, value`` for the customers with a relevant held-out item; NaN where
        a metric is undefined (e.g. an empty list).
    """
    from pyspark.sql import Window

    F = _F()
    need = {
        "novelty": train,
        "arp": train,
        "aplt": train,
        "popularity_lift": train,
        "serendipity": train if popularity_baseline is None else popularity_baseline,
        "ild_category": item_categories,
        "ild_embedding": item_embeddings,
    }
    if metrics is None:
        names = [m for m in BEYOND_METRICS if need[m] is not None]
    else:
        names = list(metrics)
        unknown = [m for m in names if m not in BEYOND_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {BEYOND_METRICS}")
        missing = [m for m in names if need[m] is None]
        if missing:
            raise ValueError(f"metric(s) {missing} need inputs that were not given")
    if not 0 < head_share <= 1:
        raise ValueError(f"head_share must lie in (0, 1], got {head_share}")
    cutoffs = _check_ks(ks)
    evaluated = truth.filter(F.col("grade") > 0).select("customer").distinct().cache()
    rel = truth.filter(F.col("grade") > 0).select("customer", "product", F.lit(1.0).alias("_rel"))
    per_item = None
    if train is not None and set(names) & {
        "novelty",
        "arp",
        "aplt",
        "popularity_lift",
        "serendipity",
    }:
        counts, active, total = _popularity(train, n_products)
        ordered = _popular_order(counts)
        cum = F.sum("c").over(Window.orderBy("_order").rowsBetween(Window.unboundedPreceding, 0))
        ordered = ordered.withColumn("_cum", cum)
        n_head = ordered.filter(F.col("_cum") < F.lit(head_share * total)).count() + 1
        per_item = ordered.select(
            "product",
            (
                -F.log2(F.greatest(F.col("c").cast("double"), F.lit(1.0)) / F.lit(float(total)))
            ).alias("_info"),
            (F.col("c") / F.lit(float(active))).alias("_phi"),
            (F.col("_order") > n_head).cast("double").alias("_tail"),
            "_order",
        ).cache()
    width = max(cutoffs)
    lists = recs.filter(F.col("rank") <= width).join(evaluated, "customer", "left_semi")
    if per_item is not None:
        lists = lists.join(per_item, "product", "left")
    if "serendipity" in names:
        lists = lists.join(rel, ["customer", "product"], "left")
        if popularity_baseline is not None:
            base = popularity_baseline.select(
                "customer", "product", F.col("rank").alias("_base_rank")
            )
            lists = lists.join(base, ["customer", "product"], "left")
    lists = lists.localCheckpoint(eager=True)
    within = {k: F.col("rank") <= k for k in cutoffs}
    aggs = []
    for k in cutoffs:
        aggs.append(F.sum(within[k].cast("double")).alias(f"_m{k}"))
        if per_item is not None:
            for m, col in (("novelty", "_info"), ("arp", "_phi"), ("aplt", "_tail")):
                aggs.append(F.sum(F.when(within[k], F.col(col))).alias(f"_{m}{k}"))
        if "serendipity" in names:
            if popularity_baseline is None:
                expected = F.col("_order") <= k
            else:
                expected = F.coalesce(F.col("_base_rank") <= k, F.lit(False))
            aggs.append(
                F.sum((within[k] & F.col("_rel").isNotNull() & ~expected).cast("double")).alias(
                    f"_seren{k}"
                )
            )
    per = evaluated.join(lists.groupBy("customer").agg(*aggs), "customer", "left")
    if "popularity_lift" in names:
        pos = train.filter(F.col("value") > 0) if "value" in train.columns else train
        profile = (
            pos.select("customer", "product")
            .distinct()
            .join(per_item.select("product", "_phi"), "product")
            .groupBy("customer")
            .agg(F.avg("_phi").alias("_pp"))
        )
        per = per.join(profile, "customer", "left")
    if "ild_category" in names:
        cats = lists.join(item_categories.select("product", "category"), "product", "left")
        same = (
            cats.groupBy("customer", "category")
            .agg(*[F.sum(within[k].cast("double")).alias(f"_nc{k}") for k in cutoffs])
            .groupBy("customer")
            .agg(
                *[
                    F.sum(F.col(f"_nc{k}") * (F.col(f"_nc{k}") - 1) / 2.0).alias(f"_same{k}")
                    for k in cutoffs
                ]
            )
        )
        per = per.join(same, "customer", "left")
    if "ild_embedding" in names:
        norm = F.sqrt(F.aggregate("vector", F.lit(0.0), lambda a, y: a + y * y))
        unit = item_embeddings.select(
            "product", F.transform("vector", lambda x: x / norm).alias("_u")
        )
        sq = (
            lists.join(unit, "product")
            .select("customer", "rank", F.posexplode("_u").alias("_d", "_x"))
            .groupBy("customer", "_d")
            .agg(*[F.sum(F.when(within[k], F.col("_x"))).alias(f"_s{k}") for k in cutoffs])
            .groupBy("customer")
            .agg(*[F.sum(F.col(f"_s{k}") * F.col(f"_s{k}")).alias(f"_sq{k}") for k in cutoffs])
        )
        per = per.join(sq, "customer", "left")
    nan = F.lit(float("nan"))
    cells: list[tuple[str, int, Column]] = []
    for k in cutoffs:
        m = F.coalesce(F.col(f"_m{k}"), F.lit(0.0))
        cols: dict[str, Column] = {}
        if per_item is not None:
            for name in ("novelty", "arp", "aplt"):
                cols[name] = F.when(m > 0, F.col(f"_{name}{k}") / m).otherwise(nan)
        if "serendipity" in names:
            cols["serendipity"] = F.coalesce(F.col(f"_seren{k}"), F.lit(0.0)) / F.lit(float(k))
        if "popularity_lift" in names:
            cols["popularity_lift"] = F.coalesce((cols["arp"] - F.col("_pp")) / F.col("_pp"), nan)
        if "ild_category" in names:
            cols["ild_category"] = F.when(
                m >= 2, 1.0 - F.col(f"_same{k}") / (m * (m - 1) / 2.0)
            ).otherwise(nan)
        if "ild_embedding" in names:
            cols["ild_embedding"] = F.when(
                m >= 2, 1.0 - (F.col(f"_sq{k}") - m) / (m * (m - 1))
            ).otherwise(nan)
        cells += [(name, k, cols[name]) for name in BEYOND_METRICS if name in names]
    return _melt(per, cells)


def spark_catalog_metrics(
    recs: DataFrame, n_products: int, ks: int | Iterable[int] = (10,)
) -> pd.DataFrame:
    """Catalogue coverage and Gini of exposure per cut-off (point values), as in memory.

    Exposure (how many lists, cut at ``k``, hold each product) is counted in Spark over every
    product of the catalogue, then sorted and weighted in Spark:
    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)``.

    Returns
    -------
    pandas.DataFrame
        ``metric, k, value, n`` (``n`` = number of lists).
    """
    from pyspark.sql import Window

    F = _F()
    spark = recs.sparkSession
    every = spark.range(n_products).withColumnRenamed("id", "product")
    n_lists = recs.select("customer").distinct().count()
    rows = []
    for k in _check_ks(ks):
        exposure = every.join(
            recs.filter(F.col("rank") <= k).groupBy("product").agg(F.count("*").alias("x")),
            "product",
            "left",
        ).fillna(0, ["x"])
        i = F.row_number().over(Window.orderBy("x", "product"))
        r = (
            exposure.withColumn("_i", i)
            .agg(
                F.avg((F.col("x") > 0).cast("double")).alias("cov"),
                F.sum((2 * F.col("_i") - n_products - 1) * F.col("x")).alias("num"),
                F.sum("x").alias("tot"),
            )
            .first()
        )
        tot = float(r["tot"])
        g = float(r["num"]) / (n_products * tot) if tot > 0 else float("nan")
        rows += [
            ("catalog_coverage", k, float(r["cov"]), n_lists),
            ("gini_exposure", k, g, n_lists),
        ]
    return pd.DataFrame(rows, columns=["metric", "k", "value", "n"])


def spark_evaluate(
    recommendations: Mapping[str, DataFrame],
    truth: DataFrame,
    *,
    n_products: int,
    ks: int | Iterable[int] = (5, 10),
    metrics: Sequence[str] | None = None,
    graded: bool = False,
    gain: str = "linear",
    train: DataFrame | None = None,
    item_categories: DataFrame | None = None,
    item_embeddings: DataFrame | None = None,
    popularity_baseline: str | DataFrame | None = None,
    head_share: float = 0.8,
) -> DataFrame:
    """Per-customer metrics of several models in one frame, as :func:`recnb.metrics.evaluate`.

    Parameters
    ----------
    recommendations : mapping of str to pyspark.sql.DataFrame
        Each model's ``recs`` frame.
    truth, train, item_categories, item_embeddings, head_share
        See :func:`spark_ranking_metrics` and :func:`spark_beyond_metrics`.
    n_products : int
        Catalogue size.
    ks, metrics, graded, gain
        As :func:`recnb.metrics.evaluate` (``auc`` is not available in Spark).
    popularity_baseline : str or pyspark.sql.DataFrame, optional
        For serendipity: a key of ``recommendations`` or a ``recs`` frame; default the most
        popular training products.

    Returns
    -------
    pyspark.sql.DataFrame
        ``model, customer_row, metric, k, value`` (evaluated customers only), the columns of
        :func:`recnb.metrics.evaluate` without customer labels: ``customer_row`` holds the
        ``customer`` index of the input frames.
    """
    F = _F()
    if not recommendations:
        raise ValueError("recommendations is empty: give at least one model's recs frame")
    given = {
        "train": train is not None,
        "categories": item_categories is not None,
        "embeddings": item_embeddings is not None,
    }
    if metrics is None:
        chosen = list(RANKING_METRICS) + [
            m
            for m in BEYOND_METRICS
            if (m == "ild_category" and given["categories"])
            or (m == "ild_embedding" and given["embeddings"])
            or (m not in ("ild_category", "ild_embedding") and given["train"])
        ]
    else:
        chosen = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in chosen if m not in SPARK_PER_CUSTOMER_METRICS]
        if unknown:
            raise ValueError(
                f"unknown metric(s) {unknown}; choose from {SPARK_PER_CUSTOMER_METRICS}"
                + (" (auc is computed in memory only)" if "auc" in unknown else "")
            )
    baseline = popularity_baseline
    if isinstance(baseline, str):
        if baseline not in recommendations:
            raise ValueError(
                f"popularity_baseline {baseline!r} is not among the models {list(recommendations)}"
            )
        baseline = recommendations[baseline]
    ranking = [m for m in chosen if m in RANKING_METRICS]
    beyond = [m for m in chosen if m in BEYOND_METRICS]
    frames = []
    for name, recs in recommendations.items():
        parts = []
        if ranking:
            parts.append(spark_ranking_metrics(recs, truth, ks, ranking, graded, gain))
        if beyond:
            parts.append(
                spark_beyond_metrics(
                    recs,
                    truth,
                    train,
                    n_products,
                    ks,
                    beyond,
                    item_categories,
                    item_embeddings,
                    baseline,
                    head_share,
                )
            )
        frames.append(_union(parts).select(F.lit(str(name)).alias("model"), "*"))
    return _union(frames).withColumnRenamed("customer", CUSTOMER_ROW)
