"""Real-data loaders: map public e-commerce data sets into the recnb data model.

Each loader reads a local file or folder (nothing is downloaded at run time), maps what the source has
into the customers, products and events tables of :mod:`recnb.data.schema` (a column the source lacks is
absent, never invented), records every drop or change with its row count in ``Dataset.notes`` and
returns a validated :class:`~recnb.data.schema.Dataset`.

- :func:`load_online_retail`: UCI Online Retail and Online Retail II (xlsx or CSV);
- :func:`load_movielens`: MovieLens 100K, 1M/10M, latest/20M/25M;
- :func:`load_retailrocket`: RetailRocket events, item properties, category tree;
- :func:`load_rees46`: REES46 multi-category store monthly CSVs;
- :func:`load_taobao`: Taobao UserBehavior;
- :func:`load_csv`: any shop's own CSV export, described by a column and event-name mapping.

:func:`load_source` dispatches by name and finds the data through :func:`resolve_data_path` (an explicit
path, else ``$RECNB_DATA_DIR/<folder>``); :func:`download` fetches the freely available ones.
"""

from recnb.data.loaders._common import CsvFile, DamagedFileError
from recnb.data.loaders.csv_source import load_csv
from recnb.data.loaders.download import ManualDownloadRequired, download
from recnb.data.loaders.movielens import load_movielens
from recnb.data.loaders.online_retail import NON_PRODUCT_CODES, is_product_code, load_online_retail
from recnb.data.loaders.rees46 import load_rees46
from recnb.data.loaders.registry import (
    DATA_DIR_ENV,
    SOURCE_NAMES,
    check_options,
    get_source,
    load_source,
    resolve_data_path,
)
from recnb.data.loaders.retailrocket import load_retailrocket
from recnb.data.loaders.taobao import load_taobao

__all__ = [
    "DATA_DIR_ENV",
    "CsvFile",
    "DamagedFileError",
    "NON_PRODUCT_CODES",
    "SOURCE_NAMES",
    "ManualDownloadRequired",
    "check_options",
    "download",
    "get_source",
    "is_product_code",
    "load_csv",
    "load_movielens",
    "load_online_retail",
    "load_rees46",
    "load_retailrocket",
    "load_source",
    "load_taobao",
    "resolve_data_path",
]
