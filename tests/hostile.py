"""Requests a hostile or careless client could send, as hypothesis strategies: every route, with random JSON, wrong
types, huge/negative/NaN numbers, unicode and control characters in ids, random bytes as images and videos,
truncated and extreme-shaped images. Shared by ``tests/test_hostile.py`` and ``scripts/fuzz_service.py``.

A drawn request is ``HostileRequest(method, path, body, content_type)``: ``body`` is bytes (already encoded), so
that the same request can go through Flask's test client or a real socket.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from hypothesis import strategies as st
from PIL import Image


@dataclass(frozen=True)
class HostileRequest:
    method: str
    path: str
    body: Optional[bytes] = None
    content_type: Optional[str] = None

    def __str__(self) -> str:
        size = "" if self.body is None else f" ({len(self.body)} bytes {self.content_type})"
        return f"{self.method} {self.path[:120]}{size}"


@functools.lru_cache(maxsize=None)
def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height), 128).save(buf, format="PNG")
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _jpeg(width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, format="GIF")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------- values

ids = st.one_of(
    st.text(min_size=0, max_size=40),  # any unicode, control characters and NUL included
    st.sampled_from(["default", "..", "../../etc/passwd", "a/b", "%00", "\n", "x" * 300, "0", "-1", " "]),
    st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e30, -1e30, 1e-30, 2**31, 2**63, 32767, 65536, float("nan"), float("inf")]),
)

wild = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children,
                                                                                 max_size=4)),
    max_leaves=12,
)
"""Any JSON value (NaN and infinities included: Python's json writes them, as careless clients do)."""

images = st.one_of(
    st.integers(min_value=1, max_value=48).map(lambda side: _png(side, side)),           # tiny, valid
    st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(0, 9)).map(lambda a: _jpeg(*a)),
    st.sampled_from([(32766, 1), (1, 32766), (32767, 2), (9000, 9000), (1, 1), (3, 40)]).map(
        lambda wh: _png(*wh, mode="1")),                                                # extreme shapes, small files
    st.binary(max_size=256),                                                            # random bytes
    st.tuples(st.integers(8, 64), st.floats(0.05, 0.95)).map(                           # truncated
        lambda a: (lambda data: data[: max(1, int(len(data) * a[1]))])(_png(a[0], a[0]))),
    st.just(_gif()),
    st.just(b""),
)
"""Image files (bytes): valid tiny ones, extreme shapes, random, truncated, unsupported, empty."""

image_fields = st.one_of(
    images.map(lambda data: base64.b64encode(data).decode()),
    images.map(lambda data: "data:image/png;base64," + base64.b64encode(data).decode()),
    st.text(max_size=50),  # not base64 at all
    wild,
)

videos = st.one_of(
    st.binary(max_size=512),
    st.sampled_from([
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n",
        b"file:///etc/hosts\n",
        b"ffconcat version 1.0\nfile '/etc/hostname'\n",
        b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64,  # an mp4 header and nothing else
        b"\x1a\x45\xdf\xa3" + b"\x00" * 32,
        b"RIFF\x00\x00\x00\x00AVI LIST",
    ]),
)


# ---------------------------------------------------------------------------------------------------------- bodies

def _valid_frame(image_b64: str) -> dict[str, Any]:
    return {"image_base64": image_b64, "frame_number": 0, "video_id": "hostile"}


@st.composite
def frame_bodies(draw) -> dict[str, Any]:
    """A /pose/hybrid body: a valid one with some fields replaced by wild values, and extra fields."""
    body = _valid_frame(draw(image_fields))
    for field in draw(st.lists(st.sampled_from(["frame_number", "video_id", "width", "height", "pixel_format",
                                                 "include_mesh", "include_faces", "mesh_resolution",
                                                 "mesh_encoding", "focal_length_px", "simulate_misses", "height_cm",
                                                 "image_base64"]), max_size=4)):
        body[field] = draw(st.one_of(wild, ids, numbers))
    if draw(st.booleans()):
        body.update(draw(st.dictionaries(st.text(max_size=8), wild, max_size=3)))
    return body


