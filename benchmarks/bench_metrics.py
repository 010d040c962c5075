"""Benchmark: recnb ranking metrics against Microsoft Recommenders and ranx, in the same run.

Computes precision@k, recall@k, NDCG@k and MAP@k (both MAP conventions) on a synthetic,
long-tailed data set with three implementations:

- recnb (:func:`recnb.metrics.ranking_metrics`, tidy per-customer frame, then the means);
- Microsoft Recommenders ``python_evaluation`` (``precision_at_k``, ``recall_at_k``,
  ``ndcg_at_k``, ``map_at_k`` and ``map``). Their package is not a dependency: the script runs
  ``pip download --no-deps recommenders`` into a temporary folder and imports only
  ``recommenders/evaluation/python_evaluation.py`` plus the two small modules it imports
  (``recommenders/utils/constants.py``, ``recommenders/datasets/pandas_df_utils.py``), all from
  the downloaded wheel at run time; nothing of theirs is stored in this repository and nothing
  is stubbed (their package ``__init__`` files are the wheel's own, metadata only). Pass
  ``--msr-wheel PATH`` to reuse a downloaded wheel.
- ranx (``Qrels``/``Run`` built with ``from_dict`` from the same arrays, dict construction
  included in its time, then ``evaluate(..., return_mean=False)``). Numba compilation is done
  before timing, on the first 200 customers of the same data (numba specializes on the width of
  the id strings, so a different warm-up input would leave compilation inside the timing).

Each implementation runs ``--repeat`` times (default 3), each time in a fresh forked process;
the table shows the median and the minimum. Peak memory is measured per process: the peak
resident set size (VmHWM, reset through ``/proc/self/clear_refs``) minus the resident size when
the timed call starts, the maximum over the repeats. The input DataFrames of Recommenders are
built before timing (they are its native input); ranx's dictionaries are built inside. Thread
settings are the machine's (ranx runs numba in parallel; recnb and Recommenders use one core).
The load average is printed, since other work on the machine slows every implementation.

Values are asserted to agree where definitions match (means over customers; ranx also per
customer): precision, recall, NDCG (binary gain; Recommenders' natural-log discount gives the
same ratio), recnb ``map_min`` = Recommenders ``map_at_k``, recnb ``map_msr`` = Recommenders
``map``, recnb ``map_rel`` = ranx ``map@k``.

Usage::

    .venv/bin/python benchmarks/bench_metrics.py                      # 100k x 20k, all three
    .venv/bin/python benchmarks/bench_metrics.py --peer-customers 20000  # peers on a subsample
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnb.metrics import ranking_metric_arrays, ranking_metrics  # noqa: E402

MSR_FILES = (
    "recommenders/__init__.py",
    "recommenders/utils/__init__.py",
    "recommenders/utils/constants.py",
    "recommenders/datasets/__init__.py",
    "recommenders/datasets/pandas_df_utils.py",
    "recommenders/evaluation/__init__.py",
    "recommenders/evaluation/python_evaluation.py",
)

# name in the table -> (recnb metric, Recommenders function, ranx metric prefix)
COMPARED = {
    "precision": ("precision", "precision_at_k", "precision"),
    "recall": ("recall", "recall_at_k", "recall"),
    "ndcg": ("ndcg", "ndcg_at_k", "ndcg"),
    "map_at_k (min(k,|rel|))": ("map_min", "map_at_k", None),
    "map (|rel|)": ("map_msr", "map", None),
    "map (ranx, |rel|)": ("map_rel", None, "map"),
}


# --- synthetic data ------------------------------------------------------------------------------


def make_data(
    n_customers: int, n_products: int, k: int, seed: int
) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Long-tailed held-out items and top-k lists with a realistic share of hits.

    Product popularity is Zipf-like (weight ``1 / rank**1.07``); the number of held-out items
    per customer is ``1 + floor(2 * Lomax(1.5))`` capped at 200 (median 2, heavy tail). Each list
    mixes popularity draws with up to three of the customer's own held-out items at random ranks.
    """
    rng = np.random.default_rng(seed)
    weight = 1.0 / np.arange(1, n_products + 1) ** 1.07
    p = weight[np.argsort(rng.permutation(n_products))]
    p /= p.sum()
    n_rel = np.minimum(1 + np.floor(2 * rng.pareto(1.5, n_customers)).astype(np.int64), 200)
    rows = np.repeat(np.arange(n_customers), n_rel)
    cols = rng.choice(n_products, size=rows.size, p=p)
    truth = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_customers, n_products))
    truth.sum_duplicates()
    truth.data[:] = 1.0
    counts = np.diff(truth.indptr)

    n_pop, n_own = 4 * k, 3
    topk = np.empty((n_customers, k), dtype=np.int64)
    todo = np.arange(n_customers)
    while todo.size:
        pop = rng.choice(n_products, size=(todo.size, n_pop), p=p)
        pick = truth.indptr[todo, None] + np.floor(
            rng.random((todo.size, n_own)) * counts[todo, None]
        ).astype(np.int64)
        own = truth.indices[pick]
        own_keep = rng.random((todo.size, n_own)) < 0.4
        cand = np.concatenate([own, pop], axis=1)
        key = np.concatenate(
            [
                np.where(own_keep, rng.random((todo.size, n_own)) * 2.5 * k, np.inf),
                np.arange(n_pop) + rng.random((todo.size, n_pop)),
            ],
            axis=1,
        )
        order = np.argsort(key, axis=1, kind="stable")
        cand = np.take_along_axis(cand, order, axis=1)
        usable = np.isfinite(np.take_along_axis(key, order, axis=1))
        # keep the first occurrence of each product in a row
        srt = np.argsort(cand, axis=1, kind="stable")
        s = np.take_along_axis(cand, srt, axis=1)
        first_sorted = np.ones_like(s, dtype=bool)
        first_sorted[:, 1:] = s[:, 1:] != s[:, :-1]
        first = np.empty_like(first_sorted)
        np.put_along_axis(first, srt, first_sorted, axis=1)
        keep = first & usable
        enough = keep.sum(axis=1) >= k
        sel = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        chosen = np.take_along_axis(cand, sel, axis=1)
        topk[todo[enough]] = chosen[enough]
        todo = todo[~enough]
    return topk, truth


