"""Repeat purchases: a repeat-aware evaluation mode, a "buy again" baseline and a repeat/new mixer.

Every model of stage 03 removes what the customer already had, from its lists and from the test.
In groceries, fashion basics and consumables most purchases are repeats, so this module adds:

- a *mode*: ``repeat_aware=True`` lets seen products into the lists and counts them in the test
  (the answers are the test visits' purchases, repeats included); ``False`` is stage 03's mode
  (seen products out of lists and answers);
- :class:`~recnb.models.repeat.BuyAgain` (registered as ``buy_again``): the customer's own past
  purchases ranked by frequency and recency (``confidence x 0.5 ** (age / half_life_days)``); a
  customer who never bought gets popularity;
- :class:`RepeatMix`: the first ``n_repeat`` slots from the buy-again list, the rest from a model's
  list without the products bought before; ``n_repeat`` is chosen on validation requests.

Hits are reported apart for repeats and new products (:func:`recnb.context.compare.repeat_split`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from recnb.context import compare
from recnb.context.log import EventLog, RequestSet
from recnb.context.paradigms import ContextFree, drop_seen, fit_recnb_model
from recnb.models.base import Recommender
from recnb.models.repeat import BuyAgain

__all__ = ["BuyAgain", "RepeatMix", "repeat_study"]


class RepeatMix:
    """The first ``n_repeat`` slots from the customer's buy-again list, then new products.

    Parameters
    ----------
    buy_again : BuyAgain
        Fitted on the purchases (the repeat candidates).
    base : Recommender
        Fitted model for the remaining slots: its list without the products the customer bought
        (products only viewed or clicked before may appear).
    n_repeat : int
        Slots reserved for repeats (fewer when the customer bought fewer products).
    """

    def __init__(self, buy_again: BuyAgain, base: Recommender, n_repeat: int) -> None:
        self.buy_again = buy_again
        self.base = base
        self.n_repeat = n_repeat

    def rank(self, requests: pd.DataFrame, k: int) -> np.ndarray:
        cust = requests["customer"].to_numpy()
        uniq, inv = np.unique(cust, return_inverse=True)
        own = self.buy_again.own_[uniq]
        out = np.full((len(uniq), k), -1, dtype=np.int64)
        r = min(self.n_repeat, k)
        if r:
            idx, _ = self.buy_again.recommend_indices(uniq, r, exclude_seen=False)
            # keep only the customer's own products (the tie-break fills the rest with popular ones)
            mine = np.asarray(own[np.arange(len(uniq))[:, None], np.maximum(idx, 0)].todense()) > 0
            mine &= idx >= 0
            pos = np.cumsum(mine, axis=1) - 1
            rr, cc = np.nonzero(mine)
            out[rr, pos[rr, cc]] = idx[rr, cc]
        # the other slots: the base model's list (seen-but-not-bought products allowed), without
        # the products the customer bought (those are the repeat slots' business)
        cand, _ = self.base.recommend_indices(uniq, k + own.getnnz(axis=1).max(initial=0), False)
        rest = drop_seen(cand, own.tocsr(), np.arange(len(uniq)), k)
        n_own = (out >= 0).sum(axis=1)
        for i in np.flatnonzero(n_own < k):
            out[i, n_own[i] :] = rest[i, : k - n_own[i]]
        return out[inv]


def repeat_study(
    log: EventLog,
    cutoff: pd.Timestamp,
    valid_days: float,
    factory: Callable[[], Recommender],
    repeat_aware: bool = True,
    k: int = 10,
    half_life_days: float | None = 30.0,
    n_repeat_grid: Sequence[int] = (0, 1, 2, 3, 5, 10),
) -> tuple[RequestSet, dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, object]]:
    """Score the base model, buy-again and their mix on the test visits' purchases.

    Answers are the *purchases* of the test visits. With ``repeat_aware`` the lists may hold
    seen products and repeat purchases count; without it the answers are the new products only
    and only the base model runs (buy-again has nothing to offer there).

    Returns
    -------
    (RequestSet, per_request, split, info)
        The requests; per ranker the :func:`~recnb.context.compare.request_metrics` frame and the
        :func:`~recnb.context.compare.repeat_split` frame; ``info`` has the mode, the chosen
        ``n_repeat`` and the validation table.
    """
    cutoff = pd.Timestamp(cutoff)
    vstart = cutoff - pd.Timedelta(days=valid_days)
    purchases = log.purchase

    def reqs_in(start: pd.Timestamp, end: pd.Timestamp | None) -> RequestSet:
        r = log.requests(start, end, positive=purchases)
        return r if repeat_aware else r.new_only()

    test = reqs_in(cutoff, None)
    if len(test) == 0:
        raise ValueError(f"repeat_study: no purchase in a visit after {cutoff}")
    models = {}
    for name, end in (("train", cutoff), ("inner", vstart)):
        inter = log.interactions(None, end)
        bought = log.interactions(None, end, mask=purchases)
        models[name] = (
            fit_recnb_model(factory, inter),
            BuyAgain(half_life_days).fit(bought) if bought.matrix.nnz else None,
        )
    base, ba = models["train"]
    per: dict[str, pd.DataFrame] = {}
    split: dict[str, pd.DataFrame] = {}

    def record(name: str, topk: np.ndarray) -> None:
        per[name] = compare.request_metrics(topk, test, k)
        split[name] = compare.repeat_split(topk, test, k)

    record("base model", ContextFree(base, exclude_seen=not repeat_aware).rank(test.requests, k))
    info: dict[str, object] = {"repeat_aware": repeat_aware, "n_repeat": None}
    if repeat_aware and ba is not None:
        record("buy again", ContextFree(ba, exclude_seen=False).rank(test.requests, k))
        valid = reqs_in(vstart, cutoff)
        ibase, iba = models["inner"]
        rows = []
        if len(valid) and iba is not None:
            for n in sorted(set(int(x) for x in n_repeat_grid)):
                topk = RepeatMix(iba, ibase, n).rank(valid.requests, k)
                rows.append(
                    {"n_repeat": n, "ndcg": float(np.nanmean(
                        compare.request_metrics(topk, valid, k, ("ndcg",))["ndcg"]))}
                )  # fmt: skip
        table = pd.DataFrame(rows, columns=["n_repeat", "ndcg"])
        n_best = int(table.loc[table["ndcg"].idxmax(), "n_repeat"]) if len(table) else 0
        record(f"mix ({n_best} repeat slots)", RepeatMix(ba, base, n_best).rank(test.requests, k))
        info.update(n_repeat=n_best, validation=table)
    return test, per, split, info
