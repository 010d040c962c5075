"""Validation score after each pass of an iterative model: where more epochs stop paying.

Fits each model once on a run's ``train_inner`` part and scores its top-10 lists on the ``valid``
part after every ``--every`` passes (the same watcher the tuning's pruning uses), printing the
validation nDCG@10 beside the fit seconds so far (scoring time excluded). This is how the default
epochs of an untuned model are chosen on validation (never on test): the smallest count from which
every later pass stays within ``--tolerance`` of the best.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_pass_curves.py reports/default/split \\
        lightfm_warp '{"epochs": 10}' mult_vae '{"epochs": 20, "hidden_dim": 300, "latent_dim": 100}'
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnb.evaluation.evaluate import evaluation_customers, recommend_topk  # noqa: E402
from recnb.evaluation.tuning import _mean_metric, load_validation_parts  # noqa: E402
from recnb.models.registry import make_model  # noqa: E402


def curve(name: str, params: dict, split: Path, every: int, seed: int) -> pd.DataFrame:
    """Validation nDCG@10 of ``name`` after every ``every`` passes, with the fit seconds."""
    train_inner, valid = load_validation_parts(split)
    cidx = evaluation_customers(valid, 5000, seed)
    model = make_model(name, random_state=seed, **params)
    rows, scoring = [], 0.0
    t0 = time.perf_counter()

    def watch(m, n_done: int) -> None:
        nonlocal scoring
        if n_done % every:
            return
        t1 = time.perf_counter()
        value = _mean_metric(recommend_topk(m, cidx, 10), valid, cidx, "ndcg", 10)
        scoring += time.perf_counter() - t1
        rows.append(
            {
                "model": name,
                "passes": n_done,
                "valid_ndcg@10": value,
                "fit_seconds": time.perf_counter() - t0 - scoring,
            }
        )
        print(rows[-1], flush=True)

    with threadpool_limits(1), model.watching(watch):
        model.fit(train_inner)
    return pd.DataFrame(rows)


def smallest_flat(df: pd.DataFrame, tolerance: float) -> int:
    """The smallest pass count from which every later score is within ``tolerance`` (relative)
    of the best."""
    floor = df["valid_ndcg@10"].max() * (1 - tolerance)
    ok = (df["valid_ndcg@10"] >= floor).to_numpy()
    for i in range(len(ok)):
        if ok[i:].all():
            return int(df["passes"].iloc[i])
    return int(df["passes"].iloc[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path, help="a run's split folder")
    ap.add_argument("models", nargs="+", help="pairs: registry name, JSON params")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tolerance", type=float, default=0.01)
    args = ap.parse_args(argv)
    if len(args.models) % 2:
        ap.error("give the models as pairs: name '{json params}'")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name, params in zip(args.models[::2], args.models[1::2], strict=True):
        df = curve(name, json.loads(params), args.split, args.every, args.seed)
        print(df.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print(
            f"{name}: flat (within {args.tolerance:.0%} of the best) from "
            f"{smallest_flat(df, args.tolerance)} passes"
        )
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
