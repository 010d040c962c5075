"""MovieLens benchmark: recnb's models under Microsoft Recommenders' README protocol, beside the published rows.

Protocol (the README "Algorithm Comparison" table of Microsoft Recommenders and its
``examples/06_benchmarks/movielens.ipynb``): the stratified split of the released Recommenders
(1.2.1: ``python_stratified_split(ratio=0.75, filter_by="item", seed=42)``), here recnb's own
re-implementation ``recnb.prep.split.python_stratified_split``, checked row for row against the release by
``tests/test_msr_fixtures.py``; top-10 lists; every held-out rating is relevant; movies the user rated
in train are removed; MAP as Recommenders 1.2.1's ``map`` (recnb ``map_msr``) and ``map_at_k`` (recnb
``map_min``). Our hyperparameters are chosen on a validation split carved from train (notebook 03's
tuning), never on test.

The script runs stages 02 (split) and 03 (tuning, evaluation) of a params file through the runner, so
the figures are exactly those of the HTML report, then

1. checks that the pipeline's test part holds exactly the ratings that
   ``recnb.prep.split.python_stratified_split`` puts in test when run on the raw ratings file (read here
   directly with pandas, in file order);
2. prints our leaderboard beside the reference table the params file names
   (``model_comparison.reference_table``, see ``recnb.evaluation.reference``), the issue's targets for the data
   set (ML-100K, ml-latest-small) and the time each model's tuning took.

Usage (the data is never shipped; see the params file for where to put it)::

    RECNB_DATA_DIR=/path/to/data .venv/bin/python benchmarks/bench_movielens.py params/movielens100k.yaml
    RECNB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_movielens.py params/ml_latest_small.yaml

``--reuse`` skips the run when the run folder already holds the results. Without
``RECNB_PSEUDONYM_KEY`` a random key is used for this run (customer pseudonyms do not matter here).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recnb.data.io import read_parquet  # noqa: E402
from recnb.data.loaders import resolve_data_path  # noqa: E402
from recnb.evaluation.reference import reference_table  # noqa: E402
from recnb.prep.split import python_stratified_split  # noqa: E402
from recnb.privacy import KEY_ENV_VAR, pseudonymize, resolve_key  # noqa: E402
from recnb.workflow.params import load_params, section_name  # noqa: E402

STAGES = ["02_preprocessing", "03_model_comparison"]
#: the issues' targets (nDCG@10, hyperparameters tuned on validation): variant -> model -> minimum
TARGETS = {
    "ml-100k": {"best model": 0.49, "bpr": 0.442, "als": 0.45, "pure_svd": 0.44},
    # issue 8, with the released split (train 76,882 / test 23,954); both BPR implementations
    "ml-latest-small": {
        "best model": 0.415,
        "als": 0.39,
        "pure_svd": 0.36,
        "bpr": 0.32,
        "cornac_bpr": 0.32,
    },
}


def raw_ratings(settings) -> pd.DataFrame:
    """The ratings file of the run's MovieLens folder, read directly, in file order."""
    folder = resolve_data_path(
        "movielens", settings.data.path, variant=settings.data.options.get("variant")
    )
    if folder.is_file():
        folder = folder.parent
    if (folder / "u.data").is_file():
        df = pd.read_csv(
            folder / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"], dtype=str
        )
    elif (folder / "ratings.csv").is_file():
        df = pd.read_csv(folder / "ratings.csv", dtype=str).rename(
            columns={"userId": "user", "movieId": "item"}
        )
    else:
        raise FileNotFoundError(
            f"{folder}: neither u.data nor ratings.csv (this script reads those two)"
        )
    return df[["user", "item", "rating", "timestamp"]]


def check_split(settings, run_dir: Path) -> dict[str, int]:
    """Compare the saved test part with ``python_stratified_split`` of the raw file; raise if they differ."""
    from recnb.data.interactions import Interactions

    prep = settings.section("preprocessing")
    ratio = 1.0 - float(prep.get("test_fraction", 0.25))
    by = prep.get("stratify_by", "item")
    seed = int(prep.get("seed", settings.seed))
    df = raw_ratings(settings)
    _, test_ref = python_stratified_split(
        df, ratio=ratio, filter_by=by, col_user="user", col_item="item", seed=seed
    )
    key = resolve_key(settings.data.pseudonym_key)
    want = set(zip(pseudonymize(test_ref["user"], key), test_ref["item"].astype(str), strict=True))
    test = Interactions.load(run_dir / "split" / "test")
    coo = test.matrix.tocoo()
    got = set(zip(test.customer_ids[coo.row], test.product_ids[coo.col], strict=True))
    out = {
        "ratings": len(df),
        "test_reference": len(want),
        "test_pipeline": len(got),
        "only_reference": len(want - got),
        "only_pipeline": len(got - want),
    }
    if want != got:
        raise AssertionError(f"the pipeline's test part differs from the stratified split: {out}")
    return out


