"""route: decide which providers may answer, in order. Failover then walks that plan.

- forced local (`"x_force_local": true` or `X-Trooper-Force-Local: 1`): local providers only;
- a simple turn (per the classify stage) goes to a healthy local provider first, so the
  cloud is never contacted for it; the cloud chain stays behind it in case the local
  model fails;
- everything else: the whole chain, in order.
A request opts out of routing with `X-Trooper-Route: cloud`.
"""

from __future__ import annotations

import msgspec

from trooper.conversation import ApiError
from trooper.pipeline import ErrorReply, Exchange, StageBase


class Route(StageBase):
    name = "route"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Honour x_force_local / X-Trooper-Force-Local.
        allow_force_local: bool = True
        # Send turns the classifier calls simple to the local provider.
        simple_to_local: bool = True

    async def run(self, exchange: Exchange) -> None:
        providers = self.runtime.providers
        local = [p for p in providers if p.local]
        if exchange.forced_local and self.options.allow_force_local:
            if not local:
                exchange.reply = ErrorReply(
                    ApiError(503, "overloaded", "x_force_local was requested but no local provider is configured")
                )
                return
            exchange.plan = local
            exchange.decision = "forced_local"
            return
        if self._route_locally(exchange):
            healthy = [p for p in local if self.runtime.health[p.name].state == "closed"]
            if healthy:
                exchange.plan = healthy + [p for p in providers if p not in healthy]
                exchange.decision = "simple turn"
                return
        exchange.plan = list(providers)
        exchange.decision = "direct"

    def _route_locally(self, exchange: Exchange) -> bool:
        if not self.options.simple_to_local or exchange.headers.get("x-trooper-route", "").lower() == "cloud":
            return False
        decision = exchange.classification
        return decision is not None and decision.simple
