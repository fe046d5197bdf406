"""Write a Reply to the client over ASGI, in the client's own wire format."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Literal

import msgspec
import structlog
from starlette.types import Send

from trooper.conversation import ApiError, StreamEvent, StreamNote, UpstreamError
from trooper.formats import Codec, StreamEncoder, codec
from trooper.pipeline import Exchange, RawReply, Reply, StreamReply, WholeReply

log = structlog.get_logger("trooper")

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"


async def send_reply(send: Send, exchange: Exchange, reply: Reply) -> None:
    client = codec(exchange.client_format)
    extra = exchange.response_headers
    if isinstance(reply, RawReply):
        if isinstance(reply.body, bytes):
            await send_bytes(send, reply.status, reply.content_type, reply.body, reply.headers, extra)
        else:
            await send_stream(send, reply.status, reply.content_type, reply.body, reply.headers, extra, client, exchange=exchange)
    elif isinstance(reply, WholeReply):
        await send_bytes(send, reply.status, JSON, client.encode_response(reply.response, exchange.conversation), {}, extra)
    elif isinstance(reply, StreamReply):
        assert exchange.conversation is not None
        encoder = client.StreamEncoder(exchange.conversation)
        await send_stream(
            send, reply.status, encoder.content_type, _encoded(reply.events, encoder), {}, extra, client, exchange=exchange
        )
    else:
        await send_error(send, client, reply.error, {**reply.headers, **extra})


async def send_error(send: Send, client: Codec, error: ApiError, headers: Mapping[str, str] | None = None) -> None:
    await send_bytes(send, error.status, JSON, client.encode_error(error), headers or {}, {})


async def send_bytes(
    send: Send, status: int, content_type: str, body: bytes, headers: Mapping[str, str], extra: Mapping[str, str]
) -> None:
    raw = _headers(content_type, headers, extra)
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_stream(
    send: Send,
    status: int,
    content_type: str,
    chunks: AsyncIterator[bytes],
    headers: Mapping[str, str],
    extra: Mapping[str, str],
    client: Codec,
    on_break: Literal["error", "abort"] = "error",
    exchange: Exchange | None = None,
) -> None:
    """`on_break`, when the upstream breaks after the client got bytes: end with an error
    event the client's SDK raises on ("error": our own streams, whose events are whole), or
    leave the body unfinished ("abort": a pass-through, whose chunks wrote their own error).
    `exchange`, when given, learns when the first bytes went out (time to first token)."""
    raw = _headers(content_type, headers, extra)
    raw.append((b"cache-control", b"no-cache"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    # aclosing: a client that goes away mid-stream must close the upstream at once. Every
    # stream is an async generator (it has aclose); the replies type it as an AsyncIterator.
    async with aclosing(chunks):  # type: ignore[type-var]
        try:
            async for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if exchange is not None and not exchange.first_bytes_at:
                        exchange.first_bytes_at = time.perf_counter()
        except UpstreamError as exc:
            # Never a silently truncated "success".
            log.warning("stream_broken", reason=exc.reason, detail=exc.detail)
            message = getattr(exc, "client_message", None) or f"upstream stream broke: {exc.reason}: {exc.detail}"[:300]
            error = ApiError(502, "api_error", message)
            if on_break == "abort":
                return  # no final chunk: the server closes the connection mid-body, which clients see as an error
            await send({"type": "http.response.body", "body": client.encode_stream_error(error), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _encoded(events: AsyncIterator[StreamEvent], encoder: StreamEncoder) -> AsyncIterator[bytes]:
    async with aclosing(events):  # type: ignore[type-var]  # an async generator, typed as its iterator
        async for event in events:
            yield encoder.comment(event.text) if type(event) is StreamNote else encoder.encode(event)
    yield encoder.trailer()


def _headers(content_type: str, headers: Mapping[str, str], extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    raw = [(b"content-type", content_type.encode("latin-1"))]
    raw.extend((name.lower().encode("latin-1"), value.encode()) for name, value in headers.items())
    raw.extend((name.lower().encode("latin-1"), value.encode()) for name, value in extra.items())
    return raw


def json_bytes(value: object) -> bytes:
    return msgspec.json.encode(value)
