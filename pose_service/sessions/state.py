"""One video's session: its tracker and counters, as plain data that round-trips through JSON."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..tracking import Tracker, TrackerConfig
from ..tracking.tracker import Refine
from ..types import Person


@dataclass
class SessionState:
    video_id: str
    tracker: Tracker
    created_at: float
    """Wall-clock seconds (``time.time()``)."""
    last_seen_at: float
    frames_seen: int = 0
    frames_with_body: int = 0
    detected_count: int = 0
    """People reported as detected, summed over frames."""
    predicted_count: int = 0
    last_frame_number: Optional[int] = None
    restarts: int = 0

    @classmethod
    def new(cls, video_id: str, config: Optional[TrackerConfig] = None, now: Optional[float] = None) -> "SessionState":
        now = time.time() if now is None else now
        return cls(video_id, Tracker(config), created_at=now, last_seen_at=now)

    def track(
        self,
        frame_number: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
        now: Optional[float] = None,
        refine: Optional[Refine] = None,
    ) -> list[Person]:
        """Run the tracker on one frame and count it. Frame 0 again, or a frame number going backwards, starts a
        new sequence: the tracks are dropped and ids start again at 1 (the counters carry on)."""
        if self.last_frame_number is not None and (frame_number == 0 or frame_number < self.last_frame_number):
            self.tracker = Tracker(self.tracker.config)
            self.restarts += 1
        people = self.tracker.step(frame_number, detections, image_rgb, focal_length_px, image_size, refine)
        self.last_frame_number = frame_number
        self.last_seen_at = time.time() if now is None else now
        self.frames_seen += 1
        self.frames_with_body += bool(people)
        predicted = sum(p.source == "predicted" for p in people)
        self.predicted_count += predicted
        self.detected_count += len(people) - predicted
        return people

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "tracker": self.tracker.to_state(),
            "created_at": self.created_at,
            "last_seen_at": self.last_seen_at,
            "frames_seen": self.frames_seen,
            "frames_with_body": self.frames_with_body,
            "detected_count": self.detected_count,
            "predicted_count": self.predicted_count,
            "last_frame_number": self.last_frame_number,
            "restarts": self.restarts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionState":
        return cls(**{**data, "tracker": Tracker.from_state(data["tracker"])})
