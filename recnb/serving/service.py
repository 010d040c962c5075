"""The recommendation service without the web framework: what each endpoint computes.

:class:`RecommendationService` holds the one piece of state the service has: the *served* export
(:class:`Served`: the loaded model, its fallback, and the overlay of events accepted since the
export), replaced as a whole on reload. A request takes the current :class:`Served` once and uses
only it, so requests in flight during a reload finish on the model they started with, and no
request ever sees half of a reload.

Who gets what (the ``source`` of a list):

- ``model``: a customer with training history and no new event: the model's list, exactly what
  ``model.recommend`` returns;
- ``model_with_new_events``: a customer with events since the export, for a model that can score
  a new history (:mod:`recnb.serving.history`): the list from the current history, which may be a
  customer unknown to training whose first events arrived through ``POST /events``;
- ``model_new_events_excluded``: the same for a model that cannot fold a history in: the model's
  list without the products of the new events;
- ``fallback``: no usable history (unknown customer, or known without any positive interaction, or
  new events only and a model that cannot use them): the export's popularity list without the
  customer's products, flagged with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recnb.models.topk import mask_csr_rows, topk_dense
from recnb.serving.export import ExportedModel, ExportError, key_check, load_export
from recnb.serving.history import (
    HistoryOverlay,
    NewEvent,
    explain_view,
    history_view,
    personal,
    rescore,
)
from recnb.serving.store import Ack, EventStore, StoredEvent

__all__ = [
    "Explanation",
    "IdMode",
    "Recommendation",
    "RecommendationService",
    "Served",
]

log = logging.getLogger("recnb.serving")

IdMode = Literal["pseudonym", "raw"]
Source = Literal["model", "model_with_new_events", "model_new_events_excluded", "fallback"]


@dataclass
class Served:
    """One loaded export and the events applied on top of it."""

    export: ExportedModel
    overlay: HistoryOverlay
    loaded_at: str

    @property
    def version(self) -> str:
        return self.export.version

    @property
    def model(self):
        return self.export.model


@dataclass
class Recommendation:
    """One customer's list."""

    customer_id: str
    product_ids: list[str]
    scores: list[float]
    source: Source
    fallback_reason: str | None
    new_events: int
    model_version: str
    label: str

    @property
    def fallback(self) -> bool:
        return self.source == "fallback"


