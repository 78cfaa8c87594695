"""Scale-out on the real Redis: gunicorn with three workers sharing sessions, frames of two videos spread over
them, a worker killed mid-frame, and batch jobs on RQ answered by any worker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import numpy as np
import pytest

from conftest import REDIS_URL, encode_b64
from servers import ROOT, Reply, call, start_gunicorn, wait_ready

WORKERS = 3
FRAMES = 12
LOCK_TIMEOUT_S = 5


NO_BUDGET = "0"
"""Results compared with the in-process worker's must not depend on how fast each process happens to run: no frame
budget here, as in the session's app (conftest.py)."""


@pytest.fixture(scope="module")
def cluster(redis_client):
    """(process, base URL, namespace): gunicorn, three workers, sessions in Redis."""
    namespace = f"pose-test-{uuid.uuid4().hex[:12]}"
    process, base = start_gunicorn({
        "POSE_WORKERS": str(WORKERS), "POSE_THREADS": "2", "POSE_REDIS_URL": REDIS_URL,
        "POSE_REDIS_NAMESPACE": namespace, "POSE_SESSION_LOCK_TIMEOUT_S": str(LOCK_TIMEOUT_S),
        "POSE_FRAME_BUDGET_MS": NO_BUDGET,
    })  # fmt: skip
    try:
        wait_ready(process, base, workers=WORKERS)
        yield process, base, namespace
    finally:
        process.kill()
        process.communicate()
        keys = list(redis_client.scan_iter(match=namespace + ":*"))
        if keys:
            redis_client.delete(*keys)


def _frame(video_id: str, index: int, image: np.ndarray) -> bytes:
    return json.dumps({"image_base64": encode_b64(image), "frame_number": index, "video_id": video_id,
                       "include_faces": False}).encode()


def post(base: str, payload: bytes, attempts: int = 40) -> Reply:
    """As a client does: a worker still loading (a new one, after a crash) or a busy video says 503, so retry."""
    for _ in range(attempts):
        reply = call(base + "/pose/hybrid", payload)
        if reply.status != 503:
            return reply
        time.sleep(0.5)
    raise AssertionError(f"still 503 after {attempts} attempts: {reply.body}")


def _same(a: dict, b: dict) -> None:
    assert [(p["track_id"], p["source"]) for p in a["people"]] == [(p["track_id"], p["source"]) for p in b["people"]]
    for p, q in zip(a["people"], b["people"]):
        xy = lambda person: np.array([[k["x"], k["y"], k["confidence"]] for k in person["keypoints"]])  # noqa: E731
        np.testing.assert_allclose(xy(p), xy(q), atol=1e-4)
        assert (p["mesh_vertices_data"] is None) == (q["mesh_vertices_data"] is None)
        if p["mesh_vertices_data"] is not None:  # sent rounded to 0.1 mm: equal values may round one step apart
            np.testing.assert_allclose(p["mesh_vertices_data"], q["mesh_vertices_data"], atol=1e-4 + 1e-6)


def test_interleaved_videos_over_three_workers_match_one_in_process_worker(cluster, client, render_preset):
    _, base, _ = cluster
    clips = {"crossing": render_preset("two_people_crossing"), "single": render_preset("single_person_3m")}
    workers: dict[str, set[str]] = {name: set() for name in clips}
    for index in range(FRAMES):
        for name, clip in clips.items():  # A0, B0, A1, B1, ...
            payload = _frame(name, index, clip.frames[index])
            served = post(base, payload)
            assert served.status == 200, served.body
            workers[name].add(served.worker)
            reference = client.post("/pose/hybrid", data=payload, content_type="application/json")
            _same(served.body, reference.get_json())
    assert all(len(pids) >= 2 for pids in workers.values()), workers  # each video's frames really were spread
    assert call(base + "/sessions/crossing").body["frames_seen"] == FRAMES
    for name in clips:
        client.delete(f"/sessions/{name}")


def test_a_worker_killed_mid_frame_loses_no_session(cluster, redis_client, render_preset):
    process, base, namespace = cluster
    clip = render_preset("single_person_3m")
    video = "killed"
    for index in range(6):
        assert post(base, _frame(video, index, clip.frames[index])).status == 200
    before = call(base + f"/sessions/{video}").body
    track_id = before["primary_track_id"]
    assert before["frames_seen"] == 6 and track_id is not None

    # Frame 6 on a kept-alive connection, so we know which worker has it; killed as soon as that worker holds the
    # video's lock, i.e. mid-frame (a frame takes ~40 ms: a fixed delay would race its end).
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    connection.request("GET", "/v2/health/live")
    response = connection.getresponse()
    response.read()
    victim = int(response.headers["X-Pose-Worker"])
    connection.request("POST", "/pose/hybrid", body=_frame(video, 6, clip.frames[6]),
                       headers={"Content-Type": "application/json"})
    lock = f"{namespace}:lock:{video}"
    deadline = time.monotonic() + 10
    while not redis_client.exists(lock) and time.monotonic() < deadline:
        pass
    os.kill(victim, signal.SIGKILL)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        connection.getresponse()
    connection.close()
    orphaned = bool(redis_client.exists(lock))

    # The client retries frame 6 and goes on; other workers (and the one gunicorn starts instead) serve it.
    started = time.monotonic()
    replies = [post(base, _frame(video, index, clip.frames[index])) for index in range(6, 12)]
    assert all(r.status == 200 for r in replies)
    assert victim not in {int(r.worker) for r in replies}
    assert [r.body["people"][0]["track_id"] for r in replies] == [track_id] * 6  # the same track goes on
    after = call(base + f"/sessions/{video}").body
    assert after["restarts"] == 0 and after["primary_track_id"] == track_id
    assert after["frames_seen"] in (12, 13)  # 13 when the killed worker had saved frame 6 before dying
    print(f"lock orphaned by the kill: {orphaned}; frames 6-11 after it took {time.monotonic() - started:.1f} s")
    assert process.poll() is None  # the service lives on


