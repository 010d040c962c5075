"""The stage's building blocks: stage 03's models as policies, and the checks run beside the test.

- :func:`stage03_models` rebuilds the models stage 03 compared, with the hyperparameters it chose
  on the validation split (``results/03_model_comparison/tuning_chosen.parquet``), and fits them on
  the split's ``train`` part;
- :func:`policy_arms` turns them into arms, plus variants of the treatment: stochastic
  (Plackett-Luce, epsilon-greedy) and mitigated (:class:`~recnb.experiments.PopularityPenalty`);
- :func:`calibration_checks` runs the A/A, peeking, power and CUPED checks on the customers'
  simulated potential outcomes (vectorised: thousands of experiments in seconds);
- :func:`interleaving_vs_ab` compares team-draft interleaving with the A/B test on pairs of
  policies: agreement with the A/B winner and the customers each needs for 80% power.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import calibration as cal
from recnb.experiments import power as pw
from recnb.experiments.arms import Arm, PopularityPenalty
from recnb.experiments.interleaving import empirical_sample_size, run_interleaving
from recnb.experiments.offline_online import OnlineValues
from recnb.experiments.simulation import Traffic, cumulative_by_day
from recnb.models import Recommender, make_model
from recnb.models.registry import hyperparameters

__all__ = [
    "calibration_checks",
    "chosen_label",
    "interleaving_vs_ab",
    "policy_arms",
    "stage03_models",
]


def chosen_label(significance: pd.DataFrame) -> str:
    """The model stage 03 chose (the reference of its significance table)."""
    if significance.empty or "reference" not in significance.columns:
        raise ValueError("stage 03's significance table is empty: no chosen model")
    return str(significance["reference"].iloc[0])


def stage03_models(
    labels: Sequence[str],
    train: Any,
    model_params: Mapping[str, Mapping[str, Any]] | None,
    chosen: pd.DataFrame | None,
    seed: int,
    features: dict[str, Any] | None = None,
) -> dict[str, Recommender]:
    """Fit stage 03's models with the hyperparameters it chose.

    Parameters
    ----------
    labels : sequence of str
        Model labels of stage 03 (registry names, or labels whose ``model_params`` entry names
        the registry model under ``model``).
    train : Interactions
        The split's ``train`` part.
    model_params : mapping, optional
        Stage 03's ``model_params`` (fixed hyperparameters per label).
    chosen : pandas.DataFrame, optional
        Stage 03's ``tuning_chosen`` table (``model``, ``hyperparameter``, ``value`` as JSON
        text, ``source``); tuned values override the fixed ones.
    seed : int
        ``random_state`` of models that take one (unless their params set it).
    features : dict, optional
        ``fit(train, features=...)`` (e.g. ``{"products": ds.products}`` for the content model).
    """
    params_of = {str(k): dict(v or {}) for k, v in (model_params or {}).items()}
    out = {}
    for label in labels:
        params = dict(params_of.get(label, {}))
        name = str(params.pop("model", label))
        if chosen is not None and not chosen.empty:
            rows = chosen[(chosen["model"] == label) & (chosen["source"] == "tuned")]
            for _, r in rows.iterrows():
                params[str(r["hyperparameter"])] = json.loads(str(r["value"]))
        if "random_state" in hyperparameters(name) and "random_state" not in params:
            params["random_state"] = seed
        model = make_model(name, **params)
        out[label] = model.fit(train, features=features)
    return out


def policy_arms(
    models: Mapping[str, Recommender],
    treatment: str,
    n_candidates: int = 20,
    variants: bool = True,
    temperature: float = 0.5,
    epsilon: float = 0.1,
    penalty: float = 0.5,
) -> list[Arm]:
    """Deterministic arms of the models, and variants of the treatment.

    The variants (``variants=True``): ``<treatment>+PL`` (Plackett-Luce with ``temperature``),
    ``<treatment>+eps`` (epsilon-greedy with ``epsilon``) and ``<treatment>+debias`` (popularity
    penalty of strength ``penalty``).
    """
    if treatment not in models:
        raise ValueError(f"policy_arms: treatment {treatment!r} is not among {list(models)}")
    arms = [Arm(label, m, n_candidates=n_candidates) for label, m in models.items()]
    if variants:
        m = models[treatment]
        arms += [
            Arm(
                f"{treatment}+PL",
                m,
                RankingPolicy("plackett_luce", temperature=temperature),
                n_candidates,
            ),
            Arm(
                f"{treatment}+eps",
                m,
                RankingPolicy("epsilon_greedy", epsilon=epsilon),
                n_candidates,
            ),
            Arm(
                f"{treatment}+debias",
                m,
                n_candidates=n_candidates,
                reranker=PopularityPenalty(penalty),
            ),
        ]
    return arms


def calibration_checks(
    online: OnlineValues,
    control: str,
    treatment: str,
    column: str,
    covariate: pd.Series | None,
    tau: float,
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Error rates of the tests on this shop's customers (A/A, peeking, power, CUPED).

    Parameters
    ----------
    online : OnlineValues
        Every customer's simulated outcome under every arm (:func:`online_values`).
    control, treatment : str
        Arm labels: A/A and peeking use the control's outcomes; power and CUPED both.
    column : str
        Per-customer outcome (``revenue``, ``clicks``...).
    covariate : pandas.Series, optional
        Pre-period covariate per unit id (CUPED).
    tau : float
        Mixing standard deviation of the mSPRT.
    n_sims : int
        Simulated experiments per check.

    Returns
    -------
    pandas.DataFrame
        ``check``, ``value``, ``expected`` (what theory says), ``mc_se`` (Monte-Carlo standard
        error), ``n_sims``, ``note``.
    """
    yc = online.sampled[column][control].to_numpy(dtype=np.float64)
    yt = online.sampled[column][treatment].to_numpy(dtype=np.float64)
    rows = []
    aa = cal.aa_rejection_rate(yc, n_sims, alpha, "mean", seed=seed)
    rows.append(("aa_false_positive_rate", aa["rate"], alpha, aa["se"], n_sims, "A/A, Welch"))
    conv = online.sampled["converted"][control].to_numpy(dtype=np.float64)
    aa2 = cal.aa_rejection_rate(conv, n_sims, alpha, "proportion", seed=seed + 1)
    rows.append(
        ("aa_false_positive_rate_conversion", aa2["rate"], alpha, aa2["se"], n_sims, "A/A, z-test")
    )
    visits = online.visits[control]
    units = online.sampled[column].index.to_numpy(dtype=object)
    days = np.unique(visits["day"].to_numpy(dtype=np.int64))
    cum = cumulative_by_day(visits, column, units, days)
    first_day = visits.groupby("unit_id")["day"].min().reindex(units).to_numpy()
    first = np.searchsorted(days, first_day)
    pk = cal.peeking_rejection_rates(cum, first, tau, n_sims, alpha, seed=seed + 2)
    rows.append(("peeking_final_look", pk["naive_final"], alpha, pk["naive_final_se"], n_sims,
                 f"fixed horizon, {pk['n_looks']} days"))  # fmt: skip
    rows.append(("peeking_naive_any_look", pk["naive_any"], np.nan, pk["naive_any_se"], n_sims,
                 "stop at the first daily p < alpha"))  # fmt: skip
    rows.append(("peeking_msprt_any_look", pk["msprt_any"], alpha, pk["msprt_any_se"], n_sims,
                 "mSPRT, at most alpha"))  # fmt: skip
    diff = yt.mean() - yc.mean()
    if diff != 0:
        n = pw.sample_size_mean(yc.std(), diff, alpha, 0.8, sd_treatment=yt.std())
        x = None if covariate is None else covariate.reindex(units).fillna(0.0).to_numpy()
        res = cal.power_check(yc, yt, min(n, 50 * len(yc)), x, n_sims, alpha, seed=seed + 3)
        rows.append(("empirical_power", res.empirical_power, res.design_power,
                     res.empirical_power_se, n_sims, f"{res.n_per_arm:,} customers per arm"))  # fmt: skip
        if x is not None:
            rows.append(("cuped_variance_ratio", res.cuped_variance_ratio, 1 - res.rho**2,
                         np.nan, n_sims, f"rho {res.rho:.2f}"))  # fmt: skip
            rows.append(("cuped_bias_z", res.cuped_bias_z, 0.0, 1.0, n_sims,
                         "mean CUPED estimate minus the true difference, in Monte-Carlo SE"))  # fmt: skip
    return pd.DataFrame(rows, columns=["check", "value", "expected", "mc_se", "n_sims", "note"])