# --- implementations (each runs in a forked child) -----------------------------------------------

DATA: dict[str, object] = {}
REPEAT = 3


RECNB_METRICS = ["precision", "recall", "ndcg", "map_min", "map_rel", "map_msr"]


def run_recnb(topk: np.ndarray, truth: sparse.csr_matrix, k: int) -> dict:
    frame = ranking_metrics(topk, truth, ks=(k,), metrics=RECNB_METRICS)
    means = frame.groupby("metric")["value"].mean()
    return {"means": means.to_dict()}


def run_recnb_arrays(topk: np.ndarray, truth: sparse.csr_matrix, k: int) -> dict:
    arrays = ranking_metric_arrays(topk, truth, ks=(k,), metrics=RECNB_METRICS)
    return {"means": {m: float(np.nanmean(v)) for (m, _), v in arrays.items()}}


def run_recnb_all(topk: np.ndarray, truth: sparse.csr_matrix, k: int) -> dict:
    frame = ranking_metrics(topk, truth, ks=(5, k))
    return {"means": frame.groupby(["metric", "k"])["value"].mean().to_dict(), "rows": len(frame)}


def msr_frames(topk: np.ndarray, truth: sparse.csr_matrix) -> tuple[pd.DataFrame, pd.DataFrame]:
    n, k = topk.shape
    coo = truth.tocoo()
    rating_true = pd.DataFrame(
        {"userID": coo.row.astype(np.int64), "itemID": coo.col.astype(np.int64), "rating": coo.data}
    )
    rating_pred = pd.DataFrame(
        {
            "userID": np.repeat(np.arange(n, dtype=np.int64), k),
            "itemID": topk.ravel(),
            "prediction": np.tile(np.arange(k, 0, -1, dtype=np.float64), n),
        }
    )
    return rating_true, rating_pred


def run_msr(topk: np.ndarray, truth: sparse.csr_matrix, k: int) -> dict:
    pe = DATA["msr_module"]
    rating_true, rating_pred = DATA["msr_frames"]
    means = {}
    for name in ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "map"):
        means[name] = float(getattr(pe, name)(rating_true, rating_pred, k=k))
    return {"means": means}


