"""Gemini as a client format, end to end through the real server: Google's own `google-genai`
SDK (`generate_content`, `generate_content_stream`, `count_tokens`) against each provider
kind (the only provider of its Trooper), whole and streamed, for text, a tool call round trip
and images; failover before and after the first byte; the v1 path form; what is refused."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, ErrorMidStream, FakeUpstream, Text, ToolCall
from tests.stacks import PROVIDERS, Stacks, seen, single_provider_troopers
from tests.test_matrix import IMAGE_URL, PNG, TIME_ARGS, TIME_SCHEMA, WEATHER_ARGS, WEATHER_SCHEMA

MODEL = "gemini-2.0-flash"
ASK = "Tell me about the Bluebird project, step by step."  # a complex turn: simple ones are answered locally
LONG = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo Lima"
TOOLS = [types.Tool(function_declarations=[
    types.FunctionDeclaration(name="get_weather", description="Weather for a city", parameters_json_schema=WEATHER_SCHEMA),
    types.FunctionDeclaration(name="get_time", description="Time in a zone", parameters_json_schema=TIME_SCHEMA),
])]


def client(url: str, key: str = "AIza-client-gemini-key-000") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))


@dataclass
class Answer:
    text: str
    calls: list[tuple[str, dict[str, Any]]]
    finish: str
    usage: tuple[int, int]
    chunks: int = 1
    call_ids: list[str] = field(default_factory=list)


async def generate(url: str, streamed: bool, contents: Any, config: types.GenerateContentConfig | None = None) -> Answer:
    models = client(url).aio.models
    if not streamed:
        response = await models.generate_content(model=MODEL, contents=contents, config=config)
        return _answer([response])
    chunks = [chunk async for chunk in await models.generate_content_stream(model=MODEL, contents=contents, config=config)]
    return _answer(chunks)


def _answer(chunks: list[types.GenerateContentResponse]) -> Answer:
    texts: list[str] = []
    calls: list[tuple[str, dict[str, Any]]] = []
    ids: list[str] = []
    finish = ""
    for chunk in chunks:
        candidate = chunk.candidates[0]
        for part in candidate.content.parts or ():
            if part.text:
                texts.append(part.text)
            if part.function_call is not None:
                calls.append((part.function_call.name, dict(part.function_call.args or {})))
                ids.append(part.function_call.id or "")
        if candidate.finish_reason:
            finish = candidate.finish_reason.value
    usage = chunks[-1].usage_metadata
    return Answer("".join(texts), calls, finish, (usage.prompt_token_count or 0, usage.candidates_token_count or 0), len(chunks), ids)


def check_text(answer: Answer, received: Any, provider: str) -> None:
    assert (answer.text, answer.calls, answer.finish, answer.usage) == ("The sky scatters blue light.", [], "STOP", (21, 5))
    assert received.system == "Be brief."
    assert received.texts == ["Why is the sky blue?"]


def check_tool_call(answer: Answer, received: Any, provider: str) -> None:
    assert answer.text == "Checking both."
    assert answer.calls == [("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]
    if provider != "gemini":  # translated calls keep their ids, so the results can say which call they answer
        assert all(answer.call_ids) and len(set(answer.call_ids)) == 2
    assert (answer.finish, answer.usage) == ("STOP", (33, 17))
    assert received.tools == [("get_weather", WEATHER_SCHEMA), ("get_time", TIME_SCHEMA)]
    assert received.tool_choice == ("" if provider == "ollama" else "any")


def check_tool_result(answer: Answer, received: Any, provider: str) -> None:
    assert (answer.text, answer.finish, answer.usage) == ("It is 18°C and sunny in Paris.", "STOP", (40, 9))
    assert received.calls == [("get_weather", {"city": "Paris"})]
    # Gemini's call carried no id: the result is matched to it by name, and each vendor gets
    # the pair linked its own way (by the same generated id, or by name).
    [(address, text)] = received.results
    assert text == "18°C and sunny"
    assert address == "get_weather" if provider in ("gemini", "ollama") else address.startswith("call_")


def check_image(answer: Answer, received: Any, provider: str) -> None:
    assert (answer.text, answer.finish, answer.usage) == ("A cat on a red square.", "STOP", (1500, 7))
    if provider == "ollama":
        assert received.images == [("inline", PNG)]
        return
    assert received.images == [("inline", PNG), ("url", IMAGE_URL)]
    assert received.texts == ["What is in these pictures?"]


SCENARIOS: dict[str, tuple[Any, Any, types.GenerateContentConfig | None, Any]] = {
    "text": (
        Text("The sky scatters blue light.", input_tokens=21, output_tokens=5),
        "Why is the sky blue?",
        types.GenerateContentConfig(system_instruction="Be brief."),
        check_text,
    ),
    "tool_call": (
        ToolCall([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], text="Checking both.", input_tokens=33, output_tokens=17),
        "Weather and time in Paris?",
        types.GenerateContentConfig(
            tools=TOOLS, tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
        check_tool_call,
    ),
    "tool_result": (
        Text("It is 18°C and sunny in Paris.", input_tokens=40, output_tokens=9),
        [
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}))]),
            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                name="get_weather", response={"content": "18°C and sunny"}))]),
        ],
        types.GenerateContentConfig(tools=TOOLS, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)),
        check_tool_result,
    ),
    "image": (
        Text("A cat on a red square.", input_tokens=1500, output_tokens=7),
        [types.Content(role="user", parts=[
            types.Part(text="What is in these pictures?"),
            types.Part(inline_data=types.Blob(mime_type="image/png", data=base64.b64decode(PNG))),
            types.Part(file_data=types.FileData(file_uri=IMAGE_URL, mime_type="image/png")),
        ])],
        None,
        check_image,
    ),
}


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("gemini-ingress")) as opened:
        yield opened


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_cell(stacks: Stacks, scenario: str, provider: str, streamed: bool) -> None:
    """tests/test_gemini_ingress.py::test_cell[scenario-provider-mode]."""
    upstream, contents, config, check = SCENARIOS[scenario]
    fake, url = stacks[provider]
    fake.reset()
    fake.script(upstream)
    answer = await generate(url, streamed, contents, config)
    [received] = fake.generation_requests()
    assert received.stream is streamed
    check(answer, seen(provider, received), provider)
    if provider == "gemini":  # the fast path: the model from the client's path, the client's body as it was
        verb = "streamGenerateContent" if streamed else "generateContent"
        assert received.path == f"/v1beta/models/{MODEL}:{verb}"


async def test_v1_path_form_and_count_tokens(claude: FakeUpstream) -> None:
    """The /v1/ forms answer as the /v1beta/ ones; countTokens without a Gemini provider is
    Trooper's own estimate, never a call to another vendor."""
    claude.script(Text("Fine."))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        v1 = genai.Client(api_key="AIza-client-gemini-key-000", http_options=types.HttpOptions(base_url=trooper.url, api_version="v1"))
        response = await v1.aio.models.generate_content(model=MODEL, contents=ASK)
        counted = await client(trooper.url).aio.models.count_tokens(model=MODEL, contents=ASK)
    assert response.text == "Fine."
    assert counted.total_tokens is not None and 5 <= counted.total_tokens <= 30
    assert [r.path for r in claude.requests] == ["/v1/messages"]


