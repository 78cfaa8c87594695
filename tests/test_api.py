"""POST /pose/hybrid and the health endpoints, through the Flask test client."""

from __future__ import annotations

import base64
import os
import threading

import cv2
import numpy as np
import pytest

from pose_service import runtime as runtime_module
from pose_service.app import create_app
from pose_service.config import ServiceConfig
from pose_service.conventions import BODY25_NAMES
from tests.conftest import encode_b64

# Positions labelled by hand on skimage.data.astronaut() (512 x 512), in pixels; person's right = image left.
ASTRONAUT_LABELS = {
    "nose": (222, 125),
    "right_eye": (203, 103),
    "left_eye": (247, 104),
    "right_shoulder": (108, 240),
    "left_shoulder": (315, 252),
}
FACE_TOLERANCE_PX = 10  # MediaPipe puts the left eye 9 px low on this photo
SHOULDER_TOLERANCE_PX = 15  # a shoulder under a pressure suit is only known to about this


def post(client, **body):
    return client.post("/pose/hybrid", json=body)


def test_astronaut_gives_one_person_at_the_labelled_positions(client, astronaut_b64):
    response = post(client, image_base64=astronaut_b64, frame_number=7, video_id="clip-a")
    assert response.status_code == 200
    body = response.get_json()
    assert body["frame_number"] == 7 and body["video_id"] == "clip-a"
    assert body["image_size"] == [512, 512] and body["backend"] == "embedded"
    assert body["error"] is None and len(body["people"]) == 1
    assert [k["name"] for k in body["keypoints"]] == list(BODY25_NAMES)
    assert body["keypoint_count"] == 25
    by_name = {k["name"]: k for k in body["keypoints"]}
    for name, (x, y) in ASTRONAUT_LABELS.items():
        tolerance = SHOULDER_TOLERANCE_PX if "shoulder" in name else FACE_TOLERANCE_PX
        distance = np.hypot(by_name[name]["x"] - x, by_name[name]["y"] - y)
        assert distance <= tolerance, f"{name} is {distance:.1f} px from the label"
        assert by_name[name]["confidence"] > 0.5
    # Every keypoint comes from the fitted body, small toes included (MediaPipe alone has none).
    assert all(k["confidence"] > 0 for k in body["keypoints"])
    # The top level repeats the primary person.
    person = body["people"][0]
    assert person["keypoints"] == body["keypoints"] and person["source"] == "detected"
    x, y, w, h = person["bbox"]
    assert x < 222 < x + w and y < 125 < y + h
    # 3D keypoints: metres, root-relative, y down (the nose is above the hips).
    k3 = {k["name"]: k for k in body["keypoints_3d"]}
    assert k3["mid_hip"]["x"] == k3["mid_hip"]["y"] == k3["mid_hip"]["z"] == 0.0
    assert -0.9 < k3["nose"]["y"] < -0.3
    # A fitted Anny body, placed in front of the camera.
    assert body["has_3d"] is True and person["body_model"] == "anny"
    # The default resolution ("high"): about 6,000 of Anny's 13,718 vertices, with its own triangles.
    assert 5500 < len(body["mesh_vertices_data"]) < 6500 and len(body["mesh_faces_data"]) > 11000
    assert np.max(body["mesh_faces_data"]) == len(body["mesh_vertices_data"]) - 1
    assert 0.3 < body["camera_translation"][2] < 10 and body["focal_length_px"] == 512.0
    assert {k: np.shape(v) for k, v in person["body_params"].items()} == {
        "global_orient": (3,), "body_pose": (18, 3), "shape": (6,)}
    # A new track is reported from its first frame, tentative until confirmed.
    assert person["track_id"] == 1 and 0 < body["tracking_confidence"] < 1
    # The body explains the photo's keypoints (a real photo's fit ends around 0.02 of the body's size: ~0.86).
    assert body["fit_confidence"] == person["fit_confidence"] and person["fit_confidence"] > 0.5
    assert body["processing_time_ms"] > 0


