"""Admin sign-ins: server-side session ids that expire and that logout revokes, and a
per-client throttle on wrong admin tokens.

Both live in this process's memory (bounded): a restart signs everyone out, and with
`--workers` a sign-in holds on the worker that made it (send the token as
`Authorization: Bearer` to a multi-worker Trooper instead).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginSessions:
    def __init__(self, max_age: float, clock: Callable[[], float] = time.time, limit: int = 10_000) -> None:
        self.max_age = max_age
        self.clock = clock
        self.limit = limit
        self._expiry: OrderedDict[str, float] = OrderedDict()  # id -> when it stops working, oldest first

    def create(self) -> str:
        session_id = secrets.token_urlsafe(32)
        self._expiry[session_id] = self.clock() + self.max_age
        while len(self._expiry) > self.limit:
            self._expiry.popitem(last=False)  # the oldest sign-in goes first
        return session_id

    def valid(self, session_id: str) -> bool:
        expiry = self._expiry.get(session_id)
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._expiry[session_id]
            return False
        return True

    def revoke(self, session_id: str) -> None:
        self._expiry.pop(session_id, None)


class Throttle:
    """After `allowed` wrong tokens from one client within `window` seconds, that client is
    refused until the oldest of them leaves the window."""

    def __init__(self, allowed: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 limit: int = 10_000) -> None:
        self.allowed = allowed
        self.window = window
        self.clock = clock
        self.limit = limit
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, client: str) -> float:
        """Seconds until `client` may try again (0: now)."""
        failures = self._failures.get(client)
        if failures is None:
            return 0.0
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return 0.0
        return failures[0] - horizon if len(failures) >= self.allowed else 0.0

    def failed(self, client: str) -> None:
        failures = self._failures.setdefault(client, deque(maxlen=self.allowed))
        failures.append(self.clock())
        self._failures.move_to_end(client)
        while len(self._failures) > self.limit:
            self._failures.popitem(last=False)
