"""The one model contract every recommender in recnb follows.

:class:`Recommender` owns everything that is the same for every algorithm: input validation, the
customer and product vocabularies (id <-> index), the matrix of items each customer has already
consumed, seeding, the policy for unknown and history-less customers, batched top-k with seen-item
exclusion and a candidate list, explanations' framing, and saving in open formats. An algorithm
implements only

- ``_fit(train, rng)``: learn its state (attributes ending in ``_``) from an :class:`Interactions`;
  the resolved side features are available as ``self._fit_features`` (a :class:`FitFeatures`)
  during ``_fit`` only — keep what scoring needs as fitted state;
- ``_score(customer_idx)``: dense float32 scores of shape ``(len(customer_idx), n_products)`` for
  one batch of customers (never the whole catalogue for all customers at once), or its own
  ``_topk(customer_idx, k, exclude_seen, candidates)`` when a library does top-k faster;
- optionally ``_explain(customer_idx, product_idx)`` (and set ``can_explain = True``);
- optionally ``_check_params()`` (ranges and choices of its hyperparameters; their types are checked
  from the ``__init__`` annotations) and ``_check_state()`` (consistency of a loaded state);
- optionally ``parallel_scoring = True`` when ``_score`` only reads fitted state, so chunks of
  customers may be scored on several threads at once.
- optionally ``scoring_params``: hyperparameters that ``_fit`` never reads (only scoring does), so
  a search over them alone fits the model once.

Rules (scikit-learn conventions): hyperparameters are ``__init__`` arguments stored unchanged and
annotated with their types; ``random_state`` is turned into ``numpy.random.default_rng(random_state)``
inside :meth:`fit`, so fitting twice gives the same model; :meth:`fit` returns ``self``.

Who gets what
-------------
- A customer seen in training with at least one positive interaction is scored by the model.
- A customer known to the training data but without any positive interaction ("cold") gets the
  popularity fallback (products ranked by the number of customers who interacted with them in
  training, ties by product index) unless the model sets ``serves_cold_customers = True`` and scores
  such customers itself (for example from customer features).
- A customer absent from the training data ("unknown", index ``-1``) is handled by the ``unknown``
  hyperparameter: ``"popularity"`` gives the same popularity fallback, ``"error"`` raises
  :class:`KeyError` naming the id(s).
- ``serves_cold_products`` says whether a product without training interactions can reach a list
  (only through product features); the report prints both flags per model.

Saved models are a folder with ``model.json`` (registry name, class, ``get_params()``, scalar state,
the name, dtype and shape of every array, the size and sha256 of ``state.npz``) and ``state.npz``
(arrays, loaded with ``allow_pickle=False``): nothing is ever unpickled, and :meth:`Recommender.load`
checks everything before it returns a model; a damaged or mismatched file raises
:class:`ModelFileError` naming the file and the fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from recnb.data.interactions import Interactions
from recnb.data.io import write_json, write_with
from recnb.models import catalog
from recnb.models._checks import check_annotated_types, check_random_state
from recnb.models.topk import (
    CHUNK_BUDGET,
    chunk_bounds,
    mask_csr_rows,
    one_blas_thread,
    scoring_threads,
    topk_dense,
)

__all__ = [
    "CONFIG_FILE",
    "FEATURE_KEYS",
    "FORMAT",
    "STATE_FILE",
    "MissingModelFileError",
    "ModelFileError",
    "SCORE_BUDGET",
    "UNKNOWN_POLICIES",
    "FitFeatures",
    "NotFittedError",
    "Recommender",
]

#: float32 scores held in one dense block (32 MB) by a model without ``parallel_scoring``; sets its
#: default batch size (models with ``parallel_scoring`` use cache-sized chunks, ``CHUNK_BUDGET``)
SCORE_BUDGET = 1 << 23
#: accepted values of the ``unknown`` hyperparameter
UNKNOWN_POLICIES = ("popularity", "error")
#: keys accepted in ``fit(train, features=...)``
FEATURE_KEYS = (
    "customer_features",
    "customer_feature_names",
    "product_features",
    "product_feature_names",
    "customers",
    "products",
)
#: format tag written into ``model.json`` (2: checksums, array dtypes and shapes recorded)
FORMAT = "recnb-model/2"
#: the two files of a saved model
CONFIG_FILE = "model.json"
STATE_FILE = "state.npz"

_SPARSE_PARTS = ("data", "indices", "indptr", "shape")
_SPARSE_SUFFIXES = tuple(f"__{p}" for p in _SPARSE_PARTS)
_ID_INDEX = {"customer_index_": "customer_ids_", "product_index_": "product_ids_"}


class NotFittedError(RuntimeError):
    """A model was used before :meth:`Recommender.fit` (or :meth:`Recommender.load`)."""


class ModelFileError(ValueError):
    """A saved model cannot be loaded; the message names the file and what is wrong with it.

    Attributes
    ----------
    path : pathlib.Path
        The file (or folder) at fault.
    problem : str
        What is wrong, without the path.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MissingModelFileError(ModelFileError, FileNotFoundError):
    """A saved model's folder or one of its two files does not exist."""


