"""Scaling of the Spark engine beside the in-memory path: 1M to 50M synthetic events on local[2].

For each size one fresh process per engine runs the same pipeline on the same events:

1. preprocessing: event weights, temporal split (14 test days, 7 validation days), k-core 2/2 on
   each training part, aggregation into the four parts (in memory: :func:`recnb.prep.split.build_split`
   with minimal customer / product tables and no TF-IDF; on Spark:
   :func:`recnb.backends.spark.prep.spark_build_split` reading the Parquet files);
2. ALS (32 factors, 10 iterations): ``implicit`` on 2 threads / MLlib ALS;
3. top-10 lists with seen-item exclusion for every test customer with training history;
4. nDCG, precision, recall and MAP at 10 (in memory: :mod:`recnb.metrics`; Spark:
   :mod:`recnb.backends.spark.metrics`), written as Parquet.

Memory is sampled every 0.25 s with psutil: the Python driver's RSS and, for Spark, the JVM
(``java`` child processes: driver and executors share one JVM in local mode) and the Python
workers the JVM starts for pandas UDFs. The peak of each, and of their sum, is printed, and so are
the CPU seconds of the whole process tree: on a shared machine the wall time measures the load as
much as the work (a ``nice -n 10`` run at a load of 15 on 2 cores gets a small share of a core),
the CPU seconds much less so.

Why a 1M-event Spark run once took more than 1500 s (diagnosed with Spark's event log at 200k and
1M events): (1) CPU starvation: at a load of ~14 the split's tasks ran 288 s for 24 s of JVM CPU;
(2) pandas UDFs (Python workers) for the event weights and the confidence, about five times slower
than the native expressions now used (``recnb.backends.spark.prep``); (3) about 120 small Spark jobs
per split (a checkpoint per step), a fixed cost of a few tens of seconds that dominates below a
few million events. The shuffle partitions were not the cause (recnb's sessions use 8, not
Spark's 200; this benchmark max(8, events / 2M)), nor the generator (vectorised, Parquet written
in 5M-row chunks that Spark reads).

The events come from a simple vectorised generator with the recnb events schema (not the synthetic
shop, whose session simulation would take hours for 50M events): 50 taste clusters, Zipf product
popularity inside each cluster, lognormal customer activity, 90 days, the shop's event-type mix and
dwell times. About 50 events per customer and 1 product per 400 events.

Usage::

    python benchmarks/bench_spark.py --sizes 1e6 2e6 5e6 10e6 20e6 50e6
    python benchmarks/bench_spark.py --quality   # Spark ALS vs implicit ALS, nDCG@10 with CIs

Each (engine, size) runs with a time limit (``--timeout`` seconds); a run that does not finish is
reported as such; ``--results rows.jsonl`` appends each row as it completes, and
``--no-start-after HH:MM`` (UTC) starts no further run after that time. The machine is shared: the
load average before and after every run is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EVENT_TYPES = ("view", "click", "add_to_cart", "wishlist", "purchase")
EVENT_P = (0.70, 0.15, 0.07, 0.03, 0.05)
N_DAYS = 90
CHUNK = 5_000_000
GIB = 1024**3


# ----------------------------------------------------------------------------------------------
# the generator
# ----------------------------------------------------------------------------------------------


def sizes_for(n_events: int) -> tuple[int, int]:
    """Customers and products for ``n_events`` events (~50 events per customer, 400 per product)."""
    return max(1000, n_events // 50), max(500, n_events // 400)


def generate(n_events: int, seed: int = 0):
    """Yield chunks of events: int64 customer and product codes, ts (ns), event code, dwell."""
    rng = np.random.default_rng(seed)
    n_c, n_p = sizes_for(n_events)
    n_clusters = 50
    c_cluster = rng.integers(0, n_clusters, n_c)
    activity = rng.lognormal(0.0, 1.0, n_c)
    c_cdf = np.cumsum(activity / activity.sum())
    p_cluster = rng.integers(0, n_clusters, n_p)
    pop = 1.0 / (np.arange(1, n_p + 1) ** 0.9)
    rng.shuffle(pop)
    order = np.argsort(p_cluster, kind="stable")
    bounds = np.searchsorted(p_cluster[order], np.arange(n_clusters + 1))
    in_cluster_cdf = np.empty(n_p)
    for g in range(n_clusters):
        members = order[bounds[g] : bounds[g + 1]]
        w = pop[members]
        in_cluster_cdf[bounds[g] : bounds[g + 1]] = np.cumsum(w / w.sum())
    glob_cdf = np.cumsum(pop / pop.sum())
    start = np.datetime64("2024-01-01T00:00:00", "ns").astype(np.int64)
    span = N_DAYS * 86_400 * 10**9
    done = 0
    while done < n_events:
        m = min(CHUNK, n_events - done)
        c = np.minimum(np.searchsorted(c_cdf, rng.random(m)), n_c - 1)
        own = rng.random(m) < 0.7
        g = c_cluster[c]
        lo, hi = bounds[g], bounds[g + 1]
        u = rng.random(m)
        # inverse CDF inside the cluster: search the cluster's slice of the cumulative weights
        pos = np.empty(m, dtype=np.int64)
        for gg in np.unique(g[own]):
            sel = own & (g == gg)
            a, b = bounds[gg], bounds[gg + 1]
            pos[sel] = a + np.minimum(np.searchsorted(in_cluster_cdf[a:b], u[sel]), b - a - 1)
        p = np.where(own, order[np.clip(pos, lo, np.maximum(hi - 1, lo))], 0)
        p[~own] = np.minimum(np.searchsorted(glob_cdf, u[~own]), n_p - 1)
        ts = start + np.sort(rng.integers(0, span, m))
        ev = rng.choice(len(EVENT_TYPES), m, p=EVENT_P).astype(np.int8)
        dwell = rng.lognormal(3.0, 1.0, m)
        yield c.astype(np.int64), p.astype(np.int64), ts, ev, dwell
        done += m


def write_parquet(n_events: int, folder: Path, seed: int = 0) -> None:
    """The events as Parquet files (ids as int64; the Spark reader casts them to strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    row = 0
    for i, (c, p, ts, ev, dwell) in enumerate(generate(n_events, seed)):
        table = pa.table(
            {
                "event_row": np.arange(row, row + len(c), dtype=np.int64),
                "customer_id": c,
                "product_id": p,
                "ts": ts,
                "event": pa.DictionaryArray.from_arrays(
                    pa.array(ev, pa.int8()), pa.array(list(EVENT_TYPES))
                ).cast(pa.string()),
                "dwell_seconds": dwell,
            }
        )
        pq.write_table(table, folder / f"part-{i:04d}.parquet")
        row += len(c)


def in_memory_dataset(n_events: int, seed: int = 0):
    """The same events as a recnb Dataset (categorical ids, minimal customer / product tables)."""
    from recnb.data.schema import EVENT_TYPES as ALL_TYPES
    from recnb.data.schema import Dataset

    n_c, n_p = sizes_for(n_events)
    cs, ps, tss, evs, dws = [], [], [], [], []
    for c, p, ts, ev, dwell in generate(n_events, seed):
        cs.append(c.astype(np.int32))
        ps.append(p.astype(np.int32))
        tss.append(ts)
        evs.append(ev)
        dws.append(dwell.astype(np.float64))
    cust_ids = np.array([str(i) for i in range(n_c)], dtype=object)
    prod_ids = np.array([str(i) for i in range(n_p)], dtype=object)
    ev_codes = np.array([ALL_TYPES.index(t) for t in EVENT_TYPES], dtype=np.int8)
    events = pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(np.concatenate(cs), categories=cust_ids),
            "product_id": pd.Categorical.from_codes(np.concatenate(ps), categories=prod_ids),
            "timestamp": np.concatenate(tss).astype("datetime64[ns]"),
            "event": pd.Categorical.from_codes(
                ev_codes[np.concatenate(evs)], categories=list(ALL_TYPES)
            ),
            "dwell_seconds": np.concatenate(dws),
        }
    )
    del cs, ps, tss, evs, dws
    customers = pd.DataFrame({"customer_id": cust_ids})
    products = pd.DataFrame(
        {"product_id": prod_ids, "category": "c/x", "price": np.ones(n_p, dtype=np.float64)}
    )
    return Dataset("bench", customers, products, events)


