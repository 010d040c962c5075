"""What a stage notebook uses to reach the run: settings, data, and where its outputs go.

A notebook creates one :class:`StageContext` from its ``params_file`` and ``run_dir`` parameters. Results
leave the notebook as files in the run folder (``results/<stage>/``, ``figures/<stage>/``), which is how
later stages and tests read them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from recnb.data import io
from recnb.data.schema import Dataset
from recnb.data.synthetic import SyntheticShop
from recnb.privacy import resolve_key
from recnb.serving import export_model
from recnb.workflow.params import NOTEBOOK_DIR, Settings, load_params, section_name
from recnb.workflow.progress import Progress
from recnb.workflow.provenance import check_notebook_inputs
from recnb.workflow.run_data import dataset_for_run, shop_config
from recnb.workflow.settings import StageSettings, StageSpec, stage_spec, validation_messages


class StageContext:
    """The run as seen from one stage notebook.

    Parameters
    ----------
    params_file : str or path
        The run's params YAML (validated on load).
    run_dir : str or path
        The run folder, ``reports/<run_name>`` (created if missing).
    stage : str
        The stage name, e.g. ``"02_preprocessing"``.
    """

    def __init__(self, params_file: str | os.PathLike, run_dir: str | os.PathLike, stage: str):
        self.settings: Settings = load_params(params_file)
        self.run_dir = Path(run_dir).resolve()
        self.stage = stage
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.results_dir = self.run_dir / "results" / stage
        self.figures_dir = self.run_dir / "figures" / stage
        self._dataset: Dataset | None = None
        # opened on its own (JupyterLab): refuse a split made with other params or data
        check_notebook_inputs(self.settings, self.run_dir, stage, NOTEBOOK_DIR)

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def params(self) -> dict[str, Any]:
        """This stage's section of the params file."""
        return self.settings.section(section_name(self.stage))

    def typed_parameters(self, namespace: Mapping[str, Any]) -> StageSettings:
        """This stage's parameters, taken by name from ``namespace`` (the notebook's
        ``globals()``), as its typed settings object.

        The values pass the checks a params file passes (:mod:`recnb.workflow.settings`), so a
        value edited in the notebook is checked as strictly as one given in the params file.

        Raises
        ------
        ValueError
            A value out of range or of the wrong type (one line per key), or a parameter missing
            from ``namespace``.
        """
        spec = self._spec()
        missing = [k for k in spec.settings.model_fields if k not in namespace]
        if missing:
            raise ValueError(f"stage {self.stage}: parameter(s) {missing} are not defined")
        values = {k: namespace[k] for k in spec.settings.model_fields}
        try:
            return spec.settings(**values)
        except ValidationError as e:
            lines = validation_messages(e, section_name(self.stage))
            raise ValueError(f"stage {self.stage}: " + "; ".join(lines)) from None

    def parameter_sources(self, namespace: Mapping[str, Any]) -> pd.DataFrame:
        """Where each value this stage runs with came from, for the report.

        Parameters
        ----------
        namespace : mapping
            The notebook's ``globals()``: every parameter of the stage is read from it by name.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (``params_file`` and ``run_dir`` left out): ``parameter``,
            ``value`` (JSON text) and ``source``: ``"params file"`` (the value the params file
            gives), ``"notebook default"`` (the ``parameters`` cell's default, unchanged),
            ``"notebook default, kept for the listed models"`` (a default the runner limited to
            the params file's ``models``), or ``"edited in the notebook"`` (neither: a value
            changed in the notebook, which wins over the params file's when the notebook is run
            on its own).
        """
        spec = self._spec()
        given = self.params
        adjusted = self.settings.notebook_values(self.stage)
        rows = []
        for name, field in spec.settings.model_fields.items():
            if name not in namespace:
                raise ValueError(f"stage {self.stage}: parameter {name!r} is not defined")
            value = namespace[name]
            default = field.get_default(call_default_factory=True)
            if name in given and _same(value, given[name]):
                source = "params file"
            elif name not in given and name in adjusted and _same(value, adjusted[name]):
                source = "notebook default, kept for the listed models"
            elif name not in given and _same(value, default):
                source = "notebook default"
            else:
                source = "edited in the notebook"
            rows.append({"parameter": name, "value": json.dumps(value), "source": source})
        return pd.DataFrame(rows, columns=["parameter", "value", "source"])

    def _spec(self) -> StageSpec:
        spec = stage_spec(self.stage)
        if spec is None:
            raise ValueError(f"stage {self.stage!r} has no registered settings model")
        return spec

    def dataset(self) -> Dataset:
        """The run's validated, privacy-scrubbed dataset (cached in ``<run_dir>/data``)."""
        if self._dataset is None:
            self._dataset = dataset_for_run(self.settings, self.run_dir)
        return self._dataset

    def shop(self):
        """The synthetic shop with its ground truth (only for ``data.source: synthetic``)."""
        if self.settings.data.source != "synthetic":
            raise ValueError(
                f"{self.settings.source_file}: the ground truth exists only for the synthetic shop, "
                f"this run's data.source is {self.settings.data.source!r}"
            )
        return SyntheticShop(shop_config(self.settings))

    def export_model(
        self, model: Any, name: str, *, train: Any = None, label: str | None = None
    ) -> Path:
        """Export a fitted model for serving to ``<run_dir>/models/<name>/`` (atomically).

        :func:`recnb.serving.export_model` with the run's pseudonymization key, of which only the
        key check is written: ``python -m recnb serve <run_dir>`` then serves it, and a service
        given the shop's own ids can prove it pseudonymizes them with the same key.

        Parameters
        ----------
        model : recnb.models.base.Recommender
            Fitted on ``train``.
        name : str
            Folder name under ``models/`` (stage 03: ``"model_comparison"``).
        train : recnb.data.interactions.Interactions, optional
            The part the model was fitted on; default ``<run_dir>/split/train``.
        label : str, optional
            The model's label in this run (e.g. ``"lightfm_warp_cf"``).

        Returns
        -------
        pathlib.Path
            The export folder.
        """
        data = self.settings.data
        key = resolve_key(data.pseudonym_key, allow_demo=data.source == "synthetic")
        return export_model(model, self.run_dir, name, train=train, label=label, key=key)

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    def write_table(self, name: str, df: pd.DataFrame, csv: bool = True) -> Path:
        """Write a results table as ``results/<stage>/<name>.parquet`` (and ``.csv``)."""
        p = io.write_parquet(self.results_dir / f"{name}.parquet", df)
        if csv:
            io.write_with(self.results_dir / f"{name}.csv", lambda t: df.to_csv(t, index=False))
        return p

    def read_table(self, stage: str, name: str) -> pd.DataFrame:
        """Read a table another stage wrote."""
        return io.read_parquet(self.run_dir / "results" / stage / f"{name}.parquet")

    def write_json(self, name: str, obj: Any) -> Path:
        return io.write_json(self.results_dir / f"{name}.json", obj)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a figure as ``figures/<stage>/<name>.png``."""
        return io.save_figure(fig, self.figures_dir / f"{name}.png")

    def show_figure(self, fig: Any, name: str) -> None:
        """Save a figure (see :meth:`save_figure`), show it in the notebook, and close it."""
        import matplotlib.pyplot as plt

        path = self.save_figure(fig, name)
        plt.close(fig)
        try:
            from IPython.display import Image, display
        except ImportError:  # pragma: no cover - IPython ships with the project
            return
        # shown as the saved PNG: independent of the notebook's matplotlib backend
        display(Image(data=path.read_bytes(), format="png"))

    def set_summary(self, text: str, measured: str = "") -> None:
        """The one-paragraph, plain-language summary shown for this stage on ``index.html``.

        ``measured`` holds sentences quoting measured times (training time, throughput): written
        apart, to ``summaries/<stage>.timing.md``, so that the summary file itself repeats byte
        for byte between two runs of the same params; the index shows both.
        """
        io.write_text(self.run_dir / "summaries" / f"{self.stage}.md", text.strip() + "\n")
        timing = self.run_dir / "summaries" / f"{self.stage}.timing.md"
        if measured.strip():
            io.write_text(timing, measured.strip() + "\n")
        else:
            timing.unlink(missing_ok=True)

    def progress(self) -> Progress:
        """A :class:`recnb.workflow.progress.Progress` for this stage: lines on the runner's
        terminal when run by ``python -m recnb run``, a progress bar in JupyterLab."""
        return Progress(self.stage)


def _same(a: Any, b: Any) -> bool:
    """Equal as values of a params file: ``1 == 1.0``, but ``True != 1``; key order ignored."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
