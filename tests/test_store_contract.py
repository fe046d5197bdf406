"""One behaviour suite, run against both stores (embedded SQLite and Redis), so the two
cannot drift: round trips, incremental transcripts, ordering, retention, live updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.redis_server import redis_server  # noqa: F401  (a fixture)
from tests.test_store import Agent, conversation, record, text
from trooper.config import StoreSettings
from trooper.conversation import Response, TextBlock
from trooper.store import EmbeddedStore, Observation, RequestRecord
from trooper.store.redis import RedisStore

Factory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Builds started stores of one kind (settings and clock as a test asks); closes them after."""
    opened: list[Any] = []
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""

    async def make(clock: Callable[[], float] | None = None, **settings: Any) -> Any:
        more = {"clock": clock} if clock is not None else {}
        settings.setdefault("max_age_days", 0)
        if request.param == "redis":
            store: Any = RedisStore(StoreSettings(url=url, **settings), **more)
        else:
            store = EmbeddedStore(StoreSettings(path=str(tmp_path / f"t{len(opened)}.db"), **settings), **more)
        await store.start()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


def texts(transcript: list[msgspec.Raw]) -> list[str]:
    return [msgspec.json.decode(e)["content"][0]["text"] for e in transcript]


async def test_two_histories_alternating_under_one_id_are_stored_once(make_store: Factory) -> None:
    store = await make_store()
    first, second = Agent(store, "shared"), Agent(store, "shared")
    second.ref = 10_000
    for n in range(1, 9):
        first.turn(f"Branch A turn {n}: plan the rollout.", f"A answer {n}.")
        second.turn(f"Branch B turn {n}: plan the rollback.", f"B answer {n}.")
    detail = await store.session("shared")
    assert detail is not None
    assert len(detail.transcript) == 32 and sorted(set(texts(detail.transcript))) == sorted(texts(detail.transcript))


async def test_observations_round_trip_to_sessions_session_and_signals(make_store: Factory) -> None:
    store = await make_store()
    agent = Agent(store)
    agent.turn("I want to migrate the users table to Postgres 16.", "TODO: waiting on the DBA to approve.")
    agent.turn("The DBA approved.", "✅ Step 1 done: dumped the users table.", "ollama", tokens_saved=7)
    sessions, total = await store.sessions()
    assert total == 1
    summary = sessions[0]
    assert (summary.id, summary.requests, summary.messages, summary.providers) == ("s1", 2, 4, ["claude", "ollama"])
    assert (summary.tokens_in, summary.tokens_out, summary.tokens_saved, summary.in_flight) == (20, 10, 7, 0)
    detail = await store.session("s1")
    assert detail is not None
    assert detail.system == "You are a migration agent."
    assert [msgspec.json.decode(r, type=RequestRecord).seq for r in detail.requests] == [1, 2]
    entries = [msgspec.json.decode(e) for e in detail.transcript]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e.get("provider") for e in entries[1::2]] == ["claude", "ollama"]
    found = await store.signals("s1")
    assert found is not None
    assert found[1].intent == "migrate the users table to Postgres 16" == summary.intent
    assert found[1].completed_steps == ["✅ Step 1 done: dumped the users table"]
    assert await store.session("nobody") is None and await store.signals("nobody") is None


async def test_resending_the_whole_history_adds_only_what_is_new(make_store: Factory) -> None:
    store = await make_store()
    agent = Agent(store)
    for n in range(1, 8):
        agent.turn(f"Turn {n}: please continue the migration.", f"Completed step {n}.")
    # A retry of the last request brings nothing new.
    again = conversation(*agent.history[:-1])
    store.observe(Observation(99, "s1", "request", 2000.0, again))
    detail = await store.session("s1")
    assert detail is not None
    assert len(detail.transcript) == 14 and detail.session.messages == 14
    assert texts(detail.transcript)[-2:] == ["Turn 7: please continue the migration.", "Completed step 7."]
    # The SDK's re-rendered answer (whitespace) is the same message.
    store.observe(Observation(100, "s2", "request", 1.0, conversation(text("user", "Hello, migrate it."))))
    store.observe(Observation(100, "s2", "answer", 2.0, conversation(text("user", "Hello, migrate it.")),
                              Response("m", "m", (TextBlock("  Sure.  "),)), record()))
    store.observe(Observation(101, "s2", "request", 3.0, conversation(
        text("user", "Hello, migrate it."), text("assistant", "Sure."), text("user", "Go on."))))
    detail = await store.session("s2")
    assert detail is not None and texts(detail.transcript) == ["Hello, migrate it.", "  Sure.  ", "Go on."]


