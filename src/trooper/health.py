"""Liveness and readiness, for load balancers and orchestrators.

Live: the process serves HTTP. Ready: at least one provider can answer a request now
without the client's help: a cloud provider with a configured key whose circuit is not
open, or a local tier (Ollama, a LOCAL_URL server, the embedded model) whose free check
answers. A cloud provider with no key only answers clients that bring their own, so it
never makes Trooper ready on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import msgspec

from trooper.providers.base import Provider
from trooper.providers.health import ProviderHealth

PROBE_TIMEOUT = 1.5  # seconds for one local tier's free check
PROBE_EVERY = 2.0  # checks run at most this often, however often readiness is asked


class ProviderReadiness(msgspec.Struct):
    name: str
    ready: bool
    why: str


class Readiness:
    def __init__(self, providers: list[Provider], health: ProviderHealth,
                 http: Callable[[], aiohttp.ClientSession]) -> None:
        self.providers = providers
        self.health = health
        self._http = http  # the runtime's shared session, opened lazily
        self._checked_at = -PROBE_EVERY
        self._last: list[ProviderReadiness] = []
        self._lock = asyncio.Lock()

    async def check(self) -> list[ProviderReadiness]:
        async with self._lock:
            if time.monotonic() - self._checked_at >= PROBE_EVERY:
                self._last = list(await asyncio.gather(*(self._one(p) for p in self.providers)))
                self._checked_at = time.monotonic()
            return self._last

    async def _one(self, provider: Provider) -> ProviderReadiness:
        breaker = self.health[provider.name]
        if breaker.state == "open":
            return ProviderReadiness(provider.name, False, breaker.why_open())
        if provider.key_env:
            if provider.key:
                return ProviderReadiness(provider.name, True, "key configured")
            return ProviderReadiness(
                provider.name, False, f"no key: {provider.key_env} unset (answers only clients that send their own key)"
            )
        url = provider.health_url()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async with self._http().get(url) as resp:
                    if resp.status == 200:
                        return ProviderReadiness(provider.name, True, f"answers at {provider.base_url}")
                    return ProviderReadiness(provider.name, False, f"{url} answered {resp.status}")
        except TimeoutError:
            return ProviderReadiness(provider.name, False, f"no answer from {url} within {PROBE_TIMEOUT:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            return ProviderReadiness(provider.name, False, f"cannot reach {url} ({type(exc).__name__})")
