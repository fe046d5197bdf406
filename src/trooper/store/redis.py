"""The shared store: sessions, transcripts, signals and request records live in Redis, so
several workers and instances are one Trooper (`TROOPER_STORE=redis://host:port/db`).

Same interface and semantics as the embedded store (store/embedded.py): transcripts grow
by what is new in each request, summaries and signals are whole, request records are
numbered per session, retention by age and count.

Off the request path: `observe` only appends to a bounded in-memory buffer and wakes
the writer task. The writer applies observations in order, each in one optimistic
transaction (WATCH the session, read it, MULTI/EXEC the new rows, the summary, the
published update and an "applied" marker keyed by the observation's id): two instances
updating one session never lose a write, and a replay after a lost reply is skipped.

Redis down: observations stay buffered (up to `BUFFER_SIZE`; beyond, they are dropped,
counted in `stats().dropped` and logged) and the writer retries with backoff; requests
never wait. Live updates go through Redis pub/sub, so every instance's /events stream
shows every instance's sessions.

Keys (prefix `trooper:`): `sessions` (zset id -> last_seen), `s:{id}` (hash: summary,
signals, system), `s:{id}:keys` (list: one short key per transcript message),
`s:{id}:msgs` (list: transcript entries, seq = position), `s:{id}:reqs` (hash: request
records by seq; an answer may be written after a later request's, from another instance), `done:{observation}` (applied markers, expire after a day).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from redis import asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from trooper.config import StoreSettings
from trooper.conversation import Message
from trooper.signals.extract import SignalReader, Signals
from trooper.store.base import StoreStats
from trooper.store.events import Broadcaster, Subscription, sse
from trooper.store.records import (
    Entry, Observation, Removed, RequestRecord, SessionDetail, SessionSummary, Update, answered_request, count_request, summarise,
)
from trooper.store.shared_breaker import BreakerEvent, SharedBreaker
from trooper.store.transcript import ANSWER_KEY, message_key, new_from, stored_content

log = structlog.get_logger("trooper.store")

BUFFER_SIZE = 10_000  # observations held while Redis is unreachable
RETENTION_EVERY = 60.0  # seconds
READ_WAIT = 2.0  # how long a read waits for this instance's observations queued before it
DONE_TTL = 86_400  # seconds an "applied" marker is kept
MAX_BACKOFF = 2.0
IDLE_UNLOAD = 3600.0

_encode = msgspec.json.encode
_summary = msgspec.json.Decoder(SessionSummary).decode
_signals = msgspec.json.Decoder(Signals).decode


class _Local:
    """This instance's signal reader for a session, valid while the stored keys are the
    ones it has read (another instance may have moved the session on)."""

    __slots__ = ("keys", "reader", "used")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.reader: SignalReader | None = None
        self.used = 0.0


class RedisStore:
    def __init__(self, settings: StoreSettings, clock: Callable[[], float] = time.time, prefix: str = "trooper:",
                 buffer_size: int = BUFFER_SIZE) -> None:
        self.settings = settings
        self.location = settings.url
        self.clock = clock
        self.prefix = prefix
        self.channel = prefix + "events"
        self.breaker_channel = prefix + "breakers"
        self.instance = uuid.uuid4().hex[:12]
        self.buffer_size = buffer_size
        self._redis: aioredis.Redis | None = None
        self._buffer: deque[Observation] = deque()
        self._wake = asyncio.Event()
        self._events = Broadcaster()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, int] = {}  # observation ref -> request seq
        self._local: dict[str, _Local] = {}
        self._enqueued = 0
        self._done = 0
        self._dropped = 0
        self._write_errors = 0
        self._sessions = 0
        self._down = False
        self._applied = asyncio.Condition()
        self._listening = asyncio.Event()
        self._runtime: Any = None
        self.breakers: dict[str, SharedBreaker] = {}
        self._outbox: deque[bytes] = deque(maxlen=1000)
        self._send = asyncio.Event()
        self._probes: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    def attach(self, runtime: Any) -> None:
        """The runtime whose providers' breakers this store shares (from `start`)."""
        self._runtime = runtime

    def _client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.settings.url, socket_connect_timeout=1.0, socket_timeout=2.0, retry_on_timeout=False,
            health_check_interval=5,
        )

    # --- life cycle ---

    async def start(self) -> None:
        self._redis = self._client()
        self._share_breakers()
        try:
            await self._redis.ping()
            self._sessions = await self._redis.zcard(self._k("sessions"))
        except (RedisError, OSError) as exc:
            # Requests must flow without the store: buffer until Redis comes back.
            log.warning("store_unavailable", url=self.location, error=f"{type(exc).__name__}: {exc}")
            self._down = True
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="trooper-store-write"),
            asyncio.create_task(self._listen_forever(), name="trooper-store-listen"),
            asyncio.create_task(self._retain_forever(), name="trooper-store-retain"),
            asyncio.create_task(self._send_forever(), name="trooper-store-breakers"),
        ]
        if not self._down:  # live updates from the start: wait for the subscription (briefly)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), 2)
        log.info("store_open", url=self.location, sessions=self._sessions, instance=self.instance)

    async def close(self) -> None:
        if self._redis is None:
            return
        self._events.close()
        if self._buffer and not self._down:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), 5)
        if self._buffer:
            log.warning("store_unwritten", url=self.location, observations=len(self._buffer))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._redis.aclose()
        self._redis = None

    async def _drain(self) -> None:
        while self._buffer and not self._down:
            self._wake.set()
            await asyncio.sleep(0.01)

    # --- writing ---

    def observe(self, observation: Observation) -> None:
        try:
            if self._redis is None:
                return
            if len(self._buffer) >= self.buffer_size:
                self._dropped += 1
                if self._dropped % 100 == 1:
                    log.warning("store_buffer_full", dropped=self._dropped, session=observation.session_id,
                                url=self.location)
                return
            self._buffer.append(observation)
            self._enqueued += 1
            self._wake.set()
        except Exception:  # never fail a request for the store
            pass

    async def _write_forever(self) -> None:
        backoff = 0.1
        while True:
            if not self._buffer:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval)
                continue
            observation = self._buffer[0]
            try:
                await self._apply(observation)
            except (RedisError, OSError) as exc:
                self._write_errors += 1
                if not self._down:
                    log.error("store_write_failed", url=self.location, error=f"{type(exc).__name__}: {exc}",
                              buffered=len(self._buffer))
                self._down = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("store_observe_failed", session=observation.session_id)
            if self._down:
                log.info("store_recovered", url=self.location, buffered=len(self._buffer))
                self._down = False
            backoff = 0.1
            self._buffer.popleft()
            self._done += 1
            async with self._applied:
                self._applied.notify_all()

    async def _apply(self, observation: Observation) -> None:
        for _ in range(50):
            try:
                await self._apply_once(observation)
                return
            except WatchError:  # another instance updated the session meanwhile: read again
                await asyncio.sleep(0)
        log.warning("store_contention", session=observation.session_id)

    async def _apply_once(self, observation: Observation) -> None:
        assert self._redis is not None
        sid = observation.session_id
        skey, kkey = self._k(f"s:{sid}"), self._k(f"s:{sid}:keys")
        done = self._done_key(observation)
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(skey, kkey, done)
            if await pipe.exists(done):
                return  # applied before (its reply was lost): nothing twice
            held_summary, held_signals, held_system = await pipe.hmget(skey, "summary", "signals", "system")
            stored: list[bytes] = await pipe.lrange(kkey, 0, -1)
            if held_summary is None:
                summary = SessionSummary(sid, observation.at, observation.at)
                signals: Signals = Signals()
                system = observation.conversation.system
            else:
                summary, signals = _summary(held_summary), _signals(held_signals)
                system = held_system.decode()
            local = self._local.setdefault(sid, _Local())
            local.used = time.monotonic()
            try:
                return await self._write(pipe, observation, local, stored, summary, signals, system)
            except BaseException:
                local.reader = None  # it may have read what was not written: start over next time
                raise

    async def _write(self, pipe, observation: Observation, local: _Local, stored: list[bytes],  # type: ignore[no-untyped-def]
                     summary: SessionSummary, signals: Signals, system: str) -> None:
        sid = observation.session_id
        skey, kkey = self._k(f"s:{sid}"), self._k(f"s:{sid}:keys")
        done = self._done_key(observation)
        conversation = observation.conversation
        record: RequestRecord | None = None
        new_keys: list[bytes]
        if observation.phase == "request":
            summary.requests += 1
            request = summary.requests
            summary.in_flight += 1
            start, keys, fresh = await asyncio.to_thread(_analyse, local, stored, conversation.messages)
            entries = [
                Entry(len(stored) + 1 + i, m.role, stored_content(m.content), observation.at, request)
                for i, m in enumerate(conversation.messages[start:])
            ]
            new_keys = keys[start:]
            if fresh is not None:
                signals = fresh
            if conversation.system:
                system = conversation.system
        else:
            record = observation.record
            assert record is not None
            request = answered_request(summary, self._pending.get(observation.ref, 0))
            record = msgspec.structs.replace(record, seq=request)
            entries, new_keys = [], []
            answer = observation.answer
            if answer is not None and answer.content:
                said = Message("assistant", answer.content)
                held, fresh = await asyncio.to_thread(_read_answer, local, stored, conversation.messages, said)
                if not held:  # not already there (resent by the client through another instance)
                    entries = [Entry(len(stored) + 1, "assistant", stored_content(answer.content), observation.at,
                                     request, record.provider, record.answered_model, observation.partial)]
                    new_keys = [ANSWER_KEY]
                if fresh is not None:
                    signals = fresh
            count_request(summary, record)
        summary.last_seen = max(summary.last_seen, observation.at)
        summary.messages = len(stored) + len(new_keys)
        summarise(summary, signals)
        pipe.multi()
        if new_keys:
            pipe.rpush(kkey, *new_keys)
            pipe.rpush(self._k(f"s:{sid}:msgs"), *[_encode(e) for e in entries])
        if record is not None:
            pipe.hset(self._k(f"s:{sid}:reqs"), str(record.seq), _encode(record))
        pipe.hset(skey, mapping={"summary": _encode(summary), "signals": _encode(signals), "system": system})
        pipe.zadd(self._k("sessions"), {sid: summary.last_seen})
        pipe.set(done, b"1", ex=DONE_TTL)
        pipe.publish(self.channel, sse("session", Update(summary, signals, entries, record)))
        pipe.zcard(self._k("sessions"))
        results = await pipe.execute()
        self._sessions = results[-1]
        local.keys = stored + new_keys
        if observation.phase == "request":
            self._pending[observation.ref] = request
        else:
            self._pending.pop(observation.ref, None)

    # --- live updates from every instance ---

    async def _listen_forever(self) -> None:
        assert self._redis is not None
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, self.breaker_channel)
                self._listening.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    if message["channel"] == self.breaker_channel.encode():
                        self._heard(message["data"])
                    else:
                        self._events.publish(message["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:
                log.debug("store_listen_failed", error=f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(0.5)

    # --- shared provider health ---

    def _share_breakers(self) -> None:
        """Swap each provider's breaker (set by the failover stage) for one kept in step
        with every instance's, with the same settings and clock."""
        if self._runtime is None:
            return
        for provider in self._runtime.providers:
            local = provider.breaker
            if isinstance(local, SharedBreaker):
                continue
            shared = SharedBreaker(provider.name, local.settings, local.clock, self._tell, self._want_probe, self.instance)
            provider.breaker = self.breakers[provider.name] = shared

    def _tell(self, event: BreakerEvent) -> None:
        """Called on the request path: queue the event for the sender task (never waits)."""
        self._outbox.append(_encode(event))
        self._send.set()

    async def _send_forever(self) -> None:
        while True:
            await self._send.wait()
            self._send.clear()
            while self._outbox:
                try:
                    assert self._redis is not None
                    await self._redis.publish(self.breaker_channel, self._outbox[0])
                except (RedisError, OSError):
                    self._outbox.clear()  # Redis down: stale news would mislead later, so none is replayed
                    await asyncio.sleep(0.5)
                    break
                self._outbox.popleft()

    def _heard(self, data: bytes) -> None:
        try:
            event = msgspec.json.decode(data, type=BreakerEvent)
        except msgspec.DecodeError:
            return
        breaker = self.breakers.get(event.provider)
        if breaker is not None and event.instance != self.instance:
            breaker.apply(event)

    def _want_probe(self, breaker: SharedBreaker) -> None:
        """The breaker's cooldown is over: ask (in the background) for the probe lock, so
        exactly one instance probes the provider."""
        if breaker.provider in self._probes or self._redis is None:
            return
        self._probes.add(breaker.provider)
        task = asyncio.get_running_loop().create_task(self._take_probe(breaker))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _take_probe(self, breaker: SharedBreaker) -> None:
        try:
            assert self._redis is not None
            ttl = max(1000, int(breaker.settings.cooldown * 1000))
            if await self._redis.set(self._k(f"probe:{breaker.provider}"), self.instance, nx=True, px=ttl):
                breaker.may_probe = True
        except (RedisError, OSError):
            breaker.may_probe = True  # nobody to agree with: probe as one instance would
        finally:
            self._probes.discard(breaker.provider)

    # --- retention ---

    async def retain(self) -> list[str]:
        """Delete sessions idle past max_age_days and the oldest beyond max_sessions (one
        instance at a time, under a short lock)."""
        assert self._redis is not None
        lock = self._k("retain-lock")
        if not await self._redis.set(lock, self.instance, nx=True, px=30_000):
            return []
        try:
            index = self._k("sessions")
            now = self.clock()
            doomed: list[str] = []
            if self.settings.max_age_days:
                horizon = now - self.settings.max_age_days * 86400
                doomed += [i.decode() for i in await self._redis.zrangebyscore(index, "-inf", f"({horizon}")]
            total = await self._redis.zcard(index)
            excess = total - len(doomed) - self.settings.max_sessions
            if self.settings.max_sessions and excess > 0:
                gone = set(doomed)
                oldest = [raw.decode() for raw in await self._redis.zrange(index, 0, excess + len(doomed) - 1)]
                doomed += [sid for sid in oldest if sid not in gone][:excess]
            kept: list[str] = []
            for sid in doomed:  # sessions with a request under way stay
                held = await self._redis.hget(self._k(f"s:{sid}"), "summary")
                if held is None or _summary(held).in_flight == 0:
                    kept.append(sid)
            doomed = kept
            if doomed:
                async with self._redis.pipeline(transaction=True) as pipe:
                    for sid in doomed:
                        pipe.delete(*(self._k(f"s:{sid}{suffix}") for suffix in ("", ":keys", ":msgs", ":reqs")))
                        pipe.zrem(index, sid)
                    pipe.publish(self.channel, sse("removed", Removed(doomed)))
                    pipe.zcard(index)
                    results = await pipe.execute()
                self._sessions = results[-1]
                for sid in doomed:
                    self._local.pop(sid, None)
                log.info("sessions_expired", count=len(doomed), left=self._sessions)
            idle = time.monotonic() - IDLE_UNLOAD
            for sid in [s for s, local in self._local.items() if local.used < idle]:
                del self._local[sid]
            return doomed
        finally:
            with contextlib.suppress(Exception):
                await self._redis.delete(lock)

    async def _retain_forever(self) -> None:
        while True:
            try:
                await self.retain()
            except (RedisError, OSError):
                pass
            except Exception:
                log.exception("store_retention_failed")
            await asyncio.sleep(RETENTION_EVERY)

    # --- reading ---

    async def sessions(self, limit: int = 100, offset: int = 0) -> tuple[list[SessionSummary], int]:
        await self._settled()
        assert self._redis is not None
        index = self._k("sessions")
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(index, offset, offset + limit - 1)
            pipe.zcard(index)
            ids, total = await pipe.execute()
        if not ids:
            return [], total
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw in ids:
                pipe.hget(self._k(f"s:{raw.decode()}"), "summary")
            held = await pipe.execute()
        return [_summary(h) for h in held if h is not None], total

    async def session(self, session_id: str) -> SessionDetail | None:
        await self._settled()
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._k(f"s:{session_id}"), "summary", "signals", "system")
            pipe.hgetall(self._k(f"s:{session_id}:reqs"))
            pipe.lrange(self._k(f"s:{session_id}:msgs"), 0, -1)
            (summary, signals, system), requests, transcript = await pipe.execute()
        if summary is None:
            return None
        return SessionDetail(
            _summary(summary), system.decode(), _signals(signals),
            [msgspec.Raw(requests[seq]) for seq in sorted(requests, key=int)], [msgspec.Raw(e) for e in transcript],
        )

    async def signals(self, session_id: str) -> tuple[SessionSummary, Signals] | None:
        await self._settled()
        assert self._redis is not None
        summary, signals = await self._redis.hmget(self._k(f"s:{session_id}"), "summary", "signals")
        return None if summary is None else (_summary(summary), _signals(signals))

    def subscribe(self) -> Subscription:
        return self._events.subscribe()

    def end_subscriptions(self) -> None:
        self._events.close()

    def stats(self) -> StoreStats:
        return StoreStats(self._sessions, len(self._buffer), self._dropped, self._write_errors)

    async def _settled(self) -> None:
        """Wait (briefly) until this instance's observations queued before the read are
        written, so a client that reads right after its answer sees its own turn."""
        target = self._enqueued
        if self._done >= target or not self._tasks or self._down:
            return
        async with self._applied:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._applied.wait_for(lambda: self._done >= target or self._down), READ_WAIT)

    def _done_key(self, observation: Observation) -> str:
        """An observation's identity: this instance, its request, its phase (and, against
        a reused ref, its session and time). A replay has the same one."""
        o = observation
        return self._k(f"done:{self.instance}:{o.ref}:{o.phase}:{o.at!r}:{o.session_id}")

    def _k(self, name: str) -> str:
        return self.prefix + name


def _analyse(local: _Local, stored: list[bytes], messages: tuple[Message, ...]) -> tuple[int, list[bytes], Signals | None]:
    """Which messages of a request are new against the stored keys, their keys, and the
    signals if the transcript grew. The local reader goes on from where it was only if
    the stored transcript is still the one it read."""
    keys = [message_key(m) for m in messages]
    start = new_from(stored, keys, [m.role for m in messages])
    if start == len(messages):
        return start, keys, None
    if local.reader is None or local.keys != stored or start < len(stored):
        local.reader = SignalReader()
        fresh = messages
    else:
        fresh = messages[start:]
    for message in fresh:
        local.reader.read(message)
    return start, keys, local.reader.signals()


def _read_answer(local: _Local, stored: list[bytes], messages: tuple[Message, ...],
                 answer: Message) -> tuple[bool, Signals | None]:
    """Is the answer already in the stored transcript (its client resent it through
    another instance before this was written)? And the signals with it."""
    at = len(messages)
    if len(stored) > at and stored[at] == message_key(answer):
        keys = [message_key(m) for m in messages]
        if new_from(stored, keys, [m.role for m in messages]) == at:
            return True, None
    if local.reader is None or local.keys != stored:
        local.reader = SignalReader()
        for message in messages:
            local.reader.read(message)
    local.reader.read(answer)
    return False, local.reader.signals()