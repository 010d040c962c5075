"""Mitigation by re-ranking a model's candidate list: xQuAD, calibrated re-ranking, FA*IR.

Every re-ranker takes the same inputs and returns a new top-``k``:

- ``candidates``: int array ``(n_customers, C)`` of product indices, best first, ``-1`` padding the
  end of short rows (a model's top-``C`` list, e.g. ``C = 100``);
- ``scores``: float array ``(n_customers, C)``, the model's scores of those candidates,
  non-increasing along each row (NaN in the padding);
- ``strength``: how far to move away from the model's order; **strength 0 returns the first**
  ``k`` **candidates unchanged** (the algorithms are written so that this holds without a special
  case: relevance alone, ties broken by the candidate's position).

Every re-ranker checks its inputs (``validate=False`` skips the checks for a caller that ran
them once on the same arrays, e.g. over a grid of strengths).

Relevance inside the greedy objectives is the model's score min-max scaled to [0, 1] within each
customer's candidate list (1 = the best candidate, 0 = the worst; a row of equal scores is all 1),
so one strength means the same thing for models whose scores live on different scales.

Algorithms (all greedy, one position at a time, vectorised over customers: a Python loop over the
``k`` positions only):

xQuAD
    Santos, Macdonald & Ounis (WWW 2010), as used for popularity bias by Abdollahpouri, Burke &
    Mobasher (FLAIRS 2019). Products fall into groups (head / long tail, or large / small
    sellers); the customer's interest in group ``g`` is ``P(g|u)`` (e.g. the group's share of the
    customer's history). The next product maximises ``(1 - strength) * rel(i) + strength *
    P(g(i)|u) * cov(g(i), S)`` over the products ``S`` already placed, with ``cov`` the "not yet
    covered" term: ``binary``: 1 when no product of ``g`` is in ``S``, else 0 (the original
    ``prod_{j in S} (1 - P(j|g))`` with 0/1 membership); ``smooth``: ``1 - |S cap g| / |S|`` (1
    for an empty ``S``), which keeps rewarding a group in proportion to how little of the list it
    holds.
Calibrated re-ranking
    Steck (RecSys 2018). ``p(g|u)`` is the category distribution of the customer's history,
    ``q(g|u)`` that of the list (every listed product weighs the same), ``q~ = (1 - a) q + a p``
    with ``a = 0.01`` so the divergence stays finite, and the miscalibration is ``KL(p || q~) =
    sum_g p_g log(p_g / q~_g)`` (natural log, terms with ``p_g = 0`` are 0): 0 exactly when the
    list's categories match the history, > 0 otherwise. The list maximises ``(1 - strength) *
    sum rel - strength * KL``; the greedy step adds the product with the best marginal value.
    Customers with no categorised history have no target and keep the model's order.
FA*IR
    Zehlike et al. (CIKM 2017). A ranking passes the ranked group fairness test for a protected
    group of products with minimum proportion ``p`` when every prefix ``1..i`` holds at least
    ``m(i)`` protected products, ``m(i) = F^-1(alpha_c; i, p)`` (binomial quantile). ``alpha_c`` is
    ``alpha`` adjusted for testing ``k`` prefixes: the probability that a ranking drawn with each
    position protected independently with probability ``p`` fails some prefix is brought to
    ``alpha`` (:func:`fair_adjusted_alpha`, the binary search of the authors' ``fairsearchcore``;
    the failure probability is computed exactly by dynamic programming, every position included:
    fairsearchcore 1.0.4 leaves out the last one). The re-ranker merges the
    protected and the unprotected candidates, each in model order, taking a protected one whenever
    the table demands it and otherwise the better of the two heads (ties: the earlier candidate;
    ``fairsearchcore`` prefers the protected one). The strength is ``p``: 0 gives a table of zeros,
    the model's order. A customer whose candidates hold too few protected products cannot pass;
    :func:`fair_table_satisfied` says which lists pass.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "CALIBRATION_MIX",
    "XQUAD_VARIANTS",
    "calibrated_rerank",
    "calibration_kl",
    "category_distribution",
    "fair_adjusted_alpha",
    "fair_failure_probability",
    "fair_mtable",
    "fair_rerank",
    "fair_table_satisfied",
    "relevance",
    "xquad_rerank",
]

#: Steck's mixing weight ``a`` of the target into the list's distribution (keeps KL finite)
CALIBRATION_MIX = 0.01
#: coverage terms of xQuAD (see the module docstring)
XQUAD_VARIANTS = ("smooth", "binary")


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------


def _check_candidates(
    candidates: ArrayLike, scores: ArrayLike, k: int
) -> tuple[np.ndarray, np.ndarray]:
    cand = np.asarray(candidates)
    if cand.ndim != 2 or (cand.size and not np.issubdtype(cand.dtype, np.integer)):
        raise ValueError(
            f"candidates must be a 2-D integer array (customers x C), got {cand.dtype} "
            f"with shape {cand.shape}"
        )
    cand = np.ascontiguousarray(cand, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != cand.shape:
        raise ValueError(f"scores has shape {s.shape}, candidates {cand.shape}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= cand.shape[1]:
        raise ValueError(f"k must be an int in 1..{cand.shape[1]} (the candidates), got {k!r}")
    valid = cand >= 0
    if (cand < -1).any():
        raise ValueError("candidates holds a negative index other than the -1 padding")
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        row = int(np.flatnonzero((valid[:, 1:] & ~valid[:, :-1]).any(axis=1))[0])
        raise ValueError(f"candidates row {row}: -1 padding before a real candidate")
    if np.isnan(s[valid]).any():
        row = int(np.flatnonzero((np.isnan(s) & valid).any(axis=1))[0])
        raise ValueError(f"scores row {row}: NaN score for a candidate")
    both = valid[:, 1:] & valid[:, :-1]
    rising = both & (s[:, 1:] > s[:, :-1])
    if rising.any():
        row = int(np.flatnonzero(rising.any(axis=1))[0])
        raise ValueError(
            f"scores row {row} is not sorted best first; candidates must be in the model's order"
        )
    srt = np.sort(np.where(valid, cand, -1 - np.arange(cand.shape[1])), axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if dup.any():
        raise ValueError(f"candidates row {int(np.flatnonzero(dup)[0])} lists a product twice")
    return cand, s


def _candidates_in(
    candidates: ArrayLike, scores: ArrayLike, k: int, validate: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The checked inputs, or (``validate=False``, for a caller that checked them once already)
    the arrays as they are."""
    if validate:
        return _check_candidates(candidates, scores, k)
    return np.asarray(candidates), np.asarray(scores, dtype=np.float64)


