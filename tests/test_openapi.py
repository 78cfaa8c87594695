"""The HTTP contract, ``GET /openapi.json``: a valid OpenAPI 3.1 document of every route and error code, which real
answers of the service conform to (success and errors, checked with jsonschema against the document's own
schemas), and which schemathesis checks against live gunicorn services with generated requests. ``GET /docs``
shows it in Chromium from the service's own files."""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import socket
import time
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openapi_spec_validator import OpenAPIV31SpecValidator
from PIL import Image
from playwright.sync_api import sync_playwright
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from skimage import data

from conftest import encode_b64
from pose_service.app import create_app
from pose_service.config import ServiceConfig
from servers import start_gunicorn, wait_ready

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "openapi-token-0123456789"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OUTSIDE_OPERATIONS = {"method_not_allowed"}
"""Codes of the README's table that no operation answers (a method the path does not have): ``ErrorBody`` names
them."""


# --- checking an answer against the document ----------------------------------------------------------------


def conforms(document: dict[str, Any], method: str, path: str, response: Any) -> Any:
    """Asserts that ``response`` (Flask's test response or a ``requests`` one) is documented for the operation
    ``method path`` (the document's path template): its status, its media type, the headers the document requires,
    and its JSON body against the document's schema. Its JSON body, or None."""
    answers = document["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method} {path}: {status} is not documented ({sorted(answers)}): {response.text[:300]}"
    answer = answers[status]
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    content = answer.get("content", {})
    assert media_type in content or "*/*" in content, f"{method} {path} {status}: {media_type} not in {list(content)}"
    for name, header in answer.get("headers", {}).items():
        assert not header.get("required") or name in response.headers, f"{method} {path} {status}: no {name}"
    if media_type != "application/json":
        return None
    body = response.json() if callable(getattr(response, "json", None)) else response.get_json()
    # The document's "#/components/..." references resolve against the root schema: give it the components.
    validator = Draft202012Validator({**content[media_type]["schema"], "components": document["components"]})
    error = best_match(validator.iter_errors(body))
    assert error is None, f"{method} {path} {status}: {error.message} at {list(error.absolute_path)}"
    return body


def error_code(document: dict[str, Any], method: str, path: str, response: Any, status: int, code: str) -> None:
    assert (response.status_code, conforms(document, method, path, response)["code"]) == (status, code)


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    return app.test_client().get("/openapi.json").get_json()


# --- the document ----------------------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1_built_once_per_process(app, document):
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()
    body = app.extensions["pose_openapi"]
    assert app.test_client().get("/openapi.json").data == body and app.extensions["pose_openapi"] is body


def test_every_route_of_the_app_is_an_operation(app, document):
    routes = {(re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == operations
    assert ("/openapi.json", "get") in routes and ("/docs", "get") in routes


def test_open_operations_are_those_the_service_leaves_open(document):
    open_paths = {path for path, item in document["paths"].items() for operation in item.values()
                  if operation.get("security") == []}
    assert open_paths == {"/health", "/v2/health/live", "/v2/health/ready", "/viewer", "/viewer/static/{filename}",
                          "/openapi.json", "/docs", "/docs/static/{filename}"}
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}


def _readme_error_table() -> list[tuple[int, str]]:
    """(status, code) of each row of the README's error table: "| 404, 405 | `a`, `b` |" pairs them in order."""
    section = (ROOT / "README.md").read_text().split("#### Errors", 1)[1].split("\n### ", 1)[0]
    pairs = []
    for statuses, codes in re.findall(r"^\| ([\d, ]+) \| ([^|]+) \|", section, re.MULTILINE):
        statuses, codes = [int(s) for s in statuses.split(",")], re.findall(r"`([a-z0-9_]+)`", codes)
        pairs += zip(statuses, codes) if len(statuses) == len(codes) else [(statuses[0], code) for code in codes]
    return pairs


def _documented_errors(document: dict[str, Any]) -> set[tuple[int, str]]:
    """(status, code) of every error answer of every operation: ``allOf: [ErrorBody, {code: {enum: [...]}}]``."""
    return {(int(status), code) for item in document["paths"].values() for operation in item.values()
            for status, answer in operation["responses"].items()
            for part in answer["content"].get("application/json", {}).get("schema", {}).get("allOf", ())
            for code in part.get("properties", {}).get("code", {}).get("enum", ())}


def test_every_error_code_of_the_readme_is_documented_with_its_status(document):
    table = _readme_error_table()
    assert len(table) >= 29 and (503, "gpu_out_of_memory") in table  # the whole table was read
    documented = _documented_errors(document)
    missing = [(status, code) for status, code in table if (status, code) not in documented
               and code not in OUTSIDE_OPERATIONS]
    assert not missing, f"README error codes not in the document: {missing}"
    description = document["components"]["schemas"]["ErrorBody"]["properties"]["code"]["description"]
    assert all(f"`{code}`" in description for code in OUTSIDE_OPERATIONS)
    readme = (ROOT / "README.md").read_text()
    unexplained = sorted({code for _, code in documented if f"`{code}`" not in readme})
    assert not unexplained, f"codes the document lists and the README never explains: {unexplained}"


def test_the_export_formats_and_measurements_are_the_services():
    from pose_service.api.openapi import EXPORT_MEDIA_TYPES
    from pose_service.measure import MEASUREMENTS
    from pose_service.measure.export import FILE_MIMETYPES, FORMATS

    from pose_service.api.contract import MeasurementsCm

    assert list(EXPORT_MEDIA_TYPES) == list(FORMATS)
    assert EXPORT_MEDIA_TYPES == {**FILE_MIMETYPES, "json": "application/json"}
    assert tuple(MeasurementsCm.model_fields) == MEASUREMENTS


def _typescript_interfaces(path: Path) -> dict[str, set[str]]:
    """Each ``export interface`` of a .d.ts file -> its field names, inherited ones included (``extends Base`` and
    ``extends Omit<Base, 'a' | 'b'>``); comments dropped, members of nested object types not counted."""
    text = re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S))
    declared: dict[str, tuple[str, set[str]]] = {}
    for header in re.finditer(r"export interface (\w+)(?: extends ([^{]+?))? \{", text):
        depth, end = 1, header.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        fields, depth = set(), 0
        for token in re.finditer(r"[{}]|(\w+)\??:", text[header.end():end - 1]):
            depth += {"{": 1, "}": -1}.get(token.group(0), 0)
            if depth == 0 and token.group(1):
                fields.add(token.group(1))
        declared[header.group(1)] = ((header.group(2) or "").strip(), fields)

    def resolved(name: str) -> set[str]:
        base, fields = declared[name]
        omit = re.fullmatch(r"Omit<(\w+), ([^>]+)>", base)
        if omit:
            return resolved(omit.group(1)) - set(re.findall(r"'(\w+)'", omit.group(2))) | fields
        return (resolved(base) if base else set()) | fields

    return {name: resolved(name) for name in declared}


