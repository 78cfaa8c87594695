"""Batch jobs on RQ (``POSE_REDIS_URL`` set): any API worker enqueues, any RQ worker runs, any API worker answers.

The API enqueues a :class:`BatchInput` (the checked frames as sent, or the uploaded video's bytes, with the
batch options) as the job's argument; an RQ worker process started with ``python -m pose_service.batch.queue``
loads the pipeline once and runs :func:`run_queued_batch` for one job after another (RQ's ``SimpleWorker``: no
fork per job, so the models stay loaded). Progress goes into the job's ``meta`` after every frame; the result's
summary is the job's return value, its frames a Redis list of their JSON (``<namespace>:job-frames:<id>``, pages
are LRANGE), both kept ``POSE_JOB_TTL_S``. Finished jobs are bounded as in one process (:class:`~.jobs.Retention`),
across all RQ workers: a script run as each job ends registers it and deletes the oldest finished jobs beyond the
caps. Cancel: :meth:`RQJobs.delete` sets a flag the running batch reads before each frame, and removes the job.
Queue: ``<POSE_REDIS_NAMESPACE>-batch``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..config import ServiceConfig
from ..decode import ImageLimits, decode_image
from .jobs import Job, JobQueueFull, Retention, release_memory
from .runner import BatchCancelled, BatchOptions, run_batch
from .video import read_frames

log = logging.getLogger(__name__)

_STATUS = {"queued": "queued", "deferred": "queued", "scheduled": "queued", "started": "running",
           "finished": "done", "failed": "failed", "stopped": "cancelled", "canceled": "cancelled"}
FRAMES_PER_PUSH = 16
"""Frames sent to Redis per RPUSH (with meshes, 10-20 MB)."""


@dataclass
class BatchInput:
    """What an RQ worker needs to run a batch, in plain data (pickled by RQ into the job).

    frames: the JSON batch's frames as dicts with ``frame_number``, ``image_base64``, ``width``, ``height`` and
    ``pixel_format`` (already checked by the API); or ``video``: an uploaded video's bytes, of which the first
    ``frames_total`` frames are read.
    """

    options: BatchOptions
    frames_total: int
    image_limits: ImageLimits
    frames: Optional[list[dict[str, Any]]] = None
    video: Optional[bytes] = None
    video_suffix: str = ""


def input_frames(batch: BatchInput, folder: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(frame_number, RGB) of the batch, decoded one at a time; a video is written to ``folder`` first."""
    if batch.video is not None:
        path = folder / f"video{batch.video_suffix}"
        path.write_bytes(batch.video)
        yield from enumerate(read_frames(path, batch.frames_total))
        return
    for frame in batch.frames or []:
        image = decode_image(frame["image_base64"], batch.image_limits, frame["width"], frame["height"],
                             frame["pixel_format"])
        yield frame["frame_number"], image


def _cancel_key(namespace: str, job_id: str) -> str:
    return f"{namespace}:job-cancelled:{job_id}"


def frames_key(namespace: str, job_id: str) -> str:
    return f"{namespace}:job-frames:{job_id}"


def _finished_keys(namespace: str) -> list[str]:
    """The finished jobs (sorted set: id -> end time) and their results' sizes (hash: id -> bytes)."""
    return [f"{namespace}:jobs-finished", f"{namespace}:jobs-bytes"]


