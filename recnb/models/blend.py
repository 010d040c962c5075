"""A weighted blend of two registered models' scores, each scaled per customer.

Ensembles of an item-item linear model and a factor model are a well-documented way past either
one alone (e.g. the winning Netflix Prize blends; Rendle et al. 2021 on iALS beside EASE): the two
make different mistakes. :class:`ScoreBlend` fits both members on the same training data and ranks
by

    ``score(u, i) = weight * s1(u, i) / sd1(u) + (1 - weight) * s2(u, i) / sd2(u)``

where ``sd_m(u)`` is the standard deviation of member ``m``'s scores for customer ``u`` over the
whole catalogue (so both members speak on one scale; no centring, so a blend of additive models is
additive). ``weight`` is a hyperparameter, tuned on validation like any other.

The members' own hyperparameters are ``first_params`` / ``second_params``. In a comparison, a blend
listed after its members can take the members' values chosen on validation: see
:func:`inherit_member_params`, which the tuning calls before the blend's own search.

``explain`` is available when both members explain: each member's contributions are scaled by the
member's weight over ``sd_m(u)``, so they still sum to the blended score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative
from recnb.models.base import Recommender
from recnb.models.registry import REGISTRY, make_model, register

__all__ = ["ScoreBlend", "inherit_member_params"]

_MEMBER_KEYS = ("first", "second")


@register
class ScoreBlend(Recommender):
    """Two registered models, their per-customer standardised scores added with weights.

    Parameters
    ----------
    first, second : str
        Registry names of the members (not ``"blend"``).
    first_params, second_params : dict or None
        Hyperparameters of each member (None: the member's defaults). ``random_state`` is set
        from the blend's own.
    weight : float
        Weight of the first member in ``[0, 1]``; the second gets ``1 - weight``.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name: ClassVar[str] = "blend"
    can_explain: ClassVar[bool] = True  # when both members can (checked in explain)
    scoring_params: ClassVar[tuple[str, ...]] = ("weight",)  # _fit fits the members only

    def __init__(
        self,
        first: str = "edlae",
        second: str = "als",
        first_params: dict[str, Any] | None = None,
        second_params: dict[str, Any] | None = None,
        weight: float = 0.5,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.first = first
        self.second = second
        self.first_params = first_params
        self.second_params = second_params
        self.weight = weight
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        for key in _MEMBER_KEYS:
            name = getattr(self, key)
            if not isinstance(name, str) or name not in REGISTRY or name == self.name:
                raise ValueError(
                    f"blend: {key} must be the registry name of another model, got {name!r}; "
                    f"known: {sorted(n for n in REGISTRY if n != self.name)}"
                )
            params = getattr(self, f"{key}_params")
            if params is not None and not isinstance(params, dict):
                raise ValueError(f"blend: {key}_params must be a dict or None, got {params!r}")
        check_nonnegative("blend", "weight", self.weight)
        if not self.weight <= 1.0:
            raise ValueError(f"blend: weight must be in [0, 1], got {self.weight!r}")

    def _member(self, key: str) -> Recommender:
        params = dict(getattr(self, f"{key}_params") or {})
        params.pop("random_state", None)
        # the members answer for every customer the blend scores; the blend owns the fallbacks
        params.pop("unknown", None)
        return make_model(getattr(self, key), **params, random_state=self.random_state)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        features = {
            k: v
            for k, v in (
                ("customers", self._fit_features.customers),
                ("products", self._fit_features.products),
            )
            if v is not None
        }
        self.members_ = [self._member(k).fit(train, features or None) for k in _MEMBER_KEYS]
        self.member_names_ = [m.name for m in self.members_]

    def _member_blocks(self, customer_idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's scores and their per-customer scale ``weight_m / sd_m(u)``."""
        out = []
        for m, w in zip(self.members_, (self.weight, 1.0 - self.weight), strict=True):
            s = m._score_block(customer_idx).astype(np.float32, copy=False)
            sd = s.std(axis=1, dtype=np.float64)
            scale = np.where(sd > 0, float(w) / np.where(sd > 0, sd, 1.0), 0.0)
            out.append((s, scale.astype(np.float32)))
        return out

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        total = None
        for s, scale in self._member_blocks(customer_idx):
            part = s * scale[:, None]
            total = part if total is None else total + part
        return total

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        if not all(m.can_explain for m in self.members_):
            raise NotImplementedError(
                f"ScoreBlend ('blend') cannot explain its scores: member(s) "
                f"{[m.name for m in self.members_ if not m.can_explain]} cannot"
            )
        blocks = self._member_blocks(np.array([customer_idx]))
        frames = []
        for m, (_, scale) in zip(self.members_, blocks, strict=True):
            ex = m._explain(customer_idx, product_idx).copy()
            ex["contribution"] = ex["contribution"].astype(float) * float(scale[0])
            ex["kind"] = ex["kind"].astype(str) + f" ({m.name})"
            frames.append(ex)
        return pd.concat(frames, ignore_index=True)

    def explain(self, customer: Any, product: Any) -> pd.DataFrame:
        """See :meth:`Recommender.explain`; refused when a member cannot explain."""
        self._check_fitted()
        bad = [m.name for m in self.members_ if not m.can_explain]
        if bad:
            raise NotImplementedError(
                f"ScoreBlend ('blend') cannot explain its scores: member(s) {bad} cannot explain"
            )
        return super().explain(customer, product)

    # -- persistence: each member's state under its own prefix ------------------------------
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        members = self.members_
        del self.members_
        try:
            arrays, scalars = super()._get_state()
        finally:
            self.members_ = members
        scalars["__members__"] = []
        for i, m in enumerate(members):
            a, s = m._get_state()
            arrays.update({f"m{i}__{k}": v for k, v in a.items()})
            scalars["__members__"].append(s)
        return arrays, scalars

    def _set_state(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        member_scalars = scalars.pop("__members__")
        own = {k: v for k, v in arrays.items() if not _member_key(k)}
        super()._set_state(own, scalars)
        self.members_ = []
        for i, (key, s) in enumerate(zip(_MEMBER_KEYS, member_scalars, strict=True)):
            m = self._member(key)
            prefix = f"m{i}__"
            m._set_state(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, dict(s)
            )
            self.members_.append(m)


def _member_key(key: str) -> bool:
    return key.startswith(("m0__", "m1__"))


def inherit_member_params(spec: Any, chosen: Sequence[Any]) -> Any:
    """A blend spec with its members' hyperparameters taken from specs already settled.

    Parameters
    ----------
    spec : ModelSpec
        Any model spec; only blends (``spec.model == "blend"``) are changed.
    chosen : sequence of ModelSpec
        Specs before it in the comparison, with their values chosen on validation.

    Returns
    -------
    ModelSpec
        For a blend whose ``first_params`` / ``second_params`` are not set in params: the params
        of the spec labelled like the member (``first``/``second``), or of the only spec of that
        registry model. Other specs are returned unchanged.

    Raises
    ------
    ValueError
        When a member of the blend is not among ``chosen`` (list the blend after its members) or
        is there more than once under different labels without one matching its name.
    """
    if spec.model != ScoreBlend.name:
        return spec
    defaults = {"first": "edlae", "second": "als"}
    updates: dict[str, Any] = {}
    for key in _MEMBER_KEYS:
        if spec.params.get(f"{key}_params") is not None:
            continue
        member = spec.params.get(key, defaults[key])
        same_label = [s for s in chosen if s.label == member]
        same_model = [s for s in chosen if s.model == member]
        if same_label:
            source = same_label[0]
        elif len(same_model) == 1:
            source = same_model[0]
        else:
            raise ValueError(
                f"blend {spec.label!r}: its {key} member {member!r} is "
                + ("not among" if not same_model else "ambiguous among")
                + f" the models listed before it {[s.label for s in chosen]}; list the blend "
                f"after its members, or set {key}_params in model_params"
            )
        updates[f"{key}_params"] = dict(source.params)
    return spec.with_params(**updates) if updates else spec
