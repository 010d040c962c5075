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
from pathlib import Path

import numpy as np
import pandas as pd

from recnb.data.loaders._common import (
    CsvFile,
    PathLike,
    StepLog,
    categorical_ids,
    check_nrows,
    empty_result_message,
    epoch_to_datetime,
    finish,
    read_csv_checked,
    read_text,
    require_columns,
    shown,
)
from recnb.data.schema import Dataset

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

RATINGS_INTERNAL: tuple[str, ...] = ("user", "item", "rating", "timestamp")
RATING_COLUMNS: dict[str, tuple[str, ...]] = {
    "100k": ("user id", "item id", "rating", "timestamp"),
    "dat": ("UserID", "MovieID", "Rating", "Timestamp"),
    "csv": ("userId", "movieId", "rating", "timestamp"),
}
"""The ratings columns as each layout's README names them (the 100K and .dat files have no header)."""

WHOLE_STARS = (1.0, 5.0, 1.0)
HALF_STARS = (0.5, 5.0, 0.5)
RATING_SCALES: dict[str, tuple[float, float, float]] = {
    "ml-100k": WHOLE_STARS,
    "ml-1m": WHOLE_STARS,
    "ml-10m": HALF_STARS,
    "ml-20m": HALF_STARS,
    "ml-25m": HALF_STARS,
    "ml-latest": HALF_STARS,
    "ml-latest-small": HALF_STARS,
}
"""``(lowest, highest, step)`` of each release's star ratings, as its README states: whole stars 1-5
for 100K and 1M, half stars 0.5-5 from 10M on (the CSV releases included)."""

NO_GENRE = "(no genres listed)"
_YEAR = r"\((\d{4})\)\s*$"


def rating_scale(layout: str, variant: str | None, folder: Path) -> tuple[float, float, float]:
    """The rating scale of the release: from ``variant`` if given, else from the layout (the
    ``.dat`` layout is 1M when ``users.dat`` is there, as only 1M ships one, else 10M)."""
    if variant is not None:
        return RATING_SCALES[variant]
    if layout == "100k":
        return WHOLE_STARS
    if layout == "dat":
        return WHOLE_STARS if (folder / "users.dat").is_file() else HALF_STARS
    return HALF_STARS


def _check_scale(
    rating: pd.Series, scale: tuple[float, float, float], file: Path, column: str, reader: CsvFile
) -> None:
    low, high, step = scale
    values = rating.to_numpy(dtype="float64")
    finite = np.isfinite(values)
    steps = (np.where(finite, values, low) - low) / step
    bad = ~finite | (values < low) | (values > high) | (np.abs(steps - np.round(steps)) > 1e-9)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        what = "whole stars" if step == 1 else "half stars"
        raise ValueError(
            f"{file}: column {column!r} value {shown(rating.iloc[pos])} at {reader.where(pos)} is "
            f"outside the release's rating scale ({what} from {low:g} to {high:g}); {int(bad.sum())} such "
            "rating(s): is this the right release (option variant) and an unmodified file?"
        )


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


def _sep_file(
    file: Path,
    sep: str,
    names: list[str],
    nrows: int | None,
    dtype: dict | str | None = None,
) -> tuple[CsvFile, str]:
    """A headerless file with a (possibly multi-character) separator and no quoting, decoded with
    the first encoding (UTF-8, latin-1) that decodes it, ready to read through :class:`CsvFile`."""
    text, encoding = read_text(file, nrows=nrows)
    shown = sep
    if len(sep) > 1:
        text = text.replace(sep, "\x1f")
        sep = "\x1f"
    reader = CsvFile(
        file,
        data=text.encode("utf-8"),
        shown_sep=shown,
        encoding="utf-8",
        sep=sep,
        header=None,
        names=names,
        quoting=csv.QUOTE_NONE,
        dtype=dtype,
        keep_default_na=False,
        na_values=[""],
        index_col=False,
    )
    return reader, encoding


