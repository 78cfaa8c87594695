"""Body measurements in centimetres (ISO 8559-1 style) of a body model's neutral pose; see ``body``."""

from __future__ import annotations

from pose_service.measure.body import MEASUREMENTS, measure_body, measure_mesh, neutral_body
from pose_service.measure.landmarks import Landmarks, body_landmarks

__all__ = ["MEASUREMENTS", "Landmarks", "body_landmarks", "measure_body", "measure_mesh", "neutral_body"]
