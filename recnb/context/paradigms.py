"""The three standard ways to use context, and the context-free baseline they are measured against.

Every ranker answers :meth:`rank` for a table of requests (:class:`recnb.context.log.RequestSet`)
with top-k product indices in the log's vocabulary, never recommending a product the customer already
interacted with in training (unless built with ``exclude_seen=False``, the repeat-aware mode).

- :class:`ContextFree`: a fitted recnb model, one list per customer whatever the context.
- :class:`PreFilter` (contextual pre-filtering, Adomavicius and Tuzhilin): the training data is cut
  to the request's context value (e.g. only mobile visits) and one model is trained per value; a
  customer with no history in that context gets that context's popularity.
- :class:`PostFilter` (contextual post-filtering): the context-free model's candidates are
  re-ranked by a context-category affinity learned from the training events
  (:class:`ContextLift`): ``-log(1 + rank) + weight * sum_d a_d(customer, value_d, category)``,
  where ``a_d`` is the log lift of the request's value *minus* the log lift the customer's usual
  values of that dimension would give (the context-free model learned from those visits already);
  the weight is chosen on validation requests (:func:`tune_weight`).
- :class:`ContextualLightFM` (contextual modelling): LightFM whose "users" are (customer, context)
  pairs described by the customer's identity plus one feature per context value, so the context
  shifts the customer's representation; with no context dimensions it is the same model without
  context, the fair baseline for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightfm import LightFM
from threadpoolctl import threadpool_limits

from recnb.context.log import EventLog, daypart_of
from recnb.data.interactions import Interactions
from recnb.models.base import Recommender
from recnb.models.topk import topk_dense

__all__ = [
    "ContextFree",
    "ContextLift",
    "ContextualLightFM",
    "PostFilter",
    "PreFilter",
    "drop_seen",
    "event_context",
    "fit_recnb_model",
    "tune_weight",
]


def event_context(log: EventLog, dimension: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Value of a request feature for events (all events when ``rows`` is None), as strings."""
    sel = slice(None) if rows is None else rows
    if dimension in ("device", "location"):
        if dimension not in log.available:
            raise ValueError(f"context dimension {dimension!r}: the events have no such column")
        vals = log.events[dimension].astype(object).to_numpy()[sel]
        return np.where(pd.isna(vals), "unknown", vals).astype(object)
    ts = pd.DatetimeIndex(log.time[sel])
    if dimension == "daypart":
        return daypart_of(ts)
    if dimension == "weekend":
        return np.where(ts.weekday >= 5, "weekend", "weekday").astype(object)
    raise ValueError(
        f"unknown context dimension {dimension!r}; allowed: device, location, daypart, weekend"
    )


def drop_seen(idx: np.ndarray, seen: sp.csr_matrix, customers: np.ndarray, k: int) -> np.ndarray:
    """Keep the first ``k`` entries of each row that the customer has not seen (pad with -1)."""
    n = idx.shape[0]
    rows = seen[customers]
    hit = np.zeros(idx.shape, dtype=bool)
    valid = idx >= 0
    r, c = np.nonzero(valid)
    if len(r):
        hit[r, c] = np.asarray(rows[r, idx[r, c]]).ravel() > 0
    keep = valid & ~hit
    out = np.full((n, k), -1, dtype=np.int64)
    pos = np.cumsum(keep, axis=1) - 1
    sel = keep & (pos < k)
    rr, cc = np.nonzero(sel)
    out[rr, pos[rr, cc]] = idx[rr, cc]
    return out


class ContextFree:
    """The context-free baseline: a fitted recnb model's list for the request's customer."""

    def __init__(self, model: Recommender, exclude_seen: bool = True) -> None:
        self.model = model
        self.exclude_seen = exclude_seen

    def candidates(self, requests: pd.DataFrame, n: int) -> np.ndarray:
        """The model's top ``n`` for each request's customer, shape (n_requests, n)."""
        uniq, inv = np.unique(requests["customer"].to_numpy(), return_inverse=True)
        idx, _ = self.model.recommend_indices(uniq, n, exclude_seen=self.exclude_seen)
        return idx[inv]

    def rank(self, requests: pd.DataFrame, k: int) -> np.ndarray:
        """Top-k product indices per request."""
        return self.candidates(requests, k)


