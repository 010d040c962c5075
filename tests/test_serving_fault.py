"""Fault test: SIGKILL the real service (uvicorn subprocess) during a load of events; on restart,
every event it acknowledged is in the store."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _serving import REPO, base_run, export, run_copy, train

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(run_dir: Path, store: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "recnb.serving",
        str(run_dir),
        "--store",
        str(store),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited ({proc.returncode}): {log.read_text()}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the service did not start in 120 s: {log.read_text()}")


def _client(
    port: int,
    customers: list[str],
    products: list[str],
    tag: int,
    acked: list[str],
    stop: threading.Event,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while not stop.is_set():
        eid = f"t{tag}-{i}"
        body = json.dumps(
            {
                "customer_id": customers[i % len(customers)],
                "product_id": products[(i * 7 + tag) % len(products)],
                "event": "view",
                "event_id": eid,
            }
        )
        try:
            conn.request("POST", "/events", body, {"content-type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        if resp.status == 201:
            acked.append(eid)
        i += 1


def test_sigkill_during_a_load_loses_no_acknowledged_event(run_copy, train, tmp_path):
    folder = export(run_copy, train, "item_knn")
    from recnb.serving import load_export

    model = load_export(folder).model
    customers = [str(c) for c in model.customer_ids_[:50]]
    products = [str(p) for p in model.product_ids_[:40]]
    store, log, port = tmp_path / "events.sqlite", tmp_path / "serve.log", _free_port()
    proc = _start(run_copy, store, port, log)
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(port, customers, products, t, acked, stop))
        for t in range(8)
    ]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 300, f"only {len(acked)} events acknowledged in 60 s"
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: clients are still sending
        proc.wait(30)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    acknowledged = set(acked)
    # restart on the same store: the service opens it (WAL recovery) and replays it
    proc = _start(run_copy, store, port, log)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/health")
        health = json.loads(c.getresponse().read())
    finally:
        proc.terminate()
        proc.wait(30)
    con = sqlite3.connect(store)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in con.execute("SELECT event_id FROM events")}
    finally:
        con.close()
    missing = acknowledged - stored
    print(  # the figures of the report (pytest -s)
        f"\nSIGKILL fault test: {len(acknowledged)} events acknowledged before the kill, "
        f"{len(stored)} in the store after restart, {len(missing)} acknowledged events lost"
    )
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert health["events_stored"] == len(stored) >= len(acknowledged)
    assert health["events_applied"] == len(stored)  # the overlay was rebuilt from the store


def test_two_workers_answer_with_every_posted_event(run_copy, train, tmp_path):
    """``--workers 2``: connections land on either process; an event posted through one is in
    the next answer whichever process gives it (each follows the shared store)."""
    folder = export(run_copy, train, "item_knn")
    from recnb.serving import load_export

    model = load_export(folder).model
    store, log, port = tmp_path / "events.sqlite", tmp_path / "serve.log", _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "recnb.serving", str(run_copy), "--store", str(store),
           "--port", str(port), "--log-level", "warning", "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    pids: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                if r.status == 200:
                    pids.add(json.loads(r.read())["process"])
                c.close()
            except OSError:
                time.sleep(0.2)
        assert len(pids) == 2, f"only processes {pids} answered"
        for i in range(30):
            new = f"{i:016x}"
            p = str(model.product_ids_[i])
            body = json.dumps({"customer_id": new, "product_id": p, "event": "purchase"})
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection:
            c.request("POST", "/events", body, {"content-type": "application/json"})  # either
            assert c.getresponse().status == 201  # worker may take it
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", f"/recommendations/{new}")
            rec = json.loads(c.getresponse().read())
            c.close()
            assert rec["source"] == "model_with_new_events", rec
            assert p not in [x["product_id"] for x in rec["items"]]
    finally:
        proc.terminate()
        proc.wait(30)
    con = sqlite3.connect(store)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 30
    con.close()
