"""Loss terms of the fit as residuals: each returns (B, R) rows whose squared sum is the term's value for that batch
item (:func:`squared_norm`); the fitter weights and sums the terms (LBFGS) or stacks the residuals scaled by the
square roots of the weights (Levenberg-Marquardt).

Shapes: B batch, K = 25 BODY_25 keypoints, J posable joints, S shape parameters, L limbs. Points are in metres,
camera axes (``pose_service.conventions``); ``translation`` is the root's position in the camera frame.
"""

from __future__ import annotations

import torch

from pose_service.conventions import BODY25_INDEX, HINGES, project_points

_EPS = 1e-9


def project(points: torch.Tensor, focal: float, center: torch.Tensor) -> torch.Tensor:
    """Pinhole projection. points (B, K, 3) camera frame, center (2,) px -> (B, K, 2) px."""
    # The translation prior keeps points in front; the clamp only avoids inf.
    return project_points(points, focal, center, min_depth=1e-3)


def _weighted_rows(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Residual rows whose squared sum is the weighted mean of their squared norms.

    values (B, K, ...) or (B, K), weights (K,) -> (B, K * ...): row k scaled by sqrt(w_k / sum(w)).
    """
    scale = (weights / weights.sum().clamp_min(_EPS)).sqrt()
    return (values * scale.reshape(-1, *([1] * (values.dim() - 2)))).flatten(1)


def squared_norm(residuals: torch.Tensor) -> torch.Tensor:
    """A loss term from its residuals: (B, R) -> (B,)"""
    return residuals.square().sum(-1)


def reprojection_residuals(
    points: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    focal: float,
    center: torch.Tensor,
    image_scale: float,
    sigma_px: float,
) -> torch.Tensor:
    """Robust, confidence-weighted 2D error, in units of the image's longer side (so weights do not depend on the
    resolution): each keypoint's 2D residual r shrunk so that its squared norm is the Geman-McClure
    sigma² r² / (sigma² + r²) of the plain one (~r² for r << sigma, -> sigma² beyond: a few wrong detections do not
    drag the body), and the squared sum is the confidence-weighted mean.

    points (B, K, 3) camera frame (keypoint + translation); target (K, 2) px; weights (K,) confidences (0 = unused);
    image_scale: px that count as 1 (max(width, height)); sigma_px: GMoF scale -> (B, 2K)
    """
    residual = (project(points, focal, center) - target) / image_scale
    sigma = sigma_px / image_scale
    robust = residual * (sigma / (sigma * sigma + residual.square().sum(-1, keepdim=True)).sqrt())
    return _weighted_rows(robust, weights)


def keypoints_3d_residuals(keypoints: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Scale-invariant root-relative 3D error: the model's keypoints are scaled by the least-squares factor onto the
    target first, because a detector's 3D keypoints (MediaPipe's world landmarks) carry an average-adult size
    rather than the person's. Scaling the prediction, not the target, keeps the minimum from shrinking the body.

    keypoints (B, K, 3), target (K, 3), both root-relative; weights (K,) -> (B, 3K) metres (target's scale)
    """
    w = weights[:, None]
    scale = (w * keypoints * target).sum((-1, -2)) / (w * keypoints.square()).sum((-1, -2)).clamp_min(_EPS)
    return _weighted_rows(scale[:, None, None] * keypoints - target, weights)


def limb_lengths(keypoints: torch.Tensor, limbs: torch.Tensor) -> torch.Tensor:
    """keypoints (..., K, 3), limbs (L, 2) keypoint indices -> (..., L) lengths"""
    return (keypoints[..., limbs[:, 0], :] - keypoints[..., limbs[:, 1], :]).norm(dim=-1)


def limb_length_residuals(
    keypoints: torch.Tensor, limbs: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Limb proportions against target proportions (each limb's share of the total length, so free of the target's
    scale). The fitter symmetrises the target (left/right averaged), which also evens out detector noise.

    keypoints (B, K, 3); limbs (L, 2) indices; target (L,) lengths; weights (L,) -> (B, L)
    """
    lengths = limb_lengths(keypoints, limbs)
    share = lengths / lengths.sum(-1, keepdim=True).clamp_min(_EPS)
    target_share = target / target.sum().clamp_min(_EPS)
    return _weighted_rows(share - target_share, weights)


def shape_prior_residuals(shape: torch.Tensor) -> torch.Tensor:
    """Towards the average body. shape (B, S) -> (B, S)"""
    return shape


def pose_prior_residuals(body_pose: torch.Tensor) -> torch.Tensor:
    """Towards the model's rest pose. body_pose (B, J, 3) axis-angle -> (B, 3J) rad"""
    return body_pose.flatten(1)


_LEFT_HIP, _RIGHT_HIP = BODY25_INDEX["left_hip"], BODY25_INDEX["right_hip"]
_HINGE_POINTS = torch.tensor([hinge[:3] for hinge in HINGES]).T  # (3, H): proximal, joint, distal keypoints
_HINGE_SIGNS = torch.tensor([hinge[3] for hinge in HINGES])


def angle_limit_residuals(keypoints: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """Knees and elbows bent the wrong way (hyper-extension), from keypoints so that it holds for every body model
    whatever its pose parameterisation. The bend's sine along the hips' left-right axis must have the hinge's sign;
    up to ``margin`` of wrong-way sine is free (straight limbs sit at 0).

    keypoints (B, K, 3) -> (B, H) the wrong-way sine beyond the margin, 0 where the hinge is within its limit
    """
    left = keypoints[:, _LEFT_HIP] - keypoints[:, _RIGHT_HIP]
    left = (left / left.norm(dim=-1, keepdim=True).clamp_min(_EPS))[:, None]  # (B, 1, 3)
    proximal, joint, distal = (keypoints[:, index] for index in _HINGE_POINTS)  # each (B, H, 3)
    upper, lower = joint - proximal, distal - joint
    sine = (torch.linalg.cross(upper, lower) * left).sum(-1) / (upper.norm(dim=-1) * lower.norm(dim=-1) + _EPS)
    return torch.relu(-_HINGE_SIGNS.to(sine) * sine - margin)


def temporal_residuals(
    current: dict[str, torch.Tensor], previous: dict[str, torch.Tensor], names: tuple[str, ...]
) -> torch.Tensor:
    """Change from the previous frame of the parameter groups ``names`` (radians, metres).

    current: group -> (B, ...), previous: group -> (1 or B, ...) -> (B, R)
    """
    return torch.cat([(current[n] - previous[n]).flatten(1) for n in names], -1)


def translation_prior_residuals(points: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Depth plausibility: every keypoint at least ``min_depth`` in front of the camera and the body no further
    than ``max_depth``. points (B, K, 3) camera frame -> (B, K + 1) metres of violation"""
    depth = points[..., 2]
    return torch.cat([torch.relu(min_depth - depth), torch.relu(depth.mean(-1, keepdim=True) - max_depth)], -1)
