"""Growing a session's transcript by what is new in each request.

Every SDK and agent resends the whole history with each turn. The store keeps one short
key per message it already holds and compares the request against them, so each
message is stored once and a session's storage grows linearly with its length (the
seed product stored every request's history again, quadratically).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import msgspec

from trooper.conversation import Block, ImageBlock, Message, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from trooper.redact import scrub
from trooper.signals.extract import Signals

# The key of an answer Trooper relayed itself: it matches whatever assistant message the
# client resends at that place, since SDKs re-render answers (ids, whitespace, empty text).
# The store follows it with the answer's own digest (its `message_key`), so a branch
# of the history that comes back later is known for what it holds.
ANSWER_KEY = b"answer"


def digest_of(key: bytes) -> bytes:
    """The message digest a stored key holds (an answer's is its own digest)."""
    return key[len(ANSWER_KEY):] if key.startswith(ANSWER_KEY) else key


class StoredKeys(Sequence[bytes]):
    """A session's stored transcript keys in order (the newest, past those a cap dropped),
    and, once asked (`holds`), how many of each message digest they hold, kept up to date
    as keys come and go: a request that went back asks it for each message it brings,
    and rebuilding it per request cost more than the rest of the store's work (5,000
    keys, bench/run.py's 100-turn scenario once the cap is reached)."""

    __slots__ = ("_keys", "_held")

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._keys = list(keys)
        self._held: dict[bytes, int] | None = None  # digest -> how many keys hold it; None until asked

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self._keys[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys)

    def holds(self, digest: bytes) -> bool:
        if self._held is None:
            self._held = {}
            self._count(self._keys)
        return digest in self._held

    def extend(self, keys: Sequence[bytes]) -> None:
        self._keys.extend(keys)
        self._count(keys)

    def restore_oldest(self, keys: Sequence[bytes]) -> None:
        """Put back keys `drop_oldest` took (a write that was not applied)."""
        self._keys[:0] = keys
        self._count(keys)

    def drop_oldest(self, count: int) -> list[bytes]:
        """Drop the `count` oldest keys; returns them."""
        gone = self._keys[:count]
        del self._keys[:count]
        self._uncount(gone)
        return gone

    def keep_oldest(self, count: int) -> None:
        """Drop every key past the first `count`."""
        self._uncount(self._keys[count:])
        del self._keys[count:]

    def _count(self, keys: Iterable[bytes]) -> None:
        held = self._held
        if held is not None:
            for key in keys:
                digest = digest_of(key)
                held[digest] = held.get(digest, 0) + 1

    def _uncount(self, keys: Iterable[bytes]) -> None:
        held = self._held
        if held is not None:
            for key in keys:
                digest = digest_of(key)
                if held[digest] == 1:
                    del held[digest]
                else:
                    held[digest] -= 1


class KnownKeys:
    """The keys of the messages a session's last request brought, by a fingerprint of each
    message (its msgpack encoding's hash), so the next request, which resends that history,
    digests only what it adds: matching a fingerprint is a C-speed pass over the bytes,
    a digest is Python work per block (14% of the CPU on bench/run.py's 100-turn scenario
    when every message was digested twice a request). Keyed by content: a message edited
    since has another fingerprint and is digested again."""

    __slots__ = ("marks", "keys")

    def __init__(self) -> None:
        self.marks: list[int] = []
        self.keys: list[bytes] = []

    def of(self, messages: Sequence[Message]) -> list[bytes]:
        """Every message's key, in order; remembered for the next request."""
        marks = fingerprints(messages)
        if marks[:len(self.marks)] == self.marks:  # the usual turn: the last request's history and more
            same = len(self.marks)
        else:
            same = 0
            for mine, theirs in zip(marks, self.marks):
                if mine != theirs:
                    break
                same += 1
        keys = self.keys[:same] + [message_key(m) for m in messages[same:]]
        self.marks, self.keys = marks, keys
        return keys


def fingerprints(messages: Sequence[Message]) -> list[int]:
    """A fingerprint of each message, exact as far as a 64-bit hash is (every field, in
    order; Python's hash of bytes is keyed per process, so not one a client can aim at)."""
    try:
        return list(map(hash, map(_encode_packed, messages)))
    except OverflowError:  # an integer msgpack can't hold (a tool call's input is any JSON)
        return list(map(hash, map(_encode_json, messages)))


_encode_packed = msgspec.msgpack.Encoder().encode
_encode_json = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def message_key(message: Message) -> bytes:
    """A digest of what a message says, blind to how a client renders it: thinking
    blocks (which clients may drop) and surrounding whitespace don't count."""
    digest = hashlib.blake2b(message.role.encode(), digest_size=12)
    for block in message.content:
        if type(block) is TextBlock:
            text = block.text.strip()
            if text:
                digest.update(b"\x00t" + text.encode())
        elif type(block) is ToolUseBlock:
            digest.update(b"\x00u" + block.name.encode() + _encode_sorted(block.input))
        elif type(block) is ToolResultBlock:
            digest.update(b"\x00r")
            for part in block.content:
                digest.update(part.text.encode() if isinstance(part, TextBlock) else _image_ref(part))
        elif type(block) is ImageBlock:
            digest.update(b"\x00i" + _image_ref(block))
    return digest.digest()


def new_from(stored: Sequence[bytes], keys: Sequence[bytes], roles: Sequence[str]) -> int:
    """The index of the first message of a request that the transcript doesn't hold yet.

    The usual case: the request extends the transcript, so everything past it is new.
    A request that is a prefix of it (a retry, a regenerate) brings nothing new. A
    request that differs part-way (the client rewrote or trimmed its history) is
    recorded from the first difference on, as it was sent.
    """
    common = 0
    for held, key, role in zip(stored, keys, roles):
        if held != key and not (held.startswith(ANSWER_KEY) and role == "assistant"):
            break
        common += 1
    return common


def stored_content(content: tuple[Block, ...]) -> tuple[Block, ...]:
    """A message's blocks as the transcript keeps them: images as their type and URL only
    (their bytes would dwarf the text); thinking kept; and anything shaped like a secret
    redacted (a key pasted into a chat or printed by a tool is never stored)."""
    kept = tuple(map(_kept, content))
    return content if all(a is b for a, b in zip(kept, content)) else kept


def kept_signals(signals: Signals) -> Signals:
    """Signals as the store keeps them: read from the conversation as sent, so without
    anything shaped like a secret that the reader quoted (a key named as a fact)."""
    if _scrubbed(signals.intent) == signals.intent and all(
        _scrubbed(text) == text for name in _SIGNAL_LISTS for text in getattr(signals, name)
    ):
        return signals
    lists = {name: list(map(_scrubbed, getattr(signals, name))) for name in _SIGNAL_LISTS}
    return msgspec.structs.replace(signals, intent=_scrubbed(signals.intent), **lists)


_SIGNAL_LISTS = ("constraints", "active_entities", "facts", "open_loops", "resolved_loops", "completed_steps",
                 "recent_actions", "plan")


# A session's signals repeat most of their items from one observation to the next: each
# item is scanned once, then looked up (bounded, as the signal reader's own memos are).
_scrubbed = functools.lru_cache(maxsize=8192)(scrub)


def _kept(block: Block) -> Block:
    if type(block) is TextBlock:
        text = scrub(block.text)
        return block if text == block.text else TextBlock(text)
    if type(block) is ImageBlock:
        return ImageBlock(media_type=block.media_type, url=block.url) if block.data else block
    if type(block) is ToolResultBlock:
        parts = tuple(_kept(part) for part in block.content)
        same = all(a is b for a, b in zip(parts, block.content))
        return block if same else msgspec.structs.replace(block, content=parts)
    if type(block) is ToolUseBlock and block.input:
        said = _encode_json(block.input).decode()
        cleaned = scrub(said)
        return block if cleaned == said else msgspec.structs.replace(block, input=msgspec.json.decode(cleaned))
    if type(block) is ThinkingBlock:
        text = scrub(block.text)
        return block if text == block.text else msgspec.structs.replace(block, text=text)
    return block


def _image_ref(block: ImageBlock) -> bytes:
    return (block.url or block.data[:256]).encode()

