"""The serving benchmark's figures as tables, a plain-language summary and a page of the run.

``benchmarks/bench_serving.py`` writes ``<run>/results/serving/benchmark.json``;
:func:`write_report` renders it as ``<run>/serving.html`` (summary, tables, a latency chart in
``figures/serving/latency.png``), which the run's index links when present.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

from recnb.data.io import read_json, save_figure, write_text

__all__ = [
    "P99_TARGET_MS",
    "RATE_TARGET",
    "THROUGHPUT_RATIO_TARGET",
    "benchmark_tables",
    "print_tables",
    "summary",
    "write_report",
]

#: the issue's targets (2 cores): p99 under 20 ms at 200 requests/s, and the service's throughput
#: for single-customer requests within 2x of the raw model call (its batched ``recommend_indices``)
#: made for single customers; the all-customers-in-one-call rate is shown beside it as context
P99_TARGET_MS = 20.0
RATE_TARGET = 200.0
THROUGHPUT_RATIO_TARGET = 2.0

RESULTS = Path("results") / "serving" / "benchmark.json"


def benchmark_tables(result: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``overview`` (one row per way of calling the model), ``closed_loop`` (per concurrency),
    ``intake`` (per durability setting)."""
    raw = result["raw"]
    rows = [
        {
            "path": "model, batched (all customers in one call)",
            "per_s": raw["batched_customers_per_s"],
            "p50_ms": None,
            "p99_ms": None,
            "load": result["machine"]["load_before"],
        },
        {
            "path": "model, one customer per call",
            "per_s": raw["single"]["per_s"],
            "p50_ms": raw["single"]["p50_ms"],
            "p99_ms": raw["single"]["p99_ms"],
            "load": result["machine"]["load_before"],
        },
        {
            "path": "service core, one customer per call (no HTTP)",
            "per_s": raw["service_core"]["per_s"],
            "p50_ms": raw["service_core"]["p50_ms"],
            "p99_ms": raw["service_core"]["p99_ms"],
            "load": result["machine"]["load_before"],
        },
    ]
    for row in rows:
        row["server_cpu_ms"] = None
    for srv in result.get("serving", []):
        w = srv["workers"]
        for lv in srv.get("closed_loop", []):
            rows.append(
                {
                    "path": f"HTTP, {w} process(es), {lv['concurrency']} connection(s)",
                    "per_s": lv["per_s"],
                    "p50_ms": lv["p50_ms"],
                    "p99_ms": lv["p99_ms"],
                    "server_cpu_ms": lv.get("server_cpu_ms"),
                    "load": lv.get("load", ""),
                }
            )
        ol = srv.get("open_loop")
        if ol:
            rows.append(
                {
                    "path": f"HTTP, {w} process(es), open loop at {ol['rate']:.0f} requests/s",
                    "per_s": ol["achieved_per_s"],
                    "p50_ms": ol["p50_ms"],
                    "p99_ms": ol["p99_ms"],
                    "server_cpu_ms": ol.get("server_cpu_ms"),
                    "load": ol.get("load", ""),
                }
            )
    overview = pd.DataFrame(rows)
    cols = ["workers", "concurrency", "n", "per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_ms", "2xx",
            "4xx", "5xx", "malformed", "malformed_not_4xx", "load"]  # fmt: skip
    closed = pd.DataFrame(_levels(result))
    closed = closed[[c for c in cols if c in closed.columns]] if len(closed) else closed
    intake = pd.DataFrame(result.get("intake", []))
    if len(intake):
        intake = intake[["synchronous", "workers", "concurrency", "n", "per_s", "p50_ms", "p99_ms",
                         "server_cpu_ms", "5xx", "load"]]  # fmt: skip
    return {"overview": overview, "closed_loop": closed, "intake": intake}