# Atomic, as several RQ workers may end jobs at once. KEYS: _finished_keys; ARGV: the job, now, its result's bytes,
# Retention's ttl_s, max_finished and max_result_bytes, the frames keys' prefix. Forgets the entries past their TTL
# (their keys have expired), adds the job, then deletes the oldest others' frames until within the caps; returns
# their ids (the caller deletes their RQ jobs).
_KEEP_FINISHED = """
local finished, sizes, id, now, ttl = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', finished, '-inf', now - ttl)) do
  redis.call('ZREM', finished, old)
  redis.call('HDEL', sizes, old)
end
redis.call('ZADD', finished, now, id)
redis.call('HSET', sizes, id, ARGV[3])
local ids = redis.call('ZRANGE', finished, 0, -1)
local held, count, evicted = 0, #ids, {}
for _, other in ipairs(ids) do held = held + tonumber(redis.call('HGET', sizes, other) or 0) end
for _, other in ipairs(ids) do
  if count <= tonumber(ARGV[5]) and held <= tonumber(ARGV[6]) then break end
  if other ~= id then
    held = held - tonumber(redis.call('HGET', sizes, other) or 0)
    count = count - 1
    redis.call('ZREM', finished, other)
    redis.call('HDEL', sizes, other)
    redis.call('DEL', ARGV[7] .. other)
    evicted[#evicted + 1] = other
  end
end
redis.call('EXPIRE', finished, ttl)
redis.call('EXPIRE', sizes, ttl)
return evicted
"""


_PIPELINE = None


def _pipeline():
    """This worker process's pipeline, built on first use from the ``POSE_*`` environment."""
    global _PIPELINE
    if _PIPELINE is None:
        from ..backends import build_pipeline

        _PIPELINE = build_pipeline(ServiceConfig.from_env(), lambda name, state: log.info("[INIT] %s: %s", name, state))
    return _PIPELINE


def run_queued_batch(batch: BatchInput, namespace: str, retention: Retention) -> dict[str, Any]:
    """The RQ job: run the batch on this process's pipeline, reporting progress in the job's meta; its frames go to
    Redis, its summary is the return value."""
    from rq import get_current_job

    job = get_current_job()
    connection = job.connection
    cancel_key, result_key = _cancel_key(namespace, job.id), frames_key(namespace, job.id)
    cancelled = lambda: bool(connection.exists(cancel_key))  # noqa: E731

    def progress(done: int, total: int) -> None:
        job.meta["progress"] = {"frames_done": done, "frames_total": total}
        job.save_meta()

    try:
        with tempfile.TemporaryDirectory(prefix="pose-rq-") as folder:
            result = run_batch(_pipeline(), input_frames(batch, Path(folder)), batch.frames_total, batch.options,
                               progress, cancelled, retention.max_result_bytes)
    except BatchCancelled:
        raise  # deleted: nothing of it is kept
    except Exception:
        keep_finished(connection, namespace, job.id, 0, retention)  # it counts: its RQ job (and input) is kept
        raise
    for start in range(0, len(result.frames), FRAMES_PER_PUSH):
        connection.pipeline().rpush(result_key, *result.frames[start:start + FRAMES_PER_PUSH]).expire(
            result_key, retention.ttl_s).execute()
    summary, result_bytes = result.summary, result.nbytes
    del result
    release_memory()  # this process's copy of the result goes back to the OS, as in an API worker
    if cancelled():  # deleted while its frames were being sent: they go too
        connection.delete(result_key)
        raise BatchCancelled(f"job {job.id} cancelled")
    keep_finished(connection, namespace, job.id, result_bytes, retention)
    return summary


def keep_finished(connection, namespace: str, job_id: str, result_bytes: int, retention: Retention) -> None:
    """Register a finished job; the oldest others beyond the caps are deleted, frames and RQ job."""
    evicted = [item.decode() for item in connection.eval(
        _KEEP_FINISHED, 2, *_finished_keys(namespace), job_id, time.time(), result_bytes, retention.ttl_s,
        retention.max_finished, retention.max_result_bytes, frames_key(namespace, ""))]
    if evicted:
        _delete_rq_jobs(connection, evicted)
        log.info("[BATCH] finished jobs evicted (POSE_JOB_MAX_FINISHED, POSE_JOB_MAX_RESULT_BYTES): %s",
                 ", ".join(evicted))


def _delete_rq_jobs(connection, job_ids: list[str]) -> None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    for job_id in job_ids:
        try:
            RQJob.fetch(job_id, connection=connection).delete()
        except NoSuchJobError:
            pass


