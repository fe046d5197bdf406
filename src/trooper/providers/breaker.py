"""A circuit breaker per provider: after `threshold` failures within `window` seconds the
provider is skipped with no round trip; after `cooldown` seconds one half-open probe
request decides whether it closes again. The clock is injectable for tests."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

State = Literal["closed", "open", "half_open"]


class BreakerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    threshold: int = 3
    window: float = 60.0
    cooldown: float = 60.0


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings = BreakerSettings(), clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.state: State = "closed"
        self.opened_at = 0.0
        self._failures: deque[float] = deque()
        self._probing = False
        # What the last failures were, so a request that finds the circuit open can say why.
        self._reasons: deque[str] = deque(maxlen=max(1, settings.threshold))
        self.opened_because = ""

    def configure(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._reasons = deque(self._reasons, maxlen=max(1, settings.threshold))

    def allow(self) -> bool:
        """May a request go to this provider now? While half-open, only one (the probe)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if self.clock() - self.opened_at < self.settings.cooldown:
                return False
            self.state = "half_open"
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.state = "closed"
        self._failures.clear()
        self._reasons.clear()
        self._probing = False

    def record_failure(self, reason: str = "") -> None:
        """`reason` says what failed ("network: cannot connect to ..."), for `why_open`."""
        now = self.clock()
        self._reasons.append(reason or "failed")
        if self.state == "half_open":
            self._open(now)
            return
        self._failures.append(now)
        self._prune(now)
        if len(self._failures) >= self.settings.threshold:
            self._open(now)

    def recent_failures(self) -> int:
        self._prune(self.clock())
        return len(self._failures)

    def why_open(self) -> str:
        """Why the circuit is open and when it will be tried again, in words."""
        ago = self.clock() - self.opened_at
        return f"circuit open for {ago:.0f}s after {self.opened_because}; tried again in {self.reopens_in():.0f}s"

    def reopens_in(self) -> float:
        """Seconds until the circuit lets a probe through (0 when it already would)."""
        if self.state == "closed":
            return 0.0
        return max(0.0, self.settings.cooldown - (self.clock() - self.opened_at))

    def _open(self, now: float) -> None:
        if self.state == "half_open":
            self.opened_because = f"the probe after the cool-down failed ({self._reasons[-1]})"
        elif self._reasons:
            count = self.settings.threshold
            last = self._reasons[-1]
            same = all(reason == last for reason in self._reasons)
            what = last if same else "; ".join(dict.fromkeys(self._reasons))
            self.opened_because = f"{count} failures within {self.settings.window:g}s ({what})"
        else:
            self.opened_because = "failures reported by another instance"
        self.state = "open"
        self.opened_at = now
        self._probing = False

    def _prune(self, now: float) -> None:
        horizon = now - self.settings.window
        while self._failures and self._failures[0] < horizon:
            self._failures.popleft()
