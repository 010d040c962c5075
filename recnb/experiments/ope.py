"""Off-policy evaluation of ranking policies from logged stochastic slates.

A logging policy ``pi_0`` showed each visit ``v`` a slate of ``k`` products drawn from the visit's
candidates; for each shown slot ``j`` the log holds the product ``a_vj``, the reward ``r_vj``
(click, purchase) and the propensities. A target policy ``pi_e`` ranks the *same* candidates
differently; its value is the expected total reward per visit, ``V(pi_e) = E_v sum_j E[r_j]``. The
estimators, each from its paper, with what it assumes:

``ips``
    List-level inverse propensity scoring (Horvitz-Thompson; for slates "standard IPS"):
    ``mean_v min(w_v, M) R_v`` with ``w_v = pi_e(S_v) / pi_0(S_v)`` the ratio of the whole
    slate's probabilities and ``R_v`` its total reward. Unbiased without any assumption on how
    customers respond when unclipped (``M = inf``); clipping at ``M`` trades that for variance
    (Ionides 2008; Bottou et al. 2013). With long slates exact matches are rare and the variance
    is enormous: that is the honest point of showing it.
``snips``
    Self-normalised list-level IPS (Swaminathan & Joachims 2015): ``sum w_v R_v / sum w_v``;
    biased but consistent, bounded by the largest reward.
``iips``
    Item-position IPS (Li et al. 2018's item-position model; "independent IPS" in Kiyohara et al.
    2022): ``mean_v sum_j min(w_vj, M) r_vj`` with ``w_vj = pi_e(a_vj at j) / pi_0(a_vj at j)``.
    Unbiased when the reward of a slot depends only on the product and its position (true for the
    shop's response model), with far smaller weights than the list-level ones.
``pbm_ips``
    Position-based-model IPS (Li, Kim & Zitouni, "Offline evaluation of ranking policies with
    click models", KDD 2018): under ``E[r | a at j] = theta_j c(a)``, a reward on ``a`` is weighted
    by ``sum_l pi_e(a at l) theta_l / sum_l pi_0(a at l) theta_l``: pooling over positions gives
    smaller weights still. Needs the examination probabilities ``theta`` (the shop's
    :meth:`~recnb.data.synthetic.SyntheticShop.examination`; on real logs they must be estimated).
``dm``
    The direct method: a reward model ``q(v, a, j)`` fitted on the log (here a logistic
    regression on the position and the candidate's features), then ``mean_v sum_j sum_a pi_e(a at
    j) q(v, a, j)``. No weights, low variance, biased as far as the model is wrong.
``dr``
    Doubly robust (Dudik, Langford & Li 2011; for item-position slates Kiyohara et al. 2022):
    ``dm`` plus the item-position IPS of the model's residuals, ``sum_j w_vj (r_vj - q(v, a_vj,
    j))``: unbiased when either the weights or the model are right, and lower variance than
    ``iips`` when the model is good.

Confidence intervals are percentile bootstrap intervals resampling *customers* (a customer's
visits go together), with the reward model held fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from recnb.data.synthetic import RankingPolicy
from recnb.metrics.stats import bootstrap_counts

__all__ = [
    "ESTIMATORS",
    "OPEResult",
    "RewardModel",
    "SlateLog",
    "candidate_features",
    "estimate",
    "evaluate_on_shop",
    "fit_reward_model",
    "slate_log",
]

ESTIMATORS: tuple[str, ...] = ("ips", "snips", "iips", "pbm_ips", "dm", "dr")
"""Estimator names, in report order."""


@dataclass
class SlateLog:
    """Logged slates in array form.

    Attributes
    ----------
    unit_id : numpy.ndarray, shape (V,)
        Customer of each visit (bootstrap clusters).
    scores : numpy.ndarray, shape (V, C)
        The logging policy's scores of each visit's candidates (NaN: no candidate).
    policy : RankingPolicy
        The logging policy.
    ranking : numpy.ndarray of int, shape (V, k)
        Candidate column shown at each position (-1: empty slot).
    rewards : numpy.ndarray, shape (V, k)
        Reward of each slot (0 for empty slots).
    examination : numpy.ndarray, shape (k,)
        Probability that each position is examined (for ``pbm_ips``).
    features : numpy.ndarray, shape (V, C, f), optional
        Candidate features for the reward model of ``dm`` and ``dr``.
    """

    unit_id: np.ndarray
    scores: np.ndarray
    policy: RankingPolicy
    ranking: np.ndarray
    rewards: np.ndarray
    examination: np.ndarray
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        v, c = self.scores.shape
        if self.ranking.shape[0] != v or self.rewards.shape != self.ranking.shape:
            raise ValueError(
                f"SlateLog: scores {self.scores.shape}, ranking {self.ranking.shape} and rewards "
                f"{self.rewards.shape} do not agree"
            )
        if len(self.unit_id) != v:
            raise ValueError(f"SlateLog: {len(self.unit_id)} unit ids for {v} visits")
        if len(self.examination) != self.ranking.shape[1]:
            raise ValueError("SlateLog: one examination probability per position")
        if self.features is not None and self.features.shape[:2] != (v, c):
            raise ValueError(
                f"SlateLog: features of shape {self.features.shape[:2]}, want {(v, c)}"
            )

    @property
    def k(self) -> int:
        return int(self.ranking.shape[1])

    def logging_list_propensity(self) -> np.ndarray:
        """``pi_0`` of each logged slate, shape (V,) (computed once, cached)."""
        cached = getattr(self, "_list_propensity", None)
        if cached is None:
            cached = self.policy.list_propensity(self.scores, self.ranking)
            self._list_propensity = cached
        return cached

    def logging_marginals(self) -> np.ndarray:
        """``pi_0(candidate at position)``, shape (V, C, k) (computed once, cached)."""
        cached = getattr(self, "_marginals", None)
        if cached is None:
            cached = self.policy.position_probabilities(self.scores, self.k)
            self._marginals = cached
        return cached


def slate_log(
    log: pd.DataFrame,
    n_visits: int,
    scores: np.ndarray,
    policy: RankingPolicy,
    examination: np.ndarray,
    reward: str = "clicked",
    features: np.ndarray | None = None,
) -> SlateLog:
    """Array form of a slot-level log from :meth:`~recnb.data.synthetic.SyntheticShop.simulate_policy`
    (or :func:`recnb.experiments.simulate_arm` with ``keep_log=True``).

    Parameters
    ----------
    log : pandas.DataFrame
        Slot rows with ``visit`` (row of the visit, 0..n_visits-1), ``unit_id``, ``position``,
        ``candidate`` and the reward column.
    n_visits : int
    scores : numpy.ndarray, shape (n_visits, C)
        The logging scores the slates were drawn from.
    policy : RankingPolicy
        The logging policy.
    examination : numpy.ndarray
        Examination probability per position.
    reward : str
        Reward column (``clicked``, ``purchased``, ``revenue``...).
    features : numpy.ndarray, optional
        Candidate features for the reward model.
    """
    for col in ("visit", "unit_id", "position", "candidate", reward):
        if col not in log.columns:
            raise ValueError(f"slate_log: the log lacks the column {col!r}")
    k = len(examination)
    v = log["visit"].to_numpy(dtype=np.int64)
    j = log["position"].to_numpy(dtype=np.int64) - 1
    ranking = np.full((n_visits, k), -1, dtype=np.int64)
    rewards = np.zeros((n_visits, k))
    ranking[v, j] = log["candidate"].to_numpy(dtype=np.int64)
    rewards[v, j] = log[reward].to_numpy(dtype=np.float64)
    units = np.empty(n_visits, dtype=object)
    units[v] = log["unit_id"].to_numpy(dtype=object)
    if pd.isna(units).any():
        raise ValueError("slate_log: a visit has no logged slot (every visit needs its unit id)")
    return SlateLog(
        units, np.asarray(scores, dtype=np.float64), policy, ranking, rewards,
        np.asarray(examination, dtype=np.float64), features,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# reward model (direct method)
# ----------------------------------------------------------------------------------------------


@dataclass
class RewardModel:
    """A logistic regression of a binary slot reward on position and candidate features.

    ``q(v, c, j) = sigmoid(b_j + x_vc . beta)``: one intercept per position (the position effect)
    and one slope per feature. Fitted on the logged slots only.
    """

    model: LogisticRegression
    k: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``q`` for every (visit, candidate, position): shape (V, C, k); NaN features count as
        0."""
        coef = self.model.coef_[0]
        base = np.nan_to_num(features) @ coef[self.k :]  # (V, C)
        logit = base[:, :, None] + coef[None, None, : self.k]
        return 1.0 / (1.0 + np.exp(-logit))


