"""The per-frame data flow: image -> detect -> (fit, track: later stages) -> FrameResult.

Nothing here knows about HTTP; the API layer decodes the request, calls :meth:`FramePipeline.process` and
serialises the result with :func:`pose_service.api.response.frame_response`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .types import FrameResult, Person

log = logging.getLogger(__name__)

Detector = Callable[[np.ndarray], list[Person]]
BodyStage = Callable[[np.ndarray, list[Person], Optional[float]], list[Person]]
"""(image, detected people, focal_length_px or None) -> the same people with 3D bodies filled in."""


@dataclass
class FrameRequest:
    """What the pipeline needs from a request, already validated and decoded."""

    image: np.ndarray
    """(H, W, 3) RGB uint8."""
    frame_number: int
    video_id: Optional[str] = None
    include_mesh: bool = True
    include_faces: bool = True
    focal_length_px: Optional[float] = None


class GpuOutOfMemory(RuntimeError):
    """A stage ran out of GPU memory and is configured not to fall back to the CPU (the API answers 503)."""


class FramePipeline:
    """Runs the stages of one backend on one frame."""

    def __init__(
        self,
        backend: str,
        detector: Detector,
        body: Optional[BodyStage] = None,
        body_model: Optional[str] = None,
        faces: Optional[np.ndarray] = None,
        device: str = "cpu",
        files: Optional[dict[str, str]] = None,
    ) -> None:
        self.backend = backend
        self.detector = detector
        self.body = body
        self.body_model = body_model
        self.faces = faces
        """(F, 3) triangle vertex indices of the meshes this pipeline returns, or None without meshes."""
        self.device = device
        self.files = files or {}
        """Model files loaded, by role, for /health."""

    def process(self, request: FrameRequest) -> FrameResult:
        height, width = request.image.shape[:2]
        people = self.detector(request.image)
        if self.body is not None:
            people = self.body(request.image, people, request.focal_length_px)
        # The primary person (people[0], repeated at the top level of the response) is the most confident one.
        people.sort(key=lambda p: p.score, reverse=True)
        return FrameResult(
            frame_number=request.frame_number,
            video_id=request.video_id,
            image_size=(width, height),
            people=people,
        )
