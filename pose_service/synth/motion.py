"""Smooth, periodic body motions for Anny's posable bones (``pose_service.body.anny_model.POSE_BONES``).

Rotation vectors are in Anny's native axes (the pose is "local-ref": world-aligned axes, chained parent to child):
X is the subject's left, Y points backwards (the body faces -Y), Z up. So for a limb hanging down, a positive
rotation about X swings it backwards, and a positive rotation about Y moves it towards the subject's right. Anny's
rest pose is an A-pose (arms ~45 degrees out): ``ARMS_DOWN`` about Y brings the arms to the sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..body.anny_model import POSE_BONES

_BONE = {name: i for i, name in enumerate(POSE_BONES)}
X, Y, Z = np.eye(3)
ARMS_DOWN = 0.6  # radians

Motion = Callable[[float], np.ndarray]
"""t (seconds) -> (18, 3) body_pose for Anny's POSE_BONES."""


def _pose(rotations: dict[str, np.ndarray]) -> np.ndarray:
    pose = np.zeros((len(POSE_BONES), 3))
    for bone, rotvec in rotations.items():
        pose[_BONE[bone]] = rotvec
    return pose


def walk(t: float, cadence_hz: float = 0.9, stride: float = 0.45) -> np.ndarray:
    """A walking gait: legs swing in antiphase, knees bend on the swing, arms swing against the legs."""
    phase = 2 * math.pi * cadence_hz * t
    swing = stride * math.sin(phase)
    return _pose({
        "upperleg01.L": -swing * X, "upperleg01.R": swing * X,
        "lowerleg01.L": 0.9 * max(0.0, math.sin(phase + 1.2)) * X,
        "lowerleg01.R": 0.9 * max(0.0, math.sin(phase + 1.2 + math.pi)) * X,
        "upperarm01.L": 0.6 * swing * X + ARMS_DOWN * Y, "upperarm01.R": -0.6 * swing * X - ARMS_DOWN * Y,
        "lowerarm01.L": -0.35 * X, "lowerarm01.R": -0.35 * X,
        "spine02": 0.05 * math.sin(2 * phase) * X,
    })  # fmt: skip


def wave(t: float, rate_hz: float = 1.2) -> np.ndarray:
    """Standing, the right arm raised sideways and waving at the elbow, the left arm relaxed."""
    phase = 2 * math.pi * rate_hz * t
    return _pose({
        "upperarm01.R": 1.9 * Y + 0.2 * X, "lowerarm01.R": (0.6 + 0.45 * math.sin(phase)) * Y,
        "upperarm01.L": ARMS_DOWN * Y, "lowerarm01.L": -0.2 * X,
        "head": 0.15 * math.sin(phase / 2) * Z,
    })  # fmt: skip


def squat(t: float, rate_hz: float = 0.4) -> np.ndarray:
    """Slow squats with the arms held forwards for balance."""
    depth = 0.5 - 0.5 * math.cos(2 * math.pi * rate_hz * t)  # 0 standing .. 1 deepest
    return _pose({
        "upperleg01.L": -1.3 * depth * X, "upperleg01.R": -1.3 * depth * X,
        "lowerleg01.L": 2.0 * depth * X, "lowerleg01.R": 2.0 * depth * X,
        "foot.L": -0.7 * depth * X, "foot.R": -0.7 * depth * X,
        "spine02": -0.35 * depth * X,
        "upperarm01.L": -1.2 * depth * X + ARMS_DOWN * Y, "upperarm01.R": -1.2 * depth * X - ARMS_DOWN * Y,
    })  # fmt: skip


MOTIONS: dict[str, Motion] = {"walk": walk, "wave": wave, "squat": squat}
