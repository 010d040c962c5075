"""The run-folder scan: find raw identifiers in every file a run wrote; move a leaking file out.

:func:`check_run_folder` (called by the runner after every run, failed or not) reads every file of the
run folder, looks for the raw identifiers of the source (:func:`forbidden_from_raw`: names, e-mails,
phones, addresses, original customer ids) and for anything shaped like an e-mail address or a phone
number (:mod:`recnb.privacy.patterns`), and moves each file with a finding out of the run folder
(:func:`quarantine`). :func:`scan_run_folder` / :func:`assert_no_identifiers` are the same scan without
the move.

What is read
------------
Tables (Parquet, CSV/TSV, the tables of HTML reports and notebook outputs, Markdown pipe tables, the
fixed-width tables a notebook prints, JSON values grouped by key, string arrays in ``.npz``) are read
column by column; everything else that is text (HTML prose and inline scripts, notebook sources,
outputs and tracebacks, Markdown, JSON strings, any other text file) is read as free text. Embedded
images (``data:`` URIs) and binary files (PNG figures, numeric ``.npz`` arrays) are not read: a raw id
drawn into the pixels of a figure is not found.

How a raw value is matched
--------------------------
Names, e-mail addresses, phone numbers and addresses (at least :data:`MIN_IDENTIFIER_CHARS` letters or
digits, so ``"n/a"`` is not searched) are matched case-insensitively as whole words, a multi-word
value as a phrase, in every cell and every text.

A raw **customer id** is matched exactly, whatever its length, but *where* it is looked for depends on
whether it can be told apart from the ordinary numbers and words of a report. An id is
**distinctive** when

- it is a number of at least :data:`DISTINCTIVE_MIN_DIGITS` digits drawn from a sparse id space: at
  most :data:`DISTINCTIVE_MAX_DENSITY` of all numbers of that length are customer ids of the source
  (Online Retail's 4,372 five-digit ids are 1 in 21 five-digit numbers; RetailRocket's visitor ids are
  distinctive from 1,000,000 up, where 1 in 22 seven-digit numbers is an id, but not below, where
  nearly every number is one); or
- it is not a number and has at least 4 letters and digits, or mixes letters and digits (``c7``,
  ``C00001``, a hex code);

and it is not also a value the source legitimately shows elsewhere (:func:`other_ids_from_raw`): a
product or session id (Online Retail stock code ``15036`` is a product *and* customer 15036; MovieLens
movie 1 and user 1) or a number printed in the catalogue's own text (``SET 10 CARDS PERFECT POST
17090``). Every other id (MovieLens user ids 1..610, RetailRocket's ids below a million, ``7``, ``12``,
``ab``) is **ambiguous**: the same string is a count, a k, a rating, an hour, a product. Measured on
real run folders (``benchmarks/bench_privacy_scan.py``): 0 of 610 MovieLens ids, 4,312 of 4,372
Online Retail ids and all 20,000 ids of the synthetic shop are distinctive.

=========================================================  ===============================================
where                                                      what is flagged
=========================================================  ===============================================
a column or JSON key named for a customer (``customer``,   every cell equal to any raw id, distinctive or
``CustomerID``, ``user_id``, ``userId``, ``visitorid``,    not (numbers compared as numbers: ``12346``,
``client_no``, ``buyer``, ``uid``, ``top_customer``...;    ``12346.0``, ``12,346`` and ``012346`` are the
see :func:`is_customer_column`); a JSON list under a       same id)
plural such key (``"customers": [...]``)
the text cells of any other column                         a cell equal to a distinctive id, and the text
                                                           rules below inside the cell
the numeric cells of any other column (numbers, or text    the column, when at least
that is a number)                                          :data:`ID_COLUMN_MIN_MATCHES` of its distinct
                                                           values and at least :data:`ID_COLUMN_SHARE` of
                                                           them are distinctive ids: a column of ids, not a
                                                           count that happens to equal one
free text                                                  a distinctive id as a whole token (``12346`` in
                                                           "bought by 12346 in May"; not inside ``0.12346``,
                                                           ``12,346``, ``123465`` or ``x12346``); any id
                                                           right after a customer word: "customer 7",
                                                           "user #12", "visitorid=57", "CustomerID: 17850"
=========================================================  ===============================================

A printed (fixed-width) table or a Markdown table is read like any table: a column under a customer
header is a customer column.

Not flagged, by design, because the same text is ordinary report content: an ambiguous id standing
alone in prose or in a column not named for a customer ("610 customers", "k = 10", "hour 7", a column
``x`` holding MovieLens user ids); a single distinctive id in a numeric column whose other values are
not ids (a count that equals an id); a number written with thousands separators in prose (reports
write counts that way: ``12,346 events``); an id drawn in a figure. A column named for a customer
(``customer``, ``user_id``, ...) is a customer column whatever its type, with no exemption: the
project's own row index into the split is named ``customer_row``, which is not a customer name. The
result of a check records how many ids of the source are distinctive (``id_matching``), so a reader
of the run sees how much of the scan is exact everywhere and how much relies on names and context.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.schema import Dataset
from recnb.privacy.patterns import EMAIL_PATTERN, find_phones, has_contact_details
from recnb.privacy.scrub import PrivacyError

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
    ".npz",
)
"""File types read by their format; any other file is read as text when it is text (no NUL byte)."""

MIN_IDENTIFIER_CHARS = 4
"""Names, e-mails, phones and addresses with fewer letters and digits are not searched for (``"n/a"``,
initials). Customer ids are searched whatever their length."""

DISTINCTIVE_MIN_DIGITS = 5
"""A numeric customer id needs at least this many digits to be searched for in free text on its own.
Years (``2011``), hours, k values, seeds and most counts have fewer."""

DISTINCTIVE_MAX_DENSITY = 0.1
"""...and at most this share of all numbers of its length may be customer ids of the source."""

ID_COLUMN_MIN_MATCHES = 2
"""A numeric column not named for a customer is taken for a column of raw ids when at least this many
of its distinct values are distinctive ids..."""

ID_COLUMN_SHARE = 0.5
"""...and at least this share of its distinct values are."""

TWIN_SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".tsv", ".json")
"""A results table is written in several formats with one name (``x.parquet`` and ``x.csv``): a
finding in one moves its twins out with it."""

HANDOVER_FOLDERS: tuple[str, ...] = ("data", "split")
"""Run-folder subfolders that later stages read as a whole (the cached dataset, the split): a finding
in one of their files moves the whole folder, so no stage reads a part of it."""

QUARANTINE_DIR_NAME = ".quarantine"
"""Folder beside the run folders (``<reports>/.quarantine/<run>/<UTC time>/``) that receives the files
moved out of a run folder."""

_CUSTOMER_WORDS = (
    "customer",
    "cust",
    "user",
    "visitor",
    "client",
    "member",
    "buyer",
    "shopper",
    "consumer",
    "account",
    "person",
    "subscriber",
    "patron",
    "guest",
)
_ID_SUFFIXES = ("id", "ids", "key", "code", "no", "nr", "num", "number", "ref", "identifier")
_WORDS = "|".join(_CUSTOMER_WORDS)
_SUFFIXES = "|".join(_ID_SUFFIXES)
_CUSTOMER_COLUMN = re.compile(rf"(?:^|_)(?:(?:{_WORDS})(?:_?(?:{_SUFFIXES}))?|uid)$")
_CUSTOMER_LIST = re.compile(rf"(?:^|_)(?:{_WORDS})s?(?:_?ids?)?$")
# words that make a following number a customer id in prose; the weaker ones only with an id suffix
_STRONG = "customer|cust|user|visitor|client|buyer|shopper"
_WEAK = "member|account|person|consumer|subscriber|patron|guest"
_ID_TOKEN_SRC = r"\d{1,3}(?:,\d{3})+(?![\d])|[A-Za-z0-9]+(?:[._:/-][A-Za-z0-9]+)*"
_CONTEXT = re.compile(
    rf"(?<![A-Za-z])(?:(?:{_STRONG})(?:[ _-]?(?:{_SUFFIXES}))?|(?:{_WEAK})[ _-]?(?:{_SUFFIXES})|uid)"
    rf"(?![A-Za-z])[ \t]*(?:[#:=]|\bis\b|\bwas\b)?[ \t]*[#]?"
    rf"((?:{_ID_TOKEN_SRC})(?:[ \t]*(?:,|\band\b|\bor\b|&)[ \t]*(?:{_ID_TOKEN_SRC}))*)",
    re.IGNORECASE,
)
_ID_TOKEN = re.compile(_ID_TOKEN_SRC)
_WORD_TOKEN = re.compile(r"\w+(?:['.-]\w+)*")
_INT = re.compile(r"^\+?(\d+)(?:\.0+)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_NON_ALNUM = re.compile(r"[\W_]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")


class PrivacyScanError(PrivacyError):
    """The scan found raw identifiers (the message names each file and kind, never the value)."""


def _snake(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def is_customer_column(name: Any) -> bool:
    """Whether a column name or JSON key names a customer (so every value in it is an id to check).

    A customer word (customer, cust, user, visitor, client, member, buyer, shopper, consumer, account,
    person, subscriber, patron, guest), optionally followed by an id word (id, key, code, no, number,
    ...), at the end of the name, in any case or spelling: ``customer``, ``CustomerID``, ``Customer
    ID``, ``user_id``, ``userId``, ``visitorid``, ``client_no``, ``top_customer``, ``uid``. Plurals and
    measures are not customer columns: ``customers``, ``n_customers``, ``cold_customers``,
    ``customer_share`` hold counts or shares.
    """
    return bool(_CUSTOMER_COLUMN.search(_snake(name)))


def _canon(value: Any, grouped: bool = False) -> str | None:
    """Canonical form for comparing: numbers as digit strings, text lower-cased, blanks collapsed."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return str(abs(int(value)))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value) or value != int(value):
            return None
        return str(abs(int(value)))
    s = str(value)
    if not s:
        return None
    if s.isdigit():  # the common case, fast
        return s.lstrip("0") or "0"
    if s[0].isspace() or s[-1].isspace():
        s = s.strip()
        if not s:
            return None
    if s[0].isdigit() or s[0] == "+":
        m = _INT.match(s)
        if m:
            return m.group(1).lstrip("0") or "0"
        if grouped and _GROUPED.match(s):
            return s.replace(",", "").lstrip("0") or "0"
    if s.isalnum():
        return s.lower()
    return " ".join(s.lower().split())


