"""Write the example export in ``examples/my_shop/``: what a shop's own CSV files look like.

The files come from the embedded synthetic shop (no real people in them), exported the way a shop's
database would: its own column names, its own event names, ISO timestamps. ``params/my_shop_example
.yaml`` maps them into the data model with ``data.source: csv``. Rerun to regenerate::

    python examples/make_my_shop.py            # -> examples/my_shop/{events,customers,products}.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

EVENT_NAMES: dict[str, str] = {
    "view": "page_view",
    "click": "product_click",
    "add_to_cart": "add_to_basket",
    "wishlist": "save_for_later",
    "purchase": "order",
    "rating": "review",
}
"""The data model's event types -> the names the example shop's tracking uses."""

EVENT_COLUMNS: dict[str, str] = {
    "customer_id": "visitor_id",
    "product_id": "item_sku",
    "timestamp": "event_time",
    "event": "event_name",
    "value": "value",
    "price_paid": "unit_price",
    "session_id": "session",
    "device": "device_type",
}
CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "visitor_id",
    "age_band": "age_group",
    "gender": "gender",
    "region": "sales_region",
    "signup_date": "registered_on",
}
PRODUCT_COLUMNS: dict[str, str] = {
    "product_id": "item_sku",
    "title": "name",
    "category": "category_path",
    "brand": "brand",
    "price": "list_price",
    "description": "description",
}


def write_my_shop(
    folder: Path, n_customers: int = 300, n_products: int = 100, n_days: int = 30, seed: int = 7
) -> dict[str, Path]:
    """Export a synthetic shop as a shop's own CSV files; return the file of each table."""
    from recnb.data.synthetic import ShopConfig, SyntheticShop

    ds = SyntheticShop(
        ShopConfig(n_customers=n_customers, n_products=n_products, n_days=n_days, seed=seed)
    ).generate()
    folder.mkdir(parents=True, exist_ok=True)
    ev = ds.events[list(EVENT_COLUMNS)].copy()
    ev["event"] = ev["event"].astype(str).map(EVENT_NAMES)
    ev["timestamp"] = ev["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    cu = ds.customers[list(CUSTOMER_COLUMNS)].copy()
    cu["signup_date"] = cu["signup_date"].dt.strftime("%Y-%m-%d")
    pr = ds.products[list(PRODUCT_COLUMNS)]
    out = {}
    for name, df, cols in (
        ("events", ev, EVENT_COLUMNS),
        ("customers", cu, CUSTOMER_COLUMNS),
        ("products", pr, PRODUCT_COLUMNS),
    ):
        out[name] = folder / f"{name}.csv"
        df.rename(columns=cols).to_csv(out[name], index=False, float_format="%.6g")
    return out


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    pd.set_option("display.width", 120)
    for table, file in write_my_shop(here / "my_shop").items():
        print(f"{table:10s} {file.relative_to(here.parent)}  {file.stat().st_size:,} bytes")
