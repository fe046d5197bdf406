"""A fast token estimator for budgets and savings: no tokenizer, a handful of C-speed
string counts. Calibrated against a real BPE tokenizer (see bench/estimator.py), and
biased to err high, since a budget that is overrun is worse than one left unused.

Tokens come from four kinds of character, each at its own density:
- ASCII letters and digits, in words (about 4 characters a token in prose);
- ASCII punctuation and symbols (nearly a token each in code and JSON);
- characters of two-byte scripts (Cyrillic, Greek, Arabic, Hebrew, accents);
- characters of three-byte scripts (CJK, Japanese, Korean, Devanagari; Thai denser).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from trooper.conversation import (
    Block,
    Conversation,
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)

_PUNCTUATION = b"{}[]()<>:;,.\"'`=+-*/\\|&^%$#@!?~_"

# Tokens per character of each kind, and per message (role markers, separators).
ASCII_WORD_CHAR = 0.25
DIGIT_RUN = 1.0  # a run of digits starts a token of its own ("qwen2.5:3b", "1.9GB", ids)
DIGIT_EXTRA = 0.1  # and long runs split further
CAPITAL_EXTRA = 0.2  # mixed-case identifiers too
PUNCTUATION_CHAR = 0.66
NEWLINE = 0.42
INDENT_PAIR = 0.06
SPACE_RUN = 0.7  # a run of spaces inside a line (an aligned table) is about a token of its own
TWO_BYTE_CHAR = 0.58  # Cyrillic, Greek, accented Latin
DENSE_TWO_BYTE_CHAR = 1.05  # Arabic, Hebrew: a little over a token a letter (1.0 was ~8.5% under on Faker's ar_AA)
HAN_CHAR = 0.95
THREE_BYTE_CHAR = 1.35  # kana, Devanagari, Hangul (1.25 left Japanese ~6% under)
THAI_CHAR = 1.75  # Thai splits further: 1.25 was ~25% under on Faker's th_TH and the labelled turns
PER_MESSAGE = 4
PER_IMAGE = 800  # a typical small image; vendors bill by pixels
PER_TOOL = 12

_DIGITS = b"0123456789"
# Digits to "0", everything else to "a": a run of digits starts wherever "a0" appears.
_DIGIT_SHAPE = bytes(0x30 if 0x30 <= b <= 0x39 else 0x61 for b in range(256))
_CAPITALS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DENSE_TWO_BYTE = re.compile("[\u0590-\u06ff\u0750-\u077f]")
_MIDLINE_SPACES = re.compile(rb"(?<=[^ \n])  +")
_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_THAI = re.compile("[\u0e00-\u0e7f]")


def estimate_text(text: str) -> int:
    if not text:
        return 0
    data = text.encode("utf-8", "surrogatepass")
    size = len(data)
    punctuation = size - len(data.translate(None, _PUNCTUATION))
    digits = size - len(data.translate(None, _DIGITS))
    capitals = size - len(data.translate(None, _CAPITALS))
    newlines = data.count(b"\n")
    spaces = data.count(b" ")
    # Escaped newlines (JSON strings) and indentation runs split like real line breaks.
    pairs = data.count(b"  ")
    layout = data.count(b"\\n") * NEWLINE + pairs * INDENT_PAIR
    if pairs > size // 40:  # aligned columns (tool output tables); indentation merges, they don't
        layout += len(_MIDLINE_SPACES.findall(data)) * SPACE_RUN
    runs = 0
    if digits:
        shape = data.translate(_DIGIT_SHAPE)
        runs = shape.count(b"a0") + (shape[:1] == b"0")
    tokens = (
        runs * DIGIT_RUN + digits * DIGIT_EXTRA + capitals * CAPITAL_EXTRA + punctuation * PUNCTUATION_CHAR
        + newlines * NEWLINE + layout
    )
    if size == len(text):  # ASCII
        letters = len(text) - punctuation - newlines - spaces
        return int(tokens + letters * ASCII_WORD_CHAR + spaces * 0.02) + 1
    two_byte, wide = _non_ascii_counts(text, size)
    # Which script decides the density; scanning for it only pays when there is much of it.
    rare = len(text) // 50
    dense = len(_DENSE_TWO_BYTE.findall(text)) if two_byte > rare else 0
    han = len(_HAN.findall(text)) if wide > rare else wide
    thai = len(_THAI.findall(text)) if wide - han > rare else 0
    ascii_letters = len(text) - two_byte - wide - punctuation - newlines - spaces
    tokens += (
        max(ascii_letters, 0) * ASCII_WORD_CHAR
        + (two_byte - dense) * TWO_BYTE_CHAR
        + dense * DENSE_TWO_BYTE_CHAR
        + han * HAN_CHAR
        + thai * THAI_CHAR
        + (wide - han - thai) * THREE_BYTE_CHAR
    )
    return int(tokens) + 1


def _non_ascii_counts(text: str, utf8: int) -> tuple[int, int]:
    """(two-byte, three-or-four-byte) characters, from encoded lengths alone (no Python
    loop): chars = n1+n2+n3+n4, utf-8 = n1+2n2+3n3+4n4, utf-16 = 2(n1+n2+n3)+4n4."""
    chars = len(text)
    n1 = len(text.encode("ascii", "ignore"))
    n4 = (len(text.encode("utf-16-le", "surrogatepass")) - 2 * chars) // 2
    n3 = (utf8 - n1 - 4 * n4) - 2 * (chars - n1 - n4)
    n2 = chars - n1 - n3 - n4
    return n2, n3 + n4


def estimate_block(block: Block) -> int:
    if type(block) is TextBlock or type(block) is ThinkingBlock:
        return estimate_text(block.text)
    if type(block) is ToolUseBlock:
        return PER_TOOL + estimate_text(block.name) + estimate_text(str(block.input))
    if type(block) is ToolResultBlock:
        return PER_TOOL + sum(estimate_block(b) for b in block.content)
    if type(block) is ImageBlock:
        return PER_IMAGE
    return 0


_CACHE: OrderedDict[bytes, int] = OrderedDict()
_CACHE_SIZE = 50_000


def estimate_message(message: Message) -> int:
    """Cached by content: an agent resends every earlier message on every turn."""
    key = message_key(message)
    tokens = _CACHE.get(key)
    if tokens is None:
        tokens = PER_MESSAGE + sum(estimate_block(b) for b in message.content)
        _CACHE[key] = tokens
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return tokens


_ENCODE = msgspec.json.Encoder().encode


def message_key(message: Message) -> bytes:
    """A short key for a message's role and content (16-byte BLAKE2b of its JSON)."""
    return message.role.encode() + hashlib.blake2b(_ENCODE(message.content), digest_size=16).digest()


def estimate_messages(messages: Iterable[Message]) -> int:
    return sum(estimate_message(m) for m in messages)


def estimate_conversation(conversation: Conversation) -> int:
    tools = sum(PER_TOOL + estimate_text(t.name) + estimate_text(t.description) + estimate_text(str(t.input_schema))
                for t in conversation.tools)
    return estimate_text(conversation.system) + estimate_messages(conversation.messages) + tools