def _is_id_kind(kind: str) -> bool:
    return "id" in re.split(r"[^a-z]+", kind.lower())


@dataclass(frozen=True)
class Finding:
    """One kind of identifier found in one place of one file.

    Attributes
    ----------
    file : str
        Path relative to the scanned folder.
    kind : str
        ``"email address"`` / ``"phone number"`` (shapes) or a key of the ``forbidden`` mapping
        (``"name"``, ``"customer id"``...).
    count : int
        Distinct identifiers of that kind found there.
    example : str
        A masked example (``"a***@e***"``, ``"C***(10 chars)"``, ``"<5 characters>"`` for an id), so
        the report itself leaks nothing.
    where : str
        Column, JSON key, notebook cell or ``"text"``.
    """

    file: str
    kind: str
    count: int
    example: str
    where: str

    def __str__(self) -> str:
        return f"{self.file}: {self.count} {self.kind}(s) in {self.where}, e.g. {self.example!r}"


def _mask(value: str, kind: str) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    if _is_id_kind(kind) or kind == "phone number" or value.replace(" ", "").isdigit():
        return f"<{len(value)} characters>"
    return f"{value[:1]}***({len(value)} chars)"


class Identifiers:
    """The raw values a scan looks for, sorted by how they can be matched (see the module docstring).

    Parameters
    ----------
    forbidden : mapping of str -> iterable
        Raw values by kind (``{"name": [...], "customer id": [...]}``); a kind whose name has the word
        ``id`` holds identifiers, any other kind text values (names, e-mails, phones, addresses).
    other_ids : iterable, optional
        Ids of other things (products, sessions) that legitimately appear in reports; a customer id
        equal to one of them is ambiguous.
    """

    def __init__(self, forbidden: Mapping[str, Iterable[Any]], other_ids: Iterable[Any] = ()):
        other = {c for c in _canon_many(list(other_ids)) if c is not None}
        self.kinds = list(forbidden)
        self.ids: dict[str, str] = {}  # canonical id -> kind, every id
        self.distinctive: dict[str, str] = {}  # canonical id -> kind, searched everywhere
        self.tokens: dict[str, str] = {}  # one-word text value -> kind
        # multi-word values by their first two words
        self.bigrams: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        stats: dict[str, dict[str, int]] = {}
        for kind, values in forbidden.items():
            vals = [v for v in values if not _missing(v)]
            canon = {c for c in _canon_many(vals) if c is not None}
            if _is_id_kind(kind):
                numeric = [c for c in canon if c.isdigit()]
                dense = _dense_lengths(numeric)
                n_dist = n_num_dist = 0
                for c in canon:
                    self.ids.setdefault(c, kind)
                    if c in other:
                        continue
                    if c.isdigit():
                        ok = len(c) >= DISTINCTIVE_MIN_DIGITS and len(c) not in dense
                        n_num_dist += ok
                    else:
                        alnum = c if c.isalnum() else _NON_ALNUM.sub("", c)
                        has_both = not alnum.isdigit() and not alnum.isalpha()
                        ok = len(alnum) >= 4 or (len(alnum) >= 2 and has_both)
                    if ok:
                        self.distinctive.setdefault(c, kind)
                        n_dist += 1
                stats[kind] = {
                    "ids": len(canon),
                    "numeric": len(numeric),
                    "distinctive": n_dist,
                    "numeric_distinctive": n_num_dist,
                    "also_product_or_session_ids": len(canon & other),
                }
            else:
                for c in canon:
                    if len(c) < MIN_IDENTIFIER_CHARS or (
                        not c.isalnum() and len(_NON_ALNUM.sub("", c)) < MIN_IDENTIFIER_CHARS
                    ):
                        continue  # "n/a", "-", initials: too short to tell apart from ordinary text
                    parts = tuple(_WORD_TOKEN.findall(c))
                    if len(parts) == 1:
                        self.tokens.setdefault(parts[0], kind)
                    elif parts:
                        self.bigrams[parts[:2]].append((parts, kind))
        self.stats = stats

    # -- text ------------------------------------------------------------------------------------

    def match_text(self, text: str) -> dict[str, set[str]]:
        """Raw values in free text: words and phrases, distinctive ids, ids after a customer word."""
        hits: dict[str, set[str]] = defaultdict(set)
        if self.tokens or self.bigrams:
            words = _WORD_TOKEN.findall(text.lower())
            for t in set(words) & self.tokens.keys():
                hits[self.tokens[t]].add(t)
            pairs = set(zip(words, words[1:], strict=False)) & self.bigrams.keys()
            for pair in pairs:
                for parts, kind in self.bigrams[pair]:
                    if len(parts) == 2 or any(
                        tuple(words[i : i + len(parts)]) == parts
                        for i in range(len(words) - 1)
                        if (words[i], words[i + 1]) == pair
                    ):
                        hits[kind].add(" ".join(parts))
        if self.distinctive:
            for c in _id_token_set(text) & self.distinctive.keys():
                hits[self.distinctive[c]].add(c)
        if self.ids:
            for m in _CONTEXT.finditer(text):
                for tok in _ID_TOKEN.findall(m.group(1)):
                    c = _canon(tok.rstrip("."), grouped=True)
                    if c in self.ids:
                        hits[self.ids[c]].add(c)
        return hits

    # -- table columns ---------------------------------------------------------------------------

    def match_column(self, name: Any, values: Sequence[Any], *, customer: bool | None = None):
        """Raw values in one column (distinct values), by the rules of the module docstring.

        Returns
        -------
        (dict, list of str)
            Hits by kind, and the text cells (for the free-text rules).
        """
        hits: dict[str, set[str]] = defaultdict(set)
        if customer is None:
            customer = is_customer_column(name)
        canon = _canon_many(values)
        if customer:
            for c in set(canon) & self.ids.keys():
                hits[self.ids[c]].add(c)
        numeric = {c for c in canon if c is not None and c.isdigit()}
        if numeric and self.distinctive:
            found = numeric & self.distinctive.keys()
            if len(found) >= ID_COLUMN_MIN_MATCHES and len(found) >= ID_COLUMN_SHARE * len(numeric):
                for c in found:
                    hits[self.distinctive[c]].add(c)
        texts = [str(v) for v, c in zip(values, canon, strict=True) if c and not c.isdigit()]
        for c in {c for c in canon if c and not c.isdigit()} & self.distinctive.keys():
            hits[self.distinctive[c]].add(c)
        return hits, texts


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _dense_lengths(numeric: Sequence[str]) -> set[int]:
    """Digit lengths at which more than DISTINCTIVE_MAX_DENSITY of all numbers are ids."""
    counts: dict[int, int] = defaultdict(int)
    for c in numeric:
        counts[len(c)] += 1
    out = set()
    for length, n in counts.items():
        space = 10 if length == 1 else 9 * 10 ** (length - 1)
        if n / space > DISTINCTIVE_MAX_DENSITY:
            out.add(length)
    return out


