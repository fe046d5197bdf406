"""What the local tier receives when an agent falls over, through the real server: a
request of Claude Code's shape fitted to a 6,144-token Ollama, the session continuing
locally, and a tool-needing request meeting a tier that can't call tools."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import anthropic
import msgspec
import pytest

from tests.claude_code_request import LAST_RESULT, USED_TOOLS, USER_PROMPT, request
from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, ErrorMidStream, FakeUpstream, Text, ToolCall
from tests.test_compaction import assert_nothing_invented
from trooper.compaction import answer_room
from trooper.conversation import Conversation, Message, TextBlock, Tool, ToolResultBlock, ToolUseBlock
from trooper.formats import anthropic as anthropic_format
from trooper.signals.tokens import estimate_conversation


def sdk(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)


async def stream(url: str, body: dict) -> tuple[anthropic.types.Message, dict[str, str]]:
    async with sdk(url).messages.stream(**body) as streamed:
        return await streamed.get_final_message(), dict(streamed.response.headers)


def received(body: dict) -> Conversation:
    """What a fake Ollama was sent, back in canonical form (tools, system, messages)."""
    system = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
    messages = []
    for m in body["messages"]:
        if m["role"] == "user":
            messages.append(Message("user", (TextBlock(m["content"]),)))
        elif m["role"] == "tool":
            messages.append(Message("user", (ToolResultBlock(m.get("tool_call_id", ""), (TextBlock(m["content"]),)),)))
        elif m["role"] == "assistant":
            calls = tuple(ToolUseBlock(c.get("id", ""), c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls", []))
            messages.append(Message("assistant", (TextBlock(m["content"]), *calls)))
    tools = tuple(Tool(t["function"]["name"], t["function"]["description"], t["function"]["parameters"]) for t in body.get("tools") or [])
    return Conversation("m", tuple(messages), system=system, tools=tools)


def prompt_tokens(body: dict) -> int:
    """Trooper's estimate (which errs high) of what Ollama was sent: system prompt, messages,
    tool calls and results, tool definitions."""
    return estimate_conversation(received(body))


async def test_claude_codes_request_reaches_a_6144_token_ollama_fitted(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    body = request()
    del body["stream"]
    claude.script(Error(529))
    ollama.script(ToolCall([("Bash", {"command": "cat /home/dev/shop/hello.txt"})], text="Let me check the file."))
    env = chain_env(claude=claude, ollama=ollama, TROOPER_DB=str(tmp_path / "trooper.db"))
    async with run_trooper(env) as trooper:
        message, headers = await stream(trooper.url, body)  # Claude Code streams
        sent = ollama.requests[-1].json
        session = headers["x-trooper-session"]

        # The session goes on locally: the agent runs the local model's tool call and
        # resends the history with it; the local model sees its own step and its result.
        body["messages"] += [
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": message.content[-1].id, "content": "hi"}]},
        ]
        claude.script(Error(529))
        ollama.script(Text("hello.txt holds hi, and all 42 tests pass."))
        await stream(trooper.url, body)
        resent = ollama.requests[-1].json
        async with aiohttp.ClientSession() as http, http.get(f"{trooper.url}/sessions/{session}") as response:
            detail = await response.json()

    # Claude was given the request whole; the summary says the local tier's was partial.
    assert len(claude.generation_requests()[0].json["tools"]) == len(body["tools"]) == 24
    assert headers["x-trooper-summary"] == "claude → ollama (overloaded) | context ~ (tools trimmed, tools dropped)"
    # What Ollama got fits its window, with a quarter of it for the answer.
    options = sent["options"]
    assert options["num_ctx"] == 6144
    assert options["num_predict"] >= answer_room(6144, body["max_tokens"]) * 0.9  # 1536, less a margin for the estimate
    assert prompt_tokens(sent) + options["num_predict"] <= 6144
    # Every tool the conversation used, whole; the user's prompt and the last tool result verbatim.
    original = anthropic_format.decode_request(msgspec.json.encode(request()))
    tools = {t["function"]["name"]: t["function"] for t in sent["tools"]}
    for tool in original.tools:
        if tool.name in USED_TOOLS:
            assert tools[tool.name]["description"] == tool.description
            assert tools[tool.name]["parameters"] == tool.input_schema
    assert any(m["role"] == "user" and USER_PROMPT in m["content"] for m in sent["messages"])
    assert sent["messages"][-1] == {"role": "tool", "content": LAST_RESULT, "tool_name": "Write", "tool_call_id": "toolu_07"}
    assert_nothing_invented(received(sent), original)
    # The local model's own call and its result are in the next request it gets.
    assert resent["messages"][-2]["tool_calls"][0]["function"] == {"name": "Bash", "arguments": {"command": "cat /home/dev/shop/hello.txt"}}
    assert resent["messages"][-1]["role"] == "tool" and resent["messages"][-1]["content"] == "hi"
    assert prompt_tokens(resent) + resent["options"]["num_predict"] <= 6144
    # The session's request record keeps the fit.
    fit = detail["requests"][0]["fit"]
    assert fit["window"] == 6144 and fit["budget"] == 4608 and fit["fits"] is True
    assert fit["tokens_before"] > 19_000 and fit["tokens_after"] <= 4608
    assert fit["cut"] == ["harness text", "tools trimmed", "tools dropped", "history summarised"]
    assert set(fit["tools_dropped"]).isdisjoint(USED_TOOLS) and fit["messages_summarised"] > 0


TEXT_ONLY = """
[[providers]]
name = "claude"
kind = "anthropic"
url = "{claude}"
key_env = "CLAUDE_API_KEY"

