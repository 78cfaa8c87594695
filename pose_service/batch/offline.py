"""Offline post-processing of a whole tracked sequence: fill gaps inside tracks, then smooth without lag.

Live frames can only look back, so the tracker predicts a missed person (Kalman) and smooths causally (One-Euro,
which lags when moving). A batch has every frame at hand, so:

- a gap *inside* a track (frames between two of its detections) is filled by linear interpolation between the
  detections around it, replacing the tracker's predictions there (``source: "interpolated"``); predictions after
  a track's last detection are kept, as nothing follows them to interpolate towards;
- each track is smoothed with a centred, Gaussian-weighted local-linear fit (LOESS-style). Chosen over a
  forward-backward (filtfilt) filter because it is zero-phase as well, needs no padding at the ends of a track,
  takes irregular frame numbers as they are, and reproduces a straight-line motion exactly, ends included.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from ..types import FrameResult, Person

SMOOTH_SIGMA_FRAMES = 1.5
"""Width of the smoothing kernel: about halves per-frame jitter (std) while following motion of a few frames."""

_SOURCE_RANK = {"detected": 0, "interpolated": 1, "predicted": 2}


def gap_positions(times: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows to fill between known rows of a time series.

    ``times`` (N,) increasing, ``known`` (N,) bool. Returns ``(rows, before, after, weight)``: each unknown row
    strictly between the first and last known row, the known rows around it and its weight towards ``after``
    (0 at ``before``, 1 at ``after``), linear in ``times``.
    """
    known_rows = np.flatnonzero(known)
    if len(known_rows) < 2:
        empty = np.zeros(0, dtype=int)
        return empty, empty, empty, np.zeros(0)
    rows = np.flatnonzero(~known)
    rows = rows[(rows > known_rows[0]) & (rows < known_rows[-1])]
    after = known_rows[np.searchsorted(known_rows, rows)]
    before = known_rows[np.searchsorted(known_rows, rows) - 1]
    t = times.astype(float)
    weight = (t[rows] - t[before]) / (t[after] - t[before])
    return rows, before, after, weight


def lerp(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    return (1.0 - weight) * np.asarray(a, dtype=float) + weight * np.asarray(b, dtype=float)


def smooth_series(times: np.ndarray, values: np.ndarray, sigma: float = SMOOTH_SIGMA_FRAMES) -> np.ndarray:
    """Zero-phase smoothing of ``values`` (N, ...) sampled at increasing ``times`` (N,), in frames.

    Each sample becomes the value at its own time of a straight line fitted, by least squares weighted with a
    Gaussian of the time difference (cut at 2.5 sigma), to its neighbours on both sides. Linear motion passes
    unchanged (no lag); a sample with no neighbour in reach is kept as it is. That value is linear in the samples:
    the samples are smoothed by one weight matrix per block of rows (a mesh's vertices by one product).
    """
    n = len(times)
    if n < 2 or sigma <= 0:
        return np.array(values, dtype=float)
    t = np.asarray(times, dtype=float)
    flat = np.asarray(values, dtype=float).reshape(n, -1)
    # Times are distinct frame numbers, so every neighbour within reach is within that many rows.
    span = min(n - 1, math.floor(2.5 * sigma))
    smoothed = np.empty_like(flat)
    for start in range(0, n, _SMOOTH_BLOCK):
        rows = slice(start, min(n, start + _SMOOTH_BLOCK))
        near = slice(max(0, start - span), min(n, rows.stop + span))
        smoothed[rows] = _line_weights(t[rows], t[near], sigma) @ flat[near]
    return smoothed.reshape(np.shape(values))


_SMOOTH_BLOCK = 256
"""Rows of :func:`smooth_series` per weight matrix (its memory is quadratic in them)."""


def _line_weights(at: np.ndarray, near: np.ndarray, sigma: float) -> np.ndarray:
    """(R, C) weights giving, from samples at times ``near`` (C,), the value at each time of ``at`` (R,) of the
    weighted least-squares line through them (see :func:`smooth_series`); a time with fewer than two distinct
    times in reach takes its own sample."""
    d = near[None, :] - at[:, None]
    w = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= 2.5 * sigma)
    s0, s1, s2 = w.sum(1), (w * d).sum(1), (w * d * d).sum(1)
    det = s0 * s2 - s1 * s1
    fitted = det > 1e-9 * s0 * s0
    line = w * (s2[:, None] - s1[:, None] * d) / np.where(fitted, det, 1.0)[:, None]
    return np.where(fitted[:, None], line, d == 0)


