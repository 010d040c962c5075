"""Write golden fixtures from the released Microsoft Recommenders (1.2.1) for recnb's tests.

recnb re-implements Recommenders' stratified split and compares its metrics with Recommenders'
``python_evaluation``. Recommenders is not a dependency, so the tests cannot call it; this script
runs the released code once and stores what it returns under ``tests/fixtures/msr/``, where
``tests/test_msr_fixtures.py`` compares recnb against it on every ``make test`` (no network).

What it does:

1. ``pip download --no-deps recommenders==1.2.1`` into a temporary folder (or ``--wheel PATH``);
2. extracts only the modules below into that folder and imports them from there. They need numpy,
   pandas and scikit-learn and nothing else: the package ``__init__`` files of 1.2.1 import
   nothing, ``split_utils`` guards its pyspark import, so none of the package's heavy extras are
   loaded (the script checks which ``recommenders`` modules ended up imported);
3. writes

   - ``split_frame_<name>.csv``: small ratings frames (groups of 1, 2, 3, 5, 10 and 37 rows, by
     user and by item, ids in shuffled row order; one frame with string ids);
   - ``splits.json``: for each frame, ``filter_by``, ratio (0.5, 0.75, 0.8, two lists of three),
     seed and ``min_rating``, the original row index of every row of every returned split, in the
     returned order;
   - ``metrics.json``: truth and prediction frames (users without recommendations, users
     without truth, tied scores, lists shorter than k, more relevant items than k) with the
     values of ``precision_at_k``, ``recall_at_k``, ``ndcg_at_k`` (binary, raw, exp),
     ``map_at_k``, ``map``, ``rmse``, ``mae`` and ``auc``;
   - ``ml_latest_small.json``: when the data is present, a fingerprint of the released split of
     ``ml-latest-small/ratings.csv`` (ratio 0.75, seed 42, by item and by user): row counts and a
     sha256 of the sorted ``userId,movieId`` keys of the test rows, plus the sha256 of the file;
   - ``SOURCE.json``: the wheel's sha256, the sha256 of each module used, and the numpy, pandas
     and scikit-learn versions the fixtures were produced with.

Nothing of the wheel itself is written to the repository.

Usage::

    .venv/bin/python tools/make_msr_fixtures.py                 # downloads the wheel from PyPI
    .venv/bin/python tools/make_msr_fixtures.py --wheel recommenders-1.2.1-py3-none-any.whl
    .venv/bin/python tools/make_msr_fixtures.py --data ../shared/data/ml-latest-small
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RELEASE = "1.2.1"
OUT = REPO / "tests" / "fixtures" / "msr"

#: the modules of the wheel that are extracted and imported (the three the fixtures need and what
#: they import; found by importing them from a folder holding nothing else)
MODULE_FILES = (
    "recommenders/__init__.py",
    "recommenders/utils/__init__.py",
    "recommenders/utils/constants.py",
    "recommenders/datasets/__init__.py",
    "recommenders/datasets/split_utils.py",
    "recommenders/datasets/python_splitters.py",
    "recommenders/datasets/pandas_df_utils.py",
    "recommenders/evaluation/__init__.py",
    "recommenders/evaluation/python_evaluation.py",
)

GROUP_SIZES = (1, 2, 3, 5, 10, 37)
RATIOS: tuple[float | list[float], ...] = (0.5, 0.75, 0.8, [0.6, 0.2, 0.2], [7.0, 2.0, 1.0])
SEEDS = (42, 1, 7, 2024)
KS = (1, 3, 5, 10)


# ----------------------------------------------------------------------------------------------
# the released code
# ----------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps recommenders==RELEASE`` into ``dest``; the wheel's path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"recommenders=={RELEASE}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    wheels = sorted(dest.glob(f"recommenders-{RELEASE}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download left no recommenders-{RELEASE} wheel in {dest}")
    return wheels[0]


def load_released(wheel: Path, into: Path) -> tuple[ModuleType, ModuleType, dict[str, str]]:
    """Extract :data:`MODULE_FILES` from ``wheel`` into ``into`` and import them from there.

    Returns ``python_splitters``, ``python_evaluation`` and ``{file: sha256}`` of the extracted
    files.
    """
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        missing = [f for f in MODULE_FILES if f not in names]
        if missing:
            raise SystemExit(f"{wheel}: missing {missing}")
        for name in MODULE_FILES:
            zf.extract(name, into)
    hashes = {name: sha256_file(into / name) for name in MODULE_FILES}
    if any(m == "recommenders" or m.startswith("recommenders.") for m in sys.modules):
        raise SystemExit("a 'recommenders' package is already imported; run in a clean process")
    sys.path.insert(0, str(into))
    try:
        splitters = importlib.import_module("recommenders.datasets.python_splitters")
        evaluation = importlib.import_module("recommenders.evaluation.python_evaluation")
    finally:
        sys.path.remove(str(into))
    for mod in [m for m in sys.modules if m.split(".")[0] == "recommenders"]:
        file = getattr(sys.modules[mod], "__file__", None)
        if file is None or not Path(file).resolve().is_relative_to(into.resolve()):
            raise SystemExit(f"{mod} was not loaded from the extracted files: {file}")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "recommenders")
    print(f"imported from the wheel: {', '.join(loaded)}")
    return splitters, evaluation, hashes


# ----------------------------------------------------------------------------------------------
# split fixtures
# ----------------------------------------------------------------------------------------------


def split_frames() -> dict[str, pd.DataFrame]:
    """Small ratings frames whose users (or items) come in groups of :data:`GROUP_SIZES` rows."""
    rng = np.random.default_rng(20250101)
    sizes = np.array(GROUP_SIZES * 2)
    frames = {}
    # users in groups of 1..37 rows, in shuffled row order; items drawn from a skewed catalogue,
    # so the item groups vary in size too
    users = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    items = rng.zipf(1.6, len(users)) % 80
    frames["user_groups"] = pd.DataFrame(
        {"userID": users, "itemID": items, "rating": rng.integers(1, 6, len(users)).astype(float)}
    )
    # the same for items
    items = rng.permutation(np.repeat(np.arange(len(sizes)) * 3 + 100, sizes))
    users = rng.integers(0, 40, len(items))
    frames["item_groups"] = pd.DataFrame(
        {"userID": users, "itemID": items, "rating": rng.integers(1, 6, len(items)).astype(float)}
    )
    # string ids (sorted as text: "u10" < "u2"), groups of every size for users and for items
    users = rng.permutation(np.repeat([f"u{i}" for i in range(len(GROUP_SIZES))], GROUP_SIZES))
    items = np.empty(len(users), dtype=object)
    items[:] = rng.permutation(np.repeat([f"i{i}" for i in range(len(GROUP_SIZES))], GROUP_SIZES))
    frames["string_ids"] = pd.DataFrame(
        {"userID": users, "itemID": items, "rating": rng.integers(1, 6, len(users)).astype(float)}
    )
    return frames


def read_frame(path: Path) -> pd.DataFrame:
    """A split frame as written by :func:`main` (ids of ``string_ids`` stay strings)."""
    return pd.read_csv(path, dtype={"rating": float})


def split_cases(splitters: ModuleType, frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    cases = []
    for name, frame in frames.items():
        for filter_by in ("user", "item"):
            for ratio in RATIOS:
                for seed in SEEDS:
                    for min_rating in (1, 3) if seed == 42 else (1,):
                        data = frame.copy()  # the released code adds a column to its input
                        parts = splitters.python_stratified_split(
                            data,
                            ratio=ratio,
                            min_rating=min_rating,
                            filter_by=filter_by,
                            seed=seed,
                        )
                        cases.append(
                            {
                                "frame": name,
                                "filter_by": filter_by,
                                "ratio": ratio,
                                "seed": seed,
                                "min_rating": min_rating,
                                "splits": [[int(i) for i in p.index] for p in parts],
                            }
                        )
    return cases


# ----------------------------------------------------------------------------------------------
# metric fixtures
# ----------------------------------------------------------------------------------------------


def _frames_from_rows(truth: list, pred: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.DataFrame(truth, columns=["userID", "itemID", "rating"]).astype(
        {"userID": np.int64, "itemID": np.int64, "rating": np.float64}
    )
    p = pd.DataFrame(pred, columns=["userID", "itemID", "prediction"]).astype(
        {"userID": np.int64, "itemID": np.int64, "prediction": np.float64}
    )
    return t, p


def ranking_inputs() -> dict[str, dict[str, Any]]:
    """Truth / prediction rows (``[user, item, value]``) of the ranking cases."""
    rng = np.random.default_rng(7)
    cases: dict[str, dict[str, Any]] = {}

    # 60 users, 30 items, graded truth; list lengths 0 (no recommendation) to 14; scores rounded
    # to one decimal, so ties are common; users 55-59 have predictions but no truth
    truth, pred = [], []
    for u in range(60):
        if u < 55:
            n_rel = int(rng.integers(1, 16))
            for i in rng.choice(30, n_rel, replace=False):
                truth.append([u, int(i), float(rng.integers(1, 6))])
        n_list = 0 if u % 9 == 0 else int(rng.integers(1, 15))
        for i in rng.choice(30, n_list, replace=False):
            pred.append([u, int(i), round(float(rng.random()), 1)])
    cases["mixed"] = {"truth": truth, "pred": pred}

    # ties straddling the cut-off: equal scores, the row order of the frame decides
    cases["ties"] = {
        "truth": [[0, 2, 1.0], [0, 5, 3.0], [1, 0, 2.0], [1, 9, 1.0], [2, 3, 5.0]],
        "pred": [
            [0, 1, 0.5],
            [0, 2, 0.5],
            [0, 3, 0.9],
            [0, 5, 0.5],
            [0, 4, 0.5],
            [1, 9, 0.2],
            [1, 7, 0.2],
            [1, 0, 0.2],
            [1, 8, 0.2],
            [2, 3, 0.1],
            [2, 4, 0.1],
        ],
    }

    # more relevant items than k (map divides by |relevant|, map_at_k by min(k, |relevant|)),
    # and perfect lists
    truth = [[u, i, 1.0 + (i % 5)] for u in range(4) for i in range(12 + 3 * u)]
    pred = [[u, i, 100.0 - i] for u in range(4) for i in range(10)]
    pred += [[4, i, 1.0] for i in range(3)]  # a user with predictions and no truth
    cases["many_relevant"] = {"truth": truth, "pred": pred}

    # lists shorter than k for everyone, hits at varied ranks
    truth = [[0, 1, 4.0], [0, 2, 5.0], [1, 3, 1.0], [2, 0, 2.0], [2, 4, 3.0], [3, 7, 5.0]]
    pred = [[0, 2, 0.3], [0, 8, 0.9], [1, 3, 0.5], [2, 6, 0.4], [2, 4, 0.2], [2, 0, 0.1]]
    cases["short_lists"] = {"truth": truth, "pred": pred}

    # no hit at all: every metric is 0
    cases["no_hits"] = {
        "truth": [[0, 1, 1.0], [1, 2, 1.0]],
        "pred": [[0, 3, 0.9], [0, 4, 0.8], [1, 5, 0.7]],
    }
    return cases


RANKING_CALLS: tuple[tuple[str, dict[str, str]], ...] = (
    ("precision_at_k", {}),
    ("recall_at_k", {}),
    ("ndcg_at_k", {}),
    ("ndcg_at_k", {"score_type": "raw"}),
    ("ndcg_at_k", {"score_type": "exp", "discfun_type": "log2"}),
    ("map_at_k", {}),
    ("map", {}),
)


def ranking_fixtures(evaluation: ModuleType) -> list[dict[str, Any]]:
    out = []
    for name, rows in ranking_inputs().items():
        values = []
        for k in KS:
            for fn, kwargs in RANKING_CALLS:
                t, p = _frames_from_rows(rows["truth"], rows["pred"])
                v = getattr(evaluation, fn)(t, p, k=k, **kwargs)
                values.append({"function": fn, "kwargs": kwargs, "k": k, "value": float(v)})
        out.append({"case": name, **rows, "values": values})
    return out


def rating_fixtures(evaluation: ModuleType) -> list[dict[str, Any]]:
    """RMSE / MAE: only pairs present in both frames count (an inner merge)."""
    rng = np.random.default_rng(11)
    truth = [[int(u), int(i), float(rng.integers(1, 11)) / 2] for u in range(8) for i in range(6)]
    pred = [[u, i, round(r + float(rng.normal(0, 0.8)), 3)] for u, i, r in truth[:44]]
    pred += [[9, 0, 3.0], [9, 1, 1.0], [0, 7, 5.0]]  # pairs without truth: ignored
    t, p = _frames_from_rows(truth, pred)
    return [
        {
            "case": "ratings",
            "truth": truth,
            "pred": pred,
            "values": [
                {"function": "rmse", "value": float(evaluation.rmse(t, p))},
                {"function": "mae", "value": float(evaluation.mae(t, p))},
            ],
        }
    ]


def auc_fixtures(evaluation: ModuleType) -> list[dict[str, Any]]:
    """``auc``: scikit-learn's ROC AUC over all (user, item) pairs pooled, not per user.

    Every user has a score for every item of a small catalogue and a 0/1 label for each, so a
    user's rows alone are one customer's AUC over the whole catalogue; the pooled value over all
    users is stored too.
    """
    rng = np.random.default_rng(5)
    n_users, n_items = 5, 20
    truth, pred = [], []
    for u in range(n_users):
        pos = set(rng.choice(n_items, int(rng.integers(1, 8)), replace=False).tolist())
        for i in range(n_items):
            truth.append([u, i, float(i in pos)])
            pred.append([u, i, round(float(rng.random()) + 0.3 * (i in pos) + 0.2 * u, 1)])
    t, p = _frames_from_rows(truth, pred)
    per_user = [
        float(evaluation.auc(t[t["userID"] == u], p[p["userID"] == u])) for u in range(n_users)
    ]
    return [
        {
            "case": "auc_catalogue",
            "truth": truth,
            "pred": pred,
            "values": [
                {"function": "auc", "scope": "pooled", "value": float(evaluation.auc(t, p))},
                *(
                    {"function": "auc", "scope": f"user {u}", "user": u, "value": v}
                    for u, v in enumerate(per_user)
                ),
            ],
        }
    ]


# ----------------------------------------------------------------------------------------------
# ml-latest-small
# ----------------------------------------------------------------------------------------------


def keys_sha256(test: pd.DataFrame, col_user: str, col_item: str) -> str:
    """sha256 of the sorted ``user,item`` lines of a test frame (one line per row)."""
    keys = sorted(
        zip(test[col_user].astype(np.int64), test[col_item].astype(np.int64), strict=True)
    )
    return hashlib.sha256("".join(f"{u},{i}\n" for u, i in keys).encode()).hexdigest()


def movielens_fingerprint(splitters: ModuleType, folder: Path) -> dict[str, Any]:
    ratings = folder / "ratings.csv"
    df = pd.read_csv(ratings)
    out: dict[str, Any] = {
        "file": "ml-latest-small/ratings.csv",
        "file_sha256": sha256_file(ratings),
        "rows": len(df),
        "ratio": 0.75,
        "seed": 42,
        "read_with": "pandas.read_csv(ratings.csv), file order, default dtypes",
        "splits": {},
    }
    for by in ("item", "user"):
        train, test = splitters.python_stratified_split(
            df.copy(), ratio=0.75, filter_by=by, col_user="userId", col_item="movieId", seed=42
        )
        out["splits"][by] = {
            "train_rows": len(train),
            "test_rows": len(test),
            "test_keys_sha256": keys_sha256(test, "userId", "movieId"),
        }
        print(f"ml-latest-small by {by}: train {len(train):,} / test {len(test):,}")
    return out


# ----------------------------------------------------------------------------------------------


def _dumps(obj: Any, depth: int = 0) -> str:
    """JSON with one line per dict key, lists of scalars (and of short lists) kept on one line."""
    pad = " " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(obj, list) and any(isinstance(x, dict) for x in obj):
        return (
            "[\n" + ",\n".join(pad + _dumps(x, depth + 1) for x in obj) + "\n" + " " * depth + "]"
        )
    return json.dumps(obj, separators=(",", ":"))


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_dumps(obj) + "\n")
    os.replace(tmp, path)


def _default_data() -> Path | None:
    for base in (os.environ.get("RECNB_DATA_DIR"), REPO.parent / "shared" / "data"):
        if base and (Path(base) / "ml-latest-small" / "ratings.csv").is_file():
            return Path(base) / "ml-latest-small"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"a downloaded recommenders-{RELEASE} wheel")
    ap.add_argument("--out", type=Path, default=OUT, help="fixture folder (default: %(default)s)")
    ap.add_argument(
        "--data",
        type=Path,
        default=_default_data(),
        help="ml-latest-small folder (default: $RECNB_DATA_DIR or ../shared/data)",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="msr-") as tmp:
        tmp = Path(tmp)
        wheel = args.wheel or download_wheel(tmp / "wheel")
        splitters, evaluation, hashes = load_released(wheel, tmp / "src")

        frames = split_frames()
        for name, frame in frames.items():
            frame.to_csv(args.out / f"split_frame_{name}.csv", index=False)
        # the cases run on the frames as read back from the CSV, as the tests read them
        frames = {n: read_frame(args.out / f"split_frame_{n}.csv") for n in frames}
        cases = split_cases(splitters, frames)
        _write_json(args.out / "splits.json", {"release": RELEASE, "cases": cases})
        print(f"splits.json: {len(cases)} cases")

        metrics = {
            "release": RELEASE,
            "ranking": ranking_fixtures(evaluation),
            "rating": rating_fixtures(evaluation),
            "auc": auc_fixtures(evaluation),
        }
        _write_json(args.out / "metrics.json", metrics)
        n = sum(len(c["values"]) for part in ("ranking", "rating", "auc") for c in metrics[part])
        print(f"metrics.json: {n} values")

        if args.data is not None and (args.data / "ratings.csv").is_file():
            fp = movielens_fingerprint(splitters, args.data)
            _write_json(args.out / "ml_latest_small.json", {"release": RELEASE, **fp})
        else:
            print("ml-latest-small not found: ml_latest_small.json left as it is")

        import sklearn

        _write_json(
            args.out / "SOURCE.json",
            {
                "generated_by": "tools/make_msr_fixtures.py",
                "package": f"recommenders=={RELEASE}",
                "wheel": wheel.name,
                "wheel_sha256": sha256_file(wheel),
                "modules_sha256": hashes,
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "scikit-learn": sklearn.__version__,
                "python": sys.version.split()[0],
            },
        )
    print(f"fixtures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
