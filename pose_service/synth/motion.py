"""Smooth, periodic body motions for Anny's posable bones (``pose_service.body.anny_model.POSE_BONES``).

Rotation vectors are in Anny's native axes (the pose is "local-ref": world-aligned axes, chained parent to child):
X is the subject's left, Y points backwards (the body faces -Y), Z up. So for a limb hanging down, a positive
rotation about X swings it backwards, and a positive rotation about Y moves it towards the subject's right; for a
bone pointing up (spine, neck, head) a positive rotation about X tips it forwards, and one about Z turns it to the
left. A bone's rotation acts in its rest pose, before its parent's: a knee's is relative to the thigh. Anny's rest
pose is an A-pose (arms ~45 degrees out, elbows bent ~40 degrees): ``ARMS_DOWN`` about Y brings the arms to the
sides, ``ELBOW_L`` is the left elbow's hinge, and :func:`_mirror` turns a left-side rotation into the right side's.

A pose far from upright (on all fours, bent double) also tips the whole body: :attr:`Pose.pitch` rotates it forwards
about its left-right axis through the root, after the bone rotations, which therefore stay relative to the body (a
thigh at ``-pitch`` about X hangs straight down in the world). The renderer puts the lowest vertex on the ground, so
a motion needs no height: a kneeling knee or the hands and knees on all fours land on it when they are the lowest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

from ..body.anny_model import POSE_BONES

_BONE = {name: i for i, name in enumerate(POSE_BONES)}
X, Y, Z = np.eye(3)
ARMS_DOWN = 0.6  # radians
ELBOW_L = np.array([-0.76, 0.0, -0.65])
"""Unit axis of the left elbow's hinge in the rest pose (across the A-pose's upper arm and forearm): a positive
rotation about it bends the elbow further, a negative one straightens it."""


class Pose(NamedTuple):
    """A motion's output at one time."""

    body_pose: np.ndarray
    """(18, 3) rotation vectors for Anny's POSE_BONES, native axes."""
    pitch: float = 0.0
    """Radians the whole body tips forward about its left-right axis (0: upright)."""


Motion = Callable[[float], Pose]
"""t (seconds) -> the body's pose at that time."""


def _pose(rotations: dict[str, np.ndarray], pitch: float = 0.0) -> Pose:
    body_pose = np.zeros((len(POSE_BONES), 3))
    for bone, rotvec in rotations.items():
        body_pose[_BONE[bone]] = rotvec
    return Pose(body_pose, pitch)


def walk(t: float, cadence_hz: float = 0.9, stride: float = 0.45) -> Pose:
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


def wave(t: float, rate_hz: float = 1.2) -> Pose:
    """Standing, the right arm raised sideways and waving at the elbow, the left arm relaxed."""
    phase = 2 * math.pi * rate_hz * t
    return _pose({
        "upperarm01.R": 1.9 * Y + 0.2 * X, "lowerarm01.R": (0.6 + 0.45 * math.sin(phase)) * Y,
        "upperarm01.L": ARMS_DOWN * Y, "lowerarm01.L": -0.2 * X,
        "head": 0.15 * math.sin(phase / 2) * Z,
    })  # fmt: skip


def squat(t: float, rate_hz: float = 0.4) -> Pose:
    """Slow squats with the arms held forwards for balance."""
    depth = 0.5 - 0.5 * math.cos(2 * math.pi * rate_hz * t)  # 0 standing .. 1 deepest
    return _pose({
        "upperleg01.L": -1.3 * depth * X, "upperleg01.R": -1.3 * depth * X,
        "lowerleg01.L": 2.0 * depth * X, "lowerleg01.R": 2.0 * depth * X,
        "foot.L": -0.7 * depth * X, "foot.R": -0.7 * depth * X,
        "spine02": -0.35 * depth * X,
        "upperarm01.L": -1.2 * depth * X + ARMS_DOWN * Y, "upperarm01.R": -1.2 * depth * X - ARMS_DOWN * Y,
    })  # fmt: skip


def _peak(t: float, rate_hz: float) -> float:
    """1 at t = 0 and every 1 / rate_hz seconds, 0 half-way between: a smooth cycle at its extreme at t = 0."""
    return 0.5 + 0.5 * math.cos(2 * math.pi * rate_hz * t)


def _compose(*rotvecs: np.ndarray) -> np.ndarray:
    """The rotation vector of ``rotvecs`` applied in turn, the first first, all about the same fixed axes."""
    rotation = Rotation.identity()
    for rotvec in rotvecs:
        rotation = Rotation.from_rotvec(rotvec) * rotation
    return rotation.as_rotvec()


def _mirror(rotvec: np.ndarray) -> np.ndarray:
    """The left-side rotation ``rotvec`` for the right side (reflected in the body's mid plane)."""
    return rotvec * np.array([1.0, -1.0, -1.0])