_ID_PART = re.compile(r"[A-Za-z0-9]+(?:[.:/-][A-Za-z0-9]+)*")


def _id_token_set(text: str) -> set[str]:
    """Canonical whole tokens of a text: tokens joined by ``_`` whole and split at it (``customer_12346``
    gives ``customer_12346``, ``customer`` and ``12346``); numbers without leading zeros, ``12346.0``
    as ``12346``; text lower-cased."""
    low = text.lower()
    toks = set(_ID_TOKEN.findall(low))
    if "_" in low:
        toks |= set(_ID_PART.findall(low))
    fix = {t for t in toks if t[0] == "0" or t[0] == "+" or ".0" in t or "," in t}
    if fix:
        toks -= fix
        toks |= {c for c in map(_canon, fix) if c is not None}
    return toks


def _canon_many(values: Sequence[Any]) -> list[str | None]:
    """:func:`_canon` (numbers with thousands separators read as numbers) of many values, fast for
    the common cases: plain digit strings and one-word strings, integers."""
    out: list[str | None] = []
    append = out.append
    for v in values:
        if type(v) is str and v:
            if v.isdigit():
                append(v.lstrip("0") or "0")
                continue
            if v.isalnum():
                append(v.lower())
                continue
        elif type(v) is int:
            append(str(abs(v)))
            continue
        append(_canon(v, grouped=True))
    return out


