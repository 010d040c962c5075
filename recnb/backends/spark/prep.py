"""Preprocessing on Spark: event weights, splits, training filters and aggregation.

The Spark twin of the heavy part of :func:`recnb.prep.split.build_split`: the same signal, the same split
labels, the same training filters (bot filter, k-core, each training part on its own events after
the split), the same returns horizon and seen-pair removal, and the same aggregation into one value
per (customer, product) pair. :func:`spark_build_split` returns, per part, a Spark DataFrame of
pairs ``(c, p, value, last_ns)`` and the shared id maps; :meth:`SparkSplit.matrices` turns them into
exactly the matrices the in-memory path builds (tested pair for pair and value for value in
``tests/test_spark_prep.py``).

How the numbers stay identical
    Event weights by type are a native lookup of the same float64 values; the float arithmetic that
    involves ``log1p`` or ``exp`` per event (dwell factor, recency decay) runs inside pandas UDFs
    that call the in-memory functions themselves (:func:`recnb.prep.weighting.event_weights`,
    :func:`~recnb.prep.weighting.recency_decay`), so it gives the same bits; the confidence
    scaling of each pair is native Spark (see :func:`_confidence`: float32 values equal). The weights of a pair
    are summed in event-row order, starting from 0.0, with Spark's ``aggregate`` over the pair's
    events sorted by row: the same sequence of float64 additions as the in-memory ``np.bincount``,
    so sums with non-integer weights are bit-identical too, not only close. Times travel as int64
    nanoseconds (Spark's timestamps hold microseconds); the conversion to seconds happens on the
    driver with the in-memory formula.

Which split kinds agree row for row
    ``"temporal"``: labels are comparisons with a cut-off computed from the latest event, exactly
    as in memory. ``"stratified"`` (the Microsoft Recommenders 1.2.1 rule recnb re-implements in
    :func:`recnb.prep.split.stratified_labels`): the in-memory split draws one
    ``numpy.random.RandomState(seed).rand`` number per pair *in row order* (pairs ordered by their
    first event). Spark reproduces that order with a dense row index (a global sort, then per-partition
    offsets) and draws the very same numbers: each partition replays the Mersenne Twister stream from
    its first position, so the draw is distributed and identical. The labels then follow the same
    within-group rank and the same half-to-even rounding (computed by numpy inside a UDF). Upstream
    Recommenders' own ``spark_stratified_split`` cannot match its pandas split row for row: it draws
    Spark's ``rand(seed)`` (a different generator, partition dependent) and keeps rows with
    ``rank / count <= ratio`` (no rounding, so a group of 2 at 0.75 keeps 1 row in training where the
    pandas rule keeps 2). ``"leave_last"`` and ``"random"`` are not implemented on Spark (a clear
    error says so).

What stays in memory
    Loading and cleaning the events (privacy scrub, deduplication, netting of returns), the
    customer / product / context features and the cold-start flags. The Spark part is what grows
    with the event log; its output, pairs, is smaller than the events by the number of events per
    pair.

The events DataFrame (:func:`events_to_spark`, :func:`read_events`) has the columns
``event_row`` (int64, the source order, used for ties and for the stratified draw), ``customer_id``
and ``product_id`` (strings), ``ts`` (int64 nanoseconds), ``event`` (string), and optionally
``dwell_seconds``, ``value`` (float64) and ``returned_at`` (int64 nanoseconds, null = not returned).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.io import write_json, write_parquet
from recnb.data.schema import EVENT_TYPES
from recnb.prep import weighting as wt
from recnb.prep.kcore import density_table
from recnb.prep.settings import PrepSettings
from recnb.prep.split import DROPPED, TEST, TRAIN_INNER, VALID, process_split_ratio

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "SPARK_SPLIT_KINDS",
    "SparkSplit",
    "dense_index",
    "events_to_spark",
    "read_events",
    "spark_build_split",
    "spark_event_weights",
    "spark_kcore",
    "spark_stratified_labels",
    "spark_stratified_split",
    "spark_temporal_labels",
]

#: split kinds the Spark engine implements (both agree with memory row for row)
SPARK_SPLIT_KINDS: tuple[str, ...] = ("temporal", "stratified")

_NEVER = np.iinfo(np.int64).max
_DAY_NS = 86_400 * 10**9
_PAIR_SCHEMA = "c long, p long, value double, last_ns long"


def _F() -> Any:
    from pyspark.sql import functions as F

    return F


# ----------------------------------------------------------------------------------------------
# events in
# ----------------------------------------------------------------------------------------------


def events_to_spark(spark: SparkSession, events: pd.DataFrame) -> DataFrame:
    """An in-memory events table (the recnb schema) as the Spark events DataFrame.

    ``event_row`` is the row position in ``events``; timestamps become int64 nanoseconds, so no
    time zone and no microsecond truncation comes in between.
    """
    for col in ("customer_id", "product_id", "timestamp", "event"):
        if col not in events.columns:
            raise ValueError(f"events: missing column {col!r}")
    out = pd.DataFrame(
        {
            "event_row": np.arange(len(events), dtype=np.int64),
            "customer_id": events["customer_id"].astype(str).to_numpy(dtype=object),
            "product_id": events["product_id"].astype(str).to_numpy(dtype=object),
            "ts": events["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
            "event": events["event"].astype(str).to_numpy(dtype=object),
        }
    )
    schema = [
        "event_row long",
        "customer_id string",
        "product_id string",
        "ts long",
        "event string",
    ]
    for col in ("dwell_seconds", "value"):
        if col in events.columns:
            out[col] = events[col].to_numpy(dtype=np.float64)
            schema.append(f"{col} double")
    if "returned_at" in events.columns:
        ra = events["returned_at"].to_numpy(dtype="datetime64[ns]")
        out["returned_at"] = pd.Series(ra.astype(np.int64), dtype="Int64").mask(np.isnat(ra))
        schema.append("returned_at long")
    return spark.createDataFrame(out, schema=", ".join(schema))


def read_events(spark: SparkSession, path: str | os.PathLike) -> DataFrame:
    """Read events from Parquet (a file or a folder of files) into the Spark events DataFrame.

    The files hold the recnb events schema; ``timestamp`` may be a Parquet timestamp (nanoseconds,
    as pandas writes them, are read exactly; Spark's own timestamps hold microseconds) or the
    column ``ts`` of int64 nanoseconds. Without an ``event_row`` column the file order is the row
    order (:func:`dense_index` on the order Spark reads the files in).
    """
    F = _F()
    df = spark.read.parquet(str(path))
    cols = set(df.columns)
    for col in ("customer_id", "product_id", "event"):
        if col not in cols:
            raise ValueError(f"{path}: events have no column {col!r}")
    types = dict(df.dtypes)

    def nanos(col: str) -> Column:
        # int64 nanoseconds (pandas' files, read with spark.sql.legacy.parquet.nanosAsLong) are
        # kept; Spark timestamps hold microseconds
        if types[col] in ("bigint", "int"):
            return F.col(col).cast("long")
        return F.unix_micros(F.col(col).cast("timestamp")) * F.lit(1000)

    if "ts" not in cols:
        if "timestamp" not in cols:
            raise ValueError(f"{path}: events have neither 'timestamp' nor 'ts'")
        df = df.withColumn("ts", nanos("timestamp")).drop("timestamp")
    df = df.withColumn("customer_id", F.col("customer_id").cast("string")).withColumn(
        "product_id", F.col("product_id").cast("string")
    )
    if "returned_at" in cols:
        df = df.withColumn("returned_at", nanos("returned_at"))
    if "event_row" not in cols:
        df = df.withColumn("_file_order", F.monotonically_increasing_id())
        df = dense_index(df, ["_file_order"], "event_row").drop("_file_order")
    return df


def dense_index(df: DataFrame, order: Sequence[str], name: str) -> DataFrame:
    """Add ``name``: the 0-based position of each row in the order of the columns ``order``.

    Distributed: a global sort, ``monotonically_increasing_id`` inside the sorted partitions, and
    an offset per partition from the partition sizes (a table as long as the number of
    partitions). The result is checkpointed, so the non-deterministic id is computed once.
    """
    F = _F()
    s = (
        df.orderBy(*order)
        .withColumn("_mid", F.monotonically_increasing_id())
        .localCheckpoint(eager=True)
    )
    sizes = s.groupBy(F.shiftright("_mid", 33).alias("_part")).count().orderBy("_part").collect()
    offsets: list[Any] = []
    total = 0
    for row in sizes:
        offsets += [F.lit(int(row["_part"])), F.lit(total)]
        total += int(row["count"])
    if not offsets:
        return s.withColumn(name, F.lit(0).cast("long")).drop("_mid")
    lut = F.create_map(*offsets)
    return s.withColumn(
        name,
        (lut[F.shiftright("_mid", 33)] + F.col("_mid").bitwiseAND(F.lit((1 << 33) - 1))).cast(
            "long"
        ),
    ).drop("_mid")


# ----------------------------------------------------------------------------------------------
# the signal
# ----------------------------------------------------------------------------------------------


def _unknown_event_types(present: Sequence[Any]) -> None:
    bad = [e for e in present if e not in EVENT_TYPES]
    if bad:
        raise ValueError(
            f"events.event: unknown event type(s) {sorted(map(str, bad))}; event types are "
            f"{list(EVENT_TYPES)}"
        )


def _check_event_types(events: DataFrame) -> list[str]:
    present = [r[0] for r in events.select("event").distinct().collect()]
    _unknown_event_types(present)
    return present


def spark_event_weights(
    events: DataFrame,
    weights: Mapping[str, float] | None = None,
    *,
    dwell_factor: float = 0.0,
    name: str = "w",
    check_types: bool = True,
) -> DataFrame:
    """Add the column ``name``: each event's weight, as :func:`recnb.prep.weighting.event_weights`.

    Without a dwell factor the weight is the type's weight, looked up by a native Spark map (the
    same float64 values, no Python worker); with one, :func:`~recnb.prep.weighting.event_weights`
    itself runs inside a pandas UDF (its ``log1p`` is numpy's, which Java's need not match to the
    bit), so either way the float64 values are those of the in-memory path.

    Parameters
    ----------
    check_types : bool
        Check first (one pass over the events) that every event type is known. Callers that
        group the events by type anyway pass False and call the check on the types they find
        (:func:`spark_build_split` does); an unknown type then weighs null.
    """
    from pyspark.sql.functions import pandas_udf

    F = _F()
    w = wt.check_event_weights(wt.DEFAULT_EVENT_WEIGHTS if weights is None else weights)
    if dwell_factor < 0:
        raise ValueError(f"dwell_factor must be >= 0, got {dwell_factor}")
    if check_types:
        _check_event_types(events)
    use_dwell = dwell_factor > 0 and "dwell_seconds" in events.columns

    if use_dwell:

        @pandas_udf("double")
        def weigh(event: pd.Series, dwell: pd.Series) -> pd.Series:
            frame = pd.DataFrame({"event": event, "dwell_seconds": dwell})
            return pd.Series(wt.event_weights(frame, w, dwell_factor=dwell_factor))

        return events.withColumn(name, weigh("event", "dwell_seconds"))

    table = F.create_map(*[x for e in EVENT_TYPES for x in (F.lit(e), F.lit(float(w.get(e, 0.0))))])
    return events.withColumn(name, table[F.col("event")].cast("double"))


def _decayed(weight: Column, ts: Column, reference_ns: int, half_life_days: float) -> Column:
    """``weight * recency_decay(ts, reference, half_life_days)``, by the in-memory function."""
    from pyspark.sql.functions import pandas_udf

    ref = pd.Timestamp(int(reference_ns))

    @pandas_udf("double")
    def decay(w: pd.Series, t: pd.Series) -> pd.Series:
        times = t.to_numpy(dtype=np.int64).astype("datetime64[ns]")
        return pd.Series(w.to_numpy() * wt.recency_decay(times, ref, half_life_days))

    return decay(weight, ts)


def _confidence(x: Column, scaling: str, alpha: float) -> Column:
    """:func:`recnb.prep.weighting.scale_confidence` as a native Spark expression.

    ``linear`` and ``none`` are the same float64 operations as numpy's, so the same bits. ``log``
    uses Spark's ``log1p`` (Java's), which differs from numpy's by at most one unit in the last
    place of the float64 for a few percent of the values; the matrices hold float32, where the
    two agree (tests/test_spark_prep.py compares the float32 matrices bit for bit; a measured
    2 million random sums had no float32 difference). A pandas UDF calling numpy instead was
    about five times slower (Python workers) and the slowest step of the split.
    """
    F = _F()
    wt.scale_confidence(np.ones(1), scaling, alpha)  # checks the settings on the driver
    a = F.lit(float(alpha))
    if scaling == "log":
        return F.lit(1.0) + a * F.log1p(x)
    if scaling == "linear":
        return F.lit(1.0) + a * x
    return x


def _aggregate_implicit(rows: DataFrame, weight: Column, scaling: str, alpha: float) -> DataFrame:
    """Pairs of ``rows`` with their confidence: weights summed in event-row order (see module)."""
    F = _F()
    rows = rows.withColumn("_w", weight).filter(F.col("_w") > 0)
    pairs = rows.groupBy("c", "p").agg(
        F.sort_array(F.collect_list(F.struct("event_row", "_w"))).alias("_ws"),
        F.max("ts").alias("last_ns"),
    )
    pairs = pairs.withColumn(
        "_x", F.aggregate("_ws", F.lit(0.0).cast("double"), lambda acc, e: acc + e["_w"])
    )
    return pairs.select(
        "c", "p", _confidence(F.col("_x"), scaling, alpha).alias("value"), "last_ns"
    )


def _aggregate_explicit(rows: DataFrame) -> DataFrame:
    """The latest rating of each pair (ties: the later row), as :func:`recnb.prep.weighting.latest_ratings`."""
    F = _F()
    bad = rows.filter(F.col("value").isNull() | F.isnan("value") | (F.col("value") <= 0))
    n_bad = bad.count()
    if n_bad:
        example = bad.select("value").first()[0]
        raise ValueError(
            f"events.value: {n_bad} rating(s) missing or <= 0 (e.g. {example!r}); explicit "
            "ratings must be positive to be stored in a sparse matrix"
        )
    latest = rows.groupBy("c", "p").agg(F.max(F.struct("ts", "event_row", "value")).alias("_l"))
    return latest.select(
        "c", "p", F.col("_l.value").alias("value"), F.col("_l.ts").alias("last_ns")
    )


# ----------------------------------------------------------------------------------------------
# labels
# ----------------------------------------------------------------------------------------------


def spark_temporal_labels(
    events: DataFrame,
    *,
    test_days: float = 14.0,
    valid_days: float = 7.0,
    cutoff: str | pd.Timestamp | None = None,
    name: str = "lab",
) -> tuple[DataFrame, dict[str, pd.Timestamp]]:
    """Add the column ``name`` with :func:`recnb.prep.split.temporal_labels`' labels of each event.

    The boundaries are computed on the driver from the latest event time exactly as in memory.
    """
    F = _F()
    if cutoff is not None:
        cut = pd.Timestamp(cutoff)
    else:
        if test_days <= 0:
            raise ValueError(f"test_days must be > 0, got {test_days}")
        last = events.agg(F.max("ts")).first()[0]
        if last is None:
            raise ValueError("temporal split: no events")
        cut = pd.Timestamp(int(last)) - pd.Timedelta(days=float(test_days))
    if valid_days < 0:
        raise ValueError(f"valid_days must be >= 0, got {valid_days}")
    vstart = cut - pd.Timedelta(days=float(valid_days))
    lab = (
        F.when(F.col("ts") >= F.lit(cut.value), F.lit(TEST))
        .when(F.col("ts") >= F.lit(vstart.value), F.lit(VALID))
        .otherwise(F.lit(TRAIN_INNER))
    )
    return events.withColumn(name, lab.cast("long")), {"cutoff": cut, "valid_start": vstart}


def _draw_uniform(df: DataFrame, pos: str, seed: int, name: str) -> DataFrame:
    """Add ``name`` = ``RandomState(seed).rand(n)[pos]`` for a dense position column ``pos``.

    Each partition replays the Mersenne Twister stream up to its first position and draws on
    from there, so the numbers are those of one sequential draw in position order.
    """
    schema = f"{', '.join(f'`{c}` {t}' for c, t in df.dtypes)}, `{name}` double"

    def draw(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rs = np.random.RandomState(seed)
        drawn = 0
        for b in batches:
            if b.empty:
                yield b.assign(**{name: np.zeros(0)})
                continue
            q = b[pos].to_numpy(dtype=np.int64)
            lo, hi = int(q.min()), int(q.max())
            if lo < drawn:  # positions went backwards: replay from the start
                rs, drawn = np.random.RandomState(seed), 0
            while drawn < lo:  # skip ahead in bounded chunks
                step = min(lo - drawn, 1 << 20)
                rs.rand(step)
                drawn += step
            block = rs.rand(hi - lo + 1)
            drawn = hi + 1
            yield b.assign(**{name: block[q - lo]})

    return df.mapInPandas(draw, schema)


def spark_stratified_labels(
    df: DataFrame,
    group: str,
    order: str,
    ratio: float | list[float] = 0.75,
    seed: int = 42,
    min_rating: int = 1,
    name: str = "split",
) -> DataFrame:
    """Add ``name``: :func:`recnb.prep.split.stratified_labels` of the rows in the order of ``order``.

    Row for row the labels of the in-memory (Microsoft Recommenders 1.2.1) rule on the rows
    sorted by ``order`` (distinct values): rows of groups below ``min_rating`` get -1, the others
    draw ``RandomState(seed).rand`` in that order, rank inside their group by (number, order) and
    take split ``i`` when ``round(c[i-1] * count) < rank <= round(c[i] * count)`` (numpy's
    half-to-even ``round``).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    group : str
        Column holding the group (user or item).
    order : str
        Column giving the row order (distinct values, e.g. the source row).
    ratio, seed, min_rating
        As :func:`recnb.prep.split.stratified_labels`.
    name : str
        The label column to add (long).
    """
    from pyspark.sql import Window
    from pyspark.sql.functions import pandas_udf

    F = _F()
    if min_rating < 1:
        raise ValueError("min_rating should be integer and larger than or equal to 1.")
    multi, r = process_split_ratio(ratio)
    ratios = r if multi else [r, 1 - r]
    thresholds = [float(t) for t in np.cumsum(ratios)]
    size = F.count(F.lit(1)).over(Window.partitionBy(group))
    sized = df.withColumn("_size", size)
    kept = sized.filter(F.col("_size") >= min_rating) if min_rating > 1 else sized
    dropped = sized.filter(F.col("_size") < min_rating) if min_rating > 1 else None
    kept = dense_index(kept, [order], "_pos")
    kept = _draw_uniform(kept, "_pos", seed, "_rnd")
    rank = F.row_number().over(Window.partitionBy(group).orderBy("_rnd", "_pos"))
    kept = kept.withColumn("_rank", rank)

    @pandas_udf("long")
    def label(rank: pd.Series, count: pd.Series) -> pd.Series:
        rk = rank.to_numpy(dtype=np.int64)
        n = count.to_numpy(dtype=np.float64)
        out = np.full(len(rk), -1, dtype=np.int64)
        prev = None
        for i, thr in enumerate(thresholds):
            cond = rk <= np.round(thr * n)
            if prev is not None:
                cond &= rk > np.round(prev * n)
            out[cond] = i
            prev = thr
        return pd.Series(out)

    kept = kept.withColumn(name, label("_rank", "_size")).drop("_pos", "_rnd", "_rank", "_size")
    if dropped is None:
        return kept
    dropped = dropped.withColumn(name, F.lit(-1).cast("long")).drop("_size")
    return kept.unionByName(dropped)


def spark_stratified_split(
    data: DataFrame,
    ratio: float | list[float] = 0.75,
    min_rating: int = 1,
    filter_by: str = "user",
    col_user: str = "userID",
    col_item: str = "itemID",
    seed: int = 42,
    col_order: str | None = None,
) -> list[DataFrame]:
    """The stratified split of :func:`recnb.prep.split.python_stratified_split`, on Spark, row for row.

    Same arguments and the same rows in each split as recnb's (and the released Recommenders
    1.2.1's) ``python_stratified_split`` on the same rows in the same order; unlike upstream's
    ``spark_stratified_split`` (see the module docstring). The row order is the column
    ``col_order`` when given, else the order Spark holds the rows in (e.g. a DataFrame created
    from pandas, or files read in order).

    Returns
    -------
    list of pyspark.sql.DataFrame
        ``[train, test]`` for a float ratio, one frame per ratio for a list (unordered).
    """
    F = _F()
    if filter_by not in ("user", "item"):
        raise ValueError("filter_by should be either 'user' or 'item'.")
    for col, what in ((col_user, "User"), (col_item, "Item")):
        if col not in data.columns:
            raise ValueError(f"Schema of data not valid. Missing {what} Col ({col!r})")
    group = col_user if filter_by == "user" else col_item
    order = col_order
    df = data
    if order is None:
        df = data.withColumn("_order", F.monotonically_increasing_id())
        order = "_order"
    lab = spark_stratified_labels(df, group, order, ratio, seed, min_rating, "_split").cache()
    multi, r = process_split_ratio(ratio)
    n_splits = len(r) if multi else 2
    drop = ["_split"] + (["_order"] if col_order is None else [])
    return [lab.filter(F.col("_split") == i).drop(*drop) for i in range(n_splits)]


# ----------------------------------------------------------------------------------------------
# training filters
# ----------------------------------------------------------------------------------------------


def spark_kcore(
    pairs: DataFrame, min_customer: int = 1, min_product: int = 1, *, distinct: bool = False
) -> tuple[DataFrame, int]:
    """Iterative k-core on the distinct ``(c, p)`` pairs of ``pairs``, as :func:`recnb.prep.kcore.kcore`.

    Repeatedly drops customers with fewer than ``min_customer`` distinct products and products
    with fewer than ``min_product`` distinct customers, all at once per round, until a round
    changes nothing. The k-core is unique, so the kept pairs are those of the in-memory function;
    so is the number of rounds (the same simultaneous removal).

    Parameters
    ----------
    pairs : pyspark.sql.DataFrame
        Columns ``c`` and ``p`` (event rows, or pairs).
    min_customer, min_product : int
        The minimums.
    distinct : bool
        The rows of ``pairs`` are distinct pairs already (skips a shuffle).

    Returns
    -------
    (pyspark.sql.DataFrame, int)
        The kept distinct pairs ``(c, p)`` (checkpointed) and the number of rounds.
    """
    F = _F()
    if min_customer < 1 or min_product < 1:
        raise ValueError(f"k-core minimums must be >= 1, got {min_customer}, {min_product}")
    alive = pairs.select("c", "p")
    if not distinct:
        alive = alive.distinct()
    if min_customer == 1 and min_product == 1:  # nothing to remove: one round, as in memory
        return alive, 1
    alive = alive.localCheckpoint(eager=True)
    n_alive = alive.count()
    rounds = 0
    while True:
        rounds += 1
        ok_c = alive.groupBy("c").count().filter(F.col("count") >= min_customer).select("c")
        ok_p = alive.groupBy("p").count().filter(F.col("count") >= min_product).select("p")
        new = alive.join(ok_c, "c", "left_semi").join(ok_p, "p", "left_semi")
        new = new.select("c", "p").localCheckpoint(eager=True)
        n_new = new.count()
        if n_new == n_alive:
            break
        alive, n_alive = new, n_new
    return alive, rounds


def _bot_customers(rows: DataFrame, max_events_per_day: int) -> DataFrame:
    """Customers (column ``c``) with a calendar day (UTC) of more than ``max_events_per_day`` rows."""
    F = _F()
    spark = rows.sparkSession
    if max_events_per_day <= 0:
        return spark.createDataFrame([], "c long")
    # floor division in integers, as numpy's // (a double division would round nanoseconds)
    day = F.expr(f"(ts - pmod(ts, {_DAY_NS}L)) div {_DAY_NS}L")
    per_day = rows.groupBy("c", day.alias("_day")).count()
    return (
        per_day.groupBy("c")
        .agg(F.max("count").alias("_peak"))
        .filter(F.col("_peak") > max_events_per_day)
        .select("c")
    )


@dataclass(frozen=True)
class _Filtered:
    keep: DataFrame  # event rows of the part after the filters
    bots: DataFrame  # customers flagged on the part's events
    bot_events: int
    kcore_events: int
    before: tuple[int, int, int]
    after: tuple[int, int, int]
    rounds: int


def _pair_counts(rows: DataFrame) -> DataFrame:
    """Distinct ``(c, p)`` pairs of ``rows`` with their number of rows ``n`` (checkpointed)."""
    return (
        rows.groupBy("c", "p").count().withColumnRenamed("count", "n").localCheckpoint(eager=True)
    )


def _sizes(pair_counts: DataFrame) -> tuple[int, tuple[int, int, int]]:
    """Rows, and distinct customers, products and pairs, from :func:`_pair_counts` (one job).

    Counted on the pairs, not on the event rows: a fraction of the rows, and no three-way
    ``countDistinct`` expansion of every event.
    """
    F = _F()
    r = pair_counts.agg(
        F.sum("n").alias("rows"),
        F.countDistinct("c").alias("c"),
        F.countDistinct("p").alias("p"),
        F.count("*").alias("n"),
    ).first()
    return int(r["rows"] or 0), (int(r["c"]), int(r["p"]), int(r["n"]))


def _training_filter(
    rows: DataFrame, min_customer: int, min_product: int, bot_max: int
) -> _Filtered:
    """The bot filter, then the k-core, on one training part's own event rows."""
    bots = _bot_customers(rows, bot_max).localCheckpoint(eager=True)
    if bot_max > 0:
        after_bots = rows.join(bots, "c", "left_anti").localCheckpoint(eager=True)
        n_rows = rows.count()
    else:
        after_bots = rows
    counts = _pair_counts(after_bots)
    n_after, before = _sizes(counts)
    if bot_max <= 0:
        n_rows = n_after
    if min_customer == 1 and min_product == 1:
        keep, n_keep, after, rounds = after_bots, n_after, before, 1
    else:
        core, rounds = spark_kcore(counts, min_customer, min_product, distinct=True)
        keep = after_bots.join(core, ["c", "p"], "left_semi").localCheckpoint(eager=True)
        n_keep, after = _sizes(counts.join(core, ["c", "p"], "left_semi"))
    return _Filtered(
        keep=keep,
        bots=bots,
        bot_events=n_rows - n_after,
        kcore_events=n_after - n_keep,
        before=before,
        after=after,
        rounds=rounds,
    )


