"""Online multi-person tracking in plain numpy/scipy, after PHALP (Rajasegaran et al., CVPR 2022).

:class:`Tracker` associates each frame's detections with tracks by a product of appearance, pose and location
costs (:mod:`.cost`), predicts unseen confirmed tracks with a Kalman filter (:mod:`.kalman`) and smooths its
outputs (:mod:`.one_euro`). Its state is JSON-safe for the per-video session store (:mod:`pose_service.sessions`).
"""

from .appearance import Appearance, describe, distance
from .config import CostConfig, KalmanConfig, SmoothingConfig, TrackerConfig
from .tracker import Tracker

__all__ = [
    "Appearance", "CostConfig", "KalmanConfig", "SmoothingConfig", "Tracker", "TrackerConfig", "describe", "distance",
]
