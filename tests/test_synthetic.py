"""Tests of the synthetic shop: realism of the log, determinism, and the ground-truth API."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from recnb.data.schema import EVENT_TYPES, PERSONAL_COLUMNS, validate_dataset
from recnb.data.synthetic import (
    DAYPARTS,
    PurchaseHistory,
    RankingPolicy,
    ShopConfig,
    SyntheticShop,
    make_shop,
    plackett_luce_positions,
)
from recnb.data.synthetic import response as truth

SMALL = {"n_customers": 800, "n_products": 300, "n_days": 30, "seed": 11}


@pytest.fixture(scope="module")
def small():
    """A small shop and its log, built once for the module."""
    return make_shop(**SMALL)


@pytest.fixture(scope="module")
def shop(small):
    return small[0]


@pytest.fixture(scope="module")
def ds(small):
    return small[1]


def _session_starts(ds) -> pd.DataFrame:
    ev = ds.events[ds.events["session_id"].notna()]
    return ev.sort_values("timestamp", kind="stable").groupby("session_id", observed=True).first()


def _ids(series: pd.Series) -> np.ndarray:
    return series.astype(str).to_numpy()


# ---- shape and validity ---------------------------------------------------------------------


def test_dataset_is_valid_and_observable_only(shop, ds):
    again = validate_dataset(ds)
    # the base plus the sign-ups and launches of the window
    n_customers = int((shop.customers["signup_day"] < SMALL["n_days"]).sum())
    n_products = int((shop.products["launch_day"] < SMALL["n_days"]).sum())
    assert n_customers > 800 and n_products > 300
    assert [len(again.table(t)) for t in ("customers", "products", "events")] == [
        n_customers,
        n_products,
        len(ds.events),
    ]
    assert set(ds.customers.columns) == {
        "customer_id", "age_band", "gender", "region", "device", "signup_date",
        "name", "email", "phone", "address", "postcode", "age",
    }  # fmt: skip
    assert set(PERSONAL_COLUMNS) <= set(ds.customers.columns)
    assert set(ds.products.columns) == {
        "product_id", "title", "category", "brand", "price", "avg_rating", "rating_count",
        "description",
    }  # fmt: skip
    latent = {"activity", "price_sensitivity", "preferred_daypart", "signup_day", "underserved"}
    assert latent <= set(shop.customers.columns)
    assert {
        "quality", "appeal", "launch_day", "relative_price", "consumable", "repurchase_days"
    } <= set(shop.products.columns)  # fmt: skip
    assert set(ds.events["event"].unique()) == set(EVENT_TYPES)
    assert ds.meta["seed"] == SMALL["seed"] and ds.name == "synthetic"


def test_events_reference_only_known_ids(ds):
    assert set(_ids(ds.events["customer_id"])) <= set(ds.customers["customer_id"])
    assert set(_ids(ds.events["product_id"])) <= set(ds.products["product_id"])


def test_categories_have_two_levels_and_emails_are_reserved_domains(ds):
    parts = ds.products["category"].str.split("/")
    assert (parts.str.len() == 2).all()
    assert ds.customers["email"].str.match(r"^[a-z]+\.[a-z]+\d+@example\.(com|org|net)$").all()
    assert ds.customers["customer_id"].is_unique and ds.products["product_id"].is_unique


def test_event_columns_carry_the_right_values(ds):
    ev = ds.events
    buy = ev["event"] == "purchase"
    rate = ev["event"] == "rating"
    assert (ev.loc[buy, "price_paid"] > 0).all() and ev.loc[~buy, "price_paid"].isna().all()
    assert (ev.loc[buy, "value"] >= 1).all() and (ev.loc[buy, "value"] % 1 == 0).all()
    assert ev.loc[rate, "value"].isin([1, 2, 3, 4, 5]).all()
    assert ev.loc[~(buy | rate), "value"].isna().all()
    dwell = ev["event"].isin(["view", "click"])
    assert (ev.loc[dwell, "dwell_seconds"] > 0).all() and ev.loc[
        ~dwell, "dwell_seconds"
    ].isna().all()
    # reading a product page takes longer than glancing at a tile
    assert ev.loc[ev["event"] == "click", "dwell_seconds"].median() > 5 * (
        ev.loc[ev["event"] == "view", "dwell_seconds"].median()
    )
    assert ev.loc[rate, "session_id"].isna().all() and ev.loc[~rate, "session_id"].notna().all()
    start = pd.Timestamp("2026-01-01")
    assert ev["timestamp"].min() >= start
    assert ev.loc[rate, "timestamp"].max() < start + pd.Timedelta(days=SMALL["n_days"])


def test_funnel_steps_follow_each_other(ds):
    ev = ds.events
    keys = ["session_id", "product_id"]

    def pairs(kind: str) -> set:
        sub = ev[ev["event"] == kind]
        return set(zip(sub["session_id"], _ids(sub["product_id"]), strict=True))

    view, click, cart, wish, buy = (
        pairs(k) for k in ("view", "click", "add_to_cart", "wishlist", "purchase")
    )
    assert click <= view and cart <= click and wish <= click and buy <= cart
    # every rating follows a purchase of the same product by the same customer
    bought = (
        ev[ev["event"] == "purchase"]
        .groupby(["customer_id", "product_id"], observed=True)["timestamp"]
        .min()
    )
    rated = ev[ev["event"] == "rating"].set_index(["customer_id", "product_id"])["timestamp"]
    assert (rated.to_numpy() > bought.reindex(rated.index).to_numpy()).all()
    # a product is shown once per session; a customer rates a product once
    assert not ev[ev["session_id"].notna()].duplicated(keys + ["event"]).any()
    assert not ev[ev["event"] == "rating"].duplicated(["customer_id", "product_id"]).any()


def test_no_event_before_signup_or_launch(shop, ds):
    ev = ds.events
    signup = shop.customers.set_index("customer_id")["signup_date"]
    assert (ev["timestamp"].to_numpy() >= signup.reindex(_ids(ev["customer_id"])).to_numpy()).all()
    launch = shop.products.set_index("product_id")["launch_day"]
    day = (ev["timestamp"] - pd.Timestamp("2026-01-01")).dt.days.to_numpy()
    assert (day >= launch.reindex(_ids(ev["product_id"])).to_numpy()).all()


# ---- realism ------------------------------------------------------------------------------


def test_funnel_rates_fall_from_view_to_purchase(ds):
    counts = ds.events["event"].value_counts()
    view, click, cart, buy = (counts[k] for k in ("view", "click", "add_to_cart", "purchase"))
    assert view > click > cart > buy > 0
    assert 0.05 < click / view < 0.3  # product-page opens per examined tile
    assert 0.005 < buy / view < 0.05  # conversion per view, in the range of real shops
    assert counts["wishlist"] < click


def test_top_fifth_of_products_takes_most_events(ds):
    per_product = (
        ds.events["product_id"].value_counts().reindex(ds.products["product_id"], fill_value=0)
    )
    top = np.sort(per_product.to_numpy())[::-1]
    assert top[: len(top) // 5].sum() / top.sum() > 0.55


def test_customer_activity_is_long_tailed(ds):
    per_customer = (
        ds.events["customer_id"].value_counts().reindex(ds.customers["customer_id"], fill_value=0)
    )
    top = np.sort(per_customer.to_numpy())[::-1]
    assert top[: len(top) // 10].sum() / top.sum() > 0.35
    assert (top == 0).any()  # some customers never shop in the window


def test_purchase_rate_rises_with_true_utility(shop, ds):
    ev = ds.events
    views = ev[ev["event"] == "view"]
    context, day = shop.event_context(views)
    u = shop.true_utility(_ids(views["customer_id"]), _ids(views["product_id"]), context, day)
    buys = ev[ev["event"] == "purchase"]
    bought = pd.MultiIndex.from_arrays([buys["session_id"], _ids(buys["product_id"])])
    was_bought = pd.MultiIndex.from_arrays([views["session_id"], _ids(views["product_id"])]).isin(
        bought
    )
    rate = pd.Series(was_bought).groupby(pd.qcut(u, 5, labels=False)).mean().to_numpy()
    assert np.all(np.diff(rate) >= 0) and rate[-1] > 10 * max(rate[0], 1e-3)


def test_log_follows_the_response_model(shop, ds):
    """Observed click rate of views matches the model's P(click | examined) for those views."""
    ev = ds.events
    views = ev[ev["event"] == "view"]
    context, day = shop.event_context(views)
    # a one-item list: position 1 is always examined, so p_click is P(click | examined)
    probs = shop.response_probabilities(
        _ids(views["customer_id"]), _ids(views["product_id"])[:, None], context, day,
        history=ds.events,
    )  # fmt: skip
    assert (probs["p_examine"] == 1.0).all()
    clicks = ev[ev["event"] == "click"]
    clicked = pd.MultiIndex.from_arrays([views["session_id"], _ids(views["product_id"])]).isin(
        pd.MultiIndex.from_arrays([clicks["session_id"], _ids(clicks["product_id"])])
    )
    expected = probs["p_click"].to_numpy()
    se = np.sqrt((expected * (1 - expected)).sum()) / len(expected)
    assert abs(clicked.mean() - expected.mean()) < 4 * se


