"""The Interactions object: what models train on and what metrics evaluate against.

A customer x product CSR matrix of confidences (float32) with both id maps and, optionally, aligned
customer, product and context feature matrices with their feature names. Train, validation and test
parts of one split share the same id maps (same shape), so a model's top-k indices can be compared
directly with the held-out matrix. Saved in open formats: ``.npz`` for sparse matrices, Parquet for
id maps, JSON for metadata; never pickle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.io import read_json, write_json, write_npz, write_parquet


@dataclass
class Interactions:
    """Customer x product confidence matrix with id maps and side features.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_customers, n_products), float32
        Aggregated confidence per (customer, product); explicit data keeps the rating value.
    customer_ids, product_ids : numpy.ndarray of str
        Index -> external id. Position ``i`` of ``customer_ids`` is row ``i`` of ``matrix``.
    customer_features, product_features : scipy.sparse.csr_matrix or None
        Row-aligned with ``customer_ids`` / ``product_ids``.
    customer_feature_names, product_feature_names : list of str
        Column names of the feature matrices.
    timestamps : scipy.sparse.csr_matrix or None
        Same sparsity as ``matrix``: last event time per pair in seconds since the epoch (float64),
        for recency-aware models and chronological evaluation.
    meta : dict
        Split metadata (kind, cut-off dates, seeds, cold-start flags as lists, explicit/implicit).
    """

    matrix: sp.csr_matrix
    customer_ids: np.ndarray
    product_ids: np.ndarray
    customer_features: sp.csr_matrix | None = None
    customer_feature_names: list[str] = field(default_factory=list)
    product_features: sp.csr_matrix | None = None
    product_feature_names: list[str] = field(default_factory=list)
    timestamps: sp.csr_matrix | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matrix = sp.csr_matrix(self.matrix, dtype=np.float32)
        self.matrix.sort_indices()
        self.customer_ids = np.asarray(self.customer_ids, dtype=object)
        self.product_ids = np.asarray(self.product_ids, dtype=object)
        n_c, n_p = self.matrix.shape
        if len(self.customer_ids) != n_c:
            raise ValueError(
                f"Interactions: {len(self.customer_ids)} customer ids for a matrix with {n_c} rows"
            )
        if len(self.product_ids) != n_p:
            raise ValueError(
                f"Interactions: {len(self.product_ids)} product ids for a matrix with {n_p} columns"
            )
        for name, ids in (("customer_ids", self.customer_ids), ("product_ids", self.product_ids)):
            if len(pd.unique(ids)) != len(ids):
                raise ValueError(f"Interactions.{name}: ids are not unique")
        for kind, n in (("customer", n_c), ("product", n_p)):
            f = getattr(self, f"{kind}_features")
            names = getattr(self, f"{kind}_feature_names")
            if f is not None:
                f = sp.csr_matrix(f, dtype=np.float32)
                setattr(self, f"{kind}_features", f)
                if f.shape[0] != n:
                    raise ValueError(
                        f"Interactions.{kind}_features: {f.shape[0]} rows, expected {n}"
                    )
                if len(names) != f.shape[1]:
                    raise ValueError(
                        f"Interactions.{kind}_feature_names: {len(names)} names for {f.shape[1]} columns"
                    )
        self._cidx: dict[str, int] | None = None
        self._pidx: dict[str, int] | None = None

    # -- shape and lookups ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def n_customers(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_products(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    @property
    def density(self) -> float:
        n = self.n_customers * self.n_products
        return self.nnz / n if n else 0.0

    def customer_index(self, ids: Any) -> np.ndarray:
        """External customer ids -> row indices; unknown ids map to -1."""
        if self._cidx is None:
            self._cidx = {c: i for i, c in enumerate(self.customer_ids)}
        return np.fromiter((self._cidx.get(str(c), -1) for c in np.atleast_1d(ids)), np.int64)

    def product_index(self, ids: Any) -> np.ndarray:
        """External product ids -> column indices; unknown ids map to -1."""
        if self._pidx is None:
            self._pidx = {p: i for i, p in enumerate(self.product_ids)}
        return np.fromiter((self._pidx.get(str(p), -1) for p in np.atleast_1d(ids)), np.int64)

    def with_matrix(
        self, matrix: sp.spmatrix, timestamps: sp.spmatrix | None = None, **meta: Any
    ) -> Interactions:
        """A copy sharing id maps and features, with another matrix (e.g. the test part).

        ``timestamps`` (same sparsity as ``matrix``) is not carried over from ``self``: the old
        timestamps do not describe the new matrix's pairs.
        """
        return Interactions(
            matrix=matrix,
            customer_ids=self.customer_ids,
            product_ids=self.product_ids,
            customer_features=self.customer_features,
            customer_feature_names=list(self.customer_feature_names),
            product_features=self.product_features,
            product_feature_names=list(self.product_feature_names),
            timestamps=timestamps,
            meta={**self.meta, **meta},
        )

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write to ``folder`` (created): matrix.npz, ids Parquet, features npz, meta.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_npz(folder / "matrix.npz", self.matrix)
        write_parquet(
            folder / "customers.parquet", pd.DataFrame({"customer_id": self.customer_ids})
        )
        write_parquet(folder / "products.parquet", pd.DataFrame({"product_id": self.product_ids}))
        if self.timestamps is not None:
            write_npz(folder / "timestamps.npz", self.timestamps)
        for kind in ("customer", "product"):
            f = getattr(self, f"{kind}_features")
            if f is not None:
                write_npz(folder / f"{kind}_features.npz", f)
        write_json(
            folder / "meta.json",
            {
                "shape": list(self.shape),
                "nnz": self.nnz,
                "customer_feature_names": self.customer_feature_names,
                "product_feature_names": self.product_feature_names,
                "meta": self.meta,
            },
        )
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Interactions:
        folder = Path(folder)
        if not (folder / "meta.json").exists():
            raise FileNotFoundError(f"{folder}: no saved Interactions here (meta.json missing)")
        info = read_json(folder / "meta.json")
        matrix = sp.load_npz(folder / "matrix.npz").tocsr()
        if list(matrix.shape) != list(info["shape"]):
            raise ValueError(
                f"{folder}/matrix.npz: shape {matrix.shape} != meta.json {info['shape']}"
            )
        cids = pd.read_parquet(folder / "customers.parquet")["customer_id"].to_numpy(dtype=object)
        pids = pd.read_parquet(folder / "products.parquet")["product_id"].to_numpy(dtype=object)

        def opt(name: str) -> sp.csr_matrix | None:
            p = folder / name
            return sp.load_npz(p).tocsr() if p.exists() else None

        return cls(
            matrix=matrix,
            customer_ids=cids,
            product_ids=pids,
            customer_features=opt("customer_features.npz"),
            customer_feature_names=list(info.get("customer_feature_names", [])),
            product_features=opt("product_features.npz"),
            product_feature_names=list(info.get("product_feature_names", [])),
            timestamps=opt("timestamps.npz"),
            meta=dict(info.get("meta", {})),
        )


def as_csr(x: Interactions | sp.spmatrix) -> sp.csr_matrix:
    """The matrix of an :class:`Interactions`, or a sparse matrix itself, as CSR."""
    m = x.matrix if isinstance(x, Interactions) else x
    if not sp.issparse(m):
        raise TypeError(f"expected Interactions or a sparse matrix, got {type(x).__name__}")
    return sp.csr_matrix(m)


def check_same_ids(parts: Mapping[str, Interactions], where: str) -> None:
    """Raise ``ValueError`` unless every part shares the first part's id maps.

    The parts of one split (and a model's training and evaluation data) must have the same
    customers in the same rows and the same products in the same columns, so that a top-k index
    of one is a column of the other.

    Parameters
    ----------
    parts : mapping of str -> Interactions
        The parts, by name (the names appear in the message).
    where : str
        What is being checked, for the message (``"load_split(<folder>)"``, ``"tuning"``).
    """
    names = list(parts)
    if not names:
        raise ValueError(f"{where}: no parts")
    ref = parts[names[0]]
    for n in names[1:]:
        o = parts[n]
        if o.shape != ref.shape:
            raise ValueError(
                f"{where}: parts {names[0]!r} and {n!r} must share id maps, but their shapes "
                f"differ ({ref.shape} vs {o.shape}); build every part of a split from one id map"
            )
        for attr in ("customer_ids", "product_ids"):
            if not np.array_equal(
                np.asarray(getattr(o, attr), dtype=object),
                np.asarray(getattr(ref, attr), dtype=object),
            ):
                raise ValueError(
                    f"{where}: part {n!r} does not share the id maps of part {names[0]!r} "
                    f"(its {attr} differ)"
                )
