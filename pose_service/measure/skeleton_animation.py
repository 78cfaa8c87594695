"""A track's skeleton and its motion, shared by the glTF and BVH exports.

Axes and units
    Metres, in the export axes: the service's camera axes (x right, y down, z forward) turned half a turn about x,
    so x right, y up, z backward (towards the camera); ``CAMERA_TO_Y_UP`` maps one to the other (``p @ M.T``). The
    camera is at the origin and looks along -z, as a glTF camera does; a body with ``global_orient = 0`` stands
    upright and faces +z.

Skeleton
    One joint per BODY_25 keypoint (``BODY25_NAMES`` order, so joint ``i`` is keypoint ``i``), joined by the bones
    of ``BODY25_LIMBS`` into a tree rooted at ``mid_hip``. Rest pose: the keypoints of the neutral body of the
    track's shape (the avatar of the ``.obj`` export, root at the origin), every joint's rotation the identity, so
    the rest joint frames are the export axes.

Motion, per frame with a body
    The joints' world positions are the body model's keypoints at the frame's parameters (``global_orient``,
    ``body_pose`` and the shape it was served with) plus its ``camera_translation``: the keypoints of the served
    mesh, in the camera frame; the served ``keypoints_3d`` are these before the tracker's One-Euro smoothing (the
    mesh and parameters are not smoothed). A joint's world rotation turns its rest bones onto the frame's: with two
    or more children the least-squares rotation of the bone vectors (Kabsch); with one, the parent's rotation
    followed by the smallest rotation that aims the parent-turned rest bone at the child (the limb keeps the body's
    twist); a leaf (wrist, ear, toe, heel) keeps its parent's rotation. Each joint carries, in its parent's frame,
    its rotation and its translation from the parent: the rest offset, turned and stretched to the frame's bone. The
    stretch is needed: BODY_25 keypoints are regressed from the skin, not joint centres, so their distances change
    with the pose (up to 2.4 cm on the synthetic walking clip with one shape) and with the per-frame shapes before a
    track's shape settles (up to 9 cm there). The root's translation is its position in the world.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..body.base import BodyModel
from ..conventions import BODY25_INDEX, BODY25_LIMBS, BODY25_NAMES, ROOT_NAME
from ..sessions.bodies import BodyHistory
from .body import neutral_body

CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])
"""Camera axes (y down, z forward) -> export axes (y up, z backward): half a turn about x."""

FORWARD_BATCH = 32
"""Frames per body-model call: the full mesh is posed (its keypoints are regressed from it), ~4 ms a frame."""

_ROOT = BODY25_INDEX[ROOT_NAME]


def _parents() -> tuple[int, ...]:
    """Each joint's parent (-1 for the root): ``BODY25_LIMBS`` oriented away from ``mid_hip``."""
    neighbours: dict[int, list[int]] = {i: [] for i in range(len(BODY25_NAMES))}
    for a, b in BODY25_LIMBS:
        neighbours[BODY25_INDEX[a]].append(BODY25_INDEX[b])
        neighbours[BODY25_INDEX[b]].append(BODY25_INDEX[a])
    parents, queue = {_ROOT: -1}, [_ROOT]
    while queue:
        joint = queue.pop(0)
        for other in neighbours[joint]:
            if other not in parents:
                parents[other] = joint
                queue.append(other)
    return tuple(parents[i] for i in range(len(BODY25_NAMES)))


PARENTS: tuple[int, ...] = _parents()
CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(c for c, p in enumerate(PARENTS) if p == joint) for joint in range(len(BODY25_NAMES)))


def topological_order(joint: int = _ROOT) -> Iterator[int]:
    """Joints depth first from ``joint``, each before its children (children in BODY_25 order)."""
    yield joint
    for child in CHILDREN[joint]:
        yield from topological_order(child)


@dataclass(frozen=True)
class SkeletonAnimation:
    """A track's skeleton (rest pose) and motion, in the export axes (see the module docstring).

    ``rest_positions`` (J, 3): joints in the rest pose, root at the origin. ``rest_vertices`` (V, 3): the avatar in
    the same pose and axes. ``frames`` (N,): frame numbers with a body, ascending. ``positions`` (N, J, 3): the
    joints in the world per frame. ``rotations`` (N, J, 4): each joint's rotation in its parent's frame (the
    root's: in the world), unit quaternions (x, y, z, w), consecutive ones on the same side (q and -q are the same
    rotation; interpolation takes the short way between neighbours). ``translations`` (N, J, 3): each joint's
    position in its parent's frame (the root's: in the world)."""

    rest_positions: np.ndarray
    rest_vertices: np.ndarray
    frames: np.ndarray
    positions: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray

    @property
    def rest_offsets(self) -> np.ndarray:
        """(J, 3) each joint's rest translation from its parent (the root's: zero)."""
        parents = np.array(PARENTS)
        offsets = self.rest_positions - self.rest_positions[np.maximum(parents, 0)]
        offsets[parents < 0] = 0.0
        return offsets


