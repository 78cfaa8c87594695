"""Synthetic fitting data: a body model posed (randomly or along a smooth motion), placed before a pinhole camera
and observed as a detector would (noisy 2D with confidences, 3D at a detector's scale). Used by the fitting tests
and ``scripts/bench_fitting.py``; no rendering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose_service.body.base import BodyModel
from pose_service.conventions import BODY25_INDEX, ROOT_NAME
from pose_service.fitting.losses import angle_limit_residuals, project

_ROOT = BODY25_INDEX[ROOT_NAME]
_SMALL_TOES = [BODY25_INDEX["left_small_toe"], BODY25_INDEX["right_small_toe"]]


@dataclass
class Subject:
    """Ground truth: keypoints (25, 3) root-relative metres (full mesh path), translation (3,), parameters."""

    keypoints: np.ndarray
    translation: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    shape: np.ndarray


def _pose(model: BodyModel, global_orient: np.ndarray, body_pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(F, 25, 3) keypoints of F parameter sets."""
    params = (torch.as_tensor(a, dtype=model.dtype, device=model.device) for a in (global_orient, body_pose, shape))
    with torch.no_grad():
        return model(*params).keypoints.double().cpu().numpy()


def random_subject(
    model: BodyModel,
    rng: np.random.Generator,
    yaw: float,
    pose_scale: float = 0.25,
    size_scale: float = 0.2,
    limit_hinges: bool = True,
) -> Subject:
    """A random plausible person turned by ``yaw`` (rad about the vertical; pi = back to the camera) at 2.5-4 m.
    Joint rotations ~ N(0, pose_scale), resampled until no knee or elbow bends the wrong way (``limit_hinges``;
    off for bodies without anatomy, such as a random test mesh). Shape ~ N(0, 0.5),
    except that the parameters that scale the whole body (Anny's age and height) get ``size_scale``: a camera
    cannot tell a small near person from a tall far one, so the depth is only recoverable near the average size."""
    shape_scale = np.full(model.shape_dim, 0.5)
    labels = getattr(model, "phenotype_labels", [])
    shape_scale[[i for i, name in enumerate(labels) if name in ("age", "height")]] = size_scale
    global_orient = np.array([[rng.normal(scale=0.1), yaw, rng.normal(scale=0.1)]])
    shape = rng.normal(scale=shape_scale)[None]
    while True:
        body_pose = rng.normal(scale=pose_scale, size=(1, model.num_pose_joints, 3))
        keypoints = _pose(model, global_orient, body_pose, shape)
        if not limit_hinges or not angle_limit_residuals(torch.as_tensor(keypoints), margin=0.0).any():
            break
    translation = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.1, 0.1), rng.uniform(2.5, 4.0)])
    return Subject(keypoints[0], translation, global_orient[0], body_pose[0], shape[0])


def smooth_motion(model: BodyModel, frames: int, rng: np.random.Generator, fps: float = 30.0) -> list[Subject]:
    """A person whose joints swing sinusoidally about a random offset while turning and walking sideways at ~3 m."""
    joints = (model.num_pose_joints, 3)
    offset, amplitude = rng.normal(scale=0.15, size=joints), rng.normal(scale=0.25, size=joints)
    phase = rng.uniform(0, 2 * np.pi, size=joints)
    time = np.arange(frames) / fps
    body_pose = offset + amplitude * np.sin(2 * np.pi * 0.7 * time[:, None, None] + phase)
    global_orient = np.stack([np.zeros(frames), 0.6 * np.sin(2 * np.pi * 0.2 * time), np.zeros(frames)], 1)
    shape = np.tile(rng.normal(scale=0.3, size=(1, model.shape_dim)), (frames, 1))
    translation = np.stack([0.4 * np.sin(2 * np.pi * 0.25 * time), np.full(frames, 0.1), 3.2 + 0.3 * time], 1)
    keypoints = _pose(model, global_orient, body_pose, shape)
    return [Subject(keypoints[i], translation[i], global_orient[i], body_pose[i], shape[i]) for i in range(frames)]


def observe(
    subject: Subject,
    image_size: tuple[int, int],
    focal: float,
    rng: np.random.Generator,
    noise_px: float = 2.0,
    dropped: int = 2,
    noise_3d: float = 0.02,
    scale_3d: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """What a MediaPipe-like detector reports: 2D keypoints (25, 3) px with ``noise_px`` Gaussian noise and
    confidences in [0.6, 1], small toes at 0 (MediaPipe has none) and ``dropped`` random keypoints at 0.1; 3D
    keypoints (25, 3) root-relative at ``scale_3d`` (an average-adult size, not the person's) with ``noise_3d`` m."""
    center = torch.tensor([image_size[0] / 2.0, image_size[1] / 2.0], dtype=torch.float64)
    uv = project(torch.as_tensor(subject.keypoints + subject.translation)[None], focal, center)[0].numpy()
    confidence = rng.uniform(0.6, 1.0, size=len(uv))
    confidence[_SMALL_TOES] = 0.0
    confidence[rng.choice(len(uv), dropped, replace=False)] = 0.1
    keypoints_2d = np.concatenate([uv + rng.normal(scale=noise_px, size=uv.shape), confidence[:, None]], 1)
    keypoints_3d = scale_3d * subject.keypoints + rng.normal(scale=noise_3d, size=subject.keypoints.shape)
    return keypoints_2d, keypoints_3d - keypoints_3d[_ROOT]
