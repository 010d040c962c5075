"""Hyperparameter checks shared by the model families: errors name the model, the key and the value."""

from __future__ import annotations

from typing import Any

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
