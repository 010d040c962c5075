"""Top-k scoring throughput: recnb's batched top-k beside ``implicit``'s, in the same run.

The case of issue 11: 100,000 customers x 20,000 products x 64 float32 factors, about 10 seen
products per customer excluded, top-10 lists. Engines, each in its own process (so the memory
figures are its own), on the same factors and seen items:

- ``recnb``: ``Recommender.recommend_indices`` of a dot-product model with ``parallel_scoring``
  (chunks of customers scored by one BLAS product each, seen items masked through the CSR indices,
  exact top-k by group maxima, chunks on ``scoring_threads()`` worker threads, BLAS at one thread
  each). ``recnb 1 thread`` is the same with ``RECNB_SCORING_THREADS=1``.
- ``recnb @ <rev>`` (with ``--baseline-repo``): the same model class run from another checkout,
  e.g. the code before this change, for a before/after in one run.
- ``implicit``: ``AlternatingLeastSquares.recommend`` (batched, ``filter_already_liked_items``)
  with ``num_threads`` = all cores, BLAS as configured (``implicit blas1``: BLAS limited to one
  thread, as ``implicit`` recommends).

Columns: wall seconds for all customers, customers per second, the peak memory added while scoring
(VmHWM after minus RSS before: the working set, plus the ``n x k`` result), the process's peak RSS.
The lists are checked: recnb against an exact full sort of a sample of customers (ties by lower
product index), against the baseline checkout (identical indices and scores) and against implicit
(same top-k sets). ``--customers`` can be given several sizes to show memory staying flat.

Usage::

    .venv/bin/python benchmarks/bench_topk.py
    .venv/bin/python benchmarks/bench_topk.py --baseline-repo /tmp/old-checkout --customers 25000 100000

Numbers depend on the machine and on what else runs on it (the load is printed before and after);
compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]

ENGINES = ("recnb", "recnb-1thread", "implicit", "implicit-blas1")


def factors(n_c: int, n_p: int, f: int, seed: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Customer and product factors and a seen-items CSR (about 10 products per customer)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_c, f), dtype=np.float32) / np.float32(np.sqrt(f))
    v = rng.standard_normal((n_p, f), dtype=np.float32)
    per = 10
    rows = np.repeat(np.arange(n_c), per)
    cols = rng.integers(0, n_p, n_c * per)
    seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_c, n_p))
    seen.sum_duplicates()
    seen.data[:] = 1.0
    seen.sort_indices()
    return u, v, seen


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_engine(engine: str, n_c: int, args: argparse.Namespace) -> dict:
    """One engine on one size (runs in a child process); saves a sample of its lists."""
    u, v, seen = factors(n_c, args.products, args.factors, args.seed)
    customers = np.arange(n_c)
    if engine.startswith("recnb") or engine == "baseline":
        from recnb.data.interactions import Interactions
        from recnb.models.base import Recommender

        class FactorScores(Recommender):
            """Dot products of given factors (benchmark only)."""

            name = "bench_factors"
            parallel_scoring = True

            def _fit(self, train, rng):
                self.customer_factors_ = u
                self.item_factors_ = v

            def _score(self, customer_idx):
                # as recnb's factor models score: by a contiguous transpose where the checkout
                # has it (bitwise the same products as the transposed view, faster)
                if hasattr(self, "_transposed"):
                    return self.customer_factors_[customer_idx] @ self._transposed("item_factors_")
                return self.customer_factors_[customer_idx] @ self.item_factors_.T

        ids = np.arange(max(n_c, args.products)).astype(str)
        model = FactorScores().fit(Interactions(seen, ids[:n_c], ids[: args.products]))
        model.recommend_indices(customers[:1000], k=args.k)  # warm-up: thread pool, allocator
        base = _rss_mb()
        _reset_peak()
        t = time.perf_counter()
        idx, val = model.recommend_indices(customers, k=args.k)
        secs = time.perf_counter() - t
    elif engine.startswith("implicit"):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        model = AlternatingLeastSquares(factors=u.shape[1], num_threads=0)
        model.user_factors = u
        model.item_factors = v
        limit = 1 if engine == "implicit-blas1" else None
        with threadpool_limits(limit, "blas"):
            model.recommend(customers[:1000], seen[:1000], N=args.k)  # warm-up
            base = _rss_mb()
            _reset_peak()
            t = time.perf_counter()
            idx, val = model.recommend(customers, seen, N=args.k, filter_already_liked_items=True)
            secs = time.perf_counter() - t
    else:
        raise ValueError(f"unknown engine {engine!r}")
    peak = _status_mb("VmHWM")
    sample = np.random.default_rng(1).choice(n_c, min(n_c, args.check), replace=False)
    np.savez(
        _sample_path(args, engine, n_c),
        sample=sample,
        idx=np.asarray(idx)[sample],
        val=np.asarray(val, dtype=np.float32)[sample],
    )
    return {
        "engine": engine,
        "customers": n_c,
        "seconds": secs,
        "customers_per_s": n_c / secs,
        "scoring_peak_mb": peak - base,
        "peak_rss_mb": peak,
    }


def _sample_path(args: argparse.Namespace, engine: str, n_c: int) -> str:
    return f"{args.out_prefix}{engine}_{n_c}.npz"


def exact_lists(n_c: int, sample: np.ndarray, args: argparse.Namespace):
    """Top-k by a full sort of each sampled customer's row (ties by lower product index)."""
    u, v, seen = factors(n_c, args.products, args.factors, args.seed)
    scores = u[np.sort(sample)] @ v.T
    order = np.argsort(np.argsort(sample))  # back to the sample's order
    scores = scores[order]
    rows = seen[sample]
    scores[np.repeat(np.arange(len(sample)), np.diff(rows.indptr)), rows.indices] = -np.inf
    idx = np.empty((len(sample), args.k), np.int64)
    for r in range(len(sample)):
        idx[r] = np.lexsort((np.arange(scores.shape[1]), -scores[r]))[: args.k]
    return idx, np.take_along_axis(scores, idx, axis=1)


