"""GroupLens MovieLens ratings: the 100K, 1M (and 10M) and the CSV (latest, 20M, 25M) releases.

The layout is detected from the files present in the folder:

- ``u.data`` (tab-separated ``user item rating timestamp``), ``u.user`` (``id|age|gender|occupation|
  zip``), ``u.item`` (pipe-separated, latin-1, title and 19 genre flags), ``u.genre``: **100K**;
- ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``users.dat`` (``UserID::Gender::Age::
  Occupation::Zip-code``, 1M only), ``movies.dat`` (``MovieID::Title::Genres``), latin-1: **1M / 10M**;
- ``ratings.csv`` (``userId,movieId,rating,timestamp``), ``movies.csv`` (``movieId,title,genres``), UTF-8,
  CRLF line ends tolerated: **latest, latest-small, 20M, 25M**.

Each rating becomes a ``rating`` event with the rating as value (timestamps are UTC, converted from
epoch seconds). Products carry the title, the genres (``genres``, pipe-joined), the first genre as
``category`` (genres are a flat list, not a hierarchy) and the year from the title. Customers carry
what the release has: 100K the raw age, 1M only an age band (its "age" field is a band code), both
gender, occupation and zip code (as ``postcode``); the CSV releases have no user attributes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from recnb.loaders._common import (
    PathLike,
    StepLog,
    categorical_ids,
    check_nrows,
    epoch_to_datetime,
    finish,
    read_csv_checked,
    read_text,
    require_columns,
)
from recnb.schema import Dataset

URL_TEMPLATE = "https://files.grouplens.org/datasets/movielens/{variant}.zip"
PAGE = "https://grouplens.org/datasets/movielens/"
LICENCE = "GroupLens research licence: research use, cite, no commercial use, no redistribution"
CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan (2015), The MovieLens Datasets: History and Context, "
    "ACM Transactions on Interactive Intelligent Systems 5(4):19"
)

VARIANT_FOLDERS: dict[str, str] = {
    "ml-latest-small": "ml-latest-small",
    "ml-100k": "ml-100k",
    "ml-1m": "ml-1m",
    "ml-10m": "ml-10M100K",
    "ml-20m": "ml-20m",
    "ml-25m": "ml-25m",
    "ml-latest": "ml-latest",
}
"""Release name -> the folder its official zip unpacks to (ml-10m unpacks to ``ml-10M100K``)."""

VARIANT_LAYOUT: dict[str, str] = {
    "ml-latest-small": "csv",
    "ml-100k": "100k",
    "ml-1m": "dat",
    "ml-10m": "dat",
    "ml-20m": "csv",
    "ml-25m": "csv",
    "ml-latest": "csv",
}

GENRES_100K: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
"""The 19 genre flags of ``u.item`` in file order (as listed in ``u.genre``)."""

AGE_BANDS_1M: dict[int, str] = {
    1: "under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}
"""ML-1M age codes (its README); the 100K raw ages are banded the same way."""

OCCUPATIONS_1M: dict[int, str] = {
    0: "other",
    1: "academic/educator",
    2: "artist",
    3: "clerical/admin",
    4: "college/grad student",
    5: "customer service",
    6: "doctor/health care",
    7: "executive/managerial",
    8: "farmer",
    9: "homemaker",
    10: "K-12 student",
    11: "lawyer",
    12: "programmer",
    13: "retired",
    14: "sales/marketing",
    15: "scientist",
    16: "self-employed",
    17: "technician/engineer",
    18: "tradesman/craftsman",
    19: "unemployed",
    20: "writer",
}

NO_GENRE = "(no genres listed)"
_YEAR = r"\((\d{4})\)\s*$"


def detect_layout(folder: PathLike) -> str | None:
    """``"100k"``, ``"dat"`` or ``"csv"`` from the files present, ``None`` if none matches."""
    folder = Path(folder)
    if (folder / "u.data").is_file():
        return "100k"
    if (folder / "ratings.dat").is_file():
        return "dat"
    if (folder / "ratings.csv").is_file():
        return "csv"
    return None


def _folder_of(path: PathLike) -> Path:
    p = Path(path)
    return p.parent if p.is_file() else p


def _read_sep(
    file: Path, sep: str, names: list[str], nrows: int | None, dtype: dict | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a headerless file with a (possibly multi-character) separator, no quoting, and the
    first encoding (UTF-8, latin-1) that decodes it."""
    text, encoding = read_text(file, nrows=nrows)
    if len(sep) > 1:
        text = text.replace(sep, "\x1f")
        sep = "\x1f"
    df = read_csv_checked(
        file,
        io.StringIO(text),
        sep=sep,
        header=None,
        names=names,
        quoting=csv.QUOTE_NONE,
        dtype=dtype,
        keep_default_na=False,
        na_values=[""],
        index_col=False,
    )
    return df, encoding