def test_configured_device_and_daypart_mix_appear(ds):
    starts = _session_starts(ds)
    n = len(starts)
    assert n > 800
    tol = 4 * np.sqrt(0.25 / n)
    device = starts["device"].value_counts(normalize=True)
    for name, share in ShopConfig().device_mix.items():
        assert abs(device[name] - share) < tol, (name, device[name], share)
    hour = starts["timestamp"].dt.hour
    part = pd.Series(np.array(DAYPARTS)[hour.to_numpy() // 6]).value_counts(normalize=True)
    for name, share in ShopConfig().daypart_mix.items():
        assert abs(part[name] - share) < tol, (name, part[name], share)


def test_custom_device_mix_is_honoured():
    mix = {"mobile": 0.2, "desktop": 0.7, "smart_tv": 0.1}
    _, ds = make_shop(n_customers=600, n_products=200, n_days=20, seed=3, device_mix=mix)
    starts = _session_starts(ds)
    device = starts["device"].value_counts(normalize=True)
    tol = 4 * np.sqrt(0.25 / len(starts))
    assert set(ds.customers["device"].cat.categories) == set(mix)
    for name, share in mix.items():
        assert abs(device[name] - share) < tol


def test_descriptions_carry_category_signal(ds):
    top = ds.products["category"].str.split("/").str[0]
    text = ds.products["description"]
    assert all(b in d for b, d in zip(ds.products["brand"], text, strict=True))
    x = TfidfVectorizer().fit_transform(text)
    train = np.arange(len(text)) % 3 != 0
    clf = LogisticRegression(max_iter=500).fit(x[train], top[train])
    assert clf.score(x[~train], top[~train]) > 0.9


def test_ratings_and_prices_follow_latent_quality(shop, ds):
    truth = shop.products.set_index("product_id")
    rated = ds.products.dropna(subset=["avg_rating"]).set_index("product_id")
    corr = rated["avg_rating"].corr(truth.loc[rated.index, "quality"], method="spearman")
    assert corr > 0.6
    assert (ds.products["price"] > 0).all()
    # prices differ by category: laptops cost more than snacks
    median = ds.products.groupby(ds.products["category"].str.split("/").str[0])["price"].median()
    assert median["electronics"] > 3 * median["grocery"]
    brand_share = ds.products["brand"].value_counts(normalize=True).to_numpy()
    assert brand_share[:5].sum() > 0.2  # a few large brands, many small ones


# ---- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_other_seed_differs(ds):
    _, again = make_shop(**SMALL)
    assert again.fingerprint() == ds.fingerprint()
    _, other = make_shop(**{**SMALL, "seed": SMALL["seed"] + 1})
    assert other.fingerprint() != ds.fingerprint()


def test_generate_twice_on_one_shop_is_identical(shop, ds):
    assert shop.generate().fingerprint() == ds.fingerprint()


# ---- ground-truth API ----------------------------------------------------------------------


def test_examination_falls_with_position_and_funnel_is_nested(shop):
    products = shop.products["product_id"].to_numpy()[:10]
    probs = shop.response_probabilities("C00001", products, {"device": "mobile", "hour": 21}, day=3)
    assert list(probs["position"]) == list(range(1, 11))
    assert (np.diff(probs["p_examine"]) < 0).all() and probs["p_examine"].iloc[0] == 1.0
    cfg = shop.config
    np.testing.assert_allclose(probs["p_examine"], np.arange(1, 11) ** -cfg.position_bias)
    assert (probs["p_click"] <= probs["p_examine"]).all()
    assert (probs["p_add_to_cart"] <= probs["p_click"]).all()
    assert (probs["p_wishlist"] <= probs["p_click"]).all()
    assert (probs["p_purchase"] <= probs["p_add_to_cart"]).all()
    u = shop.true_utility("C00001", products, {"device": "mobile", "hour": 21}, day=3)
    np.testing.assert_allclose(probs["utility"], u)


def test_purchase_probability_rises_with_utility_at_a_fixed_position(shop):
    products = shop.products["product_id"].to_numpy()
    customers = np.repeat(shop.customers["customer_id"].to_numpy()[:50], 20)
    items = np.tile(products[:20], 50)
    ctx = {"device": "desktop", "hour": 12, "location": shop.regions[0]}
    probs = shop.response_probabilities(customers, items[:, None], ctx, day=5)
    order = np.argsort(probs["utility"].to_numpy())
    assert (np.diff(probs["p_purchase"].to_numpy()[order]) >= 0).all()
    assert (np.diff(probs["p_click"].to_numpy()[order]) >= 0).all()


def test_simulated_response_matches_probabilities(shop):
    products = shop.products["product_id"].to_numpy()[:8]
    n = 20_000
    lists = np.tile(products, (n, 1))
    ctx = {"device": "desktop", "hour": 20, "location": shop.regions[0]}
    sim = shop.simulate_response("C00002", lists, ctx, day=4, rng=np.random.default_rng(5))
    probs = shop.response_probabilities("C00002", products, ctx, day=4).set_index("position")
    for event, col in (
        ("view", "p_examine"),
        ("click", "p_click"),
        ("add_to_cart", "p_add_to_cart"),
    ):
        rate = (
            sim[sim["event"] == event]["position"].value_counts().reindex(probs.index, fill_value=0)
        ) / n
        p = probs[col]
        se = np.sqrt(p * (1 - p) / n)
        assert (np.abs(rate - p) < 4 * se + 1e-12).all(), event
    dwell = sim.groupby("position")["dwell_seconds"].sum() / n
    ok = np.abs(dwell - probs["expected_dwell_seconds"]) < 0.1 * probs["expected_dwell_seconds"]
    assert ok.all()
    assert set(sim["event"].unique()) <= set(EVENT_TYPES) - {"rating"}


def test_simulate_response_is_reproducible(shop):
    products = shop.products["product_id"].to_numpy()[:5]
    a = shop.simulate_response("C00003", products, rng=7)
    b = shop.simulate_response("C00003", products, rng=7)
    pd.testing.assert_frame_equal(a, b)


def test_true_utility_broadcasts(shop):
    customers = shop.customers["customer_id"].to_numpy()[:4]
    products = shop.products["product_id"].to_numpy()[:6]
    block = shop.true_utility(customers[:, None], products[None, :], {"device": "tablet"}, day=2)
    assert block.shape == (4, 6)
    pair = shop.true_utility(
        np.repeat(customers, 6), np.tile(products, 4), {"device": "tablet"}, day=2
    )
    np.testing.assert_allclose(block.ravel(), pair)
    assert np.ndim(shop.true_utility(customers[0], products[0])) == 0


def _mix(shop, customer: str) -> dict[str, pd.Series]:
    mix = shop.context_mix(customer)
    return {
        dim: mix[mix["dimension"] == dim].set_index("value")["probability"]
        for dim in ("device", "daypart", "location")
    }


def test_missing_context_is_the_customers_own_mix_average(shop):
    c, p = "C00010", shop.products["product_id"].to_numpy()[:20]
    mix = _mix(shop, c)
    # no device: the average over the customer's own device mix
    part = {"hour": 12, "location": "north"}
    avg = sum(w * shop.true_utility(c, p, {"device": d, **part}) for d, w in mix["device"].items())
    np.testing.assert_allclose(shop.true_utility(c, p, part), avg, atol=1e-9)
    # nothing known: the average over every combination (the dimensions are independent)
    full = sum(
        wd * wt * wr * shop.true_utility(c, p, {"device": d, "daypart": t, "location": r})
        for d, wd in mix["device"].items()
        for t, wt in mix["daypart"].items()
        for r, wr in mix["location"].items()
    )
    np.testing.assert_allclose(shop.true_utility(c, p), full, atol=1e-9)
    # the customer's own mix leans to the home device, unlike the population mix
    home = shop.customers.set_index("customer_id").loc[c, "device"]
    cfg = shop.config
    assert mix["device"][home] == pytest.approx(
        cfg.home_device_share + (1 - cfg.home_device_share) * cfg.device_mix[home]
    )
    for dim in mix.values():
        assert dim.sum() == pytest.approx(1.0)
    by_device = np.array([shop.true_utility(c, p, {"device": d}) for d in cfg.device_mix])
    assert np.ptp(by_device, axis=0).max() > 0.05  # the device matters


def test_missing_context_in_responses_is_the_exact_expectation(shop):
    """Probabilities are not linear in utility: no context averages them, not the utility."""
    c, p = "C00020", shop.products["product_id"].to_numpy()[:6]
    mix = _mix(shop, c)
    cols = ["utility", "p_click", "p_purchase", "expected_revenue", "expected_dwell_seconds"]
    for given in ({}, {"device": "tablet"}, {"hour": 3, "location": "east"}):
        expected = 0.0
        for d, wd in mix["device"].items():
            for t, wt in mix["daypart"].items():
                for r, wr in mix["location"].items():
                    ctx = {"device": d, "daypart": t, "location": r}
                    w = wd * wt * wr
                    if "device" in given:
                        w = w / wd if d == given["device"] else 0.0
                    if "hour" in given:
                        ok = t == "night" and r == given["location"]
                        w = w / (wt * wr) if ok else 0.0
                    if w:
                        probs = shop.response_probabilities(c, p, ctx, day=3)
                        expected = expected + w * probs[cols].to_numpy()
        got = shop.response_probabilities(c, p, given or None, day=3)[cols].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_simulated_response_without_context_draws_from_the_own_mix(shop):
    products = shop.products["product_id"].to_numpy()[:5]
    n = 40_000
    sim = shop.simulate_response("C00030", np.tile(products, (n, 1)), day=4, rng=3)
    probs = shop.response_probabilities("C00030", products, day=4).set_index("position")
    rate = (
        sim[sim["event"] == "click"]["position"].value_counts().reindex(probs.index, fill_value=0)
    )
    p = probs["p_click"]
    se = np.sqrt(p * (1 - p) / n)
    assert (np.abs(rate / n - p) < 4 * se).all()


def test_context_and_trends_change_utility(shop):
    c = shop.customers["customer_id"].to_numpy()[:30]
    p = shop.products["product_id"].to_numpy()[:30]
    base = shop.true_utility(c, p)
    assert (
        np.abs(shop.true_utility(c, p, {"hour": 3}) - shop.true_utility(c, p, {"hour": 20})).max()
        > 0.05
    )
    assert np.abs(shop.true_utility(c, p, {"location": shop.regions[0]}) - base).max() > 0.05
    early, late = shop.true_utility(c, p, day=0), shop.true_utility(c, p, day=29)
    assert np.abs(late - early).max() > 0.1  # trends drift over the window
    assert np.isfinite(base).all()


def test_new_products_get_a_novelty_boost(shop):
    truth = shop.products
    new = truth[truth["launch_day"] > 0]
    assert len(new) > 10
    c = np.full(len(new), "C00001")
    at_launch = shop.true_utility(c, new["product_id"], day=new["launch_day"])
    day_before = shop.true_utility(c, new["product_id"], day=new["launch_day"] - 1)
    month_later = shop.true_utility(c, new["product_id"], day=new["launch_day"] + 30)
    assert (at_launch - day_before > 1.0).all()
    assert np.median(at_launch - month_later) > 1.0


def test_ground_truth_api_rejects_bad_input(shop):
    with pytest.raises(KeyError, match="unknown customer id"):
        shop.true_utility(["nobody"], ["P00001"])
    with pytest.raises(KeyError, match="unknown product id"):
        shop.response_probabilities("C00001", ["P00001", "nothing"])
    with pytest.raises(ValueError, match="unknown key"):
        shop.true_utility("C00001", "P00001", {"weather": "rain"})
    with pytest.raises(ValueError, match="smart_fridge"):
        shop.true_utility("C00001", "P00001", {"device": "smart_fridge"})
    with pytest.raises(ValueError, match="0-23"):
        shop.true_utility("C00001", "P00001", {"hour": 24})
    with pytest.raises(ValueError, match="more than once"):
        shop.response_probabilities("C00001", ["P00001", "P00001"])


# ---- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 0}, r"n_customers: must be >= 1, got 0"),
        ({"n_products": 2.5}, r"n_products: expected an integer, got 2\.5"),
        ({"n_days": True}, r"n_days: expected an integer, got True"),
        ({"seed": -1}, r"seed: must be >= 0, got -1"),
        ({"start_date": "2026-13-01"}, r"start_date: '2026-13-01'"),
        (
            {"device_mix": {"mobile": 0.6, "desktop": 0.3}},
            r"device_mix: shares must sum to 1, got 0\.9",
        ),
        (
            {"daypart_mix": {"dawn": 0.5, "evening": 0.5}},
            r"daypart_mix: unknown part\(s\) of the day \['dawn'\]",
        ),
        (
            {"region_mix": {"north": -0.5, "south": 1.5}},
            r"region_mix\['north'\]: share must be >= 0",
        ),
        ({"position_bias": -1.0}, r"position_bias: must be in \[0\.0, 5\.0\], got -1\.0"),
        ({"rating_rate": 1.5}, r"rating_rate: must be in \[0\.0, 1\.0\], got 1\.5"),
        ({"pages_per_session": float("nan")}, r"pages_per_session: must be finite"),
        ({"page_policy": "random"}, r"page_policy: 'random' is not one of"),
        ({"n_days": 30, "horizon_days": 20}, r"horizon_days: must be >= n_days \(30\)"),
        ({"attention_budget": 0.5}, r"attention_budget: must be in \[1\.0, inf\]"),
        ({"shift_day": -1}, r"shift_day: must be >= 0"),
        ({"underserved_group": {"income": "low"}}, r"unknown attribute 'income'"),
        ({"underserved_group": {"age_band": "90+"}}, r"unknown value '90\+'"),
        ({"underserved_kind": "taste"}, r"underserved_kind: 'taste' is not one of"),
        (
            {"underserved_group": {"age_band": "65+", "gender": "male"}},
            r"expected one attribute",
        ),
    ],
)
def test_invalid_config_gives_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShopConfig(**kwargs)


