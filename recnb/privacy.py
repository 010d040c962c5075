"""Privacy first: scrub personal data before anything else sees it, and check run folders for leaks.

:func:`scrub` is applied right after a source is loaded and validated. It

- drops the direct identifiers of :data:`recnb.schema.PERSONAL_COLUMNS` (name, email, phone, address);
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
key is never committed.

:func:`scan_run_folder` / :func:`assert_no_identifiers` scan every results file of a run (JSON, CSV,
Parquet, Markdown, HTML, notebooks, text) for raw identifiers: anything that looks like an email address,
and the known names, emails and original customer ids of the source. :func:`suppress_small_groups`
blanks the cells of group tables that describe fewer customers than a minimum.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.schema import PERSONAL_COLUMNS, Dataset

KEY_ENV_VAR = "RECNB_PSEUDONYM_KEY"
"""Environment variable holding the pseudonymization key."""

DEMO_KEY = b"recnb-public-demo-key-for-the-synthetic-shop-only"
"""The documented key used for the synthetic shop when no key is configured. It is public: never use
it for real customers (:func:`resolve_key` refuses to)."""

DEFAULT_AGE_EDGES: tuple[int, ...] = (18, 25, 35, 45, 55, 65)
"""Lower edges of the age bands: ``<18``, ``18-24``, ``25-34``, ..., ``65+``."""

SCANNED_SUFFIXES: tuple[str, ...] = (
    ".json",
    ".csv",
    ".tsv",
    ".parquet",
    ".md",
    ".html",
    ".htm",
    ".ipynb",
    ".txt",
    ".yaml",
    ".yml",
)
"""File types :func:`scan_run_folder` reads."""

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# column names / JSON keys in which a purely numeric value is read as a customer id
_ID_CONTEXT = re.compile(
    r"(customer|user|client|member)[ _-]?(id|ids|code|no|number|key)$", re.IGNORECASE
)
_TOKEN = re.compile(r"\w+(?:['.-]\w+)*")

MIN_IDENTIFIER_CHARS = 4
"""Non-numeric forbidden values with fewer letters and digits are not searched for."""


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


def scrub(
    ds: Dataset,
    key: bytes | str,
    *,
    min_age_band: int = 10,
    age_edges: Sequence[int] = DEFAULT_AGE_EDGES,
    postcode_chars: int = 2,
    min_region_size: int = 10,
    id_length: int = 16,
) -> Dataset:
    """Remove direct identifiers, pseudonymize customer ids and coarsen quasi-identifiers.

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

    Returns
    -------
    Dataset
        A new dataset: customers without personal columns, pseudonymous ``customer_id`` in customers and
        events, ``age_band`` / ``region`` instead of ``age`` / ``postcode``; one note per change; and
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
    notes.append(
        {
            "step": "privacy: pseudonymize customer ids",
            "rows": n,
            "reason": f"customer ids replaced by keyed HMAC-SHA256 pseudonyms ({id_length} hex "
            f"characters) in customers and events",
        }
    )
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
    }
    return Dataset(
        name=ds.name,
        customers=customers,
        products=ds.products.copy(),
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


# ----------------------------------------------------------------------------------------------
# scanning a run folder
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One kind of identifier found in one file.

    Attributes
    ----------
    file : str
        Path relative to the scanned folder.
    kind : str
        ``"email address"`` (pattern) or a key of the ``forbidden`` mapping (``"name"``...).
    count : int
        Distinct identifiers of that kind found in the file.
    example : str
        A masked example (first character kept), so the report itself leaks nothing.
    where : str
        Column, JSON key or ``"text"``.
    """

    file: str
    kind: str
    count: int
    example: str
    where: str

    def __str__(self) -> str:
        return f"{self.file}: {self.count} {self.kind}(s) in {self.where}, e.g. {self.example!r}"


def _mask(value: str) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    return f"{value[:1]}***({len(value)} chars)"


_Phrases = dict[str, list[tuple[str, ...]]]


class _Forbidden:
    """Normalized forbidden values, split by how they are matched."""

    def __init__(self, forbidden: dict[str, Iterable[str]]):
        # per kind: single-token values; multi-token values by first token; purely numeric values
        self.tokens: dict[str, set[str]] = {}
        self.phrases: dict[str, _Phrases] = {}
        self.numeric: dict[str, set[str]] = {}
        for kind, values in forbidden.items():
            tok: set[str] = set()
            phr: _Phrases = {}
            num: set[str] = set()
            for v in values:
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                s = str(v).strip().lower()
                if sum(ch.isalnum() for ch in s) < MIN_IDENTIFIER_CHARS and not s.isdigit():
                    continue  # "n/a", "-", initials: too short to tell apart from ordinary text
                if s.isdigit():
                    num.add(s.lstrip("0") or "0")
                    continue
                parts = tuple(_TOKEN.findall(s))
                if len(parts) == 1 and parts[0] == s:
                    tok.add(s)
                elif parts:
                    phr.setdefault(parts[0], []).append(parts)
            self.tokens[kind], self.phrases[kind], self.numeric[kind] = tok, phr, num

    def match_text(self, text: str, allow_numeric: bool) -> dict[str, set[str]]:
        low = text.lower()
        toks = _TOKEN.findall(low)
        tokset = set(toks)
        hits: dict[str, set[str]] = {}
        for kind in self.tokens:
            found = self.tokens[kind] & tokset
            phrases = self.phrases[kind]
            if phrases:
                starts = tokset & phrases.keys()
                if starts:
                    for i, t in enumerate(toks):
                        if t not in starts:
                            continue
                        for ph in phrases[t]:
                            if tuple(toks[i : i + len(ph)]) == ph:
                                found.add(" ".join(ph))
            if allow_numeric and self.numeric[kind]:
                nums = {t.lstrip("0") or "0" for t in tokset if t.isdigit()}
                found |= self.numeric[kind] & nums
            if found:
                hits[kind] = found
        return hits


def _emails(text: str, allow: set[str]) -> set[str]:
    return {e for e in EMAIL_PATTERN.findall(text) if e.lower() not in allow}


def _scan_text(
    text: str, where: str, rel: str, fb: _Forbidden, allow: set[str], id_context: bool
) -> list[Finding]:
    out: list[Finding] = []
    emails = _emails(text, allow)
    if emails:
        out.append(Finding(rel, "email address", len(emails), _mask(sorted(emails)[0]), where))
    for kind, found in fb.match_text(text, allow_numeric=id_context).items():
        out.append(Finding(rel, kind, len(found), _mask(sorted(found)[0]), where))
    return out


def _table_findings(df: pd.DataFrame, rel: str, fb: _Forbidden, allow: set[str]) -> list[Finding]:
    out: list[Finding] = []
    header = " ".join(map(str, df.columns))
    out += _scan_text(header, "column names", rel, fb, allow, False)
    for c in df.columns:
        s = df[c]
        id_ctx = bool(_ID_CONTEXT.search(str(c)))
        if isinstance(s.dtype, pd.CategoricalDtype):
            vals = s.cat.categories.astype(str)
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_float_dtype(s):
            if not id_ctx:  # numbers hold no names or emails; ids only under an id-like name
                continue
            v = s.dropna()
            v = v[(v % 1) == 0]
            vals = pd.Series(v.unique()).astype("int64").astype(str)
        elif pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            vals = pd.Series(s.dropna().unique()).astype(str)
        else:
            continue
        if not len(vals):
            continue
        out += _scan_text("\n".join(vals), f"column {c!r}", rel, fb, allow, id_ctx)
    return out


def _json_findings(obj: Any, rel: str, fb: _Forbidden, allow: set[str]) -> list[Finding]:
    plain: list[str] = []
    keyed: list[str] = []

    def walk(o: Any, id_ctx: bool) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                plain.append(str(k))
                walk(v, id_ctx or bool(_ID_CONTEXT.search(str(k))))
        elif isinstance(o, list):
            for v in o:
                walk(v, id_ctx)
        elif o is not None:
            (keyed if id_ctx else plain).append(str(o))

    walk(obj, False)
    out = _scan_text("\n".join(plain), "text", rel, fb, allow, False)
    if keyed:
        out += _scan_text("\n".join(keyed), "customer/user keys", rel, fb, allow, True)
    return _merge(out)


def _merge(findings: list[Finding]) -> list[Finding]:
    by: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        k = (f.file, f.kind, f.where)
        if k in by:
            f = Finding(f.file, f.kind, by[k].count + f.count, by[k].example, f.where)
        by[k] = f
    return list(by.values())


def scan_file(
    path: str | os.PathLike,
    forbidden: dict[str, Iterable[str]] | None = None,
    *,
    root: str | os.PathLike | None = None,
    allow_emails: Iterable[str] = (),
) -> list[Finding]:
    """Scan one file for raw identifiers (see :func:`scan_run_folder`)."""
    path = Path(path)
    rel = str(path.relative_to(root)) if root is not None else str(path)
    return _scan_file(path, rel, _Forbidden(forbidden or {}), {a.lower() for a in allow_emails})


def _scan_file(path: Path, rel: str, fb: _Forbidden, allow: set[str]) -> list[Finding]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _table_findings(pd.read_parquet(path), rel, fb, allow)
    if suffix in (".csv", ".tsv"):
        try:
            df = pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError):
            df = None
        if df is not None:
            return _table_findings(df, rel, fb, allow)
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".json", ".ipynb"):
        try:
            return _json_findings(json.loads(text), rel, fb, allow)
        except json.JSONDecodeError:
            pass
    return _scan_text(text, "text", rel, fb, allow, False)


def scan_run_folder(
    run_dir: str | os.PathLike,
    forbidden: dict[str, Iterable[str]],
    *,
    suffixes: Sequence[str] = SCANNED_SUFFIXES,
    allow_emails: Iterable[str] = (),
) -> list[Finding]:
    """Scan every results file of a run for raw identifiers.

    Parameters
    ----------
    run_dir : str or path
        The run folder (scanned recursively).
    forbidden : dict of str -> iterable of str
        Known raw identifiers by kind, for example ``{"name": names, "email": emails,
        "customer id": original_ids}``. Matching is case-insensitive on whole words (a multi-word
        name matches as a phrase). Purely numeric values (such as Online Retail's 5-digit customer
        ids) would match ordinary counts in free text, so they are looked for only where a customer
        id can stand: table columns and JSON keys named like ``customer_id``, ``CustomerID``,
        ``user_id``, ``client_no`` (see ``_ID_CONTEXT``).
    suffixes : sequence of str
        File types read (default :data:`SCANNED_SUFFIXES`).
    allow_emails : iterable of str
        Addresses that may appear (for example a project contact).

    Returns
    -------
    list of Finding
        Empty when the folder is clean. Any string matching :data:`EMAIL_PATTERN` is a finding too.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: run folder not found")
    fb = _Forbidden(forbidden)
    allow = {a.lower() for a in allow_emails}
    wanted = {s.lower() for s in suffixes}
    out: list[Finding] = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith("."):
            out += _scan_file(p, str(p.relative_to(root)), fb, allow)
    return out


def assert_no_identifiers(
    run_dir: str | os.PathLike,
    forbidden: dict[str, Iterable[str]],
    **kwargs: Any,
) -> None:
    """Raise :class:`PrivacyError` naming each file and kind of identifier found (see
    :func:`scan_run_folder`, whose keyword arguments this accepts)."""
    findings = scan_run_folder(run_dir, forbidden, **kwargs)
    if findings:
        lines = "\n".join(f"  - {f}" for f in findings[:20])
        more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
        raise PrivacyError(
            f"privacy check failed: raw identifiers in {len({f.file for f in findings})} file(s) of "
            f"{run_dir}:\n{lines}{more}"
        )


def forbidden_from_raw(ds: Dataset) -> dict[str, list[str]]:
    """The identifiers a scan should look for, from a raw (unscrubbed) dataset.

    Returns ``{"name": ..., "email": ..., "phone": ..., "address": ..., "customer id": ...}`` with
    the kinds the customers table has. Keep the result in memory only.
    """
    out: dict[str, list[str]] = {}
    c = ds.customers
    for col, kind in (
        ("name", "name"),
        ("email", "email"),
        ("phone", "phone"),
        ("address", "address"),
    ):
        if col in c.columns:
            out[kind] = [str(v) for v in c[col].dropna().unique()]
    out["customer id"] = [str(v) for v in c["customer_id"].unique()]
    return out
