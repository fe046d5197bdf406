"""Shared fixtures: fake upstreams (real HTTP servers on loopback) and a real Trooper
server (hypercorn on a loopback socket) built from a given environment and pipeline."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.fakes.upstream import FakeUpstream
from trooper import logs
from trooper.app import TrooperApp
from trooper.config import load
from trooper.pipeline import build_stages
from trooper.runtime import Runtime

logs.configure("console", "warning", cache=False)


class TrooperServer:
    def __init__(self, app: TrooperApp, url: str, runtime: Runtime) -> None:
        self.app = app
        self.url = url
        self.runtime = runtime

    def stage(self, name: str):  # type: ignore[no-untyped-def]
        return next(s for s in self.app.stages if s.name == name)


class FakeClock:
    """A monotonic clock the test moves by hand (circuit breakers read it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def run_trooper(
    env: Mapping[str, str], pipeline: str | Path | None = None, clock: Callable[[], float] | None = None
) -> AsyncIterator[TrooperServer]:
    """A Trooper listening on a free loopback port, configured from `env` only (never
    the developer's real environment) and optionally a pipeline.toml."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    settings = load(pipeline, env=dict(env), port=port)
    runtime = Runtime(settings, env=dict(env), clock=clock or time.monotonic)
    app = TrooperApp(runtime, build_stages(settings.stages, settings.stage_options, runtime))

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket from here
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    stop = asyncio.Event()
    async def stop_requested() -> None:
        await stop.wait()
        app.stopping()

    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop_requested))  # type: ignore[arg-type]
    try:
        await _wait_listening(port)
        yield TrooperServer(app, f"http://127.0.0.1:{port}", runtime)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("trooper did not start listening")


CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there


def chain_env(claude: FakeUpstream | None = None, openai: FakeUpstream | None = None,
              ollama: FakeUpstream | None = None, gemini: FakeUpstream | None = None, **more: str) -> dict[str, str]:
    """Env vars for a Claude → Gemini → OpenAI → Ollama chain pointed at fakes. A provider
    without a fake points at a closed loopback port: tests never reach for the internet.
    The embedded model stays out unless a test asks for it (LOCAL_EMBEDDED="auto")."""
    env: dict[str, str] = {"CLAUDE_URL": CLOSED, "GEMINI_URL": CLOSED, "OPENAI_URL": CLOSED + "/v1", "LOCAL_EMBEDDED": "off"}
    if claude is not None:
        env |= {"CLAUDE_URL": claude.url, "CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789"}
    if gemini is not None:
        env |= {"GEMINI_URL": gemini.url, "GEMINI_API_KEY": "AIza-test-gemini-key-0123456789"}
    if openai is not None:
        env |= {"OPENAI_URL": openai.url + "/v1", "OPENAI_API_KEY": "sk-test-openai-key-0123456789abcdef"}
    env["FALLBACK_URL"] = (ollama.url if ollama is not None else CLOSED) + "/api/chat"
    return env | dict(more)


@pytest.fixture
async def claude() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
async def ollama() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake
