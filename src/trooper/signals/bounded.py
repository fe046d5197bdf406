"""Keep every scan of client text linear in its length.

The signal rules are regular expressions, and some of them, on a long enough run of one
character class (a 100,000-character word, a line of dashes, a wall of spaces), take time
quadratic in that run: one request could hold the event loop for seconds. So each text
is read through a window (its head and tail, where people say what they want and what
is done) with every run of non-space or of space characters cut to MAX_RUN. No word,
path or URL worth a signal is longer; the cut itself is one linear pass.
"""

from __future__ import annotations

import re

MAX_RUN = 64
# Possessive, and anchored at a run's start: each character is looked at a bounded number of times.
_LONG_RUN = re.compile(r"(?<!\S)\S{%d}\S++|(?<!\s)\s{%d}\s++" % (MAX_RUN, MAX_RUN))


def has_long_run(text: str) -> bool:
    return _LONG_RUN.search(text) is not None


def bounded(text: str, window: int) -> str:
    """At most `window` characters of `text` (two thirds from its start, the rest from its
    end, joined at a paragraph break), with no run longer than MAX_RUN."""
    if len(text) > window:
        head = window * 2 // 3
        text = text[:head] + "\n\n" + text[-(window - head):]
    return _LONG_RUN.sub(lambda m: m.group()[:MAX_RUN], text) if len(text) > MAX_RUN else text
