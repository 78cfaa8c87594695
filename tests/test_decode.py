"""Stage 1: payload -> RGB image."""

import base64

import cv2
import numpy as np
import pytest

from pose_service.decode import DecodeError, ImageTooLarge, decode_image
from tests.conftest import encode_b64

LIMIT = 10_000_000


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
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    with pytest.raises(DecodeError) as info:
        decode_image(base64.b64encode(buf.getvalue()).decode(), LIMIT)
    assert info.value.code == "unsupported_image_format"


def test_pixel_limit_is_checked_from_the_header(small):
    with pytest.raises(ImageTooLarge):
        decode_image(encode_b64(small, ".png"), max_pixels=40 * 60 - 1)
    with pytest.raises(ImageTooLarge):
        decode_image(base64.b64encode(small.tobytes()).decode(), 100, width=60, height=40, pixel_format="rgb24")
