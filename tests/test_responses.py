"""OpenAI's Responses API as a client format, end to end through the real server: the
official `openai` SDK's `client.responses.create` and `.stream` against each provider kind
(the only provider of its Trooper), whole and streamed, for text, a tool call round trip and
images; failover before and after the first byte; the typed event stream on the wire; the
fast path to OpenAI's own /v1/responses; and the requests Trooper refuses by name."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, ErrorMidStream, FakeUpstream, ResetAfter, Text, ToolCall
from tests.stacks import PROVIDERS, Stacks, ask_responses, openai_client, seen, single_provider_troopers
from tests.test_matrix import (
    IMAGE_URL,
    PNG,
    TIME_ARGS,
    TIME_SCHEMA,
    WEATHER_ARGS,
    WEATHER_SCHEMA,
    check_image,
    check_text,
    check_tool_call,
    check_tool_result,
)

NPM_GLOBAL_ROOT = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True).stdout.strip() if shutil.which("npm") else ""
TOOLS = [
    {"type": "function", "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA, "strict": False},
    {"type": "function", "name": "get_time", "description": "Time in a zone", "parameters": TIME_SCHEMA, "strict": False},
]
CALL_ID = "call_ParisWeather"

SCENARIOS: dict[str, tuple[Any, dict[str, Any], Any]] = {
    "text": (
        Text("The sky scatters blue light.", input_tokens=21, output_tokens=5),
        {"instructions": "Be brief.", "input": "Why is the sky blue?"},
        check_text,
    ),
    "tool_call": (
        ToolCall([("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)], text="Checking both.", input_tokens=33, output_tokens=17),
        {"input": [{"role": "user", "content": "Weather and time in Paris?"}], "tools": TOOLS, "tool_choice": "required"},
        check_tool_call,
    ),
    "tool_result": (
        Text("It is 18°C and sunny in Paris.", input_tokens=40, output_tokens=9),
        {
            "tools": TOOLS,
            "input": [
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": CALL_ID, "name": "get_weather", "arguments": '{"city": "Paris"}'},
                {"type": "function_call_output", "call_id": CALL_ID, "output": "18°C and sunny"},
            ],
        },
        check_tool_result,
    ),
    "image": (
        Text("A cat on a red square.", input_tokens=1500, output_tokens=7),
        {"input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What is in these pictures?"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
            {"type": "input_image", "image_url": IMAGE_URL, "detail": "auto"},
        ]}]},
        check_image,
    ),
}


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("responses")) as opened:
        yield opened


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_cell(stacks: Stacks, scenario: str, provider: str, streamed: bool) -> None:
    """tests/test_responses.py::test_cell[scenario-provider-mode]: the same checks as the
    Chat Completions and Messages cells of the translation matrix."""
    upstream, request, check = SCENARIOS[scenario]
    fake, url = stacks[provider]
    fake.reset()
    fake.script(upstream)
    outcome = await ask_responses(url, streamed, request)
    [received] = fake.generation_requests()
    assert received.stream is streamed
    # The tool_result check names the call by the id the OpenAI formats use (call_ParisWeather).
    check(outcome, seen(provider, received), "openai", provider, streamed)
    if provider == "openai":  # the fast path: OpenAI's own endpoint, the client's bytes as they were
        assert received.path == "/v1/responses"


async def test_cut_off_answer_is_incomplete_with_its_reason(stacks: Stacks) -> None:
    fake, url = stacks["claude"]
    fake.reset()
    fake.script(Text("The answer is a long", stop="max_tokens", input_tokens=9, output_tokens=5))
    async with openai_client(url) as sdk:
        response = await sdk.responses.create(model="gpt-4o-mini", input="Tell me everything.", max_output_tokens=5)
    assert (response.status, response.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    assert response.id.startswith("resp_")  # never Claude's msg_… id
    assert response.output_text == "The answer is a long"
    assert fake.requests[-1].json["max_tokens"] == 5


async def test_the_event_stream_is_the_typed_sequence_with_sequence_numbers(stacks: Stacks) -> None:
    """Translated from Claude: every event named on its SSE line and in its `type`, numbered
    from 0 without a gap, in the order the Responses API sends them, no [DONE]."""
    fake, url = stacks["claude"]
    fake.reset()
    fake.script(ToolCall([("get_time", TIME_ARGS)], text="Let me look.", input_tokens=7, output_tokens=4))
    body = {"model": "gpt-4o-mini", "stream": True, "input": "What time is it in Paris?", "tools": TOOLS}
    async with aiohttp.ClientSession() as http, http.post(url + "/v1/responses", json=body) as resp:
        raw = await resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-trooper-provider"] == "claude"
    frames = [frame for frame in raw.decode().split("\n\n") if frame.strip()]
    events = []
    for frame in frames:
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == "event: " + event["type"]
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[2:8] == [
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * kinds.count("response.output_text.delta"),
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
    ][:6]
    assert kinds[-4:] == [
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done", "response.completed",
    ]
    completed = events[-1]["response"]
    assert completed["usage"]["input_tokens"] == 7 and completed["usage"]["output_tokens"] == 4
    assert [item["type"] for item in completed["output"]] == ["message", "function_call"]
    assert b"[DONE]" not in raw


async def test_fast_path_carries_reasoning_items_untouched(tmp_path: Path) -> None:
    """To OpenAI, a Responses request goes to /v1/responses byte for byte (reasoning items,
    `include`, `store` and all), and OpenAI's answer comes back as it was sent."""
    async with FakeUpstream() as fake:
        env = chain_env(openai=fake)
        reasoning_item = {"type": "reasoning", "id": "rs_prev", "summary": [], "encrypted_content": "gAAAAsecret"}
        body = {
            "model": "gpt-5", "store": False, "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},
            "input": [{"role": "user", "content": "Hi"}, reasoning_item, {"role": "assistant", "content": "Hello"},
                      {"role": "user", "content": "And now?"}],
        }
        sent = json.dumps(body).encode()
        async with run_trooper(env) as trooper, aiohttp.ClientSession() as http:
            async with http.post(trooper.url + "/v1/responses", data=sent, headers={"content-type": "application/json"}) as resp:
                answer = await resp.json()
    received = fake.generation_requests()[0]
    assert received.path == "/v1/responses" and received.body == sent
    assert answer["output"][0]["type"] == "reasoning" and answer["output"][0]["encrypted_content"].startswith("gAAAA")
    assert answer["id"].startswith("resp_")


