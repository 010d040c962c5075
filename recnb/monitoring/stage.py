"""Building blocks of stage 07 (monitoring and continuous improvement), called by its notebook.

- :func:`drill_shop`: on the synthetic shop, a twin of the run's shop with a planted, permanent
  change of taste on a known day (the drill), scrubbed with the run's key like the run's own data;
- :func:`drift_monitor`: the input drift scores of a log (:mod:`recnb.monitoring.signals`,
  :mod:`recnb.monitoring.drift`);
- :func:`model_factory`: a model from a ``{"model": name, **params}`` spec;
- :func:`champion_challenger`: the gate of :mod:`recnb.monitoring.gate` over several challengers;
- :func:`serving_model`: the configuration the gate chose, fitted on the run's whole log, with the
  training part its serving export needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.interactions import Interactions
from recnb.data.schema import Dataset, validate_dataset
from recnb.data.synthetic import ShopConfig, SyntheticShop
from recnb.models.base import Recommender
from recnb.models.registry import make_model
from recnb.monitoring.deployment import RELEVANT_EVENTS, _period_truth, build_interactions
from recnb.monitoring.drift import drift_scores
from recnb.monitoring.gate import (
    ab_test,
    decide,
    fairness_guardrail,
    noninferiority,
    offline_recall,
)
from recnb.monitoring.signals import event_days, input_counts
from recnb.privacy import pseudonymize, scrub

__all__ = [
    "Drill",
    "GateResult",
    "champion_challenger",
    "drift_monitor",
    "drill_shop",
    "model_factory",
    "serving_model",
]


@dataclass
class Drill:
    """A shop with a planted change of taste, its scrubbed log and the id mapping to the log."""

    shop: SyntheticShop
    dataset: Dataset
    shift_day: int
    unit_id: Callable[[np.ndarray], np.ndarray]


def drill_shop(config: ShopConfig, shift_day: int, key: bytes | str, id_length: int = 16) -> Drill:
    """The run's shop with a planted shift of category preferences from ``shift_day`` on.

    Parameters
    ----------
    config : ShopConfig
        The run's shop.
    shift_day : int
        Day the shift starts; must fall inside the log (``< n_days``).
    key : bytes or str
        The run's pseudonymization key: the drill's log is scrubbed like the run's data.
    """
    if not 0 < shift_day < config.n_days:
        raise ValueError(
            f"drill_shift_day: {shift_day} must fall inside the log's days 1..{config.n_days - 1}"
        )
    shop = SyntheticShop(dataclasses.replace(config, shift_day=shift_day))
    ds = validate_dataset(scrub(shop.generate(), key, id_length=id_length))
    return Drill(shop, ds, shift_day, lambda ids: pseudonymize(ids, key, id_length))


def drift_monitor(
    ds: Dataset,
    start: pd.Timestamp | None = None,
    reference_days: int = 28,
    alert_rate: float = 0.01,
    eps: float = 1e-4,
    new_days: int = 30,
    first_day: int | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Input count tables and drift scores of a dataset's log (days from ``start``).

    Trailing days with fewer than half the median day's customers (a log cut in the middle of a
    day, visits running past the last midnight) are left out: a partial day is not drift.
    """
    counts = input_counts(ds.events, ds.products, ds.customers, start=start, new_days=new_days)
    active = next(iter(counts.values())).sum(axis=1)
    if "new_customer_share" in counts:
        active = counts["new_customer_share"].sum(axis=1)
    full = active >= 0.5 * float(active[active > 0].median()) if (active > 0).any() else active > 0
    last = int(active.index[full.to_numpy()].max()) if full.any() else int(active.index.max())
    counts = {name: table.loc[:last] for name, table in counts.items()}
    scores = drift_scores(
        counts, reference_days=reference_days, alert_rate=alert_rate, eps=eps, start_day=first_day
    )
    return counts, scores


def model_factory(spec: Mapping[str, Any], seed: int) -> Callable[[], Recommender]:
    """A factory of fresh models from ``{"model": registry name, **hyperparameters}``.

    ``random_state`` is set to ``seed`` where the model has one; implicit models run on one thread
    so that results repeat.
    """
    spec = dict(spec)
    if "model" not in spec:
        raise ValueError(f"model spec {spec!r}: the key 'model' (a registry name) is missing")
    name = spec.pop("model")

    def make() -> Recommender:
        params = dict(spec)
        probe = make_model(name, **params)
        known = probe.get_params(deep=False)
        if "random_state" in known and "random_state" not in params:
            params["random_state"] = seed
        if "num_threads" in known and "num_threads" not in params:
            params["num_threads"] = 1
        return make_model(name, **params)

    return make


@dataclass
class GateResult:
    """What :func:`champion_challenger` returns."""

    table: pd.DataFrame
    winner: str | None
    models: dict[str, Recommender]
    offline: pd.DataFrame
    ab_available: bool


