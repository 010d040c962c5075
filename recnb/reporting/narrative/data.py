"""The sentences of the data-understanding report (stage 01), computed from its tables.

Each function reads a table of :mod:`recnb.data.explore` and says what a reader should take from
it: how the funnel narrows, how concentrated activity is, the ratings, devices and sessions, and a
one-paragraph summary of the whole dataset.
"""

from __future__ import annotations

import pandas as pd

from recnb.data.explore import funnel, head_share, long_tail, overview
from recnb.data.schema import Dataset
from recnb.metrics import gini

__all__ = [
    "describe_devices",
    "describe_funnel",
    "describe_long_tail",
    "describe_ratings",
    "describe_sessions",
    "summary_paragraph",
]


def describe_funnel(f: pd.DataFrame) -> str:
    """What the funnel of :func:`recnb.data.explore.funnel` says about the signals."""
    by = dict(zip(f["event"], f["events"], strict=True))
    if "view" in by and "purchase" in by and by["view"]:
        rate = 100 * by["purchase"] / by["view"]
        return (
            f"Out of every 100 product views, {rate:.1f} end in a purchase; each later step of the "
            f"funnel is rarer than the one before, so purchase signals are scarce and views plentiful."
        )
    if "purchase" in by and len(by) == 1:
        return (
            "This source records purchases only: there is no browsing funnel, and every signal a "
            "model learns from is a purchase."
        )
    if "rating" in by and len(by) == 1:
        return "This source records explicit ratings only: there is no browsing funnel."
    return "Event counts per type: " + ", ".join(f"{k} {v:,}" for k, v in by.items()) + "."


def describe_long_tail(tail: pd.DataFrame, what: str = "products") -> str:
    """How concentrated activity is: the top 20% share and the Gini coefficient
    (:func:`recnb.metrics.gini`) of a :func:`recnb.data.explore.long_tail` table."""
    share = head_share(tail, 0.2)
    g = gini(tail["events"].to_numpy())
    return (
        f"The most active 20% of {what} account for {100 * share:.0f}% of all events "
        f"(Gini {g:.2f}, where 0 means every one of them is equally active). "
        + (
            "A model that only recommends the head would look accurate while ignoring most of the "
            "catalogue, so beyond-accuracy metrics (coverage, novelty) matter in later stages."
            if share > 0.5 and what == "products"
            else ""
        )
    )


def summary_paragraph(ds: Dataset) -> str:
    """The stakeholder summary of notebook 01, computed from the data."""
    table = overview(ds)
    ov = dict(zip(table["measure"], table["value"], strict=True))
    f = funnel(ds)
    tail = long_tail(ds, "product_id")
    text = (
        f"The **{ds.name}** data holds {ov['customers']:,} customers, {ov['products']:,} products "
        f"and {ov['events']:,} events over {ov['days covered']} days; only "
        f"{100 * ov['density of customer x product matrix']:.3g}% of possible customer-product "
        f"pairs have any interaction. "
    )
    text += describe_funnel(f) + " "
    text += (
        f"Activity is concentrated: the top 20% of products take {100 * head_share(tail):.0f}% "
        f"of events."
    )
    return text


def describe_ratings(ratings: pd.DataFrame) -> str:
    """How many ratings, and their mean, from :func:`recnb.data.explore.ratings`."""
    n = ratings["events"].sum()
    mean = (ratings["rating"] * ratings["events"]).sum() / n
    return f"{n:,} ratings, mean {mean:.2f}."


def describe_devices(shares: pd.Series) -> str:
    """Each device's share of events, from :func:`recnb.data.explore.device_shares`."""
    return (
        "Device shares of events: "
        + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
        + "."
    )


def describe_sessions(summary: pd.DataFrame) -> str:
    """Sessions, median length and the 90th percentile, from
    :func:`recnb.data.explore.session_summary`."""
    q = summary.set_index("index")
    return (
        f"{int(q.loc['count', 'events']):,} sessions; median {q.loc['50%', 'events']:.0f} events "
        f"and {q.loc['50%', 'minutes']:.1f} minutes, 90th percentile "
        f"{q.loc['90%', 'events']:.0f} events."
    )
