"""Benchmark: how fast the synthetic shop generates and answers ground-truth queries.

Each measurement runs in a fresh Python process, so its peak resident memory (``ru_maxrss``) is its
own. ``--peer PATH`` runs the same measurements on another checkout of recnb (e.g. an older commit
exported with ``git archive``) in the same session, printed side by side; operations the peer does
not have print ``n/a``. Wall and CPU seconds are both shown: on a shared machine CPU seconds are the
steadier figure. The machine's load (``os.getloadavg``) is printed with the table.

Tables:

1. Generation: customers, products, days, sessions, events of the log, seconds to build the world
   and to generate the validated Dataset, peak memory.
2. Ground truth (on a shop of 2,000 customers and 5,000 products): ``response_probabilities`` for
   10,000 ten-item lists with a full context and without one, ``policy_value`` of a deterministic
   and a Plackett-Luce policy over 10,000 visits x 20 candidates (k = 10), the exact Plackett-Luce
   position marginals of 10,000 pages of 12 and of 1,000 lists of 100 candidates (k = 10), and
   ``impressions()`` of the default log.

Usage::

    python benchmarks/bench_synthetic.py                        # small and default size
    python benchmarks/bench_synthetic.py --large                # also 100k customers, 20k products
    git archive <commit> | tar -x -C /tmp/peer
    python benchmarks/bench_synthetic.py --peer /tmp/peer       # side by side with that commit
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

SIZES: dict[str, dict[str, int]] = {
    "small": {"n_customers": 2_000, "n_products": 500, "n_days": 30},
    "default": {},  # the ShopConfig defaults of the version measured
    "large": {"n_customers": 100_000, "n_products": 20_000, "n_days": 90},
}
QUERIES = (
    "score_10k_lists_context",
    "score_10k_lists_no_context",
    "policy_value_deterministic",
    "policy_value_plackett_luce",
    "pl_marginals_10k_x_12",
    "pl_marginals_1k_x_100_k10",
    "impressions_default",
)


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def run_generate(size: str, seed: int) -> dict[str, float | int | str]:
    """Build and generate one shop in this process; return its measurements."""
    from recnb.data.synthetic import ShopConfig, SyntheticShop

    base = _rss_mb()
    config = ShopConfig(**SIZES[size], seed=seed)
    out: dict = {}
    w_world, c_world = _timed(lambda: out.setdefault("shop", SyntheticShop(config)))
    w_gen, c_gen = _timed(lambda: out.setdefault("ds", out["shop"].generate()))
    ds = out["ds"]
    return {
        "size": size,
        "customers": len(ds.customers),
        "products": len(ds.products),
        "days": config.n_days,
        "sessions": int(ds.meta["sessions"]),
        "events": len(ds.events),
        "world_s": w_world,
        "generate_s": w_gen,
        "generate_cpu_s": c_gen,
        "world_cpu_s": c_world,
        "rss_import_mb": base,
        "rss_peak_mb": _rss_mb(),
    }


def run_query(name: str, seed: int) -> dict[str, float | str]:
    """Time one ground-truth query in this process (best of three where cheap)."""
    import numpy as np

    import recnb.data.synthetic as syn

    if name == "impressions_default":
        if not hasattr(syn.SyntheticShop, "impressions"):
            return {"query": name, "wall_s": float("nan"), "cpu_s": float("nan")}
        shop = syn.SyntheticShop(syn.ShopConfig(seed=seed))
        wall, cpu = _timed(shop.impressions)
        return {"query": name, "wall_s": wall, "cpu_s": cpu}
    rng = np.random.default_rng(seed)
    if name.startswith("pl_marginals"):
        if not hasattr(syn, "plackett_luce_positions"):
            return {"query": name, "wall_s": float("nan"), "cpu_s": float("nan")}
        shape, k = ((10_000, 12), 12) if "10k" in name else ((1_000, 100), 10)
        logits = rng.normal(0.0, 1.5, size=shape)
        syn.plackett_luce_positions(logits[:2], k)  # compile / load the numba kernel first
        wall, cpu = _timed(lambda: syn.plackett_luce_positions(logits, k))
        return {"query": name, "wall_s": wall, "cpu_s": cpu}
    shop = syn.SyntheticShop(syn.ShopConfig(n_customers=2_000, n_products=5_000, seed=seed))
    cust = shop.customers["customer_id"].to_numpy()[:2_000]
    prod = shop.products["product_id"].to_numpy()[:5_000]
    customers = cust[rng.integers(0, len(cust), 10_000)]
    if name.startswith("score"):
        lists = np.array([prod[rng.choice(len(prod), 10, replace=False)] for _ in range(10_000)])
        ctx = None
        if name == "score_10k_lists_context":
            ctx = {"device": "mobile", "hour": 20, "location": shop.regions[0]}
        best_w, best_c = float("inf"), float("inf")
        for _ in range(3 if ctx else 1):
            wall, cpu = _timed(lambda: shop.response_probabilities(customers, lists, ctx, day=5))
            best_w, best_c = min(best_w, wall), min(best_c, cpu)
        return {"query": name, "wall_s": best_w, "cpu_s": best_c}
    if not hasattr(shop, "policy_value"):
        return {"query": name, "wall_s": float("nan"), "cpu_s": float("nan")}
    import pandas as pd

    visits = pd.DataFrame(
        {"customer_id": customers, "day": 5, "device": "mobile", "hour": 20, "location": "north"}
    )
    cand = np.array([prod[rng.choice(len(prod), 20, replace=False)] for _ in range(10_000)])
    scores = rng.normal(size=cand.shape)
    policy = syn.RankingPolicy(
        "plackett_luce" if name.endswith("plackett_luce") else "deterministic", temperature=0.5
    )
    policy.position_probabilities(scores[:2], 10)  # compile / load the numba kernel first
    wall, cpu = _timed(lambda: shop.policy_value(visits, cand, scores, policy, k=10))
    return {"query": name, "wall_s": wall, "cpu_s": cpu}


def _child(path: Path | None, *args: str) -> dict:
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    if path is not None:
        env["PYTHONPATH"] = str(path)
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also run the large size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer", type=Path, help="another recnb checkout to measure alongside")
    parser.add_argument("--one", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--query", choices=QUERIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_generate(args.one, args.seed)))
        return
    if args.query:
        print(json.dumps(run_query(args.query, args.seed)))
        return
    here = Path(__file__).resolve().parents[1]
    versions = [("this", here)] + ([("peer", args.peer.resolve())] if args.peer else [])
    sizes = ["small", "default"] + (["large"] if args.large else [])
    print(f"load average at start: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    header = (
        f"{'version':<7} {'size':<8} {'customers':>9} {'products':>8} {'days':>4} {'sessions':>8} "
        f"{'events':>9} {'world s':>7} {'gen s':>6} {'gen cpu s':>9} {'peak MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        for label, path in versions:
            r = _child(path, "--one", size, "--seed", str(args.seed))
            print(
                f"{label:<7} {r['size']:<8} {r['customers']:>9,} {r['products']:>8,} "
                f"{r['days']:>4} {r['sessions']:>8,} {r['events']:>9,} {r['world_s']:>7.2f} "
                f"{r['generate_s']:>6.2f} {r['generate_cpu_s']:>9.2f} {r['rss_peak_mb']:>7.0f}"
            )
    print()
    header = f"{'query':<30} " + " ".join(
        f"{label + ' wall s':>12} {label + ' cpu s':>11}" for label, _ in versions
    )
    print(header)
    print("-" * len(header))
    for q in QUERIES:
        cells = []
        for _, path in versions:
            r = _child(path, "--query", q, "--seed", str(args.seed))
            cells.append(
                "n/a".rjust(12) + " " + "n/a".rjust(11)
                if r["wall_s"] != r["wall_s"]
                else f"{r['wall_s']:>12.3f} {r['cpu_s']:>11.3f}"
            )
        print(f"{q:<30} " + " ".join(cells))
    print(f"load average at end: {os.getloadavg()[0]:.1f} (1 min)")
    print("peak = peak resident memory of the whole process; n/a = the version lacks the call.")


if __name__ == "__main__":
    main()
