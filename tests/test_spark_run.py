"""params/spark_ci.yaml runs the pipeline with stage 02 on the Spark engine and MLlib ALS in stage
03; the same file with ``engine: memory`` writes the same run folder, byte for byte, but for the
engine the split records and the measured times: the same split and the same stage-03 results (the
leaderboard of popularity, implicit ALS and MLlib ALS included).

Two runs of stages 02-03 through papermill on the small CI shop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from spark_support import require_spark

require_spark()

from recnb.workflow.compare import compare_runs  # noqa: E402
from recnb.workflow.params import REPO_ROOT  # noqa: E402
from recnb.workflow.runner import run  # noqa: E402

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

SPARK_PARAMS = REPO_ROOT / "params" / "spark_ci.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("spark_run")
    spark = run(SPARK_PARAMS, reports_dir=root / "spark", echo=lambda m: None)
    params = yaml.safe_load(SPARK_PARAMS.read_text())
    prep = params["preprocessing"]
    assert prep.pop("engine") == "spark"
    prep.pop("spark_master"), prep.pop("spark_conf")
    memory_file = root / "memory" / SPARK_PARAMS.name  # same file name: same run name
    memory_file.parent.mkdir()
    memory_file.write_text(yaml.safe_dump(params, sort_keys=False))
    memory = run(memory_file, reports_dir=root / "memory" / "reports", echo=lambda m: None)
    return spark, memory


#: the files that record the engine (split.json's info and stage 02's copy of it)
RECORDS_ENGINE = {"split/split.json": ("info",), "results/02_preprocessing/split_info.json": ()}


def test_split_and_stage_03_results_are_those_of_the_in_memory_run(runs):
    spark, memory = runs
    c = compare_runs(spark, memory)  # every file but the measured ones, byte for byte
    assert not (c.only_a or c.only_b), (c.only_a, c.only_b)
    assert sorted(c.differ) == sorted(RECORDS_ENGINE), c.differ
    for name, where in RECORDS_ENGINE.items():
        a = json.loads((spark / name).read_text())
        b = json.loads((memory / name).read_text())
        inner_a, inner_b = a, b
        for key in where:
            inner_a, inner_b = inner_a[key], inner_b[key]
        assert inner_a.pop("engine") == "spark" and "engine" not in inner_b, name
        assert a == b, name
    # what the comparison covered: the split's matrices and the stage-03 tables
    assert sum(f.startswith("split/") and f.endswith(".npz") for f in c.identical) >= 8
    res = "results/03_model_comparison/"
    for table in ("leaderboard", "metrics_per_customer", "tuning_history", "significance"):
        assert f"{res}{table}.parquet" in c.identical, table
    board = pd.read_parquet(spark / res / "leaderboard.parquet")
    assert {"popularity", "als", "spark_als"} <= set(board["model"])
