"""Malformed upstream data, through the real server, for every provider kind:

- a truncated body, or a stream cut before its first event, is a provider failure: the
  next provider answers and the client never knows;
- SSE events without data, event types this code doesn't know and NDJSON lines of an
  unknown shape are skipped, and the answer completes;
- a stream that breaks after the client got text ends with an error event in the
  client's own format, which its SDK raises: never a truncated "success".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import anthropic
import openai
import pytest

from tests.fakes.upstream import Behaviour, ErrorMidStream, FakeUpstream, Raw, ResetAfter, Text
from tests.stacks import CLIENTS, PROVIDERS, Stacks, ask, single_provider_troopers, trooper_for
from trooper.conversation import (
    BlockStart,
    BlockStop,
    Conversation,
    Response,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextBlock,
    TextDelta,
    Usage,
)
from trooper.formats import codec

BACKUP = {"claude": "ollama", "gemini": "ollama", "openai": "ollama", "ollama": "gemini"}
REQUEST = {"messages": [{"role": "user", "content": "Why does my build fail on CI?"}]}  # complex: not routed locally
ANSWER = "All good from upstream."
BACKUP_ANSWER = "The backup answered."
CONTENT_TYPES = {"anthropic": "text/event-stream", "gemini": "text/event-stream", "openai": "text/event-stream", "ollama": "application/x-ndjson"}

# --- an upstream's own wire bytes, written with our codecs' client side (the same formats) ---

EVENTS: list[StreamEvent] = [
    StreamStart("id_1", "upstream-model", 4),
    BlockStart(0, TextBlock("")),
    *(TextDelta(0, piece) for piece in ("All ", "good ", "from ", "upstream.")),
    BlockStop(0),
    StreamEnd("end_turn", None, Usage(4, 4)),
]


def stream_frames(kind: str) -> list[bytes]:
    encoder = codec(kind).StreamEncoder(Conversation("m", (), extra={"stream_options": {"include_usage": True}}))
    frames = [encoder.encode(event) for event in EVENTS] + [encoder.trailer()]
    return [frame for frame in frames if frame]


def whole_body(kind: str) -> bytes:
    return codec(kind).encode_response(Response("id_1", "upstream-model", (TextBlock(ANSWER),), usage=Usage(4, 4)))


# Junk each format's readers must skip, by kind.
_SSE_JUNK = b"event: mystery\n\n: a comment\n\nevent: future_event\ndata: {\"type\": \"future_event\", \"x\": 1}\n\nretry: 10\n\n"
JUNK = {
    "anthropic": _SSE_JUNK + b'event: content_block_citation\ndata: {"type": "content_block_citation", "index": 0}\n\n',
    "gemini": _SSE_JUNK + b'data: {"candidates": [], "futureField": {"a": 1}}\n\n',
    "openai": _SSE_JUNK + b'data: {"id": "x", "object": "chat.completion.chunk", "choices": [], "future": true}\n\n',
    "ollama": b'\n{"status": "loading model"}\n{"model": "m", "created_at": "2025-01-01T00:00:00Z", "future": [1]}\n',
}


def raw(kind: str, body: bytes) -> Raw:
    return Raw(200, body, {"Content-Type": CONTENT_TYPES[kind]})


# --- a two-provider chain per broken provider: it, then a backup ---

Chains = dict[str, tuple[FakeUpstream, FakeUpstream, str]]  # broken provider -> (its fake, the backup's fake, Trooper URL)


@pytest.fixture(scope="module")
async def chains(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chains]:
    directory = tmp_path_factory.mktemp("malformed")
    async with AsyncExitStack() as stack:
        opened: Chains = {}
        for name in PROVIDERS:
            broken = await stack.enter_async_context(FakeUpstream())
            backup = await stack.enter_async_context(FakeUpstream())
            url = await stack.enter_async_context(trooper_for(directory, [(name, broken), (BACKUP[name], backup)]))
            opened[name] = (broken, backup, url)
        yield opened


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stacks]:
    async with single_provider_troopers(tmp_path_factory.mktemp("malformed-single")) as opened:
        yield opened


async def answered_by_backup(chains: Chains, provider: str, client: str, streamed: bool, broken_answer: Behaviour) -> None:
    broken, backup, url = chains[provider]
    broken.reset()
    backup.reset()
    broken.script(broken_answer)
    backup.script(Text(BACKUP_ANSWER))
    outcome = await ask(client, url, streamed, REQUEST)
    assert outcome.text == BACKUP_ANSWER and outcome.stop == "end_turn"
    assert len(broken.generation_requests()) == 1 and len(backup.generation_requests()) == 1


# --- a truncated body falls over ---


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
async def test_truncated_body_falls_over(chains: Chains, client: str, provider: str) -> None:
    kind = PROVIDERS[provider].kind
    body = whole_body(kind)
    await answered_by_backup(chains, provider, client, False, Raw(200, body[: len(body) // 2], {"Content-Type": "application/json"}))


# --- a stream cut before its first event falls over, invisibly ---


@pytest.mark.parametrize("cut", ["reset", "eof"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
async def test_stream_cut_before_first_event_falls_over(chains: Chains, client: str, provider: str, cut: str) -> None:
    kind = PROVIDERS[provider].kind
    first = stream_frames(kind)[0]
    if cut == "reset":
        broken: Behaviour = ResetAfter(len(first) // 2)  # the fake's own stream, the connection reset mid first event
    else:
        broken = raw(kind, first[: len(first) // 2])  # half an event, then a clean end of body
    await answered_by_backup(chains, provider, client, True, broken)


# --- unknown events are skipped when translating, and passed on untouched on the fast path ---

TRANSLATED = [(client, provider) for client in CLIENTS for provider in PROVIDERS if PROVIDERS[provider].kind != client]


@pytest.mark.parametrize(("client", "provider"), TRANSLATED)
async def test_unknown_events_are_skipped(stacks: Stacks, client: str, provider: str) -> None:
    kind = PROVIDERS[provider].kind
    frames = stream_frames(kind)
    fake, url = stacks[provider]
    fake.reset()
    fake.script(raw(kind, b"".join([*frames[:2], JUNK[kind], *frames[2:]])))
    outcome = await ask(client, url, True, REQUEST)
    assert outcome.text == ANSWER
    assert outcome.stop == "end_turn"


@pytest.mark.parametrize(("client", "provider"), [("anthropic", "claude"), ("openai", "openai")])
async def test_fast_path_passes_unknown_events_on(stacks: Stacks, client: str, provider: str) -> None:
    """Same vendor both sides: the upstream's bytes, new event types included, are the
    client's bytes (its SDK may know events this code doesn't)."""
    frames = stream_frames(client)
    upstream = b"".join([*frames[:2], JUNK[client], *frames[2:]])
    fake, url = stacks[provider]
    fake.reset()
    fake.script(raw(client, upstream))
    path, body = ("/v1/messages", {"max_tokens": 5}) if client == "anthropic" else ("/v1/chat/completions", {})
    body |= {"model": PROVIDERS[provider].model, "stream": True, **REQUEST}
    async with aiohttp.ClientSession() as http, http.post(url + path, json=body) as resp:
        received = await resp.read()
    assert resp.status == 200
    assert received == upstream


# --- a stream that breaks after text ends with an error the SDK raises ---

SDK_STREAM_ERRORS = {"anthropic": anthropic.APIError, "openai": openai.APIError}


@pytest.mark.parametrize("cut", ["vendor_error", "reset"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("client", CLIENTS)
async def test_stream_broken_after_text_is_an_error_not_a_success(stacks: Stacks, client: str, provider: str, cut: str) -> None:
    fake, url = stacks[provider]
    fake.reset()
    long_answer = Text(" ".join(f"word{i}" for i in range(60)))
    fake.script(ErrorMidStream(after_chunks=4, answer=long_answer) if cut == "vendor_error" else ResetAfter(700, long_answer))
    with pytest.raises(SDK_STREAM_ERRORS[client], match="upstream stream broke: " + ("stream_error" if cut == "vendor_error" else "network")):
        await ask(client, url, True, REQUEST)
