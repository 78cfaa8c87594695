"""Measurement and export routes: ``GET /sessions/<video_id>/measurements``, ``GET /sessions/<video_id>/export``
(``format`` npz, obj, json, glb or bvh; ``fps`` times glb and bvh) and ``POST /measurements`` (photos of one
person). Logic in :mod:`pose_service.measure`, imported on use: it needs torch, which a keypoints-only service never
loads."""

from __future__ import annotations

import math

from flask import Blueprint, Response, jsonify, request

from ..decode import DecodeError, decode_image
from ..batch.photos import PhotoMeasurementError, measure_photos
from ..pipeline import FramePipeline, GpuOutOfMemory
from ..sessions import SessionState
from ..sessions.bodies import Histories
from .auth import scoped
from .context import json_body, ready_pipeline, runtime
from .errors import ApiError
from ..respond import mesh_json
from .schemas import MeasurementRequest, parse

bp = Blueprint("measurements", __name__)

MAX_FPS = 1000.0
"""Highest ``fps`` an export takes (frames per second): above any video's, so a larger one is a mistake."""


def _session(pipeline: FramePipeline, video_id: str) -> SessionState:
    state = pipeline.sessions.get(scoped(video_id))
    if state is None:
        raise ApiError(404, "session_not_found", f"no session for video {video_id!r} (never seen, deleted or expired)")
    return state


def _body_pipeline() -> FramePipeline:
    pipeline = ready_pipeline()
    if pipeline.body is None:
        raise ApiError(409, "no_body_model", "this service runs without a body model (POSE_BODY_MODEL=none)")
    return pipeline


def _histories(pipeline: FramePipeline, video_id: str) -> Histories:
    return pipeline.sessions.histories(scoped(video_id)) or Histories()  # gone since the state was read: none left


@bp.get("/sessions/<video_id>/measurements")
def session_measurements(video_id: str) -> Response:
    from ..measure.shape import video_measurements

    pipeline = _body_pipeline()
    state = _session(pipeline, video_id)
    histories = _histories(pipeline, video_id)
    with pipeline.body_lock:
        tracks = video_measurements(pipeline.body, state.bodies, histories, state.tracker.primary_id)
    return jsonify({"video_id": video_id, "tracks": tracks})


def _fps() -> float:
    """The ``fps`` query parameter (frames per second, for the glb and bvh exports' timing): default 30."""
    raw = request.args.get("fps", "30")
    try:
        fps = float(raw)
    except ValueError:
        fps = math.nan
    if not 0 < fps <= MAX_FPS:  # also nan
        raise ApiError(400, "invalid_field", f"fps must be a number above 0 and at most {MAX_FPS:g}, not {raw!r}")
    return fps


@bp.get("/sessions/<video_id>/export")
def session_export(video_id: str) -> Response:
    from ..measure.export import FILE_MIMETYPES, FORMATS, file_bytes, json_frames
    from ..measure.shape import track_measurements

    pipeline = _body_pipeline()
    state = _session(pipeline, video_id)
    fmt = request.args.get("format", "npz")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_field", f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    raw = request.args.get("track_id")
    if raw is None or not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, "invalid_field", "track_id must be given as a non-negative integer")
    track_id = int(raw)
    fps = _fps()
    history = _histories(pipeline, video_id).tracks.get(track_id)
    if history is None or track_id not in state.bodies.tracks:
        raise ApiError(404, "track_not_found", f"video {video_id!r} has no body for track {track_id}")
    height = state.bodies.height_for(track_id, state.tracker.primary_id)
    with pipeline.body_lock:
        entry = track_measurements(pipeline.body, history, height, track=state.bodies.tracks[track_id])
    shape = history.shape[-1] if entry is None else entry.pop("shape")
    if fmt == "json":
        return jsonify({"video_id": video_id, "track_id": track_id, "body_model": history.body_model,
                        "measurements": entry, "frames": json_frames(history)})
    data = file_bytes(fmt, pipeline.body, history, shape, fps, pipeline.body_lock)
    response = Response(data, mimetype=FILE_MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{video_id}-track{track_id}.{fmt}"'
    return response


@bp.post("/measurements")
def photo_measurements() -> Response:
    """The avatar flow (:mod:`pose_service.batch.photos`); every photo is decoded before any is fitted."""
    from ..measure.shape import sex_index

    pipeline = _body_pipeline()
    config = runtime().config
    req = parse(MeasurementRequest, json_body())
    if req.sex is not None and sex_index(pipeline.body) is None:
        raise ApiError(400, "invalid_field", f"sex: the {pipeline.body.name} body model has none (SMPL's betas are "
                                             "for its neutral model); leave it out")
    images = []
    for index, photo in enumerate(req.images_base64):
        try:
            images.append(decode_image(photo, config.image_limits()))
        except DecodeError as exc:
            raise ApiError(413 if exc.code == "image_too_large" else 400, exc.code,
                           f"images_base64[{index}]: {exc}") from None
    try:
        entry = measure_photos(pipeline, images, req.height_cm, req.sex)
    except PhotoMeasurementError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    except GpuOutOfMemory as exc:  # as /pose/hybrid: out of memory with POSE_OOM_POLICY=fail is worth a retry
        raise ApiError(503, "gpu_out_of_memory", str(exc), config.retry_after_s) from None
    shape, vertices = entry.pop("shape"), entry.pop("vertices")
    return jsonify({**entry, "body_params": {"shape": shape.tolist()}, "mesh_vertices_data": mesh_json(vertices),
                    "mesh_faces_data": pipeline.faces})
