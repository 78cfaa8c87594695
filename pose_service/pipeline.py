"""The per-frame data flow: image -> detect -> body (regress or fit) -> track (per video session) -> FrameResult.

Nothing here knows about HTTP; the API layer decodes the request, calls :meth:`FramePipeline.process` and
serialises the result with :func:`pose_service.api.response.frame_response`.

Bodies come from one of two kinds of stage: a *regressor* (HMR 2.0) is stateless and runs before tracking, its 3D
locations feeding association; a *fitter* needs the previous fit of the same person for a warm start, so it runs
inside tracking, after association (the tracker's ``refine`` hook) and before the tracks absorb the detections.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any, Optional, Protocol

import numpy as np

from .conventions import default_focal_length
from .sessions import SessionState, SessionStore
from .tracking import TrackerConfig
from .types import Box, FrameResult, Person

log = logging.getLogger(__name__)

DEFAULT_SESSION = "default"
"""The session of requests that give no ``video_id``."""

class Detector(Protocol):
    def __call__(self, image: np.ndarray, hints: Sequence[Box] = (), wide: Optional[bool] = None) -> list[Person]:
        """People in an (H, W, 3) RGB image. ``hints``: boxes where people are expected (the session's tracks),
        searched more closely; ``wide``: also search the frame in tiles, for small, distant people."""

Regressor = Callable[[np.ndarray, list[Person], float], list[Person]]
"""(image, detected people, focal_length_px) -> the same people with 3D bodies filled in."""
Fitter = Callable[[np.ndarray, list[Person], list[Optional[dict[str, Any]]], float], list[Person]]
"""(image, detected people, each one's previous fit state or None, focal_length_px) -> the people with bodies
fitted and their new ``fit_state``."""


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
    simulate_misses: float = 0.0
    """For testing gap filling: the fraction of detections to ignore (deterministic per video, frame, person), once
    the video has a track."""


class GpuOutOfMemory(RuntimeError):
    """A stage ran out of GPU memory and is configured not to fall back to the CPU (the API answers 503)."""


def simulated_miss(video_id: str, frame_number: int, index: int, rate: float) -> bool:
    """Whether to drop detection ``index`` of this frame: a pseudo-random draw that repeats for the same inputs."""
    return rate > 0 and random.Random(f"{video_id}:{frame_number}:{index}").random() < rate


class FramePipeline:
    """Runs the stages of one backend on one frame, within the frame's video session."""

    def __init__(
        self,
        backend: str,
        detector: Detector,
        sessions: SessionStore,
        *,
        regressor: Optional[Regressor] = None,
        fitter: Optional[Fitter] = None,
        tracker_config: Optional[TrackerConfig] = None,
        default_focal: Callable[[int, int], float] = default_focal_length,
        body_model: Optional[str] = None,
        faces: Optional[np.ndarray] = None,
        device: str = "cpu",
        files: Optional[dict[str, str]] = None,
        wide_search_every: int = 10,
    ) -> None:
        self.backend = backend
        self.detector = detector
        self.sessions = sessions
        self.regressor = regressor
        self.fitter = fitter
        self.tracker_config = tracker_config or TrackerConfig()
        self.default_focal = default_focal
        """(width, height) -> the focal length in pixels this backend assumes when a request gives none."""
        self.body_model = body_model
        self.faces = faces
        """(F, 3) triangle vertex indices of the meshes this pipeline returns, or None without meshes."""
        self.device = device
        self.files = files or {}
        """Model files loaded, by role, for /health."""
        self.wide_search_every = wide_search_every
        """Search the whole frame in tiles on every this many frames of a video (new, small people)."""

    def new_session(self, video_id: str) -> SessionState:
        return SessionState.new(video_id, self.tracker_config)

    def process(self, request: FrameRequest) -> FrameResult:
        image = request.image
        height, width = image.shape[:2]
        focal = request.focal_length_px or self.default_focal(width, height)
        video_id = request.video_id or DEFAULT_SESSION
        refine = None
        if self.fitter is not None:
            fitter = self.fitter
            refine = lambda detections, previous: fitter(image, detections, previous, focal)  # noqa: E731
        with self.sessions.session(video_id, lambda: self.new_session(video_id)) as session:
            hints = [track.last.bbox for track in session.tracker.tracks]
            wide = session.frames_seen % self.wide_search_every == 0
            people = self.detector(image, hints, wide)
            if session.tracker.tracks:  # a miss before anyone is tracked tests nothing: there is nothing to fill
                people = [
                    person
                    for i, person in enumerate(people)
                    if not simulated_miss(video_id, request.frame_number, i, request.simulate_misses)
                ]
            if self.regressor is not None:
                people = self.regressor(image, people, focal)
            people = session.track(request.frame_number, people, image, focal, (width, height), refine=refine)
        # The primary person (people[0], repeated at the top level of the response): detected before predicted,
        # then the most confident.
        people.sort(key=lambda p: (p.source != "detected", -p.score))
        return FrameResult(
            frame_number=request.frame_number,
            video_id=request.video_id,
            image_size=(width, height),
            focal_length_px=float(focal),
            people=people,
        )
