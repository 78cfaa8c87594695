"""The Redis session store on the real Redis (``redis_client``, see conftest): round trip, sliding TTL, versions,
the per-video lock between workers (each store here has its own connection, as a worker process would), a dead
worker's lock, frame order across workers, and the embedded pipeline giving the same tracks on Redis as in memory."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import orjson
import pytest
import redis

from pose_service.sessions import SessionState
from pose_service.sessions.redis_store import RedisSessionStore, SessionLockTimeout
from pose_service.sessions.state import encode_state
from synthetic_people import FOCAL, HEIGHT, STANDING, WIDTH, person
from conftest import REDIS_URL

SIZE = (WIDTH, HEIGHT)


def _store(namespace: str, **kwargs) -> RedisSessionStore:
    """A store on its own connection, as another worker process would have."""
    return RedisSessionStore(redis.Redis.from_url(REDIS_URL), namespace=namespace, **kwargs)


def _tracked(video_id: str, frames: int = 6) -> SessionState:
    state = SessionState.new(video_id, now=50.0)
    for t in range(frames):
        state.track(t, [person(STANDING, np.array([-0.5 + 0.02 * t, 0.1, 4.0]))], None, FOCAL, SIZE, now=50.0 + t)
    return state


def test_state_round_trips_with_a_sliding_ttl(redis_client, redis_namespace):
    store = _store(redis_namespace, ttl_s=30.0)
    state = _tracked("walk")
    store.put("walk", state)
    key = f"{redis_namespace}:session:walk"
    assert 0 < redis_client.pttl(key) <= 30_000
    redis_client.pexpire(key, 5_000)
    restored = store.get("walk")
    assert redis_client.pttl(key) > 5_000  # reading uses the session: its TTL starts again
    assert restored.to_dict() == state.to_dict()
    # The restored tracker carries on exactly as the original.
    a, b = (s.track(6, [], None, FOCAL, SIZE, now=56.0) for s in (state, restored))
    assert [p.track_id for p in a] == [p.track_id for p in b] and a[0].source == "predicted"
    np.testing.assert_array_equal(a[0].keypoints_2d, b[0].keypoints_2d)
    store.put("other", SessionState.new("other"))
    assert store.list() == ["other", "walk"] and store.count() == 2
    assert store.delete("walk") and not store.delete("walk") and store.get("walk") is None


def test_the_body_history_is_kept_beside_the_state(redis_client, redis_namespace):
    """Each put appends the frame's rows to the video's list; the state itself stops growing."""
    from pose_service.sessions import InMemorySessionStore
    from pose_service.types import Person

    stores = {"redis": _store(redis_namespace), "memory": InMemorySessionStore()}
    states = {name: SessionState.new("h") for name in stores}
    sizes = []
    for frame in range(80):
        for name, store in stores.items():
            people = [Person(np.zeros((25, 3)), (0.0, 0.0, 1.0, 1.0), 0.9, camera_translation=np.array([0.0, 0.0, 3.0]),
                             body_model="anny", track_id=track, fit_confidence=0.8,
                             body_params={"global_orient": np.full(3, frame), "body_pose": np.zeros((18, 3)),
                                          "shape": np.full(6, track)}) for track in (1, 2)]
            states[name].bodies.record(frame, people)
            store.put("h", states[name])
        sizes.append(len(redis_client.get(f"{redis_namespace}:session:h")))
    assert sizes[-1] == sizes[70] > sizes[0]  # constant once the shape samples are full
    assert redis_client.llen(f"{redis_namespace}:rows:h") == 160
    on_redis, in_memory = stores["redis"].histories("h"), stores["memory"].histories("h")
    assert sorted(on_redis.tracks) == [1, 2]
    for track in (1, 2):
        a, b = on_redis.tracks[track], in_memory.tracks[track]
        assert list(a.frames) == list(range(80))
        for name in ("frames", "global_orient", "body_pose", "shape", "translation", "fit_confidence"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert stores["redis"].delete("h") and stores["redis"].histories("h") is None
    assert not redis_client.exists(f"{redis_namespace}:rows:h")


def test_the_service_config_chooses_redis(redis_namespace):
    from pose_service.backends import session_store
    from pose_service.config import ServiceConfig

    store = session_store(ServiceConfig(redis_url=REDIS_URL, redis_namespace=redis_namespace, session_ttl_s=7))
    assert isinstance(store, RedisSessionStore) and store.ttl_ms == 7000
    store.put("v", SessionState.new("v"))
    assert store.list() == ["v"]


def test_a_state_of_another_version_is_refused_not_misread(redis_client, redis_namespace, caplog):
    store = _store(redis_namespace)
    payload = orjson.loads(encode_state(_tracked("old")))
    payload["version"] -= 1
    redis_client.set(f"{redis_namespace}:session:old", orjson.dumps(payload))
    with caplog.at_level(logging.WARNING):
        assert store.get("old") is None
    assert "stored state refused" in caplog.text and "version" in caplog.text
    with store.session("old", lambda: SessionState.new("old")) as state:
        assert state.frames_seen == 0  # a new session, not the old one misread


def test_frames_of_one_video_are_serialised_across_workers(redis_namespace):
    stores = [_store(redis_namespace), _store(redis_namespace)]
    spans: list[tuple[float, float]] = []

    def worker(store: RedisSessionStore) -> None:
        with store.session("same", lambda: SessionState.new("same")) as state:
            start = time.perf_counter()
            time.sleep(0.1)
            state.frames_seen += 1
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=worker, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (s1, e1), (s2, e2) = sorted(spans)
    assert e1 <= s2
    assert stores[0].get("same").frames_seen == 2  # no lost update


def test_a_dead_workers_lock_runs_out(redis_client, redis_namespace):
    # A worker took the lock and died (never released it): Redis lets it go after the lock timeout.
    redis_client.lock(f"{redis_namespace}:lock:v", timeout=0.5).acquire()
    store = _store(redis_namespace, lock_wait_s=5.0)
    start = time.perf_counter()
    with store.session("v", lambda: SessionState.new("v")) as state:
        state.frames_seen += 1
    assert 0.3 < time.perf_counter() - start < 3.0
    impatient = _store(redis_namespace, lock_wait_s=0.2)
    redis_client.lock(f"{redis_namespace}:lock:v", timeout=10.0).acquire()
    with pytest.raises(SessionLockTimeout):
        with impatient.session("v", lambda: SessionState.new("v")):
            pass


def test_a_frame_ahead_of_a_gap_waits_for_the_earlier_one_from_another_worker(redis_namespace):
    """Frame 1 reaches worker B just before frame 0 reaches worker A: B gives the lock up until 0 is in."""
    early, late = _store(redis_namespace), _store(redis_namespace)
    order: list[int] = []

    def post(store: RedisSessionStore, frame: int, delay: float) -> None:
        time.sleep(delay)
        with store.session("v", lambda: SessionState.new("v"), frame_number=frame, reorder_wait_s=2.0) as state:
            order.append(frame)
            state.track(frame, [], None, FOCAL, SIZE)

    threads = [threading.Thread(target=post, args=(early, 1, 0.0)), threading.Thread(target=post, args=(late, 0, 0.2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert order == [0, 1]
    assert early.get("v").last_frame_number == 1 and early.get("v").late_frames == 0


def test_the_pipeline_tracks_the_same_on_redis_as_in_memory(pipeline, render_preset, redis_namespace):
    clip = render_preset("two_people_crossing")
    from pose_service.pipeline import FrameRequest

    def run(video_id: str) -> list:
        # Misses from frame 6 on: the tracks' predictions need meshes, re-posed from the restored parameters.
        results = []
        for index, frame in enumerate(clip.frames[:14]):
            results.append(pipeline.process(FrameRequest(image=frame, frame_number=index, video_id=video_id,
                                                         simulate_misses=0.5 if index >= 6 else 0.0)))
        return results

    in_memory = run("same")
    pipeline.sessions.delete("same")
    kept = pipeline.sessions
    pipeline.sessions = _store(redis_namespace)
    try:
        on_redis = run("same")
    finally:
        pipeline.sessions = kept
    predicted = 0
    for a, b in zip(in_memory, on_redis):
        assert [(p.track_id, p.source) for p in a.people] == [(p.track_id, p.source) for p in b.people]
        for p, q in zip(a.people, b.people):
            np.testing.assert_allclose(p.keypoints_2d, q.keypoints_2d, atol=1e-4)
            np.testing.assert_allclose(p.vertices, q.vertices, atol=1e-4)
            predicted += p.source == "predicted"
    assert predicted >= 2
