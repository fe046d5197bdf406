"""End to end: the official anthropic and openai SDKs talk to a real Trooper, which talks
to fake upstreams (real HTTP servers on loopback speaking each vendor's wire format)."""

from __future__ import annotations

import json

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Raw, Text

HISTORY = [
    {"role": "user", "content": "My project is called Bluebird. Remember it."},
    {"role": "assistant", "content": "Noted: Bluebird."},
    {"role": "user", "content": "What is my project called?"},
]


def quota_exhausted() -> tuple[Error, Error]:
    """A 429 that stays a 429 when retried (the retry honours retry-after: 0)."""
    return Error(429, headers={"retry-after": "0"}), Error(429, headers={"retry-after": "0"})


def anthropic_client(url: str, **kw) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=kw.pop("api_key", "client-key"), max_retries=0, **kw)


def openai_client(url: str, **kw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=kw.pop("api_key", "client-key"), max_retries=0, **kw)


# --- pass-through, each vendor ---


async def test_anthropic_sdk_passthrough_whole(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Text("Hello from Claude"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic_client(trooper.url)
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=HISTORY
        )
        message = await raw.parse()
    assert message.content[0].text == "Hello from Claude"
    assert message.stop_reason == "end_turn"
    assert raw.headers["x-trooper-provider"] == "claude"
    assert raw.headers["x-trooper-fallback-count"] == "0"
    assert raw.headers["x-trooper-summary"] == "claude (direct) ✓"
    sent = claude.requests[-1]
    assert sent.headers["x-api-key"] == "sk-ant-test-claude-key-0123456789"  # configured key wins
    assert sent.json["messages"] == HISTORY
    assert ollama.requests == []


async def test_anthropic_sdk_passthrough_stream(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Text("one two three four five", chunks=5))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic_client(trooper.url)
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HISTORY) as stream:
            texts = [text async for text in stream.text_stream]
            message = await stream.get_final_message()
            headers = stream.response.headers
    assert "".join(texts) == "one two three four five"
    assert message.content[0].text == "one two three four five"
    assert message.usage.output_tokens == 5
    assert headers["x-trooper-provider"] == "claude"


async def test_openai_sdk_passthrough_whole_and_stream(openai_fake: FakeUpstream, ollama: FakeUpstream) -> None:
    openai_fake.script(Text("Hi from GPT"), Text("streamed hi from GPT", chunks=4))
    async with run_trooper(chain_env(openai=openai_fake, ollama=ollama)) as trooper:
        client = openai_client(trooper.url)
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HISTORY)
        completion = raw.parse()
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=HISTORY, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert completion.choices[0].message.content == "Hi from GPT"
    assert raw.headers["x-trooper-provider"] == "openai"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed hi from GPT"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # Claude has no key here (none configured, the client's key isn't Anthropic's): skipped, not a fallback.
    assert raw.headers["x-trooper-fallback-count"] == "0"


async def test_fast_path_is_byte_exact(claude: FakeUpstream) -> None:
    """Same format both sides and no stage changed anything: bytes up and down untouched,
    unknown fields included."""
    request = b'{"model":"claude-haiku-4-5",  "max_tokens":5,"messages":[{"role":"user","content":"hi"}],"future_field":{"x":1}}'
    answer = (
        b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-haiku-4-5",'
        b'"content":[{"type":"text","text":"yo"}],"stop_reason":"end_turn","stop_sequence":null,'
        b'"usage":{"input_tokens":3,"output_tokens":1},"new_vendor_field":  true}'
    )
    claude.script(Raw(200, answer, {"content-type": "application/json", "request-id": "req_123"}))
    async with run_trooper(chain_env(claude=claude)) as trooper, aiohttp.ClientSession() as http:
        async with http.post(trooper.url + "/v1/messages", data=request,
                             headers={"content-type": "application/json", "anthropic-version": "2023-06-01",
                                      "anthropic-beta": "tools-2099-01-01"}) as resp:
            body = await resp.read()
            headers = resp.headers
    assert claude.requests[-1].body == request
    assert claude.requests[-1].headers["anthropic-beta"] == "tools-2099-01-01"
    assert body == answer
    assert headers["request-id"] == "req_123"
    assert headers["x-trooper-provider"] == "claude"


# --- fallback to the local model ---