def silhouette(body: dict) -> np.ndarray:
    """The response's mesh projected into the image as a filled mask."""
    width, height = body["image_size"]
    points = np.asarray(body["mesh_vertices_data"]) + np.asarray(body["camera_translation"])
    pixels = body["focal_length_px"] * points[:, :2] / points[:, 2:] + np.array([width / 2, height / 2])
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, list(np.round(pixels[np.asarray(body["mesh_faces_data"])]).astype(np.int32)), 1)
    return mask


def test_astronaut_mesh_covers_the_detected_keypoints(client, astronaut, astronaut_b64, app):
    body = post(client, image_base64=astronaut_b64, frame_number=0, video_id="cover").get_json()
    mask = cv2.dilate(silhouette(body), np.ones((9, 9), np.uint8))  # 4 px of slack around the outline
    detected = app.extensions["pose_runtime"].pipeline().detector(astronaut)[0].keypoints_2d
    seen = detected[detected[:, 2] > 0.5]
    assert len(seen) >= 8  # head, neck, shoulders, right elbow: the rest of the body is out of the photo
    inside = [bool(mask[int(round(y)), int(round(x))]) for x, y, _ in seen]
    assert all(inside), f"{inside.count(False)} of {len(seen)} detected keypoints fall outside the projected mesh"
    # And the mesh is a person-sized region, not the whole frame.
    assert 0.05 < silhouette(body).mean() < 0.6


def test_faces_can_be_left_out_and_fetched_once(client, astronaut_b64):
    body = post(client, image_base64=astronaut_b64, frame_number=0, video_id="faces", include_faces=False).get_json()
    faces = client.get("/mesh/faces?body_model=anny").get_json()
    assert faces["body_model"] == "anny" and faces["mesh_resolution"] == "high"
    assert body["mesh_faces_data"] is None and len(body["mesh_vertices_data"]) == faces["vertex_count"]
    assert len(faces["vertex_indices"]) == faces["vertex_count"]
    full = client.get("/mesh/faces?mesh_resolution=full").get_json()
    assert full["vertex_count"] == 13718 and len(full["mesh_faces_data"]) == 27420 and full["vertex_indices"] is None
    assert client.get("/mesh/faces?body_model=smpl").status_code == 404
    bad = client.get("/mesh/faces?mesh_resolution=huge")
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_field"
    no_mesh = post(client, image_base64=astronaut_b64, frame_number=1, video_id="faces", include_mesh=False).get_json()
    assert no_mesh["mesh_vertices_data"] is None and no_mesh["mesh_faces_data"] is None and no_mesh["has_3d"] is True


