"""A weight-free appearance descriptor: colour histograms over body parts placed by the 2D keypoints.

Parts: the torso quad (shoulders, hips) and the eight limb segments (upper/lower arms and legs), each segment a
capsule whose radius follows the torso's length, so the regions scale with the person. Colour: the HSV scheme of
Pérez et al. (2002), robust to lighting changes: pixels with enough saturation and brightness vote in a joint
hue x saturation histogram, the others (greys, blacks, whites, where hue is noise) in a brightness histogram.
A part is visible when its keypoints are confident and enough of its pixels lie in the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..conventions import LIMB_SEGMENTS, TORSO
from .serial import decode_array, encode_array

NUM_PARTS = 1 + len(LIMB_SEGMENTS)

HUE_BINS, SAT_BINS, VALUE_BINS = 8, 2, 4
NUM_BINS = HUE_BINS * SAT_BINS + VALUE_BINS
CHROMATIC_MIN = 0.2
"""Saturation and value both at least this for a pixel's hue to count."""
LIMB_RADIUS = 0.18
"""Capsule radius as a fraction of the torso length (shoulder centre to hip centre)."""
MIN_CONFIDENCE = 0.3
MIN_PIXELS = 16
MAX_SAMPLES = 1500
"""Pixels sampled per part at most (on a regular grid): enough for a 20-bin histogram, cheap on large frames."""


@dataclass
class Appearance:
    histograms: np.ndarray
    """(NUM_PARTS, NUM_BINS) float64, each visible row sums to 1."""
    visible: np.ndarray
    """(NUM_PARTS,) bool."""

    def to_dict(self) -> dict[str, Any]:
        return {"histograms": encode_array(self.histograms), "visible": encode_array(self.visible)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Appearance":
        return cls(decode_array(data["histograms"]), decode_array(data["visible"]))


def describe(image_rgb: np.ndarray, keypoints_2d: np.ndarray) -> Appearance:
    """Histograms of the parts of one person in an (H, W, 3) RGB uint8 image; (25, 3) keypoints in pixels."""
    histograms = np.zeros((NUM_PARTS, NUM_BINS))
    visible = np.zeros(NUM_PARTS, bool)
    xy, confident = keypoints_2d[:, :2], keypoints_2d[:, 2] >= MIN_CONFIDENCE
    if not confident[list(TORSO)].all():
        return Appearance(histograms, visible)  # no scale for the limbs without a torso
    torso = xy[list(TORSO)]
    radius = max(2.0, LIMB_RADIUS * float(np.linalg.norm(torso[:2].mean(0) - torso[2:].mean(0))))
    regions = [(torso, None)] + [(xy[[a, b]], radius) for a, b in LIMB_SEGMENTS]
    usable = [True] + [bool(confident[a] and confident[b]) for a, b in LIMB_SEGMENTS]
    samples = [(part, _sample_region(image_rgb, points, r))
               for part, ((points, r), ok) in enumerate(zip(regions, usable)) if ok]
    samples = [(part, pixels) for part, pixels in samples if len(pixels) >= MIN_PIXELS]
    if samples:  # one binning pass over every part's pixels
        parts = np.array([part for part, _ in samples])
        owner = np.repeat(parts, [len(pixels) for _, pixels in samples])
        bins = _bins(np.concatenate([pixels for _, pixels in samples]))
        counts = np.bincount(owner * NUM_BINS + bins, minlength=NUM_PARTS * NUM_BINS).reshape(NUM_PARTS, NUM_BINS)
        histograms[parts] = counts[parts] / counts[parts].sum(axis=1, keepdims=True)
        visible[parts] = True
    return Appearance(histograms, visible)


def distance(a: Appearance, b: Appearance) -> Optional[float]:
    """Mean Hellinger distance (0 same colours .. 1 disjoint) over parts visible in both; None if none is."""
    shared = a.visible & b.visible
    if not shared.any():
        return None
    overlap = np.sqrt(a.histograms[shared] * b.histograms[shared]).sum(axis=1)
    return float(np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0)).mean())


def blend(track: Appearance, new: Appearance, weight: float) -> Appearance:
    """PHALP's appearance EMA: mix where both are visible, take whichever is visible elsewhere; union mask."""
    both = track.visible & new.visible
    histograms = np.where(new.visible[:, None], new.histograms, track.histograms)
    histograms[both] = (1.0 - weight) * track.histograms[both] + weight * new.histograms[both]
    return Appearance(histograms, track.visible | new.visible)


def _sample_region(image: np.ndarray, points: np.ndarray, radius: Optional[float]) -> np.ndarray:
    """RGB pixels (N, 3) of a convex polygon (radius None) or of a capsule around segment ``points``."""
    height, width = image.shape[:2]
    pad = radius or 0.0
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return np.zeros((0, 3), np.uint8)
    step = max(1, int(np.sqrt((x1 - x0 + 1) * (y1 - y0 + 1) / MAX_SAMPLES)))
    gx, gy = np.meshgrid(np.arange(x0, x1 + 1, step), np.arange(y0, y1 + 1, step))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(float)
    inside = _in_polygon(grid, points) if radius is None else _near_segment(grid, points, radius)
    return image[gy.ravel()[inside], gx.ravel()[inside]]


def _in_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Inside a convex polygon of either orientation: all edge cross products share a sign."""
    edges = np.roll(poly, -1, axis=0) - poly
    rel = p[:, None, :] - poly[None, :, :]
    cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
    return (cross >= 0).all(axis=1) | (cross <= 0).all(axis=1)


def _near_segment(p: np.ndarray, segment: np.ndarray, radius: float) -> np.ndarray:
    a, b = segment
    ab = b - a
    t = np.clip((p - a) @ ab / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) <= radius


def _bins(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) RGB uint8 pixels -> (N,) histogram bin of each: hue x saturation where chromatic, else value."""
    hue, sat, val = _to_hsv(rgb.astype(float) / 255.0)
    chromatic = (sat >= CHROMATIC_MIN) & (val >= CHROMATIC_MIN)
    h_bin = np.minimum((hue * HUE_BINS).astype(int), HUE_BINS - 1)
    s_bin = np.minimum(((sat - CHROMATIC_MIN) / (1 - CHROMATIC_MIN) * SAT_BINS).astype(int), SAT_BINS - 1)
    v_bin = np.minimum((val * VALUE_BINS).astype(int), VALUE_BINS - 1)
    return np.where(chromatic, h_bin * SAT_BINS + s_bin, HUE_BINS * SAT_BINS + v_bin)


def _to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) RGB in [0, 1] -> hue in [0, 1), saturation and value in [0, 1]."""
    val = rgb.max(axis=1)
    chroma = val - rgb.min(axis=1)
    sat = np.where(val > 0, chroma / np.maximum(val, 1e-12), 0.0)
    r, g, b = rgb.T
    safe = np.maximum(chroma, 1e-12)
    hue = np.where(val == r, (g - b) / safe, np.where(val == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    return (hue / 6.0) % 1.0, sat, val
