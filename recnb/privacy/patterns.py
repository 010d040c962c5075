"""Personal data that can be recognised by its shape: e-mail addresses and phone numbers.

Both the load-time scrub (:func:`scrub_text`, applied by :func:`recnb.privacy.scrub` to every free-text
column) and the run-folder scan (:mod:`recnb.privacy.scan`) use the same two detectors, so what the scrub
removes is exactly what the scan would flag.

E-mail addresses: :data:`EMAIL_PATTERN`, ``local@domain.tld``.

Phone numbers: Google's libphonenumber (the ``phonenumbers`` package) decides; a regular expression only
picks the candidate stretches of text worth asking about (a digit run of at least 7 digits broken by
spaces, dots, hyphens or brackets, or led by ``+``), so long reports stay fast. A candidate is a phone
number when

- libphonenumber's matcher finds a **valid** number in it for one of :data:`PHONE_REGIONS` (valid means
  the country's numbering plan assigns the range: ``020 7946 0958`` in the UK, ``(212) 555-0100``);
  the matcher itself rejects dates, times and slash-separated figures; or
- it is written in international form, ``+`` and a country code, and has a possible length for that
  country (``+1-555-918-0512``, ``+33 1 23 45 67 89``): fictional ranges such as 555 count too; or
- it has the North American shape ``(ddd) ddd-dddd`` / ``ddd-ddd-dddd`` / ``ddd.ddd.dddd``, which no
  price, date or product code takes.

Not phone numbers, by design: a bare digit run without ``+`` or separators (ids, stock codes,
timestamps, EAN/ISBN codes such as ``9783161484100``), hyphenated ISBNs (``978-3-16-148410-0``,
``0-306-40615-2``: no valid number), prices (``1,234.56``, ``£12.50``), dates and times (``2011-12-09
08:50``, ``12/09/2011``), decimal figures (``0.1234567``), and national numbers of countries outside
:data:`PHONE_REGIONS` written without ``+``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
"""An e-mail address."""

PHONE_REGIONS: tuple[str, ...] = ("GB", "US")
"""Regions whose national phone formats (no ``+``) are recognised: the UK (Online Retail's shop) and
North America (MovieLens, the synthetic shop). International ``+`` numbers are recognised for every
country."""

EMAIL_PLACEHOLDER = "[email removed]"
"""What :func:`scrub_text` puts in place of an e-mail address."""

PHONE_PLACEHOLDER = "[phone removed]"
"""What :func:`scrub_text` puts in place of a phone number."""

# a stretch of text that may hold a phone number: 7+ digits with phone-style separators
# (single separators only: two spaces separate the columns of a printed table, not phone digits)
_CANDIDATE = re.compile(r"[+(]?\d(?:[\d().\-\u00a0]| (?! )){5,}\d\)?")
_INTERNATIONAL = re.compile(r"(?<![\w+.,])\+\d[\d ().\-]{5,22}\d(?![\d])")
_NANP = re.compile(r"(?<![\w+./,-])(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w/-]|[.,]\d)")
_DECIMAL = re.compile(r"^\+\d+\.\d+$")
# a figure, not a phone number: 0.0215002578444, 1,234,567.89, 12345678
_PLAIN_NUMBER = re.compile(r"^-?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?$")
# calendar dates (year first, or day/month first), masked before phone numbers are looked for
_DATE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-./ ](?:0?[1-9]|1[0-2])[-./ ](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:19|20)?\d{2})(?!\d)"
)
_MIN_DIGITS, _MAX_DIGITS = 7, 15


_NON_DIGIT = re.compile(r"\D")


def _digits(s: str) -> int:
    return len(_NON_DIGIT.sub("", s))


def find_emails(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the e-mail addresses in ``text``."""
    return [m.span() for m in EMAIL_PATTERN.finditer(text)]


def _possible_international(s: str) -> bool:
    if _DECIMAL.match(s.strip()) or not _MIN_DIGITS + 1 <= _digits(s) <= _MAX_DIGITS:
        return False
    try:
        num = phonenumbers.parse(s, None)
    except phonenumbers.NumberParseException:
        return False
    reason = phonenumbers.is_possible_number_with_reason(num)
    return reason == phonenumbers.ValidationResult.IS_POSSIBLE


def find_phones(text: str, regions: Sequence[str] = PHONE_REGIONS) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the phone numbers in ``text`` (see the module docstring).

    Parameters
    ----------
    text : str
        Any text.
    regions : sequence of str
        ISO 3166 region codes whose national formats are recognised.

    Returns
    -------
    list of (int, int)
        Non-overlapping spans, in text order.
    """
    spans: list[tuple[int, int]] = []
    text = _DATE.sub(lambda m: " " * len(m.group()), text)  # same length: spans stay valid
    for cand in _CANDIDATE.finditer(text):
        if _PLAIN_NUMBER.match(cand.group().strip()) or _digits(cand.group()) < _MIN_DIGITS:
            continue
        if cand.start() > 0 and text[cand.start() - 1] in ".,":
            continue  # the decimals of a figure (0.0215002578444)
        # a little context on each side lets the matcher see what the number is glued to
        lo, hi = max(cand.start() - 16, 0), min(cand.end() + 16, len(text))
        window = text[lo:hi]
        found: list[tuple[int, int]] = []
        for region in regions:
            for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID):
                found.append((lo + m.start, lo + m.end))
        for pat in (_INTERNATIONAL, _NANP):
            for m in pat.finditer(window):
                if pat is _NANP or _possible_international(m.group()):
                    found.append((lo + m.start(), lo + m.end()))
        # the context only informs the matcher; a number must lie within the candidate
        spans += [(s, e) for s, e in found if s >= cand.start() - 1 and e <= cand.end() + 1]
    return _merge_spans(spans)


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def has_contact_details(text: str) -> bool:
    """Cheap pre-check: could ``text`` hold an e-mail address or a phone number at all?"""
    return "@" in text or _CANDIDATE.search(text) is not None


def scrub_text(text: str, regions: Sequence[str] = PHONE_REGIONS) -> tuple[str, int, int]:
    """Replace e-mail addresses and phone numbers by :data:`EMAIL_PLACEHOLDER` / :data:`PHONE_PLACEHOLDER`.

    Parameters
    ----------
    text : str
        Free text (a product description, a title...).
    regions : sequence of str
        See :func:`find_phones`.

    Returns
    -------
    (str, int, int)
        The scrubbed text, the number of e-mail addresses and of phone numbers replaced.
    """
    if not has_contact_details(text):
        return text, 0, 0
    emails = find_emails(text)
    if emails:
        text = _replace(text, emails, EMAIL_PLACEHOLDER)
    phones = find_phones(text, regions)
    if phones:
        text = _replace(text, phones, PHONE_PLACEHOLDER)
    return text, len(emails), len(phones)


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    parts: list[str] = []
    pos = 0
    for s, e in spans:
        parts += [text[pos:s], placeholder]
        pos = e
    parts.append(text[pos:])
    return "".join(parts)
