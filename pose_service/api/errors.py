"""Every failure is JSON ``{"error": "<for a human>", "code": "<stable machine code>"}`` with a 4xx/5xx status."""

from __future__ import annotations

import logging
from typing import Optional

from flask import Flask, Response, jsonify
from redis.exceptions import RedisError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..sessions.redis_store import SessionLockTimeout

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def error_response(status: int, code: str, message: str, retry_after: Optional[int] = None) -> Response:
    response = jsonify({"error": message, "code": code})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


# Werkzeug's own HTTP errors (routing, body size) mapped to stable codes.
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.retry_after)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if isinstance(exc, ClientDisconnected) and isinstance(exc.__context__, TimeoutError):
            # werkzeug reports every failed body read so; this one outlasted POSE_CLIENT_TIMEOUT_S (gunicorn_worker.py)
            return error_response(408, "request_timeout", "the request body stopped arriving")
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, "payload_too_large", f"request body is larger than the limit of {limit} bytes")
        return error_response(status, _HTTP_CODES.get(status, "http_error"), exc.description or exc.name)

    @app.errorhandler(SessionLockTimeout)
    def _video_busy(exc: SessionLockTimeout) -> Response:
        return error_response(503, "video_busy", str(exc), retry_after=1)

    @app.errorhandler(RedisError)
    def _store_unavailable(exc: RedisError) -> Response:
        log.error("[SESSION] Redis failed: %s", exc)
        return error_response(503, "session_store_unavailable", f"the session store failed: {type(exc).__name__}",
                              retry_after=1)

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception) -> Response:
        log.exception("[POSE] internal error: %s", exc)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")
