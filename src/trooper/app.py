"""The ASGI app. The proxy routes are raw ASGI (the hot path); everything else
(health, model list, and later the dashboard and admin pages) is a Starlette router.

Routing (`routes.py`, from the paths each format declares in `formats/`), in order:
  POST to a format's pipeline path                  -> pipeline, in that format
  OPTIONS to a proxy route (a CORS preflight)       -> 204 here, no Access-Control-Allow-*
  GET|HEAD /, GET /health[/live|/ready], /v1/models -> Starlette
  sessions, recovery, events, dashboard, metrics    -> Starlette (trooper.admin)
  a format's model-in-the-URL call (Gemini's)       -> pipeline, or its token count
  any other vendor API path                         -> passed through to that vendor
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import Send

from trooper import __version__, tracing
from trooper.access import Gate
from trooper.admin import Admin, warn_if_exposed
from trooper.conversation import TOO_DEEP, ApiError, BadRequest
from trooper.formats import codec
from trooper.formats.ingress import ListedModel
from trooper.health import Readiness
from trooper.passthrough import count_upstream, pass_through
from trooper.pipeline import ErrorReply, Exchange, Stage, run_stages
from trooper.redact import safe_url, scrub
from trooper.request_id import request_id, with_request_id
from trooper.routes import PIPELINE_ROUTES, Target, model_list, query_credential, route
from trooper.runtime import Runtime
from trooper.send import json_bytes, send_bytes, send_error, send_reply
from trooper.signals.tokens import estimate_conversation

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[Scope, Send, str, bytes], Awaitable[None]]  # scope, send, the format or vendor, the body

log = structlog.get_logger("trooper")

class ClientGone(Exception):
    """The client closed the connection before its answer was complete."""


class TrooperApp:
    def __init__(self, runtime: Runtime, stages: list[Stage]) -> None:
        self.runtime = runtime
        self.stages = stages
        self.max_body = runtime.settings.server.max_body_mb * 1024 * 1024
        self.gate = Gate(runtime.settings.access)
        self.startup_error = ""  # why start-up failed, for the one line `trooper serve` prints
        self.readiness = Readiness(runtime.providers, runtime.health, lambda: runtime.http)
        self.body_timeout = runtime.settings.server.body_timeout
        self._sampler: asyncio.Task[None] | None = None
        self.admin = Router(
            routes=[
                Route("/", self.root, methods=["GET", "HEAD"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/health/live", self.live, methods=["GET"]),
                Route("/health/ready", self.ready, methods=["GET"]),
                Route("/v1/models", self.models, methods=["GET"]),
                *Admin(runtime).routes(),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            rid = request_id(scope["headers"])
            scope["trooper.request_id"] = rid
            send = with_request_id(send, rid)
            client_format = PIPELINE_ROUTES.get(scope["path"])
            if client_format is not None and scope["method"] == "POST":  # the hot path: no more routing to do
                await self._guarded(self.proxy, scope, receive, send, client_format)
                return
            chosen = route(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), _lower_headers(scope))
            if chosen.handler == "admin":
                await self.admin(scope, receive, send)
            elif chosen.handler == "preflight":
                await answer_preflight(scope, send)
            elif chosen.error is not None:
                log.info("request_refused", path=scope["path"][:200], status=chosen.error.status)
                await send_error(send, codec(chosen.wire), chosen.error)
            else:
                scope["trooper.route"] = chosen
                handler = {"pipeline": self.proxy, "count_tokens": self.count_tokens}.get(chosen.handler, self.passthrough)
                await self._guarded(handler, scope, receive, send, chosen.wire)
        elif kind == "websocket":
            await refuse_websocket(receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # --- lifespan ---

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    self.startup_error = str(exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await self.runtime.store.start()
        warn_if_exposed(self.runtime.settings)
        self.runtime.tracer = tracing.from_env(self.runtime.env)
        metrics = self.runtime.metrics
        if metrics.multiprocess:  # several workers: each samples its store's figures for /metrics
            self._sampler = asyncio.create_task(metrics.sample_store_forever(self.runtime.store.stats))
        for stage in self.stages:
            hook = getattr(stage, "startup", None)
            if hook is not None:
                await hook()

    def stopping(self) -> None:
        """The server has begun to stop: end the live event streams (/events), which would
        otherwise hold up its graceful shutdown for the whole timeout."""
        self.runtime.store.end_subscriptions()

    async def shutdown(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        for stage in reversed(self.stages):
            hook = getattr(stage, "shutdown", None)
            if hook is not None:
                with contextlib.suppress(Exception):
                    await hook()
        await self.runtime.store.close()
        await self.runtime.close()
        if self.runtime.tracer is not None:
            await asyncio.to_thread(self.runtime.tracer.close)  # what is queued is exported

    # --- the guard every proxied request runs under ---

    async def _guarded(self, handler: Handler, scope: Scope, receive: Receive, send: Send, client_format: str) -> None:
        """Run `handler` so that a client that goes away cancels the work at once (and with
        it the upstream request), and an unexpected bug is a clean 500, never a traceback.
        First of all, the gate: only admitted callers may spend the operator's keys."""
        admission = self.gate.admit(scope)
        if admission.error is not None:
            log.warning("caller_refused", path=scope["path"], caller=admission.caller.address or None,
                        status=admission.error.status)
            await send_error(send, codec(client_format), admission.error)
            return
        scope["trooper.client"] = admission.client
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read_body(receive, self.max_body)
        except _TooLarge:
            error = ApiError(413, "request_too_large", f"request body exceeds {self.max_body // 1048576} MB")
            await send_error(send, codec(client_format), error, {"connection": "close"})
            return
        except TimeoutError:
            log.warning("body_too_slow", path=scope["path"], timeout_s=self.body_timeout)
            error = ApiError(408, "timeout", f"request body not received within {self.body_timeout:g} s")
            await send_error(send, codec(client_format), error, {"connection": "close"})
            return
        except ClientGone:
            return
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await handler(scope, send, client_format, body)
        except asyncio.CancelledError:
            if not gone:
                raise
            # Swallow only the cancellation we caused; uncancel so the server's task is clean.
            task.uncancel()
        except RecursionError:  # a body nested deeper than some step can walk: the client's doing
            log.warning("request_too_deep", path=scope["path"])
            with contextlib.suppress(Exception):
                await send_error(send, codec(client_format), ApiError(400, "invalid_request", TOO_DEEP))
        except Exception:
            log.exception("unhandled_error", path=scope["path"])
            with contextlib.suppress(Exception):
                await send_error(send, codec(client_format), ApiError(500, "api_error", "internal error in Trooper; see its log"))
        finally:
            watcher.cancel()

    # --- the pipeline ---

    async def proxy(self, scope: Scope, send: Send, client_format: str, body: bytes) -> None:
        chosen: Target | None = scope.get("trooper.route")
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=chosen.query if chosen is not None else scope["query_string"].decode("latin-1"),
            headers=_client_headers(scope),
            client_format=client_format,
            body=body,
            client_addr=(scope.get("client") or ("", 0))[0],
            client=scope.get("trooper.client", ""),
            request_id=scope["trooper.request_id"].decode("latin-1"),
        )
        error: BaseException | None = None
        try:
            await run_stages(self.stages, exchange)
            if exchange.reply is None:
                exchange.reply = _no_reply()
            await send_reply(send, exchange, exchange.reply)
        except BaseException as exc:
            error = ClientGone("client disconnected") if isinstance(exc, asyncio.CancelledError) else exc
            raise
        finally:
            await asyncio.shield(exchange.finish(error))

    # --- Gemini's countTokens, and pass-through of other vendor API calls ---

    async def count_tokens(self, scope: Scope, send: Send, client_format: str, body: bytes) -> None:
        """The vendor's own count when one of its providers answers, else Trooper's estimate."""
        client = codec(client_format)
        grammar = client.INGRESS.grammar  # routes.py sends here only the calls of a grammar that counts
        if grammar is None or grammar.decode_count is None:
            await send_error(send, client, ApiError(404, "not_found", f"{scope['path']} counts no tokens"))
            return
        try:
            conversation = grammar.decode_count(body, scope["path"])
        except BadRequest as exc:
            await send_error(send, client, ApiError(400, "invalid_request", exc.message))
            return
        counted = await count_upstream(self.runtime, scope["trooper.route"], scope["path"], _client_headers(scope), body)
        if counted is not None:
            await send_bytes(send, 200, "application/json", counted[1], {"x-trooper-provider": counted[0]}, {})
            return
        estimate = json_bytes({"totalTokens": estimate_conversation(conversation)})
        await send_bytes(send, 200, "application/json", estimate, {"x-trooper-provider": "trooper (estimate)"}, {})

    async def passthrough(self, scope: Scope, send: Send, vendor: str, body: bytes) -> None:
        chosen: Target = scope["trooper.route"]
        await pass_through(self.runtime, send, chosen, scope["method"], scope["path"], _client_headers(scope), body)

    # --- Starlette routes ---

    async def root(self, request: Request) -> Response:
        """Agents check their base URL is up before the first call (Claude Code: HEAD /)."""
        return PlainTextResponse(f"Trooper {__version__}: the dashboard is at /dashboard\n")

    async def health(self, request: Request) -> Response:
        providers = [
            {"name": p.name, "kind": p.kind, "url": safe_url(p.base_url), "model": p.model, "local": p.local, "key_configured": bool(p.key),
             "capabilities": msgspec.to_builtins(p.capabilities)}
            for p in self.runtime.providers
        ]
        stages = [s.name for s in self.stages]
        return JSONResponse({"status": "ok", "version": __version__, "providers": providers, "pipeline": stages})

    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "live", "version": __version__})

    async def ready(self, request: Request) -> Response:
        """200 when at least one provider can answer now, else 503; each provider says why."""
        providers = await self.readiness.check()
        ready = any(p.ready for p in providers)
        shown = [msgspec.structs.replace(p, why=scrub(p.why)) for p in providers]  # URLs without credentials
        body = {"status": "ready" if ready else "not_ready", "providers": msgspec.to_builtins(shown)}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def models(self, request: Request) -> Response:
        """The models Trooper can answer with, in the asking SDK's list shape."""
        seen: list[ListedModel] = []
        for provider in self.runtime.providers:
            if provider.model and all(model.id != provider.model for model in seen):
                seen.append(ListedModel(provider.model, provider.name))
        return Response(model_list(request.headers)(seen), media_type="application/json")


