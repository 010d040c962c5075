"""The HTTP API: ``create_app(run_dir)`` builds a FastAPI application over a run's exported model.

Endpoints (the OpenAPI spec is at ``/openapi.json``):

- ``GET /recommendations/{customer_id}?k=&device=&location=&hour=``: the customer's top-k, with
  where the list came from (``source``), whether it is the cold-start fallback and why, how many
  events since the export it reflects, and the context as received (checked against the run's
  vocabulary; ``used`` says whether the model read it: no model of this project reads context yet);
- ``POST /events``: one event, committed to the store before the answer (201; 200 for a repeated
  ``event_id``); the customer's history is updated at once (see :mod:`recnb.serving.service`);
- ``GET /explain/{customer_id}/{product_id}?limit=``: the contributions behind the score (other
  customers are never named: user-kNN's neighbours are one summed row);
- ``GET /health``: the served export, its version, counts;
- ``POST /admin/reload``: load the export folder again and swap it in atomically (requests in
  flight finish on the old model); a bad export is refused (409) and the old one keeps serving.
  With ``admin_token`` set, the ``X-Admin-Token`` header must carry it.

Bad requests get a 4xx with ``{"detail": ..., "message": "<what is wrong, naming the field>"}``:
unknown or repeated query parameters, values out of range, malformed ids (customer ids must have
the export's pseudonym form), malformed or unknown body fields, bodies over ``max_body_bytes``
(413). Customer ids in responses are always the run's pseudonyms. The only state besides the
loaded model is the event store; the app holds both in ``app.state.service``.
"""

import asyncio
import datetime as dt
import gc
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from starlette.exceptions import HTTPException

from recnb.data.schema import EVENT_TYPES
from recnb.serving.export import ExportError, find_export
from recnb.serving.service import IdMode, RecommendationService
from recnb.serving.spec import PRODUCT_ID_PATTERN
from recnb.serving.store import EventConflict, StoredEvent, StoreError

__all__ = ["MAX_BODY_BYTES", "MAX_K", "create_app"]

#: longest list a request may ask for
MAX_K = 100
#: largest request body accepted (an event is a few hundred bytes)
MAX_BODY_BYTES = 16 * 1024
#: short tokens: session ids, devices, locations, event ids
TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
#: raw customer ids (``ids="raw"``): the shop's own ids, never stored or returned
RAW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$"
_EARLIEST = dt.datetime(1990, 1, 1)

EventType = Literal["view", "click", "add_to_cart", "wishlist", "purchase", "rating"]
assert tuple(EventType.__args__) == EVENT_TYPES  # type: ignore[attr-defined]


# -- request and response models -------------------------------------------------------------------
class RecommendationQuery(BaseModel):
    """Query parameters of ``GET /recommendations`` (``create_app`` adds ``device`` and
    ``location`` with the run's vocabulary as their allowed values, when the data records them)."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(10, ge=1, le=MAX_K, description="list length")
    hour: int | None = Field(None, ge=0, le=23, description="hour of day, 0-23")


#: context a request may carry besides the hour
CONTEXT_FIELDS = ("device", "location")


def _query_model(context: Any) -> type[RecommendationQuery]:
    """The query model of a served export: ``device``/``location`` limited to its vocabulary."""
    fields: dict[str, Any] = {}
    for name in CONTEXT_FIELDS:
        values = tuple(getattr(context, name))
        if values:
            fields[name] = (
                Literal[values] | None,  # type: ignore[valid-type]
                Field(None, description=f"{name} of the request (the run's vocabulary)"),
            )
    return create_model("RecommendationQuery", __base__=RecommendationQuery, **fields)


class ExplainQuery(BaseModel):
    """Query parameters of ``GET /explain``."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=100, description="contributions returned, largest first")


class RecommendedItem(BaseModel):
    rank: int = Field(description="1 = best")
    product_id: str
    score: float = Field(description="the model's score (popularity count for the fallback)")


class ContextEcho(BaseModel):
    device: str | None = None
    location: str | None = None
    hour: int | None = None
    used: bool = Field(description="whether the model read the context")
    note: str


class RecommendationResponse(BaseModel):
    customer_id: str = Field(description="the run's pseudonym of the customer")
    model: str = Field(description="the model's label in the run")
    model_version: str = Field(description="the served export's version")
    k: int
    items: list[RecommendedItem]
    source: Literal["model", "model_with_new_events", "model_new_events_excluded", "fallback"]
    fallback: bool = Field(description="true: the cold-start fallback (popularity) served the list")
    fallback_reason: str | None = None
    new_events: int = Field(description="events since the export this list reflects")
    context: ContextEcho


