"""Spark MLlib ALS for implicit feedback, and distributed top-k with seen-item exclusion.

Two ways to use it:

- :class:`SparkALS` (registry name ``spark_als``) is a recnb model like any other: ``fit`` trains
  ``pyspark.ml.recommendation.ALS`` (``implicitPrefs=True``) on the training matrix through the
  active Spark session (or starts one with :func:`~recnb.backends.spark.session.spark_session`),
  then keeps the customer and product factors as numpy arrays, so ``recommend``, ``save`` and the
  model-comparison stage treat it exactly like ``als`` (``implicit``).
- :func:`fit_als` and :func:`spark_recommend_topk` keep everything in Spark when the customers do
  not fit in the driver: factors stay DataFrames, and the lists come out as a ``recs`` frame
  (``customer, rank, product, score``) that :func:`recnb.backends.spark.metrics.spark_evaluate`
  reads.

MLlib and ``implicit`` optimise the same weighted least squares (Hu, Koren & Volinsky 2008) with
two differences: MLlib's confidence is ``1 + alpha * r`` where ``implicit`` uses ``alpha * r``,
and MLlib scales the L2 penalty of each customer (product) by its number of interactions (ALS-WR),
where ``implicit`` uses one ``regularization`` for all. The same numbers therefore do not mean the
same model; ``benchmarks/bench_spark.py`` compares the two at settings tuned on validation.

Top-k with seen-item exclusion. :func:`spark_recommend_topk` scores blocks of customers against
all product factors inside ``mapInPandas`` (one float32 GEMM per chunk of an Arrow batch, at most
``SCORE_CHUNK_BYTES`` of scores at once, the product factors broadcast once per executor), sets each customer's seen products to ``-inf`` before selection and
selects with :func:`recnb.models.topk.topk_dense`, the same selection and tie-break (higher score,
then lower product index) as every in-memory model. It is exact whatever a customer's history.
The alternative, MLlib's ``recommendForUserSubset(k + m)`` followed by a filter, returns short
lists for every customer with more than ``m`` seen products among their top ``k + m``, so no fixed
over-fetch ``m`` is correct for heavy customers; it is not used. The product factors must fit in
each executor's memory (10 million products x 64 factors is 2.5 GB); beyond that, block the
products too and merge partial top-k lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register
from recnb.models.topk import topk_dense

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

#: bytes of dense scores a Python worker holds at once in :func:`spark_recommend_topk` (256 MiB)
SCORE_CHUNK_BYTES = 256 * 2**20

__all__ = ["SparkALS", "factors_frame", "fit_als", "ratings_frame", "spark_recommend_topk"]


def _active_session() -> SparkSession:
    from recnb.backends.spark.session import spark_session

    return spark_session()


def ratings_frame(spark: SparkSession, matrix: sp.spmatrix) -> DataFrame:
    """The stored entries of a customer x product matrix as ``customer, product, rating`` rows."""
    m = sp.coo_matrix(matrix)
    frame = pd.DataFrame(
        {
            "customer": m.row.astype(np.int32),
            "product": m.col.astype(np.int32),
            "rating": m.data.astype(np.float32),
        }
    )
    return spark.createDataFrame(frame, schema="customer int, product int, rating float")


def fit_als(
    ratings: DataFrame,
    *,
    factors: int = 64,
    regularization: float = 0.1,
    alpha: float = 1.0,
    iterations: int = 15,
    num_blocks: int = 0,
    seed: int = 0,
    checkpoint_interval: int = 10,
) -> ALSModel:
    """Train MLlib ALS with implicit preferences on ``customer, product, rating`` rows.

    Parameters
    ----------
    ratings : pyspark.sql.DataFrame
        Integer ``customer`` and ``product`` indices and a ``rating`` (the confidence value of the
        training matrix; MLlib's confidence is ``1 + alpha * rating``).
    factors, regularization, alpha, iterations
        ``rank``, ``regParam`` (scaled per customer / product by MLlib), ``alpha``, ``maxIter``.
    num_blocks : int
        User and item blocks (0: the session's default parallelism).
    seed : int
        Seed of the factor initialisation.
    checkpoint_interval : int
        Iterations between checkpoints of the factor lineage (used only when the Spark context
        has a checkpoint directory).

    Returns
    -------
    pyspark.ml.recommendation.ALSModel
    """
    from pyspark.ml.recommendation import ALS

    spark = ratings.sparkSession
    blocks = num_blocks or spark.sparkContext.defaultParallelism
    als = ALS(
        rank=int(factors),
        maxIter=int(iterations),
        regParam=float(regularization),
        alpha=float(alpha),
        implicitPrefs=True,
        nonnegative=False,
        numUserBlocks=int(blocks),
        numItemBlocks=int(blocks),
        userCol="customer",
        itemCol="product",
        ratingCol="rating",
        seed=int(seed),
        checkpointInterval=int(checkpoint_interval),
        coldStartStrategy="nan",
    )
    return als.fit(ratings)


def factors_frame(model: ALSModel, which: str = "user") -> DataFrame:
    """The fitted factors as ``customer``/``product`` (long) and ``features`` (array of float)."""
    F = _F()
    df = model.userFactors if which == "user" else model.itemFactors
    key = "customer" if which == "user" else "product"
    return df.select(F.col("id").cast("long").alias(key), "features")


def _F() -> Any:
    from pyspark.sql import functions as F

    return F


def _dense(frame: pd.DataFrame, key: str, n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank), dtype=np.float32)
    if len(frame):
        out[frame[key].to_numpy(dtype=np.int64)] = np.stack(frame["features"].to_numpy()).astype(
            np.float32
        )
    return out


def spark_recommend_topk(
    user_factors: DataFrame,
    item_factors: DataFrame,
    k: int,
    *,
    n_products: int,
    seen: DataFrame | None = None,
    customers: DataFrame | None = None,
    popularity: np.ndarray | None = None,
) -> DataFrame:
    """Distributed top-k lists with seen-item exclusion (see the module docstring).

    Parameters
    ----------
    user_factors : pyspark.sql.DataFrame
        ``customer`` (long), ``features`` (array of float).
    item_factors : pyspark.sql.DataFrame
        ``product`` (long, ``0..n_products-1``), ``features``; collected and broadcast.
    k : int
        List length.
    n_products : int
        Catalogue size.
    seen : pyspark.sql.DataFrame, optional
        ``customer, product`` pairs never to recommend (the training interactions).
    customers : pyspark.sql.DataFrame, optional
        ``customer`` column: whom to recommend to (default: every customer with factors).
        Customers without factors get the popularity list (``popularity`` required then), as the
        in-memory fallback.
    popularity : numpy.ndarray, optional
        Per product popularity for the fallback (ties by lower index).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer`` (long), ``rank`` (int, 1 = best), ``product`` (long), ``score`` (float):
        ``k`` rows per customer unless fewer products are available.
    """
    F = _F()
    if isinstance(k, bool) or int(k) < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    k = int(k)
    spark = user_factors.sparkSession
    items = item_factors.toPandas()
    rank = len(items["features"].iloc[0]) if len(items) else 0
    v = _dense(items, "product", n_products, rank)
    vt = spark.sparkContext.broadcast(np.ascontiguousarray(v.T))
    users = user_factors
    if customers is not None:
        users = users.join(customers.select("customer").distinct(), "customer", "left_semi")
    if seen is not None:
        seen_lists = seen.groupBy("customer").agg(F.collect_list("product").alias("seen"))
        users = users.join(seen_lists, "customer", "left")
    else:
        users = users.withColumn("seen", F.lit(None).cast("array<long>"))
    users = users.select("customer", "features", "seen")

    # rows scored at once: an Arrow batch holds up to 10,000 customers, and their dense score rows
    # (4 bytes per product) would take 5 GB per Python worker at 125k products; chunks of at most
    # SCORE_CHUNK_BYTES keep a worker's memory flat in the number of customers and products
    chunk_rows = max(1, SCORE_CHUNK_BYTES // (4 * max(1, n_products)))

    def score_chunk(b: pd.DataFrame, item_t: np.ndarray) -> pd.DataFrame:
        u = np.stack(b["features"].to_numpy()).astype(np.float32)
        s = u @ item_t
        seen_col = b["seen"].to_numpy()
        lengths = np.array([0 if x is None else len(x) for x in seen_col], dtype=np.int64)
        if lengths.sum():
            rows = np.repeat(np.arange(len(b)), lengths)
            cols = np.concatenate(
                [np.asarray(x, dtype=np.int64) for x in seen_col if x is not None and len(x)]
            )
            s[rows, cols] = -np.inf
        idx, val = topk_dense(s, k)
        keep = idx >= 0
        r, c = np.nonzero(keep)
        return pd.DataFrame(
            {
                "customer": b["customer"].to_numpy(dtype=np.int64)[r],
                "rank": (c + 1).astype(np.int32),
                "product": idx[r, c],
                "score": val[r, c].astype(np.float32),
            }
        )

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        item_t = vt.value
        for b in batches:
            for start in range(0, len(b), chunk_rows):
                yield score_chunk(b.iloc[start : start + chunk_rows], item_t)

    schema = "customer long, rank int, product long, score float"
    recs = users.mapInPandas(score, schema)
    if customers is not None:
        cold = customers.select("customer").distinct().join(user_factors, "customer", "left_anti")
        if popularity is None:
            if cold.limit(1).count():
                raise ValueError(
                    "spark_recommend_topk: some customers have no factors; give popularity for "
                    "their fallback lists"
                )
        else:
            pidx, pval = topk_dense(np.asarray(popularity, dtype=np.float32)[None, :], k)
            ok = pidx[0] >= 0
            fallback = spark.createDataFrame(
                pd.DataFrame(
                    {
                        "rank": np.arange(1, k + 1, dtype=np.int32)[ok],
                        "product": pidx[0][ok],
                        "score": pval[0][ok],
                    }
                ),
                schema="rank int, product long, score float",
            )
            recs = recs.unionByName(cold.crossJoin(F.broadcast(fallback)))
    return recs


@register
class SparkALS(Recommender):
    """Spark MLlib ALS with implicit preferences, as a recnb model (``spark_als``).

    Parameters
    ----------
    factors : int
        Latent dimension (``rank``).
    regularization : float
        ``regParam``; MLlib scales it by each customer's (product's) number of interactions.
    alpha : float
        Confidence ``1 + alpha * value`` of a stored entry.
    iterations : int
        ALS sweeps (``maxIter``).
    num_blocks : int
        User and item blocks (0: the session's default parallelism). The factors depend on it;
        keep it fixed for repeatable runs.
    random_state : int or None
        Seed of the factor initialisation (None: 0).
    unknown : {"popularity", "error"}
        Policy for customers absent from training.
    batch_size : int or None
        Customers scored per dense block.

    Notes
    -----
    Training runs on the active Spark session (``spark.master`` decides where); without one, a
    local session is started with recnb's settings. The fitted model holds numpy factors only:
    saving and scoring need no Spark.
    """

    name: ClassVar[str] = "spark_als"
    parallel_scoring: ClassVar[bool] = True

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 1.0,
        iterations: int = 15,
        num_blocks: int = 2,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.num_blocks = num_blocks

    def _check_params(self) -> None:
        who = type(self).__name__
        check_positive_int(who, "factors", self.factors)
        check_positive_int(who, "iterations", self.iterations)
        check_positive_int(who, "num_blocks", self.num_blocks, minimum=0)
        check_nonnegative(who, "regularization", self.regularization)
        check_nonnegative(who, "alpha", self.alpha)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        spark = _active_session()
        seed = int(rng.integers(0, 2**31 - 1))
        ratings = ratings_frame(spark, train.matrix)
        model = fit_als(
            ratings,
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_blocks=self.num_blocks,
            seed=seed,
        )
        n_c, n_p = train.shape
        self.user_factors_ = _dense(
            factors_frame(model, "user").toPandas(), "customer", n_c, self.factors
        )
        self.item_factors_ = _dense(
            factors_frame(model, "item").toPandas(), "product", n_p, self.factors
        )

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[customer_idx] @ self._transposed("item_factors_")

    def _score_pairs(self, cidx: np.ndarray, pidx: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[cidx], self.item_factors_[pidx])
