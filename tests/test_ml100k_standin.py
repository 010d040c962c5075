"""benchmarks/ml100k_standin.py: an ML-100K-shaped folder built from ml-latest-small's layout, which
recnb's ML-100K loader reads (issue 11's ML-100K timing runs on it; ML-100K itself is not shared)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recnb.data.loaders.movielens import load_movielens

REPO_ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location(
        "ml100k_standin", REPO_ROOT / "benchmarks" / "ml100k_standin.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_latest_small(folder: Path, n_users: int, n_items: int, seed: int = 0) -> Path:
    """ml-latest-small's layout: ratings.csv with half stars, movies.csv with genres."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for u in range(1, n_users + 1):
        n = int(rng.integers(15, 160))
        items = rng.choice(np.arange(1, n_items + 1), min(n, n_items), replace=False)
        ts = 900_000_000 + np.sort(rng.integers(0, 10**7, len(items)))
        for i, t in zip(items, ts, strict=True):
            rows.append((u, int(i) * 10, float(rng.integers(1, 11)) / 2, int(t)))
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        folder / "ratings.csv", index=False
    )
    genres = ["Comedy|Drama", "Children|Animation", "(no genres listed)", "Sci-Fi"]
    pd.DataFrame(
        {
            "movieId": np.arange(1, n_items + 1) * 10,
            "title": [f"Movie {i}, The (1999)" for i in range(1, n_items + 1)],
            "genres": [genres[i % 4] for i in range(n_items)],
        }
    ).to_csv(folder / "movies.csv", index=False)
    return folder


def test_standin_has_ml100k_shape_and_loads(tmp_path, monkeypatch):
    mod = _module()
    # a small source: shrink the target shape so the test stays fast
    monkeypatch.setattr(mod, "N_USERS", 120)
    monkeypatch.setattr(mod, "N_ITEMS", 150)
    src = _write_latest_small(tmp_path / "src", n_users=100, n_items=200)
    raw = pd.read_csv(src / "ratings.csv")
    ratings, items, users = mod.build(src, seed=3)
    out = tmp_path / "data" / "ml-100k"
    mod.write(out, ratings, items, users)

    assert ratings["user"].nunique() == 120 and len(users) == 120
    assert ratings["item"].nunique() <= 150 and len(items) == 150
    assert ratings.groupby("user").size().min() >= mod.MIN_RATINGS
    assert set(ratings["rating"].unique()) <= {1, 2, 3, 4, 5}
    # every stand-in rating is one real rating (nothing copied): the (time, item) pairs of the
    # split users are a subset of the source's, with no duplicates
    top = raw["movieId"].value_counts().index[:150]
    kept = raw[raw["movieId"].isin(top)]
    assert len(ratings) <= len(kept)
    assert not ratings.duplicated(["user", "item"]).any()
    code = {m: i for i, m in enumerate(sorted(top), start=1)}
    src_pairs = set(zip(kept["timestamp"], kept["movieId"].map(code), strict=True))
    assert set(zip(ratings["timestamp"], ratings["item"], strict=True)) <= src_pairs
    # half stars are rounded up
    merged = ratings.merge(
        kept.assign(item=kept["movieId"].map(code)), on=["timestamp", "item"], how="left"
    )
    assert (merged["rating_x"] == np.ceil(merged["rating_y"])).all()

    ds = load_movielens(out)
    assert ds.events["customer_id"].nunique() == 120
    assert ds.events["product_id"].nunique() == ratings["item"].nunique()
    assert {"gender", "age"} <= set(ds.customers.columns)


def test_standin_refuses_a_source_too_small(tmp_path, monkeypatch):
    mod = _module()
    monkeypatch.setattr(mod, "N_USERS", 500)
    monkeypatch.setattr(mod, "N_ITEMS", 50)
    src = _write_latest_small(tmp_path / "src", n_users=40, n_items=60)
    with pytest.raises(ValueError, match="too few heavy users"):
        mod.build(src)


def test_standin_from_real_ml_latest_small(shared_data_dir):
    """On the real ml-latest-small: exactly ML-100K's user and movie counts."""
    src = shared_data_dir / "ml-latest-small"
    if not (src / "ratings.csv").is_file():
        pytest.skip(f"{src} not present")
    mod = _module()
    ratings, items, users = mod.build(src)
    assert ratings["user"].nunique() == 943 and ratings["item"].nunique() == 1682
    assert ratings.groupby("user").size().min() >= 20
    assert 70_000 < len(ratings) < 100_000
