"""A track's motion as BVH (Biovision hierarchy) text.

The skeleton and motion of :mod:`~pose_service.measure.skeleton_animation`: metres, y up (x right, z backward:
the service's camera axes turned half a turn about x). ``HIERARCHY``: the 25 BODY_25 joints rooted at
``mid_hip``, OFFSETs the rest pose's (the root's zero), each leaf closed by an ``End Site`` ``END_SITE_LENGTH``
further along its bone. Every joint has six channels, ``Xposition Yposition Zposition Zrotation Xrotation
Yrotation``: its translation from its parent in the parent's frame (the root's: its world position), which
replaces the OFFSET as Blender's importer reads it, and its rotation in the parent's frame, intrinsic Z then X
then Y (R = Rz Rx Ry), degrees. Position channels on every joint, not only the root: BODY_25 keypoints are
regressed from the skin, so their distances change from frame to frame, and rotations alone would miss them by
centimetres (module docstring of ``skeleton_animation``).

``MOTION``: one row per frame from the track's first frame with a body to its last, ``Frame Time`` 1 / fps; a
frame without a body in between is interpolated from its neighbours as glTF's ``LINEAR`` samplers do (positions
linearly, rotations along the shortest arc).
"""

from __future__ import annotations

import io

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..conventions import BODY25_NAMES
from .skeleton_animation import CHILDREN, PARENTS, SkeletonAnimation, topological_order

END_SITE_LENGTH = 0.05
"""Metres beyond each leaf joint, along its bone: where Blender puts the leaf bone's tail."""

CHANNELS = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
EULER_ORDER = "ZXY"
"""scipy's name for intrinsic rotations about Z, then X, then Y: the channel order."""


def _every_frame(animation: SkeletonAnimation) -> tuple[np.ndarray, np.ndarray]:
    """``(translations (M, J, 3), rotations (M, J, 3, 3))`` for each frame from the first with a body to the last,
    those without one interpolated (module docstring)."""
    keys = animation.frames
    if len(keys) == 1:
        return animation.translations, Rotation.from_quat(animation.rotations[0]).as_matrix()[None]
    frames = np.arange(keys[0], keys[-1] + 1)
    upper = np.clip(np.searchsorted(keys, frames), 1, len(keys) - 1)
    share = ((frames - keys[upper - 1]) / (keys[upper] - keys[upper - 1]))[:, None, None]
    translations = (1.0 - share) * animation.translations[upper - 1] + share * animation.translations[upper]
    rotations = np.stack([Slerp(keys, Rotation.from_quat(animation.rotations[:, joint]))(frames).as_matrix()
                          for joint in range(len(PARENTS))], axis=1)
    return translations, rotations


def _hierarchy(animation: SkeletonAnimation, joint: int, depth: int) -> list[str]:
    indent = "\t" * depth
    offset = animation.rest_offsets[joint]
    lines = [f"{indent}{'ROOT' if PARENTS[joint] < 0 else 'JOINT'} {BODY25_NAMES[joint]}", f"{indent}{{",
             f"{indent}\tOFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}", f"{indent}\t{CHANNELS}"]
    for child in CHILDREN[joint]:
        lines += _hierarchy(animation, child, depth + 1)
    if not CHILDREN[joint]:
        end = offset / np.linalg.norm(offset) * END_SITE_LENGTH
        lines += [f"{indent}\tEnd Site", f"{indent}\t{{", f"{indent}\t\tOFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}",
                  f"{indent}\t}}"]
    return lines + [f"{indent}}}"]


def bvh_text(animation: SkeletonAnimation, fps: float) -> str:
    """The BVH of ``animation`` at ``fps`` frames a second (module docstring)."""
    order = list(topological_order())  # the order the hierarchy lists the joints in, and so the channels
    root = order[0]
    translations, rotations = _every_frame(animation)
    count = len(translations)
    angles = Rotation.from_matrix(rotations[:, order].reshape(-1, 3, 3)).as_euler(EULER_ORDER, degrees=True)
    channels = np.concatenate([translations[:, order], angles.reshape(count, len(order), 3)], axis=-1)
    text = io.StringIO()
    text.write("\n".join(["HIERARCHY", *_hierarchy(animation, root, 0), "MOTION", f"Frames: {count}",
                          f"Frame Time: {1.0 / fps:.8f}"]) + "\n")
    np.savetxt(text, channels.reshape(count, -1), fmt="%.6f")
    return text.getvalue()
