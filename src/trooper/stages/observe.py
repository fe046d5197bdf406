"""observe: watch every request with no help from the client. One structured log event
per request, the request's metrics, and two observations for the session store: one
when the request is under way (its new turns show at once), one when its answer has
been fully sent (streams included) or abandoned.

Nothing here waits on the store: observations are queued and applied off the request
path. A stream is never buffered for this: the failover stage fills a ResponseBuilder
as the client's stream flows, and it is read once the stream is over.
"""

from __future__ import annotations

import itertools
import time

import msgspec

from trooper.access import presented_keys
from trooper.compaction import Fit
from trooper.conversation import Response, ResponseBuilder
from trooper.pipeline import SKIP_REASONS, ErrorReply, Exchange, RawReply, StageBase, StreamReply, WholeReply
from trooper.providers.base import Provider
from trooper.redact import scrub
from trooper.savings import billable_tokens
from trooper.stages.headers import decision
from trooper.store.records import AttemptRecord, Fallback, Observation, RequestRecord
from trooper.tracing import AttemptTrace, TraceRecord, now, wall_ns

_refs = itertools.count(1)


class Observe(StageBase):
    name = "observe"
    phase = "response"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Also log the attempts that failed before the answer (one field, compact).
        log_attempts: bool = True
        # Keep each session's transcript, requests and signals in the session store.
        record: bool = True

    async def run(self, exchange: Exchange) -> None:
        ref = 0
        if self.options.record and exchange.session_id and exchange.decoded is not None:
            ref = next(_refs)
            started = time.time() - exchange.elapsed_ms() / 1000
            self.runtime.store.observe(Observation(ref, exchange.session_id, "request", started, exchange.decoded))

        def finish(done: Exchange, error: BaseException | None) -> None:
            self._finish(done, error, ref)

        exchange.on_finish(finish)

    def _finish(self, exchange: Exchange, error: BaseException | None, ref: int) -> None:
        answer = exchange.answer
        response = answer.response() if isinstance(answer, ResponseBuilder) else answer
        record = request_record(exchange, response, error)
        self._log(exchange, record, error)
        metrics = self.runtime.metrics
        metrics.record(record)
        if exchange.first_bytes_at:
            started_by = next((a.provider for a in exchange.attempts if a.ok), record.provider or "none")
            metrics.first_bytes(started_by, exchange.first_bytes_at - exchange.started)
        tracer = self.runtime.tracer
        if tracer is not None:
            tracer.submit(trace_record(exchange, record, response, self.runtime.providers))
        if ref and exchange.decoded is not None:
            partial = error is not None or (isinstance(answer, ResponseBuilder) and not answer.done)
            self.runtime.store.observe(
                Observation(ref, exchange.session_id, "answer", time.time(), exchange.decoded, response, record, partial)
            )

    def _log(self, exchange: Exchange, record: RequestRecord, error: BaseException | None) -> None:
        fields = {
            "request_id": exchange.request_id,
            "session": exchange.session_id,
            "client": exchange.client_format,
            "caller": exchange.client or None,
            "provider": record.provider or None,
            "model": record.answered_model or None,
            "decision": exchange.decision or None,
            "status": record.status,
            "stream": record.stream,
            "fallbacks": len(record.fallbacks),
            "ms": record.ms,
        }
        if exchange.answer is not None:
            fields["tokens_in"] = record.tokens_in
            fields["tokens_out"] = record.tokens_out
        if self.options.log_attempts and len(exchange.attempts) > 1:
            fields["attempts"] = " ".join(
                f"{a.provider}:{a.reason or a.status}" + (f":{a.splice}" if a.splice else "") for a in exchange.attempts
            )
        if error is not None:
            exchange.log.warning("request", error=record.error, **fields)
        else:
            exchange.log.info("request", **fields)