def _age_band(age: pd.Series) -> pd.Series:
    bins = [-np.inf, 18, 25, 35, 45, 50, 56, np.inf]
    labels = list(AGE_BANDS_1M.values())
    return pd.cut(age, bins=bins, labels=labels, right=False).astype(object)


def _year(title: pd.Series) -> pd.Series:
    return pd.to_numeric(title.str.extract(_YEAR, expand=False), errors="coerce").astype("Int64")


def _genre_columns(genres: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(genres joined by '|', first genre) with missing for movies without a genre."""
    g = genres.where(genres.notna() & (genres != NO_GENRE) & (genres != ""), np.nan)
    return g, g.str.split("|").str[0]


def _read_100k(folder: Path, nrows: int | None, meta: dict):
    ratings, _ = _read_sep(
        folder / "u.data", "\t", ["user", "item", "rating", "timestamp"], nrows, dtype="int64"
    )
    files = {"ratings": "u.data"}
    users = None
    if (folder / "u.user").is_file():
        users, _ = _read_sep(
            folder / "u.user",
            "|",
            ["user", "age", "gender", "occupation", "zip"],
            None,
            dtype={"user": "int64", "age": "int64", "gender": str, "occupation": str, "zip": str},
        )
        files["users"] = "u.user"
        users = pd.DataFrame(
            {
                "customer_id": users["user"].astype(str),
                "age": users["age"].astype("float64"),
                "age_band": _age_band(users["age"]),
                "gender": users["gender"],
                "occupation": users["occupation"],
                "postcode": users["zip"],
            }
        )
    genre_names = list(GENRES_100K)
    if (folder / "u.genre").is_file():
        g, _ = _read_sep(folder / "u.genre", "|", ["genre", "index"], None)
        g = g.dropna(subset=["genre"])
        genre_names = list(g.sort_values("index")["genre"].astype(str))
        files["genres"] = "u.genre"
    item_cols = ["item", "title", "release_date", "video_release_date", "imdb_url", *genre_names]
    items, encoding = _read_sep(folder / "u.item", "|", item_cols, None, dtype={"title": str})
    files["movies"] = "u.item"
    meta["encoding"] = encoding
    flags = items[genre_names].fillna(0).to_numpy(dtype="int64") == 1
    known = [i for i, name in enumerate(genre_names) if name != "unknown"]
    joined = ["|".join(genre_names[j] for j in known if row[j]) for row in flags]
    genres = pd.Series(joined, index=items.index, dtype=object)
    movies = pd.DataFrame(
        {"movie": items["item"].astype("int64"), "title": items["title"], "genres": genres}
    )
    return ratings, users, movies, files


def _read_dat(folder: Path, nrows: int | None, meta: dict):
    ratings, _ = _read_sep(
        folder / "ratings.dat", "::", ["user", "item", "rating", "timestamp"], nrows
    )
    files = {"ratings": "ratings.dat"}
    users = None
    if (folder / "users.dat").is_file():
        u, _ = _read_sep(
            folder / "users.dat",
            "::",
            ["user", "gender", "age", "occupation", "zip"],
            None,
            dtype={
                "user": "int64",
                "gender": str,
                "age": "int64",
                "occupation": "int64",
                "zip": str,
            },
        )
        files["users"] = "users.dat"
        bad = ~u["age"].isin(list(AGE_BANDS_1M))
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{folder / 'users.dat'}: age code {u['age'].iloc[pos]!r} at data row {pos} is not "
                f"one of the documented codes {list(AGE_BANDS_1M)}"
            )
        users = pd.DataFrame(
            {
                "customer_id": u["user"].astype(str),
                "age_band": u["age"].map(AGE_BANDS_1M),
                "gender": u["gender"],
                "occupation": u["occupation"].map(OCCUPATIONS_1M).fillna("unknown"),
                "postcode": u["zip"],
            }
        )
    m, encoding = _read_sep(
        folder / "movies.dat", "::", ["movie", "title", "genres"], None, dtype={"title": str}
    )
    files["movies"] = "movies.dat"
    meta["encoding"] = encoding
    movies = pd.DataFrame(
        {"movie": m["movie"].astype("int64"), "title": m["title"], "genres": m["genres"]}
    )
    return ratings, users, movies, files


def _read_csv(folder: Path, nrows: int | None, meta: dict):
    rfile, mfile = folder / "ratings.csv", folder / "movies.csv"
    ratings = read_csv_checked(
        rfile,
        nrows=nrows,
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    )
    require_columns(ratings, rfile, ("userId", "movieId", "rating", "timestamp"))
    ratings = ratings.rename(columns={"userId": "user", "movieId": "item"})
    m = read_csv_checked(
        mfile, dtype={"movieId": "int64", "title": str, "genres": str}, encoding="utf-8"
    )
    require_columns(m, mfile, ("movieId", "title", "genres"))
    meta["encoding"] = "utf-8"
    movies = pd.DataFrame({"movie": m["movieId"], "title": m["title"], "genres": m["genres"]})
    return ratings, None, movies, {"ratings": "ratings.csv", "movies": "movies.csv"}


_READERS = {"100k": _read_100k, "dat": _read_dat, "csv": _read_csv}


def load_movielens(
    path: PathLike, *, variant: str | None = None, nrows: int | None = None
) -> Dataset:
    """Load a MovieLens release from its unpacked folder; the layout is detected from its files.

    Parameters
    ----------
    path : str or Path
        The release folder (``ml-100k``, ``ml-1m``, ``ml-latest-small``, ``ml-25m``...) or a file in it.
    variant : str, optional
        Expected release (a key of :data:`VARIANT_FOLDERS`); fails if the folder holds another layout.
        Also chooses the folder under ``$RECNB_DATA_DIR`` when loaded through ``load_source``.
    nrows : int, optional
        Read only the first ``nrows`` ratings (the 20M/25M files are sorted by user, so this keeps the
        first users entirely).

    Returns
    -------
    Dataset
        Validated; ``notes`` lists the drops with their counts.
    """
    nrows = check_nrows(nrows)
    folder = _folder_of(path)
    layout = detect_layout(folder)
    if layout is None:
        raise FileNotFoundError(
            f"MovieLens: no ratings file in {folder} (looked for u.data, ratings.dat, ratings.csv); "
            f"get a release from {PAGE}"
        )
    if variant is not None:
        if variant not in VARIANT_LAYOUT:
            raise ValueError(
                f"option variant={variant!r} is not allowed; allowed values are {list(VARIANT_LAYOUT)}"
            )
        if VARIANT_LAYOUT[variant] != layout:
            raise ValueError(
                f"MovieLens: {folder} holds the {layout!r} layout, but variant={variant!r} expects "
                f"{VARIANT_LAYOUT[variant]!r}"
            )
    log = StepLog()
    meta: dict = {}
    ratings, users, movies, files = _READERS[layout](folder, nrows, meta)
    rfile = folder / files["ratings"]
    if len(ratings) == 0:
        raise ValueError(f"{rfile}: no ratings")
    for col in ("user", "item", "rating", "timestamp"):
        bad = ratings[col].isna().to_numpy()
        if bad.any():
            raise ValueError(
                f"{rfile}: empty {col} on {int(bad.sum())} rows, first at data row "
                f"{int(np.flatnonzero(bad)[0])}"
            )
    log.add("read", len(ratings), f"ratings in {files['ratings']}")

    dup = movies["movie"].duplicated().to_numpy()
    if dup.any():
        raise ValueError(
            f"{folder / files['movies']}: movie id {movies['movie'][dup].iloc[0]!r} appears twice"
        )
    keep = np.ones(len(ratings), dtype=bool)
    unknown_movie = ~ratings["item"].isin(movies["movie"]).to_numpy()
    log.add(
        "unknown movie",
        unknown_movie.sum(),
        f"ratings of movies missing from {files['movies']} dropped",
    )
    keep &= ~unknown_movie
    if users is not None:
        unknown_user = keep & ~ratings["user"].astype(str).isin(users["customer_id"]).to_numpy()
        log.add(
            "unknown user",
            unknown_user.sum(),
            f"ratings of users missing from {files['users']} dropped",
        )
        keep &= ~unknown_user
    ratings = ratings[keep]

    events = pd.DataFrame(
        {
            "customer_id": categorical_ids(ratings["user"].to_numpy()),
            "product_id": categorical_ids(ratings["item"].to_numpy()),
            "timestamp": epoch_to_datetime(ratings["timestamp"].to_numpy(), "s", rfile).to_numpy(),
            "event": "rating",
            "value": ratings["rating"].to_numpy(dtype="float64"),
        }
    )
    if users is None:
        customers = pd.DataFrame(
            {"customer_id": pd.unique(ratings["user"]).astype(str).astype(object)}
        )
    else:
        customers = users
    genres, category = _genre_columns(movies["genres"])
    log.add(
        "movies without genre",
        genres.isna().sum(),
        "movies with no genre listed: category and genres left missing",
    )
    products = pd.DataFrame(
        {
            "product_id": movies["movie"].astype(str).to_numpy(),
            "title": movies["title"].to_numpy(),
            "category": category.to_numpy(),
            "genres": genres.to_numpy(),
            "year": _year(movies["title"].astype(str)).array,
        }
    )
    meta.update(
        {
            "source": "movielens",
            "folder": str(folder),
            "layout": layout,
            "variant": variant or folder.name,
            "files": files,
            "page": PAGE,
            "licence": LICENCE,
            "citation": CITATION,
            "timezone": "UTC (epoch seconds)",
            "options": {"variant": variant, "nrows": nrows},
        }
    )
    return finish("movielens", customers, products, events, log, meta)
