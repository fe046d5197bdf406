"""Bounded work: the requests an attacker would use to freeze the gateway (one enormous
word, 100,000 content blocks, 10,000 messages, each to the cloud and forced onto the local
model, where compaction reads them) all get an answer from a real `trooper serve`, and
`/health` keeps answering while they are worked on.

This file guards whatever the classifier and the signal extractor become: every text
scan on the request path has to stay linear in its input (signals/bounded.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import chain_env
from tests.fakes.upstream import FakeUpstream, Text
from tests.served import serving

HEALTH_PATIENCE = 20.0  # seconds: generous for a loaded machine; a frozen loop never answers


def word_turn() -> list[dict]:
    return [{"role": "user", "content": "Z" * 100_000}]


def punctuation_run() -> list[dict]:
    """An earlier turn of runs of punctuation, which compaction cuts to fit the local window."""
    return [{"role": "user", "content": "Why?" + "!" * 100_000 + " " + "-" * 50_000 + " ok"},
            {"role": "assistant", "content": "Because." + "?" * 50_000}, {"role": "user", "content": "go on"}]


def many_blocks() -> list[dict]:
    blocks = [{"type": "text", "text": f"a-{i}."} for i in range(100_000)]
    return [{"role": "user", "content": blocks}]


def many_messages() -> list[dict]:
    turns = []
    for i in range(5_000):
        turns.append({"role": "user", "content": f"Step {i}: TODO check host-{i}.internal then wait for it!!!"})
        turns.append({"role": "assistant", "content": f"✅ Step {i} done. {'-=' * 40}"})
    turns.append({"role": "user", "content": "go on"})
    return turns


SHAPES = {"a 100,000-character word": word_turn, "a 100,000-character run of punctuation": punctuation_run,
          "100,000 blocks": many_blocks, "10,000 messages": many_messages}


async def health_while(url: str, work: asyncio.Task) -> int:
    """Ask /health again and again until `work` is done; each must answer."""
    answered = 0
    async with aiohttp.ClientSession() as http:
        while not work.done():
            async with asyncio.timeout(HEALTH_PATIENCE), http.get(url + "/health") as response:
                assert response.status == 200
            answered += 1
            await asyncio.sleep(0.05)
    return answered


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "forced-local"])
async def test_hostile_shapes_are_answered_and_health_stays_up(tmp_path: Path, claude: FakeUpstream,
                                                               ollama: FakeUpstream, local: bool) -> None:
    claude.default = Text("cloud answer")
    ollama.default = Text("local answer")
    env = chain_env(claude=claude, ollama=ollama, TROOPER_DB=str(tmp_path / "t.db"), TROOPER_LOG_LEVEL="warning")
    async with serving(tmp_path, env) as trooper, aiohttp.ClientSession() as http:
        for name, shape in SHAPES.items():
            body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": shape(),
                               **({"x_force_local": True} if local else {})})

            async def ask(body: str, name: str) -> tuple[int, dict]:
                async with http.post(trooper.url + "/v1/messages", data=body,
                                     headers={"content-type": "application/json", "x-session-id": name}) as response:
                    return response.status, await response.json()

            work = asyncio.create_task(ask(body, name))
            await health_while(trooper.url, work)
            status, answer = await work
            if local and status in (400, 503):
                # One turn longer than the local window: compaction keeps the latest turn
                # verbatim or not at all, so the local tier is skipped, and says why.
                assert "too_long" in answer["error"]["message"], (name, answer)
                continue
            assert status == 200, (name, answer)
            assert answer["content"][0]["text"] == ("local answer" if local else "cloud answer"), name
        # The store reads all of it for signals, off the request path: still answering.
        async with asyncio.timeout(HEALTH_PATIENCE), http.get(trooper.url + "/health") as response:
            assert response.status == 200
