"""Recommendation models behind one contract (:class:`recnb.models.base.Recommender`).

``make_model(name, **params)`` builds a registered model; ``REGISTRY`` maps params-file names to
classes. Model modules are imported lazily by the registry.
"""

from recnb.models.base import MissingModelFileError, ModelFileError, Recommender
from recnb.models.registry import (
    REGISTRY,
    hyperparameters,
    make_model,
    model_capabilities,
    register,
)

__all__ = [
    "REGISTRY",
    "MissingModelFileError",
    "ModelFileError",
    "Recommender",
    "hyperparameters",
    "make_model",
    "model_capabilities",
    "register",
]
