"""What the stages report about their own time, for ``/metrics``, without knowing about it.

:class:`StageTimes` adds up the seconds a frame spends per stage (the pipeline returns it on the
:class:`~pose_service.types.FrameResult`); :class:`TimedLock` is the lock around a model that tells the functions in
:data:`LOCK_WAIT_OBSERVERS` how long each acquisition waited. :mod:`pose_service.api.metrics` turns both into
Prometheus metrics; nothing below the API imports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOCK_WAIT_OBSERVERS: list[Callable[[str, float], None]] = []
"""Called as ``observer(lock_name, seconds_waited)`` after every :class:`TimedLock` acquisition."""


class StageTimes(dict[str, float]):
    """Seconds spent per stage of one frame; ``with times("detect"): ...`` adds the block's time to ``detect``."""

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - started


class TimedLock:
    """A ``threading.Lock`` used as a context manager, reporting how long each ``with`` waited for it.

    ``name`` says which model it guards (``detector``, ``body``, ``regressor``): requests queue on these locks, so
    the wait is where a busy worker's latency goes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()

    def __enter__(self) -> TimedLock:
        started = time.perf_counter()
        self._lock.acquire()
        waited = time.perf_counter() - started
        try:
            for observe in LOCK_WAIT_OBSERVERS:
                observe(self.name, waited)
        except BaseException:  # the block will not run, so neither will __exit__: do not leave the model locked
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