[[providers]]
name = "local"
kind = "openai"
url = "{local}/v1"
local = true
tools = false
{extra}
"""

BASH = {"name": "bash", "description": "Run a shell command.", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}
ASK = [{"role": "user", "content": "Create hello.txt containing hi."}]


def text_only_chain(tmp_path: Path, claude: FakeUpstream, local: FakeUpstream, extra: str = "") -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(TEXT_ONLY.format(claude=claude.url, local=local.url, extra=extra))
    return path


async def test_a_tool_needing_request_with_only_a_text_only_tier_left_is_refused_with_retry_after(
    claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path
) -> None:
    claude.script(Error(429, headers={"retry-after": "120"}), Error(429, headers={"retry-after": "120"}))
    env = {"CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789", "LOCAL_EMBEDDED": "off"}
    async with run_trooper(env, text_only_chain(tmp_path, claude, ollama)) as trooper:
        with pytest.raises(anthropic.RateLimitError) as raised:
            await sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK, tools=[BASH])
        # The same turn without tools is the text-only tier's to answer.
        ollama.script(Text("Sure: hello.txt would hold hi."))
        plain = await sdk(trooper.url).messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=200, messages=ASK)
        async with aiohttp.ClientSession() as http, http.get(f"{trooper.url}/health") as response:
            health = await response.json()
    error = raised.value
    assert error.response.headers["retry-after"] == "120"
    assert "local: skipped (no_tools: local can't call tools and the request defines 1)" in error.message
    assert error.response.headers["x-trooper-attempts"] == "claude=429, local=no_tools"
    assert len(ollama.generation_requests()) == 1  # only the plain turn: the tool turn never reached it
    assert plain.headers["x-trooper-provider"] == "local"
    declared = {p["name"]: p["capabilities"] for p in health["providers"]}
    assert declared["local"] == {"tools": False, "images": True, "window": 6144, "prefill": False}
    assert declared["claude"] == {"tools": True, "images": True, "window": None, "prefill": True}


async def test_allow_degraded_lets_the_text_only_tier_answer_flagged(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    claude.script(Error(429, headers={"retry-after": "120"}))
    ollama.script(Text("I can't run tools here; hello.txt should contain: hi"))
    pipeline = text_only_chain(tmp_path, claude, ollama, "\n[stages.failover]\nallow_degraded = true\n")
    env = {"CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789", "LOCAL_EMBEDDED": "off"}
    async with run_trooper(env, pipeline) as trooper:
        raw = await sdk(trooper.url).messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=200, messages=ASK, tools=[BASH]
        )
    assert (await raw.parse()).content[0].text == "I can't run tools here; hello.txt should contain: hi"
    assert raw.headers["x-trooper-degraded"] == "no_tools"
    assert raw.headers["x-trooper-summary"] == "claude → local (rate_limit) | context ✓ | degraded (no_tools)"


async def test_a_tier_that_cant_see_images_is_skipped_for_an_image_turn(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    claude.script(Error(529))
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(TEXT_ONLY.format(claude=claude.url, local=ollama.url, extra="").replace("tools = false", "images = false"))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    env = {"CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789", "LOCAL_EMBEDDED": "off"}
    async with run_trooper(env, pipeline) as trooper:
        with pytest.raises(anthropic.APIStatusError) as raised:
            await sdk(trooper.url).messages.create(
                model="claude-haiku-4-5", max_tokens=50,
                messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is in this picture?"}]}],
            )
    assert raised.value.response.headers["x-trooper-attempts"] == "claude=529, local=no_images"
    assert ollama.generation_requests() == []


async def test_a_last_tool_result_longer_than_the_window_skips_the_tier_rather_than_cutting_it(
    claude: FakeUpstream, ollama: FakeUpstream
) -> None:
    log = "\n".join(f"2026-12-07T09:{n // 60:02d}:{n % 60:02d}Z worker-{n % 7} processed batch {n} in {n % 90} ms" for n in range(2500))
    messages = [
        {"role": "user", "content": "Why is the worker slow?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "cat worker.log"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": log}]},
    ]
    claude.script(Error(529))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        with pytest.raises(anthropic.APIStatusError) as raised:
            await sdk(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=500, messages=messages, tools=[BASH])
    error = raised.value
    assert error.status_code == 529 and error.response.headers["retry-after"]
    assert error.response.headers["x-trooper-attempts"].endswith("ollama=too_long")
    assert "ollama: skipped (too_long: the turns kept verbatim need ~" in error.message
    assert ollama.generation_requests() == []


async def test_a_partial_answer_continued_on_the_local_tier_reaches_it_verbatim(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    """Claude's stream breaks mid-answer to Claude Code's 20k-token request; Ollama (6,144
    tokens) continues it from a prefill: the request fits, and the partial answer is in it
    word for word, not folded into the summary."""
    body = request()
    del body["stream"]
    answer = " ".join(f"Step {n}: the discount in cart.py line {n} is now integer cents, checked by test {n}." for n in range(60))
    claude.script(ErrorMidStream(after_chunks=8, status=529, answer=Text(answer, chunks=10)))
    ollama.script(Text(" All steps are done."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        message, headers = await stream(trooper.url, body)
    text = message.content[0].text
    assert text.endswith(" All steps are done.")
    partial = text[: -len(" All steps are done.")]
    assert len(partial) > 500 and answer.startswith(partial)
    sent = ollama.requests[-1].json
    assert sent["messages"][-1] == {"role": "assistant", "content": partial}
    assert prompt_tokens(sent) + sent["options"]["num_predict"] <= 6144
    assert any(m["role"] == "user" and USER_PROMPT in m["content"] for m in sent["messages"])
    assert headers["x-trooper-provider"] == "claude"  # the headers went out with Claude's first byte


CAPTURE = Path(__file__).parent / "data" / "claude_code"


async def test_claude_codes_captured_first_request_reaches_a_6144_token_ollama_fitted(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    """The real CLI's first request (tests/data/claude_code, captured from claude-code
    2.1.197: 24 tools, ~17k tokens of them), sent as it sent it, Claude overloaded."""
    captured = json.loads((CAPTURE / "first_request.json").read_text())["requests"][1]
    body = (CAPTURE / "first_request.body.json").read_bytes()
    headers = {k: v for k, v in captured["headers"].items() if k.lower().startswith(("anthropic-", "content-type", "x-app"))}
    claude.script(Error(529))
    ollama.script(ToolCall([("Write", {"file_path": "hello.txt", "content": "hello"})]))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, aiohttp.ClientSession() as http:
        async with http.post(trooper.url + captured["path"], data=body, headers=headers) as response:
            assert response.status == 200
            streamed = await response.read()
            summary = response.headers["x-trooper-summary"]
    assert b'"name":"Write"' in streamed
    original = anthropic_format.decode_request(body)
    sent = ollama.requests[-1].json
    assert prompt_tokens(sent) + sent["options"]["num_predict"] <= sent["options"]["num_ctx"] == 6144
    assert sent["options"]["num_predict"] >= 1024
    assert any(m["role"] == "user" and "Create hello.txt saying hello" in m["content"] for m in sent["messages"])
    assert {t["function"]["name"] for t in sent["tools"]} == {t.name for t in original.tools}  # all there, some trimmed
    assert_nothing_invented(received(sent), original)
    assert summary == "claude → ollama (overloaded) | context ~ (tools trimmed)"


async def test_an_openai_compatible_local_server_is_asked_for_what_its_window_leaves(claude: FakeUpstream) -> None:
    """LOCAL_URL (llama.cpp's server, LM Studio, vLLM): the fitted request and a max_tokens
    that fits beside it, not the client's 32,000."""
    body = request()
    del body["stream"]
    claude.script(Error(529))
    async with FakeUpstream() as local:
        local.default = Text("Done.")
        env = chain_env(claude=claude, LOCAL_URL=local.url + "/v1", LOCAL_MODEL="qwen2.5-3b-instruct")
        async with run_trooper(env) as trooper:
            _, headers = await stream(trooper.url, body)
        sent = local.generation_requests()[-1].json
    assert headers["x-trooper-provider"] == "local"
    assert 1024 <= sent["max_tokens"] <= 6144 - 4608 + 200  # about the quarter of the window kept for it
    assert len(sent["tools"]) < len(body["tools"]) and headers["x-trooper-summary"].endswith("| context ~ (tools trimmed, tools dropped)")