def test_make_shop_rejects_unknown_settings():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['n_customer'\]; allowed are"):
        make_shop(n_customer=10)


def test_config_is_frozen_and_copies_its_mixes():
    mix = {"mobile": 0.5, "desktop": 0.5}
    cfg = ShopConfig(device_mix=mix)
    mix["mobile"] = 0.9
    assert cfg.device_mix["mobile"] == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_days = 3  # type: ignore[misc]
    assert ShopConfig(**cfg.to_dict()) == cfg
    assert hash(ShopConfig(**cfg.to_dict())) == hash(cfg)
    assert repr(SyntheticShop(ShopConfig(n_customers=5, n_products=5))).startswith("SyntheticShop(")


# ---- ranking policies and their propensities -------------------------------------------------


def _enumerate_pl(logits: np.ndarray, k: int) -> tuple[np.ndarray, dict]:
    """Brute force: every ordered choice of k items and its Plackett-Luce probability."""
    w = np.exp(logits - logits.max())
    pos = np.zeros((len(w), k))
    lists = {}
    for perm in itertools.permutations(range(len(w)), k):
        prob, left = 1.0, np.ones(len(w), dtype=bool)
        for i in perm:
            prob *= w[i] / w[left].sum()
            left[i] = False
        lists[perm] = prob
        for j, i in enumerate(perm):
            pos[i, j] += prob
    return pos, lists


