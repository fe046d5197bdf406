"""Routing and compaction through the real server: a simple turn is answered locally and
the cloud never sees it; a 200-turn conversation falling over to the local model arrives
within its window, with the SITREP; cloud providers always get the conversation whole."""

from __future__ import annotations

import sys
from pathlib import Path

import anthropic
import msgspec

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text
from trooper.compaction import SITREP_OPEN
from trooper.formats import anthropic as anthropic_format
from trooper.signals.tokens import estimate_text

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from compaction import long_conversation  # noqa: E402


def client(url: str, **kw) -> anthropic.AsyncAnthropic:  # type: ignore[no-untyped-def]
    return anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0, **kw)


async def test_simple_turn_never_reaches_the_cloud(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    ollama.default = Text("7 days.")
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        sdk = client(trooper.url, default_headers={"X-Session-ID": "routing"})
        first = await sdk.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "how many days in a week"}]
        )
        second = await sdk.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "what is the capital of Peru?"}]
        )
        complex_turn = await sdk.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "explain why goroutines leak"}]
        )
        opted_out = await client(trooper.url, default_headers={"X-Trooper-Route": "cloud"}).messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "how many days in a week"}]
        )
    assert (await first.parse()).content[0].text == "7 days."
    assert first.headers["x-trooper-provider"] == "ollama"
    assert first.headers["x-trooper-decision"] == "ollama (simple turn) | cloud skipped"
    saved_first = int(first.headers["x-trooper-session-saved"].split()[0])
    saved_second = int(second.headers["x-trooper-session-saved"].split()[0])
    assert 0 < saved_first < saved_second  # cumulative per session
    assert complex_turn.headers["x-trooper-provider"] == "claude"
    assert opted_out.headers["x-trooper-provider"] == "claude"
    assert [r.json["messages"][-1]["content"] for r in claude.generation_requests()] == [
        "explain why goroutines leak", "how many days in a week"
    ]


async def test_a_200_turn_conversation_arrives_at_the_local_model_within_budget(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    conversation = long_conversation()
    body = msgspec.json.decode(anthropic_format.encode_request(conversation, "claude-haiku-4-5"))
    body["max_tokens"] = 512
    claude.script(Error(529), Error(529))
    ollama.script(Text("Resuming from step 5."))
    async with run_trooper(chain_env(claude=claude, ollama=ollama)) as trooper:
        raw = await client(trooper.url).messages.with_raw_response.create(**body)
    assert (await raw.parse()).content[0].text == "Resuming from step 5."
    assert raw.headers["x-trooper-summary"].endswith("| context ✓")
    # The cloud got the conversation whole ...
    assert len(claude.requests[-1].json["messages"]) == len(body["messages"])
    # ... the local model a compacted one that fits its window, with the SITREP.
    sent = ollama.requests[-1].json
    assert sent["options"]["num_ctx"] == 6144
    prompt_tokens = sum(estimate_text(m["content"]) + 4 for m in sent["messages"])
    assert prompt_tokens + sent["options"]["num_predict"] <= 6144
    assert any(SITREP_OPEN in m["content"] for m in sent["messages"])
    assert sent["messages"][1]["content"] == body["messages"][0]["content"]  # the anchor (after the system prompt)
    assert len(sent["messages"]) < len(body["messages"]) / 3


async def test_a_simple_turn_served_by_the_next_local_tier_says_both(claude: FakeUpstream, ollama: FakeUpstream) -> None:
    """Ollama down, a second local tier answers: still 'simple turn | cloud skipped', and the
    summary tells what happened on the way."""
    local = FakeUpstream()
    await local.start()
    try:
        local.default = Text("4")
        env = chain_env(claude=claude, LOCAL_URL=local.url + "/v1", LOCAL_MODEL="tiny")  # Ollama: closed port
        async with run_trooper(env) as trooper:
            raw = await client(trooper.url).messages.with_raw_response.create(
                model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "What is 2+2?"}]
            )
    finally:
        await local.stop()
    provider = raw.headers["x-trooper-provider"]
    assert provider != "ollama" and claude.requests == []
    assert raw.headers["x-trooper-decision"] == f"{provider} (simple turn) | cloud skipped"
    assert raw.headers["x-trooper-summary"] == f"ollama → {provider} (network) | context ✓"


async def test_session_savings_carry_on_after_a_restart(claude: FakeUpstream, ollama: FakeUpstream, tmp_path: Path) -> None:
    """X-Trooper-Session-Saved is the session's total, not this process's: the store's
    figure survives the restart."""
    ollama.default = Text("7 days.")
    env = chain_env(claude=claude, ollama=ollama, TROOPER_DB=str(tmp_path / "trooper.db"))
    said = [{"role": "user", "content": "how many days in a week"}]
    saved = []
    for _ in range(2):
        async with run_trooper(env) as trooper:
            sdk = client(trooper.url, default_headers={"X-Session-ID": "kept"})
            reply = await sdk.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=50, messages=said)
            assert reply.headers["x-trooper-provider"] == "ollama"
            saved.append(int(reply.headers["x-trooper-session-saved"].split()[0]))
    assert saved[0] > 0 and saved[1] == 2 * saved[0]  # the same turn twice
