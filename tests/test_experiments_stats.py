"""Experiment statistics against cases whose answers are known (published or hand-computed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import integrate, stats

from recnb.experiments import power as pw
from recnb.experiments import sequential as sq
from recnb.experiments import stats as st
from recnb.experiments.assignment import assign, check_split, hash_uniform

Z975 = stats.norm.ppf(0.975)
Z80 = stats.norm.ppf(0.8)


# ---- proportions ---------------------------------------------------------------------------


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873-890, Table II, example (a): 56/70 vs 48/80, method 10
    newcombe, wald = st.proportion_test(56, 70, 48, 80)
    assert newcombe.diff == pytest.approx(0.2)
    assert newcombe.ci_low == pytest.approx(0.0524, abs=1e-4)
    assert newcombe.ci_high == pytest.approx(0.3339, abs=1e-4)
    # Wald by hand
    se = np.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert wald.ci_low == pytest.approx(0.2 - Z975 * se)
    assert wald.ci_high == pytest.approx(0.2 + Z975 * se)
    # pooled z-test by hand
    pool = 104 / 150
    z = 0.2 / np.sqrt(pool * (1 - pool) * (1 / 70 + 1 / 80))
    assert newcombe.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert newcombe.se == pytest.approx(se)
    assert newcombe.se_treatment == pytest.approx(np.sqrt(0.8 * 0.2 / 70))


def test_proportion_test_rejects_impossible_counts_and_handles_no_variation():
    with pytest.raises(ValueError, match="treatment has 5 successes out of 3"):
        st.proportion_test(5, 3, 1, 10)
    res, _ = st.proportion_test(0, 50, 0, 40)
    assert res.p_value == 1.0 and res.diff == 0.0


# ---- means and ratios ----------------------------------------------------------------------


def test_welch_matches_the_hand_formula(rng):
    t = rng.normal(1.0, 2.0, 40)
    c = rng.normal(0.0, 1.0, 70)
    res = st.welch_test(t, c)
    vt, vc = t.var(ddof=1) / 40, c.var(ddof=1) / 70
    se = np.sqrt(vt + vc)
    df = (vt + vc) ** 2 / (vt**2 / 39 + vc**2 / 69)
    tq = stats.t.ppf(0.975, df)
    assert res.se == pytest.approx(se)
    assert res.ci_low == pytest.approx(res.diff - tq * se)
    assert res.ci_high == pytest.approx(res.diff + tq * se)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(res.diff) / se, df))


def test_welch_refuses_bad_input():
    with pytest.raises(ValueError, match="treatment: NaN"):
        st.welch_test([1.0, np.nan, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="control: need at least 2"):
        st.welch_test([1.0, 2.0], [1.0])


def test_ratio_with_unit_denominators_is_a_difference_of_means(rng):
    yt, yc = rng.poisson(3, 500).astype(float), rng.poisson(2, 400).astype(float)
    res = st.ratio_test(yt, np.ones(500), yc, np.ones(400))
    assert res.diff == pytest.approx(yt.mean() - yc.mean())
    assert res.se == pytest.approx(np.sqrt(yt.var(ddof=1) / 500 + yc.var(ddof=1) / 400))


def test_delta_method_variance_matches_monte_carlo():
    # clustered data: each customer has their own click probability, so one customer's
    # impressions are correlated
    rng = np.random.default_rng(5)

    def sample(n):
        imp = rng.poisson(8, n) + 1
        p = rng.beta(1.0, 5.0, n)
        return rng.binomial(imp, p).astype(float), imp.astype(float)

    ests, ses = [], []
    for _ in range(2000):
        y, x = sample(300)
        r, v = st._ratio_moments(y, x)
        ests.append(r)
        ses.append(np.sqrt(v))
    assert np.mean(ses) == pytest.approx(np.std(ests), rel=0.05)
    # and a naive per-impression binomial standard error would be too small
    y, x = sample(300)
    r = y.sum() / x.sum()
    assert np.sqrt(r * (1 - r) / x.sum()) < 0.9 * np.std(ests)


def test_bootstrap_agrees_with_normal_intervals_on_large_samples():
    rng = np.random.default_rng(11)
    t, c = rng.normal(0.3, 1, 4000), rng.normal(0.0, 1, 4000)
    lo, hi = st.bootstrap_diff(t, c, n_boot=2000, seed=1)
    w = st.welch_test(t, c)
    assert lo == pytest.approx(w.ci_low, abs=0.01)
    assert hi == pytest.approx(w.ci_high, abs=0.01)
    # a ratio metric: the bootstrap of sums agrees with the delta method
    imp_t, imp_c = rng.poisson(10, 4000) + 1.0, rng.poisson(10, 4000) + 1.0
    clk_t, clk_c = (
        rng.binomial(imp_t.astype(int), 0.12) * 1.0,
        rng.binomial(imp_c.astype(int), 0.10) * 1.0,
    )
    lo, hi = st.bootstrap_diff(clk_t, clk_c, imp_t, imp_c, n_boot=2000, seed=2)
    d = st.ratio_test(clk_t, imp_t, clk_c, imp_c)
    assert lo == pytest.approx(d.ci_low, abs=0.002)
    assert hi == pytest.approx(d.ci_high, abs=0.002)
    with pytest.raises(ValueError, match="for both arms or for neither"):
        st.bootstrap_diff(t, c, imp_t, None)


def test_relative_lift_interval_agrees_with_the_test():
    """Observed on the ci shop: a log-ratio delta interval of -97% to -31% for revenue per
    visitor beside a Welch p of 0.06 (difference interval -3.36 to +0.09): the report
    contradicted itself. The relative interval is now the test's interval over the control."""
    comp = st.Comparison("x", 2.0, 2.5, 0.5, 0.0, 1.0, 0.1, 0.25, 100, 100, 0.15, 0.2)
    lift, lo, hi = st.relative_lift(comp)
    assert lift == pytest.approx(0.25)
    assert (lo, hi) == (pytest.approx(0.0), pytest.approx(0.5))
    seen = st.Comparison(
        "x", 1.914, 0.279, -1.635, -3.363, 0.093, 0.064, 0.874, 134, 132, 0.855, 0.184
    )
    lift, lo, hi = st.relative_lift(seen)
    assert lo < 0 < hi and lift == pytest.approx(0.279 / 1.914 - 1)
    assert lo == -1.0  # -3.363 / 1.914 would read as a fall of 176%: never below -100%
    zero = st.Comparison("x", 0.0, 1.0, 1.0, 0.0, 2.0, 0.1, 0.5, 10, 10, 0.1, 0.4)
    assert np.isnan(st.relative_lift(zero)[0])


