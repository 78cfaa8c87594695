"""3D keypoint accuracy: MPJPE and Procrustes-aligned MPJPE (PA-MPJPE).

Both take root-relative or absolute points in any unit and return the mean joint error in that unit; an optional
mask selects the joints that count (e.g. those the ground truth labels).
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def _masked(pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f"expected two (J, 3) arrays, got {pred.shape} and {gt.shape}")
    if mask is not None:
        pred, gt = pred[np.asarray(mask, bool)], gt[np.asarray(mask, bool)]
    if len(gt) == 0:
        raise ValueError("no joints to compare")
    return pred, gt


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Mean Euclidean distance between (J, 3) ``pred`` and ``gt`` over the joints in ``mask`` (J,) bool."""
    pred, gt = _masked(pred, gt, mask)
    return float(np.linalg.norm(pred - gt, axis=1).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(J, 3) ``pred`` after the similarity transform (scale, rotation, translation) that best fits it to ``gt``
    in the least-squares sense (Umeyama 1991; no reflections)."""
    mu_p, mu_g = pred.mean(0), gt.mean(0)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(g.T @ p)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.array([1.0, 1.0, d])
    rotation = (u * fix) @ vt
    scale = (s * fix).sum() / max((p**2).sum(), 1e-12)
    return scale * p @ rotation.T + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """MPJPE after Procrustes alignment of ``pred`` to ``gt`` (on the masked joints): pose error free of global
    rotation, translation and scale."""
    pred, gt = _masked(pred, gt, mask)
    return mpjpe(procrustes_align(pred, gt), gt)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """MPJPE after scaling root-relative ``pred`` by the least-squares factor onto ``gt`` (Rhodin et al. 2018):
    the error that one camera can resolve, free of the overall body size (a small near person and a large far one
    look the same), but not of rotation."""
    pred, gt = _masked(pred, gt, mask)
    scale = (pred * gt).sum() / max((pred**2).sum(), 1e-12)
    return mpjpe(scale * pred, gt)
