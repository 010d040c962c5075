"""Leakage checks of a split, recomputed from the saved parts themselves.

:func:`check_split` lists the problems that would let test information leak into training (empty
when the split is sound); :func:`assert_split_ok` raises on any. :func:`cold_start` is the cold-start
record of an evaluation part that the split saves in its ``meta`` and the checks recompute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions, check_same_ids
from recnb.prep.split.labels import PARTS

__all__ = ["assert_split_ok", "check_split", "cold_start"]


def cold_start(train: sp.csr_matrix, evaluation: sp.csr_matrix) -> dict[str, Any]:
    """Customers and products of ``evaluation`` without any interaction in ``train``.

    Returns
    -------
    dict
        ``cold_customers`` and ``cold_products`` (row and column indices), their counts
        (``n_cold_customers``, ``n_cold_products``) among those evaluated
        (``n_customers_evaluated``, ``n_products_evaluated``), and ``cold_pair_share``, the share
        of evaluation pairs that involve a cold customer or product.
    """
    tr_c = np.diff(train.indptr) > 0
    tr_p = np.bincount(train.indices, minlength=train.shape[1]) > 0
    ev_c = np.diff(evaluation.indptr) > 0
    ev_p = np.bincount(evaluation.indices, minlength=evaluation.shape[1]) > 0
    cold_c = np.flatnonzero(ev_c & ~tr_c)
    cold_p = np.flatnonzero(ev_p & ~tr_p)
    ev = evaluation.tocoo()
    cold_pairs = (~tr_c[ev.row] | ~tr_p[ev.col]).sum() if ev.nnz else 0
    return {
        "cold_customers": cold_c.tolist(),
        "cold_products": cold_p.tolist(),
        "n_customers_evaluated": int(ev_c.sum()),
        "n_cold_customers": len(cold_c),
        "n_products_evaluated": int(ev_p.sum()),
        "n_cold_products": len(cold_p),
        "cold_pair_share": float(cold_pairs / ev.nnz) if ev.nnz else 0.0,
    }


def _pairs(m: sp.csr_matrix) -> sp.csr_matrix:
    b = sp.csr_matrix(m, copy=True)
    b.data = np.ones_like(b.data)
    b.eliminate_zeros()
    return b


def _same_sparse(a: sp.spmatrix | None, b: sp.spmatrix | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and (sp.csr_matrix(a) != sp.csr_matrix(b)).nnz == 0


def _kcore_violations(m: sp.csr_matrix, min_customer: int, min_product: int) -> tuple[int, int]:
    """Customers / products present in ``m`` below the k-core minimums on ``m``'s own pairs."""
    per_c = np.diff(m.indptr)
    per_p = np.bincount(m.indices, minlength=m.shape[1])
    return (
        int(((per_c > 0) & (per_c < min_customer)).sum()),
        int(((per_p > 0) & (per_p < min_product)).sum()),
    )


