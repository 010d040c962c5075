"""Input checks and the vectorized membership lookup shared by the metric modules.

Conventions used by every metric in :mod:`recnb.metrics`:

- ``topk`` is an integer array of shape ``(n_customers, K)`` holding product indices, best first.
  ``-1`` means "no item" and may only pad the end of a row (a model may return fewer than ``K``).
  A product may appear at most once per row.
- ``truth`` is a scipy sparse matrix ``(n_customers, n_products)`` of held-out items; its values are
  relevance grades. An entry is *relevant* when its grade is ``> 0``; explicit zeros are ignored and
  negative grades are rejected. Row ``i`` of ``truth`` belongs to the customer of row ``i`` of ``topk``.

No function builds a dense customers x products matrix: a recommended item is looked up in its
customer's sorted row of held-out items (scipy's sparse element lookup, a binary search per item).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

__all__ = [
    "CUSTOMER_LABEL",
    "CUSTOMER_ROW",
    "check_ks",
    "check_topk",
    "check_truth",
    "customer_column",
    "lookup",
    "row_ids",
]


def check_topk(topk: ArrayLike, n_products: int | None = None, name: str = "topk") -> np.ndarray:
    """Validate a top-K array and return it as a C-contiguous int64 array.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
        Product indices, best first; ``-1`` pads the end of short rows.
    n_products : int, optional
        Catalogue size; when given, every index must be below it.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        The same values as int64.

    Raises
    ------
    ValueError
        On a wrong shape, a non-integer dtype, an index out of range, ``-1`` before a real item, or
        a product repeated within a row (the message names the first offending row).
    """
    arr = np.asarray(topk)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (customers x K), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer product indices, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size == 0:
        return arr
    low = int(arr.min())
    if low < -1:
        row = int(np.nonzero((arr < -1).any(axis=1))[0][0])
        raise ValueError(f"{name} row {row} holds index {low}; only -1 (no item) may be negative")
    if n_products is not None:
        high = int(arr.max())
        if high >= n_products:
            row = int(np.nonzero((arr >= n_products).any(axis=1))[0][0])
            raise ValueError(
                f"{name} row {row} holds product index {high} but there are only "
                f"{n_products} products"
            )
    valid = arr >= 0
    gap = valid[:, 1:] & ~valid[:, :-1]
    if gap.any():
        row = int(np.nonzero(gap.any(axis=1))[0][0])
        raise ValueError(
            f"{name} row {row} has -1 (no item) before a real item: {arr[row].tolist()}; "
            "-1 may only pad the end of a row"
        )
    srt = np.sort(arr, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if dup.any():
        row = int(np.nonzero(dup.any(axis=1))[0][0])
        raise ValueError(f"{name} row {row} recommends a product twice: {arr[row].tolist()}")
    return arr


def check_truth(truth: sparse.spmatrix | sparse.sparray, name: str = "truth") -> sparse.csr_matrix:
    """Validate held-out items and return a canonical float64 CSR copy without zero grades.

    Parameters
    ----------
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items; values are relevance grades (> 0 relevant, 0 ignored).
    name : str
        Name used in error messages.

    Returns
    -------
    scipy.sparse.csr_matrix
        Sorted indices, no duplicates, no explicit zeros, float64 data.

    Raises
    ------
    TypeError
        If ``truth`` is not a scipy sparse matrix.
    ValueError
        On NaN, infinite or negative grades, or a (customer, product) pair stored twice.
    """
    if not sparse.issparse(truth):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(truth).__name__}")
    csr = sparse.csr_matrix(truth, dtype=np.float64, copy=True)
    if csr.nnz and not np.all(np.isfinite(csr.data)):
        raise ValueError(f"{name} holds NaN or infinite relevance grades")
    if csr.nnz and csr.data.min() < 0:
        raise ValueError(f"{name} holds a negative relevance grade ({csr.data.min()})")
    csr.sort_indices()
    if csr.nnz:
        rows = row_ids(csr)
        same = (np.diff(csr.indices) == 0) & (np.diff(rows) == 0)
        if same.any():
            at = int(np.nonzero(same)[0][0])
            raise ValueError(
                f"{name} stores customer row {rows[at]}, product {csr.indices[at]} twice; "
                "sum or deduplicate the held-out items first"
            )
    csr.eliminate_zeros()
    return csr


def check_ks(
    ks: int | Iterable[int], width: int | None = None, name: str = "ks"
) -> tuple[int, ...]:
    """Validate cut-offs: positive integers (no larger than the top-K ``width`` when given),
    returned sorted and unique.

    Parameters
    ----------
    ks : int or iterable of int
        One cut-off or several.
    width : int, optional
        The top-K width the cut-offs apply to.
    name : str
        Name used in error messages (``"k_values"`` for the params key).
    """
    values = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
    if not values:
        raise ValueError(f"{name} is empty; give at least one cut-off k")
    out = []
    for k in values:
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{name}: cut-off k must be a positive integer, got {k!r}")
        if width is not None and k > width:
            raise ValueError(f"{name}: cut-off k={k} exceeds the top-K width {width}")
        out.append(int(k))
    return tuple(sorted(set(out)))


#: the column of a tidy per-customer frame holding the customer's row index (into ``truth``, and in
#: recnb's evaluation into the split's ``customers.parquet``): a position, never a customer id
CUSTOMER_ROW = "customer_row"

#: the column of a tidy per-customer frame holding caller-given customer labels (see ``customers=``)
CUSTOMER_LABEL = "customer"


def customer_column(frame: pd.DataFrame) -> str:
    """The customer column of a tidy per-customer frame: :data:`CUSTOMER_ROW` (row indices) or
    :data:`CUSTOMER_LABEL` (labels given by the caller).

    Raises
    ------
    ValueError
        The frame has neither column, or both.
    """
    have = [c for c in (CUSTOMER_ROW, CUSTOMER_LABEL) if c in frame.columns]
    if len(have) != 1:
        raise ValueError(
            f"a per-customer frame needs exactly one of the columns {CUSTOMER_ROW!r} (row index) "
            f"or {CUSTOMER_LABEL!r} (labels); it has {list(frame.columns)}"
        )
    return have[0]


def row_ids(csr: sparse.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix (int64, length nnz)."""
    return np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))