def ranx_dicts(topk: np.ndarray, truth: sparse.csr_matrix) -> tuple[dict, dict]:
    n, k = topk.shape
    doc = np.arange(truth.shape[1]).astype(str).tolist()
    ind, ptr = truth.indices.tolist(), truth.indptr.tolist()
    qrels = {str(i): {doc[j]: 1 for j in ind[ptr[i] : ptr[i + 1]]} for i in range(n)}
    scores = [float(s) for s in range(k, 0, -1)]
    run = {
        str(i): dict(zip([doc[j] for j in row], scores, strict=True))
        for i, row in enumerate(topk.tolist())
    }
    return qrels, run


def run_ranx(topk: np.ndarray, truth: sparse.csr_matrix, k: int) -> dict:
    from ranx import Qrels, Run, evaluate

    qrels_d, run_d = ranx_dicts(topk, truth)
    qrels, run = Qrels.from_dict(qrels_d), Run.from_dict(run_d)
    names = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}"]
    evaluate(qrels, run, names, return_mean=False)
    per_customer = {}
    for name in names:
        scores = run.scores[name]
        per_customer[name.split("@")[0]] = np.array([scores[str(i)] for i in range(topk.shape[0])])
    return {"means": {m: float(v.mean()) for m, v in per_customer.items()}, "per": per_customer}


# --- measurement harness ---------------------------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child(fn: Callable, args: tuple, warm: Callable | None, conn) -> None:
    try:
        if warm is not None:
            warm()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            exact = True
        except OSError:
            exact = False
        before = _status("VmRSS")
        start = time.perf_counter()
        out = fn(*args)
        seconds = time.perf_counter() - start
        peak = _status("VmHWM")
        out.update(seconds=seconds, peak_mib=(peak - before) / 2**20, exact_peak=exact)
        conn.send(out)
    except BaseException:  # report any failure to the parent instead of hanging
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def measure(fn: Callable, args: tuple, warm: Callable | None = None) -> dict:
    """Run ``fn`` REPEAT times, each in a fresh forked process; median and min seconds."""
    runs = [_measure_once(fn, args, warm) for _ in range(REPEAT)]
    out = runs[0]
    times = [r["seconds"] for r in runs]
    out.update(
        seconds=float(np.median(times)),
        min_seconds=min(times),
        peak_mib=max(r["peak_mib"] for r in runs),
        exact_peak=all(r["exact_peak"] for r in runs),
    )
    return out


def _measure_once(fn: Callable, args: tuple, warm: Callable | None) -> dict:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, warm, child))
    proc.start()
    child.close()
    out = parent.recv()
    proc.join()
    if "error" in out:
        raise RuntimeError(f"{fn.__name__} failed in its process:\n{out['error']}")
    return out


