"""What a stage notebook uses to reach the run: settings, data, and where its outputs go.

A notebook creates one :class:`StageContext` from its ``params_file`` and ``run_dir`` parameters. Results
leave the notebook as files in the run folder (``results/<stage>/``, ``figures/<stage>/``), which is how
later stages and tests read them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from recnb import io
from recnb.params import Settings, load_params, section_name
from recnb.schema import Dataset


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
        from recnb.params import NOTEBOOK_DIR
        from recnb.provenance import check_notebook_inputs

        check_notebook_inputs(self.settings, self.run_dir, stage, NOTEBOOK_DIR)

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def params(self) -> dict[str, Any]:
        """This stage's section of the params file."""
        return self.settings.section(section_name(self.stage))

    def dataset(self) -> Dataset:
        """The run's validated, privacy-scrubbed dataset (cached in ``<run_dir>/data``)."""
        if self._dataset is None:
            from recnb.data import dataset_for_run

            self._dataset = dataset_for_run(self.settings, self.run_dir)
        return self._dataset

    def shop(self):
        """The synthetic shop with its ground truth (only for ``data.source: synthetic``)."""
        if self.settings.data.source != "synthetic":
            raise ValueError(
                f"{self.settings.source_file}: the ground truth exists only for the synthetic shop, "
                f"this run's data.source is {self.settings.data.source!r}"
            )
        from recnb.data import shop_config
        from recnb.synthetic import SyntheticShop

        return SyntheticShop(shop_config(self.settings))

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

    def progress(self) -> Any:
        """A :class:`recnb.progress.Progress` for this stage: lines on the runner's terminal when
        run by ``python -m recnb run``, a progress bar in JupyterLab."""
        from recnb.progress import Progress

        return Progress(self.stage)
