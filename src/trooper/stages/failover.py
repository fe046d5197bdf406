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
import importlib.util
import time
from typing import TYPE_CHECKING

import aiohttp
import msgspec
import structlog

from trooper.access import presented_keys
from trooper.capabilities import DEGRADABLE, SKIPS, unmet
from trooper.config import Timeouts
from trooper.conversation import ApiError, Conversation, ErrorKind, Response, UpstreamError
from trooper.formats import codec
from trooper.pipeline import Attempt, ErrorReply, Exchange, RawReply, Reply, StageBase, StreamReply, WholeReply
from trooper.providers.base import Provider, client_key_for
from trooper.providers.breaker import BreakerSettings
from trooper.providers.ratelimit import retry_delay
from trooper.providers.verdict import judge, stated_limit
from trooper.redact import scrub, scrub_bytes
from trooper.relay import ProviderFailure, Relay, UpstreamStream, content_type, forwarded, network_failure

if TYPE_CHECKING:
    from trooper.runtime import Runtime

MAX_ERROR_BODY = 64 * 1024
CONTEXT_MARGIN = 0.9  # share of a stated context limit a compacted conversation may fill
# Failures that say the request can't go to this provider, not that it is unwell: the
# circuit breaker doesn't count them.
_NOT_THE_PROVIDERS_HEALTH = frozenset({"untranslatable", "context_too_long"})

