"""Sessions survive a restart: a clean stop, and a SIGKILL of a real `trooper serve`
(a crash loses at most the last second, and never corrupts the file)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import anthropic

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream, Text
from tests.test_serve_cli import _wait_healthy, free_port

TOOL = {"name": "psql", "description": "Run SQL.", "input_schema": {"type": "object", "properties": {}}}
TURNS = [
    ("I want to migrate the users table to Postgres 16.", "Plan ready. TODO: waiting on the DBA to approve the window."),
    ("The DBA approved the window.", "✅ Step 1 done: dumped the users table."),
    ("Go on.", "✅ Step 2 done: restored it on the new cluster."),
]


async def converse(url: str, session: str | None = None) -> None:
    """An agent holding a conversation through Trooper, resending its history each turn."""
    client = anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)
    headers = {"x-session-id": session} if session else {}
    history: list[dict] = []
    for said, _ in TURNS:
        history.append({"role": "user", "content": said})
        answer = await client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=history,
                                              tools=[TOOL], extra_headers=headers)
        history.append({"role": "assistant", "content": answer.content[0].text})


async def snapshot(url: str) -> dict:
    """Every session, with its full detail (in_flight is about the live process only)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/sessions") as response:
            listing = await response.json()
        details = {}
        for summary in listing["sessions"]:
            async with http.get(f"{url}/sessions/{summary['id']}") as response:
                details[summary["id"]] = await response.json()
    return {"listing": listing, "details": details}


def script(fake: FakeUpstream, times: int = 1) -> None:
    fake.script(*(Text(answer) for _ in range(times) for _, answer in TURNS))


async def test_a_clean_restart_shows_every_session_as_it_was(tmp_path: Path, claude: FakeUpstream) -> None:
    script(claude, times=2)
    env = chain_env(claude=claude, TROOPER_DB=str(tmp_path / "trooper.db"))
    async with run_trooper(env) as trooper:
        await converse(trooper.url)
        await converse(trooper.url, session="named-agent")
        before = await snapshot(trooper.url)
    async with run_trooper(env) as trooper:
        after = await snapshot(trooper.url)
    assert before["listing"]["total"] == 2
    assert after == before
    signals = after["details"]["named-agent"]["signals"]
    assert signals["completed_steps"] == ["✅ Step 1 done: dumped the users table", "✅ Step 2 done: restored it on the new cluster"]
    assert signals["resume_from"] == 3 and signals["open_loops"] == []


async def start_serve(port: int, env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trooper.cli", "serve", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    await _wait_healthy(port, proc)
    return proc


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


async def test_sigkill_loses_nothing_older_than_a_second_and_never_corrupts(tmp_path: Path, claude: FakeUpstream) -> None:
    claude.default = Text("Working on it. Still need to check the replicas.")
    script(claude, times=2)
    port = free_port()
    db = tmp_path / "trooper.db"
    env = {"PATH": os.environ.get("PATH", ""), "TROOPER_PORT": str(port), "TROOPER_DB": str(db),
           "TROOPER_LOG_LEVEL": "warning", **chain_env(claude=claude)}
    if "PYTHONPATH" in os.environ:  # run the code under test, wherever it is imported from
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    url = f"http://127.0.0.1:{port}"

    proc = await start_serve(port, env)
    try:
        await converse(url)
        await converse(url, session="named-agent")
        before = await snapshot(url)
        await asyncio.sleep(1.2)  # past the flush interval: all of it is on disk
    finally:
        await kill(proc)
    assert integrity(db) == "ok"

    proc = await start_serve(port, env)
    try:
        assert await snapshot(url) == before
        # Kill it again in the middle of traffic: the file stays sound and starts again.
        traffic = [asyncio.create_task(converse(url, session=f"busy-{n}")) for n in range(4)]
        await asyncio.sleep(0.3)
    finally:
        await kill(proc)
    await asyncio.gather(*traffic, return_exceptions=True)
    assert integrity(db) == "ok"

    proc = await start_serve(port, env)
    try:
        after = await snapshot(url)
    finally:
        proc.terminate()
        await proc.wait()
    assert {"named-agent", before["listing"]["sessions"][1]["id"]} <= set(after["details"])
    assert after["details"]["named-agent"] == before["details"]["named-agent"]
