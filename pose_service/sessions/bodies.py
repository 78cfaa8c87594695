"""A video's fitted bodies, in two parts: what every frame needs (small, in the session state) and each track's full
per-frame history (for measurements and exports, kept by the session store beside the state).

- :class:`Bodies` (in the state): per track a :class:`TrackBody` (how many frames it has, the shapes of its first
  ``MAX_SAMPLES`` frames, which settle its one shape, and the settled shape), the heights the client gave, and
  the rows recorded since the store last took them (``pending``).
- :class:`Histories` (in the store): per track a :class:`BodyHistory`, one row per frame with a body:
  ``3 + 3J + S + 3`` float32 values plus the frame number and the fit confidence (Anny: 66 values, ~0.3 kB), at
  most ``max_frames`` rows per track, the oldest dropped first (the default, 18,000, is ten minutes at 30 fps:
  ~5 MB for one Anny track), and at most ``MAX_SESSION_ROWS`` per video: beyond that, the tracks seen least
  recently are dropped whole (a crowd of passers-by would otherwise grow a video's history without bound).

So the state a frame reads and writes stays the same size however long the video runs; the history grows in the
store, appended to, and is read only to measure or export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from ..tracking.serial import decode_array, encode_array
from ..types import Person

MAX_FRAMES = 18_000
MAX_SESSION_ROWS = 2 * MAX_FRAMES
MAX_SAMPLES = 60
"""Shapes kept per track in the state, from its first frames: its shape settles from them (after
``VideoOptions.settle_shape_frames``, 30 by default)."""

_ARRAYS = ("global_orient", "body_pose", "shape", "translation")


@dataclass
class BodyRow:
    """One tracked person's body in one frame: ``body_params`` and ``camera_translation`` of
    :class:`pose_service.types.Person`, float32; ``fit_confidence`` nan where the backend gives none."""

    track_id: int
    frame: int
    body_model: str
    global_orient: np.ndarray
    body_pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    fit_confidence: float

    @classmethod
    def from_person(cls, frame: int, person: Person) -> "BodyRow":
        params = person.body_params
        f32 = np.float32
        return cls(person.track_id, int(frame), person.body_model, np.asarray(params["global_orient"], f32),
                   np.asarray(params["body_pose"], f32), np.asarray(params["shape"], f32),
                   np.asarray(person.camera_translation, f32),
                   float("nan") if person.fit_confidence is None else float(person.fit_confidence))

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "frame": self.frame, "body_model": self.body_model,
                "fit_confidence": None if np.isnan(self.fit_confidence) else self.fit_confidence,
                **{name: encode_array(getattr(self, name)) for name in _ARRAYS}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BodyRow":
        confidence = data["fit_confidence"]
        return cls(data["track_id"], data["frame"], data["body_model"],
                   **{name: decode_array(data[name]) for name in _ARRAYS},
                   fit_confidence=float("nan") if confidence is None else confidence)


@dataclass
class BodyHistory:
    """One track's rows in frame order. ``frames`` (N,) int64; ``global_orient`` (N, 3), ``body_pose`` (N, J, 3),
    ``shape`` (N, S), ``translation`` (N, 3) float32 (as :class:`BodyRow`); ``fit_confidence`` (N,) float32."""

    body_model: str
    frames: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    fit_confidence: np.ndarray
    max_frames: int = MAX_FRAMES

    @classmethod
    def empty(cls, body_model: str, num_pose_joints: int, shape_dim: int, max_frames: int = MAX_FRAMES) -> "BodyHistory":
        f32 = np.float32
        return cls(body_model, np.zeros(0, np.int64), np.zeros((0, 3), f32), np.zeros((0, num_pose_joints, 3), f32),
                   np.zeros((0, shape_dim), f32), np.zeros((0, 3), f32), np.zeros(0, f32), max_frames)

    @classmethod
    def for_row(cls, row: BodyRow, max_frames: int = MAX_FRAMES) -> "BodyHistory":
        """An empty history sized for ``row``'s body model."""
        return cls.empty(row.body_model, len(row.body_pose), len(row.shape), max_frames)

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, row: BodyRow) -> None:
        """Record ``row``: :meth:`extend` with one row."""
        self.extend([row])

    def extend(self, rows: list[BodyRow]) -> None:
        """Record ``rows`` at once (a row replaces any earlier one of the same frame), keeping frame order and the
        newest ``max_frames``: one concatenation, so that a history read back row by row costs O(N log N)."""
        if not rows:
            return
        frames = np.array([row.frame for row in rows], np.int64)
        # The last row given for each frame wins.
        _, last_reversed = np.unique(frames[::-1], return_index=True)
        newest = len(rows) - 1 - last_reversed
        keep = ~np.isin(self.frames, frames)
        values = {"frames": frames, "fit_confidence": np.array([row.fit_confidence for row in rows]),
                  **{name: np.stack([getattr(row, name) for row in rows]) for name in _ARRAYS}}
        order = None
        for name, value in values.items():
            column = getattr(self, name)
            column = np.concatenate([column[keep], np.asarray(value, column.dtype)[newest]])
            if order is None:
                order = np.argsort(column, kind="stable")[-self.max_frames:]
            setattr(self, name, column[order])


