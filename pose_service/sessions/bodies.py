"""A track's fitted bodies over a video: compact per-frame parameters (no meshes), for its one body shape, its
measurements and exports.

Memory: one row per frame with a body, ``3 + 3J + S + 3`` float32 values plus the frame number and the fit
confidence (Anny: 66 values, ~0.3 kB; SMPL: 85), at most ``max_frames`` rows per track, the oldest dropped first
(the default, 18,000, is ten minutes at 30 fps: ~5 MB for one Anny track), and at most ``MAX_SESSION_ROWS`` rows
per video over all its tracks: beyond that, the tracks seen least recently are dropped whole (a crowd of
passers-by would otherwise grow a session without bound; the people still in view keep their histories).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from ..tracking.serial import decode_array, encode_array
from ..types import Person

MAX_FRAMES = 18_000
MAX_SESSION_ROWS = 2 * MAX_FRAMES


@dataclass
class BodyHistory:
    """Rows in frame order. ``frames`` (N,) int64; ``global_orient`` (N, 3), ``body_pose`` (N, J, 3), ``shape``
    (N, S), ``translation`` (N, 3) float32 (as :class:`pose_service.types.Person`'s ``body_params`` and
    ``camera_translation``); ``fit_confidence`` (N,) float32 (nan where the backend gives none)."""

    body_model: str
    frames: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    fit_confidence: np.ndarray
    max_frames: int = MAX_FRAMES
    settled_shape: Optional[np.ndarray] = None
    """(S,) the shape the track's fits keep once settled (``pose_service.pipeline``), or None."""
    settled_height_cm: Optional[float] = None
    """The height that shape was settled under (None: estimated scale)."""

    @classmethod
    def empty(cls, body_model: str, num_pose_joints: int, shape_dim: int, max_frames: int = MAX_FRAMES) -> "BodyHistory":
        f32 = np.float32
        return cls(body_model, np.zeros(0, np.int64), np.zeros((0, 3), f32), np.zeros((0, num_pose_joints, 3), f32),
                   np.zeros((0, shape_dim), f32), np.zeros((0, 3), f32), np.zeros(0, f32), max_frames)

    @classmethod
    def for_person(cls, person: Person) -> "BodyHistory":
        """An empty history sized for ``person``'s body model."""
        params = person.body_params
        return cls.empty(person.body_model, len(params["body_pose"]), len(params["shape"]))

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, frame: int, person: Person) -> None:
        """Record ``person``'s body at ``frame`` (replacing a row of the same frame), keeping frame order."""
        params = person.body_params
        keep = self.frames != frame
        rows = {
            "frames": np.int64(frame),
            "global_orient": params["global_orient"],
            "body_pose": params["body_pose"],
            "shape": params["shape"],
            "translation": person.camera_translation,
            "fit_confidence": np.nan if person.fit_confidence is None else person.fit_confidence,
        }
        order = None
        for name, value in rows.items():
            column = getattr(self, name)[keep]
            column = np.concatenate([column, np.asarray(value, column.dtype)[None]])
            if order is None:
                order = np.argsort(column, kind="stable")[-self.max_frames:]
            setattr(self, name, column[order])

    def to_dict(self) -> dict[str, Any]:
        return {"body_model": self.body_model, "max_frames": self.max_frames,
                "settled_shape": encode_array(self.settled_shape), "settled_height_cm": self.settled_height_cm,
                **{name: encode_array(getattr(self, name)) for name in _COLUMNS}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BodyHistory":
        return cls(data["body_model"], **{name: decode_array(data[name]) for name in _COLUMNS},
                   max_frames=data["max_frames"], settled_shape=decode_array(data["settled_shape"]),
                   settled_height_cm=data["settled_height_cm"])


_COLUMNS = ("frames", "global_orient", "body_pose", "shape", "translation", "fit_confidence")


@dataclass
class Bodies:
    """Every track's :class:`BodyHistory` in one video, and the heights the client gave."""

    tracks: dict[int, BodyHistory] = field(default_factory=dict)
    height_cm: dict[int, float] = field(default_factory=dict)
    """track id -> height given by the client."""
    primary_height_cm: Optional[float] = None
    """A height given for the video's main subject, whichever track that is."""
    max_rows: int = MAX_SESSION_ROWS

    def record(self, frame: int, people: list[Person]) -> None:
        """Add the detected people with a fitted or regressed body (predicted ones carry an earlier body), then
        drop the least recently seen other tracks while the video holds more than ``max_rows`` rows."""
        recorded = set()
        for person in people:
            if person.source != "detected" or person.body_params is None or person.track_id is None:
                continue
            if person.track_id not in self.tracks:
                self.tracks[person.track_id] = BodyHistory.for_person(person)
            self.tracks[person.track_id].add(frame, person)
            recorded.add(person.track_id)
        stale = sorted((int(h.frames[-1]), track_id) for track_id, h in self.tracks.items() if track_id not in recorded)
        rows = sum(len(h) for h in self.tracks.values())
        for _, track_id in stale:
            if rows <= self.max_rows:
                break
            rows -= len(self.tracks.pop(track_id))

    def give_height(self, height_cm: Union[None, float, dict[int, float]]) -> None:
        """Keep a height from a request: a number for the main subject, or track id -> cm."""
        if isinstance(height_cm, dict):
            self.height_cm.update({int(k): float(v) for k, v in height_cm.items()})
        elif height_cm is not None:
            self.primary_height_cm = float(height_cm)

    def height_for(self, track_id: int, primary_id: Optional[int]) -> Optional[float]:
        if track_id in self.height_cm:
            return self.height_cm[track_id]
        return self.primary_height_cm if track_id == primary_id else None

    def to_dict(self) -> dict[str, Any]:
        return {"tracks": {str(k): v.to_dict() for k, v in self.tracks.items()},
                "height_cm": {str(k): v for k, v in self.height_cm.items()},
                "primary_height_cm": self.primary_height_cm, "max_rows": self.max_rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Bodies":
        return cls({int(k): BodyHistory.from_dict(v) for k, v in data["tracks"].items()},
                   {int(k): float(v) for k, v in data["height_cm"].items()}, data["primary_height_cm"],
                   data["max_rows"])