async def test_claude_429_falls_back_to_ollama_whole(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(*quota_exhausted())
    ollama.script(Text("Your project is Bluebird."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic_client(trooper.url)
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=100, system="Be brief.", messages=HISTORY
        )
        message = await raw.parse()
    assert message.content[0].text == "Your project is Bluebird."
    assert message.usage.output_tokens > 0
    assert raw.headers["x-trooper-provider"] == "ollama"
    assert raw.headers["x-trooper-fallback-count"] == "1"
    assert raw.headers["x-trooper-decision"] == "ollama (fallback: rate_limit)"
    assert raw.headers["x-trooper-summary"] == "claude → ollama (rate_limit) | context ✓"
    assert raw.headers["x-trooper-fallback"] == "qwen2.5:3b"
    received = ollama.requests[-1].json
    assert received["model"] == "qwen2.5:3b"
    assert received["messages"] == [{"role": "system", "content": "Be brief."}, *HISTORY]


async def test_claude_429_falls_back_to_ollama_stream(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(*quota_exhausted())
    ollama.script(Text("Your project is Bluebird.", chunks=4))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic_client(trooper.url)
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=HISTORY) as stream:
            message = await stream.get_final_message()
            headers = stream.response.headers
    assert message.content[0].text == "Your project is Bluebird."
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    assert headers["x-trooper-provider"] == "ollama"
    assert headers["x-trooper-summary"] == "claude → ollama (rate_limit) | context ✓"
    assert ollama.requests[-1].json["stream"] is True
    assert [m["content"] for m in ollama.requests[-1].json["messages"]] == [m["content"] for m in HISTORY]


async def test_openai_sdk_fallback_stream_accumulates(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    """An OpenAI-SDK client whose requests go to Claude (translated), falling back to Ollama."""
    claude.script(Error(402, message="Your credit balance is too low"))
    ollama.script(Text("Bluebird, of course.", chunks=3))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = openai_client(trooper.url)
        async with client.chat.completions.stream(model="claude-haiku-4-5", messages=HISTORY) as stream:
            completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == "Bluebird, of course."
    assert completion.choices[0].finish_reason == "stop"
    assert claude.requests[-1].json["messages"] == HISTORY  # translated to Anthropic's shape
    assert ollama.requests[-1].json["messages"][-1] == HISTORY[-1]


async def test_openai_client_answered_by_claude_translated(claude: FakeUpstream) -> None:
    claude.script(Text("Translated hello"))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        client = openai_client(trooper.url)
        completion = await client.chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "system", "content": "Be kind."}, *HISTORY], max_tokens=50
        )
    assert completion.choices[0].message.content == "Translated hello"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    sent = claude.requests[-1].json
    assert sent["system"] == "Be kind."
    assert sent["max_tokens"] == 50
    assert sent["model"] == "claude-haiku-4-5"