async def test_an_answer_whose_next_request_was_applied_first_is_stored_once(make_store: Factory) -> None:
    """The client had the answer and sent its next turn, which the store applied before the
    answer's own observation: the transcript already holds the answer at its place."""
    store = await make_store()
    asked = conversation(text("user", "Plan the rollout."))
    then = conversation(text("user", "Plan the rollout."), text("assistant", "Step 1: back up."), text("user", "Go on."))
    store.observe(Observation(1, "s1", "request", 1.0, asked))
    store.observe(Observation(2, "s1", "request", 2.0, then))
    store.observe(Observation(1, "s1", "answer", 3.0, asked, Response("m", "m", (TextBlock("Step 1: back up."),)),
                              record()))
    store.observe(Observation(2, "s1", "answer", 4.0, then, Response("m", "m", (TextBlock("Step 2: drain."),)),
                              record()))
    detail = await store.session("s1")
    assert detail is not None
    assert texts(detail.transcript) == ["Plan the rollout.", "Step 1: back up.", "Go on.", "Step 2: drain."]
    assert [msgspec.json.decode(e)["seq"] for e in detail.transcript] == [1, 2, 3, 4]
    assert (detail.session.messages, detail.session.requests, detail.session.in_flight) == (4, 2, 0)


async def test_sessions_are_listed_most_recently_active_first(make_store: Factory) -> None:
    store = await make_store()
    for i, name in enumerate(("a", "b", "c")):
        Agent(store, name).turn("Please keep this.", "Sure.", at=1000.0 + 10 * i)
    Agent(store, "a").turn("Again, a.", "Sure.", at=1100.0)
    sessions, total = await store.sessions()
    assert total == 3 and [s.id for s in sessions] == ["a", "c", "b"]
    page, total = await store.sessions(limit=1, offset=1)
    assert total == 3 and [s.id for s in page] == ["c"]


async def test_retention_by_count_and_by_age(make_store: Factory) -> None:
    now = [10_000_000.0]
    store = await make_store(clock=lambda: now[0], max_sessions=2, max_age_days=1)
    for i, name in enumerate(("old", "mid", "new")):
        Agent(store, name).turn("Please keep this session.", "Sure.", at=now[0] - 3600 * (3 - i))
    await store.sessions()
    assert await store.retain() == ["old"]
    now[0] += 81_000  # "mid" is now idle for more than a day, "new" not yet
    assert await store.retain() == ["mid"]
    sessions, total = await store.sessions()
    assert total == 1 and [s.id for s in sessions] == ["new"]
    assert await store.session("old") is None and await store.session("mid") is None


async def events(subscription: Any, count: int) -> list[dict]:
    """The next `count` SSE events' data (a chunk may carry several: the Redis store
    publishes one write's updates together)."""
    found: list[dict] = []
    while len(found) < count:
        chunk = await asyncio.wait_for(subscription.next(), 5)
        found += [msgspec.json.decode(frame.split(b"data: ", 1)[1]) for frame in chunk.split(b"\n\n") if b"data: " in frame]
    return found


async def test_a_subscriber_sees_what_is_new(make_store: Factory) -> None:
    store = await make_store()
    subscription = store.subscribe()
    Agent(store).turn("I want to migrate the users table.", "✅ Step 1 done: dumped it.")
    request, answer = await events(subscription, 2)
    assert request["session"]["in_flight"] == 1 and [e["role"] for e in request["entries"]] == ["user"]
    assert request["signals"]["intent"] == "migrate the users table"
    assert answer["request"]["seq"] == 1 and answer["entries"][0]["provider"] == "claude"
    assert answer["signals"]["completed_steps"] == ["✅ Step 1 done: dumped it"]
    subscription.close()


async def test_observe_never_raises_and_stats_count(make_store: Factory) -> None:
    store = await make_store()
    Agent(store).turn("Hello.", "Hi.")
    await store.sessions()
    stats = store.stats()
    assert (stats.sessions, stats.queued, stats.dropped) == (1, 0, 0)


async def test_a_backlog_keeps_every_record_and_signals_catch_up(make_store: Factory) -> None:
    """Forty turns queued before the store runs: a backlog. Every message and request is
    kept; long answers may go unread for signals (counted), and the session's next
    request, which resends the history, brings the signals back up to date."""
    store = await make_store()
    agent = Agent(store)
    filler = " The migration log shows nothing unusual for this table." * 15
    for n in range(1, 41):
        agent.turn(f"Turn {n}: migrate the next table.", f"✅ Step {n} done: migrated table {n}.{filler}")
    assert store.stats().queued == 80
    detail = await store.session("s1")
    assert detail is not None
    assert (len(detail.transcript), detail.session.requests, detail.session.in_flight) == (80, 40, 0)
    assert store.stats().signals_skipped > 0 and store.stats().dropped == 0
    agent.turn("Turn 41: migrate the next table.", "✅ Step 41 done: migrated table 41.")
    found = await store.signals("s1")
    assert found is not None
    assert found[1].resume_from == 42
    assert "✅ Step 40 done: migrated table 40" in found[1].completed_steps