async def test_count_tokens_goes_to_gemini_with_only_the_gemini_key(stacks: Stacks) -> None:
    fake, url = stacks["gemini"]
    fake.reset()
    counted = await client(url).aio.models.count_tokens(model=MODEL, contents="one two three four")
    assert counted.total_tokens == 5  # the fake counts the words of every string in contents, the role's too
    [request] = fake.requests
    assert request.path == f"/v1beta/models/{MODEL}:countTokens"
    assert request.headers["x-goog-api-key"] == PROVIDERS["gemini"].key  # the operator's: configured keys come first


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_failover_before_the_first_byte(claude: FakeUpstream, ollama: FakeUpstream, streamed: bool) -> None:
    claude.script(Error(529))
    ollama.script(Text("Local answer."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        answer = await generate(trooper.url, streamed, ASK)
    assert (answer.text, answer.finish) == ("Local answer.", "STOP")
    assert len(claude.generation_requests()) == 1 and len(ollama.generation_requests()) == 1


async def test_failover_after_the_first_byte_continues_in_the_same_stream(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(ErrorMidStream(after_chunks=7, status=529, answer=Text(LONG)))
    ollama.script(Text(" Delta Echo.", chunks=2))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        answer = await generate(trooper.url, True, ASK)
    assert answer.text.startswith("Alpha Bravo Charlie")
    assert answer.text.endswith(" Delta Echo.")
    assert answer.finish == "STOP"


async def test_no_provider_left_mid_stream_is_an_error_the_sdk_raises(claude: FakeUpstream) -> None:
    claude.script(ErrorMidStream(after_chunks=7, status=529, answer=Text(LONG)))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        with pytest.raises(errors.APIError):
            await generate(trooper.url, True, ASK)


async def test_errors_are_the_gemini_error_shape(claude: FakeUpstream) -> None:
    claude.script(Error(401))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        with pytest.raises(errors.ClientError) as raised:
            await generate(trooper.url, False, ASK)
    assert raised.value.code == 401 and raised.value.status == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1beta/models/gemini..flash:generateContent", ""),
        ("/v1beta/models/gemini%3Fkey%3Dx:generateContent", ""),
        ("/v1beta/models/gemini-2.0-flash:streamGenerateContent", ""),
    ],
    ids=["dots", "encoded_query", "stream_without_sse"],
)
async def test_refused_before_any_upstream_call(claude: FakeUpstream, path: str, query: str) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper, aiohttp.ClientSession() as http:
        body = {"contents": [{"role": "user", "parts": [{"text": ASK}]}]}
        async with http.post(trooper.url + path, json=body) as resp:
            status, answer = resp.status, await resp.json()
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert claude.requests == []
