"""One session's changes from one batch of the Redis store, worked out in memory (no
Redis here), and the script that writes them: applied only if the session is still as it
was read, so two instances writing one session never lose a write."""

from __future__ import annotations

import hashlib
import uuid
from typing import NamedTuple

import msgspec

from trooper.signals.extract import SignalReader, Signals
from trooper.store.events import sse
from trooper.store.follow import Checkpoint
from trooper.store.records import Observation, SessionSummary, Update
from trooper.store.session_rules import SessionState, apply
from trooper.store.transcript import KnownKeys, StoredKeys

_encode = msgspec.json.encode

# KEYS: the session hash, its transcript keys and entries, its request records, the
# session index, the session's write lock. ARGV: the revision read, a birth token for a
# new session, the session id, its last_seen, the events channel, the lock's holder if
# this write holds it (else ""); then counted runs: hash fields to set (pairs),
# hash fields to delete, transcript keys, transcript entries, request records (pairs);
# then how many of the oldest transcript keys and entries the per-session cap drops, and a
# counted run of request records it drops; then the live updates to publish, as one
# message. Returns the number of sessions, or -1 if the session changed since it was read.
# Long runs go in slices Lua's stack can take.
COMMIT = """
local holder = redis.call('GET', KEYS[6])
if holder and holder ~= ARGV[6] then return -1 end
if holder then redis.call('DEL', KEYS[6]) end
local rev = redis.call('HGET', KEYS[1], 'rev') or '0'
if rev ~= ARGV[1] then return -1 end
if rev == '0' then redis.call('HSET', KEYS[1], 'born', ARGV[2]) end
redis.call('HSET', KEYS[1], 'rev', tostring(tonumber(rev) + 1))
local i = 7
local function run(command, key, width)
  local first, last = i + 1, i + tonumber(ARGV[i]) * width
  for s = first, last, 1000 * width do
    redis.call(command, key, unpack(ARGV, s, math.min(s + 1000 * width - 1, last)))
  end
  i = last + 1
end
run('HSET', KEYS[1], 2)
run('HDEL', KEYS[1], 1)
run('RPUSH', KEYS[2], 1)
run('RPUSH', KEYS[3], 1)
run('HSET', KEYS[4], 2)
local cut = tonumber(ARGV[i])
if cut > 0 then
  redis.call('LTRIM', KEYS[2], cut, -1)
  redis.call('LTRIM', KEYS[3], cut, -1)
end
i = i + 1
run('HDEL', KEYS[4], 1)
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[3])
for j = i, #ARGV do redis.call('PUBLISH', ARGV[5], ARGV[j]) end
return redis.call('ZCARD', KEYS[5])
"""
COMMIT_SHA = hashlib.sha1(COMMIT.encode()).hexdigest()


class View:
    """This instance's view of a session: the stored transcript keys as of revision `rev`,
    past the `dropped` oldest the cap removed (the list grows at its end and loses its
    head, so another instance's writes are fetched as a tail from where this view ends)
    and the signal reader that has read them (None when it hasn't)."""

    __slots__ = ("born", "rev", "keys", "dropped", "reader", "known", "checkpoint", "used")

    def __init__(self) -> None:
        self.born = b""
        self.rev = -1
        self.keys = StoredKeys()
        self.dropped = 0
        self.reader: SignalReader | None = None
        self.known = KnownKeys()  # by content: true whatever the stored session became
        self.checkpoint: Checkpoint | None = None  # by content too
        self.used = 0.0

    def forget(self, born: bytes) -> None:
        self.born, self.rev, self.keys, self.dropped, self.reader = born, -1, StoredKeys(), 0, None

    def move_to(self, dropped: int, tail: list[bytes], messages: int) -> None:
        """Take the stored keys from where this view ends (`tail`, read from list index
        `tail_from(dropped)`), as of a revision whose cap had dropped `dropped` of the
        session's `messages`."""
        if self.tail_from(dropped) == 0:
            self.keys, self.dropped = StoredKeys(), dropped
        self.keys.extend(tail)
        self.keys.drop_oldest(dropped - self.dropped)
        self.keys.keep_oldest(messages - dropped)
        self.dropped = dropped

    def tail_from(self, dropped: int) -> int:
        """The list index the stored keys this view lacks start at (0: all of them, as
        the view ends before the stored head)."""
        end = self.dropped + len(self.keys)
        return end - dropped if self.dropped <= dropped <= end else 0

    def restore(self, write: Write) -> None:
        """As stored: undo a write that was not applied."""
        self.keys.restore_oldest(write.cut)
        self.dropped -= len(write.cut)
        self.keys.keep_oldest(write.base)
        self.reader = None
        self.rev = -1


class Head(NamedTuple):
    """A session's head as read from Redis."""

    rev: int
    summary: SessionSummary | None  # None: a new session
    signals: Signals
    system: str | None
    applied: int  # the last of this instance's observations written
    pending: dict[int, int]  # observation ref -> the number given its request
    dropped: int = 0  # the oldest transcript messages the cap dropped
    requests_dropped: int = 0  # request records up to this number were dropped by the cap