def test_the_node_clients_types_have_the_documents_fields(document):
    """clients/node/index.d.ts names its interfaces after the document's schemas: the same fields."""
    interfaces = _typescript_interfaces(ROOT / "clients" / "node" / "index.d.ts")
    schemas = document["components"]["schemas"]
    shared = sorted(set(interfaces) & set(schemas))
    assert len(shared) >= 28 and {"PoseResponse", "Person", "Job", "MeshFaces", "PhotoMeasurements"} <= set(shared)
    differ = {name: (sorted(interfaces[name] - set(schemas[name]["properties"])),
                     sorted(set(schemas[name]["properties"]) - interfaces[name]))
              for name in shared if interfaces[name] != set(schemas[name]["properties"])}
    assert not differ, f"interface: (only in index.d.ts, only in the document): {differ}"


# --- real answers of the service conform -----------------------------------------------------------------------


def test_pages_probes_and_metrics_conform(client, document):
    for path, url in [("/health", "/health"), ("/v2/health/live", "/v2/health/live"),
                      ("/v2/health/ready", "/v2/health/ready"), ("/metrics", "/metrics"), ("/viewer", "/viewer"),
                      ("/viewer/static/{filename}", "/viewer/static/viewer.js"), ("/docs", "/docs"),
                      ("/docs/static/{filename}", "/docs/static/swagger-ui-bundle.js"),
                      ("/openapi.json", "/openapi.json")]:
        response = client.get(url)
        assert response.status_code == 200, url
        conforms(document, "get", path, response)
    error_code(document, "get", "/viewer/static/{filename}", client.get("/viewer/static/nothing.js"), 404,
               "not_found")
    error_code(document, "get", "/docs/static/{filename}", client.get("/docs/static/nothing.css"), 404, "not_found")