@pytest.mark.parametrize(
    ("n", "k", "scale"), [(5, 5, 1.0), (6, 3, 3.0), (6, 6, 10.0), (4, 2, 0.1), (7, 4, 40.0)]
)
def test_plackett_luce_marginals_match_enumeration(n, k, scale):
    logits = np.random.default_rng(n * 10 + k).normal(0.0, scale, size=n)
    exact, _ = _enumerate_pl(logits, k)
    got = plackett_luce_positions(logits[None, :], k)[0]
    np.testing.assert_allclose(got, exact, atol=1e-8)


def test_policy_propensities_are_exact_for_every_kind():
    scores = np.array([[0.3, -1.0, 2.0, 0.5]])
    k = 2
    for policy in (
        RankingPolicy("deterministic"),
        RankingPolicy("epsilon_greedy", epsilon=0.3),
        RankingPolicy("plackett_luce", temperature=0.7),
    ):
        perms = list(itertools.permutations(range(4), k))
        ranking = np.array(perms)
        props = policy.list_propensity(np.repeat(scores, len(perms), axis=0), ranking)
        assert props.sum() == pytest.approx(1.0)  # a distribution over all ordered choices
        marg = policy.position_probabilities(scores, k)[0]
        from_lists = np.zeros((4, k))
        for perm, prob in zip(perms, props, strict=True):
            for j, i in enumerate(perm):
                from_lists[i, j] += prob
        np.testing.assert_allclose(marg, from_lists, atol=1e-8)
        items = policy.item_propensities(np.repeat(scores, len(perms), axis=0), ranking)
        np.testing.assert_allclose(items, marg[ranking, np.arange(k)], atol=1e-12)
        prefix = policy.prefix_propensities(np.repeat(scores, len(perms), axis=0), ranking)
        np.testing.assert_allclose(prefix[:, -1], props)
        first = {p[0]: q for p, q in zip(perms, prefix[:, 0], strict=True)}
        np.testing.assert_allclose([first[i] for i in range(4)], marg[:, 0], atol=1e-8)
    _, pl = _enumerate_pl(scores[0] / 0.7, k)
    pl_props = RankingPolicy("plackett_luce", temperature=0.7).list_propensity(
        np.repeat(scores, len(pl), axis=0), np.array(list(pl))
    )
    np.testing.assert_allclose(pl_props, list(pl.values()))
    eg = RankingPolicy("epsilon_greedy", epsilon=0.3)
    greedy = eg.list_propensity(scores, np.array([[2, 3]]))[0]
    assert greedy == pytest.approx(0.7 + 0.3 / 12)


def test_policy_samples_follow_their_propensities():
    rng = np.random.default_rng(0)
    scores = np.array([[0.3, -1.0, 2.0, 0.5, np.nan]] * 60_000)  # the last slot is empty
    for policy in (
        RankingPolicy("epsilon_greedy", epsilon=0.4),
        RankingPolicy("plackett_luce", temperature=1.5),
    ):
        ranking = policy.sample(scores, 3, rng)
        assert (ranking != 4).all() and (ranking >= 0).all()
        marg = policy.position_probabilities(scores[:1], 3)[0]
        for j in range(3):
            freq = np.bincount(ranking[:, j], minlength=5) / len(ranking)
            se = np.sqrt(marg[:, j] * (1 - marg[:, j]) / len(ranking))
            assert (np.abs(freq - marg[:, j]) <= 4 * se + 1e-12).all(), policy.kind
        assert marg[4].sum() == 0.0
    # short candidate lists leave empty slots
    short = RankingPolicy("plackett_luce").sample(np.array([[1.0, np.nan, 0.0]]), 3, rng)
    assert sorted(short[0].tolist()) == [-1, 0, 2] and short[0, 2] == -1


def test_ranking_policy_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        RankingPolicy("softmax")
    with pytest.raises(ValueError, match="epsilon"):
        RankingPolicy("epsilon_greedy", epsilon=1.5)
    with pytest.raises(ValueError, match="temperature"):
        RankingPolicy("plackett_luce", temperature=0.0)
    with pytest.raises(ValueError, match="2-D"):
        RankingPolicy().sample(np.zeros(3), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="empty"):
        RankingPolicy().list_propensity(np.array([[1.0, np.nan]]), np.array([[1, 0]]))


# ---- impressions of the organic log ------------------------------------------------------------


@pytest.fixture(scope="module")
def impressions(shop):
    return shop.impressions()


def test_impressions_replay_the_log(shop, ds, impressions):
    imp = impressions
    ev = ds.events[ds.events["session_id"].notna()]
    for flag, kind in (
        ("examined", "view"),
        ("clicked", "click"),
        ("added_to_cart", "add_to_cart"),
        ("wishlisted", "wishlist"),
        ("purchased", "purchase"),
    ):
        logged = ev[ev["event"] == kind]
        a = set(zip(logged["session_id"], _ids(logged["product_id"]), strict=True))
        rows = imp[imp[flag]]
        b = set(zip(rows["session_id"], rows["product_id"], strict=True))
        assert a == b, kind
    assert (
        imp.groupby("session_id")["product_id"].nunique() == imp.groupby("session_id").size()
    ).all()
    # positions are 1..length of each list, shown but not examined slots included
    g = imp.groupby("list_id")["position"]
    assert (g.min() == 1).all() and (g.max() == g.size()).all()
    assert (~imp["examined"]).any()
    assert set(imp["page_type"]) == {"category", "home", "buy_again"}


