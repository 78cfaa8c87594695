"""Per-video tracking sessions: their state (:mod:`.state`) and where it is kept between frames (:mod:`.store`)."""

from .state import SessionState
from .store import InMemorySessionStore, SessionStore

__all__ = ["InMemorySessionStore", "SessionState", "SessionStore"]
