"""POSE_API_TOKENS: every route but the health probes needs a token; sessions and jobs belong to their token."""

from __future__ import annotations

import time

import pytest

from pose_service.app import create_app
from pose_service.config import ServiceConfig

TOKEN_A, TOKEN_B = "token-a-0123456789", "token-b-9876543210"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client():
    """Keypoints only: what is checked here is who may see what, not bodies."""
    app = create_app(ServiceConfig(api_tokens=f"{TOKEN_A}, {TOKEN_B}", body_model="none", load_in_background=False))
    return app.test_client()


def frame(image_b64: str, number: int = 0, video_id: str = "clip") -> dict:
    return {"image_base64": image_b64, "frame_number": number, "video_id": video_id}


def test_health_probes_need_no_token(client):
    assert client.get("/health").status_code == 200
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN_A}"},
                                     {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN_A}x"}])
def test_requests_without_a_valid_token_get_401_json(client, astronaut_b64, headers):
    for method, url, body in [("post", "/pose/hybrid", frame(astronaut_b64)), ("get", "/sessions/clip", None),
                              ("delete", "/sessions/clip", None), ("get", "/mesh/faces", None),
                              ("get", "/jobs/0123", None), ("post", "/pose/batch", {"frames": []})]:
        response = getattr(client, method)(url, json=body, headers=headers)
        assert response.status_code == 401, (method, url)
        assert response.get_json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_tokens_sessions_are_invisible_to_another_token(client, astronaut_b64):
    assert client.post("/pose/hybrid", json=frame(astronaut_b64, 0), headers=auth(TOKEN_A)).status_code == 200
    assert client.post("/pose/hybrid", json=frame(astronaut_b64, 1), headers=auth(TOKEN_A)).status_code == 200
    mine = client.get("/sessions/clip", headers=auth(TOKEN_A))
    assert mine.status_code == 200 and mine.get_json()["video_id"] == "clip"
    assert mine.get_json()["frames_seen"] == 2

    for method in ("get", "delete"):
        other = getattr(client, method)("/sessions/clip", headers=auth(TOKEN_B))
        assert other.status_code == 404 and other.get_json()["code"] == "session_not_found"

    # B's own "clip" is a separate video: it starts at one frame and leaves A's alone
    response = client.post("/pose/hybrid", json=frame(astronaut_b64, 0), headers=auth(TOKEN_B))
    assert response.status_code == 200 and response.get_json()["video_id"] == "clip"
    assert client.get("/sessions/clip", headers=auth(TOKEN_B)).get_json()["frames_seen"] == 1
    assert client.get("/sessions/clip", headers=auth(TOKEN_A)).get_json()["frames_seen"] == 2
    assert client.delete("/sessions/clip", headers=auth(TOKEN_A)).status_code == 200
    assert client.get("/sessions/clip", headers=auth(TOKEN_B)).status_code == 200


def test_a_tokens_jobs_are_invisible_to_another_token(client, astronaut_b64):
    frames = [{"image_base64": astronaut_b64} for _ in range(2)]
    accepted = client.post("/pose/batch?async=1", json={"frames": frames}, headers=auth(TOKEN_A))
    assert accepted.status_code == 202
    url = accepted.get_json()["status_url"]
    assert client.get(url, headers=auth(TOKEN_B)).status_code == 404
    assert client.get(f"{url}/frames", headers=auth(TOKEN_B)).status_code == 404
    assert client.delete(url, headers=auth(TOKEN_B)).status_code == 404
    deadline = time.monotonic() + 120
    while (job := client.get(url, headers=auth(TOKEN_A)).get_json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "done"
    assert client.delete(url, headers=auth(TOKEN_A)).status_code == 200
