"""The one place that states the service's keypoint and coordinate conventions.

Keypoints
    OpenPose BODY_25 order, snake_case names (``BODY25_NAMES``). Every keypoint list the service returns has all
    25 entries in this order; a keypoint the model cannot give has confidence 0.

2D keypoints
    ``{"name", "x", "y", "confidence"}`` in pixels of the submitted image, origin at the top-left corner,
    x to the right, y down. ``confidence`` is in [0, 1].

3D keypoints and meshes
    ``{"name", "x", "y", "z"}`` / ``[x, y, z]`` in metres, in camera axes (x right, y down, z forward, away from
    the camera), relative to the body root (``ROOT_NAME``, the mid-hip point).

Mesh resolutions
    ``MESH_RESOLUTIONS``: a served mesh is the body model's full mesh, or a coarser level of it whose vertices are a
    subset of the full mesh's (exact positions, not approximations) with its own triangles: ``vertex_indices`` into
    the full mesh and the triangles come from ``GET /mesh/faces?mesh_resolution=...``.

Camera
    ``camera_translation`` is the root's position in the camera frame (metres, same axes), so that a root-relative
    point ``p`` lies at ``p + camera_translation`` in the camera frame. The camera is a pinhole with focal length
    ``focal_length_px`` (the request's, or ``default_focal_length``) and its principal point at the image centre.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

BODY25_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)
BODY25_INDEX: dict[str, int] = {name: i for i, name in enumerate(BODY25_NAMES)}
NUM_KEYPOINTS = len(BODY25_NAMES)

MESH_RESOLUTIONS: dict[str, Optional[int]] = {"full": None, "high": 6000, "medium": 1300, "low": 400}
"""Mesh levels by name: about how many vertices each keeps (None: all of the body model's)."""
DEFAULT_MESH_RESOLUTION = "high"
"""What a request that names none gets: Anny's full mesh is 470 kB of triangles and 330 kB of vertices in JSON per
frame, which a client storing every frame pays for nothing it can see (the levels are the same surface)."""
MESH_ENCODINGS = ("json", "base64_float32")
"""``json``: nested lists; ``base64_float32``: vertices as base64 of little-endian float32 (V*3, row-major) and
triangles as base64 of little-endian uint32 (F*3)."""

ROOT_NAME = "mid_hip"

# The 12 body joints used for PCK-style scoring (shoulders to ankles).
BODY12_NAMES: tuple[str, ...] = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
BODY12_INDICES = np.array([BODY25_INDEX[name] for name in BODY12_NAMES])
"""Their rows in BODY_25 arrays."""

# COCO-17 order (ground-truth files, evaluation).
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# The skeleton's bones as (parent, child) names, for drawing and limb-length terms.
BODY25_LIMBS: tuple[tuple[str, str], ...] = (
    ("neck", "nose"), ("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"), ("left_eye", "left_ear"),
    ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("neck", "mid_hip"), ("mid_hip", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("mid_hip", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_ankle", "right_heel"), ("right_ankle", "right_big_toe"), ("right_big_toe", "right_small_toe"),
    ("left_ankle", "left_heel"), ("left_ankle", "left_big_toe"), ("left_big_toe", "left_small_toe"),
)

# The parts other modules reason about (fitting, tracking, evaluation), by name and as BODY_25 rows.
TORSO_NAMES: tuple[str, ...] = ("right_shoulder", "left_shoulder", "left_hip", "right_hip")
"""The torso's corners, in order around it (a polygon)."""
TORSO: tuple[int, ...] = tuple(BODY25_INDEX[name] for name in TORSO_NAMES)
LIMB_SEGMENT_NAMES: tuple[tuple[str, str], ...] = tuple(
    (f"{side}_{a}", f"{side}_{b}")
    for side in ("right", "left")
    for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"))
)
"""Upper arm, forearm, thigh and shin of each side, (proximal, distal)."""
LIMB_SEGMENTS: tuple[tuple[int, int], ...] = tuple((BODY25_INDEX[a], BODY25_INDEX[b]) for a, b in LIMB_SEGMENT_NAMES)
HINGES: tuple[tuple[int, int, int, float], ...] = tuple(
    (BODY25_INDEX[f"{side}_{a}"], BODY25_INDEX[f"{side}_{b}"], BODY25_INDEX[f"{side}_{c}"], sign)
    for side in ("left", "right")
    for a, b, c, sign in (("hip", "knee", "ankle", 1.0), ("shoulder", "elbow", "wrist", -1.0))
)
"""Knees and elbows as (proximal, joint, distal, sign): the sign of (upper x lower) . the subject's left axis for
a normal bend. Knees flex backwards (+1), elbows forwards (-1); both hold in any global orientation."""

# Left/right pairs, e.g. for mirroring and for symmetric limb-length terms.
BODY25_FLIP_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (name, "right_" + name[len("left_"):]) for name in BODY25_NAMES if name.startswith("left_")
)


def default_focal_length(width: int, height: int) -> float:
    """Focal length in pixels assumed when a request gives none: ``max(width, height)``.

    That is a field of view of about 53 degrees across the longer side, typical of phone and webcam video.
    """
    return float(max(width, height))


def project_points(points, focal, centre, min_depth: Optional[float] = None):
    """The pinhole projection, the one used everywhere: (..., 3) camera-frame points -> (..., 2) pixels,
    ``focal * (x, y) / z + centre``. Works on numpy arrays and torch tensors alike (``focal`` a number or (fx, fy),
    ``centre`` (2,) of the same kind as ``points``); ``min_depth`` clamps z (an optimiser's points can cross it)."""
    depth = points[..., 2:3]
    if min_depth is not None:
        depth = depth.clip(min=min_depth)
    return focal * points[..., :2] / depth + centre


def project(points: np.ndarray, focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """:func:`project_points` with the service's camera: the principal point at the centre of the ``(width,
    height)`` image."""
    return project_points(points, focal_length, np.array(image_size, dtype=np.float64) / 2)
