"""Stable, hash-based assignment of customers to the arms of an experiment.

A customer's arm is a pure function of the experiment's salt and the customer's (pseudonymous) id:
``u = first 8 bytes of sha256(salt + ":" + id) / 2^64``, a number uniform in [0, 1), and the arm is
the one whose slice of the cumulative split holds ``u``. The same customer sees the same arm on
every visit and every server, with no stored table; a new salt gives an independent assignment (so
one experiment's arms do not carry over into the next); a ramp-up that only grows a treatment's
share moves customers from control into treatment, never back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["assign", "check_split", "hash_uniform"]

_SCALE = float(2**64)


def hash_uniform(unit_ids: Iterable[Any], salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per unit id: ``sha256(salt:id)`` read as a fraction.

    Parameters
    ----------
    unit_ids : iterable
        Ids of the randomisation units (customers); converted with ``str``.
    salt : str
        The experiment's salt (its name); a non-empty string.

    Returns
    -------
    numpy.ndarray of float64
    """
    if not isinstance(salt, str) or not salt:
        raise ValueError(f"salt: expected a non-empty string, got {salt!r}")
    prefix = (salt + ":").encode("utf-8")
    out = np.fromiter(
        (
            int.from_bytes(hashlib.sha256(prefix + str(u).encode("utf-8")).digest()[:8], "big")
            for u in unit_ids
        ),
        dtype=np.uint64,
    )
    return out.astype(np.float64) / _SCALE


def check_split(split: Sequence[float]) -> np.ndarray:
    """Validate a split (one share per arm, each > 0, summing to 1) and return it as an array."""
    s = np.asarray(split, dtype=np.float64)
    if s.ndim != 1 or len(s) < 2:
        raise ValueError(f"split: expected one share per arm (at least 2), got {split!r}")
    if (s <= 0).any() or not np.isfinite(s).all() or abs(s.sum() - 1.0) > 1e-9:
        raise ValueError(f"split: shares must be > 0 and sum to 1, got {list(split)}")
    return s


def assign(unit_ids: Iterable[Any], split: Sequence[float], salt: str) -> np.ndarray:
    """Arm index (0 = control, 1 = first treatment, ...) of every unit id.

    Parameters
    ----------
    unit_ids : iterable
        Randomisation units (pseudonymous customer ids); repeated ids get the same arm.
    split : sequence of float
        Share of units per arm, e.g. ``(0.5, 0.5)``.
    salt : str
        The experiment's salt.

    Returns
    -------
    numpy.ndarray of int64
    """
    s = check_split(split)
    u = hash_uniform(unit_ids, salt)
    edges = np.cumsum(s)[:-1]
    return np.searchsorted(edges, u, side="right").astype(np.int64)
