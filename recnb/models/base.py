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
- optionally ``_explain(customer_idx, product_idx)`` (and set ``can_explain = True``).

Rules (scikit-learn conventions): hyperparameters are ``__init__`` arguments stored unchanged;
``random_state`` is turned into ``numpy.random.default_rng(random_state)`` inside :meth:`fit`, so
fitting twice gives the same model; :meth:`fit` returns ``self``.

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

Saved models are a folder with ``model.json`` (registry name, class, ``get_params()``, scalar state)
and ``state.npz`` (arrays, loaded with ``allow_pickle=False``): nothing is ever unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from recnb.interactions import Interactions
from recnb.io import read_json, write_json, write_with
from recnb.models.topk import topk_dense

__all__ = [
    "FEATURE_KEYS",
    "FORMAT",
    "SCORE_BUDGET",
    "UNKNOWN_POLICIES",
    "FitFeatures",
    "NotFittedError",
    "Recommender",
]

#: number of float32 scores held in one dense block (32 MB); sets the default batch size
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
#: format tag written into ``model.json``
FORMAT = "recnb-model/1"

_SPARSE_PARTS = ("data", "indices", "indptr", "shape")
_ID_INDEX = {"customer_index_": "customer_ids_", "product_index_": "product_ids_"}


class NotFittedError(RuntimeError):
    """A model was used before :meth:`Recommender.fit` (or :meth:`Recommender.load`)."""


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
        Customers scored per dense block; None sizes blocks to about ``SCORE_BUDGET`` scores
        (32 MB of float32), so memory stays flat whatever the number of customers.
    """

    #: registry name (the name used in params files)
    name: ClassVar[str] = ""
    #: whether :meth:`explain` is implemented
    can_explain: ClassVar[bool] = False
    #: whether customers without training history get personal scores (else popularity fallback)
    serves_cold_customers: ClassVar[bool] = False
    #: whether products without training interactions can be recommended (through features)
    serves_cold_products: ClassVar[bool] = False
    #: why explain is not available (used in the NotImplementedError message)
    explain_note: ClassVar[str] = "this algorithm has no additive decomposition of its scores"

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
        self._check_common_params()
        self._check_params()
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

    def _check_params(self) -> None:
        """Validate the algorithm's hyperparameters (called at the start of fit)."""

    def _check_common_params(self) -> None:
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
        return max(1, SCORE_BUDGET // max(1, self.n_products_))

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

        An override must honour ``exclude_seen`` (``self.seen_``), ``candidates`` (product
        indices or None), the -1/nan padding rule and the tie-break by lower product index.
        """
        n = len(customer_idx)
        out_idx = np.empty((n, k), np.int64)
        out_val = np.empty((n, k), np.float32)
        step = self._batch_rows()
        for start in range(0, n, step):
            batch = customer_idx[start : start + step]
            scores = self._score_block(batch)
            if not scores.flags.writeable or not scores.flags.c_contiguous:
                scores = np.ascontiguousarray(scores).copy()
            if exclude_seen:
                self._mask_seen(scores, batch)
            if candidates is not None:
                idx, val = topk_dense(scores[:, candidates], k)
                idx = np.where(idx >= 0, candidates[np.maximum(idx, 0)], -1)
            else:
                idx, val = topk_dense(scores, k)
            out_idx[start : start + step] = idx
            out_val[start : start + step] = val
            del scores  # free this block before the next one is computed: one block at a time
        return out_idx, out_val

    def _mask_seen(self, scores: np.ndarray, batch: np.ndarray) -> None:
        rows = self.seen_[batch]
        r = np.repeat(np.arange(len(batch)), np.diff(rows.indptr))
        scores[r, rows.indices] = -np.inf

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
        """Write the fitted model to ``folder``: ``model.json`` + ``state.npz`` (no pickle)."""
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
        config = {
            "format": FORMAT,
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": params,
            "state": scalars,
            "arrays": sorted(arrays),
        }

        def _write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        write_with(folder / "state.npz", _write)
        write_json(folder / "model.json", config)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Recommender:
        """Read a model written by :meth:`save`; its recommendations are identical."""
        from recnb.models.registry import REGISTRY

        folder = Path(folder)
        if not (folder / "model.json").exists():
            raise FileNotFoundError(f"{folder}: no saved model here (model.json missing)")
        info = read_json(folder / "model.json")
        if info.get("format") != FORMAT:
            raise ValueError(
                f"{folder}/model.json: format {info.get('format')!r}, expected {FORMAT!r}"
            )
        name = info.get("model")
        if name not in REGISTRY:
            raise KeyError(
                f"{folder}/model.json: model {name!r} is not registered; known: {sorted(REGISTRY)}"
            )
        klass = REGISTRY[name]
        if not issubclass(klass, cls):
            raise TypeError(f"{folder}: holds a {klass.__name__}, not a {cls.__name__}")
        model = klass(**info["params"])
        with np.load(folder / "state.npz", allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
        model._set_state(arrays, dict(info.get("state", {})))
        return model

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
