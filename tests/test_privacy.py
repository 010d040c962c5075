"""Privacy: key resolution, pseudonyms, scrubbing, small-group suppression, run-folder scanning."""

from __future__ import annotations

import hashlib
import hmac
import html
import json

import numpy as np
import pandas as pd
import pytest

from recnb import privacy
from recnb.data.schema import PERSONAL_COLUMNS, Dataset, validate_dataset


def _raw_dataset() -> Dataset:
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "name": ["Alice Wilson", "Bob Stone", "Carla Diaz", "Dan Wu"],
            "email": [
                "alice.wilson@example.com",
                "bob@example.org",
                "carla@example.net",
                "dan@x.io",
            ],
            "phone": ["+44 20 7946 0958", "+1-555-000-1111", "n/a", "n/a"],
            "address": ["1 High St", "2 Low Rd", "3 Mid Ln", "4 End Ave"],
            "postcode": ["SW1A 1AA", "sw1a 2bb", "M1 1AE", "B1 1AA"],
            "age": [17, 23, 24, 70],
        }
    )
    products = pd.DataFrame({"product_id": ["p1", "p2"]})
    events = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c2", "c4"],
            "product_id": ["p1", "p1", "p2", "p2"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
            "event": ["view", "purchase", "view", "click"],
        }
    )
    return validate_dataset(Dataset("t", customers, products, events))


# -- key ------------------------------------------------------------------------------------------


def test_resolve_key_prefers_environment(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV_VAR, "from-env")
    assert privacy.resolve_key("from-params") == b"from-env"


def test_resolve_key_params_then_demo_then_error(monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV_VAR, raising=False)
    assert privacy.resolve_key("from-params") == b"from-params"
    assert privacy.resolve_key(None, allow_demo=True) == privacy.DEMO_KEY
    with pytest.raises(privacy.PrivacyError, match=privacy.KEY_ENV_VAR):
        privacy.resolve_key(None)
    with pytest.raises(privacy.PrivacyError, match="empty"):
        privacy.resolve_key("  ")


def test_pseudonyms_are_truncated_hmac_sha256():
    want = hmac.new(b"k", b"12346", hashlib.sha256).hexdigest()[:16]
    got = privacy.pseudonymize(["12346", 12346], b"k")
    assert list(got) == [want, want]
    assert privacy.pseudonymize(["12346"], b"other")[0] != want
    assert len(privacy.pseudonymize(["x"], "k", length=24)[0]) == 24


# -- scrub ----------------------------------------------------------------------------------------


def test_scrub_removes_identifiers_and_keeps_events_joinable():
    raw = _raw_dataset()
    ds = validate_dataset(privacy.scrub(raw, b"secret", min_age_band=1, min_region_size=1))
    for col in (*PERSONAL_COLUMNS, "age", "postcode"):
        assert col not in ds.customers.columns
    assert not set(ds.customers["customer_id"]) & set(raw.customers["customer_id"])
    expected = dict(
        zip(
            raw.customers["customer_id"],
            privacy.pseudonymize(raw.customers["customer_id"], b"secret"),
            strict=True,
        )
    )
    assert list(ds.customers["customer_id"]) == [expected[c] for c in raw.customers["customer_id"]]
    assert list(ds.events["customer_id"].astype(str)) == [
        expected[c] for c in raw.events["customer_id"].astype(str)
    ]
    assert list(ds.customers["age_band"].astype(str)) == ["<18", "18-24", "18-24", "65+"]
    assert list(ds.customers["region"].astype(str)) == ["SW", "SW", "M1", "B1"]
    steps = [n["step"] for n in ds.notes]
    assert "privacy: drop direct identifiers" in steps
    assert "privacy: pseudonymize customer ids" in steps
    text = json.dumps({"notes": ds.notes, "meta": ds.meta}, default=str)
    assert "secret" not in text and "alice" not in text.lower()


