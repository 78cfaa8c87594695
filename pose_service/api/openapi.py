"""The HTTP contract as an OpenAPI 3.1 document, built from the app's routes, the request models
(:mod:`.schemas`) and the response models (:mod:`.contract`).

``OPERATIONS`` describes each route by its Flask endpoint: what it takes (JSON, a multipart upload, query and path
parameters) and every status it answers with its body, error codes and headers. :func:`build_document` walks
``app.url_map`` and fails on a route without an entry, so no route goes undocumented. Errors that any request can
meet (the HTTP server's own, a bug, a missing token, a body that stops arriving) are added to every operation they
apply to. The document is built on its first request (``GET /openapi.json``), never at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Union

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from . import contract
from .auth import OPEN_ENDPOINTS
from .batch import FRAMES_PAGE_MAX
from .measurements import MAX_FPS
from .schemas import BatchRequest, BatchVideoForm, MeasurementRequest, MeshFacesQuery, PoseRequest

REF = "#/components/schemas/{model}"
REQUEST_MODELS: tuple[type[BaseModel], ...] = (PoseRequest, BatchRequest, BatchVideoForm, MeasurementRequest)
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
"""Methods werkzeug answers by itself on every route: not operations of the API."""

EXPORT_MEDIA_TYPES = {"npz": "application/octet-stream", "obj": "text/plain", "json": "application/json",
                      "glb": "model/gltf-binary", "bvh": "text/plain"}
"""``GET /sessions/<id>/export`` formats and the media type each is sent as (``measure.export.FILE_MIMETYPES``,
which imports torch: a keypoints-only service never loads it; tests/test_openapi.py checks the two agree)."""

Schema = Union[type[BaseModel], dict[str, Any], None]
"""A body's schema: a model (a reference to its component), a JSON Schema (where models stand for references to
theirs), or none (any content)."""

Codes = Mapping[int, tuple[str, ...]]
"""Error codes (the ``code`` of ``ErrorBody``) by HTTP status."""


@dataclass(frozen=True)
class Answer:
    """A documented non-error answer: its content by media type, and its headers (name -> header object)."""

    description: str
    content: Mapping[str, Schema]
    headers: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def markdown(docstring: str) -> str:
    """A docstring's text as the document's Markdown: reStructuredText's double backticks made single."""
    return " ".join(docstring.replace("``", "`").split())


def json_answer(model: type[BaseModel], description: str = "", **headers: dict[str, Any]) -> Answer:
    return Answer(description or markdown(model.__doc__ or model.__name__), {"application/json": model}, headers)


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    errors: Codes = field(default_factory=dict)
    body: Mapping[str, Schema] = field(default_factory=dict)
    """Request body by media type."""
    query: Union[tuple[Query, ...], type[BaseModel]] = ()
    """Query parameters, or the model the route validates them with."""
    path: Mapping[str, str] = field(default_factory=dict)
    """Path parameter -> its description."""
    models: bool = False
    """Needs the loaded models: 503 ``not_ready`` or ``model_failed`` (with ``Retry-After``) while they load or
    after they failed."""
    store: bool = False
    """Reads or writes the session or job store: 503 ``session_store_unavailable`` when Redis fails."""


def merge(*tables: Codes) -> dict[int, tuple[str, ...]]:
    """Error code tables merged by status, each code once, in order of appearance."""
    merged: dict[int, tuple[str, ...]] = {}
    for table in tables:
        for status, codes in table.items():
            merged[status] = tuple(dict.fromkeys(merged.get(status, ()) + codes))
    return merged


EVERY_REQUEST: Codes = {400: ("bad_request",), 414: ("uri_too_long",), 431: ("headers_too_large",),
                        500: ("internal_error",), 501: ("unsupported_transfer_coding",)}
"""Answered by the HTTP server before the route (``gunicorn_worker.py``), or on a bug."""
WITH_BODY: Codes = {408: ("request_timeout",), 413: ("payload_too_large",)}
WITH_TOKEN: Codes = {401: ("unauthorized",)}
MODELS: Codes = {503: ("not_ready", "model_failed")}
STORE: Codes = {503: ("session_store_unavailable",)}
JSON_BODY: Codes = {400: ("invalid_json", "invalid_request", "missing_field", "invalid_field"),
                    415: ("unsupported_media_type",)}
