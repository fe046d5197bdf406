"""Failover that never drops a session: the status table, retries, each timeout kind,
mid-stream faults continued on the next provider, the circuit breaker, auto-recovery,
client disconnects and a concurrency storm — with the official SDKs as clients."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest
from structlog.testing import capture_logs

from tests.conftest import FakeClock, chain_env, run_trooper
from tests.fakes.upstream import (
    Drip,
    Error,
    ErrorMidStream,
    FakeUpstream,
    PingThen,
    ResetAfter,
    Stall,
    StallMidStream,
    Text,
    ToolCall,
)

ASK = [{"role": "user", "content": "Tell me about the Bluebird project."}]
LONG = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo Lima"

FAST = """
[stages.failover]
retry_default = 0.05
timeouts = { connect = 2, first_byte = 0.5, idle = 0.5, total = 3 }
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(FAST)
    return path


def pipeline_with(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "pipeline-extra.toml"
    path.write_text(FAST + extra)
    return path


def claude_sdk(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)


def openai_sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


async def ask_whole(url: str) -> tuple[anthropic.types.Message, dict[str, str]]:
    raw = await claude_sdk(url).messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK)
    return await raw.parse(), dict(raw.headers)


async def ask_stream(url: str) -> tuple[anthropic.types.Message, dict[str, str]]:
    async with claude_sdk(url).messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=ASK) as stream:
        message = await stream.get_final_message()
        return message, dict(stream.response.headers)


