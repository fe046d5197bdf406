"""Sessions with zero instrumentation, end to end: the official SDKs talk to a real
Trooper with fake upstreams, and the admin endpoints show what happened: sessions,
their transcript and requests, recovery, the live event stream, Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import anthropic
import openai
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text

# Agents send tools, and a request with tools is never a "simple turn" for the local model.
TOOL = {"name": "bash", "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}
OPENAI_TOOL = {"type": "function", "function": {"name": TOOL["name"], "description": TOOL["description"],
                                                "parameters": TOOL["input_schema"]}}


def env_with_db(tmp_path: Path, **fakes: FakeUpstream) -> dict[str, str]:
    return chain_env(**fakes, TROOPER_DB=str(tmp_path / "trooper.db"))


async def get_json(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_an_sdk_holding_a_ten_turn_conversation_is_one_session(
    tmp_path: Path, openai_fake: FakeUpstream, ollama: FakeUpstream
) -> None:
    openai_fake.script(*(Text(f"Completed step {n}: part {n} of the report is written.") for n in range(1, 11)))
    async with run_trooper(env_with_db(tmp_path, openai=openai_fake, ollama=ollama)) as trooper:
        client = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key="client-key", max_retries=0)
        history = [{"role": "system", "content": "You are a report-writing agent."},
                   {"role": "user", "content": "I want to write the quarterly report in ten parts."}]
        session_ids = set()
        for turn in range(1, 11):
            raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=history,
                                                                         tools=[OPENAI_TOOL])
            session_ids.add(raw.headers["x-trooper-session"])
            history.append({"role": "assistant", "content": raw.parse().choices[0].message.content})
            history.append({"role": "user", "content": f"Good, go on with part {turn + 1}."})
        status, listing = await get_json(trooper.url + "/sessions")
        assert status == 200
        assert listing["total"] == 1 and len(session_ids) == 1
        summary = listing["sessions"][0]
        assert summary["id"] == session_ids.pop()
        assert (summary["requests"], summary["messages"], summary["providers"]) == (10, 20, ["openai"])
        assert summary["intent"] == "write the quarterly report in ten parts"
        status, detail = await get_json(f"{trooper.url}/sessions/{summary['id']}")
        assert status == 200
        assert detail["system"] == "You are a report-writing agent."
        assert [e["seq"] for e in detail["transcript"]] == list(range(1, 21))
        assert all(e["provider"] == "openai" for e in detail["transcript"] if e["role"] == "assistant")
        assert [r["seq"] for r in detail["requests"]] == list(range(1, 11))
        status, recovery = await get_json(f"{trooper.url}/recovery/{summary['id']}")
        assert recovery == {
            "session_id": summary["id"],
            "completed_steps": [f"Completed step {n}: part {n} of the report is written" for n in range(1, 11)],
            "resume_from": 11,
            "recovery_hint": "Resume from step 11",
        }


async def test_streams_fallbacks_and_the_provider_of_each_turn(
    tmp_path: Path, claude: FakeUpstream, ollama: FakeUpstream
) -> None:
    claude.script(Text("Plan: dump, then restore. TODO: waiting on the DBA to approve the window."),
                  Error(429, headers={"retry-after": "0"}), Error(429, headers={"retry-after": "0"}))
    ollama.script(Text("✅ Step 1 done: dumped the users table.", chunks=4))
    async with run_trooper(env_with_db(tmp_path, claude=claude, ollama=ollama)) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        history = [{"role": "user", "content": "I want to migrate the users table to Postgres 16."}]
        first = await client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=history, tools=[TOOL])
        history += [{"role": "assistant", "content": first.content[0].text},
                    {"role": "user", "content": "The DBA approved the window. Go ahead."}]
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=history,
                                          tools=[TOOL]) as stream:
            await stream.get_final_message()
            session = stream.response.headers["x-trooper-session"]
        status, detail = await get_json(f"{trooper.url}/sessions/{session}")
    assert status == 200
    assert [(e["role"], e.get("provider", "")) for e in detail["transcript"]] == [
        ("user", ""), ("assistant", "claude"), ("user", ""), ("assistant", "ollama")]
    first_request, second_request = detail["requests"]
    assert (first_request["provider"], first_request["stream"], first_request["fallbacks"]) == ("claude", False, [])
    assert second_request["stream"] is True and second_request["fallbacks"] == [["claude", "rate_limit"]]
    assert second_request["decision"] == "ollama (fallback: rate_limit)"
    assert [a[0] for a in second_request["attempts"]][-1] == "ollama"
    assert second_request["tokens_saved"] > 0
    signals = detail["signals"]
    assert signals["open_loops"] == [] and signals["completed_steps"] == ["✅ Step 1 done: dumped the users table"]
    assert detail["session"]["providers"] == ["claude", "ollama"] and detail["session"]["fallbacks"] == 1


async def test_events_stream_session_updates_live(tmp_path: Path, claude: FakeUpstream) -> None:
    claude.script(Text("TODO: still need to write the migration."))
    async with run_trooper(env_with_db(tmp_path, claude=claude)) as trooper, aiohttp.ClientSession() as http:
        async with http.get(trooper.url + "/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
            ask = asyncio.create_task(client.messages.create(
                model="claude-haiku-4-5", max_tokens=64, extra_headers={"x-session-id": "agent-7"}, tools=[TOOL],
                messages=[{"role": "user", "content": "Please add the users table migration."}]))
            updates = []
            while len(updates) < 2:
                line = (await asyncio.wait_for(events.content.readline(), 10)).decode()
                if line.startswith("data: "):
                    updates.append(json.loads(line[6:]))
            await ask
    request, answer = updates
    assert request["session"]["id"] == "agent-7" and request["session"]["in_flight"] == 1
    assert request["entries"][0]["content"] == [{"type": "text", "text": "Please add the users table migration."}]
    assert answer["session"]["in_flight"] == 0 and answer["request"]["provider"] == "claude"
    assert answer["signals"]["open_loops"] == ["TODO: still need to write the migration"]


async def test_metrics_parse_as_prometheus_text(tmp_path: Path, claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Text("hi"), Error(529), Error(529))
    ollama.script(Text("local hi"), Text("streamed from the local model"))
    async with run_trooper(env_with_db(tmp_path, claude=claude, ollama=ollama)) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        for _ in range(2):
            await client.messages.create(model="claude-haiku-4-5", max_tokens=16, tools=[TOOL],
                                         messages=[{"role": "user", "content": "Explain why the sky is blue."}])
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=16, tools=[TOOL],
                                          messages=[{"role": "user", "content": "And why is it red at dusk?"}]) as stream:
            await stream.get_final_message()
        await asyncio.sleep(0.05)  # the record is written once the stream's last byte is out
        async with aiohttp.ClientSession() as http, http.get(trooper.url + "/metrics") as response:
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("trooper_requests_total", (("decision", "direct"), ("provider", "claude"), ("status", "200")))] == 1
    assert samples[("trooper_requests_total", (("decision", "fallback"), ("provider", "ollama"), ("status", "200")))] == 2
    assert samples[("trooper_fallbacks_total", (("provider", "claude"), ("reason", "overloaded")))] == 2
    assert samples[("trooper_request_duration_seconds_count", (("provider", "claude"),))] == 1
    # Only the streamed answer is timed to its first token, under the provider that started it.
    assert samples[("trooper_time_to_first_token_seconds_count", (("provider", "ollama"),))] == 1
    assert ("trooper_time_to_first_token_seconds_count", (("provider", "claude"),)) not in samples
    assert families["trooper_time_to_first_token_seconds"].type == "histogram"
    assert samples[("trooper_circuit_state", (("provider", "claude"), ("state", "closed")))] == 1
    assert samples[("trooper_tokens_saved_total", ())] > 0
    assert samples[("trooper_sessions", ())] == 2  # the stream began a conversation of its own
    assert families["trooper_request_duration_seconds"].type == "histogram"
    assert all(families[name].type == "counter" for name in ("trooper_requests", "trooper_fallbacks", "trooper_tokens_saved"))


async def test_unknown_sessions_and_bad_queries_say_what_is_wrong(tmp_path: Path) -> None:
    async with run_trooper(env_with_db(tmp_path)) as trooper:
        assert (await get_json(trooper.url + "/sessions/nope"))[0] == 404
        status, body = await get_json(trooper.url + "/recovery/nope")
        assert status == 404 and body["error"]["message"] == "no session 'nope'"
        status, body = await get_json(trooper.url + "/sessions?limit=0")
        assert status == 400 and "limit" in body["error"]["message"]
        assert await get_json(trooper.url + "/sessions") == (200, {"sessions": [], "total": 0, "limit": 100, "offset": 0})


async def test_the_readme_recovery_example(tmp_path: Path, claude: FakeUpstream) -> None:
    """A labelled agent transcript (conv_01: a JWT migration in numbered PRs) sent through
    Trooper as its agent's latest request; /recovery answers as the README shows."""
    transcript = json.loads((Path(__file__).parent / "data" / "agent_conversations" / "conv_01.json").read_text())
    claude.script(Text("On it: starting the refresh endpoint."))
    body = {"model": "claude-haiku-4-5", "max_tokens": 256, "system": transcript["system"],
            "tools": transcript["tools"], "messages": transcript["messages"]}
    async with run_trooper(env_with_db(tmp_path, claude=claude)) as trooper, aiohttp.ClientSession() as http:
        headers = {"x-session-id": "my-agent-session-1", "anthropic-version": "2023-06-01"}
        async with http.post(trooper.url + "/v1/messages", json=body, headers=headers) as response:
            assert response.status == 200
        status, recovery = await get_json(trooper.url + "/recovery/my-agent-session-1")
    assert status == 200
    assert recovery == {
        "session_id": "my-agent-session-1",
        "completed_steps": [
            "step 1: PR #1 – token service: issue and verify signed JWTs, behind an `AUTH_JWT_ENABLED` flag, no behaviour change — Completed PR #1: the token service is up for review as #431; PyJWT is already installed as a transitive dependency; I'll…",
            "step 2: PR #2 – middleware: accept `Authorization: Bearer` tokens in `load_user`, falling back to the session cookie — That failure is in `test_login_rate_limit`, which my change doesn't touch; The limiter uses a one-minute window keyed…",
            "step 3: PR #3 – `POST /auth/token` login endpoint for the mobile app — Completed PR #3 (#436): mobile clients can log in with `POST /auth/token` and call the API with the bearer token; I forgot to define the constant and import the token…",
            "created branch jwt/token-service: Creating the branch and the token service",
            "wrote tokens.py (tally/auth/tokens.py): Creating the branch and the token service",
            "wrote test_tokens.py and requirements.txt (tests/auth/test_tokens.py, requirements.txt): Now the tests for the token service — 78 tests pass",
            "opened PR #431 JWT token service behind AUTH_JWT_ENABLED (1/6): Opening the PR — Completed PR #1: the token service is up for review as #431; Nothing in the request path changed",
            "created branch jwt/middleware: Starting PR #2 from the first branch so it stacks cleanly",
            "edited middleware.py (tally/auth/middleware.py) — Adding the helper and the config",
            "edited config.py (tally/config.py): Adding the helper and the config",
            "Opened https://github.com/tally/tally-api/pull/433: The rest of the suite is green, so opening PR #2 — Completed PR #2 (#433); Cookie-only requests are untouched, so existing clients keep working",
            "edited views.py (tally/auth/views.py): Adding the endpoint next to the cookie login, sharing the same rate limit",
            "wrote test_token_endpoint.py (tests/auth/test_token_endpoint.py): Re-running, with new tests for the token endpoint — 83 tests pass — 83 passed",
            "opened PR #436 POST /auth/token for the mobile app (3/6): Opening PR #3 — Completed PR #3 (#436): mobile clients can log in with `POST /auth/token` and call the API with the bearer token",
            "edited test_rate_limit.py (tests/auth/test_rate_limit.py): Adding a fixed clock to the test — Fixed the flaky test_login_rate_limit — 30 out of 30 passes; I pushed it as a small separate PR so it can merge right away",
            "opened PR #437 Freeze the clock in test_login_rate_limit — Done: #437 is up",
            "created branch jwt/refresh: sketch the refresh token table first",
            "wrote the migration and the model — created alembic revision refresh tokens table: Generating a migration for a `refresh_tokens` table (hashed token, user, expiry, revoked_at)",
            "wrote e4f2b9c1_refresh_tokens_table.py (alembic/versions/e4f2b9c1_refresh_tokens_table.py): Writing the migration",
            "migrated alembic head and downgraded alembic: Applying it to the local test database to check it runs both ways — The migration applies and reverts cleanly",
            "wrote refresh_token.py (models/refresh_token.py): Now the model — Quick test run to make sure nothing imports it wrongly — 83 tests pass"
        ],
        "resume_from": 4,
        "recovery_hint": "Resume from step 4"
    }


async def test_event_streams_end_when_the_server_starts_stopping(tmp_path: Path) -> None:
    async with run_trooper(env_with_db(tmp_path)) as trooper, aiohttp.ClientSession() as http:
        async with http.get(trooper.url + "/events") as events:
            assert (await events.content.readline()).startswith(b"retry:")
            trooper.app.stopping()
            rest = await asyncio.wait_for(events.content.read(), 5)  # the stream ends, it isn't held open
    assert b"data:" not in rest
