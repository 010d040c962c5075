"""Model names used in params files -> model classes.

Each model module decorates its classes with :func:`register`; :data:`REGISTRY` imports the model
modules on first use (so ``import recnb.models`` stays cheap and torch is only loaded when a neural
model is asked for). :func:`make_model` is the one way params become a model: an unknown name or an
unknown hyperparameter is an error that lists what is allowed. The table of classes itself is
:mod:`recnb.models.catalog`, which the contract reads too (without importing this module).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd

from recnb.models import catalog
from recnb.models.base import Recommender, init_params

__all__ = [
    "REGISTRY",
    "hyperparameters",
    "make_model",
    "model_capabilities",
    "register",
]

T = TypeVar("T", bound=type[Recommender])


def register(cls: T) -> T:
    """Class decorator: add a :class:`Recommender` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise TypeError(f"register: {cls!r} is not a Recommender subclass")
    if not cls.name:
        raise ValueError(f"register: {cls.__name__} has no `name` class attribute")
    catalog.add(cls.name, cls)
    return cls


class _Registry(Mapping[str, type[Recommender]]):
    """Read-only view of the registered models, filled on first access."""

    def __getitem__(self, name: str) -> type[Recommender]:
        return catalog.lookup(name)

    def __iter__(self) -> Iterator[str]:
        return iter(catalog.names())

    def __len__(self) -> int:
        return len(catalog.names())

    def __repr__(self) -> str:
        return f"REGISTRY({sorted(self)})"


#: name -> model class
REGISTRY: Mapping[str, type[Recommender]] = _Registry()


def hyperparameters(name: str) -> dict[str, Any]:
    """The hyperparameters of model ``name`` with their defaults."""
    return init_params(REGISTRY[name])


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


def model_capabilities(models: Mapping[str, str] | Sequence[str] | None = None) -> pd.DataFrame:
    """What each model can serve, for the report's capability table.

    Parameters
    ----------
    models : mapping or sequence of str, optional
        ``{label: registered name}`` (a comparison's models, e.g.
        :func:`recnb.evaluation.specs.algorithms`), or registered names (each its own label);
        default every registered model.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model`` (the label), ``algorithm`` (the registered name),
        ``cold_customers`` (``"own scores"`` when the model scores customers without history
        itself, else ``"popularity fallback"``), ``cold_products`` (True when products without
        training interactions can be recommended, through features), ``explains``.
    """
    if models is None:
        models = list(REGISTRY)
    pairs = models.items() if isinstance(models, Mapping) else ((m, m) for m in models)
    rows = []
    for label, name in pairs:
        cls = REGISTRY[name]
        rows.append(
            {
                "model": label,
                "algorithm": name,
                "cold_customers": "own scores"
                if cls.serves_cold_customers
                else "popularity fallback",
                "cold_products": bool(cls.serves_cold_products),
                "explains": bool(cls.can_explain),
            }
        )
    return pd.DataFrame(
        rows, columns=["model", "algorithm", "cold_customers", "cold_products", "explains"]
    )
