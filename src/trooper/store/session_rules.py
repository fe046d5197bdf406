"""The session rules, one copy for every store: how one observation changes a session
(its transcript keys, summary, signals and system prompt). No I/O here: the embedded
store and the Redis store each read a session's state, call `apply` for each
observation, and write what comes back in their own way."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from trooper.conversation import Message
from trooper.signals.extract import SignalReader, Signals
from trooper.store.follow import Checkpoint, fresh, read_answer, read_request, skip_answer
from trooper.store.records import (
    Entry,
    Observation,
    RequestRecord,
    SessionSummary,
    answered_request,
    count_request,
    summarise,
)
from trooper.store.transcript import ANSWER_KEY, KnownKeys, StoredKeys, message_key, new_from, stored_content


class SessionState:
    """A session as the rules see it. `keys` holds one key per stored transcript message
    (the newest, past the `dropped` oldest a store's cap removed); `reader` has read
    exactly that transcript, or is None; `known`: the keys of the last request's messages;
    `checkpoint`: a reader to start over from (store/follow.py)."""

    __slots__ = ("summary", "signals", "system", "keys", "dropped", "reader", "known", "checkpoint")

    def __init__(self, summary: SessionSummary, signals: Signals, system: str, keys: StoredKeys | None,
                 known: KnownKeys | None = None, checkpoint: Checkpoint | None = None) -> None:
        self.summary = summary
        self.signals = signals
        self.system = system
        self.keys = keys  # None while a store holds them only on disk
        self.dropped = 0
        self.reader: SignalReader | None = None
        self.known = known if known is not None else KnownKeys()
        self.checkpoint = checkpoint


class Change(NamedTuple):
    """What one observation did to its session, for the store to write."""

    request: int  # the number of the request the observation belongs to
    entries: list[Entry]  # new transcript entries (their keys are appended to the state's)
    keys: list[bytes]  # the entries' keys
    record: RequestRecord | None  # an answer's request record, numbered
    skipped: bool  # a long answer left unread for signals (the store was behind)


def apply(state: SessionState, observation: Observation, number: int, backlog: int) -> Change:
    """Apply one observation to a session's state. `number`: for an answer, the number its
    request was given (0 if that request's observation was never applied). `backlog`: how
    many observations the store is applying at once (under a backlog a long answer goes
    unread for signals)."""
    assert state.keys is not None
    conversation, summary = observation.conversation, state.summary
    held = state.dropped + len(state.keys)
    entries: list[Entry] = []
    keys: list[bytes] = []
    record: RequestRecord | None = None
    signals: Signals | None = None
    skipped = False
    if observation.phase == "request":
        summary.requests += 1
        request = summary.requests
        summary.in_flight += 1
        start, every, signals = read_request(state, conversation.messages)
        new = fresh(state, start, every)  # a history that went back: only what isn't held
        entries = [
            Entry(held + 1 + i, conversation.messages[n].role, stored_content(conversation.messages[n].content),
                  observation.at, request)
            for i, n in enumerate(new)
        ]
        keys = [every[n] for n in new]
        if conversation.system:
            state.system = conversation.system
    else:
        assert observation.record is not None
        request = answered_request(summary, number)
        record = msgspec.structs.replace(observation.record, seq=request)
        answer = observation.answer
        if answer is not None and answer.content:
            said = Message("assistant", answer.content)
            said_key = message_key(said)
            if resent(state, conversation.messages, said_key):
                state.reader = None  # the transcript holds it; the reader may not have read it
            else:
                entries = [Entry(held + 1, "assistant", stored_content(answer.content), observation.at, request,
                                 record.provider, record.answered_model, observation.partial)]
                keys = [ANSWER_KEY + said_key]
                skipped = skip_answer(state, backlog, said)
                if not skipped:
                    signals = read_answer(state, conversation.messages, said)
        count_request(summary, record)
    state.keys.extend(keys)
    if signals is not None:
        state.signals = signals
    summary.last_seen = max(summary.last_seen, observation.at)
    summary.messages = state.dropped + len(state.keys)
    summarise(summary, state.signals)
    return Change(request, entries, keys, record, skipped)


def resent(state: SessionState, messages: tuple[Message, ...], said_key: bytes) -> bool:
    """Is the answer (its `message_key`) already in the stored transcript, at its place?
    Its client had it and sent the next turn, applied before the answer's own observation
    (by another instance, or just earlier in the queue)."""
    assert state.keys is not None
    at = len(messages) - state.dropped
    if at < 0 or len(state.keys) <= at or state.keys[at] != said_key:
        return False
    keys = state.known.of(messages)[state.dropped:]
    return new_from(state.keys, keys, [m.role for m in messages[state.dropped:]]) == at
