"""Progress of a long stage: which step, which model, trial n of N, elapsed and a rough time left.

A notebook run by the runner executes in a Jupyter kernel whose output lands in the executed
notebook, not on the terminal. So a stage reports progress by appending JSON lines to a file named
by the ``RECNB_PROGRESS_FILE`` environment variable (set by the runner for the kernel it starts): a
line at every change of step or model, and within one step at most one a second. The runner reads
the new lines and prints one when the step changes or, for the same step, at most every
``RECNB_PROGRESS_SECONDS`` seconds (default 30), so CI logs stay short. Opened in JupyterLab (no
such variable), the same calls draw a ``tqdm.auto`` bar per step instead.

Library functions take a plain callback ``progress(step, model=None, n=None, total=None)``
(:class:`recnb.evaluation.evaluate.ProgressCallback`); :class:`Progress` is one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_FILE",
    "ENV_SECONDS",
    "Progress",
    "describe",
    "read_new",
    "read_state",
]

#: environment variable naming the progress file the runner reads
ENV_FILE = "RECNB_PROGRESS_FILE"
#: environment variable: seconds between two progress lines for the same step (runner side)
ENV_SECONDS = "RECNB_PROGRESS_SECONDS"


class Progress:
    """Progress reporter of one stage (a :class:`recnb.evaluation.evaluate.ProgressCallback`).

    Parameters
    ----------
    stage : str
        Stage name, shown in the messages.
    path : path, optional
        Progress file; default ``$RECNB_PROGRESS_FILE``. Without one, a ``tqdm.auto`` bar is shown
        per step (in JupyterLab a widget, in a terminal a text bar).
    min_interval : float
        Least seconds between two writes of the file for the same step (a step change is
        always written).
    """

    def __init__(
        self, stage: str, path: str | os.PathLike | None = None, min_interval: float = 1.0
    ):
        env = os.environ.get(ENV_FILE)
        self.stage = stage
        self.path = Path(path) if path is not None else (Path(env) if env else None)
        self.min_interval = min_interval
        self._key: tuple[str, str | None] | None = None
        self._count: tuple[int | None, int | None] = (None, None)
        self._unit_started = 0.0
        self._last_write = 0.0
        self._bar: Any = None
        self._t0 = time.time()

    def __call__(
        self, step: str, model: str | None = None, n: int | None = None, total: int | None = None
    ) -> None:
        now = time.time()
        key = (step, model)
        changed = key != self._key
        self._key = key
        # the count (trial n of N, model i of n) restarts at 0 or when N changes: the time left
        # is measured from there
        last_n, last_total = self._count
        if n is None or total != last_total or last_n is None or n < last_n or n == 0:
            self._unit_started = now
        self._count = (n, total)
        if self.path is None:
            self._tqdm(step, model, n, total, changed)
            return
        if not changed and now - self._last_write < self.min_interval and n != total:
            return
        self._last_write = now
        state = {
            "stage": self.stage,
            "step": step,
            "model": model,
            "n": n,
            "total": total,
            "stage_started": self._t0,
            "count_started": self._unit_started,
            "updated": now,
        }
        try:  # one short line per append: the reader never sees half of one it takes
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(state) + "\n")
        except OSError:  # progress is best effort: never fail a stage over it
            pass

    def _tqdm(self, step: str, model: str | None, n: int | None, total: int | None, new: bool):
        if new or self._bar is None:
            self.close()
            from tqdm.auto import tqdm

            desc = f"{step} {model}" if model else step
            self._bar = tqdm(total=total, desc=desc, leave=False)
        if n is not None:
            self._bar.n = n
            self._bar.refresh()

    def close(self) -> None:
        """Close the current bar (JupyterLab); the file needs no closing."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def read_new(path: str | os.PathLike, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete lines of a progress file after byte ``offset``, and the offset to read from
    next (a line still being written is left for the next call)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    states = []
    for line in data[:end].splitlines():
        try:
            states.append(json.loads(line))
        except ValueError:
            continue
    return states, offset + end


def read_state(path: str | os.PathLike) -> dict[str, Any] | None:
    """The last complete state of a progress file (None when absent or empty)."""
    states, _ = read_new(path)
    return states[-1] if states else None


def _dur(s: float) -> str:
    s = max(0.0, s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def describe(
    state: dict[str, Any], now: float | None = None, stage_started: float | None = None
) -> str:
    """One line for the terminal: ``tuning als · 3/10 trials done · ~28 s left · 1 min elapsed``.

    The time left is the time since the count started per finished unit, times the units still
    to do: rough, as trials and models differ in cost. ``stage_started`` (the runner's own clock)
    overrides the notebook's start for the elapsed time.
    """
    now = time.time() if now is None else now
    what = str(state.get("step", ""))
    if state.get("model"):
        what += f" {state['model']}"
    parts = [what]
    n, total = state.get("n"), state.get("total")
    if n is not None and total:
        unit = "trials" if what.startswith("tuning") else "models"
        parts.append(f"{n}/{total} {unit} done")
        if 0 < n < total:
            counted = now - float(state.get("count_started", now))
            parts.append(f"~{_dur(counted / n * (total - n))} left")
    start = stage_started if stage_started is not None else state.get("stage_started", now)
    parts.append(f"{_dur(now - float(start))} elapsed")
    return " · ".join(parts)
