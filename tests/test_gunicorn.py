"""The service as users run it: a real gunicorn process on a free loopback port."""

from __future__ import annotations

import json
import signal

import pytest

from servers import call, start_gunicorn, wait_ready


@pytest.fixture(scope="module")
def server():
    process, base = start_gunicorn({"POSE_WORKERS": "1"})
    statuses = wait_ready(process, base)
    yield base, statuses, process
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_health_goes_from_warming_up_to_ready(server):
    _, statuses, _ = server
    assert statuses[0] == "warming_up" and statuses[-1] == "ready"
    assert set(statuses) == {"warming_up", "ready"}


def test_frames_bad_input_and_recovery(server, astronaut_b64, no_person_b64):
    base, _, _ = server
    frame = json.dumps({"image_base64": astronaut_b64, "frame_number": 0}).encode()
    status, body, _ = call(base + "/pose/hybrid", frame)
    assert status == 200 and len(body["people"]) == 1 and body["keypoint_count"] == 25

    for payload, content_type, expected in [
        (b"{oops", "application/json", (400, "invalid_json")),
        (b"frame", "text/plain", (415, "unsupported_media_type")),
        (json.dumps({"image_base64": "AAAA", "frame_number": 1}).encode(), "application/json", (400, "invalid_image")),
    ]:
        status, body, _ = call(base + "/pose/hybrid", payload, content_type)
        assert (status, body["code"]) == expected

    status, body, _ = call(base + "/pose/hybrid", json.dumps({"image_base64": no_person_b64, "frame_number": 1}).encode())
    assert status == 200 and body["error"] == "no person detected"
    status, body, _ = call(base + "/pose/hybrid", frame)
    assert status == 200 and len(body["people"]) == 1


def test_log_lines_and_clean_shutdown(server, astronaut_b64):
    """Runs last in this module: stops the server and reads what it logged."""
    base, _, process = server
    call(base + "/pose/hybrid", json.dumps({"image_base64": astronaut_b64, "frame_number": 5, "video_id": "logged"}).encode())
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=60)[0]
    assert process.returncode == 0
    assert "[STARTUP] pose service" in log and "[INIT] blazepose: loaded" in log
    assert "[POSE] video=logged frame=5 people=1 predicted=0 ms=" in log


@pytest.mark.parametrize("variable, value", [("POSE_MAX_PEOPLE", "many"), ("POSE_BACKEND", "hmr3"),
                                             ("POSE_SMOOTHING", "maybe"), ("POSE_WORKERS", "two")])
def test_a_bad_setting_names_itself_and_exits_with_status_2(variable, value):
    """Once, a bad POSE_* value let every worker die in create_app and gunicorn said only "Worker failed to boot"."""
    process, _ = start_gunicorn({variable: value})
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert f"{variable}: {value!r}" in output and "Worker failed to boot" not in output


@pytest.mark.parametrize("host, tokens, warned", [("0.0.0.0", "", True), ("0.0.0.0", "secret-1", False),
                                                  ("127.0.0.1", "", False)])
def test_a_public_address_without_tokens_is_warned_about_loudly(host, tokens, warned):
    process, _ = start_gunicorn({"POSE_HOST": host, "POSE_API_TOKENS": tokens})
    try:
        lines = []
        for line in process.stdout:  # the arbiter's start-up lines come before any worker boots
            lines.append(line)
            if "Booting worker" in line:
                break
    finally:
        process.kill()
        process.communicate()
    assert any("NO AUTHENTICATION" in line for line in lines) == warned, "".join(lines)
