"""The fake upstreams speak each vendor's wire format (checked by hand and by the official SDKs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.upstream import (
    Drip,
    Error,
    ErrorMidStream,
    FakeUpstream,
    Garbage,
    Raw,
    ResetAfter,
    Stall,
    StallMidStream,
    Text,
    ToolCall,
)

TEXT = "The quick brown fox jumps over the lazy dog"
WEATHER = ("get_weather", {"city": "Paris", "units": "celsius", "days": [1, 2]})

ANTHROPIC_BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
OLLAMA_BODY = {"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
GEMINI_PATH = "/v1beta/models/gemini-2.0-flash"


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --------------------------------------------------------------------------- stream parsing


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) for each SSE block."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((event, "\n".join(data)))
    return events


def ndjson(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.decode().splitlines() if line]


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any], **kw: Any) -> tuple[int, str, bytes]:
    async with http.post(url, json=body, **kw) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_whole(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text(TEXT, input_tokens=7))
    async with http.post(fake.url + "/v1/messages", json=ANTHROPIC_BODY) as resp:
        assert resp.status == 200
        assert resp.headers["request-id"].startswith("req_")
        msg = await resp.json()
    assert msg["id"].startswith("msg_") and msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["model"] == "claude-haiku-4-5"
    assert msg["content"] == [{"type": "text", "text": TEXT}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["usage"]["input_tokens"] == 7 and msg["usage"]["output_tokens"] == 9


async def test_anthropic_stream(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    status, ctype, raw = await post(http, fake.url + "/v1/messages", {**ANTHROPIC_BODY, "stream": True})
    assert status == 200 and ctype == "text/event-stream"
    events = sse_events(raw)
    names = [e for e, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == e for (e, _), p in zip(events, payloads))
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == "Hello from anthropic"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 12
    delta = payloads[-2]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 3


async def test_anthropic_tool_stream_reassembles(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(ToolCall([WEATHER, ("noop", {})], text="Checking."))
    _, _, raw = await post(http, fake.url + "/v1/messages", {**ANTHROPIC_BODY, "stream": True})
    payloads = [json.loads(d) for _, d in sse_events(raw)]
    starts = {p["index"]: p["content_block"] for p in payloads if p["type"] == "content_block_start"}
    assert starts[0]["type"] == "text"
    assert starts[1]["type"] == "tool_use" and starts[1]["id"].startswith("toolu_") and starts[1]["name"] == "get_weather"
    partial: dict[int, list[str]] = {}
    for p in payloads:
        if p["type"] == "content_block_delta" and p["delta"]["type"] == "input_json_delta":
            partial.setdefault(p["index"], []).append(p["delta"]["partial_json"])
    assert len([s for s in partial[1] if s]) >= 3  # several partial-JSON fragments
    assert json.loads("".join(partial[1])) == WEATHER[1]
    assert json.loads("".join(partial[2])) == {}
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"


async def test_anthropic_error_and_count_tokens(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Error(429, headers={"retry-after": "1"}))
    async with http.post(fake.url + "/v1/messages", json=ANTHROPIC_BODY) as resp:
        assert resp.status == 429 and resp.headers["retry-after"] == "1" and "request-id" in resp.headers
        body = await resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error" and body["error"]["message"]
    fake.script(Error(529))
    _, _, raw = await post(http, fake.url + "/v1/messages", ANTHROPIC_BODY)
    assert json.loads(raw)["error"]["type"] == "overloaded_error"
    status, _, raw = await post(http, fake.url + "/v1/messages/count_tokens", ANTHROPIC_BODY)
    assert status == 200 and json.loads(raw)["input_tokens"] >= 1


# --------------------------------------------------------------------------- OpenAI


async def test_openai_whole(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text(TEXT, stop="max_tokens"))
    async with http.post(fake.url + "/v1/chat/completions", json=OPENAI_BODY) as resp:
        assert resp.status == 200 and "x-request-id" in resp.headers
        body = await resp.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": TEXT, "refusal": None, "annotations": []}
    assert choice["finish_reason"] == "length"
    assert body["usage"]["prompt_tokens"] == 12 and body["usage"]["completion_tokens"] == 9
    assert body["usage"]["total_tokens"] == 21


async def test_openai_stream_with_usage(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text(TEXT, chunks=4))
    req = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
    status, ctype, raw = await post(http, fake.url + "/v1/chat/completions", req)
    assert status == 200 and ctype == "text/event-stream"
    events = sse_events(raw)
    assert all(e is None for e, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    content = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [p for p in content if p] and len([p for p in content if p]) == 4
    assert "".join(p for p in content if p) == TEXT
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["usage"] is None
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9


async def test_openai_stream_without_usage_and_tool_calls(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(ToolCall([WEATHER, ("noop", {})]))
    _, _, raw = await post(http, fake.url + "/v1/chat/completions", {**OPENAI_BODY, "stream": True})
    events = sse_events(raw)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all("usage" not in c for c in chunks)
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for tc in c["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"id": None, "name": None, "args": ""})
            if "id" in tc:
                slot["id"], slot["name"] = tc["id"], tc["function"]["name"]
            slot["args"] += tc["function"].get("arguments", "")
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["args"]) == WEATHER[1] and json.loads(calls[1]["args"]) == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_openai_error(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Error(401))
    status, _, raw = await post(http, fake.url + "/v1/chat/completions", OPENAI_BODY)
    error = json.loads(raw)["error"]
    assert status == 401 and set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key" and error["param"] is None


# --------------------------------------------------------------------------- Ollama


async def test_ollama_whole(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text(TEXT))
    status, ctype, raw = await post(http, fake.url + "/api/chat", {**OLLAMA_BODY, "stream": False})
    body = json.loads(raw)
    assert status == 200 and ctype == "application/json"
    assert body["model"] == "llama3.2:1b" and body["done"] is True and body["done_reason"] == "stop"
    assert body["message"] == {"role": "assistant", "content": TEXT}
    assert body["prompt_eval_count"] == 12 and body["eval_count"] == 9 and body["total_duration"] > 0


async def test_ollama_streams_by_default(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    status, ctype, raw = await post(http, fake.url + "/api/chat", OLLAMA_BODY)  # no "stream" key
    assert status == 200 and ctype == "application/x-ndjson"
    lines = ndjson(raw)
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert "".join(line["message"]["content"] for line in lines) == "Hello from ollama"
    final = lines[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == 3 and final["prompt_eval_count"] == 12
    assert {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"} <= set(final)
    assert fake.requests[-1].stream is True


async def test_ollama_tool_calls_and_error(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(ToolCall([WEATHER]), Error(404))
    lines = ndjson((await post(http, fake.url + "/api/chat", OLLAMA_BODY))[2])
    calls = [tc for line in lines for tc in line["message"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["function"]["arguments"] == WEATHER[1]
    assert lines[-1]["done"] is True
    status, _, raw = await post(http, fake.url + "/api/chat", OLLAMA_BODY)
    assert status == 404 and "llama3.2:1b" in json.loads(raw)["error"]


async def test_ollama_metadata(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    async with http.get(fake.url + "/api/tags") as resp:
        assert [m["name"] for m in (await resp.json())["models"]] == fake.models["ollama"]
    async with http.get(fake.url + "/api/version") as resp:
        assert "version" in await resp.json()
    status, _, raw = await post(http, fake.url + "/api/show", {"model": "llama3.2:1b"})
    assert status == 200 and "details" in json.loads(raw)
    assert fake.pending == 0 and len(fake.generation_requests()) == 0


# --------------------------------------------------------------------------- Gemini


async def test_gemini_whole(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(ToolCall([WEATHER], text="Let me look."))
    status, _, raw = await post(http, fake.url + GEMINI_PATH + ":generateContent", GEMINI_BODY)
    body = json.loads(raw)
    candidate = body["candidates"][0]
    assert status == 200 and candidate["finishReason"] == "STOP" and candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"] == [
        {"text": "Let me look."},
        {"functionCall": {"name": "get_weather", "args": WEATHER[1]}},
    ]
    assert body["modelVersion"] == "gemini-2.0-flash"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == 12 and usage["totalTokenCount"] == 12 + usage["candidatesTokenCount"]


async def test_gemini_stream_sse(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text(TEXT, output_tokens=20))
    url = fake.url + GEMINI_PATH + ":streamGenerateContent?alt=sse"
    status, ctype, raw = await post(http, url, GEMINI_BODY)
    assert status == 200 and ctype == "text/event-stream"
    chunks = [json.loads(d) for _, d in sse_events(raw)]
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == TEXT
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 20
    assert fake.requests[-1].model == "gemini-2.0-flash" and fake.requests[-1].query == {"alt": "sse"}


async def test_gemini_stream_json_array_and_error(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    _, _, raw = await post(http, fake.url + GEMINI_PATH + ":streamGenerateContent", GEMINI_BODY)
    chunks = json.loads(raw)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "Hello from gemini"
    fake.script(Error(429))
    status, _, raw = await post(http, fake.url + GEMINI_PATH + ":generateContent", GEMINI_BODY)
    assert status == 429
    assert json.loads(raw)["error"] == {"code": 429, "message": json.loads(raw)["error"]["message"], "status": "RESOURCE_EXHAUSTED"}


# --------------------------------------------------------------------------- routing & metadata


async def test_model_lists_and_unknown_paths(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    async with http.get(fake.url + "/v1/models", headers={"anthropic-version": "2023-06-01"}) as resp:
        body = await resp.json()
        assert body["data"][0]["type"] == "model" and body["has_more"] is False
    async with http.get(fake.url + "/v1/models") as resp:
        assert (await resp.json())["object"] == "list"
    async with http.get(fake.url + "/v1beta/models") as resp:
        assert (await resp.json())["models"][0]["name"].startswith("models/")
    async with http.post(fake.url + "/v1/nope", json={}) as resp:
        assert resp.status == 404 and "error" in await resp.json()
    async with http.get(fake.url + "/api/nope") as resp:
        assert resp.status == 404 and isinstance((await resp.json())["error"], str)
    fake.script_meta(Error(500))
    async with http.get(fake.url + "/api/tags") as resp:
        assert resp.status == 500


async def test_requests_are_recorded(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    await post(http, fake.url + "/v1/messages?beta=true", ANTHROPIC_BODY, headers={"X-Api-Key": "sk-test"})
    rec = fake.requests[-1]
    assert (rec.method, rec.path, rec.query, rec.vendor, rec.op) == ("POST", "/v1/messages", {"beta": "true"}, "anthropic", "generate")
    assert rec.headers["x-api-key"] == "sk-test" and rec.headers["X-API-KEY"] == "sk-test"
    assert rec.json == ANTHROPIC_BODY and json.loads(rec.body) == ANTHROPIC_BODY
    assert rec.model == "claude-haiku-4-5" and rec.stream is False


async def test_script_order_then_default(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Text("one"), Text("two"))
    answers = [json.loads((await post(http, fake.url + "/api/chat", {**OLLAMA_BODY, "stream": False}))[2]) for _ in range(3)]
    assert [a["message"]["content"] for a in answers] == ["one", "two", "Hello from ollama"]


# --------------------------------------------------------------------------- failure behaviours


async def test_garbage_and_raw(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Garbage(), Raw(418, b"teapot", {"Content-Type": "text/plain", "X-Odd": "1"}))
    status, ctype, raw = await post(http, fake.url + "/v1/chat/completions", OPENAI_BODY)
    assert (status, ctype, raw) == (200, "application/json", b"\x00not json{{")
    async with http.post(fake.url + "/v1/chat/completions", json=OPENAI_BODY) as resp:
        assert resp.status == 418 and resp.headers["X-Odd"] == "1" and await resp.read() == b"teapot"


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_after_breaks_the_client(fake: FakeUpstream, http: aiohttp.ClientSession, stream: bool) -> None:
    fake.script(ResetAfter(40))
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)):
        async with http.post(fake.url + "/v1/messages", json={**ANTHROPIC_BODY, "stream": stream}) as resp:
            assert resp.status == 200
            await resp.read()
    assert fake.disconnects == 0  # we cut it, the client did not go away


async def test_stall_times_out_and_counts_disconnect(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Stall(5))
    with pytest.raises(TimeoutError):
        await post(http, fake.url + "/v1/chat/completions", OPENAI_BODY, timeout=aiohttp.ClientTimeout(total=0.2))
    await fake.wait_disconnect(timeout=2)
    assert fake.disconnects == 1
    await fake.wait_idle()


async def test_stall_then_answers(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Stall(0.1, then=Text("late")))
    _, _, raw = await post(http, fake.url + "/api/chat", {**OLLAMA_BODY, "stream": False})
    assert json.loads(raw)["message"]["content"] == "late"


async def test_stall_mid_stream(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(StallMidStream(after_chunks=2, seconds=5))
    async with http.post(fake.url + "/v1/messages", json={**ANTHROPIC_BODY, "stream": True}) as resp:
        assert resp.status == 200
        first = await resp.content.readuntil(b"\n\n")
        assert first.startswith(b"event: message_start")
        await resp.content.readuntil(b"\n\n")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await resp.content.readuntil(b"\n\n")
    await fake.wait_disconnect(timeout=2)


async def test_stall_mid_stream_closes_unfinished(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(StallMidStream(after_chunks=1, seconds=0.05))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, fake.url + "/v1/chat/completions", {**OPENAI_BODY, "stream": True})


async def test_drip_paces_events(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Drip(0.05, answer=Text("a b c")))
    loop = asyncio.get_running_loop()
    arrivals = []
    async with http.post(fake.url + "/api/chat", json=OLLAMA_BODY) as resp:
        async for _line in resp.content:
            arrivals.append(loop.time())
    assert len(arrivals) == 4 and arrivals[-1] - arrivals[0] >= 0.12


async def test_error_mid_stream(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(ErrorMidStream(after_chunks=3))
    _, _, raw = await post(http, fake.url + "/v1/messages", {**ANTHROPIC_BODY, "stream": True})
    event, data = sse_events(raw)[-1]
    assert event == "error" and json.loads(data)["error"]["type"] == "overloaded_error"


async def test_client_abort_mid_stream_is_counted(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    fake.script(Drip(0.05, answer=Text(TEXT)))
    async with http.post(fake.url + "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}) as resp:
        await resp.content.readuntil(b"\n\n")
        resp.close()  # hang up mid-stream
    await fake.wait_disconnect(timeout=2)
    await fake.wait_idle()
    assert fake.disconnects == 1 and fake.in_flight == 0
    async with asyncio.timeout(2):  # the server side of the hung-up connection goes away too
        while fake.open_connections:
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- official SDKs


async def test_anthropic_sdk(fake: FakeUpstream) -> None:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="x", max_retries=0)
    try:
        fake.script(Text(TEXT), ToolCall([WEATHER], text="Checking."), Error(429, headers={"retry-after": "0"}))
        msg = await client.messages.create(**ANTHROPIC_BODY)
        assert msg.content[0].text == TEXT and msg.stop_reason == "end_turn" and msg.usage.output_tokens == 9

        async with client.messages.stream(**ANTHROPIC_BODY) as stream:
            final = await stream.get_final_message()
        assert final.content[0].text == "Checking."
        assert final.content[1].type == "tool_use" and final.content[1].input == WEATHER[1]
        assert final.stop_reason == "tool_use" and final.usage.input_tokens == 12

        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(**ANTHROPIC_BODY)
        assert info.value.request_id and info.value.body["error"]["type"] == "rate_limit_error"

        async with client.messages.stream(**ANTHROPIC_BODY) as stream:
            assert await stream.get_final_text() == "Hello from anthropic"
        # anthropic 2.x sends api_key as "Authorization: Bearer"; older SDKs used X-Api-Key
        headers = fake.requests[-1].headers
        assert headers.get("x-api-key") == "x" or headers.get("authorization") == "Bearer x"
        assert "anthropic-version" in headers
    finally:
        await client.close()


async def test_openai_sdk(fake: FakeUpstream) -> None:
    openai = pytest.importorskip("openai")
    client = openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="x", max_retries=0)
    try:
        fake.script(Text(TEXT), ToolCall([WEATHER]), Error(429))
        done = await client.chat.completions.create(**OPENAI_BODY)
        assert done.choices[0].message.content == TEXT and done.usage.total_tokens == 21

        stream = await client.chat.completions.create(**OPENAI_BODY, stream=True, stream_options={"include_usage": True})
        args, usage = "", None
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    args += tc.function.arguments or ""
        assert json.loads(args) == WEATHER[1] and usage is not None and usage.prompt_tokens == 12

        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(**OPENAI_BODY)
        assert info.value.code == "rate_limit_exceeded"

        stream = await client.chat.completions.create(**OPENAI_BODY, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "Hello from openai"
        assert fake.requests[-1].headers["authorization"] == "Bearer x"
    finally:
        await client.close()
