"""Leak-free train / validation / test splits and the split artefact the model stage reads.

- :mod:`~recnb.prep.split.labels`: which rows or pairs go to which part, per split kind;
- :mod:`~recnb.prep.split.stratified`: the stratified split of the released Microsoft Recommenders;
- :mod:`~recnb.prep.split.assemble`: :func:`build_split` (events -> four parts with features) and
  :func:`removal_overview`;
- :mod:`~recnb.prep.split.checks`: leakage checks recomputed from the parts themselves;
- :mod:`~recnb.prep.split.artefact`: :func:`save_split` / :func:`load_split` of ``<run_dir>/split``.

The names below are the package's public API (import them from ``recnb.prep.split``).
"""

from recnb.prep.split.artefact import (
    load_context,
    load_normalizer,
    load_split,
    save_split,
    split_info,
)
from recnb.prep.split.assemble import SplitResult, build_split, removal_overview
from recnb.prep.split.checks import assert_split_ok, check_split, cold_start
from recnb.prep.split.labels import (
    DROPPED,
    PARTS,
    TEST,
    TRAIN_INNER,
    VALID,
    leave_last_labels,
    random_holdout_labels,
    split_labels,
    temporal_labels,
)
from recnb.prep.split.stratified import (
    process_split_ratio,
    python_stratified_split,
    stratified_labels,
)

__all__ = [
    "DROPPED",
    "PARTS",
    "TEST",
    "TRAIN_INNER",
    "VALID",
    "SplitResult",
    "assert_split_ok",
    "build_split",
    "check_split",
    "cold_start",
    "leave_last_labels",
    "load_context",
    "load_normalizer",
    "load_split",
    "process_split_ratio",
    "python_stratified_split",
    "random_holdout_labels",
    "removal_overview",
    "save_split",
    "split_info",
    "split_labels",
    "stratified_labels",
    "temporal_labels",
]
