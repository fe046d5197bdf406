"""The stream relay: reads an upstream's streamed answer frame by frame and carries it to
the client; when that upstream dies mid-answer, continues the same client stream on the
next provider and splices the continuation in (see `continuation` and `seam`).

The failover stage opens the first stream and walks the plan; this module takes over
once a stream is open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import structlog

from trooper.config import Timeouts
from trooper.continuation import Splice, continuation, delivered_text, has_tool_calls
from trooper.conversation import (
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
from trooper.pipeline import Attempt, ErrorReply, Exchange, RawReply, Reply
from trooper.providers.base import Provider
from trooper.seam import Refused, Seam
from trooper.signals.tokens import estimate_conversation

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


class SpliceRefused(UpstreamError):
    """A continuation that does not join the answer the client has: the stream ends with
    an error event rather than a garbled answer."""

    def __init__(self, provider: str, why: str) -> None:
        super().__init__("splice_refused", f"{provider}'s continuation was not used: {why}")
        self.client_message = (
            f"The answer was cut off mid-stream and {provider}'s continuation did not join it ({why}); "
            "it was not passed on, to avoid a garbled answer. Retry the request."
        )


class Walker(Protocol):
    """What the relay needs of the failover stage: ask providers, record their failures."""

    @property
    def mid_stream(self) -> bool: ...

    async def first_answer(
        self, exchange: Exchange, providers: list[Provider], conversation: Conversation, *, raw_ok: bool
    ) -> tuple[Provider, UpstreamStream | Response | Reply] | None: ...

    def record_failure(self, exchange: Exchange, provider: Provider, failure: ProviderFailure, started: float) -> None: ...


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
        self.content_type = content_type(upstream)
        self.forwarded = forwarded(upstream.headers)
        wire = wire or provider.kind
        wire_codec = codec(wire)
        self.decoder = wire_codec.StreamDecoder()
        self.framer = wire_codec.FRAMING.framer()  # the one framing pass: the decoder takes whole frames
        self._idle = timeouts.idle
        self._deadline = deadline
        self._first: list[list[Piece]] = []
        self._error: UpstreamError | None = None
        self._ended = False
        self._undecoded: list[bytes] = []

    async def prime(self, first_event_by: float) -> None:
        """Read until the first event, so a provider that fails before saying anything is
        a quiet fallback, invisible to the client. The first frame must come by
        `first_event_by` (loop time; a keep-alive ping counts as life, content is not
        required); the frames after it within the idle limit."""
        loop = asyncio.get_running_loop()
        alive = False
        while not self._ended:
            budget = self._idle if alive else first_event_by - loop.time()
            try:
                async with asyncio.timeout(max(budget, 0)):
                    batch = await self._read(until_first_event=True)
            except TimeoutError:
                what = f"no data for {self._idle:g}s" if alive else "no event within the first-byte limit"
                raise UpstreamError("timeout", what) from None
            self._first.append(batch)
            alive = alive or bool(batch)
            if any(events for _, events in batch):
                return

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
            failure = network_failure(exc, self.provider)
            raise UpstreamError(failure.reason, failure.detail) from None
        if not chunk:
            self._ended = True
            rest = self.framer.rest()
            return [(rest, self.decoder.feed_frame(rest) + self.decoder.close())]
        return self._decode(self.framer.split(chunk), until_first_event)

    def _decode(self, frames: list[bytes], until_first_event: bool = False) -> list[Piece]:
        """Decode whole frames. An error event is raised only after the frames before it
        have been handed on. `until_first_event`: a burst can bring a whole answer in one
        read; stop at the first event so its bytes go out at once, and keep the rest."""
        pieces: list[Piece] = []
        for count, frame in enumerate(frames, 1):
            try:
                events = self.decoder.feed_frame(frame)
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

    def __init__(self, walker: Walker, exchange: Exchange, first: UpstreamStream, remaining: list[Provider]) -> None:
        self.walker = walker
        self.exchange = exchange
        self.source = first
        self.remaining = remaining
        self.splice = Splice()
        self._joining: Attempt | None = None  # the continuation's attempt, until its seam decides

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Canonical events for the client's stream encoder (translated path)."""
        while not self.splice.ended:
            try:
                async for batch in self.source.batches():
                    for _frame, events in batch:
                        for event in events:
                            for out in self._take(event):
                                yield out
                return
            except SpliceRefused as refused:
                # Nothing of the refused continuation reached the client: the next provider may
                # still join it (with none left, _switch raises it: the client gets the error event).
                async for out in self._switch(refused, recorded=True):
                    yield out
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
        assert self.exchange.conversation is not None  # a canonical stream answers a decoded request
        encoder = codec(self.exchange.client_format).StreamEncoder(self.exchange.conversation)
        for event in self.splice.sent:
            encoder.encode(event)  # bring the encoder to where the client is; that output was sent already
        follow = getattr(encoder, "follow", None)
        if follow is not None:  # a format whose events carry ids and numbers (Responses) adopts the upstream's
            follow(sent)
        async for event in self.events_after(failure):
            yield encoder.comment(event.text) if type(event) is StreamNote else encoder.encode(event)
        yield encoder.trailer()

    async def events_after(self, failure: UpstreamError) -> AsyncIterator[StreamEvent]:
        """The rest of the answer once the source has failed with `failure`."""
        async for out in self._switch(failure):
            yield out
        async for out in self.events():
            yield out

    def _take(self, event: StreamEvent) -> list[StreamEvent]:
        try:
            out = self.splice.take(event)
        except Refused as refusal:
            self._record_outcome("refused", refusal.why)
            raise SpliceRefused(self.source.provider.name, refusal.why) from None
        seam = self.splice.seam
        if self._joining is not None and seam is not None and seam.outcome is not None:
            self._record_outcome(seam.outcome)
        return out

    def _record_outcome(self, outcome: str, why: str = "") -> None:
        attempt, self._joining = self._joining, None
        if attempt is not None:
            attempt.splice = outcome
            if outcome == "refused":  # the provider answered, but its answer was not used
                attempt.ok, attempt.reason, attempt.detail = False, "splice_refused", why
        fields = {"why": why} if why else {}
        say = log.warning if outcome == "refused" else log.info
        say("stream_spliced", provider=self.source.provider.name, outcome=outcome, **fields)

    async def _switch(self, exc: UpstreamError, *, recorded: bool = False) -> AsyncIterator[StreamEvent]:
        """The source died mid-answer (or its continuation was refused, already `recorded` on
        its attempt): record it, then continue on the next provider, or finish the message as
        it stands, or give up (re-raise: the client gets an error event)."""
        failed = self.source.provider
        if not recorded:
            failure = ProviderFailure(exc.reason, 200, exc.detail[:200])
            self.walker.record_failure(self.exchange, failed, failure, time.perf_counter())
        conversation = self.exchange.conversation
        if not self.walker.mid_stream or conversation is None:
            raise exc
        delivered = self.splice.delivered.response()
        if has_tool_calls(delivered):
            # The client already holds complete tool calls: that is the answer.
            for event in self.splice.finish("tool_use"):
                yield event
            return
        if not self.splice.input_tokens:
            self.splice.input_tokens = estimate_conversation(conversation)
        sent = delivered_text(delivered)
        for attempt_number, provider in enumerate(self.remaining):
            opened = await self._continue_on(provider, conversation, delivered)
            if opened is None:
                continue
            stream, prefilled = opened
            self.remaining = self.remaining[attempt_number + 1 :]
            self.source = stream
            self.exchange.provider = provider
            self._joining = self.exchange.attempts[-1]
            if sent.strip():
                self.splice.switch(Seam(sent, prefilled=prefilled))
            else:
                self.splice.switch()
                self._joining.splice = "fresh"  # nothing of the answer was sent: it starts here
                self._joining = None
            log.warning("stream_switched", failed=failed.name, reason=exc.reason, to=provider.name, prefill=prefilled)
            yield StreamNote(f"trooper: {failed.name} failed mid-stream ({exc.reason}); continuing on {provider.name}")
            return
        raise exc

    async def _continue_on(
        self, provider: Provider, conversation: Conversation, delivered: Response
    ) -> tuple[UpstreamStream, bool] | None:
        """Ask `provider` to continue `delivered`: with a prefill where it takes one, and
        once more without when it rejects the prefill with a 400."""
        prefill = provider.prefill and bool(delivered_text(delivered).strip())
        asked = continuation(conversation, delivered, prefill=prefill)
        assert asked is not None  # None only for an answer holding tool calls, which _switch finished
        found = await self.walker.first_answer(self.exchange, [provider], asked, raw_ok=False)
        if found is not None and prefill and _status(found[1]) == 400:
            rejected = self.exchange.attempts[-1]
            rejected.ok, rejected.reason = False, "prefill_rejected"
            log.warning("prefill_rejected", provider=provider.name, fix=f"set prefill = false on provider '{provider.name}'")
            prefill = False
            asked = continuation(conversation, delivered, prefill=False)
            assert asked is not None
            found = await self.walker.first_answer(self.exchange, [provider], asked, raw_ok=False)
        if found is None or not isinstance(found[1], UpstreamStream):
            return None
        return found[1], prefill


def _status(answer: UpstreamStream | Response | Reply) -> int:
    if isinstance(answer, ErrorReply):
        return answer.error.status
    if isinstance(answer, RawReply):
        return answer.status
    return 200


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


def network_failure(exc: BaseException, provider: Provider) -> ProviderFailure:
    if isinstance(exc, TimeoutError):
        return ProviderFailure("timeout", detail=f"no answer from {provider.base_url} in time")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = f"cannot connect to {provider.base_url}"
        detail += provider.unreachable_hint
    return ProviderFailure("network", detail=detail)


def content_type(upstream: aiohttp.ClientResponse) -> str:
    return upstream.headers.get("Content-Type", "application/json")


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower().startswith(_FORWARDED_PREFIXES)}


__all__ = ["ProviderFailure", "Relay", "SpliceRefused", "UpstreamStream", "Walker", "content_type", "forwarded", "network_failure"]