# ----------------------------------------------------------------------------------------------
# reading files into columns and texts
# ----------------------------------------------------------------------------------------------


class _Collector:
    """Findings of one file, merged by (kind, where)."""

    def __init__(self, rel: str, ids: Identifiers, allow_emails: set[str]):
        self.rel, self.ids, self.allow = rel, ids, allow_emails
        self.hits: dict[tuple[str, str], set[str]] = defaultdict(set)

    def _add(self, where: str, hits: Mapping[str, set[str]]) -> None:
        for kind, found in hits.items():
            if found:
                self.hits[(kind, where)] |= found

    def text(self, text: str, where: str) -> None:
        if not text:
            return
        self._add(where, self.ids.match_text(text))
        if has_contact_details(text):
            emails = {e for e in EMAIL_PATTERN.findall(text) if e.lower() not in self.allow}
            phones = {text[s:e] for s, e in find_phones(text)}
            self._add(where, {"email address": emails, "phone number": phones})

    def column(self, name: Any, values: Sequence[Any], where: str, customer: bool | None = None):
        hits, texts = self.ids.match_column(name, values, customer=customer)
        self._add(where, hits)
        if texts:
            self.text("\n".join(texts), where)

    def series(self, name: Any, s: pd.Series, where: str) -> None:
        if isinstance(s.dtype, pd.CategoricalDtype):
            values: Sequence[Any] = list(s.cat.categories)
        elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
            return
        elif pd.api.types.is_float_dtype(s.dtype):
            v = s.dropna().to_numpy()
            v = v[np.isfinite(v)]
            if len(v) == 0 or not np.all(v == np.round(v)):
                return  # a measure, not an id
            values = np.abs(np.unique(v.astype(np.int64))).astype(str).tolist()
        elif pd.api.types.is_integer_dtype(s.dtype):
            uniq = pd.unique(s.dropna().to_numpy(dtype=np.int64))
            values = np.abs(uniq).astype(str).tolist()
        elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            cells = s.dropna().tolist()
            if any(isinstance(v, list | tuple | np.ndarray) for v in cells):
                # a column of lists (recommended items, customers of a group): read the elements
                elements = [e for v in cells for e in _elements(v)]
                customer = is_customer_column(name) or bool(_CUSTOMER_LIST.search(_snake(name)))
                self.column(name, list(dict.fromkeys(map(str, elements))), where, customer)
                return
            values = [
                v if type(v) is str else _flat(v)
                for v in pd.unique(s.dropna())
                if not isinstance(v, bytes)
            ]
        else:
            return
        self.column(name, values, where)

    def frame(self, df: pd.DataFrame, where: str = "") -> None:
        """Every column of a table, and its index when it is not a plain row count."""
        pre = f"{where} " if where else ""
        self.text("\n".join(map(str, df.columns)), f"{pre}column names".strip())
        for c in df.columns:
            self.series(c, df[c], f"{pre}column {c!r}")
        if not isinstance(df.index, pd.RangeIndex):
            self.series(df.index.name or "index", df.index.to_series(), f"{pre}index")

    def findings(self) -> list[Finding]:
        out = []
        for (kind, where), found in self.hits.items():
            example = _mask(sorted(found)[0], kind)
            out.append(Finding(self.rel, kind, len(found), example, where))
        return sorted(out, key=lambda f: (f.where, f.kind))


