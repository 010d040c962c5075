"""Privacy first: scrub personal data before anything else sees it, and check run folders for leaks.

- :mod:`recnb.privacy.scrub`: the pseudonymization key, keyed customer pseudonyms, the load-time scrub
  of a dataset (direct identifiers, free text, quasi-identifiers) and small-group suppression;
- :mod:`recnb.privacy.patterns`: e-mail addresses and phone numbers recognised by their shape;
- :mod:`recnb.privacy.scan`: the scan of a run folder for raw identifiers and the quarantine of a
  leaking file.

Everything public is importable from ``recnb.privacy`` directly.
"""

from recnb.privacy.patterns import (
    EMAIL_PATTERN,
    EMAIL_PLACEHOLDER,
    PHONE_PLACEHOLDER,
    PHONE_REGIONS,
    find_emails,
    find_phones,
    scrub_text,
)
from recnb.privacy.scan import (
    DISTINCTIVE_MAX_DENSITY,
    DISTINCTIVE_MIN_DIGITS,
    HANDOVER_FOLDERS,
    ID_COLUMN_MIN_MATCHES,
    ID_COLUMN_SHARE,
    MIN_IDENTIFIER_CHARS,
    QUARANTINE_DIR_NAME,
    SCANNED_SUFFIXES,
    Finding,
    Identifiers,
    PrivacyScanError,
    assert_no_identifiers,
    check_run_folder,
    default_quarantine_dir,
    forbidden_from_raw,
    is_customer_column,
    other_ids_from_raw,
    quarantine,
    redact_message,
    scan_file,
    scan_run_folder,
)
from recnb.privacy.scrub import (
    DEFAULT_AGE_EDGES,
    DEMO_KEY,
    ID_COLUMNS,
    KEY_ENV_VAR,
    PrivacyError,
    age_bands,
    postcode_area,
    pseudonymize,
    resolve_key,
    scrub,
    scrub_free_text,
    suppress_small_groups,
)

__all__ = [
    "DEFAULT_AGE_EDGES",
    "DEMO_KEY",
    "DISTINCTIVE_MAX_DENSITY",
    "DISTINCTIVE_MIN_DIGITS",
    "EMAIL_PATTERN",
    "EMAIL_PLACEHOLDER",
    "HANDOVER_FOLDERS",
    "ID_COLUMNS",
    "ID_COLUMN_MIN_MATCHES",
    "ID_COLUMN_SHARE",
    "KEY_ENV_VAR",
    "MIN_IDENTIFIER_CHARS",
    "PHONE_PLACEHOLDER",
    "PHONE_REGIONS",
    "QUARANTINE_DIR_NAME",
    "SCANNED_SUFFIXES",
    "Finding",
    "Identifiers",
    "PrivacyError",
    "PrivacyScanError",
    "age_bands",
    "assert_no_identifiers",
    "check_run_folder",
    "default_quarantine_dir",
    "find_emails",
    "find_phones",
    "forbidden_from_raw",
    "is_customer_column",
    "other_ids_from_raw",
    "postcode_area",
    "pseudonymize",
    "quarantine",
    "redact_message",
    "resolve_key",
    "scan_file",
    "scan_run_folder",
    "scrub",
    "scrub_free_text",
    "scrub_text",
    "suppress_small_groups",
]