log = structlog.get_logger("trooper")


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
        # These statuses (a transient error on a healthy provider) are retried once on
        # the same provider after `retry_server_after` seconds, before falling over.
        retry_statuses: list[int] = msgspec.field(default_factory=lambda: [500, 502, 504])
        retry_server_after: float = 0.25
        # Continue a stream cut mid-answer on the next provider.
        mid_stream: bool = True
        # AUTO_RECOVERY: check providers with an open circuit with a free call, and
        # close the circuit as soon as one answers. None: from the environment.
        auto_recovery: bool | None = None
        recovery_interval: float = 10.0
        # When no tier can serve a request as asked (tools or images it lacks), let one
        # that lacks them answer anyway, flagged in X-Trooper-Degraded. Off: the client
        # gets the all-failed error.
        allow_degraded: bool = False

    options: Options

    def __init__(self, options: Options, runtime: Runtime) -> None:
        super().__init__(options, runtime)
        codes = options.quota_status_codes
        self.quota_codes = frozenset(codes) if codes is not None else runtime.settings.quota_status_codes
        runtime.health.configure(options.breaker)
        for provider in runtime.providers:
            provider.use_default_timeouts(options.timeouts)
        enabled = options.auto_recovery
        self.auto_recovery = runtime.settings.auto_recovery if enabled is None else enabled
        self._recovery: asyncio.Task[None] | None = None
        # Whether a local model is installed at all; when none is, the all-failed answer
        # says how to add one (the first hour, with no key and no Ollama).
        self.local_installed = any(p.kind == "embedded" for p in runtime.providers) or embedded_installed()

    @property
    def mid_stream(self) -> bool:
        return self.options.mid_stream

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
        if found is None and self.options.allow_degraded:
            found = await self._degraded(exchange, conversation)
        if found is None:
            exchange.reply = all_failed(exchange.attempts, self.local_installed)
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
            if isinstance(opened, RawReply):
                exchange.answer = opened.answer
            exchange.reply = opened

    # --- walking the plan ---

    async def _degraded(self, exchange: Exchange, conversation: Conversation) -> tuple[Provider, UpstreamStream | Response | Reply] | None:
        """Every tier failed or lacked something: the ones that lacked only a capability
        answer without it, the headers saying so."""
        lacking = {a.provider: a.reason for a in exchange.attempts if a.reason in DEGRADABLE}
        providers = [p for p in exchange.plan if p.name in lacking]
        found = await self.first_answer(exchange, providers, conversation, raw_ok=False, degraded=True)
        if found is not None:
            exchange.degraded = (lacking[found[0].name],)
            log.warning("degraded_answer", provider=found[0].name, lacking=lacking[found[0].name])
        return found

    async def first_answer(
        self, exchange: Exchange, providers: list[Provider], conversation: Conversation, *, raw_ok: bool,
        degraded: bool = False,
    ) -> tuple[Provider, UpstreamStream | Response | Reply] | None:
        """The first provider in `providers` that answers, and its answer: an opened
        stream, a whole Response, or a Reply to give the client as is. A provider that
        can't serve the request as asked (capabilities.py) is skipped with the reason."""
        for provider in providers:
            key = self._key_for(provider, exchange)
            if key is None:
                exchange.attempts.append(
                    Attempt(provider.name, reason="no_key", detail=f"no key: set {provider.key_env} or send your own key")
                )
                continue
            missing = unmet(exchange, provider, conversation, degraded)
            if missing is not None:
                log.info("provider_skipped", provider=provider.name, reason=missing.reason, detail=missing.detail)
                exchange.attempts.append(Attempt(provider.name, reason=missing.reason, detail=missing.detail))
                continue
            breaker = self.runtime.health[provider.name]
            if not breaker.allow():
                settings = breaker.settings
                log.warning(
                    f"⚡ Skipping {provider.name} — circuit open ({settings.threshold} fails in last {settings.window:g}s)",
                    provider=provider.name,
                )
                exchange.attempts.append(
                    Attempt(provider.name, reason="circuit_open", detail=breaker.why_open(), retry_after=breaker.reopens_in())
                )
                continue
            opened = await self._try_with_retry(provider, key, exchange, conversation, raw_ok)
            if opened is not None:
                breaker.record_success()
                return provider, opened
        return None

    async def _try_with_retry(
        self, provider: Provider, key: str, exchange: Exchange, conversation: Conversation, raw_ok: bool
    ) -> UpstreamStream | Response | Reply | None:
        retried = amended = False
        compacted_to: int | None = None
        while True:
            started = time.perf_counter()
            try:
                opened = await self._try(provider, key, exchange, conversation, raw_ok)
            except ProviderFailure as failure:
                self.record_failure(exchange, provider, failure, started)
                if retried:
                    return None
                retried = True
                if failure.reason == "context_too_long":
                    fitted = self._fit_stated_limit(exchange, provider, conversation, failure)
                    if fitted is None:
                        return None
                    compacted_to, conversation = fitted
                    raw_ok = False
                    continue
                delay = self._retry_delay(failure)
                if delay is None:
                    return None
                log.info("retrying", provider=provider.name, after_s=round(delay, 3), reason=failure.reason)
                await asyncio.sleep(delay)
                continue
            status = opened.error.status if isinstance(opened, ErrorReply) else getattr(opened, "status", 200)
            if status == 400 and not amended and isinstance(opened, RawReply) and isinstance(opened.body, bytes):
                fixed = provider.amend_refused(exchange.body, opened.body)
                if fixed is not None:  # refused for what another tier left in the history: once more, amended
                    exchange.body, why = fixed
                    exchange.attempts.append(Attempt(provider.name, 400, "amended", why, _ms(started)))
                    log.info("request_amended", provider=provider.name, why=why)
                    amended = True
                    continue
            exchange.attempts.append(Attempt(provider.name, status, ms=_ms(started), ok=True))
            if compacted_to is not None:
                exchange.response_headers["x-trooper-context"] = (
                    f"compacted for {provider.name}: the conversation was over its {compacted_to}-token limit"
                )
            return opened

    def _fit_stated_limit(
        self, exchange: Exchange, provider: Provider, conversation: Conversation, failure: ProviderFailure
    ) -> tuple[int, Conversation] | None:
        """The conversation compacted into the window a "context too long" error named, to
        ask the same provider once more; None when it named none or nothing could go."""
        limit = stated_limit(failure.detail)
        if limit is None or exchange.compactor is None:
            return None
        # The estimate of a conversation's size is within ~10% of a real tokenizer's count.
        fitted = exchange.compactor.fit(conversation, int(limit * CONTEXT_MARGIN), provider.name)
        if fitted is conversation:
            return None
        log.info("compacted_to_stated_limit", provider=provider.name, limit=limit)
        return limit, fitted

    def record_failure(self, exchange: Exchange, provider: Provider, failure: ProviderFailure, started: float) -> None:
        detail = scrub(failure.detail, presented_keys(exchange.headers))  # kept, shown in 503s and logged
        attempt = Attempt(
            provider.name, failure.status, failure.reason, detail, _ms(started), retry_after=retry_delay(failure.headers)
        )
        exchange.attempts.append(attempt)
        if failure.reason not in _NOT_THE_PROVIDERS_HEALTH and not _clients_own_fault(provider, failure):
            self.runtime.health[provider.name].record_failure(f"{failure.reason}: {failure.detail}" if failure.detail else failure.reason)
        log.warning(
            "provider_failed",
            provider=provider.name,
            status=failure.status,
            reason=failure.reason,
            detail=detail,
            ms=round(attempt.ms, 1),
        )

    def _retry_delay(self, failure: ProviderFailure) -> float | None:
        """Wait before retrying once: a transient server error briefly; a 429 the upstream's
        hint when it is at most the cap, no retry when it asks for longer (retrying sooner
        would only hammer it)."""
        if failure.reason == "server_error" and failure.status in self.options.retry_statuses:
            return self.options.retry_server_after
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
        return client_key_for(provider.kind, exchange.headers, exchange.client_format) or None

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
        now = asyncio.get_running_loop().time()
        deadline = now + timeouts.total
        # A stream's headers and first event must come within first_byte; a whole answer
        # only arrives when it is complete, so its wait is bounded by total.
        first_byte = timeouts.first_byte if conversation.stream else timeouts.total
        first_event_by = now + first_byte

        try:
            async with asyncio.timeout(first_byte):
                upstream = await self.runtime.http.post(url, data=body, headers=headers, timeout=provider.timeout)
        except TimeoutError:
            raise ProviderFailure("timeout", detail=f"no answer within {first_byte:g}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise network_failure(exc, provider) from None
        exchange.model = model

        if upstream.status != 200:
            return await self._refusal(provider, upstream, wire, same_format)
        if conversation.stream:
            stream = UpstreamStream(provider, upstream, timeouts, deadline, raw=fast, wire=wire)
            try:
                await stream.prime(first_event_by)
            except UpstreamError as exc:
                upstream.close()
                raise ProviderFailure(exc.reason, 200, exc.detail[:200]) from None
            return stream
        return await self._whole(provider, upstream, wire, fast, deadline)

    async def _refusal(self, provider: Provider, upstream: aiohttp.ClientResponse, wire: str, same_format: bool) -> Reply:
        """A non-200: either fall over (raise) or hand the error back to the client."""
        try:
            async with asyncio.timeout(provider.timeouts.idle):
                body = await upstream.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise network_failure(exc, provider) from None
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
            return RawReply(status, content_type(upstream), body, forwarded(upstream.headers))
        return ErrorReply(wire_codec.decode_error(status, body))

    async def _whole(
        self, provider: Provider, upstream: aiohttp.ClientResponse, wire: str, raw: bool, deadline: float
    ) -> Response | Reply:
        try:
            async with asyncio.timeout_at(deadline):
                body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise network_failure(exc, provider) from None
        finally:
            upstream.release()
        try:
            response = codec(wire).decode_response(body)
        except UpstreamError as exc:
            raise ProviderFailure("bad_response", 200, exc.detail[:200]) from None
        if raw:
            return RawReply(200, content_type(upstream), body, forwarded(upstream.headers), answer=response)
        return response

    # --- auto-recovery ---

    async def _recover_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.recovery_interval)
            await self.recover_once()

    async def recover_once(self) -> None:
        """One round of free health checks on every provider whose circuit isn't closed."""
        for provider in self.runtime.providers:
            breaker = self.runtime.health[provider.name]
            if breaker.state == "closed" or (provider.key_env and not provider.key):
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
                breaker.record_success()
                log.info(f"🔄 {provider.name} is answering again — routing back to it", provider=provider.name)


