"""The Redis store's own guarantees, against a real redis-server: selected by
TROOPER_STORE, a batch whose reply was lost is not written twice, and a full buffer while
Redis is unreachable drops (counted) rather than growing or blocking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)
from tests.test_store import Agent, conversation, record, text
from trooper.config import ConfigError, StoreSettings, load
from trooper.conversation import Response, TextBlock
from trooper.pipeline import build_stages
from trooper.runtime import Runtime
from trooper.store import Observation, open_store
from trooper.store.redis import RedisStore
from trooper.store.shared_breaker import SharedBreaker


def test_trooper_store_selects_redis_and_rejects_other_urls() -> None:
    settings = load(None, env={"TROOPER_STORE": "redis://127.0.0.1:6399/2"})
    assert settings.store.url == "redis://127.0.0.1:6399/2"
    store = open_store(settings.store)
    assert isinstance(store, RedisStore) and store.location == "redis://127.0.0.1:6399/2"
    with pytest.raises(ConfigError, match="TROOPER_STORE"):
        open_store(StoreSettings(url="mysql://db/trooper"))


def lose_replies(monkeypatch: pytest.MonkeyPatch, count: int) -> list[int]:
    """The next `count` commits reach Redis and are applied, but their replies never
    come back (the connection drops first), as when Redis or the network fails between
    the two. Returns the running count of replies lost."""
    lost: list[int] = []
    real = Pipeline.execute

    async def execute(self: Pipeline, raise_on_error: bool = True) -> list:  # type: ignore[type-arg]
        commits = any(args[0] == "EVALSHA" for args, _ in self.command_stack)
        results = await real(self, raise_on_error)
        if commits and len(lost) < count:
            lost.append(1)
            raise RedisConnectionError("connection lost before the reply")
        return results

    monkeypatch.setattr(Pipeline, "execute", execute)
    return lost


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore(StoreSettings(url=redis_server.url, max_age_days=0))
    await store.start()
    yield store
    await store.close()


ASKED = conversation(text("user", "Please migrate the table."))
REQUEST = Observation(7, "s", "request", 1.0, ASKED)
ANSWER = Observation(7, "s", "answer", 2.0, ASKED, Response("m", "m", (TextBlock("Done."),)), record())


async def test_a_batch_whose_reply_was_lost_is_not_written_twice(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = lose_replies(monkeypatch, 1)
    store.observe(REQUEST)
    store.observe(ANSWER)
    detail = await store.session("s")
    assert lost == [1] and store.stats().write_errors == 1
    assert detail is not None
    assert (len(detail.transcript), len(detail.requests), detail.session.requests) == (2, 1, 1)
    assert detail.session.in_flight == 0


async def test_an_answer_finds_its_request_number_after_the_requests_reply_was_lost(
        store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The number given a request is kept in Redis, not only in this process: a request
    written in a batch whose reply was lost still pairs with its answer."""
    lost = lose_replies(monkeypatch, 1)
    store.observe(REQUEST)
    under_way = await store.session("s")
    assert lost == [1] and under_way is not None and under_way.session.in_flight == 1
    store.observe(ANSWER)
    detail = await store.session("s")
    assert detail is not None
    assert (detail.session.requests, detail.session.in_flight) == (1, 0)
    assert [msgspec.json.decode(r)["seq"] for r in detail.requests] == [1]


async def test_redis_unreachable_buffers_up_to_the_bound_then_counts_drops(redis_server: RedisServer) -> None:
    redis_server.stop()
    store = RedisStore(StoreSettings(url=redis_server.url, max_age_days=0), buffer_size=4)
    await store.start()  # Redis is down: the store starts anyway, requests must flow
    try:
        agent = Agent(store)
        for n in range(3):  # six observations, room for four
            agent.turn(f"Turn {n}.", f"Answer {n}.")
        stats = store.stats()
        assert (stats.queued, stats.dropped) == (4, 2)
        redis_server.start()
        for _ in range(150):
            if not store.stats().queued:
                break
            await asyncio.sleep(0.1)
        assert store.stats().queued == 0
        detail = await store.session("s1")
        assert detail is not None and detail.session.requests == 2 and len(detail.transcript) == 4
    finally:
        await store.close()


async def test_two_instances_writing_one_session_at_once_lose_nothing(redis_server: RedisServer) -> None:
    """A stateless client behind a load balancer: every request lands in one session, on
    either instance, at the same time. Every request is counted once, numbered once, and
    every answer is in the transcript; nothing is given up to the race."""
    stores = [RedisStore(StoreSettings(url=redis_server.url, max_age_days=0)) for _ in range(2)]
    for store in stores:
        await store.start()
    try:
        asked = conversation(text("user", "Classify this ticket."))
        per_store = 400
        for wave in range(4):
            for n in range(wave * per_store // 4, (wave + 1) * per_store // 4):
                for i, store in enumerate(stores):
                    ref = n + 1
                    said = Response("m", "m", (TextBlock(f"Answer {i}-{ref}."),))
                    store.observe(Observation(ref, "hot", "request", 1.0 + n, asked))
                    store.observe(Observation(ref, "hot", "answer", 1.5 + n, asked, said, record()))
            await asyncio.sleep(0.01)  # the writers run between waves, racing each other
        for store in stores:
            for _ in range(300):
                if not store.stats().queued:
                    break
                await asyncio.sleep(0.05)
        assert [store.stats().dropped for store in stores] == [0, 0]
        assert any(store._contended for store in stores)  # they raced, and took turns under the lock
        detail = await stores[0].session("hot")
        assert detail is not None
        assert (detail.session.requests, detail.session.in_flight) == (2 * per_store, 0)
        assert sorted(msgspec.json.decode(r)["seq"] for r in detail.requests) == list(range(1, 2 * per_store + 1))
        answers = [msgspec.json.decode(e)["content"][0]["text"] for e in detail.transcript[1:]]
        assert len(answers) == len(set(answers)) == 2 * per_store
        assert [msgspec.json.decode(e)["seq"] for e in detail.transcript] == list(range(1, 2 * per_store + 2))
    finally:
        for store in stores:
            await store.close()


async def test_provider_health_is_built_once_and_shared_through_the_store(redis_server: RedisServer) -> None:  # noqa: F811
    """The runtime's provider health comes from its store (shared breakers on Redis, local
    ones otherwise); the failover stage configures it and the store's start keeps it."""
    env = {"LOCAL_EMBEDDED": "off", "TROOPER_STORE": redis_server.url}
    for settings in (load(None, env=env), load(None, env={"LOCAL_EMBEDDED": "off", "TROOPER_DB": ":memory:"})):
        settings.stage_options = {"failover": {"breaker": {"threshold": 7}}}
        runtime = Runtime(settings, env=env)
        before = {name: breaker for name, breaker in runtime.health}
        assert set(before) == {p.name for p in runtime.providers}
        build_stages(settings.stages, settings.stage_options, runtime)
        await runtime.store.start()
        try:
            assert {name: breaker for name, breaker in runtime.health} == before
            assert all(b.settings.threshold == 7 for b in before.values())
            shared = isinstance(runtime.store, RedisStore)
            assert all(isinstance(b, SharedBreaker) == shared for b in before.values())
        finally:
            await runtime.store.close()
