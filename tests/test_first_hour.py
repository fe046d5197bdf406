"""A new user's first hour: no key, no Ollama, nothing local installed. The 503 says what
to do (the local extra) and when to come back (Retry-After); a request that finds every
circuit open says why they opened; /health/live and /health/ready tell an orchestrator
the truth while /health keeps its content; every response carries X-Request-Id."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest
from structlog.testing import capture_logs

from tests.conftest import FakeClock, chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text
from trooper.cli import _announce
from trooper.config import load
from trooper.runtime import Runtime
from trooper.stages import failover

FAST = """
[stages.failover]
retry_429 = false
timeouts = { connect = 2, first_byte = 1, idle = 1, total = 3 }
"""
ASK = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(FAST)
    return path


@pytest.fixture
def nothing_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine where the `local` extra was never installed."""
    monkeypatch.setattr(failover, "embedded_installed", lambda: False)


def claude_sdk(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)


async def test_no_key_no_ollama_no_local_model_names_the_local_extra(pipeline: Path, nothing_local: None) -> None:
    async with run_trooper(chain_env(), pipeline) as trooper:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await claude_sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=ASK)
    error = caught.value
    assert error.status_code == 503
    message = error.message
    assert "pip install 'trooper-gateway[local]'" in message
    assert "ollama: network: cannot connect to http://127.0.0.1:9 (is Ollama running? set FALLBACK_URL)" in message
    assert int(error.response.headers["retry-after"]) >= 1
    assert re.fullmatch(r"[0-9a-f]{32}", error.response.headers["x-request-id"])


async def test_the_hint_is_left_out_when_a_local_model_is_installed(pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover, "embedded_installed", lambda: True)
    async with run_trooper(chain_env(), pipeline) as trooper:
        client = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key="sk-client", max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=ASK)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    assert "trooper-gateway[local]" not in caught.value.message
    assert caught.value.response.headers["retry-after"]


async def test_every_circuit_open_says_why_each_opened(claude: FakeUpstream, pipeline: Path, nothing_local: None) -> None:
    clock = FakeClock()
    claude.script(Error(529), Error(529), Error(529))
    async with run_trooper(chain_env(claude=claude), pipeline, clock=clock) as trooper:
        for _ in range(3):  # Claude overloaded and Ollama not running, three times: both circuits open
            with pytest.raises(anthropic.APIStatusError):
                await claude_sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=ASK)
        clock.advance(20)
        with pytest.raises(anthropic.APIStatusError) as caught:
            await claude_sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=ASK)
    assert len(claude.generation_requests()) == 3  # the fourth found the circuit open
    error = caught.value
    assert error.status_code == 503
    message = error.message
    assert "claude: skipped (circuit open for 20s after 3 failures within 60s (overloaded: " in message
    assert "ollama: skipped (circuit open for 20s after 3 failures within 60s (network: cannot connect to" in message
    assert "tried again in 40s" in message
    assert error.response.headers["retry-after"] == "40"  # when the circuits let a probe through
    assert error.response.headers["x-trooper-attempts"] == "claude=circuit_open, gemini=no_key, openai=no_key, ollama=circuit_open"


async def test_health_live_ready_and_health(ollama: FakeUpstream, pipeline: Path) -> None:
    async with aiohttp.ClientSession() as http:
        async with run_trooper(chain_env(), pipeline) as trooper:
            async with http.get(trooper.url + "/health/live") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "live"
            async with http.get(trooper.url + "/health/ready") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["status"] == "not_ready"
            why = {p["name"]: p["why"] for p in body["providers"]}
            assert why["claude"].startswith("no key: CLAUDE_API_KEY unset")
            assert why["ollama"].startswith("cannot reach http://127.0.0.1:9/api/tags")
            async with http.get(trooper.url + "/health") as resp:  # unchanged: what is configured
                health = await resp.json()
                assert health["status"] == "ok" and [p["name"] for p in health["providers"]][0] == "claude"
                assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"])

        async with run_trooper(chain_env(ollama=ollama), pipeline) as trooper:
            async with http.get(trooper.url + "/health/ready") as resp:
                body = await resp.json()
                assert resp.status == 200 and body["status"] == "ready"
            ready = {p["name"]: p["ready"] for p in body["providers"]}
            assert ready == {"claude": False, "gemini": False, "openai": False, "ollama": True}

        async with run_trooper(chain_env(CLAUDE_API_KEY="sk-ant-test-key-0123456789"), pipeline) as trooper:
            async with http.get(trooper.url + "/health/ready") as resp:
                assert resp.status == 200  # a configured cloud key can answer


async def test_ready_turns_false_when_the_only_provider_s_circuit_opens(claude: FakeUpstream, pipeline: Path) -> None:
    claude.script(Error(529), Error(529), Error(529))
    async with run_trooper(chain_env(claude=claude), pipeline) as trooper, aiohttp.ClientSession() as http:
        for _ in range(3):
            with pytest.raises(anthropic.APIStatusError):
                await claude_sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=ASK)
        trooper.app.readiness._checked_at = float("-inf")  # don't wait out the probe interval
        async with http.get(trooper.url + "/health/ready") as resp:
            body = await resp.json()
    assert resp.status == 503
    claude_state = next(p for p in body["providers"] if p["name"] == "claude")
    assert claude_state["why"].startswith("circuit open for")


async def test_x_request_id_is_the_client_s_when_well_formed(openai_fake: FakeUpstream, pipeline: Path) -> None:
    openai_fake.script(Text("hi"), Text("hi"))
    async with run_trooper(chain_env(openai=openai_fake), pipeline) as trooper, aiohttp.ClientSession() as http:
        body = {"model": "gpt-4o-mini", "messages": ASK}
        url = trooper.url + "/v1/chat/completions"
        async with http.post(url, json=body, headers={"X-Request-Id": "my-trace.42"}) as resp:
            assert resp.status == 200
            assert resp.headers.getall("x-request-id") == ["my-trace.42"]
            # OpenAI's own id, on the fast path, is kept under another name
            assert resp.headers["x-upstream-request-id"].startswith("req_")
        async with http.post(url, json=body, headers={"X-Request-Id": "bad id\twith spaces"}) as resp:
            assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"])
        async with http.post(url, data=b"{not json", headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400 and re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"])


def test_start_up_names_the_local_extra_when_nothing_local_is_installed(nothing_local: None) -> None:
    env = chain_env()
    settings = load(None, env=env)
    with capture_logs() as logs:
        _announce(settings, Runtime(settings, env=env))
    hints = [e["hint"] for e in logs if e["event"] == "no_local_model"]
    assert len(hints) == 1 and "pip install 'trooper-gateway[local]'" in hints[0]
