"""A stream cut mid-answer, continued on a fallback that has a real model's habits, with
the official SDKs as clients: each fault × each habit × both SDKs ends with the exact
answer and usage that adds up, or (when the fallback answers something else) with an
error the SDK raises — never a repeated, truncated or garbled answer reported as success.

The primary is a Claude fake that breaks after "Alpha Bravo Charlie" (Anthropic clients
read it on the fast path, OpenAI clients translated); the fallback is an OpenAI-kind
provider (asked to continue, no prefill) or an Ollama one (prefilled).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anthropic
import openai
import pytest

from tests.conftest import TrooperServer, run_trooper
from tests.fakes.upstream import (
    Behaviour,
    EndMidStream,
    ErrorMidStream,
    FakeUpstream,
    Habit,
    MalformedMidStream,
    ResetMidStream,
    StallMidStream,
    Text,
    dialogue,
)
from trooper.signals.tokens import estimate_text

ANSWER = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo Lima."
ASK = [{"role": "user", "content": "Walk me through the Bluebird project's phases, one code word per phase, in order."}]
PRIMARY_INPUT = 12  # what the Claude fake says the request cost
AFTER = 6  # Claude's frames before the fault: message_start, block start, ping, 3 deltas
SENT = "Alpha Bravo Charlie"  # the text those frames carry

FAULTS: dict[str, Behaviour] = {
    "reset": ResetMidStream(AFTER, Text(ANSWER)),
    "stall": StallMidStream(after_chunks=AFTER, seconds=30, answer=Text(ANSWER)),
    "error_event": ErrorMidStream(after_chunks=AFTER, status=529, answer=Text(ANSWER)),
    "malformed": MalformedMidStream(AFTER, Text(ANSWER)),
    "no_terminator": EndMidStream(AFTER, Text(ANSWER)),
}
# (habit, the fallback's kind): OpenAI's API takes no prefill, Ollama's does.
HABITS = [
    ("continues", "openai"),
    ("continues", "ollama"),
    ("restarts", "openai"),
    ("ignores", "openai"),
    ("rejects_prefill", "ollama"),
    ("ignores_prefill", "ollama"),
]
OUTCOMES = {
    ("continues", "openai"): "continued",
    ("continues", "ollama"): "prefill",
    ("restarts", "openai"): "spliced",
    ("ignores", "openai"): "refused",
    ("rejects_prefill", "ollama"): "continued",
    ("ignores_prefill", "ollama"): "spliced",
}

Chains = dict[str, tuple[FakeUpstream, FakeUpstream, TrooperServer]]  # fallback kind -> (claude, fallback, trooper)


def pipeline(directory: Path, claude: FakeUpstream, kind: str, fallback: FakeUpstream) -> Path:
    url = fallback.url + ("/v1" if kind == "openai" else "/api/chat")
    path = directory / f"splice-{kind}.toml"
    path.write_text(
        "[stages.route]\nsimple_to_local = false\n"
        "[stages.failover.breaker]\nthreshold = 1000000\n"
        # Only the primary's stall needs a short limit; the fallback keeps the defaults.
        f'[[providers]]\nname = "claude"\nkind = "anthropic"\nurl = "{claude.url}"\nkey_env = "CLAUDE_API_KEY"\n'
        'model = "claude-haiku-4-5"\ntimeouts = { connect = 5, first_byte = 10, idle = 1, total = 60 }\n'
        f'[[providers]]\nname = "fallback"\nkind = "{kind}"\nurl = "{url}"\nmodel = "fallback-model"\n'
    )
    return path


@pytest.fixture(scope="module")
async def chains(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chains]:
    directory = tmp_path_factory.mktemp("splice")
    async with AsyncExitStack() as stack:
        opened: Chains = {}
        for kind in ("openai", "ollama"):
            claude = await stack.enter_async_context(FakeUpstream())
            fallback = await stack.enter_async_context(FakeUpstream())
            env = {"CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789", "LOCAL_EMBEDDED": "off"}
            trooper = await stack.enter_async_context(run_trooper(env, pipeline(directory, claude, kind, fallback)))
            opened[kind] = (claude, fallback, trooper)
        yield opened


async def ask_anthropic(url: str) -> tuple[str, int, int]:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)
    async with client.messages.stream(model="claude-haiku-4-5", max_tokens=300, messages=ASK) as stream:  # type: ignore[arg-type]
        message = await stream.get_final_message()
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"
    return message.content[0].text, message.usage.input_tokens, message.usage.output_tokens  # type: ignore[union-attr]


async def ask_openai(url: str) -> tuple[str, int, int]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)
    async with client.chat.completions.stream(
        model="claude-haiku-4-5", messages=ASK, stream_options={"include_usage": True}  # type: ignore[arg-type]
    ) as stream:
        completion = await stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and completion.usage is not None
    return choice.message.content or "", completion.usage.prompt_tokens, completion.usage.completion_tokens


ASKERS = {"anthropic": ask_anthropic, "openai": ask_openai}
SDK_ERRORS = {"anthropic": anthropic.APIError, "openai": openai.APIError}


@pytest.mark.parametrize("client", list(ASKERS))
@pytest.mark.parametrize(("habit", "kind"), HABITS, ids=[f"{h}-{k}" for h, k in HABITS])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_cut_stream_is_spliced_or_refused(chains: Chains, fault: str, habit: str, kind: str, client: str) -> None:
    claude, fallback, trooper = chains[kind]
    claude.reset()
    fallback.reset()
    claude.script(FAULTS[fault])
    model = Habit(habit, ANSWER)
    fallback.default = model  # every request to it (a retry without prefill too)
    url = trooper.url
    if OUTCOMES[(habit, kind)] == "refused":
        with pytest.raises(SDK_ERRORS[client], match="continuation did not join it"):
            await ASKERS[client](url)
    else:
        text, input_tokens, output_tokens = await ASKERS[client](url)
        assert text == ANSWER
        said = model.answer(dialogue(fallback.generation_requests()[-1].json))
        assert said is not None
        # The request as the primary counted it; the output of both providers.
        assert (input_tokens, output_tokens) == (PRIMARY_INPUT, estimate_text(SENT) + len(said.split()))
    asked = fallback.generation_requests()
    assert len(asked) == (2 if habit == "rejects_prefill" else 1)
    assert asked[0].json["messages"][-1]["role"] == ("assistant" if kind == "ollama" else "user")


@pytest.mark.parametrize("client", list(ASKERS))
async def test_a_malformed_event_that_carried_nothing_is_skipped(chains: Chains, client: str) -> None:
    claude, fallback, trooper = chains["openai"]
    claude.reset()
    fallback.reset()
    claude.script(MalformedMidStream(AFTER, Text(ANSWER), empty=True))
    text, input_tokens, output_tokens = await ASKERS[client](trooper.url)
    assert (text, input_tokens, output_tokens) == (ANSWER, PRIMARY_INPUT, len(ANSWER.split()))
    assert fallback.generation_requests() == []  # the primary answered it all


@pytest.mark.parametrize("client", list(ASKERS))
async def test_a_refused_continuation_moves_on_to_the_next_provider(tmp_path: Path, client: str) -> None:
    """The first fallback answers something else (refused, never shown); the second one
    continues: the client gets the whole answer, and the refusal is on its attempt."""
    async with FakeUpstream() as claude, FakeUpstream() as ignorer, FakeUpstream() as continuer:
        path = tmp_path / "three.toml"
        path.write_text(
            "[stages.route]\nsimple_to_local = false\n"
            "[stages.failover.breaker]\nthreshold = 1000000\n"
            f'[[providers]]\nname = "claude"\nkind = "anthropic"\nurl = "{claude.url}"\nkey_env = "CLAUDE_API_KEY"\n'
            'model = "claude-haiku-4-5"\n'
            f'[[providers]]\nname = "ignorer"\nkind = "openai"\nurl = "{ignorer.url}/v1"\nmodel = "fallback-model"\n'
            f'[[providers]]\nname = "continuer"\nkind = "openai"\nurl = "{continuer.url}/v1"\nmodel = "fallback-model"\n'
        )
        env = {"CLAUDE_API_KEY": "sk-ant-test-claude-key-0123456789", "LOCAL_EMBEDDED": "off"}
        async with run_trooper(env, path) as trooper:
            claude.script(ResetMidStream(AFTER, Text(ANSWER)))
            ignorer.default = Habit("ignores", ANSWER)
            continuer.default = Habit("continues", ANSWER)
            text, input_tokens, _ = await ASKERS[client](trooper.url)
            assert (text, input_tokens) == (ANSWER, PRIMARY_INPUT)
            assert len(ignorer.generation_requests()) == 1 and len(continuer.generation_requests()) == 1
            # Answering something else is not ill health: the ignorer's breaker counted nothing.
            assert trooper.runtime.health["ignorer"].recent_failures() == 0
