"""Test harness shipped with the package: tiny data sets with known answers and fast settings.

Used by ``tests/test_models*.py`` and available to anyone adding a model: build the model with
:func:`build`, fit it on :func:`checkerboard` and check the known right answers.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.interactions import Interactions
from recnb.models.base import Recommender
from recnb.models.registry import REGISTRY, make_model

BLOCK_CUSTOMERS = 12  # customers per block
BLOCK_PRODUCTS = 6  # products per block
T0 = 1.7e9  # seconds since the epoch of the first event

__all__ = ["TEST_PARAMS", "build", "checkerboard", "products_table", "random_interactions"]

# fast settings per model for the contract tests (tiny data, few epochs, one thread)
TEST_PARAMS: dict[str, dict] = {
    "item_knn": {"shrinkage": 0.0},
    "user_knn": {"shrinkage": 0.0},
    "pure_svd": {"n_factors": 2},
    "biased_mf": {"n_factors": 2, "n_epochs": 3},
    "ease": {"l2": 1.0},
    "edlae": {"l2": 1.0, "dropout": 0.1},
    "rp3beta": {"n_neighbors": 8},
    "cornac_bpr": {"factors": 4, "iterations": 300, "learning_rate": 0.05},
    "blend": {
        "first": "ease",
        "second": "als",
        "first_params": {"l2": 1.0},
        "second_params": {
            "factors": 4,
            "iterations": 10,
            "regularization": 0.01,
            "alpha": 10.0,
            "num_threads": 1,
        },
    },
    "trending": {"window_days": 2.0},
    "als": {"factors": 4, "iterations": 10, "regularization": 0.01, "alpha": 10.0},
    "bpr": {"factors": 4, "iterations": 300, "learning_rate": 0.05},
}


def checkerboard() -> tuple[Interactions, dict[int, int]]:
    """Two disjoint blocks of customers x products, one product per customer held out.

    Customer ``u`` of block ``b`` consumed every product of block ``b`` except one; that missing
    product (the only unseen product of its own block) is the known right answer at rank 1. The
    last customer (``cold``) has no interaction at all. Products carry a block attribute and a
    block term, so content models can find the answer too; timestamps are hourly.

    Returns
    -------
    Interactions, dict
        The data and ``{customer index: held-out product index}``.
    """
    rows, cols, held = [], [], {}
    for b in range(2):
        for c in range(BLOCK_CUSTOMERS):
            u = b * BLOCK_CUSTOMERS + c
            miss = c % BLOCK_PRODUCTS
            held[u] = b * BLOCK_PRODUCTS + miss
            for j in range(BLOCK_PRODUCTS):
                if j != miss:
                    rows.append(u)
                    cols.append(b * BLOCK_PRODUCTS + j)
    n_c, n_p = 2 * BLOCK_CUSTOMERS + 1, 2 * BLOCK_PRODUCTS
    vals = np.ones(len(rows), np.float32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_c, n_p))
    ts = sp.csr_matrix((T0 + 3600.0 * np.arange(len(rows)), (rows, cols)), shape=(n_c, n_p))
    pf = np.array(
        [[1, 0, 1, 0] if j < BLOCK_PRODUCTS else [0, 1, 0, 1] for j in range(n_p)], np.float32
    )
    cids = [f"c{i}" for i in range(n_c - 1)] + ["cold"]
    inter = Interactions(
        matrix=m,
        customer_ids=cids,
        product_ids=[f"p{j}" for j in range(n_p)],
        product_features=sp.csr_matrix(pf),
        product_feature_names=["category:a", "category:b", "term:alpha", "term:beta"],
        timestamps=ts,
    )
    return inter, held


def random_interactions(
    rng: np.random.Generator,
    n_customers: int = 40,
    n_products: int = 25,
    density: float = 0.2,
    ratings: bool = False,
) -> Interactions:
    """Random long-tailed data with side features, timestamps and one cold customer (the last).

    Values are confidences in [1, 5] (or half-star ratings when ``ratings``).
    """
    pop = rng.pareto(1.5, n_products) + 0.2
    p = np.minimum(1.0, density * pop / pop.mean())
    dense = rng.random((n_customers, n_products)) < p[None, :]
    dense[-1] = False
    dense[:-1, 0] |= ~dense[:-1].any(axis=1)  # every customer but the last has history
    r, c = np.nonzero(dense)
    if ratings:
        vals = rng.integers(1, 11, len(r)) / 2.0
    else:
        vals = rng.integers(1, 6, len(r)).astype(float)
    m = sp.csr_matrix((vals.astype(np.float32), (r, c)), shape=dense.shape)
    ts = sp.csr_matrix((T0 + rng.uniform(0, 30 * 86400.0, len(r)), (r, c)), shape=dense.shape)
    n_feat = 6
    pf = (rng.random((n_products, n_feat)) < 0.4).astype(np.float32)
    pf[:, 0] = 1.0  # every product has at least one feature
    return Interactions(
        matrix=m,
        customer_ids=[f"u{i}" for i in range(n_customers)],
        product_ids=[f"i{j}" for j in range(n_products)],
        product_features=sp.csr_matrix(pf),
        product_feature_names=[f"term:w{j}" for j in range(n_feat)],
        timestamps=ts,
    )


def products_table(product_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """A products table in the recnb schema with descriptions, categories, brands and prices."""
    cats = ["home/kitchen", "home/garden", "fashion/shoes", "fashion/bags"]
    words = {
        "home/kitchen": "pan pot knife steel cooking",
        "home/garden": "hose spade seeds soil outdoor",
        "fashion/shoes": "sneaker leather sole running lace",
        "fashion/bags": "tote leather strap zipper travel",
    }
    rows = []
    for j, pid in enumerate(product_ids):
        cat = cats[j % len(cats)]
        vocab = words[cat].split()
        desc = " ".join(rng.choice(vocab, 4)) + f" item{j % 3}"
        rows.append(
            {
                "product_id": pid,
                "category": cat,
                "brand": f"brand{j % 3}",
                "price": float(np.round(rng.lognormal(3.0, 0.7), 2)),
                "description": desc,
            }
        )
    return pd.DataFrame(rows)


def build(name: str, **overrides: object) -> Recommender:
    """Model ``name`` with its fast test settings, seeded, one thread where it has that knob."""
    params = {"random_state": 7, **TEST_PARAMS.get(name, {}), **overrides}
    sig = inspect.signature(REGISTRY[name].__init__).parameters
    if "num_threads" in sig:
        params.setdefault("num_threads", 1)
    return make_model(name, **params)
