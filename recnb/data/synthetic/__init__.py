"""The embedded synthetic shop: a small e-commerce world with a known ground truth.

Build one with :func:`make_shop` (or :class:`SyntheticShop` from a :class:`ShopConfig`)::

    shop, ds = make_shop(n_customers=2_000, n_products=500, n_days=30, seed=7)
    shop.true_utility(["C00001"], ["P00001"], context={"device": "mobile", "hour": 20}, day=3)
    shop.response_probabilities("C00001", ["P00001", "P00002"], context={"device": "desktop"})
    visits = shop.visits(range(30, 44))                     # traffic after the log
    shop.policy_value(visits, top10_ids)                    # exact expected clicks, revenue...
    shop.simulate_policy(visits, ids, scores, RankingPolicy("plackett_luce"), k=10)  # for OPE

Modules: :mod:`~recnb.data.synthetic.config` (settings), :mod:`~recnb.data.synthetic.vocabulary` (category
tree and words), :mod:`~recnb.data.synthetic.world` (latent traits), :mod:`~recnb.data.synthetic.response`
(true utility and the response model, with the formulas), :mod:`~recnb.data.synthetic.traffic` (the
arrival process of visits), :mod:`~recnb.data.synthetic.history` (purchase history, the state),
:mod:`~recnb.data.synthetic.policy` (ranking policies and their propensities),
:mod:`~recnb.data.synthetic.sessions` (the organic browse log), :mod:`~recnb.data.synthetic.shop` (the public
API).
"""

from recnb.data.synthetic.config import DAYPART_HOURS, DAYPARTS, PAGE_POLICIES, ShopConfig
from recnb.data.synthetic.history import PurchaseHistory
from recnb.data.synthetic.policy import POLICY_KINDS, RankingPolicy, plackett_luce_positions
from recnb.data.synthetic.shop import POLICY_VALUE_COLUMNS, SyntheticShop, make_shop

__all__ = [
    "DAYPARTS",
    "DAYPART_HOURS",
    "PAGE_POLICIES",
    "POLICY_KINDS",
    "POLICY_VALUE_COLUMNS",
    "PurchaseHistory",
    "RankingPolicy",
    "ShopConfig",
    "SyntheticShop",
    "make_shop",
    "plackett_luce_positions",
]
