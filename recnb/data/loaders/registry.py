"""Find and load a real data set by name: ``load_source("movielens")``.

A source's location is an explicit path, or ``$RECNB_DATA_DIR/<folder>`` where the folder is named as
the official archive unpacks (``online-retail``, ``online-retail-ii``, ``ml-latest-small``, ``ml-100k``,
``ml-1m``, ``ml-25m``, ``retailrocket``, ``rees46``, ``taobao``); the ``csv`` source (a shop's own
export) needs the explicit path. :func:`check_options` checks a source's options before anything is
loaded. Nothing is downloaded here; see :func:`recnb.data.loaders.download`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recnb.data.loaders import (
    csv_source,
    events_db,
    movielens,
    online_retail,
    rees46,
    retailrocket,
    taobao,
)
from recnb.data.loaders._common import PathLike, check_nrows
from recnb.data.schema import Dataset

DATA_DIR_ENV = "RECNB_DATA_DIR"
"""Environment variable naming the folder that holds one subfolder per data set."""


@dataclass(frozen=True)
class Source:
    """A real data set: its loader, the folders it unpacks to, what to look for, how to get it."""

    name: str
    loader: Callable[..., Dataset]
    folders: tuple[str, ...]
    holds: Callable[[Path], bool]
    expected: str
    how_to_get: str

    def options(self) -> tuple[str, ...]:
        """The loader's keyword options (what ``load_source`` accepts besides the path)."""
        params = inspect.signature(self.loader).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _safe_check(path: Path, test: Callable[[Path], Any]) -> bool:
    try:
        return bool(test(path))
    except OSError:
        return False


_SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="online_retail",
            loader=online_retail.load_online_retail,
            folders=("online-retail", "online-retail-ii"),
            holds=lambda p: _safe_check(p, online_retail.find_online_retail_file),
            expected=f"one of {list(online_retail.FILE_NAMES)}",
            how_to_get=(
                "recnb.data.loaders.download('online_retail', DATA_DIR) fetches "
                f"{online_retail.URL} (or download it by hand and unpack 'Online Retail.xlsx' "
                "into DATA_DIR/online-retail/); for Online Retail II, download('online_retail', "
                f"DATA_DIR, variant='ii') fetches {online_retail.URL_II} into "
                "DATA_DIR/online-retail-ii/"
            ),
        ),
        Source(
            name="movielens",
            loader=movielens.load_movielens,
            folders=tuple(movielens.VARIANT_FOLDERS.values()),
            holds=lambda p: _safe_check(
                p, lambda q: movielens.detect_layout(q.parent if q.is_file() else q)
            ),
            expected="a MovieLens release folder holding u.data, ratings.dat or ratings.csv",
            how_to_get=(
                "recnb.data.loaders.download('movielens', DATA_DIR, variant='ml-latest-small') fetches "
                f"{movielens.URL_TEMPLATE.format(variant='ml-latest-small')} (other releases: "
                f"{list(movielens.VARIANT_FOLDERS)}, see {movielens.PAGE})"
            ),
        ),
        Source(
            name="retailrocket",
            loader=retailrocket.load_retailrocket,
            folders=("retailrocket",),
            holds=lambda p: _safe_check(
                p, lambda q: ((q.parent if q.is_file() else q) / retailrocket.EVENTS_FILE).is_file()
            ),
            expected=(
                f"{retailrocket.EVENTS_FILE} (with {list(retailrocket.PROPERTY_FILES)} and "
                f"{retailrocket.TREE_FILE})"
            ),
            how_to_get=(
                f"download the archive from {retailrocket.PAGE} (Kaggle login; or `kaggle datasets "
                "download -d retailrocket/ecommerce-dataset`) and unpack it into "
                "DATA_DIR/retailrocket/"
            ),
        ),
        Source(
            name="rees46",
            loader=rees46.load_rees46,
            folders=("rees46",),
            holds=lambda p: _safe_check(p, rees46.find_rees46_files),
            expected="monthly files named like 2019-Oct.csv (or .csv.gz)",
            how_to_get=(
                f"download the monthly CSVs from {rees46.PAGE} (Kaggle login; or `kaggle datasets "
                "download -d mkechinov/ecommerce-behavior-data-from-multi-category-store`) into "
                "DATA_DIR/rees46/"
            ),
        ),
        Source(
            name="taobao",
            loader=taobao.load_taobao,
            folders=("taobao",),
            holds=lambda p: _safe_check(p, taobao.find_taobao_file),
            expected=f"{taobao.FILE_NAMES[0]}",
            how_to_get=(
                f"download UserBehavior.csv.zip from {taobao.PAGE} (Tianchi login) and unpack "
                "UserBehavior.csv into DATA_DIR/taobao/"
            ),
        ),
        Source(
            name="csv",
            loader=csv_source.load_csv,
            folders=(),
            holds=lambda p: _safe_check(p, lambda q: q.exists()),
            expected="your events file, or the folder holding it (data.path)",
            how_to_get=(
                "export your shop's events (and optionally customers and products) as CSV and "
                "describe them in data.options; see the README section 'Your own data'"
            ),
        ),
        Source(
            name="events_db",
            loader=events_db.load_events_db,
            folders=(),
            holds=lambda p: _safe_check(p, lambda q: q.is_file()),
            expected="the SQLite event store of the recommendation service (data.path)",
            how_to_get=(
                "serve a run (python -m recnb serve reports/<run>): the service commits every "
                "event it accepts to events/<run>.sqlite (or its --store file)"
            ),
        ),
    )
}

