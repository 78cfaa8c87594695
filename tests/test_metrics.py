"""GET /metrics: in this process (the default registry, counters shared by every app of the test session, so the
tests compare before and after), and from a real gunicorn with two workers (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pose_service import runtime as runtime_module
from pose_service.app import create_app
from pose_service.backends import job_manager
from pose_service.batch.queue import BatchInput
from pose_service.batch.runner import BatchOptions
from pose_service.config import ServiceConfig
from pose_service.decode import ImageLimits
from conftest import REDIS_URL
from servers import call, start_gunicorn, wait_ready
from test_batch import _video_with_misses

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Metrics:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> Metrics:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


STAGES = ("decode", "detect", "body", "track", "encode")


def test_requests_stages_people_and_locks_are_counted_exactly(app, client, astronaut_b64):
    video = f"metrics-{uuid.uuid4().hex[:8]}"
    gap = _video_with_misses([False, True, False], 0.36)
    before = scrape(client)
    for frame in range(3):  # a track is confirmed on its third frame: then a miss is predicted
        response = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": frame,
                                                      "video_id": video})
        assert response.status_code == 200 and response.get_json()["people"][0]["source"] == "detected"
    missed = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": 3, "video_id": video,
                                               "simulate_misses": 1.0})
    assert missed.get_json()["people"][0]["source"] == "predicted"
    assert client.post("/pose/hybrid", data="{oops", content_type="application/json").status_code == 400
    assert client.get(f"/sessions/{video}").status_code == 200
    assert client.get("/sessions/never-seen").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    batch = client.post("/pose/batch", json={"frames": [{"image_base64": astronaut_b64}] * 3, "video_id": gap,
                                             "simulate_misses": 0.36, "include_mesh": False})
    assert [f["people"][0]["source"] for f in batch.get_json()["frames"]] == ["detected", "interpolated", "detected"]
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "pose_requests_total"
    assert delta(requests, route="/pose/hybrid", method="POST", status="200") == 4
    assert delta(requests, route="/pose/hybrid", method="POST", status="400") == 1
    assert delta(requests, route="/sessions/<video_id>", method="GET", status="200") == 1
    assert delta(requests, route="/sessions/<video_id>", method="GET", status="404") == 1
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta(requests, route="/pose/batch", method="POST", status="200") == 1
    assert delta(requests, route="/metrics", method="GET", status="200") == 1  # the scrape before, not this one
    assert not any(video in label for _, labels in after for _, label in labels)  # routes, never a video id
    assert delta("pose_request_duration_seconds_count", route="/pose/hybrid") == 5
    assert delta("pose_request_duration_seconds_sum", route="/pose/hybrid") > 0

    # Each of the four processed frames went through every stage once (the bad request never reached decode).
    for stage in STAGES:
        assert delta("pose_stage_duration_seconds_count", stage=stage) == 4, stage
        assert delta("pose_stage_duration_seconds_sum", stage=stage) > 0, stage
    stage_sum = sum(delta("pose_stage_duration_seconds_sum", stage=s) for s in STAGES)
    assert stage_sum < delta("pose_request_duration_seconds_sum", route="/pose/hybrid")

    # Live frames: 3 detected + 1 predicted; the batch: 2 detected + 1 interpolated.
    assert delta("pose_people_total", source="detected") == 5
    assert delta("pose_people_total", source="predicted") == 1
    assert delta("pose_people_total", source="interpolated") == 1

    # Every frame, live or batch, took the detector's lock and the body model's (the fit).
    assert delta("pose_model_lock_wait_seconds_count", lock="detector") >= 7
    assert delta("pose_model_lock_wait_seconds_count", lock="body") >= 7

    assert value(after, "pose_sessions_active") == app.extensions["pose_sessions"].count() >= 1
    jobs = app.extensions["pose_jobs"].counts()
    assert {state: value(after, "pose_jobs", state=state) for state in jobs} == jobs and "queued" in jobs


def test_model_states_follow_loading_and_failure(monkeypatch):
    def broken_build(config, report, sessions):
        report("metrics_probe", "loading")
        report("metrics_probe_ok", "loading")
        report("metrics_probe_ok", "loaded")
        raise RuntimeError("weights file is corrupt")

    monkeypatch.setattr(runtime_module, "build_pipeline", broken_build)
    app = create_app(ServiceConfig())
    assert app.extensions["pose_runtime"].wait(timeout=60) is False
    metrics = scrape(app.test_client())
    states = lambda model: {s: value(metrics, "pose_model_state", model=model, state=s)  # noqa: E731
                            for s in ("loading", "loaded", "failed")}
    assert states("metrics_probe") == {"loading": 0, "loaded": 0, "failed": 1}
    assert states("metrics_probe_ok") == {"loading": 0, "loaded": 1, "failed": 0}


def test_job_counts_by_state_in_process_and_on_rq(redis_client, redis_namespace):
    jobs = job_manager(ServiceConfig())
    jobs.submit("bad", lambda job: 1 / 0, 0)
    deadline = time.monotonic() + 10
    while jobs.counts()["failed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    counts = jobs.counts()
    assert counts["failed"] == 1 and sum(counts.values()) == 1

    queued = job_manager(ServiceConfig(redis_url=REDIS_URL, redis_namespace=redis_namespace))
    try:
        for _ in range(2):
            queued.submit(uuid.uuid4().hex, BatchInput(BatchOptions("v"), 0, ImageLimits(), frames=[]))
        counts = queued.counts()
        assert counts["queued"] == 2 and sum(counts.values()) == 2
    finally:
        queued.queue.delete(delete_jobs=True)


# --- gunicorn, two workers ---------------------------------------------------------------------------------------

WORKERS = 2


def fetch_metrics(base: str) -> tuple[Metrics, str]:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode()), response.headers["X-Pose-Worker"]


@pytest.fixture(scope="module")
def two_workers():
    """gunicorn with two workers, keypoints only (each worker loads in seconds)."""
    process, base = start_gunicorn({"POSE_WORKERS": str(WORKERS), "POSE_THREADS": "4", "POSE_BODY_MODEL": "none"})
    try:
        wait_ready(process, base, workers=WORKERS)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def spread(base: str, path: str, body: bytes | None = None, rounds: int = 50) -> tuple[int, set[str]]:
    """Concurrent calls of ``path`` in rounds of 8 until both workers have answered: (calls made, workers seen)."""
    made, workers = 0, set()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            replies = list(pool.map(lambda _: call(base + path, body), range(8)))
            assert all(r.status == 200 for r in replies), replies
            made += len(replies)
            workers |= {r.worker for r in replies}
            if len(workers) == WORKERS:
                return made, workers
    raise AssertionError(f"{made} calls all went to {workers}")


def test_counts_over_two_workers_are_exact_and_survive_a_killed_worker(two_workers, astronaut_b64):
    process, base = two_workers
    live, workers = spread(base, "/v2/health/live")
    frame = f'{{"image_base64": "{astronaut_b64}", "frame_number": 0, "include_mesh": false}}'.encode()
    frames, _ = spread(base, "/pose/hybrid", frame)

    metrics, _ = fetch_metrics(base)
    assert value(metrics, "pose_requests_total", route="/v2/health/live", method="GET", status="200") == live
    assert value(metrics, "pose_requests_total", route="/pose/hybrid", method="POST", status="200") == frames
    for stage in ("decode", "detect", "track", "encode"):
        assert value(metrics, "pose_stage_duration_seconds_count", stage=stage) == frames, stage
    assert value(metrics, "pose_stage_duration_seconds_count", stage="body") == 0  # no body model
    assert value(metrics, "pose_people_total", source="detected") == frames
    # Live gauges, summed over the live workers: both have their detector loaded.
    assert value(metrics, "pose_model_state", model="blazepose", state="loaded") == WORKERS
    assert value(metrics, "pose_sessions_active") == 1  # the default session of the worker that served the scrape

    # A worker killed: gunicorn starts another; the dead one's counts stay, its live gauges go (child_exit).
    os.kill(int(sorted(workers)[0]), signal.SIGKILL)
    wait_ready(process, base, workers=WORKERS)
    metrics, _ = fetch_metrics(base)
    assert value(metrics, "pose_requests_total", route="/v2/health/live", method="GET", status="200") == live
    assert value(metrics, "pose_people_total", source="detected") == frames
    assert value(metrics, "pose_model_state", model="blazepose", state="loaded") == WORKERS


def test_each_start_has_a_fresh_metrics_folder_removed_on_exit(two_workers):
    """Runs last in this module: stops the server."""
    process, _ = two_workers
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=60)[0]
    assert process.returncode == 0
    folder = Path(re.search(r"metrics folder (\S+)", log).group(1))
    assert folder.name.startswith("pose-metrics-") and not folder.exists()