def lookup(topk: np.ndarray, csr: sparse.csr_matrix, transposed: bool = False) -> np.ndarray:
    """Stored value of ``csr[i, topk[i, j]]`` for every recommended item (0 where not stored).

    Uses scipy's sparse element lookup, a binary search inside each customer's sorted row, so
    no dense customers x products array is built.

    Parameters
    ----------
    topk : numpy.ndarray, shape (n, K)
        Checked top-K array (see :func:`check_topk`); ``-1`` entries give 0.
    csr : scipy.sparse.csr_matrix, shape (n, n_products)
        Canonical CSR (sorted indices, no duplicates).
    transposed : bool
        Return the result as a C-contiguous ``(K, n)`` array (rank-major), which makes
        cumulative sums over ranks fast.

    Returns
    -------
    numpy.ndarray of float64, shape (n, K) or (K, n)
    """
    n, width = topk.shape
    layout = topk.T if transposed else topk
    if csr.nnz == 0 or topk.size == 0:
        return np.zeros(layout.shape, dtype=np.float64)
    rows = np.broadcast_to(
        np.arange(n, dtype=np.int64)[None, :] if transposed else np.arange(n)[:, None],
        layout.shape,
    ).ravel()
    cols = layout.ravel()
    values = np.asarray(csr[rows, np.maximum(cols, 0)], dtype=np.float64).reshape(layout.shape)
    values[layout < 0] = 0.0
    return np.ascontiguousarray(values)
