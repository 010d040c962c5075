"""Cross-check against Microsoft Recommenders' ``python_evaluation`` on a small case.

Recommenders is not a dependency. The test runs when ``recommenders`` is importable, or when
``RECNB_MSR_WHEEL`` points to a downloaded wheel (``pip download --no-deps recommenders``), from
which only ``python_evaluation.py`` and the two small modules it imports are loaded; otherwise it
is skipped. ``benchmarks/bench_metrics.py`` makes the same comparison at scale.
"""

from __future__ import annotations

import importlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recnb.metrics import ranking_metric_arrays

FILES = (
    "recommenders/__init__.py",
    "recommenders/utils/__init__.py",
    "recommenders/utils/constants.py",
    "recommenders/datasets/__init__.py",
    "recommenders/datasets/pandas_df_utils.py",
    "recommenders/evaluation/__init__.py",
    "recommenders/evaluation/python_evaluation.py",
)


@pytest.fixture
def python_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    try:
        yield importlib.import_module("recommenders.evaluation.python_evaluation")
        return
    except ImportError:
        pass
    wheel = os.environ.get("RECNB_MSR_WHEEL")
    if not wheel:
        pytest.skip("recommenders not importable and RECNB_MSR_WHEEL not set")
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            zf.extract(name, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] == "recommenders"]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("recommenders.evaluation.python_evaluation")
    yield module
    for name in [m for m in sys.modules if m.split(".")[0] == "recommenders"]:
        del sys.modules[name]


def test_matches_recommenders(python_evaluation, rng: np.random.Generator) -> None:
    pe = python_evaluation
    n, n_products, k = 60, 25, 6
    topk = np.argsort(rng.random((n, n_products)), axis=1)[:, :k]
    topk[:4] = -1  # four customers with no recommendation at all
    dense = (rng.random((n, n_products)) < 0.2) * rng.integers(1, 4, size=(n, n_products))
    dense[:, 0] = np.where(dense.sum(axis=1) == 0, 2, dense[:, 0])  # everyone has truth
    truth = sparse.csr_matrix(dense.astype(np.float64))
    coo = truth.tocoo()
    rating_true = pd.DataFrame(
        {"userID": coo.row.astype(np.int64), "itemID": coo.col.astype(np.int64), "rating": coo.data}
    )
    valid = topk >= 0
    rows = np.repeat(np.arange(n, dtype=np.int64)[:, None], k, axis=1)
    rating_pred = pd.DataFrame(
        {
            "userID": rows[valid],
            "itemID": topk[valid],
            "prediction": np.tile(np.arange(k, 0, -1, dtype=np.float64), (n, 1))[valid],
        }
    )
    ours = ranking_metric_arrays(topk, truth, ks=k)
    listed = topk[:, 0] >= 0
    # precision / recall / map_at_k / map: Recommenders averages over users present in both
    # frames, i.e. customers with a non-empty list
    pairs = {
        "precision_at_k": "precision",
        "recall_at_k": "recall",
        "map_at_k": "map_min",
        "map": "map_rel",
    }
    for theirs, mine in pairs.items():
        expected = getattr(pe, theirs)(rating_true, rating_pred, k=k)
        assert ours[(mine, k)][listed].mean() == pytest.approx(expected, rel=1e-12)
    # map_msr reproduces their customer counting by itself
    assert np.nanmean(ours[("map_msr", k)]) == pytest.approx(
        pe.map(rating_true, rating_pred, k=k), rel=1e-12
    )
    # ndcg_at_k averages over every user of the truth frame (an empty list scores 0)
    for score_type, graded, gain in (
        ("binary", False, "linear"),
        ("raw", True, "linear"),
        ("exp", True, "exponential"),
    ):
        mine = ranking_metric_arrays(topk, truth, ks=k, metrics=["ndcg"], graded=graded, gain=gain)
        expected = pe.ndcg_at_k(
            rating_true, rating_pred, k=k, score_type=score_type, discfun_type="log2"
        )
        assert mine[("ndcg", k)].mean() == pytest.approx(expected, rel=1e-12)
