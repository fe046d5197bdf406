"""Pass-through: a vendor API call Trooper does not translate (token counts, embeddings,
files, model details...) goes to the first provider of the vendor whose API the path is
(routes.py decides which, and refuses what escapes), with that provider's key or else the
client's own key for that vendor; no other credential the client sent goes along. An
organisation endpoint goes only with the client's own key.

A streamed answer (SSE or NDJSON) is forwarded in whole lines; if the upstream breaks mid-way
the client gets an error event on a line of its own and then an aborted body (no final
chunk), which every HTTP client reports as an error: never a clean end that reads as a
complete answer. Any other body that breaks is aborted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from starlette.types import Send

from trooper.conversation import ApiError, UpstreamError
from trooper.formats import Codec, codec
from trooper.formats.framing import Framing, framing_of
from trooper.providers.base import client_key_for
from trooper.redact import scrub_bytes
from trooper.routes import Target
from trooper.runtime import Runtime
from trooper.send import send_bytes, send_error, send_stream

# Client request headers that never go upstream: hop-by-hop ones, and every credential
# (the right one for this vendor is added back by the provider).
_DROPPED_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "accept-encoding",
     "te", "trailer", "proxy-authorization", "proxy-connection", "x-api-key", "authorization", "x-goog-api-key",
     "cookie", "x-session-id"}
)
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "connection", "keep-alive", "transfer-encoding", "content-encoding", "server", "date",
     "set-cookie"}
)


MAX_ERROR_BODY = 64 * 1024  # bytes of an upstream's error answer passed on


async def pass_through(
    runtime: Runtime, send: Send, target: Target, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    vendor = target.wire
    client = codec(vendor)
    provider = runtime.first_of_kind(vendor)
    if provider is None:
        await send_error(send, client, ApiError(404, "not_found", f"no {vendor} provider is configured for {path}"))
        return
    own_key = client_key_for(vendor, headers, vendor)
    if target.client_key_only:
        key = own_key
        if not key:
            message = f"{path} is an organisation endpoint: Trooper passes it only with your own {vendor} key, never the operator's"
            await send_error(send, client, ApiError(403, "permission", message))
            return
    else:
        # A keyless provider (a local server) is sent no key: the client's is for the vendor's own host.
        key = provider.key or (own_key if provider.key_env else "")
    if provider.key_env and not key:
        message = f"no key for {provider.name}: set {provider.key_env} or send your own key"
        await send_error(send, client, ApiError(401, "authentication", message))
        return
    forwarded = {name: value for name, value in headers.items() if name not in _DROPPED_REQUEST_HEADERS}
    forwarded.update(provider.auth_headers(key, headers))
    url = provider.passthrough_url(path, target.query)
    try:
        upstream = await runtime.http.request(method, url, data=body or None, headers=forwarded, timeout=provider.timeout)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        await send_error(send, client, ApiError(502, "api_error", f"{provider.name} unreachable for {path}: {type(exc).__name__}"))
        return
    response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS}
    content_type = response_headers.pop("Content-Type", "application/json")
    response_headers["x-trooper-provider"] = provider.name
    if upstream.status >= 400:  # an error may echo the key it was sent: shown only scrubbed
        try:
            error = await upstream.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError, OSError):
            error = b""
        finally:
            upstream.release()
        await send_bytes(send, upstream.status, content_type, scrub_bytes(error, [key]), response_headers, {})
        return
    await send_stream(
        send, upstream.status, content_type, _chunks(upstream, client, framing_of(content_type)), response_headers, {},
        client, on_break="abort",
    )


async def count_upstream(
    runtime: Runtime, target: Target, path: str, headers: dict[str, str], body: bytes
) -> tuple[str, bytes] | None:
    """(provider name, its answer) for a token count (Gemini's `:countTokens`) a provider of
    the target's vendor counted; None when none could be asked or it did not answer 200 (the
    caller then estimates)."""
    vendor = target.wire
    provider = runtime.first_of_kind(vendor)
    if provider is None:
        return None
    key = provider.key or client_key_for(vendor, headers, vendor)
    if not key:
        return None
    headers = {"Content-Type": "application/json", **provider.auth_headers(key, headers)}
    try:
        async with asyncio.timeout(provider.timeouts.first_byte):
            async with runtime.http.post(provider.passthrough_url(path, target.query), data=body, headers=headers,
                                         timeout=provider.timeout) as upstream:
                answer = await upstream.read()
                return (provider.name, answer) if upstream.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def _chunks(upstream: aiohttp.ClientResponse, client: Codec, framing: Framing | None) -> AsyncIterator[bytes]:
    """The upstream's body as it comes; a stream cut only between whole events (SSE) or
    lines (NDJSON), so that on a break the client gets whole events, then an error in the
    vendor's shape (an SSE event, or an NDJSON line), then the abort."""
    framer = framing.framer() if framing is not None else None
    try:
        async for chunk in upstream.content.iter_any():
            if framer is None:
                yield chunk
                continue
            frames = framer.split(chunk)
            if frames:
                yield b"".join(frames)
        if framer is not None:
            yield framer.rest()
    except (aiohttp.ClientError, OSError) as exc:
        failure = UpstreamError("network", f"{type(exc).__name__}: {exc}"[:200])
        if framer is not None:
            error = ApiError(502, "api_error", f"upstream stream broke: {failure.detail}")
            yield client.encode_stream_error(error)
        raise failure from None
    finally:
        upstream.release()
