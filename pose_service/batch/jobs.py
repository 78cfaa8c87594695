"""Long batches as background jobs: one worker thread per process, a cap on waiting work, bounded finished results.

One worker, so that a batch never takes more than one of the process's threads from live ``/pose/hybrid``
requests (model calls are serialised anyway, so more workers would not finish batches sooner). Jobs live in this
process only: with several gunicorn workers a client must reach the worker that accepted its job, unless the
service runs on Redis, where :mod:`.queue` (RQ) takes their place.

Finished jobs are kept until they expire (``Retention.ttl_s``), and at most ``max_finished`` of them holding at most
``max_result_bytes`` of frames: the oldest finished go first. A result is its frames' JSON, one ``bytes`` per frame
(:class:`~.runner.BatchResult`), served in pages.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from .runner import BatchCancelled, BatchResult

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STATUSES = ACTIVE + ("done", "failed", "cancelled")

_MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc's; absent elsewhere


def release_memory() -> None:
    """Give freed memory back to the OS now. glibc keeps freed blocks for reuse (frames under its mmap threshold,
    which rises as large blocks are freed, sit on the heap of the thread that made them): without this a process
    stays at the size of the largest results it has held."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class JobQueueFull(RuntimeError):
    """As many jobs as allowed are already queued or running."""


@dataclass(frozen=True)
class Retention:
    """How long and how many finished jobs are kept."""

    ttl_s: int
    """A finished job is forgotten this many seconds after it ended."""
    max_finished: int
    """Most finished jobs (done, failed or cancelled) kept; the oldest go first."""
    max_result_bytes: int
    """Most bytes of frames held by the finished jobs together; also the most one result may have."""


@dataclass
class Job:
    job_id: str
    frames_total: int
    status: str = "queued"
    """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
    frames_done: int = 0
    error: Optional[str] = None
    summary: Optional[dict[str, Any]] = None
    """The result's summary once done; its frames come in pages (``frames`` of the job store)."""
    frames: list[bytes] = field(default_factory=list)
    """In-process jobs: each frame's response, JSON."""
    result_bytes: int = 0
    finished_at: Optional[float] = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, frames_done: int, frames_total: int) -> None:
        self.frames_done, self.frames_total = frames_done, frames_total

    def to_json(self) -> dict[str, Any]:
        result = None if self.summary is None else {"summary": self.summary,
                                                    "frames_url": f"/jobs/{self.job_id}/frames"}
        return {
            "job_id": self.job_id,
            "status": self.status,
            "progress": {"frames_done": self.frames_done, "frames_total": self.frames_total},
            "error": self.error,
            "result": result,
        }


Work = Callable[[Job], BatchResult]
"""work(job) -> the job's result; reports through ``job.progress`` and stops when ``job.cancel`` is set."""


class JobManager:
    def __init__(self, max_jobs: int, retention: Retention, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_jobs = max_jobs
        self.retention = retention
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-job")

    def submit(self, job_id: str, work: Work, frames_total: int, cleanup: Callable[[], None] = lambda: None) -> Job:
        """Queue ``work``; ``cleanup`` runs once it has ended, whatever the outcome (also when cancelled)."""
        with self._lock:
            if sum(j.status in ACTIVE for j in self._jobs.values()) >= self.max_jobs:
                cleanup()
                raise JobQueueFull(f"{self.max_jobs} batch jobs are already queued or running")
            job = Job(job_id, frames_total)
            self._jobs[job.job_id] = job
        self._executor.submit(self._run, job, work, cleanup)
        return job

    def get(self, job_id: str) -> Optional[Job]:
        self._prune()
        with self._lock:
            return self._jobs.get(job_id)

    def frames(self, job_id: str, start: int, stop: int) -> Optional[list[bytes]]:
        """Frames ``start`` to ``stop`` (excluded) of a done job; None when there is no such job (any more)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.frames[start:stop] if job is not None and job.status == "done" else None

    def counts(self) -> dict[str, int]:
        """How many jobs this process keeps, by status (all of ``STATUSES``)."""
        self._prune()
        with self._lock:
            statuses = [j.status for j in self._jobs.values()]
        return {status: statuses.count(status) for status in STATUSES}

    def delete(self, job_id: str) -> bool:
        """Forget the job; a queued or running one is cancelled (it stops before its next frame)."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        job.cancel.set()
        if job.result_bytes:
            job.frames = []  # a page being sent may still hold some of them; the rest go now
            release_memory()
        return True

    def shutdown(self) -> None:
        """Cancel every queued and running job (a running one stops before its next frame, ``cancelled``) and wait
        for the worker thread: the process is exiting, and would otherwise wait for the whole batch."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        self._executor.shutdown(wait=True)

    def _run(self, job: Job, work: Work, cleanup: Callable[[], None]) -> None:
        result = None
        try:
            if job.cancel.is_set():
                raise BatchCancelled("cancelled before it started")
            job.status = "running"
            result = work(job)
        except BatchCancelled:
            log.info("[BATCH] job %s cancelled after %d frames", job.job_id, job.frames_done)
            job.status = "cancelled"
        except Exception as exc:  # a failed job reports its error; the worker thread carries on
            log.exception("[BATCH] job %s failed", job.job_id)
            job.error = f"{type(exc).__name__}: {exc}"
            job.status = "failed"
        finally:
            cleanup()
        with self._lock:
            if result is not None and job.job_id in self._jobs:  # not when deleted meanwhile
                # Frames before status: a reader that sees "done" finds them.
                job.frames, job.summary, job.result_bytes = result.frames, result.summary, result.nbytes
                job.status = "done"
            result = None  # the job alone holds the frames: deleting it frees them
            job.finished_at = self._clock()
        release_memory()  # what the batch used on its way (its arrays, decoded images) goes back, not just its result
        self._prune()

    def _prune(self) -> None:
        """Forget expired finished jobs, then the oldest finished ones beyond ``max_finished`` or
        ``max_result_bytes``; give their memory back."""
        retention = self.retention
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished_at is not None),
                              key=lambda j: j.finished_at)
            held = sum(j.result_bytes for j in finished)
            deadline = self._clock() - retention.ttl_s
            dropped = []
            while finished and (finished[0].finished_at < deadline or len(finished) > retention.max_finished
                                or held > retention.max_result_bytes):
                job = finished.pop(0)
                held -= job.result_bytes
                del self._jobs[job.job_id]
                dropped.append(job)
        if any(job.result_bytes for job in dropped):
            for job in dropped:
                job.frames = []
            release_memory()