def fit_reward_model(log: SlateLog, c_reg: float = 1.0) -> RewardModel:
    """Fit the :class:`RewardModel` of ``dm`` / ``dr`` on the logged slots.

    Raises
    ------
    ValueError
        Without features, or with a reward that is not 0/1.
    """
    if log.features is None:
        raise ValueError("fit_reward_model: the log has no candidate features")
    shown = log.ranking >= 0
    vv, jj = np.nonzero(shown)
    cc = log.ranking[vv, jj]
    y = log.rewards[vv, jj]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("fit_reward_model: the direct method here needs a 0/1 reward")
    pos = np.zeros((len(vv), log.k))
    pos[np.arange(len(vv)), jj] = 1.0
    x = np.hstack([pos, np.nan_to_num(log.features[vv, cc])])
    model = LogisticRegression(C=c_reg, fit_intercept=False, max_iter=1000)
    if len(np.unique(y)) < 2:
        raise ValueError("fit_reward_model: the logged rewards are all equal")
    model.fit(x, y)
    return RewardModel(model, log.k)


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------


def _terms(
    log: SlateLog,
    target_scores: np.ndarray,
    target_policy: RankingPolicy,
    clip: float,
    reward_model: RewardModel | None,
    target_marginals: np.ndarray | None = None,
    q: np.ndarray | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """Per-visit numerator and denominator of every estimator (value = sum num / sum den), and
    the importance weights each used (for the effective sample size)."""
    k = log.k
    n = len(log.unit_id)
    tgt = np.asarray(target_scores, dtype=np.float64)
    if tgt.shape != log.scores.shape:
        raise ValueError(f"target_scores: shape {tgt.shape}, expected {log.scores.shape}")
    if (np.isnan(tgt) != np.isnan(log.scores)).any():
        raise ValueError("target_scores: the target must score exactly the logged candidates")
    shown = log.ranking >= 0
    r = np.where(shown, log.rewards, 0.0)
    rows = np.arange(n)[:, None]
    pos = np.arange(k)[None, :]
    ones = np.ones(n)
    # list level
    p0 = log.logging_list_propensity()
    pe = target_policy.list_propensity(tgt, log.ranking)
    w = np.where(p0 > 0, pe / p0, 0.0)
    total = r.sum(axis=1)
    out = {
        "ips": (np.minimum(w, clip) * total, ones),
        "snips": (w * total, w),
    }
    # item-position level
    m0 = log.logging_marginals()
    me = (
        target_policy.position_probabilities(tgt, k)
        if target_marginals is None
        else target_marginals
    )
    c = np.maximum(log.ranking, 0)
    p0_item = m0[rows, c, pos]
    pe_item = me[rows, c, pos]
    w_item = np.where(shown & (p0_item > 0), pe_item / np.where(p0_item > 0, p0_item, 1.0), 0.0)
    out["iips"] = ((np.minimum(w_item, clip) * r).sum(axis=1), ones)
    theta = log.examination[None, None, :]
    e0 = (m0 * theta).sum(axis=2)  # (V, C): examination-weighted exposure under pi_0
    ee = (me * theta).sum(axis=2)
    e0_item, ee_item = e0[rows, c], ee[rows, c]
    w_pbm = np.where(shown & (e0_item > 0), ee_item / np.where(e0_item > 0, e0_item, 1.0), 0.0)
    out["pbm_ips"] = ((np.minimum(w_pbm, clip) * r).sum(axis=1), ones)
    weights = {
        "ips": np.minimum(w, clip),
        "snips": w,
        "iips": np.minimum(w_item, clip)[shown],
        "pbm_ips": np.minimum(w_pbm, clip)[shown],
        "dr": w_item[shown],
    }
    if q is None and reward_model is not None and log.features is not None:
        q = reward_model.predict(log.features)  # (V, C, k)
    if q is not None:
        q = np.where(np.isnan(log.scores)[:, :, None], 0.0, q)
        dm = (me * q).sum(axis=(1, 2))
        q_item = np.where(shown, q[rows, c, pos], 0.0)
        out["dm"] = (dm, ones)
        out["dr"] = (dm + (w_item * (r - q_item)).sum(axis=1), ones)
    return out, weights


def estimate(
    log: SlateLog,
    target_scores: np.ndarray,
    target_policy: RankingPolicy,
    clip: float = np.inf,
    reward_model: RewardModel | None = None,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | None = 0,
    target_marginals: np.ndarray | None = None,
    q: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every estimator's value of a target policy, with bootstrap intervals over customers.

    Parameters
    ----------
    log : SlateLog
        The logged slates.
    target_scores : numpy.ndarray, shape (V, C)
        The target policy's scores of the logged candidates (NaN exactly where the log's are).
    target_policy : RankingPolicy
        How the target draws its slate from its scores.
    clip : float
        Largest importance weight used by ``ips``, ``iips`` and ``pbm_ips`` (``inf``: none).
    reward_model : RewardModel, optional
        For ``dm`` and ``dr`` (left out without one).
    n_boot : int
        Bootstrap resamples of customers (0: no intervals).
    alpha : float
        1 - confidence level.
    seed : int or None
    target_marginals : numpy.ndarray, optional
        ``target_policy.position_probabilities(target_scores, k)`` if already computed.
    q : numpy.ndarray, optional
        ``reward_model.predict(log.features)`` if already computed (one per log, whatever the
        target).

    Returns
    -------
    pandas.DataFrame
        One row per estimator: ``estimator``, ``estimate`` (expected reward per visit; NaN for
        ``snips`` when no logged slate has a positive weight), ``ci_low``, ``ci_high``, ``se``
        (bootstrap standard deviation) and ``ess``, the effective sample size of its weights
        ``(sum w)^2 / sum w^2`` (visits for the list level, shown slots for the item level;
        NaN for ``dm``).
    """
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip!r}")
    terms, weights = _terms(
        log, target_scores, target_policy, clip, reward_model, target_marginals, q
    )
    units, inv = np.unique(log.unit_id.astype(str), return_inverse=True)
    rows = []
    rng = np.random.default_rng(seed)
    names = [e for e in ESTIMATORS if e in terms]
    cols = []
    for e in names:
        num, den = terms[e]
        cols.append(np.bincount(inv, weights=num, minlength=len(units)))
        cols.append(np.bincount(inv, weights=den, minlength=len(units)))
    per_unit = np.column_stack(cols)
    boot = None
    if n_boot > 0:
        sums = [
            counts @ per_unit
            for counts in bootstrap_counts(len(units), n_boot, int(rng.integers(2**31 - 1)))
        ]
        boot = np.concatenate(sums, axis=0)
    for i, e in enumerate(names):
        num, den = terms[e]
        value = num.sum() / den.sum() if den.sum() > 0 else float("nan")
        row = {"estimator": e, "estimate": float(value)}
        if boot is not None and np.isfinite(value):
            with np.errstate(divide="ignore", invalid="ignore"):
                b = boot[:, 2 * i] / boot[:, 2 * i + 1]
            b = b[np.isfinite(b)]
            lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2])
            row.update(ci_low=float(lo), ci_high=float(hi), se=float(np.std(b, ddof=1)))
        else:
            row.update(ci_low=np.nan, ci_high=np.nan, se=np.nan)
        wt = weights.get(e)
        row["ess"] = (
            float(wt.sum() ** 2 / np.square(wt).sum())
            if wt is not None and np.square(wt).sum() > 0
            else (0.0 if wt is not None else np.nan)
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# on the shop: logged traffic of a stochastic arm, targets re-ranking its candidates
# ----------------------------------------------------------------------------------------------

#: reward column of the slot log -> column of ``policy_value`` with its exact expectation
_EXACT_OF = {
    "clicked": "expected_clicks",
    "added_to_cart": "expected_add_to_cart",
    "purchased": "expected_purchases",
}


@dataclass
class OPEResult:
    """Result of :func:`evaluate_on_shop`.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per (seed, target, estimator): ``seed``, ``target``, ``estimator``,
        ``estimate``, ``ci_low``, ``ci_high``, ``se``, ``truth`` (the exact value),
        ``rel_error`` (estimate / truth - 1) and ``covered`` (1 when the interval holds the truth,
        0 when not, NaN without an interval).
    truth : pandas.DataFrame
        ``policy``, ``role`` (``logging`` or ``target``) and ``value`` (exact expected reward per
        visit).
    summary : pandas.DataFrame
        Per (target, estimator) over the seeds: ``mean_rel_error``, ``rmse_rel`` (root mean
        squared relative error), ``coverage`` (share of seeds whose interval holds the truth),
        ``mean_ci_width``, ``mean_ess`` (effective sample size of the weights) and ``seeds``.
    reward : str
    alpha : float
    """

    estimates: pd.DataFrame
    truth: pd.DataFrame
    summary: pd.DataFrame
    reward: str
    alpha: float


def candidate_features(
    scores: np.ndarray, product_index: np.ndarray, popularity: np.ndarray
) -> np.ndarray:
    """Reward-model features of logged candidates: the logging score, the candidate's rank in
    the logging list (over the list length) and its standardised log training popularity."""
    v, c = scores.shape
    rank = np.broadcast_to(np.arange(c, dtype=np.float64) / max(c - 1, 1), (v, c))
    pop = np.log1p(np.asarray(popularity, dtype=np.float64))
    p = np.where(product_index >= 0, pop[np.maximum(product_index, 0)], np.nan)
    p = (p - np.nanmean(p)) / (np.nanstd(p) or 1.0)
    feats = np.stack([scores, np.where(np.isnan(scores), np.nan, rank), p], axis=2)
    return np.where(np.isnan(scores)[:, :, None], np.nan, feats)


def evaluate_on_shop(
    shop: Any,
    traffic: Any,
    logging: Any,
    targets: Sequence[Any],
    *,
    k: int = 10,
    history: Any = None,
    seeds: Sequence[int] = (0,),
    reward: str = "clicked",
    clip: float = np.inf,
    n_boot: int = 200,
    alpha: float = 0.05,
) -> OPEResult:
    """Log a stochastic arm on the shop's traffic and evaluate target arms off-policy.

    The logging arm's candidates (its ``n_candidates`` best products per customer) are the
    action space: each target re-ranks them by its own model's scores
    (:meth:`recnb.experiments.Arm.score`) and draws its slate with its own policy, so every
    target is supported by the logging policy wherever its policy is (a Plackett-Luce logger
    gives every ordering a positive probability). The exact value of every policy comes from
    :meth:`~recnb.data.synthetic.SyntheticShop.policy_value` on the same visits, candidates and
    scores. Each seed logs new slates and responses on the same visits.

    Parameters
    ----------
    shop : SyntheticShop
    traffic : Traffic
    logging : Arm
        The logging arm; its policy must be stochastic (the estimators need propensities).
    targets : sequence of Arm
        Target arms (models, re-rankers and policies); labels must be distinct.
    k : int
        Slate length.
    history : PurchaseHistory, optional
    seeds : sequence of int
        One logged data set per seed.
    reward : {"clicked", "added_to_cart", "purchased"}
        The slot reward (its exact expectation must be known).
    clip : float
        Weight clipping of ``ips``, ``iips`` and ``pbm_ips``.
    n_boot : int
        Bootstrap resamples per estimate.
    alpha : float
        1 - confidence level.
    """
    if reward not in _EXACT_OF:
        raise ValueError(f"reward must be one of {list(_EXACT_OF)}, got {reward!r}")
    if logging.policy.kind == "deterministic":
        raise ValueError("evaluate_on_shop: the logging policy must be stochastic")
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"evaluate_on_shop: target labels repeat: {labels}")
    units, inv = np.unique(traffic.unit_id, return_inverse=True)
    cand = logging.candidates(units)
    ids = cand.product_ids[inv]
    log_scores = cand.scores[inv]
    feats = candidate_features(log_scores, cand.product_index[inv], logging.model.popularity_)
    exam = shop.examination(k)
    truth_rows = []

    def exact(scores: np.ndarray, policy: RankingPolicy) -> float:
        val = shop.policy_value(traffic.visits, ids, scores, policy, k=k, history=history)
        return float(val[_EXACT_OF[reward]].mean())

    truth_rows.append(
        {"policy": logging.label, "role": "logging", "value": exact(log_scores, logging.policy)}
    )
    tgt = {}
    for t in targets:
        sc = t.score(units, cand.product_ids)[inv]
        tgt[t.label] = (sc, t.policy, t.policy.position_probabilities(sc, k))
        truth_rows.append({"policy": t.label, "role": "target", "value": exact(sc, t.policy)})
    truth = pd.DataFrame(truth_rows)
    true_of = dict(zip(truth["policy"], truth["value"], strict=True))
    rows = []
    marginals = None
    for seed in seeds:
        raw = shop.simulate_policy(
            traffic.visits, ids, log_scores, logging.policy, k=k, history=history,
            rng=int(seed), item_propensities=False,
        )  # fmt: skip
        raw["visit"] = pd.Index(traffic.visits["visit_id"]).get_indexer(raw["visit_id"])
        raw["unit_id"] = traffic.unit_id[raw["visit"].to_numpy()]
        log = slate_log(raw, len(traffic), log_scores, logging.policy, exam, reward, feats)
        if marginals is None:
            marginals = log.logging_marginals()
        log._marginals = marginals
        model = fit_reward_model(log)
        q = model.predict(log.features)
        for label, (sc, pol, me) in tgt.items():
            est = estimate(
                log, sc, pol, clip=clip, reward_model=model, n_boot=n_boot, alpha=alpha,
                seed=int(seed), target_marginals=me, q=q,
            )  # fmt: skip
            est.insert(0, "target", label)
            est.insert(0, "seed", int(seed))
            rows.append(est)
    out = pd.concat(rows, ignore_index=True)
    out["truth"] = out["target"].map(true_of)
    out["rel_error"] = out["estimate"] / out["truth"] - 1.0
    hit = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
    out["covered"] = np.where(out["ci_low"].isna(), np.nan, hit.astype(float))
    g = out.groupby(["target", "estimator"], sort=False)
    summary = g.agg(
        mean_rel_error=("rel_error", "mean"),
        rmse_rel=("rel_error", lambda x: float(np.sqrt(np.mean(np.square(x))))),
        coverage=("covered", "mean"),
        mean_ci_width=("ci_high", "mean"),
        mean_ess=("ess", "mean"),
        seeds=("seed", "nunique"),
    ).reset_index()
    summary["mean_ci_width"] = g.apply(
        lambda d: float((d["ci_high"] - d["ci_low"]).mean()), include_groups=False
    ).to_numpy()
    return OPEResult(out, truth, summary, reward, alpha)
