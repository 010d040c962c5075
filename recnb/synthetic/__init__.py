"""The embedded synthetic shop: a small e-commerce world with a known ground truth.

Build one with :func:`make_shop` (or :class:`SyntheticShop` from a :class:`ShopConfig`)::

    shop, ds = make_shop(n_customers=2_000, n_products=500, n_days=30, seed=7)
    shop.true_utility(["C00001"], ["P00001"], context={"device": "mobile", "hour": 20}, day=3)
    shop.response_probabilities("C00001", ["P00001", "P00002"], context={"device": "desktop"})

Modules: :mod:`~recnb.synthetic.config` (settings), :mod:`~recnb.synthetic.vocabulary` (category
tree and words), :mod:`~recnb.synthetic.world` (latent traits), :mod:`~recnb.synthetic.response`
(true utility and the response model, with the formulas), :mod:`~recnb.synthetic.sessions` (the
organic browse log), :mod:`~recnb.synthetic.shop` (the public API).
"""

from recnb.synthetic.config import DAYPART_HOURS, DAYPARTS, ShopConfig
from recnb.synthetic.shop import SyntheticShop, make_shop

__all__ = ["DAYPARTS", "DAYPART_HOURS", "ShopConfig", "SyntheticShop", "make_shop"]
