"""classify: decide whether the last user turn is simple (safe for the local model) or
complex, by rules (signals/classify.py). The route stage acts on the decision."""

from __future__ import annotations

import msgspec

from trooper.pipeline import Exchange, StageBase
from trooper.signals.classify import classify


class Classify(StageBase):
    name = "classify"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        enabled: bool = True

    async def run(self, exchange: Exchange) -> None:
        if self.options.enabled and exchange.conversation is not None:
            exchange.classification = classify(exchange.conversation)
