#!/usr/bin/env python
"""Benchmark the service as the Node backend calls it, beside MediaPipe's own Pose solution in the same run.

    python scripts/benchmark_service.py --video clip.mp4 [--frames 100] [--size 640x480] [--batch 140]
        [--concurrent 50] [--stages] [--profile out.prof] [--modes contract,no_faces,low,keypoints]

Each frame is a JPEG (quality 90) posted in order to ``/pose/hybrid`` of a gunicorn server this script starts (the
frames are base64-encoded before timing). Prints, per request mode, the median and p90 round trip (request sent to
response parsed, by orjson: the Node backend's JSON.parse takes about as long, 4.9 ms against orjson's 4.1 ms for a
494 kB contract response, where Python's json module takes 11.5 ms; and the client's own heap is frozen for Python's
garbage collector, see ``main``), the payload, and the ratio of the median to MediaPipe's Pose solution
(``mp.solutions.pose``, model_complexity 1, video mode: decode the same JPEG + process) timed in this run; then the
first frame of a new video; a whole clip through ``/pose/batch`` (a job, polled) against MediaPipe's time for the
same frames; two videos posted at once to 1 and 2 workers (sessions in Redis); and, with ``--stages``, where a
default frame's time goes, in-process (decode, detector, landmarks, fit, mesh, track, encode) with the HTTP overhead
from the server runs. Without --video the clip is the astronaut photo panning across the canvas. Ratios are
comparable across runs on one machine; absolute times drift with the machine's load.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    # name: (what it is, server, request fields)
    "contract": ("default, as the backend calls it (mesh and faces)", "body", {}),
    "no_faces": ("default, include_faces: false", "body", {"include_faces": False}),
    "full": ("mesh_resolution: full (mesh and faces)", "body", {"mesh_resolution": "full"}),
    "low": ("mesh_resolution: low (mesh and faces)", "body", {"mesh_resolution": "low"}),
    "base64": ("mesh_encoding: base64_float32", "body", {"mesh_encoding": "base64_float32"}),
    "no_mesh": ("include_mesh: false (body fitted, no mesh)", "body", {"include_mesh": False}),
    "keypoints": ("keypoints only (POSE_BODY_MODEL=none)", "keypoints", {}),
}
SERVERS = {"body": {}, "keypoints": {"POSE_BODY_MODEL": "none"}}


def load_frames(video: Path | None, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """BGR frames resized to ``size`` (w, h)."""
    if video is None:
        person = cv2.imread(str(ROOT / "assets" / "astronaut.jpg"))
        w, h = size
        person = cv2.resize(person, (h * 3 // 4, h * 3 // 4))
        frames = []
        for i in range(count):
            canvas = np.full((h, w, 3), 90, np.uint8)
            x = int((w - person.shape[1]) * (0.5 + 0.5 * np.sin(i / 15)))
            canvas[h - person.shape[0] :, x : x + person.shape[1]] = person
            frames.append(canvas)
        return frames
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            if not frames:
                raise SystemExit(f"cannot read frames from {video}")
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop short clips
            continue
        frames.append(cv2.resize(frame, size))
    return frames


def spawn_server(env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    """gunicorn on a free loopback port, with ``env`` on top of this process's environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"POSE_HOST": "127.0.0.1", "POSE_PORT": str(port)} | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return f"http://127.0.0.1:{port}", process


@contextmanager
def service(url: str, spawn: bool, ready_timeout: float = 600, env: dict[str, str] | None = None,
            workers: int = 1) -> Iterator[str]:
    """A ready service's URL for the block: ``url``, or a gunicorn server on a free loopback port (``env`` added
    to its environment), stopped after; ready once ``workers`` different workers have said so."""
    process = None
    if spawn:
        url, process = spawn_server(env)
    try:
        wait_ready(url, ready_timeout, workers)
        yield url
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def wait_ready(url: str, timeout: float = 600, workers: int = 1) -> None:
    ready: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if json.loads(response.read())["ready"]:
                    ready.add(response.headers.get("X-Pose-Worker", ""))
                    if len(ready) >= workers:
                        return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready in {timeout:.0f} s")


def post_timed(url: str, body: bytes, path: str = "/pose/hybrid") -> tuple[float, int, dict]:
    """(round trip ms, response bytes, parsed response); parsed by orjson, as fast as a Node client's JSON.parse."""
    request = urllib.request.Request(url + path, data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        raw = response.read()
        parsed = orjson.loads(raw)
    return (time.perf_counter() - started) * 1000, len(raw), parsed


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def mediapipe_times(jpegs: list[bytes]) -> list[float]:
    """ms per frame of MediaPipe's Pose solution on the same JPEGs (decode + process), video mode."""
    import mediapipe as mp

    times = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        pose.process(cv2.cvtColor(cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR),
                                  cv2.COLOR_BGR2RGB))  # warm-up, then a fresh video
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for jpeg in jpegs:
            started = time.perf_counter()
            image = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            pose.process(image)
            times.append((time.perf_counter() - started) * 1000)
    return times


