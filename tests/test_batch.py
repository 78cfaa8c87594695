"""Batches: offline gap filling and smoothing (plain numpy), POST /pose/batch and /jobs, the coverage script."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from skimage import data

from pose_service.batch.jobs import Job, JobManager, JobQueueFull, Retention
from pose_service.batch.offline import gap_positions, lerp, postprocess, smooth_series, summary
from pose_service.batch.runner import BatchCancelled, BatchResult
from servers import call, start_gunicorn, wait_ready
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

def _finished(jobs: JobManager, job_id: str, work) -> Job:
    job = jobs.submit(job_id, work, 1)
    deadline = time.monotonic() + 30
    while job.finished_at is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return job


def test_jobs_run_one_at_a_time_are_capped_cancelled_and_expire():
    now = [0.0]
    jobs = JobManager(max_jobs=2, retention=Retention(ttl_s=60, max_finished=16, max_result_bytes=10**6),
                      clock=lambda: now[0])
    release, cleaned = threading.Event(), []

    def work(job):
        for i in range(1, 4):
            release.wait(5)
            if job.cancel.is_set():
                raise BatchCancelled("stop")
            job.progress(i, 3)
        return BatchResult([b'{"frame_number": 0}'], {"frames": 1})

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
    assert first.to_json() == {"job_id": "a", "status": "done", "progress": {"frames_done": 3, "frames_total": 3},
                               "error": None, "result": {"summary": {"frames": 1}, "frames_url": "/jobs/a/frames"}}
    assert jobs.frames("a", 0, 100) == [b'{"frame_number": 0}']
    assert second.frames_done == 0 and second.status == "cancelled" and sorted(cleaned) == ["a", "b", "c"]
    now[0] += 61
    assert jobs.get("a") is None and jobs.frames("a", 0, 100) is None  # expired


def test_finished_jobs_are_bounded_by_count_and_bytes_the_oldest_going_first():
    jobs = JobManager(max_jobs=2, retention=Retention(ttl_s=3600, max_finished=3, max_result_bytes=1000))
    sized = lambda size: lambda job: BatchResult([b"1" * size], {})  # noqa: E731
    for name in "abcd":
        _finished(jobs, name, sized(100))
    assert [jobs.get(name) is not None for name in "abcd"] == [False, True, True, True]  # 4 > max_finished
    _finished(jobs, "e", sized(700))  # b, c, d, e: 1000 bytes, at the cap
    assert [jobs.get(name) is not None for name in "bcde"] == [False, True, True, True]
    failed = _finished(jobs, "f", lambda job: 1 / 0)  # a failed job counts, with no bytes
    assert failed.status == "failed" and failed.error.startswith("ZeroDivisionError")
    assert [jobs.get(name) is not None for name in "cdef"] == [False, True, True, True]
    _finished(jobs, "g", sized(600))  # d, e, f, g: 1400 bytes: d and e go
    assert [name for name in "defg" if jobs.get(name)] == ["f", "g"]
    assert jobs.counts() == {"queued": 0, "running": 0, "done": 1, "failed": 1, "cancelled": 0}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_a_deleted_jobs_memory_goes_back_to_the_os():
    """300 frames of ~1.2 MB (a mesh and its faces, as JSON): held by the finished job, gone from the process's
    resident memory once it is deleted (glibc keeps many such freed blocks unless asked to give them back)."""
    jobs = JobManager(max_jobs=1, retention=Retention(ttl_s=3600, max_finished=16, max_result_bytes=2**30))
    rng = np.random.default_rng(0)

    def work(job: Job) -> BatchResult:
        frames = []
        for _ in range(300):  # each frame's arrays made and dropped as the runner does
            frames.append(orjson.dumps({"vertices": rng.random((20_000, 3))}, option=orjson.OPT_SERIALIZE_NUMPY))
        return BatchResult(frames, {})

    before = _rss_mb()
    job = _finished(jobs, "big", work)
    held = _rss_mb()
    assert job.result_bytes > 300 * 10**6 and held - before > 250, (before, held)
    assert jobs.delete("big")
    after = _rss_mb()
    print(f"RSS before {before:.0f} MB, holding the job {held:.0f} MB, after DELETE {after:.0f} MB")
    assert held - after > 0.9 * (held - before), (before, held, after)


PINNED = """
import gc, weakref
from skimage import data
from pose_service.backends import build_pipeline
from pose_service.batch.runner import BatchOptions, run_batch
from pose_service.config import ServiceConfig

pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
result = run_batch(pipeline, [(0, data.astronaut())], 1, BatchOptions("pinned"))
assert result.frames and result.summary["measurements"] is not None
freed = weakref.ref(result)
del result
gc.collect()
print("freed" if freed() is None else "pinned")
"""


def test_the_first_batch_of_a_process_is_freed_like_any_other():
    """The measurement modules import trimesh, which keeps the tracebacks of its failed optional imports, and with
    them every frame of the importing stack. Imported first by a batch (as they were, lazily), they pinned its
    ``run_batch`` frame and so its whole result for the life of the process; the pipeline now imports them as it
    loads. A fresh process, so that nothing has imported them yet."""
    run = subprocess.run([sys.executable, "-c", PINNED], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.split()[-1:] == ["freed"], run.stdout + run.stderr[-3000:]


def test_shutdown_stops_the_running_job_at_its_next_frame_and_cancels_the_queued_one():
    jobs = JobManager(max_jobs=2, retention=Retention(ttl_s=3600, max_finished=16, max_result_bytes=10**6))
    running, cleaned = threading.Event(), []

    def work(job: Job) -> BatchResult:  # as run_batch: the flag is read before each frame
        for i in range(1000):
            if job.cancel.is_set():
                raise BatchCancelled("stop")
            running.set()
            time.sleep(0.05)
            job.progress(i + 1, 1000)
        return BatchResult([], {})

    first = jobs.submit("a", work, 1000, lambda: cleaned.append("a"))
    second = jobs.submit("b", work, 1000, lambda: cleaned.append("b"))
    assert running.wait(10)
    started = time.monotonic()
    jobs.shutdown()
    assert time.monotonic() - started < 1.0
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert 0 < first.frames_done < 1000 and second.frames_done == 0 and sorted(cleaned) == ["a", "b"]


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


def test_an_async_batch_interleaved_with_live_frames_of_its_video_leaves_the_live_tracker_alone(client,
                                                                                                 astronaut_b64):
    """Once, every switch between a job's frame and a live frame of the same video_id restarted the live tracker."""
    accepted = client.post("/pose/batch?async=1", json={"frames": _frames(astronaut_b64, 6), "video_id": "mixed"})
    assert accepted.status_code == 202
    for number in range(5):  # while the job runs on the job thread
        live = client.post("/pose/hybrid", json={"image_base64": astronaut_b64, "frame_number": number,
                                                 "video_id": "mixed"})
        assert live.status_code == 200 and live.get_json()["people"][0]["track_id"] == 1
    job = _wait_job(client, accepted.get_json()["status_url"])
    assert job["status"] == "done" and job["result"]["summary"]["frames"] == 6
    session = client.get("/sessions/mixed").get_json()
    assert (session["frames_seen"], session["restarts"], session["late_frames"]) == (5, 0, 0)
    assert [t["track_id"] for t in session["tracks"]] == [1]
    client.delete("/sessions/mixed")


