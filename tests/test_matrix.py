"""The translation matrix, end to end through the real server: each official SDK as the
client × each provider kind (the only provider of its Trooper) × whole or streamed ×
each scenario. Every cell checks what the SDK parsed (text, tool calls with their parsed
arguments and ids, stop reason, usage) and what the fake upstream received, read in
that vendor's own wire shape (see tests/stacks.py).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Behaviour, Error, FakeUpstream, Text, ToolCall
from tests.stacks import (
    CLIENTS,
    PROVIDERS,
    Outcome,
    Seen,
    Stacks,
    anthropic_client,
    ask,
    seen,
    single_provider_troopers,
)

# --- the conversation pieces the scenarios share ---

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "units": {"type": "object"}},
    "required": ["city"],
    "additionalProperties": False,
}
TIME_SCHEMA = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
TOOLS = {
    "anthropic": [
        {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA},
        {"name": "get_time", "description": "Time in a zone", "input_schema": TIME_SCHEMA},
    ],
    "openai": [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA}},
        {"type": "function", "function": {"name": "get_time", "description": "Time in a zone", "parameters": TIME_SCHEMA}},
    ],
}
WEATHER_ARGS = {"city": "Paris", "days": 3, "units": {"temp": "C", "wind": "km/h"}}
TIME_ARGS = {"zone": "Europe/Paris"}
CALL_IDS = {"anthropic": "toolu_01ParisWeather", "openai": "call_ParisWeather"}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(40))).decode()
IMAGE_URL = "https://images.example.test/cat.png"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# --- scenarios: what the client asks, what the upstream answers, what must hold ---


@dataclass(frozen=True)
class Scenario:
    name: str
    upstream: Behaviour
    requests: dict[str, dict[str, Any]]  # client -> the SDK's keyword arguments
    check: Callable[[Outcome, Seen, str, str, bool], None]  # (outcome, seen, client, provider, streamed)


def check_text(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "The sky scatters blue light."
    assert outcome.calls == []
    assert outcome.stop == "end_turn"
    assert outcome.usage == (21, 5)
    assert received.system == "Be brief."
    assert received.texts == ["Why is the sky blue?"]


def check_tool_call(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "Checking both."
    assert [(name, args) for _, name, args in outcome.calls] == [("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]
    ids = [call_id for call_id, _, _ in outcome.calls]
    assert all(ids) and len(set(ids)) == 2  # parallel calls keep distinct ids
    assert outcome.stop == "tool_use"
    assert outcome.usage == (33, 17)
    if streamed:
        # Ids are stable across the stream: each call's id was announced once, as the final one.
        assert [outcome.streamed_ids[index] for index in sorted(outcome.streamed_ids)] == [{i} for i in ids]
        # Claude and OpenAI stream arguments in pieces, and they arrive in pieces;
        # Gemini and Ollama send each call whole.
        least = 2 if provider in ("claude", "openai") else 1
        assert all(outcome.arg_deltas[i] >= least for i in ids), outcome.arg_deltas
    assert received.tools == [("get_weather", WEATHER_SCHEMA), ("get_time", TIME_SCHEMA)]
    # Ollama has no tool_choice: the tools are offered and the choice is left to the model.
    assert received.tool_choice == ("" if provider == "ollama" else "any")


def check_tool_result(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "It is 18°C and sunny in Paris."
    assert outcome.stop == "end_turn"
    assert outcome.usage == (40, 9)
    assert received.calls == [("get_weather", {"city": "Paris"})]
    address = "get_weather" if provider in ("gemini", "ollama") else CALL_IDS[client]
    assert received.results == [(address, "18°C and sunny")]


def check_image(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "A cat on a red square."
    assert (outcome.stop, outcome.usage) == ("end_turn", (1500, 7))
    if provider == "ollama":
        # Ollama takes base64 images only: the URL one becomes a note, never a silent drop.
        assert received.images == [("inline", PNG)]
        assert received.texts == [f"What is in these pictures?\n\n[image omitted: {IMAGE_URL}]"]
        return
    assert received.images == [("inline", PNG), ("url", IMAGE_URL)]
    assert received.texts == ["What is in these pictures?"]
    # Gemini's fileData must name a MIME type; the others name it for inline data only.
    assert received.media_types == ["image/png", "image/png"] if provider == "gemini" else ["image/png"]


def check_cut_off(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "The answer is a long"
    assert outcome.stop == "max_tokens"
    assert outcome.usage == (9, 5)


def check_stop_sequence(outcome: Outcome, received: Seen, client: str, provider: str, streamed: bool) -> None:
    assert outcome.text == "One, two"
    assert outcome.usage == (8, 2)
    # Only Anthropic says which stop sequence ended the answer; the others say "stop",
    # which reads as a natural end.
    assert outcome.stop == ("stop_sequence" if (client, provider) == ("anthropic", "claude") else "end_turn")


SCENARIOS = [
    Scenario(
        "text",
        Text("The sky scatters blue light.", input_tokens=21, output_tokens=5),
        {
            "anthropic": {"system": "Be brief.", "messages": [user("Why is the sky blue?")]},
            "openai": {"messages": [{"role": "system", "content": "Be brief."}, user("Why is the sky blue?")]},
        },
        check_text,
    ),
    Scenario(
        "tool_call",
        ToolCall([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], text="Checking both.", input_tokens=33, output_tokens=17),
        {
            "anthropic": {"messages": [user("Weather and time in Paris?")], "tools": TOOLS["anthropic"], "tool_choice": {"type": "any"}},
            "openai": {"messages": [user("Weather and time in Paris?")], "tools": TOOLS["openai"], "tool_choice": "required"},
        },
        check_tool_call,
    ),
    Scenario(
        "tool_result",
        Text("It is 18°C and sunny in Paris.", input_tokens=40, output_tokens=9),
        {
            "anthropic": {
                "tools": TOOLS["anthropic"],
                "messages": [
                    user("Weather in Paris?"),
                    {"role": "assistant", "content": [{"type": "tool_use", "id": CALL_IDS["anthropic"], "name": "get_weather", "input": {"city": "Paris"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": CALL_IDS["anthropic"], "content": "18°C and sunny"}]},
                ],
            },
            "openai": {
                "tools": TOOLS["openai"],
                "messages": [
                    user("Weather in Paris?"),
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": CALL_IDS["openai"], "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
                    ]},
                    {"role": "tool", "tool_call_id": CALL_IDS["openai"], "content": "18°C and sunny"},
                ],
            },
        },
        check_tool_result,
    ),
    Scenario(
        "image",
        Text("A cat on a red square.", input_tokens=1500, output_tokens=7),
        {
            "anthropic": {"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these pictures?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
            ]}]},
            "openai": {"messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these pictures?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            ]}]},
        },
        check_image,
    ),
    Scenario(
        "cut_off",
        Text("The answer is a long", stop="max_tokens", input_tokens=9, output_tokens=5),
        {
            "anthropic": {"max_tokens": 5, "messages": [user("Tell me everything.")]},
            "openai": {"max_completion_tokens": 5, "messages": [user("Tell me everything.")]},
        },
        check_cut_off,
    ),
    Scenario(
        "stop_sequence",
        Text("One, two", stop="stop_sequence", input_tokens=8, output_tokens=2),
        {
            "anthropic": {"stop_sequences": ["three"], "messages": [user("Count to five.")]},
            "openai": {"stop": ["three"], "messages": [user("Count to five.")]},
        },
        check_stop_sequence,
    ),
]


# --- one Trooper per provider, shared by every cell of this module ---


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("matrix")) as opened:
        yield opened


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_cell(stacks: Stacks, scenario: Scenario, client: str, provider: str, streamed: bool) -> None:
    fake, url = stacks[provider]
    fake.reset()
    fake.script(scenario.upstream)
    outcome = await ask(client, url, streamed, scenario.requests[client])
    [request] = fake.generation_requests()
    assert request.stream is streamed
    scenario.check(outcome, seen(provider, request), client, provider, streamed)


async def test_env_chain_goes_claude_gemini_openai_ollama() -> None:
    """The chain from env vars: Claude, then Gemini, then OpenAI, then Ollama, each
    falling over to the next, and the answer in the client's own shape."""
    async with FakeUpstream() as claude, FakeUpstream() as gemini, FakeUpstream() as openai_fake, FakeUpstream() as ollama:
        claude.script(Error(529))
        gemini.script(Error(503))
        openai_fake.script(Error(529))
        ollama.script(Text("Local answer."))
        env = chain_env(claude=claude, gemini=gemini, openai=openai_fake, ollama=ollama)
        async with run_trooper(env) as trooper, anthropic_client(trooper.url) as client:
            raw = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=50, messages=[user("Why did the deploy fail?")])
            message = await raw.parse()
    assert message.content[0].text == "Local answer."  # type: ignore[union-attr]
    assert raw.headers["x-trooper-provider"] == "ollama"
    assert [f.requests[-1].path for f in (claude, gemini, openai_fake)] == [
        "/v1/messages", "/v1beta/models/gemini-2.0-flash:generateContent", "/v1/chat/completions"
    ]
    assert gemini.requests[-1].headers["x-goog-api-key"] == "AIza-test-gemini-key-0123456789"
