"""Two Trooper instances sharing one real Redis (TROOPER_STORE): one session and one
transcript whichever instance each turn goes through, live updates across instances,
and Redis going away mid-run without failing a request or duplicating a record."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import anthropic

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream, Text
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)
from tests.test_restart import TOOL, snapshot

TURNS = [
    ("I want to migrate the users table to Postgres 16.", "Plan ready. TODO: waiting on the DBA to approve the window."),
    ("The DBA approved the window.", "✅ Step 1 done: dumped the users table."),
    ("Go on.", "✅ Step 2 done: restored it on the new cluster."),
    ("And the indexes?", "✅ Step 3 done: rebuilt the indexes."),
]


async def turn(url: str, history: list[dict], said: str, session: str) -> None:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)
    history.append({"role": "user", "content": said})
    answer = await client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=history, tools=[TOOL],
                                          extra_headers={"x-session-id": session})
    history.append({"role": "assistant", "content": answer.content[0].text})


def script(fake: FakeUpstream) -> None:
    fake.script(*(Text(answer) for _, answer in TURNS))


async def test_turns_alternating_between_instances_make_one_session(claude: FakeUpstream, redis_server: RedisServer) -> None:
    script(claude)
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url)
    async with run_trooper(env) as a, run_trooper(env) as b:
        history: list[dict] = []
        for n, (said, _) in enumerate(TURNS):
            await turn((a, b)[n % 2].url, history, said, "agent-1")
        # The last answer's record is written just after the client has it: allow a moment.
        deadline = time.monotonic() + 3
        while True:
            seen_b = await snapshot(b.url)
            seen_a = await snapshot(a.url)
            done = seen_a["details"]["agent-1"]["session"]["requests"] == 4 and not seen_a["details"]["agent-1"]["session"]["in_flight"]
            if (done and seen_a == seen_b) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    assert seen_a == seen_b
    assert seen_a["listing"]["total"] == 1
    detail = seen_a["details"]["agent-1"]
    assert [e["role"] for e in detail["transcript"]] == ["user", "assistant"] * 4
    assert [e["seq"] for e in detail["transcript"]] == list(range(1, 9))
    assert [e["content"][0]["text"] for e in detail["transcript"][::2]] == [said for said, _ in TURNS]
    assert [r["seq"] for r in detail["requests"]] == [1, 2, 3, 4]
    assert detail["session"]["requests"] == 4 and detail["session"]["in_flight"] == 0
    assert detail["signals"]["completed_steps"] == [
        "✅ Step 1 done: dumped the users table", "✅ Step 2 done: restored it on the new cluster",
        "✅ Step 3 done: rebuilt the indexes"]


async def test_a_capped_session_alternating_between_instances_keeps_its_newest(
        claude: FakeUpstream, redis_server: RedisServer, tmp_path: Path) -> None:
    """[store] caps with Redis: each instance drops what its writes push past them, and
    /sessions/{id} and /recovery answer the same on both, with the counts still true."""
    script(claude)
    pipeline = tmp_path / "caps.toml"
    pipeline.write_text("[store]\nmax_messages = 5\nmax_requests = 2\n")
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url)
    async with run_trooper(env, pipeline) as a, run_trooper(env, pipeline) as b:
        history: list[dict] = []
        for n, (said, _) in enumerate(TURNS):
            await turn((a, b)[n % 2].url, history, said, "capped")
        deadline = time.monotonic() + 3
        while True:
            seen_a, seen_b = await snapshot(a.url), await snapshot(b.url)
            summary = seen_a["details"]["capped"]["session"]
            if (summary["requests"] == 4 and not summary["in_flight"] and seen_a == seen_b) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            resume = [await (await http.get(f"{t.url}/recovery/capped")).json() for t in (a, b)]
        trimmed = [a.runtime.store.stats(), b.runtime.store.stats()]
    assert seen_a == seen_b
    detail = seen_a["details"]["capped"]
    assert [e["seq"] for e in detail["transcript"]] == [4, 5, 6, 7, 8]
    assert [e["content"][0]["text"] for e in detail["transcript"]][-2:] == [TURNS[3][0], TURNS[3][1]]
    assert [r["seq"] for r in detail["requests"]] == [3, 4]
    assert (detail["session"]["messages"], detail["session"]["requests"], detail["session"]["in_flight"]) == (8, 4, 0)
    assert resume[0] == resume[1] and resume[0]["completed_steps"][-1] == "✅ Step 3 done: rebuilt the indexes"
    assert sum(t.trimmed_messages for t in trimmed) == 3 and sum(t.trimmed_requests for t in trimmed) == 2


async def test_an_events_subscriber_on_b_sees_a_turn_through_a_within_a_second(
        claude: FakeUpstream, redis_server: RedisServer) -> None:
    script(claude)
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url)
    async with run_trooper(env) as a, run_trooper(env) as b, aiohttp.ClientSession() as http:
        async with http.get(b.url + "/events") as events:
            assert (await events.content.readuntil(b"\n\n")).startswith(b"retry:")
            started = time.monotonic()
            asked = asyncio.create_task(turn(a.url, [], TURNS[0][0], "watched"))
            chunk = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 1.0)
            seen = time.monotonic() - started
            await asked
    assert chunk.startswith(b"event: session\n") and b'"id":"watched"' in chunk
    assert seen < 1.0


async def test_redis_down_mid_run_requests_flow_and_records_arrive_once(
        claude: FakeUpstream, redis_server: RedisServer) -> None:
    script(claude)
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url)
    async with run_trooper(env) as a:
        history: list[dict] = []
        for said, _ in TURNS[:2]:
            await turn(a.url, history, said, "agent-1")
        assert (await snapshot(a.url))["listing"]["total"] == 1  # written
        redis_server.save()
        redis_server.stop()
        for said, _ in TURNS[2:]:  # Redis is gone: the requests still succeed
            await turn(a.url, history, said, "agent-1")
        store = a.runtime.store
        assert store.stats().queued == 4  # two requests, two observations each
        async with aiohttp.ClientSession() as http:  # reads can't be served: a clear 503, never a 500
            async with http.get(f"{a.url}/sessions") as listing:
                refusal = await listing.json()
                assert listing.status == 503 and listing.headers["retry-after"] == "5"
        assert "unreachable" in refusal["error"]["message"] and "buffered" in refusal["error"]["message"]
        redis_server.start()  # the same port, the data saved before it went away
        deadline = time.monotonic() + 15
        while store.stats().queued and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert store.stats().queued == 0 and store.stats().dropped == 0
        detail = (await snapshot(a.url))["details"]["agent-1"]
    assert [r["seq"] for r in detail["requests"]] == [1, 2, 3, 4]
    assert [e["seq"] for e in detail["transcript"]] == list(range(1, 9))
    texts = [e["content"][0]["text"] for e in detail["transcript"]]
    assert texts == [t for pair in TURNS for t in pair]  # every turn, once
    assert detail["session"]["requests"] == 4 and detail["session"]["in_flight"] == 0


async def test_a_provider_failing_three_times_through_a_is_skipped_by_b(
        claude: FakeUpstream, ollama: FakeUpstream, redis_server: RedisServer) -> None:
    from tests.conftest import FakeClock
    from tests.fakes.upstream import Error
    from tests.test_failover import ask_whole

    claude.script(Error(529), Error(529), Error(529))
    ollama.script(*[Text("local") for _ in range(8)])
    env = chain_env(claude=claude, ollama=ollama, TROOPER_STORE=redis_server.url)
    clock_a, clock_b = FakeClock(), FakeClock()
    async with run_trooper(env, clock=clock_a) as a, run_trooper(env, clock=clock_b) as b:
        for _ in range(3):
            await ask_whole(a.url)
        assert a.runtime.health["claude"].state == "open"
        breaker_b = b.runtime.health["claude"]
        for _ in range(100):  # B hears it through Redis, off its request path
            if breaker_b.state == "open":
                break
            await asyncio.sleep(0.01)
        _, headers = await ask_whole(b.url)
        assert len(claude.generation_requests()) == 3  # B skipped claude with no round trip
        assert headers["x-trooper-decision"] == "ollama (fallback: circuit_open)"

        # Cool-down over on both: exactly one instance gets to probe.
        clock_a.advance(61)
        clock_b.advance(61)
        await ask_whole(a.url)
        await ask_whole(b.url)
        await asyncio.sleep(0.3)
        probers = [t for t in (a, b) if t.runtime.health["claude"].may_probe]
        assert len(probers) == 1
        assert len(claude.generation_requests()) == 3
        claude.script(Text("claude is back"))
        message, headers = await ask_whole(probers[0].url)
        assert headers["x-trooper-provider"] == "claude"
        other = b if probers[0] is a else a
        for _ in range(100):
            if other.runtime.health["claude"].state == "closed":
                break
            await asyncio.sleep(0.01)
        assert other.runtime.health["claude"].state == "closed"


async def test_session_savings_are_one_total_across_instances(
        claude: FakeUpstream, ollama: FakeUpstream, redis_server: RedisServer) -> None:
    """A simple turn answered locally through A, then the same through B: B's
    X-Trooper-Session-Saved counts both."""
    ollama.default = Text("7 days.")
    env = chain_env(claude=claude, ollama=ollama, TROOPER_STORE=redis_server.url)
    said = [{"role": "user", "content": "how many days in a week"}]
    async with run_trooper(env) as a, run_trooper(env) as b:
        saved = []
        for instance in (a, b):
            sdk = anthropic.AsyncAnthropic(base_url=instance.url, api_key="k", max_retries=0,
                                           default_headers={"X-Session-ID": "shared-savings"})
            reply = await sdk.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=50, messages=said)
            assert reply.headers["x-trooper-provider"] == "ollama"
            saved.append(int(reply.headers["x-trooper-session-saved"].split()[0]))
            deadline = time.monotonic() + 5  # A's write reaches B (pub/sub) off the request path
            while b.runtime.store.saved("shared-savings") < saved[-1] and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
    assert saved[0] > 0 and saved[1] == 2 * saved[0]