async def test_translation_drops_reasoning_items_and_keeps_the_rest(claude: FakeUpstream) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper, openai_client(trooper.url) as sdk:
        await sdk.responses.create(model="gpt-4o-mini", input=[
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "id": "rs_prev", "summary": [], "encrypted_content": "gAAAAsecret"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Compare the last two deploy logs and explain the failure."},
        ])
    sent = claude.requests[-1].json
    assert sent["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Compare the last two deploy logs and explain the failure."},
    ]
    assert "gAAAA" not in claude.requests[-1].body.decode()


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_failover_before_the_first_byte(claude: FakeUpstream, ollama: FakeUpstream, streamed: bool) -> None:
    claude.script(Error(529))
    ollama.script(Text("Local answer."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, openai_client(trooper.url) as sdk:
        if streamed:
            async with sdk.responses.stream(model="gpt-4o-mini", input="Why did the deploy fail?") as stream:
                kinds = [event.type async for event in stream]
                response = await stream.get_final_response()
            assert kinds.count("response.created") == 1  # the failed try left no trace in the stream
        else:
            raw = await sdk.responses.with_raw_response.create(model="gpt-4o-mini", input="Why did the deploy fail?")
            response = raw.parse()
            assert raw.headers["x-trooper-provider"] == "ollama"
            assert raw.headers["x-trooper-summary"].startswith("claude → ")
    assert response.output_text == "Local answer."
    assert len(claude.generation_requests()) == 1 and len(ollama.generation_requests()) == 1


ASK = "Tell me about the Bluebird project, step by step."  # a complex turn: simple ones are answered locally
LONG = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo Lima"


async def test_failover_after_the_first_byte_continues_in_the_same_stream(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    """Claude dies mid-answer (an error event after some text): Ollama continues, and the
    SDK sees one response with the whole text, as if one provider had written it."""
    claude.script(ErrorMidStream(after_chunks=7, status=529, answer=Text(LONG)))
    ollama.script(Text(" Delta Echo.", chunks=2))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper, openai_client(trooper.url) as sdk:
        async with sdk.responses.stream(model="gpt-4o-mini", input=ASK) as stream:
            response = await stream.get_final_response()
    assert response.output_text.startswith("Alpha Bravo")
    assert response.output_text.endswith(" Delta Echo.")
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]


async def test_fast_path_stream_cut_mid_way_continues_translated(openai_fake: FakeUpstream, ollama: FakeUpstream) -> None:
    """OpenAI's own Responses stream (the fast path) breaks after its reasoning item and some
    text: the rest comes from Ollama, encoded as Responses events that carry on OpenAI's
    response (same id, item ids, output indices, sequence numbers), and the final response
    keeps OpenAI's reasoning item."""
    request = {"model": "gpt-5", "stream": True, "input": ASK, "reasoning": {"effort": "low"}}
    async with FakeUpstream() as probe, aiohttp.ClientSession() as http:
        probe.script(Text(LONG))
        async with http.post(probe.url + "/v1/responses", json=request) as resp:
            full = await resp.read()
    openai_fake.script(ResetAfter(full.index(b'"delta":" Delta"'), answer=Text(LONG)))
    ollama.script(Text(" Delta Echo.", chunks=2))
    async with run_trooper(chain_env(openai=openai_fake, ollama=ollama)) as trooper, openai_client(trooper.url) as sdk:
        async with sdk.responses.stream(model="gpt-5", input=ASK, reasoning={"effort": "low"}) as stream:
            numbers = [event.sequence_number async for event in stream]
            response = await stream.get_final_response()
    assert response.output_text == "Alpha Bravo Charlie Delta Echo."
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.id.startswith("resp_") and response.id == "resp_" + response.output[0].id.removeprefix("rs_")
    assert openai_fake.requests[0].path == "/v1/responses"


async def test_no_provider_left_mid_stream_is_an_error_the_sdk_raises(claude: FakeUpstream) -> None:
    claude.script(ErrorMidStream(after_chunks=7, status=529, answer=Text(LONG)))
    async with run_trooper(chain_env(claude=claude)) as trooper, openai_client(trooper.url) as sdk:
        with pytest.raises(openai.APIError, match="stream broke"):
            async with sdk.responses.stream(model="gpt-4o-mini", input=ASK) as stream:
                await stream.get_final_response()


async def test_errors_are_the_responses_error_shape(claude: FakeUpstream) -> None:
    claude.script(Error(401))
    async with run_trooper(chain_env(claude=claude)) as trooper, openai_client(trooper.url) as sdk:
        with pytest.raises(openai.AuthenticationError) as raised:
            await sdk.responses.create(model="gpt-4o-mini", input=ASK)
        claude.script(Error(529), Error(529))
        with pytest.raises(openai.APIStatusError) as raised_all:
            await sdk.responses.create(model="gpt-4o-mini", input=ASK)
    assert raised.value.body["type"] == "authentication_error"  # type: ignore[index]
    assert raised_all.value.status_code == 503
    assert "All providers failed" in raised_all.value.message


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"model": "gpt-4o-mini", "input": [{"role": "wizard", "content": "Hi"}]}, "input.0.role"),
        ({"model": "gpt-4o-mini", "input": [{"type": "function_call", "name": "f", "call_id": "c", "arguments": "{oops"}]},
         "input.0.arguments"),
        ({"input": "Hi"}, "model"),
    ],
    ids=["unknown_role", "bad_arguments", "no_model"],
)
async def test_bad_requests_are_400_in_the_responses_shape(claude: FakeUpstream, body: dict[str, Any], names: str) -> None:
    async with run_trooper(chain_env(claude=claude)) as trooper, openai_client(trooper.url) as sdk:
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.responses.create(**body)
    assert names in raised.value.message
    assert raised.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert claude.generation_requests() == []


