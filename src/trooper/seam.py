"""Where a continuation joins what the client already has.

After a stream is cut, the next provider is asked to continue the partial answer. What
comes back is only trusted once its opening shows how it joins the text already sent:

- `spliced`: it starts the answer over with the very words the client has (or repeats
  the last words it was asked to begin with): the overlap is dropped, the rest streamed;
- `prefill` / `continued`: it carries on from the last word (a prefilled target, or one
  asked to continue): streamed as it comes;
- `refused`: neither (it restarts in other words, or answers something else): the
  stream ends with an error the client's SDK raises, never a garbled "success".

The opening is held back only while it still matches the start of the sent text (or
the seam words), so the hold-back never exceeds the text the client already has.
"""

from __future__ import annotations

import os
from typing import Literal

Outcome = Literal["prefill", "continued", "spliced", "refused"]

# Words at the end of the sent text that a target without prefill is asked to begin with.
SEAM_WORDS = 6
# A restart that repeats this many of the answer's opening words and then says something
# else is the same answer told differently: refused.
RESTART_WORDS = 2
# Characters that carry a sentence on (mid-sentence punctuation and closers).
_JOINING_PUNCTUATION = frozenset(",.;:!?)]}'’”…–—/%")


def seam_words(sent: str) -> str:
    """The last few words of `sent`, which a target asked to continue repeats first."""
    words = sent.split()
    return " ".join(words[-SEAM_WORDS:])


class Refused(Exception):
    """The continuation does not join the sent text; `why` says how it went wrong."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Seam:
    """Decides, from the opening of a continuation's text, how it joins `sent`.

    `feed(text)` returns the text to pass on now ("" while holding back) and raises
    `Refused` when the continuation can't be joined. `end()` decides with whatever was
    held when the continuation ends (or stops sending text) before a decision."""

    def __init__(self, sent: str, *, prefilled: bool) -> None:
        self.sent = sent
        self.prefilled = prefilled
        self.opening = sent.lstrip()  # what a restart repeats
        self.seam = "" if prefilled else seam_words(sent)  # what a continuation was asked to begin with
        self.outcome: Outcome | None = None
        self.held = ""  # text received and not yet passed on
        self.dropped = 0  # characters of the continuation dropped as overlap

    @property
    def decided(self) -> bool:
        return self.outcome is not None

    def feed(self, text: str) -> str:
        if self.outcome is not None:
            return text
        self.held += text
        return self._decide(final=False)

    def end(self) -> str:
        """The continuation stopped sending text: decide with what was held."""
        if self.outcome is not None:
            return ""
        return self._decide(final=True)

    def _decide(self, final: bool) -> str:
        held = self.held
        body = held.lstrip()
        if not body:
            if final:  # nothing to add: the answer was already complete
                return self._accept(self._joined_outcome(), len(held))
            return ""
        opening = self.opening
        if self.seam and body.startswith(self.seam):  # as asked: the seam words, then the rest
            return self._accept("continued", len(held) - len(body) + len(self.seam))
        if body.startswith(opening):
            return self._accept("spliced", len(held) - len(body) + len(opening))
        if not final and (opening.startswith(body) or self.seam.startswith(body)):
            return ""  # still could be either: hold
        repeated = self._repeated_words(body)
        if repeated >= RESTART_WORDS:
            told = "stopped" if final and opening.startswith(body) else "went on in other words"
            raise Refused(f"it started the answer over ({repeated} words the client has) and {told}")
        if self._joins(held):
            return self._accept(self._joined_outcome(), self._overlap(held))
        raise Refused(f"it does not carry on from {seam_words(self.sent)!r}: it begins {held[:40]!r}")

    def _repeated_words(self, body: str) -> int:
        """Whole words of the answer's opening that `body` starts with."""
        opening = self.opening
        common = len(os.path.commonprefix([body, opening]))
        words = opening[:common].split()
        if words and not opening[common - 1].isspace() and not (_word_ends(opening, common) and _word_ends(body, common)):
            words.pop()  # the last one is only partly repeated
        return len(words)

    def _joined_outcome(self) -> Outcome:
        return "prefill" if self.prefilled else "continued"

    def _joins(self, held: str) -> bool:
        """Whether `held` reads as the next words of the sent text."""
        first = held[0]
        if first.isspace():
            body = held.lstrip()
            if "\n" in held[: len(held) - len(body)] and not self._sentence_ended():
                return self._joins(body)  # a new line in mid-sentence must still carry the sentence on
            return True
        if first in _JOINING_PUNCTUATION or first.islower():
            return True
        last = self.sent.rstrip()[-1:] if self.sent.strip() else ""
        if first.isdigit():
            return last.isalnum() or last in ".,"
        # A caseless script (Chinese, Japanese, ...) has no capital to mark a fresh start;
        # there only a prefill says the model carried on.
        return self.prefilled and first.isalpha() and not first.isupper()

    def _sentence_ended(self) -> bool:
        sent = self.sent.rstrip(" \t")
        return sent.endswith(("\n", ".", "!", "?", ":", "。", "！", "？"))

    def _overlap(self, held: str) -> int:
        """Whitespace the continuation repeats at the seam (the sent text ended with it)."""
        trailing = self.sent[len(self.sent.rstrip()) :]
        leading = held[: len(held) - len(held.lstrip())]
        return len(os.path.commonprefix([trailing, leading]))

    def _accept(self, outcome: Outcome, drop: int) -> str:
        self.outcome = outcome
        self.dropped = drop
        rest, self.held = self.held[drop:], ""
        return rest


def _word_ends(text: str, at: int) -> bool:
    return at == len(text) or not text[at].isalnum()


__all__ = ["SEAM_WORDS", "Outcome", "Refused", "Seam", "seam_words"]
