"""``POST /pose/batch`` and ``/jobs/<id>``: a whole sequence (JSON frames or a video upload) as one video.

Short batches are answered inline; long ones (or ``?async=1``) run as jobs (:mod:`pose_service.batch.jobs`).
Every frame is checked before any is processed, so a bad frame fails the request, not the job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Union
from pathlib import Path

import numpy as np
import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from ..batch.jobs import Job, JobManager, JobQueueFull
from ..batch.queue import BatchInput, RQJobs
from ..batch.runner import BatchOptions, frame_json, run_batch
from ..batch.video import SNIFF_BYTES, UnsupportedVideoFormat, VideoError, probe_video, read_frames, sniff_container
from ..config import ServiceConfig
from ..decode import DecodeError, ImageLimits, decode_image
from ..pipeline import GpuOutOfMemory
from .errors import ApiError
from .auth import new_job_id, owns_job
from .context import json_body, ready_pipeline, runtime
from .metrics import counted_batch
from .schemas import BatchFrame, BatchOptionsFields, BatchRequest, BatchVideoForm, parse

bp = Blueprint("batch", __name__)

FRAMES_PAGE_MAX = 100
"""Most frames in a page of ``/jobs/<id>/frames``: with meshes and faces that is ~120 MB of JSON, whose kept
frames (~40 MB) an API worker holds while it sends them (on Redis, one LRANGE)."""


@dataclass
class PreparedBatch:
    """A checked batch: its options, its length, a way to read its frames (again) when it runs here, and its
    input as plain data for a job queued on RQ."""

    options: BatchOptions
    frames_total: int
    frames: Callable[[], Iterable[tuple[int, np.ndarray]]]
    cleanup: Callable[[], None]
    queued_input: Callable[[], BatchInput]


def _jobs() -> Union[JobManager, RQJobs]:
    return current_app.extensions["pose_jobs"]


def _options(fields: BatchOptionsFields, batch_id: str) -> BatchOptions:
    return BatchOptions(
        video_id=fields.video_id or f"batch-{batch_id}",
        include_mesh=fields.include_mesh,
        include_faces=fields.include_faces,
        mesh_resolution=fields.mesh_resolution,
        mesh_encoding=fields.mesh_encoding,
        focal_length_px=fields.focal_length_px,
        simulate_misses=fields.simulate_misses,
        smooth=fields.smooth,
        height_cm=fields.height_cm,
    )


def _too_many(count: int, config: ServiceConfig, hint: str = "") -> ApiError:
    return ApiError(413, "too_many_frames", f"the batch has {count} frames; the limit is {config.batch_max_frames}{hint}")


def _decode(frame: BatchFrame, index: int, limits: ImageLimits) -> np.ndarray:
    try:
        return decode_image(frame.image_base64, limits, frame.width, frame.height, frame.pixel_format)
    except DecodeError as exc:
        raise ApiError(413 if exc.code == "image_too_large" else 400, exc.code, f"frames[{index}]: {exc}") from None


def prepare_json(config: ServiceConfig, batch_id: str) -> PreparedBatch:
    req = parse(BatchRequest, json_body())
    if len(req.frames) > config.batch_max_frames:
        raise _too_many(len(req.frames), config)
    numbers = [i if f.frame_number is None else f.frame_number for i, f in enumerate(req.frames)]
    for i in range(1, len(numbers)):
        if numbers[i] <= numbers[i - 1]:
            raise ApiError(400, "invalid_field", f"frames[{i}].frame_number: must be greater than the previous frame's")
    limits = config.image_limits()

    def check(index: int, frame: BatchFrame) -> None:
        _decode(frame, index, limits)  # the image itself is dropped at once

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="batch-check") as checking:  # OpenCV lets go of the GIL
        # Results in frame order, so that the first bad frame is the one reported.
        for _ in checking.map(check, range(len(req.frames)), req.frames):
            pass

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        # Decoded again when the batch runs: holding every decoded frame of a long batch would cost far more
        # memory than the request body, for a decode that takes a few ms next to the pipeline's tens.
        for i, (number, frame) in enumerate(zip(numbers, req.frames)):
            yield number, _decode(frame, i, config.image_limits())

    options = _options(req, batch_id)
    queued = lambda: BatchInput(options, len(numbers), config.image_limits(), frames=[  # noqa: E731
        {"frame_number": number, "image_base64": frame.image_base64, "width": frame.width, "height": frame.height,
         "pixel_format": frame.pixel_format} for number, frame in zip(numbers, req.frames)])
    return PreparedBatch(options, len(numbers), frames, lambda: None, queued)


def prepare_video(config: ServiceConfig, batch_id: str) -> PreparedBatch:
    form = parse(BatchVideoForm, request.form.to_dict())
    upload = request.files.get("video")
    if upload is None:
        raise ApiError(400, "missing_field", "video: send the video file in the multipart field 'video'")
    # The container is told by the upload's first bytes, and the file FFmpeg opens is named after it: the client's
    # file name is never used (nor seen by FFmpeg, whose probe weighs names).
    head = upload.stream.read(SNIFF_BYTES)
    try:
        container = sniff_container(head)
    except UnsupportedVideoFormat as exc:
        raise ApiError(415, "unsupported_video_format", f"video: {exc}") from None
    handle, name = tempfile.mkstemp(prefix="pose-batch-", suffix=container.value)
    path = Path(name)
    cleanup = lambda: path.unlink(missing_ok=True)  # noqa: E731
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(head)
            shutil.copyfileobj(upload.stream, file)
        count, width, height = probe_video(path)
        try:
            config.image_limits().check(width, height)
        except DecodeError as exc:
            raise ApiError(413, exc.code, f"video frames: {exc}") from None
        if form.max_frames is None and count > config.batch_max_frames:
            raise _too_many(count, config, " (send max_frames to process the first ones)")
        total = min(count, form.max_frames or count, config.batch_max_frames)
    except VideoError as exc:
        cleanup()
        raise ApiError(400, "invalid_video", str(exc)) from None
    except Exception:
        cleanup()
        raise
    options = _options(form, batch_id)
    queued = lambda: BatchInput(options, total, config.image_limits(), video=path.read_bytes(),  # noqa: E731
                                video_suffix=path.suffix)
    return PreparedBatch(options, total, lambda: enumerate(read_frames(path, total)), cleanup, queued)


@bp.post("/pose/batch")
def pose_batch() -> Response:
    config = runtime().config
    pipeline = ready_pipeline()
    batch_id = new_job_id()
    is_upload = request.mimetype == "multipart/form-data"
    batch = prepare_video(config, batch_id) if is_upload else prepare_json(config, batch_id)

    if request.args.get("async", "").lower() in ("1", "true", "yes") or batch.frames_total > config.batch_sync_max_frames:
        jobs = _jobs()
        try:
            if isinstance(jobs, RQJobs):  # any RQ worker runs it: the input goes with the job
                try:
                    jobs.submit(batch_id, batch.queued_input())
                finally:
                    batch.cleanup()
            else:
                jobs.submit(
                    batch_id,
                    lambda job: counted_batch(run_batch(pipeline, batch.frames(), batch.frames_total, batch.options,
                                                        job.progress, job.cancel.is_set,
                                                        jobs.retention.max_result_bytes)),
                    batch.frames_total,
                    batch.cleanup,
                )
        except JobQueueFull as exc:
            raise ApiError(503, "job_queue_full", str(exc), config.retry_after_s) from None
        response = jsonify({"job_id": batch_id, "status_url": f"/jobs/{batch_id}"})
        response.status_code = 202
        response.headers["Location"] = f"/jobs/{batch_id}"
        return response

    try:
        result = counted_batch(run_batch(pipeline, batch.frames(), batch.frames_total, batch.options))
        return _with_frames({"summary": result.summary}, result.frames)
    except GpuOutOfMemory as exc:
        raise ApiError(503, "gpu_out_of_memory", str(exc), config.retry_after_s) from None
    finally:
        batch.cleanup()


def _with_frames(head: dict[str, Any], frames: list[bytes]) -> Response:
    """``head`` plus ``"frames"``: the kept frames' JSON, unpacked and sent one after the other, never parsed again
    nor joined into one more copy (a page can be ~100 MB)."""

    def parts() -> Iterator[bytes]:
        yield orjson.dumps(head)[:-1] + b',"frames":['
        for i, frame in enumerate(frames):
            if i:
                yield b","
            yield frame_json(frame)
        yield b"]}"

    return current_app.response_class(parts(), mimetype="application/json")


def _no_job(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {job_id!r} (never created, deleted, expired or evicted)")


def _job(job_id: str) -> Job:
    job = _jobs().get(job_id) if owns_job(job_id) else None
    if job is None:
        raise _no_job(job_id)
    return job


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(400, "invalid_field", f"{name}: must be an integer from {low} to {high}")
    return value


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(_job(job_id).to_json())


@bp.get("/jobs/<job_id>/frames")
def get_job_frames(job_id: str) -> Response:
    """A page of a done job's frames, as /pose/hybrid gives them (``GET /jobs/<id>`` gives only the summary)."""
    job = _job(job_id)
    if job.status != "done":
        raise ApiError(409, "job_not_done", f"job {job_id} is {job.status}; its frames come when it is done")
    start = _int_arg("start", 0, 0, 2**31)
    limit = _int_arg("limit", 100, 1, FRAMES_PAGE_MAX)
    stop = min(start + limit, job.frames_total)
    frames = _jobs().frames(job_id, start, stop) if start < stop else []
    if frames is None:  # deleted or evicted since
        raise _no_job(job_id)
    return _with_frames({"job_id": job_id, "start": start, "limit": limit, "frames_total": job.frames_total}, frames)


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str) -> Response:
    if not owns_job(job_id) or not _jobs().delete(job_id):
        raise _no_job(job_id)
    return jsonify({"deleted": job_id})
