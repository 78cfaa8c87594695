"""Video files -> RGB frames, with OpenCV's FFmpeg: MP4/QuickTime, Matroska/WebM and AVI files only.

FFmpeg picks its demuxer by probing the file, and some of its demuxers open other files: an HLS playlist
(``#EXTM3U``) or a concat list (``ffconcat version 1.0``) naming ``/some/server/file.mp4`` or a ``file://`` URL
makes it read that file as if it were the video. So a file is opened only when its first bytes are one of the
containers above (:func:`sniff_container`), checked at every open (the API's upload, an RQ worker's copy of it,
the scripts' clips). The demuxers that follow references each need their own signature at byte 0, which no
accepted container has; the sniff asks for what makes FFmpeg's probe score the container's own demuxer highest
(an EBML magic alone scores lower than an SDP text after it); and those demuxers open no other file (mov follows
external data references only with ``enable_drefs``, off by default).

FFmpeg's own limits (``protocol_whitelist``, ``format_whitelist``) cannot be set from here: OpenCV passes them
only through ``OPENCV_FFMPEG_CAPTURE_OPTIONS``, which opencv-python-headless 4.11.0 never applies (an inverted
test, opencv/opencv#26793, fixed in 4.12, which needs numpy 2, which mediapipe cannot use), and
``cv2.VideoCapture``'s ``params`` take only ``CAP_PROP_*`` values.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

SNIFF_BYTES = 64
ACCEPTED = "MP4/QuickTime (ISO BMFF), Matroska/WebM or AVI"
# ISO BMFF box types that start a file: ftyp, or in old QuickTime files the first box itself.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide"}
# ftyp brands of still images (JPEG 2000, JPEG XL), which FFmpeg's probe does not take for a movie.
_IMAGE_BRANDS = {b"jp2 ", b"jpx ", b"jxl "}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


class VideoError(ValueError):
    """The file is not a video OpenCV can read."""


class UnsupportedVideoFormat(VideoError):
    """The file's first bytes are not those of an accepted container."""


class Container(Enum):
    """An accepted container, by the suffix its files get here (FFmpeg's probe weighs the name too)."""

    MP4 = ".mp4"  # ISO BMFF and QuickTime: mp4, mov, m4v, 3gp
    MATROSKA = ".mkv"  # Matroska and WebM
    AVI = ".avi"


def _ebml_header(head: bytes) -> bytes:
    """The body of the EBML header that ``head`` starts with, b"" unless it is all there (its size is an EBML
    variable-length integer: the first byte's leading zeros tell how many bytes follow)."""
    if len(head) < 5 or head[:4] != _EBML_MAGIC or head[4] == 0:
        return b""
    length = 9 - head[4].bit_length()
    size = int.from_bytes(bytes([head[4] & (0xFF >> length)]) + head[5:4 + length], "big")
    body = head[4 + length:4 + length + size]
    return body if len(body) == size else b""


def sniff_container(head: bytes) -> Container:
    """The container of a file that starts with ``head`` (its first :data:`SNIFF_BYTES` bytes); raises
    :class:`UnsupportedVideoFormat` for anything else.

    ISO BMFF: a first box type at offset 4 after a size a box can have (0: to the end of the file, 1: a 64-bit size
    follows, else at least its own 8-byte header), not an image's ftyp. Matroska/WebM: an EBML header that names its
    DocType. AVI: a RIFF file of form ``AVI ``."""
    if (len(head) >= 12 and head[4:8] in _ISO_FIRST_BOXES and int.from_bytes(head[:4], "big") not in range(2, 8)
            and not (head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS)):
        return Container.MP4
    header = _ebml_header(head)
    if b"matroska" in header or b"webm" in header:
        return Container.MATROSKA
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Container.AVI
    raise UnsupportedVideoFormat(f"not a video in an accepted container: {ACCEPTED} (told by its first bytes)")


def _open(path: Path) -> cv2.VideoCapture:
    """The capture of an accepted container, by FFmpeg only (OpenCV's other backends read image sequences from
    name patterns)."""
    with path.open("rb") as file:
        sniff_container(file.read(SNIFF_BYTES))
    return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frame count, width, height); raises :class:`VideoError` unless a first frame can be decoded. The count is
    the container's when it states one, else found by reading through the file."""
    capture = _open(path)
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
    capture = _open(path)
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
