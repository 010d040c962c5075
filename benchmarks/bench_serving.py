"""Serving latency and throughput: the HTTP service beside the raw model call, on loopback.

What runs:

- the **raw model**: the exported model's own ``recommend_indices`` on the same customers, batched
  (all customers in one call, as the evaluation scores them) and one customer per call; and the
  **service core** (``RecommendationService.recommend``, no HTTP) one customer per call;
- the **service**: ``python -m recnb.serving <run>`` (uvicorn, one process) in a subprocess, driven
  by a bounded load generator in this process (asyncio, keep-alive HTTP/1.1 connections on
  loopback; fixed request counts and a time cap per level, so it stops by itself):

  - *closed loop* at several concurrency levels: each connection sends its next request when the
    previous answer arrived; throughput and latency percentiles;
  - *open loop* at a fixed rate (default 200 requests/s): requests are sent on a schedule whatever
    the answers do, and latency is measured from the scheduled time (no coordinated omission);

  in both, 10% of the requests are malformed (k out of range, unknown parameter, malformed id,
  unknown context, bad JSON body...): they must all get a 4xx, and no request a 5xx;
- both with one service process and with two (``serve --workers 2``: each follows the shared store
  and the export; the machine has 2 cores, which the load generator shares);
- **event intake**: ``POST /events`` at a fixed concurrency with the store at ``synchronous=FULL``
  and at ``NORMAL`` (see :mod:`recnb.serving.store` for the choice).

Server CPU: the server process's CPU milliseconds per request (psutil), a cost that does not
depend on how long it waited for a core. Memory: its resident set after start and after the load. The machine's load
average is printed before and after, beside every figure: the machine is shared, figures move with
what else runs; compare rows of one run.

The figures are written to ``<run>/results/serving/benchmark.json`` and rendered as
``<run>/serving.html`` (:func:`recnb.serving.report.write_report`).

Usage::

    .venv/bin/python benchmarks/bench_serving.py --run reports/default
    .venv/bin/python benchmarks/bench_serving.py --run reports/ci --quick
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MALFORMED_SHARE = 0.10


# -- the raw model ---------------------------------------------------------------------------------
def raw_model(export_dir: Path, customers: list[str], k: int, repeats: int) -> dict:
    """Customers/s of the model's batched call, and per-call latency of single calls (model and
    service core)."""
    from recnb.serving.service import RecommendationService

    svc = RecommendationService(export_dir)
    model = svc.current.model
    cidx = model.customer_indices(customers)
    model.recommend_indices(cidx[:10], k=k)  # warm caches (transposes, imports)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        model.recommend_indices(cidx, k=k)
        best = min(best, time.perf_counter() - t)
    single = []
    for c in cidx:
        t = time.perf_counter()
        model.recommend_indices(np.array([c]), k=k)
        single.append(time.perf_counter() - t)
    core = []
    for c in customers:
        t = time.perf_counter()
        svc.recommend(c, k)
        core.append(time.perf_counter() - t)
    return {
        "customers": len(customers),
        "batched_customers_per_s": len(customers) / best,
        "single": _latency(np.asarray(single), sum(single)),
        "service_core": _latency(np.asarray(core), sum(core)),
    }


def _latency(seconds: np.ndarray, wall: float) -> dict:
    ms = seconds * 1000.0
    return {
        "n": int(len(ms)),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "per_s": float(len(ms) / wall) if wall > 0 else float("nan"),
    }


# -- the load generator ----------------------------------------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection (loopback, answers with Content-Length)."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.port = port
        self.reader: asyncio.StreamReader = reader
        self.writer: asyncio.StreamWriter | None = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(port, r, w)

    async def request(self, raw: bytes) -> int:
        if self.writer is None:  # the server closed the connection after the last answer
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line[15:])
            elif low.startswith(b"connection:") and b"close" in low:
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def _post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def request_mix(
    customers: list[str], products: list[str], n: int, seed: int
) -> list[tuple[bytes, bool]]:
    """``n`` requests: 90% valid recommendation requests (5% of them for unknown customers, who
    get the fallback), 10% malformed. Returns (raw request, is malformed)."""
    rng = np.random.default_rng(seed)
    good = customers
    bad_kinds = [
        lambda c: _get(f"/recommendations/{c}?k=0"),
        lambda c: _get(f"/recommendations/{c}?k=1000"),
        lambda c: _get(f"/recommendations/{c}?kk=3"),
        lambda c: _get(f"/recommendations/{c[:-1]}Z"),
        lambda c: _get(f"/recommendations/{c}?device=smart-fridge"),
        lambda c: _get(f"/recommendations/{c}?hour=25"),
        lambda c: _get(f"/explain/{c}/NO-SUCH-PRODUCT"),
        lambda c: _post("/events", b'{"customer_id": "' + c.encode() + b'", "event": "view"'),
        lambda c: _post(
            "/events",
            json.dumps({"customer_id": c, "product_id": products[0], "event": "like"}).encode(),
        ),
        lambda c: _post("/events", b"x" * 20000),
    ]
    out = []
    for _ in range(n):
        c = good[int(rng.integers(len(good)))]
        if rng.random() < MALFORMED_SHARE:
            out.append((bad_kinds[int(rng.integers(len(bad_kinds)))](c), True))
        elif rng.random() < 0.05:
            out.append((_get(f"/recommendations/{rng.bytes(8).hex()}?k=10"), False))
        else:
            out.append((_get(f"/recommendations/{c}?k=10"), False))
    return out


def _classes(statuses: list[int], malformed: list[bool]) -> dict:
    s = np.asarray(statuses)
    m = np.asarray(malformed)
    return {
        "2xx": int(((s >= 200) & (s < 300)).sum()),
        "4xx": int(((s >= 400) & (s < 500)).sum()),
        "5xx": int((s >= 500).sum()),
        "malformed": int(m.sum()),
        "malformed_not_4xx": int((m & ~((s >= 400) & (s < 500))).sum()),
        "valid_not_2xx": int((~m & ~((s >= 200) & (s < 300))).sum()),
    }


async def closed_loop(
    port: int, reqs: list[tuple[bytes, bool]], concurrency: int, max_seconds: float
) -> dict:
    conns = [await Conn.open(port) for _ in range(concurrency)]
    lat: list[float] = []
    statuses: list[int] = []
    malformed: list[bool] = []
    it = iter(reqs)
    t_end = time.perf_counter() + max_seconds

    async def worker(conn: Conn) -> None:
        while time.perf_counter() < t_end:
            try:
                raw, bad = next(it)
            except StopIteration:
                return
            t = time.perf_counter()
            status = await conn.request(raw)
            lat.append(time.perf_counter() - t)
            statuses.append(status)
            malformed.append(bad)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {
        "concurrency": concurrency,
        **_latency(np.asarray(lat), wall),
        **_classes(statuses, malformed),
    }


async def open_loop(port: int, reqs: list[tuple[bytes, bool]], rate: float, pool: int) -> dict:
    """Send ``len(reqs)`` requests at ``rate``/s on a fixed schedule over a pool of connections;
    latency counts from the scheduled send time."""
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await Conn.open(port))
    lat: list[float] = []
    statuses: list[int] = []
    malformed: list[bool] = []
    start = time.perf_counter() + 0.05

    async def one(i: int, raw: bytes, bad: bool) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await free.get()
        status = await conn.request(raw)
        lat.append(time.perf_counter() - due)
        statuses.append(status)
        malformed.append(bad)
        free.put_nowait(conn)

    await asyncio.gather(*(one(i, raw, bad) for i, (raw, bad) in enumerate(reqs)))
    wall = time.perf_counter() - start
    while not free.empty():
        free.get_nowait().close()
    out = {"rate": rate, **_latency(np.asarray(lat), wall), **_classes(statuses, malformed)}
    out["achieved_per_s"] = out.pop("per_s")
    return out


async def intake(
    port: int, customers: list[str], products: list[str], n: int, concurrency: int
) -> dict:
    rng = np.random.default_rng(1)
    bodies = [
        json.dumps(
            {
                "customer_id": customers[int(rng.integers(len(customers)))],
                "product_id": products[int(rng.integers(len(products)))],
                "event": "view",
                "event_id": f"bench-{i}",
            }
        ).encode()
        for i in range(n)
    ]
    reqs = [(_post("/events", b), False) for b in bodies]
    res = await closed_loop(port, reqs, concurrency, max_seconds=120)
    return res


# -- the server ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    run: Path, model: str | None, store: Path, synchronous: str, workers: int = 1
) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "recnb.serving", str(run), "--store", str(store), "--port",
           str(port), "--log-level", "warning", "--synchronous", synchronous, "--workers",
           str(workers)]  # fmt: skip
    if model:
        cmd += ["--model", model]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    seen: set[int] = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            r = c.getresponse()
            if r.status == 200:
                seen.add(json.loads(r.read())["process"])
            c.close()
            if len(seen) >= workers:
                return proc, port
        except OSError:
            time.sleep(0.2)
    for p in reversed(_tree(proc.pid)):  # the workers too: killing the parent alone orphans them
        p.kill()
    proc.wait(30)
    raise RuntimeError(f"server did not start {workers} worker(s) within 240 s")


def _tree(pid: int) -> list:
    import psutil

    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def rss_mb(pid: int) -> float:
    """Resident memory of the server: the process and its workers."""
    return sum(p.memory_info().rss for p in _tree(pid)) / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process: its cost per request does not depend on
    how long it waited for a core on a busy machine."""
    return sum(t.user + t.system for t in (p.cpu_times() for p in _tree(pid)))