class EventIn(BaseModel):
    """One event. ``customer_id`` is the run's pseudonym (or the shop's id with ``ids=raw``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    customer_id: str = Field(max_length=128)
    product_id: str = Field(pattern=PRODUCT_ID_PATTERN, max_length=128)
    event: EventType
    timestamp: dt.datetime | None = Field(
        None,
        description="when it happened (ISO 8601; with a zone it is converted to UTC), from 1990 "
        "to at most a day after the service's clock; default: when the service received it",
    )
    value: float | None = Field(
        None, ge=-1e6, le=1e6, strict=True, description="rating or quantity"
    )
    dwell_seconds: float | None = Field(None, ge=0, le=7 * 86400, strict=True)
    session_id: str | None = Field(None, pattern=TOKEN_PATTERN)
    device: str | None = Field(None, pattern=TOKEN_PATTERN)
    location: str | None = Field(None, pattern=TOKEN_PATTERN)
    price_paid: float | None = Field(None, ge=0, le=1e9, strict=True)
    event_id: str | None = Field(
        None,
        pattern=TOKEN_PATTERN,
        description="idempotency key: a retried event with the same id is stored once",
    )

    @field_validator("timestamp")
    @classmethod
    def _time(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is None:
            return None
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        if v < _EARLIEST:
            raise ValueError(f"timestamp before {_EARLIEST.date()}")
        if v > dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1):
            raise ValueError("timestamp more than a day in the future")
        return v


class EventAck(BaseModel):
    seq: int = Field(description="position in the store (commit order)")
    customer_id: str = Field(description="the run's pseudonym of the customer")
    stored: bool = Field(description="committed to disk before this answer")
    duplicate: bool = Field(description="an event with this event_id was already stored")
    applied: bool = Field(description="the event changed the customer's history in the service")
    note: str


class Contribution(BaseModel):
    contributor: str
    kind: str
    contribution: float


class ExplanationResponse(BaseModel):
    customer_id: str
    product_id: str
    model: str
    model_version: str
    score: float
    explained: bool
    basis: Literal["training_history", "history_with_new_events", "fallback"]
    contributions: list[Contribution]
    n_contributions: int
    note: str


class Health(BaseModel):
    status: Literal["ok"]
    process: int = Field(description="id of the service process that answered (with --workers)")
    model: str
    model_name: str
    model_version: str
    run_name: str | None
    loaded_at: str
    started_at: str
    reloads: int
    customers: int
    products: int
    ids: str
    history_updates: str
    events_stored: int | None
    events_applied: int
    store_synchronous: str | None


class ReloadResult(BaseModel):
    old_version: str
    new_version: str
    changed: bool


class ErrorBody(BaseModel):
    detail: Any
    message: str


# -- errors -------------------------------------------------------------------------------------------
def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()))


def _validation_message(errors: Iterable[dict[str, Any]]) -> str:
    parts = []
    for e in errors:
        where = _loc(e)
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg")))
    return "; ".join(parts) or "invalid request"


def _invalid(loc: tuple[str, ...], msg: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the offending value is not echoed: with raw ids it could be a customer's own id
        errors = jsonable_encoder(
            [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()],
            custom_encoder={Exception: str},
        )
        return JSONResponse(
            status_code=422, content={"detail": errors, "message": _validation_message(errors)}
        )

    @app.exception_handler(HTTPException)
    async def _on_http(request: Request, exc: HTTPException) -> JSONResponse:
        text = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": exc.detail, "message": text},
            headers=getattr(exc, "headers", None),
        )


_ERRORS = {
    400: {"model": ErrorBody, "description": "malformed request"},
    404: {"model": ErrorBody, "description": "not found"},
    413: {"model": ErrorBody, "description": "request body too large"},
}


# -- body size --------------------------------------------------------------------------------------
class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with a JSON 413 before they are
    read whole: ``Content-Length`` is checked up front, a chunked body is counted as it arrives.
    (Starlette's own limiter answers in plain text; this one keeps the service's error format.)"""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.strip().isdigit() and int(value) > limit:
                problem = f"request body of {int(value)} bytes: the limit is {limit} bytes"
                await _send_json(send, 413, {"detail": problem, "message": problem})
                return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            msg = await receive()
            if msg.get("type") == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over the limit of {limit} bytes")
            return msg

        await self.app(scope, counted, send)


