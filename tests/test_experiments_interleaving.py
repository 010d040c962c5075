"""Team-draft interleaving: the algorithm against a reference, and on the small shop."""

from __future__ import annotations

import numpy as np
import pytest

from recnb.experiments import Arm, Traffic, exact_values
from recnb.experiments import power as pw
from recnb.experiments.interleaving import empirical_sample_size, run_interleaving, team_draft


def _reference(a: list[int], b: list[int], k: int, coins: list[bool]):
    """Radlinski et al. (2008), Algorithm 2, written plainly (padding -1 skipped)."""
    a = [x for x in a if x >= 0]
    b = [x for x in b if x >= 0]
    out, team, na, nb = [], [], 0, 0
    for s in range(k):
        left_a = [x for x in a if x not in out]
        left_b = [x for x in b if x not in out]
        if not left_a and not left_b:
            out.append(-1)
            team.append(-1)
            continue
        a_turn = na < nb or (na == nb and coins[s])
        if not left_b:
            a_turn = True
        if not left_a:
            a_turn = False
        if a_turn:
            out.append(left_a[0])
            team.append(0)
            na += 1
        else:
            out.append(left_b[0])
            team.append(1)
            nb += 1
    return out, team


def test_team_draft_matches_the_reference_algorithm():
    rng = np.random.default_rng(0)
    n, k = 300, 6
    a = np.array([rng.permutation(12)[:k] for _ in range(n)])
    b = np.array([rng.permutation(12)[:k] for _ in range(n)])
    a[:20, -2:] = -1  # short lists
    b[10:30, -3:] = -1
    coins = rng.random((n, k)) < 0.5
    items, team = team_draft(a, b, k, coins=coins)
    for i in range(n):
        ref_items, ref_team = _reference(list(a[i]), list(b[i]), k, list(coins[i]))
        assert items[i].tolist() == ref_items
        assert team[i].tolist() == ref_team


def test_team_draft_hand_cases():
    items, team = team_draft(
        np.array([[1, 2, 3]]), np.array([[1, 2, 3]]), 3, coins=np.ones((1, 3), bool)
    )
    assert items.tolist() == [[1, 2, 3]]  # identical rankers: the list itself
    assert team.tolist() == [[0, 1, 0]]
    items, team = team_draft(
        np.array([[1, 2]]), np.array([[3, 4]]), 4, coins=np.zeros((1, 4), bool)
    )
    assert items.tolist() == [[3, 1, 4, 2]] and team.tolist() == [[1, 0, 1, 0]]
    with pytest.raises(ValueError, match="give rng or coins"):
        team_draft(np.array([[1]]), np.array([[2]]), 1)


@pytest.fixture(scope="module")
def traffic(experiment_world):
    w = experiment_world
    return Traffic.from_shop(w.shop, range(w.n_days, w.n_days + 28), unit_id=w.unit_id)


def test_interleaving_finds_the_better_ranker_and_agrees_with_the_truth(experiment_world, traffic):
    w = experiment_world
    rand, ease = Arm("random", w.models["random"]), Arm("ease", w.models["ease"])
    res = run_interleaving(w.shop, traffic, rand, ease, history=w.history, seed=3)
    assert res.winner == "ease"
    assert res.preference > 0 and res.mean_d > 0 and res.p_value < 1e-6
    truth = {
        a.label: exact_values(w.shop, traffic, a, 10, w.history)["exp_clicks"].mean()
        for a in (rand, ease)
    }
    assert truth["ease"] > truth["random"]  # the A/B truth agrees
    per = res.per_customer
    assert per["unit_id"].is_unique and per["visits"].sum() == len(traffic)
    assert (per["d"] == per["credit_treatment"] - per["credit_control"]).all()


def test_interleaving_an_arm_with_itself_finds_nothing(experiment_world, traffic):
    w = experiment_world
    a = Arm("ease", w.models["ease"])
    b = Arm("ease again", w.models["ease"])
    res = run_interleaving(w.shop, traffic, a, b, history=w.history, seed=4)
    assert abs(res.mean_d) < 3 * res.se_d


def test_empirical_sample_size_matches_the_formula():
    rng = np.random.default_rng(1)
    d = rng.normal(0.1, 1.0, 50_000)
    grid = np.array([400, 600, 800, 1000, 1300])
    n, curve = empirical_sample_size("interleaving", d, grid, n_sims=4000, seed=2)
    # the pool is the population: its own mean and sd set the answer (about 930 here)
    assert n == pytest.approx(pw.sample_size_one_sample(d.std(), d.mean()), rel=0.06)
    assert curve["power"].is_monotonic_increasing
    yc, yt = rng.normal(0, 1, 50_000), rng.normal(0.2, 1, 50_000)
    grid_ab = np.array([400, 600, 800, 1000])
    n_ab, _ = empirical_sample_size("ab", (yc, yt), grid_ab, 4000, seed=3)
    per_arm = pw.sample_size_mean(yc.std(), yt.mean() - yc.mean(), sd_treatment=yt.std())
    assert n_ab == pytest.approx(2 * per_arm, rel=0.06)
