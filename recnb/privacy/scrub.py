"""Scrub personal data right after a source is loaded, before anything else sees it.

:func:`scrub` is applied right after a source is loaded and validated. It

- drops the direct identifiers of :data:`recnb.data.schema.PERSONAL_COLUMNS` (name, email, phone, address);
- replaces e-mail addresses and phone numbers inside every free-text column (product titles and
  descriptions, any other string column of the three tables except the ids) by a placeholder, see
  :func:`scrub_free_text` and :mod:`recnb.privacy.patterns`; the count is a note of the dataset (the
  table stage 01 shows);
- replaces every customer id, in the customers *and* the events table, by a keyed pseudonym: the
  HMAC-SHA256 of the original id under a secret key, as hex truncated to ``id_length`` characters. The
  same key gives the same pseudonyms (runs stay comparable); without the key the mapping cannot be
  recomputed or reversed;
- coarsens quasi-identifiers: an exact ``age`` becomes an ``age_band`` (bands with fewer than
  ``min_age_band`` customers are merged with a neighbour), a ``postcode`` becomes its leading
  characters (the postcode area) in ``region`` when the source has no region, and rare areas become
  ``"other"``.

The key comes from :func:`resolve_key`: the ``RECNB_PSEUDONYM_KEY`` environment variable, else the params
file's ``data.pseudonym_key``, else, for the synthetic shop only, the documented :data:`DEMO_KEY` (the
synthetic shop holds no real person, so a public key protects nothing there and costs nothing). A real
key is never committed. :func:`suppress_small_groups` blanks the cells of group tables that describe
fewer customers than a minimum.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.schema import PERSONAL_COLUMNS, Dataset
from recnb.privacy.patterns import PHONE_REGIONS, has_contact_details, scrub_text

KEY_ENV_VAR = "RECNB_PSEUDONYM_KEY"
"""Environment variable holding the pseudonymization key."""

DEMO_KEY = b"recnb-public-demo-key-for-the-synthetic-shop-only"
"""The documented key used for the synthetic shop when no key is configured. It is public: never use
it for real customers (:func:`resolve_key` refuses to)."""

DEFAULT_AGE_EDGES: tuple[int, ...] = (18, 25, 35, 45, 55, 65)
"""Lower edges of the age bands: ``<18``, ``18-24``, ``25-34``, ..., ``65+``."""

ID_COLUMNS: tuple[str, ...] = ("customer_id", "product_id", "session_id")
"""Identifier columns :func:`scrub_free_text` leaves alone (ids are not free text)."""


class PrivacyError(RuntimeError):
    """A run folder holds a raw identifier, or no pseudonymization key is available."""


# ----------------------------------------------------------------------------------------------
# key and pseudonyms
# ----------------------------------------------------------------------------------------------


def resolve_key(params_key: str | None, *, allow_demo: bool = False) -> bytes:
    """The pseudonymization key: environment variable, else params, else (synthetic only) the demo key.

    Parameters
    ----------
    params_key : str or None
        ``data.pseudonym_key`` from the params file.
    allow_demo : bool
        Whether the public :data:`DEMO_KEY` may be used when nothing is configured (only for the
        synthetic shop, whose customers are invented).

    Returns
    -------
    bytes
        The key, UTF-8 encoded.

    Raises
    ------
    PrivacyError
        If no key is configured and the demo key is not allowed, or the key is empty.
    """
    env = os.environ.get(KEY_ENV_VAR)
    if env:
        return env.encode("utf-8")
    if params_key is not None:
        if not str(params_key).strip():
            raise PrivacyError("data.pseudonym_key is empty; give a secret key or unset it")
        return str(params_key).encode("utf-8")
    if allow_demo:
        return DEMO_KEY
    raise PrivacyError(
        f"no pseudonymization key: set the environment variable {KEY_ENV_VAR} (preferred) or "
        f"data.pseudonym_key in the params file; real customer ids are never used unkeyed"
    )


def pseudonymize(ids: Iterable[Any], key: bytes | str, length: int = 16) -> np.ndarray:
    """Keyed pseudonyms: hex HMAC-SHA256 of each id (as a string) truncated to ``length`` characters.

    Parameters
    ----------
    ids : iterable
        Original ids; converted with ``str``.
    key : bytes or str
        Secret key.
    length : int
        Number of hex characters kept (8 to 64).

    Returns
    -------
    numpy.ndarray of str (object)
    """
    if not 8 <= length <= 64:
        raise ValueError(f"pseudonym length must be between 8 and 64 hex characters, got {length}")
    k = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not k:
        raise PrivacyError("pseudonymization key is empty")
    out = [hmac.new(k, str(i).encode("utf-8"), hashlib.sha256).hexdigest()[:length] for i in ids]
    return np.asarray(out, dtype=object)


def _pseudonym_map(ids: Iterable[Any], key: bytes | str, length: int) -> dict[str, str]:
    uniq = pd.unique(pd.Series(list(ids), dtype=object).astype(str))
    pseud = pseudonymize(uniq, key, length)
    if len(pd.unique(pseud)) != len(uniq):
        raise PrivacyError(
            f"pseudonym collision among {len(uniq)} customer ids at {length} hex characters; "
            f"increase id_length"
        )
    return dict(zip(uniq, pseud, strict=True))


def _map_ids(col: pd.Series, mapping: dict[str, str]) -> pd.Series:
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [mapping[str(c)] for c in col.cat.categories]
        return col.cat.rename_categories(cats)
    return col.astype(str).map(mapping).astype(object)


# ----------------------------------------------------------------------------------------------
# quasi-identifiers
# ----------------------------------------------------------------------------------------------


def _band_label(lo: float, hi: float) -> str:
    if not np.isfinite(lo) and not np.isfinite(hi):
        return "all ages"
    if not np.isfinite(lo):
        return f"<{int(hi)}"
    if not np.isfinite(hi):
        return f"{int(lo)}+"
    return f"{int(lo)}-{int(hi) - 1}"


def age_bands(
    age: pd.Series, edges: Sequence[int] = DEFAULT_AGE_EDGES, min_count: int = 0
) -> pd.Series:
    """Exact ages -> band labels such as ``"25-34"``; bands with fewer than ``min_count`` people merged.

    Parameters
    ----------
    age : pandas.Series
        Ages in years (NaN stays missing).
    edges : sequence of int
        Increasing lower band edges; below the first edge is ``"<first"``, from the last ``"last+"``.
    min_count : int
        A band holding fewer people is merged with its smaller neighbour, repeatedly, until every band
        holds at least ``min_count`` (or one band is left).

    Returns
    -------
    pandas.Series
        Categorical of band labels, ordered by age.
    """
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"age band edges must increase, got {list(edges)}")
    bounds = [-np.inf, *edges, np.inf]
    vals = pd.to_numeric(age, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(vals)

    def counts(b: list[float]) -> np.ndarray:
        idx = np.searchsorted(np.asarray(b[1:-1]), vals[known], side="right")
        return np.bincount(idx, minlength=len(b) - 1)

    # merge every band holding 1..min_count-1 people with its smaller non-empty neighbour
    while min_count > 0 and len(bounds) > 2:
        c = counts(bounds)
        small = np.flatnonzero((c > 0) & (c < min_count))
        if len(small) == 0:
            break
        i = int(small[np.argmin(c[small])])
        nbrs = [j for j in (i - 1, i + 1) if 0 <= j < len(c)]
        nonempty = [j for j in nbrs if c[j] > 0] or nbrs
        j = min(nonempty, key=lambda k: (c[k], k))
        del bounds[max(i, j)]  # remove the boundary between bands i and j
    labels = [_band_label(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    idx = np.searchsorted(np.asarray(bounds[1:-1]), vals, side="right")
    codes = np.where(known, idx, -1)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=labels, ordered=True), index=age.index
    )


def postcode_area(postcode: pd.Series, chars: int = 2, min_count: int = 0) -> pd.Series:
    """Postcodes -> their leading ``chars`` characters (upper case, spaces removed).

    Areas with fewer than ``min_count`` people become ``"other"``; missing stays missing.
    """
    if chars < 1:
        raise ValueError(f"postcode_chars must be >= 1, got {chars}")
    s = postcode.astype(object).where(postcode.notna(), None)
    area = s.map(
        lambda v: None if v is None else re.sub(r"\s+", "", str(v)).upper()[:chars] or None
    )
    if min_count > 0:
        vc = area.value_counts()
        rare = vc.index[vc < min_count]
        area = area.where(~area.isin(rare), "other")
    return area.astype("category")


# ----------------------------------------------------------------------------------------------
# scrub
# ----------------------------------------------------------------------------------------------


def _text_values(s: pd.Series) -> pd.Index | None:
    """The distinct string values of a text column, or None if the column holds no text."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        return cats if cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype) else None
    if pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
        return pd.Index(pd.unique(s.dropna()))
    return None