@dataclass
class FitFeatures:
    """Side features resolved for one ``fit`` call.

    ``customer``/``product`` are CSR matrices row-aligned with the training ids (or None);
    ``customers``/``products`` are optional raw tables passed through ``features=`` (used by the
    content model when the Interactions carry no product features).
    """

    customer: sp.csr_matrix | None = None
    customer_names: list[str] = field(default_factory=list)
    product: sp.csr_matrix | None = None
    product_names: list[str] = field(default_factory=list)
    customers: pd.DataFrame | None = None
    products: pd.DataFrame | None = None


class Recommender(BaseEstimator):
    """Base class of every recnb model (see the module docstring for the contract).

    Parameters
    ----------
    random_state : int or None
        Seed; turned into ``numpy.random.default_rng(random_state)`` inside :meth:`fit`.
    unknown : {"popularity", "error"}
        What to do with customers absent from the training data.
    batch_size : int or None
        Customers scored per dense block; None sizes blocks to about ``score_budget`` scores:
        ``CHUNK_BUDGET`` (1.5 MB of float32, so a block stays in cache while it is masked and
        selected) for models with ``parallel_scoring``, else ``SCORE_BUDGET`` (32 MB). Memory
        stays flat whatever the number of customers.
    """

    #: registry name (the name used in params files)
    name: ClassVar[str] = ""
    #: whether :meth:`explain` is implemented
    can_explain: ClassVar[bool] = False
    #: whether customers without training history get personal scores (else popularity fallback)
    serves_cold_customers: ClassVar[bool] = False
    #: whether products without training interactions can be recommended (through features)
    serves_cold_products: ClassVar[bool] = False
    #: whether the model is meant for the repeat-aware mode (``exclude_seen=False``): it ranks the
    #: products a customer already had (buy again); with seen products excluded it has no
    #: personal signal left
    repeat_aware: ClassVar[bool] = False
    #: why explain is not available (used in the NotImplementedError message)
    explain_note: ClassVar[str] = "this algorithm has no additive decomposition of its scores"
    #: whether ``_score`` may run on several threads at once (it only reads fitted state); the
    #: scoring loop then spreads chunks over :func:`recnb.models.topk.scoring_threads` threads
    parallel_scoring: ClassVar[bool] = False
    #: float32 scores per chunk when ``batch_size`` is None; None means ``CHUNK_BUDGET`` for a
    #: model with ``parallel_scoring`` (threads, BLAS at one thread) and ``SCORE_BUDGET`` otherwise
    score_budget: ClassVar[int | None] = None
    #: hyperparameters read only when scoring, never by ``_fit`` (a blend's weight): changing
    #: them on a fitted model gives the lists of a refit, so a search over them fits once
    scoring_params: ClassVar[tuple[str, ...]] = ()
    #: hyperparameter counting the passes over the data (``epochs``, ``iterations``) of a model
    #: whose ``_fit`` calls :meth:`_pass_done` after each pass with its fitted state up to date,
    #: so a watcher can score the model so far (early pruning of tuning trials); None for others
    passes_param: ClassVar[str | None] = None

    def __init__(
        self,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: Interactions, features: dict[str, Any] | None = None) -> Recommender:
        """Learn from ``train``.

        Parameters
        ----------
        train : Interactions
            Customer x product confidences (explicit models read the values as ratings).
        features : dict, optional
            Overrides for the side features carried by ``train``; keys from ``FEATURE_KEYS``:
            ``customer_features``/``product_features`` (sparse or dense, row-aligned with the
            training ids), their ``*_names``, and raw ``customers``/``products`` DataFrames.

        Returns
        -------
        Recommender
            ``self``, fitted.
        """
        if not isinstance(train, Interactions):
            raise TypeError(
                f"{type(self).__name__}.fit: train must be an Interactions, got {type(train).__name__}"
            )
        data = train.matrix.data
        n_pos = int(np.count_nonzero(data > 0))
        if train.n_customers == 0 or train.n_products == 0 or n_pos == 0:
            raise ValueError(
                f"{type(self).__name__}.fit: train is empty (shape {train.shape}, "
                f"{n_pos} positive values)"
            )
        if not np.isfinite(data).all():
            bad = data[~np.isfinite(data)][0]
            raise ValueError(
                f"{type(self).__name__}.fit: train.matrix holds a non-finite value {bad}"
            )
        self.check_params()
        rng = np.random.default_rng(self.random_state)

        self.customer_ids_ = np.asarray(train.customer_ids, dtype=object)
        self.product_ids_ = np.asarray(train.product_ids, dtype=object)
        self._build_id_index()
        pos = train.matrix.copy()
        pos.data = (pos.data > 0).astype(np.float32)
        pos.eliminate_zeros()
        pos.sort_indices()
        self.seen_ = sp.csr_matrix(pos, dtype=np.float32)
        self.popularity_ = np.asarray(self.seen_.sum(axis=0), dtype=np.float32).ravel()

        self._fit_features = _resolve_features(train, features, type(self).__name__)
        try:
            self._fit(train, rng)
        finally:
            del self._fit_features
        return self

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _fit")

    @contextlib.contextmanager
    def watching(self, watcher: Callable[[Recommender, int], None] | None) -> Iterator[None]:
        """Within the block, :meth:`fit` calls ``watcher(self, n)`` after its pass ``n``.

        Only models with :attr:`passes_param` call it; their state after pass ``n`` is that of
        a model fitted with ``n`` passes and can be scored. The watcher may raise to stop the fit
        (the exception propagates from :meth:`fit`). Watching never changes the fitted model:
        the passes and their random draws are the same as without a watcher.
        """
        if watcher is None:
            yield
            return
        self._pass_watcher = watcher
        try:
            yield
        finally:
            del self._pass_watcher

    def _watched(self) -> bool:
        """Whether a watcher waits for :meth:`_pass_done` (so storing state per pass is worth it)."""
        return getattr(self, "_pass_watcher", None) is not None

    def _pass_done(self, n_done: int) -> None:
        """Iterative models call this after pass ``n_done`` (1-based), state stored."""
        watcher = getattr(self, "_pass_watcher", None)
        if watcher is not None:
            watcher(self, int(n_done))

    def check_params(self) -> None:
        """Validate every hyperparameter without fitting; raise ValueError naming the key.

        First the types the ``__init__`` annotations declare (``int``, ``float``, ``bool``,
        ``str``, ``X | None``, ...), then the checks every model shares (``random_state``,
        ``unknown``, ``batch_size``), then the model's own ranges and choices
        (:meth:`_check_params`). :meth:`fit` and :meth:`load` call it; a params file can be
        checked with it before any data is read.
        """
        owner = self.name or type(self).__name__
        check_annotated_types(owner, type(self).__init__, self.get_params(deep=False))
        self._check_common_params()
        self._check_params()

    def _check_params(self) -> None:
        """Validate the algorithm's hyperparameters (ranges, choices); called by check_params."""

    def _check_common_params(self) -> None:
        check_random_state(type(self).__name__, self.random_state)
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(
                f"{type(self).__name__}: unknown={self.unknown!r}; allowed: {list(UNKNOWN_POLICIES)}"
            )
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int | np.integer)
            or self.batch_size < 1
        ):
            raise ValueError(
                f"{type(self).__name__}: batch_size must be a positive int or None, "
                f"got {self.batch_size!r}"
            )

    # -- fitted state helpers ------------------------------------------------------------------
    def _build_id_index(self) -> None:
        self.customer_index_ = {c: i for i, c in enumerate(self.customer_ids_)}
        self.product_index_ = {p: i for i, p in enumerate(self.product_ids_)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "seen_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(train) first")

    @property
    def n_customers_(self) -> int:
        self._check_fitted()
        return int(self.seen_.shape[0])

    @property
    def n_products_(self) -> int:
        self._check_fitted()
        return int(self.seen_.shape[1])

    @property
    def has_history_(self) -> np.ndarray:
        """Boolean per training customer: at least one positive interaction in train."""
        self._check_fitted()
        return np.diff(self.seen_.indptr) > 0

    def _batch_rows(self) -> int:
        if self.batch_size is not None:
            return int(self.batch_size)
        budget = self.score_budget
        if budget is None:
            budget = CHUNK_BUDGET if self.parallel_scoring else SCORE_BUDGET
        return max(2, budget // max(1, self.n_products_))

    def customer_indices(self, customers: Any) -> np.ndarray:
        """External customer ids -> training row indices; -1 for ids not in training."""
        self._check_fitted()
        ids = _as_id_array(customers)
        return np.fromiter((self.customer_index_.get(c, -1) for c in ids), np.int64, len(ids))

    def product_indices(self, products: Any) -> np.ndarray:
        """External product ids -> training column indices; -1 for ids not in training."""
        self._check_fitted()
        ids = _as_id_array(products)
        return np.fromiter((self.product_index_.get(p, -1) for p in ids), np.int64, len(ids))

    def uses_fallback(self, customer_idx: np.ndarray) -> np.ndarray:
        """Boolean per customer index: True where the popularity fallback serves the customer.

        Index -1 (unknown) and customers without training history (unless the model serves cold
        customers) get the fallback.
        """
        cidx = self._check_customer_idx(customer_idx)
        known = cidx >= 0
        out = ~known
        if not self.serves_cold_customers:
            out[known] = ~self.has_history_[cidx[known]]
        return out

    def _check_customer_idx(self, customer_idx: Any) -> np.ndarray:
        self._check_fitted()
        cidx = np.asarray(customer_idx)
        if cidx.ndim != 1:
            cidx = np.atleast_1d(cidx)
            if cidx.ndim != 1:
                raise ValueError(f"customer_idx must be 1-D, got shape {cidx.shape}")
        if cidx.size and not np.issubdtype(cidx.dtype, np.integer):
            raise TypeError(f"customer_idx must hold integers, got dtype {cidx.dtype}")
        cidx = cidx.astype(np.int64, copy=False)
        bad = (cidx < -1) | (cidx >= self.n_customers_)
        if bad.any():
            raise IndexError(
                f"{type(self).__name__}: customer index {int(cidx[bad][0])} out of range "
                f"[-1, {self.n_customers_}) (-1 means unknown)"
            )
        if self.unknown == "error" and (cidx == -1).any():
            raise KeyError(
                f"{type(self).__name__}: {int((cidx == -1).sum())} customer(s) unknown to the "
                "training data (index -1) and unknown='error'"
            )
        return cidx

    def _check_candidates(self, candidates: Any) -> np.ndarray | None:
        if candidates is None:
            return None
        cand = np.asarray(candidates)
        if cand.size and not np.issubdtype(cand.dtype, np.integer):
            raise TypeError(f"candidates must be product indices (integers), got {cand.dtype}")
        cand = np.unique(cand.astype(np.int64).ravel())
        bad = (cand < 0) | (cand >= self.n_products_)
        if bad.any():
            raise IndexError(
                f"{type(self).__name__}: candidate product index {int(cand[bad][0])} out of range "
                f"[0, {self.n_products_})"
            )
        return cand

    # -- recommendation ------------------------------------------------------------------------
    def recommend_indices(
        self,
        customer_idx: np.ndarray,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k product indices and scores for customer indices: the fast path for evaluation.

        Parameters
        ----------
        customer_idx : numpy.ndarray of int, shape (n,)
            Training row indices; -1 marks a customer unknown to the training data (handled by
            the ``unknown`` policy).
        k : int
            List length.
        exclude_seen : bool
            Never return products the customer interacted with (value > 0) in train.
        candidates : numpy.ndarray of int, optional
            Product indices the lists are restricted to.

        Returns
        -------
        indices : numpy.ndarray of int64, shape (n, k)
            Product indices, best first; ties broken by the lower product index. Padded with -1
            only when fewer than ``k`` products are available to that customer (catalogue or
            candidates exhausted by seen-item exclusion).
        scores : numpy.ndarray of float32, shape (n, k)
            Scores (popularity counts for customers served by the fallback), ``nan`` in padding.
        """
        k = _check_k(k)
        cidx = self._check_customer_idx(customer_idx)
        cand = self._check_candidates(candidates)
        n = len(cidx)
        out_idx = np.full((n, k), -1, np.int64)
        out_val = np.full((n, k), np.nan, np.float32)
        fallback = self.uses_fallback(cidx)
        if fallback.any():
            fi, fv = self._popularity_topk(k, cand)
            out_idx[fallback] = fi
            out_val[fallback] = fv
        served = np.flatnonzero(~fallback)
        if len(served):
            idx, val = self._topk(cidx[served], k, bool(exclude_seen), cand)
            out_idx[served] = idx
            out_val[served] = val
        return out_idx, out_val

    def recommend(
        self,
        customers: Any = None,
        k: int = 10,
        exclude_seen: bool = True,
        candidates: Iterable[Any] | None = None,
    ) -> pd.DataFrame:
        """Top-k recommendations as a tidy table.

        Parameters
        ----------
        customers : id or iterable of ids, optional
            External customer ids; None means every training customer.
        k : int
            List length.
        exclude_seen : bool
            Leave out products the customer interacted with in train.
        candidates : iterable of product ids, optional
            Restrict the lists to these products (unknown product ids raise KeyError).

        Returns
        -------
        pandas.DataFrame
            Columns ``customer_id``, ``rank`` (1..k), ``product_id``, ``score``; one row per
            recommendation (a customer with fewer than ``k`` available products has fewer rows).
        """
        self._check_fitted()
        ids = self.customer_ids_ if customers is None else _as_id_array(customers)
        cidx = self.customer_indices(ids)
        if self.unknown == "error" and (cidx < 0).any():
            missing = [str(c) for c in ids[cidx < 0][:5]]
            raise KeyError(
                f"{type(self).__name__}: customer id(s) {missing} not in the training data "
                "(unknown='error')"
            )
        cand = None
        if candidates is not None:
            cids = _as_id_array(candidates)
            cand = self.product_indices(cids)
            if (cand < 0).any():
                missing = [str(p) for p in cids[cand < 0][:5]]
                raise KeyError(f"{type(self).__name__}: candidate product id(s) {missing} unknown")
        idx, val = self.recommend_indices(cidx, k=k, exclude_seen=exclude_seen, candidates=cand)
        k = idx.shape[1]
        keep = idx.ravel() >= 0
        flat = np.where(keep, idx.ravel(), 0)
        return pd.DataFrame(
            {
                "customer_id": np.repeat(np.asarray(ids, dtype=object), k)[keep],
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), len(ids))[keep],
                "product_id": self.product_ids_[flat][keep],
                "score": val.ravel()[keep].astype(np.float32),
            }
        )

    def score_pairs(self, customer_idx: np.ndarray, product_idx: np.ndarray) -> np.ndarray:
        """The model's score for each (customer index, product index) pair, float32.

        The same numbers :meth:`recommend_indices` ranks by (fallback customers get popularity).
        """
        cidx = self._check_customer_idx(customer_idx)
        pidx = np.asarray(product_idx, dtype=np.int64).ravel()
        if len(pidx) != len(cidx):
            raise ValueError(f"score_pairs: {len(cidx)} customers but {len(pidx)} products")
        if ((pidx < 0) | (pidx >= self.n_products_)).any():
            raise IndexError(f"score_pairs: product index out of range [0, {self.n_products_})")
        out = self.popularity_[pidx].astype(np.float32)
        fallback = self.uses_fallback(cidx)
        served = np.flatnonzero(~fallback)
        if len(served):
            out[served] = self._score_pairs(cidx[served], pidx[served])
        return out

    def _score_pairs(self, cidx: np.ndarray, pidx: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(cidx, return_inverse=True)
        out = np.empty(len(cidx), np.float32)
        step = self._batch_rows()
        for start in range(0, len(uniq), step):
            block = self._score_block(uniq[start : start + step])
            sel = (inv >= start) & (inv < start + step)
            out[sel] = block[inv[sel] - start, pidx[sel]]
        return out

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} implements neither _score nor _topk")

    def _transposed(self, key: str) -> np.ndarray:
        """``getattr(self, key).T`` as a C-contiguous array, kept until the attribute is replaced.

        For dot-product scores ``u @ v.T``: BLAS multiplies by a contiguous transpose faster than
        by the transposed view, with bitwise the same result. The copy is private (not saved) and
        rebuilt when ``key`` is assigned a new array (not when an array is changed in place).
        """
        arr = getattr(self, key)
        cache = self.__dict__.setdefault("_transposed_cache", {})
        hit = cache.get(key)
        if hit is None or hit[0] is not arr:
            hit = (arr, np.ascontiguousarray(arr.T))
            cache[key] = hit
        return hit[1]

    def _score_block(self, customer_idx: np.ndarray) -> np.ndarray:
        s = np.asarray(self._score(customer_idx))
        if s.shape != (len(customer_idx), self.n_products_):
            raise ValueError(
                f"{type(self).__name__}._score returned shape {s.shape}, expected "
                f"{(len(customer_idx), self.n_products_)}"
            )
        return s.astype(np.float32, copy=False)

    def _topk(
        self, customer_idx: np.ndarray, k: int, exclude_seen: bool, candidates: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Batched top-k over dense score blocks (override when a library does it faster).

        Customers are cut into chunks of :meth:`_batch_rows` rows (:func:`topk.chunk_bounds`);
        each chunk is scored, its seen items set to ``-inf`` through the CSR indices of
        ``seen_``, and selected by :func:`topk_dense` before the next chunk is scored, so memory
        holds one chunk per worker whatever the number of customers. Models with
        ``parallel_scoring = True`` run the chunks on :func:`topk.scoring_threads` threads with
        BLAS at one thread each; the lists do not depend on the number of threads.

        An override must honour ``exclude_seen`` (``self.seen_``), ``candidates`` (product
        indices or None), the -1/nan padding rule and the tie-break by lower product index.
        """
        n = len(customer_idx)
        out_idx = np.empty((n, k), np.int64)
        out_val = np.empty((n, k), np.float32)
        bounds = chunk_bounds(n, self._batch_rows())
        seen = self.seen_ if exclude_seen else None

        def run(bound: tuple[int, int]) -> None:
            start, stop = bound
            batch = customer_idx[start:stop]
            scores = self._score_block(batch)
            if not scores.flags.writeable or not scores.flags.c_contiguous:
                scores = np.array(scores, dtype=np.float32, order="C")
            if seen is not None:
                mask_csr_rows(scores, seen.indptr, seen.indices, batch)
            if candidates is not None:
                idx, val = topk_dense(scores[:, candidates], k)
                idx = np.where(idx >= 0, candidates[np.maximum(idx, 0)], -1)
            else:
                idx, val = topk_dense(scores, k)
            out_idx[start:stop] = idx
            out_val[start:stop] = val

        if not self.parallel_scoring or len(bounds) < 2:
            for bound in bounds:
                run(bound)
            return out_idx, out_val
        # the workers share the cores: BLAS threads inside each would oversubscribe them
        workers = min(scoring_threads(), len(bounds))
        with one_blas_thread():
            if workers == 1:
                for bound in bounds:
                    run(bound)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    for _ in pool.map(run, bounds):  # re-raises a worker's exception here
                        pass
        return out_idx, out_val

    def _mask_seen(self, scores: np.ndarray, batch: np.ndarray) -> None:
        """Set the scores of ``batch``'s seen products to ``-inf``, in place."""
        mask_csr_rows(scores, self.seen_.indptr, self.seen_.indices, batch)

    def _popularity_topk(self, k: int, cand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        pop = self.popularity_[None, :]
        if cand is None:
            return topk_dense(pop, k)
        idx, val = topk_dense(pop[:, cand], k)
        return np.where(idx >= 0, cand[np.maximum(idx, 0)], -1), val

    # -- explanations --------------------------------------------------------------------------
    def explain(self, customer: Any, product: Any) -> pd.DataFrame:
        """Why ``product`` scores what it scores for ``customer``.

        Parameters
        ----------
        customer, product : id
            External ids from the training data.

        Returns
        -------
        pandas.DataFrame
            Columns ``contributor`` (str), ``kind`` (str: e.g. ``consumed_product``, ``neighbour``,
            ``term``, ``attribute``, ``bias``, ``fallback``), ``contribution`` (float), highest
            contribution first. For additive models the contributions sum to the score.

        Raises
        ------
        NotImplementedError
            When the model cannot explain (``can_explain`` is False).
        KeyError
            For a product id, or (with ``unknown='error'``) a customer id, not in training.
        """
        if not self.can_explain:
            raise NotImplementedError(
                f"{type(self).__name__} ({self.name!r}) cannot explain its scores: {self.explain_note}"
            )
        self._check_fitted()
        cidx = self.customer_indices([customer])
        pidx = self.product_indices([product])
        if pidx[0] < 0:
            raise KeyError(f"{type(self).__name__}.explain: product id {product!r} not in training")
        if cidx[0] < 0 and self.unknown == "error":
            raise KeyError(
                f"{type(self).__name__}.explain: customer id {customer!r} not in training"
            )
        if self.uses_fallback(cidx)[0]:
            df = pd.DataFrame(
                {
                    "contributor": ["popularity"],
                    "kind": ["fallback"],
                    "contribution": [float(self.popularity_[pidx[0]])],
                }
            )
        else:
            df = self._explain(int(cidx[0]), int(pidx[0]))
        df = df.astype({"contributor": str, "kind": str, "contribution": float})
        order = np.lexsort((df["contributor"].to_numpy(), -df["contribution"].to_numpy()))
        return df.iloc[order].reset_index(drop=True)[["contributor", "kind", "contribution"]]

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        raise NotImplementedError(f"{type(self).__name__} does not implement _explain")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the fitted model to ``folder``: ``model.json`` + ``state.npz`` (no pickle).

        ``model.json`` records, besides the hyperparameters and scalar state, the name, dtype and
        shape of every array and the size and sha256 of ``state.npz`` (and a sha256 of the scalar
        state), so :meth:`load` can tell a damaged or mismatched file from a good one. Each file
        is written to a temporary name and renamed; ``state.npz`` first, so an interrupted save
        leaves a pair whose checksums disagree, which :meth:`load` refuses.
        """
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays, scalars = self._get_state()
        params = self.get_params(deep=False)
        for key, value in params.items():
            if not _json_able(value):
                raise TypeError(
                    f"{type(self).__name__}.save: hyperparameter {key}={value!r} cannot be "
                    "written to JSON"
                )
        for key, arr in arrays.items():
            if arr.dtype.hasobject:
                raise TypeError(
                    f"{type(self).__name__}.save: array {key} holds Python objects; override "
                    "_get_state to store it in an open format"
                )
        written: dict[str, Any] = {}

        def _write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            written.update(bytes=tmp.stat().st_size, sha256=_sha256_file(tmp))

        write_with(folder / STATE_FILE, _write)
        config = {
            "format": FORMAT,
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": params,
            "state": scalars,
            "state_sha256": _sha256_json(scalars),
            "arrays": {
                key: {"dtype": arrays[key].dtype.str, "shape": list(arrays[key].shape)}
                for key in sorted(arrays)
            },
            "state_npz": written,
        }
        write_json(folder / CONFIG_FILE, config)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Recommender:
        """Read a model written by :meth:`save`; its recommendations are identical.

        Everything is checked before the model is returned: the format tag and registry name,
        the hyperparameters (through :meth:`check_params`, the checks ``fit`` runs), the size and
        sha256 of ``state.npz`` against the values recorded at save time, the array names, dtypes
        and shapes against ``model.json``, the consistency of the state (ids, seen-items matrix,
        each model's own :meth:`_check_state`) and a one-customer recommendation.

        Raises
        ------
        MissingModelFileError
            The folder, ``model.json`` or ``state.npz`` does not exist (a ``FileNotFoundError``).
        ModelFileError
            Anything else wrong with the files (a ``ValueError``); the message names the file and
            what is wrong with it.
        TypeError
            The folder holds a model of another class than the one ``load`` was called on.
        """
        folder = Path(folder)
        config_path = folder / CONFIG_FILE
        if not folder.is_dir():
            raise MissingModelFileError(folder, "no such folder (no saved model here)")
        if not config_path.is_file():
            raise MissingModelFileError(config_path, "missing: no saved model in this folder")
        info = _read_config(config_path)
        fmt = info.get("format")
        if fmt != FORMAT:
            old = fmt == "recnb-model/1"
            raise ModelFileError(
                config_path,
                f"format {fmt!r}, expected {FORMAT!r}"
                + (
                    " (saved by an older recnb without checksums: fit and save again)"
                    if old
                    else ""
                ),
            )
        name = info.get("model")
        known = catalog.names()
        if not isinstance(name, str) or name not in known:
            raise ModelFileError(config_path, f"model {name!r} is not registered; known: {known}")
        klass = catalog.lookup(name)
        if not issubclass(klass, cls):
            raise TypeError(f"{folder}: holds a {klass.__name__}, not a {cls.__name__}")

        params = info.get("params")
        if not isinstance(params, dict):
            raise ModelFileError(config_path, f"'params' must be an object, got {params!r}")
        allowed = init_params(klass)
        unknown = sorted(set(params) - set(allowed))
        missing = sorted(set(allowed) - set(params))
        if unknown or missing:
            raise ModelFileError(
                config_path,
                f"hyperparameters of {name!r} do not match: unknown {unknown}, missing {missing}; "
                f"allowed: {sorted(allowed)}",
            )
        model = klass(**params)
        try:
            model.check_params()
        except (TypeError, ValueError) as e:
            raise ModelFileError(config_path, f"bad hyperparameter: {e}") from None

        specs = _config_arrays(config_path, info)
        scalars = _config_state(config_path, info, specs)
        arrays = _read_state(folder / STATE_FILE, info, specs)
        try:
            model._set_state(arrays, scalars)
            model._check_state()
            model._smoke_test()
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure here means the saved state is unusable
            raise ModelFileError(
                folder / STATE_FILE,
                f"the saved state does not make a working {name!r} model ({type(e).__name__}: {e})",
            ) from e
        return model

    def _check_state(self) -> None:
        """Check a loaded state for consistency; raise ValueError naming the attribute.

        The base checks the id vocabularies, the seen-items matrix and the popularity counts, and
        the index structure of every sparse matrix. Override (calling super) to check a model's
        own arrays against each other and the hyperparameters, e.g. factor shapes.
        """
        for key in ("customer_ids_", "product_ids_"):
            ids = getattr(self, key)
            if ids.ndim != 1:
                raise ValueError(f"{key} must be 1-D, got shape {ids.shape}")
        n_c, n_p = len(self.customer_ids_), len(self.product_ids_)
        if len(self.customer_index_) != n_c or len(self.product_index_) != n_p:
            raise ValueError("customer_ids_ or product_ids_ holds duplicate ids")
        if self.seen_.shape != (n_c, n_p):
            raise ValueError(
                f"seen_ has shape {self.seen_.shape}, expected ({n_c}, {n_p}) from the ids"
            )
        if self.popularity_.shape != (n_p,):
            raise ValueError(f"popularity_ has shape {self.popularity_.shape}, expected ({n_p},)")
        for key, value in vars(self).items():
            if sp.issparse(value):
                try:
                    value.check_format(full_check=True)
                except ValueError as e:
                    raise ValueError(f"sparse matrix {key} is malformed: {e}") from None

    def _smoke_test(self) -> None:
        """One recommendation from the loaded state: a state that cannot score fails here."""
        served = np.flatnonzero(~self.uses_fallback(np.arange(self.n_customers_)))
        first = served[:1] if len(served) else np.array([-1], np.int64)
        if self.unknown == "error" and first[0] < 0:
            return
        idx, val = self.recommend_indices(first, k=1)
        if idx[0, 0] >= 0 and not np.isfinite(val[0, 0]):
            raise ValueError(f"customer index {int(first[0])} gets a non-finite score {val[0, 0]}")

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state -> (arrays for npz, JSON-able scalars).

        Public attributes ending in ``_`` are saved: numpy arrays as they are (object arrays of
        ids as str), sparse matrices as their CSR parts, numbers/strings/lists as JSON.
        Override (calling super) for anything else, e.g. a torch module's tensors.
        """
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {"__object__": [], "__sparse__": []}
        for key in sorted(vars(self)):
            if key.startswith("_") or not key.endswith("_") or key in _ID_INDEX:
                continue
            value = getattr(self, key)
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    arrays[key] = value.astype(str)
                    scalars["__object__"].append(key)
                else:
                    arrays[key] = value
            elif sp.issparse(value):
                m = sp.csr_matrix(value)
                arrays[f"{key}__data"] = m.data
                arrays[f"{key}__indices"] = m.indices
                arrays[f"{key}__indptr"] = m.indptr
                arrays[f"{key}__shape"] = np.asarray(m.shape, np.int64)
                scalars["__sparse__"].append(key)
            elif _json_able(value):
                scalars[key] = value.item() if isinstance(value, np.generic) else value
            else:
                raise TypeError(
                    f"{type(self).__name__}.save: fitted attribute {key} of type "
                    f"{type(value).__name__} has no open format; override _get_state"
                )
        return arrays, scalars

    def _set_state(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        """Inverse of :meth:`_get_state`."""
        objects = set(scalars.pop("__object__", []))
        sparse = scalars.pop("__sparse__", [])
        for key in sparse:
            shape = tuple(int(x) for x in arrays.pop(f"{key}__shape"))
            parts = [arrays.pop(f"{key}__{p}") for p in ("data", "indices", "indptr")]
            setattr(self, key, sp.csr_matrix(tuple(parts), shape=shape))
        for key, value in arrays.items():
            setattr(self, key, value.astype(object) if key in objects else value)
        for key, value in scalars.items():
            setattr(self, key, value)
        self._build_id_index()


# -- helpers -----------------------------------------------------------------------------------
def init_params(cls: type) -> dict[str, Any]:
    """The ``__init__`` arguments of a model class (its hyperparameters) with their defaults."""
    sig = inspect.signature(cls.__init__)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return int(k)


def _as_id_array(ids: Any) -> np.ndarray:
    if isinstance(ids, str | bytes) or np.ndim(ids) == 0:
        ids = [ids]
    return np.asarray([str(x) for x in ids], dtype=object)


def _json_able(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return not isinstance(value, np.generic) or np.isscalar(value)
    if isinstance(value, list | tuple):
        return all(_json_able(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_able(v) for k, v in value.items())
    return False


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _sha256_json(obj: Any) -> str:
    """sha256 of the canonical JSON text of ``obj`` (as it reads back from model.json)."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_scalar
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(path, "not a text file (expected the JSON written by save)") from None
    except json.JSONDecodeError as e:
        raise ModelFileError(path, f"not valid JSON ({e})") from None
    except OSError as e:
        raise ModelFileError(path, f"cannot be read ({e.strerror or e})") from None
    if not isinstance(info, dict):
        raise ModelFileError(path, f"expected a JSON object, got {type(info).__name__}")
    return info


def _config_arrays(path: Path, info: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The ``arrays`` entry of model.json: name -> (dtype string, shape), validated."""
    raw = info.get("arrays")
    if not isinstance(raw, dict):
        raise ModelFileError(
            path, f"'arrays' must be an object of name -> dtype and shape, got {raw!r}"
        )
    specs = {}
    for key, spec in raw.items():
        ok = isinstance(spec, dict) and isinstance(spec.get("dtype"), str)
        shape = spec.get("shape") if isinstance(spec, dict) else None
        ok = ok and isinstance(shape, list)
        ok = ok and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        if ok:
            try:
                dtype = np.dtype(spec["dtype"])
            except TypeError:
                ok = False
            else:
                ok = not dtype.hasobject
        if not ok:
            raise ModelFileError(
                path,
                f"arrays[{key!r}] must be {{'dtype': <numpy dtype>, 'shape': [ints]}}, got {spec!r}",
            )
        specs[key] = (np.dtype(spec["dtype"]).str, tuple(shape))
    return specs


def _config_state(
    path: Path, info: dict[str, Any], specs: dict[str, tuple[str, tuple[int, ...]]]
) -> dict[str, Any]:
    """The scalar ``state`` of model.json, checked against its sha256 and the array names."""
    state = info.get("state")
    if not isinstance(state, dict):
        raise ModelFileError(path, f"'state' must be an object, got {state!r}")
    try:
        digest = _sha256_json(state)
    except ValueError as e:
        raise ModelFileError(path, f"'state' holds a value JSON cannot carry ({e})") from None
    if digest != info.get("state_sha256"):
        raise ModelFileError(
            path,
            "the scalar 'state' does not match the 'state_sha256' recorded at save time "
            "(the file was edited)",
        )
    for key, suffixes in (("__object__", ("",)), ("__sparse__", _SPARSE_SUFFIXES)):
        names = state.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelFileError(
                path, f"state[{key!r}] must be a list of array names, got {names!r}"
            )
        absent = sorted(n + s for n in names for s in suffixes if n + s not in specs)
        if absent:
            raise ModelFileError(
                path, f"state[{key!r}] names arrays missing from 'arrays': {absent}"
            )
    return dict(state)


def _read_state(
    path: Path, info: dict[str, Any], specs: dict[str, tuple[str, tuple[int, ...]]]
) -> dict[str, np.ndarray]:
    """Arrays of ``state.npz`` after checking size, sha256, names, dtypes and shapes."""
    if not path.is_file():
        raise MissingModelFileError(path, f"missing (model.json is there, {path.name} is not)")
    recorded = info.get("state_npz")
    if not (
        isinstance(recorded, dict)
        and isinstance(recorded.get("sha256"), str)
        and isinstance(recorded.get("bytes"), int)
    ):
        raise ModelFileError(
            path.parent / CONFIG_FILE,
            f"'state_npz' must record the 'bytes' and 'sha256' of {path.name}, got {recorded!r}",
        )
    size = path.stat().st_size
    if size != recorded["bytes"]:
        raise ModelFileError(
            path,
            f"{size} bytes, but {recorded['bytes']} were written at save time "
            "(the file was truncated or replaced)",
        )
    digest = _sha256_file(path)
    if digest != recorded["sha256"]:
        raise ModelFileError(
            path,
            f"sha256 {digest[:16]}... differs from the {recorded['sha256'][:16]}... recorded in "
            f"{CONFIG_FILE} at save time (the file changed since it was saved)",
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            missing, extra = sorted(set(specs) - names), sorted(names - set(specs))
            if missing or extra:
                raise ModelFileError(
                    path,
                    f"array names do not match {CONFIG_FILE}: missing {missing}, unexpected {extra}",
                )
            for key in sorted(specs):
                try:
                    arr = z[key]
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise ModelFileError(
                            path, f"array {key!r} holds Python objects (pickled), never loaded"
                        ) from None
                    raise
                dtype, shape = specs[key]
                if arr.dtype.str != dtype:
                    raise ModelFileError(
                        path,
                        f"array {key!r} has dtype {arr.dtype} ({arr.dtype.str!r}), "
                        f"{CONFIG_FILE} records {dtype!r}",
                    )
                if arr.shape != shape:
                    raise ModelFileError(
                        path,
                        f"array {key!r} has shape {arr.shape}, {CONFIG_FILE} records {shape}",
                    )
                arrays[key] = arr
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ModelFileError(
            path, f"not a readable npz archive ({type(e).__name__}: {e})"
        ) from None
    return arrays


def _resolve_features(
    train: Interactions, features: dict[str, Any] | None, who: str
) -> FitFeatures:
    out = FitFeatures(
        customer=train.customer_features,
        customer_names=list(train.customer_feature_names),
        product=train.product_features,
        product_names=list(train.product_feature_names),
    )
    if not features:
        return out
    if not isinstance(features, dict):
        raise TypeError(f"{who}.fit: features must be a dict, got {type(features).__name__}")
    unknown = sorted(set(features) - set(FEATURE_KEYS))
    if unknown:
        raise KeyError(
            f"{who}.fit: unknown feature key(s) {unknown}; allowed: {list(FEATURE_KEYS)}"
        )
    for kind, n in (("customer", train.n_customers), ("product", train.n_products)):
        key = f"{kind}_features"
        if key in features and features[key] is not None:
            m = sp.csr_matrix(features[key], dtype=np.float32)
            if m.shape[0] != n:
                raise ValueError(
                    f"{who}.fit: features[{key!r}] has {m.shape[0]} rows, expected {n}"
                )
            names = list(
                features.get(f"{kind}_feature_names", [f"{kind}_f{j}" for j in range(m.shape[1])])
            )
            if len(names) != m.shape[1]:
                raise ValueError(
                    f"{who}.fit: features[{kind + '_feature_names'!r}] has {len(names)} names for "
                    f"{m.shape[1]} columns"
                )
            if not np.isfinite(m.data).all():
                raise ValueError(f"{who}.fit: features[{key!r}] holds non-finite values")
            setattr(out, kind, m)
            setattr(out, f"{kind}_names", names)
    for key in ("customers", "products"):
        if key in features and features[key] is not None:
            if not isinstance(features[key], pd.DataFrame):
                raise TypeError(f"{who}.fit: features[{key!r}] must be a DataFrame")
            setattr(out, key, features[key])
    return out
