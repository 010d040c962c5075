"""``python -m recnb serve reports/<run>``: start the recommendation service on uvicorn.

The event store defaults to ``events/<run name>.sqlite`` under the current folder: outside
``reports/``, whose run folders are generated (``make clean-reports`` deletes them) while the store
holds the only copy of the events it accepted. Uvicorn's access log is off: request lines would put
customer ids (raw ones with ``--ids raw``) into the service's log.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["ADMIN_TOKEN_ENV", "add_parser", "default_store", "serve"]

#: environment variable holding the token ``POST /admin/reload`` requires (unset: no token)
ADMIN_TOKEN_ENV = "RECNB_ADMIN_TOKEN"
#: folder of the default event stores
EVENTS_DIR = "events"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``serve`` command to the CLI's subparsers."""
    p = sub.add_parser(
        "serve",
        help="serve a run's exported model over HTTP (FastAPI on uvicorn)",
        description=__doc__,
    )
    p.add_argument("run_dir", help="the run folder, e.g. reports/default")
    p.add_argument(
        "--model",
        default=None,
        help="export name under <run>/models/ (default: "
        "champion, else model_comparison, else the only one)",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1: loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--store", default=None, help=f"SQLite event store (default {EVENTS_DIR}/<run name>.sqlite)"
    )
    p.add_argument("--no-store", action="store_true", help="read-only: POST /events answers 503")
    p.add_argument(
        "--ids",
        choices=("pseudonym", "raw"),
        default="pseudonym",
        help="customer ids clients send: the run's pseudonyms, or the shop's own ids "
        "(pseudonymized with RECNB_PSEUDONYM_KEY, never stored)",
    )
    p.add_argument(
        "--synchronous",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="SQLite durability of the event store (FULL: on disk before the answer)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="service processes sharing the port and the store (each follows the store and "
        "watches the export)",
    )
    p.add_argument(
        "--watch",
        type=float,
        default=None,
        help="seconds between checks of the export for a new version (default: 0 = reload on "
        "POST /admin/reload only; 2 with several workers)",
    )
    p.add_argument("--log-level", default="info")
    return p


def default_store(run_dir: str | os.PathLike) -> Path:
    """``events/<run name>.sqlite`` (run name from the run folder's manifest, else its name)."""
    import json

    run_dir = Path(run_dir)
    name = run_dir.resolve().name
    man = run_dir / "manifest.json"
    if man.is_file():
        try:
            name = json.loads(man.read_text(encoding="utf-8")).get("run_name") or name
        except (ValueError, OSError):
            pass
    return Path(EVENTS_DIR) / f"{name}.sqlite"


def serve(args: argparse.Namespace) -> int:
    """Build the app for ``args`` and run it on uvicorn until interrupted."""
    import uvicorn

    from recnb.privacy import KEY_ENV_VAR
    from recnb.serving.api import ENV, create_app
    from recnb.serving.export import find_export, key_check, load_export

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    export = find_export(args.run_dir, args.model)
    store = None if args.no_store else Path(args.store or default_store(args.run_dir))
    watch = args.watch if args.watch is not None else (2.0 if args.workers > 1 else 0.0)
    key = None
    if args.ids == "raw":
        key = os.environ.get(KEY_ENV_VAR)
        if not key:
            from recnb.privacy import DEMO_KEY

            # the synthetic shop's runs use the public demo key; any other run needs the real one
            if load_export(export).spec.customer_ids.key_check == key_check(DEMO_KEY):
                key = DEMO_KEY.decode()
    where = f"http://{args.host}:{args.port}"
    events = store or "not stored (--no-store)"
    common = dict(host=args.host, port=args.port, access_log=False, log_level=args.log_level,
                  timeout_graceful_shutdown=10)  # fmt: skip
    if args.workers == 1:
        app = create_app(
            args.run_dir,
            model=export.name,
            store=store,
            ids=args.ids,
            key=key,
            synchronous=args.synchronous,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
            watch=watch,
        )
        version = app.state.service.current.version
        print(f"recnb: serving {export} (version {version}) on {where}  events -> {events}",
              flush=True)  # fmt: skip
        uvicorn.run(app, **common)
        return 0
    # several processes: each worker builds the same app from the environment
    load_export(export)  # fail here, once, rather than in every worker
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            ENV["run"]: str(Path(args.run_dir).resolve()),
            ENV["model"]: export.name,
            ENV["store"]: str(store.resolve()) if store is not None else "",
            ENV["ids"]: args.ids,
            ENV["synchronous"]: args.synchronous,
            ENV["watch"]: str(watch),
            ENV["follow"]: "1",
        }
    )
    if key is not None:
        os.environ[KEY_ENV_VAR] = key if isinstance(key, str) else key.decode()
    print(f"recnb: serving {export} with {args.workers} workers on {where}  events -> {events}",
          flush=True)  # fmt: skip
    uvicorn.run("recnb.serving.api:app_from_env", factory=True, workers=args.workers, **common)
    return 0
