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
from prometheus_client.parser import text_string_to_metric_families

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
    proc, url = await start_two_workers(claude, redis_server, tmp_path)
    try:
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
        await stop(proc)


async def test_metrics_add_up_over_workers(claude: FakeUpstream, redis_server: RedisServer, tmp_path: Path) -> None:
    """Whichever worker answers /metrics, the counters are every worker's together: a
    worker that served nothing still reports every request (Prometheus multiprocess files)."""
    requests = 12
    claude.script(*(Text(f"answer {n}") for n in range(requests)), Text("streamed answer"))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"a previous run's counts")  # cleared at start
    proc, url = await start_two_workers(claude, redis_server, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    try:
        body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Explain the plan"}]}
        headers = {"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
        for _ in range(requests):  # a new connection each: any worker may take it
            async with aiohttp.ClientSession() as http, http.post(f"{url}/v1/messages", json=body, headers=headers) as r:
                assert r.status == 200
        async with aiohttp.ClientSession() as http, \
                http.post(f"{url}/v1/messages", json={**body, "stream": True}, headers=headers) as r:
            assert r.status == 200 and b"message_stop" in await r.read()
        totals: dict[str, tuple[float, float]] = {}
        last: tuple[str, tuple[float, float]] | None = None
        for _ in range(300):  # until both workers have answered a scrape, after the last request is counted
            pid, figures = last = await scrape(url)
            if figures == (requests + 1, 1):
                totals[pid] = figures
            if len(totals) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await stop(proc)
    assert len(totals) == 2, f"both workers report every request: {totals}, last scrape {last}"


async def scrape(url: str) -> tuple[str, tuple[float, float]]:
    """(the answering worker's pid, (requests counted, streams timed to their first token))."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    pid = families["trooper_process_info"].samples[0].labels["pid"]
    served = sum(s.value for s in families["trooper_requests"].samples if s.name == "trooper_requests_total")
    timed = families.get("trooper_time_to_first_token_seconds")
    first_token = sum(s.value for s in timed.samples if s.name.endswith("_count")) if timed else 0
    return pid, (served, first_token)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it takes longer than 15 s."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def start_two_workers(claude: FakeUpstream, redis_server: RedisServer, tmp_path: Path,
                            **more: str) -> tuple[asyncio.subprocess.Process, str]:
    """`trooper serve --workers 2` on the Redis store, answering; its process and URL."""
    port = free_port()
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url, TROOPER_PORT=str(port),
                    PATH=os.environ.get("PATH", ""), HOME=str(tmp_path), PYTHONPATH=os.environ.get("PYTHONPATH", ""),
                    **more)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trooper.cli", "serve", "--workers", "2", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    await _wait_healthy(port, proc)
    return proc, f"http://127.0.0.1:{port}"


async def test_one_process_with_a_metrics_directory_starts_it_afresh(claude: FakeUpstream, tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR set for one process: a previous run's files are cleared, and
    /metrics reads this run's figures back from the directory."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_999999.db").write_bytes(b"a previous run's counts")
    claude.script(Text("hi"))
    port = free_port()
    env = chain_env(claude=claude, TROOPER_PORT=str(port), PATH=os.environ.get("PATH", ""), HOME=str(tmp_path),
                    PYTHONPATH=os.environ.get("PYTHONPATH", ""), PROMETHEUS_MULTIPROC_DIR=str(metrics))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "trooper.cli", "serve", env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await _wait_healthy(port, proc)
        url = f"http://127.0.0.1:{port}"
        await turn(url, [], "Explain the plan", "one-process")
        figures = (0.0, 0.0)
        for _ in range(100):  # the record is written just after the answer's last byte
            _, figures = await scrape(url)
            if figures[0] == 1:
                break
            await asyncio.sleep(0.02)
    finally:
        await stop(proc)
    assert figures == (1, 0)
    assert not (metrics / "counter_999999.db").exists()
