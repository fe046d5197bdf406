"""The wire-format codecs: requests, responses, errors and streams, each way, per format.
Streams written by our encoders are also read back by the official SDKs' own parsers."""

from __future__ import annotations

import json
from typing import Any

import pytest

try:  # the SDKs installed here ride on httpx2, older ones on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

from trooper.conversation import (
    ApiError,
    BadRequest,
    BlockStart,
    BlockStop,
    Conversation,
    ImageBlock,
    Message,
    Response,
    Sampling,
    StreamEnd,
    StreamStart,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    Tool,
    ToolChoice,
    ToolInputDelta,
    ToolResultBlock,
    ToolUseBlock,
    UpstreamError,
    Usage,
)
from trooper.formats import anthropic, codec, ollama, openai
from trooper.formats.framing import NDJSON, SSE, Framer, sse_messages
from trooper.formats.images import parse_data_url
from trooper.formats.sse import sse_comment, sse_event

PNG = "iVBORw0KGgoAAAANSUhEUg=="


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def feed_all(decoder: Any, data: bytes, step: int | None = None) -> list[Any]:
    events: list[Any] = []
    if step is None:
        events += decoder.feed(data)
    else:
        for start in range(0, len(data), step):
            events += decoder.feed(data[start : start + step])
    events += decoder.close()
    return events


# A conversation with everything: system, images both ways, thinking, a tool round trip.
CONVERSATION = Conversation(
    model="client-model",
    system="You are terse.",
    messages=(
        Message("user", (TextBlock("What is in this image?"), ImageBlock("image/png", PNG), ImageBlock(url="https://x.test/a.jpg"))),
        Message("assistant", (ThinkingBlock("Let me look.", "sig-1"), TextBlock("Checking."), ToolUseBlock("toolu_1", "lookup", {"q": "cat"}))),
        Message("user", (ToolResultBlock("toolu_1", (TextBlock("a cat"),), name="lookup"), TextBlock("And now?"))),
    ),
    tools=(Tool("lookup", "Look something up", {"type": "object", "properties": {"q": {"type": "string"}}}),),
    tool_choice=ToolChoice("auto", parallel=False),
    sampling=Sampling(max_tokens=300, temperature=0.2, top_p=0.9, top_k=40, stop=("END",), seed=7),
    stream=True,
    extra={"metadata": {"user_id": "u1"}},
)

# ---------------------------------------------------------------- Anthropic requests


ANTHROPIC_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Be kind."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "sunny"}], "is_error": False},
            ],
        },
        {"role": "user", "content": "Thanks!"},
    ],
    "tools": [
        {"name": "weather", "description": "Weather by city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "temperature": 0.5,
    "top_k": 10,
    "stop_sequences": ["\n\nHuman:"],
    "stream": True,
    "metadata": {"user_id": "abc"},
    "x_force_local": True,
}


def test_anthropic_decode_request() -> None:
    conversation = anthropic.decode_request(body(ANTHROPIC_REQUEST))
    assert conversation.model == "claude-sonnet-4-5"
    assert conversation.system == "Be brief.\n\nBe kind."
    assert conversation.messages == (
        Message(
            "user",
            (
                TextBlock("Look:"),
                ImageBlock("image/png", PNG),
                ImageBlock(url="https://x.test/b.png"),
                TextBlock("[document omitted]"),
            ),
        ),
        Message("assistant", (ThinkingBlock("hmm", "sig"), TextBlock("Let me check."), ToolUseBlock("toolu_01", "weather", {"city": "Paris"}))),
        # The tool result and the next user turn merge: roles alternate in the canonical model.
        Message("user", (ToolResultBlock("toolu_01", (TextBlock("sunny"),), name="weather"), TextBlock("Thanks!"))),
    )
    assert conversation.tools == (Tool("weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}}),)
    assert conversation.tool_choice == ToolChoice("auto", "", parallel=False)
    assert conversation.sampling == Sampling(max_tokens=1024, temperature=0.5, top_k=10, stop=("\n\nHuman:",))
    assert conversation.stream is True
    assert conversation.extra == {"metadata": {"user_id": "abc"}, "x_force_local": True}


def test_anthropic_decode_request_string_content_and_tool_result_forms() -> None:
    conversation = anthropic.decode_request(
        body(
            {
                "model": "m",
                "max_tokens": 5,
                "system": "plain",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": "boom", "is_error": True},
                            {"type": "tool_result", "tool_use_id": "u"},
                        ],
                    },
                ],
                "tool_choice": {"type": "tool", "name": "f"},
            }
        )
    )
    assert conversation.system == "plain"
    assert conversation.messages[0] == Message("user", (TextBlock("hi"),))
    assert conversation.messages[2].content == (
        ToolResultBlock("t", (TextBlock("boom"),), is_error=True, name="f"),
        ToolResultBlock("u", ()),
    )
    assert conversation.tool_choice == ToolChoice("tool", "f")
    assert conversation.stream is False
    assert conversation.extra == {}


def test_anthropic_encode_request() -> None:
    sent = json.loads(anthropic.encode_request(CONVERSATION, "claude-haiku-4-5"))
    assert sent == {
        "model": "claude-haiku-4-5",
        "max_tokens": 300,
        "system": "You are terse.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Let me look.", "signature": "sig-1"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]},
                    {"type": "text", "text": "And now?"},
                ],
            },
        ],
        "tools": [{"name": "lookup", "description": "Look something up", "input_schema": CONVERSATION.tools[0].input_schema}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "stream": True,
    }