def test_event_context_and_history_reproduce_the_logs_utility(shop, ds, impressions):
    """The utility the log drew each view from, recomputed from the public API alone."""
    views = ds.events[ds.events["event"] == "view"]
    context, day = shop.event_context(views)
    u = shop.true_utility(
        _ids(views["customer_id"]), _ids(views["product_id"]), context, day, history=ds.events
    )
    logged = impressions[impressions["examined"]].set_index(["session_id", "product_id"])
    key = pd.MultiIndex.from_arrays([views["session_id"], _ids(views["product_id"])])
    np.testing.assert_allclose(u, logged.loc[key, "utility"].to_numpy(), rtol=1e-12, atol=1e-12)
    # without the history the repeat term is missing for products bought before
    plain = shop.true_utility(_ids(views["customer_id"]), _ids(views["product_id"]), context, day)
    assert (np.abs(plain - u) > 0.5).any()


def test_impressions_examination_follows_position_bias(impressions):
    imp = impressions
    by = imp.groupby("position").agg(
        rate=("examined", "mean"), p=("p_examine", "mean"), n=("examined", "size")
    )
    se = np.sqrt(by["p"] * (1 - by["p"]) / by["n"])
    assert (np.abs(by["rate"] - by["p"]) < 4 * se + 1e-9).all()
    np.testing.assert_allclose(by["p"], by.index.to_numpy(float) ** -0.8)


def test_impressions_carry_the_page_policy_propensities(shop, impressions):
    imp = impressions
    lists = imp[imp["list_id"] < 300]
    temp = shop.config.page_temperature
    for _, page in lists.groupby("list_id"):
        page = page.sort_values("position")
        logits = page["score"].to_numpy() / temp
        w = np.exp(logits - logits.max())
        steps = w / np.cumsum(w[::-1])[::-1]  # P(item j | items j.. left)
        np.testing.assert_allclose(page["prefix_propensity"], np.cumprod(steps), rtol=1e-9)
        assert page["list_propensity"].iloc[0] == pytest.approx(np.prod(steps), rel=1e-9)
        assert page["item_propensity"].iloc[0] == pytest.approx(steps[0], rel=1e-7)
    assert imp["item_propensity"].between(0, 1).all()
    assert (imp["item_propensity"] >= imp["prefix_propensity"] - 1e-7).all()


def test_page_policy_is_configurable():
    small = {"n_customers": 200, "n_products": 80, "n_days": 5, "seed": 5}
    det = SyntheticShop(ShopConfig(**small, page_policy="deterministic")).impressions()
    assert (det["list_propensity"] == 1.0).all() and (det["item_propensity"] == 1.0).all()
    ordered = det.groupby("list_id")["score"].apply(
        lambda x: bool((np.diff(x.to_numpy()) <= 0).all())
    )
    assert ordered.all()
    eg = SyntheticShop(ShopConfig(**small, page_policy="epsilon_greedy", page_epsilon=0.5))
    imp = eg.impressions()
    n = imp.groupby("list_id")["position"].transform("size").to_numpy()
    uniform = 0.5 / np.array([math.factorial(int(x)) for x in n])
    greedy = 0.5 + uniform
    ok = np.isclose(imp["list_propensity"], uniform) | np.isclose(imp["list_propensity"], greedy)
    assert ok.all()
    assert np.isclose(imp["list_propensity"], uniform).any()


# ---- visits --------------------------------------------------------------------------------


def test_visits_are_the_logs_sessions_and_respect_signup(shop, ds):
    v = shop.visits(range(SMALL["n_days"]))
    starts = _session_starts(ds)
    assert set(v["visit_id"]) >= set(starts.index)
    v = v.set_index("visit_id").loc[starts.index]
    assert (v["timestamp"].to_numpy() == starts["timestamp"].to_numpy()).all()
    assert (v["device"].to_numpy() == starts["device"].astype(str).to_numpy()).all()
    assert (v["location"].to_numpy() == starts["location"].astype(str).to_numpy()).all()
    later = shop.visits([40, 41])
    signup = shop.customers.set_index("customer_id")["signup_day"]
    assert (signup.loc[later["customer_id"]].to_numpy() <= later["day"].to_numpy()).all()
    pd.testing.assert_frame_equal(later, shop.visits([40, 41]))
    with pytest.raises(ValueError, match="horizon_days"):
        shop.visits(shop.config.horizon)


def test_visit_rate_follows_activity_and_context_follows_the_own_mix():
    shop = SyntheticShop(ShopConfig(n_customers=400, n_products=50, n_days=5, seed=2))
    days = range(10, 150)
    v = shop.visits(days)
    expected = sum(shop.expected_traffic(d)["weight"].sum() for d in days)
    assert abs(len(v) - expected) < 4 * np.sqrt(expected)
    # heavier customers visit more: the count follows each customer's activity
    per = v["customer_id"].value_counts()
    act = shop.customers.set_index("customer_id")["activity"].reindex(per.index)
    assert np.corrcoef(per.to_numpy(), act.to_numpy())[0, 1] > 0.8
    # the home device share matches the customer's own mix
    cust = shop.customers.set_index("customer_id")
    home = v["device"].to_numpy() == cust.loc[v["customer_id"], "device"].astype(str).to_numpy()
    cfg = shop.config
    mix = np.array([cfg.device_mix[d] for d in cust.loc[v["customer_id"], "device"].astype(str)])
    p = (cfg.home_device_share + (1 - cfg.home_device_share) * mix).mean()
    assert abs(home.mean() - p) < 4 * np.sqrt(p * (1 - p) / len(v))


# ---- dates ---------------------------------------------------------------------------------


def test_products_respond_only_after_launch_and_customers_after_signup(shop):
    truth_p = shop.products
    new = truth_p[truth_p["launch_day"] > 5].iloc[0]
    old = truth_p[truth_p["launch_day"] < 0].iloc[0]
    ids = [new["product_id"], old["product_id"]]
    ctx = {"device": "mobile", "hour": 20, "location": "north"}
    before = shop.response_probabilities("C00001", ids, ctx, day=new["launch_day"] - 1)
    assert before["available"].tolist() == [False, True]
    assert before.loc[0, ["p_click", "p_purchase", "expected_revenue"]].eq(0).all()
    assert before.loc[0, "p_examine"] == 1.0  # the slot is still looked at
    on = shop.response_probabilities("C00001", ids, ctx, day=new["launch_day"])
    assert on["available"].all() and on.loc[0, "p_purchase"] > 0
    sim = shop.simulate_response(
        "C00001", np.tile(ids, (3000, 1)), ctx, day=new["launch_day"] - 1, rng=1
    )
    assert not ((sim["product_id"] == ids[0]) & (sim["event"] != "view")).any()
    late = shop.customers[shop.customers["signup_day"] > 3].iloc[0]
    with pytest.raises(ValueError, match="signs up on day"):
        shop.response_probabilities(late["customer_id"], ids, ctx, day=late["signup_day"] - 1)
    shop.response_probabilities(late["customer_id"], ids, ctx, day=late["signup_day"])


# ---- money and attention ---------------------------------------------------------------------


