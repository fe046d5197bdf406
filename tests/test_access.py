"""Who may see session data. Callers beyond loopback are simulated by calling the ASGI
app with the client address a server would put in the scope (no traffic leaves the
machine); loopback callers come over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import structlog

from tests.conftest import chain_env, run_trooper
from trooper import admin
from trooper.access import is_loopback_name
from trooper.admin import COOKIE, warn_if_exposed
from trooper.config import load

REMOTE = ("203.0.113.7", 5000)
TOKEN = "correct horse battery staple"
PRIVATE_PATHS = ["/sessions", "/sessions/s1", "/recovery/s1", "/events"]


async def call(app, path: str, *, client=REMOTE, method: str = "GET", headers: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
               body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app, as a server would hand it over."""
    path, _, query = path.partition("?")
    headers = {"host": "trooper.example:3000", **(headers or {})}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": client, "server": ("198.51.100.1", 3000),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(0.2)  # then the client goes away (ends an event stream)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    start = sent[0]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def env(tmp_path: Path, **more: str) -> dict[str, str]:
    return chain_env(TROOPER_DB=str(tmp_path / "trooper.db"), **more)


async def test_without_a_token_only_this_machine_sees_session_data(tmp_path: Path) -> None:
    async with run_trooper(env(tmp_path)) as trooper:
        for path in PRIVATE_PATHS:
            status, headers, body = await call(trooper.app, path)
            assert status == 403, path
            assert b"203.0.113.7" in body and b"TROOPER_ADMIN_TOKEN" in body
            assert headers["cache-control"] == "no-store"
        status, headers, body = await call(trooper.app, "/dashboard")
        assert status == 403 and headers["content-type"].startswith("text/plain")
        assert b"only to callers on this machine" in body
        # A token sent to a Trooper that has none set opens nothing.
        assert (await call(trooper.app, "/sessions", headers={"authorization": f"Bearer {TOKEN}"}))[0] == 403
        # No conversation text in these: open to all.
        for path in ("/metrics", "/health", "/dashboard/app.js", "/dashboard/style.css", "/login"):
            assert (await call(trooper.app, path))[0] == 200, path
        # Over a real loopback socket, the same routes answer.
        async with aiohttp.ClientSession() as http:
            for path in ("/sessions", "/dashboard"):
                async with http.get(trooper.url + path) as response:
                    assert response.status == 200, path


async def test_with_the_token_any_caller_may_enter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin, "LOGIN_FAILURE_DELAY", 0)
    async with run_trooper(env(tmp_path, TROOPER_ADMIN_TOKEN=TOKEN)) as trooper:
        status, headers, body = await call(trooper.app, "/sessions")
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="trooper"' and b"/login" in body
        assert (await call(trooper.app, "/sessions", headers={"authorization": "Bearer wrong"}))[0] == 401
        for path in PRIVATE_PATHS:
            status, _, _ = await call(trooper.app, path, headers={"authorization": f"Bearer {TOKEN}"})
            assert status in (200, 404), path  # 404: no such session yet, but let in
        # The page sends the browser to the login form, which sets a cookie.
        status, headers, _ = await call(trooper.app, "/dashboard")
        assert (status, headers["location"]) == (303, "/login")
        form = {"content-type": "application/x-www-form-urlencoded"}
        status, _, body = await call(trooper.app, "/login", method="POST", headers=form, body=b"token=nope")
        assert status == 401 and b'id="failed" hidden' not in body
        status, headers, _ = await call(trooper.app, "/login", method="POST", headers=form,
                                        body=b"token=correct+horse+battery+staple")
        assert (status, headers["location"]) == (303, "/dashboard")
        cookie = headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        value = cookie.split(";")[0].split("=", 1)[1]
        assert TOKEN not in value and "correct" not in value  # the cookie is not the token
        for path in ("/dashboard", "/sessions", "/events"):
            assert (await call(trooper.app, path, headers={"cookie": f"{COOKIE}={value}"}))[0] == 200, path
        assert (await call(trooper.app, "/sessions", headers={"cookie": f"{COOKIE}=forged"}))[0] == 401


@pytest.mark.parametrize(
    ("client", "headers", "allowed"),
    [
        (("127.0.0.1", 1), {"host": "127.0.0.1:3000"}, True),
        (("::1", 1), {"host": "[::1]:3000"}, True),
        (("::ffff:127.0.0.1", 1), {"host": "localhost:3000"}, True),
        (("127.0.0.1", 1), {"host": "localhost:3000", "x-forwarded-for": "203.0.113.7"}, False),
        (("127.0.0.1", 1), {"host": "localhost", "forwarded": "for=203.0.113.7"}, False),
        (("127.0.0.1", 1), {"host": "attacker.example:3000"}, False),  # DNS rebinding
        (("192.0.2.9", 1), {"host": "localhost:3000"}, False),
    ],
)
async def test_what_counts_as_this_machine(tmp_path: Path, client, headers, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    async with run_trooper(env(tmp_path)) as trooper:
        status, _, _ = await call(trooper.app, "/sessions", client=client, headers=headers)
    assert (status == 200) is allowed


def test_loopback_names() -> None:
    assert all(map(is_loopback_name, ["localhost", "localhost:3000", "127.0.0.1:80", "[::1]:3000", "app.localhost"]))
    assert not any(map(is_loopback_name, ["example.com", "10.0.0.1:3000", "[2001:db8::1]:3000", "localhost.example"]))


@pytest.mark.parametrize(("bind", "token", "warned"), [("0.0.0.0", "", True), ("0.0.0.0", TOKEN, False),
                                                        ("127.0.0.1", "", False), ("::1", "", False)])
def test_start_up_warns_when_bound_beyond_loopback_without_a_token(bind: str, token: str, warned: bool) -> None:
    settings = load(None, env={"TROOPER_BIND": bind, "TROOPER_ADMIN_TOKEN": token, "TROOPER_TRUSTED_NETWORK": "true"})
    with structlog.testing.capture_logs() as logs:
        warn_if_exposed(settings)
    assert any(e["event"] == "admin_loopback_only" for e in logs) is warned
