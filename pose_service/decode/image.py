"""Turn the base64 payload of a request into an RGB ``uint8`` array of shape (H, W, 3).

Encoded images (JPEG, PNG, WebP, BMP) are checked for format and size from their header before any pixel is
decoded, so an oversized image is refused without allocating it. A raw pixel buffer is accepted only with its
width, height and pixel format.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
from PIL import Image

# MPO: a phone JPEG whose MPF segment (APP2) lists extra images (a depth map, a preview); the first is the photo.
ENCODED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP")
RAW_CHANNELS = {"rgb24": 3, "bgr24": 3, "rgba32": 4, "bgra32": 4, "gray8": 1}
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_ASCII_WHITESPACE = " \t\n\r\v\f"


class DecodeError(ValueError):
    """The payload is not a usable image; ``code`` is the API's machine-readable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ImageTooLarge(DecodeError):
    def __init__(self, message: str) -> None:
        super().__init__("image_too_large", message)


@dataclass(frozen=True)
class ImageLimits:
    """What an accepted image may be. Each bound stops a real failure: pixels bound memory; a side of 32,767 px or
    more trips OpenCV's assertions; an extreme aspect ratio (32766 x 1) would be searched in tens of thousands
    of detector tiles."""

    max_pixels: int = 40_000_000
    max_side: int = 8192
    max_aspect_ratio: float = 10.0

    def check(self, width: int, height: int) -> None:
        """Raise :class:`DecodeError` (``empty_image``) or :class:`ImageTooLarge` unless ``width`` x ``height``
        is within the limits."""
        if width <= 0 or height <= 0:
            raise DecodeError("empty_image", "image has no pixels")
        if width * height > self.max_pixels:
            raise ImageTooLarge(f"image has {width * height} pixels; the limit is {self.max_pixels}")
        if max(width, height) > self.max_side:
            raise ImageTooLarge(f"image is {width}x{height}; no side may exceed {self.max_side} px")
        if max(width, height) > self.max_aspect_ratio * min(width, height):
            raise ImageTooLarge(f"image is {width}x{height}; its aspect ratio may not exceed "
                                f"{self.max_aspect_ratio:g}:1")


def decode_base64(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, optional ``data:image/...;base64,`` prefix, line breaks)."""
    body = _DATA_URL.sub("", text.strip(), count=1)
    # A frame's base64 is ~70 kB without line breaks: str's own search finds none faster than the regex's scan.
    if not body.isascii() or any(space in body for space in _ASCII_WHITESPACE):
        body = _WHITESPACE.sub("", body)
    if not body:
        raise DecodeError("empty_image", "image_base64 is empty")
    body = body.replace("-", "+").replace("_", "/")
    body += "=" * (-len(body) % 4)
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("invalid_base64", f"image_base64 is not valid base64: {exc}") from None
    if not data:
        raise DecodeError("empty_image", "image_base64 decodes to zero bytes")
    return data


def decode_encoded(data: bytes, limits: ImageLimits) -> np.ndarray:
    """JPEG/PNG/WebP/BMP bytes -> (H, W, 3) RGB uint8, EXIF orientation applied."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))
            fmt, (width, height) = header.format, header.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"image is larger than the limit of {limits.max_pixels} pixels") from None
    except Exception:
        raise DecodeError("invalid_image", "image_base64 is not a decodable JPEG, PNG, WebP or BMP image") from None
    if fmt not in ENCODED_FORMATS:
        raise DecodeError("unsupported_image_format", f"image format {fmt} is not one of {', '.join(ENCODED_FORMATS)}")
    limits.check(width, height)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DecodeError("invalid_image", f"the {fmt} image could not be decoded (truncated or corrupt)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_raw(data: bytes, width: int, height: int, pixel_format: str, limits: ImageLimits) -> np.ndarray:
    """A raw, row-major pixel buffer -> (H, W, 3) RGB uint8."""
    channels = RAW_CHANNELS.get(pixel_format)
    if channels is None:
        raise DecodeError("invalid_field", f"pixel_format must be one of {', '.join(RAW_CHANNELS)}")
    limits.check(width, height)
    expected = width * height * channels
    if len(data) != expected:
        raise DecodeError(
            "invalid_image",
            f"raw {pixel_format} buffer of {width}x{height} needs {expected} bytes, got {len(data)}",
        )
    pixels = np.frombuffer(data, np.uint8).reshape(height, width, channels)
    conversion = {
        "rgb24": None,
        "bgr24": cv2.COLOR_BGR2RGB,
        "rgba32": cv2.COLOR_RGBA2RGB,
        "bgra32": cv2.COLOR_BGRA2RGB,
        "gray8": cv2.COLOR_GRAY2RGB,
    }[pixel_format]
    return pixels.copy() if conversion is None else cv2.cvtColor(pixels, conversion)


def decode_image(
    image_base64: str,
    limits: ImageLimits,
    width: Optional[int] = None,
    height: Optional[int] = None,
    pixel_format: Optional[str] = None,
) -> np.ndarray:
    """Decode a request's image. Raw buffers need all of ``width``, ``height`` and ``pixel_format``."""
    data = decode_base64(image_base64)
    raw_fields = (width, height, pixel_format)
    if all(v is None for v in raw_fields):
        return decode_encoded(data, limits)
    if any(v is None for v in raw_fields):
        raise DecodeError("invalid_field", "a raw pixel buffer needs all of width, height and pixel_format")
    return decode_raw(data, int(width), int(height), str(pixel_format), limits)
