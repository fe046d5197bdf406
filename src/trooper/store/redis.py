"""The shared store: sessions, transcripts, signals and request records live in Redis, so
several workers and instances are one Trooper (`TROOPER_STORE=redis://host:port/db`).

Same interface and semantics as the embedded store (store/embedded.py): transcripts grow
by what is new in each request, summaries and signals are whole, request records are
numbered per session, per-session caps drop the oldest messages and records (in the same
check-and-set write that adds the new ones), retention by age and count.

Off the request path: `observe` only appends to a bounded in-memory buffer and wakes
the writer task. The writer takes the buffer's head in batches; per session of a batch
it reads the stored head once, works out every change in memory, and writes them with
one check-and-set script that applies them only if the session's revision is still the
one read (the work and the script: store/session_write.py): two instances updating one
session never lose a write (the loser reads again and redoes, then takes turns under a
short lock), and a batch is two or three round trips whatever its size.
Each write also records the last observation it applied from this instance, so a batch
retried after a lost reply skips what was written.

Redis down: observations stay buffered (up to `BUFFER_SIZE`; beyond, they are dropped,
counted in `stats().dropped` and logged) and the writer retries with backoff; requests
never wait. Live updates go through Redis pub/sub, so every instance's /events stream
shows every instance's sessions.

Keys (prefix `trooper:`): `sessions` (zset id -> last_seen), `s:{id}` (hash: rev, born,
summary, signals, system, `applied:{instance}`, `p:{instance}:{ref}` for requests whose
answer is still to come, `dropped` and `requests_dropped`: how many of the oldest messages
and up to which number request records the caps dropped), `s:{id}:keys` (list: one short
key per stored transcript message), `s:{id}:msgs` (list: stored transcript entries, seq =
dropped + position), `s:{id}:reqs` (hash: request records by seq; an answer may be
written after a later request's, from another instance),
`lock:{id}` (a session's write lock, taken after it lost a race; expires by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import msgspec
import structlog
from redis import asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from trooper.config import StoreSettings
from trooper.providers.breaker import BreakerSettings
from trooper.providers.health import ProviderHealth
from trooper.signals.extract import Signals
from trooper.store.base import StoreStats, StoreUnavailable, redacted
from trooper.store.events import Broadcaster, Subscription, sse
from trooper.store.follow import is_large, off_loop_if_large
from trooper.store.records import Observation, Removed, SessionDetail, SessionSummary
from trooper.store.session_write import COMMIT, COMMIT_SHA, Head, View, Write, commit_keys, pending_field, work
from trooper.store.shared_breaker import BreakerEvent, SharedBreaker

log = structlog.get_logger("trooper.store")

BUFFER_SIZE = 10_000  # observations held while Redis is unreachable
BATCH_SIZE = 512  # observations written together
MAX_RACES = 50  # lost races before a session's observations are given up (counted)
CONTENDED_FOR = 10.0  # seconds a session that lost a race is written under a lock
LOCK_MS = 1000  # a session lock's expiry
RETENTION_EVERY = 60.0  # seconds
READ_WAIT = 2.0  # how long a read waits for this instance's observations queued before it
MAX_BACKOFF = 2.0
IDLE_UNLOAD = 3600.0
SAVED_KEPT = 100_000  # sessions whose savings figure is kept for the response header

_encode = msgspec.json.encode
_summary = msgspec.json.Decoder(SessionSummary).decode
_signals = msgspec.json.Decoder(Signals).decode


def _raw(members: object) -> list[bytes]:
    """A sorted-set range's members: bytes, as this client doesn't decode responses (redis-py
    types every reply as any of its shapes)."""
    return cast(list[bytes], members)

class _SavedSummary(msgspec.Struct):
    id: str
    tokens_saved: int = 0


class _SavedUpdate(msgspec.Struct):
    """The part of a live session update the savings header needs."""

    session: _SavedSummary


_saved_update = msgspec.json.Decoder(_SavedUpdate).decode
_SESSION_EVENT = b"event: session\ndata: "


class RedisStore:
    def __init__(self, settings: StoreSettings, clock: Callable[[], float] = time.time, prefix: str = "trooper:",
                 buffer_size: int = BUFFER_SIZE) -> None:
        self.settings = settings
        self.location = redacted(settings.url)  # for logs and messages: never the password
        self.clock = clock
        self.prefix = prefix
        self.channel = prefix + "events"
        self.breaker_channel = prefix + "breakers"
        self.instance = uuid.uuid4().hex[:12]
        self.buffer_size = buffer_size
        self._redis: aioredis.Redis | None = None
        self._buffer: deque[tuple[int, Observation]] = deque()  # numbered as they came
        self._wake = asyncio.Event()
        self._events = Broadcaster()
        self._tasks: list[asyncio.Task[None]] = []
        self._local: dict[str, View] = {}
        self._enqueued = 0
        self._done = 0
        self._dropped = 0
        self._lost = 0  # given up after MAX_RACES lost races
        self._skipped = 0
        self._trimmed_messages = 0
        self._trimmed_requests = 0
        self._contended: dict[str, float] = {}  # session -> until when it is written under a lock
        self._saved: OrderedDict[str, int] = OrderedDict()  # session -> tokens saved, as last seen
        self._mark = f"applied:{self.instance}"
        self._write_errors = 0
        self._sessions = 0
        self._down = False
        self._applied = asyncio.Condition()
        self._listening = asyncio.Event()
        self.breakers: dict[str, SharedBreaker] = {}
        self._outbox: deque[bytes] = deque(maxlen=1000)
        self._send = asyncio.Event()
        self._probes: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    def _client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.settings.url, socket_connect_timeout=1.0, socket_timeout=2.0, retry_on_timeout=False,
            health_check_interval=5,
        )

    # --- life cycle ---

    async def start(self) -> None:
        self._redis = self._client()
        try:
            await self._redis.ping()
            await self._redis.script_load(COMMIT)
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
            self._enqueued += 1
            self._buffer.append((self._enqueued, observation))
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
            # The batch stays at the head of the buffer until it is written: a retry after
            # a lost reply writes the same observations, and the applied marks skip them.
            batch = list(itertools.islice(self._buffer, BATCH_SIZE))
            try:
                await self._apply(batch)
            except (RedisError, OSError) as exc:
                self._write_errors += 1
                if not self._down:
                    log.error("store_write_failed", url=self.location, error=f"{type(exc).__name__}: {exc}",
                              buffered=len(self._buffer))
                self._down = True
                self._local.clear()  # what it read may not be what was written
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("store_observe_failed", observations=len(batch))
            if self._down:
                log.info("store_recovered", url=self.location, buffered=len(self._buffer))
                self._down = False
            backoff = 0.1
            for _ in batch:
                self._buffer.popleft()
            self._done += len(batch)
            async with self._applied:
                self._applied.notify_all()

    async def _apply(self, batch: list[tuple[int, Observation]]) -> None:
        """Each session of the batch: read once, work out every change in memory, write
        once with a check-and-set on the session's revision. A session another instance
        wrote meanwhile is read again and redone, and for a while after such a race it is
        written under a short lock (so two instances feeding one hot session take turns,
        each writing what piled up while it waited, instead of redoing work that loses)."""
        waiting: dict[str, list[tuple[int, Observation]]] = {}
        for item in batch:
            waiting.setdefault(item[1].session_id, []).append(item)
        races = dict.fromkeys(waiting, 0)
        while waiting:
            now = time.monotonic()
            locking = [sid for sid in waiting if self._contended.get(sid, 0.0) > now]
            locked = await self._lock(locking) if locking else set()
            taking = {sid: items for sid, items in waiting.items() if sid not in locking or sid in locked}
            held = await self._read(taking) if taking else {}
            writes: list[Write] = []
            for sid, items in taking.items():
                try:
                    write = await self._plan(sid, held[sid], items, len(batch))
                except Exception:
                    log.exception("store_observe_failed", session=sid, observations=len(items))
                    write = None
                if write is None:
                    del waiting[sid]  # written before, or could not be worked out
                    continue
                write.locked = sid in locked
                writes.append(write)
            unused = locked - {w.sid for w in writes}
            if unused:
                await self._redis.delete(*(self._k(f"lock:{sid}") for sid in unused))  # type: ignore[union-attr]  # connected
            raced = {w.sid for w in await self._commit(writes)}
            for write in writes:
                sid = write.sid
                if sid not in raced:
                    del waiting[sid]
                    continue
                races[sid] += 1
                self._contended[sid] = time.monotonic() + CONTENDED_FOR
                if races[sid] >= MAX_RACES:
                    self._lost += len(waiting[sid])
                    log.warning("store_contention", session=sid, observations=len(waiting[sid]))
                    del waiting[sid]
            if waiting:  # raced, or waiting for a lock: let the other instance finish its turn
                await asyncio.sleep(random.uniform(0, 0.001))

    async def _lock(self, sids: list[str]) -> set[str]:
        """The sessions whose write lock this instance took (it expires by itself: an
        instance that dies holding it blocks the session for at most LOCK_MS)."""
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.set(self._k(f"lock:{sid}"), self.instance, nx=True, px=LOCK_MS)
            taken = await pipe.execute()
        return {sid for sid, ok in zip(sids, taken, strict=True) if ok}

    async def _read(self, waiting: dict[str, list[tuple[int, Observation]]]) -> dict[str, Head]:
        """Every session's stored head in one round trip (with the request numbers this
        instance left for the answers waiting), then the transcript keys this instance
        has not seen yet (a second round trip, for sessions others wrote)."""
        assert self._redis is not None
        asked: dict[str, list[int]] = {
            sid: [o.ref for _, o in items if o.phase == "answer"] for sid, items in waiting.items()
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid, refs in asked.items():
                pipe.hmget(self._k(f"s:{sid}"), "rev", "born", "summary", "signals", "system", self._mark, "dropped",
                           "requests_dropped", *[pending_field(self.instance, ref) for ref in refs])
            heads = await pipe.execute()
        held: dict[str, Head] = {}
        tails: list[tuple[str, View, int]] = []
        for (sid, refs), (rev, born, summary, signals, system, applied, dropped, requests_dropped, *numbers) in zip(
                asked.items(), heads, strict=True):
            local = self._local.get(sid)
            if local is None:
                local = self._local[sid] = View()
            local.used = time.monotonic()
            if rev is None:  # a new session (or one retention deleted)
                local.forget(b"")
                local.rev = 0
                held[sid] = Head(0, None, Signals(), None, 0, {})
                continue
            pending = {ref: int(n) for ref, n in zip(refs, numbers, strict=True) if n is not None}
            summary_now = _summary(summary)
            state = Head(int(rev), summary_now, _signals(signals), system.decode(), int(applied or 0), pending,
                         int(dropped or 0), int(requests_dropped or 0))
            held[sid] = state
            self._know_saved(sid, summary_now.tokens_saved)
            if local.born != born:
                local.forget(born)
            if local.rev != state.rev:
                local.reader = None  # another instance moved the session on
                tails.append((sid, local, summary_now.messages))
        if tails:
            # The cap drops the list's head, so a tail is only known for what it is as of a
            # revision: read each with the revision, together (MULTI).
            async with self._redis.pipeline(transaction=True) as pipe:
                for sid, local, _ in tails:
                    pipe.hget(self._k(f"s:{sid}"), "rev")
                    pipe.lrange(self._k(f"s:{sid}:keys"), local.tail_from(held[sid].dropped), -1)
                found = await pipe.execute()
            for (sid, local, count), rev, more in zip(tails, found[::2], found[1::2], strict=True):
                if rev is None or int(rev) != held[sid].rev:
                    continue  # written meanwhile: this write will lose its race and read again
                local.move_to(held[sid].dropped, more, count)
                local.rev = held[sid].rev
        return held

    async def _plan(self, sid: str, held: Head, items: list[tuple[int, Observation]], backlog: int) -> Write | None:
        items = [(n, o) for n, o in items if n > held.applied]
        if not items:
            return None  # written before (the reply was lost): nothing twice
        large = any(is_large(o) for _, o in items)
        return await off_loop_if_large(large, work, sid, self._local[sid], held, items, backlog, self.instance,
                                       self.settings.max_messages, self.settings.max_requests)

    async def _commit(self, writes: list[Write]) -> list[Write]:
        """Every session's changes in one round trip, each applied by the check-and-set
        script. Returns the writes that lost a race (to be read and done again)."""
        if not writes:
            return []
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for write in writes:
                pipe.evalsha(COMMIT_SHA, 6, *commit_keys(self.prefix, write.sid), *write.args(self._mark, self.channel, self.instance))
            results = await pipe.execute(raise_on_error=False)
        again: list[Write] = []
        failure: Exception | None = None
        for write, result in zip(writes, results, strict=True):
            if isinstance(result, int) and result >= 0:
                write.local.rev = write.rev + 1
                write.local.born = write.born
                self._sessions = result
                self._skipped += write.skipped
                self._trimmed_messages += len(write.cut)
                self._trimmed_requests += len(write.gone)
                self._know_saved(write.sid, write.saved)
                continue
            write.local.restore(write)  # not written: as stored
            if isinstance(result, NoScriptError):  # a restarted Redis forgot the script
                await self._redis.script_load(COMMIT)
            elif isinstance(result, Exception):
                failure = result
                continue
            again.append(write)
        if failure is not None:
            raise failure
        return again

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
                        self._heard_saved(message["data"])
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

    def provider_health(self, providers: Iterable[str], clock: Callable[[], float]) -> ProviderHealth:
        """Breakers kept in step with every instance's (through pub/sub, from `start`)."""
        def shared(provider: str) -> SharedBreaker:
            breaker = SharedBreaker(provider, BreakerSettings(), clock, self._tell, self._want_probe, self.instance)
            self.breakers[provider] = breaker
            return breaker

        return ProviderHealth(providers, shared)

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
                doomed += [i.decode() for i in _raw(await self._redis.zrangebyscore(index, "-inf", f"({horizon}"))]
            total = await self._redis.zcard(index)
            excess = total - len(doomed) - self.settings.max_sessions
            if self.settings.max_sessions and excess > 0:
                gone = set(doomed)
                oldest = [raw.decode() for raw in _raw(await self._redis.zrange(index, 0, excess + len(doomed) - 1))]
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
            now = time.monotonic()
            self._contended = {sid: until for sid, until in self._contended.items() if until > now}
            idle = now - IDLE_UNLOAD
            for sid in [s for s, local in self._local.items() if local.used < idle]:
                del self._local[sid]
            return doomed
        finally:
            with contextlib.suppress(Exception):
                await self._redis.delete(lock)

    async def _retain_forever(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY)  # a minute in: never racing the first requests
            try:
                await self.retain()
            except (RedisError, OSError):
                pass
            except Exception:
                log.exception("store_retention_failed")

    # --- reading ---

    async def sessions(self, limit: int = 100, offset: int = 0) -> tuple[list[SessionSummary], int]:
        with self._reading():
            return await self._sessions_page(limit, offset)

    async def _sessions_page(self, limit: int, offset: int) -> tuple[list[SessionSummary], int]:
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
        with self._reading():
            async with self._redis.pipeline(transaction=True) as pipe:  # one revision's summary, records and transcript
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
        with self._reading():
            summary, signals = await self._redis.hmget(self._k(f"s:{session_id}"), "summary", "signals")
        return None if summary is None or signals is None else (_summary(summary), _signals(signals))

    def subscribe(self) -> Subscription:
        return self._events.subscribe()

    def end_subscriptions(self) -> None:
        self._events.close()

    def stats(self) -> StoreStats:
        return StoreStats(self._sessions, len(self._buffer), self._dropped + self._lost, self._write_errors, self._skipped,
                          self._trimmed_messages, self._trimmed_requests)

    async def _settled(self) -> None:
        """Wait (briefly) until this instance's observations queued before the read are
        written, so a client that reads right after its answer sees its own turn."""
        target = self._enqueued
        if self._done >= target or not self._tasks or self._down:
            return
        async with self._applied:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._applied.wait_for(lambda: self._done >= target or self._down), READ_WAIT)

    def saved(self, session_id: str) -> int:
        return self._saved.get(session_id, 0)

    def _know_saved(self, session_id: str, tokens: int) -> None:
        if self._saved.get(session_id, -1) >= tokens:
            return
        self._saved[session_id] = tokens
        self._saved.move_to_end(session_id)
        if len(self._saved) > SAVED_KEPT:
            self._saved.popitem(last=False)

    def _heard_saved(self, data: bytes) -> None:
        """Another instance's session updates (one write's, all of one session): what
        the session has saved after the last, for this instance's X-Trooper-Session-Saved."""
        at = data.rfind(_SESSION_EVENT)
        if at < 0:
            return
        end = data.find(b"\n\n", at)
        with contextlib.suppress(msgspec.DecodeError):
            update = _saved_update(data[at + len(_SESSION_EVENT) : end if end >= 0 else len(data)])
            self._know_saved(update.session.id, update.session.tokens_saved)

    def problem(self) -> str:
        if self._redis is None:
            return f"{self.location} is not open"
        return f"cannot reach Redis at {self.location}" if self._down else ""

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(
                f"the session store at {self.location} is unreachable ({type(exc).__name__}); requests still flow "
                f"and their records are buffered until it is back"
            ) from None

    def _k(self, name: str) -> str:
        return self.prefix + name