def test_mesh_resolutions_are_subsets_of_the_full_mesh_in_either_encoding(client, astronaut_b64):
    """The same cold fit (frame 0 of a new video each time) served at every resolution and in base64."""
    def frame(video_id: str, **fields) -> dict:
        return post(client, image_base64=astronaut_b64, frame_number=0, video_id=video_id, **fields).get_json()

    full = frame("levels-full", mesh_resolution="full")
    assert len(full["mesh_vertices_data"]) == 13718 and len(full["mesh_faces_data"]) == 27420
    full_vertices = np.asarray(full["mesh_vertices_data"])
    counts = {}
    for name in ("high", "medium", "low"):
        body = frame(f"levels-{name}", mesh_resolution=name)
        level = client.get(f"/mesh/faces?mesh_resolution={name}").get_json()
        vertices = np.asarray(body["mesh_vertices_data"])
        # Exactly the full mesh's vertices at the level's indices, people[0] the same, triangles over them.
        np.testing.assert_array_equal(vertices, full_vertices[level["vertex_indices"]])
        assert body["people"][0]["mesh_vertices_data"] == body["mesh_vertices_data"]
        assert body["mesh_faces_data"] == level["mesh_faces_data"]
        faces = np.asarray(level["mesh_faces_data"])
        assert faces.min() == 0 and faces.max() == len(vertices) - 1
        assert all(len(set(triangle)) == 3 for triangle in faces.tolist())
        counts[name] = len(vertices)
    assert counts["high"] > 5000 and 1000 < counts["medium"] < 1600 and 300 < counts["low"] < 500
    # The coarse level is the same body: its bounding box is within 3 cm of the full mesh's.
    low = full_vertices[client.get("/mesh/faces?mesh_resolution=low").get_json()["vertex_indices"]]
    np.testing.assert_allclose(np.ptp(low, axis=0), np.ptp(full_vertices, axis=0), atol=0.03)

    packed = frame("levels-b64", mesh_encoding="base64_float32")
    json_mesh = frame("levels-json")
    vertices = np.frombuffer(base64.b64decode(packed["mesh_vertices_data"]), "<f4").reshape(-1, 3)
    np.testing.assert_allclose(vertices, json_mesh["mesh_vertices_data"], atol=6e-5)  # JSON is rounded to 0.1 mm
    faces = np.frombuffer(base64.b64decode(packed["mesh_faces_data"]), "<u4").reshape(-1, 3)
    np.testing.assert_array_equal(faces, json_mesh["mesh_faces_data"])
    assert base64.b64decode(packed["people"][0]["mesh_vertices_data"]) == base64.b64decode(packed["mesh_vertices_data"])
    bad = post(client, image_base64=astronaut_b64, frame_number=0, mesh_encoding="gzip")
    assert bad.status_code == 400 and "mesh_encoding" in bad.get_json()["error"]


def test_photo_without_a_person(client, no_person_b64):
    response = post(client, image_base64=no_person_b64, frame_number=0)
    assert response.status_code == 200
    body = response.get_json()
    assert body["people"] == [] and body["error"] == "no person detected"
    assert body["keypoints"] == [] and body["keypoint_count"] == 0 and body["has_3d"] is False


def test_raw_rgb_buffer_gives_the_same_person(client, astronaut):
    raw = base64.b64encode(astronaut.tobytes()).decode()
    body = post(client, image_base64=raw, frame_number=1, width=512, height=512, pixel_format="rgb24").get_json()
    assert len(body["people"]) == 1
    nose = body["keypoints"][0]
    assert np.hypot(nose["x"] - 222, nose["y"] - 125) <= FACE_TOLERANCE_PX


BAD_REQUESTS = [
    # (description, request kwargs for client.post, status, code)
    ("not json", dict(data="frame", content_type="text/plain"), 415, "unsupported_media_type"),
    ("broken json", dict(data="{not json", content_type="application/json"), 400, "invalid_json"),
    ("json array", dict(json=[1, 2]), 400, "invalid_request"),
    ("missing image", dict(json={"frame_number": 0}), 400, "missing_field"),
    ("missing frame number", dict(json={"image_base64": "AAAA"}), 400, "missing_field"),
    ("frame number as string", dict(json={"image_base64": "AAAA", "frame_number": "3"}), 400, "invalid_field"),
    ("negative frame number", dict(json={"image_base64": "AAAA", "frame_number": -1}), 400, "invalid_field"),
    ("image as number", dict(json={"image_base64": 12, "frame_number": 0}), 400, "invalid_field"),
    ("bad base64", dict(json={"image_base64": "@@@@", "frame_number": 0}), 400, "invalid_base64"),
    ("empty image", dict(json={"image_base64": "", "frame_number": 0}), 400, "empty_image"),
    ("not an image", dict(json={"image_base64": base64.b64encode(b"hello world").decode(), "frame_number": 0}), 400, "invalid_image"),
    ("bad pixel format", dict(json={"image_base64": "AAAA", "frame_number": 0, "width": 1, "height": 1, "pixel_format": "yuv"}), 400, "invalid_field"),
    ("raw without format", dict(json={"image_base64": "AAAA", "frame_number": 0, "width": 1, "height": 1}), 400, "invalid_field"),
    ("bad focal", dict(json={"image_base64": "AAAA", "frame_number": 0, "focal_length_px": -5}), 400, "invalid_field"),
]