@dataclass
class Histories:
    """Every track's :class:`BodyHistory` of one video (see the module docstring for the bounds)."""

    tracks: dict[int, BodyHistory] = field(default_factory=dict)
    max_rows: int = MAX_SESSION_ROWS

    def add(self, rows: Iterable[BodyRow]) -> None:
        """Record ``rows``, then drop the least recently seen other tracks while there are more than ``max_rows``."""
        by_track: dict[int, list[BodyRow]] = {}
        for row in rows:
            by_track.setdefault(row.track_id, []).append(row)
        for track_id, track_rows in by_track.items():
            if track_id not in self.tracks:
                self.tracks[track_id] = BodyHistory.for_row(track_rows[0])
            self.tracks[track_id].extend(track_rows)
        recorded = set(by_track)
        stale = sorted((int(h.frames[-1]), track_id) for track_id, h in self.tracks.items() if track_id not in recorded)
        total = sum(len(h) for h in self.tracks.values())
        for _, track_id in stale:
            if total <= self.max_rows:
                break
            total -= len(self.tracks.pop(track_id))


@dataclass
class TrackBody:
    """What a frame needs of one track's bodies. ``sample_shapes`` (K, S) and ``sample_confidence`` (K,) float32:
    the shapes and fit confidences of its first K <= ``MAX_SAMPLES`` frames; ``settled_shape`` (S,): the shape its
    fits keep once settled (``pose_service.pipeline``), under ``settled_height_cm`` (None: estimated scale)."""

    body_model: str
    frames: int
    sample_shapes: np.ndarray
    sample_confidence: np.ndarray
    settled_shape: Optional[np.ndarray] = None
    settled_height_cm: Optional[float] = None

    def add(self, row: BodyRow) -> None:
        self.frames += 1
        if len(self.sample_shapes) < MAX_SAMPLES:
            self.sample_shapes = np.concatenate([self.sample_shapes, row.shape[None]])
            self.sample_confidence = np.append(self.sample_confidence, np.float32(row.fit_confidence))

    def to_dict(self) -> dict[str, Any]:
        return {"body_model": self.body_model, "frames": self.frames,
                "sample_shapes": encode_array(self.sample_shapes),
                "sample_confidence": encode_array(self.sample_confidence),
                "settled_shape": encode_array(self.settled_shape), "settled_height_cm": self.settled_height_cm}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrackBody":
        return cls(data["body_model"], data["frames"], decode_array(data["sample_shapes"]),
                   decode_array(data["sample_confidence"]), decode_array(data["settled_shape"]),
                   data["settled_height_cm"])


@dataclass
class Bodies:
    """The state's part: every track's :class:`TrackBody`, the heights the client gave, and the rows recorded
    since the session store last took them (:meth:`take_pending`)."""

    tracks: dict[int, TrackBody] = field(default_factory=dict)
    height_cm: dict[int, float] = field(default_factory=dict)
    """track id -> height given by the client."""
    primary_height_cm: Optional[float] = None
    """A height given for the video's main subject, whichever track that is."""
    pending: list[BodyRow] = field(default_factory=list)

    def record(self, frame: int, people: list[Person]) -> None:
        """Add the detected people with a fitted or regressed body (predicted ones carry an earlier body)."""
        for person in people:
            if person.source != "detected" or person.body_params is None or person.track_id is None:
                continue
            row = BodyRow.from_person(frame, person)
            if row.track_id not in self.tracks:
                shape_dim = len(row.shape)
                self.tracks[row.track_id] = TrackBody(row.body_model, 0, np.zeros((0, shape_dim), np.float32),
                                                      np.zeros(0, np.float32))
            self.tracks[row.track_id].add(row)
            self.pending.append(row)

    def take_pending(self) -> list[BodyRow]:
        """The rows recorded since the last call, for the store's :class:`Histories`."""
        rows, self.pending = self.pending, []
        return rows

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
                "primary_height_cm": self.primary_height_cm,
                "pending": [row.to_dict() for row in self.pending]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Bodies":
        return cls({int(k): TrackBody.from_dict(v) for k, v in data["tracks"].items()},
                   {int(k): float(v) for k, v in data["height_cm"].items()}, data["primary_height_cm"],
                   [BodyRow.from_dict(row) for row in data["pending"]])