class RQJobs:
    """The API's side: the same ``get`` / ``delete`` as :class:`~.jobs.JobManager`, ``submit`` with a
    :class:`BatchInput`."""

    def __init__(self, connection, namespace: str, max_jobs: int, retention: Retention,
                 job_timeout_s: int = 6 * 3600) -> None:
        from rq import Queue

        self.connection = connection
        self.namespace = namespace
        self.queue = Queue(f"{namespace}-batch", connection=connection)
        self.max_jobs = max_jobs
        self.retention = retention
        self.job_timeout_s = job_timeout_s

    def submit(self, job_id: str, batch: BatchInput) -> None:
        active = self.queue.count + self.queue.started_job_registry.count
        if active >= self.max_jobs:
            raise JobQueueFull(f"{self.max_jobs} batch jobs are already queued or running")
        ttl_s = self.retention.ttl_s
        self.queue.enqueue(run_queued_batch, batch, self.namespace, self.retention, job_id=job_id, result_ttl=ttl_s,
                           failure_ttl=ttl_s, job_timeout=self.job_timeout_s,
                           meta={"progress": {"frames_done": 0, "frames_total": batch.frames_total}})

    def get(self, job_id: str) -> Optional[Job]:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob

        try:
            rq_job = RQJob.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return None
        status = _STATUS.get(rq_job.get_status(refresh=False) or "queued", "failed")
        progress = rq_job.get_meta(refresh=False).get("progress", {})
        job = Job(job_id, progress.get("frames_total", 0), status, progress.get("frames_done", 0))
        if status == "done":
            job.summary = rq_job.return_value()
        elif status == "failed":
            result = rq_job.latest_result()
            job.error = (result.exc_string or "").strip().splitlines()[-1] if result and result.exc_string else status
        return job

    def counts(self) -> dict[str, int]:
        """The queue's jobs by status (as :meth:`get` names them), from RQ's registries: a few Redis calls."""
        queue = self.queue
        return {
            "queued": queue.count + queue.deferred_job_registry.count + queue.scheduled_job_registry.count,
            "running": queue.started_job_registry.count,
            "done": queue.finished_job_registry.count,
            "failed": queue.failed_job_registry.count,
            "cancelled": queue.canceled_job_registry.count,
        }

    def delete(self, job_id: str) -> bool:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob

        try:
            rq_job = RQJob.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return False
        # A running batch stops before its next frame; a queued one never starts.
        self.connection.set(_cancel_key(self.namespace, job_id), 1, ex=self.job_timeout_s)
        rq_job.cancel()
        rq_job.delete()
        finished, sizes = _finished_keys(self.namespace)
        self.connection.pipeline().delete(frames_key(self.namespace, job_id)).zrem(finished, job_id).hdel(
            sizes, job_id).execute()
        return True

    def frames(self, job_id: str, start: int, stop: int) -> Optional[list[bytes]]:
        """As :meth:`~.jobs.JobManager.frames`: one LRANGE."""
        key = frames_key(self.namespace, job_id)
        exists, frames = self.connection.pipeline().exists(key).lrange(key, start, stop - 1).execute()
        return frames if exists else None

    def shutdown(self) -> None:
        """Nothing to stop: batches run in the RQ workers, whose own shutdown applies (see the README)."""


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m pose_service.batch.queue [--burst]``: an RQ worker for the batch queue of ``POSE_REDIS_URL``."""
    import redis
    from rq import Queue, SimpleWorker

    parser = argparse.ArgumentParser(prog="python -m pose_service.batch.queue", description=main.__doc__)
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    config = ServiceConfig.from_env()
    if not config.redis_url:
        raise SystemExit("set POSE_REDIS_URL: batch jobs are queued in Redis")
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    connection = redis.Redis.from_url(config.redis_url)
    _pipeline()  # load the models before taking the first job
    queue = Queue(f"{config.redis_namespace}-batch", connection=connection)
    log.info("[RQ] worker %d on queue %s", os.getpid(), queue.name)
    SimpleWorker([queue], connection=connection).work(burst=args.burst)


if __name__ == "__main__":
    main()