async def test_state_kept_at_openai_goes_to_openai_and_is_refused_by_name_elsewhere(stacks: Stacks) -> None:
    """previous_response_id and an item_reference Trooper never handed out name state only
    OpenAI has: to OpenAI they go as sent; translating them is a 400 naming them, no call made."""
    requests = [
        {"input": ASK, "previous_response_id": "resp_123"},
        {"input": [{"type": "item_reference", "id": "msg_unknown"}, {"role": "user", "content": ASK}]},
    ]
    for request in requests:
        fake, url = stacks["openai"]
        fake.reset()
        fake.script(Text("From OpenAI's own state."))
        answer = await ask_responses(url, False, request)
        assert answer.text == "From OpenAI's own state."
        assert fake.generation_requests()[0].json == {"model": "gpt-4o-mini", **request}
        fake, url = stacks["claude"]
        fake.reset()
        async with openai_client(url) as sdk:
            with pytest.raises(openai.BadRequestError) as raised:
                await sdk.responses.create(model="gpt-4o-mini", **request)
        assert "cannot be translated for claude" in raised.value.message
        assert ("previous_response_id" if "previous_response_id" in request else "item_reference 'msg_unknown'") in raised.value.message
        assert fake.requests == []


async def test_an_item_reference_to_an_item_trooper_handed_out_is_resolved(stacks: Stacks) -> None:
    """The Vercel AI SDK refers to the assistant's earlier message by id (store on): the item
    Trooper wrote (translated from Claude) is put back in its place for the next turn."""
    fake, url = stacks["claude"]
    fake.reset()
    fake.script(Text("The deploy failed on a missing secret."), Text("Add the secret and redeploy."))
    async with openai_client(url) as sdk:
        first = await sdk.responses.create(model="gpt-4o-mini", input=ASK)
        second = await sdk.responses.create(model="gpt-4o-mini", input=[
            {"role": "user", "content": ASK}, {"type": "item_reference", "id": first.output[0].id},
            {"role": "user", "content": "So what should I do next about that deploy?"},
        ])
    assert second.output_text == "Add the secret and redeploy."
    messages = fake.generation_requests()[1].json["messages"]
    assert messages[1] == {"role": "assistant", "content": "The deploy failed on a missing secret."}


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_previous_response_id_of_a_translated_answer_is_served_from_troopers_store(stacks: Stacks, streamed: bool) -> None:
    """A conversation chained by previous_response_id (store on, the API's default) while
    Claude answers: each turn reaches Claude with the whole history, as OpenAI would have kept
    it; an answer asked with store: false is not kept, so naming it is refused by name."""
    fake, url = stacks["claude"]
    fake.reset()
    fake.script(Text("The deploy failed on a missing secret."), Text("Add the secret and redeploy."))
    first = await ask_responses_id(url, streamed, {"input": ASK, "instructions": "Be brief."})
    second = await ask_responses_id(url, streamed, {"input": "So what should I do next about that deploy?",
                                                    "previous_response_id": first})
    assert second.startswith("resp_") and second != first
    sent = fake.generation_requests()[1].json
    assert sent["messages"] == [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": "The deploy failed on a missing secret."},
        {"role": "user", "content": "So what should I do next about that deploy?"},
    ]
    assert "system" not in sent  # instructions are not carried over, as the API says
    fake.script(Text("Not kept."))
    unkept = await ask_responses_id(url, streamed, {"input": ASK, "store": False})
    async with openai_client(url) as sdk:
        with pytest.raises(openai.BadRequestError, match="previous_response_id"):
            await sdk.responses.create(model="gpt-4o-mini", input="And then?", previous_response_id=unkept)