@pytest.mark.parametrize("description,kwargs,status,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gives_a_json_error_and_the_service_goes_on(client, astronaut_b64, description, kwargs, status, code):
    response = client.post("/pose/hybrid", **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"]
    follow_up = post(client, image_base64=astronaut_b64, frame_number=0)
    assert follow_up.status_code == 200 and len(follow_up.get_json()["people"]) == 1


def test_unknown_route_and_wrong_method_are_json(client):
    assert client.get("/nope").get_json()["code"] == "not_found"
    response = client.get("/pose/hybrid")
    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"


@pytest.fixture(scope="module")
def gated_app(monkeypatch_module):
    """An app whose model loading waits for the test to open a gate, so 'warming_up' can be observed."""
    gate, waiting = threading.Event(), threading.Event()
    real_build = runtime_module.build_pipeline

    def gated_build(config, report, sessions):
        report("gate", "loading")
        waiting.set()
        gate.wait(timeout=60)
        report("gate", "loaded")
        return real_build(config, report, sessions)

    monkeypatch_module.setattr(runtime_module, "build_pipeline", gated_build)
    app = create_app(ServiceConfig(max_body_bytes=200_000, max_image_pixels=100_000, retry_after_s=7))
    assert waiting.wait(timeout=60)
    return app, gate


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_health_goes_from_warming_up_to_ready_and_limits_apply(gated_app, astronaut_b64):
    app, gate = gated_app
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["status"] == "warming_up" and health.get_json()["ready"] is False
    assert health.get_json()["models"] == {"gate": "loading"}
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/health/live").status_code == 200

    not_ready = post(client, image_base64=astronaut_b64, frame_number=0)
    assert not_ready.status_code == 503 and not_ready.get_json()["code"] == "not_ready"
    assert not_ready.headers["Retry-After"] == "7"
    # Sessions do not wait for the models.
    missing = client.get("/sessions/nothing-yet")
    assert missing.status_code == 404 and missing.get_json()["code"] == "session_not_found"
    assert missing.headers["X-Pose-Worker"] == str(os.getpid())

    gate.set()
    assert app.extensions["pose_runtime"].wait(timeout=300)
    health = client.get("/health").get_json()
    assert health["status"] == "ready" and health["ready"] is True
    assert health["models"] == {"gate": "loaded", "blazepose": "loaded", "anny": "loaded"}
    assert health["device"] == "cpu" and health["backend"] == "embedded" and health["version"]
    assert client.get("/v2/health/ready").status_code == 200

    # Limits of this app: 200 kB bodies, 100 k pixels (the 512x512 astronaut has 262 k).
    too_big = client.post("/pose/hybrid", data=b"x" * 300_000, content_type="application/json")
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "payload_too_large"
    too_many_pixels = post(client, image_base64=astronaut_b64, frame_number=0)
    assert too_many_pixels.status_code == 413 and too_many_pixels.get_json()["code"] == "image_too_large"
    small = encode_b64(np.zeros((100, 100, 3), np.uint8))
    assert post(client, image_base64=small, frame_number=0).status_code == 200


def test_failed_model_load_is_reported_and_requests_get_503(monkeypatch, astronaut_b64):
    def broken_build(config, report, sessions):
        report("mediapipe_pose", "loading")
        raise RuntimeError("weights file is corrupt")

    monkeypatch.setattr(runtime_module, "build_pipeline", broken_build)
    app = create_app(ServiceConfig())
    assert app.extensions["pose_runtime"].wait(timeout=60) is False
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "error" and body["models"]["mediapipe_pose"].startswith("failed: RuntimeError")
    response = post(client, image_base64=astronaut_b64, frame_number=0)
    assert response.status_code == 503 and response.get_json()["code"] == "model_failed"
    assert "Retry-After" in response.headers


def test_internal_error_is_a_500_json_and_the_next_request_works(app, client, astronaut_b64, monkeypatch):
    pipeline = app.extensions["pose_runtime"].pipeline()
    real_process = pipeline.process
    calls = []

    def fail_once(request):
        calls.append(request.frame_number)
        if len(calls) == 1:
            raise ValueError("simulated failure inside a stage")
        return real_process(request)

    monkeypatch.setattr(pipeline, "process", fail_once)
    failed = post(client, image_base64=astronaut_b64, frame_number=3)
    assert failed.status_code == 500
    assert failed.get_json() == {"error": "internal error: ValueError", "code": "internal_error"}
    ok = post(client, image_base64=astronaut_b64, frame_number=4)
    assert ok.status_code == 200 and len(ok.get_json()["people"]) == 1


def test_sessions_track_fill_missed_frames_and_can_be_inspected_and_deleted(client, astronaut_b64):
    video = "session-test"
    for frame in range(4):
        body = post(client, image_base64=astronaut_b64, frame_number=frame, video_id=video).get_json()
        assert body["people"][0]["track_id"] == 1 and body["people"][0]["source"] == "detected"
    assert body["tracking_confidence"] == 1.0  # confirmed by now
    missed = post(client, image_base64=astronaut_b64, frame_number=4, video_id=video, simulate_misses=1.0).get_json()
    assert missed["error"] is None and len(missed["people"]) == 1
    person = missed["people"][0]
    assert person["source"] == "predicted" and person["track_id"] == 1 and 0 < person["tracking_confidence"] < 1
    assert missed["keypoint_count"] == 25

    summary = client.get(f"/sessions/{video}").get_json()
    assert summary["frames_seen"] == 5 and summary["frames_with_body"] == 5 and summary["coverage"] == 1.0
    assert summary["detected_count"] == 4 and summary["predicted_count"] == 1
    assert summary["tracks"] == [{"track_id": 1, "state": "lost", "hits": 4, "frames_unseen": 1}]

    # Frame 0 again starts a new sequence in the same session; ids are never reused within a video.
    restarted = post(client, image_base64=astronaut_b64, frame_number=0, video_id=video).get_json()
    assert restarted["people"][0]["track_id"] == 2 and client.get(f"/sessions/{video}").get_json()["restarts"] == 1

    assert client.delete(f"/sessions/{video}").status_code == 200
    gone = client.get(f"/sessions/{video}")
    assert gone.status_code == 404 and gone.get_json()["code"] == "session_not_found"
    assert client.delete(f"/sessions/{video}").status_code == 404


def test_interleaved_videos_keep_separate_sessions(client, astronaut_b64, no_person_b64):
    for frame in range(3):
        assert post(client, image_base64=astronaut_b64, frame_number=frame, video_id="left").get_json()["people"]
        assert not post(client, image_base64=no_person_b64, frame_number=frame, video_id="right").get_json()["people"]
    left, right = client.get("/sessions/left").get_json(), client.get("/sessions/right").get_json()
    assert (left["frames_with_body"], left["detected_count"], len(left["tracks"])) == (3, 3, 1)
    assert (right["frames_with_body"], right["detected_count"], right["tracks"]) == (0, 0, [])


def test_overlay_draws_the_mesh_on_the_person_only(client, astronaut, astronaut_b64, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from pose_service.render.overlay import draw_response

    body = post(client, image_base64=astronaut_b64, frame_number=0, video_id="overlay").get_json()
    overlay = draw_response(astronaut, body)
    changed = np.abs(overlay.astype(int) - astronaut.astype(int)).sum(axis=2) > 0
    mask = silhouette(body).astype(bool)
    assert changed[mask].mean() > 0.9  # the mesh is drawn over the person...
    assert not changed[:60, 420:].any()  # ...and not over the shuttle in the top right corner

    # The script reads saved responses and a folder of frames just the same.
    frames, out = tmp_path / "frames", tmp_path / "out"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    (tmp_path / "responses.jsonl").write_text(json.dumps(body) + "\n")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "scripts/render_overlay.py", str(frames), str(out), "--responses",
                          str(tmp_path / "responses.jsonl")], cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    written = cv2.cvtColor(cv2.imread(str(out / "overlay_00000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(written, overlay)
