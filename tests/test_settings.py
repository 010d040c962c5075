"""Value checks of the params file: every bad value stops `check` (and `run`) before any stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from recnb.workflow.cli import main
from recnb.workflow.params import (
    NOTEBOOK_DIR,
    REPO_ROOT,
    ParamsError,
    load_params,
    notebook_parameters,
)

CI = (REPO_ROOT / "params" / "ci.yaml").read_text()


def test_every_registered_stage_matches_its_notebook_parameters():
    """The settings model and the notebook's parameters cell declare the same keys and defaults."""
    import ast

    from recnb.workflow.settings import STAGES

    for stage, spec in STAGES.items():
        declared = notebook_parameters(stage, NOTEBOOK_DIR)
        names = {k for k in declared if k not in ("params_file", "run_dir")}
        assert set(spec.settings.model_fields) == names, stage
        for name, field in spec.settings.model_fields.items():
            default = ast.literal_eval(declared[name]["default"])
            assert field.get_default(call_default_factory=True) == default, (stage, name)


def _check(tmp_path: Path, text: str) -> str:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(ParamsError) as e:
        load_params(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg  # names the file, one line
    return msg


def _mc(extra: str) -> str:
    return CI.replace("  n_trials: 4\n", f"  n_trials: 4\n  {extra}\n")


def _prep(extra: str) -> str:
    return CI.replace("  valid_days: 4\n", f"  valid_days: 4\n  {extra}\n")


def _ab(extra: str) -> str:
    return CI.replace("  ope_seeds: 1\n", f"  ope_seeds: 1\n  {extra}\n")


def _ctx(extra: str) -> str:
    return CI.replace("  min_requests: 10\n", f"  min_requests: 10\n  {extra}\n")


# (name, params text, regex the message must match): each passed `check` before this change
BAD_VALUES = [
    ("k=0", _mc("k: 0"), r"key 'model_comparison\.k': .*greater than or equal to 1, got 0"),
    ("negative k", _mc("k: -3"), r"key 'model_comparison\.k': .*>?greater than or equal to 1"),
    ("k not reported", _mc("k: 7"), r"key 'model_comparison\.k' \(7\) must be one of .*k_values"),
    ("k_values 0", _mc("k_values: [0, 10]"), r"key 'model_comparison\.k_values': .*>= 1"),
    (
        "n_trials=-1",
        CI.replace("n_trials: 4", "n_trials: -1"),
        r"key 'model_comparison\.n_trials': .*greater than or equal to 0, got -1",
    ),
    (
        "low > high",
        CI.replace("factors: {low: 4, high: 32, log: true}", "factors: {low: 32, high: 4}"),
        r"key 'model_comparison\.search_space\.als': .*low \(32\) must be below high \(4\)",
    ),
    (
        "unknown model",
        "run_name: x\nmodel_comparison:\n  models: [popularity, alss]\n",
        r"key 'model_comparison\.models': unknown model 'alss'; registered models are \[.*'als'",
    ),
    (
        "unknown hyperparameter",
        CI.replace("lightfm_warp: {epochs: 5}", "lightfm_warp: {epochz: 5}"),
        r"key 'model_comparison\.model_params\.lightfm_warp\.epochz': not a hyperparameter of "
        r"model 'lightfm_warp'; allowed: \[.*'epochs'",
    ),
    (
        "bad hyperparameter value",
        CI.replace("lightfm_warp: {epochs: 5}", "lightfm_warp: {epochs: -5}"),
        r"key 'model_comparison\.model_params\.lightfm_warp': .*epochs must be an int >= 1",
    ),
    (
        "unknown hyperparameter in search space",
        CI.replace("n_neighbors: {low: 5", "n_neighbours: {low: 5"),
        r"search_space\.item_knn'.*'n_neighbours' is not a hyperparameter of model 'item_knn'",
    ),
    (
        "search bound the model refuses",
        CI.replace("n_neighbors: {low: 5, high: 100, log: true}", "n_neighbors: {low: 0, high: 9}"),
        r"key 'model_comparison\.search_space\.item_knn\.n_neighbors' \(value 0\)",
    ),
    (
        "misspelt metric",
        _mc("metric: ndgc"),
        r"key 'model_comparison\.metric': unknown metric 'ndgc'; allowed: \[.*'ndcg'",
    ),
    (
        "misspelt leaderboard metric",
        _mc("leaderboard_metrics: [ndcg, recal]"),
        r"unknown metric\(s\) \['recal'\]",
    ),
    (
        "misspelt baseline",
        _mc("baseline: populrity"),
        r"key 'model_comparison\.baseline': 'populrity' is not one of the compared models",
    ),
    (
        "budget for an unknown model",
        CI.replace("n_trials_per_model: {}", "n_trials_per_model: {foo: 3}"),
        r"key 'model_comparison\.n_trials_per_model' has entries \['foo'\]",
    ),
    (
        "validation folds for an unknown model",
        _mc("validation_folds_per_model: {foo: 3}"),
        r"key 'model_comparison\.validation_folds_per_model' has entries \['foo'\]",
    ),
    (
        "zero validation folds",
        _mc("validation_folds_per_model: {item_knn: 0}"),
        r"key 'model_comparison\.validation_folds_per_model\.item_knn': must be an int >= 1",
    ),
    ("alpha 1.5", _mc("alpha: 1.5"), r"key 'model_comparison\.alpha': .*less than 1"),
    (
        "n_bootstrap 0",
        CI.replace("n_bootstrap: 200", "n_bootstrap: 0"),
        r"key 'model_comparison\.n_bootstrap': .*greater than or equal to 1",
    ),
    (
        "negative tf-idf",
        CI.replace("tfidf_max_features: 300", "tfidf_max_features: -1"),
        r"key 'preprocessing\.tfidf_max_features': .*greater than or equal to 0, got -1",
    ),
    (
        "negative dedup",
        _prep("dedup_window_seconds: -5.0"),
        r"key 'preprocessing\.dedup_window_seconds': .*greater than or equal to 0",
    ),
    (
        "negative bot threshold",
        _prep("bot_max_events_per_day: -1"),
        r"key 'preprocessing\.bot_max_events_per_day': .*greater than or equal to 0",
    ),
    (
        "test_fraction 1",
        _prep("test_fraction: 1.0"),
        r"preprocessing\.test_fraction': .*less than 1",
    ),
    ("cutoff not a date", _prep("cutoff: yesterday"), r"preprocessing\.cutoff': must be an ISO"),
    (
        "cutoff '' (the old sentinel for the last test_days)",
        _prep('cutoff: ""'),
        r"preprocessing\.cutoff': must be an ISO date .*\(or null for the last test_days\), got ''",
    ),
    (
        "reference_table '' (the old sentinel for none)",
        _mc('reference_table: ""'),
        r"model_comparison\.reference_table': unknown reference table ''; .*\(null for none\)",
    ),
    (
        "unknown event type",
        _prep("event_weights: {view: 1, purchse: 8}"),
        r"preprocessing\.event_weights': unknown event type\(s\) \['purchse'\]",
    ),
    (
        "split kind typo",
        _prep("split_kind: temporl"),
        r"preprocessing\.split_kind': Input should be 'temporal', 'leave_last', 'random' or "
        r"'stratified', got 'temporl'",
    ),
    (
        "A/B: fewer candidates than shown",
        _ab("n_candidates: 5"),
        r"key 'ab_simulation\.n_candidates' \(5\) must be at least key 'ab_simulation\.k' \(10\)",
    ),
    (
        "A/B: primary metric a ratio",
        _ab("primary_metric: ctr"),
        r"key 'ab_simulation\.primary_metric': must be one of \['conversion', .*got 'ctr'",
    ),
    (
        "A/B: unknown metric",
        _ab("metrics: [revenue_per_visitor, revnue]"),
        r"key 'ab_simulation\.metrics': unknown metric\(s\) \['revnue'\]",
    ),
    (
        "A/B: treatment is the control",
        _ab("treatment: popularity"),
        r"key 'ab_simulation\.treatment' is the control \('popularity'\)",
    ),
    (
        "A/B: share 1",
        _ab("treatment_share: 1.0"),
        r"key 'ab_simulation\.treatment_share': .*less than 1",
    ),
    (
        "top_categories 0",
        CI.replace("top_categories: 10", "top_categories: 0"),
        r"key 'data_understanding\.top_categories'",
    ),
    (
        "seed 2**32",
        CI.replace("seed: 7", "seed: 4294967296"),
        r"key 'seed' must be an integer in 0\.\.2\*\*32-1",
    ),
    (
        "split seed 2**32",
        _prep("seed: 4294967296"),
        r"key 'preprocessing\.seed': a seed must be in 0\.\.2\*\*32-1 .*or null",
    ),
    (
        "split seed -1 (the old sentinel for the run's seed)",
        _prep("seed: -1"),
        r"key 'preprocessing\.seed': a seed must be in 0\.\.2\*\*32-1 .*or null \(None\) for the run's seed",
    ),
    (
        "shop seed 2**32",
        CI.replace("n_days: 30", "n_days: 30\n    seed: 4294967296"),
        r"key 'data\.synthetic\.seed' must be an integer in 0\.\.2\*\*32-1",
    ),
    (
        "duplicate top-level key",
        CI + "seed: 8\n",
        r"not valid YAML: duplicate key 'seed' on line \d+ \(first given on line 4\)",
    ),
    (
        "duplicate nested key",
        CI.replace("  n_trials: 4\n", "  n_trials: 4\n  n_trials: 5\n"),
        r"duplicate key 'n_trials' on line \d+",
    ),
    (
        "float written 1e-3",
        _mc("alpha: 1e-3"),
        r"key 'model_comparison\.alpha' must be of type float .*got '1e-3' \(str\) \(YAML reads "
        r"1e-3 as text: write 1\.0e-3\)",
    ),
    (
        "unknown engine",
        _prep("engine: dask"),
        r"key 'preprocessing\.engine': Input should be 'memory' or 'spark', got 'dask'",
    ),
    (
        "split kind the Spark engine does not run",
        _prep("engine: spark\n  split_kind: leave_last"),
        r"key 'preprocessing\.split_kind' 'leave_last' is not available with key "
        r"'preprocessing\.engine' spark; it runs \['temporal', 'stratified'\]",
    ),
    (
        "Spark settings without the Spark engine",
        _prep("spark_master: local[2]"),
        r"key 'preprocessing\.spark_master' / 'spark_conf' set but key 'preprocessing\.engine' "
        r"is 'memory'",
    ),
    (
        "Spark master of no known form",
        _prep("engine: spark\n  spark_master: local[0]"),
        r"key 'preprocessing\.spark_master': 'local\[0\]' is not a Spark master; use one of: local, "
        r"local\[N\]",
    ),
    (
        "Spark setting whose name does not start with spark.",
        _prep("engine: spark\n  spark_conf:\n    executor.memory: 4g"),
        r"key 'preprocessing\.spark_conf': 'executor\.memory' is not a Spark setting",
    ),
    (
        "Spark setting with a list value",
        _prep("engine: spark\n  spark_conf:\n    spark.jars: [a, b]"),
        r"key 'preprocessing\.spark_conf': spark\.jars: value must be a string, number or boolean",
    ),
    (
        "Spark master given twice, differently",
        _prep("engine: spark\n  spark_master: yarn\n  spark_conf:\n    spark.master: local[2]"),
        r"key 'preprocessing\.spark_master' is 'yarn' but key 'preprocessing\.spark_conf' sets "
        r"spark\.master to 'local\[2\]'",
    ),
    (
        "run name with a newline",
        CI.replace("run_name: ci", 'run_name: "ci\\n"'),
        r"key 'run_name' must be a folder-safe name .*got 'ci\\n'",
    ),
    (
        "run name with a tab",
        CI.replace("run_name: ci", 'run_name: "c\\ti"'),
        r"key 'run_name' must be a folder-safe name",
    ),
    (
        "context dimension",
        _ctx("dimensions: [device, weather]"),
        r"key 'context\.dimensions': .*unknown context dimension\(s\) \['weather'\]",
    ),
    (
        "rolling too long",
        CI.replace("  rolling_steps: 3\n", "  rolling_steps: 9\n"),
        r"key 'context\.rolling_steps' x 'rolling_step_days' \(9 x 2 days\) must fit in "
        r"'test_days' \(7\)",
    ),
    (
        "context base model",
        _ctx("base_model: nope"),
        r"key 'context\.base_model': unknown model 'nope'",
    ),
    (
        "context base params",
        _ctx("base_params: {n_neighbours: 5}"),
        r"key 'context\.base_params\.n_neighbours': not a hyperparameter of model 'item_knn'",
    ),
    ("cold share", _ctx("cold_share: 1.0"), r"key 'context\.cold_share': .*less than 1"),
    (
        "post-filter weight",
        _ctx("weight_grid: [0.0, -1.0]"),
        r"key 'context\.weight_grid': post-filter weights must be finite and >= 0, got \[-1\.0\]",
    ),
]


@pytest.mark.parametrize("name, text, pattern", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_values_are_refused_naming_file_key_and_allowed(tmp_path, name, text, pattern):
    import re

    msg = _check(tmp_path, text)
    assert re.search(pattern, msg), msg


def test_a_label_naming_an_unknown_model(tmp_path):
    text = "run_name: x\nmodel_comparison:\n  models: [a]\n  model_params: {a: {model: nope}}\n"
    msg = _check(tmp_path, text)
    assert "key 'model_comparison.model_params.a.model': unknown model 'nope'" in msg


def test_bare_models_list_keeps_only_its_own_notebook_defaults(tmp_path):
    """Observed: `models: [popularity, als]` failed on default model_params the user never wrote."""
    p = tmp_path / "p.yaml"
    p.write_text("run_name: bare\nmodel_comparison:\n  models: [popularity, als]\n")
    s = load_params(p)
    values = s.notebook_values("03_model_comparison")
    assert values["models"] == ["popularity", "als"]
    assert values["model_params"] == {}
    assert set(values["search_space"]) == {"als"}
    assert values["n_trials_per_model"] == {}
    # what the notebook does with them works
    from recnb.evaluation.specs import model_specs
    from recnb.evaluation.tuning import parse_space

    specs = model_specs(values["models"], values["model_params"])
    assert [sp.label for sp in specs] == ["popularity", "als"]
    parse_space("als", values["search_space"]["als"])
    # keys the user wrote are passed as written
    p.write_text(
        "run_name: bare\nmodel_comparison:\n  models: [popularity, als]\n  search_space: {}\n"
    )
    assert load_params(p).notebook_values("03_model_comparison")["search_space"] == {}


def test_params_file_that_is_a_folder_or_not_text(tmp_path, capsys):
    d = tmp_path / "folder.yaml"
    d.mkdir()
    assert main(["check", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory, not a params file" in err
    b = tmp_path / "binary.yaml"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert main(["check", str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a text file" in err and str(b) in err
    n = tmp_path / "nul.yaml"
    n.write_bytes(b"run_name: x\x00\n")
    assert main(["check", str(n)]) == 2
    assert "not a text file" in capsys.readouterr().err


def test_reports_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "reports"
    f.write_text("not a folder")
    p = tmp_path / "p.yaml"
    p.write_text("run_name: x\nstages: [01_data_understanding]\n")
    assert main(["run", str(p), "--reports-dir", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--reports-dir {f} is a file, not a folder" in err


def test_empty_stages_is_an_error_in_check_and_run(tmp_path, capsys):
    """Observed: `stages: []` ran nothing and exited 0."""
    p = tmp_path / "p.yaml"
    p.write_text("run_name: x\nstages: []\n")
    assert main(["check", str(p)]) == 2
    assert "key 'stages' is empty, so nothing would run" in capsys.readouterr().err
    assert main(["run", str(p), "--reports-dir", str(tmp_path / "r")]) == 2
    assert "nothing would run" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_shipped_params_files_pass(capsys):
    import importlib.util

    spark = importlib.util.find_spec("pyspark") is not None
    for f in sorted((REPO_ROOT / "params").glob("*.yaml")):
        code = main(["check", str(f)])
        err = capsys.readouterr().err
        if not spark and "engine: spark" in f.read_text():
            # without the 'spark' extra a Spark params file stops at check, saying what to install
            assert code != 0 and "pyspark is not installed: pip install -e '.[spark]'" in err
        else:
            assert code == 0, err


def test_an_unknown_reference_table_is_named_with_the_allowed_ones():
    from pydantic import ValidationError

    from recnb.workflow.settings import ModelComparisonSettings

    with pytest.raises(ValidationError, match="unknown reference table 'msr_ml100k'"):
        ModelComparisonSettings(reference_table="msr_ml100k")
    assert ModelComparisonSettings(reference_table="msr_movielens100k").reference_table


def test_every_stage_accepts_its_notebook_defaults_given_explicitly():
    """Observed: the notebook passes every parameter (typed_parameters), so a check on which keys
    were *given* refused engine: memory with the default spark_master and spark_conf."""
    from recnb.workflow.settings import STAGES

    for spec in STAGES.values():
        values = {
            k: f.get_default(call_default_factory=True)
            for k, f in spec.settings.model_fields.items()
        }
        spec.settings(**values)  # no error


def test_reading_the_settings_imports_no_heavy_model_library():
    """Every stage's kernel reads the settings, which build each configured model: that imported
    torch and cornac (seconds each) in stages that never fit a model."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from recnb.workflow.params import load_params\n"
        "s = load_params('params/default.yaml')\n"
        "print(sorted(m for m in ('torch', 'cornac') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"
