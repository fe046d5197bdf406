"""Circuit breakers shared by every instance on one Redis (the Redis store's provider
health), with no Redis round trip on the request path: each instance keeps its local
breaker (called synchronously by the failover stage) and tells the others what happened
through pub/sub; what it hears, it applies to its own. A provider failing `threshold` times through any mix of instances is
skipped by all of them.

Half-open: after the cooldown, an instance probes the provider only once it holds the
probe lock (`SET NX PX`, taken in the background: the first request past the cooldown
is skipped while it is asked for). The others keep skipping until the prober tells them
the outcome: closed again, or open for another cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from trooper.providers.breaker import BreakerSettings, CircuitBreaker


class BreakerEvent(msgspec.Struct, array_like=True):
    instance: str
    provider: str
    kind: str  # "failure" | "open" | "closed"


class SharedBreaker(CircuitBreaker):
    def __init__(self, provider: str, settings: BreakerSettings, clock: Callable[[], float],
                 publish: Callable[[BreakerEvent], None], want_probe: Callable[[SharedBreaker], None],
                 instance: str) -> None:
        super().__init__(settings, clock)
        self.provider = provider
        self.instance = instance
        self._publish = publish
        self._want_probe = want_probe
        self.may_probe = False  # set once this instance holds the probe lock

    def allow(self) -> bool:
        if self.state == "open" and self.clock() - self.opened_at >= self.settings.cooldown and not self.may_probe:
            self._want_probe(self)  # background: SET NX PX; until then, skip
            return False
        return super().allow()

    def record_success(self) -> None:
        was = self.state
        super().record_success()
        self.may_probe = False
        if was != "closed":
            self._publish(BreakerEvent(self.instance, self.provider, "closed"))

    def record_failure(self, reason: str = "") -> None:
        was = self.state
        super().record_failure(reason)
        if self.state == "open" and was != "open":
            self.may_probe = False
            self._publish(BreakerEvent(self.instance, self.provider, "open"))
        elif self.state != "open":
            self._publish(BreakerEvent(self.instance, self.provider, "failure"))

    def apply(self, event: BreakerEvent) -> None:
        """What another instance saw, as if it had happened here now."""
        now = self.clock()
        if event.kind == "closed":
            CircuitBreaker.record_success(self)
            self.may_probe = False
        elif event.kind == "open":
            self._open(now)
            self.may_probe = False
        elif event.kind == "failure" and self.state == "closed":
            self._failures.append(now)
            self._prune(now)
            if len(self._failures) >= self.settings.threshold:
                self._open(now)


def wall_ms() -> int:
    return int(time.time() * 1000)