# When every provider that was tried failed the same way, the client hears that (an SDK
# raises RateLimitError for a 429, and backs off); otherwise a 503.
_SHARED_FAILURE: dict[str, tuple[int, ErrorKind]] = {
    "rate_limit": (429, "rate_limit"),
    "overloaded": (529, "overloaded"),
    "untranslatable": (400, "invalid_request"),
}


# Retry-After when no provider said when to come back and no circuit is due to reopen.
DEFAULT_RETRY_AFTER = 5
LOCAL_EXTRA_HINT = (
    "no local model is installed: pip install 'trooper-gateway[local]' adds one that answers with no key "
    "and no Ollama (or start Ollama, or set a provider's key)"
)


def all_failed(attempts: list[Attempt], local_installed: bool = True) -> ErrorReply:
    """The client's error shape, naming every attempt and what to do about it."""
    parts = [describe(a) for a in attempts] or ["no provider is configured"]
    message = "All providers failed: " + "; ".join(parts)
    if not local_installed:
        message += f". Hint: {LOCAL_EXTRA_HINT}"
    header = ", ".join(f"{a.provider}={a.status or a.reason}" for a in attempts)
    tried = [a for a in attempts if a.reason not in ("no_key", "circuit_open", *SKIPS)]
    reasons = {a.reason for a in tried}
    status: int
    kind: ErrorKind
    status, kind = (503, "api_error")
    if len(reasons) == 1 and (shared := _SHARED_FAILURE.get(reasons.pop())) is not None:
        status, kind = tried[-1].status or shared[0], shared[1]  # the upstream's own status, e.g. 503 or 529
    elif not tried and any(a.reason in SKIPS for a in attempts) and all(a.reason != "circuit_open" for a in attempts):
        # Every tier that could be asked lacks what this request needs (tools, images, a
        # window for its latest turn): asking again won't help, as with a vendor's 400.
        status, kind = 400, "invalid_request"
    # The soonest time any provider named (or an open circuit lets a probe through) is when
    # trying again can help.
    waits = [a.retry_after for a in attempts if a.retry_after is not None]
    retry_after = max(1, round(min(waits))) if waits else DEFAULT_RETRY_AFTER
    headers = {"x-trooper-attempts": header, "retry-after": str(retry_after)}
    return ErrorReply(ApiError(status, kind, message), headers=headers)


def describe(attempt: Attempt) -> str:
    if attempt.reason == "no_key":
        return f"{attempt.provider}: skipped ({attempt.detail})"
    if attempt.reason == "circuit_open":
        return f"{attempt.provider}: skipped ({attempt.detail or 'circuit open'})"
    if attempt.reason in SKIPS:
        return f"{attempt.provider}: skipped ({attempt.reason}: {attempt.detail})"
    what = f"{attempt.status} {attempt.reason}" if attempt.status else attempt.reason
    detail = f": {attempt.detail}" if attempt.detail else ""
    return f"{attempt.provider}: {what}{detail} ({attempt.ms:.0f} ms)"


def embedded_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


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


def _with_model(response: Response, model: str) -> Response:
    return response if response.model else msgspec.structs.replace(response, model=model)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


__all__ = ["Failover", "ProviderFailure", "all_failed"]