async def _send_json(send: Callable, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# -- the app ----------------------------------------------------------------------------------------
def _query_guard(*allowed: str, absent: dict[str, str] | None = None) -> Callable[[Request], None]:
    """A dependency refusing query parameters the route does not have (``absent`` gives the reason
    for some), and repeated ones."""
    names = set(allowed)
    absent = absent or {}

    async def guard(request: Request) -> None:  # no I/O: runs on the event loop
        keys = [k for k, _ in request.query_params.multi_items()]
        errors = [
            {
                "type": "extra_forbidden",
                "loc": ("query", k),
                "msg": absent.get(k)
                or f"unknown query parameter; allowed: {sorted(names) or 'none'}",
                "input": request.query_params.get(k),
            }
            for k in dict.fromkeys(keys)
            if k not in names
        ]
        errors += [
            {
                "type": "value_error",
                "loc": ("query", k),
                "msg": "given more than once",
                "input": request.query_params.getlist(k),
            }
            for k in dict.fromkeys(keys)
            if k in names and keys.count(k) > 1
        ]
        if errors:
            raise RequestValidationError(errors)

    return guard


def create_app(
    run_dir: str | os.PathLike | None = None,
    *,
    model: str | None = None,
    store: str | os.PathLike | None = None,
    ids: IdMode = "pseudonym",
    key: bytes | str | None = None,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    max_body_bytes: int = MAX_BODY_BYTES,
    admin_token: str | None = None,
    follow: bool = False,
    watch: float = 0.0,
    service: RecommendationService | None = None,
) -> FastAPI:
    """The service's FastAPI application over the export of a run.

    Parameters
    ----------
    run_dir : str or path
        The run folder (``reports/<run>``); its export is found by
        :func:`recnb.serving.export.find_export` (``model`` names one).
    model : str, optional
        Export name under ``<run_dir>/models/``.
    store : str or path, optional
        SQLite event store; None: ``POST /events`` answers 503 (read-only service).
    ids : {"pseudonym", "raw"}
        Form of the customer ids clients send (see :class:`RecommendationService`).
    key : bytes or str, optional
        The run's pseudonymization key (``ids="raw"``).
    synchronous : {"FULL", "NORMAL"}
        The store's durability setting.
    max_body_bytes : int
        Largest request body (413 above it).
    admin_token : str, optional
        Required in ``X-Admin-Token`` by ``POST /admin/reload`` when set.
    follow : bool
        Apply events other processes committed to the store before each read (several workers).
    watch : float
        Seconds between checks of the export for a new version (0: reload on request only).
    service : RecommendationService, optional
        A service built by the caller (``run_dir`` and the other service options are then ignored).

    Raises
    ------
    ExportError
        No loadable export in the run folder (the message names the file).
    """
    if service is None:
        if run_dir is None:
            raise ValueError("create_app: give run_dir (or a service)")
        service = RecommendationService(
            find_export(run_dir, model),
            store=store,
            ids=ids,
            key=key,
            synchronous=synchronous,
            follow=follow,
            watch=watch,
        )
    svc = service

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc.open()  # again after an earlier shutdown (one app, several test clients)
        # the loaded model's objects live as long as the process: keep them out of the garbage
        # collector's scans, which would otherwise pause requests now and then
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="recnb recommendation service",
        version="1",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else "",
        lifespan=lifespan,
    )
    app.state.service = svc
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=int(max_body_bytes))

    spec = svc.current.export.spec
    id_pattern = RAW_ID_PATTERN if svc.ids == "raw" else spec.customer_ids.pattern
    CustomerId = Annotated[
        str,
        PathParam(
            pattern=id_pattern,
            max_length=128,
            description="the run's customer pseudonym"
            if svc.ids == "pseudonym"
            else "the shop's customer id (pseudonymized by the service, never stored)",
        ),
    ]
    ProductId = Annotated[str, PathParam(pattern=PRODUCT_ID_PATTERN, max_length=128)]
    EventBody = create_model(
        "EventIn",
        __base__=EventIn,
        customer_id=(str, Field(pattern=id_pattern, max_length=128)),
    )

    Query_ = _query_model(spec.context)
    query_names = tuple(Query_.model_fields)
    absent = {n: f"this run's data records no {n}" for n in CONTEXT_FIELDS if n not in query_names}

    def check_context(q: RecommendationQuery) -> None:
        """The vocabulary of the export served now (a reload may have changed it)."""
        ctx = svc.current.export.spec.context
        for name in CONTEXT_FIELDS:
            value = getattr(q, name, None)
            allowed = getattr(ctx, name)
            if value is not None and value not in allowed:
                raise _invalid(("query", name), f"unknown {name}; the run knows {allowed}")

    @app.get(
        "/recommendations/{customer_id}",
        response_model=RecommendationResponse,
        responses=_ERRORS,
        dependencies=[Depends(_query_guard(*query_names, absent=absent))],
        summary="Top-k recommendations for a customer",
    )
    async def recommendations(
        customer_id: CustomerId,
        q: Annotated[Query_, Query()],  # type: ignore[valid-type]
    ) -> RecommendationResponse:
        check_context(q)
        svc.sync()
        served = svc.current
        rec = svc.recommend(svc.pseudonym(customer_id), q.k, served)
        ctx = served.export.spec.context
        body = RecommendationResponse.model_construct(
            customer_id=rec.customer_id,
            model=rec.label,
            model_version=rec.model_version,
            k=q.k,
            items=[
                RecommendedItem.model_construct(rank=i + 1, product_id=p, score=s)
                for i, (p, s) in enumerate(zip(rec.product_ids, rec.scores, strict=True))
            ],
            source=rec.source,
            fallback=rec.fallback,
            fallback_reason=rec.fallback_reason,
            new_events=rec.new_events,
            context=ContextEcho.model_construct(
                device=getattr(q, "device", None),
                location=getattr(q, "location", None),
                hour=q.hour,
                used=ctx.used_by_model,
                note=ctx.note,
            ),
        )
        # built from checked values: serialized once, without a second validation
        return Response(body.model_dump_json(), media_type="application/json")

    @app.post(
        "/events",
        response_model=EventAck,
        status_code=201,
        responses={
            200: {"model": EventAck, "description": "repeated event_id: already stored"},
            400: _ERRORS[400],
            409: {"model": ErrorBody, "description": "event_id used for another event"},
            413: _ERRORS[413],
            503: {"model": ErrorBody, "description": "the event could not be stored"},
        },
        dependencies=[Depends(_query_guard())],
        summary="Record one event (committed before the answer)",
    )
    async def events(event: EventBody) -> JSONResponse:  # type: ignore[valid-type]
        served = svc.current
        pattern = RAW_ID_PATTERN if svc.ids == "raw" else served.export.spec.customer_ids.pattern
        if not re.fullmatch(pattern, event.customer_id):  # the export was reloaded meanwhile
            raise _invalid(("body", "customer_id"), f"String should match pattern '{pattern}'")
        if svc.store is None:
            raise HTTPException(503, "this service runs without an event store (--store)")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        customer = svc.pseudonym(event.customer_id)
        stored = StoredEvent(
            customer_id=customer,
            product_id=event.product_id,
            event=event.event,
            timestamp=(event.timestamp or now).isoformat(timespec="microseconds"),
            value=event.value,
            dwell_seconds=event.dwell_seconds,
            session_id=event.session_id,
            device=event.device,
            location=event.location,
            price_paid=event.price_paid,
            event_id=event.event_id,
            model_version=served.version,
        )
        try:
            acks = await asyncio.wrap_future(svc.record([stored]))
        except EventConflict as e:
            raise HTTPException(409, str(e)) from None
        except StoreError as e:
            raise HTTPException(503, str(e)) from None
        ack = acks[0]
        applied, note = _applied(served, event)
        body = EventAck(
            seq=ack.seq,
            customer_id=customer,
            stored=True,
            duplicate=ack.duplicate,
            applied=applied and not ack.duplicate,
            note="already stored under this event_id" if ack.duplicate else note,
        )
        return JSONResponse(status_code=200 if ack.duplicate else 201, content=body.model_dump())

    @app.get(
        "/explain/{customer_id}/{product_id}",
        response_model=ExplanationResponse,
        responses=_ERRORS,
        dependencies=[Depends(_query_guard("limit"))],
        summary="Why a product scores what it scores for a customer",
    )
    def explain(
        customer_id: CustomerId, product_id: ProductId, q: Annotated[ExplainQuery, Query()]
    ) -> ExplanationResponse:
        svc.sync()
        try:
            ex = svc.explain(svc.pseudonym(customer_id), product_id, q.limit)
        except KeyError as e:
            raise HTTPException(404, str(e.args[0]) if e.args else "not found") from None
        return ExplanationResponse(
            customer_id=ex.customer_id,
            product_id=ex.product_id,
            model=ex.label,
            model_version=ex.model_version,
            score=ex.score,
            explained=ex.explained,
            basis=ex.basis,  # type: ignore[arg-type]
            contributions=[Contribution(**c) for c in ex.contributions],
            n_contributions=ex.n_contributions,
            note=ex.note,
        )

    @app.get(
        "/health",
        response_model=Health,
        dependencies=[Depends(_query_guard())],
        summary="Served export and counts",
    )
    def health() -> Health:
        s = svc.current
        sp = s.export.spec
        return Health(
            status="ok",
            process=os.getpid(),
            model=sp.label,
            model_name=sp.model,
            model_version=s.version,
            run_name=sp.run_name,
            loaded_at=s.loaded_at,
            started_at=svc.started_at,
            reloads=svc.reloads,
            customers=s.model.n_customers_,
            products=s.model.n_products_,
            ids=svc.ids,
            history_updates=sp.history_updates,
            events_stored=svc.store.total if svc.store is not None else None,
            events_applied=s.overlay.applied,
            store_synchronous=svc.store.synchronous if svc.store is not None else None,
        )

    @app.post(
        "/admin/reload",
        response_model=ReloadResult,
        responses={
            403: {"model": ErrorBody, "description": "wrong or missing admin token"},
            409: {"model": ErrorBody, "description": "the export on disk cannot be served"},
        },
        dependencies=[Depends(_query_guard())],
        summary="Load the export again and swap it in atomically",
    )
    def reload(
        x_admin_token: Annotated[str | None, Header(max_length=256)] = None,
    ) -> ReloadResult:
        if admin_token is not None and not (
            x_admin_token is not None and hmac.compare_digest(x_admin_token, admin_token)
        ):
            raise HTTPException(403, "wrong or missing X-Admin-Token")
        try:
            old, new = svc.reload()
        except (ExportError, ValueError) as e:
            raise HTTPException(409, f"not reloaded, still serving the old export: {e}") from None
        return ReloadResult(old_version=old, new_version=new, changed=old != new)

    return app


