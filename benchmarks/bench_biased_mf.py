"""Biased MF for ratings: recnb's ``biased_mf`` (ALS) beside a plain Funk-SVD, on ml-latest-small.

Protocol
--------
- Data: ``ratings.csv`` of GroupLens ml-latest-small (100,836 ratings, 610 users, 9,724 movies),
  read directly with pandas.
- Split: a random 80/20 split of the ratings (``numpy.random.default_rng(seed).permutation``, seed 42),
  the protocol of Surprise's ``train_test_split``. Test ratings of users or movies absent from train
  are predicted from the biases both models learn (global mean plus the known biases), as Surprise does.
- Peer: Surprise's ``SVD`` (Funk-SVD with biases, SGD) with its defaults: 100 factors, 20 epochs,
  learning rate 0.005, regularisation 0.02, init std 0.1, over three seeds (its RMSE moves with the
  seed).
- recnb: ``biased_mf`` with its defaults (weighted-lambda ALS, exact per-row solves batched with
  numpy), one seed; fit time measured on the 80% train part and on all 100,836 ratings.
- ``--baseline-repo`` adds a row for ``biased_mf`` as another checkout has it (its own defaults),
  e.g. the code before a change, run in a child process of the same run.
- ``--tune`` prints how those defaults were chosen: a grid on a validation split carved from the
  train part only (a random 20% of it, seed 43), never the test part. The rule: the cheapest
  configuration (fewest factors, then fewest epochs) whose validation RMSE is within 0.001 of the best.

Usage::

    .venv/bin/python benchmarks/bench_biased_mf.py                  # side-by-side table
    .venv/bin/python benchmarks/bench_biased_mf.py --tune           # the validation grid too
    .venv/bin/python benchmarks/bench_biased_mf.py --baseline-repo /tmp/old-checkout
    .venv/bin/python benchmarks/bench_biased_mf.py --data /path/to/ml-latest-small

Fit times depend on the machine and on what else runs on it (the load is printed); compare rows
of one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path and "--child" not in sys.argv:
    sys.path.insert(0, str(REPO))

from recnb.data.interactions import Interactions  # noqa: E402
from recnb.models import make_model  # noqa: E402

#: Surprise SVD's defaults (its documentation), the "plain Funk-SVD with the usual defaults"
SURPRISE_DEFAULTS = {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02}
#: the validation grid of --tune
GRID = {
    "n_factors": [8, 16, 32, 64],
    "regularization": [0.05, 0.1, 0.15, 0.2],
    "bias_regularization": [0.05, 0.1, 0.2],
    "n_epochs": [5, 10, 15],
}
#: configurations within this validation RMSE of the best count as equally good
TOLERANCE = 0.001


def default_data() -> Path:
    root = os.environ.get("RECNB_DATA_DIR")
    base = Path(root) if root else REPO.parent / "shared" / "data"
    if not base.exists():
        base = Path("/work/shared/data")
    return base / "ml-latest-small"


def read_ratings(folder: Path) -> pd.DataFrame:
    path = folder / "ratings.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (pass --data or set RECNB_DATA_DIR)")
    df = pd.read_csv(path, dtype={"userId": str, "movieId": str, "rating": np.float64})
    return df[["userId", "movieId", "rating"]]


def random_split(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held out): a random ``fraction`` of the rows held out."""
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(round(len(df) * fraction))
    held = np.zeros(len(df), bool)
    held[order[:cut]] = True
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def interactions(df: pd.DataFrame) -> Interactions:
    users, u = np.unique(df["userId"].to_numpy(), return_inverse=True)
    items, i = np.unique(df["movieId"].to_numpy(), return_inverse=True)
    m = sp.csr_matrix((df["rating"].to_numpy(np.float32), (u, i)), shape=(len(users), len(items)))
    return Interactions(m, list(users), list(items))


