"""New behaviour between trainings: a per-customer history overlay and scoring from a history.

The service keeps the training matrix of the export (customer x product confidences) and, beside it,
the events it accepted since (:class:`HistoryOverlay`). A customer's *current history* is their
training row with the new events added the way the training signal was built (event weights summed
per product, then scaled to a confidence: :class:`~recnb.serving.spec.SignalSpec`).

Which models can score a history they were not trained on (:func:`rescore`):

========== ==========================================================================================
item_knn   ``history @ similarity`` (the model's own neighbours): a new event changes the list at once
ease       ``history @ B`` (binarized when the model was); ``edlae`` likewise
rp3beta    the binarized history times the random-walk item weights
pure_svd   the history projected on the item factors: ``(x V) V^T``
als        the customer's factors solved exactly against the fixed item factors (``fold_in``,
           implicit's ``recalculate_user``: Hu, Koren & Volinsky 2008, eq. 4)
user_knn   the customer's neighbours recomputed from the history (same weighting, shrunk cosine and
           neighbour count as the fit), then their interactions summed
content    the profile (confidence-weighted mean of product vectors) rebuilt from the history
mult_vae   the history encoded by the trained encoder (no refit)
blend      each member's view, blended as the model blends (when both members can rescore)
========== ==========================================================================================

Each is computed by the model's own scoring code on a *view*: a shallow copy of the fitted model
whose per-customer state (``interactions_``, ``user_factors_``, ``neighbours_``...) is replaced by
rows built from the histories, so the numbers are the model's own; ``tests/test_serving_history.py``
checks that a training customer's unchanged history gives exactly the model's scores and
explanations. Other personal models (``bpr``, ``cornac_bpr``, ``lightfm_*``, ``biased_mf``) cannot fold a history in
without refitting: for them new events only take the products out of the list (the scores change at
the next training). Non-personal models (popularity, trending, random) need no update.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.models.base import Recommender
from recnb.models.topk import topk_dense
from recnb.serving.spec import SignalSpec

__all__ = [
    "HistoryOverlay",
    "NewEvent",
    "can_rescore",
    "history_view",
    "personal",
    "rescore",
]

#: models whose scores do not depend on the customer
NON_PERSONAL = ("popularity", "trending", "random")


def personal(model: Recommender) -> bool:
    """Whether the model's lists depend on the customer's history."""
    return model.name not in NON_PERSONAL


def _positive(h: sp.csr_matrix) -> sp.csr_matrix:
    x = sp.csr_matrix(h, dtype=np.float32, copy=True)
    x.data = np.where(x.data > 0, x.data, 0).astype(np.float32)
    x.eliminate_zeros()
    return x


def _binary(h: sp.csr_matrix) -> sp.csr_matrix:
    x = _positive(h)
    x.data = np.ones_like(x.data)
    return x


def _item_knn(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"interactions_": _positive(h)}


def _ease(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"interactions_": _binary(h) if model.binarize else _positive(h)}


def _rp3beta(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"interactions_": _binary(h)}


def _blend(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"members_": [history_view(m, h, self_idx) for m in model.members_]}


def _pure_svd(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    x = _binary(h) if model.binarize else _positive(h)
    return {
        "interactions_": x,
        "customer_factors_": np.asarray(x @ model.item_factors_, dtype=np.float32),
    }


def _als(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    conf = sp.csr_matrix(h, dtype=np.float32)
    return {"confidence_": conf, "user_factors_": model.fold_in(conf)}


def _content(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"interactions_": _positive(h)}


def _mult_vae(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    return {"seen_": _binary(h)}


class _UserKnnCorpus:
    """What user-kNN's fit compared customers with, rebuilt once per model: the weighted training
    rows, their norms and the column statistics of the weighting."""

    def __init__(self, model: Any) -> None:
        from recnb.models.knn import weight_rows

        x = sp.csr_matrix(model.interactions_, dtype=np.float32)
        w = weight_rows(x, model.weighting, model.bm25_k1, model.bm25_b)
        self.wt = sp.csr_matrix(w.T, dtype=np.float32)  # products x customers
        self.norms = np.sqrt(np.asarray(w.multiply(w).sum(axis=1), dtype=np.float64).ravel())
        n_rows = x.shape[0]
        df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
        self.idf = np.log1p(n_rows / np.maximum(df, 1.0))
        lengths = np.asarray(x.sum(axis=1)).ravel()
        self.avg_len = lengths.mean() if lengths.mean() > 0 else 1.0

    def weigh(self, model: Any, x: sp.csr_matrix) -> sp.csr_matrix:
        """:func:`recnb.models.knn.weight_rows` of new rows with the training corpus' statistics."""
        x = sp.csr_matrix(x, dtype=np.float32, copy=True)
        kind = model.weighting
        if kind == "none":
            return x
        col_idf = self.idf[x.indices]
        if kind == "tfidf":
            x.data = (np.sqrt(np.maximum(x.data, 0.0)) * col_idf).astype(np.float32)
            return x
        k1, b = model.bm25_k1, model.bm25_b
        lengths = np.asarray(x.sum(axis=1)).ravel()
        norm = (1.0 - b) + b * lengths / self.avg_len
        row_norm = np.repeat(norm, np.diff(x.indptr))
        tf = np.maximum(x.data, 0.0)
        x.data = (tf * (k1 + 1.0) / (k1 * row_norm + tf) * col_idf).astype(np.float32)
        return x