def test_expected_revenue_is_a_column_and_matches_simulation(shop):
    products = shop.products
    cheap = products[(products["launch_day"] < 0) & (products["top_category"] == "grocery")]
    ids = cheap["product_id"].to_numpy()[:6]
    ctx = {"device": "desktop", "hour": 20, "location": "north"}
    probs = shop.response_probabilities("C00005", ids, ctx, day=4)
    price = cheap.set_index("product_id").loc[ids, "price"].to_numpy()
    np.testing.assert_allclose(
        probs["expected_revenue"], probs["p_purchase"] * price * (1 - 0.045) * 2.0
    )  # groceries: 1 + Poisson(1) units
    n = 60_000
    sim = shop.simulate_response("C00005", np.tile(ids, (n, 1)), ctx, day=4, rng=9)
    buys = sim[sim["event"] == "purchase"]
    revenue = (buys["value"] * buys["price_paid"]).groupby(buys["list_index"]).sum()
    per_list = revenue.reindex(range(n), fill_value=0.0)
    se = per_list.std() / np.sqrt(n)
    assert abs(per_list.mean() - probs["expected_revenue"].sum()) < 4 * se


def test_ranking_by_revenue_and_by_utility_differ(shop):
    customers = shop.customers["customer_id"].to_numpy()[:40]
    pool = shop.products[shop.products["launch_day"] < 0]["product_id"].to_numpy()
    ctx = {"device": "desktop", "hour": 20, "location": "north"}
    one = shop.response_probabilities(
        np.repeat(customers, len(pool)), np.tile(pool, len(customers))[:, None], ctx, day=3
    )
    top_u = one.groupby("customer_id")["utility"].nlargest(10).index.get_level_values(1)
    top_r = one.groupby("customer_id")["expected_revenue"].nlargest(10).index.get_level_values(1)
    assert len(set(top_u) & set(top_r)) < 0.85 * len(top_u)  # different products
    by_u = one.loc[top_u].groupby("customer_id")[["p_purchase", "expected_revenue"]].sum()
    by_r = one.loc[top_r].groupby("customer_id")[["p_purchase", "expected_revenue"]].sum()
    # a trade-off: more purchases one way, more revenue the other
    assert by_r["expected_revenue"].mean() > 1.05 * by_u["expected_revenue"].mean()
    assert by_u["p_purchase"].mean() > 1.05 * by_r["p_purchase"].mean()


def test_attention_budget_gives_list_length_a_cost(shop):
    cfg = shop.config
    short = shop.examination(10)
    np.testing.assert_allclose(short, np.arange(1, 11) ** -cfg.position_bias)
    long = shop.examination(100)
    assert long.sum() == pytest.approx(cfg.attention_budget)
    assert (long[:10] < short).all()
    pool = shop.products[shop.products["launch_day"] < 0]["product_id"].to_numpy()
    ctx = {"device": "desktop", "hour": 20, "location": "north"}
    u = shop.true_utility("C00007", pool, ctx, day=3)
    order = pool[np.argsort(-u)]
    top10 = shop.response_probabilities("C00007", order[:10], ctx, day=3)
    padded = shop.response_probabilities("C00007", np.r_[order[:10], order[-90:]], ctx, day=3)
    assert padded["p_click"].sum() < top10["p_click"].sum()  # a longer list of poor items loses
    assert padded["p_examine"].sum() == pytest.approx(cfg.attention_budget)


# ---- state: what was bought changes what is wanted -----------------------------------------------


def test_purchase_history_changes_utility_and_response(shop):
    products = shop.products
    durable = products[~products["consumable"] & (products["launch_day"] < 0)].iloc[0]
    consumable = products[products["consumable"] & (products["launch_day"] < 0)].iloc[0]
    ids = [durable["product_id"], consumable["product_id"]]
    hist = shop.history(pd.DataFrame({"customer_id": "C00003", "product_id": ids, "day": 10}))
    ctx = {"device": "mobile", "hour": 20, "location": "north"}
    base = shop.true_utility("C00003", ids, ctx, day=11)
    same_day = shop.true_utility("C00003", ids, ctx, day=10, history=hist)
    np.testing.assert_allclose(same_day, shop.true_utility("C00003", ids, ctx, day=10))
    cfg = shop.config
    next_day = shop.true_utility("C00003", ids, ctx, day=11, history=hist)
    cycle = products.set_index("product_id").loc[ids, "repurchase_days"].to_numpy()
    decay = np.exp(-1 / cycle)
    np.testing.assert_allclose(
        next_day - base, -cfg.repeat_satiation * decay + [0, cfg.repeat_boost] * (1 - decay)
    )
    # a purchase counts from its moment on: an hour later it already does
    hour_later = shop.true_utility("C00003", ids, ctx, day=10 + 1 / 24, history=hist)
    assert (hour_later < same_day - 0.9 * cfg.repeat_satiation).all()
    much_later = 10 + 4 * cycle[1]
    after = shop.true_utility("C00003", ids, ctx, day=much_later, history=hist)
    fresh = shop.true_utility("C00003", ids, ctx, day=much_later)
    assert after[0] - fresh[0] < -0.8 * cfg.repeat_satiation  # a durable stays bought
    assert after[1] - fresh[1] > 0.9 * cfg.repeat_boost - 0.1 * cfg.repeat_satiation  # habit
    p_without = shop.response_probabilities("C00003", ids, ctx, day=11)["p_purchase"]
    p_with = shop.response_probabilities("C00003", ids, ctx, day=11, history=hist)["p_purchase"]
    assert (p_with < 0.2 * p_without).all()
    with pytest.raises(ValueError, match="needs a day"):
        shop.true_utility("C00003", ids, history=hist)


def test_log_history_is_the_state_at_the_end_of_the_log(shop, ds):
    buys = ds.events[ds.events["event"] == "purchase"]
    hist = shop.log_history()
    assert isinstance(hist, PurchaseHistory) and len(hist) == len(buys)
    again = shop.history(ds.events)
    np.testing.assert_array_equal(hist.customer, again.customer)
    np.testing.assert_allclose(hist.time, again.time)


def test_repeat_purchases_are_planted_on_consumables():
    kw = {"n_customers": 1500, "n_products": 300, "n_days": 60, "seed": 4}

    def repeat_share(**extra) -> tuple[float, float]:
        shop, ds = make_shop(**kw, **extra)
        buys = ds.events[ds.events["event"] == "purchase"]
        repeat = buys.duplicated(["customer_id", "product_id"]).to_numpy()
        consumable = shop.products.set_index("product_id")["consumable"]
        cons = consumable.loc[_ids(buys["product_id"])].to_numpy()
        return repeat[cons].mean(), repeat[~cons].mean()

    cons, durable = repeat_share()
    assert cons > 0.05 and durable < 0.01  # a durable just bought is not bought again
    low, _ = repeat_share(repeat_boost=0.0, buy_again_share=0.0)
    high, _ = repeat_share(repeat_boost=3.0)
    assert low < cons / 2 and high > cons


# ---- drift and the window ------------------------------------------------------------------


