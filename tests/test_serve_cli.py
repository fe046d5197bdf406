"""The real `trooper serve` command, as a user starts it, with curl as the client:
a fake Claude answering 429 is answered by the fake Ollama, and the headers say so."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.upstream import Error, FakeUpstream, Text

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_trooper_serve_falls_back_on_429(claude: FakeUpstream, ollama: FakeUpstream, log_format: str) -> None:
    port = free_port()
    env = {
        "TROOPER_LOG_FORMAT": log_format,
        "PATH": os.environ.get("PATH", ""),
        "CLAUDE_API_KEY": "sk-ant-secret-key-do-not-log-1234567890",
        "CLAUDE_URL": claude.url,
        "FALLBACK_URL": ollama.url + "/api/chat",
        "TROOPER_PORT": str(port),
    }
    claude.script(Error(429, headers={"retry-after": "30"}))
    ollama.script(Text("Hello from the local model"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trooper.cli", "serve", "--pipeline", str(ROOT / "pipeline.toml"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _wait_healthy(port, proc)
        body = ('{"model": "claude-haiku-4-5", "max_tokens": 64, '
                '"messages": [{"role": "user", "content": "Why does my deploy keep failing?"}]}')
        status, headers, text = await _post(port, body)
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert status == 200, text
    assert "Hello from the local model" in text
    assert headers["x-trooper-provider"] == "ollama"
    assert headers["x-trooper-fallback-count"] == "1"
    assert headers["x-trooper-decision"] == "ollama (fallback: rate_limit)"
    assert headers["x-trooper-summary"] == "claude → ollama (rate_limit) | context ✓"
    log = stderr.decode()
    assert "request" in log and "provider_failed" in log
    assert "sk-ant-secret" not in log  # keys never reach a log line
    if log_format == "json":
        events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        request = next(e for e in events if e["event"] == "request")
        assert request["provider"] == "ollama" and request["status"] == 200 and request["fallbacks"] == 1
        assert request["session"].startswith("auto-") and request["ms"] > 0
    assert proc.returncode == 0  # SIGTERM is a clean shutdown


async def _wait_healthy(port: int, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            if proc.returncode is not None:
                said = (await proc.stderr.read()).decode() if proc.stderr is not None else f"exit code {proc.returncode}"
                raise AssertionError(f"trooper exited: {said}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("trooper did not become healthy")


async def _post(port: int, body: str) -> tuple[int, dict[str, str], str]:
    """curl when it is installed (as the README shows), else aiohttp."""
    url = f"http://127.0.0.1:{port}/v1/messages"
    if shutil.which("curl"):
        proc = await asyncio.create_subprocess_exec(
            "curl", "-s", "-i", url, "-H", "Content-Type: application/json", "-d", body,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        head, _, text = out.decode().partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return status, headers, text
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body, headers={"content-type": "application/json"}) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.text()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