def _levels(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [lv for srv in result.get("serving", []) for lv in srv.get("closed_loop", [])]


def _open(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [srv["open_loop"] for srv in result.get("serving", []) if srv.get("open_loop")]


def summary(result: dict[str, Any]) -> str:
    """Plain-language verdict on the two targets, with the load the figures were measured under."""
    raw = result["raw"]
    batched = raw["batched_customers_per_s"]
    levels = _levels(result)
    opens = _open(result)
    parts = [
        f"The service serves the **{result['export']['model']}** model of this run "
        f"({result['export']['customers']:,} customers, {result['export']['products']:,} "
        f"products, top-{result['k']} lists) on uvicorn."
    ]
    for ol in opens:
        met = ol["p99_ms"] < P99_TARGET_MS and ol["achieved_per_s"] >= 0.95 * ol["rate"]
        parts.append(
            f"With {ol['workers']} process(es) at {ol['rate']:.0f} requests/s (10% of them "
            f"malformed) the 99th-percentile latency was **{ol['p99_ms']:.1f} ms** (median "
            f"{ol['p50_ms']:.1f} ms): the target of p99 < {P99_TARGET_MS:.0f} ms at "
            f"{RATE_TARGET:.0f} requests/s is **{'met' if met else 'missed'}**."
        )
    if levels:
        best = max(levels, key=lambda lv: lv["per_s"])
        single = raw["single"]["per_s"]
        ratio = single / best["per_s"] if best["per_s"] > 0 else float("inf")
        met = ratio <= THROUGHPUT_RATIO_TARGET
        cpu = best.get("server_cpu_ms")
        parts.append(
            f"The best throughput, {best['per_s']:,.0f} requests/s ({best['workers']} "
            f"process(es), {best['concurrency']} connections), is {ratio:.1f}x below the raw "
            f"model call for single-customer requests ({single:,.0f} calls/s, one customer "
            f"per call, no HTTP): the target of within {THROUGHPUT_RATIO_TARGET:.0f}x is "
            f"**{'met' if met else 'missed'}**. Scoring every customer in one call reaches "
            f"{batched:,.0f} customers/s ({batched / best['per_s']:.0f}x the service), a rate "
            f"only batch scoring gets: per-request HTTP, validation and JSON cost more than "
            f"one customer's scores. The model "
            f"alone takes a median {raw['single']['p50_ms']:.2f} ms per single customer"
            + (
                f"; the service spends {cpu:.2f} ms of CPU per request (HTTP, validation, JSON "
                f"and the model), so a process with a core to itself could answer about "
                f"{1000 / cpu:,.0f} requests/s (derived from the CPU time, not measured)."
                if cpu
                else "."
            )
        )
    fivexx = sum(lv["5xx"] for lv in levels) + sum(ol["5xx"] for ol in opens)
    bad = sum(lv["malformed"] for lv in levels) + sum(ol["malformed"] for ol in opens)
    wrong = sum(lv["malformed_not_4xx"] for lv in levels) + sum(
        ol["malformed_not_4xx"] for ol in opens
    )
    parts.append(
        f"Of {bad:,} malformed requests {bad - wrong:,} got a 4xx answer; "
        f"{fivexx} requests got a 5xx."
    )
    intake = result.get("intake", [])
    if intake:
        by = {r["synchronous"]: r for r in intake}
        text = ", ".join(f"{r['per_s']:,.0f} events/s with synchronous={s}" for s, r in by.items())
        parts.append(f"Event intake (each event on disk before the answer): {text}.")
    m = result["machine"]
    parts.append(
        f"Measured on {m['cpus']} CPUs shared with other work: load average {m['load_before']} "
        f"before and {m['load_after']} after (1, 5, 15 min); figures move with that load."
    )
    return " ".join(parts)


def _fmt(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if c in ("per_s",):
            out[c] = out[c].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
        elif c.endswith("_ms"):
            out[c] = out[c].map(lambda v: "–" if pd.isna(v) else f"{v:,.2f}")
    return out


def print_tables(result: dict[str, Any]) -> None:
    """Print the tables and the summary (the benchmark's terminal output)."""
    for name, df in benchmark_tables(result).items():
        if len(df):
            print(f"\n{name}")
            print(_fmt(df).to_string(index=False))
    print("\n" + summary(result).replace("**", ""))


def write_report(run_dir: str | os.PathLike) -> Path:
    """Render ``<run>/results/serving/benchmark.json`` as ``<run>/serving.html``."""
    run_dir = Path(run_dir)
    result = read_json(run_dir / RESULTS)
    tables = benchmark_tables(result)
    fig_rel = Path("figures") / "serving" / "latency.png"
    levels = tables["closed_loop"]
    if len(levels):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
        for i, (w, g) in enumerate(levels.groupby("workers")):
            tag = f"{w} process{'es' if w > 1 else ''}"
            ax[0].plot(g["concurrency"], g["p99_ms"], "s-", color=f"C{i}", label=f"p99, {tag}")
            ax[0].plot(g["concurrency"], g["p50_ms"], "o:", color=f"C{i}", label=f"p50, {tag}")
            ax[1].plot(g["concurrency"], g["per_s"], "o-", color=f"C{i}", label=f"service, {tag}")
        ax[0].axhline(P99_TARGET_MS, color="grey", ls="--", lw=1, label="p99 target")
        ax[0].set(xscale="log", yscale="log", xlabel="connections", ylabel="latency (ms)")
        ax[0].legend(fontsize=7)
        ax[1].axhline(result["raw"]["batched_customers_per_s"], color="grey", ls="--",
                      label="model, all customers in one call")  # fmt: skip
        single = result["raw"]["single"]["per_s"]
        ax[1].axhline(single, color="black", ls="-.", label="model, one customer per call")
        ax[1].axhline(single / THROUGHPUT_RATIO_TARGET, color="black", ls=":", lw=1,
                      label=f"target: within {THROUGHPUT_RATIO_TARGET:.0f}x of it")  # fmt: skip
        ax[1].set(xscale="log", yscale="log", xlabel="connections",
                  ylabel="requests (customers) / s")  # fmt: skip
        ax[1].legend(fontsize=7)
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        for a in ax:
            a.set_xticks(sorted(levels["concurrency"].unique()))
            a.xaxis.set_major_formatter(ScalarFormatter())
            a.xaxis.set_minor_formatter(NullFormatter())
        fig.tight_layout()
        save_figure(fig, run_dir / fig_rel)
        plt.close(fig)
    blocks = []
    titles = {
        "overview": "The model called directly, and through the service",
        "closed_loop": "Closed loop: each connection sends its next request on the answer",
        "intake": "Event intake: POST /events, committed before the answer",
    }
    for name, df in tables.items():
        if len(df):
            blocks.append(
                f"<h2>{html.escape(titles[name])}</h2>"
                + _fmt(df).to_html(index=False, border=0, classes="t", na_rep="–")
            )
    img = (
        f'<img src="{fig_rel.as_posix()}" alt="latency and throughput by connections">'
        if len(levels)
        else ""
    )
    text = html.escape(summary(result))
    import re

    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Serving · {html.escape(str(result["export"]["model"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table.t {{ border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }}
table.t td, table.t th {{ padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }}
table.t td:first-child, table.t th:first-child {{ text-align: left; }}
.sub {{ color: #666; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Online serving · latency and throughput</h1>
<p>{text}</p>
{img}
{"".join(blocks)}
<p class="sub">Export {html.escape(str(result["export"]["folder"]))} (version
{html.escape(str(result["export"]["version"]))}); written by <code>benchmarks/bench_serving.py</code>
to <code>{RESULTS.as_posix()}</code>.</p>
</body></html>
"""
    return write_text(run_dir / "serving.html", page)
