"""How close Spark MLlib ALS comes to ``implicit`` ALS on the same split.

The two libraries solve the same weighted least squares for implicit feedback (Hu, Koren & Volinsky
2008) but not with the same numbers: MLlib's confidence is ``1 + alpha * r`` where ``implicit``
uses ``alpha * r``, MLlib multiplies the L2 penalty of each customer (product) by its number of
interactions (ALS-WR), MLlib solves each least-squares problem exactly where ``implicit`` runs a
few conjugate-gradient steps, and the random initialisations differ. So the same hyperparameters
are not the same model, and the honest comparison is of each library at its own best settings:
:func:`compare_als` tunes both on the validation part over the same kind of small grid, refits the
chosen settings on ``train`` and scores nDCG@k on the test customers who have a training history
(cold customers get the same popularity list from both and would only dilute the difference), with
bootstrap intervals and the paired difference.

:data:`RELATIVE_TOLERANCE` is the agreement the tests require (see its comment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np

from recnb.data.interactions import Interactions
from recnb.metrics import bootstrap_ci, paired_comparison, ranking_metric_arrays
from recnb.models.implicit_models import ImplicitALS

__all__ = ["RELATIVE_TOLERANCE", "compare_als", "default_grids"]

#: Spark ALS's test nDCG@k must lie within this share of implicit's: the two tuned models differ through the solver (exact
#: versus conjugate gradient), the penalty scaling (ALS-WR) and the confidence offset, which a
#: small grid equalises only roughly; 10% is the size of a difference a stakeholder would call the
#: same quality, and half the gap between ALS and the popularity baseline on the default shop.
RELATIVE_TOLERANCE = 0.10


def default_grids(factors: int = 32, iterations: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The same small grid for both libraries: regularization x alpha, fixed factors and sweeps."""
    regs = {"als": (0.01, 0.1, 1.0), "spark_als": (0.01, 0.1, 1.0)}
    alphas = (1.0, 10.0)
    return {
        name: [
            {"factors": factors, "iterations": iterations, "regularization": r, "alpha": a}
            for r, a in product(regs[name], alphas)
        ]
        for name in ("als", "spark_als")
    }


def _model(name: str, params: Mapping[str, Any], seed: int) -> Any:
    if name == "als":
        return ImplicitALS(**params, num_threads=2, random_state=seed)
    from recnb.backends.spark.als import SparkALS

    return SparkALS(**params, random_state=seed)


def _ndcg(
    model: Any, train: Interactions, truth: Interactions, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer nDCG@k on the customers with a held-out item and a training history."""
    users = np.flatnonzero((np.diff(truth.matrix.indptr) > 0) & (np.diff(train.matrix.indptr) > 0))
    idx, _ = model.recommend_indices(users, k=k)
    values = ranking_metric_arrays(idx, truth.matrix[users], ks=(k,), metrics=["ndcg"])
    return users, values[("ndcg", k)]


def compare_als(
    parts: Mapping[str, Interactions],
    grids: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    k: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Tune ``als`` and ``spark_als`` on validation, refit on train, compare nDCG@k on test.

    Parameters
    ----------
    parts : mapping
        A split's ``train_inner``, ``valid``, ``train`` and ``test`` parts.
    grids : mapping, optional
        Per model name, the hyperparameter settings tried (default :func:`default_grids`).
    k : int
        List length.
    seed, n_boot
        Model seed and bootstrap resamples.

    Returns
    -------
    dict
        Per model ``chosen`` settings, ``valid`` scores of every setting, test ``ndcg`` with
        ``ci``; ``paired``: :func:`recnb.metrics.paired_comparison` of spark_als minus als;
        ``relative_difference`` (spark / implicit - 1), ``within_tolerance`` (its size at most
        :data:`RELATIVE_TOLERANCE`) and ``equivalent`` (the difference's whole interval inside
        the band ``+-RELATIVE_TOLERANCE * ndcg(als)``).
    """
    grids = dict(grids or default_grids())
    out: dict[str, Any] = {"k": k}
    per_customer = {}
    for name in ("als", "spark_als"):
        scores = []
        for params in grids[name]:
            m = _model(name, params, seed).fit(parts["train_inner"])
            _, v = _ndcg(m, parts["train_inner"], parts["valid"], k)
            scores.append(float(np.nanmean(v)))
        best = dict(grids[name][int(np.argmax(scores))])
        final = _model(name, best, seed).fit(parts["train"])
        users, v = _ndcg(final, parts["train"], parts["test"], k)
        per_customer[name] = (users, v)
        out[name] = {
            "chosen": best,
            "valid": [{**p, "ndcg": s} for p, s in zip(grids[name], scores, strict=True)],
            "ndcg": float(np.nanmean(v)),
            "ci": bootstrap_ci(v, n_boot=n_boot, seed=seed),
            "customers": int(len(users)),
        }
    (ua, va), (ub, vb) = per_customer["als"], per_customer["spark_als"]
    if not np.array_equal(ua, ub):
        raise AssertionError("compare_als: the two models were scored on different customers")
    out["paired"] = paired_comparison(vb, va, n_boot=n_boot, seed=seed)
    ref = out["als"]["ndcg"]
    rel = out["spark_als"]["ndcg"] / ref - 1.0 if ref > 0 else float("nan")
    out["relative_difference"] = rel
    band = RELATIVE_TOLERANCE * ref
    p = out["paired"]
    out["within_tolerance"] = bool(abs(rel) <= RELATIVE_TOLERANCE)
    # equivalence: the whole interval of the difference inside the band (needs enough customers)
    out["equivalent"] = bool(-band <= p["diff_ci_low"] and p["diff_ci_high"] <= band)
    return out
