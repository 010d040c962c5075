"""The export artefact: what it holds, that it round-trips, and that a damaged folder is refused."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from _serving import base_run, export, fitted, run_copy, train

from recnb.privacy import DEMO_KEY
from recnb.serving import ExportError, export_model, find_export, key_check, load_export


def test_export_holds_the_model_history_fallback_spec_and_a_manifest(run_copy, train):
    folder = export(run_copy, train, "item_knn")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "fallback.json",
        "history.npz",
        "manifest.json",
        "model/model.json",
        "model/state.npz",
        "serving.json",
    ]
    man = json.loads((folder / "manifest.json").read_text())
    assert set(man["files"]) == set(files) - {"manifest.json"}
    data = json.loads((run_copy / "data" / "dataset.json").read_text())
    assert man["data_fingerprint"] == data["fingerprint"]
    e = load_export(folder)
    assert e.spec.customer_ids.form == "pseudonym"
    assert e.spec.customer_ids.key_check == key_check(DEMO_KEY)
    assert e.spec.history_updates == "rescored"
    assert e.spec.context.device == ["desktop", "mobile", "tablet"]
    assert e.spec.context.used_by_model is False
    assert e.spec.signal.event_weights["purchase"] == 8.0
    # the model keeps its vocabularies: the id maps are the training part's
    assert list(e.model.customer_ids_) == list(train.customer_ids)
    assert (e.history != train.matrix).nnz == 0


def test_loaded_model_recommends_what_the_fitted_one_did(run_copy, train):
    model = fitted("als", train)
    folder = export_model(model, run_copy, "m", train=train)
    e = load_export(folder)
    ids = model.customer_ids_[:50]
    a, b = model.recommend(ids, k=10), e.model.recommend(ids, k=10)
    assert a.equals(b)


def test_fallback_is_the_models_popularity_ranking(run_copy, train):
    folder = export(run_copy, train, "ease")
    e = load_export(folder)
    idx, _ = e.model.recommend_indices(np.array([-1]), k=20)
    assert list(e.fallback[:20]) == list(idx[0])
    fb = json.loads((folder / "fallback.json").read_text())
    counts = np.asarray(fb["popularity"])
    assert (np.diff(counts) <= 0).all() and len(fb["product_ids"]) == e.model.n_products_


@pytest.mark.parametrize(
    ("damage", "names"),
    [
        (lambda f: (f / "history.npz").unlink(), "history.npz: missing"),
        (lambda f: (f / "extra.txt").write_text("x"), "extra.txt: not listed"),
        (lambda f: _flip_byte(f / "model" / "state.npz"), "state.npz: sha256"),
        (lambda f: _flip_byte(f / "fallback.json", at=-3), "fallback.json: sha256"),
        (lambda f: _append(f / "serving.json"), "serving.json: "),
        (lambda f: (f / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
        (lambda f: (f / "manifest.json").unlink(), "manifest.json: missing"),
    ],
)
def test_a_damaged_export_is_refused_naming_the_file(run_copy, train, damage, names):
    folder = export(run_copy, train, "item_knn")
    damage(folder)
    with pytest.raises(ExportError, match=names.replace(".", r"\.")):
        load_export(folder)


def test_a_consistent_edit_still_fails_the_specs_schema(run_copy, train):
    """Whoever rewrites serving.json and its manifest entry gets caught by the spec's schema."""
    import hashlib

    folder = export(run_copy, train, "item_knn")
    spec = json.loads((folder / "serving.json").read_text())
    spec["history_updates"] = "sometimes"
    (folder / "serving.json").write_text(json.dumps(spec))
    man = json.loads((folder / "manifest.json").read_text())
    data = (folder / "serving.json").read_bytes()
    man["files"]["serving.json"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(
        ExportError,
        match="serving.json: not a valid serving spec: history_updates: Input should be",
    ):
        load_export(folder)


def _flip_byte(path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _append(path) -> None:
    path.write_text(path.read_text() + " ")


def test_a_model_fitted_on_other_data_is_not_exported_with_this_history(run_copy, train):
    model = fitted("item_knn", train)
    other = train.with_matrix(train.matrix)
    other.customer_ids = other.customer_ids[::-1].copy()
    with pytest.raises(ValueError, match="not fitted on this training part"):
        export_model(model, run_copy, "x", train=other)
    assert not (run_copy / "models" / "x").exists()


def test_bad_names_are_refused(run_copy, train):
    model = fitted("item_knn", train)
    for bad in ("../x", "", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="name must be"):
            export_model(model, run_copy, bad, train=train)


def test_reexport_replaces_atomically_and_a_reader_never_sees_a_mix(run_copy, train):
    """A reader loading in a loop while the export is rewritten gets the old or the new export,
    complete (or, when a swap happened mid-read, a clear refusal), never a mix, never a gap."""
    a, b = fitted("item_knn", train), fitted("item_knn", train, n_neighbors=5)
    folder = export_model(a, run_copy, "m", train=train)
    neighbours = {load_export(folder).version: 20}
    folder = export_model(b, run_copy, "m", train=train)
    neighbours[load_export(folder).version] = 5
    assert len(neighbours) == 2
    seen: list[tuple[str, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                e = load_export(folder)
            except ExportError as err:
                errors.append(str(err))
            else:
                seen.append((e.version, e.model.n_neighbors))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(8):
            export_model(a if i % 2 else b, run_copy, "m", train=train)
    finally:
        stop.set()
        t.join()
    assert seen
    assert all(neighbours[v] == n for v, n in seen)  # manifest and model from the same export
    # a read that overlapped a swap is retried; one that kept overlapping is refused, naming a
    # file that changed: the folder itself never went missing
    assert not [e for e in errors if "missing" in e or "no such" in e], errors
    leftovers = [p.name for p in (run_copy / "models").iterdir() if p.name != "m"]
    assert leftovers == []


def test_find_export_prefers_champion_then_model_comparison(run_copy, train):
    with pytest.raises(ExportError, match="no exported model in this run"):
        find_export(run_copy)
    export(run_copy, train, "item_knn", export_name="other")
    assert find_export(run_copy).name == "other"
    export(run_copy, train, "item_knn", export_name="third")
    with pytest.raises(ExportError, match="several exports"):
        find_export(run_copy)
    export(run_copy, train, "item_knn", export_name="model_comparison")
    assert find_export(run_copy).name == "model_comparison"
    export(run_copy, train, "item_knn", export_name="champion")
    assert find_export(run_copy).name == "champion"
    assert find_export(run_copy, "third").name == "third"
    with pytest.raises(ExportError, match="no export named 'nope'"):
        find_export(run_copy, "nope")
    shutil.rmtree(run_copy / "models" / "champion" / "model")
    with pytest.raises(ExportError, match="missing"):
        load_export(find_export(run_copy))


def test_key_check_tells_keys_apart_without_revealing_them():
    assert key_check(DEMO_KEY) == key_check(DEMO_KEY.decode())
    assert key_check(DEMO_KEY) != key_check(b"another key")
    assert DEMO_KEY.decode() not in key_check(DEMO_KEY)


def test_describe_export_says_what_and_how(run_copy, train):
    from recnb.serving import describe_export

    text = describe_export(export(run_copy, train, "bpr"), run_copy)
    assert "**bpr**" in text and "`models/model_comparison`" in text
    assert "cannot fold a new history in" in text and "cannot explain" in text
    text = describe_export(export(run_copy, train, "item_knn"), run_copy)
    assert "rescores the customer's list at once" in text and "It explains" in text


def test_describe_export_gives_the_command_as_typed_in_the_project(base_run, train, tmp_path):
    from recnb.serving import describe_export

    run = tmp_path / "reports" / "ci"
    shutil.copytree(base_run, run)
    assert "`python -m recnb serve reports/ci`" in describe_export(export(run, train), run)
    elsewhere = tmp_path / "ci"
    shutil.copytree(base_run, elsewhere)
    text = describe_export(export(elsewhere, train), elsewhere)
    assert f"`python -m recnb serve {elsewhere.resolve().as_posix()}`" in text


def test_stage_context_exports_with_the_runs_key_check(base_run, run_copy, train):
    """Stage 03 exports its chosen model through StageContext.export_model: the export carries
    the key check of the run's key (the synthetic shop's demo key), never the key."""
    from recnb.models import make_model
    from recnb.workflow.stage import StageContext

    stages = {"03_model_comparison": {"status": "running"}}  # as the runner marks it
    (run_copy / "manifest.json").write_text(json.dumps({"run_name": "ci", "stages": stages}))
    ctx = StageContext(base_run.parent / "ci.yaml", run_copy, "03_model_comparison")
    model = make_model("item_knn", n_neighbors=20).fit(train)
    folder = ctx.export_model(model, "model_comparison", train=train, label="my_knn")
    e = load_export(find_export(run_copy))
    assert e.folder == folder
    assert e.spec.label == "my_knn" and e.spec.run_name == "ci"
    assert e.spec.customer_ids.key_check == key_check(DEMO_KEY)
    assert DEMO_KEY.decode() not in (folder / "serving.json").read_text()


def test_recnb_serve_names_what_cannot_be_served(run_copy, train, tmp_path, capsys):
    """``python -m recnb serve`` is a command of the project's CLI; a folder it cannot serve is a
    one-line error naming the file (exit status 2), not a traceback."""
    from recnb.workflow.cli import main

    assert main(["serve", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such run folder" in capsys.readouterr().err
    assert main(["serve", str(run_copy)]) == 2
    assert "no exported model in this run: run stage 03" in capsys.readouterr().err
    folder = export(run_copy, train)
    (folder / "history.npz").write_bytes(b"tampered")
    assert main(["serve", str(run_copy), "--no-store"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recnb: error: ") and "history.npz" in err and "Traceback" not in err


def test_recnb_help_does_not_load_the_service():
    """``python -m recnb --help`` answers without importing numpy, the models or FastAPI."""
    import subprocess
    import sys

    code = (
        "import sys, recnb.workflow.cli as c\n"
        "assert not {'numpy', 'fastapi', 'recnb.serving.export'} & set(sys.modules), sys.modules\n"
        "try:\n    c.main(['serve', '--help'])\nexcept SystemExit as e:\n    sys.exit(e.code)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--workers" in r.stdout and "run_dir" in r.stdout


def test_signal_of_an_explicit_run_takes_the_defaults_for_what_it_lacks():
    """Observed: stage 03 of the MovieLens protocol (explicit ratings) failed in the export with
    float(None): the part records alpha and dwell settings as None."""
    from recnb.serving.export import _signal_spec

    spec = _signal_spec(
        {
            "signal": "explicit",
            "alpha": None,
            "dwell_factor": None,
            "scaling": None,
            "event_weights": {"rating": 1.0, "view": None},
        }  # fmt: skip
    )
    assert spec.signal == "explicit" and spec.alpha == 1.0 and spec.dwell_factor == 0.0
    assert spec.scaling == "log" and spec.event_weights == {"rating": 1.0}