def _check_strength(strength: float, high: float = 1.0, name: str = "strength") -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float | np.floating):
        raise ValueError(f"{name} must be a number in [0, {high}], got {strength!r}")
    if not 0.0 <= float(strength) <= high:
        raise ValueError(f"{name} must lie in [0, {high}], got {strength!r}")
    return float(strength)


def _item_codes(codes: ArrayLike, n_products: int | None, name: str) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per product), got shape {arr.shape}")
    if n_products is not None and len(arr) < n_products:
        raise ValueError(
            f"{name} has {len(arr)} entries, but candidates index product {n_products - 1}"
        )
    return arr


def relevance(scores: ArrayLike, candidates: ArrayLike | None = None) -> np.ndarray:
    """Scores min-max scaled to [0, 1] within each row (NaN padding stays NaN).

    A row whose candidates all score the same gets 1 everywhere.
    """
    s = np.asarray(scores, dtype=np.float64)
    valid = ~np.isnan(s) if candidates is None else (np.asarray(candidates) >= 0)
    filled_hi = np.where(valid, s, -np.inf)
    filled_lo = np.where(valid, s, np.inf)
    hi = filled_hi.max(axis=1, keepdims=True)
    lo = filled_lo.min(axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(valid, out, np.nan)


def _greedy(cand: np.ndarray, k: int, state: _GreedyState) -> np.ndarray:
    """Greedy selection: ``state.value(t)`` gives each candidate's value at step ``t`` and
    ``state.update(rows, columns)`` records the candidates placed.

    Unavailable candidates (placed or padding) are never chosen; the first maximum wins (ties go
    to the earlier candidate).
    """
    n, c = cand.shape
    out = np.full((n, k), -1, dtype=np.int64)
    blocked = cand < 0  # padding or already placed
    rows = np.arange(n)
    for t in range(k):
        any_left = ~blocked.all(axis=1)
        if not any_left.any():
            break
        value = state.value(t)
        value[blocked] = -np.inf
        j = np.argmax(value, axis=1)[any_left]
        r = rows[any_left]
        out[r, t] = cand[r, j]
        blocked[r, j] = True
        state.update(r, j)
    return out


class _GreedyState(Protocol):
    def value(self, t: int) -> np.ndarray: ...

    def update(self, rows: np.ndarray, columns: np.ndarray) -> None: ...


# ----------------------------------------------------------------------------------------------
# xQuAD
# ----------------------------------------------------------------------------------------------


class _XQuAD:
    def __init__(self, rel, groups, pref, strength, variant):
        self.base = (1.0 - strength) * np.nan_to_num(rel)
        self.groups = np.maximum(groups, 0)  # (n, C) group code per candidate (padding: 0)
        self.n_groups = pref.shape[1]
        # two groups (head / tail, large / small): a mask is cheaper than a gather per step
        self.second = self.groups == 1 if self.n_groups == 2 else None
        self.pref = pref  # (n, G)
        self.strength = strength
        self.variant = variant
        n, g = pref.shape
        self.count = np.zeros((n, g))  # placed products per group
        self.placed = np.zeros((n, 1))

    def value(self, t: int) -> np.ndarray:
        if self.variant == "binary":
            cov = (self.count == 0).astype(np.float64)
        else:
            cov = 1.0 - self.count / np.maximum(self.placed, 1.0)
        bonus = self.strength * self.pref * cov  # (n, G): the same for every product of a group
        if self.second is not None:
            return self.base + np.where(self.second, bonus[:, 1:2], bonus[:, 0:1])
        return self.base + np.take_along_axis(bonus, self.groups, axis=1)

    def update(self, r: np.ndarray, j: np.ndarray) -> None:
        g = self.groups[r, j]
        np.add.at(self.count, (r, g), 1.0)
        self.placed[r] += 1.0


def xquad_rerank(
    candidates: ArrayLike,
    scores: ArrayLike,
    item_groups: ArrayLike,
    preference: ArrayLike,
    k: int,
    strength: float,
    variant: str = "smooth",
    validate: bool = True,
) -> np.ndarray:
    """xQuAD re-ranking over product groups (see the module docstring).

    Parameters
    ----------
    candidates, scores : array-like, shape (n, C)
        The model's candidates (best first, -1 padding) and their scores.
    item_groups : array-like of int, shape (n_products,)
        Group code of each product, ``0 .. G-1`` (e.g. 0 = head, 1 = long tail).
    preference : array-like of float, shape (n, G) or (G,)
        ``P(g|u)``: the customer's interest in each group (rows sum to 1; one row for everyone).
    k : int
        Length of the new list.
    strength : float
        ``lambda`` in [0, 1]: 0 keeps the model's order.
    variant : {"smooth", "binary"}
        The coverage term.

    Returns
    -------
    numpy.ndarray of int64, shape (n, k)
        Product indices, -1 padding when a customer has fewer than ``k`` candidates.
    """
    cand, s = _candidates_in(candidates, scores, k, validate)
    lam = _check_strength(strength)
    if variant not in XQUAD_VARIANTS:
        raise ValueError(f"variant must be one of {list(XQUAD_VARIANTS)}, got {variant!r}")
    codes = _item_codes(item_groups, int(cand.max()) + 1 if cand.size else 0, "item_groups")
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        raise ValueError("item_groups must be codes >= 0 for every product")
    pref = np.asarray(preference, dtype=np.float64)
    if pref.ndim == 1:
        pref = np.broadcast_to(pref, (cand.shape[0], len(pref)))
    if pref.shape[0] != cand.shape[0] or pref.ndim != 2:
        raise ValueError(
            f"preference must have shape (n, G) with n = {cand.shape[0]}, got {pref.shape}"
        )
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if pref.shape[1] < n_groups:
        raise ValueError(f"preference has {pref.shape[1]} groups, item_groups uses {n_groups}")
    if np.isnan(pref).any() or (pref < 0).any():
        raise ValueError("preference must hold probabilities >= 0 (no NaN)")
    groups = np.where(cand >= 0, codes[np.maximum(cand, 0)], -1)
    state = _XQuAD(relevance(s, cand), groups, pref, lam, variant)
    return _greedy(cand, k, state)


# ----------------------------------------------------------------------------------------------
# calibration
# ----------------------------------------------------------------------------------------------


def category_distribution(
    rows: ArrayLike, n_rows: int, item_categories: ArrayLike, n_categories: int
) -> np.ndarray:
    """Category distribution of each row's products, e.g. a customer's training history.

    Parameters
    ----------
    rows : scipy sparse matrix (n_rows x n_products) or int array (n_rows, K) of product indices
        The products of each row: the non-zero entries with value > 0 (a history), or a list with
        -1 padding.
    n_rows : int
    item_categories : array-like of int, shape (n_products,)
        Category code of each product, ``0 .. n_categories - 1``.
    n_categories : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_rows, n_categories)
        Each row sums to 1; a row without products is all 0.
    """
    from scipy import sparse

    cats = np.asarray(item_categories, dtype=np.int64)
    counts = np.zeros((n_rows, n_categories))
    if sparse.issparse(rows):
        m = sparse.csr_matrix(rows)
        if m.shape[0] != n_rows:
            raise ValueError(f"rows has {m.shape[0]} rows, expected {n_rows}")
        r = np.repeat(np.arange(n_rows), np.diff(m.indptr))
        keep = m.data > 0
        np.add.at(counts, (r[keep], cats[m.indices[keep]]), 1.0)
    else:
        arr = np.asarray(rows, dtype=np.int64)
        if arr.ndim != 2 or arr.shape[0] != n_rows:
            raise ValueError(f"rows must be (n_rows={n_rows}, K), got shape {arr.shape}")
        r, c = np.nonzero(arr >= 0)
        np.add.at(counts, (r, cats[arr[r, c]]), 1.0)
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _kl_terms(p: np.ndarray, q: np.ndarray, mix: float) -> np.ndarray:
    qt = (1.0 - mix) * q + mix * p
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(qt > 0, qt, 1.0)), 0.0)


