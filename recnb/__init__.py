"""recnb: reproducible evaluation of e-commerce recommendation engines.

The package holds the logic (data model, synthetic shop, loaders, preprocessing, models, metrics,
reporting); the notebooks in ``notebooks/`` call it. Importing ``recnb`` does no I/O.
"""

__version__ = "0.1.0"
