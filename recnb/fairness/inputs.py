"""What stage 04 reads from stage 03's results folder (``results/03_model_comparison``).

Stage 03 writes, besides its report tables, the hand-off of :func:`recnb.fairness.stage.
stage03_handoff`: ``candidates.parquet`` (every model's scored list, and the top candidates of the
models stage 04 re-ranks) and ``models/<label>/`` (the explaining models small enough to keep). :func:`read_stage03`
gathers them with the tables stage 04 needs and checks they fit together, naming the file and what
is wrong when they do not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recnb.data import io
from recnb.fairness.audit import Candidates, read_candidates

__all__ = ["Stage03", "read_stage03"]

#: tables of stage 03 that stage 04 reads
NEEDED = (
    "candidates",
    "customers",
    "capabilities",
    "tuning_chosen",
    "significance",
    "configuration",
)


@dataclass
class Stage03:
    """Stage 03's outputs as stage 04 uses them.

    Attributes
    ----------
    candidates : Candidates
        Every model's candidate lists for the evaluated customers.
    activity : numpy.ndarray of str
        cold / light / heavy of each evaluated customer (rows of ``candidates``).
    specs : dict
        ``label -> (registry name, hyperparameters)`` of every model fitted last.
    chosen : str
        The model stage 03 chose.
    metric : str
        Stage 03's primary metric.
    k : int
        Stage 03's primary list length.
    models_dir : pathlib.Path
        Folder of the saved explaining models (``<label>/``).
    """

    candidates: Candidates
    activity: np.ndarray
    specs: dict[str, tuple[str, dict[str, Any]]]
    chosen: str
    metric: str
    k: int
    models_dir: Path


def read_stage03(folder: str | os.PathLike, n_candidates: int | None = None) -> Stage03:
    """Read stage 03's results folder (see the module docstring).

    Parameters
    ----------
    folder : path
        ``<run>/results/03_model_comparison``.
    n_candidates : int, optional
        Keep at most this many candidates per list.

    Raises
    ------
    FileNotFoundError
        A table is missing (stage 03 did not run, or ran before it wrote the hand-off).
    ValueError
        The tables do not fit together (customers of the candidates without an activity level).
    """
    from recnb.fairness.stage import model_specs_from_stage03

    folder = Path(folder)
    missing = [n for n in NEEDED if not (folder / f"{n}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: stage 03's table(s) {', '.join(f'{n}.parquet' for n in missing)} are "
            "missing; run stage 03_model_comparison first (a run of an older version lacks "
            "candidates.parquet)"
        )
    cands = read_candidates(
        io.read_parquet(folder / "candidates.parquet"), n_candidates=n_candidates
    )
    customers = io.read_parquet(folder / "customers.parquet").set_index("customer_row")["segment"]
    lacking = np.setdiff1d(cands.customer_idx, customers.index.to_numpy())
    if len(lacking):
        raise ValueError(
            f"{folder / 'customers.parquet'}: customers {lacking[:3].tolist()} of "
            "candidates.parquet have no activity segment (the two files come from different runs)"
        )
    activity = customers.loc[cands.customer_idx].astype(str).to_numpy()
    specs = model_specs_from_stage03(
        io.read_parquet(folder / "capabilities.parquet"),
        io.read_parquet(folder / "tuning_chosen.parquet"),
    )
    significance = io.read_parquet(folder / "significance.parquet")
    if significance.empty:
        raise ValueError(f"{folder / 'significance.parquet'} is empty: stage 03 chose no model")
    config = io.read_parquet(folder / "configuration.parquet").set_index("parameter")["value"]
    for key in ("metric", "k"):
        if key not in config.index:
            raise ValueError(f"{folder / 'configuration.parquet'} has no row for {key!r}")
    return Stage03(
        candidates=cands,
        activity=activity,
        specs=specs,
        chosen=str(significance["reference"].iloc[0]),
        metric=str(json.loads(config["metric"])),
        k=int(json.loads(config["k"])),
        models_dir=folder / "models",
    )
