"""Traffic and the outcomes of an arm on the synthetic shop, sampled and exact.

:class:`Traffic` is the shop's arrival process (:meth:`recnb.data.synthetic.SyntheticShop.visits`) over
some days, with the randomisation unit of each visit: the pseudonymous customer id the run's models
know (the shop's own ids never leave this module's tables). :func:`simulate_arm` shows every visit
the arm's slate and returns

- the sampled outcome of every visit (:meth:`~recnb.data.synthetic.SyntheticShop.simulate_policy`: the
  customer's examinations, clicks, carts, purchases and revenue, in the visit's context),
- the exact expectation of the same quantities for the same visit
  (:meth:`~recnb.data.synthetic.SyntheticShop.policy_value`: over the policy's randomness and the
  customer's response), so every simulated estimate can be checked against the truth,
- optionally the slot-level log with the logging propensities (for off-policy evaluation).

:func:`per_customer` sums visits per customer (the randomisation unit) and
:func:`cumulative_by_day` gives the same sums day by day, for sequential monitoring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.synthetic import PurchaseHistory, SyntheticShop
from recnb.experiments.arms import Arm, Candidates

__all__ = [
    "OUTCOMES",
    "ArmOutcome",
    "Traffic",
    "cumulative_by_day",
    "exact_values",
    "history_before",
    "per_customer",
    "simulate_arm",
]

#: per-visit outcome columns (sampled), and their exact expectations prefixed ``exp_``
OUTCOMES: tuple[str, ...] = (
    "impressions",
    "examinations",
    "clicks",
    "add_to_cart",
    "purchases",
    "revenue",
)
_EXACT = {
    "examinations": "expected_examinations",
    "clicks": "expected_clicks",
    "add_to_cart": "expected_add_to_cart",
    "purchases": "expected_purchases",
    "revenue": "expected_revenue",
}


@dataclass(frozen=True)
class Traffic:
    """Visits of some days with the randomisation unit of each.

    Attributes
    ----------
    visits : pandas.DataFrame
        The shop's visits (:meth:`SyntheticShop.visits`): ``visit_id``, the shop's
        ``customer_id``, ``day``, ``timestamp``, ``hour``, ``device``, ``location``... Internal:
        results carry ``unit_id`` instead of the shop's ids.
    unit_id : numpy.ndarray of object
        The randomisation unit of each visit (the customer id the models know).
    """

    visits: pd.DataFrame
    unit_id: np.ndarray

    def __post_init__(self) -> None:
        if len(self.unit_id) != len(self.visits):
            raise ValueError(f"Traffic: {len(self.unit_id)} unit ids for {len(self.visits)} visits")
        if "day" not in self.visits.columns:
            raise ValueError("Traffic: the visits lack the 'day' column")

    @classmethod
    def from_shop(
        cls,
        shop: SyntheticShop,
        days: Iterable[int],
        unit_id: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Traffic:
        """The shop's visits of ``days``.

        Parameters
        ----------
        shop : SyntheticShop
        days : iterable of int
            Day indices (e.g. ``range(n_days, n_days + 14)``: two weeks after the log).
        unit_id : callable, optional
            Maps the shop's customer ids (an array) to unit ids, e.g. the run's keyed pseudonyms
            (:func:`recnb.privacy.pseudonymize`); default: the shop's ids themselves.
        """
        visits = shop.visits(list(days)).reset_index(drop=True)
        shop_ids = visits["customer_id"].astype(object).to_numpy()
        if unit_id is None:
            units = shop_ids
        else:
            uniq, inv = np.unique(shop_ids, return_inverse=True)
            mapped = np.asarray(unit_id(uniq), dtype=object)
            if len(mapped) != len(uniq):
                raise ValueError("Traffic.from_shop: unit_id returned a different number of ids")
            units = mapped[inv]
        return cls(visits, np.asarray(units, dtype=object))

    def __len__(self) -> int:
        return len(self.visits)

    @property
    def days(self) -> np.ndarray:
        """Day of each visit."""
        return self.visits["day"].to_numpy(dtype=np.int64)

    def units(self) -> np.ndarray:
        """Distinct unit ids, sorted."""
        return np.unique(self.unit_id)

    def take(self, rows: np.ndarray) -> Traffic:
        """The traffic of the given visit rows (positions)."""
        rows = np.asarray(rows)
        return Traffic(self.visits.iloc[rows].reset_index(drop=True), self.unit_id[rows])


@dataclass(frozen=True)
class ArmOutcome:
    """What an arm did on some traffic.

    Attributes
    ----------
    label : str
        The arm's label.
    visits : pandas.DataFrame
        One row per visit: ``visit_id``, ``unit_id``, ``day``, the sampled :data:`OUTCOMES` and
        their exact expectations ``exp_examinations``, ``exp_clicks``, ``exp_add_to_cart``,
        ``exp_purchases``, ``exp_revenue`` (NaN when not computed).
    log : pandas.DataFrame or None
        Slot-level log (one row per shown slot) with ``unit_id`` instead of the shop's id, the
        outcomes and the logging propensities, when asked for.
    shown_products : numpy.ndarray
        Distinct products shown.
    candidates : Candidates
        The candidate lists of the traffic's units (rows in :meth:`Traffic.units` order).
    """

    label: str
    visits: pd.DataFrame
    log: pd.DataFrame | None
    shown_products: np.ndarray
    candidates: Candidates


def history_before(history: PurchaseHistory, day: float) -> PurchaseHistory:
    """The purchases of ``history`` that happened before ``day`` (the state at that time)."""
    keep = history.time < day
    return PurchaseHistory(
        history.n_products, history.customer[keep], history.product[keep], history.time[keep]
    )


def simulate_arm(
    shop: SyntheticShop,
    traffic: Traffic,
    arm: Arm,
    k: int = 10,
    history: PurchaseHistory | None = None,
    rng: np.random.Generator | int | None = 0,
    exact: bool = True,
    keep_log: bool = False,
    item_propensities: bool = False,
    candidates: Candidates | None = None,
) -> ArmOutcome:
    """Show every visit of ``traffic`` the arm's slate; sampled and exact outcomes.

    Parameters
    ----------
    shop : SyntheticShop
    traffic : Traffic
    arm : Arm
        Its model knows the traffic's unit ids (others get its fallback).
    k : int
        Slate length.
    history : PurchaseHistory, optional
        The shop's state (held fixed over the traffic, as in ``policy_value``).
    rng : numpy.random.Generator or int
        Randomness of the policy and the responses.
    exact : bool
        Also compute the exact expectations (``policy_value``; costs about as much as the
        sampling for a deterministic policy, more for Plackett-Luce).
    keep_log : bool
        Return the slot-level log.
    item_propensities : bool
        Compute the item-position propensities of the log (see ``simulate_policy``).
    candidates : Candidates, optional
        The arm's candidate lists of ``traffic.units()`` if already computed.
    """
    rng = np.random.default_rng(rng)
    units, inv = np.unique(traffic.unit_id, return_inverse=True)
    cand = arm.candidates(units) if candidates is None else candidates
    if len(cand.scores) != len(units):
        raise ValueError(
            f"simulate_arm: {len(cand.scores)} candidate lists for {len(units)} customers"
        )
    ids = cand.product_ids[inv]
    scores = cand.scores[inv]
    log = shop.simulate_policy(
        traffic.visits,
        ids,
        scores,
        arm.policy,
        k=k,
        history=history,
        rng=rng,
        item_propensities=item_propensities,
    )
    n = len(traffic)
    row = pd.Index(traffic.visits["visit_id"]).get_indexer(log["visit_id"])
    if (row < 0).any():  # pragma: no cover - simulate_policy returns the given visit ids
        raise RuntimeError("simulate_arm: the log names a visit the traffic does not have")
    out = pd.DataFrame(
        {
            "visit_id": traffic.visits["visit_id"].to_numpy(),
            "unit_id": traffic.unit_id,
            "day": traffic.days,
        }
    )
    sums = {
        "impressions": np.ones(len(log)),
        "examinations": log["examined"].to_numpy(dtype=np.float64),
        "clicks": log["clicked"].to_numpy(dtype=np.float64),
        "add_to_cart": log["added_to_cart"].to_numpy(dtype=np.float64),
        "purchases": log["purchased"].to_numpy(dtype=np.float64),
        "revenue": log["revenue"].to_numpy(dtype=np.float64),
    }
    for col in OUTCOMES:
        out[col] = np.bincount(row, weights=sums[col], minlength=n)
    if exact:
        val = shop.policy_value(traffic.visits, ids, scores, arm.policy, k=k, history=history)
        for col, src in _EXACT.items():
            out[f"exp_{col}"] = val[src].to_numpy(dtype=np.float64)
    else:
        for col in _EXACT:
            out[f"exp_{col}"] = np.nan
    kept = None
    if keep_log:
        kept = log.drop(columns=["customer_id"])
        kept.insert(1, "unit_id", traffic.unit_id[row])
        kept.insert(2, "visit", row)
    shown = np.unique(log["product_id"].astype(object).to_numpy())
    return ArmOutcome(arm.label, out, kept, shown, cand)


def exact_values(
    shop: SyntheticShop,
    traffic: Traffic,
    arm: Arm,
    k: int = 10,
    history: PurchaseHistory | None = None,
    candidates: Candidates | None = None,
) -> pd.DataFrame:
    """The exact expected outcome of every visit of ``traffic`` under the arm (no sampling).

    Returns
    -------
    pandas.DataFrame
        ``visit_id``, ``unit_id``, ``day``, ``impressions`` (slots shown) and ``exp_examinations``,
        ``exp_clicks``, ``exp_add_to_cart``, ``exp_purchases``, ``exp_revenue``.
    """
    units, inv = np.unique(traffic.unit_id, return_inverse=True)
    cand = arm.candidates(units) if candidates is None else candidates
    ids = cand.product_ids[inv]
    val = shop.policy_value(traffic.visits, ids, cand.scores[inv], arm.policy, k=k, history=history)
    out = pd.DataFrame(
        {
            "visit_id": traffic.visits["visit_id"].to_numpy(),
            "unit_id": traffic.unit_id,
            "day": traffic.days,
            "impressions": np.minimum((~pd.isna(ids)).sum(axis=1), k).astype(np.float64),
        }
    )
    for col, src in _EXACT.items():
        out[f"exp_{col}"] = val[src].to_numpy(dtype=np.float64)
    return out


def per_customer(visits: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Sum per-visit outcomes per unit (customer).

    Parameters
    ----------
    visits : pandas.DataFrame
        Per-visit table with ``unit_id`` and ``day`` (e.g. :attr:`ArmOutcome.visits`, or several
        arms' visits with an ``arm`` column, kept).
    columns : iterable of str, optional
        Columns to sum (default: the outcomes and their exact expectations present).

    Returns
    -------
    pandas.DataFrame
        One row per unit, sorted by unit id: ``unit_id``, ``arm`` (if given), ``first_day``,
        ``visits``, the summed columns and ``converted`` (bought at least once).
    """
    if columns is None:
        columns = [c for c in (*OUTCOMES, *(f"exp_{c}" for c in _EXACT)) if c in visits.columns]
    columns = list(columns)
    units, inv = np.unique(visits["unit_id"].astype(object).to_numpy(), return_inverse=True)
    out: dict[str, Any] = {"unit_id": units}
    if "arm" in visits.columns:
        arm = np.empty(len(units), dtype=object)
        arm[inv] = visits["arm"].to_numpy()
        out["arm"] = arm
    first = np.full(len(units), np.iinfo(np.int64).max)
    np.minimum.at(first, inv, visits["day"].to_numpy(dtype=np.int64))
    out["first_day"] = first
    out["visits"] = np.bincount(inv, minlength=len(units)).astype(np.int64)
    for c in columns:
        out[c] = np.bincount(
            inv, weights=visits[c].to_numpy(dtype=np.float64), minlength=len(units)
        )
    df = pd.DataFrame(out)
    if "purchases" in df.columns:
        df["converted"] = (df["purchases"] > 0).astype(np.int64)
    return df


def cumulative_by_day(
    visits: pd.DataFrame, column: str, units: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """Per-unit running sums of a per-visit column at the end of each day.

    Parameters
    ----------
    visits : pandas.DataFrame
        Per-visit table with ``unit_id``, ``day`` and ``column``.
    column : str
        Column to sum.
    units : numpy.ndarray
        Unit ids, sorted (rows of the result).
    days : numpy.ndarray
        The days of the looks, ascending.

    Returns
    -------
    numpy.ndarray, shape (len(units), len(days))
        ``out[i, d]``: unit ``i``'s sum over its visits on or before ``days[d]``.
    """
    u = np.searchsorted(units, visits["unit_id"].astype(object).to_numpy())
    d = np.searchsorted(days, visits["day"].to_numpy(dtype=np.int64))
    ok = (d < len(days)) & (u < len(units))
    flat = np.bincount(
        u[ok] * len(days) + d[ok],
        weights=visits[column].to_numpy(dtype=np.float64)[ok],
        minlength=len(units) * len(days),
    )
    return np.cumsum(flat.reshape(len(units), len(days)), axis=1)