def test_scrub_pools_rare_postcode_areas_and_merges_small_age_bands():
    ds = privacy.scrub(_raw_dataset(), b"k", min_age_band=2, min_region_size=2)
    assert list(ds.customers["region"].astype(str)) == ["SW", "SW", "other", "other"]
    # <18 (1) merges into 18-24 (2) -> "<25" (3); 65+ (1) merges down through the empty bands
    # into "25+" (still 1) and then into "<25": one band is left
    assert list(ds.customers["age_band"].astype(str)) == ["all ages"] * 4


def test_age_bands_hand_example():
    age = pd.Series([10, 20, 21, 22, 30, 31, 40, np.nan])
    bands = privacy.age_bands(age, edges=(18, 25, 35), min_count=2)
    # counts: <18:1, 18-24:3, 25-34:2, 35+:1 -> <18 merges with 18-24, 35+ with 25-34
    assert list(bands.astype(object).iloc[:7]) == ["<25", "<25", "<25", "<25", "25+", "25+", "25+"]
    assert pd.isna(bands.iloc[7])
    no_merge = privacy.age_bands(age, edges=(18, 25, 35))
    assert list(no_merge.astype(object).iloc[:7]) == [
        "<18",
        "18-24",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35+",
    ]


def test_scrub_rejects_personal_columns_outside_customers():
    raw = _raw_dataset()
    raw.events["email"] = "x@y.com"
    with pytest.raises(privacy.PrivacyError, match="events"):
        privacy.scrub(raw, b"k")


def test_scrub_handles_categorical_event_ids():
    raw = _raw_dataset()
    raw.events["customer_id"] = raw.events["customer_id"].astype("category")
    ds = validate_dataset(privacy.scrub(raw, b"k"))
    assert set(ds.events["customer_id"].astype(str)) <= set(ds.customers["customer_id"])


# -- small groups ---------------------------------------------------------------------------------


def test_suppress_small_groups():
    df = pd.DataFrame({"group": ["a", "b", "c"], "customers": [12, 9, 10], "ndcg": [0.3, 0.9, 0.2]})
    out = privacy.suppress_small_groups(df, "customers", min_count=10)
    assert list(out["suppressed"]) == [False, True, False]
    assert out.loc[1, ["customers", "ndcg"]].isna().all()
    assert out.loc[0, "ndcg"] == 0.3 and out.loc[2, "customers"] == 10
    assert list(out["group"]) == ["a", "b", "c"]
    with pytest.raises(KeyError, match="nope"):
        privacy.suppress_small_groups(df, "nope")


# -- scanning -------------------------------------------------------------------------------------


def _forbidden():
    raw = _raw_dataset()
    forb = privacy.forbidden_from_raw(raw)
    forb["customer id"] = ["12346", "17850"]  # numeric ids, like Online Retail's
    return forb


def _clean_run(tmp_path):
    run = tmp_path / "run"
    (run / "results" / "02").mkdir(parents=True)
    pd.DataFrame({"model": ["als"], "ndcg": [0.31], "customers": [12346]}).to_csv(
        run / "results" / "02" / "ok.csv", index=False
    )
    # counts as reports print them: with thousands separators (a bare 17850 would be read as an id)
    (run / "02.html").write_text(
        "<p>Alice in Wonderland was read by 17,850 customers; phone: n/a.</p>"
    )
    (run / "manifest.json").write_text(json.dumps({"seed": 42, "rows": 12346}))
    return run


def test_clean_run_folder_has_no_findings(tmp_path):
    run = _clean_run(tmp_path)
    assert privacy.scan_run_folder(run, _forbidden()) == []
    privacy.assert_no_identifiers(run, _forbidden())


def test_planted_email_fails_the_check_naming_file_and_kind(tmp_path):
    run = _clean_run(tmp_path)
    pd.DataFrame({"segment": ["x"], "contact": ["bob@example.org"]}).to_parquet(
        run / "results" / "02" / "leak.parquet"
    )
    findings = privacy.scan_run_folder(run, _forbidden())
    kinds = {(f.file, f.kind) for f in findings}
    assert ("results/02/leak.parquet", "email address") in kinds
    assert ("results/02/leak.parquet", "email") in kinds
    with pytest.raises(privacy.PrivacyError, match=r"results/02/leak\.parquet.*email") as e:
        privacy.assert_no_identifiers(run, _forbidden())
    assert "bob@example.org" not in str(e.value)  # the report itself does not leak


