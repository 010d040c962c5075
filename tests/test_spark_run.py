"""params/spark_ci.yaml runs the pipeline with stage 02 on the Spark engine and MLlib ALS in stage
03; the same file with ``engine: memory`` gives the same split, byte for byte, and the same stage-03
results (the leaderboard of popularity, implicit ALS and MLlib ALS included).

Two runs of stages 02-03 through papermill on the small CI shop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from spark_support import require_spark

require_spark()

from test_notebooks import _differing  # noqa: E402

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


def test_split_on_spark_is_the_in_memory_split(runs):
    spark, memory = runs
    a = json.loads((spark / "split" / "split.json").read_text())
    b = json.loads((memory / "split" / "split.json").read_text())
    assert a["info"].pop("engine") == "spark" and "engine" not in b["info"]
    assert a == b
    differ, only_one = _differing(spark / "split", memory / "split")
    assert not only_one, only_one
    assert differ == ["split.json"]  # the engine it records, checked above
    assert len(list((spark / "split").rglob("*.npz"))) >= 8


def test_stage_03_results_are_the_same_on_both_runs(runs):
    spark, memory = runs
    res = Path("results") / "03_model_comparison"
    differ, only_one = _differing(spark / res, memory / res)
    assert not only_one, only_one
    assert not differ, differ
    import pandas as pd

    board = pd.read_parquet(spark / res / "leaderboard.parquet")
    assert {"popularity", "als", "spark_als"} <= set(board["model"])
