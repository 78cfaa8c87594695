"""Optional bearer tokens (``POSE_API_TOKENS``), and sessions and jobs scoped to the token that created them.

With tokens set, every route but the health probes, the viewer page and the API's docs (``OPEN_ENDPOINTS``) needs
``Authorization: Bearer <token>`` (401 otherwise). A token's sessions and jobs live under a key prefix derived from
it, so another token asking for the same ``video_id`` or job id finds nothing (404) and cannot delete it. Without
tokens, names are used as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Optional

from flask import Flask, Response, g, request

from .errors import error_response

OPEN_ENDPOINTS = frozenset({"pose.health", "pose.live", "pose.ready", "viewer.page", "viewer.static", "docs.openapi",
                            "docs.page", "docs.static"})
"""Probes that load balancers and Kubernetes call without credentials, and the pages with their scripts and style
sheets (the viewer; the API's docs and the document they show): a browser cannot send a header when it opens a page,
and the pages hold no data (their calls send a token)."""


def scope_of(token: str) -> str:
    """A short, stable name for a token's sessions and jobs (a digest: the token itself never reaches a store)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def scoped(name: str) -> str:
    """The store's key for a client's name of a session or job: prefixed with the caller's scope when tokens are
    on, the name itself when they are off."""
    scope: Optional[str] = g.get("pose_scope")
    return f"{scope}/{name}" if scope else name


def new_job_id() -> str:
    """A fresh, unguessable job id; with tokens on, it starts with the caller's scope, which :func:`owns_job`
    checks (job stores need no owner field)."""
    scope: Optional[str] = g.get("pose_scope")
    random_part = uuid.uuid4().hex[:16]
    return f"{scope}-{random_part}" if scope else random_part


def owns_job(job_id: str) -> bool:
    """Whether the caller may see the job: always with tokens off, else only a job its own token created."""
    scope: Optional[str] = g.get("pose_scope")
    return scope is None or job_id.startswith(scope + "-")


def install(app: Flask, tokens: tuple[str, ...]) -> None:
    """Require one of ``tokens`` on every route but the health probes; nothing when ``tokens`` is empty."""
    if not tokens:
        return
    known = [token.encode() for token in tokens]

    @app.before_request
    def _authenticate() -> Optional[Response]:
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        offered = token.strip().encode()
        # Compared with every token in constant time: neither which token nor how much of one matched leaks.
        matches = [hmac.compare_digest(offered, candidate) for candidate in known]
        if scheme.lower() != "bearer" or not offered or not any(matches):
            response = error_response(401, "unauthorized", "send a valid token: Authorization: Bearer <token>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="pose-service"'
            return response
        g.pose_scope = scope_of(offered.decode())
        return None