def test_any_email_address_is_found_even_if_unknown(tmp_path):
    run = _clean_run(tmp_path)
    (run / "notes.md").write_text("contact someone.else@company.co.uk for access")
    findings = privacy.scan_run_folder(run, _forbidden())
    assert [(f.file, f.kind) for f in findings] == [("notes.md", "email address")]
    assert (
        privacy.scan_run_folder(run, _forbidden(), allow_emails=["someone.else@company.co.uk"])
        == []
    )


def test_planted_name_in_notebook_output_is_found(tmp_path):
    run = _clean_run(tmp_path)
    nb = {"cells": [{"outputs": [{"text": ["top customer: Carla  Diaz\n"]}]}], "metadata": {}}
    (run / "02.ipynb").write_text(json.dumps(nb))
    findings = privacy.scan_run_folder(run, _forbidden())
    assert [(f.file, f.kind) for f in findings] == [("02.ipynb", "name")]


def test_numeric_customer_ids_are_found_in_id_columns(tmp_path):
    run = _clean_run(tmp_path)
    pd.DataFrame({"CustomerID": ["17850"], "n": [3]}).to_csv(run / "leak.csv", index=False)
    (run / "leak.json").write_text(json.dumps({"examples": [{"customer_id": 12346}]}))
    findings = privacy.scan_run_folder(run, _forbidden())
    assert sorted((f.file, f.kind) for f in findings) == [
        ("leak.csv", "customer id"),
        ("leak.json", "customer id"),
    ]


