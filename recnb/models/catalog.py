"""The table of registered model classes by name, filled as the model modules are imported.

The lowest module of :mod:`recnb.models` (it imports no other recnb module): the contract
(:mod:`recnb.models.base`) looks a saved model's name up here in :meth:`Recommender.load`, and the
registry (:mod:`recnb.models.registry`, which imports the contract) adds each class under its name
with :func:`recnb.models.registry.register` and builds models from params. So the contract never
imports the registry, and the registry imports the contract: one direction.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__all__ = ["MODEL_MODULES", "add", "load_all", "lookup", "names"]

#: modules holding registered models; a module that is not present in this checkout is skipped
MODEL_MODULES = (
    "recnb.models.baselines",
    "recnb.models.knn",
    "recnb.models.content",
    "recnb.models.factorization",
    "recnb.models.ease",
    "recnb.models.edlae",
    "recnb.models.rp3beta",
    "recnb.models.implicit_models",
    "recnb.models.cornac_models",
    "recnb.models.lightfm_model",
    "recnb.models.neural",
    "recnb.models.blend",
    "recnb.models.repeat",
)

_CLASSES: dict[str, Any] = {}
_loaded = False


def add(name: str, cls: type) -> None:
    """Record ``cls`` under ``name``; a second class under the same name is an error."""
    other = _CLASSES.get(name)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"register: name {name!r} used by {other.__name__} and {cls.__name__}")
    _CLASSES[name] = cls


def load_all() -> None:
    """Import every model module once (each registers its classes on import)."""
    global _loaded
    if _loaded:
        return
    for mod in MODEL_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    _loaded = True


def lookup(name: str) -> type:
    """The class registered under ``name``.

    Raises
    ------
    KeyError
        Unknown name; the message lists the registered names.
    """
    load_all()
    try:
        return _CLASSES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {sorted(_CLASSES)}") from None


def names() -> list[str]:
    """Every registered name, sorted."""
    load_all()
    return sorted(_CLASSES)
