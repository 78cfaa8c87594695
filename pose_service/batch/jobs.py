"""Long batches as background jobs: one worker thread per process, a cap on waiting work, expiry of old results.

One worker, so that a batch never takes more than one of the process's threads from live ``/pose/hybrid``
requests (model calls are serialised anyway, so more workers would not finish batches sooner). Jobs live in this
process only: with several gunicorn workers a client must reach the worker that accepted its job, unless the
service runs on Redis, where :mod:`.queue` (RQ) takes their place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from .runner import BatchCancelled

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STATUSES = ACTIVE + ("done", "failed")


class JobQueueFull(RuntimeError):
    """As many jobs as allowed are already queued or running."""


@dataclass
class Job:
    job_id: str
    frames_total: int
    status: str = "queued"
    """``queued``, ``running``, ``done`` or ``failed``."""
    frames_done: int = 0
    error: Optional[str] = None
    result: Optional[dict[str, Any]] = None
    finished_at: Optional[float] = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, frames_done: int, frames_total: int) -> None:
        self.frames_done, self.frames_total = frames_done, frames_total

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "progress": {"frames_done": self.frames_done, "frames_total": self.frames_total},
            "error": self.error,
            "result": self.result,
        }


Work = Callable[[Job], dict[str, Any]]
"""work(job) -> the job's result; reports through ``job.progress`` and stops when ``job.cancel`` is set."""


class JobManager:
    def __init__(self, max_jobs: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_jobs = max_jobs
        self.ttl_s = ttl_s
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-job")

    def submit(self, job_id: str, work: Work, frames_total: int, cleanup: Callable[[], None] = lambda: None) -> Job:
        """Queue ``work``; ``cleanup`` runs once it has ended, whatever the outcome (also when cancelled)."""
        with self._lock:
            self._expire()
            if sum(j.status in ACTIVE for j in self._jobs.values()) >= self.max_jobs:
                cleanup()
                raise JobQueueFull(f"{self.max_jobs} batch jobs are already queued or running")
            job = Job(job_id, frames_total)
            self._jobs[job.job_id] = job
        self._executor.submit(self._run, job, work, cleanup)
        return job

    def get(self, job_id: str) -> Optional[Job]:
        with self._lock:
            self._expire()
            return self._jobs.get(job_id)

    def counts(self) -> dict[str, int]:
        """How many jobs this process keeps, by status (all of ``STATUSES``)."""
        with self._lock:
            self._expire()
            statuses = [j.status for j in self._jobs.values()]
        return {status: statuses.count(status) for status in STATUSES}

    def delete(self, job_id: str) -> bool:
        """Forget the job; a queued or running one is cancelled (it stops before its next frame)."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        job.cancel.set()
        return True

    def _run(self, job: Job, work: Work, cleanup: Callable[[], None]) -> None:
        try:
            if job.cancel.is_set():
                return
            job.status = "running"
            job.result = work(job)
            job.status = "done"
        except BatchCancelled:
            log.info("[BATCH] job %s cancelled after %d frames", job.job_id, job.frames_done)
        except Exception as exc:  # a failed job reports its error; the worker thread carries on
            log.exception("[BATCH] job %s failed", job.job_id)
            job.error = f"{type(exc).__name__}: {exc}"
            job.status = "failed"
        finally:
            job.finished_at = self._clock()
            cleanup()

    def _expire(self) -> None:
        deadline = self._clock() - self.ttl_s
        for job_id in [k for k, j in self._jobs.items() if j.finished_at is not None and j.finished_at < deadline]:
            del self._jobs[job_id]
