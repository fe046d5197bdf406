"""One behaviour suite, run against both stores (embedded SQLite and Redis), so the two
cannot drift: round trips, incremental transcripts, ordering, retention, live updates,
per-session caps."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis import asyncio as aioredis

from tests.redis_server import redis_server  # noqa: F401  (a fixture)
from tests.test_store import Agent, conversation, record, text
from trooper.config import StoreSettings
from trooper.conversation import Message, Response, TextBlock, ToolUseBlock
from trooper.store import EmbeddedStore, Observation, RequestRecord
from trooper.store.redis import RedisStore

Factory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Builds started stores of one kind (settings and clock as a test asks); closes them
    after. `like`: another store on the same data (the same Redis; the same SQLite file,
    once the first is closed), as a restart or a second instance sees it."""
    opened: list[Any] = []
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""

    async def make(clock: Callable[[], float] | None = None, like: Any = None, **settings: Any) -> Any:
        more = {"clock": clock} if clock is not None else {}
        settings.setdefault("max_age_days", 0)
        if like is not None:
            store: Any = type(like)(like.settings, **more)
        elif request.param == "redis":
            store = RedisStore(StoreSettings(url=url, **settings), **more)
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


def seqs(raws: list[msgspec.Raw]) -> list[int]:
    return [msgspec.json.decode(raw)["seq"] for raw in raws]


async def held(store: Any, session_id: str) -> tuple[int, int]:
    """How many transcript entries and request records the store's storage holds for a
    session (SQLite rows; Redis list and hash lengths, both transcript lists)."""
    if isinstance(store, RedisStore):
        client = aioredis.Redis.from_url(store.settings.url)
        try:
            keys, messages, requests = [await client.llen(f"trooper:s:{session_id}:keys"),
                                        await client.llen(f"trooper:s:{session_id}:msgs"),
                                        await client.hlen(f"trooper:s:{session_id}:reqs")]
        finally:
            await client.aclose()
        assert keys == messages
        return messages, requests
    await store.flush()
    with sqlite3.connect(store.location) as db:
        return tuple(db.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)).fetchone()[0]
                     for table in ("messages", "requests"))  # type: ignore[return-value]


async def test_a_long_session_keeps_its_newest_messages_and_requests(make_store: Factory) -> None:
    store = await make_store(max_messages=30, max_requests=10)
    agent = Agent(store)
    for n in range(1, 41):
        agent.turn(f"Turn {n}: carry on with the migration.", f"Completed step {n}.")
    detail = await store.session("s1")
    assert detail is not None
    assert seqs(detail.transcript) == list(range(51, 81))  # the newest 30 of 80
    assert seqs(detail.requests) == list(range(31, 41))
    assert detail.session.messages == 80 and detail.session.requests == 40  # the counts stay true
    stats = store.stats()
    assert (stats.trimmed_messages, stats.trimmed_requests) == (50, 30)
    assert await held(store, "s1") == (30, 10)
    # The next turn is still recognised as the same conversation growing by two messages.
    agent.turn("Turn 41: finish up.", "Completed step 41.")
    detail = await store.session("s1")
    assert detail is not None and seqs(detail.transcript)[-3:] == [80, 81, 82]
    found = await store.signals("s1")
    assert found is not None and found[0].messages == 82
    # A restart (SQLite) or another instance (Redis) carries on from what is stored.
    if isinstance(store, EmbeddedStore):
        await store.close()
    again = await make_store(like=store)
    follower = Agent(again)
    follower.history, follower.ref = list(agent.history), 100
    follower.turn("Turn 42: one more.", "Completed step 42.")
    detail = await again.session("s1")
    assert detail is not None
    assert seqs(detail.transcript) == list(range(55, 85)) and seqs(detail.requests) == list(range(33, 43))
    assert (detail.session.messages, detail.session.requests, detail.session.in_flight) == (84, 42, 0)
    assert await held(again, "s1") == (30, 10)


async def test_an_answer_whose_request_record_the_cap_dropped_is_not_kept(make_store: Factory) -> None:
    store = await make_store(max_requests=2)
    asked = [conversation(*(text("user", f"Question {k}?") for k in range(1, n + 1))) for n in range(1, 5)]
    for ref, conv in enumerate(asked, 1):
        store.observe(Observation(ref, "s1", "request", float(ref), conv))
    await store.signals("s1")  # the requests applied: records 1 and 2 are past the cap
    assert await held(store, "s1") == (4, 0)  # and written
    for ref in (4, 3, 2, 1):  # the answers come late, the oldest last
        store.observe(Observation(ref, "s1", "answer", 10.0 + ref, asked[ref - 1],
                                  Response("m", "m", (TextBlock(f"Answer {ref}."),)), record()))
    detail = await store.session("s1")
    assert detail is not None
    assert seqs(detail.requests) == [3, 4] and (detail.session.requests, detail.session.in_flight) == (4, 0)
    assert await held(store, "s1") == (len(detail.transcript), 2)
    assert store.stats().trimmed_requests == 2