_CORPUS_LOCK = threading.Lock()


def _user_knn(model: Any, h: sp.csr_matrix, self_idx: np.ndarray) -> dict[str, Any]:
    corpus = model.__dict__.get("_serving_corpus")
    if corpus is None:
        with _CORPUS_LOCK:
            corpus = model.__dict__.get("_serving_corpus")
            if corpus is None:
                corpus = _UserKnnCorpus(model)
                model.__dict__["_serving_corpus"] = corpus
    x = _positive(h)
    w = corpus.weigh(model, x)
    norms = np.sqrt(np.asarray(w.multiply(w).sum(axis=1), dtype=np.float64).ravel())
    block = np.asarray((w @ corpus.wt).toarray(), dtype=np.float64)
    denom = norms[:, None] * corpus.norms[None, :] + float(model.shrinkage)
    np.divide(block, denom, out=block, where=denom > 0)
    rows = np.flatnonzero(self_idx >= 0)
    block[rows, self_idx[rows]] = 0.0  # a customer is not their own neighbour (as in the fit)
    block[block <= 0] = -np.inf
    kk = max(1, min(int(model.n_neighbors), corpus.wt.shape[1]))
    idx, val = topk_dense(block.astype(np.float32), kk)
    ok = idx >= 0
    r = np.repeat(np.arange(len(idx)), ok.sum(axis=1))
    neighbours = sp.csr_matrix(
        (val[ok], (r, idx[ok])), shape=(h.shape[0], corpus.wt.shape[1]), dtype=np.float32
    )
    neighbours.sort_indices()
    return {"neighbours_": neighbours}


#: model name -> function(model, histories, own training index or -1) -> view attributes
_VIEWS: dict[str, Callable[[Any, sp.csr_matrix, np.ndarray], dict[str, Any]]] = {
    "item_knn": _item_knn,
    "ease": _ease,
    "edlae": _ease,  # same state: interactions_ (binarized when the model was) @ weights_
    "rp3beta": _rp3beta,
    "blend": _blend,
    "pure_svd": _pure_svd,
    "als": _als,
    "user_knn": _user_knn,
    "content": _content,
    "mult_vae": _mult_vae,
}


def can_rescore(model: Recommender) -> bool:
    """Whether :func:`rescore` can score histories the model was not trained on."""
    if model.name == "blend":
        return all(can_rescore(m) for m in getattr(model, "members_", []))
    return model.name in _VIEWS


