#!/usr/bin/env python
"""Session state size and its load + save cost through Redis, for a rendered two-person clip.

    python scripts/bench_session_store.py [--redis redis://127.0.0.1:6379/15] [--frames 30]

Posts the ``two_people_crossing`` preset's first frames to the embedded pipeline (in memory), then prints the
serialised state's size (in all, per tracked person, and what the largest parts weigh) and the median / p90 time
of one load + save of that state through Redis (``RedisSessionStore.get``, one frame's body rows recorded, then
``put``: what every frame pays on top of its processing when sessions live in Redis).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.pipeline import FrameRequest  # noqa: E402
from pose_service.sessions.redis_store import RedisSessionStore  # noqa: E402
from pose_service.sessions.state import encode_state  # noqa: E402
from pose_service.synth.clip import ClipRenderer, preset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
    clip = ClipRenderer(pipeline.body).render(preset("two_people_crossing"))
    for index, frame in enumerate(clip.frames[: args.frames]):
        result = pipeline.process(FrameRequest(image=frame, frame_number=index, video_id="bench"))
    state = pipeline.sessions.get("bench")
    payload = encode_state(state)
    tracks = state.tracker.to_state()["tracks"]
    data = orjson.loads(payload)["state"]
    print(f"state after {args.frames} frames: {len(payload) / 1024:.1f} KB, {len(tracks)} tracks, "
          f"{len(payload) / 1024 / max(len(tracks), 1):.1f} KB per tracked person")
    parts = {"tracker": data["tracker"], "bodies (per track: frames, shape samples, settled shape)": data["bodies"]}
    if tracks:
        track = tracks[0]
        parts |= {f"one track: {k}": v for k, v in track.items()}
        parts |= {f"one track: last.{k}": v for k, v in track["last"].items()}
    for name, value in sorted(parts.items(), key=lambda item: -len(orjson.dumps(item[1])))[:8]:
        print(f"  {name:<40} {len(orjson.dumps(value)) / 1024:8.1f} KB")

    store = RedisSessionStore(redis.Redis.from_url(args.redis), namespace="pose-bench")
    store.put("bench", state)
    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        loaded = store.get("bench")
        loaded.bodies.record(args.frames + repeat, result.people)  # a frame's rows, appended by the put
        store.put("bench", loaded)
        times.append(time.perf_counter() - start)
    store.delete("bench")
    times_ms = 1000 * np.array(times)
    print(f"load + save through Redis: median {np.median(times_ms):.2f} ms, p90 {np.percentile(times_ms, 90):.2f} ms "
          f"({args.repeats} repeats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
