"""Body landmarks for the measurements, from a neutral mesh and its model's skeleton.

Everything is in metres in the vertices' axes (the service's camera axes: x right, y down, z forward, upright body
facing the camera, its left at +x); a *level* is a height ``y``.

Two steps:

1. Per body model, a :class:`Skeleton`: the joint centres the definitions need, by anatomical role, and the two
   torso levels no joint marks (top of the hip bone, lowest rib), placed by the model's spine joints
   (:func:`anny_skeleton`, :func:`smpl_skeleton`).
2. Shared by every model, :func:`landmarks_from_skeleton` finds the rest on the mesh:

   - acromion (left, right): the skin straight above the shoulder joint centre (a vertical ray's exit). The bony
     acromion tip sits on the humeral head, a centimetre or two lateral of this point, so shoulder width reads a
     little under a bony biacromial breadth.
   - crotch: the highest level at which the left and right thighs are still separate section loops (found by
     bisection), at the hip joints' mid point in x and z.
   - armpit: the highest level below the shoulder joints at which both upper arms are loops of their own, apart
     from the torso's (so the lower armpit of the two).
   - neck base: going up the neck from the neck joint, the first level at which the neck is no more than
     ``NECK_FLARE`` times as wide as at its narrowest, i.e. where the shoulder line has turned into the neck.

The loops are :class:`~pose_service.measure.geometry.MeshSections` loops, picked by the point of the body part's
axis at that level (torso: the spine joints; thigh: hip joint to knee; upper arm: shoulder joint to elbow; neck:
neck joint to head joint). Where the mesh does not give a landmark (a degenerate mesh) the joint it is looked for
from stands in, so the landmarks are always finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import roma
import torch

from pose_service.measure.geometry import MeshSections, plane_point, point_at_level

if TYPE_CHECKING:
    from pose_service.body.anny_model import AnnyModel
    from pose_service.body.base import BodyModel
    from pose_service.body.smpl_model import SMPLModel

# Bisections stop when the bracket is this small (metres).
_LEVEL_TOLERANCE = 2e-3

NECK_LEVELS = 24
"""Levels scanned from the neck joint to the head joint for the neck base."""
NECK_FLARE = 1.25
"""The neck base is where the neck has narrowed to this factor of its narrowest width: below it the trapezius
slopes out into the shoulder line. (The slope itself is no test: a muscular trapezius rises at 45 degrees or more.)"""

# Anny bones (anny 0.6.2 rig) whose heads are the joint centres. "spine05".."spine01" run up the back from the
# pelvis (spine05's head is the root); "neck01"'s head is the base of the neck (about C7).
ANNY_BONES: dict[str, str | tuple[str, ...]] = {
    "hips": ("upperleg01.L", "upperleg01.R"),
    "knees": ("lowerleg01.L", "lowerleg01.R"),
    "shoulders": ("upperarm01.L", "upperarm01.R"),
    "elbows": ("lowerarm01.L", "lowerarm01.R"),
    "wrists": ("wrist.L", "wrist.R"),
    "spine": ("spine05", "spine04", "spine03", "spine02", "spine01", "neck01"),
    "head": "head",
}
# Anny levels by bone head. On the average body spine03's head is 14 cm above the hip joints and spine02's 22 cm,
# about where adult proportions put the top of the iliac crest and the lower costal margin (lowest rib).
ANNY_HIP_BONE_TOP = "spine03"
ANNY_LOWEST_RIB = "spine02"

# SMPL joints by name (``smpl_model.SMPL_JOINT_NAMES``, the joint regressor's 24). Its spine joints are spaced
# unlike Anny's: in the neutral template the pelvis joint is ~9 cm above the hip joints and spine1 ~20 cm, at the
# lower costal margin (about L2-L3); the top of the iliac crest (L4, ~14 cm) is halfway between them.
SMPL_JOINTS: dict[str, str | tuple[str, ...]] = {
    "hips": ("left_hip", "right_hip"),
    "knees": ("left_knee", "right_knee"),
    "shoulders": ("left_shoulder", "right_shoulder"),
    "elbows": ("left_elbow", "right_elbow"),
    "wrists": ("left_wrist", "right_wrist"),
    "spine": ("pelvis", "spine1", "spine2", "spine3", "neck"),
    "head": "head",
}


@dataclass(frozen=True)
class Skeleton:
    """Joint centres of a body (metres, the vertices' axes); pairs are (left, right).

    hips, knees, shoulders, elbows, wrists: (2, 3). spine: (N, 3) from the pelvis up to the neck joint at the base
    of the neck, the torso's axis. head: (3,) the head joint (top of the neck). hip_bone_top, lowest_rib: levels.
    """

    hips: np.ndarray
    knees: np.ndarray
    shoulders: np.ndarray
    elbows: np.ndarray
    wrists: np.ndarray
    spine: np.ndarray
    head: np.ndarray
    hip_bone_top: float
    lowest_rib: float


@dataclass(frozen=True)
class Landmarks:
    """What :func:`pose_service.measure.body.measure_mesh` needs (metres, the vertices' axes, y down).

    acromion, shoulder (joint centre), elbow, wrist: (2, 3) (left, right). crotch: (3,). torso_axis: (N, 3) from
    the pelvis up to the base of the neck, y decreasing. thigh_axis: (2, 2, 3) per side (knee, hip joint).
    neck_axis: (2, 3) (neck joint, head joint). Levels (heights y): hip_bone_top (top of the iliac crest),
    lowest_rib, armpit, neck_base.
    """

    acromion: np.ndarray
    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    crotch: np.ndarray
    torso_axis: np.ndarray
    thigh_axis: np.ndarray
    neck_axis: np.ndarray
    hip_bone_top: float
    lowest_rib: float
    armpit: float
    neck_base: float


# ------------------------------------------------------------------------------------------------------ skeletons
def _pick(points: dict[str, np.ndarray], name: str | tuple[str, ...]) -> np.ndarray:
    return points[name] if isinstance(name, str) else np.stack([points[n] for n in name])


def _skeleton(points: dict[str, np.ndarray], names: dict, hip_bone_top: float, lowest_rib: float) -> Skeleton:
    return Skeleton(**{role: _pick(points, name) for role, name in names.items()}, hip_bone_top=hip_bone_top,
                    lowest_rib=lowest_rib)  # fmt: skip


def _as_batch(shape: torch.Tensor | np.ndarray, model: BodyModel) -> torch.Tensor:
    return torch.as_tensor(shape, dtype=model.dtype, device=model.device).reshape(1, -1)


@torch.no_grad()
def anny_skeleton(
    model: AnnyModel, shape: torch.Tensor | np.ndarray, body_pose: torch.Tensor | None = None
) -> Skeleton:
    """Anny's joint centres (``ANNY_BONES``: bone heads) in the adapter's camera axes.

    Args:
        model: the Anny adapter.
        shape: (S,) phenotype logits, as in :meth:`BodyModel.forward`.
        body_pose: (J, 3) as in :meth:`BodyModel.forward`; None is the neutral pose.
    """
    shape = _as_batch(shape, model)
    global_orient, zero_pose, _ = model.zero_params(1)
    pose = zero_pose if body_pose is None else body_pose.to(zero_pose).reshape(zero_pose.shape)
    # The adapter's pose as anny deltas (every other bone at identity); the bone poses' translations are the heads.
    deltas = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(1, model.full.bone_count, 1, 1)
    deltas[:, model.pose_bone_index, :3, :3] = roma.rotvec_to_rotmat(pose)
    native = model.full(pose_parameters=deltas, phenotype_kwargs=torch.sigmoid(shape))
    heads = native["bone_poses"][:, :, :3, 3]
    native_keypoints = torch.einsum("kv,bvd->bkd", model.regressor, native["vertices"])
    (heads,) = model._to_camera(global_orient, native_keypoints, heads)
    points = dict(zip(model.full.bone_labels, heads[0].double().cpu().numpy()))
    return _skeleton(points, ANNY_BONES, points[ANNY_HIP_BONE_TOP][1], points[ANNY_LOWEST_RIB][1])


@torch.no_grad()
def smpl_skeleton(model: SMPLModel, shape: torch.Tensor | np.ndarray) -> Skeleton:
    """SMPL's joint centres in the neutral (T-) pose (``SMPL_JOINTS``), in the adapter's camera axes.

    Args:
        model: the SMPL adapter.
        shape: (S,) betas.
    """
    from pose_service.body.smpl_model import SMPL_JOINT_NAMES

    shape = _as_batch(shape, model)
    global_orient, body_pose, _ = model.zero_params(1)
    joints = model.forward_joints(global_orient, body_pose, shape).joints[0].double().cpu().numpy()
    points = dict(zip(SMPL_JOINT_NAMES, joints))
    hip_bone_top = 0.5 * (points["pelvis"][1] + points["spine1"][1])
    return _skeleton(points, SMPL_JOINTS, hip_bone_top, points["spine1"][1])


# ------------------------------------------------------------------------------------------------------ landmarks
def _highest_true(predicate, low: float, high: float) -> float:
    """The highest level in [high, low] (``high`` above, i.e. smaller y) where ``predicate`` holds, by bisection:
    it is assumed to hold at ``low`` and, once it fails going up, to stay failed. ``high`` if it holds there,
    ``low`` if it fails there too."""
    if predicate(high):
        return high
    if not predicate(low):
        return low
    while low - high > _LEVEL_TOLERANCE:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if predicate(middle) else (low, middle)
    return low


def _segment_point(bottom: np.ndarray, top: np.ndarray, level: float) -> np.ndarray:
    """(3,) the point of segment ``bottom``-``top`` at ``level``, clamped to its ends; a level segment gives its
    ``bottom`` end (a T-posed upper arm, its elbow)."""
    span = bottom[1] - top[1]
    t = 0.0 if abs(span) < 1e-9 else float(np.clip((bottom[1] - level) / span, 0.0, 1.0))
    return bottom + t * (top - bottom)


def _crotch(sections: MeshSections, skeleton: Skeleton) -> np.ndarray:
    """(3,) the highest level where the thighs are separate loops, at the hip joints' mid point in x and z."""
    thighs = np.stack([skeleton.knees, skeleton.hips], axis=1)  # (2 sides, knee/hip, 3)

    def apart(level: float) -> bool:
        left = sections.loop_containing(level, point_at_level(thighs[0], level))
        return left is not None and not left.contains(plane_point(point_at_level(thighs[1], level)))

    level = _highest_true(apart, skeleton.knees[:, 1].min(), skeleton.spine[0, 1])
    middle = skeleton.hips.mean(0)
    return np.array([middle[0], level, middle[2]])


def _armpit(sections: MeshSections, skeleton: Skeleton) -> float:
    """The armpit level of the lower armpit: the highest level below the shoulders at which neither upper arm's
    axis point is inside the torso's loop."""
    arms = list(zip(skeleton.elbows, skeleton.shoulders))

    def apart(level: float) -> bool:
        torso = sections.loop_containing(level, point_at_level(skeleton.spine, level))
        return torso is None or not any(torso.contains(plane_point(_segment_point(*arm, level))) for arm in arms)

    return _highest_true(apart, skeleton.lowest_rib, skeleton.shoulders[:, 1].max())


def _neck_base(sections: MeshSections, skeleton: Skeleton) -> float:
    """The lowest of ``NECK_LEVELS`` levels from the neck joint up to the head joint at which the neck is at most
    ``NECK_FLARE`` times as wide (left to right) as at its narrowest; the neck joint's level if the mesh gives
    no neck loop."""
    neck, head = skeleton.spine[-1], skeleton.head
    axis = np.stack([neck, head])
    levels = np.linspace(neck[1], head[1], NECK_LEVELS)
    sections.section_at(*levels)
    loops = [sections.loop_containing(level, point_at_level(axis, level)) for level in levels]
    widths = np.array([np.nan if loop is None else np.ptp(loop.points[:, 0]) for loop in loops])
    if np.isnan(widths).all():
        return float(neck[1])
    return float(levels[np.flatnonzero(widths <= NECK_FLARE * np.nanmin(widths))[0]])


def landmarks_from_skeleton(sections: MeshSections, skeleton: Skeleton) -> Landmarks:
    """The measurement landmarks of a neutral mesh (``sections``) whose joint centres are ``skeleton``."""
    acromion = []
    for shoulder in skeleton.shoulders:
        top = sections.surface_above(shoulder)
        acromion.append(shoulder if top is None else top)
    return Landmarks(
        acromion=np.stack(acromion),
        shoulder=skeleton.shoulders,
        elbow=skeleton.elbows,
        wrist=skeleton.wrists,
        crotch=_crotch(sections, skeleton),
        torso_axis=skeleton.spine,
        thigh_axis=np.stack([skeleton.knees, skeleton.hips], axis=1),
        neck_axis=np.stack([skeleton.spine[-1], skeleton.head]),
        hip_bone_top=float(skeleton.hip_bone_top),
        lowest_rib=float(skeleton.lowest_rib),
        armpit=_armpit(sections, skeleton),
        neck_base=_neck_base(sections, skeleton),
    )


def body_skeleton(model: BodyModel, shape: torch.Tensor | np.ndarray) -> Skeleton:
    """:func:`anny_skeleton` or :func:`smpl_skeleton` by ``model.name``."""
    skeletons = {"anny": anny_skeleton, "smpl": smpl_skeleton}
    if model.name not in skeletons:
        raise ValueError(f"No landmark definitions for body model {model.name!r} (have {sorted(skeletons)})")
    return skeletons[model.name](model, shape)


def body_landmarks(model: BodyModel, shape: torch.Tensor | np.ndarray, vertices: np.ndarray) -> Landmarks:
    """Landmarks of ``model``'s neutral body of ``shape`` (S,), whose mesh is ``vertices`` (V, 3)."""
    return landmarks_from_skeleton(MeshSections(vertices, model.faces), body_skeleton(model, shape))
