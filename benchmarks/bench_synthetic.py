"""Benchmark: how fast the synthetic shop generates, and how much memory it takes.

Each size runs in a fresh Python process, so its peak resident memory (``ru_maxrss``) is its own.
Prints one table row per size: customers, products, days, sessions, events, seconds to build the
world and to generate the (validated) log, peak memory and events per second.

Usage::

    python benchmarks/bench_synthetic.py              # small and default size
    python benchmarks/bench_synthetic.py --large      # also 100k customers, 20k products
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SIZES: dict[str, dict[str, int]] = {
    "small": {"n_customers": 2_000, "n_products": 500, "n_days": 30},
    "default": {"n_customers": 20_000, "n_products": 5_000, "n_days": 90},
    "large": {"n_customers": 100_000, "n_products": 20_000, "n_days": 90},
}


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(size: str, seed: int) -> dict[str, float | int | str]:
    """Build and generate one shop in this process; return its measurements."""
    from recnb.synthetic import ShopConfig, SyntheticShop

    base = _rss_mb()
    config = ShopConfig(**SIZES[size], seed=seed)
    t0 = time.perf_counter()
    shop = SyntheticShop(config)
    t1 = time.perf_counter()
    ds = shop.generate()
    t2 = time.perf_counter()
    return {
        "size": size,
        "customers": len(ds.customers),
        "products": len(ds.products),
        "days": config.n_days,
        "sessions": int(ds.meta["sessions"]),
        "events": len(ds.events),
        "world_s": t1 - t0,
        "generate_s": t2 - t1,
        "total_s": t2 - t0,
        "rss_import_mb": base,
        "rss_peak_mb": _rss_mb(),
        "events_per_s": len(ds.events) / (t2 - t0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also run the large size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", choices=sorted(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.seed)))
        return
    sizes = ["small", "default"] + (["large"] if args.large else [])
    rows = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", size, "--seed", str(args.seed)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        f"{'size':<8} {'customers':>9} {'products':>8} {'days':>4} {'sessions':>8} "
        f"{'events':>9} {'world s':>7} {'gen s':>6} {'total s':>7} {'RSS0 MB':>7} "
        f"{'peak MB':>7} {'events/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['size']:<8} {r['customers']:>9,} {r['products']:>8,} {r['days']:>4} "
            f"{r['sessions']:>8,} {r['events']:>9,} {r['world_s']:>7.2f} {r['generate_s']:>6.2f} "
            f"{r['total_s']:>7.2f} {r['rss_import_mb']:>7.0f} {r['rss_peak_mb']:>7.0f} "
            f"{r['events_per_s']:>9,.0f}"
        )
    print("RSS0 = resident memory after imports; peak = peak resident memory of the whole process.")


if __name__ == "__main__":
    main()
