"""Speed of the model layer: fit and recommend time per model.

Every registered model is fitted on a synthetic long-tailed matrix (default 20k customers x 5k
products, about 20 interactions per customer, timestamps and sparse product features) and asked for
top-10 lists for every customer. Each model runs in its own process, so the peak memory column is
that model's alone (``ru_maxrss`` of the child, includes the data).

Top-k scoring throughput beside ``implicit`` (100k customers x 20k products x 64 factors) is
``benchmarks/bench_topk.py``.

Usage::

    .venv/bin/python benchmarks/bench_models.py
    .venv/bin/python benchmarks/bench_models.py --models item_knn ease

Numbers depend on the machine and on what else runs on it; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# per-model settings for the benchmark: library defaults, all cores where the model has threads,
# fewer epochs for the neural model (its default 50 epochs would dominate the run)
BENCH_PARAMS: dict[str, dict] = {
    "mult_vae": {"epochs": 10},
}


def synthetic(n_customers: int, n_products: int, per_customer: float, seed: int):
    """A long-tailed implicit-feedback Interactions with timestamps and product features."""
    from recnb.data.interactions import Interactions

    rng = np.random.default_rng(seed)
    activity = np.maximum(1, rng.lognormal(np.log(per_customer) - 0.5, 1.0, n_customers)).astype(
        int
    )
    activity = np.minimum(activity, n_products // 2)
    pop = 1.0 / np.arange(1, n_products + 1) ** 0.9  # Zipf-like product popularity
    pop = pop[rng.permutation(n_products)]
    pop /= pop.sum()
    rows = np.repeat(np.arange(n_customers), activity)
    cols = rng.choice(n_products, size=len(rows), p=pop)
    vals = rng.integers(1, 4, len(rows)).astype(np.float32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_customers, n_products))
    m.sum_duplicates()
    t0 = 1.7e9
    ts = m.copy()
    ts.data = t0 + rng.uniform(0, 90 * 86400.0, ts.nnz)
    n_terms = 300
    pf = sp.random(
        n_products, n_terms, density=8 / n_terms, random_state=seed, format="csr", dtype=np.float32
    )
    pf.data[:] = 1.0
    return Interactions(
        matrix=m,
        customer_ids=[f"c{i}" for i in range(n_customers)],
        product_ids=[f"p{j}" for j in range(n_products)],
        product_features=pf,
        product_feature_names=[f"term:t{j}" for j in range(n_terms)],
        timestamps=ts.astype(np.float64),
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _threads(args: argparse.Namespace) -> int:
    return args.threads if args.threads > 0 else (os.cpu_count() or 1)


def run_one_model(name: str, args: argparse.Namespace) -> dict:
    """Fit + recommend one model (runs in a child process)."""
    import inspect

    from recnb.models import REGISTRY, make_model

    inter = synthetic(args.customers, args.products, args.per_customer, args.seed)
    params = {"random_state": args.seed, **BENCH_PARAMS.get(name, {})}
    if "num_threads" in inspect.signature(REGISTRY[name].__init__).parameters:
        params["num_threads"] = _threads(args)
    model = make_model(name, **params)
    t = time.perf_counter()
    model.fit(inter)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    idx, _ = model.recommend_indices(np.arange(inter.n_customers), k=args.k)
    rec_s = time.perf_counter() - t
    return {
        "model": name,
        "fit_s": fit_s,
        "recommend_s": rec_s,
        "customers_per_s": inter.n_customers / rec_s,
        "peak_rss_mb": _peak_rss_mb(),
        "nnz": inter.nnz,
        "filled": float((idx >= 0).mean()),
    }


def _child(kind: str, target: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, target, *args.passthrough]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"model": target, "error": f"timeout {args.timeout}s"}
    if out.returncode != 0:
        msg = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"model": target, "error": msg[:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    head = " | ".join(h for _, h, _ in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']} | error: {r['error']}")
            continue
        lines.append(" | ".join(format(r[key], fmt) for key, _, fmt in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="*", default=None, help="registered names (default: all)")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--products", type=int, default=5_000)
    p.add_argument("--per-customer", type=float, default=20.0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="library threads (0 = all cores)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--child" in raw:
        i = raw.index("--child")
        raw = raw[:i] + raw[i + 3 :]
    args.passthrough = raw

    if args.child:
        kind, target = args.child
        print(json.dumps(run_one_model(target, args)))
        return

    print(
        f"# bench_models  cores={os.cpu_count()}  load={os.getloadavg()[0]:.1f}  threads={_threads(args)}"
    )
    from recnb.models import REGISTRY

    names = args.models or sorted(REGISTRY)
    print(
        f"\n## fit + recommend (k={args.k}): {args.customers} customers x {args.products} "
        f"products, ~{args.per_customer:g} interactions per customer"
    )
    rows = [_child("fit", n, args) for n in names]
    print(
        _table(
            rows,
            [
                ("model", "model", "<12"),
                ("fit_s", "fit s", ">8.2f"),
                ("recommend_s", "recommend s", ">11.2f"),
                ("customers_per_s", "customers/s", ">11.0f"),
                ("peak_rss_mb", "peak RSS MB", ">11.0f"),
            ],
        )
    )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
