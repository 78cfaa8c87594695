"""A track's exports: body-model parameters per frame (``.npz``), the neutral-pose body (``.obj``, the avatar), its
per-frame results (JSON), and the avatar animated for Blender and the like (``.glb``, ``.bvh``).

``.npz`` arrays, one row per frame with a body (frame order): ``frame_numbers`` (N,), ``global_orient`` (N, 3) and
``body_pose`` (N, J, 3) axis-angle, ``transl`` (N, 3) metres (camera_translation: the root in the camera frame),
``fit_confidence`` (N,), and the aggregated shape: SMPL ``betas`` (10,), Anny ``phenotypes`` (6,) in [0, 1] with
``phenotype_labels`` and the fit's unconstrained ``shape`` (logits) — plus ``frame_shapes`` (N, S), the shape
each frame was fitted with. Axes and parameterisation as the service's responses (README, "Conventions"):
``body_model(global_orient, body_pose, shape)`` re-poses a frame's served mesh.

``.obj``: the neutral-pose body of the aggregated shape, metres, in the usual modelling axes (y up, the body facing
+z): the service's camera axes turned half a turn about x.

``.glb``: that body skinned to a skeleton of the BODY_25 keypoints, with the skeleton's motion over the track's
frames (:mod:`.gltf_export`); ``.bvh``: the skeleton and its motion alone (:mod:`.bvh_export`). Same axes and units;
the joints reproduce, per frame, the served mesh's keypoints plus ``camera_translation`` (:mod:`.skeleton_animation`).
"""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import trimesh

from ..body.base import BodyModel
from ..sessions.bodies import BodyHistory
from .body import neutral_body
from .bvh_export import bvh_text
from .gltf_export import glb_bytes
from .skeleton_animation import CAMERA_TO_Y_UP, track_animation

FORMATS = ("npz", "obj", "json", "glb", "bvh")
FILE_MIMETYPES = {"npz": "application/octet-stream", "obj": "text/plain", "glb": "model/gltf-binary",
                  "bvh": "text/plain"}


def npz_bytes(model: BodyModel, history: BodyHistory, shape: np.ndarray) -> bytes:
    arrays: dict[str, Any] = {
        "body_model": np.array(history.body_model),
        "frame_numbers": history.frames,
        "global_orient": history.global_orient,
        "body_pose": history.body_pose,
        "transl": history.translation,
        "fit_confidence": history.fit_confidence,
        "frame_shapes": history.shape,
    }
    if history.body_model == "smpl":
        arrays["betas"] = np.asarray(shape, np.float32)
    else:
        arrays["shape"] = np.asarray(shape, np.float32)
        arrays["phenotypes"] = 1.0 / (1.0 + np.exp(-np.asarray(shape, np.float64)))
        arrays["phenotype_labels"] = np.array(getattr(model, "phenotype_labels", []))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def obj_bytes(model: BodyModel, shape: np.ndarray) -> bytes:
    vertices, _ = neutral_body(model, shape)
    mesh = trimesh.Trimesh(vertices @ CAMERA_TO_Y_UP.T, model.faces, process=False)
    return mesh.export(file_type="obj").encode()


def file_bytes(fmt: str, model: BodyModel, history: BodyHistory, shape: np.ndarray, fps: float,
               lock: AbstractContextManager) -> bytes:
    """The export file of format ``fmt`` (one of ``FILE_MIMETYPES``) of a track's ``history`` and aggregated
    ``shape`` (S,); ``fps`` times the frames of ``glb`` and ``bvh``. ``lock``, the model's, is held while it runs
    (``glb`` and ``bvh``: for each batch of frames, see :func:`.skeleton_animation.frame_keypoints`)."""
    if fmt in ("npz", "obj"):
        with lock:
            return npz_bytes(model, history, shape) if fmt == "npz" else obj_bytes(model, shape)
    animation = track_animation(model, history, shape, lock)
    return glb_bytes(animation, model.faces, fps) if fmt == "glb" else bvh_text(animation, fps).encode()


def json_frames(history: BodyHistory) -> list[dict[str, Any]]:
    return [
        {
            "frame_number": int(frame),
            "camera_translation": history.translation[i].tolist(),
            "global_orient": history.global_orient[i].tolist(),
            "body_pose": history.body_pose[i].tolist(),
            "shape": history.shape[i].tolist(),
            "fit_confidence": None if np.isnan(history.fit_confidence[i]) else float(history.fit_confidence[i]),
        }
        for i, frame in enumerate(history.frames)
    ]
