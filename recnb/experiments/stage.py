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
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy import stats as sps

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import offline_online as oo
from recnb.experiments import ope as ope_mod
from recnb.experiments import stats as st
from recnb.experiments import study
from recnb.experiments.arms import Arm
from recnb.experiments.assignment import assign
from recnb.experiments.design import Design, design_from_pilot
from recnb.experiments.experiment import METRICS, ABTestResult, Guardrail, run_ab_test
from recnb.experiments.simulation import (
    OUTCOMES,
    Traffic,
    history_before,
    per_customer,
    simulate_arm,
)

__all__ = [
    "PRIMARY_METRICS",
    "SHOP_METRICS",
    "LogStudy",
    "ShopStudy",
    "StudySettings",
    "log_pilot",
    "run_log_study",
    "run_shop_study",
    "shop_tables",
]


#: metrics of the shop's simulated traffic (:data:`METRICS` whose column the simulation records)
SHOP_METRICS: tuple[str, ...] = tuple(
    name for name, m in METRICS.items() if m.column in (*OUTCOMES, "converted")
)

#: primary metrics a design can plan for (the means and proportions among them)
PRIMARY_METRICS: tuple[str, ...] = tuple(
    name for name in SHOP_METRICS if METRICS[name].kind in ("mean", "proportion")
)