def check_split(parts: Mapping[str, Interactions]) -> list[str]:
    """Problems of a split that would let test information leak into training (empty when sound).

    Each check recomputes from the saved parts themselves (matrices, last-event times, features)
    rather than trusting a label the split wrote about itself; the split's settings (kind, k-core
    minimums, ``drop_seen_in_test``, the recorded boundaries) say which checks apply.

    - The parts share one id map. (``train`` need not hold every pair of ``train_inner``: each
      training part is filtered on its own events, and a purchase returned, or a customer turned
      bot-like, during the validation window leaves ``train`` only.)
    - Validation and test share no pair, and no test pair is in ``train`` (pair-based splits, or
      temporal with ``drop_seen_in_test``).
    - Each training part is closed under its own k-core: every customer in it has at least
      ``min_customer_interactions`` products there and every product ``min_product_interactions``
      customers. A k-core that counted pairs of another part (e.g. of the test period) fails this.
    - Temporal: every ``train`` event is before every test event and every ``train_inner`` event
      before every validation event (from the saved last-event times), and the recorded cut-off
      and validation start lie in those gaps.
    - Each evaluation part carries the very features of its training part (same names and values).
    - The cold-start flags match the matrices.
    """
    problems: list[str] = []
    missing = [p for p in PARTS if p not in parts]
    if missing:
        return [f"missing part(s) {missing}"]
    try:
        check_same_ids(parts, "check_split")
    except ValueError as e:
        return [str(e)]
    tri, val, tr, te = (_pairs(parts[p].matrix) for p in PARTS)
    meta = parts["test"].meta
    kind = meta.get("split_kind")
    disjoint = kind != "temporal" or meta.get("drop_seen_in_test", False)
    if disjoint:
        if val.multiply(te).nnz:
            problems.append(f"{val.multiply(te).nnz} pair(s) in both valid and test")
        if te.multiply(tr).nnz:
            problems.append(f"{te.multiply(tr).nnz} test pair(s) also in train")
    min_c = meta.get("min_customer_interactions")
    min_p = meta.get("min_product_interactions")
    if min_c is not None and min_p is not None:
        for part, m in (("train_inner", tri), ("train", tr)):
            bad_c, bad_p = _kcore_violations(m, int(min_c), int(min_p))
            if bad_c or bad_p:
                problems.append(
                    f"{part}: {bad_c} customer(s) with fewer than {min_c} products and {bad_p} "
                    f"product(s) with fewer than {min_p} customers in {part} itself: the k-core "
                    "did not run on this part's own data"
                )
    if kind == "temporal":

        def times(part: str) -> np.ndarray | None:
            t = parts[part].timestamps
            return None if t is None else t.data

        for early, late in (("train", "test"), ("train_inner", "valid")):
            a, b = times(early), times(late)
            if a is not None and b is not None and len(a) and len(b) and a.max() >= b.min():
                n = int((a >= b.min()).sum())
                problems.append(
                    f"{early}: {n} pair(s) with a last event at or after the first {late} event"
                )
        cut = pd.Timestamp(meta["cutoff"]).value / 1e9
        vstart = pd.Timestamp(meta["valid_start"]).value / 1e9
        checks = (
            ("train", lambda t: t >= cut, "at or after the cut-off"),
            ("train_inner", lambda t: t >= vstart, "at or after the validation start"),
            ("valid", lambda t: (t < vstart) | (t >= cut), "outside the validation window"),
            ("test", lambda t: t < cut, "before the cut-off"),
        )
        for part, bad, what in checks:
            t = times(part)
            if t is None:
                problems.append(f"{part}: no timestamps saved, cannot check the temporal order")
                continue
            n_bad = int(bad(t).sum())
            if n_bad:
                problems.append(f"{part}: {n_bad} pair(s) with a last event {what}")
    for ev_part, tr_part in (("valid", "train_inner"), ("test", "train")):
        ev, trn = parts[ev_part], parts[tr_part]
        same = (
            list(ev.customer_feature_names or []) == list(trn.customer_feature_names or [])
            and list(ev.product_feature_names or []) == list(trn.product_feature_names or [])
            and _same_sparse(ev.customer_features, trn.customer_features)
            and _same_sparse(ev.product_features, trn.product_features)
        )
        if not same:
            problems.append(f"{ev_part}: its features are not those of {tr_part}")
        m = ev.meta
        if "cold_customers" in m:
            trm = trn.matrix
            cold = np.asarray(m["cold_customers"], dtype=np.int64)
            if len(cold) and (np.diff(trm.indptr)[cold] > 0).any():
                problems.append(
                    f"{ev_part}: a flagged cold-start customer has {tr_part} interactions"
                )
            expect = cold_start(trm, ev.matrix)
            if expect["n_cold_customers"] != len(cold) or expect["n_cold_products"] != len(
                m.get("cold_products", [])
            ):
                problems.append(f"{ev_part}: cold-start flags do not match the matrices")
    return problems


def assert_split_ok(parts: Mapping[str, Interactions]) -> None:
    """Raise ``ValueError`` listing :func:`check_split`'s problems, if any."""
    problems = check_split(parts)
    if problems:
        raise ValueError("split failed its leakage checks:\n  - " + "\n  - ".join(problems))