SOURCE_NAMES: tuple[str, ...] = tuple(_SOURCES)
"""Names accepted by :func:`load_source`, :func:`resolve_data_path` and :func:`download`."""


def get_source(name: str) -> Source:
    """The registry entry of ``name``; an unknown name fails listing the allowed ones."""
    try:
        return _SOURCES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown data source {name!r}; allowed names are {list(SOURCE_NAMES)}"
        ) from None


def _candidate_folders(src: Source, variant: str | None) -> tuple[str, ...]:
    if variant is None:
        return src.folders
    if src.name != "movielens":
        raise TypeError(f"{src.name}: option 'variant' applies only to movielens")
    if variant not in movielens.VARIANT_FOLDERS:
        raise ValueError(
            f"option variant={variant!r} is not allowed; allowed values are "
            f"{list(movielens.VARIANT_FOLDERS)}"
        )
    return (movielens.VARIANT_FOLDERS[variant],)


def resolve_data_path(
    name: str, path: PathLike | None = None, *, variant: str | None = None
) -> Path:
    """Where the data of source ``name`` is.

    An explicit ``path`` wins: the file or folder itself, or its ``<folder>`` subfolder (so the data
    directory may be given too). Without one, ``$RECNB_DATA_DIR/<folder>`` for each folder the source
    unpacks to (for MovieLens the ``variant``'s folder, else the first release present, smallest
    first).

    Raises
    ------
    ValueError
        ``name`` is not a known source.
    FileNotFoundError
        Nothing found: the message names the paths tried, the environment variable and how to get
        the data.
    """
    src = get_source(name)
    folders = _candidate_folders(src, variant)
    if not folders and path is None:
        raise FileNotFoundError(
            f"{name}: data.path is required (the folder holding your files, or the events file); "
            f"{DATA_DIR_ENV} is not used for this source"
        )
    tried: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if path is not None:
        p = Path(path).expanduser()
        for candidate in (p, *(p / f for f in folders)):
            tried.append(candidate)
            if src.holds(candidate):
                return candidate
        where = f"explicit path {str(p)!r} (the explicit path wins over {DATA_DIR_ENV})"
    elif env:
        root = Path(env).expanduser()
        for f in folders:
            candidate = root / f
            tried.append(candidate)
            if src.holds(candidate):
                return candidate
        where = f"{DATA_DIR_ENV}={env!r}"
    else:
        where = f"no path given and {DATA_DIR_ENV} is not set"
    tried_text = ", ".join(str(t) for t in tried) if tried else "nothing"
    raise FileNotFoundError(
        f"{name}: data not found ({where}); tried {tried_text}; expected {src.expected}. "
        f"Set {DATA_DIR_ENV} to the folder holding {list(folders)} or pass the path. To get the "
        f"data: {src.how_to_get}."
    )


