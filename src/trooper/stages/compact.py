"""compact: prepare a compacted form of the request for providers whose context window is
smaller than it (the local tiers). Cloud providers get it untouched.

The provider is only known while failover walks the plan, so this stage does not
compact up front: it gives the exchange a compactor, which failover calls for a
provider with a window; the work is done only when needed, once per window. What each
provider was given is remembered, for the headers and the session's request record.
"""

from __future__ import annotations

import hashlib

import msgspec
import structlog

from trooper.compaction import Compacted, answer_room, compact
from trooper.conversation import Conversation
from trooper.pipeline import Exchange, StageBase

log = structlog.get_logger("trooper")


class Compact(StageBase):
    name = "compact"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        enabled: bool = True
        # Share of the window kept for the answer when the client's max_tokens doesn't
        # fit in half of it (or it set none).
        answer_share: float = 0.25

    async def run(self, exchange: Exchange) -> None:
        if self.options.enabled:
            exchange.compactor = Compactor(self.options.answer_share)


class Compactor:
    """Fits a conversation into a window; remembers its results for this exchange."""

    def __init__(self, answer_share: float) -> None:
        self.answer_share = answer_share
        self.results: dict[tuple[bytes, int], Compacted] = {}  # (content digest, window) -> fit
        self.given: dict[str, Compacted] = {}  # provider name -> what it was given
        # The last conversation digested, held so its digest is reused while it is alive.
        self._digested: tuple[Conversation, bytes] | None = None

    def budget(self, conversation: Conversation, window: int) -> int:
        return window - answer_room(window, conversation.sampling.max_tokens, self.answer_share)

    def result(self, conversation: Conversation, window: int) -> Compacted:
        # Keyed by content, not id(): a conversation freed after its fit leaves its id to the
        # next one allocated, which would be handed the first one's compaction.
        key = (self._digest(conversation), window)
        result = self.results.get(key)
        if result is None:
            result = compact(conversation, self.budget(conversation, window))
            self.results[key] = result
            if result.compacted:
                # Lossy fits (tools trimmed or dropped, texts cut, too long) are worth a warning.
                emit = log.info if result.context_kept else log.warning
                emit(
                    "compacted", window=window, budget=result.budget, before=result.tokens_before,
                    after=result.tokens_after, fits=result.fits, cut=",".join(result.cut) or None,
                    tools_trimmed=",".join(result.tools_trimmed) or None,
                    tools_dropped=",".join(result.tools_dropped) or None,
                )
        return result

    def _digest(self, conversation: Conversation) -> bytes:
        if self._digested is None or self._digested[0] is not conversation:
            self._digested = (conversation, content_digest(conversation))
        return self._digested[1]

    def fit(self, conversation: Conversation, window: int, provider: str = "") -> Conversation:
        result = self.result(conversation, window)
        if provider:
            self.given[provider] = result
        return result.conversation


_ENCODE = msgspec.msgpack.Encoder().encode


def content_digest(conversation: Conversation) -> bytes:
    """What the conversation holds, as a short digest (equal content, equal digest)."""
    return hashlib.blake2b(_ENCODE(conversation), digest_size=16).digest()