def _applied(served, event: EventIn) -> tuple[bool, str]:
    """Whether the event changes the customer's history in the service, and what it does."""
    model = served.model
    spec = served.export.spec
    if event.product_id not in model.product_index_:
        return False, (
            "stored; the product is not in the served model's catalogue, so it reaches the "
            "recommendations at the next training"
        )
    sig = spec.signal
    if sig.signal == "explicit":
        if event.event != "rating" or event.value is None:
            return False, "stored; this run learns from ratings only"
    elif sig.event_weights.get(event.event, 0.0) <= 0:
        return False, f"stored; '{event.event}' events have weight 0 in this run's signal"
    what = {
        "rescored": "the customer's recommendations are rescored from the updated history",
        "excluded_only": "the product leaves the customer's list; the scores change at the next "
        "training (this model cannot fold a new history in)",
        "none": "the model is not personal; stored for the next training",
    }[spec.history_updates]
    return True, f"stored; {what}"


#: environment variables :func:`app_from_env` reads (set by ``serve --workers``)
ENV = {
    "run": "RECNB_SERVE_RUN",
    "model": "RECNB_SERVE_MODEL",
    "store": "RECNB_SERVE_STORE",
    "ids": "RECNB_SERVE_IDS",
    "synchronous": "RECNB_SERVE_SYNCHRONOUS",
    "watch": "RECNB_SERVE_WATCH",
    "follow": "RECNB_SERVE_FOLLOW",
}


def app_from_env() -> FastAPI:
    """The app configured by environment variables (:data:`ENV`), for ``uvicorn --factory``: each
    worker process of ``python -m recnb serve --workers N`` builds its own from them."""
    from recnb.privacy import KEY_ENV_VAR

    run = os.environ.get(ENV["run"])
    if not run:
        raise ValueError(f"{ENV['run']} is not set (the run folder to serve)")
    ids = os.environ.get(ENV["ids"], "pseudonym")
    return create_app(
        Path(run),
        model=os.environ.get(ENV["model"]) or None,
        store=os.environ.get(ENV["store"]) or None,
        ids=ids,  # type: ignore[arg-type]
        key=os.environ.get(KEY_ENV_VAR) if ids == "raw" else None,
        synchronous=os.environ.get(ENV["synchronous"], "FULL"),  # type: ignore[arg-type]
        admin_token=os.environ.get("RECNB_ADMIN_TOKEN") or None,
        follow=os.environ.get(ENV["follow"], "0") == "1",
        watch=float(os.environ.get(ENV["watch"], "0") or 0),
    )
