"""FrameResult -> the JSON contract of ``POST /pose/hybrid`` (documented in the README), shared by the API and the
batch runner: the last stage of the data flow.

The top-level person fields repeat ``people[0]``, the primary person, for clients written against the
single-person API. A field the backend cannot fill is ``null``, never invented.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import orjson

from .conventions import BODY25_NAMES
from .sessions import SessionState
from .types import FrameResult, Person

if TYPE_CHECKING:  # torch-free: a keypoints-only service never imports the body layer
    from .body.levels import MeshLevel

NO_PERSON = "no person detected"


def keypoints_2d_json(keypoints: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"name": name, "x": float(x), "y": float(y), "confidence": float(c)}
        for name, (x, y, c) in zip(BODY25_NAMES, keypoints)
    ]


def keypoints_3d_json(keypoints: Optional[np.ndarray]) -> list[dict[str, Any]]:
    if keypoints is None:
        return []
    return [{"name": name, "x": float(x), "y": float(y), "z": float(z)} for name, (x, y, z) in zip(BODY25_NAMES, keypoints)]


def _vector(value: Optional[np.ndarray]) -> Optional[list[float]]:
    return None if value is None else [float(v) for v in value]


MESH_DECIMALS = 4
"""Vertices are sent in metres rounded to 0.1 mm: far below any model's accuracy, and ~40 % less JSON."""


@dataclass(frozen=True)
class MeshOptions:
    """Which mesh a response carries: the level's vertices of every person with a body, and (``include_faces``)
    the level's triangles at the top level, encoded as ``encoding`` (``conventions.MESH_ENCODINGS``)."""

    level: "MeshLevel"
    include_faces: bool = True
    encoding: str = "json"
    selected: bool = False
    """The people's vertices are already the level's (:meth:`select`), not the full mesh's."""

    def select(self, vertices: np.ndarray) -> np.ndarray:
        """A person's vertices -> the level's."""
        return vertices if self.selected else self.level.select(vertices)


def mesh_options(levels: Optional[dict[str, "MeshLevel"]], include_mesh: bool, resolution: str,
                 include_faces: bool, encoding: str) -> Optional[MeshOptions]:
    """What a request asks for, on a backend with ``levels`` (None: it has no meshes)."""
    if levels is None or not include_mesh:
        return None
    return MeshOptions(levels[resolution], include_faces, encoding)


def mesh_json(vertices: np.ndarray, encoding: str = "json") -> Union[np.ndarray, str]:
    """(N, 3) vertices as sent: rounded float32 rows (orjson writes nested lists), or base64 of little-endian
    float32."""
    if encoding == "base64_float32":
        return base64.b64encode(np.asarray(vertices, "<f4").tobytes()).decode("ascii")
    return np.round(np.asarray(vertices, np.float32), MESH_DECIMALS)


_FACES_JSON: dict[tuple[int, str], tuple[np.ndarray, orjson.Fragment]] = {}
_FACES_JSON_KEPT = 16


def faces_json(faces: np.ndarray, encoding: str = "json") -> orjson.Fragment:
    """``faces`` (F, 3) as JSON (nested lists, or a base64 string of little-endian uint32), encoded once per array:
    identical in every frame, and ~470 kB for Anny's 27,420 triangles. Keyed by the array's identity (the entry
    holds the array, so the id cannot be reused)."""
    key = (id(faces), encoding)
    entry = _FACES_JSON.get(key)
    if entry is None or entry[0] is not faces:
        if encoding == "base64_float32":
            encoded = orjson.dumps(base64.b64encode(np.asarray(faces, "<u4").tobytes()).decode("ascii"))
        else:
            encoded = orjson.dumps(np.asarray(faces), option=orjson.OPT_SERIALIZE_NUMPY)
        if len(_FACES_JSON) >= _FACES_JSON_KEPT:
            _FACES_JSON.pop(next(iter(_FACES_JSON)))
        entry = _FACES_JSON[key] = (faces, orjson.Fragment(encoded))
    return entry[1]


def person_json(person: Person, mesh: Optional[MeshOptions]) -> dict[str, Any]:
    vertices = None
    if mesh is not None and person.vertices is not None:
        vertices = mesh_json(mesh.select(person.vertices), mesh.encoding)
    return {
        "track_id": person.track_id,
        "source": person.source,
        "bbox": [float(v) for v in person.bbox],
        "score": float(person.score),
        "keypoints": keypoints_2d_json(person.keypoints_2d),
        "keypoints_3d": keypoints_3d_json(person.keypoints_3d),
        "camera_translation": _vector(person.camera_translation),
        "body_model": person.body_model,
        "body_params": person.body_params,
        "mesh_vertices_data": vertices,
        "tracking_confidence": person.tracking_confidence,
        "fit_confidence": person.fit_confidence,
    }


def frame_response(
    result: FrameResult,
    backend: str,
    processing_time_ms: float,
    mesh: Optional[MeshOptions] = None,
) -> dict[str, Any]:
    """The response body; ``mesh`` None sends no vertices and no faces. numpy arrays are left as arrays and the
    faces as pre-encoded JSON: the app's orjson provider serialises both."""
    people = [person_json(p, mesh) for p in result.people]
    primary = people[0] if people else None
    return {
        "frame_number": result.frame_number,
        "video_id": result.video_id,
        "image_size": list(result.image_size),
        "focal_length_px": result.focal_length_px,
        "backend": backend,
        "has_3d": bool(result.people and result.people[0].body_params is not None),
        "keypoints": primary["keypoints"] if primary else [],
        "keypoints_3d": primary["keypoints_3d"] if primary else [],
        "keypoint_count": len(primary["keypoints"]) if primary else 0,
        "mesh_vertices_data": primary["mesh_vertices_data"] if primary else None,
        "mesh_faces_data": (faces_json(mesh.level.faces, mesh.encoding)
                            if mesh is not None and mesh.include_faces and primary and primary["mesh_vertices_data"] is not None
                            else None),
        "camera_translation": primary["camera_translation"] if primary else None,
        "tracking_confidence": primary["tracking_confidence"] if primary else None,
        "fit_confidence": primary["fit_confidence"] if primary else None,
        "processing_time_ms": round(processing_time_ms, 3),
        "error": None if people else NO_PERSON,
        "people": people,
    }


def session_summary(state: SessionState) -> dict[str, Any]:
    """``GET /sessions/<video_id>``: the video's counters, coverage and live tracks."""
    frame = state.last_frame_number if state.last_frame_number is not None else 0
    return {
        "video_id": state.video_id,
        "frames_seen": state.frames_seen,
        "frames_with_body": state.frames_with_body,
        "coverage": state.frames_with_body / state.frames_seen if state.frames_seen else None,
        "detected_count": state.detected_count,
        "predicted_count": state.predicted_count,
        "last_frame_number": state.last_frame_number,
        "restarts": state.restarts,
        "late_frames": state.late_frames,
        "primary_track_id": state.tracker.primary_id,
        "created_at": state.created_at,
        "last_seen_at": state.last_seen_at,
        "tracks": [
            {"track_id": t.track_id, "state": t.state(frame), "hits": t.hits, "frames_unseen": t.frames_unseen(frame)}
            for t in state.tracker.tracks
        ],
    }
