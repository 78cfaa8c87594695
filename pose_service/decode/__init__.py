"""Stage 1: request payload -> RGB image."""

from .image import DecodeError, ImageLimits, ImageTooLarge, decode_image

__all__ = ["DecodeError", "ImageLimits", "ImageTooLarge", "decode_image"]
