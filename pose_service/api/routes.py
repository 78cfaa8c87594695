"""Routes: parse, call the pipeline, serialise. The logic lives in plain modules."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, jsonify, request

from .. import __version__
from ..decode import DecodeError, decode_image
from ..pipeline import DEFAULT_SESSION, FrameRequest, GpuOutOfMemory
from .auth import scoped
from .context import json_body, ready_pipeline, runtime, sessions
from .errors import ApiError
from ..respond import faces_json, frame_response, mesh_options, session_summary
from ..timing import StageTimes
from .metrics import observe_frame
from .schemas import MeshFacesQuery, PoseRequest, parse

log = logging.getLogger(__name__)
bp = Blueprint("pose", __name__)


@bp.get("/health")
def health() -> Response:
    body = runtime().health() | {"version": __version__}
    response = jsonify(body)
    response.status_code = 200 if body["ready"] else 503
    return response


@bp.get("/v2/health/live")
def live() -> Response:
    return jsonify({"live": True})


@bp.get("/v2/health/ready")
def ready() -> Response:
    is_ready = runtime().health()["ready"]
    response = jsonify({"ready": is_ready})
    response.status_code = 200 if is_ready else 503
    return response


@bp.post("/pose/hybrid")
def pose_hybrid() -> Response:
    started = time.perf_counter()
    config = runtime().config
    req = parse(PoseRequest, json_body())
    pipeline = ready_pipeline()
    times = StageTimes()
    try:
        with times("decode"):
            image = decode_image(req.image_base64, config.image_limits(), req.width, req.height, req.pixel_format)
    except DecodeError as exc:
        raise ApiError(413 if exc.code == "image_too_large" else 400, exc.code, str(exc)) from None

    try:
        result = pipeline.process(
            FrameRequest(
                image=image,
                frame_number=req.frame_number,
                video_id=req.video_id,
                session_id=scoped(req.video_id or DEFAULT_SESSION),
                include_mesh=req.include_mesh,
                include_faces=req.include_faces,
                focal_length_px=req.focal_length_px,
                simulate_misses=req.simulate_misses,
                height_cm=req.height_cm,
            )
        )
    except GpuOutOfMemory as exc:
        raise ApiError(503, "gpu_out_of_memory", str(exc), config.retry_after_s) from None
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    predicted = sum(p.source == "predicted" for p in result.people)
    log.info(
        "[POSE] video=%s frame=%d people=%d predicted=%d ms=%.1f",
        req.video_id or "-", req.frame_number, len(result.people), predicted, elapsed_ms,
    )
    mesh = mesh_options(pipeline.mesh_levels, req.include_mesh, req.mesh_resolution, req.include_faces,
                        req.mesh_encoding)
    with times("encode"):
        response = jsonify(frame_response(result, pipeline.backend, elapsed_ms, mesh))
    observe_frame(result, times)
    return response


@bp.get("/mesh/faces")
def mesh_faces() -> Response:
    """The triangles of the meshes this service returns at a resolution, and which vertices of the full mesh that
    resolution keeps, so clients can send ``include_faces: false``."""
    query = parse(MeshFacesQuery, request.args.to_dict())
    pipeline = ready_pipeline()
    if pipeline.mesh_levels is None or (query.body_model and query.body_model != pipeline.body_model):
        raise ApiError(404, "not_found", f"this service returns no {query.body_model or 'body'} meshes")
    level = pipeline.mesh_levels[query.mesh_resolution]
    return jsonify({"body_model": pipeline.body_model, "mesh_resolution": level.name,
                    "vertex_count": level.vertex_count,
                    "vertex_indices": level.vertex_indices,
                    "mesh_faces_data": faces_json(level.faces, query.mesh_encoding)})


@bp.get("/sessions/<video_id>")
def get_session(video_id: str) -> Response:
    state = sessions().get(scoped(video_id))
    if state is None:
        raise ApiError(404, "session_not_found", f"no session for video {video_id!r} (never seen, deleted or expired)")
    return jsonify(session_summary(state))


@bp.delete("/sessions/<video_id>")
def delete_session(video_id: str) -> Response:
    if not sessions().delete(scoped(video_id)):
        raise ApiError(404, "session_not_found", f"no session for video {video_id!r}")
    return jsonify({"deleted": video_id})
