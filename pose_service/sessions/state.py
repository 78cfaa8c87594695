"""One video's session: its tracker, counters and frame order, as plain data that round-trips through JSON.

Frame order: a client with a pool of workers posts several frames of a video at once, so they can arrive out of
order. Within ``reorder_window`` frames a late frame is *folded in*: tracked against a copy of the tracker, so it
gets the video's ids, and leaves the tracks as they are. Only a clear restart starts a new sequence: frame 0
again, or a frame more than ``reorder_window`` behind the last one. A new sequence drops the tracks but never
reuses an id. The store (:mod:`.store`) also holds a frame that arrives ahead of a gap for a short, bounded wait
(:meth:`SessionState.awaits_earlier`), so that in the common case frames are put back in order before tracking.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np
import orjson

from ..tracking import Tracker, TrackerConfig
from ..tracking.tracker import Association, FitState
from ..types import Person
from .bodies import Bodies

Arrival = Literal["next", "late", "restart"]

STATE_VERSION = 3
"""Schema version of a serialised :class:`SessionState` (:func:`encode_state`); raise it with every change to
what ``to_dict`` writes, so that a worker never misreads a state written by another version."""


class StateVersionError(ValueError):
    """A serialised state from another schema version (or not a state at all)."""


@dataclass
class FrameStep:
    """A frame between :meth:`SessionState.begin` and :meth:`SessionState.finish`: how it arrived, the tracker it
    is tracked on (a copy for a late frame) and its association."""

    frame_number: int
    arrival: Arrival
    tracker: Tracker
    association: Association


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
    """The highest frame number tracked in the current sequence."""
    restarts: int = 0
    late_frames: int = 0
    """Frames that arrived after a later one and were folded in."""
    reorder_window: int = 8
    recent_frames: list[int] = field(default_factory=list)
    """Frame numbers tracked in the current sequence within ``reorder_window`` of the last (ascending)."""
    frame_step: int = 1
    """The step between the frame numbers this client sends (1, or 2 for every other frame...): learnt from the
    last in-order frame, so that a client skipping frames does not wait for frames that never come."""
    bodies: Bodies = field(default_factory=Bodies)
    """Each track's bodies over the video (parameters, no meshes) and the heights given: its shape,
    measurements and exports."""

    @classmethod
    def new(cls, video_id: str, config: Optional[TrackerConfig] = None, now: Optional[float] = None,
            reorder_window: int = 8) -> "SessionState":
        now = time.time() if now is None else now
        return cls(video_id, Tracker(config), created_at=now, last_seen_at=now, reorder_window=reorder_window)

    def awaits_earlier(self, frame_number: int) -> bool:
        """Whether ``frame_number`` arrived ahead of frames that may still be on their way: it is beyond the next
        expected frame by no more than the window. (A new session expects frame 0.)"""
        expected = 0 if self.last_frame_number is None else self.last_frame_number + self.frame_step
        return expected < frame_number <= expected + self.reorder_window

    def arrival(self, frame_number: int) -> Arrival:
        last = self.last_frame_number
        if last is None or frame_number > last:
            return "next"
        if frame_number < last - self.reorder_window or (frame_number == 0 and 0 in self.recent_frames):
            return "restart"
        return "late"

    def track(
        self,
        frame_number: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
        now: Optional[float] = None,
    ) -> list[Person]:
        """Track one frame without a body stage: :meth:`begin`, then :meth:`finish`."""
        return self.finish(self.begin(frame_number, detections, image_rgb, focal_length_px, image_size), None, now)

    def begin(
        self,
        frame_number: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
    ) -> FrameStep:
        """Associate one frame's detections (see the module docstring for the frame order); a body stage may then
        fit ``step.association.reported`` before :meth:`finish`."""
        arrival = self.arrival(frame_number)
        if arrival == "restart":
            self.tracker = Tracker(self.tracker.config, first_id=self.tracker.next_id)
            self.restarts += 1
            self.last_frame_number, self.recent_frames, self.frame_step = None, [], 1
        # A late frame is tracked where the tracks are now (a filter cannot step back in time), on a copy.
        tracker = copy.deepcopy(self.tracker) if arrival == "late" else self.tracker
        index = self.last_frame_number if arrival == "late" else frame_number
        association = tracker.associate(index, detections, image_rgb, focal_length_px, image_size)
        return FrameStep(frame_number, arrival, tracker, association)

    def finish(self, step: FrameStep, fitted: Optional[dict[int, tuple[Person, FitState]]] = None,
               now: Optional[float] = None) -> list[Person]:
        """The tracks absorb the frame (``fitted``: see :meth:`Tracker.commit`); the frame is counted and its
        bodies recorded. Returns the people to report."""
        people = step.tracker.commit(step.association, fitted)
        frame_number = step.frame_number
        if step.arrival == "late":
            self.tracker.next_id = step.tracker.next_id  # ids it handed out stay taken
            self.late_frames += 1
        else:
            if self.last_frame_number is not None:
                self.frame_step = frame_number - self.last_frame_number
            self.last_frame_number = frame_number
            self.recent_frames = [f for f in self.recent_frames if f >= frame_number - self.reorder_window]
            self.recent_frames.append(frame_number)
        self.last_seen_at = time.time() if now is None else now
        self.frames_seen += 1
        self.frames_with_body += bool(people)
        self.bodies.record(frame_number, people)
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
            "late_frames": self.late_frames,
            "reorder_window": self.reorder_window,
            "recent_frames": list(self.recent_frames),
            "frame_step": self.frame_step,
            "bodies": self.bodies.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionState":
        return cls(**{**data, "tracker": Tracker.from_state(data["tracker"]), "bodies": Bodies.from_dict(data["bodies"])})


def encode_state(state: SessionState) -> bytes:
    """The state as compact JSON bytes, with its schema version."""
    return orjson.dumps({"version": STATE_VERSION, "state": state.to_dict()})


def decode_state(payload: bytes) -> SessionState:
    """Inverse of :func:`encode_state`; raises :class:`StateVersionError` for any other version."""
    data = orjson.loads(payload)
    version = data.get("version") if isinstance(data, dict) else None
    if version != STATE_VERSION:
        raise StateVersionError(f"session state version {version!r}, this service reads {STATE_VERSION}")
    return SessionState.from_dict(data["state"])
