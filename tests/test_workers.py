"""`trooper serve --workers N`: refused without the shared store (several processes must
not share one SQLite file); with Redis, N processes behave as one Trooper."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import chain_env
from tests.fakes.upstream import FakeUpstream, Text
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)
from tests.test_redis_e2e import TURNS, turn
from tests.test_serve_cli import _wait_healthy, free_port


def test_more_than_one_worker_without_redis_is_refused_pointing_at_redis(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TROOPER_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "trooper.cli", "serve", "--workers", "2"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "TROOPER_STORE=redis://" in done.stderr and "SQLite" in done.stderr


async def test_two_workers_with_redis_are_one_trooper(claude: FakeUpstream, redis_server: RedisServer,
                                                      tmp_path: Path) -> None:
    claude.script(*(Text(answer) for _, answer in TURNS))
    port = free_port()
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url, TROOPER_PORT=str(port),
                    PATH=os.environ.get("PATH", ""), HOME=str(tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trooper.cli", "serve", "--workers", "2", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _wait_healthy(port, proc)
        url = f"http://127.0.0.1:{port}"
        history: list[dict] = []
        for said, _ in TURNS:
            await turn(url, history, said, "agent-w")
        async with aiohttp.ClientSession() as http:
            for _ in range(60):
                async with http.get(f"{url}/sessions/agent-w") as response:
                    detail = await response.json() if response.status == 200 else {}
                if detail and detail["session"]["requests"] == 4 and not detail["session"]["in_flight"]:
                    break
                await asyncio.sleep(0.05)
        assert [e["seq"] for e in detail["transcript"]] == list(range(1, 9))
        assert [r["seq"] for r in detail["requests"]] == [1, 2, 3, 4]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
