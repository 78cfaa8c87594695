"""Stage 1: payload -> RGB image."""

import base64
from io import BytesIO

import cv2
import numpy as np
import pytest
from PIL import Image

from pose_service.decode import DecodeError, ImageLimits, ImageTooLarge, decode_image
from tests.conftest import encode_b64

LIMIT = ImageLimits(max_pixels=10_000_000)


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".webp"])
def test_lossless_formats_round_trip_exactly(small, ext):
    if ext == ".webp":
        ok, buf = cv2.imencode(ext, cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 101])
        b64 = base64.b64encode(buf.tobytes()).decode()
    else:
        b64 = encode_b64(small, ext)
    np.testing.assert_array_equal(decode_image(b64, LIMIT), small)


def test_jpeg_decodes_to_rgb_not_bgr():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    decoded = decode_image(encode_b64(red), LIMIT)
    assert decoded.shape == (32, 32, 3)
    assert decoded[..., 0].mean() > 240 and decoded[..., 2].mean() < 15


def test_data_url_prefix_line_breaks_and_urlsafe_alphabet(small):
    b64 = encode_b64(small, ".png")
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    for payload in ("data:image/png;base64," + b64, wrapped, b64.replace("+", "-").replace("/", "_").rstrip("=")):
        np.testing.assert_array_equal(decode_image(payload, LIMIT), small)


@pytest.mark.parametrize(
    "fmt,channels,convert",
    [("rgb24", 3, None), ("bgr24", 3, cv2.COLOR_RGB2BGR), ("rgba32", 4, cv2.COLOR_RGB2RGBA), ("bgra32", 4, cv2.COLOR_RGB2BGRA)],
)
def test_raw_buffers(small, fmt, channels, convert):
    pixels = small if convert is None else cv2.cvtColor(small, convert)
    b64 = base64.b64encode(pixels.tobytes()).decode()
    np.testing.assert_array_equal(decode_image(b64, LIMIT, width=60, height=40, pixel_format=fmt), small)


def test_raw_gray_becomes_three_equal_channels():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = decode_image(base64.b64encode(gray.tobytes()).decode(), LIMIT, width=4, height=3, pixel_format="gray8")
    assert out.shape == (3, 4, 3) and (out == gray[..., None]).all()


@pytest.mark.parametrize(
    "payload,kwargs,code",
    [
        ("", {}, "empty_image"),
        ("   ", {}, "empty_image"),
        ("not base64!!", {}, "invalid_base64"),
        (base64.b64encode(b"plain text, not an image").decode(), {}, "invalid_image"),
        (base64.b64encode(b"\x00" * 10).decode(), {"width": 4, "height": 4, "pixel_format": "rgb24"}, "invalid_image"),
        (base64.b64encode(b"\x00" * 48).decode(), {"width": 4, "height": 4}, "invalid_field"),
    ],
)
def test_bad_payloads_raise_with_codes(payload, kwargs, code):
    with pytest.raises(DecodeError) as info:
        decode_image(payload, LIMIT, **kwargs)
    assert info.value.code == code


def test_truncated_jpeg_is_invalid(astronaut):
    data = base64.b64decode(encode_b64(astronaut))
    with pytest.raises(DecodeError) as info:
        decode_image(base64.b64encode(data[: len(data) // 3]).decode(), LIMIT)
    assert info.value.code == "invalid_image"


def test_gif_is_refused_as_unsupported():
    buf = BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    with pytest.raises(DecodeError) as info:
        decode_image(base64.b64encode(buf.getvalue()).decode(), LIMIT)
    assert info.value.code == "unsupported_image_format"


def test_pixel_limit_is_checked_from_the_header(small):
    with pytest.raises(ImageTooLarge):
        decode_image(encode_b64(small, ".png"), ImageLimits(max_pixels=40 * 60 - 1))
    with pytest.raises(ImageTooLarge):
        decode_image(base64.b64encode(small.tobytes()).decode(), ImageLimits(max_pixels=100), width=60, height=40,
                     pixel_format="rgb24")


def _png_b64(width: int, height: int) -> str:
    buf = BytesIO()
    Image.new("L", (width, height)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("width, height, words", [
    (32766, 1, "side"),           # 176 bytes: once tiled into ~44,000 detector tiles, stalling every video
    (8000, 1, "aspect ratio"),
    (1, 8000, "aspect ratio"),
    (32767, 4000, "side|pixels"), # beyond OpenCV's int16 image side: an assertion, a 5xx
    (9000, 1000, "side"),
])
def test_extreme_shapes_are_refused_from_the_header(width, height, words):
    with pytest.raises(ImageTooLarge, match=words):
        decode_image(_png_b64(width, height), ImageLimits(max_pixels=200_000_000))


def test_aspect_limit_admits_wide_frames_within_it():
    assert decode_image(_png_b64(1000, 100), LIMIT).shape == (100, 1000, 3)


def test_phone_jpeg_with_mpf_segment_decodes_its_first_image():
    """Phones write JPEGs with an MPF segment (extra images: a depth map, a preview); PIL calls them MPO."""
    y, x = np.mgrid[0:40, 0:60]
    smooth = np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)  # JPEG keeps a smooth image closely
    buf = BytesIO()
    Image.fromarray(smooth).save(buf, format="MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))],
                                quality=95)
    assert Image.open(BytesIO(buf.getvalue())).format == "MPO"
    decoded = decode_image(base64.b64encode(buf.getvalue()).decode(), LIMIT)
    assert decoded.shape == smooth.shape and np.abs(decoded.astype(int) - smooth).mean() < 3