def _wait_job(client, url: str, deadline_s: float = 120) -> dict:
    deadline = time.monotonic() + deadline_s
    while (job := client.get(url).get_json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


def test_async_job_reports_progress_and_pages_its_frames(client, astronaut_b64):
    response = client.post("/pose/batch?async=1", json={"frames": _frames(astronaut_b64, 4), "smooth": False})
    assert response.status_code == 202
    accepted = response.get_json()
    url = accepted["status_url"]
    assert url == f"/jobs/{accepted['job_id']}"
    job = _wait_job(client, url)
    assert job["status"] == "done" and job["error"] is None
    assert job["progress"] == {"frames_done": 4, "frames_total": 4}
    # The status holds the summary; the frames (~1.2 MB each with a mesh) come in pages.
    assert job["result"]["summary"]["detected"] == 4 and job["result"]["frames_url"] == f"{url}/frames"
    assert "frames" not in job["result"] and len(client.get(url).data) < 4000

    page = client.get(f"{url}/frames?start=1&limit=2").get_json()
    assert page["frames_total"] == 4 and [f["frame_number"] for f in page["frames"]] == [1, 2]
    assert page["frames"][0]["people"][0]["mesh_vertices_data"]  # the frames as /pose/hybrid gives them
    whole = client.get(f"{url}/frames").get_json()  # limit 100 by default
    assert [f["frame_number"] for f in whole["frames"]] == [0, 1, 2, 3] and whole["frames"][1:3] == page["frames"]
    assert client.get(f"{url}/frames?start=4").get_json()["frames"] == []
    for limit in ("0", "101", "x"):
        assert client.get(f"{url}/frames?limit={limit}").get_json()["code"] == "invalid_field"
    assert client.delete(url).status_code == 200
    gone = client.get(accepted["status_url"])
    assert gone.status_code == 404 and gone.get_json()["code"] == "job_not_found"


def test_a_job_whose_result_would_pass_the_byte_cap_fails_saying_why(app, client, astronaut_b64, monkeypatch):
    jobs = app.extensions["pose_jobs"]
    # A frame with the full mesh and its faces is kept in ~0.4 MB.
    monkeypatch.setattr(jobs, "retention", dataclasses.replace(jobs.retention, max_result_bytes=600_000))
    accepted = client.post("/pose/batch?async=1", json={"frames": _frames(astronaut_b64, 2),
                                                        "mesh_resolution": "full"}).get_json()
    job = _wait_job(client, accepted["status_url"])
    assert job["status"] == "failed" and job["result"] is None
    assert "POSE_JOB_MAX_RESULT_BYTES (600000 bytes) at frame 2 of 2" in job["error"], job["error"]
    assert "include_faces=false" in job["error"]
    assert client.get(accepted["status_url"] + "/frames").get_json()["code"] == "job_not_done"


def test_rq_finished_jobs_are_bounded_in_redis_the_oldest_going_first(redis_client, redis_namespace):
    from pose_service.batch.queue import RQJobs, frames_key, keep_finished

    retention = Retention(ttl_s=60, max_finished=3, max_result_bytes=1000)
    jobs = RQJobs(redis_client, redis_namespace, max_jobs=8, retention=retention)

    def finish(job_id: str, size: int) -> None:  # as an RQ worker ends a job: frames pushed, then registered
        jobs.queue.enqueue(print, job_id=job_id)  # the RQ job eviction deletes (never run here)
        redis_client.rpush(frames_key(redis_namespace, job_id), b"1" * size, b"2")
        keep_finished(redis_client, redis_namespace, job_id, size + 1, retention)

    try:
        for name in "abcd":
            finish(name, 99)
        assert [jobs.get(name) is not None for name in "abcd"] == [False, True, True, True]
        assert jobs.frames("a", 0, 10) is None and jobs.frames("b", 1, 5) == [b"2"]
        finish("e", 699)  # b, c, d, e: 1000 bytes, at the cap
        assert [jobs.get(name) is not None for name in "bcde"] == [False, True, True, True]
        finish("f", 599)  # c, d, e, f: 1500 bytes: c, d and e go
        assert [name for name in "cdef" if jobs.get(name)] == ["f"]
        assert [redis_client.exists(frames_key(redis_namespace, name)) for name in "cdef"] == [0, 0, 0, 1]
        assert jobs.delete("f") and jobs.frames("f", 0, 10) is None
        assert redis_client.zcard(f"{redis_namespace}:jobs-finished") == 0
    finally:
        jobs.queue.delete(delete_jobs=True)


def test_sigterm_stops_a_running_job_at_its_next_frame_and_the_worker_exits_at_once(astronaut_b64):
    """gunicorn's SIGTERM: the worker stops taking requests, lets in-flight ones finish, then exits. A running
    batch job stops before its next frame (without this the worker's exit waited for the whole batch, until
    graceful_timeout, 30 s, ran out and the arbiter killed it)."""
    process, base = start_gunicorn({"POSE_WORKERS": "1", "POSE_REDIS_URL": ""})  # in-process jobs
    try:
        wait_ready(process, base)
        body = json.dumps({"frames": _frames(astronaut_b64, 200), "include_mesh": False}).encode()
        accepted = call(base + "/pose/batch?async=1", body)
        assert accepted.status == 202, accepted.body
        deadline = time.monotonic() + 120
        while call(base + accepted.body["status_url"]).body["progress"]["frames_done"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    print(f"gunicorn exited {took:.1f} s after SIGTERM")
    assert process.returncode == 0 and took < 10, output[-3000:]
    assert f"job {accepted.body['job_id']} cancelled after" in output and "SIGKILL" not in output


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
