"""The HTTP API through FastAPI's TestClient: endpoints, bad requests, privacy, hot reload."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from _serving import base_run, export, fitted, run_copy, train
from fastapi.testclient import TestClient

from recnb.privacy import DEMO_KEY, pseudonymize
from recnb.serving import create_app, export_model
from recnb.serving.service import RecommendationService


@pytest.fixture
def app_run(run_copy, train):
    export(run_copy, train, "item_knn")
    return run_copy


@pytest.fixture
def client(app_run, tmp_path):
    app = create_app(app_run, store=tmp_path / "events.sqlite")
    with TestClient(app) as c:
        yield c


def known(client) -> str:
    """A customer with training history."""
    return first_with_history(client.app.state.service.current.model)


def first_with_history(model, nth: int = 0) -> str:
    return str(model.customer_ids_[np.flatnonzero(model.has_history_)[nth]])


def test_recommendations_are_the_models_list(client):
    svc = client.app.state.service
    model = svc.current.model
    cid = known(client)
    r = client.get(f"/recommendations/{cid}", params={"k": 7})
    assert r.status_code == 200
    body = r.json()
    want = model.recommend([cid], k=7)
    assert [i["product_id"] for i in body["items"]] == list(want["product_id"])
    np.testing.assert_allclose([i["score"] for i in body["items"]], want["score"], rtol=1e-6)
    assert [i["rank"] for i in body["items"]] == list(range(1, 8))
    assert body["source"] == "model" and body["fallback"] is False
    assert body["customer_id"] == cid and body["model_version"] == svc.current.version


def test_unknown_customer_gets_the_flagged_fallback(client):
    r = client.get("/recommendations/" + "0" * 16, params={"k": 5})
    body = r.json()
    assert r.status_code == 200 and body["fallback"] is True and body["source"] == "fallback"
    assert "unknown to the training data" in body["fallback_reason"]
    fb = client.app.state.service.current.export.fallback[:5]
    ids = client.app.state.service.current.model.product_ids_[fb]
    assert [i["product_id"] for i in body["items"]] == list(ids)


def test_context_is_validated_and_reported_unused(client):
    cid = known(client)
    r = client.get(f"/recommendations/{cid}", params={"device": "mobile", "hour": 21})
    ctx = r.json()["context"]
    assert ctx == {**ctx, "device": "mobile", "hour": 21, "location": None, "used": False}
    assert "not used" in ctx["note"]
    plain = client.get(f"/recommendations/{cid}").json()["items"]
    assert r.json()["items"] == plain


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/recommendations/{cid}?k=0", 422, "query.k: Input should be greater than or equal to 1"),
        ("/recommendations/{cid}?k=101", 422, "query.k: Input should be less than or equal to 100"),
        ("/recommendations/{cid}?k=ten", 422, "query.k: Input should be a valid integer"),
        ("/recommendations/{cid}?kk=3", 422, "query.kk: unknown query parameter"),
        ("/recommendations/{cid}?k=3&k=4", 422, "query.k: given more than once"),
        ("/recommendations/{cid}?hour=24", 422, "query.hour: Input should be less than or equal"),
        ("/recommendations/{cid}?device=smart-fridge", 422, "query.device: Input should be 'desk"),
        ("/recommendations/{cid}?location=a%20b", 422, "query.location: Input should be 'cent"),
        ("/recommendations/not-a-pseudonym", 422, "path.customer_id: String should match"),
        ("/recommendations/{cid}x", 422, "path.customer_id: String should match"),
        ("/recommendations/", 404, "Not Found"),
        ("/explain/{cid}/NO-SUCH-PRODUCT", 404, "not in the served model's catalogue"),
        ("/explain/{cid}/P00001?limit=0", 422, "query.limit"),
        ("/health?verbose=1", 422, "query.verbose: unknown query parameter"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(client, url, status, message):
    r = client.get(url.format(cid=known(client)))
    assert r.status_code == status, r.text
    assert message in r.json()["message"]


def test_context_a_run_does_not_record_is_refused(run_copy, train):
    bare = train.with_matrix(train.matrix)
    bare.meta = {k: v for k, v in train.meta.items() if k != "context_feature_names"}
    export_model(fitted("item_knn", train), run_copy, "m", train=bare)
    with TestClient(create_app(run_copy)) as c:
        cid = known(c)
        r = c.get(f"/recommendations/{cid}", params={"device": "mobile"})
        assert r.status_code == 422
        assert r.json()["message"] == "query.device: this run's data records no device"
        assert c.get(f"/recommendations/{cid}", params={"hour": 5}).status_code == 200
        spec = c.get("/openapi.json").json()["paths"]["/recommendations/{customer_id}"]["get"]
        assert {p["name"] for p in spec["parameters"]} == {"customer_id", "k", "hour"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"customer_id": "{cid}", "product_id": "P00001"}, "body.event: Field required"),
        ({"customer_id": "{cid}", "product_id": "P00001", "event": "like"}, "body.event: Input"),
        ({"customer_id": "{cid}", "product_id": "P 1", "event": "view"}, "body.product_id"),
        ({"customer_id": "abc", "product_id": "P00001", "event": "view"}, "body.customer_id"),
        (
            {"customer_id": "{cid}", "product_id": "P00001", "event": "view", "email": "a@b.c"},
            "body.email: Extra inputs are not permitted",
        ),
        (
            {"customer_id": "{cid}", "product_id": "P00001", "event": "view", "dwell_seconds": -1},
            "body.dwell_seconds",
        ),
        (
            {
                "customer_id": "{cid}",
                "product_id": "P00001",
                "event": "view",
                "timestamp": "2999-01-01T00:00:00",
            },
            "more than a day in the future",
        ),
        (
            {"customer_id": "{cid}", "product_id": "P00001", "event": "view", "session_id": "x@y"},
            "body.session_id",
        ),
        ([1, 2], "body: Input should be a valid dictionary"),
    ],
)
def test_bad_events_get_a_422_and_nothing_is_stored(client, body, message):
    text = json.dumps(body).replace("{cid}", known(client))
    r = client.post("/events", content=text, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["message"]
    assert client.app.state.service.store.count() == 0


def test_malformed_and_oversized_bodies(client):
    r = client.post("/events", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON decode error" in r.json()["message"]
    big = json.dumps(
        {
            "customer_id": known(client),
            "product_id": "P00001",
            "event": "view",
            "session_id": "s" * 40_000,
        }
    )
    r = client.post("/events", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit is 16384 bytes" in r.json()["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 1000

    r = client.post("/events", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert client.app.state.service.store.count() == 0


def test_an_event_is_stored_and_changes_the_list_at_once(client):
    svc = client.app.state.service
    cid = known(client)
    before = client.get(f"/recommendations/{cid}", params={"k": 5}).json()
    top = before["items"][0]["product_id"]
    r = client.post(
        "/events",
        json={"customer_id": cid, "product_id": top, "event": "purchase", "event_id": "order-1"},
    )
    assert r.status_code == 201 and r.json()["applied"] and r.json()["stored"]
    assert svc.store.count() == 1
    after = client.get(f"/recommendations/{cid}", params={"k": 5}).json()
    assert after["source"] == "model_with_new_events" and after["new_events"] == 1
    assert top not in [i["product_id"] for i in after["items"]]
    # the retry of the same event is acknowledged, not stored twice
    r = client.post(
        "/events",
        json={"customer_id": cid, "product_id": top, "event": "purchase", "event_id": "order-1"},
    )
    assert r.status_code == 200 and r.json()["duplicate"] and svc.store.count() == 1
    r = client.post(
        "/events",
        json={
            "customer_id": cid,
            "product_id": "P00003",
            "event": "purchase",
            "event_id": "order-1",
        },
    )
    assert r.status_code == 409 and "already used" in r.json()["message"]


def test_a_new_customer_is_served_from_their_first_events(client):
    new = "ab" * 8
    model = client.app.state.service.current.model
    p = str(model.product_ids_[3])
    assert client.get(f"/recommendations/{new}").json()["fallback"] is True
    client.post("/events", json={"customer_id": new, "product_id": p, "event": "view"})
    body = client.get(f"/recommendations/{new}", params={"k": 5}).json()
    assert body["fallback"] is False and body["source"] == "model_with_new_events"
    assert p not in [i["product_id"] for i in body["items"]]
    ex = client.get(f"/explain/{new}/{body['items'][0]['product_id']}").json()
    assert ex["basis"] == "history_with_new_events" and ex["explained"]
    assert [c["contributor"] for c in ex["contributions"]] == [p]
    assert ex["contributions"][0]["contribution"] == pytest.approx(ex["score"], rel=1e-5)


def test_unknown_products_and_zero_weight_events_are_stored_not_applied(client):
    cid = known(client)
    r = client.post(
        "/events", json={"customer_id": cid, "product_id": "NEW-SKU-9", "event": "view"}
    )
    assert r.status_code == 201 and not r.json()["applied"]
    assert "not in the served model's catalogue" in r.json()["note"]
    assert client.app.state.service.store.count() == 1


def test_explain_matches_the_model(client):
    svc = client.app.state.service
    cid = known(client)
    pid = client.get(f"/recommendations/{cid}").json()["items"][0]["product_id"]
    body = client.get(f"/explain/{cid}/{pid}", params={"limit": 3}).json()
    want = svc.current.model.explain(cid, pid)
    assert body["basis"] == "training_history" and body["n_contributions"] == len(want)
    assert [c["contributor"] for c in body["contributions"]] == list(want["contributor"][:3])
    assert body["score"] == pytest.approx(want["contribution"].sum(), rel=1e-5)


def test_explain_never_names_other_customers(run_copy, train, tmp_path):
    export(run_copy, train, "user_knn")
    with TestClient(create_app(run_copy)) as c:
        model = c.app.state.service.current.model
        cid = first_with_history(model, 2)
        pid = c.get(f"/recommendations/{cid}").json()["items"][0]["product_id"]
        body = c.get(f"/explain/{cid}/{pid}").json()
    assert [x["kind"] for x in body["contributions"]] == ["similar_customers"]
    assert "similar customers" in body["contributions"][0]["contributor"]
    others = set(map(str, model.customer_ids_))
    assert not others & {x["contributor"] for x in body["contributions"]}
    assert body["contributions"][0]["contribution"] == pytest.approx(body["score"], rel=1e-5)


def test_model_that_cannot_fold_in_excludes_new_products(run_copy, train, tmp_path):
    export(run_copy, train, "bpr")
    with TestClient(create_app(run_copy, store=tmp_path / "e.sqlite")) as c:
        cid = first_with_history(c.app.state.service.current.model)
        before = c.get(f"/recommendations/{cid}", params={"k": 5}).json()["items"]
        top = before[0]["product_id"]
        r = c.post("/events", json={"customer_id": cid, "product_id": top, "event": "purchase"})
        assert "next training" in r.json()["note"]
        after = c.get(f"/recommendations/{cid}", params={"k": 5}).json()
        assert after["source"] == "model_new_events_excluded"
        assert [i["product_id"] for i in after["items"]] == [
            i["product_id"] for i in before[1:]
        ] + [after["items"][-1]["product_id"]]
        new = "cd" * 8
        c.post("/events", json={"customer_id": new, "product_id": top, "event": "view"})
        body = c.get(f"/recommendations/{new}").json()
        assert body["fallback"] and "cannot score a history" in body["fallback_reason"]
        assert top not in [i["product_id"] for i in body["items"]]


def test_without_a_store_events_are_refused_with_503(app_run):
    with TestClient(create_app(app_run)) as c:
        r = c.post(
            "/events", json={"customer_id": known(c), "product_id": "P00001", "event": "view"}
        )
    assert r.status_code == 503 and "without an event store" in r.json()["message"]


def test_health_and_openapi(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"] == "item_knn" and h["ids"] == "pseudonym"
    spec = client.get("/openapi.json").json()
    assert {
        "/recommendations/{customer_id}",
        "/events",
        "/explain/{customer_id}/{product_id}",
        "/health",
        "/admin/reload",
    } <= set(spec["paths"])
    params = {
        p["name"]: p for p in spec["paths"]["/recommendations/{customer_id}"]["get"]["parameters"]
    }
    assert params["customer_id"]["schema"]["pattern"] == "^[0-9a-f]{16}$"
    assert params["k"]["schema"]["maximum"] == 100


# -- raw customer ids --------------------------------------------------------------------------------
def _raw_customer(base_run):
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import load_raw

    raw = load_raw(load_params(base_run.parent / "ci.yaml"))
    return [str(x) for x in raw.customers["customer_id"]]


def test_raw_ids_are_pseudonymized_and_never_stored_or_returned(
    base_run, run_copy, train, tmp_path
):
    export(run_copy, train, "item_knn")
    store = tmp_path / "e.sqlite"
    app = create_app(run_copy, store=store, ids="raw", key=DEMO_KEY)
    model = app.state.service.current.model
    raws = _raw_customer(base_run)
    pseud = pseudonymize(raws, DEMO_KEY)
    raw = next(r for r, p in zip(raws, pseud, strict=True) if p in model.customer_index_)
    with TestClient(app) as c:
        body = c.get(f"/recommendations/{raw}").json()
        assert body["customer_id"] == str(pseudonymize([raw], DEMO_KEY)[0])
        assert body["source"] == "model"
        r = c.post("/events", json={"customer_id": raw, "product_id": "P00001", "event": "view"})
        assert r.status_code == 201 and r.json()["customer_id"] == body["customer_id"]
        texts = [
            json.dumps(body),
            r.text,
            c.get(f"/explain/{raw}/P00001").text,
            c.get("/recommendations/bad%20id").text,
        ]
    assert not any(raw in t for t in texts)
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("e.sqlite*"))
    assert raw.encode() not in blob and body["customer_id"].encode() in blob


def test_raw_ids_need_the_runs_key(app_run):
    with pytest.raises(ValueError, match="needs the run's pseudonymization key"):
        create_app(app_run, ids="raw")
    with pytest.raises(ValueError, match="another key would give other pseudonyms"):
        create_app(app_run, ids="raw", key=b"not the run's key")


# -- hot reload --------------------------------------------------------------------------------------
def test_reload_swaps_the_export_and_refuses_a_broken_one(app_run, train, tmp_path):
    app = create_app(app_run, store=tmp_path / "e.sqlite", admin_token="s3cret")
    with TestClient(app) as c:
        v1 = c.get("/health").json()["model_version"]
        assert c.post("/admin/reload").status_code == 403
        r = c.post("/admin/reload", headers={"X-Admin-Token": "s3cret"})
        assert r.json() == {"old_version": v1, "new_version": v1, "changed": False}
        export(app_run, train, "ease")
        r = c.post("/admin/reload", headers={"X-Admin-Token": "s3cret"})
        assert r.status_code == 200 and r.json()["changed"]
        h = c.get("/health").json()
        assert h["model"] == "ease" and h["model_version"] == r.json()["new_version"]
        (app_run / "models" / "model_comparison" / "fallback.json").write_text("[]")
        r = c.post("/admin/reload", headers={"X-Admin-Token": "s3cret"})
        assert r.status_code == 409 and "fallback.json" in r.json()["message"]
        assert "still serving the old export" in r.json()["message"]
        assert c.get("/health").json()["model_version"] == h["model_version"]
        assert c.get(f"/recommendations/{known(c)}").status_code == 200


def test_a_request_in_flight_finishes_on_the_model_it_started_with(app_run, train):
    svc = RecommendationService(app_run / "models" / "model_comparison")
    old = svc.current
    cid = first_with_history(old.model)
    entered, release = threading.Event(), threading.Event()
    real = old.model.recommend_indices

    def slow(*a, **kw):
        entered.set()
        assert release.wait(30)
        return real(*a, **kw)

    old.model.recommend_indices = slow
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("rec", svc.recommend(cid, 5)))
    t.start()
    assert entered.wait(30)
    export_model(fitted("als", train), app_run, "model_comparison", train=train, label="als")
    before, after = svc.reload()  # does not wait for the request in flight
    assert before == old.version and after != before
    fresh = svc.recommend(cid, 5)
    release.set()
    t.join()
    assert out["rec"].model_version == old.version and out["rec"].label == "item_knn"
    assert fresh.model_version == after and fresh.label == "als"
    assert out["rec"].product_ids == list(old.model.recommend([cid], k=5)["product_id"])


def test_events_accepted_during_reloads_are_all_applied(app_run, tmp_path):
    svc = RecommendationService(
        app_run / "models" / "model_comparison", store=tmp_path / "e.sqlite"
    )
    from recnb.serving.store import StoredEvent

    model = svc.current.model
    cid = "ef" * 8
    n = 300
    done = threading.Event()

    def writer() -> None:
        for i in range(n):
            p = str(model.product_ids_[i % model.n_products_])
            svc.record([StoredEvent(cid, p, "view", "2026-02-01T00:00:00")]).result(30)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    reloads = 0
    while not done.is_set():
        svc.reload()
        reloads += 1
    t.join()
    svc.close()
    assert reloads >= 2
    assert svc.current.overlay.n_events(cid) == n
    assert svc.current.overlay.last_seq == n


def test_events_committed_between_rebuild_and_swap_reach_the_new_overlay(app_run, tmp_path):
    """Deterministic form of the race above: events arrive after the new export's overlay was
    rebuilt from the store but before it is swapped in; they must not be lost."""
    from recnb.serving.store import StoredEvent

    svc = RecommendationService(
        app_run / "models" / "model_comparison", store=tmp_path / "e.sqlite"
    )
    model = svc.current.model
    cid = "ef" * 8
    real_build = svc._build

    def build_then_events(export):
        served = real_build(export)
        for i in range(3):
            p = str(model.product_ids_[i])
            svc.record([StoredEvent(cid, p, "view", "2026-02-01T00:00:00")]).result(30)
        return served

    svc._build = build_then_events
    svc.reload()
    svc.close()
    assert svc.current.overlay.n_events(cid) == 3


# -- several processes on one store, a watched export ------------------------------------------------
def test_services_sharing_a_store_see_each_others_events(app_run, tmp_path):
    """Two services on one store (two worker processes): an event posted to one is in the other's
    next answer, and both apply every event exactly once, in seq order."""
    from recnb.serving.store import StoredEvent

    folder = app_run / "models" / "model_comparison"
    a = RecommendationService(folder, store=tmp_path / "e.sqlite", follow=True)
    b = RecommendationService(folder, store=tmp_path / "e.sqlite", follow=True)
    try:
        model = a.current.model
        new = "ab" * 8
        p = str(model.product_ids_[4])
        a.record([StoredEvent(new, p, "purchase", "2026-02-01T00:00:00")]).result(30)
        b.sync()
        rec = b.recommend(new, 5)
        assert rec.source == "model_with_new_events" and p not in rec.product_ids
        for i in range(20):  # interleaved writers
            (a if i % 2 else b).record(
                [StoredEvent(new, str(model.product_ids_[i]), "view", "2026-02-01T00:00:00")]
            ).result(30)
        a.sync()
        b.sync()
        for svc in (a, b):
            assert svc.current.overlay.n_events(new) == 21
            assert svc.current.overlay.last_seq == 21
        assert a.recommend(new, 10).product_ids == b.recommend(new, 10).product_ids
    finally:
        a.close()
        b.close()


def test_a_watched_export_is_swapped_in_by_itself(app_run, train):
    import time

    svc = RecommendationService(app_run / "models" / "model_comparison", watch=0.05)
    try:
        v1 = svc.current.version
        export_model(fitted("ease", train), app_run, "model_comparison", train=train, label="ease")
        deadline = time.monotonic() + 30
        while svc.current.version == v1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.current.version != v1 and svc.current.export.spec.label == "ease"
        assert svc.reloads == 1
        (app_run / "models" / "model_comparison" / "serving.json").write_text("{}")
        time.sleep(0.5)  # a broken export is not loaded; the old one keeps serving
        assert svc.current.export.spec.label == "ease" and svc.reloads == 1
    finally:
        svc.close()
