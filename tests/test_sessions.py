"""Session state and the in-memory session store: round trip, restarts, TTL, LRU, memory, per-video locking."""

from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc

import numpy as np
import pytest

from pose_service.sessions import InMemorySessionStore, SessionState
from synthetic_people import FOCAL, HEIGHT, STANDING, WIDTH, person

SIZE = (WIDTH, HEIGHT)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _walker(t: int):
    return person(STANDING, np.array([-0.5 + 0.02 * t, 0.1, 4.0]))


def test_session_counts_frames_and_round_trips_through_json() -> None:
    state = SessionState.new("video", now=100.0)
    for t in range(8):
        state.track(t, [_walker(t)] if t not in (4, 6) else [], None, FOCAL, SIZE, now=100.0 + t)
    data = json.loads(json.dumps(state.to_dict()))
    assert data["frames_seen"] == 8 and data["frames_with_body"] == 8
    assert (data["detected_count"], data["predicted_count"]) == (6, 2)
    assert (data["last_frame_number"], data["created_at"], data["last_seen_at"]) == (7, 100.0, 107.0)
    restored = SessionState.from_dict(data)
    a = state.track(8, [], None, FOCAL, SIZE, now=108.0)
    b = restored.track(8, [], None, FOCAL, SIZE, now=108.0)
    np.testing.assert_array_equal(a[0].camera_translation, b[0].camera_translation)
    assert restored.to_dict() == state.to_dict()


@pytest.mark.parametrize("restart_at", [0, 3])
def test_frame_zero_again_or_a_jump_back_beyond_the_window_restarts_the_tracks(restart_at: int) -> None:
    state = SessionState.new("video", reorder_window=4)
    for t in [0] + list(range(10, 15)):
        state.track(t, [_walker(t)], None, FOCAL, SIZE)
    far = person(STANDING, np.array([0.8, 0.1, 6.0]))
    out = state.track(restart_at, [far], None, FOCAL, SIZE)
    # The walker's track is gone (it would be predicted otherwise); the new sequence's first id is a fresh one.
    assert [(p.track_id, p.source) for p in out] == [(2, "detected")]
    assert state.restarts == 1 and state.frames_seen == 7 and state.late_frames == 0


def test_frames_arriving_out_of_order_are_folded_in_without_touching_the_tracks() -> None:
    in_order, shuffled = SessionState.new("a"), SessionState.new("b")
    order = [0, 1, 2, 4, 3, 5, 7, 6, 8, 9, 11, 10, 12]
    for t in range(13):
        in_order.track(t, [_walker(t)], None, FOCAL, SIZE)
    outputs = {t: shuffled.track(t, [_walker(t)], None, FOCAL, SIZE) for t in order}
    assert shuffled.restarts == 0 and shuffled.late_frames == 3
    assert all([p.track_id for p in outputs[t]] == [1] for t in order)  # the late ones too
    # Late frames leave the tracks alone: the state equals one that never saw them, and ids are not reused.
    skipping = SessionState.new("c")
    for t in [f for f in range(13) if f not in (3, 6, 10)]:
        skipping.track(t, [_walker(t)], None, FOCAL, SIZE)
    assert shuffled.tracker.to_state()["tracks"] == skipping.tracker.to_state()["tracks"]
    # Frame 0 posted late, after frame 1 started the session, is late too, not a restart.
    early = SessionState.new("d")
    early.track(1, [_walker(1)], None, FOCAL, SIZE)
    assert [p.track_id for p in early.track(0, [_walker(0)], None, FOCAL, SIZE)] == [1]
    assert early.restarts == 0 and early.late_frames == 1


def test_a_late_frame_with_a_new_person_takes_a_new_id_for_good() -> None:
    state = SessionState.new("video")
    for t in range(6):
        state.track(t, [_walker(t)], None, FOCAL, SIZE)
    stranger = person(STANDING, np.array([0.8, 0.1, 6.0]))
    late = state.track(4, [_walker(4), stranger], None, FOCAL, SIZE)
    assert sorted(p.track_id for p in late) == [1, 2]
    assert [t.track_id for t in state.tracker.tracks] == [1]
    out = state.track(6, [_walker(6), stranger], None, FOCAL, SIZE)
    assert sorted(p.track_id for p in out) == [1, 3]  # id 2 was handed out in the late frame: never reused


