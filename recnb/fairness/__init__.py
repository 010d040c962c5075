"""Fairness, bias and transparency of recommendations (stage 04).

- :mod:`~recnb.fairness.audit`: stage 03's candidate lists and the per-customer metric table;
- :mod:`~recnb.fairness.groups`: metrics by customer group (fairlearn ``MetricFrame``), bootstrap
  intervals, permutation tests, small-group suppression;
- :mod:`~recnb.fairness.exposure`: popularity bias, exposure of products and sellers (Singh &
  Joachims), the check against the synthetic shop's simulated impressions;
- :mod:`~recnb.fairness.rerank`: xQuAD, Steck's calibrated re-ranking, FA*IR;
- :mod:`~recnb.fairness.mitigation`: trade-off curves, the recommended setting,
  CorrelationRemover on customer features;
- :mod:`~recnb.fairness.transparency`: explanation additivity, deletion fidelity, coverage,
  stability;
- :mod:`~recnb.fairness.stage`: one function per section of the stage's report, and the hand-off
  stage 03 leaves for stage 04 (:func:`~recnb.fairness.stage.stage03_handoff`: candidate lists
  and the explaining models, saved);
- :mod:`~recnb.fairness.inputs`: stage 03's results folder read back and checked;
- :mod:`~recnb.fairness.checks`: power and calibration of the group test on the shop.

Only :mod:`~recnb.fairness.inputs` reads files and only the hand-off writes (the saved models);
the notebook passes tables in and writes the results. The report's figures, sentences and table
views are :mod:`recnb.reporting.fairness_figures`, :mod:`recnb.reporting.narrative.fairness` and
:mod:`recnb.reporting.fairness_tables`.
"""

from recnb.fairness.audit import (
    CUSTOMER_METRICS,
    Candidates,
    candidate_lists,
    candidates_table,
    per_customer_table,
    read_candidates,
)
from recnb.fairness.exposure import (
    catalogue_exposure,
    examination_weights,
    provider_exposure,
    seller_groups,
    simulated_exposure,
)
from recnb.fairness.groups import (
    ATTRIBUTES,
    NOT_RECORDED,
    disaggregate,
    metric_frame,
    permutation_gap_test,
)
from recnb.fairness.mitigation import decorrelate_features, recommend_settings, tradeoff
from recnb.fairness.rerank import (
    calibrated_rerank,
    calibration_kl,
    fair_adjusted_alpha,
    fair_mtable,
    fair_rerank,
    xquad_rerank,
)
from recnb.fairness.transparency import explanation_fidelity, explanation_stability

__all__ = [
    "ATTRIBUTES",
    "CUSTOMER_METRICS",
    "NOT_RECORDED",
    "Candidates",
    "calibrated_rerank",
    "calibration_kl",
    "candidate_lists",
    "candidates_table",
    "catalogue_exposure",
    "decorrelate_features",
    "disaggregate",
    "examination_weights",
    "explanation_fidelity",
    "explanation_stability",
    "fair_adjusted_alpha",
    "fair_mtable",
    "fair_rerank",
    "metric_frame",
    "per_customer_table",
    "permutation_gap_test",
    "provider_exposure",
    "read_candidates",
    "recommend_settings",
    "seller_groups",
    "simulated_exposure",
    "tradeoff",
    "xquad_rerank",
]