def _read_sep(
    file: Path,
    sep: str,
    names: list[str],
    nrows: int | None,
    dtype: dict | str | None = None,
    log: StepLog | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read a headerless separated file (see :func:`_sep_file`)."""
    reader, encoding = _sep_file(file, sep, names, nrows, dtype)
    return reader.read(log), encoding


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


def _read_ratings(
    file: Path, layout: str, nrows: int | None, log: StepLog
) -> tuple[pd.DataFrame, CsvFile]:
    """The ratings file with its documented column names, renamed to user, item, rating,
    timestamp; also its reader (to turn data rows into line numbers in messages)."""
    names = list(RATING_COLUMNS[layout])
    dtype = dict(zip(names, ("int64", "int64", "float64", "int64"), strict=True))
    if layout == "csv":
        reader = CsvFile(file, nrows=nrows, dtype=dtype)
        ratings = reader.read(log)
        require_columns(ratings, file, names)
    else:
        sep = "\t" if layout == "100k" else "::"
        reader, _ = _sep_file(file, sep, names, nrows, dtype)
        ratings = reader.read(log)
    ratings = ratings.rename(columns=dict(zip(names, RATINGS_INTERNAL, strict=True)))
    return ratings, reader


def _read_100k(folder: Path, nrows: int | None, meta: dict, log: StepLog):
    ratings, reader = _read_ratings(folder / "u.data", "100k", nrows, log)
    files = {"ratings": "u.data"}
    users = None
    if (folder / "u.user").is_file():
        users, _ = _read_sep(
            folder / "u.user",
            "|",
            ["user", "age", "gender", "occupation", "zip"],
            None,
            dtype={"user": "int64", "age": "int64", "gender": str, "occupation": str, "zip": str},
            log=log,
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
        g, _ = _read_sep(folder / "u.genre", "|", ["genre", "index"], None, log=log)
        g = g.dropna(subset=["genre"])
        genre_names = list(g.sort_values("index")["genre"].astype(str))
        files["genres"] = "u.genre"
    item_cols = ["item", "title", "release_date", "video_release_date", "imdb_url", *genre_names]
    items, encoding = _read_sep(
        folder / "u.item", "|", item_cols, None, dtype={"title": str}, log=log
    )
    files["movies"] = "u.item"
    meta["encoding"] = encoding
    flags = items[genre_names].fillna(0).to_numpy(dtype="int64") == 1
    known = [i for i, name in enumerate(genre_names) if name != "unknown"]
    joined = ["|".join(genre_names[j] for j in known if row[j]) for row in flags]
    genres = pd.Series(joined, index=items.index, dtype=object)
    movies = pd.DataFrame(
        {"movie": items["item"].astype("int64"), "title": items["title"], "genres": genres}
    )
    return ratings, users, movies, files, reader


def _read_dat(folder: Path, nrows: int | None, meta: dict, log: StepLog):
    ratings, reader = _read_ratings(folder / "ratings.dat", "dat", nrows, log)
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
            log=log,
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
        folder / "movies.dat",
        "::",
        ["movie", "title", "genres"],
        None,
        dtype={"movie": "int64", "title": str},
        log=log,
    )
    files["movies"] = "movies.dat"
    meta["encoding"] = encoding
    movies = pd.DataFrame(
        {"movie": m["movie"].astype("int64"), "title": m["title"], "genres": m["genres"]}
    )
    return ratings, users, movies, files, reader


def _read_csv(folder: Path, nrows: int | None, meta: dict, log: StepLog):
    rfile, mfile = folder / "ratings.csv", folder / "movies.csv"
    ratings, reader = _read_ratings(rfile, "csv", nrows, log)
    m = read_csv_checked(
        mfile, dtype={"movieId": "int64", "title": str, "genres": str}, encoding="utf-8", log=log
    )
    require_columns(m, mfile, ("movieId", "title", "genres"))
    meta["encoding"] = "utf-8"
    movies = pd.DataFrame({"movie": m["movieId"], "title": m["title"], "genres": m["genres"]})
    return ratings, None, movies, {"ratings": "ratings.csv", "movies": "movies.csv"}, reader


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
    ratings, users, movies, files, reader = _READERS[layout](folder, nrows, meta, log)
    rfile = folder / files["ratings"]
    names = dict(zip(RATINGS_INTERNAL, RATING_COLUMNS[layout], strict=True))
    if len(ratings) == 0:
        raise ValueError(f"{rfile}: no ratings")
    for col in RATINGS_INTERNAL:
        bad = ratings[col].isna().to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(
                reader.line_problem(pos)
                or f"{rfile}: column {names[col]!r} is empty on {int(bad.sum())} row(s), first at "
                f"{reader.where(pos)}"
            )
    scale = rating_scale(layout, variant, folder)
    _check_scale(ratings["rating"], scale, rfile, names["rating"], reader)
    log.add("read", len(ratings), f"ratings in {files['ratings']}")

    dup = movies["movie"].duplicated().to_numpy()
    if dup.any():
        raise ValueError(
            f"{folder / files['movies']}: movie id {movies['movie'][dup].iloc[0]!r} appears twice"
        )
    keep = np.ones(len(ratings), dtype=bool)
    unknown_movie = ~ratings["item"].isin(movies["movie"]).to_numpy()
    example = ""
    if unknown_movie.any():
        pos = int(np.flatnonzero(unknown_movie)[0])
        n_movies = ratings["item"][unknown_movie].nunique()
        example = (
            f" ({n_movies} distinct {names['item']} value(s), e.g. {ratings['item'].iloc[pos]} "
            f"at {files['ratings']} {reader.where(pos)})"
        )
    log.add(
        "unknown movie",
        unknown_movie.sum(),
        f"ratings whose {names['item']} is missing from {files['movies']} dropped{example}",
        removes=True,
    )
    keep &= ~unknown_movie
    if users is not None:
        unknown_user = keep & ~ratings["user"].astype(str).isin(users["customer_id"]).to_numpy()
        log.add(
            "unknown user",
            unknown_user.sum(),
            f"ratings of users missing from {files['users']} dropped",
            removes=True,
        )
        keep &= ~unknown_user
    kept_rows = np.flatnonzero(keep)
    ratings = ratings[keep]
    if len(ratings) == 0:
        contained = f"{len(keep):,} ratings, none of them for a movie listed in {files['movies']}"
        raise ValueError(empty_result_message("movielens", log, {"files": [str(rfile)]}, contained))

    events = pd.DataFrame(
        {
            "customer_id": categorical_ids(ratings["user"].to_numpy()),
            "product_id": categorical_ids(ratings["item"].to_numpy()),
            "timestamp": epoch_to_datetime(
                ratings["timestamp"].to_numpy(),
                "s",
                rfile,
                names["timestamp"],
                where=lambda pos: reader.where(int(kept_rows[pos])),
            ).to_numpy(),
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
            "rating_scale": {"low": scale[0], "high": scale[1], "step": scale[2]},
            "options": {"variant": variant, "nrows": nrows},
        }
    )
    return finish("movielens", customers, products, events, log, meta)
