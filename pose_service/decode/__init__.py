"""Stage 1: request payload -> RGB image."""

from .image import DecodeError, ImageTooLarge, decode_image

__all__ = ["DecodeError", "ImageTooLarge", "decode_image"]
