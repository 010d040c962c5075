"""The k-core filter: customers and products with too few distinct interactions leave training.

:func:`kcore` removes customers and products with too few distinct interactions, repeatedly, until
every remaining customer and product has its minimum. :func:`recnb.prep.split.build_split` runs it
on each training part's own events (a training filter), and :func:`density_table` reports the matrix
before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["KCoreResult", "density_table", "kcore"]


@dataclass(frozen=True)
class KCoreResult:
    """Outcome of :func:`kcore`.

    Attributes
    ----------
    keep_customers, keep_products : numpy.ndarray of bool
        Per customer / product code: kept.
    keep_pairs : numpy.ndarray of bool
        Per input pair: kept.
    rounds : int
        Passes until nothing changed.
    """

    keep_customers: np.ndarray
    keep_products: np.ndarray
    keep_pairs: np.ndarray
    rounds: int


def kcore(
    rows: np.ndarray,
    cols: np.ndarray,
    min_customer: int = 1,
    min_product: int = 1,
    shape: tuple[int, int] | None = None,
) -> KCoreResult:
    """Iterative k-core on distinct (customer, product) pairs.

    Repeatedly drops customers with fewer than ``min_customer`` distinct products and products with
    fewer than ``min_product`` distinct customers until every remaining one meets its minimum. Duplicate
    pairs count once.

    Parameters
    ----------
    rows, cols : numpy.ndarray of int
        Customer and product codes of the pairs (duplicates allowed).
    min_customer, min_product : int
        Minimum distinct interactions to stay.
    shape : (int, int), optional
        Number of customer and product codes (default: max code + 1).

    Returns
    -------
    KCoreResult
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if min_customer < 1 or min_product < 1:
        raise ValueError(f"k-core minimums must be >= 1, got {min_customer}, {min_product}")
    n_c = shape[0] if shape else (int(rows.max()) + 1 if len(rows) else 0)
    n_p = shape[1] if shape else (int(cols.max()) + 1 if len(cols) else 0)
    key = rows * max(n_p, 1) + cols
    ukey, inv = np.unique(key, return_inverse=True)
    ur, uc = ukey // max(n_p, 1), ukey % max(n_p, 1)
    alive = np.ones(len(ukey), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        dc = np.bincount(ur[alive], minlength=n_c)
        dp = np.bincount(uc[alive], minlength=n_p)
        ok_c = dc >= min_customer
        ok_p = dp >= min_product
        new_alive = alive & ok_c[ur] & ok_p[uc]
        if new_alive.sum() == alive.sum():
            break
        alive = new_alive
    keep_c = np.bincount(ur[alive], minlength=n_c) > 0
    keep_p = np.bincount(uc[alive], minlength=n_p) > 0
    return KCoreResult(keep_c, keep_p, alive[inv], rounds)


def density_table(stages: Mapping[str, tuple[int, int, int]]) -> pd.DataFrame:
    """Customers, products, pairs and density per stage, e.g. ``{"before k-core": (c, p, nnz)}``."""
    rows = []
    for name, (c, p, nnz) in stages.items():
        rows.append(
            {
                "stage": name,
                "customers": int(c),
                "products": int(p),
                "pairs": int(nnz),
                "density": float(nnz) / (c * p) if c and p else 0.0,
            }
        )
    return pd.DataFrame(rows)