def test_scan_reads_real_html_and_markdown_without_false_alarms(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    html = (
        '<script src="https://cdn.jsdelivr.net/npm/requirejs@2.3.6/require.min.js"></script>'
        '<link href="https://unpkg.com/@jupyter-widgets/html-manager@^1.0.1/dist/embed.css">'
        "<style>@media print { .a { color: red } }</style><p>nDCG@10 = 0.31</p>"
    )
    (run / "report.html").write_text(html)
    assert privacy.scan_run_folder(run, _forbidden()) == []


# -- the scan without blind spots (issue 8, item 4) -----------------------------------------------
# Real id spaces: MovieLens user ids are 1..610, Online Retail customer ids 5-digit numbers from 12346,
# RetailRocket visitor ids integers from 0.

ML_IDS = {"customer id": [str(i) for i in range(1, 611)]}
OR_IDS = {"customer id": [str(i) for i in range(12346, 18288) if i % 11]}  # 5,402 of 5 digits
RR_IDS = {"customer id": [str(i) for i in range(0, 5000)]}


def _kinds(findings):
    return sorted({(f.file, f.kind) for f in findings})


def _notebook(outputs, source="display(df)"):
    return {
        "cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": outputs}],
        "metadata": {"papermill": {"parameters": {"k": 10, "seed": 42}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _realistic_clean_run(tmp_path):
    """What a clean run holds: counts, k values, hours, years, ratings, seeds, timings."""
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    pd.DataFrame(
        {"hour": range(24), "events": range(100, 124), "share": np.linspace(0, 1, 24)}
    ).to_parquet(run / "results" / "hour_of_day.parquet")
    pd.DataFrame(
        {
            "part": ["train", "test"],
            "customers": [610, 598],
            "products": [9724, 3912],
            "k": [10, 10],
        }
    ).to_csv(run / "results" / "split.csv", index=False)
    pd.DataFrame({"rating": [0.5, 1.0, 4.0, 5.0], "events": [1370, 2811, 26818, 13211]}).to_parquet(
        run / "results" / "ratings.parquet"
    )
    pd.DataFrame({"measure": ["customers", "events"], "value": ["610", "100,836"]}).to_parquet(
        run / "results" / "overview.parquet"
    )
    (run / "results" / "info.json").write_text(
        json.dumps({"rows": {"customers": 610, "events": 100836}, "k_values": [5, 10, 20]})
    )
    (run / "01.html").write_text(
        "<h1>Notebook 01</h1><p>The data holds 610 customers, 9,724 products and 100,836 events over "
        "8,215 days (1996-03-29 to 2018-09-24); top-10 lists, k = 10, seed 42, 20 trials.</p>"
        "<table><thead><tr><th>hour</th><th>events</th></tr></thead><tbody>"
        "<tr><td>7</td><td>3,633</td></tr><tr><td>12</td><td>2,952</td></tr></tbody></table>"
        "<p>Every customer has at least 20 ratings; 0.12346 of pairs are dense; 12,346 events.</p>"
    )
    (run / "summaries").mkdir()
    (run / "summaries" / "01.md").write_text(
        "The data holds **610** customers and 9,724 products.\n\n- nDCG@10: 0.31\n- hour 7 peaks\n"
        "\n| measure | value |\n|---|---|\n| customers | 610 |\n| k | 10 |\n"
    )
    overview = "      measure   value\n0   customers     610\n1      events  100836\n"
    (run / "01.ipynb").write_text(
        json.dumps(
            _notebook(
                [
                    {"output_type": "stream", "name": "stdout", "text": ["610 users, k=10\n"]},
                    {"output_type": "execute_result", "data": {"text/plain": overview}},
                ]
            )
        )
    )
    return run


@pytest.mark.parametrize("ids", [ML_IDS, OR_IDS, RR_IDS], ids=["movielens", "retail", "rocket"])
def test_clean_reports_with_ordinary_numbers_have_no_findings(tmp_path, ids):
    run = _realistic_clean_run(tmp_path)
    assert privacy.scan_run_folder(run, ids) == []


def test_raw_id_in_a_customer_column_is_found(tmp_path):
    run = _realistic_clean_run(tmp_path)
    # ids travel as text in the data model: a careless notebook writes them so, with a CSV twin
    top = pd.DataFrame({"customer": ["414", "12"], "n_items": [3, 4]})
    top.to_parquet(run / "results" / "top.parquet")
    top.to_csv(run / "results" / "top.csv", index=False)
    assert _kinds(privacy.scan_run_folder(run, ML_IDS)) == [
        ("results/top.csv", "customer id"),
        ("results/top.parquet", "customer id"),
    ]


def test_raw_numeric_ids_in_an_integer_customer_column_are_found_when_distinctive(tmp_path):
    run = _realistic_clean_run(tmp_path)
    pd.DataFrame({"customer": [12346, 17850]}).to_parquet(run / "results" / "top.parquet")
    assert _kinds(privacy.scan_run_folder(run, OR_IDS)) == [("results/top.parquet", "customer id")]


def test_the_projects_row_index_column_is_not_a_customer_id(tmp_path):
    """``customer_row`` is the row index into the split (metrics per customer): 0..609 on
    MovieLens, the same numbers as the user ids, and not an identifier."""
    run = tmp_path / "run"
    run.mkdir()
    per_customer = pd.DataFrame({"customer_row": np.arange(610), "ndcg": np.linspace(0, 1, 610)})
    per_customer.to_parquet(run / "customers.parquet")
    per_customer.to_csv(run / "customers.csv", index=False)
    assert privacy.scan_run_folder(run, ML_IDS) == []


def test_an_integer_customer_column_is_a_customer_column(tmp_path):
    """Observed: an integer column named ``customer`` was exempt from the id rules (it was the
    project's row index), so raw MovieLens user ids stored that way were not found. With the row
    index renamed ``customer_row``, ``customer`` is checked like any customer column, in Parquet
    and in a CSV with a Parquet twin alike."""
    run = tmp_path / "run"
    run.mkdir()
    raw = pd.DataFrame({"customer": np.arange(1, 611), "ndcg": np.linspace(0, 1, 610)})
    raw.to_parquet(run / "customers.parquet")
    raw.to_csv(run / "customers.csv", index=False)
    assert _kinds(privacy.scan_run_folder(run, ML_IDS)) == [
        ("customers.csv", "customer id"),
        ("customers.parquet", "customer id"),
    ]


def test_raw_id_in_a_visitorid_column_is_found(tmp_path):
    run = _realistic_clean_run(tmp_path)
    pd.DataFrame({"visitorid": [257597, 4], "events": [5, 7]}).to_csv(
        run / "results" / "top.csv", index=False
    )
    findings = privacy.scan_run_folder(run, RR_IDS)
    assert _kinds(findings) == [("results/top.csv", "customer id")]
    assert findings[0].where == "column 'visitorid'" and findings[0].count == 1


@pytest.mark.parametrize(
    "name",
    [
        "customer",
        "CustomerID",
        "Customer ID",
        "user_id",
        "userId",
        "visitorid",
        "client_no",
        "top_customer",
        "uid",
        "buyer",
        "member_id",
    ],
)
def test_customer_columns_are_recognised_by_name(name):
    assert privacy.is_customer_column(name)


@pytest.mark.parametrize(
    "name",
    [
        "customers",
        "n_customers",
        "cold_customers",
        "customer_share",
        "users",
        "events",
        "product_id",
        "hour",
        "k",
        "customer_segment",
    ],
)
def test_counts_and_other_columns_are_not_customer_columns(name):
    assert not privacy.is_customer_column(name)


def test_two_character_ids_are_found(tmp_path):
    ids = {"customer id": ["c7", "12", "ab"]}
    run = tmp_path / "run"
    run.mkdir()
    # a short id that mixes letters and digits is distinctive: found in any cell and any text
    pd.DataFrame({"segment": ["c7", "loyal"]}).to_parquet(run / "a.parquet")
    (run / "b.md").write_text("The most loyal shopper is c7.")
    # a short number is ambiguous: found where a customer id is expected
    pd.DataFrame({"user": [12]}).to_parquet(run / "c.parquet")
    (run / "d.html").write_text("<p>Customer 12 bought 40 items.</p>")
    (run / "e.md").write_text("customer_id=ab")
    assert _kinds(privacy.scan_run_folder(run, ids)) == [
        ("a.parquet", "customer id"),
        ("b.md", "customer id"),
        ("c.parquet", "customer id"),
        ("d.html", "customer id"),
        ("e.md", "customer id"),
    ]
    # ... and nowhere else: "12 bought", a k of 12, "ab testing" are ordinary text
    (run / "a.parquet").unlink()
    for f in ("b.md", "c.parquet", "d.html", "e.md"):
        (run / f).unlink()
    (run / "ok.md").write_text("12 customers; k = 12; ab testing; the c 7 series")
    assert privacy.scan_run_folder(run, ids) == []


@pytest.mark.parametrize(
    "name, content, ids",
    [
        ("02.html", "<p>Our best customer bought 5,677 items; it was 14911, in May.</p>", OR_IDS),
        (
            "02.ipynb",
            json.dumps(
                _notebook(
                    [
                        {
                            "output_type": "stream",
                            "name": "stdout",
                            "text": ["most active: user 414 with 2,698 ratings\n"],
                        }
                    ]
                )
            ),
            ML_IDS,
        ),
        ("summaries/02.md", "The top buyer: 17850 (4,642 purchases).", OR_IDS),
    ],
    ids=["html report", "notebook output", "markdown summary"],
)
def test_numeric_id_inside_a_sentence_is_found(tmp_path, name, content, ids):
    run = _realistic_clean_run(tmp_path)
    (run / name).parent.mkdir(parents=True, exist_ok=True)
    (run / name).write_text(content)
    assert _kinds(privacy.scan_run_folder(run, ids)) == [(name, "customer id")]


def test_raw_ids_in_report_tables_are_found(tmp_path):
    run = _realistic_clean_run(tmp_path)
    df = pd.DataFrame({"userId": [414, 599], "ratings": [2698, 2478]})
    (run / "t.html").write_text(df.to_html(index=False))
    printed = _notebook([{"output_type": "execute_result", "data": {"text/plain": df.to_string()}}])
    (run / "t.ipynb").write_text(json.dumps(printed))
    (run / "t.md").write_text("| customer | ratings |\n|---|---|\n| 414 | 2,698 |\n")
    # a printed DataFrame as nbconvert writes it into the HTML report
    (run / "p.html").write_text(
        f"<div class='output'><pre>{html.escape(df.to_string())}</pre></div>"
    )
    assert _kinds(privacy.scan_run_folder(run, ML_IDS)) == [
        ("p.html", "customer id"),
        ("t.html", "customer id"),
        ("t.ipynb", "customer id"),
        ("t.md", "customer id"),
    ]


def test_a_column_of_distinctive_ids_is_found_whatever_its_name(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"x": [12346, 12350, 13047], "n": [1, 2, 3]}).to_parquet(run / "leak.parquet")
    # a count that happens to equal one id is a count, not a column of ids
    pd.DataFrame({"events": [12400, 3, 5]}).to_parquet(run / "counts.parquet")
    assert _kinds(privacy.scan_run_folder(run, OR_IDS)) == [("leak.parquet", "customer id")]


def test_ids_are_compared_as_numbers(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"CustomerID": [12346.0, np.nan]}).to_parquet(run / "a.parquet")
    pd.DataFrame({"customer": ["012346"]}).to_csv(run / "b.csv", index=False)
    (run / "c.html").write_text("<table><tr><th>customer</th></tr><tr><td>12,346</td></tr></table>")
    (run / "d.txt").write_text("raw row: 536365 12346.0 United Kingdom")
    (run / "ok.txt").write_text("0.12346 123465 x12346 12,346 12346-a")
    found = _kinds(privacy.scan_run_folder(run, OR_IDS))
    assert found == [(f, "customer id") for f in ("a.parquet", "b.csv", "c.html", "d.txt")]


