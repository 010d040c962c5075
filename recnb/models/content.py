"""Content-based recommender: product text and attributes, customer profiles, cosine scoring.

Product vectors come from one of two places (documented choice, no guessing):

1. ``features={"products": df}`` passed to ``fit`` (a products table with ``product_id`` and any
   of ``description``/``title``, ``category``, ``brand``, ``price``): the model builds blocks of
   features itself — TF-IDF of the text (``term:<word>``), the category path and its prefixes
   (``category:home``, ``category:home/kitchen``), the brand (``brand:<name>``) and a log-price
   quantile bin (``price:q<j>``). Each block is L2-normalised per product and multiplied by its
   weight hyperparameter.
2. otherwise ``Interactions.product_features`` with its names (e.g. built by preprocessing): each
   column is scaled by its largest absolute value so no column dominates by unit.

Every product vector is then L2-normalised. A customer's profile is the confidence-weighted mean
of the vectors of the products they consumed; ``score(u, i) = cos(profile_u, v_i)``. The score is
a sum over features of ``profile_f * v_if / |profile|``, which is what ``explain`` returns, with the
kind taken from the feature name's prefix (``term``, ``category``, ``brand``, ``price``, otherwise
``attribute``). Products without interactions are scored from their features, so new products are
reachable; customers without history get the popularity fallback.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["ContentRecommender", "product_vectors"]

_KINDS = ("term", "category", "brand", "price")


def _one_hot(labels: list[list[str]], prefix: str) -> tuple[sp.csr_matrix, list[str]]:
    vocab = sorted({lab for row in labels for lab in row})
    pos = {v: j for j, v in enumerate(vocab)}
    rows = np.repeat(np.arange(len(labels)), [len(r) for r in labels])
    cols = np.fromiter((pos[lab] for r in labels for lab in r), np.int64)
    m = sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(len(labels), len(vocab))
    )
    return m, [f"{prefix}:{v}" for v in vocab]


def product_vectors(
    products: pd.DataFrame,
    product_ids: np.ndarray,
    *,
    max_terms: int = 5000,
    min_df: int = 2,
    text_weight: float = 1.0,
    category_weight: float = 1.0,
    brand_weight: float = 0.5,
    price_weight: float = 0.5,
    n_price_bins: int = 5,
) -> tuple[sp.csr_matrix, list[str]]:
    """Feature matrix of products from a products table, row-aligned with ``product_ids``.

    Parameters
    ----------
    products : pandas.DataFrame
        Needs ``product_id``; uses ``description``, ``title``, ``category``, ``brand``, ``price``
        when present. Products missing from the table get an all-zero row.
    product_ids : numpy.ndarray of str
        The model's product vocabulary.
    max_terms, min_df : int
        TF-IDF vocabulary size and minimum document frequency.
    text_weight, category_weight, brand_weight, price_weight : float
        Block weights (0 drops a block).
    n_price_bins : int
        Quantile bins of log price.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix, float32, shape (len(product_ids), n_features)
    names : list of str
    """
    if "product_id" not in products.columns:
        raise KeyError("content: features['products'] has no 'product_id' column")
    df = products.assign(product_id=products["product_id"].astype(str))
    if df["product_id"].duplicated().any():
        dup = df.loc[df["product_id"].duplicated(), "product_id"].iloc[0]
        raise ValueError(f"content: features['products'] repeats product_id {dup!r}")
    df = df.set_index("product_id").reindex(pd.Index(product_ids, dtype=object))
    n = len(df)
    blocks: list[sp.csr_matrix] = []
    names: list[str] = []

    text_cols = [c for c in ("title", "description") if c in df.columns]
    if text_cols and text_weight > 0:
        text = df[text_cols].fillna("").astype(str).agg(" ".join, axis=1).tolist()
        n_docs = sum(1 for t in text if t.strip())
        vec = TfidfVectorizer(
            max_features=max_terms,
            min_df=min(min_df, max(1, n_docs)),
            sublinear_tf=True,
            stop_words="english",
            dtype=np.float32,
        )
        try:
            m = vec.fit_transform(text)
        except ValueError:  # empty vocabulary: no usable text
            m = None
        if m is not None and m.shape[1]:
            blocks.append(normalize(m) * text_weight)
            names += [f"term:{t}" for t in vec.get_feature_names_out()]
    if "category" in df.columns and category_weight > 0:
        paths = [
            ["/".join(parts[: d + 1]) for d in range(len(parts))]
            for parts in (
                [p for p in re.split(r"\s*/\s*", str(c).strip()) if p] if pd.notna(c) else []
                for c in df["category"]
            )
        ]
        m, nm = _one_hot(paths, "category")
        if m.shape[1]:
            blocks.append(normalize(m) * category_weight)
            names += nm
    if "brand" in df.columns and brand_weight > 0:
        m, nm = _one_hot([[str(b)] if pd.notna(b) else [] for b in df["brand"]], "brand")
        if m.shape[1]:
            blocks.append(m * brand_weight)
            names += nm
    if "price" in df.columns and price_weight > 0:
        price = pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(price) & (price > 0)
        if ok.sum() >= 2:
            logp = np.log(price[ok])
            edges = np.unique(np.quantile(logp, np.linspace(0, 1, n_price_bins + 1)[1:-1]))
            bins = np.full(n, -1)
            bins[ok] = np.searchsorted(edges, logp, side="right")
            m, nm = _one_hot([[f"q{b + 1}"] if b >= 0 else [] for b in bins], "price")
            blocks.append(m * price_weight)
            names += nm
    if not blocks:
        raise ValueError(
            "content: the products table gave no features (needs description/title, category, "
            "brand or price with a positive weight)"
        )
    return sp.hstack(blocks, format="csr", dtype=np.float32), names


@register
class ContentRecommender(Recommender):
    """Content-based model: cosine between customer profiles and product vectors.

    Parameters
    ----------
    max_terms : int
        TF-IDF vocabulary size (products-table path).
    min_df : int
        Minimum number of products a term must appear in.
    text_weight, category_weight, brand_weight, price_weight : float
        Feature block weights (products-table path).
    n_price_bins : int
        Log-price quantile bins (products-table path).
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "content"
    can_explain = True
    serves_cold_products = True

    def __init__(
        self,
        max_terms: int = 5000,
        min_df: int = 2,
        text_weight: float = 1.0,
        category_weight: float = 1.0,
        brand_weight: float = 0.5,
        price_weight: float = 0.5,
        n_price_bins: int = 5,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.max_terms = max_terms
        self.min_df = min_df
        self.text_weight = text_weight
        self.category_weight = category_weight
        self.brand_weight = brand_weight
        self.price_weight = price_weight
        self.n_price_bins = n_price_bins
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        for key in ("max_terms", "min_df", "n_price_bins"):
            check_positive_int("content", key, getattr(self, key))
        for key in ("text_weight", "category_weight", "brand_weight", "price_weight"):
            check_nonnegative("content", key, getattr(self, key))

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        feats = self._fit_features
        if feats.products is not None:
            m, names = product_vectors(
                feats.products,
                self.product_ids_,
                max_terms=self.max_terms,
                min_df=self.min_df,
                text_weight=self.text_weight,
                category_weight=self.category_weight,
                brand_weight=self.brand_weight,
                price_weight=self.price_weight,
                n_price_bins=self.n_price_bins,
            )
        elif feats.product is not None and feats.product.shape[1]:
            m = sp.csr_matrix(feats.product, dtype=np.float32)
            scale = np.asarray(abs(m).max(axis=0).toarray(), dtype=np.float32).ravel()
            m = sp.csr_matrix(m @ sp.diags(1.0 / np.where(scale > 0, scale, 1.0)), dtype=np.float32)
            names = list(feats.product_names)
        else:
            raise ValueError(
                "content: no product features — the Interactions has no product_features and "
                "fit(features={'products': df}) was not given"
            )
        self.item_vectors_ = sp.csr_matrix(normalize(m), dtype=np.float32)
        self.item_vectors_.eliminate_zeros()
        self.feature_names_ = np.asarray(names, dtype=object)
        x = train.matrix.copy()
        x.data = np.where(x.data > 0, x.data, 0).astype(np.float32)
        x.eliminate_zeros()
        self.interactions_ = sp.csr_matrix(x)

    def _profiles(self, customer_idx: np.ndarray) -> sp.csr_matrix:
        """Unit-length profiles (the confidence-weighted mean's direction)."""
        x = self.interactions_[customer_idx]
        return sp.csr_matrix(normalize(x @ self.item_vectors_), dtype=np.float32)

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        # sparse x dense (products x features times features x batch): profiles are dense-ish,
        # so a sparse x sparse product would build an almost full sparse result
        profiles = self._profiles(customer_idx).T.toarray()
        return np.asarray(self.item_vectors_ @ profiles, dtype=np.float32).T

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        p = self._profiles(np.array([customer_idx])).toarray().ravel().astype(np.float64)
        v = self.item_vectors_[product_idx]
        contrib = p[v.indices] * v.data
        keep = contrib != 0
        names = self.feature_names_[v.indices[keep]]
        kinds = [n.split(":", 1)[0] if n.split(":", 1)[0] in _KINDS else "attribute" for n in names]
        return pd.DataFrame({"contributor": names, "kind": kinds, "contribution": contrib[keep]})
