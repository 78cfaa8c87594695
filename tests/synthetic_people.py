"""Synthetic people for the tracking tests: a 3D skeleton, its projection, and a painted image (no rendering)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from pose_service.conventions import BODY25_INDEX, NUM_KEYPOINTS
from pose_service.conventions import LIMB_SEGMENTS, TORSO
from pose_service.types import Person

WIDTH, HEIGHT = 640, 480
FOCAL = 640.0

_STANDING = {  # root-relative metres, camera axes (y down); the person faces the camera, left side at +x
    "nose": (0, -0.62, -0.05), "neck": (0, -0.5, 0), "right_shoulder": (-0.18, -0.5, 0),
    "right_elbow": (-0.22, -0.25, 0), "right_wrist": (-0.24, 0.0, 0), "left_shoulder": (0.18, -0.5, 0),
    "left_elbow": (0.22, -0.25, 0), "left_wrist": (0.24, 0.0, 0), "mid_hip": (0, 0, 0), "right_hip": (-0.1, 0, 0),
    "right_knee": (-0.1, 0.42, 0), "right_ankle": (-0.1, 0.82, 0), "left_hip": (0.1, 0, 0), "left_knee": (0.1, 0.42, 0),
    "left_ankle": (0.1, 0.82, 0), "right_eye": (-0.03, -0.65, -0.05), "left_eye": (0.03, -0.65, -0.05),
    "right_ear": (-0.07, -0.63, 0), "left_ear": (0.07, -0.63, 0), "left_big_toe": (0.12, 0.86, -0.1),
    "left_small_toe": (0.14, 0.86, -0.08), "left_heel": (0.1, 0.86, 0.03), "right_big_toe": (-0.12, 0.86, -0.1),
    "right_small_toe": (-0.14, 0.86, -0.08), "right_heel": (-0.1, 0.86, 0.03),
}
STANDING = np.array([_STANDING[name] for name in sorted(_STANDING, key=BODY25_INDEX.get)], float)


def arms_up() -> np.ndarray:
    pose = STANDING.copy()
    for side, sign in (("right", -1), ("left", 1)):
        pose[BODY25_INDEX[f"{side}_elbow"]] = (sign * 0.3, -0.75, 0)
        pose[BODY25_INDEX[f"{side}_wrist"]] = (sign * 0.32, -1.0, 0)
    return pose


def person(pose: np.ndarray, translation: np.ndarray, score: float = 0.95) -> Person:
    points = pose + translation
    keypoints_2d = np.ones((NUM_KEYPOINTS, 3))
    keypoints_2d[:, :2] = FOCAL * points[:, :2] / points[:, 2:3] + [WIDTH / 2, HEIGHT / 2]
    x0, y0 = keypoints_2d[:, :2].min(0)
    x1, y1 = keypoints_2d[:, :2].max(0)
    return Person(keypoints_2d, (x0, y0, x1 - x0, y1 - y0), score, pose.copy(), np.array(translation, float))


def paint(people: list[tuple[Person, tuple[np.ndarray, np.ndarray]]], rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Grey noisy background; each person's torso in one colour and limbs in another, farthest painted first."""
    rng = rng or np.random.default_rng(0)
    image = rng.integers(90, 130, (HEIGHT, WIDTH, 3)).astype(float)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    grid = np.stack([xs, ys], -1).astype(float)
    for p, (torso_rgb, limb_rgb) in sorted(people, key=lambda item: -item[0].camera_translation[2]):
        xy = p.keypoints_2d[:, :2]
        quad = xy[list(TORSO)]
        edges = np.roll(quad, -1, 0) - quad
        cross = np.stack([e[0] * (grid[..., 1] - q[1]) - e[1] * (grid[..., 0] - q[0]) for e, q in zip(edges, quad)], -1)
        image[(cross >= 0).all(-1) | (cross <= 0).all(-1)] = torso_rgb
        radius = 0.15 * np.linalg.norm(quad[:2].mean(0) - quad[2:].mean(0))
        for a, b in LIMB_SEGMENTS:
            ab = xy[b] - xy[a]
            t = np.clip(((grid - xy[a]) @ ab) / (ab @ ab), 0, 1)
            image[np.linalg.norm(grid - (xy[a] + t[..., None] * ab), axis=-1) <= radius] = limb_rgb
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
