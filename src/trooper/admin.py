"""The admin routes: sessions, recovery, the live event stream, the dashboard and its
login form, and Prometheus metrics. Starlette, off the proxy's hot path.

Session data (/sessions*, /recovery/*, /events, /dashboard) is guarded by `Access`;
the dashboard's static files and /metrics hold no conversation text and are open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from urllib.parse import parse_qs

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from trooper.access import Access, Network, header_map, is_loopback_address
from trooper.config import Settings
from trooper.logins import LoginSessions, Throttle
from trooper.runtime import Runtime
from trooper.signals.extract import Signals
from trooper.store.base import StoreUnavailable

log = structlog.get_logger("trooper")

Handler = Callable[[Request], Awaitable[Response]]

KEEP_ALIVE = 15.0  # seconds between SSE comments, so proxies and browsers keep the stream open
MAX_LIMIT = 1000
LOGIN_FAILURE_DELAY = 1.0  # seconds: slows guessing
COOKIE = "trooper_admin"
COOKIE_MAX_AGE = 7 * 86400
MAX_LOGIN_BODY = 4096  # bytes: a token and a little form encoding

ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
# The page loads nothing but its own script and style, so even a rendering bug can't run
# a script smuggled into a transcript.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
PRIVATE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


class Recovery(msgspec.Struct):
    """GET /recovery/{id}, the seed product's shape: where an agent should pick up."""

    session_id: str
    completed_steps: list[str]
    resume_from: int | None
    recovery_hint: str


def recovery(session_id: str, signals: Signals) -> Recovery:
    steps = signals.completed_steps
    if signals.resume_from is not None:
        hint = f"Resume from step {signals.resume_from}"
    elif steps:
        hint = f"Resume after: {steps[-1]}"
    else:
        hint = "No completed steps yet: start from the beginning"
    return Recovery(session_id, steps, signals.resume_from, hint)


