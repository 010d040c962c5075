"""Configured models: a label for reports, a registry name and fixed hyperparameters.

The ``models`` and ``model_params`` parameters of notebook 03 become a list of :class:`ModelSpec`
(:func:`model_specs`); every table of the comparison lists its models in that order
(:func:`order_by_models`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recnb.models.base import Recommender
from recnb.models.registry import REGISTRY, hyperparameters, make_model

__all__ = ["ModelSpec", "algorithms", "model_specs", "order_by_models"]


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: a label for reports, a registry name and fixed hyperparameters.

    Attributes
    ----------
    label : str
        Name shown in tables and plots (unique within a comparison).
    model : str
        Registry name (see :data:`recnb.models.registry.REGISTRY`).
    params : dict
        Hyperparameters passed to :func:`recnb.models.registry.make_model`.
    """

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int | None = None, **overrides: Any) -> Recommender:
        """A new, unfitted model; ``random_state`` is the run seed unless the params set it."""
        params = {**self.params, **overrides}
        if "random_state" in hyperparameters(self.model) and "random_state" not in params:
            params["random_state"] = seed
        return make_model(self.model, **params)

    def with_params(self, **params: Any) -> ModelSpec:
        """The same spec with some hyperparameters replaced (e.g. the tuned ones)."""
        return ModelSpec(self.label, self.model, {**self.params, **params})


def model_specs(
    models: Sequence[str], model_params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[ModelSpec]:
    """Turn the ``models`` / ``model_params`` parameters of a notebook into :class:`ModelSpec` s.

    Parameters
    ----------
    models : list of str
        Labels of the models to compare, in report order. A label is a registry name, or any
        name whose ``model_params`` entry names the registry model under the key ``model``
        (so one algorithm can appear twice, e.g. LightFM with and without side features).
    model_params : dict, optional
        ``{label: {hyperparameter: value, ..., "model": registry_name}}``.

    Returns
    -------
    list of ModelSpec

    Raises
    ------
    ValueError
        Empty or duplicated labels, or ``model_params`` for a label not in ``models``.
    KeyError
        A label that is neither registered nor mapped to a registered model.
    TypeError
        An unknown hyperparameter (the message lists the allowed ones).
    """
    if isinstance(models, str) or not isinstance(models, Sequence) or not models:
        raise ValueError(f"models must be a non-empty list of model names, got {models!r}")
    labels = [str(m) for m in models]
    dup = sorted({m for m in labels if labels.count(m) > 1})
    if dup:
        raise ValueError(f"models lists {dup} more than once; give each entry its own label")
    model_params = dict(model_params or {})
    extra = sorted(set(model_params) - set(labels))
    if extra:
        raise ValueError(
            f"model_params has entries {extra} that are not in models {labels}; "
            "add them to models or remove them"
        )
    specs = []
    for label in labels:
        given = model_params.get(label) or {}
        if not isinstance(given, Mapping):
            raise ValueError(f"model_params[{label!r}] must be a mapping, got {given!r}")
        params = dict(given)
        name = str(params.pop("model", label))
        if name not in REGISTRY:
            raise KeyError(
                f"models: {label!r} is not a registered model and model_params[{label!r}] names "
                f"no 'model'; known models: {sorted(REGISTRY)}"
            )
        make_model(name, **params)  # fail early on an unknown or misspelt hyperparameter
        specs.append(ModelSpec(label, name, params))
    return specs


def algorithms(specs: Iterable[ModelSpec]) -> dict[str, str]:
    """``{label: registry name}`` of some specs, in their order (e.g. for
    :func:`recnb.models.registry.model_capabilities`)."""
    return {s.label: s.model for s in specs}


def order_by_models(df: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Sort a table by the configured model order, keeping its own order within a model."""
    if df.empty:
        return df
    rank = {m: i for i, m in enumerate(labels)}
    key = df["model"].map(rank).fillna(len(rank)).to_numpy()
    order = np.lexsort((np.arange(len(df)), key))
    return df.iloc[order].reset_index(drop=True)