def test_anthropic_encode_request_defaults_and_replacements() -> None:
    conversation = Conversation(
        model="m",
        messages=(
            Message("user", (TextBlock(""), TextBlock("hi"), ImageBlock(url="data:image/jpeg;base64,/9j/AA"))),
            Message("assistant", (ThinkingBlock("unsigned thought"), TextBlock("ok"))),
        ),
        tools=(Tool("bare"),),
    )
    sent = json.loads(anthropic.encode_request(conversation, "claude"))
    assert sent["max_tokens"] == anthropic.DEFAULT_MAX_TOKENS
    assert "stream" not in sent and "system" not in sent
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "hi"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AA"}},
    ]
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "[thinking omitted]"}, {"type": "text", "text": "ok"}]
    assert sent["tools"] == [{"name": "bare", "input_schema": {"type": "object", "properties": {}}}]


# ---------------------------------------------------------------- OpenAI requests


OPENAI_REQUEST = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/b.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "Thanks!"},
        {"role": "assistant", "content": "You're welcome."},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "weather"}},
    "parallel_tool_calls": False,
    "max_completion_tokens": 500,
    "max_tokens": 100,
    "temperature": 0.3,
    "top_p": 0.8,
    "stop": "STOP",
    "seed": 42,
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True}},
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u-1",
    "n": 1,
    "x_force_local": False,
}


def test_openai_decode_request() -> None:
    conversation = openai.decode_request(body(OPENAI_REQUEST))
    assert conversation.model == "gpt-4o"
    assert conversation.system == "Be brief.\n\nUse tools."
    assert conversation.messages == (
        Message("user", (TextBlock("Look:"), ImageBlock("image/png", PNG), ImageBlock(url="https://x.test/b.png"))),
        Message("assistant", (ToolUseBlock("call_1", "weather", {"city": "Paris"}), ToolUseBlock("call_2", "time", {}))),
        Message(
            "user",
            (
                ToolResultBlock("call_1", (TextBlock("sunny"),), name="weather"),
                ToolResultBlock("call_2", (TextBlock("noon"),), name="time"),
                TextBlock("Thanks!"),
            ),
        ),
        Message("assistant", (TextBlock("You're welcome."),)),
    )
    assert conversation.tools == (Tool("weather", "Weather", {"type": "object"}),)
    assert conversation.tool_choice == ToolChoice("tool", "weather", parallel=False)
    assert conversation.sampling == Sampling(
        max_tokens=500, temperature=0.3, top_p=0.8, stop=("STOP",), seed=42, response_format={"type": "object"}
    )
    assert conversation.stream is True
    assert conversation.extra == {"stream_options": {"include_usage": True}, "user": "u-1", "n": 1, "x_force_local": False}


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, ToolChoice("auto")),
        ("none", None, ToolChoice("none")),
        ("required", True, ToolChoice("any")),
        (None, False, ToolChoice("auto", parallel=False)),
        (None, None, None),
    ],
)
def test_openai_decode_tool_choice(tool_choice: Any, parallel: Any, expected: ToolChoice | None) -> None:
    request: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    assert openai.decode_request(body(request)).tool_choice == expected


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [({"type": "json_object"}, "json"), ({"type": "text"}, None), (None, None)],
)
def test_openai_decode_response_format(response_format: Any, expected: Any) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": response_format}
    assert openai.decode_request(body(request)).sampling.response_format == expected


def test_openai_decode_request_consecutive_roles_merge() -> None:
    conversation = openai.decode_request(
        body(
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "input_audio", "input_audio": {}}]},
                    {"role": "assistant", "content": "c"},
                    {"role": "assistant", "content": [{"type": "text", "text": "d"}, {"type": "refusal", "refusal": "no"}]},
                ],
                "stop": ["x", "y"],
                "max_tokens": 9,
            }
        )
    )
    assert conversation.messages == (
        Message("user", (TextBlock("a"), TextBlock("b"), TextBlock("[audio omitted]"))),
        Message("assistant", (TextBlock("c"), TextBlock("d"), TextBlock("no"))),
    )
    assert conversation.sampling.stop == ("x", "y")
    assert conversation.sampling.max_tokens == 9


def test_openai_encode_request() -> None:
    sent = json.loads(openai.encode_request(CONVERSATION, "gpt-4o-mini"))
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": "[thinking omitted]Checking.",
                "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"cat"}'}}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a cat"},
            {"role": "user", "content": "And now?"},
        ],
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "seed": 7,
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look something up", "parameters": CONVERSATION.tools[0].input_schema}}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_openai_encode_request_tool_only_assistant_and_formats() -> None:
    conversation = Conversation(
        model="m",
        messages=(
            Message("user", (TextBlock("hi"),)),
            Message("assistant", (ToolUseBlock("c1", "f", {}),)),
            Message("user", (ToolResultBlock("c1", (TextBlock("a"), ImageBlock("image/png", PNG))),)),
        ),
        tool_choice=ToolChoice("tool", "f"),
        sampling=Sampling(response_format={"type": "object"}),
    )
    sent = json.loads(openai.encode_request(conversation, "m"))
    assert sent["messages"][1] == {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "[image omitted]"}],
    }
    assert len(sent["messages"]) == 3  # no empty user message after the tool results
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "parallel_tool_calls" not in sent and "stream" not in sent and "stream_options" not in sent
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}}