# ---- CUPED, SRM, multiple testing, non-inferiority ------------------------------------------


def test_cuped_removes_exactly_rho_squared_of_the_variance(rng):
    x = rng.gamma(2.0, 3.0, 5000)
    y = 2.0 * x + rng.normal(0, 4, 5000)
    adj, theta, rho = st.cuped(y, x)
    assert theta == pytest.approx(np.cov(x, y)[0, 1] / x.var(ddof=1))
    assert theta == pytest.approx(2.0, abs=0.1)
    # with the OLS theta this is an identity, not an approximation
    assert adj.var(ddof=1) == pytest.approx((1 - rho**2) * y.var(ddof=1), rel=1e-10)
    assert adj.mean() == pytest.approx(y.mean())
    _, theta0, rho0 = st.cuped(y, np.zeros(5000))
    assert theta0 == 0.0 and rho0 == 0.0


def test_srm_gate_flags_a_51_49_split_of_100k_customers():
    res = st.srm_test([51_000, 49_000], [0.5, 0.5])
    assert res.chi2 == pytest.approx(40.0)
    assert res.p_value == pytest.approx(stats.chi2.sf(40.0, 1))
    assert res.mismatch
    ok = st.srm_test([50_100, 49_900], [0.5, 0.5])
    assert ok.chi2 == pytest.approx(0.4) and not ok.mismatch
    with pytest.raises(ValueError, match="sum to 1"):
        st.srm_test([10, 10], [0.5, 0.6])
    with pytest.raises(ValueError, match="one count and one share per arm"):
        st.srm_test([10], [1.0])