def _elements(v: Any) -> list[Any]:
    if isinstance(v, list | tuple | np.ndarray):
        return [e for x in v for e in _elements(x)]
    if isinstance(v, dict):
        return [e for x in v.values() for e in _elements(x)]
    return [] if _missing(v) else [v]


def _flat(v: Any) -> Any:
    if isinstance(v, list | tuple | np.ndarray | dict):
        return json.dumps(v, default=str) if not isinstance(v, np.ndarray) else str(list(v))
    return v


def _read_json_like(obj: Any, col: _Collector, where: str) -> None:
    """JSON: strings are free text; values are also grouped by key and read as columns."""
    columns: dict[str, list[Any]] = defaultdict(list)
    lists: set[str] = set()
    texts: list[str] = []

    def walk(o: Any, key: str) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                texts.append(str(k))
                walk(v, str(k))
        elif isinstance(o, list):
            if key:
                lists.add(key)
            for v in o:
                walk(v, key)
        elif o is not None:
            if isinstance(o, str):
                texts.append(o)
            if key:
                columns[key].append(o)

    walk(obj, "")
    col.text("\n".join(texts), where)
    for key, values in columns.items():
        customer = is_customer_column(key) or (
            key in lists and bool(_CUSTOMER_LIST.search(_snake(key)))
        )
        uniq = list({(type(v).__name__, str(v)): v for v in values}.values())
        hits, _ = col.ids.match_column(key, uniq, customer=customer)
        col._add(f"{where} key {key!r}".strip(), hits)


