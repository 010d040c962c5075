"""recnb against golden fixtures from the released Microsoft Recommenders 1.2.1.

The fixtures in ``tests/fixtures/msr/`` were written by ``tools/make_msr_fixtures.py``, which runs
the released ``python_splitters``, ``split_utils`` and ``python_evaluation`` modules (see
``SOURCE.json`` for the wheel's hash and the library versions). These tests need neither the
package nor the network, and always run; only the ml-latest-small check skips when that data set
is absent.

How recnb's metrics map onto Recommenders 1.2.1's ``python_evaluation`` (``k`` = cut-off, ``R`` =
relevant items of a user; the tests below check every line):

- ``precision_at_k``, ``recall_at_k``: recnb ``precision`` / ``recall``, averaged over the users
  present in both frames (a user with truth but no recommendation is left out);
- ``map_at_k``: recnb ``map_min`` (average precision / ``min(k, R)``), same averaging;
- ``map``: recnb ``map_msr`` (average precision / ``R``, NaN for an empty list), i.e. ``map_rel``
  over the users with a list;
- ``ndcg_at_k``: recnb ``ndcg`` averaged over every user of the truth frame (an empty list counts
  0); ``score_type="raw"`` / ``"exp"`` are recnb's graded NDCG with ``gain="linear"`` /
  ``"exponential"``; the log base cancels out;
- ``rmse``, ``mae``: recnb ``rmse`` / ``mae`` over the pairs present in both frames;
- ``auc``: scikit-learn's ROC AUC over all (user, item) rows pooled. recnb's
  ``auc_per_customer`` is one customer's AUC over the catalogue: equal to ``auc`` on that user's
  rows, not to the pooled value.

Ties in the prediction scores keep the frame's row order (a stable sort), as in the release.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recnb.metrics import auc_per_customer, mae, ranking_metric_arrays, rmse
from recnb.prep import split as sl
from recnb.prep.settings import PrepSettings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "msr"


@cache
def _json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@cache
def _frame(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"split_frame_{name}.csv", dtype={"rating": float})


def test_fixtures_come_from_the_release():
    src = _json("SOURCE.json")
    assert src["package"] == "recommenders==1.2.1"
    assert set(src["modules_sha256"]) >= {
        "recommenders/datasets/python_splitters.py",
        "recommenders/datasets/split_utils.py",
        "recommenders/evaluation/python_evaluation.py",
    }
    cases = _json("splits.json")["cases"]
    # the grid the fixtures promise: every group size, both filter_by, every ratio, several seeds
    assert {c["filter_by"] for c in cases} == {"user", "item"}
    assert {json.dumps(c["ratio"]) for c in cases} == {
        "0.5",
        "0.75",
        "0.8",
        "[0.6, 0.2, 0.2]",
        "[7.0, 2.0, 1.0]",
    }
    assert len({c["seed"] for c in cases}) >= 3 and {c["min_rating"] for c in cases} == {1, 3}
    sizes = set()
    for name in {c["frame"] for c in cases}:
        f = _frame(name)
        sizes |= set(f["userID"].value_counts()) | set(f["itemID"].value_counts())
    assert {1, 2, 3, 5, 10, 37} <= sizes


# -- the stratified split, row for row ------------------------------------------------------------


def _split_cases() -> list:
    cases = _json("splits.json")["cases"]
    return [
        pytest.param(
            c,
            id=f"{c['frame']}-{c['filter_by']}-{json.dumps(c['ratio'])}-s{c['seed']}-m{c['min_rating']}",
        )
        for c in cases
    ]


@pytest.mark.parametrize("case", _split_cases())
def test_stratified_split_matches_the_release_row_for_row(case):
    df = _frame(case["frame"])
    parts = sl.python_stratified_split(
        df,
        ratio=case["ratio"],
        min_rating=case["min_rating"],
        filter_by=case["filter_by"],
        seed=case["seed"],
    )
    # same rows in the same splits, in the same order
    assert [list(p.index) for p in parts] == case["splits"]
    for p in parts:
        pd.testing.assert_frame_equal(p, df.loc[p.index])
    # the label function gives the same assignment
    col = "userID" if case["filter_by"] == "user" else "itemID"
    labels = sl.stratified_labels(df[col], case["ratio"], case["seed"], case["min_rating"])
    expect = np.full(len(df), -1)
    for i, rows in enumerate(case["splits"]):
        expect[rows] = i
    assert labels.tolist() == expect.tolist()


# -- metrics --------------------------------------------------------------------------------------


def _ranking_inputs(case: dict) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray, int]:
    """topk (stable descending sort of each user's predictions) and truth over one id space."""
    truth = pd.DataFrame(case["truth"], columns=["user", "item", "rating"])
    pred = pd.DataFrame(case["pred"], columns=["user", "item", "score"])
    users = np.union1d(truth["user"], pred["user"])
    items = np.union1d(truth["item"], pred["item"])
    u_t, i_t = np.searchsorted(users, truth["user"]), np.searchsorted(items, truth["item"])
    truth_m = sparse.csr_matrix(
        (truth["rating"].to_numpy(float), (u_t, i_t)), shape=(len(users), len(items))
    )
    width = max(int(pred.groupby("user").size().max()), 10)
    topk = np.full((len(users), width), -1, dtype=np.int64)
    ranked = pred.assign(u=np.searchsorted(users, pred["user"])).sort_values(
        ["u", "score"], ascending=[True, False], kind="stable"
    )
    pos = ranked.groupby("u").cumcount().to_numpy()
    topk[ranked["u"].to_numpy(), pos] = np.searchsorted(items, ranked["item"])
    in_both = np.isin(users, truth["user"]) & np.isin(users, pred["user"])
    return topk, truth_m, in_both, width


def _ranking_params() -> list:
    out = []
    for case in _json("metrics.json")["ranking"]:
        for v in case["values"]:
            kw = "".join(f"-{x}" for x in v["kwargs"].values())
            out.append(pytest.param(case, v, id=f"{case['case']}-{v['function']}{kw}-k{v['k']}"))
    return out


@pytest.mark.parametrize(("case", "value"), _ranking_params())
def test_ranking_metric_matches_the_release(case, value):
    topk, truth, in_both, _ = _ranking_inputs(case)
    k, fn = value["k"], value["function"]
    graded = value["kwargs"].get("score_type", "binary") != "binary"
    gain = "exponential" if value["kwargs"].get("score_type") == "exp" else "linear"
    ours = ranking_metric_arrays(topk, truth, ks=k, graded=graded, gain=gain)
    listed = topk[:, 0] >= 0
    if fn == "ndcg_at_k":
        # every user of the truth frame; an empty list counts 0
        has_truth = np.diff(truth.indptr) > 0
        got = np.nan_to_num(ours[("ndcg", k)][has_truth]).mean()
    elif fn == "map":
        got = np.nanmean(ours[("map_msr", k)])
        assert got == pytest.approx(ours[("map_rel", k)][in_both].mean(), abs=1e-15)
    else:
        name = {"precision_at_k": "precision", "recall_at_k": "recall", "map_at_k": "map_min"}[fn]
        assert (in_both == (listed & (np.diff(truth.indptr) > 0))).all()
        got = ours[(name, k)][in_both].mean()
    assert got == pytest.approx(value["value"], rel=1e-12, abs=1e-15)


def test_map_and_map_at_k_differ_where_the_release_says():
    # with more relevant items than k, the release's map divides by R and map_at_k by min(k, R)
    case = next(c for c in _json("metrics.json")["ranking"] if c["case"] == "many_relevant")
    vals = {(v["function"], v["k"]): v["value"] for v in case["values"] if not v["kwargs"]}
    assert vals[("map_at_k", 10)] == pytest.approx(1.0)  # perfect lists
    assert vals[("map", 10)] < 0.8
    topk, truth, in_both, _ = _ranking_inputs(case)
    ours = ranking_metric_arrays(topk, truth, ks=10)
    assert ours[("map_min", 10)][in_both].mean() == pytest.approx(vals[("map_at_k", 10)])
    assert np.nanmean(ours[("map_msr", 10)]) == pytest.approx(vals[("map", 10)])
    assert ours[("map_rel", 10)][in_both].mean() == pytest.approx(vals[("map", 10)])


def test_rating_metrics_match_the_release():
    (case,) = _json("metrics.json")["rating"]
    truth = pd.DataFrame(case["truth"], columns=["user", "item", "rating"])
    pred = pd.DataFrame(case["pred"], columns=["user", "item", "prediction"])
    both = truth.merge(pred, on=["user", "item"])  # the release counts pairs in both frames
    assert len(both) < min(len(truth), len(pred))
    vals = {v["function"]: v["value"] for v in case["values"]}
    assert rmse(both["rating"], both["prediction"]) == pytest.approx(vals["rmse"], rel=1e-12)
    assert mae(both["rating"], both["prediction"]) == pytest.approx(vals["mae"], rel=1e-12)


def test_auc_per_customer_matches_the_release_per_user():
    (case,) = _json("metrics.json")["auc"]
    truth = pd.DataFrame(case["truth"], columns=["user", "item", "label"])
    pred = pd.DataFrame(case["pred"], columns=["user", "item", "score"])
    n_users, n_items = truth["user"].max() + 1, truth["item"].max() + 1
    scores = np.zeros((n_users, n_items))
    scores[pred["user"], pred["item"]] = pred["score"]
    pos = truth[truth["label"] > 0]
    truth_m = sparse.csr_matrix(
        (np.ones(len(pos)), (pos["user"], pos["item"])), shape=(n_users, n_items)
    )
    ours = auc_per_customer(scores, truth_m)
    per_user = {v["user"]: v["value"] for v in case["values"] if "user" in v}
    assert len(per_user) == n_users
    for u, expected in per_user.items():
        assert ours[u] == pytest.approx(expected, rel=1e-12)
    # the release's auc pools every row of every user: not the mean of per-user AUCs
    pooled = next(v["value"] for v in case["values"] if v.get("scope") == "pooled")
    assert abs(pooled - ours.mean()) > 1e-3


# -- ml-latest-small, by item and by user ---------------------------------------------------------


def _keys_sha256(users: np.ndarray, items: np.ndarray) -> str:
    u, i = np.asarray(users, np.int64).tolist(), np.asarray(items, np.int64).tolist()
    keys = sorted(zip(u, i, strict=True))
    return hashlib.sha256("".join(f"{u},{i}\n" for u, i in keys).encode()).hexdigest()


@pytest.fixture
def ml_latest_small(shared_data_dir):
    fp = _json("ml_latest_small.json")
    ratings = shared_data_dir / "ml-latest-small" / "ratings.csv"
    if not ratings.is_file():
        pytest.skip(f"{ratings} not present")
    digest = hashlib.sha256(ratings.read_bytes()).hexdigest()
    if digest != fp["file_sha256"]:
        pytest.skip(f"{ratings} is not the release the fingerprint was taken on (sha256 {digest})")
    return ratings, fp


@pytest.mark.realdata
@pytest.mark.parametrize("by", ["item", "user"])
def test_ml_latest_small_split_matches_the_release(ml_latest_small, by):
    ratings, fp = ml_latest_small
    df = pd.read_csv(ratings)
    train, test = sl.python_stratified_split(
        df, ratio=fp["ratio"], filter_by=by, col_user="userId", col_item="movieId", seed=fp["seed"]
    )
    want = fp["splits"][by]
    assert (len(train), len(test)) == (want["train_rows"], want["test_rows"])
    assert _keys_sha256(test["userId"], test["movieId"]) == want["test_keys_sha256"]


@pytest.mark.realdata
@pytest.mark.slow
def test_ml_latest_small_pipeline_split_is_the_released_split(ml_latest_small):
    # the preprocessing stage's stratified split (params/ml_latest_small.yaml) puts exactly the
    # released test rows in test, and every other rating in train
    from recnb.data.loaders.movielens import load_movielens

    ratings, fp = ml_latest_small
    ds = load_movielens(ratings.parent, variant="ml-latest-small")
    settings = PrepSettings(
        signal="explicit",
        split_kind="stratified",
        stratify_by="item",
        test_fraction=1 - fp["ratio"],
        valid_fraction=0.25,
        seed=fp["seed"],
        tfidf_max_features=0,
        min_customer_interactions=1,  # the protocol keeps every rating
        min_product_interactions=1,
        bot_max_events_per_day=0,
    )
    res = sl.build_split(ds, settings)
    te, tr = res.parts["test"], res.parts["train"]
    coo = te.matrix.tocoo()
    users = te.customer_ids[coo.row].astype(np.int64)
    items = te.product_ids[coo.col].astype(np.int64)
    want = fp["splits"]["item"]
    assert (tr.nnz, te.nnz) == (want["train_rows"], want["test_rows"])
    assert _keys_sha256(users, items) == want["test_keys_sha256"]