def _child(engine: str, n_c: int, args: argparse.Namespace, repo: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, str(n_c), *args.passthrough]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    if engine == "recnb-1thread":
        env["RECNB_SCORING_THREADS"] = "1"
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"engine": engine, "customers": n_c, "error": f"timeout {args.timeout}s"}
    if out.returncode != 0:
        msg = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"engine": engine, "customers": n_c, "error": msg[:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _git_rev(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return repo.name


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--customers", type=int, nargs="+", default=[100_000])
    p.add_argument("--products", type=int, default=20_000)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    p.add_argument("--baseline-repo", type=Path, default=None, help="another recnb checkout")
    p.add_argument("--check", type=int, default=500, help="customers whose lists are checked")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--out-prefix", default="/tmp/bench_topk_")
    p.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--child" in raw:
        i = raw.index("--child")
        raw = raw[:i] + raw[i + 3 :]
    args.passthrough = list(raw)
    if "--baseline-repo" in args.passthrough:  # children never need it
        i = args.passthrough.index("--baseline-repo")
        args.passthrough = args.passthrough[:i] + args.passthrough[i + 2 :]

    if args.child:
        engine, n_c = args.child
        print(json.dumps(run_engine(engine, int(n_c), args)))
        return

    from threadpoolctl import threadpool_info

    blas = [
        f"{i['internal_api']} {i['version']} {i['num_threads']} threads" for i in threadpool_info()
    ]
    load = os.getloadavg()
    print(
        f"# bench_topk  cores={os.cpu_count()}  load(1/5/15 min) before="
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}  BLAS: {'; '.join(blas)}  "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print(
        f"top-{args.k}: {args.products:,} products x {args.factors} factors, ~10 seen products "
        "per customer excluded"
    )
    rows = []
    for n_c in args.customers:
        runs = [(e, REPO) for e in args.engines]
        if args.baseline_repo is not None:
            runs.insert(1, ("baseline", args.baseline_repo.resolve()))
        for engine, repo in runs:
            res = _child(engine, n_c, args, repo)
            if engine == "baseline":
                res["engine"] = f"recnb @ {_git_rev(repo)}"
            rows.append(res)
            line = f"{res['engine']:<18} {n_c:>8,} customers: " + (
                f"{res['seconds']:7.2f} s  {res['customers_per_s']:9,.0f}/s  "
                f"scoring peak {res['scoring_peak_mb']:6.0f} MB  "
                f"peak RSS {res['peak_rss_mb']:6.0f} MB"
                if "error" not in res
                else f"error: {res['error']}"
            )
            print(line, flush=True)

    print("\n## throughput (same run)")
    head = f"{'engine':<18} | {'customers':>9} | {'seconds':>7} | {'customers/s':>11} | {'vs implicit':>11} | {'scoring peak MB':>15} | {'peak RSS MB':>11}"
    print(head)
    print("-" * len(head))
    for n_c in args.customers:
        peers = [
            r["customers_per_s"]
            for r in rows
            if r["customers"] == n_c and r["engine"].startswith("implicit") and "error" not in r
        ]
        best_peer = max(peers) if peers else float("nan")
        for r in rows:
            if r["customers"] != n_c or "error" in r:
                continue
            ratio = r["customers_per_s"] / best_peer if peers else None
            print(
                f"{r['engine']:<18} | {n_c:>9,} | {r['seconds']:>7.2f} | "
                f"{r['customers_per_s']:>11,.0f} | "
                + (f"{ratio:>10.2f}x" if ratio is not None else f"{'-':>11}")
                + f" | {r['scoring_peak_mb']:>15.0f} | {r['peak_rss_mb']:>11.0f}"
            )
    print("(vs implicit: against the faster implicit row of the same size)")

    print("\n## lists")
    for n_c in args.customers:
        try:
            ours = np.load(_sample_path(args, "recnb", n_c))
        except FileNotFoundError:
            continue
        exact_idx, exact_val = exact_lists(n_c, ours["sample"], args)
        print(
            f"{n_c:,} customers, {len(ours['sample'])} sampled: recnb = exact full sort "
            f"(indices): {np.array_equal(ours['idx'], exact_idx)}; scores equal: "
            f"{np.array_equal(ours['val'], exact_val.astype(np.float32))}"
        )
        for other in ("recnb-1thread", "baseline"):
            try:
                o = np.load(_sample_path(args, other, n_c))
            except FileNotFoundError:
                continue
            same = np.array_equal(o["idx"], ours["idx"]) and np.array_equal(o["val"], ours["val"])
            print(f"  recnb vs {other}: identical indices and scores: {same}")
        for other in ("implicit", "implicit-blas1"):
            try:
                o = np.load(_sample_path(args, other, n_c))
            except FileNotFoundError:
                continue
            sets = np.mean([set(a) == set(b) for a, b in zip(o["idx"], ours["idx"], strict=True)])
            print(f"  recnb vs {other}: same top-{args.k} sets for {sets:.1%} of the sample")
    load = os.getloadavg()
    print(f"load after: {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")


if __name__ == "__main__":
    main()
