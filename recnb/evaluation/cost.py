"""What a fit or a recommendation run costs: the peak increase of resident memory while it runs,
and the time each model took in a comparison beside the quality it bought (:func:`time_budget`)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TIME_BUDGET_COLUMNS", "PeakMemory", "time_budget"]

#: columns of :func:`time_budget` (the quality columns are named after the metric and k)
TIME_BUDGET_COLUMNS = [
    "model",
    "trials",
    "tuning_seconds",
    "seconds_per_trial",
    "fit_seconds",
    "recommend_seconds",
    "scoring_seconds",
    "total_seconds",
    "cpu_seconds",
    "validation_gain",
]


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


class PeakMemory:
    """Context manager: the peak increase of resident memory (MB) while the block runs.

    A background thread samples the process's resident set size every ``interval`` seconds;
    ``peak_mb`` is the largest sample minus the size at entry (0 when memory only shrank). It
    sees native allocations (BLAS, ``implicit``, LightFM, torch) that :mod:`tracemalloc` misses;
    very short spikes between two samples can be missed.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._start = _rss()
        self._peak = self._start
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss())
        self.peak_mb = max(0.0, (self._peak - self._start) / 2**20)


def time_budget(
    tuning_summary: pd.DataFrame,
    tuning_timing: pd.DataFrame,
    timing: pd.DataFrame,
    summary: pd.DataFrame,
    metric: str,
    k: int,
) -> pd.DataFrame:
    """Seconds each model took in a comparison, beside the quality they bought.

    Parameters
    ----------
    tuning_summary, tuning_timing : pandas.DataFrame
        ``Tuning.summary`` and ``Tuning.timing`` (:mod:`recnb.evaluation.tuning`).
    timing : pandas.DataFrame
        ``Evaluation.timing`` (:mod:`recnb.evaluation.evaluate`): final fit, recommendation and
        per-customer scoring seconds.
    summary : pandas.DataFrame
        ``Evaluation.summary``: the test ``metric@k`` with its interval.
    metric, k : str, int
        The primary metric.

    Returns
    -------
    pandas.DataFrame
        One row per model of ``timing``, in its order: ``trials`` and ``tuning_seconds`` of its
        search (0 when not tuned), ``seconds_per_trial``, ``fit_seconds``, ``recommend_seconds``
        and ``scoring_seconds`` of the final run, ``total_seconds`` (tuning + fit + recommend +
        scoring), ``cpu_seconds`` (CPU time of the tuning trials, the fit and the
        recommendation: less sensitive than wall-clock seconds to other jobs on a shared machine;
        NaN when a table lacks it), ``validation_gain`` (best minus configured validation score: what the search
        bought on validation; NaN when the configured values were outside the space or the model
        was not tuned), and ``<metric>@<k>`` with ``ci_low``, ``ci_high`` on the test part.
        Measured: the seconds differ between two runs of the same params.
    """
    models = list(timing["model"])
    per_model = (
        tuning_timing.groupby("model", sort=False)["seconds"].agg(["size", "sum"])
        if not tuning_timing.empty
        else pd.DataFrame(columns=["size", "sum"])
    )
    cpu_tuning = (
        tuning_timing.groupby("model", sort=False)["cpu_seconds"].sum()
        if "cpu_seconds" in tuning_timing and not tuning_timing.empty
        else None
    )
    tuned = tuning_summary.set_index("model") if not tuning_summary.empty else None
    t = timing.set_index("model")
    scoring = t["scoring_seconds"] if "scoring_seconds" in t else pd.Series(np.nan, index=t.index)
    q = summary[(summary["metric"] == metric) & (summary["k"] == k)].set_index("model")
    rows = []
    for m in models:
        trials = int(per_model.loc[m, "size"]) if m in per_model.index else 0
        tuning_s = float(per_model.loc[m, "sum"]) if m in per_model.index else 0.0
        gain = np.nan
        if tuned is not None and m in tuned.index:
            configured = tuned.loc[m, "configured_value"]
            if configured is not None and pd.notna(configured):
                gain = float(tuned.loc[m, "best_value"]) - float(configured)
        fit, rec = float(t.loc[m, "fit_seconds"]), float(t.loc[m, "recommend_seconds"])
        sc = float(scoring.loc[m]) if pd.notna(scoring.loc[m]) else np.nan
        cpu = np.nan  # a tuned model's CPU seconds need the trials' (older runs lack them)
        if {"fit_cpu_seconds", "recommend_cpu_seconds"} <= set(t.columns) and (
            cpu_tuning is not None or m not in per_model.index
        ):
            cpu = float(cpu_tuning.get(m, 0.0)) if cpu_tuning is not None else 0.0
            cpu += float(t.loc[m, "fit_cpu_seconds"]) + float(t.loc[m, "recommend_cpu_seconds"])
        rows.append(
            {
                "model": m,
                "trials": trials,
                "tuning_seconds": tuning_s,
                "seconds_per_trial": tuning_s / trials if trials else np.nan,
                "fit_seconds": fit,
                "recommend_seconds": rec,
                "scoring_seconds": sc,
                "total_seconds": tuning_s + fit + rec + (0.0 if np.isnan(sc) else sc),
                "cpu_seconds": cpu,
                "validation_gain": gain,
                f"{metric}@{k}": float(q.loc[m, "value"]) if m in q.index else np.nan,
                "ci_low": float(q.loc[m, "ci_low"]) if m in q.index else np.nan,
                "ci_high": float(q.loc[m, "ci_high"]) if m in q.index else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=[*TIME_BUDGET_COLUMNS, f"{metric}@{k}", "ci_low", "ci_high"])
