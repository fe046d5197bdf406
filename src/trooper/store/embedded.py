"""The embedded store: sessions live in memory for reading and in a SQLite file for
keeping, and nothing needs installing.

Off the request path: `observe` only queues. One consumer task applies observations in
order, in batches (transcript growth, signal extraction, summary counts; on a worker
thread when the batch holds large work) and queues rows; a flusher writes them out in one
transaction at least every `flush_interval` (≤ 1 s), on the store's own database thread. A crash loses at most
that interval. Retention runs once a minute.

In memory per session: its summary and signals; while it is active, also one short key
per transcript message and the signal reader's state, so each turn costs only what it
adds (both are rebuilt on first use after a restart or a long idle). Transcripts and
request records are read from the file when asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

from trooper.config import StoreSettings
from trooper.providers.health import ProviderHealth, local_health
from trooper.signals.extract import Signals
from trooper.store import session_rules
from trooper.store.base import StoreStats
from trooper.store.events import Broadcaster, Subscription, sse
from trooper.store.follow import is_large, off_loop_if_large
from trooper.store.records import Observation, Removed, SessionDetail, SessionSummary, Update
from trooper.store.sqlite import Batch, Database
from trooper.store.transcript import KnownKeys, StoredKeys

log = structlog.get_logger("trooper.store")

T = TypeVar("T")

QUEUE_SIZE = 2_000  # each holds a conversation: a bound on memory as much as on backlog
CONSUME_BATCH = 256  # observations applied in one pass
RETENTION_EVERY = 60.0  # seconds
IDLE_UNLOAD = 3600.0  # seconds idle after which a session's keys and reader leave memory
READ_WAIT = 2.0  # how long a read waits for observations queued before it
MAX_RETRY_ROWS = 200_000  # a failing disk must not grow memory without bound

_encode = msgspec.json.encode
_summary = msgspec.json.Decoder(SessionSummary).decode
_signals = msgspec.json.Decoder(Signals).decode


class StoreError(Exception):
    """The store can't be used; the message says which file and why."""


def why_unusable(location: str, exc: BaseException) -> str:
    """One line: what is wrong with the store's path, and what to do about it."""
    path = Path(location).expanduser()
    fix = "set TROOPER_DB (or [store] path) to a file in a directory you can write, or to :memory: to keep nothing"
    if path.is_dir():
        return f"the session store {path} is a directory, not a file: {fix}, e.g. {path / 'trooper.db'}"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"the session store {path} can't be created: {parent} is a file, not a directory; {fix}"
            break
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists() and (not companion.is_file() or not os.access(companion, os.R_OK | os.W_OK)):
            return (f"the session store's {companion.name} file can't be written (another user's, or not a file): "
                    f"remove it while Trooper is stopped, or {fix}")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot open the session store {path}: {reason}; {fix}"


class SessionState(session_rules.SessionState):
    __slots__ = ("requests_dropped",)

    def __init__(self, summary: SessionSummary, signals: Signals, system: str, keys: StoredKeys | None) -> None:
        super().__init__(summary, signals, system, keys)
        self.requests_dropped = 0  # request records up to this seq were dropped by the cap


class Applied(Batch):
    """What a batch of observations produced: rows for the next flush, live updates."""

    __slots__ = ("updates", "skipped", "trimmed_messages", "trimmed_requests")

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[bytes] = []
        self.skipped = 0  # long answers left unread for signals (the store was behind)
        self.trimmed_messages = 0
        self.trimmed_requests = 0