class _Html(HTMLParser):
    """Prose (without styles and embedded images) and tables of an HTML document."""

    _ATTRS = ("href", "title", "alt", "src", "value", "content")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tables: list[list[list[tuple[str, bool, int]]]] = []  # rows of (text, is_th, colspan)
        self._skip = 0
        self._stack: list[list[list[tuple[str, bool, int]]]] = []
        self._cell: list[str] | None = None
        self._cell_info: tuple[bool, int] = (False, 1)
        self.pre: list[str] = []  # <pre> blocks: printed tables live there
        self._pre: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style":
            self._skip += 1
        elif tag == "pre":
            self._pre = []
        for k, v in attrs:
            if k in self._ATTRS and v and not v.startswith("data:"):
                self.text.append(f"\n{v}\n")
        if tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack:
            span = dict(attrs).get("colspan") or "1"
            self._cell = []
            self._cell_info = (tag == "th", int(span) if span.isdigit() else 1)
        elif tag == "br":
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._skip = max(self._skip - 1, 0)
        elif tag == "pre" and self._pre is not None:
            self.pre.append("".join(self._pre))
            self._pre = None
        elif tag in ("td", "th") and self._cell is not None and self._stack:
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._stack[-1][-1].append(("".join(self._cell).strip(), *self._cell_info))
            self._cell = None
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        if tag in ("p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "pre", "table"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self._pre.append(data)


def _html_columns(rows: list[list[tuple[str, bool, int]]]) -> list[tuple[str, list[str]]]:
    """A table's columns: the header name of each position (header rows joined), and its cells."""
    grid = []
    for row in rows:
        cells: list[tuple[str, bool]] = []
        for text, is_th, span in row:
            cells += [(text, is_th)] * max(span, 1)
        grid.append(cells)
    head = []
    for cells in grid:
        if cells and all(is_th for _, is_th in cells):
            head.append(cells)
        else:
            break
    body = grid[len(head) :]
    width = max((len(r) for r in grid), default=0)
    out = []
    for j in range(width):
        name = " ".join(r[j][0] for r in head if j < len(r) and r[j][0])
        values = [r[j][0] for r in body if j < len(r) and r[j][0]]
        out.append((name, values))
    return out


def _read_html(text: str, col: _Collector, where: str) -> None:
    text = _DATA_URI.sub(" ", text)
    parser = _Html()
    parser.feed(text)
    parser.close()
    col.text("".join(parser.text), f"{where} text".strip())
    for i, rows in enumerate(parser.tables):
        for name, values in _html_columns(rows):
            col.column(name, values, f"{where} table {i + 1} column {name!r}".strip())
    for block in parser.pre:
        for name, values in _text_tables(block):
            col.column(
                name, values, f"{where} printed table column {name!r}".strip(), customer=True
            )


def _markdown_tables(text: str) -> Iterator[tuple[str, list[str]]]:
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        s = line.strip()
        if s.startswith("|") and s.count("|") >= 2:
            block.append([c.strip() for c in s.strip("|").split("|")])
            continue
        if len(block) >= 2:
            header, rows = (
                block[0],
                [r for r in block[1:] if not all(set(c) <= set(":- ") for c in r)],
            )
            for j, name in enumerate(header):
                yield name, [r[j] for r in rows if j < len(r) and r[j]]
        block = []


def _text_tables(text: str) -> Iterator[tuple[str, list[str]]]:
    """Columns under a customer-named header in fixed-width text (a printed DataFrame).

    A header is a customer-named word standing apart like a column title: at the start or end of its
    line or set off by two or more spaces (prose separates words by one), with a value under it on
    the next line. The column's values are the words under the header, down to a blank line.
    """
    if not re.search(rf"{_WORDS}|uid", text, re.IGNORECASE):
        return
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for m in re.finditer(r"\S+", line):
            if not is_customer_column(m.group()):
                continue
            before, after = line[: m.start()], line[m.end() :]
            apart = (not before.strip() or before.endswith("  ")) and (
                not after.strip() or after.startswith("  ")
            )
            if not apart:
                continue
            s, e = m.span()
            values = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    break
                for t in re.finditer(r"\S+", nxt):
                    if t.start() < e and t.end() > s:
                        values.append(t.group())
                        break
            yield m.group(), values


def _read_plain(text: str, col: _Collector, where: str) -> None:
    col.text(text, where)
    for name, values in _text_tables(text):
        col.column(name, values, f"{where} column {name!r}", customer=True)


def _read_markdown(text: str, col: _Collector, where: str) -> None:
    col.text(text, where)
    for name, values in _markdown_tables(text):
        col.column(name, values, f"{where} table column {name!r}".strip())


def _joined(v: Any) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def _read_notebook(nb: dict[str, Any], col: _Collector) -> None:
    _read_json_like(nb.get("metadata", {}), col, "notebook metadata")
    for i, cell in enumerate(nb.get("cells", []), 1):
        where = f"cell {i}"
        src = _joined(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            _read_markdown(src, col, f"{where} source")
        else:
            col.text(src, f"{where} source")
        _read_json_like(cell.get("metadata", {}), col, f"{where} metadata")
        for out in cell.get("outputs", []) or []:
            w = f"{where} output"
            if "text" in out:  # stream output
                _read_plain(_ANSI.sub("", _joined(out["text"])), col, w)
            if "ename" in out or "evalue" in out or "traceback" in out:  # error output
                tb = "\n".join(out.get("traceback", []))
                col.text(_ANSI.sub("", f"{out.get('ename', '')}: {out.get('evalue', '')}\n{tb}"), w)
            for mime, value in (out.get("data") or {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue
                if mime == "text/html":
                    _read_html(_joined(value), col, w)
                elif mime == "text/markdown":
                    _read_markdown(_joined(value), col, w)
                elif mime == "text/plain":
                    _read_plain(_ANSI.sub("", _joined(value)), col, w)
                elif isinstance(value, dict | list) and not isinstance(value, str):
                    _read_json_like(value, col, w)
                else:
                    col.text(_joined(value), w)


def _read_npz(path: Path, col: _Collector) -> bool:
    """String arrays of an ``.npz`` as columns; numeric arrays are matrices (indices), not read."""
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            a = z[name]
            if a.dtype.kind in "US" and a.size:
                vals = np.unique(a.astype(str).ravel())
                col.column(name, list(vals), f"array {name!r}")
    return True


def _is_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(head) - 4  # a multi-byte character cut at the end of the sample
    return True


def _scan_one(path: Path, rel: str, ids: Identifiers, allow: set[str]) -> list[Finding] | None:
    """Findings of one file, or None when the file is binary and was not read."""
    col = _Collector(rel, ids, allow)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
            col.frame(df)
            return col.findings()
        if suffix == ".npz":
            _read_npz(path, col)
            return col.findings()
        if not _is_text(path):
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
        if suffix in (".csv", ".tsv"):
            try:
                df = pd.read_csv(
                    path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
                )
            except (pd.errors.ParserError, pd.errors.EmptyDataError):
                df = None
            if df is not None:
                col.frame(df)
                return col.findings()
        if suffix == ".ipynb":
            try:
                _read_notebook(json.loads(text), col)
                return col.findings()
            except (json.JSONDecodeError, AttributeError, TypeError):
                pass
        if suffix == ".json":
            try:
                _read_json_like(json.loads(text), col, "")
                return col.findings()
            except json.JSONDecodeError:
                pass
        if suffix in (".html", ".htm", ".svg"):
            _read_html(text, col, "")
        elif suffix == ".md":
            _read_markdown(text, col, "text")
        else:
            _read_plain(text, col, "text")
    except Exception as e:  # noqa: BLE001 - a file we cannot read is a file we cannot vouch for
        return [Finding(rel, "unreadable file", 1, type(e).__name__, str(e)[:200])]
    return col.findings()


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def _files(root: Path, suffixes: Sequence[str] | None) -> list[Path]:
    wanted = {s.lower() for s in suffixes} if suffixes is not None else None
    return sorted(
        p for p in root.rglob("*") if p.is_file() and (wanted is None or p.suffix.lower() in wanted)
    )


def scan_file(
    path: str | os.PathLike,
    forbidden: Mapping[str, Iterable[Any]] | None = None,
    *,
    root: str | os.PathLike | None = None,
    allow_emails: Iterable[str] = (),
    other_ids: Iterable[Any] = (),
) -> list[Finding]:
    """Scan one file for raw identifiers (see :func:`scan_run_folder`)."""
    path = Path(path)
    rel = str(path.relative_to(root)) if root is not None else str(path)
    ids = Identifiers(forbidden or {}, other_ids)
    return _scan_one(path, rel, ids, {a.lower() for a in allow_emails}) or []


def _scan(
    root: Path,
    ids: Identifiers,
    suffixes: Sequence[str] | None,
    allow: set[str],
) -> tuple[list[Finding], int, dict[str, int]]:
    findings: list[Finding] = []
    scanned = 0
    skipped: dict[str, int] = defaultdict(int)
    for p in _files(root, suffixes):
        got = _scan_one(p, str(p.relative_to(root)), ids, allow)
        if got is None:
            skipped[p.suffix.lower() or "(none)"] += 1
            continue
        scanned += 1
        findings += got
    return findings, scanned, dict(skipped)


def scan_run_folder(
    run_dir: str | os.PathLike,
    forbidden: Mapping[str, Iterable[Any]],
    *,
    suffixes: Sequence[str] | None = None,
    allow_emails: Iterable[str] = (),
    other_ids: Iterable[Any] = (),
) -> list[Finding]:
    """Scan every file of a run for raw identifiers (rules in the module docstring).

    Parameters
    ----------
    run_dir : str or path
        The run folder (scanned recursively, hidden files included).
    forbidden : mapping of str -> iterable
        Known raw values by kind, for example ``{"name": names, "email": emails, "customer id":
        original_ids}`` (see :func:`forbidden_from_raw`).
    suffixes : sequence of str, optional
        Only files with these suffixes; default every file (binary files are skipped).
    allow_emails : iterable of str
        Addresses that may appear (for example a project contact).
    other_ids : iterable, optional
        Product and session ids of the source (see :func:`other_ids_from_raw`): a customer id equal
        to one of them is searched only where a customer id is expected.

    Returns
    -------
    list of Finding
        Empty when the folder is clean. Anything shaped like an e-mail address or a phone number is a
        finding too; so is a file that cannot be read.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: run folder not found")
    ids = Identifiers(forbidden, other_ids)
    return _scan(root, ids, suffixes, {a.lower() for a in allow_emails})[0]


def _failure_message(run_dir: Any, findings: Sequence[Finding]) -> str:
    lines = "\n".join(f"  - {f}" for f in findings[:20])
    more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
    return (
        f"privacy check failed: raw identifiers in {len({f.file for f in findings})} file(s) of "
        f"{run_dir}:\n{lines}{more}"
    )


def assert_no_identifiers(
    run_dir: str | os.PathLike,
    forbidden: Mapping[str, Iterable[Any]],
    **kwargs: Any,
) -> None:
    """Raise :class:`PrivacyScanError` naming each file and kind of identifier found (see
    :func:`scan_run_folder`, whose keyword arguments this accepts)."""
    findings = scan_run_folder(run_dir, forbidden, **kwargs)
    if findings:
        raise PrivacyScanError(_failure_message(run_dir, findings))


def default_quarantine_dir(run_dir: str | os.PathLike) -> Path:
    """``<parent of the run folder>/.quarantine/<run name>/<UTC time>``: outside the run folder, beside
    the other runs (``reports/`` is not committed), one folder per check."""
    run_dir = Path(run_dir).resolve()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return run_dir.parent / QUARANTINE_DIR_NAME / run_dir.name / stamp


def quarantine(
    run_dir: str | os.PathLike, files: Iterable[str], dest: str | os.PathLike
) -> list[dict[str, str]]:
    """Move files (paths relative to ``run_dir``) out of the run folder into ``dest``.

    A file inside one of :data:`HANDOVER_FOLDERS` takes its whole folder with it (the cached dataset or
    the split is moved, not a part of it), so a later stage finds it missing and rebuilds or stops,
    rather than reading what is left; a results table takes its twins in other formats (same name,
    :data:`TWIN_SUFFIXES`).

    Returns
    -------
    list of dict
        ``{"path": moved path relative to the run folder, "moved_to": absolute destination}``.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    moved: list[dict[str, str]] = []
    todo: list[str] = []
    for rel in files:
        top = Path(rel).parts[0]
        if top in HANDOVER_FOLDERS and len(Path(rel).parts) > 1:
            items = [top]
        else:
            items = [rel]
            if Path(rel).suffix.lower() in TWIN_SUFFIXES:
                stem = Path(rel).with_suffix("")
                items += [str(stem.with_suffix(x)) for x in TWIN_SUFFIXES if str(stem) + x != rel]
        for item in items:
            if item not in todo:
                todo.append(item)
    for item in todo:
        src = run_dir / item
        if not src.exists():
            continue
        target = dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(dest, 0o700)
        shutil.move(str(src), str(target))
        moved.append({"path": item, "moved_to": str(target)})
    return moved


def check_run_folder(
    run_dir: str | os.PathLike,
    forbidden: Mapping[str, Iterable[Any]],
    *,
    other_ids: Iterable[Any] = (),
    allow_emails: Iterable[str] = (),
    quarantine_dir: str | os.PathLike | None = None,
    move: bool = True,
) -> dict[str, Any]:
    """Scan a run folder and move every file with a finding out of it (see :func:`quarantine`).

    Parameters
    ----------
    run_dir : str or path
        The run folder.
    forbidden, other_ids, allow_emails
        As for :func:`scan_run_folder`.
    quarantine_dir : path, optional
        Where leaking files go; default :func:`default_quarantine_dir`.
    move : bool
        Move leaking files (default); ``False`` only reports them.

    Returns
    -------
    dict
        ``status`` (``"passed"`` or ``"failed"``), ``files_scanned``, ``files_not_scanned`` (binary
        files by suffix), ``identifier_kinds``, ``id_matching`` (per id kind: how many ids, how many are
        numbers, how many are distinctive and so searched everywhere), ``findings`` (file, kind,
        count, where, masked example), ``quarantined`` (moved paths and where to),
        ``quarantine_dir``, ``seconds``.
        Nothing in it reveals a raw value.
    """
    t0 = time.perf_counter()
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: run folder not found")
    ids = Identifiers(forbidden, other_ids)
    findings, scanned, skipped = _scan(root, ids, None, {a.lower() for a in allow_emails})
    moved: list[dict[str, str]] = []
    dest: Path | None = None
    if findings and move:
        dest = Path(quarantine_dir) if quarantine_dir is not None else default_quarantine_dir(root)
        moved = quarantine(root, sorted({f.file for f in findings}), dest)
    return {
        "status": "failed" if findings else "passed",
        "files_scanned": scanned,
        "files_not_scanned": skipped,
        "identifier_kinds": sorted(forbidden),
        "id_matching": ids.stats,
        "findings": [asdict(f) for f in findings],
        "quarantined": moved,
        "quarantine_dir": str(dest) if moved else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def redact_message(message: str, ids: Identifiers, allow_emails: Iterable[str] = ()) -> str:
    """``message`` unchanged when it quotes no raw identifier, else a note saying it was withheld."""
    col = _Collector("message", ids, {a.lower() for a in allow_emails})
    col.text(message, "text")
    kinds = sorted({k for k, _ in col.hits})
    if not kinds:
        return message
    return (
        f"message withheld by the privacy check: it quotes raw data ({', '.join(kinds)}); "
        f"see the terminal output of the run"
    )


def forbidden_from_raw(ds: Dataset) -> dict[str, list[str]]:
    """The identifiers a scan should look for, from a raw (unscrubbed) dataset.

    Returns ``{"name": ..., "email": ..., "phone": ..., "address": ..., "customer id": ...}`` with
    the kinds the customers table has (customer ids from customers and events). Keep the result in
    memory only.
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
    ids = set(map(str, _uniques(c["customer_id"])))
    if "customer_id" in ds.events.columns:
        ids |= set(map(str, _uniques(ds.events["customer_id"])))
    out["customer id"] = sorted(ids)
    return out


def _uniques(s: pd.Series) -> Iterable[Any]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.categories
    return pd.unique(s.dropna())


def other_ids_from_raw(ds: Dataset) -> list[str]:
    """Values other than customer ids that a report may legitimately show, for
    :func:`scan_run_folder`: product ids, session ids, any other ``*_id`` column of the products and
    events tables, and the numbers written in the catalogue's own text (Online Retail's descriptions
    carry design numbers such as ``SET 10 CARDS PERFECT POST 17090``; 17090 is also a customer id)."""
    out: set[str] = set()
    for df in (ds.products, ds.events):
        for c in df.columns:
            if str(c).endswith("_id") and c != "customer_id":
                out |= set(map(str, _uniques(df[c])))
    for c in ds.products.columns:
        s = ds.products[c]
        if c == "product_id" or not (
            pd.api.types.is_object_dtype(s.dtype)
            or pd.api.types.is_string_dtype(s.dtype)
            or isinstance(s.dtype, pd.CategoricalDtype)
        ):
            continue
        for v in _uniques(s):
            if isinstance(v, str):
                out.update(t for t in _ID_TOKEN.findall(v) if t.isdigit())
    return sorted(out)
