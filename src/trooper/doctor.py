"""`trooper doctor`: is everything Trooper needs in place? Each provider (reachable, key
accepted, model there: free calls only, never an inference call on a cloud provider),
the local tier, the session store and the port, one line each, with the fix for each
failure. Every check is bounded in time, so offline it ends in seconds with a line per
unreachable provider, never a traceback."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable
from typing import Literal, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec

from trooper.config import ServerSettings
from trooper.providers.base import Provider
from trooper.providers.embedded import EmbeddedProvider
from trooper.providers.local import LocalOpenAIProvider
from trooper.providers.ollama import OllamaProvider
from trooper.runtime import Runtime
from trooper.store import Store

Status = Literal["ok", "warn", "fail"]
MARKS: dict[Status, str] = {"ok": "✓", "warn": "!", "fail": "✗"}
TIMEOUT = aiohttp.ClientTimeout(total=6, connect=4)
LOCAL_ANSWER_TIMEOUT = 120.0  # the embedded check loads the model and asks for one token


class Check(msgspec.Struct):
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self, width: int) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{MARKS[self.status]} {self.name:<{width}}  {self.detail}{fix}"


async def diagnose(runtime: Runtime) -> list[Check]:
    settings = runtime.settings
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        checks = list(await asyncio.gather(*(_guarded(p.name, check_provider(p, http)) for p in runtime.providers)))
        checks = _judge_local_tier(runtime.providers, checks)
        checks.append(await _guarded("store", check_store(runtime.store)))
        checks.append(await _guarded("port", check_port(settings.server, http)))
    return checks


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed lines and the exit code: 1 when any check failed."""
    width = max(len(c.name) for c in checks)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    summary = f"{failed} failed, {warned} warning{'s' if warned != 1 else ''}" if failed or warned else "all good"
    return "\n".join([*(c.line(width) for c in checks), summary]), 1 if failed else 0


async def _guarded(name: str, check: Awaitable[Check]) -> Check:
    try:
        return await check
    except Exception as exc:  # a check that breaks is a failed check, never a traceback
        return Check(name, "fail", f"the check itself failed: {type(exc).__name__}: {exc}")


# --- providers ---


async def check_provider(provider: Provider, http: aiohttp.ClientSession) -> Check:
    if isinstance(provider, EmbeddedProvider):
        return await check_embedded(provider, http)
    if isinstance(provider, OllamaProvider):
        return await check_ollama(provider, http)
    if isinstance(provider, LocalOpenAIProvider):
        return await check_local_server(provider, http)
    return await check_cloud(provider, http)


async def check_cloud(provider: Provider, http: aiohttp.ClientSession) -> Check:
    """GET <models>/<model>: one free call says reachable, key accepted and model known
    (it resolves aliases such as claude-haiku-4-5)."""
    name, key = provider.name, provider.key
    url = f"{provider.health_url()}/{quote(provider.model, safe='')}"
    try:
        async with http.get(url, headers=provider.request_headers(key, None)) as response:
            status = response.status
    except UNREACHABLE as exc:
        return Check(name, "fail", f"cannot reach {provider.base_url} ({_why(exc)})", _reach_fix(provider))
    if not key:
        return Check(
            name, "warn", f"reachable; no key ({provider.key_env} unset): only clients that send their own key use it",
            f"export {provider.key_env}=...",
        )
    if status in (401, 403):
        return Check(name, "fail", f"key rejected ({status})", f"check {provider.key_env}")
    if status == 404:
        return Check(name, "fail", f"key accepted, but model {provider.model} not found", _model_fix(provider))
    if status != 200:
        return Check(name, "fail", f"answered {status} to a model lookup", _reach_fix(provider))
    return Check(name, "ok", f"reachable, key accepted, model {provider.model} found")


async def check_ollama(provider: OllamaProvider, http: aiohttp.ClientSession) -> Check:
    name = provider.name
    try:
        tags = await _listing(http, provider.health_url(), _Tags)
    except UNREACHABLE as exc:
        return Check(name, "fail", f"not running at {provider.base_url} ({_why(exc)})",
                     "start Ollama (ollama serve), or set FALLBACK_URL")
    if tags is None:
        return Check(name, "fail", f"{provider.base_url} does not answer like Ollama", "check FALLBACK_URL")
    names = {t.name for t in tags.models} | {t.model for t in tags.models}
    if provider.model not in names and f"{provider.model}:latest" not in names:
        return Check(name, "fail", f"running, but model {provider.model} is not pulled", f"ollama pull {provider.model}")
    length = await asyncio.to_thread(provider.model_context_length)
    window = f", trained on {length} tokens" if length else ""
    return Check(name, "ok", f"running, model {provider.model} pulled{window}")


async def check_local_server(provider: LocalOpenAIProvider, http: aiohttp.ClientSession) -> Check:
    name = provider.name
    try:
        listed = await _listing(http, provider.health_url(), _Models)
    except UNREACHABLE as exc:
        return Check(name, "fail", f"not running at {provider.base_url} ({_why(exc)})", "start the server, or fix LOCAL_URL")
    if listed is None:
        return Check(name, "fail", f"{provider.base_url}/models does not answer like an OpenAI-compatible server",
                     "LOCAL_URL is the server's base, e.g. http://127.0.0.1:8080/v1")
    ids = [m.id for m in listed.data]
    if provider.model and provider.model not in ids:
        return Check(name, "fail", f"running, but it serves {', '.join(ids) or 'no model'}, not {provider.model}",
                     "set LOCAL_MODEL to one of those")
    return Check(name, "ok", f"running at {provider.base_url}, model {provider.model or (ids[0] if ids else '?')}")


