"""What a stage notebook sees: its parameters as one checked object, and where each value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from recnb.prep.settings import PrepSettings
from recnb.workflow.params import load_params
from recnb.workflow.settings import ModelComparisonSettings, PreprocessingSettings
from recnb.workflow.stage import StageContext

PARAMS = """
run_name: t
seed: 5
data:
  source: synthetic
  synthetic: {n_customers: 60, n_products: 30, n_days: 5}
stages: [02_preprocessing, 03_model_comparison]
preprocessing:
  test_days: 7
model_comparison:
  models: [popularity, als]
  n_trials: 2
"""


@pytest.fixture
def params(tmp_path: Path) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(PARAMS)
    return p


def _namespace(params: Path, stage: str, model) -> dict:
    """What the notebook holds when the runner started it: the defaults of its parameters
    cell (= the settings model's), overridden by what the runner injects."""
    ns = {k: f.get_default(call_default_factory=True) for k, f in model.model_fields.items()}
    ns.update(load_params(params).notebook_values(stage))
    return ns


def test_typed_parameters_are_the_checked_settings_object(params, tmp_path):
    ctx = StageContext(params, tmp_path / "run", "02_preprocessing")
    ns = _namespace(params, "02_preprocessing", PreprocessingSettings)
    s = ctx.typed_parameters({**ns, "unrelated": object()})
    assert isinstance(s, PrepSettings) and s.test_days == 7 and type(s.test_days) is int
    assert s.split_seed(ctx.seed) == 5 and s.cutoff is None
    with pytest.raises(ValueError, match=r"stage 02_preprocessing: key 'preprocessing\.test_days'"):
        ctx.typed_parameters({**ns, "test_days": -1})
    with pytest.raises(ValueError, match=r"parameter\(s\) \['seed'\] are not defined"):
        ctx.typed_parameters({k: v for k, v in ns.items() if k != "seed"})


def test_typed_parameters_apply_the_cross_key_rules(params, tmp_path):
    ctx = StageContext(params, tmp_path / "run", "03_model_comparison")
    ns = _namespace(params, "03_model_comparison", ModelComparisonSettings)
    assert ctx.typed_parameters(ns).models == ["popularity", "als"]
    with pytest.raises(ValueError, match=r"key 'model_comparison\.k' \(7\) must be one of"):
        ctx.typed_parameters({**ns, "k": 7})


def test_parameter_sources_name_the_params_file_the_defaults_and_an_edit(params, tmp_path):
    ctx = StageContext(params, tmp_path / "run", "03_model_comparison")
    ns = _namespace(params, "03_model_comparison", ModelComparisonSettings)
    ns["n_bootstrap"] = 50  # changed in the notebook
    t = ctx.parameter_sources(ns).set_index("parameter")
    assert list(t.index) == list(ModelComparisonSettings.model_fields)
    assert t.loc["models", "source"] == "params file"
    assert t.loc["models", "value"] == '["popularity", "als"]'
    assert t.loc["n_trials", "source"] == "params file"
    # the runner kept the default search space of als only, the listed model with one
    assert t.loc["search_space", "source"] == "notebook default, kept for the listed models"
    assert t.loc["metric", "source"] == "notebook default"
    assert t.loc["n_bootstrap", "source"] == "edited in the notebook"
    # an edit of a value the params file gives: the notebook's value ran, and says so
    ns["n_trials"] = 3
    assert ctx.parameter_sources(ns).set_index("parameter").loc["n_trials", "source"] == (
        "edited in the notebook"
    )
    # 1 and 1.0 are the same value; True and 1 are not
    ns["alpha"] = 0.05
    ns["products_table"] = 1
    t = ctx.parameter_sources(ns).set_index("parameter")
    assert t.loc["alpha", "source"] == "notebook default"
    assert t.loc["products_table", "source"] == "edited in the notebook"


def test_customer_pseudonyms_map_the_shops_ids_to_the_datasets(params, tmp_path):
    ctx = StageContext(params, tmp_path / "run", "02_preprocessing")
    ids = ctx.shop().generate().customers["customer_id"].to_numpy()
    got = ctx.customer_pseudonyms()(ids)
    assert sorted(got) == sorted(ctx.dataset().customers["customer_id"])


def test_customer_pseudonyms_refuse_real_data(tmp_path):
    p = tmp_path / "real.yaml"
    p.write_text(
        PARAMS.replace("source: synthetic", "source: csv\n  path: x").replace(
            "  synthetic: {n_customers: 60, n_products: 30, n_days: 5}\n", ""
        )
    )
    ctx = StageContext(p, tmp_path / "run", "02_preprocessing")
    with pytest.raises(ValueError, match="only for the synthetic shop"):
        ctx.customer_pseudonyms()
