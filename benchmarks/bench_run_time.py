"""Where the time of a run goes: run the stages of a params file in a fresh reports folder and
print the seconds per stage and, for stage 03, per model (tuning trials and seconds, final fit,
recommendation, per-customer scoring) beside the test score each model reached.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_run_time.py params/default.yaml
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_run_time.py params/ci.yaml --serial-peer
    RECNB_DATA_DIR=/data RECNB_PSEUDONYM_KEY=... .venv/bin/python benchmarks/bench_run_time.py \\
        params/ml_latest_small.yaml --stages 02_preprocessing 03_model_comparison
    .venv/bin/python benchmarks/bench_run_time.py --read reports/default   # an existing run only

``--serial-peer`` runs the same params a second time with ``model_comparison.n_jobs: 1`` (models one
after the other, as before issue 11) and prints both side by side: the peer in the same session,
under the same load. The machine's load (``uptime``) is printed before and after every run: on a
shared machine wall-clock figures are only comparable within one session.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recnb.evaluation.cost import time_budget  # noqa: E402

STAGE03 = "03_model_comparison"


def uptime() -> str:
    """The machine's load averages (1, 5, 15 min) as ``uptime`` prints them."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(params: Path, reports: Path, stages: list[str] | None) -> tuple[Path, float]:
    """Run ``params`` into ``reports`` (a fresh folder); return the run folder and wall seconds."""
    cmd = [sys.executable, "-m", "recnb", "run", str(params), "--reports-dir", str(reports)]
    if stages:
        cmd += ["--stages", *stages]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"$ {' '.join(cmd)}\n  before: {uptime()}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    wall = time.perf_counter() - t0
    print(f"  after:  {uptime()}  ({wall:.0f} s)", flush=True)
    name = yaml.safe_load(params.read_text())["run_name"]
    return reports / name, wall


def stage_table(run_dir: Path) -> pd.DataFrame:
    """Seconds per stage from the run's manifest."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = [
        {"stage": name, "status": info.get("status"), "seconds": info.get("seconds")}
        for name, info in manifest["stages"].items()
    ]
    return pd.DataFrame(rows)


def model_table(run_dir: Path, metric: str = "ndcg", k: int = 10) -> pd.DataFrame | None:
    """Per-model seconds and test score of stage 03 (None when it did not run).

    Rebuilt from the stage's results files with :func:`recnb.evaluation.cost.time_budget`, so
    it also reads runs made before the ``timing_budget`` table existed.
    """
    res = run_dir / "results" / STAGE03
    if not (res / "timing.csv").exists():
        return None

    def read(name: str) -> pd.DataFrame:
        path = res / f"{name}.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    timing, summary = read("timing"), read("metrics")
    tuning_timing = read("timing_tuning")
    if tuning_timing.empty:
        tuning_timing = pd.DataFrame(columns=["model", "trial", "seconds"])
    tuning_summary = read("tuning_summary")
    budget = time_budget(tuning_summary, tuning_timing, timing, summary, metric, k)
    # CPU seconds of the final fit (this process's CPU time: less sensitive to a shared
    # machine's load than wall-clock seconds)
    if "fit_cpu_seconds" in timing:
        budget["fit_cpu_seconds"] = budget["model"].map(
            timing.set_index("model")["fit_cpu_seconds"]
        )
    cols = [
        "model",
        "trials",
        "tuning_seconds",
        "seconds_per_trial",
        "fit_seconds",
        "fit_cpu_seconds",
        "recommend_seconds",
        "scoring_seconds",
        "cpu_seconds",
        f"{metric}@{k}",
        "ci_low",
        "ci_high",
    ]
    return budget[[c for c in cols if c in budget]]


def show(run_dir: Path, label: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    stages = stage_table(run_dir)
    print(f"\n== {label}: {run_dir}\n")
    print(stages.to_string(index=False, float_format=lambda x: f"{x:,.1f}"))
    print(f"stages total: {stages['seconds'].fillna(0).sum():,.1f} s")
    models = model_table(run_dir)
    if models is not None:
        print()
        print(models.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
        print(
            f"sums: tuning {models['tuning_seconds'].sum():,.1f} s (trial seconds summed over "
            f"workers), final fit {models['fit_seconds'].sum():,.1f} s, CPU (tuning + fit + "
            f"recommend) {models['cpu_seconds'].sum():,.1f} s"
        )
    return stages, models


def serial_params(params: Path, folder: Path) -> Path:
    """A copy of ``params`` with ``model_comparison.n_jobs: 1``."""
    data = yaml.safe_load(params.read_text())
    data.setdefault("model_comparison", {})["n_jobs"] = 1
    out = folder / params.name
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("params", nargs="?", help="params/<name>.yaml")
    ap.add_argument("--stages", nargs="+", help="run only these stages")
    ap.add_argument("--reports-dir", help="parent of the fresh run folders (default: a temp dir)")
    ap.add_argument(
        "--serial-peer", action="store_true", help="also run with n_jobs: 1 and print both"
    )
    ap.add_argument("--read", nargs="+", metavar="RUN_DIR", help="only print these runs' tables")
    args = ap.parse_args(argv)
    if args.read:
        for d in args.read:
            show(Path(d), Path(d).name)
        return 0
    if not args.params:
        ap.error("give a params file, or --read RUN_DIR")
    params = Path(args.params).resolve()
    parent = Path(args.reports_dir or tempfile.mkdtemp(prefix="bench_run_time_"))
    parent.mkdir(parents=True, exist_ok=True)
    runs = [("parallel (params as given)", params, parent / "as_given")]
    if args.serial_peer:
        (parent / "serial_params").mkdir(exist_ok=True)
        peer = serial_params(params, parent / "serial_params")
        runs.append(("serial peer (n_jobs: 1)", peer, parent / "serial"))
    shown = []
    for label, p, reports in runs:
        run_dir, wall = run(p, reports, args.stages)
        shown.append((label, run_dir, wall))
    for label, run_dir, wall in shown:
        show(run_dir, f"{label}, {wall:.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
