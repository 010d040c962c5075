"""The arrival process of the synthetic shop: which customers visit on which day, when and how.

Each day has its own random stream (seeded from the config seed and the day), so a day's visits do
not depend on the window length, the horizon or any other day. On day ``d`` every customer who has
signed up (``signup_day <= d``) visits ``Poisson(activity / 30 * weekday factor)`` times; weekends
are busier (factor 1.3 against 1, normalised so a week averages 1). Each visit has:

- a part of the day: the customer's preferred one with ``home_daypart_share``, otherwise drawn from
  ``daypart_mix``; an hour uniform inside it and a second inside the hour;
- a device and a location (region): the customer's home ones with ``home_device_share`` /
  ``home_region_share``, otherwise drawn from the mixes;
- a number of list pages for the organic log (geometric with mean ``pages_per_session``).

The same per-customer mixes define "no context" everywhere in the ground-truth API: an unknown
context is the expectation over the customer's own mix (:func:`recnb.data.synthetic.response.own_mix`).
"""

from __future__ import annotations

import numpy as np

from recnb.data.synthetic.config import DAYPART_HOURS, DAYPARTS
from recnb.data.synthetic.world import World

WEEKEND_BOOST = 1.3
VISIT_STREAM = 1002  # seed-sequence key of the visits, apart from the world's streams
DAYPART_START = np.array([DAYPART_HOURS[d][0] for d in DAYPARTS])
DAYPART_WIDTH = np.array([DAYPART_HOURS[d][1] - DAYPART_HOURS[d][0] for d in DAYPARTS])


def weekday_factor(world: World, day: np.ndarray) -> np.ndarray:
    """Relative visit rate of each day (weekends busier; a week averages 1)."""
    weekday = (world.config.start.dayofweek + np.asarray(day, dtype=np.int64)) % 7
    mean = (5 + 2 * WEEKEND_BOOST) / 7
    return np.where(weekday >= 5, WEEKEND_BOOST, 1.0) / mean


def active_customers(world: World, day: int) -> np.ndarray:
    """Population indices of the customers signed up by ``day``."""
    return np.flatnonzero(world.c_signup_day <= day)


def expected_visits(world: World, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Customers signed up by ``day`` and their expected number of visits that day."""
    c = active_customers(world, day)
    return c, world.c_activity[c] / 30.0 * weekday_factor(world, np.array([day]))[0]


def _mixed(
    rng: np.random.Generator, home: np.ndarray, share: float, weights: np.ndarray
) -> np.ndarray:
    """The home value with probability ``share``, else a draw from the mix (marginal = the mix)."""
    n = len(home)
    drawn = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return np.where(rng.random(n) < share, home, drawn).astype(np.int16)


def sample_context(world: World, rng: np.random.Generator, c: np.ndarray) -> dict[str, np.ndarray]:
    """Draw a visit context for each customer index from the customer's own mix.

    Returns ``daypart``, ``hour``, ``second`` (of the day), ``device`` and ``region`` arrays.
    """
    cfg = world.config
    daypart = _mixed(rng, world.c_daypart[c], cfg.home_daypart_share, world.daypart_weights)
    hour = DAYPART_START[daypart] + np.floor(rng.random(len(c)) * DAYPART_WIDTH[daypart]).astype(
        np.int64
    )
    second = hour * 3600 + rng.integers(0, 3600, size=len(c))
    device = _mixed(rng, world.c_device[c], cfg.home_device_share, world.device_weights)
    region = _mixed(rng, world.c_region[c], cfg.home_region_share, world.region_weights)
    return {
        "daypart": daypart,
        "hour": hour.astype(np.int64),
        "second": second.astype(np.int64),
        "device": device,
        "region": region,
    }


def draw_visits(world: World, day: int) -> dict[str, np.ndarray]:
    """All visits of one day, ordered by start time (then customer).

    Returns arrays ``customer``, ``day``, ``daypart``, ``hour``, ``start_second`` (seconds since
    day 0), ``device``, ``region`` and ``pages``.
    """
    cfg = world.config
    if not 0 <= day < cfg.horizon:
        raise ValueError(
            f"visits: day {day} is outside the world's days 0..{cfg.horizon - 1} "
            f"(raise ShopConfig.horizon_days to simulate later days)"
        )
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(VISIT_STREAM, day)))
    active, rate = expected_visits(world, day)
    counts = rng.poisson(rate)
    c = np.repeat(active, counts).astype(np.int64)
    ctx = sample_context(world, rng, c)
    pages = rng.geometric(1.0 / cfg.pages_per_session, size=len(c)).astype(np.int32)
    start = day * 86_400 + ctx["second"]
    order = np.lexsort((c, start))
    return {
        "customer": c[order],
        "day": np.full(len(c), day, dtype=np.int64),
        "daypart": ctx["daypart"][order],
        "hour": ctx["hour"][order],
        "start_second": start[order],
        "device": ctx["device"][order],
        "region": ctx["region"][order],
        "pages": pages[order],
    }


def visit_ids(day: int, n: int) -> np.ndarray:
    """Ids of a day's visits, ``S<day>-<number>`` (e.g. ``S0012-00003``); log session ids too."""
    return np.array([f"S{day:04d}-{i + 1:05d}" for i in range(n)], dtype=object)
