"""Accept what the API accepts: the Anthropic (and OpenAI Chat) decoder never rejects a role,
block type or field merely because Trooper has no model for it. On the fast path the client's bytes go
upstream untouched (query string, anthropic-* headers, User-Agent and the key's form
included); translation maps a mid-conversation system message into the system prompt and
refuses by name what it cannot carry. The request Claude Code 2.1 sends
(tests/data/claude_code/, captured from the real CLI) is the first case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text
from trooper import __version__
from trooper.conversation import BadRequest, Message, TextBlock, ToolResultBlock
from trooper.formats import anthropic, openai
from trooper.signals.tokens import estimate_conversation
from trooper.stages.normalize import agent_session

CAPTURE = Path(__file__).parent / "data" / "claude_code"
CLAUDE_CODE_BODY = (CAPTURE / "first_request.body.json").read_bytes()
CLAUDE_CODE_REQUEST = json.loads((CAPTURE / "first_request.json").read_text())["requests"][1]

# A request carrying what this code has no model for: a role, block types (one inside a
# tool result), a system block type, and fields on known blocks.
UNKNOWN_PARTS = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "hologram_prompt", "id": "h1"}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Look at this.", "citations_future": [1]},
            {"type": "hologram", "data": "AAAA"},
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "scan", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "scanned"}, {"type": "hologram", "data": "BB"}]}]},
        {"role": "oracle", "content": "A role from the future."},
        {"role": "user", "content": "What do you see?"},
    ],
    "brand_new_option": {"level": 3},
}


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


# --- the decoder ---


def test_claude_code_first_request_decodes() -> None:
    conversation = anthropic.decode_request(CLAUDE_CODE_BODY)
    assert conversation.untranslatable == ()
    assert [m.role for m in conversation.messages] == ["user"]
    first_user = conversation.messages[0]
    assert first_user.content[-1] == TextBlock("Create hello.txt saying hello")
    assert first_user.content[0].text.startswith("<system-reminder>")  # type: ignore[union-attr]
    # The billing line, the system prompt and the mid-conversation system message (the
    # agent and skill catalogues) make the system prompt, in that order.
    assert conversation.system.startswith("x-anthropic-billing-header:")
    assert conversation.system.index("interactive agent") < conversation.system.index("Available agent types for the Agent tool:")
    assert len(conversation.tools) == 24 and "Write" in {t.name for t in conversation.tools}
    # The README's figures: the tools alone ~17k tokens, the whole request ~20k.
    whole = estimate_conversation(conversation)
    assert 16_000 <= whole - estimate_conversation(msgspec.structs.replace(conversation, tools=())) <= 18_000
    assert 19_000 <= whole <= 21_000
    assert {"thinking", "context_management", "metadata"} <= conversation.extra.keys()
    assert conversation.stream


def test_unknown_roles_blocks_and_fields_decode_and_are_named() -> None:
    conversation = anthropic.decode_request(encoded(UNKNOWN_PARTS))
    assert conversation.untranslatable == (
        "system.1: block type 'hologram_prompt'",
        "messages.0.content.1: content block type 'hologram'",
        "messages.2.content.0.content.1: content block type 'hologram'",
        "messages.3: role 'oracle'",
    )
    assert conversation.system == "Be brief."
    assert conversation.messages[0] == Message("user", (TextBlock("Look at this."),))
    result = conversation.messages[2].content[0]
    assert type(result) is ToolResultBlock and result.content == (TextBlock("scanned"),)
    assert conversation.messages[-1].text() == "What do you see?"
    assert conversation.extra == {"brand_new_option": {"level": 3}}


def test_a_newer_tool_choice_is_untranslatable_not_a_400() -> None:
    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "auto_plus"}}
    conversation = anthropic.decode_request(encoded(request))
    assert conversation.tool_choice is None
    assert conversation.untranslatable == ("tool_choice: type 'auto_plus'",)


def test_a_mid_conversation_system_message_joins_the_system_prompt() -> None:
    conversation = anthropic.decode_request(encoded({
        "model": "m", "max_tokens": 5, "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "Tools: Write."}]},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
    }))
    assert conversation.untranslatable == ()
    assert conversation.system == "You are terse.\n\nTools: Write."
    assert [m.role for m in conversation.messages] == ["user", "assistant", "user"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([{"type": "hologram"}, {"type": "text"}], "messages.0.content.1.text: missing required field"),
        ([{"type": "hologram"}, {"type": "tool_result"}], "messages.0.content.1.tool_use_id: missing required field"),
        ([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "hologram"}, {"type": "image"}]}],
         "messages.0.content.0.content.1.source: missing required field"),
        ([{"text": "no type"}], "messages.0.content.0.type: missing required field"),
    ],
)
def test_a_known_block_with_a_bad_field_is_still_a_400_naming_it(content: list[Any], expected: str) -> None:
    with pytest.raises(BadRequest) as caught:
        anthropic.decode_request(encoded({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]}))
    assert caught.value.message == expected


# --- the agent's own session id ---


def test_the_agents_session_id_names_the_session() -> None:
    plain = anthropic.decode_request(b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}')
    assert agent_session({"x-claude-code-session-id": "c0ffee-1"}, plain) == "c0ffee-1"
    assert agent_session({"session_id": "codex-9"}, plain) == "codex-9"  # the Codex CLI
    assert agent_session({}, plain) == ""
    from_metadata = anthropic.decode_request(CLAUDE_CODE_BODY)  # 2.x: a JSON object in metadata.user_id
    assert agent_session({}, from_metadata) == "c04878fb-9c84-4b4f-928a-75ca0fb52884"
    legacy = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
              "metadata": {"user_id": "user_abc123_account_4f1a_session_5e6b7c8d-aaaa-bbbb-cccc-0123456789ab"}}
    assert agent_session({}, anthropic.decode_request(encoded(legacy))) == "5e6b7c8d-aaaa-bbbb-cccc-0123456789ab"


# --- through Trooper ---


def client_env(claude: FakeUpstream, ollama: FakeUpstream) -> dict[str, str]:
    """No configured Claude key: the client's own key goes up, in the client's form."""
    env = chain_env(claude=claude, ollama=ollama)
    del env["CLAUDE_API_KEY"]
    return env


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_claude_codes_request_goes_upstream_untouched(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Text("ok"))
    headers = {k: v for k, v in CLAUDE_CODE_REQUEST["headers"].items() if k.lower() not in ("x-api-key", "accept")}
    headers["Authorization"] = "Bearer sk-ant-oat01-subscription-token"
    async with run_trooper(client_env(claude, ollama)) as trooper:
        async with aiohttp.ClientSession() as http, http.head(trooper.url + "/") as response:
            assert response.status == 200  # Claude Code's HEAD / at start
        status, _, answer = await post(trooper.url + CLAUDE_CODE_REQUEST["path"], CLAUDE_CODE_BODY, headers)
    assert status == 200, answer
    sent = claude.generation_requests()[0]
    assert sent.body == CLAUDE_CODE_BODY
    assert sent.path == "/v1/messages" and sent.query == {"beta": "true"}
    for name in ("anthropic-beta", "anthropic-version", "anthropic-dangerous-direct-browser-access", "x-app",
                 "X-Claude-Code-Session-Id", "X-Stainless-Retry-Count"):
        assert sent.headers[name] == CLAUDE_CODE_REQUEST["headers"][name]
    assert sent.headers["user-agent"] == f"claude-cli/2.1.197 (external, sdk-cli) trooper/{__version__}"
    assert sent.headers["authorization"] == "Bearer sk-ant-oat01-subscription-token"
    assert "x-api-key" not in sent.headers


async def test_unknown_parts_go_upstream_byte_for_byte(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Text("I see a hologram."))
    body = encoded(UNKNOWN_PARTS)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-api03-client-key"}
    async with run_trooper(client_env(claude, ollama)) as trooper:
        status, _, answer = await post(trooper.url + "/v1/messages", body, headers)
    assert status == 200, answer
    assert json.loads(answer)["content"][0]["text"] == "I see a hologram."
    sent = claude.generation_requests()[0]
    assert sent.body == body
    assert sent.headers["x-api-key"] == "sk-ant-api03-client-key" and "authorization" not in sent.headers


async def test_translation_refuses_what_it_cannot_carry_by_name(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-trooper-force-local": "1"}
    async with run_trooper(client_env(claude, ollama)) as trooper:
        status, _, answer = await post(trooper.url + "/v1/messages", encoded(UNKNOWN_PARTS), headers)
    assert status == 400, answer
    error = json.loads(answer)["error"]
    assert error["type"] == "invalid_request_error"
    assert "system.1: block type 'hologram_prompt' (and 3 more) cannot be translated for ollama" in error["message"]
    assert ollama.generation_requests() == [] and claude.requests == []


async def test_translation_maps_a_mid_conversation_system_message(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Error(429, headers={"retry-after": "30"}))
    ollama.script(Text("Local answer."))
    body = encoded({
        "model": "claude-haiku-4-5", "max_tokens": 64, "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Plan the migration of the billing tables in three steps, with rollback notes."},
            {"role": "system", "content": "The user prefers PostgreSQL."},
        ],
    })
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-api03-client-key"}
    async with run_trooper(client_env(claude, ollama)) as trooper:
        status, response_headers, answer = await post(trooper.url + "/v1/messages?beta=true", body, headers)
    assert status == 200, answer
    assert response_headers["x-trooper-provider"] == "ollama"
    assert claude.generation_requests()[0].query == {"beta": "true"}
    local = ollama.generation_requests()[0]
    assert local.query == {}  # Anthropic's query string is Anthropic's
    assert local.json["messages"][0] == {"role": "system", "content": "You are terse.\n\nThe user prefers PostgreSQL."}
    assert [m["role"] for m in local.json["messages"]] == ["system", "user"]


async def test_passed_through_calls_keep_the_query_and_the_bearer_form(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01",
               "anthropic-beta": "token-counting-2024-11-01", "authorization": "Bearer sk-ant-oat01-subscription-token"}
    body = encoded({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "count me"}]})
    async with run_trooper(client_env(claude, ollama)) as trooper:
        status, _, answer = await post(trooper.url + "/v1/messages/count_tokens?beta=true", body, headers)
    assert status == 200, answer
    sent = claude.requests[-1]
    assert sent.path == "/v1/messages/count_tokens" and sent.query == {"beta": "true"}
    assert sent.headers["authorization"] == "Bearer sk-ant-oat01-subscription-token" and "x-api-key" not in sent.headers
    assert sent.headers["anthropic-beta"] == "token-counting-2024-11-01"


def test_without_thinking_changes_only_thinking_and_its_context_edits() -> None:
    from trooper.providers.anthropic import without_thinking

    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "adaptive"},
               "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}, {"type": "clear_tool_uses_20250919"}]}}
    amended = json.loads(without_thinking(encoded(request)) or b"null")
    assert amended == {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                       "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}
    assert without_thinking(encoded({"model": "m", "max_tokens": 5, "messages": []})) is None  # thinking wasn't on


# --- the OpenAI Chat Completions decoder, the same way ---

OPENAI_UNKNOWN_PARTS = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look at this."}, {"type": "hologram", "data": "AAAA"}]},
        {"role": "oracle", "content": "A role from the future."},
        {"role": "user", "content": "What do you see?"},
    ],
    "brand_new_option": True,
}


def test_openai_unknown_roles_and_parts_decode_and_are_named() -> None:
    conversation = openai.decode_request(encoded(OPENAI_UNKNOWN_PARTS))
    assert conversation.untranslatable == ("messages.1.content.1: content part type 'hologram'", "messages.2: role 'oracle'")
    assert conversation.system == "Be brief."
    assert [m.text() for m in conversation.messages] == ["Look at this.What do you see?"]


def test_openai_known_part_with_a_bad_field_is_still_a_400_naming_it() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": [{"type": "hologram"}, {"type": "image_url"}]}]}
    with pytest.raises(BadRequest) as caught:
        openai.decode_request(encoded(request))
    assert caught.value.message == "messages.0.content.1.image_url: missing required field"


async def test_openai_unknown_parts_go_upstream_byte_for_byte(openai_fake: FakeUpstream, ollama: FakeUpstream) -> None:
    openai_fake.script(Text("I see a hologram."))
    body = encoded(OPENAI_UNKNOWN_PARTS)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-test-openai-client-key"}
    env = chain_env(openai=openai_fake, ollama=ollama)
    async with run_trooper(env) as trooper:
        status, _, answer = await post(trooper.url + "/v1/chat/completions", body, headers)
        forced, _, refusal = await post(trooper.url + "/v1/chat/completions", body, {**headers, "x-trooper-force-local": "1"})
    assert status == 200, answer
    assert openai_fake.generation_requests()[0].body == body
    assert forced == 400, refusal
    assert "messages.1.content.1: content part type 'hologram' (and 1 more) cannot be translated for ollama" in json.loads(refusal)["error"]["message"]
    assert ollama.generation_requests() == []
