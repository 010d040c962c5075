"""The sentences of the preprocessing report (stage 02), computed from its tables.

Each function reads a table or a :class:`~recnb.prep.split.SplitResult` and says what a reader should
take from it: what cleaning removed, which events carry the signal, what the k-core did to the
matrix, how the split cuts the data, how many evaluation customers are new, and whether the leakage
checks passed.
"""

from __future__ import annotations

import pandas as pd

from recnb.prep.split import SplitResult, check_split
from recnb.reporting.formatting import day, percent

__all__ = [
    "describe_cold_start",
    "describe_density",
    "describe_features",
    "describe_removals",
    "describe_signal",
    "describe_split",
    "summary_paragraph",
]


def describe_removals(table: pd.DataFrame, n_before: int) -> str:
    """One sentence on what cleaning removed (from the :func:`recnb.prep.cleaning.clean` table)."""
    total = int(table["rows"].sum())
    if total == 0:
        return f"Cleaning removed nothing: all {n_before:,} events passed every check."
    top = table.sort_values("rows", ascending=False).iloc[0]
    share = total / max(n_before, 1)
    return (
        f"Cleaning removed {total:,} of {n_before:,} events ({100 * share:.1f}%); the largest step "
        f"was {top['step']} ({int(top['rows']):,} rows: {top['reason']})."
    )


def describe_density(table: pd.DataFrame) -> str:
    """One sentence comparing the rows of :func:`recnb.prep.kcore.density_table` (first and last
    stage)."""
    a, b = table.iloc[0], table.iloc[-1]
    return (
        f"{b['stage'].capitalize()}: {int(b['customers']):,} of {int(a['customers']):,} customers and "
        f"{int(b['products']):,} of {int(a['products']):,} products remain, with "
        f"{int(b['pairs']):,} of {int(a['pairs']):,} customer-product pairs; density goes from "
        f"{100 * a['density']:.3g}% to {100 * b['density']:.3g}% (the share of all possible pairs "
        f"that hold an interaction)."
    )


def describe_signal(table: pd.DataFrame) -> str:
    """One sentence on which event types carry the training signal."""
    t = table[table["total_weight"] > 0].sort_values("weight_share", ascending=False)
    if t.empty:
        return "No event carries weight."
    parts = [f"{r.event} {100 * r.weight_share:.0f}%" for r in t.itertuples()]
    top = t.iloc[0]
    return (
        f"Share of the total training signal by event type: {', '.join(parts)}. "
        f"{str(top['event']).capitalize()} events dominate the signal"
        + (
            " by volume even though they weigh least; raise the weights of rarer, stronger "
            "events or lower theirs to shift it."
            if top["weight"] == t["weight"].min() and len(t) > 1
            else "."
        )
    )


def describe_features(table: pd.DataFrame) -> str:
    """One sentence per entity of a :func:`recnb.prep.features.feature_summary` table."""
    out = []
    for entity, t in table.groupby("entity", sort=False):
        groups = ", ".join(f"{r.group} ({r.features})" for r in t.itertuples())
        low = t[t["rows_covered"] < 0.5]
        tail = (
            f" Sparse groups (under half of the rows covered): {', '.join(low['group'])}."
            if len(low)
            else ""
        )
        out.append(
            f"{entity.capitalize()} features: {int(t['features'].sum()):,} columns in groups {groups}.{tail}"
        )
    return " ".join(out)


