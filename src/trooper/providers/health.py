"""The runtime's one record of provider health: a circuit breaker per provider (its state,
recent failures and, when shared, the probe lock). Built once with the runtime, by the
session store: kept in this process, or shared with every instance on a Redis store
(`store/shared_breaker.py`). Stages, readiness and metrics read it; nothing replaces it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from trooper.providers.breaker import BreakerSettings, CircuitBreaker


class ProviderHealth:
    def __init__(self, names: Iterable[str], make: Callable[[str], CircuitBreaker]) -> None:
        self._breakers = {name: make(name) for name in names}

    def __getitem__(self, provider: str) -> CircuitBreaker:
        return self._breakers[provider]

    def __iter__(self) -> Iterator[tuple[str, CircuitBreaker]]:
        return iter(self._breakers.items())

    def configure(self, settings: BreakerSettings) -> None:
        """The thresholds `[stages.failover] breaker` sets, before any request."""
        for breaker in self._breakers.values():
            breaker.configure(settings)


def local_health(names: Iterable[str], clock: Callable[[], float]) -> ProviderHealth:
    """Provider health kept in this process only."""
    return ProviderHealth(names, lambda _name: CircuitBreaker(clock=clock))