def request_body(image_b64: str, frame_number: int, video_id: str, fields: dict) -> bytes:
    return json.dumps({"image_base64": image_b64, "frame_number": frame_number, "video_id": video_id} | fields).encode()


def run_mode(url: str, images: list[str], fields: dict) -> dict:
    """Every frame posted in order as one new video: round trips, payloads, processing_time_ms."""
    video_id = f"bench-{uuid.uuid4().hex[:8]}"
    trips, sizes, processing = [], [], []
    for index, image in enumerate(images):
        ms, size, body = post_timed(url, request_body(image, index, video_id, fields))
        trips.append(ms)
        sizes.append(size)
        processing.append(body["processing_time_ms"])
    return {"trips": trips, "sizes": sizes, "processing": processing}


def run_batch(url: str, images: list[str]) -> float:
    """Seconds for the whole clip through /pose/batch (as a job, polled every 50 ms), frames fetched."""
    started = time.perf_counter()
    _, _, reply = post_timed(url, json.dumps({"frames": [{"image_base64": i} for i in images],
                                              "video_id": f"batch-{uuid.uuid4().hex[:8]}"}).encode(), "/pose/batch")
    if "job_id" in reply:
        while get_json(url + f"/jobs/{reply['job_id']}")["status"] not in ("done", "failed", "cancelled"):
            time.sleep(0.05)
        for start in range(0, len(images), 100):
            urllib.request.urlopen(url + f"/jobs/{reply['job_id']}/frames?start={start}&limit=100", timeout=300).read()
    return time.perf_counter() - started


