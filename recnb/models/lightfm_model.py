"""Hybrid matrix factorization with LightFM (Kula 2015): WARP or BPR loss, with or without features.

A LightFM score is ``b_u + b_i + p_u . q_i`` where the customer representation ``p_u`` (bias
``b_u``) is the weighted sum of the embeddings (biases) of the customer's features, and likewise for
the product. With ``use_features=True`` each customer's feature row is its identity feature plus the
side features of the :class:`Interactions` (``customer_features``/``product_features``), the row
L1-normalised as ``lightfm.data.Dataset`` does by default; with ``use_features=False`` the rows are
identities only (pure collaborative filtering), so the report can show what features add.

Cold products: with side features, a product (or customer) without positive training
interactions gets no identity feature, only its side features (unless it has none). Its
representation is therefore the one a brand-new product with the same attributes would get,
and :meth:`LightFMRecommender.score_new_products` scores products that were not in the training
catalogue at all from their feature rows. Customers without history
still get the popularity fallback of :class:`Recommender`.

Context features (device, location) are not modelled: :class:`Interactions` carries none, and LightFM
has no per-event context; they could enter as extra customer features.

Scoring is batched: representations are computed once after fitting
(``get_user_representations``/``get_item_representations``) and scores are dense blocks of dot
products, never a ``predict`` call per pair.

Explanations are exact: with features ``f`` of the customer (weights ``a_f``, embeddings ``e_f``,
biases ``beta_f``) and ``g`` of the product (``c_g``, ``h_g``, ``gamma_g``) the score is
``sum_f a_f beta_f + sum_g c_g gamma_g + sum_{f,g} a_f c_g (e_f . h_g)``. :meth:`explain` gives each
feature its bias plus half of every pair term it takes part in (the Shapley value of the bilinear
score), so the contributions sum to the score; :meth:`LightFMRecommender.explain_pairs` lists the
pair terms themselves.

Repeatability: LightFM's SGD runs lock-free across threads, so only ``num_threads=1`` (the default)
repeats exactly for a given ``random_state``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightfm import LightFM

from recnb.data.interactions import Interactions
from recnb.models._checks import check_bool, check_nonnegative, check_positive_int
from recnb.models.base import Recommender, _as_id_array
from recnb.models.registry import register

__all__ = ["LOSSES", "LightFMBPR", "LightFMRecommender", "LightFMWarp"]

#: losses accepted by the ``loss`` hyperparameter
LOSSES = ("warp", "bpr")


class LightFMRecommender(Recommender):
    """LightFM with identity features and, optionally, the customer/product side features.

    Parameters
    ----------
    loss : {"warp", "bpr"}
        Ranking loss. The registered names ``lightfm_warp`` and ``lightfm_bpr`` only differ in
        this default.
    no_components : int
        Embedding dimension.
    learning_rate : float
        Initial adagrad learning rate.
    item_alpha, user_alpha : float
        L2 penalties on product / customer feature embeddings.
    max_sampled : int
        WARP: most negatives sampled per positive.
    epochs : int
        Passes over the positive interactions.
    use_features : bool
        Add the side features of the training :class:`Interactions` (or of ``fit(features=...)``)
        to the identity features; False is pure collaborative filtering.
    normalize_features : bool
        Scale every feature row to unit L1 norm (LightFM's ``Dataset`` default), so a product with
        many attributes does not get a larger representation.
    use_weights : bool
        Pass the training confidences as LightFM ``sample_weight`` (False: every positive
        counts once).
    num_threads : int
        LightFM threads; only 1 repeats exactly.
    random_state : int or None
        Seed of initialisation and sampling.
    unknown : {"popularity", "error"}
        Policy for customers absent from training.
    batch_size : int or None
        Customers scored per dense block.
    """

    can_explain: ClassVar[bool] = True
    serves_cold_products: ClassVar[bool] = True
    parallel_scoring: ClassVar[bool] = True  # _score is a read-only dot product plus biases
    passes_param: ClassVar[str | None] = "epochs"

    def __init__(
        self,
        loss: str = "warp",
        no_components: int = 64,
        learning_rate: float = 0.05,
        item_alpha: float = 0.0,
        user_alpha: float = 0.0,
        max_sampled: int = 10,
        epochs: int = 10,
        use_features: bool = True,
        normalize_features: bool = True,
        use_weights: bool = False,
        num_threads: int = 1,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.loss = loss
        self.no_components = no_components
        self.learning_rate = learning_rate
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.max_sampled = max_sampled
        self.epochs = epochs
        self.use_features = use_features
        self.normalize_features = normalize_features
        self.use_weights = use_weights
        self.num_threads = num_threads

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        who = type(self).__name__
        if self.loss not in LOSSES:
            raise ValueError(f"{who}: loss={self.loss!r}; allowed: {list(LOSSES)}")
        for key in ("no_components", "max_sampled", "epochs", "num_threads"):
            check_positive_int(who, key, getattr(self, key))
        check_nonnegative(who, "learning_rate", self.learning_rate, strict=True)
        check_nonnegative(who, "item_alpha", self.item_alpha)
        check_nonnegative(who, "user_alpha", self.user_alpha)
        for key in ("use_features", "normalize_features", "use_weights"):
            check_bool(who, key, getattr(self, key))

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        feats = self._fit_features
        has_user = self.has_history_
        has_item = np.asarray(self.seen_.getnnz(axis=0)) > 0
        side_user = feats.customer if self.use_features else None
        side_item = feats.product if self.use_features else None
        if side_user is not None and side_user.shape[1] == 0:
            side_user = None
        if side_item is not None and side_item.shape[1] == 0:
            side_item = None
        self.customer_feature_names_ = list(feats.customer_names) if side_user is not None else []
        self.product_feature_names_ = list(feats.product_names) if side_item is not None else []
        self.customer_features_ = self._feature_matrix(has_user, side_user)
        self.product_features_ = self._feature_matrix(has_item, side_item)

        # seen_ holds the positive pairs as ones; the weights share its sorted CSR structure
        weights = None
        if self.use_weights:
            positives = train.matrix.copy()
            positives.data[positives.data <= 0] = 0
            positives.eliminate_zeros()
            positives.sort_indices()
            weights = positives.tocoo()
        model = LightFM(
            no_components=int(self.no_components),
            loss=self.loss,
            learning_rate=float(self.learning_rate),
            item_alpha=float(self.item_alpha),
            user_alpha=float(self.user_alpha),
            max_sampled=int(self.max_sampled),
            random_state=np.random.RandomState(int(rng.integers(0, 2**31 - 1))),
        )
        interactions = self.seen_.tocoo()
        if not self._watched():
            model.fit(
                interactions,
                user_features=self.customer_features_,
                item_features=self.product_features_,
                sample_weight=weights,
                epochs=int(self.epochs),
                num_threads=int(self.num_threads),
            )
        else:  # one epoch at a time (LightFM.fit is a reset then the same epochs), scored between
            for epoch in range(int(self.epochs)):
                model.fit_partial(
                    interactions,
                    user_features=self.customer_features_,
                    item_features=self.product_features_,
                    sample_weight=weights,
                    epochs=1,
                    num_threads=int(self.num_threads),
                )
                self._store(model)
                self._pass_done(epoch + 1)
        self._store(model)

    def _store(self, model: LightFM) -> None:
        """Keep the fitted state of the ``lightfm`` model (embeddings, biases, representations)."""
        self.user_embeddings_ = np.asarray(model.user_embeddings, dtype=np.float32)
        self.user_biases_ = np.asarray(model.user_biases, dtype=np.float32)
        self.item_embeddings_ = np.asarray(model.item_embeddings, dtype=np.float32)
        self.item_biases_ = np.asarray(model.item_biases, dtype=np.float32)
        ub, ue = model.get_user_representations(self.customer_features_)
        ib, ie = model.get_item_representations(self.product_features_)
        self.user_repr_ = np.ascontiguousarray(ue, dtype=np.float32)
        self.user_repr_bias_ = np.asarray(ub, dtype=np.float32)
        self.item_repr_ = np.ascontiguousarray(ie, dtype=np.float32)
        self.item_repr_bias_ = np.asarray(ib, dtype=np.float32)

    def _feature_matrix(self, has_history: np.ndarray, side: sp.csr_matrix | None) -> sp.csr_matrix:
        """Identity columns + side features, rows optionally L1-normalised.

        Without side features every row keeps its identity feature (plain LightFM). With side
        features a row without training history keeps only its side features (when it has any),
        so it is represented exactly like a new product or customer with those attributes.
        """
        keep = np.ones(len(has_history), dtype=bool)
        if side is not None:
            keep = has_history | (np.diff(side.indptr) == 0)
        ident = sp.diags(keep.astype(np.float32), format="csr", dtype=np.float32)
        m = ident if side is None else sp.hstack([ident, side], format="csr", dtype=np.float32)
        return self._normalize(m)

    def _normalize(self, m: sp.spmatrix) -> sp.csr_matrix:
        m = sp.csr_matrix(m, dtype=np.float32)
        m.eliminate_zeros()
        if self.normalize_features:
            norms = np.asarray(abs(m).sum(axis=1), dtype=np.float32).ravel()
            norms[norms == 0] = 1.0
            m = sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)
        m.sort_indices()
        return m

    # -- scoring -------------------------------------------------------------------------------
    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        s = self.user_repr_[customer_idx] @ self._transposed("item_repr_")
        s += self.item_repr_bias_[None, :]
        s += self.user_repr_bias_[customer_idx, None]
        return s

    def _score_pairs(self, cidx: np.ndarray, pidx: np.ndarray) -> np.ndarray:
        dots = np.einsum("ij,ij->i", self.user_repr_[cidx], self.item_repr_[pidx])
        return (dots + self.item_repr_bias_[pidx] + self.user_repr_bias_[cidx]).astype(np.float32)

    def score_new_products(self, customers: Any, product_features: Any) -> np.ndarray:
        """Scores of products absent from training, from their side-feature rows.

        Parameters
        ----------
        customers : id or iterable of ids
            Training customer ids (an unknown id raises KeyError; a customer without history is
            scored from its side features, or gets the product biases only when it has none).
        product_features : array-like or sparse, shape (n_new, len(product_feature_names_))
            The new products' features, columns in the order of ``product_feature_names_``
            (the training product feature names).

        Returns
        -------
        numpy.ndarray of float32, shape (n_customers, n_new)
            Same scale as :meth:`score_pairs` for training products.
        """
        self._check_fitted()
        if not self.product_feature_names_:
            raise ValueError(
                f"{type(self).__name__}.score_new_products: the model has no product features "
                f"(use_features={self.use_features}, training product features present: "
                f"{bool(self.product_feature_names_)}); a new product cannot be represented"
            )
        new = sp.csr_matrix(product_features, dtype=np.float32)
        n_side = len(self.product_feature_names_)
        if new.shape[1] != n_side:
            raise ValueError(
                f"{type(self).__name__}.score_new_products: product_features has {new.shape[1]} "
                f"columns, expected {n_side} (product_feature_names_)"
            )
        if not np.isfinite(new.data).all():
            raise ValueError(f"{type(self).__name__}.score_new_products: non-finite feature value")
        ids = _as_id_array(customers)
        cidx = self.customer_indices(ids)
        if (cidx < 0).any():
            missing = [str(c) for c in ids[cidx < 0][:5]]
            raise KeyError(
                f"{type(self).__name__}.score_new_products: customer id(s) {missing} not in training"
            )
        rows = sp.hstack(
            [sp.csr_matrix((new.shape[0], self.n_products_), dtype=np.float32), new], format="csr"
        )
        rows = self._normalize(rows)
        emb = np.asarray(rows @ self.item_embeddings_, dtype=np.float32)
        bias = np.asarray(rows @ self.item_biases_, dtype=np.float32).ravel()
        s = self.user_repr_[cidx] @ emb.T + bias[None, :] + self.user_repr_bias_[cidx, None]
        return s.astype(np.float32, copy=False)

    # -- explanations --------------------------------------------------------------------------
    def _feature_label(self, kind: str, j: int) -> tuple[str, str]:
        if kind == "customer":
            n, ids, names = self.n_customers_, self.customer_ids_, self.customer_feature_names_
        else:
            n, ids, names = self.n_products_, self.product_ids_, self.product_feature_names_
        if j < n:
            return f"{kind}_id={ids[j]}", f"{kind}_identity"
        return f"{kind}:{names[j - n]}", f"{kind}_feature"

    def _pair_terms(
        self, customer_idx: int, product_idx: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        urow = self.customer_features_[customer_idx]
        irow = self.product_features_[product_idx]
        uf, uw = urow.indices, urow.data.astype(np.float64)
        itf, iw = irow.indices, irow.data.astype(np.float64)
        eu = self.user_embeddings_[uf].astype(np.float64) * uw[:, None]
        ei = self.item_embeddings_[itf].astype(np.float64) * iw[:, None]
        pairs = eu @ ei.T
        ubias = uw * self.user_biases_[uf]
        ibias = iw * self.item_biases_[itf]
        return uf, itf, pairs, ubias, ibias

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        uf, itf, pairs, ubias, ibias = self._pair_terms(customer_idx, product_idx)
        contributors, kinds, values = [], [], []
        for j, f in enumerate(uf):
            label, kind = self._feature_label("customer", int(f))
            contributors.append(label)
            kinds.append(kind)
            values.append(float(ubias[j] + 0.5 * pairs[j, :].sum()))
        for j, g in enumerate(itf):
            label, kind = self._feature_label("product", int(g))
            contributors.append(label)
            kinds.append(kind)
            values.append(float(ibias[j] + 0.5 * pairs[:, j].sum()))
        return pd.DataFrame({"contributor": contributors, "kind": kinds, "contribution": values})

    def explain_pairs(self, customer: Any, product: Any) -> pd.DataFrame:
        """The terms of a score: one row per (customer feature, product feature) pair plus biases.

        Parameters
        ----------
        customer, product : id
            Training ids (the customer must be served by the model, not the fallback).

        Returns
        -------
        pandas.DataFrame
            Columns ``customer_feature``, ``product_feature`` (empty string for a bias row),
            ``term`` (``interaction`` or ``bias``) and ``contribution``; they sum to the score.
        """
        self._check_fitted()
        cidx = self.customer_indices([customer])
        pidx = self.product_indices([product])
        if pidx[0] < 0:
            raise KeyError(f"{type(self).__name__}.explain_pairs: product id {product!r} unknown")
        if cidx[0] < 0 or self.uses_fallback(cidx)[0]:
            raise KeyError(
                f"{type(self).__name__}.explain_pairs: customer {customer!r} is served by the "
                "popularity fallback, not by the model"
            )
        uf, itf, pairs, ubias, ibias = self._pair_terms(int(cidx[0]), int(pidx[0]))
        ulab = [self._feature_label("customer", int(f))[0] for f in uf]
        ilab = [self._feature_label("product", int(g))[0] for g in itf]
        rows = pd.DataFrame(
            {
                "customer_feature": np.repeat(ulab, len(ilab)).astype(object),
                "product_feature": np.tile(ilab, len(ulab)).astype(object),
                "term": "interaction",
                "contribution": pairs.ravel(),
            }
        )
        biases = pd.DataFrame(
            {
                "customer_feature": ulab + [""] * len(ilab),
                "product_feature": [""] * len(ulab) + ilab,
                "term": "bias",
                "contribution": np.concatenate([ubias, ibias]),
            }
        )
        out = pd.concat([rows, biases], ignore_index=True)
        return out.sort_values("contribution", ascending=False, kind="stable").reset_index(
            drop=True
        )


@register
class LightFMWarp(LightFMRecommender):
    """LightFM with the WARP loss by default (optimises the top of the list)."""

    name: ClassVar[str] = "lightfm_warp"


@register
class LightFMBPR(LightFMRecommender):
    """LightFM with the BPR loss by default."""

    name: ClassVar[str] = "lightfm_bpr"

    def __init__(
        self,
        loss: str = "bpr",
        no_components: int = 64,
        learning_rate: float = 0.05,
        item_alpha: float = 0.0,
        user_alpha: float = 0.0,
        max_sampled: int = 10,
        epochs: int = 10,
        use_features: bool = True,
        normalize_features: bool = True,
        use_weights: bool = False,
        num_threads: int = 1,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(
            loss=loss,
            no_components=no_components,
            learning_rate=learning_rate,
            item_alpha=item_alpha,
            user_alpha=user_alpha,
            max_sampled=max_sampled,
            epochs=epochs,
            use_features=use_features,
            normalize_features=normalize_features,
            use_weights=use_weights,
            num_threads=num_threads,
            random_state=random_state,
            unknown=unknown,
            batch_size=batch_size,
        )
