"""Run a sequence of frames through the per-frame pipeline as one video, then post-process it offline."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import orjson
import zstandard

from ..conventions import DEFAULT_MESH_RESOLUTION
from ..respond import MeshOptions, frame_response, mesh_options
from ..pipeline import FramePipeline, FrameRequest
from ..sessions import SessionState
from ..sessions.bodies import Histories
from ..types import FrameResult
from .offline import SMOOTH_SIGMA_FRAMES, postprocess, summary

log = logging.getLogger(__name__)

PROGRESS_LOG_S = 5.0
"""Seconds between ``[BATCH]`` progress lines."""

Progress = Callable[[int, int], None]
"""progress(frames_done, frames_total)."""


class BatchCancelled(Exception):
    """The batch was cancelled between two frames."""


class ResultTooLarge(Exception):
    """The batch's frames, serialised, would be larger than the result may be."""


FRAME_COMPRESSION = 1
"""zstd level of the kept frames: a contract frame (mesh and faces, 500 kB of JSON) is kept in 130 kB, packed in
~1.3 ms and unpacked in ~0.4 ms when sent (zlib's fastest level: 190 kB, 4.3 and 1.4 ms)."""


@dataclass
class BatchResult:
    """A batch's result: each frame's response as zstd-compressed JSON (:func:`frame_json` gives it back), made
    once, as the frame is done; and the summary."""

    frames: list[bytes]
    summary: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return sum(len(frame) for frame in self.frames)


def frame_json(frame: bytes) -> bytes:
    """A kept frame's response, JSON."""
    return zstandard.ZstdDecompressor().decompress(frame)


@dataclass(frozen=True)
class BatchOptions:
    video_id: str
    include_mesh: bool = True
    include_faces: bool = True
    mesh_resolution: str = DEFAULT_MESH_RESOLUTION
    mesh_encoding: str = "json"
    focal_length_px: Optional[float] = None
    simulate_misses: float = 0.0
    smooth: bool = True
    height_cm: Union[None, float, dict[int, float]] = None


