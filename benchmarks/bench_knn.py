"""kNN similarity: the compiled row-by-row kernel (``top_similar``) beside the dense-block version it
replaced (``top_similar_blocks``), on a run's training part, with a check that both keep the same
neighbours and values.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_knn.py reports/default/split
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_knn.py reports/default/split --part train

The first call of the kernel compiles it (numba, cached on disk afterwards); it is timed apart.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnb.models.knn import top_similar, top_similar_blocks, weight_rows  # noqa: E402
from recnb.prep.split import load_split  # noqa: E402


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path, help="a run's split folder")
    ap.add_argument("--part", default="train_inner")
    ap.add_argument("--neighbors", type=int, default=100)
    ap.add_argument("--shrinkage", type=float, default=10.0)
    args = ap.parse_args(argv)
    x = load_split(args.split, [args.part])[args.part].matrix
    print(f"{args.part}: {x.shape[0]:,} customers x {x.shape[1]:,} products, {x.nnz:,} pairs")
    print(uptime())
    t0 = time.perf_counter()
    top_similar(weight_rows(x[:50], "none"), 5, 0.0)
    print(f"kernel compile (or load from cache): {time.perf_counter() - t0:.1f} s")
    rows = []
    for kind, weighting, mat in [
        ("user_knn", "bm25", x),
        ("user_knn", "none", x),
        ("item_knn", "bm25", x.T.tocsr()),
    ]:
        w = weight_rows(mat, weighting)
        times = {}
        out = {}
        for name, fn in [("blocks (before)", top_similar_blocks), ("kernel (now)", top_similar)]:
            t0 = time.perf_counter()
            out[name] = fn(w, args.neighbors, args.shrinkage)
            times[name] = time.perf_counter() - t0
        a, b = out["blocks (before)"], out["kernel (now)"]
        same = (
            np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data)
        )
        rows.append(
            {
                "similarity": kind,
                "weighting": weighting,
                "rows": w.shape[0],
                "blocks_s": times["blocks (before)"],
                "kernel_s": times["kernel (now)"],
                "speed-up": times["blocks (before)"] / times["kernel (now)"],
                "identical": same,
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(uptime())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