@dataclass
class Explanation:
    """Why a product scores what it scores for a customer."""

    customer_id: str
    product_id: str
    score: float
    explained: bool
    basis: str
    contributions: list[dict[str, Any]] = field(default_factory=list)
    n_contributions: int = 0
    note: str = ""
    model_version: str = ""
    label: str = ""


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class RecommendationService:
    """Serve one export of a run (see the module docstring).

    Parameters
    ----------
    export_dir : str or path
        An export folder (:func:`recnb.serving.export.find_export`).
    store : str or path, optional
        The SQLite event store; None disables ``POST /events`` (read-only service).
    ids : {"pseudonym", "raw"}
        ``pseudonym``: clients send the run's customer pseudonyms. ``raw``: clients send the shop's
        own customer ids and the service pseudonymizes them with ``key`` (which must give the
        export's key check); raw ids are never stored or returned.
    key : bytes or str, optional
        The run's pseudonymization key (``raw`` mode only).
    synchronous : {"FULL", "NORMAL"}
        The store's durability setting (see :mod:`recnb.serving.store`).
    follow : bool
        Before each read, apply events other processes committed to the store (several service
        processes on one store: each sees every event, including one just posted to another).
    watch : float
        Seconds between checks of the export's manifest; a new export is loaded and swapped in
        (as :meth:`reload`). 0: no watching (reload on request only).

    Raises
    ------
    ExportError
        The export cannot be loaded.
    ValueError
        ``raw`` ids without a key, or a key that does not give the export's key check.
    """

    def __init__(
        self,
        export_dir: str | os.PathLike,
        *,
        store: str | os.PathLike | None = None,
        ids: IdMode = "pseudonym",
        key: bytes | str | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        follow: bool = False,
        watch: float = 0.0,
    ) -> None:
        if ids not in ("pseudonym", "raw"):
            raise ValueError(f"ids must be 'pseudonym' or 'raw', got {ids!r}")
        self.export_dir = Path(export_dir)
        self.ids = ids
        self._key = key
        self._lock = threading.Lock()  # applying events to the overlay, swapping the served export
        self._reload_lock = threading.Lock()
        self.started_at = _utc_now()
        self.reloads = 0
        export = load_export(self.export_dir)
        self._check_ids(export)
        self.store: EventStore | None = None
        if store is not None:
            self.store = EventStore(
                store,
                key_check=export.spec.customer_ids.key_check,
                synchronous=synchronous,
                on_commit=self._on_commit,
            )
        self.follow = bool(follow) and self.store is not None
        self.current = self._build(export)
        self.watch = float(watch)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._seen_manifest = _manifest_signature(self.export_dir)
        self._start_watcher()

    def _start_watcher(self) -> None:
        if self.watch > 0 and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="export-watcher", daemon=True)
            self._watcher.start()

    # -- ids -----------------------------------------------------------------------------------------
    def _check_ids(self, export: ExportedModel) -> None:
        if self.ids != "raw":
            return
        if export.spec.customer_ids.form != "pseudonym":
            raise ValueError(
                f"{export.folder}: the model's customer ids are not pseudonyms, so raw ids cannot "
                "be mapped to them; serve with ids='pseudonym'"
            )
        recorded = export.spec.customer_ids.key_check
        if self._key is None:
            raise ValueError(
                "ids='raw' needs the run's pseudonymization key (RECNB_PSEUDONYM_KEY) to turn raw "
                "customer ids into the run's pseudonyms"
            )
        if recorded is None:
            raise ValueError(
                f"{export.folder}: the export records no key check, so a key cannot be verified; "
                "serve with ids='pseudonym' or export again with the run's key"
            )
        if key_check(self._key) != recorded:
            raise ValueError(
                f"{export.folder}: the configured key gives key check {key_check(self._key)}, the "
                f"export was made with key check {recorded}: another key would give other "
                "pseudonyms"
            )

    def pseudonym(self, customer_id: str) -> str:
        """The run's pseudonym of a customer id as the client sent it."""
        if self.ids == "raw":
            from recnb.privacy import pseudonymize

            length = self.current.export.spec.customer_ids.length or 16
            return str(pseudonymize([customer_id], self._key, length)[0])
        return customer_id

    # -- loading -------------------------------------------------------------------------------------
    def _build(self, export: ExportedModel) -> Served:
        model = export.model
        overlay = HistoryOverlay(
            export.history, model.customer_index_, model.product_index_, export.spec.signal
        )
        overlay.last_seq = export.spec.trained_through_seq
        if self.store is not None:
            self._replay(overlay)
        return Served(export=export, overlay=overlay, loaded_at=_utc_now())

    def _replay(self, overlay: HistoryOverlay) -> None:
        """Apply the store's events after ``overlay.last_seq`` (seq order: the log's prefix)."""
        assert self.store is not None
        rows = self.store.read_after(overlay.last_seq)
        if rows:
            overlay.apply(
                NewEvent(
                    int(seq),
                    str(c),
                    str(p),
                    str(e),
                    None if v is None else float(v),
                    None if d is None else float(d),
                )  # fmt: skip
                for seq, c, p, e, v, d in rows
            )

    def _on_commit(self, acks: list[Ack]) -> None:
        # read back from the store rather than apply the acks: with several processes on one
        # store, another one's events may sit between ours, and the overlay applies in seq order
        self.catch_up()

    def catch_up(self) -> None:
        """Apply every event committed to the store that the served overlay has not seen."""
        if self.store is None:
            return
        with self._lock:
            self._replay(self.current.overlay)

    def sync(self) -> None:
        """With ``follow``: catch up when the store holds events the overlay has not seen (one
        indexed read when it is current)."""
        if self.follow and self.store.max_seq() > self.current.overlay.last_seq:
            self.catch_up()

    def _watch(self) -> None:
        while not self._stop.wait(self.watch):
            sig = _manifest_signature(self.export_dir)
            if sig is None or sig == self._seen_manifest:
                continue
            try:
                self.reload()
            except (ExportError, ValueError, OSError) as e:
                log.warning("export %s changed but was not loaded: %s", self.export_dir, e)
            self._seen_manifest = sig

    def reload(self) -> tuple[str, str]:
        """Load the export folder again and serve it from now on (atomically).

        The new export is loaded and checked, and its overlay rebuilt from the store, while the old
        one keeps serving; then, holding the lock that event intake takes, the events committed
        meanwhile are applied and the served export is swapped. A failed load leaves the old
        export serving and raises.

        Returns
        -------
        (str, str)
            Old and new export versions (equal when the files did not change).
        """
        with self._reload_lock:
            sig = _manifest_signature(self.export_dir)
            export = load_export(self.export_dir)
            self._check_ids(export)
            if self.store is not None:
                kc = export.spec.customer_ids.key_check
                have = self.store.meta.get("key_check")
                if kc is not None and have is not None and kc != have:
                    raise ExportError(
                        export.folder / "serving.json",
                        f"key check {kc} differs from the event store's {have}: the new export's "
                        "pseudonyms are not the store's",
                    )
            served = self._build(export)
            with self._lock:
                if self.store is not None:
                    self._replay(served.overlay)
                old = self.current.version
                self.current = served
            self.reloads += 1
            self._seen_manifest = sig
        log.info("reloaded %s: %s -> %s", self.export_dir, old, served.version)
        return old, served.version

    # -- recommendations -----------------------------------------------------------------------------
    def recommend(self, customer_id: str, k: int, served: Served | None = None) -> Recommendation:
        """One customer's top-k (``customer_id`` is the pseudonym)."""
        return self.recommend_many([customer_id], k, served)[0]

    def recommend_many(
        self, customer_ids: Sequence[str], k: int, served: Served | None = None
    ) -> list[Recommendation]:
        """Top-k lists for several customers, each group of customers scored in one batch."""
        s = served or self.current
        model, overlay = s.model, s.overlay
        n = len(customer_ids)
        out: list[Recommendation | None] = [None] * n
        cidx = np.fromiter(
            (model.customer_index_.get(c, -1) for c in customer_ids), np.int64, count=n
        )
        hists = [overlay.history(c) for c in customer_ids]
        mode = s.export.spec.history_updates
        plain = [i for i in range(n) if hists[i] is None]
        updated = [i for i in range(n) if hists[i] is not None]

        if plain:
            idx = cidx[plain]
            fb = model.uses_fallback(idx)
            served_rows = [plain[j] for j in np.flatnonzero(~fb)]
            if served_rows:
                top_i, top_v = model.recommend_indices(cidx[served_rows], k=k)
                for r, row_i, row_v in zip(served_rows, top_i, top_v, strict=True):
                    out[r] = self._make(s, customer_ids[r], row_i, row_v, "model", None, 0)
            for j in np.flatnonzero(fb):
                r = plain[j]
                why = (
                    "no positive interaction in the training data"
                    if cidx[r] >= 0
                    else "customer unknown to the training data and no event since"
                )
                out[r] = self._fallback(s, customer_ids[r], k, None, why, 0)

        if updated:
            rescore_rows = [i for i in updated if mode == "rescored"]
            other_rows = [i for i in updated if mode != "rescored"]
            if rescore_rows:
                h = sp.vstack([hists[i] for i in rescore_rows], format="csr")
                scores = rescore(model, h, cidx[rescore_rows])
                scores = np.array(scores, dtype=np.float32, order="C")
                mask_csr_rows(scores, h.indptr, h.indices, np.arange(len(rescore_rows)))
                top_i, top_v = topk_dense(scores, k)
                for r, row_i, row_v in zip(rescore_rows, top_i, top_v, strict=True):
                    out[r] = self._make(
                        s,
                        customer_ids[r],
                        row_i,
                        row_v,
                        "model_with_new_events",
                        None,
                        overlay.n_events(customer_ids[r]),
                    )
            for r in other_rows:
                seen = hists[r].indices
                ne = overlay.n_events(customer_ids[r])
                known = cidx[r] >= 0 and not model.uses_fallback(cidx[r : r + 1])[0]
                if known:
                    top_i, top_v = model.recommend_indices(cidx[r : r + 1], k=k + len(seen))
                    keep = ~np.isin(top_i[0], seen)
                    row_i, row_v = top_i[0][keep][:k], top_v[0][keep][:k]
                    out[r] = self._make(
                        s, customer_ids[r], row_i, row_v, "model_new_events_excluded", None, ne
                    )
                else:
                    why = (
                        f"the {model.name!r} model cannot score a history it was not trained on; "
                        "the new events reach it at the next training"
                        if personal(model)
                        else None
                    )
                    out[r] = self._fallback(
                        s, customer_ids[r], k, seen, why or "non-personal model", ne
                    )
        return [o for o in out if o is not None]

    def _make(
        self,
        s: Served,
        customer_id: str,
        idx: np.ndarray,
        val: np.ndarray,
        source: Source,
        reason: str | None,
        new_events: int,
    ) -> Recommendation:
        ok = (idx >= 0) & np.isfinite(val)
        ids = s.model.product_ids_[idx[ok]]
        return Recommendation(
            customer_id=customer_id,
            product_ids=[str(p) for p in ids],
            scores=[float(v) for v in val[ok]],
            source=source,
            fallback_reason=reason,
            new_events=new_events,
            model_version=s.version,
            label=s.export.spec.label,
        )

    def _fallback(
        self,
        s: Served,
        customer_id: str,
        k: int,
        exclude: np.ndarray | None,
        reason: str,
        new_events: int,
    ) -> Recommendation:
        ranking = s.export.fallback
        if exclude is not None and len(exclude):
            ranking = ranking[~np.isin(ranking, exclude)]
        top = ranking[:k]
        return self._make(
            s,
            customer_id,
            top,
            s.model.popularity_[top].astype(np.float32),
            "fallback",
            reason,
            new_events,
        )

    # -- explanations --------------------------------------------------------------------------------
    def explain(
        self, customer_id: str, product_id: str, limit: int = 10, served: Served | None = None
    ) -> Explanation:
        """Why ``product_id`` scores what it scores for the customer (pseudonym).

        Raises
        ------
        KeyError
            ``product_id`` is not in the model's catalogue.
        """
        s = served or self.current
        model = s.model
        p = model.product_index_.get(product_id, -1)
        if p < 0:
            raise KeyError(f"product {product_id!r} is not in the served model's catalogue")
        c = model.customer_index_.get(customer_id, -1)
        hist = s.overlay.history(customer_id)
        base = {
            "customer_id": customer_id,
            "product_id": product_id,
            "model_version": s.version,
            "label": s.export.spec.label,
        }
        mode = s.export.spec.history_updates
        if hist is not None and mode == "rescored":
            view = history_view(model, hist, np.array([c]))
            score = float(np.asarray(view._score(np.array([0])))[0, p])
            if not model.can_explain:
                return Explanation(
                    **base,
                    score=score,
                    explained=False,
                    basis="history_with_new_events",
                    note=f"{model.name!r} cannot explain its scores: {model.explain_note}",
                )
            df = explain_view(view, p)
            return self._explanation(base, score, df, "history_with_new_events", limit)
        if c < 0 or model.uses_fallback(np.array([c]))[0]:
            score = float(model.popularity_[p])
            return Explanation(
                **base,
                score=score,
                explained=True,
                basis="fallback",
                contributions=[
                    {"contributor": "popularity", "kind": "fallback", "contribution": score}
                ],
                n_contributions=1,
                note="no usable history: the popularity fallback ranks this product by the "
                "number of customers who interacted with it in training",
            )
        score = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        note = (
            "events since the export are not in this model's scores yet (they are at the next "
            "training)"
            if hist is not None
            else ""
        )
        if not model.can_explain:
            return Explanation(
                **base,
                score=score,
                explained=False,
                basis="training_history",
                note=f"{model.name!r} cannot explain its scores: {model.explain_note}",
            )
        df = model.explain(customer_id, product_id)
        return self._explanation(base, score, df, "training_history", limit, note)

    @staticmethod
    def _explanation(
        base: dict[str, Any], score: float, df, basis: str, limit: int, note: str = ""
    ) -> Explanation:
        # other customers are never named: user-kNN's neighbours are summed into one row
        neighbours = df["kind"] == "neighbour"
        if neighbours.any():
            import pandas as pd

            agg = pd.DataFrame(
                {
                    "contributor": [f"{int(neighbours.sum())} similar customers"],
                    "kind": ["similar_customers"],
                    "contribution": [float(df.loc[neighbours, "contribution"].sum())],
                }
            )
            df = pd.concat([df[~neighbours], agg], ignore_index=True)
            df = df.sort_values("contribution", ascending=False, kind="stable")
        rows = [
            {
                "contributor": str(r.contributor),
                "kind": str(r.kind),
                "contribution": float(r.contribution),
            }
            for r in df.head(limit).itertuples(index=False)
        ]
        return Explanation(
            **base,
            score=score,
            explained=True,
            basis=basis,
            contributions=rows,
            n_contributions=len(df),
            note=note,
        )

    # -- events --------------------------------------------------------------------------------------
    def record(self, events: Sequence[StoredEvent]) -> Future:
        """Queue events for the store; the future resolves once they are committed and applied."""
        if self.store is None:
            raise RuntimeError("this service has no event store (started without --store)")
        return self.store.submit(events)

    def open(self) -> None:
        """(Re)start the event store's writer and the export watcher after :meth:`close`."""
        if self.store is not None:
            self.store.open()
        self._start_watcher()

    def close(self) -> None:
        """Stop watching; commit queued events and stop the store's writer (see :meth:`open`)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        if self.store is not None:
            self.store.close()


def _manifest_signature(folder: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of an export's manifest: changes when a new export is swapped in."""
    try:
        st = (folder / "manifest.json").stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
