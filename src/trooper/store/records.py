"""What a session store keeps, as msgspec Structs: the same shapes go to SQLite, to the
admin API and to the dashboard's event stream.

Times are Unix seconds (floats). Transcript entries and request records are numbered
per session from 1 (`seq`), so a reader can ask for "what came after N".
"""

from __future__ import annotations

from typing import Literal

import msgspec

from trooper.compaction import Fit
from trooper.conversation import Block, Conversation, Response
from trooper.signals.extract import Signals


class Entry(msgspec.Struct, omit_defaults=True):
    """One transcript message. `provider` and `model` say who answered, for the answers
    Trooper relayed; `partial` marks an answer cut short (client gone, stream broken)."""

    seq: int
    role: str
    content: tuple[Block, ...]
    at: float
    request: int = 0  # the request that brought it
    provider: str = ""
    model: str = ""
    partial: bool = False


class AttemptRecord(msgspec.Struct, array_like=True):
    provider: str
    status: int | None
    reason: str
    ms: float
    ok: bool
    splice: str = ""  # how its continuation joined a cut stream (prefill, continued, spliced, refused, fresh)


class Fallback(msgspec.Struct, array_like=True):
    provider: str
    reason: str


class RequestRecord(msgspec.Struct):
    """One request of a session: who answered and how, the way the headers told it."""

    seq: int
    at: float
    client_format: str
    model: str  # what the client asked for
    stream: bool
    route: str  # the routing decision token: direct, simple turn, forced_local, ...
    decision: str = ""  # as X-Trooper-Decision says it: "ollama (fallback: rate_limit)"
    provider: str = ""  # who answered ("" when nobody did)
    answered_model: str = ""
    fallbacks: list[Fallback] = []
    attempts: list[AttemptRecord] = []
    status: int | None = None
    ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_saved: int = 0
    error: str = ""
    client: str = ""  # who was let in: a client token's name, "local" (this machine) or "network"
    # How the request was fitted to the answering tier's window, when it had to be.
    fit: Fit | None = None
    degraded: list[str] = []  # what the answering tier lacked (no_tools, no_images), when allowed


class SessionSummary(msgspec.Struct):
    """One line of GET /sessions."""

    id: str
    first_seen: float
    last_seen: float
    intent: str = ""
    stage: str = "starting"
    requests: int = 0
    messages: int = 0
    errors: int = 0
    fallbacks: int = 0
    open_loops: int = 0
    completed_steps: int = 0
    providers: list[str] = []  # in order of first use
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_saved: int = 0
    in_flight: int = 0


class SessionDetail(msgspec.Struct):
    """GET /sessions/{id}: everything known about one session. Transcript entries and
    request records come straight from storage as encoded JSON."""

    session: SessionSummary
    system: str
    signals: Signals
    requests: list[msgspec.Raw]
    transcript: list[msgspec.Raw]


class Update(msgspec.Struct, omit_defaults=True):
    """One event on GET /events: a session changed. `entries` and `request` are what is
    new; the summary and signals are whole."""

    session: SessionSummary
    signals: Signals
    entries: list[Entry] = []
    request: RequestRecord | None = None


class Removed(msgspec.Struct):
    """Sessions deleted by retention."""

    ids: list[str]


class Observation(msgspec.Struct):
    """What the observe stage hands the store, twice per request: when the request is
    under way (`answer` unset) and when its answer is complete or abandoned. `ref`
    pairs the two."""

    ref: int
    session_id: str
    phase: Literal["request", "answer"]
    at: float
    conversation: Conversation  # as the client sent it
    answer: Response | None = None
    record: RequestRecord | None = None
    partial: bool = False


def answered_request(summary: SessionSummary, request: int) -> int:
    """The number of the request an answer belongs to. It is no longer in flight; a request
    whose own observation was never applied is counted now."""
    if request:
        summary.in_flight = max(0, summary.in_flight - 1)
        return request
    summary.requests += 1
    return summary.requests


def count_request(summary: SessionSummary, record: RequestRecord) -> None:
    """Add one finished request to its session's totals (every store keeps them alike)."""
    if record.provider and record.provider not in summary.providers:
        summary.providers.append(record.provider)
    summary.tokens_in += record.tokens_in
    summary.tokens_out += record.tokens_out
    summary.tokens_saved += record.tokens_saved
    summary.fallbacks += len(record.fallbacks)
    if record.error or (record.status or 0) >= 400:
        summary.errors += 1


def summarise(summary: SessionSummary, signals: Signals) -> None:
    """Copy the headline signals into the session's summary row."""
    summary.intent = signals.intent
    summary.stage = signals.stage
    summary.open_loops = len(signals.open_loops)
    summary.completed_steps = len(signals.completed_steps)

