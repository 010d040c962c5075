"""Self-checks of the group test on the synthetic shop, where the truth is known.

:func:`shop_gap_test` builds a shop, splits its log, fits a model, scores every evaluated customer
and runs the permutation test of "no gap" between the members of one customer group and the
rest, on the logged NDCG and on the shop's true expected clicks of each list. Two uses:

- **power**: with the shop's planted under-served group (``ShopConfig.underserved_group``) the
  test must find the gap. The default plant (``underserved_kind = "niche"``) gives the group a
  minority's taste, which shows in what it browses and buys, so a model fitted mostly on the
  majority ranks the group's held-out items worse and the logged NDCG reveals it. The other plant
  (``"appeal"``: the group dislikes what the shop's pages push, yet interacts with what those
  pages show) leaves the held-out items looking like everyone's: only the shop's true expected
  clicks reveal that gap;
- **calibration**: on a shop where the grouping attribute has no effect at all (``region`` with
  ``location_strength = 0``: a customer's region then changes nothing in the simulation), the
  share of seeds flagged at level ``alpha`` must be ``alpha`` within binomial error.

The benchmark ``benchmarks/bench_fairness.py`` runs both at the default size and over 200 seeds;
``tests/test_fairness_checks.py`` runs small versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recnb.fairness.groups import permutation_gap_test
from recnb.fairness.stage import expected_clicks
from recnb.metrics import ranking_metric_arrays

__all__ = ["shop_gap_test", "shop_gap_tests"]


def shop_gap_test(
    seed: int,
    attribute: str,
    value: str,
    model: str = "popularity",
    k: int = 10,
    n_permutations: int = 1000,
    test_days: float = 7.0,
    **shop: Any,
) -> dict[str, float]:
    """Permutation test of the NDCG gap between ``attribute == value`` and the other customers.

    :func:`shop_gap_tests` for one model.
    """
    return shop_gap_tests(seed, attribute, value, [model], k, n_permutations, test_days, **shop)[
        model
    ]


def shop_gap_tests(
    seed: int,
    attribute: str,
    value: str,
    models: Sequence[str] = ("popularity",),
    k: int = 10,
    n_permutations: int = 1000,
    test_days: float = 7.0,
    **shop: Any,
) -> dict[str, dict[str, float]]:
    """Permutation tests of the gap between ``attribute == value`` and the other customers.

    One shop and split, every model of ``models`` fitted on it and tested.

    Parameters
    ----------
    seed : int
        Seed of the shop, the models and the permutations.
    attribute, value : str
        The group (a column of the shop's customers table and one of its values).
    models : sequence of str
        Registry names of the models (fitted with their defaults).
    k : int
        List length.
    n_permutations : int
    test_days : float
        Days held out at the end of the log.
    **shop
        :class:`~recnb.data.synthetic.ShopConfig` settings (sizes, ``underserved_group``,
        ``location_strength``...).

    Returns
    -------
    dict of str to dict
        Per model, for ``ndcg`` (logged held-out items) and ``expected_clicks`` (the shop's truth,
        :func:`recnb.fairness.stage.expected_clicks`): ``<metric>_p_value`` (labels shuffled among
        all customers), ``<metric>_p_value_within_activity`` (shuffled within light / heavy
        training activity, split at the median) and ``<metric>_gap`` (rest minus group); plus
        ``n_group`` and ``n_customers``.
    """
    from recnb.data.synthetic import make_shop
    from recnb.models.registry import make_model
    from recnb.prep.settings import PrepSettings
    from recnb.prep.split import build_split

    shop_, ds = make_shop(seed=seed, **shop)
    split = build_split(ds, PrepSettings(test_days=test_days, valid_days=0.0, seed=seed))
    train, test = split.parts["train"], split.parts["test"]
    truth = test.matrix
    cidx = np.flatnonzero(np.diff((truth > 0).tocsr().indptr) > 0)
    ids = np.asarray(train.customer_ids, dtype=object)[cidx]
    cust = ds.customers.set_index(ds.customers["customer_id"].astype(str))[attribute].astype(str)
    labels = cust.reindex(ids.astype(str)).to_numpy()
    member = (labels == str(value)).astype(np.int64)
    n_train = np.diff((train.matrix > 0).tocsr().indptr)[cidx]
    activity = n_train > np.median(n_train)
    out = {}
    for model in models:
        m = make_model(model, **({"random_state": seed} if model != "popularity" else {}))
        m.fit(train)
        top, _ = m.recommend_indices(cidx, k=k)
        ndcg = ranking_metric_arrays(top, truth[cidx], ks=(k,), metrics=["ndcg"])[("ndcg", k)]
        clicks = expected_clicks(shop_, ids, np.asarray(train.product_ids, dtype=object), top)
        v = np.column_stack([ndcg, clicks])
        _, p = permutation_gap_test(v, member, 2, n_permutations, seed)
        _, p_act = permutation_gap_test(v, member, 2, n_permutations, seed, strata=activity)
        r = {"n_group": int(member.sum()), "n_customers": int(len(cidx))}
        for j, name in enumerate(("ndcg", "expected_clicks")):
            r[f"{name}_p_value"] = float(p[j])
            r[f"{name}_p_value_within_activity"] = float(p_act[j])
            r[f"{name}_gap"] = float(v[member == 0, j].mean() - v[member == 1, j].mean())
        out[model] = r
    return out