def test_ids_shared_with_products_are_found_only_where_a_customer_id_is_expected(tmp_path):
    ids = {"customer id": ["15036", "17850"]}
    run = tmp_path / "run"
    run.mkdir()
    (run / "ok.md").write_text("Top product 15036 (ASSORTED COLOURS SILK FAN).")
    pd.DataFrame({"product_id": ["15036", "85123A"]}).to_parquet(run / "ok.parquet")
    assert privacy.scan_run_folder(run, ids, other_ids=["15036", "85123A"]) == []
    (run / "leak.md").write_text("customer 15036 bought it")
    assert _kinds(privacy.scan_run_folder(run, ids, other_ids=["15036"])) == [
        ("leak.md", "customer id")
    ]


def test_id_matching_statistics_say_how_many_ids_are_searched_everywhere():
    ml = privacy.Identifiers(ML_IDS, other_ids=[str(i) for i in range(1, 300)])
    assert ml.stats["customer id"] == {
        "ids": 610,
        "numeric": 610,
        "distinctive": 0,
        "numeric_distinctive": 0,
        "also_product_or_session_ids": 299,
    }
    retail = privacy.Identifiers(OR_IDS, other_ids=["15036", "85123A"])
    # every 5-digit id (1 in 17 five-digit numbers) but the one that is also a stock code
    assert retail.stats["customer id"]["distinctive"] == len(OR_IDS["customer id"]) - 1
    rocket_ids = range(0, 1_400_000, 7)
    rocket = privacy.Identifiers({"customer id": [str(i) for i in rocket_ids]})
    # 1 in 7 numbers of 5 or 6 digits is an id: too dense; from 1,000,000 up: 1 in 158
    assert rocket.stats["customer id"]["distinctive"] == sum(i >= 1_000_000 for i in rocket_ids)


