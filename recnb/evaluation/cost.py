"""What a fit or a recommendation run costs: the peak increase of resident memory while it runs."""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["PeakMemory"]


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


class PeakMemory:
    """Context manager: the peak increase of resident memory (MB) while the block runs.

    A background thread samples the process's resident set size every ``interval`` seconds;
    ``peak_mb`` is the largest sample minus the size at entry (0 when memory only shrank). It
    sees native allocations (BLAS, ``implicit``, LightFM, torch) that :mod:`tracemalloc` misses;
    very short spikes between two samples can be missed.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._start = _rss()
        self._peak = self._start
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss())
        self.peak_mb = max(0.0, (self._peak - self._start) / 2**20)
