"""failover: walk the routed plan, provider by provider, until one answers, and keep a
streamed answer alive when its provider dies mid-way.

Each try is an Attempt. A failure that means "this provider can't serve now" (quota,
rate limit, overload, network, timeout) moves on, after one retry for a 429 when the
upstream's hint allows; one that means "this request or key is wrong" (401, 403, a plain
400) goes back to the client in its own shape. A provider whose circuit is open is
skipped with no round trip. When the client's format is the provider's and no stage
changed the conversation, the client's bytes go up and the upstream's come back
untouched (the fast path).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import msgspec
import structlog

from trooper.config import Timeouts
from trooper.continuation import Splice, continuation, has_tool_calls
from trooper.conversation import (
    ApiError,
    ErrorKind,
    BlockStart,
    BlockStop,
    Conversation,
    Response,
    StreamEvent,
    StreamNote,
    ToolUseBlock,
    UpstreamError,
)
from trooper.formats import codec
from trooper.formats.sse import Framer
from trooper.pipeline import Attempt, ErrorReply, Exchange, RawReply, Reply, StageBase, StreamReply, WholeReply
from trooper.access import presented_keys
from trooper.providers.base import Provider, client_key, key_vendor
from trooper.redact import scrub, scrub_bytes
from trooper.providers.breaker import BreakerSettings, CircuitBreaker
from trooper.providers.ratelimit import retry_delay
from trooper.providers.verdict import judge

MAX_ERROR_BODY = 64 * 1024
NDJSON_FORMATS = frozenset({"ollama"})  # every other streaming format is SSE

# Upstream response headers worth passing on to a client of the same vendor.
_FORWARDED_PREFIXES = ("anthropic-", "x-ratelimit-", "openai-", "x-request-id", "request-id", "retry-after")

log = structlog.get_logger("trooper")


class ProviderFailure(Exception):
    """This provider can't answer now; try the next one."""

    def __init__(self, reason: str, status: int | None = None, detail: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class Failover(StageBase):
    name = "failover"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Status codes that may fall over (QUOTA_STATUS_CODES); default from settings.
        quota_status_codes: list[int] | None = None
        # Default timeouts for providers that set none of their own.
        timeouts: Timeouts = Timeouts()
        breaker: BreakerSettings = BreakerSettings()
        # A 429 is retried once on the same provider after the upstream's hint (when it
        # is at most `retry_cap` seconds), or after `retry_default` seconds without one.
        retry_429: bool = True
        retry_default: float = 2.0
        retry_cap: float = 10.0
        # Continue a stream cut mid-answer on the next provider.
        mid_stream: bool = True
        # AUTO_RECOVERY: check providers with an open circuit with a free call, and
        # close the circuit as soon as one answers. None: from the environment.
        auto_recovery: bool | None = None
        recovery_interval: float = 10.0

    def __init__(self, options: Options, runtime) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options, runtime)
        codes = options.quota_status_codes
        self.quota_codes = frozenset(codes) if codes is not None else runtime.settings.quota_status_codes
        for provider in runtime.providers:
            provider.breaker = CircuitBreaker(options.breaker, runtime.clock)
            provider.use_default_timeouts(options.timeouts)
        enabled = options.auto_recovery
        self.auto_recovery = runtime.settings.auto_recovery if enabled is None else enabled
        self._recovery: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.auto_recovery:
            self._recovery = asyncio.create_task(self._recover_forever(), name="trooper-auto-recovery")

    async def shutdown(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery

    async def run(self, exchange: Exchange) -> None:
        conversation = exchange.conversation
        assert conversation is not None
        found = await self.first_answer(exchange, exchange.plan, conversation, raw_ok=exchange.unchanged)
        if found is None:
            exchange.reply = all_failed(exchange.attempts)
            return
        provider, opened = found
        exchange.provider = provider
        if isinstance(opened, UpstreamStream):
            remaining = exchange.plan[exchange.plan.index(provider) + 1 :]
            relay = Relay(self, exchange, opened, remaining)
            exchange.answer = relay.splice.delivered
            if opened.raw:
                exchange.reply = RawReply(200, opened.content_type, relay.raw(), opened.forwarded)
            else:
                exchange.reply = StreamReply(relay.events())
        elif isinstance(opened, Response):
            exchange.answer = opened
            exchange.reply = WholeReply(_with_model(opened, exchange.model))
        else:
            if isinstance(opened, RawReply) and opened.status == 200:
                exchange.answer = exchange.notes.pop("response", None)
            exchange.reply = opened

    # --- walking the plan ---

    async def first_answer(
        self, exchange: Exchange, providers: list[Provider], conversation: Conversation, *, raw_ok: bool
    ) -> tuple[Provider, UpstreamStream | Response | Reply] | None:
        """The first provider in `providers` that answers, and its answer: an opened
        stream, a whole Response, or a Reply to give the client as is."""
        for provider in providers:
            key = self._key_for(provider, exchange)
            if key is None:
                exchange.attempts.append(
                    Attempt(provider.name, reason="no_key", detail=f"no key: set {provider.key_env} or send your own key")
                )
                continue
            breaker = provider.breaker
            if not breaker.allow():
                settings = breaker.settings
                log.warning(
                    f"⚡ Skipping {provider.name} — circuit open ({settings.threshold} fails in last {settings.window:g}s)",
                    provider=provider.name,
                )
                exchange.attempts.append(Attempt(provider.name, reason="circuit_open"))
                continue
            opened = await self._try_with_retry(provider, key, exchange, conversation, raw_ok)
            if opened is not None:
                breaker.record_success()
                return provider, opened
        return None

    async def _try_with_retry(
        self, provider: Provider, key: str, exchange: Exchange, conversation: Conversation, raw_ok: bool
    ) -> UpstreamStream | Response | Reply | None:
        retried = False
        while True:
            started = time.perf_counter()
            try:
                opened = await self._try(provider, key, exchange, conversation, raw_ok)
            except ProviderFailure as failure:
                self.record_failure(exchange, provider, failure, started)
                delay = None if retried else self._retry_delay(failure)
                if delay is None:
                    return None
                retried = True
                log.info("retrying", provider=provider.name, after_s=round(delay, 3))
                await asyncio.sleep(delay)
                continue
            status = opened.error.status if isinstance(opened, ErrorReply) else getattr(opened, "status", 200)
            exchange.attempts.append(Attempt(provider.name, status, ms=_ms(started), ok=True))
            return opened

    def record_failure(self, exchange: Exchange, provider: Provider, failure: ProviderFailure, started: float) -> None:
        detail = scrub(failure.detail, presented_keys(exchange.headers))  # kept, shown in 503s and logged
        attempt = Attempt(
            provider.name, failure.status, failure.reason, detail, _ms(started), retry_after=retry_delay(failure.headers)
        )
        exchange.attempts.append(attempt)
        if failure.reason != "untranslatable" and not _clients_own_fault(provider, failure):
            provider.breaker.record_failure()
        log.warning(
            "provider_failed",
            provider=provider.name,
            status=failure.status,
            reason=failure.reason,
            detail=detail,
            ms=round(attempt.ms, 1),
        )

    def _retry_delay(self, failure: ProviderFailure) -> float | None:
        """Wait before retrying a 429 once: the upstream's hint when it is at most the cap;
        no retry when it asks for longer (retrying sooner would only hammer it)."""
        if failure.reason != "rate_limit" or not self.options.retry_429:
            return None
        hint = retry_delay(failure.headers)
        if hint is None:
            return self.options.retry_default
        return hint if hint <= self.options.retry_cap else None

    def _key_for(self, provider: Provider, exchange: Exchange) -> str | None:
        """The configured key first; else the client's own key when it is this vendor's.
        None means this provider can't be asked at all. Keyless providers (local) get ""."""
        if provider.key:
            return provider.key
        if not provider.key_env:
            return ""
        key = client_key(exchange.headers)
        if key and key_vendor(key, exchange.client_format) == provider.kind:
            return key
        return None

    # --- one try of one provider ---

    async def _try(
        self, provider: Provider, key: str, exchange: Exchange, conversation: Conversation, raw_ok: bool
    ) -> UpstreamStream | Response | Reply:
        fitted = exchange.conversation_for(provider, conversation)
        model = provider.model_for(conversation.model)
        wire = provider.wire_for(exchange.client_format)
        same_format = wire == exchange.client_format
        fast = raw_ok and same_format and fitted is conversation and model == conversation.model and exchange.body is not None
        conversation = fitted
        if conversation.untranslatable and not fast:
            raise ProviderFailure("untranslatable", 400, untranslatable(conversation, provider))
        body = exchange.body if fast else provider.encode_request(conversation, model, wire)
        headers = provider.request_headers(key, exchange.headers if same_format else None)
        url = provider.endpoint(model, conversation.stream, wire)
        if same_format and exchange.query:
            url = with_query(url, exchange.query)  # e.g. Claude Code's ?beta=true
        timeouts = provider.timeouts
        deadline = asyncio.get_running_loop().time() + timeouts.total
        # A stream must start within first_byte; a whole answer only arrives when it is
        # complete, so its wait is bounded by total.
        first_byte = timeouts.first_byte if conversation.stream else timeouts.total

        try:
            async with asyncio.timeout(first_byte):
                upstream = await self.runtime.http.post(url, data=body, headers=headers, timeout=provider.timeout)
        except TimeoutError:
            raise ProviderFailure("timeout", detail=f"no answer within {first_byte:g}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        exchange.model = model

        if upstream.status != 200:
            return await self._refusal(provider, upstream, wire, same_format)
        if conversation.stream:
            stream = UpstreamStream(provider, upstream, timeouts, deadline, raw=fast, wire=wire)
            try:
                await stream.prime(first_byte)
            except UpstreamError as exc:
                upstream.close()
                raise ProviderFailure(exc.reason, 200, exc.detail[:200]) from None
            return stream
        return await self._whole(provider, upstream, wire, fast, exchange, deadline)

    async def _refusal(self, provider: Provider, upstream: aiohttp.ClientResponse, wire: str, same_format: bool) -> Reply:
        """A non-200: either fall over (raise) or hand the error back to the client."""
        try:
            async with asyncio.timeout(provider.timeouts.idle):
                body = await upstream.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        finally:
            upstream.release()
        body = scrub_bytes(body)  # an upstream may echo the operator's key in its error
        status = upstream.status
        verdict = judge(status, body, self.quota_codes)
        wire_codec = codec(wire)
        if verdict.fall_over:
            error = wire_codec.decode_error(status, body)
            raise ProviderFailure(verdict.reason, status, error.message[:200], upstream.headers)
        if same_format:
            return RawReply(status, _content_type(upstream), body, _forwarded(upstream.headers))
        return ErrorReply(wire_codec.decode_error(status, body))

    async def _whole(
        self, provider: Provider, upstream: aiohttp.ClientResponse, wire: str, raw: bool, exchange: Exchange, deadline: float
    ) -> Response | Reply:
        try:
            async with asyncio.timeout_at(deadline):
                body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        finally:
            upstream.release()
        try:
            response = codec(wire).decode_response(body)
        except UpstreamError as exc:
            raise ProviderFailure("bad_response", 200, exc.detail[:200]) from None
        if raw:
            exchange.notes["response"] = response
            return RawReply(200, _content_type(upstream), body, _forwarded(upstream.headers))
        return response

    # --- auto-recovery ---

    async def _recover_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.recovery_interval)
            await self.recover_once()

    async def recover_once(self) -> None:
        """One round of free health checks on every provider whose circuit isn't closed."""
        for provider in self.runtime.providers:
            if provider.breaker.state == "closed" or (provider.key_env and not provider.key):
                continue
            try:
                async with asyncio.timeout(provider.timeouts.connect + provider.timeouts.first_byte):
                    async with self.runtime.http.get(
                        provider.health_url(), headers=provider.request_headers(provider.key, None)
                    ) as resp:
                        healthy = resp.status == 200
            except (aiohttp.ClientError, TimeoutError, OSError):
                healthy = False
            if healthy:
                provider.breaker.record_success()
                log.info(f"🔄 {provider.name} is answering again — routing back to it", provider=provider.name)


Piece = tuple[bytes, list[StreamEvent]]  # one whole frame of the upstream stream and its events


class UpstreamStream:
    """One upstream streamed body, read frame by frame (whole SSE events or NDJSON lines)
    and decoded as it arrives, under the idle and total timeouts. Every failure (cut,
    stall, garbage, an error event) is an UpstreamError, raised only after the frames
    before it have been handed on."""

    def __init__(
        self, provider: Provider, upstream: aiohttp.ClientResponse, timeouts: Timeouts, deadline: float, *, raw: bool,
        wire: str = "",
    ) -> None:
        self.provider = provider
        self.upstream = upstream
        self.raw = raw
        self.content_type = _content_type(upstream)
        self.forwarded = _forwarded(upstream.headers)
        wire = wire or provider.kind
        self.decoder = codec(wire).StreamDecoder()
        self.framer = Framer(ndjson=wire in NDJSON_FORMATS)
        self._idle = timeouts.idle
        self._deadline = deadline
        self._first: list[list[Piece]] = []
        self._error: UpstreamError | None = None
        self._ended = False
        self._undecoded: list[bytes] = []

    async def prime(self, first_byte: float) -> None:
        """Read until the first event, so a provider that fails before saying anything is
        a quiet fallback, invisible to the client."""
        try:
            async with asyncio.timeout(first_byte):
                while not self._ended:
                    batch = await self._read(until_first_event=True)
                    self._first.append(batch)
                    if any(events for _, events in batch):
                        return
        except TimeoutError:
            raise UpstreamError("timeout", f"no first event within {first_byte:g}s") from None

    async def batches(self) -> AsyncIterator[list[Piece]]:
        """The pieces of each read, until the stream has ended."""
        try:
            first, self._first = self._first, []
            for batch in first:
                yield batch
            while not self._ended:
                if self._undecoded:  # frames read while priming, decoded now the first byte is out
                    yield self._decode(self._take_undecoded())
                    continue
                yield await self._read_timed()
        finally:
            self.upstream.close()

    async def _read_timed(self) -> list[Piece]:
        loop = asyncio.get_running_loop()
        budget = min(self._idle, self._deadline - loop.time())
        if budget <= 0:
            raise UpstreamError("timeout", "the answer took longer than the total time limit")
        try:
            async with asyncio.timeout(budget):
                return await self._read()
        except TimeoutError:
            what = f"no data for {self._idle:g}s" if budget == self._idle else "total time limit reached"
            raise UpstreamError("timeout", what) from None

    async def _read(self, until_first_event: bool = False) -> list[Piece]:
        if self._error is not None:
            raise self._error
        try:
            chunk = await self.upstream.content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            failure = _network_failure(exc, self.provider)
            raise UpstreamError(failure.reason, failure.detail) from None
        if not chunk:
            self._ended = True
            rest = self.framer.rest()
            return [(rest, self.decoder.feed(rest) + self.decoder.close())]
        return self._decode(self.framer.split(chunk), until_first_event)

    def _decode(self, frames: list[bytes], until_first_event: bool = False) -> list[Piece]:
        """Decode whole frames. An error event is raised only after the frames before it
        have been handed on. `until_first_event`: a burst can bring a whole answer in one
        read; stop at the first event so its bytes go out at once, and keep the rest."""
        pieces: list[Piece] = []
        for count, frame in enumerate(frames, 1):
            try:
                events = self.decoder.feed(frame)
            except UpstreamError as exc:
                if not pieces:
                    raise
                self._error = exc
                break
            pieces.append((frame, events))
            if until_first_event and events:
                self._undecoded = frames[count:]
                break
        return pieces

    def _take_undecoded(self) -> list[bytes]:
        frames, self._undecoded = self._undecoded, []
        return frames


class Relay:
    """Carries one streamed answer to the client, from the provider that opened it and,
    if that one dies mid-answer, from the next ones, as one well-formed message."""

    def __init__(self, failover: Failover, exchange: Exchange, first: UpstreamStream, remaining: list[Provider]) -> None:
        self.failover = failover
        self.exchange = exchange
        self.source = first
        self.remaining = remaining
        self.splice = Splice()

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Canonical events for the client's stream encoder (translated path)."""
        while not self.splice.ended:
            try:
                async for batch in self.source.batches():
                    for _frame, events in batch:
                        for event in events:
                            for out in self.splice.take(event):
                                yield out
                return
            except UpstreamError as exc:
                async for out in self._switch(exc):
                    yield out

    async def raw(self) -> AsyncIterator[bytes]:
        """The upstream's own bytes (fast path), whole frames only, held back only while a
        tool call is incomplete. The splice learns of a frame's events when its bytes go
        out, so after a mid-stream switch it knows exactly what the client has; the rest
        is then encoded in the client's format by an encoder primed to that point."""
        held: list[Piece] = []
        sent: list[bytes] = []  # the frames the client has, for an encoder that follows them
        try:
            async for batch in self.source.batches():
                out: list[bytes] = []
                for frame, events in batch:
                    held.append((frame, events))
                    if _tool_open_after(held):
                        continue
                    for held_frame, held_events in held:
                        for event in held_events:
                            self.splice.take(event)
                        out.append(held_frame)
                    held = []
                if out:
                    sent.extend(out)
                    yield b"".join(out)
            return
        except UpstreamError as exc:
            failure = exc
        encoder = codec(self.exchange.client_format).StreamEncoder(self.exchange.conversation)  # type: ignore[arg-type]
        for event in self.splice.sent:
            encoder.encode(event)  # bring the encoder to where the client is; that output was sent already
        follow = getattr(encoder, "follow", None)
        if follow is not None:  # a format whose events carry ids and numbers (Responses) adopts the upstream's
            follow(sent)
        pending: UpstreamError | None = failure
        while pending is not None:
            async for event in self._switch(pending):
                yield encoder.comment(event.text) if type(event) is StreamNote else encoder.encode(event)
            pending = None
            if self.splice.ended:
                break
            try:
                async for batch in self.source.batches():
                    for _frame, events in batch:
                        for event in events:
                            for out_event in self.splice.take(event):
                                yield encoder.encode(out_event)
            except UpstreamError as exc:
                pending = exc
        yield encoder.trailer()

    async def _switch(self, exc: UpstreamError) -> AsyncIterator[StreamEvent]:
        """The source died mid-answer: record it, then continue on the next provider, or
        finish the message as it stands, or give up (re-raise: the client gets an error event)."""
        failed = self.source.provider
        failure = ProviderFailure(exc.reason, 200, exc.detail[:200])
        self.failover.record_failure(self.exchange, failed, failure, time.perf_counter())
        conversation = self.exchange.conversation
        if not self.failover.options.mid_stream or conversation is None:
            raise exc
        delivered = self.splice.delivered.response()
        if has_tool_calls(delivered):
            # The client already holds complete tool calls: that is the answer.
            for event in self.splice.finish("tool_use"):
                yield event
            return
        for attempt_number, provider in enumerate(self.remaining):
            asked = continuation(conversation, delivered, prefill=provider.prefill)
            found = await self.failover.first_answer(self.exchange, [provider], asked, raw_ok=False)
            if found is None or not isinstance(found[1], UpstreamStream):
                continue
            self.remaining = self.remaining[attempt_number + 1 :]
            self.source = found[1]
            self.exchange.provider = provider
            self.splice.switch()
            log.warning("stream_switched", failed=failed.name, reason=exc.reason, to=provider.name)
            yield StreamNote(f"trooper: {failed.name} failed mid-stream ({exc.reason}); continuing on {provider.name}")
            return
        raise exc


def _tool_open_after(pieces: list[Piece]) -> bool:
    """Whether a tool-use block is open at the end of these pieces (blocks never nest)."""
    open_tool = False
    for _, events in pieces:
        for event in events:
            if type(event) is BlockStart:
                open_tool = type(event.block) is ToolUseBlock
            elif type(event) is BlockStop:
                open_tool = False
    return open_tool


# When every provider that was tried failed the same way, the client hears that (an SDK
# raises RateLimitError for a 429, and backs off); otherwise a 503.
_SHARED_FAILURE: dict[str, tuple[int, ErrorKind]] = {
    "rate_limit": (429, "rate_limit"),
    "overloaded": (529, "overloaded"),
    "untranslatable": (400, "invalid_request"),
}


def all_failed(attempts: list[Attempt]) -> ErrorReply:
    """The client's error shape, naming every attempt and what to do about it."""
    parts = [describe(a) for a in attempts] or ["no provider is configured"]
    message = "All providers failed: " + "; ".join(parts)
    header = ", ".join(f"{a.provider}={a.status or a.reason}" for a in attempts)
    tried = [a for a in attempts if a.reason not in ("no_key", "circuit_open")]
    reasons = {a.reason for a in tried}
    status, kind = (503, "api_error")
    if len(reasons) == 1 and (shared := _SHARED_FAILURE.get(reasons.pop())) is not None:
        status, kind = tried[-1].status or shared[0], shared[1]  # the upstream's own status, e.g. 503 or 529
    headers = {"x-trooper-attempts": header}
    waits = [a.retry_after for a in tried if a.retry_after is not None]
    if waits:
        # The soonest time any provider named is when trying again can help.
        headers["retry-after"] = str(max(1, round(min(waits))))
    return ErrorReply(ApiError(status, kind, message), headers=headers)


def describe(attempt: Attempt) -> str:
    if attempt.reason == "no_key":
        return f"{attempt.provider}: skipped ({attempt.detail})"
    if attempt.reason == "circuit_open":
        return f"{attempt.provider}: skipped (circuit open)"
    what = f"{attempt.status} {attempt.reason}" if attempt.status else attempt.reason
    detail = f": {attempt.detail}" if attempt.detail else ""
    return f"{attempt.provider}: {what}{detail} ({attempt.ms:.0f} ms)"


def _clients_own_fault(provider: Provider, failure: ProviderFailure) -> bool:
    """A 400/401/403 answered to the key a client brought is that client's problem: it must
    not open the provider's circuit for everyone else (the operator's own key counts)."""
    return bool(provider.key_env) and not provider.key and failure.status in (400, 401, 403)


def untranslatable(conversation: Conversation, provider: Provider) -> str:
    """Why `provider` can't be asked: what of the client's request it would lose, by name."""
    parts = conversation.untranslatable
    more = f" (and {len(parts) - 1} more)" if len(parts) > 1 else ""
    return f"{parts[0]}{more} cannot be translated for {provider.name}; only the client's own format carries it"


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _network_failure(exc: BaseException, provider: Provider) -> ProviderFailure:
    if isinstance(exc, TimeoutError):
        return ProviderFailure("timeout", detail=f"no answer from {provider.base_url} in time")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = f"cannot connect to {provider.base_url}"
        if provider.kind == "ollama":
            detail += " (is Ollama running? set FALLBACK_URL)"
        elif provider.local:
            detail += " (is the local model server running? check LOCAL_URL)"
    return ProviderFailure("network", detail=detail)


def _content_type(upstream: aiohttp.ClientResponse) -> str:
    return upstream.headers.get("Content-Type", "application/json")


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower().startswith(_FORWARDED_PREFIXES)}


def _with_model(response: Response, model: str) -> Response:
    return response if response.model else msgspec.structs.replace(response, model=model)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


__all__ = ["Failover", "ProviderFailure", "Relay", "UpstreamStream", "all_failed"]
