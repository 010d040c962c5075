"""The serving spec (``serving.json`` of an export): what the service needs besides the model's files.

Shared by :mod:`recnb.serving.export` (which writes and checks it) and :mod:`recnb.serving.history`
(which replays new events with the run's :class:`SignalSpec`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GENERIC_ID_PATTERN",
    "PRODUCT_ID_PATTERN",
    "SERVING_FORMAT",
    "ContextSpec",
    "IdSpec",
    "ServingSpec",
    "SignalSpec",
]

SERVING_FORMAT = "recnb-serving/1"
#: a generic customer id when the model's ids are not pseudonyms of one length (tests, own data)
GENERIC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
#: product ids accepted by the service (the data model's ids are text; no spaces, no slashes)
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


# -- the spec ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalSpec(_Strict):
    """How events became the training matrix (from the split's ``train`` part).

    ``implicit``: each event weighs ``event_weights[event]`` (times the dwell factor), a pair's
    weights are summed to ``x`` and the confidence is ``1 + alpha*log1p(x)`` (``log``),
    ``1 + alpha*x`` (``linear``) or ``x`` (``none``). ``explicit``: the latest rating is the value.
    """

    signal: Literal["implicit", "explicit"] = "implicit"
    event_weights: dict[str, float] = Field(default_factory=dict)
    scaling: Literal["log", "linear", "none"] = "log"
    alpha: float = Field(1.0, gt=0)
    dwell_factor: float = Field(0.0, ge=0)
    recency_half_life_days: float = 0.0


class ContextSpec(_Strict):
    """The context a request may carry, and whether the model reads it."""

    device: list[str] = Field(default_factory=list)
    location: list[str] = Field(default_factory=list)
    hour: bool = True
    used_by_model: bool = False
    note: str = ""


class IdSpec(_Strict):
    """The form of customer ids the model knows."""

    form: Literal["pseudonym", "opaque"]
    pattern: str
    length: int | None = Field(None, ge=8, le=64, description="hex characters of a pseudonym")
    key_check: str | None = None


class ServingSpec(_Strict):
    """``serving.json``: what the service needs to know besides the model's own files."""

    format: Literal["recnb-serving/1"] = SERVING_FORMAT
    name: str
    label: str
    model: str
    can_explain: bool
    explain_note: str = ""
    history_updates: Literal["rescored", "excluded_only", "none"]
    signal: SignalSpec
    context: ContextSpec
    customer_ids: IdSpec
    product_id_pattern: str = PRODUCT_ID_PATTERN
    fallback: str
    run_name: str | None = None
    data_fingerprint: str | None = None
    trained_through_seq: int = Field(0, ge=0)