async def stream_bytes(fake_behaviour, path: str = "/v1/messages", body: dict | None = None) -> bytes:  # type: ignore[no-untyped-def]
    """The exact bytes a fake sends for a behaviour, to find where to cut them."""
    async with FakeUpstream() as fake, aiohttp.ClientSession() as http:
        fake.script(fake_behaviour)
        body = body or {"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True, "messages": ASK}
        async with http.post(fake.url + path, json=body, headers={"anthropic-version": "2023-06-01"}) as resp:
            return await resp.read()


# --- the status table ---


async def test_429_is_retried_once_after_retry_after(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(Error(429, headers={"retry-after": "0"}), Text("second time lucky"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_whole(trooper.url)
    assert message.content[0].text == "second time lucky"
    assert len(claude.generation_requests()) == 2
    assert headers["x-trooper-provider"] == "claude"
    assert headers["x-trooper-fallback-count"] == "0"
    assert ollama.requests == []


async def test_429_asking_longer_than_the_cap_falls_over_at_once(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(Error(429, headers={"retry-after": "120"}))
    ollama.script(Text("local"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        _, headers = await ask_whole(trooper.url)
    assert len(claude.generation_requests()) == 1
    assert headers["x-trooper-decision"] == "ollama (fallback: rate_limit)"


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limit"), (502, "server_error")])
async def test_a_retried_failure_that_fails_again_falls_over(
    claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path, status: int, reason: str
) -> None:
    """A 429 without a hint waits the default; a 500/502/504 a moment; once each."""
    claude.script(Error(status), Error(status))
    ollama.script(Text("local"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_whole(trooper.url)
    assert message.content[0].text == "local"
    assert len(claude.generation_requests()) == 2
    assert headers["x-trooper-fallback-count"] == "1"
    assert headers["x-trooper-summary"] == f"claude → ollama ({reason}) | context ✓"


async def test_openai_insufficient_quota_is_credit_balance_not_retried(openai_fake: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    openai_fake.script(Error(429, body=body))
    ollama.script(Text("local"))
    async with run_trooper(chain_env(openai=openai_fake, ollama=ollama), pipeline) as trooper:
        raw = await openai_sdk(trooper.url).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=ASK)
    assert raw.parse().choices[0].message.content == "local"
    assert raw.headers["x-trooper-decision"] == "ollama (fallback: credit_balance)"
    assert len(openai_fake.generation_requests()) == 1


@pytest.mark.parametrize(("status", "reason"), [(402, "credit_balance"), (529, "overloaded"), (503, "overloaded")])
async def test_statuses_that_fall_over_at_once(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path, status: int, reason: str) -> None:
    claude.script(Error(status))
    ollama.script(Text("local answer"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_stream(trooper.url)
    assert message.content[0].text == "local answer"
    assert len(claude.generation_requests()) == 1
    assert headers["x-trooper-decision"] == f"ollama (fallback: {reason})"
    assert headers["x-trooper-fallback"] == "qwen2.5:3b"


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_single_server_error_then_healthy_is_answered_by_the_same_provider(
    claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path, status: int
) -> None:
    """S03: a transient error on a healthy provider is cheaper to retry than to leave."""
    claude.script(Error(status), Text("the same provider, a moment later"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_stream(trooper.url)
    assert message.content[0].text == "the same provider, a moment later"
    assert len(claude.generation_requests()) == 2 and ollama.requests == []
    assert headers["x-trooper-provider"] == "claude" and headers["x-trooper-fallback-count"] == "0"


async def test_the_server_error_retry_can_be_turned_off(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    claude.script(Error(500))
    ollama.script(Text("local answer"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline_with(tmp_path, "retry_statuses = []\n")) as trooper:
        _, headers = await ask_whole(trooper.url)
    assert len(claude.generation_requests()) == 1
    assert headers["x-trooper-decision"] == "ollama (fallback: server_error)"


@pytest.mark.parametrize(("status", "exception"), [(401, anthropic.AuthenticationError), (403, anthropic.PermissionDeniedError)])
async def test_auth_errors_go_back_to_the_client(claude: FakeUpstream, ollama: FakeUpstream, status: int, exception: type) -> None:
    claude.script(Error(status))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        with pytest.raises(exception):
            await ask_stream(trooper.url)
    assert ollama.requests == []


async def test_network_error_falls_over(ollama: FakeUpstream) -> None:
    ollama.script(Text("local"))
    env = chain_env(ollama=ollama, CLAUDE_API_KEY="sk-ant-test-key-0000000000")  # Claude at a closed port
    async with run_trooper(env) as trooper:
        _, headers = await ask_whole(trooper.url)
    assert headers["x-trooper-decision"] == "ollama (fallback: network)"


# --- timeouts ---


async def test_first_byte_timeout_on_a_stream(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(Stall(10))
    ollama.script(Text("local after a stall"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_stream(trooper.url)
    assert message.content[0].text == "local after a stall"
    assert headers["x-trooper-decision"] == "ollama (fallback: timeout)"


async def test_headers_then_silence_go_to_the_next_provider_within_the_first_byte_limit(
    claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path
) -> None:
    """S07: headers, then nothing (here for 20 s): the next provider answers, invisibly,
    once the first-byte limit (0.5 s in this pipeline; 15 s by default) is up."""
    claude.script(StallMidStream(after_chunks=0, seconds=20))
    ollama.script(Text("answered by the next provider"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_stream(trooper.url)
    assert message.content[0].text == "answered by the next provider"
    assert headers["x-trooper-provider"] == "ollama"
    assert headers["x-trooper-decision"] == "ollama (fallback: timeout)"


async def test_a_keep_alive_ping_counts_as_life_before_the_first_byte_limit(
    claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path
) -> None:
    claude.script(PingThen(2.0, Text("worth the wait")))
    toml = tmp_path / "ping.toml"
    toml.write_text("[stages.failover]\ntimeouts = { connect = 2, first_byte = 1, idle = 10, total = 30 }\n")
    async with run_trooper(chain_env(claude=claude, ollama=ollama), toml) as trooper:
        message, headers = await ask_stream(trooper.url)
    assert message.content[0].text == "worth the wait"
    assert headers["x-trooper-provider"] == "claude" and ollama.requests == []


async def test_total_timeout_on_a_whole_answer(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(Stall(10))
    ollama.script(Text("local"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        _, headers = await ask_whole(trooper.url)
    assert headers["x-trooper-decision"] == "ollama (fallback: timeout)"


async def test_idle_timeout_mid_stream_continues_on_the_next_provider(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(StallMidStream(after_chunks=6, seconds=10, answer=Text(LONG)))
    ollama.script(Text(" and the rest from the local model.", chunks=3))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, headers = await ask_stream(trooper.url)
    text = message.content[0].text
    assert len(message.content) == 1  # one text block: the continuation joined it
    assert text.startswith("Alpha Bravo") and text.endswith("and the rest from the local model.")
    assert message.stop_reason == "end_turn"
    assert headers["x-trooper-provider"] == "claude"  # headers went out before the switch
    continued = ollama.requests[-1].json["messages"]  # Ollama carries on a prefill
    assert continued[-1]["role"] == "assistant" and LONG.startswith(continued[-1]["content"])


async def test_total_timeout_cuts_a_dripping_stream_and_continues(claude: FakeUpstream, ollama: FakeUpstream, pipeline: Path) -> None:
    claude.script(Drip(0.4, answer=Text(LONG)))
    ollama.script(Text(" [local continuation]"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline) as trooper:
        message, _ = await ask_stream(trooper.url)
    assert message.content[0].text.startswith("Alpha")
    assert message.content[0].text.endswith("[local continuation]")


# --- mid-stream faults ---


async def test_reset_mid_stream_on_the_fast_path(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    full = await stream_bytes(Text(LONG))
    cut = full.index(b"Delta")
    claude.script(ResetAfter(cut, answer=Text(LONG)))
    ollama.script(Text(" Delta Echo (continued locally)", chunks=3))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, aiohttp.ClientSession() as http:
        message, _ = await ask_stream(trooper.url)
        # The same again, read raw: the switch is marked with an SSE comment and the
        # message has exactly one start and one stop.
        claude.script(ResetAfter(cut, answer=Text(LONG)))
        ollama.script(Text(" Delta Echo (continued locally)", chunks=3))
        body = {"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True, "messages": ASK}
        async with http.post(trooper.url + "/v1/messages", json=body) as resp:
            raw = await resp.read()
    assert message.content[0].text == "Alpha Bravo Charlie Delta Echo (continued locally)"
    assert raw.count(b"event: message_start") == 1 and raw.count(b"event: message_stop") == 1
    assert b": trooper: claude failed mid-stream (network); continuing on ollama" in raw


async def test_reset_mid_stream_on_the_translated_path_openai_client(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    full = await stream_bytes(Text(LONG))
    claude.script(ResetAfter(full.index(b"Delta"), answer=Text(LONG)))
    ollama.script(Text(" Delta Echo.", chunks=2))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = openai_sdk(trooper.url)
        async with client.chat.completions.stream(model="claude-haiku-4-5", messages=ASK) as stream:
            completion = await stream.get_final_completion()
        raw = await _raw_openai_stream(trooper.url, claude, ollama, full.index(b"Delta"))
    assert completion.choices[0].message.content == "Alpha Bravo Charlie Delta Echo."
    assert completion.choices[0].finish_reason == "stop"
    assert raw.count(b"data: [DONE]") == 1


async def _raw_openai_stream(url: str, claude: FakeUpstream, ollama: FakeUpstream, cut: int) -> bytes:
    claude.script(ResetAfter(cut, answer=Text(LONG)))
    ollama.script(Text(" Delta Echo.", chunks=2))
    async with aiohttp.ClientSession() as http:
        body = {"model": "claude-haiku-4-5", "stream": True, "messages": ASK}
        async with http.post(url + "/v1/chat/completions", json=body) as resp:
            return await resp.read()


async def test_error_event_mid_stream_continues(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(ErrorMidStream(after_chunks=6, status=529, answer=Text(LONG)))
    ollama.script(Text(" (rest)"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        message, _ = await ask_stream(trooper.url)
    assert message.content[0].text.startswith("Alpha")
    assert message.content[0].text.endswith("(rest)")


async def test_failure_before_the_first_event_is_invisible(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(ResetAfter(0))
    ollama.script(Text("only the local answer"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, aiohttp.ClientSession() as http:
        body = {"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True, "messages": ASK}
        async with http.post(trooper.url + "/v1/messages", json=body) as resp:
            raw = await resp.read()
            headers = resp.headers
    assert headers["x-trooper-provider"] == "ollama"
    assert b": trooper" not in raw
    texts = [json.loads(line[6:])["delta"].get("text", "") for line in raw.split(b"\n") if line.startswith(b"data: {\"type\":\"content_block_delta")]
    assert "".join(texts) == "only the local answer"


async def test_a_tool_call_cut_mid_arguments_never_reaches_the_client_half_made(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    call = ToolCall([("get_weather", {"city": "Lisbon", "unit": "celsius"})], text="Let me check.", arg_chunks=4)
    full = await stream_bytes(call)
    cut = full.index(b"input_json_delta", full.index(b"input_json_delta") + 20) + 30  # inside the arguments
    claude.script(ResetAfter(cut, answer=call))
    ollama.script(ToolCall([("get_weather", {"city": "Lisbon", "unit": "celsius"})]))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        async with claude_sdk(trooper.url).messages.stream(
            model="claude-haiku-4-5", max_tokens=100, messages=ASK,
            tools=[{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}],
        ) as stream:
            message = await stream.get_final_message()
    kinds = [block.type for block in message.content]
    assert kinds == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."
    assert message.content[1].input == {"city": "Lisbon", "unit": "celsius"}
    assert message.stop_reason == "tool_use"


async def test_continuation_prefills_where_the_target_accepts_it(
    openai_fake: FakeUpstream, claude: FakeUpstream, tmp_path: Path
) -> None:
    """OpenAI dies mid-answer; Claude continues from a prefilled assistant message."""
    full = await stream_bytes(Text(LONG), path="/v1/chat/completions",
                              body={"model": "gpt-4o-mini", "stream": True, "messages": ASK})
    openai_fake.script(ResetAfter(full.index(b"Delta"), answer=Text(LONG)))
    claude.script(Text(" Delta Echo", chunks=2))
    env = chain_env(claude=claude, openai=openai_fake)
    toml = tmp_path / "openai-first.toml"
    toml.write_text(
        f'[[providers]]\nname = "openai"\nkind = "openai"\nurl = "{openai_fake.url}/v1"\n'
        'key_env = "OPENAI_API_KEY"\nmodel = "gpt-4o-mini"\n'
        f'[[providers]]\nname = "claude"\nkind = "anthropic"\nurl = "{claude.url}"\n'
        'key_env = "CLAUDE_API_KEY"\nmodel = "claude-haiku-4-5"\n'
    )
    async with run_trooper(env, toml) as trooper:
        async with openai_sdk(trooper.url).chat.completions.stream(model="gpt-4o-mini", messages=ASK) as stream:
            completion = await stream.get_final_completion()
    assert completion.choices[0].message.content.startswith("Alpha Bravo Charlie")
    sent = claude.requests[-1].json["messages"]
    assert sent[-1]["role"] == "assistant"
    assert sent[-1]["content"] == "Alpha Bravo Charlie"
    assert sent[-2]["role"] == "user"  # no request to continue: the prefill is the request


async def test_when_no_provider_can_continue_the_stream_ends_with_an_error_event(claude: FakeUpstream) -> None:
    full = await stream_bytes(Text(LONG))
    claude.script(ResetAfter(full.index(b"Delta"), answer=Text(LONG)))
    async with run_trooper(chain_env(claude=claude)) as trooper:  # Ollama unreachable
        with pytest.raises(anthropic.APIStatusError, match="stream broke"):
            await ask_stream(trooper.url)


# --- circuit breaker and recovery ---


async def test_circuit_opens_after_three_failures_and_a_probe_closes_it(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    clock = FakeClock()
    claude.script(Error(529), Error(529), Error(529))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), clock=clock) as trooper:
        for _ in range(3):
            await ask_whole(trooper.url)
        with capture_logs() as logs:
            _, headers = await ask_whole(trooper.url)
        assert len(claude.generation_requests()) == 3  # skipped with no round trip
        assert headers["x-trooper-decision"] == "ollama (fallback: circuit_open)"
        assert any(e["event"] == "⚡ Skipping claude — circuit open (3 fails in last 60s)" for e in logs)

        clock.advance(61)  # cool-down over: one half-open probe decides
        claude.script(Text("claude is back"))
        message, headers = await ask_whole(trooper.url)
        assert message.content[0].text == "claude is back"
        assert headers["x-trooper-provider"] == "claude"
        assert trooper.runtime.health["claude"].state == "closed"


async def test_a_failed_probe_reopens_the_circuit(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    clock = FakeClock()
    claude.script(*[Error(529)] * 4)
    async with run_trooper(chain_env(claude=claude, ollama=ollama), clock=clock) as trooper:
        for _ in range(3):
            await ask_whole(trooper.url)
        clock.advance(61)
        await ask_whole(trooper.url)  # the probe fails
        assert trooper.runtime.health["claude"].state == "open"
        await ask_whole(trooper.url)
    assert len(claude.generation_requests()) == 4


async def test_client_errors_do_not_trip_the_breaker(claude: FakeUpstream) -> None:
    claude.script(*[Error(400, message="messages: roles must alternate")] * 4)
    async with run_trooper(chain_env(claude=claude)) as trooper:
        for _ in range(4):
            with pytest.raises(anthropic.BadRequestError):
                await ask_whole(trooper.url)
    assert len(claude.generation_requests()) == 4


async def test_auto_recovery_closes_the_circuit_with_a_free_call(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    clock = FakeClock()
    pipeline = pipeline_with(tmp_path, "auto_recovery = true\nrecovery_interval = 0.05\n")
    claude.script(Error(529), Error(529), Error(529))
    async with run_trooper(chain_env(claude=claude, ollama=ollama), pipeline, clock=clock) as trooper:
        claude.script_meta(Error(503))  # first health check: still down
        for _ in range(3):
            await ask_whole(trooper.url)
        breaker = trooper.runtime.health["claude"]
        for _ in range(100):
            if breaker.state == "closed":
                break
            await asyncio.sleep(0.02)
        assert breaker.state == "closed"  # no clock advance needed: the free call answered
        health_checks = [r for r in claude.requests if r.path == "/v1/models"]
        assert len(health_checks) >= 2 and health_checks[-1].headers["x-api-key"].startswith("sk-ant-")
        assert len(claude.generation_requests()) == 3  # never an inference call
        claude.script(Text("primary again"))
        _, headers = await ask_whole(trooper.url)
    assert headers["x-trooper-provider"] == "claude"


async def test_force_local_by_header(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    ollama.script(Text("private"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="k", max_retries=0,
                                          default_headers={"X-Trooper-Force-Local": "1"})
        raw = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=10, messages=ASK)
    assert raw.headers["x-trooper-decision"] == "ollama (forced_local)"
    assert claude.requests == []


# --- disconnects and load ---


async def test_client_disconnect_closes_the_upstream_at_once(claude: FakeUpstream) -> None:
    claude.script(Drip(0.2, answer=Text(LONG * 3, chunks=36)))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        async with aiohttp.ClientSession() as http:
            body = {"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True, "messages": ASK}
            resp = await http.post(trooper.url + "/v1/messages", json=body)
            await resp.content.readany()
            resp.close()  # the client goes away mid-stream
        await claude.wait_disconnect(timeout=1.0)
        await claude.wait_idle(timeout=1.0)


async def test_200_concurrent_requests_while_the_primary_flaps(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    ollama.default = Text("local answer", chunks=3)
    healthy = Text("cloud answer", chunks=3)
    claude.default = healthy

    async def flap() -> None:
        # The primary flips between failing and healthy on a timer and per request.
        while True:
            claude.script(Error(529), healthy, Error(503), healthy)
            await asyncio.sleep(0.01)

    before = asyncio.all_tasks()
    flapper = asyncio.create_task(flap())
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        anthropic_client = claude_sdk(trooper.url)
        openai_client = openai_sdk(trooper.url)

        async def one(i: int) -> str:
            if i % 4 == 0:
                message = await anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=ASK)
                return message.content[0].text
            if i % 4 == 1:
                async with anthropic_client.messages.stream(model="claude-haiku-4-5", max_tokens=20, messages=ASK) as s:
                    return (await s.get_final_message()).content[0].text
            if i % 4 == 2:
                completion = await openai_client.chat.completions.create(model="claude-haiku-4-5", messages=ASK)
                return completion.choices[0].message.content or ""
            async with openai_client.chat.completions.stream(model="claude-haiku-4-5", messages=ASK) as s:
                return (await s.get_final_completion()).choices[0].message.content or ""

        answers = await asyncio.gather(*(one(i) for i in range(200)))
        await anthropic_client.close()
        await openai_client.close()
    flapper.cancel()
    assert set(answers) <= {"cloud answer", "local answer"} and len(answers) == 200
    assert "local answer" in answers
    await claude.wait_idle(timeout=2)
    await ollama.wait_idle(timeout=2)
    await asyncio.sleep(0.1)
    assert claude.open_connections == 0 and ollama.open_connections == 0  # Trooper closed its pool
    leftover = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
    assert leftover <= {flapper}

