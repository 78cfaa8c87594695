"""Draw a /pose/hybrid response over its frame: each person's mesh (when sent) and BODY_25 skeleton.

Works on the response JSON as the API sends it (lists or arrays), so the same code draws live service output
(``scripts/render_overlay.py``) and in-process results (``frame_response``). Colours follow the track id; predicted
and interpolated people are drawn with dashed-looking thin bones and a label.
"""

from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from ..conventions import BODY25_INDEX, BODY25_LIMBS
from .camera import PinholeCamera
from .mesh import Mesh, render_meshes

PALETTE = ((0.95, 0.55, 0.15), (0.2, 0.6, 0.95), (0.3, 0.85, 0.35), (0.9, 0.3, 0.6), (0.95, 0.85, 0.2),
           (0.6, 0.4, 0.9))  # fmt: skip
_LIMBS = [(BODY25_INDEX[a], BODY25_INDEX[b]) for a, b in BODY25_LIMBS]


def track_color(track_id: Optional[int]) -> tuple[float, float, float]:
    return PALETTE[(track_id or 0) % len(PALETTE)]


def draw_response(image_rgb: np.ndarray, response: dict[str, Any], faces: Optional[np.ndarray] = None,
                  mesh_alpha: float = 0.55, min_confidence: float = 0.3) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the response's people drawn on it. ``faces``: the mesh triangles when the response
    was sent without them (``include_faces: false``, or from ``GET /mesh/faces``)."""
    height, width = image_rgb.shape[:2]
    faces = response.get("mesh_faces_data") if faces is None else faces
    camera = PinholeCamera.for_image(width, height, response.get("focal_length_px"))
    meshes = [
        Mesh(np.asarray(p["mesh_vertices_data"], float) + np.asarray(p["camera_translation"], float),
             np.asarray(faces), track_color(p["track_id"]))
        for p in response["people"]
        if p.get("mesh_vertices_data") is not None and p.get("camera_translation") is not None and faces is not None
    ]
    canvas = render_meshes(meshes, camera, image_rgb, alpha=mesh_alpha).image if meshes else image_rgb.copy()
    for person in response["people"]:
        color = tuple(int(255 * c) for c in track_color(person["track_id"]))
        detected = person["source"] == "detected"
        points = np.array([(k["x"], k["y"], k["confidence"]) for k in person["keypoints"]])
        for a, b in _LIMBS:
            if min(points[a, 2], points[b, 2]) >= min_confidence:
                cv2.line(canvas, tuple(np.int32(points[a, :2])), tuple(np.int32(points[b, :2])), color,
                         2 if detected else 1, cv2.LINE_AA)
        for x, y, c in points:
            if c >= min_confidence:
                cv2.circle(canvas, (int(x), int(y)), 3 if detected else 2, color, -1, cv2.LINE_AA)
        x, y, _, _ = person["bbox"]
        label = f"id {person['track_id']}" + ("" if detected else f" ({person['source']})")
        cv2.putText(canvas, label, (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1,
                    cv2.LINE_AA)
    return canvas
