"""Reference tables and the report's "ours beside theirs" table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.evaluation import leaderboard as lboard
from recnb.evaluation.reference import (
    REFERENCE_TABLES,
    ml_latest_small_released_split,
    reference_table,
)
from recnb.reporting.narrative import models as narrative


def test_ml_latest_small_table_holds_the_issue_figures():
    ref = ml_latest_small_released_split()
    got = dict(zip(ref["algo"] + " | " + ref["settings"], ref["ndcg_at_10"], strict=True))
    assert got["Popularity | most rated movies in train"] == 0.2123
    assert got["EASE | l2 picked on the test part"] == 0.4125
    assert got["ALS (implicit) | 64 factors, regularization 10, 30 iterations"] == 0.384
    assert got["PureSVD | 40 factors"] == 0.356
    bpr = ref[ref["algo"] == "BPR (cornac)"]["ndcg_at_10"].tolist()
    assert bpr == [0.246, 0.287]
    # only the EASE row had a hyperparameter picked on test, and it says so
    upper = ref[ref["kind"] == "upper reference"]["algo"].tolist()
    assert upper == ["EASE"]
    assert set(ref["kind"]) == {"fixed", "upper reference"}
    assert ref[["map", "precision_at_10", "recall_at_10"]].isna().all().all()


def test_every_registered_table_loads_with_its_protocol():
    for name, t in REFERENCE_TABLES.items():
        assert t.name == name
        rows = t.rows()
        assert "algo" in rows and "ndcg_at_10" in rows and len(rows) >= 5
        assert "seed=42" in t.protocol and t.source
    with pytest.raises(KeyError, match="known: .*msr_movielens100k"):
        reference_table("msr_100k")


def _board() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2],
            "model": ["edlae", "popularity"],
            "ndcg": [0.42, 0.21],
            "ndcg_low": [0.40, 0.19],
            "ndcg_high": [0.44, 0.23],
            "precision": [0.37, 0.18],
            "precision_low": [0.35, 0.17],
            "precision_high": [0.39, 0.20],
            "map_msr": [0.11, 0.04],
            "map_msr_low": [0.1, 0.03],
            "map_msr_high": [0.12, 0.05],
        }
    )


def test_beside_reference_puts_our_rows_above_theirs():
    ref = reference_table("ml_latest_small_released_split")
    t = lboard.beside_reference(_board(), ref, 10, tuned=["edlae"])
    assert list(t.columns) == [
        "source",
        "model",
        "settings",
        "ndcg",
        "ndcg_low",
        "ndcg_high",
        "precision",
        "recall",
        "map_msr",
    ]
    ours = t[t["source"] == "this run"]
    assert ours["model"].tolist() == ["edlae", "popularity"]
    assert ours["settings"].tolist() == ["tuned on validation", "as configured"]
    assert ours["ndcg"].tolist() == [0.42, 0.21]
    assert ours["ndcg_low"].tolist() == [0.40, 0.19]
    assert ours["map_msr"].tolist() == [0.11, 0.04]
    assert ours["recall"].isna().all()  # not in this board
    theirs = t[t["source"] == "ml_latest_small_released_split"]
    assert len(theirs) == len(ref.rows())
    ease = theirs[theirs["model"] == "EASE"].iloc[0]
    assert ease["ndcg"] == 0.4125
    assert "upper reference, not a result" in ease["settings"]
    assert np.isnan(ease["ndcg_low"])
    msr = lboard.beside_reference(_board(), reference_table("msr_movielens100k"), 10)
    bpr = msr[msr["model"] == "BPR"].iloc[0]
    assert (bpr["map_msr"], bpr["ndcg"], bpr["settings"]) == (0.132478, 0.441997, "as published")


def test_beside_reference_refuses_another_k():
    ref = reference_table("msr_movielens100k")
    with pytest.raises(ValueError, match="k=10.*primary k is 5"):
        lboard.beside_reference(_board(), ref, 5)


def test_describe_reference_states_both_protocols():
    ref = reference_table("ml_latest_small_released_split")
    split = {"kind": "stratified", "stratify_by": "item", "test_fraction": 0.25, "seed": 42}
    text = narrative.describe_reference(ref, split, 10, pairs=(76882, 23954))
    assert ref.protocol in text and ref.source in text
    assert "Ours: stratified split by item, test share 0.25, seed 42" in text
    assert "(76,882 training / 23,954 test pairs); top-10 lists" in text
    temporal = narrative.describe_reference(ref, {"kind": "temporal", "seed": 1}, 5)
    assert "Ours: temporal split; top-5 lists" in temporal