def run_batch(
    pipeline: FramePipeline,
    frames: Iterable[tuple[int, np.ndarray]],
    frames_total: int,
    options: BatchOptions,
    progress: Optional[Progress] = None,
    cancelled: Callable[[], bool] = lambda: False,
    max_result_bytes: Optional[int] = None,
) -> BatchResult:
    """``frames`` yields (frame_number, RGB image) in order. The sequence gets a fresh session of its own (not the
    live session of ``options.video_id``, which it never touches), deleted at the end. Raises
    :class:`ResultTooLarge` as soon as the frames' JSON passes ``max_result_bytes``."""
    tracker_config = pipeline.tracker_config
    if options.smooth:
        # The offline smoother replaces the tracker's causal One-Euro filter, whose lag it could not undo.
        tracker_config = dataclasses.replace(
            tracker_config, smoothing=dataclasses.replace(tracker_config.smoothing, enabled=False)
        )
    video_id = options.video_id
    session_id = f"batch-{uuid.uuid4().hex}:{video_id}"  # never a live /pose/hybrid session of the same video
    session = SessionState.new(video_id, tracker_config, reorder_window=pipeline.video.reorder_window)
    pipeline.sessions.put(session_id, session)
    results: list[FrameResult] = []
    times_ms: list[float] = []
    started = last_log = time.monotonic()
    log.info("[BATCH] video=%s started: %d frames", video_id, frames_total)

    def requests() -> Iterator[FrameRequest]:
        for frame_number, image in frames:
            if cancelled():
                raise BatchCancelled(f"batch {video_id} cancelled after {len(results)} frames")
            yield FrameRequest(
                image=image,
                frame_number=frame_number,
                video_id=video_id,
                session_id=session_id,
                include_mesh=options.include_mesh,
                include_faces=options.include_faces,
                focal_length_px=options.focal_length_px,
                simulate_misses=options.simulate_misses,
                reorder_wait_s=0.0,
                height_cm=options.height_cm,
            )

    try:
        frame_started = time.perf_counter()
        # The pipeline reads and detects frames ahead of the one it fits: a frame's time is from the end of the
        # frame before.
        for result in pipeline.process_sequence(requests()):
            results.append(result)
            times_ms.append((time.perf_counter() - frame_started) * 1000.0)
            if progress is not None:
                progress(len(results), frames_total)
            if time.monotonic() - last_log >= PROGRESS_LOG_S:
                last_log = time.monotonic()
                log.info("[BATCH] video=%s %d/%d frames, %.1f s", video_id, len(results), frames_total,
                         last_log - started)
            frame_started = time.perf_counter()
        state = histories = None
        if pipeline.body is not None:
            state = pipeline.sessions.get(session_id) or session
            histories = pipeline.sessions.histories(session_id) or Histories()
    finally:
        pipeline.sessions.delete(session_id)
    if progress is not None:  # a container's frame count is only an estimate; the frames read are the total
        progress(len(results), len(results))

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="batch-finish") as finishing:
        # The bodies are measured (the body model, then slicing meshes) while the frames are packed.
        measuring = None if state is None else finishing.submit(_measurements, pipeline, state, histories)
        mesh = mesh_options(pipeline.mesh_levels, options.include_mesh, options.mesh_resolution,
                            options.include_faces, options.mesh_encoding)
        if mesh is not None:  # only the vertices sent are smoothed (Anny's full mesh is 2.3 times the default level's)
            for person in (p for result in results for p in result.people if p.vertices is not None):
                person.vertices = mesh.select(person.vertices)
            mesh = dataclasses.replace(mesh, selected=True)
        postprocess(results, tracker_config.confidence_tau, SMOOTH_SIGMA_FRAMES if options.smooth else None)
        counts = summary(results)
        frames_json = _packed(results, times_ms, pipeline.backend, mesh, finishing, max_result_bytes)
        body = BatchResult(frames_json, counts | {"measurements": None if measuring is None else measuring.result()})
    log.info("[BATCH] video=%s done: %d frames in %.1f s, coverage %s, %d bytes", video_id, len(body.frames),
             time.monotonic() - started, body.summary["coverage"], body.nbytes)
    return body


def _measurements(pipeline: FramePipeline, state: SessionState, histories: Histories) -> list[dict[str, Any]]:
    from ..measure.shape import video_measurements  # torch: only with a body model

    with pipeline.body_lock:
        return video_measurements(pipeline.body, state.bodies, histories, state.tracker.primary_id)


def _packed(results: list[FrameResult], times_ms: list[float], backend: str, mesh: Optional[MeshOptions],
            packer: ThreadPoolExecutor, max_result_bytes: Optional[int]) -> list[bytes]:
    """Each frame's response, compressed JSON, made in frame order; each frame's arrays are freed once its JSON is
    made (``results`` is emptied). zstd lets go of the GIL: a frame is compressed on ``packer``'s thread while the
    next one's JSON is made. Raises :class:`ResultTooLarge` as soon as the frames pass ``max_result_bytes``."""
    frames: list[bytes] = []
    size = 0

    def keep(frame: bytes) -> None:
        nonlocal size
        size += len(frame)
        if max_result_bytes is not None and size > max_result_bytes:
            done = len(frames) + 1
            raise ResultTooLarge(
                f"the result would pass POSE_JOB_MAX_RESULT_BYTES ({max_result_bytes} bytes) at frame {done} of "
                f"{len(times_ms)}, {size // done} bytes a frame (compressed): send include_faces=false (the faces are "
                "the same in every frame), include_mesh=false, or fewer frames")
        frames.append(frame)

    compress = zstandard.ZstdCompressor(level=FRAME_COMPRESSION).compress  # used by one thread at a time
    results.reverse()  # popped in frame order
    packing: Optional[Future] = None
    for ms in times_ms:
        response = orjson.dumps(frame_response(results.pop(), backend, ms, mesh), option=orjson.OPT_SERIALIZE_NUMPY)
        if packing is not None:
            keep(packing.result())
        packing = packer.submit(compress, response)
    if packing is not None:
        keep(packing.result())
    return frames
