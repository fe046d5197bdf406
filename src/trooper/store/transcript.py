"""Growing a session's transcript by what is new in each request.

Every SDK and agent resends the whole history with each turn. The store keeps one short
key per message it already holds and compares the request against them, so each
message is stored once and a session's storage grows linearly with its length (the
seed product stored every request's history again, quadratically).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from trooper.conversation import Block, ImageBlock, Message, TextBlock, ToolResultBlock, ToolUseBlock

# The key of an answer Trooper relayed itself: it matches whatever assistant message the
# client resends at that place, since SDKs re-render answers (ids, whitespace, empty text).
# The embedded store follows it with the answer's own digest (`answer_key`), so a branch
# of the history that comes back later is known for what it holds.
ANSWER_KEY = b"answer"


def answer_key(answer: Message) -> bytes:
    return ANSWER_KEY + message_key(answer)


def held_digests(stored: list[bytes]) -> set[bytes]:
    """Every message digest a transcript holds (answers by their own digest)."""
    return {key[len(ANSWER_KEY):] if key.startswith(ANSWER_KEY) else key for key in stored}

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


def new_from(stored: list[bytes], keys: list[bytes], roles: Sequence[str]) -> int:
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
    """A message's blocks as the transcript keeps them: images are kept as their type
    and URL only (their bytes would dwarf the text); thinking is kept."""
    if not any(type(b) is ImageBlock or type(b) is ToolResultBlock for b in content):
        return content
    return tuple(_without_image_data(block) for block in content)


def _without_image_data(block: Block) -> Block:
    if type(block) is ImageBlock and block.data:
        return ImageBlock(media_type=block.media_type, url=block.url)
    if type(block) is ToolResultBlock and any(type(p) is ImageBlock for p in block.content):
        parts = tuple(_without_image_data(p) for p in block.content)
        return msgspec.structs.replace(block, content=parts)
    return block


def _image_ref(block: ImageBlock) -> bytes:
    return (block.url or block.data[:256]).encode()

