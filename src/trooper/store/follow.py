"""Following a session's transcript as its requests arrive: which messages of a request
are new, and the session's signals, read incrementally, so each turn costs only what it
adds. Both stores keep, per active session, the stored message keys and the signal
reader that has read them (`Followed`)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from trooper.conversation import Block, Message, TextBlock
from trooper.signals.extract import SignalReader, Signals
from trooper.store.records import Observation
from trooper.store.transcript import KnownKeys, StoredKeys, fingerprints, kept_signals, new_from

T = TypeVar("T")

# Measured by bench/run.py: a thread round trip per request observation cost more than the
# work for a typical turn, and under load the queue overflowed. A few new messages of a
# short history, or a short answer, are handled inline; a long history, a long answer, or a
# session read from the start still go to a worker thread.
INLINE_MESSAGES = 32
INLINE_ANSWER_CHARS = 600
# A reader that started over and read at least this many messages leaves a checkpoint
# (below): fewer are cheaper to read again than a copy of the reader (~0.2-1 ms for an
# agent's session) is to make.
CHECKPOINT_FROM = 16

# Under a backlog (a batch this big means observations arrived faster than they were
# applied) a long answer is stored but not read for signals: reading it is the store's
# costliest step (~0.4 µs a character), and under c=50 streams it halved the proxy's
# throughput (bench/run.py). Records come first; signals catch up at the session's next
# request, which resends the history and is read whole.
SHED_AT = 64


class Checkpoint:
    """The signal reader as it stood after reading, from the start, exactly the messages
    whose fingerprints (`KnownKeys.marks`) are `marks`. A reader that has to start over
    (a history that went back, the cap past the request's start, another instance wrote,
    a long answer left unread) resumes from a copy of it when the request begins with
    those messages, instead of reading every message again: re-reading a 100-turn
    history was ~1 ms a request, 13% of the CPU of bench/run.py's 100-turn scenario once
    the cap was reached. Keyed by content, so an edited message never resumes from it."""

    __slots__ = ("marks", "reader")

    def __init__(self, marks: list[int], reader: SignalReader) -> None:
        self.marks = marks
        self.reader = copy.deepcopy(reader)

    def resume(self, marks: list[int], messages: tuple[Message, ...]) -> tuple[SignalReader, tuple[Message, ...]] | None:
        """A reader for `messages` (whose fingerprints are `marks`) and what it has left to
        read, if they begin with the checkpoint's messages."""
        if len(marks) < len(self.marks) or marks[:len(self.marks)] != self.marks:
            return None
        return copy.deepcopy(self.reader), messages[len(self.marks):]


class Followed(Protocol):
    keys: StoredKeys | None  # one per stored transcript message
    reader: SignalReader | None  # has read exactly the stored transcript, or None
    known: KnownKeys  # the keys of the last request's messages
    checkpoint: Checkpoint | None


def read_request(state: Followed, messages: tuple[Message, ...]) -> tuple[int, list[bytes], Signals | None]:
    """Which messages of a request are new, their keys, and the signals if the transcript
    grew. The reader reads only the new messages, unless it has to start over (first
    use, or the client rewrote its history). A transcript whose oldest messages were
    dropped by the per-session cap (`dropped`) is compared with the request past them."""
    assert state.keys is not None
    keys = state.known.of(messages)
    dropped = getattr(state, "dropped", 0)
    roles = [m.role for m in messages]
    start = dropped + new_from(state.keys, keys[dropped:], roles[dropped:]) if len(messages) >= dropped else 0
    if start == len(messages):
        return start, keys, None
    if state.reader is None or start < dropped + len(state.keys):
        state.reader = start_over(state, messages, state.known.marks)
    else:
        for message in messages[start:]:
            state.reader.read(message)
    return start, keys, kept_signals(state.reader.signals())


def start_over(state: Followed, messages: tuple[Message, ...], marks: list[int]) -> SignalReader:
    """A reader that has read exactly `messages` (their fingerprints: `marks`): from the
    session's checkpoint if they begin with its messages, else from the first; a long
    read (from either) leaves a checkpoint of its own."""
    resumed = state.checkpoint.resume(marks, messages) if state.checkpoint is not None else None
    reader, rest = resumed if resumed is not None else (SignalReader(), messages)
    for message in rest:
        reader.read(message)
    if len(rest) >= CHECKPOINT_FROM:
        state.checkpoint = Checkpoint(marks, reader)
    return reader


def fresh(state: Followed, start: int, keys: list[bytes]) -> list[int]:
    """The messages of a request to store, from `start`: all of them when the request
    extends the transcript; when it went back and took another branch (edited turns, two
    histories alternating under one session id), only those the transcript doesn't hold
    already, so a history that keeps diverging never stores a copy of itself each time."""
    stored = state.keys
    assert stored is not None
    if start >= getattr(state, "dropped", 0) + len(stored):
        return list(range(start, len(keys)))
    return [i for i in range(start, len(keys)) if not stored.holds(keys[i])]


def read_answer(state: Followed, messages: tuple[Message, ...], answer: Message) -> Signals:
    """The signals once the answer is read (the whole request first, if the reader has
    not read it: its own observation never arrived, or another instance wrote since)."""
    if state.reader is None:
        state.reader = start_over(state, messages, fingerprints(messages))
    state.reader.read(answer)
    return kept_signals(state.reader.signals())


def skip_answer(state: Followed, backlog: int, answer: Message) -> bool:
    """Leave a long answer unread because the store is behind? Then the reader no
    longer matches the transcript: it starts over at the next request."""
    if backlog < SHED_AT or not is_long(answer.content):
        return False
    state.reader = None
    return True


def is_long(content: tuple[Block, ...]) -> bool:
    return sum(len(b.text) for b in content if type(b) is TextBlock) > INLINE_ANSWER_CHARS


def is_large(observation: Observation) -> bool:
    """Work for a worker thread rather than the event loop: a long history or a long answer."""
    answer = observation.answer
    return len(observation.conversation.messages) > INLINE_MESSAGES or (answer is not None and is_long(answer.content))


async def off_loop_if_large(large: bool, work: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(work, *args) if large else work(*args)
