"""Per-video tracking sessions: their state (:mod:`.state`) and where it is kept between frames (:mod:`.store`
in this process, :mod:`.redis_store` in Redis, imported on use)."""

from .state import SessionState
from .store import InMemorySessionStore, SessionStore

__all__ = ["InMemorySessionStore", "SessionState", "SessionStore"]
