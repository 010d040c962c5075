"""Durable event intake: an embedded SQLite store, committed before the service answers.

Durability choice: WAL journal with ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a
crash of the *process* (a committed transaction sits in the WAL file; the OS writes it out even
after ``SIGKILL``), but a power cut or kernel crash can lose the last transactions, because the
WAL is only synced at checkpoints. ``FULL`` syncs the WAL at every commit, so an acknowledged event
survives the machine going down too: "acknowledged" then means "on disk". Its cost, one ``fsync``
per commit, is paid once per *group* of events: a single writer thread takes every event waiting
in its queue, inserts them in one transaction and commits once (group commit), then acknowledges
them all. Under load the groups grow and the fsyncs per event fall; ``benchmarks/bench_serving.py``
measures the intake rate of both settings.

An event may carry a client ``event_id`` (idempotency key): a retried POST with the same id is
stored once; the same id with a different event is refused (:class:`EventConflict`).

The table layout is :data:`recnb.data.loaders.events_db.SCHEMA`; the ``events_db`` data source reads the
store into the next training run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recnb.data.loaders.events_db import EVENT_COLUMNS, SCHEMA, STORE_FORMAT, read_store_events

__all__ = [
    "Ack",
    "EventConflict",
    "EventStore",
    "StoreError",
    "StoredEvent",
]

log = logging.getLogger("recnb.serving")

SYNCHRONOUS = ("FULL", "NORMAL")
#: most events committed in one transaction
MAX_GROUP = 512


class StoreError(RuntimeError):
    """The store cannot be opened or written (the message names the file)."""


class EventConflict(ValueError):
    """An ``event_id`` already stored with a different event."""


@dataclass(frozen=True)
class StoredEvent:
    """One event to store (ids already validated; ``customer_id`` is the pseudonym)."""

    customer_id: str
    product_id: str
    event: str
    timestamp: str
    value: float | None = None
    dwell_seconds: float | None = None
    session_id: str | None = None
    device: str | None = None
    location: str | None = None
    price_paid: float | None = None
    event_id: str | None = None
    model_version: str = ""

    def row(self, received_at: str) -> tuple[Any, ...]:
        return (
            self.event_id,
            *(getattr(self, c) for c in EVENT_COLUMNS),
            received_at,
            self.model_version,
        )


@dataclass(frozen=True)
class Ack:
    """What the store did with one event: its ``seq`` and whether it was a repeat."""

    seq: int
    duplicate: bool
    event: StoredEvent


_INSERT = (
    "INSERT INTO events (event_id, "
    + ", ".join(EVENT_COLUMNS)
    + ", received_at, model_version) VALUES ("
    + ", ".join("?" * (len(EVENT_COLUMNS) + 3))
    + ") ON CONFLICT(event_id) DO NOTHING RETURNING seq"
)

#: what must match for a repeated event_id to be the same event (the timestamp defaults to the time
#: of receipt, so a retry without one differs there)
_SAME = ("customer_id", "product_id", "event", "value")


class EventStore:
    """The service's event store (see the module docstring).

    Parameters
    ----------
    path : str or path
        SQLite file (created with its folder if missing).
    key_check : str or None
        Key check of the pseudonyms stored (:func:`recnb.serving.export.key_check`); a store
        written under another key is refused. None: not recorded (ids not pseudonyms of a known
        key).
    synchronous : {"FULL", "NORMAL"}
        SQLite ``synchronous`` setting (see the module docstring for the choice).
    on_commit : callable, optional
        Called by the writer thread with the newly stored events (acks, ``seq`` order) after each
        commit and before they are acknowledged; the service applies them to its overlay.

    Raises
    ------
    StoreError
        Not an SQLite file, another store format, another key check.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        key_check: str | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        on_commit: Callable[[list[Ack]], None] | None = None,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self.on_commit = on_commit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = self._open()
            self.meta = self._init_meta(key_check)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the event store ({e})") from None
        self._queue: queue.Queue[tuple[list[StoredEvent], Future] | None] = queue.Queue()
        self._closed = False
        self._state_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self.commits = 0
        self.stored = 0  # events this object committed
        self.total = self._count()  # events in the file (kept up to date by the writer)
        self._writer = self._start_writer()

    def _start_writer(self) -> threading.Thread:
        t = threading.Thread(target=self._run, name="event-store-writer", daemon=True)
        t.start()
        return t

    # -- setup -------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: the file system does not support WAL (mode {mode})")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        con.execute("PRAGMA busy_timeout=5000")
        con.executescript(SCHEMA)
        return con

    def _init_meta(self, key_check: str | None) -> dict[str, str]:
        con = self._con
        meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
        if not meta:
            now = _utc_now()
            con.execute("BEGIN IMMEDIATE")
            rows = [("format", STORE_FORMAT), ("created_at", now)]
            if key_check is not None:
                rows.append(("key_check", key_check))
            con.executemany("INSERT INTO store_meta (key, value) VALUES (?, ?)", rows)
            con.execute("COMMIT")
            return dict(rows)
        if meta.get("format") != STORE_FORMAT:
            raise StoreError(
                f"{self.path}: store format {meta.get('format')!r}, expected {STORE_FORMAT!r}"
            )
        stored = meta.get("key_check")
        if key_check is not None and stored is not None and stored != key_check:
            raise StoreError(
                f"{self.path}: holds pseudonyms made with another key (key check {stored}, this "
                f"model's is {key_check}); use another store file for this export"
            )
        if key_check is not None and stored is None:
            con.execute("INSERT INTO store_meta (key, value) VALUES ('key_check', ?)", (key_check,))
            meta["key_check"] = key_check
        return meta

    # -- writing -----------------------------------------------------------------------------------
    def submit(self, events: Sequence[StoredEvent]) -> Future:
        """Queue events for the writer; the future resolves to their :class:`Ack` list once they
        are committed (or raises :class:`EventConflict` / :class:`StoreError`)."""
        fut: Future = Future()
        if self._closed:
            fut.set_exception(StoreError(f"{self.path}: the store is closed"))
            return fut
        self._queue.put((list(events), fut))
        return fut

    def append(self, events: Sequence[StoredEvent], timeout: float | None = 30.0) -> list[Ack]:
        """Store events and wait for the commit (blocking)."""
        return self.submit(events).result(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            n = len(item[0])
            while n < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                n += len(nxt[0])
            self._commit_group(group)
            if stop:
                return

    def _commit_group(self, group: list[tuple[list[StoredEvent], Future]]) -> None:
        received = _utc_now()
        try:
            results = self._write(group, received)
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("ROLLBACK")
            err = StoreError(f"{self.path}: events not stored ({type(e).__name__}: {e})")
            for _, fut in group:
                fut.set_exception(err)
            return
        self.commits += 1
        new = [a for res in results if isinstance(res, list) for a in res if not a.duplicate]
        self.stored += len(new)
        self.total += len(new)
        if new and self.on_commit is not None:
            try:
                self.on_commit(new)
            except Exception:  # noqa: BLE001 - the events are stored and acknowledged anyway
                log.exception("%s: applying committed events failed", self.path)
        for (_, fut), res in zip(group, results, strict=True):
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    def _write(
        self, group: list[tuple[list[StoredEvent], Future]], received: str
    ) -> list[list[Ack] | BaseException]:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        out: list[list[Ack] | BaseException] = []
        for events, _ in group:
            con.execute("SAVEPOINT request")
            try:
                acks = [self._insert(ev, received) for ev in events]
            except (EventConflict, sqlite3.IntegrityError) as e:
                con.execute("ROLLBACK TO request")
                con.execute("RELEASE request")
                out.append(e if isinstance(e, EventConflict) else EventConflict(str(e)))
                continue
            con.execute("RELEASE request")
            out.append(acks)
        con.execute("COMMIT")
        return out

    def _insert(self, ev: StoredEvent, received: str) -> Ack:
        row = self._con.execute(_INSERT, ev.row(received)).fetchone()
        if row is not None:
            return Ack(int(row[0]), False, ev)
        prev = self._con.execute(
            f"SELECT seq, {', '.join(_SAME)} FROM events WHERE event_id = ?", (ev.event_id,)
        ).fetchone()
        if tuple(prev[1:]) != tuple(getattr(ev, c) for c in _SAME):
            raise EventConflict(
                f"event_id {ev.event_id!r} was already used for another event (seq {prev[0]}); "
                "an event_id identifies one event"
            )
        return Ack(int(prev[0]), True, ev)

    # -- reading -----------------------------------------------------------------------------------
    def count(self) -> int:
        """Events in the store (a fresh read-only connection: sees every committed event)."""
        return self._count()

    def _count(self) -> int:
        con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        con = self.__dict__.get("_ro")
        if con is None:
            con = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._ro = con
        return con

    def max_seq(self) -> int:
        """The last committed ``seq`` (0 for an empty store); a cheap indexed read."""
        with self._read_lock:
            row = self._reader().execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def read_after(self, seq: int) -> list[tuple]:
        """``(seq, customer_id, product_id, event, value, dwell_seconds)`` of the committed events
        with ``seq > seq``, in order (one read transaction: a consistent prefix of the log)."""
        with self._read_lock:
            return (
                self._reader()
                .execute(
                    "SELECT seq, customer_id, product_id, event, value, dwell_seconds FROM events "
                    "WHERE seq > ? ORDER BY seq",
                    (int(seq),),
                )
                .fetchall()
            )

    def read(self, after_seq: int = 0):
        """Stored events with ``seq > after_seq`` (:func:`recnb.data.loaders.events_db.read_store_events`)."""
        return read_store_events(self.path, after_seq)[0]

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the file."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
            self._writer.join()
            self._con.close()
            with self._read_lock:
                ro = self.__dict__.pop("_ro", None)
                if ro is not None:
                    ro.close()

    def open(self) -> None:
        """Open the file and start the writer again after :meth:`close` (no-op when open)."""
        with self._state_lock:
            if not self._closed:
                return
            try:
                self._con = self._open()
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{self.path}: cannot open the event store ({e})") from None
            self._writer = self._start_writer()
            self._closed = False

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