def calibration_kl(
    topk: ArrayLike,
    item_categories: ArrayLike,
    target: ArrayLike,
    k: int | None = None,
    mix: float = CALIBRATION_MIX,
) -> np.ndarray:
    """Steck's miscalibration ``KL(p || q~)`` of each list against the customer's history.

    Parameters
    ----------
    topk : array-like of int, shape (n, K)
        Lists (-1 padding).
    item_categories : array-like of int, shape (n_products,)
        Category code of each product.
    target : array-like of float, shape (n, G)
        ``p(g|u)`` (e.g. :func:`category_distribution` of the training history).
    k : int, optional
        Cut-off.
    mix : float
        ``a`` in ``q~ = (1 - a) q + a p`` (in (0, 1)).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        >= 0, and 0 exactly when the list's distribution equals the target; NaN when the customer
        has no target (empty history) or the list is empty.
    """
    items = np.asarray(topk, dtype=np.int64)
    if k is not None:
        items = items[:, :k]
    p = np.asarray(target, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != items.shape[0]:
        raise ValueError(f"target must have shape ({items.shape[0]}, G), got {p.shape}")
    if not 0 < mix < 1:
        raise ValueError(f"mix must lie in (0, 1), got {mix}")
    q = category_distribution(items, items.shape[0], item_categories, p.shape[1])
    kl = _kl_terms(p, q, mix).sum(axis=1)
    undefined = (p.sum(axis=1) == 0) | ((items >= 0).sum(axis=1) == 0)
    return np.where(undefined, np.nan, np.maximum(kl, 0.0))


class _Calibrated:
    def __init__(self, rel, cats, target, strength, mix):
        active = target.sum(axis=1) > 0
        lam = np.where(active, strength, 0.0)[:, None]
        self.base = (1.0 - lam) * np.nan_to_num(rel)
        self.lam = lam
        self.cats = np.maximum(cats, 0)  # (n, C) category code per candidate (padding: 0)
        self.p = target
        self.mix = mix
        self.count = np.zeros_like(target)

    def value(self, t: int) -> np.ndarray:
        size = t + 1.0
        minus = _kl_terms(self.p, self.count / size, self.mix)  # category not added
        plus = _kl_terms(self.p, (self.count + 1.0) / size, self.mix)  # category added
        # KL of the list with one more product of category g, for every g: (n, G)
        kl = minus.sum(axis=1, keepdims=True) - minus + plus
        return self.base - np.take_along_axis(self.lam * kl, self.cats, axis=1)

    def update(self, r: np.ndarray, j: np.ndarray) -> None:
        np.add.at(self.count, (r, self.cats[r, j]), 1.0)


def calibrated_rerank(
    candidates: ArrayLike,
    scores: ArrayLike,
    item_categories: ArrayLike,
    target: ArrayLike,
    k: int,
    strength: float,
    mix: float = CALIBRATION_MIX,
    validate: bool = True,
) -> np.ndarray:
    """Steck's calibrated re-ranking (greedy; see the module docstring).

    Parameters
    ----------
    candidates, scores : array-like, shape (n, C)
    item_categories : array-like of int, shape (n_products,)
        Category code of each product.
    target : array-like of float, shape (n, G)
        ``p(g|u)`` of each customer (all-zero rows: no target, model order kept).
    k : int
    strength : float
        ``lambda`` in [0, 1].
    mix : float
        ``a`` of ``q~``.

    Returns
    -------
    numpy.ndarray of int64, shape (n, k)
    """
    cand, s = _candidates_in(candidates, scores, k, validate)
    lam = _check_strength(strength)
    cats = np.asarray(
        _item_codes(item_categories, int(cand.max()) + 1 if cand.size else 0, "item_categories"),
        dtype=np.int64,
    )
    p = np.asarray(target, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != cand.shape[0]:
        raise ValueError(f"target must have shape ({cand.shape[0]}, G), got {p.shape}")
    if cats.size and (cats.min() < 0 or cats.max() >= p.shape[1]):
        raise ValueError(f"item_categories must be codes in 0..{p.shape[1] - 1}")
    state = _Calibrated(
        relevance(s, cand), np.where(cand >= 0, cats[np.maximum(cand, 0)], -1), p, lam, mix
    )
    return _greedy(cand, k, state)


# ----------------------------------------------------------------------------------------------
# FA*IR
# ----------------------------------------------------------------------------------------------


def _check_fair_args(k: int, p: float, alpha: float) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    _check_strength(p, 1.0, "p")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def fair_mtable(k: int, p: float, alpha: float) -> np.ndarray:
    """FA*IR table without adjustment: ``m(i) = max(0, F^-1(alpha; i, p))`` for ``i = 1..k``.

    ``F^-1`` is the binomial quantile (the smallest ``m`` with ``P(X <= m) >= alpha``), as
    ``scipy.stats.binom.ppf`` and ``fairsearchcore`` compute it.

    Returns
    -------
    numpy.ndarray of int64, shape (k,)
        Minimum number of protected products in each prefix.
    """
    _check_fair_args(k, p, alpha)
    m = stats.binom.ppf(alpha, np.arange(1, k + 1), p)
    return np.maximum(np.nan_to_num(m, nan=0.0), 0).astype(np.int64)


def fair_failure_probability(mtable: ArrayLike, p: float) -> float:
    """Probability that a ranking whose positions are protected independently with probability
    ``p`` has fewer than ``mtable[i]`` protected products in some prefix ``1..i+1``.

    Exact, by dynamic programming over the number of protected products so far (``O(k^2)``): the
    mass of the rankings that fall below the table is removed, and summed, position by position.
    """
    m = np.asarray(mtable, dtype=np.int64)
    dist = np.zeros(len(m) + 2)
    dist[0] = 1.0
    failed = 0.0
    for need in m:
        new = dist * (1.0 - p)
        new[1:] += dist[:-1] * p
        failed += float(new[:need].sum())  # these rankings fail at this prefix
        new[:need] = 0.0
        dist = new
    return min(1.0, failed)


@lru_cache(maxsize=256)
def _adjusted(
    k: int, p: float, alpha: float, last_position: bool = True
) -> tuple[float, tuple[int, ...]]:
    """The search of ``fairsearchcore.fail_prob.RecursiveNumericFailProbabilityCalculator``.

    ``last_position=False`` leaves the requirement at position ``k`` out of the failure
    probability, as fairsearchcore 1.0.4 does (its ``compute_aux_mtable`` loops over positions
    ``1..k-1``): only the tests use it, to check this search against the authors' results.
    """
    eps = 1e-16

    def boundary(a: float) -> tuple[float, np.ndarray, float]:
        table = fair_mtable(k, p, a) if a > 0 else np.zeros(k, dtype=np.int64)
        fail = fair_failure_probability(table if last_position else table[:-1], p)
        return a, table, fail

    lo, hi = boundary(0.0), boundary(alpha)
    mid = boundary(alpha / 2)
    while lo[1].sum() < hi[1].sum() and mid[2] != alpha:
        if mid[2] < alpha:
            lo = mid
        elif mid[2] > alpha:
            hi = mid
        mid = boundary((lo[0] + hi[0]) / 2)
        hi_mass, lo_mass, mid_mass = hi[1].sum(), lo[1].sum(), mid[1].sum()
        if hi_mass - lo_mass == 1 or hi[0] - lo[0] <= eps:
            best = lo if abs(lo[2] - alpha) <= abs(hi[2] - alpha) else hi
            return best[0], tuple(int(x) for x in best[1])
        if hi_mass - mid_mass == 1 and mid_mass - lo_mass == 1:
            d_lo, d_hi, d_mid = (abs(x[2] - alpha) for x in (lo, hi, mid))
            if d_mid <= d_hi and d_mid <= d_lo:
                best = mid
            elif d_lo <= d_mid and d_lo <= d_hi:
                best = lo
            else:
                best = hi
            return best[0], tuple(int(x) for x in best[1])
    return mid[0], tuple(int(x) for x in mid[1])


def fair_adjusted_alpha(k: int, p: float, alpha: float) -> tuple[float, np.ndarray]:
    """The adjusted significance ``alpha_c`` and its table (Zehlike et al. 2017, section 4).

    Binary search on ``alpha_c`` in ``[0, alpha]`` for the table whose failure probability
    (:func:`fair_failure_probability`) is closest to ``alpha``: the search of ``fairsearchcore``
    1.0.4 (checked against it in ``tests/fixtures/fair``), with one difference: its failure
    probability leaves out the requirement at the last position ``k``, which makes it too low
    whenever ``m(k)`` steps up at ``k``; here every position counts.

    Returns
    -------
    (float, numpy.ndarray of int64)
        ``alpha_c`` and the table ``m(1..k)``.
    """
    _check_fair_args(k, p, alpha)
    if p == 0:
        return float(alpha), np.zeros(int(k), dtype=np.int64)
    a, table = _adjusted(int(k), float(p), float(alpha))
    return float(a), np.asarray(table, dtype=np.int64)


def fair_table_satisfied(topk: ArrayLike, protected: ArrayLike, mtable: ArrayLike) -> np.ndarray:
    """Whether each list holds at least ``mtable[i]`` protected products in every prefix.

    Parameters
    ----------
    topk : array-like of int, shape (n, k)
    protected : array-like of bool, shape (n_products,)
    mtable : array-like of int, shape (k,) (or longer: cut to the list length)

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    items = np.asarray(topk, dtype=np.int64)
    prot = np.asarray(protected, dtype=bool)
    m = np.asarray(mtable, dtype=np.int64)[: items.shape[1]]
    if len(m) < items.shape[1]:
        raise ValueError(f"mtable has {len(m)} entries for lists of {items.shape[1]}")
    is_prot = (items >= 0) & prot[np.maximum(items, 0)]
    return (np.cumsum(is_prot, axis=1) >= m[None, :]).all(axis=1)


def fair_rerank(
    candidates: ArrayLike,
    scores: ArrayLike,
    protected: ArrayLike,
    k: int,
    p: float,
    alpha: float = 0.1,
    adjust: bool = True,
    validate: bool = True,
) -> np.ndarray:
    """FA*IR top-``k``: the model's order under a minimum share ``p`` of protected products.

    Parameters
    ----------
    candidates, scores : array-like, shape (n, C)
        The model's candidates, best first.
    protected : array-like of bool, shape (n_products,)
        Membership of the protected group of products (e.g. small sellers).
    k : int
        List length.
    p : float
        Minimum proportion of protected products (the strength; 0: the model's order).
    alpha : float
        Significance of the ranked group fairness test.
    adjust : bool
        Use the adjusted table (:func:`fair_adjusted_alpha`); False: :func:`fair_mtable`.

    Returns
    -------
    numpy.ndarray of int64, shape (n, k)
    """
    cand, _ = _candidates_in(candidates, scores, k, validate)
    p = _check_strength(p, 1.0, "p")
    prot = np.asarray(
        _item_codes(protected, int(cand.max()) + 1 if cand.size else 0, "protected"), dtype=bool
    )
    table = fair_adjusted_alpha(k, p, alpha)[1] if adjust else fair_mtable(k, p, alpha)
    n, c = cand.shape
    valid = cand >= 0
    is_prot = valid & prot[np.maximum(cand, 0)]
    is_free = valid & ~is_prot
    # position (column) of the j-th protected / unprotected candidate of each row, C = none left
    col = np.arange(c)
    prot_pos = np.sort(np.where(is_prot, col, c), axis=1)
    free_pos = np.sort(np.where(is_free, col, c), axis=1)
    prot_pos = np.hstack([prot_pos, np.full((n, 1), c)])
    free_pos = np.hstack([free_pos, np.full((n, 1), c)])
    ip = np.zeros(n, dtype=np.int64)
    iu = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    cand_pad = np.hstack([cand, np.full((n, 1), -1)])
    out = np.full((n, k), -1, dtype=np.int64)
    for t in range(k):
        hp = prot_pos[rows, ip]
        hu = free_pos[rows, iu]
        need = ip < table[t]
        take_prot = (hp < c) & (need | (hp < hu) | (hu >= c))
        take_free = ~take_prot & (hu < c)
        out[:, t] = np.where(
            take_prot, cand_pad[rows, hp], np.where(take_free, cand_pad[rows, hu], -1)
        )
        ip += take_prot
        iu += take_free
    return out
