"""Execution backends beside the in-memory path: the same steps and results files on other engines.

:mod:`recnb.backends.spark` runs the heavy steps (event weighting and aggregation, k-core, splits,
ALS training, top-k, metrics) on Apache Spark. Importing this package does no I/O and needs no
optional dependency.
"""