async def answer_preflight(scope: Scope, send: Send) -> None:
    """A CORS preflight (any OPTIONS) to a proxy route is answered here and never reaches a
    provider: 204 without Access-Control-Allow-*, so a browser sends a web page's request no
    further. Trooper serves no cross-site caller (access.py refuses them): nothing to allow."""
    log.info("preflight_answered", path=scope["path"][:200])
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def refuse_websocket(receive: Receive, send: Send) -> None:
    """No route speaks WebSocket: a clear 426 (not an upgrade), never a 500."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    body = b'{"error": {"status": 426, "message": "Trooper does not speak WebSocket: use HTTP (SSE for streams)"}}'
    await send({"type": "websocket.http.response.start", "status": 426,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("client disconnected while sending")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _lower_headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _client_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name; a key sent in the query (Gemini's `?key=`)
    counts as the header its vendor's SDKs send it in (and is not forwarded in the query)."""
    headers = _lower_headers(scope)
    credential = query_credential(scope["query_string"].decode("latin-1")) if scope["query_string"] else None
    if credential is not None:
        headers.setdefault(*credential)
    return headers


def _no_reply() -> ErrorReply:
    return ErrorReply(ApiError(500, "api_error", "the pipeline produced no reply: is the failover stage in [pipeline] stages?"))