def _interpolated(a: Person, b: Person, weight: float, frames_from_detection: int, confidence_tau: float) -> Person:
    """The person between detections ``a`` and ``b`` of one track. Fields one side lacks stay None; body
    parameters (axis-angle) are not interpolated linearly and stay None."""

    def both(field: str) -> Optional[np.ndarray]:
        x, y = getattr(a, field), getattr(b, field)
        return None if x is None or y is None else lerp(x, y, weight)

    vertices = both("vertices")
    return Person(
        keypoints_2d=lerp(a.keypoints_2d, b.keypoints_2d, weight),
        bbox=tuple(float(v) for v in lerp(a.bbox, b.bbox, weight)),  # type: ignore[arg-type]
        score=min(a.score, b.score),
        keypoints_3d=both("keypoints_3d"),
        camera_translation=both("camera_translation"),
        vertices=vertices,
        body_model=a.body_model if vertices is not None else None,
        track_id=a.track_id,
        source="interpolated",
        # As for the tracker's predictions: confidence decays with the distance to the nearest detection.
        tracking_confidence=math.exp(-frames_from_detection / confidence_tau),
    )


def _smooth_field(entries: list[tuple[int, Person]], times: list[int], field: str, sigma: float,
                  get: Callable[[Person], Any], put: Callable[[Person, np.ndarray], None]) -> None:
    rows = [i for i, (_, p) in enumerate(entries) if getattr(p, field) is not None]
    if len(rows) < 2:
        return
    smoothed = smooth_series(np.array([times[i] for i in rows]), np.stack([get(entries[i][1]) for i in rows]), sigma)
    for i, value in zip(rows, smoothed):
        put(entries[i][1], value)


def _set_xy(person: Person, xy: np.ndarray) -> None:
    person.keypoints_2d = np.concatenate([xy, np.asarray(person.keypoints_2d)[:, 2:]], axis=1)


_SMOOTHED: list[tuple[str, Callable[[Person], Any], Callable[[Person, np.ndarray], None]]] = [
    ("keypoints_2d", lambda p: np.asarray(p.keypoints_2d)[:, :2], _set_xy),  # confidences stay as they are
    ("keypoints_3d", lambda p: p.keypoints_3d, lambda p, v: setattr(p, "keypoints_3d", v)),
    ("camera_translation", lambda p: p.camera_translation, lambda p, v: setattr(p, "camera_translation", v)),
    ("vertices", lambda p: p.vertices, lambda p, v: setattr(p, "vertices", v)),
]


def postprocess(results: list[FrameResult], confidence_tau: float, smooth_sigma: Optional[float]) -> None:
    """Fill gaps inside tracks and (``smooth_sigma`` not None) smooth every track, in place. ``results`` are the
    frames of one sequence in order; people without a track id are left alone."""
    tracks: dict[int, dict[int, Person]] = defaultdict(dict)  # track id -> frame row -> person
    leads = [result.people[0].track_id if result.people else None for result in results]  # the tracker's primary
    for row, result in enumerate(results):
        for person in result.people:
            if person.track_id is not None:
                tracks[person.track_id][row] = person
    times = np.array([r.frame_number for r in results])

    for track_id, by_row in tracks.items():
        span = np.arange(min(by_row), max(by_row) + 1)
        known = np.array([row in by_row and by_row[row].source == "detected" for row in span])
        detected_frames = times[span[known]]
        for row, before, after, weight in zip(*gap_positions(times[span], known)):
            a, b = by_row[span[before]], by_row[span[after]]
            nearest = int(np.min(np.abs(detected_frames - times[span[row]])))
            person = _interpolated(a, b, float(weight), nearest, confidence_tau)
            result = results[span[row]]
            result.people = [p for p in result.people if p.track_id != track_id] + [person]
            by_row[span[row]] = person
        if smooth_sigma is not None:
            entries = sorted(by_row.items())
            entry_times = [int(times[row]) for row, _ in entries]
            for field, get, put in _SMOOTHED:
                _smooth_field(entries, entry_times, field, smooth_sigma, get, put)

    for result, lead in zip(results, leads):
        result.people.sort(key=lambda p: (_SOURCE_RANK.get(p.source, 3), p.track_id != lead, -p.score))


def summary(results: list[FrameResult]) -> dict[str, Any]:
    """Coverage (frames with at least one person / frames), person counts by source, and the track ids seen."""
    sources = [p.source for r in results for p in r.people]
    with_body = sum(bool(r.people) for r in results)
    return {
        "frames": len(results),
        "frames_with_body": with_body,
        "coverage": with_body / len(results) if results else None,
        "detected": sources.count("detected"),
        "predicted": sources.count("predicted"),
        "interpolated": sources.count("interpolated"),
        "track_ids": sorted({p.track_id for r in results for p in r.people if p.track_id is not None}),
    }