class StudySettings(BaseModel):
    """The stage's settings: the ``ab_simulation:`` section of a params file.

    Attributes
    ----------
    control : str
        The policy already live (a stage-03 model label).
    treatment : str
        The candidate; empty: the model stage 03 chose.
    policies : list of str
        Further stage-03 models simulated beside them (offline-online agreement, interleaving,
        off-policy targets).
    variants : bool
        Add the treatment's stochastic (Plackett-Luce, epsilon-greedy) and mitigated
        (popularity penalty) variants as policies.
    k : int
        Length of the shown list.
    n_candidates : int
        Candidates each recommender scores per visit (>= ``k``); stochastic policies draw from
        them.
    temperature, epsilon, popularity_penalty : float
        Of the variants: Plackett-Luce temperature, epsilon-greedy share, penalty strength.
    primary_metric : str
        The metric the test is planned and decided on (one of :data:`PRIMARY_METRICS`).
    metrics : list of str
        Metrics reported (of :data:`SHOP_METRICS`).
    mde_relative : float
        Minimum detectable effect relative to the control's baseline.
    alpha, power : float
        Two-sided level and wanted power.
    treatment_share : float
        Share of customers assigned to the treatment.
    min_days, max_days : int
        Shortest and longest test durations considered.
    correction : {"holm", "bh"}
        Adjustment of p-values across metrics.
    guardrail_margin : float
        Largest relative loss in conversion and CTR the treatment may cause (non-inferiority).
    fairness_attribute : str
        Customer column whose groups' conversion gap is a guardrail (empty: none).
    fairness_margin : float
        Largest increase of that gap (absolute).
    min_group_size : int
        Groups smaller than this are left out of the gap.
    n_bootstrap : int
        Bootstrap replicates of the intervals.
    n_simulations : int
        Simulated experiments per calibration check (A/A, peeking, power, CUPED).
    ope_seeds : int
        Logged data sets of off-policy evaluation (0: off).
    ope_temperature : float
        Plackett-Luce temperature of the logging policy (the control made stochastic).
    interleave : bool
        Run team-draft interleaving beside the A/B test.
    novelty_case : bool
        Run the novelty-seeking shop case.
    novelty_customers : int
        Customers of that case's shops.
    salt : str
        Salt of the hash assignment (a new salt reshuffles the customers).
    srm_threshold : float
        p-value below which the sample-ratio-mismatch gate stops the analysis.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    control: str = Field("popularity", min_length=1)
    treatment: str = ""
    policies: list[str] = Field(
        default_factory=lambda: [
            "random", "popularity", "trending", "item_knn", "pure_svd", "als", "ease",
        ]
    )  # fmt: skip
    variants: bool = True
    k: int = Field(10, ge=1)
    n_candidates: int = Field(20, ge=1)
    temperature: float = Field(0.5, gt=0)
    epsilon: float = Field(0.1, ge=0, le=1)
    popularity_penalty: float = Field(0.5, ge=0)
    primary_metric: str = "revenue_per_visitor"
    metrics: list[str] = Field(
        default_factory=lambda: [
            "revenue_per_visitor", "conversion", "ctr", "clicks_per_visitor",
            "purchases_per_visitor", "aov",
        ],
        min_length=1,
    )  # fmt: skip
    mde_relative: float = Field(0.1, gt=0, lt=10)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    power: float = Field(0.8, gt=0, lt=1)
    treatment_share: float = Field(0.5, gt=0, lt=1)
    min_days: int = Field(7, ge=1)
    max_days: int = Field(28, ge=1)
    correction: Literal["holm", "bh"] = "holm"
    guardrail_margin: float = Field(0.05, ge=0)
    fairness_attribute: str = "age_band"
    fairness_margin: float = Field(0.02, ge=0)
    min_group_size: int = Field(50, ge=1)
    n_bootstrap: int = Field(500, ge=20)
    n_simulations: int = Field(1000, ge=20)
    ope_seeds: int = Field(2, ge=0)
    ope_temperature: float = Field(1.0, gt=0)
    interleave: bool = True
    novelty_case: bool = True
    novelty_customers: int = Field(2000, ge=250)
    salt: str = Field("recnb-ab", min_length=1)
    srm_threshold: float = Field(1e-3, gt=0, lt=1)

    @field_validator("primary_metric")
    @classmethod
    def _primary(cls, v: str) -> str:
        if v not in PRIMARY_METRICS:
            raise ValueError(f"must be one of {list(PRIMARY_METRICS)}, got {v!r}")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m not in SHOP_METRICS]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; known: {list(SHOP_METRICS)}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> StudySettings:
        if self.n_candidates < self.k:
            raise ValueError(
                f"key 'n_candidates' ({self.n_candidates}) must be at least key 'k' ({self.k})"
            )
        if self.min_days > self.max_days:
            raise ValueError(
                f"key 'min_days' ({self.min_days}) must not exceed key 'max_days' ({self.max_days})"
            )
        if self.treatment and self.treatment == self.control:
            raise ValueError(f"key 'treatment' is the control ({self.control!r})")
        return self


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


def shop_tables(res: ShopStudy) -> dict[str, pd.DataFrame]:
    """The result tables of :func:`run_shop_study`, by file name (``results/05_ab_simulation/``).

    ``design`` (per candidate duration), ``metrics`` (per metric: arms, lift, interval, p-values),
    ``guardrails``, ``truth`` (estimates against the exact differences), ``coverage``, ``looks``
    (daily monitoring), ``latency`` (measured: differs between runs), ``calibration``,
    ``interleaving``, ``ope_estimates``, ``ope_summary``, ``ope_truth``, ``agreement_revenue``,
    ``agreement_clicks`` (per policy), ``agreement_stats`` (per statistic and online outcome),
    ``novelty`` and ``decision`` (one row: verdict and reasons).
    """
    ab = res.ab
    out = {
        "design": res.design.table,
        "metrics": ab.metrics,
        "guardrails": ab.guardrails,
        "truth": ab.truth,
        "coverage": ab.coverage,
        "looks": ab.looks,
        "timing_latency": ab.latency,
        "calibration": res.calibration,
        "interleaving": res.interleaving,
        "agreement_revenue": res.agreement_revenue.table,
        "agreement_clicks": res.agreement_clicks.table,
        "agreement_stats": pd.concat(
            [
                res.agreement_revenue.stats.assign(online="revenue"),
                res.agreement_clicks.stats.assign(online="clicks"),
            ],
            ignore_index=True,
        ),
        "decision": pd.DataFrame(
            {
                "control": [res.control],
                "treatment": [res.treatment],
                "verdict": [ab.decision.verdict],
                "reasons": [" ".join(ab.decision.reasons)],
                "srm_p_value": [ab.srm.p_value],
                "srm_mismatch": [ab.srm.mismatch],
            }
        ),
    }
    if res.ope is not None:
        out["ope_estimates"] = res.ope.estimates
        out["ope_summary"] = res.ope.summary
        out["ope_truth"] = res.ope.truth
    if res.novelty is not None:
        out["novelty"] = res.novelty.table
    return {k: v for k, v in out.items() if v is not None and len(v.columns)}


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