async def check_embedded(provider: EmbeddedProvider, http: aiohttp.ClientSession) -> Check:
    """Load the model and have it write one token: the only proof that it runs here."""
    name = provider.name
    started = time.perf_counter()
    body = {"model": provider.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    try:
        async with http.post(provider.endpoint(provider.model, False), json=body,
                             timeout=aiohttp.ClientTimeout(total=LOCAL_ANSWER_TIMEOUT)) as response:
            status, text = response.status, await response.text()
    except UNREACHABLE as exc:
        return Check(name, "fail", f"the embedded model did not answer ({_why(exc)})", "see trooper serve's log")
    if status != 200:
        return Check(name, "fail", f"the embedded model failed: {text[:200]}", "check LOCAL_MODEL_PATH is a GGUF chat model")
    seconds = time.perf_counter() - started
    return Check(name, "ok", f"{provider.model} answers ({seconds:.1f} s with loading), "
                             f"window {provider.context_window}, {provider.threads} thread{'s' if provider.threads > 1 else ''}")


def _judge_local_tier(providers: list[Provider], checks: list[Check]) -> list[Check]:
    """Ollama (or any local tier) being down is fine while another local tier answers:
    the chain falls over to it. Only no local tier at all is a failure."""
    local = [c for p, c in zip(providers, checks, strict=True) if p.local]
    working = [c.name for c in local if c.status == "ok"]
    if working:
        for check in local:
            if check.status == "fail":
                check.status = "warn"
                check.detail += f" (fine: {working[0]} answers instead)"
        tier = Check("local tier", "ok", f"{' → '.join(c.name for c in local)}; {working[0]} answers")
    elif local:
        tier = Check("local tier", "fail", "no local model answers: a cloud outage would end every session",
                     "pip install 'trooper-gateway[local]' (runs in-process), or start Ollama")
    else:
        tier = Check("local tier", "fail", "no local provider in the chain", "add one to [[providers]] with local = true")
    return [*checks, tier]


# --- store and port ---


async def check_store(store: Store) -> Check:
    shared = "://" in store.location
    try:
        await store.start()
    except Exception as exc:
        return Check("store", "fail", str(exc), "set TROOPER_DB to a writable file path")
    sessions = store.stats().sessions
    problem = store.problem()
    await store.close()
    if problem:  # Trooper still serves without it, buffering; the dashboard can't read
        return Check("store", "fail", problem,
                     "start that Redis, or set TROOPER_STORE to a reachable redis://host:port/db" if shared
                     else "set TROOPER_DB to a writable file path")
    if store.location == ":memory:":
        return Check("store", "warn", "in memory only: sessions are lost when Trooper stops",
                     "set TROOPER_DB (or HOME) to keep them")
    return Check("store", "ok", f"{store.location} ({sessions} session{'s' if sessions != 1 else ''})")


async def check_port(server: ServerSettings, http: aiohttp.ClientSession) -> Check:
    address = f"{server.bind}:{server.port}"
    family = socket.AF_INET6 if ":" in server.bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((server.bind, server.port))
            return Check("port", "ok", f"{address} is free")
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            error = exc.strerror or str(exc)
    if not in_use:
        return Check("port", "fail", f"cannot listen on {address}: {error}", "set --port or TROOPER_PORT, or TROOPER_BIND")
    host = "127.0.0.1" if server.bind in ("0.0.0.0", "::") else server.bind
    host = f"[{host}]" if ":" in host else host
    try:
        async with http.get(f"http://{host}:{server.port}/health", timeout=aiohttp.ClientTimeout(total=2)) as response:
            health = msgspec.json.decode(await response.read(), type=_Health)
    except (*UNREACHABLE, msgspec.DecodeError):
        health = None
    if health is not None and health.pipeline:
        return Check("port", "ok", f"{address} is in use by a running Trooper {health.version}")
    return Check("port", "fail", f"{address} is in use by another program", "trooper serve --port 3001 (or TROOPER_PORT)")


# --- helpers ---

UNREACHABLE = (aiohttp.ClientError, TimeoutError, OSError)
T = TypeVar("T")


async def _listing(http: aiohttp.ClientSession, url: str, shape: type[T]) -> T | None:
    """GET `url` decoded as `shape`; None when the answer is something else."""
    async with http.get(url) as response:
        if response.status != 200:
            return None
        try:
            return msgspec.json.decode(await response.read(), type=shape)
        except msgspec.DecodeError:
            return None


class _Tag(msgspec.Struct):
    name: str = ""
    model: str = ""


class _Tags(msgspec.Struct):
    models: list[_Tag] = []


class _Model(msgspec.Struct):
    id: str = ""


class _Models(msgspec.Struct):
    data: list[_Model] = []


class _Health(msgspec.Struct):
    version: str = ""
    pipeline: list[str] = []


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return "name not resolved: offline?"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"connection failed: {exc.os_error.strerror or exc.os_error}"
    return f"{type(exc).__name__}: {exc}"[:160]


_CLOUD_VARIABLES = {"anthropic": "CLAUDE", "gemini": "GEMINI", "openai": "OPENAI"}


def _reach_fix(provider: Provider) -> str:
    vendor = _CLOUD_VARIABLES.get(provider.kind)
    return f"check the network (or a proxy), or {vendor}_URL" if vendor else "check the network, or its url"


def _model_fix(provider: Provider) -> str:
    vendor = _CLOUD_VARIABLES.get(provider.kind)
    return f"set {vendor}_MODEL to a model your key can use" if vendor else "set the provider's model"