def measured(pid: int, coro) -> dict:
    """The result of running ``coro`` with the server's CPU milliseconds per request."""
    c0 = cpu_seconds(pid)
    res = asyncio.run(coro)
    res["server_cpu_ms"] = 1000.0 * (cpu_seconds(pid) - c0) / max(1, res["n"])
    res["load"] = load_text()
    return res


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="run folder holding an export (models/<name>)")
    ap.add_argument("--model", default=None, help="export name (default as the service picks)")
    ap.add_argument("--customers", type=int, default=2000, help="customers in the request mix")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="service processes (serve --workers); intake is measured with the first",
    )
    ap.add_argument("--requests", type=int, default=3000, help="requests per closed-loop level")
    ap.add_argument("--rate", type=float, default=200.0, help="open-loop requests per second")
    ap.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="open-loop duration (and cap per closed-loop level)",
    )
    ap.add_argument("--events", type=int, default=2000, help="events per intake measurement")
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    ap.add_argument(
        "--out", default=None, help="results JSON (default <run>/results/serving/benchmark.json)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.customers, args.requests, args.seconds, args.events = 300, 400, 3.0, 200
        args.concurrency, args.workers = [1, 8], [1]

    from recnb.serving.export import find_export, load_export

    run = Path(args.run)
    export_dir = find_export(run, args.model)
    exp = load_export(export_dir)
    model = exp.model
    rng = np.random.default_rng(0)
    with_history = np.flatnonzero(model.has_history_)
    pick = rng.choice(with_history, size=min(args.customers, len(with_history)), replace=False)
    customers = [str(c) for c in model.customer_ids_[pick]]
    products = [str(p) for p in model.product_ids_[: min(200, model.n_products_)]]
    k = 10
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_text(),
        },
        "export": {
            "folder": str(export_dir),
            "model": exp.spec.label,
            "version": exp.version,
            "customers": model.n_customers_,
            "products": model.n_products_,
        },
        "k": k,
        "malformed_share": MALFORMED_SHARE,
    }
    print(
        f"export {export_dir} ({exp.spec.label}, {model.n_customers_} customers x "
        f"{model.n_products_} products); load {load_text()} on {os.cpu_count()} cpus",
        flush=True,
    )

    print("raw model call ...", flush=True)
    result["raw"] = raw_model(export_dir, customers, k, repeats=3)
    del exp, model

    tmp = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    result["serving"] = []
    try:
        for w in args.workers:
            store = tmp / f"events_{w}.sqlite"
            proc, port = start_server(run, args.model, store, "FULL", w)
            try:
                res_w: dict = {"workers": w, "rss_mb_start": rss_mb(proc.pid)}
                warm = request_mix(customers, products, 200, 9)
                asyncio.run(closed_loop(port, warm, 4, 30))
                levels = []
                for i, c in enumerate(args.concurrency):
                    reqs = request_mix(customers, products, args.requests, 100 + i)
                    res = measured(proc.pid, closed_loop(port, reqs, c, args.seconds))
                    res["workers"] = w
                    levels.append(res)
                    print(f"  {w} worker(s), closed loop c={c}: {res['per_s']:.0f}/s p50 "
                          f"{res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms 5xx {res['5xx']}",
                          flush=True)  # fmt: skip
                res_w["closed_loop"] = levels
                reqs = request_mix(customers, products, int(args.rate * args.seconds), 7)
                res = measured(proc.pid, open_loop(port, reqs, args.rate, pool=64))
                res["workers"] = w
                res_w["open_loop"] = res
                print(f"  {w} worker(s), open loop {args.rate:.0f}/s: p50 {res['p50_ms']:.2f} ms "
                      f"p99 {res['p99_ms']:.2f} ms 5xx {res['5xx']}", flush=True)  # fmt: skip
                res_w["rss_mb_after"] = rss_mb(proc.pid)
                if w == args.workers[0]:
                    ev = measured(proc.pid, intake(port, customers, products, args.events, 16))
                    ev["synchronous"], ev["workers"] = "FULL", w
                    intakes = [ev]
            finally:
                proc.terminate()
                proc.wait(30)
            result["serving"].append(res_w)
        proc, port = start_server(run, args.model, tmp / "events_normal.sqlite", "NORMAL",
                                  args.workers[0])  # fmt: skip
        try:
            ev = measured(proc.pid, intake(port, customers, products, args.events, 16))
            ev["synchronous"], ev["workers"] = "NORMAL", args.workers[0]
            intakes.append(ev)
        finally:
            proc.terminate()
            proc.wait(30)
        result["intake"] = intakes
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["load_after"] = load_text()

    out = Path(args.out) if args.out else run / "results" / "serving" / "benchmark.json"
    from recnb.data.io import write_json
    from recnb.serving.report import print_tables, write_report

    write_json(out, result)
    print_tables(result)
    if args.out is None:
        print(f"\nresults: {out}\nreport:  {write_report(run)}")
    return result


if __name__ == "__main__":
    main()