def describe_split(result: SplitResult) -> str:
    """One paragraph on the split: kind, sizes, time ranges."""
    info = result.info
    t = result.tables["split"].set_index("part")
    kind = info["kind"]
    n_train, n_test, n_valid = (int(t.loc[p, "pairs"]) for p in ("train", "test", "valid"))
    if kind == "temporal":
        # measured, not info["test_days"]: a fixed cutoff overrides test_days
        test_span = (
            pd.Timestamp(t.loc["test", "end"]) - pd.Timestamp(info["cutoff"])
        ) / pd.Timedelta(days=1)
        head = (
            f"A global temporal split at {day(info['cutoff'])}: the model trains on "
            f"{day(t.loc['train', 'start'])} to {day(t.loc['train', 'end'])} and is tested on "
            f"what customers did from the cut-off to {day(t.loc['test', 'end'])} "
            f"({test_span:.3g} days); the validation window for tuning is the last "
            f"{info['valid_days']:g} days of training."
        )
    elif kind == "leave_last":
        head = (
            f"Leave-last-{info['leave_last_n']}-out: for every customer with enough history, the "
            f"latest {info['leave_last_n']} product(s) are held out for testing and the ones "
            f"before for validation."
        )
    elif kind == "random":
        head = (
            f"A per-customer random holdout: {percent(info['test_fraction'])} of each customer's products "
            f"for testing, then {percent(info['valid_fraction'])} of the rest for validation."
        )
    else:
        head = (
            f"A stratified split (by {info['stratify_by']}, seed {info['seed']}, the rule of the "
            f"released Microsoft Recommenders 1.2.1): "
            f"{percent(1 - info['test_fraction'])} of each {info['stratify_by']}'s pairs (rounded half to "
            "even) for training."
        )
    return (
        f"{head} Training holds {n_train:,} customer-product pairs, validation {n_valid:,} and test "
        f"{n_test:,}, over {info['n_customers']:,} customers and {info['n_products']:,} products."
    )


def describe_cold_start(result: SplitResult) -> str:
    """One sentence per evaluation part on cold-start customers and products."""
    cs = result.tables["cold_start"]
    out = []
    for r in cs.itertuples():
        out.append(
            f"In {r.part}, {r.cold_customers:,} of {r.customers:,} customers "
            f"({percent(r.cold_customer_share)}) and {r.cold_products:,} of {r.products:,} products "
            f"({percent(r.cold_product_share)}) have no history in {r.against}; "
            f"{percent(r.cold_pair_share)} of its pairs involve one of them, which only models with a "
            f"cold-start fallback or side features can hit."
        )
    return " ".join(out)


def summary_paragraph(ds_events: int, cleaning_table: pd.DataFrame, result: SplitResult) -> str:
    """The plain-language summary of the preprocessing stage, computed from the numbers.

    Parameters
    ----------
    ds_events : int
        Events of the scrubbed dataset, before cleaning.
    cleaning_table : pandas.DataFrame
        The removal table of :func:`recnb.prep.cleaning.clean`.
    result : SplitResult
        :func:`recnb.prep.split.build_split`; its leakage checks are run again here.
    """
    info = result.info
    removed_clean = int(cleaning_table["rows"].sum())
    dens = result.tables["density"].set_index("stage")
    cold = result.tables["cold_start"].set_index("part")
    test_cold = float(cold.loc["test", "cold_customer_share"]) if "test" in cold.index else 0.0
    signal = (
        "weighted event confidences" if info["signal"] == "implicit" else "the customers' ratings"
    )
    after = dens.loc["after k-core"]
    returned = info.get("purchases_returned", {}).get("train", 0)
    when = " (returned before the cut-off)" if info["kind"] == "temporal" else ""
    before = (f"{returned:,} returned purchase(s){when}, " if returned else "") + (
        f"the bot filter {info['events_removed_bots']:,}, "
        if info.get("bot_max_events_per_day", 0) > 0
        else ""
    )
    return (
        f"Of {ds_events:,} events, cleaning removed {removed_clean:,} "
        f"({percent(removed_clean / max(ds_events, 1))}). From training went {before}and the k-core "
        f"filter {info['events_removed_kcore']:,}, all decided on the training part's own events, "
        f"so no test-period event decides what is trained on. {info['events_used']:,} events "
        f"remain, turned into {signal}; training covers {int(after['customers']):,} customers and "
        f"{int(after['products']):,} products (density {100 * float(after['density']):.3g}%). "
        + describe_split(result)
        + f" {percent(test_cold)} of the test customers are new (no training history). "
        + _describe_checks(
            check_split(result.parts),
            info["kind"] != "temporal" or bool(info.get("drop_seen_in_test")),
        )
    )


def _describe_checks(problems: list[str], disjoint: bool) -> str:
    if problems:
        return "LEAKAGE CHECKS FAILED: " + "; ".join(problems) + "."
    pairs = "validation and test share no pair, " if disjoint else ""
    return (
        "Every leakage check passed: training and test are separated as the split kind promises, "
        f"{pairs}and features come from the training part only."
    )
