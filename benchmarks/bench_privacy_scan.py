"""Benchmark: the run-folder privacy scan on real run folders — findings on a clean run, planted leaks
found, and time beside a peer that only reads the same files.

For each ``params.yaml:run_folder`` pair (the folder written by ``python -m recnb run params.yaml``):

1. the source's raw data is read again (as the runner's privacy check does) and timed;
2. **peer**: every file the scan reads is only read (Parquet into pandas, text decoded, ``.npz``
   opened), no matching: the floor of any scan that reads everything;
3. **scan**: :func:`recnb.privacy.check_run_folder` without moving anything; its findings on the
   clean folder are counted (they must be 0);
4. a copy of the folder gets one planted leak of each kind (a raw id in a ``customer`` column, in a
   ``visitorid`` column, inside a sentence of the HTML report, in a notebook output, in the Markdown
   summary, a phone number in a product description) and the scan's findings on it are counted.

Timings are the median of ``--repeat`` runs. The machine is shared: the load average is printed.

Usage::

    RECNB_DATA_DIR=... RECNB_PSEUDONYM_KEY=... python benchmarks/bench_privacy_scan.py \\
        params/ml_latest_small.yaml:reports/ml_latest_small params/online_retail.yaml:reports/online_retail
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb import privacy
from recnb.workflow.params import load_params
from recnb.workflow.run_data import load_raw


def read_only(root: Path) -> int:
    """The peer: read every file as the scan would, match nothing; return the number of files read."""
    n = 0
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            pd.read_parquet(p)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    z[k]
        elif b"\0" not in p.read_bytes()[:8192]:
            p.read_text(encoding="utf-8", errors="replace")
        else:
            continue
        n += 1
    return n


def plant(run: Path, raw_ids: list[str]) -> list[str]:
    """One leak of each kind in a copy of a run folder; return the files planted."""
    a, b, c = raw_ids[0], raw_ids[len(raw_ids) // 2], raw_ids[-1]
    res = run / "results"
    res.mkdir(exist_ok=True)
    pd.DataFrame({"customer": [a, b], "n": [3, 2]}).to_parquet(res / "planted_customer.parquet")
    pd.DataFrame({"visitorid": [int(c) if c.isdigit() else c], "events": [5]}).to_csv(
        res / "planted_visitorid.csv", index=False
    )
    html = next(iter(sorted(run.glob("0*.html"))))
    html.write_text(
        html.read_text().replace("</body>", f"<p>Our best customer was {b}, in May.</p></body>")
    )
    nb_path = next(iter(sorted(run.glob("0*.ipynb"))))
    nb = json.loads(nb_path.read_text())
    nb["cells"][-1].setdefault("outputs", []).append(
        {"output_type": "stream", "name": "stdout", "text": [f"most active: user {a}\n"]}
    )
    nb_path.write_text(json.dumps(nb))
    md = run / "summaries" / "planted.md"
    md.parent.mkdir(exist_ok=True)
    md.write_text(f"The top buyer: {c}.")
    products = run / "results" / "planted_products.parquet"
    pd.DataFrame({"description": ["call +44 20 7946 0958"]}).to_parquet(products)
    return sorted(
        str(p.relative_to(run))
        for p in (
            res / "planted_customer.parquet",
            res / "planted_visitorid.csv",
            html,
            nb_path,
            md,
            products,
        )
    )


def median_time(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pairs", nargs="+", help="params.yaml:run_folder")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for pair in args.pairs:
        params, _, folder = pair.partition(":")
        run = Path(folder)
        t0 = time.perf_counter()
        raw = load_raw(load_params(params))
        t_load = time.perf_counter() - t0
        forbidden = privacy.forbidden_from_raw(raw)
        other = privacy.other_ids_from_raw(raw)
        t_peer, n_read = median_time(lambda run=run: read_only(run), args.repeat)
        t_scan, result = median_time(
            lambda run=run, f=forbidden, o=other: privacy.check_run_folder(
                run, f, other_ids=o, move=False
            ),
            args.repeat,
        )
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / run.name
            shutil.copytree(run, copy)
            planted = plant(copy, sorted(forbidden["customer id"], key=lambda s: (len(s), s)))
            found = privacy.check_run_folder(copy, forbidden, other_ids=other, move=False)
            hit = sorted({f["file"] for f in found["findings"]})
        ids = result["id_matching"]["customer id"]
        rows.append(
            {
                "run": run.name,
                "files": result["files_scanned"],
                "read": n_read,
                "ids": ids["ids"],
                "distinctive": ids["distinctive"],
                "clean findings": len(result["findings"]),
                "planted found": f"{len(set(hit) & set(planted))}/{len(planted)}",
                "extra findings": len(set(hit) - set(planted)),
                "raw load s": round(t_load, 2),
                "peer read s": round(t_peer, 2),
                "scan s": round(t_scan, 2),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    print(
        f"load average: {os.getloadavg()}  cores: {os.cpu_count()}  python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