async def ask_responses_id(url: str, streamed: bool, request: dict[str, Any]) -> str:
    async with openai_client(url) as sdk:
        if not streamed:
            return (await sdk.responses.create(model="gpt-4o-mini", **request)).id
        async with sdk.responses.stream(model="gpt-4o-mini", **request) as stream:
            return (await stream.get_final_response()).id


async def test_a_responses_conversation_is_one_session(claude: FakeUpstream) -> None:
    """Three turns of one Responses conversation (the whole history resent each turn, as
    Codex does) are one session, with every message in its transcript."""
    claude.script(Text("Step one is done."), Text("Step two is done."), Text("Step three is done."))
    history: list[dict[str, Any]] = [{"role": "user", "content": "Write the release notes in three steps."}]
    async with run_trooper(chain_env(claude=claude)) as trooper, openai_client(trooper.url) as sdk:
        ids = set()
        for turn in range(3):
            raw = await sdk.responses.with_raw_response.create(model="gpt-4o-mini", instructions="You are an agent.", input=history)
            ids.add(raw.headers["x-trooper-session"])
            history += [{"role": "assistant", "content": raw.parse().output_text}, {"role": "user", "content": f"Go on ({turn})."}]
        async with aiohttp.ClientSession() as http, http.get(trooper.url + "/sessions") as resp:
            listing = await resp.json()
    assert len(ids) == 1 and listing["total"] == 1
    assert (listing["sessions"][0]["requests"], listing["sessions"][0]["messages"]) == (3, 6)