class EmbeddedStore:
    def __init__(self, settings: StoreSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.location = settings.path
        self.clock = clock
        self._db = Database(settings.path)
        self._thread: ThreadPoolExecutor | None = None
        self._sessions: dict[str, SessionState] = {}
        self._pending: dict[int, int] = {}  # observation ref -> request seq
        self._queue: asyncio.Queue[Observation] | None = None
        self._batch = Batch()
        self._events = Broadcaster()
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self._mutate = asyncio.Lock()
        self._applied = asyncio.Condition()
        self._enqueued = 0
        self._done = 0
        self._dropped = 0
        self._skipped = 0
        self._write_errors = 0
        self._trimmed_messages = 0
        self._trimmed_requests = 0

    # --- life cycle ---

    async def start(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trooper-store")
        try:
            rows = await self._run(self._db.open)
        except (OSError, sqlite3.Error) as exc:
            self._thread.shutdown()
            self._thread = None
            raise StoreError(why_unusable(self.location, exc)) from None
        for session_id, _first, _last, system, summary, signals in rows:
            state = SessionState(_summary(summary), _signals(signals), system, None)
            state.summary.in_flight = 0  # whatever was under way died with the last process
            state.requests_dropped = max(0, state.summary.requests - self.settings.max_requests) if self.settings.max_requests else 0
            self._sessions[session_id] = state
        self._queue = asyncio.Queue(QUEUE_SIZE)
        self._tasks = [
            asyncio.create_task(self._consume(), name="trooper-store-consume"),
            asyncio.create_task(self._flush_forever(), name="trooper-store-flush"),
            asyncio.create_task(self._retain_forever(), name="trooper-store-retain"),
        ]
        log.info("store_open", path=self.location, sessions=len(self._sessions))

    async def close(self) -> None:
        if self._thread is None:
            return
        self._events.close()
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()
        await self._run(self._db.close)
        self._thread.shutdown(wait=True)
        self._thread = None
        self._queue = None

    # --- writing ---

    def observe(self, observation: Observation) -> None:
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(observation)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % 100 == 1:
                log.warning("store_queue_full", dropped=self._dropped, session=observation.session_id)
            return
        self._enqueued += 1

    async def _consume(self) -> None:
        """Apply what is queued in batches: one pass (on a worker thread when any of it
        is large) for all, so a loaded event loop hands work over once per batch, not per
        observation (a hand-over waits for the GIL behind the request path)."""
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < CONSUME_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._mutate:
                    large = await self._prepare(batch)
                    applied = await off_loop_if_large(large, self._apply_all, batch, bool(self._events))
                    self._skipped += applied.skipped
                    self._trimmed_messages += applied.trimmed_messages
                    self._trimmed_requests += applied.trimmed_requests
                    self._batch.messages += applied.messages
                    self._batch.requests += applied.requests
                    self._batch.sessions.update(applied.sessions)
                    for sid, (messages, requests) in applied.trims.items():
                        self._batch.trim(sid, messages, requests)
                    for update in applied.updates:
                        self._events.publish(update)
            except Exception:
                log.exception("store_observe_failed", observations=len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
                self._done += len(batch)
                async with self._applied:
                    self._applied.notify_all()

    async def _prepare(self, batch: list[Observation]) -> bool:
        """Every session of the batch in memory with its transcript keys (read from the
        file on the database thread if they were unloaded). Is any of the work large?"""
        large = False
        for observation in batch:
            state = await self._state(observation)
            large = large or state.reader is None or is_large(observation)  # no reader: the history is read whole
        return large

    def _apply_all(self, batch: list[Observation], publish: bool) -> Applied:
        """Apply a batch to the sessions in memory; the rows to write and the live updates
        come back to the event loop (neither the flush batch nor the subscribers' queues
        are touched from here)."""
        applied = Applied()
        touched: dict[str, SessionState] = {}
        for observation in batch:
            try:
                state = self._sessions[observation.session_id]
                self._apply(observation, state, applied, publish, len(batch))
                touched[observation.session_id] = state
            except Exception:
                log.exception("store_observe_failed", session=observation.session_id)
        for sid, state in touched.items():
            self._cap(state, applied)
            summary = state.summary
            applied.sessions[sid] = (sid, summary.first_seen, summary.last_seen, state.system, _encode(summary),
                                     _encode(state.signals))
        return applied

    def _cap(self, state: SessionState, applied: Applied) -> None:
        """Drop a session's oldest messages and request records beyond the caps (the rows
        go at the next flush, after that flush's inserts)."""
        assert state.keys is not None
        summary, settings = state.summary, self.settings
        excess = len(state.keys) - settings.max_messages if settings.max_messages else 0
        if excess > 0:
            state.keys.drop_oldest(excess)
            state.dropped += excess
            applied.trimmed_messages += excess
        upto = summary.requests - settings.max_requests if settings.max_requests else 0
        if upto > state.requests_dropped:
            applied.trimmed_requests += upto - state.requests_dropped
            state.requests_dropped = upto
        elif excess <= 0:
            return
        applied.trim(summary.id, state.dropped, state.requests_dropped)

    def _apply(self, observation: Observation, state: SessionState, applied: Applied, publish: bool,
               backlog: int) -> None:
        number = self._pending.pop(observation.ref, 0) if observation.phase == "answer" else 0
        change = session_rules.apply(state, observation, number, backlog)
        sid = state.summary.id
        if observation.phase == "request":
            self._pending[observation.ref] = change.request
        if change.record is not None and change.request > state.requests_dropped:  # not one the cap dropped
            applied.requests.append((sid, change.request, _encode(change.record)))
        for entry, key in zip(change.entries, change.keys, strict=True):
            applied.messages.append((sid, entry.seq, key, _encode(entry)))
        applied.skipped += change.skipped
        if publish:
            applied.updates.append(sse("session", Update(state.summary, state.signals, change.entries, change.record)))

    async def _state(self, observation: Observation) -> SessionState:
        state = self._sessions.get(observation.session_id)
        if state is None:
            summary = SessionSummary(observation.session_id, observation.at, observation.at)
            state = SessionState(summary, Signals(), observation.conversation.system, StoredKeys())
            self._sessions[observation.session_id] = state
        elif state.keys is None:
            state.dropped, keys = await self._run(self._db.keys, observation.session_id)
            state.keys = StoredKeys(keys)
        return state

    async def flush(self) -> None:
        async with self._flush_lock:
            batch, self._batch = self._batch, Batch()
            if not batch:
                return
            try:
                await self._run(self._db.write, batch)
            except Exception as exc:
                self._write_errors += 1
                log.error("store_write_failed", path=self.location, error=f"{type(exc).__name__}: {exc}", rows=len(batch))
                if len(batch) + len(self._batch) <= MAX_RETRY_ROWS:
                    self._batch = batch.then(self._batch)  # try again with the next flush

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await self.flush()

    # --- retention ---

    async def retain(self) -> list[str]:
        """Delete sessions idle past max_age_days and the oldest beyond max_sessions."""
        async with self._mutate:
            now = self.clock()
            idle = [s for s in self._sessions.values() if s.summary.in_flight == 0]
            doomed: list[str] = []
            if self.settings.max_age_days:
                horizon = now - self.settings.max_age_days * 86400
                doomed = [s.summary.id for s in idle if s.summary.last_seen < horizon]
            excess = len(self._sessions) - len(doomed) - self.settings.max_sessions
            if self.settings.max_sessions and excess > 0:
                gone = set(doomed)
                oldest = sorted((s for s in idle if s.summary.id not in gone), key=lambda s: s.summary.last_seen)
                doomed += [s.summary.id for s in oldest[:excess]]
            for session_id in doomed:
                del self._sessions[session_id]
                self._batch.forget(session_id)
            for state in idle:
                if state.keys is not None and now - state.summary.last_seen > IDLE_UNLOAD:
                    state.keys = state.reader = state.checkpoint = None
                    state.known = KnownKeys()
        if doomed:
            log.info("sessions_expired", count=len(doomed), left=len(self._sessions))
            if self._events:
                self._events.publish(sse("removed", Removed(doomed)))
        return doomed

    async def _retain_forever(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY)  # a minute in: never racing the first requests
            try:
                await self.retain()
            except Exception:
                log.exception("store_retention_failed")

    # --- reading ---

    async def sessions(self, limit: int = 100, offset: int = 0) -> tuple[list[SessionSummary], int]:
        await self._settled()
        ordered = sorted(self._sessions.values(), key=lambda s: s.summary.last_seen, reverse=True)
        return [s.summary for s in ordered[offset : offset + limit]], len(ordered)

    async def session(self, session_id: str) -> SessionDetail | None:
        await self._settled()
        state = self._sessions.get(session_id)
        if state is None:
            return None
        await self.flush()
        transcript = await self._run(self._db.transcript, session_id)
        requests = await self._run(self._db.requests, session_id)
        return SessionDetail(
            state.summary, state.system, state.signals,
            [msgspec.Raw(r) for r in requests], [msgspec.Raw(e) for e in transcript],
        )

    async def signals(self, session_id: str) -> tuple[SessionSummary, Signals] | None:
        await self._settled()
        state = self._sessions.get(session_id)
        return None if state is None else (state.summary, state.signals)

    def subscribe(self) -> Subscription:
        return self._events.subscribe()

    def end_subscriptions(self) -> None:
        self._events.close()

    def stats(self) -> StoreStats:
        queued = self._queue.qsize() if self._queue is not None else 0
        return StoreStats(len(self._sessions), queued, self._dropped, self._write_errors, self._skipped,
                          self._trimmed_messages, self._trimmed_requests)

    def saved(self, session_id: str) -> int:
        state = self._sessions.get(session_id)
        return state.summary.tokens_saved if state is not None else 0

    def problem(self) -> str:
        return "" if self._thread is not None else f"{self.location} is not open"

    def provider_health(self, providers: Iterable[str], clock: Callable[[], float]) -> ProviderHealth:
        return local_health(providers, clock)  # one process: nobody to share it with

    async def _settled(self) -> None:
        """Wait (briefly) until observations queued before this read are applied, so a
        client that reads right after its answer sees its own turn."""
        target = self._enqueued
        if self._done >= target or not self._tasks:
            return
        async with self._applied:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._applied.wait_for(lambda: self._done >= target), READ_WAIT)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
