"""route: decide which providers may answer, in order. Failover then walks that plan."""

from __future__ import annotations

import msgspec

from trooper.conversation import ApiError
from trooper.pipeline import ErrorReply, Exchange, StageBase


class Route(StageBase):
    name = "route"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Honour x_force_local / X-Trooper-Force-Local.
        allow_force_local: bool = True

    async def run(self, exchange: Exchange) -> None:
        providers = self.runtime.providers
        if exchange.forced_local and self.options.allow_force_local:
            local = [p for p in providers if p.local]
            if not local:
                exchange.reply = ErrorReply(
                    ApiError(503, "overloaded", "x_force_local was requested but no local provider is configured")
                )
                return
            exchange.plan = local
            exchange.decision = "forced_local"
            return
        exchange.plan = list(providers)
        exchange.decision = "direct"
