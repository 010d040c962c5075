"""Compare two run folders file by file: which files differ, which exist in one run only.

Two runs of the same params file and seed must write the same bytes, except for the files listed in
:data:`MEASURED` (measured times and execution metadata). The same-params-same-bytes test and
``tools/compare_runs.py`` (before/after a refactoring) both read this module.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

#: files that legitimately differ between two runs of the same params and seed: they hold measured
#: times (wall clock, memory) or execution metadata (papermill's timestamps in the notebooks, the
#: manifest's start and end times, which the index and the reports also show)
MEASURED: tuple[str, ...] = (
    "*.ipynb",  # execution timestamps and durations per cell
    "*.html",  # the executed notebooks and the index: the same timestamps and measured tables
    "manifest.json",  # started, finished, seconds per stage
    "results/*/timing*",  # timing.parquet/csv, timing_tuning.parquet/csv
    "figures/*/timing*",  # the cost chart
    "summaries/*.timing.md",  # the cost sentences of the summary
    "registry/registry.jsonl",  # the model registry: each record carries the time it was made
)


@dataclass(frozen=True)
class RunComparison:
    """The outcome of :func:`compare_runs`; every list holds paths relative to the run folder.

    Attributes
    ----------
    identical : list of str
        Files present in both runs with the same bytes.
    differ : list of str
        Files present in both runs whose bytes differ and that are not measured.
    measured : list of str
        Files present in both runs that match a :data:`MEASURED` pattern (not compared).
    only_a, only_b : list of str
        Files present in the first (second) run only.
    """

    identical: list[str]
    differ: list[str]
    measured: list[str]
    only_a: list[str]
    only_b: list[str]

    @property
    def same(self) -> bool:
        """True when no compared file differs and both runs hold the same files."""
        return not (self.differ or self.only_a or self.only_b)


def _files(root: Path) -> set[str]:
    if not root.is_dir():
        raise FileNotFoundError(f"run folder {root} does not exist")
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def is_measured(path: str, patterns: tuple[str, ...] = MEASURED) -> bool:
    """Whether a run-relative ``path`` holds measured values or execution metadata."""
    return any(fnmatch.fnmatch(path, pat) for pat in patterns)


def compare_runs(
    a: Path | str, b: Path | str, patterns: tuple[str, ...] = MEASURED
) -> RunComparison:
    """Compare the files of run folders ``a`` and ``b`` byte for byte.

    Parameters
    ----------
    a, b : path
        Two run folders (``reports/<run>``).
    patterns : tuple of str
        ``fnmatch`` patterns of run-relative paths that are listed as measured, not compared.

    Returns
    -------
    RunComparison

    Raises
    ------
    FileNotFoundError
        When either folder does not exist.
    """
    a, b = Path(a), Path(b)
    fa, fb = _files(a), _files(b)
    identical, differ, measured = [], [], []
    for f in sorted(fa & fb):
        if is_measured(f, patterns):
            measured.append(f)
        elif (a / f).read_bytes() == (b / f).read_bytes():
            identical.append(f)
        else:
            differ.append(f)
    return RunComparison(identical, differ, measured, sorted(fa - fb), sorted(fb - fa))