def test_ttl_expiry_counts_from_last_use() -> None:
    clock = FakeClock()
    store = InMemorySessionStore(ttl_s=10.0, clock=clock)
    store.put("a", SessionState.new("a"))
    store.put("b", SessionState.new("b"))
    clock.now = 8.0
    assert store.get("a") is not None  # touching "a" keeps it alive
    clock.now = 15.0
    assert store.list() == ["a"]
    clock.now = 18.5
    assert store.count() == 0 and store.get("a") is None


def test_lru_cap_evicts_the_least_recently_used() -> None:
    clock = FakeClock()
    store = InMemorySessionStore(max_sessions=3, clock=clock)
    for name in "abc":
        clock.now += 1
        store.put(name, SessionState.new(name))
    store.get("a")
    store.put("d", SessionState.new("d"))
    assert sorted(store.list()) == ["a", "c", "d"]
    assert store.delete("c") and not store.delete("c")
    assert store.count() == 2


def test_memory_comes_back_after_a_thousand_sessions_expire() -> None:
    """50 live sessions; 1,000 more come and expire: the traced memory returns to what the 50 take."""
    clock = FakeClock()
    store = InMemorySessionStore(ttl_s=60.0, max_sessions=5000, clock=clock)

    def fill(prefix: str, n: int) -> None:
        for i in range(n):
            with store.session(f"{prefix}{i}", lambda: SessionState.new(f"{prefix}{i}")) as state:
                state.track(0, [_walker(i % 10)], None, FOCAL, SIZE)

    def touch_live() -> None:
        for i in range(50):
            assert store.get(f"live-{i}") is not None

    def expire_all_but_live() -> None:
        touch_live()
        clock.now += 30.0
        touch_live()
        clock.now += 31.0
        assert store.count() == 50
        gc.collect()

    tracemalloc.start()
    try:
        fill("live-", 50)
        fill("warm-up-", 1)  # first-use allocations (numpy's small-buffer cache, ...) are not the store's
        expire_all_but_live()
        before = tracemalloc.get_traced_memory()[0]
        fill("video-", 1000)
        full = tracemalloc.get_traced_memory()[0]
        expire_all_but_live()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    print(f"traced bytes: before {before}, with 1,050 sessions {full}, after expiry {after}")
    assert full - before > 1000 * 5_000  # the sessions were really held (a few kB each)
    assert abs(after - before) <= 0.10 * before


def test_frames_of_one_video_are_serialised() -> None:
    store = InMemorySessionStore()
    spans: list[tuple[float, float]] = []

    def worker() -> None:
        with store.session("same", lambda: SessionState.new("same")) as state:
            start = time.perf_counter()
            time.sleep(0.1)
            state.frames_seen += 1
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (s1, e1), (s2, e2) = sorted(spans)
    assert e1 <= s2
    assert store.get("same").frames_seen == 2  # no lost update


def test_different_videos_proceed_in_parallel() -> None:
    """Each holds its session until the other is inside its own: this deadlocks (times out) if they serialise."""
    store = InMemorySessionStore()
    inside = {name: threading.Event() for name in ("a", "b")}
    met: list[str] = []

    def worker(name: str, other: str) -> None:
        with store.session(name, lambda: SessionState.new(name)):
            inside[name].set()
            if inside[other].wait(timeout=5.0):
                met.append(name)

    threads = [threading.Thread(target=worker, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(met) == ["a", "b"]


@pytest.mark.slow
def test_resident_memory_comes_back_after_a_thousand_real_sessions_expire() -> None:
    """The process's RSS, with sessions holding real fitted meshes (scripts/bench_session_memory.py)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "scripts/bench_session_memory.py", "--sessions", "1000"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )
    report = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, report + run.stderr[-2000:]
    assert "after expiring 1000" in report
