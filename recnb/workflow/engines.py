"""Stage 02's split on the engine its settings name: in memory, or with its heavy part on Spark.

Both engines give the same :class:`~recnb.prep.split.SplitResult` (``tests/test_spark_stage.py``
and ``tests/test_spark_run.py`` check the saved split byte for byte), so stage 03 and the reports
do not depend on which one ran; the Spark engine records itself in ``split.json``
(``info["engine"] == "spark"``; the in-memory split has no such key).
"""

from __future__ import annotations

from collections.abc import Callable

from recnb.data.schema import Dataset
from recnb.prep.split import SplitResult, build_split
from recnb.workflow.settings import PreprocessingSettings

__all__ = ["build_split_on_engine"]


def build_split_on_engine(
    ds: Dataset,
    settings: PreprocessingSettings,
    *,
    run_seed: int,
    on_step: Callable[[str], None] | None = None,
) -> SplitResult:
    """:func:`recnb.prep.split.build_split` on ``settings.engine``.

    Parameters
    ----------
    ds : Dataset
        Cleaned, privacy-scrubbed dataset.
    settings : PreprocessingSettings
        Stage 02's settings; ``engine``, ``spark_master`` and ``spark_conf`` choose where it runs.
    run_seed : int
        The run's seed (random and stratified splits, when ``settings.seed`` is None).
    on_step : callable, optional
        Called with the name of each phase as it starts.

    Returns
    -------
    SplitResult

    Notes
    -----
    With ``engine: spark`` a session is started with the settings' master and conf (or the running
    one is used, e.g. under spark-submit or in a notebook that started its own); a session started
    here is stopped when the split is built, so stage 02 leaves no JVM behind.
    """
    if settings.engine == "memory":
        return build_split(ds, settings, run_seed=run_seed, on_step=on_step)
    from recnb.backends.spark.session import active_session, spark_session
    from recnb.backends.spark.stage import build_split_spark

    started = active_session() is None
    spark = spark_session(master=settings.spark_master, conf=settings.spark_conf)
    try:
        return build_split_spark(ds, spark, settings, run_seed=run_seed, on_step=on_step)
    finally:
        if started:
            spark.stop()
