"""Evaluation metrics: exact, vectorized, per customer, with confidence intervals and tests.

Inputs everywhere: ``topk`` (int array, customers x K, product indices best first, ``-1`` pads
short lists) and ``truth`` (scipy sparse customers x products of held-out items, values =
relevance grades). Definitions are stated in each module's docstring:

- :mod:`recnb.metrics.ranking` precision, recall, F1, hit rate, MRR, NDCG, MAP (three variants)
- :mod:`recnb.metrics.auc` exact per-customer AUC over non-training products, scored in batches
- :mod:`recnb.metrics.rating` RMSE and MAE on the original rating scale
- :mod:`recnb.metrics.beyond` coverage, Gini of exposure, diversity, novelty, serendipity,
  popularity bias (ARP, APLT, popularity lift)
- :mod:`recnb.metrics.stats` bootstrap intervals, paired tests, Holm correction
- :mod:`recnb.metrics.evaluate` one call producing the per-customer frame for many models
"""

from recnb.metrics._common import check_ks
from recnb.metrics.auc import auc_per_customer
from recnb.metrics.beyond import (
    aggregate_metrics,
    aplt,
    arp,
    catalog_coverage,
    exposure_counts,
    gini,
    gini_exposure,
    ild_category,
    ild_embedding,
    item_popularity,
    long_tail_mask,
    novelty,
    popular_items,
    popularity_counts,
    popularity_lift,
    popularity_lift_by_group,
    profile_popularity,
    serendipity,
)
from recnb.metrics.evaluate import BEYOND_METRICS, PER_CUSTOMER_METRICS, evaluate
from recnb.metrics.ranking import (
    RANKING_METRICS,
    ranking_metric_arrays,
    ranking_metrics,
    relevance_matrix,
    tidy_metrics,
)
from recnb.metrics.rating import mae, rating_summary, rmse
from recnb.metrics.stats import (
    bootstrap_ci,
    bootstrap_counts,
    compare_models,
    holm_adjust,
    paired_comparison,
    summarize,
)

__all__ = [
    "BEYOND_METRICS",
    "PER_CUSTOMER_METRICS",
    "RANKING_METRICS",
    "aggregate_metrics",
    "aplt",
    "arp",
    "auc_per_customer",
    "bootstrap_ci",
    "bootstrap_counts",
    "catalog_coverage",
    "check_ks",
    "compare_models",
    "evaluate",
    "exposure_counts",
    "gini",
    "gini_exposure",
    "holm_adjust",
    "ild_category",
    "ild_embedding",
    "item_popularity",
    "long_tail_mask",
    "mae",
    "novelty",
    "paired_comparison",
    "popular_items",
    "popularity_counts",
    "popularity_lift",
    "popularity_lift_by_group",
    "profile_popularity",
    "ranking_metric_arrays",
    "ranking_metrics",
    "rating_summary",
    "relevance_matrix",
    "rmse",
    "serendipity",
    "summarize",
    "tidy_metrics",
]
