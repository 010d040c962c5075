"""Plain-language text of stage 06 (context, cold start, repeat purchases, dynamic updates).

Every sentence is computed from the result tables of :class:`recnb.context.stage.ContextResults`;
a difference is called a gain or a loss only when its confidence interval excludes 0.
"""

from __future__ import annotations

import pandas as pd

from recnb.context.stage import ContextResults
from recnb.reporting.formatting import number, percent, seconds

__all__ = [
    "describe_cold",
    "describe_context",
    "describe_recovery",
    "describe_repeat",
    "describe_rolling",
    "describe_update_cost",
    "summary_paragraph",
]


def _verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no measurable difference"


def _versus(lo: float, hi: float, other: str) -> str:
    if lo > 0:
        return f"better than {other} beyond doubt"
    if hi < 0:
        return f"worse than {other} beyond doubt"
    return f"no measurable difference from {other} (the 95% interval of the gain contains 0)"


def _best(table: pd.DataFrame, name_col: str = "ranker", metric: str = "ndcg") -> pd.Series:
    return table.sort_values(metric, ascending=False, kind="stable").iloc[0]


def describe_context(summary: pd.DataFrame, k: int) -> str:
    """Which way of using context wins over its context-free twin, with the uplift CI."""
    if summary.empty:
        return "The context comparison did not run on this data (see the table of parts above)."
    base = summary.set_index("ranker").loc["context-free"]
    ctx = summary[summary["versus"].astype(str) != ""].dropna(subset=["uplift"])
    parts = [
        f"Without context the base model reaches NDCG@{k} {number(base['ndcg'])} on "
        f"{int(base['n_requests']):,} test visits."
    ]

    def gain(r: object) -> str:
        ref = summary.set_index("ranker").loc[r.versus, "ndcg"]  # type: ignore[attr-defined]
        rel = f", {percent(r.uplift / ref)}" if ref else ""  # type: ignore[attr-defined]
        return (
            f"{r.ranker} +{number(r.uplift)}{rel} [{number(r.uplift_ci_low)}, "  # type: ignore[attr-defined]
            f"{number(r.uplift_ci_high)}] over {r.versus}"  # type: ignore[attr-defined]
        )

    gains = ctx[ctx["uplift_ci_low"] > 0].sort_values("uplift", ascending=False)
    losses = ctx[ctx["uplift_ci_high"] < 0]
    if len(gains):
        parts.append(
            "**Context helps**: proven gains (95% interval above 0): "
            + "; ".join(gain(r) for r in gains.itertuples())
            + "."
        )
    else:
        parts.append("No way of using context beats its context-free twin beyond doubt.")
    if len(losses):
        parts.append(
            "Worse than without context: "
            + ", ".join(
                f"{r} (vs {v})" for r, v in zip(losses["ranker"], losses["versus"], strict=True)
            )  # fmt: skip
            + "."
        )
    return " ".join(parts)


def describe_recovery(recovery: pd.DataFrame) -> str:
    """Whether the post-filter found exactly the planted effects."""
    if recovery.empty:
        return (
            "There is no ground truth to check here: only the synthetic shop plants known context "
            "effects."
        )
    ok = bool(recovery["recovered"].all())
    planted = ", ".join(recovery.loc[recovery["planted"], "dimension"]) or "none"
    unplanted = ", ".join(recovery.loc[~recovery["planted"], "dimension"]) or "none"
    missed = recovery.loc[~recovery["recovered"]]
    head = "The check passes. "
    if not ok:
        head = "**Not recovered**: " + ", ".join(missed["dimension"])
        off = missed[missed["planted"] & (missed["ci_low"] == 0) & (missed["ci_high"] == 0)]
        if len(off):
            head += (
                " (the validation window did not prove a gain from re-ranking by "
                + ", ".join(off["dimension"])
                + ", so that re-ranking stayed off: the planted effect is too small to show in "
                "one validation week)"
            )
        elif "n_requests" in recovery.columns and missed["planted"].any():
            head += (
                f" (a planted effect missed on {int(recovery['n_requests'].iloc[0]):,} test "
                "visits: too few to show a small effect, or a method too weak to find it)"
            )
        head += ". "
    return (
        f"{head}Effects were planted for {planted} and not for {unplanted}; a dimension counts "
        "as recovered when re-ranking by it gains with a 95% interval above 0 where an effect "
        "was planted, and its interval contains 0 where none was."
    )