def test_frames_sessions_and_exports_conform(client, document, astronaut_b64, no_person_b64):
    video = f"openapi-{time.monotonic_ns()}"
    frame = {"image_base64": astronaut_b64, "video_id": video}
    full = conforms(document, "post", "/pose/hybrid", client.post("/pose/hybrid", json=frame | {"frame_number": 0}))
    assert full["people"] and full["people"][0]["body_params"] and full["mesh_faces_data"]  # all of it was checked
    for frame_number, options in enumerate([{"include_faces": False}, {"include_mesh": False},
                                            {"mesh_encoding": "base64_float32", "mesh_resolution": "low"},
                                            {"mesh_resolution": "full"}], start=1):
        body = conforms(document, "post", "/pose/hybrid",
                        client.post("/pose/hybrid", json=frame | options | {"frame_number": frame_number}))
        assert body["people"], options
    nobody = client.post("/pose/hybrid", json={"image_base64": no_person_b64, "frame_number": 0})
    assert conforms(document, "post", "/pose/hybrid", nobody)["error"] == "no person detected"

    for query in ("", "?mesh_resolution=low&mesh_encoding=base64_float32", "?mesh_resolution=full&body_model=anny"):
        conforms(document, "get", "/mesh/faces", client.get("/mesh/faces" + query))
    error_code(document, "get", "/mesh/faces", client.get("/mesh/faces?body_model=smpl"), 404, "not_found")
    error_code(document, "get", "/mesh/faces", client.get("/mesh/faces?mesh_resolution=huge"), 400, "invalid_field")

    session = conforms(document, "get", "/sessions/{video_id}", client.get(f"/sessions/{video}"))
    track = session["primary_track_id"]
    measured = conforms(document, "get", "/sessions/{video_id}/measurements",
                        client.get(f"/sessions/{video}/measurements"))
    assert [t["track_id"] for t in measured["tracks"]] == [track]
    export = f"/sessions/{video}/export?track_id={track}"
    assert conforms(document, "get", "/sessions/{video_id}/export", client.get(export + "&format=json"))["frames"]
    for file_format in ("npz", "obj", "glb", "bvh"):
        response = client.get(f"{export}&format={file_format}&fps=25")
        assert response.status_code == 200 and response.data, file_format
        conforms(document, "get", "/sessions/{video_id}/export", response)
    for url, status, code in [(f"{export}&format=fbx", 400, "invalid_field"), (f"{export}&fps=0", 400, "invalid_field"),
                              (f"/sessions/{video}/export?track_id=9999", 404, "track_not_found"),
                              (f"/sessions/{video}-none/export?track_id=1", 404, "session_not_found")]:
        error_code(document, "get", "/sessions/{video_id}/export", client.get(url), status, code)

    conforms(document, "delete", "/sessions/{video_id}", client.delete(f"/sessions/{video}"))
    error_code(document, "get", "/sessions/{video_id}", client.get(f"/sessions/{video}"), 404, "session_not_found")
    error_code(document, "delete", "/sessions/{video_id}", client.delete(f"/sessions/{video}"), 404,
               "session_not_found")
    error_code(document, "get", "/sessions/{video_id}/measurements", client.get(f"/sessions/{video}/measurements"),
               404, "session_not_found")