def test_trends_are_bounded_and_do_not_depend_on_the_window():
    a = SyntheticShop(ShopConfig(n_customers=300, n_products=100, n_days=30, seed=8))
    b = SyntheticShop(ShopConfig(n_customers=300, n_products=100, n_days=90, seed=8))
    w = a._world
    leaves = np.arange(len(w.leaves))
    days = np.arange(0, 3650, 7.0)
    t = truth.trend(w, leaves[None, :], days[:, None])
    bound = w.config.trend_strength * (np.abs(w.trend_slope) + w.trend_amplitude)
    assert (np.abs(t) <= bound[None, :] + 1e-12).all()
    spread = t.max(axis=1) - t.min(axis=1)
    assert spread[days >= 365].max() < 1.5 * spread[days < 90].max()
    c = a.customers["customer_id"].to_numpy()[:40]
    p = a.products["product_id"].to_numpy()[:40]
    for day in (0, 10, 29, 200):
        np.testing.assert_array_equal(
            a.true_utility(c[:, None], p[None, :], day=day),
            b.true_utility(c[:, None], p[None, :], day=day),
        )
    pd.testing.assert_frame_equal(a.visits(10), b.visits(10))


def test_a_shorter_window_logs_the_same_first_days():
    kw = {"n_customers": 400, "n_products": 120, "seed": 6}
    _, short = make_shop(**kw, n_days=20)
    long_shop, long = make_shop(**kw, n_days=40)
    cut = pd.Timestamp("2026-01-21")
    a = short.events[short.events["event"] != "rating"].reset_index(drop=True)
    b = long.events[(long.events["timestamp"] < cut) & (long.events["event"] != "rating")]
    b = b.reset_index(drop=True)
    for col in ("customer_id", "product_id", "event"):
        a[col], b[col] = a[col].astype(str), b[col].astype(str)
    pd.testing.assert_frame_equal(a, b)
    # so is the world with a longer horizon
    far = SyntheticShop(ShopConfig(**kw, n_days=20, horizon_days=400))
    np.testing.assert_array_equal(
        far.customers["customer_id"].to_numpy()[: len(long_shop.customers)],
        long_shop.customers["customer_id"].to_numpy(),
    )
    pd.testing.assert_frame_equal(far.visits(30), long_shop.visits(30))


def test_planted_shift_starts_on_its_day():
    kw = {"n_customers": 100, "n_products": 80, "n_days": 10, "seed": 1}
    plain = SyntheticShop(ShopConfig(**kw))
    shifted = SyntheticShop(ShopConfig(**kw, shift_day=20, shift_strength=1.5))
    c = plain.customers["customer_id"].to_numpy()[:20]
    p = plain.products["product_id"].to_numpy()[:60]
    for day in (0, 19):
        np.testing.assert_array_equal(
            plain.true_utility(c[:, None], p[None, :], day=day),
            shifted.true_utility(c[:, None], p[None, :], day=day),
        )
    diff = shifted.true_utility(c[:, None], p[None, :], day=20) - plain.true_utility(
        c[:, None], p[None, :], day=20
    )
    assert np.abs(diff).max() > 0.5
    assert np.allclose(diff, diff[0][None, :])  # a category-level step, the same for everyone


def test_event_context_of_a_rating_is_its_purchase_context(shop, ds):
    ev = ds.events
    ratings = ev[ev["event"] == "rating"]
    assert len(ratings) > 10
    ctx_r, day_r = shop.event_context(ratings)
    buys = ev[ev["event"] == "purchase"]
    once = buys.drop_duplicates(["customer_id", "product_id"], keep=False)
    merged = ratings.reset_index().merge(
        once[["customer_id", "product_id", "session_id"]], on=["customer_id", "product_id"]
    )
    rows = ratings.index.get_indexer(merged["index"])
    ctx_b, day_b = shop.event_context(
        merged.assign(event="purchase", session_id=merged["session_id_y"])
    )
    for key in ("device", "hour", "location"):
        np.testing.assert_array_equal(ctx_r[key][rows], ctx_b[key])
    np.testing.assert_array_equal(day_r[rows], day_b)
    # not simply the home device: some purchases happened away from it
    home = shop.customers.set_index("customer_id")["device"].astype(str)
    assert (ctx_r["device"] != home.loc[_ids(ratings["customer_id"])].to_numpy()).any()


# ---- the exact value of a policy -------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        None,
        RankingPolicy("epsilon_greedy", epsilon=0.4),
        RankingPolicy("plackett_luce", temperature=0.8),
    ],
)
def test_policy_value_matches_simulation(shop, policy):
    visits = shop.visits(range(30, 34))
    visits = pd.concat([visits] * 25, ignore_index=True)
    on_sale = shop.products[shop.products["launch_day"] <= 30]["product_id"].to_numpy()
    rng = np.random.default_rng(1)
    cand = np.array([rng.choice(on_sale, 12, replace=False) for _ in range(len(visits))])
    scores = rng.normal(0.0, 1.5, size=cand.shape)
    value = shop.policy_value(visits, cand, None if policy is None else scores, policy, k=6)
    sim = shop.simulate_policy(
        visits, cand, None if policy is None else scores, policy, k=6, rng=2,
        item_propensities=False,
    )  # fmt: skip
    assert len(sim) == 6 * len(visits)
    per = sim.assign(row=np.repeat(np.arange(len(visits)), 6)).groupby("row")
    for col, expected in (
        ("examined", "expected_examinations"),
        ("clicked", "expected_clicks"),
        ("purchased", "expected_purchases"),
        ("revenue", "expected_revenue"),
    ):
        x = per[col].sum().to_numpy(dtype=float)
        mu = value[expected].to_numpy()
        se = np.sqrt(np.sum((x - mu) ** 2)) / len(x)
        assert abs(x.mean() - mu.mean()) < 4 * se, col


def test_policy_value_without_context_averages_the_own_mix(shop):
    traffic = shop.expected_traffic(31).head(50)
    on_sale = shop.products[shop.products["launch_day"] <= 31]["product_id"].to_numpy()[:8]
    cand = np.tile(on_sale, (len(traffic), 1))
    value = shop.policy_value(traffic, cand)
    probs = shop.response_probabilities(traffic["customer_id"], cand, day=31)
    by_list = probs.groupby("list_index")[["p_click", "expected_revenue"]].sum()
    np.testing.assert_allclose(value["expected_clicks"], by_list["p_click"], rtol=1e-12)
    np.testing.assert_allclose(value["expected_revenue"], by_list["expected_revenue"], rtol=1e-12)
    assert "weight" in value.columns and (value["weight"] > 0).all()


def test_simulate_policy_logs_propensities_and_updates_state(shop):
    visits = shop.visits([35, 36, 37])
    on_sale = shop.products[shop.products["launch_day"] <= 35]["product_id"].to_numpy()
    rng = np.random.default_rng(4)
    cand = np.array([rng.choice(on_sale, 10, replace=False) for _ in range(len(visits))])
    scores = rng.normal(size=cand.shape)
    policy = RankingPolicy("plackett_luce", temperature=0.5)
    log = shop.simulate_policy(visits, cand, scores, policy, k=5, rng=3)
    first = log.groupby("visit_id").head(1)
    np.testing.assert_allclose(first["prefix_propensity"], first["item_propensity"], rtol=1e-7)
    ranking = log["candidate"].to_numpy().reshape(-1, 5)
    rows = pd.Index(visits["visit_id"]).get_indexer(log["visit_id"].to_numpy()[::5])
    np.testing.assert_allclose(
        log["list_propensity"].to_numpy()[::5], policy.list_propensity(scores[rows], ranking)
    )
    assert log["revenue"].ge(0).all() and (log.loc[~log["purchased"], "revenue"] == 0).all()
    state = shop.simulate_policy(visits, cand, scores, policy, k=5, rng=3, update_history=True)
    assert state["day"].is_monotonic_increasing
    hist = shop.history(state)
    assert len(hist) == int(state["purchased"].sum())


# ---- fairness and feedback plants --------------------------------------------------------------


