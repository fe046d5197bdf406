"""observe: one structured log event per request, written when its answer has been
fully sent (streams included), with what happened and how long it took."""

from __future__ import annotations

import msgspec

from trooper.conversation import Response, ResponseBuilder
from trooper.pipeline import ErrorReply, Exchange, RawReply, StageBase, StreamReply, WholeReply


class Observe(StageBase):
    name = "observe"
    phase = "response"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Also log the attempts that failed before the answer (one field, compact).
        log_attempts: bool = True

    async def run(self, exchange: Exchange) -> None:
        exchange.on_finish(self._log)

    def _log(self, exchange: Exchange, error: BaseException | None) -> None:
        answer = exchange.answer
        response = answer.response() if isinstance(answer, ResponseBuilder) else answer
        fields = {
            "session": exchange.session_id,
            "client": exchange.client_format,
            "provider": exchange.provider.name if exchange.provider else None,
            "model": exchange.model or None,
            "decision": exchange.decision or None,
            "status": reply_status(exchange),
            "stream": bool(exchange.conversation and exchange.conversation.stream),
            "fallbacks": exchange.fallbacks,
            "ms": round(exchange.elapsed_ms(), 1),
        }
        if isinstance(response, Response):
            fields["tokens_in"] = response.usage.input_tokens
            fields["tokens_out"] = response.usage.output_tokens
        if self.options.log_attempts and len(exchange.attempts) > 1:
            fields["attempts"] = " ".join(f"{a.provider}:{a.reason or a.status}" for a in exchange.attempts)
        if error is not None:
            exchange.log.warning("request", error=f"{type(error).__name__}: {error}", **fields)
        else:
            exchange.log.info("request", **fields)


def reply_status(exchange: Exchange) -> int | None:
    reply = exchange.reply
    if isinstance(reply, ErrorReply):
        return reply.error.status
    if isinstance(reply, WholeReply | StreamReply | RawReply):
        return reply.status
    return None
