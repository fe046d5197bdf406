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

    __slots__ = ("alternatives", "words", "anchored", "open_anchored", "latin", "scripts", "gate", "gate_words", "open",
                 "keyed", "key_words", "apostrophe_keys")

    def __init__(self, *alternatives: str, scripts: tuple[str, ...] = (), gate: str = "") -> None:
        self.alternatives = alternatives
        # A cheap test every regular-expression alternative needs to pass (a character
        # they all contain), so most turns skip the expensive scan.
        self.gate = expression(gate) if gate else None
        # A gate of whole words ("\\b(would|could)\\b") is looked up in the turn's words when they are given,
        # and passes a turn with an apostrophe ("would've" is the word "wouldve").
        gate_words = _literal_words(gate) if gate else None
        self.gate_words = frozenset(gate_words or ()) if all(w.count(" ") <= 1 for w in gate_words or ()) else frozenset()
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
        keyed_anchored: dict[frozenset[str], list[str]] = {}
        unkeyed_anchored: list[str] = []
        # The keys of patterns whose words may end at a boundary: on a turn with an apostrophe they are
        # looked for among its words apart at apostrophes too ("it's": "it" and "s", not "its").
        apostrophe_keys: set[str] = set()
        for whole in (*patterns, *anchored):
            start = whole.startswith("^")
            for pattern, (key, loose) in _keyed_apart(whole):
                if key is None:
                    (unkeyed_anchored if start else unkeyed).append(pattern)
                    continue
                (keyed_anchored if start else keyed).setdefault(key, []).append(pattern)
                if loose:
                    apostrophe_keys |= key
        for pair, phrases in longer.items():
            keyed.setdefault(frozenset((pair,)), []).append(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
            patterns.append(r"\b(?:" + "|".join(map(re.escape, phrases)) + r")\b")
        self.anchored = expression("|".join(anchored)) if anchored else None
        self.open_anchored = expression("|".join(unkeyed_anchored)) if unkeyed_anchored else None
        self.latin = _compile_apart(patterns)
        self.open = _compile_apart(unkeyed)
        self.apostrophe_keys = frozenset(apostrophe_keys)
        # Each word that starts some patterns, to the expressions those patterns make.
        by_word: dict[str, list[re.Pattern[str]]] = {}
        for key, group in (*keyed.items(), *keyed_anchored.items()):
            compiled = expression("|".join(group))
            for word in key:
                by_word.setdefault(word, []).append(compiled)
        self.keyed = {word: tuple(expressions) for word, expressions in by_word.items()}
        self.key_words = frozenset(by_word)
        self.scripts = expression("|".join(scripts)) if scripts else None

    def search(self, lowered: str, latin_only: bool, grams: frozenset[str] = frozenset()) -> bool:
        """`grams` are the words of `lowered` (from `grams()`); without them every pattern runs."""
        if not self.words.isdisjoint(grams):
            return True
        if self.gate is None or self.passes_gate(lowered, grams):
            anchored = self.open_anchored if grams else self.anchored
            if anchored is not None and anchored.search(lowered) is not None:
                return True
            for expression in self.open if grams else self.latin:
                if expression.search(lowered) is not None:
                    return True
            if grams and not self.key_words.isdisjoint(grams):  # (the intersection is a new set: most turns skip it)
                for word in self.key_words.intersection(grams):
                    for expression in self.keyed[word]:
                        if expression.search(lowered) is not None:
                            return True
            if grams and self.apostrophe_keys and ("'" in lowered or "’" in lowered):
                for word in self.apostrophe_keys.intersection(_words_apart(lowered)):
                    for expression in self.keyed[word]:
                        if expression.search(lowered) is not None:
                            return True
        return not latin_only and self.scripts is not None and self.scripts.search(lowered) is not None

    def passes_gate(self, lowered: str, grams: frozenset[str] = frozenset()) -> bool:
        if grams and self.gate_words:
            return not self.gate_words.isdisjoint(grams) or "'" in lowered or "’" in lowered
        return self.gate is None or self.gate.search(lowered) is not None


class AnyOf:
    """Rule tables searched one after another, so each can have its own cheap gate. `gate`
    is a cheaper test still, one that each part's gate needs to pass (a character any of
    them needs): most turns pass none, and are turned away by one search instead of one a part."""

    __slots__ = ("parts", "gate", "gate_text")

    def __init__(self, *parts: Rules, gate: str = "", gate_text: str = "") -> None:
        if gate and any(part.gate is None or part.words or part.scripts is not None for part in parts):
            raise ValueError("a shared gate needs every part gated, with no words or scripts of its own")
        self.parts = parts
        self.gate = expression(gate) if gate else None
        # Text that passes the gate too, looked for apart: a class of characters alone is a quick scan,
        # one joined with a word is tried at every position.
        self.gate_text = gate_text

    def passes_gate(self, lowered: str) -> bool:
        """Whether some part could match: the shared gate's characters, or its text, are there."""
        return self.gate is None or self.gate.search(lowered) is not None \
            or bool(self.gate_text) and self.gate_text in lowered

    def search(self, lowered: str, latin_only: bool, grams: frozenset[str] = frozenset()) -> bool:
        if not self.passes_gate(lowered):
            return False
        for part in self.parts:  # (a loop, not any() over a generator: this runs several times a turn)
            if part.search(lowered, latin_only, grams):
                return True
        return False


_LEADING_WORD = re.compile(r"\\b([a-z]+)(?: |\\b|\\s|$)")


def _keyed_apart(pattern: str) -> list[tuple[str, tuple[frozenset[str] | None, bool]]]:
    """The pattern with its keys (`_keys`), or, when it opens with a group whose alternatives are
    each keyed by words of their own, each alternative apart with the rest of the pattern ("\\b(a
    single line|sort) …" → "\\ba single line …" keyed by "a", "\\bsort …" by "sort"): a word most turns
    have then runs its own alternative, not all of them."""
    keys = _keys(pattern)
    if keys[0] is not None and not keys[1] and _first_words(pattern, strict=True) is None:
        return [(pattern, keys)]  # keyed as before this module knew boundaries and apostrophes
    pieces = _alternatives_apart(pattern)
    if len(pieces) > 1:
        apart = [(piece, _keys(piece, strict=True)) for piece in pieces]
        if all(key is not None for _, (key, _) in apart) or keys[0] is None and any(key for _, (key, _) in apart):
            return apart  # (those that stay unkeyed are searched on every turn, as the whole was)
    return [(pattern, keys)]


def _alternatives_apart(pattern: str) -> list[str]:
    """A pattern that opens with a group, one pattern for each of the group's alternatives
    ("\\b(a|b) c" → "\\ba c", "\\bb c"); the pattern alone when it does not."""
    lead = "^" if pattern.startswith("^") else "\\b" if pattern.startswith("\\b") else ""
    tokens = _tokens(pattern[len(lead):]) if lead else None
    if not tokens or not tokens[0].startswith("(") or tokens[0].startswith(("(?=", "(?!", "(?<")) \
            or not tokens[0].endswith(")"):
        return [pattern]
    inner = tokens[0][3:-1] if tokens[0].startswith("(?:") else tokens[0][1:-1]
    rest = "".join(tokens[1:])
    return [lead + alternative + rest for alternative in _split_top(inner)]


def _keys(pattern: str, strict: bool = False) -> tuple[frozenset[str] | None, bool]:
    """The words a turn needs for the pattern to match (None: any turn may), and whether the pattern
    runs anyway on a turn with an apostrophe: when its words may end at a boundary ("\\bwhy\\b"),
    a word whole in the pattern is not one in the turn's words ("it" in "it's", whose word is "its").
    `strict`: not by the first words a boundary ends without looking at apostrophes (how patterns were
    keyed first; kept for them, `_keyed_apart`)."""
    if pattern.startswith("^"):
        first, loose = _words_starting(pattern[1:]), False
        if first is None:
            first, loose = _words_starting(pattern[1:], at_boundary=True), True
    else:
        first, loose = _first_words(pattern, strict), False
        if first is None and pattern.startswith("\\b"):
            first, loose = _words_starting(pattern[2:], at_boundary=True), True
    if first is not None and not first.isdisjoint(_EVERYWHERE):
        later = _later_words(pattern)  # "\\b(a|the|my) (function|script)": keyed by the noun
        if later is not None:
            return later, True
    return first, loose


def _first_words(pattern: str, strict: bool = False) -> frozenset[str] | None:
    """The words a pattern can start with, when it starts with a group of whole words
    (`\\b(is|are) (it|this) …` → {is, are}), or with words a space or a mark ends
    (`\\bwhat('?s| is) the …` → {what, whats}); None when it does not."""
    if not strict:
        word = _LEADING_WORD.match(pattern)
        if word is not None:
            return frozenset((word.group(1).replace("'", ""),))
        spelt = _spelt_group(pattern)
        if spelt is not None:
            return spelt
    if not pattern.startswith("\\b"):
        return None
    return _words_starting(pattern[2:]) or None


def _spelt_group(pattern: str) -> frozenset[str] | None:
    """The first words of a pattern that starts with a group whose every alternative can be spelt out."""
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


def _words_starting(sequence: str, at_boundary: bool = False) -> frozenset[str] | None:
    """The first words of every text a sequence of tokens (no top-level `|`) matches, as the turn's
    words (`grams`) hold them: up to the first mark that is not a letter, a digit or an apostrophe,
    apostrophes dropped ("c++ list" → "c", "what's" → "whats"). None when a first word could run on
    into what the sequence leaves open ("najlepsz\\w*", "j'" before a letter) or cannot be read.
    `at_boundary`: a word boundary ends a word too (true of a turn with no apostrophe)."""
    tokens = _tokens(sequence)
    if not tokens:
        return None
    opening = tokens[0]
    if opening.startswith(("(?:", "(")) and not opening.startswith(("(?=", "(?!", "(?<")) \
            and opening.endswith(")") and _expand(opening) is None:
        # a group some of whose alternatives cannot be spelt out: each alternative with what follows it
        inner = opening[3:-1] if opening.startswith("(?:") else opening[1:-1]
        rest = "".join(tokens[1:])
        found: set[str] = set()
        for alternative in _split_top(inner):
            words = _words_starting(alternative + rest, at_boundary)
            if words is None:
                return None
            found |= words
        return frozenset(found)
    spelt = [_SPACE_OR_HYPHEN.sub(r"(?: |-)", token) for token in tokens]  # "pretty[- ]?print"
    for count in range(1, len(tokens) + 1):
        expanded = _expand("".join(spelt[:count]), _MARKS)
        if expanded is None:
            return None
        ended = _word_ends(tokens[count:], at_boundary)
        found = set()
        for text in expanded:
            if not text:
                break  # an optional group left out: its word is in what follows
            if not text[0].isalnum():
                return None
            plain = text.replace("'", "")
            word = _GRAM_WORD.match(plain)
            if word is None:
                return None
            if word.end() == len(plain) and (not ended or text.endswith("'")):
                break  # the word may go on: read one more token
            found.add(word.group(0))
        else:
            return frozenset(found)
    return None


# Marks a first word may be spelt with: where the turn's words end ("ok,", "tl;dr").
_MARKS = " '-,;:!"
_SPACE_OR_HYPHEN = re.compile(r"^\[(?:- | -)\](?=\??$)")
_QUANTIFIER = re.compile(r"[?*+]|\{\d*(,\d*)?\}")


def _tokens(sequence: str) -> list[str] | None:
    """A sequence's tokens: a character, an escape, a class or a group, each with its quantifier."""
    tokens: list[str] = []
    index = 0
    while index < len(sequence):
        char = sequence[index]
        if char == "\\":
            end = index + 2
        elif char == "[":
            end = index + 1
            while end < len(sequence) and (sequence[end] != "]" or end == index + 1):
                end += 2 if sequence[end] == "\\" else 1
            end += 1
        elif char == "(":
            depth, end = 0, index
            while end < len(sequence):
                if sequence[end] == "\\":
                    end += 2
                    continue
                if sequence[end] == "(":
                    depth += 1
                elif sequence[end] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            end += 1
        elif char in "|)":
            return None
        else:
            end = index + 1
        if end > len(sequence):
            return None
        quantifier = _QUANTIFIER.match(sequence, end)
        if quantifier is not None:
            end = quantifier.end()
            if sequence.startswith("?", end):
                end += 1  # lazy
        tokens.append(sequence[index:end])
        index = end
    return tokens


# Words most turns have: a pattern keyed by one of them runs on most turns.
_EVERYWHERE = frozenset("a an the this that these those my our your it i you me we is are was were be what whats how "
                        "who which when where do does can will would of in to for and or on at with".split())


def _later_words(pattern: str) -> frozenset[str] | None:
    """The words of a later group that every match of the pattern has, after a space or a boundary
    (which starts them; a boundary may end them), none of them one most turns have ("\\b(is|are)
    .{0,40}\\b(safe|healthy)\\b" → {safe, healthy}); None when there is none."""
    tokens = _tokens(pattern.removeprefix("^")) or []
    for index, token in enumerate(tokens):
        if index and token in (" ", "\\b"):
            words = _words_starting("".join(tokens[index + 1 :]), at_boundary=True)
            if words and words.isdisjoint(_EVERYWHERE):
                return words
    return None


# Tokens that match only where a word has ended: a space or a mark, never nothing (not a boundary:
# "it" is whole in "it's", where the turn's words hold "its").
_WORD_ENDS = frozenset((" ", "\\s", "\\s+", " +", "$", "-", "\\-", "\\.", "\\?", ",", ":", ";", "!"))
_MARK_CLASS = re.compile(r"\[[ ,.:;!?/-]+\]\+?")


# Tokens that may match nothing or marks only, never a letter: "[.!?]*", "\\W*", ",?".
_MAYBE_MARKS = re.compile(r"(?:\[[^\]\\\w']+\]|\\W|\\s|[ ,.;:!?-]|\\[.?!-])(?:[?*]|\{0,\d+\})")


def _ends_a_word(token: str) -> bool:
    return token in _WORD_ENDS or _MARK_CLASS.fullmatch(token) is not None


def _word_ends(following: list[str], at_boundary: bool) -> bool:
    """Whether a word followed by these tokens has ended: a space or a mark comes next, or the end of
    the text, after marks that may be there or not ("help[.!?]*$"); a boundary too, `at_boundary`."""
    for token in following:
        if _ends_a_word(token) or at_boundary and token == "\\b":
            return True
        if _MAYBE_MARKS.fullmatch(token) is None:
            return False
    return False


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
        if "+" in text or "*" in text:
            return None  # "c++", "select *": marks the turn's words do not hold
        words = _GRAM_WORD.findall(text.replace("'", ""))
        if not words or "".join(words) != "".join(ch for ch in text if ch.isalnum()):
            return None
        if len(words) > 2 and text != " ".join(words):
            return None  # a longer phrase is searched for as written
        phrases.append(" ".join(words))
    return phrases


def _expand(pattern: str, literals: str = " '-") -> list[str] | None:
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
            elif char == "\\" and position + 1 < len(pattern) and pattern[position + 1] in ".-'+*":
                options = [pattern[position + 1]]
                position += 2
            elif char.isalnum() or char in literals:
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
    patterns = [_literal_first(pattern) for pattern in patterns]
    at_word = [pattern for pattern in patterns if pattern.startswith("\\b")]
    rest = [pattern for pattern in patterns if not pattern.startswith("\\b")]
    return tuple(expression("|".join(group)) for group in (at_word, rest) if group)


_OPENING_LETTERS = re.compile(r"\\b([a-z]{2,})(?![?*+{])|\\b([a-z]{3,})(?=[?*+{])")


def _literal_first(pattern: str) -> str:
    """A pattern that opens with a boundary and letters, written letters first with the boundary
    checked behind them ("\\bnajlepsz\\w*" → "najlepsz(?<=\\bnajlepsz)\\w*": the same matches), so the
    engine skips ahead to the letters instead of trying every position (CARRIED_CODE's convention)."""
    opening = _OPENING_LETTERS.match(pattern)
    if opening is None:
        return pattern
    letters = opening.group(1) or opening.group(2)[:-1]  # (a letter a quantifier follows stays behind)
    return f"{letters}(?<=\\b{letters}){pattern[2 + len(letters):]}"


def expression(pattern: str) -> re.Pattern[str]:
    """An expression for asking whether (or where) a text matches, its groups made non-capturing:
    every capturing group costs each search the saving and resetting of its marks (79 groups made
    SMALL_TALK's anchored expression 1.2 µs a search where 0.5 does). Not for `group(n)` or `split`."""
    compiled = re.compile(_without_captures(pattern))
    if compiled.groups:
        raise ValueError(f"a group still captures in {pattern!r}")
    return compiled




_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def _without_captures(pattern: str) -> str:
    """The pattern with each capturing group `(…)` written `(?:…)`; escapes and character classes
    (`\\(`, `[(]`) are left alone. A pattern that refers back to a group is refused."""
    if _BACKREFERENCE.search(pattern) is not None:
        raise ValueError(f"a back reference in {pattern!r}")
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # a "]" first in a class ("[]…]", "[^]…]") is a literal, not its end
            after = index + 2 if pattern.startswith("^", index + 1) else index + 1
            if pattern.startswith("]", after):
                out.append(pattern[index : after + 1])
                index = after + 1
                continue
        elif char == "(" and not pattern.startswith("?", index + 1):
            out.append("(?:")
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


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


@functools.lru_cache(maxsize=64)
def _words_apart(text: str) -> frozenset[str]:
    """A text's words with its apostrophes taken for spaces: "it's" is "it" and "s"."""
    return frozenset(_words(text.replace("'", " ").replace("’", " ")))


# Every ASCII byte that is not a letter or a digit, to a space.
_NOT_ALNUM_TO_SPACE = bytes(byte if chr(byte).isalnum() else 0x20 for byte in range(128)) + bytes(range(128, 256))


def _words(text: str) -> list[str]:
    """The runs of letters and digits, apostrophes dropped ("what's" is "whats"). An ASCII text (most
    turns) is split by a byte translation, several times faster than the expression, with the same result."""
    if text.isascii():
        return text.encode("ascii").translate(_NOT_ALNUM_TO_SPACE, b"'").decode("ascii").split()
    return _GRAM_WORD.findall(text.replace("'", "").replace("’", ""))


__all__ = ["AnyOf", "Rules", "expression", "grams"]
