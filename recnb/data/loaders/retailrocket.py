"""RetailRocket e-commerce data set: 4.5 months of browsing events of a real online shop.

Files (as the Kaggle archive unpacks): ``events.csv`` (``timestamp`` in ms, ``visitorid``, ``event`` one of
view/addtocart/transaction, ``itemid``, ``transactionid``), ``item_properties_part1.csv`` and
``item_properties_part2.csv`` (``timestamp, itemid, property, value``: weekly snapshots; all values
except ``categoryid`` and ``available`` are hashed) and ``category_tree.csv`` (``categoryid, parentid``).

Mapping: view -> ``view``, addtocart -> ``add_to_cart``, transaction -> ``purchase`` (its transaction id
kept as ``transaction_id``). A product's ``category`` is the path of category ids from the root of the
tree down to its latest ``categoryid`` (``"1016/213/1"``: the ids are anonymous), ``category_id`` the
leaf and ``available`` its latest availability flag. Visitors are anonymous: customers carry only
their id. Timestamps are UTC. The products table holds the items that appear in the events.
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
    epoch_to_datetime,
    finish,
    map_events,
    read_csv_checked,
    require_columns,
)
from recnb.data.schema import Dataset

PAGE = "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset"
LICENCE = f"see {PAGE}"
CITATION = "Retailrocket recommender system dataset, Kaggle (2017)"

EVENTS_FILE = "events.csv"
PROPERTY_FILES: tuple[str, ...] = ("item_properties_part1.csv", "item_properties_part2.csv")
TREE_FILE = "category_tree.csv"

EVENT_MAP: dict[str, str | None] = {
    "view": "view",
    "addtocart": "add_to_cart",
    "transaction": "purchase",
}
_CHUNK = 2_000_000


def _folder_of(path: PathLike) -> Path:
    p = Path(path)
    return p.parent if p.is_file() else p


def category_paths(tree: pd.DataFrame, file: Path | str = TREE_FILE) -> pd.Series:
    """Path of category ids from the root down to each category (``"root/.../leaf"``).

    Parameters
    ----------
    tree : DataFrame
        Columns ``categoryid`` and ``parentid`` (missing for a root).
    file : Path or str
        Named in error messages.

    Raises
    ------
    ValueError
        A category listed twice, or a cycle in the parent links.
    """
    ids = tree["categoryid"].astype("int64").to_numpy()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise ValueError(f"{file}: categoryid {ids[dup][0]} is listed more than once")
    parent = dict(zip(ids.tolist(), tree["parentid"].tolist(), strict=True))
    paths: dict[int, str] = {}
    for cid in ids.tolist():
        chain = [cid]
        seen = {cid}
        cur = parent.get(cid)
        while cur is not None and not pd.isna(cur):
            cur = int(cur)
            if cur in paths:
                break
            if cur in seen:
                raise ValueError(
                    f"{file}: the parent links of category {cid} form a cycle at {cur}"
                )
            seen.add(cur)
            chain.append(cur)
            cur = parent.get(cur)
        prefix = paths.get(cur) if cur is not None and not pd.isna(cur) else None
        for i in range(len(chain) - 1, -1, -1):
            node = chain[i]
            prefix = str(node) if prefix is None else f"{prefix}/{node}"
            paths[node] = prefix
    return pd.Series({k: paths[k] for k in ids.tolist()}, dtype=object)


def _read_properties(
    folder: Path, items: np.ndarray | None, log: StepLog
) -> tuple[pd.DataFrame, list[str]]:
    """Latest ``categoryid`` and ``available`` per item from the property snapshots."""
    parts = []
    used = []
    for name in PROPERTY_FILES:
        f = folder / name
        if not f.is_file():
            continue
        used.append(name)
        reader = read_csv_checked(
            f,
            dtype={"timestamp": "int64", "itemid": "int64", "property": str, "value": str},
            chunksize=_CHUNK,
            log=log,
        )
        for chunk in reader:
            require_columns(chunk, f, ("timestamp", "itemid", "property", "value"))
            chunk = chunk[chunk["property"].isin(("categoryid", "available"))]
            if items is not None:
                chunk = chunk[chunk["itemid"].isin(items)]
            parts.append(chunk)
    if not parts:
        return pd.DataFrame(columns=["itemid", "categoryid", "available", "n_categories"]), used
    props = pd.concat(parts, ignore_index=True).sort_values("timestamp", kind="stable")
    latest = props.groupby(["itemid", "property"], sort=False)["value"].last().unstack("property")
    out = pd.DataFrame(index=latest.index)
    out["categoryid"] = latest.get("categoryid")
    out["available"] = latest.get("available")
    cats = props[props["property"] == "categoryid"]
    out["n_categories"] = cats.groupby("itemid")["value"].nunique().reindex(out.index)
    return out.reset_index(), used


def load_retailrocket(
    path: PathLike, *, nrows: int | None = None, item_properties: bool = True
) -> Dataset:
    """Load the RetailRocket data set from its folder.

    Parameters
    ----------
    path : str or Path
        The folder holding ``events.csv`` (and the property and category files), or ``events.csv``.
    nrows : int, optional
        Read only the first ``nrows`` events (the property files are then filtered to their items).
    item_properties : bool
        Read the property snapshots (about 20 million lines, the slow part) for category and
        availability; without them products carry only their id.

    Returns
    -------
    Dataset
        Validated; ``notes`` lists the drops with their counts.
    """
    nrows = check_nrows(nrows)
    folder = _folder_of(path)
    efile = folder / EVENTS_FILE
    if not efile.is_file():
        raise FileNotFoundError(f"RetailRocket: no {EVENTS_FILE} in {folder}; get it from {PAGE}")
    log = StepLog()
    reader = CsvFile(
        efile,
        nrows=nrows,
        dtype={"timestamp": "int64", "visitorid": "int64", "event": str, "itemid": "int64"},
    )
    ev = reader.read(log)
    require_columns(ev, efile, ("timestamp", "visitorid", "event", "itemid", "transactionid"))
    if len(ev) == 0:
        raise ValueError(f"{efile}: no events")
    log.add("read", len(ev), f"events in {EVENTS_FILE}")
    event = map_events(ev["event"], EVENT_MAP, efile, "event")

    items = pd.unique(ev["itemid"])
    files = {"events": EVENTS_FILE}
    products = pd.DataFrame({"product_id": items.astype(str).astype(object)})
    if item_properties:
        props, used = _read_properties(folder, items if nrows is not None else None, log)
        for i, name in enumerate(used, start=1):
            files[f"item_properties_{i}"] = name
        props = props.set_index("itemid").reindex(items)
        cat_id = pd.to_numeric(props["categoryid"], errors="coerce").astype("Int64")
        log.add(
            "item category changed",
            (props["n_categories"] > 1).sum(),
            "items whose categoryid changed between snapshots: the latest is used",
        )
        log.add(
            "items without category",
            cat_id.isna().sum(),
            "items with no categoryid in the property files: category left missing",
        )
        category = pd.Series(np.nan, index=props.index, dtype=object)
        tfile = folder / TREE_FILE
        if tfile.is_file():
            files["category_tree"] = TREE_FILE
            tree = read_csv_checked(
                tfile, dtype={"categoryid": "int64", "parentid": "Int64"}, log=log
            )
            require_columns(tree, tfile, ("categoryid", "parentid"))
            paths = category_paths(tree, tfile)
            has = cat_id.notna().to_numpy()
            ids = cat_id[has].astype("int64")
            category[has] = ids.map(paths).to_numpy()
            not_in_tree = has & category.isna().to_numpy()
            log.add(
                "category not in tree",
                not_in_tree.sum(),
                f"items whose categoryid is missing from {TREE_FILE}: category is the id alone",
            )
            category[not_in_tree] = ids[not_in_tree[has]].astype(str).to_numpy()
        else:
            category[cat_id.notna().to_numpy()] = cat_id.dropna().astype(str).to_numpy()
        avail = props["available"].map({"1": True, "0": False}).astype("boolean")
        products["category"] = category.to_numpy()
        products["category_id"] = cat_id.astype(str).where(cat_id.notna(), None).to_numpy()
        products["available"] = avail.array

    is_purchase = (event == "purchase").to_numpy()
    tx = ev["transactionid"]
    tx_str = pd.Series(np.nan, index=ev.index, dtype=object)
    tx_ok = tx.notna().to_numpy()
    tx_str[tx_ok] = pd.to_numeric(tx[tx_ok]).astype("int64").astype(str).to_numpy()
    log.add(
        "purchase without transaction id",
        (is_purchase & ~tx_ok).sum(),
        "transaction events without a transactionid (kept; transaction_id missing)",
    )
    events = pd.DataFrame(
        {
            "customer_id": categorical_ids(ev["visitorid"].to_numpy()),
            "product_id": categorical_ids(ev["itemid"].to_numpy()),
            "timestamp": epoch_to_datetime(
                ev["timestamp"].to_numpy(), "ms", efile, "timestamp", where=reader.where
            ).to_numpy(),
            "event": event.array,
            "transaction_id": tx_str.to_numpy(),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": events["customer_id"].cat.categories.to_numpy(dtype=object)}
    )
    meta = {
        "source": "retailrocket",
        "folder": str(folder),
        "files": files,
        "page": PAGE,
        "licence": LICENCE,
        "citation": CITATION,
        "timezone": "UTC (epoch milliseconds)",
        "options": {"nrows": nrows, "item_properties": item_properties},
    }
    return finish("retailrocket", customers, products, events, log, meta)