@pytest.mark.parametrize(("model", "field"), [("gpt-4o-mini", "max_tokens"), ("o3-mini", "max_completion_tokens"), ("gpt-5", "max_completion_tokens")])
def test_openai_reasoning_models_get_max_completion_tokens(model: str, field: str) -> None:
    """OpenAI's reasoning models refuse max_tokens; everything else (and most compatible servers) takes it."""
    sent = json.loads(openai.encode_request(Conversation("m", CONVERSATION.messages, sampling=Sampling(max_tokens=64)), model))
    assert sent[field] == 64
    other = ({"max_tokens", "max_completion_tokens"} - {field}).pop()
    assert other not in sent


def test_anthropic_structured_output_both_ways() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    sent = json.loads(anthropic.encode_request(Conversation("m", CONVERSATION.messages, sampling=Sampling(response_format=schema)), "m"))
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
               "output_config": {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}}
    assert anthropic.decode_request(body(request)).sampling.response_format == schema
    # Plain JSON mode has no Anthropic field: not sent (and logged).
    json_mode = Conversation("m", CONVERSATION.messages, sampling=Sampling(response_format="json"))
    assert "output_config" not in json.loads(anthropic.encode_request(json_mode, "m"))


# ---------------------------------------------------------------- Ollama requests


def test_ollama_encode_request() -> None:
    sent = json.loads(ollama.encode_request(CONVERSATION, "llama3.2"))
    assert sent == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is in this image?\n\n[image omitted: https://x.test/a.jpg]", "images": [PNG]},
            {
                "role": "assistant",
                "content": "Checking.",
                "thinking": "Let me look.",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "cat"}}, "id": "toolu_1"}],
            },
            {"role": "tool", "content": "a cat", "tool_name": "lookup", "tool_call_id": "toolu_1"},
            {"role": "user", "content": "And now?"},
        ],
        "stream": True,
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look something up", "parameters": CONVERSATION.tools[0].input_schema}}],
        "options": {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "num_predict": 300, "stop": ["END"], "seed": 7},
    }


def test_ollama_encode_request_minimal() -> None:
    conversation = Conversation(
        model="m",
        messages=(Message("user", (TextBlock("hi"),)), Message("assistant", (ToolUseBlock("c", "f", {"a": 1}),)), Message("user", (ToolResultBlock("c"),))),
        tools=(Tool("f"),),
        tool_choice=ToolChoice("none"),
        sampling=Sampling(response_format={"type": "object"}),
    )
    sent = json.loads(ollama.encode_request(conversation, "qwen3"))
    assert sent["stream"] is False
    assert "tools" not in sent and "options" not in sent
    assert sent["format"] == {"type": "object"}
    assert sent["messages"][2] == {"role": "tool", "content": "", "tool_name": "f", "tool_call_id": "c"}


def test_ollama_decode_request() -> None:
    conversation = ollama.decode_request(
        body(
            {
                "model": "llama3.2",
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "look", "images": [PNG]},
                    {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
                    {"role": "tool", "content": "done", "tool_name": "f"},
                ],
                "options": {"temperature": 0.1, "num_predict": 12, "num_ctx": 8192},
                "format": "json",
                "keep_alive": "5m",
            }
        )
    )
    assert conversation.system == "sys"
    assert conversation.stream is True  # Ollama's default
    assert conversation.messages[0] == Message("user", (TextBlock("look"), ImageBlock("image/png", PNG)))
    call = conversation.messages[1].content[0]
    assert isinstance(call, ToolUseBlock) and call.name == "f" and call.input == {"x": 1} and call.id.startswith("call_")
    assert conversation.messages[2].content == (ToolResultBlock(call.id, (TextBlock("done"),), name="f"),)
    assert conversation.sampling == Sampling(max_tokens=12, temperature=0.1, response_format="json")
    assert conversation.extra == {"keep_alive": "5m"}


# ---------------------------------------------------------------- malformed requests


@pytest.mark.parametrize("name", ["anthropic", "openai", "ollama"])
@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        (b'{"model": "m", "messages": [', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[1, 2]", "request body: expected object, got array"),
        (b'{"model": "m", "max_tokens": 5}', "messages: missing required field"),
        (b'{"model": "m", "max_tokens": 5, "messages": "hi"}', "messages: expected array, got str"),
        (b'{"max_tokens": 5, "messages": []}', "model: missing required field"),
        (b'{"model": 5, "max_tokens": 5, "messages": []}', "model: expected str, got int"),
    ],
)
def test_bad_requests_name_the_field(name: str, request_body: bytes, expected: str) -> None:
    with pytest.raises(BadRequest) as caught:
        codec(name).decode_request(request_body)
    assert expected in caught.value.message


def test_unknown_role() -> None:
    # Ollama's API takes four roles; the Anthropic and OpenAI decoders take any
    # (tests/test_lenient_decoding.py).
    with pytest.raises(BadRequest, match="messages.0.role: unknown role 'wizard'"):
        ollama.decode_request(b'{"model": "m", "messages": [{"role": "wizard", "content": "x"}]}')


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_missing_content(name: str) -> None:
    with pytest.raises(BadRequest, match=r"messages\.0\.content: missing required field"):
        codec(name).decode_request(b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user"}]}')


def test_anthropic_missing_max_tokens() -> None:
    with pytest.raises(BadRequest, match="max_tokens: missing required field"):
        anthropic.decode_request(b'{"model": "m", "messages": []}')


def test_anthropic_missing_block_field() -> None:
    request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}
    with pytest.raises(BadRequest, match=r"messages\.0\.content\.0\.tool_use_id: missing required field"):
        anthropic.decode_request(body(request))