def interleaving_vs_ab(
    shop: Any,
    traffic: Traffic,
    control: Arm,
    others: Sequence[Arm],
    online: OnlineValues,
    k: int = 10,
    history: Any = None,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    n_sims: int = 400,
    measure: Sequence[str] = (),
) -> pd.DataFrame:
    """Team-draft interleaving of the control against each other arm, beside the A/B truth.

    For each pair: the interleaving preference and its test, the A/B difference in clicks per
    customer (exact and simulated), whether the winners agree, and the customers each method
    needs for ``power`` (normal approximation from each method's own simulated population: the
    A/B difference and spreads of the customers' simulated clicks under both arms, the mean and
    spread of the interleaving credit differences; measured by simulating experiments for the
    pairs named in ``measure``).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``control``, ``treatment``, ``preference``, ``mean_credit_diff``,
        ``p_value``, ``interleaving_winner``, ``ab_true_diff`` (exact clicks per customer),
        ``ab_diff`` (simulated), ``true_winner``, ``agrees`` (the interleaving winner, when it has
        one, is the true one), ``customers_ab``, ``customers_interleaving``, ``ratio``,
        ``customers_ab_measured``, ``customers_interleaving_measured``.
    """
    rows = []
    ex = online.exact["clicks"]
    sm = online.sampled["clicks"]
    for i, arm in enumerate(others):
        res = run_interleaving(shop, traffic, control, arm, k, history, seed + i, alpha, power)
        true_diff = float(ex[arm.label].mean() - ex[control.label].mean())
        yc = sm[control.label].to_numpy(dtype=np.float64)
        yt = sm[arm.label].to_numpy(dtype=np.float64)
        ab_diff = float(yt.mean() - yc.mean())
        # both methods' sample sizes from their own simulated populations (the A/B pools and
        # the interleaving credits), so the formula and the measured figures are comparable
        n_ab = (
            2 * pw.sample_size_mean(yc.std(), ab_diff, alpha, power, sd_treatment=yt.std())
            if ab_diff != 0
            else -1
        )
        d = res.per_customer["d"].to_numpy(dtype=np.float64)
        true_winner = arm.label if true_diff > 0 else control.label
        row = {
            "control": control.label,
            "treatment": arm.label,
            "preference": res.preference,
            "mean_credit_diff": res.mean_d,
            "p_value": res.p_value,
            "interleaving_winner": res.winner,
            "ab_true_diff": true_diff,
            "ab_diff": ab_diff,
            "true_winner": true_winner,
            "agrees": (res.winner == true_winner) if res.winner != "tie" else np.nan,
            "customers_ab": n_ab,
            "customers_interleaving": res.customers_for_power,
            "customers_ab_measured": np.nan,
            "customers_interleaving_measured": np.nan,
        }
        hi = int(max(n_ab, res.customers_for_power) * 4)
        if arm.label in measure and n_ab > 0 and res.customers_for_power > 0 and hi <= 400_000:
            lo = max(20, int(min(n_ab, res.customers_for_power) / 4))
            grid = np.unique(np.geomspace(lo, hi, 14).astype(int))
            row["customers_interleaving_measured"] = empirical_sample_size(
                "interleaving", d, grid, n_sims, alpha, power, seed + 100 + i
            )[0]
            row["customers_ab_measured"] = empirical_sample_size(
                "ab", (yc, yt), grid, n_sims, alpha, power, seed + 200 + i
            )[0]
        rows.append(row)
    out = pd.DataFrame(rows)
    out["ratio"] = out["customers_ab"] / out["customers_interleaving"]
    return out