def history_view(
    model: Recommender, histories: sp.spmatrix, own_index: np.ndarray | None = None
) -> Recommender:
    """A shallow copy of ``model`` whose customers ``0..n-1`` are the given histories.

    Parameters
    ----------
    model : Recommender
        Fitted; :func:`can_rescore` must be True.
    histories : scipy.sparse matrix, shape (n, n_products)
        Confidences in the training product order (the training matrix's scale).
    own_index : numpy.ndarray of int, optional
        Each history's training row (-1 for a customer not in training); user-kNN leaves the
        customer out of their own neighbours.

    Returns
    -------
    Recommender
        Only its ``_score`` and ``_explain`` (customer indices ``0..n-1``) are meaningful.
    """
    if not can_rescore(model):
        raise TypeError(f"{model.name!r} cannot score a history it was not trained on")
    h = sp.csr_matrix(histories, dtype=np.float32)
    if h.shape[1] != model.n_products_:
        raise ValueError(f"histories have {h.shape[1]} columns, expected {model.n_products_}")
    h.sort_indices()
    own = np.full(h.shape[0], -1, np.int64) if own_index is None else np.asarray(own_index)
    view = copy.copy(model)
    view.__dict__.update(_VIEWS[model.name](model, h, own.astype(np.int64)))
    return view


def rescore(
    model: Recommender, histories: sp.spmatrix, own_index: np.ndarray | None = None
) -> np.ndarray:
    """The model's scores for histories, float32 ``(n, n_products)`` (see the module docstring)."""
    view = history_view(model, histories, own_index)
    n = histories.shape[0]
    return np.asarray(view._score(np.arange(n)), dtype=np.float32).reshape(n, model.n_products_)


# -- the overlay -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewEvent:
    """One stored event as the overlay needs it."""

    seq: int
    customer_id: str
    product_id: str
    event: str
    value: float | None = None
    dwell_seconds: float | None = None


def _inverse_scale(c: np.ndarray, spec: SignalSpec) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    if spec.scaling == "log":
        return np.expm1(np.maximum(c - 1.0, 0.0) / spec.alpha)
    if spec.scaling == "linear":
        return np.maximum(c - 1.0, 0.0) / spec.alpha
    return c


def _scale(x: np.ndarray, spec: SignalSpec) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if spec.scaling == "log":
        return 1.0 + spec.alpha * np.log1p(x)
    if spec.scaling == "linear":
        return 1.0 + spec.alpha * x
    return x


