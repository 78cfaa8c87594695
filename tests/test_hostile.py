"""Property-based: whatever a client sends to any route, the answer is JSON with a 2xx-4xx status, and the service
answers a real frame as before afterwards (the full-size run is ``scripts/fuzz_service.py``)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from tests.hostile import HostileRequest, hostile_requests, is_finite_json


def _send(client, request: HostileRequest):
    headers = {} if request.content_type is None else {"Content-Type": request.content_type}
    return client.open(request.path, method=request.method, data=request.body, headers=headers)


def _keypoints(client, astronaut_b64: str, video_id: str) -> np.ndarray:
    response = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": 0,
                                                 "video_id": video_id})
    assert response.status_code == 200
    client.delete(f"/sessions/{video_id}")
    return np.array([[k["x"], k["y"]] for k in response.get_json()["keypoints"]])


def test_no_request_gets_a_5xx_and_a_real_frame_still_works(client, astronaut_b64):
    before = _keypoints(client, astronaut_b64, "hostile-reference-before")
    answered: list[int] = []

    @settings(max_examples=250, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests())
    def one_request(request: HostileRequest) -> None:
        response = _send(client, request)
        answered.append(response.status_code)
        assert response.status_code < 500, (str(request), response.get_data()[:300])
        if response.status_code >= 400 and request.method != "HEAD":
            body = response.get_json(silent=True)
            assert isinstance(body, dict) and "code" in body and "error" in body, (str(request), body)
        if response.mimetype == "application/json":
            assert is_finite_json(response.get_json()), str(request)

    one_request()
    assert len(answered) >= 200 and any(s == 200 for s in answered) and any(400 <= s < 500 for s in answered)
    after = _keypoints(client, astronaut_b64, "hostile-reference-after")
    np.testing.assert_allclose(after, before, atol=1e-6)
