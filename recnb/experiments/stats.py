"""Statistics of a controlled experiment with customers as the randomisation unit.

Every function takes per-arm, per-customer arrays (or counts) and returns a :class:`Comparison`:
treatment minus control, its confidence interval, a p-value and the method used. Libraries do what
they do well (statsmodels: proportion tests and intervals, power, multiple testing; scipy: Welch's
test, chi-square); what neither has is written here from its reference, each with a test against a
case whose answer is known:

- :func:`proportion_test`: two-proportion z-test (pooled variance) with the Wald interval and the
  Newcombe hybrid score interval (Newcombe 1998, method 10) of the difference;
- :func:`welch_test`: Welch's unequal-variance t-test of a difference of means;
- :func:`ratio_test`: the delta method for a ratio of sums whose numerator and denominator are both
  summed per customer (clicks per impression, revenue per order), so the variance is clustered by
  customer (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics"):
  ``Var(sum Y / sum X) ~ (var(Y) - 2 R cov(X, Y) + R^2 var(X)) / (n mean(X)^2)``;
- :func:`bootstrap_diff`: percentile bootstrap of a difference of means or ratios, resampling
  customers within each arm (count vectors applied by one matrix product, no loop per resample);
- :func:`cuped`: CUPED (Deng, Xu, Kohavi & Walker 2013) with a pre-period covariate: ``Y - theta (X -
  mean X)`` with ``theta = cov(X, Y) / var(X)`` pooled over both arms, which keeps the difference
  unbiased and multiplies its variance by ``1 - rho^2``;
- :func:`srm_test`: the sample-ratio-mismatch chi-square gate;
- :func:`adjust_pvalues`: Holm or Benjamini-Hochberg across metrics;
- :func:`noninferiority_test`: a one-sided test that treatment is not worse than control by more
  than a margin (guardrails);
- :func:`relative_lift`: treatment / control - 1 with the test's interval relative to control.

Sample sizes and power are in :mod:`recnb.experiments.power`, sequential monitoring in
:mod:`recnb.experiments.sequential`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from recnb.metrics.stats import bootstrap_counts

__all__ = [
    "SRM_THRESHOLD",
    "Comparison",
    "SRMResult",
    "adjust_pvalues",
    "bootstrap_diff",
    "cuped",
    "noninferiority_test",
    "proportion_test",
    "ratio_test",
    "relative_lift",
    "srm_test",
    "welch_test",
]

#: p-value below which the sample-ratio-mismatch gate fails (the usual, deliberately strict level:
#: the gate runs on every experiment, so false alarms must be rare)
SRM_THRESHOLD = 1e-3


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control for one metric.

    Attributes
    ----------
    method : str
        How the test and interval were computed.
    control, treatment : float
        The metric in each arm.
    diff : float
        ``treatment - control``.
    ci_low, ci_high : float
        Two-sided ``1 - alpha`` confidence interval of ``diff``.
    p_value : float
        Two-sided p-value of ``diff == 0``.
    se : float
        Standard error of ``diff``.
    n_control, n_treatment : int
        Customers in each arm.
    se_control, se_treatment : float
        Standard error of each arm's value (the arms are independent, so
        ``se ** 2 = se_control ** 2 + se_treatment ** 2``).
    """

    method: str
    control: float
    treatment: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    n_control: int
    n_treatment: int
    se_control: float
    se_treatment: float

    def as_dict(self) -> dict[str, float | int | str]:
        """The fields as a plain dict (a table row)."""
        return asdict(self)


@dataclass(frozen=True)
class SRMResult:
    """Result of the sample-ratio-mismatch gate.

    Attributes
    ----------
    observed : tuple of int
        Customers per arm.
    expected : tuple of float
        Customers per arm the configured split implies.
    chi2, p_value : float
        Pearson's chi-square statistic and its p-value (``len(observed) - 1`` degrees of freedom).
    threshold : float
        p-value below which the gate fails.
    mismatch : bool
        True when ``p_value < threshold``: the assignment or the logging is broken and the
        experiment's results must not be read.
    """

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float
    mismatch: bool


