"""MovieLens releases with user files (u.user, users.dat) give the fairness groups gender, age band,
occupation (and the zip area as region); ml-latest-small's CSV layout gives none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recnb.data.loaders.movielens import load_movielens
from recnb.fairness import audit, stage
from recnb.fairness.groups import group_attributes
from recnb.privacy import scrub

KEY = "test-only-key-not-a-secret"
OCCUPATIONS = ("student", "engineer", "writer", "other")


def _genres(i: int) -> str:
    flags = ["0"] * 19
    flags[1 + i % 4] = "1"
    return "|".join(flags)


def write_ml100k(
    folder: Path, rng: np.random.Generator, n_users: int = 240, n_items: int = 60
) -> Path:
    """ML-100K layout: u.data, u.item, u.genre and u.user (id|age|gender|occupation|zip)."""
    folder.mkdir(parents=True)
    users, rows = [], []
    t = 880_000_000
    for u in range(1, n_users + 1):
        users.append(
            f"{u}|{int(rng.integers(18, 70))}|{'MF'[u % 2]}|{OCCUPATIONS[u % 4]}|{10000 + u % 7 * 11111}"
        )
        for i in rng.choice(np.arange(1, n_items + 1), 12, replace=False):
            t += int(rng.integers(1, 5000))
            rows.append(f"{u}\t{i}\t{int(rng.integers(1, 6))}\t{t}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    (folder / "u.user").write_text("\n".join(users) + "\n")
    (folder / "u.item").write_text(
        "\n".join(
            f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|{_genres(i)}"
            for i in range(1, n_items + 1)
        )
        + "\n",
        encoding="latin-1",
    )
    return folder


def write_ml1m(
    folder: Path, rng: np.random.Generator, n_users: int = 120, n_items: int = 40
) -> Path:
    """ML-1M layout: ratings.dat, movies.dat, users.dat (UserID::Gender::Age::Occupation::Zip)."""
    folder.mkdir(parents=True)
    users, rows = [], []
    t = 960_000_000
    for u in range(1, n_users + 1):
        users.append(
            f"{u}::{'MF'[u % 2]}::{(1, 18, 25, 35, 45, 50, 56)[u % 7]}::{u % 21}::{20000 + u % 5}"
        )
        for i in rng.choice(np.arange(1, n_items + 1), 8, replace=False):
            t += int(rng.integers(1, 5000))
            rows.append(f"{u}::{i}::{int(rng.integers(1, 6))}::{t}")
    (folder / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    (folder / "users.dat").write_text("\n".join(users) + "\n", encoding="latin-1")
    (folder / "movies.dat").write_text(
        "\n".join(f"{i}::Movie {i} (1995)::Drama|Comedy" for i in range(1, n_items + 1)) + "\n",
        encoding="latin-1",
    )
    return folder


@pytest.mark.parametrize("layout", ["ml-100k", "ml-1m"])
def test_user_attributes_become_fairness_groups(layout, tmp_path):
    rng = np.random.default_rng(3)
    write = write_ml100k if layout == "ml-100k" else write_ml1m
    folder = write(tmp_path / layout, rng)
    ds = scrub(load_movielens(folder), KEY)
    attrs = group_attributes(ds.customers)
    assert {"gender", "age_band", "occupation"} <= set(attrs)
    # the group analysis runs on them (lists: the most rated movies, candidates beyond the list)
    from recnb.models.registry import make_model
    from recnb.prep.settings import PrepSettings
    from recnb.prep.split import build_split

    split = build_split(
        ds,
        PrepSettings(
            signal="explicit", min_customer_interactions=1, min_product_interactions=1,
            split_kind="stratified", stratify_by="user", test_fraction=0.25, valid_fraction=0.0,
            seed=1,
        ),
    )  # fmt: skip
    train, test = split.parts["train"], split.parts["test"]
    cidx = np.flatnonzero(np.diff((test.matrix > 0).tocsr().indptr) > 0)
    model = make_model("popularity").fit(train)
    cands = audit.read_candidates(
        audit.candidates_table({"popularity": model.recommend_indices(cidx, k=20)}, cidx)
    )
    g = stage.group_analysis(
        cands, train.matrix, test.matrix, train.customer_ids, ds.customers,
        ["light"] * len(cidx), 5, n_boot=50, n_permutations=50,
    )  # fmt: skip
    assert {"gender", "age_band", "occupation"} <= set(g.attributes)
    assert set(g.gaps["attribute"]) >= {"gender", "age_band", "occupation"}
    assert g.gaps.loc[g.gaps["attribute"] == "gender", "n_groups"].iloc[0] == 2


def test_csv_release_has_no_user_attributes(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964982224\n2,1,5.0,964982931\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat (1995),Action\n"
    )
    ds = scrub(load_movielens(folder), KEY)
    assert group_attributes(ds.customers) == []
