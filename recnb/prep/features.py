"""Customer, product and context features as sparse matrices aligned with the id maps.

Everything event-based is computed from the events it is given, which the split stage restricts to one
training part: no feature ever sees a validation or test event. Catalogue attributes (category, brand,
price, description) are static and come from the products table; demographics from the customers
table. Every column is in [0, 1] and has a readable name ``group:value``.

Customers
    ``rfm:recency`` (``exp(-days since last event / 30)``), ``rfm:frequency`` and ``rfm:monetary``
    (``log1p`` scaled by the largest value in the period); ``category:<top level>`` shares of events;
    ``price_tier:q1..qN`` (median price of the products the customer bought, else interacted with, in
    the catalogue's price quantiles); ``device:<d>`` and ``time_of_day:<bucket>`` shares of events;
    one-hot demographics (``age_band``, ``gender``, ``region``, ``country``, home ``device`` as
    ``home_device``) where the source has them.
Products
    Hierarchy-aware one-hot category (``category:home`` and ``category:home/kitchen``), ``brand``,
    ``price_bucket:q1..qN``, ``rating:avg`` and ``rating:count`` (the catalogue's ``avg_rating`` /
    ``rating_count`` when it has them, a static attribute; else from the period's rating events), ``popularity`` (log1p distinct customers in the
    period, scaled) and ``tfidf:<word>`` of title and description.
Context (per interaction)
    ``hour:<bucket>``, ``weekday:<d>``, ``device:<d>``, ``location:<l>``: for each (customer, product)
    pair the share of its events in each context.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

TIME_OF_DAY: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6),
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
)
"""Hour buckets: name, first hour, end hour (exclusive)."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEMOGRAPHIC_COLUMNS: tuple[str, ...] = ("age_band", "gender", "region", "country", "device")
RECENCY_SCALE_DAYS = 30.0