def request_record(exchange: Exchange, response: Response | None, error: BaseException | None) -> RequestRecord:
    """What happened to one request, as the session store and the metrics keep it.
    `seq` is the store's to fill in."""
    conversation = exchange.decoded
    provider = exchange.provider
    fallen = exchange.fallen_past()
    usage = response.usage if response is not None else None
    saved = 0
    if provider is not None and provider.local and error is None and exchange.conversation is not None:
        saved = billable_tokens(exchange.conversation, exchange.answer)
    return RequestRecord(
        seq=0,
        at=time.time() - exchange.elapsed_ms() / 1000,
        client_format=exchange.client_format,
        model=conversation.model if conversation is not None else "",
        stream=bool(conversation and conversation.stream),
        route=exchange.decision or "direct",
        decision=decision(exchange.decision, provider.name, [r for _, r in fallen]) if provider else "",
        provider=provider.name if provider else "",
        answered_model=exchange.model,
        fallbacks=[Fallback(name, reason) for name, reason in fallen],
        attempts=[AttemptRecord(a.provider, a.status, a.reason, round(a.ms, 1), a.ok, a.splice) for a in exchange.attempts],
        status=reply_status(exchange),
        ms=round(exchange.elapsed_ms(), 1),
        tokens_in=usage.input_tokens if usage else 0,
        tokens_out=usage.output_tokens if usage else 0,
        tokens_saved=saved,
        error=scrub(f"{type(error).__name__}: {error}" if error is not None else _error_message(exchange),
                    presented_keys(exchange.headers))[:300],
        client=exchange.client,
        fit=_fit(exchange),
        degraded=list(exchange.degraded),
    )


def _fit(exchange: Exchange) -> Fit | None:
    fitted = exchange.fitted()
    if fitted is None or not fitted.compacted or exchange.provider is None or exchange.provider.context_window is None:
        return None
    return fitted.record(exchange.provider.context_window)


def _error_message(exchange: Exchange) -> str:
    return exchange.reply.error.message[:1000] if isinstance(exchange.reply, ErrorReply) else ""


def reply_status(exchange: Exchange) -> int | None:
    reply = exchange.reply
    if isinstance(reply, ErrorReply):
        return reply.error.status
    if isinstance(reply, WholeReply | StreamReply | RawReply):
        return reply.status
    return None


def trace_record(exchange: Exchange, record: RequestRecord, response: Response | None,
                 providers: list[Provider]) -> TraceRecord:
    """The request as its spans tell it (built into spans on the tracing thread)."""
    perf_now, ns_now = now()
    by_name = {p.name: p for p in providers}
    answered = by_name.get(record.provider)
    attempts = []
    for attempt in exchange.attempts:
        provider = by_name.get(attempt.provider)
        if attempt.reason in SKIP_REASONS or provider is None:
            continue  # never a candidate: no call, no span
        end = wall_ns(attempt.ended, perf_now, ns_now)
        attempts.append(AttemptTrace(
            attempt.provider, provider.kind, provider.model_for(record.model), provider.base_url,
            end - int(attempt.ms * 1e6), end, attempt.ok, attempt.status, attempt.reason,
            scrub(attempt.detail, presented_keys(exchange.headers)) if attempt.detail else "",
        ))
    return TraceRecord(
        method=exchange.method, path=exchange.path, request_id=exchange.request_id,
        traceparent=exchange.headers.get("traceparent", ""), tracestate=exchange.headers.get("tracestate", ""),
        start_ns=wall_ns(exchange.started, perf_now, ns_now), end_ns=ns_now,
        client_format=exchange.client_format, session_id=exchange.session_id, stream=record.stream,
        request_model=record.model, response_model=record.answered_model,
        response_id=response.id if response is not None else "",
        provider=record.provider, provider_kind=answered.kind if answered is not None else "",
        decision=record.decision, fallback_reasons=[f.reason for f in record.fallbacks], status=record.status,
        input_tokens=record.tokens_in, output_tokens=record.tokens_out,
        finish_reason=response.stop_reason if response is not None and answered is not None else "",
        error=record.error, attempts=attempts,
    )
