"""Closed-form initialisation: global rotation (Kabsch on the torso) and camera translation (linear least squares)."""

from __future__ import annotations

import numpy as np

from pose_service.conventions import BODY25_INDEX
_LEFT = tuple(BODY25_INDEX[n] for n in ("left_shoulder", "left_hip"))
_RIGHT = tuple(BODY25_INDEX[n] for n in ("right_shoulder", "right_hip"))
FACING_AWAY = np.array([0.0, np.pi, 0.0])
"""Half a turn about the vertical (camera y) axis: the back towards the camera."""


def kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising sum_i w_i |R source_i - target_i|^2 about the origin (points are root-relative,
    so no centring: the root is a shared fixed point). source, target (N, 3), weights (N,)."""
    covariance = (target * weights[:, None]).T @ source
    u, _, vt = np.linalg.svd(covariance)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def facing_from_2d(keypoints_2d: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Global rotation vector (3,) without 3D keypoints: upright, facing the camera, or turned away when the
    subject's left shoulder and hip appear left of the right ones in the image (facing the camera they are on the
    image's right). keypoints_2d (25, 2+) px, weights (25,)."""
    left, right = np.array(_LEFT), np.array(_RIGHT)
    pair = np.minimum(weights[left], weights[right])
    if pair.sum() > 0 and (pair * (keypoints_2d[left, 0] - keypoints_2d[right, 0])).sum() < 0:
        return FACING_AWAY.copy()
    return np.zeros(3)


def solve_translation(
    points: np.ndarray, keypoints_2d: np.ndarray, weights: np.ndarray, focal: float, center: np.ndarray
) -> np.ndarray:
    """Camera translation t (3,) that best projects root-relative ``points`` (N, 3) onto ``keypoints_2d`` (N, 2) px,
    weights (N,). u = f (X + tx) / (Z + tz) + cx is linear in t once multiplied out:
    f tx - (u - cx) tz = (u - cx) Z - f X, likewise for v; solved by weighted least squares."""
    uv = keypoints_2d[:, :2] - center
    rows, rhs = [], []
    for axis in (0, 1):
        a = np.zeros((len(points), 3))
        a[:, axis] = focal
        a[:, 2] = -uv[:, axis]
        rows.append(a)
        rhs.append(uv[:, axis] * points[:, 2] - focal * points[:, axis])
    sqrt_w = np.sqrt(np.concatenate([weights, weights]))[:, None]
    solution, *_ = np.linalg.lstsq(np.concatenate(rows) * sqrt_w, np.concatenate(rhs) * sqrt_w[:, 0], rcond=None)
    return solution
