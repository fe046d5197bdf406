"""Following a session's signals: a reader that has to start over resumes from the
session's checkpoint only when the request begins with exactly the messages the
checkpoint read, and ends where reading every message from the first would."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from trooper.conversation import Message, TextBlock
from trooper.formats import codec
from trooper.signals.extract import SignalReader, Signals, extract
from trooper.store.follow import CHECKPOINT_FROM, start_over
from trooper.store.records import SessionSummary
from trooper.store.session_rules import SessionState
from trooper.store.transcript import StoredKeys, fingerprints

DATA = Path(__file__).parent / "data" / "agent_conversations"


def sessions() -> list[tuple[Message, ...]]:
    """The data set's longest agent sessions, decoded as Trooper decodes them."""
    found = []
    for path in sorted(DATA.glob("*.json")):
        case = json.loads(path.read_text())
        body = msgspec.json.encode({"model": "m", "max_tokens": 64, "messages": case["messages"]})
        messages = codec(case["format"]).decode_request(body).messages
        if len(messages) >= 2 * CHECKPOINT_FROM:
            found.append(messages)
    return sorted(found, key=len)[-4:]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """Every message a reader reads."""
    read: list[Message] = []
    real = SignalReader.read

    def counted(self: SignalReader, message: Message) -> None:
        read.append(message)
        real(self, message)

    monkeypatch.setattr(SignalReader, "read", counted)
    return read


def state() -> SessionState:
    return SessionState(SessionSummary("s", 0.0, 0.0), Signals(), "", StoredKeys())


@pytest.mark.parametrize("messages", sessions(), ids=len)
def test_starting_over_from_the_checkpoint_reads_what_reading_from_the_first_does(
        messages: tuple[Message, ...], reads: list[Message]) -> None:
    followed = state()
    half = len(messages) // 2
    whole, first_half = extract(messages), extract(messages[:half])  # each read from the first message
    assert start_over(followed, messages[:half], fingerprints(messages[:half])).signals() == first_half
    reads.clear()
    reader = start_over(followed, messages, fingerprints(messages))
    assert reads == list(messages[half:])  # resumed where the first read ended
    assert reader.signals() == whole
    later = Message("assistant", (TextBlock("TODO: waiting on the DBA to approve the billing migration."),))
    reader.read(later)  # a reader moves on alone: the checkpoint is not it
    assert reader.signals() != whole
    reads.clear()
    again = start_over(followed, messages, fingerprints(messages))
    assert reads == []  # the same request again: nothing left to read
    assert again.signals() == whole
    again.read(later)
    assert start_over(followed, messages, fingerprints(messages)).signals() == whole


@pytest.mark.parametrize("messages", sessions(), ids=len)
def test_an_edited_message_never_resumes_from_the_checkpoint(messages: tuple[Message, ...], reads: list[Message]) -> None:
    followed = state()
    start_over(followed, messages, fingerprints(messages))
    first_user = next(i for i, m in enumerate(messages) if m.role == "user")
    edited = list(messages)
    edited[first_user] = Message("user", (TextBlock("I want to migrate the billing database to Postgres 16."),))
    expected, before = extract(edited), extract(messages)
    reads.clear()
    reader = start_over(followed, tuple(edited), fingerprints(edited))
    assert reads == edited  # from the first message
    assert reader.signals() == expected != before


def test_a_short_history_leaves_no_checkpoint() -> None:
    followed = state()
    short = tuple(Message("user", (TextBlock(f"Step {n}: go on."),)) for n in range(CHECKPOINT_FROM - 1))
    start_over(followed, short, fingerprints(short))
    assert followed.checkpoint is None


@pytest.mark.parametrize("messages", sessions()[-1:], ids=len)
def test_a_short_read_past_the_checkpoint_keeps_it(messages: tuple[Message, ...], reads: list[Message]) -> None:
    """Reading a few messages past the checkpoint costs less than a new copy: the next
    start-over resumes from the same checkpoint."""
    followed = state()
    start = CHECKPOINT_FROM + 4
    start_over(followed, messages[:start], fingerprints(messages[:start]))
    kept = followed.checkpoint
    start_over(followed, messages[:start + 5], fingerprints(messages[:start + 5]))
    assert followed.checkpoint is kept
    expected = extract(messages[:start + 10])
    reads.clear()
    assert start_over(followed, messages[:start + 10], fingerprints(messages[:start + 10])).signals() == expected
    assert reads == list(messages[start:start + 10])