def load_msr(wheel: str | None) -> tuple[object, str]:
    tmp = Path(tempfile.mkdtemp(prefix="msr_eval_"))
    if wheel is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "recommenders",
                "-d",
                str(tmp),
            ],
            check=True,
        )
        wheels = sorted(tmp.glob("recommenders-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download produced no recommenders wheel in {tmp}")
        wheel = str(wheels[-1])
    src = tmp / "src"
    with zipfile.ZipFile(wheel) as zf:
        for name in MSR_FILES:
            zf.extract(name, src)
    sys.path.insert(0, str(src))
    from recommenders.evaluation import python_evaluation

    return python_evaluation, Path(wheel).name


# --- main ------------------------------------------------------------------------------------


def check_agreement(
    recnb: dict, msr: dict | None, ranx: dict | None, per_recnb: dict
) -> pd.DataFrame:
    rows = []
    for label, (ours, msr_name, ranx_name) in COMPARED.items():
        row = {"metric": label, "recnb": recnb["means"][ours]}
        if msr is not None and msr_name is not None:
            row["recommenders"] = msr["means"][msr_name]
            row["|diff| recommenders"] = abs(row["recnb"] - row["recommenders"])
        if ranx is not None and ranx_name is not None:
            row["ranx"] = ranx["means"][ranx_name]
            row["|diff| ranx"] = abs(row["recnb"] - row["ranx"])
            row["max per-customer |diff| ranx"] = float(
                np.max(np.abs(per_recnb[ours] - ranx["per"][ranx_name]))
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    diffs = table.filter(like="|diff|").to_numpy(dtype=float)
    bad = np.nan_to_num(diffs, nan=0.0) > 1e-12
    if bad.any():
        raise AssertionError(f"implementations disagree beyond 1e-12:\n{table.to_string()}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--peer-customers",
        type=int,
        default=None,
        help="run the peers on the first N customers only (recnb runs on both sizes)",
    )
    parser.add_argument("--msr-wheel", default=None, help="path to a downloaded recommenders wheel")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per implementation; the median is reported"
    )
    parser.add_argument("--skip-msr", action="store_true")
    parser.add_argument("--skip-ranx", action="store_true")
    args = parser.parse_args()

    global REPEAT
    REPEAT = args.repeat
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    topk, truth = make_data(args.customers, args.products, args.k, args.seed)
    n_rel = np.diff(truth.indptr)
    print(
        f"data: {args.customers:,} customers x {args.products:,} products, top-{args.k}; "
        f"{truth.nnz:,} held-out items (per customer: median {np.median(n_rel):.0f}, "
        f"mean {n_rel.mean():.2f}, max {n_rel.max()}); built in {time.perf_counter() - t0:.1f} s"
    )
    peer_n = args.peer_customers or args.customers
    p_topk, p_truth = topk[:peer_n], truth[:peer_n]

    if not args.skip_msr:
        module, wheel_name = load_msr(args.msr_wheel)
        DATA["msr_module"] = module
        DATA["msr_frames"] = msr_frames(p_topk, p_truth)
        print(f"Microsoft Recommenders python_evaluation loaded from {wheel_name}")

    results: list[dict] = []

    def record(label: str, customers: int, out: dict) -> dict:
        results.append({"implementation": label, "customers": customers, **out})
        return out

    record(
        "recnb arrays (ranking_metric_arrays)",
        peer_n,
        measure(run_recnb_arrays, (p_topk, p_truth, args.k)),
    )
    recnb_peer = record(
        "recnb tidy frame (ranking_metrics)", peer_n, measure(run_recnb, (p_topk, p_truth, args.k))
    )
    arrays = ranking_metric_arrays(p_topk, p_truth, ks=(args.k,))
    per_recnb_arrays = {m: v for (m, _), v in arrays.items()}
    msr = ranx = None
    if not args.skip_msr:
        msr = record(
            "ms-recommenders python_evaluation", peer_n, measure(run_msr, (p_topk, p_truth, args.k))
        )
    if not args.skip_ranx:
        # warm-up on the first customers of the same data: numba specializes on the id dtypes
        ranx = record(
            "ranx (dict + Qrels/Run build + evaluate)",
            peer_n,
            measure(
                run_ranx,
                (p_topk, p_truth, args.k),
                warm=lambda: run_ranx(p_topk[:200], p_truth[:200], args.k),
            ),
        )
    if peer_n != args.customers:
        record(
            "recnb arrays (ranking_metric_arrays)",
            args.customers,
            measure(run_recnb_arrays, (topk, truth, args.k)),
        )
        record(
            "recnb tidy frame (ranking_metrics)",
            args.customers,
            measure(run_recnb, (topk, truth, args.k)),
        )
    record(
        "recnb tidy frame, all 9 metrics at k=5 and 10",
        args.customers,
        measure(run_recnb_all, (topk, truth, args.k)),
    )

    base = recnb_peer["seconds"]
    table = pd.DataFrame(
        [
            {
                "implementation": r["implementation"],
                "customers": r["customers"],
                "median s": round(r["seconds"], 3),
                "min s": round(r["min_seconds"], 3),
                "median / recnb tidy (same size)": round(r["seconds"] / base, 1)
                if r["customers"] == peer_n
                else float("nan"),
                "peak extra MiB": round(r["peak_mib"], 1),
            }
            for r in results
        ]
    )
    print(
        f"\nTiming: precision, recall, NDCG and MAP at k={args.k} (recnb: 3 MAP variants, "
        "Recommenders: map_at_k and map, ranx: map), each implementation including its means"
    )
    print(table.to_string(index=False))
    print(f"({REPEAT} runs each; load average after: {os.getloadavg()[0]:.1f})")
    agreement = check_agreement(recnb_peer, msr, ranx, per_recnb_arrays)
    print(f"\nAgreement on {peer_n:,} customers (asserted |diff| <= 1e-12)")
    print(agreement.to_string(index=False, float_format=lambda v: f"{v:.12g}"))
    if not all(r.get("exact_peak", True) for r in results):
        print("note: /proc/self/clear_refs unavailable; peak memory includes the parent's peak")


if __name__ == "__main__":
    main()