IMAGE: Codes = {400: ("invalid_base64", "empty_image", "invalid_image", "unsupported_image_format", "invalid_field"),
                413: ("image_too_large",)}
BODY_MODEL: Codes = {409: ("no_body_model",)}

RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "integer", "minimum": 0}}
WWW_AUTHENTICATE = {"description": 'Bearer realm="pose-service"', "required": True, "schema": {"type": "string"}}
LOCATION = {"description": "the job's status URL", "required": True, "schema": {"type": "string"}}

TEXT: dict[str, Any] = {"type": "string"}
VIDEO_ID = "the `video_id` the frames were sent with"
JOB_ID = "the `job_id` of `POST /pose/batch`'s 202"
STATIC_FILE = "a file under the folder (no `..`)"

MULTIPART_VIDEO = {
    "allOf": [BatchVideoForm],
    "type": "object",
    "properties": {"video": {"type": "string", "contentMediaType": "application/octet-stream",
                             "description": "MP4/QuickTime, Matroska/WebM or AVI, told by its first bytes"}},
    "required": ["video"],
}

OPERATIONS: dict[str, Operation] = {
    "pose.health": Operation(
        "Status of the service and its models", "health",
        {200: json_answer(contract.Health, "ready"), 503: json_answer(contract.Health, "models loading or failed")}),
    "pose.live": Operation("Liveness probe", "health", {200: json_answer(contract.Liveness, "the process answers")}),
    "pose.ready": Operation(
        "Readiness probe", "health",
        {200: json_answer(contract.Readiness, "models loaded"), 503: json_answer(contract.Readiness, "not yet")}),
    "metrics.metrics": Operation(
        "Prometheus metrics", "health",
        {200: Answer("Prometheus text format", {"text/plain": TEXT})}, store=True),
    "pose.pose_hybrid": Operation(
        "One frame of a video: people, keypoints, bodies, tracks", "frames",
        {200: json_answer(contract.PoseResponse, "the frame's people (HTTP 200 whether or not anyone is found)")},
        merge(JSON_BODY, IMAGE, {503: ("gpu_out_of_memory", "video_busy")}),
        body={"application/json": PoseRequest}, models=True, store=True),
    "pose.mesh_faces": Operation(
        "The triangles of the meshes the service returns", "frames",
        {200: json_answer(contract.MeshFaces)}, {400: ("invalid_field",), 404: ("not_found",)},
        query=MeshFacesQuery, models=True),
    "pose.get_session": Operation(
        "A video's counters, coverage and live tracks", "sessions",
        {200: json_answer(contract.Session)}, {404: ("session_not_found",)}, path={"video_id": VIDEO_ID}, store=True),
    "pose.delete_session": Operation(
        "Forget a video's session", "sessions",
        {200: json_answer(contract.Deleted)}, {404: ("session_not_found",)}, path={"video_id": VIDEO_ID}, store=True),
    "batch.pose_batch": Operation(
        "A whole sequence (JSON frames or a video upload) as one video, inline or as a job", "batches",
        {200: json_answer(contract.BatchResult),
         202: json_answer(contract.JobAccepted, "the batch runs as a job", Location=LOCATION)},
        merge(JSON_BODY, IMAGE, {400: ("invalid_video",), 413: ("too_many_frames",),
                                 415: ("unsupported_video_format",), 503: ("job_queue_full", "gpu_out_of_memory")}),
        body={"application/json": BatchRequest, "multipart/form-data": MULTIPART_VIDEO},
        query=(Query("async", {"type": "boolean"}, "run as a job whatever the batch's length (also `1`, `yes`)"),),
        models=True, store=True),
    "batch.get_job": Operation(
        "A job's status, progress and summary", "batches",
        {200: json_answer(contract.Job)}, {404: ("job_not_found",)}, path={"job_id": JOB_ID}, store=True),
    "batch.get_job_frames": Operation(
        "A page of a done job's frames", "batches",
        {200: json_answer(contract.JobFramesPage)},
        {400: ("invalid_field",), 404: ("job_not_found",), 409: ("job_not_done",)},
        query=(Query("start", {"type": "integer", "minimum": 0, "maximum": 2**31, "default": 0}, "first frame"),
               Query("limit", {"type": "integer", "minimum": 1, "maximum": FRAMES_PAGE_MAX,
                               "default": FRAMES_PAGE_MAX}, "most frames in the page")),
        path={"job_id": JOB_ID}, store=True),
    "batch.delete_job": Operation(
        "Cancel a job (before its next frame) and forget it", "batches",
        {200: json_answer(contract.Deleted)}, {404: ("job_not_found",)}, path={"job_id": JOB_ID}, store=True),
    "measurements.session_measurements": Operation(
        "Each track's shape measured", "measurements",
        {200: json_answer(contract.SessionMeasurements)}, merge(BODY_MODEL, {404: ("session_not_found",)}),
        path={"video_id": VIDEO_ID}, models=True, store=True),
    "measurements.session_export": Operation(
        "A track's bodies as a file", "measurements",
        {200: Answer("the export: `json` as below; the files as attachments named `<video_id>-track<N>.<format>`",
                     {media: contract.TrackExport if media == "application/json" else {"type": "string"}
                      for media in EXPORT_MEDIA_TYPES.values()})},
        merge(BODY_MODEL, {400: ("invalid_field",), 404: ("session_not_found", "track_not_found")}),
        query=(Query("track_id", {"type": "integer", "minimum": 0, "maximum": 999_999_999}, "the track", True),
               Query("format", {"type": "string", "enum": list(EXPORT_MEDIA_TYPES), "default": "npz"}, "the file"),
               Query("fps", {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FPS, "default": 30},
                     "frames per second, for `glb` and `bvh`")),
        path={"video_id": VIDEO_ID}, models=True, store=True),
    "measurements.photo_measurements": Operation(
        "A person measured from one to a few photos (the avatar flow)", "measurements",
        {200: json_answer(contract.PhotoMeasurements)},
        merge(JSON_BODY, IMAGE, BODY_MODEL, {422: ("no_person", "poor_fit"), 503: ("gpu_out_of_memory",)}),
        body={"application/json": MeasurementRequest}, models=True, store=True),
    "viewer.page": Operation("The browser viewer", "pages", {200: Answer("the page", {"text/html": TEXT})}),
    "viewer.static": Operation(
        "The viewer's script and style sheet", "pages", {200: Answer("the file", {"*/*": None})},
        {404: ("not_found",)}, path={"filename": STATIC_FILE}),
    "docs.openapi": Operation(
        "This document", "pages", {200: Answer("OpenAPI 3.1", {"application/json": {"type": "object"}})}),
    "docs.page": Operation("The API's docs (Swagger UI)", "pages", {200: Answer("the page", {"text/html": TEXT})}),
    "docs.static": Operation(
        "The docs page's script and style sheet", "pages", {200: Answer("the file", {"*/*": None})},
        {404: ("not_found",)}, path={"filename": STATIC_FILE}),
}

