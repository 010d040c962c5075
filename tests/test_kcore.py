"""The k-core filter: cascades until stable, matches the naive definition; the density table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from recnb.prep.kcore import density_table, kcore


def test_kcore_cascades_until_stable():
    # customer 0: products 0, 1; customer 1: products 0, 1; customer 2: products 1, 2
    # product 2 has 1 customer -> removed -> customer 2 left with 1 product -> removed
    rows = np.array([0, 0, 1, 1, 2, 2, 2])
    cols = np.array([0, 1, 0, 1, 1, 2, 2])  # the duplicate (2, 2) counts once
    r = kcore(rows, cols, min_customer=2, min_product=2)
    assert list(r.keep_customers) == [True, True, False]
    assert list(r.keep_products) == [True, True, False]
    assert list(r.keep_pairs) == [True, True, True, True, False, False, False]
    assert r.rounds == 3


def _naive_kcore(pairs, kc, kp):
    pairs = set(pairs)
    while True:
        cu = pd.Series([c for c, _ in pairs]).value_counts()
        pu = pd.Series([p for _, p in pairs]).value_counts()
        keep = {(c, p) for c, p in pairs if cu.get(c, 0) >= kc and pu.get(p, 0) >= kp}
        if keep == pairs:
            return keep
        pairs = keep


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 9)), min_size=1, max_size=80),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_kcore_matches_naive_definition(pairs, kc, kp):
    rows = np.array([c for c, _ in pairs])
    cols = np.array([p for _, p in pairs])
    r = kcore(rows, cols, kc, kp)
    got = {(c, p) for (c, p), k in zip(pairs, r.keep_pairs, strict=True) if k}
    assert got == _naive_kcore(pairs, kc, kp)


def test_density_table():
    t = density_table({"before": (10, 20, 50), "after": (5, 10, 40)})
    assert list(t["density"]) == [0.25, 0.8]
