"""Constant-velocity Kalman filter on a person's location, as (u, v, n) = (X/Z, Y/Z, log Z) of the root.

Why not camera translation directly: monocular depth is far noisier than the image position, and X, Y inherit
the depth's error (X = u Z). In (u, v, log Z) the three errors are nearly independent, so each axis is its own
2-state (position, velocity) filter with diagonal noise, and a detection without depth (a 2D-only backend)
updates u, v alone. This is PHALP's location space too (image position and log depth).

Process noise is continuous white-noise acceleration, whose covariance composes exactly over any gap, so a
prediction ``dt`` frames ahead is one step and the filter's state only changes on updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import KalmanConfig
from .serial import decode_array, encode_array


@dataclass
class LocationFilter:
    mean: np.ndarray
    """(3, 2): per axis (u, v, n), position and velocity per frame."""
    cov: np.ndarray
    """(3, 2, 2) per-axis covariance."""
    frame: int
    """Frame of the last update."""
    has_depth: bool

    @classmethod
    def start(cls, observation: np.ndarray, frame: int, config: KalmanConfig) -> "LocationFilter":
        """``observation`` (3,) is (u, v, n), n NaN when unknown."""
        has_depth = bool(np.isfinite(observation[2]))
        mean = np.zeros((3, 2))
        mean[:, 0] = np.where(np.isfinite(observation), observation, 0.0)
        position_var = _measurement_var(config)
        position_var[2] = position_var[2] if has_depth else 1e6
        velocity_var = np.array([config.initial_velocity_uv] * 2 + [config.initial_velocity_depth]) ** 2
        cov = np.zeros((3, 2, 2))
        cov[:, 0, 0], cov[:, 1, 1] = position_var, velocity_var
        return cls(mean, cov, frame, has_depth)

    def predict(self, frame: int, config: KalmanConfig) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (3, 2) mean and (3, 2, 2) covariance at ``frame``."""
        dt = float(frame - self.frame)
        transition = np.array([[1.0, dt], [0.0, 1.0]])
        accel_var = np.array([config.acceleration_uv] * 2 + [config.acceleration_depth]) ** 2
        noise = accel_var[:, None, None] * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
        mean = self.mean @ transition.T
        cov = transition @ self.cov @ transition.T + noise
        return mean, cov

    def innovation(self, frame: int, config: KalmanConfig) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (u, v, n) at ``frame`` and the variance (3,) a detection there would have about it."""
        mean, cov = self.predict(frame, config)
        return mean[:, 0], cov[:, 0, 0] + _measurement_var(config)

    def update(self, observation: np.ndarray, frame: int, config: KalmanConfig) -> None:
        mean, cov = self.predict(frame, config)
        observed = np.isfinite(observation)
        innovation_var = cov[:, 0, 0] + _measurement_var(config)
        gain = cov[:, :, 0] / innovation_var[:, None]  # (3, 2)
        residual = np.where(observed, observation - mean[:, 0], 0.0)
        gain[~observed] = 0.0
        self.mean = mean + gain * residual[:, None]
        self.cov = cov - gain[:, :, None] * cov[:, None, 0, :]
        self.frame = frame
        self.has_depth = self.has_depth or bool(observed[2])

    def to_dict(self) -> dict[str, Any]:
        return {"mean": encode_array(self.mean), "cov": encode_array(self.cov), "frame": self.frame,
                "has_depth": self.has_depth}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LocationFilter":
        return cls(decode_array(data["mean"]), decode_array(data["cov"]), int(data["frame"]), bool(data["has_depth"]))


def _measurement_var(config: KalmanConfig) -> np.ndarray:
    return np.array([config.measurement_uv] * 2 + [config.measurement_depth]) ** 2
