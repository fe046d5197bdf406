"""The Redis store's own guarantees, against a real redis-server: selected by
TROOPER_STORE, a replayed observation is applied once, and a full buffer while Redis is
unreachable drops (counted) rather than growing or blocking."""

from __future__ import annotations

import asyncio

import pytest

from tests.redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)
from tests.test_store import Agent, conversation, record, text
from trooper.config import ConfigError, StoreSettings, load
from trooper.conversation import Response, TextBlock
from trooper.store import Observation, open_store
from trooper.store.redis import RedisStore


def test_trooper_store_selects_redis_and_rejects_other_urls() -> None:
    settings = load(None, env={"TROOPER_STORE": "redis://127.0.0.1:6399/2"})
    assert settings.store.url == "redis://127.0.0.1:6399/2"
    store = open_store(settings.store)
    assert isinstance(store, RedisStore) and store.location == "redis://127.0.0.1:6399/2"
    with pytest.raises(ConfigError, match="TROOPER_STORE"):
        open_store(StoreSettings(url="mysql://db/trooper"))


async def test_a_replayed_observation_is_applied_once(redis_server: RedisServer) -> None:
    store = RedisStore(StoreSettings(url=redis_server.url, max_age_days=0))
    await store.start()
    try:
        asked = conversation(text("user", "Please migrate the table."))
        request = Observation(7, "s", "request", 1.0, asked)
        answer = Observation(7, "s", "answer", 2.0, asked, Response("m", "m", (TextBlock("Done."),)), record())
        for observation in (request, answer, request, answer):  # as if each reply had been lost
            store.observe(observation)
        detail = await store.session("s")
        assert detail is not None
        assert (len(detail.transcript), len(detail.requests), detail.session.requests) == (2, 1, 1)
    finally:
        await store.close()


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
