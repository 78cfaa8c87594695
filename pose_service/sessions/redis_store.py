"""Sessions in Redis, shared by every worker process and machine (``POSE_REDIS_URL``).

Keys, under a namespace (default ``pose``):

- ``<ns>:session:<video_id>``: the state, :func:`~.state.encode_state` bytes (versioned JSON), with a sliding TTL
  (every read or write sets it again). One ``SET`` writes a whole state, so a reader sees the old state or the
  new one, never half of one; a worker killed mid-frame leaves the previous frame's state.
- ``<ns>:rows:<video_id>``: the video's body history (:class:`~.bodies.Histories`), a list the rows of each
  frame are appended to (in the same transaction as the state they come with), trimmed to the last
  ``MAX_SESSION_ROWS``, with the session's TTL; read only by :meth:`RedisSessionStore.histories`.
- ``<ns>:lock:<video_id>``: the per-video lock, redis-py's :class:`redis.lock.Lock` (``SET NX PX`` with a random
  token, released only by its holder's token), with a timeout so that a dead worker cannot hold a video forever.

Frame order across workers: as :class:`~.store.InMemorySessionStore`, a frame that arrived ahead of earlier ones
gives the lock up for at most the reorder wait, polling until they have been processed.

A state written by another schema version is refused with a log line and treated as absent (the video starts a
new session), never misread. Size limits are Redis's own (``maxmemory`` with ``volatile-lru``: sessions carry TTLs, queued jobs do not): ``max_sessions``
of the in-memory store has no equivalent here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional

import orjson

from .bodies import MAX_SESSION_ROWS, BodyRow, Histories
from .state import SessionState, StateVersionError, decode_state, encode_state
from .store import loaded_session

log = logging.getLogger(__name__)


class SessionLockTimeout(RuntimeError):
    """Another worker held the video's lock for longer than ``lock_wait_s``."""


class RedisSessionStore:
    """The :class:`~.store.SessionStore` interface on a Redis client (``redis.Redis``, bytes responses)."""

    def __init__(self, client, namespace: str = "pose", ttl_s: float = 300.0, lock_timeout_s: float = 30.0,
                 lock_wait_s: float = 120.0, poll_s: float = 0.005) -> None:
        """
        ttl_s: a session unused this long expires (Redis expires the key).
        lock_timeout_s: a lock not released within this is released by Redis (a worker died holding it); longer
            than any one frame takes.
        lock_wait_s: how long a frame waits for its video's lock before :class:`SessionLockTimeout`.
        poll_s: how often a waiting frame retries.
        """
        if ttl_s <= 0 or lock_timeout_s <= 0 or lock_wait_s <= 0:
            raise ValueError("ttl_s, lock_timeout_s and lock_wait_s must be > 0")
        self.client = client
        self.namespace = namespace
        self.ttl_ms = int(ttl_s * 1000)
        self.lock_timeout_s = lock_timeout_s
        self.lock_wait_s = lock_wait_s
        self.poll_s = poll_s

    def _key(self, video_id: str) -> str:
        return f"{self.namespace}:session:{video_id}"

    def _rows_key(self, video_id: str) -> str:
        return f"{self.namespace}:rows:{video_id}"

    def get(self, video_id: str) -> Optional[SessionState]:
        pipe = self.client.pipeline(transaction=False)
        pipe.getex(self._key(video_id), px=self.ttl_ms)
        pipe.pexpire(self._rows_key(video_id), self.ttl_ms)
        payload, _ = pipe.execute()
        if payload is None:
            return None
        try:
            return decode_state(payload)
        except StateVersionError as exc:
            log.warning("[SESSION] %s: stored state refused (%s); the video starts a new session", video_id, exc)
            return None

    def put(self, video_id: str, state: SessionState) -> None:
        rows = state.bodies.take_pending()
        pipe = self.client.pipeline(transaction=True)  # the state and its rows, or neither
        pipe.set(self._key(video_id), encode_state(state), px=self.ttl_ms)
        if rows:
            key = self._rows_key(video_id)
            pipe.rpush(key, *(orjson.dumps(row.to_dict()) for row in rows))
            pipe.ltrim(key, -MAX_SESSION_ROWS, -1)
            pipe.pexpire(key, self.ttl_ms)
        pipe.execute()

    def delete(self, video_id: str) -> bool:
        return bool(self.client.delete(self._key(video_id), self._rows_key(video_id)))

    def histories(self, video_id: str) -> Optional[Histories]:
        if not self.client.exists(self._key(video_id)):
            return None
        histories = Histories()
        histories.add(BodyRow.from_dict(orjson.loads(raw)) for raw in self.client.lrange(self._rows_key(video_id), 0, -1))
        return histories

    def list(self) -> list[str]:
        prefix = self._key("")
        return sorted(key.decode()[len(prefix):] for key in self.client.scan_iter(match=prefix + "*", count=500))

    def count(self) -> int:
        return len(self.list())

    def expire(self) -> int:
        """Redis expires keys itself: nothing to do here."""
        return 0

    @contextmanager
    def session(
        self, video_id: str, create: Callable[[], SessionState], frame_number: Optional[int] = None,
        reorder_wait_s: float = 0.0,
    ) -> Iterator[SessionState]:
        lock = self.client.lock(f"{self.namespace}:lock:{video_id}", timeout=self.lock_timeout_s,
                                sleep=self.poll_s, blocking_timeout=self.lock_wait_s)

        def give_way(seconds: float) -> None:
            lock.release()  # let the earlier frames in
            time.sleep(min(self.poll_s, seconds))
            self._acquire(lock, video_id)

        self._acquire(lock, video_id)
        try:
            with loaded_session(self, video_id, create, frame_number, reorder_wait_s, give_way) as state:
                yield state
        finally:
            if lock.owned():
                lock.release()

    def _acquire(self, lock, video_id: str) -> None:
        if not lock.acquire():
            raise SessionLockTimeout(f"video {video_id!r} stayed locked by another worker for {self.lock_wait_s} s")