def test_underserved_group_is_served_worse_by_popularity():
    kw = {"n_customers": 1500, "n_products": 300, "n_days": 10, "seed": 12}

    def gap(**extra) -> float:
        shop = SyntheticShop(ShopConfig(**kw, **extra))
        products = shop.products
        popular = products.sort_values("appeal", ascending=False)["product_id"].to_numpy()[:10]
        traffic = shop.expected_traffic(5)
        value = shop.policy_value(traffic, np.tile(popular, (len(traffic), 1)))
        member = (
            (shop.customers.set_index("customer_id")["age_band"] == "65+")
            .loc[traffic["customer_id"]]
            .to_numpy()
        )
        clicks = value["expected_clicks"].to_numpy()
        return clicks[~member].mean() - clicks[member].mean()

    plain = gap()
    planted = gap(
        underserved_group={"age_band": "65+"}, underserved_kind="appeal", underserved_strength=1.5
    )
    assert planted > plain + 0.05


def test_niche_plant_changes_only_the_group_and_shows_in_the_log():
    kw = {"n_customers": 3000, "n_products": 600, "n_days": 20, "seed": 21}
    group = {"underserved_group": {"age_band": "65+"}}  # underserved_kind "niche" by default
    plain, planted = SyntheticShop(ShopConfig(**kw)), SyntheticShop(ShopConfig(**kw, **group))
    w0, w1 = plain._world, planted._world
    member = w1.c_underserved
    assert member.any() and not w0.c_underserved.any()
    # nothing is drawn for the plant: every other trait and every non-member is unchanged
    np.testing.assert_array_equal(w0.c_factors, w1.c_factors)
    np.testing.assert_array_equal(w0.p_appeal, w1.p_appeal)
    np.testing.assert_array_equal(w0.c_affinity[~member], w1.c_affinity[~member])
    shift = (w1.c_affinity[member] - w0.c_affinity[member]).astype(np.float64)
    assert np.allclose(shift, shift[0], atol=1e-5)  # one shift per top category, for every member
    niche = w1.niche
    assert len(niche) == 2
    assert shift[0, niche] == pytest.approx(3.0)
    assert shift[0].mean() == pytest.approx(0.0, abs=1e-6)
    # the group's taste shows in the logged data: most of its clicks go to its niche
    ds = planted.generate()
    clicks = ds.events[ds.events["event"] == "click"]
    top = planted.products.set_index("product_id")["top_category"].reindex(clicks["product_id"])
    in_niche = top.isin([w1.tops[i] for i in niche]).to_numpy()
    is_member = (
        planted.customers.set_index("customer_id")["underserved"]
        .reindex(clicks["customer_id"])
        .to_numpy(dtype=bool)
    )
    assert in_niche[is_member].mean() > 0.5 > in_niche[~is_member].mean() + 0.3


def test_a_shop_without_the_plant_records_no_plant_kind():
    # the kind has no effect without a group: left out, so the dataset's metadata is as before
    assert "underserved_kind" not in ShopConfig().to_dict()
    cfg = ShopConfig(underserved_group={"gender": "other"}, underserved_kind="appeal")
    assert cfg.to_dict()["underserved_kind"] == "appeal"
    assert ShopConfig(**cfg.to_dict()) == cfg


def test_popularity_feedback_concentrates_exposure():
    kw = {"n_customers": 1200, "n_products": 300, "n_days": 40, "seed": 13}

    def top_share(**extra) -> float:
        _, ds = make_shop(**kw, **extra)
        views = ds.events[ds.events["event"] == "view"]["product_id"].value_counts()
        return views.iloc[:30].sum() / views.sum()

    assert top_share(popularity_feedback=1.0) > top_share() + 0.05


def test_context_effects_are_planted_where_configured():
    shop = SyntheticShop(ShopConfig(n_customers=50, n_products=40, n_days=5, location_strength=0.0))
    eff = shop.context_effects
    assert (eff.loc[eff["dimension"] == "location", "effect"] == 0).all()
    assert eff.loc[eff["dimension"] == "device", "effect"].abs().max() > 0.1
    c, p = shop.customers["customer_id"].to_numpy()[:5], shop.products["product_id"].to_numpy()[:5]
    np.testing.assert_array_equal(
        shop.true_utility(c, p, {"location": "north"}),
        shop.true_utility(c, p, {"location": "west"}),
    )


def test_novelty_seeking_customers_turn_against_popular_products():
    kw = {"n_customers": 600, "n_products": 300, "n_days": 10, "seed": 14}

    def popular_minus_median(**extra) -> float:
        shop = SyntheticShop(ShopConfig(**kw, **extra))
        order = shop.products.sort_values("appeal", ascending=False)["product_id"].to_numpy()
        traffic = shop.expected_traffic(5)
        n = len(traffic)
        popular = shop.policy_value(traffic, np.tile(order[:10], (n, 1)))["expected_clicks"]
        middle = shop.policy_value(traffic, np.tile(order[145:155], (n, 1)))["expected_clicks"]
        return float(popular.mean() - middle.mean())

    assert popular_minus_median() > 0
    assert popular_minus_median(novelty_seeking=1.5) < 0


def test_policy_value_handles_short_candidate_lists(shop):
    visits = shop.visits(31).head(20)
    on_sale = shop.products[shop.products["launch_day"] <= 31]["product_id"].to_numpy()
    cand = np.tile(on_sale[:8].astype(object), (len(visits), 1))
    cand[::2, 5:] = None  # every other visit has only five candidates
    value = shop.policy_value(visits, cand, k=8)
    ctx = {key: visits[key].to_numpy() for key in ("device", "hour", "location")}
    day = ((visits["timestamp"] - pd.Timestamp("2026-01-01")) / pd.Timedelta(days=1)).to_numpy()
    for rows, width in ((slice(0, None, 2), 5), (slice(1, None, 2), 8)):
        probs = shop.response_probabilities(
            visits["customer_id"].to_numpy()[rows],
            cand[rows, :width].tolist(),
            {key: v[rows] for key, v in ctx.items()},
            day[rows],
        )
        by_list = probs.groupby("list_index")[["p_click", "expected_revenue"]].sum()
        np.testing.assert_allclose(value["expected_clicks"].to_numpy()[rows], by_list["p_click"])
        np.testing.assert_allclose(
            value["expected_revenue"].to_numpy()[rows], by_list["expected_revenue"]
        )


def test_simulated_policy_without_context_matches_its_value(shop):
    traffic = shop.expected_traffic(32).head(40)
    traffic = pd.concat([traffic] * 150, ignore_index=True)
    on_sale = shop.products[shop.products["launch_day"] <= 32]["product_id"].to_numpy()[:6]
    cand = np.tile(on_sale, (len(traffic), 1))
    value = shop.policy_value(traffic, cand)
    sim = shop.simulate_policy(traffic, cand, rng=8, item_propensities=False)
    clicks = sim.groupby("visit_id")["clicked"].sum().reindex(range(len(traffic)), fill_value=0)
    x, mu = clicks.to_numpy(float), value["expected_clicks"].to_numpy()
    se = np.sqrt(np.sum((x - mu) ** 2)) / len(x)
    assert abs(x.mean() - mu.mean()) < 4 * se
    # the contexts drawn follow each customer's own mix: mostly the home device
    home = shop.customers.set_index("customer_id")["device"].astype(str)
    first = sim.groupby("visit_id").head(1)
    assert (first["device"].to_numpy() == home.loc[first["customer_id"]].to_numpy()).mean() > 0.7
