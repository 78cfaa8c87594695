"""The service's pinhole camera (``pose_service.conventions``): x right, y down, z forward, metres, pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose_service.conventions import default_focal_length, project_points


@dataclass(frozen=True)
class PinholeCamera:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_image(cls, width: int, height: int, focal: float | None = None) -> "PinholeCamera":
        """Square pixels, principal point at the image centre, ``focal`` defaulting to the service's default."""
        f = default_focal_length(width, height) if focal is None else float(focal)
        return cls(f, f, width / 2.0, height / 2.0, width, height)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (z > 0) -> (..., 2) pixel coordinates."""
        return project_points(points, np.array([self.fx, self.fy]), np.array([self.cx, self.cy]))

    def in_image(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) -> (...) bool, inside the image bounds."""
        x, y = pixels[..., 0], pixels[..., 1]
        return (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)

    def as_dict(self) -> dict[str, float]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "w": self.width, "h": self.height}