# --- openai-agents (its default model is the Responses API) ---


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["claude", "openai"])
async def test_openai_agents_runs_its_tool_loop(stacks: Stacks, provider: str, streamed: bool) -> None:
    """The openai-agents SDK's agent loop (OpenAIResponsesModel): the model calls a Python
    function tool, the SDK runs it and sends its output back, the model answers; translated
    for Claude, and on the fast path to OpenAI."""
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # traces go to OpenAI's servers otherwise

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"18°C and sunny in {city}"

    fake, url = stacks[provider]
    fake.reset()
    fake.script(ToolCall([("get_weather", {"city": "Paris"})], text="Checking."), Text("It is 18°C and sunny in Paris."))
    async with openai_client(url) as sdk:
        agent = Agent(name="weather", instructions="Use the tool.", tools=[get_weather],
                      model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=sdk))
        if streamed:
            result = Runner.run_streamed(agent, "What is the weather in Paris today?")
            kinds = {event.type async for event in result.stream_events()}
            assert "raw_response_event" in kinds
        else:
            result = await Runner.run(agent, "What is the weather in Paris today?")
    assert result.final_output == "It is 18°C and sunny in Paris."
    first, second = fake.generation_requests()
    received = seen(provider, second)
    assert received.calls == [("get_weather", {"city": "Paris"})]
    assert [text for _, text in received.results] == ["18°C and sunny in Paris"]


# --- the Vercel AI SDK (its default openai() model is the Responses API) ---


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["claude", "openai"])
async def test_vercel_ai_sdk_runs_its_tool_loop(stacks: Stacks, provider: str, streamed: bool) -> None:
    """`generateText` / `streamText` with `openai("gpt-4o-mini")` and a tool the SDK runs
    (tests/clients/vercel_ai.mjs, Node): translated for Claude, and on the fast path to OpenAI."""
    node = shutil.which("node")
    if node is None or not (Path(NPM_GLOBAL_ROOT) / "ai").is_dir():
        pytest.fail("the Vercel AI SDK is not installed: `bash scripts/test` installs it (npm install -g ai @ai-sdk/openai zod)")
    fake, url = stacks[provider]
    fake.reset()
    fake.script(ToolCall([("get_weather", {"city": "Paris"})], text="Checking."), Text("It is 18°C and sunny in Paris."))
    proc = await asyncio.create_subprocess_exec(
        node, str(Path(__file__).parent / "clients" / "vercel_ai.mjs"), url + "/v1", "stream" if streamed else "whole",
        env={"PATH": os.environ.get("PATH", ""), "NPM_GLOBAL_ROOT": NPM_GLOBAL_ROOT},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)  # a hang guard, not a speed check
    assert proc.returncode == 0, stderr.decode()[-2000:]
    answer = json.loads(stdout.decode().strip().splitlines()[-1])
    assert answer == {"text": "It is 18°C and sunny in Paris.", "steps": 2}
    first, second = fake.generation_requests()
    assert first.path == ("/v1/responses" if provider == "openai" else "/v1/messages")
    received = seen(provider, second)
    assert received.calls == [("get_weather", {"city": "Paris"})]
    assert [text for _, text in received.results] == ["18°C and sunny in Paris"]
