"""Privacy: key resolution, pseudonyms, scrubbing, small-group suppression, run-folder scanning."""

from __future__ import annotations

import hashlib
import hmac
import json

import numpy as np
import pandas as pd
import pytest

from recnb import privacy
from recnb.schema import PERSONAL_COLUMNS, Dataset, validate_dataset


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
