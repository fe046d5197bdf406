"""The Gemini codec and provider: requests, answers, errors and streams in the shapes of
Google's generateContent reference. (Round trips over generated conversations and
streams are in test_formats_properties.py; SDK-level behaviour in test_matrix.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_formats import CONVERSATION, PNG, body, feed_all
from trooper.config import ProviderSettings
from trooper.conversation import (
    ApiError,
    BlockStart,
    BlockStop,
    Conversation,
    Message,
    Sampling,
    StreamEnd,
    StreamStart,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolChoice,
    ToolInputDelta,
    ToolResultBlock,
    ToolUseBlock,
    UpstreamError,
    Usage,
)
from trooper.formats import gemini
from trooper.providers.gemini import GeminiProvider

# ---------------------------------------------------------------- requests


def test_encode_request() -> None:
    sent = json.loads(gemini.encode_request(CONVERSATION, "gemini-2.0-flash"))
    assert sent == {
        "contents": [
            {"role": "user", "parts": [
                {"text": "What is in this image?"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"fileData": {"fileUri": "https://x.test/a.jpg", "mimeType": "image/jpeg"}},
            ]},
            {"role": "model", "parts": [
                {"text": "Let me look.", "thought": True},
                {"text": "Checking."},
                {"functionCall": {"name": "lookup", "args": {"q": "cat"}, "id": "toolu_1"}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "lookup", "response": {"content": "a cat"}, "id": "toolu_1"}},
                {"text": "And now?"},
            ]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "tools": [{"functionDeclarations": [
            {"name": "lookup", "description": "Look something up", "parametersJsonSchema": CONVERSATION.tools[0].input_schema},
        ]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 300, "stopSequences": ["END"], "seed": 7},
    }  # no model and no stream flag: both are in the URL; `metadata` is Anthropic's and stays behind


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("any"), {"mode": "ANY"}),
        (ToolChoice("tool", "lookup"), {"mode": "ANY", "allowedFunctionNames": ["lookup"]}),
        (ToolChoice("none"), {"mode": "NONE"}),
    ],
)
def test_tool_choice_both_ways(choice: ToolChoice, config: dict[str, Any]) -> None:
    conversation = Conversation("m", CONVERSATION.messages, tools=CONVERSATION.tools, tool_choice=choice)
    sent = gemini.encode_request(conversation, "m")
    assert json.loads(sent)["toolConfig"] == {"functionCallingConfig": config}
    assert gemini.decode_request(sent).tool_choice == choice


def test_response_format_and_empty_parts() -> None:
    conversation = Conversation(
        "m",
        (Message("user", (TextBlock("hi"), TextBlock(""))), Message("assistant", (TextBlock(""),)), Message("user", (TextBlock("json please"),))),
        sampling=Sampling(response_format={"type": "object"}),
    )
    sent = json.loads(gemini.encode_request(conversation, "m"))
    # Gemini rejects empty text parts and contents without parts.
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "user", "parts": [{"text": "json please"}]}]
    assert sent["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}
    json_mode = Conversation("m", conversation.messages, sampling=Sampling(response_format="json"))
    assert json.loads(gemini.encode_request(json_mode, "m"))["generationConfig"] == {"responseMimeType": "application/json"}


def test_decode_request_matches_results_by_name() -> None:
    """Gemini calls carry no id: results answer the calls by name, in order."""
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
                {"functionCall": {"name": "time", "args": {}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "time", "response": {"output": "noon"}}},
                {"functionResponse": {"name": "weather", "response": {"error": "no data"}}},
                {"functionResponse": {"name": "weather", "response": {"temp": 21, "sky": "clear"}}},
            ]},
        ],
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    conversation = gemini.decode_request(body(request))
    paris, rome, time = conversation.messages[1].content
    assert isinstance(paris, ToolUseBlock) and isinstance(rome, ToolUseBlock) and isinstance(time, ToolUseBlock)
    assert len({paris.id, rome.id, time.id}) == 3 and all(b.id.startswith("call_") for b in (paris, rome, time))
    assert conversation.messages[2].content == (
        ToolResultBlock(time.id, (TextBlock("noon"),), name="time"),
        ToolResultBlock(paris.id, (TextBlock("no data"),), is_error=True, name="weather"),
        ToolResultBlock(rome.id, (TextBlock('{"temp":21,"sky":"clear"}'),), name="weather"),
    )
    assert conversation.sampling == Sampling(response_format={"type": "OBJECT"})
    assert conversation.extra == {"safetySettings": request["safetySettings"]}


# ---------------------------------------------------------------- answers


def answer(parts: list[dict[str, Any]], finish: str | None = "STOP", **more: Any) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return body({"candidates": [candidate], "modelVersion": "gemini-2.0-flash", "responseId": "resp-1", **more})


def test_decode_response() -> None:
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "totalTokenCount": 22}
    response = gemini.decode_response(answer(
        [{"text": "Thinking it over.", "thought": True}, {"text": "Two calls."},
         {"functionCall": {"name": "f", "args": {"a": 1}}}, {"functionCall": {"name": "g", "args": {}, "id": "given-id"}}],
        usageMetadata=usage,
    ))
    thinking, text, first, second = response.content
    assert (thinking, text) == (ThinkingBlock("Thinking it over."), TextBlock("Two calls."))
    assert isinstance(first, ToolUseBlock) and first.id.startswith("call_") and (first.name, first.input) == ("f", {"a": 1})
    assert second == ToolUseBlock("given-id", "g", {})
    assert response.stop_reason == "tool_use"  # Gemini says STOP after function calls
    assert response.usage == Usage(10, 12)  # thinking tokens are output too
    assert (response.id, response.model) == ("resp-1", "gemini-2.0-flash")
    assert gemini.decode_response(gemini.encode_response(response)) == response


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("RECITATION", "refusal"),
     ("MALFORMED_FUNCTION_CALL", "error"), ("SOMETHING_NEW", "end_turn"), (None, "end_turn")],
)
def test_finish_reasons(finish: str | None, stop_reason: str) -> None:
    assert gemini.decode_response(answer([{"text": "x"}], finish)).stop_reason == stop_reason


def test_blocked_prompt_is_a_refusal() -> None:
    blocked = gemini.decode_response(body({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}))
    assert blocked.content == () and blocked.stop_reason == "refusal" and blocked.usage == Usage(4, 0)
    with pytest.raises(UpstreamError, match="no candidates"):
        gemini.decode_response(b"{}")


# ---------------------------------------------------------------- errors


def test_errors() -> None:
    quota = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}
    assert gemini.decode_error(429, body(quota)) == ApiError(429, "rate_limit", "Resource has been exhausted (e.g. check quota).")
    bad_key = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}
    assert gemini.decode_error(400, body(bad_key)).kind == "authentication"
    assert json.loads(gemini.encode_error(ApiError(503, "overloaded", "busy"))) == {
        "error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}
    }


# ---------------------------------------------------------------- streams


def sse(*chunks: dict[str, Any] | bytes) -> bytes:
    return b"".join(c if isinstance(c, bytes) else b"data: " + body(c) + b"\r\n\r\n" for c in chunks)


def chunk(parts: list[dict[str, Any]], finish: str | None = None, prompt: int = 6, output: int | None = None, index: int = 0) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": prompt} | ({"candidatesTokenCount": output} if output is not None else {})
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.0-flash", "responseId": "r1"}


def test_stream_decoder() -> None:
    data = sse(
        chunk([{"text": "Hmm", "thought": True}]),
        b"event: future_event\ndata: {\"x\": 1}\n\n: keep-alive\n\n",
        chunk([{"text": "Hel"}]),
        chunk([{"text": "other candidate"}], index=1),
        chunk([{"text": "lo"}, {"functionCall": {"name": "f", "args": {"a": [1, "é"]}}}, {"functionCall": {"name": "g", "args": {}}}]),
        chunk([{"text": ""}], "STOP", output=9),
    )
    for step in (None, 1, 7):
        events = feed_all(gemini.StreamDecoder(), data, step)
        f_call, g_call = events[8].block, events[11].block  # type: ignore[union-attr]
        assert isinstance(f_call, ToolUseBlock) and isinstance(g_call, ToolUseBlock) and f_call.id != g_call.id
        assert events == [
            StreamStart("r1", "gemini-2.0-flash", 6),
            BlockStart(0, ThinkingBlock("")), ThinkingDelta(0, "Hmm"), BlockStop(0),
            BlockStart(1, TextBlock("")), TextDelta(1, "Hel"), TextDelta(1, "lo"), BlockStop(1),
            BlockStart(2, f_call), ToolInputDelta(2, '{"a":[1,"é"]}'), BlockStop(2),
            BlockStart(3, g_call), ToolInputDelta(3, "{}"), BlockStop(3),
            StreamEnd("tool_use", None, Usage(6, 9)),
        ]


def test_stream_errors_and_cuts() -> None:
    in_stream_error = sse(chunk([{"text": "Hi"}]), {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
    with pytest.raises(UpstreamError) as caught:
        feed_all(gemini.StreamDecoder(), in_stream_error)
    assert caught.value.reason == "stream_error" and "overloaded" in caught.value.detail
    with pytest.raises(UpstreamError) as caught:
        feed_all(gemini.StreamDecoder(), sse(chunk([{"text": "Hi"}])))  # no finishReason: cut short
    assert caught.value.reason == "truncated"
    with pytest.raises(UpstreamError) as caught:
        feed_all(gemini.StreamDecoder(), b"data: {not json\n\n")
    assert caught.value.reason == "bad_stream"
    blocked = feed_all(gemini.StreamDecoder(), sse({"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": {"promptTokenCount": 3}}))
    assert blocked == [StreamStart("", "", 3), StreamEnd("refusal", None, Usage(3, 0))]


# ---------------------------------------------------------------- the provider


def test_provider() -> None:
    settings = ProviderSettings("gemini", "gemini", "https://generativelanguage.googleapis.com/v1beta/", "GEMINI_API_KEY", "gemini-2.0-flash")
    provider = GeminiProvider(settings, {"GEMINI_API_KEY": "AIza-key"})
    base = "https://generativelanguage.googleapis.com"
    assert provider.base_url == base
    assert provider.endpoint("gemini-2.5-pro", False) == base + "/v1beta/models/gemini-2.5-pro:generateContent"
    assert provider.endpoint("gemini-2.5-pro", True) == base + "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert provider.request_headers("AIza-key", None) == {"Content-Type": "application/json", "x-goog-api-key": "AIza-key"}
    assert provider.health_url() == base + "/v1beta/models"
    assert provider.model_for("gemini-2.5-pro") == "gemini-2.5-pro" and provider.model_for("gpt-4o") == "gemini-2.0-flash"