@pytest.fixture(scope="module")
def rq_worker(cluster):
    """One RQ worker process on the cluster's batch queue."""
    _, _, namespace = cluster
    env = os.environ | {"POSE_REDIS_URL": REDIS_URL, "POSE_REDIS_NAMESPACE": namespace,
                        "POSE_FRAME_BUDGET_MS": NO_BUDGET}
    process = subprocess.Popen([sys.executable, "-m", "pose_service.batch.queue"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    process.kill()
    process.communicate()


def _batch(clip, count: int) -> bytes:
    frames = [{"image_base64": encode_b64(frame)} for frame in clip.frames[:count]]
    return json.dumps({"frames": frames, "video_id": "long", "include_mesh": False}).encode()


def _wait_done(get, deadline_s: float = 300) -> tuple[dict, list[int], set[str]]:
    """Poll a job until it is done: (its last status, the progress seen, the workers that answered)."""
    progress, workers = [], set()
    deadline = time.monotonic() + deadline_s
    while True:
        status, job, worker = get()
        assert status == 200, job
        progress.append(job["progress"]["frames_done"])
        workers.add(worker)
        if job["status"] not in ("queued", "running"):
            return job, progress, workers
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_a_long_batch_runs_on_rq_and_every_api_worker_answers_for_it(cluster, rq_worker, client, render_preset):
    _, base, _ = cluster
    clip = render_preset("one_person_140_frames")
    body = _batch(clip, 140)
    accepted = call(base + "/pose/batch", body)
    assert accepted.status == 202, accepted.body
    url = base + accepted.body["status_url"]
    job, progress, workers = _wait_done(lambda: call(url))
    assert job["status"] == "done" and job["error"] is None, job
    assert len(workers) == WORKERS  # every API worker answered for the job
    assert len({p for p in progress if 0 < p < 140}) >= 2 and progress == sorted(progress)  # it advanced
    assert job["progress"] == {"frames_done": 140, "frames_total": 140}
    page = call(url + "/frames?start=130&limit=20").body
    assert [f["frame_number"] for f in page["frames"]] == list(range(130, 140))
    served_frames = call(url + "/frames").body["frames"] + call(url + "/frames?start=100").body["frames"]

    # The same batch in one process (its in-process job thread): the same result.
    local = client.post("/pose/batch", data=body, content_type="application/json").get_json()
    reference, _, _ = _wait_done(lambda: (lambda r: (r.status_code, r.get_json(), ""))(client.get(local["status_url"])))
    assert job["result"]["summary"] == reference["result"]["summary"]
    expected_frames = [f for start in (0, 100) for f in
                       client.get(f"{local['status_url']}/frames?start={start}").get_json()["frames"]]
    assert [f["frame_number"] for f in served_frames] == [f["frame_number"] for f in expected_frames] == list(range(140))
    for served, expected in zip(served_frames, expected_frames):
        _same(served, expected)
        for p, q in zip(served["people"], expected["people"]):
            if p["body_params"] is not None:
                np.testing.assert_allclose(p["body_params"]["shape"], q["body_params"]["shape"], atol=1e-4)
                np.testing.assert_allclose(p["body_params"]["body_pose"], q["body_params"]["body_pose"], atol=1e-4)


def test_an_rq_batch_is_cancelled_from_any_worker(cluster, rq_worker, astronaut_b64):
    _, base, _ = cluster
    frames = [{"image_base64": astronaut_b64} for _ in range(60)]
    accepted = call(base + "/pose/batch", json.dumps({"frames": frames, "include_mesh": False}).encode())
    url = base + accepted.body["status_url"]
    deadline = time.monotonic() + 120
    while call(url).body["progress"]["frames_done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert call(url, method="DELETE").status == 200
    gone = call(url)
    assert gone.status == 404 and gone.body["code"] == "job_not_found"
    # The RQ worker stopped that batch and takes the next one.
    short = call(base + "/pose/batch?async=1", json.dumps({"frames": frames[:3], "include_mesh": False}).encode())
    job, _, _ = _wait_done(lambda: call(base + short.body["status_url"]), deadline_s=120)
    assert job["status"] == "done" and job["progress"]["frames_done"] == 3