def test_findings_reveal_no_raw_value(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"customer": ["414"]}).to_parquet(run / "a.parquet")
    (f,) = privacy.scan_run_folder(run, ML_IDS)
    assert f.example == "<3 characters>" and "414" not in str(f)


def test_npz_string_arrays_are_scanned(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "ids.npz", customers=np.array(["C00001", "C00002"]), m=np.arange(5))
    np.savez(run / "ok.npz", indices=np.arange(1000), indptr=np.array([0, 1000]))
    ids = {"customer id": ["C00001", "C00002"]}
    assert _kinds(privacy.scan_run_folder(run, ids)) == [("ids.npz", "customer id")]


def test_phone_numbers_are_found_like_email_addresses(tmp_path):
    run = _realistic_clean_run(tmp_path)
    pd.DataFrame({"description": ["Call +44 20 7946 0958 to order"]}).to_parquet(run / "p.parquet")
    (run / "n.md").write_text("questions: (212) 555-0100")
    assert _kinds(privacy.scan_run_folder(run, ML_IDS)) == [
        ("n.md", "phone number"),
        ("p.parquet", "phone number"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0958",
        "+1-555-918-0512",
        "020 7946 0958",
        "(212) 555-0100",
        "212.555.0100",
        "07911 123456",
        "+33 1 23 45 67 89",
        "+44 (0)20 7946 0958",
    ],
)
def test_phone_shapes_are_detected(text):
    assert privacy.find_phones(f"call {text} today") == [(5, 5 + len(text))]


