"""What lives for the whole process and stages share: settings, providers, the HTTP
session. Created once at start-up; the session opens in the ASGI lifespan."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

import aiohttp

from trooper import providers, redact
from trooper.config import Settings
from trooper.metrics import Metrics
from trooper.providers.base import Provider
from trooper.providers.health import ProviderHealth
from trooper.providers.http import make_session
from trooper.savings import SavingsLedger
from trooper.store import Store, open_store
from trooper.tracing import Tracer


class Runtime:
    def __init__(
        self, settings: Settings, env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.env = os.environ if env is None else env
        self.clock = clock  # for circuit breakers; tests inject their own
        self.providers: list[Provider] = providers.build(settings.providers, self.env, settings.context_window)
        redact.remember([p.key for p in self.providers] + list(settings.access.clients.values()) + [settings.admin_token])
        self.store: Store = open_store(settings.store)  # started and closed by the app's lifespan
        self.savings = SavingsLedger(floor=self.store.saved)
        # Breakers, recent failures, probe lock: in this process, or shared through the store.
        self.health: ProviderHealth = self.store.provider_health([p.name for p in self.providers], clock)
        self.metrics = Metrics()
        self.tracer: Tracer | None = None  # OpenTelemetry, set up when the server starts
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = make_session()
        return self._http

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def first_of_kind(self, kind: str) -> Provider | None:
        return next((p for p in self.providers if p.kind == kind), None)

    async def close(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None
