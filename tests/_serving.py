"""Fixtures shared by the serving tests: a small synthetic run folder with its split, and fitted,
exported models (imported by the ``test_serving_*`` modules)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recnb.privacy import DEMO_KEY

REPO = Path(__file__).resolve().parents[1]


def build_run(
    run_dir: Path, n_customers: int = 400, n_products: int = 150, n_days: int = 30
) -> Path:
    """A run folder with the scrubbed dataset (``data/``) and the split (``split/``) of a small
    synthetic shop, built by the same functions stages 01-02 call (no notebook)."""
    from recnb.prep import cleaning, split
    from recnb.prep.settings import PrepSettings
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import dataset_for_run

    text = (REPO / "params" / "ci.yaml").read_text()
    text = text.replace("n_customers: 600", f"n_customers: {n_customers}")
    text = text.replace("n_products: 200", f"n_products: {n_products}")
    text = text.replace("n_days: 30", f"n_days: {n_days}")
    params = run_dir.parent / f"{run_dir.name}.yaml"
    params.write_text(text)
    settings = load_params(params)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text('{"run_name": "ci"}\n')
    ds = dataset_for_run(settings, run_dir)
    cleaned, _ = cleaning.clean(ds, dedup_window_seconds=10.0)
    prep = PrepSettings(
        min_customer_interactions=2,
        min_product_interactions=2,
        bot_max_events_per_day=1000,
        test_days=7,
        valid_days=4,
        tfidf_max_features=100,
        seed=7,
    )
    result = split.build_split(cleaned, prep)
    split.save_split(
        run_dir / "split",
        result.parts,
        context=result.context,
        normalizers=result.normalizers,
        info=result.info,
    )
    return run_dir


@pytest.fixture(scope="session")
def base_run(tmp_path_factory) -> Path:
    """The small run folder (read-only: copy it before writing into it)."""
    return build_run(tmp_path_factory.mktemp("serving") / "ci")


@pytest.fixture(scope="session")
def train(base_run):
    from recnb.prep.split import load_split

    return load_split(base_run / "split", ["train"])["train"]


def fitted(name: str, train, **params):
    from recnb.models import make_model

    defaults = {
        "item_knn": {"n_neighbors": 20},
        "user_knn": {"n_neighbors": 30},
        "als": {"factors": 8, "iterations": 5, "num_threads": 1},
        "bpr": {"factors": 8, "iterations": 5},
        "ease": {"l2": 50.0},
    }
    return make_model(name, random_state=1, **{**defaults.get(name, {}), **params}).fit(train)


@pytest.fixture
def run_copy(base_run, tmp_path) -> Path:
    """A writable copy of the run folder."""
    dest = tmp_path / "ci"
    shutil.copytree(base_run, dest)
    return dest


def export(
    run_dir: Path, train, name: str = "item_knn", export_name: str = "model_comparison", **params
) -> Path:
    from recnb.serving import export_model

    model = fitted(name, train, **params)
    return export_model(model, run_dir, export_name, train=train, label=name, key=DEMO_KEY)
