"""Online inference: export a fitted model from a run, serve it over HTTP, record new events.

- :mod:`recnb.serving.export`: the export artefact of a run (``<run>/models/<name>/``: the model's
  save, its training history, fallback, serving spec and a checksummed manifest),
  :func:`export_model` and :func:`load_export`;
- :mod:`recnb.serving.history`: the per-customer overlay of events since the export and scoring a
  history the model was not trained on;
- :mod:`recnb.serving.store`: the durable SQLite event store (WAL, group commit);
- :mod:`recnb.serving.service`: what each endpoint computes, hot reload;
- :mod:`recnb.serving.api`: the FastAPI app factory :func:`create_app`.

``python -m recnb serve reports/<run>`` starts the service on uvicorn. Importing this package
imports neither FastAPI nor uvicorn (only :mod:`recnb.serving.api` does), nor numpy: the names
below load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and the docs; at run time the names load on first use
    from recnb.serving.export import (
        ExportedModel,
        ExportError,
        ServingSpec,
        describe_export,
        export_model,
        find_export,
        key_check,
        list_exports,
        load_export,
    )

__all__ = [
    "ExportError",
    "ExportedModel",
    "ServingSpec",
    "create_app",
    "describe_export",
    "export_model",
    "find_export",
    "key_check",
    "list_exports",
    "load_export",
]


def __getattr__(name: str) -> Any:
    """The names of :mod:`recnb.serving.export`, imported on first use: ``python -m recnb --help``
    and ``recnb.serving.cli`` do not load numpy, the models or FastAPI."""
    if name in __all__ and name != "create_app":
        return getattr(importlib.import_module("recnb.serving.export"), name)
    raise AttributeError(f"module 'recnb.serving' has no attribute {name!r}")


def create_app(*args, **kwargs):
    """:func:`recnb.serving.api.create_app` (imported on first use: FastAPI loads only then)."""
    from recnb.serving.api import create_app as _create_app

    return _create_app(*args, **kwargs)
