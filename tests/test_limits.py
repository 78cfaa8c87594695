"""Inputs that once stalled or crashed the service get a clear 4xx, and the work one frame can cause is bounded."""

from __future__ import annotations

import base64
import dataclasses
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from pose_service.pipeline import FrameRequest
from tests.conftest import encode_b64


def _png_b64(width: int, height: int) -> str:
    buf = BytesIO()
    Image.new("L", (width, height)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("width, height", [(32766, 1), (32767, 2000), (1, 8000)])
def test_extreme_image_shapes_get_413(client, width, height):
    """A 176-byte 32766x1 PNG was once searched in ~44,000 tiles (492 s holding the detector); a 32,767 px side
    tripped an OpenCV assertion (500)."""
    response = client.post("/pose/hybrid", json={"image_base64": _png_b64(width, height), "frame_number": 0,
                                                 "video_id": f"extreme-{width}x{height}"})
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["code"] == "image_too_large"


def test_tiles_per_frame_are_bounded(pipeline):
    detector = pipeline.detector
    for width, height in [(640, 480), (1920, 1080), (7300, 5470), (8192, 820)]:
        tiles = np.array(detector.tile_regions(width, height))
        assert len(tiles) <= detector.max_tiles
        # still the whole frame: the union of tiles reaches every edge
        assert tiles[:, 0].min() == 0 and tiles[:, 1].min() == 0
        assert np.isclose((tiles[:, 0] + tiles[:, 2]).max(), width) and np.isclose((tiles[:, 1] + tiles[:, 3]).max(), height)
    assert len(detector.tile_regions(1920, 1080)) == 40  # the usual frames keep their 320 px tiles


@pytest.mark.parametrize("focal", [1e30, 1e7, 0.5, -3])
def test_absurd_focal_lengths_get_400(client, astronaut_b64, focal):
    """A focal length of 1e30 once broke the fit's linear algebra (500)."""
    response = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": 0,
                                                 "video_id": "focal", "focal_length_px": focal})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_field"
    assert "focal_length_px" in response.get_json()["error"]


def test_json_batch_types_are_strict(client, astronaut_b64):
    """The JSON batch once took ``"focal_length_px": "500"`` (lax types meant for the multipart form)."""
    response = client.post("/pose/batch", json={"frames": [{"image_base64": astronaut_b64}],
                                                "focal_length_px": "500"})
    assert response.status_code == 400 and "focal_length_px" in response.get_json()["error"]


@pytest.mark.parametrize("video_id", ["clip\n2026-11-30 INFO forged line", "nul\x00", "bell\x07", ""])
def test_video_ids_with_control_characters_get_400(client, astronaut_b64, video_id):
    """A newline in a video_id once forged log lines."""
    response = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": 0,
                                                 "video_id": video_id})
    assert response.status_code == 400 and "video_id" in response.get_json()["error"]


def test_people_per_frame_are_capped_to_the_most_confident(pipeline, astronaut, monkeypatch):
    """A 7x7 mosaic of one photo once gave 46 people and held the model lock for 45 s."""
    mosaic = np.tile(astronaut, (3, 3, 1))
    uncapped = pipeline.detector(mosaic, (), True)
    assert len(uncapped) >= 5, "the mosaic should show several people"
    monkeypatch.setattr(pipeline, "video", dataclasses.replace(pipeline.video, max_people=2))
    result = pipeline.process(FrameRequest(image=mosaic, frame_number=0, video_id="mosaic-cap"))
    pipeline.sessions.delete("mosaic-cap")
    assert len(result.people) == 2
    best = sorted((p.score for p in uncapped), reverse=True)[:2]
    assert sorted((p.score for p in result.people), reverse=True) == pytest.approx(best, abs=1e-6)


def test_a_real_frame_still_works_after_the_refusals(client, astronaut):
    response = client.post("/pose/hybrid", json={"image_base64": encode_b64(astronaut), "frame_number": 0,
                                                 "video_id": "after-limits"})
    assert response.status_code == 200 and len(response.get_json()["people"]) == 1


@pytest.mark.parametrize("path", ["/jobs/%2F/frames", "/jobs//frames", "/sessions//measurements", "//health"])
def test_double_slashes_get_json_not_an_html_redirect(client, path):
    """Werkzeug once answered these with a 308 and an HTML page (found by scripts/fuzz_service.py)."""
    for method in ("GET", "DELETE"):
        response = client.open(path, method=method)
        assert response.status_code == 404 and response.get_json()["code"] in ("not_found", "job_not_found",
                                                                                "session_not_found")