def errors(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    diff = pred - truth
    return float(np.sqrt(np.mean(diff**2))), float(np.mean(np.abs(diff)))


def fit_recnb(train: pd.DataFrame, seed: int, **params) -> tuple[object, float]:
    inter = interactions(train)
    model = make_model("biased_mf", random_state=seed, **params)
    t = time.perf_counter()
    model.fit(inter)
    return model, time.perf_counter() - t


def predict_recnb(model, df: pd.DataFrame) -> np.ndarray:
    return model.predict(df["userId"].to_numpy(), df["movieId"].to_numpy())


def run_surprise(
    train: pd.DataFrame, test: pd.DataFrame, everything: pd.DataFrame, seed: int
) -> dict | None:
    try:
        from surprise import SVD, Dataset, Reader
    except ImportError:
        return None

    def fit(df: pd.DataFrame) -> tuple[object, float]:
        trainset = Dataset.load_from_df(df, Reader(rating_scale=(0.5, 5.0))).build_full_trainset()
        algo = SVD(random_state=seed, **SURPRISE_DEFAULTS)
        t = time.perf_counter()
        algo.fit(trainset)
        return algo, time.perf_counter() - t

    algo, secs = fit(train)
    secs_all = fit(everything)[1]
    rows = test[["userId", "movieId", "rating"]].itertuples(index=False, name=None)
    pred = np.array([p.est for p in algo.test(list(rows))])
    rmse, mae = errors(pred, test["rating"].to_numpy())
    return {"fit_s": secs, "fit_all_s": secs_all, "rmse": rmse, "mae": mae}


def run_baseline(repo: Path, args: argparse.Namespace) -> dict:
    """``biased_mf`` with its defaults from another checkout, in a child process."""
    cmd = [sys.executable, __file__, "--child", "--seed", str(args.seed)]
    if args.data is not None:
        cmd += ["--data", str(args.data)]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> None:
    """Fit and score ``biased_mf`` with the defaults of the checkout on PYTHONPATH."""
    ratings = read_ratings(args.data or default_data())
    train, test = random_split(ratings, 0.2, args.seed)
    model, secs = fit_recnb(train, args.seed)
    secs_all = fit_recnb(ratings, args.seed)[1]
    rmse, mae = errors(predict_recnb(model, test), test["rating"].to_numpy())
    params = model.get_params()
    print(
        json.dumps(
            {
                "fit_s": secs,
                "fit_all_s": secs_all,
                "rmse": rmse,
                "mae": mae,
                **{
                    k: params[k]
                    for k in ("n_factors", "n_epochs", "regularization", "bias_regularization")
                },
            }
        )
    )


def tune(train: pd.DataFrame, seed: int) -> dict:
    """Grid on a validation split of ``train``; returns the chosen defaults."""
    fit_part, valid = random_split(train, 0.2, seed + 1)
    truth = valid["rating"].to_numpy()
    rows = []
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        model, secs = fit_recnb(fit_part, seed, **params)
        rmse, _ = errors(predict_recnb(model, valid), truth)
        rows.append({**params, "valid_rmse": rmse, "fit_s": secs})
    table = pd.DataFrame(rows).sort_values("valid_rmse").reset_index(drop=True)
    best = table["valid_rmse"].iloc[0]
    near = table[table["valid_rmse"] <= best + TOLERANCE]
    chosen = near.sort_values(["n_factors", "n_epochs", "valid_rmse"]).iloc[0]
    print(
        f"\n## tuning on validation ({len(fit_part):,} fit / {len(valid):,} validation ratings "
        f"from the train part; test unused): best 12 of {len(table)}"
    )
    print(table.head(12).to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(
        f"best validation RMSE {best:.4f}; cheapest within {TOLERANCE}: "
        + ", ".join(f"{k}={chosen[k]:g}" for k in keys)
        + f" ({chosen['valid_rmse']:.4f})"
    )
    return {k: chosen[k].item() for k in keys}


def _git_rev(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or repo.name


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="the ml-latest-small folder")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeats", type=int, default=3, help="fit-time repeats (median shown)")
    p.add_argument("--tune", action="store_true", help="print the validation grid")
    p.add_argument("--baseline-repo", type=Path, default=None, help="another recnb checkout")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return

    ratings = read_ratings(args.data or default_data())
    train, test = random_split(ratings, 0.2, args.seed)
    load = os.getloadavg()
    print(
        f"# bench_biased_mf  cores={os.cpu_count()}  load(1/5/15 min)="
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}  "
        f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print(
        f"ml-latest-small: {len(ratings):,} ratings; random 80/20 split (seed {args.seed}): "
        f"{len(train):,} train, {len(test):,} test"
    )
    if args.tune:
        tune(train, args.seed)

    truth = test["rating"].to_numpy()
    rows = []
    times, times_all = [], []
    for _ in range(args.repeats):
        model, secs = fit_recnb(train, args.seed)
        times.append(secs)
        times_all.append(fit_recnb(ratings, args.seed)[1])
    rmse, mae = errors(predict_recnb(model, test), truth)
    params = model.get_params()
    rows.append(
        {
            "model": "recnb biased_mf (ALS)",
            "settings": f"defaults: {params['n_factors']} factors, {params['n_epochs']} epochs, "
            f"reg {params['regularization']:g}, bias reg {params['bias_regularization']:g}",
            "fit s (train)": float(np.median(times)),
            "fit s (all 100,836)": float(np.median(times_all)),
            "RMSE": rmse,
            "MAE": mae,
        }
    )
    if args.baseline_repo is not None:
        base = run_baseline(args.baseline_repo.resolve(), args)
        if "error" in base:
            print(f"baseline checkout failed: {base['error']}")
        else:
            rows.append(
                {
                    "model": f"recnb biased_mf @ {_git_rev(args.baseline_repo)}",
                    "settings": f"its defaults: {base['n_factors']} factors, "
                    f"{base['n_epochs']} epochs, reg {base['regularization']:g}, "
                    f"bias reg {base['bias_regularization']:g}",
                    "fit s (train)": base["fit_s"],
                    "fit s (all 100,836)": base["fit_all_s"],
                    "RMSE": base["rmse"],
                    "MAE": base["mae"],
                }
            )
    peer = [run_surprise(train, test, ratings, args.seed + s) for s in range(3)]
    if peer[0] is None:
        print("Surprise (scikit-surprise) is not installed: no peer row")
    else:
        rows.append(
            {
                "model": "Surprise SVD (Funk-SVD, SGD)",
                "settings": "defaults: 100 factors, 20 epochs, lr 0.005, reg 0.02; mean of 3 seeds",
                "fit s (train)": float(np.median([r["fit_s"] for r in peer])),
                "fit s (all 100,836)": float(np.median([r["fit_all_s"] for r in peer])),
                "RMSE": float(np.mean([r["rmse"] for r in peer])),
                "MAE": float(np.mean([r["mae"] for r in peer])),
            }
        )
        spread = [r["rmse"] for r in peer]
        print(f"Surprise SVD RMSE per seed: {', '.join(f'{x:.4f}' for x in spread)}")
    print(
        "\n## test ratings: RMSE / MAE (lower is better); fit seconds: median of repeats "
        "(recnb, Surprise), one fit (baseline checkout)"
    )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    load = os.getloadavg()
    print(f"load at the end: {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")


if __name__ == "__main__":
    main()
