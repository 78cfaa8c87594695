"""What every route needs from the current request and app: the runtime, a ready pipeline, the JSON body."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..pipeline import FramePipeline
from ..runtime import ModelRuntime, NotReady
from ..sessions import SessionStore
from .errors import ApiError


def runtime() -> ModelRuntime:
    return current_app.extensions["pose_runtime"]


def sessions() -> SessionStore:
    """The app's session store (ready before the models are)."""
    return current_app.extensions["pose_sessions"]


def ready_pipeline() -> FramePipeline:
    """The loaded pipeline, or a 503 (with ``Retry-After``) while models load or after they failed."""
    current = runtime()
    try:
        return current.pipeline()
    except NotReady as exc:
        raise ApiError(503, "model_failed" if exc.failed else "not_ready", str(exc), current.config.retry_after_s)


def json_body() -> object:
    """The request's JSON; 415 when it is not JSON, 413 when it is over the body limit, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the frame as JSON with Content-Type: application/json")
    # A body without Content-Length (chunked) is cut at MAX_CONTENT_LENGTH by werkzeug, which does not say whether
    # more followed: a byte left in the server's stream past the limit means the body was over it.
    if len(request.get_data()) == request.max_content_length and request.input_stream.read(1):
        raise RequestEntityTooLarge()
    payload = request.get_json(silent=True)
    if payload is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    return payload