def _mp4(frames: list[np.ndarray], path: Path) -> bytes:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path.read_bytes()


def test_batches_and_jobs_conform(client, document, astronaut, astronaut_b64, tmp_path):
    frames = [{"image_base64": astronaut_b64}, {"image_base64": astronaut_b64}]
    inline = conforms(document, "post", "/pose/batch",
                      client.post("/pose/batch", json={"frames": frames, "include_faces": False}))
    assert len(inline["frames"]) == 2 and inline["summary"]["measurements"] is not None
    video = _mp4([astronaut] * 2, tmp_path / "clip.mp4")
    uploaded = client.post("/pose/batch", data={"video": (io.BytesIO(video), "clip.mp4"), "include_mesh": "false"},
                           content_type="multipart/form-data")
    assert len(conforms(document, "post", "/pose/batch", uploaded)["frames"]) == 2

    accepted = client.post("/pose/batch?async=1", json={"frames": frames * 2, "include_mesh": False})
    assert accepted.status_code == 202
    job_id = conforms(document, "post", "/pose/batch", accepted)["job_id"]
    # Asked at once: the job has 4 frames to fit first.
    error_code(document, "get", "/jobs/{job_id}/frames", client.get(f"/jobs/{job_id}/frames"), 409, "job_not_done")
    deadline = time.monotonic() + 120
    while (job := conforms(document, "get", "/jobs/{job_id}", client.get(f"/jobs/{job_id}")))["status"] != "done":
        assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.1)
    page = conforms(document, "get", "/jobs/{job_id}/frames", client.get(f"/jobs/{job_id}/frames?start=1&limit=2"))
    assert [f["frame_number"] for f in page["frames"]] == [1, 2]
    error_code(document, "get", "/jobs/{job_id}/frames", client.get(f"/jobs/{job_id}/frames?limit=0"), 400,
               "invalid_field")
    conforms(document, "delete", "/jobs/{job_id}", client.delete(f"/jobs/{job_id}"))
    for method in ("get", "delete"):
        error_code(document, method, "/jobs/{job_id}", client.open(f"/jobs/{job_id}", method=method), 404,
                   "job_not_found")
    error_code(document, "get", "/jobs/{job_id}/frames", client.get(f"/jobs/{job_id}/frames"), 404, "job_not_found")

    for kwargs, status, code in [
        ({"json": {"frames": [{"image_base64": "x"}] * 1001}}, 413, "too_many_frames"),
        ({"data": {"video": (io.BytesIO(b"#EXTM3U\n"), "a.m3u8")}, "content_type": "multipart/form-data"}, 415,
         "unsupported_video_format"),
        ({"data": {"video": (io.BytesIO(video[:64]), "cut.mp4")}, "content_type": "multipart/form-data"}, 400,
         "invalid_video"),
        ({"data": {"max_frames": "2"}, "content_type": "multipart/form-data"}, 400, "missing_field"),
        ({"json": {"frames": []}}, 400, "invalid_field"),
    ]:
        error_code(document, "post", "/pose/batch", client.post("/pose/batch", **kwargs), status, code)


def test_photo_measurements_conform(client, document, astronaut_b64, no_person_b64):
    measured = conforms(document, "post", "/measurements",
                        client.post("/measurements", json={"images_base64": [astronaut_b64], "sex": "female"}))
    assert measured["photos_used"] == 1 and measured["mesh_vertices_data"]
    error_code(document, "post", "/measurements", client.post("/measurements", json={"images_base64": [no_person_b64]}),
               422, "no_person")
    error_code(document, "post", "/measurements", client.post("/measurements", json={"images_base64": []}), 400,
               "invalid_field")


