"""A few customers' lists from the chosen model, each recommendation with the reasons behind it.

Other customers are never named in these tables, not even by pseudonym: a neighbour model's
contributions from other customers are pooled into one reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recnb.evaluation.leaderboard import chosen_model
from recnb.models.base import Recommender

__all__ = [
    "explainable_choice",
    "product_labels",
    "recommendations_with_reasons",
    "sample_customers",
]


def sample_customers(customers: pd.DataFrame, n: int = 3, seed: int | None = 0) -> list[str]:
    """Pick ``n`` evaluation customers to show, one per activity segment in turn (seeded).

    Parameters
    ----------
    customers : pandas.DataFrame
        ``Evaluation.customers`` (``customer_id``, ``segment``).
    n : int
        How many.
    seed : int or None
        Seed of the draw.

    Returns
    -------
    list of str
        Customer ids, heavy first, then light, then cold, repeating.
    """
    rng = np.random.default_rng(seed)
    pools = {
        s: list(rng.permutation(customers.loc[customers["segment"] == s, "customer_id"].to_numpy()))
        for s in ("heavy", "light", "cold")
    }
    out: list[str] = []
    while len(out) < n and any(pools.values()):
        for s in ("heavy", "light", "cold"):
            if pools[s] and len(out) < n:
                out.append(str(pools[s].pop(0)))
    return out


def product_labels(products: pd.DataFrame | None, product_ids: Sequence[str]) -> pd.Series:
    """A short readable name per product id: title, else description, else category, else id."""
    ids = pd.Index(np.asarray(product_ids, dtype=object).astype(str))
    if products is None or products.empty:
        return pd.Series(ids, index=ids)
    p = (
        products.assign(product_id=products["product_id"].astype(str))
        .drop_duplicates("product_id")
        .set_index("product_id")
    )
    label = pd.Series(np.nan, index=p.index, dtype=object)
    for col in ("title", "description", "category"):
        if col in p.columns:
            text = p[col].astype("string").str.strip().str.slice(0, 48)
            label = label.fillna(text.where(text.str.len() > 0))
    label = label.fillna(pd.Series(p.index, index=p.index))
    return label.reindex(ids).fillna(pd.Series(ids, index=ids))


def recommendations_with_reasons(
    model: Recommender,
    customer_ids: Sequence[str],
    k: int = 5,
    products: pd.DataFrame | None = None,
    n_reasons: int = 3,
) -> pd.DataFrame:
    """The model's top-``k`` for a few customers, each with its strongest explanation terms.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    customer_ids : sequence of str
        Customers to show.
    k : int
        List length.
    products : pandas.DataFrame, optional
        Products table, for readable names.
    n_reasons : int
        Contributions listed per recommendation (highest first).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, rank, product_id, product, score, because``; ``because`` lists the top
        contributors with their contribution ("" when the model cannot explain). Contributions of
        other customers (user-kNN neighbours) are pooled into one reason, so no other customer is
        named.
    """
    recs = model.recommend(list(customer_ids), k=k)
    names = product_labels(products, model.product_ids_)
    recs["product"] = recs["product_id"].astype(str).map(names).to_numpy()
    reasons = []
    for c, p in zip(recs["customer_id"], recs["product_id"], strict=True):
        if not model.can_explain:
            reasons.append("")
            continue
        ex = model.explain(c, p)
        terms = []
        # other customers are never named in a report, not even by pseudonym: their
        # contributions are pooled into one reason
        peers = ex[ex["kind"] == "neighbour"]
        if len(peers):
            terms.append(
                f"{len(peers)} similar customer{'s' if len(peers) > 1 else ''} chose it "
                f"(neighbour, {peers['contribution'].sum():+.3g})"
            )
        for r in ex[ex["kind"] != "neighbour"].head(n_reasons).itertuples(index=False):
            who = names.get(str(r.contributor), str(r.contributor))
            terms.append(f"{who} ({r.kind}, {r.contribution:+.3g})")
        reasons.append("; ".join(terms))
    recs["because"] = reasons
    return recs[["customer_id", "rank", "product_id", "product", "score", "because"]]


def explainable_choice(significance: pd.DataFrame, runs: Mapping[str, Any]) -> str:
    """The winner if it can explain its scores, else the best-ranked model that can.

    Parameters
    ----------
    significance : pandas.DataFrame
        :func:`recnb.evaluation.leaderboard.winner_vs_rest` table (winner in ``reference``, others
        best first).
    runs : mapping
        ``label -> ModelRun`` (``Evaluation.runs``).
    """
    order = [chosen_model(significance), *significance["model"].astype(str)]
    for label in order:
        if label in runs and runs[label].model.can_explain:
            return label
    raise ValueError(f"none of the models {order} can explain its scores")