def test_openai_bad_tool_arguments() -> None:
    request = {
        "model": "m",
        "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}],
    }
    with pytest.raises(BadRequest, match=r"messages\.0\.tool_calls\.0\.function\.arguments: invalid JSON"):
        openai.decode_request(body(request))
    request["messages"][0]["tool_calls"][0]["function"]["arguments"] = "[1]"  # type: ignore[index]
    with pytest.raises(BadRequest, match="must be a JSON object"):
        openai.decode_request(body(request))


# ---------------------------------------------------------------- whole responses


RESPONSE = Response(
    id="msg_abc",
    model="claude-sonnet-4-5",
    content=(ThinkingBlock("why", "sig"), TextBlock("Here."), ToolUseBlock("toolu_9", "weather", {"city": "Oslo"})),
    stop_reason="tool_use",
    usage=Usage(120, 30),
)


def test_anthropic_response_both_ways() -> None:
    sent = json.loads(anthropic.encode_response(RESPONSE))
    assert sent == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "why", "signature": "sig"},
            {"type": "text", "text": "Here."},
            {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 120, "output_tokens": 30},
    }
    assert anthropic.decode_response(json.dumps(sent).encode()) == RESPONSE


def test_anthropic_decode_response_lenient() -> None:
    upstream = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
            {"type": "redacted_thinking", "data": "x"},
            {"type": "text", "text": "hi", "citations": None},
        ],
        "stop_reason": "pause_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": None, "output_tokens": 3},
    }
    response = anthropic.decode_response(body(upstream))
    assert response.content == (TextBlock("[server_tool_use omitted]"), TextBlock("hi"))
    assert response.stop_reason == "end_turn"
    assert response.usage == Usage(100, 3)


def test_anthropic_encode_response_generates_id() -> None:
    sent = json.loads(anthropic.encode_response(Response(id="", model="llama3.2", content=(TextBlock("x"),), stop_reason="error")))
    assert sent["id"].startswith("msg_") and len(sent["id"]) == 28
    assert sent["stop_reason"] == "end_turn"


