"""Off-policy estimators on cases whose answer is known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import ope

THETA = np.array([1.0, 0.6, 0.35])  # examination of positions 1..3
C = 5  # candidates per visit
K = 3


def _world(n_visits: int, seed: int, logging: RankingPolicy, features: bool = True):
    """A position-based world: click on a at position j with probability theta_j * c_v(a)."""
    rng = np.random.default_rng(seed)
    appeal = rng.normal(0, 1, (n_visits, C))  # what the customer likes (unknown to the policies)
    ctr = 0.6 / (1 + np.exp(-(appeal - 0.5)))
    log_scores = appeal + rng.normal(0, 1.0, (n_visits, C))  # a noisy logging model
    ranking = logging.sample(log_scores, K, rng)
    clicks = rng.random((n_visits, K)) < THETA[None, :] * np.take_along_axis(ctr, ranking, axis=1)
    feats = np.stack([log_scores, appeal], axis=2) if features else None
    units = np.array([f"u{i // 3}" for i in range(n_visits)], dtype=object)  # 3 visits a customer
    log = ope.SlateLog(units, log_scores, logging, ranking, clicks.astype(float), THETA, feats)
    return log, ctr, appeal


def _exact(ctr: np.ndarray, scores: np.ndarray, policy: RankingPolicy) -> float:
    m = policy.position_probabilities(scores, K)
    return float((m * THETA[None, None, :] * ctr[:, :, None]).sum(axis=(1, 2)).mean())


LOGGING = RankingPolicy("plackett_luce", temperature=1.0)


@pytest.fixture(scope="module")
def world():
    return _world(60_000, 1, LOGGING)


@pytest.mark.parametrize(
    "target",
    [RankingPolicy("deterministic"), RankingPolicy("plackett_luce", temperature=0.5)],
    ids=["deterministic", "plackett_luce"],
)
def test_unbiased_estimators_recover_the_exact_value(world, target):
    log, ctr, appeal = world
    tgt = appeal + 0.3  # a better ranker than the logger: it sees the true appeal
    truth = _exact(ctr, tgt, target)
    model = ope.fit_reward_model(log)
    res = ope.estimate(log, tgt, target, reward_model=model, n_boot=200, seed=0)
    est = res.set_index("estimator")
    for name in ("ips", "iips", "pbm_ips", "dr"):
        e, se = est.loc[name, "estimate"], est.loc[name, "se"]
        assert abs(e - truth) < 3 * se, (name, e, truth, se)
        assert est.loc[name, "ci_low"] < est.loc[name, "ci_high"]
    # the smaller the weights the smaller the error bars
    assert est.loc["pbm_ips", "se"] < est.loc["iips", "se"] < est.loc["ips", "se"]
    # the reward model sees the appeal, so DM is close and DR no noisier than item IPS
    assert est.loc["dm", "estimate"] == pytest.approx(truth, rel=0.05)
    assert est.loc["dr", "se"] <= est.loc["iips", "se"]


def test_target_equal_to_logging_gives_the_logged_mean():
    log, _, _ = _world(3000, 2, LOGGING, features=False)
    res = ope.estimate(log, log.scores, LOGGING, n_boot=0).set_index("estimator")
    mean_reward = log.rewards.sum(axis=1).mean()
    for name in ("ips", "snips", "iips", "pbm_ips"):
        assert res.loc[name, "estimate"] == pytest.approx(mean_reward, rel=1e-9), name
    assert "dm" not in res.index  # no reward model given


def test_perfect_reward_model_makes_dm_exact():
    log, ctr, appeal = _world(2000, 3, LOGGING, features=False)

    class Perfect:
        k = K

        def predict(self, features):
            return THETA[None, None, :] * ctr[:, :, None]

    log.features = np.zeros((2000, C, 1))
    tgt = appeal
    pol = RankingPolicy("deterministic")
    res = ope.estimate(log, tgt, pol, reward_model=Perfect(), n_boot=0).set_index("estimator")
    assert res.loc["dm", "estimate"] == pytest.approx(_exact(ctr, tgt, pol), rel=1e-12)


def test_hand_computed_list_ips_snips_and_clipping():
    # two visits, 2 candidates, k = 1; logging uniform (epsilon-greedy with epsilon 1)
    logging = RankingPolicy("epsilon_greedy", epsilon=1.0)
    scores = np.array([[0.0, 1.0], [0.0, 1.0]])
    ranking = np.array([[1], [0]])
    rewards = np.array([[1.0], [1.0]])
    log = ope.SlateLog(np.array(["a", "b"], dtype=object), scores, logging, ranking, rewards,
                       np.array([1.0]))  # fmt: skip
    target = RankingPolicy("deterministic")  # always shows candidate 1
    res = ope.estimate(log, scores, target, n_boot=0).set_index("estimator")
    # weights: visit 1 shows the target's pick (w = 1 / 0.5 = 2), visit 2 does not (w = 0)
    assert res.loc["ips", "estimate"] == pytest.approx((2 * 1 + 0 * 1) / 2)
    assert res.loc["snips", "estimate"] == pytest.approx(2 / 2)
    clipped = ope.estimate(log, scores, target, clip=1.5, n_boot=0).set_index("estimator")
    assert clipped.loc["ips", "estimate"] == pytest.approx(1.5 / 2)
    with pytest.raises(ValueError, match="exactly the logged candidates"):
        ope.estimate(log, np.array([[0.0, np.nan], [0.0, 1.0]]), target, n_boot=0)


def test_slate_log_from_a_slot_table():
    df = pd.DataFrame(
        {
            "visit": [0, 0, 1, 1],
            "unit_id": ["a", "a", "b", "b"],
            "position": [1, 2, 1, 2],
            "candidate": [2, 0, 1, 2],
            "clicked": [True, False, False, True],
        }
    )
    log = ope.slate_log(df, 2, np.zeros((2, 3)), LOGGING, np.array([1.0, 0.5]))
    assert log.ranking.tolist() == [[2, 0], [1, 2]]
    assert log.rewards.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="lacks the column"):
        ope.slate_log(df.drop(columns="candidate"), 2, np.zeros((2, 3)), LOGGING, np.ones(2))
