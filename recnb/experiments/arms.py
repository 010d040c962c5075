"""Arms of an experiment: a fitted recommender, a re-ranking step and a ranking policy.

An :class:`Arm` turns a customer into a slate the way a production system does: the recommender
scores the catalogue and keeps its ``n_candidates`` best products (seen products excluded,
unknown or history-less customers served by the model's popularity fallback), an optional
re-ranker adjusts the candidates' scores (e.g. :class:`PopularityPenalty`, a mitigation of
popularity bias), and a :class:`~recnb.data.synthetic.RankingPolicy` draws the shown list of ``k`` from
them: deterministic (best first), epsilon-greedy or Plackett-Luce. Stochastic policies make the
logs carry propensities, which off-policy evaluation needs.

Scores handed to the policy are standardised within each customer's candidate list (mean 0,
standard deviation 1), so one temperature or epsilon means the same for every model whatever the
scale of its scores (popularity counts, dot products, similarities); the order is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.synthetic import RankingPolicy
from recnb.models.base import Recommender

__all__ = [
    "Arm",
    "Candidates",
    "PopularityPenalty",
    "candidate_lists",
    "score_candidates",
    "standardise",
]

#: a re-ranker: (model, candidate product indices (n, c), standardised scores (n, c)) -> scores
Reranker = Callable[[Recommender, np.ndarray, np.ndarray], np.ndarray]


def standardise(scores: np.ndarray) -> np.ndarray:
    """Scores standardised within each row over its valid (non-NaN) entries; a row whose scores
    are all equal becomes 0 (NaN stays NaN)."""
    s = np.asarray(scores, dtype=np.float64)
    valid = ~np.isnan(s)
    n = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    mean = np.where(valid, s, 0.0).sum(axis=1, keepdims=True) / n
    dev = np.where(valid, s - mean, 0.0)
    sd = np.sqrt((dev * dev).sum(axis=1, keepdims=True) / n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sd > 0, dev / sd, 0.0)
    return np.where(valid, out, np.nan)


@dataclass(frozen=True)
class PopularityPenalty:
    """Mitigation of popularity bias: ``score - strength * z(log(1 + popularity))``.

    Popularity is the model's own training popularity (customers per product); both terms are
    standardised within the candidate list, so ``strength`` 1 weighs them equally.

    Parameters
    ----------
    strength : float
        Weight of the penalty (>= 0).
    """

    strength: float = 0.5

    def __post_init__(self) -> None:
        if not (np.isfinite(self.strength) and self.strength >= 0):
            raise ValueError(f"PopularityPenalty.strength: must be >= 0, got {self.strength!r}")

    def __call__(self, model: Recommender, products: np.ndarray, scores: np.ndarray) -> np.ndarray:
        pop = np.log1p(np.asarray(model.popularity_, dtype=np.float64))
        p = np.where(products >= 0, pop[np.maximum(products, 0)], np.nan)
        return standardise(scores) - self.strength * standardise(p)


@dataclass(frozen=True)
class Candidates:
    """Candidate lists of customers: product ids and policy scores, one row per customer.

    Attributes
    ----------
    product_ids : numpy.ndarray of object, shape (n, c)
        Candidate product ids, best first by the model; None where a customer has fewer.
    scores : numpy.ndarray of float64, shape (n, c)
        Standardised (and re-ranked) scores, NaN where there is no candidate.
    product_index : numpy.ndarray of int64, shape (n, c)
        The candidates' column indices in the model's product vocabulary (-1: none).
    fallback : numpy.ndarray of bool, shape (n,)
        Customers served by the popularity fallback (unknown to the model or without history).
    """

    product_ids: np.ndarray
    scores: np.ndarray
    product_index: np.ndarray
    fallback: np.ndarray


def candidate_lists(
    model: Recommender,
    customer_ids: Any,
    n_candidates: int,
    reranker: Reranker | None = None,
) -> Candidates:
    """The ``n_candidates`` best products of a fitted model for each customer id.

    Parameters
    ----------
    model : Recommender
        A fitted model; its ``unknown`` policy decides customers it has not seen (``"error"``
        raises).
    customer_ids : array-like
        Customer ids in the model's vocabulary (pseudonymous ids of the run).
    n_candidates : int
        Products kept per customer (seen products excluded).
    reranker : callable, optional
        Adjusts the standardised scores (see :data:`Reranker`).
    """
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
        raise ValueError(f"n_candidates: expected a positive integer, got {n_candidates!r}")
    cidx = model.customer_indices(np.asarray(customer_ids, dtype=object))
    idx, val = model.recommend_indices(cidx, k=n_candidates, exclude_seen=True)
    scores = np.where(idx >= 0, val.astype(np.float64), np.nan)
    z = standardise(scores)
    if reranker is not None:
        z = np.asarray(reranker(model, idx, z), dtype=np.float64)
        if z.shape != idx.shape:
            raise ValueError(f"reranker: returned shape {z.shape}, expected {idx.shape}")
        z = np.where(idx >= 0, z, np.nan)
        if np.isnan(z[idx >= 0]).any():
            raise ValueError("reranker: returned NaN for a candidate")
    ids = np.where(idx >= 0, model.product_ids_[np.maximum(idx, 0)], None).astype(object)
    return Candidates(ids, z, idx, model.uses_fallback(cidx))


def score_candidates(
    model: Recommender,
    customer_ids: Any,
    product_ids: np.ndarray,
    reranker: Reranker | None = None,
) -> np.ndarray:
    """A model's standardised scores of given candidates (e.g. another policy's candidates).

    Parameters
    ----------
    model : Recommender
        A fitted model.
    customer_ids : array-like, shape (n,)
        One customer per row.
    product_ids : numpy.ndarray of object, shape (n, c)
        Candidate product ids per row (None: no candidate).
    reranker : callable, optional
        Applied after standardising, as in :func:`candidate_lists`.

    Returns
    -------
    numpy.ndarray, shape (n, c)
        NaN exactly where there is no candidate.

    Raises
    ------
    KeyError
        A candidate the model's catalogue does not have.
    """
    ids = np.asarray(product_ids, dtype=object)
    if ids.ndim != 2:
        raise ValueError(f"product_ids: expected a 2-D array, got shape {ids.shape}")
    cidx = model.customer_indices(np.asarray(customer_ids, dtype=object))
    if len(cidx) != len(ids):
        raise ValueError(f"score_candidates: {len(cidx)} customers for {len(ids)} rows")
    valid = ~pd.isna(ids)
    pidx = np.full(ids.shape, -1, dtype=np.int64)
    pidx[valid] = model.product_indices(ids[valid])
    if (pidx[valid] < 0).any():
        bad = ids[valid][pidx[valid] < 0][:5].tolist()
        raise KeyError(f"score_candidates: product(s) {bad} unknown to the model {model.name!r}")
    rows, cols = np.nonzero(valid)
    raw = np.full(ids.shape, np.nan)
    raw[rows, cols] = model.score_pairs(cidx[rows], pidx[rows, cols])
    z = standardise(raw)
    if reranker is not None:
        z = np.where(valid, np.asarray(reranker(model, pidx, z), dtype=np.float64), np.nan)
    return z


@dataclass
class Arm:
    """One arm of an experiment: how a customer's slate is made.

    Parameters
    ----------
    label : str
        Name in tables and reports.
    model : Recommender
        A fitted recommender (its customer ids are the experiment's unit ids).
    policy : RankingPolicy
        How the shown list is drawn from the candidates (default: best first).
    n_candidates : int
        Candidates the policy chooses from (>= the slate length; a deterministic policy shows
        the first ``k``).
    reranker : callable, optional
        Re-ranking of the candidates' scores (e.g. :class:`PopularityPenalty`).

    Notes
    -----
    The candidate lists of the last few customer sets asked for are kept (the A/B test, the
    interleaving and the off-policy evaluation ask for the same customers again); refitting the
    model afterwards is not supported: build a new arm.
    """

    label: str
    model: Recommender
    policy: RankingPolicy = field(default_factory=RankingPolicy)
    n_candidates: int = 20
    reranker: Reranker | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"Arm.label: expected a non-empty string, got {self.label!r}")
        if not isinstance(self.model, Recommender):
            raise ValueError(
                f"Arm {self.label!r}: model must be a fitted Recommender, got "
                f"{type(self.model).__name__}"
            )
        if not isinstance(self.policy, RankingPolicy):
            raise ValueError(f"Arm {self.label!r}: policy must be a RankingPolicy")

    def candidates(self, customer_ids: Any) -> Candidates:
        """Candidate lists of the given customers (see :func:`candidate_lists`)."""
        ids = np.asarray(customer_ids, dtype=object)
        key = (len(ids), hash(tuple(ids.tolist())))
        hit = self._cache.get(key)
        if hit is not None and np.array_equal(hit[0], ids):
            return hit[1]
        cand = candidate_lists(self.model, ids, self.n_candidates, self.reranker)
        if len(self._cache) >= 4:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (ids.copy(), cand)
        return cand

    def score(self, customer_ids: Any, product_ids: np.ndarray) -> np.ndarray:
        """This arm's scores of given candidates (see :func:`score_candidates`)."""
        return score_candidates(self.model, customer_ids, product_ids, self.reranker)

    def describe(self) -> str:
        """One line: model, re-ranking and policy."""
        pol = self.policy
        how = {
            "deterministic": "best first",
            "epsilon_greedy": f"epsilon-greedy (epsilon {pol.epsilon:g})",
            "plackett_luce": f"Plackett-Luce (temperature {pol.temperature:g})",
        }[pol.kind]
        rr = "" if self.reranker is None else f", re-ranked by {self.reranker!r}"
        return f"{self.model.name}{rr}, {how} from {self.n_candidates} candidates"