def test_openai_response_both_ways() -> None:
    sent = json.loads(openai.encode_response(RESPONSE))
    assert sent["id"] == "msg_abc"
    assert sent["object"] == "chat.completion"
    assert isinstance(sent["created"], int)
    assert sent["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Here.",
                "refusal": None,
                "tool_calls": [{"id": "toolu_9", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}],
                "reasoning_content": "why",
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }
    ]
    assert sent["usage"] == {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    decoded = openai.decode_response(json.dumps(sent).encode())
    assert decoded == Response("msg_abc", "claude-sonnet-4-5", (ThinkingBlock("why"), TextBlock("Here."), RESPONSE.content[2]), "tool_use", None, Usage(120, 30))


def test_openai_response_content_null_with_only_tool_calls() -> None:
    response = Response(id="", model="m", content=(ToolUseBlock("c", "f", {}),), stop_reason="tool_use")
    sent = json.loads(openai.encode_response(response))
    assert sent["id"].startswith("chatcmpl-")
    assert sent["choices"][0]["message"]["content"] is None
    assert "reasoning_content" not in sent["choices"][0]["message"]


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_openai_decode_response_stop_reasons(finish_reason: str | None, stop_reason: str) -> None:
    upstream = {"id": "x", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": finish_reason}]}
    assert openai.decode_response(body(upstream)).stop_reason == stop_reason


def test_openai_decode_response_compatible_server_quirks() -> None:
    upstream = {
        "model": "llama",
        "choices": [
            {
                "message": {
                    "content": "",
                    "reasoning": "thinking",
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"a": '}}],
                },
                "finish_reason": "stop",
            }
        ],
    }
    response = openai.decode_response(body(upstream))
    assert response.content[0] == ThinkingBlock("thinking")
    call = response.content[1]
    assert isinstance(call, ToolUseBlock) and call.id.startswith("call_") and call.input == {}
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage()


def test_ollama_response_both_ways() -> None:
    upstream = {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "", "thinking": "hm", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        "done": True,
        "done_reason": "stop",
        "total_duration": 123,
        "prompt_eval_count": 11,
        "eval_count": 7,
    }
    response = ollama.decode_response(body(upstream))
    assert response.id == ""
    assert response.content[0] == ThinkingBlock("hm")
    call = response.content[1]
    assert isinstance(call, ToolUseBlock) and call.name == "f" and call.input == {"a": 1} and call.id.startswith("call_")
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(11, 7)
    assert ollama.decode_response(ollama.encode_response(response)) == response
    text_only = ollama.decode_response(body({**upstream, "message": {"role": "assistant", "content": "hi"}, "done_reason": "length"}))
    assert text_only.content == (TextBlock("hi"),) and text_only.stop_reason == "max_tokens"


@pytest.mark.parametrize("name", ["anthropic", "gemini", "openai", "ollama"])
@pytest.mark.parametrize("garbage", [b"<html>502</html>", b"", b'{"choices": 5, "content": 5, "message": 5}'])
def test_unparsable_response_is_upstream_error(name: str, garbage: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        codec(name).decode_response(garbage)
    assert caught.value.reason == "bad_body"


# ---------------------------------------------------------------- errors

STATUSES = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "api_error": 500,
    "overloaded": 529,
    "timeout": 504,
}


@pytest.mark.parametrize("name", ["anthropic", "gemini", "openai", "ollama"])
@pytest.mark.parametrize("kind", sorted(STATUSES))
def test_errors_round_trip(name: str, kind: str) -> None:
    error = ApiError(STATUSES[kind], kind, f"something {kind}")  # type: ignore[arg-type]
    format_codec = codec(name)
    if name == "gemini" and kind == "request_too_large":
        error = ApiError(413, "invalid_request", error.message)  # Gemini's INVALID_ARGUMENT: no finer status
    assert format_codec.decode_error(error.status, format_codec.encode_error(error)) == error


def test_anthropic_error_shape() -> None:
    sent = json.loads(anthropic.encode_error(ApiError(429, "rate_limit", "slow down")))
    assert sent == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    upstream = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"}
    assert anthropic.decode_error(529, body(upstream)) == ApiError(529, "overloaded", "Overloaded")


def test_openai_error_shapes() -> None:
    sent = json.loads(openai.encode_error(ApiError(400, "invalid_request", "bad")))
    assert sent == {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
    bad_key = {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    assert openai.decode_error(401, body(bad_key)).kind == "authentication"
    quota = {"error": {"message": "quota", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    assert openai.decode_error(429, body(quota)).kind == "rate_limit"
    assert openai.decode_error(503, body({"error": "busy"})) == ApiError(503, "overloaded", "busy")


@pytest.mark.parametrize("name", ["anthropic", "gemini", "openai", "ollama"])
def test_decode_error_never_raises(name: str) -> None:
    format_codec = codec(name)
    long_html = b"<html>" + "é".encode() * 500 + b"</html>"
    error = format_codec.decode_error(502, long_html)
    assert error.kind == "api_error" and error.status == 502
    assert len(error.message) <= 200 and error.message.startswith("<html>")
    assert format_codec.decode_error(429, b"").kind == "rate_limit"
    assert format_codec.decode_error(401, b'{"error": 5}').kind == "authentication"
    assert format_codec.decode_error(418, b"\xff\xfe").kind == "invalid_request"


def test_ollama_error_shape() -> None:
    assert json.loads(ollama.encode_error(ApiError(404, "not_found", 'model "x" not found'))) == {"error": 'model "x" not found'}
    assert ollama.decode_error(404, b'{"error": "model \\"x\\" not found"}') == ApiError(404, "not_found", 'model "x" not found')


# ---------------------------------------------------------------- SSE


def read_sse(stream: bytes, step: int) -> list[tuple[bytes, bytes]]:
    """The events of an SSE stream arriving in chunks of `step` bytes: framed, then each
    frame parsed, then what is left at the end."""
    framer = Framer()
    frames = [f for start in range(0, len(stream), step) for f in framer.split(stream[start : start + step])]
    return [m for frame in [*frames, framer.rest()] for m in SSE.messages(frame)]


def test_sse_framing_and_parsing() -> None:
    stream = b": hello\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\nid: 5\nretry: 10\n\nevent: b\ndata:3\n\ndata: {\"x\": 1}\n\nevent: tail\ndata: t\n"
    expected = [(b"a", b"1\n2"), (b"b", b"3"), (b"", b'{"x": 1}'), (b"tail", b"t")]
    assert sse_messages(stream) == expected
    for step in (1, 2, 3, 7, len(stream)):
        assert read_sse(stream, step) == expected


def test_sse_parsing_drops_an_unterminated_line() -> None:
    assert read_sse(b"data: complete\n\ndata: {\"cut", 5) == [(b"", b"complete")]


def test_ndjson_framing_keeps_a_last_line_without_its_newline() -> None:
    framer = NDJSON.framer()
    assert framer.split(b'{"a": 1}\n{"b"') == [b'{"a": 1}\n']
    assert NDJSON.messages(framer.split(b': 2}\n\n{"c": 3}')[0]) == [(b"", b'{"b": 2}')]
    assert NDJSON.messages(framer.rest()) == [(b"", b'{"c": 3}')]


def test_sse_writers() -> None:
    assert sse_event(b"{}", b"ping") == b"event: ping\ndata: {}\n\n"
    assert sse_event(b"{}") == b"data: {}\n\n"
    assert sse_comment("a\nb") == b": a\n: b\n\n"
    assert sse_messages(sse_comment("keep-alive") + sse_event(b"1")) == [(b"", b"1")]


def test_parse_data_url() -> None:
    assert parse_data_url("data:image/png;base64,AAA") == ("image/png", "AAA")
    assert parse_data_url("data:text/plain,hello") is None
    assert parse_data_url("https://x") is None


# ---------------------------------------------------------------- Anthropic streams


def anthropic_upstream_stream() -> bytes:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n"

    return "".join(
        [
            event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_01",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-sonnet-4-5",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1},
                    },
                },
            ),
            event("ping", {"type": "ping"}),
            event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
            event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            event("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Héllo 👋"}}),
            ": a comment\n\n",
            event("future_event", {"type": "future_event", "x": 1}),
            event("content_block_stop", {"type": "content_block_stop", "index": 1}),
            event("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}}),
            event("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}}),
            event("content_block_stop", {"type": "content_block_stop", "index": 2}),
            event("message_delta", {"type": "message_delta", "delta": {"type": "message_delta", "stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 42}}),
            event("message_stop", {"type": "message_stop"}),
        ]
    ).encode()


ANTHROPIC_EVENTS = [
    StreamStart("msg_01", "claude-sonnet-4-5", 30),
    BlockStart(0, ThinkingBlock("")),
    ThinkingDelta(0, "Hmm."),
    BlockStop(0),
    BlockStart(1, TextBlock("")),
    TextDelta(1, "Héllo 👋"),
    BlockStop(1),
    BlockStart(2, ToolUseBlock("toolu_1", "weather")),
    ToolInputDelta(2, ""),
    ToolInputDelta(2, '{"city": "Pa'),
    ToolInputDelta(2, 'ris"}'),
    BlockStop(2),
    StreamEnd("tool_use", None, Usage(30, 42)),
]


@pytest.mark.parametrize("step", [None, 1, 5, 64])
def test_anthropic_stream_decoder(step: int | None) -> None:
    assert feed_all(anthropic.StreamDecoder(), anthropic_upstream_stream(), step) == ANTHROPIC_EVENTS


def test_anthropic_stream_decoder_skips_blocks_it_cannot_carry() -> None:
    stream = anthropic_upstream_stream().replace(b'"type": "thinking", "thinking": "", "signature": ""', b'"type": "redacted_thinking", "data": "x"')
    events = feed_all(anthropic.StreamDecoder(), stream)
    assert events[1] == BlockStart(0, TextBlock(""))  # renumbered: blocks stay contiguous
    assert events[-2] == BlockStop(1)
    server = anthropic_upstream_stream().replace(b'"type": "thinking", "thinking": "", "signature": ""', b'"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}')
    events = feed_all(anthropic.StreamDecoder(), server)
    assert events[1:4] == [BlockStart(0, TextBlock("")), TextDelta(0, "[server_tool_use omitted]"), BlockStop(0)]


def test_anthropic_stream_truncated() -> None:
    stream = anthropic_upstream_stream()
    decoder = anthropic.StreamDecoder()
    decoder.feed(stream[: stream.index(b"event: message_delta")])
    with pytest.raises(UpstreamError) as caught:
        decoder.close()
    assert caught.value.reason == "truncated"


def test_anthropic_stream_error_event() -> None:
    decoder = anthropic.StreamDecoder()
    stream = anthropic_upstream_stream()
    assert decoder.feed(stream[: stream.index(b"event: content_block_start")])[0] == ANTHROPIC_EVENTS[0]
    with pytest.raises(UpstreamError) as caught:
        decoder.feed(b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n')
    assert caught.value.reason == "stream_error"
    assert "Overloaded" in caught.value.detail


def test_anthropic_stream_bad_json() -> None:
    with pytest.raises(UpstreamError) as caught:
        anthropic.StreamDecoder().feed(b"event: message_start\ndata: {not json\n\n")
    assert caught.value.reason == "bad_stream"


def test_anthropic_stream_encoder_output() -> None:
    encoder = anthropic.StreamEncoder(CONVERSATION)
    assert encoder.content_type == "text/event-stream; charset=utf-8"
    out = b"".join(encoder.encode(e) for e in ANTHROPIC_EVENTS) + encoder.trailer()
    assert out.startswith(b"event: message_start\ndata: ")
    assert b"event: ping\n" in out
    assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    events = sse_messages(out)
    start = json.loads(events[0][1])
    assert start["message"] == {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 0},
    }
    message_delta = json.loads(events[-2][1])
    assert message_delta == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 30, "output_tokens": 42},
    }
    assert json.loads(events[8][1]) == {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}
    assert feed_all(anthropic.StreamDecoder(), out) == ANTHROPIC_EVENTS
    assert encoder.comment("hi") == b": hi\n\n"


# ---------------------------------------------------------------- OpenAI streams


def openai_upstream_stream(done: bool = True, usage: bool = True) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "system_fingerprint": "fp"}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], "usage": None}
        return f"data: {json.dumps(data)}\n\n"

    parts = [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Let me "}),
        chunk({"content": "check ✓."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        "event: keepalive\ndata: whatever\n\n",
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ]
    if usage:
        parts.append(f"data: {json.dumps({**base, 'choices': [], 'usage': {'prompt_tokens': 9, 'completion_tokens': 20, 'total_tokens': 29}})}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


OPENAI_EVENTS = [
    StreamStart("chatcmpl-1", "gpt-4o", 0),
    BlockStart(0, TextBlock("")),
    TextDelta(0, "Let me "),
    TextDelta(0, "check ✓."),
    BlockStop(0),
    BlockStart(1, ToolUseBlock("call_a", "weather")),
    ToolInputDelta(1, '{"city":'),
    ToolInputDelta(1, '"Oslo"}'),
    BlockStop(1),
    BlockStart(2, ToolUseBlock("call_b", "time")),
    ToolInputDelta(2, "{}"),
    BlockStop(2),
    StreamEnd("tool_use", None, Usage(9, 20)),
]


@pytest.mark.parametrize("step", [None, 1, 3, 100])
def test_openai_stream_decoder(step: int | None) -> None:
    assert feed_all(openai.StreamDecoder(), openai_upstream_stream(), step) == OPENAI_EVENTS


def test_openai_stream_without_done_is_complete_after_finish_reason() -> None:
    assert feed_all(openai.StreamDecoder(), openai_upstream_stream(done=False)) == OPENAI_EVENTS
    events = feed_all(openai.StreamDecoder(), openai_upstream_stream(done=False, usage=False))
    assert events[-1] == StreamEnd("tool_use", None, Usage())


def test_openai_stream_truncated() -> None:
    stream = openai_upstream_stream()
    decoder = openai.StreamDecoder()
    decoder.feed(stream[: stream.index(b'"finish_reason": "tool_calls"') - 200])
    with pytest.raises(UpstreamError) as caught:
        decoder.close()
    assert caught.value.reason == "truncated"
    with pytest.raises(UpstreamError):
        openai.StreamDecoder().close()


def test_openai_stream_error() -> None:
    decoder = openai.StreamDecoder()
    stream = openai_upstream_stream()
    assert decoder.feed(stream[: stream.index(b"data:", 10)]) == [OPENAI_EVENTS[0]]
    with pytest.raises(UpstreamError) as caught:
        decoder.feed(b'data: {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}\n\n')
    assert caught.value.reason == "stream_error"
    assert caught.value.detail == "Rate limit reached"
    with pytest.raises(UpstreamError) as caught:
        openai.StreamDecoder().feed(b"data: {oops}\n\n")
    assert caught.value.reason == "bad_stream"


def test_openai_stream_compatible_server_quirks() -> None:
    # No tool_calls index (each call has its own id), reasoning, "stop" after tool calls.
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return b"data: " + body({"id": "x", "model": "m", "choices": [{"delta": delta, "finish_reason": finish_reason}]}) + b"\n\n"

    stream = b"".join(
        [
            chunk({"reasoning_content": "think"}),
            chunk({"tool_calls": [{"id": "c1", "function": {"name": "a", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"id": "c2", "function": {"name": "b", "arguments": "{}"}}]}),
            chunk({}, "stop"),
            b"data: [DONE]\n\n",
        ]
    )
    assert feed_all(openai.StreamDecoder(), stream) == [
        StreamStart("x", "m"),
        BlockStart(0, ThinkingBlock("")),
        ThinkingDelta(0, "think"),
        BlockStop(0),
        BlockStart(1, ToolUseBlock("c1", "a")),
        ToolInputDelta(1, "{}"),
        BlockStop(1),
        BlockStart(2, ToolUseBlock("c2", "b")),
        ToolInputDelta(2, "{}"),
        BlockStop(2),
        StreamEnd("tool_use", None, Usage()),
    ]


def test_openai_stream_encoder_output() -> None:
    encoder = openai.StreamEncoder(CONVERSATION)  # extra has no stream_options: no usage chunk
    out = b"".join(encoder.encode(e) for e in ANTHROPIC_EVENTS) + encoder.trailer()
    assert out.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(data) for _, data in sse_messages(out) if data != b"[DONE]"]
    assert {c["id"] for c in chunks} == {"msg_01"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"reasoning_content": "Hmm."} in deltas
    assert {"content": "Héllo 👋"} in deltas
    assert {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": ""}}]} in deltas
    assert {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]} in deltas
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": None}]
    assert "usage" not in chunks[-1]


def test_openai_stream_encoder_usage_chunk() -> None:
    request = openai.decode_request(body({**OPENAI_REQUEST, "stream_options": {"include_usage": True}}))
    encoder = openai.StreamEncoder(request)
    events = [StreamStart("", "gpt-4o"), BlockStart(0, TextBlock("")), TextDelta(0, "hi"), BlockStop(0), StreamEnd("max_tokens", None, Usage(3, 4))]
    out = b"".join(encoder.encode(e) for e in events) + encoder.trailer()
    chunks = [json.loads(data) for _, data in sse_messages(out) if data != b"[DONE]"]
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert feed_all(openai.StreamDecoder(), out)[-1] == StreamEnd("max_tokens", None, Usage(3, 4))


# ---------------------------------------------------------------- Ollama streams


def ollama_upstream_stream(done: bool = True) -> bytes:
    def line(message: dict[str, Any], **more: Any) -> str:
        return json.dumps({"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", **message}, "done": False, **more}) + "\n"

    lines = [
        line({"content": "", "thinking": "hmm"}),
        line({"content": "Hé"}),
        line({"content": "llo"}),
        line({"content": "", "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}, {"function": {"name": "time", "arguments": {}}}]}),
    ]
    if done:
        lines.append(line({"content": ""}, done=True, done_reason="stop", prompt_eval_count=12, eval_count=34, total_duration=1))
    return "".join(lines).encode()


def without_ids(events: list[Any]) -> list[Any]:
    """Ollama tool calls carry no ids: we generate them. Blank them to compare."""
    return [BlockStart(e.index, ToolUseBlock("", e.block.name)) if type(e) is BlockStart and type(e.block) is ToolUseBlock else e for e in events]


OLLAMA_EVENTS = [
    StreamStart("", "llama3.2"),
    BlockStart(0, ThinkingBlock("")),
    ThinkingDelta(0, "hmm"),
    BlockStop(0),
    BlockStart(1, TextBlock("")),
    TextDelta(1, "Hé"),
    TextDelta(1, "llo"),
    BlockStop(1),
    BlockStart(2, ToolUseBlock("", "weather")),
    ToolInputDelta(2, '{"city":"Oslo"}'),
    BlockStop(2),
    BlockStart(3, ToolUseBlock("", "time")),
    ToolInputDelta(3, "{}"),
    BlockStop(3),
    StreamEnd("tool_use", None, Usage(12, 34)),
]


@pytest.mark.parametrize("step", [None, 1, 4, 50])
def test_ollama_stream_decoder(step: int | None) -> None:
    events = feed_all(ollama.StreamDecoder(), ollama_upstream_stream(), step)
    assert without_ids(events) == OLLAMA_EVENTS
    ids = [e.block.id for e in events if type(e) is BlockStart and type(e.block) is ToolUseBlock]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2


def test_ollama_stream_last_line_without_newline() -> None:
    stream = ollama_upstream_stream().rstrip(b"\n").replace(b"\n", b"\r\n")
    assert without_ids(feed_all(ollama.StreamDecoder(), stream)) == OLLAMA_EVENTS


def test_ollama_stream_truncated_and_errors() -> None:
    decoder = ollama.StreamDecoder()
    decoder.feed(ollama_upstream_stream(done=False))
    with pytest.raises(UpstreamError) as caught:
        decoder.close()
    assert caught.value.reason == "truncated"
    with pytest.raises(UpstreamError) as caught:
        ollama.StreamDecoder().feed(b'{"error": "model runner has unexpectedly stopped"}\n')
    assert caught.value.reason == "stream_error" and "unexpectedly" in caught.value.detail
    with pytest.raises(UpstreamError) as caught:
        ollama.StreamDecoder().feed(b"{nope}\n")
    assert caught.value.reason == "bad_stream"


def test_ollama_stream_encoder() -> None:
    encoder = ollama.StreamEncoder(CONVERSATION)
    assert encoder.content_type == "application/x-ndjson"
    out = b"".join(encoder.encode(e) for e in ANTHROPIC_EVENTS) + encoder.trailer()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["message"] == {"role": "assistant", "content": "", "thinking": "Hmm."}
    assert lines[1]["message"] == {"role": "assistant", "content": "Héllo 👋"}
    assert lines[2]["message"]["tool_calls"] == [{"function": {"name": "weather", "arguments": {"city": "Paris"}}, "id": "toolu_1"}]
    assert lines[-1]["done"] is True and lines[-1]["prompt_eval_count"] == 30 and lines[-1]["eval_count"] == 42
    assert all(line["done"] is False for line in lines[:-1])
    assert feed_all(ollama.StreamDecoder(), out)[-1] == StreamEnd("tool_use", None, Usage(30, 42))


# ---------------------------------------------------------------- the official SDKs read our output


def sdk_transport(payload: bytes, content_type: str, status: int = 200) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=payload, headers={"content-type": content_type})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_anthropic_sdk_reads_our_stream() -> None:
    import anthropic as sdk

    encoder = anthropic.StreamEncoder(CONVERSATION)
    payload = b"".join(encoder.encode(e) for e in ANTHROPIC_EVENTS) + encoder.comment("keep-alive") + encoder.trailer()
    client = sdk.Anthropic(api_key="k", base_url="http://trooper.test", http_client=sdk_transport(payload, encoder.content_type))
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Héllo 👋"
    assert message.id == "msg_01"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (30, 42)


def test_anthropic_sdk_reads_our_response_and_error() -> None:
    import anthropic as sdk

    client = sdk.Anthropic(api_key="k", base_url="http://trooper.test", http_client=sdk_transport(anthropic.encode_response(RESPONSE), "application/json"))
    message = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.content[1].text == "Here."  # type: ignore[union-attr]
    error = anthropic.encode_error(ApiError(429, "rate_limit", "slow down"))
    client = sdk.Anthropic(api_key="k", base_url="http://trooper.test", max_retries=0, http_client=sdk_transport(error, "application/json", 429))
    with pytest.raises(sdk.RateLimitError) as caught:
        client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["message"] == "slow down"  # type: ignore[index]


def test_openai_sdk_reads_our_stream() -> None:
    import openai as sdk

    request = openai.decode_request(body({**OPENAI_REQUEST, "stream_options": {"include_usage": True}}))
    encoder = openai.StreamEncoder(request)
    payload = encoder.comment("keep-alive") + b"".join(encoder.encode(e) for e in ANTHROPIC_EVENTS) + encoder.trailer()
    client = sdk.OpenAI(api_key="k", base_url="http://trooper.test/v1", http_client=sdk_transport(payload, encoder.content_type))
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        completion = stream.get_final_completion()
    message = completion.choices[0].message
    assert message.content == "Héllo 👋"
    assert message.tool_calls is not None and message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 72


def test_openai_sdk_reads_our_response_and_error() -> None:
    import openai as sdk

    client = sdk.OpenAI(api_key="k", base_url="http://trooper.test/v1", http_client=sdk_transport(openai.encode_response(RESPONSE), "application/json"))
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Here."
    error = openai.encode_error(ApiError(401, "authentication", "bad key"))
    client = sdk.OpenAI(api_key="k", base_url="http://trooper.test/v1", max_retries=0, http_client=sdk_transport(error, "application/json", 401))
    with pytest.raises(sdk.AuthenticationError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "invalid_api_key"
