"""The SQLite event store and the ``events_db`` source that reads it back."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest
from _serving import base_run

from recnb.data.loaders.events_db import (
    EventsDbError,
    events_db_options,
    load_events_db,
    read_store_meta,
)
from recnb.privacy import DEMO_KEY
from recnb.serving.store import EventConflict, EventStore, StoredEvent, StoreError


def ev(i: int, customer: str = "0123456789abcdef", **kw) -> StoredEvent:
    base = {
        "customer_id": customer,
        "product_id": f"P{i:05d}",
        "event": "view",
        "timestamp": f"2026-02-01T10:00:{i % 60:02d}",
        "model_version": "v1",
    }
    return StoredEvent(**{**base, **kw})


def test_store_is_wal_and_syncs_every_commit(tmp_path):
    with EventStore(tmp_path / "e.sqlite", key_check="kc") as store:
        con = store._con
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with EventStore(tmp_path / "n.sqlite", synchronous="NORMAL") as store:
        assert store._con.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_events_are_committed_when_acknowledged(tmp_path):
    path = tmp_path / "e.sqlite"
    with EventStore(path) as store:
        acks = store.append([ev(1), ev(2, event="purchase", value=2.0)])
        assert [a.seq for a in acks] == [1, 2]
        # another connection (another process would be the same) sees them at once
        con = sqlite3.connect(path)
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 2
        con.close()
    df = EventStore(path).read()
    assert list(df["event"]) == ["view", "purchase"] and df["value"].iloc[1] == 2.0


def test_concurrent_events_share_commits(tmp_path):
    """Group commit: events arriving together are committed in fewer transactions than events,
    and every one is acknowledged with its own seq."""
    committed: list[int] = []
    with EventStore(
        tmp_path / "e.sqlite", on_commit=lambda acks: committed.extend(a.seq for a in acks)
    ) as store:
        gate = threading.Barrier(8)
        results: list[int] = []

        def client(t: int) -> None:
            gate.wait()
            futs = [store.submit([ev(100 * t + i)]) for i in range(50)]
            results.extend(f.result(30)[0].seq for f in futs)

        threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == list(range(1, 401))
        assert store.commits < 400
        assert committed == sorted(committed) == list(range(1, 401))  # applied in seq order


def test_event_id_makes_a_retry_idempotent_and_a_reuse_a_conflict(tmp_path):
    with EventStore(tmp_path / "e.sqlite") as store:
        first = store.append([ev(1, event_id="abc")])[0]
        again = store.append([ev(1, event_id="abc", timestamp="2026-02-01T11:00:00")])[0]
        assert again.duplicate and again.seq == first.seq
        with pytest.raises(EventConflict, match="event_id 'abc' was already used"):
            store.append([ev(2, event_id="abc")])
        # a conflict refuses that request only; others in the same group are stored
        futs = [store.submit([ev(3, event_id="abc")]), store.submit([ev(4)])]
        with pytest.raises(EventConflict):
            futs[0].result(10)
        assert futs[1].result(10)[0].seq > first.seq  # seq grows with commit order (gaps allowed)
        assert store.count() == 2


def test_a_store_of_another_key_or_format_is_refused(tmp_path):
    path = tmp_path / "e.sqlite"
    EventStore(path, key_check="aaaa").close()
    with pytest.raises(StoreError, match="another key"):
        EventStore(path, key_check="bbbb")
    con = sqlite3.connect(path)
    con.execute("UPDATE store_meta SET value = 'x/9' WHERE key = 'format'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="store format 'x/9'"):
        EventStore(path)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk.sqlite: cannot open"):
        EventStore(tmp_path / "junk.sqlite")


def test_closed_store_refuses_new_events(tmp_path):
    store = EventStore(tmp_path / "e.sqlite")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.append([ev(1)])


# -- the events_db source --------------------------------------------------------------------------
def test_events_db_source_reads_the_store_into_the_data_model(tmp_path):
    path = tmp_path / "e.sqlite"
    with EventStore(path, key_check="kc") as store:
        store.append([ev(1, device="mobile"), ev(2, event="purchase", customer="fedcba9876543210")])
    ds = load_events_db(path)
    assert len(ds.events) == 2 and set(ds.customers["customer_id"]) == {
        "0123456789abcdef",
        "fedcba9876543210",
    }
    assert ds.events["timestamp"].dtype == "datetime64[ns]"
    assert list(ds.events["event"].astype(str)) == ["view", "purchase"]
    assert ds.meta["pseudonymized_ids"] == {"key_check": "kc"}
    assert ds.meta["events_db"]["last_seq"] == 2
    assert "session_id" not in ds.events.columns  # a column the store never filled is absent


def test_events_db_extends_a_base_run(base_run, tmp_path):
    from recnb.data.schema import load_dataset

    base = load_dataset(base_run / "data")
    known_c = str(base.customers["customer_id"].iloc[0])
    known_p = str(base.products["product_id"].iloc[0])
    path = tmp_path / "e.sqlite"
    with EventStore(path) as store:
        store.append([ev(1, customer=known_c, product_id=known_p), ev(2, product_id="NEW-1")])
    ds = load_events_db(path, base_run=str(base_run))
    assert len(ds.events) == len(base.events) + 2
    assert len(ds.customers) == len(base.customers) + 1  # 0123456789abcdef is new
    assert set(base.customers["customer_id"]) <= set(ds.customers["customer_id"])
    assert len(ds.products) == len(base.products) + 1  # NEW-1
    steps = [n["step"] for n in ds.notes]
    assert {"events_db: base run", "events_db: new customers", "events_db: new products"} <= set(
        steps
    )


def test_events_db_options_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"data.options.base: unknown option .*\['base_run'\]"):
        events_db_options({"base": "x"})
    with pytest.raises(FileNotFoundError, match="event store not found"):
        read_store_meta(tmp_path / "missing.sqlite")
    (tmp_path / "x.sqlite").write_bytes(b"\0" * 4096)
    con = sqlite3.connect(tmp_path / "y.sqlite")
    con.execute("CREATE TABLE other (a)")
    con.close()
    with pytest.raises(EventsDbError, match="y.sqlite: not a recnb event store"):
        read_store_meta(tmp_path / "y.sqlite")


def test_events_db_names_a_bad_stored_time(tmp_path):
    path = tmp_path / "e.sqlite"
    with EventStore(path) as store:
        store.append([ev(1), ev(2, timestamp="yesterday")])
    with pytest.raises(EventsDbError, match="events.timestamp holds 'yesterday' at seq 2"):
        load_events_db(path)


def test_reading_while_the_service_writes_sees_a_snapshot(tmp_path):
    path = tmp_path / "e.sqlite"
    with EventStore(path) as store:
        store.append([ev(i) for i in range(10)])
        ds = load_events_db(path)
        store.append([ev(i) for i in range(10, 20)])
        assert len(ds.events) == 10 and len(load_events_db(path).events) == 20
    assert isinstance(ds.events, pd.DataFrame)


# -- data.source: events_db in a run ---------------------------------------------------------------
def _next_run_params(tmp_path, base_run, store) -> Path:
    """A params file whose data is the event store extending ``base_run`` (relative paths: from
    the params file's folder)."""
    import os

    params = tmp_path / "next.yaml"
    params.write_text(
        "run_name: next\nseed: 7\nstages: [01_data_understanding]\ndata:\n  source: events_db\n"
        f"  path: {os.path.relpath(store, tmp_path)}\n"
        f"  options: {{base_run: {os.path.relpath(base_run, tmp_path)}}}\n"
    )
    return params


def test_a_run_on_the_event_store_keeps_the_runs_pseudonyms(base_run, tmp_path, monkeypatch):
    """The next training run reads what the service stored: the base run's events plus the new
    ones, customer ids kept as they are (already the run's pseudonyms: not pseudonymized twice)."""
    from recnb.data.schema import load_dataset
    from recnb.serving import key_check
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import data_settings_hash, dataset_for_run
    from recnb.workflow.runner import check_data, preflight

    monkeypatch.delenv("RECNB_PSEUDONYM_KEY", raising=False)
    base = load_dataset(base_run / "data")
    known = str(base.customers["customer_id"].iloc[3])
    product = str(base.products["product_id"].iloc[0])
    store = tmp_path / "events" / "ci.sqlite"
    store.parent.mkdir()
    with EventStore(store, key_check=key_check(DEMO_KEY)) as s:
        s.append([ev(1, customer=known, product_id=product, event="purchase"), ev(2)])
    settings = load_params(_next_run_params(tmp_path, base_run, store))
    preflight(settings)  # the demo key is accepted: the store says its ids were made with it
    assert check_data(settings) == []  # python -m recnb check agrees
    before = data_settings_hash(settings)
    ds = dataset_for_run(settings, tmp_path / "next")
    assert len(ds.events) == len(base.events) + 2
    ids = set(ds.customers["customer_id"].astype(str))
    assert set(base.customers["customer_id"].astype(str)) <= ids and "0123456789abcdef" in ids
    mine = ds.events[ds.events["customer_id"].astype(str) == known]
    assert (mine["event"].astype(str) == "purchase").any()
    assert any("customer ids kept" in n["reason"] for n in ds.notes)
    with EventStore(store, key_check=key_check(DEMO_KEY)) as s:  # the service goes on writing
        s.append([ev(3)])
    assert data_settings_hash(settings) != before  # the next run rebuilds its data


def test_a_run_on_a_store_of_another_key_is_refused(base_run, tmp_path, monkeypatch):
    from recnb.privacy import PrivacyError
    from recnb.serving import key_check
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import dataset_for_run
    from recnb.workflow.runner import check_data, preflight

    monkeypatch.delenv("RECNB_PSEUDONYM_KEY", raising=False)
    store = tmp_path / "other.sqlite"
    with EventStore(store, key_check=key_check(b"the shop's real key")) as s:
        s.append([ev(1)])
    settings = load_params(_next_run_params(tmp_path, base_run, store))
    with pytest.raises(PrivacyError, match="no pseudonym key|RECNB_PSEUDONYM_KEY"):
        preflight(settings)  # a real key's store: the demo key is not accepted
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "yet another key")
    with pytest.raises(PrivacyError, match=r"other.sqlite: .*pseudonyms under another key"):
        preflight(settings)
    assert "pseudonyms under another key" in " ".join(check_data(settings))
    with pytest.raises(PrivacyError, match="pseudonyms under another key"):
        dataset_for_run(settings, tmp_path / "next")
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "the shop's real key")
    preflight(settings)
    nokey = tmp_path / "nokey.sqlite"
    with EventStore(nokey) as s:
        s.append([ev(1)])
    with pytest.raises(PrivacyError, match="nokey.sqlite: the event store records no key check"):
        preflight(load_params(_next_run_params(tmp_path, base_run, nokey)))
