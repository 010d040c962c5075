"""Do offline metrics predict online results? Rank agreement across policies, and a case where not.

Offline, a policy is judged on the held-out test period of the log (NDCG, precision, recall at
``k``: the metrics of stage 03). For a stochastic policy (epsilon-greedy, Plackett-Luce) the offline
metric is its *expectation* over the policy's draws, exact from the position marginals:
``E[DCG@k] = sum_j sum_c P(c at j) rel(c) / log2(j + 1)`` (so a deterministic policy gets exactly
the metric of :mod:`recnb.metrics`). Online, the same policy's value on the shop's traffic after
the log is known exactly (clicks, purchases, revenue per visitor) and simulated.

:func:`agreement` compares the two rankings of the policies: Kendall's tau and Spearman's rho
between the offline metric and the online lift over a control, the rate at which the offline
winner is the online winner, each with a bootstrap interval (replicates resample the test
customers for the offline side and the experiment's customers for the online side, both paired
across policies).

:func:`novelty_case` builds a shop whose customers seek novelty (``ShopConfig.novelty_seeking``):
the log's pages push crowd-pleasers, so the test period is full of them and the popularity
baseline looks strong offline, while the same customers, shown those products online, want them
less than the log suggests. It reproduces the known pattern "popularity wins offline, loses
online".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from recnb.experiments.arms import Arm
from recnb.experiments.simulation import Traffic, exact_values, per_customer, simulate_arm

__all__ = [
    "Agreement",
    "NoveltyCase",
    "agreement",
    "novelty_case",
    "offline_metrics",
    "online_values",
    "OnlineValues",
]

OFFLINE_METRICS: tuple[str, ...] = ("ndcg", "precision", "recall")


def offline_metrics(
    arms: Sequence[Arm], test: Any, k: int = 10, customers: np.ndarray | None = None
) -> dict[str, pd.DataFrame]:
    """Expected NDCG, precision and recall at ``k`` of each arm on the held-out test part.

    Parameters
    ----------
    arms : sequence of Arm
        Fitted on the training part of the same split as ``test``.
    test : Interactions
        Held-out part (rows: customers, values > 0 relevant).
    k : int
        Cut-off.
    customers : numpy.ndarray of int, optional
        Test rows to evaluate; default every row with a relevant item.

    Returns
    -------
    dict of str to pandas.DataFrame
        Per metric, a customers x arms table of per-customer values (index: customer ids).
    """
    truth = sp.csr_matrix(test.matrix)
    rows = np.flatnonzero(truth.getnnz(axis=1) > 0) if customers is None else customers
    ids = np.asarray(test.customer_ids, dtype=object)[rows]
    n_rel = truth.getnnz(axis=1)[rows].astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = np.cumsum(disc)[np.minimum(n_rel, k).astype(int) - 1]
    out: dict[str, dict[str, np.ndarray]] = {m: {} for m in OFFLINE_METRICS}
    product_pos = pd.Index(np.asarray(test.product_ids, dtype=object))
    sub = truth[rows]
    for arm in arms:
        cand = arm.candidates(ids)
        marg = arm.policy.position_probabilities(cand.scores, k)  # (n, C, k)
        col = product_pos.get_indexer(
            np.where(pd.isna(cand.product_ids), "", cand.product_ids).ravel()
        )
        col = col.reshape(cand.product_ids.shape)
        r_idx = np.repeat(np.arange(len(rows)), cand.product_ids.shape[1]).reshape(col.shape)
        rel = np.zeros(col.shape)
        ok = col >= 0
        rel[ok] = np.asarray(sub[r_idx[ok], col[ok]]).ravel() > 0
        hits = (marg * rel[:, :, None]).sum(axis=1)  # (n, k): P(relevant at position j)
        dcg = hits @ disc
        out["ndcg"][arm.label] = dcg / idcg
        out["precision"][arm.label] = hits.sum(axis=1) / k
        out["recall"][arm.label] = hits.sum(axis=1) / n_rel
    return {m: pd.DataFrame(v, index=pd.Index(ids, name="customer_id")) for m, v in out.items()}


#: per-visit columns summed per customer by :func:`online_values`
ONLINE_COLUMNS: tuple[str, ...] = ("clicks", "purchases", "revenue")


@dataclass
class OnlineValues:
    """Every arm shown to every customer of the traffic (see :func:`online_values`).

    Attributes
    ----------
    exact : dict of str to pandas.DataFrame
        Per column of :data:`ONLINE_COLUMNS`: customers x arms table of the exact expected sum
        over the customer's visits.
    sampled : dict of str to pandas.DataFrame
        The same, one simulated draw (plus ``converted``: bought at least once).
    visits : dict of str to pandas.DataFrame
        Per arm, the sampled per-visit outcomes (for daily looks).
    """

    exact: dict[str, pd.DataFrame]
    sampled: dict[str, pd.DataFrame]
    visits: dict[str, pd.DataFrame]


def online_values(
    shop: Any,
    traffic: Traffic,
    arms: Sequence[Arm],
    k: int = 10,
    history: Any = None,
    seed: int = 0,
) -> OnlineValues:
    """Show every arm to *every* customer of the traffic: exact and sampled per-customer sums.

    Each arm is simulated on all visits with its own random stream (the arms' draws are
    independent), which gives each customer's potential outcome under every arm: the material of
    the offline-online comparison and of the calibration of the tests.
    """
    units = traffic.units()
    index = pd.Index(units, name="unit_id")
    exact: dict[str, dict[str, pd.Series]] = {c: {} for c in ONLINE_COLUMNS}
    sampled: dict[str, dict[str, pd.Series]] = {c: {} for c in (*ONLINE_COLUMNS, "converted")}
    visits = {}
    streams = np.random.SeedSequence(seed).spawn(len(arms))
    for arm, s in zip(arms, streams, strict=True):
        out = simulate_arm(shop, traffic, arm, k, history, np.random.default_rng(s), exact=True)
        visits[arm.label] = out.visits
        pc = per_customer(out.visits).set_index("unit_id").reindex(index)
        for c in ONLINE_COLUMNS:
            exact[c][arm.label] = pc[f"exp_{c}"]
            sampled[c][arm.label] = pc[c]
        sampled["converted"][arm.label] = pc["converted"]
    return OnlineValues(
        {c: pd.DataFrame(v, index=index) for c, v in exact.items()},
        {c: pd.DataFrame(v, index=index) for c, v in sampled.items()},
        visits,
    )


@dataclass
class Agreement:
    """Result of :func:`agreement`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per policy: ``policy``, ``offline`` (mean offline metric), ``online`` (mean
        online value per customer, exact when given, else sampled), ``online_lift`` (over the
        control), ``offline_rank``, ``online_rank`` (1 = best).
    stats : pandas.DataFrame
        ``statistic`` (``kendall_tau``, ``spearman``, ``winner_agreement``), ``value`` (on the
        mean offline metric and the simulated online means, what an experimenter would see),
        ``ci_low``, ``ci_high`` (bootstrap percentiles), and ``value_exact`` (against the exact
        online values instead). For the winner agreement ``value`` is the rate over bootstrap
        replicates, the interval its Wilson interval, and ``value_exact`` 1 or 0.
    """

    table: pd.DataFrame
    stats: pd.DataFrame


def _rank_stats(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    tau = sps.kendalltau(a, b).statistic
    rho = sps.spearmanr(a, b).statistic
    return float(tau), float(rho)


def agreement(
    offline: pd.DataFrame,
    online_sampled: pd.DataFrame,
    control: str,
    online_exact: pd.DataFrame | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> Agreement:
    """Rank agreement between an offline metric and online lift across policies.

    Parameters
    ----------
    offline : pandas.DataFrame
        Test customers x policies: per-customer offline metric (e.g. NDCG).
    online_sampled : pandas.DataFrame
        Experiment customers x policies: per-customer simulated online outcome.
    control : str
        The policy lifts are measured against.
    online_exact : pandas.DataFrame, optional
        The exact expectations of the same (used for the point estimate).
    n_boot : int
        Bootstrap replicates.
    alpha : float
        1 - confidence level.
    seed : int or None
    """
    policies = list(offline.columns)
    if list(online_sampled.columns) != policies:
        raise ValueError("agreement: offline and online tables must list the same policies")
    if control not in policies:
        raise ValueError(f"agreement: control {control!r} is not among {policies}")
    if len(policies) < 3:
        raise ValueError("agreement: need at least 3 policies to compare rankings")
    off = offline.to_numpy(dtype=np.float64)
    on = online_sampled.to_numpy(dtype=np.float64)
    on_point = (online_exact if online_exact is not None else online_sampled).to_numpy(
        dtype=np.float64
    )
    ci = policies.index(control)
    off_mean = np.nanmean(off, axis=0)
    on_mean = on_point.mean(axis=0)
    lift = on_mean / on_mean[ci] - 1.0
    sim_mean = on.mean(axis=0)
    sim_lift = sim_mean / sim_mean[ci] - 1.0
    table = pd.DataFrame(
        {
            "policy": policies,
            "offline": off_mean,
            "online": on_mean,
            "online_lift": lift,
            "offline_rank": sps.rankdata(-off_mean, method="min").astype(int),
            "online_rank": sps.rankdata(-on_mean, method="min").astype(int),
        }
    )
    tau, rho = _rank_stats(off_mean, sim_lift)
    tau_x, rho_x = _rank_stats(off_mean, lift)
    rng = np.random.default_rng(seed)
    taus, rhos, agree = [], [], []
    off_f = np.nan_to_num(off)
    off_w = (~np.isnan(off)).astype(np.float64)
    for _ in range(n_boot):
        i_off = np.bincount(rng.integers(0, len(off), len(off)), minlength=len(off))
        i_on = np.bincount(rng.integers(0, len(on), len(on)), minlength=len(on))
        o = (i_off @ off_f) / np.maximum(i_off @ off_w, 1)
        m = (i_on @ on) / len(on)
        lf = m / m[ci] - 1.0 if m[ci] > 0 else m
        t, r = _rank_stats(o, lf)
        taus.append(t)
        rhos.append(r)
        agree.append(int(np.argmax(o)) == int(np.argmax(m)))
    q = [alpha / 2, 1 - alpha / 2]
    a = np.asarray(agree, dtype=np.float64)
    from statsmodels.stats.proportion import proportion_confint

    lo_a, hi_a = proportion_confint(int(a.sum()), len(a), alpha, method="wilson")
    win_x = float(int(np.argmax(off_mean)) == int(np.argmax(on_mean)))
    stats = pd.DataFrame(
        [
            {"statistic": "kendall_tau", "value": tau, **dict(zip(["ci_low", "ci_high"], np.nanquantile(taus, q), strict=True)), "value_exact": tau_x},
            {"statistic": "spearman", "value": rho, **dict(zip(["ci_low", "ci_high"], np.nanquantile(rhos, q), strict=True)), "value_exact": rho_x},
            {"statistic": "winner_agreement", "value": float(a.mean()), "ci_low": lo_a, "ci_high": hi_a, "value_exact": win_x},
        ]
    )  # fmt: skip
    stats["ci_low"] = stats["ci_low"].astype(float)
    stats["ci_high"] = stats["ci_high"].astype(float)
    return Agreement(table, stats)


@dataclass
class NoveltyCase:
    """Result of :func:`novelty_case`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (novelty_seeking, model): ``novelty_seeking``, ``model``, ``offline_ndcg``,
        ``online_clicks`` and ``online_revenue`` (exact expected per visit on the traffic after
        the log), ``offline_rank``, ``online_rank`` and ``online_share`` (online clicks as a
        share of the best model's).
    reproduced : bool
        Whether, in the novelty-seeking shop (the last setting), popularity ranks first offline
        and last online (on clicks).
    """

    table: pd.DataFrame
    reproduced: bool


def novelty_case(
    shop_settings: Mapping[str, Any],
    novelty_values: Sequence[float] = (0.0, 1.5),
    models: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 10,
    test_days: float = 14.0,
    online_days: int = 14,
    key: bytes | str = b"recnb-novelty-case",
    seed: int = 0,
) -> NoveltyCase:
    """Popularity offline and online, on shops with and without novelty-seeking customers.

    For each ``novelty_seeking`` value a shop is built from ``shop_settings`` (any
    :class:`~recnb.data.synthetic.ShopConfig` fields), its log is scrubbed (keyed pseudonyms), cleaned
    and split in time (the last ``test_days`` held out); every model is fitted on ``train`` and
    judged offline (NDCG@k on ``test``) and online (exact expected clicks and revenue per visit on
    ``online_days`` of traffic after the log).

    Parameters
    ----------
    shop_settings : mapping
        ShopConfig fields (sizes, seed...); ``novelty_seeking`` is set per run.
    novelty_values : sequence of float
        Settings to compare; the last one is the novelty-seeking shop.
    models : mapping of label to {"model": registry name, **hyperparameters}, optional
        Default: popularity and two factorisation models (ALS and PureSVD, 32 factors), the
        pairing in which the pattern is usually reported.
    k, test_days, online_days
        Cut-off, held-out period and online period.
    key : bytes or str
        Pseudonymization key of the case's own data.
    seed : int
        Seeds the models.
    """
    from recnb import privacy
    from recnb.data.schema import validate_dataset
    from recnb.data.synthetic import make_shop
    from recnb.models import make_model
    from recnb.models.registry import hyperparameters
    from recnb.prep import cleaning
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    models = dict(
        models or {"popularity": {}, "als": {"factors": 32}, "pure_svd": {"n_factors": 32}}
    )
    rows = []
    for nov in novelty_values:
        cfg = {**dict(shop_settings), "novelty_seeking": float(nov)}
        shop, raw = make_shop(**cfg)
        ds = cleaning.clean(validate_dataset(privacy.scrub(raw, key)))[0]
        split = sl.build_split(
            ds, PrepSettings(test_days=test_days, valid_days=0, tfidf_max_features=0), run_seed=seed
        )
        train, test = split.parts["train"], split.parts["test"]
        arms = []
        for label, spec in models.items():
            params = dict(spec)
            name = str(params.pop("model", label))
            if "random_state" in hyperparameters(name):
                params.setdefault("random_state", seed)
            arms.append(Arm(label, make_model(name, **params).fit(train), n_candidates=k))
        off = offline_metrics(arms, test, k)["ndcg"].mean()
        n_days = shop.config.n_days
        traffic = Traffic.from_shop(
            shop, range(n_days, n_days + online_days),
            unit_id=lambda ids: privacy.pseudonymize(ids, key, 16),
        )  # fmt: skip
        hist = shop.log_history()
        for arm in arms:
            ev = exact_values(shop, traffic, arm, k, hist)
            rows.append(
                {
                    "novelty_seeking": float(nov),
                    "model": arm.label,
                    "offline_ndcg": float(off[arm.label]),
                    "online_clicks": float(ev["exp_clicks"].mean()),
                    "online_revenue": float(ev["exp_revenue"].mean()),
                }
            )
    table = pd.DataFrame(rows)
    g = table.groupby("novelty_seeking")
    table["offline_rank"] = g["offline_ndcg"].rank(ascending=False, method="min").astype(int)
    table["online_rank"] = g["online_clicks"].rank(ascending=False, method="min").astype(int)
    table["online_share"] = table["online_clicks"] / g["online_clicks"].transform("max")
    last = table[table["novelty_seeking"] == float(novelty_values[-1])].set_index("model")
    pop = "popularity"
    reproduced = bool(
        pop in last.index
        and last.loc[pop, "offline_rank"] == 1
        and last.loc[pop, "online_rank"] == len(last)
    )
    return NoveltyCase(table, reproduced)
