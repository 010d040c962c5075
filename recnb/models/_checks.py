"""Hyperparameter checks shared by the model families: errors name the model, the key and the value."""

from __future__ import annotations

import collections.abc
import types
import typing
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np


def check_positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")


def check_nonnegative(owner: str, name: str, value: Any, strict: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number ``>= 0`` (``> 0`` when ``strict``)."""
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(
            f"{owner}: {name} must be a {'positive' if strict else 'non-negative'} "
            f"finite number, got {value!r}"
        )


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a bool (``1`` or ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be a bool, got {value!r}")


def check_random_state(owner: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is None or an int >= 0 (a seed for ``default_rng``)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{owner}: random_state must be None or an int >= 0, got {value!r}")


def check_annotated_types(owner: str, func: Callable[..., Any], values: dict[str, Any]) -> None:
    """Raise ValueError when a value does not have the type its parameter is annotated with.

    ``func`` is a model's ``__init__``; its annotations (``int``, ``float``, ``bool``, ``str``,
    ``X | None``, ``Literal[...]``, ``list[X]``, ...) are the types the hyperparameters must have.
    An ``int`` is accepted for ``float``; a ``bool`` is never accepted for a number; numpy scalars
    count as the matching Python type. Parameters without an annotation are not checked.
    """
    hints = _hints(func)
    for key, value in values.items():
        hint = hints.get(key)
        if hint is not None and not _matches(value, hint):
            raise ValueError(f"{owner}: {key} must be {_describe(hint)}, got {value!r}")


@lru_cache(maxsize=256)
def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - an unresolvable annotation only disables the type check
        return {}
    hints.pop("return", None)
    return hints


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
    if origin in (list, tuple, Sequence, collections.abc.Sequence):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(args) == 0 or (
                len(args) == len(value)
                and all(_matches(v, a) for v, a in zip(value, args, strict=True))
            )
        return not args or all(_matches(v, args[0]) for v in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this check does not model


def _describe(hint: Any) -> str:
    if hint is None or hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + repr(list(typing.get_args(hint)))
    names = {bool: "a bool", int: "an int", float: "a number", str: "a str"}
    if hint in names:
        return names[hint]
    if origin in (list, tuple, Sequence, collections.abc.Sequence):
        return "a list"
    if origin in (dict, collections.abc.Mapping):
        return "a mapping"
    return f"a {getattr(hint, '__name__', str(hint))}"