# ----------------------------------------------------------------------------------------------
# memory sampling
# ----------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS of this process, its java children and the JVM's Python workers."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak = {"driver_python": 0, "jvm": 0, "python_workers": 0, "total": 0}
        # CPU seconds (user + system) of every process of the tree, last value seen per pid: on a
        # shared machine the wall time measures the load as much as the work; CPU time does not
        self.cpu: dict[int, tuple[str, float]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> None:
        import psutil

        mine = jvm = workers = 0
        try:
            mine = self.proc.memory_info().rss
            t = self.proc.cpu_times()
            self.cpu[self.proc.pid] = ("driver_python", t.user + t.system)
            for ch in self.proc.children(recursive=True):
                try:
                    name = ch.name()
                    rss = ch.memory_info().rss
                    t = ch.cpu_times()
                except psutil.Error:
                    continue
                kind = "jvm" if "java" in name else "python_workers"
                self.cpu[ch.pid] = (kind, t.user + t.system)
                if "java" in name:
                    jvm += rss
                elif "python" in name:
                    workers += rss
        except psutil.Error:
            return
        for key, v in (("driver_python", mine), ("jvm", jvm), ("python_workers", workers)):
            self.peak[key] = max(self.peak[key], v)
        self.peak["total"] = max(self.peak["total"], mine + jvm + workers)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        self.sample()
        return {k: v / GIB for k, v in self.peak.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds per kind of process and in total (sampled; exited workers count up to
        their last sample)."""
        out = {"driver_python": 0.0, "jvm": 0.0, "python_workers": 0.0}
        for kind, sec in self.cpu.values():
            out[kind] += sec
        out["total"] = sum(out.values())
        return out


# ----------------------------------------------------------------------------------------------
# the two pipelines
# ----------------------------------------------------------------------------------------------

#: the split of both paths (the bot filter off: the synthetic events have no bots)
SPLIT = dict(
    split_kind="temporal",
    test_days=14,
    valid_days=7,
    min_customer_interactions=2,
    min_product_interactions=2,
    bot_max_events_per_day=0,
    tfidf_max_features=0,
)
ALS = dict(factors=32, iterations=10)
K = 10


def run_memory(n_events: int, out: Path) -> dict:
    from threadpoolctl import threadpool_limits

    from recnb.data.io import write_parquet as wp
    from recnb.metrics import ranking_metrics
    from recnb.models.implicit_models import ImplicitALS
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    times = {}
    t = time.perf_counter()
    ds = in_memory_dataset(n_events)
    times["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    res = sl.build_split(ds, PrepSettings(**SPLIT))
    times["prep"] = time.perf_counter() - t
    train, test = res.parts["train"], res.parts["test"]
    del ds, res
    t = time.perf_counter()
    with threadpool_limits(1, "blas"):
        model = ImplicitALS(**ALS, num_threads=2, random_state=0).fit(train)
    times["als"] = time.perf_counter() - t
    t = time.perf_counter()
    users = np.flatnonzero((np.diff(test.matrix.indptr) > 0) & model.has_history_)
    idx, _ = model.recommend_indices(users, k=K)
    times["topk"] = time.perf_counter() - t
    t = time.perf_counter()
    frame = ranking_metrics(
        idx,
        test.matrix[users],
        ks=(K,),
        metrics=["ndcg", "precision", "recall", "map_min"],
        customers=users,
    )
    wp(out / "metrics_per_customer.parquet", frame)
    times["metrics"] = time.perf_counter() - t
    ndcg = float(frame.loc[frame["metric"] == "ndcg", "value"].mean())
    return {"times": times, "ndcg@10": ndcg, "test_customers": len(users)}


def run_spark(n_events: int, out: Path, data: Path) -> dict:
    from pyspark.sql import functions as F

    from recnb.backends.spark import als as sals
    from recnb.backends.spark import metrics as SM
    from recnb.backends.spark import prep
    from recnb.backends.spark.session import spark_session
    from recnb.prep.settings import PrepSettings

    times = {}
    t = time.perf_counter()
    if not (data / "_done").exists():
        write_parquet(n_events, data)
        (data / "_done").write_text("ok")
    times["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    spark = spark_session(
        master="local[2]",
        conf={
            "spark.driver.memory": os.environ.get("BENCH_SPARK_MEMORY", "8g"),
            "spark.sql.shuffle.partitions": str(max(8, n_events // 2_000_000)),
            "spark.local.dir": str(out / "spark-tmp"),
        },
    )
    spark.sparkContext.setCheckpointDir(str(out / "checkpoints"))
    times["session"] = time.perf_counter() - t
    t = time.perf_counter()
    events = prep.read_events(spark, data)
    res = prep.spark_build_split(events, PrepSettings(**SPLIT))
    train, test = res.pairs["train"], res.pairs["test"]
    res.write(out / "split")
    times["prep"] = time.perf_counter() - t
    t = time.perf_counter()
    ratings = train.select(
        F.col("c").cast("int").alias("customer"),
        F.col("p").cast("int").alias("product"),
        F.col("value").cast("float").alias("rating"),
    )
    model = sals.fit_als(ratings, **ALS, seed=0, num_blocks=4)
    uf = sals.factors_frame(model, "user").cache()
    itf = sals.factors_frame(model, "item")
    uf.count()
    times["als"] = time.perf_counter() - t
    t = time.perf_counter()
    seen = train.select(F.col("c").alias("customer"), F.col("p").alias("product"))
    test_users = test.select(F.col("c").alias("customer")).distinct()
    served = test_users.join(uf.select("customer"), "customer", "left_semi")
    recs = sals.spark_recommend_topk(
        uf, itf, K, n_products=res.shape[1], seen=seen, customers=served
    )
    recs.write.mode("overwrite").parquet(str(out / "recs.parquet"))
    recs = spark.read.parquet(str(out / "recs.parquet"))
    times["topk"] = time.perf_counter() - t
    t = time.perf_counter()
    truth = test.join(served.withColumnRenamed("customer", "c"), "c", "left_semi").select(
        F.col("c").alias("customer"), F.col("p").alias("product"), F.lit(1.0).alias("grade")
    )
    frame = SM.spark_ranking_metrics(
        recs, truth, ks=(K,), metrics=["ndcg", "precision", "recall", "map_min"]
    )
    frame.write.mode("overwrite").parquet(str(out / "metrics_per_customer.parquet"))
    per = spark.read.parquet(str(out / "metrics_per_customer.parquet"))
    ndcg = per.filter(F.col("metric") == "ndcg").agg(F.avg("value")).first()[0]
    n_users = per.select("customer").distinct().count()
    times["metrics"] = time.perf_counter() - t
    spark.stop()
    return {"times": times, "ndcg@10": float(ndcg), "test_customers": int(n_users)}


def worker(engine: str, n_events: int, out: Path, data: Path) -> None:
    sampler = Sampler()
    sampler.start()
    t = time.perf_counter()
    result = run_memory(n_events, out) if engine == "memory" else run_spark(n_events, out, data)
    result["wall"] = time.perf_counter() - t
    result["peak_gib"] = sampler.stop()
    result["cpu_s"] = sampler.cpu_seconds()
    result["load"] = os.getloadavg()
    print("RESULT " + json.dumps(result))


# ----------------------------------------------------------------------------------------------
# the table
# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e6, 2e6, 5e6, 10e6, 20e6, 50e6])
    ap.add_argument("--engines", nargs="+", default=["memory", "spark"])
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--workdir", default=None, help="folder for data and outputs (default: tmp)")
    ap.add_argument("--results", default=None, help="append each row as JSON to this file")
    ap.add_argument(
        "--max-memory-events",
        type=float,
        default=float("inf"),
        help="skip the in-memory run above this many events (extrapolated instead)",
    )
    ap.add_argument(
        "--no-start-after",
        default=None,
        metavar="HH:MM",
        help="start no further run after this UTC time (the rows so far are kept)",
    )
    ap.add_argument(
        "--worker", nargs=4, metavar=("ENGINE", "N", "OUT", "DATA"), help=argparse.SUPPRESS
    )
    ap.add_argument("--quality", action="store_true", help="Spark ALS vs implicit ALS quality")
    args = ap.parse_args()
    if args.worker:
        engine, n, out, data = args.worker
        worker(engine, int(float(n)), Path(out), Path(data))
        return
    if args.quality:
        quality()
        return
    base = Path(args.workdir or tempfile.mkdtemp(prefix="bench_spark_"))
    rows = []
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
    for n in [int(s) for s in args.sizes]:
        for engine in args.engines:
            if engine == "memory" and n > args.max_memory_events:
                continue
            if args.no_start_after and time.strftime("%H:%M", time.gmtime()) >= args.no_start_after:
                print(f"{engine} {n:,}: not started (after {args.no_start_after} UTC)", flush=True)
                continue
            out = base / f"{engine}-{n}"
            out.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                engine,
                str(n),
                str(out),
                str(base / f"data-{n}"),
            ]
            t = time.perf_counter()
            load_before = os.getloadavg()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    tail = (proc.stderr or "").strip().splitlines()[-3:]
                    row = {"engine": engine, "events": n, "status": f"failed: {' | '.join(tail)}"}
                else:
                    row = {
                        "engine": engine,
                        "events": n,
                        "status": "ok",
                        **json.loads(lines[-1][7:]),
                    }
            except subprocess.TimeoutExpired:
                row = {
                    "engine": engine,
                    "events": n,
                    "status": f"timeout after {args.timeout:.0f} s",
                }
            row.setdefault("wall", time.perf_counter() - t)
            row["load_before"], row["load_after"] = load_before, os.getloadavg()
            row["finished_utc"] = time.strftime("%H:%M:%S", time.gmtime())
            rows.append(row)
            if args.results:
                with open(args.results, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            print(_line(row), flush=True)
            for sub in ("spark-tmp", "checkpoints"):
                _rm(out / sub)
        _rm(base / f"data-{n}")
    print()
    print(table(rows))


def _rm(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _line(row: dict) -> str:
    if row.get("status") != "ok":
        return f"{row['engine']:>6} {row['events']:>11,}  {row['status']}"
    t = row["times"]
    p = row["peak_gib"]
    return (
        f"{row['engine']:>6} {row['events']:>11,}  wall {row['wall']:8.1f} s  "
        + " ".join(f"{k} {v:.1f}" for k, v in t.items())
        + f"  peak py {p['driver_python']:.2f} jvm {p['jvm']:.2f} workers {p['python_workers']:.2f}"
        f" total {p['total']:.2f} GiB  cpu {row['cpu_s']['total']:.0f} s  nDCG@10 "
        f"{row['ndcg@10']:.4f}  load {row['load_before'][0]:.1f} -> {row['load_after'][0]:.1f}"
    )


def table(rows: list[dict]) -> str:
    out = [
        "| engine | events | status | prep s | ALS s | top-k s | metrics s | total s (no data gen) "
        "| CPU s (all processes) | peak driver py GiB | peak JVM GiB | peak py workers GiB "
        "| peak total GiB | nDCG@10 | load 1-min before / after |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lb = r.get("load_before", (float("nan"),))[0]
        la = r.get("load_after", (float("nan"),))[0]
        if r.get("status") != "ok":
            out.append(
                f"| {r['engine']} | {r['events']:,} | {r['status']} |"
                + " |" * 11
                + f" {lb:.1f} / {la:.1f} |"
            )
            continue
        t, p = r["times"], r["peak_gib"]
        work = sum(v for k, v in t.items() if k != "generate")
        cpu = r.get("cpu_s", {}).get("total", float("nan"))
        out.append(
            f"| {r['engine']} | {r['events']:,} | ok | {t['prep']:.1f} | {t['als']:.1f} | "
            f"{t['topk']:.1f} | {t['metrics']:.1f} | {work:.1f} | {cpu:.0f} | "
            f"{p['driver_python']:.2f} | {p['jvm']:.2f} | {p['python_workers']:.2f} | "
            f"{p['total']:.2f} | {r['ndcg@10']:.4f} | {lb:.1f} / {la:.1f} |"
        )
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# quality: Spark ALS against implicit ALS on the same split
# ----------------------------------------------------------------------------------------------


def quality(n_customers: int = 17000, n_products: int = 4500, n_days: int = 90) -> None:
    """Both ALS tuned on validation (same grid), refitted on train, nDCG@10 on test, with CIs.

    The data is the default run's synthetic shop and preprocessing (params/default.yaml).
    """
    from recnb import privacy
    from recnb.backends.spark.quality import RELATIVE_TOLERANCE, compare_als
    from recnb.backends.spark.session import spark_session
    from recnb.data import synthetic
    from recnb.data.schema import validate_dataset
    from recnb.prep import cleaning
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    t = time.perf_counter()
    _, raw = synthetic.make_shop(
        n_customers=n_customers, n_products=n_products, n_days=n_days, seed=42
    )
    ds = cleaning.clean(
        validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY)), dedup_window_seconds=10
    )[0]
    res = sl.build_split(ds, PrepSettings(tfidf_max_features=0))
    print(
        f"data: {len(ds.events):,} events, train {res.parts['train'].nnz:,} pairs, "
        f"{time.perf_counter() - t:.0f} s; load {os.getloadavg()}",
        flush=True,
    )
    spark_session(master="local[2]", conf={"spark.driver.memory": "4g"})
    t = time.perf_counter()
    out = compare_als(res.parts, k=10, seed=0)
    print(f"tuning and final fits: {time.perf_counter() - t:.0f} s; load {os.getloadavg()}")
    print("| model | chosen (validation nDCG@10) | test nDCG@10 | 95% CI | customers |")
    print("|---|---|---:|---|---:|")
    for name in ("als", "spark_als"):
        r = out[name]
        ch = r["chosen"]
        best = max(v["ndcg"] for v in r["valid"])
        print(
            f"| {name} | reg {ch['regularization']:g}, alpha {ch['alpha']:g} ({best:.4f}) | "
            f"{r['ndcg']:.4f} | [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {r['customers']:,} |"
        )
    p = out["paired"]
    print(
        f"\nspark_als - als: {p['mean_diff']:+.4f} [{p['diff_ci_low']:+.4f}, {p['diff_ci_high']:+.4f}]"
        f" (paired t p = {p['t_pvalue']:.3g}); relative {out['relative_difference']:+.1%}; "
        f"tolerance +-{RELATIVE_TOLERANCE:.0%}: within = {out['within_tolerance']}, "
        f"equivalent (CI inside the band) = {out['equivalent']}"
    )
    print("validation grid:", json.dumps({n: out[n]["valid"] for n in ("als", "spark_als")}))


if __name__ == "__main__":
    main()
