"""Taobao UserBehavior (Alibaba Tianchi): about 1 million users' behaviour, 2017-11-25 to 2017-12-03.

``UserBehavior.csv`` has no header; its columns are ``user_id, item_id, category_id, behavior_type,
timestamp`` (epoch seconds). Behaviours: pv -> ``view``, cart -> ``add_to_cart``, fav -> ``wishlist``,
buy -> ``purchase``. Timestamps are converted to China Standard Time (UTC+8, no daylight saving), the
shop's wall-clock time in which the documented date range is stated; rows outside 2017-11-25 ..
2017-12-03 (a known defect of the file) are dropped and counted. Products carry their (anonymous)
category id as a one-level ``category``; users are anonymous: customers carry only their id.
"""

from __future__ import annotations

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
    find_file,
    finish,
    map_events,
    mode_by_key,
)
from recnb.data.schema import Dataset

PAGE = "https://tianchi.aliyun.com/dataset/649"
LICENCE = f"see {PAGE}"
CITATION = (
    "Zhu et al. (2018), Learning Tree-based Deep Model for Recommender Systems, KDD; data: "
    "User Behavior Data from Taobao for Recommendation, Alibaba Tianchi"
)
FILE_NAMES: tuple[str, ...] = ("UserBehavior.csv", "UserBehavior.csv.gz")
COLUMNS: tuple[str, ...] = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
EVENT_MAP: dict[str, str | None] = {
    "pv": "view",
    "cart": "add_to_cart",
    "fav": "wishlist",
    "buy": "purchase",
}
FIRST_DAY = pd.Timestamp("2017-11-25")
LAST_DAY = pd.Timestamp("2017-12-03")
"""The documented range, both days included, in China Standard Time."""
UTC_OFFSET = pd.Timedelta(hours=8)


def find_taobao_file(path: PathLike) -> Path | None:
    """``path`` itself if it is a file, else ``UserBehavior.csv[.gz]`` in the folder."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        return find_file(p, FILE_NAMES)
    return None


def load_taobao(path: PathLike, *, nrows: int | None = None) -> Dataset:
    """Load Taobao ``UserBehavior.csv`` (about 100 million rows, 3.5 GB).

    Parameters
    ----------
    path : str or Path
        The CSV file or the folder holding it.
    nrows : int, optional
        Read only the first ``nrows`` rows (the file is grouped by user, so this keeps whole users).

    Returns
    -------
    Dataset
        Validated; ``notes`` lists the drops with their counts.
    """
    nrows = check_nrows(nrows)
    file = find_taobao_file(path)
    if file is None:
        raise FileNotFoundError(f"Taobao: no {FILE_NAMES[0]} at {path}; get it from {PAGE}")
    log = StepLog()
    reader = CsvFile(
        file,
        header=None,
        names=list(COLUMNS),
        dtype={
            "user_id": "int64",
            "item_id": "int64",
            "category_id": "int64",
            "behavior_type": "category",
            "timestamp": "int64",
        },
        nrows=nrows,
        index_col=False,
    )
    raw = reader.read(log)
    if len(raw) == 0:
        raise ValueError(f"{file}: no rows")
    log.add("read", len(raw), f"rows in {file.name}")
    event = map_events(raw["behavior_type"], EVENT_MAP, file, "behavior_type")
    # the range in epoch seconds: [first day 00:00, day after the last day 00:00) local time
    start = (FIRST_DAY - UTC_OFFSET).value // 10**9
    end = (LAST_DAY + pd.Timedelta(days=1) - UTC_OFFSET).value // 10**9
    ts = raw["timestamp"].to_numpy()
    inside = (ts >= start) & (ts < end)
    log.add(
        "outside date range",
        (~inside).sum(),
        f"rows dated outside the documented range {FIRST_DAY.date()} .. {LAST_DAY.date()} "
        "(China Standard Time) dropped",
        removes=True,
    )
    raw = raw[inside].reset_index(drop=True)
    if len(raw) == 0:
        held = f"{len(ts):,} rows, all dated outside {FIRST_DAY.date()} .. {LAST_DAY.date()}"
        raise ValueError(empty_result_message("taobao", log, {"file": str(file)}, held))
    events = pd.DataFrame(
        {
            "customer_id": categorical_ids(raw["user_id"].to_numpy()),
            "product_id": categorical_ids(raw["item_id"].to_numpy()),
            "timestamp": (
                epoch_to_datetime(ts[inside], "s", file, "timestamp") + UTC_OFFSET
            ).to_numpy(),
            "event": event[inside].array,
        }
    )
    items = pd.unique(raw["item_id"])
    cat = mode_by_key(raw["item_id"], raw["category_id"]).reindex(items)
    log.add(
        "item category changed",
        (cat["n_distinct"] > 1).sum(),
        "items seen with more than one category_id: the most frequent is used",
    )
    products = pd.DataFrame(
        {
            "product_id": items.astype(str).astype(object),
            "category": np.asarray(cat["value"].to_numpy(dtype="int64")).astype(str).astype(object),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": events["customer_id"].cat.categories.to_numpy(dtype=object)}
    )
    meta = {
        "source": "taobao",
        "file": str(file),
        "page": PAGE,
        "licence": LICENCE,
        "citation": CITATION,
        "timezone": "China Standard Time (UTC+8), converted from epoch seconds",
        "options": {"nrows": nrows},
    }
    return finish("taobao", customers, products, events, log, meta)
