"""Benchmark: the guarded CSV reader of the loaders (:class:`recnb.data.loaders.CsvFile`) against plain
``pandas.read_csv`` on the same files, in the same run.

The guarded reader hands pandas the file in whole lines (holding back the bytes after the last line
break until the end of the file, decompressing gzip itself) so that a file cut short loses only its
broken last line instead of failing with ``EOFError``. This measures what that costs:

- ``ratings.csv`` of ml-latest-small (100,836 lines, plain), and ``online_retail.csv.gz`` (541,909
  lines, gzip), when ``../shared/data`` or ``$RECNB_DATA_DIR`` holds them;
- a generated file of ``--lines`` lines (default 3 million), plain and gzipped, written to a
  temporary folder.

Each reader runs ``--repeat`` times (default 3) per file in this process, alternating; the table
shows the median and the minimum seconds and the ratio of medians. Both read the same columns with
the same dtypes, and the frames are asserted equal. The load average is printed: other work on the
machine slows both readers alike.

Usage::

    .venv/bin/python benchmarks/bench_csv_read.py
    .venv/bin/python benchmarks/bench_csv_read.py --lines 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnb.data.loaders import CsvFile  # noqa: E402


def data_dir() -> Path | None:
    env = os.environ.get("RECNB_DATA_DIR")
    for c in ([Path(env)] if env else []) + [
        Path(__file__).resolve().parents[2] / "shared" / "data"
    ]:
        if c.is_dir():
            return c
    return None


def generated(folder: Path, lines: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "user": rng.integers(1, 200_000, lines),
            "item": rng.integers(1, 50_000, lines),
            "rating": rng.integers(1, 11, lines) / 2,
            "timestamp": rng.integers(1_000_000_000, 1_700_000_000, lines),
        }
    )
    plain = folder / "generated.csv"
    df.to_csv(plain, index=False)
    packed = folder / "generated.csv.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
        dst.write(src.read())
    return plain, packed


def timed(fn) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    cases: list[tuple[str, Path, dict]] = []
    shared = data_dir()
    if shared is not None:
        r = shared / "ml-latest-small" / "ratings.csv"
        if r.is_file():
            dtype = {
                "userId": "int64",
                "movieId": "int64",
                "rating": "float64",
                "timestamp": "int64",
            }
            cases.append(("ml-latest-small ratings.csv", r, {"dtype": dtype}))
        o = shared / "online-retail" / "online_retail.csv.gz"
        if o.is_file():
            text = ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country", "InvoiceDate")
            kw = {"dtype": dict.fromkeys(text, str), "keep_default_na": False, "na_values": [""]}
            cases.append(("online_retail.csv.gz", o, kw))
    with tempfile.TemporaryDirectory() as tmp:
        plain, packed = generated(Path(tmp), args.lines)
        dtype = {"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"}
        cases.append((f"generated {args.lines:,} lines .csv", plain, {"dtype": dtype}))
        cases.append((f"generated {args.lines:,} lines .csv.gz", packed, {"dtype": dtype}))

        rows = []
        for name, file, kw in cases:
            times: dict[str, list[float]] = {"pandas.read_csv": [], "CsvFile.read": []}
            for _ in range(args.repeat):
                t, ref = timed(lambda f=file, k=kw: pd.read_csv(f, **k))
                times["pandas.read_csv"].append(t)
                t, got = timed(lambda f=file, k=kw: CsvFile(f, **k).read())
                times["CsvFile.read"].append(t)
                pd.testing.assert_frame_equal(got, ref)
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append(
                {
                    "file": name,
                    "lines": len(ref),
                    "size MB": round(file.stat().st_size / 1e6, 1),
                    "pandas median s": round(med["pandas.read_csv"], 3),
                    "pandas min s": round(min(times["pandas.read_csv"]), 3),
                    "CsvFile median s": round(med["CsvFile.read"], 3),
                    "CsvFile min s": round(min(times["CsvFile.read"]), 3),
                    "CsvFile / pandas": round(med["CsvFile.read"] / med["pandas.read_csv"], 2),
                }
            )
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} cores"
    )
    table = pd.DataFrame(rows)
    try:
        print(table.to_markdown(index=False))
    except ImportError:  # tabulate is not a dependency
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
