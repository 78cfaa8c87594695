"""Batches: offline gap filling and smoothing (plain numpy), POST /pose/batch and /jobs, the coverage script."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from pose_service.batch.jobs import JobManager, JobQueueFull
from pose_service.batch.offline import gap_positions, lerp, postprocess, smooth_series, summary
from pose_service.batch.runner import BatchCancelled
from pose_service.pipeline import simulated_miss
from pose_service.types import FrameResult, Person

ROOT = Path(__file__).resolve().parents[1]


# --- offline functions on synthetic arrays ---------------------------------------------------------------------

def test_a_gap_is_filled_linearly_in_time_and_the_ends_are_not_extrapolated():
    times = np.array([0, 1, 2, 3, 5, 6, 7])
    known = np.array([False, True, False, False, False, True, False])
    rows, before, after, weight = gap_positions(times, known)
    assert rows.tolist() == [2, 3, 4] and before.tolist() == [1, 1, 1] and after.tolist() == [5, 5, 5]
    line = lambda t: np.array([2.0 * t + 1, -t])  # noqa: E731
    for row, b, a, w in zip(rows, before, after, weight):
        np.testing.assert_allclose(lerp(line(times[b]), line(times[a]), w), line(times[row]))
    assert len(gap_positions(times, np.array([True] + [False] * 6))[0]) == 0


def test_smoothing_follows_a_ramp_without_lag_and_reduces_jitter():
    times = np.arange(60)
    ramp = np.stack([0.5 * times, -2.0 * times + 3], axis=1)
    np.testing.assert_allclose(smooth_series(times, ramp), ramp, atol=1e-9)  # ends included: zero lag
    jitter = np.random.default_rng(0).normal(0, 1.0, ramp.shape)
    residual = smooth_series(times, ramp + jitter) - ramp
    assert residual.std() < 0.6 * jitter.std()
    assert abs(residual.mean()) < 0.1
    # Irregular frame numbers are taken as they are; an isolated sample is kept.
    sparse = np.array([0, 1, 2, 4, 5, 30])
    values = 3.0 * sparse[:, None]
    np.testing.assert_allclose(smooth_series(sparse, values), values, atol=1e-9)


def _person(x: float, track_id: int, source: str = "detected") -> Person:
    keypoints = np.zeros((25, 3))
    keypoints[:, 0], keypoints[:, 2] = x, 0.9
    return Person(keypoints, (x, 0.0, 10.0, 20.0), 0.9, keypoints_3d=np.full((25, 3), x / 100),
                  camera_translation=np.array([x, 0.0, 5.0]), track_id=track_id, source=source)


def test_postprocess_replaces_predictions_inside_a_track_and_keeps_the_trailing_ones():
    people = [[_person(0, 1)], [_person(10, 1)], [_person(99, 1, "predicted")], [], [_person(40, 1)],
              [_person(40, 1, "predicted")]]
    results = [FrameResult(i, "v", (100, 100), 100.0, p) for i, p in enumerate(people)]
    postprocess(results, confidence_tau=10.0, smooth_sigma=None)
    filled = [results[2].people[0], results[3].people[0]]
    assert [p.source for p in filled] == ["interpolated", "interpolated"]
    assert [p.keypoints_2d[0, 0] for p in filled] == [20.0, 30.0]
    np.testing.assert_allclose(filled[1].camera_translation, [30.0, 0.0, 5.0])
    assert filled[0].tracking_confidence == pytest.approx(np.exp(-1 / 10.0))
    assert filled[1].body_params is None and results[5].people[0].source == "predicted"
    assert summary(results) == {"frames": 6, "frames_with_body": 6, "coverage": 1.0, "detected": 3,
                                "predicted": 1, "interpolated": 2, "track_ids": [1]}


# --- the job manager -------------------------------------------------------------------------------------------

def test_jobs_run_one_at_a_time_are_capped_cancelled_and_expire():
    now = [0.0]
    jobs = JobManager(max_jobs=2, ttl_s=60, clock=lambda: now[0])
    release, cleaned = threading.Event(), []

    def work(job):
        for i in range(1, 4):
            release.wait(5)
            if job.cancel.is_set():
                raise BatchCancelled("stop")
            job.progress(i, 3)
        return {"frames": [], "summary": {}}

    first = jobs.submit("a", work, 3, lambda: cleaned.append("a"))
    second = jobs.submit("b", work, 3, lambda: cleaned.append("b"))
    with pytest.raises(JobQueueFull):
        jobs.submit("c", work, 3, lambda: cleaned.append("c"))
    assert cleaned == ["c"] and second.status == "queued"  # one worker: b waits for a
    assert jobs.delete("b") and jobs.get("b") is None
    release.set()
    deadline = time.monotonic() + 10
    while first.finished_at is None or "b" not in cleaned:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert first.to_json()["status"] == "done" and first.to_json()["progress"] == {"frames_done": 3, "frames_total": 3}
    assert second.frames_done == 0 and sorted(cleaned) == ["a", "b", "c"]  # cancelled before it started
    now[0] += 61
    assert jobs.get("a") is None  # expired


# --- the endpoint ------------------------------------------------------------------------------------------------

def _video_with_misses(pattern: list[bool], rate: float) -> str:
    """A video id whose simulated misses (frame -> missed) are exactly ``pattern`` at this rate."""
    for i in range(10_000):
        video_id = f"gap-{i}"
        if [simulated_miss(video_id, f, 0, rate) for f in range(len(pattern))] == pattern:
            return video_id
    raise AssertionError("no video id gives that pattern")


def _frames(b64: str, count: int) -> list[dict]:
    return [{"image_base64": b64} for _ in range(count)]


def test_a_missed_middle_frame_comes_back_interpolated(client, astronaut_b64):
    video_id = _video_with_misses([False, False, True, False, False], 0.36)
    response = client.post("/pose/batch", json={"frames": _frames(astronaut_b64, 5), "video_id": video_id,
                                                "simulate_misses": 0.36})
    assert response.status_code == 200
    body = response.get_json()
    assert [f["frame_number"] for f in body["frames"]] == [0, 1, 2, 3, 4]
    assert [f["people"][0]["source"] for f in body["frames"]] == ["detected"] * 2 + ["interpolated"] + ["detected"] * 2
    middle = body["frames"][2]
    assert middle["error"] is None and middle["keypoint_count"] == 25 and middle["video_id"] == video_id
    assert middle["people"][0]["track_id"] == 1
    measurements = body["summary"].pop("measurements")
    assert body["summary"] == {"frames": 5, "frames_with_body": 5, "coverage": 1.0, "detected": 4, "predicted": 0,
                               "interpolated": 1, "track_ids": [1]}
    # The track's measurements from its 4 fitted frames (the interpolated one has no fit of its own).
    assert [(m["track_id"], m["frames_used"], m["scale"]) for m in measurements] == [(1, 4, "estimated")]
    assert 100 < measurements[0]["measurements_cm"]["height"] < 220  # a person seen from the waist up
    # The same still image in every frame: interpolation and smoothing keep the nose where it is, within the
    # landmark model's own jitter (its crop follows the previous frame's landmarks: about ±4 px raw on this 512-px
    # photo, the reported keypoints being the detector's where it saw them).
    noses = np.array([[f["keypoints"][0]["x"], f["keypoints"][0]["y"]] for f in body["frames"]])
    assert np.ptp(noses, axis=0).max() < 6.0
    assert client.get(f"/sessions/{video_id}").status_code == 404  # the batch's session is gone


def test_a_batch_never_touches_the_live_session_of_its_video(client, astronaut_b64):
    live = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": 0, "video_id": "shared"})
    assert live.status_code == 200
    before = client.get("/sessions/shared").get_json()
    batch = client.post("/pose/batch", json={"frames": _frames(astronaut_b64, 3), "video_id": "shared"})
    assert batch.status_code == 200 and [f["video_id"] for f in batch.get_json()["frames"]] == ["shared"] * 3
    assert client.get("/sessions/shared").get_json() == before  # not restarted, not counted, still there
    client.delete("/sessions/shared")


def test_async_job_reports_progress_and_pages_its_frames(client, astronaut_b64):
    response = client.post("/pose/batch?async=1", json={"frames": _frames(astronaut_b64, 4), "smooth": False})
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status_url"] == f"/jobs/{accepted['job_id']}"
    deadline = time.monotonic() + 120
    while (job := client.get(accepted["status_url"]).get_json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "done" and job["error"] is None
    assert job["progress"] == {"frames_done": 4, "frames_total": 4}
    assert len(job["result"]["frames"]) == 4 and job["result"]["summary"]["detected"] == 4

    page = client.get(f"{accepted['status_url']}/frames?start=1&limit=2").get_json()
    assert page["frames_total"] == 4 and [f["frame_number"] for f in page["frames"]] == [1, 2]
    assert client.get(f"{accepted['status_url']}/frames?limit=0").get_json()["code"] == "invalid_field"
    assert client.delete(accepted["status_url"]).status_code == 200
    gone = client.get(accepted["status_url"])
    assert gone.status_code == 404 and gone.get_json()["code"] == "job_not_found"


def test_video_upload_is_processed_as_one_sequence(client, astronaut, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for shift in range(8):
        writer.write(cv2.cvtColor(np.roll(astronaut, 4 * shift, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    with path.open("rb") as f:
        response = client.post("/pose/batch", data={"video": (f, "clip.avi"), "max_frames": "6", "video_id": "up"},
                               content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [f["frame_number"] for f in body["frames"]] == [0, 1, 2, 3, 4, 5]
    assert all(f["people"] and f["people"][0]["track_id"] == 1 for f in body["frames"])
    assert body["frames"][0]["image_size"] == [512, 512] and body["summary"]["coverage"] == 1.0
    # Frames move right by 4 px each: the nose follows (RGB order and frame order kept). The landmark model sees
    # this half-body photo through a crop far larger than the image, where its nose wanders by a few pixels from
    # frame to frame: the step is the slope of a line through all six.
    noses = [f["keypoints"][0]["x"] for f in body["frames"]]
    assert np.polyfit(np.arange(len(noses)), noses, 1)[0] == pytest.approx(4.0, abs=1.5)


def test_bad_inputs_are_refused_before_any_processing(app, client, astronaut_b64, monkeypatch, tmp_path):
    runtime = app.extensions["pose_runtime"]
    pipeline = runtime.pipeline()
    calls = []
    monkeypatch.setattr(pipeline, "process", lambda request: calls.append(request))

    def refused(response, status: int, code: str) -> dict:
        body = response.get_json()
        assert (response.status_code, body["code"]) == (status, code), body
        return body

    refused(client.post("/pose/batch", json={"frames": []}), 400, "invalid_field")
    bad = refused(client.post("/pose/batch", json={"frames": [{"image_base64": astronaut_b64}, {"image_base64": "AAAA"}]}),
                  400, "invalid_image")
    assert bad["error"].startswith("frames[1]: ")
    refused(client.post("/pose/batch", json={"frames": [{"image_base64": astronaut_b64, "frame_number": 3},
                                                        {"image_base64": astronaut_b64, "frame_number": 3}]}),
            400, "invalid_field")
    refused(client.post("/pose/batch", data="frames", content_type="text/plain"), 415, "unsupported_media_type")
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"not a video at all" * 100)
    with not_video.open("rb") as f:
        refused(client.post("/pose/batch", data={"video": (f, "notes.mp4")}, content_type="multipart/form-data"),
                415, "unsupported_video_format")
    refused(client.post("/pose/batch", data={"max_frames": "2"}, content_type="multipart/form-data"), 400, "missing_field")

    monkeypatch.setattr(runtime, "config", dataclasses.replace(runtime.config, batch_max_frames=2))
    refused(client.post("/pose/batch", json={"frames": _frames(astronaut_b64, 3)}), 413, "too_many_frames")
    monkeypatch.setattr(app.extensions["pose_jobs"], "max_jobs", 0)
    full = client.post("/pose/batch?async=1", json={"frames": _frames(astronaut_b64, 1)})
    refused(full, 503, "job_queue_full")
    assert full.headers["Retry-After"]
    assert calls == []


# --- the coverage script -----------------------------------------------------------------------------------------

def _write_clip(path, image, frames: int = 8):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 256))
    for _ in range(frames):
        writer.write(cv2.cvtColor(cv2.resize(image, (256, 256)), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.mark.slow
def test_coverage_script_against_a_spawned_server(astronaut, tmp_path):
    clip = _write_clip(tmp_path / "clip.mp4", astronaut)
    # Frames 3 and 4 missed once the track is confirmed: they come back predicted, so coverage stays 1.
    video_id = _video_with_misses([False, False, False, True, True, False], 0.36)
    out = tmp_path / "records.json"
    run = subprocess.run(
        [sys.executable, "scripts/test_frame_coverage.py", str(clip), "--spawn", "--simulate-misses", "0.36",
         "--video-id", video_id, "--resize", "320x240", "--min-coverage", "1.0", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    assert float(lines["coverage"].split()[0]) == 1.0 and lines["frames"].startswith("8 ")
    assert "p99" in lines["round trip"] and "p50" in lines["processing_time_ms"]
    records = json.loads(out.read_text())
    assert len(records) == 8 and all(r["people"] for r in records)
    assert [r["people"][0]["source"] for r in records[3:5]] == ["predicted", "predicted"]

    empty = _write_clip(tmp_path / "empty.mp4", data.coffee())
    below = subprocess.run(
        [sys.executable, "scripts/test_frame_coverage.py", str(empty), "--spawn", "--resize", "320x240"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert below.returncode == 1 and "coverage: 0.000" in below.stdout

    dead = subprocess.run([sys.executable, "scripts/test_frame_coverage.py", str(clip), "--url", "http://127.0.0.1:9",
                           "--ready-timeout", "1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dead.returncode != 0