def _check_alpha(alpha: float) -> float:
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _values(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected one value per customer (1-D), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: NaN or infinite values")
    if len(arr) < 2:
        raise ValueError(f"{name}: need at least 2 customers, got {len(arr)}")
    return arr


def proportion_test(
    x_treatment: int, n_treatment: int, x_control: int, n_control: int, alpha: float = 0.05
) -> tuple[Comparison, Comparison]:
    """Two-proportion z-test of ``x_t / n_t - x_c / n_c``, with two intervals.

    Parameters
    ----------
    x_treatment, n_treatment, x_control, n_control : int
        Successes (e.g. customers who bought) and customers per arm.
    alpha : float
        1 - confidence level.

    Returns
    -------
    (Comparison, Comparison)
        The same pooled z-test p-value (statsmodels ``proportions_ztest``) with the Newcombe
        hybrid score interval (``method="newcombe"``; good coverage even for rare events) and with
        the Wald interval (``method="wald"``: ``diff +- z sqrt(p_t q_t / n_t + p_c q_c / n_c)``).
    """
    alpha = _check_alpha(alpha)
    for name, x, n in (("treatment", x_treatment, n_treatment), ("control", x_control, n_control)):
        if n < 1 or x < 0 or x > n:
            raise ValueError(f"proportion_test: {name} has {x} successes out of {n}")
    pt, pc = x_treatment / n_treatment, x_control / n_control
    if 0 < x_treatment + x_control < n_treatment + n_control:
        _, p = proportions_ztest([x_treatment, x_control], [n_treatment, n_control])
    else:  # no variation at all: nothing can differ
        p = 1.0
    se_t = np.sqrt(pt * (1 - pt) / n_treatment)
    se_c = np.sqrt(pc * (1 - pc) / n_control)
    se = np.hypot(se_t, se_c)
    out = []
    for method, sm in (("newcombe", "newcomb"), ("wald", "wald")):
        lo, hi = confint_proportions_2indep(
            x_treatment, n_treatment, x_control, n_control, method=sm, compare="diff", alpha=alpha
        )
        out.append(
            Comparison(
                f"two-proportion z-test, {method} interval",
                float(pc),
                float(pt),
                float(pt - pc),
                float(lo),
                float(hi),
                float(p),
                float(se),
                int(n_control),
                int(n_treatment),
                float(se_c),
                float(se_t),
            )
        )
    return out[0], out[1]


def welch_test(treatment: ArrayLike, control: ArrayLike, alpha: float = 0.05) -> Comparison:
    """Welch's t-test of a difference of means (unequal variances), e.g. revenue per visitor.

    Parameters
    ----------
    treatment, control : array-like of float
        One value per customer of each arm.
    alpha : float
        1 - confidence level.
    """
    alpha = _check_alpha(alpha)
    t = _values(treatment, "treatment")
    c = _values(control, "control")
    vt, vc = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    se = float(np.sqrt(vt + vc))
    diff = float(t.mean() - c.mean())
    if se == 0.0:
        p, lo, hi = (1.0 if diff == 0 else 0.0), diff, diff
    else:
        res = stats.ttest_ind(t, c, equal_var=False)
        ci = res.confidence_interval(1 - alpha)
        p, lo, hi = float(res.pvalue), float(ci.low), float(ci.high)
    return Comparison(
        "Welch t-test",
        float(c.mean()),
        float(t.mean()),
        diff,
        lo,
        hi,
        p,
        se,
        len(c),
        len(t),
        float(np.sqrt(vc)),
        float(np.sqrt(vt)),
    )


def _ratio_moments(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """Ratio of sums and the delta-method variance of it (customers i.i.d.)."""
    n = len(num)
    mx = den.mean()
    if mx <= 0:
        raise ValueError("ratio: the denominator sums to 0 (no impressions or orders)")
    r = num.mean() / mx
    cov = np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * mx * mx)
    return float(r), float(max(var, 0.0))


def ratio_test(
    num_treatment: ArrayLike,
    den_treatment: ArrayLike,
    num_control: ArrayLike,
    den_control: ArrayLike,
    alpha: float = 0.05,
) -> Comparison:
    """Difference of two ratio metrics by the delta method, clustered by customer.

    A ratio metric such as click-through rate is ``sum(clicks) / sum(impressions)`` over the
    customers of an arm. Its impressions are not independent (one customer's visits are
    correlated), so the variance is computed on per-customer sums (the unit of randomisation)::

        R = mean(Y) / mean(X),
        Var(R) ~ (var(Y) - 2 R cov(X, Y) + R^2 var(X)) / (n mean(X)^2)

    and the two arms are independent. The test is a z-test of ``R_t - R_c``.

    Parameters
    ----------
    num_treatment, den_treatment, num_control, den_control : array-like of float
        Per-customer numerators (clicks, revenue) and denominators (impressions, orders).
        Customers with a zero denominator count (they add to ``n``), as they should.
    alpha : float
        1 - confidence level.
    """
    alpha = _check_alpha(alpha)
    yt, xt = _values(num_treatment, "num_treatment"), _values(den_treatment, "den_treatment")
    yc, xc = _values(num_control, "num_control"), _values(den_control, "den_control")
    if len(yt) != len(xt) or len(yc) != len(xc):
        raise ValueError("ratio_test: numerator and denominator differ in length")
    rt, vt = _ratio_moments(yt, xt)
    rc, vc = _ratio_moments(yc, xc)
    se = float(np.sqrt(vt + vc))
    diff = rt - rc
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    return Comparison(
        "delta method (ratio of per-customer sums)",
        rc,
        rt,
        diff,
        diff - z * se,
        diff + z * se,
        p,
        se,
        len(yc),
        len(yt),
        float(np.sqrt(vc)),
        float(np.sqrt(vt)),
    )


def relative_lift(comparison: Comparison, alpha: float = 0.05) -> tuple[float, float, float]:
    """``treatment / control - 1`` with the test's own interval, relative to the control's value.

    The interval is ``(ci_low, ci_high) / control``: the interval of the difference that the
    metric's test computed, expressed relative to the control arm. It excludes 0 exactly when the
    test rejects, so a report never shows a relative interval that contradicts its p-value. (A
    delta-method interval on the log ratio can: on the ci shop, revenue per visitor with a
    heavy-tailed control arm gave a log-ratio interval of -97% to -31% beside a Welch p of 0.06.)
    It treats the control's value as known, so it is a little narrower than an interval for the
    ratio itself when the control arm is noisy; the test and its interval are the evidence.

    The metrics compared here are never negative, so the lower end is cut at -100%.

    ``alpha`` is accepted for symmetry with the other functions; the interval's level is the
    one the comparison was computed at.

    Returns
    -------
    (lift, low, high) : tuple of float
        NaN when the control's value is not positive.
    """
    _check_alpha(alpha)
    c = comparison.control
    if not c > 0:
        return float("nan"), float("nan"), float("nan")
    return (
        float(comparison.treatment / c - 1),
        max(float(comparison.ci_low / c), -1.0),
        float(comparison.ci_high / c),
    )


def bootstrap_diff(
    treatment: ArrayLike,
    control: ArrayLike,
    den_treatment: ArrayLike | None = None,
    den_control: ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``treatment - control`` (means, or ratios of sums).

    Customers are resampled with replacement within each arm (the arms are independent samples);
    with denominators, each resample's metric is ``sum(num) / sum(den)`` of the resampled
    customers, so a ratio metric stays clustered by customer.

    Returns
    -------
    (low, high) : tuple of float
    """
    alpha = _check_alpha(alpha)
    t = _values(treatment, "treatment")
    c = _values(control, "control")
    dt = None if den_treatment is None else _values(den_treatment, "den_treatment")
    dc = None if den_control is None else _values(den_control, "den_control")
    if (dt is None) != (dc is None):
        raise ValueError("bootstrap_diff: give denominators for both arms or for neither")

    def resampled(num: np.ndarray, den: np.ndarray | None, s: int) -> np.ndarray:
        cols = num[:, None] if den is None else np.column_stack([num, den])
        parts = [counts @ cols for counts in bootstrap_counts(len(num), n_boot, s)]
        sums = np.concatenate(parts, axis=0)
        if den is None:
            return sums[:, 0] / len(num)
        with np.errstate(divide="ignore", invalid="ignore"):
            return sums[:, 0] / sums[:, 1]

    rng = np.random.default_rng(seed)
    s_t, s_c = (int(x) for x in rng.integers(0, 2**31 - 1, size=2))
    diff = resampled(t, dt, s_t) - resampled(c, dc, s_c)
    lo, hi = np.nanquantile(diff, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def cuped(
    y: ArrayLike, x: ArrayLike, theta: float | None = None
) -> tuple[np.ndarray, float, float]:
    """CUPED adjustment of an outcome by a pre-period covariate.

    Parameters
    ----------
    y : array-like of float
        The outcome per customer, both arms together (the adjustment must use one ``theta`` and
        one covariate mean for both arms, or the difference becomes biased).
    x : array-like of float
        The covariate per customer, measured before the experiment (so the treatment cannot move
        it), e.g. the same metric in the pre-period; 0 for customers without one.
    theta : float, optional
        Regression coefficient; default ``cov(x, y) / var(x)`` over the given customers.

    Returns
    -------
    adjusted : numpy.ndarray
        ``y - theta * (x - mean(x))``: same mean as ``y``, variance ``(1 - rho^2) var(y)``.
    theta : float
    rho : float
        Correlation of ``x`` and ``y`` (0 when either is constant).
    """
    yy = _values(y, "y")
    xx = _values(x, "x")
    if len(xx) != len(yy):
        raise ValueError(f"cuped: y has {len(yy)} values but x has {len(xx)}")
    vx = xx.var(ddof=1)
    vy = yy.var(ddof=1)
    cxy = np.cov(xx, yy, ddof=1)[0, 1]
    if theta is None:
        theta = float(cxy / vx) if vx > 0 else 0.0
    rho = float(cxy / np.sqrt(vx * vy)) if vx > 0 and vy > 0 else 0.0
    return yy - theta * (xx - xx.mean()), float(theta), rho


def srm_test(
    observed: Sequence[int], expected_shares: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SRMResult:
    """Sample-ratio-mismatch gate: do the arms hold the shares of customers the split promised?

    Pearson's chi-square goodness-of-fit test of the observed customers per arm against the
    configured shares. A p-value below ``threshold`` means the assignment, the eligibility or the
    logging is broken (e.g. one arm loses customers whose page fails to load), and no metric of
    the experiment can be trusted until the cause is found.

    Parameters
    ----------
    observed : sequence of int
        Customers per arm.
    expected_shares : sequence of float
        The configured split, summing to 1.
    threshold : float
        p-value below which the gate fails (default :data:`SRM_THRESHOLD`).
    """
    obs = np.asarray(observed, dtype=np.float64)
    shares = np.asarray(expected_shares, dtype=np.float64)
    if obs.ndim != 1 or len(obs) < 2 or len(obs) != len(shares):
        raise ValueError(
            f"srm_test: need one count and one share per arm (>= 2 arms), got {list(observed)} "
            f"and {list(expected_shares)}"
        )
    if (obs < 0).any() or obs.sum() == 0:
        raise ValueError(f"srm_test: counts must be >= 0 and not all 0, got {list(observed)}")
    if (shares <= 0).any() or abs(shares.sum() - 1) > 1e-9:
        raise ValueError(f"srm_test: shares must be > 0 and sum to 1, got {list(expected_shares)}")
    exp = shares * obs.sum()
    chi2, p = stats.chisquare(obs, exp)
    return SRMResult(
        tuple(int(o) for o in obs),
        tuple(float(e) for e in exp),
        float(chi2),
        float(p),
        float(threshold),
        bool(p < threshold),
    )


def adjust_pvalues(pvalues: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjust p-values across metrics: ``"holm"`` (family-wise error) or ``"bh"`` (false
    discovery rate, Benjamini-Hochberg), by statsmodels ``multipletests``. NaN stays NaN."""
    names = {"holm": "holm", "bh": "fdr_bh"}
    if method not in names:
        raise ValueError(f"adjust_pvalues: method must be one of {list(names)}, got {method!r}")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=names[method])[1]
    return out


def noninferiority_test(
    comparison: Comparison, margin: float, alpha: float = 0.05, higher_is_better: bool = True
) -> tuple[float, bool]:
    """One-sided test that treatment is not worse than control by more than ``margin``.

    With ``higher_is_better`` the null hypothesis is ``diff <= -margin`` (treatment worse by the
    margin or more), rejected when ``(diff + margin) / se > z_(1 - alpha)``; otherwise the null is
    ``diff >= margin``. Rejecting it means the guardrail holds.

    Parameters
    ----------
    comparison : Comparison
        Treatment minus control, with its standard error.
    margin : float
        Largest acceptable harm, in the metric's units (>= 0).
    alpha : float
        One-sided level.
    higher_is_better : bool
        Direction of the metric (False for latency or a fairness gap).

    Returns
    -------
    (p_value, holds) : (float, bool)
    """
    alpha = _check_alpha(alpha)
    if not margin >= 0:
        raise ValueError(f"noninferiority_test: margin must be >= 0, got {margin!r}")
    d = comparison.diff if higher_is_better else -comparison.diff
    se = comparison.se
    if not np.isfinite(se):
        raise ValueError("noninferiority_test: the comparison has no standard error")
    if se == 0:
        p = 0.0 if d + margin > 0 else 1.0
    else:
        p = float(stats.norm.sf((d + margin) / se))
    return p, bool(p < alpha)