def run_concurrent(url: str, images: list[str], videos: int) -> float:
    """Frames per second of ``videos`` clients each posting ``images`` in order as its own video."""
    def client() -> None:
        video_id = f"bench-{uuid.uuid4().hex[:8]}"
        for index, image in enumerate(images):
            post_timed(url, request_body(image, index, video_id, {"include_faces": False}))

    threads = [threading.Thread(target=client) for _ in range(videos)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return videos * len(images) / (time.perf_counter() - started)


def stage_times(jpegs: list[bytes], profile: str | None) -> dict[str, list[float]]:
    """Per-stage ms of the default path, in-process, by wrapping the stages' functions (benchmark only)."""
    import cProfile

    sys.path.insert(0, str(ROOT))
    from pose_service.backends import build_pipeline
    from pose_service.body.base import BodyModel
    from pose_service.config import ServiceConfig
    from pose_service.conventions import DEFAULT_MESH_RESOLUTION
    from pose_service.decode import decode_image
    from pose_service.detect import blazepose
    from pose_service.pipeline import FrameRequest
    from pose_service.respond import frame_response, mesh_options

    config = ServiceConfig.from_env()
    pipeline = build_pipeline(config, lambda *_: None)
    spent: dict[str, float] = {}

    def timed(owner, name: str, stage: str, when=lambda *a, **k: True) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if not when(*args, **kwargs):
                return original(*args, **kwargs)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + (time.perf_counter() - started) * 1000

        setattr(owner, name, wrapper)

    timed(blazepose.BlazePoseDetector, "_detect_region", "detector")
    timed(blazepose.BlazePoseDetector, "_landmarks", "landmarks")
    timed(BodyModel, "forward", "mesh", when=lambda self, *a, with_vertices=True, **k: with_vertices)
    stages: dict[str, list[float]] = {}
    profiler = cProfile.Profile() if profile else None
    mesh = mesh_options(pipeline.mesh_levels, True, DEFAULT_MESH_RESOLUTION, True, "json")
    for index, jpeg in enumerate(jpegs):
        spent.clear()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        image = decode_image(base64.b64encode(jpeg).decode(), config.image_limits())
        decoded = time.perf_counter()
        result = pipeline.process(FrameRequest(image=image, frame_number=index, video_id="stages"))
        encoding = time.perf_counter()
        orjson.dumps(frame_response(result, pipeline.backend, 0.0, mesh), option=orjson.OPT_SERIALIZE_NUMPY)
        done = time.perf_counter()
        if profiler:
            profiler.disable()
        body = result.timings.get("body", 0.0) * 1000
        row = {"decode": (decoded - started) * 1000, "detector": spent.get("detector", 0.0),
               "landmarks": spent.get("landmarks", 0.0),
               "fit": body - spent.get("mesh", 0.0), "mesh": spent.get("mesh", 0.0),
               "track": result.timings.get("track", 0.0) * 1000, "encode": (done - encoding) * 1000,
               "total": (done - started) * 1000}
        for name, value in row.items():
            stages.setdefault(name, []).append(value)
    if profiler:
        profiler.dump_stats(profile)
        import pstats

        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return stages


def summary(values: list[float]) -> str:
    return f"{np.median(values):8.1f} {np.percentile(values, 90):8.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--modes", default="contract,no_faces,low,keypoints",
                        help=f"comma-separated, of: {', '.join(MODES)}")
    parser.add_argument("--batch", type=int, default=140, help="frames through /pose/batch (0: skip)")
    parser.add_argument("--concurrent", type=int, default=50, help="frames per video, two videos at once (0: skip)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="sessions of the concurrent runs")
    parser.add_argument("--stages", action="store_true", help="in-process per-stage times of the default path")
    parser.add_argument("--profile", help="with --stages: write a cProfile of the default path here, print its top")
    args = parser.parse_args()

    size = tuple(int(v) for v in args.size.split("x"))
    count = max(args.frames, args.batch, args.concurrent)
    frames = load_frames(args.video, count, size)
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]
    images = [base64.b64encode(j).decode() for j in jpegs]
    modes = args.modes.split(",") if args.modes else []
    mediapipe = mediapipe_times(jpegs[: args.frames])
    mp_median = float(np.median(mediapipe))
    # This client's own heap (the frames, MediaPipe) out of Python's cyclic collector: each contract response parses
    # into ~40,000 objects, and the collections they trigger rescanned that heap, a 30-50 ms pause every few frames
    # that a Node client does not have (its JSON.parse of a contract response: 4.9 ms median, 6.4 ms p90).
    gc.freeze()
    print(f"{args.frames} frames {size[0]}x{size[1]} of {args.video or 'the built-in panning clip'}; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'what':<52} {'median':>8} {'p90':>8} {'x MP':>5} {'payload':>9}   (ms, round trip)")
    print(f"{'MediaPipe Pose solution (decode + process)':<52} {summary(mediapipe)} {1.0:5.2f} {'-':>9}")

    results: dict[str, dict] = {}
    first_frames: list[float] = []
    for server in SERVERS:
        wanted = [m for m in modes if MODES[m][1] == server]
        needed = wanted or (server == "body" and (args.batch or args.concurrent))
        if not needed:
            continue
        with service("", spawn=True, env=SERVERS[server]) as url:
            post_timed(url, request_body(images[0], 0, "warm-up", {}))
            for mode in wanted:
                results[mode] = run_mode(url, images[: args.frames], MODES[mode][2])
                first_frames.append(results[mode]["trips"][0])
                r = results[mode]
                print(f"{MODES[mode][0]:<52} {summary(r['trips'])} {np.median(r['trips']) / mp_median:5.2f} "
                      f"{np.median(r['sizes']) / 1024:6.0f} kB", flush=True)
            if server == "body" and args.batch:
                seconds = run_batch(url, images[: args.batch])
                mp_batch = sum(mediapipe_times(jpegs[: args.batch])) / 1000
                print(f"{f'{args.batch} frames through /pose/batch (s)':<52} {seconds:8.1f} {'':>8} "
                      f"{seconds / mp_batch:5.2f} {'':>9}   MediaPipe {mp_batch:.1f} s", flush=True)
    if first_frames:
        print(f"{'first frame of a video (wide search, cold fit)':<52} {np.median(first_frames):8.1f} "
              f"{max(first_frames):8.1f}   (median, max over {len(first_frames)} videos)")
    if args.concurrent:
        for workers in (1, 2):
            env = {"POSE_WORKERS": str(workers), "POSE_REDIS_URL": args.redis,
                   "POSE_REDIS_NAMESPACE": f"bench-{uuid.uuid4().hex[:8]}"}
            with service("", spawn=True, env=env, workers=workers) as url:
                for _ in range(workers):  # every worker's first frame
                    post_timed(url, request_body(images[0], 0, f"warm-{uuid.uuid4().hex[:6]}", {}))
                fps = run_concurrent(url, images[: args.concurrent], 2)
                print(f"two videos at once, {workers} worker(s): {fps:.1f} frames/s "
                      f"(MediaPipe alone: {1000 / mp_median:.1f})", flush=True)
    if args.stages:
        stages = stage_times(jpegs[: args.frames], args.profile)
        print(f"\n{'stage (in-process, default path)':<34} {'median':>8} {'p90':>8}   ms")
        for name, values in stages.items():
            print(f"{name:<34} {summary(values)}")
        for mode in ("contract", "no_faces"):
            if mode in results:
                overhead = np.array(results[mode]["trips"]) - np.array(results[mode]["processing"])
                print(f"{'HTTP + JSON parse, ' + mode:<34} {summary(list(overhead))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