class Admin:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.access = Access(runtime.settings.admin_token, Network(runtime.settings.access.trusted_proxies))
        self.logins = LoginSessions(COOKIE_MAX_AGE)
        self.throttle = Throttle()
        folder = resources.files("trooper") / "dashboard"
        self.files = {name: (folder / name).read_bytes() for name in ("index.html", "login.html", *ASSETS)}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/sessions", self._guard(self.list_sessions), methods=["GET"]),
            Route("/sessions/{session_id:path}", self._guard(self.session), methods=["GET"]),
            Route("/recovery/{session_id:path}", self._guard(self.recovery), methods=["GET"]),
            Route("/events", self._guard(self.events), methods=["GET"]),
            Route("/dashboard", self._guard(self.dashboard, page=True), methods=["GET"]),
            Route("/dashboard/{name}", self.asset, methods=["GET"]),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    def _guard(self, handler: Handler, page: bool = False) -> Handler:
        async def guarded(request: Request) -> Response:
            refused = self.refusal(request)
            if refused is None:
                try:
                    return await handler(request)
                except StoreUnavailable as exc:
                    log.warning("store_read_failed", path=request.url.path, error=str(exc))
                    return _error(503, str(exc), {**PRIVATE, "retry-after": "5"})
            if isinstance(refused, Response):
                return refused
            why = self.access.explain(refused)
            if page and self.access.token:
                return RedirectResponse("/login", status_code=303)
            if page:
                return Response(why + "\n", 403, media_type="text/plain; charset=utf-8", headers=PRIVATE)
            status = 401 if self.access.token else 403
            headers = {**PRIVATE, "www-authenticate": 'Bearer realm="trooper"'} if status == 401 else PRIVATE
            return _error(status, why, headers)

        return guarded

    def refusal(self, request: Request) -> str | Response | None:
        """None when the caller may see session data; a 429 when it guessed wrong too often;
        else why not, for the person."""
        if self.access.token:
            bearer = self.access.bearer(request.headers)
            if bearer:
                if (throttled := self._throttled(request)) is not None:
                    return throttled
                if self.access.matches(bearer):
                    return None
                self._failed(request)
            session_id = request.cookies.get(COOKIE, "")
            if session_id and self.logins.valid(session_id):
                return None
        return self.access.local_refusal(request.scope)

    def _client(self, request: Request) -> str:
        caller = self.access.network.caller(request.scope, header_map(request.scope["headers"]))
        return caller.address or caller.via or "unknown"

    def _throttled(self, request: Request) -> Response | None:
        wait = self.throttle.wait(self._client(request))
        if not wait:
            return None
        message = f"too many wrong admin tokens from this address; try again in {wait:.0f} s"
        return _error(429, message, {**PRIVATE, "retry-after": str(max(1, round(wait)))})

    def _failed(self, request: Request) -> None:
        client = self._client(request)
        self.throttle.failed(client)
        log.warning("admin_token_wrong", client=client, path=request.url.path)

    # --- session data ---

    async def list_sessions(self, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "100"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return _error(400, "limit and offset must be whole numbers")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            return _error(400, f"limit must be 1-{MAX_LIMIT} and offset 0 or more")
        sessions, total = await self.store.sessions(limit, offset)
        return _json({"sessions": sessions, "total": total, "limit": limit, "offset": offset})

    async def session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        detail = await self.store.session(session_id)
        if detail is None:
            return _error(404, f"no session {session_id!r}")
        return _json(detail)

    async def recovery(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        found = await self.store.signals(session_id)
        if found is None:
            return _error(404, f"no session {session_id!r}")
        return _json(recovery(session_id, found[1]))

    async def events(self, request: Request) -> Response:
        subscription = self.store.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n: trooper session events\n\n"
                while True:
                    try:
                        chunk = await asyncio.wait_for(subscription.next(), KEEP_ALIVE)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if chunk is None:
                        return
                    yield chunk
            finally:
                subscription.close()

        headers = {**PRIVATE, "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream; charset=utf-8", headers=headers)

    # --- the page ---

    async def dashboard(self, request: Request) -> Response:
        return Response(self.files["index.html"], media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return _error(404, f"no dashboard file {name!r}")
        return Response(self.files[name], media_type=ASSETS[name], headers={**PAGE_HEADERS, "cache-control": "no-cache"})

    async def login_page(self, request: Request, failed: bool = False) -> Response:
        page = self.files["login.html"]
        if not self.access.token:
            page = page.replace(b'id="no-token" hidden', b'id="no-token"')
        elif failed:
            page = page.replace(b'id="failed" hidden', b'id="failed"')
        return Response(page, 401 if failed else 200, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def login(self, request: Request) -> Response:
        if (throttled := self._throttled(request)) is not None:
            return throttled
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                return _error(413, f"a sign-in form is at most {MAX_LOGIN_BODY} bytes")
        presented = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0].strip()
        if not self.access.matches(presented):
            self._failed(request)
            await asyncio.sleep(LOGIN_FAILURE_DELAY)
            return await self.login_page(request, failed=True)
        response = RedirectResponse("/dashboard", status_code=303)
        caller = self.access.network.caller(request.scope, header_map(request.scope["headers"]))
        response.set_cookie(
            COOKIE, self.logins.create(), max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="strict",
            secure=caller.https,
        )
        return response

    async def logout(self, request: Request) -> Response:
        self.logins.revoke(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # --- metrics ---

    async def metrics(self, request: Request) -> Response:
        text = self.runtime.metrics.render(self.runtime.health, self.store.stats())
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def warn_if_exposed(settings: Settings) -> None:
    """Bound beyond loopback with no admin token: say so at start-up, and what follows."""
    bind = settings.server.bind
    if settings.admin_token or bind == "localhost" or is_loopback_address(bind):
        return
    log.warning(
        "admin_loopback_only",
        bind=bind,
        hint="TROOPER_ADMIN_TOKEN is not set: /dashboard, /sessions, /recovery and /events refuse every caller "
        "not on this machine; set it to let them in with the token",
    )


def _json(value: object) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json", headers=PRIVATE)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = msgspec.json.encode({"error": {"status": status, "message": message}})
    return Response(body, status, media_type="application/json", headers=headers or PRIVATE)