def describe_cold(
    customers: pd.DataFrame, products: pd.DataFrame, k: int, info: dict | None = None
) -> str:
    """Which ranker serves new customers and new products, and how well."""
    parts = []
    if not customers.empty:
        best = _best(customers)
        pop = customers.set_index("ranker").loc["popularity"]
        parts.append(
            f"For new customers the best ranker is **{best['ranker']}** (NDCG@{k} "
            f"{number(best['ndcg'])} [{number(best['ndcg_ci_low'])}, "
            f"{number(best['ndcg_ci_high'])}]) against {number(pop['ndcg'])} for the popularity "
            "fallback"
            + (
                ": " + _versus(best["uplift_ci_low"], best["uplift_ci_high"], "popularity") + "."
                if best["ranker"] != "popularity"
                else "; no feature-based ranker beats the fallback."
            )
        )
    else:
        parts.append("The new-customer comparison did not run on this data.")
    if not products.empty:
        best = _best(products)
        n_new = (info or {}).get("cold_products", {}).get("new_products")
        among = f"the {n_new:,} new products" if n_new else "the new products"
        parts.append(
            f"Among products first sold in the test period, **{best['ranker']}** ranks best "
            f"(NDCG@{k} {number(best['ndcg'])} [{number(best['ndcg_ci_low'])}, "
            f"{number(best['ndcg_ci_high'])}], ranking among {among} only"
            + ("; with so few new products any order scores alike)." if n_new and n_new <= k
               else ").")
        )  # fmt: skip
    else:
        parts.append("The new-product comparison did not run on this data.")
    return " ".join(parts)


def describe_repeat(repeat: pd.DataFrame, k: int) -> str:
    """Which mode ran and what buy-again and the mix add, repeats and new products apart."""
    if repeat.empty:
        return "The repeat-purchase comparison did not run on this data."
    rep_answers = int(repeat["repeat_answers"].iloc[0])
    all_answers = rep_answers + int(repeat["new_answers"].iloc[0])
    best = _best(repeat)
    t = repeat.set_index("ranker")
    return (
        f"Mode: **repeat-aware** (lists may hold products the customer had; repeat purchases "
        f"count). {percent(rep_answers / all_answers if all_answers else 0)} of the test "
        f"purchases are repeats. The best ranker is **{best['ranker']}** (NDCG@{k} "
        f"{number(best['ndcg'])}). Repeat hits / new hits: "
        + "; ".join(f"{n} {int(r.repeat_hits)} / {int(r.new_hits)}" for n, r in t.iterrows())
        + "."
    )


def describe_rolling(summary: pd.DataFrame, steps: int, step_days: float) -> str:
    """Incremental vs full retrain vs frozen, and the other strategies: quality over the origins."""
    if summary.empty:
        return "The rolling-origin comparison did not run on this data."
    t = summary.set_index("strategy")
    parts = [f"Over {steps} rolling origins {step_days:g} day(s) apart:"]
    if {"ALS frozen", "ALS full retrain", "ALS incremental"} <= set(t.index):
        inc, full, frozen = t.loc["ALS incremental"], t.loc["ALS full retrain"], t.loc["ALS frozen"]
        parts.append(
            f"ALS updated incrementally reaches NDCG@10 {number(inc['ndcg'])} "
            f"[{number(inc['ndcg_ci_low'])}, {number(inc['ndcg_ci_high'])}], a full retrain "
            f"{number(full['ndcg'])} [{number(full['ndcg_ci_low'])}, "
            f"{number(full['ndcg_ci_high'])}], the frozen model {number(frozen['ndcg'])} "
            f"[{number(frozen['ndcg_ci_low'])}, {number(frozen['ndcg_ci_high'])}]."
        )
    best = summary.sort_values("ndcg", ascending=False, kind="stable").iloc[0]
    parts.append(f"The best strategy overall is **{best['strategy']}** ({number(best['ndcg'])}).")
    return " ".join(parts)


def describe_update_cost(timing: pd.DataFrame) -> str:
    """Measured seconds per update (kept apart from the results: they vary between runs)."""
    if timing.empty:
        return ""
    later = timing[timing["step"] > 0]
    use = later if len(later) else timing
    mean = use.groupby("strategy", sort=False)["update_seconds"].mean()
    wanted = [s for s in ("ALS incremental", "ALS full retrain", "item-kNN refit",
                          "trending window") if s in mean.index]  # fmt: skip
    if not wanted:
        return ""
    return (
        "One model update took "
        + ", ".join(f"{seconds(float(mean[s]))} ({s})" for s in wanted)
        + " on this machine."
    )


def summary_paragraph(res: ContextResults, k: int) -> str:
    """The stakeholder summary at the top of the report."""
    parts = [describe_context(res.context_summary, k)]
    if not res.recovery.empty:
        parts.append(describe_recovery(res.recovery))
    parts.append(describe_cold(res.cold_customers, res.cold_products, k, res.info))
    if not res.repeat.empty:
        parts.append(describe_repeat(res.repeat, k))
    if not res.rolling_summary.empty:
        parts.append(
            describe_rolling(
                res.rolling_summary,
                int(res.info.get("rolling_steps", 0)),
                float(res.info.get("rolling_step_days", 0)),
            )
        )
    skipped = res.support[~res.support["runs"]]
    if len(skipped):
        parts.append(
            "Not run on this data: "
            + "; ".join(f"{p} ({n})" for p, n in zip(skipped["part"], skipped["note"], strict=True))
            + "."
        )
    return "\n\n".join(parts)
