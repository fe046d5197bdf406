"""failover: walk the routed plan, provider by provider, until one answers.

Each try is recorded as an Attempt. A failure that means "this provider can't serve
now" (quota, rate limit, overload, network) moves on; one that means "this request or
key is wrong" (401, a plain 400) goes back to the client in its own shape. When the
client's format is the provider's and no stage changed the conversation, the client's
bytes go up and the upstream's bytes come back untouched (the fast path).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import msgspec

from trooper.conversation import ApiError, Response, ResponseBuilder, StreamEvent, UpstreamError
from trooper.pipeline import Attempt, ErrorReply, Exchange, RawReply, Reply, StageBase, StreamReply, WholeReply
from trooper.providers.base import Provider, client_key, key_vendor
from trooper.providers.verdict import judge

MAX_ERROR_BODY = 64 * 1024

# Upstream response headers worth passing on to a client of the same vendor.
_FORWARDED_PREFIXES = ("anthropic-", "x-ratelimit-", "openai-", "x-request-id", "request-id", "retry-after")


class ProviderFailure(Exception):
    """This provider can't answer now; try the next one."""

    def __init__(self, reason: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.detail = detail


class Failover(StageBase):
    name = "failover"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Status codes that may fall over (QUOTA_STATUS_CODES); default from settings.
        quota_status_codes: list[int] | None = None

    def __init__(self, options: Options, runtime) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options, runtime)
        codes = options.quota_status_codes
        self.quota_codes = frozenset(codes) if codes is not None else runtime.settings.quota_status_codes

    async def run(self, exchange: Exchange) -> None:
        for provider in exchange.plan:
            key = self._key_for(provider, exchange)
            if key is None:
                exchange.attempts.append(
                    Attempt(provider.name, reason="no_key", detail=f"no key: set {provider.key_env} or send your own key")
                )
                continue
            started = time.perf_counter()
            try:
                reply = await self._try(provider, key, exchange)
            except ProviderFailure as failure:
                attempt = Attempt(provider.name, failure.status, failure.reason, failure.detail, _ms(started))
                exchange.attempts.append(attempt)
                exchange.log.warning(
                    "provider_failed",
                    provider=provider.name,
                    status=failure.status,
                    reason=failure.reason,
                    detail=failure.detail,
                    ms=round(attempt.ms, 1),
                )
                continue
            status = reply.error.status if isinstance(reply, ErrorReply) else reply.status
            exchange.attempts.append(Attempt(provider.name, status, ms=_ms(started), ok=True))
            exchange.provider = provider
            exchange.reply = reply
            return
        exchange.reply = all_failed(exchange.attempts)

    # --- one provider ---

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

    async def _try(self, provider: Provider, key: str, exchange: Exchange) -> Reply:
        conversation = exchange.conversation
        assert conversation is not None
        model = provider.model_for(conversation.model)
        same_format = provider.kind == exchange.client_format
        fast = same_format and exchange.unchanged and model == conversation.model
        body = exchange.body if fast and exchange.body is not None else provider.codec.encode_request(conversation, model)
        headers = provider.request_headers(key, exchange.headers if same_format else None)
        url = provider.endpoint(model, conversation.stream)

        try:
            upstream = await self.runtime.http.post(url, data=body, headers=headers, timeout=provider.timeout)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        exchange.model = model

        if upstream.status != 200:
            return await self._refusal(provider, upstream, same_format)
        if conversation.stream:
            return await self._stream(provider, upstream, raw=fast, exchange=exchange)
        return await self._whole(provider, upstream, raw=fast, exchange=exchange)

    async def _refusal(self, provider: Provider, upstream: aiohttp.ClientResponse, same_format: bool) -> Reply:
        """A non-200: either fall over (raise) or hand the error back to the client."""
        try:
            body = await upstream.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        finally:
            upstream.release()
        status = upstream.status
        verdict = judge(status, body, self.quota_codes)
        if verdict.fall_over:
            error = provider.codec.decode_error(status, body)
            raise ProviderFailure(verdict.reason, status, error.message[:200])
        if same_format:
            return RawReply(status, _content_type(upstream), body, _forwarded(upstream.headers))
        return ErrorReply(provider.codec.decode_error(status, body))

    async def _whole(self, provider: Provider, upstream: aiohttp.ClientResponse, *, raw: bool, exchange: Exchange) -> Reply:
        try:
            body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, provider) from None
        finally:
            upstream.release()
        try:
            response = provider.codec.decode_response(body)
        except UpstreamError as exc:
            raise ProviderFailure("bad_response", 200, exc.detail[:200]) from None
        exchange.answer = response
        if raw:
            return RawReply(200, _content_type(upstream), body, _forwarded(upstream.headers))
        return WholeReply(_with_model(response, exchange))

    async def _stream(self, provider: Provider, upstream: aiohttp.ClientResponse, *, raw: bool, exchange: Exchange) -> Reply:
        """Open the stream and read until its first event, so that a provider that fails
        before saying anything is still a quiet fallback, invisible to the client."""
        stream = UpstreamStream(provider, upstream)
        try:
            await stream.prime()
        except ProviderFailure:
            upstream.close()
            raise
        exchange.answer = stream.builder
        if raw:
            return RawReply(200, _content_type(upstream), stream.raw_chunks(), _forwarded(upstream.headers))
        return StreamReply(stream.events())