def test_adjust_pvalues_holm_and_bh():
    p = [0.01, 0.04, 0.03, np.nan]
    assert st.adjust_pvalues(p, "holm")[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert st.adjust_pvalues(p, "bh")[:3] == pytest.approx([0.03, 0.04, 0.04])
    assert np.isnan(st.adjust_pvalues(p, "holm")[3])
    with pytest.raises(ValueError, match="method must be one of"):
        st.adjust_pvalues(p, "bonferroni")


def test_noninferiority_by_hand():
    comp = st.Comparison("x", 10.0, 9.5, -0.5, -2.5, 1.5, 0.6, 1.0, 100, 100, 0.7, 0.7)
    p, holds = st.noninferiority_test(comp, margin=2.0, alpha=0.05)
    assert p == pytest.approx(stats.norm.sf(1.5))
    assert not holds  # 0.067 > 0.05
    assert st.noninferiority_test(comp, margin=2.0, alpha=0.10)[1]
    # lower is better (a gap): a decrease of 0.5 is no harm at all
    p2, holds2 = st.noninferiority_test(comp, margin=0.0, higher_is_better=False)
    assert p2 == pytest.approx(stats.norm.sf(0.5)) and not holds2
    with pytest.raises(ValueError, match="margin must be >= 0"):
        st.noninferiority_test(comp, margin=-1)


# ---- power -----------------------------------------------------------------------------------


def test_sample_size_matches_the_textbook_formula():
    # n = 2 (z_a/2 + z_b)^2 sd^2 / mde^2 = 392.4 per arm for sd 1, mde 0.2
    assert pw.sample_size_mean(1.0, 0.2) == int(np.ceil(2 * (Z975 + Z80) ** 2 / 0.04))
    assert pw.power_mean(1.0, 0.2, 392.443) == pytest.approx(0.8, abs=1e-4)
    h = 2 * np.arcsin(np.sqrt(0.12)) - 2 * np.arcsin(np.sqrt(0.10))
    assert pw.sample_size_proportion(0.10, 0.02) == int(np.ceil(2 * ((Z975 + Z80) / h) ** 2))
    n_h = 2 * ((Z975 + Z80) / h) ** 2
    assert pw.power_proportion(0.10, 0.12, n_h) == pytest.approx(0.8, abs=1e-5)
    assert pw.sample_size_one_sample(1.0, 0.2) == int(np.ceil(((Z975 + Z80) / 0.2) ** 2))
    # unequal variances: sd_c^2/n + sd_t^2/n = 2 sd^2 / n
    assert pw.pooled_sd(1.0, 3.0) == pytest.approx(np.sqrt(5.0))
    assert pw.days_needed([100, 250, 390, 500], 390) == 3
    assert pw.days_needed([100, 250], 390) is None
    with pytest.raises(ValueError, match="mde must be"):
        pw.sample_size_mean(1.0, 0.0)


# ---- sequential ------------------------------------------------------------------------------


def test_msprt_lambda_is_the_mixture_likelihood_ratio():
    for d, v, tau in ((0.3, 0.04, 0.2), (-1.0, 0.5, 1.0), (0.0, 0.01, 0.5)):
        num = integrate.quad(
            lambda th, d=d, v=v, tau=tau: (
                stats.norm.pdf(d, th, np.sqrt(v)) * stats.norm.pdf(th, 0, tau)
            ),
            -20,
            20,
            points=[0, d],
        )[0]
        assert sq.msprt_lambda(d, v, tau) == pytest.approx(num / stats.norm.pdf(d, 0, np.sqrt(v)))


def test_always_valid_interval_ends_where_lambda_is_one_over_alpha():
    d, v, tau = np.array([0.5]), np.array([0.04]), 0.3
    lo, hi = sq.always_valid_ci(d, v, tau, alpha=0.05, running=False)
    # at the boundary, the test of theta_0 = boundary has Lambda = 1/alpha
    assert sq.msprt_lambda(d - lo, v, tau) == pytest.approx(20.0)
    assert sq.msprt_lambda(d - hi, v, tau) == pytest.approx(20.0)
    # always-valid intervals are wider than the fixed-horizon one
    assert hi[0] - lo[0] > 2 * Z975 * 0.2


def test_msprt_keeps_type_one_error_under_continuous_peeking():
    rng = np.random.default_rng(3)
    n_paths, n_looks = 4000, 200
    x = rng.normal(0, 1, (n_paths, n_looks))
    n = np.arange(1, n_looks + 1)
    mean = np.cumsum(x, axis=1) / n
    var = 1.0 / n  # known unit variance
    naive = (2 * stats.norm.sf(np.abs(mean) / np.sqrt(var)) < 0.05).any(axis=1).mean()
    ms = (sq.msprt_pvalues(mean, var, tau=0.5) <= 0.05).any(axis=1).mean()
    assert naive > 0.25  # peeking at 200 looks: far above 5%
    assert ms <= 0.05


def test_monitor_table_columns_and_running_rejection():
    import pandas as pd

    looks = pd.DataFrame(
        {
            "day": [1, 2, 3],
            "n_control": [100, 200, 300],
            "n_treatment": [100, 200, 300],
            "mean_control": [1.0, 1.0, 1.0],
            "mean_treatment": [1.5, 1.0, 1.0],
            "var_control": [1.0, 1.0, 1.0],
            "var_treatment": [1.0, 1.0, 1.0],
        }
    )
    out = sq.monitor(looks, tau=0.2)
    assert out["naive_reject"].tolist() == [True, True, True]  # a peeker stopped on day 1
    assert (np.diff(out["msprt_p"]) <= 0).all()  # always-valid p never goes up
    low, high = sq.always_valid_ci(out["diff"], out["se"] ** 2, 0.2, running=False)
    assert (low <= out["diff"]).all() and (out["diff"] <= high).all()
    # the running interval is the intersection of the looks' intervals
    assert out["msprt_low"].tolist() == np.maximum.accumulate(low).tolist()
    with pytest.raises(ValueError, match="lacks column"):
        sq.monitor(looks.drop(columns="var_control"), tau=0.2)


# ---- assignment ------------------------------------------------------------------------------


def test_hash_assignment_is_the_documented_sha256():
    u = hash_uniform(["abc", "xyz"], "exp1")
    want = int.from_bytes(hashlib.sha256(b"exp1:abc").digest()[:8], "big") / 2**64
    assert u[0] == want
    assert (
        assign(["abc", "abc", "xyz"], (0.5, 0.5), "exp1")[0]
        == assign(["abc"], (0.5, 0.5), "exp1")[0]
    )


def test_hash_assignment_split_salt_and_ramp_up():
    ids = [f"{i:016x}" for i in range(40_000)]
    arms = assign(ids, (0.3, 0.7), "s1")
    assert stats.binomtest(int((arms == 1).sum()), len(ids), 0.7).pvalue > 1e-3
    other = assign(ids, (0.5, 0.5), "s2")
    same = assign(ids, (0.5, 0.5), "s1")
    # a new salt is an independent assignment: agreement ~50%
    assert abs((other == same).mean() - 0.5) < 0.015
    # ramping the treatment up from 10% to 20% only moves customers into treatment
    t10 = assign(ids, (0.9, 0.1), "s1") == 1
    t20 = assign(ids, (0.8, 0.2), "s1") == 1
    assert (t20 | ~t10).all()
    with pytest.raises(ValueError, match="shares must be > 0 and sum to 1"):
        check_split((0.5, 0.6))
    with pytest.raises(ValueError, match="salt"):
        hash_uniform(["a"], "")
