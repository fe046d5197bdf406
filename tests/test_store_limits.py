"""Bounded storage and a store that never takes Trooper down: per-session caps on the
transcript and the request records counted in /metrics (the caps themselves, on both
stores: tests/test_store_contract.py), histories that keep diverging
stored once, a one-line start-up error naming the path and the fix for every unusable
store location (a real `trooper serve`), and a store that fails at run time logged and
survived."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import anthropic
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream, Text
from tests.redis_server import redis_server  # noqa: F401  (a fixture)
from tests.served import serve_env
from tests.test_serve_cli import free_port
from tests.test_store import Agent, conversation, rows, text
from trooper.config import StoreSettings
from trooper.store import EmbeddedStore, Observation
from trooper.store.sqlite import Database

# Root passes every permission check; without these capabilities it is held to the file modes.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []


async def test_histories_that_keep_diverging_are_stored_once(tmp_path: Path) -> None:
    store = EmbeddedStore(StoreSettings(path=str(tmp_path / "t.db")))
    await store.start()
    try:
        first, second = Agent(store, "shared"), Agent(store, "shared")
        second.ref = 10_000
        for n in range(1, 11):
            first.turn(f"Branch A turn {n}: plan the rollout.", f"A answer {n}.")
            second.turn(f"Branch B turn {n}: plan the rollback.", f"B answer {n}.")
        # Two histories alternating under one session id: 40 distinct messages, each stored once.
        await store.session("shared")  # every observation applied
        await store.flush()
        assert rows(store.location, "messages") == 40
        # An edited history resent as is, again and again: its new question is stored once (the
        # edited answer sits where Trooper's own answer was, which an SDK may re-render: not new).
        edited = conversation(text("user", "Branch A turn 1: plan the rollout."), text("assistant", "edited answer"),
                              text("user", "and then?"))
        for ref in range(20_000, 20_010):
            store.observe(Observation(ref, "shared", "request", 5000.0, edited))
        await store.session("shared")
        await store.flush()
        assert rows(store.location, "messages") == 41
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_the_caps_show_in_metrics(tmp_path: Path, claude: FakeUpstream, kind: str,
                                        request: pytest.FixtureRequest) -> None:
    claude.default = Text("Done.")
    pipeline = tmp_path / "caps.toml"
    pipeline.write_text("[store]\nmax_messages = 4\nmax_requests = 2\n")
    store = {"TROOPER_STORE": request.getfixturevalue("redis_server").url} if kind == "redis" else {}
    async with run_trooper(chain_env(claude=claude, TROOPER_DB=str(tmp_path / "t.db"), **store), pipeline) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        history: list[dict] = []
        for n in range(5):
            history.append({"role": "user", "content": f"Step {n}, please."})
            answer = await client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=history,
                                                  extra_headers={"x-session-id": "capped"})
            history.append({"role": "assistant", "content": answer.content[0].text})
        async with aiohttp.ClientSession() as http:
            async with http.get(trooper.url + "/sessions/capped") as response:
                detail = await response.json()
            async with http.get(trooper.url + "/metrics") as response:
                metrics = await response.text()
    assert [e["seq"] for e in detail["transcript"]] == [7, 8, 9, 10]
    assert [r["seq"] for r in detail["requests"]] == [4, 5]
    assert (detail["session"]["messages"], detail["session"]["requests"]) == (10, 5)
    assert 'trooper_store_trimmed_total{kind="messages"} 6' in metrics
    assert 'trooper_store_trimmed_total{kind="requests"} 3' in metrics


def _directory(tmp: Path) -> str:
    (tmp / "x.db").mkdir()
    return str(tmp / "x.db")


def _under_a_file(tmp: Path) -> str:
    (tmp / "plain").write_text("a file")
    return str(tmp / "plain" / "x.db")


def _shm_not_a_file(tmp: Path) -> str:
    (tmp / "x.db-shm").mkdir()
    return str(tmp / "x.db")


def _unwritable_directory(tmp: Path) -> str:
    (tmp / "locked").mkdir(mode=0o555)
    return str(tmp / "locked" / "sub" / "x.db")


def _unwritable_shm(tmp: Path) -> str:
    (tmp / "x.db-shm").write_bytes(b"")
    (tmp / "x.db-shm").chmod(0o444)  # SQLite would map it and die of SIGBUS
    return str(tmp / "x.db")


@pytest.mark.parametrize(("make", "says", "needs_modes"), [
    (_directory, "is a directory", False),
    (_under_a_file, "is a file, not a directory", False),
    (_shm_not_a_file, "x.db-shm file can't be written", False),
    (_unwritable_directory, "Permission denied", True),
    (_unwritable_shm, "x.db-shm file can't be written", True),
], ids=["directory", "parent-is-a-file", "shm-not-a-file", "unwritable-directory", "unwritable-shm"])
def test_every_unusable_store_is_one_line_naming_the_path_and_the_fix(tmp_path: Path, make, says: str,  # type: ignore[no-untyped-def]
                                                                      needs_modes: bool) -> None:
    prefix = UNPRIVILEGED if needs_modes else []
    if prefix and not shutil.which(prefix[0]):
        pytest.skip("running as root without setpriv: file modes can't be tested")
    path = make(tmp_path)
    env = serve_env(free_port(), **chain_env(TROOPER_DB=path), TROOPER_LOG_LEVEL="error")
    done = subprocess.run([*prefix, sys.executable, "-m", "trooper.cli", "serve"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("trooper: error: ") and says in line and "TROOPER_DB" in line, line
    assert path.rsplit("/", 1)[-1] in line or "x.db-shm" in line


async def test_a_store_that_fails_at_run_time_is_logged_and_survived(tmp_path: Path, claude: FakeUpstream,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    claude.default = Text("Still answering.")
    healthy_write = Database.write

    def broken_write(self: Database, batch: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Database, "write", broken_write)
    async with run_trooper(chain_env(claude=claude, TROOPER_DB=str(tmp_path / "t.db"))) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        for n in range(3):
            answer = await client.messages.create(model="claude-haiku-4-5", max_tokens=16, extra_headers={"x-session-id": "s"},
                                                  messages=[{"role": "user", "content": f"Question {n}?"}])
            assert answer.content[0].text == "Still answering."
        store = trooper.runtime.store
        await store.signals("s")  # every observation applied
        await store.flush()
        assert store.stats().write_errors >= 1
        monkeypatch.setattr(Database, "write", healthy_write)  # the disk comes back
        await store.flush()
        async with aiohttp.ClientSession() as http:
            async with http.get(trooper.url + "/sessions/s") as response:
                detail = await response.json()
    assert detail["session"]["requests"] == 3
    with sqlite3.connect(tmp_path / "t.db") as db:
        assert db.execute("SELECT count(*) FROM requests").fetchone()[0] == 3  # nothing lost once it could write
