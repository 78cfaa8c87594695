"""``GET /openapi.json`` (the contract, :mod:`.openapi`) and ``GET /docs``, Swagger UI over it. Public even with
``POSE_API_TOKENS`` (see :mod:`.auth`): they describe the API and hold no data; the docs page's *Authorize* button
takes a token for the calls it tries.

Swagger UI's script and style sheet are served from the flask-swagger-ui package (a pinned requirement, which vendors
Swagger UI's release) under ``/docs/static/``: nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from importlib.util import find_spec

import orjson
from flask import Blueprint, Response, current_app, render_template

from .openapi import build_document

_SWAGGER_UI = find_spec("flask_swagger_ui")
if _SWAGGER_UI is None or not _SWAGGER_UI.submodule_search_locations:
    raise ImportError("flask-swagger-ui is not installed (requirements.txt): /docs serves Swagger UI from it")
_SWAGGER_UI_FILES = f"{_SWAGGER_UI.submodule_search_locations[0]}/dist"

bp = Blueprint("docs", __name__, template_folder="templates", static_folder=_SWAGGER_UI_FILES,
               static_url_path="/docs/static")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The document, built and serialised on the process's first request (the app's routes are all known by then)."""
    body = current_app.extensions.get("pose_openapi")
    if body is None:
        body = current_app.extensions["pose_openapi"] = orjson.dumps(build_document(current_app))
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/docs")
def page() -> str:
    return render_template("docs.html")