def _gif_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("kwargs, status, code", [
    ({"data": b"{oops", "content_type": "application/json"}, 400, "invalid_json"),
    ({"json": [1]}, 400, "invalid_request"),
    ({"json": {"image_base64": "AAAA"}}, 400, "missing_field"),
    ({"json": {"image_base64": "AAAA", "frame_number": -1}}, 400, "invalid_field"),
    ({"json": {"image_base64": "A!A", "frame_number": 0}}, 400, "invalid_base64"),
    ({"json": {"image_base64": "", "frame_number": 0}}, 400, "empty_image"),
    ({"json": {"image_base64": "AAAA", "frame_number": 0}}, 400, "invalid_image"),
    ({"json": {"image_base64": _gif_b64(), "frame_number": 0}}, 400, "unsupported_image_format"),
    ({"json": {"image_base64": "AAAA", "frame_number": 0, "width": 9000, "height": 9000, "pixel_format": "rgb24"}},
     413, "image_too_large"),
    ({"data": b"frame", "content_type": "text/plain"}, 415, "unsupported_media_type"),
])
def test_frame_errors_conform(client, document, kwargs, status, code):
    error_code(document, "post", "/pose/hybrid", client.post("/pose/hybrid", **kwargs), status, code)


def test_tokens_and_failed_models_conform(document, tmp_path):
    """A service with tokens whose body model failed to load (no SMPL file): 401 without a token, 503 with
    ``Retry-After`` with one; the probes say why; the docs stay open."""
    app = create_app(ServiceConfig(backend="hmr2", hmr2_cache_dir=str(tmp_path), api_tokens=TOKEN))
    assert not app.extensions["pose_runtime"].wait(timeout=120)
    client = app.test_client()
    health = conforms(document, "get", "/health", client.get("/health"))
    assert health["status"] == "error" and "smpl" in health["error"]
    assert conforms(document, "get", "/v2/health/ready", client.get("/v2/health/ready")) == {"ready": False}
    for url in ("/openapi.json", "/docs"):
        assert client.get(url).status_code == 200
    frame = {"image_base64": "AAAA", "frame_number": 0}
    error_code(document, "post", "/pose/hybrid", client.post("/pose/hybrid", json=frame), 401, "unauthorized")
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    error_code(document, "post", "/pose/hybrid", client.post("/pose/hybrid", json=frame, headers=authorised), 503,
               "model_failed")
    error_code(document, "get", "/mesh/faces", client.get("/mesh/faces", headers=authorised), 503, "model_failed")
    error_code(document, "get", "/sessions/{video_id}", client.get("/sessions/none", headers=authorised), 404,
               "session_not_found")  # sessions answer while models load or fail


# --- live services: schemathesis, and the docs page in Chromium ------------------------------------------------


def _small(rgb: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Any]:
    """Real images and a real video, small: what generated requests send in place of some of their (mostly
    undecodable) base64, so that the service's whole path runs, not only its input checks."""
    person, cup = _small(data.astronaut(), 192), _small(data.coffee(), 96)
    return {"images": [encode_b64(person), encode_b64(cup, ".png"), encode_b64(_small(person, 48))],
            "video": _mp4([person] * 3, tmp_path_factory.mktemp("video") / "clip.mp4")}


