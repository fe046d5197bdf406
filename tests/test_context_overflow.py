"""A conversation too long for a provider's window is not a dead end: the provider's own
400 ("prompt is too long", `context_length_exceeded`, Gemini's token count) names its
limit, the conversation is compacted into it and asked once more; failing that, the next
provider whose window fits answers. Real SDKs as clients, fakes speaking each vendor."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text, dialogue
from trooper.providers.verdict import judge, stated_limit
from trooper.signals.tokens import estimate_text

TOO_LONG = {
    "anthropic": "prompt is too long: 9512 tokens > 4000 maximum",
    "openai": "This model's maximum context length is 4000 tokens. However, your messages resulted in 9512 tokens. "
    "Please reduce the length of the messages.",
    "gemini": "The input token count (9512) exceeds the maximum number of tokens allowed (4000).",
    "llama.cpp": "the request exceeds the available context size (4000 tokens), try increasing it",
}


@pytest.mark.parametrize("vendor", list(TOO_LONG))
def test_each_vendors_context_error_is_recognised_with_its_limit(vendor: str) -> None:
    body = ('{"error": {"message": "%s", "code": "context_length_exceeded"}}' % TOO_LONG[vendor]).encode()
    verdict = judge(400, body, frozenset({429}))  # whatever QUOTA_STATUS_CODES says
    assert (verdict.fall_over, verdict.reason) == (True, "context_too_long")
    assert stated_limit(TOO_LONG[vendor]) == 4000


def test_an_ordinary_400_is_still_the_clients() -> None:
    assert judge(400, b'{"error": {"message": "messages: roles must alternate"}}', frozenset({400})).fall_over is False
    assert stated_limit("messages: roles must alternate") is None


def long_conversation() -> list[dict[str, str]]:
    """~9,000 tokens of a deployment conversation: 40 turns about different services."""
    turns: list[dict[str, str]] = []
    for n in range(20):
        turns.append({"role": "user", "content": f"Step {n}: check service-{n} logs. " + "The pods restart after the config reload. " * 25})
        turns.append({"role": "assistant", "content": f"Checked service-{n}: " + "the readiness probe fails while the cache warms. " * 25})
    turns.append({"role": "user", "content": "Given all that, which service should we fix first, and why?"})
    return turns


def sent_tokens(body: dict) -> int:
    return sum(estimate_text(text) for _, text in dialogue(body))


@pytest.mark.parametrize("client", ["anthropic", "openai"])
async def test_a_context_overflow_is_answered_after_compaction(client: str, claude: FakeUpstream, openai_fake: FakeUpstream) -> None:
    """S12: the provider says the conversation is over its limit; compacted into that
    limit, the same provider answers."""
    fake = claude if client == "anthropic" else openai_fake
    fake.script(Error(400, message=TOO_LONG[client]), Text("Fix service-19 first: its probe blocks the rollout."))
    messages = long_conversation()
    env = chain_env(**{"claude" if client == "anthropic" else "openai": fake})
    async with run_trooper(env) as trooper:
        if client == "anthropic":
            sdk = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="k", max_retries=0)
            raw = await sdk.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=300, messages=messages)  # type: ignore[arg-type]
            text = (await raw.parse()).content[0].text  # type: ignore[union-attr]
        else:
            osdk = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key="k", max_retries=0)
            oraw = await osdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", max_tokens=300, messages=messages)  # type: ignore[arg-type]
            text, raw = oraw.parse().choices[0].message.content, oraw  # type: ignore[assignment]
    assert text == "Fix service-19 first: its probe blocks the rollout."
    first, second = fake.generation_requests()
    assert sent_tokens(first.json) > 4000 >= sent_tokens(second.json)
    assert dialogue(second.json)[-1] == ("user", messages[-1]["content"])  # the question is kept
    assert raw.headers["x-trooper-context"] == f"compacted for {'claude' if client == 'anthropic' else 'openai'}: the conversation was over its 4000-token limit"
    assert raw.headers["x-trooper-fallback-count"] == "0"


async def test_without_a_stated_limit_the_next_provider_whose_window_fits_answers(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(Error(400, message="prompt is too long"))
    ollama.script(Text("Fix service-19 first."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        sdk = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="k", max_retries=0)
        raw = await sdk.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=300, messages=long_conversation())  # type: ignore[arg-type]
    assert (await raw.parse()).content[0].text == "Fix service-19 first."  # type: ignore[union-attr]
    assert len(claude.generation_requests()) == 1
    assert raw.headers["x-trooper-decision"] == "ollama (fallback: context_too_long)"
    assert sent_tokens(ollama.generation_requests()[0].json) < 6144  # compacted into the local window
