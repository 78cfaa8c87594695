"""Video files -> RGB frames, with OpenCV (any container and codec its FFmpeg build reads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import cv2
import numpy as np


class VideoError(ValueError):
    """The file is not a video OpenCV can read."""


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frame count, width, height); raises :class:`VideoError` unless a first frame can be decoded. The count is
    the container's when it states one, else found by reading through the file."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            raise VideoError("the upload is not a video that can be read (no decodable frame)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            count = 1
            while capture.grab():
                count += 1
        return count, frame.shape[1], frame.shape[0]
    finally:
        capture.release()


def read_frames(path: Path, max_frames: Optional[int] = None) -> Iterator[np.ndarray]:
    """The frames in order as (H, W, 3) RGB uint8 (OpenCV decodes BGR), at most ``max_frames``."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                return
            count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