def _with_real_media(media: dict[str, Any]):
    """A schemathesis ``flatmap_body`` hook: a generated body's base64 text (a string, where it is one) becomes a
    real image, and its video a real one, so that the service's whole path runs; schemathesis's coverage phase and
    negative examples still send undecodable ones."""
    def flatmap_body(context, body):
        if not isinstance(body, dict):
            return st.just(body)

        def real(image: str) -> dict[str, Any]:
            frames, photos = body.get("frames"), body.get("images_base64")
            if isinstance(frames, list):
                return {**body, "frames": [{**frame, "image_base64": image} if _text(frame, "image_base64") else frame
                                           for frame in frames]}
            if isinstance(photos, list):  # two at most: each photo is a fit of its own, seconds on a CPU
                return {**body, "images_base64": [image if isinstance(photo, str) else photo for photo in photos[:2]]}
            if "video" in body:
                return {**body, "video": media["video"]}
            return {**body, "image_base64": image} if _text(body, "image_base64") else body

        return st.sampled_from(media["images"]).map(real)
    return flatmap_body


def _text(value: Any, key: str) -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), str)


def _gunicorn(env: dict[str, str]):
    process, base = start_gunicorn({"POSE_WORKERS": "1", "POSE_THREADS": "2"} | env)
    try:
        wait_ready(process, base)
        yield base
    finally:
        process.kill()
        process.communicate()


def _live_schema(base: str, media: dict[str, Any]):
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    schema.hook(_with_real_media(media))
    return schema


@pytest.fixture(scope="module")
def keypoints_service():
    """A keypoints-only service (no body model): fast, so every operation is generated for here."""
    yield from _gunicorn({"POSE_BODY_MODEL": "none"})


@pytest.fixture(scope="module")
def body_service():
    """The default service (Anny bodies), for the operations that answer meshes and measurements."""
    yield from _gunicorn({})


@pytest.fixture(scope="module")
def keypoints_service_schema(keypoints_service, media):
    return _live_schema(keypoints_service, media)


@pytest.fixture(scope="module")
def body_service_schema(body_service, media):
    return _live_schema(body_service, media)


GENERATED = settings(deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
                     derandomize=True)
"""Generated requests, the same on every run; the tests below set how many per operation."""


@schemathesis.pytest.from_fixture("keypoints_service_schema").parametrize()
@settings(GENERATED, max_examples=50)
def test_a_keypoints_service_answers_generated_requests_as_documented(case):
    case.call_and_validate(checks=CHECKS, timeout=60)


@schemathesis.pytest.from_fixture("body_service_schema").include(
    path_regex="^/(pose/hybrid|mesh/faces|measurements)$").parametrize()
@settings(GENERATED, max_examples=15)
def test_a_body_service_answers_generated_requests_as_documented(case):
    case.call_and_validate(checks=CHECKS, timeout=120)


class RawResponse(NamedTuple):
    status_code: int
    headers: Any
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def _raw(base: str, request: bytes) -> RawResponse:
    """``request`` sent as it is, on a connection of its own; the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return RawResponse(response.status, response.headers, response.read().decode())


@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n", 501, "unsupported_transfer_coding"),
    (b"GET /health?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431, "headers_too_large"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", 400, "bad_request"),
    (b"POST /pose/hybrid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n"
     b"\r\n{}", 413, "payload_too_large"),
], ids=["transfer-coding", "long-uri", "many-headers", "bad-length", "large-body"])
def test_the_http_servers_own_errors_conform(keypoints_service, document, request_bytes, status, code):
    path = "/pose/hybrid" if b"/pose/hybrid" in request_bytes else "/health"
    method = request_bytes.split(b" ", 1)[0].decode()
    error_code(document, method, path, _raw(keypoints_service, request_bytes), status, code)


def test_the_docs_page_shows_every_operation_from_the_services_own_files(keypoints_service):
    assert CHROMIUM.exists(), f"no {CHROMIUM}: apt-get install -y chromium"
    operations = sum(len(item) for item in requests.get(keypoints_service + "/openapi.json").json()["paths"].values())
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(keypoints_service + "/docs")
            page.wait_for_selector(".opblock", timeout=60_000)
            shown = page.locator(".opblock").count()
            errors = page.locator(".errors-wrapper").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert shown == operations and errors == 0
    assert title.startswith("pose service")
    assert requested and all(url.startswith(keypoints_service + "/") for url in requested), requested
