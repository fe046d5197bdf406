"""Rule tables for the turn classifier (classify.py): alternatives matched against a
lower-cased turn, most of them found by looking the turn's words up in a set, the rest as
regular expressions run only when a cheap test says they could match. Deterministic; the
classifier gives them only texts whose length it has bounded.
"""

from __future__ import annotations

import functools
import re


class Rules:
    """Alternatives matched against lower-cased text. An alternative that is only words
    (`\\b(why|advice|trade off)\\b`) is looked up in the turn's set of words and word
    pairs, which costs the same however many there are; the rest are one
    regular expression. Those for scripts other than Latin run only on text that has such
    characters, which keeps English turns fast."""

    __slots__ = ("alternatives", "words", "anchored", "latin", "scripts", "gate", "open", "keyed", "key_words")

    def __init__(self, *alternatives: str, scripts: tuple[str, ...] = (), gate: str = "") -> None:
        self.alternatives = alternatives
        # A cheap test every regular-expression alternative needs to pass (a character
        # they all contain), so most turns skip the expensive scan.
        self.gate = re.compile(gate) if gate else None
        words: set[str] = set()
        patterns: list[str] = []
        longer: dict[str, list[str]] = {}
        for alternative in alternatives:
            for branch in _split_top(alternative):
                literal = _literal_words(branch)
                if literal is None:
                    patterns.append(branch)
                    continue
                words.update(phrase for phrase in literal if phrase.count(" ") <= 1)
                for phrase in literal:  # longer phrases are searched for when their first two words are there
                    if phrase.count(" ") > 1:
                        longer.setdefault(" ".join(phrase.split(" ", 2)[:2]), []).append(phrase)
        self.words = frozenset(words)
        # The same patterns for a turn whose words are known: one that starts with a word
        # ("\\b(how|what) …") runs only when the turn has that word.
        keyed: dict[frozenset[str], list[str]] = {}
        unkeyed: list[str] = []
        # Patterns anchored at the start ("^is it\b") are tried at position 0 only, in an
        # expression of their own: mixed with others, each would be tried at every position.
        anchored = [pattern for pattern in patterns if pattern.startswith("^")]
        patterns = [pattern for pattern in patterns if not pattern.startswith("^")]
        for pattern in patterns:
            first = _first_words(pattern)
            if first is None:
                unkeyed.append(pattern)
            else:
                keyed.setdefault(first, []).append(pattern)
        for pair, phrases in longer.items():
            keyed.setdefault(frozenset((pair,)), []).append(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
            patterns.append(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
        self.anchored = re.compile("|".join(anchored)) if anchored else None
        self.latin = _compile_apart(patterns)
        self.open = _compile_apart(unkeyed)
        # Each word that starts some patterns, to the expressions those patterns make.
        by_word: dict[str, list[re.Pattern[str]]] = {}
        for key, group in keyed.items():
            expression = re.compile("|".join(group))
            for word in key:
                by_word.setdefault(word, []).append(expression)
        self.keyed = {word: tuple(expressions) for word, expressions in by_word.items()}
        self.key_words = frozenset(by_word)
        self.scripts = re.compile("|".join(scripts)) if scripts else None

    def search(self, lowered: str, latin_only: bool, grams: frozenset[str] = frozenset()) -> bool:
        """`grams` are the words of `lowered` (from `grams()`); without them every pattern runs."""
        if not self.words.isdisjoint(grams):
            return True
        if self.gate is None or self.gate.search(lowered) is not None:
            if self.anchored is not None and self.anchored.search(lowered) is not None:
                return True
            for expression in self.open if grams else self.latin:
                if expression.search(lowered) is not None:
                    return True
            if grams and not self.key_words.isdisjoint(grams):  # (the intersection is a new set: most turns skip it)
                for word in self.key_words.intersection(grams):
                    for expression in self.keyed[word]:
                        if expression.search(lowered) is not None:
                            return True
        return not latin_only and self.scripts is not None and self.scripts.search(lowered) is not None


class AnyOf:
    """Rule tables searched one after another, so each can have its own cheap gate. `gate`
    is a cheaper test still, one that each part's gate needs to pass (a character any of
    them needs): most turns pass none, and are turned away by one search instead of one a part."""

    __slots__ = ("parts", "gate")

    def __init__(self, *parts: Rules, gate: str = "") -> None:
        if gate and any(part.gate is None or part.words or part.scripts is not None for part in parts):
            raise ValueError("a shared gate needs every part gated, with no words or scripts of its own")
        self.parts = parts
        self.gate = re.compile(gate) if gate else None

    def search(self, lowered: str, latin_only: bool, grams: frozenset[str] = frozenset()) -> bool:
        if self.gate is not None and self.gate.search(lowered) is None:
            return False
        return any(part.search(lowered, latin_only, grams) for part in self.parts)


_LEADING_WORD = re.compile(r"\\b([a-z]+)(?: |\\b|\\s|$)")


def _first_words(pattern: str) -> frozenset[str] | None:
    """The words a pattern can start with, when it starts with a group of whole words
    (`\\b(is|are) (it|this) …` → {is, are}); None when it does not."""
    word = _LEADING_WORD.match(pattern)
    if word is not None:
        return frozenset((word.group(1).replace("'", ""),))
    if not pattern.startswith("\\b("):
        return None
    depth, end = 0, -1
    for index in range(2, len(pattern)):
        char = pattern[index]
        if char == "\\":
            continue
        if pattern[index - 1] == "\\" and index >= 3 and pattern[index - 2] != "\\":
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                end = index
                break
    if end < 0:
        return None
    after = pattern[end + 1 :]
    if not after.startswith(("\\b", " ", "\\s")) and after != "":
        return None
    inner = pattern[3:end]
    if inner.startswith("?:"):
        inner = inner[2:]
    expanded = _expand(inner)
    if not expanded:
        return None
    first = set()
    for text in expanded:
        tokens = _GRAM_WORD.findall(text.replace("'", ""))
        if not tokens or len(tokens) > 1 and text.split(" ", 1)[0] != tokens[0]:
            return None
        first.add(tokens[0])
    return frozenset(first)


_GRAM_WORD = re.compile(r"[^\W_]+")
_MAX_EXPANSIONS = 400


def _literal_words(alternative: str) -> list[str] | None:
    """The words and word pairs an alternative stands for, or None when
    it is more than that: `\\bhow (do|does) (i|we)\\b` → "how do i", "how does we"…"""
    if not (alternative.startswith("\\b") and alternative.endswith("\\b")):
        return None
    expanded = _expand(alternative[2:-2])
    if expanded is None:
        return None
    phrases = []
    for text in expanded:
        words = _GRAM_WORD.findall(text.replace("'", ""))
        if not words or "".join(words) != "".join(ch for ch in text if ch.isalnum()):
            return None
        if len(words) > 2 and text != " ".join(words):
            return None  # a longer phrase is searched for as written
        phrases.append(" ".join(words))
    return phrases


def _expand(pattern: str) -> list[str] | None:
    """Every string a pattern of letters, spaces, groups `(a|b)`, classes `[sz]` and
    optional `?` matches; None for anything else (or too many)."""
    position = 0

    def sequence() -> list[str] | None:
        nonlocal position
        results = [""]
        while position < len(pattern) and pattern[position] not in "|)":
            char = pattern[position]
            if char == "(":
                position += 1
                if pattern.startswith("?:", position):
                    position += 2
                options = alternation()
                if options is None or position >= len(pattern) or pattern[position] != ")":
                    return None
                position += 1
            elif char == "[":
                end = pattern.find("]", position)
                if end < 0 or not pattern[position + 1 : end].isalpha():
                    return None
                options = list(pattern[position + 1 : end])
                position = end + 1
            elif char == "\\" and position + 1 < len(pattern) and pattern[position + 1] in ".-'":
                options = [pattern[position + 1]]
                position += 2
            elif char.isalnum() or char in " '-":
                options = [char]
                position += 1
            else:
                return None
            if position < len(pattern) and pattern[position] == "?":
                options = [*options, ""]
                position += 1
            results = [r + o for r in results for o in options]
            if len(results) > _MAX_EXPANSIONS:
                return None
        return results

    def alternation() -> list[str] | None:
        nonlocal position
        found: list[str] = []
        while True:
            part = sequence()
            if part is None:
                return None
            found.extend(part)
            if position < len(pattern) and pattern[position] == "|":
                position += 1
                continue
            return found

    expanded = alternation()
    return expanded if expanded is not None and position == len(pattern) else None


def _compile_apart(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """The patterns as at most two expressions: those that start at a word boundary, and the rest.
    Together in one, every pattern is tried at every position; apart, the engine skips ahead to
    where the rest's first characters are ("debería", ", y cuándo")."""
    at_word = [pattern for pattern in patterns if pattern.startswith("\\b")]
    rest = [pattern for pattern in patterns if not pattern.startswith("\\b")]
    return tuple(re.compile("|".join(group)) for group in (at_word, rest) if group)


def _split_top(alternative: str) -> list[str]:
    """An alternative's top-level `|` branches."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(alternative):
        char = alternative[index]
        if char == "\\":
            index += 2
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(alternative[start:index])
            start = index + 1
        index += 1
    parts.append(alternative[start:])
    return parts


@functools.lru_cache(maxsize=64)  # the same ask is looked at by more than one rule
def grams(text: str) -> frozenset[str]:
    """A lower-cased text's words, and its pairs of adjacent words."""
    words = _words(text)
    return frozenset(words).union(map(" ".join, zip(words, words[1:])))


# Every ASCII byte that is not a letter or a digit, to a space.
_NOT_ALNUM_TO_SPACE = bytes(byte if chr(byte).isalnum() else 0x20 for byte in range(128)) + bytes(range(128, 256))


def _words(text: str) -> list[str]:
    """The runs of letters and digits, apostrophes dropped ("what's" is "whats"). An ASCII text (most
    turns) is split by a byte translation, several times faster than the expression, with the same result."""
    if text.isascii():
        return text.encode("ascii").translate(_NOT_ALNUM_TO_SPACE, b"'").decode("ascii").split()
    return _GRAM_WORD.findall(text.replace("'", "").replace("’", ""))


__all__ = ["AnyOf", "Rules", "grams"]