class Write:
    """One session's changes from one batch, as the commit script takes them."""

    __slots__ = ("sid", "local", "base", "rev", "born", "head", "numbers", "forget", "added", "entries", "records",
                 "cut", "gone", "updates", "last_seen", "skipped", "saved", "locked")

    def __init__(self, sid: str, local: View, base: int, rev: int, born: bytes) -> None:
        self.sid, self.local, self.base, self.rev, self.born = sid, local, base, rev, born
        self.head: list[bytes] = []  # summary, signals, system, last applied observation, the two caps' marks
        self.numbers: dict[str, bytes] = {}  # request numbers for answers still to come
        self.forget: list[str] = []  # numbers no longer needed
        self.added: list[bytes] = []  # the new entries' transcript keys
        self.entries: list[bytes] = []
        self.records: list[bytes] = []  # seq, record, seq, record...
        self.cut: list[bytes] = []  # the oldest transcript keys the cap drops
        self.gone: list[bytes] = []  # the request records the cap drops, by number
        self.updates: list[bytes] = []
        self.last_seen = 0.0
        self.skipped = 0  # long answers left unread for signals (the store was behind)
        self.saved = 0  # the session's tokens saved once written
        self.locked = False  # written under this instance's lock on the session

    def args(self, mark: str, channel: str, instance: str) -> list[bytes | str | float | int]:
        """ARGV for COMMIT (see there)."""
        head: list[bytes | str] = ["summary", self.head[0], "signals", self.head[1], "system", self.head[2], mark,
                                   self.head[3], "dropped", self.head[4], "requests_dropped", self.head[5]]
        for field, number in self.numbers.items():
            head += [field, number]
        return [
            self.rev, self.born, self.sid, self.last_seen, channel, instance if self.locked else "",
            len(head) // 2, *head, len(self.forget), *self.forget,
            len(self.added), *self.added, len(self.entries), *self.entries,
            len(self.records) // 2, *self.records, len(self.cut), len(self.gone), *self.gone,
            *([b"".join(self.updates)] if self.updates else []),
        ]


def commit_keys(prefix: str, sid: str) -> list[str]:
    """KEYS for COMMIT (see there)."""
    return [f"{prefix}s:{sid}", f"{prefix}s:{sid}:keys", f"{prefix}s:{sid}:msgs", f"{prefix}s:{sid}:reqs",
            f"{prefix}sessions", f"{prefix}lock:{sid}"]


def pending_field(instance: str, ref: int) -> str:
    """The session-hash field holding the number an instance gave a request whose answer is
    still to come."""
    return f"p:{instance}:{ref}"


def work(sid: str, local: View, held: Head, items: list[tuple[int, Observation]], backlog: int,
         instance: str, max_messages: int, max_requests: int) -> Write:
    """Apply a session's observations (this instance's, numbered) to what is stored, in
    memory: the new transcript entries and keys, request records, summary, signals, what
    the per-session caps drop (0: no cap), and the live updates. `local` moves on with
    them; the store puts it back if the write loses."""
    first = items[0][1]
    summary = held.summary or SessionSummary(sid, first.at, first.at)
    system = held.system if held.system is not None else first.conversation.system
    state = SessionState(summary, held.signals, system, local.keys, local.known, local.checkpoint)
    state.dropped = local.dropped
    state.reader = local.reader
    write = Write(sid, local, len(local.keys), held.rev, local.born or uuid.uuid4().hex[:12].encode())
    asked: dict[int, int] = {}  # request numbers given in this write, by observation ref
    for _, observation in items:
        field = pending_field(instance, observation.ref)
        number = 0
        if observation.phase == "answer":
            if observation.ref in asked:  # its request is in this write too
                number = asked.pop(observation.ref)
                del write.numbers[field]
            else:
                number = held.pending.pop(observation.ref, 0)
                if number:
                    write.forget.append(field)
        change = apply(state, observation, number, backlog)
        if observation.phase == "request":
            write.numbers[field] = b"%d" % change.request
            asked[observation.ref] = change.request
        if change.record is not None:
            write.records += [b"%d" % change.request, _encode(change.record)]
        write.skipped += change.skipped
        write.entries += [_encode(e) for e in change.entries]
        write.updates.append(sse("session", Update(summary, state.signals, change.entries, change.record)))
    local.reader, local.checkpoint = state.reader, state.checkpoint
    write.added = local.keys[write.base:]
    excess = len(local.keys) - max_messages if max_messages else 0
    if excess > 0:
        write.cut = local.keys.drop_oldest(excess)
        local.dropped += excess
    upto = max(held.requests_dropped, summary.requests - max_requests if max_requests else 0)
    if upto > held.requests_dropped:
        write.gone = [b"%d" % seq for seq in range(held.requests_dropped + 1, upto + 1)]
    if upto:  # an answer whose request's record the cap dropped already is not kept either
        kept = [(seq, record) for seq, record in zip(write.records[::2], write.records[1::2], strict=True)
                if int(seq) > upto]
        write.records = [part for pair in kept for part in pair]
    write.head = [_encode(summary), _encode(state.signals), state.system.encode(), b"%d" % items[-1][0],
                  b"%d" % local.dropped, b"%d" % upto]
    write.last_seen = summary.last_seen
    write.saved = summary.tokens_saved
    return write