class ContextLift:
    """How much more (or less) each category is chosen in each context value than overall.

    ``lift_d(v, c) = [(n(v, c) + m p(c)) / (n(v) + m)] / p(c)``: the share of positive training
    events in category ``c`` among events in context value ``v``, shrunk towards the overall share
    ``p(c)`` by ``m`` pseudo-events (``prior``), over the overall share.

    Centred (the default), the adjustment of a request is taken relative to the customer's own
    contexts: ``log lift_d(v, c) - sum_u' pi_u(v') log lift_d(v', c)``, with ``pi_u`` the
    customer's share of training events in each value (shrunk towards the overall mix by
    ``customer_prior`` pseudo-events). A context-free model fitted on the customer's history
    already ranks as the customer's usual context suggests: most visits come from one device and
    one region, so adding the pooled lift again counts the usual context twice and adds noise. The
    centred adjustment is 0 for a customer in their usual context and moves the list only where
    this visit differs from them (a phone owner on a desktop).

    Parameters
    ----------
    dimensions : sequence of str
        Request features to learn lifts for (:data:`recnb.context.log.REQUEST_FEATURES`).
    level : int
        Category path depth (1: top category).
    prior : float
        Shrinkage pseudo-count ``m``.
    centred : bool
        Adjust relative to the customer's own mix of context values (False: the pooled lift).
    customer_prior : float
        Pseudo-events of the overall mix added to each customer's mix.
    """

    def __init__(
        self,
        dimensions: Sequence[str],
        level: int = 1,
        prior: float = 50.0,
        centred: bool = True,
        customer_prior: float = 5.0,
    ) -> None:
        if not dimensions:
            raise ValueError("ContextLift: give at least one context dimension")
        self.dimensions = tuple(dimensions)
        self.level = level
        self.prior = prior
        self.centred = centred
        self.customer_prior = customer_prior
        if centred and not prior > 0:
            raise ValueError(
                f"ContextLift: centred lifts need prior > 0 (a zero share has a log lift of -inf, "
                f"which no customer mix can be subtracted from), got prior={prior!r}"
            )

    def fit(self, log: EventLog, train_mask: np.ndarray) -> ContextLift:
        rows = np.flatnonzero(train_mask & log.positive)
        if len(rows) == 0:
            raise ValueError("ContextLift.fit: no positive training event")
        cat_codes, self.categories_ = pd.factorize(log.categories(self.level), sort=True)
        self.product_category_ = cat_codes.astype(np.int64)
        cats = self.product_category_[log.product[rows]]
        n_cat = len(self.categories_)
        overall = np.bincount(cats, minlength=n_cat).astype(np.float64)
        p = (overall + 1.0) / (overall.sum() + n_cat)
        self.tables_: dict[str, pd.DataFrame] = {}
        self.customer_mix_: dict[str, np.ndarray] = {}
        for dim in self.dimensions:
            vals = event_context(log, dim, rows)
            codes, names = pd.factorize(vals, sort=True)
            counts = np.zeros((len(names), n_cat))
            np.add.at(counts, (codes, cats), 1.0)
            share = (counts + self.prior * p[None, :]) / (
                counts.sum(axis=1, keepdims=True) + self.prior
            )
            with np.errstate(divide="ignore"):  # a zero share (prior 0) is a lift of 0
                logs = np.log(share / p[None, :])
            self.tables_[dim] = pd.DataFrame(logs, index=pd.Index(names, dtype=object))
            if self.centred:
                # the customer's own mix of this dimension's values, shrunk towards the overall mix
                n_c = log.n_customers
                per = np.zeros((n_c, len(names)))
                np.add.at(per, (log.customer[rows], codes), 1.0)
                mix = (per.sum(axis=0) + 1.0) / (per.sum() + len(names))
                per += self.customer_prior * mix[None, :]
                self.customer_mix_[dim] = per / per.sum(axis=1, keepdims=True)
        return self

    def log_lift(self, requests: pd.DataFrame, items: np.ndarray) -> np.ndarray:
        """``sum_d log lift_d(request value, category(item))``, shape of ``items`` (0 for -1);
        centred: minus the customer's usual ``sum_v' pi(v') log lift_d(v', category)``."""
        out = np.zeros(items.shape, dtype=np.float64)
        cat = self.product_category_[np.maximum(items, 0)]
        for dim, table in self.tables_.items():
            pos = table.index.get_indexer(requests[dim].astype(object).to_numpy())
            known = pos >= 0
            vals = table.to_numpy()
            add = np.zeros(items.shape)
            add[known] = vals[pos[known][:, None], cat[known]]
            if self.centred:
                # minus what the customer's usual contexts would add: the base model's list
                # already reflects them (it learned from the customer's own visits)
                mix = self.customer_mix_[dim][requests["customer"].to_numpy()]
                usual = mix @ vals  # (n_requests, n_categories)
                add[known] -= np.take_along_axis(usual, cat, axis=1)[known]
            out += add
        out[items < 0] = 0.0
        return out

    def table(self) -> pd.DataFrame:
        """Tidy lifts: ``dimension``, ``value``, ``category``, ``lift``."""
        parts = []
        for dim, t in self.tables_.items():
            long = np.exp(t).rename(columns=dict(enumerate(self.categories_))).stack()
            parts.append(
                pd.DataFrame(
                    {
                        "dimension": dim,
                        "value": long.index.get_level_values(0).astype(object),
                        "category": long.index.get_level_values(1).astype(object),
                        "lift": long.to_numpy(),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)


class PostFilter:
    """Contextual post-filtering: re-rank the context-free candidates by the context lift.

    Parameters
    ----------
    base : ContextFree
        The context-free ranker whose candidates are re-ranked.
    lift : ContextLift
        Fitted context-category lifts.
    weight : float
        Weight of the summed log lifts against ``-log(1 + rank)`` of the base list (0: the base).
    n_candidates : int
        Length of the base list that is re-ranked.
    """

    def __init__(
        self, base: ContextFree, lift: ContextLift, weight: float = 1.0, n_candidates: int = 100
    ) -> None:
        self.base = base
        self.lift = lift
        self.weight = weight
        self.n_candidates = n_candidates

    def rank(self, requests: pd.DataFrame, k: int, cand: np.ndarray | None = None) -> np.ndarray:
        if cand is None:
            cand = self.base.candidates(requests, max(k, self.n_candidates))
        score = -np.log1p(np.arange(cand.shape[1], dtype=np.float64))[None, :]
        score = score + self.weight * self.lift.log_lift(requests, cand)
        score = np.where(cand < 0, -np.inf, score)
        order = np.argsort(-score, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(cand, order, axis=1)


class PreFilter:
    """Contextual pre-filtering: one model per value of a context dimension.

    Parameters
    ----------
    factory : callable
        Returns a fresh, unfitted recnb model.
    dimension : str
        The request feature whose values split the training data.
    exclude_seen : bool
        Leave out products the customer interacted with in *any* training context.
    """

    def __init__(
        self, factory: Callable[[], Recommender], dimension: str, exclude_seen: bool = True
    ) -> None:
        self.factory = factory
        self.dimension = dimension
        self.exclude_seen = exclude_seen

    def fit(self, log: EventLog, train_mask: np.ndarray) -> PreFilter:
        values = event_context(log, self.dimension)
        self.models_: dict[str, Recommender] = {}
        for v in sorted(set(values[train_mask])):
            part = log.interactions(mask=train_mask & (values == v))
            if part.matrix.nnz:
                self.models_[v] = self.factory().fit(part)
        full = log.interactions(mask=train_mask)
        self.seen_ = (full.matrix > 0).astype(np.float32).tocsr()
        self.fallback_ = ContextFree(self.factory().fit(full), self.exclude_seen)
        return self

    def rank(self, requests: pd.DataFrame, k: int) -> np.ndarray:
        vals = requests[self.dimension].astype(object).to_numpy()
        cust = requests["customer"].to_numpy()
        out = np.full((len(requests), k), -1, dtype=np.int64)
        extra = 50 if self.exclude_seen else 0
        for v in pd.unique(vals):
            rows = np.flatnonzero(vals == v)
            model = self.models_.get(v)
            if model is None:  # a value never seen in training: the context-free model
                out[rows] = self.fallback_.rank(requests.iloc[rows], k)
                continue
            uniq, inv = np.unique(cust[rows], return_inverse=True)
            idx, _ = model.recommend_indices(uniq, k + extra, exclude_seen=self.exclude_seen)
            if self.exclude_seen:
                idx = drop_seen(idx, self.seen_, uniq, k)
            out[rows] = idx[inv][:, :k]
        return out


class ContextualLightFM:
    """LightFM over (customer, context) pseudo-customers: contextual modelling.

    A training event of customer ``c`` in context ``(v_1, ..., v_D)`` is a positive pair of the
    pseudo-customer with features ``{customer=c, d_1=v_1, ..., d_D=v_D}`` (the identity weighs 1,
    each context feature ``context_weight``) and the product. At request time the request's own context values
    build the row, so a customer's list moves with the context. ``dimensions=()`` gives the same
    model without context.

    Parameters
    ----------
    dimensions : sequence of str
        Request features used as context features.
    no_components, epochs, learning_rate, loss, max_sampled
        LightFM settings.
    random_state : int
        Seed (one thread: results repeat).
    exclude_seen : bool
        Leave out products the customer interacted with in training.
    context_weight : float
        Value of a context feature in the feature row (the customer's identity has 1); small
        values keep the customer's own taste dominant.
    """

    def __init__(
        self,
        dimensions: Sequence[str] = (),
        no_components: int = 32,
        epochs: int = 10,
        learning_rate: float = 0.05,
        loss: str = "warp",
        max_sampled: int = 10,
        random_state: int = 0,
        exclude_seen: bool = True,
        context_weight: float = 1.0,
    ) -> None:
        self.dimensions = tuple(dimensions)
        self.context_weight = context_weight
        self.no_components = no_components
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.loss = loss
        self.max_sampled = max_sampled
        self.random_state = random_state
        self.exclude_seen = exclude_seen

    def _rows(self, customers: np.ndarray, values: dict[str, np.ndarray]) -> sp.csr_matrix:
        n = len(customers)
        cols = [customers.astype(np.int64)]
        for dim in self.dimensions:
            pos = self.value_index_[dim].get_indexer(values[dim])
            # an unseen value adds no feature: it points at a zero column beyond the vocabulary
            cols.append(np.where(pos >= 0, self.offset_[dim] + pos, self.n_features_))
        c = np.stack(cols, axis=1)
        data = np.ones(c.shape, dtype=np.float32)
        data[c == self.n_features_] = 0.0
        m = sp.csr_matrix(
            (data.ravel(), (np.repeat(np.arange(n), c.shape[1]), c.ravel())),
            shape=(n, self.n_features_ + 1),
        )[:, : self.n_features_]
        m.eliminate_zeros()
        if self.context_weight != 1.0:
            m = m @ sp.diags(self.column_weight_)
        return sp.csr_matrix(m, dtype=np.float32)

    def fit(self, log: EventLog, train_mask: np.ndarray) -> ContextualLightFM:
        rows = np.flatnonzero(train_mask & log.positive)
        if len(rows) == 0:
            raise ValueError("ContextualLightFM.fit: no positive training event")
        n_c = log.n_customers
        self.value_index_: dict[str, pd.Index] = {}
        self.offset_: dict[str, int] = {}
        offset = n_c
        values = {}
        for dim in self.dimensions:
            vals = event_context(log, dim, rows)
            values[dim] = vals
            self.value_index_[dim] = pd.Index(sorted(set(vals)), dtype=object)
            self.offset_[dim] = offset
            offset += len(self.value_index_[dim])
        self.n_features_ = offset
        self.column_weight_ = np.ones(offset, dtype=np.float32)
        self.column_weight_[n_c:] = self.context_weight
        key = log.customer[rows].astype(np.int64)
        for dim in self.dimensions:
            key = key * (len(self.value_index_[dim]) + 1) + self.value_index_[dim].get_indexer(
                values[dim]
            )
        ukey, first, pseudo = np.unique(key, return_index=True, return_inverse=True)
        uf = self._rows(log.customer[rows][first], {d: v[first] for d, v in values.items()})
        inter = sp.coo_matrix(
            (np.ones(len(rows), np.float32), (pseudo, log.product[rows])),
            shape=(len(ukey), log.n_products),
        ).tocsr()
        inter.sum_duplicates()
        inter.data[:] = 1.0
        model = LightFM(
            no_components=self.no_components,
            loss=self.loss,
            learning_rate=self.learning_rate,
            max_sampled=self.max_sampled,
            random_state=np.random.RandomState(self.random_state),
        )
        model.fit(inter.tocoo(), user_features=uf, epochs=self.epochs, num_threads=1)
        self.model_ = model
        ib, item = model.get_item_representations()
        self.item_repr_ = np.ascontiguousarray(item.T, dtype=np.float32)
        self.item_bias_ = np.asarray(ib, dtype=np.float32)
        full = log.interactions(mask=train_mask)
        self.seen_ = (full.matrix > 0).astype(np.float32).tocsr()
        return self

    def scores(self, requests: pd.DataFrame) -> np.ndarray:
        """Dense scores (n_requests x n_products), float32."""
        cust = requests["customer"].to_numpy()
        vals = {d: requests[d].astype(object).to_numpy() for d in self.dimensions}
        uf = self._rows(cust, vals)
        with threadpool_limits(1, "blas"):
            ub, ue = self.model_.get_user_representations(uf)
            s = ue.astype(np.float32) @ self.item_repr_
        s += self.item_bias_[None, :] + ub.astype(np.float32)[:, None]
        return s

    def rank(self, requests: pd.DataFrame, k: int, batch: int = 2048) -> np.ndarray:
        out = np.empty((len(requests), k), dtype=np.int64)
        cust = requests["customer"].to_numpy()
        for s in range(0, len(requests), batch):
            part = requests.iloc[s : s + batch]
            sc = self.scores(part)
            if self.exclude_seen:
                seen = self.seen_[cust[s : s + batch]].tocoo()
                sc[seen.row, seen.col] = -np.inf
            idx, _ = topk_dense(sc, k)
            out[s : s + batch] = idx
        return out


def tune_weight(
    rank: Callable[[float], np.ndarray],
    valid: Any,
    score: Callable[[np.ndarray, Any], np.ndarray],
    grid: Sequence[float],
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[float, pd.DataFrame]:
    """Pick a weight of ``grid`` on validation requests, keeping 0 unless another is proven better.

    ``rank(weight)`` returns the top-k of the validation requests with that weight and
    ``score(topk, valid)`` the per-request validation metric (NaN: not scored). Each weight's
    paired gain over the smallest weight of the grid (0: the context-free list) gets a
    customer-level bootstrap interval; among the weights whose interval lies above 0, the one with
    the highest lower bound (the most surely positive gain) is chosen; when none is proven, the
    smallest weight is kept, so a context without signal is not used (re-ranking by noise costs
    accuracy). The lower bound rather than the mean: a large weight moves many lists, and its
    mean gain on one validation window is the noisiest (on the default shop the best-mean weight
    of daypart, 2, gained less on the test than weight 1, whose validation gain was surer).

    Returns
    -------
    (float, pandas.DataFrame)
        The chosen weight and the table (``weight``, ``score`` (mean), ``gain_ci_low``).
    """
    from recnb.context.compare import cluster_mean_ci

    if not len(grid):
        raise ValueError("tune_weight: the grid is empty")
    weights = sorted(float(w) for w in grid)
    per = [np.asarray(score(rank(w), valid), dtype=np.float64) for w in weights]
    customers = np.asarray(valid.requests["customer"]) if valid is not None else None
    rows = []
    for w, v in zip(weights, per, strict=True):
        lo = float("nan")
        if customers is not None and w != weights[0]:
            _, lo, _ = cluster_mean_ci(v - per[0], customers, n_boot, alpha, seed)
        rows.append({"weight": w, "score": float(np.nanmean(v)), "gain_ci_low": lo})
    table = pd.DataFrame(rows)
    if customers is None:  # no customers to bootstrap over: the best mean (first: the smaller)
        return weights[int(np.argmax(table["score"].to_numpy()))], table
    lows = table["gain_ci_low"].to_numpy()
    proven = np.flatnonzero(lows > 0)  # NaN (the smallest weight) is never > 0
    if not len(proven):
        return weights[0], table
    best = proven[int(np.argmax(lows[proven]))]  # first maximum: the smaller weight
    return weights[best], table


def fit_recnb_model(factory: Callable[[], Recommender], train: Interactions) -> Recommender:
    """Fit a recnb model (one BLAS thread: results repeat)."""
    with threadpool_limits(1, "blas"):
        return factory().fit(train)