class HistoryOverlay:
    """Events accepted since the export, per customer, on top of the training matrix.

    Parameters
    ----------
    base : scipy.sparse.csr_matrix
        Training confidences (customers x products, the model's order).
    customer_index, product_index : dict
        Id -> row / column of ``base``.
    signal : SignalSpec
        How events became confidences in training.

    Notes
    -----
    Implicit signal: the training confidence ``c`` of a pair is turned back into its summed event
    weight ``x`` (inverse of the scaling), the new events' weights are added and the sum scaled
    again, so ten views after training weigh what ten views in training weighed. Recency decay,
    when training used it, is not re-applied (a new event counts as of now, weight 1). Explicit
    signal: a ``rating`` event sets the pair's value (the latest rating wins); other events do not
    enter the signal. Events for products the model does not know are counted, not applied.
    Thread-safe: :meth:`apply` and the readers take one lock.
    """

    def __init__(
        self,
        base: sp.csr_matrix,
        customer_index: dict[str, int],
        product_index: dict[str, int],
        signal: SignalSpec,
    ) -> None:
        self.base = base
        self.customer_index = customer_index
        self.product_index = product_index
        self.signal = signal
        self._weights = {k: float(v) for k, v in signal.event_weights.items()}
        self._new: dict[str, dict[int, float]] = {}
        self._events: dict[str, int] = {}
        self._lock = threading.Lock()
        self.last_seq = 0
        self.applied = 0
        self.unknown_products = 0
        self.outside_signal = 0

    def _weight(self, ev: NewEvent) -> float:
        w = self._weights.get(ev.event, 0.0)
        if w > 0 and self.signal.dwell_factor > 0 and ev.dwell_seconds is not None:
            d = max(float(ev.dwell_seconds), 0.0)
            w *= 1.0 + self.signal.dwell_factor * float(np.log1p(d / 60.0))
        return w

    def apply(self, events: Iterable[NewEvent]) -> int:
        """Add events in ``seq`` order; events at or below :attr:`last_seq` are skipped (already
        applied). Returns how many changed a history."""
        changed = 0
        with self._lock:
            for ev in events:
                if ev.seq <= self.last_seq:
                    continue
                self.last_seq = ev.seq
                p = self.product_index.get(ev.product_id, -1)
                if p < 0:
                    self.unknown_products += 1
                    continue
                if self.signal.signal == "explicit":
                    if ev.event != "rating" or ev.value is None:
                        self.outside_signal += 1
                        continue
                    self._new.setdefault(ev.customer_id, {})[p] = float(ev.value)
                else:
                    w = self._weight(ev)
                    if w <= 0:
                        self.outside_signal += 1
                        continue
                    row = self._new.setdefault(ev.customer_id, {})
                    row[p] = row.get(p, 0.0) + w
                self._events[ev.customer_id] = self._events.get(ev.customer_id, 0) + 1
                self.applied += 1
                changed += 1
        return changed

    def n_events(self, customer_id: str) -> int:
        """Events applied to this customer's history since the export."""
        with self._lock:
            return self._events.get(customer_id, 0)

    @property
    def n_customers(self) -> int:
        with self._lock:
            return len(self._new)

    def history(self, customer_id: str) -> sp.csr_matrix | None:
        """The customer's current history (1 x n_products confidences), or None when no event was
        applied to it since the export (the training row is then the history)."""
        with self._lock:
            new = dict(self._new.get(customer_id, {}))
        if not new:
            return None
        n_p = self.base.shape[1]
        c = self.customer_index.get(customer_id, -1)
        if c >= 0:
            s, e = self.base.indptr[c], self.base.indptr[c + 1]
            cols = self.base.indices[s:e].astype(np.int64)
            vals = self.base.data[s:e].astype(np.float64)
        else:
            cols = np.zeros(0, np.int64)
            vals = np.zeros(0, np.float64)
        add_cols = np.fromiter(new.keys(), np.int64, len(new))
        add_vals = np.fromiter(new.values(), np.float64, len(new))
        if self.signal.signal == "explicit":
            merged = dict(zip(cols.tolist(), vals.tolist(), strict=True))
            merged.update(zip(add_cols.tolist(), add_vals.tolist(), strict=True))
            out_cols = np.fromiter(merged.keys(), np.int64, len(merged))
            out_vals = np.fromiter(merged.values(), np.float64, len(merged))
        else:
            x = dict(zip(cols.tolist(), _inverse_scale(vals, self.signal).tolist(), strict=True))
            for j, w in zip(add_cols.tolist(), add_vals.tolist(), strict=True):
                x[j] = x.get(j, 0.0) + w
            out_cols = np.fromiter(x.keys(), np.int64, len(x))
            raw = np.fromiter(x.values(), np.float64, len(x))
            changed = np.isin(out_cols, add_cols)
            out_vals = np.where(changed, _scale(raw, self.signal), 0.0)
            # untouched pairs keep their training confidence bit for bit
            keep = dict(zip(cols.tolist(), vals.tolist(), strict=True))
            out_vals = np.where(
                changed, out_vals, np.array([keep.get(j, 0.0) for j in out_cols.tolist()])
            )
        order = np.argsort(out_cols)
        return sp.csr_matrix(
            (
                out_vals[order].astype(np.float32),
                out_cols[order],
                np.array([0, len(out_cols)]),
            ),
            shape=(1, n_p),
        )


def explain_view(view: Recommender, product_idx: int) -> pd.DataFrame:
    """The view's explanation of its customer 0 for one product, sorted like
    :meth:`Recommender.explain`."""
    df = view._explain(0, int(product_idx))
    df = df.astype({"contributor": str, "kind": str, "contribution": float})
    order = np.lexsort((df["contributor"].to_numpy(), -df["contribution"].to_numpy()))
    return df.iloc[order].reset_index(drop=True)[["contributor", "kind", "contribution"]]
