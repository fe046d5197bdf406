"""The session store interface. The embedded store (memory + SQLite file) implements it
for one process; a shared store (Redis) implements the same methods for a fleet.

Writes arrive as `Observation`s through `observe`, which never blocks and never raises:
the request path hands them over and moves on. Everything else is for readers: the admin
routes, the dashboard's event stream, the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import msgspec

from trooper.providers.health import ProviderHealth
from trooper.signals.extract import Signals
from trooper.store.events import Subscription
from trooper.store.records import Observation, SessionDetail, SessionSummary


class StoreUnavailable(Exception):
    """A read could not reach the store (a shared store's server is down). The message
    names it; requests are unaffected (their observations are buffered)."""


class StoreStats(msgspec.Struct):
    sessions: int = 0
    queued: int = 0  # observations not yet applied
    dropped: int = 0  # observations given up because the queue was full
    write_errors: int = 0
    signals_skipped: int = 0  # long answers stored but not read for signals (the store was behind)
    trimmed_messages: int = 0  # transcript messages dropped by the per-session cap
    trimmed_requests: int = 0  # request records dropped by the per-session cap


class Store(Protocol):
    location: str  # where sessions live, for logs: a file, ":memory:", a URL

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Apply what is queued, write it out, end every subscription."""

    def observe(self, observation: Observation) -> None:
        """Take an observation for later; never blocks, never raises."""

    async def sessions(self, limit: int = 100, offset: int = 0) -> tuple[list[SessionSummary], int]:
        """Summaries, most recently active first, and how many sessions there are."""

    async def session(self, session_id: str) -> SessionDetail | None: ...

    async def signals(self, session_id: str) -> tuple[SessionSummary, Signals] | None: ...

    def subscribe(self) -> Subscription:
        """A live feed of SSE-encoded updates (`session` and `removed` events)."""

    def end_subscriptions(self) -> None:
        """End every live feed now (the server is stopping: don't hold it up)."""

    def stats(self) -> StoreStats: ...

    def saved(self, session_id: str) -> int:
        """Tokens the session has saved, as far as this store knows now (never waits; 0
        for a session it doesn't know). For the X-Trooper-Session-Saved header."""

    def problem(self) -> str:
        """Why the store can't be used right now, in one line ("" when it can)."""

    def provider_health(self, providers: Iterable[str], clock: Callable[[], float]) -> ProviderHealth:
        """The runtime's provider health, built once: kept in this process, or shared by
        every instance of a shared store."""


def redacted(url: str) -> str:
    """A Redis URL without its password (redis://user:secret@host → redis://user:***@host)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