def champion_challenger(
    events: pd.DataFrame,
    customers: pd.DataFrame | None,
    champion: Mapping[str, Any],
    challengers: Mapping[str, Mapping[str, Any]],
    *,
    start: pd.Timestamp | None = None,
    holdout_days: int = 7,
    k: int = 10,
    group_column: str | None = "age_band",
    min_group_size: int = 30,
    noninferiority_margin: float = 0.05,
    fairness_margin: float = 0.02,
    n_boot: int = 200,
    seed: int = 0,
    shop: SyntheticShop | None = None,
    unit_id: Callable[[np.ndarray], np.ndarray] | None = None,
    ab_days: int = 14,
) -> GateResult:
    """Run the gate of :mod:`recnb.monitoring.gate` for every challenger against the champion.

    Every model is trained on the log before its last ``holdout_days`` days and scored on them
    (paired, same customers). Challengers passing the offline gates meet the champion in a
    simulated A/B test on the ``ab_days`` days after the log when ``shop`` is given.

    Returns
    -------
    GateResult
        ``table``: one row per challenger with the offline figures, the A/B figures and the
        decision; ``winner``: the promoted challenger or None; ``models``: the fitted models by
        name (``"champion"`` included).
    """
    if "champion" in challengers:
        raise ValueError("challengers: the name 'champion' is reserved for the champion")
    day = event_days(events["timestamp"], start)
    cut = int(day.max()) + 1 - holdout_days
    train = build_interactions(events.loc[day < cut])
    hold = events.loc[day >= cut]
    models = {"champion": model_factory(champion, seed)().fit(train)}
    for name, spec in challengers.items():
        models[name] = model_factory(spec, seed)().fit(train)
    cust = np.unique(hold["customer_id"].astype(str))
    rec = offline_recall(models, cust, lambda m: _period_truth(hold, m, cust, RELEVANT_EVENTS), k=k)
    groups = None
    if customers is not None and group_column and group_column in customers.columns:
        groups = (
            customers.set_index(customers["customer_id"].astype(str))[group_column]
            .reindex(rec.index)
            .to_numpy(dtype=object)
        )
    rows = []
    for name in challengers:
        ni = noninferiority(
            rec["champion"].to_numpy(), rec[name].to_numpy(), margin=noninferiority_margin
        )
        if groups is not None:
            fair = fairness_guardrail(
                rec["champion"].to_numpy(),
                rec[name].to_numpy(),
                groups,
                margin=fairness_margin,
                min_group_size=min_group_size,
                n_boot=n_boot,
                seed=seed,
            )
        else:
            fair = {"champion_gap": np.nan, "challenger_gap": np.nan, "upper_bound": np.nan}
            fair["passed"] = True
        row = {
            "challenger": name,
            "model": challengers[name]["model"],
            "recall_champion": ni["champion"],
            "recall_challenger": ni["challenger"],
            "recall_difference": ni["difference"],
            "difference_lower_bound": ni["lower_bound"],
            "allowed_loss": ni["margin"],
            "noninferior": ni["passed"],
            "gap_champion": fair["champion_gap"],
            "gap_challenger": fair["challenger_gap"],
            "gap_change_upper_bound": fair["upper_bound"],
            "allowed_gap_growth": fairness_margin,
            "fair": fair["passed"],
            "ab_won": np.nan,
            "ab_uplift": np.nan,
            "ab_detectable": np.nan,
            "ctr_champion": np.nan,
            "ctr_challenger": np.nan,
            "p_ab": np.nan,
            "p_srm": np.nan,
            "exact_clicks_champion": np.nan,
            "exact_clicks_challenger": np.nan,
        }
        if shop is not None and ni["passed"] and fair["passed"]:
            n_days = shop.config.n_days
            ab = ab_test(
                shop,
                models["champion"],
                models[name],
                range(n_days, n_days + ab_days),
                unit_id=unit_id,
                k=k,
                salt=f"gate:{name}",
                seed=seed,
                history=shop.log_history(),
            )
            row.update(
                ab_won=ab["won"],
                ab_uplift=ab["uplift"],
                ab_detectable=ab["detectable"],
                ctr_champion=ab["ctr_a"],
                ctr_challenger=ab["ctr_b"],
                p_ab=ab["p_value"],
                p_srm=ab["srm_p"],
                exact_clicks_champion=ab["exact_clicks_a"],
                exact_clicks_challenger=ab["exact_clicks_b"],
            )
        rows.append(row)
    winner, table = decide(pd.DataFrame(rows), ab_available=shop is not None)
    return GateResult(table, winner, models, rec, shop is not None)


def serving_model(
    events: pd.DataFrame, spec: Mapping[str, Any], seed: int
) -> tuple[Recommender, Interactions]:
    """The chosen configuration fitted on a whole log, and the part it was fitted on.

    The gate chooses a *configuration* (on the replayed log: on the shop, the drill with its
    planted change); what serves is that configuration trained on everything the run saw, so the
    exported model knows every customer and product of the run's data. The part's ``meta`` records
    the signal (:func:`recnb.monitoring.deployment.build_interactions`), which the serving export
    (:func:`recnb.serving.export_model`) writes into its spec.

    Parameters
    ----------
    events : pandas.DataFrame
        The run's log (``customer_id``, ``product_id``, ``event``).
    spec : mapping
        ``{"model": registry name, **hyperparameters}`` (:func:`model_factory`).
    seed : int
        The run's seed.

    Returns
    -------
    (Recommender, Interactions)
        The fitted model and its training part.
    """
    train = build_interactions(events)
    if train.matrix.nnz == 0:
        raise ValueError("serving_model: the log has no event with a positive weight to train on")
    return model_factory(spec, seed)().fit(train), train