# ----------------------------------------------------------------------------------------------
# the split
# ----------------------------------------------------------------------------------------------


@dataclass
class SparkSplit:
    """What :func:`spark_build_split` produced.

    Attributes
    ----------
    customer_ids, product_ids : numpy.ndarray of str
        The shared id maps (index -> id), sorted as in memory.
    pairs : dict of str -> pyspark.sql.DataFrame
        Per part (``train_inner``, ``valid``, ``train``, ``test``): ``c`` and ``p`` (indices into
        the id maps), ``value`` (confidence, or the rating for explicit data, float64 before the
        float32 of the matrix) and ``last_ns`` (last event time, int64 nanoseconds).
    info : dict
        The same keys as :attr:`recnb.prep.split.SplitResult.info` for what the Spark part decides.
    tables : dict of str -> pandas.DataFrame
        ``signal``, ``density`` and ``timeline`` as in memory.
    rows : dict of str -> pyspark.sql.DataFrame
        Per part, the event rows (``event_row``, ``ts``) it was aggregated from (after the
        training filters; before the removal of seen pairs), for the features and the split table.
    """

    customer_ids: np.ndarray
    product_ids: np.ndarray
    pairs: dict[str, DataFrame]
    info: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows: dict[str, DataFrame] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.customer_ids), len(self.product_ids)

    def matrices(self) -> dict[str, tuple[sp.csr_matrix, sp.csr_matrix]]:
        """Per part the confidence (float32) and last-event-time (seconds, float64) CSR matrices.

        Built on the driver from the collected pairs with the in-memory formulas: the same
        matrices :func:`recnb.prep.split.build_split` puts into its parts.
        """
        out = {}
        for part, df in self.pairs.items():
            pdf = df.toPandas()
            r = pdf["c"].to_numpy(dtype=np.int64)
            c = pdf["p"].to_numpy(dtype=np.int64)
            v = pdf["value"].to_numpy(dtype=np.float64)
            t = pdf["last_ns"].to_numpy(dtype=np.int64)
            m = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=self.shape)
            tm = sp.csr_matrix((t / 1e9, (r, c)), shape=self.shape, dtype=np.float64)
            m.sort_indices()
            tm.sort_indices()
            out[part] = (m, tm)
        return out

    def write(self, folder: str | os.PathLike) -> Path:
        """Write ``<part>/pairs.parquet`` (customer_id, product_id, value, last_ns) per part and
        ``split_spark.json`` (info). Each part is written by Spark to a temporary folder and
        renamed into place, so an interrupted write leaves no half-written part."""
        F = _F()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        spark = next(iter(self.pairs.values())).sparkSession
        cmap = spark.createDataFrame(
            pd.DataFrame(
                {"c": np.arange(self.shape[0]), "customer_id": self.customer_ids.astype(str)}
            )
        )
        pmap = spark.createDataFrame(
            pd.DataFrame(
                {"p": np.arange(self.shape[1]), "product_id": self.product_ids.astype(str)}
            )
        )
        for part, df in self.pairs.items():
            target = folder / part / "pairs.parquet"
            tmp = folder / part / ".pairs.parquet.tmp"
            _rmtree(tmp)
            (
                df.join(F.broadcast(cmap), "c")
                .join(F.broadcast(pmap), "p")
                .select("customer_id", "product_id", "value", "last_ns")
                .write.mode("overwrite")
                .parquet(str(tmp))
            )
            _rmtree(target)
            os.replace(tmp, target)
        write_json(folder / "split_spark.json", self.info)
        for name, table in self.tables.items():
            write_parquet(folder / f"spark_{name}.parquet", table)
        return folder