def scrub_free_text(
    df: pd.DataFrame,
    table: str,
    *,
    exclude: Sequence[str] = ID_COLUMNS,
    regions: Sequence[str] = PHONE_REGIONS,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Replace e-mail addresses and phone numbers in every text column of a table by placeholders.

    Every column holding strings (object, string or categorical of strings) is free text here, except
    the identifier columns in ``exclude``: product titles and descriptions, brands, categories, and
    whatever other text a source brings. Detection and placeholders are those of
    :func:`recnb.privacy.patterns.scrub_text`. Work is done once per distinct value.

    Parameters
    ----------
    df : pandas.DataFrame
        One table of a dataset.
    table : str
        Its name, for the counts.
    exclude : sequence of str
        Columns left alone.
    regions : sequence of str
        Regions whose national phone formats are recognised.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        The table (the same object when nothing changed, else a copy) and one entry per text column
        looked at: ``table``, ``column``, ``rows`` changed, ``emails`` and ``phones`` replaced (counted
        over rows).
    """
    out = df
    counts: list[dict[str, Any]] = []
    for col in df.columns:
        if col in exclude:
            continue
        s = df[col]
        values = _text_values(s)
        if values is None:
            continue
        entry = {"table": table, "column": str(col), "rows": 0, "emails": 0, "phones": 0}
        counts.append(entry)
        hits: dict[Any, tuple[str, int, int]] = {}
        for v in values:
            if isinstance(v, str) and has_contact_details(v):
                new, n_email, n_phone = scrub_text(v, regions)
                if n_email or n_phone:
                    hits[v] = (new, n_email, n_phone)
        if not hits:
            continue
        mask = s.isin(list(hits)).to_numpy()
        per_value = s[mask].astype(object).value_counts()
        entry["rows"] = int(mask.sum())
        entry["emails"] = int(sum(hits[v][1] * n for v, n in per_value.items()))
        entry["phones"] = int(sum(hits[v][2] * n for v, n in per_value.items()))
        obj = s.astype(object)
        new_col = obj.where(~mask, obj.map({v: h[0] for v, h in hits.items()}))
        if out is df:
            out = df.copy()
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = new_col.astype("category")
        elif pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            out[col] = new_col.astype(s.dtype)
        else:
            out[col] = new_col
    return out, counts


def _free_text_note(counts: list[dict[str, Any]]) -> dict[str, Any]:
    changed = [c for c in counts if c["rows"]]
    where = ", ".join(f"{c['table']}.{c['column']}" for c in counts)
    if not changed:
        reason = f"no e-mail address or phone number found in the text columns ({where})"
    else:
        emails = sum(c["emails"] for c in changed)
        phones = sum(c["phones"] for c in changed)
        per_col = ", ".join(f"{c['table']}.{c['column']} {c['rows']:,} rows" for c in changed)
        reason = (
            f"{emails:,} e-mail address(es) and {phones:,} phone number(s) in free text replaced by "
            f"placeholders ({per_col}); text columns checked: {where}"
        )
    return {
        "step": "privacy: scrub free text",
        "rows": sum(c["rows"] for c in changed),
        "reason": reason,
    }


def scrub(
    ds: Dataset,
    key: bytes | str,
    *,
    min_age_band: int = 10,
    age_edges: Sequence[int] = DEFAULT_AGE_EDGES,
    postcode_chars: int = 2,
    min_region_size: int = 10,
    id_length: int = 16,
    phone_regions: Sequence[str] = PHONE_REGIONS,
    pseudonymize_ids: bool = True,
) -> Dataset:
    """Remove direct identifiers, scrub free text, pseudonymize customer ids, coarsen quasi-identifiers.

    Parameters
    ----------
    ds : Dataset
        A validated dataset, straight from its source.
    key : bytes or str
        Secret pseudonymization key (see :func:`resolve_key`).
    min_age_band : int
        Minimum number of customers per age band; smaller bands are merged with a neighbour.
    age_edges : sequence of int
        Lower edges of the age bands (see :func:`age_bands`).
    postcode_chars : int
        Leading postcode characters kept as the area.
    min_region_size : int
        Postcode areas with fewer customers become ``"other"``.
    id_length : int
        Hex characters of the pseudonyms.
    phone_regions : sequence of str
        Regions whose national phone formats the free-text scrub recognises (see
        :func:`scrub_free_text`).
    pseudonymize_ids : bool
        False for a dataset whose customer ids are already this key's pseudonyms (the serving
        event store, ``data.source: events_db``; the caller checks the key): the ids are kept and
        a note says so. Everything else is scrubbed as usual.

    Returns
    -------
    Dataset
        A new dataset: customers without personal columns, free text without e-mail addresses and phone
        numbers, pseudonymous ``customer_id`` in customers and events, ``age_band`` / ``region``
        instead of ``age`` / ``postcode``; one note per change (the free-text scrub always, with its
        counts, even when it found nothing); and
        ``meta["privacy"]`` describing what was done (never the key or the mapping).
    """
    customers = ds.customers.copy()
    events = ds.events.copy()
    notes = list(ds.notes)
    n = len(customers)

    dropped = [c for c in PERSONAL_COLUMNS if c in customers.columns]
    if dropped:
        customers = customers.drop(columns=dropped)
        notes.append(
            {
                "step": "privacy: drop direct identifiers",
                "rows": n,
                "reason": f"removed column(s) {dropped} from customers",
            }
        )
    for table_name, df in (("products", ds.products), ("events", events)):
        personal = [c for c in PERSONAL_COLUMNS if c in df.columns]
        if personal:
            raise PrivacyError(
                f"{table_name} holds personal column(s) {personal}; personal data belongs in the "
                f"customers table only (fix the loader)"
            )

    products = ds.products
    text_counts: list[dict[str, Any]] = []
    scrubbed: dict[str, pd.DataFrame] = {}
    for table_name, df in (("customers", customers), ("products", products), ("events", events)):
        scrubbed[table_name], c = scrub_free_text(df, table_name, regions=phone_regions)
        text_counts += c
    customers, products, events = scrubbed["customers"], scrubbed["products"], scrubbed["events"]
    if text_counts:
        notes.append(_free_text_note(text_counts))

    if "age" in customers.columns:
        band = age_bands(customers["age"], age_edges, min_age_band)
        if "age_band" in customers.columns:
            band = band.astype(object).where(band.notna(), customers["age_band"].astype(object))
            band = band.astype("category")
        customers["age_band"] = band
        customers = customers.drop(columns=["age"])
        notes.append(
            {
                "step": "privacy: coarsen age",
                "rows": n,
                "reason": f"exact age replaced by age_band ({len(band.cat.categories)} bands, "
                f"each with >= {min_age_band} customers where possible)",
            }
        )
    if "postcode" in customers.columns:
        if "region" in customers.columns:
            what = "postcode dropped (region already present)"
        else:
            customers["region"] = postcode_area(
                customers["postcode"], postcode_chars, min_region_size
            )
            what = (
                f"postcode replaced by region = first {postcode_chars} characters "
                f"(areas with < {min_region_size} customers -> 'other')"
            )
        customers = customers.drop(columns=["postcode"])
        notes.append({"step": "privacy: coarsen postcode", "rows": n, "reason": what})

    if pseudonymize_ids:
        ev_ids = events["customer_id"]
        ev_uniq = ev_ids.cat.categories if isinstance(ev_ids.dtype, pd.CategoricalDtype) else None
        all_ids = pd.concat(
            [
                customers["customer_id"].astype(str),
                pd.Series(ev_uniq if ev_uniq is not None else ev_ids.unique()).astype(str),
            ]
        )
        mapping = _pseudonym_map(all_ids, key, id_length)
        customers["customer_id"] = _map_ids(customers["customer_id"], mapping)
        events["customer_id"] = _map_ids(ev_ids, mapping)
        what = (
            f"customer ids replaced by keyed HMAC-SHA256 pseudonyms ({id_length} hex characters) "
            "in customers and events"
        )
    else:
        what = "customer ids kept: they are already pseudonyms under this key (key check matched)"
    notes.append({"step": "privacy: pseudonymize customer ids", "rows": n, "reason": what})
    meta = dict(ds.meta)
    meta["privacy"] = {
        "pseudonymized": True,
        "method": "HMAC-SHA256, hex",
        "id_length": id_length,
        "dropped_columns": dropped,
        "age_edges": list(age_edges),
        "min_age_band": min_age_band,
        "postcode_chars": postcode_chars,
        "min_region_size": min_region_size,
        "free_text": {
            "columns": [f"{c['table']}.{c['column']}" for c in text_counts],
            "rows": sum(c["rows"] for c in text_counts),
            "emails": sum(c["emails"] for c in text_counts),
            "phones": sum(c["phones"] for c in text_counts),
            "phone_regions": list(phone_regions),
        },
    }
    return Dataset(
        name=ds.name,
        customers=customers,
        products=products.copy() if products is ds.products else products,
        events=events,
        notes=notes,
        meta=meta,
    )


# ----------------------------------------------------------------------------------------------
# small groups
# ----------------------------------------------------------------------------------------------


def suppress_small_groups(
    df: pd.DataFrame,
    count_col: str,
    min_count: int = 10,
    value_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank the cells of groups describing fewer than ``min_count`` customers.

    Parameters
    ----------
    df : pandas.DataFrame
        A group table: one row per group with its customer count in ``count_col``.
    count_col : str
        Column with the number of customers in the group.
    min_count : int
        Smallest group whose figures are shown.
    value_cols : sequence of str, optional
        Columns blanked (set to NaN) in small groups; default every numeric column, the count included.

    Returns
    -------
    pandas.DataFrame
        A copy with the small groups' figures set to NaN and a boolean ``suppressed`` column.
    """
    if count_col not in df.columns:
        raise KeyError(
            f"suppress_small_groups: count column {count_col!r} not in {list(df.columns)}"
        )
    if value_cols is None:
        value_cols = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
        value_cols = [c for c in value_cols if not pd.api.types.is_bool_dtype(df[c])]
    missing = [c for c in value_cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"suppress_small_groups: value column(s) {missing} not in {list(df.columns)}"
        )
    out = df.copy()
    small = pd.to_numeric(out[count_col], errors="coerce").fillna(0).to_numpy() < min_count
    for c in value_cols:
        out[c] = out[c].astype("float64").where(~small, np.nan)
    out["suppressed"] = small
    return out