@pytest.mark.parametrize(
    "text",
    [
        "price 1,234.56 GBP",
        "£12.50 or 12345678",
        "2011-12-09 08:50:00",
        "2019-12-09 08",
        "12/09/2011 08:50",
        "2019.12.09 08:50",
        "stock codes 85123A and 84029E, invoice 536365, C536379",
        "customers 12346 17850 13047",
        "ISBN 978-3-16-148410-0",
        "ISBN 0-306-40615-2",
        "EAN 9783161484100",
        "epoch 1291191960",
        "share 0.021500257844420643",
        "lift +1.2345678 and +12.5%",
        "Vexique reflective bike light E100, 10 x 20 x 30 cm, pack of 12, 24 or 36",
        "Toy Story (1995), 3.5 out of 5 (1,024 ratings)",
        "session S0000001, pseudonym 3f9a0c1e5b7d2468",
    ],
)
def test_prices_dates_ids_and_isbns_are_not_phone_numbers(text):
    assert privacy.find_phones(text) == []


def test_check_run_folder_moves_leaking_files_out(tmp_path):
    run = _realistic_clean_run(tmp_path)
    (run / "data").mkdir()
    pd.DataFrame({"product_id": ["p1"], "description": ["mail bob@example.org"]}).to_parquet(
        run / "data" / "products.parquet"
    )
    pd.DataFrame({"product_id": ["p1"]}).to_parquet(run / "data" / "events.parquet")
    (run / "data" / "dataset.json").write_text("{}")
    (run / "02.html").write_text("<p>best customer: 17850</p>")
    dest = tmp_path / "q"
    result = privacy.check_run_folder(run, OR_IDS, quarantine_dir=dest)
    assert result["status"] == "failed"
    assert sorted(m["path"] for m in result["quarantined"]) == ["02.html", "data"]
    assert result["quarantine_dir"] == str(dest)
    # the whole cached dataset goes, so no stage reads a part of it; nothing leaks in the run folder
    assert not (run / "data").exists() and not (run / "02.html").exists()
    assert (dest / "data" / "products.parquet").exists() and (
        dest / "data" / "dataset.json"
    ).exists()
    assert (run / "01.html").exists()
    assert privacy.scan_run_folder(run, OR_IDS) == []
    assert "bob@example.org" not in json.dumps(result) and "17850" not in json.dumps(result)


def test_a_table_leaves_with_its_twins(tmp_path):
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    leak = pd.DataFrame({"who": ["bob@example.org"], "n": [1]})
    leak.to_parquet(run / "results" / "t.parquet")
    pd.DataFrame({"n": [1]}).to_csv(run / "results" / "t.csv", index=False)  # the twin, truncated
    (run / "results" / "u.csv").write_text("n\n1\n")
    result = privacy.check_run_folder(run, {}, quarantine_dir=tmp_path / "q")
    assert sorted(m["path"] for m in result["quarantined"]) == [
        "results/t.csv",
        "results/t.parquet",
    ]
    assert (run / "results" / "u.csv").exists()


def test_default_quarantine_is_beside_the_run_folder(tmp_path):
    q = privacy.default_quarantine_dir(tmp_path / "reports" / "myrun")
    assert q.parent.parent == tmp_path / "reports" / ".quarantine"
    assert q.parent.name == "myrun"


