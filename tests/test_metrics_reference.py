"""Slow, obviously-correct reference implementations of the metrics (used only by the tests).

Each function handles one customer with plain Python lists and loops, written straight from the
textbook definitions in ``recnb.metrics``'s docstrings, so that the vectorized code can be checked
against them on random inputs. The tests at the bottom pin the references to hand-computed values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

NAN = float("nan")


def ref_ranking(
    ranked: list[int], grades: dict[int, float], k: int, graded: bool = False, gain: str = "linear"
) -> dict[str, float]:
    """All ranking metrics at cut-off ``k`` for one customer (``-1`` entries ignored)."""
    relevant = {item for item, g in grades.items() if g > 0}
    names = (
        "precision",
        "recall",
        "f1",
        "hit_rate",
        "mrr",
        "ndcg",
        "map_rel",
        "map_min",
        "map_msr",
    )
    if not relevant:
        return dict.fromkeys(names, NAN)
    items = [i for i in ranked if i >= 0][:k]
    hits = [1 if i in relevant else 0 for i in items]
    precision = sum(hits) / k
    recall = sum(hits) / len(relevant)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    mrr = 0.0
    for rank, h in enumerate(hits, start=1):
        if h:
            mrr = 1.0 / rank
            break

    def g(item: int) -> float:
        if item not in relevant:
            return 0.0
        if not graded:
            return 1.0
        return grades[item] if gain == "linear" else 2.0 ** grades[item] - 1.0

    dcg = sum(g(i) / math.log2(rank + 1) for rank, i in enumerate(items, start=1))
    ideal = sorted((g(i) for i in relevant), reverse=True)[:k]
    idcg = sum(v / math.log2(rank + 1) for rank, v in enumerate(ideal, start=1))
    total, seen = 0.0, 0
    for rank, h in enumerate(hits, start=1):
        if h:
            seen += 1
            total += seen / rank
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "hit_rate": 1.0 if sum(hits) else 0.0,
        "mrr": mrr,
        "ndcg": dcg / idcg,
        "map_rel": total / len(relevant),
        "map_min": total / min(k, len(relevant)),
        "map_msr": NAN if not items else total / len(relevant),
    }


def ref_auc(scores: list[float], positives: set[int], excluded: set[int]) -> float:
    """Pairwise AUC over all (positive, negative) candidate pairs; ties count one half."""
    candidates = [i for i in range(len(scores)) if i not in excluded]
    pos = [i for i in candidates if i in positives]
    neg = [i for i in candidates if i not in positives]
    if not pos or not neg:
        return NAN
    won = 0.0
    for p in pos:
        for q in neg:
            won += 1.0 if scores[p] > scores[q] else 0.5 if scores[p] == scores[q] else 0.0
    return won / (len(pos) * len(neg))


def ref_ild_category(items: list[int], categories: list[str]) -> float:
    items = [i for i in items if i >= 0]
    pairs = [(a, b) for x, a in enumerate(items) for b in items[x + 1 :]]
    if not pairs:
        return NAN
    return sum(categories[a] != categories[b] for a, b in pairs) / len(pairs)


def ref_ild_embedding(items: list[int], emb: np.ndarray) -> float:
    items = [i for i in items if i >= 0]
    pairs = [(a, b) for x, a in enumerate(items) for b in items[x + 1 :]]
    if not pairs:
        return NAN
    dist = []
    for a, b in pairs:
        cos = float(emb[a] @ emb[b]) / (math.sqrt(emb[a] @ emb[a]) * math.sqrt(emb[b] @ emb[b]))
        dist.append(1.0 - cos)
    return sum(dist) / len(dist)


def ref_gini(values: list[float]) -> float:
    """Gini as the mean absolute difference over all ordered pairs / (2 * mean)."""
    n = len(values)
    mean = sum(values) / n
    mad = sum(abs(a - b) for a in values for b in values) / (n * n)
    return mad / (2 * mean)


def rows_of(truth: sparse.csr_matrix) -> list[dict[int, float]]:
    """The held-out items of each row as ``{product: grade}``."""
    truth = sparse.csr_matrix(truth)
    return [
        dict(
            zip(
                truth.indices[truth.indptr[i] : truth.indptr[i + 1]].tolist(),
                truth.data[truth.indptr[i] : truth.indptr[i + 1]].tolist(),
                strict=True,
            )
        )
        for i in range(truth.shape[0])
    ]


# --- the references themselves, against hand-computed values -----------------------------------


def test_ref_ranking_hand_case() -> None:
    # list [3, 7, 1], relevant {1, 3, 9}: hits at ranks 1 and 3.
    # precision@3 = 2/3; recall = 2/3; AP numerator = 1/1 + 2/3 = 5/3 -> map_rel = 5/9,
    # map_min = (5/3) / 3 = 5/9; DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2 3 + 1/2.
    out = ref_ranking([3, 7, 1], {1: 1, 3: 1, 9: 1}, k=3)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["map_rel"] == pytest.approx(5 / 9)
    assert out["ndcg"] == pytest.approx(1.5 / (1 + 1 / math.log2(3) + 0.5))
    assert out["mrr"] == 1.0


def test_ref_auc_and_gini_hand_cases() -> None:
    # scores 0.9 (pos), 0.5 (neg), 0.9 (neg), 0.1 (pos): pairs (0,1)=1, (0,2)=.5, (3,1)=0,
    # (3,2)=0 -> 1.5 / 4.
    assert ref_auc([0.9, 0.5, 0.9, 0.1], {0, 3}, set()) == pytest.approx(0.375)
    # values [0, 0, 0, 4]: mean 1, mean |diff| over 16 pairs = 6 * 4 / 16 = 1.5 -> G = 0.75
    assert ref_gini([0, 0, 0, 4]) == pytest.approx(0.75)
