"""Everything notebook 05 computes, as two functions: with the shop's ground truth, and without.

:func:`run_shop_study` (synthetic shop): design from a pilot, the A/B test of the treatment against
the control with guardrails and daily monitoring, the calibration of the tests on the customers'
simulated potential outcomes, interleaving beside the A/B test, off-policy evaluation against the
exact values, offline-online agreement across the policies, and the novelty-seeking case.

:func:`run_log_study` (real logs, no response model): only what needs no ground truth: power
planning from the log itself, the sample-ratio-mismatch gate on the log's customers, and a note on
off-policy evaluation (the log has no propensities).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import offline_online as oo
from recnb.experiments import ope as ope_mod
from recnb.experiments import stats as st
from recnb.experiments import study
from recnb.experiments.arms import Arm
from recnb.experiments.assignment import assign
from recnb.experiments.design import Design, design_from_pilot
from recnb.experiments.experiment import (
    ABTestResult,
    Guardrail,
    run_ab_test,
)
from recnb.experiments.simulation import Traffic, history_before, per_customer, simulate_arm

__all__ = [
    "LogStudy",
    "ShopStudy",
    "StudySettings",
    "log_pilot",
    "run_log_study",
    "run_shop_study",
]


@dataclass(frozen=True)
class StudySettings:
    """The stage's settings (the notebook's parameters; see the notebook for their meaning)."""

    control: str = "popularity"
    treatment: str = ""
    policies: tuple[str, ...] = ()
    variants: bool = True
    k: int = 10
    n_candidates: int = 20
    temperature: float = 0.5
    epsilon: float = 0.1
    popularity_penalty: float = 0.5
    primary_metric: str = "revenue_per_visitor"
    metrics: tuple[str, ...] = (
        "revenue_per_visitor",
        "conversion",
        "ctr",
        "clicks_per_visitor",
        "purchases_per_visitor",
        "aov",
    )
    mde_relative: float = 0.1
    alpha: float = 0.05
    power: float = 0.8
    treatment_share: float = 0.5
    min_days: int = 7
    max_days: int = 28
    correction: str = "holm"
    guardrail_margin: float = 0.05
    fairness_attribute: str = "age_band"
    fairness_margin: float = 0.02
    min_group_size: int = 50
    n_bootstrap: int = 500
    n_simulations: int = 1000
    ope_seeds: int = 3
    ope_temperature: float = 1.0
    interleave: bool = True
    novelty_case: bool = True
    novelty_customers: int = 2000
    salt: str = "recnb-ab"
    srm_threshold: float = 1e-3


@dataclass
class ShopStudy:
    """Results of :func:`run_shop_study` (see its docstring)."""

    control: str
    treatment: str
    design: Design
    ab: ABTestResult
    calibration: pd.DataFrame
    interleaving: pd.DataFrame
    ope: ope_mod.OPEResult | None
    offline: dict[str, pd.DataFrame]
    agreement_revenue: oo.Agreement
    agreement_clicks: oo.Agreement
    novelty: oo.NoveltyCase | None
    policies: list[str]
    arms: list[str] = field(default_factory=list)


def _progress(progress: Callable[[str], Any] | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def run_shop_study(
    shop: Any,
    dataset: Any,
    train: Any,
    test: Any,
    settings: StudySettings,
    model_params: Mapping[str, Mapping[str, Any]] | None,
    chosen: pd.DataFrame | None,
    stage03_choice: str,
    unit_id: Callable[[np.ndarray], np.ndarray],
    seed: int,
    progress: Callable[[str], Any] | None = None,
) -> ShopStudy:
    """Run every part of the stage on the synthetic shop.

    Parameters
    ----------
    shop : SyntheticShop
        The run's shop (ground truth).
    dataset : Dataset
        The run's scrubbed dataset (products table for the content model, customer groups).
    train, test : Interactions
        The split's parts.
    settings : StudySettings
    model_params : mapping, optional
        Stage 03's ``model_params``.
    chosen : pandas.DataFrame, optional
        Stage 03's ``tuning_chosen`` table.
    stage03_choice : str
        The model stage 03 chose (the treatment when ``settings.treatment`` is empty).
    unit_id : callable
        Shop customer ids -> the run's pseudonyms.
    seed : int
        The run's seed.
    progress : callable, optional
        Called with a short message as each part starts.
    """
    s = settings
    treatment = s.treatment or stage03_choice
    if treatment == s.control:
        raise ValueError(
            f"ab_simulation: the treatment ({treatment!r}) is the control; choose another "
            "treatment or control"
        )
    labels = list(dict.fromkeys([*s.policies, s.control, treatment]))
    _progress(progress, f"fitting {len(labels)} models on train")
    models = study.stage03_models(
        labels, train, model_params, chosen, seed, {"products": dataset.products}
    )
    arms = study.policy_arms(
        models, treatment, s.n_candidates, s.variants, s.temperature, s.epsilon,
        s.popularity_penalty,
    )  # fmt: skip
    by = {a.label: a for a in arms}
    control_arm, treatment_arm = by[s.control], by[treatment]
    n_days = int(shop.config.n_days)
    hist = shop.log_history()

    # 1. design: the control's pilot on the pre-period
    _progress(progress, "design: pilot of the control on the pre-period")
    pre_days = min(s.max_days, n_days - 1)
    pre = Traffic.from_shop(shop, range(n_days - pre_days, n_days), unit_id=unit_id)
    pilot = simulate_arm(
        shop, pre, control_arm, s.k, history_before(hist, n_days - pre_days), seed, exact=False
    )
    design = design_from_pilot(
        pilot.visits, s.primary_metric, s.mde_relative, s.alpha, s.power, s.treatment_share,
        s.min_days, s.max_days,
    )  # fmt: skip
    covariate_col = {"revenue_per_visitor": "revenue", "clicks_per_visitor": "clicks"}.get(
        s.primary_metric, "purchases"
    )
    covariate = per_customer(pilot.visits).set_index("unit_id")[covariate_col]

    # 2. the A/B test
    _progress(progress, f"A/B test: {design.days} days of traffic")
    traffic = Traffic.from_shop(shop, range(n_days, n_days + design.days), unit_id=unit_id)
    groups = None
    if s.fairness_attribute and s.fairness_attribute in dataset.customers.columns:
        groups = dataset.customers.set_index("customer_id")[s.fairness_attribute]
    guardrails = [
        Guardrail("conversion", s.guardrail_margin),
        Guardrail("ctr", s.guardrail_margin),
        Guardrail("fairness_gap", s.fairness_margin, relative=False),
    ]
    metrics = list(dict.fromkeys([s.primary_metric, *s.metrics]))
    ab = run_ab_test(
        shop, traffic, control_arm, treatment_arm, k=s.k,
        split=(1 - s.treatment_share, s.treatment_share), salt=s.salt, history=hist, seed=seed,
        alpha=s.alpha, metrics=metrics, correction=s.correction, guardrails=guardrails,
        covariate=covariate, groups=groups, min_group_size=s.min_group_size,
        n_boot=s.n_bootstrap, mde=design.mde, srm_threshold=s.srm_threshold,
    )  # fmt: skip

    # 3. every policy shown to every customer: offline-online, calibration, interleaving
    _progress(progress, f"every policy on every customer ({len(arms)} policies)")
    online = oo.online_values(shop, traffic, arms, s.k, hist, seed=seed + 1)
    _progress(progress, f"calibration: {s.n_simulations:,} simulated experiments per check")
    calib = study.calibration_checks(
        online, s.control, treatment, covariate_col, covariate, tau=max(design.mde, 1e-12),
        n_sims=s.n_simulations, alpha=s.alpha, seed=seed + 2,
    )  # fmt: skip
    inter = pd.DataFrame()
    if s.interleave:
        _progress(progress, "interleaving against the A/B test")
        others = [a for a in arms if a.label != s.control and a.policy.kind == "deterministic"]
        inter = study.interleaving_vs_ab(
            shop, traffic, control_arm, others, online, s.k, hist, seed + 3, s.alpha, s.power,
            n_sims=400, measure=[treatment],
        )  # fmt: skip
    _progress(progress, "offline metrics of every policy")
    offline = oo.offline_metrics(arms, test, s.k)
    agree_rev = oo.agreement(
        offline["ndcg"], online.sampled["revenue"], s.control, online.exact["revenue"],
        n_boot=s.n_bootstrap, alpha=s.alpha, seed=seed + 4,
    )  # fmt: skip
    agree_clk = oo.agreement(
        offline["ndcg"], online.sampled["clicks"], s.control, online.exact["clicks"],
        n_boot=s.n_bootstrap, alpha=s.alpha, seed=seed + 5,
    )  # fmt: skip

    # 4. off-policy evaluation from a stochastic version of the control
    res_ope = None
    if s.ope_seeds > 0:
        _progress(progress, f"off-policy evaluation: {s.ope_seeds} logged data sets")
        logging = Arm(
            f"{s.control}+logging",
            models[s.control],
            RankingPolicy("plackett_luce", temperature=s.ope_temperature),
            s.n_candidates,
        )
        res_ope = ope_mod.evaluate_on_shop(
            shop, traffic, logging, arms, k=s.k, history=hist,
            seeds=[seed + 10 + i for i in range(s.ope_seeds)], n_boot=min(s.n_bootstrap, 200),
            alpha=s.alpha,
        )  # fmt: skip

    # 5. the novelty-seeking shop
    nov = None
    if s.novelty_case:
        _progress(progress, "novelty-seeking shop: popularity offline and online")
        n_c = int(s.novelty_customers)
        nov = oo.novelty_case(
            dict(n_customers=n_c, n_products=max(n_c // 5, 50), n_days=45, seed=seed),
            k=s.k, seed=seed,
        )  # fmt: skip
    return ShopStudy(
        control=s.control,
        treatment=treatment,
        design=design,
        ab=ab,
        calibration=calib,
        interleaving=inter,
        ope=res_ope,
        offline=offline,
        agreement_revenue=agree_rev,
        agreement_clicks=agree_clk,
        novelty=nov,
        policies=[a.label for a in arms],
    )


# ----------------------------------------------------------------------------------------------
# real logs: no response model
# ----------------------------------------------------------------------------------------------


@dataclass
class LogStudy:
    """Results of :func:`run_log_study`.

    Attributes
    ----------
    design : Design or None
        Power planning from the log (None when the log has no usable metric).
    metric : str
        The metric planned for.
    srm : SRMResult
        The gate on the log's customers assigned by the configured split.
    srm_sensitivity : float
        The smallest share difference between the arms the gate flags at this many customers.
    planted : SRMResult
        The gate on the same customers with a planted 51/49 assignment.
    ope_note : str
        Why off-policy evaluation cannot run on this log.
    """

    design: Design | None
    metric: str
    srm: st.SRMResult
    srm_sensitivity: float
    planted: st.SRMResult
    ope_note: str


def log_pilot(events: pd.DataFrame, days: int) -> pd.DataFrame:
    """Per-event outcomes of the last ``days`` days of a log, in the shape of a pilot.

    Each event is a row with ``unit_id`` (the pseudonymous customer), ``day``, ``revenue``
    (purchase quantity times price paid; 0 without prices), ``purchases``, ``clicks`` and
    ``events``; :func:`recnb.experiments.design.design_from_pilot` sums them per customer.
    """
    ev = events
    ts = pd.to_datetime(ev["timestamp"])
    end = ts.max().normalize() + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=days)
    ev = ev.loc[(ts >= start).to_numpy()]
    ts = pd.to_datetime(ev["timestamp"])
    kind = ev["event"].astype(str).to_numpy()
    buy = kind == "purchase"
    qty = ev["value"].to_numpy(dtype=np.float64) if "value" in ev.columns else np.ones(len(ev))
    qty = np.where(np.isnan(qty), 1.0, qty)
    price = (
        ev["price_paid"].to_numpy(dtype=np.float64)
        if "price_paid" in ev.columns
        else np.zeros(len(ev))
    )
    return pd.DataFrame(
        {
            "unit_id": ev["customer_id"].astype(str).to_numpy(dtype=object),
            "day": ((ts - start) / pd.Timedelta(days=1)).to_numpy().astype(np.int64),
            "revenue": np.where(buy, np.nan_to_num(qty * price), 0.0),
            "purchases": buy.astype(np.float64),
            "clicks": (kind == "click").astype(np.float64),
            "events": np.ones(len(ev)),
        }
    )


def run_log_study(dataset: Any, settings: StudySettings) -> LogStudy:
    """What the stage can do without a response model: power planning, the SRM gate, a note."""
    s = settings
    pilot = log_pilot(dataset.events, s.max_days)
    metric = s.primary_metric
    has_revenue = pilot["revenue"].sum() > 0
    has_buys = pilot["purchases"].sum() > 0
    if metric == "revenue_per_visitor" and not has_revenue:
        metric = "conversion" if has_buys else "events_per_visitor"
    if metric == "conversion" and not has_buys:
        metric = "events_per_visitor"
    design = design_from_pilot(
        pilot, metric, s.mde_relative, s.alpha, s.power, s.treatment_share, s.min_days, s.max_days
    )
    units = np.unique(pilot["unit_id"].to_numpy(dtype=object))
    shares = (1 - s.treatment_share, s.treatment_share)
    arms = assign(units, shares, s.salt)
    srm = st.srm_test(np.bincount(arms, minlength=2), shares, s.srm_threshold)
    planted = st.srm_test(
        np.bincount(assign(units, (0.51, 0.49), s.salt), minlength=2), (0.5, 0.5), s.srm_threshold
    )
    n = len(units)
    # chi2 with 1 df = (n_t - n p)^2 / (n p (1 - p)): the share gap it flags
    crit = sps.chi2.isf(s.srm_threshold, 1)
    sens = float(np.sqrt(crit * shares[0] * shares[1] / n)) if n else float("nan")
    return LogStudy(
        design=design,
        metric=metric,
        srm=srm,
        srm_sensitivity=sens,
        planted=planted,
        ope_note=(
            "This log records what customers did, not which lists were shown with which "
            "probability (no propensities), and there is no response model to compute a "
            "policy's true value: off-policy evaluation and every check against the truth need "
            "the synthetic shop."
        ),
    )
