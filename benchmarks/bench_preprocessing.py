"""Benchmark: preprocessing the default synthetic shop end to end, step by step.

Steps: privacy scrub (+ validation), cleaning, then the phases of :func:`recnb.prep.split.build_split`
(event weights, k-core, split labels, matrices, features incl. TF-IDF and context, assembling the
parts with cold-start flags) and writing the split artefact. The shop is generated first and not
timed as preprocessing (see ``bench_synthetic.py``).

Two passes over the same data: the first measures wall-clock seconds undisturbed; the second measures
each step's peak memory with :mod:`tracemalloc` (NumPy, pandas and SciPy buffers are traced), as the
peak of traced memory during the step above what was allocated when it began. The process's peak
resident memory (``ru_maxrss``) is printed at the end.

Usage::

    python benchmarks/bench_preprocessing.py                  # default shop: 20k x 5k, 90 days
    python benchmarks/bench_preprocessing.py --customers 2000 --products 500 --days 30
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from recnb import privacy
from recnb.data.schema import Dataset, validate_dataset
from recnb.prep import cleaning, split
from recnb.prep.settings import PrepSettings


class StepRecorder:
    """Seconds and (optionally) traced peak memory per named step."""

    def __init__(self, trace_memory: bool) -> None:
        self.trace = trace_memory
        self.rows: list[dict[str, Any]] = []
        self._name: str | None = None
        self._t0 = 0.0
        self._base = 0

    def start(self, name: str) -> None:
        self.stop()
        self._name = name
        if self.trace:
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self._name is None:
            return
        seconds = time.perf_counter() - self._t0
        peak = (tracemalloc.get_traced_memory()[1] - self._base) / 2**20 if self.trace else None
        self.rows.append({"step": self._name, "seconds": seconds, "peak_mib": peak})
        self._name = None


def preprocess(raw: Dataset, rec: StepRecorder, out: Path) -> dict[str, int]:
    """The stage's work, as notebook 02 does it with its default parameters."""
    rec.start("privacy scrub + validate")
    ds = validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY))
    rec.start("clean")
    settings = PrepSettings()  # notebook 02's defaults
    cleaned, _ = cleaning.clean(
        ds, dedup_window_seconds=settings.dedup_window_seconds, returns=settings.returns
    )
    result = split.build_split(cleaned, settings, on_step=lambda name: rec.start(f"split: {name}"))
    rec.start("save split")
    split.save_split(out, result.parts, context=result.context, info=result.info)
    rec.start("leakage checks")
    problems = split.check_split(result.parts)
    rec.stop()
    if problems:
        raise RuntimeError(f"leakage checks failed: {problems}")
    return {
        "events": len(raw.events),
        "events_used": result.info["events_used"],
        "customers": result.info["n_customers"],
        "products": result.info["n_products"],
        "train_pairs": result.parts["train"].nnz,
        "test_pairs": result.parts["test"].nnz,
    }


def run_pass(raw: Dataset, trace: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    rec = StepRecorder(trace)
    with tempfile.TemporaryDirectory() as tmp:
        if trace:
            tracemalloc.start()
        try:
            sizes = preprocess(raw, rec, Path(tmp) / "split")
        finally:
            if trace:
                tracemalloc.stop()
    return pd.DataFrame(rec.rows), sizes


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--products", type=int, default=5_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)

    from recnb.data.synthetic import make_shop

    t0 = time.perf_counter()
    _, raw = make_shop(
        n_customers=args.customers, n_products=args.products, n_days=args.days, seed=args.seed
    )
    echo(f"shop generated in {time.perf_counter() - t0:.1f} s (not part of preprocessing)")
    import sklearn.feature_extraction.text  # noqa: F401  (imported before timing, not in "features")

    timing, sizes = run_pass(raw, trace=False)
    memory, _ = run_pass(raw, trace=True)
    table = timing.merge(memory[["step", "peak_mib"]], on="step", suffixes=("_x", ""))
    table = table[["step", "seconds", "peak_mib"]]
    total = pd.DataFrame(
        [{"step": "total", "seconds": table["seconds"].sum(), "peak_mib": table["peak_mib"].max()}]
    )
    table = pd.concat([table, total], ignore_index=True)
    echo(", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    echo(table.to_markdown(index=False, floatfmt=".2f") if _has_tabulate() else table.to_string())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    echo(f"process peak resident memory (both passes, shop included): {rss:,.0f} MiB")
    return table


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