@torch.no_grad()
def frame_keypoints(model: BodyModel, history: BodyHistory, lock: AbstractContextManager = nullcontext()
                    ) -> np.ndarray:
    """(N, 25, 3) float64 keypoints of each of ``history``'s frames, camera axes, root-relative: the body model at the
    frame's parameters (those its mesh was served with). ``lock`` (the model's) is held for each batch, not
    throughout: a long track's export (~1 min for 18,000 frames) lets live frames' fits in between."""
    chunks = []
    for start in range(0, len(history), FORWARD_BATCH):
        rows = slice(start, start + FORWARD_BATCH)
        params = [torch.as_tensor(values[rows], dtype=model.dtype, device=model.device)
                  for values in (history.global_orient, history.body_pose, history.shape)]
        with lock:
            chunks.append(model(*params).keypoints.double().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, len(BODY25_NAMES), 3))


def track_animation(model: BodyModel, history: BodyHistory, shape: np.ndarray,
                    lock: AbstractContextManager = nullcontext()) -> SkeletonAnimation:
    """The skeleton of ``model``'s neutral body of ``shape`` (S,) and its motion over ``history``'s frames;
    ``lock``: the model's (see :func:`frame_keypoints`)."""
    with lock:
        rest_vertices, rest_keypoints = neutral_body(model, shape)
    world = frame_keypoints(model, history, lock) + np.asarray(history.translation, np.float64)[:, None]
    positions = world @ CAMERA_TO_Y_UP.T
    rest_positions = rest_keypoints @ CAMERA_TO_Y_UP.T
    world_rotations = _world_rotations(rest_positions, positions)
    rotations, translations = _local_transforms(world_rotations, positions)
    return SkeletonAnimation(rest_positions, rest_vertices @ CAMERA_TO_Y_UP.T, np.asarray(history.frames),
                             positions, rotations, translations)


def _world_rotations(rest: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(N, J, 3, 3) each joint's world rotation per frame (module docstring), parents before children."""
    count = len(positions)
    rotations = np.zeros((count, len(PARENTS), 3, 3))
    for joint in topological_order():
        parent = PARENTS[joint]
        inherited = np.broadcast_to(np.eye(3), (count, 3, 3)) if parent < 0 else rotations[:, parent]
        children = list(CHILDREN[joint])
        rest_bones = rest[children] - rest[joint]  # (C, 3)
        bones = positions[:, children] - positions[:, joint : joint + 1]  # (N, C, 3)
        if len(children) >= 2:
            rotations[:, joint] = _kabsch(rest_bones, bones)
        elif len(children) == 1:
            aimed = inherited @ rest_bones[0]
            rotations[:, joint] = _swing(aimed, bones[:, 0]) @ inherited
        else:
            rotations[:, joint] = inherited
    return rotations


def _kabsch(rest_bones: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations R minimising sum |R r_c - b_c|^2 over the bones, rest (C, 3) and per frame (N, C, 3)."""
    covariance = np.einsum("ci,ncj->nij", rest_bones, bones)
    u, _, vt = np.linalg.svd(covariance)
    reflection = np.sign(np.linalg.det(vt.transpose(0, 2, 1) @ u.transpose(0, 2, 1)))
    d = np.ones((len(bones), 3))
    d[:, 2] = reflection
    return vt.transpose(0, 2, 1) @ (d[:, :, None] * u.transpose(0, 2, 1))


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) the smallest rotations taking directions ``a`` to ``b`` (each (N, 3))."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    sine = np.linalg.norm(axis, axis=-1)
    angle = np.arctan2(sine, np.einsum("ni,ni->n", a, b))
    opposite = sine < 1e-9  # parallel or opposite: any axis across a (unused when the angle is 0)
    across = np.cross(a[opposite], np.where(np.abs(a[opposite, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis[opposite] = across
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def _local_transforms(world_rotations: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's (rotation quaternion (N, J, 4), translation (N, J, 3)) in its parent's frame."""
    local_rotations = world_rotations.copy()
    translations = positions.copy()
    for joint, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        parent_inverse = world_rotations[:, parent].transpose(0, 2, 1)
        local_rotations[:, joint] = parent_inverse @ world_rotations[:, joint]
        translations[:, joint] = np.einsum("nij,nj->ni", parent_inverse, positions[:, joint] - positions[:, parent])
    count, joints = positions.shape[:2]
    quaternions = Rotation.from_matrix(local_rotations.reshape(-1, 3, 3)).as_quat().reshape(count, joints, 4)
    # q and -q are one rotation: keep each on its predecessor's side, so interpolation turns the short way.
    turned = np.einsum("njk,njk->nj", quaternions[1:], quaternions[:-1]) < 0
    quaternions[1:] *= np.cumprod(np.where(turned, -1.0, 1.0), axis=0)[..., None]
    return quaternions, translations
