"""Model names used in params files -> model classes.

Each model module decorates its classes with :func:`register`; :data:`REGISTRY` imports the model
modules on first use (so ``import recnb.models`` stays cheap and torch is only loaded when a neural
model is asked for). :func:`make_model` is the one way params become a model: an unknown name or an
unknown hyperparameter is an error that lists what is allowed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import pandas as pd

from recnb.models.base import Recommender

__all__ = [
    "MODEL_MODULES",
    "REGISTRY",
    "hyperparameters",
    "make_model",
    "model_capabilities",
    "register",
]

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
)

_CLASSES: dict[str, type[Recommender]] = {}
_loaded = False

T = TypeVar("T", bound=type[Recommender])


def register(cls: T) -> T:
    """Class decorator: add a :class:`Recommender` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise TypeError(f"register: {cls!r} is not a Recommender subclass")
    if not cls.name:
        raise ValueError(f"register: {cls.__name__} has no `name` class attribute")
    other = _CLASSES.get(cls.name)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"register: name {cls.name!r} used by {other.__name__} and {cls.__name__}")
    _CLASSES[cls.name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for mod in MODEL_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    _loaded = True


class _Registry(Mapping[str, type[Recommender]]):
    """Read-only view of the registered models, filled on first access."""

    def __getitem__(self, name: str) -> type[Recommender]:
        _load_all()
        try:
            return _CLASSES[name]
        except KeyError:
            raise KeyError(f"unknown model {name!r}; known models: {sorted(_CLASSES)}") from None

    def __iter__(self) -> Iterator[str]:
        _load_all()
        return iter(sorted(_CLASSES))

    def __len__(self) -> int:
        _load_all()
        return len(_CLASSES)

    def __repr__(self) -> str:
        return f"REGISTRY({sorted(self)})"


#: name -> model class
REGISTRY: Mapping[str, type[Recommender]] = _Registry()


def hyperparameters(name: str) -> dict[str, Any]:
    """The hyperparameters of model ``name`` with their defaults."""
    cls = REGISTRY[name]
    sig = inspect.signature(cls.__init__)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def make_model(name: str, **params: Any) -> Recommender:
    """Build model ``name`` with ``params``.

    Raises
    ------
    KeyError
        Unknown model name (the message lists the registered names).
    TypeError
        Unknown hyperparameter (the message lists the allowed ones).
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {sorted(REGISTRY)}")
    allowed = hyperparameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError(
            f"model {name!r}: unknown hyperparameter(s) {unknown}; allowed: {sorted(allowed)}"
        )
    return REGISTRY[name](**params)


def model_capabilities(names: list[str] | None = None) -> pd.DataFrame:
    """What each model can serve, for the report's cold-start table.

    Parameters
    ----------
    names : list of str, optional
        Registered names (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model``, ``cold_customers`` ("model" when the model scores customers
        without history itself, else "popularity fallback"), ``cold_products`` (True when products
        without training interactions can be recommended, through features), ``explains``.
    """
    rows = []
    for name in names if names is not None else list(REGISTRY):
        cls = REGISTRY[name]
        rows.append(
            {
                "model": name,
                "cold_customers": "model" if cls.serves_cold_customers else "popularity fallback",
                "cold_products": bool(cls.serves_cold_products),
                "explains": bool(cls.can_explain),
            }
        )
    return pd.DataFrame(rows, columns=["model", "cold_customers", "cold_products", "explains"])
