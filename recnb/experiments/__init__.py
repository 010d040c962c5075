"""Controlled experiments on the synthetic shop: A/B tests, interleaving, off-policy evaluation.

Modules: :mod:`~recnb.experiments.assignment` (hash-based assignment),
:mod:`~recnb.experiments.arms` (recommender + re-ranker + ranking policy),
:mod:`~recnb.experiments.simulation` (traffic, sampled and exact outcomes),
:mod:`~recnb.experiments.stats` (tests, intervals, CUPED, SRM, multiple testing),
:mod:`~recnb.experiments.power` (sample size, power, duration),
:mod:`~recnb.experiments.sequential` (always-valid mSPRT monitoring),
:mod:`~recnb.experiments.experiment` (the A/B runner and its decision).
"""

from recnb.experiments.arms import Arm, Candidates, PopularityPenalty, candidate_lists, standardise
from recnb.experiments.assignment import assign, hash_uniform
from recnb.experiments.experiment import (
    DEFAULT_GUARDRAILS,
    DEFAULT_METRICS,
    METRICS,
    ABTestResult,
    Decision,
    Guardrail,
    Metric,
    analyse,
    run_ab_test,
)
from recnb.experiments.simulation import (
    ArmOutcome,
    Traffic,
    exact_values,
    history_before,
    per_customer,
    simulate_arm,
)

__all__ = [
    "DEFAULT_GUARDRAILS",
    "DEFAULT_METRICS",
    "METRICS",
    "ABTestResult",
    "Arm",
    "ArmOutcome",
    "Candidates",
    "Decision",
    "Guardrail",
    "Metric",
    "PopularityPenalty",
    "Traffic",
    "analyse",
    "assign",
    "candidate_lists",
    "exact_values",
    "hash_uniform",
    "history_before",
    "per_customer",
    "run_ab_test",
    "simulate_arm",
    "standardise",
]