TAGS = {"frames": "Frames of videos, one at a time", "batches": "Whole sequences and their jobs",
        "sessions": "The state kept per video", "measurements": "Body shapes and measurements, exports",
        "health": "Probes and metrics", "pages": "Pages for browsers, and this document"}

_PATH_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_SEGMENT = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
_CONVERTER_SCHEMAS = {"": _SEGMENT, "string": _SEGMENT, "path": {"type": "string", "minLength": 1}}
"""Path parameters by werkzeug converter: the default (``string``) takes no slash, ``path`` does."""


def _resolved(value: Any, refs: Mapping[type[BaseModel], str]) -> Any:
    """``value`` with every model in it replaced by a reference to its component."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"$ref": refs[value]}
    if isinstance(value, dict):
        return {key: _resolved(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, refs) for item in value]
    return value


def _content(content: Mapping[str, Schema], refs: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    return {media: {} if schema is None else {"schema": _resolved(schema, refs)} for media, schema in content.items()}


def _error(status: int, codes: tuple[str, ...], refs: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}: " + ", ".join(f"`{code}`" for code in codes),
        "content": {"application/json": {"schema": {"allOf": [{"$ref": refs[contract.ErrorBody]},
                                                              {"properties": {"code": {"enum": list(codes)}}}]}}},
    }
    if status == 503:
        answer["headers"] = {"Retry-After": RETRY_AFTER}
    elif status == 401:
        answer["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE}
    return answer


def _queries(query: Union[tuple[Query, ...], type[BaseModel]]) -> tuple[Query, ...]:
    """Query parameters, those of a model taken from its JSON Schema (scalar fields only: a query has no objects)."""
    if isinstance(query, tuple):
        return query
    schema = query.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    return tuple(Query(name, _query_schema(field), markdown(field.get("description", "")), name in required)
                 for name, field in schema["properties"].items())


def _query_schema(field: dict[str, Any]) -> dict[str, Any]:
    """A model field's JSON Schema as a query parameter's: an optional field is absent, never null."""
    schema = {key: value for key, value in field.items() if key not in ("title", "description")}
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) == 1:
        del schema["anyOf"]
        schema |= branches[0]
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def _parameter(name: str, where: str, required: bool, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, **({"description": description} if description else {}),
            "schema": schema}


def _operation(endpoint: str, route: str, spec: Operation,
               refs: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    is_open = endpoint in OPEN_ENDPOINTS
    errors = merge(spec.errors, MODELS if spec.models else {}, STORE if spec.store else {},
                   WITH_BODY if spec.body else {}, {} if is_open else WITH_TOKEN, EVERY_REQUEST)
    overlap = set(errors) & set(spec.answers)
    if overlap:
        raise ValueError(f"{endpoint}: statuses {sorted(overlap)} are both answers and errors")
    responses = {str(status): {"description": answer.description, "content": _content(answer.content, refs),
                               **({"headers": dict(answer.headers)} if answer.headers else {})}
                 for status, answer in spec.answers.items()}
    responses |= {str(status): _error(status, codes, refs) for status, codes in errors.items()}
    parameters = [_parameter(name, "path", True, spec.path.get(name, ""), _CONVERTER_SCHEMAS[converter])
                  for converter, name in _PATH_ARGUMENT.findall(route)]
    parameters += [_parameter(q.name, "query", q.required, q.description, q.schema) for q in _queries(spec.query)]
    operation: dict[str, Any] = {"operationId": endpoint, "summary": spec.summary, "tags": [spec.tag],
                                 "responses": dict(sorted(responses.items()))}
    if parameters:
        operation["parameters"] = parameters
    if spec.body:
        operation["requestBody"] = {"required": True, "content": _content(spec.body, refs)}
    if is_open:
        operation["security"] = []
    return operation


def component_schemas() -> tuple[dict[type[BaseModel], str], dict[str, Any]]:
    """Every request model (as validated) and response model (as sent) as JSON Schemas: (model -> its
    reference, name -> schema)."""
    models = [(m, "validation") for m in REQUEST_MODELS] + [(m, "serialization") for m in contract.RESPONSE_MODELS]
    keys, schema = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    definitions = schema["$defs"]
    for definition in definitions.values():  # the models' docstrings
        if "description" in definition:
            definition["description"] = markdown(definition["description"])
    return {model: keys[(model, mode)]["$ref"] for model, mode in keys}, definitions


def api_routes(app: Flask) -> Iterable[tuple[str, str, str]]:
    """(endpoint, method, Flask rule) of every operation the app answers, HEAD and OPTIONS aside."""
    for rule in app.url_map.iter_rules():
        for method in sorted(set(rule.methods or ()) - IGNORED_METHODS):
            yield rule.endpoint, method, rule.rule


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/jobs/<job_id>/frames`` -> ``/jobs/{job_id}/frames``."""
    return _PATH_ARGUMENT.sub(r"{\2}", rule)


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``; ValueError on a route that ``OPERATIONS`` does not describe."""
    refs, schemas = component_schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, method, rule in api_routes(app):
        spec = OPERATIONS.get(endpoint)
        if spec is None:
            raise ValueError(f"route {method} {rule} ({endpoint}) is not described in openapi.OPERATIONS")
        paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(endpoint, rule, spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pose service", "version": __version__,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "description": "Video frames in, tracked people out: 2D keypoints (pixels, origin top-left, x right, "
                           "y down), 3D keypoints and body meshes (metres, camera axes: x right, y down, z forward), "
                           "in OpenPose BODY_25 order. Every failure is `ErrorBody` with a stable `code`; each "
                           "operation lists its codes by status. The project's README says more.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "Needed only when the service runs with `POSE_API_TOKENS`; sessions and jobs then "
                               "belong to the token that created them."}},
        },
        "security": [{"bearerAuth": []}],
    }