async def test_credit_balance_400_falls_over_but_plain_400_does_not(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(
        Error(400, message="Your credit balance is too low to access the Anthropic API."),
        Error(400, message="messages: roles must alternate"),
    )
    ollama.script(Text("local answer"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        client = anthropic_client(trooper.url)
        raw = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
        assert raw.headers["x-trooper-decision"] == "ollama (fallback: credit_balance)"
        with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
            await client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
    assert len(ollama.requests) == 1


# --- errors surface in the client's own shape ---


async def test_401_is_never_masked(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Error(401, message="invalid x-api-key"), Error(401, message="invalid x-api-key"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        with pytest.raises(anthropic.AuthenticationError):
            await anthropic_client(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
        with pytest.raises(openai.AuthenticationError):
            await openai_client(trooper.url).chat.completions.create(model="claude-haiku-4-5", messages=HISTORY)
    assert ollama.requests == []


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [
        ("/v1/messages", b'{"model": "claude-haiku-4-5", "messages": [', "anthropic"),
        ("/v1/chat/completions", b"not json at all", "openai"),
        ("/v1/messages", b'{"model": "claude-haiku-4-5", "max_tokens": 5, "messages": "hello"}', "anthropic"),
        ("/v1/chat/completions", b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}', "openai"),
    ],
)
async def test_malformed_body_is_a_400_in_client_shape(claude: FakeUpstream, path: str, body: bytes, shape: str) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper, aiohttp.ClientSession() as http:
        async with http.post(trooper.url + path, data=body, headers={"content-type": "application/json"}) as resp:
            status, payload = resp.status, await resp.json()
    assert status == 400
    if shape == "anthropic":
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "invalid_request_error"
        message = payload["error"]["message"]
    else:
        assert payload["error"]["type"] == "invalid_request_error"
        message = payload["error"]["message"]
    assert message and "Traceback" not in message
    assert claude.requests == []


async def test_no_provider_reachable_is_a_503_listing_attempts(claude: FakeUpstream) -> None:
    claude.script(Error(529), Error(529))
    env = chain_env(claude=claude, OPENAI_URL="http://127.0.0.1:9/v1")  # OpenAI and Ollama: closed ports
    async with run_trooper(env) as trooper:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await anthropic_client(trooper.url).messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
        with pytest.raises(openai.InternalServerError) as caught_openai:
            await openai_client(trooper.url).chat.completions.create(model="gpt-4o-mini", messages=HISTORY)
    assert caught.value.status_code == 503
    message = caught.value.message
    assert "claude: 529 overloaded" in message
    assert "ollama: network" in message and "FALLBACK_URL" in message
    assert caught.value.response.headers["x-trooper-attempts"].startswith("claude=529")
    # No OPENAI_API_KEY: the OpenAI client's own key was tried on OpenAI.
    assert "openai: network: cannot connect to http://127.0.0.1:9/v1" in caught_openai.value.message


async def test_new_user_without_keys_or_ollama_gets_guidance() -> None:
    env = {"FALLBACK_URL": "http://127.0.0.1:9/api/chat", "LOCAL_EMBEDDED": "off"}  # and no embedded model
    async with run_trooper(env) as trooper, aiohttp.ClientSession() as http:
        async with http.post(trooper.url + "/v1/messages", json={"model": "claude-haiku-4-5", "max_tokens": 5,
                                                                   "messages": [{"role": "user", "content": "hi"}]}) as resp:
            payload = await resp.json()
    assert resp.status == 503
    message = payload["error"]["message"]
    assert "set CLAUDE_API_KEY" in message and "is Ollama running" in message


# --- keys, sessions, private fields ---


async def test_client_key_goes_to_its_own_vendor_only(claude: FakeUpstream, openai_fake: FakeUpstream, ollama: FakeUpstream) -> None:
    env = {"CLAUDE_URL": claude.url, "OPENAI_URL": openai_fake.url + "/v1", "FALLBACK_URL": ollama.url + "/api/chat"}
    claude.script(*quota_exhausted())
    async with run_trooper(env) as trooper:
        client = anthropic_client(trooper.url, api_key="sk-ant-client-own-key-123456")
        raw = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
    sent = claude.requests[-1].headers  # in the form the SDK sent it (2.x: Authorization: Bearer)
    assert sent.get("x-api-key", sent.get("authorization", "").removeprefix("Bearer ")) == "sk-ant-client-own-key-123456"
    assert openai_fake.requests == []  # an Anthropic key never goes to OpenAI
    assert raw.headers["x-trooper-provider"] == "ollama"
    assert raw.headers["x-trooper-fallback-count"] == "1"


async def test_session_header_and_force_local(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    ollama.script(Text("kept local"))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, aiohttp.ClientSession() as http:
        body = {"model": "claude-haiku-4-5", "max_tokens": 10, "x_force_local": True,
                "messages": [{"role": "user", "content": "Our payment vault uses key rotation."}]}
        async with http.post(trooper.url + "/v1/messages", json=body, headers={"X-Session-ID": "my-session"}) as resp:
            payload = await resp.json()
            headers = resp.headers
    assert payload["content"][0]["text"] == "kept local"
    assert headers["x-trooper-provider"] == "ollama"
    assert headers["x-trooper-decision"] == "ollama (forced_local)"
    assert headers["x-trooper-session"] == "my-session"
    assert claude.requests == []
    assert "x_force_local" not in ollama.requests[-1].body.decode()


async def test_session_is_derived_when_absent(claude: FakeUpstream) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper:
        client = anthropic_client(trooper.url)
        first = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY[:1])
        later = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=10, messages=HISTORY)
    assert first.headers["x-trooper-session"].startswith("auto-")
    assert first.headers["x-trooper-session"] == later.headers["x-trooper-session"]


# --- the rest of the HTTP surface ---


async def test_other_v1_paths_pass_through(claude: FakeUpstream) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper:
        client = anthropic_client(trooper.url)
        count = await client.messages.count_tokens(model="claude-haiku-4-5", messages=HISTORY)
    assert count.input_tokens > 0
    sent = claude.requests[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.headers["x-api-key"] == "sk-ant-test-claude-key-0123456789"
    assert "authorization" not in sent.headers  # the client's dummy key is not forwarded


async def test_health_and_models(claude: FakeUpstream) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper, aiohttp.ClientSession() as http:
        async with http.get(trooper.url + "/health") as resp:
            health = await resp.json()
        models = await openai_client(trooper.url).models.list()
        anthropic_models = await anthropic_client(trooper.url).models.list()
    assert health["status"] == "ok"
    assert [p["name"] for p in health["providers"]] == ["claude", "gemini", "openai", "ollama"]
    assert "sk-ant" not in json.dumps(health)
    assert {m.id for m in models.data} >= {"claude-haiku-4-5", "gpt-4o-mini", "qwen2.5:3b"}
    assert anthropic_models.data[0].id == "claude-haiku-4-5"
