"""Purchase history: the state that makes what a customer wants depend on what they bought.

A :class:`PurchaseHistory` holds (customer, product, time) purchases by population index and answers
"how many days since this customer last bought this product, before time ``t``?" for the repeat term
of the true utility (:func:`recnb.data.synthetic.response.repeat_effect`). Times are in days since day 0
(fractional: 10.5 is noon of day 10) and kept to the second; a purchase counts for every moment
after it. Build one from an events table with :meth:`recnb.data.synthetic.SyntheticShop.history`.
"""

from __future__ import annotations

import numpy as np

_TIME_BITS = 32
_TIME_OFFSET = 1 << (_TIME_BITS - 1)
_MASK = (1 << _TIME_BITS) - 1
_SECONDS = 86_400


def _seconds(days: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(days, dtype=np.float64) * _SECONDS).astype(np.int64)


class PurchaseHistory:
    """Purchases by population index, sorted for fast look-ups (immutable; :meth:`add` copies).

    Parameters
    ----------
    n_products : int
        Size of the product population (keys are ``customer * n_products + product``).
    customer, product : array-like of int
        Population indices of each purchase.
    time : array-like of float
        When each purchase happened, in days since day 0 (kept to the second).
    """

    def __init__(
        self,
        n_products: int,
        customer: np.ndarray | None = None,
        product: np.ndarray | None = None,
        time: np.ndarray | None = None,
    ) -> None:
        self.n_products = int(n_products)
        c = np.asarray([] if customer is None else customer, dtype=np.int64).ravel()
        p = np.asarray([] if product is None else product, dtype=np.int64).ravel()
        t = np.asarray([] if time is None else time, dtype=np.float64).ravel()
        if not (len(c) == len(p) == len(t)):
            raise ValueError("PurchaseHistory: customer, product and time differ in length")
        if len(t) and not np.isfinite(t).all():
            raise ValueError("PurchaseHistory: a purchase has no time (NaN)")
        s = _seconds(t)
        if len(s) and np.abs(s).max() >= _TIME_OFFSET:
            raise ValueError("PurchaseHistory: time out of range (more than 68 years from day 0)")
        self._code = np.sort(((c * self.n_products + p) << _TIME_BITS) + (s + _TIME_OFFSET))

    def __len__(self) -> int:
        return len(self._code)

    def __repr__(self) -> str:
        return f"PurchaseHistory({len(self)} purchases)"

    @property
    def customer(self) -> np.ndarray:
        """Customer index of each purchase (sorted by customer, product, time)."""
        return (self._code >> _TIME_BITS) // self.n_products

    @property
    def product(self) -> np.ndarray:
        """Product index of each purchase."""
        return (self._code >> _TIME_BITS) % self.n_products

    @property
    def time(self) -> np.ndarray:
        """When each purchase happened, in days since day 0."""
        return ((self._code & _MASK) - _TIME_OFFSET) / _SECONDS

    def add(self, customer: np.ndarray, product: np.ndarray, time: np.ndarray) -> PurchaseHistory:
        """A new history with these purchases added."""
        new = PurchaseHistory(self.n_products, customer, product, time)
        new._code = np.sort(np.concatenate([self._code, new._code]))
        return new

    def days_since(self, customer: np.ndarray, product: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Days from the customer's last purchase of the product before ``time`` to ``time``.

        NaN where there is none, and for NaN times (no state without a time).
        """
        c = np.asarray(customer, dtype=np.int64)
        p = np.asarray(product, dtype=np.int64)
        t = np.asarray(time, dtype=np.float64)
        out = np.full(np.broadcast_shapes(c.shape, p.shape, t.shape), np.nan)
        if len(self._code) == 0 or out.size == 0:
            return out
        c, p, t = np.broadcast_arrays(c, p, t)
        ok = ~np.isnan(t)
        key = c[ok] * self.n_products + p[ok]
        s = _seconds(t[ok])
        # the last purchase strictly before the time: the entry just before (key, time)
        idx = np.searchsorted(self._code, (key << _TIME_BITS) + (s + _TIME_OFFSET), "left") - 1
        idx_ok = np.maximum(idx, 0)
        hit = (idx >= 0) & ((self._code[idx_ok] >> _TIME_BITS) == key)
        last = (self._code[idx_ok] & _MASK) - _TIME_OFFSET
        out[ok] = np.where(hit, (s - last) / _SECONDS, np.nan)
        return out

    def distinct_products(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer, product) pairs ever bought, sorted by customer then product."""
        keys = self._code >> _TIME_BITS  # sorted
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
        return keys // self.n_products, keys % self.n_products