class UpstreamStream:
    """One upstream streamed body, decoded as it arrives. Serves the client either the
    canonical events (translation) or the very bytes (fast path); the decoder runs in
    both cases, so a truncated or broken stream is always detected and the answer is
    always known (for observation)."""

    def __init__(self, provider: Provider, upstream: aiohttp.ClientResponse) -> None:
        self.provider = provider
        self.upstream = upstream
        self.decoder = provider.codec.StreamDecoder()
        self.builder = ResponseBuilder()
        self._first_bytes = b""
        self._first_events: list[StreamEvent] = []

    async def prime(self) -> None:
        chunks = []
        try:
            while not self._first_events:
                chunk = await self.upstream.content.readany()
                if not chunk:
                    self._first_events = self.decoder.close()
                    break
                chunks.append(chunk)
                self._first_events = self.decoder.feed(chunk)
        except UpstreamError as exc:
            raise ProviderFailure(exc.reason, 200, exc.detail[:200]) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _network_failure(exc, self.provider) from None
        self._first_bytes = b"".join(chunks)

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            for event in self._first_events:
                self.builder.add(event)
                yield event
            async for chunk in self._chunks():
                for event in self.decoder.feed(chunk):
                    self.builder.add(event)
                    yield event
            for event in self.decoder.close():
                self.builder.add(event)
                yield event
        finally:
            self.upstream.close()

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        try:
            for event in self._first_events:
                self.builder.add(event)
            yield self._first_bytes
            async for chunk in self._chunks():
                for event in self.decoder.feed(chunk):
                    self.builder.add(event)
                yield chunk
            for event in self.decoder.close():
                self.builder.add(event)
        finally:
            self.upstream.close()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.upstream.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            failure = _network_failure(exc, self.provider)
            raise UpstreamError(failure.reason, failure.detail) from None


def all_failed(attempts: list[Attempt]) -> ErrorReply:
    """503 in the client's shape, naming every attempt and what to do about it."""
    parts = [describe(a) for a in attempts] or ["no provider is configured"]
    message = "All providers failed: " + "; ".join(parts)
    header = ", ".join(f"{a.provider}={a.status or a.reason}" for a in attempts)
    return ErrorReply(ApiError(503, "api_error", message), headers={"x-trooper-attempts": header})


def describe(attempt: Attempt) -> str:
    if attempt.reason == "no_key":
        return f"{attempt.provider}: skipped ({attempt.detail})"
    what = f"{attempt.status} {attempt.reason}" if attempt.status else attempt.reason
    detail = f": {attempt.detail}" if attempt.detail else ""
    return f"{attempt.provider}: {what}{detail} ({attempt.ms:.0f} ms)"


def _network_failure(exc: BaseException, provider: Provider) -> ProviderFailure:
    if isinstance(exc, TimeoutError):
        return ProviderFailure("timeout", detail=f"no answer from {provider.base_url} in time")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = f"cannot connect to {provider.base_url}"
        if provider.kind == "ollama":
            detail += " (is Ollama running? set FALLBACK_URL)"
    return ProviderFailure("network", detail=detail)


def _content_type(upstream: aiohttp.ClientResponse) -> str:
    return upstream.headers.get("Content-Type", "application/json")


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower().startswith(_FORWARDED_PREFIXES)}


def _with_model(response: Response, exchange: Exchange) -> Response:
    return response if response.model else msgspec.structs.replace(response, model=exchange.model)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


__all__ = ["Failover", "ProviderFailure", "UpstreamStream", "all_failed"]
