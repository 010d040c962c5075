"""Plain-language text of the monitoring report (stage 07), computed from its tables."""

from __future__ import annotations

import pandas as pd

__all__ = [
    "deployment_sentence",
    "drift_sentence",
    "gate_sentence",
    "stationary_sentence",
    "summary_paragraph",
]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def stationary_sentence(summary: pd.DataFrame, label: str) -> str:
    """How often the alarms went off on data with no planted change, against the budget."""
    row = summary[summary["feature"] == "any"].iloc[0]
    if row["days"] == 0:
        return f"{label}: no day could be scored (the log is shorter than the reference window)."
    verdict = "within" if row["ci_low"] <= row["nominal"] else "above"
    return (
        f"{label}: {int(row['alarm_days'])} of {int(row['days'])} monitored days raised an alarm "
        f"({_pct(row['rate'])}, 95% interval {_pct(row['ci_low'])} to {_pct(row['ci_high'])}), "
        f"{verdict} the false-alarm budget of {_pct(row['nominal'])} a day."
    )


def drift_sentence(scores: pd.DataFrame, shift_day: int) -> str:
    """Did the drill's planted change raise the alarm on its day, and did any day before it?"""
    if scores.empty:
        return "No day of the drill could be scored (the log is shorter than the reference window)."
    per_day = scores.groupby("day")["alarm"].any()
    early = per_day[(per_day.index < shift_day) & per_day].index.tolist()
    after = per_day[(per_day.index >= shift_day) & per_day].index.tolist()
    first_scored = int(per_day.index.min())
    if not after:
        found = f"The change planted on day {shift_day} raised no alarm: monitoring missed it."
    elif after[0] == shift_day:
        found = f"The change planted on day {shift_day} raised the alarm on that same day."
    else:
        found = (
            f"The change planted on day {shift_day} was detected on day {after[0]} (a delay of "
            f"{after[0] - shift_day} days)."
        )
    if early:
        days = ", ".join(str(d) for d in early)
        return found + (
            f" Before it, {len(early)} of {shift_day - first_scored} monitored days raised a false "
            f"alarm (day {days})."
        )
    return found + f" No day before it alarmed (monitored from day {first_scored})."


def deployment_sentence(periods: pd.DataFrame, after_day: int | None = None) -> str:
    """Scheduled retraining against a frozen model, over the periods after ``after_day``."""
    p = periods if after_day is None else periods[periods["start_day"] >= after_day]
    if p.empty or p["strategy"].nunique() < 2:
        return ""
    means = p.groupby("strategy")["recall"].mean()
    s, f = means.get("scheduled"), means.get("frozen")
    where = "" if after_day is None else f" from day {after_day} on"
    change = (s - f) / f if f else float("nan")
    verb = "kept" if change >= 0 else "lost"
    return (
        f"Retraining on schedule {verb} recall at {s:.3f} against {f:.3f} for a model never "
        f"retrained{where} ({'+' if change >= 0 else ''}{100 * change:.0f}% relative)."
    )


def gate_sentence(table: pd.DataFrame, winner: str | None, ab_available: bool) -> str:
    """Which challengers the gate rejected and why, and who serves next."""
    parts = []
    for r in table.itertuples(index=False):
        parts.append(f"{r.challenger}: {r.decision} ({r.reason})")
    head = (
        f"The gate promoted {winner}: it replaces the champion."
        if winner
        else "The champion stays: no challenger passed every gate."
    )
    tail = (
        ""
        if ab_available
        else " On this data no A/B test can be simulated, so no model is promoted on offline "
        "evidence alone."
    )
    return head + " " + "; ".join(parts) + "." + tail


def summary_paragraph(
    stationary: str,
    drift: str | None,
    deployment: str,
    gate: str,
    champion_version: int,
    export_path: str | None = None,
) -> str:
    """The stakeholder summary at the top of the report and on the index.

    ``export_path``: the serving export's folder relative to the run (``models/champion``), which
    ``python -m recnb serve`` picks up.
    """
    lines = [stationary]
    if drift:
        lines.append(drift)
    if deployment:
        lines.append(deployment)
    lines.append(gate)
    if export_path:
        lines.append(
            f"The serving model (that configuration trained on the whole log) is exported to "
            f"`{export_path}`, which `python -m recnb serve` serves, and recorded as version "
            f"{champion_version} of this run's model registry."
        )
    else:
        lines.append(
            f"The serving model is recorded as version {champion_version} of this run's model "
            f"registry, saved in the models' own format."
        )
    return " ".join(lines)
