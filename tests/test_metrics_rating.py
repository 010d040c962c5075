"""Rating metrics: hand cases, scikit-learn agreement, bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from recnb.metrics import mae, rating_summary, rmse


def test_rmse_mae_by_hand() -> None:
    # errors 1, 0, 2 stars: RMSE = sqrt((1 + 0 + 4) / 3) = sqrt(5/3); MAE = 3 / 3 = 1
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == 1.0


def test_rmse_mae_match_sklearn(rng: np.random.Generator) -> None:
    t = rng.integers(1, 6, size=200).astype(float)
    p = np.clip(t + rng.normal(0, 0.8, size=200), 1, 5)
    assert rmse(t, p) == pytest.approx(math.sqrt(mean_squared_error(t, p)), rel=1e-12)
    assert mae(t, p) == pytest.approx(mean_absolute_error(t, p), rel=1e-12)


def test_rating_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="aligned"):
        rmse([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        mae([], [])
    with pytest.raises(ValueError, match="y_pred holds NaN"):
        rmse([1, 2], [1, float("nan")])


def test_rating_summary_intervals(rng: np.random.Generator) -> None:
    n = 400
    customers = rng.integers(0, 60, size=n)
    t = rng.integers(1, 6, size=n).astype(float)
    p = t + rng.normal(0, 1.0, size=n)
    by_rating = rating_summary(t, p, n_boot=500, seed=1)
    by_customer = rating_summary(t, p, customers=customers, n_boot=500, seed=1)
    for table in (by_rating, by_customer):
        assert table["metric"].tolist() == ["rmse", "mae"]
        assert table["value"].tolist() == pytest.approx([rmse(t, p), mae(t, p)])
        assert (table["ci_low"] < table["value"]).all()
        assert (table["value"] < table["ci_high"]).all()
        assert table["n"].tolist() == [n, n]
    # same seed, same intervals
    again = rating_summary(t, p, customers=customers, n_boot=500, seed=1)
    np.testing.assert_array_equal(again["ci_low"], by_customer["ci_low"])
    # rating-level interval: width about 2 * 1.96 * sd(|e|) / sqrt(n) for the MAE
    width = by_rating.loc[1, "ci_high"] - by_rating.loc[1, "ci_low"]
    expected = 2 * 1.96 * np.abs(p - t).std() / math.sqrt(n)
    assert width == pytest.approx(expected, rel=0.15)