def test_redact_message():
    ids = privacy.Identifiers(OR_IDS)
    ok = "SchemaError: events.timestamp: bad value 'yesterday' at row 3"
    assert privacy.redact_message(ok, ids) == ok
    bad = privacy.redact_message("SchemaError: customers.email: 'bob@example.org' at row 3", ids)
    assert "bob" not in bad and "email address" in bad


# -- free-text scrub at load time ------------------------------------------------------------------


def test_scrub_replaces_emails_and_phones_in_free_text_and_counts_them():
    raw = _raw_dataset()
    raw.products["title"] = ["Mug", "Lamp"]
    raw.products["description"] = [
        "Questions? mail shop@example.com or call +44 20 7946 0958. Ask shop@example.com!",
        "Model E100, 10 x 20 cm, ISBN 978-3-16-148410-0, 2011-12-09, £12.50",
    ]
    raw.products["brand"] = pd.Categorical(["Acme (212) 555-0100", "Ultek"])
    raw = validate_dataset(raw)
    ds = validate_dataset(privacy.scrub(raw, b"k"))
    desc = list(ds.products["description"])
    assert desc[0] == (
        "Questions? mail [email removed] or call [phone removed]. Ask [email removed]!"
    )
    assert desc[1] == raw.products["description"].iloc[1]  # codes, sizes, dates, prices stay
    assert list(ds.products["brand"].astype(str)) == ["Acme [phone removed]", "Ultek"]
    assert list(ds.products["title"]) == ["Mug", "Lamp"]
    (note,) = [n for n in ds.notes if n["step"] == "privacy: scrub free text"]
    assert note["rows"] == 2
    assert "2 e-mail address(es) and 2 phone number(s)" in note["reason"]
    assert "products.description 1 rows" in note["reason"]
    assert ds.meta["privacy"]["free_text"]["emails"] == 2
    assert ds.meta["privacy"]["free_text"]["phones"] == 2
    assert list(ds.products["product_id"]) == list(raw.products["product_id"])


def test_free_text_scrub_is_noted_even_when_nothing_is_found():
    ds = privacy.scrub(_raw_dataset(), b"k")
    (note,) = [n for n in ds.notes if n["step"] == "privacy: scrub free text"]
    assert note["rows"] == 0 and "no e-mail address or phone number" in note["reason"]


def test_scrub_free_text_counts_rows_not_distinct_values():
    df = pd.DataFrame({"product_id": ["a", "b", "c"], "d": ["x@y.com", "x@y.com", "ok"]})
    out, counts = privacy.scrub_free_text(df, "products")
    assert list(out["d"]) == ["[email removed]", "[email removed]", "ok"]
    assert counts == [{"table": "products", "column": "d", "rows": 2, "emails": 2, "phones": 0}]
    same, _ = privacy.scrub_free_text(df[["product_id"]], "products")
    assert same is not None


def test_list_columns_and_json_lists_of_customers_are_read_element_by_element(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"group": ["a"], "customers": [[414, 12]]}).to_parquet(run / "a.parquet")
    (run / "b.json").write_text(json.dumps({"segment": "a", "users": [414, 12], "customers": 610}))
    ok = {"group": "a", "customers": 610, "items": [[1, 2], [3]]}
    (run / "ok.json").write_text(json.dumps(ok))
    pd.DataFrame({"items": [[1, 2, 3]], "customers": [610]}).to_parquet(run / "ok.parquet")
    assert _kinds(privacy.scan_run_folder(run, ML_IDS)) == [
        ("a.parquet", "customer id"),
        ("b.json", "customer id"),
    ]


def test_prose_printed_by_a_notebook_is_not_read_as_a_table(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    text = "one list per customer\nwe picked the 7 best\n\nmetric  value\nk       10\n"
    nb = _notebook([{"output_type": "stream", "name": "stdout", "text": [text]}])
    (run / "a.ipynb").write_text(json.dumps(nb))
    assert privacy.scan_run_folder(run, ML_IDS) == []
