"""Ranking policies with exact propensities: how a list is drawn from scored candidates.

A :class:`RankingPolicy` turns a score per candidate into a ranked list (a slate) of ``k`` of them,
and says exactly how likely each list, each prefix of a list and each (item, position) pair is. The
shop's organic log orders its pages with one (``ShopConfig.page_policy``), and
:meth:`recnb.data.synthetic.SyntheticShop.simulate_policy` logs any policy's impressions with these
propensities, which off-policy estimators need:

- ``list_propensity``: probability of the whole shown list (list-level IPS);
- ``prefix_propensity``: probability of the list's first ``j`` items, positions 1..j (cascade and
  top-k estimators);
- ``item_propensity``: marginal probability that the item shown at position ``j`` is at position
  ``j`` (position-based, item-level IPS).

Scores come as a 2-D array, one row per list (a visit) and one column per candidate; NaN marks an
empty candidate slot, so candidate sets may differ in size. A list holds ``min(k, n)`` items when a
row has ``n`` valid candidates. Rankings are returned as candidate column indices, -1 for an empty
slot.

Kinds
-----
``deterministic``
    Best score first; ties go to the lower candidate column.
``epsilon_greedy``
    The deterministic list with probability ``1 - epsilon``, otherwise a uniformly random ordered
    choice of ``k`` of the ``n`` candidates. Then P(list) = (1 - epsilon) [list is greedy] +
    epsilon (n - k)! / n!, and P(item i at position j) = (1 - epsilon) [greedy_j = i] + epsilon / n.
``plackett_luce``
    Items drawn one at a time without replacement with probability proportional to
    ``exp(score / temperature)`` (sampled exactly as the top ``k`` of scores / temperature plus
    standard Gumbel noise). P(list) is the product of the draws' probabilities. The marginal
    P(item i at position j) has no closed form; :func:`plackett_luce_positions` computes it
    exactly, up to a quadrature error below 1e-9, from the Gumbel representation:
    ``P(i at j) = integral f(x - s_i) P(exactly j - 1 others exceed x) dx`` with ``f`` the
    standard Gumbel density and the others' exceedance a Poisson-binomial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln

POLICY_KINDS: tuple[str, ...] = ("deterministic", "epsilon_greedy", "plackett_luce")
"""Kinds of :class:`RankingPolicy`."""

# Quadrature of the Plackett-Luce position marginals (see plackett_luce_positions): the trapezoid
# rule with this step in t, where x(t) = t + exp(t - hi) - exp(lo - t), lo / hi the extreme logits
# moved out by the pads, and t running from lo - LEFT_TAIL to hi + RIGHT_TAIL. Checked against
# enumeration of every permutation: error below 2e-9.
_PL_STEP = 0.3
_PL_LEFT_PAD, _PL_RIGHT_PAD = 3.0, 6.0
_PL_LEFT_TAIL, _PL_RIGHT_TAIL = 1.5, 3.0
_PL_MAX_GAP = 30.0  # gaps between sorted logits beyond this change no probability above 1e-13


@dataclass(frozen=True)
class RankingPolicy:
    """How a ranked list is drawn from candidate scores (see the module docstring).

    Parameters
    ----------
    kind : {"deterministic", "epsilon_greedy", "plackett_luce"}
        The kind of policy.
    epsilon : float
        Exploration probability of ``epsilon_greedy`` (0 to 1).
    temperature : float
        Temperature of ``plackett_luce`` (> 0): scores are divided by it.
    """

    kind: str = "deterministic"
    epsilon: float = 0.1
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in POLICY_KINDS:
            raise ValueError(
                f"RankingPolicy.kind: {self.kind!r} is not one of {list(POLICY_KINDS)}"
            )
        if not (0.0 <= float(self.epsilon) <= 1.0):
            raise ValueError(f"RankingPolicy.epsilon: must be in [0, 1], got {self.epsilon!r}")
        if not (np.isfinite(self.temperature) and float(self.temperature) > 0.0):
            raise ValueError(
                f"RankingPolicy.temperature: must be a finite number > 0, got {self.temperature!r}"
            )

    # ---- sampling -----------------------------------------------------------------------------

    def sample(self, scores: Any, k: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one ranked list per row of ``scores``.

        Parameters
        ----------
        scores : array-like, shape (n_lists, n_candidates)
            Scores, NaN for an empty candidate slot.
        k : int
            Slots per list.
        rng : numpy.random.Generator
            Randomness (unused by ``deterministic``).

        Returns
        -------
        numpy.ndarray of int64, shape (n_lists, k)
            Candidate column per slot, -1 where a row has fewer than ``k`` valid candidates.
        """
        s, valid, k = _prepare(scores, k)
        n_lists, n_cand = s.shape
        if self.kind == "plackett_luce":
            noisy = s / self.temperature + rng.gumbel(size=s.shape)
            return _top_k(np.where(valid, noisy, -np.inf), valid, k)
        greedy = _top_k(s, valid, k)
        if self.kind == "deterministic" or self.epsilon == 0.0:
            return greedy
        explore = rng.random(n_lists) < self.epsilon
        if explore.any():
            keys = np.where(valid[explore], rng.random((int(explore.sum()), n_cand)), -np.inf)
            greedy[explore] = _top_k(keys, valid[explore], k)
        return greedy

    def order_groups(
        self, group: np.ndarray, scores: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Rank every candidate of variable-size groups at once (flat arrays, same law as
        :meth:`sample` with ``k`` = the group's size).

        Parameters
        ----------
        group : numpy.ndarray of int
            Group (list) of each candidate, sorted ascending.
        scores : numpy.ndarray of float
            Score of each candidate.
        rng : numpy.random.Generator
            Randomness.

        Returns
        -------
        numpy.ndarray of int64
            The candidates' indices ordered by group, then best first within the group; the
            position of a candidate is its place within its group's run.
        """
        n = len(group)
        if self.kind == "plackett_luce":
            key = scores / self.temperature + rng.gumbel(size=n)
        elif self.kind == "epsilon_greedy" and self.epsilon > 0 and n:
            explore = rng.random(int(group.max()) + 1) < self.epsilon
            key = np.where(explore[group], rng.random(n), scores)
        else:
            key = np.asarray(scores, dtype=np.float64)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        # small groups (pages): sort each row of a padded matrix, much faster than one lexsort
        first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
        length = np.diff(np.r_[first, n])
        width = int(length.max())
        if width > 64:
            return np.lexsort((-key, group))  # stable: ties keep the candidates' order
        row = np.repeat(np.arange(len(first)), length)
        slot = np.arange(n) - np.repeat(first, length)
        mat = np.full((len(first), width), np.inf)
        mat[row, slot] = -key
        srt = np.argsort(mat, axis=1, kind="stable")
        flat = (first[:, None] + srt)[np.arange(width)[None, :] < length[:, None]]
        return flat.astype(np.int64)

    # ---- propensities -------------------------------------------------------------------------

    def prefix_propensities(self, scores: Any, ranking: Any) -> np.ndarray:
        """Probability of each list's first ``j`` items, for ``j = 1..k`` (shape of ``ranking``).

        Empty slots (-1) repeat the propensity of the filled prefix before them.
        """
        s, valid, r = _prepare_ranking(scores, ranking)
        n_valid = valid.sum(axis=1)
        filled = r >= 0
        j = np.arange(1, r.shape[1] + 1)
        if self.kind == "plackett_luce":
            step = _pl_step_log_probs(s / self.temperature, valid, r)
            return np.exp(np.cumsum(step, axis=1))
        greedy = _top_k(s, valid, r.shape[1])
        same = np.cumprod((r == greedy) | ~filled, axis=1).astype(bool)
        eps = 0.0 if self.kind == "deterministic" else self.epsilon
        depth = np.minimum(j[None, :], np.maximum(filled.sum(axis=1), 0)[:, None])
        log_uniform = gammaln(n_valid[:, None] - depth + 1) - gammaln(n_valid[:, None] + 1)
        return (1.0 - eps) * same + eps * np.exp(log_uniform)

    def list_propensity(self, scores: Any, ranking: Any) -> np.ndarray:
        """Probability of each whole list (one value per row)."""
        return self.prefix_propensities(scores, ranking)[:, -1]

    def position_probabilities(self, scores: Any, k: int) -> np.ndarray:
        """Marginal probability that each candidate is shown at each position.

        Returns
        -------
        numpy.ndarray, shape (n_lists, n_candidates, k)
            ``out[l, i, j]``: probability that candidate ``i`` of list ``l`` is at position
            ``j + 1``; 0 for empty candidates and for positions past the list's length.
        """
        s, valid, k = _prepare(scores, k)
        n_lists, n_cand = s.shape
        if self.kind == "plackett_luce":
            return plackett_luce_positions(s / self.temperature, k, valid)
        out = np.zeros((n_lists, n_cand, k))
        greedy = _top_k(s, valid, k)
        eps = 0.0 if self.kind == "deterministic" else self.epsilon
        rows, pos = np.nonzero(greedy >= 0)
        out[rows, greedy[rows, pos], pos] = 1.0 - eps
        if eps > 0:
            n_valid = valid.sum(axis=1)
            in_list = np.arange(k)[None, :] < np.minimum(n_valid, k)[:, None]
            uniform = np.where(in_list, eps / np.maximum(n_valid, 1)[:, None], 0.0)
            out += valid[:, :, None] * uniform[:, None, :]
        return out

    def item_propensities(self, scores: Any, ranking: Any) -> np.ndarray:
        """Marginal probability of each shown (item, position) pair (shape of ``ranking``).

        Empty slots get NaN.
        """
        s, valid, r = _prepare_ranking(scores, ranking)
        probs = self.position_probabilities(np.where(valid, s, np.nan), r.shape[1])
        rows = np.arange(r.shape[0])[:, None]
        cols = np.arange(r.shape[1])[None, :]
        out = probs[rows, np.maximum(r, 0), cols]
        return np.where(r >= 0, out, np.nan)


def _prepare(scores: Any, k: int) -> tuple[np.ndarray, np.ndarray, int]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(
            f"scores: expected a 2-D array (one row per list), got {s.ndim} dimension(s)"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    if np.isinf(s).any():
        raise ValueError("scores: infinite values; mark empty candidates with NaN")
    valid = ~np.isnan(s)
    return np.where(valid, s, 0.0), valid, int(k)


def _prepare_ranking(scores: Any, ranking: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.asarray(ranking, dtype=np.int64)
    if r.ndim != 2:
        raise ValueError(f"ranking: expected a 2-D array, got {r.ndim} dimension(s)")
    s, valid, _ = _prepare(scores, max(r.shape[1], 1))
    if r.shape[0] != s.shape[0]:
        raise ValueError(f"ranking: {r.shape[0]} lists but scores has {s.shape[0]} rows")
    if (r >= s.shape[1]).any() or (r < -1).any():
        raise ValueError("ranking: candidate index out of range")
    rows = np.arange(r.shape[0])[:, None]
    if (~valid[rows, np.maximum(r, 0)] & (r >= 0)).any():
        raise ValueError("ranking: a slot points at an empty (NaN) candidate")
    return s, valid, r


def _top_k(keys: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest keys per row (stable: ties to the lower column), -1 past the
    row's valid candidates."""
    order = np.argsort(np.where(valid, -keys, np.inf), axis=1, kind="stable")[:, :k]
    n_valid = valid.sum(axis=1)
    if order.shape[1] < k:
        order = np.hstack([order, np.full((len(order), k - order.shape[1]), -1)])
    out = order.astype(np.int64)
    out[np.arange(k)[None, :] >= n_valid[:, None]] = -1
    return out


def _pl_step_log_probs(logits: np.ndarray, valid: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Log-probability of each Plackett-Luce draw of the ranking (0 for empty slots).

    The remaining mass at each step is summed directly over the items still left (no
    subtraction), so it stays accurate however peaked the distribution.
    """
    n_lists, n_cand = logits.shape
    k = r.shape[1]
    top = np.max(np.where(valid, logits, -np.inf), axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    w = np.where(valid, np.exp(logits - top), 0.0)
    rows = np.arange(n_lists)[:, None]
    filled = r >= 0
    chosen_w = np.where(filled, w[rows, np.maximum(r, 0)], 0.0)
    chosen = np.zeros((n_lists, n_cand), dtype=bool)
    chosen[np.nonzero(filled)[0], r[filled]] = True
    rest = np.where(chosen, 0.0, w).sum(axis=1)
    # remaining before step j: the never-chosen mass plus the chosen items from step j on
    remaining = rest[:, None] + np.cumsum(chosen_w[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.log(chosen_w) - np.log(remaining)
    return np.where(filled, step, 0.0).reshape(n_lists, k)


def plackett_luce_positions(logits: Any, k: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Exact marginal position probabilities of a Plackett-Luce ranking.

    Parameters
    ----------
    logits : array-like, shape (n_lists, n_candidates)
        Log-weights (scores divided by the temperature).
    k : int
        Positions wanted (1..k).
    valid : numpy.ndarray of bool, optional
        Which candidates exist (default: the finite logits).

    Returns
    -------
    numpy.ndarray, shape (n_lists, n_candidates, k)
        ``P(candidate i at position j + 1)``; for a full ranking (k = n) each candidate's row and
        each position's column sum to 1.

    Notes
    -----
    With ``X_i = logit_i + Gumbel``, the ranking is the order of the ``X_i``. Given ``X_i = x``,
    each other candidate ``m`` exceeds ``x`` independently with probability
    ``a_m(x) = 1 - exp(-exp(logit_m - x))``, so the number of candidates above ``i`` is
    Poisson-binomial, and ``P(i at j) = integral f(x - logit_i) P(exactly j - 1 above | x) dx``
    with ``f`` the standard Gumbel density. The integral is taken by the trapezoid rule after a
    change of variable that keeps the spacing uniform between the extreme logits and makes both
    tails decay double-exponentially (the integrand is analytic, so the rule converges
    exponentially; the error is below 1e-8, checked against enumeration of all permutations in
    the tests). At each node the generating polynomial over all candidates is built once, and each
    candidate's own factor ``(1 - a_i) + a_i z`` is divided out forward where ``1 - a_i >= a_i``
    and backward otherwise, which keeps both directions stable. Cost per list is about
    ``n_nodes * n_candidates ** 2`` (compiled with numba); cut candidate sets to the few hundred
    best before calling it.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"logits: expected a 2-D array, got {x.ndim} dimension(s)")
    if valid is None:
        valid = np.isfinite(x)
    valid = np.asarray(valid, dtype=bool)
    x = _compress_gaps(np.where(valid, x, np.nan))
    out = np.zeros((x.shape[0], x.shape[1], int(k)))
    _compiled_kernel()(np.where(valid, x, 0.0), valid, int(k), out)
    return np.clip(out, 0.0, 1.0)


def _compress_gaps(x: np.ndarray) -> np.ndarray:
    """Shrink gaps between sorted logits to at most ``_PL_MAX_GAP`` (keeps the grid short)."""
    if x.size == 0:
        return x
    order = np.argsort(np.where(np.isnan(x), np.inf, x), axis=1)
    srt = np.take_along_axis(x, order, axis=1)
    gaps = np.diff(srt, axis=1)
    gaps = np.where(np.isnan(gaps), 0.0, np.minimum(gaps, _PL_MAX_GAP))
    first = srt[:, :1]
    new = np.concatenate([first, first + np.cumsum(gaps, axis=1)], axis=1)
    new = np.where(np.isnan(srt), np.nan, new)
    out = np.empty_like(x)
    np.put_along_axis(out, order, new, axis=1)
    return out


_KERNEL: Any = None


def _compiled_kernel() -> Any:
    """The numba-compiled kernel, built on first use (numba is imported only then; the compiled
    code is cached on disk next to this module)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True)(_pl_kernel)
    return _KERNEL


def _pl_kernel(
    x: np.ndarray, valid: np.ndarray, k: int, out: np.ndarray
) -> None:  # pragma: no cover
    n_lists, n = x.shape
    s = np.empty(n)
    col = np.empty(n, dtype=np.int64)
    e = np.empty(n)
    a = np.empty(n)
    b = np.empty(n)
    poly = np.empty(n + 1)
    for row in range(n_lists):
        nv = 0
        for i in range(n):
            if valid[row, i]:
                s[nv] = x[row, i]
                col[nv] = i
                nv += 1
        if nv == 0:
            continue
        lo = s[0]
        hi = s[0]
        for i in range(nv):
            lo = min(lo, s[i])
            hi = max(hi, s[i])
        # x(t) = t + exp(t - hi) - exp(lo - t): uniform between the extreme logits, tails that
        # decay double-exponentially in t, analytic, so the trapezoid rule in t converges fast
        hi += _PL_RIGHT_PAD
        lo -= _PL_LEFT_PAD
        t0 = lo - _PL_LEFT_TAIL
        t1 = hi + _PL_RIGHT_TAIL
        n_nodes = int(np.ceil((t1 - t0) / _PL_STEP)) + 1
        h = (t1 - t0) / (n_nodes - 1)
        kk = min(k, nv)
        for g in range(n_nodes):
            t = t0 + g * h
            up = np.exp(t - hi)
            down = np.exp(lo - t)
            xg = t + up - down
            wg = h * (1.0 + up + down)
            for m in range(nv):
                e[m] = np.exp(s[m] - xg)
                a[m] = -np.expm1(-e[m])
                b[m] = 1.0 - a[m]
            poly[0] = 1.0
            for d in range(1, nv + 1):
                poly[d] = 0.0
            for m in range(nv):
                for d in range(m + 1, 0, -1):
                    poly[d] = poly[d] * b[m] + poly[d - 1] * a[m]
                poly[0] *= b[m]
            for i in range(nv):
                # Gumbel density at the node: exp(-z - exp(-z)) with exp(-z) = e[i], exp(-e) = b
                dens = e[i] * b[i] * wg
                if dens < 1e-18:
                    continue
                ci = col[i]
                if b[i] >= a[i]:
                    q = 0.0
                    for j in range(kk):
                        q = (poly[j] - a[i] * q) / b[i]
                        out[row, ci, j] += dens * q
                else:
                    q = poly[nv] / a[i]
                    for j in range(nv - 1, -1, -1):
                        if j < kk:
                            out[row, ci, j] += dens * q
                        if j > 0:
                            q = (poly[j] - b[i] * q) / a[i]