def check_options(
    name: str,
    options: dict[str, Any] | None,
    path: PathLike | None = None,
    origin: str = "data.options",
) -> None:
    """Check a source's loader options before anything is loaded.

    Unknown keys and values of the wrong kind fail for every source; for ``csv`` the column and
    event-name mappings are checked too and, with ``path``, the files and their headers.

    Parameters
    ----------
    name : str
        The source.
    options : dict
        ``data.options``.
    path : str or Path, optional
        ``data.path`` (resolved); lets the csv source check its files.
    origin : str
        How the options are named in messages (``"params/x.yaml: data.options"``).

    Raises
    ------
    ValueError
        The message names the key and the allowed keys or values.
    FileNotFoundError
        A file the csv source names does not exist.
    """
    src = get_source(name)
    options = dict(options or {})
    if name == "csv":
        if path is None:
            csv_source.csv_options(options, origin)
        else:
            csv_source.check_csv_source(path, options, origin)
        return
    if name == "events_db":
        if path is None:
            events_db.events_db_options(options, origin)
        else:
            events_db.check_events_db(path, options, origin)
        return
    allowed = src.options()
    for key in options:
        if key not in allowed:
            raise ValueError(
                f"{origin}.{key}: unknown option for data.source {name!r}; allowed options are "
                f"{list(allowed)}"
            )
    defaults = {p.name: p.default for p in inspect.signature(src.loader).parameters.values()}
    for key, value in options.items():
        try:
            if key == "nrows":
                check_nrows(value)
            elif isinstance(defaults.get(key), bool) and not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
            elif key == "returns" and value not in online_retail.RETURNS:
                raise ValueError(
                    f"{value!r} is not allowed; allowed values are {list(online_retail.RETURNS)}"
                )
            elif key == "variant" and value not in movielens.VARIANT_FOLDERS:
                raise ValueError(
                    f"{value!r} is not allowed; allowed values are "
                    f"{list(movielens.VARIANT_FOLDERS)}"
                )
            elif (
                key == "date_format"
                and value is not None
                and (not isinstance(value, str) or "%" not in value)
            ):
                raise ValueError(f"must be a strftime form such as '%d/%m/%Y %H:%M', got {value!r}")
            elif (
                key == "months"
                and value is not None
                and (not isinstance(value, list) or not all(isinstance(m, str) for m in value))
            ):
                raise ValueError(
                    f"must be a list of month names such as ['2019-Oct'], got {value!r}"
                )
        except ValueError as err:
            raise ValueError(f"{origin}.{key}: {err}") from None


def load_source(name: str, path: PathLike | None = None, **options: Any) -> Dataset:
    """Load real data set ``name`` from a local file or folder into a validated :class:`Dataset`.

    Parameters
    ----------
    name : str
        One of :data:`SOURCE_NAMES`: ``"online_retail"``, ``"movielens"``, ``"retailrocket"``,
        ``"rees46"``, ``"taobao"``, ``"csv"`` (your own export, described by the options).
    path : str or Path, optional
        File or folder; default ``$RECNB_DATA_DIR/<folder>`` (see :func:`resolve_data_path`).
    **options
        The loader's keyword options (e.g. ``returns="drop"`` for Online Retail, ``variant="ml-1m"``
        or ``nrows`` for MovieLens). An unknown option raises ``TypeError`` naming it.

    Returns
    -------
    Dataset
        Validated, with the loader's notes (what was dropped or changed, with counts) and meta.
    """
    src = get_source(name)
    allowed = src.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"load_source({name!r}): unknown option(s) {unknown}; allowed options are {list(allowed)}"
        )
    resolved = resolve_data_path(name, path, variant=options.get("variant"))
    return src.loader(resolved, **options)
