"""Shot cuts: whether a frame continues the previous shot, from tiny thumbnails of the two.

An edited clip can cut from one shot to another; a track's location, velocity and box mean nothing across the cut,
so the tracker must not predict them there nor match by location. A cut is a frame whose 32x18 thumbnail differs
from the last informative frame's by a large mean absolute difference *and* has lost its layout (low
correlation): a pan or a flash changes one but not both. A flat frame (blank, grey, black) is not informative: it
neither cuts nor replaces the reference, so a dropped frame in the middle of a shot is not a cut.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

THUMBNAIL_SIZE = (32, 18)
"""(width, height): enough to see a scene's layout, ~1.7 kB in a session's state."""
FLAT_STD = 2.0
"""Grey levels: a thumbnail this uniform shows nothing."""


def thumbnail(image_rgb: np.ndarray) -> Optional[np.ndarray]:
    """(18, 32, 3) uint8 thumbnail of an (H, W, 3) RGB frame, or None for a flat frame."""
    small = cv2.resize(image_rgb, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    return None if float(small.std()) < FLAT_STD else small


def is_cut(previous: np.ndarray, current: np.ndarray, min_difference: float, max_correlation: float) -> bool:
    """Whether ``current`` starts a new shot after ``previous`` (both thumbnails)."""
    a, b = previous.astype(np.float64), current.astype(np.float64)
    difference = float(np.abs(a - b).mean()) / 255.0
    ga, gb = a.mean(axis=2).ravel(), b.mean(axis=2).ravel()
    if ga.std() < FLAT_STD or gb.std() < FLAT_STD:  # one colour with a slight tint: the layout says nothing
        return difference >= min_difference
    correlation = float(np.corrcoef(ga, gb)[0, 1])
    return difference >= min_difference and correlation <= max_correlation