def our_table(run_dir: Path) -> pd.DataFrame:
    res = run_dir / "results" / "03_model_comparison"
    s = read_parquet(res / "metrics.parquet")
    t = read_parquet(res / "timing.parquet").set_index("model")
    s10 = s[s["k"] == 10]
    wide = s10.pivot(index="model", columns="metric", values="value")
    cols = {
        "map_msr": "map",
        "ndcg": "ndcg_at_10",
        "precision": "precision_at_10",
        "recall": "recall_at_10",
        "map_min": "map_at_k (ours: map_min)",
    }
    out = wide[[c for c in cols if c in wide.columns]].rename(columns=cols)
    rating = read_parquet(res / "rating_metrics.parquet")
    for m in ("rmse", "mae"):
        out[m] = rating[rating["metric"] == m].set_index("model")["value"].reindex(out.index)
    out["fit_s"] = t["fit_seconds"].reindex(out.index)
    for metric in ("ndcg", "precision", "map_msr"):
        if metric not in set(s10["metric"]):
            continue
        out[f"{metric}_ci"] = [
            "[{:.3f}, {:.3f}]".format(
                *s10[(s10["model"] == m) & (s10["metric"] == metric)][["ci_low", "ci_high"]].iloc[0]
            )
            for m in out.index
        ]
    return out.sort_values("ndcg_at_10", ascending=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("params", nargs="?", default=str(REPO / "params" / "movielens100k.yaml"))
    ap.add_argument("--reports-dir", default=str(REPO / "reports"))
    ap.add_argument(
        "--reuse", action="store_true", help="reuse the run folder's results if present"
    )
    args = ap.parse_args(argv)

    if not os.environ.get(KEY_ENV_VAR):
        os.environ[KEY_ENV_VAR] = secrets.token_hex(16)
        print(f"{KEY_ENV_VAR} not set: using a random key for this run")
    settings = load_params(args.params)
    for stage in STAGES:
        if section_name(stage) not in settings.sections:
            raise SystemExit(f"{args.params}: no '{section_name(stage)}' section")
    run_dir = Path(args.reports_dir) / settings.run_name
    have = (run_dir / "results" / "03_model_comparison" / "metrics.parquet").exists()
    t0 = time.perf_counter()
    if not (args.reuse and have):
        from recnb.workflow.runner import run

        run(args.params, stages=STAGES, reports_dir=args.reports_dir)
    elapsed = time.perf_counter() - t0

    print(
        f"\n== {settings.run_name}: split check (recnb.prep.split.python_stratified_split of the raw file "
        "vs the pipeline's test part)"
    )
    print(check_split(settings, run_dir))

    ours = our_table(run_dir)
    pd.set_option("display.width", 160)
    print(
        f"\n== ours ({settings.run_name}; hyperparameters tuned on validation; top-10; seen removed)"
    )
    print(ours.round(6).to_string())
    section = settings.section("model_comparison")
    name = section.get("reference_table") or "msr_movielens100k"
    ref = reference_table(name)
    print(f"\n== reference: {ref.title}\n   protocol: {ref.protocol}\n   source: {ref.source}")
    print(ref.rows().to_string(index=False))
    variant = settings.data.options.get("variant")
    targets = TARGETS.get(variant, {})
    if targets:
        best = float(ours["ndcg_at_10"].max())
        rows = []
        for model, target in targets.items():
            value = best if model == "best model" else float(ours["ndcg_at_10"].get(model, np.nan))
            rows.append(
                {
                    "target": model if model != "best model" else f"best ({ours.index[0]})",
                    "ndcg_at_10": value,
                    "minimum": target,
                    "met": bool(value >= target),
                }
            )
        print(f"\n== targets on {variant} (nDCG@10, tuned on validation)")
        print(pd.DataFrame(rows).to_string(index=False))
    res = run_dir / "results" / "03_model_comparison"
    summary = read_parquet(res / "tuning_summary.parquet")
    # measured times live apart from the results (same params, same bytes): timing_tuning
    seconds = read_parquet(res / "timing_tuning.parquet").groupby("model")["seconds"].sum()
    summary["seconds"] = summary["model"].map(seconds).fillna(0.0)
    print("\n== tuning on validation: trials, best validation nDCG@10, seconds per model")
    print(
        summary[["model", "n_trials", "configured_value", "best_value", "seconds"]]
        .round(4)
        .to_string(index=False)
    )
    print(f"total tuning: {summary['seconds'].sum():.0f} s")
    tuned = read_parquet(run_dir / "results" / "03_model_comparison" / "tuning_chosen.parquet")
    print("\n== chosen hyperparameters (validation split)")
    print(tuned.to_string(index=False))
    print(f"\nstages 02+03: {elapsed:.0f} s ({'reused' if args.reuse and have else 'run'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
