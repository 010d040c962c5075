"""Tests of the synthetic shop: realism of the log, determinism, and the ground-truth API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from recnb.schema import EVENT_TYPES, PERSONAL_COLUMNS, validate_dataset
from recnb.synthetic import DAYPARTS, ShopConfig, SyntheticShop, make_shop

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
    assert [len(again.table(t)) for t in ("customers", "products", "events")] == [
        800,
        300,
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
    latent = {"activity", "price_sensitivity", "preferred_daypart"}
    assert latent <= set(shop.customers.columns)
    assert {"quality", "appeal", "launch_day", "relative_price"} <= set(shop.products.columns)
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
        _ids(views["customer_id"]), _ids(views["product_id"])[:, None], context, day
    )
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
    probs = shop.response_probabilities(customers, items[:, None], {"device": "desktop"}, day=5)
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


def test_missing_context_is_the_mix_average(shop):
    c, p = "C00010", shop.products["product_id"].to_numpy()[:20]
    mix = shop.config.device_mix
    avg = sum(w * shop.true_utility(c, p, {"device": d}) for d, w in mix.items())
    np.testing.assert_allclose(shop.true_utility(c, p), avg, atol=1e-9)
    by_device = np.array([shop.true_utility(c, p, {"device": d}) for d in mix])
    assert np.ptp(by_device, axis=0).max() > 0.05  # the device matters


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
