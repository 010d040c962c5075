"""The serving benchmark's report: tables, the verdict on the targets, the page."""

from __future__ import annotations

import copy

import pytest

from recnb.data.io import write_json
from recnb.serving.report import benchmark_tables, summary, write_report


def _level(workers, c, per_s, p50, p99, bad=10, wrong=0, five=0):
    return {"workers": workers, "concurrency": c, "n": 1000, "per_s": per_s, "p50_ms": p50,
            "p99_ms": p99, "max_ms": p99 * 2, "server_cpu_ms": 1.2, "2xx": 990 - five,
            "4xx": bad, "5xx": five, "malformed": bad, "malformed_not_4xx": wrong,
            "valid_not_2xx": 0, "load": "1.00 1.00 1.00"}  # fmt: skip


RESULT = {
    "machine": {"cpus": 2, "python": "3.11", "load_before": "1.0 1.1 1.2", "load_after": "0.9 1 1"},
    "export": {
        "folder": "x",
        "model": "user_knn",
        "version": "abc",
        "customers": 100,
        "products": 50,
    },  # fmt: skip
    "k": 10,
    "malformed_share": 0.1,
    "raw": {
        "customers": 100,
        "batched_customers_per_s": 2000.0,
        "single": {"n": 100, "p50_ms": 0.5, "p99_ms": 1.0, "max_ms": 2.0, "per_s": 1500.0},
        "service_core": {"n": 100, "p50_ms": 0.6, "p99_ms": 1.1, "max_ms": 2.0, "per_s": 1400.0},
    },
    "serving": [
        {
            "workers": 1,
            "closed_loop": [_level(1, 1, 400.0, 2.0, 5.0), _level(1, 16, 700.0, 20.0, 40.0)],
            "open_loop": {**_level(1, 64, 0, 3.0, 12.0), "rate": 200.0, "achieved_per_s": 199.0},
        },
        {
            "workers": 2,
            "closed_loop": [_level(2, 16, 1100.0, 12.0, 30.0)],
            "open_loop": {**_level(2, 64, 0, 3.0, 25.0), "rate": 200.0, "achieved_per_s": 200.0},
        },
    ],
    "intake": [
        {
            "synchronous": "FULL",
            "workers": 1,
            "concurrency": 16,
            "n": 500,
            "per_s": 800.0,
            "p50_ms": 5.0,
            "p99_ms": 20.0,
            "server_cpu_ms": 0.5,
            "5xx": 0,
            "load": "1 1 1",
        },
        {
            "synchronous": "NORMAL",
            "workers": 1,
            "concurrency": 16,
            "n": 500,
            "per_s": 2000.0,
            "p50_ms": 2.0,
            "p99_ms": 9.0,
            "server_cpu_ms": 0.4,
            "5xx": 0,
            "load": "1 1 1",
        },
    ],  # fmt: skip
}


def test_summary_states_each_target_with_the_measured_figures():
    text = summary(RESULT)
    # 1 process: p99 12 ms at 200/s -> met; 2 processes: 25 ms -> missed
    assert "With 1 process(es) at 200 requests/s" in text and "**12.0 ms**" in text
    assert "p99 < 20 ms at 200 requests/s is **met**" in text
    assert "**25.0 ms**" in text and "is **missed**" in text
    # best 1100/s vs the raw model's 1500 single-customer calls/s: 1.4x -> met
    assert "1,100 requests/s (2 process(es), 16 connections), is 1.4x below" in text
    assert "(1,500 calls/s, one customer per call, no HTTP)" in text
    assert "within 2x is **met**" in text
    # the all-in-one-call rate is context, not the target's peer
    assert "reaches 2,000 customers/s (2x the service)" in text
    assert "1.20 ms of CPU per request" in text and "about 833 requests/s" in text
    assert "Of 50 malformed requests 50 got a 4xx answer; 0 requests got a 5xx." in text
    assert "800 events/s with synchronous=FULL, 2,000 events/s with synchronous=NORMAL" in text
    assert "load average 1.0 1.1 1.2 before" in text


def test_summary_says_missed_and_counts_5xx():
    r = copy.deepcopy(RESULT)
    r["serving"][1]["closed_loop"][0]["per_s"] = 600.0  # best is now 700/s
    r["raw"]["single"]["per_s"] = 2000.0  # 2000 / 700: 2.9x
    r["serving"][0]["closed_loop"][0].update({"5xx": 2, "malformed_not_4xx": 1})
    text = summary(r)
    assert "is 2.9x below" in text and "within 2x is **missed**" in text
    assert "Of 50 malformed requests 49 got a 4xx answer; 2 requests got a 5xx." in text


def test_tables_and_page(tmp_path):
    t = benchmark_tables(RESULT)
    assert list(t["closed_loop"]["workers"]) == [1, 1, 2]
    assert len(t["overview"]) == 3 + 3 + 2
    assert list(t["intake"]["synchronous"]) == ["FULL", "NORMAL"]
    write_json(tmp_path / "results" / "serving" / "benchmark.json", RESULT)
    page = write_report(tmp_path).read_text()
    assert "<strong>met</strong>" in page and "figures/serving/latency.png" in page
    assert (tmp_path / "figures" / "serving" / "latency.png").stat().st_size > 5000


def test_page_needs_the_benchmark_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark.json"):
        write_report(tmp_path)