async def test_two_instances_writing_one_capped_session_keep_its_newest(make_store: Factory) -> None:
    """A stateless client behind a load balancer, every request in one session on either
    instance at once (Redis: two stores racing on one session; SQLite: one process is the
    whole fleet, so one store takes both). The caps hold, the counts stay true, the
    newest records are the ones kept, and what was dropped is counted once."""
    first = await make_store(max_messages=40, max_requests=25)
    stores = [first, first if isinstance(first, EmbeddedStore) else await make_store(like=first)]
    asked = conversation(text("user", "Classify this ticket."))
    per_store = 150
    for wave in range(15):
        for n in range(wave * per_store // 15, (wave + 1) * per_store // 15):
            for i, store in enumerate(stores):
                ref = 1 + n + i * 10_000
                said = Response("m", "m", (TextBlock(f"Answer {i}-{n}."),))
                store.observe(Observation(ref, "hot", "request", 1.0 + n, asked))
                store.observe(Observation(ref, "hot", "answer", 1.5 + n, asked, said, record()))
        await asyncio.sleep(0.01)  # the writers run between waves, racing each other
    for store in stores:
        await store.signals("hot")  # every observation of this instance applied
    detail = await first.session("hot")
    assert detail is not None
    summary = detail.session
    assert (summary.requests, summary.in_flight) == (2 * per_store, 0)
    assert seqs(detail.requests) == list(range(2 * per_store - 24, 2 * per_store + 1))
    assert seqs(detail.transcript) == list(range(summary.messages - 39, summary.messages + 1))
    answers = [t for t in texts(detail.transcript) if t.startswith("Answer")]
    assert len(answers) == len(set(answers)) >= 30
    assert await held(first, "hot") == (40, 25)
    counted = [store.stats() for store in dict.fromkeys(stores)]
    assert sum(s.trimmed_messages for s in counted) == summary.messages - 40
    assert sum(s.trimmed_requests for s in counted) == 2 * per_store - 25
    assert sum(s.dropped for s in counted) == 0
    if isinstance(first, RedisStore):
        assert any(store._contended for store in stores)  # they raced, and took turns under the lock


async def test_a_history_resent_with_an_earlier_message_edited_stores_the_edit(make_store: Factory) -> None:
    """The store remembers the last request's keys to digest only what the next one adds:
    an earlier message edited since is a new message, never the remembered one."""
    store = await make_store()
    agent = Agent(store)
    for n in range(1, 5):
        agent.turn(f"Turn {n}: carry on with the migration.", f"Completed step {n}.")
    edited = list(agent.history)
    edited[2] = text("user", "Turn 2: roll it back instead.")
    store.observe(Observation(50, "s1", "request", 2000.0, conversation(*edited, text("user", "Turn 5: go on."))))
    store.observe(Observation(51, "s1", "request", 2001.0, conversation(*agent.history, text("user", "Turn 5: go on."))))
    detail = await store.session("s1")
    assert detail is not None
    said = texts(detail.transcript)
    assert said[:8] == [t for n in range(1, 5) for t in (f"Turn {n}: carry on with the migration.", f"Completed step {n}.")]
    # The edited branch from its edit on, each message the transcript didn't hold once; then
    # the original branch again brings nothing but its new turn, already held.
    assert said[8:] == ["Turn 2: roll it back instead.", "Turn 5: go on."]
    found = await store.signals("s1")
    assert found is not None and found[0].messages == 10


async def test_a_branch_coming_back_after_the_cap_dropped_it_is_stored_again(make_store: Factory) -> None:
    """What the cap dropped is no longer held: a history that goes back to it stores it
    again (once), as if it had never been seen."""
    store = await make_store(max_messages=6)
    agent = Agent(store)
    agent.turn("Turn 1: carry on.", "Done 1.")
    # A retry that went back and took another branch: the store looks up what it holds.
    store.observe(Observation(40, "s1", "request", 1500.0, conversation(text("user", "Turn 1: carry on."),
                                                                         text("user", "Turn 1, again."))))
    for n in range(2, 6):
        agent.turn(f"Turn {n}: carry on.", f"Done {n}.")
    detail = await store.session("s1")
    assert detail is not None
    assert texts(detail.transcript) == ["Turn 3: carry on.", "Done 3.", "Turn 4: carry on.", "Done 4.",
                                        "Turn 5: carry on.", "Done 5."]
    back = conversation(text("user", "Turn 1: carry on."), text("assistant", "Done 1."), text("user", "Turn 4: carry on."))
    for ref in (60, 61):  # twice: stored once
        store.observe(Observation(ref, "s1", "request", 3000.0, back))
    detail = await store.session("s1")
    assert detail is not None
    assert texts(detail.transcript)[-2:] == ["Turn 1: carry on.", "Done 1."]
    assert detail.session.messages == 13


async def test_a_tool_call_whose_input_holds_an_integer_past_64_bits_is_stored(make_store: Factory) -> None:
    store = await make_store()
    call = Message("assistant", (ToolUseBlock("t1", "transfer", {"amount": 2**70}),))
    asked = conversation(text("user", "Move the funds."), call, text("user", "Done?"))
    store.observe(Observation(1, "s1", "request", 1.0, asked))
    store.observe(Observation(1, "s1", "answer", 2.0, asked, Response("m", "m", (TextBlock("Yes."),)), record()))
    detail = await store.session("s1")
    assert detail is not None and detail.session.messages == 4
    assert msgspec.json.decode(detail.transcript[1])["content"][0]["input"] == {"amount": 2**70}