@st.composite
def batch_bodies(draw) -> dict[str, Any]:
    frames = draw(st.lists(frame_bodies(), min_size=0, max_size=3))
    body: dict[str, Any] = {"frames": frames}
    for field in draw(st.lists(st.sampled_from(["video_id", "include_mesh", "focal_length_px", "smooth",
                                                 "height_cm", "simulate_misses", "frames"]), max_size=3)):
        body[field] = draw(st.one_of(wild, ids, numbers))
    return body


@st.composite
def measurement_bodies(draw) -> dict[str, Any]:
    body: dict[str, Any] = {"images_base64": draw(st.lists(image_fields, max_size=3))}
    for field in draw(st.lists(st.sampled_from(["height_cm", "sex", "images_base64"]), max_size=2)):
        body[field] = draw(st.one_of(wild, numbers, st.text(max_size=10)))
    return body


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "hostile-boundary-7d3f"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode("utf-8",
                                                                                                         "replace")
             for name, value in fields.items()]
    name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode("utf-8", "replace") + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# ---------------------------------------------------------------------------------------------------------- requests

@st.composite
def hostile_requests(draw) -> HostileRequest:
    """One request to any route of the service (and some that do not exist), with a hostile body or id."""
    kind = draw(st.sampled_from(["pose", "pose", "pose", "batch", "batch_video", "measurements", "session", "job",
                                 "probe", "raw", "unknown"]))
    if kind == "pose":
        return HostileRequest("POST", "/pose/hybrid", _json(draw(frame_bodies())), "application/json")
    if kind == "batch":
        query = draw(st.sampled_from(["", "?async=1", "?async=0", "?async=yes", "?async=%00"]))
        return HostileRequest("POST", "/pose/batch" + query, _json(draw(batch_bodies())), "application/json")
    if kind == "batch_video":
        fields = draw(st.dictionaries(st.sampled_from(["video_id", "max_frames", "focal_length_px", "include_mesh",
                                                        "height_cm", "smooth"]), st.text(max_size=12), max_size=3))
        body, content_type = _multipart(fields, draw(st.text(max_size=20)), draw(videos))
        return HostileRequest("POST", "/pose/batch", body, content_type)
    if kind == "measurements":
        return HostileRequest("POST", "/measurements", _json(draw(measurement_bodies())), "application/json")
    if kind == "session":
        suffix = draw(st.sampled_from(["", "/measurements", "/export", "/export?format=obj&track_id=1",
                                       "/export?format=npz&track_id=-1", "/export?format=%00&track_id=x"]))
        method = draw(st.sampled_from(["GET", "DELETE", "POST"]))
        return HostileRequest(method, f"/sessions/{_quoted(draw(ids)) or 'x'}{suffix}")
    if kind == "job":
        suffix = draw(st.sampled_from(["", "/frames", "/frames?offset=-1&limit=99999999", "/frames?limit=nan",
                                       "/frames?offset=1e400"]))
        return HostileRequest(draw(st.sampled_from(["GET", "DELETE"])), f"/jobs/{_quoted(draw(ids)) or 'x'}{suffix}")
    if kind == "probe":
        path = draw(st.sampled_from(["/health", "/v2/health/live", "/v2/health/ready", "/metrics", "/mesh/faces",
                                     "/mesh/faces?body_model=%FF", "/mesh/faces?body_model=smpl"]))
        return HostileRequest(draw(st.sampled_from(["GET", "GET", "POST", "PUT"])), path)
    if kind == "raw":  # bodies that are not what they say they are
        route = draw(st.sampled_from(["/pose/hybrid", "/pose/batch", "/measurements"]))
        content_type = draw(st.sampled_from(["application/json", "text/plain", "application/octet-stream",
                                             "multipart/form-data", "multipart/form-data; boundary=x",
                                             "application/json; charset=latin-1"]))
        body = draw(st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode),
                              wild.map(_json), st.just(b"[" * 5000), st.just(b'{"a":' * 3000)))
        return HostileRequest("POST", route, body, content_type)
    segments = draw(st.lists(st.text(max_size=12).map(_quoted), min_size=1, max_size=4))
    return HostileRequest(draw(st.sampled_from(["GET", "POST", "DELETE", "PATCH"])), "/" + "/".join(segments))


def is_finite_json(value: Any) -> bool:
    """Whether ``value`` is JSON without NaN or infinities (what the service promises to send)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    return True
