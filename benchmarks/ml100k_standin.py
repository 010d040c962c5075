"""An ML-100K-shaped stand-in built from ml-latest-small, for timing ``params/movielens100k.yaml``.

MovieLens-100K's licence forbids sharing it, so it is not on the development machines; issue 11's
target (the whole ML-100K run in under 8 minutes, quality kept) is a target on its shape: 943 users,
1,682 movies, 100,000 whole-star ratings, every user with at least 20. The cost of recnb's models
follows that shape (dense item x item models and the VAE the catalogue; SGD and ALS models the
ratings; user kNN and evaluation the users), so a data set of the same shape times the same run.

The stand-in, from the ml-latest-small ratings (read from ``--source``):

1. the 1,682 most-rated movies (ML-100K's catalogue size) and their ratings;
2. half stars rounded up to whole stars (ML-100K has whole stars only; the loader refuses 4.5 in
   a 100K folder);
3. users with at least 20 of these ratings (ML-100K's rule), then the heaviest users, each once,
   split in two at the middle of their time-ordered history until there are 943 users (both
   halves keep at least 20; every rating stays in exactly one user, nothing is copied, so no
   rating can leak from a user's copy into another's test part);
4. ``u.item`` (titles, 19 genre flags from ml-latest-small's genres), ``u.genre`` and ``u.user``
   with demographics drawn at random (seeded) in ML-100K's proportions (about 71% men, ages
   7-73, 21 occupations), so stage 04 audits the same group attributes it would on ML-100K (the
   groups carry no real signal here: they are drawn independently of the ratings).

What differs from ML-100K, printed by the script: the stand-in has fewer ratings (about 74k against
100k: ml-latest-small's 1,682 most-rated movies hold 74,293 ratings), so the SGD and ALS models'
fits are about a quarter cheaper than on ML-100K, and its ratings are a different population's.

Usage::

    .venv/bin/python benchmarks/ml100k_standin.py --source ../shared/data/ml-latest-small \\
        --out /tmp/standin/ml-100k
    RECNB_DATA_DIR=/tmp/standin RECNB_PSEUDONYM_KEY=... .venv/bin/python benchmarks/bench_run_time.py \\
        params/movielens100k.yaml
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

N_USERS, N_ITEMS, MIN_RATINGS = 943, 1682, 20
#: ML-100K's 19 genre flags in u.genre's order (ml-latest-small spells two of them differently)
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
ALIASES = {"Children": "Children's"}
OCCUPATIONS = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
    "retired", "salesman", "scientist", "student", "technician", "writer",
)  # fmt: skip


def build(source: Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ratings (user, item, rating, timestamp), items (item, title, genres) and users."""
    ratings = pd.read_csv(source / "ratings.csv")
    movies = pd.read_csv(source / "movies.csv")
    top = ratings["movieId"].value_counts().index[:N_ITEMS]
    r = ratings[ratings["movieId"].isin(top)].copy()
    r["rating"] = np.ceil(r["rating"]).astype(int)
    counts = r.groupby("userId").size()
    r = r[r["userId"].isin(counts.index[counts >= MIN_RATINGS])]
    r = r.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    # split the heaviest users, each once, at the middle of their history until there are 943
    groups = [g for _, g in r.groupby("userId", sort=True)]
    heaviest = sorted(range(len(groups)), key=lambda j: (-len(groups[j]), j))
    need = N_USERS - len(groups)
    if need > len(groups) or (need > 0 and len(groups[heaviest[need - 1]]) < 2 * MIN_RATINGS):
        raise ValueError(f"{source}: too few heavy users to split up to {N_USERS} users")
    halves = []
    for j in heaviest[: max(need, 0)]:
        g = groups[j]
        groups[j] = g.iloc[: len(g) // 2]
        halves.append(g.iloc[len(g) // 2 :])
    groups += halves
    rows = []
    for new_id, g in enumerate(groups, start=1):
        rows.append(g.assign(user=new_id))
    out = pd.concat(rows, ignore_index=True)
    item_code = {m: i for i, m in enumerate(sorted(top), start=1)}
    out["item"] = out["movieId"].map(item_code)
    out = out[["user", "item", "rating", "timestamp"]].sort_values("timestamp", kind="stable")
    items = movies[movies["movieId"].isin(top)].copy()
    items["item"] = items["movieId"].map(item_code)
    items = items.sort_values("item")
    rng = np.random.default_rng(seed)
    users = pd.DataFrame(
        {
            "user": np.arange(1, N_USERS + 1),
            "age": np.clip(np.round(rng.normal(34, 12, N_USERS)), 7, 73).astype(int),
            "gender": np.where(rng.random(N_USERS) < 0.71, "M", "F"),
            "occupation": rng.choice(OCCUPATIONS, N_USERS),
            "zip": [f"{z:05d}" for z in rng.integers(1000, 99999, N_USERS)],
        }
    )
    return out, items, users


def write(out_dir: Path, ratings: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame) -> None:
    """The ML-100K files: u.data (tab), u.item (pipe, latin-1), u.genre, u.user."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(out_dir / "u.data", sep="\t", header=False, index=False)
    lines = []
    for item, title, genres in items[["item", "title", "genres"]].itertuples(index=False):
        own = {ALIASES.get(g, g) for g in str(genres).split("|")}
        flags = ["1" if g in own else "0" for g in GENRES]
        if not any(flags[1:]):
            flags[0] = "1"
        safe = str(title).replace("|", "/").encode("latin-1", "replace").decode("latin-1")
        lines.append(f"{item}|{safe}|01-Jan-1995||http://example.invalid|{'|'.join(flags)}")
    (out_dir / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    (out_dir / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)))
    users.to_csv(out_dir / "u.user", sep="|", header=False, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="the ml-latest-small folder")
    ap.add_argument("--out", type=Path, required=True, help="the folder to write (named ml-100k)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ratings, items, users = build(args.source, args.seed)
    write(args.out, ratings, items, users)
    per_user = ratings.groupby("user").size()
    print(
        f"{args.out}: {ratings['user'].nunique()} users (ML-100K 943), {ratings['item'].nunique()} "
        f"movies (1,682), {len(ratings):,} ratings (100,000); ratings per user min {per_user.min()} "
        f"median {int(per_user.median())} max {per_user.max()}; density "
        f"{len(ratings) / (ratings['user'].nunique() * ratings['item'].nunique()):.3f} (0.063); "
        f"rating mean {ratings['rating'].mean():.2f} (3.53)"
    )
    assert math.isclose(len(items), N_ITEMS)


if __name__ == "__main__":
    main()
