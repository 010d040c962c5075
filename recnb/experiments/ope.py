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
    :meth:`~recnb.synthetic.SyntheticShop.examination`; on real logs they must be estimated).
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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from recnb.metrics.stats import bootstrap_counts
from recnb.synthetic import RankingPolicy

__all__ = [
    "ESTIMATORS",
    "RewardModel",
    "SlateLog",
    "estimate",
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
            raise ValueError(f"SlateLog: features of shape {self.features.shape[:2]}, want {(v, c)}")

    @property
    def k(self) -> int:
        return int(self.ranking.shape[1])

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
    """Array form of a slot-level log from :meth:`~recnb.synthetic.SyntheticShop.simulate_policy`
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
        """``q`` for every (visit, candidate, position): shape (V, C, k); NaN features give 0."""
        v, c, f = features.shape
        x = np.nan_to_num(features.reshape(v * c, f))
        out = np.empty((v * c, self.k))
        for j in range(self.k):
            pos = np.zeros((v * c, self.k))
            pos[:, j] = 1.0
            out[:, j] = self.model.predict_proba(np.hstack([pos, x]))[:, 1]
        return out.reshape(v, c, self.k)


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
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-visit numerator and denominator of every estimator (value = sum num / sum den)."""
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
    p0 = log.policy.list_propensity(log.scores, log.ranking)
    pe = target_policy.list_propensity(tgt, log.ranking)
    w = np.where(p0 > 0, pe / p0, 0.0)
    total = r.sum(axis=1)
    out = {
        "ips": (np.minimum(w, clip) * total, ones),
        "snips": (w * total, w),
    }
    # item-position level
    m0 = log.logging_marginals()
    me = target_policy.position_probabilities(tgt, k)
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
    if reward_model is not None and log.features is not None:
        q = reward_model.predict(log.features)  # (V, C, k)
        q = np.where(np.isnan(log.scores)[:, :, None], 0.0, q)
        dm = (me * q).sum(axis=(1, 2))
        q_item = np.where(shown, q[rows, c, pos], 0.0)
        out["dm"] = (dm, ones)
        out["dr"] = (dm + (w_item * (r - q_item)).sum(axis=1), ones)
    return out


def estimate(
    log: SlateLog,
    target_scores: np.ndarray,
    target_policy: RankingPolicy,
    clip: float = np.inf,
    reward_model: RewardModel | None = None,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | None = 0,
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

    Returns
    -------
    pandas.DataFrame
        One row per estimator: ``estimator``, ``estimate`` (expected reward per visit),
        ``ci_low``, ``ci_high`` and ``se`` (bootstrap standard deviation).
    """
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip!r}")
    terms = _terms(log, target_scores, target_policy, clip, reward_model)
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
        if boot is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                b = boot[:, 2 * i] / boot[:, 2 * i + 1]
            lo, hi = np.nanquantile(b, [alpha / 2, 1 - alpha / 2])
            row.update(ci_low=float(lo), ci_high=float(hi), se=float(np.nanstd(b, ddof=1)))
        else:
            row.update(ci_low=np.nan, ci_high=np.nan, se=np.nan)
        rows.append(row)
    return pd.DataFrame(rows)
