"""Nine body measurements (centimetres) of a body in its neutral pose, in the style of ISO 8559-1.

One algorithm over ``(vertices, faces, landmarks)`` (:func:`measure_mesh`); the landmarks carry what is particular
to a body model (:mod:`pose_service.measure.landmarks`). The mesh is upright in the service's camera axes (metres,
y down), pose zeroed (Anny's A-pose, SMPL's T-pose), shape kept, so "horizontal" is a plane ``y = level``.

A girth is what a tape reads: the perimeter of the convex hull of the body part's own section loop (the loop that
contains the part's axis point at that level; an arm or the other leg is a loop of its own and is left out).
Searched girths sample ``LEVELS`` horizontal planes evenly over their band and take the largest or smallest.

- height: top of the head to the sole, the vertical extent of the neutral mesh.
- chest: largest torso girth from the lowest rib up to ``CHEST_CLEARANCE`` below the armpits.
- waist: smallest torso girth between the top of the hip bone (iliac crest) and the lowest rib.
- hip: largest girth of the loop around the buttocks, which encloses both legs, from ``HIP_CLEARANCE`` above the
  crotch up to the top of the hip bone.
- thigh: largest leg girth over ``THIGH_BAND`` below the crotch, mean of both legs.
- neck: neck girth at the base of the neck, where the shoulder line flares into the neck.
- inseam: crotch to floor (the sole's level).
- shoulder_width: straight distance between the two acromion points.
- arm_length: acromion to elbow to wrist, mean of both arms, as along a hanging arm: the acromion's height above
  the shoulder joint plus the shoulder-elbow and elbow-wrist joint distances. A straight acromion-elbow line
  would cut the corner that raising the arm opens at the shoulder, by ~1 cm in Anny's A-pose and ~4 cm in a
  T-pose (SMPL's), where ISO measures a hanging arm.

Anny's own ``anny.Anthropometry`` computes the same height (the z extent of anny's rest mesh, whose pose differs
slightly from the adapter's zero pose: a few millimetres, at most ~1 cm). Its waist differs by definition: it is
the length of a fixed ring of 46 template vertices, which sits 1-3 cm below the top of the hip bone as placed
here, under the waist band where the torso widens into the pelvis, and which, as a polygon rather than a tape,
also follows the skin's shallow concavities (~0.5 cm). ISO's waist is the smallest tape girth between the lowest
rib and the top of the hip bone, located per body, so ours reads a few centimetres smaller.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pose_service.body.base import BodyModel
from pose_service.measure.geometry import MeshSections, point_at_level
from pose_service.measure.landmarks import Landmarks, body_landmarks

MEASUREMENTS: tuple[str, ...] = (
    "height", "chest", "waist", "hip", "thigh", "neck", "inseam", "shoulder_width", "arm_length",
)  # fmt: skip

LEVELS = 20
"""Planes sampled per searched torso girth."""
THIGH_LEVELS = 9
"""Planes sampled over ``THIGH_BAND`` (5 mm apart)."""
CHEST_CLEARANCE = 0.01
"""Metres between the armpit level and the highest chest plane: at the armpit the arm's loop joins the torso's."""
HIP_CLEARANCE = 0.005
"""Metres between the crotch and the lowest hip plane: at the crotch the legs' loops are just joining."""
THIGH_BAND = (0.01, 0.05)
"""Metres below the crotch searched for the thigh girth ("just below the crotch")."""

_CM = 100.0


def _girths(sections: MeshSections, axis: np.ndarray, levels: np.ndarray) -> list[float]:
    """Girths (metres) of the loops containing ``axis`` (N, 3, bottom to top) at ``levels``; levels where no loop
    contains the axis are skipped."""
    girths = (sections.girth(level, point_at_level(axis, level)) for level in levels)
    return [g for g in girths if g is not None]


def _extreme(values: list[float], pick) -> float:
    return pick(values) if values else math.nan


def measure_mesh(vertices: np.ndarray, faces: np.ndarray, landmarks: Landmarks) -> dict[str, float]:
    """The nine ``MEASUREMENTS`` in centimetres (NaN for a girth no level gives a loop for).

    Args:
        vertices: (V, 3) neutral mesh, metres, camera axes (y down), upright.
        faces: (F, 3) vertex indices.
        landmarks: the mesh's landmarks (same axes), e.g. from :func:`~pose_service.measure.landmarks.body_landmarks`.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    sections = MeshSections(vertices, faces)
    torso = landmarks.torso_axis
    floor = vertices[:, 1].max()
    crotch = landmarks.crotch[1]
    bands = {
        "chest": np.linspace(landmarks.armpit + CHEST_CLEARANCE, landmarks.lowest_rib, LEVELS),
        "waist": np.linspace(landmarks.lowest_rib, landmarks.hip_bone_top, LEVELS),
        "hip": np.linspace(landmarks.hip_bone_top, crotch - HIP_CLEARANCE, LEVELS),
        "thigh": np.linspace(crotch + THIGH_BAND[0], crotch + THIGH_BAND[1], THIGH_LEVELS),
    }
    sections.section_at(landmarks.neck_base, *np.concatenate(list(bands.values())))
    thighs = [_extreme(_girths(sections, axis, bands["thigh"]), max) for axis in landmarks.thigh_axis]
    neck = sections.girth(landmarks.neck_base, point_at_level(landmarks.neck_axis, landmarks.neck_base))
    arm = (
        np.linalg.norm(landmarks.shoulder - landmarks.acromion, axis=1)
        + np.linalg.norm(landmarks.elbow - landmarks.shoulder, axis=1)
        + np.linalg.norm(landmarks.wrist - landmarks.elbow, axis=1)
    )
    metres = {
        "height": floor - vertices[:, 1].min(),
        "chest": _extreme(_girths(sections, torso, bands["chest"]), max),
        "waist": _extreme(_girths(sections, torso, bands["waist"]), min),
        "hip": _extreme(_girths(sections, torso, bands["hip"]), max),
        "thigh": float(np.mean(thighs)),
        "neck": math.nan if neck is None else neck,
        "inseam": floor - crotch,
        "shoulder_width": np.linalg.norm(landmarks.acromion[0] - landmarks.acromion[1]),
        "arm_length": float(np.mean(arm)),
    }
    return {name: float(metres[name]) * _CM for name in MEASUREMENTS}


@torch.no_grad()
def neutral_body(model: BodyModel, shape: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3), keypoints (25, 3))`` float64 of ``model``'s body of ``shape`` (S,) in its neutral pose:
    pose and global orientation zero, camera axes, root-relative, metres."""
    shape = torch.as_tensor(shape, dtype=model.dtype, device=model.device).reshape(1, -1)
    global_orient, body_pose, _ = model.zero_params(1)
    output = model(global_orient, body_pose, shape)
    return output.vertices[0].double().cpu().numpy(), output.keypoints[0].double().cpu().numpy()


def measure_body(model: BodyModel, shape: torch.Tensor | np.ndarray) -> dict[str, float]:
    """The nine ``MEASUREMENTS`` (centimetres) of ``model``'s neutral body of ``shape`` (S,)."""
    vertices, _ = neutral_body(model, shape)
    return measure_mesh(vertices, model.faces, body_landmarks(model, shape, vertices))