def _rmtree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _index_ids(rows: DataFrame, col: str, code: str) -> tuple[DataFrame, np.ndarray]:
    """Codes into the sorted distinct values of ``col`` and the ids in code order.

    The distinct ids are collected to the driver (the split artefact holds them anyway) and sorted
    there as in memory (``sorted`` on Python strings, code-point order); the code table goes
    back to Spark for the join.
    """
    F = _F()
    local = np.array(sorted(r[0] for r in rows.select(col).distinct().collect()), dtype=object)
    spark = rows.sparkSession
    table = spark.createDataFrame(
        pd.DataFrame({col: local.astype(str), code: np.arange(len(local), dtype=np.int64)}),
        schema=f"{col} string, {code} long",
    )
    return (F.broadcast(table) if len(local) < 2_000_000 else table), local


def spark_build_split(
    events: DataFrame,
    settings: PrepSettings | None = None,
    *,
    run_seed: int = 42,
) -> SparkSplit:
    """Weighted, split, filtered and aggregated pairs of every part, computed on Spark.

    The arguments mean what they mean in :func:`recnb.prep.split.build_split` (same defaults), and
    the resulting pairs and values are those of its parts' matrices (see the module docstring).
    Only the split kinds ``"temporal"`` and ``"stratified"`` are available.

    Parameters
    ----------
    events : pyspark.sql.DataFrame
        Cleaned events (:func:`events_to_spark` or :func:`read_events`).
    settings : PrepSettings, optional
        Signal, training filters and split (default ``PrepSettings()``); the cleaning and feature
        settings are not used here.
    run_seed : int
        Seed of the stratified split when ``settings.seed`` is None.

    Returns
    -------
    SparkSplit
    """
    F = _F()
    s = PrepSettings() if settings is None else settings
    signal, kind, seed = s.signal, s.split_kind, s.split_seed(run_seed)
    event_weights, dwell_factor = s.event_weights, s.dwell_factor
    recency_half_life_days, scaling, alpha = s.recency_half_life_days, s.scaling, s.alpha
    min_customer_interactions = s.min_customer_interactions
    min_product_interactions = s.min_product_interactions
    bot_max_events_per_day = s.bot_max_events_per_day
    test_days, valid_days, cutoff = s.test_days, s.valid_days, s.cutoff
    test_fraction, valid_fraction = s.test_fraction, s.valid_fraction
    stratify_by, min_rating = s.stratify_by, s.min_rating
    test_events, drop_seen_in_test = s.test_events, s.drop_seen_in_test
    if signal not in ("implicit", "explicit"):
        raise ValueError(f"signal must be one of ('implicit', 'explicit'), got {signal!r}")
    if kind not in SPARK_SPLIT_KINDS:
        raise ValueError(
            f"split kind {kind!r} is not available on the Spark engine; it runs "
            f"{list(SPARK_SPLIT_KINDS)} (use engine: memory for the others)"
        )
    if stratify_by not in ("user", "item"):
        raise ValueError(f"stratify_by must be 'user' or 'item', got {stratify_by!r}")
    bad = [e for e in test_events if e not in EVENT_TYPES]
    if bad:
        raise ValueError(
            f"test_events: unknown event type(s) {bad}; event types are {list(EVENT_TYPES)}"
        )
    weights = dict(wt.DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    if signal == "implicit":
        wt.scale_confidence(np.ones(1), scaling, alpha)  # setting checks before any Spark job

    # 1. signal per event row ------------------------------------------------------------
    # (the event types are checked on this grouping, not by a pass of their own)
    if signal == "implicit":
        ev = spark_event_weights(events, weights, dwell_factor=dwell_factor, check_types=False)
    else:
        if "value" not in events.columns:
            raise ValueError("explicit signal needs a 'value' column with the ratings in events")
        ev = events.withColumn("w", (F.col("event") == "rating").cast("double"))
    ev = ev.localCheckpoint(eager=True)
    grouped = (
        ev.groupBy("event")
        .agg(
            F.count("*").alias("n"),
            F.sum("w").alias("tw"),
            F.sum((F.col("w") > 0).cast("long")).alias("nw"),
        )
        .collect()
    )
    _unknown_event_types([r["event"] for r in grouped])
    by_type = {r["event"]: (int(r["n"]), float(r["tw"])) for r in grouped}
    n_weighted = sum(int(r["nw"]) for r in grouped)
    n_all = sum(n for n, _ in by_type.values())
    signal_table = pd.DataFrame(
        {
            "event": list(EVENT_TYPES),
            "rows": [by_type.get(e, (0, 0.0))[0] for e in EVENT_TYPES],
            "weight": [
                weights.get(e, 0.0) if signal == "implicit" else float(e == "rating")
                for e in EVENT_TYPES
            ],
            "total_weight": [by_type.get(e, (0, 0.0))[1] for e in EVENT_TYPES],
        }
    )
    tot = signal_table["total_weight"].sum()
    signal_table["weight_share"] = signal_table["total_weight"] / tot if tot else 0.0
    rows_ev = ev.filter(F.col("w") > 0)
    if n_weighted == 0:
        if signal == "explicit":
            raise ValueError("explicit signal: the events hold no 'rating' event")
        raise ValueError(
            f"no event carries weight: the events are of type(s) {sorted(by_type)}, the weights "
            f"are {weights}"
        )

    # 2. ids ------------------------------------------------------------------------------
    cmap, customer_ids = _index_ids(rows_ev, "customer_id", "c")
    pmap, product_ids = _index_ids(rows_ev, "product_id", "p")
    cols = ["event_row", "c", "p", "ts", "event", "w"]
    for opt in ("value", "returned_at"):
        if opt in rows_ev.columns:
            cols.append(opt)
    rows_ev = rows_ev.join(cmap, "customer_id").join(pmap, "product_id").select(*cols)

    # 3. labels ---------------------------------------------------------------------------
    info: dict[str, Any] = {
        "kind": kind,
        "signal": signal,
        "seed": int(seed),
        "events_in": n_all,
        "events_zero_weight": n_all - n_weighted,
        "engine": "spark",
    }
    bounds: dict[str, pd.Timestamp] = {}
    if kind == "temporal":
        rows_ev, bounds = spark_temporal_labels(
            rows_ev, test_days=test_days, valid_days=valid_days, cutoff=cutoff
        )
        info.update(
            {
                "cutoff": bounds["cutoff"].isoformat(),
                "valid_start": bounds["valid_start"].isoformat(),
                "test_days": test_days,
                "valid_days": valid_days,
            }
        )
    else:
        # pairs in order of their first weighted event, as the in-memory pd.factorize
        pairs = rows_ev.groupBy("c", "p").agg(F.min("event_row").alias("_first"))
        g = "c" if stratify_by == "user" else "p"
        s1 = spark_stratified_labels(
            pairs, g, "_first", float(1.0 - test_fraction), seed, min_rating, "_s1"
        ).localCheckpoint(eager=True)
        plab = s1.withColumn(
            "lab",
            F.when(F.col("_s1") == 0, F.lit(TRAIN_INNER))
            .when(F.col("_s1") == 1, F.lit(TEST))
            .otherwise(F.lit(DROPPED))
            .cast("long"),
        )
        if valid_fraction > 0:
            tr = plab.filter(F.col("_s1") == 0)
            s2 = spark_stratified_labels(
                tr, g, "_first", float(1.0 - valid_fraction), seed, 1, "_s2"
            ).select("c", "p", "_s2")
            plab = plab.join(s2, ["c", "p"], "left").withColumn(
                "lab",
                F.when(F.col("_s2") == 1, F.lit(VALID)).otherwise(F.col("lab")).cast("long"),
            )
        plab = plab.select("c", "p", "lab").localCheckpoint(eager=True)
        rows_ev = rows_ev.join(plab, ["c", "p"])
        info.update(
            {
                "test_fraction": test_fraction,
                "valid_fraction": valid_fraction,
                "stratify_by": stratify_by,
                "min_rating": min_rating,
            }
        )
    rows_ev = rows_ev.localCheckpoint(eager=True)
    if kind == "temporal":
        _check_valid_window(rows_ev, bounds, valid_days)

    # 3a. returns horizon ----------------------------------------------------------------
    if kind == "temporal":
        horizon = {
            "train_inner": bounds["valid_start"].value,
            "train": bounds["cutoff"].value,
            "valid": bounds["cutoff"].value,
            "test": _NEVER,
        }
    else:
        horizon = dict.fromkeys(("train_inner", "train", "valid", "test"), _NEVER)
    has_ra = "returned_at" in rows_ev.columns

    def unreturned(part: str) -> Column:
        if not has_ra:
            return F.lit(True)
        return F.col("returned_at").isNull() | (F.col("returned_at") >= F.lit(horizon[part]))

    lab = F.col("lab")
    is_ti = (lab == TRAIN_INNER) & unreturned("train_inner")
    is_tr = ((lab == TRAIN_INNER) | (lab == VALID)) & unreturned("train")

    # 3b. training filters ----------------------------------------------------------------
    filt = {
        part: _training_filter(
            rows_ev.filter(cond),
            min_customer_interactions,
            min_product_interactions,
            bot_max_events_per_day,
        )
        for part, cond in (("train_inner", is_ti), ("train", is_tr))
    }
    bots_all = _bot_customers(rows_ev.filter(lab >= 0), bot_max_events_per_day).localCheckpoint(
        eager=True
    )
    tr_f = filt["train"]
    density = density_table({"before k-core": tr_f.before, "after k-core": tr_f.after})
    density["rounds"] = [0, tr_f.rounds]

    # 4. rows of each part, then pairs -----------------------------------------------------
    relevant = F.col("event").isin(list(test_events)) if test_events else F.lit(True)
    valid_rows = rows_ev.filter((lab == VALID) & relevant & unreturned("valid")).join(
        tr_f.bots, "c", "left_anti"
    )
    test_rows = rows_ev.filter((lab == TEST) & relevant & unreturned("test")).join(
        bots_all, "c", "left_anti"
    )
    part_rows = {
        "train_inner": filt["train_inner"].keep,
        "valid": valid_rows,
        "train": tr_f.keep,
        "test": test_rows,
    }
    ends: dict[str, int | None] = {}
    if kind == "temporal":
        ends = {"train_inner": bounds["valid_start"].value, "train": bounds["cutoff"].value}
    elif recency_half_life_days > 0:
        for part in ("train_inner", "train"):
            last = part_rows[part].agg(F.max("ts")).first()[0]
            ends[part] = None if last is None else int(last)
    pairs_of: dict[str, DataFrame] = {}
    for part, rows in part_rows.items():
        if signal == "implicit":
            weight = F.col("w")
            if (
                part in ("train_inner", "train")
                and recency_half_life_days > 0
                and ends[part] is not None
            ):
                weight = _decayed(weight, F.col("ts"), ends[part], recency_half_life_days)
            pairs_of[part] = _aggregate_implicit(rows, weight, scaling, alpha)
        else:
            pairs_of[part] = _aggregate_explicit(rows)
        pairs_of[part] = pairs_of[part].localCheckpoint(eager=True)

    removed_seen = {"valid": 0, "test": 0}
    if drop_seen_in_test:
        # seen = any weighted event of the pair in the training period, before the filters
        before_filters = {
            "valid": lab == TRAIN_INNER,
            "test": (lab == TRAIN_INNER) | (lab == VALID),
        }
        for part in ("valid", "test"):
            had = (
                rows_ev.filter(before_filters[part])
                .select("c", "p")
                .distinct()
                .withColumn("_had", F.lit(True))
            )
            flagged = pairs_of[part].join(had, ["c", "p"], "left").localCheckpoint(eager=True)
            removed_seen[part] = flagged.filter(F.col("_had").isNotNull()).count()
            pairs_of[part] = flagged.filter(F.col("_had").isNull()).drop("_had")
    counts = {part: df.count() for part, df in pairs_of.items()}
    if counts["test"] == 0:
        raise ValueError(
            f"{kind} split: the test part is empty ({info}); check test_days / fractions / "
            "test_events"
        )
    for part, cond in (("train", is_tr), ("train_inner", is_ti)):
        if counts[part]:
            continue
        n_before = rows_ev.filter(cond).count()
        if not n_before:
            raise ValueError(
                f"{kind} split: the {part} part is empty ({info}); check test_days / valid_days / "
                "fractions"
            )
        raise ValueError(
            f"{kind} split: the {part} part is empty after the training filters: "
            f"{n_before:,} event(s) before them; the bot filter "
            f"(preprocessing.bot_max_events_per_day={bot_max_events_per_day}) removed "
            f"{filt[part].bot_events:,}, the k-core "
            f"(preprocessing.min_customer_interactions={min_customer_interactions}, "
            f"min_product_interactions={min_product_interactions}) {filt[part].kcore_events:,}; "
            "lower them or widen the training period"
        )

    # 5. what the report counts (one pass over the events) ---------------------------------
    def flag(df: DataFrame, key: str | list[str], name: str) -> DataFrame:
        return df.select(key if isinstance(key, list) else [key]).withColumn(name, F.lit(True))

    marked = (
        rows_ev.join(flag(filt["train_inner"].keep, "event_row", "_ti"), "event_row", "left")
        .join(flag(tr_f.keep, "event_row", "_tr"), "event_row", "left")
        .join(flag(tr_f.bots, "c", "_bot_train"), "c", "left")
        .join(flag(bots_all, "c", "_bot_all"), "c", "left")
    )
    in_valid = (lab == VALID) & relevant & unreturned("valid") & F.col("_bot_train").isNull()
    in_test = (lab == TEST) & relevant & unreturned("test") & F.col("_bot_all").isNull()
    in_any = F.col("_ti").isNotNull() | F.col("_tr").isNotNull() | in_valid | in_test
    gone = (lab >= 0) & ~in_any & ~((lab == TEST) & ~relevant)
    part_name = (
        F.when((lab < 0) | gone, F.lit("dropped"))
        .when(lab == TRAIN_INNER, F.lit("train_inner"))
        .when(lab == VALID, F.lit("valid"))
        .otherwise(F.lit("test"))
    )
    counted = {
        "gone": gone,
        "returned_train_inner": (lab == TRAIN_INNER) & ~unreturned("train_inner"),
        "returned_train": ((lab == TRAIN_INNER) | (lab == VALID)) & ~unreturned("train"),
        "returned_valid": (lab == VALID) & ~unreturned("valid"),
        "returned_test": (lab == TEST) & ~unreturned("test"),
        "bots_valid": (lab == VALID) & F.col("_bot_train").isNotNull(),
        "bots_test": (lab == TEST) & F.col("_bot_all").isNotNull(),
        "dropped": lab == DROPPED,
    }
    day = (F.col("ts") - F.pmod(F.col("ts"), F.lit(_DAY_NS))).alias("_day_ns")
    grouped = (
        marked.groupBy(day, part_name.alias("part"))
        .agg(
            F.count("*").alias("events"),
            *[F.sum(cond.cast("long")).alias(name) for name, cond in counted.items()],
        )
        .toPandas()
    )
    total = {name: int(grouped[name].sum()) for name in counted}
    timeline = pd.DataFrame(
        {
            "day": pd.to_datetime(grouped["_day_ns"].to_numpy(dtype=np.int64)),
            "part": grouped["part"].to_numpy(dtype=object),
            "events": grouped["events"].to_numpy(dtype=np.int64),
        }
    ).sort_values(["day", "part"], ignore_index=True)
    ret = {part: total[f"returned_{part}"] for part in ("train_inner", "train", "valid", "test")}
    info.update(
        {
            "events_removed_bots": tr_f.bot_events,
            "bot_customers": tr_f.bots.count(),
            "events_removed_kcore": tr_f.kcore_events,
            "events_removed_kcore_train_inner": filt["train_inner"].kcore_events,
            "events_removed_bots_train_inner": filt["train_inner"].bot_events,
            "events_removed_bots_valid": total["bots_valid"],
            "events_removed_bots_test": total["bots_test"],
            "purchases_returned": ret,
            "events_used": n_weighted - total["gone"],
            "n_customers": len(customer_ids),
            "n_products": len(product_ids),
            "min_customer_interactions": min_customer_interactions,
            "min_product_interactions": min_product_interactions,
            "bot_max_events_per_day": bot_max_events_per_day,
            "drop_seen_in_test": drop_seen_in_test,
            "removed_seen_pairs": removed_seen,
            "dropped_by_split": total["dropped"],
        }
    )
    return SparkSplit(
        customer_ids=customer_ids,
        product_ids=product_ids,
        pairs=pairs_of,
        info=info,
        tables={"signal": signal_table, "density": density, "timeline": timeline},
        rows={part: rows.select("event_row", "ts") for part, rows in part_rows.items()},
    )


def _check_valid_window(
    rows: DataFrame, bounds: Mapping[str, pd.Timestamp], valid_days: float
) -> None:
    """The message of the in-memory split when the validation window empties ``train_inner``."""
    F = _F()
    cut, vstart = bounds["cutoff"], bounds["valid_start"]
    if valid_days <= 0:
        return
    r = rows.agg(
        F.min(F.when(F.col("ts") < F.lit(cut.value), F.col("ts"))).alias("first"),
        F.max((F.col("lab") == TRAIN_INNER).cast("int")).alias("any_ti"),
    ).first()
    if r["first"] is None or r["any_ti"] == 1:
        return
    first = pd.Timestamp(int(r["first"]))
    span = (cut - first) / pd.Timedelta(days=1)
    raise ValueError(
        f"temporal split: valid_days={valid_days:g} (params key preprocessing.valid_days) is at "
        f"least as long as the training span, {span:.3g} days from the first event "
        f"({first.isoformat()}) to the cut-off ({cut.isoformat()}): the validation window starts "
        f"at {vstart.isoformat()} and leaves the inner training part (train_inner) empty. Use a "
        f"valid_days below {span:.3g}."
    )
