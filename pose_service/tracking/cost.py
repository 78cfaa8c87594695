"""Association cost between tracks and detections, PHALP's way, and gated Hungarian assignment.

PHALP treats appearance, pose and location as independent cues and multiplies their terms (its ``EQ_019``)::

    cost = (1 + b_a * r_app)
         * (1 + b_p * min(d_pose, clip))
         * exp( d_uv / (0.1 + tanh(c_uv)) / b_l )
         * exp( d_n  / (0.1 + tanh(c_n))  / b_d )

* ``r_app``: mean Hellinger distance of the part colour histograms visible in both (0..1), see
  :mod:`.appearance`. PHALP uses a learned UV-texture embedding here.
* ``d_pose``: mean over joints confident in both of ``|p_track - p_det|^2 / pose_scale^2`` on root-relative
  3D keypoints (PHALP: squared distance of SMPL pose vectors). Body-pose parameters can join this vector once
  the fitter provides them.
* ``d_uv``: distance between the detection's (X/Z, Y/Z) and the track's Kalman prediction; ``d_n`` the same in
  log depth. Each is normalised by the track's uncertainty: ``c = 1.96 * sqrt(innovation variance)`` (a 95 %
  interval, PHALP's regression prediction interval), so a track unseen for a while accepts a wider area.
* ``b_a, b_p, b_l, b_d`` = 4.0536, 1.3070, 0.3792, 4.1658 (PHALP's fitted betas); ``clip`` = 1.5.

A cue missing on either side (no image, no 3D, no depth) contributes 1. Pairs above ``gate`` (100) are never
matched; all tracks, tentative or not, enter one assignment (no DeepSORT cascade), as in PHALP. A track from an
earlier shot (after a cut) has no meaningful location: it is matched on appearance and pose alone, and only where
the appearance distance is at most ``reid_max_appearance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..conventions import BODY25_INDEX, ROOT_NAME
from ..types import Person
from .appearance import Appearance, distance
from .config import CostConfig

_ROOT = BODY25_INDEX[ROOT_NAME]


@dataclass
class Cues:
    """What association compares, for a detection or for a track."""

    location: np.ndarray
    """(3,) u = X/Z, v = Y/Z, n = log Z of the root; n is NaN when the depth is unknown."""
    pose: Optional[np.ndarray]
    """(25, 3) root-relative 3D keypoints, or None."""
    pose_mask: np.ndarray
    """(25,) bool: joints the pose may be compared on."""
    appearance: Optional[Appearance]
    located: bool = True
    """False for a track from an earlier shot: its location says nothing about where it is now."""


def detection_cues(
    person: Person, focal_length_px: float, image_size: tuple[int, int], appearance: Optional[Appearance]
) -> Cues:
    """A detection without ``camera_translation`` is located by its 2D root (or box centre) alone."""
    translation = person.camera_translation
    if translation is not None and translation[2] > 0:
        location = np.array([translation[0] / translation[2], translation[1] / translation[2], np.log(translation[2])])
    else:
        root = person.keypoints_2d[_ROOT]
        x, y, w, h = person.bbox
        px, py = root[:2] if root[2] > 0 else (x + w / 2, y + h / 2)
        width, height = image_size
        location = np.array([(px - width / 2) / focal_length_px, (py - height / 2) / focal_length_px, np.nan])
    pose = None if person.keypoints_3d is None else np.asarray(person.keypoints_3d, float)
    return Cues(location, pose, pose_mask(person.keypoints_2d), appearance)


def pose_mask(keypoints_2d: np.ndarray) -> np.ndarray:
    """Joints the model gave (confidence > 0), less the root: always zero when root-relative, so uninformative."""
    mask = keypoints_2d[:, 2] > 0
    mask[_ROOT] = False
    return mask


def cost_matrix(tracks: list[Cues], variances: list[np.ndarray], detections: list[Cues], config: CostConfig) -> np.ndarray:
    """(T, D) costs. A track's cues hold its predicted location; ``variances[t]`` (3,) its innovation variance."""
    cost = np.ones((len(tracks), len(detections)))
    for t, (track, var) in enumerate(zip(tracks, variances)):
        c_uv = 1.96 * np.sqrt(var[0] + var[1])
        c_n = 1.96 * np.sqrt(var[2])
        for d, det in enumerate(detections):
            r_app = None if track.appearance is None or det.appearance is None else distance(track.appearance, det.appearance)
            term = 1.0
            if track.located:
                d_uv = float(np.linalg.norm(det.location[:2] - track.location[:2]))
                term = np.exp(d_uv / (0.1 + np.tanh(c_uv)) / config.beta_location)
                d_n = abs(det.location[2] - track.location[2])
                if np.isfinite(d_n):
                    term *= np.exp(d_n / (0.1 + np.tanh(c_n)) / config.beta_depth)
            elif r_app is None or r_app > config.reid_max_appearance:
                cost[t, d] = np.inf
                continue
            d_pose = _pose_distance(track, det, config)
            if d_pose is not None:
                term *= 1.0 + config.beta_pose * d_pose
            if r_app is not None:
                term *= 1.0 + config.beta_appearance * r_app
            cost[t, d] = term
    return np.nan_to_num(cost, nan=np.inf)


def assign(cost: np.ndarray, gate: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment; returns matches (track, detection), unmatched tracks, unmatched detections."""
    matches: list[tuple[int, int]] = []
    if cost.size:
        # Saturating at the gate keeps the solver finite and lets no gated pair change the optimum (PHALP).
        rows, cols = linear_sum_assignment(np.minimum(cost, gate + 1e-5))
        matches = [(int(t), int(d)) for t, d in zip(rows, cols) if cost[t, d] <= gate]
    matched_t = {t for t, _ in matches}
    matched_d = {d for _, d in matches}
    unmatched_t = [t for t in range(cost.shape[0]) if t not in matched_t]
    unmatched_d = [d for d in range(cost.shape[1]) if d not in matched_d]
    return matches, unmatched_t, unmatched_d


def _pose_distance(track: Cues, det: Cues, config: CostConfig) -> Optional[float]:
    if track.pose is None or det.pose is None:
        return None
    shared = track.pose_mask & det.pose_mask
    if not shared.any():
        return None
    squared = ((track.pose[shared] - det.pose[shared]) ** 2).sum(axis=1) / config.pose_scale_m**2
    return float(min(squared.mean(), config.pose_clip))
