"""Where sessions live between frames: one small interface, an in-memory implementation.

Interface (:class:`SessionStore`): ``get``, ``put``, ``delete``, ``list``, ``count``, ``expire``, ``histories``
and ``session(video_id, create)``, the one way request handlers should use it::

    with store.session(video_id, lambda: SessionState.new(video_id, config)) as state:
        people = state.track(frame_number, detections, image, focal, size)

``put`` also takes the body rows the state recorded since the last ``put`` (``state.bodies.take_pending()``) into
the video's :class:`~.bodies.Histories`, which ``histories`` returns (for measurements and exports): the state
itself stays small however long the video runs.

``session`` holds the video's lock for the whole block, so the frames of one video are processed one at a time,
while other videos proceed in parallel; the state is loaded (or created) on entry and put back on exit, also when
the block raises (a half-updated tracker is still a consistent one). Given the frame's number and a wait, a frame
that arrived ahead of earlier ones (:meth:`SessionState.awaits_earlier`) first gives the lock up for at most that
long, until they have been processed: frames posted concurrently are put back in order.

:class:`~.redis_store.RedisSessionStore` is the same interface on Redis, shared by several worker processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Optional, Protocol

from .bodies import Histories
from .state import SessionState

_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


def release_freed_memory() -> None:
    """Hand memory freed by dropped sessions back to the OS.

    A session's meshes are arrays of ~100-300 kB; once glibc has raised its mmap threshold they come from the heap,
    and freed heap pages stay resident until trimmed: without this, 1,000 expired sessions kept ~300 MB of RSS
    (scripts/bench_session_memory.py). A no-op off glibc.
    """
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)

log = logging.getLogger(__name__)


@contextmanager
def loaded_session(
    store: "SessionStore", video_id: str, create: Callable[[], SessionState], frame_number: Optional[int],
    reorder_wait_s: float, give_way: Callable[[float], None],
) -> Iterator[SessionState]:
    """What ``session`` does once it holds the video's lock: load the state (or create and save it, so a frame
    that enters while this one waits sees it), let earlier frames in for up to ``reorder_wait_s`` (``give_way(s)``
    gives the lock up for at most ``s`` seconds and takes it back), yield the state, and save it afterwards, also
    when the block raises (a half-updated tracker is still a consistent one)."""
    state = store.get(video_id)
    if state is None:
        state = create()
        store.put(video_id, state)
    if frame_number is not None and reorder_wait_s > 0:
        deadline = time.monotonic() + reorder_wait_s
        while state.awaits_earlier(frame_number) and (left := deadline - time.monotonic()) > 0:
            give_way(left)
            state = store.get(video_id) or state
    try:
        yield state
    finally:
        store.put(video_id, state)


class SessionStore(Protocol):
    def get(self, video_id: str) -> Optional[SessionState]: ...
    def put(self, video_id: str, state: SessionState) -> None: ...
    def delete(self, video_id: str) -> bool: ...
    def list(self) -> list[str]: ...
    def count(self) -> int: ...
    def expire(self) -> int: ...
    def histories(self, video_id: str) -> Optional[Histories]: ...
    def session(
        self, video_id: str, create: Callable[[], SessionState], frame_number: Optional[int] = None,
        reorder_wait_s: float = 0.0,
    ) -> AbstractContextManager[SessionState]: ...


class InMemorySessionStore:
    """Sessions in this process: expire ``ttl_s`` after last use; beyond ``max_sessions`` the least recently used
    goes. Stores the live objects (no serialisation cost); callers still ``put`` after changing one, as the
    interface requires. Thread-safe; expiry is lazy (on every call), so no background thread is needed."""

    def __init__(self, ttl_s: float = 300.0, max_sessions: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0 or max_sessions < 1:
            raise ValueError("ttl_s > 0 and max_sessions >= 1 are required")
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._entries: OrderedDict[str, tuple[SessionState, float]] = OrderedDict()  # oldest use first
        self._histories: dict[str, Histories] = {}
        self._peak = 0
        self._lock = threading.Lock()
        self._video_locks: dict[str, tuple[threading.Condition, int]] = {}  # lock and how many callers want it

    def get(self, video_id: str) -> Optional[SessionState]:
        with self._lock:
            self._expire()
            entry = self._entries.get(video_id)
            if entry is None:
                return None
            self._entries[video_id] = (entry[0], self._clock())
            self._entries.move_to_end(video_id)
            return entry[0]

    def put(self, video_id: str, state: SessionState) -> None:
        with self._lock:
            self._expire()
            self._entries[video_id] = (state, self._clock())
            self._entries.move_to_end(video_id)
            self._histories.setdefault(video_id, Histories()).add(state.bodies.take_pending())
            while len(self._entries) > self.max_sessions:
                evicted, _ = self._entries.popitem(last=False)
                self._histories.pop(evicted, None)
                log.info("[SESSION] evicted %s (more than %d sessions)", evicted, self.max_sessions)
            self._peak = max(self._peak, len(self._entries))

    def delete(self, video_id: str) -> bool:
        with self._lock:
            deleted = self._entries.pop(video_id, None) is not None
            self._histories.pop(video_id, None)
        if deleted:
            release_freed_memory()
        return deleted

    def list(self) -> list[str]:
        with self._lock:
            self._expire()
            return list(self._entries)

    def count(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def expire(self) -> int:
        """Drop the sessions unused for ``ttl_s``; returns how many."""
        with self._lock:
            return self._expire()

    def histories(self, video_id: str) -> Optional[Histories]:
        with self._lock:
            self._expire()
            return self._histories.get(video_id) if video_id in self._entries else None

    @contextmanager
    def session(
        self, video_id: str, create: Callable[[], SessionState], frame_number: Optional[int] = None,
        reorder_wait_s: float = 0.0,
    ) -> Iterator[SessionState]:
        turn = self._acquire_video_lock(video_id)
        try:
            with loaded_session(self, video_id, create, frame_number, reorder_wait_s, turn.wait) as state:
                yield state
        finally:
            turn.notify_all()
            turn.release()
            self._release_video_lock(video_id)

    def _acquire_video_lock(self, video_id: str) -> threading.Condition:
        with self._lock:
            turn, users = self._video_locks.get(video_id, (None, 0))
            turn = turn or threading.Condition()
            self._video_locks[video_id] = (turn, users + 1)
        turn.acquire()
        return turn

    def _release_video_lock(self, video_id: str) -> None:
        with self._lock:
            turn, users = self._video_locks[video_id]
            if users == 1:
                del self._video_locks[video_id]  # no lock per video ever seen: memory follows live sessions
            else:
                self._video_locks[video_id] = (turn, users - 1)

    def _expire(self) -> int:
        """Entries are in order of last use, so the expired ones are at the front."""
        deadline = self._clock() - self.ttl_s
        expired = 0
        while self._entries and next(iter(self._entries.values()))[1] < deadline:
            video_id, _ = self._entries.popitem(last=False)
            self._histories.pop(video_id, None)
            expired += 1
        if len(self._entries) * 4 < self._peak:
            # A dict never shrinks its table; rebuild it so a burst of sessions does not pin memory.
            self._entries = OrderedDict(self._entries)
            self._peak = len(self._entries)
        if expired:
            release_freed_memory()
        return expired