def _index_of(ids: pd.Series, id_map: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in ``id_map`` (-1 when absent), looking up each distinct id once."""
    codes, uniq = _factorize(ids)
    pos = pd.Index(np.asarray(id_map, dtype=object)).get_indexer(pd.Index(uniq).astype(str))
    out = np.full(len(codes), -1, dtype=np.int64)
    ok = codes >= 0
    out[ok] = pos[codes[ok]]
    return out


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 for missing) and distinct values, fast for categoricals."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy().astype(np.int64), np.asarray(s.cat.categories, dtype=object)
    codes, uniq = pd.factorize(s, sort=False)
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def _onehot(
    codes: np.ndarray, n_rows: int, n_cols: int, values: np.ndarray | None = None
) -> sp.csr_matrix:
    ok = codes >= 0
    r = np.flatnonzero(ok)
    v = np.ones(len(r)) if values is None else np.asarray(values, dtype=float)[ok]
    return sp.csr_matrix((v, (r, codes[ok])), shape=(n_rows, n_cols), dtype=np.float32)


def _shares(rows: np.ndarray, codes: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """Row-normalized counts of (row, code) occurrences."""
    ok = (rows >= 0) & (codes >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum())), (rows[ok], codes[ok])), shape=(n_rows, n_cols), dtype=np.float64
    )
    tot = np.asarray(m.sum(axis=1)).ravel()
    inv = np.where(tot > 0, 1.0 / np.maximum(tot, 1e-300), 0.0)
    return sp.csr_matrix(sp.diags(inv) @ m, dtype=np.float32)


def _categories(
    s: pd.Series, min_count: int = 1, other: str = "other"
) -> tuple[np.ndarray, list[str]]:
    """Codes and sorted labels of a categorical column; values with fewer than ``min_count`` rows
    are pooled as ``other``; missing values get code -1."""
    codes, uniq = _factorize(s)
    labels_u = np.array([str(v) for v in uniq], dtype=object)
    if min_count > 1 and len(uniq):
        counts = np.bincount(codes[codes >= 0], minlength=len(uniq))
        labels_u = np.where(counts < min_count, other, labels_u)
    used = (
        np.bincount(codes[codes >= 0], minlength=len(uniq)) > 0 if len(uniq) else np.zeros(0, bool)
    )
    labels = sorted(set(labels_u[used].tolist()))
    pos = {lab: i for i, lab in enumerate(labels)}
    lut = np.array([pos.get(lab, -1) for lab in labels_u], dtype=np.int64)
    out = np.full(len(codes), -1, dtype=np.int64)
    ok = codes >= 0
    out[ok] = lut[codes[ok]]
    return out, labels


def _log_scaled(x: np.ndarray) -> np.ndarray:
    y = np.log1p(np.maximum(np.asarray(x, dtype=float), 0.0))
    top = y.max() if len(y) else 0.0
    return y / top if top > 0 else y


def price_edges(prices: pd.Series, n_buckets: int = 5) -> np.ndarray:
    """Inner quantile edges of the catalogue's prices (``n_buckets - 1`` values, unique)."""
    p = pd.to_numeric(prices, errors="coerce").dropna()
    if len(p) == 0 or n_buckets < 2:
        return np.array([])
    return np.unique(np.quantile(p.to_numpy(), np.linspace(0, 1, n_buckets + 1)[1:-1]))


def _bucket(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    b = np.searchsorted(edges, v, side="right").astype(np.int64)
    return np.where(np.isnan(v), -1, b)


def hour_bucket(ts: pd.Series) -> np.ndarray:
    """Index into :data:`TIME_OF_DAY` for each timestamp."""
    h = pd.DatetimeIndex(ts).hour.to_numpy()
    edges = np.array([b[1] for b in TIME_OF_DAY[1:]])
    return np.searchsorted(edges, h, side="right").astype(np.int64)


def _hstack(
    blocks: list[tuple[sp.csr_matrix, list[str]]], n_rows: int
) -> tuple[sp.csr_matrix, list[str]]:
    blocks = [(m, n) for m, n in blocks if m.shape[1]]
    if not blocks:
        return sp.csr_matrix((n_rows, 0), dtype=np.float32), []
    m = sp.hstack([b[0] for b in blocks], format="csr", dtype=np.float32)
    m.eliminate_zeros()
    names = [n for b in blocks for n in b[1]]
    if len(set(names)) != len(names):
        dup = pd.Series(names)[pd.Series(names).duplicated()].tolist()
        raise ValueError(f"duplicate feature names {dup[:5]}")
    return m, names


# ----------------------------------------------------------------------------------------------
# customers
# ----------------------------------------------------------------------------------------------


def customer_features(
    events: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    customer_ids: np.ndarray,
    reference_time: pd.Timestamp | None = None,
    *,
    n_price_tiers: int = 5,
    min_category_count: int = 1,
) -> tuple[sp.csr_matrix, list[str]]:
    """Customer feature matrix from one period's events plus the customers table.

    Parameters
    ----------
    events : pandas.DataFrame
        The period's events (``customer_id``, ``product_id``, ``timestamp``, ``event``; optional
        ``device``, ``value``, ``price_paid``).
    customers, products : pandas.DataFrame
        Customers (demographics) and the catalogue (``category``, ``price``).
    customer_ids : numpy.ndarray
        The id map: row ``i`` of the result describes ``customer_ids[i]``.
    reference_time : pandas.Timestamp, optional
        End of the period, for recency (default: the last event).
    n_price_tiers : int
        Number of catalogue price quantiles for the price tier.
    min_category_count : int
        Demographic values held by fewer customers are pooled as ``other``.

    Returns
    -------
    (scipy.sparse.csr_matrix, list of str)
    """
    n = len(customer_ids)
    blocks: list[tuple[sp.csr_matrix, list[str]]] = []
    rows = _index_of(events["customer_id"], customer_ids) if len(events) else np.zeros(0, np.int64)
    ok = rows >= 0
    ev = events[ok]
    rows = rows[ok]
    # catalogue row of each event's product (-1 when absent), one lookup per distinct id
    ppos = (
        _index_of(ev["product_id"], products["product_id"].astype(str).to_numpy())
        if len(ev)
        else np.zeros(0, np.int64)
    )

    # RFM
    if len(ev):
        ref = pd.Timestamp(reference_time) if reference_time is not None else ev["timestamp"].max()
        t = ev["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        last = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(last, rows, t)
        has = last > np.iinfo(np.int64).min
        days = np.where(has, (ref.value - last) / 86_400e9, np.inf)
        recency = np.where(has, np.exp(-np.maximum(days, 0) / RECENCY_SCALE_DAYS), 0.0)
        freq = np.bincount(rows, minlength=n).astype(float)
        purchase = (ev["event"] == "purchase").to_numpy()
        if "price_paid" in ev.columns:
            spend = ev["price_paid"].to_numpy(dtype=float)
        elif "price" in products.columns:
            price = pd.to_numeric(products["price"], errors="coerce").to_numpy(dtype=float)
            spend = np.where(ppos >= 0, price[np.maximum(ppos, 0)], np.nan)
        else:
            spend = np.full(len(ev), np.nan)
        qty = ev["value"].to_numpy(dtype=float) if "value" in ev.columns else np.ones(len(ev))
        qty = np.where(np.isnan(qty) | (qty <= 0), 1.0, qty)
        spend = spend * qty  # unit price x quantity
        spend = np.where(purchase & ~np.isnan(spend), spend, 0.0)
        monetary = np.bincount(rows, weights=spend, minlength=n)
        rfm = np.column_stack([recency, _log_scaled(freq), _log_scaled(monetary)])
        blocks.append(
            (sp.csr_matrix(rfm, dtype=np.float32), ["rfm:recency", "rfm:frequency", "rfm:monetary"])
        )

        # category shares (top level)
        if "category" in products.columns:
            top = (
                products["category"]
                .astype(object)
                .map(
                    lambda v: (
                        None
                        if v is None or (isinstance(v, float) and np.isnan(v))
                        else str(v).split("/")[0]
                    )
                )
            )
            pcodes, labels = _categories(top)
            codes = np.where(ppos >= 0, pcodes[np.maximum(ppos, 0)], -1)
            blocks.append((_shares(rows, codes, n, len(labels)), [f"category:{c}" for c in labels]))

        # price tier
        if "price" in products.columns:
            edges = price_edges(products["price"], n_price_tiers)
            price = pd.to_numeric(products["price"], errors="coerce").to_numpy(dtype=float)
            p_ev = np.where(ppos >= 0, price[np.maximum(ppos, 0)], np.nan)
            df = pd.DataFrame({"r": rows, "p": p_ev, "buy": purchase})
            df = df[~np.isnan(df["p"].to_numpy())]
            med_all = df.groupby("r")["p"].median()
            med_buy = df[df["buy"]].groupby("r")["p"].median()
            med = med_all.copy()
            med.loc[med_buy.index] = med_buy
            tier = np.full(n, -1, dtype=np.int64)
            tier[med.index.to_numpy()] = _bucket(med.to_numpy(), edges)
            k = len(edges) + 1
            blocks.append((_onehot(tier, n, k), [f"price_tier:q{i + 1}" for i in range(k)]))

        # device and time-of-day shares
        if "device" in ev.columns:
            dcodes, dlabels = _categories(ev["device"])
            blocks.append(
                (_shares(rows, dcodes, n, len(dlabels)), [f"device:{d}" for d in dlabels])
            )
        hb = hour_bucket(ev["timestamp"])
        blocks.append(
            (_shares(rows, hb, n, len(TIME_OF_DAY)), [f"time_of_day:{b[0]}" for b in TIME_OF_DAY])
        )

    # demographics
    cpos = pd.Index(customers["customer_id"].astype(str)).get_indexer(
        pd.Index(np.asarray(customer_ids, dtype=object).astype(str))
    )
    for col in DEMOGRAPHIC_COLUMNS:
        if col not in customers.columns:
            continue
        codes, labels = _categories(customers[col], min_category_count)
        c = np.where(cpos >= 0, codes[np.maximum(cpos, 0)], -1)
        prefix = "home_device" if col == "device" else col
        blocks.append((_onehot(c, n, len(labels)), [f"{prefix}:{v}" for v in labels]))
    return _hstack(blocks, n)


# ----------------------------------------------------------------------------------------------
# products
# ----------------------------------------------------------------------------------------------


def category_paths(category: pd.Series) -> tuple[sp.csr_matrix, list[str]]:
    """Hierarchy-aware one-hot: ``"home/kitchen"`` sets ``category:home`` and ``category:home/kitchen``."""
    prefixes: list[list[str]] = []
    for v in category.astype(object):
        if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip():
            prefixes.append([])
            continue
        parts = [p.strip() for p in str(v).split("/") if p.strip()]
        prefixes.append(["/".join(parts[: i + 1]) for i in range(len(parts))])
    labels = sorted({p for ps in prefixes for p in ps})
    col = {lab: j for j, lab in enumerate(labels)}
    r = np.repeat(np.arange(len(prefixes)), [len(ps) for ps in prefixes])
    c = np.fromiter((col[p] for ps in prefixes for p in ps), dtype=np.int64, count=len(r))
    m = sp.csr_matrix(
        (np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(prefixes), len(labels))
    )
    return m, [f"category:{lab}" for lab in labels]


def product_features(
    events: pd.DataFrame,
    products: pd.DataFrame,
    product_ids: np.ndarray,
    *,
    n_price_buckets: int = 5,
    min_brand_count: int = 1,
    tfidf_max_features: int = 1000,
    tfidf_min_df: int = 2,
) -> tuple[sp.csr_matrix, list[str]]:
    """Product feature matrix: catalogue attributes plus the period's rating and popularity.

    Parameters
    ----------
    events : pandas.DataFrame
        The period's events (popularity, ratings).
    products : pandas.DataFrame
        The catalogue.
    product_ids : numpy.ndarray
        The id map: row ``j`` of the result describes ``product_ids[j]``.
    n_price_buckets : int
        Catalogue price quantile buckets.
    min_brand_count : int
        Brands with fewer products are pooled as ``brand:other``.
    tfidf_max_features : int
        Vocabulary size of the TF-IDF of title + description (0 turns it off).
    tfidf_min_df : int
        Minimum number of products a word must appear in.

    Returns
    -------
    (scipy.sparse.csr_matrix, list of str)
    """
    n = len(product_ids)
    pos = pd.Index(products["product_id"].astype(str)).get_indexer(
        pd.Index(np.asarray(product_ids, dtype=object).astype(str))
    )
    if (pos < 0).any():
        bad = np.asarray(product_ids, dtype=object)[pos < 0][:5]
        raise ValueError(f"product_features: product ids {list(bad)} are not in the products table")
    cat = products.iloc[pos].reset_index(drop=True)
    blocks: list[tuple[sp.csr_matrix, list[str]]] = []
    if "category" in cat.columns:
        blocks.append(category_paths(cat["category"]))
    if "brand" in cat.columns:
        codes, labels = _categories(cat["brand"], min_brand_count)
        blocks.append((_onehot(codes, n, len(labels)), [f"brand:{b}" for b in labels]))
    if "price" in cat.columns:
        edges = price_edges(cat["price"], n_price_buckets)
        b = _bucket(pd.to_numeric(cat["price"], errors="coerce").to_numpy(dtype=float), edges)
        k = len(edges) + 1
        blocks.append((_onehot(b, n, k), [f"price_bucket:q{i + 1}" for i in range(k)]))

    cols = _index_of(events["product_id"], product_ids) if len(events) else np.zeros(0, np.int64)
    ok = cols >= 0
    ev = events[ok]
    cols = cols[ok]
    rating = (ev["event"] == "rating").to_numpy() if len(ev) else np.zeros(0, bool)
    if "avg_rating" in cat.columns:
        # a catalogue attribute (the shown star rating), not computed from the log
        avg = pd.to_numeric(cat["avg_rating"], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(avg)
        lo = float(avg[known].min()) if known.any() else 0.0
        hi = float(avg[known].max()) if known.any() else 0.0
        avg01 = np.where(known, (avg - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
        cnt = (
            pd.to_numeric(cat["rating_count"], errors="coerce").fillna(0).to_numpy(dtype=float)
            if "rating_count" in cat.columns
            else known.astype(float)
        )
        blocks.append(
            (
                sp.csr_matrix(np.column_stack([avg01, _log_scaled(cnt)]), dtype=np.float32),
                ["rating:avg", "rating:count"],
            )
        )
    elif rating.any() and "value" in ev.columns:
        # from the period's rating events only
        v = ev["value"].to_numpy(dtype=float)
        sel = rating & ~np.isnan(v)
        cnt = np.bincount(cols[sel], minlength=n).astype(float)
        tot = np.bincount(cols[sel], weights=v[sel], minlength=n)
        lo, hi = float(v[sel].min()), float(v[sel].max())
        avg = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
        avg01 = np.where(cnt > 0, (avg - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
        blocks.append(
            (
                sp.csr_matrix(np.column_stack([avg01, _log_scaled(cnt)]), dtype=np.float32),
                ["rating:avg", "rating:count"],
            )
        )
    if len(ev):
        crow, _ = _factorize(ev["customer_id"])
        key = pd.unique(crow * n + cols)
        pop = np.bincount(key % n, minlength=n).astype(float)
    else:
        pop = np.zeros(n)
    blocks.append(
        (sp.csr_matrix(_log_scaled(pop).reshape(-1, 1), dtype=np.float32), ["popularity"])
    )

    text_cols = [c for c in ("title", "description") if c in cat.columns]
    if tfidf_max_features > 0 and text_cols:
        from sklearn.feature_extraction.text import TfidfVectorizer

        text = cat[text_cols].astype(object).fillna("").astype(str).agg(" ".join, axis=1)
        if text.str.strip().str.len().gt(0).sum() >= max(tfidf_min_df, 1):
            vec = TfidfVectorizer(
                max_features=tfidf_max_features,
                min_df=min(tfidf_min_df, max(1, int(text.str.strip().str.len().gt(0).sum()))),
                stop_words="english",
                sublinear_tf=True,
                dtype=np.float32,
            )
            try:
                m = vec.fit_transform(text.to_list())
                blocks.append(
                    (sp.csr_matrix(m), [f"tfidf:{w}" for w in vec.get_feature_names_out()])
                )
            except ValueError:  # empty vocabulary (only stop words / rare words)
                pass
    return _hstack(blocks, n)


# ----------------------------------------------------------------------------------------------
# context
# ----------------------------------------------------------------------------------------------


def context_features(
    events: pd.DataFrame,
    matrix: sp.csr_matrix,
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    *,
    min_count: int = 1,
) -> tuple[sp.csr_matrix, list[str]]:
    """Context shares per stored (customer, product) pair of ``matrix``.

    Row ``k`` of the result describes the ``k``-th stored entry of ``matrix`` in CSR order (the order
    of ``matrix.indices``): the share of that pair's events in each hour bucket, weekday, device and
    location. Events of pairs not stored in ``matrix`` are ignored.

    Returns
    -------
    (scipy.sparse.csr_matrix, list of str)
        Shape ``(matrix.nnz, n_context_features)``.
    """
    m = sp.csr_matrix(matrix)
    m.sort_indices()
    nnz = m.nnz
    r = _index_of(events["customer_id"], customer_ids)
    c = _index_of(events["product_id"], product_ids)
    ok = (r >= 0) & (c >= 0)
    # position of each event's pair among the stored entries: CSR keys (row-major) are sorted
    n_cols = m.shape[1]
    row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    key_all = row_of * n_cols + m.indices.astype(np.int64)
    entry = np.full(len(r), -1, dtype=np.int64)
    idx = np.flatnonzero(ok)
    if nnz and len(idx):
        want = r[idx].astype(np.int64) * n_cols + c[idx]
        found = np.minimum(np.searchsorted(key_all, want), nnz - 1)
        hit = key_all[found] == want
        entry[idx[hit]] = found[hit]
    blocks: list[tuple[sp.csr_matrix, list[str]]] = []
    hb = hour_bucket(events["timestamp"])
    blocks.append(
        (_shares(entry, hb, nnz, len(TIME_OF_DAY)), [f"hour:{b[0]}" for b in TIME_OF_DAY])
    )
    wd = pd.DatetimeIndex(events["timestamp"]).weekday.to_numpy().astype(np.int64)
    blocks.append((_shares(entry, wd, nnz, 7), [f"weekday:{d}" for d in WEEKDAYS]))
    for col in ("device", "location"):
        if col in events.columns:
            codes, labels = _categories(events[col], min_count)
            blocks.append((_shares(entry, codes, nnz, len(labels)), [f"{col}:{v}" for v in labels]))
    return _hstack(blocks, nnz)


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------


def feature_summary(matrix: sp.spmatrix | None, names: Sequence[str], entity: str) -> pd.DataFrame:
    """One row per feature group (the part of a name before ``:``): columns, coverage, density.

    Columns: ``entity, group, features, rows_covered`` (share of rows with a non-zero in the group),
    ``mean_nonzeros`` (per covered row).
    """
    if matrix is None or matrix.shape[1] == 0:
        return pd.DataFrame(
            columns=["entity", "group", "features", "rows_covered", "mean_nonzeros"]
        )
    m = sp.csc_matrix(matrix)
    groups = pd.Series([n.split(":", 1)[0] for n in names])
    out = []
    for g in pd.unique(groups):
        cols = np.flatnonzero(groups.to_numpy() == g)
        sub = sp.csr_matrix(m[:, cols])
        per_row = np.diff(sub.indptr)
        covered = per_row > 0
        out.append(
            {
                "entity": entity,
                "group": g,
                "features": len(cols),
                "rows_covered": float(covered.mean()) if len(per_row) else 0.0,
                "mean_nonzeros": float(per_row[covered].mean()) if covered.any() else 0.0,
            }
        )
    return pd.DataFrame(out)
