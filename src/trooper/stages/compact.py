"""compact: prepare a compacted form of the conversation for providers whose context
window is smaller than it (the local model). Cloud providers get it untouched.

The provider is only known while failover walks the plan, so this stage does not
compact up front: it gives the exchange a compactor, which failover calls for a
provider with a small window; the work is done only when needed, once per window.
"""

from __future__ import annotations

import msgspec

from trooper.compaction import Compacted, compact
from trooper.conversation import Conversation
from trooper.pipeline import Exchange, StageBase

# Room kept for the answer inside the window, when the request doesn't say.
DEFAULT_ANSWER_ROOM = 1024


class Compact(StageBase):
    name = "compact"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        enabled: bool = True
        # Share of the window kept for the answer (at most the request's max_tokens).
        answer_share: float = 0.25

    async def run(self, exchange: Exchange) -> None:
        if self.options.enabled:
            exchange.compactor = Compactor(self.options.answer_share)


class Compactor:
    """Fits a conversation into a window; remembers its results for this exchange."""

    def __init__(self, answer_share: float) -> None:
        self.answer_share = answer_share
        self.results: dict[tuple[int, int], Compacted] = {}
        self.last: Compacted | None = None

    def budget(self, conversation: Conversation, window: int) -> int:
        asked = conversation.sampling.max_tokens or DEFAULT_ANSWER_ROOM
        return window - min(asked, int(window * self.answer_share))

    def fit(self, conversation: Conversation, window: int) -> Conversation:
        key = (id(conversation), window)
        result = self.results.get(key)
        if result is None:
            result = compact(conversation, self.budget(conversation, window))
            self.results[key] = result
        self.last = result
        return result.conversation
