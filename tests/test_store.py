"""The embedded session store on its own: transcripts grow by what is new (linearly,
whatever the client resends), a reopened file holds every session as it was, retention
by age and count, live updates, and a request path that never waits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from trooper.config import StoreSettings
from trooper.conversation import Conversation, ImageBlock, Message, Response, TextBlock, Usage
from trooper.store import EmbeddedStore, Observation, RequestRecord
from trooper.store.embedded import StoreError
from trooper.store.records import Fallback

SYSTEM = "You are a migration agent."


def conversation(*history: Message) -> Conversation:
    return Conversation(model="claude-haiku-4-5", messages=tuple(history), system=SYSTEM)


def text(role: str, words: str) -> Message:
    return Message(role, (TextBlock(words),))  # type: ignore[arg-type]


def record(provider: str = "claude", **changes: object) -> RequestRecord:
    base = RequestRecord(seq=0, at=1000.0, client_format="anthropic", model="claude-haiku-4-5", stream=False,
                         route="direct", decision=f"{provider} (direct)", provider=provider,
                         answered_model="claude-haiku-4-5", status=200, ms=12.0, tokens_in=10, tokens_out=5)
    return msgspec.structs.replace(base, **changes)


class Agent:
    """An SDK-like client: resends its whole history every turn."""

    def __init__(self, store: EmbeddedStore, session: str = "s1") -> None:
        self.store, self.session, self.history, self.ref = store, session, [], 0

    def turn(self, said: str, answer: str, provider: str = "claude", at: float = 1000.0, **changes: object) -> None:
        self.history.append(text("user", said))
        self.ref += 1
        asked = conversation(*self.history)
        self.store.observe(Observation(self.ref, self.session, "request", at, asked))
        response = Response("msg", "m", (TextBlock(answer),), usage=Usage(10, 5))
        self.store.observe(Observation(self.ref, self.session, "answer", at + 1, asked, response,
                                       record(provider, **changes)))
        self.history.append(text("assistant", answer))


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = EmbeddedStore(StoreSettings(path=str(tmp_path / "trooper.db")))
    await store.start()
    yield store
    await store.close()


async def reopen(store: EmbeddedStore) -> EmbeddedStore:
    await store.close()
    again = EmbeddedStore(store.settings)
    await again.start()
    return again


def rows(path: str, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_a_ten_turn_conversation_is_stored_once_per_message(store: EmbeddedStore) -> None:
    agent = Agent(store)
    for n in range(1, 11):
        agent.turn(f"Turn {n}: please continue the migration.", f"Completed step {n}.", "claude" if n % 2 else "ollama")
    sessions, total = await store.sessions()
    assert total == 1
    summary = sessions[0]
    assert (summary.requests, summary.messages, summary.providers) == (10, 20, ["claude", "ollama"])
    detail = await store.session("s1")
    assert detail is not None
    entries = [msgspec.json.decode(raw) for raw in detail.transcript]
    assert [e["seq"] for e in entries] == list(range(1, 21))
    assert [e["role"] for e in entries] == ["user", "assistant"] * 10
    assert [e.get("provider") for e in entries[1::2]] == ["claude", "ollama"] * 5  # who answered each turn
    assert detail.signals.resume_from == 11
    await store.flush()
    assert rows(store.location, "messages") == 20  # linear, not 1 + 2 + ... + 19


async def test_retry_and_regenerate_bring_nothing_new_but_the_answer(store: EmbeddedStore) -> None:
    first = conversation(text("user", "Hello there, migrate the table please."))
    answer = Response("m1", "m", (TextBlock("  Sure.  "),))
    store.observe(Observation(1, "s", "request", 1.0, first))
    store.observe(Observation(1, "s", "answer", 2.0, first, answer, record()))
    # The SDK resends the answer re-rendered (whitespace): still the same message.
    again = conversation(text("user", "Hello there, migrate the table please."), text("assistant", "Sure."),
                         text("user", "Go on."))
    store.observe(Observation(2, "s", "request", 3.0, again))
    store.observe(Observation(3, "s", "request", 4.0, again))  # a retry of the same request
    detail = await store.session("s")
    assert detail is not None
    assert [msgspec.json.decode(e)["content"][0]["text"] for e in detail.transcript] == [
        "Hello there, migrate the table please.", "  Sure.  ", "Go on."]


async def test_a_rewritten_history_is_recorded_from_the_first_difference(store: EmbeddedStore) -> None:
    store.observe(Observation(1, "s", "request", 1.0, conversation(text("user", "one two three"), text("assistant", "a"),
                                                                    text("user", "b"))))
    store.observe(Observation(2, "s", "request", 2.0, conversation(text("user", "one two three"),
                                                                    text("assistant", "edited"), text("user", "c"))))
    detail = await store.session("s")
    assert detail is not None and len(detail.transcript) == 5


async def test_image_bytes_are_not_kept(store: EmbeddedStore) -> None:
    image = Message("user", (TextBlock("What is in this picture?"), ImageBlock("image/png", data="A" * 100_000)))
    store.observe(Observation(1, "s", "request", 1.0, conversation(image)))
    detail = await store.session("s")
    assert detail is not None
    stored = msgspec.json.decode(detail.transcript[0])["content"][1]
    assert (stored["type"], stored["media_type"], stored["data"]) == ("image", "image/png", "")


async def test_requests_keep_provider_fallbacks_and_totals(store: EmbeddedStore) -> None:
    agent = Agent(store)
    agent.turn("Please migrate the table.", "Done: migrated.", "ollama",
               fallbacks=[Fallback("claude", "rate_limit")], tokens_saved=42, decision="ollama (fallback: rate_limit)")
    agent.turn("And the index?", "Failed.", "claude", status=503, error="every provider failed")
    detail = await store.session("s1")
    assert detail is not None
    first, second = (msgspec.json.decode(r, type=RequestRecord) for r in detail.requests)
    assert (first.seq, first.provider, first.fallbacks, first.decision) == (
        1, "ollama", [Fallback("claude", "rate_limit")], "ollama (fallback: rate_limit)")
    assert (second.seq, second.status) == (2, 503)
    summary = detail.session
    assert (summary.fallbacks, summary.errors, summary.tokens_saved, summary.tokens_in) == (1, 1, 42, 20)


async def test_reopened_file_has_every_session_and_its_signals(store: EmbeddedStore) -> None:
    for name in ("a", "b", "c"):
        agent = Agent(store, name)
        agent.turn(f"I want to migrate the {name} table to Postgres 16.", "TODO: waiting on the DBA to approve.")
        agent.turn("The DBA approved.", f"✅ Step 1 done: dumped the {name} table.")
    before = await store.sessions()
    before_signals = [(await store.signals(name)) for name in ("a", "b", "c")]
    store = await reopen(store)
    try:
        assert await store.sessions() == before
        assert [(await store.signals(name)) for name in ("a", "b", "c")] == before_signals
        # It carries on where it was: the next turn appends after the stored ones.
        agent = Agent(store, "a")
        agent.history = [text("user", "I want to migrate the a table to Postgres 16."),
                         text("assistant", "TODO: waiting on the DBA to approve."), text("user", "The DBA approved."),
                         text("assistant", "✅ Step 1 done: dumped the a table.")]
        agent.ref = 100
        agent.turn("Now step 2.", "✅ Step 2 done: restored the a table.")
        detail = await store.session("a")
        assert detail is not None and len(detail.transcript) == 6
        assert detail.signals.resume_from == 3 and detail.session.requests == 3
    finally:
        await store.close()


async def test_retention_by_count_and_by_age(tmp_path: Path) -> None:
    now = [10_000_000.0]
    store = EmbeddedStore(StoreSettings(path=str(tmp_path / "t.db"), max_sessions=2, max_age_days=1), clock=lambda: now[0])
    await store.start()
    try:
        for i, name in enumerate(("old", "mid", "new")):
            Agent(store, name).turn("Please keep this session.", "Sure.", at=now[0] - 3600 * (3 - i))
        await store.sessions()
        assert await store.retain() == ["old"]
        now[0] += 81_000  # "mid" is now idle for more than a day, "new" not yet
        assert await store.retain() == ["mid"]
        await store.flush()
        assert rows(store.location, "sessions") == 1 and rows(store.location, "messages") == 2
        assert [s.id for s in (await store.sessions())[0]] == ["new"]
    finally:
        await store.close()


async def test_observe_never_blocks_and_drops_when_full(store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store._queue is not None
    monkeypatch.setattr(store._queue, "_maxsize", 1)
    asked = conversation(text("user", "one two three four"))
    for ref in range(5):
        store.observe(Observation(ref, "s", "request", 1.0, asked))  # returns at once, full or not
    assert store.stats().dropped >= 3


async def test_an_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = EmbeddedStore(StoreSettings(path=str(blocker / "trooper.db")))
    with pytest.raises(StoreError, match="TROOPER_DB"):
        await store.start()


async def test_the_file_is_private_to_its_user(store: EmbeddedStore) -> None:
    assert Path(store.location).stat().st_mode & 0o077 == 0