def snowboard_stance(t: float, rate_hz: float = 0.3) -> Pose:
    """A crouched sideways stance, the board along the body's left-right axis, left foot leading: knees bent
    60-95 degrees, hips flexed, torso leant forward and turned towards the left, arms out; deepest at t = 0."""
    crouch = _peak(t, rate_hz)
    knee, hip = 1.05 + 0.6 * crouch, 0.7 + 0.45 * crouch
    thigh = -hip * X - 0.25 * Y  # flexed and spread: feet about one and a half shoulder widths apart
    arm = -0.8 * Y - 0.3 * X  # out to the side, a little forwards
    return _pose({
        "upperleg01.L": thigh, "upperleg01.R": _mirror(thigh),
        "lowerleg01.L": knee * X, "lowerleg01.R": knee * X,
        "foot.L": (hip - knee) * X, "foot.R": (hip - knee) * X,  # soles flat
        "spine04": 0.3 * X + 0.2 * Z, "spine02": 0.15 * X + 0.25 * Z, "head": 0.5 * Z,
        "upperarm01.L": arm, "upperarm01.R": _mirror(arm), "lowerarm01.L": -0.4 * X, "lowerarm01.R": -0.4 * X,
    })  # fmt: skip


def bend(t: float, rate_hz: float = 0.25) -> Pose:
    """Bending forward at the hips and spine to reach the shins, and back up; deepest at t = 0. The legs stay
    vertical (flexed at the hips by as much as the body tips) and the arms hang, a little back towards the shins."""
    depth = _peak(t, rate_hz)
    hip, spine = 1.3 * depth, 0.8 * depth
    arm = _compose(ARMS_DOWN * Y, (0.9 * depth - hip - spine) * X)
    return _pose({
        "upperleg01.L": -hip * X, "upperleg01.R": -hip * X,
        "lowerleg01.L": 0.15 * depth * X, "lowerleg01.R": 0.15 * depth * X,
        "spine04": 0.45 * depth * X, "spine02": 0.35 * depth * X, "neck01": -0.2 * depth * X,
        "upperarm01.L": arm, "upperarm01.R": _mirror(arm),
    }, pitch=hip)  # fmt: skip


def kneel(t: float, rate_hz: float = 0.2) -> Pose:
    """Kneeling on the right knee (thigh vertical, shin and instep on the ground), the left foot flat in front, the
    left hand on the left knee; the torso sways gently."""
    sway = math.sin(2 * math.pi * rate_hz * t)
    return _pose({
        "lowerleg01.R": 1.45 * X, "foot.R": 1.35 * X,
        "upperleg01.L": -1.57 * X, "lowerleg01.L": 1.57 * X,
        "spine02": 0.08 * sway * X, "head": 0.2 * sway * Z,
        "upperarm01.L": _compose((ARMS_DOWN + 0.2) * Y, -0.7 * X), "lowerarm01.L": -0.45 * ELBOW_L,
        "upperarm01.R": -ARMS_DOWN * Y, "lowerarm01.R": -0.3 * X,
    })  # fmt: skip


def all_fours(t: float, rate_hz: float = 0.25, pitch: float = 1.4) -> Pose:
    """On hands and knees, rocking slowly forwards and back: thighs and arms vertical (flexed by as much as the body
    tips), elbows a little bent, shins and insteps on the ground, palms flat, looking ahead. The arms are longer
    than the thighs, so the body tips by ``pitch`` = 80 degrees, not 90, for hands and knees to reach the ground
    together: the back rises a little towards the shoulders."""
    rock = 0.12 * math.sin(2 * math.pi * rate_hz * t)
    arm = _compose(ARMS_DOWN * Y, (rock - pitch) * X)
    elbow = -0.2 * ELBOW_L  # straighter than the rest pose's ~40 degree bend
    wrist = -(1.2 + rock) * X  # bent back, keeping the palm flat as the arm rocks
    return _pose({
        "upperleg01.L": (rock - pitch) * X, "upperleg01.R": (rock - pitch) * X,
        "lowerleg01.L": (1.7 - rock) * X, "lowerleg01.R": (1.7 - rock) * X,
        "foot.L": 1.2 * X, "foot.R": 1.2 * X,
        "upperarm01.L": arm, "upperarm01.R": _mirror(arm),
        "lowerarm01.L": elbow, "lowerarm01.R": _mirror(elbow),
        "wrist.L": wrist, "wrist.R": _mirror(wrist),
        "neck01": -0.5 * X, "head": -0.4 * X,
    }, pitch=pitch)  # fmt: skip


def arms_cross(t: float, rate_hz: float = 0.3) -> Pose:
    """Standing, the arms crossing in front of the chest, each hand to the other shoulder, and opening again to
    hang at the sides; crossed at t = 0. Each upper arm rises sideways and swings forwards across the chest."""
    cross = _peak(t, rate_hz)
    elbow = 1.11 * cross * ELBOW_L
    # The left arm a little more forward and raised, so that its forearm passes in front of the right one.
    left = _compose((ARMS_DOWN - 1.0 * cross) * Y, -0.4 * cross * X, -1.7 * cross * Z)
    right = _compose((ARMS_DOWN - 0.85 * cross) * Y, -0.15 * cross * X, -1.7 * cross * Z)
    return _pose({
        "upperarm01.L": left, "upperarm01.R": _mirror(right),
        "lowerarm01.L": elbow, "lowerarm01.R": _mirror(elbow),
    })  # fmt: skip


MOTIONS: dict[str, Motion] = {
    "walk": walk, "wave": wave, "squat": squat, "snowboard_stance": snowboard_stance, "bend": bend, "kneel": kneel,
    "all_fours": all_fours, "arms_cross": arms_cross,
}  # fmt: skip
