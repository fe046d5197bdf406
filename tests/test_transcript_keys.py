"""The session store's incremental key state: `KnownKeys` digests only what a request
adds to the last one and never reuses a digest for a message that changed; `StoredKeys`
keeps its count of held digests true through every way keys come and go."""

from __future__ import annotations

import random

from trooper.conversation import Message, TextBlock, ToolUseBlock
from trooper.store import transcript
from trooper.store.transcript import ANSWER_KEY, KnownKeys, StoredKeys, digest_of, message_key


def said(role: str, words: str) -> Message:
    return Message(role, (TextBlock(words),))  # type: ignore[arg-type]


def history(turns: int) -> list[Message]:
    return [said("user" if n % 2 == 0 else "assistant", f"Turn {n}: carry on with the migration.") for n in range(turns)]


def counting_digests(monkeypatch) -> list[Message]:  # type: ignore[no-untyped-def]
    """Record every message `KnownKeys` digests."""
    digested: list[Message] = []
    real = transcript.message_key

    def counted(message: Message) -> bytes:
        digested.append(message)
        return real(message)

    monkeypatch.setattr(transcript, "message_key", counted)
    return digested


def test_a_resent_history_is_digested_only_where_it_grew(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    digested = counting_digests(monkeypatch)
    known = KnownKeys()
    first = history(6)
    assert known.of(first) == [message_key(m) for m in first]
    digested.clear()
    grown = [*first, said("assistant", "Done."), said("user", "Next step.")]
    assert known.of(grown) == [message_key(m) for m in grown]
    assert digested == grown[6:]
    digested.clear()
    assert known.of(grown) == [message_key(m) for m in grown]  # the same request again (the answer's turn)
    assert known.of(grown[:3]) == [message_key(m) for m in grown[:3]]  # a shorter one: a prefix
    assert digested == []


def test_an_edited_earlier_message_is_digested_again(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    digested = counting_digests(monkeypatch)
    known = KnownKeys()
    first = history(8)
    known.of(first)
    digested.clear()
    edited = list(first)
    edited[2] = said("user", "Turn 2: carry on with the rollback instead.")
    keys = known.of(edited)
    assert keys == [message_key(m) for m in edited]
    assert keys[2] != message_key(first[2])
    assert digested == edited[2:]  # from the edit on; the messages before it were known
    # A tool call whose input changed is another message too, though its text is the same.
    call = Message("assistant", (TextBlock("Running it."), ToolUseBlock("t1", "bash", {"command": "ls"})))
    changed = Message("assistant", (TextBlock("Running it."), ToolUseBlock("t1", "bash", {"command": "rm -rf build"})))
    assert known.of([*edited, call])[-1] == message_key(call)
    assert known.of([*edited, changed])[-1] == message_key(changed) != message_key(call)


def test_held_digests_stay_true_through_every_change() -> None:
    rng = random.Random(7)
    pool = [message_key(said("user", f"Message {n}.")) for n in range(12)]
    keys = StoredKeys()
    mirror: list[bytes] = []

    def check() -> None:
        assert list(keys) == mirror and len(keys) == len(mirror)
        held = {digest_of(key) for key in mirror}
        assert all(keys.holds(digest) == (digest in held) for digest in pool)

    for step in range(400):
        move = rng.choice(["extend", "drop", "keep", "check"])
        if move == "extend":
            more = [rng.choice(pool) if rng.random() < 0.7 else ANSWER_KEY + rng.choice(pool) for _ in range(rng.randint(0, 5))]
            keys.extend(more)
            mirror.extend(more)
        elif move == "drop":
            count = rng.randint(0, len(mirror))
            gone = keys.drop_oldest(count)
            assert gone == mirror[:count]
            del mirror[:count]
            if rng.random() < 0.5:  # a write that lost its race puts them back
                keys.restore_oldest(gone)
                mirror[:0] = gone
        elif move == "keep":
            count = rng.randint(0, len(mirror))
            keys.keep_oldest(count)
            del mirror[count:]
        if step > 20 or move == "check":  # counted from the first question on
            check()


def test_a_tool_call_with_an_integer_past_64_bits_has_its_key_and_fingerprint() -> None:
    """JSON allows any integer; the fingerprint's compact encoding stops at 64 bits."""
    huge = Message("assistant", (ToolUseBlock("t1", "transfer", {"amount": 2**70}),))
    other = Message("assistant", (ToolUseBlock("t1", "transfer", {"amount": 2**70 + 1}),))
    known = KnownKeys()
    first = [said("user", "Move the funds."), huge]
    assert known.of(first) == [message_key(m) for m in first]
    changed = known.of([first[0], other])
    assert changed == [message_key(first[0]), message_key(other)] and changed[1] != message_key(huge)
